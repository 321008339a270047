#include "virtio/device.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/log.h"
#include "virtio/virtio.h"

static struct log_limit protocol_limit = LOG_LIMIT_INIT(16);

int virtio_device_init(struct virtio_device *vd, uint32_t device_id, uint64_t features,
		       unsigned nr_queues, uint16_t max_size, const struct guest_mem *mem,
		       const struct virtio_device_ops *ops, void *opaque)
{
	memset(vd, 0, sizeof(*vd));
	if (nr_queues == 0 || nr_queues > VIRTIO_MAX_QUEUES || max_size == 0 ||
	    max_size > VIRTQ_MAX_SIZE || (max_size & (max_size - 1)))
		return -EINVAL;
	pthread_mutex_init(&vd->control_lock, NULL);
	pthread_mutex_init(&vd->lock, NULL);
	vd->device_id = device_id;
	vd->device_features = features | (1ull << VIRTIO_F_VERSION_1);
	vd->mem = mem;
	vd->ops = ops;
	vd->opaque = opaque;
	vd->nr_queues = nr_queues;
	vd->config_vector = VIRTIO_NO_VECTOR;
	int ret = 0;
	for (unsigned q = 0; q < nr_queues; q++) {
		vd->queues[q].max_size = max_size;
		vd->queues[q].vq.size = max_size;
		vd->queues[q].vector = VIRTIO_NO_VECTOR;
		vd->queues[q].kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (vd->queues[q].kick_fd < 0)
			ret = -errno;
	}
	if (ret < 0)
		virtio_device_destroy(vd);
	return ret;
}

void virtio_device_destroy(struct virtio_device *vd)
{
	for (unsigned q = 0; q < vd->nr_queues; q++)
		if (vd->queues[q].kick_fd >= 0)
			close(vd->queues[q].kick_fd);
	pthread_mutex_destroy(&vd->lock);
	pthread_mutex_destroy(&vd->control_lock);
	vd->nr_queues = 0;
}

void virtio_kick_queue(struct virtio_device *vd, unsigned q)
{
	uint64_t one = 1;
	if (q < vd->nr_queues && write(vd->queues[q].kick_fd, &one, sizeof(one)) < 0)
		log_warn("virtio device %u: cannot kick queue %u", vd->device_id, q);
}

uint32_t virtio_device_features(struct virtio_device *vd, uint32_t select)
{
	return select < 2 ? (uint32_t)(vd->device_features >> (32 * select)) : 0;
}

void virtio_set_driver_features(struct virtio_device *vd, uint32_t select, uint32_t value)
{
	if (select >= 2)
		return;
	pthread_mutex_lock(&vd->lock);
	if (!(vd->status & VIRTIO_STATUS_FEATURES_OK)) {
		uint64_t mask = 0xffffffffull << (32 * select);
		vd->driver_features = (vd->driver_features & ~mask) | ((uint64_t)value << (32 * select));
	}
	pthread_mutex_unlock(&vd->lock);
}

bool virtio_has_feature(const struct virtio_device *vd, unsigned bit)
{
	return bit < 64 && (vd->driver_features & (1ull << bit));
}

uint8_t virtio_get_status(struct virtio_device *vd)
{
	pthread_mutex_lock(&vd->lock);
	uint8_t status = vd->status;
	pthread_mutex_unlock(&vd->lock);
	return status;
}

/* §2.4: back to the state after power-on. Caller holds the lock. */
static void reset_locked(struct virtio_device *vd)
{
	vd->status = 0;
	vd->driver_features = 0;
	vd->config_vector = VIRTIO_NO_VECTOR;
	for (unsigned q = 0; q < vd->nr_queues; q++) {
		struct virtio_queue *queue = &vd->queues[q];
		memset(&queue->vq, 0, sizeof(queue->vq)); /* kick_fd stays */
		queue->vq.size = queue->max_size;
		queue->enabled = false;
		queue->vector = VIRTIO_NO_VECTOR;
	}
}

/*
 * §3.1.1: the driver's features must be ours, VERSION_1 included, and
 * complete by the device type's rules (§2.2.1: it may refuse FEATURES_OK).
 */
static bool features_acceptable(const struct virtio_device *vd)
{
	if (vd->ops->features_consistent && !vd->ops->features_consistent(vd->driver_features))
		return false;
	return !(vd->driver_features & ~vd->device_features) &&
	       (vd->driver_features & (1ull << VIRTIO_F_VERSION_1));
}

