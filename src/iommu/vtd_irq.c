#include "iommu/vtd_irq.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

/* VT-d 3.4 §5.1.2.2: a request in remappable format. */
#define ADDR_REMAPPABLE     (1ull << 4)
#define ADDR_SHV            (1ull << 3)
#define ADDR_HANDLE_15      (1ull << 2)
#define ADDR_HANDLE(a)      ((uint32_t)((a) >> 5) & 0x7fff)
#define ADDR_RESERVED       (~0xffffffffull) /* the upper address dword */
#define DATA_SUBHANDLE(d)   ((d) & 0xffff)
#define DATA_RESERVED       0xffff0000u

/* VT-d 3.4 §9.10: an IRTE for remapped interrupts. */
#define IRTE_PRESENT        (1ull << 0)
#define IRTE_FPD            (1ull << 1)
#define IRTE_DM             (1ull << 2)
#define IRTE_RH             (1ull << 3)
#define IRTE_TM             (1ull << 4)
#define IRTE_DLM(lo)        ((uint32_t)((lo) >> 5) & 7)
#define IRTE_POSTED         (1ull << 15) /* IM: posted mode, without CAP.PI a reserved bit */
#define IRTE_VECTOR(lo)     ((uint32_t)((lo) >> 16) & 0xff)
#define IRTE_DST(lo)        ((uint32_t)((lo) >> 32))
#define IRTE_RESERVED_LO    (0x7000ull | 0xff000000ull | IRTE_POSTED)
#define IRTE_XAPIC_DST_RESERVED 0xffff00ff00000000ull /* EIME = 0: only DST[15:8] is the id */
#define IRTE_SID(hi)        ((uint16_t)(hi))
#define IRTE_SQ(hi)         ((unsigned)((hi) >> 16) & 3)
#define IRTE_SVT(hi)        ((unsigned)((hi) >> 18) & 3)
#define IRTE_RESERVED_HI    (~0xfffffull)
#define SVT_NONE            0
#define SVT_SID_SQ          1
#define SVT_BUS_RANGE       2

/* The compatibility-format MSI the remapped request becomes (Intel SDM vol. 3 §11.11). */
#define MSI_ADDRESS_BASE    0xfee00000ull
#define MSI_DATA_ASSERT     (1u << 14)

struct irte {
	uint64_t lo, hi;
};

static int block(struct vtd_irq_fault *fault, enum vtd_fault_reason reason, uint32_t index,
		 bool fpd)
{
	fault->reason = reason;
	fault->index = (uint16_t)index;
	fault->fpd = fpd;
	return -EPERM;
}

/* §5.1.2.2: handle[14:0] in address bits 19:5, handle[15] in bit 2, plus the subhandle. */
static uint32_t interrupt_index(uint64_t address, uint32_t data)
{
	uint32_t handle = ADDR_HANDLE(address) | (address & ADDR_HANDLE_15 ? 1u << 15 : 0);
	return address & ADDR_SHV ? handle + DATA_SUBHANDLE(data) : handle;
}

/* §9.10 SVT/SQ/SID: may `source_id` send through this IRTE? */
static bool source_id_allowed(uint64_t hi, uint16_t source_id)
{
	/* SQ ignores none, bit 2, bits 2:1 or bits 2:0 of the function number. */
	static const uint16_t sq_mask[4] = { 0xffff, 0xfffb, 0xfff9, 0xfff8 };
	uint16_t sid = IRTE_SID(hi);
	uint8_t bus = source_id >> 8;
	switch (IRTE_SVT(hi)) {
	case SVT_NONE:
		return true;
	case SVT_SID_SQ:
		return ((sid ^ source_id) & sq_mask[IRTE_SQ(hi)]) == 0;
	case SVT_BUS_RANGE: /* SID[15:8] the first bus, SID[7:0] the last */
		return bus >= (sid >> 8) && bus <= (sid & 0xff);
	default:
		return false; /* 11b is reserved: checked as such before */
	}
}

static bool has_reserved_bits(const struct irte *e, bool x2apic)
{
	uint64_t lo_reserved = IRTE_RESERVED_LO | (x2apic ? 0 : IRTE_XAPIC_DST_RESERVED);
	return (e->lo & lo_reserved) || (e->hi & IRTE_RESERVED_HI) || IRTE_SVT(e->hi) == 3;
}

/*
 * §5.1.4: the IRTE's fields as a compatibility-format message. xAPIC: the
 * 8-bit id in DST[15:8]; x2APIC: all 32 bits, 7:0 in address bits 19:12
 * and 31:8 in 63:40.
 */
static void compose_msi(const struct irte *e, bool x2apic, uint64_t *address, uint32_t *data)
{
	uint32_t dest = IRTE_DST(e->lo);
	uint64_t addr = MSI_ADDRESS_BASE | (e->lo & IRTE_RH) | (e->lo & IRTE_DM);
	if (x2apic)
		addr |= (uint64_t)(dest & 0xff) << 12 | (uint64_t)(dest >> 8) << 40;
	else
		addr |= (uint64_t)((dest >> 8) & 0xff) << 12;
	*address = addr;
	*data = IRTE_VECTOR(e->lo) | IRTE_DLM(e->lo) << 8 | MSI_DATA_ASSERT |
		(e->lo & IRTE_TM ? 1u << 15 : 0);
}

static int remap_remappable(const struct guest_mem *gm, const struct vtd_irq_table *table,
			    uint16_t source_id, uint64_t *address, uint32_t *data,
			    struct vtd_irq_fault *fault)
{
	if ((*address & ADDR_RESERVED) || (*data & DATA_RESERVED))
		return block(fault, VTD_FAULT_IR_REQUEST_RESERVED, 0, false);
	uint32_t index = interrupt_index(*address, *data);
	if (index >= table->entries)
		return block(fault, VTD_FAULT_IR_INDEX_BEYOND_TABLE, index, false);
	struct irte e;
	if (guest_mem_read(gm, table->base + (uint64_t)index * sizeof(e), &e, sizeof(e)))
		return block(fault, VTD_FAULT_IR_TABLE_ACCESS, index, false);
	e.lo = le64toh(e.lo);
	e.hi = le64toh(e.hi);
	bool fpd = e.lo & IRTE_FPD; /* 22h, 24h and 26h are qualified (Appendix A) */
	if (!(e.lo & IRTE_PRESENT))
		return block(fault, VTD_FAULT_IR_ENTRY_NOT_PRESENT, index, fpd);
	if (has_reserved_bits(&e, table->x2apic))
		return block(fault, VTD_FAULT_IR_ENTRY_RESERVED, index, fpd);
	if (!source_id_allowed(e.hi, source_id))
		return block(fault, VTD_FAULT_IR_SOURCE_ID, index, fpd);
	compose_msi(&e, table->x2apic, address, data);
	return 0;
}

int vtd_irq_remap(const struct guest_mem *gm, const struct vtd_irq_table *table, bool cfis,
		  uint16_t source_id, uint64_t *address, uint32_t *data,
		  struct vtd_irq_fault *fault)
{
	memset(fault, 0, sizeof(*fault));
	if (*address & ADDR_REMAPPABLE)
		return remap_remappable(gm, table, source_id, address, data, fault);
	/* §5.1.2.1: compatibility format passes only with CFIS set and EIME clear. */
	if (cfis && !table->x2apic)
		return 0;
	return block(fault, VTD_FAULT_IR_COMPAT_BLOCKED, 0, false);
}
