# Counts for ever: "count N" (N in hex, from 1) on COM1 about ten times a
# second, with N kept both in memory and in EBX and checked against each
# other at every step, so that a restored or migrated copy shows whether
# its registers and its RAM came back (and in step): it goes on from the
# next number, or prints "count MISMATCH" and powers off.
#include "pvh32.inc"

	.equ DELAY, 20000             # ~60k emulated instructions on PVM

	.globl _start
_start:
	mov esp, 0x80000
	xor ebx, ebx
	mov dword ptr [counter], 0
next:
	cmp ebx, dword ptr [counter]
	jne mismatch
	inc ebx
	inc dword ptr [counter]
	lea esi, [m_count]
	call print
	mov eax, ebx
	call print_hex
	lea esi, [m_newline]
	call print
	mov ecx, DELAY
1:	dec ecx
	jnz 1b
	jmp next

mismatch:
	lea esi, [m_mismatch]
	call print
	jmp poweroff

# print_hex: writes eax as 8 hex digits.
print_hex:
	mov ecx, 8
	lea edi, [digits]
1:	rol eax, 4
	mov edx, eax
	and edx, 0xf
	mov dl, byte ptr [hex + edx]
	mov byte ptr [edi], dl
	inc edi
	dec ecx
	jnz 1b
	lea esi, [digits]
	jmp print

m_count:    .asciz "count "
m_newline:  .asciz "\n"
m_mismatch: .asciz "count MISMATCH\n"
hex:        .ascii "0123456789abcdef"
digits:     .asciz "00000000"
	.p2align 2
counter:    .long 0
