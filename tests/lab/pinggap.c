/*
 * pinggap: how long a guest stops answering, seen from outside.  Runs in
 * the lab's L1 (tests/lab/run.sh's migrate case, bench/migrate.sh): it
 * sends an ICMP echo request to ADDR every INTERVAL_MS and notes when each
 * reply arrives (CLOCK_MONOTONIC), so that a guest's pause during a live
 * migration shows as the longest time between two replies, the same way
 * whichever VMM runs the guest.  The guest's kernel answers; nothing of the
 * guest's userspace is involved.
 *
 *   pinggap [-i INTERVAL_MS] [-n FLOWS] [-t SECONDS] [-f] [-p PIDFILE]
 *           [-o OUTPUT] [-w PID] ADDR [-- CMD [ARGS...]]
 *
 * -n spreads the requests over FLOWS ICMP identifiers in turn (default 1),
 * each a flow of its own.  A TAP shared by two VMMs steers each flow to
 * one VMM's queue, so a flow can stall while the guest answers the others:
 * the longest time without any reply is the guest's pause, and the longest
 * silence of one flow (its requests are FLOWS x INTERVAL_MS apart) shows
 * a stalled flow.
 *
 * With CMD, pinggap starts it (fork and exec, its standard input
 * inherited, its output appended to OUTPUT or inherited, its pid written
 * to PIDFILE) right after taking the start time, so that first_reply_ms is
 * the time from starting CMD to the guest's first answer (bench/migrate.sh's
 * restore-to-running).  CMD is not waited for.  -f ends at the first reply;
 * otherwise pinggap runs for SECONDS (default: until SIGTERM or SIGINT).
 * Then it prints one line:
 *   pinggap: sent=S received=R first_reply_ms=F max_gap_ms=G gap_end_ms=E
 *            flow_gap_ms=W flow_gap_end_ms=E duration_ms=D [pid_gone_ms=W]
 * where max_gap_ms is the longest time between two consecutive replies
 * (of any flow), gap_end_ms when that gap ended, and flow_gap_ms and
 * flow_gap_end_ms the same for the flow with the longest one; -1 with
 * fewer than two replies.  first_reply_ms is -1 without a reply.  With -w, pid_gone_ms is when
 * process PID was first seen gone (looked at whenever a packet is sent or
 * received), -1 if it still runs: bench/migrate.sh compares it with the
 * end of the pause.  All times are from the start.  Exit status 0 if a
 * reply came, 1 if none, 2 on errors.
 *
 * Built static: gcc -static -O2 -o pinggap pinggap.c (L1 runs it as root,
 * for the raw ICMP socket).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FLOWS 16

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static uint16_t checksum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

static void usage(void)
{
	fprintf(stderr, "usage: pinggap [-i INTERVAL_MS] [-n FLOWS] [-t SECONDS] [-f] [-p PIDFILE] [-o OUTPUT] "
			"[-w PID] ADDR [-- CMD [ARGS...]]\n");
	exit(2);
}

static pid_t start_command(char **argv, const char *pidfile, const char *output)
{
	pid_t pid = fork();
	if (pid < 0) {
		perror("pinggap: fork");
		exit(2);
	}
	if (pid == 0) {
		if (output) {
			int out = open(output, O_WRONLY | O_CREAT | O_APPEND, 0644);
			if (out < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) {
				fprintf(stderr, "pinggap: %s: %s\n", output, strerror(errno));
				_exit(127);
			}
			close(out);
		}
		signal(SIGCHLD, SIG_DFL);
		execvp(argv[0], argv);
		fprintf(stderr, "pinggap: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (pidfile) {
		FILE *f = fopen(pidfile, "w");
		if (f) {
			fprintf(f, "%d\n", (int)pid);
			fclose(f);
		}
	}
	return pid;
}

/* Replies of one ICMP identifier, or of all: the last one, the longest silence. */
struct flow {
	double last_reply, max_gap, gap_end;
};

static void flow_reply(struct flow *f, double at)
{
	if (f->last_reply >= 0 && at - f->last_reply > f->max_gap) {
		f->max_gap = at - f->last_reply;
		f->gap_end = at;
	}
	f->last_reply = at;
}

