#include "virtio/mmio.h"

#include <errno.h>
#include <string.h>

#include "migration/state.h"
#include "util/log.h"
#include "virtio/virtio.h"

/* The control registers (virtio 1.2 §4.2.2, table 4.1), all 32 bits wide. */
enum {
	REG_MAGIC_VALUE         = 0x000, /* R */
	REG_VERSION             = 0x004, /* R */
	REG_DEVICE_ID           = 0x008, /* R */
	REG_VENDOR_ID           = 0x00c, /* R */
	REG_DEVICE_FEATURES     = 0x010, /* R */
	REG_DEVICE_FEATURES_SEL = 0x014, /* W */
	REG_DRIVER_FEATURES     = 0x020, /* W */
	REG_DRIVER_FEATURES_SEL = 0x024, /* W */
	REG_QUEUE_SEL           = 0x030, /* W */
	REG_QUEUE_NUM_MAX       = 0x034, /* R */
	REG_QUEUE_NUM           = 0x038, /* W */
	REG_QUEUE_READY         = 0x044, /* RW */
	REG_QUEUE_NOTIFY        = 0x050, /* W */
	REG_INTERRUPT_STATUS    = 0x060, /* R */
	REG_INTERRUPT_ACK       = 0x064, /* W */
	REG_STATUS              = 0x070, /* RW */
	REG_QUEUE_DESC_LOW      = 0x080, /* W */
	REG_QUEUE_DESC_HIGH     = 0x084, /* W */
	REG_QUEUE_DRIVER_LOW    = 0x090, /* W */
	REG_QUEUE_DRIVER_HIGH   = 0x094, /* W */
	REG_QUEUE_DEVICE_LOW    = 0x0a0, /* W */
	REG_QUEUE_DEVICE_HIGH   = 0x0a4, /* W */
	REG_SHM_SEL             = 0x0ac, /* W */
	REG_SHM_LEN_LOW         = 0x0b0, /* R */
	REG_SHM_LEN_HIGH        = 0x0b4, /* R */
	REG_SHM_BASE_LOW        = 0x0b8, /* R */
	REG_SHM_BASE_HIGH       = 0x0bc, /* R */
	REG_QUEUE_RESET         = 0x0c0, /* RW, with VIRTIO_F_RING_RESET only */
	REG_CONFIG_GENERATION   = 0x0fc, /* R */
};

_Static_assert(VIRTIO_MMIO_CONFIG + 0x100 == VIRTIO_MMIO_SIZE, "config space is 0x100..0x1ff");

static struct log_limit access_limit = LOG_LIMIT_INIT(8);

/* ---- interrupts ---- */

/* §4.2.2: the line follows InterruptStatus. Caller holds mmio->lock. */
static void update_line_locked(struct virtio_mmio *mmio)
{
	bool level = mmio->interrupt_status != 0;
	if (level != mmio->line) {
		mmio->line = level;
		vm_set_irq(mmio->vm, mmio->gsi, level);
	}
}

static void raise_interrupt(struct virtio_mmio *mmio, uint32_t bit)
{
	pthread_mutex_lock(&mmio->lock);
	mmio->interrupt_status |= bit;
	update_line_locked(mmio);
	pthread_mutex_unlock(&mmio->lock);
}

/* No MSI-X here: the vector is always VIRTIO_NO_VECTOR and means nothing. */
static void notify_queue(void *ctx, unsigned queue, uint16_t vector)
{
	(void)queue;
	(void)vector;
	raise_interrupt(ctx, VIRTIO_MMIO_INT_VRING);
}

static void notify_config(void *ctx, uint16_t vector)
{
	(void)vector;
	raise_interrupt(ctx, VIRTIO_MMIO_INT_CONFIG);
}

/* ---- the registers ---- */

/* The queue QueueSel names, or NULL. Caller holds mmio->lock. */
static struct virtio_queue *selected_queue(struct virtio_mmio *mmio)
{
	uint32_t q = mmio->queue_sel;
	return q < mmio->vd->nr_queues ? &mmio->vd->queues[q] : NULL;
}

