#include "util/sys.h"

#include <errno.h>
#include <stddef.h>
#include <sys/ioctl.h>

int ioctl_retry(int fd, unsigned long req, void *arg)
{
	int ret;
	do
		ret = ioctl(fd, req, arg);
	while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : ret;
}

int fail_why(const char **why, const char *msg, int err)
{
	if (why)
		*why = msg;
	return err;
}
