/*
 * marker-init: /init of the lab's L2 guest initramfs.
 *
 * Its first action is to write "VMON-USERSPACE-UP" to the console, which
 * marks the guest's first userspace instruction for the boot benchmark
 * (bench/boottime.c) and for the end-to-end test (tests/lab/run.sh).
 * Then it execs "/bin/sh /init.sh", which runs the scenario chosen on the
 * kernel command line, with LAB_MARKER_UPTIME_MS in its environment: the
 * guest's CLOCK_MONOTONIC (about the time since the kernel's clock started)
 * just before the marker, which splits a boot time into time spent before
 * and inside the guest kernel.
 *
 * The kernel normally starts /init with fds 0-2 on /dev/console (the
 * initramfs ships a /dev/console node), so the marker goes straight to fd 1
 * with no setup cost.  Only if that fails do we mount devtmpfs and open
 * /dev/console ourselves.
 *
 * Built with: gcc -static -O2 -o marker-init marker-init.c
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char marker[] = "VMON-USERSPACE-UP\n";

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Point fds 0-2 at /dev/console, mounting devtmpfs on /dev if needed. */
static int open_console(void)
{
	int fd = open("/dev/console", O_RDWR | O_NOCTTY);
	if (fd < 0) {
		mkdir("/dev", 0755);
		mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
		fd = open("/dev/console", O_RDWR | O_NOCTTY);
	}
	if (fd < 0)
		return -1;
	for (int i = 0; i <= 2; i++)
		if (fd != i)
			dup2(fd, i);
	if (fd > 2)
		close(fd);
	return 0;
}

int main(void)
{
	static const char msg[] = "marker-init: exec /bin/sh /init.sh failed\n";
	struct timespec now;
	char uptime[32];

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (write_all(1, marker, sizeof(marker) - 1) < 0) {
		if (open_console() < 0)
			return 1; /* nowhere to report: the kernel panics */
		write_all(1, marker, sizeof(marker) - 1);
	}

	snprintf(uptime, sizeof(uptime), "%lld",
		 (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
	setenv("LAB_MARKER_UPTIME_MS", uptime, 1);
	execl("/bin/sh", "sh", "/init.sh", (char *)NULL);
	write_all(2, msg, sizeof(msg) - 1);
	write_all(2, strerror(errno), strlen(strerror(errno)));
	write_all(2, "\n", 1);
	return 127;
}
