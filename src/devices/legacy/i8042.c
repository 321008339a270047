/*
 * 8042 keyboard controller with a PS/2 keyboard and no AUX (mouse) port.
 *
 * References: IBM PC/AT Technical Reference (keyboard controller commands,
 * status register, output port), the PS/2 keyboard command set, and what
 * Linux's drivers/input/serio/i8042.c and drivers/input/keyboard/atkbd.c
 * send and expect while probing.
 *
 * One output buffer (status OBF) is fed from two queues: controller
 * replies first, then bytes from the keyboard. Keyboard bytes wait while
 * the keyboard interface is disabled (command byte bit 4). IRQ 1 is high
 * while the output buffer is full and the command byte enables it.
 *
 * Lock order: dev->lock, then whatever vm_control.set_irq takes.
 * vm_control.request_stop is called without dev->lock.
 */
#include "devices/legacy/i8042.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "migration/state.h"
#include "util/log.h"

/* Status register (port 0x64, read). */
#define STS_OBF 0x01      /* output buffer full */
#define STS_SYS 0x04      /* system flag: set once self test passed */
#define STS_CMD 0x08      /* last write went to the command port */
#define STS_UNLOCKED 0x10 /* keyboard lock switch off */

/* Command byte ("CTR", controller RAM byte 0). */
#define CTR_KBDINT 0x01
#define CTR_SYS 0x04
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20
#define CTR_XLATE 0x40
/* As firmware leaves it on a PC without a mouse: translation, SYS, IRQ 1. */
#define RESET_CTR (CTR_XLATE | CTR_AUXDIS | CTR_SYS | CTR_KBDINT)

/* Output port (commands 0xD0/0xD1). */
#define OUTPORT_RESET 0x01 /* 0 holds the CPU in reset */
#define OUTPORT_KBD_OBF 0x10
#define OUTPORT_AUX_OBF 0x20
/* Reset line and A20 released, keyboard clock/data lines high. */
#define RESET_OUTPORT 0xcf

/* Controller commands (port 0x64, write). */
enum {
	CMD_READ_RAM = 0x20,  /* 0x20..0x3f: read RAM byte cmd & 0x1f; 0x20 = CTR */
	CMD_WRITE_RAM = 0x60, /* 0x60..0x7f: write RAM byte, value follows */
	CMD_AUX_DISABLE = 0xa7,
	CMD_AUX_ENABLE = 0xa8,
	CMD_AUX_TEST = 0xa9,
	CMD_SELF_TEST = 0xaa,
	CMD_KBD_TEST = 0xab,
	CMD_KBD_DISABLE = 0xad,
	CMD_KBD_ENABLE = 0xae,
	CMD_READ_OUTPORT = 0xd0,
	CMD_WRITE_OUTPORT = 0xd1,
	CMD_WRITE_KBD_OUTBUF = 0xd2,
	CMD_WRITE_AUX_OUTBUF = 0xd3,
	CMD_WRITE_AUX = 0xd4,
	CMD_READ_TEST_INPUTS = 0xe0,
	CMD_PULSE_OUTPORT = 0xf0, /* 0xf0..0xff: pulse output port bits 3:0 that are 0 */
};

#define SELF_TEST_OK 0x55
#define KBD_TEST_OK 0x00
/*
 * "Clock line stuck high". Linux's i8042_check_aux() treats 0x00, 0xFA
 * and 0xFF as "AUX port present" (0xFF is a "general error" many working
 * chipsets report); anything else makes it give up on the AUX port.
 */
#define AUX_TEST_NO_PORT 0x02

/* Keyboard commands (port 0x60, write) and replies. */
enum {
	KBD_CMD_SET_LEDS = 0xed,
	KBD_CMD_ECHO = 0xee,
	KBD_CMD_SCANCODE_SET = 0xf0,
	KBD_CMD_GET_ID = 0xf2,
	KBD_CMD_SET_RATE = 0xf3,
	KBD_CMD_ENABLE = 0xf4,
	KBD_CMD_RESET_DISABLE = 0xf5,
	KBD_CMD_RESET_ENABLE = 0xf6,
	KBD_CMD_SET3_FIRST = 0xf7, /* 0xf7..0xfd: scan code set 3 key types */
	KBD_CMD_SET3_LAST = 0xfd,
	KBD_CMD_RESEND = 0xfe,
	KBD_CMD_RESET = 0xff,
};
#define KBD_REPLY_ACK 0xfa
#define KBD_REPLY_RESEND 0xfe
#define KBD_REPLY_BAT_OK 0xaa
#define KBD_ID_1 0xab
#define KBD_ID_2 0x83
#define KBD_ID_2_XLATED 0x41 /* 0x83 through the set 2 -> set 1 translation */

