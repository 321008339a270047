/*
 * A minimal TAP producer for unit tests: each CHECK is one numbered test
 * point, so Meson (protocol: 'tap') counts every check on its own.
 */
#ifndef VMON_TESTS_TAP_H
#define VMON_TESTS_TAP_H

#include <stdio.h>

static int tap_count;
static int tap_failed;

#define CHECK(cond, ...)                                                  \
	do {                                                                  \
		int tap_ok_ = !!(cond);                                           \
		tap_count++;                                                      \
		if (tap_ok_) {                                                       \
			printf("ok %d - ", tap_count);                                \
		} else {                                                          \
			tap_failed++;                                                 \
			printf("not ok %d - ", tap_count);                            \
		}                                                                 \
		printf(__VA_ARGS__);                                              \
		printf("%s\n", tap_ok_ ? "" : "  (" #cond ", " __FILE__ ")");      \
	} while (0)

/* A test point that cannot run on this host: TAP's "# SKIP" directive. */
#define SKIP(...)                                                         \
	do {                                                                  \
		tap_count++;                                                      \
		printf("ok %d # SKIP ", tap_count);                               \
		printf(__VA_ARGS__);                                              \
		printf("\n");                                                     \
	} while (0)

/* Prints the plan and returns the exit status for main(). */
static inline int tap_finish(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

#endif
