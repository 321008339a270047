/*
 * ACPI tables for a vmon x86 guest, written byte by byte in little-endian
 * order (no packed structs, no unaligned accesses). The buffer holds:
 *
 *   RSDP (offset 0) -> XSDT -> FADT -> FACS, DSDT
 *                           -> MADT
 *                           -> MCFG
 *                           -> DMAR (with an IOMMU: dmar.c)
 *
 * in the order RSDP, FACS, DSDT, FADT, MADT, MCFG, DMAR, XSDT, so that every table
 * is written after the ones it points to; only the RSDP, which must come
 * first, is filled in last. Section numbers refer to the ACPI 6.4
 * specification unless another one is named.
 */
#include "arch/x86/acpi.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "arch/x86/acpi_out.h"
#include "arch/x86/dmar.h"
#include "arch/x86/dsdt.h"
#include "arch/x86/layout.h"

/*
 * The MADT's 8-bit IDs: LAPIC IDs 0..nr_cpus-1 and the IOAPIC's nr_cpus must
 * stay below 0xff, which means "all processors" (and is the xAPIC broadcast).
 */
#define MAX_CPUS 254

/* ---- FACS (§5.2.10) ---- */

#define FACS_LENGTH 64

static uint64_t facs_write(struct out *o)
{
	put_align(o, 64); /* §5.2.10: the FACS is 64-byte aligned */
	size_t start = o->len;
	put_bytes(o, "FACS", 4); /* Signature */
	put_u32(o, FACS_LENGTH); /* Length */
	put_u32(o, 0);           /* Hardware Signature */
	put_u32(o, 0);           /* Firmware Waking Vector: no S3 */
	put_u32(o, 0);           /* Global Lock */
	put_u32(o, 0);           /* Flags: no S4BIOS_F, no 64BIT_WAKE_SUPPORTED_F */
	put_u64(o, 0);           /* X Firmware Waking Vector */
	put_u8(o, 2);            /* Version */
	put_zeros(o, 3);         /* Reserved */
	put_u32(o, 0);           /* OSPM Flags */
	put_zeros(o, 24);        /* Reserved */
	return gpa_of(o, start);
}

/* ---- FADT (§5.2.9) ---- */

#define FADT_REVISION       6
#define FADT_MINOR_REVISION 4 /* ACPI 6.4 */

/* §5.2.9 Fixed ACPI Description Table Fixed Feature Flags. */
#define FADT_WBINVD     (1u << 0) /* WBINVD works */
#define FADT_PROC_C1    (1u << 2) /* C1 (HLT) works on all processors */
#define FADT_PWR_BUTTON (1u << 4) /* no fixed-feature power button */
#define FADT_SLP_BUTTON (1u << 5) /* no fixed-feature sleep button */
/* TMR_VAL_EXT (bit 8) clear: the PM timer is 24 bits wide. */
/* RESET_REG_SUP (bit 10) clear: the guest resets through the i8042. */

/* §5.2.9.3 IA-PC Boot Architecture Flags. */
#define IAPC_LEGACY_DEVICES (1u << 0) /* ISA devices not in ACPI namespace may exist */
#define IAPC_8042           (1u << 1)
#define IAPC_VGA_NOT_PRESENT (1u << 2) /* nothing answers VGA ports */

#define LATENCY_NO_C2 0x0fff /* P_LVL2_LAT > 100: C2 not supported */
#define LATENCY_NO_C3 0x0fff /* P_LVL3_LAT > 1000: C3 not supported */

/* §5.2.3.2 Generic Address Structure. */
#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_WORD  2
#define GAS_ACCESS_DWORD 3

/* A fixed-hardware register block in I/O space. */
struct io_block {
	uint16_t port;
	uint8_t len;    /* bytes */
	uint8_t access; /* GAS access size */
};

/* §4.8: PM1 status, enable and control are 16-bit registers. */
static const struct io_block pm1a_evt = { PORT_ACPI_PM1_EVT, 4, GAS_ACCESS_WORD };
static const struct io_block pm1a_cnt = { PORT_ACPI_PM1_CNT, 2, GAS_ACCESS_WORD };
static const struct io_block pm_tmr = { PORT_ACPI_PM_TMR, 4, GAS_ACCESS_DWORD };

static void put_gas_io(struct out *o, const struct io_block *blk)
{
	put_u8(o, GAS_SYSTEM_IO);           /* Address Space ID */
	put_u8(o, (uint8_t)(blk->len * 8)); /* Register Bit Width */
	put_u8(o, 0);                       /* Register Bit Offset */
	put_u8(o, blk->access);             /* Access Size */
	put_u64(o, blk->port);              /* Address */
}

static void put_gas_none(struct out *o)
{
	put_zeros(o, 12);
}

