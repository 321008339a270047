/*
 * The VT-d unit through its register page: capabilities, commands, the
 * caches and every invalidation (stale until invalidated, fresh after),
 * queued invalidation and its errors, fault recording and the unit's own
 * interrupts, interrupt remapping. Tables and queue in fake guest RAM.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iommu/vtd.h"
#include "iommu/vtd_regs.h"
#include "iommu/vtd_translate.h"
#include "tap.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)

#define RAM_BASE  (1 * MiB)
#define RAM_SIZE  (256 * KiB)
#define RAM_END   (RAM_BASE + RAM_SIZE)
#define ROOT      RAM_BASE
#define CONTEXTS  (RAM_BASE + 4 * KiB) /* bus 0 */
#define TABLE(t, l) (RAM_BASE + (2 + 4 * (t) + (l) - 1) * 4 * KiB) /* tables t, level l (1-4) */
#define QUEUE     (RAM_BASE + 64 * KiB) /* QS = 0: 256 descriptors */
#define STATUS    (RAM_BASE + 128 * KiB)
#define IRT       (RAM_BASE + 132 * KiB)

#define DEV0      0x0008 /* 00:01.0 */
#define DEV1      0x0010 /* 00:02.0 */
#define DEV2      0x0018 /* 00:03.0 */
#define DOM_A     1
#define DOM_B     2

#define P         (1ull << 0)
#define FPD       (1ull << 1)
#define R         (1ull << 0)
#define W         (1ull << 1)
#define RW        (R | W)
#define PS        (1ull << 7)
#define TT_PASS_THROUGH (2ull << 2)

/* Indexes 1, 2, 3 and 4 at levels 4 to 1: 16 KiB-aligned, pages 4 to 7 share a leaf table. */
#define IOVA      (1ull << 39 | 2ull << 30 | 3ull << 21 | 4ull << 12)
#define IOVA_2M   (1ull << 39 | 2ull << 30 | 5ull << 21)
#define PAGE1     0x80000000ull /* translations need not lead to RAM */
#define PAGE2     0x90000000ull

/* Descriptors (§6.5.2). */
#define CC_DESC(g, did, sid, fm) \
	(1 | (uint64_t)(g) << 4 | (uint64_t)(did) << 16 | (uint64_t)(sid) << 32 | (uint64_t)(fm) << 48)
#define IOTLB_DESC(g, did) (2 | (uint64_t)(g) << 4 | (uint64_t)(did) << 16)
#define DEVTLB_DESC        3ull
#define HARMLESS_DESC      IOTLB_DESC(1, 0) /* a global IOTLB invalidation */
#define IEC_DESC           4ull
#define WAIT_DESC(flags, status) (5 | (flags) | (uint64_t)(status) << 32)
#define IF        (1ull << 4)
#define SW        (1ull << 5)
#define FN        (1ull << 6)

enum via { VIA_REGISTER, VIA_QUEUE };

static struct guest_mem gm;
static uint8_t *ram;
static struct vtd *vtd;
static uint32_t gcmd; /* the persistent GCMD bits, kept by software as Linux does */
static uint32_t queue_tail;
static uint64_t gpa, span;

struct msi {
	uint64_t address;
	uint32_t data;
};

static struct msi msis[16];
static unsigned msi_count, changes;
static int remap_in_callback;

static void signal_msi(void *ctx, uint64_t address, uint32_t data)
{
	(void)ctx;
	if (msi_count < 16)
		msis[msi_count] = (struct msi){ address, data };
	msi_count++;
}

/* Re-translates, as vmon's interrupt code does: the unit's lock must not be held here. */
static void interrupts_changed(void *ctx)
{
	(void)ctx;
	uint64_t address = 0xfee00000ull | 1ull << 4 | 5ull << 5;
	uint32_t data = 0;
	changes++;
	remap_in_callback = vtd_remap_msi(vtd, DEV0, &address, &data, true);
}

static const struct vtd_hooks hooks = { signal_msi, interrupts_changed, NULL };

static void put64(uint64_t gpa_, uint64_t v)
{
	guest_mem_write(&gm, gpa_, &v, sizeof(v));
}

static uint32_t get32(uint64_t gpa_)
{
	uint32_t v = 0;
	guest_mem_read(&gm, gpa_, &v, sizeof(v));
	return v;
}

static uint32_t rd32(unsigned offset)
{
	uint32_t v;
	vtd_bus_ops.read(vtd, offset, &v, 4);
	return v;
}

static uint64_t rd64(unsigned offset)
{
	uint64_t v;
	vtd_bus_ops.read(vtd, offset, &v, 8);
	return v;
}

static void wr32(unsigned offset, uint32_t v)
{
	vtd_bus_ops.write(vtd, offset, &v, 4);
}

static void wr64(unsigned offset, uint64_t v)
{
	vtd_bus_ops.write(vtd, offset, &v, 8);
}

static void command_set(uint32_t bits)
{
	gcmd |= bits;
	wr32(VTD_GCMD, gcmd);
}

static void command_clear(uint32_t bits)
{
	gcmd &= ~bits;
	wr32(VTD_GCMD, gcmd);
}

static void command_once(uint32_t bit)
{
	wr32(VTD_GCMD, gcmd | bit);
}

