/*
 * An AML encoder (ACPI 6.4 §20) for the few constructs vmon's DSDT needs:
 * names, integers, strings, packages, devices, and the resource
 * descriptors of _CRS (§6.4).
 */
#ifndef VMON_ARCH_X86_AML_H
#define VMON_ARCH_X86_AML_H

#include "arch/x86/acpi_out.h"

enum {
	AML_ZERO_OP       = 0x00,
	AML_ONE_OP        = 0x01,
	AML_NAME_OP       = 0x08,
	AML_BYTE_PREFIX   = 0x0a,
	AML_WORD_PREFIX   = 0x0b,
	AML_DWORD_PREFIX  = 0x0c,
	AML_STRING_PREFIX = 0x0d,
	AML_SCOPE_OP      = 0x10,
	AML_BUFFER_OP     = 0x11,
	AML_PACKAGE_OP    = 0x12,
	AML_EXT_OP_PREFIX = 0x5b,
	AML_DEVICE_OP     = 0x82, /* follows AML_EXT_OP_PREFIX */
	AML_ROOT_CHAR     = '\\',
};

#define EXT_IRQ_CONSUMER (1u << 0)
#define ADDR_MAX_FIXED (1u << 3)
#define ADDR_MIN_FIXED (1u << 2)
#define ADDR_MEM_READ_WRITE   (1u << 0) /* _RW */
#define ADDR_MEM_NONCACHEABLE (0u << 1) /* _MEM */
#define ADDR_MEM_CACHEABLE    (1u << 1)
#define ADDR_IO_ENTIRE_RANGE  3u

void aml_nameseg(struct out *o, const char *name);
void aml_integer(struct out *o, uint32_t v);
void aml_name(struct out *o, const char *name);
size_t aml_pkglength_encode(size_t body, uint8_t enc[4]);
size_t aml_open(struct out *o, uint8_t op);
void aml_close(struct out *o, size_t body);
void aml_close_buffer(struct out *o, size_t body);
uint32_t eisa_id(const char id[7]);
void aml_io(struct out *o, uint16_t base, uint8_t len);
void aml_irq_noflags(struct out *o, unsigned irq);
void aml_end_tag(struct out *o);
void aml_large_item(struct out *o, uint8_t tag, uint16_t len);
void aml_memory32_fixed(struct out *o, uint32_t base, uint32_t len);
void aml_interrupt_level_high(struct out *o, uint32_t gsi);
void aml_addr_space(struct out *o, size_t width, uint8_t type, uint8_t type_flags,
			   uint64_t min, uint64_t len);
void aml_word_bus_number(struct out *o, uint16_t first, uint16_t count);
void aml_word_io(struct out *o, uint16_t base, uint32_t len);
void aml_dword_memory(struct out *o, uint8_t caching, uint32_t base, uint32_t len);
void aml_qword_memory(struct out *o, uint8_t caching, uint64_t base, uint64_t len);
size_t aml_device_open(struct out *o, const char *name);
void aml_name_integer(struct out *o, const char *name, uint32_t v);
void aml_name_string(struct out *o, const char *name, const char *str);
size_t aml_crs_open(struct out *o);
void aml_crs_close(struct out *o, size_t crs);

#endif