/*
 * Every fixed-hardware block is given twice, as a legacy 32-bit port (with
 * its length in a separate field) and as an X_ GAS; both come from the same
 * io_block so they cannot disagree.
 */
static uint64_t fadt_write(struct out *o, uint64_t facs, uint64_t dsdt)
{
	size_t start = table_begin(o, "FACP", FADT_REVISION);
	put_u32(o, (uint32_t)facs);  /* FIRMWARE_CTRL */
	put_u32(o, (uint32_t)dsdt);  /* DSDT */
	put_u8(o, 0);                /* Reserved (INT_MODEL in ACPI 1.0) */
	put_u8(o, 0);                /* Preferred_PM_Profile: Unspecified */
	put_u16(o, IRQ_ACPI_SCI);    /* SCI_INT */
	put_u32(o, 0);               /* SMI_CMD: none, always in ACPI mode */
	put_u8(o, 0);                /* ACPI_ENABLE */
	put_u8(o, 0);                /* ACPI_DISABLE */
	put_u8(o, 0);                /* S4BIOS_REQ */
	put_u8(o, 0);                /* PSTATE_CNT */
	put_u32(o, pm1a_evt.port);   /* PM1a_EVT_BLK */
	put_u32(o, 0);               /* PM1b_EVT_BLK */
	put_u32(o, pm1a_cnt.port);   /* PM1a_CNT_BLK */
	put_u32(o, 0);               /* PM1b_CNT_BLK */
	put_u32(o, 0);               /* PM2_CNT_BLK */
	put_u32(o, pm_tmr.port);     /* PM_TMR_BLK */
	put_u32(o, 0);               /* GPE0_BLK */
	put_u32(o, 0);               /* GPE1_BLK */
	put_u8(o, pm1a_evt.len);     /* PM1_EVT_LEN */
	put_u8(o, pm1a_cnt.len);     /* PM1_CNT_LEN */
	put_u8(o, 0);                /* PM2_CNT_LEN */
	put_u8(o, pm_tmr.len);       /* PM_TMR_LEN */
	put_u8(o, 0);                /* GPE0_BLK_LEN */
	put_u8(o, 0);                /* GPE1_BLK_LEN */
	put_u8(o, 0);                /* GPE1_BASE */
	put_u8(o, 0);                /* CST_CNT */
	put_u16(o, LATENCY_NO_C2);   /* P_LVL2_LAT */
	put_u16(o, LATENCY_NO_C3);   /* P_LVL3_LAT */
	put_u16(o, 0);               /* FLUSH_SIZE */
	put_u16(o, 0);               /* FLUSH_STRIDE */
	put_u8(o, 0);                /* DUTY_OFFSET */
	put_u8(o, 0);                /* DUTY_WIDTH */
	put_u8(o, 0);                /* DAY_ALRM: no RTC day alarm */
	put_u8(o, 0);                /* MON_ALRM: no RTC month alarm */
	put_u8(o, RTC_CENTURY_INDEX); /* CENTURY: CMOS index of the century byte */
	put_u16(o, IAPC_LEGACY_DEVICES | IAPC_8042 | IAPC_VGA_NOT_PRESENT); /* IAPC_BOOT_ARCH */
	put_u8(o, 0);                /* Reserved */
	put_u32(o, FADT_WBINVD | FADT_PROC_C1 | FADT_PWR_BUTTON | FADT_SLP_BUTTON); /* Flags */
	put_gas_none(o);             /* RESET_REG: not supported */
	put_u8(o, 0);                /* RESET_VALUE */
	put_u16(o, 0);               /* ARM_BOOT_ARCH */
	put_u8(o, FADT_MINOR_REVISION); /* FADT Minor Version */
	/*
	 * X_FIRMWARE_CTRL: "If the FIRMWARE_CTRL field contains a non zero
	 * value then this field must be zero" (§5.2.9); X_DSDT has no
	 * such rule and repeats DSDT.
	 */
	put_u64(o, 0);               /* X_FIRMWARE_CTRL */
	put_u64(o, dsdt);            /* X_DSDT */
	put_gas_io(o, &pm1a_evt);    /* X_PM1a_EVT_BLK */
	put_gas_none(o);             /* X_PM1b_EVT_BLK */
	put_gas_io(o, &pm1a_cnt);    /* X_PM1a_CNT_BLK */
	put_gas_none(o);             /* X_PM1b_CNT_BLK */
	put_gas_none(o);             /* X_PM2_CNT_BLK */
	put_gas_io(o, &pm_tmr);      /* X_PM_TMR_BLK */
	put_gas_none(o);             /* X_GPE0_BLK */
	put_gas_none(o);             /* X_GPE1_BLK */
	put_gas_none(o);             /* SLEEP_CONTROL_REG: hardware-reduced only */
	put_gas_none(o);             /* SLEEP_STATUS_REG: hardware-reduced only */
	put_u64(o, 0);               /* Hypervisor Vendor Identity */
	table_end(o, start);
	return gpa_of(o, start);
}

