/*
 * libFuzzer target: arbitrary bytes as a kernel image (bzImage or PVH ELF)
 * loaded into a small fake guest RAM. The loader must refuse or load, never
 * read outside the file or write outside guest RAM (ASan watches both).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/boot.h"
#include "arch/x86/layout.h"

#define FUZZ_RAM_SIZE (24 * MiB)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *ram;
	if (!ram)
		ram = malloc(FUZZ_RAM_SIZE);
	if (!ram || size < 1)
		return 0;

	/* The first byte picks the initrd size, so that placement is fuzzed too. */
	static const uint8_t initrd[4096];
	size_t initrd_size = (size_t)data[0] * 16;
	struct guest_mem gm;
	guest_mem_init_flat(&gm, ram, 0, FUZZ_RAM_SIZE);
	struct kernel_image img = {
		.kernel = image_from_memory(data + 1, size - 1),
		.initrd = image_from_memory(initrd, initrd_size), .has_initrd = initrd_size > 0,
		.cmdline = "console=ttyS0", .rsdp_gpa = LAYOUT_ACPI_START,
	};
	struct kernel_entry entry;
	const char *why = NULL;
	x86_load_kernel(&gm, &img, &entry, &why);
	return 0;
}
