#include "migration/migrate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "migration/pages.h"
#include "migration/state.h"
#include "migration/stream.h"
#include "util/log.h"

#define PAGES_HEADER_SIZE 16 /* u64 first page, u32 count, u32 CRC-32 */
#define ZERO_HEADER_SIZE 12  /* u64 first page, u32 count */

static int send_blob(int fd, uint32_t type, const uint8_t *blob, size_t len)
{
	return stream_send(fd, type, blob, len, NULL, 0);
}

/* ---- the source ---- */

struct source {
	struct machine *m;
	struct guest_mem *mem;
	int fd;
	uint64_t nr_pages;
	uint64_t *dirty;          /* pages to send next */
	uint8_t *copy;            /* STREAM_MAX_PAGES pages: what is sent, copied first */
	struct migrate_stats *stats;
};

static const uint8_t *page_at(const struct source *s, uint64_t page)
{
	return guest_mem_offset_ptr(s->mem, page * GUEST_PAGE_SIZE, GUEST_PAGE_SIZE);
}

/*
 * Pages [first, first + count) with data. They are copied before the
 * checksum: the vCPUs may be changing them (a page changed after the copy
 * is dirty again and goes in a later round).
 */
static int send_data_pages(struct source *s, uint64_t first, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++)
		memcpy(s->copy + (size_t)i * GUEST_PAGE_SIZE, page_at(s, first + i), GUEST_PAGE_SIZE);
	size_t len = (size_t)count * GUEST_PAGE_SIZE;
	uint8_t header[PAGES_HEADER_SIZE];
	stream_put_le64(header, first);
	stream_put_le32(header + 8, count);
	stream_put_le32(header + 12, (uint32_t)crc32(0, s->copy, (uInt)len));
	s->stats->pages_sent += count;
	s->stats->bytes_sent += STREAM_HEADER_SIZE + sizeof(header) + len;
	return stream_send(s->fd, MSG_PAGES, header, sizeof(header), s->copy, len);
}

static int send_zero_pages(struct source *s, uint64_t first, uint32_t count)
{
	uint8_t header[ZERO_HEADER_SIZE];
	stream_put_le64(header, first);
	stream_put_le32(header + 8, count);
	s->stats->bytes_sent += STREAM_HEADER_SIZE + sizeof(header);
	return stream_send(s->fd, MSG_ZERO, header, sizeof(header), NULL, 0);
}

/* The pages set in s->dirty, in runs of like pages; the destination's RAM starts zeroed. */
static int send_dirty_pages(struct source *s, bool first_round, uint64_t *count)
{
	int ret = 0;
	*count = 0;
	uint64_t page = bitmap_next_set(s->dirty, 0, s->nr_pages);
	while (ret == 0 && page < s->nr_pages) {
		uint64_t end = bitmap_next_clear(s->dirty, page, s->nr_pages);
		while (ret == 0 && page < end) {
			bool zero = page_is_zero(page_at(s, page));
			uint32_t n = 1;
			while (page + n < end && n < STREAM_MAX_PAGES && page_is_zero(page_at(s, page + n)) == zero)
				n++;
			if (zero)
				s->stats->zero_pages += n;
			ret = !zero ? send_data_pages(s, page, n) : first_round ? 0 : send_zero_pages(s, page, n);
			*count += n;
			page += n;
		}
		page = bitmap_next_set(s->dirty, end, s->nr_pages);
	}
	memset(s->dirty, 0, (s->nr_pages + 63) / 64 * sizeof(uint64_t));
	return ret;
}

static int send_hello_and_config(struct source *s)
{
	uint8_t hello[12];
	memcpy(hello, STREAM_MAGIC, 8);
	stream_put_le32(hello + 8, STREAM_VERSION);
	int ret = stream_send(s->fd, MSG_HELLO, hello, sizeof(hello), NULL, 0);
	uint8_t *blob = NULL;
	size_t len = 0;
	if (ret == 0) {
		struct state_writer w;
		state_writer_init(&w);
		vm_config_save(machine_config(s->m), &w);
		ret = state_writer_finish(&w, &blob, &len);
	}
	if (ret == 0)
		ret = send_blob(s->fd, MSG_CONFIG, blob, len);
	free(blob);
	return ret;
}

