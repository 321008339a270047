/*
 * The virtio-mmio transport, version 2 (virtio 1.2 §4.2): a 0x200-byte
 * window of 32-bit control registers followed, at 0x100, by the device
 * configuration space, with one level-triggered interrupt line.
 *
 * The line is high exactly while InterruptStatus is not zero: a used
 * buffer (bit 0) or configuration change (bit 1) notification sets a bit
 * and raises it, InterruptACK clears bits and lowers it once none are
 * left, and so does a reset. Queue notifications only signal the queue's
 * kick eventfd (virtio_kick_queue): the device's own I/O thread does the
 * work, never the vCPU.
 *
 * Only 32-bit, 4-byte-aligned accesses reach the control registers
 * (§4.2.2.2); other ones are ignored (reads return 0). The configuration
 * space takes accesses of any width inside config_size.
 */
#ifndef VMON_VIRTIO_MMIO_H
#define VMON_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/bus.h"
#include "devices/device.h"
#include "virtio/device.h"

#define VIRTIO_MMIO_SIZE        0x200 /* the register window */
#define VIRTIO_MMIO_CONFIG      0x100 /* device configuration space, up to the end */
#define VIRTIO_MMIO_MAGIC       0x74726976u /* "virt" */
#define VIRTIO_MMIO_VERSION     2
#define VIRTIO_MMIO_VENDOR_ID   0x4e4f4d56u /* "VMON" */

/* InterruptStatus / InterruptACK bits (§4.2.2). */
#define VIRTIO_MMIO_INT_VRING  (1u << 0) /* used buffer notification */
#define VIRTIO_MMIO_INT_CONFIG (1u << 1) /* configuration change notification */

struct virtio_mmio {
	struct virtio_device *vd;
	const struct vm_control *vm;
	uint32_t gsi;

	/* Protects the selectors, InterruptStatus and the line. After vd->lock. */
	pthread_mutex_t lock;
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel;
	uint32_t interrupt_status;
	bool line;                 /* the level last driven on gsi */
};

/*
 * Wraps `vd` (virtio_device_init done, config_size at most 0x100) in a
 * virtio-mmio window raising level-triggered line `gsi` through `vm`.
 * Installs vd->transport. The caller then claims the window with
 * virtio_mmio_register (or bus_register with virtio_mmio_ops). 0 or -errno.
 */
int virtio_mmio_init(struct virtio_mmio *vm, struct virtio_device *vd,
		     const struct vm_control *vmc, uint32_t gsi);
/* After the device's I/O has stopped; does not unregister the window. */
void virtio_mmio_destroy(struct virtio_mmio *vm);

/* The register window; `dev` is the struct virtio_mmio. */
extern const struct bus_ops virtio_mmio_ops;

/* Claims [base, base + VIRTIO_MMIO_SIZE) on the MMIO bus: bus_register's result. */
int virtio_mmio_register(struct virtio_mmio *vm, struct bus *mmio_bus, uint64_t base);

/*
 * Snapshots: the selectors and InterruptStatus (STATE_TAG_VIRTIO_MMIO),
 * then the device (virtio_device_save), both under `instance`, the
 * caller's number for this device. virtio_mmio_load restores them into a
 * fresh transport of the same configuration and drives the line as
 * InterruptStatus says; the device is left quiesced: the caller runs
 * virtio_device_unquiesce once everything is loaded. QueueNotify has no
 * ioeventfd (it is a trapped write that kicks the queue): nothing to
 * register. 0, or -EINVAL after one log line saying what was refused.
 */
void virtio_mmio_save(struct virtio_mmio *mmio, struct state_writer *w, uint32_t instance);
int virtio_mmio_load(struct virtio_mmio *mmio, const struct state_reader *r, uint32_t instance);

#endif
