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

static void test_split_walk(void)
{
	struct vtd_context ctx;
	map_4k(2, RW);
	CHECK(vtd_find_context(&gm, ROOT, SID, &ctx, &fault) == 0 && ctx.table == TABLE(4) &&
	      ctx.levels == 4 && ctx.domain_id == DOMAIN && !ctx.pass_through && !ctx.fpd,
	      "vtd_find_context decodes SLPTPTR, 4 levels, the domain");
	CHECK(vtd_translate_in_context(&gm, &ctx, IOVA48, true, &tr, &fault) == 0 &&
	      tr.gpa == (PAGE | 0x567), "vtd_translate_in_context walks from it");
	set_context(TABLE(4) | FPD, 2);
	CHECK(vtd_find_context(&gm, ROOT, SID, &ctx, &fault) == -EFAULT &&
	      fault.reason == VTD_FAULT_CONTEXT_NOT_PRESENT && fault.fpd, "a context fault, with FPD");
	map_4k(1, R);
	set_context(TABLE(3) | FPD | P, (uint64_t)DOMAIN << 8 | 1);
	CHECK(vtd_find_context(&gm, ROOT, SID, &ctx, &fault) == 0 && ctx.levels == 3 && ctx.fpd,
	      "AW 39: 3 levels; FPD kept for the walk");
	CHECK(vtd_translate_in_context(&gm, &ctx, IOVA39, true, &tr, &fault) == -EFAULT &&
	      fault.reason == VTD_FAULT_WRITE && fault.fpd, "a walk fault in an FPD context");
}

static struct vtd_translation page_at(uint64_t gpa, uint64_t size, bool readable, bool writable)
{
	return (struct vtd_translation){ .gpa = gpa, .page_size = size, .readable = readable,
					 .writable = writable };
}

static void test_iotlb(void)
{
	static struct vtd_iotlb tlb;
	struct vtd_translation t = page_at(PAGE + 0x123, 4 * KiB, true, false);
	vtd_iotlb_insert(&tlb, 1, 0x5000 + 0x123, &t);
	t = page_at(2 * GiB + 0x1234, 2 * MiB, true, true);
	vtd_iotlb_insert(&tlb, 1, 0x40000000 + 0x1234, &t);
	t = page_at(0, GiB, true, true);
	vtd_iotlb_insert(&tlb, 2, 3 * GiB, &t);
	CHECK(vtd_iotlb_lookup(&tlb, 1, 0x5fff, &tr) == 0 && tr.gpa == PAGE + 0xfff &&
	      tr.page_size == 4 * KiB && tr.readable && !tr.writable, "a 4 KiB page, its rights");
	CHECK(vtd_iotlb_lookup(&tlb, 2, 0x5fff, &tr) == -ENOENT, "by domain: not in domain 2");
	CHECK(vtd_iotlb_lookup(&tlb, 1, 0x401fffff, &tr) == 0 && tr.gpa == 2 * GiB + 0x1fffff &&
	      tr.page_size == 2 * MiB, "a 2 MiB page, any address inside");
	CHECK(vtd_iotlb_lookup(&tlb, 2, 3 * GiB + 0x3fffffff, &tr) == 0 && tr.gpa == 0x3fffffff,
	      "a 1 GiB page");
	CHECK(vtd_iotlb_invalidate(&tlb, VTD_GRAN_DEVICE_OR_PAGE, 1, 0x40100000, 0, 18) ==
	      VTD_GRAN_DEVICE_OR_PAGE && vtd_iotlb_lookup(&tlb, 1, 0x40000000, &tr) == -ENOENT &&
	      vtd_iotlb_lookup(&tlb, 1, 0x5000, &tr) == 0, "a 4 KiB page inside drops the 2 MiB one only");
	CHECK(vtd_iotlb_invalidate(&tlb, VTD_GRAN_DEVICE_OR_PAGE, 2, 0, 19, 18) == VTD_GRAN_DOMAIN &&
	      vtd_iotlb_lookup(&tlb, 2, 3 * GiB, &tr) == -ENOENT && vtd_iotlb_lookup(&tlb, 1, 0x5000, &tr) == 0,
	      "a mask beyond the maximum: the whole domain, and only it");
	CHECK(vtd_iotlb_invalidate(&tlb, VTD_GRAN_NONE, 1, 0, 0, 18) == VTD_GRAN_NONE &&
	      vtd_iotlb_lookup(&tlb, 1, 0x5000, &tr) == 0, "granularity 0: nothing done");
	CHECK(vtd_iotlb_invalidate(&tlb, VTD_GRAN_GLOBAL, 7, 0, 0, 18) == VTD_GRAN_GLOBAL &&
	      vtd_iotlb_lookup(&tlb, 1, 0x5000, &tr) == -ENOENT, "global: everything");
}

static void test_context_cache(void)
{
	static struct vtd_context_cache cc;
	struct vtd_context ctx = { .table = TABLE(4), .levels = 4, .domain_id = 5 }, got;
	vtd_context_cache_insert(&cc, 0x0108, &ctx); /* 01:01.0 */
	ctx.domain_id = 6;
	vtd_context_cache_insert(&cc, 0x0109, &ctx); /* 01:01.1 */
	CHECK(vtd_context_cache_lookup(&cc, 0x0108, &got) && got.domain_id == 5 &&
	      !vtd_context_cache_lookup(&cc, 0x0208, &got), "by source id");
	vtd_context_cache_invalidate(&cc, VTD_GRAN_DEVICE_OR_PAGE, 0, 0x010d, 2);
	CHECK(!vtd_context_cache_lookup(&cc, 0x0109, &got) && vtd_context_cache_lookup(&cc, 0x0108, &got),
	      "FM 10b ignores function bits 2:1: 01:01.5 covers 01:01.1, not 01:01.0");
	vtd_context_cache_insert(&cc, 0x0109, &ctx);
	vtd_context_cache_invalidate(&cc, VTD_GRAN_DEVICE_OR_PAGE, 0, 0x010c, 1);
	CHECK(!vtd_context_cache_lookup(&cc, 0x0108, &got) && vtd_context_cache_lookup(&cc, 0x0109, &got),
	      "FM 01b ignores bit 2: 01:01.4 covers 01:01.0, not 01:01.1");
	ctx.domain_id = 5;
	vtd_context_cache_insert(&cc, 0x0108, &ctx);
	vtd_context_cache_invalidate(&cc, VTD_GRAN_DOMAIN, 5, 0, 0);
	CHECK(!vtd_context_cache_lookup(&cc, 0x0108, &got) && vtd_context_cache_lookup(&cc, 0x0109, &got),
	      "by domain: domain 5 only");
	vtd_context_cache_invalidate(&cc, VTD_GRAN_GLOBAL, 0, 0, 0);
	CHECK(!vtd_context_cache_lookup(&cc, 0x0109, &got), "global: everything");
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
	test_split_walk();
	test_iotlb();
	test_context_cache();
	free(ram);
	return tap_finish();
}
