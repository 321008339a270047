/*
 * A host TAP interface through /dev/net/tun. See tap.h for the contract and
 * Documentation/networking/tuntap.rst in Linux for the ioctls; the error
 * codes are those of tun_set_iff() and tun_set_queue() in drivers/net/tun.c.
 */
#include "backends/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/sys.h"

#define TUN_DEVICE "/dev/net/tun"

/*
 * The kernel's rule (dev_valid_name() in net/core/dev.c): 1 to 15 bytes,
 * not "." or "..", no '/', ':' or white space. It also keeps the sysfs
 * paths below inside /sys/class/net.
 */
static bool valid_ifname(const char *name)
{
	size_t len = strnlen(name, TAP_NAME_MAX + 1);
	if (len == 0 || len > TAP_NAME_MAX || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (size_t i = 0; i < len; i++)
		if (name[i] == '/' || name[i] == ':' || name[i] == ' ' ||
		    (name[i] >= '\t' && name[i] <= '\r'))
			return false;
	return true;
}

/* Reads the number in /sys/class/net/NAME/ATTR. 0 or -errno. */
static int read_sysfs_number(const char *name, const char *attr, int base, uint64_t *val)
{
	char path[128], text[32];
	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", name, attr);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, text, sizeof(text) - 1);
	int err = n < 0 ? -errno : 0;
	close(fd);
	if (n <= 0)
		return n < 0 ? err : -EIO;
	text[n] = '\0';
	char *end;
	errno = 0;
	*val = strtoull(text, &end, base);
	return errno || end == text ? -EIO : 0;
}

/*
 * The interface's IFF_* flags, from tun_flags: an attribute only TUN/TAP
 * interfaces have (drivers/net/tun.c, tun_flags_show). -1 when unreadable.
 */
static long tun_flags_of(const char *name)
{
	uint64_t flags;
	return read_sysfs_number(name, "tun_flags", 16, &flags) < 0 ? -1 : (long)flags;
}

static const char *no_interface(unsigned queues)
{
	return queues > 1 ? "no such network interface (create it with: "
			    "ip tuntap add dev NAME mode tap multi_queue)"
			  : "no such network interface (create it with: ip tuntap add dev NAME mode tap)";
}

static int open_tun_device(int *fd, const char **why)
{
	*fd = open(TUN_DEVICE, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (*fd >= 0)
		return 0;
	int err = errno;
	switch (err) {
	case ENOENT:
	case ENODEV:
	case ENXIO:
		return fail_why(why, "the host has no " TUN_DEVICE " (load the tun module)", -err);
	case EACCES:
	case EPERM:
		return fail_why(why, "permission denied on " TUN_DEVICE, -err);
	}
	return fail_why(why, "cannot open " TUN_DEVICE, -err);
}

/* TUNGETFEATURES: the IFF_* flags this host's tun driver accepts. */
static int check_tun_features(int fd, bool multi_queue, const char **why)
{
	unsigned features = 0;
	if (ioctl_retry(fd, TUNGETFEATURES, &features) < 0 || !(features & IFF_VNET_HDR))
		return fail_why(why, "the host's TUN/TAP driver has no virtio-net headers (IFF_VNET_HDR)",
			    -EOPNOTSUPP);
	if (multi_queue && !(features & IFF_MULTI_QUEUE))
		return fail_why(why, "the host's TUN/TAP driver has no multi-queue support (IFF_MULTI_QUEUE)",
			    -EOPNOTSUPP);
	return 0;
}

/* EINVAL from TUNSETIFF on an existing interface: tun_flags says which mismatch. */
static const char *explain_invalid(const char *name, bool multi_queue)
{
	long flags = tun_flags_of(name);
	if (flags < 0)
		return "is not a TAP interface";
	if (!(flags & IFF_TAP))
		return "is a TUN interface, not a TAP interface (create it with: "
		       "ip tuntap add dev NAME mode tap)";
	if (multi_queue && !(flags & IFF_MULTI_QUEUE))
		return "was created without multi_queue, which more than one queue needs "
		       "(create it with: ip tuntap add dev NAME mode tap multi_queue)";
	return "is not a TAP interface, or was created without multi_queue";
}

static int attach_queue(int fd, const char *name, short flags, const char **why)
{
	struct ifreq ifr = { .ifr_flags = flags };
	memcpy(ifr.ifr_name, name, strlen(name));
	int ret = ioctl_retry(fd, TUNSETIFF, &ifr);
	switch (ret) {
	case 0:
		return 0;
	case -EINVAL:
		return fail_why(why, explain_invalid(name, flags & IFF_MULTI_QUEUE), ret);
	case -EBUSY:
		return fail_why(why, "is in use by another program", ret);
	case -EPERM:
	case -EACCES:
		return fail_why(why, "permission denied (needs CAP_NET_ADMIN or the interface's owner)", ret);
	}
	return fail_why(why, "the kernel refused to attach a queue to it (TUNSETIFF)", ret);
}

/* The header before each frame: struct virtio_net_hdr with num_buffers. */
static int set_vnet_hdr_len(int fd, const char **why)
{
	int len = TAP_VNET_HDR_LEN;
	int ret = ioctl_retry(fd, TUNSETVNETHDRSZ, &len);
	return ret < 0 ? fail_why(why, "cannot set the virtio-net header size (TUNSETVNETHDRSZ)", ret) : 0;
}

/* One more queue: a new /dev/net/tun file attached to the interface. */
static int open_queue(struct tap *t, short flags, const char **why)
{
	int fd;
	int ret = open_tun_device(&fd, why);
	if (ret < 0)
		return ret;
	t->fds[t->nr_queues++] = fd;
	if (t->nr_queues == 1)
		ret = check_tun_features(fd, flags & IFF_MULTI_QUEUE, why);
	if (ret == 0)
		ret = attach_queue(fd, t->name, flags, why);
	if (ret == 0)
		ret = set_vnet_hdr_len(fd, why);
	return ret;
}

/*
 * TUNSETIFF must repeat the interface's IFF_MULTI_QUEUE (tun_set_iff), so
 * a multi_queue interface takes it even for one queue.
 */
static short queue_flags(const char *name, unsigned queues)
{
	short flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	long existing = tun_flags_of(name);
	if (queues > 1 || (existing >= 0 && (existing & IFF_MULTI_QUEUE)))
		flags |= IFF_MULTI_QUEUE;
	return flags;
}

static void tap_reset(struct tap *t)
{
	for (unsigned i = 0; i < TAP_MAX_QUEUES; i++)
		t->fds[i] = -1;
	t->nr_queues = 0;
	t->multi_queue = false;
}

int tap_open(struct tap *t, const char *name, unsigned queues, const char **why)
{
	memset(t->name, 0, sizeof(t->name));
	tap_reset(t);
	if (queues < 1 || queues > TAP_MAX_QUEUES)
		return fail_why(why, "the number of queues must be between 1 and 16", -EINVAL);
	if (strnlen(name, TAP_NAME_MAX + 1) > TAP_NAME_MAX)
		return fail_why(why, "the interface name is longer than 15 bytes", -EINVAL);
	if (!valid_ifname(name))
		return fail_why(why, "is not a valid interface name", -EINVAL);
	/* TUNSETIFF would create a missing interface; vmon only uses existing ones. */
	if (if_nametoindex(name) == 0)
		return fail_why(why, no_interface(queues), -ENODEV);
	memcpy(t->name, name, strlen(name));

	short flags = queue_flags(name, queues);
	t->multi_queue = flags & IFF_MULTI_QUEUE;
	int ret = 0;
	while (ret == 0 && t->nr_queues < queues)
		ret = open_queue(t, flags, why);
	/* No offloads until the driver negotiates them (tap_set_offloads). */
	if (ret == 0 && (ret = tap_set_offloads(t, 0)) < 0)
		fail_why(why, "cannot turn the interface's offloads off (TUNSETOFFLOAD)", ret);
	if (ret < 0)
		tap_close(t);
	return ret;
}

void tap_close(struct tap *t)
{
	for (unsigned i = 0; i < t->nr_queues && i < TAP_MAX_QUEUES; i++)
		if (t->fds[i] >= 0)
			close(t->fds[i]);
	tap_reset(t);
}

/* The setting belongs to the interface, not to a queue: one file suffices. */
int tap_set_offloads(const struct tap *t, unsigned tun_flags)
{
	return ioctl_retry(t->fds[0], TUNSETOFFLOAD, (void *)(uintptr_t)tun_flags);
}

/*
 * tun_set_queue() answers EINVAL when the queue is already in the asked
 * state (or the interface is gone): that counts as done, so that callers
 * may set every queue's state without remembering the old one.
 */
int tap_set_queue_enabled(const struct tap *t, unsigned i, bool enabled)
{
	if (i >= t->nr_queues)
		return -EINVAL;
	if (!t->multi_queue)
		return 0;
	struct ifreq ifr = { .ifr_flags = enabled ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE };
	int ret = ioctl_retry(t->fds[i], TUNSETQUEUE, &ifr);
	return ret == -EINVAL ? 0 : ret;
}

int tap_read_stats(const char *name, struct tap_stats *st)
{
	static const struct {
		const char *attr;
		size_t offset;
	} counters[] = {
		{ "statistics/rx_packets", offsetof(struct tap_stats, rx_packets) },
		{ "statistics/rx_bytes", offsetof(struct tap_stats, rx_bytes) },
		{ "statistics/rx_dropped", offsetof(struct tap_stats, rx_dropped) },
		{ "statistics/tx_packets", offsetof(struct tap_stats, tx_packets) },
		{ "statistics/tx_bytes", offsetof(struct tap_stats, tx_bytes) },
		{ "statistics/tx_dropped", offsetof(struct tap_stats, tx_dropped) },
	};
	if (!valid_ifname(name))
		return -EINVAL;
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		uint64_t *field = (uint64_t *)((char *)st + counters[i].offset);
		int ret = read_sysfs_number(name, counters[i].attr, 10, field);
		if (ret < 0)
			return ret;
	}
	return 0;
}
