/*
 * PVH direct boot of an ELF kernel: Xen's "HVMlite" ABI (xen/include/public/
 * arch-x86/hvm/start_info.h, docs/misc/pvh.pandoc). The kernel announces a
 * 32-bit entry point in an ELF note (XEN_ELFNOTE_PHYS32_ENTRY) and is
 * entered in flat protected mode, paging off, with %ebx pointing at an
 * hvm_start_info structure.
 */
#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/boot.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC          0x336ec578
#define HVM_START_VERSION        1 /* version 1 adds the memory map */

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

/* Notes of any size are read whole; Linux's are a few hundred bytes. */
#define MAX_NOTES_SIZE (64 * 1024)

/* True when [off, off + len) lies inside the kernel file. */
static bool in_file(const struct kernel_image *img, uint64_t off, uint64_t len)
{
	return off <= img->kernel.size && len <= img->kernel.size - off;
}

static int read_ehdr(const struct kernel_image *img, Elf64_Ehdr *eh,
		     const char **why)
{
	if (image_read(&img->kernel, 0, eh, sizeof(*eh)) < 0)
		return boot_fail(why, "ELF kernel is truncated inside its header", -ENOEXEC);
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64)
		return boot_fail(why, "ELF kernel is not a little-endian x86-64 ELF64 file", -ENOEXEC);
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 ||
	    !in_file(img, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)))
		return boot_fail(why, "ELF kernel has a malformed program header table", -ENOEXEC);
	return 0;
}

/* Program header i; read_ehdr checked that the table is inside the file. */
static int read_phdr(const struct kernel_image *img, const Elf64_Ehdr *eh,
		     unsigned i, Elf64_Phdr *ph)
{
	return image_read(&img->kernel, eh->e_phoff + (uint64_t)i * sizeof(*ph), ph, sizeof(*ph));
}

static uint64_t align4(uint64_t v)
{
	return (v + 3) & ~3ull;
}

/* Walks a PT_NOTE segment's bytes for Xen's PHYS32_ENTRY note. */
static int parse_entry_note(const uint8_t *notes, uint64_t size, uint64_t *entry)
{
	uint64_t off = 0;
	while (size - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		memcpy(&nh, notes + off, sizeof(nh));
		uint64_t name_off = off + sizeof(nh);
		uint64_t desc_off = name_off + align4(nh.n_namesz);
		uint64_t next = desc_off + align4(nh.n_descsz);
		if (next > size)
			return -ENOEXEC;
		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
		    memcmp(notes + name_off, "Xen", 4) == 0 &&
		    (nh.n_descsz == 4 || nh.n_descsz == 8)) {
			uint64_t value = 0;
			memcpy(&value, notes + desc_off, nh.n_descsz); /* little-endian */
			*entry = value;
			return 0;
		}
		off = next;
	}
	return -ENOENT;
}

/* Scans one PT_NOTE segment for Xen's PHYS32_ENTRY note. */
static int find_entry_note(const struct kernel_image *img, const Elf64_Phdr *ph,
			   uint64_t *entry)
{
	if (ph->p_filesz > MAX_NOTES_SIZE)
		return -ENOEXEC;
	uint8_t *notes = malloc(ph->p_filesz ? ph->p_filesz : 1);
	int ret = notes ? image_read(&img->kernel, ph->p_offset, notes, ph->p_filesz) : -ENOMEM;
	if (ret == 0)
		ret = parse_entry_note(notes, ph->p_filesz, entry);
	free(notes);
	return ret;
}

static int load_segment(const struct guest_mem *gm, const struct kernel_image *img,
			const Elf64_Phdr *ph, uint64_t *end, const char **why)
{
	if (!in_file(img, ph->p_offset, ph->p_filesz) || ph->p_filesz > ph->p_memsz)
		return boot_fail(why, "ELF kernel has a segment outside the file", -ENOEXEC);
	/* Below 1 MiB lie vmon's boot structures and the ACPI tables. */
	if (ph->p_paddr < LAYOUT_HIGH_MEMORY)
		return boot_fail(why, "ELF kernel has a segment below 1 MiB, where the boot structures live",
				 -ENOEXEC);
	uint8_t *dst = guest_mem_ptr(gm, ph->p_paddr, ph->p_memsz);
	if (!dst)
		return boot_fail(why, "ELF kernel has a segment outside guest RAM (give the VM more --memory)",
			    -ENOMEM);
	if (image_read(&img->kernel, ph->p_offset, dst, ph->p_filesz) < 0)
		return boot_fail(why, "cannot read the ELF kernel", -EIO);
	memset(dst + ph->p_filesz, 0, ph->p_memsz - ph->p_filesz);
	if (ph->p_paddr + ph->p_memsz > *end)
		*end = ph->p_paddr + ph->p_memsz;
	return 0;
}

