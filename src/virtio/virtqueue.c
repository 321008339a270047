#include "virtio/virtqueue.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "virtio/virtio.h"

/*
 * The split ring's parts as they lie in guest memory (§2.7.5, §2.7.6,
 * §2.7.8), every field little-endian.
 */
struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
_Static_assert(sizeof(struct desc) == 16, "a descriptor is 16 bytes");

struct avail_ring {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* Queue Size entries, then used_event */
};

struct used_elem {
	uint32_t id;
	uint32_t len;
};

struct used_ring {
	uint16_t flags;
	uint16_t idx;
	struct used_elem ring[]; /* Queue Size entries, then avail_event */
};

/* The largest power of 2 a uint16_t holds: a valid size needs no upper check. */
_Static_assert(VIRTQ_MAX_SIZE == 32768, "Queue Size is a power of 2 in 16 bits");

/*
 * An indirect table holds at most as many descriptors as the largest queue:
 * a driver never builds a chain longer than its queue (§2.7.5.3.1).
 */
#define MAX_INDIRECT_LEN (VIRTQ_MAX_SIZE * sizeof(struct desc))

/* Drivers MUST NOT add a chain longer than 2^32 bytes in total (§2.7.5.2). */
#define MAX_CHAIN_BYTES (1ull << 32)

/*
 * Ring words are shared with the driver: each is read or written once, with
 * one atomic access (aligned: see map_area).
 */
static uint16_t load16(const uint16_t *p)
{
	return le16toh(__atomic_load_n(p, __ATOMIC_RELAXED));
}

static void store16(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, htole16(v), __ATOMIC_RELAXED);
}

static void store32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, htole32(v), __ATOMIC_RELAXED);
}

/*
 * Host views of the three parts, looked up and checked anew by every call.
 * The rings as checked, with the size they were checked for: every index
 * uses this copy, never vq->size again, which a transport could change
 * under a worker (e.g. a guest rewriting QueueNum).
 */
struct rings {
	const uint8_t *desc;
	struct avail_ring *avail;
	struct used_ring *used;
	uint16_t size;
};

/*
 * [addr, addr + len) of the device's DMA space, at a multiple of `align`
 * (§2.7), permitted for `write` (or reading) and contiguous in host
 * memory. The host address must be aligned too, for the atomic accesses;
 * it is whenever the RAM mapping is (guest_mem maps it 2 MiB-aligned, and
 * an IOMMU moves whole pages).
 */
static void *map_area(const struct virtq *vq, uint64_t addr, uint64_t len,
		      uint64_t align, bool write)
{
	if (addr % align)
		return NULL;
	void *host = dma_ptr(&vq->dma, addr, len, write);
	if (!host || (uintptr_t)host % align)
		return NULL;
	return host;
}

/*
 * The three parts, checked by virtq_init and again by every call: a
 * transport that changed a ring without virtq_init gets errors, not stray
 * accesses.
 */
static bool map_rings(const struct virtq *vq, struct rings *r)
{
	uint64_t n = vq->size;
	if (!vq->dma.mem || n == 0 || (n & (n - 1)))
		return false;
	r->size = (uint16_t)n;
	r->desc = map_area(vq, vq->desc_gpa, n * sizeof(struct desc), 16, false);
	r->avail = r->desc ? map_area(vq, vq->avail_gpa, 6 + 2 * n, 2, false) : NULL;
	r->used = r->avail ? map_area(vq, vq->used_gpa, 6 + 8 * n, 4, true) : NULL;
	return r->used;
}

/* The EVENT_IDX words after each ring (§2.7.6, §2.7.8), inside the checked areas. */
static uint16_t *used_event(const struct rings *r)
{
	return &r->avail->ring[r->size];
}

static uint16_t *avail_event(const struct rings *r)
{
	return (uint16_t *)&r->used->ring[r->size];
}

int virtq_init(struct virtq *vq)
{
	vq->last_avail = 0;
	vq->used_idx = 0;
	vq->signalled_used = 0;
	vq->signalled_used_valid = false;

	struct rings r;
	return map_rings(vq, &r) ? 0 : -EINVAL;
}

/* A descriptor table: the queue's own, or an indirect one. */
struct desc_table {
	const uint8_t *host;
	uint32_t entries;
	bool indirect;
};

/* The state of one chain walk. */
struct chain_walk {
	const struct virtq *vq;
	struct virtq_chain *chain;
	unsigned descs;     /* buffer descriptors so far, empty ones included */
	bool writable_seen;
	uint64_t bytes;     /* the buffers' lengths, left out ones included */
	struct dma_seg *segs; /* room for VIRTQ_MAX_BUFS pieces of one buffer */
};

/*
 * Copy, then validate: the copy is the only read of the descriptor, which
 * the driver (another vCPU) may be rewriting meanwhile. The compiler
 * barrier keeps the compiler from reading guest memory again instead.
 */
