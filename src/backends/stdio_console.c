/*
 * The host console backend: one I/O thread polls the input fd, an eventfd
 * (wake-ups from other threads) and, when output is stuck, the output fd.
 * See stdio_console.h for the contract and the lock order.
 *
 * This is vmon's only chardev, so it defines the chardev_* functions of
 * backends/chardev.h directly.
 */
#include "backends/stdio_console.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/thread.h"

#define OUTPUT_RING_SIZE (64 * 1024)
#define INPUT_CHUNK 4096
#define ESCAPE_CHAR 0x01 /* Ctrl-A, as in QEMU */

static const char help_text[] =
	"\r\n"
	"C-a h    print this help\r\n"
	"C-a x    exit vmon\r\n"
	"C-a C-a  send C-a to the guest\r\n";

enum output_mode {
	/* A non-blocking fd (or a regular file): write until EAGAIN, then poll. */
	OUTPUT_NONBLOCKING,
	/*
	 * A blocking fd we could not reopen (a socket, no /proc): wait for
	 * POLLOUT, then write at most PIPE_BUF bytes, which a pipe then takes
	 * without blocking.
	 */
	OUTPUT_POLLED,
};

struct chardev {
	struct stdio_console_ops ops;
	int wake_fd;     /* eventfd: output queued, input wanted, client changed, stop */
	pthread_t thread;
	int termios_fd;  /* our dup of the terminal we made raw, or -1 */

	/* Set up by create; afterwards used by the I/O thread only. */
	int in_fd;       /* -1: no input */
	bool in_fd_owned;
	int out_fd;
	bool out_fd_owned;
	enum output_mode out_mode;
	/*
	 * out_fd is a non-blocking pipe or terminal: a writer may write(2) it
	 * directly while nothing is queued, which never blocks and spares the
	 * I/O thread a wake-up per byte. Not for regular files (disk writes).
	 */
	bool direct_write;

	/* The I/O thread's own state (no lock). */
	uint8_t pending[INPUT_CHUNK]; /* input the client has not taken yet */
	size_t pending_start, pending_len;
	bool input_ended;  /* EOF, error, or no input at all */
	bool escape_seen;  /* the previous input byte was Ctrl-A */
	bool out_ready;    /* out_fd can take bytes without blocking */

	/* Protects every field below. Never held while calling the client. */
	pthread_mutex_t lock;
	pthread_cond_t changed; /* output written or dropped, callback finished */
	uint8_t ring[OUTPUT_RING_SIZE];
	size_t ring_head;       /* oldest byte */
	size_t ring_count;
	bool writer_waiting;    /* chardev_write came up short: owe on_output_space */
	bool notifying_space;   /* the I/O thread is about to call on_output_space */
	bool output_dead;       /* out_fd failed: output is dropped */
	struct chardev_client client;
	bool has_client;
	bool in_callback;       /* the I/O thread is inside a client callback */
	uint64_t ready_seq;     /* counts chardev_input_ready calls */
	bool input_blocked;     /* the client refused input ... */
	uint64_t blocked_seq;   /* ... and has not called chardev_input_ready since */
	bool stopping;
};

/*
 * The terminal in raw mode, for stdio_console_restore_terminal, which may
 * run in a signal handler: it only does an atomic exchange and tcsetattr.
 */
/* Protects saved_termios against concurrent claims and releases. */
static pthread_mutex_t terminal_lock = PTHREAD_MUTEX_INITIALIZER;
static struct termios saved_termios;
static atomic_int saved_termios_fd = -1; /* -1: nothing to restore */
static pthread_once_t restore_at_exit_once = PTHREAD_ONCE_INIT;

/* ---- terminal ---- */

void stdio_console_restore_terminal(void)
{
	int fd = atomic_exchange(&saved_termios_fd, -1);
	if (fd >= 0)
		tcsetattr(fd, TCSANOW, &saved_termios);
}

static void register_restore_at_exit(void)
{
	if (atexit(stdio_console_restore_terminal) != 0)
		log_warn("console: cannot register the terminal restore at exit");
}

/* Records `fd`'s settings for restoring; false if another console did already. */
static bool claim_terminal(int fd, const struct termios *original)
{
	bool claimed = false;
	pthread_mutex_lock(&terminal_lock);
	if (atomic_load(&saved_termios_fd) < 0) {
		saved_termios = *original;
		atomic_store(&saved_termios_fd, fd);
		claimed = true;
	}
	pthread_mutex_unlock(&terminal_lock);
	return claimed;
}

