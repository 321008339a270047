/*
 * virtio-net over a real kernel TAP interface: virtio_net_init with vmon's
 * own data path (vhost off) and its worker thread, started by DRIVER_OK.
 * The test creates a persistent TAP (TUNSETIFF + TUNSETPERSIST), sets its
 * MTU, has the device open it, then brings it up; the host side is two
 * AF_PACKET sockets bound to it, one plain and one with PACKET_VNET_HDR (which shows the kernel's
 * checksum and segmentation state of a frame). The fake driver of
 * fake_net.h is the guest. Checked: frames both ways, the offloads the TAP
 * is told (TUNSETOFFLOAD) as the kernel applies them, a quiesce and
 * unquiesce (snapshots), and the TAP deleted (RTM_DELLINK) under the device. Everything is skipped where TAP
 * interfaces cannot be created; the test's interface is removed at exit.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "fake_net.h"
#include "tap.h"

#define MTU        1400
#define NBUF       64   /* receive buffers of 2048 bytes the guest posts */
#define PKT_HDR    10   /* a packet socket's virtio-net header: no num_buffers */
#define CSUM_UDP   ((struct virtio_net_hdr){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 6 })
#define TSO_TCP    ((struct virtio_net_hdr){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, \
				 .hdr_len = 54, .gso_size = 1000, .csum_start = 34, .csum_offset = 16 })
#define NO_GUEST_OFFLOADS (F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6) | \
			   F(VIRTIO_NET_F_GUEST_ECN))

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x9a, 0xbc, 0xde };
static const uint8_t host_mac[6] = { 0x02, 0x00, 0x5e, 0x00, 0x53, 0x01 };
static char ifname[IFNAMSIZ];

struct host {
	unsigned ifindex;
	int raw, vnet; /* AF_PACKET sockets; vnet with PACKET_VNET_HDR */
};

static struct seg rx_segs[VIRTIO_NET_QUEUE_SIZE]; /* the guest's receive buffers by head */
static uint16_t rx_seen;                           /* used entries of the receiveq read */
static uint8_t frame[70000], got[70000];

/* --- the interface --- */

/* A persistent TAP interface `name` (no file keeps it). 0 or -errno. */
static int make_tap(const char *name)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	int ret = ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, 1) < 0 ? -errno : 0;
	close(fd);
	return ret;
}

/* RTM_DELLINK over rtnetlink: deletes the interface even while a program holds its queue. 0 or -errno. */
static int del_link(const char *name)
{
	struct { struct nlmsghdr n; struct ifinfomsg i; } req = {
		.n = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_DELLINK, .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK },
		.i = { .ifi_family = AF_UNSPEC, .ifi_index = (int)if_nametoindex(name) },
	};
	struct { struct nlmsghdr n; struct nlmsgerr e; } ack = { 0 }; /* the rest of the echo is cut off */
	int s = req.i.ifi_index ? socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE) : -1;
	bool acked = s >= 0 && send(s, &req, sizeof(req), 0) == (ssize_t)sizeof(req) &&
		     recv(s, &ack, sizeof(ack), 0) == (ssize_t)sizeof(ack) && ack.n.nlmsg_type == NLMSG_ERROR;
	if (s >= 0)
		close(s);
	return !req.i.ifi_index ? -ENODEV : acked ? ack.e.error : -EIO;
}

static void remove_iface(void)
{
	if (ifname[0] && if_nametoindex(ifname) && del_link(ifname) < 0)
		printf("# cannot remove %s\n", ifname);
}

/* An ioctl on the interface through a datagram socket, ifr prepared by the caller. */
static int if_ioctl(unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", ifname);
	int ret = s < 0 || ioctl(s, req, ifr) < 0 ? -errno : 0;
	if (s >= 0)
		close(s);
	return ret;
}

/* The MTU, and no IPv6 (less of the kernel's own traffic; best effort). */
static int set_mtu(int mtu)
{
	struct ifreq ifr = { .ifr_mtu = mtu };
	char path[96];
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
	FILE *f = fopen(path, "we");
	if (f)
		fputs("1", f), fclose(f);
	return if_ioctl(SIOCSIFMTU, &ifr);
}

