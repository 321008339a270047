/*
 * The TAP backend on real TUN/TAP interfaces, which the test creates itself
 * (TUNSETIFF + TUNSETPERSIST, Documentation/networking/tuntap.rst) and
 * removes at exit. Without CAP_NET_ADMIN those tests are skipped. Also
 * vhost-net: -ENOENT where the host has none, else its features and a
 * memory table.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/tap.h"
#include "hv/vhost.h"
#include "tap.h"
#include "virtio/virtio.h"

#define NOBODY 65534

/* --- interfaces the test creates, removed at exit --- */

struct iface {
	char name[IFNAMSIZ];
	short flags;
};
static struct iface created[4];
static unsigned nr_created;

/* A /dev/net/tun file attached to interface `name` (created if missing). fd or -errno. */
static int open_iface(const char *name, short flags)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct ifreq ifr = { .ifr_flags = flags };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Creates a persistent interface (IFF_TUN or IFF_TAP, maybe IFF_MULTI_QUEUE). 0 or -errno. */
static int make_iface(struct iface *i, char suffix, short flags)
{
	snprintf(i->name, sizeof(i->name), "vmt%d%c", (int)getpid(), suffix);
	i->flags = flags | IFF_NO_PI;
	int fd = open_iface(i->name, i->flags);
	if (fd < 0)
		return fd;
	int ret = ioctl(fd, TUNSETPERSIST, 1) < 0 ? -errno : 0;
	close(fd);
	if (ret == 0 && nr_created < sizeof(created) / sizeof(created[0]))
		created[nr_created++] = *i;
	return ret;
}

/* Not persistent any more: the interface goes with its last file (tuntap.rst). */
static void remove_ifaces(void)
{
	for (unsigned k = 0; k < nr_created; k++) {
		int fd = open_iface(created[k].name, created[k].flags);
		if (fd < 0 || ioctl(fd, TUNSETPERSIST, 0) < 0)
			printf("# cannot remove %s: %s\n", created[k].name,
			       strerror(fd < 0 ? -fd : errno));
		if (fd >= 0)
			close(fd);
	}
	nr_created = 0;
}

static int bring_up(const char *name)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (s < 0)
		return -1;
	int ret = ioctl(s, SIOCGIFFLAGS, &ifr);
	if (ret == 0) {
		ifr.ifr_flags |= IFF_UP;
		ret = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	close(s);
	return ret;
}

/* --- helpers on an open tap --- */

static int try_open(struct tap *t, const char *name, unsigned queues, const char **why)
{
	*why = "";
	int ret = tap_open(t, name, queues, why);
	if (ret < 0)
		printf("# %s, %u queue(s): %s (%s)\n", name, queues, *why, strerror(-ret));
	return ret;
}

static bool all_closed(const struct tap *t)
{
	bool closed = t->nr_queues == 0;
	for (unsigned i = 0; i < TAP_MAX_QUEUES; i++)
		closed = closed && t->fds[i] == -1;
	return closed;
}

/* Each queue's file: non-blocking, close-on-exec, 12-byte vnet headers. */
static bool queues_set_up(const struct tap *t)
{
	bool ok = t->nr_queues > 0;
	for (unsigned i = 0; ok && i < t->nr_queues; i++) {
		int hdr_len = 0;
		ok = (fcntl(t->fds[i], F_GETFL) & O_NONBLOCK) &&
		     (fcntl(t->fds[i], F_GETFD) & FD_CLOEXEC) &&
		     ioctl(t->fds[i], TUNGETVNETHDRSZ, &hdr_len) == 0 && hdr_len == TAP_VNET_HDR_LEN;
	}
	return ok;
}

/* Whether queue file fd is attached: detaching it works only then (tun_set_queue). */
static bool queue_attached(int fd)
{
	struct ifreq ifr = { .ifr_flags = IFF_DETACH_QUEUE };
	if (ioctl(fd, TUNSETQUEUE, &ifr) < 0)
		return false;
	ifr.ifr_flags = IFF_ATTACH_QUEUE;
	return ioctl(fd, TUNSETQUEUE, &ifr) == 0;
}

/* A zero virtio-net header and a 60-byte broadcast frame of a local ethertype. */
static ssize_t send_frame(int fd)
{
	uint8_t buf[TAP_VNET_HDR_LEN + 60] = { 0 };
	uint8_t *eth = buf + TAP_VNET_HDR_LEN;
	memset(eth, 0xff, 6);
	eth[6] = 0x02;
	eth[11] = 0x01;
	eth[12] = 0x88; /* 0x88b5: IEEE 802 local experimental */
	eth[13] = 0xb5;
	return write(fd, buf, sizeof(buf));
}

/* --- tests --- */

