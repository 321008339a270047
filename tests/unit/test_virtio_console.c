/*
 * virtio-console on fake guest RAM with a fake driver (one per queue) and a
 * fake chardev: output in order across chains, backpressure from a full
 * backend, input into posted buffers and input waiting for them, the
 * device's input buffer filling up, emerg_wr, the configuration space,
 * malformed rings, the real worker started and reset through the device
 * status, and snapshots: a chain half written and input not yet given
 * carried into a fresh console.
 *
 * The chardev_* functions below satisfy the device's references, so the
 * real console backend (which also defines them) is never linked in.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/chardev.h"
#include "devices/virtio/console.h"
#include "fake_iommu.h"
#include "fake_virtq.h"
#include "migration/state.h"
#include "state_blob.h"
#include "tap.h"
#include "util/log.h"
#include "virtio/virtio.h"

#define RXQ VIRTIO_CONSOLE_RXQ
#define TXQ VIRTIO_CONSOLE_TXQ

/* --- the fake chardev --- */

struct chardev {
	pthread_mutex_t lock; /* the worker writes while the test reads */
	size_t accept;        /* how many more bytes chardev_write takes */
	uint8_t out[65536];
	size_t out_len;
	struct chardev_client client;
	bool attached;
	int input_ready_calls;
};

size_t chardev_write(struct chardev *cd, const uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&cd->lock);
	size_t n = len < cd->accept ? len : cd->accept;
	if (n > sizeof(cd->out) - cd->out_len)
		n = sizeof(cd->out) - cd->out_len;
	memcpy(cd->out + cd->out_len, buf, n);
	cd->out_len += n;
	cd->accept -= n;
	pthread_mutex_unlock(&cd->lock);
	return n;
}

void chardev_attach(struct chardev *cd, const struct chardev_client *client)
{
	pthread_mutex_lock(&cd->lock);
	cd->attached = client != NULL;
	if (client)
		cd->client = *client;
	pthread_mutex_unlock(&cd->lock);
}

void chardev_input_ready(struct chardev *cd)
{
	pthread_mutex_lock(&cd->lock);
	cd->input_ready_calls++;
	pthread_mutex_unlock(&cd->lock);
}

static size_t out_len(struct chardev *cd)
{
	pthread_mutex_lock(&cd->lock);
	size_t n = cd->out_len;
	pthread_mutex_unlock(&cd->lock);
	return n;
}

static bool out_is(struct chardev *cd, const char *s)
{
	pthread_mutex_lock(&cd->lock);
	bool same = cd->out_len == strlen(s) && memcmp(cd->out, s, cd->out_len) == 0;
	pthread_mutex_unlock(&cd->lock);
	return same;
}

static void set_accept(struct chardev *cd, size_t n)
{
	pthread_mutex_lock(&cd->lock);
	cd->accept = n;
	pthread_mutex_unlock(&cd->lock);
}

static int ready_calls(struct chardev *cd)
{
	pthread_mutex_lock(&cd->lock);
	int n = cd->input_ready_calls;
	pthread_mutex_unlock(&cd->lock);
	return n;
}

/* --- the fake driver (fake_virtq.h): one per queue, each with its own part of RAM --- */

static void used_elem(struct drv *d, uint16_t k, uint32_t *id, uint32_t *len)
{
	uint64_t e = d->used + 4 + 8ull * (k % d->qsize);
	*id = get32(d, e);
	*len = get32(d, e + 4);
}

/* A device-readable buffer holding `s`. */
static struct seg text_seg(struct drv *d, const char *s)
{
	uint32_t len = (uint32_t)strlen(s);
	uint64_t gpa = drv_alloc(d, len);
	memcpy(host(d, gpa), s, len);
	return (struct seg){ gpa, len, false };
}

/* A device-writable buffer of len bytes, filled with '.'. */
static struct seg rx_seg(struct drv *d, uint32_t len)
{
	uint64_t gpa = drv_alloc(d, len);
	memset(host(d, gpa), '.', len);
	return (struct seg){ gpa, len, true };
}

/* Offers one single-buffer receive chain of len bytes. */
static struct seg post_rx(struct drv *d, uint32_t len)
{
	struct seg s = rx_seg(d, len);
	drv_offer(d, &s, 1);
	return s;
}

/* --- the device under test --- */

#define RAM_GPA  0x100000ull
#define RAM_SIZE (1ull << 20)
#define QSIZE    16

struct bench {
	uint8_t *ram;
	struct guest_mem gm;
	struct chardev cd;
	struct virtio_console con;
	struct drv rx, tx;
	atomic_int notifies[2];
	atomic_int config_notifies;
};

