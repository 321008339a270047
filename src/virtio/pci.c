#include "virtio/pci.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "migration/state.h"
#include "util/log.h"
#include "virtio/virtio.h"

/* BAR 0 layout: one region per 4 KiB page. */
#define BAR0_SIZE       0x8000
#define COMMON_OFFSET   0x0000
#define COMMON_SIZE     0x40
#define ISR_OFFSET      0x1000
#define DEVICE_OFFSET   0x2000
#define DEVICE_SIZE     0x1000
#define NOTIFY_OFFSET   0x3000
#define NOTIFY_MULTIPLIER 4 /* queue q notifies at NOTIFY_OFFSET + 4 * q */
#define MSIX_TABLE_OFFSET 0x4000
#define MSIX_PBA_OFFSET   0x6000

/* §4.1.4: vendor capability cfg_type values. */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG    3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG    5
/* struct virtio_pci_cfg_cap: the cap's bar, offset, length, then pci_cfg_data. */
#define CFG_CAP_BAR    4
#define CFG_CAP_OFFSET 8
#define CFG_CAP_LENGTH 12
#define CFG_CAP_DATA   16
#define CFG_CAP_SIZE   20
#define PCI_CAP_ID_VENDOR         0x09

#define VIRTIO_PCI_VENDOR      0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040 /* §4.1.2.1: 0x1040 + device id */

/* Common configuration registers (§4.1.4.3). */
enum {
	CC_DEVICE_FEATURE_SELECT = 0x00, CC_DEVICE_FEATURE = 0x04,
	CC_DRIVER_FEATURE_SELECT = 0x08, CC_DRIVER_FEATURE = 0x0c,
	CC_CONFIG_MSIX_VECTOR = 0x10, CC_NUM_QUEUES = 0x12, CC_DEVICE_STATUS = 0x14,
	CC_CONFIG_GENERATION = 0x15, CC_QUEUE_SELECT = 0x16, CC_QUEUE_SIZE = 0x18,
	CC_QUEUE_MSIX_VECTOR = 0x1a, CC_QUEUE_ENABLE = 0x1c, CC_QUEUE_NOTIFY_OFF = 0x1e,
	CC_QUEUE_DESC_LO = 0x20, CC_QUEUE_DESC_HI = 0x24, CC_QUEUE_DRIVER_LO = 0x28,
	CC_QUEUE_DRIVER_HI = 0x2c, CC_QUEUE_DEVICE_LO = 0x30, CC_QUEUE_DEVICE_HI = 0x34,
};

static struct log_limit access_limit = LOG_LIMIT_INIT(8);

/* ---- interrupts ---- */

static void deliver_vector(struct virtio_pci *vp, uint16_t vector)
{
	if (vector != VIRTIO_NO_VECTOR)
		msix_notify(&vp->msix, vector);
}

static void notify_queue(void *ctx, unsigned queue, uint16_t vector)
{
	struct virtio_pci *vp = ctx;
	(void)queue;
	pthread_mutex_lock(&vp->lock);
	vp->isr |= 1; /* §4.1.4.5: queue interrupt */
	pthread_mutex_unlock(&vp->lock);
	deliver_vector(vp, vector);
}

static void notify_config(void *ctx, uint16_t vector)
{
	struct virtio_pci *vp = ctx;
	pthread_mutex_lock(&vp->lock);
	vp->isr |= 2; /* §4.1.4.5: configuration change */
	pthread_mutex_unlock(&vp->lock);
	deliver_vector(vp, vector);
}

/* The irqfd of `vector` for a data path outside vmon (vhost), which then owns its writes. */
static int queue_irqfd(void *ctx, uint16_t vector)
{
	struct virtio_pci *vp = ctx;
	if (vector == VIRTIO_NO_VECTOR || vector > VIRTIO_MAX_QUEUES)
		return -1;
	pthread_mutex_lock(&vp->lock);
	int irqfd = vp->vectors[vector].irqfd;
	vp->vectors[vector].external = irqfd >= 0;
	pthread_mutex_unlock(&vp->lock);
	return irqfd;
}

