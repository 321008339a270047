/*
 * 16550A UART. Register behaviour follows the NS PC16550D datasheet; where
 * the datasheet leaves room, it follows what Linux's 8250 driver probes for
 * (drivers/tty/serial/8250/8250_port.c: autoconfig, serial8250_do_startup).
 *
 * Transmission is instantaneous: a byte written to THR goes straight to the
 * backend. Only when the backend is full do bytes stay in the transmit FIFO,
 * with THRE/TEMT clear, until the backend reports space (on_output_space).
 * The "character timeout" interrupt is approximated: it is pending whenever
 * the receive FIFO holds data below the trigger level.
 *
 * Lock order: uart->lock, then the chardev's internal lock (chardev_write,
 * chardev_input_ready are called with uart->lock held), then whatever
 * vm_control.set_irq takes. The backend calls on_input/on_output_space
 * without holding its own locks.
 */
#include "devices/legacy/uart16550.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "migration/state.h"
#include "util/log.h"

/* Register offsets (PC16550D Table II). */
enum {
	UART_RBR_THR = 0, /* DLL when LCR.DLAB is set */
	UART_IER = 1,     /* DLM when LCR.DLAB is set */
	UART_IIR_FCR = 2,
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};

#define IER_ERBFI 0x01 /* received data available */
#define IER_ETBEI 0x02 /* transmitter holding register empty */
#define IER_ELSI 0x04  /* receiver line status */
#define IER_EDSSI 0x08 /* modem status */
#define IER_MASK 0x0f  /* bits 7:4 always read 0 on a 16550A */

/* Interrupt identification, highest priority first (datasheet Table IV). */
#define IIR_RLSI 0x06 /* receiver line status */
#define IIR_RDI 0x04  /* received data at the trigger level */
#define IIR_CTI 0x0c  /* character timeout */
#define IIR_THRI 0x02 /* transmitter holding register empty */
#define IIR_MSI 0x00  /* modem status */
#define IIR_NO_INT 0x01
#define IIR_FIFOS_ON 0xc0

#define FCR_FIFO_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04
#define FCR_DMA_MODE 0x08
#define FCR_TRIGGER_SHIFT 6

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_PE 0x04
#define LSR_FE 0x08
#define LSR_BI 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LSR_ERRORS (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

#define FIFO_SIZE 16

/* Divisor 1: 115200 baud. The value only matters to the guest. */
#define RESET_DIVISOR 1

struct byte_fifo {
	uint8_t buf[FIFO_SIZE];
	unsigned head;  /* index of the oldest byte */
	unsigned count;
};

struct uart16550 {
	const struct vm_control *vm;
	uint32_t gsi;
	uint16_t port_base;
	struct chardev *chardev;       /* NULL: output dropped */
	struct chardev_client client;  /* what we attached to chardev */
	struct bus *pio;               /* where the ports are claimed, or NULL */

	/*
	 * Protects every field below. vCPU threads (port I/O) and the
	 * chardev's I/O thread (on_input, on_output_space) both enter.
	 */
	pthread_mutex_t lock;
	uint8_t ier, fcr, lcr, mcr, scr, dll, dlm;
	uint8_t lsr_errors;  /* LSR bits 4:1, cleared by reading LSR */
	uint8_t msr_deltas;  /* MSR bits 3:0, cleared by reading MSR */
	uint8_t rbr;         /* last byte received: RBR when the FIFO is empty */
	struct byte_fifo rx, tx;
	bool thr_ipending;   /* THRE interrupt latched; see uart_write_ier */
	bool input_stalled;  /* on_input refused bytes: owe chardev_input_ready */
	int irq_level;       /* what we last drove on gsi */
};

static struct log_limit tx_overrun_limit = LOG_LIMIT_INIT(5);

/* ---- FIFOs ---- */

static void fifo_clear(struct byte_fifo *f)
{
	f->head = 0;
	f->count = 0;
}

static void fifo_push(struct byte_fifo *f, uint8_t byte)
{
	f->buf[(f->head + f->count) % FIFO_SIZE] = byte;
	f->count++;
}