/*
 * The first round's pages: all of RAM but those known to be zero without
 * reading them (never touched, or a hole of the memory file the VM was
 * restored from), which the destination's fresh RAM already holds.
 * Dirty logging is on: a page the guest writes from now on is sent later.
 */
static void first_round_pages(struct source *s)
{
	size_t words = (s->nr_pages + 63) / 64;
	memset(s->dirty, 0xff, words * sizeof(uint64_t));
	uint64_t *zero = calloc(words, sizeof(uint64_t));
	if (zero && guest_mem_find_untouched_zero(s->mem, zero) == 0) {
		for (size_t i = 0; i < words; i++)
			s->dirty[i] &= ~zero[i];
		s->stats->zero_pages += bitmap_count(zero, s->nr_pages);
	}
	free(zero);
}

/*
 * Copies RAM while the VM runs: everything, then what was written
 * meanwhile, until the rest fits in the budget at the rate measured.
 */
static int precopy(struct source *s, unsigned max_downtime_ms)
{
	first_round_pages(s);
	for (;;) {
		uint64_t start = stream_now_ms(), bytes_before = s->stats->bytes_sent, sent;
		int ret = send_dirty_pages(s, s->stats->rounds == 0, &sent);
		s->stats->rounds++;
		if (ret == 0)
			ret = machine_take_dirty(s->m, s->dirty, false);
		if (ret < 0)
			return ret;
		uint64_t elapsed = stream_now_ms() - start + 1;
		double bytes_per_ms = (double)(s->stats->bytes_sent - bytes_before) / (double)elapsed;
		uint64_t left = bitmap_count(s->dirty, s->nr_pages);
		double expected_ms = bytes_per_ms > 0 ? (double)left * GUEST_PAGE_SIZE / bytes_per_ms : 0;
		log_debug("migration round %u: %llu pages in %llu ms, %llu dirty (about %.0f ms)",
			  s->stats->rounds, (unsigned long long)sent, (unsigned long long)elapsed,
			  (unsigned long long)left, expected_ms);
		if (expected_ms <= max_downtime_ms || left == 0)
			return 0;
		if (s->stats->rounds >= MIGRATE_MAX_ROUNDS) {
			log_warn("migration: %llu pages still dirty after %u rounds; stopping the VM to send them",
				 (unsigned long long)left, s->stats->rounds);
			return 0;
		}
	}
}

/* Waits for `want` from the destination; its MSG_ERROR text is logged. */
static int expect(int fd, uint32_t want)
{
	uint32_t type;
	uint64_t len;
	int ret = stream_recv_header(fd, &type, &len, LOG_LAST_ERROR_MAX);
	if (ret == 0 && type == MSG_ERROR) {
		char text[LOG_LAST_ERROR_MAX + 1] = { 0 };
		ret = stream_recv(fd, text, (size_t)len);
		log_error("the destination refused the VM: %s", ret == 0 ? text : "(no reason received)");
		return -ECANCELED;
	}
	if (ret == 0 && (type != want || len != 0))
		ret = -EPROTO;
	if (ret < 0)
		log_error("the destination did not answer as expected: %s",
			  ret == -EPROTO ? "it sent something else" : strerror(-ret));
	return ret;
}

/*
 * The destination gave up and closed (a send failed): its MSG_ERROR may
 * wait unread. Logs its reason if so. -ECANCELED then, else the send's
 * error as a lost connection: -EPIPE is reserved for "GO sent, fate
 * unknown".
 */