/*
 * The message of each vector; with an irqfd, its KVM route follows it.
 * While a vector is masked its route is off, so a write to its irqfd from
 * outside vmon is lost, where PCI would have set the Pending bit (PCI 3.0
 * §6.8.2.9). vmon cannot see those writes: when such a vector becomes
 * usable again it raises it once, in case. A virtio driver takes a
 * notification with nothing new in stride (virtio 1.2 §2.7.7).
 */
static void msix_vector_changed(void *ctx, unsigned vector, bool usable, uint64_t address, uint32_t data)
{
	struct virtio_pci *vp = ctx;
	pthread_mutex_lock(&vp->lock);
	vp->vectors[vector].address = address;
	vp->vectors[vector].data = data;
	int irqfd = vp->vectors[vector].irqfd;
	uint32_t gsi = vp->vectors[vector].gsi;
	bool replay = usable && !vp->vectors[vector].usable && vp->vectors[vector].external;
	vp->vectors[vector].usable = usable;
	pthread_mutex_unlock(&vp->lock);
	if (irqfd >= 0 && vp->vm->route_msi_irqfd(vp->vm->ctx, gsi, virtio_pci_requester_id(vp),
						  usable, address, data) < 0)
		log_warn("virtio-pci: cannot route MSI-X vector %u", vector);
	uint64_t one = 1;
	if (replay && write(irqfd, &one, sizeof(one)) < 0)
		log_warn("virtio-pci: cannot raise MSI-X vector %u", vector);
}

/* One eventfd write, KVM does the rest (irqfd); or one KVM_SIGNAL_MSI. */
static void msix_deliver(void *ctx, unsigned vector)
{
	struct virtio_pci *vp = ctx;
	pthread_mutex_lock(&vp->lock);
	uint64_t address = vp->vectors[vector].address;
	uint32_t data = vp->vectors[vector].data;
	int irqfd = vp->vectors[vector].irqfd;
	pthread_mutex_unlock(&vp->lock);
	uint64_t one = 1;
	if (irqfd < 0)
		vm_signal_msi(vp->vm, virtio_pci_requester_id(vp), address, data);
	else if (write(irqfd, &one, sizeof(one)) < 0)
		log_warn("virtio-pci: cannot raise MSI-X vector %u", vector);
}

/* An irqfd per vector, when the machine offers them. */
static int create_irqfds(struct virtio_pci *vp, unsigned nr_vectors)
{
	for (unsigned v = 0; v < VIRTIO_MAX_QUEUES + 1; v++)
		vp->vectors[v].irqfd = -1;
	const struct vm_control *vm = vp->vm;
	if (!vm->create_msi_irqfd || !vm->route_msi_irqfd || !vm->destroy_msi_irqfd)
		return 0;
	for (unsigned v = 0; v < nr_vectors; v++) {
		int fd = vm->create_msi_irqfd(vm->ctx, &vp->vectors[v].gsi);
		if (fd < 0)
			return fd;
		vp->vectors[v].irqfd = fd;
	}
	return 0;
}

static void destroy_irqfds(struct virtio_pci *vp)
{
	const struct vm_control *vm = vp->vm;
	for (unsigned v = 0; vm && v < VIRTIO_MAX_QUEUES + 1; v++)
		if (vp->vectors[v].irqfd >= 0)
			vm->destroy_msi_irqfd(vm->ctx, vp->vectors[v].gsi, vp->vectors[v].irqfd);
}

/* ---- common configuration ---- */

static struct virtio_queue *selected_queue(struct virtio_pci *vp)
{
	uint16_t q = vp->queue_select;
	return q < vp->vd->nr_queues ? &vp->vd->queues[q] : NULL;
}

static uint16_t valid_vector(const struct virtio_pci *vp, uint16_t vector)
{
	return vector < vp->msix.nr_vectors ? vector : VIRTIO_NO_VECTOR;
}

