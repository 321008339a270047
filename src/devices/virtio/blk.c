/*
 * virtio-blk (virtio 1.2 §5.2) over backends/block_file.
 *
 * A request is one chain: the 16-byte header (copied out of the first
 * readable bytes, wherever the driver split them), data, and the status
 * byte, the chain's last writable byte. The header and the discard /
 * write-zeroes segment are copied into host memory before they are checked
 * (STYLE.md "Copy, then validate"); data moves between the image and guest
 * buffers that virtq_pop has already checked to lie in guest RAM.
 *
 * Requests that need the image go to the queue's io_uring; the rest (GET_ID,
 * errors) complete at once. A request is answered (status byte, used ring)
 * only when it is complete, and each batch of answers ends with at most one
 * interrupt.
 *
 * A chain without a writable byte cannot be answered: it is given back
 * with len 0 and counted (bad_chains), the driver's request left without a
 * status. It is not treated as a broken ring (NEEDS_RESET), as the ring
 * itself is fine and the other requests can go on. Nor is a request whose
 * buffers the IOMMU refused: it fails with IOERR, or as a chain without a
 * status byte when the byte itself was refused.
 */
#include "devices/virtio/blk.h"

#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "backends/block_file.h"
#include "devices/virtio/blk_internal.h"
#include "migration/state.h"
#include "virtio/chain.h"
#include "virtio/virtio.h"

#define VIRTIO_ID_BLOCK 2

/* Feature bits (§5.2.3). */
#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_MQ           12
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status (§5.2.6). */
#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK           0
#define VIRTIO_BLK_S_IOERR        1
#define VIRTIO_BLK_S_UNSUPP       2
#define VIRTIO_BLK_WZ_FLAG_UNMAP  1

#define HEADER_SIZE  16 /* le32 type, le32 reserved, le64 sector */
#define SEGMENT_SIZE 16 /* le64 sector, le32 num_sectors, le32 flags */

/* Most sectors one discard or write-zeroes may cover: 2 GiB. */
#define MAX_DISCARD_SECTORS (1u << 22)

/* Config space offsets (§5.2.4). */
#define CFG_SEG_MAX           12
#define CFG_BLK_SIZE          20
#define CFG_NUM_QUEUES        34
#define CFG_MAX_DISCARD_SECT  36
#define CFG_MAX_DISCARD_SEG   40
#define CFG_DISCARD_ALIGN     44
#define CFG_MAX_WZ_SECT       48
#define CFG_MAX_WZ_SEG        52
#define CFG_WZ_MAY_UNMAP      56

struct blk_req {
	struct block_request br;      /* first: what the backend sees */
	struct virtio_blk_queue *q;
	struct blk_req *next;         /* on the free list */
	uint16_t head;
	uint8_t *status;              /* the chain's last writable byte, in guest RAM */
	uint32_t data_written;        /* bytes of data for the driver on success (IN) */
	uint8_t *bounce;              /* direct=on with unaligned guest buffers */
	size_t bounce_size;           /* bytes allocated for it */
	struct iovec bounce_iov;
	unsigned niov;
	struct iovec iov[VIRTIO_BLK_SEG_MAX]; /* the guest's data buffers */
};

static struct virtio_blk *to_blk(struct virtio_device *vd) { return vd->opaque; }

static void put_le16(uint8_t *p, uint16_t v) { v = htole16(v); memcpy(p, &v, 2); }
static void put_le32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }
static void put_le64(uint8_t *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); }
static uint32_t get_le32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }
static uint64_t get_le64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return le64toh(v); }

/* A counter has one writer, the serving thread, and readers anywhere: a relaxed store is enough. */
static void count(uint64_t *counter, uint64_t n)
{
	__atomic_store_n(counter, *counter + n, __ATOMIC_RELAXED);
}

/* --- answering --- */

static void req_free(struct virtio_blk_queue *q, struct blk_req *req)
{
	free(req->bounce);
	q->blk->bounce_bytes -= req->bounce_size;
	req->bounce = NULL;
	req->bounce_size = 0;
	req->next = q->free;
	q->free = req;
}