static void reset_unit(bool intremap, bool caching_mode)
{
	vtd_destroy(vtd);
	memset(ram, 0, RAM_SIZE);
	struct vtd_config cfg = { .intremap = intremap, .caching_mode = caching_mode };
	vtd = NULL;
	vtd_create(&vtd, &gm, &cfg, &hooks);
	gcmd = 0;
	msi_count = changes = 0;
}

static int xlate(uint16_t sid, uint64_t iova, bool write)
{
	const struct dma_translator *t = vtd_dma_translator(vtd);
	return t->translate(t->ctx, sid, iova, write, &gpa, &span);
}

static bool translates_to(uint16_t sid, uint64_t iova, uint64_t page)
{
	return xlate(sid, iova, false) == 0 && gpa == page + (iova & 0xfff);
}

static uint64_t entry_gpa(unsigned tables, unsigned level, uint64_t iova)
{
	return TABLE(tables, level) + ((iova >> (12 + 9 * (level - 1))) & 511) * 8;
}

/* Requester sid: tables `tables` (4 levels), domain `did`, and more low bits (FPD, TT). */
static void set_context(uint16_t sid, unsigned tables, uint16_t did, uint64_t lo_bits)
{
	put64(CONTEXTS + (sid & 0xff) * 16, TABLE(tables, 4) | lo_bits | P);
	put64(CONTEXTS + (sid & 0xff) * 16 + 8, (uint64_t)did << 8 | 2);
}

/* In tables `tables`, iova leads to `page` through a leaf at `leaf_level` (1: 4 KiB, 2: 2 MiB). */
static void map_at(unsigned tables, uint64_t iova, unsigned leaf_level, uint64_t page, uint64_t bits)
{
	for (unsigned level = 4; level > leaf_level; level--)
		put64(entry_gpa(tables, level, iova), TABLE(tables, level - 1) | RW);
	put64(entry_gpa(tables, leaf_level, iova), page | bits | (leaf_level > 1 ? PS : 0));
}

static void map(unsigned tables, uint64_t iova, uint64_t page, uint64_t bits)
{
	map_at(tables, iova, 1, page, bits);
}

static void start_translation(void)
{
	put64(ROOT, CONTEXTS | P);
	wr64(VTD_RTADDR, ROOT);
	command_once(VTD_GCMD_SRTP);
	command_set(VTD_GCMD_TE);
}

static void start_queue(void)
{
	wr64(VTD_IQA, QUEUE);
	wr32(VTD_IQT, 0);
	queue_tail = 0;
	command_set(VTD_GCMD_QIE);
}

static void submit(uint64_t lo, uint64_t hi)
{
	put64(QUEUE + queue_tail * 16, lo);
	put64(QUEUE + queue_tail * 16 + 8, hi);
	queue_tail = (queue_tail + 1) % 256;
	wr32(VTD_IQT, queue_tail << 4);
}

/* ---- registers ---- */

static void test_reset_values(void)
{
	reset_unit(true, false);
	uint64_t cap = rd64(VTD_CAP), ecap = rd64(VTD_ECAP);
	CHECK(rd32(VTD_VER) == 0x10, "VER 1.0");
	CHECK((cap & 7) == 2, "CAP.ND = 2: 256 domain ids");
	CHECK((cap & 0xf8) == 0, "no AFL, RWBF, PLMR, PHMR; CM clear without caching_mode");
	CHECK((cap >> 8 & 0x1f) == 0x6, "SAGAW: 39-bit (3-level) and 48-bit (4-level) tables");
	CHECK((cap >> 16 & 0x3f) == 47 && !(cap >> 22 & 1), "MGAW = 47 (48 bits), no ZLR");
	CHECK((cap >> 24 & 0x3ff) * 16 == VTD_FRCD, "FRO: fault records at 0x%x", VTD_FRCD);
	CHECK((cap >> 34 & 0xf) == 3 && (cap >> 39 & 1), "SLLPS 2 MiB + 1 GiB, PSI");
	CHECK((cap >> 40 & 0xff) + 1 == 8 && (cap >> 48 & 0x3f) == 18, "NFR: 8 records, MAMV 18");
	CHECK((cap >> 54 & 3) == 0 && cap >> 56 == 0, "no DWD or DRD (no draining), no PI, ESRTPS, ESIRTPS");
	CHECK(rd32(VTD_CAP) == (uint32_t)cap && rd32(VTD_CAP + 4) == cap >> 32,
	      "a 64-bit register reads as two halves");
	CHECK((ecap & 0xff) == 0x5b, "ECAP: C, QI, IR, EIM, PT; no DT, SC (0x%llx)",
	      (unsigned long long)(ecap & 0xff));
	CHECK((ecap >> 8 & 0x3ff) * 16 == VTD_IVA && (ecap >> 20 & 0xf) == 0xf && ecap >> 24 == 0,
	      "IRO: IOTLB registers at 0x%x, MHMV 15, no scalable mode", VTD_IVA);
	CHECK(rd32(VTD_GSTS) == 0 && rd32(VTD_FSTS) == 0 && rd64(VTD_RTADDR) == 0 &&
	      rd64(VTD_IQH) == 0 && rd64(VTD_IQT) == 0 && rd32(VTD_ICS) == 0,
	      "status, root table and queue registers start at 0");
	CHECK(rd32(VTD_FECTL) == VTD_CTL_IM && rd32(VTD_IECTL) == VTD_CTL_IM,
	      "both event interrupts start masked");

	uint16_t half = 0xffff;
	vtd_bus_ops.read(vtd, VTD_VER, &half, 2);
	CHECK(half == 0 && rd32(VTD_VER + 2) == 0, "2-byte and unaligned reads return 0");
	wr64(VTD_IRTA, IRT);
	vtd_bus_ops.write(vtd, VTD_IRTA, &half, 2);
	wr32(VTD_IRTA + 2, 0xffffffff);
	CHECK(rd64(VTD_IRTA) == IRT, "2-byte and unaligned writes are ignored");
	CHECK(rd32(0xffc) == 0 && rd64(0x58) == 0, "reserved registers read 0");

	reset_unit(false, true);
	CHECK(!(rd64(VTD_ECAP) & 0x18) && (rd64(VTD_CAP) & 0x80), "intremap off: no IR, EIM; CM set");
}