static int set_up(void)
{
	struct ifreq ifr = { 0 };
	if (if_ioctl(SIOCGIFFLAGS, &ifr) < 0)
		return -1;
	ifr.ifr_flags |= IFF_UP;
	return if_ioctl(SIOCSIFFLAGS, &ifr);
}

/* An offload as the kernel applies it (ETHTOOL_GTXCSUM, ETHTOOL_GTSO): 1, 0, or -errno. */
static int offload(uint32_t cmd)
{
	struct ethtool_value ev = { .cmd = cmd };
	struct ifreq ifr = { .ifr_data = (void *)&ev };
	int ret = if_ioctl(SIOCETHTOOL, &ifr);
	return ret < 0 ? ret : ev.data != 0;
}

static int host_socket(unsigned ifindex, bool vnet)
{
	int one = 1, s = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = (int)ifindex };
	if (s >= 0 && ((vnet && setsockopt(s, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0) ||
		       bind(s, (struct sockaddr *)&sll, sizeof(sll)) < 0)) {
		close(s);
		return -1;
	}
	return s;
}

/* --- frames --- */

static void put_be16(uint8_t *p, unsigned v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	return n & 1 ? s + ((uint32_t)p[n - 1] << 8) : s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* Ethernet dst, src and type 0x88b5 (local experimental), then len bytes of pattern seed. */
static size_t eth_frame(uint8_t *f, const uint8_t *dst, const uint8_t *src, size_t len, unsigned seed)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	put_be16(f + 12, 0x88b5);
	fill(f + 14, len, seed);
	return 14 + len;
}

/*
 * IPv4 10.77.0.1 -> 10.77.0.2, then UDP (proto 17) or TCP (6) and `payload`
 * bytes; the L4 checksum field holds the pseudo-header sum, as a partial
 * checksum (CHECKSUM_PARTIAL) does. The frame's length.
 */
static size_t ip_frame(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint8_t proto, size_t payload, unsigned seed)
{
	size_t l4len = (proto == 6 ? 20 : 8) + payload;
	memset(f, 0, 54);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	uint8_t *ip = f + 14, *l4 = f + 34;
	put_be16(f + 12, 0x0800);
	ip[0] = 0x45, ip[6] = 0x40, ip[8] = 64, ip[9] = proto;
	put_be16(ip + 2, (unsigned)(20 + l4len));
	memcpy(ip + 12, "\x0a\x4d\x00\x01\x0a\x4d\x00\x02", 8);
	put_be16(ip + 10, (uint16_t)~fold(sum16(ip, 20, 0)));
	put_be16(l4, 40000), put_be16(l4 + 2, 5001);
	if (proto == 6)
		l4[12] = 5 << 4, l4[13] = 0x18, put_be16(l4 + 14, 65535);
	else
		put_be16(l4 + 4, (unsigned)l4len);
	fill(l4 + l4len - payload, payload, seed);
	put_be16(l4 + (proto == 6 ? 16 : 6), fold(sum16(ip + 12, 8, proto + (uint32_t)l4len)));
	return 34 + l4len;
}

/* Whether an IPv4 frame's UDP or TCP checksum verifies. */
static bool l4_csum_ok(const uint8_t *f, size_t n)
{
	uint32_t pseudo = sum16(f + 26, 8, f[23] + (uint32_t)(n - 34));
	return n > 34 && fold(sum16(f + 34, n - 34, pseudo)) == 0xffff;
}

/* Finishes a partial checksum as a NIC does: the sum from csum_start, complemented, at csum_offset. */
static void complete_csum(uint8_t *f, size_t n, const struct virtio_net_hdr *h)
{
	if ((size_t)h->csum_start + h->csum_offset + 2 <= n)
		put_be16(f + h->csum_start + h->csum_offset, (uint16_t)~fold(sum16(f + h->csum_start, n - h->csum_start, 0)));
}

/* --- the guest's side --- */

