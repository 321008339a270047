/*
 * A raw image through io_uring. See block_file.h for the contract.
 *
 * Each block_queue has `depth` slots; a slot follows one accepted request
 * from block_queue_submit to its done call and is the SQE's user_data. A
 * slot holds at most one SQE at a time (queued in the SQ or owned by the
 * kernel), and the SQ has at least `depth` entries, so io_uring_get_sqe
 * cannot fail while a slot is in use; the CQ (twice the SQ) cannot
 * overflow. Requests that fail their checks never get an SQE: they wait
 * on the `rejected` list, with the eventfd signalled, for the next
 * block_queue_complete.
 */
#include "backends/block_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

struct block_file {
	int fd;
	bool readonly;
	uint64_t size;
	uint32_t block_size;
	uint32_t mem_align;
};

/* How a queue makes zeros, in order of preference. */
enum zero_mode {
	ZERO_RANGE, /* fallocate(ZERO_RANGE | KEEP_SIZE) */
	ZERO_PUNCH, /* fallocate(PUNCH_HOLE | KEEP_SIZE) */
	ZERO_WRITE, /* write from zero_buf */
};

struct slot {
	struct block_request *req;
	struct slot *next;        /* on the free or the rejected list */
	int result;               /* on the rejected list: what done gets */
	uint64_t progress;        /* bytes done (READ, WRITE, zeros written) */
	const struct iovec *iov;  /* what is left to transfer: req->iov or copy */
	unsigned iovcnt;
	struct iovec *copy;       /* after a short transfer inside an iovec */
	enum zero_mode zero;
};

struct block_queue {
	const struct block_file *bf;
	struct io_uring ring;
	int efd;
	unsigned depth;
	unsigned inflight;        /* slots in use */
	unsigned long finished;   /* done calls so far */
	unsigned sqes;            /* SQEs prepared and not yet reaped */
	enum zero_mode zero;      /* the best zero_mode the filesystem accepted */
	struct slot *free;
	struct slot *rejected, **rejected_tail;
	struct slot *slots;
};

/*
 * Source of zeros for ZERO_WRITE, aligned for any direct I/O; never
 * written, so it costs no memory.
 */
#define ZERO_CHUNK (1u << 20)
static _Alignas(65536) uint8_t zero_buf[ZERO_CHUNK]; /* not const: .bss, not .rodata */

static int fail(const char **why, const char *msg, int err)
{
	if (why)
		*why = msg;
	return err;
}

static const char *open_error(int err, const struct block_file_config *cfg)
{
	switch (err) {
	case ENOENT:
		return "the file does not exist";
	case ENOTDIR:
		return "a component of the path is not a directory";
	case EACCES:
	case EPERM:
		return cfg->readonly ? "permission denied"
				     : "permission denied (an image that may only be read needs readonly=on)";
	case EROFS:
		return "the file is on a read-only filesystem (use readonly=on)";
	case EISDIR:
	case ENXIO: /* a socket, or a FIFO without a reader */
		return "not a regular file or block device";
	case ETXTBSY:
		return "the file is in use as a running program or swap area";
	case ELOOP:
		return "too many symbolic links in the path";
	case EINVAL:
		if (cfg->direct)
			return "the filesystem does not support direct I/O (use direct=off)";
		break;
	}
	return strerror(err);
}

/*
 * Direct-I/O alignment: statx(STATX_DIOALIGN) where the kernel (6.1+) and
 * the filesystem report it. 0 in both fields means no direct I/O.
 */
static int dio_align(int fd, const struct stat *st, uint32_t *block_size,
		     uint32_t *mem_align, const char **why)
{
	struct statx stx;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN)) {
		uint32_t off = stx.stx_dio_offset_align, mem = stx.stx_dio_mem_align;
		if (off == 0 || mem == 0)
			return fail(why, "the filesystem does not support direct I/O (use direct=off)",
				    -EINVAL);
		if ((off & (off - 1)) || (mem & (mem - 1)) || off > 65536 || mem > 4096)
			return fail(why, "the filesystem reports an unusable direct-I/O alignment (use direct=off)",
				    -EINVAL);
		if (off > *block_size)
			*block_size = off;
		*mem_align = mem;
		return 0;
	}
	/*
	 * Not reported. A block device wants buffers aligned to its logical
	 * block size; for a file, a page is always enough.
	 */
	*mem_align = S_ISBLK(st->st_mode) ? *block_size : 4096;
	return 0;
}

