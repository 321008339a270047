#include "util/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const level_names[] = {
	[LOG_ERROR] = "error",
	[LOG_WARN] = "warning",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

/* Protects `target` and `configured`, and keeps each line whole on its file. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static struct log_target target = { .fd = -1, .enabled = true, .level = LOG_INFO };
static bool configured; /* the API set a target: its line format */

void log_set_level(enum log_level level)
{
	pthread_mutex_lock(&log_lock);
	target.level = level;
	pthread_mutex_unlock(&log_lock);
}

enum log_level log_current_level(void)
{
	pthread_mutex_lock(&log_lock);
	enum log_level level = target.level;
	pthread_mutex_unlock(&log_lock);
	return level;
}

void log_configure(const struct log_target *t)
{
	pthread_mutex_lock(&log_lock);
	if (target.fd >= 0 && target.fd != t->fd)
		close(target.fd);
	target = *t;
	configured = true;
	pthread_mutex_unlock(&log_lock);
}

/*
 * Paths, ids and names in messages can come from a client or a guest: a
 * control character must not start a forged line or drive the terminal.
 */
static void make_printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			*s = '?';
}

/* The API's format: "2026-11-21T19:00:00.123456789 [vmon:vcpu0] [warning] [file.c:42] text". */
static void write_configured_line(enum log_level level, const char *file, int line, const char *text)
{
	struct timespec now;
	struct tm tm;
	char stamp[32], thread[16] = "?", out[1400];
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	pthread_getname_np(pthread_self(), thread, sizeof(thread));
	int n = snprintf(out, sizeof(out), "%s.%09ld [vmon:%s]", stamp, now.tv_nsec, thread);
	if (target.show_level)
		n += snprintf(out + n, sizeof(out) - (size_t)n, " [%s]", level_names[level]);
	if (target.show_origin)
		n += snprintf(out + n, sizeof(out) - (size_t)n, " [%s:%d]", file, line);
	n += snprintf(out + n, sizeof(out) - (size_t)n, " %s\n", text);
	if ((size_t)n >= sizeof(out))
		n = sizeof(out) - 1;
	/* One write, never waited on: a FIFO nobody drains loses lines, not vmon's time. */
	if (write(target.fd >= 0 ? target.fd : STDERR_FILENO, out, (size_t)n) < 0 && errno != EAGAIN)
		target.enabled = false;
}

/* This thread's last error line, for callers that pass the reason on (API faults). */
static _Thread_local char last_error[LOG_LAST_ERROR_MAX]; /* the last byte stays NUL */

const char *log_last_error(void)
{
	return last_error;
}

void log_clear_last_error(void)
{
	last_error[0] = '\0';
}

void log_msg(enum log_level level, const char *file, int line, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	make_printable(text);
	if (level == LOG_ERROR)
		memccpy(last_error, text, '\0', sizeof(last_error) - 1); /* cut short if longer */

	pthread_mutex_lock(&log_lock);
	if (target.enabled && level <= target.level) {
		if (configured)
			write_configured_line(level, file, line, text);
		else
			fprintf(stderr, "vmon: %s: %s\n", level_names[level], text);
	}
	pthread_mutex_unlock(&log_lock);
}

bool log_limit_allow(struct log_limit *limit)
{
	uint_fast64_t seen = atomic_fetch_add(&limit->count, 1);
	return seen < limit->burst;
}
