/* The DSDT's contents (ACPI 6.4 §5.2.11.1), encoded with aml.c. */
#include "arch/x86/dsdt.h"

#include <string.h>

#include "arch/x86/aml.h"
#include "arch/x86/layout.h"

/* A legacy ISA device: Device (name) { _HID, _UID, _CRS }. */
struct isa_device {
	const char *name;
	const char *hid; /* EISA ID */
	unsigned uid;    /* 0: no _UID, the only device with its _HID */
	unsigned nr_io;
	struct {
		uint16_t base;
		uint8_t len;
	} io[2];
	int irq; /* -1: none */
};

static const struct isa_device isa_devices[] = {
	{ /* 16550 UART */
		.name = "COM1", .hid = "PNP0501", .uid = 1,
		.nr_io = 1, .io = { { PORT_COM1, 8 } }, .irq = IRQ_COM1,
	},
	{ /*
	   * AT real-time clock: index and data ports. Our RTC raises no
	   * interrupts (rtc_cmos.c), so it announces none: Linux then polls
	   * for updates instead of waiting for an IRQ 8 that never comes.
	   */
		.name = "RTC", .hid = "PNP0B00",
		.nr_io = 1, .io = { { PORT_RTC, 2 } }, .irq = -1,
	},
	{ /* i8042 keyboard controller: data and command/status ports */
		.name = "KBD", .hid = "PNP0303",
		.nr_io = 2, .io = { { PORT_I8042_DATA, 1 }, { PORT_I8042_CMD, 1 } },
		.irq = IRQ_I8042_KBD,
	},
};

/*
 * Device (COM1)
 * {
 *     Name (_HID, EisaId ("PNP0501"))
 *     Name (_UID, One)
 *     Name (_CRS, ResourceTemplate () {
 *         IO (Decode16, 0x03F8, 0x03F8, 0x01, 0x08)
 *         IRQNoFlags () {4}
 *     })
 * }
 */
static void aml_isa_device(struct out *o, const struct isa_device *dev)
{
	size_t device = aml_device_open(o, dev->name);
	aml_name_integer(o, "_HID", eisa_id(dev->hid));
	if (dev->uid)
		aml_name_integer(o, "_UID", dev->uid);

	size_t crs = aml_crs_open(o);
	for (unsigned i = 0; i < dev->nr_io; i++)
		aml_io(o, dev->io[i].base, dev->io[i].len);
	if (dev->irq >= 0)
		aml_irq_noflags(o, (unsigned)dev->irq);
	aml_crs_close(o, crs);

	aml_close(o, device);
}

/* ---- PCI host bridge ---- */

/* The layout the tables below describe: windows disjoint, each in range of its descriptor. */
_Static_assert(LAYOUT_PCI_MMIO32_START + LAYOUT_PCI_MMIO32_SIZE <= LAYOUT_PCI_ECAM_BASE,
	       "32-bit PCI window overlaps the ECAM");
_Static_assert(LAYOUT_PCI_ECAM_BASE + LAYOUT_PCI_ECAM_SIZE <= LAYOUT_IOAPIC_BASE,
	       "ECAM overlaps the IOAPIC");
_Static_assert(LAYOUT_PCI_MMIO32_START >= LAYOUT_PCI_HOLE_START, "32-bit PCI window overlaps RAM");
_Static_assert(LAYOUT_PCI_MMIO64_START >= LAYOUT_HIGH_RAM_START, "64-bit PCI window below 4 GiB");
_Static_assert(PORT_PCI_IO_START + PORT_PCI_IO_SIZE <= 0x10000, "PCI I/O window past 0xffff");

_Static_assert(LAYOUT_PCI_ECAM_SIZE == (PCI_BUS_LAST - PCI_BUS_FIRST + 1) * MiB,
	       "ECAM size does not match the bus range");

#define PCI_CONFIG_PORTS 8 /* CONFIG_ADDRESS 0xcf8-0xcfb, CONFIG_DATA 0xcfc-0xcff */
_Static_assert(PORT_PCI_CONFIG_DATA == PORT_PCI_CONFIG_ADDRESS + 4, "config ports not adjacent");
/* Above every fixed port: the ISA devices, the ACPI blocks, the config ports. */
_Static_assert(PORT_PCI_IO_START >= PORT_PCI_CONFIG_ADDRESS + PCI_CONFIG_PORTS &&
	       PORT_PCI_IO_START > PORT_ACPI_PM_TMR + 4, "PCI I/O window overlaps fixed ports");