static void fake_notify_queue(void *ctx, unsigned q, uint16_t vector)
{
	(void)vector;
	if (q < 2)
		atomic_fetch_add(&((struct bench *)ctx)->notifies[q], 1);
}

static void fake_notify_config(void *ctx, uint16_t vector)
{
	(void)vector;
	atomic_fetch_add(&((struct bench *)ctx)->config_notifies, 1);
}

static void drv_init(struct drv *d, uint8_t *ram, uint64_t base_off, uint64_t buf_size)
{
	*d = (struct drv){ .ram = ram, .ram_gpa = RAM_GPA, .qsize = QSIZE,
			   .desc = RAM_GPA + base_off, .avail = RAM_GPA + base_off + 0x1000,
			   .used = RAM_GPA + base_off + 0x2000,
			   .next_buf = RAM_GPA + base_off + 0x3000,
			   .buf_end = RAM_GPA + base_off + 0x3000 + buf_size };
}

/* Configures queue q the way a driver would, without the worker. */
static void enable_queue(struct bench *b, unsigned q, struct drv *d)
{
	struct virtio_queue *vq = &b->con.vd.queues[q];
	vq->vq = (struct virtq){ .dma = b->con.vd.dma, .size = d->qsize, .desc_gpa = d->desc,
				 .avail_gpa = d->avail, .used_gpa = d->used, .indirect = true };
	if (virtq_init(&vq->vq) != 0) {
		printf("Bail out! virtq_init refused the fake queue\n");
		exit(1);
	}
	vq->enabled = true;
}

static void bench_start(struct bench *b)
{
	memset(b, 0, sizeof(*b));
	pthread_mutex_init(&b->cd.lock, NULL);
	b->cd.accept = SIZE_MAX;
	b->ram = calloc(1, RAM_SIZE);
	if (!b->ram) {
		printf("Bail out! no memory for the fake RAM\n");
		exit(1);
	}
	guest_mem_init_flat(&b->gm, b->ram, RAM_GPA, RAM_SIZE);
	drv_init(&b->rx, b->ram, 0, 0x40000);
	drv_init(&b->tx, b->ram, 0x80000, 0x40000);
	if (virtio_console_init(&b->con, &b->cd, &b->gm) != 0) {
		printf("Bail out! virtio_console_init failed\n");
		exit(1);
	}
	b->con.vd.transport = (struct virtio_transport){ .notify_queue = fake_notify_queue,
							 .notify_config = fake_notify_config, .ctx = b };
	enable_queue(b, RXQ, &b->rx);
	enable_queue(b, TXQ, &b->tx);
}

static void bench_stop(struct bench *b)
{
	virtio_console_destroy(&b->con);
	pthread_mutex_destroy(&b->cd.lock);
	free(b->ram);
}

static size_t host_input(struct bench *b, const void *s, size_t len)
{
	return b->cd.client.on_input(b->cd.client.dev, s, len);
}

/* Whether queue q's kick eventfd was written (and consumes the kicks). */
static bool kicked(struct bench *b, unsigned q)
{
	uint64_t n = 0;
	return read(b->con.vd.queues[q].kick_fd, &n, sizeof(n)) == sizeof(n) && n > 0;
}

static uint16_t cfg16(struct virtio_device *vd, uint64_t off)
{
	uint16_t v = 0xcccc;
	vd->ops->config_read(vd, off, &v, 2);
	return le16toh(v);
}

static uint32_t cfg32(struct virtio_device *vd, uint64_t off)
{
	uint32_t v = 0xcccccccc;
	vd->ops->config_read(vd, off, &v, 4);
	return le32toh(v);
}

/* --- tests --- */

