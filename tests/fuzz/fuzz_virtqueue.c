/*
 * libFuzzer target: arbitrary bytes as the guest RAM under one split
 * virtqueue, with or without an IOMMU. The device side pops until the
 * queue is empty or refused, uses every buffer it gets and pushes the
 * chain back. Nothing may reach outside RAM (one malloc'd block: ASan
 * watches its ends), and every chain taken must keep the promises of
 * virtqueue.h (abort otherwise); through the IOMMU, every buffer byte must
 * also be in a page the IOMMU maps for that direction.
 *
 * The input is the RAM from its first byte (64 KiB at gpa 0x1000, zero
 * beyond the input); its first bytes also say where the queue is:
 *   0     queue size, as log2 (mod 16)
 *   1     features: bit 0 EVENT_IDX, bit 1 INDIRECT_DESC; bit 2 the addresses
 *         are IOVAs through the fake IOMMU below, bit 3 its translations span
 *         runs of contiguous pages (as a superpage would)
 *   2..7  descriptor table, avail ring, used ring: 16-bit LE offsets into RAM
 *   8..9  where the device's indices start (last_avail = used_idx), for wrap-around
 *   16..79  the IOMMU's table, one byte per 4 KiB IOVA page from 0 (read from
 *         the input, so the device's writes do not change it): bit 0 no read,
 *         bit 1 no write, bits 7:2 d: IOVA page i maps gpa page (i + d) % 64,
 *         most of which is not RAM. 0 is the identity; IOVAs past the table fault.
 * `test_virtqueue --fuzz-seeds DIR` writes the seed corpus in this layout.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtqueue.h"

#define FUZZ_RAM_GPA  0x1000
#define FUZZ_RAM_SIZE 0x10000
#define HEADER_SIZE   10
#define MAX_POPS      256
#define PAGE          0x1000
#define IOVA_PAGES    64
#define TABLE_AT      16
#define SOURCE_ID     0x0008 /* 00:01.0 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct table_iommu {
	uint8_t table[IOVA_PAGES];
	bool runs;
	uint64_t readable, writable; /* bit n: some IOVA page maps gpa page n with that right */
};

