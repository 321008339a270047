/*
 * Split virtqueues: a fake driver builds rings in fake guest RAM; the device
 * side takes good chains, refuses bad ones without taking them or writing
 * anything (and, under ASan, without reading outside RAM), and gets
 * notifications right.
 *
 * `test_virtqueue --fuzz-seeds DIR` writes the seed corpus of
 * fuzz_virtqueue with the same fake driver instead.
 */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_iommu.h"
#include "fuzz_seed.h"
#include "tap.h"
#include "virtio/virtio.h"
#include "virtio/virtqueue.h"

#define GiB (1ull << 30)

#define RAM_GPA  0x100000ull
#define RAM_SIZE 0x100000ull /* 1 MiB: room for a 32768-entry queue */
#define RAM_END  (RAM_GPA + RAM_SIZE)

/* Where the fake driver puts things, from its base address. */
#define DESC_OFF  0x0000 /* up to 256 descriptors */
#define AVAIL_OFF 0x1000
#define USED_OFF  0x1800
#define TABLE_OFF 0x3000 /* an indirect table */
#define BUF_OFF   0x8000 /* buffers, handed out one after the other */

#define NEXT     VIRTQ_DESC_F_NEXT
#define WRITE    VIRTQ_DESC_F_WRITE
#define INDIRECT VIRTQ_DESC_F_INDIRECT

/* Negotiated features, as the fuzz target's input encodes them too. */
enum { F_EVENT_IDX = 1, F_INDIRECT = 2 };

struct driver {
	struct guest_mem gm;
	uint8_t *ram;       /* malloc'd, or NULL when gm maps its own */
	uint64_t ram_size;
	uint64_t base;      /* where DESC_OFF and the others start */
	struct virtq vq;
	uint16_t avail_idx; /* the driver's next avail idx */
	uint64_t next_buf;  /* gpa of the next buffer to hand out */
};

static struct virtq_chain *chain; /* malloc'd, so that ASan guards its end */

static void put16(struct driver *d, uint64_t gpa, uint16_t v)
{
	uint16_t le = htole16(v);
	guest_mem_write(&d->gm, gpa, &le, sizeof(le));
}

static uint16_t get16(struct driver *d, uint64_t gpa)
{
	uint16_t le = 0;
	guest_mem_read(&d->gm, gpa, &le, sizeof(le));
	return le16toh(le);
}

static uint32_t get32(struct driver *d, uint64_t gpa)
{
	uint32_t le = 0;
	guest_mem_read(&d->gm, gpa, &le, sizeof(le));
	return le32toh(le);
}

static uint64_t desc_gpa(const struct driver *d) { return d->base + DESC_OFF; }
static uint64_t table_gpa(const struct driver *d) { return d->base + TABLE_OFF; }
static uint64_t avail_flags_gpa(const struct driver *d) { return d->base + AVAIL_OFF; }
static uint64_t avail_idx_gpa(const struct driver *d) { return d->base + AVAIL_OFF + 2; }
static uint64_t used_idx_gpa(const struct driver *d) { return d->base + USED_OFF + 2; }

static uint64_t used_event_gpa(const struct driver *d)
{
	return d->base + AVAIL_OFF + 4 + 2ull * d->vq.size;
}

static uint64_t used_elem_gpa(const struct driver *d, uint16_t slot)
{
	return d->base + USED_OFF + 4 + 8ull * slot;
}

static uint64_t avail_event_gpa(const struct driver *d)
{
	return used_elem_gpa(d, d->vq.size);
}

/* Writes descriptor i of the table at `table`. */
static void set_desc(struct driver *d, uint64_t table, uint16_t i, uint64_t addr,
		     uint32_t len, uint16_t flags, uint16_t next)
{
	struct { uint64_t addr; uint32_t len; uint16_t flags, next; } le = {
		htole64(addr), htole32(len), htole16(flags), htole16(next),
	};
	guest_mem_write(&d->gm, table + 16ull * i, &le, sizeof(le));
}

/* One buffer of a chain: its length, and WRITE (or NEXT, see put_chain). */
struct seg {
	uint32_t len;
	uint16_t flags;
};

/*
 * Writes segs as descriptors first, first + 1, ... of `table`, each with a
 * fresh buffer, linked by NEXT. NEXT on the last one links it on to the
 * descriptor after it.
 */
static void put_chain(struct driver *d, uint64_t table, uint16_t first,
		      const struct seg *segs, unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		uint16_t flags = segs[k].flags | (k + 1 < n ? NEXT : 0);
		set_desc(d, table, first + k, d->next_buf, segs[k].len, flags, first + k + 1);
		d->next_buf += segs[k].len;
	}
}

/* Queue descriptor i refers to an indirect table of n descriptors at `table`. */
static void put_indirect(struct driver *d, uint16_t i, uint64_t table, uint32_t n,
			 uint16_t flags)
{
	set_desc(d, desc_gpa(d), i, table, n * 16, INDIRECT | flags, 0);
}

/* Makes the chain at `head` available, as a driver does (§2.7.13). */
static void offer(struct driver *d, uint16_t head)
{
	put16(d, d->base + AVAIL_OFF + 4 + 2ull * (d->avail_idx % d->vq.size), head);
	put16(d, avail_idx_gpa(d), ++d->avail_idx);
}

/* Both sides start at index `start`, as after that many buffers. */
static void driver_set_start(struct driver *d, uint16_t start)
{
	d->avail_idx = start;
	put16(d, avail_idx_gpa(d), start);
	put16(d, used_idx_gpa(d), start);
	d->vq.last_avail = start;
	d->vq.used_idx = start;
}

/* Sets up the queue at d->base in d->gm, which the caller has set up. */
static void driver_attach(struct driver *d, uint16_t size, unsigned features)
{
	d->vq = (struct virtq){
		.dma.mem = &d->gm, .size = size,
		.desc_gpa = d->base + DESC_OFF,
		.avail_gpa = d->base + AVAIL_OFF,
		.used_gpa = d->base + USED_OFF,
		.event_idx = features & F_EVENT_IDX,
		.indirect = features & F_INDIRECT,
	};
	d->avail_idx = 0;
	d->next_buf = d->base + BUF_OFF;
	if (virtq_init(&d->vq) != 0) {
		printf("Bail out! virtq_init refused the fake driver's queue\n");
		exit(1);
	}
}