static void test_global_command(void)
{
	reset_unit(true, false);
	wr32(VTD_RTADDR, (uint32_t)ROOT | 0x3ff);
	wr32(VTD_RTADDR + 4, 0);
	CHECK(rd64(VTD_RTADDR) == ROOT, "RTADDR in two halves; reserved bits 9:0 read 0");
	command_once(VTD_GCMD_SRTP);
	CHECK(rd32(VTD_GSTS) == VTD_GSTS_RTPS && rd32(VTD_GCMD) == 0, "SRTP: RTPS; GCMD reads 0");
	command_set(VTD_GCMD_TE);
	CHECK(rd32(VTD_GSTS) == (VTD_GSTS_RTPS | VTD_GSTS_TES), "TE: TES");
	command_set(VTD_GCMD_QIE);
	CHECK(rd32(VTD_GSTS) & VTD_GSTS_QIES, "QIE: QIES");
	wr64(VTD_IRTA, IRT | VTD_IRTA_EIME | 7 | 0x7f0);
	CHECK(rd64(VTD_IRTA) == (IRT | VTD_IRTA_EIME | 7), "IRTA keeps IRTA, EIME and S");
	command_once(VTD_GCMD_SIRTP);
	CHECK((rd32(VTD_GSTS) & VTD_GSTS_IRTPS) && changes == 1, "SIRTP: IRTPS; routes re-translated");
	command_set(VTD_GCMD_IRE);
	CHECK((rd32(VTD_GSTS) & VTD_GSTS_IRES) && changes == 2 && remap_in_callback == -EPERM,
	      "IRE: IRES; re-translated without the unit's lock held (entry 5 is not present)");
	command_set(VTD_GCMD_CFI);
	CHECK((rd32(VTD_GSTS) & VTD_GSTS_CFIS) && changes == 3, "CFI: CFIS");
	command_clear(VTD_GCMD_IRE);
	CHECK(!(rd32(VTD_GSTS) & VTD_GSTS_IRES) && changes == 4, "IRE cleared: IRES clear");
	uint32_t before = rd32(VTD_GSTS);
	command_once(1u << 27 | 1u << 29 | 1u << 28);
	CHECK(rd32(VTD_GSTS) == before, "WBF, SFL, EAFL are ignored");
	command_clear(VTD_GCMD_TE | VTD_GCMD_QIE);
	CHECK(!(rd32(VTD_GSTS) & (VTD_GSTS_TES | VTD_GSTS_QIES)), "TE and QIE cleared");

	reset_unit(false, false);
	command_set(VTD_GCMD_IRE | VTD_GCMD_CFI);
	command_once(VTD_GCMD_SIRTP);
	CHECK(rd32(VTD_GSTS) == 0 && changes == 0, "without intremap, IRE, CFI and SIRTP do nothing");
}

/* ---- translation and caching ---- */

static void test_translation(void)
{
	reset_unit(true, false);
	CHECK(xlate(DEV0, 0x1234, true) == 0 && gpa == 0x1234 && span == 0 - 0x1234ull,
	      "TE clear: identity, to the end of the address space");
	start_translation();
	set_context(DEV0, 0, DOM_A, 0);
	map(0, IOVA, PAGE1, RW);
	CHECK(xlate(DEV0, IOVA + 0x10, true) == 0 && gpa == PAGE1 + 0x10 && span == 0x1000 - 0x10,
	      "TE set: the page, span to its end");
	set_context(DEV1, 1, DOM_B, 0);
	map_at(1, IOVA_2M, 2, PAGE2, RW);
	CHECK(xlate(DEV1, IOVA_2M + 0x12345, false) == 0 && gpa == PAGE2 + 0x12345 &&
	      span == 2 * MiB - 0x12345, "a 2 MiB page: span to its end");
	CHECK(xlate(DEV1, IOVA_2M + 0x12345, false) == 0 && gpa == PAGE2 + 0x12345 &&
	      span == 2 * MiB - 0x12345, "and the same from the IOTLB");
	set_context(DEV2, 3, DOM_B, TT_PASS_THROUGH);
	CHECK(xlate(DEV2, 0x7654321, true) == 0 && gpa == 0x7654321 && span == 0x1000 - 0x321,
	      "pass-through: identity within the page");
	CHECK(rd32(VTD_FSTS) == 0, "no fault recorded");

	CHECK(xlate(DEV0, IOVA + 0x5000, false) == -EFAULT, "an unmapped page faults");
	map(0, IOVA + 0x5000, PAGE1, R);
	CHECK(translates_to(DEV0, IOVA + 0x5000, PAGE1), "faults are not cached: mapped now, it works");
	CHECK(xlate(DEV0, IOVA + 0x5000, true) == -EFAULT, "a read-only page refuses a write");
	map(0, IOVA + 0x5000, PAGE1, RW);
	CHECK(xlate(DEV0, IOVA + 0x5000, true) == 0 && gpa == PAGE1,
	      "a cached read-only entry does not refuse a write: the tables are walked again");
}