/*
 * The PCI Express host bridge (§6.1.5 _HID, §6.1.2 _CID, §6.5.5 _BBN, §6.5.6 _SEG).
 * Its _CRS (§6.2.2) consumes the mechanism #1 ports, as QEMU's does, and
 * produces the bus range and the windows the BARs are allocated from. The
 * 32-bit window is non-cacheable (non-prefetchable BARs go there), the
 * 64-bit one cacheable, as in QEMU; Linux treats both alike, since only
 * Prefetchable would restrict what it places in a window. No _PRT: the
 * devices use MSI-X only (interrupt pin 0). No _OSC (§6.2.11): without it
 * Linux leaves native PCIe hotplug, AER, PME, LTR and ASPM off, none of
 * which we emulate.
 *
 *   Device (PCI0)
 *   {
 *       Name (_HID, EisaId ("PNP0A08"))  // PCI Express root bridge
 *       Name (_CID, EisaId ("PNP0A03"))  // PCI root bridge
 *       Name (_SEG, Zero)
 *       Name (_BBN, Zero)
 *       Name (_UID, Zero)
 *       Name (_CRS, ResourceTemplate () {
 *           WordBusNumber (..., 0x0000, 0x0000, 0x0000, 0x0000, 0x0001)
 *           IO (Decode16, 0x0CF8, 0x0CF8, 0x01, 0x08)
 *           WordIO (..., PORT_PCI_IO_START, + PORT_PCI_IO_SIZE - 1, ...)
 *           DWordMemory (..., LAYOUT_PCI_MMIO32_START, + SIZE - 1, ...)
 *           QWordMemory (..., LAYOUT_PCI_MMIO64_START, + SIZE - 1, ...)
 *       })
 *   }
 */
static void aml_pci_host_bridge(struct out *o)
{
	size_t device = aml_device_open(o, "PCI0");
	aml_name_integer(o, "_HID", eisa_id("PNP0A08"));
	aml_name_integer(o, "_CID", eisa_id("PNP0A03"));
	aml_name_integer(o, "_SEG", PCI_SEGMENT);
	aml_name_integer(o, "_BBN", PCI_BUS_FIRST);
	aml_name_integer(o, "_UID", 0);

	size_t crs = aml_crs_open(o);
	aml_word_bus_number(o, PCI_BUS_FIRST, PCI_BUS_LAST - PCI_BUS_FIRST + 1);
	aml_io(o, PORT_PCI_CONFIG_ADDRESS, PCI_CONFIG_PORTS);
	aml_word_io(o, PORT_PCI_IO_START, PORT_PCI_IO_SIZE);
	aml_dword_memory(o, ADDR_MEM_NONCACHEABLE, (uint32_t)LAYOUT_PCI_MMIO32_START,
			 (uint32_t)LAYOUT_PCI_MMIO32_SIZE);
	aml_qword_memory(o, ADDR_MEM_CACHEABLE, LAYOUT_PCI_MMIO64_START, LAYOUT_PCI_MMIO64_SIZE);
	aml_crs_close(o, crs);

	aml_close(o, device);
}

/*
 * Motherboard resources (PNP0C02): the ECAM area. Linux uses an MCFG
 * region only if it is reserved in E820 or by a PNP0C01/PNP0C02 _CRS
 * (PCI Firmware 3.2 §4.1.2 asks for the latter), so we do both.
 *
 *   Device (MRES)
 *   {
 *       Name (_HID, EisaId ("PNP0C02"))
 *       Name (_CRS, ResourceTemplate () {
 *           Memory32Fixed (ReadWrite, LAYOUT_PCI_ECAM_BASE, LAYOUT_PCI_ECAM_SIZE)
 *       })
 *   }
 */
static void aml_motherboard_resources(struct out *o)
{
	size_t device = aml_device_open(o, "MRES");
	aml_name_integer(o, "_HID", eisa_id("PNP0C02"));
	size_t crs = aml_crs_open(o);
	aml_memory32_fixed(o, (uint32_t)LAYOUT_PCI_ECAM_BASE, (uint32_t)LAYOUT_PCI_ECAM_SIZE);
	aml_crs_close(o, crs);
	aml_close(o, device);
}

/* ---- virtio-mmio devices ---- */

/* The layout's windows: in the hole between the ECAM and the IOAPIC, one per page. */
_Static_assert(LAYOUT_PCI_MMIO32_START + LAYOUT_PCI_MMIO32_SIZE <= LAYOUT_VIRTIO_MMIO_BASE,
	       "virtio-mmio windows overlap the 32-bit PCI window");
_Static_assert(LAYOUT_PCI_ECAM_BASE + LAYOUT_PCI_ECAM_SIZE <= LAYOUT_VIRTIO_MMIO_BASE,
	       "virtio-mmio windows overlap the ECAM");
_Static_assert(LAYOUT_VIRTIO_MMIO_ADDR(LAYOUT_VIRTIO_MMIO_MAX - 1) + LAYOUT_VIRTIO_MMIO_SIZE <=
	       LAYOUT_IOAPIC_BASE, "virtio-mmio windows overlap the IOAPIC");
_Static_assert(LAYOUT_VIRTIO_MMIO_SIZE <= LAYOUT_VIRTIO_MMIO_STRIDE &&
	       LAYOUT_VIRTIO_MMIO_BASE % LAYOUT_VIRTIO_MMIO_STRIDE == 0,
	       "virtio-mmio windows overlap each other");
