/*
 * virtio-net on fake guest RAM, over SOCK_SEQPACKET socketpairs instead of
 * TAP queues (virtio_net_init_fds): the test holds the other end of each,
 * so what it reads is what the device transmitted and what it writes is a
 * frame for the guest, each message a 12-byte header and a frame. The fake
 * driver of fake_net.h negotiates through the device status and builds the
 * chains; the test runs what the worker would (virtio_net_serve,
 * virtio_net_receive) and reads the answers from the rings. Some tests run
 * the real worker, started by DRIVER_OK.
 *
 * `test_virtio_net --fuzz-seeds DIR` writes the seed corpus of
 * fuzz_virtio_net_tx (its input layout is described there).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "fake_iommu.h"
#include "fake_net.h"
#include "fuzz_seed.h"
#include "migration/state.h"
#include "tap.h"

/* The bench: a socketpair per queue pair, the device's ends as its backend. */
static void bench_start(struct fake_net *b, unsigned pairs)
{
	fake_net_ram(b, pairs);
	for (unsigned i = 0; i < pairs; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
			bail("socketpair");
		b->dev[i] = sv[0];
		b->peer[i] = sv[1];
	}
	struct virtio_net_config cfg = { .mac = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }, .queue_pairs = pairs };
	if (virtio_net_init_fds(&b->net, &cfg, &b->gm, b->dev) < 0)
		bail("virtio_net_init_fds");
	fake_net_attach(b);
}

static void bench_stop(struct fake_net *b)
{
	virtio_net_destroy(&b->net);
	for (unsigned i = 0; i < b->pairs; i++) {
		close(b->dev[i]);
		if (b->peer[i] >= 0)
			close(b->peer[i]);
	}
	fake_net_free(b);
}

/* What the device sent to pair's backend: the message's length, or -1 when there is none. */
static ssize_t peer_recv(struct fake_net *b, unsigned pair, uint8_t *buf, size_t size)
{
	ssize_t n = recv(b->peer[pair], buf, size, MSG_DONTWAIT);
	return n < 0 ? -1 : n;
}

/* The backend has a frame (len, seed) for the guest. */
static void peer_send(struct fake_net *b, unsigned pair, struct virtio_net_hdr h, size_t len, unsigned seed)
{
	uint8_t *p = packet(&h, len, seed);
	if (send(b->peer[pair], p, HDR + len, 0) != (ssize_t)(HDR + len))
		bail("send to the device");
	free(p);
}

#define ACK_OK   0
#define ACK_ERR  1

/* --- tests --- */

static void test_config(void)
{
	struct fake_net b;
	bench_start(&b, 1);
	struct virtio_device *vd = &b.net.vd;
	uint8_t cfg[VIRTIO_NET_CONFIG_LEN];
	memset(cfg, 0xcc, sizeof(cfg));
	vd->ops->config_read(vd, 0, cfg, sizeof(cfg));
	const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	CHECK(memcmp(cfg, mac, 6) == 0, "config: the MAC");
	CHECK(config16(&b, 6) == 1, "config: status LINK_UP");
	CHECK(config16(&b, 8) == 1, "config: max_virtqueue_pairs 1");
	CHECK(config16(&b, 10) == 1500, "config: mtu 1500");
	CHECK(vd->config_size == 12 && VIRTIO_NET_CONFIG_LEN == 12, "config_size 12");
	uint8_t junk[6] = { 1, 2, 3, 4, 5, 6 };
	vd->ops->config_write(vd, 0, junk, 6);
	vd->ops->config_read(vd, 0, cfg, 6);
	CHECK(memcmp(cfg, mac, 6) == 0, "writes to the config space change nothing");
	uint8_t one = 0;
	vd->ops->config_read(vd, 11, &one, 1);
	CHECK(one == 1500 >> 8, "a one-byte read of mtu's high byte");

	uint64_t f = offered(&b);
	uint64_t want = F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_CSUM) |
			F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) |
			F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6) | F(VIRTIO_NET_F_MAC) |
			F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_MTU);
	CHECK((f & want) == want, "offered: VERSION_1 MRG_RXBUF CSUM GUEST_CSUM TSO4/6 both ways MAC STATUS CTRL_VQ MTU");
	CHECK(!(f & F(VIRTIO_NET_F_MQ)), "one pair: no MQ");
	CHECK(!(f & (F(6) | F(10) | F(14))), "no legacy GSO, no UFO either way");
	CHECK(vd->device_id == 1 && vd->nr_queues == 3, "device id 1, queues rx, tx, ctrl");
	bench_stop(&b);

	bench_start(&b, 4);
	CHECK((offered(&b) & F(VIRTIO_NET_F_MQ)) && config16(&b, 8) == 4 && b.net.vd.nr_queues == 9,
	      "four pairs: MQ, max_virtqueue_pairs 4, 9 queues");
	bench_stop(&b);

	struct virtio_net n;
	int fds[VIRTIO_NET_MAX_PAIRS + 1] = { 0 };
	struct virtio_net_config too_many = { .queue_pairs = VIRTIO_NET_MAX_PAIRS + 1 };
	CHECK(virtio_net_init_fds(&n, &too_many, NULL, fds) == -EINVAL, "more than %d pairs: -EINVAL",
	      VIRTIO_NET_MAX_PAIRS);
}

