#include "arch/x86/boot.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/layout.h"

#define PAGE_SIZE 4096ull

int x86_load_kernel(const struct guest_mem *gm, const struct kernel_image *img,
		    struct kernel_entry *entry, const char **why)
{
	static const uint8_t elf_magic[4] = { 0x7f, 'E', 'L', 'F' };
	uint8_t magic[4];

	if (image_read(&img->kernel, 0, magic, 4) == 0 && memcmp(magic, elf_magic, 4) == 0)
		return pvh_load(gm, img, entry, why);
	/* boot.rst: the setup header's "HdrS" magic sits at offset 0x202. */
	if (image_read(&img->kernel, 0x202, magic, 4) == 0 && memcmp(magic, "HdrS", 4) == 0)
		return bzimage_load(gm, img, entry, why);
	return boot_fail(why, "not a Linux kernel: neither a bzImage (no 'HdrS' setup header) nor an ELF file",
		    -ENOEXEC);
}

int boot_write_cmdline(const struct guest_mem *gm, const char *cmdline,
		       uint64_t max_len, const char **why)
{
	size_t len = strlen(cmdline) + 1;
	if (max_len > LAYOUT_CMDLINE_MAX)
		max_len = LAYOUT_CMDLINE_MAX;
	if (len > max_len)
		return boot_fail(why, "the kernel command line is longer than the kernel accepts", -E2BIG);
	if (guest_mem_write(gm, LAYOUT_CMDLINE, cmdline, len) < 0)
		return boot_fail(why, "guest RAM is too small for the command line", -ENOMEM);
	return 0;
}

int boot_place_initrd(const struct guest_mem *gm, const struct kernel_image *img,
		      uint64_t floor, uint64_t limit, uint64_t *gpa,
		      const char **why)
{
	*gpa = 0;
	if (!img->has_initrd)
		return 0;

	uint64_t top = guest_mem_low_end(gm);
	if (limit < top)
		top = limit;
	uint64_t size = img->initrd.size;
	if (size == 0)
		return boot_fail(why, "the initrd is empty", -EINVAL);
	if (size > top || ((top - size) & ~(PAGE_SIZE - 1)) < floor)
		return boot_fail(why, "the initrd does not fit in guest RAM beside the kernel (give the VM more --memory)",
			    -ENOMEM);

	uint64_t addr = (top - size) & ~(PAGE_SIZE - 1);
	void *dst = guest_mem_ptr(gm, addr, size);
	if (!dst)
		return boot_fail(why, "the initrd does not fit in guest RAM", -ENOMEM);
	if (image_read(&img->initrd, 0, dst, size) < 0)
		return boot_fail(why, "cannot read the initrd", -EIO);
	*gpa = addr;
	return 0;
}
