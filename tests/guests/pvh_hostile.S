# A hostile guest: writes a pattern to every I/O port below 0x1000 (except
# the two that legitimately end the VM: the i8042 command port and ACPI
# PM1a control), reads them all back, then writes and reads across the PCI
# hole and above RAM. vmon must keep running through all of it.
#include "pvh32.inc"

	.globl _start
_start:
	mov esp, 0x80000
	lea esi, [hello]
	call print

	xor edx, edx                  # port
1:	cmp dx, 0x64
	je 2f
	cmp dx, PM1A_CNT
	je 2f
	cmp dx, PM1A_CNT + 1
	je 2f
	mov al, dl
	imul eax, eax, 37
	out dx, al
	in al, dx
	out dx, ax
	in ax, dx
	out dx, eax
	in eax, dx
2:	inc dx
	cmp dx, 0x1000
	jb 1b

	mov ebx, 0xc0000000           # MMIO: the 32-bit hole, 1 MiB steps
3:	cmp ebx, 0xfec00000           # leave the in-kernel IOAPIC and LAPIC alone
	jae 4f
	mov dword ptr [ebx], 0xdeadbeef
	mov eax, [ebx]
	mov byte ptr [ebx + 3], 0x5a
	add ebx, 0x100000
	jmp 3b

4:	mov dx, COM1 + 3              # the sweep left the UART in any state:
	mov al, 0x03                  # LCR: 8N1, DLAB off
	out dx, al
	mov dx, COM1 + 4              # MCR: DTR, RTS, no loopback
	out dx, al
	mov dx, COM1 + 1              # IER: no interrupts
	xor al, al
	out dx, al
	mov dx, COM1 + 2              # FCR: FIFOs on and cleared
	mov al, 0x07
	out dx, al

	lea esi, [rep_msg]            # string I/O: one exit, a FIFO load of bytes
	mov dx, COM1
	mov ecx, OFFSET rep_len
	rep outsb

	mov dx, 0x510                 # rep insb from a port nobody claims
	lea edi, [buffer]
	mov ecx, 64
	rep insb
	lea esi, [buffer]
	mov ecx, 64
5:	lodsb
	cmp al, 0xff
	jne 6f
	loop 5b
6:	lea esi, [m_rep_insb]
	call check

	lea esi, [survived]
	call print
	jmp poweroff

hello:    .asciz "tiny-guest: hostile I/O sweep\n"
survived: .asciz "hostile-sweep-done\n"
rep_msg:  .ascii "rep-outsb-uart!\n"   # 16 bytes: one TX FIFO load
	.equ rep_len, . - rep_msg
m_rep_insb: .asciz "rep-insb-unclaimed-all-ones"
buffer:   .fill 64, 1, 0
