/*
 * A virtio device, independent of its transport (PCI or MMIO): feature
 * negotiation, device status, queue configuration and reset (virtio 1.2
 * §2.1-§2.6, §3.1). Transports turn register accesses into these calls;
 * device types (blk, rng, ...) supply struct virtio_device_ops.
 */
#ifndef VMON_VIRTIO_DEVICE_H
#define VMON_VIRTIO_DEVICE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtio/virtqueue.h"
#include "vmm/dma.h"
#include "vmm/guest_mem.h"

#define VIRTIO_NO_VECTOR 0xffff
#define VIRTIO_MAX_QUEUES 64

struct virtio_device;
struct state_writer;
struct state_reader;

struct virtio_device_ops {
	/* Device-specific configuration space (§2.5); offsets are bounds-checked. */
	void (*config_read)(struct virtio_device *vd, uint64_t offset, void *data, uint32_t len);
	void (*config_write)(struct virtio_device *vd, uint64_t offset, const void *data, uint32_t len);
	/* DRIVER_OK: queues are configured; start serving them. 0, or -errno (NEEDS_RESET). */
	int (*activate)(struct virtio_device *vd);
	/* The driver reset the device (or vmon stops): stop serving queues, forget state. */
	void (*reset)(struct virtio_device *vd);
	/* Optional: false when `features` lack a feature another requires; FEATURES_OK is refused. */
	bool (*features_consistent)(uint64_t features);
	/*
	 * Snapshots and migration (see virtio_device_quiesce). quiesce: stop
	 * serving the queues of an activated device, keeping their state
	 * (requests in flight completed and pushed, indices a data path
	 * outside vmon kept read back into vd->queues). unquiesce: serve them
	 * again, from the indices in vd->queues, after quiesce or after a
	 * load; 0 or -errno. save/load: the device type's own state beyond
	 * virtio's common one, in its own section (optional both).
	 */
	void (*quiesce)(struct virtio_device *vd);
	int (*unquiesce)(struct virtio_device *vd);
	void (*save)(struct virtio_device *vd, struct state_writer *w, uint32_t instance);
	int (*load)(struct virtio_device *vd, const struct state_reader *r, uint32_t instance);
};

/* How a device raises its interrupts: the transport's side. */
struct virtio_transport {
	void (*notify_queue)(void *ctx, unsigned queue, uint16_t vector);
	void (*notify_config)(void *ctx, uint16_t vector);
	/*
	 * An eventfd whose every write raises `vector` with no help from vmon
	 * (a KVM irqfd), or -1. May be NULL: the transport has none.
	 */
	int (*queue_irqfd)(void *ctx, uint16_t vector);
	void *ctx;
	/* Vectors 0 .. nr_vectors - 1 exist (MSI-X); 0: only VIRTIO_NO_VECTOR. */
	uint16_t nr_vectors;
};

struct virtio_queue {
	struct virtq vq;     /* ring addresses as the driver set them, and device state */
	int kick_fd;         /* eventfd: the driver notified the queue (transport writes, worker waits) */
	uint16_t max_size;
	bool enabled;        /* queue_enable (§4.1.4.3) */
	uint16_t vector;     /* MSI-X vector, or VIRTIO_NO_VECTOR */
};

struct virtio_device {
	uint32_t device_id;               /* §5: 2 = block, 4 = entropy, ... */
	uint64_t device_features;         /* offered; VERSION_1 always */
	size_t config_size;
	const struct virtio_device_ops *ops;
	void *opaque;                     /* the device type's own state */
	struct dma_space dma;             /* guest memory as the device reaches it; queues copy it */
	struct virtio_transport transport;

	/*
	 * Serialises status changes with the device type's activate and reset,
	 * which run under it (never under `lock`, which workers take to notify).
	 */
	pthread_mutex_t control_lock;
	bool activated;                   /* activate ran since the last reset; under control_lock */
	bool quiesced;                    /* quiesced or loaded, not yet unquiesced; under control_lock */

	/* Protects the fields below: vCPU threads change them, I/O threads read queues after activation. */
	pthread_mutex_t lock;
	uint64_t driver_features;         /* accepted by the driver */
	uint8_t status;
	uint8_t config_generation;
	uint16_t config_vector;
	unsigned nr_queues;
	struct virtio_queue queues[VIRTIO_MAX_QUEUES];
};

/* Sets up a device offering `features` (VERSION_1 is added) with nr_queues of max_size. */
int virtio_device_init(struct virtio_device *vd, uint32_t device_id, uint64_t features,
		       unsigned nr_queues, uint16_t max_size, const struct guest_mem *mem,
		       const struct virtio_device_ops *ops, void *opaque);
