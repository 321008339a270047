/*
 * A raw disk image (a regular file or a block device) driven through
 * io_uring: the host side of a virtio-blk device.
 *
 * A block_file is the open image. It never changes after block_file_open,
 * so any number of threads may read it (the getters) and create queues on
 * it. Close it only after every queue on it is destroyed or has moved to
 * another file (block_queue_set_file).
 *
 * A block_queue is one io_uring (one per virtqueue) and belongs to one
 * thread, its I/O thread: every block_queue_* call on it, done callbacks
 * included, happens on that thread (create and destroy may happen on
 * another thread before the I/O thread starts or after it has stopped).
 * The I/O thread's loop looks like this:
 *
 *     epoll_wait(...)  // the virtqueue's ioeventfd, block_queue_fd(q), ...
 *     block_queue_complete(q);            // done() for finished requests
 *     while (pop a request && block_queue_submit(q, req) == 0)
 *             ;                           // -EBUSY: stop, wait for completions
 *     block_queue_kick(q);                // one io_uring_enter for the batch
 *
 * Requests in flight together may run in any order, as virtio allows; a
 * FLUSH makes durable the writes that completed before it was submitted.
 *
 * Requests must lie inside the image and be multiples of the logical block
 * size; the device should reject bad ones itself (with VIRTIO_BLK_S_IOERR),
 * but this layer checks again and fails them without touching the file.
 */
#ifndef VMON_BACKENDS_BLOCK_FILE_H
#define VMON_BACKENDS_BLOCK_FILE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#define BLOCK_SECTOR_SIZE 512u

/*
 * Most iovecs one READ or WRITE may carry (the kernel's UIO_MAXIOV). A
 * device that advertises seg_max must stay at or below it.
 */
#define BLOCK_MAX_IOV 1024u

/*
 * Longest READ or WRITE, so that its result fits an int. Guests cannot be
 * trusted to stay below it (descriptors may alias the same memory).
 */
#define BLOCK_MAX_TRANSFER (1u << 30)

/* Most requests one block_queue holds in flight. */
#define BLOCK_QUEUE_MAX_DEPTH 4096u

struct block_file_config {
	const char *path;
	bool readonly; /* open O_RDONLY; writes, discards, write-zeroes fail with -EROFS */
	bool direct;   /* O_DIRECT: bypass the host page cache (see block_file_mem_align) */
};

struct block_file;

/*
 * Opens the image at cfg->path, O_RDWR or O_RDONLY, O_CLOEXEC. Returns 0
 * and *out, or -errno with *why pointing at a static sentence for the user,
 * e.g. "the file does not exist", "not a regular file or block device",
 * "the image size must be a multiple of 512 bytes", or that the filesystem
 * does not support direct I/O. The caller adds the path:
 * "vmon: disk 'x.img': <why>".
 *
 * The size comes from fstat (BLKGETSIZE64 for a block device) and is fixed
 * from then on; a zero-size image is allowed.
 */
int block_file_open(const struct block_file_config *cfg, struct block_file **out,
		    const char **why);

/* NULL is a no-op. Every queue on the file must be destroyed first. */
void block_file_close(struct block_file *bf);

/* Image size in bytes: a multiple of block_file_logical_block_size. */
uint64_t block_file_size(const struct block_file *bf);

/*
 * The smallest unit of I/O, a power of two >= 512: what the device should
 * advertise as blk_size. 512 for a regular file; BLKSSZGET for a block
 * device; with direct=on, at least the file's direct-I/O offset alignment
 * (statx STATX_DIOALIGN), so it may be 4096. Offsets and lengths of all
 * requests must be multiples of it.
 */
uint32_t block_file_logical_block_size(const struct block_file *bf);

/*
 * Alignment that direct I/O needs for buffer addresses: 1 without direct=on.
 * With direct=on, READ and WRITE fail with -EINVAL (from the kernel) unless
 * every iov_base is a multiple of it and every iov_len a multiple of the
 * logical block size; the device must check (block_file_iov_aligned) and
 * bounce unaligned guest buffers through an aligned buffer of its own.
 */
uint32_t block_file_mem_align(const struct block_file *bf);

/* Whether the iovecs meet the two rules above (always true without direct=on). */
bool block_file_iov_aligned(const struct block_file *bf, const struct iovec *iov,
			    unsigned iovcnt);

bool block_file_readonly(const struct block_file *bf);

enum block_op {
	BLOCK_OP_READ,         /* readv into iov */
	BLOCK_OP_WRITE,        /* writev from iov */
	BLOCK_OP_FLUSH,        /* fdatasync of the whole file; offset, len, iov unused */
	BLOCK_OP_DISCARD,      /* a hint: punch a hole (see below); iov unused */
	BLOCK_OP_WRITE_ZEROES, /* the range reads as zeros afterwards; iov unused */
};

