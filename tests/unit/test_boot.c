/* Kernel loading on fake guest memory: bzImage zero page, PVH start info, e820. */
#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/boot.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "tap.h"

#define RAM_SIZE (64 * MiB)

static uint8_t *ram;
static struct guest_mem gm;

static void fresh_ram(void)
{
	memset(ram, 0, RAM_SIZE);
	guest_mem_init_flat(&gm, ram, 0, RAM_SIZE);
}

/* A minimal bzImage: setup header (protocol 2.12) and a 4 KiB payload. */
static size_t make_bzimage(uint8_t *buf, uint16_t version)
{
	size_t size = 2 * 512 + 4096;
	memset(buf, 0, size);
	struct setup_header hdr = { 0 };
	hdr.setup_sects = 1;
	hdr.boot_flag = 0xaa55;
	hdr.header = 0x53726448;
	hdr.version = version;
	hdr.loadflags = LOADED_HIGH;
	hdr.initrd_addr_max = 0x7fffffff;
	hdr.xloadflags = XLF_KERNEL_64;
	hdr.cmdline_size = 255;
	hdr.pref_address = 0x1000000;
	hdr.init_size = 0x100000;
	hdr.jump = 0x66eb; /* header ends at 0x202 + 0x66 */
	memcpy(buf + 0x1f1, &hdr, sizeof(hdr));
	memset(buf + 1024, 0xcc, 4096);
	return size;
}

static struct boot_params zero_page(void)
{
	struct boot_params zp;
	memcpy(&zp, ram + LAYOUT_ZERO_PAGE, sizeof(zp));
	return zp;
}

static void test_bzimage(void)
{
	static uint8_t image[8192];
	static const char initrd[] = "initrd contents";
	fresh_ram();
	struct kernel_image img = {
		.kernel = image_from_memory(image, make_bzimage(image, 0x020c)),
		.initrd = image_from_memory(initrd, sizeof(initrd)), .has_initrd = true,
		.cmdline = "console=ttyS0", .rsdp_gpa = LAYOUT_ACPI_START,
	};
	struct kernel_entry entry;
	const char *why = NULL;
	CHECK(x86_load_kernel(&gm, &img, &entry, &why) == 0, "bzImage loads");
	CHECK(entry.mode == BOOT_MODE_LINUX64 && entry.rip == 0x100200, "64-bit entry at load address + 0x200");
	CHECK(entry.boot_info == LAYOUT_ZERO_PAGE, "zero page address handed over");
	CHECK(ram[0x100000] == 0xcc && ram[0x100000 + 4095] == 0xcc, "protected-mode kernel at 1 MiB");

	struct boot_params zp = zero_page();
	CHECK(zp.hdr.header == 0x53726448 && zp.hdr.version == 0x020c, "setup header copied");
	CHECK(zp.hdr.type_of_loader == 0xff, "type_of_loader is 'undefined'");
	CHECK(zp.hdr.cmd_line_ptr == LAYOUT_CMDLINE &&
	      strcmp((char *)ram + LAYOUT_CMDLINE, "console=ttyS0") == 0, "command line written");
	CHECK(zp.hdr.ramdisk_size == sizeof(initrd) &&
	      memcmp(ram + zp.hdr.ramdisk_image, initrd, sizeof(initrd)) == 0, "initrd copied");
	CHECK(zp.hdr.ramdisk_image % 4096 == 0 && zp.hdr.ramdisk_image + sizeof(initrd) <= RAM_SIZE,
	      "initrd page-aligned, inside RAM");
	CHECK(zp.hdr.ramdisk_image >= 0x1000000 + 0x100000, "initrd above the decompressed kernel");
	CHECK(zp.acpi_rsdp_addr == LAYOUT_ACPI_START, "RSDP address passed");
	CHECK(zp.e820_entries == 4, "four e820 entries for 64 MiB");
	CHECK(zp.e820_table[2].addr == 0x100000 && zp.e820_table[2].size == RAM_SIZE - 0x100000 &&
	      zp.e820_table[2].type == E820_TYPE_RAM, "e820: RAM from 1 MiB to the end");
	CHECK(zp.e820_table[1].type == E820_TYPE_RESERVED && zp.e820_table[1].addr == LAYOUT_EBDA_START,
	      "e820: legacy area reserved");
	CHECK(zp.e820_table[3].addr == LAYOUT_PCI_ECAM_BASE && zp.e820_table[3].size == LAYOUT_PCI_ECAM_SIZE &&
	      zp.e820_table[3].type == E820_TYPE_RESERVED, "e820: PCIe ECAM reserved, after RAM");
}

