/*
 * qmp: a small QMP client for the lab's QEMU peer (bench/migrate.sh), which
 * drives QEMU's migration from shell scripts in L1 (busybox nc cannot keep
 * a QMP session going: QEMU drops the commands it has not run yet when
 * its input ends).
 *
 *   qmp [-t TIMEOUT_S] HOST:PORT [--until TEXT [-i INTERVAL_MS]] JSON ...
 *
 * It connects to QEMU's `-qmp tcp:HOST:PORT,server=on,wait=off` (retrying
 * while QEMU does not listen yet), reads the greeting, sends
 * qmp_capabilities, then each JSON command in turn and waits for its
 * answer.  "--until TEXT" makes the next command repeat, every INTERVAL_MS
 * (default 10), until its answer contains TEXT, or one of the texts of
 * TEXT|TEXT|... (e.g. '"completed"|"failed"').  Prints when it sends each
 * command (the first time), its last answer, and every event QEMU sends:
 *   qmp-sent: MS JSON
 *   qmp: MS ANSWER
 *   qmp-event: MS EVENT
 * MS being the milliseconds since qmp started (CLOCK_MONOTONIC).  Exit status: 0 once
 * every command was answered without "error" (and each --until matched),
 * 1 if not or after TIMEOUT_S (default 120) in all, 2 on usage errors.
 *
 * Built static: gcc -static -O2 -o qmp qmp.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double start_ms, deadline_ms;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void usage(void)
{
	fprintf(stderr, "usage: qmp [-t TIMEOUT_S] HOST:PORT [--until TEXT [-i INTERVAL_MS]] JSON ...\n");
	exit(2);
}

/* The connection's input, split into lines. */
static int fd = -1;
static char buf[1 << 20];
static size_t have;

/* The next line from QEMU (without its line break) in line, or -1 at the
 * deadline or the end of the connection. */
static int read_line(char *line, size_t size)
{
	for (;;) {
		char *nl = memchr(buf, '\n', have);
		if (nl) {
			size_t n = (size_t)(nl - buf);
			size_t copy = n < size - 1 ? n : size - 1;
			memcpy(line, buf, copy);
			line[copy] = 0;
			if (copy && line[copy - 1] == '\r')
				line[copy - 1] = 0;
			memmove(buf, nl + 1, have - n - 1);
			have -= n + 1;
			return 0;
		}
		if (have == sizeof(buf))
			have = 0; /* a line longer than a MiB: not QMP's */
		double left = deadline_ms - now_ms();
		if (left <= 0)
			return -1;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, (int)left + 1) <= 0)
			continue;
		ssize_t r = read(fd, buf + have, sizeof(buf) - have);
		if (r <= 0)
			return -1;
		have += (size_t)r;
	}
}

/* Sends cmd and returns its answer in line (events are printed on the way). */
static int command(const char *cmd, char *line, size_t size)
{
	size_t len = strlen(cmd);
	if (write(fd, cmd, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
		return -1;
	for (;;) {
		if (read_line(line, size) < 0)
			return -1;
		if (strstr(line, "\"event\"")) {
			printf("qmp-event: %.1f %s\n", now_ms() - start_ms, line);
			continue;
		}
		if (strstr(line, "\"return\"") || strstr(line, "\"error\""))
			return 0;
	}
}

/* Whether line contains one of the |-separated texts of alternatives. */
static int matches(const char *line, const char *alternatives)
{
	char copy[256];
	snprintf(copy, sizeof(copy), "%s", alternatives);
	for (char *save = NULL, *t = strtok_r(copy, "|", &save); t; t = strtok_r(NULL, "|", &save))
		if (strstr(line, t))
			return 1;
	return 0;
}

static int connect_to(const char *addr)
{
	char host[64];
	const char *colon = strrchr(addr, ':');
	if (!colon || (size_t)(colon - addr) >= sizeof(host))
		usage();
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = 0;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1)) };
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		usage();
	while (now_ms() < deadline_ms) {
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0)
			return -1;
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return s;
		close(s);
		usleep(10000);
	}
	return -1;
}

int main(int argc, char **argv)
{
	static char line[1 << 20];
	double timeout = 120;
	int i = 1;

	if (i + 1 < argc && !strcmp(argv[i], "-t")) {
		timeout = atof(argv[i + 1]);
		i += 2;
	}
	if (i >= argc)
		usage();
	start_ms = now_ms();
	deadline_ms = start_ms + timeout * 1e3;
	fd = connect_to(argv[i++]);
	if (fd < 0) {
		printf("qmp: %.1f error: cannot connect\n", now_ms() - start_ms);
		return 1;
	}
	/* The greeting, then capabilities negotiation. */
	if (read_line(line, sizeof(line)) < 0 ||
	    command("{\"execute\": \"qmp_capabilities\"}", line, sizeof(line)) < 0 || strstr(line, "\"error\"")) {
		printf("qmp: %.1f error: no QMP session: %s\n", now_ms() - start_ms, line);
		return 1;
	}
	const char *until = NULL;
	double interval = 10;
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--until") && i + 1 < argc) {
			until = argv[++i];
			continue;
		}
		if (!strcmp(argv[i], "-i") && i + 1 < argc) {
			interval = atof(argv[++i]);
			continue;
		}
		printf("qmp-sent: %.1f %s\n", now_ms() - start_ms, argv[i]);
		for (;;) {
			if (command(argv[i], line, sizeof(line)) < 0) {
				printf("qmp: %.1f error: no answer to %s\n", now_ms() - start_ms, argv[i]);
				return 1;
			}
			if (!until || matches(line, until) || strstr(line, "\"error\""))
				break;
			usleep((useconds_t)(interval * 1000));
		}
		printf("qmp: %.1f %s\n", now_ms() - start_ms, line);
		fflush(stdout);
		if (strstr(line, "\"error\""))
			return 1;
		until = NULL;
	}
	return 0;
}
