/* The PCI host bridge and config space, driven through the buses as a guest would. */
#include <stdint.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "pci/host.h"
#include "tap.h"

struct rig {
	struct bus *pio, *mmio;
	struct pci_host *host;
};

static uint32_t cam_read(struct rig *r, unsigned slot, unsigned reg, unsigned len)
{
	uint32_t addr = 0x80000000u | slot << 11 | (reg & 0xfc), v = 0;
	bus_write(r->pio, PORT_PCI_CONFIG_ADDRESS, &addr, 4);
	bus_read(r->pio, PORT_PCI_CONFIG_DATA + (reg & 3), &v, len);
	return v;
}

static void cam_write(struct rig *r, unsigned slot, unsigned reg, unsigned len, uint32_t v)
{
	uint32_t addr = 0x80000000u | slot << 11 | (reg & 0xfc);
	bus_write(r->pio, PORT_PCI_CONFIG_ADDRESS, &addr, 4);
	bus_write(r->pio, PORT_PCI_CONFIG_DATA + (reg & 3), &v, len);
}

static uint64_t ecam(unsigned slot, unsigned reg)
{
	return LAYOUT_PCI_ECAM_BASE + ((uint64_t)slot << 15) + reg;
}

static int bar_hits;
static uint64_t bar_last_offset;

static void bar_read(void *dev, uint64_t offset, void *data, uint32_t len)
{
	(void)dev;
	bar_hits++;
	bar_last_offset = offset;
	memset(data, 0xab, len);
}

static void bar_write(void *dev, uint64_t offset, const void *data, uint32_t len)
{
	(void)dev;
	(void)data;
	(void)len;
	bar_hits++;
	bar_last_offset = offset;
}

static const struct bus_ops bar_ops = { .read = bar_read, .write = bar_write };

static const struct pci_id test_id = { .vendor = 0x1af4, .device = 0x1042, .class_code = 0x018000 };

static void test_mechanism_1(struct rig *r)
{
	CHECK(cam_read(r, 0, PCI_VENDOR_ID, 2) == 0x1b36, "host bridge at 00:00.0 (vendor)");
	CHECK(cam_read(r, 0, PCI_REVISION_ID, 4) >> 8 == 0x060000, "host bridge class 06:00:00");
	uint32_t v = 0x80000000u, back = 0;
	bus_write(r->pio, PORT_PCI_CONFIG_ADDRESS, &v, 4);
	uint8_t b = 1;
	bus_write(r->pio, PORT_PCI_CONFIG_ADDRESS + 3, &b, 1);
	bus_read(r->pio, PORT_PCI_CONFIG_ADDRESS, &back, 4);
	CHECK(back == 0x80000000u, "CONFIG_ADDRESS reads back; byte writes leave it alone");
	CHECK(cam_read(r, 7, PCI_VENDOR_ID, 2) == 0xffff, "empty slot reads all-ones");
	v = 0x00000000u; /* enable bit clear */
	bus_write(r->pio, PORT_PCI_CONFIG_ADDRESS, &v, 4);
	bus_read(r->pio, PORT_PCI_CONFIG_DATA, &back, 4);
	CHECK(back == 0xffffffffu, "disabled CONFIG_ADDRESS reads all-ones");
	v = 0x80010000u; /* bus 1 */
	bus_write(r->pio, PORT_PCI_CONFIG_ADDRESS, &v, 4);
	bus_read(r->pio, PORT_PCI_CONFIG_DATA, &back, 4);
	CHECK(back == 0xffffffffu, "bus 1 does not exist");
	v = 0x80000100u; /* function 1 */
	bus_write(r->pio, PORT_PCI_CONFIG_ADDRESS, &v, 4);
	bus_read(r->pio, PORT_PCI_CONFIG_DATA, &back, 4);
	CHECK(back == 0xffffffffu, "function 1 does not exist");
	cam_write(r, 0, PCI_VENDOR_ID, 2, 0x1234);
	CHECK(cam_read(r, 0, PCI_VENDOR_ID, 2) == 0x1b36, "vendor ID is read-only");
}