/* Answers the request: status byte, then the used ring (§5.2.6.1). */
static void req_finish(struct virtio_blk_queue *q, struct blk_req *req, uint8_t status)
{
	struct virtio_blk *blk = q->blk;
	uint32_t written = 1 + (status == VIRTIO_BLK_S_OK ? req->data_written : 0);
	if (status == VIRTIO_BLK_S_IOERR)
		count(&blk->io_errors, 1);
	else if (status == VIRTIO_BLK_S_UNSUPP)
		count(&blk->unsupported, 1);
	*req->status = status;
	virtq_push(&blk->vd.queues[q->index].vq, req->head, written);
	q->pushed = true;
	req_free(q, req);
}

static void complain(struct virtio_blk *blk, const char *what, uint64_t sector)
{
	if (log_limit_allow(&blk->log_limit))
		log_warn("virtio-blk: %s (sector %llu)", what, (unsigned long long)sector);
}

/* The backend finished a request. */
static void req_done(struct block_request *br, int result)
{
	struct blk_req *req = (struct blk_req *)((char *)br - offsetof(struct blk_req, br));
	struct virtio_blk_queue *q = req->q;
	struct virtio_blk *blk = q->blk;
	if (blk->forget) { /* a reset: the driver no longer owns this chain */
		req_free(q, req);
		return;
	}
	if (result < 0) {
		if (log_limit_allow(&blk->log_limit))
			log_warn("virtio-blk: I/O error at byte %llu: %s",
				 (unsigned long long)br->offset, strerror(-result));
		req_finish(q, req, VIRTIO_BLK_S_IOERR);
		return;
	}
	if (br->op == BLOCK_OP_READ) {
		if (req->bounce)
			iov_scatter(req->iov, req->niov, req->bounce, br->len);
		count(&blk->bytes_read, br->len);
	} else if (br->op == BLOCK_OP_WRITE) {
		count(&blk->bytes_written, br->len);
	}
	req_finish(q, req, VIRTIO_BLK_S_OK);
}

/* --- parsing --- */

/* Whether [sector, sector + bytes / 512) lies in the disk and is aligned for the backend. */
static bool range_ok(const struct virtio_blk *blk, uint64_t sector, uint64_t bytes)
{
	uint64_t per_block = blk->block_size / BLOCK_SECTOR_SIZE;
	return bytes % blk->block_size == 0 && sector % per_block == 0 &&
	       sector <= blk->capacity && bytes / BLOCK_SECTOR_SIZE <= blk->capacity - sector;
}

/*
 * Sets up the data iovecs of an IN or OUT request of `len` bytes at
 * chain offset `off`. VIRTIO_BLK_S_OK, or the status to answer with.
 */
static uint8_t setup_rw(struct virtio_blk *blk, struct blk_req *req, const struct virtq_chain *c,
			bool in, uint64_t sector, uint64_t off, uint64_t len)
{
	if (len % BLOCK_SECTOR_SIZE || !range_ok(blk, sector, len) || len > BLOCK_MAX_TRANSFER) {
		complain(blk, len % BLOCK_SECTOR_SIZE ? "data length is not a multiple of 512"
						      : "request outside the disk or misaligned", sector);
		return VIRTIO_BLK_S_IOERR;
	}
	int n = virtq_chain_slice(c, in, off, len, req->iov, VIRTIO_BLK_SEG_MAX);
	if (n < 0) {
		complain(blk, "more data segments than seg_max", sector);
		return VIRTIO_BLK_S_IOERR;
	}
	req->niov = (unsigned)n;
	req->br = (struct block_request){
		.op = in ? BLOCK_OP_READ : BLOCK_OP_WRITE,
		.offset = sector * BLOCK_SECTOR_SIZE, .len = len,
		.iov = req->iov, .iovcnt = req->niov, .done = req_done,
	};
	if (len && !block_file_iov_aligned(blk->file, req->iov, req->niov)) {
		/* direct=on: bounce through an aligned buffer of our own. */
		uint32_t align = block_file_mem_align(blk->file);
		size_t size = (len + align - 1) / align * align;
		if (len > VIRTIO_BLK_BOUNCE_MAX || blk->bounce_bytes + size > VIRTIO_BLK_BOUNCE_TOTAL_MAX) {
			complain(blk, "unaligned buffers too large (or too many) to bounce with direct=on", sector);
			return VIRTIO_BLK_S_IOERR;
		}
		req->bounce = aligned_alloc(align, size);
		if (!req->bounce) {
			complain(blk, "out of memory for a bounce buffer", sector);
			return VIRTIO_BLK_S_IOERR;
		}
		req->bounce_size = size;
		blk->bounce_bytes += size;
		if (!in)
			iov_gather(req->iov, req->niov, req->bounce);
		req->bounce_iov = (struct iovec){ .iov_base = req->bounce, .iov_len = (size_t)len };
		req->br.iov = &req->bounce_iov;
		req->br.iovcnt = 1;
	}
	if (in)
		req->data_written = (uint32_t)len;
	return VIRTIO_BLK_S_OK;
}

