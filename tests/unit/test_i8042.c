/*
 * i8042: the controller commands of Linux's i8042 probe, the keyboard
 * replies atkbd expects, the reset paths, and scancode injection with
 * IRQ 1 edges (Ctrl-Alt-Del in the set the guest reads).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "bus/bus.h"
#include "devices/legacy/i8042.h"
#include "fake_vm.h"
#include "migration/state.h"
#include "state_blob.h"
#include "tap.h"

struct rig {
	struct fake_vm vm;
	struct vm_control control;
	struct bus *pio;
	struct i8042 *kbc;
};

static void rig_init(struct rig *r)
{
	memset(r, 0, sizeof(*r));
	r->control = fake_vm_control(&r->vm);
	r->pio = bus_create("pio");
	struct i8042_config cfg = { .vm = &r->control, .gsi = IRQ_I8042_KBD };
	r->kbc = i8042_create(&cfg);
	i8042_register(r->kbc, r->pio);
}

static void rig_fini(struct rig *r)
{
	i8042_destroy(r->kbc);
	bus_destroy(r->pio);
}

static uint8_t status(struct rig *r)
{
	uint8_t val = 0;
	bus_read(r->pio, PORT_I8042_CMD, &val, 1);
	return val;
}

static void command(struct rig *r, uint8_t cmd)
{
	bus_write(r->pio, PORT_I8042_CMD, &cmd, 1);
}

static void write_data(struct rig *r, uint8_t val)
{
	bus_write(r->pio, PORT_I8042_DATA, &val, 1);
}

static uint8_t read_data(struct rig *r)
{
	uint8_t val = 0;
	bus_read(r->pio, PORT_I8042_DATA, &val, 1);
	return val;
}

/* The next output byte, or -1 if the output buffer is empty. */
static int next_byte(struct rig *r)
{
	return status(r) & 0x01 ? read_data(r) : -1;
}

static void test_controller_probe(void)
{
	struct rig r;
	rig_init(&r);
	uint8_t st = status(&r);
	CHECK(st == (0x10 | 0x04), "status: keyboard unlocked, SYS flag, nothing to read");

	command(&r, 0xaa);
	CHECK(status(&r) & 0x08, "status bit 3: last write was a command");
	CHECK(next_byte(&r) == 0x55, "self test answers 0x55");
	CHECK(next_byte(&r) == -1, "and only that");

	command(&r, 0x20);
	CHECK(next_byte(&r) == 0x65, "command byte after reset: XLATE, AUXDIS, SYS, KBDINT");
	command(&r, 0x60);
	write_data(&r, 0x47);
	CHECK(!(status(&r) & 0x08), "status bit 3 clear after a data write");
	command(&r, 0x20);
	CHECK(next_byte(&r) == 0x47, "command byte round trip");
	command(&r, 0x60);
	write_data(&r, 0x40);
	CHECK(!(status(&r) & 0x04), "SYS flag follows the command byte");
	command(&r, 0xaa);
	CHECK(next_byte(&r) == 0x55 && (status(&r) & 0x04), "self test sets SYS again");

	command(&r, 0xab);
	CHECK(next_byte(&r) == 0x00, "keyboard interface test passes");
	command(&r, 0xad);
	command(&r, 0x20);
	CHECK(next_byte(&r) & 0x10, "0xAD disables the keyboard (command byte bit 4)");
	command(&r, 0xae);
	command(&r, 0x20);
	CHECK(!(next_byte(&r) & 0x10), "0xAE enables it");
	command(&r, 0xa7);
	command(&r, 0x20);
	CHECK(next_byte(&r) & 0x20, "0xA7 sets AUXDIS");
	command(&r, 0xa8);
	command(&r, 0x20);
	CHECK(!(next_byte(&r) & 0x20), "0xA8 clears it");
	rig_fini(&r);
}