/* Caller holds vd->lock, then mmio->lock. Write-only and reserved registers read 0. */
static uint32_t read_reg(struct virtio_mmio *mmio, unsigned reg)
{
	struct virtio_device *vd = mmio->vd;
	struct virtio_queue *q;
	switch (reg) {
	case REG_MAGIC_VALUE: return VIRTIO_MMIO_MAGIC;
	case REG_VERSION: return VIRTIO_MMIO_VERSION;
	case REG_DEVICE_ID: return vd->device_id;
	case REG_VENDOR_ID: return VIRTIO_MMIO_VENDOR_ID;
	case REG_DEVICE_FEATURES: return virtio_device_features(vd, mmio->device_features_sel);
	case REG_QUEUE_NUM_MAX: /* 0: the queue is not available */
		q = selected_queue(mmio);
		return q ? q->max_size : 0;
	case REG_QUEUE_READY:
		q = selected_queue(mmio);
		return q ? q->enabled : 0;
	case REG_INTERRUPT_STATUS: return mmio->interrupt_status;
	case REG_STATUS: return vd->status;
	/* No shared memory regions: a length (and base) of -1 says so (§4.2.2). */
	case REG_SHM_LEN_LOW: case REG_SHM_LEN_HIGH:
	case REG_SHM_BASE_LOW: case REG_SHM_BASE_HIGH:
		return 0xffffffffu;
	case REG_CONFIG_GENERATION: return vd->config_generation;
	default: return 0; /* QueueReset too: VIRTIO_F_RING_RESET is not supported */
	}
}

static void set_half(uint64_t *field, bool high, uint32_t v)
{
	if (high)
		*field = (*field & 0xffffffffull) | (uint64_t)v << 32;
	else
		*field = (*field & ~0xffffffffull) | v;
}

/*
 * The selected queue's configuration. As on PCI (§4.1.4.3.2), it is fixed
 * while the queue is ready. QueueReady itself can be set and cleared until
 * DRIVER_OK (Linux clears it when setting up the queues fails, and reads
 * it back); from then on the device's I/O thread owns the queues it was
 * given, and only a reset changes them.
 * Caller holds vd->lock, then mmio->lock.
 */
static void write_queue_reg(struct virtio_mmio *mmio, unsigned reg, uint32_t v)
{
	struct virtio_queue *q = selected_queue(mmio);
	if (!q)
		return;
	if (reg == REG_QUEUE_READY) {
		if (v <= 1 && !(mmio->vd->status & VIRTIO_STATUS_DRIVER_OK))
			q->enabled = v == 1;
		else if (log_limit_allow(&access_limit))
			log_debug("virtio-mmio: QueueReady %u for queue %u ignored", v, mmio->queue_sel);
		return;
	}
	if (q->enabled)
		return;
	switch (reg) {
	case REG_QUEUE_NUM:
		/* A size the device did not offer is stored as 0, refused at DRIVER_OK. */
		q->vq.size = v <= q->max_size ? (uint16_t)v : 0;
		break;
	case REG_QUEUE_DESC_LOW: case REG_QUEUE_DESC_HIGH:
		set_half(&q->vq.desc_gpa, reg == REG_QUEUE_DESC_HIGH, v);
		break;
	case REG_QUEUE_DRIVER_LOW: case REG_QUEUE_DRIVER_HIGH:
		set_half(&q->vq.avail_gpa, reg == REG_QUEUE_DRIVER_HIGH, v);
		break;
	case REG_QUEUE_DEVICE_LOW: case REG_QUEUE_DEVICE_HIGH:
		set_half(&q->vq.used_gpa, reg == REG_QUEUE_DEVICE_HIGH, v);
		break;
	default:
		break;
	}
}

/* §2.4 and §4.2.2.1: a reset clears InterruptStatus (and QueueReady, in the core). */
static void reset_transport(struct virtio_mmio *mmio)
{
	pthread_mutex_lock(&mmio->lock);
	mmio->device_features_sel = 0;
	mmio->driver_features_sel = 0;
	mmio->queue_sel = 0;
	mmio->interrupt_status = 0;
	update_line_locked(mmio);
	pthread_mutex_unlock(&mmio->lock);
}