static void test_config(void)
{
	struct bench b;
	bench_start(&b);
	struct virtio_device *vd = &b.con.vd;
	CHECK(b.cd.attached && b.cd.client.on_input && b.cd.client.on_output_space,
	      "init attaches to the chardev");
	CHECK(vd->device_id == 3 && vd->nr_queues == 2, "device id 3 (console), two queues");
	uint32_t f0 = virtio_device_features(vd, 0), f1 = virtio_device_features(vd, 1);
	CHECK((f0 & 1u) && !(f0 & 2u) && (f0 & 4u) && (f1 & 1u),
	      "features: SIZE, EMERG_WRITE, VERSION_1, no MULTIPORT");
	CHECK(vd->config_size == 12, "config space: cols, rows, max_nr_ports, emerg_wr");
	CHECK(cfg16(vd, 0) == 80 && cfg16(vd, 2) == 25, "80x25 by default");
	CHECK(cfg32(vd, 4) == 1, "max_nr_ports = 1");
	CHECK(cfg32(vd, 8) == 0, "emerg_wr reads 0");
	uint32_t both = 0;
	vd->ops->config_read(vd, 0, &both, 4);
	CHECK(le32toh(both) == (25u << 16 | 80u), "a 32-bit read of cols and rows");

	uint8_t gen = vd->config_generation;
	virtio_console_set_size(&b.con, 132, 43);
	CHECK(cfg16(vd, 0) == 132 && cfg16(vd, 2) == 43, "set_size changes cols and rows");
	CHECK(vd->config_generation != gen, "and the config generation");
	CHECK(atomic_load(&b.config_notifies) == 0, "no config interrupt before DRIVER_OK");
	virtio_console_set_size(&b.con, 0, 50);
	CHECK(cfg16(vd, 0) == 132 && cfg16(vd, 2) == 50, "0 keeps a dimension");
	int fd_ret = virtio_console_set_size_from_fd(&b.con, -1);
	CHECK(fd_ret < 0 && cfg16(vd, 0) == 132, "not a terminal: size unchanged");

	uint16_t junk = 0xffff;
	vd->ops->config_write(vd, 0, &junk, 2);
	vd->ops->config_write(vd, 4, &junk, 2);
	CHECK(cfg16(vd, 0) == 132 && cfg32(vd, 4) == 1 && out_len(&b.cd) == 0,
	      "cols and max_nr_ports are read-only; nothing is output");
	bench_stop(&b);
	CHECK(!b.cd.attached, "destroy detaches from the chardev");
}

static void test_emerg_wr(void)
{
	struct bench b;
	bench_start(&b);
	struct virtio_device *vd = &b.con.vd;
	uint32_t c = htole32('E');
	vd->ops->config_write(vd, 8, &c, 4);
	uint8_t byte = 'W';
	vd->ops->config_write(vd, 8, &byte, 1);
	uint8_t tail[2] = { '!', 'x' };
	vd->ops->config_write(vd, 7, tail, 2); /* a write straddling into emerg_wr */
	CHECK(out_is(&b.cd, "EWx"), "emerg_wr writes its low byte, before any queue setup");
	vd->ops->config_write(vd, 9, &byte, 1);
	CHECK(out_len(&b.cd) == 3, "a write to emerg_wr's upper bytes outputs nothing");
	set_accept(&b.cd, 0);
	vd->ops->config_write(vd, 8, &c, 4);
	CHECK(out_len(&b.cd) == 3 && b.con.emerg_bytes == 3, "a full backend drops the byte");
	bench_stop(&b);
}

static void test_output_in_order(void)
{
	struct bench b;
	bench_start(&b);
	struct drv *d = &b.tx;
	struct seg c1[] = { text_seg(d, "Linux ") };
	struct seg c2[] = { text_seg(d, "version "), text_seg(d, "6.1"), rx_seg(d, 8) };
	struct seg c3[] = { text_seg(d, " booting\n") };
	uint16_t h1 = drv_offer(d, c1, 1), h2 = drv_offer(d, c2, 3), h3 = drv_offer(d, c3, 1);
	virtio_console_serve(&b.con.vd, TXQ);
	CHECK(out_is(&b.cd, "Linux version 6.1 booting\n"), "bytes of several chains, in order");
	CHECK(used_idx(d) == 3, "every chain returned");
	uint32_t id, len, ok = 1;
	uint16_t heads[3] = { h1, h2, h3 };
	for (uint16_t k = 0; k < 3; k++) {
		used_elem(d, k, &id, &len);
		ok &= id == heads[k] && len == 0;
	}
	CHECK(ok, "in order, with len 0");
	CHECK(all_bytes_are(host(d, c2[2].gpa), 8, '.'), "writable descriptors are left alone");
	CHECK(atomic_load(&b.notifies[TXQ]) == 1, "one interrupt for the batch");
	CHECK(b.con.bytes_out == 26, "counted");
	virtio_console_serve(&b.con.vd, TXQ);
	CHECK(used_idx(d) == 3 && atomic_load(&b.notifies[TXQ]) == 1, "nothing more to do");
	bench_stop(&b);
}

