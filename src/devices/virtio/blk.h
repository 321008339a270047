/*
 * virtio-blk (virtio 1.2 §5.2): a raw image served through io_uring
 * (backends/block_file.h), one io_uring per virtqueue, many requests in
 * flight, one interrupt per batch.
 *
 * The worker thread (virtio/worker.h) serves a queue when the driver kicks
 * it (virtio_blk_serve: pop, parse, submit, one io_uring_enter per batch)
 * and completes requests when the queue's io_uring signals its eventfd
 * (virtio_blk_complete: status byte, push, notify). A transport wraps
 * blk->vd, e.g. virtio_pci_init(&vp, &blk->vd, 0x018000, vm).
 *
 * Snapshots and migration (virtio_device_quiesce): the requests in flight
 * are completed and answered, and one still waiting for an I/O slot goes
 * back to the avail ring, so that the ring indices are the whole state.
 */
#ifndef VMON_DEVICES_VIRTIO_BLK_H
#define VMON_DEVICES_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "util/log.h"
#include "virtio/device.h"
#include "virtio/worker.h"

#define VIRTIO_BLK_MAX_QUEUES 16
#define VIRTIO_BLK_QUEUE_SIZE 256
#define VIRTIO_BLK_SERIAL_LEN 20 /* GET_ID: at most 20 bytes, NUL-padded */
/* Data segments per request (seg_max): the queue size less header and status. */
#define VIRTIO_BLK_SEG_MAX    (VIRTIO_BLK_QUEUE_SIZE - 2)
/* With direct=on, unaligned guest buffers go through a bounce buffer of at most this. */
#define VIRTIO_BLK_BOUNCE_MAX (16u << 20)
/* Bounce memory in flight per device: a guest cannot make vmon allocate more. */
#define VIRTIO_BLK_BOUNCE_TOTAL_MAX (64u << 20)

struct virtio_blk_config {
	const char *path;
	bool readonly;      /* offer VIRTIO_BLK_F_RO; open the image read-only */
	bool direct;        /* O_DIRECT */
	bool no_flush;      /* cache_type Unsafe: VIRTIO_BLK_F_FLUSH is not offered */
	const char *serial; /* GET_ID; at most 20 bytes; NULL: empty */
	unsigned queues;    /* 1..VIRTIO_BLK_MAX_QUEUES (0: 1); F_MQ when > 1 */
	unsigned io_depth;  /* io_uring slots per queue; 0: the queue size (tests use fewer) */
};

struct virtio_blk;
struct blk_req;

/* One virtqueue's state; everything here belongs to the worker thread. */
struct virtio_blk_queue {
	struct virtio_blk *blk;
	unsigned index;
	struct block_queue *bq;
	struct blk_req *reqs;     /* VIRTIO_BLK_QUEUE_SIZE of them */
	struct blk_req *free;     /* unused ones */
	struct blk_req *pending;  /* popped, refused by the backend with -EBUSY */
	bool blocked;             /* waiting for completions before popping again */
	bool broken;              /* virtq_pop refused the ring: NEEDS_RESET is set */
	bool pushed;              /* pushed since the last notification decision */
};

struct virtio_blk {
	struct virtio_device vd;
	struct virtio_worker worker;
	struct block_file *file;
	uint64_t capacity;        /* 512-byte sectors */
	uint32_t block_size;      /* the backend's logical block size */
	bool readonly;
	bool direct;
	bool forget;              /* draining for a reset: done callbacks touch nothing */
	/* The worker stops for a file swap and answers what is in flight (set before it is told to). */
	bool answer_on_stop;
	uint64_t bounce_bytes;    /* bounce memory allocated now; only the worker thread touches it */
	char serial[VIRTIO_BLK_SERIAL_LEN];
	uint8_t config[60];       /* struct virtio_blk_config of §5.2.4, little-endian */
	unsigned nr_queues;
	struct virtio_blk_queue queues[VIRTIO_BLK_MAX_QUEUES];
	struct log_limit log_limit;

	/*
	 * Counters, written only by the thread serving the queues, as relaxed
	 * atomics: any thread may read them (virtio_blk_counters).
	 */
	uint64_t requests;        /* requests taken from the rings */
	uint64_t io_errors;       /* completed with VIRTIO_BLK_S_IOERR */
	uint64_t unsupported;     /* completed with VIRTIO_BLK_S_UNSUPP */
	uint64_t bad_chains;      /* no status byte: returned with len 0, unanswered */
	uint64_t bytes_read;
	uint64_t bytes_written;
};

/*
 * Opens the image and creates one io_uring per virtqueue, so that a host
 * without io_uring fails here. 0, or -errno with *why a sentence for the
 * user (the caller adds the path).
 */
int virtio_blk_init(struct virtio_blk *blk, const struct virtio_blk_config *cfg,
		    const struct guest_mem *mem, const char **why);
/* Stops the worker, waits for I/O in flight and frees everything. */
void virtio_blk_destroy(struct virtio_blk *blk);

/*
 * Serves another image from now on, while the guest runs (Firecracker's
 * PATCH /drives): the new image opens with the device's readonly and
 * direct choices, the requests in flight on the old one complete and are
 * answered, then the old image is closed and the driver hears of the new
 * capacity through a configuration change. A request taken before and
 * still waiting for an I/O slot goes to the new image, if it lies inside
 * it (else IOERR).
 *
 * 0: the device serves the new image. -errno, with *why a sentence for the
 * user: it serves the old one still, the new one closed, the config space
 * unchanged. That includes a failure to restart the I/O thread, after
 * which the device needs a reset (DEVICE_NEEDS_RESET); *why then says so.
 * Any thread; not together with virtio_blk_destroy.
 */
int virtio_blk_replace_file(struct virtio_blk *blk, const char *path, const char **why);

/* What one disk did, as --stats and the API's metrics show it. */
struct disk_counters {
	uint64_t requests, bytes_read, bytes_written, io_errors;
};
/* Reads the counters while the device runs. */
void virtio_blk_counters(const struct virtio_blk *blk, struct disk_counters *out);

/*
 * The worker's jobs, exposed for tests and fuzzers (call them from one
 * thread, with the worker not running). serve: take and submit what the
 * driver made available on `queue`. complete: finish the requests whose
 * I/O is done (when block_queue_fd of the queue is readable), then serve
 * the queue again if it had stopped for lack of slots.
 */
void virtio_blk_serve(struct virtio_device *vd, unsigned queue);
void virtio_blk_complete(struct virtio_blk *blk, unsigned queue);
/*
 * Serves `queue` until its ring is empty and nothing is in flight, blocking
 * for the I/O (tests and fuzzers: completes synchronously).
 */
void virtio_blk_wait(struct virtio_blk *blk, unsigned queue);
/* The completion eventfd of `queue` (what the worker waits on). */
int virtio_blk_queue_fd(const struct virtio_blk *blk, unsigned queue);

#endif
