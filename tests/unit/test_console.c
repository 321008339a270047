/*
 * The stdio console on pipes (and a pty for raw mode): output, input,
 * escape keys, input the client refuses, output backpressure, flush, EOF
 * without spinning, and the terminal restored. Last, a 16550A on the
 * console with both directions busy at once (run it under TSan to check
 * the lock order).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "backends/stdio_console.h"
#include "bus/bus.h"
#include "devices/legacy/uart16550.h"
#include "tap.h"

#define WAIT_MS 5000

/* A client recording what the console hands it; callbacks run on the I/O thread. */
struct client {
	pthread_mutex_t lock; /* protects every field below */
	uint8_t got[4096];
	size_t got_len;
	size_t accept;        /* how many more bytes on_input takes */
	int input_calls;
	int output_space_calls;
	int quits;
};

static size_t client_on_input(void *dev, const uint8_t *buf, size_t len)
{
	struct client *c = dev;
	pthread_mutex_lock(&c->lock);
	c->input_calls++;
	size_t n = len < c->accept ? len : c->accept;
	if (n > sizeof(c->got) - c->got_len)
		n = sizeof(c->got) - c->got_len;
	memcpy(c->got + c->got_len, buf, n);
	c->got_len += n;
	c->accept -= n;
	pthread_mutex_unlock(&c->lock);
	return n;
}

static void client_on_output_space(void *dev)
{
	struct client *c = dev;
	pthread_mutex_lock(&c->lock);
	c->output_space_calls++;
	pthread_mutex_unlock(&c->lock);
}

static void client_quit(void *ctx)
{
	struct client *c = ctx;
	pthread_mutex_lock(&c->lock);
	c->quits++;
	pthread_mutex_unlock(&c->lock);
}

static void client_init(struct client *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->accept = SIZE_MAX;
}

/* Reads one of the client's counters under its lock. */
#define GET(c, field)                                                      \
	({                                                                     \
		pthread_mutex_lock(&(c)->lock);                                \
		int value_ = (int)(c)->field;                                  \
		pthread_mutex_unlock(&(c)->lock);                              \
		value_;                                                        \
	})

static void sleep_ms(long ms)
{
	nanosleep(&(struct timespec){ .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000 }, NULL);
}

/* Polls `cond` every millisecond for up to WAIT_MS. */
#define WAIT_FOR(cond)                                                     \
	({                                                                     \
		int waited_ = 0;                                               \
		while (!(cond) && waited_ < WAIT_MS) {                         \
			sleep_ms(1);                                           \
			waited_++;                                             \
		}                                                              \
		(cond);                                                        \
	})

struct rig {
	int in[2], out[2]; /* pipes: the console reads in[0], writes out[1] */
	struct client client;
	struct chardev *cd;
};

static void rig_init(struct rig *r)
{
	memset(r, 0, sizeof(*r));
	if (pipe(r->in) || pipe(r->out))
		abort();
	client_init(&r->client);
	struct stdio_console_ops ops = { .quit = client_quit, .ctx = &r->client };
	r->cd = stdio_console_create(r->in[0], r->out[1], &ops);
	struct chardev_client cl = {
		.on_input = client_on_input, .on_output_space = client_on_output_space, .dev = &r->client,
	};
	chardev_attach(r->cd, &cl);
}

static void rig_fini(struct rig *r)
{
	chardev_attach(r->cd, NULL);
	stdio_console_destroy(r->cd);
	for (int i = 0; i < 2; i++) {
		if (r->in[i] >= 0)
			close(r->in[i]);
		if (r->out[i] >= 0)
			close(r->out[i]);
	}
}

static void type(struct rig *r, const char *s, size_t len)
{
	if (write(r->in[1], s, len) != (ssize_t)len)
		abort();
}