/* ---- MADT (§5.2.12) ---- */

#define MADT_REVISION    5 /* ACPI 6.3 and 6.4 */
#define MADT_PCAT_COMPAT (1u << 0) /* dual 8259s present, masked when the APICs are used */

/* §5.2.12 Interrupt Controller Structure Types */
enum {
	MADT_LOCAL_APIC       = 0,
	MADT_IO_APIC          = 1,
	MADT_SOURCE_OVERRIDE  = 2,
	MADT_LOCAL_APIC_NMI   = 4,
};

#define LAPIC_ENABLED (1u << 0)

/* §5.2.12.5 MPS INTI Flags */
#define MPS_INTI_CONFORMS    0x0
#define MPS_INTI_ACTIVE_HIGH (1u << 0)
#define MPS_INTI_LEVEL       (3u << 2)

#define ISA_BUS 0
#define ALL_PROCESSORS 0xff
#define LINT1 1

static void madt_entry(struct out *o, uint8_t type, uint8_t len)
{
	put_u8(o, type); /* Type */
	put_u8(o, len);  /* Length, this header included */
}

/* §5.2.12.2 Processor Local APIC: UID and APIC ID are the CPU's index. */
static void madt_local_apic(struct out *o, uint8_t cpu)
{
	madt_entry(o, MADT_LOCAL_APIC, 8);
	put_u8(o, cpu);            /* ACPI Processor UID */
	put_u8(o, cpu);            /* APIC ID */
	put_u32(o, LAPIC_ENABLED); /* Flags */
}

/* §5.2.12.3 I/O APIC */
static void madt_io_apic(struct out *o, uint8_t id, uint32_t addr, uint32_t gsi_base)
{
	madt_entry(o, MADT_IO_APIC, 12);
	put_u8(o, id);        /* I/O APIC ID */
	put_u8(o, 0);         /* Reserved */
	put_u32(o, addr);     /* I/O APIC Address */
	put_u32(o, gsi_base); /* Global System Interrupt Base */
}

/* §5.2.12.5 Interrupt Source Override for an ISA IRQ. */
static void madt_source_override(struct out *o, uint8_t irq, uint32_t gsi, uint16_t flags)
{
	madt_entry(o, MADT_SOURCE_OVERRIDE, 10);
	put_u8(o, ISA_BUS); /* Bus */
	put_u8(o, irq);     /* Source */
	put_u32(o, gsi);    /* Global System Interrupt */
	put_u16(o, flags);  /* Flags */
}

/* §5.2.12.7 Local APIC NMI */
static void madt_local_apic_nmi(struct out *o, uint8_t uid, uint8_t lint)
{
	madt_entry(o, MADT_LOCAL_APIC_NMI, 6);
	put_u8(o, uid);                /* ACPI Processor UID */
	put_u16(o, MPS_INTI_CONFORMS); /* Flags */
	put_u8(o, lint);               /* Local APIC LINT# */
}

/*
 * The ISA IRQs reach the IOAPIC pins of the same number (KVM's default GSI
 * routing, §5.2.12.4), so IRQ 0 needs no override. The SCI does: it is
 * level-triggered, and active high rather than the SCI default of active low
 * (§5.2.9, SCI_INT).
 */
static uint64_t madt_write(struct out *o, unsigned nr_cpus)
{
	size_t start = table_begin(o, "APIC", MADT_REVISION);
	put_u32(o, (uint32_t)LAYOUT_LAPIC_BASE); /* Local Interrupt Controller Address */
	put_u32(o, MADT_PCAT_COMPAT);            /* Flags */
	for (unsigned cpu = 0; cpu < nr_cpus; cpu++)
		madt_local_apic(o, (uint8_t)cpu);
	madt_io_apic(o, (uint8_t)nr_cpus, (uint32_t)LAYOUT_IOAPIC_BASE, 0);
	madt_source_override(o, IRQ_ACPI_SCI, IRQ_ACPI_SCI,
			     MPS_INTI_ACTIVE_HIGH | MPS_INTI_LEVEL);
	madt_local_apic_nmi(o, ALL_PROCESSORS, LINT1);
	table_end(o, start);
	return gpa_of(o, start);
}

/*
 * ---- MCFG (PCI Firmware Specification 3.2 §4.1.2) ----
 *
 * The header (revision 1), 8 reserved bytes, and one configuration space
 * base address allocation structure per ECAM region: ours covers segment
 * 0, buses PCI_BUS_FIRST..PCI_BUS_LAST. (Its base address is that of bus
 * 0's area even when the range starts at another bus.)
 */