static uint8_t fifo_pop(struct byte_fifo *f)
{
	uint8_t byte = f->buf[f->head];
	f->head = (f->head + 1) % FIFO_SIZE;
	f->count--;
	return byte;
}

/* The oldest bytes that are contiguous in memory; returns their number. */
static unsigned fifo_peek_contiguous(const struct byte_fifo *f, const uint8_t **bytes)
{
	unsigned n = FIFO_SIZE - f->head;
	*bytes = &f->buf[f->head];
	return n < f->count ? n : f->count;
}

static void fifo_drop(struct byte_fifo *f, unsigned n)
{
	f->head = (f->head + n) % FIFO_SIZE;
	f->count -= n;
}

/* ---- derived state ---- */

static bool uart_fifos_enabled(const struct uart16550 *u)
{
	return u->fcr & FCR_FIFO_ENABLE;
}

static bool uart_in_loopback(const struct uart16550 *u)
{
	return u->mcr & MCR_LOOP;
}

/* Without FIFOs, RBR and THR each hold one byte (16450 mode). */
static unsigned uart_fifo_capacity(const struct uart16550 *u)
{
	return uart_fifos_enabled(u) ? FIFO_SIZE : 1;
}

/* FCR bits 7:6 select 1, 4, 8 or 14 bytes (datasheet, FCR description). */
static unsigned uart_rx_trigger_level(const struct uart16550 *u)
{
	static const unsigned levels[4] = { 1, 4, 8, 14 };
	return levels[u->fcr >> FCR_TRIGGER_SHIFT];
}

static uint8_t uart_lsr(const struct uart16550 *u)
{
	uint8_t lsr = u->lsr_errors;
	if (u->rx.count)
		lsr |= LSR_DR;
	if (u->tx.count == 0)
		lsr |= LSR_THRE | LSR_TEMT;
	return lsr;
}

/*
 * The modem status inputs (MSR bits 7:4). There is no modem: CTS, DSR and
 * DCD are asserted so a guest using flow control can send. In loopback the
 * inputs are wired to the MCR outputs: RTS->CTS, DTR->DSR, OUT1->RI,
 * OUT2->DCD (datasheet, MCR bit 4); Linux's autoconfig checks this.
 */
static uint8_t uart_modem_inputs(const struct uart16550 *u)
{
	if (!uart_in_loopback(u))
		return MSR_CTS | MSR_DSR | MSR_DCD;
	uint8_t in = 0;
	if (u->mcr & MCR_RTS)
		in |= MSR_CTS;
	if (u->mcr & MCR_DTR)
		in |= MSR_DSR;
	if (u->mcr & MCR_OUT1)
		in |= MSR_RI;
	if (u->mcr & MCR_OUT2)
		in |= MSR_DCD;
	return in;
}

/* The highest-priority pending interrupt, as IIR bits 3:0. */
static uint8_t uart_pending_interrupt(const struct uart16550 *u)
{
	if ((u->ier & IER_ELSI) && (u->lsr_errors & LSR_ERRORS))
		return IIR_RLSI;
	if ((u->ier & IER_ERBFI) && u->rx.count) {
		if (!uart_fifos_enabled(u) || u->rx.count >= uart_rx_trigger_level(u))
			return IIR_RDI;
		return IIR_CTI;
	}
	if ((u->ier & IER_ETBEI) && u->thr_ipending)
		return IIR_THRI;
	if ((u->ier & IER_EDSSI) && u->msr_deltas)
		return IIR_MSI;
	return IIR_NO_INT;
}

/* Drives the interrupt line, calling out only when its level changes. */
static void uart_update_irq(struct uart16550 *u)
{
	int level = uart_pending_interrupt(u) != IIR_NO_INT;
	if (level != u->irq_level) {
		u->irq_level = level;
		vm_set_irq(u->vm, u->gsi, level);
	}
}

/* ---- receiver ---- */

/* After the guest made room: let the backend resend what we refused. */
static void uart_resume_input(struct uart16550 *u)
{
	if (!u->input_stalled || uart_in_loopback(u) || u->rx.count != 0)
		return;
	u->input_stalled = false;
	if (u->chardev)
		chardev_input_ready(u->chardev);
}