static void test_backpressure(void)
{
	struct bench b;
	bench_start(&b);
	struct drv *d = &b.tx;
	set_accept(&b.cd, 5);
	struct seg c1[] = { text_seg(d, "hello "), text_seg(d, "world") };
	struct seg c2[] = { text_seg(d, ", again") };
	drv_offer(d, c1, 2);
	drv_offer(d, c2, 1);
	virtio_console_serve(&b.con.vd, TXQ);
	CHECK(out_is(&b.cd, "hello"), "a full backend takes part of the chain");
	CHECK(used_idx(d) == 0 && b.con.tx_held, "the chain stays with the device");
	virtio_console_serve(&b.con.vd, TXQ); /* a driver kick while still full */
	CHECK(out_is(&b.cd, "hello") && used_idx(d) == 0, "still full: nothing moves");

	set_accept(&b.cd, 4);
	b.cd.client.on_output_space(b.cd.client.dev);
	CHECK(kicked(&b, TXQ), "on_output_space kicks the transmit queue");
	virtio_console_serve(&b.con.vd, TXQ);
	CHECK(out_is(&b.cd, "hello wor") && used_idx(d) == 0, "resumes where it stopped, across descriptors");

	set_accept(&b.cd, SIZE_MAX);
	b.cd.client.on_output_space(b.cd.client.dev);
	CHECK(kicked(&b, TXQ), "kicked again");
	virtio_console_serve(&b.con.vd, TXQ);
	CHECK(out_is(&b.cd, "hello world, again"), "then the rest and the next chain, in order");
	CHECK(used_idx(d) == 2 && !b.con.tx_held, "both chains returned");
	CHECK(!kicked(&b, RXQ), "output never kicks the receive queue");
	bench_stop(&b);
}

static void test_input(void)
{
	struct bench b;
	bench_start(&b);
	struct drv *d = &b.rx;
	struct seg r1 = post_rx(d, 8), r2 = post_rx(d, 8);
	CHECK(host_input(&b, "ls -l\r", 6) == 6, "on_input takes what fits");
	CHECK(kicked(&b, RXQ), "and kicks the receive queue");
	CHECK(used_idx(d) == 0, "without touching the ring");
	virtio_console_serve(&b.con.vd, RXQ);
	uint32_t id, len;
	used_elem(d, 0, &id, &len);
	CHECK(used_idx(d) == 1 && len == 6 && memcmp(host(d, r1.gpa), "ls -l\r..", 8) == 0,
	      "input lands in the first posted buffer");
	CHECK(atomic_load(&b.notifies[RXQ]) == 1, "with an interrupt");
	CHECK(host_input(&b, "0123456789", 10) == 10, "more input");
	virtio_console_serve(&b.con.vd, RXQ);
	used_elem(d, 1, &id, &len);
	CHECK(used_idx(d) == 2 && len == 8 && memcmp(host(d, r2.gpa), "01234567", 8) == 0,
	      "fills the next buffer");
	CHECK(b.con.input_len == 2, "the rest waits for a buffer");
	struct seg r3 = post_rx(d, 8);
	virtio_console_serve(&b.con.vd, RXQ);
	used_elem(d, 2, &id, &len);
	CHECK(used_idx(d) == 3 && len == 2 && memcmp(host(d, r3.gpa), "89", 2) == 0,
	      "and arrives once the guest posts one");
	CHECK(ready_calls(&b.cd) == 0, "nothing was refused: no input_ready");
	CHECK(b.con.bytes_in == 16, "counted");

	/* A receive chain of several buffers, readable ones skipped. */
	struct seg multi[] = { text_seg(d, "RO"), rx_seg(d, 2), rx_seg(d, 4) };
	drv_offer(d, multi, 3);
	host_input(&b, "abcdef", 6);
	virtio_console_serve(&b.con.vd, RXQ);
	used_elem(d, 3, &id, &len);
	CHECK(len == 6 && memcmp(host(d, multi[1].gpa), "ab", 2) == 0 &&
	      memcmp(host(d, multi[2].gpa), "cdef", 4) == 0 &&
	      memcmp(host(d, multi[0].gpa), "RO", 2) == 0,
	      "input spreads over a chain's writable buffers only");
	bench_stop(&b);
}

static void test_input_waits(void)
{
	struct bench b;
	bench_start(&b);
	struct drv *d = &b.rx;
	CHECK(host_input(&b, "hello", 5) == 5, "input with no receive buffers is taken");
	virtio_console_serve(&b.con.vd, RXQ);
	CHECK(used_idx(d) == 0 && b.con.input_len == 5, "and waits");
	struct seg r = post_rx(d, 64);
	virtio_console_serve(&b.con.vd, RXQ); /* the driver's kick */
	uint32_t id, len;
	used_elem(d, 0, &id, &len);
	CHECK(used_idx(d) == 1 && len == 5 && memcmp(host(d, r.gpa), "hello", 5) == 0,
	      "it arrives after the guest posts buffers");
	bench_stop(&b);
}

