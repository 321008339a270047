/*
 * 16550A UART: the registers Linux's 8250 driver probes, FIFOs and
 * interrupt priorities, THRE interrupt sequences, overrun, backpressure
 * from the backend, and interrupt level changes.
 *
 * The backend is a fake chardev defined here: the chardev_* functions
 * below satisfy the UART's references, so the real console (which also
 * defines them) is never pulled from the static library.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "backends/chardev.h"
#include "bus/bus.h"
#include "devices/legacy/uart16550.h"
#include "fake_vm.h"
#include "migration/state.h"
#include "state_blob.h"
#include "tap.h"

/* ---- fakes ---- */

struct chardev {
	size_t accept; /* how many more bytes chardev_write takes */
	uint8_t out[256];
	size_t out_len;
	struct chardev_client client;
	bool attached;
	int input_ready_calls;
};

size_t chardev_write(struct chardev *cd, const uint8_t *buf, size_t len)
{
	size_t n = len < cd->accept ? len : cd->accept;
	if (n > sizeof(cd->out) - cd->out_len)
		n = sizeof(cd->out) - cd->out_len;
	memcpy(cd->out + cd->out_len, buf, n);
	cd->out_len += n;
	cd->accept -= n;
	return n;
}

void chardev_attach(struct chardev *cd, const struct chardev_client *client)
{
	cd->attached = client != NULL;
	if (client)
		cd->client = *client;
}

void chardev_input_ready(struct chardev *cd)
{
	cd->input_ready_calls++;
}

/* ---- harness ---- */

