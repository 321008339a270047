/* Guest memory: layout around the PCI hole and the bounds-checked helpers. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "vmm/guest_mem.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static void test_split_layout(void)
{
	struct guest_mem gm;
	CHECK(guest_mem_init(&gm, 5 * GiB, 3 * GiB, 4 * GiB) == 0, "map 5 GiB (NORESERVE)");
	CHECK(gm.nr_regions == 2, "RAM larger than the hole start is split");
	CHECK(gm.regions[0].gpa == 0 && gm.regions[0].size == 3 * GiB, "low region ends at the hole");
	CHECK(gm.regions[1].gpa == 4 * GiB && gm.regions[1].size == 2 * GiB, "rest starts at 4 GiB");
	CHECK(guest_mem_ptr(&gm, 3 * GiB, 1) == NULL, "the hole is not RAM");
	CHECK(guest_mem_ptr(&gm, 3 * GiB - 4, 8) == NULL, "a range running into the hole is refused");
	CHECK(guest_mem_ptr(&gm, 4 * GiB, 8) == gm.mapping + 3 * GiB, "high RAM follows low RAM in the mapping");
	CHECK(guest_mem_ptr(&gm, 6 * GiB - 8, 8) != NULL, "last bytes of RAM are reachable");
	CHECK(guest_mem_ptr(&gm, 6 * GiB - 8, 9) == NULL, "one byte past RAM is refused");
	CHECK(guest_mem_low_end(&gm) == 3 * GiB, "low end is the hole start");
	CHECK(((uintptr_t)gm.mapping & (2 * MiB - 1)) == 0, "the mapping is 2 MiB-aligned");
	guest_mem_destroy(&gm);

	CHECK(guest_mem_init(&gm, 256 * MiB, 3 * GiB, 4 * GiB) == 0, "map 256 MiB");
	CHECK(gm.nr_regions == 1 && guest_mem_low_end(&gm) == 256 * MiB, "small RAM is one region");
	guest_mem_destroy(&gm);
}

static void test_checked_access(void)
{
	uint8_t backing[4096];
	struct guest_mem gm;
	guest_mem_init_flat(&gm, backing, 0x10000, sizeof(backing));

	uint32_t v = 0xdeadbeef, r = 0;
	CHECK(guest_mem_write(&gm, 0x10000, &v, 4) == 0, "write at the start");
	CHECK(guest_mem_read(&gm, 0x10000, &r, 4) == 0 && r == v, "read it back");
	CHECK(guest_mem_write(&gm, 0xfffe, &v, 4) == -EFAULT, "write starting below RAM fails");
	CHECK(guest_mem_read(&gm, 0x10ffe, &r, 4) == -EFAULT, "read crossing the end fails");
	CHECK(guest_mem_ptr(&gm, UINT64_MAX - 1, 4) == NULL, "wrapping range is refused");
	CHECK(guest_mem_ptr(&gm, 0x10000, 0) == NULL, "empty range is refused");
	CHECK(guest_mem_ptr(&gm, 0x10000, UINT64_MAX) == NULL, "huge length is refused");
	CHECK(guest_mem_ptr(&gm, 0x11000, 1) == NULL, "first byte after RAM is refused");
}

/* A memory file of `size` bytes whose page i starts with byte i + 1. */
static int memory_file(uint64_t size)
{
	FILE *f = tmpfile();
	if (!f)
		return -1;
	int fd = dup(fileno(f));
	fclose(f);
	if (fd < 0 || ftruncate(fd, (off_t)size) != 0)
		return -1;
	for (uint64_t page = 0; page < size / 4096; page++) {
		uint8_t b = (uint8_t)(page + 1);
		if (pwrite(fd, &b, 1, (off_t)(page * 4096)) != 1)
			return -1;
	}
	return fd;
}

static void test_memory_file(void)
{
	int fd = memory_file(4 * MiB);
	CHECK(fd >= 0, "make a 4 MiB memory file");
	struct guest_mem gm;
	CHECK(guest_mem_init_file(&gm, fd, 8 * MiB, 3 * GiB, 4 * GiB) == -EINVAL,
	      "a memory file of another size than the RAM is refused");
	CHECK(guest_mem_init_file(&gm, fd, 4 * MiB, 3 * GiB, 4 * GiB) == 0, "map it as 4 MiB of RAM");
	uint8_t b = 0;
	CHECK(guest_mem_read(&gm, 3 * 4096, &b, 1) == 0 && b == 4, "RAM holds the file's bytes");
	CHECK(((uintptr_t)gm.mapping & (2 * MiB - 1)) == 0, "the file mapping is 2 MiB-aligned");
	uint8_t x = 0xaa;
	CHECK(guest_mem_write(&gm, 3 * 4096, &x, 1) == 0, "the guest writes its RAM");
	CHECK(pread(fd, &b, 1, 3 * 4096) == 1 && b == 4, "the write stays private: the file keeps its byte");
	guest_mem_destroy(&gm);

	struct guest_mem other;
	CHECK(guest_mem_init_file(&other, fd, 4 * MiB, 1 * MiB, 4 * GiB) == 0, "map it split by a hole at 1 MiB");
	CHECK(guest_mem_read(&other, 4 * GiB, &b, 1) == 0 && b == (uint8_t)257, /* page 256 */
	      "high RAM continues the file after low RAM");
	guest_mem_destroy(&other);
	close(fd);
}

