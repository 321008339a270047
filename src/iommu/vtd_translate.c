#include "iommu/vtd_translate.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

/* Bits 12 to HAW - 1: a 4 KiB-aligned guest-physical address in any entry. */
#define ADDRESS_BITS (((1ull << VTD_HOST_ADDRESS_WIDTH) - 1) & ~0xfffull)

/* VT-d 3.4 §9.1: a root entry (legacy mode); its upper 64 bits are reserved. */
#define ROOT_PRESENT     (1ull << 0)
#define ROOT_RESERVED_LO (~(ROOT_PRESENT | ADDRESS_BITS))

/* VT-d 3.4 §9.3: a context entry (legacy mode). */
#define CONTEXT_PRESENT         (1ull << 0)
#define CONTEXT_FPD             (1ull << 1)
#define CONTEXT_TT_BITS         (3ull << 2)
#define CONTEXT_TT(lo)          (((lo) & CONTEXT_TT_BITS) >> 2)
#define CONTEXT_RESERVED_LO     (~(CONTEXT_PRESENT | CONTEXT_FPD | CONTEXT_TT_BITS | ADDRESS_BITS))
#define CONTEXT_AW(hi)          ((hi) & 7)
#define CONTEXT_DID(hi)         ((uint16_t)((hi) >> 8))
#define CONTEXT_RESERVED_HI     ((1ull << 7) | ~0xffffffull) /* bits 71 and 127:88 */
#define TT_SECOND_LEVEL         0 /* 01b needs a device-TLB (ECAP.DT), which we lack: reserved */
#define TT_PASS_THROUGH         2
#define AW_39_BIT               1 /* 3-level tables */
#define AW_48_BIT               2 /* 4-level tables */

/* VT-d 3.4 §9.8: second-level paging entries. */
#define SL_READ      (1ull << 0)
#define SL_WRITE     (1ull << 1)
#define SL_PAGE_SIZE (1ull << 7)
#define SL_SNOOP     (1ull << 11) /* reserved: no snoop control (ECAP.SC = 0) */
#define SL_TRANSIENT (1ull << 62) /* reserved: no device-TLB (ECAP.DT = 0) */
#define SL_ABOVE_HAW (((1ull << 52) - 1) & ~((1ull << VTD_HOST_ADDRESS_WIDTH) - 1)) /* bits 51:HAW */
#define SL_RESERVED  (SL_SNOOP | SL_TRANSIENT | SL_ABOVE_HAW)
#define SL_TOP_LEVEL 4            /* an SL-PML4E has no page-size bit */

struct entry128 {
	uint64_t lo, hi;
};

static int read_entry128(const struct guest_mem *gm, uint64_t gpa, struct entry128 *e)
{
	if (guest_mem_read(gm, gpa, e, sizeof(*e)))
		return -EFAULT;
	e->lo = le64toh(e->lo);
	e->hi = le64toh(e->hi);
	return 0;
}

/* VT-d 3.4 §3.4.2: the bus number indexes the root table, devfn the context table. */
static enum vtd_fault_reason find_context(const struct guest_mem *gm, uint64_t root_table,
					  uint16_t source_id, struct entry128 *ce)
{
	struct entry128 re;
	if (read_entry128(gm, root_table + (source_id >> 8) * sizeof(re), &re))
		return VTD_FAULT_ROOT_TABLE_ACCESS;
	if (!(re.lo & ROOT_PRESENT))
		return VTD_FAULT_ROOT_NOT_PRESENT;
	if ((re.lo & ROOT_RESERVED_LO) || re.hi)
		return VTD_FAULT_ROOT_RESERVED;
	if (read_entry128(gm, (re.lo & ADDRESS_BITS) + (source_id & 0xff) * sizeof(*ce), ce))
		return VTD_FAULT_CONTEXT_TABLE_ACCESS;
	if (!(ce->lo & CONTEXT_PRESENT))
		return VTD_FAULT_CONTEXT_NOT_PRESENT;
	if ((ce->lo & CONTEXT_RESERVED_LO) || (ce->hi & CONTEXT_RESERVED_HI))
		return VTD_FAULT_CONTEXT_RESERVED;
	unsigned tt = CONTEXT_TT(ce->lo), aw = CONTEXT_AW(ce->hi);
	if ((tt != TT_SECOND_LEVEL && tt != TT_PASS_THROUGH) || (aw != AW_39_BIT && aw != AW_48_BIT))
		return VTD_FAULT_CONTEXT_INVALID;
	return VTD_FAULT_NONE;
}