static void invalidate_contexts(enum via via, unsigned g, uint16_t did, uint16_t sid, unsigned fm)
{
	if (via == VIA_QUEUE)
		submit(CC_DESC(g, did, sid, fm), 0);
	else
		wr64(VTD_CCMD, VTD_CCMD_ICC | (uint64_t)g << 61 | (uint64_t)fm << 32 |
				       (uint64_t)sid << 16 | did);
}

static void invalidate_iotlb(enum via via, unsigned g, uint16_t did, uint64_t addr, unsigned am)
{
	if (via == VIA_QUEUE) {
		submit(IOTLB_DESC(g, did), addr | am);
		return;
	}
	wr64(VTD_IVA, addr | am);
	wr64(VTD_IOTLB, VTD_IOTLB_IVT | (uint64_t)g << 60 | (uint64_t)did << 32);
}

static void fresh_unit(enum via via)
{
	reset_unit(true, false);
	start_translation();
	if (via == VIA_QUEUE)
		start_queue();
}

static const char *const via_name[] = { "register", "queued" };
static const char *const gran_name[] = { "?", "global", "domain", "device/page" };

/* DEV0 moves from domain A (tables 0: PAGE1) to B (tables 1: PAGE2) and keeps A until invalidated. */
static void test_context_invalidation(enum via via, unsigned g)
{
	fresh_unit(via);
	set_context(DEV0, 0, DOM_A, 0);
	map(0, IOVA, PAGE1, RW);
	map(1, IOVA, PAGE2, RW);
	CHECK(translates_to(DEV0, IOVA, PAGE1), "%s %s: domain A", via_name[via], gran_name[g]);
	set_context(DEV0, 1, DOM_B, 0);
	CHECK(translates_to(DEV0, IOVA, PAGE1), "the context entry changed: the cached one is used");
	if (g == VTD_GRAN_DOMAIN)
		invalidate_contexts(via, g, DOM_B, 0, 0);
	if (g == VTD_GRAN_DEVICE_OR_PAGE)
		invalidate_contexts(via, g, 0, DEV0 | 1, 0);
	if (g != VTD_GRAN_GLOBAL)
		CHECK(translates_to(DEV0, IOVA, PAGE1), "another domain or function: still cached");
	invalidate_contexts(via, g, DOM_A, DEV0 | 1, 3); /* FM 11b: any function of device 1 */
	CHECK(translates_to(DEV0, IOVA, PAGE2), "after the invalidation: domain B's tables");
	if (via == VIA_REGISTER)
		CHECK((rd64(VTD_CCMD) >> 59 & 3) == g && !(rd64(VTD_CCMD) >> 63), "ICC cleared, CAIG %u", g);
}

/* Pages 4 and 6 of a leaf table move to PAGE2 and keep PAGE1 until invalidated. */
static void test_iotlb_invalidation(enum via via, unsigned g)
{
	fresh_unit(via);
	set_context(DEV0, 0, DOM_A, 0);
	map(0, IOVA, PAGE1, RW);
	map(0, IOVA + 0x2000, PAGE1 + 0x2000, RW);
	CHECK(translates_to(DEV0, IOVA, PAGE1) && translates_to(DEV0, IOVA + 0x2000, PAGE1 + 0x2000),
	      "%s %s: the old pages", via_name[via], gran_name[g]);
	map(0, IOVA, PAGE2, RW);
	map(0, IOVA + 0x2000, PAGE2 + 0x2000, RW);
	CHECK(translates_to(DEV0, IOVA, PAGE1) && translates_to(DEV0, IOVA + 0x2000, PAGE1 + 0x2000),
	      "the page tables changed: the IOTLB still has the old pages");
	if (g != VTD_GRAN_GLOBAL) {
		invalidate_iotlb(via, g, DOM_B, IOVA, 2);
		CHECK(translates_to(DEV0, IOVA, PAGE1), "another domain's invalidation: still cached");
	}
	if (g == VTD_GRAN_DEVICE_OR_PAGE) {
		invalidate_iotlb(via, g, DOM_A, IOVA, 0);
		CHECK(translates_to(DEV0, IOVA, PAGE2) &&
		      translates_to(DEV0, IOVA + 0x2000, PAGE1 + 0x2000), "AM 0: that page only");
		if (via == VIA_REGISTER)
			CHECK((rd64(VTD_IOTLB) >> 57 & 3) == 3 && !(rd64(VTD_IOTLB) >> 63),
			      "IVT cleared, IAIG page");
	}
	invalidate_iotlb(via, g, DOM_A, IOVA, 2); /* AM 2: pages 4 to 7 */
	CHECK(translates_to(DEV0, IOVA, PAGE2) && translates_to(DEV0, IOVA + 0x2000, PAGE2 + 0x2000),
	      "after the invalidation: the new pages");
	if (via == VIA_REGISTER)
		CHECK((rd64(VTD_IOTLB) >> 57 & 3) == g && !(rd64(VTD_IOTLB) >> 63),
		      "IVT cleared, IAIG %u", g);
}

