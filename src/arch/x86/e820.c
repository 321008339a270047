#include "arch/x86/e820.h"

#include "arch/x86/layout.h"

static void add(struct e820_range *out, unsigned *n, unsigned max,
		uint64_t addr, uint64_t size, uint32_t type)
{
	if (*n < max && size > 0)
		out[(*n)++] = (struct e820_range){ addr, size, type };
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
	return n;
}