/* Level 1 maps 4 KiB pages, level 2 2 MiB, level 3 1 GiB, level 4 512 GiB. */
static unsigned level_shift(unsigned level)
{
	return 12 + 9 * (level - 1);
}

static uint64_t entry_address(uint64_t table, uint64_t iova, unsigned level)
{
	return table + ((iova >> level_shift(level)) & 511) * sizeof(uint64_t);
}

static bool is_leaf(uint64_t entry, unsigned level)
{
	return level == 1 || (entry & SL_PAGE_SIZE);
}

/* VT-d 3.4 §9.8: a superpage's address is aligned to its size; bits below are reserved. */
static uint64_t reserved_bits(uint64_t entry, unsigned level)
{
	uint64_t reserved = SL_RESERVED;
	if (level == SL_TOP_LEVEL)
		reserved |= SL_PAGE_SIZE;
	else if (level > 1 && is_leaf(entry, level))
		reserved |= ((1ull << level_shift(level)) - 1) & ~0xfffull;
	return reserved;
}

/* VT-d 3.4 §9.8: an entry with neither R nor W is not present. */
static bool is_present(uint64_t entry)
{
	return entry & (SL_READ | SL_WRITE);
}

/*
 * VT-d 3.4 §3.7: the second-level walk from the table at `table`, `levels`
 * deep. The access rights are those of every entry along the walk ANDed.
 */
static enum vtd_fault_reason walk_second_level(const struct guest_mem *gm, uint64_t table,
					       unsigned levels, uint64_t iova, bool write,
					       struct vtd_translation *out)
{
	uint64_t rights = SL_READ | SL_WRITE, needed = write ? SL_WRITE : SL_READ;
	for (unsigned level = levels;; level--) {
		uint64_t entry;
		if (guest_mem_read(gm, entry_address(table, iova, level), &entry, sizeof(entry)))
			return level == levels ? VTD_FAULT_CONTEXT_INVALID : VTD_FAULT_PAGING_ENTRY_ACCESS;
		entry = le64toh(entry);
		if (is_present(entry) && (entry & reserved_bits(entry, level)))
			return VTD_FAULT_PAGING_ENTRY_RESERVED;
		rights &= entry;
		if (!(rights & needed))
			return write ? VTD_FAULT_WRITE : VTD_FAULT_READ;
		if (is_leaf(entry, level)) {
			out->page_size = 1ull << level_shift(level);
			out->gpa = (entry & ADDRESS_BITS) | (iova & (out->page_size - 1));
			out->readable = rights & SL_READ;
			out->writable = rights & SL_WRITE;
			return VTD_FAULT_NONE;
		}
		table = entry & ADDRESS_BITS;
	}
}

/* VT-d 3.4 §9.3: what a context entry that passed find_context says. */
static void decode_context(const struct entry128 *ce, struct vtd_context *ctx)
{
	ctx->table = ce->lo & ADDRESS_BITS;
	/* AW 1: 39 bits, 3 levels; AW 2: 48 bits, 4 levels. */
	ctx->levels = (unsigned)CONTEXT_AW(ce->hi) + 2;
	ctx->domain_id = CONTEXT_DID(ce->hi);
	ctx->pass_through = CONTEXT_TT(ce->lo) == TT_PASS_THROUGH;
	ctx->fpd = ce->lo & CONTEXT_FPD;
}

static enum vtd_fault_reason translate_in_context(const struct guest_mem *gm,
						  const struct vtd_context *ctx, uint64_t iova,
						  bool write, struct vtd_translation *out)
{
	out->domain_id = ctx->domain_id;
	if (ctx->pass_through) {
		out->pass_through = true;
		out->gpa = iova;
		out->page_size = GUEST_PAGE_SIZE;
		out->readable = out->writable = true;
		return VTD_FAULT_NONE;
	}
	if (iova >> level_shift(ctx->levels + 1))
		return VTD_FAULT_BEYOND_ADDRESS_WIDTH;
	return walk_second_level(gm, ctx->table, ctx->levels, iova, write, out);
}