/* DISCARD and WRITE_ZEROES: one segment, copied out, then checked (§5.2.6.2). */
static uint8_t setup_zero(struct virtio_blk *blk, struct blk_req *req, const struct virtq_chain *c,
			  bool discard, uint64_t data_len)
{
	uint8_t seg[SEGMENT_SIZE];
	if (data_len != SEGMENT_SIZE) {
		complain(blk, data_len > SEGMENT_SIZE && data_len % SEGMENT_SIZE == 0
			      ? "more than one discard/write-zeroes segment"
			      : "bad discard/write-zeroes segment", 0);
		return data_len > SEGMENT_SIZE && data_len % SEGMENT_SIZE == 0 ? VIRTIO_BLK_S_UNSUPP
									       : VIRTIO_BLK_S_IOERR;
	}
	virtq_chain_read(c, HEADER_SIZE, seg, SEGMENT_SIZE);
	uint64_t sector = get_le64(seg);
	uint32_t num = get_le32(seg + 8), flags = get_le32(seg + 12);
	/* Unknown flags, and unmap on a discard, are not supported. */
	if (flags & ~(uint32_t)VIRTIO_BLK_WZ_FLAG_UNMAP || (discard && flags)) {
		complain(blk, "unsupported discard/write-zeroes flags", sector);
		return VIRTIO_BLK_S_UNSUPP;
	}
	uint64_t bytes = (uint64_t)num * BLOCK_SECTOR_SIZE;
	if (num > MAX_DISCARD_SECTORS || !range_ok(blk, sector, bytes)) {
		complain(blk, "discard/write-zeroes outside the disk or misaligned", sector);
		return VIRTIO_BLK_S_IOERR;
	}
	/* write_zeroes_may_unmap is 0: the unmap flag is a hint we may ignore. */
	req->br = (struct block_request){
		.op = discard ? BLOCK_OP_DISCARD : BLOCK_OP_WRITE_ZEROES,
		.offset = sector * BLOCK_SECTOR_SIZE, .len = bytes, .done = req_done,
	};
	return VIRTIO_BLK_S_OK;
}

/* GET_ID: the serial, NUL-padded, into as much of the 20 bytes as the driver gave. */
static void get_id(struct virtio_blk *blk, struct blk_req *req, const struct virtq_chain *c,
		   uint64_t data_len)
{
	uint64_t n = data_len < VIRTIO_BLK_SERIAL_LEN ? data_len : VIRTIO_BLK_SERIAL_LEN;
	struct iovec iov[VIRTIO_BLK_SERIAL_LEN]; /* each at least one byte */
	int k = virtq_chain_slice(c, true, 0, n, iov, VIRTIO_BLK_SERIAL_LEN);
	iov_scatter(iov, (unsigned)k, (const uint8_t *)blk->serial, n);
	req->data_written = (uint32_t)n;
}

/*
 * Parses the chain into req. Returns VIRTIO_BLK_S_OK with req->br ready
 * for the backend, or the status to answer with now (GET_ID: OK after
 * filling it in, with req->br.done NULL).
 */