/* Zeroed malloc'd RAM of ram_size bytes at ram_gpa; the queue at ram_gpa + base_off. */
static void driver_start_in(struct driver *d, uint64_t ram_gpa, uint64_t ram_size,
			    uint64_t base_off, uint16_t size, unsigned features)
{
	d->ram = calloc(1, ram_size);
	if (!d->ram) {
		printf("Bail out! no memory for the fake RAM\n");
		exit(1);
	}
	d->ram_size = ram_size;
	guest_mem_init_flat(&d->gm, d->ram, ram_gpa, ram_size);
	d->base = ram_gpa + base_off;
	driver_attach(d, size, features);
}

static void driver_start(struct driver *d, uint16_t size, unsigned features)
{
	driver_start_in(d, RAM_GPA, RAM_SIZE, 0, size, features);
}

static void driver_stop(struct driver *d)
{
	if (d->ram)
		free(d->ram);
	else
		guest_mem_destroy(&d->gm);
}

static bool buf_is(struct driver *d, unsigned k, uint64_t gpa, uint32_t len, bool writable)
{
	const struct virtq_buf *b = &chain->bufs[k];
	return b->host == guest_mem_ptr(&d->gm, gpa, len) && b->len == len &&
	       b->device_writable == writable;
}

/* --- good chains --- */

static void test_readable_then_writable(void)
{
	struct driver d;
	driver_start(&d, 16, 0);
	uint64_t buf = d.next_buf;
	static const struct seg segs[] = { { 16, 0 }, { 32, 0 }, { 64, WRITE } };
	put_chain(&d, desc_gpa(&d), 5, segs, 3);
	offer(&d, 5);

	CHECK(virtq_pop(&d.vq, chain) == 1, "a readable+writable chain is taken");
	CHECK(chain->head == 5 && chain->count == 3, "head and buffer count");
	CHECK(chain->readable_len == 48 && chain->writable_len == 64, "readable and writable totals");
	CHECK(buf_is(&d, 0, buf, 16, false) && buf_is(&d, 1, buf + 16, 32, false) &&
	      buf_is(&d, 2, buf + 48, 64, true), "buffers translated in chain order");
	CHECK(virtq_pop(&d.vq, chain) == 0 && d.vq.last_avail == 1, "then nothing is available");
	driver_stop(&d);
}

static void test_empty_buffers(void)
{
	struct driver d;
	driver_start(&d, 16, 0);
	uint64_t buf = d.next_buf;
	static const struct seg segs[] = { { 0, 0 }, { 8, 0 }, { 0, WRITE }, { 4, WRITE } };
	put_chain(&d, desc_gpa(&d), 0, segs, 4);
	offer(&d, 0);

	CHECK(virtq_pop(&d.vq, chain) == 1, "a chain with empty buffers is taken");
	CHECK(chain->count == 2 && buf_is(&d, 0, buf, 8, false) && buf_is(&d, 1, buf + 8, 4, true),
	      "empty buffers are left out of the list");
	CHECK(chain->readable_len == 8 && chain->writable_len == 4, "and add nothing to the totals");
	driver_stop(&d);
}

static void test_indirect(void)
{
	struct driver d;
	driver_start(&d, 16, F_INDIRECT);
	uint64_t buf = d.next_buf;
	static const struct seg direct[] = { { 8, NEXT } };
	static const struct seg table[] = { { 16, 0 }, { 32, WRITE }, { 64, WRITE } };
	put_chain(&d, desc_gpa(&d), 0, direct, 1);
	put_indirect(&d, 1, table_gpa(&d), 3, WRITE);
	put_chain(&d, table_gpa(&d), 0, table, 3);
	offer(&d, 0);

	CHECK(virtq_pop(&d.vq, chain) == 1, "a direct descriptor followed by an indirect table is taken");
	CHECK(chain->count == 4 && buf_is(&d, 0, buf, 8, false) && buf_is(&d, 1, buf + 8, 16, false) &&
	      buf_is(&d, 2, buf + 24, 32, true) && buf_is(&d, 3, buf + 56, 64, true),
	      "the table's buffers follow the direct one; WRITE on the table descriptor is ignored");
	CHECK(chain->readable_len == 24 && chain->writable_len == 96, "totals span both tables");

	/* An indirect table needs no alignment. */
	uint64_t odd = table_gpa(&d) + 0x101;
	static const struct seg one[] = { { 4, WRITE } };
	put_indirect(&d, 2, odd, 1, 0);
	put_chain(&d, odd, 0, one, 1);
	offer(&d, 2);
	CHECK(virtq_pop(&d.vq, chain) == 1 && chain->head == 2 && chain->count == 1 &&
	      chain->bufs[0].device_writable, "an indirect table at an odd address is taken");
	driver_stop(&d);
}

static void test_longest_chain(void)
{
	struct driver d;
	driver_start(&d, 16, F_INDIRECT);
	struct seg segs[VIRTQ_MAX_CHAIN];
	for (unsigned k = 0; k < VIRTQ_MAX_CHAIN; k++)
		segs[k] = (struct seg){ 1, k < VIRTQ_MAX_CHAIN / 2 ? 0 : WRITE };
	put_indirect(&d, 0, table_gpa(&d), VIRTQ_MAX_CHAIN, 0);
	put_chain(&d, table_gpa(&d), 0, segs, VIRTQ_MAX_CHAIN);
	offer(&d, 0);
	CHECK(virtq_pop(&d.vq, chain) == 1 && chain->count == VIRTQ_MAX_CHAIN,
	      "a chain of VIRTQ_MAX_CHAIN buffers is taken");

	/* A whole queue in one chain. */
	struct seg all[16];
	for (unsigned k = 0; k < 16; k++)
		all[k] = (struct seg){ 1, 0 };
	put_chain(&d, desc_gpa(&d), 0, all, 16);
	offer(&d, 0);
	CHECK(virtq_pop(&d.vq, chain) == 1 && chain->count == 16, "a chain using every descriptor is taken");
	driver_stop(&d);
}

static void test_full_queue(void)
{
	struct driver d;
	driver_start(&d, 4, 0);
	static const struct seg one[] = { { 8, 0 } };
	for (uint16_t i = 0; i < 4; i++) {
		put_chain(&d, desc_gpa(&d), i, one, 1);
		offer(&d, i);
	}
	int taken = 0;
	while (virtq_pop(&d.vq, chain) == 1 && chain->head == taken)
		taken++;
	CHECK(taken == 4 && d.vq.last_avail == 4, "a full queue (size chains available) is taken in order");
	driver_stop(&d);
}

/* --- the used ring --- */