static void test_bzimage_rejects(void)
{
	static uint8_t image[8192];
	struct kernel_entry entry;
	const char *why = NULL;
	struct kernel_image img = { .cmdline = "" };

	fresh_ram();
	img.kernel = image_from_memory(image, make_bzimage(image, 0x0205));
	CHECK(bzimage_load(&gm, &img, &entry, &why) == -ENOEXEC && strstr(why, "2.06"), "protocol 2.05 refused");

	img.kernel = image_from_memory(image, make_bzimage(image, 0x020c));
	image[0x236] = 0; /* xloadflags without XLF_KERNEL_64 */
	CHECK(bzimage_load(&gm, &img, &entry, &why) == -ENOEXEC && strstr(why, "64-bit"), "32-bit-only kernel refused");

	img.kernel = image_from_memory(image, make_bzimage(image, 0x020c));
	image[0x1fe] = 0;
	CHECK(bzimage_load(&gm, &img, &entry, &why) == -ENOEXEC, "missing boot flag refused");

	img.kernel = image_from_memory(image, make_bzimage(image, 0x020c));
	image[0x211] = 0; /* not LOADED_HIGH: a zImage */
	CHECK(bzimage_load(&gm, &img, &entry, &why) == -ENOEXEC, "zImage refused");

	make_bzimage(image, 0x020c);
	img.kernel = image_from_memory(image, 1024); /* nothing after the setup sectors */
	CHECK(bzimage_load(&gm, &img, &entry, &why) == -ENOEXEC && strstr(why, "truncated"), "truncated image refused");

	img.kernel = image_from_memory(image, make_bzimage(image, 0x020c));
	char long_cmdline[300];
	memset(long_cmdline, 'x', sizeof(long_cmdline) - 1);
	long_cmdline[sizeof(long_cmdline) - 1] = 0;
	img.cmdline = long_cmdline;
	CHECK(bzimage_load(&gm, &img, &entry, &why) == -E2BIG, "command line longer than cmdline_size refused");
	img.cmdline = "";

	uint32_t huge_init = 0x7000000; /* 112 MiB: more than the 64 MiB of RAM */
	memcpy(image + 0x260, &huge_init, 4);
	CHECK(bzimage_load(&gm, &img, &entry, &why) == -ENOMEM, "kernel larger than RAM refused");

	img.kernel = image_from_memory(image, make_bzimage(image, 0x020c));
	uint64_t wrapping = UINT64_MAX - 0x1000; /* pref_address + init_size wraps */
	memcpy(image + 0x258, &wrapping, 8);
	CHECK(bzimage_load(&gm, &img, &entry, &why) == -ENOMEM, "pref_address near 2^64 refused, no wrap");

	img.kernel = image_from_memory(image, make_bzimage(image, 0x020c));
	static const uint8_t empty[1];
	img.initrd = image_from_memory(empty, 0);
	img.has_initrd = true;
	CHECK(bzimage_load(&gm, &img, &entry, &why) == -EINVAL && strstr(why, "empty"), "empty initrd refused");

	static uint8_t big_initrd[60 * MiB];
	img.initrd = image_from_memory(big_initrd, sizeof(big_initrd));
	CHECK(bzimage_load(&gm, &img, &entry, &why) == -ENOMEM, "initrd overlapping the kernel refused");

	img.has_initrd = false;
	img.kernel = image_from_memory(image, 0x100);
	CHECK(x86_load_kernel(&gm, &img, &entry, &why) == -ENOEXEC && strstr(why, "not a Linux kernel"),
	      "garbage is not a kernel");
}