#define MCFG_REVISION 1

static uint64_t mcfg_write(struct out *o)
{
	size_t start = table_begin(o, "MCFG", MCFG_REVISION);
	put_zeros(o, 8);                  /* Reserved */
	put_u64(o, LAYOUT_PCI_ECAM_BASE); /* Base Address */
	put_u16(o, PCI_SEGMENT);          /* PCI Segment Group Number */
	put_u8(o, PCI_BUS_FIRST);         /* Start Bus Number */
	put_u8(o, PCI_BUS_LAST);          /* End Bus Number */
	put_u32(o, 0);                    /* Reserved */
	table_end(o, start);
	return gpa_of(o, start);
}

/* ---- XSDT (§5.2.8) and RSDP (§5.2.5.3) ---- */

static uint64_t xsdt_write(struct out *o, const uint64_t *tables, size_t n)
{
	size_t start = table_begin(o, "XSDT", 1);
	for (size_t i = 0; i < n; i++)
		put_u64(o, tables[i]); /* Entry */
	table_end(o, start);
	return gpa_of(o, start);
}

#define RSDP_LENGTH        36
#define RSDP_V1_LENGTH     20 /* what the first checksum covers */
#define RSDP_CHECKSUM      8  /* offsets in the RSDP */
#define RSDP_EXT_CHECKSUM  32

/* Written at the cursor, which is at offset 0. */
static void rsdp_write(struct out *o, uint64_t xsdt)
{
	put_bytes(o, "RSD PTR ", 8); /* Signature */
	put_u8(o, 0);                /* Checksum: below */
	put_bytes(o, OEM_ID, 6);     /* OEMID */
	put_u8(o, 2);                /* Revision: 2 has the XSDT fields */
	put_u32(o, 0);               /* RsdtAddress: no RSDT, the OS uses the XSDT */
	put_u32(o, RSDP_LENGTH);     /* Length */
	put_u64(o, xsdt);            /* XsdtAddress */
	put_u8(o, 0);                /* Extended Checksum: below */
	put_zeros(o, 3);             /* Reserved */
	put_checksum(o, 0, RSDP_V1_LENGTH, RSDP_CHECKSUM);
	put_checksum(o, 0, RSDP_LENGTH, RSDP_EXT_CHECKSUM);
}

/* The FADT's 32-bit pointers (FIRMWARE_CTRL, DSDT) must reach every table. */
static bool below_4g(uint64_t gpa, size_t len)
{
	return gpa <= 4 * GiB && len <= 4 * GiB - gpa;
}

/* What the DSDT can announce: a window below 4 GiB, an IOAPIC pin. */
static bool mmio_devices_valid(const struct acpi_config *cfg)
{
	if (cfg->nr_mmio_devices > ACPI_MAX_MMIO_DEVICES || (cfg->nr_mmio_devices && !cfg->mmio_devices))
		return false;
	for (unsigned i = 0; i < cfg->nr_mmio_devices; i++) {
		const struct acpi_mmio_device *dev = &cfg->mmio_devices[i];
		if (dev->size == 0 || !below_4g(dev->base, dev->size) || dev->gsi >= LAYOUT_IOAPIC_PINS)
			return false;
	}
	return true;
}

long acpi_build(uint8_t *buf, size_t cap, const struct acpi_config *cfg)
{
	if (cfg->nr_cpus == 0 || cfg->nr_cpus > MAX_CPUS)
		return -EINVAL;
	if (cfg->base_gpa % 16) /* §5.2.5.1: the RSDP scan looks at 16-byte boundaries */
		return -EINVAL;
	if (!mmio_devices_valid(cfg))
		return -EINVAL;

	struct out o = { .buf = buf, .cap = cap, .gpa = cfg->base_gpa };
	put_zeros(&o, RSDP_LENGTH); /* filled in last */
	uint64_t facs = facs_write(&o);
	uint64_t dsdt = dsdt_write(&o, cfg);
	uint64_t tables[4];
	size_t nr_tables = 0;
	tables[nr_tables++] = fadt_write(&o, facs, dsdt);
	tables[nr_tables++] = madt_write(&o, cfg->nr_cpus);
	tables[nr_tables++] = mcfg_write(&o);
	if (cfg->dmar)
		tables[nr_tables++] = dmar_write(&o, cfg);
	uint64_t xsdt = xsdt_write(&o, tables, nr_tables);
	struct out rsdp = out_at(&o, 0);
	rsdp_write(&rsdp, xsdt);

	if (!below_4g(cfg->base_gpa, o.len))
		return -EINVAL;
	if (o.len > cap)
		return -ENOSPC;
	return (long)o.len;
}
