/* Guest memory: layout around the PCI hole and the bounds-checked helpers. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "tap.h"
#include "vmm/guest_mem.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static void test_split_layout(void)
{
	struct guest_mem gm;
	CHECK(guest_mem_init(&gm, 5 * GiB, 3 * GiB, 4 * GiB) == 0, "map 5 GiB (NORESERVE)");
	CHECK(gm.nr_regions == 2, "RAM larger than the hole start is split");
	CHECK(gm.regions[0].gpa == 0 && gm.regions[0].size == 3 * GiB, "low region ends at the hole");
	CHECK(gm.regions[1].gpa == 4 * GiB && gm.regions[1].size == 2 * GiB, "rest starts at 4 GiB");
	CHECK(guest_mem_ptr(&gm, 3 * GiB, 1) == NULL, "the hole is not RAM");
	CHECK(guest_mem_ptr(&gm, 3 * GiB - 4, 8) == NULL, "a range running into the hole is refused");
	CHECK(guest_mem_ptr(&gm, 4 * GiB, 8) == gm.mapping + 3 * GiB, "high RAM follows low RAM in the mapping");
	CHECK(guest_mem_ptr(&gm, 6 * GiB - 8, 8) != NULL, "last bytes of RAM are reachable");
	CHECK(guest_mem_ptr(&gm, 6 * GiB - 8, 9) == NULL, "one byte past RAM is refused");
	CHECK(guest_mem_low_end(&gm) == 3 * GiB, "low end is the hole start");
	CHECK(((uintptr_t)gm.mapping & (2 * MiB - 1)) == 0, "the mapping is 2 MiB-aligned");
	guest_mem_destroy(&gm);

	CHECK(guest_mem_init(&gm, 256 * MiB, 3 * GiB, 4 * GiB) == 0, "map 256 MiB");
	CHECK(gm.nr_regions == 1 && guest_mem_low_end(&gm) == 256 * MiB, "small RAM is one region");
	guest_mem_destroy(&gm);
}

static void test_checked_access(void)
{
	uint8_t backing[4096];
	struct guest_mem gm;
	guest_mem_init_flat(&gm, backing, 0x10000, sizeof(backing));

	uint32_t v = 0xdeadbeef, r = 0;
	CHECK(guest_mem_write(&gm, 0x10000, &v, 4) == 0, "write at the start");
	CHECK(guest_mem_read(&gm, 0x10000, &r, 4) == 0 && r == v, "read it back");
	CHECK(guest_mem_write(&gm, 0xfffe, &v, 4) == -EFAULT, "write starting below RAM fails");
	CHECK(guest_mem_read(&gm, 0x10ffe, &r, 4) == -EFAULT, "read crossing the end fails");
	CHECK(guest_mem_ptr(&gm, UINT64_MAX - 1, 4) == NULL, "wrapping range is refused");
	CHECK(guest_mem_ptr(&gm, 0x10000, 0) == NULL, "empty range is refused");
	CHECK(guest_mem_ptr(&gm, 0x10000, UINT64_MAX) == NULL, "huge length is refused");
	CHECK(guest_mem_ptr(&gm, 0x11000, 1) == NULL, "first byte after RAM is refused");
}

int main(void)
{
	test_split_layout();
	test_checked_access();
	return tap_finish();
}
