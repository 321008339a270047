/*
 * A fake virtio-net driver for device tests, over any backend: fake guest
 * RAM, a fake transport that counts interrupts, one fake driver
 * (fake_virtq.h) per queue, feature negotiation and queue setup as a
 * transport does them, transmit frames and receive buffers offered on the
 * rings, and the used rings read back.
 *
 * The backend is the test's: fake_net_ram() before virtio_net_init or
 * virtio_net_init_fds (with &b->gm), fake_net_attach() after it;
 * virtio_net_destroy() then fake_net_free() at the end.
 */
#ifndef VMON_TESTS_FAKE_NET_H
#define VMON_TESTS_FAKE_NET_H

#include <endian.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "devices/virtio/net.h"
#include "devices/virtio/net_hdr.h"
#include "fake_virtq.h"
#include "virtio/virtio.h"

#define F(bit)   (1ull << (bit))
#define HDR      VIRTIO_NET_HDR_LEN
#define FAKE_NET_MAX_Q 9 /* up to 4 pairs */

/* Queue q's rings at RING_OFF(q), its buffers in 2 MiB from BUF_OFF(q). */
#define FAKE_NET_RAM_GPA  0x100000ull
#define FAKE_NET_RAM_SIZE (24ull << 20)
#define FAKE_NET_RING_OFF(q) (0x4000ull * (q))
#define FAKE_NET_BUF_OFF(q)  (0x100000ull + 0x200000ull * (q))

struct fake_net {
	uint8_t *ram;
	struct guest_mem gm;
	struct virtio_net net;
	struct drv d[FAKE_NET_MAX_Q];
	unsigned pairs;
	/* The test's backend, if it holds one: the device's end and its own, per pair. */
	int dev[VIRTIO_NET_MAX_PAIRS], peer[VIRTIO_NET_MAX_PAIRS];
	atomic_int notifies, config_notifies;
};

static const struct virtio_net_hdr plain = { 0 };

static inline void bail(const char *what)
{
	printf("Bail out! %s\n", what);
	exit(1);
}

static inline void fake_net_notify_queue(void *ctx, unsigned q, uint16_t vector)
{
	(void)q, (void)vector;
	atomic_fetch_add(&((struct fake_net *)ctx)->notifies, 1);
}

static inline void fake_net_notify_config(void *ctx, uint16_t vector)
{
	(void)vector;
	atomic_fetch_add(&((struct fake_net *)ctx)->config_notifies, 1);
}

static inline unsigned rxq(unsigned pair) { return 2 * pair; }
static inline unsigned txq(unsigned pair) { return 2 * pair + 1; }
/* §5.1.2: the controlq follows the last pair, and is queue 2 when MQ is not negotiated. */
static inline unsigned ctrlq(struct fake_net *b)
{
	return virtio_has_feature(&b->net.vd, VIRTIO_NET_F_MQ) ? 2 * b->pairs : 2;
}

/* A fresh fake driver for queue q: zeroed rings, buffers from its own region. */
static inline void drv_reset(struct fake_net *b, unsigned q)
{
	uint64_t ring = FAKE_NET_RAM_GPA + FAKE_NET_RING_OFF(q), buf = FAKE_NET_RAM_GPA + FAKE_NET_BUF_OFF(q);
	memset(b->ram + FAKE_NET_RING_OFF(q), 0, 0x4000);
	b->d[q] = (struct drv){ .ram = b->ram, .ram_gpa = FAKE_NET_RAM_GPA, .desc = ring,
				.avail = ring + 0x1000, .used = ring + 0x2000, .qsize = VIRTIO_NET_QUEUE_SIZE,
				.buf_start = buf, .next_buf = buf, .buf_end = buf + 0x200000 };
}

