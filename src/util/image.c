#include "util/image.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int image_open(struct image *img, const char *path, uint64_t max_size)
{
	*img = (struct image){ .fd = -1 };
	/* O_NONBLOCK: opening a FIFO must not wait for a writer; only regular files pass. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;

	struct stat st;
	int ret = 0;
	if (fstat(fd, &st) < 0)
		ret = -errno;
	else if (!S_ISREG(st.st_mode))
		ret = -EINVAL;
	else if ((uint64_t)st.st_size > max_size)
		ret = -EFBIG;
	if (ret < 0) {
		close(fd);
		return ret;
	}
	img->fd = fd;
	img->size = (uint64_t)st.st_size;
	return 0;
}

void image_close(struct image *img)
{
	if (img->fd >= 0)
		close(img->fd);
	*img = (struct image){ .fd = -1 };
}

struct image image_from_memory(const void *bytes, uint64_t size)
{
	return (struct image){ .size = size, .fd = -1, .bytes = bytes };
}

static int pread_all(int fd, uint8_t *dst, uint64_t offset, uint64_t len)
{
	while (len > 0) {
		ssize_t n = pread(fd, dst, len, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO; /* an error, or the file shrank under us */
		dst += n;
		offset += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

int image_read(const struct image *img, uint64_t offset, void *dst, uint64_t len)
{
	if (offset > img->size || len > img->size - offset)
		return -EIO;
	if (len == 0)
		return 0;
	if (img->fd >= 0)
		return pread_all(img->fd, dst, offset, len);
	memcpy(dst, img->bytes + offset, len);
	return 0;
}
