/*
 * Intel VT-d DMA remapping in legacy mode (VT-d 3.4 §3.4.2): the walk from
 * a device's DMA address (IOVA) to a guest-physical address through the
 * root table, the context tables and the second-level page tables that the
 * guest built in its RAM.
 *
 * A pure function of guest memory: no registers, no caches, no fault
 * recording (the unit that owns RTADDR, the IOTLB and the fault registers
 * builds on it). Every table entry is read once with guest_mem_read and
 * only that copy is checked and used; a table outside guest RAM is a fault.
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

/* VT-d 3.4 Appendix A: the non-recoverable fault reasons this walk gives. */
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

/*
 * Translates `iova` for the requester `source_id` (bus << 8 | devfn), for
 * a write or a read, through the tables at `root_table` (RTADDR_REG.RTA,
 * 4 KiB-aligned). 0 with *out filled, or -EFAULT with *fault filled.
 */
int vtd_translate(const struct guest_mem *gm, uint64_t root_table, uint16_t source_id,
		  uint64_t iova, bool write, struct vtd_translation *out, struct vtd_fault *fault);

#endif
