# Port I/O, MMIO, the PVH start info, the CMOS RTC and ACPI power-off.
#include "pvh32.inc"

	.globl _start
_start:
	mov esp, 0x80000
	mov edi, ebx                  # hvm_start_info
	lea esi, [hello]
	call print

	cmp dword ptr [edi], 0x336ec578   # hvm_start_info.magic
	lea esi, [m_magic]
	call check

	lea esi, [m_cmdline]
	call print
	mov esi, [edi + 24]           # cmdline_paddr (low half)
	call print
	lea esi, [newline]
	call print

	mov dx, 0x510                 # a port nobody claims
	in al, dx
	cmp al, 0xff
	lea esi, [m_port]
	call check

	mov dx, 0x510
	in eax, dx
	cmp eax, 0xffffffff
	lea esi, [m_port32]
	call check

	mov dword ptr [0xd0000000], 0x12345678   # MMIO in the PCI hole, unclaimed
	mov eax, [0xd0000000]
	cmp eax, 0xffffffff
	lea esi, [m_mmio]
	call check

	mov al, 0x0d                  # RTC register D: VRT (valid RAM and time)
	out 0x70, al
	in al, 0x71
	and al, 0x80
	cmp al, 0x80
	lea esi, [m_rtc]
	call check

	mov al, 0x09                  # year, BCD: not 0xff, not an unclaimed port
	out 0x70, al
	in al, 0x71
	cmp al, 0xff
	setne al
	cmp al, 1
	lea esi, [m_year]
	call check

	lea esi, [bye]
	call print
	jmp poweroff

hello:     .asciz "tiny-guest: hello from PVH\n"
m_magic:   .asciz "pvh-start-info"
m_cmdline: .asciz "cmdline: "
newline:   .asciz "\n"
m_port:    .asciz "unclaimed-port-byte"
m_port32:  .asciz "unclaimed-port-dword"
m_mmio:    .asciz "unclaimed-mmio"
m_rtc:     .asciz "rtc-valid"
m_year:    .asciz "rtc-year"
bye:       .asciz "powering off\n"