static void test_tx(void)
{
	struct fake_net b;
	bench_start(&b, 1);
	CHECK(negotiate(&b, offered(&b)), "FEATURES_OK with every offered feature");
	struct drv *d = &b.d[txq(0)];
	uint8_t buf[70000];
	uint32_t id, len;

	struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_DATA_VALID, .num_buffers = 5 };
	const uint32_t cuts[] = { 5, 12, 40, 90 };
	uint16_t head = tx(&b, 0, h, 100, 1, cuts, 4);
	virtio_net_serve(&b.net.vd, txq(0));
	ssize_t n = peer_recv(&b, 0, buf, sizeof(buf));
	CHECK(is_packet(buf, n, &plain, 100, 1), "a frame over 5 descriptors (header split 5 + 7) arrives intact, "
	      "DATA_VALID and num_buffers cleared");
	used_elem(d, 0, &id, &len);
	CHECK(used_idx(d) == 1 && id == head && len == 0, "its chain returned with used len 0");
	CHECK(atomic_load(&b.notifies) == 1, "and an interrupt");

	const uint32_t shared[] = { 30 };
	tx(&b, 0, plain, 60, 2, shared, 1);
	virtio_net_serve(&b.net.vd, txq(0));
	n = peer_recv(&b, 0, buf, sizeof(buf));
	CHECK(is_packet(buf, n, &plain, 60, 2), "header and frame start sharing a descriptor");

	struct virtio_net_hdr tso = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
				      .hdr_len = 66, .gso_size = 1448, .csum_start = 34, .csum_offset = 16 };
	const uint32_t pages[] = { 12, 4108, 8204, 12300, 16396, 20492, 24588, 28684 };
	tx(&b, 0, tso, 30000, 3, pages, 8);
	virtio_net_serve(&b.net.vd, txq(0));
	n = peer_recv(&b, 0, buf, sizeof(buf));
	CHECK(is_packet(buf, n, &tso, 30000, 3), "a 30000-byte TSOv4 frame: header passed on as is");

	for (unsigned i = 0; i < 3; i++)
		tx(&b, 0, plain, 64 + i, 10 + i, NULL, 0);
	virtio_net_serve(&b.net.vd, txq(0));
	bool order = used_idx(d) == 6;
	for (unsigned i = 0; i < 3; i++) {
		n = peer_recv(&b, 0, buf, sizeof(buf));
		order = order && is_packet(buf, n, &plain, 64 + i, 10 + i);
	}
	CHECK(order, "three chains in one kick: three frames, in order");
	struct net_counters c = counters(&b);
	CHECK(c.tx_packets == 6 && c.tx_bytes == 100 + 60 + 30000 + 64 + 65 + 66 && c.tx_drops == 0,
	      "tx counters: 6 packets, their bytes, no drops");

	/* Bad chains: dropped, counted, returned; the device goes on. */
	uint64_t shortb = drv_alloc(d, 8);
	memset(host(d, shortb), 0, 8);
	struct seg s8 = { shortb, 8, false };
	head = drv_offer(d, &s8, 1);
	virtio_net_serve(&b.net.vd, txq(0));
	used_elem(d, 6, &id, &len);
	CHECK(peer_recv(&b, 0, buf, sizeof(buf)) < 0 && used_idx(d) == 7 && id == head && len == 0,
	      "an 8-byte chain: nothing sent, the chain returned");
	CHECK(counters(&b).tx_drops == 1, "and counted in tx_drops");
	tx(&b, 0, plain, 80, 4, NULL, 0);
	virtio_net_serve(&b.net.vd, txq(0));
	n = peer_recv(&b, 0, buf, sizeof(buf));
	CHECK(is_packet(buf, n, &plain, 80, 4) && used_idx(d) == 8, "the next frame goes through");

	struct seg w = { drv_alloc(d, 100), 100, true };
	drv_offer(d, &w, 1);
	tx(&b, 0, plain, 1519, 5, NULL, 0);
	tx(&b, 0, plain, 1518, 6, NULL, 0);
	struct virtio_net_hdr udp = tso;
	udp.gso_type = 3;
	tx(&b, 0, udp, 3000, 7, NULL, 0);
	struct virtio_net_hdr outside = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 50, .csum_offset = 9 };
	tx(&b, 0, outside, 60, 8, NULL, 0);
	tx(&b, 0, plain, 13, 9, NULL, 0);
	virtio_net_serve(&b.net.vd, txq(0));
	n = peer_recv(&b, 0, buf, sizeof(buf));
	CHECK(is_packet(buf, n, &plain, 1518, 6) && peer_recv(&b, 0, buf, sizeof(buf)) < 0,
	      "of writable-only, 1519-byte (over MTU), 1518-byte, UFO, csum-outside, 13-byte: only 1518 sent");
	CHECK(used_idx(d) == 14 && counters(&b).tx_drops == 6, "all six chains returned, five more drops");

	/* A backend that takes no more (EAGAIN): dropped, counted, the chains still returned. */
	int small = 65536;
	if (setsockopt(b.dev[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)) < 0)
		bail("SO_SNDBUF");
	for (unsigned i = 0; i < 40; i++)
		tx(&b, 0, tso, 20000, i, NULL, 0);
	virtio_net_serve(&b.net.vd, txq(0));
	c = counters(&b);
	unsigned got = 0;
	while (peer_recv(&b, 0, buf, sizeof(buf)) > 0)
		got++;
	CHECK(used_idx(d) == 54 && c.tx_drops > 6 && got == c.tx_packets - 8 && got + (c.tx_drops - 6) == 40,
	      "40 frames into a full backend: %u sent, %llu dropped, all returned", got,
	      (unsigned long long)(c.tx_drops - 6));
	CHECK(!(virtio_get_status(&b.net.vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET), "no NEEDS_RESET for any of it");

	/* A broken ring does set it. */
	put16(d, d->avail + 4 + 2ull * (d->avail_idx % d->qsize), 999);
	put16(d, d->avail + 2, ++d->avail_idx);
	virtio_net_serve(&b.net.vd, txq(0));
	CHECK((virtio_get_status(&b.net.vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET) && atomic_load(&b.config_notifies) == 1,
	      "a head beyond the queue: NEEDS_RESET and a configuration change");
	bench_stop(&b);

	/* Offloads the driver did not take. */
	bench_start(&b, 1);
	negotiate(&b, offered(&b) & ~(F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) | F(VIRTIO_NET_F_CSUM)));
	tx(&b, 0, tso, 30000, 3, NULL, 0);
	struct virtio_net_hdr csum = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 16 };
	tx(&b, 0, csum, 60, 3, NULL, 0);
	tx(&b, 0, plain, 60, 3, NULL, 0);
	virtio_net_serve(&b.net.vd, txq(0));
	n = peer_recv(&b, 0, buf, sizeof(buf));
	CHECK(is_packet(buf, n, &plain, 60, 3) && peer_recv(&b, 0, buf, sizeof(buf)) < 0 &&
	      counters(&b).tx_drops == 2 && used_idx(&b.d[txq(0)]) == 3,
	      "without HOST_TSO4 and CSUM: the TSO and NEEDS_CSUM frames dropped, the plain one sent");

	/* A full ring is a turn's worth (256): the device kicks itself to go on later. */
	int kick = b.net.vd.queues[txq(0)].kick_fd;
	uint64_t count;
	while (read(kick, &count, sizeof(count)) == sizeof(count))
		;
	for (unsigned i = 0; i < VIRTIO_NET_QUEUE_SIZE; i++)
		tx(&b, 0, plain, 20, i, NULL, 0);
	virtio_net_serve(&b.net.vd, txq(0));
	CHECK(used_idx(&b.d[txq(0)]) == 3 + VIRTIO_NET_QUEUE_SIZE && read(kick, &count, sizeof(count)) == sizeof(count),
	      "256 chains in one turn, then a kick of its own for the rest");
	bench_stop(&b);
}

static void test_rx_plain(void)
{
	struct fake_net b;
	bench_start(&b, 1);
	negotiate(&b, offered(&b) & ~F(VIRTIO_NET_F_MRG_RXBUF));
	struct drv *d = &b.d[rxq(0)];
	struct virtio_net_hdr dv = { .flags = VIRTIO_NET_HDR_F_DATA_VALID, .num_buffers = 0 };

	struct seg a = rx_buf(&b, 0, 1526);
	uint16_t ha = head_of(&b, 0);
	peer_send(&b, 0, dv, 60, 1);
	virtio_net_receive(&b.net.pairs[0]);
	CHECK(used_idx(d) == 1 && rx_landed(&b, 0, 0, &a, ha, dv, 1, 60, 1),
	      "a 60-byte frame in one chain: used len 72, num_buffers 1, DATA_VALID kept (GUEST_CSUM)");
	CHECK(atomic_load(&b.notifies) == 1, "an interrupt");

	struct seg two[2];
	uint32_t cut = HDR;
	uint16_t hb = offer_stream(d, NULL, 1526, &cut, 1, true, two);
	peer_send(&b, 0, plain, 1000, 2);
	virtio_net_receive(&b.net.pairs[0]);
	uint32_t id, len;
	used_elem(d, 1, &id, &len);
	uint8_t *want = packet(&(struct virtio_net_hdr){ .num_buffers = 1 }, 1000, 2);
	CHECK(used_idx(d) == 2 && id == hb && len == HDR + 1000 && memcmp(host(d, two[0].gpa), want, HDR) == 0 &&
	      memcmp(host(d, two[1].gpa), want + HDR, 1000) == 0, "header and frame in a chain of 12 + 1514 descriptors");
	free(want);

	struct seg c = rx_buf(&b, 0, 500);
	uint16_t hc = head_of(&b, 0);
	peer_send(&b, 0, plain, 1514, 3);
	virtio_net_receive(&b.net.pairs[0]);
	CHECK(used_idx(d) == 2 && counters(&b).rx_drops == 1 && b.net.pairs[0].rx_len == 0,
	      "a 1514-byte frame for a 500-byte chain: dropped, counted, chain kept");
	memset(host(d, c.gpa), 0xee, c.len); /* the device may have written into it: it was available */
	peer_send(&b, 0, plain, 100, 4);
	virtio_net_receive(&b.net.pairs[0]);
	CHECK(used_idx(d) == 3 && rx_landed(&b, 0, 2, &c, hc, plain, 1, 100, 4), "the next small frame uses that chain");

	struct virtio_net_hdr ufo = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = 3, .gso_size = 1000,
				      .csum_start = 34, .csum_offset = 6 };
	peer_send(&b, 0, ufo, 1000, 5);
	uint8_t runt[5] = { 0 };
	if (send(b.peer[0], runt, sizeof(runt), 0) != 5)
		bail("send");
	peer_send(&b, 0, plain, 10, 5);
	struct seg e = rx_buf(&b, 0, 1526);
	uint16_t he = head_of(&b, 0);
	peer_send(&b, 0, plain, 200, 6);
	virtio_net_receive(&b.net.pairs[0]);
	CHECK(used_idx(d) == 4 && rx_landed(&b, 0, 3, &e, he, plain, 1, 200, 6) && counters(&b).rx_drops == 4,
	      "a UFO header, a 5-byte message and a 10-byte frame dropped; the next frame delivered");

	/* No buffers: the frame waits; a kick of the receive queue after new buffers delivers it. */
	peer_send(&b, 0, plain, 300, 7);
	virtio_net_receive(&b.net.pairs[0]);
	CHECK(used_idx(d) == 4 && b.net.pairs[0].rx_len == HDR + 300, "no buffers: nothing used, the frame waits");
	struct seg f = rx_buf(&b, 0, 1526);
	uint16_t hf = head_of(&b, 0);
	virtio_net_serve(&b.net.vd, rxq(0));
	CHECK(used_idx(d) == 5 && rx_landed(&b, 0, 4, &f, hf, plain, 1, 300, 7), "delivered on the rx queue's kick");
	struct net_counters k = counters(&b);
	CHECK(k.rx_packets == 5 && k.rx_bytes == 60 + 1000 + 100 + 200 + 300 && k.rx_drops == 4,
	      "rx counters: 5 packets, their bytes, 4 drops");

	/* §5.1.4.1: with F_MTU, no frame over mtu + the Ethernet header without segmentation. */
	struct seg big = rx_buf(&b, 0, 2048);
	uint16_t hbig = head_of(&b, 0);
	peer_send(&b, 0, plain, 1600, 8);
	peer_send(&b, 0, plain, 1514, 9);
	virtio_net_receive(&b.net.pairs[0]);
	CHECK(used_idx(d) == 6 && rx_landed(&b, 0, 5, &big, hbig, plain, 1, 1514, 9) && counters(&b).rx_drops == 5,
	      "F_MTU 1500: a 1600-byte frame from the backend is dropped, a 1514-byte one delivered");
	bench_stop(&b);

	bench_start(&b, 1);
	negotiate(&b, F(VIRTIO_F_VERSION_1));
	a = rx_buf(&b, 0, 1526);
	ha = head_of(&b, 0);
	struct virtio_net_hdr needs = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 16 };
	peer_send(&b, 0, needs, 60, 8);
	peer_send(&b, 0, dv, 60, 9);
	virtio_net_receive(&b.net.pairs[0]);
	CHECK(used_idx(&b.d[rxq(0)]) == 1 && rx_landed(&b, 0, 0, &a, ha, plain, 1, 60, 9) && counters(&b).rx_drops == 1,
	      "VERSION_1 only: NEEDS_CSUM dropped, DATA_VALID delivered with flags 0");
	bench_stop(&b);
}

