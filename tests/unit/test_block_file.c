/*
 * The io_uring image backend on real files: in $TMPDIR (default /tmp) and,
 * for tmpfs's missing ZERO_RANGE, in /dev/shm. TMPDIR on a ramfs (no
 * fallocate, no O_DIRECT) exercises the other fallbacks.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "backends/block_file.h"
#include "tap.h"

#define KiB 1024u

static const char *tmpdir;
static unsigned long done_calls;

struct treq {
	struct block_request req;
	int result;
	int calls;
	void (*hook)(struct treq *t); /* runs inside done */
	void *ctx;
};

static void treq_done(struct block_request *req, int result)
{
	struct treq *t = (struct treq *)((char *)req - offsetof(struct treq, req));
	t->result = result;
	t->calls++;
	done_calls++;
	if (t->hook)
		t->hook(t);
}

static void treq_init(struct treq *t, enum block_op op, uint64_t offset, uint64_t len,
		      const struct iovec *iov, unsigned iovcnt)
{
	*t = (struct treq){ .req = { .op = op, .offset = offset, .len = len, .iov = iov,
				     .iovcnt = iovcnt, .done = treq_done },
			    .result = INT_MIN };
}

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 7 + off / 4096 + 1);
}

/* A new file of `size` bytes holding pattern(); its path in `path`. */
static int make_file(const char *dir, char *path, uint64_t size)
{
	snprintf(path, PATH_MAX, "%s/vmon-bf-XXXXXX", dir);
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	static uint8_t buf[64 * KiB];
	for (uint64_t off = 0; off < size; off += sizeof(buf)) {
		uint64_t n = size - off < sizeof(buf) ? size - off : sizeof(buf);
		for (uint64_t i = 0; i < n; i++)
			buf[i] = pattern(off + i);
		if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n) {
			close(fd);
			return -1;
		}
	}
	close(fd);
	return 0;
}

/* Whether [off, off + len) of the file at path holds pattern() (zero: zeros). */
static bool file_holds(const char *path, uint64_t off, uint64_t len, bool zero)
{
	int fd = open(path, O_RDONLY);
	uint8_t *buf = malloc(len ? len : 1);
	bool ok = fd >= 0 && buf && pread(fd, buf, len, (off_t)off) == (ssize_t)len;
	for (uint64_t i = 0; ok && i < len; i++)
		ok = buf[i] == (zero ? 0 : pattern(off + i));
	free(buf);
	if (fd >= 0)
		close(fd);
	return ok;
}

static bool mem_holds(const uint8_t *buf, uint64_t off, uint64_t len, bool zero)
{
	for (uint64_t i = 0; i < len; i++)
		if (buf[i] != (zero ? 0 : pattern(off + i)))
			return false;
	return true;
}

static bool readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

/* The I/O thread's loop: wait on the eventfd, complete; until `target` done calls. */
static bool run_until(struct block_queue *q, unsigned long target)
{
	while (done_calls < target) {
		if (!readable(block_queue_fd(q), 10000))
			return false;
		block_queue_complete(q);
	}
	return true;
}

static struct block_file *open_file(const char *path, bool readonly, bool direct)
{
	struct block_file_config cfg = { .path = path, .readonly = readonly, .direct = direct };
	struct block_file *bf = NULL;
	const char *why = "";
	int ret = block_file_open(&cfg, &bf, &why);
	if (ret < 0)
		printf("# cannot open %s: %s\n", path, why);
	return bf;
}

static struct block_queue *new_queue(const struct block_file *bf, unsigned depth)
{
	struct block_queue *q = NULL;
	const char *why = "";
	if (block_queue_create(bf, depth, &q, &why) < 0)
		printf("# cannot create a queue: %s\n", why);
	return q;
}

/* Submits one request and waits for it; returns its result. */
static int run_one(struct block_queue *q, struct treq *t)
{
	unsigned long target = done_calls + 1;
	if (block_queue_submit(q, &t->req) < 0)
		return INT_MIN;
	block_queue_kick(q);
	if (!run_until(q, target))
		return INT_MIN + 1;
	return t->result;
}

static int try_open(const char *path, bool readonly, bool direct, const char **why)
{
	struct block_file_config cfg = { .path = path, .readonly = readonly, .direct = direct };
	struct block_file *bf = NULL;
	*why = "";
	int ret = block_file_open(&cfg, &bf, why);
	block_file_close(bf);
	return ret;
}