static void test_bad_arguments(void)
{
	struct tap t;
	const char *why = "";
	CHECK(tap_open(&t, "abcdefghijklmnop", 1, &why) == -EINVAL && strstr(why, "15"),
	      "a 16-byte name: -EINVAL: \"%s\"", why);
	CHECK(tap_open(&t, "a/b", 1, &why) == -EINVAL && all_closed(&t),
	      "a name with '/': -EINVAL: \"%s\"", why);
	CHECK(tap_open(&t, "lo", 0, &why) == -EINVAL && tap_open(&t, "lo", TAP_MAX_QUEUES + 1, &why) == -EINVAL,
	      "0 or 17 queues: -EINVAL: \"%s\"", why);

	char missing[IFNAMSIZ];
	snprintf(missing, sizeof(missing), "vmt%dx", (int)getpid());
	why = "";
	CHECK(tap_open(&t, missing, 1, &why) == -ENODEV && all_closed(&t) &&
	      strstr(why, "no such network interface") && strstr(why, "ip tuntap add"),
	      "a missing interface: -ENODEV: \"%s\"", why);
	CHECK(tap_open(&t, missing, 2, &why) == -ENODEV && strstr(why, "multi_queue"),
	      "a missing interface, 2 queues: the advice says multi_queue: \"%s\"", why);

	struct tap_stats st;
	CHECK(tap_read_stats(missing, &st) == -ENOENT, "tap_read_stats on a missing interface: -ENOENT");
	CHECK(tap_read_stats("..", &st) == -EINVAL, "tap_read_stats(\"..\"): -EINVAL");
	CHECK(tap_read_stats("lo", &st) == 0, "tap_read_stats(\"lo\") reads the counters");

	struct tap zeroed = { 0 };
	bool stdin_open = fcntl(0, F_GETFD) >= 0;
	tap_close(&zeroed);
	tap_close(&zeroed);
	CHECK(all_closed(&zeroed) && (fcntl(0, F_GETFD) >= 0) == stdin_open,
	      "tap_close on a zeroed struct, twice: harmless, file 0 untouched");
}

static void test_not_a_tap(const char *tun_name)
{
	struct tap t;
	const char *why = "";
	CHECK(tap_open(&t, tun_name, 1, &why) == -EINVAL && all_closed(&t) &&
	      strstr(why, "TUN interface, not a TAP"),
	      "a TUN interface is refused: \"%s\"", why);
	CHECK(tap_open(&t, "lo", 1, &why) == -EINVAL && !strcmp(why, "is not a TAP interface"),
	      "lo is refused: \"%s\"", why);
}

static void test_single_queue(const char *name)
{
	struct tap t, other;
	const char *why;
	CHECK(try_open(&t, name, 1, &why) == 0, "single queue: opens");
	if (t.nr_queues != 1)
		return;
	CHECK(!strcmp(t.name, name) && t.fds[0] >= 0 && t.fds[1] == -1, "one file, the name kept");
	CHECK(queues_set_up(&t), "non-blocking, close-on-exec, vnet header 12 bytes");

	char buf[2048];
	errno = 0;
	CHECK(read(t.fds[0], buf, sizeof(buf)) == -1 && errno == EAGAIN, "a read on an idle queue: EAGAIN");

	CHECK(tap_open(&other, name, 1, &why) == -EBUSY && all_closed(&other) &&
	      !strcmp(why, "is in use by another program"),
	      "open it again: -EBUSY: \"%s\"", why);
	CHECK(tap_open(&other, name, 2, &why) == -EINVAL && strstr(why, "without multi_queue"),
	      "2 queues on a tap without multi_queue: -EINVAL: \"%s\"", why);

	CHECK(tap_set_queue_enabled(&t, 0, false) == 0 && tap_set_queue_enabled(&t, 0, true) == 0,
	      "one queue: enabling or disabling it is a no-op");
	CHECK(tap_set_queue_enabled(&t, 1, true) == -EINVAL, "queue 1 of 1: -EINVAL");

	CHECK(tap_set_offloads(&t, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) == 0,
	      "offloads CSUM | TSO4 | TSO6");
	CHECK(tap_set_offloads(&t, 0x80000000u) == -EINVAL, "an unknown offload bit: -EINVAL");
	CHECK(tap_set_offloads(&t, 0) == 0, "offloads off again");

	struct tap_stats before = { 0 }, after = { 0 };
	CHECK(bring_up(name) == 0, "bring the interface up");
	CHECK(tap_read_stats(name, &before) == 0, "read the counters");
	CHECK(send_frame(t.fds[0]) == TAP_VNET_HDR_LEN + 60, "write a frame with its vnet header");
	CHECK(tap_read_stats(name, &after) == 0 && after.rx_packets == before.rx_packets + 1 &&
	      after.rx_bytes == before.rx_bytes + 60,
	      "rx_packets +1, rx_bytes +60 (%llu -> %llu packets)",
	      (unsigned long long)before.rx_packets, (unsigned long long)after.rx_packets);

	tap_close(&t);
	CHECK(all_closed(&t), "tap_close: every fd -1");
	tap_close(&t);
	CHECK(all_closed(&t), "tap_close again: harmless");
	CHECK(try_open(&t, name, 1, &why) == 0, "the interface is free again after tap_close");
	tap_close(&t);
}

