# An empty IDT and an invalid opcode: #UD -> #GP -> #DF -> triple fault.
# (ud2 rather than int3: PVM's emulator cannot emulate a protected-mode INT.)
#include "pvh32.inc"

	.globl _start
_start:
	mov esp, 0x80000
	lea esi, [hello]
	call print
	lidt [empty_idt]
	ud2
	jmp poweroff                  # never reached

	.p2align 3
empty_idt: .word 0
	.long 0
hello: .asciz "tiny-guest: about to triple fault\n"