/* Reads from the out pipe until `len` bytes came or WAIT_MS passed. */
static size_t read_output(struct rig *r, char *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		struct pollfd p = { .fd = r->out[0], .events = POLLIN };
		if (poll(&p, 1, WAIT_MS) <= 0)
			break;
		ssize_t n = read(r->out[0], buf + got, len - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

static bool client_got(struct client *c, const char *expect, size_t len)
{
	pthread_mutex_lock(&c->lock);
	bool same = c->got_len == len && memcmp(c->got, expect, len) == 0;
	pthread_mutex_unlock(&c->lock);
	return same;
}

static void test_output(void)
{
	struct rig r;
	rig_init(&r);
	CHECK(r.cd != NULL, "console created on pipes");
	CHECK(!(fcntl(r.out[1], F_GETFL) & O_NONBLOCK), "the caller's output fd stays blocking");
	CHECK(!(fcntl(r.in[0], F_GETFL) & O_NONBLOCK), "the caller's input fd stays blocking");
	const char msg[] = "hello, console\n";
	CHECK(chardev_write(r.cd, (const uint8_t *)msg, sizeof(msg) - 1) == sizeof(msg) - 1,
	      "chardev_write takes the bytes");
	char buf[64] = { 0 };
	CHECK(read_output(&r, buf, sizeof(msg) - 1) == sizeof(msg) - 1 && strcmp(buf, msg) == 0,
	      "they arrive on the output fd");
	CHECK(stdio_console_flush(r.cd, 1000) == 0, "flush with nothing pending returns 0");
	rig_fini(&r);
}

static void test_input_and_escapes(void)
{
	struct rig r;
	rig_init(&r);
	type(&r, "ls\r", 3);
	CHECK(WAIT_FOR(client_got(&r.client, "ls\r", 3)), "input reaches the client");

	type(&r, "a\x01\x01" "b", 4);
	CHECK(WAIT_FOR(client_got(&r.client, "ls\ra\x01" "b", 6)), "Ctrl-A Ctrl-A sends one Ctrl-A");

	type(&r, "\x01", 1);
	sleep_ms(20);
	type(&r, "x", 1);
	CHECK(WAIT_FOR(GET(&r.client, quits) == 1), "Ctrl-A x (split over two reads) quits");
	CHECK(client_got(&r.client, "ls\ra\x01" "b", 6), "and is not passed on");

	type(&r, "\x01q", 2);
	type(&r, "\x01h", 2);
	char buf[256] = { 0 };
	size_t n = read_output(&r, buf, 20);
	CHECK(n == 20 && strstr(buf, "C-a h") != NULL, "Ctrl-A h prints help on the output");
	type(&r, "z", 1);
	CHECK(WAIT_FOR(client_got(&r.client, "ls\ra\x01" "bz", 7)), "Ctrl-A q was swallowed");
	CHECK(GET(&r.client, quits) == 1, "only one quit");
	rig_fini(&r);
}

static void test_refused_input(void)
{
	struct rig r;
	rig_init(&r);
	pthread_mutex_lock(&r.client.lock);
	r.client.accept = 2;
	pthread_mutex_unlock(&r.client.lock);
	type(&r, "abcdef", 6);
	CHECK(WAIT_FOR(client_got(&r.client, "ab", 2)), "the client takes what it can");
	sleep_ms(50);
	int calls = GET(&r.client, input_calls);
	CHECK(calls <= 2, "a refusing client is not asked again and again (%d calls)", calls);

	type(&r, "gh", 2);
	sleep_ms(50);
	CHECK(client_got(&r.client, "ab", 2), "nothing more before chardev_input_ready");
	pthread_mutex_lock(&r.client.lock);
	r.client.accept = SIZE_MAX;
	pthread_mutex_unlock(&r.client.lock);
	chardev_input_ready(r.cd);
	CHECK(WAIT_FOR(client_got(&r.client, "abcdefgh", 8)), "after chardev_input_ready the rest arrives, in order");

	chardev_attach(r.cd, NULL);
	int before = GET(&r.client, input_calls);
	type(&r, "ij", 2);
	sleep_ms(50);
	CHECK(GET(&r.client, input_calls) == before, "a detached client gets nothing");
	struct chardev_client cl = {
		.on_input = client_on_input, .on_output_space = client_on_output_space, .dev = &r.client,
	};
	chardev_attach(r.cd, &cl);
	CHECK(WAIT_FOR(client_got(&r.client, "abcdefghij", 10)), "re-attached: the held input comes");
	rig_fini(&r);
}

static double cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_eof_does_not_spin(void)
{
	struct rig r;
	rig_init(&r);
	type(&r, "bye", 3);
	close(r.in[1]);
	r.in[1] = -1;
	CHECK(WAIT_FOR(client_got(&r.client, "bye", 3)), "input before EOF arrives");
	double start = cpu_seconds();
	sleep_ms(300);
	double used = cpu_seconds() - start;
	CHECK(used < 0.05, "after EOF the I/O thread sleeps (%.3f s CPU in 0.3 s)", used);

	const char msg[] = "still here";
	chardev_write(r.cd, (const uint8_t *)msg, sizeof(msg) - 1);
	char buf[16] = { 0 };
	CHECK(read_output(&r, buf, sizeof(msg) - 1) == sizeof(msg) - 1, "output still works after input EOF");
	rig_fini(&r);
}

static void test_refusing_client_does_not_spin(void)
{
	struct rig r;
	rig_init(&r);
	pthread_mutex_lock(&r.client.lock);
	r.client.accept = 0;
	pthread_mutex_unlock(&r.client.lock);
	type(&r, "xyz", 3);
	CHECK(WAIT_FOR(GET(&r.client, input_calls) >= 1), "the client was offered input");
	double start = cpu_seconds();
	sleep_ms(300);
	double used = cpu_seconds() - start;
	CHECK(used < 0.05, "with input refused the I/O thread sleeps (%.3f s CPU)", used);
	rig_fini(&r);
}

static void test_output_backpressure_and_flush(void)
{
	struct rig r;
	rig_init(&r);
	static uint8_t chunk[4096];
	memset(chunk, 'o', sizeof(chunk));
	size_t total = 0;
	/* Nobody reads the pipe: pipe (64 KiB) and ring (64 KiB) fill up. */
	for (int i = 0; i < 1000; i++) {
		size_t n = chardev_write(r.cd, chunk, sizeof(chunk));
		total += n;
		if (n < sizeof(chunk))
			break;
		sleep_ms(1);
	}
	CHECK(total >= 64 * 1024 && total < 1000 * sizeof(chunk), "chardev_write comes up short when full (%zu)", total);
	/* The I/O thread may still be moving bytes into the pipe: keep pushing. */
	for (int i = 0; i < 100 && chardev_write(r.cd, chunk, 1) == 1; i++)
		sleep_ms(1);
	CHECK(chardev_write(r.cd, chunk, 1) == 0, "a full console takes nothing");
	CHECK(stdio_console_flush(r.cd, 100) == -ETIMEDOUT, "flush times out while nobody reads");
	CHECK(GET(&r.client, output_space_calls) == 0, "no output space yet");

	static char sink[64 * 1024];
	ssize_t n = read(r.out[0], sink, sizeof(sink));
	CHECK(n > 0, "the reader drains some");
	CHECK(WAIT_FOR(GET(&r.client, output_space_calls) >= 1), "the client hears about the space");

	/* A reader thread drains everything; flush then succeeds. */
	int flags = fcntl(r.out[0], F_GETFL);
	fcntl(r.out[0], F_SETFL, flags | O_NONBLOCK);
	int flushed = -1;
	for (int i = 0; i < WAIT_MS && flushed != 0; i++) {
		while (read(r.out[0], sink, sizeof(sink)) > 0)
			;
		flushed = stdio_console_flush(r.cd, 1);
	}
	CHECK(flushed == 0, "flush returns 0 once everything is written");
	rig_fini(&r);
}

static void test_closed_output(void)
{
	struct rig r;
	rig_init(&r);
	close(r.out[0]); /* the reader goes away */
	r.out[0] = -1;
	const char msg[] = "into the void";
	chardev_write(r.cd, (const uint8_t *)msg, sizeof(msg) - 1);
	CHECK(stdio_console_flush(r.cd, WAIT_MS) == 0, "a broken pipe counts as flushed (no death by SIGPIPE)");
	CHECK(chardev_write(r.cd, (const uint8_t *)msg, sizeof(msg) - 1) == sizeof(msg) - 1,
	      "later output is dropped, never stalling the guest");
	rig_fini(&r);
}

static void test_terminal_raw_mode(void)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) || unlockpt(master)) {
		CHECK(1, "# SKIP no pty available");
		return;
	}
	int tty = open(ptsname(master), O_RDWR | O_NOCTTY);
	struct termios before, during, after;
	tcgetattr(tty, &before);
	int out[2];
	if (pipe(out))
		abort();
	struct chardev *cd = stdio_console_create(tty, out[1], NULL);
	tcgetattr(tty, &during);
	CHECK(!(during.c_lflag & (ICANON | ECHO | ISIG)), "raw mode: no line editing, echo or signals");
	CHECK(!(during.c_iflag & (ICRNL | IXON)), "raw mode: no CR translation or XON/XOFF");
	CHECK(during.c_oflag & OPOST, "output processing kept (as QEMU)");

	/* Keys typed on the terminal reach the client. */
	struct client c;
	client_init(&c);
	struct chardev_client cl = { .on_input = client_on_input, .on_output_space = client_on_output_space, .dev = &c };
	chardev_attach(cd, &cl);
	if (write(master, "\x03", 1) != 1)
		abort();
	CHECK(WAIT_FOR(client_got(&c, "\x03", 1)), "Ctrl-C goes to the guest");
	chardev_attach(cd, NULL);

	stdio_console_destroy(cd);
	tcgetattr(tty, &after);
	CHECK(after.c_lflag == before.c_lflag && after.c_iflag == before.c_iflag &&
	      after.c_oflag == before.c_oflag, "destroy restores the terminal");

	cd = stdio_console_create(tty, out[1], NULL);
	stdio_console_restore_terminal();
	tcgetattr(tty, &after);
	CHECK(after.c_lflag == before.c_lflag, "stdio_console_restore_terminal restores it");
	stdio_console_restore_terminal();
	stdio_console_destroy(cd);
	tcgetattr(tty, &after);
	CHECK(after.c_lflag == before.c_lflag, "restoring twice, then destroy, is harmless");

	close(out[0]);
	close(out[1]);
	close(tty);
	close(master);
}

