/*
 * Reading and writing the bytes of a popped descriptor chain as one stream:
 * its device-readable part (what the driver sent) and its device-writable
 * part (where the device answers), each seen as contiguous offsets
 * (virtio 1.2 §2.7.4.2: readable buffers come first).
 */
#ifndef VMON_VIRTIO_CHAIN_H
#define VMON_VIRTIO_CHAIN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtio/virtqueue.h"

/* Copies up to len bytes from offset `off` of the readable part; returns how many. */
uint32_t virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *dst, uint32_t len);

/* Copies up to len bytes to offset `off` of the writable part; returns how many. */
uint32_t virtq_chain_write(const struct virtq_chain *c, uint64_t off, const void *src, uint32_t len);

/*
 * Describes bytes [off, off + len) of the readable or writable part as
 * iovecs. Returns how many, or -1 when more than max are needed.
 */
int virtq_chain_slice(const struct virtq_chain *c, bool writable, uint64_t off, uint64_t len,
		      struct iovec *iov, unsigned max);

/* Copies len bytes into iovecs whose total is at least len. */
void iov_scatter(const struct iovec *iov, unsigned n, const void *src, uint64_t len);
/* Copies all the iovecs' bytes to dst, one after the other. */
void iov_gather(const struct iovec *iov, unsigned n, void *dst);

#endif
