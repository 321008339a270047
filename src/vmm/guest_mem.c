#include "vmm/guest_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void add_region(struct guest_mem *gm, uint64_t gpa, uint64_t size,
		       uint8_t *host)
{
	gm->regions[gm->nr_regions++] = (struct guest_mem_region){
		.gpa = gpa, .size = size, .host = host,
	};
	gm->ram_size += size;
}

#define HUGE_PAGE_SIZE (2ull << 20)

/*
 * Anonymous memory whose start is 2 MiB-aligned, so that guest-physical and
 * host-virtual 2 MiB boundaries coincide and both levels of paging can use
 * huge pages.
 */
static void *map_aligned_anonymous(uint64_t size)
{
	if (size > UINT64_MAX - HUGE_PAGE_SIZE)
		return MAP_FAILED;
	uint64_t padded = size + HUGE_PAGE_SIZE;
	uint8_t *p = mmap(NULL, padded, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return MAP_FAILED;
	uint64_t lead = (HUGE_PAGE_SIZE - ((uintptr_t)p & (HUGE_PAGE_SIZE - 1))) & (HUGE_PAGE_SIZE - 1);
	if (lead)
		munmap(p, lead);
	munmap(p + lead + size, HUGE_PAGE_SIZE - lead);
	/* Advice only: without THP on the host, small pages still work. */
	madvise(p + lead, size, MADV_HUGEPAGE);
	return p + lead;
}

/* RAM below the PCI hole first, the rest from high_start on: one mapping, in order. */
static void lay_out(struct guest_mem *gm, uint8_t *mapping, uint64_t ram_size,
		    uint64_t hole_start, uint64_t high_start)
{
	gm->mapping = mapping;
	uint64_t low = ram_size < hole_start ? ram_size : hole_start;
	add_region(gm, 0, low, gm->mapping);
	if (ram_size > low)
		add_region(gm, high_start, ram_size - low, gm->mapping + low);
}

int guest_mem_init(struct guest_mem *gm, uint64_t ram_size,
		   uint64_t hole_start, uint64_t high_start)
{
	memset(gm, 0, sizeof(*gm));
	if (ram_size == 0 || hole_start > high_start)
		return -EINVAL;

	void *p = map_aligned_anonymous(ram_size);
	if (p == MAP_FAILED)
		return -errno;
	lay_out(gm, p, ram_size, hole_start, high_start);
	return 0;
}

int guest_mem_init_file(struct guest_mem *gm, int fd, uint64_t ram_size,
			uint64_t hole_start, uint64_t high_start)
{
	memset(gm, 0, sizeof(*gm));
	struct stat st;
	if (fstat(fd, &st) != 0)
		return -errno;
	if (ram_size == 0 || hole_start > high_start || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != ram_size)
		return -EINVAL;
	/* The file over an aligned reservation, so 2 MiB boundaries still coincide. */
	uint8_t *p = map_aligned_anonymous(ram_size);
	if (p == MAP_FAILED)
		return -errno;
	if (mmap(p, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE,
		 fd, 0) == MAP_FAILED) {
		int err = -errno;
		munmap(p, ram_size);
		return err;
	}
	gm->file_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0); /* for its holes (guest_mem_find_untouched_zero) */
	gm->from_file = gm->file_fd >= 0;
	lay_out(gm, p, ram_size, hole_start, high_start);
	return 0;
}

void guest_mem_init_flat(struct guest_mem *gm, void *host, uint64_t gpa,
			 uint64_t size)
{
	memset(gm, 0, sizeof(*gm));
	add_region(gm, gpa, size, host);
}

void guest_mem_destroy(struct guest_mem *gm)
{
	if (gm->mapping)
		munmap(gm->mapping, gm->ram_size);
	free(gm->written_storage);
	free(gm->written_ever);
	if (gm->from_file)
		close(gm->file_fd);
	memset(gm, 0, sizeof(*gm));
}

void *guest_mem_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	if (len == 0 || gpa + len < gpa)
		return NULL;
	for (unsigned i = 0; i < gm->nr_regions; i++) {
		const struct guest_mem_region *r = &gm->regions[i];
		if (gpa >= r->gpa && gpa - r->gpa <= r->size &&
		    len <= r->size - (gpa - r->gpa))
			return r->host + (gpa - r->gpa);
	}
	return NULL;
}