static void test_rx_mergeable(void)
{
	struct fake_net b;
	bench_start(&b, 1);
	/* Jumbo frames without segmentation: the driver does not take F_MTU (§5.1.4.1). */
	negotiate(&b, offered(&b) & ~F(VIRTIO_NET_F_MTU));
	struct drv *d = &b.d[rxq(0)];
	struct seg s[4];
	uint16_t h[4];
	for (int i = 0; i < 4; i++) {
		s[i] = rx_buf(&b, 0, 2048);
		h[i] = head_of(&b, 0);
	}
	peer_send(&b, 0, plain, 5000, 1);
	virtio_net_receive(&b.net.pairs[0]);
	uint32_t id[3], len[3];
	for (uint16_t k = 0; k < 3; k++)
		used_elem(d, k, &id[k], &len[k]);
	CHECK(used_idx(d) == 3, "a 5000-byte frame over 2048-byte buffers: used idx 0 -> 3 in one call");
	CHECK(id[0] == h[0] && id[1] == h[1] && id[2] == h[2] && len[0] == 2048 && len[1] == 2048 && len[2] == 916,
	      "the three heads in order, lengths 2048 2048 916");
	uint8_t *all = malloc(5012);
	memcpy(all, host(d, s[0].gpa), 2048);
	memcpy(all + 2048, host(d, s[1].gpa), 2048);
	memcpy(all + 4096, host(d, s[2].gpa), 916);
	struct virtio_net_hdr nb = plain;
	CHECK(is_packet(all, 5012, &(struct virtio_net_hdr){ .num_buffers = 3 }, 5000, 1),
	      "num_buffers 3 in the first header, the frame continues across the chains");
	free(all);
	CHECK(atomic_load(&b.notifies) == 1, "one interrupt for the three");

	peer_send(&b, 0, nb, 64, 2);
	virtio_net_receive(&b.net.pairs[0]);
	CHECK(used_idx(d) == 4 && rx_landed(&b, 0, 3, &s[3], h[3], plain, 1, 64, 2), "then a small frame: num_buffers 1");

	/* Not enough buffers (none): nothing consumed; delivered after the driver adds three. */
	peer_send(&b, 0, plain, 5000, 3);
	virtio_net_receive(&b.net.pairs[0]);
	CHECK(used_idx(d) == 4 && b.net.pairs[0].rx_len == 5012, "no buffers: nothing used, the frame waits");
	for (int i = 0; i < 3; i++) {
		s[i] = rx_buf(&b, 0, 2048);
		h[i] = head_of(&b, 0);
	}
	virtio_net_serve(&b.net.vd, rxq(0));
	used_elem(d, 4, &id[0], &len[0]);
	CHECK(used_idx(d) == 7 && id[0] == h[0] && get16(d, s[0].gpa + 10) == 3,
	      "three buffers and a kick: delivered, num_buffers 3");

	/* A 64 KiB TSO frame over 32 buffers. */
	struct virtio_net_hdr gso = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
				      .hdr_len = 66, .gso_size = 1448, .csum_start = 34, .csum_offset = 16 };
	struct seg first = rx_buf(&b, 0, 2048);
	for (int i = 1; i < 40; i++)
		rx_buf(&b, 0, 2048);
	peer_send(&b, 0, gso, 65000, 4);
	virtio_net_receive(&b.net.pairs[0]);
	used_elem(d, 7 + 31, &id[0], &len[0]);
	CHECK(used_idx(d) == 7 + 32 && get16(d, first.gpa + 10) == 32 && len[0] == 65012 - 31 * 2048 &&
	      ((uint8_t *)host(d, first.gpa))[1] == VIRTIO_NET_HDR_GSO_TCPV4, "a 65000-byte TSO frame: 32 buffers, num_buffers 32");
	bench_stop(&b);

	/* Not enough buffers (one of three): delivered once the driver adds the rest and kicks. */
	bench_start(&b, 1);
	negotiate(&b, offered(&b) & ~F(VIRTIO_NET_F_MTU));
	d = &b.d[rxq(0)];
	s[0] = rx_buf(&b, 0, 2048);
	peer_send(&b, 0, plain, 5000, 5);
	virtio_net_receive(&b.net.pairs[0]);
	CHECK(used_idx(d) == 0 && b.net.pairs[0].rx_len == 5012, "one buffer of three: nothing used, the frame waits");
	rx_buf(&b, 0, 2048);
	rx_buf(&b, 0, 2048);
	virtio_net_serve(&b.net.vd, rxq(0));
	CHECK(used_idx(d) == 3 && get16(d, s[0].gpa + 10) == 3,
	      "two more buffers and a kick of the receive queue: delivered over three");
	bench_stop(&b);
}

/*
 * One controlq command: class, command, data (own descriptor), ack, served
 * by the worker if it runs. Returns the ack byte.
 */