/* The PVH entry point from the first PT_NOTE that carries it. */
static int find_entry(const struct kernel_image *img, const Elf64_Ehdr *eh,
		      uint64_t *entry, const char **why)
{
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;
		if (read_phdr(img, eh, i, &ph) == 0 && ph.p_type == PT_NOTE &&
		    find_entry_note(img, &ph, entry) == 0)
			return *entry < 4 * GiB ? 0 :
				boot_fail(why, "ELF kernel's PVH entry point is above 4 GiB", -ENOEXEC);
	}
	return boot_fail(why, "ELF kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); "
			 "boot its bzImage instead", -ENOEXEC);
}

/* Finds the PVH entry point, then loads every PT_LOAD segment. */
static int load_segments(const struct guest_mem *gm, const struct kernel_image *img,
			 uint64_t *entry, uint64_t *end, const char **why)
{
	Elf64_Ehdr eh;
	int ret = read_ehdr(img, &eh, why);
	if (ret == 0)
		ret = find_entry(img, &eh, entry, why);
	for (unsigned i = 0; ret == 0 && i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		if (read_phdr(img, &eh, i, &ph) < 0)
			ret = boot_fail(why, "cannot read the ELF kernel", -EIO);
		else if (ph.p_type == PT_LOAD && ph.p_memsz > 0)
			ret = load_segment(gm, img, &ph, end, why);
	}
	return ret;
}

/* hvm_start_info, the module list (the initrd) and the memory map. */
static int write_start_info(const struct guest_mem *gm, const struct kernel_image *img,
			    uint64_t initrd_gpa, const char **why)
{
	struct hvm_start_info si = {
		.magic = HVM_START_MAGIC,
		.version = HVM_START_VERSION,
		.cmdline_paddr = LAYOUT_CMDLINE,
		.rsdp_paddr = img->rsdp_gpa,
		.memmap_paddr = LAYOUT_PVH_MEMMAP,
	};
	struct hvm_modlist_entry mod = { .paddr = initrd_gpa, .size = img->initrd.size };
	uint64_t modlist = LAYOUT_PVH_START_INFO + sizeof(si);
	if (initrd_gpa) {
		si.nr_modules = 1;
		si.modlist_paddr = modlist;
	}

	struct e820_range ranges[E820_MAX_RANGES];
	unsigned n = e820_build(gm, ranges, E820_MAX_RANGES);
	int err = 0;
	for (unsigned i = 0; i < n; i++) {
		struct hvm_memmap_table_entry e = {
			.addr = ranges[i].addr, .size = ranges[i].size, .type = ranges[i].type,
		};
		err |= guest_mem_write(gm, LAYOUT_PVH_MEMMAP + i * sizeof(e), &e, sizeof(e));
	}
	si.memmap_entries = n;
	err |= guest_mem_write(gm, LAYOUT_PVH_START_INFO, &si, sizeof(si));
	err |= guest_mem_write(gm, modlist, &mod, sizeof(mod));
	return err ? boot_fail(why, "guest RAM is too small for the PVH start info", -ENOMEM) : 0;
}

int pvh_load(const struct guest_mem *gm, const struct kernel_image *img,
	     struct kernel_entry *entry, const char **why)
{
	uint64_t rip = 0, kernel_end = 0, initrd_gpa = 0;
	int ret = load_segments(gm, img, &rip, &kernel_end, why);
	if (ret == 0)
		ret = boot_write_cmdline(gm, img->cmdline, LAYOUT_CMDLINE_MAX, why);
	if (ret == 0)
		ret = boot_place_initrd(gm, img, kernel_end, 4 * GiB, &initrd_gpa, why);
	if (ret == 0)
		ret = write_start_info(gm, img, initrd_gpa, why);
	if (ret < 0)
		return ret;

	entry->mode = BOOT_MODE_PVH32;
	entry->rip = rip;
	entry->boot_info = LAYOUT_PVH_START_INFO;
	return 0;
}