int guest_mem_read(const struct guest_mem *gm, uint64_t gpa, void *dst,
		   uint64_t len)
{
	const void *src = guest_mem_ptr(gm, gpa, len);
	if (!src)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int guest_mem_write(const struct guest_mem *gm, uint64_t gpa, const void *src,
		    uint64_t len)
{
	void *dst = guest_mem_ptr(gm, gpa, len);
	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	guest_mem_note_write(gm, dst, len);
	return 0;
}

/* Where the tracked pages start: the one mapping, or a flat region's memory. */
static const uint8_t *tracking_base(const struct guest_mem *gm)
{
	return gm->mapping ? gm->mapping : gm->nr_regions ? gm->regions[0].host : NULL;
}

static uint64_t tracked_words(const struct guest_mem *gm)
{
	uint64_t pages = (gm->ram_size + GUEST_PAGE_SIZE - 1) / GUEST_PAGE_SIZE;
	return (pages + 63) / 64;
}

int guest_mem_track_writes(struct guest_mem *gm, bool on)
{
	size_t bytes = tracked_words(gm) * sizeof(uint64_t);
	if (on && !gm->written_storage) {
		gm->written_storage = calloc(1, bytes);
		gm->written_ever = calloc(1, bytes);
		if (!gm->written_storage || !gm->written_ever)
			return -ENOMEM; /* both freed by destroy */
	}
	if (on) {
		memset(gm->written_storage, 0, bytes);
		memset(gm->written_ever, 0, bytes);
	}
	/* Never freed before destroy: a writer that loaded the pointer may still set bits. */
	__atomic_store_n(&gm->written, on ? gm->written_storage : NULL, __ATOMIC_RELEASE);
	return 0;
}

void guest_mem_note_write(const struct guest_mem *gm, const void *host, uint64_t len)
{
	uint64_t *bitmap = __atomic_load_n(&gm->written, __ATOMIC_ACQUIRE);
	const uint8_t *base = tracking_base(gm);
	const uint8_t *p = host;
	if (!bitmap || len == 0 || p < base || (uint64_t)(p - base) >= gm->ram_size)
		return;
	uint64_t start = (uint64_t)(p - base);
	uint64_t end = len > gm->ram_size - start ? gm->ram_size : start + len;
	for (uint64_t page = start / GUEST_PAGE_SIZE; page * GUEST_PAGE_SIZE < end; page++) {
		uint64_t bit = 1ull << (page % 64);
		__atomic_fetch_or(&bitmap[page / 64], bit, __ATOMIC_RELAXED);
		__atomic_fetch_or(&gm->written_ever[page / 64], bit, __ATOMIC_RELAXED);
	}
}

void guest_mem_take_written(struct guest_mem *gm, uint64_t *bitmap, bool since_start)
{
	uint64_t *written = __atomic_load_n(&gm->written, __ATOMIC_ACQUIRE);
	for (uint64_t i = 0; written && i < tracked_words(gm); i++) {
		bitmap[i] |= __atomic_exchange_n(&written[i], 0, __ATOMIC_ACQ_REL);
		if (since_start)
			bitmap[i] |= __atomic_load_n(&gm->written_ever[i], __ATOMIC_RELAXED);
	}
}

#define PAGEMAP_PRESENT (1ull << 63)
#define PAGEMAP_SWAPPED (1ull << 62)
#define PAGEMAP_CHUNK   4096 /* entries read at once */

/* Whether [offset, offset + page) of the memory file is all hole (SEEK_DATA, lseek(2)). */
static bool in_file_hole(const struct guest_mem *gm, uint64_t offset, uint64_t *next_data)
{
	if (offset >= *next_data) {
		off_t data = lseek(gm->file_fd, (off_t)offset, SEEK_DATA);
		*next_data = data < 0 ? (errno == ENXIO ? gm->ram_size : offset) : (uint64_t)data;
	}
	return *next_data >= offset + GUEST_PAGE_SIZE;
}

/* Pages [first, first + n) by their pagemap entries. */
static void mark_untouched(const struct guest_mem *gm, const uint64_t *entries, uint64_t first,
			   uint64_t n, uint64_t *next_data, uint64_t *bitmap)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t page = first + i;
		if (entries[i] & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED))
			continue;
		if (gm->from_file && !in_file_hole(gm, page * GUEST_PAGE_SIZE, next_data))
			continue;
		bitmap[page / 64] |= 1ull << (page % 64);
	}
}

int guest_mem_find_untouched_zero(const struct guest_mem *gm, uint64_t *bitmap)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || !gm->mapping)
		return fd < 0 ? -errno : -EINVAL;
	uint64_t entries[PAGEMAP_CHUNK];
	uint64_t pages = gm->ram_size / GUEST_PAGE_SIZE, next_data = 0;
	uint64_t first_entry = (uintptr_t)gm->mapping / GUEST_PAGE_SIZE;
	int ret = 0;
	for (uint64_t page = 0; page < pages && ret == 0; page += PAGEMAP_CHUNK) {
		uint64_t n = pages - page < PAGEMAP_CHUNK ? pages - page : PAGEMAP_CHUNK;
		ssize_t got = pread(fd, entries, n * sizeof(entries[0]),
				    (off_t)((first_entry + page) * sizeof(entries[0])));
		if (got != (ssize_t)(n * sizeof(entries[0])))
			ret = got < 0 ? -errno : -EIO;
		else
			mark_untouched(gm, entries, page, n, &next_data, bitmap);
	}
	close(fd);
	return ret;
}

void *guest_mem_offset_ptr(const struct guest_mem *gm, uint64_t offset, uint64_t len)
{
	if (!gm->mapping || len == 0 || offset > gm->ram_size || len > gm->ram_size - offset)
		return NULL;
	return gm->mapping + offset;
}

uint64_t guest_mem_low_end(const struct guest_mem *gm)
{
	return gm->nr_regions ? gm->regions[0].gpa + gm->regions[0].size : 0;
}

uint64_t guest_mem_resident_bytes(const struct guest_mem *gm)
{
	long page = sysconf(_SC_PAGESIZE);
	if (!gm->mapping || page <= 0)
		return 0;

	uint64_t resident = 0;
	unsigned char vec[4096];
	uint64_t chunk = (uint64_t)page * sizeof(vec);
	for (uint64_t off = 0; off < gm->ram_size; off += chunk) {
		uint64_t len = gm->ram_size - off < chunk ? gm->ram_size - off : chunk;
		if (mincore(gm->mapping + off, len, vec) != 0)
			return 0;
		for (uint64_t i = 0; i < (len + page - 1) / page; i++)
			resident += (vec[i] & 1) ? (uint64_t)page : 0;
	}
	return resident;
}