/* An ELF64 kernel with one PT_LOAD at 2 MiB and a PT_NOTE with the PVH entry. */
static size_t make_pvh_elf(uint8_t *buf, bool with_note, uint32_t note_type)
{
	memset(buf, 0, 8192);
	Elf64_Ehdr eh = {
		.e_ident = { 0x7f, 'E', 'L', 'F', ELFCLASS64, ELFDATA2LSB, EV_CURRENT },
		.e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
		.e_phoff = sizeof(Elf64_Ehdr), .e_ehsize = sizeof(Elf64_Ehdr),
		.e_phentsize = sizeof(Elf64_Phdr), .e_phnum = 2,
	};
	Elf64_Phdr load = {
		.p_type = PT_LOAD, .p_offset = 4096, .p_paddr = 0x200000,
		.p_filesz = 256, .p_memsz = 8192,
	};
	Elf64_Phdr note = {
		.p_type = with_note ? PT_NOTE : PT_NULL, .p_offset = 1024, .p_filesz = 20,
	};
	memcpy(buf, &eh, sizeof(eh));
	memcpy(buf + eh.e_phoff, &load, sizeof(load));
	memcpy(buf + eh.e_phoff + sizeof(load), &note, sizeof(note));
	uint32_t nhdr[3] = { 4, 4, note_type };
	memcpy(buf + 1024, nhdr, sizeof(nhdr));
	memcpy(buf + 1024 + 12, "Xen", 4);
	uint32_t entry = 0x200040;
	memcpy(buf + 1024 + 16, &entry, 4);
	memset(buf + 4096, 0x90, 256);
	return 8192;
}

struct start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};

static void test_pvh(void)
{
	static uint8_t elf[8192];
	static const char initrd[] = "pvh initrd";
	fresh_ram();
	memset(ram + 0x200000, 0xee, 8192); /* bss must come out zeroed */
	struct kernel_image img = {
		.kernel = image_from_memory(elf, make_pvh_elf(elf, true, 18)),
		.initrd = image_from_memory(initrd, sizeof(initrd)), .has_initrd = true,
		.cmdline = "pvh cmdline", .rsdp_gpa = LAYOUT_ACPI_START,
	};
	struct kernel_entry entry;
	const char *why = NULL;
	CHECK(x86_load_kernel(&gm, &img, &entry, &why) == 0, "ELF with a PVH note loads");
	CHECK(entry.mode == BOOT_MODE_PVH32 && entry.rip == 0x200040, "entry from XEN_ELFNOTE_PHYS32_ENTRY");
	CHECK(ram[0x200000] == 0x90 && ram[0x200000 + 255] == 0x90, "segment copied to p_paddr");
	CHECK(ram[0x200000 + 256] == 0 && ram[0x200000 + 8191] == 0, "rest of p_memsz zeroed");

	struct start_info si;
	memcpy(&si, ram + entry.boot_info, sizeof(si));
	CHECK(si.magic == 0x336ec578 && si.version == 1, "hvm_start_info magic and version 1");
	CHECK(strcmp((char *)ram + si.cmdline_paddr, "pvh cmdline") == 0, "command line");
	CHECK(si.rsdp_paddr == LAYOUT_ACPI_START, "RSDP address");
	CHECK(si.nr_modules == 1, "initrd as module");
	uint64_t mod[4];
	memcpy(mod, ram + si.modlist_paddr, sizeof(mod));
	CHECK(mod[1] == sizeof(initrd) && memcmp(ram + mod[0], initrd, sizeof(initrd)) == 0, "module is the initrd");
	CHECK(si.memmap_entries == 4, "memory map with four entries");
}