static struct desc copy_desc(const struct desc_table *t, uint32_t i)
{
	struct desc d;
	memcpy(&d, t->host + (size_t)i * sizeof(d), sizeof(d));
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return (struct desc){
		.addr = le64toh(d.addr), .len = le32toh(d.len),
		.flags = le16toh(d.flags), .next = le16toh(d.next),
	};
}

/*
 * A buffer the device may not use: refused by the IOMMU (which recorded
 * the fault; §6.1: the device accesses memory only as the platform
 * permits), or in more pieces than bufs has room for. Left out.
 */
static void leave_out(struct chain_walk *w)
{
	w->chain->dma_fault = true;
	w->chain->end_left_out = true;
}

/* Lists the n pieces of one buffer. */
static void add_pieces(struct chain_walk *w, int n, bool writable)
{
	struct virtq_chain *c = w->chain;
	for (int i = 0; i < n; i++)
		c->bufs[c->count++] = (struct virtq_buf){
			.host = w->segs[i].host, .len = (uint32_t)w->segs[i].len,
			.device_writable = writable,
		};
	c->end_left_out = false;
}

/*
 * Appends one buffer, translated for the way the device uses it (writes
 * into device-writable ones). Device-readable buffers come first
 * (§2.7.4.2). An empty buffer carries no memory: it is checked for order
 * and counted against VIRTQ_MAX_CHAIN, but not listed, and its address is
 * not looked at. A buffer outside guest RAM breaks the ring.
 */
static int add_buf(struct chain_walk *w, const struct desc *d)
{
	struct virtq_chain *c = w->chain;
	bool writable = d->flags & VIRTQ_DESC_F_WRITE;

	if (w->descs == VIRTQ_MAX_CHAIN || (w->writable_seen && !writable))
		return -EINVAL;
	w->descs++;
	w->writable_seen |= writable;
	if (d->len == 0)
		return 0;
	w->bytes += d->len; /* the driver's limit (§2.7.5.2), on what it asked for */
	if (w->bytes > MAX_CHAIN_BYTES)
		return -EINVAL;

	int n = dma_map(&w->vq->dma, d->addr, d->len, writable, w->segs, VIRTQ_MAX_BUFS - c->count);
	if (n == -EFAULT || n == -ENOSPC) {
		leave_out(w);
		return 0;
	}
	if (n < 0)
		return -EINVAL;
	add_pieces(w, n, writable);
	if (writable)
		c->writable_len += d->len;
	else
		c->readable_len += d->len;
	return 0;
}

static int walk_indirect(struct chain_walk *w, const struct desc *d);

/*
 * Follows the chain from `first` through table `t`. Following more
 * descriptors than the table holds means a loop (§2.7.5.2); an indirect
 * descriptor ends the chain (§2.7.5.3.1: it never has NEXT).
 */
static int walk_table(struct chain_walk *w, const struct desc_table *t,
		      uint16_t first)
{
	uint32_t i = first;
	for (uint32_t n = 0; n < t->entries; n++) {
		struct desc d = copy_desc(t, i);
		if (d.flags & VIRTQ_DESC_F_INDIRECT)
			return t->indirect ? -EINVAL : walk_indirect(w, &d);
		int err = add_buf(w, &d);
		if (err || !(d.flags & VIRTQ_DESC_F_NEXT))
			return err;
		if (d.next >= t->entries)
			return -EINVAL;
		i = d.next;
	}
	return -EINVAL;
}

/*
 * A descriptor naming a table of len / 16 descriptors, whose chain starts
 * at index 0 (§2.7.5.3). Only with VIRTIO_F_INDIRECT_DESC, never with NEXT,
 * never nested (§2.7.5.3.1). Its WRITE flag is ignored (§2.7.5.3.2). The
 * table needs no alignment: descriptors are copied byte-wise.
 */
static int walk_indirect(struct chain_walk *w, const struct desc *d)
{
	if (!w->vq->indirect || (d->flags & VIRTQ_DESC_F_NEXT))
		return -EINVAL;
	if (d->len == 0 || d->len % sizeof(struct desc) || d->len > MAX_INDIRECT_LEN)
		return -EINVAL;
	const uint8_t *host = dma_ptr(&w->vq->dma, d->addr, d->len, false);
	if (!host)
		return -EINVAL; /* even a fault: the chain itself is unreadable */
	struct desc_table t = {
		.host = host, .entries = d->len / sizeof(struct desc), .indirect = true,
	};
	return walk_table(w, &t, 0);
}

/*
 * Live migration resends the pages vmon writes: a chain's device-writable
 * buffers count as written from the pop on, whatever the device then does.
 */
static void note_writable(const struct virtq *vq, const struct virtq_chain *chain)
{
	for (unsigned i = 0; i < chain->count; i++)
		if (chain->bufs[i].device_writable)
			guest_mem_note_write(vq->dma.mem, chain->bufs[i].host, chain->bufs[i].len);
}

