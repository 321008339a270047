# Prints a line, then spins forever with interrupts off: only the host can
# end this VM (signals, Ctrl-A x).
#include "pvh32.inc"

	.globl _start
_start:
	mov esp, 0x80000
	lea esi, [hello]
	call print
1:	jmp 1b

hello: .asciz "tiny-guest: spinning\n"