static uint8_t parse(struct virtio_blk *blk, struct blk_req *req, const struct virtq_chain *c)
{
	uint8_t hdr[HEADER_SIZE];
	if (virtq_chain_read(c, 0, hdr, HEADER_SIZE) < HEADER_SIZE) {
		complain(blk, "request header shorter than 16 bytes", 0);
		return VIRTIO_BLK_S_IOERR;
	}
	uint32_t type = get_le32(hdr);
	uint64_t sector = get_le64(hdr + 8);
	uint64_t in_len = c->writable_len - 1;         /* writable data before the status */
	uint64_t out_len = c->readable_len - HEADER_SIZE; /* readable data after the header */

	switch (type) {
	case VIRTIO_BLK_T_IN:
		return setup_rw(blk, req, c, true, sector, 0, in_len);
	case VIRTIO_BLK_T_OUT:
		if (blk->readonly) {
			complain(blk, "write to a read-only disk", sector);
			return VIRTIO_BLK_S_IOERR;
		}
		return setup_rw(blk, req, c, false, sector, HEADER_SIZE, out_len);
	case VIRTIO_BLK_T_FLUSH:
		req->br = (struct block_request){ .op = BLOCK_OP_FLUSH, .done = req_done };
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID:
		get_id(blk, req, c, in_len);
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		if (blk->readonly) {
			complain(blk, "discard or write-zeroes on a read-only disk", sector);
			return VIRTIO_BLK_S_IOERR;
		}
		return setup_zero(blk, req, c, type == VIRTIO_BLK_T_DISCARD, out_len);
	default:
		if (log_limit_allow(&blk->log_limit))
			log_warn("virtio-blk: unsupported request type %u", type);
		return VIRTIO_BLK_S_UNSUPP;
	}
}

/*
 * The IOMMU refused some of the request's buffers (dma_fault): no data
 * moves, and the driver gets VIRTIO_BLK_S_IOERR (§5.2.6) in a status
 * byte it did map.
 */
static uint8_t dma_refused(struct virtio_blk *blk)
{
	complain(blk, "the IOMMU refused a request's buffer", 0);
	return VIRTIO_BLK_S_IOERR;
}

/* --- serving --- */

/* Submits req; false when the backend is full (req is kept as pending). */
static bool submit(struct virtio_blk_queue *q, struct blk_req *req)
{
	int ret = block_queue_submit(q->bq, &req->br);
	if (ret == -EBUSY) {
		q->pending = req;
		q->blocked = true;
		return false;
	}
	if (ret < 0) /* cannot happen: br and done are set */
		req_finish(q, req, VIRTIO_BLK_S_IOERR);
	return true;
}

/*
 * Submits the request that waited for a slot; false when it did not reach
 * the backend. Its range was checked against the capacity when it was
 * taken: check again, as the image may have been swapped for a smaller one
 * since (virtio_blk_replace_file).
 */
static bool submit_pending(struct virtio_blk_queue *q)
{
	struct blk_req *req = q->pending;
	q->pending = NULL;
	q->blocked = false;
	uint64_t sector = req->br.offset / BLOCK_SECTOR_SIZE;
	if (!range_ok(q->blk, sector, req->br.len)) {
		complain(q->blk, "request outside the disk's new image", sector);
		req_finish(q, req, VIRTIO_BLK_S_IOERR);
		return false;
	}
	return submit(q, req);
}

static void notify(struct virtio_blk_queue *q)
{
	struct virtio_device *vd = &q->blk->vd;
	if (q->pushed && virtq_should_notify(&vd->queues[q->index].vq))
		virtio_notify_queue(vd, q->index);
	q->pushed = false;
}