static void test_open_errors(void)
{
	char path[PATH_MAX];
	const char *why;

	snprintf(path, sizeof(path), "%s/vmon-bf-does-not-exist", tmpdir);
	CHECK(try_open(path, false, false, &why) == -ENOENT && !strcmp(why, "the file does not exist"),
	      "missing file: \"%s\"", why);
	CHECK(try_open(tmpdir, false, false, &why) < 0 &&
	      !strcmp(why, "not a regular file or block device"),
	      "directory, read-write: \"%s\"", why);
	CHECK(try_open(tmpdir, true, false, &why) == -EINVAL &&
	      !strcmp(why, "not a regular file or block device"),
	      "directory, read-only: \"%s\"", why);
	CHECK(try_open("/dev/null", false, false, &why) == -EINVAL &&
	      !strcmp(why, "not a regular file or block device"),
	      "character device: \"%s\"", why);

	snprintf(path, sizeof(path), "%s/vmon-bf-fifo-%d", tmpdir, (int)getpid());
	if (mkfifo(path, 0600) == 0) {
		CHECK(try_open(path, true, false, &why) < 0 &&
		      !strcmp(why, "not a regular file or block device"),
		      "FIFO without a writer: refused, without hanging: \"%s\"", why);
		unlink(path);
	}

	struct block_file_config cfg = { 0 };
	struct block_file *bf = NULL;
	CHECK(block_file_open(&cfg, &bf, &why) == -EINVAL && !bf, "no path: \"%s\"", why);

	CHECK(make_file(tmpdir, path, 1000) == 0, "make a 1000-byte file");
	CHECK(try_open(path, false, false, &why) == -EINVAL &&
	      !strcmp(why, "the image size must be a multiple of 512 bytes"),
	      "size not a multiple of 512: \"%s\"", why);
	unlink(path);

	CHECK(make_file(tmpdir, path, 0) == 0, "make an empty file");
	bf = open_file(path, false, false);
	CHECK(bf && block_file_size(bf) == 0, "an empty image opens, size 0");
	block_file_close(bf);
	unlink(path);

	CHECK(make_file(tmpdir, path, 3 * 512) == 0, "make a 1536-byte file");
	bf = open_file(path, true, false);
	CHECK(bf && block_file_size(bf) == 1536 && block_file_logical_block_size(bf) == 512 &&
	      block_file_readonly(bf) && block_file_mem_align(bf) == 1,
	      "getters: size 1536, block size 512, read-only, no memory alignment");
	struct iovec odd = { .iov_base = (void *)(uintptr_t)3, .iov_len = 7 };
	CHECK(bf && block_file_iov_aligned(bf, &odd, 1), "without direct=on any iovec is aligned");

	struct block_queue *q = NULL;
	CHECK(block_queue_create(bf, 0, &q, &why) == -EINVAL && !q, "depth 0 refused: \"%s\"", why);
	CHECK(block_queue_create(bf, BLOCK_QUEUE_MAX_DEPTH + 1, &q, &why) == -EINVAL && !q,
	      "depth above the maximum refused");
	block_file_close(bf);
	unlink(path);
}

static void test_readonly(void)
{
	char path[PATH_MAX];
	make_file(tmpdir, path, 64 * KiB);
	struct block_file *bf = open_file(path, true, false);
	struct block_queue *q = bf ? new_queue(bf, 8) : NULL;
	CHECK(q != NULL, "read-only image and queue");
	if (!q) {
		block_file_close(bf);
		unlink(path);
		return;
	}

	static uint8_t buf[4096];
	memset(buf, 0xaa, sizeof(buf));
	struct iovec iov = { buf, sizeof(buf) };
	struct treq w, d, z, f, r;
	treq_init(&w, BLOCK_OP_WRITE, 4096, 4096, &iov, 1);
	treq_init(&d, BLOCK_OP_DISCARD, 0, 8192, NULL, 0);
	treq_init(&z, BLOCK_OP_WRITE_ZEROES, 8192, 8192, NULL, 0);
	unsigned long target = done_calls + 3;
	CHECK(block_queue_submit(q, &w.req) == 0 && block_queue_submit(q, &d.req) == 0 &&
	      block_queue_submit(q, &z.req) == 0, "writes on a read-only file are accepted...");
	CHECK(w.calls == 0 && d.calls == 0 && z.calls == 0, "...done is not called inside submit");
	CHECK(readable(block_queue_fd(q), 0), "the eventfd is readable at once for rejected requests");
	CHECK(block_queue_complete(q) == 3 && done_calls == target, "complete delivers all three");
	CHECK(w.result == -EROFS && d.result == -EROFS && z.result == -EROFS,
	      "WRITE, DISCARD, WRITE_ZEROES: -EROFS (%d %d %d)", w.result, d.result, z.result);
	CHECK(file_holds(path, 0, 64 * KiB, false), "the file is untouched");

	treq_init(&r, BLOCK_OP_READ, 4096, 4096, &iov, 1);
	CHECK(run_one(q, &r) == 4096 && mem_holds(buf, 4096, 4096, false), "READ works");
	treq_init(&f, BLOCK_OP_FLUSH, 0, 0, NULL, 0);
	CHECK(run_one(q, &f) == 0, "FLUSH works");
	block_queue_destroy(q);
	block_file_close(bf);
	unlink(path);
}