static void test_no_input_fd(void)
{
	int out[2];
	if (pipe(out))
		abort();
	struct chardev *cd = stdio_console_create(-1, out[1], NULL);
	CHECK(cd != NULL, "no input fd is fine");
	double start = cpu_seconds();
	sleep_ms(100);
	CHECK(cpu_seconds() - start < 0.05, "and idle");
	stdio_console_destroy(cd);
	CHECK(stdio_console_create(-1, 12345, NULL) == NULL && errno == EBADF, "a bad output fd is refused");
	close(out[0]);
	close(out[1]);
}

/* ---- a UART on the console ---- */

struct irq_recorder {
	pthread_mutex_t lock; /* protects level: vCPU and I/O threads both set it */
	int level;
};

static void record_irq(void *ctx, uint32_t gsi, int level)
{
	struct irq_recorder *rec = ctx;
	(void)gsi;
	pthread_mutex_lock(&rec->lock);
	rec->level = level;
	pthread_mutex_unlock(&rec->lock);
}

static void ignore_stop(void *ctx, enum vm_stop_reason why)
{
	(void)ctx, (void)why;
}

#define UART_OUT_BYTES (300 * 1024) /* several times the ring and the pipe */
#define UART_IN_BYTES (20 * 1024)

struct pipe_job {
	int fd;
	size_t bytes;
	bool ok; /* the pattern i % 251 arrived intact */
};

