/*
 * virtio-blk on fake guest RAM and a real temporary image: a fake driver
 * builds request chains, the test runs what the worker would run
 * (virtio_blk_serve, then completions) and reads the answers back from the
 * status bytes, the used ring and the image. One test starts the real
 * worker through the device status.
 *
 * `test_virtio_blk --fuzz-seeds DIR` writes the seed corpus of
 * fuzz_virtio_blk (its input layout is described there) with the same
 * fake driver.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backends/block_file.h"
#include "devices/virtio/blk.h"
#include "fake_iommu.h"
#include "fake_virtq.h"
#include "fuzz_seed.h"
#include "migration/state.h"
#include "tap.h"
#include "virtio/virtio.h"

#define T_IN      0
#define T_OUT     1
#define T_FLUSH   4
#define T_GET_ID  8
#define T_DISCARD 11
#define T_WZ      13
#define S_OK      0
#define S_IOERR   1
#define S_UNSUPP  2

#define IMAGE_SECTORS 256 /* 128 KiB */

/* --- the fake driver --- */

static void drv_init(struct drv *d, uint8_t *ram, uint64_t gpa, uint64_t size, uint64_t desc_off,
		     uint64_t avail_off, uint64_t used_off, uint64_t buf_off, uint16_t qsize)
{
	*d = (struct drv){ .ram = ram, .ram_gpa = gpa, .buf_end = gpa + size, .desc = gpa + desc_off,
			   .avail = gpa + avail_off, .used = gpa + used_off, .qsize = qsize,
			   .buf_start = gpa + buf_off, .next_buf = gpa + buf_off };
}



/* The used element `k` (counting from 0 since the start). */
static void used_elem(struct drv *d, uint16_t k, uint32_t *id, uint32_t *len)
{
	uint64_t e = d->used + 4 + 8ull * (k % d->qsize);
	*id = get32(d, e);
	*len = get32(d, e + 4);
}

/* Segments of a request. */
static struct seg hdr_seg(struct drv *d, uint32_t type, uint64_t sector)
{
	uint64_t gpa = drv_alloc(d, 16);
	uint32_t t = htole32(type), zero = 0;
	uint64_t s = htole64(sector);
	memcpy(host(d, gpa), &t, 4);
	memcpy(host(d, gpa + 4), &zero, 4);
	memcpy(host(d, gpa + 8), &s, 8);
	return (struct seg){ gpa, 16, false };
}

static struct seg status_seg(struct drv *d)
{
	uint64_t gpa = drv_alloc(d, 1);
	*(uint8_t *)host(d, gpa) = 0xee;
	return (struct seg){ gpa, 1, true };
}

static struct seg data_seg(struct drv *d, uint32_t len, bool write, uint8_t fill)
{
	uint64_t gpa = drv_alloc(d, len);
	memset(host(d, gpa), fill, len);
	return (struct seg){ gpa, len, write };
}

static struct seg range_seg(struct drv *d, uint64_t sector, uint32_t num, uint32_t flags)
{
	uint64_t gpa = drv_alloc(d, 16);
	uint64_t s = htole64(sector);
	uint32_t n = htole32(num), f = htole32(flags);
	memcpy(host(d, gpa), &s, 8);
	memcpy(host(d, gpa + 8), &n, 4);
	memcpy(host(d, gpa + 12), &f, 4);
	return (struct seg){ gpa, 16, false };
}

/* --- the device under test --- */

struct bench {
	struct drv d;
	uint8_t *ram;
	struct guest_mem gm;
	struct virtio_blk blk;
	char path[64];
	int fd;                  /* the image, for checking behind the device's back */
	atomic_int notifies;
	atomic_int config_notifies;
};

static void fake_notify_queue(void *ctx, unsigned q, uint16_t vector)
{
	(void)q, (void)vector;
	atomic_fetch_add(&((struct bench *)ctx)->notifies, 1);
}

static void fake_notify_config(void *ctx, uint16_t vector)
{
	(void)vector;
	atomic_fetch_add(&((struct bench *)ctx)->config_notifies, 1);
}

#define RAM_GPA  0x100000ull
#define RAM_SIZE (4ull << 20)

/* Sector s of the fresh image holds bytes (s & 0xff). */
static void make_image(struct bench *b)
{
	strcpy(b->path, "/tmp/vmon-test-blk-XXXXXX");
	b->fd = mkstemp(b->path);
	uint8_t sector[512];
	for (unsigned s = 0; b->fd >= 0 && s < IMAGE_SECTORS; s++) {
		memset(sector, (int)(s & 0xff), sizeof(sector));
		if (pwrite(b->fd, sector, sizeof(sector), 512ll * s) != 512)
			break;
	}
	if (b->fd < 0) {
		printf("Bail out! cannot create a temporary image\n");
		exit(1);
	}
}

/* Configures queue 0 the way a driver would, without the worker. */
static void enable_queue(struct bench *b)
{
	struct virtio_queue *q = &b->blk.vd.queues[0];
	q->vq = (struct virtq){ .dma = b->blk.vd.dma, .size = b->d.qsize, .desc_gpa = b->d.desc,
				.avail_gpa = b->d.avail, .used_gpa = b->d.used,
				.event_idx = b->d.event_idx, .indirect = true };
	if (virtq_init(&q->vq) != 0) {
		printf("Bail out! virtq_init refused the fake queue\n");
		exit(1);
	}
	q->enabled = true;
}

static void bench_start(struct bench *b, struct virtio_blk_config cfg)
{
	memset(b, 0, sizeof(*b));
	make_image(b);
	b->ram = calloc(1, RAM_SIZE);
	if (!b->ram) {
		printf("Bail out! no memory for the fake RAM\n");
		exit(1);
	}
	guest_mem_init_flat(&b->gm, b->ram, RAM_GPA, RAM_SIZE);
	drv_init(&b->d, b->ram, RAM_GPA, RAM_SIZE, 0, 0x1000, 0x2000, 0x10000, 256);
	cfg.path = b->path;
	const char *why = NULL;
	int ret = virtio_blk_init(&b->blk, &cfg, &b->gm, &why);
	if (ret < 0) {
		printf("Bail out! virtio_blk_init: %s (%d)\n", why ? why : "?", ret);
		exit(1);
	}
	b->blk.vd.transport = (struct virtio_transport){ .notify_queue = fake_notify_queue,
							 .notify_config = fake_notify_config, .ctx = b };
	enable_queue(b);
}

static void bench_stop(struct bench *b)
{
	virtio_blk_destroy(&b->blk);
	close(b->fd);
	unlink(b->path);
	free(b->ram);
}

static struct virtio_blk_config rw_cfg(void)
{
	return (struct virtio_blk_config){ .serial = "vmon-disk-0" };
}