/* Restores our terminal unless stdio_console_restore_terminal already did. */
static void release_terminal(struct chardev *cd)
{
	if (cd->termios_fd < 0)
		return;
	pthread_mutex_lock(&terminal_lock);
	int expected = cd->termios_fd;
	if (atomic_compare_exchange_strong(&saved_termios_fd, &expected, -1))
		tcsetattr(cd->termios_fd, TCSANOW, &saved_termios);
	pthread_mutex_unlock(&terminal_lock);
	close(cd->termios_fd);
	cd->termios_fd = -1;
}

/* A background job reading its terminal would be stopped by SIGTTIN. */
static bool terminal_in_background(int fd)
{
	pid_t foreground = tcgetpgrp(fd);
	return foreground > 0 && foreground != getpgrp();
}

/*
 * Raw input: every key goes to the guest, Ctrl-C included. Output
 * post-processing stays on, as in QEMU: our own log lines on stderr and a
 * guest's bare \n still start at column 0.
 */
static void enter_raw_mode(struct chardev *cd, int fd)
{
	struct termios original;
	if (tcgetattr(fd, &original) != 0)
		return;
	int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (own < 0)
		return;
	if (!claim_terminal(own, &original)) {
		log_debug("console: the terminal is already in raw mode for another console");
		close(own);
		return;
	}
	cd->termios_fd = own;
	struct termios raw = original;
	cfmakeraw(&raw);
	raw.c_oflag |= OPOST;
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &raw) != 0) {
		log_warn("console: cannot put the terminal in raw mode: %s", strerror(errno));
		release_terminal(cd);
		return;
	}
	pthread_once(&restore_at_exit_once, register_restore_at_exit);
}

/* ---- file descriptors ---- */

static bool is_file_or_disk(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));
}

/* Whether `fd` can be used as it is: it never blocks us, or EAGAIN tells. */
static bool usable_as_is(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags >= 0 && (flags & O_NONBLOCK))
		return true;
	return is_file_or_disk(fd);
}

/*
 * A new, non-blocking open file description for what `fd` refers to.
 * O_NONBLOCK belongs to the description, which stdout shares with stderr,
 * the shell and other processes; setting it there would make their writes
 * fail with EAGAIN, and outlive a crash of ours. Works for ttys, pipes and
 * FIFOs; not for sockets. Regular files are never reopened: they would
 * lose the shared file offset.
 */
static int reopen_nonblocking(int fd, int access_mode)
{
	char path[32];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, access_mode | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
}

static void open_output(struct chardev *cd, int fd)
{
	cd->out_fd = fd;
	cd->out_mode = OUTPUT_NONBLOCKING;
	cd->out_ready = true;
	if (usable_as_is(fd)) {
		cd->direct_write = !is_file_or_disk(fd);
		return;
	}
	int own = reopen_nonblocking(fd, O_WRONLY);
	if (own >= 0) {
		cd->out_fd = own;
		cd->out_fd_owned = true;
		cd->direct_write = true;
		return;
	}
	log_debug("console: cannot reopen fd %d (%s); polling it", fd, strerror(errno));
	cd->out_mode = OUTPUT_POLLED;
	cd->out_ready = false;
}

static void open_input(struct chardev *cd, int fd)
{
	cd->in_fd = -1;
	cd->input_ended = true;
	if (fd < 0)
		return;
	if (isatty(fd)) {
		if (terminal_in_background(fd)) {
			log_info("console: vmon runs in the background; terminal input is off");
			return;
		}
		enter_raw_mode(cd, fd);
	}
	cd->input_ended = false;
	cd->in_fd = fd;
	if (usable_as_is(fd))
		return;
	int own = reopen_nonblocking(fd, O_RDONLY);
	if (own >= 0) {
		cd->in_fd = own;
		cd->in_fd_owned = true;
	}
	/* Else read the blocking fd, only after poll reports it readable. */
}