void virtio_device_destroy(struct virtio_device *vd);

/*
 * Puts the device behind an IOMMU (NULL: none), as requester `source_id`
 * (PCI bus << 8 | devfn; a transport may know it: virtio_pci_set_iommu):
 * from then on every ring and buffer address the driver gives is an I/O
 * virtual address that `iommu` translates, and the device offers
 * VIRTIO_F_ACCESS_PLATFORM and refuses FEATURES_OK without it (virtio 1.2
 * §6.1: a driver passing physical addresses would bypass the IOMMU).
 * Before the driver first sees the device (and before a snapshot load:
 * the offered features are part of the device's identity); `iommu` must
 * outlive the device.
 */
void virtio_device_set_iommu(struct virtio_device *vd, const struct dma_translator *iommu,
			     uint16_t source_id);

/* The 32 feature bits of word `select` the device offers (0 past bit 63). */
uint32_t virtio_device_features(struct virtio_device *vd, uint32_t select);
/* Driver accepts features; ignored once FEATURES_OK is set (§2.2). */
void virtio_set_driver_features(struct virtio_device *vd, uint32_t select, uint32_t value);
bool virtio_has_feature(const struct virtio_device *vd, unsigned bit);

uint8_t virtio_get_status(struct virtio_device *vd);
/*
 * The driver writes device_status: 0 resets (§2.4); otherwise bits only
 * accumulate until the next reset (§2.1.2: the driver MUST NOT clear them,
 * so clearing is ignored); FEATURES_OK sticks only if the driver accepted a
 * subset of ours including VERSION_1 (§3.1.1); the first DRIVER_OK
 * validates and activates the queues, or sets DEVICE_NEEDS_RESET.
 */
void virtio_set_status(struct virtio_device *vd, uint8_t status);

/*
 * The device gave up on a driver that broke the rules (§2.1.2): it sets
 * DEVICE_NEEDS_RESET and, the first time since the reset, logs that and
 * notifies a configuration change.
 */
void virtio_device_needs_reset(struct virtio_device *vd);
/*
 * The same for a failure on the host's side, the driver having done
 * nothing wrong: `what` says what failed, e.g. "the I/O thread could not
 * be restarted".
 */
void virtio_device_failed(struct virtio_device *vd, const char *what);

/* The driver notified queue q: wakes whoever serves it. */
void virtio_kick_queue(struct virtio_device *vd, unsigned q);

/* The device configuration changed: a new generation and a notification (§2.5.1, §4.1.4.5). */
void virtio_config_changed(struct virtio_device *vd);

/*
 * An eventfd that raises queue q's interrupt when written, for a data path
 * outside vmon (vhost): the transport's irqfd for the queue's vector, or
 * -1 when interrupts need vmon (no vector, no irqfd, or virtio-mmio's
 * interrupt status register).
 */
int virtio_queue_irqfd(struct virtio_device *vd, unsigned q);

/* Raises a used-buffer interrupt for queue q (through the transport). */
void virtio_notify_queue(struct virtio_device *vd, unsigned q);

/*
 * Snapshots and migration. With the vCPUs paused, virtio_device_quiesce
 * stops the device serving its queues (ops->quiesce when activated): then
 * nothing changes guest memory or the device's state, which
 * virtio_device_save writes (section STATE_TAG_VIRTIO, `instance`: status,
 * features, configuration generation and vector, each queue's size,
 * addresses, enable, vector and indices; then ops->save). Idempotent.
 *
 * virtio_device_load sets a freshly initialised device (never activated)
 * to the saved state, checking every value as it would the driver's
 * (sizes, ring addresses in guest RAM, features it offers), and leaves it
 * quiesced; the transport must be initialised (its vector count is
 * checked). virtio_device_unquiesce then serves the queues again
 * (ops->unquiesce) if DRIVER_OK is set and DEVICE_NEEDS_RESET is not:
 * after a quiesce, or after a load once the transport is loaded too; it
 * kicks every enabled queue once, for a notification the saved process
 * had not served. Load: 0, or -EINVAL after logging which value was wrong
 * (the device is then only fit for destroying); unquiesce: 0 or -errno
 * (the device then needs a reset, as after a failed activate).
 *
 * A device type's quiesce stops its I/O thread without forgetting the
 * queues (indices stay in vd->queues[q].vq, which the core restores
 * before unquiesce); unquiesce restarts it. Neither resets anything.
 */
void virtio_device_quiesce(struct virtio_device *vd);
int virtio_device_unquiesce(struct virtio_device *vd);
void virtio_device_save(struct virtio_device *vd, struct state_writer *w, uint32_t instance);
int virtio_device_load(struct virtio_device *vd, const struct state_reader *r, uint32_t instance);

#endif
