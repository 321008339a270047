/*
 * libFuzzer target: arbitrary bytes as the guest RAM under virtio-net's
 * transmitq and controlq (and its receiveq, when the input has the backend
 * hold a frame), with features the input chooses. The backend is a
 * SOCK_SEQPACKET socketpair whose other end is drained every run. Nothing
 * may reach outside RAM (one malloc'd block: ASan watches its ends), and
 * every frame that reaches the backend must be one the device accepted:
 * counted, and with a header that passes the transmit checks for the
 * negotiated features.
 *
 * The input is the RAM from its first byte (64 KiB at gpa 0x1000, zero
 * beyond the input); its first bytes also say how the device is set up:
 *   0      queue size of all three queues, as log2 (mod 9: at most 256)
 *   1      bit 0: the backend has a frame for the guest (bytes 26..29)
 *   2..5   the driver's features, bits 0..31, LE, masked by what is offered
 *          (VERSION_1 is always added); EVENT_IDX and INDIRECT_DESC there
 *          set up the rings too
 *   6..23  receiveq1, transmitq1, controlq: descriptor table, avail ring,
 *          used ring, each a 16-bit LE offset into RAM
 *   24..25 where the device's indices start (last_avail = used_idx)
 *   26..27 the backend's frame: length, 12-byte header included
 *   28..29 and its offset in RAM
 * The device has two queue pairs (so MQ is offered); pair 0 is fuzzed, and
 * the controlq is queue 4 with MQ negotiated, queue 2 without (§5.1.2).
 * `test_virtio_net --fuzz-seeds DIR` writes the seed corpus in this layout.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_ram.h"
#include "devices/virtio/net.h"
#include "devices/virtio/net_hdr.h"
#include "virtio/virtio.h"

#define FUZZ_RAM_GPA  0x1000
#define FUZZ_RAM_SIZE 0x10000
#define HEADER_SIZE   30
#define PAIRS         2
#define RXQ           0
#define TXQ           1
/* The largest frame without segmentation: MTU 1500 when F_MTU is negotiated (§5.1.4.1). */
#define MTU_FRAME     (1500 + ETH_HEADER_LEN + ETH_VLAN_TAG_LEN)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void no_notify_queue(void *ctx, unsigned q, uint16_t vector) { (void)ctx, (void)q, (void)vector; }
static void no_notify_config(void *ctx, uint16_t vector) { (void)ctx, (void)vector; }