/* Takes one chain and submits or answers it; false when the queue must stop. */
static bool take_one(struct virtio_blk *blk, struct virtio_blk_queue *q, struct virtq *vq,
		     unsigned *submitted)
{
	static _Thread_local struct virtq_chain chain;
	int ret = virtq_pop(vq, &chain);
	if (ret == 0 && vq->event_idx) {
		virtq_publish_avail_event(vq); /* then look once more (§2.7.10) */
		ret = virtq_pop(vq, &chain);
	}
	if (ret < 0) {
		q->broken = true;
		virtio_device_needs_reset(&blk->vd);
		return false;
	}
	if (ret == 0)
		return false;

	count(&blk->requests, 1);
	if (chain.writable_len == 0 || chain.end_left_out) {
		count(&blk->bad_chains, 1);
		complain(blk, chain.end_left_out ? "the IOMMU refused a request's status byte"
						 : "request without a status byte", 0);
		virtq_push(vq, chain.head, 0);
		q->pushed = true;
		return true;
	}
	struct blk_req *req = q->free;
	q->free = req->next;
	const struct virtq_buf *last = &chain.bufs[chain.count - 1];
	req->head = chain.head;
	req->status = last->host + last->len - 1;
	req->data_written = 0;
	req->niov = 0;
	req->br.done = NULL;
	uint8_t status = chain.dma_fault ? dma_refused(blk) : parse(blk, req, &chain);
	if (status != VIRTIO_BLK_S_OK || !req->br.done) {
		req_finish(q, req, status);
		return true;
	}
	if (!submit(q, req))
		return false;
	(*submitted)++;
	return true;
}

void virtio_blk_serve(struct virtio_device *vd, unsigned queue)
{
	struct virtio_blk *blk = to_blk(vd);
	if (queue >= blk->nr_queues || !vd->queues[queue].enabled)
		return;
	struct virtio_blk_queue *q = &blk->queues[queue];
	struct virtq *vq = &vd->queues[queue].vq;
	unsigned submitted = 0;

	if (q->pending && submit_pending(q))
		submitted++;
	/* One request per free blk_req: never more than the ring can hold. */
	while (!q->blocked && !q->broken && q->free && take_one(blk, q, vq, &submitted))
		;
	if (!q->free && !q->pending)
		q->blocked = true; /* every request in flight: completions resume us */
	if (submitted)
		block_queue_kick(q->bq);
	notify(q);
}

void virtio_blk_complete(struct virtio_blk *blk, unsigned queue)
{
	if (queue >= blk->nr_queues)
		return;
	struct virtio_blk_queue *q = &blk->queues[queue];
	int finished = block_queue_complete(q->bq);
	if (q->blocked && finished > 0) {
		q->blocked = false;
		virtio_blk_serve(&blk->vd, queue); /* notifies for both */
	} else {
		notify(q);
	}
}

void virtio_blk_wait(struct virtio_blk *blk, unsigned queue)
{
	if (queue >= blk->nr_queues)
		return;
	struct virtio_blk_queue *q = &blk->queues[queue];
	do {
		block_queue_drain(q->bq);  /* answers what was in flight */
		q->blocked = false;
		virtio_blk_serve(&blk->vd, queue); /* what waited for slots, then the ring */
	} while (block_queue_inflight(q->bq) > 0 || q->pending);
}

int virtio_blk_queue_fd(const struct virtio_blk *blk, unsigned queue)
{
	return queue < blk->nr_queues ? block_queue_fd(blk->queues[queue].bq) : -1;
}

/* --- lifecycle --- */

static void queue_ready(void *arg)
{
	struct virtio_blk_queue *q = arg;
	virtio_blk_complete(q->blk, q->index);
}

/* Forgets every request: nothing in flight may touch guest memory afterwards. */
static void forget_all(struct virtio_blk *blk)
{
	blk->forget = true;
	for (unsigned i = 0; i < blk->nr_queues; i++) {
		struct virtio_blk_queue *q = &blk->queues[i];
		block_queue_drain(q->bq);
		if (q->pending)
			req_free(q, q->pending);
		q->pending = NULL;
		q->blocked = q->broken = q->pushed = false;
	}
	blk->forget = false;
}

/*
 * Completes and answers every request in flight: the driver keeps its
 * device. What waited for a free slot (pending) stays for the next serve.
 */
static void answer_all(struct virtio_blk *blk)
{
	for (unsigned i = 0; i < blk->nr_queues; i++) {
		struct virtio_blk_queue *q = &blk->queues[i];
		block_queue_drain(q->bq);
		q->blocked = false;
		notify(q);
	}
}

/* On the worker thread as it stops: its io_uring requests must end before it does. */
static void blk_stopping(struct virtio_device *vd)
{
	struct virtio_blk *blk = to_blk(vd);
	if (blk->answer_on_stop)
		answer_all(blk);
	else
		forget_all(blk);
}

