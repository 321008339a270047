/*
 * boottime: time a VMM from process start to the guest's first userspace
 * output, and sample its memory.  Runs inside the lab's L1 (bench/boot.sh).
 *
 *   boottime [-t BOOT_TIMEOUT_S] [-w EXIT_TIMEOUT_S] [-m MARKER]
 *            [-g GUEST_RAM_MIB] [-l LOG] -- VMM [ARGS...]
 *
 * It takes CLOCK_MONOTONIC, fork/execs VMM with stdout on a pipe (stderr is
 * inherited), and scans the output for MARKER (default VMON-USERSPACE-UP).
 * When the marker arrives it records the elapsed time and samples the VMM's
 * memory from /proc/PID/status and /proc/PID/smaps; then it keeps draining
 * the output and waits up to EXIT_TIMEOUT_S for the VMM to exit by itself
 * (the bench guest powers off right after the marker) before killing it.
 * All VMM output is copied to LOG if given.
 *
 * Memory: at the marker, guest_rss_kib is the resident size of the VMM's
 * mappings at least GUEST_RAM_MIB large, i.e. the guest RAM mapping, and
 * rss_kib is the VMM's whole VmRSS, so rss_kib - guest_rss_kib is what the
 * VMM itself keeps resident (code, libraries, heap, page tables are not
 * counted).  maxrss_kib is ru_maxrss from wait4().
 *
 * Prints one line on stdout:
 *   BOOTTIME marker=1 ms=1234.5 exit=0 killed=0 maxrss_kib=N rss_kib=N
 *            rss_anon_kib=N rss_file_kib=N rss_shmem_kib=N guest_rss_kib=N
 *            guest_maps=N
 * (marker=0 ms=-1 if the marker never came; exit=sig9 style if signalled).
 * Exit status: 0 if the marker was seen, 1 if not, 2 on usage errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct mem_sample {
	long rss_kib, rss_anon_kib, rss_file_kib, rss_shmem_kib;
	long guest_rss_kib;
	int guest_maps;
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void usage(void)
{
	fprintf(stderr, "usage: boottime [-t BOOT_TIMEOUT_S] [-w EXIT_TIMEOUT_S] "
			"[-m MARKER] [-g GUEST_RAM_MIB] [-l LOG] -- VMM [ARGS...]\n");
	exit(2);
}

/* Value in kB of the "Key:" line of /proc/PID/status, or -1. */
static long status_kib(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long val = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			val = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return val;
}

/* Sum the Rss of mappings of at least min_bytes (the guest RAM). */
static void sample_guest_rss(pid_t pid, uint64_t min_bytes, struct mem_sample *m)
{
	char path[64], line[512];
	int in_guest_map = 0;
	m->guest_rss_kib = 0;
	m->guest_maps = 0;
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f) {
		m->guest_rss_kib = -1;
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		uint64_t start, end;
		long kib;
		/* Mapping headers are "start-end perms ..."; fields are "Key: N kB". */
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " ", &start, &end) == 2) {
			in_guest_map = min_bytes > 0 && end - start >= min_bytes;
			m->guest_maps += in_guest_map;
		} else if (in_guest_map && sscanf(line, "Rss: %ld kB", &kib) == 1) {
			m->guest_rss_kib += kib;
		}
	}
	fclose(f);
}

static void sample_memory(pid_t pid, uint64_t guest_bytes, struct mem_sample *m)
{
	m->rss_kib = status_kib(pid, "VmRSS");
	m->rss_anon_kib = status_kib(pid, "RssAnon");
	m->rss_file_kib = status_kib(pid, "RssFile");
	m->rss_shmem_kib = status_kib(pid, "RssShmem");
	sample_guest_rss(pid, guest_bytes, m);
}

/* Search for the marker across reads: keep the last len-1 bytes seen. */
struct scanner {
	const char *marker;
	size_t len, kept;
	char window[8192];
};