static void console_wake(struct chardev *cd)
{
	uint64_t one = 1;
	/* Only fails with EAGAIN when the counter is saturated: a wake-up is pending anyway. */
	if (write(cd->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("console: wake-up failed: %s", strerror(errno));
}

static void drain_wake_fd(struct chardev *cd)
{
	uint64_t count;
	if (read(cd->wake_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_debug("console: reading the wake-up counter failed: %s", strerror(errno));
}

/* ---- client callbacks ---- */

/*
 * Marks a callback in progress and copies the client, unless there is none
 * or (for input) it refused input and has not asked for more since.
 */
static bool begin_callback(struct chardev *cd, bool for_input,
			   struct chardev_client *client, uint64_t *seq)
{
	bool go = false;
	pthread_mutex_lock(&cd->lock);
	if (cd->has_client && !cd->stopping &&
	    !(for_input && cd->input_blocked && cd->blocked_seq == cd->ready_seq)) {
		*client = cd->client;
		*seq = cd->ready_seq;
		cd->in_callback = true;
		go = true;
	}
	pthread_mutex_unlock(&cd->lock);
	return go;
}

static void end_callback(struct chardev *cd)
{
	pthread_mutex_lock(&cd->lock);
	cd->in_callback = false;
	pthread_cond_broadcast(&cd->changed);
	pthread_mutex_unlock(&cd->lock);
}

/* Offers pending input to the client until it takes all or refuses. */
static void deliver_input(struct chardev *cd)
{
	struct chardev_client client;
	uint64_t seq;
	while (cd->pending_len && begin_callback(cd, true, &client, &seq)) {
		size_t taken = client.on_input(client.dev, cd->pending + cd->pending_start,
					       cd->pending_len);
		if (taken > cd->pending_len)
			taken = cd->pending_len;
		cd->pending_start += taken;
		cd->pending_len -= taken;
		pthread_mutex_lock(&cd->lock);
		cd->in_callback = false;
		cd->input_blocked = cd->pending_len != 0;
		cd->blocked_seq = seq; /* an input_ready during the call counts */
		pthread_cond_broadcast(&cd->changed);
		pthread_mutex_unlock(&cd->lock);
	}
}

static void notify_output_space(struct chardev *cd)
{
	struct chardev_client client;
	uint64_t seq;
	if (begin_callback(cd, false, &client, &seq)) {
		if (client.on_output_space)
			client.on_output_space(client.dev);
		end_callback(cd);
	}
	pthread_mutex_lock(&cd->lock);
	cd->notifying_space = false;
	pthread_cond_broadcast(&cd->changed);
	pthread_mutex_unlock(&cd->lock);
}

/* ---- output ---- */

/* Appends what fits; the caller holds the lock. */
static size_t ring_append(struct chardev *cd, const uint8_t *buf, size_t len)
{
	size_t room = OUTPUT_RING_SIZE - cd->ring_count;
	if (len > room)
		len = room;
	size_t tail = (cd->ring_head + cd->ring_count) % OUTPUT_RING_SIZE;
	size_t first = len < OUTPUT_RING_SIZE - tail ? len : OUTPUT_RING_SIZE - tail;
	memcpy(cd->ring + tail, buf, first);
	memcpy(cd->ring, buf + first, len - first);
	cd->ring_count += len;
	return len;
}

/* Output from the console itself (help text): what does not fit is cut. */
static void queue_own_output(struct chardev *cd, const char *text, size_t len)
{
	pthread_mutex_lock(&cd->lock);
	if (!cd->output_dead)
		ring_append(cd, (const uint8_t *)text, len);
	pthread_mutex_unlock(&cd->lock);
}

/*
 * After `written` bytes left the ring (or all were dropped): wakes flushers
 * and, if a writer came up short, tells the client there is room.
 */
static void output_consumed(struct chardev *cd, size_t written, bool drop_all)
{
	pthread_mutex_lock(&cd->lock);
	if (drop_all)
		written = cd->ring_count;
	cd->ring_head = (cd->ring_head + written) % OUTPUT_RING_SIZE;
	cd->ring_count -= written;
	bool notify = cd->writer_waiting;
	cd->writer_waiting = false;
	cd->notifying_space = notify;
	pthread_cond_broadcast(&cd->changed);
	pthread_mutex_unlock(&cd->lock);
	if (notify)
		notify_output_space(cd);
}

static void output_failed(struct chardev *cd, int err)
{
	log_warn("console: cannot write the guest's output (%s); dropping it", strerror(err));
	pthread_mutex_lock(&cd->lock);
	cd->output_dead = true;
	pthread_mutex_unlock(&cd->lock);
	output_consumed(cd, 0, true);
}

/* The oldest buffered bytes that are contiguous in the ring. */
static size_t ring_peek(struct chardev *cd, const uint8_t **bytes)
{
	pthread_mutex_lock(&cd->lock);
	size_t len = OUTPUT_RING_SIZE - cd->ring_head;
	if (len > cd->ring_count)
		len = cd->ring_count;
	*bytes = cd->ring + cd->ring_head;
	pthread_mutex_unlock(&cd->lock);
	return len; /* writers only fill free space: these bytes stay put */
}

static void write_output(struct chardev *cd)
{
	while (cd->out_ready) {
		const uint8_t *bytes;
		size_t len = ring_peek(cd, &bytes);
		if (len == 0)
			return;
		if (cd->out_mode == OUTPUT_POLLED && len > PIPE_BUF)
			len = PIPE_BUF;
		ssize_t n = write(cd->out_fd, bytes, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			cd->out_ready = false;
			return;
		}
		if (n <= 0) {
			output_failed(cd, n < 0 ? errno : EIO);
			return;
		}
		if (cd->out_mode == OUTPUT_POLLED)
			cd->out_ready = false;
		output_consumed(cd, (size_t)n, false);
	}
}

/* ---- input ---- */

/*
 * Escape sequences (QEMU's keys): Ctrl-A x quits, Ctrl-A h prints help,
 * Ctrl-A Ctrl-A is one Ctrl-A for the guest; other keys after Ctrl-A are
 * swallowed. Everything else becomes pending input.
 */
static void filter_input(struct chardev *cd, const uint8_t *raw, size_t len)
{
	bool quit = false, help = false;
	cd->pending_start = 0;
	cd->pending_len = 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = raw[i];
		if (cd->escape_seen) {
			cd->escape_seen = false;
			if (c == ESCAPE_CHAR)
				cd->pending[cd->pending_len++] = c;
			else if (c == 'x')
				quit = true;
			else if (c == 'h' || c == '?')
				help = true;
		} else if (c == ESCAPE_CHAR) {
			cd->escape_seen = true;
		} else {
			cd->pending[cd->pending_len++] = c;
		}
	}
	if (help)
		queue_own_output(cd, help_text, sizeof(help_text) - 1);
	if (quit && cd->ops.quit)
		cd->ops.quit(cd->ops.ctx);
}

/* Called with no pending input, when in_fd is readable. */
static void read_input(struct chardev *cd)
{
	uint8_t raw[INPUT_CHUNK];
	ssize_t n = read(cd->in_fd, raw, sizeof(raw));
	if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		/* EOF, or EIO from a hung-up terminal: input stops for good. */
		if (n < 0)
			log_debug("console: input failed: %s", strerror(errno));
		cd->input_ended = true;
		return;
	}
	filter_input(cd, raw, (size_t)n);
}

/* ---- the I/O thread ---- */

static bool console_stopping(struct chardev *cd)
{
	pthread_mutex_lock(&cd->lock);
	bool stopping = cd->stopping;
	pthread_mutex_unlock(&cd->lock);
	return stopping;
}

static bool output_stuck(struct chardev *cd)
{
	pthread_mutex_lock(&cd->lock);
	bool stuck = !cd->out_ready && cd->ring_count && !cd->output_dead;
	pthread_mutex_unlock(&cd->lock);
	return stuck;
}

/* Sleeps until a wake-up, input to read, or room on a stuck output. */
static void wait_for_work(struct chardev *cd)
{
	struct pollfd fds[3] = { { .fd = cd->wake_fd, .events = POLLIN } };
	nfds_t nfds = 1;
	int in_slot = -1, out_slot = -1;
	if (!cd->input_ended && cd->pending_len == 0) {
		in_slot = (int)nfds;
		fds[nfds++] = (struct pollfd){ .fd = cd->in_fd, .events = POLLIN };
	}
	if (output_stuck(cd)) {
		out_slot = (int)nfds;
		fds[nfds++] = (struct pollfd){ .fd = cd->out_fd, .events = POLLOUT };
	}
	if (poll(fds, nfds, -1) < 0) {
		if (errno != EINTR) {
			log_warn("console: poll failed: %s", strerror(errno));
			nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
		}
		return;
	}
	if (fds[0].revents)
		drain_wake_fd(cd);
	if (in_slot >= 0 && fds[in_slot].revents)
		read_input(cd);
	if (out_slot >= 0 && fds[out_slot].revents)
		cd->out_ready = true; /* POLLERR/POLLHUP too: the write will tell */
}

static void *console_thread(void *arg)
{
	struct chardev *cd = arg;
	while (!console_stopping(cd)) {
		deliver_input(cd);
		write_output(cd);
		wait_for_work(cd);
	}
	return NULL;
}

static int start_thread(struct chardev *cd)
{
	return -thread_start_io(&cd->thread, console_thread, cd);
}

/* ---- public ---- */

static void close_fds(struct chardev *cd)
{
	release_terminal(cd);
	if (cd->in_fd_owned)
		close(cd->in_fd);
	if (cd->out_fd_owned)
		close(cd->out_fd);
	if (cd->wake_fd >= 0)
		close(cd->wake_fd);
}

static int init_sync(struct chardev *cd)
{
	pthread_condattr_t attr;
	int ret = pthread_condattr_init(&attr);
	if (ret)
		return ret;
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* flush timeouts */
	ret = pthread_cond_init(&cd->changed, &attr);
	pthread_condattr_destroy(&attr);
	if (ret)
		return ret;
	pthread_mutex_init(&cd->lock, NULL);
	return 0;
}

struct chardev *stdio_console_create(int in_fd, int out_fd,
				     const struct stdio_console_ops *ops)
{
	if (fcntl(out_fd, F_GETFL) < 0 || (in_fd >= 0 && fcntl(in_fd, F_GETFL) < 0)) {
		errno = EBADF;
		return NULL;
	}
	struct chardev *cd = calloc(1, sizeof(*cd));
	if (!cd)
		return NULL;
	/* Writers write out_fd directly: a closed reader must mean EPIPE, not death. */
	signal(SIGPIPE, SIG_IGN);
	if (ops)
		cd->ops = *ops;
	cd->termios_fd = -1;
	cd->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int err = cd->wake_fd < 0 ? errno : init_sync(cd);
	if (err) {
		close_fds(cd);
		free(cd);
		errno = err;
		return NULL;
	}
	open_output(cd, out_fd);
	open_input(cd, in_fd);
	err = start_thread(cd);
	if (err) {
		close_fds(cd);
		pthread_cond_destroy(&cd->changed);
		pthread_mutex_destroy(&cd->lock);
		free(cd);
		errno = err;
		return NULL;
	}
	return cd;
}

void stdio_console_destroy(struct chardev *cd)
{
	if (!cd)
		return;
	pthread_mutex_lock(&cd->lock);
	cd->stopping = true;
	pthread_mutex_unlock(&cd->lock);
	console_wake(cd);
	pthread_join(cd->thread, NULL);
	close_fds(cd);
	pthread_cond_destroy(&cd->changed);
	pthread_mutex_destroy(&cd->lock);
	free(cd);
}

static struct timespec deadline_after_ms(int timeout_ms)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	if (timeout_ms < 0)
		timeout_ms = 0;
	t.tv_sec += timeout_ms / 1000;
	t.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (t.tv_nsec >= 1000000000) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000;
	}
	return t;
}

