/*
 * virtio-net (virtio 1.2 §5.1) on a TAP interface (backends/tap.h).
 *
 * Queues: receiveq1, transmitq1, ..., receiveqN, transmitqN, controlq
 * (§5.1.2), N = cfg->queue_pairs; F_MQ is offered when N > 1, and each
 * pair has its own TAP queue. A driver without MQ uses one pair, and its
 * controlq is queue 2. Offered besides: checksum and TCP
 * segmentation offloads both ways (passed to the TAP, which takes the same
 * header), mergeable receive buffers, the MAC, link status and the MTU
 * of the TAP.
 *
 * Two data paths:
 *  - vhost-net (net_vhost.c over hv/vhost.h): the host kernel moves frames between the rings
 *    and the TAP; vmon only sets it up at DRIVER_OK and tears it down at
 *    reset. Its interrupts go straight to KVM when the transport has an
 *    irqfd for the queue's vector, else through an eventfd vmon relays.
 *  - vmon's own, on the device's worker thread (virtio/worker.h): transmit
 *    when the driver kicks a transmitq (each chain's header checked, the
 *    frame written with one writev from guest memory); receive when a TAP
 *    queue is readable (one read into a frame buffer, copied into as many
 *    receive chains as it needs, all returned at once). Without receive
 *    buffers the TAP queue is paused until the driver adds some.
 * The controlq is always vmon's: VQ_PAIRS_SET attaches the TAP queues the
 * driver uses (§5.1.6.5.5); other commands are answered VIRTIO_NET_ERR.
 * A device behind an IOMMU (virtio_device_set_iommu) is served by vmon's
 * path only: vhost-net would take the driver's I/O virtual addresses for
 * guest-physical ones (vmon does not program its device IOTLB). Such a
 * device leaves vhost-net at its next start, and virtio_net_select_path
 * will not put it back; a machine with an IOMMU best opens no vhost-net
 * at all (NET_VHOST_OFF).
 *
 * Snapshots and migration (virtio_device_quiesce): quiesce stops the
 * worker and, on vhost-net, takes the rings back with the indices the
 * kernel reached, so that vd->queues holds the whole ring state; a frame
 * read from the TAP and not yet delivered is dropped (counted), as a
 * network may drop it. Unquiesce serves again from vd->queues on the
 * current path. While quiesced, virtio_net_select_path moves the device
 * between vhost-net and vmon's path: live migration moves it to vmon's,
 * whose writes to guest memory vmon tracks (vhost-net's are not in KVM's
 * dirty log), and back if the migration fails.
 *
 * Bad input never stops the device: a malformed transmit chain, a header
 * asking for an offload that was not negotiated, a frame over the MTU (on
 * vmon's path; vhost-net leaves that to the TAP) or the receive buffers,
 * a buffer the IOMMU refuses: the frame is dropped, counted and logged
 * once (the receive chains taken for it go back unused, length 0). A TAP that goes away sets
 * the link down (a configuration change) and later frames are dropped.
 * Only a ring that breaks the virtqueue rules, or a receive chain with no
 * room for the header, sets NEEDS_RESET; the device then serves nothing
 * (and reads no TAP queue) until the driver resets it.
 *
 * A transport wraps net->vd, e.g. virtio_pci_init(&vp, &net->vd, 0x020000, vm).
 */
#ifndef VMON_DEVICES_VIRTIO_NET_H
#define VMON_DEVICES_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "backends/tap.h"
#include "hv/vhost.h"
#include "virtio/device.h"
#include "virtio/worker.h"

#define VIRTIO_NET_MAX_PAIRS  8
#define VIRTIO_NET_QUEUE_SIZE 256
#define VIRTIO_NET_CONFIG_LEN 12 /* mac, status, max_virtqueue_pairs, mtu (§5.1.4) */
#define VIRTIO_NET_COMPLAINTS 8  /* kinds of dropped frames (net.c's complain) */

enum net_vhost_mode {
	NET_VHOST_AUTO, /* vhost-net when the host has it, else vmon's data path */
	NET_VHOST_ON,   /* vhost-net or an error */
	NET_VHOST_OFF,  /* vmon's data path */
};

struct virtio_net_config {
	const char *tap;        /* TAP interface name */
	uint8_t mac[6];
	unsigned queue_pairs;   /* 1..VIRTIO_NET_MAX_PAIRS (0: 1) */
	enum net_vhost_mode vhost;
};

/* The guest's view: rx is what it received. */
struct net_counters {
	uint64_t rx_packets, rx_bytes, rx_drops;
	uint64_t tx_packets, tx_bytes, tx_drops;
};

struct virtio_net;