static int destination_reason(int fd, int send_error)
{
	uint8_t header[STREAM_HEADER_SIZE];
	if (recv(fd, header, sizeof(header), MSG_DONTWAIT | MSG_PEEK) == (ssize_t)sizeof(header) &&
	    stream_get_le32(header) == MSG_ERROR && expect(fd, MSG_READY) == -ECANCELED)
		return -ECANCELED;
	return send_error == -EPIPE ? -ECONNRESET : send_error;
}

/* Frozen: the last pages, the state, and the destination's word that it has all. */
static int stop_and_copy(struct source *s)
{
	uint64_t count;
	int ret = machine_take_dirty(s->m, s->dirty, true);
	if (ret == 0)
		ret = send_dirty_pages(s, false, &count);
	s->stats->last_round_pages = ret == 0 ? count : 0;
	uint8_t *blob = NULL;
	size_t len = 0;
	if (ret == 0)
		ret = machine_save_state(s->m, &blob, &len);
	if (ret == 0) {
		ret = send_blob(s->fd, MSG_STATE, blob, len);
		s->stats->bytes_sent += STREAM_HEADER_SIZE + len;
	}
	free(blob);
	if (ret < 0 && (ret = destination_reason(s->fd, ret)) != -ECANCELED)
		log_error("cannot send the VM to the destination: %s", strerror(-ret));
	return ret == 0 ? expect(s->fd, MSG_READY) : ret;
}

static int source_setup(struct source *s, struct machine *m, struct migrate_stats *stats)
{
	*s = (struct source){ .m = m, .mem = machine_memory(m), .fd = -1, .stats = stats };
	s->nr_pages = s->mem->ram_size / GUEST_PAGE_SIZE;
	s->dirty = calloc((s->nr_pages + 63) / 64, sizeof(uint64_t));
	s->copy = malloc(STREAM_MAX_PAGES * GUEST_PAGE_SIZE);
	return s->dirty && s->copy ? 0 : -ENOMEM;
}

static void source_cleanup(struct source *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->dirty);
	free(s->copy);
}

/* Dirty logging on or off, on the briefly frozen VM. */
static int set_tracking(struct machine *m, bool on, bool run_after)
{
	machine_freeze(m);
	int ret = machine_track_dirty(m, on);
	if (ret == -ENOTSUP)
		log_error("this KVM cannot log dirty pages: live migration is impossible here");
	else if (ret < 0 && on)
		log_error("cannot start logging dirty pages: %s", strerror(-ret));
	machine_thaw(m, run_after);
	return ret;
}

/* Everything up to READY; on failure the VM runs on (paused if it was). */
static int migrate_until_ready(struct source *s, const char *destination, unsigned max_downtime_ms,
			       uint64_t *freeze_ms)
{
	bool was_paused = machine_is_paused(s->m);
	int ret = set_tracking(s->m, true, !was_paused);
	if (ret < 0)
		return ret;
	s->fd = stream_connect(destination);
	ret = s->fd < 0 ? s->fd : send_hello_and_config(s);
	if (ret == 0)
		ret = precopy(s, max_downtime_ms);
	if (ret < 0 && s->fd >= 0 && (ret = destination_reason(s->fd, ret)) != -ECANCELED)
		log_error("migration to %s failed while copying memory: %s", destination, strerror(-ret));
	if (ret == 0 && machine_stop_requested(s->m)) {
		log_error("the VM stopped during the migration");
		ret = -ECANCELED;
	}
	if (ret == 0) {
		*freeze_ms = stream_now_ms();
		/* Frozen, the guest waits: the whole rest has one bound, however slow the peer. */
		stream_set_deadline(*freeze_ms + MIGRATE_FROZEN_LIMIT_S * 1000ull);
		machine_freeze(s->m);
		ret = stop_and_copy(s);
	}
	if (ret < 0)
		set_tracking(s->m, false, !was_paused);
	return ret;
}

