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
 * Every address the driver gives is one of the device's DMA addresses
 * (vmm/dma.h): guest-physical, or an I/O virtual address its IOMMU
 * translates. The rings and indirect tables must translate to one
 * host-contiguous, permitted area each, or the queue is broken as above.
 * A buffer the IOMMU refuses (virtio 1.2 §6.1, VIRTIO_F_ACCESS_PLATFORM)
 * is not the driver breaking the ring: its chain is taken with dma_fault
 * set, and the device answers that request with an error.
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

#include "vmm/dma.h"

#define VIRTQ_MAX_SIZE 32768 /* virtio 1.2 §2.7: Queue Size is at most 32768 */

/*
 * A descriptor's buffer, or one piece of it, already translated: host
 * memory inside guest RAM, never empty. A buffer whose translation is not
 * contiguous in host memory (through an IOMMU) takes one entry per
 * piece, in order. Zero-length descriptors are allowed but carry no
 * memory: they count against VIRTQ_MAX_CHAIN and must keep
 * readable-before-writable order, but get no entry here.
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
/*
 * Entries of bufs: without an IOMMU every buffer is one, so a chain never
 * needs more than VIRTQ_MAX_CHAIN. Through an IOMMU a buffer may split
 * into pieces (a driver that maps each physically contiguous segment once
 * needs about as many as it has segments); a chain needing more than
 * this is taken as if the IOMMU had refused the buffers that do not fit
 * (dma_fault): that request fails, the queue goes on.
 */
#define VIRTQ_MAX_BUFS (2 * VIRTQ_MAX_CHAIN)

struct virtq_chain {
	uint16_t head;        /* for virtq_push */
	unsigned count;
	uint64_t readable_len; /* sum of the device-readable entries' lengths */
	uint64_t writable_len; /* sum of the device-writable entries' lengths */
	/*
	 * Some buffer was left out of bufs: the IOMMU refused it (and
	 * recorded the fault), or it did not fit (VIRTQ_MAX_BUFS). Offsets
	 * into the chain then no longer mean what the driver meant: the
	 * device moves no data and answers with an error where it can
	 * (e.g. virtio-blk's status byte), else returns the chain with
	 * length 0. end_left_out: the chain's last non-empty buffer is one of
	 * them, so the last entry of bufs does not end the chain.
	 */
	bool dma_fault;
	bool end_left_out;
	struct virtq_buf bufs[VIRTQ_MAX_BUFS]; /* readable ones first (§2.7.4.2) */
};

struct virtq {
	/* Set by the transport from the driver's configuration. */
	struct dma_space dma; /* what the ring addresses mean: the device's DMA space */
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
 * three areas in guest RAM, each host-contiguous and permitted: the
 * descriptor table and the avail ring for reading, the used ring for
 * writing) and resets the device state. 0 or -EINVAL.
 */
int virtq_init(struct virtq *vq);

/*
 * Takes the next available chain. Returns 1 with *chain filled, 0 when
 * nothing is available, -EINVAL when the driver broke the rules (the
 * queue is then unusable until reset, and *chain holds nothing usable).
 * The whole chain is checked before anything is taken. A chain whose
 * buffers the IOMMU refused is taken too (1), with dma_fault set.
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
