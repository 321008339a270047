/* VT-d legacy-mode DMA remapping: tables built by hand in fake guest RAM. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iommu/vtd_translate.h"
#include "tap.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)

#define RAM_BASE  (1 * MiB)
#define RAM_SIZE  (8 * 4 * KiB)
#define RAM_END   (RAM_BASE + RAM_SIZE)
#define ROOT      RAM_BASE
#define CONTEXTS  (RAM_BASE + 4 * KiB)
#define TABLE(l)  (RAM_BASE + (1 + (l)) * 4 * KiB) /* the page table of level l, 1 to 4 */

#define BUS       0x12
#define DEVFN     0x34
#define SID       (BUS << 8 | DEVFN)
#define DOMAIN    0xbeef

#define P         (1ull << 0)
#define FPD       (1ull << 1)
#define R         (1ull << 0)
#define W         (1ull << 1)
#define PS        (1ull << 7)
#define RW        (R | W)
#define TT(t)     ((uint64_t)(t) << 2)

/* Indexes 1, 2, 3 and 4 at levels 4, 3, 2 and 1; offset 0x567. */
#define IOVA48    (1ull << 39 | 2ull << 30 | 3ull << 21 | 4ull << 12 | 0x567)
#define IOVA39    (IOVA48 & ((1ull << 39) - 1))
#define PAGE      (3 * GiB) /* where the walks lead: need not be RAM */

static struct guest_mem gm;
static uint8_t *ram;
static struct vtd_translation tr;
static struct vtd_fault fault;

static void put64(uint64_t gpa, uint64_t v)
{
	guest_mem_write(&gm, gpa, &v, sizeof(v));
}

static uint64_t entry_gpa(unsigned level, uint64_t iova)
{
	return TABLE(level) + ((iova >> (12 + 9 * (level - 1))) & 511) * 8;
}

static void set_root(uint64_t lo, uint64_t hi)
{
	put64(ROOT + BUS * 16, lo);
	put64(ROOT + BUS * 16 + 8, hi);
}

static void set_context(uint64_t lo, uint64_t hi)
{
	put64(CONTEXTS + DEVFN * 16, lo);
	put64(CONTEXTS + DEVFN * 16 + 8, hi);
}

/* A present, second-level context entry for `aw` (1: 3 levels, 2: 4 levels). */
static void set_context_aw(unsigned aw)
{
	set_context(TABLE(aw + 2) | TT(0) | P, (uint64_t)DOMAIN << 8 | aw);
}

/*
 * Fresh tables: the requester reaches a walk for `iova` from the top level
 * of `aw` down to `leaf_level`, whose entry maps `page` with `leaf_bits`;
 * every entry above it is RW.
 */
static void map(unsigned aw, uint64_t iova, unsigned leaf_level, uint64_t page, uint64_t leaf_bits)
{
	memset(ram, 0, RAM_SIZE);
	set_root(CONTEXTS | P, 0);
	set_context_aw(aw);
	for (unsigned level = aw + 2; level > leaf_level; level--)
		put64(entry_gpa(level, iova), TABLE(level - 1) | RW);
	put64(entry_gpa(leaf_level, iova), page | leaf_bits);
}

static void map_4k(unsigned aw, uint64_t leaf_bits)
{
	map(aw, aw == 2 ? IOVA48 : IOVA39, 1, PAGE, leaf_bits);
}

static int translate(uint64_t iova, bool write)
{
	return vtd_translate(&gm, ROOT, SID, iova, write, &tr, &fault);
}

static bool faults(uint64_t iova, bool write, enum vtd_fault_reason reason)
{
	return translate(iova, write) == -EFAULT && fault.reason == reason;
}

static void test_4k_pages(void)
{
	map_4k(2, RW);
	CHECK(translate(IOVA48, false) == 0 && tr.gpa == (PAGE | 0x567) && tr.page_size == 4 * KiB,
	      "AW=48: a 4-level walk to a 4 KiB page, offset kept");
	CHECK(tr.readable && tr.writable && !tr.pass_through, "RW along the walk is readable and writable");
	CHECK(tr.domain_id == DOMAIN, "the context entry's domain id is returned");
	CHECK(translate(IOVA48, true) == 0 && tr.gpa == (PAGE | 0x567), "a write translates the same");
	CHECK(faults(1ull << 48, false, VTD_FAULT_BEYOND_ADDRESS_WIDTH), "AW=48: an IOVA at 2^48 is beyond the width");

	map_4k(1, RW);
	CHECK(translate(IOVA39, false) == 0 && tr.gpa == (PAGE | 0x567) && tr.page_size == 4 * KiB,
	      "AW=39: a 3-level walk to a 4 KiB page");
	CHECK(faults(IOVA39 | 1ull << 39, false, VTD_FAULT_BEYOND_ADDRESS_WIDTH),
	      "AW=39: an IOVA at bit 39 is beyond the width");
}