/*
 * A byte arriving at the receiver from the loopback path. A full FIFO
 * means overrun (LSR.OE): with FIFOs the new byte is lost, without them
 * it overwrites RBR (datasheet, LSR bit 1).
 */
static void uart_receive_looped(struct uart16550 *u, uint8_t byte)
{
	if (u->rx.count < uart_fifo_capacity(u)) {
		fifo_push(&u->rx, byte);
		return;
	}
	u->lsr_errors |= LSR_OE;
	if (!uart_fifos_enabled(u)) {
		fifo_clear(&u->rx);
		fifo_push(&u->rx, byte);
	}
}

static uint8_t uart_read_rbr(struct uart16550 *u)
{
	if (u->rx.count) {
		u->rbr = fifo_pop(&u->rx);
		uart_resume_input(u);
	}
	return u->rbr;
}

static void uart_clear_rx(struct uart16550 *u)
{
	fifo_clear(&u->rx);
	uart_resume_input(u);
}

/* ---- transmitter ---- */

/*
 * Sends what the transmit FIFO holds: to the receiver in loopback, else to
 * the backend until it refuses. Emptying the FIFO latches the THRE
 * interrupt, as the end of a real transmission does.
 */
static void uart_transmit(struct uart16550 *u)
{
	if (u->tx.count == 0)
		return;
	if (uart_in_loopback(u)) {
		while (u->tx.count)
			uart_receive_looped(u, fifo_pop(&u->tx));
	} else if (!u->chardev) {
		fifo_clear(&u->tx);
	} else {
		while (u->tx.count) {
			const uint8_t *bytes;
			unsigned n = fifo_peek_contiguous(&u->tx, &bytes);
			size_t sent = chardev_write(u->chardev, bytes, n);
			fifo_drop(&u->tx, (unsigned)sent);
			if (sent < n)
				break; /* backend full: stay busy until on_output_space */
		}
	}
	if (u->tx.count == 0)
		u->thr_ipending = true;
}

static void uart_write_thr(struct uart16550 *u, uint8_t byte)
{
	u->thr_ipending = false; /* writing THR clears the THRE interrupt */
	if (u->tx.count == uart_fifo_capacity(u)) {
		/* The guest ignored THRE; a real UART loses the byte too. */
		if (log_limit_allow(&tx_overrun_limit))
			log_debug("uart 0x%x: transmitter full, byte dropped", u->port_base);
		return;
	}
	fifo_push(&u->tx, byte);
	uart_transmit(u);
}

static void uart_clear_tx(struct uart16550 *u)
{
	if (u->tx.count == 0)
		return;
	fifo_clear(&u->tx);
	u->thr_ipending = true;
}

/* ---- other registers ---- */

static void uart_write_ier(struct uart16550 *u, uint8_t val)
{
	uint8_t changed = (u->ier ^ val) & IER_MASK;
	u->ier = val & IER_MASK;
	/*
	 * Setting ETBEI while THR is empty raises the THRE interrupt again,
	 * even after an IIR read cleared it: Linux's 8250 startup toggles
	 * IER.ETBEI and expects the interrupt back (UART_BUG_THRE probe).
	 */
	if (changed & IER_ETBEI)
		u->thr_ipending = (u->ier & IER_ETBEI) && u->tx.count == 0;
}

static uint8_t uart_read_iir(struct uart16550 *u)
{
	uint8_t id = uart_pending_interrupt(u);
	/* Reading IIR clears a THRE interrupt when that is what it reports. */
	if (id == IIR_THRI)
		u->thr_ipending = false;
	return id | (uart_fifos_enabled(u) ? IIR_FIFOS_ON : 0);
}

/*
 * FCR bit 0 gates the other bits; changing it clears both FIFOs
 * (datasheet, FCR description).
 */
static void uart_write_fcr(struct uart16550 *u, uint8_t val)
{
	bool was_enabled = uart_fifos_enabled(u);
	if (!(val & FCR_FIFO_ENABLE)) {
		u->fcr = 0;
		if (was_enabled) {
			uart_clear_rx(u);
			uart_clear_tx(u);
		}
		return;
	}
	u->fcr = val & (FCR_FIFO_ENABLE | FCR_DMA_MODE | (3 << FCR_TRIGGER_SHIFT));
	if (!was_enabled || (val & FCR_CLEAR_RX))
		uart_clear_rx(u);
	if (!was_enabled || (val & FCR_CLEAR_TX))
		uart_clear_tx(u);
}