static void test_input_full(void)
{
	struct bench b;
	bench_start(&b);
	struct drv *d = &b.rx;
	static uint8_t big[6000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + i / 251);
	CHECK(host_input(&b, big, sizeof(big)) == VIRTIO_CONSOLE_INPUT_BUF,
	      "on_input takes only what fits in the device buffer (4096)");
	CHECK(host_input(&b, big + 4096, 1904) == 0, "and nothing while it is full");
	virtio_console_serve(&b.con.vd, RXQ);
	CHECK(ready_calls(&b.cd) == 0, "no input_ready while nothing drained");

	struct seg r[4];
	r[0] = post_rx(d, 1024);
	virtio_console_serve(&b.con.vd, RXQ);
	CHECK(used_idx(d) == 1 && ready_calls(&b.cd) == 0, "a partial drain does not ask for more");
	for (int i = 1; i < 4; i++)
		r[i] = post_rx(d, 1024);
	virtio_console_serve(&b.con.vd, RXQ);
	CHECK(used_idx(d) == 4 && b.con.input_len == 0, "drained into the guest's buffers");
	CHECK(ready_calls(&b.cd) == 1, "then chardev_input_ready once");
	bool same = true;
	for (int i = 0; i < 4; i++)
		same &= memcmp(host(d, r[i].gpa), big + 1024 * i, 1024) == 0;
	CHECK(same, "the bytes, in order");
	virtio_console_serve(&b.con.vd, RXQ);
	CHECK(ready_calls(&b.cd) == 1, "not again without a new refusal");

	/* The backend resends what it held; the ring wraps in the device buffer. */
	CHECK(host_input(&b, big + 4096, 1904) == 1904, "the resent rest is taken");
	struct seg last = post_rx(d, 2048);
	virtio_console_serve(&b.con.vd, RXQ);
	uint32_t id, len;
	used_elem(d, 4, &id, &len);
	CHECK(len == 1904 && memcmp(host(d, last.gpa), big + 4096, 1904) == 0, "and delivered");
	bench_stop(&b);
}