/* The guest transmits h and f, kicks, and waits until every offered chain is back. */
static bool guest_send(struct fake_net *b, struct virtio_net_hdr h, const uint8_t *f, size_t n)
{
	static uint8_t p[HDR + sizeof(frame)];
	net_hdr_store(&h, p);
	memcpy(p + HDR, f, n);
	offer_stream(&b->d[txq(0)], p, (uint32_t)(HDR + n), NULL, 0, false, NULL);
	virtio_kick_queue(&b->net.vd, txq(0));
	return wait_for(&b->d[txq(0)], b->d[txq(0)].avail_idx);
}

static void post_rx(struct fake_net *b)
{
	for (unsigned i = 0; i < NBUF; i++) {
		struct seg s = rx_buf(b, 0, 2048);
		rx_segs[head_of(b, 0)] = s;
	}
	virtio_kick_queue(&b->net.vd, rxq(0));
}

/*
 * The next frame the guest received from host_mac (the kernel's own are
 * skipped), its header and its buffers gathered into `got`; *h the header.
 * Its length without the header, or -1 after 5 s.
 */
static ssize_t guest_recv(struct fake_net *b, struct virtio_net_hdr *h)
{
	struct drv *d = &b->d[rxq(0)];
	for (int waited = 0; waited < 5000;) {
		if (used_idx(d) == rx_seen) {
			usleep(1000), waited++;
			continue;
		}
		size_t n = 0;
		uint16_t nb = 1;
		for (uint16_t k = 0; k < nb; k++) {
			uint32_t id, len;
			used_elem(d, rx_seen++, &id, &len);
			const uint8_t *p = host(d, rx_segs[id % VIRTIO_NET_QUEUE_SIZE].gpa);
			if (k == 0)
				nb = (uint16_t)(p[10] | p[11] << 8);
			if (n + len <= sizeof(got))
				memcpy(got + n, p, len);
			n += len;
		}
		net_hdr_load(h, got);
		if (n <= sizeof(got) && n >= HDR + 14 && !memcmp(got + HDR + 6, host_mac, 6)) {
			memmove(got, got + HDR, n - HDR);
			return (ssize_t)(n - HDR);
		}
	}
	return -1;
}

/*
 * (Re)starts the driver: reset, fresh rings, `features`, DRIVER_OK, maybe
 * receive buffers. Whether the device took DRIVER_OK: no NEEDS_RESET, its worker up.
 */
static bool restart(struct fake_net *b, uint64_t features, bool buffers)
{
	virtio_set_status(&b->net.vd, 0);
	for (unsigned q = 0; q < 3; q++)
		drv_reset(b, q);
	rx_seen = 0;
	negotiate(b, features);
	uint8_t status = driver_ok(b);
	if (buffers)
		post_rx(b);
	return (status & VIRTIO_STATUS_DRIVER_OK) && !(status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) &&
	       b->net.worker.running;
}

/* --- the host's side --- */

/* The host sends f to guest_mac; with h, through the PACKET_VNET_HDR socket. */
static bool host_send(const struct host *hs, const struct virtio_net_hdr *h, const uint8_t *f, size_t n)
{
	static uint8_t buf[HDR + sizeof(frame)];
	size_t off = h ? PKT_HDR : 0;
	if (h)
		net_hdr_store(h, buf); /* num_buffers, overwritten: not in a packet socket's header */
	memcpy(buf + off, f, n);
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_ifindex = (int)hs->ifindex, .sll_halen = 6 };
	memcpy(&to.sll_protocol, f + 12, 2);
	memcpy(to.sll_addr, guest_mac, 6);
	return sendto(h ? hs->vnet : hs->raw, buf, off + n, 0, (struct sockaddr *)&to, sizeof(to)) == (ssize_t)(off + n);
}

/* Forgets what the host's sockets have seen so far. */
static void host_drain(const struct host *hs)
{
	while (recv(hs->raw, got, sizeof(got), MSG_DONTWAIT) >= 0 || recv(hs->vnet, got, sizeof(got), MSG_DONTWAIT) >= 0)
		;
}

