/*
 * A file image read piecewise: kernels and initrds are copied from the file
 * straight to where they belong in guest RAM, never held whole in vmon's
 * own memory. Tests and fuzzers use images in memory instead.
 */
#ifndef VMON_UTIL_IMAGE_H
#define VMON_UTIL_IMAGE_H

#include <stdint.h>

struct image {
	uint64_t size;
	int fd;               /* >= 0: the file to pread from */
	const uint8_t *bytes; /* fd < 0: the image in memory */
};

/*
 * Opens a regular file of at most max_size bytes. Returns 0 or -errno
 * (-EINVAL: not a regular file, -EFBIG: too large).
 */
int image_open(struct image *img, const char *path, uint64_t max_size);
void image_close(struct image *img);

/* An image over caller-owned memory. */
struct image image_from_memory(const void *bytes, uint64_t size);

/*
 * Copies [offset, offset + len) of the image to dst. Returns 0, or -EIO
 * when the range is not all inside the image or the file cannot be read
 * (nothing is promised about dst then).
 */
int image_read(const struct image *img, uint64_t offset, void *dst, uint64_t len);

#endif
