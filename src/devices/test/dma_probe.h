/*
 * A test hook (--test-hooks): an 8-byte MMIO window through which the
 * guest makes a device do one DMA write to an address it chooses, so that
 * tests can watch the IOMMU refuse a DMA outside the device's mappings.
 * Never present unless asked for.
 *
 * The guest writes the I/O virtual address, little-endian, at
 * LAYOUT_DMA_PROBE_BASE (one 8-byte write, e.g. busybox's `devmem ADDR 64
 * IOVA`, or narrower pieces); the write that sets the last byte makes the
 * device write the 4 bytes "VMON" at that address through its dma_space.
 * Reading the window's first byte then gives the outcome of the last
 * probe: DMA_PROBE_WRITTEN, DMA_PROBE_REFUSED (the IOMMU faulted it) or
 * DMA_PROBE_NOT_RAM.
 */
#ifndef VMON_DEVICES_TEST_DMA_PROBE_H
#define VMON_DEVICES_TEST_DMA_PROBE_H

#include "bus/bus.h"
#include "vmm/dma.h"

#define DMA_PROBE_SIZE 8

enum dma_probe_result {
	DMA_PROBE_NONE = 0xff, /* no probe yet */
	DMA_PROBE_WRITTEN = 0,
	DMA_PROBE_REFUSED = 1,
	DMA_PROBE_NOT_RAM = 2,
};

struct dma_probe;

/* Probes as the device whose memory view is `dma` (must outlive the probe). NULL on ENOMEM. */
struct dma_probe *dma_probe_create(const struct dma_space *dma);
/* Claims [base, base + DMA_PROBE_SIZE) on `mmio`; 0 or -errno. */
int dma_probe_register(struct dma_probe *probe, struct bus *mmio, uint64_t base);
void dma_probe_destroy(struct dma_probe *probe);

#endif