static uint32_t queue_read(struct virtio_pci *vp, unsigned reg)
{
	struct virtio_queue *q = selected_queue(vp);
	if (!q)
		return 0; /* §4.1.4.3.2: queue_size 0 for a queue that does not exist */
	switch (reg) {
	case CC_QUEUE_SIZE: return q->vq.size;
	case CC_QUEUE_MSIX_VECTOR: return q->vector;
	case CC_QUEUE_ENABLE: return q->enabled;
	case CC_QUEUE_NOTIFY_OFF: return vp->queue_select;
	case CC_QUEUE_DESC_LO: return (uint32_t)q->vq.desc_gpa;
	case CC_QUEUE_DESC_HI: return (uint32_t)(q->vq.desc_gpa >> 32);
	case CC_QUEUE_DRIVER_LO: return (uint32_t)q->vq.avail_gpa;
	case CC_QUEUE_DRIVER_HI: return (uint32_t)(q->vq.avail_gpa >> 32);
	case CC_QUEUE_DEVICE_LO: return (uint32_t)q->vq.used_gpa;
	case CC_QUEUE_DEVICE_HI: return (uint32_t)(q->vq.used_gpa >> 32);
	default: return 0;
	}
}

static void set_half(uint64_t *field, bool high, uint32_t v)
{
	*field = high ? (*field & 0xffffffffull) | (uint64_t)v << 32
		      : (*field & ~0xffffffffull) | v;
}

/* §4.1.4.3.2: a queue's configuration is fixed once it is enabled. Caller holds vd->lock. */
static void queue_write(struct virtio_pci *vp, unsigned reg, uint32_t v)
{
	struct virtio_queue *q = selected_queue(vp);
	if (!q)
		return;
	if (reg == CC_QUEUE_MSIX_VECTOR) {
		q->vector = valid_vector(vp, (uint16_t)v);
		return;
	}
	if (q->enabled)
		return;
	switch (reg) {
	case CC_QUEUE_SIZE: q->vq.size = (uint16_t)v; break; /* checked at DRIVER_OK */
	case CC_QUEUE_ENABLE: q->enabled = v == 1; break;
	case CC_QUEUE_DESC_LO: case CC_QUEUE_DESC_HI:
		set_half(&q->vq.desc_gpa, reg == CC_QUEUE_DESC_HI, v); break;
	case CC_QUEUE_DRIVER_LO: case CC_QUEUE_DRIVER_HI:
		set_half(&q->vq.avail_gpa, reg == CC_QUEUE_DRIVER_HI, v); break;
	case CC_QUEUE_DEVICE_LO: case CC_QUEUE_DEVICE_HI:
		set_half(&q->vq.used_gpa, reg == CC_QUEUE_DEVICE_HI, v); break;
	default: break;
	}
}

static uint32_t common_read_reg(struct virtio_pci *vp, unsigned reg)
{
	struct virtio_device *vd = vp->vd;
	switch (reg) {
	case CC_DEVICE_FEATURE_SELECT: return vp->device_feature_select;
	case CC_DEVICE_FEATURE: return virtio_device_features(vd, vp->device_feature_select);
	case CC_DRIVER_FEATURE_SELECT: return vp->driver_feature_select;
	case CC_DRIVER_FEATURE:
		return vp->driver_feature_select < 2 ?
			(uint32_t)(vd->driver_features >> (32 * vp->driver_feature_select)) : 0;
	case CC_CONFIG_MSIX_VECTOR: return vd->config_vector;
	case CC_NUM_QUEUES: return vd->nr_queues;
	case CC_DEVICE_STATUS: return vd->status;
	case CC_CONFIG_GENERATION: return vd->config_generation;
	case CC_QUEUE_SELECT: return vp->queue_select;
	default: return queue_read(vp, reg);
	}
}

/* The register at `offset` and its width; 0 when no register starts there. */
static unsigned register_width(unsigned offset)
{
	switch (offset) {
	case CC_DEVICE_STATUS: case CC_CONFIG_GENERATION:
		return 1;
	case CC_CONFIG_MSIX_VECTOR: case CC_NUM_QUEUES: case CC_QUEUE_SELECT: case CC_QUEUE_SIZE:
	case CC_QUEUE_MSIX_VECTOR: case CC_QUEUE_ENABLE: case CC_QUEUE_NOTIFY_OFF:
		return 2;
	default:
		return offset < CC_QUEUE_DEVICE_HI + 4 && offset % 4 == 0 ? 4 : 0;
	}
}

