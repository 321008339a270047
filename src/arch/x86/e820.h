/* The BIOS-style memory map handed to the guest (boot params and PVH memmap). */
#ifndef VMON_ARCH_X86_E820_H
#define VMON_ARCH_X86_E820_H

#include <stdint.h>

#include "vmm/guest_mem.h"

#define E820_TYPE_RAM      1
#define E820_TYPE_RESERVED 2

struct e820_range {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

#define E820_MAX_RANGES 8

/*
 * Describes guest RAM: low RAM below the EBDA, the reserved legacy area
 * (EBDA, VGA, BIOS and our ACPI tables), RAM from 1 MiB to the PCI hole,
 * the reserved PCI ECAM window, and RAM above 4 GiB, sorted by address.
 * Returns the number of ranges written.
 */
unsigned e820_build(const struct guest_mem *gm, struct e820_range *out,
		    unsigned max);

#endif
