/*
 * Split virtqueues (virtio 1.2 §2.7), device side, over guest RAM.
 *
 * Everything the driver put in guest memory is copied before it is
 * checked, and checked before it is used: descriptor indices, lengths and
 * addresses (every buffer must lie wholly in guest RAM), chain length
 * (at most the size of the table it runs through, so loops end), indirect
 * tables (a multiple of 16 bytes, no nesting, only when negotiated). A
 * queue that breaks the rules makes virtq_pop fail; the device then sets
 * DEVICE_NEEDS_RESET.
 *
 * The buffers themselves stay in guest memory, which the driver can change
 * at any time: a device copies a request header out before checking it.
 *
 * One thread at a time per queue (the device's); the driver writes the
 * rings concurrently, and the ring accesses are ordered for that.
 */
#ifndef VMON_VIRTIO_VIRTQUEUE_H
#define VMON_VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/guest_mem.h"

#define VIRTQ_MAX_SIZE 32768 /* virtio 1.2 §2.7: Queue Size is at most 32768 */

/*
 * One descriptor's buffer, already translated: host memory inside guest RAM,
 * never empty. Zero-length descriptors are allowed but carry no memory: they
 * count against VIRTQ_MAX_CHAIN and must keep readable-before-writable
 * order, but get no entry here.
 */
struct virtq_buf {
	uint8_t *host;
	uint32_t len;
	bool device_writable;
};

/*
 * At most this many buffer descriptors per chain, empty ones included (a
 * descriptor naming an indirect table is not one); longer chains are
 * refused, as are chains over 2^32 bytes in total (§2.7.5.2).
 */
#define VIRTQ_MAX_CHAIN 1024

struct virtq_chain {
	uint16_t head;        /* for virtq_push */
	unsigned count;
	uint64_t readable_len; /* sum of device-readable buffer lengths */
	uint64_t writable_len; /* sum of device-writable buffer lengths */
	struct virtq_buf bufs[VIRTQ_MAX_CHAIN]; /* readable ones first (§2.7.4.2) */
};

struct virtq {
	/* Set by the transport from the driver's configuration. */
	const struct guest_mem *mem;
	uint16_t size;        /* a power of 2, 1..VIRTQ_MAX_SIZE */
	uint64_t desc_gpa;
	uint64_t avail_gpa;
	uint64_t used_gpa;
	bool event_idx;       /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;        /* VIRTIO_F_INDIRECT_DESC negotiated */

	/* Device state. */
	uint16_t last_avail;  /* next avail ring entry to take */
	uint16_t used_idx;    /* the used ring index we publish */
	uint16_t signalled_used; /* used_idx at the last interrupt we sent */
	bool signalled_used_valid;
};

/*
 * Checks the ring addresses and size the driver set (alignment §2.7, all
 * three areas in guest RAM) and resets the device state. 0 or -EINVAL.
 */
int virtq_init(struct virtq *vq);

/*
 * Takes the next available chain. Returns 1 with *chain filled, 0 when
 * nothing is available, -EINVAL when the driver broke the rules (the
 * queue is then unusable until reset, and *chain holds nothing usable).
 * The whole chain is checked before anything is taken.
 */
int virtq_pop(struct virtq *vq, struct virtq_chain *chain);

/* Returns chain `head` to the driver with `written` bytes written. 0 or -EINVAL. */
int virtq_push(struct virtq *vq, uint16_t head, uint32_t written);

/* One used ring entry: a chain's head and the bytes written into it. */
struct virtq_used {
	uint16_t head;
	uint32_t len;
};

/*
 * Returns n chains at once: all their used entries become visible to the
 * driver together, with one used idx update (what a driver needs for a
 * packet spread over several chains, virtio 1.2 §5.1.6.4). 0 or -EINVAL
 * (nothing returned).
 */
int virtq_push_many(struct virtq *vq, const struct virtq_used *elems, unsigned n);

/*
 * Puts back the last n chains popped and not pushed: the next pops take
 * them again. The driver never saw them go, so this is invisible to it.
 */
void virtq_unpop(struct virtq *vq, uint16_t n);

/*
 * Whether the driver wants an interrupt for what was pushed since the last
 * one (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX, §2.7.7.2,
 * §2.7.10). Call once after a batch of pushes; it records the interrupt.
 */
bool virtq_should_notify(struct virtq *vq);

/*
 * With EVENT_IDX: publishes avail_event = the driver's avail idx, so the
 * driver notifies us when it adds past what it has made available so far
 * (§2.7.10), whether or not we took all of that. Call before checking for
 * more work a last time.
 */
void virtq_publish_avail_event(struct virtq *vq);

#endif