static void test_push(void)
{
	struct driver d;
	driver_start(&d, 4, 0);
	CHECK(virtq_push(&d.vq, 2, 100) == 0 && virtq_push(&d.vq, 3, 0) == 0, "push two chains");
	CHECK(get32(&d, used_elem_gpa(&d, 0)) == 2 && get32(&d, used_elem_gpa(&d, 0) + 4) == 100,
	      "first used element: id and len");
	CHECK(get32(&d, used_elem_gpa(&d, 1)) == 3 && get32(&d, used_elem_gpa(&d, 1) + 4) == 0,
	      "second used element");
	CHECK(get16(&d, used_idx_gpa(&d)) == 2 && d.vq.used_idx == 2, "used idx published");
	CHECK(virtq_push(&d.vq, 4, 1) == -EINVAL, "a head past the queue is refused");
	CHECK(get16(&d, used_idx_gpa(&d)) == 2 && get32(&d, used_elem_gpa(&d, 2)) == 0,
	      "and writes nothing");
	driver_stop(&d);
}

static void test_index_wrap(void)
{
	struct driver d;
	driver_start(&d, 4, 0);
	driver_set_start(&d, 65534);
	put16(&d, avail_idx_gpa(&d), (uint16_t)(65534 + 5));
	CHECK(virtq_pop(&d.vq, chain) == -EINVAL, "avail idx 5 ahead of 4 entries, across the wrap, is refused");
	put16(&d, avail_idx_gpa(&d), 65534);

	static const struct seg one[] = { { 8, WRITE } };
	for (uint16_t i = 0; i < 4; i++) {
		put_chain(&d, desc_gpa(&d), i, one, 1);
		offer(&d, i);
	}
	CHECK(get16(&d, avail_idx_gpa(&d)) == 2, "the driver's avail idx wrapped to 2");
	int taken = 0;
	while (virtq_pop(&d.vq, chain) == 1 && chain->head == taken) {
		virtq_push(&d.vq, chain->head, 8);
		taken++;
	}
	CHECK(taken == 4 && d.vq.last_avail == 2, "four chains taken across 65535 -> 0");
	CHECK(get16(&d, used_idx_gpa(&d)) == 2, "used idx wrapped to 2");
	CHECK(get32(&d, used_elem_gpa(&d, 2)) == 0 && get32(&d, used_elem_gpa(&d, 3)) == 1 &&
	      get32(&d, used_elem_gpa(&d, 0)) == 2 && get32(&d, used_elem_gpa(&d, 1)) == 3,
	      "used elements at idx mod size");
	driver_stop(&d);
}

/* --- notifications --- */

static void push_n(struct driver *d, unsigned n)
{
	while (n--)
		virtq_push(&d->vq, 0, 0);
}

static void test_no_interrupt_flag(void)
{
	struct driver d;
	driver_start(&d, 8, 0);
	push_n(&d, 1);
	CHECK(virtq_should_notify(&d.vq), "without EVENT_IDX: notify by default");
	put16(&d, avail_flags_gpa(&d), VIRTQ_AVAIL_F_NO_INTERRUPT);
	push_n(&d, 1);
	CHECK(!virtq_should_notify(&d.vq), "not with VIRTQ_AVAIL_F_NO_INTERRUPT");
	put16(&d, avail_flags_gpa(&d), 0);
	put16(&d, used_event_gpa(&d), 100);
	push_n(&d, 1);
	CHECK(virtq_should_notify(&d.vq), "used_event is ignored without EVENT_IDX");
	driver_stop(&d);
}

static void test_event_idx(void)
{
	struct driver d;
	driver_start(&d, 8, F_EVENT_IDX);
	put16(&d, used_event_gpa(&d), 0);
	CHECK(virtq_should_notify(&d.vq), "the first check always notifies");
	CHECK(!virtq_should_notify(&d.vq), "nothing pushed since: no notification");
	push_n(&d, 1);
	CHECK(virtq_should_notify(&d.vq), "entry used_event = 0 written: notify");
	put16(&d, used_event_gpa(&d), 2);
	push_n(&d, 1);
	CHECK(!virtq_should_notify(&d.vq), "entry 1 written, used_event 2: no notification");
	push_n(&d, 1);
	CHECK(virtq_should_notify(&d.vq), "entry 2 written: notify");
	put16(&d, used_event_gpa(&d), 4);
	push_n(&d, 3);
	CHECK(virtq_should_notify(&d.vq), "entries 3..5 in one batch cover used_event 4: notify");
	put16(&d, used_event_gpa(&d), 5);
	push_n(&d, 1);
	CHECK(!virtq_should_notify(&d.vq), "used_event 5 already signalled: entry 6 does not notify");
	put16(&d, avail_flags_gpa(&d), VIRTQ_AVAIL_F_NO_INTERRUPT);
	put16(&d, used_event_gpa(&d), 7);
	push_n(&d, 1);
	CHECK(virtq_should_notify(&d.vq), "with EVENT_IDX, NO_INTERRUPT is ignored");

	d.vq.used_idx = d.vq.signalled_used = 65535;
	put16(&d, used_event_gpa(&d), 0);
	push_n(&d, 1);
	CHECK(!virtq_should_notify(&d.vq), "entry 65535 written, used_event 0: no notification");
	push_n(&d, 1);
	CHECK(virtq_should_notify(&d.vq), "entry 0 written after the wrap: notify");
	driver_stop(&d);
}

static void test_avail_event(void)
{
	static const struct seg one[] = { { 8, 0 } };
	struct driver d;
	driver_start(&d, 8, F_EVENT_IDX);
	put_chain(&d, desc_gpa(&d), 0, one, 1);
	offer(&d, 0);
	offer(&d, 0);
	virtq_pop(&d.vq, chain);
	virtq_pop(&d.vq, chain);
	virtq_publish_avail_event(&d.vq);
	CHECK(get16(&d, avail_event_gpa(&d)) == 2, "avail_event = last_avail after two chains");
	driver_stop(&d);

	/* A device waiting for more room than the ring has: the next addition must notify. */
	driver_start(&d, 8, F_EVENT_IDX);
	put_chain(&d, desc_gpa(&d), 0, one, 1);
	offer(&d, 0);
	offer(&d, 0);
	offer(&d, 0);
	virtq_pop(&d.vq, chain);
	virtq_pop(&d.vq, chain);
	virtq_unpop(&d.vq, 2);
	virtq_publish_avail_event(&d.vq);
	CHECK(get16(&d, avail_event_gpa(&d)) == 3,
	      "chains seen and put back: avail_event = the driver's avail idx, not last_avail");
	driver_stop(&d);

	driver_start(&d, 8, 0);
	put16(&d, avail_event_gpa(&d), 0xabcd);
	put_chain(&d, desc_gpa(&d), 0, one, 1);
	offer(&d, 0);
	virtq_pop(&d.vq, chain);
	virtq_publish_avail_event(&d.vq);
	CHECK(get16(&d, avail_event_gpa(&d)) == 0xabcd, "avail_event is left alone without EVENT_IDX");
	driver_stop(&d);
}

