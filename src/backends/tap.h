/*
 * A host TAP interface as a network backend: one file descriptor per queue
 * pair, each opened with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR (and
 * IFF_MULTI_QUEUE for more than one), non-blocking, carrying frames
 * preceded by a 12-byte virtio-net header (TUNSETVNETHDRSZ): the same
 * struct virtio_net_hdr a virtio 1.x driver uses (virtio 1.2 §5.1.6).
 *
 * The interface must already exist (e.g. `ip tuntap add dev tap0 mode tap`,
 * with `multi_queue` for more than one queue); vmon never creates one.
 */
#ifndef VMON_BACKENDS_TAP_H
#define VMON_BACKENDS_TAP_H

#include <stdbool.h>
#include <stdint.h>

#define TAP_MAX_QUEUES 16
#define TAP_NAME_MAX   15   /* IFNAMSIZ less the NUL */
#define TAP_VNET_HDR_LEN 12 /* struct virtio_net_hdr with num_buffers */

struct tap {
	char name[TAP_NAME_MAX + 1];
	unsigned nr_queues;
	int fds[TAP_MAX_QUEUES];
	bool multi_queue;      /* a multi_queue interface: its queues can be detached */
};

/*
 * Opens `queues` (1..TAP_MAX_QUEUES) queues of the existing TAP interface
 * `name`. 0, or -errno with *why a sentence for the user (the caller adds
 * the name): no such interface, not a TAP, busy, no multi_queue, no
 * permission, no vnet header support.
 */
int tap_open(struct tap *t, const char *name, unsigned queues, const char **why);
void tap_close(struct tap *t);

/* TUN_F_* offloads (linux/if_tun.h) the guest can take (TUNSETOFFLOAD). 0 or -errno. */
int tap_set_offloads(const struct tap *t, unsigned tun_flags);

/*
 * Attaches (enabled) or detaches queue i (TUNSETQUEUE): the kernel steers
 * frames only to attached queues. An interface made without multi_queue
 * has one queue, always attached: 0 without a change. 0 or -errno.
 */
int tap_set_queue_enabled(const struct tap *t, unsigned i, bool enabled);

/* The interface's counters from /sys/class/net/NAME/statistics, host's view. */
struct tap_stats {
	uint64_t rx_packets, rx_bytes, rx_dropped; /* frames the guest sent */
	uint64_t tx_packets, tx_bytes, tx_dropped; /* frames sent to the guest */
};
int tap_read_stats(const char *name, struct tap_stats *st);

#endif
