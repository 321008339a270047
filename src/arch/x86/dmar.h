/*
 * The DMAR table (Intel VT-d 3.4 ch. 8): what --iommu intel announces to
 * the guest's IOMMU driver.
 */
#ifndef VMON_ARCH_X86_DMAR_H
#define VMON_ARCH_X86_DMAR_H

#include "arch/x86/acpi.h"
#include "arch/x86/acpi_out.h"

/* Writes the DMAR table at the cursor; returns its guest-physical address. */
uint64_t dmar_write(struct out *o, const struct acpi_config *cfg);

#endif