static void test_multi_queue(const char *name)
{
	struct tap t, one;
	const char *why;
	CHECK(try_open(&t, name, 2, &why) == 0, "multi_queue tap, 2 queues: opens");
	if (t.nr_queues != 2)
		return;
	CHECK(t.fds[0] >= 0 && t.fds[1] >= 0 && t.fds[2] == -1 && queues_set_up(&t),
	      "2 files, each non-blocking with 12-byte vnet headers");

	CHECK(tap_set_queue_enabled(&t, 1, false) == 0 && !queue_attached(t.fds[1]),
	      "detach queue 1");
	CHECK(tap_set_queue_enabled(&t, 1, false) == 0, "detach it again: 0");
	CHECK(tap_set_queue_enabled(&t, 1, true) == 0 && queue_attached(t.fds[1]),
	      "attach queue 1");
	CHECK(tap_set_queue_enabled(&t, 1, true) == 0 && tap_set_queue_enabled(&t, 0, true) == 0,
	      "attach attached queues: 0");
	CHECK(tap_set_queue_enabled(&t, 2, true) == -EINVAL, "queue 2 of 2: -EINVAL");
	CHECK(tap_set_offloads(&t, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) == 0,
	      "offloads CSUM | TSO4 | TSO6");

	CHECK(try_open(&one, name, 1, &why) == 0 && one.nr_queues == 1,
	      "one more queue, opened alone: a multi_queue tap takes 1 queue too");
	tap_close(&one);
	tap_close(&t);
	CHECK(all_closed(&t), "tap_close");
}

/* As user nobody, in a child: no CAP_NET_ADMIN, and /dev/net/tun may be closed to it. */
static void test_permission(const char *name)
{
	if (getuid() != 0) {
		SKIP("permission denied: needs root to switch to user nobody");
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		struct tap t;
		const char *why = "";
		int ret = setgid(NOBODY) == 0 && setuid(NOBODY) == 0 ? tap_open(&t, name, 1, &why) : 0;
		printf("# as nobody: %s\n", why);
		fflush(stdout);
		_exit((ret == -EPERM || ret == -EACCES) && strstr(why, "permission denied") ? 0 : 1);
	}
	int status = 0;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0,
	      "as user nobody: -EPERM or -EACCES, \"permission denied\"");
}

static void test_vhost_net(void)
{
	struct vhost_net v;
	const char *why = "";
	int ret = vhost_net_open(&v, &why);
	if (ret == -ENOENT) {
		CHECK(v.fd == -1, "no /dev/vhost-net: -ENOENT, fd -1");
		vhost_net_close(&v);
		return;
	}
	CHECK(ret == 0, "open /dev/vhost-net: %d \"%s\"", ret, why);
	if (ret < 0)
		return;
	CHECK(v.features & (1ull << VIRTIO_F_VERSION_1), "vhost-net offers VERSION_1 (features %#llx)",
	      (unsigned long long)v.features);

	enum { SIZE = 1 << 20 };
	void *ram = malloc(SIZE);
	struct guest_mem gm;
	guest_mem_init_flat(&gm, ram, 0, SIZE);
	CHECK(ram && vhost_net_set_memory(&v, &gm) == 0, "a memory table of one 1 MiB region");
	vhost_net_close(&v);
	vhost_net_close(&v);
	free(ram);
	CHECK(v.fd == -1, "vhost_net_close twice: harmless");
}

/* Creates the interfaces; NULL, or why the tests on them cannot run here. */
static const char *make_test_ifaces(struct iface *tap1, struct iface *tapmq, struct iface *tun)
{
	int ret = make_iface(tap1, 's', IFF_TAP);
	if (ret == -EPERM || ret == -EACCES)
		return "no permission to create TAP interfaces (needs CAP_NET_ADMIN)";
	if (ret == -ENOENT || ret == -ENODEV)
		return "no /dev/net/tun on this host";
	CHECK(ret == 0, "create a TAP interface (%d)", ret);
	CHECK(make_iface(tapmq, 'm', IFF_TAP | IFF_MULTI_QUEUE) == 0, "create a multi_queue TAP interface");
	CHECK(make_iface(tun, 'u', IFF_TUN) == 0, "create a TUN interface");
	return ret == 0 ? NULL : "the TAP interface could not be created";
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_bad_arguments();

	atexit(remove_ifaces);
	struct iface tap1, tapmq, tun;
	const char *skip = make_test_ifaces(&tap1, &tapmq, &tun);
	if (skip) {
		SKIP("TUN interface refused: %s", skip);
		SKIP("single-queue tap: %s", skip);
		SKIP("multi-queue tap: %s", skip);
		SKIP("permission denied: %s", skip);
	} else {
		test_not_a_tap(tun.name);
		test_single_queue(tap1.name);
		test_multi_queue(tapmq.name);
		test_permission(tap1.name);
	}
	remove_ifaces();
	CHECK(if_nametoindex(tap1.name) == 0 && (skip || if_nametoindex(tapmq.name) == 0),
	      "the test's interfaces are gone");

	test_vhost_net();
	return tap_finish();
}