/* --- live migration's write tracking --- */

static bool page_noted(const uint64_t *noted, uint64_t offset)
{
	uint64_t page = offset / GUEST_PAGE_SIZE;
	return noted[page / 64] >> (page % 64) & 1;
}

static unsigned pages_noted(const uint64_t *noted, unsigned words)
{
	unsigned n = 0;
	for (unsigned i = 0; i < words; i++)
		n += (unsigned)__builtin_popcountll(noted[i]);
	return n;
}

#define NOTED_WORDS (RAM_SIZE / GUEST_PAGE_SIZE / 64)

/* Pages the device wrote since the last call, as offsets from RAM_GPA. */
static void take_noted(struct driver *d, uint64_t noted[NOTED_WORDS])
{
	memset(noted, 0, NOTED_WORDS * sizeof(uint64_t));
	guest_mem_take_written(&d->gm, noted, false);
}

static void test_write_tracking(void)
{
	uint64_t noted[NOTED_WORDS];
	struct driver d;
	driver_start(&d, 16, 0);
	static const struct seg readable[] = { { 16, NEXT } }, writable[] = { { 0x200, WRITE } };
	d.next_buf = d.base + 0x8000;
	put_chain(&d, desc_gpa(&d), 0, readable, 1);
	d.next_buf = d.base + 0x9f00; /* across pages 9 and 10 */
	put_chain(&d, desc_gpa(&d), 1, writable, 1);
	offer(&d, 0);
	CHECK(guest_mem_track_writes(&d.gm, true) == 0, "write tracking on");
	virtq_pop(&d.vq, chain);
	virtq_push(&d.vq, chain->head, 0x200);
	take_noted(&d, noted);
	CHECK(page_noted(noted, 0x9000) && page_noted(noted, 0xa000),
	      "pop and push: both pages of the writable buffer are noted");
	CHECK(page_noted(noted, USED_OFF), "and the used ring's page");
	CHECK(!page_noted(noted, 0x8000) && pages_noted(noted, NOTED_WORDS) == 3,
	      "nothing else: not the readable buffer's page");
	guest_mem_destroy(&d.gm);
	driver_stop(&d);

	/*
	 * A used ring over four pages: flags and idx end the first, its
	 * elements fill the next two, avail_event starts the fourth.
	 */
	driver_start(&d, 16, F_EVENT_IDX);
	d.vq.size = 1024;
	d.vq.desc_gpa = d.base + 0x10000;
	d.vq.avail_gpa = d.base + 0x20000;
	d.vq.used_gpa = d.base + 0x30000 - 4;
	driver_set_start(&d, 1023);
	guest_mem_track_writes(&d.gm, true);
	struct virtq_used two[] = { { 0, 1 }, { 1, 1 } };
	virtq_push_many(&d.vq, two, 2);
	take_noted(&d, noted);
	CHECK(page_noted(noted, 0x2f000) && page_noted(noted, 0x30000) && page_noted(noted, 0x31000) &&
	      pages_noted(noted, NOTED_WORDS) == 3,
	      "a push wrapping the used ring notes the pages of used idx and of its two elements");
	virtq_publish_avail_event(&d.vq);
	take_noted(&d, noted);
	CHECK(page_noted(noted, 0x32000) && pages_noted(noted, NOTED_WORDS) == 1,
	      "publishing avail_event notes its page");
	guest_mem_destroy(&d.gm);
	driver_stop(&d);
}

/* --- bad chains --- */

/* Pops one chain the driver broke: refused, nothing taken, no RAM written. */
static void expect_refused(struct driver *d, const char *what)
{
	uint8_t *before = NULL;
	if (d->ram && (before = malloc(d->ram_size)))
		memcpy(before, d->ram, d->ram_size);
	uint16_t last_avail = d->vq.last_avail;
	int r = virtq_pop(&d->vq, chain);
	CHECK(r == -EINVAL && d->vq.last_avail == last_avail &&
	      (!before || memcmp(before, d->ram, d->ram_size) == 0),
	      "refused: %s", what);
	free(before);
}

static void bad_next_index(struct driver *d)
{
	set_desc(d, desc_gpa(d), 0, d->next_buf, 8, NEXT, 16);
	offer(d, 0);
}

static void bad_self_loop(struct driver *d)
{
	set_desc(d, desc_gpa(d), 3, d->next_buf, 8, NEXT, 3);
	offer(d, 3);
}

static void bad_loop_longer_than_queue(struct driver *d)
{
	struct seg all[16];
	for (unsigned k = 0; k < 16; k++)
		all[k] = (struct seg){ 1, NEXT };
	put_chain(d, desc_gpa(d), 0, all, 16);
	set_desc(d, desc_gpa(d), 15, d->next_buf, 1, NEXT, 0); /* and round again */
	offer(d, 0);
}

static void bad_readable_after_writable(struct driver *d)
{
	static const struct seg segs[] = { { 8, 0 }, { 8, WRITE }, { 8, 0 } };
	put_chain(d, desc_gpa(d), 0, segs, 3);
	offer(d, 0);
}

static void bad_empty_readable_after_writable(struct driver *d)
{
	static const struct seg segs[] = { { 8, WRITE }, { 0, 0 } };
	put_chain(d, desc_gpa(d), 0, segs, 2);
	offer(d, 0);
}

static void bad_buffer_beyond_ram(struct driver *d)
{
	set_desc(d, desc_gpa(d), 0, RAM_END, 8, 0, 0);
	offer(d, 0);
}

static void bad_buffer_below_ram(struct driver *d)
{
	set_desc(d, desc_gpa(d), 0, RAM_GPA - 8, 8, 0, 0);
	offer(d, 0);
}

static void bad_buffer_straddling_ram_end(struct driver *d)
{
	set_desc(d, desc_gpa(d), 0, RAM_END - 8, 16, WRITE, 0);
	offer(d, 0);
}

static void bad_buffer_wrapping(struct driver *d)
{
	set_desc(d, desc_gpa(d), 0, UINT64_MAX - 7, 16, 0, 0);
	offer(d, 0);
}

