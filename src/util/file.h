#ifndef VMON_UTIL_FILE_H
#define VMON_UTIL_FILE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Reads a whole regular file of at most max_size bytes into a new buffer.
 * Returns 0 or -errno (-EFBIG when too large, -EINVAL when not a regular file).
 */
int read_whole_file(const char *path, size_t max_size, uint8_t **buf, size_t *size);

#endif