int blk_start_worker(struct virtio_blk *blk)
{
	struct virtio_worker_fd fds[VIRTIO_BLK_MAX_QUEUES];
	for (unsigned i = 0; i < blk->nr_queues; i++)
		fds[i] = (struct virtio_worker_fd){ .fd = block_queue_fd(blk->queues[i].bq),
						    .ready = queue_ready, .arg = &blk->queues[i] };
	struct virtio_worker_config cfg = { .serve = virtio_blk_serve, .stopping = blk_stopping,
					    .extra = fds, .nr_extra = blk->nr_queues };
	return virtio_worker_start_with(&blk->worker, &blk->vd, &cfg);
}

static int blk_activate(struct virtio_device *vd)
{
	struct virtio_blk *blk = to_blk(vd);
	forget_all(blk);
	return blk_start_worker(blk);
}

static void blk_reset(struct virtio_device *vd)
{
	struct virtio_blk *blk = to_blk(vd);
	virtio_worker_stop(&blk->worker); /* drains on the worker thread (blk_stopping) */
	forget_all(blk);                  /* and again, for a worker that never ran */
}

void blk_stop_serving(struct virtio_blk *blk, bool worker_running)
{
	if (worker_running) {
		blk->answer_on_stop = true;
		virtio_worker_stop(&blk->worker); /* answers on the worker thread (blk_stopping) */
		blk->answer_on_stop = false;
	} else {
		answer_all(blk);
	}
}

bool blk_queues_idle(const struct virtio_blk *blk)
{
	for (unsigned i = 0; i < blk->nr_queues; i++)
		if (block_queue_inflight(blk->queues[i].bq) > 0)
			return false;
	return true;
}

/* Under vd->lock: the capacity changes when the image is swapped (publish_capacity). */
static void blk_config_read(struct virtio_device *vd, uint64_t offset, void *data, uint32_t len)
{
	struct virtio_blk *blk = to_blk(vd);
	memset(data, 0, len);
	pthread_mutex_lock(&vd->lock);
	if (offset < sizeof(blk->config))
		memcpy(data, blk->config + offset,
		       len < sizeof(blk->config) - offset ? len : sizeof(blk->config) - offset);
	pthread_mutex_unlock(&vd->lock);
}

static void blk_config_write(struct virtio_device *vd, uint64_t offset, const void *data,
			     uint32_t len)
{
	/* writeback (CONFIG_WCE) is not offered: nothing in the config space is writable. */
	(void)vd, (void)offset, (void)data, (void)len;
}

/* --- snapshots and migration --- */

/*
 * The request that waited for an I/O slot goes back to the avail ring: it
 * is always the last chain the queue took (serving stops at it), and the
 * driver never saw it go (virtq_unpop), so whoever serves the ring next,
 * here or after a restore, takes it again.
 */
static void unpop_pending(struct virtio_blk_queue *q)
{
	struct virtio_blk *blk = q->blk;
	if (!q->pending)
		return;
	virtq_unpop(&blk->vd.queues[q->index].vq, 1);
	req_free(q, q->pending);
	q->pending = NULL;
	q->blocked = false;
	/* Counted again when it is taken again; no worker runs to race with this. */
	__atomic_store_n(&blk->requests, blk->requests - 1, __ATOMIC_RELAXED);
}

/*
 * virtio_device_quiesce: every request in flight completes and is
 * answered; afterwards no chain is held by the device, taken and
 * unanswered, so the indices in vd->queues say all there is.
 */
static void blk_quiesce(struct virtio_device *vd)
{
	struct virtio_blk *blk = to_blk(vd);
	blk_stop_serving(blk, blk->worker.running);
	if (!blk_queues_idle(blk))
		answer_all(blk); /* left in flight by a worker that ended on its own */
	for (unsigned i = 0; i < blk->nr_queues; i++)
		unpop_pending(&blk->queues[i]);
}

/* The rings go on from vd->queues' indices; the core then kicks every queue. */
static int blk_unquiesce(struct virtio_device *vd)
{
	return blk_start_worker(to_blk(vd));
}

