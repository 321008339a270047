# Sends two bytes through COM1 in loopback mode and reads them back, for
# ever, checking each (a dot every 1024 rounds). Nearly every exit is a
# port access, so a snapshot taken at any moment most likely lands in one:
# a restored copy that re-ran an IN whose byte the first copy already took
# reads the wrong byte, prints MISMATCH and powers off.
#include "pvh32.inc"

	.globl _start
_start:
	mov esp, 0x80000
	mov dx, 0x3fa                 # FCR: FIFOs on, both cleared
	mov al, 7
	out dx, al
	xor ebx, ebx
round:
	mov dx, 0x3fc                 # MCR: loopback
	mov al, 0x10
	out dx, al
	mov dx, COM1
	mov al, bl
	out dx, al
	inc al
	out dx, al
	in al, dx
	cmp al, bl
	jne mismatch
	in al, dx
	mov cl, bl
	inc cl
	cmp al, cl
	jne mismatch
	inc ebx
	test ebx, 0x3ff
	jnz round
	mov dx, 0x3fc                 # loopback off to print
	xor al, al
	out dx, al
	lea esi, [dot]
	call print
	jmp round

mismatch:
	mov dx, 0x3fc
	xor al, al
	out dx, al
	lea esi, [m_mismatch]
	call print
	jmp poweroff

dot:        .asciz "."
m_mismatch: .asciz "\nMISMATCH\n"