static void test_multi_iovec(struct block_queue *q, const char *path)
{
	/* Write 4 KiB at 8 KiB from three iovecs of uneven sizes. */
	static uint8_t a[512], b[1536], c[2048], rd1[1024], rd2[3072];
	for (unsigned i = 0; i < 4096; i++) {
		uint8_t v = (uint8_t)(0xc3 ^ (i * 13));
		if (i < 512)
			a[i] = v;
		else if (i < 2048)
			b[i - 512] = v;
		else
			c[i - 2048] = v;
	}
	struct iovec wiov[3] = { { a, sizeof(a) }, { b, sizeof(b) }, { c, sizeof(c) } };
	struct treq w;
	treq_init(&w, BLOCK_OP_WRITE, 8192, 4096, wiov, 3);
	CHECK(run_one(q, &w) == 4096, "3-iovec WRITE of 4096 bytes: result %d", w.result);

	struct iovec riov[2] = { { rd1, sizeof(rd1) }, { rd2, sizeof(rd2) } };
	struct treq r;
	treq_init(&r, BLOCK_OP_READ, 8192, 4096, riov, 2);
	CHECK(run_one(q, &r) == 4096, "2-iovec READ of 4096 bytes: result %d", r.result);
	bool same = true;
	for (unsigned i = 0; i < 4096; i++) {
		uint8_t got = i < 1024 ? rd1[i] : rd2[i - 1024];
		same = same && got == (uint8_t)(0xc3 ^ (i * 13));
	}
	CHECK(same, "read back what was written, across differently cut iovecs");

	int fd = open(path, O_RDONLY);
	uint8_t file[4096];
	bool ok = fd >= 0 && pread(fd, file, 4096, 8192) == 4096;
	for (unsigned i = 0; ok && i < 4096; i++)
		ok = file[i] == (uint8_t)(0xc3 ^ (i * 13));
	close(fd);
	CHECK(ok, "the file holds it too");
	CHECK(file_holds(path, 0, 8192, false) && file_holds(path, 12288, 4096, false),
	      "neighbours untouched");
}

/* 64 random 4 KiB writes in flight at once, then 64 reads; depth 64. */
static void test_many_in_flight(const char *path, uint64_t size)
{
	struct block_file *bf = open_file(path, false, false);
	struct block_queue *q = bf ? new_queue(bf, 64) : NULL;
	if (!q) {
		CHECK(0, "queue of depth 64");
		block_file_close(bf);
		return;
	}
	enum { N = 64, BS = 4096 };
	unsigned blocks = (unsigned)(size / BS), idx[1024];
	for (unsigned i = 0; i < blocks; i++)
		idx[i] = i;
	srand(42);
	for (unsigned i = blocks - 1; i > 0; i--) {
		unsigned j = (unsigned)rand() % (i + 1), t = idx[i];
		idx[i] = idx[j];
		idx[j] = t;
	}
	static uint8_t wbuf[N][BS], rbuf[N][BS];
	static struct iovec wiov[N], riov[N];
	static struct treq req[N];
	for (unsigned i = 0; i < N; i++)
		for (unsigned k = 0; k < BS; k++)
			wbuf[i][k] = (uint8_t)rand();

	/* The file as it was, for the blocks no write touches. */
	static uint8_t snap[1024 * 4096];
	int fd = open(path, O_RDONLY);
	bool ok = fd >= 0 && size <= sizeof(snap) && pread(fd, snap, size, 0) == (ssize_t)size;
	close(fd);
	CHECK(ok, "snapshot of the file");

	unsigned long target = done_calls + N;
	int accepted = 0;
	for (unsigned i = 0; i < N; i++) {
		wiov[i] = (struct iovec){ wbuf[i], BS };
		treq_init(&req[i], BLOCK_OP_WRITE, (uint64_t)idx[i] * BS, BS, &wiov[i], 1);
		accepted += block_queue_submit(q, &req[i].req) == 0;
	}
	CHECK(accepted == N && block_queue_inflight(q) == N, "64 writes accepted, 64 in flight");
	struct treq extra;
	treq_init(&extra, BLOCK_OP_FLUSH, 0, 0, NULL, 0);
	CHECK(block_queue_submit(q, &extra.req) == -EBUSY && extra.calls == 0,
	      "the 65th request: -EBUSY, not accepted");
	CHECK(block_queue_kick(q) == 0, "one kick submits the batch");
	CHECK(run_until(q, target), "all 64 writes complete");
	ok = block_queue_inflight(q) == 0;
	for (unsigned i = 0; i < N; i++)
		ok = ok && req[i].calls == 1 && req[i].result == BS;
	CHECK(ok, "each write done once with result 4096");

	target = done_calls + N;
	for (unsigned i = 0; i < N; i++) {
		riov[i] = (struct iovec){ rbuf[i], BS };
		treq_init(&req[i], BLOCK_OP_READ, (uint64_t)idx[i] * BS, BS, &riov[i], 1);
		block_queue_submit(q, &req[i].req);
	}
	block_queue_kick(q);
	CHECK(run_until(q, target), "all 64 reads complete");
	ok = true;
	for (unsigned i = 0; i < N; i++)
		ok = ok && req[i].result == BS && !memcmp(rbuf[i], wbuf[i], BS);
	CHECK(ok, "each read returns what its write wrote");

	fd = open(path, O_RDONLY);
	uint8_t file[BS];
	ok = fd >= 0;
	for (unsigned i = 0; ok && i < N; i++)
		ok = pread(fd, file, BS, (off_t)idx[i] * BS) == BS && !memcmp(file, wbuf[i], BS);
	for (unsigned i = N; ok && i < blocks; i++) /* the blocks not written */
		ok = pread(fd, file, BS, (off_t)idx[i] * BS) == BS &&
		     !memcmp(file, snap + (size_t)idx[i] * BS, BS);
	close(fd);
	CHECK(ok, "the file matches, and blocks not written are untouched");
	block_queue_destroy(q);
	block_file_close(bf);
}