#define RAM_SIZE 32
#define CTRL_QUEUE_SIZE 8
#define KBD_QUEUE_SIZE 64

struct byte_queue {
	uint8_t *buf;
	unsigned size, head, count;
};

struct i8042 {
	const struct vm_control *vm;
	uint32_t gsi;
	struct bus *pio; /* where the ports are claimed, or NULL */

	/* Protects every field below: vCPU threads and i8042_send_scancode enter. */
	pthread_mutex_t lock;
	uint8_t ram[RAM_SIZE]; /* ram[0] is the command byte */
	uint8_t outport;
	bool sys_flag;
	bool last_write_was_cmd;
	uint8_t pending_cmd; /* controller command waiting for its data byte, or 0 */
	uint8_t out;         /* output buffer; stale once read */
	bool obf;
	uint8_t ctrl_buf[CTRL_QUEUE_SIZE];
	struct byte_queue ctrl_queue; /* controller replies */
	int irq_level;

	/* The keyboard behind the controller (same lock). */
	uint8_t kbd_buf[KBD_QUEUE_SIZE];
	struct byte_queue kbd_queue;  /* bytes the keyboard has sent */
	uint8_t kbd_arg_for;          /* keyboard command waiting for its argument, or 0 */
	bool kbd_scanning;            /* 0xF4/0xF5 */
	uint8_t kbd_scancode_set;
	uint8_t kbd_last_sent;        /* for the resend command */
};

static struct log_limit unknown_cmd_limit = LOG_LIMIT_INIT(10);
static struct log_limit reset_limit = LOG_LIMIT_INIT(1);

/* ---- queues ---- */

static unsigned queue_room(const struct byte_queue *q)
{
	return q->size - q->count;
}

/* Bytes beyond the room are dropped: the guest stopped reading. */
static void queue_push(struct byte_queue *q, uint8_t byte)
{
	if (queue_room(q) == 0)
		return;
	q->buf[(q->head + q->count) % q->size] = byte;
	q->count++;
}

static uint8_t queue_pop(struct byte_queue *q)
{
	uint8_t byte = q->buf[q->head];
	q->head = (q->head + 1) % q->size;
	q->count--;
	return byte;
}

static void queue_clear(struct byte_queue *q)
{
	q->head = 0;
	q->count = 0;
}

/* ---- output buffer and interrupt ---- */

static uint8_t *i8042_ctr(struct i8042 *d)
{
	return &d->ram[0];
}

static bool i8042_kbd_interface_enabled(struct i8042 *d)
{
	return !(*i8042_ctr(d) & CTR_KBDDIS);
}

/* Moves the next byte into an empty output buffer: controller replies first. */
static void i8042_fill_output(struct i8042 *d)
{
	if (d->obf)
		return;
	if (d->ctrl_queue.count)
		d->out = queue_pop(&d->ctrl_queue);
	else if (d->kbd_queue.count && i8042_kbd_interface_enabled(d))
		d->out = queue_pop(&d->kbd_queue);
	else
		return;
	d->obf = true;
}

static void i8042_update_irq(struct i8042 *d)
{
	int level = d->obf && (*i8042_ctr(d) & CTR_KBDINT);
	if (level != d->irq_level) {
		d->irq_level = level;
		vm_set_irq(d->vm, d->gsi, level);
	}
}

static void i8042_reply(struct i8042 *d, uint8_t byte)
{
	queue_push(&d->ctrl_queue, byte);
}

/* ---- keyboard ---- */

static void kbd_send(struct i8042 *d, uint8_t byte)
{
	d->kbd_last_sent = byte;
	queue_push(&d->kbd_queue, byte);
}