/* Delta bits for a change of the modem inputs (datasheet, MSR bits 3:0). */
static uint8_t msr_deltas_for(uint8_t before, uint8_t after)
{
	uint8_t changed = before ^ after;
	uint8_t deltas = 0;
	if (changed & MSR_CTS)
		deltas |= MSR_DCTS;
	if (changed & MSR_DSR)
		deltas |= MSR_DDSR;
	if ((before & MSR_RI) && !(after & MSR_RI))
		deltas |= MSR_TERI; /* trailing edge only */
	if (changed & MSR_DCD)
		deltas |= MSR_DDCD;
	return deltas;
}

static void uart_write_mcr(struct uart16550 *u, uint8_t val)
{
	uint8_t inputs_before = uart_modem_inputs(u);
	u->mcr = val & MCR_MASK;
	u->msr_deltas |= msr_deltas_for(inputs_before, uart_modem_inputs(u));
	uart_transmit(u);     /* held bytes follow the new wiring */
	uart_resume_input(u); /* leaving loopback reconnects the input */
}

static uint8_t uart_read_lsr(struct uart16550 *u)
{
	uint8_t lsr = uart_lsr(u);
	u->lsr_errors = 0; /* reading LSR clears the error bits */
	return lsr;
}

static uint8_t uart_read_msr(struct uart16550 *u)
{
	uint8_t msr = uart_modem_inputs(u) | u->msr_deltas;
	u->msr_deltas = 0;
	return msr;
}

static bool uart_dlab(const struct uart16550 *u)
{
	return u->lcr & LCR_DLAB;
}

static uint8_t uart_read_register(struct uart16550 *u, unsigned reg)
{
	switch (reg) {
	case UART_RBR_THR:
		return uart_dlab(u) ? u->dll : uart_read_rbr(u);
	case UART_IER:
		return uart_dlab(u) ? u->dlm : u->ier;
	case UART_IIR_FCR:
		return uart_read_iir(u);
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		return uart_read_lsr(u);
	case UART_MSR:
		return uart_read_msr(u);
	default:
		return u->scr;
	}
}

static void uart_write_register(struct uart16550 *u, unsigned reg, uint8_t val)
{
	switch (reg) {
	case UART_RBR_THR:
		if (uart_dlab(u))
			u->dll = val;
		else
			uart_write_thr(u, val);
		break;
	case UART_IER:
		if (uart_dlab(u))
			u->dlm = val;
		else
			uart_write_ier(u, val);
		break;
	case UART_IIR_FCR:
		uart_write_fcr(u, val);
		break;
	case UART_LCR:
		u->lcr = val;
		break;
	case UART_MCR:
		uart_write_mcr(u, val);
		break;
	case UART_LSR:
	case UART_MSR:
		break; /* factory test registers: writes ignored */
	default:
		u->scr = val;
		break;
	}
}

/* ---- bus and backend entry points ---- */

/*
 * An 8-bit device: a wider access is split into byte accesses at
 * consecutive ports, as the ISA bus does.
 */
