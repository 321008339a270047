/* Device memory access (vmm/dma.h): guest-physical, and through a fake IOMMU. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_iommu.h"
#include "tap.h"
#include "vmm/dma.h"
#include "vmm/guest_mem.h"

#define PAGE      4096ull
#define RAM_PAGES 64
#define RAM_GPA   0x100000ull
#define IOVA      0x40000000ull /* where the fake IOMMU's table starts */
#define SOURCE    0x0018        /* bus 0, slot 3 */

static uint8_t *ram;
static struct guest_mem gm;

static uint64_t gpa_page(unsigned i) { return RAM_GPA + i * PAGE; }
static uint8_t *host_page(unsigned i) { return ram + i * PAGE; }

static void test_guest_physical(void)
{
	struct dma_space d = { .mem = &gm };
	struct dma_seg segs[2];
	CHECK(dma_ptr(&d, gpa_page(2) + 5, 100, true) == guest_mem_ptr(&gm, gpa_page(2) + 5, 100),
	      "without an IOMMU an address is guest-physical");
	CHECK(dma_map(&d, gpa_page(1), 3 * PAGE, false, segs, 2) == 1 &&
	      segs[0].host == host_page(1) && segs[0].len == 3 * PAGE, "one segment for any RAM range");
	uint32_t v = 0x12345678, r = 0;
	CHECK(dma_write(&d, gpa_page(4) + 2, &v, 4) == 0 && dma_read(&d, gpa_page(4) + 2, &r, 4) == 0 &&
	      r == v && memcmp(host_page(4) + 2, &v, 4) == 0, "writes and reads guest RAM in place");
	CHECK(dma_map(&d, RAM_GPA - 1, 2, false, segs, 2) == -EINVAL &&
	      dma_ptr(&d, gpa_page(RAM_PAGES), 1, false) == NULL, "outside RAM: -EINVAL, NULL");
	CHECK(dma_read(&d, gpa_page(RAM_PAGES) - 2, &r, 4) == -EINVAL, "a read running out of RAM");
	CHECK(dma_map(&d, RAM_GPA, 0, false, segs, 2) == -EINVAL, "an empty range");
	CHECK(dma_map(&d, UINT64_MAX - 1, 4, false, segs, 2) == -EINVAL, "a range wrapping past 2^64");
	struct dma_space none = { 0 };
	CHECK(dma_map(&none, RAM_GPA, 1, false, segs, 2) == -EINVAL, "a space without memory");
}

/* IOVA pages 0, 1, 2 at GPA pages 9, 3, 4: three pieces, the last two adjacent. */
static void setup_scattered(struct fake_iommu *f)
{
	fake_iommu_init(f, IOVA, PAGE);
	fake_iommu_map(f, IOVA, gpa_page(9), true, true);
	fake_iommu_map(f, IOVA + PAGE, gpa_page(3), true, true);
	fake_iommu_map(f, IOVA + 2 * PAGE, gpa_page(4), true, true);
}

static void test_translation(void)
{
	struct fake_iommu f;
	setup_scattered(&f);
	struct dma_space d = { .mem = &gm, .iommu = &f.t, .source_id = SOURCE };
	struct dma_seg segs[4];
	int n = dma_map(&d, IOVA + 100, 2 * PAGE + 50, true, segs, 4);
	CHECK(n == 2, "three pages in two host-contiguous segments");
	CHECK(segs[0].host == host_page(9) + 100 && segs[0].len == PAGE - 100,
	      "the first from the offset to the end of its page");
	CHECK(segs[1].host == host_page(3) && segs[1].len == PAGE + 150,
	      "the next two merged, as they are adjacent in host memory");
	CHECK(f.calls == 3 && f.last_source == SOURCE, "one translation per page, as the device");
	CHECK(dma_ptr(&d, IOVA + PAGE + 8, PAGE, false) == host_page(3) + 8,
	      "dma_ptr across the adjacent pages");
	CHECK(dma_ptr(&d, IOVA + PAGE - 8, 16, false) == NULL, "but not across a discontinuity");
	CHECK(dma_map(&d, IOVA + 100, 2 * PAGE + 50, true, segs, 1) == -ENOSPC,
	      "-ENOSPC when the segments do not fit");

	uint8_t buf[2 * PAGE];
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	CHECK(dma_write(&d, IOVA + PAGE / 2, buf, sizeof(buf)) == 0 &&
	      memcmp(host_page(9) + PAGE / 2, buf, PAGE / 2) == 0 &&
	      memcmp(host_page(3), buf + PAGE / 2, PAGE) == 0 &&
	      memcmp(host_page(4), buf + 3 * PAGE / 2, PAGE / 2) == 0, "dma_write scatters by the mapping");
	uint8_t back[2 * PAGE];
	CHECK(dma_read(&d, IOVA + PAGE / 2, back, sizeof(back)) == 0 && memcmp(back, buf, sizeof(buf)) == 0,
	      "dma_read gathers it back");
}