static void common_read(struct virtio_pci *vp, uint64_t offset, void *data, uint32_t len)
{
	uint32_t v = 0xffffffffu;
	if (register_width((unsigned)offset) == len) {
		pthread_mutex_lock(&vp->vd->lock);
		pthread_mutex_lock(&vp->lock);
		v = common_read_reg(vp, (unsigned)offset);
		pthread_mutex_unlock(&vp->lock);
		pthread_mutex_unlock(&vp->vd->lock);
	} else if (log_limit_allow(&access_limit)) {
		log_debug("virtio-pci: %u-byte read at common config 0x%llx ignored", len,
			  (unsigned long long)offset);
	}
	memcpy(data, &v, len);
}

static void common_write(struct virtio_pci *vp, uint64_t offset, const void *data, uint32_t len)
{
	unsigned reg = (unsigned)offset;
	uint32_t v = 0;
	if (register_width(reg) != len)
		return;
	memcpy(&v, data, len);
	/* Status and features go through the device core, which takes its own lock. */
	if (reg == CC_DEVICE_STATUS) {
		virtio_set_status(vp->vd, (uint8_t)v);
		return;
	}
	if (reg == CC_DRIVER_FEATURE) {
		pthread_mutex_lock(&vp->lock);
		uint32_t select = vp->driver_feature_select;
		pthread_mutex_unlock(&vp->lock);
		virtio_set_driver_features(vp->vd, select, v);
		return;
	}
	pthread_mutex_lock(&vp->vd->lock);
	pthread_mutex_lock(&vp->lock);
	switch (reg) {
	case CC_DEVICE_FEATURE_SELECT: vp->device_feature_select = v; break;
	case CC_DRIVER_FEATURE_SELECT: vp->driver_feature_select = v; break;
	case CC_CONFIG_MSIX_VECTOR: vp->vd->config_vector = valid_vector(vp, (uint16_t)v); break;
	case CC_QUEUE_SELECT: vp->queue_select = (uint16_t)v; break;
	default: queue_write(vp, reg, v); break;
	}
	pthread_mutex_unlock(&vp->lock);
	pthread_mutex_unlock(&vp->vd->lock);
}

/* ---- the other regions ---- */

static uint8_t isr_read_and_clear(struct virtio_pci *vp)
{
	pthread_mutex_lock(&vp->lock);
	uint8_t isr = vp->isr;
	vp->isr = 0; /* §4.1.4.5.1: reading ISR resets it */
	pthread_mutex_unlock(&vp->lock);
	return isr;
}

static void notify_write(struct virtio_pci *vp, uint64_t offset)
{
	virtio_kick_queue(vp->vd, (unsigned)(offset / NOTIFY_MULTIPLIER));
}

static bool in_region(uint64_t offset, uint32_t len, uint64_t start, uint64_t size)
{
	return offset >= start && offset - start < size && len <= size - (offset - start);
}

static void bar0_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct virtio_pci *vp = opaque;
	struct virtio_device *vd = vp->vd;
	uint32_t table = msix_table_size(vp->msix.nr_vectors), pba = msix_pba_size(vp->msix.nr_vectors);
	memset(data, 0, len);
	if (in_region(offset, len, COMMON_OFFSET, COMMON_SIZE))
		common_read(vp, offset - COMMON_OFFSET, data, len);
	else if (in_region(offset, len, ISR_OFFSET, 1))
		*(uint8_t *)data = isr_read_and_clear(vp);
	else if (in_region(offset, len, DEVICE_OFFSET, vd->config_size) && vd->ops->config_read)
		vd->ops->config_read(vd, offset - DEVICE_OFFSET, data, len);
	else if (in_region(offset, len, MSIX_TABLE_OFFSET, table))
		msix_table_read(&vp->msix, offset - MSIX_TABLE_OFFSET, data, len);
	else if (in_region(offset, len, MSIX_PBA_OFFSET, pba))
		msix_pba_read(&vp->msix, offset - MSIX_PBA_OFFSET, data, len);
}

static void bar0_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct virtio_pci *vp = opaque;
	struct virtio_device *vd = vp->vd;
	uint32_t table = msix_table_size(vp->msix.nr_vectors);
	if (in_region(offset, len, COMMON_OFFSET, COMMON_SIZE))
		common_write(vp, offset - COMMON_OFFSET, data, len);
	else if (in_region(offset, len, NOTIFY_OFFSET, NOTIFY_MULTIPLIER * vd->nr_queues))
		notify_write(vp, offset - NOTIFY_OFFSET);
	else if (in_region(offset, len, DEVICE_OFFSET, vd->config_size) && vd->ops->config_write)
		vd->ops->config_write(vd, offset - DEVICE_OFFSET, data, len);
	else if (in_region(offset, len, MSIX_TABLE_OFFSET, table))
		msix_table_write(&vp->msix, offset - MSIX_TABLE_OFFSET, data, len);
}

