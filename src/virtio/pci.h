/*
 * The modern virtio-pci transport (virtio 1.2 §4.1): a PCI function whose
 * BAR 0 holds the common configuration, ISR status, device configuration
 * and notification regions, announced by vendor capabilities, with MSI-X
 * for interrupts. Queue notifications only signal the queue's kick
 * eventfd (virtio_kick_queue): the device's own I/O thread does the
 * work, never the vCPU.
 */
#ifndef VMON_VIRTIO_PCI_H
#define VMON_VIRTIO_PCI_H

#include "devices/device.h"
#include "pci/msix.h"
#include "pci/pci.h"
#include "virtio/device.h"

struct virtio_pci {
	struct pci_device pci;
	struct msix msix;
	struct virtio_device *vd;
	const struct vm_control *vm;
	unsigned cfg_cap;               /* offset of the VIRTIO_PCI_CAP_PCI_CFG capability */

	/* Protects the selectors, the ISR and the MSI-X messages. */
	pthread_mutex_t lock;
	uint32_t device_feature_select;
	uint32_t driver_feature_select;
	uint16_t queue_select;
	uint8_t isr;
	/*
	 * Per MSI-X vector: its message, the irqfd that raises it (fd -1:
	 * KVM_SIGNAL_MSI), whether it was usable (enabled, unmasked) at the
	 * last change, and whether a data path outside vmon writes its irqfd.
	 */
	struct {
		uint64_t address;
		uint32_t data;
		int irqfd;
		uint32_t gsi;
		bool usable;
		bool external;
	} vectors[VIRTIO_MAX_QUEUES + 1];
};

/*
 * Wraps `vd` in a PCI function: ids from its device type (§4.1.2), BAR 0,
 * capabilities, one MSI-X vector per queue plus one for configuration.
 * The caller adds vp->pci to the host bridge. 0 or -errno.
 */
int virtio_pci_init(struct virtio_pci *vp, struct virtio_device *vd, uint32_t pci_class,
		    const struct vm_control *vm);
void virtio_pci_destroy(struct virtio_pci *vp);

/*
 * The function's requester id, as an IOMMU names it: bus 0, devfn its
 * slot << 3 (function 0). Once vp->pci is on the host bridge, which
 * chooses the slot.
 */
uint16_t virtio_pci_requester_id(const struct virtio_pci *vp);

/*
 * Puts the device behind `iommu` as this function
 * (virtio_device_set_iommu with virtio_pci_requester_id): after vp->pci
 * is on the host bridge, before the guest runs or a snapshot is loaded.
 */
void virtio_pci_set_iommu(struct virtio_pci *vp, const struct dma_translator *iommu);

/*
 * Snapshots: the function's config space (STATE_TAG_PCI), its MSI-X
 * state (STATE_TAG_MSIX), the transport's selectors and ISR
 * (STATE_TAG_VIRTIO_PCI), then the device (virtio_device_save), all under
 * `instance`, the caller's number for this device. virtio_pci_load
 * restores them in that order into a fresh function of the same
 * configuration, already on the host bridge: BAR 0 decodes where the
 * guest put it, with its notify ioeventfds, and each vector is routed to
 * its irqfd. The device is left quiesced: the caller runs
 * virtio_device_unquiesce once everything is loaded. 0, or -EINVAL (or
 * -ENOMEM) after one log line saying what was refused.
 */
void virtio_pci_save(struct virtio_pci *vp, struct state_writer *w, uint32_t instance);
int virtio_pci_load(struct virtio_pci *vp, const struct state_reader *r, uint32_t instance);

#endif