static void test_iotlb_special_cases(void)
{
	fresh_unit(VIA_REGISTER);
	set_context(DEV0, 0, DOM_A, 0);
	map(0, IOVA, PAGE1, RW);
	CHECK(translates_to(DEV0, IOVA, PAGE1), "cached");
	map(0, IOVA, PAGE2, RW);
	invalidate_iotlb(VIA_REGISTER, VTD_GRAN_DEVICE_OR_PAGE, DOM_A, IOVA + 0x8000, VTD_MAMV + 1);
	CHECK((rd64(VTD_IOTLB) >> 57 & 3) == VTD_GRAN_DOMAIN && translates_to(DEV0, IOVA, PAGE2),
	      "AM beyond MAMV: the whole domain, IAIG domain");

	map_at(0, IOVA_2M, 2, PAGE1, RW);
	CHECK(translates_to(DEV0, IOVA_2M + 0x7000, PAGE1 + 0x7000), "a 2 MiB page cached");
	map_at(0, IOVA_2M, 2, PAGE2, RW);
	invalidate_iotlb(VIA_REGISTER, VTD_GRAN_DEVICE_OR_PAGE, DOM_A, IOVA_2M + 0x1ff000, 0);
	CHECK(translates_to(DEV0, IOVA_2M + 0x7000, PAGE2 + 0x7000),
	      "invalidating a 4 KiB page inside drops the 2 MiB entry");

	wr64(VTD_CCMD, VTD_CCMD_ICC);
	CHECK(rd64(VTD_CCMD) == 0, "CIRG 00b is reserved: nothing done, CAIG 0");
	wr32(VTD_CCMD + 4, (uint32_t)((VTD_CCMD_ICC | 1ull << 61) >> 32));
	CHECK(rd64(VTD_CCMD) == (1ull << 61 | 1ull << 59), "the upper half alone starts an invalidation");
}

/* ---- queued invalidation ---- */

static void test_invalidation_wait(void)
{
	reset_unit(true, false);
	start_queue();
	submit(WAIT_DESC(SW, 0xabcd1234u), STATUS);
	CHECK(get32(STATUS) == 0xabcd1234u, "SW: the status data is written");
	CHECK(rd64(VTD_IQH) == 16 && rd64(VTD_IQT) == 16, "IQH moved up to IQT");
	CHECK(rd32(VTD_ICS) == 0 && msi_count == 0, "without IF: no IWC, no interrupt");
	wr32(VTD_IEDATA, 0x4055);
	wr32(VTD_IEADDR, 0xfee01000);
	wr32(VTD_IEUADDR, 0x200);
	wr32(VTD_IECTL, 0);
	submit(WAIT_DESC(IF, 0), 0);
	CHECK(rd32(VTD_ICS) == VTD_ICS_IWC && msi_count == 1 &&
	      msis[0].address == (0x200ull << 32 | 0xfee01000) && msis[0].data == 0x4055,
	      "IF: IWC, and the completion interrupt from IEADDR/IEUADDR/IEDATA");
	CHECK(rd32(VTD_IECTL) == 0, "sent: IP clear");
	submit(WAIT_DESC(IF, 0), 0);
	CHECK(msi_count == 1, "IWC already set: no new interrupt condition");
	wr32(VTD_ICS, VTD_ICS_IWC);
	wr32(VTD_IECTL, VTD_CTL_IM);
	submit(WAIT_DESC(IF | SW | FN, 7), STATUS);
	CHECK(get32(STATUS) == 7 && msi_count == 1 && rd32(VTD_IECTL) == (VTD_CTL_IM | VTD_CTL_IP),
	      "masked: IP set, nothing sent");
	wr32(VTD_IECTL, 0);
	CHECK(msi_count == 2 && rd32(VTD_IECTL) == 0, "unmasked: sent, IP clear");
	wr32(VTD_ICS, VTD_ICS_IWC);
	wr32(VTD_IECTL, VTD_CTL_IM);
	submit(WAIT_DESC(IF, 0), 0);
	wr32(VTD_ICS, VTD_ICS_IWC);
	CHECK(rd32(VTD_IECTL) == VTD_CTL_IM, "clearing IWC services the held interrupt");
	wr32(VTD_IECTL, 0);
	CHECK(msi_count == 2, "so unmasking sends nothing");

	for (unsigned i = 0; i < 300; i++)
		submit(HARMLESS_DESC, 0);
	CHECK(rd64(VTD_IQH) == rd64(VTD_IQT) && rd64(VTD_IQT) == ((5 + 300) % 256) << 4 &&
	      rd32(VTD_FSTS) == 0, "the queue wraps around");

	changes = 0;
	submit(IEC_DESC, 0);
	submit(IEC_DESC | 1 << 4 | 3ull << 27 | 0x40ull << 32, 0);
	CHECK(changes == 2, "interrupt entry cache invalidations re-translate the routes");

	command_clear(VTD_GCMD_QIE);
	CHECK(rd64(VTD_IQH) == 0, "QIE cleared: IQH reads 0");
}

