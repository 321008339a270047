/*
 * Device memory access through the device's IOMMU (dma.h).
 *
 * A range is translated piece by piece: each translate() call covers at
 * least the rest of one IOMMU page, and one call covers the whole range
 * when the mapping is that large (a superpage, or a short range). Every
 * piece must be guest RAM. Without an IOMMU the one piece is the range
 * itself, guest-physical, as guest_mem_ptr sees it.
 */
#include "vmm/dma.h"

#include <errno.h>
#include <string.h>

/* Pieces a copy maps at once before it walks the range twice (copy_long). */
#define COPY_SEGS 16

/*
 * The piece of [iova, iova + len) that starts at iova, as host memory:
 * *n bytes (1 ..= len) at *host. 0, -EFAULT (the IOMMU refused it and
 * recorded the fault) or -EINVAL (not guest RAM).
 */
static int translate_piece(const struct dma_space *d, uint64_t iova, uint64_t len, bool write,
			   uint8_t **host, uint64_t *n)
{
	uint64_t gpa = iova, span = len;
	if (d->iommu) {
		if (d->iommu->translate(d->iommu->ctx, d->source_id, iova, write, &gpa, &span) != 0)
			return -EFAULT;
		if (span == 0)
			return -EINVAL; /* the translator broke its contract: never loop on it */
		if (span > len)
			span = len;
	}
	*host = guest_mem_ptr(d->mem, gpa, span);
	*n = span;
	return *host ? 0 : -EINVAL;
}

/* What to do with each piece: 0 to go on, or -errno to stop with. */
typedef int (*piece_fn)(void *arg, uint8_t *host, uint64_t len);

/* Translates the whole range in order, handing each piece to fn (NULL: only check). */
static int walk(const struct dma_space *d, uint64_t iova, uint64_t len, bool write,
		piece_fn fn, void *arg)
{
	if (!d->mem || len == 0 || iova + len < iova)
		return -EINVAL;
	while (len) {
		uint8_t *host;
		uint64_t n;
		int ret = translate_piece(d, iova, len, write, &host, &n);
		if (ret == 0 && fn)
			ret = fn(arg, host, n);
		if (ret < 0)
			return ret;
		iova += n;
		len -= n;
	}
	return 0;
}

struct seg_list {
	struct dma_seg *segs;
	unsigned n, max;
};

/* Appends a piece, merged into the last segment when it follows it in host memory. */
static int add_seg(void *arg, uint8_t *host, uint64_t len)
{
	struct seg_list *l = arg;
	struct dma_seg *last = l->n ? &l->segs[l->n - 1] : NULL;
	if (last && last->host + last->len == host) {
		last->len += len;
		return 0;
	}
	if (l->n == l->max)
		return -ENOSPC;
	l->segs[l->n++] = (struct dma_seg){ .host = host, .len = len };
	return 0;
}

int dma_map(const struct dma_space *d, uint64_t iova, uint64_t len, bool write,
	    struct dma_seg *segs, unsigned max)
{
	struct seg_list l = { .segs = segs, .max = max };
	int ret = walk(d, iova, len, write, add_seg, &l);
	return ret < 0 ? ret : (int)l.n;
}

void *dma_ptr(const struct dma_space *d, uint64_t iova, uint64_t len, bool write)
{
	struct dma_seg seg;
	return dma_map(d, iova, len, write, &seg, 1) == 1 ? seg.host : NULL;
}

/* A copy between guest memory and a host buffer, one piece at a time. */
struct copy {
	const struct dma_space *d;
	uint8_t *buf;
	bool to_guest;
};

static int copy_piece(void *arg, uint8_t *host, uint64_t len)
{
	struct copy *c = arg;
	if (c->to_guest) {
		memcpy(host, c->buf, len);
		guest_mem_note_write(c->d->mem, host, len); /* live migration resends it */
	} else {
		memcpy(c->buf, host, len);
	}
	c->buf += len;
	return 0;
}

/*
 * A range in more pieces than COPY_SEGS: checked whole first, so that an
 * error copies nothing, then translated again as it is copied. (Only a
 * driver changing its mappings during the copy makes the second walk
 * fail, part way; what was copied was permitted when it was.)
 */
static int copy_long(struct copy *c, uint64_t iova, uint64_t len)
{
	int ret = walk(c->d, iova, len, c->to_guest, NULL, NULL);
	return ret < 0 ? ret : walk(c->d, iova, len, c->to_guest, copy_piece, c);
}

static int copy(struct copy *c, uint64_t iova, uint64_t len)
{
	struct dma_seg segs[COPY_SEGS];
	int n = dma_map(c->d, iova, len, c->to_guest, segs, COPY_SEGS);
	if (n == -ENOSPC)
		return copy_long(c, iova, len);
	for (int i = 0; i < n; i++)
		copy_piece(c, segs[i].host, segs[i].len);
	return n < 0 ? n : 0;
}

int dma_read(const struct dma_space *d, uint64_t iova, void *dst, uint64_t len)
{
	struct copy c = { .d = d, .buf = dst, .to_guest = false };
	return copy(&c, iova, len);
}

int dma_write(const struct dma_space *d, uint64_t iova, const void *src, uint64_t len)
{
	struct copy c = { .d = d, .buf = (uint8_t *)src, .to_guest = true };
	return copy(&c, iova, len);
}