static void bad_buffer_second_in_chain(struct driver *d)
{
	set_desc(d, desc_gpa(d), 0, d->next_buf, 8, NEXT, 1);
	set_desc(d, desc_gpa(d), 1, RAM_END - 4, 0xfffffff0, WRITE, 0);
	offer(d, 0);
}

static void bad_indirect_table_of(struct driver *d, uint64_t table, uint32_t len)
{
	set_desc(d, desc_gpa(d), 0, table, len, INDIRECT, 0);
	offer(d, 0);
}

static void good_indirect(struct driver *d)
{
	static const struct seg segs[] = { { 8, 0 }, { 8, WRITE } };
	put_indirect(d, 0, table_gpa(d), 2, 0);
	put_chain(d, table_gpa(d), 0, segs, 2);
	offer(d, 0);
}

static void bad_indirect_len_24(struct driver *d) { bad_indirect_table_of(d, table_gpa(d), 24); }
static void bad_indirect_len_0(struct driver *d) { bad_indirect_table_of(d, table_gpa(d), 0); }
static void bad_indirect_beyond_ram(struct driver *d) { bad_indirect_table_of(d, RAM_END, 32); }
static void bad_indirect_straddling(struct driver *d) { bad_indirect_table_of(d, RAM_END - 16, 32); }

static void bad_indirect_too_long(struct driver *d)
{
	bad_indirect_table_of(d, table_gpa(d), 16 * (VIRTQ_MAX_SIZE + 1));
}

static void bad_indirect_nested(struct driver *d)
{
	static const struct seg inner[] = { { 8, 0 } };
	uint64_t inner_table = table_gpa(d) + 0x100; /* a good table of its own */
	put_chain(d, inner_table, 0, inner, 1);
	put_indirect(d, 0, table_gpa(d), 2, 0);
	set_desc(d, table_gpa(d), 0, d->next_buf, 8, NEXT, 1);
	set_desc(d, table_gpa(d), 1, inner_table, 16, INDIRECT, 0);
	offer(d, 0);
}

static void bad_indirect_with_next(struct driver *d)
{
	good_indirect(d);
	put_indirect(d, 0, table_gpa(d), 2, NEXT);
}

static void bad_indirect_next_index(struct driver *d)
{
	good_indirect(d);
	set_desc(d, table_gpa(d), 0, d->next_buf, 8, NEXT, 2);
}

static void bad_indirect_loop(struct driver *d)
{
	good_indirect(d);
	set_desc(d, table_gpa(d), 1, d->next_buf, 8, NEXT, 0);
}

static void bad_indirect_readable_after_direct_writable(struct driver *d)
{
	static const struct seg direct[] = { { 8, WRITE | NEXT } };
	put_chain(d, desc_gpa(d), 0, direct, 1);
	put_indirect(d, 1, table_gpa(d), 2, 0);
	static const struct seg segs[] = { { 8, 0 }, { 8, WRITE } };
	put_chain(d, table_gpa(d), 0, segs, 2);
	offer(d, 0);
}

static void bad_chain_too_long(struct driver *d)
{
	struct seg segs[VIRTQ_MAX_CHAIN + 1];
	for (unsigned k = 0; k <= VIRTQ_MAX_CHAIN; k++)
		segs[k] = (struct seg){ 1, 0 };
	put_indirect(d, 0, table_gpa(d), VIRTQ_MAX_CHAIN + 1, 0);
	put_chain(d, table_gpa(d), 0, segs, VIRTQ_MAX_CHAIN + 1);
	offer(d, 0);
}

static void bad_avail_idx_too_far(struct driver *d)
{
	good_indirect(d);
	for (unsigned k = 0; k < 16; k++)
		offer(d, 0); /* 17 available in a queue of 16 */
}

static void bad_head(struct driver *d)
{
	good_indirect(d);
	d->avail_idx--;
	offer(d, 16);
}

static const struct {
	const char *what;
	unsigned features;
	void (*build)(struct driver *d);
} bad_chains[] = {
	{ "next index past the queue", 0, bad_next_index },
	{ "a descriptor chained to itself", 0, bad_self_loop },
	{ "a loop longer than the queue", 0, bad_loop_longer_than_queue },
	{ "readable after writable", 0, bad_readable_after_writable },
	{ "empty readable after writable", 0, bad_empty_readable_after_writable },
	{ "buffer beyond RAM", 0, bad_buffer_beyond_ram },
	{ "buffer below RAM", 0, bad_buffer_below_ram },
	{ "buffer straddling the end of RAM", 0, bad_buffer_straddling_ram_end },
	{ "buffer whose addr + len wraps", 0, bad_buffer_wrapping },
	{ "second buffer running out of RAM", 0, bad_buffer_second_in_chain },
	{ "indirect without VIRTIO_F_INDIRECT_DESC", 0, good_indirect },
	{ "indirect table of 24 bytes", F_INDIRECT, bad_indirect_len_24 },
	{ "indirect table of 0 bytes", F_INDIRECT, bad_indirect_len_0 },
	{ "indirect table beyond RAM", F_INDIRECT, bad_indirect_beyond_ram },
	{ "indirect table straddling the end of RAM", F_INDIRECT, bad_indirect_straddling },
	{ "indirect table over 32768 descriptors", F_INDIRECT, bad_indirect_too_long },
	{ "indirect inside an indirect table", F_INDIRECT, bad_indirect_nested },
	{ "INDIRECT together with NEXT", F_INDIRECT, bad_indirect_with_next },
	{ "next index past the indirect table", F_INDIRECT, bad_indirect_next_index },
	{ "a loop in an indirect table", F_INDIRECT, bad_indirect_loop },
	{ "indirect readable after direct writable", F_INDIRECT, bad_indirect_readable_after_direct_writable },
	{ "VIRTQ_MAX_CHAIN + 1 descriptors", F_INDIRECT, bad_chain_too_long },
	{ "avail idx more than the queue size ahead", F_INDIRECT, bad_avail_idx_too_far },
	{ "head past the queue", F_INDIRECT, bad_head },
};

static void test_bad_chains(void)
{
	for (size_t i = 0; i < sizeof(bad_chains) / sizeof(bad_chains[0]); i++) {
		struct driver d;
		driver_start(&d, 16, bad_chains[i].features);
		bad_chains[i].build(&d);
		expect_refused(&d, bad_chains[i].what);
		driver_stop(&d);
	}
}