/* The descriptor at queue index `at` is bad: IQE, IQEI `info`, IQH left there. */
static bool queue_stopped_at(unsigned at, unsigned info)
{
	return (rd32(VTD_FSTS) & VTD_FSTS_IQE) && (rd64(VTD_IQERCD) & 0xf) == info &&
	       rd64(VTD_IQH) == at << 4;
}

/* Replaces the bad descriptor with a harmless one and clears IQE: the queue runs on. */
static void repair_queue(unsigned at)
{
	put64(QUEUE + at * 16, HARMLESS_DESC);
	put64(QUEUE + at * 16 + 8, 0);
	wr32(VTD_FSTS, VTD_FSTS_IQE);
}

static void test_queue_errors(void)
{
	reset_unit(true, false);
	start_queue();
	wr32(VTD_FEDATA, 0x4077);
	wr32(VTD_FEADDR, 0xfee00000);
	wr32(VTD_FECTL, 0);
	submit(6, 0); /* PASID-based IOTLB: scalable mode only */
	CHECK(queue_stopped_at(0, 3) && msi_count == 1 && msis[0].data == 0x4077,
	      "an unsupported type: IQE, IQEI 3, IQH at it, fault event");
	submit(WAIT_DESC(SW, 1), STATUS);
	CHECK(get32(STATUS) == 0 && rd64(VTD_IQH) == 0, "nothing runs while IQE is set");
	repair_queue(0);
	CHECK(get32(STATUS) == 1 && rd64(VTD_IQH) == 32 && rd32(VTD_FSTS) == 0,
	      "IQE cleared: the queue runs from IQH again");

	static const struct {
		uint64_t lo, hi;
		unsigned info;
		const char *what;
	} bad[] = {
		{ 5 | 1 << 9, 0, 3, "type bits 11:9 (type 0x15)" },
		{ 0, 0, 3, "type 0" },
		{ DEVTLB_DESC, 0, 3, "a device-TLB descriptor without ECAP.DT" },
		{ WAIT_DESC(SW | 1 << 8, 1), STATUS, 4, "a reserved bit in a wait descriptor" },
		{ WAIT_DESC(SW | 1 << 7, 1), STATUS, 4, "PD without page requests" },
		{ WAIT_DESC(SW, 1), STATUS | 1, 4, "a misaligned status address" },
		{ IOTLB_DESC(0, 1), 0, 4, "IOTLB granularity 00b" },
		{ IOTLB_DESC(3, 1), 1 << 7, 4, "IOTLB reserved address bits" },
		{ CC_DESC(1, 0, 0, 0), 1, 4, "a context-cache descriptor's upper half" },
		{ CC_DESC(1, 0, 0, 0) | 1ull << 50, 0, 4, "context-cache bit 50" },
		{ IEC_DESC | 1ull << 12, 0, 4, "interrupt-entry-cache bit 12" },
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned at = queue_tail;
		submit(bad[i].lo, bad[i].hi);
		CHECK(queue_stopped_at(at, bad[i].info), "%s: IQE, IQEI %u", bad[i].what, bad[i].info);
		repair_queue(at);
	}
	CHECK(rd32(VTD_FSTS) == 0 && rd64(VTD_IQH) == rd64(VTD_IQT), "all repaired");

	wr64(VTD_CCMD, VTD_CCMD_ICC | 1ull << 61);
	wr64(VTD_IOTLB, VTD_IOTLB_IVT | 1ull << 60);
	CHECK(rd64(VTD_CCMD) == 0 && rd64(VTD_IOTLB) == 0, "register invalidation is ignored with QIE");

	reset_unit(true, false);
	wr64(VTD_IQA, RAM_END);
	command_set(VTD_GCMD_QIE);
	wr32(VTD_IQT, 16);
	CHECK(queue_stopped_at(0, 2), "a queue outside guest RAM: IQE, IQEI 2");

	reset_unit(true, false);
	start_queue();
	wr32(VTD_IQT, 256 << 4);
	CHECK(queue_stopped_at(0, 1), "IQT beyond the 256 descriptors of QS 0: IQE, IQEI 1");
	reset_unit(true, false);
	start_queue();
	wr32(VTD_IQT, 0x18);
	CHECK(queue_stopped_at(0, 1), "IQT not on a descriptor boundary: IQE");
	reset_unit(true, false);
	for (unsigned i = 0; i < 300; i++)
		put64(QUEUE + i * 16, HARMLESS_DESC);
	wr64(VTD_IQA, QUEUE | 1);
	wr32(VTD_IQT, 300 << 4);
	command_set(VTD_GCMD_QIE);
	CHECK(rd32(VTD_FSTS) == 0 && rd64(VTD_IQH) == 300 << 4,
	      "QS 1 (512 descriptors): IQT 300 is fine, and what is queued runs when QIE is set");
}

/* ---- faults ---- */

static void fault_setup(void)
{
	reset_unit(true, false);
	start_translation();
	set_context(DEV0, 0, DOM_A, 0);
	map(0, IOVA, PAGE1, R);
	wr32(VTD_FEDATA, 0x4066);
	wr32(VTD_FEADDR, 0xfee02000);
	wr32(VTD_FEUADDR, 0x100);
}

