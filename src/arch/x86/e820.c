#include "arch/x86/e820.h"

#include <string.h>

#include "arch/x86/layout.h"

/* Low RAM, the legacy area, RAM from 1 MiB, the other RAM regions, the ECAM. */
_Static_assert(3 + (GUEST_MEM_MAX_REGIONS - 1) + 1 <= E820_MAX_RANGES,
	       "E820_MAX_RANGES too small for every range e820_build() may add");

/*
 * Inserts a range in address order. With room for `max` ranges, out[]
 * always holds the lowest `max` of the ranges added so far: one that would
 * come after all of them is dropped, otherwise the highest one is.
 */
static void add(struct e820_range *out, unsigned *n, unsigned max,
		uint64_t addr, uint64_t size, uint32_t type)
{
	if (size == 0)
		return;
	unsigned i = *n;
	while (i > 0 && out[i - 1].addr > addr)
		i--;
	if (i >= max)
		return;
	unsigned kept = *n < max ? *n : max - 1; /* ranges that stay in out[] */
	memmove(&out[i + 1], &out[i], (kept - i) * sizeof(*out));
	out[i] = (struct e820_range){ addr, size, type };
	if (*n < max)
		(*n)++;
}

unsigned e820_build(const struct guest_mem *gm, struct e820_range *out,
		    unsigned max)
{
	unsigned n = 0;
	uint64_t low_end = guest_mem_low_end(gm);

	add(out, &n, max, 0, LAYOUT_EBDA_START, E820_TYPE_RAM);
	add(out, &n, max, LAYOUT_EBDA_START, LAYOUT_HIGH_MEMORY - LAYOUT_EBDA_START,
	    E820_TYPE_RESERVED);
	if (low_end > LAYOUT_HIGH_MEMORY)
		add(out, &n, max, LAYOUT_HIGH_MEMORY, low_end - LAYOUT_HIGH_MEMORY,
		    E820_TYPE_RAM);
	for (unsigned i = 1; i < gm->nr_regions; i++)
		add(out, &n, max, gm->regions[i].gpa, gm->regions[i].size, E820_TYPE_RAM);
	/*
	 * The PCIe ECAM (MMCONFIG) area: Linux uses the MCFG's region only if
	 * it is reserved here or by a PNP0C01/PNP0C02 device (the DSDT's MRES
	 * does that too), and at early boot it can only check here.
	 */
	add(out, &n, max, LAYOUT_PCI_ECAM_BASE, LAYOUT_PCI_ECAM_SIZE, E820_TYPE_RESERVED);
	return n;
}