/* "Set defaults": clears the keyboard's buffer (PS/2 keyboard commands F5/F6/FF). */
static void kbd_set_defaults(struct i8042 *d)
{
	queue_clear(&d->kbd_queue);
	d->kbd_arg_for = 0;
	d->kbd_scancode_set = 2;
}

/* Scan code set numbers as the guest reads them (translated like scan codes). */
static uint8_t kbd_scancode_set_reply(struct i8042 *d)
{
	static const uint8_t translated[4] = { 0, 0x43, 0x41, 0x3f };
	return *i8042_ctr(d) & CTR_XLATE ? translated[d->kbd_scancode_set] : d->kbd_scancode_set;
}

static void kbd_receive_argument(struct i8042 *d, uint8_t cmd, uint8_t arg)
{
	if (cmd == KBD_CMD_SCANCODE_SET && arg > 3) {
		kbd_send(d, KBD_REPLY_RESEND);
		return;
	}
	kbd_send(d, KBD_REPLY_ACK);
	if (cmd == KBD_CMD_SCANCODE_SET) {
		if (arg == 0)
			kbd_send(d, kbd_scancode_set_reply(d));
		else
			d->kbd_scancode_set = arg;
	}
	/* KBD_CMD_SET_LEDS, KBD_CMD_SET_RATE: acknowledged, nothing to show. */
}

/* A byte the guest sent to the keyboard through port 0x60. */
static void kbd_receive(struct i8042 *d, uint8_t val)
{
	if (d->kbd_arg_for) {
		uint8_t cmd = d->kbd_arg_for;
		d->kbd_arg_for = 0;
		kbd_receive_argument(d, cmd, val);
		return;
	}
	switch (val) {
	case KBD_CMD_SET_LEDS:
	case KBD_CMD_SCANCODE_SET:
	case KBD_CMD_SET_RATE:
		kbd_send(d, KBD_REPLY_ACK);
		d->kbd_arg_for = val;
		break;
	case KBD_CMD_ECHO:
		kbd_send(d, KBD_CMD_ECHO);
		break;
	case KBD_CMD_GET_ID:
		kbd_send(d, KBD_REPLY_ACK);
		kbd_send(d, KBD_ID_1);
		kbd_send(d, *i8042_ctr(d) & CTR_XLATE ? KBD_ID_2_XLATED : KBD_ID_2);
		break;
	case KBD_CMD_ENABLE:
		kbd_send(d, KBD_REPLY_ACK);
		d->kbd_scanning = true;
		break;
	case KBD_CMD_RESET_DISABLE:
		kbd_set_defaults(d);
		kbd_send(d, KBD_REPLY_ACK);
		d->kbd_scanning = false;
		break;
	case KBD_CMD_RESET_ENABLE:
		kbd_set_defaults(d);
		kbd_send(d, KBD_REPLY_ACK);
		d->kbd_scanning = true;
		break;
	case KBD_CMD_RESEND:
		queue_push(&d->kbd_queue, d->kbd_last_sent);
		break;
	case KBD_CMD_RESET:
		kbd_set_defaults(d);
		kbd_send(d, KBD_REPLY_ACK);
		kbd_send(d, KBD_REPLY_BAT_OK); /* basic assurance test passed */
		d->kbd_scanning = true;
		break;
	default:
		if (val >= KBD_CMD_SET3_FIRST && val <= KBD_CMD_SET3_LAST)
			kbd_send(d, KBD_REPLY_ACK);
		else
			kbd_send(d, KBD_REPLY_RESEND); /* not a command */
		break;
	}
}

/* ---- controller ---- */

static uint8_t i8042_read_status(struct i8042 *d)
{
	uint8_t status = STS_UNLOCKED;
	if (d->obf)
		status |= STS_OBF;
	if (d->sys_flag)
		status |= STS_SYS;
	if (d->last_write_was_cmd)
		status |= STS_CMD;
	return status;
}

static uint8_t i8042_read_data(struct i8042 *d)
{
	uint8_t byte = d->out;
	if (d->obf) {
		d->obf = false;
		/* Drop the line before the next byte raises it: the PIC needs the edge. */
		i8042_update_irq(d);
		i8042_fill_output(d);
	}
	return byte;
}

