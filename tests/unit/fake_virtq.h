/*
 * A fake virtio driver for device tests: builds descriptor chains in fake
 * guest RAM, offers them on the avail ring as a driver would, and reads
 * the used ring back.
 */
#ifndef VMON_TESTS_FAKE_VIRTQ_H
#define VMON_TESTS_FAKE_VIRTQ_H

#include <endian.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtio.h"

struct drv {
	uint8_t *ram;
	uint64_t ram_gpa;            /* guest address of ram[0] */
	uint64_t desc, avail, used;  /* ring addresses */
	uint16_t qsize;
	bool event_idx;
	uint16_t avail_idx, next_desc;
	uint64_t buf_start, next_buf, buf_end; /* buffers come from [buf_start, buf_end) */
};

/* One buffer of a chain. */
struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

static inline void *host(struct drv *d, uint64_t gpa) { return d->ram + (gpa - d->ram_gpa); }

static inline void put16(struct drv *d, uint64_t gpa, uint16_t v)
{
	v = htole16(v);
	memcpy(host(d, gpa), &v, 2);
}

static inline uint16_t get16(struct drv *d, uint64_t gpa)
{
	uint16_t v;
	memcpy(&v, host(d, gpa), 2);
	return le16toh(v);
}

static inline uint32_t get32(struct drv *d, uint64_t gpa)
{
	uint32_t v;
	memcpy(&v, host(d, gpa), 4);
	return le32toh(v);
}

/* A fresh buffer of len bytes (16-byte aligned). */
static inline uint64_t drv_alloc(struct drv *d, uint32_t len)
{
	uint64_t gpa = d->next_buf;
	d->next_buf += (len + 15) & ~15u;
	if (d->next_buf > d->buf_end) {
		printf("Bail out! the fake driver ran out of RAM\n");
		exit(1);
	}
	return gpa;
}

static inline void set_desc(struct drv *d, uint16_t i, uint64_t addr, uint32_t len,
			    uint16_t flags, uint16_t next)
{
	struct { uint64_t addr; uint32_t len; uint16_t flags, next; } le = {
		htole64(addr), htole32(len), htole16(flags), htole16(next),
	};
	memcpy(host(d, d->desc + 16ull * i), &le, sizeof(le));
}

/* Puts the chain in the descriptor table and makes it available; returns its head. */
static inline uint16_t drv_offer(struct drv *d, const struct seg *segs, unsigned n)
{
	uint16_t head = d->next_desc;
	for (unsigned k = 0; k < n; k++) {
		uint16_t i = (uint16_t)((head + k) % d->qsize), next = (uint16_t)((i + 1) % d->qsize);
		uint16_t flags = (segs[k].write ? VIRTQ_DESC_F_WRITE : 0) |
				 (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
		set_desc(d, i, segs[k].gpa, segs[k].len, flags, next);
	}
	d->next_desc = (uint16_t)((head + n) % d->qsize);
	put16(d, d->avail + 4 + 2ull * (d->avail_idx % d->qsize), head);
	/* The index last, with release order: the device reads the entry after it. */
	__atomic_store_n((uint16_t *)host(d, d->avail + 2), htole16(++d->avail_idx), __ATOMIC_RELEASE);
	return head;
}

/* The used index, with acquire order: a device worker may be writing the ring. */
static inline uint16_t used_idx(struct drv *d)
{
	return le16toh(__atomic_load_n((uint16_t *)host(d, d->used + 2), __ATOMIC_ACQUIRE));
}

#endif