static uint16_t le16_at(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static bool allowed(uint8_t e, bool write)
{
	return !(e & (write ? 2 : 1));
}

static uint64_t target(const struct table_iommu *m, uint64_t i)
{
	return (i + (m->table[i] >> 2)) % IOVA_PAGES;
}

static int translate(void *ctx, uint16_t source_id, uint64_t iova, bool write, uint64_t *gpa,
		     uint64_t *span)
{
	const struct table_iommu *m = ctx;
	uint64_t i = iova / PAGE;
	if (source_id != SOURCE_ID)
		abort();
	if (i >= IOVA_PAGES || !allowed(m->table[i], write))
		return -EFAULT;
	*gpa = target(m, i) * PAGE + iova % PAGE;
	*span = PAGE - iova % PAGE;
	for (; m->runs && i + 1 < IOVA_PAGES && allowed(m->table[i + 1], write) &&
	       target(m, i + 1) == target(m, i) + 1; i++)
		*span += PAGE;
	return 0;
}

static void iommu_init(struct table_iommu *m, const uint8_t *data, size_t size)
{
	memset(m, 0, sizeof(*m));
	if (size > TABLE_AT)
		memcpy(m->table, data + TABLE_AT, size - TABLE_AT < IOVA_PAGES ? size - TABLE_AT : IOVA_PAGES);
	m->runs = data[1] & 8;
	for (uint64_t i = 0; i < IOVA_PAGES; i++) {
		m->readable |= (uint64_t)allowed(m->table[i], false) << target(m, i);
		m->writable |= (uint64_t)allowed(m->table[i], true) << target(m, i);
	}
}

/* Every page of the buffer is RAM the IOMMU maps for the device's use of it. */
static void check_mapped(const struct table_iommu *m, const uint8_t *ram, const struct virtq_buf *b)
{
	if (b->host < ram || b->len > FUZZ_RAM_SIZE || b->host - ram > FUZZ_RAM_SIZE - b->len)
		abort();
	uint64_t first = FUZZ_RAM_GPA + (uint64_t)(b->host - ram), last = first + b->len - 1;
	for (uint64_t page = first / PAGE; page <= last / PAGE; page++)
		if (!((b->device_writable ? m->writable : m->readable) >> page & 1))
			abort();
}

/* Aborts unless the chain is what virtq_pop promises (iommu: NULL without one). */
static void check_chain(const struct virtq *vq, const struct virtq_chain *c, const uint8_t *ram,
			const struct table_iommu *iommu)
{
	uint64_t readable = 0, writable = 0;
	if (c->head >= vq->size || c->count > (iommu ? VIRTQ_MAX_BUFS : VIRTQ_MAX_CHAIN) ||
	    (c->end_left_out && !c->dma_fault) || (!iommu && c->dma_fault))
		abort();
	for (unsigned i = 0; i < c->count; i++) {
		const struct virtq_buf *b = &c->bufs[i];
		if (!b->host || b->len == 0 || (writable && !b->device_writable))
			abort();
		if (iommu)
			check_mapped(iommu, ram, b);
		*(b->device_writable ? &writable : &readable) += b->len;
	}
	if (readable != c->readable_len || writable != c->writable_len ||
	    readable + writable > (1ull << 32))
		abort();
}

/* Reads every readable buffer's ends and writes every writable one's. */
static void use_buffers(const struct virtq_chain *c)
{
	for (unsigned i = 0; i < c->count; i++) {
		volatile uint8_t *p = c->bufs[i].host;
		uint32_t last = c->bufs[i].len - 1;
		if (c->bufs[i].device_writable) {
			p[0] = 0xa5;
			p[last] = 0x5a;
		} else {
			(void)p[0];
			(void)p[last];
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *ram;
	static struct virtq_chain *chain;
	static struct table_iommu iommu;
	if (!ram)
		ram = malloc(FUZZ_RAM_SIZE);
	if (!chain)
		chain = malloc(sizeof(*chain));
	if (!ram || !chain || size < HEADER_SIZE)
		return 0;

	size_t n = size < FUZZ_RAM_SIZE ? size : FUZZ_RAM_SIZE;
	memcpy(ram, data, n);
	memset(ram + n, 0, FUZZ_RAM_SIZE - n);
	struct guest_mem gm;
	guest_mem_init_flat(&gm, ram, FUZZ_RAM_GPA, FUZZ_RAM_SIZE);
	bool through_iommu = data[1] & 4;
	iommu_init(&iommu, data, size);
	struct dma_translator translator = { .translate = translate, .ctx = &iommu };

	struct virtq vq = {
		.dma = { .mem = &gm, .iommu = through_iommu ? &translator : NULL, .source_id = SOURCE_ID },
		.size = (uint16_t)(1u << (data[0] % 16)),
		.event_idx = data[1] & 1,
		.indirect = data[1] & 2,
		.desc_gpa = FUZZ_RAM_GPA + le16_at(data + 2),
		.avail_gpa = FUZZ_RAM_GPA + le16_at(data + 4),
		.used_gpa = FUZZ_RAM_GPA + le16_at(data + 6),
	};
	if (virtq_init(&vq) != 0)
		return 0;
	vq.last_avail = vq.used_idx = le16_at(data + 8);

	for (int i = 0; i < MAX_POPS && virtq_pop(&vq, chain) == 1; i++) {
		check_chain(&vq, chain, ram, through_iommu ? &iommu : NULL);
		use_buffers(chain);
		uint32_t written = chain->writable_len > UINT32_MAX ? UINT32_MAX : (uint32_t)chain->writable_len;
		if (virtq_push(&vq, chain->head, written) != 0)
			abort();
		virtq_publish_avail_event(&vq);
		if (i % 4 == 3)
			virtq_should_notify(&vq);
	}
	virtq_should_notify(&vq);
	return 0;
}