static const struct bus_ops bar0_ops = { .read = bar0_read, .write = bar0_write };

/*
 * §4.1.4.9: the PCI configuration access capability, a window into BAR 0
 * through config space (for drivers that cannot map BARs yet). The access
 * it describes, if it is a valid one into BAR 0; false otherwise.
 */
static bool cfg_window(struct virtio_pci *vp, unsigned offset, unsigned len,
		       uint32_t *bar_offset, uint32_t *length)
{
	unsigned data = vp->cfg_cap + CFG_CAP_DATA;
	if (offset + len <= data || offset >= data + 4)
		return false;
	pthread_mutex_lock(&vp->pci.lock);
	uint8_t bar = (uint8_t)pci_cfg_get(&vp->pci, vp->cfg_cap + CFG_CAP_BAR, 1);
	*bar_offset = pci_cfg_get(&vp->pci, vp->cfg_cap + CFG_CAP_OFFSET, 4);
	*length = pci_cfg_get(&vp->pci, vp->cfg_cap + CFG_CAP_LENGTH, 4);
	pthread_mutex_unlock(&vp->pci.lock);
	return bar == 0 && (*length == 1 || *length == 2 || *length == 4) &&
	       *bar_offset % *length == 0 && *bar_offset < BAR0_SIZE && *length <= BAR0_SIZE - *bar_offset;
}

static void config_read(struct pci_device *dev, unsigned offset, unsigned len)
{
	struct virtio_pci *vp = dev->opaque;
	uint32_t at, length, value = 0;
	if (!cfg_window(vp, offset, len, &at, &length))
		return;
	bar0_read(vp, at, &value, length);
	pthread_mutex_lock(&dev->lock);
	pci_cfg_set(dev, vp->cfg_cap + CFG_CAP_DATA, 4, value);
	pthread_mutex_unlock(&dev->lock);
}

static void config_written(struct pci_device *dev, unsigned offset, unsigned len)
{
	struct virtio_pci *vp = dev->opaque;
	uint32_t at, length;
	if (cfg_window(vp, offset, len, &at, &length)) {
		pthread_mutex_lock(&dev->lock);
		uint32_t value = pci_cfg_get(dev, vp->cfg_cap + CFG_CAP_DATA, 4);
		pthread_mutex_unlock(&dev->lock);
		bar0_write(vp, at, &value, length);
		return;
	}
	msix_config_written(&vp->msix, offset, len);
}

/* Linux notifies with a 16-bit write of the queue index (§4.1.4.4). */
#define NOTIFY_WRITE_LEN 2

/*
 * Where BAR 0 decodes, each queue's notify address signals its kick eventfd
 * in the kernel: a notification costs the guest no exit to vmon.
 */
static void bar_mapped(struct pci_device *dev, unsigned index, uint64_t addr, bool mapped)
{
	struct virtio_pci *vp = dev->opaque;
	const struct vm_control *vm = vp->vm;
	if (index != 0 || !vm->add_ioeventfd || !vm->remove_ioeventfd)
		return;
	for (unsigned q = 0; q < vp->vd->nr_queues; q++) {
		uint64_t at = addr + NOTIFY_OFFSET + (uint64_t)NOTIFY_MULTIPLIER * q;
		int fd = vp->vd->queues[q].kick_fd;
		int ret = mapped ? vm->add_ioeventfd(vm->ctx, fd, at, NOTIFY_WRITE_LEN)
				 : vm->remove_ioeventfd(vm->ctx, fd, at, NOTIFY_WRITE_LEN);
		if (ret < 0)
			log_debug("virtio-pci: queue %u notify at 0x%llx stays a trapped write: %s", q,
				  (unsigned long long)at, strerror(-ret));
	}
}

static const struct pci_device_ops virtio_pci_device_ops = {
	.config_written = config_written,
	.config_read = config_read,
	.bar_mapped = bar_mapped,
};

