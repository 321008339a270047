/*
 * The PS/2 keyboard controller (Intel 8042 as found in PC/AT compatibles)
 * with a keyboard attached and no auxiliary (mouse) port: enough for
 * Linux's i8042 and atkbd probes, and the reset line the guest pulses to
 * reboot.
 */
#ifndef VMON_DEVICES_LEGACY_I8042_H
#define VMON_DEVICES_LEGACY_I8042_H

#include <stddef.h>
#include <stdint.h>

#include "bus/bus.h"
#include "devices/device.h"

struct i8042_config {
	const struct vm_control *vm; /* required; must outlive the device */
	uint32_t gsi;                /* keyboard interrupt: IRQ_I8042_KBD */
};

struct state_reader;
struct state_writer;
struct i8042;

/* Returns NULL with errno set (EINVAL, ENOMEM). */
struct i8042 *i8042_create(const struct i8042_config *cfg);

/* Claims PORT_I8042_DATA and PORT_I8042_CMD; 0 or a negative errno. */
int i8042_register(struct i8042 *dev, struct bus *pio);

/* Unregisters the ports and frees. */
void i8042_destroy(struct i8042 *dev);

/*
 * Types keys: queues `len` bytes as if the keyboard sent them. They reach
 * the guest verbatim, so they must be in the scan code set the guest reads
 * from port 0x60: set 1 while the controller translates (command byte bit
 * 6, the default, which Linux keeps), set 2 otherwise. All or nothing:
 * returns 0, -ENOSPC if the keyboard buffer lacks room, or -EAGAIN while
 * the guest has keyboard scanning disabled (command 0xF5).
 * Callable from any thread.
 */
int i8042_send_scancode(struct i8042 *dev, const uint8_t *bytes, size_t len);

/*
 * Presses and releases Ctrl-Alt-Del, in the scan code set the guest reads
 * now (set 1 while the controller translates, set 2 otherwise). Returns
 * like i8042_send_scancode. Callable from any thread.
 */
int i8042_send_ctrl_alt_del(struct i8042 *dev);

/*
 * Snapshots: section STATE_TAG_I8042, instance 0. A load refuses, with one
 * log line and -EINVAL, a missing or malformed section and any state the
 * controller or keyboard could not have reached; it then drives IRQ 1 to
 * the restored level.
 */
void i8042_save(struct i8042 *dev, struct state_writer *w);
int i8042_load(struct i8042 *dev, const struct state_reader *r);

#endif