static uint16_t le16_at(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static struct virtio_net net;
static struct guest_mem gm;
static uint8_t *ram;
static uint8_t *msg; /* one message from the backend's other end */
static int dev_fd[PAIRS], peer_fd[PAIRS];

#define MSG_SIZE (VIRTIO_NET_HDR_LEN + NET_MAX_GSO_FRAME + 1)

/* One device for the whole run; its state is reset per input. */
static int setup(void)
{
	ram = malloc(FUZZ_RAM_SIZE);
	msg = malloc(MSG_SIZE);
	if (!ram || !msg)
		return -1;
	for (unsigned i = 0; i < PAIRS; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
			return -1;
		dev_fd[i] = sv[0];
		peer_fd[i] = sv[1];
	}
	guest_mem_init_flat(&gm, ram, FUZZ_RAM_GPA, FUZZ_RAM_SIZE);
	struct virtio_net_config cfg = { .mac = { 0x52, 0x54, 0, 0, 0, 1 }, .queue_pairs = PAIRS };
	if (virtio_net_init_fds(&net, &cfg, &gm, dev_fd) < 0) {
		fprintf(stderr, "fuzz_virtio_net_tx: cannot set up the device\n");
		return -1;
	}
	net.vd.transport = (struct virtio_transport){ .notify_queue = no_notify_queue,
						      .notify_config = no_notify_config };
	return 0;
}

/*
 * Reads what the device sent to pair 0's backend: each frame must pass the
 * transmit checks unchanged. Returns how many; throws away anything else.
 */
static uint64_t drain(uint64_t features)
{
	uint64_t frames = 0;
	ssize_t n;
	while ((n = recv(peer_fd[0], msg, MSG_SIZE, MSG_DONTWAIT)) >= 0) {
		struct virtio_net_hdr h, out;
		if (n < VIRTIO_NET_HDR_LEN)
			abort();
		net_hdr_load(&h, msg);
		uint64_t max = features & 1ull << VIRTIO_NET_F_MTU ? MTU_FRAME : NET_MAX_GSO_FRAME;
		if (net_hdr_check_tx(&h, features, (uint64_t)n - VIRTIO_NET_HDR_LEN, max, &out) != NET_HDR_OK ||
		    memcmp(&h, &out, sizeof(h)) != 0)
			abort(); /* the device let through a header it should have refused */
		frames++;
	}
	for (unsigned i = 0; i < PAIRS; i++) {
		while (i > 0 && recv(peer_fd[i], msg, 1, MSG_DONTWAIT | MSG_TRUNC) >= 0)
			abort(); /* nothing goes to another pair's backend */
		while (recv(dev_fd[i], msg, 1, MSG_DONTWAIT | MSG_TRUNC) >= 0)
			;
	}
	return frames;
}

static int set_queue(unsigned q, const uint8_t *addr, uint16_t qsize, uint16_t start)
{
	struct virtio_queue *queue = &net.vd.queues[q];
	queue->vq = (struct virtq){
		.dma.mem = &gm,
		.size = qsize,
		.event_idx = virtio_has_feature(&net.vd, VIRTIO_F_EVENT_IDX),
		.indirect = virtio_has_feature(&net.vd, VIRTIO_F_INDIRECT_DESC),
		.desc_gpa = FUZZ_RAM_GPA + le16_at(addr),
		.avail_gpa = FUZZ_RAM_GPA + le16_at(addr + 2),
		.used_gpa = FUZZ_RAM_GPA + le16_at(addr + 4),
	};
	if (virtq_init(&queue->vq) != 0)
		return -1;
	queue->vq.last_avail = queue->vq.used_idx = start;
	queue->enabled = true;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fuzz_load_ram(setup, &ram, FUZZ_RAM_SIZE, data, size, HEADER_SIZE))
		return 0;

	net.vd.ops->reset(&net.vd); /* forgets the last input's waiting frame */
	net.vd.status = 0;
	for (unsigned q = 0; q < net.vd.nr_queues; q++)
		net.vd.queues[q].enabled = false;
	uint32_t wanted = (uint32_t)data[2] | (uint32_t)data[3] << 8 | (uint32_t)data[4] << 16 |
			  (uint32_t)data[5] << 24;
	net.vd.driver_features = ((uint64_t)wanted | 1ull << VIRTIO_F_VERSION_1) & net.vd.device_features;
	uint16_t qsize = (uint16_t)(1u << (data[0] % 9)), start = le16_at(data + 24);

	struct net_counters before, after;
	virtio_net_counters(&net, &before);
	if (set_queue(TXQ, data + 12, qsize, start) == 0)
		virtio_net_serve(&net.vd, TXQ);
	uint64_t frames = drain(net.vd.driver_features);
	virtio_net_counters(&net, &after);
	if (frames != after.tx_packets - before.tx_packets)
		abort(); /* every frame sent is counted, every one counted was sent */

	unsigned ctrlq = virtio_has_feature(&net.vd, VIRTIO_NET_F_MQ) ? 2 * PAIRS : 2;
	if (set_queue(ctrlq, data + 18, qsize, start) == 0)
		virtio_net_serve(&net.vd, ctrlq);

	if ((data[1] & 1) && set_queue(RXQ, data + 6, qsize, start) == 0) {
		size_t off = le16_at(data + 28) % FUZZ_RAM_SIZE, len = le16_at(data + 26);
		if (len > FUZZ_RAM_SIZE - off)
			len = FUZZ_RAM_SIZE - off;
		if (send(peer_fd[0], ram + off, len, MSG_DONTWAIT) == (ssize_t)len) {
			virtio_net_receive(&net.pairs[0]);
			virtio_net_serve(&net.vd, RXQ); /* the driver's kick, if it waits */
		}
	}
	drain(net.vd.driver_features);
	return 0;
}