static void test_bad_chains(void)
{
	struct bench b;
	bench_start(&b);
	/* A receive chain without writable bytes is returned empty. */
	struct seg ro = text_seg(&b.rx, "xx");
	drv_offer(&b.rx, &ro, 1);
	struct seg ok = post_rx(&b.rx, 8);
	host_input(&b, "k", 1);
	virtio_console_serve(&b.con.vd, RXQ);
	uint32_t id, len;
	used_elem(&b.rx, 0, &id, &len);
	CHECK(used_idx(&b.rx) == 2 && len == 0 && b.con.bad_chains == 1,
	      "a read-only receive chain goes back with len 0");
	CHECK(*(uint8_t *)host(&b.rx, ok.gpa) == 'k', "the input goes to the next one");
	CHECK(!(virtio_get_status(&b.con.vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET), "not a broken ring");

	/* A descriptor outside guest RAM breaks the ring. */
	struct seg wild = { RAM_GPA + RAM_SIZE - 4, 64, false };
	drv_offer(&b.tx, &wild, 1);
	virtio_console_serve(&b.con.vd, TXQ);
	CHECK(virtio_get_status(&b.con.vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET,
	      "a malformed transmit chain sets DEVICE_NEEDS_RESET");
	CHECK(atomic_load(&b.config_notifies) == 1 && b.con.tx_broken, "with a config interrupt");
	struct seg fine = text_seg(&b.tx, "late");
	drv_offer(&b.tx, &fine, 1);
	virtio_console_serve(&b.con.vd, TXQ);
	CHECK(out_len(&b.cd) == 0 && used_idx(&b.tx) == 0, "the queue is no longer served");

	struct seg wild_rx = { RAM_GPA + RAM_SIZE, 8, true };
	drv_offer(&b.rx, &wild_rx, 1);
	host_input(&b, "z", 1);
	virtio_console_serve(&b.con.vd, RXQ);
	CHECK(b.con.rx_broken && b.con.input_len == 1, "a malformed receive chain too; the input stays");
	bench_stop(&b);
}

/*
 * Behind a fake IOMMU of 16 KiB pages mapping RAM onto itself: a chain
 * with a buffer the IOMMU refuses goes back empty, its bytes untouched,
 * and the device goes on.
 */
static void test_iommu(void)
{
	struct bench b;
	bench_start(&b);
	struct fake_iommu f;
	fake_iommu_init(&f, RAM_GPA, 0x4000);
	fake_iommu_map_range(&f, RAM_GPA, RAM_GPA, FAKE_IOMMU_PAGES);
	virtio_device_set_iommu(&b.con.vd, &f.t, 0x38);
	enable_queue(&b, RXQ, &b.rx);
	enable_queue(&b, TXQ, &b.tx);

	b.rx.next_buf = RAM_GPA + 0x4000;
	struct seg refused = post_rx(&b.rx, 8);
	fake_iommu_unmap(&f, refused.gpa);
	host_input(&b, "k", 1);
	virtio_console_serve(&b.con.vd, RXQ);
	uint32_t id, len;
	used_elem(&b.rx, 0, &id, &len);
	CHECK(used_idx(&b.rx) == 1 && len == 0 && all_bytes_are(host(&b.rx, refused.gpa), 8, '.') &&
	      b.con.input_len == 1 && b.con.bad_chains == 1 && f.faults == 1,
	      "a receive buffer refused: back with len 0, untouched, the input kept");
	b.rx.next_buf = RAM_GPA + 0x8000;
	struct seg ok = post_rx(&b.rx, 8);
	virtio_console_serve(&b.con.vd, RXQ);
	CHECK(used_idx(&b.rx) == 2 && *(uint8_t *)host(&b.rx, ok.gpa) == 'k', "the input goes to the next one");

	b.tx.next_buf = RAM_GPA + 0x84000;
	struct seg out = text_seg(&b.tx, "secret");
	fake_iommu_unmap(&f, out.gpa);
	drv_offer(&b.tx, &out, 1);
	virtio_console_serve(&b.con.vd, TXQ);
	used_elem(&b.tx, 0, &id, &len);
	CHECK(used_idx(&b.tx) == 1 && len == 0 && out_len(&b.cd) == 0 && b.con.bad_chains == 2 && !b.con.tx_held,
	      "output from a refused buffer: not written, the chain back");
	CHECK(!(virtio_get_status(&b.con.vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET), "not a broken ring");
	bench_stop(&b);
}

static bool wait_until(struct drv *d, uint16_t n)
{
	for (int i = 0; i < 5000 && used_idx(d) != n; i++)
		usleep(1000);
	return used_idx(d) == n;
}

static bool wait_out(struct chardev *cd, size_t n)
{
	for (int i = 0; i < 5000 && out_len(cd) != n; i++)
		usleep(1000);
	return out_len(cd) == n;
}

/* What a driver does: features, queues, DRIVER_OK. */
static void driver_start(struct bench *b)
{
	struct virtio_device *vd = &b->con.vd;
	virtio_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_set_driver_features(vd, 0, virtio_device_features(vd, 0));
	virtio_set_driver_features(vd, 1, 1);
	virtio_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	struct drv *drvs[2] = { &b->rx, &b->tx };
	for (unsigned q = 0; q < 2; q++) {
		struct virtio_queue *vq = &vd->queues[q];
		struct drv *d = drvs[q];
		memset(host(d, d->avail), 0, 0x1000);
		memset(host(d, d->used), 0, 0x1000);
		d->avail_idx = d->next_desc = 0;
		vq->vq.size = d->qsize;
		vq->vq.desc_gpa = d->desc;
		vq->vq.avail_gpa = d->avail;
		vq->vq.used_gpa = d->used;
		vq->enabled = true;
	}
	virtio_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			  VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

/* The real worker, started by DRIVER_OK and stopped by a reset. */
static void test_worker_and_reset(void)
{
	struct bench b;
	bench_start(&b);
	struct virtio_device *vd = &b.con.vd;
	virtio_set_status(vd, 0);
	driver_start(&b);
	CHECK(b.con.worker.running && !(virtio_get_status(vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET),
	      "DRIVER_OK starts the worker");
	CHECK(atomic_load(&b.config_notifies) == 1, "and announces the size (F_SIZE negotiated)");
	virtio_console_set_size(&b.con, 100, 30);
	CHECK(atomic_load(&b.config_notifies) == 2, "a size change while running interrupts");

	struct seg t = text_seg(&b.tx, "through the worker\n");
	drv_offer(&b.tx, &t, 1);
	virtio_kick_queue(vd, TXQ);
	CHECK(wait_until(&b.tx, 1) && out_is(&b.cd, "through the worker\n"), "a kicked chain is written");

	struct seg r = post_rx(&b.rx, 16);
	virtio_kick_queue(vd, RXQ);
	host_input(&b, "typed", 5);
	CHECK(wait_until(&b.rx, 1) && memcmp(host(&b.rx, r.gpa), "typed", 5) == 0,
	      "input reaches a posted buffer through the worker");

	/* A full backend: on_output_space resumes the worker. */
	set_accept(&b.cd, 3);
	struct seg t2 = text_seg(&b.tx, "ABCDEF");
	drv_offer(&b.tx, &t2, 1);
	virtio_kick_queue(vd, TXQ);
	CHECK(wait_out(&b.cd, 22), "part of the chain goes out");
	usleep(20000);
	CHECK(used_idx(&b.tx) == 1, "the rest waits");
	set_accept(&b.cd, SIZE_MAX);
	b.cd.client.on_output_space(b.cd.client.dev);
	CHECK(wait_until(&b.tx, 2) && out_is(&b.cd, "through the worker\nABCDEF"),
	      "on_output_space lets the worker finish it");

	/* Reset with a chain half written and input waiting for buffers. */
	set_accept(&b.cd, 2);
	struct seg t3 = text_seg(&b.tx, "xyz");
	drv_offer(&b.tx, &t3, 1);
	virtio_kick_queue(vd, TXQ);
	CHECK(wait_out(&b.cd, 27), "another partial write");
	host_input(&b, "kept", 4);
	usleep(20000);
	virtio_set_status(vd, 0);
	CHECK(!b.con.worker.running && !b.con.tx_held, "a reset stops the worker and forgets the chain");
	CHECK(b.con.input_len == 4, "buffered input survives the reset");

	set_accept(&b.cd, SIZE_MAX);
	driver_start(&b);
	CHECK(b.con.worker.running, "the driver starts again");
	struct seg r2 = post_rx(&b.rx, 16);
	virtio_kick_queue(vd, RXQ);
	CHECK(wait_until(&b.rx, 1) && memcmp(host(&b.rx, r2.gpa), "kept", 4) == 0,
	      "and reads the input typed before the reset");
	struct seg t4 = text_seg(&b.tx, "!");
	drv_offer(&b.tx, &t4, 1);
	virtio_kick_queue(vd, TXQ);
	CHECK(wait_until(&b.tx, 1) && out_is(&b.cd, "through the worker\nABCDEFxy!"),
	      "output resumes with the new driver's chains only");
	bench_stop(&b);
	CHECK(!b.cd.attached && !b.con.worker.running, "destroy detaches and stops");
}

/* --- snapshots --- */

#define INSTANCE 1

/* The blob `w` holds, opened in *reader; the caller frees it. */
/* A bench whose driver has started (queues, DRIVER_OK, the worker). */
static void bench_start_live(struct bench *b)
{
	bench_start(b);
	virtio_set_status(&b->con.vd, 0);
	driver_start(b);
}

/*
 * Saved with an output chain half written (the backend full) and input
 * waiting for receive buffers; loaded into a fresh console on a terminal
 * of another size: the rest of the chain goes out once, the input
 * reaches the guest, and the new size is announced.
 */
static void test_snapshot(void)
{
	static struct bench src, dst;
	bench_start_live(&src);
	set_accept(&src.cd, 3);
	struct seg t = text_seg(&src.tx, "ABCDEF");
	drv_offer(&src.tx, &t, 1);
	virtio_kick_queue(&src.con.vd, TXQ);
	CHECK(wait_out(&src.cd, 3), "the backend takes 3 bytes of a chain");
	host_input(&src, "kept", 4);

	virtio_device_quiesce(&src.con.vd);
	CHECK(!src.con.worker.running && !src.con.tx_held && src.con.tx_done == 3 &&
	      src.con.vd.queues[TXQ].vq.last_avail == 0,
	      "quiesce puts the chain back on the ring, 3 bytes of it written");
	struct state_writer w;
	state_writer_init(&w);
	virtio_device_save(&src.con.vd, &w, INSTANCE);
	struct state_reader reader;
	uint8_t *blob = state_blob_open(&w, &reader);

	bench_start(&dst);
	virtio_set_status(&dst.con.vd, 0);
	virtio_console_set_size(&dst.con, 120, 40);
	memcpy(dst.ram, src.ram, RAM_SIZE);
	dst.rx = src.rx;
	dst.tx = src.tx;
	dst.rx.ram = dst.tx.ram = dst.ram;
	CHECK(virtio_device_load(&dst.con.vd, &reader, INSTANCE) == 0 && dst.con.input_len == 4 &&
	      dst.con.tx_done == 3, "a fresh console loads it: the input and the bytes written");
	CHECK(virtio_device_unquiesce(&dst.con.vd) == 0 && dst.con.worker.running, "unquiesce starts the worker");
	CHECK(wait_until(&dst.tx, 1) && out_is(&dst.cd, "DEF"),
	      "the chain is taken again and only its rest written");
	struct seg r = post_rx(&dst.rx, 16);
	virtio_kick_queue(&dst.con.vd, RXQ);
	CHECK(wait_until(&dst.rx, 1) && memcmp(host(&dst.rx, r.gpa), "kept", 4) == 0,
	      "the input typed before the snapshot reaches the guest");
	CHECK(atomic_load(&dst.config_notifies) == 1 && cfg16(&dst.con.vd, 0) == 120 &&
	      dst.con.vd.config_generation != src.con.vd.config_generation,
	      "the new terminal's size is announced: a configuration change");

	int before = atomic_load(&src.config_notifies);
	set_accept(&src.cd, SIZE_MAX);
	CHECK(virtio_device_unquiesce(&src.con.vd) == 0 && wait_until(&src.tx, 1) &&
	      out_is(&src.cd, "ABCDEF"), "the source, unquiesced, finishes the chain without repeating a byte");
	CHECK(atomic_load(&src.config_notifies) == before, "its size did not change: no announcement");
	free(blob);
	bench_stop(&src);
	bench_stop(&dst);
}

/*
 * A load of the device's VIRT section from `reader` with a VCON section
 * (none without with_vcon) of these values: -EINVAL and `why` logged?
 */
static bool load_refused(const struct state_reader *reader, bool with_vcon, uint64_t tx_done,
			 uint32_t input_len, const char *why)
{
	static uint8_t input[2 * VIRTIO_CONSOLE_INPUT_BUF];
	static struct bench b;
	struct state_section virt;
	struct state_writer w;
	state_writer_init(&w);
	state_find(reader, STATE_TAG_VIRTIO, INSTANCE, &virt);
	state_begin(&w, STATE_TAG_VIRTIO, INSTANCE);
	state_put_bytes(&w, virt.data, virt.len);
	state_end(&w);
	if (with_vcon) {
		state_begin(&w, STATE_TAG('V', 'C', 'O', 'N'), INSTANCE);
		state_put_u64(&w, tx_done);
		state_put_u16(&w, 80);
		state_put_u16(&w, 25);
		state_put_u32(&w, input_len);
		state_put_bytes(&w, input, input_len);
		state_end(&w);
	}
	struct state_reader spoilt;
	uint8_t *blob = state_blob_open(&w, &spoilt);
	bench_start(&b);
	virtio_set_status(&b.con.vd, 0);
	log_clear_last_error();
	bool refused = virtio_device_load(&b.con.vd, &spoilt, INSTANCE) == -EINVAL &&
		       strstr(log_last_error(), why);
	bench_stop(&b);
	free(blob);
	return refused;
}

static void test_snapshot_refusals(void)
{
	static struct bench src;
	bench_start(&src);
	virtio_set_status(&src.con.vd, 0);
	struct state_writer w;
	state_writer_init(&w);
	virtio_device_save(&src.con.vd, &w, INSTANCE);
	struct state_reader reader;
	uint8_t *blob = state_blob_open(&w, &reader);
	bench_stop(&src);

	CHECK(load_refused(&reader, false, 0, 0, "virtio device 1: no saved virtio-console state"),
	      "no VCON section: refused");
	CHECK(load_refused(&reader, true, 0, VIRTIO_CONSOLE_INPUT_BUF + 1, "saved virtio-console state is truncated"),
	      "more input than the device buffers: refused");
	CHECK(load_refused(&reader, true, (1ull << 32) + 1, 0, "more than a chain holds"),
	      "more of an output chain written than a chain holds: refused");
	CHECK(!load_refused(&reader, true, 1ull << 32, VIRTIO_CONSOLE_INPUT_BUF, ""),
	      "a full input buffer and a 4 GiB chain's worth written load");
	free(blob);
}

int main(void)
{
	test_config();
	test_emerg_wr();
	test_output_in_order();
	test_backpressure();
	test_input();
	test_input_waits();
	test_input_full();
	test_bad_chains();
	test_iommu();
	test_worker_and_reset();
	test_snapshot();
	test_snapshot_refusals();
	return tap_finish();
}