static uint64_t record_lo(unsigned i)
{
	return rd64(VTD_FRCD + i * 16);
}

static uint64_t record_hi(unsigned i)
{
	return rd64(VTD_FRCD + i * 16 + 8);
}

static void clear_record(unsigned i)
{
	wr32(VTD_FRCD + i * 16 + 12, 1u << 31); /* as Linux does: F in the top dword */
}

static void test_fault_records(void)
{
	fault_setup();
	wr32(VTD_FECTL, 0);
	CHECK(xlate(DEV0, IOVA + 0x123, true) == -EFAULT, "a write to a read-only page is refused");
	CHECK(rd32(VTD_FSTS) == VTD_FSTS_PPF, "PPF, FRI 0");
	CHECK(record_lo(0) == IOVA, "FI: the page address");
	CHECK(record_hi(0) == (VTD_FRCD_F | 5ull << 32 | DEV0),
	      "F, reason 5h, T 0 (write), SID (0x%llx)", (unsigned long long)record_hi(0));
	CHECK(msi_count == 1 && msis[0].address == (0x100ull << 32 | 0xfee02000) &&
	      msis[0].data == 0x4066 && rd32(VTD_FECTL) == 0,
	      "the fault event from FEADDR/FEUADDR/FEDATA; IP clear");
	CHECK(xlate(DEV0, IOVA + 0x5000, false) == -EFAULT, "a read of an unmapped page is refused");
	CHECK(record_lo(1) == IOVA + 0x5000 &&
	      record_hi(1) == (VTD_FRCD_F | VTD_FRCD_T1_READ | 6ull << 32 | DEV0),
	      "the next record: reason 6h, T 1 (read)");
	CHECK(msi_count == 1 && (rd32(VTD_FSTS) >> 8 & 0xff) == 0,
	      "a fault already pending: no new event, FRI still 0");
	clear_record(0);
	CHECK(!(record_hi(0) >> 63) && (rd32(VTD_FSTS) & VTD_FSTS_PPF), "F is RW1C; record 1 pending");
	clear_record(1);
	CHECK(rd32(VTD_FSTS) == VTD_FSTS_FRI(0), "all cleared: PPF clear");
	wr64(VTD_FRCD, 0);
	CHECK(record_lo(0) == IOVA, "FI is read-only");
}

static void test_fault_event_mask(void)
{
	fault_setup();
	CHECK(xlate(DEV0, IOVA, true) == -EFAULT && msi_count == 0 &&
	      rd32(VTD_FECTL) == (VTD_CTL_IM | VTD_CTL_IP), "masked: IP set, nothing sent");
	wr32(VTD_FECTL, 0);
	CHECK(msi_count == 1 && msis[0].data == 0x4066 && rd32(VTD_FECTL) == 0,
	      "unmasked with IP set: sent, IP clear");
	clear_record(0);
	wr32(VTD_FECTL, VTD_CTL_IM);
	CHECK(xlate(DEV0, IOVA, true) == -EFAULT && rd32(VTD_FECTL) == (VTD_CTL_IM | VTD_CTL_IP),
	      "masked again: IP");
	clear_record(1);
	CHECK(rd32(VTD_FECTL) == VTD_CTL_IM, "software serviced every fault: IP clear");
	wr32(VTD_FECTL, 0);
	CHECK(msi_count == 1, "so unmasking sends nothing");
}

static void test_fault_overflow(void)
{
	fault_setup();
	wr32(VTD_FECTL, 0);
	for (unsigned i = 0; i < 8; i++)
		xlate(DEV0, IOVA + (i + 8) * 0x1000, false);
	CHECK(record_lo(7) == IOVA + 15 * 0x1000 && rd32(VTD_FSTS) == VTD_FSTS_PPF,
	      "8 faults fill the 8 records");
	CHECK(xlate(DEV0, IOVA + 0x10000, false) == -EFAULT &&
	      rd32(VTD_FSTS) == (VTD_FSTS_PPF | VTD_FSTS_PFO) && record_lo(0) == IOVA + 8 * 0x1000,
	      "a 9th: PFO, not recorded");
	CHECK(msi_count == 1, "one event for all of them");
	for (unsigned i = 0; i < 8; i++)
		clear_record(i);
	xlate(DEV0, IOVA + 0x11000, false);
	CHECK(rd32(VTD_FSTS) == VTD_FSTS_PFO && !(record_hi(0) >> 63), "PFO set: faults are dropped");
	wr32(VTD_FSTS, VTD_FSTS_PFO);
	CHECK(rd32(VTD_FSTS) == 0 && rd32(VTD_FECTL) == 0, "PFO is RW1C");

	fault_setup();
	for (unsigned i = 0; i < 3; i++)
		xlate(DEV0, IOVA + (i + 8) * 0x1000, false);
	for (unsigned i = 0; i < 3; i++)
		clear_record(i);
	for (unsigned i = 0; i < 6; i++)
		xlate(DEV0, IOVA + (i + 16) * 0x1000, false);
	CHECK(rd32(VTD_FSTS) == (VTD_FSTS_PPF | VTD_FSTS_FRI(3)), "FRI: the first pending record, 3");
	CHECK(record_lo(7) == IOVA + 20 * 0x1000 && record_lo(0) == IOVA + 21 * 0x1000 &&
	      (record_hi(0) >> 63) && !(record_hi(1) >> 63), "the index wrapped from record 7 to 0");
}

