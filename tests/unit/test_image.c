/* Images read piecewise from files or memory: bounds and errors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "util/image.h"

int main(void)
{
	char path[] = "/tmp/vmon-test-image-XXXXXX";
	int fd = mkstemp(path);
	const char content[] = "0123456789abcdef";
	CHECK(fd >= 0 && write(fd, content, 16) == 16, "temp file written");
	close(fd);

	struct image img;
	CHECK(image_open(&img, path, 1024) == 0 && img.size == 16, "open: size from the file");
	char buf[17] = { 0 };
	CHECK(image_read(&img, 4, buf, 6) == 0 && memcmp(buf, "456789", 6) == 0, "read a middle range");
	CHECK(image_read(&img, 10, buf, 6) == 0, "read up to the last byte");
	CHECK(image_read(&img, 10, buf, 7) == -EIO, "one byte past the end is refused");
	CHECK(image_read(&img, UINT64_MAX - 2, buf, 4) == -EIO, "wrapping offset is refused");
	CHECK(image_read(&img, 16, buf, 0) == 0, "empty read at the end is fine");
	CHECK(truncate(path, 8) == 0 && image_read(&img, 4, buf, 8) == -EIO,
	      "a file that shrank under us gives -EIO");
	image_close(&img);
	CHECK(img.fd == -1, "close resets the image");

	CHECK(image_open(&img, path, 4) == -EFBIG, "larger than the limit: -EFBIG");
	CHECK(image_open(&img, "/tmp", 1024) == -EINVAL, "a directory: -EINVAL");
	CHECK(image_open(&img, "/nonexistent/vmon", 1024) == -ENOENT, "missing: -ENOENT");
	unlink(path);
	/* A FIFO nobody writes to: refused at once, not waited on (the API opens kernels on its thread). */
	CHECK(mkfifo(path, 0600) == 0, "a FIFO made");
	alarm(10); /* a hang is a failure */
	CHECK(image_open(&img, path, 1024) == -EINVAL, "a FIFO: -EINVAL, without waiting for a writer");
	alarm(0);
	unlink(path);

	struct image mem = image_from_memory(content, 16);
	CHECK(image_read(&mem, 0, buf, 16) == 0 && memcmp(buf, content, 16) == 0, "memory image read");
	CHECK(image_read(&mem, 1, buf, 16) == -EIO, "memory image bounds");
	return tap_finish();
}