_Static_assert(LAYOUT_VIRTIO_MMIO_MAX == ACPI_MAX_MMIO_DEVICES, "virtio-mmio device counts disagree");
/* Their lines: IOAPIC pins above the ISA IRQs (and so the SCI), and below the IOAPIC's last. */
_Static_assert(GSI_VIRTIO_MMIO_BASE >= 16 && GSI_VIRTIO_MMIO_BASE > IRQ_ACPI_SCI,
	       "virtio-mmio GSIs in the ISA range");
_Static_assert(GSI_VIRTIO_MMIO(LAYOUT_VIRTIO_MMIO_MAX - 1) < LAYOUT_IOAPIC_PINS,
	       "virtio-mmio GSIs past the IOAPIC's pins");

/*
 * A virtio-mmio device (virtio 1.2 §4.2.1) as Linux's virtio_mmio driver
 * finds it without a command line: by _HID "LNRO0005" (a string, not an
 * EISA ID), with its window and line in _CRS. For index 1, window
 * 0xFE001000 and GSI 17:
 *
 *   Device (VR01)
 *   {
 *       Name (_HID, "LNRO0005")
 *       Name (_UID, One)
 *       Name (_CRS, ResourceTemplate () {
 *           Memory32Fixed (ReadWrite, 0xFE001000, 0x00000200)
 *           Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive) { 0x00000011 }
 *       })
 *   }
 */
static void aml_virtio_mmio_device(struct out *o, unsigned index, const struct acpi_mmio_device *dev)
{
	static const char hex[] = "0123456789ABCDEF";
	const char name[5] = { 'V', 'R', hex[(index >> 4) & 0xf], hex[index & 0xf], '\0' };
	size_t device = aml_device_open(o, name);
	aml_name_string(o, "_HID", "LNRO0005");
	aml_name_integer(o, "_UID", index);
	size_t crs = aml_crs_open(o);
	aml_memory32_fixed(o, (uint32_t)dev->base, dev->size);
	aml_interrupt_level_high(o, dev->gsi);
	aml_crs_close(o, crs);
	aml_close(o, device);
}

/*
 * Name (_S5, Package (0x04) { SLP_TYPa, SLP_TYPb, 0, 0 }) (§7.4.2): the
 * value OSPM writes to PM1_CNT.SLP_TYP, with SLP_EN, to power off.
 */
static void aml_s5(struct out *o)
{
	aml_name(o, "_S5");
	size_t pkg = aml_open(o, AML_PACKAGE_OP);
	put_u8(o, 4); /* NumElements */
	aml_integer(o, ACPI_S5_SLP_TYP); /* PM1a_CNT.SLP_TYP */
	aml_integer(o, ACPI_S5_SLP_TYP); /* PM1b_CNT.SLP_TYP (no PM1b block) */
	aml_integer(o, 0);               /* reserved */
	aml_integer(o, 0);               /* reserved */
	aml_close(o, pkg);
}

/*
 * Scope (\_SB) { the ISA devices, the PCI host bridge, the motherboard
 * resources, the virtio-mmio devices }
 */
static void aml_system_bus(struct out *o, const struct acpi_config *cfg)
{
	size_t scope = aml_open(o, AML_SCOPE_OP);
	put_u8(o, AML_ROOT_CHAR);
	aml_nameseg(o, "_SB");
	for (size_t i = 0; i < ARRAY_SIZE(isa_devices); i++)
		aml_isa_device(o, &isa_devices[i]);
	aml_pci_host_bridge(o);
	aml_motherboard_resources(o);
	for (unsigned i = 0; i < cfg->nr_mmio_devices; i++)
		aml_virtio_mmio_device(o, i, &cfg->mmio_devices[i]);
	aml_close(o, scope);
}

/*
 * §5.2.11.1 DSDT. Revision 2: AML integers are 64 bits wide. In ASL:
 *
 *   Name (_S5, Package (0x04) { ACPI_S5_SLP_TYP, ACPI_S5_SLP_TYP, Zero, Zero })
 *   Scope (\_SB)
 *   {
 *       Device (COM1) { _HID PNP0501, _UID 1, IO 0x3F8/8, IRQ 4 }
 *       Device (RTC)  { _HID PNP0B00, IO 0x70/2, IRQ 8 }
 *       Device (KBD)  { _HID PNP0303, IO 0x60/1, IO 0x64/1, IRQ 1 }
 *       Device (PCI0) { _HID PNP0A08, _CID PNP0A03, _CRS: bus 0, the windows }
 *       Device (MRES) { _HID PNP0C02, _CRS: the ECAM area }
 *       Device (VR00) { _HID "LNRO0005", _UID 0, _CRS: window, GSI }  // one per
 *       ...                                                            // virtio-mmio device
 *   }
 */
uint64_t dsdt_write(struct out *o, const struct acpi_config *cfg)
{
	size_t start = table_begin(o, "DSDT", 2);
	aml_s5(o);
	aml_system_bus(o, cfg);
	table_end(o, start);
	return gpa_of(o, start);
}