int block_file_open(const struct block_file_config *cfg, struct block_file **out,
		    const char **why)
{
	*out = NULL;
	if (!cfg || !cfg->path || !cfg->path[0])
		return fail(why, "no image path given", -EINVAL);

	/*
	 * O_NONBLOCK so that a FIFO cannot hang the open; it is cleared below,
	 * as io_uring would otherwise fail reads and writes with -EAGAIN.
	 */
	int flags = (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	if (cfg->direct)
		flags |= O_DIRECT;
	int fd = open(cfg->path, flags);
	if (fd < 0) {
		int err = errno;
		return fail(why, open_error(err, cfg), -err);
	}

	struct block_file bf = { .fd = fd, .readonly = cfg->readonly,
				 .block_size = BLOCK_SECTOR_SIZE, .mem_align = 1 };
	struct stat st;
	int ret = 0;
	if (fstat(fd, &st) < 0) {
		ret = fail(why, "cannot stat the file", -errno);
		goto err;
	}
	if (S_ISREG(st.st_mode)) {
		bf.size = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		int lbs;
		if (ioctl(fd, BLKGETSIZE64, &bf.size) < 0 || ioctl(fd, BLKSSZGET, &lbs) < 0) {
			ret = fail(why, "cannot read the block device's size", -errno);
			goto err;
		}
		if (lbs < (int)BLOCK_SECTOR_SIZE || lbs > 65536 || (lbs & (lbs - 1))) {
			ret = fail(why, "the block device has an unusual logical block size", -EINVAL);
			goto err;
		}
		bf.block_size = (uint32_t)lbs;
	} else {
		ret = fail(why, "not a regular file or block device", -EINVAL);
		goto err;
	}

	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		ret = fail(why, "cannot set up the file descriptor", -errno);
		goto err;
	}

	if (cfg->direct) {
		ret = dio_align(fd, &st, &bf.block_size, &bf.mem_align, why);
		if (ret < 0)
			goto err;
	}

	if (bf.size % bf.block_size) {
		ret = fail(why, bf.block_size == BLOCK_SECTOR_SIZE
			   ? "the image size must be a multiple of 512 bytes"
			   : "the image size must be a multiple of its logical block size (with direct=on, the filesystem's direct-I/O block size)",
			   -EINVAL);
		goto err;
	}

	*out = malloc(sizeof(**out));
	if (!*out) {
		ret = fail(why, "out of memory", -ENOMEM);
		goto err;
	}
	**out = bf;
	return 0;
err:
	close(fd);
	return ret;
}

void block_file_close(struct block_file *bf)
{
	if (!bf)
		return;
	close(bf->fd);
	free(bf);
}

uint64_t block_file_size(const struct block_file *bf) { return bf->size; }
uint32_t block_file_logical_block_size(const struct block_file *bf) { return bf->block_size; }
uint32_t block_file_mem_align(const struct block_file *bf) { return bf->mem_align; }
bool block_file_readonly(const struct block_file *bf) { return bf->readonly; }

bool block_file_iov_aligned(const struct block_file *bf, const struct iovec *iov,
			    unsigned iovcnt)
{
	if (bf->mem_align == 1)
		return true;
	for (unsigned i = 0; i < iovcnt; i++) {
		if ((uintptr_t)iov[i].iov_base % bf->mem_align || iov[i].iov_len % bf->block_size)
			return false;
	}
	return true;
}

/* --- queues --- */

static void signal_efd(struct block_queue *q)
{
	uint64_t one = 1;
	/* Cannot fail short of a counter near 2^64; then it is readable anyway. */
	if (write(q->efd, &one, sizeof(one)) < 0)
		return;
}

static const char *ring_error(int err)
{
	switch (err) {
	case ENOSYS:
		return "the kernel does not support io_uring";
	case EPERM:
	case EACCES:
		return "io_uring is not permitted here (sysctl kernel.io_uring_disabled, or a seccomp filter such as a container's)";
	case ENOMEM:
		return "not enough memory for an io_uring (or RLIMIT_MEMLOCK is too low)";
	case EMFILE:
	case ENFILE:
		return "too many open files";
	}
	return "cannot set up an io_uring";
}