static void test_flush(struct block_queue *q)
{
	struct treq f;
	treq_init(&f, BLOCK_OP_FLUSH, 0, 0, NULL, 0);
	CHECK(run_one(q, &f) == 0 && f.calls == 1, "FLUSH completes with 0");
}

static bool is_tmpfs(const char *dir)
{
	struct statfs s;
	return statfs(dir, &s) == 0 && s.f_type == 0x01021994; /* TMPFS_MAGIC */
}

/* Whether the filesystem under dir takes fallocate(mode). */
static bool fs_takes(const char *dir, int mode)
{
	char path[PATH_MAX];
	if (make_file(dir, path, 8192) < 0)
		return false;
	int fd = open(path, O_RDWR);
	bool ok = fd >= 0 && fallocate(fd, mode | FALLOC_FL_KEEP_SIZE, 0, 4096) == 0;
	if (fd >= 0)
		close(fd);
	unlink(path);
	return ok;
}

/* DISCARD or WRITE_ZEROES on [16K, 48K) of a 64 KiB file holding the pattern. */
static void test_zeroing(const char *dir, enum block_op op, const char *name)
{
	char path[PATH_MAX];
	if (make_file(dir, path, 64 * KiB) < 0) {
		CHECK(0, "make a file in %s", dir);
		return;
	}
	struct block_file *bf = open_file(path, false, false);
	struct block_queue *q = bf ? new_queue(bf, 8) : NULL;
	if (!q) {
		CHECK(0, "queue on %s", path);
		block_file_close(bf);
		unlink(path);
		return;
	}
	struct stat before, after;
	stat(path, &before);
	struct treq t;
	treq_init(&t, op, 16 * KiB, 32 * KiB, NULL, 0);
	CHECK(run_one(q, &t) == 0, "%s in %s: result %d", name, dir, t.result);
	stat(path, &after);
	CHECK(after.st_size == 64 * KiB, "%s: the file keeps its size", name);

	static uint8_t buf[64 * KiB];
	struct iovec iov = { buf, sizeof(buf) };
	struct treq r;
	treq_init(&r, BLOCK_OP_READ, 0, sizeof(buf), &iov, 1);
	CHECK(run_one(q, &r) == 64 * KiB, "read the whole file back");
	/* A DISCARD where holes cannot be punched is a hint left untaken. */
	bool zeros = op == BLOCK_OP_WRITE_ZEROES || fs_takes(dir, FALLOC_FL_PUNCH_HOLE);
	CHECK(mem_holds(buf + 16 * KiB, 16 * KiB, 32 * KiB, zeros), "%s: the range reads as %s", name,
	      zeros ? "zeros" : "before (no holes here)");
	CHECK(mem_holds(buf, 0, 16 * KiB, false) && mem_holds(buf + 48 * KiB, 48 * KiB, 16 * KiB, false),
	      "%s: the rest is untouched", name);
	printf("# %s in %s: %lld -> %lld blocks allocated\n", name, dir,
	       (long long)before.st_blocks, (long long)after.st_blocks);

	/* A second one, so the queue's remembered fallback is used too. */
	treq_init(&t, op, 0, 4 * KiB, NULL, 0);
	CHECK(run_one(q, &t) == 0 && file_holds(path, 0, 4 * KiB, zeros), "%s again", name);
	block_queue_destroy(q);
	block_file_close(bf);
	unlink(path);
}

