/* The PCI host bridge and config space, driven through the buses as a guest would. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "migration/state.h"
#include "pci/host.h"
#include "state_blob.h"
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

/* ---- snapshots ---- */

static int bar_mapped_calls, config_written_calls;
static uint64_t bar0_mapped_at;

static void count_bar_mapped(struct pci_device *dev, unsigned index, uint64_t addr, bool mapped)
{
	(void)dev;
	bar_mapped_calls++;
	if (index == 0)
		bar0_mapped_at = mapped ? addr : 0;
}

static void count_config_written(struct pci_device *dev, unsigned offset, unsigned len)
{
	(void)dev, (void)offset, (void)len;
	config_written_calls++;
}

static const struct pci_device_ops counting_ops = {
	.config_written = count_config_written, .bar_mapped = count_bar_mapped,
};

/* A machine with one device laid out as in main(), as a fresh vmon process builds it. */
struct side {
	struct rig r;
	struct pci_device dev;
	unsigned slot;
};

static void side_init(struct side *s, const struct pci_id *id)
{
	s->r = (struct rig){ .pio = bus_create("pio"), .mmio = bus_create("mmio") };
	pci_host_create(&s->r.host, s->r.pio, s->r.mmio);
	pci_device_init(&s->dev, "test", id);
	s->dev.ops = &counting_ops;
	uint8_t cap1[12] = { 0, 0, 0x77 }, cap2[8] = { 0 }, cap2_w[8] = { 0, 0, 0, 0xc0 };
	pci_device_add_bar(&s->dev, 0, PCI_BAR_MMIO32, 0x4000, &bar_ops, NULL);
	pci_device_add_bar(&s->dev, 2, PCI_BAR_MMIO64, 0x10000, &bar_ops, NULL);
	pci_device_add_bar(&s->dev, 4, PCI_BAR_IO_PORTS, 16, &bar_ops, NULL);
	pci_device_add_capability(&s->dev, 0x09, cap1, sizeof(cap1), NULL);
	pci_device_add_capability(&s->dev, 0x11, cap2, sizeof(cap2), cap2_w);
	s->slot = (unsigned)pci_host_add_device(s->r.host, &s->dev);
}

static void side_fini(struct side *s)
{
	pci_device_destroy(&s->dev);
	pci_host_destroy(s->r.host);
	bus_destroy(s->r.pio);
	bus_destroy(s->r.mmio);
}

static uint8_t *save_device(struct side *s, struct state_reader *r)
{
	struct state_writer w;
	state_writer_init(&w);
	pci_device_save(&s->dev, &w, s->slot);
	return state_blob_open(&w, r);
}

/* A PCI section holding `len` bytes of `cfg`. */
static uint8_t *config_blob(unsigned slot, const uint8_t *cfg, size_t len, struct state_reader *r)
{
	struct state_writer w;
	state_writer_init(&w);
	state_begin(&w, STATE_TAG_PCI, slot);
	state_put_bytes(&w, cfg, len);
	state_end(&w);
	return state_blob_open(&w, r);
}

static bool same_config(struct side *a, struct side *b)
{
	for (unsigned reg = 0; reg < PCI_CONFIG_SIZE; reg += 4) {
		uint32_t va = 0, vb = 0;
		bus_read(a->r.mmio, ecam(a->slot, reg), &va, 4);
		bus_read(b->r.mmio, ecam(b->slot, reg), &vb, 4);
		if (va != vb)
			return false;
	}
	return true;
}

static const uint32_t moved_bar0 = (uint32_t)LAYOUT_PCI_MMIO32_START + 0x200000;

/* What a guest does after boot: moves BAR0, sets the interrupt line and a capability bit. */
static void guest_programs(struct side *s)
{
	cam_write(&s->r, s->slot, PCI_COMMAND, 2, 0);
	cam_write(&s->r, s->slot, PCI_BAR0, 4, moved_bar0);
	cam_write(&s->r, s->slot, PCI_INTERRUPT_LINE, 1, 0x0b);
	cam_write(&s->r, s->slot, 0x4c + 3, 1, 0x40);
	cam_write(&s->r, s->slot, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO | PCI_COMMAND_MASTER);
}

static void test_snapshot_round_trip(void)
{
	struct side a, b;
	side_init(&a, &test_id);
	guest_programs(&a);
	struct state_reader r;
	uint8_t *blob = save_device(&a, &r);

	side_init(&b, &test_id);
	uint32_t fresh_bar0 = cam_read(&b.r, b.slot, PCI_BAR0, 4);
	bar_mapped_calls = config_written_calls = 0;
	CHECK(pci_device_load(&b.dev, &r, b.slot) == 0, "snapshot: config space loads into a fresh device");
	CHECK(same_config(&a, &b), "every config register reads as in the saved device");
	CHECK(b.dev.bars[0].mapped && b.dev.bars[0].addr == moved_bar0 && bar0_mapped_at == moved_bar0,
	      "BAR0 mapped where the guest moved it, and the device was told");
	uint32_t v = 0;
	bar_hits = 0;
	CHECK(bus_read(b.r.mmio, moved_bar0, &v, 4) && bar_hits == 1, "the moved BAR decodes");
	CHECK(!bus_read(b.r.mmio, fresh_bar0, &v, 4), "the address vmon first gave it does not");
	CHECK(config_written_calls == 0, "no capability callback runs on load");
	CHECK(b.dev.bars[2].mapped && b.dev.bars[4].mapped, "the other BARs stay mapped");
	side_fini(&b);

	side_init(&b, &test_id);
	cam_write(&a.r, a.slot, PCI_COMMAND, 2, 0);
	free(blob);
	blob = save_device(&a, &r);
	CHECK(pci_device_load(&b.dev, &r, b.slot) == 0 && !b.dev.bars[0].mapped &&
	      !b.dev.bars[2].mapped && !b.dev.bars[4].mapped && bar0_mapped_at == 0,
	      "decoding off in the snapshot: every BAR unmapped on load");
	free(blob);
	side_fini(&b);
	side_fini(&a);
}