/* One queue pair's state; everything here belongs to the worker thread. */
struct net_pair {
	struct virtio_net *net;
	unsigned index;
	int fd;                   /* the TAP queue (or a test's socket) */
	bool rx_paused;           /* fd out of the worker's set: no receive buffers */
	size_t rx_len;            /* a frame (header included) waiting in rx_frame, or 0 */
	uint8_t *rx_frame;        /* VIRTIO_NET_HDR_LEN + NET_MAX_GSO_FRAME bytes */
	struct virtq_chain *chain;       /* scratch for the chain being served */
	struct virtq_chain *first_chain; /* a receive frame's first chain (mergeable) */
	struct vhost_net vhost;   /* fd -1 unless vhost-net was opened */
	bool vhost_owns_rings;    /* vhost-net may serve the rings: from its start to its stop */
	struct net_relay {        /* vhost's call eventfd for a queue vmon raises itself */
		struct virtio_net *net;
		unsigned queue;
		int fd;               /* -1: vhost signals the transport's irqfd */
	} relays[2];              /* rx, tx */
	struct net_counters counters; /* written here only; others read them relaxed (net_count) */
};

struct virtio_net {
	struct virtio_device vd;
	struct virtio_worker worker;
	struct tap tap;
	bool is_tap;              /* false in tests: pair fds are sockets */
	bool vhost;               /* the data path is vhost-net's (virtio_net_select_path) */
	bool link_up;             /* under vd.lock */
	bool backend_gone;        /* the TAP failed for good; worker thread only */
	bool broken;              /* the driver broke a ring: serve nothing until reset; worker thread only */
	uint16_t mtu;
	unsigned nr_pairs;
	struct net_pair pairs[VIRTIO_NET_MAX_PAIRS];
	struct tap_stats tap_baseline; /* the TAP's counters when vmon opened it */
	/* Why frames were dropped so far, each logged once; worker thread only. */
	const char *complaints[VIRTIO_NET_COMPLAINTS];
	unsigned nr_complaints;
	uint8_t mac[6];
	unsigned pairs_in_use;    /* VQ_PAIRS_SET (§5.1.6.5.5); 1 after reset; worker thread, or no worker */
	uint64_t ctrl_errors;     /* controlq commands answered VIRTIO_NET_ERR */
	/*
	 * What the other data path counted before virtio_net_select_path,
	 * less what this one had counted by then (wrapping): the counters go
	 * on from where they were. Relaxed atomics, like the pairs' counters.
	 */
	struct net_counters carried;
};

/*
 * Opens the TAP queues and, unless cfg->vhost is OFF, vhost-net. 0, or
 * -errno with *why a sentence for the user (the caller adds the name).
 */
int virtio_net_init(struct virtio_net *net, const struct virtio_net_config *cfg,
		    const struct guest_mem *mem, const char **why);

/*
 * Tests and fuzzers: a device on vmon's data path over caller-owned,
 * non-blocking packet sockets (SOCK_SEQPACKET or SOCK_DGRAM), one per
 * pair, which carry frames with their 12-byte header as a TAP queue does.
 * MTU 1500. End of file on one counts as the backend going away.
 */
int virtio_net_init_fds(struct virtio_net *net, const struct virtio_net_config *cfg,
			const struct guest_mem *mem, const int *fds);

/* Stops the data path and frees everything (closes the TAP, not test fds). */
void virtio_net_destroy(struct virtio_net *net);

/*
 * The worker's jobs, exposed for tests and fuzzers (one thread, worker not
 * running): serve `queue` after a kick; receive what pair's backend has.
 */
void virtio_net_serve(struct virtio_device *vd, unsigned queue);
void virtio_net_receive(struct net_pair *pair);

/*
 * The counters summed over the pairs (from the TAP's own on vhost-net),
 * continued across virtio_net_select_path. A read during the switch
 * itself may be off once: the next one is right again.
 */
void virtio_net_counters(const struct virtio_net *net, struct net_counters *out);

/*
 * Serves the queues through vhost-net (vhost true, if it was opened) or
 * through vmon's own path from the next unquiesce (or activation) on, and
 * until the next call; only while the device is quiesced or not
 * activated. The negotiated features hold on both: with vhost-net opened
 * the device offers only the ring features vhost-net has, and vmon's path
 * has every one it offers. 0; -ENOTSUP: vhost-net was not opened, or the
 * device is behind an IOMMU; -EBUSY: the device is serving.
 */
int virtio_net_select_path(struct virtio_net *net, bool vhost);

/*
 * Detaches every queue of a multi_queue TAP until the device next serves
 * (activation or unquiesce attach the pairs in use): a restored or
 * incoming VM's NIC takes no frames before it runs, and a quiesced one
 * leaves them to another vmon on the same TAP. A TAP without multi_queue
 * stays attached.
 */
void virtio_net_detach_backend(struct virtio_net *net);

/* A MAC for `name` that stays the same across runs: locally administered, unicast. */
void virtio_net_stable_mac(const char *name, uint8_t mac[6]);

#endif