enum { THR = 0, RBR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

struct rig {
	struct fake_vm vm;
	struct vm_control control;
	struct chardev cd;
	struct bus *pio;
	struct uart16550 *uart;
};

static void rig_init(struct rig *r, bool with_chardev)
{
	memset(r, 0, sizeof(*r));
	r->control = fake_vm_control(&r->vm);
	r->cd.accept = SIZE_MAX;
	r->pio = bus_create("pio");
	struct uart16550_config cfg = {
		.vm = &r->control, .gsi = IRQ_COM1, .port_base = PORT_COM1,
		.chardev = with_chardev ? &r->cd : NULL,
	};
	r->uart = uart16550_create(&cfg);
	uart16550_register(r->uart, r->pio);
}

static void rig_fini(struct rig *r)
{
	uart16550_destroy(r->uart);
	bus_destroy(r->pio);
}

static void out8(struct rig *r, unsigned reg, uint8_t val)
{
	bus_write(r->pio, PORT_COM1 + reg, &val, 1);
}

static uint8_t in8(struct rig *r, unsigned reg)
{
	uint8_t val = 0;
	bus_read(r->pio, PORT_COM1 + reg, &val, 1);
	return val;
}

static size_t host_input(struct rig *r, const char *s, size_t len)
{
	return r->cd.client.on_input(r->cd.client.dev, (const uint8_t *)s, len);
}

/* ---- tests ---- */

static void test_reset_state_and_scratch(void)
{
	struct rig r;
	rig_init(&r, true);
	CHECK(r.cd.attached, "the UART attaches to its chardev");
	CHECK(in8(&r, LSR) == 0x60, "after reset LSR = THRE|TEMT");
	CHECK(in8(&r, IIR) == 0x01, "after reset IIR = no interrupt, FIFOs off");
	CHECK(in8(&r, MSR) == 0xb0, "without a modem CTS, DSR and DCD are asserted");

	out8(&r, SCR, 0xa5);
	CHECK(in8(&r, SCR) == 0xa5, "scratch register keeps its value");
	/* Linux autoconfig: IER must read back 0 and 0x0f. */
	out8(&r, IER, 0);
	CHECK(in8(&r, IER) == 0, "IER reads back 0");
	out8(&r, IER, 0xff);
	CHECK(in8(&r, IER) == 0x0f, "IER keeps only bits 3:0");
	out8(&r, IER, 0);
	rig_fini(&r);
	CHECK(!r.cd.attached, "destroy detaches from the chardev");
}

static void test_divisor_latch(void)
{
	struct rig r;
	rig_init(&r, true);
	out8(&r, IER, 0x05);
	out8(&r, LCR, 0x83); /* DLAB, 8N1 */
	out8(&r, DLL, 0x0c);
	out8(&r, DLM, 0x01);
	CHECK(in8(&r, DLL) == 0x0c && in8(&r, DLM) == 0x01, "divisor latch reads back under DLAB");
	CHECK(r.cd.out_len == 0, "a DLL write is not transmitted");
	out8(&r, LCR, 0x03);
	CHECK(in8(&r, LCR) == 0x03, "LCR reads back");
	CHECK(in8(&r, IER) == 0x05, "without DLAB offset 1 is IER again");
	out8(&r, THR, 'A');
	CHECK(r.cd.out_len == 1 && r.cd.out[0] == 'A', "without DLAB offset 0 transmits");
	out8(&r, LCR, 0x83);
	CHECK(in8(&r, DLL) == 0x0c, "the divisor survived");
	rig_fini(&r);
}

static void test_loopback_and_msr(void)
{
	struct rig r;
	rig_init(&r, true);
	/* Linux autoconfig: MCR = LOOP | OUT2 | RTS must show CTS | DCD. */
	out8(&r, MCR, 0x10 | 0x0a);
	CHECK((in8(&r, MSR) & 0xf0) == 0x90, "loopback: RTS->CTS, OUT2->DCD (MSR 0x90)");
	out8(&r, MCR, 0x10 | 0x05);
	uint8_t msr = in8(&r, MSR);
	CHECK((msr & 0xf0) == 0x60, "loopback: DTR->DSR, OUT1->RI");
	CHECK((msr & 0x0f) == (0x01 | 0x02 | 0x08), "delta bits for CTS, DSR, DCD changes");
	CHECK((in8(&r, MSR) & 0x0f) == 0, "reading MSR clears the deltas");
	out8(&r, MCR, 0x10);
	CHECK((in8(&r, MSR) & 0x0f) == (0x02 | 0x04), "DDSR and TERI (RI trailing edge)");

	out8(&r, THR, 'L');
	CHECK(r.cd.out_len == 0, "loopback output does not reach the backend");
	CHECK(in8(&r, LSR) & 0x01, "the byte arrives at the receiver");
	CHECK(in8(&r, RBR) == 'L', "and reads back from RBR");
	CHECK(host_input(&r, "h", 1) == 0, "host input is disconnected in loopback");

	out8(&r, MCR, 0x0b);
	CHECK(r.cd.input_ready_calls == 1, "leaving loopback asks the backend to resend");
	CHECK(in8(&r, MSR) == (0xb0 | 0x0b), "modem lines back to 'ready' with deltas");
	out8(&r, THR, 'T');
	CHECK(r.cd.out_len == 1 && r.cd.out[0] == 'T', "output reaches the backend again");
	rig_fini(&r);
}

static void test_fifo_detection(void)
{
	struct rig r;
	rig_init(&r, true);
	/* Linux autoconfig: LCR 0xBF, EFR (offset 2) = 0, LCR 0, FCR = FIFO enable. */
	out8(&r, LCR, 0xbf);
	out8(&r, 2, 0);
	out8(&r, LCR, 0);
	out8(&r, FCR, 0x01);
	CHECK(in8(&r, IIR) >> 6 == 3, "FIFOs enabled: IIR bits 7:6 = 11 (16550A)");
	/* autoconfig_16550a: with DLAB or LCR 0xBF, offset 2 must not read 0 (no EFR). */
	out8(&r, LCR, 0x80);
	CHECK(in8(&r, 2) != 0, "no EFR under DLAB");
	out8(&r, LCR, 0xbf);
	CHECK(in8(&r, 2) != 0, "no EFR under LCR 0xBF");
	out8(&r, LCR, 0);
	out8(&r, FCR, 0);
	CHECK((in8(&r, IIR) & 0xc0) == 0, "FIFOs disabled: IIR bits 7:6 = 00");

	/* size_fifo(): loopback, write 256 bytes, count what can be read: 16. */
	out8(&r, FCR, 0x07);
	out8(&r, MCR, 0x10);
	for (int i = 0; i < 256; i++)
		out8(&r, THR, (uint8_t)i);
	int count = 0;
	while ((in8(&r, LSR) & 0x01) && count < 256) {
		in8(&r, RBR);
		count++;
	}
	CHECK(count == 16, "the receive FIFO holds 16 bytes (not a 64-byte U6 16550A)");
	rig_fini(&r);
}

static void test_rx_fifo_and_priorities(void)
{
	struct rig r;
	rig_init(&r, true);
	out8(&r, FCR, 0x01 | 0x80); /* trigger level 8 */
	out8(&r, IER, 0x01);
	CHECK(r.vm.level == 0, "no data, no interrupt");
	CHECK(host_input(&r, "abc", 3) == 3, "three bytes received");
	CHECK(in8(&r, IIR) == 0xcc, "below the trigger level: character timeout");
	CHECK(r.vm.level == 1 && r.vm.last_gsi == IRQ_COM1, "the interrupt line is up on IRQ 4");
	CHECK(host_input(&r, "defgh", 5) == 5, "five more");
	CHECK(in8(&r, IIR) == 0xc4, "at the trigger level: received data available");
	CHECK(in8(&r, RBR) == 'a', "FIFO order");
	CHECK(in8(&r, IIR) == 0xcc, "below the trigger again: timeout");

	out8(&r, IER, 0x03);
	CHECK(in8(&r, IIR) == 0xcc, "receive interrupt outranks THRE");

	/* Overrun through loopback, with line status interrupts on. */
	out8(&r, IER, 0x07);
	out8(&r, MCR, 0x10);
	for (int i = 0; i < 10; i++)
		out8(&r, THR, 'z');
	CHECK(in8(&r, IIR) == 0xc6, "overrun: line status outranks everything");
	uint8_t lsr = in8(&r, LSR);
	CHECK((lsr & 0x03) == 0x03, "LSR shows OE and DR");
	CHECK((in8(&r, LSR) & 0x02) == 0, "reading LSR clears OE");
	CHECK(in8(&r, IIR) == 0xc4, "back to received data (16 bytes >= 8)");

	for (int i = 0; i < 16; i++)
		in8(&r, RBR);
	CHECK(!(in8(&r, LSR) & 0x01), "drained");
	CHECK(in8(&r, IIR) == 0xc2, "with the receiver empty, THRE shows");
	CHECK(in8(&r, IIR) == 0xc1, "reading IIR cleared THRE");
	CHECK(r.vm.level == 0, "the line is down");

	/* Modem status has the lowest priority. */
	out8(&r, IER, 0x08);
	out8(&r, MCR, 0x12);
	CHECK(in8(&r, IIR) == 0xc0, "modem status interrupt");
	in8(&r, MSR);
	CHECK(in8(&r, IIR) == 0xc1, "reading MSR clears it");
	rig_fini(&r);
}

static void test_trigger_levels(void)
{
	static const struct { uint8_t fcr; unsigned level; } cases[] = {
		{ 0x01, 1 }, { 0x41, 4 }, { 0x81, 8 }, { 0xc1, 14 },
	};
	for (unsigned c = 0; c < 4; c++) {
		struct rig r;
		rig_init(&r, true);
		out8(&r, FCR, cases[c].fcr);
		out8(&r, IER, 0x01);
		for (unsigned i = 1; i < cases[c].level; i++)
			host_input(&r, "x", 1);
		uint8_t below = cases[c].level > 1 ? in8(&r, IIR) : 0xcc;
		host_input(&r, "x", 1);
		uint8_t at = in8(&r, IIR);
		CHECK(below == 0xcc && at == 0xc4, "trigger level %u", cases[c].level);
		rig_fini(&r);
	}
}

static void test_rx_backpressure(void)
{
	struct rig r;
	rig_init(&r, true);
	out8(&r, FCR, 0x01);
	const char *twenty = "0123456789abcdefghij";
	CHECK(host_input(&r, twenty, 20) == 16, "the FIFO takes 16 of 20 bytes");
	CHECK(host_input(&r, "k", 1) == 0, "a full FIFO takes nothing");
	char got[16];
	for (int i = 0; i < 15; i++)
		got[i] = (char)in8(&r, RBR);
	CHECK(r.cd.input_ready_calls == 0, "no resend request before the FIFO drains");
	got[15] = (char)in8(&r, RBR);
	CHECK(memcmp(got, twenty, 16) == 0, "bytes come out in order");
	CHECK(r.cd.input_ready_calls == 1, "drained: the backend is asked to resend");
	in8(&r, RBR);
	CHECK(r.cd.input_ready_calls == 1, "asked once per stall");
	CHECK(in8(&r, RBR) == 'f', "an empty RBR repeats the last byte");

	out8(&r, FCR, 0);
	CHECK(host_input(&r, "xyz", 3) == 1, "without FIFOs RBR holds one byte");
	CHECK(in8(&r, RBR) == 'x', "and it reads back");
	CHECK(r.cd.input_ready_calls == 2, "and the backend may resend");
	rig_fini(&r);
}

static void test_overrun_without_fifo(void)
{
	struct rig r;
	rig_init(&r, true);
	out8(&r, MCR, 0x10);
	out8(&r, THR, '1');
	out8(&r, THR, '2');
	CHECK((in8(&r, LSR) & 0x03) == 0x03, "16450 mode overrun sets OE");
	CHECK(in8(&r, RBR) == '2', "the new byte overwrote RBR");
	rig_fini(&r);
}

/* The sequences of serial8250_do_startup and the interrupt handler. */
static void test_thri_sequences(void)
{
	struct rig r;
	rig_init(&r, true);
	out8(&r, FCR, 0x07);
	out8(&r, IER, 0x02);
	CHECK(r.vm.level == 1, "enabling ETBEI with THR empty raises the line");
	uint8_t iir1 = in8(&r, IIR);
	CHECK(iir1 == 0xc2, "IIR reports THRE");
	CHECK(in8(&r, IIR) == 0xc1 && r.vm.level == 0, "reading IIR cleared it");
	out8(&r, IER, 0);
	out8(&r, IER, 0x02);
	CHECK(in8(&r, IIR) == 0xc2, "re-enabling ETBEI raises THRE again (no UART_BUG_THRE)");
	out8(&r, IER, 0x02);
	CHECK(in8(&r, IIR) == 0xc1, "rewriting an unchanged IER does not");

	/* The handler: IIR says THRE, write a burst, THRE comes back. */
	out8(&r, IER, 0);
	out8(&r, IER, 0x02);
	CHECK(in8(&r, IIR) == 0xc2, "THRE pending");
	int calls = r.vm.set_irq_calls;
	for (int i = 0; i < 16; i++)
		out8(&r, THR, (uint8_t)('a' + i));
	CHECK(r.cd.out_len == 16, "the burst was transmitted");
	CHECK(r.vm.level == 1 && r.vm.set_irq_calls == calls + 1, "THRE back after the burst: one rising edge");
	out8(&r, IER, 0); /* __stop_tx */
	CHECK(r.vm.level == 0, "disabling ETBEI drops the line");
	CHECK((in8(&r, LSR) & 0x60) == 0x60, "THRE and TEMT set");

	/* Backpressure turns a write into a pending transmission. */
	r.cd.accept = 0;
	out8(&r, IER, 0x02);
	in8(&r, IIR);
	out8(&r, THR, 'q');
	CHECK((in8(&r, LSR) & 0x60) == 0, "backend full: THRE and TEMT clear");
	CHECK(in8(&r, IIR) == 0xc1 && r.vm.level == 0, "no THRE interrupt while busy");
	r.cd.accept = SIZE_MAX;
	r.cd.client.on_output_space(r.cd.client.dev);
	CHECK(r.cd.out_len == 17 && r.cd.out[16] == 'q', "on_output_space sends the held byte");
	CHECK((in8(&r, LSR) & 0x60) == 0x60, "THRE and TEMT set again");
	CHECK(r.vm.level == 1 && in8(&r, IIR) == 0xc2, "with a THRE interrupt");
	rig_fini(&r);
}

static void test_tx_backpressure_fifo(void)
{
	struct rig r;
	rig_init(&r, true);
	out8(&r, FCR, 0x01);
	r.cd.accept = 0;
	for (int i = 0; i < 20; i++)
		out8(&r, THR, (uint8_t)('A' + i));
	CHECK(r.cd.out_len == 0, "nothing accepted");
	CHECK(!(in8(&r, LSR) & 0x20), "transmitter busy");
	r.cd.accept = 10;
	r.cd.client.on_output_space(r.cd.client.dev);
	CHECK(r.cd.out_len == 10 && !(in8(&r, LSR) & 0x20), "partly drained, still busy");
	r.cd.accept = SIZE_MAX;
	r.cd.client.on_output_space(r.cd.client.dev);
	CHECK(r.cd.out_len == 16, "the FIFO held 16 bytes; overflowing writes were lost");
	CHECK(memcmp(r.cd.out, "ABCDEFGHIJKLMNOP", 16) == 0, "in order");
	CHECK(in8(&r, LSR) & 0x20, "idle again");

	r.cd.accept = 0;
	out8(&r, THR, 'x');
	out8(&r, FCR, 0x05); /* clear TX */
	CHECK(in8(&r, LSR) & 0x20, "clearing the transmit FIFO drops held bytes");
	rig_fini(&r);
}

static void test_irq_only_on_change(void)
{
	struct rig r;
	rig_init(&r, true);
	out8(&r, IER, 0x01);
	out8(&r, FCR, 0x01);
	host_input(&r, "a", 1);
	host_input(&r, "b", 1);
	in8(&r, IIR);
	CHECK(r.vm.set_irq_calls == 1 && r.vm.level == 1, "one call for several events at one level");
	in8(&r, RBR);
	CHECK(r.vm.set_irq_calls == 1, "still data: no call");
	in8(&r, RBR);
	CHECK(r.vm.set_irq_calls == 2 && r.vm.level == 0, "drained: line dropped once");
	rig_fini(&r);
}

static void test_null_chardev_and_wide_access(void)
{
	struct rig r;
	rig_init(&r, false);
	out8(&r, IER, 0x02);
	in8(&r, IIR);
	for (int i = 0; i < 100; i++)
		out8(&r, THR, 'n');
	CHECK((in8(&r, LSR) & 0x60) == 0x60, "no backend: output dropped, never busy");
	CHECK(r.vm.level == 1, "and THRE interrupts still come");

	uint16_t word = 0;
	bus_read(r.pio, PORT_COM1 + LSR, &word, 2);
	CHECK(word == (0xb0 << 8 | 0x60), "a 2-byte read covers LSR and MSR");
	uint16_t dl = 0x0203;
	out8(&r, LCR, 0x80);
	bus_write(r.pio, PORT_COM1 + DLL, &dl, 2);
	CHECK(in8(&r, DLL) == 0x03 && in8(&r, DLM) == 0x02, "a 2-byte write sets DLL and DLM");
	rig_fini(&r);
}

/* ---- snapshots ---- */

static uint8_t *save_uart(struct rig *r, struct state_reader *reader)
{
	struct state_writer w;
	state_writer_init(&w);
	uart16550_save(r->uart, &w);
	return state_blob_open(&w, reader);
}

/* Everything a guest can read, in one fixed order (reads have side effects: same order on both). */
static void read_everything(struct rig *r, uint8_t out[40])
{
	static const unsigned regs[] = { IIR, LSR, IIR, MSR, MSR, LCR, MCR, SCR, IER };
	unsigned n = 0;
	for (unsigned i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		out[n++] = in8(r, regs[i]);
	for (unsigned i = 0; i < 16; i++)
		out[n++] = in8(r, RBR);
	out[n++] = in8(r, IIR);
	out[n++] = in8(r, LSR);
	uint8_t lcr = in8(r, LCR);
	out8(r, LCR, lcr | 0x80);
	out[n++] = in8(r, DLL);
	out[n++] = in8(r, DLM);
	out8(r, LCR, lcr);
	while (n < 40)
		out[n++] = 0;
}

/* Overrun, modem deltas, divisor, a wrapped receive FIFO, output held by a full backend. */
static void drive_into_busy_state(struct rig *r)
{
	out8(r, MCR, 0x10);
	out8(r, THR, '1');
	out8(r, THR, '2');
	out8(r, MCR, 0x0b);
	out8(r, FCR, 0x81);
	out8(r, LCR, 0x83);
	out8(r, DLL, 0x0c);
	out8(r, DLM, 0x01);
	out8(r, LCR, 0x03);
	out8(r, SCR, 0x5a);
	out8(r, IER, 0x07);
	host_input(r, "0123456789abcdef", 16);
	for (int i = 0; i < 4; i++)
		in8(r, RBR);
	host_input(r, "ghi", 3);
	r->cd.accept = 0;
	out8(r, THR, 'X');
	out8(r, THR, 'Y');
}

static void test_snapshot_round_trip(void)
{
	struct rig a, b;
	rig_init(&a, true);
	drive_into_busy_state(&a);
	struct state_reader reader;
	uint8_t *blob = save_uart(&a, &reader);

	rig_init(&b, true);
	b.cd.accept = 0;
	CHECK(uart16550_load(b.uart, &reader) == 0, "snapshot: the UART loads into a fresh one");
	CHECK(a.vm.level == 1 && b.vm.level == 1 && b.vm.last_gsi == IRQ_COM1,
	      "the interrupt line is driven high again");
	uint8_t ra[40], rb[40];
	read_everything(&a, ra);
	read_everything(&b, rb);
	CHECK(memcmp(ra, rb, sizeof(ra)) == 0, "every register, the FIFO contents and IIR read the same");
	CHECK(ra[1] == 0x03 && ra[9 + 14] == 'i', "(with the overrun and the wrapped FIFO that were saved)");
	b.cd.accept = SIZE_MAX;
	b.cd.client.on_output_space(b.cd.client.dev);
	CHECK(b.cd.out_len == 2 && memcmp(b.cd.out, "XY", 2) == 0, "the held output follows");
	rig_fini(&b);

	rig_init(&b, true);
	CHECK(uart16550_load(b.uart, &reader) == 0 && b.cd.out_len == 2 && memcmp(b.cd.out, "XY", 2) == 0,
	      "a backend with room gets the held bytes at load");
	CHECK((in8(&b, LSR) & 0x60) == 0x60, "and the transmitter is idle");
	rig_fini(&b);
	free(blob);
	rig_fini(&a);

	rig_init(&a, true);
	blob = save_uart(&a, &reader);
	rig_init(&b, true);
	host_input(&b, "zz", 2); /* one byte taken, the backend told to wait */
	CHECK(uart16550_load(b.uart, &reader) == 0 && b.cd.input_ready_calls == 1,
	      "a backend stalled before the load is asked to resend");
	CHECK(b.vm.level == 0 && !(in8(&b, LSR) & 0x01), "the empty saved receiver is what the guest sees");
	free(blob);
	rig_fini(&b);
	rig_fini(&a);
}

/* A UART section written by hand, for states the UART cannot reach by itself. */
struct uart_image {
	uint8_t ier, fcr, lcr, mcr, scr, dll, dlm, lsr_errors, msr_deltas, rbr;
	uint8_t thr_ipending, rx_count, tx_count;
	size_t cut;    /* payload bytes kept, 0: all */
	uint8_t extra; /* zero bytes appended */
};

static uint8_t *image_blob(const struct uart_image *img, struct state_reader *r)
{
	struct state_writer w;
	state_writer_init(&w);
	state_begin(&w, STATE_TAG_UART, 0);
	size_t start = w.len;
	const uint8_t regs[] = { img->ier, img->fcr, img->lcr, img->mcr, img->scr, img->dll, img->dlm,
				 img->lsr_errors, img->msr_deltas, img->rbr, img->thr_ipending };
	state_put_bytes(&w, regs, sizeof(regs));
	state_put_u8(&w, img->rx_count);
	for (unsigned i = 0; i < img->rx_count; i++)
		state_put_u8(&w, 'r');
	state_put_u8(&w, img->tx_count);
	for (unsigned i = 0; i < img->tx_count; i++)
		state_put_u8(&w, 't');
	for (unsigned i = 0; i < img->extra; i++)
		state_put_u8(&w, 0);
	if (img->cut)
		w.len = start + img->cut;
	state_end(&w);
	return state_blob_open(&w, r);
}

static int load_image(const struct uart_image *img)
{
	struct state_reader reader;
	uint8_t *blob = image_blob(img, &reader);
	struct rig b;
	rig_init(&b, true);
	out8(&b, SCR, 0x77);
	int ret = uart16550_load(b.uart, &reader);
	bool untouched = in8(&b, SCR) == 0x77 && in8(&b, IIR) == 0x01 && b.vm.set_irq_calls == 0;
	rig_fini(&b);
	free(blob);
	return ret == 0 || untouched ? ret : -1;
}

static void test_snapshot_refusals(void)
{
	static const struct { const char *what; struct uart_image img; } bad[] = {
		{ "IER bits 7:4", { .ier = 0x10 } },
		{ "MCR bits 7:5", { .mcr = 0x20 } },
		{ "MSR status bits among the deltas", { .msr_deltas = 0x10 } },
		{ "an FCR clear bit kept", { .fcr = 0x03 } },
		{ "FCR trigger bits with FIFOs off", { .fcr = 0x80 } },
		{ "a parity error the UART never makes", { .lsr_errors = 0x04 } },
		{ "17 bytes in the receive FIFO", { .fcr = 0x01, .rx_count = 17 } },
		{ "2 received bytes without FIFOs", { .rx_count = 2 } },
		{ "17 bytes in the transmit FIFO", { .fcr = 0x01, .tx_count = 17 } },
		{ "bytes held for transmission in loopback", { .mcr = 0x10, .tx_count = 1 } },
		{ "a THRE interrupt while bytes wait", { .thr_ipending = 1, .tx_count = 1 } },
		{ "a flag that is not a bool", { .thr_ipending = 2 } },
		{ "a section cut inside the FIFOs", { .fcr = 0x01, .rx_count = 4, .cut = 13 } },
		{ "a byte too many", { .rx_count = 1, .tx_count = 1, .extra = 1 } },
	};
	struct uart_image good = { .fcr = 0xc9, .mcr = 0x1f, .ier = 0x0f, .lsr_errors = 0x02,
				   .msr_deltas = 0x0f, .rx_count = 16 };
	CHECK(load_image(&good) == 0, "snapshot: the baseline hand-made state loads");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(load_image(&bad[i].img) == -EINVAL, "refused, device untouched: %s", bad[i].what);

	struct state_reader reader;
	uint8_t *blob = state_blob_without_devices(&reader);
	struct rig b;
	rig_init(&b, true);
	CHECK(uart16550_load(b.uart, &reader) == -EINVAL, "refused: no UART section");
	rig_fini(&b);
	free(blob);
}

int main(void)
{
	test_reset_state_and_scratch();
	test_divisor_latch();
	test_loopback_and_msr();
	test_fifo_detection();
	test_rx_fifo_and_priorities();
	test_trigger_levels();
	test_rx_backpressure();
	test_overrun_without_fifo();
	test_thri_sequences();
	test_tx_backpressure_fifo();
	test_irq_only_on_change();
	test_null_chardev_and_wide_access();
	test_snapshot_round_trip();
	test_snapshot_refusals();
	return tap_finish();
}