static void test_bars(struct rig *r, struct pci_device *dev, int slot)
{
	unsigned s = (unsigned)slot;
	uint32_t bar0 = cam_read(r, s, PCI_BAR0, 4);
	CHECK(bar0 >= LAYOUT_PCI_MMIO32_START && bar0 < LAYOUT_PCI_ECAM_BASE && bar0 % 0x4000 == 0,
	      "32-bit BAR placed, naturally aligned, in the 32-bit window");
	uint64_t bar2 = cam_read(r, s, PCI_BAR0 + 8, 4) | (uint64_t)cam_read(r, s, PCI_BAR0 + 12, 4) << 32;
	CHECK((bar2 & ~0xfull) >= LAYOUT_PCI_MMIO64_START && (bar2 & 0x6) == PCI_BAR_MEM_64,
	      "64-bit BAR placed in the 64-bit window and typed as 64-bit");
	uint32_t bar4 = cam_read(r, s, PCI_BAR0 + 16, 4);
	CHECK((bar4 & 1) && (bar4 & ~3u) >= PORT_PCI_IO_START, "I/O BAR in the I/O window");
	CHECK(cam_read(r, s, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY, "memory decoding enabled by vmon");

	uint32_t v = 0;
	bar_hits = 0;
	bus_read(r->mmio, bar0 + 0x10, &v, 4);
	CHECK(bar_hits == 1 && bar_last_offset == 0x10 && v == 0xabababab, "BAR access reaches the device at its offset");

	cam_write(r, s, PCI_COMMAND, 2, 0); /* sizing, as Linux does, decode off */
	cam_write(r, s, PCI_BAR0, 4, 0xffffffffu);
	CHECK(cam_read(r, s, PCI_BAR0, 4) == 0xffffc000u, "sizing: 16 KiB BAR reads back its mask");
	cam_write(r, s, PCI_BAR0 + 12, 4, 0xffffffffu);
	CHECK(cam_read(r, s, PCI_BAR0 + 12, 4) == 0xffffffffu, "sizing: upper half of a 64-bit BAR");
	cam_write(r, s, PCI_BAR0 + 16, 4, 0xffffffffu);
	CHECK(cam_read(r, s, PCI_BAR0 + 16, 4) == 0xfffffff1u, "sizing: 16-port I/O BAR mask and type bit");
	CHECK(!bus_read(r->mmio, bar0, &v, 4), "decode off: the old address is unclaimed");

	uint32_t moved = (uint32_t)LAYOUT_PCI_MMIO32_START + 0x100000;
	cam_write(r, s, PCI_BAR0, 4, moved);
	cam_write(r, s, PCI_BAR0 + 8, 4, (uint32_t)bar2);
	cam_write(r, s, PCI_BAR0 + 12, 4, (uint32_t)(bar2 >> 32));
	cam_write(r, s, PCI_BAR0 + 16, 4, bar4);
	cam_write(r, s, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	bar_hits = 0;
	CHECK(bus_read(r->mmio, moved + 4, &v, 4) && bar_hits == 1, "moved BAR decodes at the new address");
	CHECK(!bus_read(r->mmio, bar0, &v, 4), "and no longer at the old one");

	/* Moving through ECAM: the handler re-registers on the bus that called it. */
	uint32_t again = moved + 0x100000;
	bus_write(r->mmio, ecam(s, PCI_BAR0), &again, 4);
	CHECK(bus_read(r->mmio, again, &v, 4), "BAR moved through ECAM (no self-deadlock)");
	CHECK(dev->bars[0].mapped && dev->bars[0].addr == again, "device sees the BAR mapped there");
}

static void test_capabilities(struct rig *r, int slot)
{
	unsigned s = (unsigned)slot;
	CHECK(cam_read(r, s, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, "status announces a capability list");
	unsigned first = cam_read(r, s, PCI_CAPABILITY_LIST, 1);
	CHECK(first == 0x40 && cam_read(r, s, first, 1) == 0x09, "first capability at 0x40, id 9");
	unsigned second = cam_read(r, s, first + 1, 1);
	CHECK(second == 0x4c && cam_read(r, s, second, 1) == 0x11, "second capability linked, id 0x11");
	CHECK(cam_read(r, s, second + 1, 1) == 0, "list ends");
	cam_write(r, s, first + 2, 1, 0x55);
	CHECK(cam_read(r, s, first + 2, 1) == 0x77, "read-only capability byte ignores writes");
	cam_write(r, s, second + 3, 1, 0xff);
	CHECK(cam_read(r, s, second + 3, 1) == 0xc0, "writable bits of a capability take writes");
	uint32_t v = 0;
	bus_read(r->mmio, ecam(s, second), &v, 1);
	CHECK(v == 0x11, "ECAM reads the same config space");
	bus_read(r->mmio, ecam(s, 0x100), &v, 4);
	CHECK(v == 0, "extended config space (ECAM only) reads as zero");
}

int main(void)
{
	struct rig r = { .pio = bus_create("pio"), .mmio = bus_create("mmio") };
	CHECK(pci_host_create(&r.host, r.pio, r.mmio) == 0, "host bridge created");
	test_mechanism_1(&r);

	struct pci_device dev;
	pci_device_init(&dev, "test", &test_id);
	CHECK(pci_device_add_bar(&dev, 0, PCI_BAR_MMIO32, 0x4000, &bar_ops, NULL) == 0, "32-bit BAR");
	CHECK(pci_device_add_bar(&dev, 2, PCI_BAR_MMIO64, 0x10000, &bar_ops, NULL) == 0, "64-bit BAR");
	CHECK(pci_device_add_bar(&dev, 4, PCI_BAR_IO_PORTS, 16, &bar_ops, NULL) == 0, "I/O BAR");
	CHECK(pci_device_add_bar(&dev, 5, PCI_BAR_MMIO64, 0x1000, &bar_ops, NULL) < 0, "64-bit BAR in slot 5 refused");
	CHECK(pci_device_add_bar(&dev, 1, PCI_BAR_MMIO32, 0x3000, &bar_ops, NULL) < 0, "non-power-of-2 size refused");
	uint8_t cap1[12] = { 0, 0, 0x77 }, cap2[8] = { 0 }, cap2_w[8] = { 0, 0, 0, 0xc0 };
	CHECK(pci_device_add_capability(&dev, 0x09, cap1, sizeof(cap1), NULL) == 0x40, "capability at 0x40");
	CHECK(pci_device_add_capability(&dev, 0x11, cap2, sizeof(cap2), cap2_w) == 0x4c, "capability at 0x4c");
	uint8_t huge[200] = { 0 };
	CHECK(pci_device_add_capability(&dev, 0x10, huge, sizeof(huge), NULL) < 0, "capability past 256 bytes refused");
	int slot = pci_host_add_device(r.host, &dev);
	CHECK(slot == 1, "device in slot 1");
	test_bars(&r, &dev, slot);
	test_capabilities(&r, slot);

	pci_device_destroy(&dev);
	pci_host_destroy(r.host);
	bus_destroy(r.pio);
	bus_destroy(r.mmio);
	return tap_finish();
}