static int scan(struct scanner *s, const char *buf, size_t n)
{
	while (n > 0) {
		size_t take = sizeof(s->window) - s->kept;
		if (take > n)
			take = n;
		memcpy(s->window + s->kept, buf, take);
		s->kept += take;
		buf += take;
		n -= take;
		if (memmem(s->window, s->kept, s->marker, s->len))
			return 1;
		size_t keep = s->kept < s->len ? s->kept : s->len - 1;
		memmove(s->window, s->window + s->kept - keep, keep);
		s->kept = keep;
	}
	return 0;
}

int main(int argc, char **argv)
{
	double boot_timeout_s = 120, exit_timeout_s = 30;
	const char *marker = "VMON-USERSPACE-UP", *log_path = NULL;
	uint64_t guest_bytes = 0;
	int opt;

	while ((opt = getopt(argc, argv, "+t:w:m:g:l:")) != -1) {
		switch (opt) {
		case 't': boot_timeout_s = atof(optarg); break;
		case 'w': exit_timeout_s = atof(optarg); break;
		case 'm': marker = optarg; break;
		case 'g': guest_bytes = strtoull(optarg, NULL, 10) << 20; break;
		case 'l': log_path = optarg; break;
		default: usage();
		}
	}
	if (optind >= argc || !*marker || strlen(marker) >= 4096)
		usage();

	FILE *log = NULL;
	if (log_path && !(log = fopen(log_path, "w"))) {
		perror(log_path);
		return 2;
	}

	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0) {
		perror("pipe2");
		return 2;
	}

	double t0 = now_ms();
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (pid == 0) {
		setpgid(0, 0); /* so that a kill reaches any helper it forks */
		dup2(fds[1], STDOUT_FILENO);
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "boottime: exec %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	close(fds[1]);

	static struct scanner sc;
	sc.marker = marker;
	sc.len = strlen(marker);
	struct mem_sample mem = { -1, -1, -1, -1, -1, 0 };
	double marker_ms = -1, deadline = t0 + boot_timeout_s * 1e3;
	int eof = 0, killed = 0;
	char buf[4096];

	/* Read until EOF, the boot deadline, or the exit deadline after the marker. */
	while (!eof) {
		double left = deadline - now_ms();
		if (left <= 0)
			break;
		struct pollfd pfd = { fds[0], POLLIN, 0 };
		int r = poll(&pfd, 1, (int)left + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue; /* the loop re-checks the deadline */
		ssize_t n = read(fds[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			eof = 1;
			break;
		}
		if (log)
			fwrite(buf, 1, (size_t)n, log);
		if (marker_ms < 0 && scan(&sc, buf, (size_t)n)) {
			marker_ms = now_ms() - t0;
			sample_memory(pid, guest_bytes, &mem);
			deadline = now_ms() + exit_timeout_s * 1e3;
		}
	}

	/* Give the VMM the rest of the deadline to exit, then kill it. */
	int status = 0;
	struct rusage ru;
	memset(&ru, 0, sizeof(ru));
	for (;;) {
		pid_t w = wait4(pid, &status, WNOHANG, &ru);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			perror("wait4");
			return 2;
		}
		if (!killed && now_ms() >= deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			killed = 1;
		}
		usleep(5000);
	}
	close(fds[0]);
	if (log)
		fclose(log);

	char exit_str[32];
	if (WIFEXITED(status))
		snprintf(exit_str, sizeof(exit_str), "%d", WEXITSTATUS(status));
	else
		snprintf(exit_str, sizeof(exit_str), "sig%d", WTERMSIG(status));
	printf("BOOTTIME marker=%d ms=%.1f exit=%s killed=%d maxrss_kib=%ld "
	       "rss_kib=%ld rss_anon_kib=%ld rss_file_kib=%ld rss_shmem_kib=%ld "
	       "guest_rss_kib=%ld "
	       "guest_maps=%d\n",
	       marker_ms >= 0, marker_ms, exit_str, killed, ru.ru_maxrss,
	       mem.rss_kib, mem.rss_anon_kib, mem.rss_file_kib, mem.rss_shmem_kib,
	       mem.guest_rss_kib,
	       mem.guest_maps);
	return marker_ms >= 0 ? 0 : 1;
}
