/*
 * What a device may ask of the machine it lives in. Devices never call the
 * hypervisor layer; they raise interrupt lines and stop requests through
 * these callbacks, which unit tests replace with fakes.
 */
#ifndef VMON_DEVICES_DEVICE_H
#define VMON_DEVICES_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

/* Why the VM stops; each maps to one documented exit status of vmon. */
enum vm_stop_reason {
	VM_STOP_POWEROFF, /* guest powered off (ACPI S5): exit 0 */
	VM_STOP_USER,     /* the user quit (Ctrl-A x, SIGTERM): exit 0 */
	VM_STOP_ERROR,    /* vmon itself failed: exit 1 */
	VM_STOP_REBOOT,   /* guest asked for a reset: exit 2 */
	VM_STOP_CRASH,    /* triple fault, failed entry, internal error: exit 3 */
};

struct vm_control {
	/* Drives interrupt line `gsi` to `level` (0 or 1). */
	void (*set_irq)(void *ctx, uint32_t gsi, int level);
	/* Asks the machine to stop; the first request wins. */
	void (*request_stop)(void *ctx, enum vm_stop_reason why);
	/*
	 * Delivers one message-signalled interrupt (MSI/MSI-X) that requester
	 * `source_id` (PCI bus << 8 | devfn) sent: an IOMMU's interrupt
	 * remapping checks and translates it by requester. May be NULL in tests.
	 */
	void (*signal_msi)(void *ctx, uint16_t source_id, uint64_t address, uint32_t data);
	/*
	 * A guest write of `len` bytes at MMIO `addr` signals `eventfd` without
	 * an exit (or stops doing so). May be NULL: the write then exits and
	 * the device signals the eventfd itself.
	 */
	int (*add_ioeventfd)(void *ctx, int eventfd, uint64_t addr, uint32_t len);
	int (*remove_ioeventfd)(void *ctx, int eventfd, uint64_t addr, uint32_t len);
	/*
	 * An MSI the device raises by writing an eventfd (KVM irqfd): create
	 * returns the eventfd and its GSI; route points the GSI at a message
	 * (or disables it) sent by requester `source_id`, as for signal_msi;
	 * destroy frees both. May be NULL: use signal_msi.
	 */
	int (*create_msi_irqfd)(void *ctx, uint32_t *gsi);
	int (*route_msi_irqfd)(void *ctx, uint32_t gsi, uint16_t source_id, bool enabled,
			       uint64_t address, uint32_t data);
	void (*destroy_msi_irqfd)(void *ctx, uint32_t gsi, int eventfd);
	void *ctx;
};

static inline void vm_set_irq(const struct vm_control *vc, uint32_t gsi, int level)
{
	vc->set_irq(vc->ctx, gsi, level);
}

static inline void vm_signal_msi(const struct vm_control *vc, uint16_t source_id,
				 uint64_t address, uint32_t data)
{
	if (vc->signal_msi)
		vc->signal_msi(vc->ctx, source_id, address, data);
}

static inline void vm_request_stop(const struct vm_control *vc,
				   enum vm_stop_reason why)
{
	vc->request_stop(vc->ctx, why);
}

#endif