int virtq_pop(struct virtq *vq, struct virtq_chain *chain)
{
	struct rings r;
	if (!map_rings(vq, &r))
		return -EINVAL;

	/* Acquire: the driver wrote ring entries and descriptors before idx (§2.7.13.3.1). */
	uint16_t avail_idx = le16toh(__atomic_load_n(&r.avail->idx, __ATOMIC_ACQUIRE));
	uint16_t pending = avail_idx - vq->last_avail;
	if (pending == 0)
		return 0;
	if (pending > r.size) /* at most Queue Size buffers are queued (§2.7) */
		return -EINVAL;

	uint16_t head = load16(&r.avail->ring[vq->last_avail & (r.size - 1)]);
	if (head >= r.size)
		return -EINVAL;

	chain->head = head;
	chain->count = 0;
	chain->readable_len = 0;
	chain->writable_len = 0;
	chain->dma_fault = chain->end_left_out = false;
	struct dma_seg segs[VIRTQ_MAX_BUFS];
	struct chain_walk w = { .vq = vq, .chain = chain, .segs = segs };
	struct desc_table t = { .host = r.desc, .entries = r.size };
	int err = walk_table(&w, &t, head);
	if (err)
		return err;
	note_writable(vq, chain);
	vq->last_avail++;
	return 1;
}

/* For live migration: the n used elements from `first` on (they may wrap) and used idx. */
static void note_used(const struct virtq *vq, const struct rings *r, uint16_t first, unsigned n)
{
	unsigned start = first & (r->size - 1u);
	unsigned before_wrap = n < r->size - start ? n : r->size - start;
	guest_mem_note_write(vq->dma.mem, &r->used->ring[start], before_wrap * sizeof(struct used_elem));
	guest_mem_note_write(vq->dma.mem, &r->used->ring[0], (n - before_wrap) * sizeof(struct used_elem));
	guest_mem_note_write(vq->dma.mem, &r->used->idx, sizeof(r->used->idx));
}

int virtq_push_many(struct virtq *vq, const struct virtq_used *elems, unsigned n)
{
	struct rings r;
	if (!map_rings(vq, &r) || n > r.size)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (elems[i].head >= r.size)
			return -EINVAL;

	for (unsigned i = 0; i < n; i++) {
		struct used_elem *e = &r.used->ring[(uint16_t)(vq->used_idx + i) & (r.size - 1)];
		store32(&e->id, elems[i].head);
		store32(&e->len, elems[i].len);
	}
	note_used(vq, &r, vq->used_idx, n);
	vq->used_idx += (uint16_t)n;
	/* The elements, len included, before the idx that publishes them (§2.7.8.2). */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	store16(&r.used->idx, vq->used_idx);
	return 0;
}

int virtq_push(struct virtq *vq, uint16_t head, uint32_t written)
{
	struct virtq_used e = { .head = head, .len = written };
	return virtq_push_many(vq, &e, 1);
}

void virtq_unpop(struct virtq *vq, uint16_t n)
{
	vq->last_avail -= n;
}

/*
 * Whether the entries written since the last check, old .. new - 1, include
 * the one the driver asked to hear about (§2.7.7.2), in 16-bit arithmetic.
 */
static bool wrote_used_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

bool virtq_should_notify(struct virtq *vq)
{
	struct rings r;
	if (!map_rings(vq, &r))
		return true; /* the driver copes with spurious notifications (§2.7.7.1) */

	/*
	 * Our used idx must be visible before we read the driver's wishes, as
	 * its wishes are written before it reads used idx again: otherwise
	 * each side can miss the other's update and the interrupt is lost.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t old = vq->signalled_used;
	bool old_valid = vq->signalled_used_valid;
	vq->signalled_used = vq->used_idx;
	vq->signalled_used_valid = true;

	if (!vq->event_idx)
		return !(load16(&r.avail->flags) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	if (!old_valid)
		return true;
	return wrote_used_event(load16(used_event(&r)), vq->used_idx, old);
}

void virtq_publish_avail_event(struct virtq *vq)
{
	struct rings r;
	if (!vq->event_idx || !map_rings(vq, &r))
		return;
	/*
	 * The driver's avail idx, not last_avail: a device waiting for more
	 * buffers than the ring holds has seen (or put back) chains past
	 * last_avail, and a driver notifies only when it moves avail idx past
	 * avail_event, so an event it has already passed would never come.
	 */
	store16(avail_event(&r), load16(&r.avail->idx));
	guest_mem_note_write(vq->dma.mem, avail_event(&r), sizeof(uint16_t));
	/*
	 * avail_event before the caller reads avail idx again: a driver that
	 * still saw the old value and skipped its notification has then
	 * published a buffer we will see (§2.7.10).
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}
