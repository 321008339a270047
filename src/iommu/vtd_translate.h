/*
 * Intel VT-d DMA remapping in legacy mode (VT-d 3.4 §3.4.2): the walk from
 * a device's DMA address (IOVA) to a guest-physical address through the
 * root table, the context tables and the second-level page tables that the
 * guest built in its RAM, and the two caches a unit keeps in front of it:
 * the context cache and the IOTLB (§6.2).
 *
 * The walk is a pure function of guest memory; the caches are plain data.
 * No registers, no locks, no fault recording: the unit that owns RTADDR,
 * the invalidation registers and the fault registers (vtd.c) builds on
 * them and serialises them. Every table entry is read once with
 * guest_mem_read and only that copy is checked and used; a table outside
 * guest RAM is a fault.
 */
#ifndef VMON_IOMMU_VTD_TRANSLATE_H
#define VMON_IOMMU_VTD_TRANSLATE_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/guest_mem.h"

/*
 * The host address width (the DMAR table's HAW, VT-d 3.4 §8.1): table
 * pointers and page addresses above it are reserved bits.
 */
#define VTD_HOST_ADDRESS_WIDTH 48

/*
 * VT-d 3.4 Appendix A: the non-recoverable fault reasons of the walk
 * (01h-0Ch), of RTADDR_REG (30h) and of interrupt remapping (20h-26h).
 */
enum vtd_fault_reason {
	VTD_FAULT_NONE = 0x0,                 /* 0h is reserved: no fault */
	VTD_FAULT_ROOT_NOT_PRESENT = 0x1,
	VTD_FAULT_CONTEXT_NOT_PRESENT = 0x2,
	VTD_FAULT_CONTEXT_INVALID = 0x3,      /* AW or TT unsupported, SLPTPTR unreadable */
	VTD_FAULT_BEYOND_ADDRESS_WIDTH = 0x4,
	VTD_FAULT_WRITE = 0x5,                /* a write without W (or not present) along the walk */
	VTD_FAULT_READ = 0x6,                 /* a read without R (or not present) along the walk */
	VTD_FAULT_PAGING_ENTRY_ACCESS = 0x7,  /* a lower page table outside guest RAM */
	VTD_FAULT_ROOT_TABLE_ACCESS = 0x8,
	VTD_FAULT_CONTEXT_TABLE_ACCESS = 0x9,
	VTD_FAULT_ROOT_RESERVED = 0xa,
	VTD_FAULT_CONTEXT_RESERVED = 0xb,
	VTD_FAULT_PAGING_ENTRY_RESERVED = 0xc,
	VTD_FAULT_IR_REQUEST_RESERVED = 0x20, /* reserved bits in a remappable request */
	VTD_FAULT_IR_INDEX_BEYOND_TABLE = 0x21,
	VTD_FAULT_IR_ENTRY_NOT_PRESENT = 0x22,
	VTD_FAULT_IR_TABLE_ACCESS = 0x23,     /* the IRTE is outside guest RAM */
	VTD_FAULT_IR_ENTRY_RESERVED = 0x24,   /* reserved bits, posted mode, SVT = 11b */
	VTD_FAULT_IR_COMPAT_BLOCKED = 0x25,   /* compatibility format with EIME set or CFIS clear */
	VTD_FAULT_IR_SOURCE_ID = 0x26,        /* the requester fails the IRTE's SVT/SQ/SID check */
	VTD_FAULT_ROOT_TABLE_MODE = 0x30,     /* RTADDR_REG.TTM is not legacy mode */
};

struct vtd_translation {
	uint64_t gpa;       /* guest-physical address of the IOVA */
	uint64_t page_size; /* 4 KiB, 2 MiB or 1 GiB: the aligned page around the IOVA this covers */
	bool readable;      /* R and W along the whole walk: what an IOTLB may grant later */
	bool writable;
	uint16_t domain_id;
	bool pass_through;  /* TT = 10b: gpa = iova, no second-level tables */
};

struct vtd_fault {
	enum vtd_fault_reason reason;
	/*
	 * Do not record it: the context entry's FPD bit is set and the fault
	 * is a qualified one (VT-d 3.4 ch. 7, Appendix A; §9.3: FPD counts
	 * even in a context entry that is not present).
	 */
	bool fpd;
};

