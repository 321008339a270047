/*
 * tcp_rr: TCP request/response latency, for bench/net.sh (iperf3 measures
 * throughput only).
 *
 *   tcp_rr -s PORT              serve: accept connections one at a time and
 *                               echo every byte back, until the peer closes
 *   tcp_rr -c HOST PORT SECONDS measure: send 1 byte, wait for the echo, again,
 *                               for SECONDS (after WARMUP round trips that
 *                               are not counted); then print one line
 *
 *   TCP-RR transactions=N seconds=S per_s=R mean_us=U p50_us=U p90_us=U p99_us=U max_us=U
 *
 * Both ends set TCP_NODELAY, so each byte is a segment of its own (Nagle
 * would otherwise hold it), and the times are CLOCK_MONOTONIC around each
 * round trip.  HOST is an IPv4 address.  Exit status 1 on any error, with
 * one line on stderr; a peer that goes away never kills the server
 * (MSG_NOSIGNAL: no SIGPIPE).
 *
 * Built with: gcc -static -O2 -o tcp_rr tcp_rr.c
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 100

static int die(const char *what)
{
	fprintf(stderr, "tcp_rr: %s: %s\n", what, strerror(errno));
	return 1;
}

static int parse_port(const char *s, struct sockaddr_in *sa)
{
	char *end;
	long port = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || port < 1 || port > 65535)
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return 0;
}

static void nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int serve(struct sockaddr_in *sa)
{
	int one = 1, lfd = socket(AF_INET, SOCK_STREAM, 0);

	if (lfd < 0)
		return die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)sa, sizeof(*sa)) < 0)
		return die("bind");
	if (listen(lfd, 4) < 0)
		return die("listen");
	for (;;) {
		char buf[4096];
		ssize_t n;
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return die("accept");
		}
		nodelay(fd);
		while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
			if (n > 0 && send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
				break;
		close(fd);
	}
}

/* One round trip: 1 byte out, 1 byte back. */
static int round_trip(int fd)
{
	char c = 'x';
	ssize_t n;

	do
		n = send(fd, &c, 1, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		return -1;
	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct_us(const uint64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);

	return (double)v[i] / 1000.0;
}

static int measure(struct sockaddr_in *sa, double seconds)
{
	size_t n = 0, cap = 1 << 16;
	uint64_t *rtt = malloc(cap * sizeof(*rtt)), sum = 0, start, end, t;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (!rtt)
		return die("malloc");
	if (fd < 0)
		return die("socket");
	if (connect(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0)
		return die("connect");
	nodelay(fd);
	for (int i = 0; i < WARMUP; i++)
		if (round_trip(fd) < 0)
			return die("round trip");
	start = now_ns();
	end = start + (uint64_t)(seconds * 1e9);
	for (t = start; t < end;) {
		uint64_t t1;

		if (round_trip(fd) < 0)
			return die("round trip");
		t1 = now_ns();
		if (n == cap) {
			uint64_t *more = realloc(rtt, 2 * cap * sizeof(*rtt));

			if (!more)
				return die("realloc");
			rtt = more;
			cap *= 2;
		}
		rtt[n++] = t1 - t;
		sum += t1 - t;
		t = t1;
	}
	close(fd);
	if (n == 0) {
		fprintf(stderr, "tcp_rr: no round trip in %.1f s\n", seconds);
		return 1;
	}
	qsort(rtt, n, sizeof(*rtt), cmp_u64);
	printf("TCP-RR transactions=%zu seconds=%.3f per_s=%.1f mean_us=%.1f "
	       "p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f\n",
	       n, (double)(t - start) / 1e9, (double)n * 1e9 / (double)(t - start),
	       (double)sum / (double)n / 1000.0, pct_us(rtt, n, 50), pct_us(rtt, n, 90),
	       pct_us(rtt, n, 99), (double)rtt[n - 1] / 1000.0);
	free(rtt);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;

	if (argc == 3 && strcmp(argv[1], "-s") == 0 && parse_port(argv[2], &sa) == 0) {
		sa.sin_addr.s_addr = htonl(INADDR_ANY);
		return serve(&sa);
	}
	if (argc == 5 && strcmp(argv[1], "-c") == 0 && parse_port(argv[3], &sa) == 0 &&
	    inet_pton(AF_INET, argv[2], &sa.sin_addr) == 1 && atof(argv[4]) > 0)
		return measure(&sa, atof(argv[4]));
	fprintf(stderr, "usage: tcp_rr -s PORT | tcp_rr -c HOST PORT SECONDS\n");
	return 1;
}