/* Linux's i8042_check_aux() must conclude quickly that there is no AUX port. */
static void test_no_aux_port(void)
{
	struct rig r;
	rig_init(&r);
	command(&r, 0xd3);
	write_data(&r, 0x5a);
	uint8_t st = status(&r);
	CHECK((st & 0x01) && !(st & 0x20), "AUX loopback answers at once, without the AUX bit");
	CHECK(read_data(&r) == 0x5a, "(so Linux's loop test fails fast)");
	command(&r, 0xa9);
	int aux_test = next_byte(&r);
	CHECK(aux_test != 0x00 && aux_test != 0xfa && aux_test != 0xff,
	      "AUX test reports an error Linux does not forgive (0x%02x)", aux_test);
	command(&r, 0xd4);
	write_data(&r, 0xff);
	CHECK(next_byte(&r) == -1, "bytes for the absent AUX device vanish");
	rig_fini(&r);
}

static void test_keyboard_commands(void)
{
	struct rig r;
	rig_init(&r);
	write_data(&r, 0xff);
	CHECK(next_byte(&r) == 0xfa && next_byte(&r) == 0xaa, "reset: ACK, self test passed");
	write_data(&r, 0xf2);
	int id[3] = { next_byte(&r), next_byte(&r), next_byte(&r) };
	CHECK(id[0] == 0xfa && id[1] == 0xab && id[2] == 0x41, "identify: ACK AB 41 (translated)");
	write_data(&r, 0xf5);
	CHECK(next_byte(&r) == 0xfa, "disable: ACK");
	write_data(&r, 0xed);
	CHECK(next_byte(&r) == 0xfa, "set LEDs: ACK");
	write_data(&r, 0x07);
	CHECK(next_byte(&r) == 0xfa, "LED argument: ACK");
	write_data(&r, 0xf3);
	write_data(&r, 0x20);
	CHECK(next_byte(&r) == 0xfa && next_byte(&r) == 0xfa, "typematic rate and argument: ACK ACK");
	write_data(&r, 0xf0);
	write_data(&r, 0x00);
	CHECK(next_byte(&r) == 0xfa && next_byte(&r) == 0xfa && next_byte(&r) == 0x41,
	      "get scan code set: 2, translated");
	write_data(&r, 0xf4);
	CHECK(next_byte(&r) == 0xfa, "enable: ACK");
	write_data(&r, 0xee);
	CHECK(next_byte(&r) == 0xee, "echo");
	write_data(&r, 0x42);
	CHECK(next_byte(&r) == 0xfe, "not a command: resend");

	command(&r, 0x60);
	write_data(&r, 0x05); /* no translation */
	write_data(&r, 0xf2);
	id[0] = next_byte(&r), id[1] = next_byte(&r), id[2] = next_byte(&r);
	CHECK(id[0] == 0xfa && id[1] == 0xab && id[2] == 0x83, "identify untranslated: ACK AB 83");
	rig_fini(&r);
}

static void test_reset_paths(void)
{
	struct rig r;
	rig_init(&r);
	command(&r, 0xfe);
	CHECK(r.vm.stops == 1 && r.vm.last_stop == VM_STOP_REBOOT, "0xFE pulses reset: reboot request");
	command(&r, 0xff);
	CHECK(r.vm.stops == 1, "0xFF pulses no line");
	rig_fini(&r);

	rig_init(&r);
	command(&r, 0xd0);
	int outport = next_byte(&r);
	CHECK(outport >= 0 && (outport & 0x03) == 0x03, "output port: reset line released, A20 on");
	command(&r, 0xd1);
	write_data(&r, 0xdf);
	CHECK(r.vm.stops == 0, "0xD1 with bit 0 set: no reset");
	command(&r, 0xd1);
	write_data(&r, 0xde);
	CHECK(r.vm.stops == 1 && r.vm.last_stop == VM_STOP_REBOOT, "0xD1 with bit 0 clear: reboot request");
	rig_fini(&r);
}

