#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static int read_all(int fd, uint8_t *buf, size_t size)
{
	size_t done = 0;
	while (done < size) {
		ssize_t n = read(fd, buf + done, size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* the file shrank while we read it */
		done += (size_t)n;
	}
	return 0;
}

int read_whole_file(const char *path, size_t max_size, uint8_t **buf, size_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
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

	uint8_t *data = NULL;
	if (ret == 0) {
		data = malloc(st.st_size ? (size_t)st.st_size : 1);
		ret = data ? read_all(fd, data, (size_t)st.st_size) : -ENOMEM;
	}
	close(fd);
	if (ret < 0) {
		free(data);
		return ret;
	}
	*buf = data;
	*size = (size_t)st.st_size;
	return 0;
}