static void i8042_write_ram(struct i8042 *d, unsigned index, uint8_t val)
{
	d->ram[index] = val;
	if (index == 0)
		d->sys_flag = val & CTR_SYS;
}

/* Writing 0 to output port bit 0 asserts the CPU reset line. */
static bool i8042_write_outport(struct i8042 *d, uint8_t val)
{
	d->outport = val;
	return !(val & OUTPORT_RESET);
}

static uint8_t i8042_read_outport(struct i8042 *d)
{
	uint8_t val = d->outport & ~(OUTPORT_KBD_OBF | OUTPORT_AUX_OBF);
	return d->obf ? val | OUTPORT_KBD_OBF : val;
}

/* The data byte of a two-byte controller command. Returns true to reset. */
static bool i8042_write_command_data(struct i8042 *d, uint8_t cmd, uint8_t val)
{
	if (cmd >= CMD_WRITE_RAM && cmd < CMD_WRITE_RAM + RAM_SIZE) {
		i8042_write_ram(d, cmd - CMD_WRITE_RAM, val);
		return false;
	}
	switch (cmd) {
	case CMD_WRITE_OUTPORT:
		return i8042_write_outport(d, val);
	case CMD_WRITE_KBD_OUTBUF:
		i8042_reply(d, val);
		break;
	case CMD_WRITE_AUX_OUTBUF:
		/*
		 * No AUX port: the byte comes back without the AUX status bit,
		 * so Linux's AUX loopback test fails at once instead of timing out.
		 */
		i8042_reply(d, val);
		break;
	default: /* CMD_WRITE_AUX: nothing listens */
		break;
	}
	return false;
}

static bool i8042_write_data(struct i8042 *d, uint8_t val)
{
	d->last_write_was_cmd = false;
	if (d->pending_cmd) {
		uint8_t cmd = d->pending_cmd;
		d->pending_cmd = 0;
		return i8042_write_command_data(d, cmd, val);
	}
	/* Sending to the keyboard re-enables its interface, as on real controllers. */
	*i8042_ctr(d) &= ~CTR_KBDDIS;
	kbd_receive(d, val);
	return false;
}

static bool takes_data_byte(uint8_t cmd)
{
	return (cmd >= CMD_WRITE_RAM && cmd < CMD_WRITE_RAM + RAM_SIZE) ||
	       (cmd >= CMD_WRITE_OUTPORT && cmd <= CMD_WRITE_AUX);
}

/* A controller command. Returns true when it resets the CPU. */
static bool i8042_write_command(struct i8042 *d, uint8_t cmd)
{
	d->last_write_was_cmd = true;
	d->pending_cmd = takes_data_byte(cmd) ? cmd : 0;
	if (d->pending_cmd)
		return false;
	if (cmd >= CMD_READ_RAM && cmd < CMD_READ_RAM + RAM_SIZE) {
		i8042_reply(d, d->ram[cmd - CMD_READ_RAM]);
		return false;
	}
	if (cmd >= CMD_PULSE_OUTPORT)
		return !(cmd & OUTPORT_RESET); /* 0xFE: pulse the reset line */

	switch (cmd) {
	case CMD_AUX_DISABLE:
		*i8042_ctr(d) |= CTR_AUXDIS;
		break;
	case CMD_AUX_ENABLE:
		*i8042_ctr(d) &= ~CTR_AUXDIS;
		break;
	case CMD_AUX_TEST:
		i8042_reply(d, AUX_TEST_NO_PORT);
		break;
	case CMD_SELF_TEST:
		d->sys_flag = true;
		i8042_reply(d, SELF_TEST_OK);
		break;
	case CMD_KBD_TEST:
		i8042_reply(d, KBD_TEST_OK);
		break;
	case CMD_KBD_DISABLE:
		*i8042_ctr(d) |= CTR_KBDDIS;
		break;
	case CMD_KBD_ENABLE:
		*i8042_ctr(d) &= ~CTR_KBDDIS;
		break;
	case CMD_READ_OUTPORT:
		i8042_reply(d, i8042_read_outport(d));
		break;
	case CMD_READ_TEST_INPUTS:
		i8042_reply(d, 0);
		break;
	default:
		if (log_limit_allow(&unknown_cmd_limit))
			log_debug("i8042: unsupported controller command 0x%02x ignored", cmd);
		break;
	}
	return false;
}