static void write_reg(struct virtio_mmio *mmio, unsigned reg, uint32_t v)
{
	struct virtio_device *vd = mmio->vd;
	switch (reg) {
	case REG_STATUS:
		/* The core takes vd->lock itself, and stops the device's I/O on reset. */
		virtio_set_status(vd, (uint8_t)v);
		if ((uint8_t)v == 0)
			reset_transport(mmio);
		return;
	case REG_DRIVER_FEATURES: {
		pthread_mutex_lock(&mmio->lock);
		uint32_t sel = mmio->driver_features_sel;
		pthread_mutex_unlock(&mmio->lock);
		virtio_set_driver_features(vd, sel, v);
		return;
	}
	case REG_QUEUE_NOTIFY: /* the queue index (no VIRTIO_F_NOTIFICATION_DATA); others ignored */
		virtio_kick_queue(vd, v);
		return;
	case REG_INTERRUPT_ACK:
		pthread_mutex_lock(&mmio->lock);
		mmio->interrupt_status &= ~v;
		update_line_locked(mmio);
		pthread_mutex_unlock(&mmio->lock);
		return;
	case REG_DEVICE_FEATURES_SEL: case REG_DRIVER_FEATURES_SEL: case REG_QUEUE_SEL:
		pthread_mutex_lock(&mmio->lock);
		if (reg == REG_DEVICE_FEATURES_SEL)
			mmio->device_features_sel = v;
		else if (reg == REG_DRIVER_FEATURES_SEL)
			mmio->driver_features_sel = v;
		else
			mmio->queue_sel = v;
		pthread_mutex_unlock(&mmio->lock);
		return;
	case REG_QUEUE_NUM: case REG_QUEUE_READY:
	case REG_QUEUE_DESC_LOW: case REG_QUEUE_DESC_HIGH:
	case REG_QUEUE_DRIVER_LOW: case REG_QUEUE_DRIVER_HIGH:
	case REG_QUEUE_DEVICE_LOW: case REG_QUEUE_DEVICE_HIGH:
		pthread_mutex_lock(&vd->lock);
		pthread_mutex_lock(&mmio->lock);
		write_queue_reg(mmio, reg, v);
		pthread_mutex_unlock(&mmio->lock);
		pthread_mutex_unlock(&vd->lock);
		return;
	default: /* read-only, reserved, SHMSel (no regions), QueueReset (not offered) */
		return;
	}
}

/* §4.2.2.2: the driver MUST use 32-bit wide and aligned accesses to the registers. */
static bool register_access(uint64_t offset, uint32_t len, bool is_write)
{
	if (len == 4 && offset % 4 == 0)
		return true;
	if (log_limit_allow(&access_limit))
		log_debug("virtio-mmio: %u-byte %s at register 0x%llx ignored", len,
			  is_write ? "write" : "read", (unsigned long long)offset);
	return false;
}

/* [offset, offset + len) inside the device configuration space? */
static bool in_config(const struct virtio_device *vd, uint64_t offset, uint32_t len)
{
	return offset < vd->config_size && len <= vd->config_size - offset;
}

static void mmio_read(void *dev, uint64_t offset, void *data, uint32_t len)
{
	struct virtio_mmio *mmio = dev;
	struct virtio_device *vd = mmio->vd;
	memset(data, 0, len);
	if (offset >= VIRTIO_MMIO_CONFIG) {
		offset -= VIRTIO_MMIO_CONFIG;
		if (in_config(vd, offset, len) && vd->ops->config_read)
			vd->ops->config_read(vd, offset, data, len);
		return;
	}
	if (!register_access(offset, len, false))
		return;
	pthread_mutex_lock(&vd->lock);
	pthread_mutex_lock(&mmio->lock);
	uint32_t v = read_reg(mmio, (unsigned)offset);
	pthread_mutex_unlock(&mmio->lock);
	pthread_mutex_unlock(&vd->lock);
	memcpy(data, &v, sizeof(v)); /* little-endian host, as the rest of vmon */
}

static void mmio_write(void *dev, uint64_t offset, const void *data, uint32_t len)
{
	struct virtio_mmio *mmio = dev;
	struct virtio_device *vd = mmio->vd;
	if (offset >= VIRTIO_MMIO_CONFIG) {
		offset -= VIRTIO_MMIO_CONFIG;
		if (in_config(vd, offset, len) && vd->ops->config_write)
			vd->ops->config_write(vd, offset, data, len);
		return;
	}
	if (!register_access(offset, len, true))
		return;
	uint32_t v;
	memcpy(&v, data, sizeof(v));
	write_reg(mmio, (unsigned)offset, v);
}