/* Linux 5.6 has every operation used here; probing needs 5.6 too. */
static bool ring_has_ops(struct io_uring *ring)
{
	static const int ops[] = { IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_WRITE,
				   IORING_OP_FSYNC, IORING_OP_FALLOCATE };
	struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
	if (!probe)
		return false;
	bool ok = true;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		ok = ok && io_uring_opcode_supported(probe, ops[i]);
	io_uring_free_probe(probe);
	return ok;
}

int block_queue_create(const struct block_file *bf, unsigned depth,
		       struct block_queue **out, const char **why)
{
	*out = NULL;
	if (depth < 1 || depth > BLOCK_QUEUE_MAX_DEPTH)
		return fail(why, "the queue depth must be between 1 and 4096", -EINVAL);

	struct block_queue *q = calloc(1, sizeof(*q));
	struct slot *slots = calloc(depth, sizeof(*slots));
	if (!q || !slots) {
		free(q);
		free(slots);
		return fail(why, "out of memory", -ENOMEM);
	}
	q->bf = bf;
	q->depth = depth;
	q->slots = slots;
	q->rejected_tail = &q->rejected;
	for (unsigned i = depth; i-- > 0;) {
		slots[i].next = q->free;
		q->free = &slots[i];
	}

	int ret = io_uring_queue_init(depth, &q->ring, 0);
	if (ret < 0) {
		fail(why, ring_error(-ret), ret);
		goto err_free;
	}
	if (!ring_has_ops(&q->ring)) {
		ret = fail(why, "the kernel's io_uring is too old (Linux 5.6 or later is needed)",
			   -EOPNOTSUPP);
		goto err_ring;
	}
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0) {
		ret = fail(why, "cannot create an eventfd", -errno);
		goto err_ring;
	}
	ret = io_uring_register_eventfd(&q->ring, q->efd);
	if (ret < 0) {
		fail(why, "cannot register an eventfd with the io_uring", ret);
		close(q->efd);
		goto err_ring;
	}
	*out = q;
	return 0;
err_ring:
	io_uring_queue_exit(&q->ring);
err_free:
	free(slots);
	free(q);
	return ret;
}

int block_queue_fd(const struct block_queue *q) { return q->efd; }
unsigned block_queue_inflight(const struct block_queue *q) { return q->inflight; }

static bool is_write(enum block_op op)
{
	return op == BLOCK_OP_WRITE || op == BLOCK_OP_DISCARD || op == BLOCK_OP_WRITE_ZEROES;
}

/* 0, or the result to fail the request with before it touches the file. */
static int check(const struct block_file *bf, const struct block_request *req)
{
	switch (req->op) {
	case BLOCK_OP_FLUSH:
		return 0;
	case BLOCK_OP_READ:
	case BLOCK_OP_WRITE: {
		if (req->iovcnt > BLOCK_MAX_IOV || (req->iovcnt && !req->iov))
			return -EINVAL;
		uint64_t sum = 0;
		for (unsigned i = 0; i < req->iovcnt; i++) {
			if (req->iov[i].iov_len > UINT64_MAX - sum)
				return -EINVAL;
			sum += req->iov[i].iov_len;
		}
		if (sum != req->len || req->len > BLOCK_MAX_TRANSFER)
			return -EINVAL;
		break;
	}
	case BLOCK_OP_DISCARD:
	case BLOCK_OP_WRITE_ZEROES:
		break;
	default:
		return -EINVAL;
	}
	if (bf->readonly && is_write(req->op))
		return -EROFS;
	if (req->offset % bf->block_size || req->len % bf->block_size)
		return -EINVAL;
	if (req->offset > bf->size || req->len > bf->size - req->offset)
		return -EINVAL;
	/* What io_uring's off_t-sized offsets and lengths can carry. */
	if (req->offset + req->len > (uint64_t)INT64_MAX)
		return -EINVAL;
	return 0;
}

static void reject(struct block_queue *q, struct slot *s, int result)
{
	s->result = result;
	s->next = NULL;
	*q->rejected_tail = s;
	q->rejected_tail = &s->next;
	signal_efd(q);
}