/*
 * Section STATE_TAG_VIRTIO_BLK: u64 capacity (512-byte sectors), u32
 * logical block size (bytes). They come from the image, which must still
 * look the same to the driver; the rest of the config space follows from
 * the configuration, which a restore repeats (readonly too: the core
 * checks the offered features, VIRTIO_BLK_F_RO among them).
 */
static void blk_save(struct virtio_device *vd, struct state_writer *w, uint32_t instance)
{
	struct virtio_blk *blk = to_blk(vd);
	state_begin(w, STATE_TAG_VIRTIO_BLK, instance);
	state_put_u64(w, blk->capacity);
	state_put_u32(w, blk->block_size);
	state_end(w);
}

/* Checks that the image opened at init is the one the driver knew; changes nothing. */
static int blk_load(struct virtio_device *vd, const struct state_reader *r, uint32_t instance)
{
	struct virtio_blk *blk = to_blk(vd);
	struct state_section s;
	if (state_find(r, STATE_TAG_VIRTIO_BLK, instance, &s) < 0) {
		log_error("snapshot: virtio-blk %u: the snapshot holds no state for it", instance);
		return -EINVAL;
	}
	uint64_t capacity = state_get_u64(&s);
	uint32_t block_size = state_get_u32(&s);
	if (state_section_finish(&s) < 0)
		log_error("snapshot: virtio-blk %u: its saved state is truncated or malformed", instance);
	else if (capacity != blk->capacity)
		log_error("snapshot: virtio-blk %u: the image is now %llu sectors, was %llu", instance,
			  (unsigned long long)blk->capacity, (unsigned long long)capacity);
	else if (block_size != blk->block_size)
		log_error("snapshot: virtio-blk %u: the image's logical block size is now %u bytes, was %u",
			  instance, blk->block_size, block_size);
	else
		return 0;
	return -EINVAL;
}

static const struct virtio_device_ops blk_ops = {
	.config_read = blk_config_read,
	.config_write = blk_config_write,
	.activate = blk_activate,
	.reset = blk_reset,
	.quiesce = blk_quiesce,
	.unquiesce = blk_unquiesce,
	.save = blk_save,
	.load = blk_load,
};

static void fill_config(struct virtio_blk *blk)
{
	uint8_t *c = blk->config;
	uint32_t align = blk->block_size / BLOCK_SECTOR_SIZE;
	put_le64(c + BLK_CFG_CAPACITY, blk->capacity);
	put_le32(c + CFG_SEG_MAX, VIRTIO_BLK_SEG_MAX);
	put_le32(c + CFG_BLK_SIZE, blk->block_size);
	put_le16(c + CFG_NUM_QUEUES, (uint16_t)blk->nr_queues);
	put_le32(c + CFG_MAX_DISCARD_SECT, MAX_DISCARD_SECTORS);
	put_le32(c + CFG_MAX_DISCARD_SEG, 1);
	put_le32(c + CFG_DISCARD_ALIGN, align);
	put_le32(c + CFG_MAX_WZ_SECT, MAX_DISCARD_SECTORS);
	put_le32(c + CFG_MAX_WZ_SEG, 1);
	c[CFG_WZ_MAY_UNMAP] = 0;
}

static int init_fail(struct virtio_blk *blk, const char **why, const char *msg, int err)
{
	if (why && msg)
		*why = msg;
	virtio_blk_destroy(blk);
	return err;
}

