#include "virtio/chain.h"

#include <string.h>

/* Index of the first buffer of one kind, and one past its last. */
static unsigned kind_first(const struct virtq_chain *c, bool writable)
{
	unsigned i = 0;
	while (i < c->count && !c->bufs[i].device_writable)
		i++;
	return writable ? i : 0;
}

static unsigned kind_end(const struct virtq_chain *c, bool writable)
{
	return writable ? c->count : kind_first(c, true);
}

/* Copies between a host buffer and bytes [off, off + len) of one part of the chain. */
static uint32_t chain_copy(const struct virtq_chain *c, bool writable, uint64_t off,
			   uint8_t *host, uint32_t len)
{
	uint32_t done = 0;
	for (unsigned i = kind_first(c, writable), end = kind_end(c, writable); i < end && done < len; i++) {
		const struct virtq_buf *b = &c->bufs[i];
		if (off >= b->len) {
			off -= b->len;
			continue;
		}
		uint32_t n = b->len - (uint32_t)off;
		if (n > len - done)
			n = len - done;
		if (writable)
			memcpy(b->host + off, host + done, n);
		else
			memcpy(host + done, b->host + off, n);
		done += n;
		off = 0;
	}
	return done;
}

uint32_t virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *dst, uint32_t len)
{
	return chain_copy(c, false, off, dst, len);
}

uint32_t virtq_chain_write(const struct virtq_chain *c, uint64_t off, const void *src, uint32_t len)
{
	return chain_copy(c, true, off, (uint8_t *)src, len);
}

int virtq_chain_slice(const struct virtq_chain *c, bool writable, uint64_t off, uint64_t len,
		      struct iovec *iov, unsigned max)
{
	unsigned n = 0;
	for (unsigned i = kind_first(c, writable), end = kind_end(c, writable); i < end && len; i++) {
		const struct virtq_buf *b = &c->bufs[i];
		if (off >= b->len) {
			off -= b->len;
			continue;
		}
		uint64_t take = b->len - off;
		if (take > len)
			take = len;
		if (n == max)
			return -1;
		iov[n++] = (struct iovec){ .iov_base = b->host + off, .iov_len = (size_t)take };
		len -= take;
		off = 0;
	}
	return (int)n;
}

void iov_scatter(const struct iovec *iov, unsigned n, const void *src, uint64_t len)
{
	const uint8_t *from = src;
	for (unsigned i = 0; i < n && len; i++) {
		size_t k = iov[i].iov_len < len ? iov[i].iov_len : (size_t)len;
		memcpy(iov[i].iov_base, from, k);
		from += k;
		len -= k;
	}
}

void iov_gather(const struct iovec *iov, unsigned n, void *dst)
{
	uint8_t *to = dst;
	for (unsigned i = 0; i < n; i++) {
		memcpy(to, iov[i].iov_base, iov[i].iov_len);
		to += iov[i].iov_len;
	}
}
