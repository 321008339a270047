/*
 * A fake IOMMU for device tests: one flat table of pages from `iova_base`
 * on, each mapped to a guest-physical page with read and write rights
 * (dma.h's struct dma_translator). It counts its translations and
 * records its faults, as the real unit does, with the requester id.
 */
#ifndef VMON_TESTS_FAKE_IOMMU_H
#define VMON_TESTS_FAKE_IOMMU_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vmm/dma.h"

#define FAKE_IOMMU_PAGES 64

struct fake_iommu {
	struct dma_translator t;
	uint64_t iova_base;
	uint64_t page;              /* 4096, or larger to act as a superpage */
	struct {
		uint64_t gpa;
		bool read, write;       /* neither: not mapped */
	} pages[FAKE_IOMMU_PAGES];
	unsigned calls, faults;
	uint16_t last_source;
	uint64_t fault_iova;        /* the last fault's */
	bool fault_write;
};

static inline int fake_iommu_translate(void *ctx, uint16_t source_id, uint64_t iova, bool write,
				       uint64_t *gpa, uint64_t *span)
{
	struct fake_iommu *f = ctx;
	f->calls++;
	f->last_source = source_id;
	uint64_t i = (iova - f->iova_base) / f->page, off = (iova - f->iova_base) % f->page;
	bool allowed = iova >= f->iova_base && i < FAKE_IOMMU_PAGES &&
		       (write ? f->pages[i].write : f->pages[i].read);
	if (!allowed) {
		f->faults++;
		f->fault_iova = iova;
		f->fault_write = write;
		return -EFAULT;
	}
	*gpa = f->pages[i].gpa + off;
	*span = f->page - off;
	return 0;
}

/* Whether n bytes at p all hold v: what a refused DMA must leave alone. */
static inline bool all_bytes_are(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static inline void fake_iommu_init(struct fake_iommu *f, uint64_t iova_base, uint64_t page)
{
	memset(f, 0, sizeof(*f));
	f->t = (struct dma_translator){ .translate = fake_iommu_translate, .ctx = f };
	f->iova_base = iova_base;
	f->page = page;
}

/* Maps the page holding iova to the page holding gpa, with these rights. */
static inline void fake_iommu_map(struct fake_iommu *f, uint64_t iova, uint64_t gpa, bool read,
				  bool write)
{
	uint64_t i = (iova - f->iova_base) / f->page;
	f->pages[i].gpa = gpa - gpa % f->page;
	f->pages[i].read = read;
	f->pages[i].write = write;
}

/* Maps n pages from iova to n consecutive pages from gpa, read and write. */
static inline void fake_iommu_map_range(struct fake_iommu *f, uint64_t iova, uint64_t gpa, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		fake_iommu_map(f, iova + k * f->page, gpa + k * f->page, true, true);
}

static inline void fake_iommu_unmap(struct fake_iommu *f, uint64_t iova)
{
	fake_iommu_map(f, iova, 0, false, false);
}

#endif
