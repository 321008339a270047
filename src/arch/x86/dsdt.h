/*
 * The DSDT: \_S5 and the devices under \_SB (ISA legacy, PCI0, virtio-mmio),
 * and the PCI bus range it shares with the MCFG.
 */
#ifndef VMON_ARCH_X86_DSDT_H
#define VMON_ARCH_X86_DSDT_H

#include "arch/x86/acpi.h"
#include "arch/x86/acpi_out.h"

/* Segment 0, bus 0 only: ECAM is 1 MiB per bus (PCIe Base 4.0 §7.2.2). */
#define PCI_SEGMENT   0
#define PCI_BUS_FIRST 0
#define PCI_BUS_LAST  0

/* Writes the DSDT at the cursor; returns its guest-physical address. */
uint64_t dsdt_write(struct out *o, const struct acpi_config *cfg);

#endif
