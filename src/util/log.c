#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>

static enum log_level current_level = LOG_INFO;

static const char *const level_names[] = {
	[LOG_ERROR] = "error",
	[LOG_WARN] = "warning",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

void log_set_level(enum log_level level)
{
	current_level = level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (level > current_level)
		return;

	/* One fprintf per line: lines from different threads do not interleave. */
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "vmon: %s: %s\n", level_names[level], line);
}

bool log_limit_allow(struct log_limit *limit)
{
	uint_fast64_t seen = atomic_fetch_add(&limit->count, 1);
	return seen < limit->burst;
}