/* Appendix A: FPD cannot suppress the faults found before the context entry is known good. */
static bool is_qualified(enum vtd_fault_reason reason)
{
	switch (reason) {
	case VTD_FAULT_ROOT_NOT_PRESENT:
	case VTD_FAULT_ROOT_TABLE_ACCESS:
	case VTD_FAULT_CONTEXT_TABLE_ACCESS:
	case VTD_FAULT_ROOT_RESERVED:
	case VTD_FAULT_CONTEXT_RESERVED:
		return false;
	default:
		return true;
	}
}

static int fail(enum vtd_fault_reason reason, bool fpd_bit, struct vtd_fault *fault)
{
	fault->reason = reason;
	fault->fpd = fpd_bit && is_qualified(reason);
	return -EFAULT;
}

int vtd_find_context(const struct guest_mem *gm, uint64_t root_table, uint16_t source_id,
		     struct vtd_context *ctx, struct vtd_fault *fault)
{
	struct entry128 ce = { 0 };
	memset(ctx, 0, sizeof(*ctx));
	memset(fault, 0, sizeof(*fault));
	enum vtd_fault_reason reason = find_context(gm, root_table, source_id, &ce);
	if (reason != VTD_FAULT_NONE)
		return fail(reason, ce.lo & CONTEXT_FPD, fault);
	decode_context(&ce, ctx);
	return 0;
}

int vtd_translate_in_context(const struct guest_mem *gm, const struct vtd_context *ctx,
			     uint64_t iova, bool write, struct vtd_translation *out,
			     struct vtd_fault *fault)
{
	memset(out, 0, sizeof(*out));
	memset(fault, 0, sizeof(*fault));
	enum vtd_fault_reason reason = translate_in_context(gm, ctx, iova, write, out);
	if (reason == VTD_FAULT_NONE)
		return 0;
	memset(out, 0, sizeof(*out));
	return fail(reason, ctx->fpd, fault);
}

int vtd_translate(const struct guest_mem *gm, uint64_t root_table, uint16_t source_id,
		  uint64_t iova, bool write, struct vtd_translation *out, struct vtd_fault *fault)
{
	struct vtd_context ctx;
	memset(out, 0, sizeof(*out));
	if (vtd_find_context(gm, root_table, source_id, &ctx, fault))
		return -EFAULT;
	return vtd_translate_in_context(gm, &ctx, iova, write, out, fault);
}

/* ---- the context cache ---- */

static unsigned context_slot(uint16_t source_id)
{
	return (source_id ^ source_id >> 8) % VTD_CONTEXT_CACHE_ENTRIES;
}

bool vtd_context_cache_lookup(const struct vtd_context_cache *cc, uint16_t source_id,
			      struct vtd_context *ctx)
{
	unsigned i = context_slot(source_id);
	if (!cc->entries[i].valid || cc->entries[i].source_id != source_id)
		return false;
	*ctx = cc->entries[i].ctx;
	return true;
}

void vtd_context_cache_insert(struct vtd_context_cache *cc, uint16_t source_id,
			      const struct vtd_context *ctx)
{
	unsigned i = context_slot(source_id);
	cc->entries[i].valid = true;
	cc->entries[i].source_id = source_id;
	cc->entries[i].ctx = *ctx;
}

/* The domain id is not compared for a device: dropping more than asked is allowed. */
enum vtd_granularity vtd_context_cache_invalidate(struct vtd_context_cache *cc,
						  enum vtd_granularity granularity,
						  uint16_t domain_id, uint16_t source_id, unsigned fm)
{
	static const uint16_t fm_mask[4] = { 0xffff, 0xfffb, 0xfff9, 0xfff8 };
	for (unsigned i = 0; i < VTD_CONTEXT_CACHE_ENTRIES && granularity != VTD_GRAN_NONE; i++) {
		uint16_t sid = cc->entries[i].source_id;
		if (granularity == VTD_GRAN_GLOBAL ||
		    (granularity == VTD_GRAN_DOMAIN && cc->entries[i].ctx.domain_id == domain_id) ||
		    (granularity == VTD_GRAN_DEVICE_OR_PAGE && ((sid ^ source_id) & fm_mask[fm & 3]) == 0))
			cc->entries[i].valid = false;
	}
	return granularity;
}