static void test_fast_path(void)
{
	struct fake_iommu f;
	fake_iommu_init(&f, IOVA, 32 * PAGE); /* one 128 KiB "superpage" */
	fake_iommu_map(&f, IOVA, gpa_page(0), true, true);
	struct dma_space d = { .mem = &gm, .iommu = &f.t };
	struct dma_seg seg;
	CHECK(dma_map(&d, IOVA + 3 * PAGE + 7, 10 * PAGE, false, &seg, 1) == 1 && f.calls == 1 &&
	      seg.host == host_page(3) + 7, "a range inside one large page: one translation");
	f.calls = 0;
	uint32_t v = 7;
	CHECK(dma_write(&d, IOVA + 8, &v, 4) == 0 && f.calls == 1 && memcmp(host_page(0) + 8, &v, 4) == 0,
	      "and one for a small write");
}

static void test_faults(void)
{
	struct fake_iommu f;
	setup_scattered(&f);
	fake_iommu_unmap(&f, IOVA + 2 * PAGE);
	struct dma_space d = { .mem = &gm, .iommu = &f.t, .source_id = SOURCE };
	struct dma_seg segs[4];
	memset(ram, 0xaa, RAM_PAGES * PAGE);
	CHECK(dma_map(&d, IOVA, 3 * PAGE, false, segs, 4) == -EFAULT && f.faults == 1 &&
	      f.fault_iova == IOVA + 2 * PAGE && f.last_source == SOURCE,
	      "a page not mapped: -EFAULT, recorded by the IOMMU at that address");
	uint8_t buf[3 * PAGE];
	memset(buf, 0x55, sizeof(buf));
	CHECK(dma_write(&d, IOVA, buf, sizeof(buf)) == -EFAULT, "dma_write over it fails");
	CHECK(all_bytes_are(ram, RAM_PAGES * PAGE, 0xaa), "and writes nothing, not even the permitted pages");
	CHECK(dma_read(&d, IOVA, buf, sizeof(buf)) == -EFAULT && all_bytes_are(buf, sizeof(buf), 0x55),
	      "dma_read over it fails and copies nothing");
	CHECK(dma_ptr(&d, IOVA + 2 * PAGE, 1, false) == NULL, "dma_ptr: NULL");

	fake_iommu_map(&f, IOVA + 2 * PAGE, gpa_page(4), true, false);
	f.faults = 0;
	CHECK(dma_ptr(&d, IOVA + 2 * PAGE, 16, false) == host_page(4), "a read-only page reads");
	CHECK(dma_ptr(&d, IOVA + 2 * PAGE, 16, true) == NULL && f.faults == 1 && f.fault_write,
	      "but refuses a write, recorded as one");
	fake_iommu_map(&f, IOVA + 2 * PAGE, gpa_page(4), false, true);
	uint32_t v = 1;
	CHECK(dma_read(&d, IOVA + 2 * PAGE, &v, 4) == -EFAULT && dma_write(&d, IOVA + 2 * PAGE, &v, 4) == 0,
	      "a write-only page refuses reads and takes writes");
	CHECK(dma_map(&d, IOVA + 100 * PAGE, 4, false, segs, 4) == -EFAULT,
	      "an address past the IOMMU's table faults");
}

static void test_not_ram(void)
{
	struct fake_iommu f;
	fake_iommu_init(&f, IOVA, PAGE);
	fake_iommu_map(&f, IOVA, gpa_page(0), true, true);
	fake_iommu_map(&f, IOVA + PAGE, 0xfee00000, true, true); /* the MSI window, not RAM */
	fake_iommu_map(&f, IOVA + 2 * PAGE, gpa_page(RAM_PAGES - 1), true, true);
	struct dma_space d = { .mem = &gm, .iommu = &f.t };
	struct dma_seg segs[4];
	uint32_t v = 0;
	CHECK(dma_map(&d, IOVA, 2 * PAGE, false, segs, 4) == -EINVAL && f.faults == 0,
	      "a mapping to what is not RAM: -EINVAL, no IOMMU fault");
	CHECK(dma_read(&d, IOVA + PAGE, &v, 4) == -EINVAL && dma_ptr(&d, IOVA + PAGE, 4, false) == NULL,
	      "dma_read and dma_ptr too");
	CHECK(dma_map(&d, IOVA + 2 * PAGE, PAGE, false, segs, 4) == 1, "RAM's last page is RAM");
	unsigned calls = f.calls;
	CHECK(dma_map(&d, UINT64_MAX - 1, 4, false, segs, 4) == -EINVAL && f.calls == calls,
	      "a wrapping range is refused before any translation");
}