/* Offers the chain, runs the device until idle, and returns the status byte. */
static uint8_t run(struct bench *b, const struct seg *segs, unsigned n, uint32_t *used_len)
{
	uint16_t before = used_idx(&b->d);
	drv_offer(&b->d, segs, n);
	virtio_blk_serve(&b->blk.vd, 0);
	virtio_blk_wait(&b->blk, 0);
	uint32_t id = 0, len = 0;
	if (used_idx(&b->d) == (uint16_t)(before + 1))
		used_elem(&b->d, before, &id, &len);
	else
		len = UINT32_MAX;
	if (used_len)
		*used_len = len;
	const struct seg *last = &segs[n - 1];
	return last->write ? *(uint8_t *)host(&b->d, last->gpa + last->len - 1) : 0xee;
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static bool image_is(struct bench *b, uint64_t sector, unsigned sectors, uint8_t v)
{
	uint8_t buf[512];
	for (unsigned s = 0; s < sectors; s++)
		if (pread(b->fd, buf, 512, 512ll * (sector + s)) != 512 || !all_bytes(buf, 512, v))
			return false;
	return true;
}

/* --- tests --- */

static void test_config(void)
{
	struct bench b;
	bench_start(&b, rw_cfg());
	struct virtio_device *vd = &b.blk.vd;
	uint8_t cfg[64];
	memset(cfg, 0xcc, sizeof(cfg));
	vd->ops->config_read(vd, 0, cfg, 60);
	uint64_t cap;
	uint32_t seg_max, blk_size, v32;
	uint16_t nq;
	memcpy(&cap, cfg, 8);
	memcpy(&seg_max, cfg + 12, 4);
	memcpy(&blk_size, cfg + 20, 4);
	memcpy(&nq, cfg + 34, 2);
	CHECK(le64toh(cap) == IMAGE_SECTORS, "capacity in 512-byte sectors");
	CHECK(le32toh(seg_max) == VIRTIO_BLK_SEG_MAX && le32toh(seg_max) <= BLOCK_MAX_IOV - 2, "seg_max");
	CHECK(le32toh(blk_size) == 512 && le16toh(nq) == 1, "blk_size and num_queues");
	memcpy(&v32, cfg + 40, 4);
	CHECK(le32toh(v32) == 1, "max_discard_seg = 1");
	memcpy(&v32, cfg + 52, 4);
	CHECK(le32toh(v32) == 1 && cfg[56] == 0, "max_write_zeroes_seg = 1, write_zeroes_may_unmap = 0");
	memcpy(&v32, cfg + 36, 4);
	CHECK(le32toh(v32) > 0, "max_discard_sectors");
	CHECK(vd->config_size == 60, "config_size covers the struct up to unused1");

	uint8_t two[2] = { 0xcc, 0xcc };
	vd->ops->config_read(vd, 1, two, 2);
	CHECK(two[0] == 1 && two[1] == 0, "an unaligned read inside capacity (256 = 0x100)");
	uint8_t past[4] = { 0xcc, 0xcc, 0xcc, 0xcc };
	vd->ops->config_read(vd, 58, past, 4);
	CHECK(all_bytes(past, 4, 0), "a read running past the end gets zeros there");
	uint8_t junk[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	vd->ops->config_write(vd, 0, junk, 8);
	vd->ops->config_read(vd, 0, cfg, 8);
	memcpy(&cap, cfg, 8);
	CHECK(le64toh(cap) == IMAGE_SECTORS, "writes to the config space are ignored");

	uint32_t f0 = virtio_device_features(vd, 0), f1 = virtio_device_features(vd, 1);
	uint32_t want = 1u << 2 | 1u << 6 | 1u << 9 | 1u << 13 | 1u << 14 | 1u << 28 | 1u << 29;
	CHECK((f0 & want) == want && !(f0 & (1u << 5)) && !(f0 & (1u << 12)) && (f1 & 1),
	      "features: SEG_MAX BLK_SIZE FLUSH DISCARD WRITE_ZEROES EVENT_IDX INDIRECT VERSION_1, no RO, no MQ");
	bench_stop(&b);

	struct virtio_blk_config mq = rw_cfg();
	mq.queues = 4;
	mq.readonly = true;
	bench_start(&b, mq);
	vd = &b.blk.vd;
	vd->ops->config_read(vd, 34, &nq, 2);
	f0 = virtio_device_features(vd, 0);
	CHECK(le16toh(nq) == 4 && (f0 & (1u << 12)) && (f0 & (1u << 5)) && vd->nr_queues == 4,
	      "queues=4 readonly: num_queues 4, MQ and RO offered");
	bench_stop(&b);

	struct virtio_blk_config unsafe = rw_cfg();
	unsafe.no_flush = true;
	bench_start(&b, unsafe);
	f0 = virtio_device_features(&b.blk.vd, 0);
	CHECK(!(f0 & (1u << 9)) && (f0 & (1u << 2)), "cache_type Unsafe: FLUSH not offered, the rest still are");
	bench_stop(&b);

	struct virtio_blk_config bad = rw_cfg();
	bad.serial = "123456789012345678901";
	bad.path = "/nonexistent";
	struct virtio_blk blk;
	const char *why = NULL;
	CHECK(virtio_blk_init(&blk, &bad, NULL, &why) == -EINVAL && why, "a 21-byte serial is refused");
	bad.serial = NULL;
	why = NULL;
	CHECK(virtio_blk_init(&blk, &bad, NULL, &why) == -ENOENT && why, "a missing image: %s", why ? why : "");
}

static void test_read_write(void)
{
	struct bench b;
	bench_start(&b, rw_cfg());
	struct drv *d = &b.d;
	uint32_t len;

	/* OUT of 4 sectors at sector 10 from three buffers. */
	struct seg w[] = { hdr_seg(d, T_OUT, 10), data_seg(d, 512, false, 0xa1),
			   data_seg(d, 1024, false, 0xa2), data_seg(d, 512, false, 0xa3), status_seg(d) };
	CHECK(run(&b, w, 5, &len) == S_OK && len == 1, "OUT from three buffers: OK, used len 1");
	CHECK(image_is(&b, 10, 1, 0xa1) && image_is(&b, 11, 2, 0xa2) && image_is(&b, 13, 1, 0xa3) &&
	      image_is(&b, 14, 1, 14), "the image holds the data, and nothing more");

	/* IN of 5 sectors at sector 9, into four buffers split mid-sector; status after data. */
	struct seg r[] = { hdr_seg(d, T_IN, 9), data_seg(d, 256, true, 0), data_seg(d, 1024, true, 0),
			   data_seg(d, 768, true, 0), data_seg(d, 512, true, 0), status_seg(d) };
	CHECK(run(&b, r, 6, &len) == S_OK && len == 2560 + 1, "IN into four buffers: OK, used len data + 1");
	uint8_t *p0 = host(d, r[1].gpa), *p1 = host(d, r[2].gpa), *p2 = host(d, r[3].gpa), *p3 = host(d, r[4].gpa);
	CHECK(all_bytes(p0, 256, 9) && all_bytes(p1, 256, 9) && all_bytes(p1 + 256, 512, 0xa1) &&
	      all_bytes(p1 + 768, 256, 0xa2) && all_bytes(p2, 768, 0xa2) && all_bytes(p3, 512, 0xa3),
	      "the read returns what was written, across buffer boundaries");
	struct disk_counters c;
	virtio_blk_counters(&b.blk, &c);
	CHECK(c.bytes_read == 2560 && c.bytes_written == 2048 && c.requests == 2 && c.io_errors == 0,
	      "counters");

	/* Data and status in one writable buffer; header and OUT data in one readable one. */
	uint64_t rd = drv_alloc(d, 16 + 512);
	memcpy(host(d, rd), host(d, hdr_seg(d, T_OUT, 20).gpa), 16);
	memset(host(d, rd + 16), 0x5c, 512);
	struct seg st = status_seg(d);
	struct seg w2[] = { { rd, 16 + 512, false }, st };
	CHECK(run(&b, w2, 2, &len) == S_OK && image_is(&b, 20, 1, 0x5c),
	      "header and data sharing one readable buffer");
	struct seg combo = data_seg(d, 513, true, 0);
	struct seg r2[] = { hdr_seg(d, T_IN, 20), combo };
	CHECK(run(&b, r2, 2, &len) == S_OK && len == 513 && all_bytes(host(d, combo.gpa), 512, 0x5c),
	      "data and status sharing one writable buffer");

	/* A header split 3 + 13 and 8 + 8 over descriptors. */
	struct seg h = hdr_seg(d, T_IN, 11);
	struct seg rs[] = { { h.gpa, 3, false }, { h.gpa + 3, 13, false }, data_seg(d, 512, true, 0), status_seg(d) };
	CHECK(run(&b, rs, 4, &len) == S_OK && all_bytes(host(d, rs[2].gpa), 512, 0xa2),
	      "a header split 3 + 13 over two descriptors");
	h = hdr_seg(d, T_IN, 13);
	struct seg rs2[] = { { h.gpa, 8, false }, { h.gpa + 8, 8, false }, data_seg(d, 512, true, 0), status_seg(d) };
	CHECK(run(&b, rs2, 4, &len) == S_OK && all_bytes(host(d, rs2[2].gpa), 512, 0xa3),
	      "a header split 8 + 8 (the sector in its own descriptor)");

	/* A zero-length read and the last sector. */
	struct seg z[] = { hdr_seg(d, T_IN, IMAGE_SECTORS), status_seg(d) };
	CHECK(run(&b, z, 2, &len) == S_OK && len == 1, "a read of no data at the end of the disk");
	struct seg last[] = { hdr_seg(d, T_IN, IMAGE_SECTORS - 1), data_seg(d, 512, true, 0), status_seg(d) };
	CHECK(run(&b, last, 3, &len) == S_OK && all_bytes(host(d, last[1].gpa), 512, 0xff),
	      "the last sector can be read");
	bench_stop(&b);
}

static void test_flush_get_id(void)
{
	struct bench b;
	bench_start(&b, rw_cfg());
	struct drv *d = &b.d;
	uint32_t len;
	struct seg f[] = { hdr_seg(d, T_FLUSH, 0), status_seg(d) };
	CHECK(run(&b, f, 2, &len) == S_OK && len == 1, "FLUSH: OK");

	struct seg id[] = { hdr_seg(d, T_GET_ID, 0), data_seg(d, 20, true, 0xaa), status_seg(d) };
	CHECK(run(&b, id, 3, &len) == S_OK && len == 21, "GET_ID: OK, 20 bytes + status");
	uint8_t want[20] = "vmon-disk-0";
	CHECK(memcmp(host(d, id[1].gpa), want, 20) == 0, "GET_ID: the serial, NUL-padded");
	struct seg id2[] = { hdr_seg(d, T_GET_ID, 0), data_seg(d, 4, true, 0xaa), data_seg(d, 64, true, 0xaa),
			     status_seg(d) };
	CHECK(run(&b, id2, 4, &len) == S_OK && len == 21 && memcmp(host(d, id2[1].gpa), "vmon", 4) == 0 &&
	      memcmp(host(d, id2[2].gpa), "-disk-0", 8) == 0 && all_bytes(host(d, id2[2].gpa) + 16, 48, 0xaa),
	      "GET_ID across two buffers writes only 20 bytes");
	bench_stop(&b);

	bench_start(&b, (struct virtio_blk_config){ 0 });
	d = &b.d;
	struct seg id3[] = { hdr_seg(d, T_GET_ID, 0), data_seg(d, 20, true, 0xaa), status_seg(d) };
	CHECK(run(&b, id3, 3, &len) == S_OK && all_bytes(host(d, id3[1].gpa), 20, 0), "no serial: 20 NULs");
	bench_stop(&b);
}

static void test_discard_write_zeroes(void)
{
	struct bench b;
	bench_start(&b, rw_cfg());
	struct drv *d = &b.d;
	uint32_t len;
	struct seg wz[] = { hdr_seg(d, T_WZ, 0), range_seg(d, 30, 4, 0), status_seg(d) };
	CHECK(run(&b, wz, 3, &len) == S_OK && len == 1, "WRITE_ZEROES: OK");
	CHECK(image_is(&b, 30, 4, 0) && image_is(&b, 29, 1, 29) && image_is(&b, 34, 1, 34),
	      "the range reads back as zeros, its neighbours do not");
	struct seg rb[] = { hdr_seg(d, T_IN, 30), data_seg(d, 2048, true, 0xaa), status_seg(d) };
	CHECK(run(&b, rb, 3, &len) == S_OK && all_bytes(host(d, rb[1].gpa), 2048, 0), "and through the device");

	struct seg wzu[] = { hdr_seg(d, T_WZ, 0), range_seg(d, 40, 1, 1), status_seg(d) };
	CHECK(run(&b, wzu, 3, &len) == S_OK && image_is(&b, 40, 1, 0), "WRITE_ZEROES with unmap: OK");

	struct seg dc[] = { hdr_seg(d, T_DISCARD, 0), range_seg(d, 50, 8, 0), status_seg(d) };
	CHECK(run(&b, dc, 3, &len) == S_OK, "DISCARD: OK");
	/* Where the filesystem punches holes, the range reads as zeros; otherwise it is unchanged. */
	CHECK(image_is(&b, 50, 8, 0) || image_is(&b, 50, 1, 50), "DISCARD: zeros (or untouched)");
	CHECK(image_is(&b, 58, 1, 58), "DISCARD stays in its range");

	struct seg bad1[] = { hdr_seg(d, T_DISCARD, 0), range_seg(d, 50, 1, 1), status_seg(d) };
	CHECK(run(&b, bad1, 3, NULL) == S_UNSUPP, "DISCARD with unmap: UNSUPP");
	struct seg bad2[] = { hdr_seg(d, T_WZ, 0), range_seg(d, 50, 1, 2), status_seg(d) };
	CHECK(run(&b, bad2, 3, NULL) == S_UNSUPP, "reserved flags: UNSUPP");
	struct seg bad3[] = { hdr_seg(d, T_WZ, 0), range_seg(d, IMAGE_SECTORS - 1, 2, 0), status_seg(d) };
	CHECK(run(&b, bad3, 3, NULL) == S_IOERR, "a range past the end: IOERR");
	struct seg bad4[] = { hdr_seg(d, T_WZ, 0), range_seg(d, UINT64_MAX - 1, 4, 0), status_seg(d) };
	CHECK(run(&b, bad4, 3, NULL) == S_IOERR, "a range that wraps: IOERR");
	struct seg bad5[] = { hdr_seg(d, T_DISCARD, 0), range_seg(d, 0, 1, 0), range_seg(d, 2, 1, 0), status_seg(d) };
	CHECK(run(&b, bad5, 4, NULL) == S_UNSUPP, "two segments (max_discard_seg is 1): UNSUPP");
	struct seg short_seg = range_seg(d, 0, 1, 0);
	short_seg.len = 12;
	struct seg bad6[] = { hdr_seg(d, T_DISCARD, 0), short_seg, status_seg(d) };
	CHECK(run(&b, bad6, 3, NULL) == S_IOERR && image_is(&b, 0, 1, 0), "a short segment: IOERR");
	/* A segment split over two descriptors is copied out whole. */
	struct seg split = range_seg(d, 60, 2, 0);
	struct seg wz2[] = { hdr_seg(d, T_WZ, 0), { split.gpa, 5, false }, { split.gpa + 5, 11, false }, status_seg(d) };
	CHECK(run(&b, wz2, 4, NULL) == S_OK && image_is(&b, 60, 2, 0) && image_is(&b, 62, 1, 62),
	      "a segment split over two descriptors");
	bench_stop(&b);
}

static void test_errors(void)
{
	struct bench b;
	bench_start(&b, rw_cfg());
	struct drv *d = &b.d;
	uint32_t len;

	struct seg past[] = { hdr_seg(d, T_IN, IMAGE_SECTORS), data_seg(d, 512, true, 0xaa), status_seg(d) };
	CHECK(run(&b, past, 3, &len) == S_IOERR && len == 1, "IN at the capacity: IOERR, used len 1");
	CHECK(all_bytes(host(d, past[1].gpa), 512, 0xaa), "and no data written");
	struct seg straddle[] = { hdr_seg(d, T_OUT, IMAGE_SECTORS - 1), data_seg(d, 1024, false, 0x77), status_seg(d) };
	CHECK(run(&b, straddle, 3, NULL) == S_IOERR && image_is(&b, IMAGE_SECTORS - 1, 1, 0xff),
	      "OUT straddling the end: IOERR, image untouched");
	struct seg wrap[] = { hdr_seg(d, T_IN, UINT64_MAX / 512 + 1), data_seg(d, 512, true, 0), status_seg(d) };
	CHECK(run(&b, wrap, 3, NULL) == S_IOERR, "a sector whose byte offset overflows: IOERR");
	struct seg huge[] = { hdr_seg(d, T_IN, UINT64_MAX), data_seg(d, 512, true, 0), status_seg(d) };
	CHECK(run(&b, huge, 3, NULL) == S_IOERR, "sector UINT64_MAX: IOERR");

	struct seg odd[] = { hdr_seg(d, T_IN, 0), data_seg(d, 100, true, 0xaa), status_seg(d) };
	CHECK(run(&b, odd, 3, NULL) == S_IOERR && all_bytes(host(d, odd[1].gpa), 100, 0xaa),
	      "IN of 100 bytes: IOERR");
	struct seg odd2[] = { hdr_seg(d, T_OUT, 0), data_seg(d, 700, false, 0x11), status_seg(d) };
	CHECK(run(&b, odd2, 3, NULL) == S_IOERR && image_is(&b, 0, 1, 0) && image_is(&b, 1, 1, 1), "OUT of 700 bytes: IOERR");

	struct seg unk[] = { hdr_seg(d, 0x12345, 0), data_seg(d, 512, true, 0), status_seg(d) };
	CHECK(run(&b, unk, 3, &len) == S_UNSUPP && len == 1, "an unknown type: UNSUPP");
	struct seg lifetime[] = { hdr_seg(d, 10, 0), data_seg(d, 12, true, 0), status_seg(d) };
	CHECK(run(&b, lifetime, 3, NULL) == S_UNSUPP, "GET_LIFETIME (not offered): UNSUPP");

	struct seg h = hdr_seg(d, T_IN, 0);
	struct seg short_hdr[] = { { h.gpa, 8, false }, data_seg(d, 512, true, 0xaa), status_seg(d) };
	CHECK(run(&b, short_hdr, 3, NULL) == S_IOERR, "an 8-byte header: IOERR");

	uint64_t errors = b.blk.io_errors, bad = b.blk.bad_chains;
	struct seg nostatus[] = { hdr_seg(d, T_OUT, 0), data_seg(d, 512, false, 0x99) };
	CHECK(run(&b, nostatus, 2, &len) == 0xee && len == 0, "no writable byte: returned with len 0");
	CHECK(b.blk.bad_chains == bad + 1 && image_is(&b, 0, 1, 0), "counted, and nothing written");
	CHECK(!(virtio_get_status(&b.blk.vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET), "the device goes on");
	struct seg after[] = { hdr_seg(d, T_IN, 1), data_seg(d, 512, true, 0), status_seg(d) };
	CHECK(run(&b, after, 3, NULL) == S_OK && all_bytes(host(d, after[1].gpa), 512, 1),
	      "the next request is served");
	CHECK(b.blk.io_errors == errors, "io_errors counts IOERR answers (%llu)", (unsigned long long)errors);

	/* A broken ring: a head beyond the queue size. */
	put16(d, d->avail + 4 + 2ull * (d->avail_idx % d->qsize), 999);
	put16(d, d->avail + 2, ++d->avail_idx);
	virtio_blk_serve(&b.blk.vd, 0);
	CHECK(virtio_get_status(&b.blk.vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, "a bad head: NEEDS_RESET");
	CHECK(atomic_load(&b.config_notifies) == 1, "with a configuration change notification");
	bench_stop(&b);
}

/* The page holding gpa, and its first byte. */
static uint64_t page_of(uint64_t gpa) { return gpa & ~4095ull; }

/*
 * Behind a fake IOMMU mapping the first 64 pages of RAM onto themselves:
 * a buffer the IOMMU refuses fails its request with IOERR and nothing of
 * it, nor of the image, changes.
 */
static void test_iommu(void)
{
	struct bench b;
	bench_start(&b, rw_cfg());
	struct drv *d = &b.d;
	struct fake_iommu f;
	fake_iommu_init(&f, RAM_GPA, 4096);
	fake_iommu_map_range(&f, RAM_GPA, RAM_GPA, FAKE_IOMMU_PAGES);
	virtio_device_set_iommu(&b.blk.vd, &f.t, 0x20);
	enable_queue(&b);
	uint32_t len;

	/* IOVA page 0x30 moved to GPA page 0x100: the sector lands there. */
	fake_iommu_map(&f, RAM_GPA + 0x30000, RAM_GPA + 0x100000, true, true);
	struct seg moved[] = { hdr_seg(d, T_IN, 3), { RAM_GPA + 0x30000, 512, true }, status_seg(d) };
	CHECK(run(&b, moved, 3, &len) == S_OK && len == 513 && all_bytes(host(d, RAM_GPA + 0x100000), 512, 3) &&
	      all_bytes(host(d, RAM_GPA + 0x30000), 512, 0) && f.last_source == 0x20,
	      "IN through the IOMMU: the data goes where the IOVA maps");

	struct seg in[] = { hdr_seg(d, T_IN, 0), data_seg(d, 8192, true, 0x77), status_seg(d) };
	fake_iommu_unmap(&f, page_of(in[1].gpa + 4096));
	uint64_t errors = b.blk.io_errors;
	CHECK(run(&b, in, 3, &len) == S_IOERR && len == 1 && f.faults == 1 && f.fault_write,
	      "IN into a buffer with an unmapped page: IOERR, one fault");
	CHECK(all_bytes(host(d, in[1].gpa), 8192, 0x77) && b.blk.io_errors == errors + 1,
	      "no byte of the buffer written, mapped pages included; counted as an I/O error");

	struct seg out[] = { hdr_seg(d, T_OUT, 20), data_seg(d, 8192, false, 0x66), status_seg(d) };
	fake_iommu_unmap(&f, page_of(out[1].gpa + 4096));
	uint8_t status = run(&b, out, 3, &len);
	bool untouched = true;
	for (unsigned s = 20; s < 36; s++)
		untouched &= image_is(&b, s, 1, (uint8_t)s);
	CHECK(status == S_IOERR && len == 1 && untouched, "OUT from it: IOERR, the image untouched");

	struct seg nostatus[] = { hdr_seg(d, T_IN, 0), data_seg(d, 512, true, 0x55), { 0, 1, true } };
	d->next_buf = page_of(d->next_buf) + 4096; /* the status byte alone in its page */
	nostatus[2] = status_seg(d);
	fake_iommu_unmap(&f, page_of(nostatus[2].gpa));
	uint64_t bad = b.blk.bad_chains;
	CHECK(run(&b, nostatus, 3, &len) == 0xee && len == 0 && b.blk.bad_chains == bad + 1 &&
	      all_bytes(host(d, nostatus[1].gpa), 512, 0x55),
	      "a status byte the IOMMU refuses: returned with len 0, unanswered, the data untouched");
	CHECK(!(virtio_get_status(&b.blk.vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET), "the device goes on");
	bench_stop(&b);
}

static void test_readonly(void)
{
	struct bench b;
	struct virtio_blk_config cfg = rw_cfg();
	cfg.readonly = true;
	bench_start(&b, cfg);
	struct drv *d = &b.d;
	struct seg w[] = { hdr_seg(d, T_OUT, 3), data_seg(d, 512, false, 0x42), status_seg(d) };
	CHECK(run(&b, w, 3, NULL) == S_IOERR && image_is(&b, 3, 1, 3), "readonly: OUT is IOERR, image untouched");
	struct seg z[] = { hdr_seg(d, T_WZ, 0), range_seg(d, 3, 1, 0), status_seg(d) };
	CHECK(run(&b, z, 3, NULL) == S_IOERR && image_is(&b, 3, 1, 3), "readonly: WRITE_ZEROES is IOERR");
	struct seg dc[] = { hdr_seg(d, T_DISCARD, 0), range_seg(d, 3, 1, 0), status_seg(d) };
	CHECK(run(&b, dc, 3, NULL) == S_IOERR, "readonly: DISCARD is IOERR");
	struct seg r[] = { hdr_seg(d, T_IN, 3), data_seg(d, 512, true, 0), status_seg(d) };
	CHECK(run(&b, r, 3, NULL) == S_OK && all_bytes(host(d, r[1].gpa), 512, 3), "readonly: IN works");
	struct seg f[] = { hdr_seg(d, T_FLUSH, 0), status_seg(d) };
	CHECK(run(&b, f, 2, NULL) == S_OK, "readonly: FLUSH works");
	bench_stop(&b);
}

/* Many requests at once through two io_uring slots: -EBUSY, then resumption; batched interrupts. */
static void test_many_in_flight(void)
{
	struct bench b;
	struct virtio_blk_config cfg = rw_cfg();
	cfg.io_depth = 2;
	bench_start(&b, cfg);
	struct drv *d = &b.d;
	enum { N = 40 };
	struct seg reqs[N][3];
	for (unsigned i = 0; i < N; i++) {
		reqs[i][0] = hdr_seg(d, T_IN, i);
		reqs[i][1] = data_seg(d, 512, true, 0xaa);
		reqs[i][2] = status_seg(d);
		drv_offer(d, reqs[i], 3);
	}
	virtio_blk_serve(&b.blk.vd, 0);
	CHECK(b.blk.queues[0].blocked && b.blk.queues[0].pending, "the backend filled up: the queue waits");
	CHECK(used_idx(d) == 0, "nothing answered before completion");
	/* What the worker does: wait on the completion eventfd, complete. */
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rounds = 0;
	while (used_idx(d) < N) {
		struct pollfd pfd = { .fd = virtio_blk_queue_fd(&b.blk, 0), .events = POLLIN };
		poll(&pfd, 1, 1000);
		virtio_blk_complete(&b.blk, 0);
		rounds++;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > 10)
			break;
	}
	CHECK(used_idx(d) == N, "all %d requests answered (%d completion rounds)", N, rounds);
	bool ok = true;
	for (unsigned i = 0; i < N; i++)
		ok = ok && *(uint8_t *)host(d, reqs[i][2].gpa) == S_OK &&
		     all_bytes(host(d, reqs[i][1].gpa), 512, (uint8_t)i);
	CHECK(ok, "each got its own sector");
	CHECK(!b.blk.queues[0].blocked && !b.blk.queues[0].pending, "the queue is no longer waiting");
	int n = atomic_load(&b.notifies);
	CHECK(n >= 1 && n <= rounds, "interrupts are batched: %d for %d requests", n, N);
	bench_stop(&b);
}

/* With EVENT_IDX, the device asks to be kicked past what it took. */
static void test_event_idx(void)
{
	struct bench b;
	bench_start(&b, rw_cfg());
	b.d.event_idx = true;
	enable_queue(&b);
	struct drv *d = &b.d;
	put16(d, d->avail + 4 + 2ull * d->qsize, 0); /* used_event: interrupt after the first */
	struct seg f[] = { hdr_seg(d, T_FLUSH, 0), status_seg(d) };
	CHECK(run(&b, f, 2, NULL) == S_OK, "a FLUSH with EVENT_IDX");
	CHECK(get16(d, d->used + 4 + 8ull * d->qsize) == 1, "avail_event published past it");
	CHECK(atomic_load(&b.notifies) == 1, "one interrupt, as used_event asked");
	put16(d, d->avail + 4 + 2ull * d->qsize, 100); /* no interrupt until 101 */
	struct seg f2[] = { hdr_seg(d, T_FLUSH, 0), status_seg(d) };
	CHECK(run(&b, f2, 2, NULL) == S_OK && atomic_load(&b.notifies) == 1, "none when used_event says so");
	bench_stop(&b);
}

static bool wait_used(struct drv *d, uint16_t n)
{
	for (int i = 0; i < 5000 && used_idx(d) != n; i++)
		usleep(1000);
	return used_idx(d) == n;
}

/* Negotiates and sets DRIVER_OK as a driver would: the real worker starts. */
static void activate(struct bench *b)
{
	struct virtio_device *vd = &b->blk.vd;
	struct drv *d = &b->d;
	memset(&vd->queues[0].vq, 0, sizeof(vd->queues[0].vq));
	vd->queues[0].enabled = false;
	virtio_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_set_driver_features(vd, 0, virtio_device_features(vd, 0));
	virtio_set_driver_features(vd, 1, 1);
	virtio_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	struct virtio_queue *q = &vd->queues[0];
	q->vq.size = d->qsize;
	q->vq.desc_gpa = d->desc;
	q->vq.avail_gpa = d->avail;
	q->vq.used_gpa = d->used;
	q->enabled = true;
	virtio_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			  VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

/* The real worker, started by DRIVER_OK and stopped by a reset. */
static void test_worker(void)
{
	struct bench b;
	bench_start(&b, rw_cfg());
	struct virtio_device *vd = &b.blk.vd;
	struct drv *d = &b.d;
	activate(&b);
	CHECK(b.blk.worker.running && !(virtio_get_status(vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET),
	      "DRIVER_OK starts the worker");

	struct seg w[] = { hdr_seg(d, T_OUT, 5), data_seg(d, 4096, false, 0x3c), status_seg(d) };
	drv_offer(d, w, 3);
	virtio_kick_queue(vd, 0);
	CHECK(wait_used(d, 1) && *(uint8_t *)host(d, w[2].gpa) == S_OK && image_is(&b, 5, 8, 0x3c),
	      "a kicked OUT completes through the worker and io_uring");
	struct seg r[] = { hdr_seg(d, T_IN, 5), data_seg(d, 4096, true, 0), status_seg(d) };
	drv_offer(d, r, 3);
	virtio_kick_queue(vd, 0);
	CHECK(wait_used(d, 2) && all_bytes(host(d, r[1].gpa), 4096, 0x3c), "and reads back");
	CHECK(atomic_load(&b.notifies) >= 1, "with interrupts");

	/* Reset with requests in flight: afterwards nothing is left running. */
	for (int i = 0; i < 32; i++) {
		struct seg s[] = { hdr_seg(d, T_OUT, (uint64_t)i * 8), data_seg(d, 4096, false, 0x55), status_seg(d) };
		drv_offer(d, s, 3);
	}
	virtio_kick_queue(vd, 0);
	virtio_set_status(vd, 0);
	CHECK(!b.blk.worker.running && block_queue_inflight(b.blk.queues[0].bq) == 0,
	      "a reset stops the worker with nothing in flight");
	CHECK(b.blk.queues[0].free && !b.blk.queues[0].pending, "and forgets the requests");
	bench_stop(&b);
}

/* --- swapping the image --- */

#define OTHER_SECTORS (2 * IMAGE_SECTORS)
#define SMALL_SECTORS (IMAGE_SECTORS / 2)

/* What sector s of the second image holds. */
static uint8_t other_byte(uint64_t s) { return (uint8_t)((s & 0xff) ^ 0x5a); }

/* A second image of `sectors` with other contents; its path in `path`. */
static void make_other_image(char path[64], unsigned sectors)
{
	strcpy(path, "/tmp/vmon-test-blk2-XXXXXX");
	int fd = mkstemp(path);
	uint8_t sector[512];
	for (unsigned s = 0; fd >= 0 && s < sectors; s++) {
		memset(sector, other_byte(s), sizeof(sector));
		if (pwrite(fd, sector, sizeof(sector), 512ll * s) != 512) {
			close(fd);
			fd = -1;
		}
	}
	if (fd < 0) {
		printf("Bail out! cannot create a second temporary image\n");
		exit(1);
	}
	close(fd);
}

static uint64_t config_capacity(struct bench *b)
{
	uint64_t cap;
	b->blk.vd.ops->config_read(&b->blk.vd, 0, &cap, 8);
	return le64toh(cap);
}

/* Sector `sector` read through the device: its byte, -1 for an error, -2 for mixed bytes. */
static int read_sector(struct bench *b, uint64_t sector)
{
	struct seg r[] = { hdr_seg(&b->d, T_IN, sector), data_seg(&b->d, 512, true, 0xee), status_seg(&b->d) };
	if (run(b, r, 3, NULL) != S_OK)
		return -1;
	const uint8_t *data = host(&b->d, r[1].gpa);
	return all_bytes(data, 512, data[0]) ? data[0] : -2;
}

/* How many of vmon's file descriptors are open on `path`. */
static int fds_on(const char *path)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++) {
		char link[64], target[256];
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		ssize_t len = readlink(link, target, sizeof(target) - 1);
		if (len > 0) {
			target[len] = 0;
			n += strcmp(target, path) == 0;
		}
	}
	return n;
}

static void test_replace_file(void)
{
	struct bench b;
	bench_start(&b, rw_cfg());
	struct drv *d = &b.d;
	char other[64];
	make_other_image(other, OTHER_SECTORS);
	CHECK(read_sector(&b, 7) == 7 && read_sector(&b, IMAGE_SECTORS) == -1,
	      "before the swap: the old image's data and size");

	struct seg inflight[] = { hdr_seg(d, T_IN, 9), data_seg(d, 512, true, 0xee), status_seg(d) };
	uint16_t used = used_idx(d);
	drv_offer(d, inflight, 3);
	virtio_blk_serve(&b.blk.vd, 0);
	bool was_in_flight = used_idx(d) == used && block_queue_inflight(b.blk.queues[0].bq) == 1;
	uint8_t generation = b.blk.vd.config_generation;
	const char *why = NULL;
	int ret = virtio_blk_replace_file(&b.blk, other, &why);
	CHECK(ret == 0, "the swap succeeds (%s)", why ? why : "");
	CHECK(was_in_flight && used_idx(d) == (uint16_t)(used + 1) &&
	      *(uint8_t *)host(d, inflight[2].gpa) == S_OK && all_bytes(host(d, inflight[1].gpa), 512, 9),
	      "a request in flight is answered first, from the old image");
	CHECK(config_capacity(&b) == OTHER_SECTORS, "config space: the new capacity (%llu)",
	      (unsigned long long)config_capacity(&b));
	CHECK(atomic_load(&b.config_notifies) == 1 && b.blk.vd.config_generation != generation,
	      "a configuration change: interrupt and new generation");
	CHECK(read_sector(&b, 7) == other_byte(7) &&
	      read_sector(&b, OTHER_SECTORS - 1) == other_byte(OTHER_SECTORS - 1),
	      "after the swap: the new image's data, up to its end");
	CHECK(fds_on(b.path) == 1 && fds_on(other) == 1, "the old image is closed (only the test's fd is left)");

	struct seg w[] = { hdr_seg(d, T_OUT, 3), data_seg(d, 512, false, 0x42), status_seg(d) };
	CHECK(run(&b, w, 3, NULL) == S_OK && image_is(&b, 3, 1, 3), "writes go to the new image, not the old");

	why = NULL;
	ret = virtio_blk_replace_file(&b.blk, "/nonexistent/disk.img", &why);
	CHECK(ret == -ENOENT && why, "a missing image: -ENOENT (%s)", why ? why : "");
	CHECK(config_capacity(&b) == OTHER_SECTORS && atomic_load(&b.config_notifies) == 1 &&
	      read_sector(&b, 3) == 0x42, "and nothing changed");
	unlink(other);
	bench_stop(&b);
}

/* A running device (worker started) over the test image, and another image of OTHER_SECTORS to swap in. */
static void swap_bench_start(struct bench *b, char other[64])
{
	bench_start(b, rw_cfg());
	make_other_image(other, OTHER_SECTORS);
	activate(b);
}

/* With the worker running: it stops, the image changes, it serves again. */
static void test_replace_file_running(void)
{
	struct bench b;
	char other[64];
	swap_bench_start(&b, other);
	struct virtio_device *vd = &b.blk.vd;
	struct drv *d = &b.d;
	struct seg r[] = { hdr_seg(d, T_IN, 7), data_seg(d, 512, true, 0xee), status_seg(d) };
	drv_offer(d, r, 3);
	virtio_kick_queue(vd, 0);
	CHECK(wait_used(d, 1) && all_bytes(host(d, r[1].gpa), 512, 7), "the worker reads the old image");

	enum { N = 32 };
	struct seg busy[N][3];
	for (unsigned i = 0; i < N; i++) {
		busy[i][0] = hdr_seg(d, T_IN, i);
		busy[i][1] = data_seg(d, 512, true, 0xee);
		busy[i][2] = status_seg(d);
		drv_offer(d, busy[i], 3);
	}
	virtio_kick_queue(vd, 0);
	const char *why = NULL;
	int ret = virtio_blk_replace_file(&b.blk, other, &why);
	CHECK(ret == 0 && b.blk.worker.running, "the swap under load succeeds; the worker runs again");
	CHECK(wait_used(d, 1 + N), "every request offered around the swap is answered");
	bool ok = true;
	for (unsigned i = 0; i < N; i++) {
		const uint8_t *data = host(d, busy[i][1].gpa);
		ok = ok && *(uint8_t *)host(d, busy[i][2].gpa) == S_OK &&
		     (all_bytes(data, 512, (uint8_t)i) || all_bytes(data, 512, other_byte(i)));
	}
	CHECK(ok, "each from one image or the other, whole");

	struct seg r2[] = { hdr_seg(d, T_IN, OTHER_SECTORS - 1), data_seg(d, 512, true, 0xee), status_seg(d) };
	drv_offer(d, r2, 3);
	virtio_kick_queue(vd, 0);
	CHECK(wait_used(d, 2 + N) && *(uint8_t *)host(d, r2[2].gpa) == S_OK &&
	      all_bytes(host(d, r2[1].gpa), 512, other_byte(OTHER_SECTORS - 1)),
	      "the worker reads the new image, past the old end");
	CHECK(atomic_load(&b.config_notifies) == 1 && config_capacity(&b) == OTHER_SECTORS,
	      "the driver is told of the new capacity");
	unlink(other);
	bench_stop(&b);
}

/* What the device logs to stderr between capture_start and capture_end. */
struct capture {
	int saved_stderr, pipe_rd;
};

static void capture_start(struct capture *c)
{
	int p[2];
	if (pipe(p) < 0) {
		printf("Bail out! no pipe for capturing the log\n");
		exit(1);
	}
	fflush(stderr);
	c->saved_stderr = dup(STDERR_FILENO);
	dup2(p[1], STDERR_FILENO);
	close(p[1]);
	c->pipe_rd = p[0];
}

static void capture_end(struct capture *c, char *text, size_t size)
{
	fflush(stderr);
	dup2(c->saved_stderr, STDERR_FILENO); /* closes the pipe's last write end */
	close(c->saved_stderr);
	size_t len = 0;
	ssize_t n;
	while (len + 1 < size && (n = read(c->pipe_rd, text + len, size - 1 - len)) > 0)
		len += (size_t)n;
	text[len] = 0;
	close(c->pipe_rd);
	fputs(text, stderr); /* still shown */
}

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

/*
 * A request that waited for an I/O slot across a swap to a smaller image
 * is checked against the new capacity: past the new end it is answered
 * IOERR by the device, before the backend sees it.
 */
static void test_replace_file_pending(void)
{
	struct bench b;
	struct virtio_blk_config cfg = rw_cfg();
	cfg.io_depth = 1;
	bench_start(&b, cfg);
	struct drv *d = &b.d;
	char small[64];
	make_other_image(small, SMALL_SECTORS);

	struct seg first[] = { hdr_seg(d, T_IN, 0), data_seg(d, 512, true, 0xee), status_seg(d) };
	struct seg past[] = { hdr_seg(d, T_OUT, SMALL_SECTORS + 8), data_seg(d, 4096, false, 0x99),
			      status_seg(d) };
	drv_offer(d, first, 3);
	drv_offer(d, past, 3);
	virtio_blk_serve(&b.blk.vd, 0);
	bool waited = b.blk.queues[0].pending != NULL;
	const char *why = NULL;
	struct capture cap;
	char log[4096];
	capture_start(&cap);
	int ret = virtio_blk_replace_file(&b.blk, small, &why);
	virtio_blk_wait(&b.blk, 0);
	capture_end(&cap, log, sizeof(log));
	CHECK(waited && ret == 0, "a write inside the old image waits for a slot across the swap (%s)",
	      why ? why : "");
	CHECK(used_idx(d) == 2 && *(uint8_t *)host(d, first[2].gpa) == S_OK &&
	      *(uint8_t *)host(d, past[2].gpa) == S_IOERR,
	      "past the new image's end it is answered IOERR");
	CHECK(file_size(small) == 512ll * SMALL_SECTORS && strstr(log, "outside the disk's new image") &&
	      !strstr(log, "I/O error"), "by the device: the new image neither grows nor sees it");

	struct seg fill[] = { hdr_seg(d, T_IN, 0), data_seg(d, 512, true, 0xee), status_seg(d) };
	struct seg inside[] = { hdr_seg(d, T_IN, SMALL_SECTORS - 1), data_seg(d, 512, true, 0xee),
				status_seg(d) };
	drv_offer(d, fill, 3);
	drv_offer(d, inside, 3);
	virtio_blk_serve(&b.blk.vd, 0);
	waited = b.blk.queues[0].pending != NULL;
	virtio_blk_wait(&b.blk, 0);
	CHECK(waited && *(uint8_t *)host(d, inside[2].gpa) == S_OK &&
	      all_bytes(host(d, inside[1].gpa), 512, other_byte(SMALL_SECTORS - 1)),
	      "a waiting request inside the new image is served from it");
	unlink(small);
	bench_stop(&b);
}

/*
 * Makes the worker's next epoll_wait fail (EINVAL: not an epoll fd): the
 * worker thread then ends on its own, without answering what is in flight.
 * The wait it is in goes on (it holds the epoll instance) so it must be in
 * one: give it time to get back to it after the last answer.
 */
static void break_worker_epoll(struct bench *b)
{
	usleep(20000);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	dup2(null, b->blk.worker.epoll_fd);
	close(null);
}

/*
 * A flush served, then the worker's epoll broken and a read of sector 9
 * (segments in r[3]) submitted: its completion signals the queue's eventfd
 * and nobody reads it. True when things went so.
 */
static bool strand_request(struct bench *b, struct seg r[3])
{
	struct virtio_device *vd = &b->blk.vd;
	struct drv *d = &b->d;
	struct seg f[] = { hdr_seg(d, T_FLUSH, 0), status_seg(d) };
	drv_offer(d, f, 2);
	virtio_kick_queue(vd, 0);
	bool served = wait_used(d, 1);
	break_worker_epoll(b);
	r[0] = hdr_seg(d, T_IN, 9);
	r[1] = data_seg(d, 512, true, 0xee);
	r[2] = status_seg(d);
	drv_offer(d, r, 3);
	virtio_kick_queue(vd, 0);
	struct pollfd pfd = { .fd = virtio_blk_queue_fd(&b->blk, 0), .events = POLLIN };
	return served && poll(&pfd, 1, 5000) == 1 && used_idx(d) == 1;
}

/* The worker ended on its own with a request in flight: the swap is refused, the old image kept. */
static void test_replace_file_dead_worker(void)
{
	struct bench b;
	char other[64];
	swap_bench_start(&b, other);
	struct virtio_device *vd = &b.blk.vd;
	struct drv *d = &b.d;
	struct seg r[3];
	bool stranded = strand_request(&b, r);

	const char *why = NULL;
	int ret = virtio_blk_replace_file(&b.blk, other, &why);
	CHECK(stranded && ret == -EBUSY && why, "I/O left in flight by a dead worker: -EBUSY (%s)",
	      why ? why : "");
	CHECK(b.blk.worker.running && wait_used(d, 2) && *(uint8_t *)host(d, r[2].gpa) == S_OK &&
	      all_bytes(host(d, r[1].gpa), 512, 9), "a new worker answers it, from the old image");
	CHECK(config_capacity(&b) == IMAGE_SECTORS && atomic_load(&b.config_notifies) == 0 &&
	      fds_on(other) == 0 && fds_on(b.path) == 2,
	      "the old image stays open and in the config space; the new one is closed");
	struct seg r2[] = { hdr_seg(d, T_IN, 7), data_seg(d, 512, true, 0xee), status_seg(d) };
	drv_offer(d, r2, 3);
	virtio_kick_queue(vd, 0);
	CHECK(wait_used(d, 3) && *(uint8_t *)host(d, r2[2].gpa) == S_OK && all_bytes(host(d, r2[1].gpa), 512, 7),
	      "and serves the old image");
	why = NULL;
	ret = virtio_blk_replace_file(&b.blk, other, &why);
	CHECK(ret == 0 && config_capacity(&b) == OTHER_SECTORS, "then the swap can be done again (%s)",
	      why ? why : "");
	unlink(other);
	bench_stop(&b);
}

/*
 * The worker cannot start again after the swap (its epoll refuses the
 * kick eventfd): the old image stays, the device needs a reset, and the
 * log does not blame the driver.
 */
static void test_replace_file_no_restart(void)
{
	struct bench b;
	char other[64];
	swap_bench_start(&b, other);
	struct virtio_device *vd = &b.blk.vd;
	struct drv *d = &b.d;
	int kick_fd = vd->queues[0].kick_fd;
	vd->queues[0].kick_fd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* epoll_ctl: EPERM */

	const char *why = NULL;
	struct capture cap;
	char log[4096];
	capture_start(&cap);
	int ret = virtio_blk_replace_file(&b.blk, other, &why);
	capture_end(&cap, log, sizeof(log));
	CHECK(ret == -EPERM && why && strstr(why, "old image") && strstr(why, "reset"),
	      "the I/O thread cannot restart: -EPERM, the old image kept, a reset needed (%s)", why ? why : "");
	CHECK(!b.blk.worker.running && (virtio_get_status(vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET) &&
	      atomic_load(&b.config_notifies) == 1, "DEVICE_NEEDS_RESET, with one configuration change");
	CHECK(strstr(log, "needs a reset") && strstr(log, "I/O thread") && !strstr(log, "driver"),
	      "the log blames the I/O thread, not the driver");
	CHECK(config_capacity(&b) == IMAGE_SECTORS && fds_on(other) == 0 && fds_on(b.path) == 2,
	      "the old image stays open and in the config space; the new one is closed");
	virtio_device_needs_reset(vd);
	virtio_device_failed(vd, "test");
	CHECK(atomic_load(&b.config_notifies) == 1, "giving up again notifies nothing more");

	close(vd->queues[0].kick_fd);
	vd->queues[0].kick_fd = kick_fd;
	virtio_set_status(vd, 0);
	activate(&b);
	struct seg r[] = { hdr_seg(d, T_IN, IMAGE_SECTORS - 1), data_seg(d, 512, true, 0xee), status_seg(d) };
	drv_offer(d, r, 3);
	virtio_kick_queue(vd, 0);
	CHECK(b.blk.worker.running && wait_used(d, 1) && *(uint8_t *)host(d, r[2].gpa) == S_OK &&
	      all_bytes(host(d, r[1].gpa), 512, (IMAGE_SECTORS - 1) & 0xff),
	      "after the reset the device serves the old image");
	unlink(other);
	bench_stop(&b);
}

/* --- snapshots --- */

#define SNAP_N        40
#define DISK_INSTANCE 0x10

/* SNAP_N reads, request i of sector i, offered at once. */
static void offer_reads(struct drv *d, struct seg reqs[SNAP_N][3])
{
	for (unsigned i = 0; i < SNAP_N; i++) {
		reqs[i][0] = hdr_seg(d, T_IN, i);
		reqs[i][1] = data_seg(d, 512, true, 0xee);
		reqs[i][2] = status_seg(d);
		drv_offer(d, reqs[i], 3);
	}
}

/* Whether every one of them was answered S_OK with its own sector. */
static bool reads_ok(struct drv *d, struct seg reqs[SNAP_N][3])
{
	bool ok = true;
	for (unsigned i = 0; i < SNAP_N; i++)
		ok = ok && *(uint8_t *)host(d, reqs[i][2].gpa) == S_OK &&
		     all_bytes(host(d, reqs[i][1].gpa), 512, (uint8_t)i);
	return ok;
}

static uint64_t requests_taken(struct bench *b)
{
	struct disk_counters c;
	virtio_blk_counters(&b->blk, &c);
	return c.requests;
}

/* The bench's device saved into a blob (free() it). */
static uint8_t *save_blob(struct bench *b, size_t *len)
{
	struct state_writer w;
	uint8_t *blob = NULL;
	state_writer_init(&w);
	virtio_device_save(&b->blk.vd, &w, DISK_INSTANCE);
	if (state_writer_finish(&w, &blob, len) < 0) {
		printf("Bail out! cannot save the device's state\n");
		exit(1);
	}
	return blob;
}

/*
 * A fresh device like the bench's (cfg) on the image at `path` and the
 * bench's RAM, loaded from blob and left quiesced. The load's result.
 */
static int restore(struct bench *b, struct virtio_blk_config cfg, const char *path,
		   struct virtio_blk *blk, const uint8_t *blob, size_t len)
{
	cfg.path = path;
	const char *why = NULL;
	struct state_reader r;
	if (virtio_blk_init(blk, &cfg, &b->gm, &why) < 0 || state_reader_open(&r, blob, len, &why) < 0) {
		printf("Bail out! cannot set up the restored device: %s\n", why ? why : "?");
		exit(1);
	}
	blk->vd.transport = b->blk.vd.transport;
	return virtio_device_load(&blk->vd, &r, DISK_INSTANCE);
}

/*
 * Quiesce with requests in flight and one waiting for an I/O slot: those
 * in flight are answered, the waiting one goes back to the ring, and the
 * next serve takes it again.
 */
static void test_quiesce_pending(void)
{
	struct bench b;
	struct virtio_blk_config cfg = rw_cfg();
	cfg.io_depth = 2;
	bench_start(&b, cfg);
	struct drv *d = &b.d;
	struct virtq *vq = &b.blk.vd.queues[0].vq;
	struct seg reqs[SNAP_N][3];
	offer_reads(d, reqs);
	virtio_blk_serve(&b.blk.vd, 0);
	bool waiting = b.blk.queues[0].pending && block_queue_inflight(b.blk.queues[0].bq) == 2 &&
		       vq->last_avail == 3;
	b.blk.vd.ops->quiesce(&b.blk.vd);
	CHECK(waiting && used_idx(d) == 2 && vq->used_idx == 2 && vq->last_avail == 2 &&
	      !b.blk.queues[0].pending && block_queue_inflight(b.blk.queues[0].bq) == 0,
	      "quiesce: the 2 requests in flight answered, the one waiting for a slot back on the ring");
	CHECK(requests_taken(&b) == 2, "and no longer counted as taken");
	virtio_blk_wait(&b.blk, 0);
	CHECK(used_idx(d) == SNAP_N && reads_ok(d, reqs) && requests_taken(&b) == SNAP_N,
	      "served again: all %d answered, each with its own sector, each counted once", SNAP_N);
	bench_stop(&b);
}

/*
 * Quiesce under load with the real worker, save, load into a fresh device
 * on the same image and RAM, unquiesce: it serves what the first left.
 */
static void test_snapshot_restore(void)
{
	struct bench b;
	struct virtio_blk_config cfg = rw_cfg();
	cfg.io_depth = 2;
	bench_start(&b, cfg);
	activate(&b);
	struct virtio_device *vd = &b.blk.vd;
	struct drv *d = &b.d;
	struct virtq *vq = &vd->queues[0].vq;
	struct seg reqs[SNAP_N][3];
	offer_reads(d, reqs);
	virtio_kick_queue(vd, 0);
	virtio_device_quiesce(vd);
	uint16_t answered = used_idx(d);
	CHECK(!b.blk.worker.running && !b.blk.queues[0].pending &&
	      block_queue_inflight(b.blk.queues[0].bq) == 0 && vq->last_avail == answered &&
	      vq->used_idx == answered && requests_taken(&b) == answered,
	      "quiesce under load: the worker stopped, %u answered, nothing taken and unanswered", answered);
	size_t len;
	uint8_t *blob = save_blob(&b, &len);

	struct virtio_blk restored;
	int ret = restore(&b, cfg, b.path, &restored, blob, len);
	struct virtq *rvq = &restored.vd.queues[0].vq;
	CHECK(ret == 0 && rvq->last_avail == answered && rvq->used_idx == answered &&
	      (virtio_get_status(&restored.vd) & VIRTIO_STATUS_DRIVER_OK) && !restored.worker.running,
	      "a fresh device loads the state: the ring's indices, DRIVER_OK, no worker yet");
	CHECK(virtio_device_unquiesce(&restored.vd) == 0 && restored.worker.running,
	      "unquiesce starts its worker");
	CHECK(wait_used(d, SNAP_N) && reads_ok(d, reqs),
	      "it serves what the first device left: all %d answered, each with its own sector", SNAP_N);
	struct seg w[] = { hdr_seg(d, T_OUT, 9), data_seg(d, 512, false, 0x5e), status_seg(d) };
	drv_offer(d, w, 3);
	virtio_kick_queue(&restored.vd, 0);
	CHECK(wait_used(d, SNAP_N + 1) && *(uint8_t *)host(d, w[2].gpa) == S_OK && image_is(&b, 9, 1, 0x5e),
	      "and the next request, the used index going on");
	virtio_blk_destroy(&restored);
	free(blob);
	bench_stop(&b);
}

/* A worker that ended on its own left a request in flight: quiesce answers it itself. */
static void test_quiesce_dead_worker(void)
{
	struct bench b;
	bench_start(&b, rw_cfg());
	activate(&b);
	struct virtio_device *vd = &b.blk.vd;
	struct drv *d = &b.d;
	struct seg r[3];
	bool stranded = strand_request(&b, r);
	virtio_device_quiesce(vd);
	CHECK(stranded && used_idx(d) == 2 && vd->queues[0].vq.last_avail == 2 &&
	      block_queue_inflight(b.blk.queues[0].bq) == 0 && *(uint8_t *)host(d, r[2].gpa) == S_OK &&
	      all_bytes(host(d, r[1].gpa), 512, 9), "the request is answered, from the image");
	bench_stop(&b);
}

/* The image reopened at the restore must be as large as the one the driver knew. */
static void test_snapshot_capacity(void)
{
	struct bench b;
	bench_start(&b, rw_cfg());
	size_t len;
	uint8_t *blob = save_blob(&b, &len);
	char other[64];
	make_other_image(other, OTHER_SECTORS);
	struct virtio_blk restored;
	struct capture cap;
	char log[4096];
	capture_start(&cap);
	int ret = restore(&b, rw_cfg(), other, &restored, blob, len);
	capture_end(&cap, log, sizeof(log));
	CHECK(ret == -EINVAL && strstr(log, "the image is now 512 sectors, was 256"),
	      "a larger image: refused, saying both sizes");
	virtio_blk_destroy(&restored);
	unlink(other);

	ret = restore(&b, rw_cfg(), b.path, &restored, blob, len);
	CHECK(ret == 0, "the same image: loaded (a device never activated)");
	virtio_blk_destroy(&restored);
	free(blob);
	bench_stop(&b);
}

/* direct=on: unaligned guest buffers go through a bounce buffer. */
static void test_direct(void)
{
	struct bench probe;
	make_image(&probe);
	struct block_file_config fc = { .path = probe.path, .direct = true };
	struct block_file *bf;
	const char *why;
	bool can = block_file_open(&fc, &bf, &why) == 0;
	bool small = can && block_file_logical_block_size(bf) == 512;
	block_file_close(bf);
	close(probe.fd);
	unlink(probe.path);
	if (!small) {
		printf("ok %d - # SKIP no 512-byte direct I/O on /tmp\n", ++tap_count);
		return;
	}
	struct bench b;
	struct virtio_blk_config cfg = rw_cfg();
	cfg.direct = true;
	bench_start(&b, cfg);
	struct drv *d = &b.d;
	struct seg w[] = { hdr_seg(d, T_OUT, 7), data_seg(d, 528, false, 0x71), data_seg(d, 512, false, 0x72),
			   status_seg(d) };
	w[1].gpa += 1; /* misaligned on purpose */
	w[1].len = 512;
	CHECK(run(&b, w, 4, NULL) == S_OK && image_is(&b, 7, 1, 0x71) && image_is(&b, 8, 1, 0x72),
	      "direct=on: an OUT from unaligned buffers");
	struct seg r[] = { hdr_seg(d, T_IN, 7), data_seg(d, 300, true, 0), data_seg(d, 724, true, 0), status_seg(d) };
	CHECK(run(&b, r, 4, NULL) == S_OK && all_bytes(host(d, r[1].gpa), 300, 0x71) &&
	      all_bytes(host(d, r[2].gpa), 212, 0x71) && all_bytes(host(d, r[2].gpa) + 212, 512, 0x72),
	      "direct=on: an IN into unaligned buffers");
	bench_stop(&b);
}

/* --- the fuzz target's seed corpus --- */

#define FUZZ_GPA  0x1000
#define FUZZ_SIZE 0x10000

static int write_seed(const char *dir, const char *name, const uint8_t *ram)
{
	return write_fuzz_seed(dir, name, ram, FUZZ_SIZE, 16);
}

/* The fuzz input layout: see tests/fuzz/fuzz_virtio_blk.c. */
static void seed_start(struct drv *d, uint8_t *ram, uint8_t flags)
{
	memset(ram, 0, FUZZ_SIZE);
	ram[0] = 4; /* 16 entries */
	ram[1] = flags;
	ram[2] = 0x00, ram[3] = 0x01; /* desc at 0x100 */
	ram[4] = 0x00, ram[5] = 0x02; /* avail at 0x200 */
	ram[6] = 0x00, ram[7] = 0x03; /* used at 0x300 */
	drv_init(d, ram, FUZZ_GPA, FUZZ_SIZE, 0x100, 0x200, 0x300, 0x400, 16);
}

static int write_fuzz_seeds(const char *dir)
{
	static uint8_t ram[FUZZ_SIZE];
	struct drv d;
	int err = 0;

	seed_start(&d, ram, 0);
	struct seg w[] = { hdr_seg(&d, T_OUT, 2), data_seg(&d, 512, false, 0x61), data_seg(&d, 512, false, 0x62),
			   status_seg(&d) };
	drv_offer(&d, w, 4);
	struct seg r[] = { hdr_seg(&d, T_IN, 2), data_seg(&d, 1024, true, 0), status_seg(&d) };
	drv_offer(&d, r, 3);
	err |= write_seed(dir, "write-read", ram);

	seed_start(&d, ram, 1); /* EVENT_IDX */
	struct seg f[] = { hdr_seg(&d, T_FLUSH, 0), status_seg(&d) };
	drv_offer(&d, f, 2);
	struct seg id[] = { hdr_seg(&d, T_GET_ID, 0), data_seg(&d, 20, true, 0), status_seg(&d) };
	drv_offer(&d, id, 3);
	struct seg u[] = { hdr_seg(&d, 77, 0), status_seg(&d) };
	drv_offer(&d, u, 2);
	err |= write_seed(dir, "flush-getid-unsupp", ram);

	seed_start(&d, ram, 0);
	struct seg dz[] = { hdr_seg(&d, T_DISCARD, 0), range_seg(&d, 4, 4, 0), status_seg(&d) };
	drv_offer(&d, dz, 3);
	struct seg wz[] = { hdr_seg(&d, T_WZ, 0), range_seg(&d, 8, 2, 1), status_seg(&d) };
	drv_offer(&d, wz, 3);
	err |= write_seed(dir, "discard-write-zeroes", ram);

	seed_start(&d, ram, 4); /* readonly */
	struct seg h = hdr_seg(&d, T_OUT, 1);
	struct seg ro[] = { { h.gpa, 5, false }, { h.gpa + 5, 11, false }, data_seg(&d, 512, false, 0x33),
			    status_seg(&d) };
	drv_offer(&d, ro, 4);
	struct seg past[] = { hdr_seg(&d, T_IN, 1000), data_seg(&d, 512, true, 0), status_seg(&d) };
	drv_offer(&d, past, 3);
	struct seg nost[] = { hdr_seg(&d, T_IN, 0) };
	drv_offer(&d, nost, 1);
	err |= write_seed(dir, "readonly-split-header-errors", ram);
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--fuzz-seeds") == 0)
		return write_fuzz_seeds(argv[2]);
	test_config();
	test_read_write();
	test_flush_get_id();
	test_discard_write_zeroes();
	test_errors();
	test_iommu();
	test_readonly();
	test_many_in_flight();
	test_event_idx();
	test_worker();
	test_replace_file();
	test_replace_file_running();
	test_replace_file_pending();
	test_replace_file_dead_worker();
	test_replace_file_no_restart();
	test_direct();
	test_quiesce_pending();
	test_snapshot_restore();
	test_quiesce_dead_worker();
	test_snapshot_capacity();
	return tap_finish();
}