static void test_pvh_rejects(void)
{
	static uint8_t elf[8192];
	struct kernel_entry entry;
	const char *why = NULL;
	struct kernel_image img = { .cmdline = "" };

	fresh_ram();
	img.kernel = image_from_memory(elf, make_pvh_elf(elf, false, 18));
	CHECK(pvh_load(&gm, &img, &entry, &why) == -ENOEXEC && strstr(why, "PVH entry note"), "no note refused");

	img.kernel = image_from_memory(elf, make_pvh_elf(elf, true, 17));
	CHECK(pvh_load(&gm, &img, &entry, &why) == -ENOEXEC, "other Xen note type is not the entry");

	img.kernel = image_from_memory(elf, make_pvh_elf(elf, true, 18));
	uint32_t big = 0x7fffffff; /* note namesz running past the segment */
	memcpy(elf + 1024, &big, 4);
	CHECK(pvh_load(&gm, &img, &entry, &why) == -ENOEXEC, "note with a huge name size refused");

	img.kernel = image_from_memory(elf, make_pvh_elf(elf, true, 18));
	uint64_t paddr = RAM_SIZE - 100; /* segment running past RAM */
	memcpy(elf + sizeof(Elf64_Ehdr) + offsetof(Elf64_Phdr, p_paddr), &paddr, 8);
	CHECK(pvh_load(&gm, &img, &entry, &why) == -ENOMEM, "segment outside guest RAM refused");

	img.kernel = image_from_memory(elf, make_pvh_elf(elf, true, 18));
	paddr = 0x7000; /* on top of the zero page and boot structures */
	memcpy(elf + sizeof(Elf64_Ehdr) + offsetof(Elf64_Phdr, p_paddr), &paddr, 8);
	CHECK(pvh_load(&gm, &img, &entry, &why) == -ENOEXEC && strstr(why, "below 1 MiB"),
	      "segment below 1 MiB refused");

	img.kernel = image_from_memory(elf, make_pvh_elf(elf, true, 18));
	uint64_t offset = 0xfffffffffffff000ull; /* file offset that wraps */
	memcpy(elf + sizeof(Elf64_Ehdr) + offsetof(Elf64_Phdr, p_offset), &offset, 8);
	CHECK(pvh_load(&gm, &img, &entry, &why) == -ENOEXEC, "segment offset outside the file refused");

	img.kernel = image_from_memory(elf, make_pvh_elf(elf, true, 18));
	uint16_t phnum = 0xffff;
	memcpy(elf + offsetof(Elf64_Ehdr, e_phnum), &phnum, 2);
	CHECK(pvh_load(&gm, &img, &entry, &why) == -ENOEXEC, "program headers past the end of file refused");

	img.kernel = image_from_memory(elf, make_pvh_elf(elf, true, 18));
	elf[EI_CLASS] = ELFCLASS32;
	CHECK(pvh_load(&gm, &img, &entry, &why) == -ENOEXEC, "ELF32 refused");

	img.kernel = image_from_memory(elf, 10);
	CHECK(pvh_load(&gm, &img, &entry, &why) == -ENOEXEC, "truncated ELF header refused");
}

static void test_e820_split(void)
{
	struct guest_mem big;
	CHECK(guest_mem_init(&big, 6 * GiB, LAYOUT_PCI_HOLE_START, LAYOUT_HIGH_RAM_START) == 0, "6 GiB guest");
	struct e820_range r[E820_MAX_RANGES];
	unsigned n = e820_build(&big, r, E820_MAX_RANGES);
	CHECK(n == 5, "five ranges with RAM above 4 GiB");
	CHECK(r[2].addr == MiB && r[2].addr + r[2].size == 3 * GiB, "low RAM stops at the PCI hole");
	CHECK(r[3].addr == LAYOUT_PCI_ECAM_BASE && r[3].type == E820_TYPE_RESERVED, "ECAM reserved in the hole");
	CHECK(r[4].addr == 4 * GiB && r[4].size == 3 * GiB && r[4].type == E820_TYPE_RAM, "the rest above 4 GiB");
	bool sorted = true;
	for (unsigned i = 1; i < n; i++)
		sorted &= r[i - 1].addr + r[i - 1].size <= r[i].addr;
	CHECK(sorted, "ranges sorted by address, disjoint");
	CHECK(e820_build(&big, r, 4) == 4 && r[3].addr == LAYOUT_PCI_ECAM_BASE, "a short map keeps the lowest ranges");
	CHECK(e820_build(&big, r, 2) == 2, "never writes more than asked");
	guest_mem_destroy(&big);
}

int main(void)
{
	ram = malloc(RAM_SIZE);
	test_bzimage();
	test_bzimage_rejects();
	test_pvh();
	test_pvh_rejects();
	test_e820_split();
	free(ram);
	return tap_finish();
}
