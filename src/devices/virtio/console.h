/*
 * virtio-console (virtio 1.2 §5.3): one port, no VIRTIO_CONSOLE_F_MULTIPORT,
 * on a character backend (backends/chardev.h). Linux calls it hvc0.
 *
 * Queue 0 (receiveq) carries host input to the guest, queue 1 (transmitq)
 * the guest's output to the host. Only the worker thread (virtio/worker.h)
 * touches the rings; the backend's callbacks, which run on the backend's
 * I/O thread, only kick the worker:
 *
 *  - output: the worker writes each chain's readable bytes with
 *    chardev_write. When the backend takes fewer, the chain stays with the
 *    device (not pushed) and the queue waits for on_output_space, which
 *    kicks the transmitq; the worker resumes inside that chain.
 *  - input: on_input copies what fits into a 4 KiB device buffer and kicks
 *    the receiveq; the worker moves the buffer into the guest's receive
 *    buffers. Input that does not fit is refused (the backend holds it) and
 *    chardev_input_ready is called once the worker has emptied the buffer.
 *    Without receive buffers input waits; it is never dropped.
 *
 * Offered: VIRTIO_CONSOLE_F_SIZE (cols x rows, 80x25 unless set), and
 * VIRTIO_CONSOLE_F_EMERG_WRITE (a byte written to emerg_wr goes straight to
 * the backend, from the vCPU thread, at any time; dropped if the backend is
 * full).
 *
 * Reset forgets a partly written output chain (the driver owns it again)
 * but keeps buffered input: it was typed for the guest, which reads it
 * once its driver is back. Output written before the reset stays written.
 *
 * Snapshots (virtio_device_quiesce/save/load) keep both: a partly written
 * chain goes back to the ring with the count of bytes already written,
 * which the next pop skips, and the buffered input moves with the device.
 *
 * A transport wraps con->vd, e.g. virtio_pci_init(&vp, &con->vd, 0x078000, vm).
 *
 * Locks: con->lock (input buffer, size) is a leaf: it is never held while
 * calling the backend or taking vd->lock. The backend's callbacks only take
 * con->lock and write an eventfd, so chardev_attach(cd, NULL) never waits long.
 */
#ifndef VMON_DEVICES_VIRTIO_CONSOLE_H
#define VMON_DEVICES_VIRTIO_CONSOLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "backends/chardev.h"
#include "util/log.h"
#include "virtio/device.h"
#include "virtio/worker.h"

#define VIRTIO_CONSOLE_RXQ 0            /* receiveq: port 0 input */
#define VIRTIO_CONSOLE_TXQ 1            /* transmitq: port 0 output */
#define VIRTIO_CONSOLE_QUEUE_SIZE 256
#define VIRTIO_CONSOLE_INPUT_BUF 4096   /* host input the device holds */
#define VIRTIO_CONSOLE_CONFIG_SIZE 12   /* cols, rows, max_nr_ports, emerg_wr */
#define VIRTIO_CONSOLE_DEFAULT_COLS 80
#define VIRTIO_CONSOLE_DEFAULT_ROWS 25

struct virtio_console {
	struct virtio_device vd;
	struct virtio_worker worker;
	struct chardev *cd;
	struct log_limit log_limit;

	/* The worker's own state (no lock; reset touches it with the worker stopped). */
	struct virtq_chain tx_chain;   /* the output chain being written */
	bool tx_held;                  /* tx_chain is popped and not yet pushed */
	uint64_t tx_done;              /* its readable bytes written; kept if a quiesce put it back */
	bool tx_broken, rx_broken;     /* virtq_pop refused the ring: NEEDS_RESET set */
	struct virtq_chain rx_chain;
	bool resized;                  /* a load found the guest told another size */

	/* Counters, written only by the worker. */
	uint64_t bytes_out;            /* guest output accepted by the backend */
	uint64_t bytes_in;             /* host input given to the guest */
	uint64_t bad_chains;           /* receive chains without writable bytes; chains the IOMMU refused */

	/* Protects the fields below: the backend's thread, the worker, vCPUs. */
	pthread_mutex_t lock;
	uint8_t input[VIRTIO_CONSOLE_INPUT_BUF];
	size_t input_head, input_len;  /* a ring: oldest byte, count */
	bool input_refused;            /* on_input took less: owe chardev_input_ready */
	uint16_t cols, rows;
	uint64_t emerg_bytes;          /* bytes written through emerg_wr */
};

/*
 * Sets up the device and attaches it as cd's client (cd must not be NULL
 * and must outlive the device). 0 or -errno.
 */
int virtio_console_init(struct virtio_console *con, struct chardev *cd,
			const struct guest_mem *mem);
/* Detaches from the backend (waiting for callbacks in flight), stops the worker, frees. */
void virtio_console_destroy(struct virtio_console *con);

/*
 * Sets the console size (VIRTIO_CONSOLE_F_SIZE); 0 keeps that dimension.
 * Once the driver is running it gets a configuration change interrupt.
 * Any thread (takes con->lock, then vd->lock, one after the other); not
 * from a signal handler: on SIGWINCH, note it and call this from a thread.
 */
void virtio_console_set_size(struct virtio_console *con, uint16_t cols, uint16_t rows);
/*
 * The size of the terminal on fd (TIOCGWINSZ), if fd is a terminal that
 * knows it, through virtio_console_set_size; else nothing changes.
 * Returns 0, or -errno (-ENOTTY: not a terminal).
 */
int virtio_console_set_size_from_fd(struct virtio_console *con, int fd);

/*
 * Serves `queue` once: the worker's job, exposed for tests (call with the
 * worker not running).
 */
void virtio_console_serve(struct virtio_device *vd, unsigned queue);

#endif