int migrate_send(struct machine *m, const char *destination, unsigned max_downtime_ms,
		 struct migrate_stats *stats)
{
	memset(stats, 0, sizeof(*stats));
	uint64_t start = stream_now_ms(), freeze = 0;
	struct source s;
	int ret = machine_check_savable(m);
	if (ret < 0)
		return ret;
	ret = source_setup(&s, m, stats);
	if (ret == 0)
		ret = migrate_until_ready(&s, destination, max_downtime_ms, &freeze);
	if (ret == 0 && machine_stop_requested(m)) {
		log_error("the VM stopped during the migration: the destination does not run it");
		ret = -ECANCELED; /* no GO: the destination gives up */
	}
	if (ret == 0 && (stream_send(s.fd, MSG_GO, NULL, 0, NULL, 0) < 0 || expect(s.fd, MSG_RESUMED) < 0)) {
		log_error("the destination did not confirm it runs the VM: it stays paused here");
		machine_track_dirty(m, false); /* frozen still: PATCH /vm Resumed thaws it */
		ret = -EPIPE;
	}
	stream_set_deadline(0);
	if (ret == 0) {
		stats->downtime_ms = stream_now_ms() - freeze;
		stats->total_ms = stream_now_ms() - start;
		log_info("migrated to %s: %u rounds, %llu pages (%llu zero), %llu ms, downtime %llu ms",
			 destination, stats->rounds, (unsigned long long)stats->pages_sent,
			 (unsigned long long)stats->zero_pages, (unsigned long long)stats->total_ms,
			 (unsigned long long)stats->downtime_ms);
	}
	source_cleanup(&s);
	return ret;
}

/* ---- the destination ---- */

struct destination {
	int fd;
	struct machine *m;
	struct guest_mem *mem;
	uint64_t nr_pages;
	uint8_t *buf;             /* a MSG_PAGES payload */
};

/* Tells the source why we give up (best effort: it may be gone). */
static void send_error(int fd, const char *why)
{
	stream_send(fd, MSG_ERROR, why, strlen(why), NULL, 0);
}

static int protocol_error(const char *what)
{
	log_error("migration: the source sent %s", what);
	return -EPROTO;
}

static int recv_hello(int fd)
{
	uint32_t type;
	uint64_t len;
	uint8_t hello[12];
	int ret = stream_recv_header(fd, &type, &len, sizeof(hello));
	if (ret == 0 && (type != MSG_HELLO || len != sizeof(hello)))
		ret = -EPROTO;
	if (ret == 0)
		ret = stream_recv(fd, hello, sizeof(hello));
	if (ret == 0 && memcmp(hello, STREAM_MAGIC, 8) != 0)
		ret = -EPROTO;
	if (ret < 0)
		return ret == -EPROTO ? protocol_error("no vmon migration greeting") : ret;
	if (stream_get_le32(hello + 8) != STREAM_VERSION) {
		log_error("migration: the source speaks stream version %u, this vmon %u",
			  stream_get_le32(hello + 8), STREAM_VERSION);
		return -EPROTO;
	}
	return 0;
}

/* A state blob message of type `want`, checked: *blob (malloc'd) under *r. */
static int recv_state(int fd, uint32_t want, uint8_t **blob, struct state_reader *r)
{
	uint32_t type;
	uint64_t len;
	int ret = stream_recv_header(fd, &type, &len, STATE_MAX_SIZE);
	if (ret == 0 && type != want)
		ret = -EPROTO;
	if (ret < 0)
		return ret == -EPROTO ? protocol_error("a message out of order") : ret;
	*blob = malloc(len ? len : 1);
	if (!*blob)
		return -ENOMEM;
	ret = stream_recv(fd, *blob, len);
	const char *why = "";
	if (ret == 0 && state_reader_open(r, *blob, len, &why) < 0) {
		log_error("migration: the source's state cannot be used: %s", why);
		ret = -EPROTO;
	}
	return ret;
}

static int recv_config(struct destination *d, struct vm_config *cfg)
{
	uint8_t *blob = NULL;
	struct state_reader r;
	int ret = recv_state(d->fd, MSG_CONFIG, &blob, &r);
	if (ret == 0)
		ret = vm_config_load(&r, cfg);
	free(blob);
	return ret;
}