/* §2.7.5.2: at most 2^32 bytes in total. Two overlapping 2 GiB buffers in 5 GiB of NORESERVE RAM. */
static void test_chain_bytes_limit(void)
{
	struct driver d = { 0 };
	if (guest_mem_init(&d.gm, 5 * GiB, 5 * GiB, 5 * GiB) != 0) {
		CHECK(0, "map 5 GiB of RAM");
		return;
	}
	d.base = 0;
	driver_attach(&d, 16, 0);
	set_desc(&d, desc_gpa(&d), 0, d.next_buf, 2 * GiB, NEXT, 1);
	set_desc(&d, desc_gpa(&d), 1, d.next_buf, 2 * GiB, WRITE, 0);
	offer(&d, 0);
	CHECK(virtq_pop(&d.vq, chain) == 1 && chain->readable_len + chain->writable_len == 4 * GiB,
	      "a chain of exactly 2^32 bytes is taken");
	set_desc(&d, desc_gpa(&d), 1, d.next_buf, 2 * GiB + 1, WRITE, 0);
	offer(&d, 0);
	expect_refused(&d, "a chain of 2^32 + 1 bytes");
	driver_stop(&d);
}

/* --- virtq_init --- */

static int init_with(struct driver *d, uint16_t size, uint64_t desc, uint64_t avail, uint64_t used)
{
	d->vq.size = size;
	d->vq.desc_gpa = desc;
	d->vq.avail_gpa = avail;
	d->vq.used_gpa = used;
	return virtq_init(&d->vq);
}

static void test_init(void)
{
	struct driver d;
	driver_start(&d, 16, 0);
	uint64_t desc = desc_gpa(&d), avail = d.vq.avail_gpa, used = d.vq.used_gpa;

	d.vq.last_avail = d.vq.used_idx = d.vq.signalled_used = 7;
	d.vq.signalled_used_valid = true;
	CHECK(init_with(&d, 16, desc, avail, used) == 0, "a good queue is accepted");
	CHECK(d.vq.last_avail == 0 && d.vq.used_idx == 0 && d.vq.signalled_used == 0 &&
	      !d.vq.signalled_used_valid, "init resets the device state");

	CHECK(init_with(&d, 0, desc, avail, used) == -EINVAL, "size 0 is refused");
	CHECK(init_with(&d, 3, desc, avail, used) == -EINVAL, "size 3 is refused");
	CHECK(init_with(&d, 65535, desc, avail, used) == -EINVAL, "size 65535 is refused");
	CHECK(init_with(&d, 1, desc, avail, used) == 0, "size 1 is accepted");
	CHECK(init_with(&d, VIRTQ_MAX_SIZE, RAM_GPA, RAM_GPA + 0x80000, RAM_GPA + 0x90010) == 0,
	      "size 32768 is accepted");
	CHECK(init_with(&d, VIRTQ_MAX_SIZE, RAM_GPA + 0x80010, RAM_GPA, RAM_GPA + 0x10000) == -EINVAL,
	      "size 32768 with its descriptor table running out of RAM is refused");

	CHECK(init_with(&d, 16, desc + 8, avail, used) == -EINVAL, "descriptor table not 16-aligned");
	CHECK(init_with(&d, 16, desc, avail + 1, used) == -EINVAL, "avail ring not 2-aligned");
	CHECK(init_with(&d, 16, desc, avail, used + 2) == -EINVAL, "used ring not 4-aligned");
	CHECK(init_with(&d, 16, RAM_GPA - 256, avail, used) == -EINVAL, "descriptor table below RAM");
	CHECK(init_with(&d, 16, RAM_END - 256, avail, used) == 0, "descriptor table ending at the end of RAM");
	CHECK(init_with(&d, 16, RAM_END - 240, avail, used) == -EINVAL, "descriptor table straddling the end of RAM");
	CHECK(init_with(&d, 16, desc, RAM_END - 38, used) == 0, "avail ring with used_event ending at the end of RAM");
	CHECK(init_with(&d, 16, desc, RAM_END - 36, used) == -EINVAL, "avail ring whose used_event is outside RAM");
	CHECK(init_with(&d, 16, desc, avail, RAM_END - 136) == 0, "used ring with avail_event 2 bytes short of the end of RAM");
	CHECK(init_with(&d, 16, desc, avail, RAM_END - 132) == -EINVAL, "used ring whose avail_event is outside RAM");
	CHECK(init_with(&d, 16, desc, avail, UINT64_MAX - 3) == -EINVAL, "used ring wrapping past 2^64");

	struct guest_mem shifted;
	guest_mem_init_flat(&shifted, d.ram, RAM_GPA + 8, RAM_SIZE);
	d.vq.dma.mem = &shifted;
	CHECK(init_with(&d, 16, RAM_GPA + 8, avail + 8, used + 8) == -EINVAL,
	      "descriptor table at an aligned host address but gpa 8 mod 16 is refused");

	struct guest_mem odd_host;
	guest_mem_init_flat(&odd_host, d.ram + 1, RAM_GPA, RAM_SIZE - 1);
	d.vq.dma.mem = &odd_host;
	CHECK(init_with(&d, 16, desc, avail, used) == -EINVAL,
	      "aligned rings at misaligned host addresses are refused (no misaligned atomics)");
	d.vq.dma.mem = &d.gm;

	/* The transport changed a ring after init: every call checks again. */
	init_with(&d, 16, desc, avail, used);
	d.vq.used_gpa = RAM_END;
	CHECK(virtq_pop(&d.vq, chain) == -EINVAL && virtq_push(&d.vq, 0, 0) == -EINVAL,
	      "pop and push refuse a queue whose rings are no longer valid");
	CHECK(virtq_should_notify(&d.vq), "and notify rather than guess");
	d.vq.event_idx = true;
	virtq_publish_avail_event(&d.vq);
	d.vq.dma.mem = NULL;
	CHECK(virtq_init(&d.vq) == -EINVAL, "a queue without guest memory is refused");
	driver_stop(&d);
}

/* --- through an IOMMU --- */

#define PAGE   4096ull
#define SOURCE 0x0028 /* the requester id the queue's device has */

static struct fake_iommu iommu;

static uint64_t page_gpa(unsigned i) { return RAM_GPA + i * PAGE; }

/*
 * The queue's addresses become I/O virtual addresses of a device behind
 * the fake IOMMU, which maps the first 64 pages onto the same RAM pages.
 */