/* ---- the IOTLB ---- */

#define IOTLB_ENTRIES (1u << VTD_IOTLB_BITS)
#define LARGEST_PAGE_LEVEL 3 /* CAP.SLLPS: 2 MiB and 1 GiB pages */

static unsigned iotlb_index(uint16_t domain_id, uint64_t tag, unsigned level)
{
	uint64_t key = tag ^ (uint64_t)domain_id << 40 ^ (uint64_t)level << 56;
	return (unsigned)((key * 0x9e3779b97f4a7c15ull) >> (64 - VTD_IOTLB_BITS));
}

int vtd_iotlb_lookup(const struct vtd_iotlb *tlb, uint16_t domain_id, uint64_t iova,
		     struct vtd_translation *out)
{
	for (unsigned level = 1; level <= LARGEST_PAGE_LEVEL; level++) {
		uint64_t tag = iova >> level_shift(level);
		const struct vtd_iotlb_entry *e = &tlb->entries[iotlb_index(domain_id, tag, level)];
		if (e->level != level || e->domain_id != domain_id || e->tag != tag)
			continue;
		memset(out, 0, sizeof(*out));
		out->page_size = 1ull << level_shift(level);
		out->gpa = e->gpa | (iova & (out->page_size - 1));
		out->readable = e->readable;
		out->writable = e->writable;
		out->domain_id = domain_id;
		return 0;
	}
	return -ENOENT;
}

void vtd_iotlb_insert(struct vtd_iotlb *tlb, uint16_t domain_id, uint64_t iova,
		      const struct vtd_translation *tr)
{
	for (unsigned level = 1; level <= LARGEST_PAGE_LEVEL; level++) {
		if (tr->page_size != 1ull << level_shift(level))
			continue;
		uint64_t tag = iova >> level_shift(level);
		tlb->entries[iotlb_index(domain_id, tag, level)] = (struct vtd_iotlb_entry){
			.tag = tag, .gpa = tr->gpa & ~(tr->page_size - 1), .domain_id = domain_id,
			.level = (uint8_t)level, .readable = tr->readable, .writable = tr->writable,
		};
	}
}

/* Drops the entries (of `domain_id` only, if by_domain) that overlap [first, last]. */
static void iotlb_drop(struct vtd_iotlb *tlb, bool by_domain, uint16_t domain_id, uint64_t first,
		       uint64_t last)
{
	for (unsigned i = 0; i < IOTLB_ENTRIES; i++) {
		struct vtd_iotlb_entry *e = &tlb->entries[i];
		if (!e->level || (by_domain && e->domain_id != domain_id))
			continue;
		uint64_t start = e->tag << level_shift(e->level);
		uint64_t end = start + ((1ull << level_shift(e->level)) - 1);
		if (start <= last && first <= end)
			e->level = 0;
	}
}

enum vtd_granularity vtd_iotlb_invalidate(struct vtd_iotlb *tlb, enum vtd_granularity granularity,
					  uint16_t domain_id, uint64_t addr, unsigned am,
					  unsigned max_am)
{
	if (granularity == VTD_GRAN_GLOBAL) {
		iotlb_drop(tlb, false, 0, 0, UINT64_MAX);
	} else if (granularity == VTD_GRAN_DEVICE_OR_PAGE && am <= max_am && am < 52) {
		uint64_t size = 1ull << (12 + am), first = addr & ~(size - 1);
		iotlb_drop(tlb, true, domain_id, first, first + (size - 1));
	} else if (granularity != VTD_GRAN_NONE) {
		iotlb_drop(tlb, true, domain_id, 0, UINT64_MAX);
		granularity = VTD_GRAN_DOMAIN;
	}
	return granularity;
}