/* Caller holds the lock. */
static bool output_pending(const struct chardev *cd)
{
	return !cd->output_dead && !cd->stopping && (cd->ring_count || cd->notifying_space);
}

int stdio_console_flush(struct chardev *cd, int timeout_ms)
{
	struct timespec deadline = deadline_after_ms(timeout_ms);
	pthread_mutex_lock(&cd->lock);
	while (output_pending(cd) &&
	       pthread_cond_timedwait(&cd->changed, &cd->lock, &deadline) != ETIMEDOUT)
		;
	bool pending = output_pending(cd);
	pthread_mutex_unlock(&cd->lock);
	return pending ? -ETIMEDOUT : 0;
}

/*
 * With nothing queued, nothing can be written out of order: one write(2)
 * on the non-blocking fd. Errors and EAGAIN are left to the I/O thread,
 * which meets them again on the queued bytes. Caller holds cd->lock.
 */
static size_t write_directly(struct chardev *cd, const uint8_t *buf, size_t len)
{
	ssize_t n = write(cd->out_fd, buf, len);
	return n > 0 ? (size_t)n : 0;
}

size_t chardev_write(struct chardev *cd, const uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&cd->lock);
	if (cd->output_dead) {
		pthread_mutex_unlock(&cd->lock);
		return len; /* nowhere to write: drop, but never stall the guest */
	}
	size_t direct = 0;
	if (cd->direct_write && cd->ring_count == 0)
		direct = write_directly(cd, buf, len);
	bool was_empty = cd->ring_count == 0;
	size_t queued = ring_append(cd, buf + direct, len - direct);
	if (direct + queued < len)
		cd->writer_waiting = true;
	pthread_mutex_unlock(&cd->lock);
	if (was_empty && queued)
		console_wake(cd);
	return direct + queued;
}

void chardev_attach(struct chardev *cd, const struct chardev_client *client)
{
	pthread_mutex_lock(&cd->lock);
	/* The I/O thread itself may attach from a callback: it cannot wait for itself. */
	while (cd->in_callback && !pthread_equal(pthread_self(), cd->thread))
		pthread_cond_wait(&cd->changed, &cd->lock);
	cd->has_client = client != NULL;
	if (client)
		cd->client = *client;
	cd->input_blocked = false;
	pthread_mutex_unlock(&cd->lock);
	console_wake(cd);
}

void chardev_input_ready(struct chardev *cd)
{
	pthread_mutex_lock(&cd->lock);
	cd->ready_seq++;
	bool was_blocked = cd->input_blocked;
	pthread_mutex_unlock(&cd->lock);
	if (was_blocked)
		console_wake(cd);
}
