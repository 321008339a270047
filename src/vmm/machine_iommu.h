/* The machine's IOMMU and test hooks (machine_iommu.c); machine.c's only. */
#ifndef VMON_VMM_MACHINE_IOMMU_H
#define VMON_VMM_MACHINE_IOMMU_H

#include "vmm/machine_internal.h"

/*
 * After the platform's devices are attached, before the vCPUs run: the
 * VT-d unit (--iommu intel) with every PCI device behind it, and the DMA
 * probe (--test-hooks). 0, or -errno after logging.
 */
int machine_iommu_create(struct machine *m);
/* Once the devices are gone; harmless when there is nothing. */
void machine_iommu_destroy(struct machine *m);

#endif