static void test_superpages(void)
{
	map(2, IOVA48, 2, PAGE, RW | PS);
	CHECK(translate(IOVA48, true) == 0 && tr.gpa == PAGE + (IOVA48 & (2 * MiB - 1)),
	      "a 2 MiB superpage keeps the IOVA's offset inside it");
	CHECK(tr.page_size == 2 * MiB, "and covers 2 MiB");
	put64(entry_gpa(2, IOVA48), (PAGE + 4 * KiB) | RW | PS);
	CHECK(faults(IOVA48, false, VTD_FAULT_PAGING_ENTRY_RESERVED), "a 2 MiB page that is not 2 MiB-aligned");

	map(2, IOVA48, 3, 2 * GiB, RW | PS);
	CHECK(translate(IOVA48, false) == 0 && tr.gpa == 2 * GiB + (IOVA48 & (GiB - 1)) && tr.page_size == GiB,
	      "AW=48: a 1 GiB superpage at level 3");
	map(1, IOVA39, 3, 2 * GiB, RW | PS);
	CHECK(translate(IOVA39, false) == 0 && tr.gpa == 2 * GiB + (IOVA39 & (GiB - 1)) && tr.page_size == GiB,
	      "AW=39: a 1 GiB superpage in the top table");
	put64(entry_gpa(3, IOVA39), (2 * GiB + 2 * MiB) | RW | PS);
	CHECK(faults(IOVA39, false, VTD_FAULT_PAGING_ENTRY_RESERVED), "a 1 GiB page that is not 1 GiB-aligned");

	map_4k(2, RW);
	put64(entry_gpa(4, IOVA48), TABLE(3) | RW | PS);
	CHECK(faults(IOVA48, false, VTD_FAULT_PAGING_ENTRY_RESERVED), "no page-size bit in an SL-PML4E");
}

static void test_permissions(void)
{
	map_4k(2, R);
	CHECK(translate(IOVA48, false) == 0 && tr.readable && !tr.writable, "a read-only page reads");
	CHECK(faults(IOVA48, true, VTD_FAULT_WRITE), "and refuses a write with reason 5h");

	map_4k(2, W);
	CHECK(translate(IOVA48, true) == 0 && !tr.readable && tr.writable, "a write-only page takes a write");
	CHECK(faults(IOVA48, false, VTD_FAULT_READ), "and refuses a read with reason 6h");

	map_4k(2, RW);
	put64(entry_gpa(3, IOVA48), TABLE(2) | R);
	CHECK(translate(IOVA48, false) == 0 && !tr.writable, "a read-only upper level makes the page read-only");
	CHECK(faults(IOVA48, true, VTD_FAULT_WRITE), "a write needs W at every level");

	map_4k(2, RW);
	put64(entry_gpa(2, IOVA48), TABLE(1) | W);
	CHECK(faults(IOVA48, false, VTD_FAULT_READ), "a read needs R at every level");
}

static void test_not_present(void)
{
	for (unsigned level = 4; level >= 1; level--) {
		map_4k(2, RW);
		put64(entry_gpa(level, IOVA48), TABLE(level > 1 ? level - 1 : 1));
		CHECK(faults(IOVA48, false, VTD_FAULT_READ), "level %u entry not present: a read faults 6h", level);
	}
	CHECK(faults(IOVA48, true, VTD_FAULT_WRITE), "and a write 5h");
}

static void test_reserved_bits(void)
{
	map_4k(2, RW | 1ull << 11);
	CHECK(faults(IOVA48, false, VTD_FAULT_PAGING_ENTRY_RESERVED), "snoop bit without snoop control is reserved");
	map_4k(2, RW | 1ull << 62);
	CHECK(faults(IOVA48, false, VTD_FAULT_PAGING_ENTRY_RESERVED), "TM bit without a device-TLB is reserved");
	map_4k(2, RW);
	put64(entry_gpa(3, IOVA48), TABLE(2) | RW | 1ull << 50);
	CHECK(faults(IOVA48, false, VTD_FAULT_PAGING_ENTRY_RESERVED), "a table address above HAW is reserved");
	map_4k(2, RW | 1ull << 63 | 1ull << 52 | 1ull << 8);
	CHECK(translate(IOVA48, false) == 0 && tr.gpa == (PAGE | 0x567), "ignored bits 63, 52 and 8 are ignored");
	map_4k(2, 1ull << 11);
	CHECK(faults(IOVA48, false, VTD_FAULT_READ), "reserved bits in a non-present entry do not count");
}