/* A translator that breaks its contract (span 0) does not make the helpers loop. */
static int zero_span(void *ctx, uint16_t source_id, uint64_t iova, bool write, uint64_t *gpa,
		     uint64_t *span)
{
	(void)ctx, (void)source_id, (void)write;
	*gpa = iova;
	*span = 0;
	return 0;
}

static void test_bad_translator(void)
{
	struct dma_translator t = { .translate = zero_span };
	struct dma_space d = { .mem = &gm, .iommu = &t };
	struct dma_seg seg;
	CHECK(dma_map(&d, RAM_GPA, 8, false, &seg, 1) == -EINVAL, "a translation of no bytes is refused");
}

/* More pieces than a copy maps at once: all checked before anything is copied. */
static void test_long_copy(void)
{
	struct fake_iommu f;
	fake_iommu_init(&f, IOVA, PAGE);
	for (unsigned i = 0; i < 24; i++) /* reversed: no two pieces adjacent */
		fake_iommu_map(&f, IOVA + i * PAGE, gpa_page(40 - i), true, true);
	struct dma_space d = { .mem = &gm, .iommu = &f.t };
	static uint8_t buf[24 * PAGE], back[24 * PAGE];
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + i / PAGE);
	CHECK(dma_write(&d, IOVA, buf, sizeof(buf)) == 0 && memcmp(host_page(40 - 23), buf + 23 * PAGE, PAGE) == 0,
	      "a write in 24 pieces lands piece by piece");
	CHECK(dma_read(&d, IOVA, back, sizeof(back)) == 0 && memcmp(back, buf, sizeof(buf)) == 0,
	      "and reads back");
	fake_iommu_unmap(&f, IOVA + 23 * PAGE);
	memset(ram, 0xaa, RAM_PAGES * PAGE);
	CHECK(dma_write(&d, IOVA, buf, sizeof(buf)) == -EFAULT && all_bytes_are(ram, RAM_PAGES * PAGE, 0xaa),
	      "its last page unmapped, nothing is written");
}

static bool page_bit(const uint64_t *bitmap, uint64_t page)
{
	return bitmap[page / 64] >> (page % 64) & 1;
}

static void test_writes_noted(void)
{
	struct fake_iommu f;
	setup_scattered(&f);
	struct dma_space d = { .mem = &gm, .iommu = &f.t };
	uint64_t bitmap[RAM_PAGES / 64] = { 0 };
	CHECK(guest_mem_track_writes(&gm, true) == 0, "track the pages vmon writes");
	uint8_t buf[PAGE] = { 1 };
	dma_write(&d, IOVA + PAGE / 2, buf, PAGE);
	dma_read(&d, IOVA + 2 * PAGE, buf, 16);
	guest_mem_take_written(&gm, bitmap, false);
	CHECK(page_bit(bitmap, 9) && page_bit(bitmap, 3), "dma_write notes the guest pages it wrote");
	CHECK(!page_bit(bitmap, 0) && !page_bit(bitmap, 1) && !page_bit(bitmap, 4),
	      "not the IOVA's page numbers, nor what dma_read read");
	guest_mem_track_writes(&gm, false);
}

int main(void)
{
	ram = aligned_alloc(PAGE, RAM_PAGES * PAGE);
	if (!ram) {
		printf("Bail out! no memory\n");
		return 1;
	}
	memset(ram, 0, RAM_PAGES * PAGE);
	guest_mem_init_flat(&gm, ram, RAM_GPA, RAM_PAGES * PAGE);
	test_guest_physical();
	test_translation();
	test_fast_path();
	test_faults();
	test_not_ram();
	test_bad_translator();
	test_long_copy();
	test_writes_noted();
	guest_mem_destroy(&gm);
	free(ram);
	return tap_finish();
}