/* Drains the console's output pipe slowly, checking the pattern. */
static void *drain_output(void *arg)
{
	struct pipe_job *job = arg;
	static uint8_t buf[4096];
	size_t seen = 0;
	job->ok = true;
	while (seen < job->bytes) {
		struct pollfd p = { .fd = job->fd, .events = POLLIN };
		if (poll(&p, 1, WAIT_MS) <= 0)
			break;
		ssize_t n = read(job->fd, buf, seen % 3 ? sizeof(buf) : 100);
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			job->ok &= buf[i] == (seen + (size_t)i) % 251;
		seen += (size_t)n;
	}
	job->ok &= seen == job->bytes;
	return NULL;
}

/* The input pattern: never Ctrl-A, which the console would take as an escape. */
static uint8_t input_byte(size_t i)
{
	return (uint8_t)(0x80 | i % 127);
}

/* Types the input pattern in bursts. */
static void *type_input(void *arg)
{
	struct pipe_job *job = arg;
	uint8_t buf[1000];
	for (size_t sent = 0; sent < job->bytes;) {
		size_t n = job->bytes - sent < sizeof(buf) ? job->bytes - sent : sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = input_byte(sent + i);
		if (write(job->fd, buf, n) != (ssize_t)n)
			return NULL;
		sent += n;
	}
	job->ok = true;
	return NULL;
}

