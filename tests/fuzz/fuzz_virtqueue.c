/*
 * libFuzzer target: arbitrary bytes as the guest RAM under one split
 * virtqueue. The device side pops until the queue is empty or refused,
 * uses every buffer it gets and pushes the chain back. Nothing may reach
 * outside RAM (one malloc'd block: ASan watches its ends), and every chain
 * taken must keep the promises of virtqueue.h (abort otherwise).
 *
 * The input is the RAM from its first byte (64 KiB at gpa 0x1000, zero
 * beyond the input); its first bytes also say where the queue is:
 *   0     queue size, as log2 (mod 16)
 *   1     features: bit 0 EVENT_IDX, bit 1 INDIRECT_DESC
 *   2..7  descriptor table, avail ring, used ring: 16-bit LE offsets into RAM
 *   8..9  where the device's indices start (last_avail = used_idx), for wrap-around
 * `test_virtqueue --fuzz-seeds DIR` writes the seed corpus in this layout.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtqueue.h"

#define FUZZ_RAM_GPA  0x1000
#define FUZZ_RAM_SIZE 0x10000
#define HEADER_SIZE   10
#define MAX_POPS      256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint16_t le16_at(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Aborts unless the chain is what virtq_pop promises. */
static void check_chain(const struct virtq *vq, const struct virtq_chain *c)
{
	uint64_t readable = 0, writable = 0;
	if (c->head >= vq->size || c->count > VIRTQ_MAX_CHAIN)
		abort();
	for (unsigned i = 0; i < c->count; i++) {
		const struct virtq_buf *b = &c->bufs[i];
		if (!b->host || b->len == 0 || (writable && !b->device_writable))
			abort();
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

	struct virtq vq = {
		.dma.mem = &gm,
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
		check_chain(&vq, chain);
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
