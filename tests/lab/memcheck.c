/*
 * memcheck: the lab's memory-checksumming workload (tests/lab/run.sh's
 * migrate case and bench/migrate.sh), run in the L2 guest across snapshots
 * and live migrations.  It must notice any page of its memory that comes
 * back wrong: lost, stale (an older version of itself), zeroed, or
 * another page's contents.
 *
 *   memcheck [-m MIB] [-w MIB] [-r MIB_PER_S] [-v]
 *
 * It fills MIB MiB (default 64) of anonymous memory, page by page, with a
 * pattern derived from (page number, generation): the page's first 8
 * bytes are generation << 32 | page, every other 8-byte word i is
 * seed(page, generation) + i * K.  The generation of each page is kept in
 * a separate array, itself in the same memory.  Then it loops: rewrite a
 * few pages of the first -w MiB (default 16) with their next generation,
 * verify a slice of the whole area against the array, and so on; a pass
 * is one verification of every page.  -r caps the rewrites at MIB_PER_S
 * (default 0: no cap, one rewritten page for every 4 verified).  -v
 * rewrites nothing (a verifying reader only).
 *
 * Once a second (CLOCK_MONOTONIC) it prints
 *   memcheck: passes=P rewrites=R errors=E
 * where R counts rewritten pages and E corrupt pages found (each is
 * repaired after it is reported, so one bad page counts once).  The first
 * MAX_DETAILS corrupt pages are described on lines of their own:
 *   memcheck: error page=P word=W want=HEX got=HEX want_gen=G got_gen=G got_page=Q
 * On SIGTERM or SIGINT it prints the status line once more, prefixed
 * "memcheck: final", and exits 0 if no page was ever wrong, 1 otherwise.
 *
 * Built static for the L2 initramfs: gcc -static -O2 -o memcheck memcheck.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u
#define WORDS (PAGE / 8u)
#define STEP 0x9e3779b97f4a7c15ull /* K: odd, so no two words of a page match */
#define MAX_DETAILS 8
#define VERIFY_SLICE 256u /* pages verified between two looks at the clock */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* One line on stdout with a single write(), so that lines of other
 * processes on the same console do not cut into it. */
