/*
 * Device memory access: the "IOVA of device X" form of the guest_mem
 * helpers. A device behind an IOMMU names addresses in its own I/O virtual
 * address space; every access goes through the IOMMU's translation for
 * that device and is refused (and recorded as a fault by the IOMMU) when
 * the guest did not map it with the needed rights. A device with no IOMMU
 * names guest-physical addresses, exactly as guest_mem does.
 *
 * Devices that do DMA reach guest memory only through a dma_space: none of
 * them can bypass the translation.
 */
#ifndef VMON_VMM_DMA_H
#define VMON_VMM_DMA_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/guest_mem.h"

/* What an IOMMU offers the DMA helpers. Called from any device thread. */
struct dma_translator {
	/*
	 * Translates `iova` for requester `source_id` (PCI bus << 8 | devfn)
	 * for a write (or a read). 0 with *gpa set and *span the number of
	 * bytes from iova on that translate contiguously (at least 1: to the
	 * end of the IOMMU page holding iova). -EFAULT when the access is not
	 * permitted: the IOMMU has recorded the fault and nothing may be
	 * accessed.
	 */
	int (*translate)(void *ctx, uint16_t source_id, uint64_t iova, bool write,
			 uint64_t *gpa, uint64_t *span);
	void *ctx;
};

struct dma_space {
	const struct guest_mem *mem;
	const struct dma_translator *iommu; /* NULL: addresses are guest-physical */
	uint16_t source_id;                 /* the device's requester id, with an IOMMU */
};

/* One host-contiguous piece of a DMA range. */
struct dma_seg {
	uint8_t *host;
	uint64_t len;
};

/*
 * The host address of [iova, iova + len) when the whole range is
 * permitted for `write` (or read) and contiguous in host memory; NULL
 * otherwise (len 0, a wrap, outside guest RAM, an IOMMU fault, or pieces
 * that are not adjacent in host memory).
 */
void *dma_ptr(const struct dma_space *d, uint64_t iova, uint64_t len, bool write);

/*
 * Splits [iova, iova + len) into at most `max` host-contiguous segments
 * (adjacent pieces merged). Returns the number of segments, -EFAULT when
 * the IOMMU refused part of it, -EINVAL when part of it is not guest RAM
 * (or len is 0, or the range wraps), -ENOSPC when more than `max` are
 * needed. On error *segs holds nothing usable.
 */
int dma_map(const struct dma_space *d, uint64_t iova, uint64_t len, bool write,
	    struct dma_seg *segs, unsigned max);

/* Copies through the translation: 0, -EFAULT or -EINVAL (nothing copied). */
int dma_read(const struct dma_space *d, uint64_t iova, void *dst, uint64_t len);
int dma_write(const struct dma_space *d, uint64_t iova, const void *src, uint64_t len);

#endif