static void test_bounds(struct block_queue *q, uint64_t size)
{
	static uint8_t buf[1024];
	struct iovec iov = { buf, 512 }, iov2 = { buf, 1024 }, iov100 = { buf, 100 };
	struct {
		const char *what;
		enum block_op op;
		uint64_t offset, len;
		const struct iovec *iov;
		unsigned iovcnt;
		int want;
	} cases[] = {
		{ "READ starting at the end", BLOCK_OP_READ, size, 512, &iov, 1, -EINVAL },
		{ "READ crossing the end", BLOCK_OP_READ, size - 512, 1024, &iov2, 1, -EINVAL },
		{ "WRITE far past the end", BLOCK_OP_WRITE, size * 4, 512, &iov, 1, -EINVAL },
		{ "READ whose offset + len wraps", BLOCK_OP_READ, UINT64_MAX - 511, 1024, &iov2, 1, -EINVAL },
		{ "DISCARD crossing the end", BLOCK_OP_DISCARD, size - 512, 1024, NULL, 0, -EINVAL },
		{ "WRITE_ZEROES whose offset + len wraps", BLOCK_OP_WRITE_ZEROES, 512, UINT64_MAX - 511, NULL, 0, -EINVAL },
		{ "READ at an unaligned offset", BLOCK_OP_READ, 100, 512, &iov, 1, -EINVAL },
		{ "READ of an unaligned length", BLOCK_OP_READ, 0, 100, &iov100, 1, -EINVAL },
		{ "READ whose iovecs do not add up to len", BLOCK_OP_READ, 0, 1024, &iov, 1, -EINVAL },
		{ "READ with len but no iovecs", BLOCK_OP_READ, 0, 512, NULL, 0, -EINVAL },
		{ "an unknown op", (enum block_op)99, 0, 512, &iov, 1, -EINVAL },
		{ "READ of the last block", BLOCK_OP_READ, size - 512, 512, &iov, 1, 512 },
		{ "READ of nothing at the end", BLOCK_OP_READ, size, 0, NULL, 0, 0 },
		{ "DISCARD of nothing", BLOCK_OP_DISCARD, 0, 0, NULL, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct treq t;
		treq_init(&t, cases[i].op, cases[i].offset, cases[i].len, cases[i].iov, cases[i].iovcnt);
		int got = run_one(q, &t);
		CHECK(got == cases[i].want && t.calls == 1, "%s: %d", cases[i].what, got);
	}

	/* BLOCK_MAX_IOV iovecs are fine, one more is not. */
	enum { N = BLOCK_MAX_IOV + 1 };
	static struct iovec many[N];
	static uint8_t big[N * 512];
	for (unsigned i = 0; i < N; i++)
		many[i] = (struct iovec){ big + i * 512, 512 };
	struct treq t;
	treq_init(&t, BLOCK_OP_READ, 0, (uint64_t)N * 512, many, N);
	CHECK(run_one(q, &t) == -EINVAL, "READ with %u iovecs: -EINVAL", N);
	treq_init(&t, BLOCK_OP_READ, 0, (uint64_t)BLOCK_MAX_IOV * 512, many, BLOCK_MAX_IOV);
	CHECK(run_one(q, &t) == (int)(BLOCK_MAX_IOV * 512), "READ with %u iovecs: %d", BLOCK_MAX_IOV, t.result);
}

/* A READ longer than BLOCK_MAX_TRANSFER, inside a (sparse) 4 GiB image. */
static void test_max_transfer(void)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/vmon-bf-XXXXXX", tmpdir);
	int fd = mkstemp(path);
	bool sparse = fd >= 0 && ftruncate(fd, 4ull << 30) == 0;
	if (fd >= 0)
		close(fd);
	struct block_file *bf = sparse ? open_file(path, false, false) : NULL;
	struct block_queue *q = bf ? new_queue(bf, 4) : NULL;
	if (!q) {
		printf("# skipped: no sparse 4 GiB file in %s\n", tmpdir);
	} else {
		/* Never touched: the request is refused before any I/O. */
		static uint8_t buf[512];
		struct iovec iov[3] = { { buf, BLOCK_MAX_TRANSFER }, { buf, 512 }, { buf, 512 } };
		struct treq t;
		treq_init(&t, BLOCK_OP_READ, 0, BLOCK_MAX_TRANSFER + 1024ull, iov, 3);
		CHECK(run_one(q, &t) == -EINVAL, "READ of 1 GiB + 1 KiB (aliased iovecs): -EINVAL");
	}
	block_queue_destroy(q);
	block_file_close(bf);
	unlink(path);
}

static void test_eventfd(struct block_queue *q)
{
	int fd = block_queue_fd(q);
	block_queue_complete(q);
	CHECK(!readable(fd, 0), "idle queue: the eventfd is not readable");

	static uint8_t buf[4096];
	struct iovec iov = { buf, sizeof(buf) };
	struct treq r;
	treq_init(&r, BLOCK_OP_READ, 0, sizeof(buf), &iov, 1);
	block_queue_submit(q, &r.req);
	CHECK(!readable(fd, 0) && r.calls == 0, "queued, not kicked: nothing happens");
	block_queue_kick(q);
	CHECK(readable(fd, 5000), "kicked: the eventfd becomes readable");
	CHECK(r.calls == 0, "done waits for block_queue_complete");
	CHECK(block_queue_complete(q) == 1 && r.calls == 1 && r.result == 4096,
	      "complete reaps it: returns 1, result 4096");
	CHECK(!readable(fd, 0), "after complete the eventfd is drained");

	treq_init(&r, BLOCK_OP_READ, 0, sizeof(buf), &iov, 1);
	r.req.done = NULL;
	CHECK(block_queue_submit(q, NULL) == -EINVAL && block_queue_submit(q, &r.req) == -EINVAL &&
	      block_queue_inflight(q) == 0, "no request or no done: -EINVAL, nothing accepted");
}

