/*
 * The Linux x86 boot protocol for a bzImage (Documentation/arch/x86/boot.rst),
 * entered at its 64-bit entry point.
 */
#include <asm/bootparam.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "arch/x86/boot.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"

#define SETUP_HEADER_OFFSET 0x1f1
#define MIN_PROTOCOL        0x0206 /* cmdline_size exists from 2.06 on */
#define LOADER_UNDEFINED    0xff
#define VIDEO_MODE_NORMAL   0xffff
#define ENTRY_64_OFFSET     0x200  /* boot.rst §"64-bit Boot Protocol" */

/* Size of the real-mode setup code that precedes the protected-mode kernel. */
static uint64_t setup_size(const struct setup_header *hdr)
{
	unsigned sects = hdr->setup_sects ? hdr->setup_sects : 4; /* boot.rst: 0 means 4 */
	return (uint64_t)(sects + 1) * 512;
}

/*
 * Copies the image's setup header into the zero page. boot.rst: the header
 * ends at 0x202 plus the byte at 0x201 (the jump offset).
 */
static int copy_setup_header(const struct kernel_image *img,
			     struct boot_params *zp, const char **why)
{
	uint8_t jump;
	if (image_read(&img->kernel, 0x201, &jump, 1) < 0)
		return boot_fail(why, "bzImage is truncated inside its setup header", -ENOEXEC);
	size_t end = 0x202 + (size_t)jump;
	if (end > sizeof(*zp))
		end = sizeof(*zp);
	if (image_read(&img->kernel, SETUP_HEADER_OFFSET, (uint8_t *)zp + SETUP_HEADER_OFFSET,
		       end - SETUP_HEADER_OFFSET) < 0)
		return boot_fail(why, "bzImage is truncated inside its setup header", -ENOEXEC);
	return 0;
}

static int check_header(const struct kernel_image *img,
			const struct setup_header *hdr, const char **why)
{
	if (hdr->boot_flag != 0xaa55)
		return boot_fail(why, "bzImage has no 0xAA55 boot flag", -ENOEXEC);
	if (hdr->version < MIN_PROTOCOL)
		return boot_fail(why, "kernel boot protocol is older than 2.06", -ENOEXEC);
	if (!(hdr->loadflags & LOADED_HIGH))
		return boot_fail(why, "zImage kernels (loaded low) are not supported; use a bzImage", -ENOEXEC);
	if (hdr->version >= 0x020c && !(hdr->xloadflags & XLF_KERNEL_64))
		return boot_fail(why, "kernel has no 64-bit entry point (32-bit kernel?)", -ENOEXEC);
	if (setup_size(hdr) >= img->kernel.size)
		return boot_fail(why, "bzImage is truncated: no protected-mode kernel after the setup code", -ENOEXEC);
	return 0;
}

/*
 * The lowest address the initrd may start at: above the decompressed
 * kernel. pref_address is a 64-bit field from the file: it is clamped so
 * that adding the 32-bit init_size cannot wrap.
 */
static uint64_t kernel_footprint_end(const struct setup_header *hdr,
				     size_t payload_size)
{
	uint64_t start = LAYOUT_HIGH_MEMORY;
	uint64_t size = payload_size;
	/* 2.10+: init_size bytes are needed from the preferred address on. */
	if (hdr->version >= 0x020a) {
		if (hdr->pref_address > start)
			start = hdr->pref_address < UINT64_MAX / 2 ? hdr->pref_address : UINT64_MAX / 2;
		if (hdr->init_size > size)
			size = hdr->init_size;
	}
	return start + size;
}

static void fill_e820(const struct guest_mem *gm, struct boot_params *zp)
{
	struct e820_range ranges[E820_MAX_RANGES];
	unsigned n = e820_build(gm, ranges, E820_MAX_RANGES);
	for (unsigned i = 0; i < n; i++) {
		zp->e820_table[i].addr = ranges[i].addr;
		zp->e820_table[i].size = ranges[i].size;
		zp->e820_table[i].type = ranges[i].type;
	}
	zp->e820_entries = n;
}

int bzimage_load(const struct guest_mem *gm, const struct kernel_image *img,
		 struct kernel_entry *entry, const char **why)
{
	struct boot_params zp;
	memset(&zp, 0, sizeof(zp));
	if (img->kernel.size < sizeof(zp.hdr) + SETUP_HEADER_OFFSET)
		return boot_fail(why, "bzImage is too small to hold a setup header", -ENOEXEC);
	int ret = copy_setup_header(img, &zp, why);
	if (ret == 0)
		ret = check_header(img, &zp.hdr, why);
	if (ret < 0)
		return ret;

	size_t setup = setup_size(&zp.hdr);
	uint64_t payload = img->kernel.size - setup;
	uint64_t footprint_end = kernel_footprint_end(&zp.hdr, payload);
	void *dst = guest_mem_ptr(gm, LAYOUT_HIGH_MEMORY, payload);
	if (footprint_end > guest_mem_low_end(gm) || !dst)
		return boot_fail(why, "guest RAM is too small for this kernel (give the VM more --memory)", -ENOMEM);
	if (image_read(&img->kernel, setup, dst, payload) < 0)
		return boot_fail(why, "cannot read the kernel's protected-mode code", -EIO);

	ret = boot_write_cmdline(gm, img->cmdline, (uint64_t)zp.hdr.cmdline_size + 1, why);
	uint64_t initrd_gpa = 0;
	if (ret == 0)
		ret = boot_place_initrd(gm, img, footprint_end,
					(uint64_t)zp.hdr.initrd_addr_max + 1, &initrd_gpa, why);
	if (ret < 0)
		return ret;

	zp.hdr.type_of_loader = LOADER_UNDEFINED;
	zp.hdr.vid_mode = VIDEO_MODE_NORMAL;
	zp.hdr.cmd_line_ptr = (uint32_t)LAYOUT_CMDLINE;
	zp.hdr.ramdisk_image = (uint32_t)initrd_gpa;
	zp.hdr.ramdisk_size = initrd_gpa ? (uint32_t)img->initrd.size : 0;
	zp.acpi_rsdp_addr = img->rsdp_gpa;
	fill_e820(gm, &zp);
	if (guest_mem_write(gm, LAYOUT_ZERO_PAGE, &zp, sizeof(zp)) < 0)
		return boot_fail(why, "guest RAM is too small for the zero page", -ENOMEM);

	entry->mode = BOOT_MODE_LINUX64;
	entry->rip = LAYOUT_HIGH_MEMORY + ENTRY_64_OFFSET;
	entry->boot_info = LAYOUT_ZERO_PAGE;
	return 0;
}