/* ---- set-up ---- */

/* struct virtio_pci_cap (§4.1.4), cap_vndr and cap_next filled in by pci.c. */
static int add_virtio_cap(struct pci_device *dev, uint8_t type, uint32_t offset, uint32_t length,
			  uint32_t multiplier)
{
	uint8_t cap[20] = { 0 };
	unsigned len = type == VIRTIO_PCI_CAP_NOTIFY_CFG ? 20 : 16;
	cap[2] = (uint8_t)len;   /* cap_len */
	cap[3] = type;           /* cfg_type */
	cap[4] = 0;              /* bar */
	memcpy(&cap[8], &offset, 4);
	memcpy(&cap[12], &length, 4);
	memcpy(&cap[16], &multiplier, 4);
	return pci_device_add_capability(dev, PCI_CAP_ID_VENDOR, cap, len, NULL);
}

/* §4.1.4.9: bar, offset, length and pci_cfg_data are the driver's to write. */
static int add_cfg_access_cap(struct virtio_pci *vp)
{
	uint8_t cap[CFG_CAP_SIZE] = { 0 }, writable[CFG_CAP_SIZE] = { 0 };
	cap[2] = CFG_CAP_SIZE;
	cap[3] = VIRTIO_PCI_CAP_PCI_CFG;
	writable[CFG_CAP_BAR] = 0xff;
	memset(&writable[CFG_CAP_OFFSET], 0xff, 12);
	int ret = pci_device_add_capability(&vp->pci, PCI_CAP_ID_VENDOR, cap, CFG_CAP_SIZE, writable);
	if (ret >= 0)
		vp->cfg_cap = (unsigned)ret;
	return ret;
}

static int add_capabilities(struct virtio_pci *vp)
{
	struct virtio_device *vd = vp->vd;
	int ret = add_virtio_cap(&vp->pci, VIRTIO_PCI_CAP_COMMON_CFG, COMMON_OFFSET, COMMON_SIZE, 0);
	if (ret >= 0)
		ret = add_virtio_cap(&vp->pci, VIRTIO_PCI_CAP_ISR_CFG, ISR_OFFSET, 1, 0);
	if (ret >= 0 && vd->config_size)
		ret = add_virtio_cap(&vp->pci, VIRTIO_PCI_CAP_DEVICE_CFG, DEVICE_OFFSET,
				     (uint32_t)vd->config_size, 0);
	if (ret >= 0)
		ret = add_virtio_cap(&vp->pci, VIRTIO_PCI_CAP_NOTIFY_CFG, NOTIFY_OFFSET,
				     NOTIFY_MULTIPLIER * vd->nr_queues, NOTIFY_MULTIPLIER);
	if (ret >= 0)
		ret = add_cfg_access_cap(vp);
	return ret < 0 ? ret : 0;
}

int virtio_pci_init(struct virtio_pci *vp, struct virtio_device *vd, uint32_t pci_class,
		    const struct vm_control *vm)
{
	memset(vp, 0, sizeof(*vp));
	if (vd->config_size > DEVICE_SIZE)
		return -EINVAL;
	const struct pci_id id = {
		.vendor = VIRTIO_PCI_VENDOR, .device = (uint16_t)(VIRTIO_PCI_DEVICE_BASE + vd->device_id),
		.revision = 1, /* §4.1.2.1: modern devices have revision 1 or higher */
		.class_code = pci_class,
		.subsystem_vendor = VIRTIO_PCI_VENDOR, .subsystem = 0x40,
	};
	pthread_mutex_init(&vp->lock, NULL);
	vp->vd = vd;
	vp->vm = vm;
	pci_device_init(&vp->pci, "virtio-pci", &id);
	vp->pci.ops = &virtio_pci_device_ops;
	vp->pci.opaque = vp;
	vd->transport = (struct virtio_transport){
		.notify_queue = notify_queue, .notify_config = notify_config,
		.queue_irqfd = queue_irqfd, .ctx = vp, .nr_vectors = (uint16_t)(vd->nr_queues + 1),
	};
	struct msix_sink sink = { .vector_changed = msix_vector_changed, .deliver = msix_deliver, .ctx = vp };
	int ret = create_irqfds(vp, vd->transport.nr_vectors);
	if (ret == 0)
		ret = pci_device_add_bar(&vp->pci, 0, PCI_BAR_MMIO32, BAR0_SIZE, &bar0_ops, vp);
	if (ret == 0)
		ret = add_capabilities(vp);
	if (ret == 0)
		ret = msix_init(&vp->msix, &vp->pci, vd->transport.nr_vectors, 0, MSIX_TABLE_OFFSET,
				MSIX_PBA_OFFSET, &sink);
	if (ret < 0)
		virtio_pci_destroy(vp);
	return ret;
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
	destroy_irqfds(vp);
	msix_destroy(&vp->msix);
	pci_device_destroy(&vp->pci);
	pthread_mutex_destroy(&vp->lock);
	memset(vp, 0, sizeof(*vp));
}