const struct bus_ops virtio_mmio_ops = { .read = mmio_read, .write = mmio_write };

/* ---- set-up ---- */

int virtio_mmio_init(struct virtio_mmio *vm, struct virtio_device *vd,
		     const struct vm_control *vmc, uint32_t gsi)
{
	memset(vm, 0, sizeof(*vm));
	if (!vmc || !vmc->set_irq || vd->config_size > VIRTIO_MMIO_SIZE - VIRTIO_MMIO_CONFIG)
		return -EINVAL;
	pthread_mutex_init(&vm->lock, NULL);
	vm->vd = vd;
	vm->vm = vmc;
	vm->gsi = gsi;
	vd->transport = (struct virtio_transport){
		.notify_queue = notify_queue, .notify_config = notify_config, .ctx = vm,
	};
	return 0;
}

void virtio_mmio_destroy(struct virtio_mmio *vm)
{
	if (!vm->vd)
		return; /* never initialised, or already destroyed */
	pthread_mutex_destroy(&vm->lock);
	memset(vm, 0, sizeof(*vm));
}

int virtio_mmio_register(struct virtio_mmio *vm, struct bus *mmio_bus, uint64_t base)
{
	return bus_register(mmio_bus, base, VIRTIO_MMIO_SIZE, &virtio_mmio_ops, vm, "virtio-mmio");
}

/* ---- snapshots ---- */

#define INTERRUPT_BITS (VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG)

/*
 * Section STATE_TAG_VIRTIO_MMIO: u32 DeviceFeaturesSel, u32
 * DriverFeaturesSel, u32 QueueSel, u32 InterruptStatus.
 */
void virtio_mmio_save(struct virtio_mmio *mmio, struct state_writer *w, uint32_t instance)
{
	state_begin(w, STATE_TAG_VIRTIO_MMIO, instance);
	pthread_mutex_lock(&mmio->lock);
	state_put_u32(w, mmio->device_features_sel);
	state_put_u32(w, mmio->driver_features_sel);
	state_put_u32(w, mmio->queue_sel);
	state_put_u32(w, mmio->interrupt_status);
	pthread_mutex_unlock(&mmio->lock);
	state_end(w);
	virtio_device_save(mmio->vd, w, instance);
}

struct saved_transport {
	uint32_t device_features_sel, driver_features_sel, queue_sel, interrupt_status;
};

/* Any selector is one the driver could write; InterruptStatus holds only the device's bits. */
static int read_transport(const struct state_reader *r, uint32_t instance, struct saved_transport *st)
{
	struct state_section s;
	if (state_find(r, STATE_TAG_VIRTIO_MMIO, instance, &s) < 0) {
		log_error("snapshot: virtio device %u: no saved virtio-mmio state", instance);
		return -EINVAL;
	}
	st->device_features_sel = state_get_u32(&s);
	st->driver_features_sel = state_get_u32(&s);
	st->queue_sel = state_get_u32(&s);
	st->interrupt_status = state_get_u32(&s);
	if (state_section_finish(&s) < 0) {
		log_error("snapshot: virtio device %u: the saved virtio-mmio state is truncated or malformed",
			  instance);
		return -EINVAL;
	}
	if (st->interrupt_status & ~INTERRUPT_BITS) {
		log_error("snapshot: virtio device %u: InterruptStatus 0x%x has bits no device sets",
			  instance, st->interrupt_status);
		return -EINVAL;
	}
	return 0;
}

int virtio_mmio_load(struct virtio_mmio *mmio, const struct state_reader *r, uint32_t instance)
{
	struct saved_transport st = { 0 };
	int ret = read_transport(r, instance, &st);
	if (ret == 0)
		ret = virtio_device_load(mmio->vd, r, instance);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&mmio->lock);
	mmio->device_features_sel = st.device_features_sel;
	mmio->driver_features_sel = st.driver_features_sel;
	mmio->queue_sel = st.queue_sel;
	mmio->interrupt_status = st.interrupt_status;
	update_line_locked(mmio); /* §4.2.2: the line follows InterruptStatus */
	pthread_mutex_unlock(&mmio->lock);
	return 0;
}