/* ---- bus ---- */

static void i8042_bus_read(void *dev, uint64_t offset, void *data, uint32_t len)
{
	struct i8042 *d = dev;
	uint8_t *out = data;
	(void)offset; /* each range is one port; the range tells which */
	pthread_mutex_lock(&d->lock);
	for (uint32_t i = 0; i < len; i++)
		out[i] = i8042_read_data(d);
	i8042_update_irq(d);
	pthread_mutex_unlock(&d->lock);
}

static void i8042_bus_read_status(void *dev, uint64_t offset, void *data, uint32_t len)
{
	struct i8042 *d = dev;
	uint8_t *out = data;
	(void)offset;
	pthread_mutex_lock(&d->lock);
	for (uint32_t i = 0; i < len; i++)
		out[i] = i8042_read_status(d);
	pthread_mutex_unlock(&d->lock);
}

static void request_reset(struct i8042 *d)
{
	if (log_limit_allow(&reset_limit))
		log_info("i8042: guest pulsed the reset line");
	vm_request_stop(d->vm, VM_STOP_REBOOT);
}

/* Feeds each written byte to `handle` (data or command port); true on reset. */
static void i8042_write_bytes(struct i8042 *d, const void *data, uint32_t len,
			      bool (*handle)(struct i8042 *d, uint8_t byte))
{
	const uint8_t *in = data;
	bool reset = false;
	pthread_mutex_lock(&d->lock);
	for (uint32_t i = 0; i < len; i++)
		reset |= handle(d, in[i]);
	i8042_fill_output(d);
	i8042_update_irq(d);
	pthread_mutex_unlock(&d->lock);
	if (reset)
		request_reset(d);
}

static void i8042_bus_write(void *dev, uint64_t offset, const void *data, uint32_t len)
{
	(void)offset;
	i8042_write_bytes(dev, data, len, i8042_write_data);
}

static void i8042_bus_write_command(void *dev, uint64_t offset, const void *data, uint32_t len)
{
	(void)offset;
	i8042_write_bytes(dev, data, len, i8042_write_command);
}

static const struct bus_ops i8042_data_ops = {
	.read = i8042_bus_read,
	.write = i8042_bus_write,
};

static const struct bus_ops i8042_cmd_ops = {
	.read = i8042_bus_read_status,
	.write = i8042_bus_write_command,
};

/* The keyboard sends `bytes`, all or nothing. Caller holds dev->lock. */
static int kbd_type_locked(struct i8042 *dev, const uint8_t *bytes, size_t len)
{
	if (!dev->kbd_scanning)
		return -EAGAIN;
	if (len > queue_room(&dev->kbd_queue))
		return -ENOSPC;
	for (size_t i = 0; i < len; i++)
		queue_push(&dev->kbd_queue, bytes[i]);
	i8042_fill_output(dev);
	i8042_update_irq(dev);
	return 0;
}

