/*
 * Guest RAM: the regions of guest-physical address space backed by host
 * memory, and the only way the rest of vmon reaches them.
 *
 * Every access names a guest-physical range (gpa, len). The range must lie
 * wholly inside one RAM region, without overflow; otherwise the helpers
 * return an error and touch nothing. Nothing outside this file turns a guest
 * address into a host pointer by arithmetic.
 */
#ifndef VMON_VMM_GUEST_MEM_H
#define VMON_VMM_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_MAX_REGIONS 4

struct guest_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
};

#define GUEST_PAGE_SIZE 4096ull

struct guest_mem {
	struct guest_mem_region regions[GUEST_MEM_MAX_REGIONS];
	unsigned nr_regions;
	uint64_t ram_size; /* sum of the regions' sizes */
	uint8_t *mapping;  /* one host mapping holding all regions, in order */
	/*
	 * While live migration runs: one bit per page of `mapping` that vmon
	 * itself (a device, not a vCPU: KVM logs those) may have written.
	 * Set with atomic ORs from any thread; NULL when not tracking. The
	 * pointer itself is read and written with __atomic builtins.
	 */
	uint64_t *written;
	uint64_t *written_storage; /* what `written` points to while tracking; kept until destroy */
	uint64_t *written_ever;    /* the same pages, noted since tracking started; never cleared by takes */
	bool from_file;            /* the mapping is file_fd's (guest_mem_init_file), owned */
	int file_fd;
};

/*
 * Maps `ram_size` bytes of anonymous memory (MAP_NORESERVE: the host backs
 * only what the guest touches) and lays it out below `hole_start` and, for
 * what does not fit there, from `high_start` on. Returns 0 or -errno.
 *
 * The mapping is private, 2 MiB-aligned and advised for transparent huge
 * pages. Shared anonymous memory would be shmem, which gets no huge pages
 * unless the host turns shmem THP on (off by default): measured in the
 * nested lab, that cost 30,000 extra nested page faults and 2 s of boot.
 */
int guest_mem_init(struct guest_mem *gm, uint64_t ram_size,
		   uint64_t hole_start, uint64_t high_start);

/*
 * Like guest_mem_init, but the RAM is the file `fd` (exactly ram_size
 * bytes, a snapshot's memory file) mapped MAP_PRIVATE: pages are read in
 * when the guest touches them, and several VMs restored from one file
 * share the pages none of them wrote. 0, or -errno (-EINVAL: wrong size).
 */
int guest_mem_init_file(struct guest_mem *gm, int fd, uint64_t ram_size,
			uint64_t hole_start, uint64_t high_start);

/* Wraps caller-owned host memory as one region at `gpa` (tests, fuzzers). */
void guest_mem_init_flat(struct guest_mem *gm, void *host, uint64_t gpa,
			 uint64_t size);

void guest_mem_destroy(struct guest_mem *gm);

/*
 * The host address of [gpa, gpa + len), or NULL when any byte of the range
 * is not guest RAM (or len is 0 or the range wraps).
 */
void *guest_mem_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/* Copies between guest RAM and host buffers: 0, or -EFAULT (nothing copied). */
int guest_mem_read(const struct guest_mem *gm, uint64_t gpa, void *dst,
		   uint64_t len);
int guest_mem_write(const struct guest_mem *gm, uint64_t gpa, const void *src,
		    uint64_t len);

/*
 * Write tracking for live migration: guest_mem_track_writes(gm, true)
 * starts noting the pages vmon writes; guest_mem_note_write marks
 * [host, host + len) (a pointer from guest_mem_ptr or a virtqueue buffer;
 * anything outside guest RAM is ignored) and costs one load when not
 * tracking; guest_mem_take_written ORs the pages noted since the last
 * call into `bitmap` (one bit per page of the mapping, ram_size / 4096
 * bits) and clears them; with since_start, every page noted since tracking
 * started too (a device may finish writing a page after it was taken: the
 * last round of a migration sends them all again). guest_mem_write notes
 * its writes itself.
 */
int guest_mem_track_writes(struct guest_mem *gm, bool on);
void guest_mem_note_write(const struct guest_mem *gm, const void *host, uint64_t len);
void guest_mem_take_written(struct guest_mem *gm, uint64_t *bitmap, bool since_start);

/*
 * Sets in `bitmap` (one bit per page of the mapping) the pages known to be
 * zero without reading them: never present in this process and not
 * swapped out (/proc/self/pagemap), and either anonymous or, for a memory
 * file, over one of its holes. Reading them would only fault in zeroes.
 * What the guest writes afterwards is for dirty logging to catch. 0 or
 * -errno (nothing is known then).
 */
int guest_mem_find_untouched_zero(const struct guest_mem *gm, uint64_t *bitmap);

/*
 * The host address of [offset, offset + len) of the RAM mapping (RAM in
 * guest_mem order, as memory files and migration number pages), or NULL
 * when any of it lies outside.
 */
void *guest_mem_offset_ptr(const struct guest_mem *gm, uint64_t offset, uint64_t len);

/* Highest guest-physical address + 1 of RAM below 4 GiB. */
uint64_t guest_mem_low_end(const struct guest_mem *gm);

/* Bytes of guest RAM resident in host memory (mincore), for --stats. */
uint64_t guest_mem_resident_bytes(const struct guest_mem *gm);

#endif
