#include "migration/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "migration/pages.h"
#include "util/log.h"

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* A file being written beside its final path, renamed into place when complete. */
struct pending_file {
	char *final_path;
	char *tmp_path;
	int fd;
};

static int pending_open(struct pending_file *f, const char *path, const char *what)
{
	f->fd = -1;
	f->final_path = strdup(path);
	if (!f->final_path || asprintf(&f->tmp_path, "%s.XXXXXX", path) < 0) {
		f->tmp_path = NULL;
		return -ENOMEM;
	}
	f->fd = mkstemp(f->tmp_path);
	if (f->fd < 0) {
		int err = -errno;
		log_error("cannot create the %s file beside '%s': %s", what, path, strerror(errno));
		return err;
	}
	return 0;
}

/* Renames a complete file into place (commit) or removes it. */
static int pending_close(struct pending_file *f, bool commit, const char *what)
{
	int ret = 0;
	if (f->fd >= 0 && close(f->fd) != 0 && commit) {
		ret = -errno;
		log_error("cannot write the %s file '%s': %s", what, f->final_path, strerror(errno));
	}
	if (f->tmp_path && commit && ret == 0 && rename(f->tmp_path, f->final_path) != 0) {
		ret = -errno;
		log_error("cannot rename the %s file into '%s': %s", what, f->final_path,
			  strerror(errno));
	}
	if (f->tmp_path && (!commit || ret < 0))
		unlink(f->tmp_path);
	free(f->tmp_path);
	free(f->final_path);
	return ret;
}

static int write_all(int fd, const void *data, size_t len, off_t offset)
{
	const uint8_t *p = data;
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		offset += n;
	}
	return 0;
}

/* The RAM image: the file's size is the RAM's, runs of non-zero pages are written, zeroes are holes. */
static int write_memory(int fd, const struct guest_mem *mem, uint64_t *written)
{
	if (ftruncate(fd, (off_t)mem->ram_size) != 0)
		return -errno;
	uint64_t pages = mem->ram_size / GUEST_PAGE_SIZE;
	*written = 0;
	for (uint64_t page = 0; page < pages;) {
		const uint8_t *p = guest_mem_offset_ptr(mem, page * GUEST_PAGE_SIZE, GUEST_PAGE_SIZE);
		if (page_is_zero(p)) {
			page++;
			continue;
		}
		uint64_t end = page + 1;
		while (end < pages && end - page < 256 &&
		       !page_is_zero(guest_mem_offset_ptr(mem, end * GUEST_PAGE_SIZE, GUEST_PAGE_SIZE)))
			end++;
		uint64_t len = (end - page) * GUEST_PAGE_SIZE;
		int ret = write_all(fd, p, len, (off_t)(page * GUEST_PAGE_SIZE));
		if (ret < 0)
			return ret;
		*written += len;
		page = end;
	}
	return 0;
}

/*
 * Both files are written beside their paths first; only when both are
 * complete does the memory file, then the state file, take its place. A
 * failure leaves the older files of those names as they were.
 */
static int save_files(struct machine *m, struct pending_file *state, struct pending_file *mem,
		      struct snapshot_stats *stats)
{
	uint8_t *blob = NULL;
	size_t len = 0;
	int ret = machine_save_state(m, &blob, &len);
	stats->state_bytes = len;
	if (ret == 0 && (ret = write_all(state->fd, blob, len, 0)) < 0)
		log_error("cannot write the snapshot file '%s': %s", state->final_path, strerror(-ret));
	free(blob);
	const struct guest_mem *ram = machine_memory(m);
	stats->memory_bytes = ram->ram_size;
	if (ret == 0 && (ret = write_memory(mem->fd, ram, &stats->written_bytes)) < 0)
		log_error("cannot write the memory file '%s': %s", mem->final_path, strerror(-ret));
	return ret;
}

int snapshot_create(struct machine *m, const char *state_path, const char *mem_path,
		    struct snapshot_stats *stats)
{
	memset(stats, 0, sizeof(*stats));
	uint64_t start = now_us();
	struct pending_file state = { .fd = -1 }, mem = { .fd = -1 };
	int ret = machine_check_savable(m);
	if (ret < 0)
		return ret;
	ret = pending_open(&state, state_path, "snapshot");
	if (ret == 0)
		ret = pending_open(&mem, mem_path, "memory");
	if (ret == 0) {
		machine_freeze(m);
		ret = save_files(m, &state, &mem, stats);
		machine_thaw(m, false); /* logs a device that cannot serve again; the files are good */
	}
	int committed = pending_close(&mem, ret == 0, "memory");
	ret = ret ? ret : committed;
	committed = pending_close(&state, ret == 0, "snapshot");
	stats->elapsed_us = now_us() - start;
	return ret ? ret : committed;
}

static int read_whole_file(const char *path, uint8_t **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct stat st;
	int ret = fstat(fd, &st) != 0 ? -errno : !S_ISREG(st.st_mode) ? -EINVAL
		: (uint64_t)st.st_size > STATE_MAX_SIZE ? -EFBIG : 0;
	uint8_t *buf = ret == 0 ? malloc(st.st_size ? (size_t)st.st_size : 1) : NULL;
	if (ret == 0 && !buf)
		ret = -ENOMEM;
	size_t got = 0;
	while (ret == 0 && got < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			ret = n < 0 ? -errno : -EIO;
		else
			got += (size_t)n;
	}
	close(fd);
	if (ret < 0) {
		free(buf);
		return ret;
	}
	*out = buf;
	*len = got;
	return 0;
}

int snapshot_open(struct snapshot *s, const char *state_path)
{
	memset(s, 0, sizeof(*s));
	vm_config_init(&s->cfg);
	int ret = read_whole_file(state_path, &s->blob, &s->len);
	if (ret == -EINVAL)
		log_error("the snapshot '%s' is not a regular file", state_path);
	else if (ret == -EFBIG)
		log_error("the snapshot '%s' is larger than any vmon state (%u MiB)", state_path,
			  STATE_MAX_SIZE >> 20);
	else if (ret < 0)
		log_error("cannot read the snapshot '%s': %s", state_path, strerror(-ret));
	const char *why = "";
	if (ret == 0 && (ret = state_reader_open(&s->reader, s->blob, s->len, &why)) < 0)
		log_error("the snapshot '%s' cannot be used: %s", state_path, why);
	if (ret == 0)
		ret = vm_config_load(&s->reader, &s->cfg);
	if (ret < 0)
		snapshot_close(s);
	return ret;
}

void snapshot_close(struct snapshot *s)
{
	free(s->blob);
	vm_config_free(&s->cfg);
	memset(s, 0, sizeof(*s));
}

int snapshot_restore(const struct snapshot *s, const struct vm_config *cfg, const char *mem_path,
		     struct machine **out)
{
	*out = NULL;
	int fd = open(mem_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		int err = -errno;
		log_error("cannot open the memory file '%s': %s", mem_path, strerror(errno));
		return err;
	}
	struct machine *m;
	int ret = machine_create_restored(cfg, fd, &m);
	close(fd); /* the mapping keeps the file */
	if (ret == 0 && (ret = machine_load_state(m, &s->reader)) < 0) {
		machine_destroy(m);
		return ret;
	}
	if (ret == 0)
		*out = m;
	return ret;
}