/* Each done submits the next write: complete must submit what done queued. */
struct chain {
	struct block_queue *q;
	struct treq req[10];
	struct iovec iov[10];
	uint8_t buf[10][512];
	unsigned next;
};

static void chain_next(struct treq *t)
{
	struct chain *c = t->ctx;
	if (c->next == 10)
		return;
	struct treq *n = &c->req[c->next++];
	if (block_queue_submit(c->q, &n->req) < 0)
		printf("# chain: submit failed\n");
}

static void test_chain(struct block_queue *q, const char *path)
{
	static struct chain c;
	c.q = q;
	c.next = 1;
	for (unsigned i = 0; i < 10; i++) {
		memset(c.buf[i], 0x10 + i, 512);
		c.iov[i] = (struct iovec){ c.buf[i], 512 };
		treq_init(&c.req[i], BLOCK_OP_WRITE, 64 * KiB + i * 512, 512, &c.iov[i], 1);
		c.req[i].hook = chain_next;
		c.req[i].ctx = &c;
	}
	unsigned long target = done_calls + 10;
	block_queue_submit(q, &c.req[0].req);
	block_queue_kick(q);
	CHECK(run_until(q, target), "a chain of 10 writes, each submitted by the previous done");
	bool ok = true;
	for (unsigned i = 0; i < 10; i++)
		ok = ok && c.req[i].result == 512;
	int fd = open(path, O_RDONLY);
	uint8_t b[512];
	for (unsigned i = 0; ok && i < 10; i++) {
		ok = pread(fd, b, 512, (off_t)(64 * KiB + i * 512)) == 512;
		for (unsigned k = 0; ok && k < 512; k++)
			ok = b[k] == 0x10 + i;
	}
	close(fd);
	CHECK(ok, "all 10 written");
}

static void test_drain_and_destroy(const char *path)
{
	struct block_file *bf = open_file(path, false, false);
	struct block_queue *q = bf ? new_queue(bf, 16) : NULL;
	if (!q) {
		CHECK(0, "queue for drain");
		block_file_close(bf);
		return;
	}
	static uint8_t buf[16][64 * KiB];
	static struct iovec iov[16];
	static struct treq t[16];
	for (unsigned i = 0; i < 15; i++) {
		memset(buf[i], 0x40 + i, sizeof(buf[i]));
		iov[i] = (struct iovec){ buf[i], sizeof(buf[i]) };
		treq_init(&t[i], BLOCK_OP_WRITE, i * 64 * KiB, 64 * KiB, &iov[i], 1);
		block_queue_submit(q, &t[i].req);
	}
	treq_init(&t[15], BLOCK_OP_READ, 1024 * KiB, 512, &iov[0], 1); /* past the end */
	block_queue_submit(q, &t[15].req); /* rejected: waits on the rejected list */
	block_queue_kick(q);
	unsigned long before = done_calls;
	block_queue_drain(q);
	bool ok = block_queue_inflight(q) == 0 && done_calls == before + 16;
	for (unsigned i = 0; i < 15; i++)
		ok = ok && t[i].calls == 1 && t[i].result == 64 * KiB;
	CHECK(ok && t[15].result == -EINVAL, "drain waits for all 16 and calls done for each");

	/* Destroy with writes in flight: it waits for the kernel, calls no done. */
	for (unsigned i = 0; i < 16; i++) {
		treq_init(&t[i], BLOCK_OP_WRITE, i * 64 * KiB, 64 * KiB, &iov[i % 15], 1);
		block_queue_submit(q, &t[i].req);
	}
	block_queue_kick(q);
	before = done_calls;
	block_queue_destroy(q);
	CHECK(done_calls == before, "destroy with 16 writes in flight returns, calls no done");
	block_file_close(bf);
}

/*
 * Short transfers. A read that crosses the file's real end (the file was
 * truncated behind the backend's back) comes back short; the backend asks
 * for the rest, which is then at the end of file: -EIO. To see the rest
 * succeed, a second request's done (which runs in the same
 * block_queue_complete, after the short read was reaped and its remainder
 * queued, before it is submitted) puts the file back.
 */
struct restore {
	const char *path;
	uint64_t size;
};

static void restore_file(struct treq *t)
{
	const struct restore *r = t->ctx;
	int fd = open(r->path, O_WRONLY);
	uint8_t b[4096];
	for (uint64_t off = r->size - 4096, i = 0; i < 4096; i++)
		b[i] = pattern(off + i);
	if (fd < 0 || ftruncate(fd, (off_t)r->size) < 0 || pwrite(fd, b, 4096, (off_t)(r->size - 4096)) != 4096)
		printf("# cannot restore %s\n", r->path);
	if (fd >= 0)
		close(fd);
}

static void restore_limit(struct treq *t)
{
	(void)t;
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
	getrlimit(RLIMIT_FSIZE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_FSIZE, &rl);
}

