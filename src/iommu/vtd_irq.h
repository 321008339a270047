/*
 * VT-d interrupt remapping (VT-d 3.4 §5.1): the decision for one interrupt
 * request through the interrupt remapping table the guest built in its
 * RAM, as a pure function of guest memory. The unit (vtd.c) owns the
 * registers it depends on and records the faults it reports.
 *
 * Every IRTE is read once with guest_mem_read and only that copy is
 * checked and used; the index is checked against the table's size first.
 */
#ifndef VMON_IOMMU_VTD_IRQ_H
#define VMON_IOMMU_VTD_IRQ_H

#include <stdbool.h>
#include <stdint.h>

#include "iommu/vtd_translate.h"
#include "vmm/guest_mem.h"

/* The table latched by GCMD.SIRTP from IRTA_REG (§10.4.30). */
struct vtd_irq_table {
	uint64_t base;    /* IRTA: guest-physical, 4 KiB-aligned */
	uint32_t entries; /* 2^(S + 1), at most 65536 */
	bool x2apic;      /* EIME: 32-bit destination ids; compatibility format blocked */
};

struct vtd_irq_fault {
	enum vtd_fault_reason reason; /* 20h-26h */
	uint16_t index;               /* interrupt_index, for the fault record (0 if none) */
	bool fpd;                     /* do not record: the IRTE's FPD on a qualified fault */
};

/*
 * Remaps the request (*address, *data) that requester `source_id` sent,
 * with remapping enabled. `cfis`: GSTS.CFIS (compatibility format allowed
 * unless table->x2apic). 0 with *address and *data the message to deliver: a
 * compatibility-format MSI (x2APIC: destination bits 31:8 in address bits
 * 63:40, as KVM_X2APIC_API_USE_32BIT_IDS reads them). -EPERM with *fault
 * filled and *address and *data unchanged: the interrupt is blocked.
 */
int vtd_irq_remap(const struct guest_mem *gm, const struct vtd_irq_table *table, bool cfis,
		  uint16_t source_id, uint64_t *address, uint32_t *data,
		  struct vtd_irq_fault *fault);

#endif
