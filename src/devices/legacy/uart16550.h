/*
 * A 16550A UART (NS PC16550D datasheet): the guest's serial console.
 *
 * Transmitted bytes go to a character backend; received bytes come from it.
 * The UART is entered from vCPU threads (port I/O) and from the backend's
 * I/O thread (on_input, on_output_space).
 */
#ifndef VMON_DEVICES_LEGACY_UART16550_H
#define VMON_DEVICES_LEGACY_UART16550_H

#include <stdint.h>

#include "backends/chardev.h"
#include "bus/bus.h"
#include "devices/device.h"

/* The eight registers at port_base .. port_base + 7. */
#define UART16550_PORT_COUNT 8

struct uart16550_config {
	const struct vm_control *vm; /* required; must outlive the UART */
	uint32_t gsi;                /* interrupt line, e.g. IRQ_COM1 */
	uint16_t port_base;          /* e.g. PORT_COM1 */
	/*
	 * Host side, or NULL: output is then dropped and no input arrives.
	 * The UART attaches itself as the chardev's client.
	 */
	struct chardev *chardev;
};

struct state_reader;
struct state_writer;
struct uart16550;

/* Returns NULL with errno set (EINVAL, ENOMEM). */
struct uart16550 *uart16550_create(const struct uart16550_config *cfg);

/* Claims the eight ports on `pio`; 0 or a negative errno from bus_register. */
int uart16550_register(struct uart16550 *uart, struct bus *pio);

/*
 * Unregisters the ports, detaches from the chardev (waiting for a callback
 * in flight), frees. No vCPU may be running guest code that reaches it.
 */
void uart16550_destroy(struct uart16550 *uart);

/*
 * Snapshots: section STATE_TAG_UART, instance 0. A load refuses, with one
 * log line and -EINVAL, a missing or malformed section and any state the
 * UART could not have reached; it then drives the interrupt line to the
 * restored level and offers held output to the chardev again.
 */
void uart16550_save(struct uart16550 *u, struct state_writer *w);
int uart16550_load(struct uart16550 *u, const struct state_reader *r);

#endif