static void test_fault_processing_disable(void)
{
	fault_setup();
	set_context(DEV0, 0, DOM_A, FPD);
	CHECK(xlate(DEV0, IOVA, true) == -EFAULT && rd32(VTD_FSTS) == 0 && msi_count == 0 &&
	      rd32(VTD_FECTL) == VTD_CTL_IM, "FPD: refused, not recorded, no event");
	put64(ROOT, CONTEXTS);
	CHECK(xlate(DEV1, IOVA, true) == -EFAULT && rd32(VTD_FSTS) == VTD_FSTS_PPF &&
	      (record_hi(0) >> 32 & 0xff) == 1, "a root entry fault is always recorded (1h)");

	fault_setup();
	wr64(VTD_RTADDR, ROOT | 1 << 10);
	command_once(VTD_GCMD_SRTP);
	CHECK(xlate(DEV0, IOVA, false) == -EFAULT && (record_hi(0) >> 32 & 0xff) == 0x30,
	      "RTADDR.TTM other than legacy: every request faults, 30h");
}

/* ---- interrupt remapping ---- */

#define REMAPPABLE(index) (0xfee00000ull | (uint64_t)(index) << 5 | 1ull << 4)

static void test_interrupt_remapping(void)
{
	reset_unit(true, false);
	uint64_t address = REMAPPABLE(5);
	uint32_t data = 0;
	CHECK(vtd_remap_msi(vtd, DEV0, &address, &data, true) == 0 && address == REMAPPABLE(5),
	      "IRE clear: the message as sent");
	put64(IRT + 5 * 16, 1 | 0x41ull << 16 | 0x01000002ull << 32);
	put64(IRT + 5 * 16 + 8, 1ull << 18 | DEV0); /* SVT 01b: DEV0 only */
	put64(IRT + 6 * 16, 2 | 0x42ull << 16); /* not present, FPD */
	wr64(VTD_IRTA, IRT | VTD_IRTA_EIME | 7);
	command_once(VTD_GCMD_SIRTP);
	command_set(VTD_GCMD_IRE);
	CHECK(vtd_remap_msi(vtd, DEV0, &address, &data, true) == 0 &&
	      address == (0xfee00000ull | 2ull << 12 | 0x10000ull << 40) && data == (0x41 | 1u << 14),
	      "IRE set, EIME: remapped to x2APIC id 0x01000002, vector 0x41");
	CHECK(remap_in_callback == 0 && changes == 2, "the routes were re-translated twice");

	address = REMAPPABLE(5);
	CHECK(vtd_remap_msi(vtd, DEV1, &address, &data, true) == -EPERM && address == REMAPPABLE(5),
	      "another requester: blocked, message unchanged");
	CHECK(record_lo(0) == 5ull << 48 && record_hi(0) == (VTD_FRCD_F | 0x26ull << 32 | DEV1),
	      "recorded: interrupt index in FI 63:48, reason 26h, T 0, SID");
	address = REMAPPABLE(6);
	CHECK(vtd_remap_msi(vtd, DEV0, &address, &data, true) == -EPERM && !(record_hi(1) >> 63),
	      "a not-present IRTE with FPD: blocked, not recorded");
	address = 0xfee00000ull;
	command_set(VTD_GCMD_CFI);
	CHECK(vtd_remap_msi(vtd, DEV0, &address, &data, true) == -EPERM &&
	      (record_hi(1) >> 32 & 0xff) == 0x25, "compatibility format with EIME: blocked, 25h");
	wr64(VTD_IRTA, IRT | 7);
	command_once(VTD_GCMD_SIRTP);
	CHECK(vtd_remap_msi(vtd, DEV0, &address, &data, true) == 0 && address == 0xfee00000ull,
	      "EIME clear, CFIS set: compatibility format passes");
	command_clear(VTD_GCMD_CFI);
	CHECK(vtd_remap_msi(vtd, DEV0, &address, &data, true) == -EPERM, "CFIS clear: blocked");
	uint64_t before = record_hi(3);
	CHECK(vtd_remap_msi(vtd, DEV0, &address, &data, false) == -EPERM && record_hi(3) == before,
	      "blocked without record_fault: nothing recorded");
}

int main(void)
{
	ram = malloc(RAM_SIZE);
	if (!ram)
		return 1;
	guest_mem_init_flat(&gm, ram, RAM_BASE, RAM_SIZE);
	test_reset_values();
	test_global_command();
	test_translation();
	for (unsigned via = VIA_REGISTER; via <= VIA_QUEUE; via++) {
		for (unsigned g = VTD_GRAN_GLOBAL; g <= VTD_GRAN_DEVICE_OR_PAGE; g++) {
			test_context_invalidation(via, g);
			test_iotlb_invalidation(via, g);
		}
	}
	test_iotlb_special_cases();
	test_invalidation_wait();
	test_queue_errors();
	test_fault_records();
	test_fault_event_mask();
	test_fault_overflow();
	test_fault_processing_disable();
	test_interrupt_remapping();
	vtd_destroy(vtd);
	free(ram);
	return tap_finish();
}