static void test_scancodes_and_irq(void)
{
	struct rig r;
	rig_init(&r);
	/* Ctrl-Alt-Del in set 1: make codes, then break codes. */
	static const uint8_t ctrl_alt_del[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
	CHECK(i8042_send_scancode(r.kbc, ctrl_alt_del, sizeof(ctrl_alt_del)) == 0, "scancodes queued");
	CHECK(r.vm.level == 1 && r.vm.rising_edges == 1, "IRQ 1 raised");
	int ok = 1;
	for (size_t i = 0; i < sizeof(ctrl_alt_del); i++) {
		ok &= read_data(&r) == ctrl_alt_del[i];
		bool more = i + 1 < sizeof(ctrl_alt_del);
		ok &= r.vm.rising_edges == (int)(more ? i + 2 : i + 1);
	}
	CHECK(ok, "bytes arrive in order, each with its own rising edge");
	CHECK(r.vm.level == 0 && !(status(&r) & 0x01), "all read: line down, buffer empty");

	command(&r, 0x60);
	write_data(&r, 0x64); /* KBDINT off */
	i8042_send_scancode(r.kbc, ctrl_alt_del, 1);
	CHECK((status(&r) & 0x01) && r.vm.level == 0, "KBDINT clear: data but no interrupt");
	read_data(&r);

	command(&r, 0xad);
	i8042_send_scancode(r.kbc, ctrl_alt_del, 2);
	CHECK(!(status(&r) & 0x01), "keyboard interface disabled: the bytes wait");
	command(&r, 0x60);
	write_data(&r, 0x45); /* KBDINT on, keyboard enabled */
	CHECK((status(&r) & 0x01) && r.vm.level == 1, "enabled: they arrive, with IRQ 1");
	read_data(&r);
	read_data(&r);

	uint8_t flood[100] = { 0 };
	CHECK(i8042_send_scancode(r.kbc, flood, sizeof(flood)) == -ENOSPC, "too much at once: -ENOSPC");
	CHECK(!(status(&r) & 0x01), "and nothing queued");
	write_data(&r, 0xf5);
	read_data(&r);
	CHECK(i8042_send_scancode(r.kbc, ctrl_alt_del, 2) == -EAGAIN, "scanning disabled: -EAGAIN");
	rig_fini(&r);
}

/*
 * What the guest's driver reads from port 0x60 after Ctrl-Alt-Del: each
 * byte announced by OBF without the AUX bit, with IRQ 1 up until the last
 * is read. false if a byte differs or comes without them.
 */
static bool guest_reads(struct rig *r, const uint8_t *want, size_t n)
{
	bool ok = true;
	for (size_t i = 0; i < n; i++) {
		uint8_t st = status(r);
		ok &= (st & 0x01) && !(st & 0x20) && r->vm.level == 1 && r->vm.last_gsi == IRQ_I8042_KBD;
		ok &= read_data(r) == want[i];
	}
	return ok && !(status(r) & 0x01) && r->vm.level == 0;
}

static void test_ctrl_alt_del(void)
{
	/* Set 1: Ctrl, Alt, Delete (E0 53) made, then broken in reverse order. */
	static const uint8_t set1[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
	static const uint8_t set2[] = { 0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14 };
	struct rig r;
	rig_init(&r);
	CHECK(i8042_send_ctrl_alt_del(r.kbc) == 0, "Ctrl-Alt-Del queued");
	CHECK(r.vm.rising_edges == 1, "IRQ 1 raised");
	CHECK(guest_reads(&r, set1, sizeof(set1)),
	      "translating (Linux's default): the guest reads 1D 38 E0 53 E0 D3 B8 9D, OBF and IRQ 1 for each");
	CHECK(r.vm.rising_edges == (int)sizeof(set1), "one rising edge per byte");

	command(&r, 0x60);
	write_data(&r, 0x25); /* XLATE off (i8042.direct): the keyboard's own set 2 */
	CHECK(i8042_send_ctrl_alt_del(r.kbc) == 0 && guest_reads(&r, set2, sizeof(set2)),
	      "not translating: set 2, 14 11 E0 71 E0 F0 71 F0 11 F0 14");

	write_data(&r, 0xf5);
	read_data(&r);
	CHECK(i8042_send_ctrl_alt_del(r.kbc) == -EAGAIN && !(status(&r) & 0x01),
	      "keyboard scanning disabled: -EAGAIN, nothing queued");
	rig_fini(&r);
}

static void test_controller_reply_before_keys(void)
{
	struct rig r;
	rig_init(&r);
	static const uint8_t key[] = { 0x1e, 0x9e };
	i8042_send_scancode(r.kbc, key, 2);
	command(&r, 0x20);
	CHECK(read_data(&r) == 0x1e, "the byte already in the buffer comes first");
	CHECK(read_data(&r) == 0x65, "then the controller's reply");
	CHECK(read_data(&r) == 0x9e, "then the keyboard again");
	rig_fini(&r);
}

/* ---- snapshots ---- */

/*
 * Mid-conversation: a keyboard command waiting for its argument, keys held
 * behind a disabled interface, two controller replies queued behind the
 * byte in the output buffer, a RAM byte written, a command awaiting data.
 */
static void drive_into_busy_state(struct rig *r)
{
	write_data(r, 0xf0);
	command(r, 0xad);
	static const uint8_t keys[] = { 0x1e, 0x9e, 0x2c };
	i8042_send_scancode(r->kbc, keys, sizeof(keys));
	command(r, 0x20);
	command(r, 0xaa);
	command(r, 0x65);
	write_data(r, 0x77);
	command(r, 0xd1);
}

/* Finishes the conversation, recording every status and byte the guest sees. */
static size_t replay(struct rig *r, uint8_t *seen)
{
	size_t n = 0;
	seen[n++] = status(r);
	write_data(r, 0xcf); /* the output port value 0xD1 waited for */
	for (int b; (b = next_byte(r)) >= 0;)
		seen[n++] = (uint8_t)b;
	command(r, 0xae);
	for (int b; (b = next_byte(r)) >= 0;)
		seen[n++] = (uint8_t)b;
	write_data(r, 0x00); /* the scan code set argument: "which set?" */
	command(r, 0xd0);
	command(r, 0x25);
	for (int b; (b = next_byte(r)) >= 0;)
		seen[n++] = (uint8_t)b;
	seen[n++] = status(r);
	return n;
}

static void test_snapshot_round_trip(void)
{
	struct rig a, b;
	rig_init(&a);
	drive_into_busy_state(&a);
	struct state_writer w;
	state_writer_init(&w);
	i8042_save(a.kbc, &w);
	struct state_reader reader;
	uint8_t *blob = state_blob_open(&w, &reader);

	rig_init(&b);
	CHECK(i8042_load(b.kbc, &reader) == 0, "snapshot: the i8042 loads into a fresh one");
	CHECK(a.vm.level == 1 && b.vm.level == 1 && b.vm.last_gsi == IRQ_I8042_KBD,
	      "IRQ 1 is driven high again (output buffer full)");
	uint8_t seen_a[32], seen_b[32];
	size_t na = replay(&a, seen_a), nb = replay(&b, seen_b);
	CHECK(na == nb && memcmp(seen_a, seen_b, na) == 0, "the rest of the conversation is the same");
	CHECK(na == 12 && seen_a[1] == 0xfa && seen_a[3] == 0x55 && seen_a[6] == 0x2c &&
	      seen_a[8] == 0xdf && seen_a[9] == 0x77 && seen_a[10] == 0x41,
	      "(replies, held keys, output port, RAM byte and scan code set all came through)");
	CHECK(a.vm.stops == 0 && b.vm.stops == 0, "no reset on the way");
	free(blob);
	rig_fini(&b);
	rig_fini(&a);
}

/* An i8042 section written by hand, for states the controller cannot reach by itself. */
struct i8042_image {
	uint8_t ram0, outport, sys_flag, last_write_was_cmd, pending_cmd, out, obf, ctrl_count;
	uint8_t kbd_arg_for, kbd_scanning, kbd_scancode_set, kbd_last_sent, kbd_count;
	size_t cut;    /* payload bytes kept, 0: all */
	uint8_t extra; /* zero bytes appended */
};

static const struct i8042_image good_image = {
	.ram0 = 0x65, .outport = 0xcf, .sys_flag = 1, .obf = 1, .ctrl_count = 8,
	.kbd_scanning = 1, .kbd_scancode_set = 2, .kbd_count = 64,
};

static int load_image(const struct i8042_image *img)
{
	struct state_writer w;
	state_writer_init(&w);
	state_begin(&w, STATE_TAG_I8042, 0);
	size_t start = w.len;
	uint8_t ram[32] = { img->ram0 };
	state_put_bytes(&w, ram, sizeof(ram));
	const uint8_t head[] = { img->outport, img->sys_flag, img->last_write_was_cmd,
				 img->pending_cmd, img->out, img->obf, img->ctrl_count };
	state_put_bytes(&w, head, sizeof(head));
	for (unsigned i = 0; i < img->ctrl_count; i++)
		state_put_u8(&w, 0x55);
	const uint8_t kbd[] = { img->kbd_arg_for, img->kbd_scanning, img->kbd_scancode_set,
				img->kbd_last_sent, img->kbd_count };
	state_put_bytes(&w, kbd, sizeof(kbd));
	for (unsigned i = 0; i < img->kbd_count + img->extra; i++)
		state_put_u8(&w, 0x1e);
	if (img->cut)
		w.len = start + img->cut;
	state_end(&w);
	struct state_reader reader;
	uint8_t *blob = state_blob_open(&w, &reader);
	struct rig b;
	rig_init(&b);
	command(&b, 0x61);
	write_data(&b, 0x33);
	int ret = i8042_load(b.kbc, &reader);
	command(&b, 0x21);
	bool untouched = read_data(&b) == 0x33 && b.vm.set_irq_calls == 2;
	rig_fini(&b);
	free(blob);
	return ret == 0 || untouched ? ret : -1;
}

static void test_snapshot_refusals(void)
{
	struct i8042_image img = good_image;
	CHECK(load_image(&img) == 0, "snapshot: the baseline hand-made state loads");
	img.obf = 0;
	img.ctrl_count = 0;
	img.ram0 = 0x65 | 0x10;
	CHECK(load_image(&img) == 0, "an empty output buffer with keys behind a disabled interface loads");

	static const struct { const char *what; struct i8042_image img; } bad[] = {
		{ "9 controller replies queued", { .obf = 1, .ctrl_count = 9, .kbd_scancode_set = 2 } },
		{ "65 keyboard bytes queued", { .obf = 1, .kbd_count = 65, .kbd_scancode_set = 2 } },
		{ "a pending command without a data byte", { .pending_cmd = 0xaa, .kbd_scancode_set = 2 } },
		{ "a keyboard command without an argument", { .kbd_arg_for = 0xf4, .kbd_scancode_set = 2 } },
		{ "scan code set 0", { .kbd_scancode_set = 0 } },
		{ "scan code set 4", { .kbd_scancode_set = 4 } },
		{ "a reply waiting behind an empty buffer", { .ctrl_count = 1, .kbd_scancode_set = 2 } },
		{ "keys waiting behind an empty buffer", { .kbd_count = 1, .kbd_scancode_set = 2 } },
		{ "a flag that is not a bool", { .obf = 2, .kbd_scancode_set = 2 } },
		{ "a section cut inside the keyboard queue", { .obf = 1, .kbd_count = 4, .kbd_scancode_set = 2,
							      .cut = 32 + 7 + 5 + 2 } },
		{ "a byte too many", { .kbd_scancode_set = 2, .extra = 1 } },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(load_image(&bad[i].img) == -EINVAL, "refused, device untouched: %s", bad[i].what);

	struct state_reader reader;
	uint8_t *blob = state_blob_without_devices(&reader);
	struct rig b;
	rig_init(&b);
	CHECK(i8042_load(b.kbc, &reader) == -EINVAL, "refused: no i8042 section");
	rig_fini(&b);
	free(blob);
}

int main(void)
{
	test_controller_probe();
	test_no_aux_port();
	test_keyboard_commands();
	test_reset_paths();
	test_scancodes_and_irq();
	test_controller_reply_before_keys();
	test_ctrl_alt_del();
	test_snapshot_round_trip();
	test_snapshot_refusals();
	return tap_finish();
}
