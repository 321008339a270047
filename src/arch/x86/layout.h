/*
 * The guest-physical and I/O-port map of a vmon x86 machine. One place, so
 * that the e820 map, the ACPI tables and the devices agree.
 */
#ifndef VMON_ARCH_X86_LAYOUT_H
#define VMON_ARCH_X86_LAYOUT_H

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)

/* Low memory: boot structures built by vmon, below the EBDA. */
#define LAYOUT_GDT            0x0500ull  /* boot GDT, 8 entries */
#define LAYOUT_PVH_START_INFO 0x6000ull  /* struct hvm_start_info + modlist */
#define LAYOUT_PVH_MEMMAP     0x6800ull  /* hvm_memmap_table_entry[] */
#define LAYOUT_ZERO_PAGE      0x7000ull  /* struct boot_params */
#define LAYOUT_PML4           0x9000ull  /* identity map of the first 4 GiB */
#define LAYOUT_PDPT           0xa000ull
#define LAYOUT_PD             0xb000ull  /* 4 pages of 2 MiB entries */
#define LAYOUT_CMDLINE        0x20000ull
#define LAYOUT_CMDLINE_MAX    0x10000ull /* bytes, NUL included */

/* The legacy hole: EBDA, VGA and BIOS area, reserved in e820. */
#define LAYOUT_EBDA_START     0x9fc00ull
#define LAYOUT_HIGH_MEMORY    0x100000ull  /* 1 MiB: kernels load here */

/* ACPI tables live in the BIOS area so that an RSDP scan finds them too. */
#define LAYOUT_ACPI_START     0xe0000ull
#define LAYOUT_ACPI_SIZE      0x10000ull

/* The 32-bit PCI hole: MMIO between here and 4 GiB, RAM resumes above. */
#define LAYOUT_PCI_HOLE_START (3 * GiB)
#define LAYOUT_HIGH_RAM_START (4 * GiB)

#define LAYOUT_IOAPIC_BASE    0xfec00000ull
#define LAYOUT_LAPIC_BASE     0xfee00000ull

/*
 * --iommu intel: the VT-d unit's registers, one 4 KiB page between the
 * HPET's usual place and the LAPIC, announced by the DMAR table's DRHD
 * (VT-d 3.4 §8.3). The IOAPIC has no PCI function; the DMAR device scope
 * gives it this requester id (bus 0xff, devfn 0), outside the PCI bus we
 * emulate, for interrupt remapping's source-id checks.
 */
#define LAYOUT_VTD_BASE         0xfed90000ull
#define LAYOUT_VTD_SIZE         0x1000ull
#define LAYOUT_IOAPIC_SOURCE_ID 0xff00
/* --test-hooks: the DMA probe's 8 bytes (devices/test/dma_probe.h), the page after. */
#define LAYOUT_DMA_PROBE_BASE   0xfed91000ull

/* I/O ports. */
#define PORT_COM1         0x3f8
#define IRQ_COM1          4
#define PORT_RTC          0x70   /* index, data at +1 */
#define IRQ_RTC           8
#define RTC_CENTURY_INDEX 0x32   /* CMOS byte holding the century, in FADT.CENTURY */
#define PORT_I8042_DATA   0x60
#define PORT_I8042_CMD    0x64
#define IRQ_I8042_KBD     1
#define PORT_ACPI_PM1_EVT 0x600  /* PM1a status (2 bytes) + enable (2 bytes) */
#define PORT_ACPI_PM1_CNT 0x604  /* PM1a control, 2 bytes */
#define PORT_ACPI_PM_TMR  0x608  /* PM timer, 4 bytes */
#define IRQ_ACPI_SCI      9

/* The SLP_TYP value our DSDT's \_S5 package announces (ACPI 6.4 §7.4.2). */
#define ACPI_S5_SLP_TYP   5

/*
 * ---- PCI (host bridge, segment 0, bus 0 only) ----
 *
 * Guest-physical layout of the 32-bit PCI hole:
 *
 *   0xc0000000 - 0xdfffffff  32-bit BAR window (512 MiB)
 *   0xe0000000 - 0xe00fffff  ECAM (MMCONFIG): bus 0, 32 devices x 8
 *                            functions x 4 KiB (PCIe Base 4.0 §7.2.2);
 *                            reserved in e820 and by \_SB.MRES
 *   0xfec00000, 0xfee00000   IOAPIC and LAPIC (above)
 *
 * The 64-bit window [256 GiB, 512 GiB) needs a guest MAXPHYADDR of at least
 * 39 bits, and assumes guest RAM above 4 GiB ends at or below 256 GiB.
 * The ACPI tables (MCFG, \_SB.PCI0._CRS) announce exactly these windows.
 */
#define LAYOUT_PCI_MMIO32_START LAYOUT_PCI_HOLE_START /* 0xc0000000 */
#define LAYOUT_PCI_MMIO32_SIZE  0x20000000ull         /* 512 MiB, ends at the ECAM */
#define LAYOUT_PCI_ECAM_BASE    0xe0000000ull
#define LAYOUT_PCI_ECAM_SIZE    0x100000ull           /* 1 MiB: bus 0 only */
#define LAYOUT_PCI_MMIO64_START 0x4000000000ull       /* 256 GiB */
#define LAYOUT_PCI_MMIO64_SIZE  0x4000000000ull       /* 256 GiB */

#define PORT_PCI_CONFIG_ADDRESS 0xcf8  /* configuration mechanism #1 (PCI 3.0 §3.2.2.3.2) */
#define PORT_PCI_CONFIG_DATA    0xcfc
#define PORT_PCI_IO_START       0xc000 /* window for I/O BARs: 0xc000 - 0xffff */
#define PORT_PCI_IO_SIZE        0x4000

/*
 * ---- virtio-mmio (virtio 1.2 §4.2) ----
 *
 * Up to 8 register windows of 0x200 bytes, one per 4 KiB page from
 * 0xfe000000: above the ECAM, below the IOAPIC, outside the PCI windows
 * (so PCI never allocates BARs there) and not RAM (nothing in e820).
 * Device i has window LAYOUT_VIRTIO_MMIO_ADDR(i) and interrupt
 * GSI_VIRTIO_MMIO(i): IOAPIC pins 16-23, above the ISA IRQs, and
 * level-triggered active-high, as the DSDT announces them (\_SB.VRnn,
 * _HID "LNRO0005") and as KVM's in-kernel IOAPIC drives KVM_IRQ_LINE.
 */
#define LAYOUT_VIRTIO_MMIO_BASE   0xfe000000ull
#define LAYOUT_VIRTIO_MMIO_STRIDE 0x1000ull
#define LAYOUT_VIRTIO_MMIO_SIZE   0x200ull   /* = VIRTIO_MMIO_SIZE */
#define LAYOUT_VIRTIO_MMIO_MAX    8
#define LAYOUT_VIRTIO_MMIO_ADDR(i) (LAYOUT_VIRTIO_MMIO_BASE + (i) * LAYOUT_VIRTIO_MMIO_STRIDE)
#define LAYOUT_IOAPIC_PINS        24         /* KVM's IOAPIC: GSIs 0-23 */
#define GSI_VIRTIO_MMIO_BASE      16
#define GSI_VIRTIO_MMIO(i)        (GSI_VIRTIO_MMIO_BASE + (i))

#endif
