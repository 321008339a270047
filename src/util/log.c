#include "util/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <time.h>

static const char *const level_names[] = {
	[LOG_ERROR] = "error",
	[LOG_WARN] = "warning",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

/* Protects `target` and `configured`, and keeps each line whole on its file. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static struct log_target target = { .enabled = true, .level = LOG_INFO };
static bool configured; /* the API set a target: its line format */

void log_set_level(enum log_level level)
{
	pthread_mutex_lock(&log_lock);
	target.level = level;
	pthread_mutex_unlock(&log_lock);
}

void log_configure(const struct log_target *t)
{
	pthread_mutex_lock(&log_lock);
	if (target.out && target.out != t->out)
		fclose(target.out);
	target = *t;
	configured = true;
	pthread_mutex_unlock(&log_lock);
}

/* The API's format: "2026-11-21T19:00:00.123456789 [vmon:vcpu0] [warning] [file.c:42] text". */
static void write_configured_line(FILE *out, enum log_level level, const char *file, int line,
				  const char *text)
{
	struct timespec now;
	struct tm tm;
	char stamp[32], thread[16] = "?";
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	pthread_getname_np(pthread_self(), thread, sizeof(thread));
	fprintf(out, "%s.%09ld [vmon:%s]", stamp, now.tv_nsec, thread);
	if (target.show_level)
		fprintf(out, " [%s]", level_names[level]);
	if (target.show_origin)
		fprintf(out, " [%s:%d]", file, line);
	fprintf(out, " %s\n", text);
	fflush(out);
}

void log_msg(enum log_level level, const char *file, int line, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);

	pthread_mutex_lock(&log_lock);
	if (target.enabled && level <= target.level) {
		FILE *out = target.out ? target.out : stderr;
		if (configured)
			write_configured_line(out, level, file, line, text);
		else
			fprintf(out, "vmon: %s: %s\n", level_names[level], text);
	}
	pthread_mutex_unlock(&log_lock);
}

bool log_limit_allow(struct log_limit *limit)
{
	uint_fast64_t seen = atomic_fetch_add(&limit->count, 1);
	return seen < limit->burst;
}