/* Prepares the SQE for what is left of the slot's request. */
static void prep(struct block_queue *q, struct slot *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
	if (!sqe) {
		/* Cannot happen: the SQ has a free entry for every slot. */
		log_error("block: io_uring submission queue unexpectedly full");
		reject(q, s, -EIO);
		return;
	}
	const struct block_request *req = s->req;
	int fd = q->bf->fd;
	uint64_t off = req->offset + s->progress;
	uint64_t left = req->len - s->progress;

	switch (req->op) {
	case BLOCK_OP_READ:
		io_uring_prep_readv(sqe, fd, s->iov, s->iovcnt, off);
		break;
	case BLOCK_OP_WRITE:
		io_uring_prep_writev(sqe, fd, s->iov, s->iovcnt, off);
		break;
	case BLOCK_OP_FLUSH:
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		break;
	case BLOCK_OP_DISCARD:
		io_uring_prep_fallocate(sqe, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					(off_t)off, (off_t)left);
		break;
	case BLOCK_OP_WRITE_ZEROES:
		if (s->zero == ZERO_RANGE)
			io_uring_prep_fallocate(sqe, fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
						(off_t)off, (off_t)left);
		else if (s->zero == ZERO_PUNCH)
			io_uring_prep_fallocate(sqe, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
						(off_t)off, (off_t)left);
		else
			io_uring_prep_write(sqe, fd, zero_buf,
					    (unsigned)(left < ZERO_CHUNK ? left : ZERO_CHUNK), off);
		break;
	}
	io_uring_sqe_set_data(sqe, s);
	q->sqes++;
}

int block_queue_submit(struct block_queue *q, struct block_request *req)
{
	if (!req || !req->done)
		return -EINVAL;
	struct slot *s = q->free;
	if (!s)
		return -EBUSY;
	q->free = s->next;
	q->inflight++;
	*s = (struct slot){ .req = req, .iov = req->iov, .iovcnt = req->iovcnt, .zero = q->zero };

	int err = check(q->bf, req);
	if (err < 0)
		reject(q, s, err);
	else if (req->len == 0 && req->op != BLOCK_OP_FLUSH)
		reject(q, s, 0); /* nothing to do: fallocate would even say -EINVAL */
	else
		prep(q, s);
	return 0;
}

int block_queue_kick(struct block_queue *q)
{
	while (io_uring_sq_ready(&q->ring) > 0) {
		int ret = io_uring_submit(&q->ring);
		if (ret == -EINTR)
			continue;
		if (ret <= 0) {
			/* Left queued: the next block_queue_complete tries again. */
			signal_efd(q);
			return ret < 0 ? ret : -EAGAIN;
		}
	}
	return 0;
}

/* Calls done and frees the slot, which done may reuse at once. */
static void finish(struct block_queue *q, struct slot *s, int result)
{
	struct block_request *req = s->req;
	free(s->copy);
	*s = (struct slot){ .next = q->free };
	q->free = s;
	q->inflight--;
	q->finished++;
	req->done(req, result);
}

/*
 * Drops the first n bytes of the slot's remaining iovecs. Copies them when
 * one has to be cut, as the caller's array is const.
 */
static int advance_iov(struct slot *s, uint64_t n)
{
	const struct iovec *iov = s->iov;
	unsigned cnt = s->iovcnt;
	while (cnt > 0 && n >= iov->iov_len) {
		n -= iov->iov_len;
		iov++;
		cnt--;
	}
	if (n == 0 || cnt == 0) {
		s->iov = iov;
		s->iovcnt = cnt;
		return 0;
	}
	if (!s->copy) {
		s->copy = malloc(cnt * sizeof(*s->copy));
		if (!s->copy)
			return -ENOMEM;
	}
	memmove(s->copy, iov, cnt * sizeof(*iov));
	s->copy[0].iov_base = (uint8_t *)s->copy[0].iov_base + n;
	s->copy[0].iov_len -= n;
	s->iov = s->copy;
	s->iovcnt = cnt;
	return 0;
}

