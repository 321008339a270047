#include "devices/virtio/rng.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "virtio/virtio.h"

#define VIRTIO_ID_ENTROPY 4
#define RNG_QUEUE_SIZE    256

/* Fills one device-writable buffer; returns the bytes written. */
static uint32_t fill(uint8_t *buf, uint32_t len)
{
	uint32_t done = 0;
	while (done < len) {
		ssize_t n = getrandom(buf + done, len - done, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (uint32_t)n;
	}
	return done;
}

/* §5.4.6.1: the device writes only into device-writable buffers. */
static uint32_t fill_chain(const struct virtq_chain *chain)
{
	uint32_t written = 0;
	for (unsigned i = 0; i < chain->count; i++)
		if (chain->bufs[i].device_writable)
			written += fill(chain->bufs[i].host, chain->bufs[i].len);
	return written;
}

void virtio_rng_serve(struct virtio_device *vd, unsigned queue)
{
	struct virtio_rng *rng = vd->opaque;
	struct virtq *vq = &vd->queues[queue].vq;
	static _Thread_local struct virtq_chain chain;
	bool pushed = false;
	/*
	 * At most a queue's worth per pass: a guest that keeps adding buffers
	 * cannot keep the worker here forever (a reset must be able to stop it).
	 */
	unsigned budget = RNG_QUEUE_SIZE;
	for (;; budget--) {
		if (budget == 0) {
			virtio_kick_queue(vd, queue); /* come back after the other events */
			break;
		}
		int ret = virtq_pop(vq, &chain);
		if (ret == 0 && vq->event_idx) {
			virtq_publish_avail_event(vq); /* then look once more (§2.7.10) */
			ret = virtq_pop(vq, &chain);
		}
		if (ret < 0) {
			virtio_device_needs_reset(vd);
			break;
		}
		if (ret == 0)
			break;
		/* A buffer the IOMMU refused: the chain goes back empty. */
		uint32_t written = chain.dma_fault ? 0 : fill_chain(&chain);
		rng->bytes_given += written; /* uint64_t: a chain holds at most 2^32 bytes */
		virtq_push(vq, chain.head, written);
		pushed = true;
	}
	if (pushed && virtq_should_notify(vq))
		virtio_notify_queue(vd, queue);
}

/*
 * The device's only state is its queue's, which the core keeps: starting
 * to serve (activate, unquiesce) is one thing, and so is stopping (reset,
 * quiesce). Each chain is pushed before the next pop: nothing is in flight
 * once the worker has stopped.
 */
static int rng_start(struct virtio_device *vd)
{
	struct virtio_rng *rng = vd->opaque;
	return virtio_worker_start(&rng->worker, vd, virtio_rng_serve);
}

static void rng_stop(struct virtio_device *vd)
{
	struct virtio_rng *rng = vd->opaque;
	virtio_worker_stop(&rng->worker);
}

static const struct virtio_device_ops rng_ops = {
	.activate = rng_start,
	.reset = rng_stop,
	.quiesce = rng_stop,
	.unquiesce = rng_start,
};

int virtio_rng_init(struct virtio_rng *rng, const struct guest_mem *mem)
{
	memset(rng, 0, sizeof(*rng));
	uint64_t features = (1ull << VIRTIO_F_EVENT_IDX) | (1ull << VIRTIO_F_INDIRECT_DESC);
	return virtio_device_init(&rng->vd, VIRTIO_ID_ENTROPY, features, 1, RNG_QUEUE_SIZE,
				  mem, &rng_ops, rng);
}

void virtio_rng_destroy(struct virtio_rng *rng)
{
	virtio_worker_stop(&rng->worker);
	virtio_device_destroy(&rng->vd);
}