static uint8_t ctrl(struct fake_net *b, uint8_t class, uint8_t cmd, const void *data, uint32_t dlen, uint32_t *ulen)
{
	struct drv *d = &b->d[ctrlq(b)];
	uint16_t before = used_idx(d);
	struct seg segs[3];
	unsigned n = 0;
	segs[n] = (struct seg){ drv_alloc(d, 2), 2, false };
	uint8_t *p = host(d, segs[n++].gpa);
	p[0] = class, p[1] = cmd;
	if (dlen) {
		segs[n] = (struct seg){ drv_alloc(d, dlen), dlen, false };
		memcpy(host(d, segs[n++].gpa), data, dlen);
	}
	segs[n] = (struct seg){ drv_alloc(d, 1), 1, true };
	uint8_t *ack = host(d, segs[n++].gpa);
	*ack = 0xee;
	drv_offer(d, segs, n);
	if (b->net.worker.running) {
		virtio_kick_queue(&b->net.vd, ctrlq(b));
		wait_for(d, (uint16_t)(before + 1));
	} else {
		virtio_net_serve(&b->net.vd, ctrlq(b));
	}
	uint32_t id;
	*ulen = UINT32_MAX;
	if (used_idx(d) == (uint16_t)(before + 1))
		used_elem(d, before, &id, ulen);
	return *ack;
}

static uint8_t set_pairs(struct fake_net *b, uint16_t n, uint32_t *ulen)
{
	uint16_t le = htole16(n);
	return ctrl(b, 4, 0, &le, 2, ulen);
}

static void test_ctrl(void)
{
	struct fake_net b;
	bench_start(&b, 4);
	CHECK(negotiate(&b, offered(&b)), "four pairs: FEATURES_OK with MQ");
	uint32_t ulen;
	bool ok = true;
	for (uint16_t n = 1; n <= 4; n++)
		ok = ok && set_pairs(&b, n, &ulen) == ACK_OK && ulen == 1;
	CHECK(ok, "VQ_PAIRS_SET 1, 2, 3, 4: VIRTIO_NET_OK, used len 1");
	CHECK(set_pairs(&b, 0, &ulen) == ACK_ERR && ulen == 1, "VQ_PAIRS_SET 0: VIRTIO_NET_ERR");
	CHECK(set_pairs(&b, 5, &ulen) == ACK_ERR && set_pairs(&b, 0xffff, &ulen) == ACK_ERR,
	      "VQ_PAIRS_SET 5 and 0xffff: ERR");
	CHECK(ctrl(&b, 0, 0, "\1", 1, &ulen) == ACK_ERR && ulen == 1, "RX PROMISC (not offered): ERR");
	CHECK(ctrl(&b, 99, 0, NULL, 0, &ulen) == ACK_ERR, "an unknown class: ERR");
	CHECK(ctrl(&b, 4, 1, "\0\0", 2, &ulen) == ACK_ERR, "MQ RSS_CONFIG (not offered): ERR");
	CHECK(ctrl(&b, 4, 0, NULL, 0, &ulen) == ACK_ERR && ulen == 1, "VQ_PAIRS_SET without its data: ERR");
	struct drv *d = &b.d[8];
	struct seg one[2] = { { drv_alloc(d, 4), 4, false }, { drv_alloc(d, 1), 1, true } };
	memcpy(host(d, one[0].gpa), "\4\0\2\0", 4);
	drv_offer(d, one, 2);
	virtio_net_serve(&b.net.vd, 8);
	CHECK(*(uint8_t *)host(d, one[1].gpa) == ACK_OK,
	      "class, command and data in one descriptor: OK");
	CHECK(b.net.ctrl_errors == 7, "ctrl_errors counts the ERR answers (%llu)", (unsigned long long)b.net.ctrl_errors);

	/* Each pair has its own backend; the counters sum them. */
	uint8_t buf[2048];
	tx(&b, 2, plain, 70, 1, NULL, 0);
	virtio_net_serve(&b.net.vd, txq(2));
	ssize_t n = peer_recv(&b, 2, buf, sizeof(buf));
	CHECK(is_packet(buf, n, &plain, 70, 1) && peer_recv(&b, 0, buf, sizeof(buf)) < 0,
	      "transmitq3 sends on pair 2's backend only");
	struct seg s = rx_buf(&b, 3, 1526);
	uint16_t h = head_of(&b, 3);
	peer_send(&b, 3, plain, 90, 2);
	virtio_net_receive(&b.net.pairs[3]);
	CHECK(used_idx(&b.d[rxq(3)]) == 1 && rx_landed(&b, 3, 0, &s, h, plain, 1, 90, 2), "pair 3 receives into receiveq4");
	struct net_counters c = counters(&b);
	CHECK(c.tx_packets == 1 && c.tx_bytes == 70 && c.rx_packets == 1 && c.rx_bytes == 90,
	      "counters summed over the pairs");
	bench_stop(&b);

	bench_start(&b, 4);
	CHECK(!negotiate(&b, offered(&b) & ~F(VIRTIO_NET_F_CTRL_VQ)),
	      "MQ without CTRL_VQ: FEATURES_OK refused (§5.1.3.1)");
	bench_stop(&b);
	bench_start(&b, 4);
	negotiate(&b, offered(&b) & ~F(VIRTIO_NET_F_MQ));
	CHECK(set_pairs(&b, 2, &ulen) == ACK_ERR && ulen == 1 && used_idx(&b.d[8]) == 0,
	      "MQ not negotiated: the controlq is queue 2, and VQ_PAIRS_SET there is ERR");
	tx(&b, 1, plain, 70, 1, NULL, 0);
	virtio_net_serve(&b.net.vd, txq(1));
	CHECK(peer_recv(&b, 1, buf, sizeof(buf)) < 0 && used_idx(&b.d[txq(1)]) == 0,
	      "and a kick of queue 3 (no pair 2 without MQ) sends nothing");
	bench_stop(&b);

	/* A burst of commands: CTRL_BUDGET of them per turn, then the queue kicks itself. */
	bench_start(&b, 2);
	negotiate(&b, offered(&b));
	d = &b.d[ctrlq(&b)];
	for (unsigned i = 0; i < 70; i++) {
		struct seg cmd[2] = { { drv_alloc(d, 4), 4, false }, { drv_alloc(d, 1), 1, true } };
		memcpy(host(d, cmd[0].gpa), "\4\0\1\0", 4);
		drv_offer(d, cmd, 2);
	}
	virtio_net_serve(&b.net.vd, ctrlq(&b));
	uint64_t kicked = 0;
	CHECK(used_idx(d) == 64 && read(b.net.vd.queues[ctrlq(&b)].kick_fd, &kicked, 8) == 8 && kicked == 1,
	      "70 commands: 64 answered in one turn, and the controlq kicked for the rest");
	virtio_net_serve(&b.net.vd, ctrlq(&b));
	CHECK(used_idx(d) == 70, "the next turn answers the other 6");
	bench_stop(&b);
	bench_start(&b, 1);
	negotiate(&b, offered(&b));
	CHECK(set_pairs(&b, 1, &ulen) == ACK_ERR && ulen == 1, "one pair (MQ not offered): VQ_PAIRS_SET 1 is ERR");
	bench_stop(&b);
}

static void test_stable_mac(void)
{
	uint8_t a[6], a2[6], c[6];
	virtio_net_stable_mac("tap0", a);
	virtio_net_stable_mac("tap0", a2);
	virtio_net_stable_mac("tap1", c);
	CHECK(memcmp(a, a2, 6) == 0, "the same name: the same MAC");
	CHECK(memcmp(a, c, 6) != 0, "tap0 and tap1 differ");
	bool bits = true, distinct = true;
	uint8_t prev[6] = { 0 };
	for (unsigned i = 0; i < 200; i++) {
		char name[16];
		snprintf(name, sizeof(name), "vmtap%u", i);
		uint8_t m[6];
		virtio_net_stable_mac(name, m);
		bits = bits && (m[0] & 2) && !(m[0] & 1);
		distinct = distinct && memcmp(m, prev, 6) != 0;
		memcpy(prev, m, 6);
	}
	CHECK(bits && (a[0] & 2) && !(a[0] & 1), "locally administered, unicast (200 names)");
	CHECK(distinct, "consecutive names get different MACs");
	virtio_net_stable_mac("", a);
	CHECK((a[0] & 3) == 2, "even the empty name");
}