static void driver_behind_iommu(struct driver *d)
{
	fake_iommu_init(&iommu, RAM_GPA, PAGE);
	fake_iommu_map_range(&iommu, RAM_GPA, RAM_GPA, FAKE_IOMMU_PAGES);
	d->vq.dma.iommu = &iommu.t;
	d->vq.dma.source_id = SOURCE;
	if (virtq_init(&d->vq) != 0) {
		printf("Bail out! virtq_init refused the queue behind the IOMMU\n");
		exit(1);
	}
}

/*
 * A readable buffer across IOVA pages 8 and 9, a writable one across 9,
 * 10 and 11, with pages 9 and 10 moved to GPA pages 20 and 21: four
 * pieces, as 20 and 21 merge.
 */
static void put_scattered_chain(struct driver *d)
{
	fake_iommu_map(&iommu, page_gpa(9), page_gpa(20), true, true);
	fake_iommu_map(&iommu, page_gpa(10), page_gpa(21), true, true);
	static const struct seg segs[] = { { 0x20, 0 }, { 0x2000, WRITE } };
	d->next_buf = page_gpa(8) + 0xff0;
	put_chain(d, desc_gpa(d), 0, segs, 2);
	offer(d, 0);
}

static void test_iommu_pieces(void)
{
	uint64_t noted[NOTED_WORDS];
	struct driver d;
	driver_start(&d, 16, 0);
	driver_behind_iommu(&d);
	put_scattered_chain(&d);
	guest_mem_track_writes(&d.gm, true);
	CHECK(virtq_pop(&d.vq, chain) == 1 && !chain->dma_fault, "a chain through the IOMMU is taken");
	CHECK(chain->count == 4 && chain->readable_len == 0x20 && chain->writable_len == 0x2000,
	      "two buffers in four pieces, with the buffers' lengths");
	CHECK(buf_is(&d, 0, page_gpa(8) + 0xff0, 0x10, false) && buf_is(&d, 1, page_gpa(20), 0x10, false),
	      "the readable buffer split at the page boundary");
	CHECK(buf_is(&d, 2, page_gpa(20) + 0x10, 0x1ff0, true) && buf_is(&d, 3, page_gpa(11), 0x10, true),
	      "the writable one: pages 20 and 21 merged, then page 11");
	CHECK(iommu.last_source == SOURCE && iommu.faults == 0, "translated as the queue's device");
	take_noted(&d, noted);
	CHECK(page_noted(noted, 0x14000) && page_noted(noted, 0x15000) && page_noted(noted, 0xb000) &&
	      !page_noted(noted, 0x9000) && !page_noted(noted, 0xa000),
	      "the guest pages written are noted, not the IOVA's");
	guest_mem_destroy(&d.gm);
	driver_stop(&d);

	driver_start(&d, 16, F_INDIRECT);
	driver_behind_iommu(&d);
	good_indirect(&d);
	CHECK(virtq_pop(&d.vq, chain) == 1 && chain->count == 2 && !chain->dma_fault,
	      "an indirect table through the IOMMU");
	driver_stop(&d);
}

/* Pops a chain with a buffer the IOMMU refuses: taken, marked, nothing written. */
static void expect_faulted(struct driver *d, bool end_left_out, unsigned count, const char *what)
{
	uint8_t *before = malloc(d->ram_size);
	if (before)
		memcpy(before, d->ram, d->ram_size);
	uint16_t last_avail = d->vq.last_avail;
	unsigned faults = iommu.faults;
	int r = virtq_pop(&d->vq, chain);
	CHECK(r == 1 && d->vq.last_avail == (uint16_t)(last_avail + 1) && chain->dma_fault &&
	      chain->end_left_out == end_left_out && chain->count == count && iommu.faults > faults &&
	      before && memcmp(before, d->ram, d->ram_size) == 0,
	      "taken with dma_fault, the fault recorded, nothing written: %s", what);
	free(before);
}

static void test_iommu_buffer_faults(void)
{
	struct driver d;
	driver_start(&d, 16, 0);
	driver_behind_iommu(&d);
	put_scattered_chain(&d);
	fake_iommu_unmap(&iommu, page_gpa(10));
	expect_faulted(&d, true, 2, "the writable buffer's middle page unmapped");
	CHECK(chain->writable_len == 0 && iommu.fault_iova == page_gpa(10) && iommu.fault_write &&
	      iommu.last_source == SOURCE, "the refused buffer is left out; the fault names the write");
	CHECK(virtq_push(&d.vq, chain->head, 0) == 0 && get16(&d, used_idx_gpa(&d)) == 1,
	      "and the chain goes back as any other");

	fake_iommu_map(&iommu, page_gpa(10), page_gpa(21), true, true);
	fake_iommu_unmap(&iommu, page_gpa(8));
	offer(&d, 0);
	expect_faulted(&d, false, 2, "the readable buffer unmapped");
	CHECK(buf_is(&d, 0, page_gpa(20) + 0x10, 0x1ff0, true) && chain->readable_len == 0,
	      "the writable buffer after it is still listed (and ends the chain)");

	fake_iommu_map(&iommu, page_gpa(8), page_gpa(8), true, true);
	fake_iommu_map(&iommu, page_gpa(11), page_gpa(11), true, false);
	offer(&d, 0);
	expect_faulted(&d, true, 2, "a device-writable buffer on a read-only page");
	fake_iommu_map(&iommu, page_gpa(11), page_gpa(11), true, true);
	fake_iommu_map(&iommu, page_gpa(8), page_gpa(8), false, true);
	offer(&d, 0);
	expect_faulted(&d, false, 2, "a device-readable buffer on a write-only page");
	driver_stop(&d);
}

/* Buffer pieces past VIRTQ_MAX_BUFS: the buffers that do not fit are left out, as refused. */
static void test_iommu_too_many_pieces(void)
{
	struct driver d;
	driver_start(&d, 16, F_INDIRECT);
	driver_behind_iommu(&d);
	for (unsigned i = 0; i < 3; i++) /* IOVA pages 30..32 onto 40, 42, 44: three pieces */
		fake_iommu_map(&iommu, page_gpa(30 + i), page_gpa(40 + 2 * i), true, true);
	put_indirect(&d, 0, table_gpa(&d), VIRTQ_MAX_CHAIN, 0);
	for (uint16_t k = 0; k < VIRTQ_MAX_CHAIN; k++)
		set_desc(&d, table_gpa(&d), k, page_gpa(30) + PAGE - 1, PAGE + 2, k + 1 < VIRTQ_MAX_CHAIN ? NEXT : 0,
			 k + 1);
	offer(&d, 0);
	CHECK(virtq_pop(&d.vq, chain) == 1 && chain->dma_fault && chain->end_left_out &&
	      chain->count == VIRTQ_MAX_BUFS - VIRTQ_MAX_BUFS % 3 && iommu.faults == 0,
	      "1024 buffers of 3 pieces: as many as fit are listed, the chain marked, no IOMMU fault");
	driver_stop(&d);
}

