/*
 * The DMAR table: one DMA-remapping hardware unit (DRHD) at
 * LAYOUT_VTD_BASE covering every PCI device of segment 0, with the IOAPIC
 * in its device scope so that interrupt remapping can name it. Section
 * numbers are those of the Intel VT-d specification, revision 3.4.
 */
#include "arch/x86/dmar.h"

#include "arch/x86/layout.h"
#include "iommu/vtd_translate.h"

#define DMAR_REVISION 1

/* §8.1 Flags */
#define DMAR_INTR_REMAP 0x1

/* §8.2 Remapping structure types, §8.3 DRHD flags */
#define DMAR_TYPE_DRHD         0
#define DRHD_INCLUDE_PCI_ALL   0x1

/* §8.3.1 Device scope entry types */
#define SCOPE_IOAPIC 0x03
#define SCOPE_LENGTH 8 /* the 6-byte header and one path entry */
#define DRHD_LENGTH  (16 + SCOPE_LENGTH)

/*
 * §8.3.1: an IOAPIC named by its MADT ID, at the requester id vmon's
 * IOAPIC uses as source-id (start bus, then one device/function path).
 */
static void dmar_ioapic_scope(struct out *o, uint8_t ioapic_id)
{
	put_u8(o, SCOPE_IOAPIC);                        /* Type */
	put_u8(o, SCOPE_LENGTH);                        /* Length */
	put_u8(o, 0);                                   /* Flags */
	put_u8(o, 0);                                   /* Reserved */
	put_u8(o, ioapic_id);                           /* Enumeration ID */
	put_u8(o, LAYOUT_IOAPIC_SOURCE_ID >> 8);        /* Start Bus Number */
	put_u8(o, (LAYOUT_IOAPIC_SOURCE_ID >> 3) & 0x1f); /* Path: Device */
	put_u8(o, LAYOUT_IOAPIC_SOURCE_ID & 0x7);       /* Path: Function */
}

/* §8.3: one register page (Size 0: 2^0 pages), segment 0, all PCI devices. */
static void dmar_drhd(struct out *o, uint8_t ioapic_id)
{
	put_u16(o, DMAR_TYPE_DRHD);       /* Type */
	put_u16(o, DRHD_LENGTH);          /* Length */
	put_u8(o, DRHD_INCLUDE_PCI_ALL);  /* Flags */
	put_u8(o, 0);                     /* Size */
	put_u16(o, 0);                    /* Segment Number */
	put_u64(o, LAYOUT_VTD_BASE);      /* Register Base Address */
	dmar_ioapic_scope(o, ioapic_id);
}

uint64_t dmar_write(struct out *o, const struct acpi_config *cfg)
{
	size_t start = table_begin(o, "DMAR", DMAR_REVISION);
	put_u8(o, VTD_HOST_ADDRESS_WIDTH - 1);                  /* Host Address Width: N + 1 bits */
	put_u8(o, cfg->dmar_intremap ? DMAR_INTR_REMAP : 0);    /* Flags */
	put_zeros(o, 10);                                       /* Reserved */
	/* The MADT gives the IOAPIC the ID after the last CPU's. */
	dmar_drhd(o, (uint8_t)cfg->nr_cpus);
	table_end(o, start);
	return gpa_of(o, start);
}
