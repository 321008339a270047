# HLT woken by an interrupt: the in-kernel PIT fires IRQ 0 through the
# in-kernel 8259 PIC to the BSP's LINT0 (virtual wire) and the handler runs.
# The handler finishes the test itself rather than returning: PVM's
# emulator of non-enlightened ring-0 code cannot emulate a protected-mode
# IRET (KVM's x86 emulator handles IRET in real mode only).
#include "pvh32.inc"

	.equ IRQ0_VECTOR, 0x20

	.globl _start
_start:
	mov esp, 0x80000
	lea esi, [hello]
	call print

	# IDT entry for vector 0x20: 32-bit interrupt gate, selector 0x10.
	lea eax, [irq0_handler]
	mov word ptr [idt + IRQ0_VECTOR * 8], ax
	mov word ptr [idt + IRQ0_VECTOR * 8 + 2], 0x10
	mov word ptr [idt + IRQ0_VECTOR * 8 + 4], 0x8e00
	shr eax, 16
	mov word ptr [idt + IRQ0_VECTOR * 8 + 6], ax
	lidt [idtr]

	# 8259A initialisation: ICW1..ICW4, then mask all but IRQ 0.
	mov al, 0x11
	out 0x20, al
	out 0xa0, al
	mov al, IRQ0_VECTOR
	out 0x21, al
	mov al, IRQ0_VECTOR + 8
	out 0xa1, al
	mov al, 0x04
	out 0x21, al
	mov al, 0x02
	out 0xa1, al
	mov al, 0x01
	out 0x21, al
	out 0xa1, al
	mov al, 0xfe
	out 0x21, al
	mov al, 0xff
	out 0xa1, al

	# PIT channel 0, mode 0 (interrupt on terminal count), ~3 ms.
	mov al, 0x30
	out 0x43, al
	mov al, 0x00
	out 0x40, al
	mov al, 0x10
	out 0x40, al

	mov byte ptr [halted], 1
	sti                           # the STI shadow covers HLT: no IRQ before it
	hlt
	lea esi, [m_spurious]         # HLT returned without the handler running
	call print
	jmp poweroff

irq0_handler:
	mov al, 0x20                  # non-specific EOI
	out 0x20, al
	cmp byte ptr [halted], 1
	lea esi, [m_woke]
	call check
	jmp poweroff

hello:  .asciz "tiny-guest: waiting in HLT for the timer\n"
m_woke: .asciz "hlt-woken-by-irq0"
m_spurious: .asciz "hlt returned without an interrupt\n"
halted: .byte 0
	.p2align 3
idtr:   .word 256 * 8 - 1
	.long idt
	.p2align 3
idt:    .fill 256 * 8, 1, 0
