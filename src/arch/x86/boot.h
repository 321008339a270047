/*
 * Loading a kernel into guest RAM: the Linux x86 boot protocol for a
 * bzImage, or the PVH entry of an ELF kernel (Xen's "HVMlite" direct boot).
 */
#ifndef VMON_ARCH_X86_BOOT_H
#define VMON_ARCH_X86_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/image.h"
#include "vmm/guest_mem.h"

struct kernel_image {
	struct image kernel;
	struct image initrd;
	bool has_initrd;
	const char *cmdline;
	uint64_t rsdp_gpa;
};

enum boot_mode {
	BOOT_MODE_LINUX64, /* 64-bit entry, paging on, %rsi = zero page */
	BOOT_MODE_PVH32,   /* 32-bit flat protected mode, paging off, %ebx = start_info */
};

struct kernel_entry {
	enum boot_mode mode;
	uint64_t rip;
	uint64_t boot_info; /* zero page or hvm_start_info, guest-physical */
};

/*
 * Recognises the kernel's format, copies it, the initrd and the command
 * line into guest RAM and fills *entry. On failure returns a negative errno
 * and points *why at a sentence for the user.
 */
int x86_load_kernel(const struct guest_mem *gm, const struct kernel_image *img,
		    struct kernel_entry *entry, const char **why);

/* The format-specific halves, also called directly by tests and fuzzers. */
int bzimage_load(const struct guest_mem *gm, const struct kernel_image *img,
		 struct kernel_entry *entry, const char **why);
int pvh_load(const struct guest_mem *gm, const struct kernel_image *img,
	     struct kernel_entry *entry, const char **why);

/*
 * Shared by both: the command line at LAYOUT_CMDLINE (at most max_len bytes
 * with its NUL), and the initrd placed as high as possible below `limit`,
 * page-aligned, above `floor`. Return 0 or -errno with *why set.
 */
/* Sets *why for the user and returns err: the loaders' error path. */
static inline int boot_fail(const char **why, const char *msg, int err)
{
	*why = msg;
	return err;
}

int boot_write_cmdline(const struct guest_mem *gm, const char *cmdline,
		       uint64_t max_len, const char **why);
int boot_place_initrd(const struct guest_mem *gm, const struct kernel_image *img,
		      uint64_t floor, uint64_t limit, uint64_t *gpa,
		      const char **why);

#endif