/* The next frame from guest_mac on s into `got` (vnet: its header into *h). Length or -1 (5 s). */
static ssize_t host_recv(int s, bool vnet, struct virtio_net_hdr *h)
{
	size_t off = vnet ? PKT_HDR : 0;
	for (int polls = 0; polls < 50; polls++) {
		struct pollfd p = { .fd = s, .events = POLLIN };
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t n = poll(&p, 1, 100) == 1 ? recvfrom(s, got, sizeof(got), 0, (struct sockaddr *)&from, &fl) : -1;
		if (n < (ssize_t)(off + 14) || from.sll_pkttype == PACKET_OUTGOING || memcmp(got + off + 6, guest_mac, 6))
			continue;
		uint8_t wire[HDR] = { 0 };
		memcpy(wire, got, off);
		net_hdr_load(h, wire);
		memmove(got, got + off, (size_t)n - off);
		return n - (ssize_t)off;
	}
	return -1;
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

/* --- tests --- */

/*
 * The TAP (made again if gone) with its MTU; the device opens it; then up,
 * and the host's sockets. Up only once vmon's queue gives it a carrier: the
 * kernel then sets its queueing discipline at once, not later from
 * linkwatch (meanwhile, "noop" drops what the host sends).
 */
static void start(struct fake_net *b, struct host *hs, int *fds)
{
	if (!if_nametoindex(ifname) && make_tap(ifname) < 0)
		bail("cannot create the TAP again");
	*fds = open_fds();
	int mtu = set_mtu(MTU);
	fake_net_ram(b, 1);
	struct virtio_net_config cfg = { .tap = ifname, .vhost = NET_VHOST_OFF };
	memcpy(cfg.mac, guest_mac, 6);
	const char *why = "";
	int ret = virtio_net_init(&b->net, &cfg, &b->gm, &why);
	CHECK(ret == 0 && b->net.is_tap && !b->net.vhost && b->net.tap.nr_queues == 1,
	      "virtio_net_init, vhost off, opens it (%d%s%s)", ret, *why ? ": " : "", why);
	if (ret < 0)
		bail("virtio_net_init");
	fake_net_attach(b);
	CHECK(mtu == 0 && set_up() == 0, "the persistent TAP %s: MTU %d, up", ifname, MTU);
	hs->ifindex = if_nametoindex(ifname);
	hs->raw = host_socket(hs->ifindex, false);
	hs->vnet = host_socket(hs->ifindex, true);
	CHECK(hs->raw >= 0 && hs->vnet >= 0, "the host side: AF_PACKET sockets bound to it, one with PACKET_VNET_HDR");
}

static void test_plain(struct fake_net *b, const struct host *hs)
{
	CHECK(config16(b, 10) == MTU && config16(b, 6) == 1, "config space: mtu %u (the interface's), link up",
	      config16(b, 10));
	CHECK(restart(b, offered(b) & ~NO_GUEST_OFFLOADS, true) && offload(ETHTOOL_GTXCSUM) == 0 &&
	      offload(ETHTOOL_GTSO) == 0, "DRIVER_OK without the guest offloads: worker up, the TAP's csum and TSO off");

	struct tap_stats before, after;
	struct virtio_net_hdr h = { 0 };
	bool stats = tap_read_stats(ifname, &before) == 0;
	host_drain(hs);
	size_t n = eth_frame(frame, (const uint8_t *)"\xff\xff\xff\xff\xff\xff", guest_mac, 100, 1);
	CHECK(guest_send(b, plain, frame, n) && host_recv(hs->raw, false, &h) == (ssize_t)n && !memcmp(got, frame, n),
	      "guest -> host: a 114-byte broadcast frame reaches the packet socket unchanged");
	struct net_counters c = counters(b);
	CHECK(c.tx_packets == 1 && c.tx_bytes == n && c.tx_drops == 0 && stats && tap_read_stats(ifname, &after) == 0 &&
	      after.rx_packets == before.rx_packets + 1 && after.rx_bytes == before.rx_bytes + n,
	      "tx_packets 1, tx_bytes %llu; the TAP's rx_packets +1, rx_bytes +%zu", (unsigned long long)c.tx_bytes, n);

	n = eth_frame(frame, guest_mac, host_mac, 200, 2);
	ssize_t len = host_send(hs, NULL, frame, n) ? guest_recv(b, &h) : -1;
	CHECK(len == (ssize_t)n && !memcmp(got, frame, n) && h.num_buffers == 1 && h.flags == 0 && h.gso_type == 0,
	      "host -> guest: the frame lands intact, num_buffers 1, flags 0 (%zd bytes)", len);
	c = counters(b);
	CHECK(c.rx_packets >= 1 && c.rx_bytes >= n && c.rx_drops == 0, "rx counters: %llu packets, no drops",
	      (unsigned long long)c.rx_packets);

	/* Without GUEST_CSUM and GUEST_TSO4 the kernel finishes checksums and segments. */
	n = ip_frame(frame, guest_mac, host_mac, 17, 300, 3);
	len = host_send(hs, &CSUM_UDP, frame, n) ? guest_recv(b, &h) : -1;
	CHECK(len == (ssize_t)n && h.flags == 0 && l4_csum_ok(got, n) && !memcmp(got, frame, 40),
	      "a partial-checksum UDP frame from the host: flags 0, its checksum finished by the kernel");
	n = ip_frame(frame, guest_mac, host_mac, 6, 3000, 4);
	bool segs = host_send(hs, &TSO_TCP, frame, n);
	for (int i = 0; i < 3 && segs; i++)
		segs = guest_recv(b, &h) == 1054 && h.flags == 0 && h.gso_type == 0 && l4_csum_ok(got, 1054) &&
		       !memcmp(got + 54, frame + 54 + 1000 * i, 1000);
	CHECK(segs, "a 3000-byte TSO frame from the host: three 1054-byte segments with valid checksums");
}

static void test_offloads(struct fake_net *b, const struct host *hs)
{
	uint64_t all = offered(b);
	CHECK(restart(b, all, true) && (all & F(VIRTIO_NET_F_GUEST_TSO4)),
	      "reset, then every offered feature: DRIVER_OK, no NEEDS_RESET, the worker up");
	CHECK(offload(ETHTOOL_GTXCSUM) == 1 && offload(ETHTOOL_GTSO) == 1,
	      "the TAP took GUEST_CSUM and GUEST_TSO4 (TUNSETOFFLOAD): its csum and TSO on");

	struct virtio_net_hdr h = { 0 };
	size_t n = ip_frame(frame, guest_mac, host_mac, 17, 300, 5);
	ssize_t len = host_send(hs, &CSUM_UDP, frame, n) ? guest_recv(b, &h) : -1;
	bool partial = len == (ssize_t)n && !memcmp(got, frame, n);
	complete_csum(got, n, &h);
	CHECK(partial && h.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM && h.csum_start == 34 && h.csum_offset == 6 &&
	      l4_csum_ok(got, n), "host -> guest: a partial UDP checksum arrives partial, NEEDS_CSUM 34/6");
	n = ip_frame(frame, guest_mac, host_mac, 6, 3000, 6);
	len = host_send(hs, &TSO_TCP, frame, n) ? guest_recv(b, &h) : -1;
	CHECK(len == (ssize_t)n && !memcmp(got, frame, n) && h.gso_type == VIRTIO_NET_HDR_GSO_TCPV4 &&
	      h.gso_size == 1000 && h.num_buffers == 2 && h.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM,
	      "host -> guest: a 3054-byte TSO frame arrives whole, GSO_TCPV4 1000, over 2 buffers");

	/*
	 * Found on Linux 6.x: a packet socket sees a frame from the TAP before
	 * anyone finishes its checksum (CHECKSUM_PARTIAL); its vnet header says so.
	 */
	n = ip_frame(frame, host_mac, guest_mac, 17, 300, 7);
	host_drain(hs);
	len = guest_send(b, CSUM_UDP, frame, n) ? host_recv(hs->vnet, true, &h) : -1;
	partial = len == (ssize_t)n && !memcmp(got, frame, n);
	complete_csum(got, n, &h);
	CHECK(partial && h.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM && h.csum_start == 34 && h.csum_offset == 6 &&
	      l4_csum_ok(got, n), "guest -> host, NEEDS_CSUM: the frame unchanged, partial at 34/6; finished, it verifies");
	n = ip_frame(frame, host_mac, guest_mac, 6, 3000, 8);
	host_drain(hs);
	len = guest_send(b, TSO_TCP, frame, n) ? host_recv(hs->vnet, true, &h) : -1;
	CHECK(len == (ssize_t)n && !memcmp(got, frame, n) && h.gso_type == VIRTIO_NET_HDR_GSO_TCPV4 && h.gso_size == 1000,
	      "guest -> host, HOST_TSO4: one 3054-byte GSO frame, TCPV4 1000");
	struct net_counters c = counters(b);
	CHECK(c.tx_drops == 0 && c.rx_drops == 0, "no drops either way");
}

/*
 * Quiesced, the device reads nothing: a frame from the host waits in the
 * TAP and arrives after unquiesce; the offloads and counters go on.
 */
static void test_quiesce(struct fake_net *b, const struct host *hs)
{
	struct net_counters before = counters(b);
	virtio_device_quiesce(&b->net.vd);
	CHECK(!b->net.worker.running && virtio_net_select_path(&b->net, true) == -ENOTSUP &&
	      virtio_net_select_path(&b->net, false) == 0,
	      "quiesce: the worker stopped; vhost off, so only vmon's path may be chosen");
	uint16_t used = used_idx(&b->d[rxq(0)]);
	size_t n = eth_frame(frame, guest_mac, host_mac, 150, 12);
	bool queued = host_send(hs, NULL, frame, n);
	usleep(50000);
	CHECK(queued && used_idx(&b->d[rxq(0)]) == used, "a frame from the host meanwhile stays in the TAP");
	CHECK(virtio_device_unquiesce(&b->net.vd) == 0 && b->net.worker.running, "unquiesce: the worker runs again");
	struct virtio_net_hdr h = { 0 };
	ssize_t len = guest_recv(b, &h);
	CHECK(len == (ssize_t)n && !memcmp(got, frame, n), "and the frame arrives");
	n = ip_frame(frame, host_mac, guest_mac, 6, 3000, 13);
	host_drain(hs);
	len = guest_send(b, TSO_TCP, frame, n) ? host_recv(hs->vnet, true, &h) : -1;
	CHECK(len == (ssize_t)n && h.gso_type == VIRTIO_NET_HDR_GSO_TCPV4 && offload(ETHTOOL_GTSO) == 1,
	      "guest -> host: a TSO frame, the TAP's offloads as the driver set them");
	struct net_counters c = counters(b);
	CHECK(c.tx_packets == before.tx_packets + 1 && c.rx_packets >= before.rx_packets + 1 &&
	      c.rx_drops == before.rx_drops, "the counters go on");
}

/* Deletes the TAP under the device: frames dropped, the link down, the worker idle. */
static void test_gone(struct fake_net *b)
{
	int cfg0 = atomic_load(&b->config_notifies);
	uint64_t drops0 = counters(b).tx_drops;
	int ret = del_link(ifname);
	CHECK(ret == 0 && if_nametoindex(ifname) == 0, "RTM_DELLINK deletes %s while the device holds it (%d)", ifname, ret);
	size_t n = eth_frame(frame, host_mac, guest_mac, 100, 9);
	CHECK(guest_send(b, plain, frame, n) && counters(b).tx_drops == drops0 + 1 &&
	      !(virtio_get_status(&b->net.vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET),
	      "a guest frame: dropped, counted in tx_drops, its chain returned, no NEEDS_RESET");
	CHECK(config16(b, 6) == 0 && atomic_load(&b->config_notifies) == cfg0 + 1,
	      "config status: link down (%u), one configuration-change interrupt (%d)", config16(b, 6),
	      atomic_load(&b->config_notifies) - cfg0);
	long ms = cpu_ms_in(300);
	CHECK(b->net.worker.running && ms < 50, "the worker idles: %ld ms of CPU in 300", ms);
	bool sent = true;
	for (unsigned i = 0; i < 3; i++)
		sent = sent && guest_send(b, plain, frame, n);
	CHECK(sent && counters(b).tx_drops == drops0 + 4 && atomic_load(&b->config_notifies) == cfg0 + 1,
	      "three more frames: dropped and counted, no more interrupts");

	/* net.h: a TAP that goes away sets the link down; only a broken ring sets NEEDS_RESET. */
	bool ok = restart(b, offered(b), true);
	CHECK(ok && config16(b, 6) == 0 && guest_send(b, plain, frame, n) &&
	      counters(b).tx_drops == drops0 + 5,
	      "the driver resets with the TAP gone: DRIVER_OK activates (status %#x), link down, frames dropped",
	      virtio_get_status(&b->net.vd));
}

static void test_destroy(struct fake_net *b, struct host *hs, int fds)
{
	close(hs->raw);
	close(hs->vnet);
	virtio_net_destroy(&b->net);
	fake_net_free(b);
	CHECK(!b->net.worker.running && open_fds() == fds, "virtio_net_destroy: the worker stopped, every fd it had closed");
}

/*
 * The TAP deleted at other moments, each time on a fresh TAP and device:
 * while the receive queue is paused (no buffers), so that a transmit is
 * first to find it gone; and while the driver is away, before DRIVER_OK.
 */
static void test_gone_elsewhen(void)
{
	struct fake_net b;
	struct host hs;
	int fds;
	start(&b, &hs, &fds);
	restart(&b, offered(&b), false);
	size_t n = eth_frame(frame, guest_mac, host_mac, 100, 10);
	bool paused = host_send(&hs, NULL, frame, n);
	for (int i = 0; i < 5000 && !__atomic_load_n(&b.net.pairs[0].rx_paused, __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	paused = paused && __atomic_load_n(&b.net.pairs[0].rx_paused, __ATOMIC_ACQUIRE);
	CHECK(paused && del_link(ifname) == 0 && guest_send(&b, plain, frame, n) && config16(&b, 6) == 0,
	      "no receive buffers: the TAP queue paused; TAP deleted; a transmit finds it gone, link down");
	post_rx(&b);
	usleep(50000);
	long ms = cpu_ms_in(300);
	CHECK(ms < 50, "then receive buffers and a kick: the worker idles (%ld ms of CPU in 300)", ms);
	test_destroy(&b, &hs, fds);

	start(&b, &hs, &fds);
	int ret = del_link(ifname);
	bool ok = restart(&b, offered(&b), true);
	n = eth_frame(frame, host_mac, guest_mac, 100, 11);
	CHECK(ret == 0 && ok && config16(&b, 6) == 0 && guest_send(&b, plain, frame, n) &&
	      counters(&b).tx_drops == 1, "TAP deleted before DRIVER_OK: it activates (status %#x), link down, "
	      "frames dropped", virtio_get_status(&b.net.vd));
	test_destroy(&b, &hs, fds);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(ifname, sizeof(ifname), "vmn%d", (int)getpid());
	atexit(remove_iface);
	int ret = make_tap(ifname);
	if (ret == -EPERM || ret == -EACCES || ret == -ENOENT || ret == -ENODEV) {
		const char *why = ret == -EPERM || ret == -EACCES ? "no permission to create TAP interfaces "
								    "(needs CAP_NET_ADMIN)" : "no /dev/net/tun";
		const char *groups[] = { "setup", "guest <-> host", "offloads", "quiesce", "TAP deleted", "destroy" };
		for (unsigned i = 0; i < 6; i++)
			SKIP("%s: %s", groups[i], why);
		return tap_finish();
	}
	CHECK(ret == 0, "create a persistent TAP interface %s (%d)", ifname, ret);
	if (ret < 0)
		return tap_finish();

	struct fake_net b;
	struct host hs;
	int fds;
	start(&b, &hs, &fds);
	test_plain(&b, &hs);
	test_offloads(&b, &hs);
	test_quiesce(&b, &hs);
	test_gone(&b);
	test_destroy(&b, &hs, fds);
	test_gone_elsewhen();
	remove_iface();
	CHECK(if_nametoindex(ifname) == 0, "no interface of the test is left");
	return tap_finish();
}
