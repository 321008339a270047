/*
 * The --test-hooks DMA probe: the guest's byte writes build the address,
 * the last one fires one DMA write through the device's dma_space, and
 * the outcome reads back; a refused probe touches no memory.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "bus/bus.h"
#include "devices/test/dma_probe.h"
#include "tap.h"

#define RAM_GPA 0x10000
#define RAM_SIZE 0x4000
static uint8_t ram[RAM_SIZE];

/* An IOMMU mapping IOVA page 0x5000 to RAM's second page, refusing the rest. */
static int fake_translate(void *ctx, uint16_t source_id, uint64_t iova, bool write, uint64_t *gpa,
			  uint64_t *span)
{
	(void)ctx;
	(void)source_id;
	(void)write;
	if (iova >> 12 != 0x5)
		return -EFAULT;
	*gpa = RAM_GPA + 0x1000 + (iova & 0xfff);
	*span = 0x1000 - (iova & 0xfff);
	return 0;
}

static const struct dma_translator fake_iommu = { .translate = fake_translate };

#define BASE 0xfed91000ull

static uint8_t outcome(struct bus *mmio)
{
	uint8_t result = 0;
	bus_read(mmio, BASE, &result, 1);
	return result;
}

/* Writes the address in one 8-byte write, as `devmem ADDR 64 IOVA` does, and reads the outcome. */
static uint8_t probe(struct bus *mmio, uint64_t iova)
{
	bus_write(mmio, BASE, &iova, 8);
	return outcome(mmio);
}

/* The same, byte by byte. */
static uint8_t probe_bytes(struct bus *mmio, uint64_t iova)
{
	for (unsigned i = 0; i < DMA_PROBE_SIZE; i++) {
		uint8_t b = (uint8_t)(iova >> (8 * i));
		bus_write(mmio, BASE + i, &b, 1);
	}
	return outcome(mmio);
}

static bool ram_untouched(void)
{
	for (size_t i = 0; i < RAM_SIZE; i++)
		if (ram[i])
			return false;
	return true;
}

int main(void)
{
	struct guest_mem gm;
	guest_mem_init_flat(&gm, ram, RAM_GPA, RAM_SIZE);
	struct bus *mmio = bus_create("mmio");

	struct dma_space translated = { .mem = &gm, .iommu = &fake_iommu, .source_id = 0x08 };
	struct dma_probe *p = dma_probe_create(&translated);
	CHECK(p && dma_probe_register(p, mmio, BASE) == 0, "probe created and on its ports");
	uint8_t result = outcome(mmio);
	CHECK(result == DMA_PROBE_NONE, "no probe yet: 0x%x", result);

	CHECK(probe(mmio, 0xdead0000) == DMA_PROBE_REFUSED && ram_untouched(),
	      "an unmapped address: refused, no byte of RAM written");
	CHECK(probe(mmio, 0x5010) == DMA_PROBE_WRITTEN && memcmp(ram + 0x1010, "VMON", 4) == 0,
	      "a mapped address: \"VMON\" lands where the IOMMU maps it");
	memset(ram, 0, sizeof(ram));
	CHECK(probe(mmio, 0x5ffe) == DMA_PROBE_REFUSED && ram_untouched(),
	      "a write running past the mapping: refused whole");
	CHECK(probe_bytes(mmio, 0x5020) == DMA_PROBE_WRITTEN && memcmp(ram + 0x1020, "VMON", 4) == 0,
	      "the address written byte by byte: the last byte fires");
	bus_unregister(mmio, BASE);
	dma_probe_destroy(p);

	struct dma_space physical = { .mem = &gm };
	p = dma_probe_create(&physical);
	CHECK(p && dma_probe_register(p, mmio, BASE) == 0, "a probe without an IOMMU");
	CHECK(probe(mmio, RAM_GPA + 8) == DMA_PROBE_WRITTEN && memcmp(ram + 8, "VMON", 4) == 0,
	      "without an IOMMU the address is guest-physical");
	CHECK(probe(mmio, RAM_GPA + RAM_SIZE) == DMA_PROBE_NOT_RAM, "outside RAM: not RAM");
	uint8_t b = 0x12;
	bus_write(mmio, BASE + 2, &b, 1);
	CHECK(outcome(mmio) == DMA_PROBE_NOT_RAM, "a byte other than the last fires nothing");
	bus_unregister(mmio, BASE);
	dma_probe_destroy(p);
	bus_destroy(mmio);
	return tap_finish();
}