static bool listed(const char *const *names, unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

/* Every disk and TAP the source's configuration names is one the operator allowed. */
static int check_resources(const struct vm_config *cfg, const struct migrate_resources *allowed)
{
	for (unsigned i = 0; i < cfg->nr_disks; i++)
		if (!listed(allowed->disks, allowed->nr_disks, cfg->disks[i].path)) {
			log_error("migration: the VM uses the disk '%s', which this destination was not "
				  "given (--allow-disk)", cfg->disks[i].path);
			return -EPERM;
		}
	for (unsigned i = 0; i < cfg->nr_nics; i++)
		if (!listed(allowed->taps, allowed->nr_taps, cfg->nics[i].tap)) {
			log_error("migration: the VM uses the TAP '%s', which this destination was not "
				  "given (--allow-tap)", cfg->nics[i].tap);
			return -EPERM;
		}
	return 0;
}

/* Checks a page run against RAM: its pages, or NULL. */
static uint8_t *run_target(struct destination *d, uint64_t first, uint32_t count)
{
	if (count == 0 || count > STREAM_MAX_PAGES || first >= d->nr_pages || count > d->nr_pages - first)
		return NULL;
	return guest_mem_offset_ptr(d->mem, first * GUEST_PAGE_SIZE, (uint64_t)count * GUEST_PAGE_SIZE);
}

static int recv_pages(struct destination *d, uint64_t len)
{
	if (len < PAGES_HEADER_SIZE || len > PAGES_HEADER_SIZE + STREAM_MAX_PAGES * GUEST_PAGE_SIZE)
		return protocol_error("a page message of an impossible length");
	int ret = stream_recv(d->fd, d->buf, (size_t)len);
	if (ret < 0)
		return ret;
	uint64_t first = stream_get_le64(d->buf);
	uint32_t count = stream_get_le32(d->buf + 8);
	uint8_t *dst = run_target(d, first, count);
	if (!dst || len != PAGES_HEADER_SIZE + (uint64_t)count * GUEST_PAGE_SIZE)
		return protocol_error("pages outside the VM's memory");
	const uint8_t *data = d->buf + PAGES_HEADER_SIZE;
	if (crc32(0, data, (uInt)(len - PAGES_HEADER_SIZE)) != stream_get_le32(d->buf + 12))
		return protocol_error("pages that fail their checksum");
	memcpy(dst, data, (size_t)count * GUEST_PAGE_SIZE);
	return 0;
}

static int recv_zero(struct destination *d, uint64_t len)
{
	uint8_t header[ZERO_HEADER_SIZE];
	if (len != sizeof(header))
		return protocol_error("a malformed zero-page message");
	int ret = stream_recv(d->fd, header, sizeof(header));
	uint8_t *dst = ret == 0 ? run_target(d, stream_get_le64(header), stream_get_le32(header + 8)) : NULL;
	if (ret == 0 && !dst)
		return protocol_error("zero pages outside the VM's memory");
	if (ret == 0)
		memset(dst, 0, (size_t)stream_get_le32(header + 8) * GUEST_PAGE_SIZE);
	return ret;
}

/* Pages until the state comes: 0 with the header of MSG_STATE read (its length in *state_len). */
static int recv_memory(struct destination *d, uint64_t *state_len)
{
	for (;;) {
		uint32_t type;
		uint64_t len;
		int ret = stream_recv_header(d->fd, &type, &len, STREAM_MAX_PAYLOAD);
		if (ret == -EPROTO)
			return protocol_error("a malformed message");
		if (ret < 0)
			return ret;
		if (type == MSG_STATE) {
			*state_len = len;
			return 0;
		}
		ret = type == MSG_PAGES ? recv_pages(d, len)
		    : type == MSG_ZERO ? recv_zero(d, len) : protocol_error("a message out of order");
		if (ret < 0)
			return ret;
	}
}

static int recv_and_load_state(struct destination *d, uint64_t len)
{
	if (len > STATE_MAX_SIZE)
		return protocol_error("a state larger than any vmon state");
	uint8_t *blob = malloc(len ? len : 1);
	int ret = blob ? stream_recv(d->fd, blob, (size_t)len) : -ENOMEM;
	struct state_reader r;
	const char *why = "";
	if (ret == 0 && state_reader_open(&r, blob, (size_t)len, &why) < 0) {
		log_error("migration: the source's state cannot be used: %s", why);
		ret = -EPROTO;
	}
	if (ret == 0)
		ret = machine_load_state(d->m, &r);
	free(blob);
	return ret;
}

/* From the greeting to a loaded, frozen machine in d->m. */
static int receive_vm(struct destination *d, const struct migrate_resources *allowed,
		      struct vm_config *cfg)
{
	int ret = recv_hello(d->fd);
	if (ret == 0)
		ret = recv_config(d, cfg);
	if (ret == 0)
		ret = check_resources(cfg, allowed);
	if (ret == 0)
		ret = machine_create_restored(cfg, -1, &d->m);
	if (ret < 0)
		return ret;
	d->mem = machine_memory(d->m);
	d->nr_pages = d->mem->ram_size / GUEST_PAGE_SIZE;
	d->buf = malloc(PAGES_HEADER_SIZE + STREAM_MAX_PAGES * GUEST_PAGE_SIZE);
	uint64_t state_len = 0;
	ret = d->buf ? recv_memory(d, &state_len) : -ENOMEM;
	if (ret == 0)
		ret = recv_and_load_state(d, state_len);
	return ret;
}

/* READY, then nothing runs until GO; RESUMED once it does. */
static int handshake_and_run(struct destination *d)
{
	int ret = stream_send(d->fd, MSG_READY, NULL, 0, NULL, 0);
	uint32_t type;
	uint64_t len;
	if (ret == 0)
		ret = stream_recv_header(d->fd, &type, &len, 0);
	if (ret == 0 && type != MSG_GO)
		ret = -EPROTO;
	if (ret < 0) {
		log_error("migration: the source did not say to run the VM (%s): it keeps it",
			  ret == -EPROTO ? "it sent something else" : strerror(-ret));
		return ret;
	}
	ret = machine_start(d->m);
	if (ret == 0)
		ret = machine_resume(d->m);
	if (ret == 0)
		stream_send(d->fd, MSG_RESUMED, NULL, 0, NULL, 0); /* the VM runs here now, answered or not */
	return ret;
}

static int accept_source(const char *listen_addr, int stop_fd)
{
	int lfd = stream_listen(listen_addr);
	if (lfd < 0)
		return lfd;
	log_info("waiting for a migration on %s", listen_addr);
	int fd = stream_accept(lfd, stop_fd);
	close(lfd);
	if (fd == -ECANCELED)
		log_info("migration: stopped waiting for the source");
	else if (fd < 0)
		log_error("migration: cannot accept the source: %s", strerror(-fd));
	return fd;
}

int migrate_receive(const char *listen_addr, int stop_fd, const struct migrate_resources *allowed,
		    struct vm_config *cfg, struct machine **out)
{
	*out = NULL;
	struct destination d = { .fd = accept_source(listen_addr, stop_fd) };
	if (d.fd < 0)
		return d.fd;
	log_clear_last_error();
	int ret = receive_vm(&d, allowed, cfg);
	if (ret == -ECONNRESET || ret == -ETIMEDOUT)
		log_error("migration: the source %s", ret == -ETIMEDOUT ? "stopped sending" : "went away");
	if (ret < 0 && log_last_error()[0])
		send_error(d.fd, log_last_error());
	if (ret == 0)
		ret = handshake_and_run(&d);
	free(d.buf);
	close(d.fd);
	if (ret < 0) {
		machine_destroy(d.m);
		return ret;
	}
	*out = d.m;
	return 0;
}
