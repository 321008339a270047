/*
 * The host console: a chardev (backends/chardev.h) on a pair of file
 * descriptors, normally stdin and stdout.
 *
 * An I/O thread writes buffered output (64 KiB) to out_fd and reads in_fd,
 * handing input to the attached client. When in_fd is a terminal it is put
 * in raw mode, output post-processing (\n -> \r\n) kept, as QEMU does; the
 * terminal is restored by stdio_console_destroy, at exit(), and by
 * stdio_console_restore_terminal.
 *
 * Keys: Ctrl-A x quits (ops->quit), Ctrl-A Ctrl-A sends one Ctrl-A to the
 * guest, Ctrl-A h prints help; Ctrl-A followed by anything else is
 * swallowed.
 *
 * The file descriptions behind in_fd and out_fd are never switched to
 * O_NONBLOCK: they are shared with stderr, the shell and other processes.
 * The console reopens ttys, pipes and FIFOs through /proc/self/fd to get
 * non-blocking descriptions of its own.
 *
 * Lock order: a client's lock (e.g. the UART's), then the console's lock.
 * The client's callbacks (on_input, on_output_space) run on the I/O thread
 * with no console lock held, so a client may take its own lock in them and
 * call chardev_write/chardev_input_ready from under it.
 *
 * chardev_attach(cd, NULL) detaches the client; it waits until a callback
 * in progress has returned, so the client may be freed afterwards. Do not
 * call it with a lock the client's callbacks take.
 */
#ifndef VMON_BACKENDS_STDIO_CONSOLE_H
#define VMON_BACKENDS_STDIO_CONSOLE_H

#include "backends/chardev.h"

struct stdio_console_ops {
	/*
	 * The user typed Ctrl-A x. Runs on the I/O thread; must not call
	 * stdio_console_destroy. May be NULL.
	 */
	void (*quit)(void *ctx);
	void *ctx;
};

/*
 * Starts the console. in_fd < 0: no input. The caller keeps ownership of
 * both descriptors and must keep them open until stdio_console_destroy.
 * `ops` may be NULL; it is copied. Returns NULL with errno set.
 * Sets SIGPIPE to be ignored in the process: callers of chardev_write may
 * write out_fd themselves, and a closed reader must not kill them.
 */
struct chardev *stdio_console_create(int in_fd, int out_fd,
				     const struct stdio_console_ops *ops);

/*
 * Waits until the buffered output is written (including bytes a client
 * held back because the buffer was full), at most timeout_ms. Returns 0,
 * or -ETIMEDOUT. Output that cannot be written (out_fd closed) counts as
 * written.
 */
int stdio_console_flush(struct chardev *cd, int timeout_ms);

/*
 * Stops the I/O thread and restores the terminal. Output not yet written
 * is dropped: call stdio_console_flush first. Detach the client first.
 */
void stdio_console_destroy(struct chardev *cd);

/*
 * Puts the terminal back as it was before raw mode. Idempotent and
 * async-signal-safe: for fatal signal handlers and other abnormal exits.
 */
void stdio_console_restore_terminal(void);

#endif