/* Waits until the eventfd says a CQE was posted, consuming the signal. */
static bool cqe_posted(struct block_queue *q)
{
	uint64_t v;
	return readable(block_queue_fd(q), 5000) && read(block_queue_fd(q), &v, sizeof(v)) == sizeof(v);
}

static void test_short_read(void)
{
	char path[PATH_MAX];
	enum { SIZE = 16 * KiB };
	make_file(tmpdir, path, SIZE);
	struct block_file *bf = open_file(path, false, false);
	struct block_queue *q = bf ? new_queue(bf, 8) : NULL;
	if (!q) {
		CHECK(0, "queue for short reads");
		block_file_close(bf);
		unlink(path);
		return;
	}
	/* Iovecs cut so that the short read ends inside the second one. */
	static uint8_t buf[8192];
	struct iovec iov[2] = { { buf, 3072 }, { buf + 3072, 5120 } };
	struct treq r, f;

	CHECK(truncate(path, SIZE - 4096) == 0, "truncate the file by 4 KiB behind the backend");
	treq_init(&r, BLOCK_OP_READ, 8192, 8192, iov, 2);
	CHECK(run_one(q, &r) == -EIO, "READ across the real end of file: -EIO (%d)", r.result);
	restore_file(&(struct treq){ .ctx = &(struct restore){ path, SIZE } });

	memset(buf, 0, sizeof(buf));
	CHECK(truncate(path, SIZE - 4096) == 0, "truncate again");
	treq_init(&r, BLOCK_OP_READ, 8192, 8192, iov, 2);
	block_queue_submit(q, &r.req);
	block_queue_kick(q);
	bool posted = cqe_posted(q);
	treq_init(&f, BLOCK_OP_FLUSH, 0, 0, NULL, 0);
	f.hook = restore_file;
	f.ctx = &(struct restore){ path, SIZE };
	block_queue_submit(q, &f.req);
	block_queue_kick(q);
	posted = posted && cqe_posted(q);
	CHECK(posted, "both completions posted, the short read's first");
	CHECK(block_queue_complete(q) == 1 && f.calls == 1 && r.calls == 0,
	      "complete: the flush is done, the short read is not (its rest is queued)");
	CHECK(run_until(q, done_calls + 1) && r.result == 8192,
	      "the rest is read after the file grew back: result %d", r.result);
	CHECK(mem_holds(buf, 8192, 8192, false), "all 8 KiB are right, both sides of the cut");

	block_queue_destroy(q);
	block_file_close(bf);
	unlink(path);
}

/* Short writes: RLIMIT_FSIZE cuts a write short at the limit. */
static void test_short_write(void)
{
	char path[PATH_MAX];
	enum { SIZE = 16 * KiB };
	make_file(tmpdir, path, SIZE);
	struct block_file *bf = open_file(path, false, false);
	struct block_queue *q = bf ? new_queue(bf, 8) : NULL;
	struct rlimit old;
	if (!q || getrlimit(RLIMIT_FSIZE, &old) < 0 || old.rlim_max < SIZE) {
		printf("# skipped short writes: no queue or a hard RLIMIT_FSIZE\n");
		block_queue_destroy(q);
		block_file_close(bf);
		unlink(path);
		return;
	}
	signal(SIGXFSZ, SIG_IGN);
	static uint8_t buf[8192];
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)~pattern(8192 + i);
	struct iovec iov[2] = { { buf, 3072 }, { buf + 3072, 5120 } };
	struct treq w, f;

	struct rlimit lim = { SIZE - 4096, old.rlim_max };
	CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "RLIMIT_FSIZE 12 KiB");
	treq_init(&w, BLOCK_OP_WRITE, 8192, 8192, iov, 2);
	int got = run_one(q, &w);
	CHECK(got == -EFBIG, "WRITE across the limit: the rest fails with -EFBIG (%d)", got);

	treq_init(&w, BLOCK_OP_WRITE, 8192, 8192, iov, 2);
	block_queue_submit(q, &w.req);
	block_queue_kick(q);
	bool posted = cqe_posted(q);
	treq_init(&f, BLOCK_OP_FLUSH, 0, 0, NULL, 0);
	f.hook = restore_limit;
	block_queue_submit(q, &f.req);
	block_queue_kick(q);
	posted = posted && cqe_posted(q);
	CHECK(posted, "both completions posted, the short write's first");
	CHECK(block_queue_complete(q) == 1 && f.calls == 1 && w.calls == 0,
	      "complete: the flush is done, the short write is not");
	CHECK(run_until(q, done_calls + 1) && w.result == 8192,
	      "the rest is written once the limit is lifted: result %d", w.result);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);

	int fd = open(path, O_RDONLY);
	uint8_t file[8192];
	bool ok = fd >= 0 && pread(fd, file, sizeof(file), 8192) == (ssize_t)sizeof(file) &&
		  !memcmp(file, buf, sizeof(file));
	close(fd);
	CHECK(ok, "the file holds all 8 KiB");
	block_queue_destroy(q);
	block_file_close(bf);
	unlink(path);
}