/* Zeroes the bench and gives it fake RAM for `pairs` queue pairs. */
static inline void fake_net_ram(struct fake_net *b, unsigned pairs)
{
	memset(b, 0, sizeof(*b));
	b->pairs = pairs;
	if (2 * pairs + 1 > FAKE_NET_MAX_Q || !(b->ram = calloc(1, FAKE_NET_RAM_SIZE)))
		bail("cannot set up the bench");
	guest_mem_init_flat(&b->gm, b->ram, FAKE_NET_RAM_GPA, FAKE_NET_RAM_SIZE);
}

/* After the device's init: the fake transport and a fake driver per queue. */
static inline void fake_net_attach(struct fake_net *b)
{
	b->net.vd.transport = (struct virtio_transport){ .notify_queue = fake_net_notify_queue,
							 .notify_config = fake_net_notify_config, .ctx = b };
	for (unsigned q = 0; q < 2 * b->pairs + 1; q++)
		drv_reset(b, q);
}

static inline void fake_net_free(struct fake_net *b)
{
	free(b->ram);
	b->ram = NULL;
}

static inline uint64_t offered(struct fake_net *b)
{
	return virtio_device_features(&b->net.vd, 0) | (uint64_t)virtio_device_features(&b->net.vd, 1) << 32;
}

/* Puts queue q where its fake driver has it, as the transport would. */
static inline void enable_queue(struct fake_net *b, unsigned q)
{
	struct virtio_queue *vq = &b->net.vd.queues[q];
	vq->vq = (struct virtq){ .dma = b->net.vd.dma, .size = b->d[q].qsize, .desc_gpa = b->d[q].desc,
				 .avail_gpa = b->d[q].avail, .used_gpa = b->d[q].used,
				 .event_idx = virtio_has_feature(&b->net.vd, VIRTIO_F_EVENT_IDX),
				 .indirect = virtio_has_feature(&b->net.vd, VIRTIO_F_INDIRECT_DESC) };
	if (virtq_init(&vq->vq) != 0)
		bail("virtq_init refused the fake queue");
	vq->enabled = true;
}

/*
 * ACKNOWLEDGE, DRIVER, the features, FEATURES_OK; then every queue. True if
 * FEATURES_OK stuck. No DRIVER_OK: no worker, the test runs its jobs.
 */
static inline bool negotiate(struct fake_net *b, uint64_t features)
{
	struct virtio_device *vd = &b->net.vd;
	virtio_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_set_driver_features(vd, 0, (uint32_t)features);
	virtio_set_driver_features(vd, 1, (uint32_t)(features >> 32));
	virtio_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	for (unsigned q = 0; q < vd->nr_queues; q++)
		enable_queue(b, q);
	return virtio_get_status(vd) & VIRTIO_STATUS_FEATURES_OK;
}

/* DRIVER_OK after negotiate(): the device activates and its worker starts. The new status. */
static inline uint8_t driver_ok(struct fake_net *b)
{
	virtio_set_status(&b->net.vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			  VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	return virtio_get_status(&b->net.vd);
}

static inline void used_elem(struct drv *d, uint16_t k, uint32_t *id, uint32_t *len)
{
	uint64_t e = d->used + 4 + 8ull * (k % d->qsize);
	*id = get32(d, e);
	*len = get32(d, e + 4);
}

/* Waits up to 5 s for the used index to reach n (a worker is filling the ring). */
static inline bool wait_for(struct drv *d, uint16_t n)
{
	for (int i = 0; i < 5000 && used_idx(d) != n; i++)
		usleep(1000);
	return used_idx(d) == n;
}

/* The CPU time the whole process (a device worker included) takes while the caller sleeps ms. */
static inline long cpu_ms_in(unsigned ms)
{
	struct timespec a, z;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
	usleep(ms * 1000);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &z);
	return (z.tv_sec - a.tv_sec) * 1000 + (z.tv_nsec - a.tv_nsec) / 1000000;
}

static inline void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + seed + (i >> 8));
}

/*
 * Offers `len` bytes of `stream` (NULL: 0xee bytes) as one chain, in pieces
 * ending at the offsets in cuts, device-writable if `write`. Returns its head.
 */