static void say(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	while (write(1, line, (size_t)n) < 0 && errno == EINTR)
		;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* splitmix64's finaliser: every bit of (page, gen) spreads over the seed. */
static uint64_t seed_of(uint64_t page, uint64_t gen)
{
	uint64_t z = (page << 32 | gen) + STEP;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void fill_page(uint64_t *p, uint64_t page, uint32_t gen)
{
	uint64_t v = seed_of(page, gen);
	p[0] = (uint64_t)gen << 32 | page;
	for (unsigned i = 1; i < WORDS; i++)
		p[i] = v + i * STEP;
}

struct area {
	uint64_t *mem;
	uint32_t *gens; /* the generation each page should have */
	size_t pages;
	unsigned long long passes, rewrites, errors;
};

/* Checks one page; a wrong one is counted, described (the first
 * MAX_DETAILS) and rewritten as it should be. */
static void verify_page(struct area *a, size_t page)
{
	uint64_t *p = a->mem + page * WORDS;
	uint32_t gen = a->gens[page];
	uint64_t v = seed_of(page, gen);
	unsigned bad = WORDS;
	uint64_t want = 0;

	if (p[0] != ((uint64_t)gen << 32 | page)) {
		bad = 0;
		want = (uint64_t)gen << 32 | page;
	} else {
		for (unsigned i = 1; i < WORDS; i++)
			if (p[i] != v + i * STEP) {
				bad = i;
				want = v + i * STEP;
				break;
			}
	}
	if (bad == WORDS)
		return;
	a->errors++;
	if (a->errors <= MAX_DETAILS)
		say("memcheck: error page=%zu word=%u want=%016llx got=%016llx want_gen=%u got_gen=%llu got_page=%llu",
		    page, bad, (unsigned long long)want, (unsigned long long)p[bad], gen,
		    (unsigned long long)(p[0] >> 32), (unsigned long long)(p[0] & 0xffffffffu));
	fill_page(p, page, gen);
}

static void rewrite_page(struct area *a, size_t page)
{
	fill_page(a->mem + page * WORDS, page, ++a->gens[page]);
	a->rewrites++;
}

static void status(const struct area *a, const char *prefix)
{
	say("memcheck: %spasses=%llu rewrites=%llu errors=%llu", prefix, a->passes, a->rewrites, a->errors);
}

static unsigned long parse(const char *s, const char *what)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 1u << 20) {
		fprintf(stderr, "memcheck: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	unsigned long mib = 64, rewrite_mib = 16, rate_mib = 0;
	int verify_only = 0, opt;

	while ((opt = getopt(argc, argv, "m:w:r:v")) != -1) {
		switch (opt) {
		case 'm': mib = parse(optarg, "size"); break;
		case 'w': rewrite_mib = parse(optarg, "rewritten size"); break;
		case 'r': rate_mib = parse(optarg, "rate"); break;
		case 'v': verify_only = 1; break;
		default:
			fprintf(stderr, "usage: memcheck [-m MIB] [-w MIB] [-r MIB_PER_S] [-v]\n");
			return 2;
		}
	}
	if (mib == 0 || rewrite_mib > mib) {
		fprintf(stderr, "memcheck: need 0 < -w <= -m\n");
		return 2;
	}

	struct area a = { .pages = mib * 1048576ul / PAGE };
	size_t rewrite_pages = verify_only ? 0 : rewrite_mib * 1048576ul / PAGE;
	a.mem = mmap(NULL, a.pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	a.gens = calloc(a.pages, sizeof(*a.gens));
	if (a.mem == MAP_FAILED || !a.gens) {
		say("memcheck: cannot allocate %lu MiB: %s", mib, strerror(errno));
		return 2;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	say("memcheck: start mib=%lu rewrite_mib=%lu rate_mib_s=%lu pages=%zu", mib,
	    verify_only ? 0 : rewrite_mib, rate_mib, a.pages);
	for (size_t i = 0; i < a.pages; i++)
		fill_page(a.mem + i * WORDS, i, 0);
	say("memcheck: filled");

	/* With -r, a token bucket of pages to rewrite, filled at the rate and
	 * holding at most 100 ms of it: no burst to catch up after a stop. */
	uint64_t last = now_ns(), next_status = last + 1000000000ull;
	const uint64_t rate_pages = rate_mib * (1048576 / PAGE), cap = rate_pages / 10 + 1;
	const uint64_t ns_per_page = rate_pages ? 1000000000ull / rate_pages : 1;
	uint64_t tokens = 0, token_ns = 0;
	size_t vcur = 0, wcur = 0;
	while (!stop) {
		size_t budget = VERIFY_SLICE / 4;
		uint64_t t = now_ns();
		if (rate_mib) {
			token_ns += t - last < 1000000000ull ? t - last : 1000000000ull;
			tokens += token_ns / ns_per_page;
			token_ns %= ns_per_page;
			if (tokens > cap)
				tokens = cap;
			budget = tokens < VERIFY_SLICE ? (size_t)tokens : VERIFY_SLICE;
			tokens -= budget;
		}
		last = t;
		for (size_t i = 0; rewrite_pages && i < budget; i++) {
			rewrite_page(&a, wcur);
			wcur = (wcur + 1) % rewrite_pages;
		}
		for (size_t i = 0; i < VERIFY_SLICE; i++) {
			verify_page(&a, vcur);
			if (++vcur == a.pages) {
				vcur = 0;
				a.passes++;
			}
		}
		t = now_ns();
		if (t >= next_status) {
			status(&a, "");
			/* After a long stop (a paused VM), no burst of lines. */
			next_status = t - next_status > 1000000000ull ? t + 1000000000ull
								       : next_status + 1000000000ull;
		}
	}
	status(&a, "final ");
	return a.errors ? 1 : 0;
}