static void test_direct(const char *dir)
{
	char path[PATH_MAX];
	if (make_file(dir, path, 64 * KiB) < 0)
		return;
	struct block_file_config cfg = { .path = path, .direct = true };
	struct block_file *bf = NULL;
	const char *why = "";
	int ret = block_file_open(&cfg, &bf, &why);
	if (ret < 0) {
		printf("# direct=on in %s: refused: %s\n", dir, why);
		CHECK(ret == -EINVAL && strstr(why, "direct I/O"), "direct=on in %s: a clear error", dir);
		unlink(path);
		return;
	}
	uint32_t bs = block_file_logical_block_size(bf), align = block_file_mem_align(bf);
	printf("# direct=on in %s: supported, block size %u, memory alignment %u\n", dir, bs, align);
	CHECK(bs >= 512 && !(bs & (bs - 1)) && align >= 1 && !(align & (align - 1)),
	      "direct=on in %s: block size and alignment are powers of two", dir);

	uint8_t *buf = aligned_alloc(4096, 8192);
	struct iovec iov = { buf, 8192 };
	CHECK(block_file_iov_aligned(bf, &iov, 1), "a page-aligned buffer is aligned");
	struct iovec odd = { buf + 1, 4096 };
	CHECK(align == 1 || !block_file_iov_aligned(bf, &odd, 1), "an odd address is not");

	struct block_queue *q = new_queue(bf, 4);
	memset(buf, 0x5e, 8192);
	struct treq t;
	treq_init(&t, BLOCK_OP_WRITE, 16 * KiB, 8192, &iov, 1);
	CHECK(q && run_one(q, &t) == 8192, "direct WRITE: %d", t.result);
	memset(buf, 0, 8192);
	treq_init(&t, BLOCK_OP_READ, 16 * KiB, 8192, &iov, 1);
	bool ok = q && run_one(q, &t) == 8192;
	for (unsigned i = 0; ok && i < 8192; i++)
		ok = buf[i] == 0x5e;
	CHECK(ok, "direct READ returns it");
	treq_init(&t, BLOCK_OP_WRITE_ZEROES, 16 * KiB, 4096, NULL, 0);
	CHECK(q && run_one(q, &t) == 0 && file_holds(path, 16 * KiB, 4096, true),
	      "direct WRITE_ZEROES");
	block_queue_destroy(q);
	block_file_close(bf);
	free(buf);
	unlink(path);
}

int main(void)
{
	tmpdir = getenv("TMPDIR");
	if (!tmpdir || !tmpdir[0])
		tmpdir = "/tmp";
	setvbuf(stdout, NULL, _IOLBF, 0);

	test_open_errors();
	test_readonly();

	char path[PATH_MAX];
	enum { SIZE = 1024 * KiB };
	make_file(tmpdir, path, SIZE);
	struct block_file *bf = open_file(path, false, false);
	struct block_queue *q = bf ? new_queue(bf, 128) : NULL;
	CHECK(q != NULL, "a 1 MiB image and a queue of depth 128");
	if (q) {
		CHECK(block_file_size(bf) == SIZE && !block_file_readonly(bf), "size 1 MiB, writable");
		test_multi_iovec(q, path);
		test_flush(q);
		test_bounds(q, SIZE);
		test_eventfd(q);
		test_chain(q, path);
		block_queue_destroy(q);
		block_file_close(bf);
		test_many_in_flight(path, SIZE);
		test_drain_and_destroy(path);
	}
	unlink(path);

	printf("# %s: ZERO_RANGE %s, PUNCH_HOLE %s\n", tmpdir,
	       fs_takes(tmpdir, FALLOC_FL_ZERO_RANGE) ? "yes" : "no",
	       fs_takes(tmpdir, FALLOC_FL_PUNCH_HOLE) ? "yes" : "no");
	test_zeroing(tmpdir, BLOCK_OP_DISCARD, "DISCARD");
	test_zeroing(tmpdir, BLOCK_OP_WRITE_ZEROES, "WRITE_ZEROES");
	if (is_tmpfs("/dev/shm")) {
		printf("# /dev/shm (tmpfs): ZERO_RANGE %s, PUNCH_HOLE %s\n",
		       fs_takes("/dev/shm", FALLOC_FL_ZERO_RANGE) ? "yes" : "no",
		       fs_takes("/dev/shm", FALLOC_FL_PUNCH_HOLE) ? "yes" : "no");
		test_zeroing("/dev/shm", BLOCK_OP_WRITE_ZEROES, "WRITE_ZEROES");
		test_zeroing("/dev/shm", BLOCK_OP_DISCARD, "DISCARD");
	}

	test_max_transfer();
	test_short_read();
	test_short_write();
	test_direct(tmpdir);
	if (is_tmpfs("/dev/shm"))
		test_direct("/dev/shm");
	return tap_finish();
}