uint16_t virtio_pci_requester_id(const struct virtio_pci *vp)
{
	return (uint16_t)(vp->pci.slot << 3); /* PCIe: bus << 8 | device << 3 | function */
}

void virtio_pci_set_iommu(struct virtio_pci *vp, const struct dma_translator *iommu)
{
	virtio_device_set_iommu(vp->vd, iommu, virtio_pci_requester_id(vp));
}

/* ---- snapshots ---- */

/* The ISR bits a device sets (§4.1.4.5): queue interrupt, configuration change. */
#define ISR_BITS 0x3

/*
 * Section STATE_TAG_VIRTIO_PCI: u32 device_feature_select,
 * u32 driver_feature_select, u16 queue_select, u8 isr.
 */
void virtio_pci_save(struct virtio_pci *vp, struct state_writer *w, uint32_t instance)
{
	pci_device_save(&vp->pci, w, instance);
	msix_save(&vp->msix, w, instance);
	state_begin(w, STATE_TAG_VIRTIO_PCI, instance);
	pthread_mutex_lock(&vp->lock);
	state_put_u32(w, vp->device_feature_select);
	state_put_u32(w, vp->driver_feature_select);
	state_put_u16(w, vp->queue_select);
	state_put_u8(w, vp->isr);
	pthread_mutex_unlock(&vp->lock);
	state_end(w);
	virtio_device_save(vp->vd, w, instance);
}

struct saved_transport {
	uint32_t device_feature_select, driver_feature_select;
	uint16_t queue_select;
	uint8_t isr;
};

/* Any selector is one the driver could write; the ISR holds only the device's bits. */
static int read_transport(const struct state_reader *r, uint32_t instance, struct saved_transport *t)
{
	struct state_section s;
	if (state_find(r, STATE_TAG_VIRTIO_PCI, instance, &s) < 0) {
		log_error("snapshot: virtio device %u: no saved virtio-pci state", instance);
		return -EINVAL;
	}
	t->device_feature_select = state_get_u32(&s);
	t->driver_feature_select = state_get_u32(&s);
	t->queue_select = state_get_u16(&s);
	t->isr = state_get_u8(&s);
	if (state_section_finish(&s) < 0) {
		log_error("snapshot: virtio device %u: the saved virtio-pci state is truncated or malformed",
			  instance);
		return -EINVAL;
	}
	if (t->isr & ~ISR_BITS) {
		log_error("snapshot: virtio device %u: ISR 0x%x has bits no device sets", instance, t->isr);
		return -EINVAL;
	}
	return 0;
}

/*
 * pci_device_load maps BAR 0 as the guest's writes would, so bar_mapped
 * registers the notify ioeventfds; msix_load tells msix_vector_changed
 * every vector, which routes its irqfd.
 */
int virtio_pci_load(struct virtio_pci *vp, const struct state_reader *r, uint32_t instance)
{
	struct saved_transport t = { 0 };
	int ret = pci_device_load(&vp->pci, r, instance);
	if (ret == 0)
		ret = msix_load(&vp->msix, r, instance);
	if (ret == 0)
		ret = read_transport(r, instance, &t);
	if (ret == 0)
		ret = virtio_device_load(vp->vd, r, instance);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&vp->lock);
	vp->device_feature_select = t.device_feature_select;
	vp->driver_feature_select = t.driver_feature_select;
	vp->queue_select = t.queue_select;
	vp->isr = t.isr;
	pthread_mutex_unlock(&vp->lock);
	return 0;
}