int virtio_blk_init(struct virtio_blk *blk, const struct virtio_blk_config *cfg,
		    const struct guest_mem *mem, const char **why)
{
	memset(blk, 0, sizeof(*blk));
	blk->log_limit = (struct log_limit)LOG_LIMIT_INIT(16);
	blk->worker.epoll_fd = blk->worker.stop_fd = -1;
	unsigned nq = cfg->queues ? cfg->queues : 1;
	if (nq > VIRTIO_BLK_MAX_QUEUES)
		return init_fail(blk, why, "too many queues (at most 16)", -EINVAL);
	if (cfg->serial && strlen(cfg->serial) > VIRTIO_BLK_SERIAL_LEN)
		return init_fail(blk, why, "the serial is longer than 20 bytes", -EINVAL);
	unsigned depth = cfg->io_depth ? cfg->io_depth : VIRTIO_BLK_QUEUE_SIZE;
	if (depth > BLOCK_QUEUE_MAX_DEPTH)
		return init_fail(blk, why, "the I/O depth is too large", -EINVAL);
	if (cfg->serial)
		memcpy(blk->serial, cfg->serial, strlen(cfg->serial));

	struct block_file_config fc = { .path = cfg->path, .readonly = cfg->readonly,
					.direct = cfg->direct };
	int ret = block_file_open(&fc, &blk->file, why);
	if (ret < 0)
		return init_fail(blk, why, NULL, ret);
	blk->readonly = cfg->readonly;
	blk->direct = cfg->direct;
	blk->capacity = block_file_size(blk->file) / BLOCK_SECTOR_SIZE;
	blk->block_size = block_file_logical_block_size(blk->file);

	for (unsigned i = 0; i < nq; i++) {
		struct virtio_blk_queue *q = &blk->queues[i];
		q->blk = blk;
		q->index = i;
		blk->nr_queues = i + 1; /* so that destroy frees what exists */
		ret = block_queue_create(blk->file, depth, &q->bq, why);
		if (ret < 0)
			return init_fail(blk, why, NULL, ret);
		q->reqs = calloc(VIRTIO_BLK_QUEUE_SIZE, sizeof(*q->reqs));
		if (!q->reqs)
			return init_fail(blk, why, "out of memory", -ENOMEM);
		for (unsigned k = VIRTIO_BLK_QUEUE_SIZE; k-- > 0;) {
			q->reqs[k].q = q;
			q->reqs[k].next = q->free;
			q->free = &q->reqs[k];
		}
	}

	uint64_t features = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
			    (1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES) |
			    (1ull << VIRTIO_F_EVENT_IDX) | (1ull << VIRTIO_F_INDIRECT_DESC);
	/*
	 * §5.2.5: without VIRTIO_BLK_F_FLUSH (or CONFIG_WCE) the driver takes
	 * the cache as writethrough and sends no flush: cache_type Unsafe.
	 */
	if (!cfg->no_flush)
		features |= 1ull << VIRTIO_BLK_F_FLUSH;
	if (cfg->readonly)
		features |= 1ull << VIRTIO_BLK_F_RO;
	if (nq > 1)
		features |= 1ull << VIRTIO_BLK_F_MQ;
	ret = virtio_device_init(&blk->vd, VIRTIO_ID_BLOCK, features, nq, VIRTIO_BLK_QUEUE_SIZE,
				 mem, &blk_ops, blk);
	if (ret < 0) {
		blk->vd.ops = NULL; /* virtio_device_init cleaned up after itself */
		return init_fail(blk, why, "cannot set up the virtio device", ret);
	}
	blk->vd.config_size = sizeof(blk->config);
	fill_config(blk);
	return 0;
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
	virtio_worker_stop(&blk->worker);
	for (unsigned i = 0; i < blk->nr_queues; i++) {
		struct virtio_blk_queue *q = &blk->queues[i];
		if (q->bq) {
			blk->forget = true;
			block_queue_drain(q->bq);
			block_queue_destroy(q->bq);
		}
		if (q->reqs)
			for (unsigned k = 0; k < VIRTIO_BLK_QUEUE_SIZE; k++)
				free(q->reqs[k].bounce);
		free(q->reqs);
		q->bq = NULL;
		q->reqs = NULL;
	}
	if (blk->vd.ops)
		virtio_device_destroy(&blk->vd);
	block_file_close(blk->file);
	blk->file = NULL;
	blk->nr_queues = 0;
}

void virtio_blk_counters(const struct virtio_blk *blk, struct disk_counters *out)
{
	*out = (struct disk_counters){
		.requests = __atomic_load_n(&blk->requests, __ATOMIC_RELAXED),
		.bytes_read = __atomic_load_n(&blk->bytes_read, __ATOMIC_RELAXED),
		.bytes_written = __atomic_load_n(&blk->bytes_written, __ATOMIC_RELAXED),
		.io_errors = __atomic_load_n(&blk->io_errors, __ATOMIC_RELAXED),
	};
}