static bool page_bit(const uint64_t *bitmap, uint64_t page)
{
	return bitmap[page / 64] >> (page % 64) & 1;
}

static void test_write_tracking(void)
{
	struct guest_mem gm;
	CHECK(guest_mem_init(&gm, 1 * MiB, 3 * GiB, 4 * GiB) == 0, "map 1 MiB");
	uint64_t bitmap[256 / 64] = { 0 };
	uint32_t v = 1;
	guest_mem_write(&gm, 0x5000, &v, 4);
	guest_mem_take_written(&gm, bitmap, false);
	CHECK(bitmap[0] == 0, "nothing is noted while tracking is off");

	CHECK(guest_mem_track_writes(&gm, true) == 0, "start tracking");
	guest_mem_write(&gm, 0x5ffe, &v, 4);
	guest_mem_note_write(&gm, guest_mem_ptr(&gm, 0x20000, 1), 4096 * 2 + 1);
	guest_mem_note_write(&gm, &v, 4); /* not guest RAM: ignored */
	guest_mem_take_written(&gm, bitmap, false);
	CHECK(page_bit(bitmap, 5) && page_bit(bitmap, 6), "a write across a page boundary notes both pages");
	CHECK(page_bit(bitmap, 0x20) && page_bit(bitmap, 0x21) && page_bit(bitmap, 0x22),
	      "a noted range notes every page it touches");
	CHECK(!page_bit(bitmap, 4) && !page_bit(bitmap, 7) && !page_bit(bitmap, 0x23),
	      "and no page around it");
	memset(bitmap, 0, sizeof(bitmap));
	guest_mem_take_written(&gm, bitmap, false);
	CHECK(bitmap[0] == 0 && bitmap[1] == 0, "taking the pages clears them");
	guest_mem_note_write(&gm, guest_mem_ptr(&gm, 1 * MiB - 4, 4), 4096);
	guest_mem_take_written(&gm, bitmap, false);
	CHECK(page_bit(bitmap, 255) && bitmap[0] == 0, "a range running past RAM notes only RAM");
	memset(bitmap, 0, sizeof(bitmap));
	guest_mem_take_written(&gm, bitmap, true);
	CHECK(page_bit(bitmap, 5) && page_bit(bitmap, 0x22) && page_bit(bitmap, 255) && !page_bit(bitmap, 4),
	      "since_start gives again every page noted since tracking started");
	CHECK(guest_mem_offset_ptr(&gm, 1 * MiB - 4096, 4096) == gm.mapping + 1 * MiB - 4096,
	      "the last page by offset");
	CHECK(guest_mem_offset_ptr(&gm, 1 * MiB - 4096, 4097) == NULL &&
	      guest_mem_offset_ptr(&gm, UINT64_MAX, 2) == NULL, "offsets past RAM are refused");
	CHECK(guest_mem_track_writes(&gm, false) == 0, "stop tracking");
	memset(bitmap, 0, sizeof(bitmap));
	guest_mem_write(&gm, 0x5000, &v, 4);
	guest_mem_take_written(&gm, bitmap, false);
	CHECK(bitmap[0] == 0, "nothing is noted after tracking stops");
	guest_mem_destroy(&gm);
}

static void test_untouched_zero(void)
{
	struct guest_mem gm;
	CHECK(guest_mem_init(&gm, 1 * MiB, 3 * GiB, 4 * GiB) == 0, "map 1 MiB of anonymous RAM");
	uint32_t v = 1;
	guest_mem_write(&gm, 3 * 4096, &v, 4);
	guest_mem_write(&gm, 7 * 4096 + 100, &v, 4);
	uint64_t bitmap[256 / 64] = { 0 };
	CHECK(guest_mem_find_untouched_zero(&gm, bitmap) == 0, "find the untouched pages");
	CHECK(!page_bit(bitmap, 3) && !page_bit(bitmap, 7), "the written pages are not among them");
	CHECK(page_bit(bitmap, 0) && page_bit(bitmap, 100) && page_bit(bitmap, 255),
	      "pages never touched are");
	guest_mem_destroy(&gm);

	/* A memory file: data in every page but its holes (pages 20 to 29). */
	int fd = memory_file(1 * MiB);
	CHECK(fd >= 0 && fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 20 * 4096, 10 * 4096) == 0,
	      "a memory file with a hole over pages 20 to 29");
	CHECK(guest_mem_init_file(&gm, fd, 1 * MiB, 3 * GiB, 4 * GiB) == 0, "map it");
	close(fd);
	guest_mem_write(&gm, 25 * 4096, &v, 4);
	memset(bitmap, 0, sizeof(bitmap));
	CHECK(guest_mem_find_untouched_zero(&gm, bitmap) == 0, "find its untouched zero pages");
	CHECK(page_bit(bitmap, 20) && page_bit(bitmap, 29) && !page_bit(bitmap, 25),
	      "the hole's pages, but the one the guest wrote");
	CHECK(!page_bit(bitmap, 2) && !page_bit(bitmap, 19) && !page_bit(bitmap, 30),
	      "never a page over the file's data, touched or not");
	guest_mem_destroy(&gm);
}

int main(void)
{
	test_split_layout();
	test_checked_access();
	test_memory_file();
	test_write_tracking();
	test_untouched_zero();
	return tap_finish();
}