static void test_reset(void)
{
	struct fake_net b;
	bench_start(&b, 1);
	negotiate(&b, offered(&b) & ~F(VIRTIO_NET_F_MRG_RXBUF));
	peer_send(&b, 0, plain, 400, 1);
	virtio_net_receive(&b.net.pairs[0]);
	CHECK(b.net.pairs[0].rx_len == HDR + 400, "a frame waits for receive buffers");
	virtio_set_status(&b.net.vd, 0);
	CHECK(virtio_get_status(&b.net.vd) == 0 && b.net.pairs[0].rx_len == 0 && !b.net.pairs[0].rx_paused,
	      "reset: status 0, the waiting frame dropped");
	for (unsigned q = 0; q < 3; q++)
		drv_reset(&b, q);
	CHECK(negotiate(&b, offered(&b) & ~F(VIRTIO_NET_F_MRG_RXBUF)), "negotiated again");
	struct seg s = rx_buf(&b, 0, 1526);
	uint16_t h = head_of(&b, 0);
	peer_send(&b, 0, plain, 500, 2);
	virtio_net_receive(&b.net.pairs[0]);
	CHECK(used_idx(&b.d[rxq(0)]) == 1 && rx_landed(&b, 0, 0, &s, h, plain, 1, 500, 2),
	      "after re-initialisation the new frame is received, not the old one");
	uint8_t buf[2048];
	tx(&b, 0, plain, 70, 3, NULL, 0);
	virtio_net_serve(&b.net.vd, txq(0));
	CHECK(is_packet(buf, peer_recv(&b, 0, buf, sizeof(buf)), &plain, 70, 3) && used_idx(&b.d[txq(0)]) == 1,
	      "and transmit works");
	bench_stop(&b);
}