int main(int argc, char **argv)
{
	double interval = 10, seconds = 0;
	const char *pidfile = NULL, *output = NULL;
	int first_only = 0, opt, nflows = 1;
	pid_t watch = 0;

	while ((opt = getopt(argc, argv, "+i:n:t:fp:o:w:")) != -1) {
		switch (opt) {
		case 'i': interval = atof(optarg); break;
		case 'n': nflows = atoi(optarg); break;
		case 't': seconds = atof(optarg); break;
		case 'f': first_only = 1; break;
		case 'p': pidfile = optarg; break;
		case 'o': output = optarg; break;
		case 'w': watch = (pid_t)atoi(optarg); break;
		default: usage();
		}
	}
	if (optind >= argc || interval <= 0 || nflows < 1 || nflows > MAX_FLOWS)
		usage();
	struct sockaddr_in dst = { .sin_family = AF_INET };
	if (inet_pton(AF_INET, argv[optind], &dst.sin_addr) != 1)
		usage();
	char **cmd = NULL;
	if (optind + 1 < argc) {
		if (strcmp(argv[optind + 1], "--") || optind + 2 >= argc)
			usage();
		cmd = argv + optind + 2;
	}

	int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
	if (fd < 0) {
		perror("pinggap: raw ICMP socket");
		return 2;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGCHLD, SIG_IGN); /* CMD is not waited for: no zombie */

	/* Identifiers base .. base + nflows - 1, apart from other pingers'. */
	const uint16_t base = (uint16_t)(getpid() * MAX_FLOWS);
	struct flow flows[MAX_FLOWS], any = { .last_reply = -1, .max_gap = -1, .gap_end = -1 };
	for (int i = 0; i < nflows; i++)
		flows[i] = any;
	const double start = now_ms();
	if (cmd)
		start_command(cmd, pidfile, output);
	unsigned long sent = 0, received = 0;
	double next_send = start, first_reply = -1, gone = -1;

	while (!stop) {
		double t = now_ms();
		if (seconds > 0 && t - start >= seconds * 1e3)
			break;
		if (watch > 0 && gone < 0 && kill(watch, 0) < 0 && errno == ESRCH)
			gone = t - start;
		if (t >= next_send) {
			struct {
				struct icmphdr h;
				uint8_t pad[24];
			} req = { .h = { .type = ICMP_ECHO } };
			req.h.un.echo.id = htons((uint16_t)(base + sent % (unsigned long)nflows));
			req.h.un.echo.sequence = htons((uint16_t)(sent / (unsigned long)nflows));
			req.h.checksum = checksum(&req, sizeof(req));
			if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&dst, sizeof(dst)) >= 0)
				sent++;
			/* On schedule, without a burst after a delay. */
			next_send += interval;
			if (next_send < t)
				next_send = t + interval;
		}
		int wait_ms = (int)(next_send - now_ms()) + 1;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, wait_ms < 0 ? 0 : wait_ms) <= 0)
			continue;
		uint8_t buf[1500];
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		double at = now_ms() - start;
		if (n < (ssize_t)sizeof(struct iphdr))
			continue;
		const struct iphdr *ip = (const void *)buf;
		size_t hl = (size_t)ip->ihl * 4;
		if ((size_t)n < hl + sizeof(struct icmphdr) || ip->saddr != dst.sin_addr.s_addr)
			continue;
		const struct icmphdr *h = (const void *)(buf + hl);
		uint16_t k = (uint16_t)(ntohs(h->un.echo.id) - base);
		if (h->type != ICMP_ECHOREPLY || k >= nflows)
			continue;
		received++;
		if (first_reply < 0)
			first_reply = at;
		flow_reply(&flows[k], at);
		flow_reply(&any, at);
		if (first_only)
			break;
	}
	struct flow *worst = &flows[0];
	for (int i = 1; i < nflows; i++)
		if (flows[i].max_gap > worst->max_gap)
			worst = &flows[i];
	printf("pinggap: sent=%lu received=%lu first_reply_ms=%.1f max_gap_ms=%.1f gap_end_ms=%.1f "
	       "flow_gap_ms=%.1f flow_gap_end_ms=%.1f duration_ms=%.1f",
	       sent, received, first_reply, any.max_gap, any.gap_end, worst->max_gap, worst->gap_end,
	       now_ms() - start);
	if (watch > 0)
		printf(" pid_gone_ms=%.1f", gone);
	printf("\n");
	fflush(stdout);
	return received ? 0 : 1;
}