static void test_iommu_ring_faults(void)
{
	struct driver d;
	driver_start(&d, 16, F_INDIRECT);
	driver_behind_iommu(&d);
	uint64_t desc = desc_gpa(&d), avail = d.vq.avail_gpa, used = d.vq.used_gpa;
	fake_iommu_unmap(&iommu, desc);
	CHECK(virtq_init(&d.vq) == -EINVAL && iommu.faults == 1, "a descriptor table the IOMMU refuses");
	fake_iommu_map(&iommu, desc, desc, true, true);
	fake_iommu_map(&iommu, used, used, true, false);
	CHECK(virtq_init(&d.vq) == -EINVAL, "a used ring the device may not write");
	fake_iommu_map(&iommu, used, used, true, true);
	CHECK(init_with(&d, 16, desc + PAGE - 0x80, avail, used) == 0,
	      "a descriptor table across two pages that stay adjacent");
	fake_iommu_map(&iommu, desc + PAGE, page_gpa(50), true, true);
	CHECK(init_with(&d, 16, desc + PAGE - 0x80, avail, used) == -EINVAL,
	      "one whose second page is elsewhere: not host-contiguous");
	fake_iommu_map(&iommu, desc + PAGE, desc + PAGE, true, true);
	CHECK(init_with(&d, 16, desc, avail, used) == 0, "all mapped again");

	good_indirect(&d);
	fake_iommu_unmap(&iommu, table_gpa(&d));
	expect_refused(&d, "an indirect table the IOMMU refuses breaks the queue");
	fake_iommu_map(&iommu, table_gpa(&d), table_gpa(&d), true, true);
	fake_iommu_unmap(&iommu, avail);
	CHECK(virtq_pop(&d.vq, chain) == -EINVAL && virtq_push(&d.vq, 0, 0) == -EINVAL,
	      "an avail ring unmapped after init: pop and push refuse the queue");
	driver_stop(&d);
}

/* --- seeds for fuzz_virtqueue --- */

/* The fuzz target's RAM and input header (see fuzz_virtqueue.c). */
#define FUZZ_RAM_GPA  0x1000
#define FUZZ_RAM_SIZE 0x10000
#define FUZZ_RINGS    0x100 /* the fake driver's base, past the header */

/* Writes d's RAM, with the header that describes its queue, as seed `name`; stops d. */
static int write_seed(const char *dir, const char *name, struct driver *d)
{
	const struct virtq *vq = &d->vq;
	uint64_t ram_gpa = d->gm.regions[0].gpa;
	uint16_t words[] = {
		vq->desc_gpa - ram_gpa, vq->avail_gpa - ram_gpa, vq->used_gpa - ram_gpa,
		vq->last_avail,
	};
	d->ram[0] = __builtin_ctz(vq->size);
	d->ram[1] = (vq->event_idx ? F_EVENT_IDX : 0) | (vq->indirect ? F_INDIRECT : 0);
	for (unsigned i = 0; i < 4; i++) {
		d->ram[2 + 2 * i] = words[i] & 0xff;
		d->ram[3 + 2 * i] = words[i] >> 8;
	}
	int ret = write_fuzz_seed(dir, name, d->ram, d->ram_size, 0);
	driver_stop(d);
	return ret;
}

/* A queue of 2^size_log2 entries as the fuzz target's input lays it out. */
static void seed_start(struct driver *d, unsigned size_log2, unsigned features)
{
	driver_start_in(d, FUZZ_RAM_GPA, FUZZ_RAM_SIZE, FUZZ_RINGS, 1u << size_log2, features);
}

static int write_fuzz_seeds(const char *dir)
{
	struct driver d;
	int err = 0;

	static const struct seg rw[] = { { 16, 0 }, { 64, WRITE } };
	seed_start(&d, 4, 0);
	put_chain(&d, desc_gpa(&d), 0, rw, 2);
	offer(&d, 0);
	err |= write_seed(dir, "readable-writable", &d);

	static const struct seg direct[] = { { 8, NEXT } };
	static const struct seg table[] = { { 16, 0 }, { 32, WRITE }, { 0, WRITE } };
	seed_start(&d, 4, F_INDIRECT | F_EVENT_IDX);
	put_chain(&d, desc_gpa(&d), 0, direct, 1);
	put_indirect(&d, 1, table_gpa(&d), 3, 0);
	put_chain(&d, table_gpa(&d), 0, table, 3);
	offer(&d, 0);
	put16(&d, used_event_gpa(&d), 0);
	err |= write_seed(dir, "indirect-event-idx", &d);

	static const struct seg one[] = { { 32, WRITE } };
	seed_start(&d, 3, 0);
	driver_set_start(&d, 65534);
	for (uint16_t i = 0; i < 4; i++) {
		put_chain(&d, desc_gpa(&d), i, one, 1);
		offer(&d, i);
	}
	err |= write_seed(dir, "index-wrap", &d);

	static const struct seg mixed[] = { { 12, 0 }, { 0, 0 }, { 100, 0 }, { 0, WRITE }, { 1, WRITE } };
	seed_start(&d, 6, F_EVENT_IDX);
	for (uint16_t i = 0; i < 8; i++) {
		put_chain(&d, desc_gpa(&d), 5 * i, mixed + i % 3, 5 - i % 3);
		offer(&d, 5 * i);
	}
	put16(&d, used_event_gpa(&d), 4);
	err |= write_seed(dir, "many-chains", &d);
	return err;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--fuzz-seeds") == 0)
		return write_fuzz_seeds(argv[2]) ? 1 : 0;

	chain = malloc(sizeof(*chain));
	if (!chain) {
		printf("Bail out! no memory for a chain\n");
		return 1;
	}
	test_readable_then_writable();
	test_empty_buffers();
	test_indirect();
	test_longest_chain();
	test_full_queue();
	test_push();
	test_index_wrap();
	test_no_interrupt_flag();
	test_event_idx();
	test_avail_event();
	test_write_tracking();
	test_bad_chains();
	test_chain_bytes_limit();
	test_init();
	test_iommu_pieces();
	test_iommu_buffer_faults();
	test_iommu_too_many_pieces();
	test_iommu_ring_faults();
	free(chain);
	return tap_finish();
}