/* A present, valid legacy-mode context entry, decoded (VT-d 3.4 §9.3). */
struct vtd_context {
	uint64_t table;     /* SLPTPTR: the top second-level table */
	unsigned levels;    /* 3 (AW = 39 bits) or 4 (AW = 48 bits) */
	uint16_t domain_id;
	bool pass_through;  /* TT = 10b */
	bool fpd;           /* faults in this context are not recorded */
};

/*
 * The context entry of requester `source_id` (bus << 8 | devfn) in the
 * tables at `root_table`: 0 with *ctx filled, or -EFAULT with *fault.
 */
int vtd_find_context(const struct guest_mem *gm, uint64_t root_table, uint16_t source_id,
		     struct vtd_context *ctx, struct vtd_fault *fault);

/*
 * Translates `iova` in a context vtd_find_context gave (which an IOTLB
 * may have cached): 0 with *out filled, or -EFAULT with *fault.
 */
int vtd_translate_in_context(const struct guest_mem *gm, const struct vtd_context *ctx,
			     uint64_t iova, bool write, struct vtd_translation *out,
			     struct vtd_fault *fault);

/*
 * Both steps: translates `iova` for the requester `source_id` (bus << 8 | devfn), for
 * a write or a read, through the tables at `root_table` (RTADDR_REG.RTA,
 * 4 KiB-aligned). 0 with *out filled, or -EFAULT with *fault filled.
 */
int vtd_translate(const struct guest_mem *gm, uint64_t root_table, uint16_t source_id,
		  uint64_t iova, bool write, struct vtd_translation *out, struct vtd_fault *fault);

/* The granularity of an invalidation request, and of the one performed (§10.4.7, §10.4.8.1). */
enum vtd_granularity {
	VTD_GRAN_NONE = 0, /* a reserved request: nothing done */
	VTD_GRAN_GLOBAL = 1,
	VTD_GRAN_DOMAIN = 2,
	VTD_GRAN_DEVICE_OR_PAGE = 3, /* device-selective (context cache), page-selective (IOTLB) */
};

/* The context cache: decoded context entries by source id, direct-mapped. */
#define VTD_CONTEXT_CACHE_ENTRIES 256

struct vtd_context_cache {
	struct {
		bool valid;
		uint16_t source_id;
		struct vtd_context ctx;
	} entries[VTD_CONTEXT_CACHE_ENTRIES];
};

bool vtd_context_cache_lookup(const struct vtd_context_cache *cc, uint16_t source_id,
			      struct vtd_context *ctx);
void vtd_context_cache_insert(struct vtd_context_cache *cc, uint16_t source_id,
			      const struct vtd_context *ctx);

/*
 * §6.5.1.1, §6.5.2.1: global, by domain, or by device (`fm`, the function
 * mask, ignores none, bit 2, bits 2:1 or 2:0 of the function number).
 * Returns the granularity performed.
 */
enum vtd_granularity vtd_context_cache_invalidate(struct vtd_context_cache *cc,
						  enum vtd_granularity granularity,
						  uint16_t domain_id, uint16_t source_id, unsigned fm);

/*
 * The IOTLB: second-level translations by domain id and IOVA page (4 KiB,
 * 2 MiB or 1 GiB), with the rights of the walk that found them.
 */
#define VTD_IOTLB_BITS 9 /* 512 entries, direct-mapped */

struct vtd_iotlb {
	struct vtd_iotlb_entry {
		uint64_t tag;   /* iova >> the page's shift */
		uint64_t gpa;   /* the page's guest-physical base */
		uint16_t domain_id;
		uint8_t level;  /* 1: 4 KiB, 2: 2 MiB, 3: 1 GiB; 0: empty */
		bool readable, writable;
	} entries[1u << VTD_IOTLB_BITS];
};

/* The translation of `iova` in domain `domain_id`, if cached: 0 with *out filled, or -ENOENT. */
int vtd_iotlb_lookup(const struct vtd_iotlb *tlb, uint16_t domain_id, uint64_t iova,
		     struct vtd_translation *out);
void vtd_iotlb_insert(struct vtd_iotlb *tlb, uint16_t domain_id, uint64_t iova,
		      const struct vtd_translation *tr);

/*
 * §6.5.1.2, §6.5.2.3: global, by domain, or the 2^am pages around `addr`
 * in the domain (a mask beyond `max_am` takes the whole domain). Returns
 * the granularity performed.
 */
enum vtd_granularity vtd_iotlb_invalidate(struct vtd_iotlb *tlb, enum vtd_granularity granularity,
					  uint16_t domain_id, uint64_t addr, unsigned am,
					  unsigned max_am);

#endif
