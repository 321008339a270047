#include "virtio/device.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "migration/state.h"
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
	vd->dma = (struct dma_space){ .mem = mem };
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

void virtio_device_set_iommu(struct virtio_device *vd, const struct dma_translator *iommu,
			     uint16_t source_id)
{
	pthread_mutex_lock(&vd->lock);
	vd->dma.iommu = iommu;
	vd->dma.source_id = source_id;
	if (iommu)
		vd->device_features |= 1ull << VIRTIO_F_ACCESS_PLATFORM;
	else
		vd->device_features &= ~(1ull << VIRTIO_F_ACCESS_PLATFORM);
	pthread_mutex_unlock(&vd->lock);
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
 * Behind an IOMMU, ACCESS_PLATFORM too: §6.2 lets a device fail when the
 * driver refuses it, and one that went on would take the driver's
 * physical addresses for I/O virtual ones (QEMU refuses FEATURES_OK too).
 */
static bool features_acceptable(const struct virtio_device *vd, uint64_t features)
{
	const uint64_t needed = 1ull << VIRTIO_F_VERSION_1 |
				(vd->dma.iommu ? 1ull << VIRTIO_F_ACCESS_PLATFORM : 0);
	if (vd->ops->features_consistent && !vd->ops->features_consistent(features))
		return false;
	return !(features & ~vd->device_features) && (features & needed) == needed;
}

/*
 * Checks an enabled queue's size and rings (§2.7; §4.1.4.3.2: the driver
 * may shrink a queue, never grow it) and arms it with the negotiated
 * features. Its indices start at 0.
 */
static bool arm_queue(const struct virtio_device *vd, uint64_t features, struct virtq *vq,
		      uint16_t max_size)
{
	vq->dma = vd->dma;
	vq->event_idx = features & (1ull << VIRTIO_F_EVENT_IDX);
	vq->indirect = features & (1ull << VIRTIO_F_INDIRECT_DESC);
	return vq->size <= max_size && virtq_init(vq) == 0;
}

/* Checks and arms every enabled queue. Caller holds the lock. */
static int configure_queues(struct virtio_device *vd)
{
	for (unsigned q = 0; q < vd->nr_queues; q++) {
		struct virtio_queue *queue = &vd->queues[q];
		if (queue->enabled && !arm_queue(vd, vd->driver_features, &queue->vq, queue->max_size))
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
	if ((added & VIRTIO_STATUS_FEATURES_OK) && !features_acceptable(vd, vd->driver_features))
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

/* ---- snapshots and migration ---- */

void virtio_device_quiesce(struct virtio_device *vd)
{
	pthread_mutex_lock(&vd->control_lock);
	if (vd->activated && !vd->quiesced && vd->ops->quiesce)
		vd->ops->quiesce(vd);
	vd->quiesced = true;
	pthread_mutex_unlock(&vd->control_lock);
}

/*
 * A notification the driver sent just before a snapshot may sit unserved
 * in the old process's kick eventfd: every enabled queue is looked at
 * once. A look that finds nothing new costs nothing. Caller holds
 * control_lock (no reset meanwhile; after DRIVER_OK only a reset changes
 * `enabled`).
 */
static void kick_enabled_queues(struct virtio_device *vd)
{
	for (unsigned q = 0; q < vd->nr_queues; q++)
		if (vd->queues[q].enabled)
			virtio_kick_queue(vd, q);
}

/*
 * A device that needs a reset stays stopped: it serves nothing until the
 * driver resets it (§2.1.2), and its queues may never have been valid.
 */
int virtio_device_unquiesce(struct virtio_device *vd)
{
	pthread_mutex_lock(&vd->control_lock);
	bool resume = vd->quiesced && vd->activated &&
		      !(virtio_get_status(vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	vd->quiesced = false;
	int ret = resume && vd->ops->unquiesce ? vd->ops->unquiesce(vd) : 0;
	if (resume && ret == 0)
		kick_enabled_queues(vd);
	pthread_mutex_unlock(&vd->control_lock);
	if (ret < 0)
		virtio_device_failed(vd, "cannot serve the queues again");
	return ret;
}

static void save_queue(struct state_writer *w, const struct virtio_queue *queue)
{
	const struct virtq *vq = &queue->vq;
	state_put_u16(w, vq->size);
	state_put_u64(w, vq->desc_gpa);
	state_put_u64(w, vq->avail_gpa);
	state_put_u64(w, vq->used_gpa);
	state_put_bool(w, queue->enabled);
	state_put_u16(w, queue->vector);
	state_put_u16(w, vq->last_avail);
	state_put_u16(w, vq->used_idx);
	state_put_u16(w, vq->signalled_used);
	state_put_bool(w, vq->signalled_used_valid);
}

/*
 * Section STATE_TAG_VIRTIO, `instance` the caller's number for the device:
 *   u32 device_id, u64 device_features (offered), u64 driver_features,
 *   u8 status, u8 config_generation, u16 config_vector, u16 nr_queues;
 *   per queue: u16 size, u64 desc, u64 driver (avail ring), u64 device
 *   (used ring), bool enabled, u16 vector, u16 last_avail, u16 used_idx,
 *   u16 signalled_used, bool signalled_used_valid.
 * EVENT_IDX and INDIRECT_DESC follow from driver_features. The device
 * type's own sections (ops->save) come after it.
 */
void virtio_device_save(struct virtio_device *vd, struct state_writer *w, uint32_t instance)
{
	state_begin(w, STATE_TAG_VIRTIO, instance);
	pthread_mutex_lock(&vd->lock);
	state_put_u32(w, vd->device_id);
	state_put_u64(w, vd->device_features);
	state_put_u64(w, vd->driver_features);
	state_put_u8(w, vd->status);
	state_put_u8(w, vd->config_generation);
	state_put_u16(w, vd->config_vector);
	state_put_u16(w, (uint16_t)vd->nr_queues);
	for (unsigned q = 0; q < vd->nr_queues; q++)
		save_queue(w, &vd->queues[q]);
	pthread_mutex_unlock(&vd->lock);
	state_end(w);
	if (vd->ops->save)
		vd->ops->save(vd, w, instance);
}

/* A saved device, read whole before any of it is checked, then applied at once. */
struct saved_device {
	uint32_t device_id;
	uint64_t device_features, driver_features;
	uint8_t status, config_generation;
	uint16_t config_vector, nr_queues;
	struct virtio_queue queues[VIRTIO_MAX_QUEUES]; /* vq, enabled and vector */
};

/* Logs why the snapshot is refused, as one line, and returns -EINVAL. */
__attribute__((format(printf, 2, 3)))
static int refuse(uint32_t instance, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_error("snapshot: virtio device %u: %s", instance, why);
	return -EINVAL;
}

static void read_queue(struct state_section *s, struct virtio_queue *queue)
{
	struct virtq *vq = &queue->vq;
	vq->size = state_get_u16(s);
	vq->desc_gpa = state_get_u64(s);
	vq->avail_gpa = state_get_u64(s);
	vq->used_gpa = state_get_u64(s);
	queue->enabled = state_get_bool(s);
	queue->vector = state_get_u16(s);
	vq->last_avail = state_get_u16(s);
	vq->used_idx = state_get_u16(s);
	vq->signalled_used = state_get_u16(s);
	vq->signalled_used_valid = state_get_bool(s);
}

static int read_device(const struct state_reader *r, uint32_t instance, struct saved_device *d)
{
	struct state_section s;
	if (state_find(r, STATE_TAG_VIRTIO, instance, &s) < 0)
		return refuse(instance, "the snapshot holds no state for it");
	d->device_id = state_get_u32(&s);
	d->device_features = state_get_u64(&s);
	d->driver_features = state_get_u64(&s);
	d->status = state_get_u8(&s);
	d->config_generation = state_get_u8(&s);
	d->config_vector = state_get_u16(&s);
	d->nr_queues = state_get_u16(&s);
	for (unsigned q = 0; q < d->nr_queues && q < VIRTIO_MAX_QUEUES; q++)
		read_queue(&s, &d->queues[q]);
	if (state_section_finish(&s) < 0)
		return refuse(instance, "its saved state is truncated or malformed");
	return 0;
}

/* The same device type, offering the same features, with as many queues. */
static int check_identity(const struct virtio_device *vd, const struct saved_device *d,
			  uint32_t instance)
{
	if (d->device_id != vd->device_id)
		return refuse(instance, "the snapshot holds a device of type %u, this one is of type %u",
			      d->device_id, vd->device_id);
	if (d->device_features != vd->device_features)
		return refuse(instance, "the saved device offered features 0x%llx, this one offers 0x%llx",
			      (unsigned long long)d->device_features,
			      (unsigned long long)vd->device_features);
	if (d->nr_queues != vd->nr_queues)
		return refuse(instance, "the saved device has %u queues, this one %u", d->nr_queues,
			      vd->nr_queues);
	return 0;
}

/*
 * Features and status as the driver could have set them (§3.1.1). Before
 * FEATURES_OK the driver may have written any bits: they count for nothing
 * until FEATURES_OK, which would refuse them then.
 */
static int check_negotiation(const struct virtio_device *vd, const struct saved_device *d,
			     uint32_t instance)
{
	if ((d->status & VIRTIO_STATUS_FEATURES_OK) && !features_acceptable(vd, d->driver_features))
		return refuse(instance, "FEATURES_OK with driver features 0x%llx, which the device refuses",
			      (unsigned long long)d->driver_features);
	if ((d->status & VIRTIO_STATUS_DRIVER_OK) && !(d->status & VIRTIO_STATUS_FEATURES_OK))
		return refuse(instance, "status 0x%x has DRIVER_OK without FEATURES_OK", d->status);
	return 0;
}

static bool vector_exists(const struct virtio_device *vd, uint16_t vector)
{
	return vector == VIRTIO_NO_VECTOR || vector < vd->transport.nr_vectors;
}

/*
 * A queue the device serves: Queue Size a power of 2 (§2.7) no larger
 * than offered (§4.1.4.3.2), at most Queue Size buffers in flight. (Before
 * DRIVER_OK the driver may have written any size: DRIVER_OK checks it.)
 */
static int check_served_queue(const struct virtio_device *vd, const struct virtio_queue *queue,
			      unsigned q, uint32_t instance)
{
	const struct virtq *vq = &queue->vq;
	uint16_t max_size = vd->queues[q].max_size;
	if ((vq->size & (vq->size - 1)) || vq->size == 0)
		return refuse(instance, "queue %u size %u is not a power of 2", q, vq->size);
	if (vq->size > max_size)
		return refuse(instance, "queue %u size %u is larger than its maximum %u", q, vq->size,
			      max_size);
	if ((uint16_t)(vq->last_avail - vq->used_idx) > vq->size)
		return refuse(instance, "queue %u has %u buffers in flight, more than its size %u", q,
			      (uint16_t)(vq->last_avail - vq->used_idx), vq->size);
	return 0;
}

/* Whether a device in `status` serves its enabled queues (once unquiesced). */
static bool serving(uint8_t status)
{
	return (status & VIRTIO_STATUS_DRIVER_OK) && !(status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

/*
 * The checks DRIVER_OK made (virtq_init: alignment, rings in guest RAM),
 * then the saved indices, which virtq_init started afresh.
 */
static int check_rings(const struct virtio_device *vd, const struct saved_device *d,
		       struct virtio_queue *queue, unsigned q, uint32_t instance)
{
	struct virtq saved = queue->vq;
	if (!arm_queue(vd, d->driver_features, &queue->vq, vd->queues[q].max_size))
		return refuse(instance, "queue %u rings (0x%llx, 0x%llx, 0x%llx) are misaligned or "
			      "not in guest RAM", q, (unsigned long long)saved.desc_gpa,
			      (unsigned long long)saved.avail_gpa, (unsigned long long)saved.used_gpa);
	queue->vq.last_avail = saved.last_avail;
	queue->vq.used_idx = saved.used_idx;
	queue->vq.signalled_used = saved.signalled_used;
	queue->vq.signalled_used_valid = saved.signalled_used_valid;
	return 0;
}

/* Every value as strictly as the driver's writes would be; arms the served queues. */
static int check_device(const struct virtio_device *vd, struct saved_device *d, uint32_t instance)
{
	int ret = check_identity(vd, d, instance);
	if (ret == 0)
		ret = check_negotiation(vd, d, instance);
	if (ret == 0 && !vector_exists(vd, d->config_vector))
		ret = refuse(instance, "configuration vector %u is not one of the %u vectors",
			     d->config_vector, vd->transport.nr_vectors);
	for (unsigned q = 0; ret == 0 && q < d->nr_queues; q++) {
		const struct virtio_queue *queue = &d->queues[q];
		if (!vector_exists(vd, queue->vector))
			ret = refuse(instance, "queue %u vector %u is not one of the %u vectors", q,
				     queue->vector, vd->transport.nr_vectors);
		if (ret == 0 && queue->enabled && serving(d->status))
			ret = check_served_queue(vd, queue, q, instance);
		if (ret == 0 && queue->enabled && serving(d->status))
			ret = check_rings(vd, d, &d->queues[q], q, instance);
	}
	return ret;
}

/* A serving device counts as activated: the driver's reset stops it as usual. */
static void apply_device(struct virtio_device *vd, const struct saved_device *d)
{
	pthread_mutex_lock(&vd->control_lock);
	pthread_mutex_lock(&vd->lock);
	vd->driver_features = d->driver_features;
	vd->status = d->status;
	vd->config_generation = d->config_generation;
	vd->config_vector = d->config_vector;
	for (unsigned q = 0; q < vd->nr_queues; q++) {
		vd->queues[q].vq = d->queues[q].vq;
		vd->queues[q].enabled = d->queues[q].enabled;
		vd->queues[q].vector = d->queues[q].vector;
	}
	pthread_mutex_unlock(&vd->lock);
	vd->activated = serving(d->status);
	vd->quiesced = true;
	pthread_mutex_unlock(&vd->control_lock);
}

int virtio_device_load(struct virtio_device *vd, const struct state_reader *r, uint32_t instance)
{
	struct saved_device d = { 0 };
	int ret = read_device(r, instance, &d);
	if (ret == 0)
		ret = check_device(vd, &d, instance);
	if (ret < 0)
		return ret;
	apply_device(vd, &d);
	return vd->ops->load ? vd->ops->load(vd, r, instance) : 0;
}