/* The real worker: DRIVER_OK starts it, the TAP's stand-in wakes it, a reset stops it. */
static void test_worker(void)
{
	struct fake_net b;
	bench_start(&b, 1);
	struct virtio_device *vd = &b.net.vd;
	negotiate(&b, offered(&b));
	driver_ok(&b);
	CHECK(b.net.worker.running && !(virtio_get_status(vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET),
	      "DRIVER_OK starts the worker");
	struct seg s = rx_buf(&b, 0, 2048);
	uint16_t h = head_of(&b, 0);
	peer_send(&b, 0, plain, 600, 1);
	CHECK(wait_for(&b.d[rxq(0)], 1) && rx_landed(&b, 0, 0, &s, h, plain, 1, 600, 1),
	      "a frame from the backend reaches the guest on its own");

	tx(&b, 0, plain, 90, 2, NULL, 0);
	virtio_kick_queue(vd, txq(0));
	struct pollfd pfd = { .fd = b.peer[0], .events = POLLIN };
	uint8_t buf[2048];
	CHECK(poll(&pfd, 1, 5000) == 1 && is_packet(buf, peer_recv(&b, 0, buf, sizeof(buf)), &plain, 90, 2),
	      "a kicked transmit reaches the backend");

	/* No buffers: the worker takes the frame and waits; new buffers and a kick deliver it. */
	peer_send(&b, 0, plain, 700, 3);
	int inq = 1;
	for (int i = 0; i < 5000 && inq > 0; i++) {
		if (ioctl(b.dev[0], FIONREAD, &inq) < 0)
			break;
		if (inq > 0)
			usleep(1000);
	}
	usleep(20000);
	CHECK(inq == 0 && used_idx(&b.d[rxq(0)]) == 1, "without buffers the frame is taken but not delivered");
	s = rx_buf(&b, 0, 2048);
	h = head_of(&b, 0);
	virtio_kick_queue(vd, rxq(0));
	CHECK(wait_for(&b.d[rxq(0)], 2) && rx_landed(&b, 0, 1, &s, h, plain, 1, 700, 3),
	      "a buffer and a kick of the receive queue deliver it");
	CHECK(atomic_load(&b.notifies) >= 2, "with interrupts");
	virtio_set_status(vd, 0);
	CHECK(!b.net.worker.running, "a reset stops the worker");
	bench_stop(&b);
}

/* The backend's other end goes away: frames are dropped, the device goes on. */
static void test_backend_gone(void)
{
	struct fake_net b;
	bench_start(&b, 1);
	negotiate(&b, offered(&b));
	close(b.peer[0]);
	b.peer[0] = -1;
	tx(&b, 0, plain, 60, 1, NULL, 0);
	tx(&b, 0, plain, 60, 2, NULL, 0);
	virtio_net_serve(&b.net.vd, txq(0));
	CHECK(used_idx(&b.d[txq(0)]) == 2 && counters(&b).tx_drops == 2 && counters(&b).tx_packets == 0,
	      "transmit to a closed peer (EPIPE): dropped, counted, returned");
	rx_buf(&b, 0, 2048);
	virtio_net_receive(&b.net.pairs[0]);
	CHECK(used_idx(&b.d[rxq(0)]) == 0 && b.net.pairs[0].rx_len == 0 &&
	      !(virtio_get_status(&b.net.vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET),
	      "receive at end of file: nothing delivered, no NEEDS_RESET (%llu drops counted)",
	      (unsigned long long)counters(&b).rx_drops);
	bench_stop(&b);

	/*
	 * A TAP gone for good (EBADFD, which a socket cannot produce: set by hand) stays gone
	 * through a reset; its fd stays readable, and the worker must not spin on it.
	 */
	bench_start(&b, 1);
	negotiate(&b, offered(&b));
	b.net.backend_gone = true;
	peer_send(&b, 0, plain, 60, 1);
	driver_ok(&b);
	long ms = cpu_ms_in(300);
	CHECK(b.net.worker.running && ms < 50, "backend gone, then DRIVER_OK: the worker idles (%ld ms of CPU in 300)", ms);
	virtio_set_status(&b.net.vd, 0);
	bench_stop(&b);
}

/*
 * Receive rings the driver got wrong: a chain without room for the header
 * or with nothing writable breaks the ring (NEEDS_RESET, once); a frame
 * the whole (small) ring cannot hold is dropped rather than waited on.
 */
static void test_rx_faults(void)
{
	struct fake_net b;
	bench_start(&b, 1);
	negotiate(&b, offered(&b));
	struct drv *d = &b.d[rxq(0)];
	rx_buf(&b, 0, HDR - 4);
	peer_send(&b, 0, plain, 60, 1);
	virtio_net_receive(&b.net.pairs[0]);
	CHECK((virtio_get_status(&b.net.vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET) && used_idx(d) == 0 &&
	      counters(&b).rx_drops == 1 && atomic_load(&b.config_notifies) == 1,
	      "a receive chain of 8 writable bytes: NEEDS_RESET, the frame dropped and counted, one config interrupt");
	peer_send(&b, 0, plain, 60, 2);
	virtio_net_receive(&b.net.pairs[0]);
	tx(&b, 0, plain, 70, 3, NULL, 0);
	virtio_net_serve(&b.net.vd, txq(0));
	virtio_device_needs_reset(&b.net.vd);
	uint8_t buf[2048];
	CHECK(used_idx(d) == 0 && used_idx(&b.d[txq(0)]) == 0 && peer_recv(&b, 0, buf, sizeof(buf)) < 0 &&
	      b.net.pairs[0].rx_len == 0 && atomic_load(&b.config_notifies) == 1,
	      "then nothing is served until reset, and no second config interrupt");
	virtio_set_status(&b.net.vd, 0);
	for (unsigned q = 0; q < 3; q++)
		drv_reset(&b, q);
	negotiate(&b, offered(&b));
	struct seg s = rx_buf(&b, 0, 2048);
	uint16_t h = head_of(&b, 0);
	virtio_net_receive(&b.net.pairs[0]);
	CHECK(rx_landed(&b, 0, 0, &s, h, plain, 1, 60, 2),
	      "after a reset the device serves again: the frame left waiting in the backend arrives");
	bench_stop(&b);

	/* Mergeable: a second chain with nothing writable. */
	bench_start(&b, 1);
	negotiate(&b, offered(&b) & ~F(VIRTIO_NET_F_MTU));
	d = &b.d[rxq(0)];
	rx_buf(&b, 0, 2048);
	offer_stream(d, NULL, 512, NULL, 0, false, &s);
	peer_send(&b, 0, plain, 3000, 5);
	virtio_net_receive(&b.net.pairs[0]);
	CHECK((virtio_get_status(&b.net.vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET) && used_idx(d) == 0,
	      "a device-readable chain on the receiveq, mid-frame: NEEDS_RESET, nothing used");
	bench_stop(&b);

	/* A ring of 4 buffers of 256 bytes can never hold 5000 bytes: dropped, not waited for. */
	bench_start(&b, 1);
	b.d[rxq(0)].qsize = 4;
	negotiate(&b, offered(&b) & ~F(VIRTIO_NET_F_MTU));
	d = &b.d[rxq(0)];
	struct seg small[4];
	uint16_t hs[4];
	for (int i = 0; i < 4; i++) {
		small[i] = rx_buf(&b, 0, 256);
		hs[i] = head_of(&b, 0);
	}
	peer_send(&b, 0, plain, 5000, 6);
	virtio_net_receive(&b.net.pairs[0]);
	CHECK(counters(&b).rx_drops == 1 && !b.net.pairs[0].rx_paused && b.net.pairs[0].rx_len == 0 && used_idx(d) == 0,
	      "a queue of 4 x 256 bytes: a 5000-byte frame dropped, not waited for");
	memset(host(d, small[0].gpa), 0xee, small[0].len); /* the device may have written into it */
	peer_send(&b, 0, plain, 100, 7);
	virtio_net_receive(&b.net.pairs[0]);
	CHECK(used_idx(d) == 1 && rx_landed(&b, 0, 0, &small[0], hs[0], plain, 1, 100, 7),
	      "the next frame delivered into the first buffer");
	bench_stop(&b);
}

/*
 * Behind a fake IOMMU of 1 MiB pages mapping RAM onto itself (rings in
 * page 0, receive buffers in pages 1 and 2, transmit buffers from page 3):
 * a buffer the IOMMU refuses costs its frame, and the device goes on.
 */
static void test_iommu(void)
{
	struct fake_net b;
	bench_start(&b, 1);
	struct fake_iommu f;
	fake_iommu_init(&f, FAKE_NET_RAM_GPA, 1 << 20);
	fake_iommu_map_range(&f, FAKE_NET_RAM_GPA, FAKE_NET_RAM_GPA, 24);
	virtio_device_set_iommu(&b.net.vd, &f.t, 0x30);
	uint64_t features = offered(&b) & ~F(VIRTIO_NET_F_MTU); /* frames over 1514 bytes */
	CHECK(!negotiate(&b, features & ~F(VIRTIO_F_ACCESS_PLATFORM)) && negotiate(&b, features),
	      "FEATURES_OK only with ACCESS_PLATFORM");
	uint64_t page1 = FAKE_NET_RAM_GPA + (1 << 20), page2 = page1 + (1 << 20), page3 = page2 + (1 << 20);
	struct drv *t = &b.d[txq(0)], *r = &b.d[rxq(0)];
	uint8_t buf[2048];
	uint32_t id, len;

	tx(&b, 0, plain, 100, 1, NULL, 0);
	virtio_net_serve(&b.net.vd, txq(0));
	CHECK(is_packet(buf, peer_recv(&b, 0, buf, sizeof(buf)), &plain, 100, 1) && f.last_source == 0x30,
	      "a frame sent through the IOMMU");
	fake_iommu_unmap(&f, page3);
	uint16_t head = tx(&b, 0, plain, 100, 2, NULL, 0);
	virtio_net_serve(&b.net.vd, txq(0));
	used_elem(t, 1, &id, &len);
	CHECK(peer_recv(&b, 0, buf, sizeof(buf)) < 0 && used_idx(t) == 2 && id == head && len == 0 &&
	      counters(&b).tx_drops == 1 && f.faults == 1, "its buffer unmapped: not sent, returned, counted");
	fake_iommu_map(&f, page3, page3, true, true);
	uint8_t *p = packet(&plain, 100, 6);
	struct seg two[2] = { { drv_alloc(t, HDR + 60), HDR + 60, false } };
	t->next_buf = page3 + (1 << 20); /* the frame's end in page 4, unmapped */
	two[1] = (struct seg){ drv_alloc(t, 40), 40, false };
	memcpy(host(t, two[0].gpa), p, HDR + 60);
	memcpy(host(t, two[1].gpa), p + HDR + 60, 40);
	free(p);
	fake_iommu_unmap(&f, two[1].gpa);
	drv_offer(t, two, 2);
	virtio_net_serve(&b.net.vd, txq(0));
	CHECK(peer_recv(&b, 0, buf, sizeof(buf)) < 0 && used_idx(t) == 3 && counters(&b).tx_drops == 2,
	      "the header and the frame's start mapped, its end not: nothing sent (no truncated frame)");

	struct seg s = rx_buf(&b, 0, 2048);
	head = head_of(&b, 0);
	fake_iommu_unmap(&f, page1);
	peer_send(&b, 0, plain, 60, 3);
	virtio_net_receive(&b.net.pairs[0]);
	used_elem(r, 0, &id, &len);
	CHECK(used_idx(r) == 1 && id == head && len == 0 && all_bytes_are(host(r, s.gpa), 2048, 0xee) &&
	      counters(&b).rx_drops == 1 && b.net.pairs[0].rx_len == 0,
	      "a receive buffer unmapped: returned unused (len 0), untouched, the frame dropped and counted");

	fake_iommu_map(&f, page1, page1, true, true);
	rx_buf(&b, 0, 2048);
	r->next_buf = page2;
	struct seg second = rx_buf(&b, 0, 2048);
	fake_iommu_unmap(&f, page2);
	peer_send(&b, 0, plain, 3000, 4);
	virtio_net_receive(&b.net.pairs[0]);
	uint32_t id2, len2;
	used_elem(r, 1, &id, &len);
	used_elem(r, 2, &id2, &len2);
	CHECK(used_idx(r) == 3 && len == 0 && len2 == 0 && all_bytes_are(host(r, second.gpa), 2048, 0xee) &&
	      counters(&b).rx_drops == 2, "mergeable, the second buffer unmapped: both returned unused");
	CHECK(!(virtio_get_status(&b.net.vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET), "the device goes on");
	fake_iommu_map(&f, page2, page2, true, true);
	s = rx_buf(&b, 0, 2048);
	head = head_of(&b, 0);
	peer_send(&b, 0, plain, 64, 5);
	virtio_net_receive(&b.net.pairs[0]);
	CHECK(used_idx(r) == 4 && rx_landed(&b, 0, 3, &s, head, plain, 1, 64, 5), "and delivers the next frame");

	/* As if vhost-net had been opened (a stand-in fd): behind the IOMMU it is never used. */
	b.net.pairs[0].vhost.fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	b.net.vhost = true;
	CHECK(virtio_net_select_path(&b.net, true) == -ENOTSUP, "choosing vhost-net behind the IOMMU: -ENOTSUP");
	uint8_t status = driver_ok(&b);
	CHECK((status & VIRTIO_STATUS_DRIVER_OK) && !(status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) && !b.net.vhost &&
	      b.net.worker.running, "DRIVER_OK starts vmon's path instead of vhost-net's");
	bench_stop(&b);
}

/* A driver fault under the real worker: the TAP queue leaves its set, so frames do not make it spin. */
static void test_broken_worker(void)
{
	struct fake_net b;
	bench_start(&b, 1);
	negotiate(&b, offered(&b));
	driver_ok(&b);
	rx_buf(&b, 0, 4);
	peer_send(&b, 0, plain, 60, 1);
	bool broken = false;
	for (int i = 0; i < 5000 && !broken; i++) {
		broken = virtio_get_status(&b.net.vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET;
		if (!broken)
			usleep(1000);
	}
	for (unsigned i = 0; i < 20; i++)
		peer_send(&b, 0, plain, 60, 2 + i);
	long ms = cpu_ms_in(300);
	CHECK(broken && ms < 50 && atomic_load(&b.config_notifies) == 1,
	      "a 4-byte receive chain: NEEDS_RESET, then 20 more frames cost %ld ms of CPU in 300, one config interrupt", ms);
	virtio_set_status(&b.net.vd, 0);
	CHECK(!b.net.worker.running, "the reset stops the worker");
	bench_stop(&b);
}

/* --- snapshots --- */

#define NIC_INSTANCE 0x20

static const uint8_t other_mac[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc };

static uint8_t *save_blob(struct fake_net *b, size_t *len)
{
	struct state_writer w;
	uint8_t *blob = NULL;
	state_writer_init(&w);
	virtio_device_save(&b->net.vd, &w, NIC_INSTANCE);
	if (state_writer_finish(&w, &blob, len) < 0)
		bail("cannot save the device's state");
	return blob;
}

/* The blob with n bytes at `offset` of the VIRTIO_NET payload replaced (a snapshot someone edited). */
static uint8_t *edit_blob(const uint8_t *blob, size_t len, size_t offset, const void *bytes, size_t n,
			  size_t *out_len)
{
	struct state_reader r;
	const char *why = NULL;
	if (state_reader_open(&r, blob, len, &why) < 0)
		bail(why);
	struct state_writer w;
	state_writer_init(&w);
	for (uint32_t i = 0; i < r.nr_sections; i++) {
		struct state_section s;
		state_section_at(&r, i, &s);
		uint8_t *payload = malloc(s.len);
		if (!payload)
			bail("malloc");
		memcpy(payload, s.data, s.len);
		if (s.tag == STATE_TAG_VIRTIO_NET && offset + n <= s.len)
			memcpy(payload + offset, bytes, n);
		state_begin(&w, s.tag, s.instance);
		state_put_bytes(&w, payload, s.len);
		state_end(&w);
		free(payload);
	}
	uint8_t *out = NULL;
	if (state_writer_finish(&w, &out, out_len) < 0)
		bail("cannot write the edited state");
	return out;
}

/*
 * A fresh device with b's pairs but MAC `mac`, over b's backends and RAM,
 * loaded from blob and left quiesced. The load's result.
 */
static int restore(struct fake_net *b, struct virtio_net *net, const uint8_t mac[6], const uint8_t *blob,
		   size_t len)
{
	struct virtio_net_config cfg = { .queue_pairs = b->pairs };
	memcpy(cfg.mac, mac, 6);
	struct state_reader r;
	const char *why = NULL;
	if (virtio_net_init_fds(net, &cfg, &b->gm, b->dev) < 0 || state_reader_open(&r, blob, len, &why) < 0)
		bail("cannot set up the restored device");
	net->vd.transport = b->net.vd.transport;
	return virtio_device_load(&net->vd, &r, NIC_INSTANCE);
}

/* The worker took pair's frame from the backend and waits for receive buffers. */
static bool waits_for_buffers(struct fake_net *b, unsigned pair)
{
	for (int i = 0; i < 5000 && !__atomic_load_n(&b->net.pairs[pair].rx_paused, __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	return __atomic_load_n(&b->net.pairs[pair].rx_paused, __ATOMIC_ACQUIRE);
}

/* The backend of pair got the frame (len, seed) within 5 s. */
static bool peer_got(struct fake_net *b, unsigned pair, size_t len, unsigned seed)
{
	uint8_t buf[2048];
	struct pollfd pfd = { .fd = b->peer[pair], .events = POLLIN };
	return poll(&pfd, 1, 5000) == 1 && is_packet(buf, peer_recv(b, pair, buf, sizeof(buf)), &plain, len, seed);
}

/*
 * With the real worker: traffic, quiesce, save; a fresh device loads the
 * state, unquiesces, and the rings go on where the first left them.
 */
static void test_snapshot(void)
{
	struct fake_net b;
	bench_start(&b, 4);
	struct virtio_device *vd = &b.net.vd;
	negotiate(&b, offered(&b));
	driver_ok(&b);
	uint32_t ulen;
	CHECK(set_pairs(&b, 3, &ulen) == ACK_OK && b.net.pairs_in_use == 3, "the worker takes VQ_PAIRS_SET 3");
	tx(&b, 2, plain, 70, 1, NULL, 0);
	virtio_kick_queue(vd, txq(2));
	bool sent = peer_got(&b, 2, 70, 1);
	rx_buf(&b, 0, 2048);
	peer_send(&b, 0, plain, 80, 2);
	bool received = wait_for(&b.d[rxq(0)], 1);
	peer_send(&b, 1, plain, 90, 3);
	CHECK(sent && received && waits_for_buffers(&b, 1),
	      "traffic on transmitq3 and receiveq1; a frame on pair 1 waits for receive buffers");
	virtio_device_quiesce(vd);
	CHECK(!b.net.worker.running && b.net.pairs[1].rx_len == 0 && counters(&b).rx_drops == 1,
	      "quiesce: the worker stopped, the waiting frame dropped and counted");
	size_t len;
	uint8_t *blob = save_blob(&b, &len);

	struct virtio_net r;
	int ret = restore(&b, &r, other_mac, blob, len);
	uint8_t mac[6] = { 0 };
	r.vd.ops->config_read(&r.vd, 0, mac, sizeof(mac));
	CHECK(ret == 0 && r.pairs_in_use == 3 && memcmp(mac, b.net.mac, 6) == 0 &&
	      r.vd.queues[txq(2)].vq.last_avail == 1 && r.vd.queues[rxq(0)].vq.used_idx == 1 && !r.worker.running,
	      "a fresh device (another MAC configured) loads it: 3 pairs in use, the saved MAC, the indices");
	CHECK(virtio_device_unquiesce(&r.vd) == 0 && r.worker.running, "unquiesce starts its worker");
	tx(&b, 2, plain, 71, 4, NULL, 0);
	virtio_kick_queue(&r.vd, txq(2));
	CHECK(peer_got(&b, 2, 71, 4) && wait_for(&b.d[txq(2)], 2), "transmitq3 goes on: the next frame sent, used idx 2");
	struct seg s = rx_buf(&b, 0, 2048);
	uint16_t h = head_of(&b, 0);
	peer_send(&b, 0, plain, 81, 5);
	CHECK(wait_for(&b.d[rxq(0)], 2) && rx_landed(&b, 0, 1, &s, h, plain, 1, 81, 5),
	      "receiveq1 goes on: the next frame in the next buffer, used idx 2");
	virtio_net_destroy(&r);
	free(blob);
	bench_stop(&b);
}

/* A saved state edited into values the device could not have: each load refused. */
static void test_snapshot_invalid(void)
{
	struct fake_net b;
	bench_start(&b, 4);
	negotiate(&b, offered(&b));
	driver_ok(&b);
	virtio_device_quiesce(&b.net.vd);
	size_t len;
	uint8_t *blob = save_blob(&b, &len);
	/* The payload: MAC at 0, link at 6, pairs at 7, MTU at 9. */
	const struct { const char *what; size_t offset, n; uint8_t bytes[2]; } edits[] = {
		{ "5 pairs in use on a device of 4", 7, 2, { 5, 0 } },
		{ "0 pairs in use", 7, 2, { 0, 0 } },
		{ "a multicast MAC", 0, 1, { 0x53 } },
		{ "MTU 9000 on an interface of 1500", 9, 2, { 0x28, 0x23 } },
		{ "a link status byte of 2", 6, 1, { 2 } },
	};
	for (unsigned i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		size_t elen;
		uint8_t *edited = edit_blob(blob, len, edits[i].offset, edits[i].bytes, edits[i].n, &elen);
		struct virtio_net r;
		CHECK(restore(&b, &r, other_mac, edited, elen) == -EINVAL, "%s: refused", edits[i].what);
		virtio_net_destroy(&r);
		free(edited);
	}
	struct virtio_net r;
	CHECK(restore(&b, &r, other_mac, blob, len) == 0, "the state unedited: loaded");
	virtio_net_destroy(&r);
	free(blob);
	bench_stop(&b);

	bench_start(&b, 4);
	negotiate(&b, offered(&b) & ~F(VIRTIO_NET_F_MQ));
	blob = save_blob(&b, &len);
	size_t elen;
	uint8_t *edited = edit_blob(blob, len, 7, "\2\0", 2, &elen);
	CHECK(restore(&b, &r, other_mac, edited, elen) == -EINVAL, "2 pairs in use without MQ negotiated: refused");
	virtio_net_destroy(&r);
	free(edited);
	free(blob);
	bench_stop(&b);
}

/* Without vhost-net opened only vmon's path can be chosen, and only while quiesced. */
static void test_select_path(void)
{
	struct fake_net b;
	bench_start(&b, 1);
	struct virtio_device *vd = &b.net.vd;
	negotiate(&b, offered(&b));
	driver_ok(&b);
	CHECK(virtio_net_select_path(&b.net, true) == -ENOTSUP, "vhost-net never opened: choosing it is -ENOTSUP");
	CHECK(virtio_net_select_path(&b.net, false) == -EBUSY, "while the device serves: -EBUSY");
	tx(&b, 0, plain, 60, 1, NULL, 0);
	virtio_kick_queue(vd, txq(0));
	bool sent = peer_got(&b, 0, 60, 1);
	virtio_device_quiesce(vd);
	CHECK(sent && virtio_net_select_path(&b.net, false) == 0 && !b.net.vhost && counters(&b).tx_packets == 1,
	      "quiesced: vmon's path chosen again, the counters as they were");
	CHECK(virtio_device_unquiesce(vd) == 0, "unquiesce");
	tx(&b, 0, plain, 61, 2, NULL, 0);
	virtio_kick_queue(vd, txq(0));
	CHECK(peer_got(&b, 0, 61, 2) && wait_for(&b.d[txq(0)], 2) && counters(&b).tx_packets == 2,
	      "it serves on: the next frame sent and counted");
	bench_stop(&b);
}

/* --- the fuzz target's seed corpus (layout: tests/fuzz/fuzz_virtio_net_tx.c) --- */

#define FUZZ_GPA  0x1000
#define FUZZ_SIZE 0x10000

static int write_seed(const char *dir, const char *name, const uint8_t *ram)
{
	return write_fuzz_seed(dir, name, ram, FUZZ_SIZE, 32);
}

/*
 * Queues of 16 at 0x100 (rx), 0x400 (tx), 0x700 (ctrl), each desc/avail/used 0x100 apart;
 * their buffers at 0x3000, 0x1000, 0xa00; a frame for the guest at 0x5000.
 */
static void seed_start(struct drv d[3], uint8_t *ram, uint8_t flags, uint32_t features)
{
	memset(ram, 0, FUZZ_SIZE);
	ram[0] = 4;
	ram[1] = flags;
	for (int i = 0; i < 4; i++)
		ram[2 + i] = (uint8_t)(features >> (8 * i));
	for (unsigned q = 0; q < 3; q++) {
		uint16_t base = (uint16_t)(0x100 + 0x300 * q);
		for (unsigned k = 0; k < 3; k++) {
			ram[6 + 6 * q + 2 * k] = (uint8_t)(base + 0x100 * k);
			ram[7 + 6 * q + 2 * k] = (uint8_t)((base + 0x100 * k) >> 8);
		}
		static const uint64_t from[3] = { 0x3000, 0x1000, 0xa00 }, to[3] = { 0x5000, 0x3000, 0x1000 };
		d[q] = (struct drv){ .ram = ram, .ram_gpa = FUZZ_GPA, .desc = FUZZ_GPA + base,
				     .avail = FUZZ_GPA + base + 0x100, .used = FUZZ_GPA + base + 0x200, .qsize = 16,
				     .buf_start = FUZZ_GPA + from[q], .next_buf = FUZZ_GPA + from[q],
				     .buf_end = FUZZ_GPA + to[q] };
	}
}

static void seed_rx_frame(uint8_t *ram, uint16_t len, uint16_t off, unsigned seed)
{
	ram[1] |= 1;
	ram[26] = (uint8_t)len, ram[27] = (uint8_t)(len >> 8);
	ram[28] = (uint8_t)off, ram[29] = (uint8_t)(off >> 8);
	struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_DATA_VALID };
	net_hdr_store(&h, ram + off);
	fill(ram + off + HDR, len - HDR, seed);
}

static int write_fuzz_seeds(const char *dir)
{
	static uint8_t ram[FUZZ_SIZE];
	struct drv d[3];
	int err = 0;
	uint32_t all = (uint32_t)(F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) |
				  F(VIRTIO_NET_F_HOST_TSO6) | F(VIRTIO_NET_F_HOST_ECN) | F(VIRTIO_NET_F_GUEST_TSO4) |
				  F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_MQ) |
				  F(VIRTIO_F_INDIRECT_DESC));
	struct virtio_net_hdr tso = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
				      .hdr_len = 54, .gso_size = 500, .csum_start = 34, .csum_offset = 16 };

	seed_start(d, ram, 0, all);
	const uint32_t cuts[] = { 5, 12, 40 };
	uint8_t *p = packet(&plain, 100, 1);
	offer_stream(&d[1], p, HDR + 100, cuts, 3, false, NULL);
	free(p);
	p = packet(&tso, 1600, 2);
	offer_stream(&d[1], p, HDR + 1600, cuts + 1, 1, false, NULL);
	free(p);
	uint8_t cmd[4] = { 4, 0, 1, 0 };
	struct seg c[2] = { { drv_alloc(&d[2], 4), 4, false }, { drv_alloc(&d[2], 1), 1, true } };
	memcpy(host(&d[2], c[0].gpa), cmd, 4);
	drv_offer(&d[2], c, 2);
	err |= write_seed(dir, "tx-split-tso-and-pairs-set", ram);

	seed_start(d, ram, 0, all | (uint32_t)F(VIRTIO_F_EVENT_IDX));
	struct seg s8 = { drv_alloc(&d[1], 8), 8, false };
	drv_offer(&d[1], &s8, 1);
	struct virtio_net_hdr udp = tso;
	udp.gso_type = 3;
	p = packet(&udp, 200, 3);
	offer_stream(&d[1], p, HDR + 200, NULL, 0, false, NULL);
	free(p);
	offer_stream(&d[1], NULL, 100, NULL, 0, true, NULL);
	uint8_t bad[2] = { 99, 0 };
	struct seg c2[2] = { { drv_alloc(&d[2], 2), 2, false }, { drv_alloc(&d[2], 1), 1, true } };
	memcpy(host(&d[2], c2[0].gpa), bad, 2);
	drv_offer(&d[2], c2, 2);
	err |= write_seed(dir, "tx-bad-chains-event-idx", ram);

	seed_start(d, ram, 0, all);
	for (int i = 0; i < 4; i++)
		offer_stream(&d[0], NULL, 1024, NULL, 0, true, NULL);
	seed_rx_frame(ram, 3000, 0x5000, 3);
	err |= write_seed(dir, "rx-mergeable-3000", ram);

	seed_start(d, ram, 0, all & ~(uint32_t)F(VIRTIO_NET_F_MRG_RXBUF));
	uint32_t hcut = HDR;
	offer_stream(&d[0], NULL, 1526, &hcut, 1, true, NULL);
	seed_rx_frame(ram, 800, 0x5000, 4);
	p = packet(&plain, 1518, 5);
	offer_stream(&d[1], p, HDR + 1518, NULL, 0, false, NULL);
	free(p);
	err |= write_seed(dir, "rx-plain-and-tx-max-frame", ram);
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--fuzz-seeds") == 0)
		return write_fuzz_seeds(argv[2]);
	signal(SIGPIPE, SIG_IGN); /* as vmon does: a closed peer is EPIPE, not death */
	test_config();
	test_tx();
	test_rx_plain();
	test_rx_mergeable();
	test_ctrl();
	test_rx_faults();
	test_iommu();
	test_broken_worker();
	test_stable_mac();
	test_reset();
	test_worker();
	test_backend_gone();
	test_snapshot();
	test_snapshot_invalid();
	test_select_path();
	return tap_finish();
}