static void uart_bus_read(void *dev, uint64_t offset, void *data, uint32_t len)
{
	struct uart16550 *u = dev;
	uint8_t *out = data;
	pthread_mutex_lock(&u->lock);
	for (uint32_t i = 0; i < len; i++)
		out[i] = uart_read_register(u, (unsigned)(offset + i) % UART16550_PORT_COUNT);
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

static void uart_bus_write(void *dev, uint64_t offset, const void *data, uint32_t len)
{
	struct uart16550 *u = dev;
	const uint8_t *in = data;
	pthread_mutex_lock(&u->lock);
	for (uint32_t i = 0; i < len; i++)
		uart_write_register(u, (unsigned)(offset + i) % UART16550_PORT_COUNT, in[i]);
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

static const struct bus_ops uart_bus_ops = {
	.read = uart_bus_read,
	.write = uart_bus_write,
};

/* Host input; the receiver is disconnected from it in loopback. */
static size_t uart_on_input(void *dev, const uint8_t *buf, size_t len)
{
	struct uart16550 *u = dev;
	size_t taken = 0;
	pthread_mutex_lock(&u->lock);
	if (!uart_in_loopback(u)) {
		while (taken < len && u->rx.count < uart_fifo_capacity(u))
			fifo_push(&u->rx, buf[taken++]);
	}
	if (taken < len)
		u->input_stalled = true;
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return taken;
}

static void uart_on_output_space(void *dev)
{
	struct uart16550 *u = dev;
	pthread_mutex_lock(&u->lock);
	uart_transmit(u);
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

/* Power-on values (datasheet Table VI "UART Reset Configuration"). */
static void uart_reset(struct uart16550 *u)
{
	u->ier = 0;
	u->fcr = 0;
	u->lcr = 0;
	u->mcr = 0;
	u->scr = 0;
	u->dll = RESET_DIVISOR & 0xff;
	u->dlm = RESET_DIVISOR >> 8;
	u->lsr_errors = 0;
	u->msr_deltas = 0;
	u->rbr = 0;
	fifo_clear(&u->rx);
	fifo_clear(&u->tx);
	u->thr_ipending = false;
	u->input_stalled = false;
	u->irq_level = 0;
}

struct uart16550 *uart16550_create(const struct uart16550_config *cfg)
{
	if (!cfg || !cfg->vm || !cfg->vm->set_irq) {
		errno = EINVAL;
		return NULL;
	}
	struct uart16550 *u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->vm = cfg->vm;
	u->gsi = cfg->gsi;
	u->port_base = cfg->port_base;
	u->chardev = cfg->chardev;
	pthread_mutex_init(&u->lock, NULL);
	uart_reset(u);

	/* Last: the backend may call in as soon as we are attached. */
	if (u->chardev) {
		u->client = (struct chardev_client){
			.on_input = uart_on_input,
			.on_output_space = uart_on_output_space,
			.dev = u,
		};
		chardev_attach(u->chardev, &u->client);
	}
	return u;
}

int uart16550_register(struct uart16550 *uart, struct bus *pio)
{
	int ret = bus_register(pio, uart->port_base, UART16550_PORT_COUNT,
			       &uart_bus_ops, uart, "uart16550");
	if (ret == 0)
		uart->pio = pio;
	return ret;
}

void uart16550_destroy(struct uart16550 *uart)
{
	if (!uart)
		return;
	if (uart->pio)
		bus_unregister(uart->pio, uart->port_base);
	/* Not under uart->lock: detaching waits for a callback that may want it. */
	if (uart->chardev)
		chardev_attach(uart->chardev, NULL);
	pthread_mutex_destroy(&uart->lock);
	free(uart);
}

/* ---- snapshots ---- */

static void fifo_save(const struct byte_fifo *f, struct state_writer *w)
{
	state_put_u8(w, (uint8_t)f->count);
	for (unsigned i = 0; i < f->count; i++)
		state_put_u8(w, f->buf[(f->head + i) % FIFO_SIZE]);
}

/*
 * Payload: u8 IER, FCR (as stored: enable, DMA mode, trigger), LCR, MCR,
 * SCR, DLL, DLM, LSR error bits, MSR delta bits, last received byte; bool
 * THRE interrupt latched; the receive then the transmit FIFO, each u8
 * count and that many bytes, oldest first.
 */
void uart16550_save(struct uart16550 *u, struct state_writer *w)
{
	state_begin(w, STATE_TAG_UART, 0);
	pthread_mutex_lock(&u->lock);
	const uint8_t regs[] = { u->ier, u->fcr, u->lcr, u->mcr, u->scr, u->dll, u->dlm,
				 u->lsr_errors, u->msr_deltas, u->rbr };
	state_put_bytes(w, regs, sizeof(regs));
	state_put_bool(w, u->thr_ipending);
	fifo_save(&u->rx, w);
	fifo_save(&u->tx, w);
	pthread_mutex_unlock(&u->lock);
	state_end(w);
}

static int fifo_load(struct byte_fifo *f, struct state_section *s, const char *which,
		     unsigned capacity)
{
	fifo_clear(f);
	unsigned count = state_get_u8(s);
	if (count > capacity) {
		log_error("snapshot: UART: %s FIFO holds %u bytes, at most %u", which, count,
			  capacity);
		return -EINVAL;
	}
	for (unsigned i = 0; i < count; i++)
		fifo_push(f, state_get_u8(s));
	return 0;
}

/* Bits the register keeps (datasheet register descriptions; see the writes above). */
static int check_registers(const struct uart16550 *s)
{
	if (s->ier & ~IER_MASK || s->mcr & ~MCR_MASK || s->msr_deltas & ~(MSR_DCTS | MSR_DDSR |
	    MSR_TERI | MSR_DDCD)) {
		log_error("snapshot: UART: IER 0x%02x, MCR 0x%02x or MSR deltas 0x%02x has bits "
			  "the UART does not keep", s->ier, s->mcr, s->msr_deltas);
		return -EINVAL;
	}
	uint8_t fcr_bits = FCR_FIFO_ENABLE | FCR_DMA_MODE | (3 << FCR_TRIGGER_SHIFT);
	if (s->fcr & ~fcr_bits || (s->fcr && !uart_fifos_enabled(s))) {
		log_error("snapshot: UART: FCR 0x%02x is not one the UART keeps", s->fcr);
		return -EINVAL;
	}
	if (s->lsr_errors & ~LSR_OE) {
		log_error("snapshot: UART: LSR errors 0x%02x, only overrun (0x02) can occur",
			  s->lsr_errors);
		return -EINVAL;
	}
	return 0;
}

/* The transmitter: empty in loopback (bytes loop at once), no THRE interrupt while busy. */
static int check_transmitter(const struct uart16550 *s)
{
	if (s->tx.count && uart_in_loopback(s)) {
		log_error("snapshot: UART: %u bytes held for transmission in loopback mode",
			  s->tx.count);
		return -EINVAL;
	}
	if (s->tx.count && s->thr_ipending) {
		log_error("snapshot: UART: THRE interrupt pending with %u bytes to transmit",
			  s->tx.count);
		return -EINVAL;
	}
	return 0;
}

/* Reads the section into `s` (register fields only) and checks it. */
static int read_uart_section(const struct state_reader *r, struct uart16550 *s)
{
	struct state_section sec;
	if (state_find(r, STATE_TAG_UART, 0, &sec) < 0) {
		log_error("snapshot: UART: no saved state");
		return -EINVAL;
	}
	uint8_t *regs[] = { &s->ier, &s->fcr, &s->lcr, &s->mcr, &s->scr, &s->dll, &s->dlm,
			    &s->lsr_errors, &s->msr_deltas, &s->rbr };
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		*regs[i] = state_get_u8(&sec);
	s->thr_ipending = state_get_bool(&sec);
	int ret = check_registers(s);
	if (ret == 0)
		ret = fifo_load(&s->rx, &sec, "receive", uart_fifo_capacity(s));
	if (ret == 0)
		ret = fifo_load(&s->tx, &sec, "transmit", uart_fifo_capacity(s));
	if (ret == 0)
		ret = check_transmitter(s);
	if (ret == 0 && state_section_finish(&sec) < 0) {
		log_error("snapshot: UART: the saved state is truncated or malformed");
		ret = -EINVAL;
	}
	return ret;
}

int uart16550_load(struct uart16550 *u, const struct state_reader *r)
{
	struct uart16550 s = { 0 };
	int ret = read_uart_section(r, &s);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&u->lock);
	u->ier = s.ier;
	u->fcr = s.fcr;
	u->lcr = s.lcr;
	u->mcr = s.mcr;
	u->scr = s.scr;
	u->dll = s.dll;
	u->dlm = s.dlm;
	u->lsr_errors = s.lsr_errors;
	u->msr_deltas = s.msr_deltas;
	u->rbr = s.rbr;
	u->rx = s.rx;
	u->tx = s.tx;
	u->thr_ipending = s.thr_ipending;
	/* This chardev never refused these bytes: it owes no on_output_space. */
	uart_transmit(u);
	uart_resume_input(u);
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return 0;
}