/* Checks and arms every enabled queue. Caller holds the lock. */
static int configure_queues(struct virtio_device *vd)
{
	for (unsigned q = 0; q < vd->nr_queues; q++) {
		struct virtio_queue *queue = &vd->queues[q];
		if (!queue->enabled)
			continue;
		queue->vq.mem = vd->mem;
		queue->vq.event_idx = virtio_has_feature(vd, VIRTIO_F_EVENT_IDX);
		queue->vq.indirect = virtio_has_feature(vd, VIRTIO_F_INDIRECT_DESC);
		/* §4.1.4.3.2: the driver may shrink a queue, never grow it. */
		if (queue->vq.size > queue->max_size || virtq_init(&queue->vq) < 0)
			return -EINVAL;
	}
	return 0;
}


/*
 * §2.4: the device stops serving its queues first (its worker may be
 * reading them, and takes vd->lock to notify, so without holding it), and
 * only then forgets their state. Caller holds control_lock.
 */
static void reset_device(struct virtio_device *vd)
{
	if (vd->ops->reset)
		vd->ops->reset(vd);
	vd->activated = false;
	pthread_mutex_lock(&vd->lock);
	reset_locked(vd);
	pthread_mutex_unlock(&vd->lock);
}

/*
 * Records the new bits of `status`; true when this is the first DRIVER_OK
 * since the reset and the queues are valid. Caller holds control_lock.
 */
static bool accept_status(struct virtio_device *vd, uint8_t status, bool *broken)
{
	bool activate = false;
	pthread_mutex_lock(&vd->lock);
	uint8_t added = status & ~vd->status;
	if ((added & VIRTIO_STATUS_FEATURES_OK) && !features_acceptable(vd))
		added &= ~VIRTIO_STATUS_FEATURES_OK; /* the driver reads it back and gives up */
	vd->status |= added;
	if ((added & VIRTIO_STATUS_DRIVER_OK) && (vd->status & VIRTIO_STATUS_FEATURES_OK) &&
	    !vd->activated) {
		activate = configure_queues(vd) == 0;
		*broken = !activate;
	}
	pthread_mutex_unlock(&vd->lock);
	return activate;
}

void virtio_set_status(struct virtio_device *vd, uint8_t status)
{
	bool broken = false, failed = false;
	pthread_mutex_lock(&vd->control_lock);
	if (status == 0) {
		reset_device(vd);
	} else if (accept_status(vd, status, &broken)) {
		vd->activated = true;
		failed = vd->ops->activate && vd->ops->activate(vd) < 0;
	}
	pthread_mutex_unlock(&vd->control_lock);
	if (broken)
		virtio_device_needs_reset(vd);
	else if (failed)
		virtio_device_failed(vd, "cannot start serving the queues");
}

/*
 * Sets DEVICE_NEEDS_RESET and, the first time since the reset, sends the
 * configuration change notification §2.1.2 asks for (once is enough).
 * True that first time.
 */
static bool set_needs_reset(struct virtio_device *vd)
{
	pthread_mutex_lock(&vd->lock);
	bool first = !(vd->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	vd->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	pthread_mutex_unlock(&vd->lock);
	if (first)
		virtio_config_changed(vd);
	return first;
}

void virtio_device_needs_reset(struct virtio_device *vd)
{
	/* Rate-limited: a guest can break the protocol at will. */
	if (set_needs_reset(vd) && log_limit_allow(&protocol_limit))
		log_warn("virtio device %u: the driver broke the protocol (queue setup or a malformed "
			 "request); the device needs a reset", vd->device_id);
}

void virtio_device_failed(struct virtio_device *vd, const char *what)
{
	if (set_needs_reset(vd))
		log_error("virtio device %u: %s; the device needs a reset", vd->device_id, what);
}

void virtio_config_changed(struct virtio_device *vd)
{
	pthread_mutex_lock(&vd->lock);
	vd->config_generation++;
	uint16_t vector = vd->config_vector;
	pthread_mutex_unlock(&vd->lock);
	vd->transport.notify_config(vd->transport.ctx, vector);
}

int virtio_queue_irqfd(struct virtio_device *vd, unsigned q)
{
	if (q >= vd->nr_queues || !vd->transport.queue_irqfd)
		return -1;
	pthread_mutex_lock(&vd->lock);
	uint16_t vector = vd->queues[q].vector;
	pthread_mutex_unlock(&vd->lock);
	return vd->transport.queue_irqfd(vd->transport.ctx, vector);
}

void virtio_notify_queue(struct virtio_device *vd, unsigned q)
{
	if (q >= vd->nr_queues)
		return;
	pthread_mutex_lock(&vd->lock);
	uint16_t vector = vd->queues[q].vector;
	pthread_mutex_unlock(&vd->lock);
	vd->transport.notify_queue(vd->transport.ctx, q, vector);
}