static inline uint16_t offer_stream(struct drv *d, const uint8_t *stream, uint32_t len, const uint32_t *cuts,
				    unsigned ncuts, bool write, struct seg *segs_out)
{
	struct seg segs[64];
	unsigned n = 0;
	uint32_t at = 0;
	for (unsigned k = 0; k <= ncuts; k++) {
		uint32_t end = k < ncuts ? cuts[k] : len;
		if (end <= at)
			continue;
		uint64_t gpa = drv_alloc(d, end - at);
		if (stream)
			memcpy(host(d, gpa), stream + at, end - at);
		else
			memset(host(d, gpa), 0xee, end - at);
		segs[n++] = (struct seg){ gpa, end - at, write };
		at = end;
	}
	if (segs_out)
		memcpy(segs_out, segs, n * sizeof(*segs));
	return drv_offer(d, segs, n);
}

/* The wire form of h followed by a frame of len bytes with pattern `seed`. */
static inline uint8_t *packet(const struct virtio_net_hdr *h, size_t len, unsigned seed)
{
	uint8_t *p = malloc(HDR + len);
	if (!p)
		bail("malloc");
	net_hdr_store(h, p);
	fill(p + HDR, len, seed);
	return p;
}

/* Whether buf (n bytes) is h on the wire and the frame (len, seed). */
static inline bool is_packet(const uint8_t *buf, ssize_t n, const struct virtio_net_hdr *h, size_t len,
			     unsigned seed)
{
	if (n != (ssize_t)(HDR + len))
		return false;
	uint8_t *p = packet(h, len, seed);
	bool ok = memcmp(buf, p, HDR + len) == 0;
	free(p);
	return ok;
}

/* The driver transmits h and a frame (len, seed) cut at `cuts`. */
static inline uint16_t tx(struct fake_net *b, unsigned pair, struct virtio_net_hdr h, uint32_t len,
			  unsigned seed, const uint32_t *cuts, unsigned ncuts)
{
	uint8_t *p = packet(&h, len, seed);
	uint16_t head = offer_stream(&b->d[txq(pair)], p, HDR + len, cuts, ncuts, false, NULL);
	free(p);
	return head;
}

/* One receive buffer of len bytes on pair's receiveq. */
static inline struct seg rx_buf(struct fake_net *b, unsigned pair, uint32_t len)
{
	struct seg s;
	offer_stream(&b->d[rxq(pair)], NULL, len, NULL, 0, true, &s);
	return s;
}

/* The head of the chain offered last on pair's receiveq. */
static inline uint16_t head_of(struct fake_net *b, unsigned pair)
{
	struct drv *d = &b->d[rxq(pair)];
	return (uint16_t)((d->next_desc + d->qsize - 1) % d->qsize);
}

/* Checks that chain s holds hdr (num_buffers nb) + frame (len, seed) and was returned as used entry k. */
static inline bool rx_landed(struct fake_net *b, unsigned pair, uint16_t k, const struct seg *s, uint16_t head,
			     struct virtio_net_hdr h, uint16_t nb, size_t len, unsigned seed)
{
	struct drv *d = &b->d[rxq(pair)];
	uint32_t id, ulen;
	used_elem(d, k, &id, &ulen);
	h.num_buffers = nb;
	uint8_t *got = host(d, s->gpa);
	return id == head && ulen == HDR + len && is_packet(got, (ssize_t)(HDR + len), &h, len, seed) &&
	       (s->len == HDR + len || got[HDR + len] == 0xee);
}

static inline struct net_counters counters(struct fake_net *b)
{
	struct net_counters c;
	virtio_net_counters(&b->net, &c);
	return c;
}

static inline uint16_t config16(struct fake_net *b, unsigned off)
{
	uint16_t v = 0xcccc;
	b->net.vd.ops->config_read(&b->net.vd, off, &v, 2);
	return le16toh(v);
}

#endif
