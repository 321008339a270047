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

4:	lea esi, [survived]
	call print
	jmp poweroff

hello:    .asciz "tiny-guest: hostile I/O sweep\n"
survived: .asciz "hostile-sweep-done\n"