/* A transfer (READ, WRITE, zeros written) moved res bytes. */
static void transferred(struct block_queue *q, struct slot *s, int res)
{
	const struct block_request *req = s->req;
	uint64_t left = req->len - s->progress;
	if (res == 0 || (uint64_t)res > left) {
		/* End of file (the file shrank under us), or no progress. */
		finish(q, s, -EIO);
		return;
	}
	s->progress += (uint64_t)res;
	if (s->progress == req->len) {
		finish(q, s, req->op == BLOCK_OP_WRITE_ZEROES ? 0 : (int)req->len);
		return;
	}
	if (req->op != BLOCK_OP_WRITE_ZEROES) {
		int err = advance_iov(s, (uint64_t)res);
		if (err < 0) {
			finish(q, s, err);
			return;
		}
	}
	prep(q, s); /* the rest */
}

/* One CQE for slot s. */
static void completed(struct block_queue *q, struct slot *s, int res)
{
	enum block_op op = s->req->op;

	if (res == -EAGAIN || res == -EINTR) {
		prep(q, s); /* transient: again, as it was */
		return;
	}
	if (op == BLOCK_OP_DISCARD && res == -EOPNOTSUPP)
		res = 0; /* a hint the filesystem cannot take */
	if (op == BLOCK_OP_WRITE_ZEROES && res == -EOPNOTSUPP && s->zero != ZERO_WRITE) {
		s->zero++;
		if (q->zero < s->zero)
			q->zero = s->zero;
		prep(q, s);
		return;
	}

	if (res < 0)
		finish(q, s, res);
	else if (op == BLOCK_OP_READ || op == BLOCK_OP_WRITE ||
		 (op == BLOCK_OP_WRITE_ZEROES && s->zero == ZERO_WRITE))
		transferred(q, s, res);
	else
		finish(q, s, 0);
}

int block_queue_complete(struct block_queue *q)
{
	uint64_t count;
	if (read(q->efd, &count, sizeof(count)) < 0) {
		/* EAGAIN: nothing signalled; the CQ is looked at anyway. */
	}

	unsigned long before = q->finished;
	struct slot *s = q->rejected;
	q->rejected = NULL;
	q->rejected_tail = &q->rejected;
	while (s) {
		struct slot *next = s->next;
		finish(q, s, s->result);
		s = next;
	}

	/*
	 * Only the CQEs there now: ones that the done callbacks' requests
	 * produce signal the eventfd and wait for the next call.
	 */
	for (unsigned avail = io_uring_cq_ready(&q->ring); avail > 0; avail--) {
		struct io_uring_cqe *cqe;
		if (io_uring_peek_cqe(&q->ring, &cqe) < 0)
			break;
		struct slot *slot = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&q->ring, cqe);
		q->sqes--;
		completed(q, slot, res);
	}

	if (io_uring_sq_ready(&q->ring) > 0)
		block_queue_kick(q);
	return (int)(q->finished - before);
}

void block_queue_drain(struct block_queue *q)
{
	while (q->inflight > 0) {
		block_queue_complete(q);
		if (q->inflight == 0 || q->rejected || io_uring_cq_ready(&q->ring) > 0)
			continue;
		struct io_uring_cqe *cqe;
		int ret = io_uring_sq_ready(&q->ring) > 0 ? io_uring_submit_and_wait(&q->ring, 1)
							  : io_uring_wait_cqe(&q->ring, &cqe);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
			log_error("block: waiting for I/O failed: %s", strerror(-ret));
			return;
		}
	}
}

int block_queue_set_file(struct block_queue *q, const struct block_file *bf)
{
	if (q->inflight > 0)
		return -EBUSY;
	q->bf = bf;
	q->zero = ZERO_RANGE; /* what the new file's filesystem refuses is yet to be learnt */
	return 0;
}

void block_queue_destroy(struct block_queue *q)
{
	if (!q)
		return;
	/* The kernel holds the SQEs that were submitted; queued ones never run. */
	while (q->sqes > io_uring_sq_ready(&q->ring)) {
		struct io_uring_cqe *cqe;
		int ret = io_uring_wait_cqe(&q->ring, &cqe);
		if (ret == -EINTR || ret == -EAGAIN)
			continue;
		if (ret < 0) {
			log_error("block: waiting for I/O failed: %s", strerror(-ret));
			break;
		}
		io_uring_cqe_seen(&q->ring, cqe);
		q->sqes--;
	}
	for (unsigned i = 0; i < q->depth; i++)
		free(q->slots[i].copy);
	io_uring_queue_exit(&q->ring);
	close(q->efd);
	free(q->slots);
	free(q);
}