static void test_uart_on_console(void)
{
	int in[2], out[2];
	if (pipe(in) || pipe(out))
		abort();
	struct irq_recorder rec = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct vm_control vc = { .set_irq = record_irq, .request_stop = ignore_stop, .ctx = &rec };
	struct chardev *cd = stdio_console_create(in[0], out[1], NULL);
	struct uart16550_config cfg = { .vm = &vc, .gsi = 4, .port_base = 0x3f8, .chardev = cd };
	struct uart16550 *uart = uart16550_create(&cfg);
	struct bus *pio = bus_create("pio");
	uart16550_register(uart, pio);
	uint8_t fcr = 0x07, lsr;
	bus_write(pio, 0x3fa, &fcr, 1);

	struct pipe_job drain = { .fd = out[0], .bytes = UART_OUT_BYTES };
	struct pipe_job typist = { .fd = in[1], .bytes = UART_IN_BYTES };
	pthread_t drainer, typer;
	pthread_create(&drainer, NULL, drain_output, &drain);
	pthread_create(&typer, NULL, type_input, &typist);

	/* The "guest": polled I/O, like an early console and a polling reader. */
	size_t sent = 0, received = 0;
	bool rx_ok = true;
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += 20;
	while (sent < UART_OUT_BYTES || received < UART_IN_BYTES) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > deadline.tv_sec)
			break;
		bus_read(pio, 0x3fd, &lsr, 1);
		if ((lsr & 0x20) && sent < UART_OUT_BYTES) {
			for (int i = 0; i < 16 && sent < UART_OUT_BYTES; i++, sent++) {
				uint8_t byte = (uint8_t)(sent % 251);
				bus_write(pio, 0x3f8, &byte, 1);
			}
		}
		while (lsr & 0x01) {
			uint8_t byte;
			bus_read(pio, 0x3f8, &byte, 1);
			rx_ok &= byte == input_byte(received);
			received++;
			bus_read(pio, 0x3fd, &lsr, 1);
		}
		if (!(lsr & 0x20))
			sched_yield();
	}
	CHECK(sent == UART_OUT_BYTES && stdio_console_flush(cd, WAIT_MS) == 0,
	      "the guest sent %zu bytes through a slow reader", sent);
	pthread_join(drainer, NULL);
	CHECK(drain.ok, "every output byte arrived, in order");
	pthread_join(typer, NULL);
	CHECK(typist.ok && received == UART_IN_BYTES && rx_ok,
	      "every input byte reached the guest, in order (%zu)", received);

	uart16550_destroy(uart);
	stdio_console_destroy(cd);
	bus_destroy(pio);
	close(in[0]), close(in[1]), close(out[0]), close(out[1]);
}

int main(void)
{
	test_output();
	test_input_and_escapes();
	test_refused_input();
	test_eof_does_not_spin();
	test_refusing_client_does_not_spin();
	test_output_backpressure_and_flush();
	test_closed_output();
	test_terminal_raw_mode();
	test_no_input_fd();
	test_uart_on_console();
	return tap_finish();
}