/* A load the guest could not have made work: BAR0 onto a range something else holds. */
static void test_snapshot_bar_overlap(void)
{
	struct side a, b;
	side_init(&a, &test_id);
	guest_programs(&a);
	struct state_reader r;
	uint8_t *blob = save_device(&a, &r);
	side_init(&b, &test_id);
	bus_register(b.r.mmio, moved_bar0, 0x1000, &bar_ops, NULL, "squatter");
	CHECK(pci_device_load(&b.dev, &r, b.slot) == 0 && !b.dev.bars[0].mapped,
	      "BAR0 over another range: left unmapped, as a guest write would");
	CHECK(cam_read(&b.r, b.slot, PCI_BAR0, 4) == moved_bar0 && b.dev.bars[2].mapped,
	      "the register holds the address and the other BARs are mapped");
	bus_unregister(b.r.mmio, moved_bar0);
	free(blob);
	side_fini(&b);
	side_fini(&a);
}

static void test_snapshot_refusals(void)
{
	struct side a, b;
	side_init(&a, &test_id);
	guest_programs(&a);
	side_init(&b, &test_id);
	uint32_t fresh_bar0 = cam_read(&b.r, b.slot, PCI_BAR0, 4);
	struct state_reader r;

	uint8_t *blob = save_device(&a, &r);
	CHECK(pci_device_load(&b.dev, &r, b.slot + 1) == -EINVAL, "refused: no section for this slot");
	free(blob);

	blob = config_blob(b.slot, a.dev.cfg, 100, &r);
	CHECK(pci_device_load(&b.dev, &r, b.slot) == -EINVAL, "refused: truncated config space");
	free(blob);
	uint8_t longer[PCI_CONFIG_SIZE + 1] = { 0 };
	memcpy(longer, a.dev.cfg, PCI_CONFIG_SIZE);
	blob = config_blob(b.slot, longer, sizeof(longer), &r);
	CHECK(pci_device_load(&b.dev, &r, b.slot) == -EINVAL, "refused: config space with a byte too many");
	free(blob);

	uint8_t cfg[PCI_CONFIG_SIZE];
	memcpy(cfg, a.dev.cfg, sizeof(cfg));
	cfg[PCI_DEVICE_ID] ^= 1;
	blob = config_blob(b.slot, cfg, sizeof(cfg), &r);
	CHECK(pci_device_load(&b.dev, &r, b.slot) == -EINVAL, "refused: another device ID");
	free(blob);
	memcpy(cfg, a.dev.cfg, sizeof(cfg));
	cfg[0x40 + 2] = 0x78;
	blob = config_blob(b.slot, cfg, sizeof(cfg), &r);
	CHECK(pci_device_load(&b.dev, &r, b.slot) == -EINVAL, "refused: a read-only capability byte differs");
	free(blob);
	memcpy(cfg, a.dev.cfg, sizeof(cfg));
	cfg[PCI_BAR0 + 1] |= 0x01; /* below the 16 KiB size: read-only 0 */
	blob = config_blob(b.slot, cfg, sizeof(cfg), &r);
	CHECK(pci_device_load(&b.dev, &r, b.slot) == -EINVAL,
	      "refused: a read-only bit inside a writable byte (BAR0 not size-aligned)");
	free(blob);
	memcpy(cfg, a.dev.cfg, sizeof(cfg));
	cfg[0x4c + 3] |= 0x01; /* the capability byte's writable bits are 0xc0 */
	blob = config_blob(b.slot, cfg, sizeof(cfg), &r);
	CHECK(pci_device_load(&b.dev, &r, b.slot) == -EINVAL, "refused: a capability's read-only bit");
	free(blob);

	CHECK(cam_read(&b.r, b.slot, PCI_BAR0, 4) == fresh_bar0 && b.dev.bars[0].mapped &&
	      cam_read(&b.r, b.slot, PCI_INTERRUPT_LINE, 1) == 0, "after refusals the device is as created");
	side_fini(&b);

	static const struct pci_id other_id = { .vendor = 0x1af4, .device = 0x1041, .class_code = 0x020000 };
	side_init(&b, &other_id);
	blob = save_device(&a, &r);
	CHECK(pci_device_load(&b.dev, &r, b.slot) == -EINVAL, "refused: a device of another kind in the slot");
	free(blob);
	side_fini(&b);
	side_fini(&a);
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

	test_snapshot_round_trip();
	test_snapshot_bar_overlap();
	test_snapshot_refusals();
	return tap_finish();
}