/*
 * One request. The caller owns it (embed it in the device's own request
 * and use container_of in done) and must keep it, and the iovec array it
 * points to, valid and unchanged until done is called. The queue never
 * writes to it.
 *
 * READ and WRITE: len must equal the sum of the iov_len and be at most
 * BLOCK_MAX_TRANSFER; iovcnt is at most BLOCK_MAX_IOV. A short transfer from the kernel is resumed with the
 * remainder until the whole length is done; a read that hits the end of
 * the file (it shrank under us) or a write that makes no progress fails
 * with -EIO. Success: result == len.
 *
 * FLUSH: IORING_OP_FSYNC with IORING_FSYNC_DATASYNC; done is called only
 * when the fdatasync has returned. Success: result == 0.
 *
 * DISCARD: fallocate(PUNCH_HOLE | KEEP_SIZE): the file keeps its size and,
 * where the filesystem punches holes, the range reads as zeros. Where it
 * cannot (EOPNOTSUPP) the discard succeeds doing nothing, as virtio allows.
 * Success: result == 0.
 *
 * WRITE_ZEROES: fallocate(ZERO_RANGE | KEEP_SIZE); where the filesystem
 * does not support that, PUNCH_HOLE | KEEP_SIZE; where it does not support
 * that either, zeros are written. The queue remembers what the filesystem
 * refused. Success: result == 0.
 *
 * Any op: result is -errno on failure. Checked before the file is touched:
 * -EROFS for WRITE, DISCARD, WRITE_ZEROES on a read-only file; -EINVAL for
 * an unknown op, a range that wraps or goes past the end of the image, an
 * offset or length that is not a multiple of the logical block size, or
 * iovecs that do not match len or break the limits above. A READ, WRITE, DISCARD or WRITE_ZEROES of
 * length 0 succeeds without touching the file.
 */
struct block_request {
	enum block_op op;
	uint64_t offset; /* bytes */
	uint64_t len;    /* bytes */
	const struct iovec *iov;
	unsigned iovcnt;
	void (*done)(struct block_request *req, int result);
};

struct block_queue;

/*
 * Creates a queue of `depth` slots (1..BLOCK_QUEUE_MAX_DEPTH; 128 or 256 is
 * typical: the virtqueue size): an io_uring with an eventfd registered for
 * its completions. Returns 0 and *out, or -errno with *why set, e.g. when
 * the kernel has no io_uring or a seccomp filter forbids it (-ENOSYS,
 * -EPERM). Create queues when the device is created, so that a host
 * without io_uring is a start-up error and not a guest I/O error.
 */
int block_queue_create(const struct block_file *bf, unsigned depth,
		       struct block_queue **out, const char **why);

/*
 * Waits until the kernel is done with every request it holds, so that no
 * I/O touches the buffers after this returns, then frees the queue.
 * done is NOT called for requests still in flight: call
 * block_queue_drain first for that. NULL is a no-op.
 *
 * The kernel cancels the requests of a thread that exits; drain the queue
 * on its I/O thread before that thread ends.
 */
void block_queue_destroy(struct block_queue *q);

/*
 * The eventfd (non-blocking) that becomes readable when completions are
 * ready: add it to the I/O thread's epoll set (EPOLLIN) and call
 * block_queue_complete when it fires. The queue owns it.
 */
int block_queue_fd(const struct block_queue *q);

/*
 * Queues req (prepares an SQE) without submitting it: block_queue_kick
 * submits the batch. Returns 0 when the request is accepted: done will be
 * called for it exactly once, always from block_queue_complete or
 * block_queue_drain, never from inside this call, even for a request that
 * fails its checks (the eventfd is signalled for those). Returns -EBUSY
 * without accepting it when `depth` requests are in flight: the caller
 * keeps it and tries again after block_queue_complete has finished some.
 * -EINVAL when req or req->done is NULL.
 */
int block_queue_submit(struct block_queue *q, struct block_request *req);

/*
 * Submits everything queued since the last kick in one io_uring_enter.
 * Returns 0, or -errno from io_uring_submit (e.g. -EAGAIN when the kernel
 * is short of memory): the requests then stay queued and the eventfd is
 * signalled, so that the next block_queue_complete submits them again.
 */
int block_queue_kick(struct block_queue *q);

/*
 * Reads the eventfd, then reaps the completions that are ready: calls done
 * for each finished request, and queues the remainder of a short transfer
 * again. Ends with a kick when anything is queued, including requests that
 * the done callbacks submitted. Never blocks. Returns how many done calls
 * it made.
 *
 * done callbacks may call block_queue_submit and block_queue_kick, but not
 * block_queue_complete, block_queue_drain or block_queue_destroy.
 */
int block_queue_complete(struct block_queue *q);

/*
 * Blocks until no request is in flight, calling done for each as it
 * finishes (including requests the done callbacks submit meanwhile). For
 * a device reset, and before destroying the queue.
 */
void block_queue_drain(struct block_queue *q);

/* Requests accepted and not yet done. */
unsigned block_queue_inflight(const struct block_queue *q);

/*
 * Points an idle queue at another file (a disk swapped under a running VM):
 * its io_uring and eventfd stay. -EBUSY while requests are in flight
 * (block_queue_drain first); 0 otherwise.
 */
int block_queue_set_file(struct block_queue *q, const struct block_file *bf);

#endif
