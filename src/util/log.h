/* Logging: every line vmon prints about itself goes through here. */
#ifndef VMON_UTIL_LOG_H
#define VMON_UTIL_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
void log_msg(enum log_level level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_error(...) log_msg(LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)

/*
 * The last error this thread logged since log_clear_last_error ("" if
 * none): a caller that answers someone (the API) passes it on as the
 * reason. Valid until the thread logs again.
 */
#define LOG_LAST_ERROR_MAX 512
const char *log_last_error(void);
void log_clear_last_error(void);

/* The level in force (--verbose: LOG_DEBUG). */
enum log_level log_current_level(void);

/*
 * Where the log goes once the API configures it (Firecracker's PUT
 * /logger): lines to `fd` (owned from now on, best non-blocking: a line
 * that cannot be written at once is dropped; -1: stderr), each with a
 * timestamp and the thread, the level and the source position only when
 * asked. `enabled` false: nothing at all (level "Off"). Control characters
 * in any message are shown as '?'.
 */
struct log_target {
	int fd;
	bool enabled;
	enum log_level level;
	bool show_level, show_origin;
};
void log_configure(const struct log_target *target);

/*
 * A rate limit for messages a guest can trigger at will: the first
 * `burst` events are logged, later ones only counted.
 */
struct log_limit {
	atomic_uint_fast64_t count;
	unsigned burst;
};
#define LOG_LIMIT_INIT(b) { .count = 0, .burst = (b) }

/* Counts one event; true if it should still be logged. */
bool log_limit_allow(struct log_limit *limit);

#endif
