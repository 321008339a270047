/*
 * A character backend: the host side of a serial port or console.
 *
 * Output never blocks the caller (a vCPU thread): bytes go into a buffer
 * that an I/O thread drains; when it is full, chardev_write accepts fewer
 * bytes and the device tells its guest "transmitter busy". Input arrives on
 * the I/O thread and is handed to the device through `on_input`.
 */
#ifndef VMON_BACKENDS_CHARDEV_H
#define VMON_BACKENDS_CHARDEV_H

#include <stddef.h>
#include <stdint.h>

struct chardev;

struct chardev_client {
	/* Bytes from the host; returns how many the device took (the rest wait). */
	size_t (*on_input)(void *dev, const uint8_t *buf, size_t len);
	/* Output space became free again after a short write. */
	void (*on_output_space)(void *dev);
	void *dev;
};

/* Queues up to `len` bytes for output; returns how many were queued. */
size_t chardev_write(struct chardev *cd, const uint8_t *buf, size_t len);

/* Connects the device that consumes input and output-space events. */
void chardev_attach(struct chardev *cd, const struct chardev_client *client);

/* Tells the backend the device can take input again after a partial on_input. */
void chardev_input_ready(struct chardev *cd);

#endif