static void test_root_and_context(void)
{
	map_4k(2, RW);
	set_root(CONTEXTS, 0);
	CHECK(faults(IOVA48, false, VTD_FAULT_ROOT_NOT_PRESENT), "root entry not present: 1h");
	set_root(CONTEXTS | P | 1ull << 1, 0);
	CHECK(faults(IOVA48, false, VTD_FAULT_ROOT_RESERVED), "a reserved low bit in the root entry: Ah");
	set_root(CONTEXTS | P, 1);
	CHECK(faults(IOVA48, false, VTD_FAULT_ROOT_RESERVED), "a non-zero upper root entry: Ah");

	map_4k(2, RW);
	set_context(TABLE(4), (uint64_t)DOMAIN << 8 | 2);
	CHECK(faults(IOVA48, false, VTD_FAULT_CONTEXT_NOT_PRESENT), "context entry not present: 2h");
	set_context(TABLE(4) | 1ull << 4 | P, 2);
	CHECK(faults(IOVA48, false, VTD_FAULT_CONTEXT_RESERVED), "a reserved low bit in the context entry: Bh");
	set_context(TABLE(4) | P, 1ull << 7 | 2);
	CHECK(faults(IOVA48, false, VTD_FAULT_CONTEXT_RESERVED), "a reserved high bit in the context entry: Bh");
	set_context(TABLE(4) | TT(3) | P, 2);
	CHECK(faults(IOVA48, false, VTD_FAULT_CONTEXT_INVALID), "TT=11b is reserved: 3h");
	set_context(TABLE(4) | TT(1) | P, 2);
	CHECK(faults(IOVA48, false, VTD_FAULT_CONTEXT_INVALID), "TT=01b without a device-TLB is reserved: 3h");
	set_context(TABLE(4) | P, 0);
	CHECK(faults(IOVA48, false, VTD_FAULT_CONTEXT_INVALID), "AW=0 (30-bit) is unsupported: 3h");
	set_context(TABLE(4) | P, 3);
	CHECK(faults(IOVA48, false, VTD_FAULT_CONTEXT_INVALID), "AW=3 (57-bit) is unsupported: 3h");
}

static void test_pass_through(void)
{
	map_4k(2, RW);
	set_context(0xdead000 | TT(2) | P, (uint64_t)DOMAIN << 8 | 2); /* SLPTPTR outside RAM */
	CHECK(translate(IOVA48, true) == 0 && tr.pass_through && tr.gpa == IOVA48, "pass-through: gpa = iova");
	CHECK(tr.readable && tr.writable && tr.page_size == 4 * KiB && tr.domain_id == DOMAIN,
	      "read-write, one 4 KiB page, the domain id; no page table read");
}

static void test_tables_outside_ram(void)
{
	map_4k(2, RW);
	CHECK(vtd_translate(&gm, RAM_END, SID, IOVA48, false, &tr, &fault) == -EFAULT &&
	      fault.reason == VTD_FAULT_ROOT_TABLE_ACCESS, "a root table outside RAM: 8h");
	CHECK(vtd_translate(&gm, RAM_END - 8, 0, IOVA48, false, &tr, &fault) == -EFAULT &&
	      fault.reason == VTD_FAULT_ROOT_TABLE_ACCESS, "a root entry straddling the end of RAM: 8h");
	set_root(RAM_END | P, 0);
	CHECK(faults(IOVA48, false, VTD_FAULT_CONTEXT_TABLE_ACCESS), "a context table outside RAM: 9h");
	set_root(CONTEXTS | P, 0);
	set_context(((1ull << 48) - 4 * KiB) | P, (uint64_t)DOMAIN << 8 | 2);
	CHECK(faults(IOVA48, false, VTD_FAULT_CONTEXT_INVALID), "an SLPTPTR outside RAM: 3h");
	set_context_aw(2);
	put64(entry_gpa(3, IOVA48), RAM_END | RW);
	CHECK(faults(IOVA48, false, VTD_FAULT_PAGING_ENTRY_ACCESS), "a lower page table outside RAM: 7h");
	CHECK(tr.domain_id == 0 && !tr.readable, "a fault leaves no half-filled translation");
}

static void test_fault_processing_disable(void)
{
	map_4k(2, R);
	CHECK(faults(IOVA48, true, VTD_FAULT_WRITE) && !fault.fpd, "FPD clear: the fault is to be recorded");
	set_context(TABLE(4) | FPD | P, (uint64_t)DOMAIN << 8 | 2);
	CHECK(faults(IOVA48, true, VTD_FAULT_WRITE) && fault.fpd, "FPD set: a page fault is not to be recorded");
	set_context(TABLE(4) | FPD, 2);
	CHECK(faults(IOVA48, true, VTD_FAULT_CONTEXT_NOT_PRESENT) && fault.fpd,
	      "FPD counts in a context entry that is not present");
	set_context(TABLE(4) | FPD | 1ull << 4 | P, 2);
	CHECK(faults(IOVA48, true, VTD_FAULT_CONTEXT_RESERVED) && !fault.fpd,
	      "but not in a context entry with reserved bits");
	set_root(CONTEXTS, 0);
	CHECK(faults(IOVA48, true, VTD_FAULT_ROOT_NOT_PRESENT) && !fault.fpd, "nor for a root entry fault");
}

int main(void)
{
	ram = malloc(RAM_SIZE);
	if (!ram)
		return 1;
	guest_mem_init_flat(&gm, ram, RAM_BASE, RAM_SIZE);
	test_4k_pages();
	test_superpages();
	test_permissions();
	test_not_present();
	test_reserved_bits();
	test_root_and_context();
	test_pass_through();
	test_tables_outside_ram();
	test_fault_processing_disable();
	free(ram);
	return tap_finish();
}
