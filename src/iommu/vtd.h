/*
 * The emulated Intel VT-d unit (--iommu intel): one DMA-remapping hardware
 * unit covering every PCI device (DRHD with INCLUDE_PCI_ALL), with its
 * register page (VT-d 3.4 ch. 10), DMA remapping through an IOTLB,
 * register-based and queued invalidation, fault recording and reporting,
 * and interrupt remapping.
 *
 * Threads: register accesses come from vCPU threads, translations from
 * device threads; one lock inside the unit serialises them.
 */
#ifndef VMON_IOMMU_VTD_H
#define VMON_IOMMU_VTD_H

#include <stdbool.h>
#include <stdint.h>

#include "bus/bus.h"
#include "vmm/dma.h"
#include "vmm/guest_mem.h"

struct vtd_config {
	bool intremap;     /* ECAP.IR (and EIM): interrupt remapping offered */
	bool caching_mode; /* CAP.CM: the guest must invalidate after making entries present too */
};

struct vtd_hooks {
	/*
	 * Delivers one of the unit's own interrupts (fault event, invalidation
	 * completion): compatibility-format messages, never remapped (VT-d 3.4
	 * §5.1.6: the unit's interrupts bypass remapping). Any thread.
	 */
	void (*signal_msi)(void *ctx, uint64_t address, uint32_t data);
	/*
	 * What vtd_remap_msi answers may have changed (IRE toggled, a new
	 * IRTA, an interrupt entry cache invalidation): re-translate every
	 * route. Called from a vCPU thread, without the unit's lock held.
	 */
	void (*interrupts_changed)(void *ctx);
	void *ctx;
};

struct vtd;

/*
 * 0 or -errno. The unit starts as after reset: translation and remapping
 * off. `hooks` is copied; it, or any of its members, may be NULL.
 */
int vtd_create(struct vtd **out, const struct guest_mem *mem, const struct vtd_config *cfg,
	       const struct vtd_hooks *hooks);
void vtd_destroy(struct vtd *vtd);

/* The register page's accessors, for bus_register over LAYOUT_VTD_SIZE bytes. */
extern const struct bus_ops vtd_bus_ops;

/*
 * The translation every device behind the unit uses (dma_space.iommu).
 * With translation off (GSTS.TES clear) it is the identity, *span
 * reaching the end of the 64-bit address space.
 */
const struct dma_translator *vtd_dma_translator(struct vtd *vtd);

/*
 * Interrupt remapping (VT-d 3.4 §5.1): turns the message (*address, *data)
 * that requester `source_id` sent into the one to deliver, in place. 0:
 * deliver *address and *data (compatibility format, also when remapping is
 * off). -EPERM: blocked (not present, bad entry, source-id mismatch,
 * compatibility format refused), *address and *data left as sent;
 * the fault is recorded as the specification says when `record`
 * (the machine translates a route again on every routing change, and
 * records its fault once per message programmed). Any thread.
 */
int vtd_remap_msi(struct vtd *vtd, uint16_t source_id, uint64_t *address, uint32_t *data,
		  bool record);

#endif
