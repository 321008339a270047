/*
 * libFuzzer target: arbitrary bytes as the guest RAM under virtio-blk's
 * request queue, over a small real image. The device serves the queue and
 * completes every request synchronously (virtio_blk_wait). Nothing may
 * reach outside RAM (one malloc'd block: ASan watches its ends).
 *
 * The input is the RAM from its first byte (64 KiB at gpa 0x1000, zero
 * beyond the input); its first bytes also say how the queue is set up:
 *   0     queue size, as log2 (mod 9: at most 256)
 *   1     bit 0 EVENT_IDX, bit 1 no INDIRECT_DESC, bit 2 read-only disk
 *   2..7  descriptor table, avail ring, used ring: 16-bit LE offsets into RAM
 *   8..9  where the device's indices start (last_avail = used_idx)
 * `test_virtio_blk --fuzz-seeds DIR` writes the seed corpus in this layout.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_ram.h"
#include "backends/block_file.h"
#include "devices/virtio/blk.h"

#define FUZZ_RAM_GPA  0x1000
#define FUZZ_RAM_SIZE 0x10000
#define HEADER_SIZE   10
#define IMAGE_SIZE    (64 * 512)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void no_notify_queue(void *ctx, unsigned q, uint16_t vector) { (void)ctx, (void)q, (void)vector; }
static void no_notify_config(void *ctx, uint16_t vector) { (void)ctx, (void)vector; }

static uint16_t le16_at(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static struct virtio_blk blk;
static struct guest_mem gm;
static uint8_t *ram;
static int image_fd = -1;

/* One device for the whole run (io_uring setup is slow); its image is reset per input. */
static int setup(void)
{
	char path[] = "/tmp/vmon-fuzz-blk-XXXXXX";
	image_fd = mkstemp(path);
	ram = malloc(FUZZ_RAM_SIZE);
	if (image_fd < 0 || !ram || ftruncate(image_fd, IMAGE_SIZE) < 0)
		return -1;
	guest_mem_init_flat(&gm, ram, FUZZ_RAM_GPA, FUZZ_RAM_SIZE);
	struct virtio_blk_config cfg = { .path = path, .serial = "fuzz", .io_depth = 4 };
	const char *why = NULL;
	int ret = virtio_blk_init(&blk, &cfg, &gm, &why);
	unlink(path);
	if (ret < 0) {
		fprintf(stderr, "fuzz_virtio_blk: %s\n", why ? why : "cannot set up the device");
		return -1;
	}
	blk.vd.transport = (struct virtio_transport){ .notify_queue = no_notify_queue,
						      .notify_config = no_notify_config };
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fuzz_load_ram(setup, &ram, FUZZ_RAM_SIZE, data, size, HEADER_SIZE))
		return 0;
	/* A fresh image: all zeros (a hole). */
	if (ftruncate(image_fd, 0) < 0 || ftruncate(image_fd, IMAGE_SIZE) < 0)
		abort();

	struct virtio_queue *q = &blk.vd.queues[0];
	blk.vd.ops->reset(&blk.vd); /* forgets the last input's queue state */
	blk.vd.status = 0;
	blk.readonly = data[1] & 4; /* the image is open read-write; the device's checks decide */
	q->vq = (struct virtq){
		.dma.mem = &gm,
		.size = (uint16_t)(1u << (data[0] % 9)),
		.event_idx = data[1] & 1,
		.indirect = !(data[1] & 2),
		.desc_gpa = FUZZ_RAM_GPA + le16_at(data + 2),
		.avail_gpa = FUZZ_RAM_GPA + le16_at(data + 4),
		.used_gpa = FUZZ_RAM_GPA + le16_at(data + 6),
	};
	if (virtq_init(&q->vq) != 0)
		return 0;
	q->vq.last_avail = q->vq.used_idx = le16_at(data + 8);
	q->enabled = true;

	virtio_blk_serve(&blk.vd, 0);
	virtio_blk_wait(&blk, 0);
	if (block_queue_inflight(blk.queues[0].bq) != 0)
		abort();
	q->enabled = false;
	return 0;
}