int i8042_send_scancode(struct i8042 *dev, const uint8_t *bytes, size_t len)
{
	pthread_mutex_lock(&dev->lock);
	int ret = kbd_type_locked(dev, bytes, len);
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

/*
 * Left Ctrl, left Alt and Delete pressed, then released in reverse order.
 * Set 1 is what the guest reads while the controller translates (Linux's
 * i8042 driver keeps CTR_XLATE unless booted with i8042.direct, and atkbd
 * then decodes set 1); set 2 is what a keyboard in its default set sends
 * when nothing translates. (Set 3, atkbd.set=3 without translation, is not
 * served.)
 */
static const uint8_t ctrl_alt_del_set1[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
static const uint8_t ctrl_alt_del_set2[] = { 0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71,
					     0xf0, 0x11, 0xf0, 0x14 };

int i8042_send_ctrl_alt_del(struct i8042 *dev)
{
	pthread_mutex_lock(&dev->lock);
	int ret = *i8042_ctr(dev) & CTR_XLATE
		  ? kbd_type_locked(dev, ctrl_alt_del_set1, sizeof(ctrl_alt_del_set1))
		  : kbd_type_locked(dev, ctrl_alt_del_set2, sizeof(ctrl_alt_del_set2));
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

struct i8042 *i8042_create(const struct i8042_config *cfg)
{
	if (!cfg || !cfg->vm || !cfg->vm->set_irq || !cfg->vm->request_stop) {
		errno = EINVAL;
		return NULL;
	}
	struct i8042 *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->vm = cfg->vm;
	d->gsi = cfg->gsi;
	pthread_mutex_init(&d->lock, NULL);
	d->ram[0] = RESET_CTR;
	d->sys_flag = true; /* as after the firmware's self test */
	d->outport = RESET_OUTPORT;
	d->ctrl_queue = (struct byte_queue){ .buf = d->ctrl_buf, .size = CTRL_QUEUE_SIZE };
	d->kbd_queue = (struct byte_queue){ .buf = d->kbd_buf, .size = KBD_QUEUE_SIZE };
	d->kbd_scanning = true;
	d->kbd_scancode_set = 2;
	return d;
}

int i8042_register(struct i8042 *dev, struct bus *pio)
{
	int ret = bus_register(pio, PORT_I8042_DATA, 1, &i8042_data_ops, dev, "i8042");
	if (ret)
		return ret;
	ret = bus_register(pio, PORT_I8042_CMD, 1, &i8042_cmd_ops, dev, "i8042");
	if (ret) {
		bus_unregister(pio, PORT_I8042_DATA);
		return ret;
	}
	dev->pio = pio;
	return 0;
}

void i8042_destroy(struct i8042 *dev)
{
	if (!dev)
		return;
	if (dev->pio) {
		bus_unregister(dev->pio, PORT_I8042_DATA);
		bus_unregister(dev->pio, PORT_I8042_CMD);
	}
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

/* ---- snapshots ---- */

static void queue_save(const struct byte_queue *q, struct state_writer *w)
{
	state_put_u8(w, (uint8_t)q->count);
	for (unsigned i = 0; i < q->count; i++)
		state_put_u8(w, q->buf[(q->head + i) % q->size]);
}

/*
 * Payload: the 32 bytes of controller RAM (byte 0: command byte); u8
 * output port; bool system flag; bool last write went to the command
 * port; u8 controller command awaiting its data byte (0: none); u8 output
 * buffer; bool output buffer full; the controller reply queue (u8 count,
 * then that many bytes, oldest first); u8 keyboard command awaiting its
 * argument (0: none); bool keyboard scanning; u8 scan code set; u8 last
 * byte the keyboard sent; the keyboard queue (as the reply queue).
 */
void i8042_save(struct i8042 *dev, struct state_writer *w)
{
	state_begin(w, STATE_TAG_I8042, 0);
	pthread_mutex_lock(&dev->lock);
	state_put_bytes(w, dev->ram, RAM_SIZE);
	state_put_u8(w, dev->outport);
	state_put_bool(w, dev->sys_flag);
	state_put_bool(w, dev->last_write_was_cmd);
	state_put_u8(w, dev->pending_cmd);
	state_put_u8(w, dev->out);
	state_put_bool(w, dev->obf);
	queue_save(&dev->ctrl_queue, w);
	state_put_u8(w, dev->kbd_arg_for);
	state_put_bool(w, dev->kbd_scanning);
	state_put_u8(w, dev->kbd_scancode_set);
	state_put_u8(w, dev->kbd_last_sent);
	queue_save(&dev->kbd_queue, w);
	pthread_mutex_unlock(&dev->lock);
	state_end(w);
}

/* A saved queue into `buf`, oldest byte first. */
static int queue_load(struct byte_queue *q, uint8_t *buf, unsigned size,
		      struct state_section *s, const char *which)
{
	*q = (struct byte_queue){ .buf = buf, .size = size };
	unsigned count = state_get_u8(s);
	if (count > size) {
		log_error("snapshot: i8042: %s queue holds %u bytes, at most %u", which, count,
			  size);
		return -EINVAL;
	}
	for (unsigned i = 0; i < count; i++)
		queue_push(q, state_get_u8(s));
	return 0;
}

static bool takes_argument(uint8_t kbd_cmd)
{
	return kbd_cmd == KBD_CMD_SET_LEDS || kbd_cmd == KBD_CMD_SCANCODE_SET ||
	       kbd_cmd == KBD_CMD_SET_RATE;
}

/* Commands that wait for a byte, and scan code sets 1-3, are all there can be. */
static int check_commands(const struct i8042 *s)
{
	if (s->pending_cmd && !takes_data_byte(s->pending_cmd)) {
		log_error("snapshot: i8042: controller command 0x%02x takes no data byte",
			  s->pending_cmd);
		return -EINVAL;
	}
	if (s->kbd_arg_for && !takes_argument(s->kbd_arg_for)) {
		log_error("snapshot: i8042: keyboard command 0x%02x takes no argument",
			  s->kbd_arg_for);
		return -EINVAL;
	}
	if (s->kbd_scancode_set < 1 || s->kbd_scancode_set > 3) {
		log_error("snapshot: i8042: scan code set %u, not 1-3", s->kbd_scancode_set);
		return -EINVAL;
	}
	return 0;
}

/* An empty output buffer is refilled at once: nothing the guest may read can wait. */
static int check_output(const struct i8042 *s)
{
	bool kbd_ready = s->kbd_queue.count && !(s->ram[0] & CTR_KBDDIS);
	if (!s->obf && (s->ctrl_queue.count || kbd_ready)) {
		log_error("snapshot: i8042: output buffer empty while %u reply and %u keyboard "
			  "bytes wait", s->ctrl_queue.count, s->kbd_queue.count);
		return -EINVAL;
	}
	return 0;
}

/* Reads the section into `s` (state fields only, queues in its own buffers) and checks it. */
static int read_i8042_section(const struct state_reader *r, struct i8042 *s)
{
	struct state_section sec;
	if (state_find(r, STATE_TAG_I8042, 0, &sec) < 0) {
		log_error("snapshot: i8042: no saved state");
		return -EINVAL;
	}
	state_get_bytes(&sec, s->ram, RAM_SIZE);
	s->outport = state_get_u8(&sec);
	s->sys_flag = state_get_bool(&sec);
	s->last_write_was_cmd = state_get_bool(&sec);
	s->pending_cmd = state_get_u8(&sec);
	s->out = state_get_u8(&sec);
	s->obf = state_get_bool(&sec);
	int ret = queue_load(&s->ctrl_queue, s->ctrl_buf, CTRL_QUEUE_SIZE, &sec,
			     "controller reply");
	s->kbd_arg_for = state_get_u8(&sec);
	s->kbd_scanning = state_get_bool(&sec);
	s->kbd_scancode_set = state_get_u8(&sec);
	s->kbd_last_sent = state_get_u8(&sec);
	if (ret == 0)
		ret = queue_load(&s->kbd_queue, s->kbd_buf, KBD_QUEUE_SIZE, &sec, "keyboard");
	if (ret == 0 && state_section_finish(&sec) < 0) {
		log_error("snapshot: i8042: the saved state is truncated or malformed");
		ret = -EINVAL;
	}
	if (ret == 0)
		ret = check_commands(s);
	if (ret == 0)
		ret = check_output(s);
	return ret;
}

/* Queues keep pointing at the device's own buffers. */
static void queue_copy(struct byte_queue *to, const struct byte_queue *from)
{
	queue_clear(to);
	for (unsigned i = 0; i < from->count; i++)
		queue_push(to, from->buf[(from->head + i) % from->size]);
}

int i8042_load(struct i8042 *dev, const struct state_reader *r)
{
	struct i8042 s = { 0 };
	int ret = read_i8042_section(r, &s);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&dev->lock);
	memcpy(dev->ram, s.ram, RAM_SIZE);
	dev->outport = s.outport;
	dev->sys_flag = s.sys_flag;
	dev->last_write_was_cmd = s.last_write_was_cmd;
	dev->pending_cmd = s.pending_cmd;
	dev->out = s.out;
	dev->obf = s.obf;
	queue_copy(&dev->ctrl_queue, &s.ctrl_queue);
	dev->kbd_arg_for = s.kbd_arg_for;
	dev->kbd_scanning = s.kbd_scanning;
	dev->kbd_scancode_set = s.kbd_scancode_set;
	dev->kbd_last_sent = s.kbd_last_sent;
	queue_copy(&dev->kbd_queue, &s.kbd_queue);
	i8042_update_irq(dev);
	pthread_mutex_unlock(&dev->lock);
	return 0;
}
