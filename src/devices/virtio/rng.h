/* virtio-rng (virtio 1.2 §5.4): entropy from the host's getrandom(). */
#ifndef VMON_DEVICES_VIRTIO_RNG_H
#define VMON_DEVICES_VIRTIO_RNG_H

#include "virtio/device.h"
#include "virtio/worker.h"

struct virtio_rng {
	struct virtio_device vd;
	struct virtio_worker worker;
	uint64_t bytes_given; /* written only by the worker */
};

int virtio_rng_init(struct virtio_rng *rng, const struct guest_mem *mem);
void virtio_rng_destroy(struct virtio_rng *rng);

/* Serves the request queue once (the worker's job; exposed for tests). */
void virtio_rng_serve(struct virtio_device *vd, unsigned queue);

#endif
