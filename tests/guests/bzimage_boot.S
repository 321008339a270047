# A hand-made bzImage: a setup header (boot protocol 2.12) followed by a
# protected-mode "kernel" whose 64-bit entry point, at +0x200, checks what
# the boot loader promised (Documentation/arch/x86/boot.rst) and then asks
# the i8042 for a reset.
	.intel_syntax noprefix
	.equ SETUP_SECTS, 1
	.equ COM1, 0x3f8
	.equ COM1_LSR, 0x3fd

	.section .text
	.code16
boot_sector:
	.org 0x1f1
	.byte SETUP_SECTS                 # setup_sects
	.word 0                           # root_flags
	.long 0                           # syssize
	.word 0                           # ram_size
	.word 0xffff                      # vid_mode
	.word 0                           # root_dev
	.word 0xaa55                      # boot_flag
	.byte 0xeb, header_end - boot_sector - 0x202  # boot.rst: the header ends at 0x202 + this
	.ascii "HdrS"                     # header
	.word 0x020c                      # version 2.12
	.long 0                           # realmode_swtch
	.word 0                           # start_sys_seg
	.word 0                           # kernel_version
	.byte 0                           # type_of_loader
	.byte 0x01                        # loadflags: LOADED_HIGH
	.word 0                           # setup_move_size
	.long 0x100000                    # code32_start
	.long 0                           # ramdisk_image
	.long 0                           # ramdisk_size
	.long 0                           # bootsect_kludge
	.word 0                           # heap_end_ptr
	.byte 0, 0                        # ext_loader_ver, ext_loader_type
	.long 0                           # cmd_line_ptr
	.long 0x7fffffff                  # initrd_addr_max
	.long 0x200000                    # kernel_alignment
	.byte 1                           # relocatable_kernel
	.byte 21                          # min_alignment
	.word 0x0001                      # xloadflags: XLF_KERNEL_64
	.long 255                         # cmdline_size
	.long 0                           # hardware_subarch
	.quad 0                           # hardware_subarch_data
	.long 0                           # payload_offset
	.long 0                           # payload_length
	.quad 0                           # setup_data
	.quad 0x100000                    # pref_address
	.long 0x100000                    # init_size
	.long 0                           # handover_offset
header_end:
	.org (SETUP_SECTS + 1) * 512

# The protected-mode kernel: loaded at 1 MiB, 64-bit entry at +0x200.
pm_kernel:
	.code64
	.org (SETUP_SECTS + 1) * 512 + 0x200
startup_64:
	lea rsp, [rip + stack_top]
	mov rbx, rsi                      # the zero page
	lea rsi, [rip + hello]
	call print

	cmp dword ptr [rbx + 0x202], 0x53726448   # "HdrS" copied into the zero page
	lea rsi, [rip + m_header]
	call check

	cmp rbx, 0x7000
	lea rsi, [rip + m_zeropage]
	call check

	lea rsi, [rip + m_cmdline]
	call print
	mov esi, dword ptr [rbx + 0x228]  # cmd_line_ptr
	call print
	lea rsi, [rip + newline]
	call print

	cmp byte ptr [rbx + 0x1e8], 3     # e820_entries: low RAM, reserved, RAM
	setae al
	cmp al, 1
	lea rsi, [rip + m_e820]
	call check

	mov rax, qword ptr [rbx + 0x70]   # acpi_rsdp_addr
	mov rcx, 0x2052545020445352       # "RSD PTR "
	cmp qword ptr [rax], rcx
	lea rsi, [rip + m_rsdp]
	call check

	mov eax, dword ptr [rbx + 0x218]  # ramdisk_image
	mov rcx, 0x445254494e492d31       # "1-INITRD"
	cmp qword ptr [rax], rcx
	lea rsi, [rip + m_initrd]
	call check

	mov ecx, 0x2000000                # 32 MiB: beyond the kernel, still identity-mapped
	mov dword ptr [rcx], 0x5a5a5a5a
	cmp dword ptr [rcx], 0x5a5a5a5a
	lea rsi, [rip + m_paging]
	call check

	lea rsi, [rip + bye]
	call print
	mov al, 0xfe                      # i8042: pulse the reset line
	out 0x64, al
1:	hlt
	jmp 1b

# print: the NUL-terminated string at rsi to COM1.
print:
	push rax
	push rdx
1:	lodsb
	test al, al
	jz 3f
	mov ah, al
	mov dx, COM1_LSR
2:	in al, dx
	test al, 0x20
	jz 2b
	mov al, ah
	mov dx, COM1
	out dx, al
	jmp 1b
3:	pop rdx
	pop rax
	ret

check:
	pushf
	call print
	popf
	lea rsi, [rip + ok_msg]
	jz 1f
	lea rsi, [rip + fail_msg]
1:	call print
	ret

hello:      .asciz "tiny-guest: hello from the 64-bit entry\n"
m_header:   .asciz "setup-header"
m_zeropage: .asciz "zero-page-in-rsi"
m_cmdline:  .asciz "cmdline: "
newline:    .asciz "\n"
m_e820:     .asciz "e820-map"
m_rsdp:     .asciz "acpi-rsdp"
m_initrd:   .asciz "initrd"
m_paging:   .asciz "identity-map"
bye:        .asciz "rebooting\n"
ok_msg:     .asciz " ok\n"
fail_msg:   .asciz " FAIL\n"
	.p2align 4
	.fill 1024, 1, 0
stack_top:
