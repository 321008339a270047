/*
 * virtio-console (virtio 1.2 §5.3), single port. See console.h for the
 * threads, the backpressure in both directions and what a reset keeps.
 *
 * The transmitq's readable bytes are the port's output (§5.3.6.2); its
 * writable descriptors, if any, are ignored and chains go back with len 0.
 * Receive chains get input in their writable bytes only; one without
 * writable bytes is given back empty and counted (bad_chains), as the
 * ring itself is fine. So is a chain of either queue with a buffer the
 * IOMMU refused (dma_fault): none of its bytes is read or written.
 */
#include "devices/virtio/console.h"

#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "migration/state.h"
#include "virtio/virtio.h"

#define VIRTIO_ID_CONSOLE 3

/* Feature bits (§5.3.3). */
#define VIRTIO_CONSOLE_F_SIZE        0
#define VIRTIO_CONSOLE_F_MULTIPORT   1 /* not offered */
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2

/* Config space offsets (§5.3.4). */
#define CFG_COLS         0
#define CFG_ROWS         2
#define CFG_MAX_NR_PORTS 4
#define CFG_EMERG_WR     8

static struct virtio_console *to_con(struct virtio_device *vd) { return vd->opaque; }

static void complain(struct virtio_console *con, const char *what)
{
	if (log_limit_allow(&con->log_limit))
		log_warn("virtio-console: %s", what);
}

/* virtq_pop, looking once more after publishing avail_event (§2.7.10). */
static int pop(struct virtq *vq, struct virtq_chain *chain)
{
	int ret = virtq_pop(vq, chain);
	if (ret == 0 && vq->event_idx) {
		virtq_publish_avail_event(vq);
		ret = virtq_pop(vq, chain);
	}
	return ret;
}

static void broken(struct virtio_console *con, bool *flag, const char *queue)
{
	*flag = true;
	if (log_limit_allow(&con->log_limit))
		log_warn("virtio-console: malformed %s ring", queue);
	virtio_device_needs_reset(&con->vd);
}

/* A chain with a buffer the IOMMU refused: counted, and given back empty by the caller. */
static bool refused(struct virtio_console *con, const struct virtq_chain *c)
{
	if (c->dma_fault) {
		con->bad_chains++;
		complain(con, "the IOMMU refused a buffer");
	}
	return c->dma_fault;
}

/* --- output: transmitq --- */

/*
 * Writes what is left of the held chain. True when all of it went out;
 * false when the backend took less (on_output_space will kick us).
 */
static bool write_held(struct virtio_console *con)
{
	const struct virtq_chain *c = &con->tx_chain;
	uint64_t skip = con->tx_done;
	for (unsigned i = 0; i < c->count && !c->bufs[i].device_writable; i++) {
		const struct virtq_buf *b = &c->bufs[i];
		if (skip >= b->len) {
			skip -= b->len;
			continue;
		}
		size_t want = b->len - (size_t)skip;
		size_t n = chardev_write(con->cd, b->host + skip, want);
		if (n > want)
			n = want;
		con->tx_done += n;
		con->bytes_out += n;
		if (n < want)
			return false;
		skip = 0;
	}
	return true;
}

static void serve_tx(struct virtio_console *con, struct virtq *vq)
{
	bool pushed = false;
	while (!con->tx_broken) {
		if (!con->tx_held) {
			int ret = pop(vq, &con->tx_chain);
			if (ret < 0) {
				broken(con, &con->tx_broken, "transmit");
				break;
			}
			if (ret == 0)
				break;
			con->tx_held = true; /* tx_done: 0, or what was written before a quiesce */
		}
		if (!refused(con, &con->tx_chain) && !write_held(con))
			break; /* backend full: keep the chain until on_output_space */
		con->tx_held = false;
		con->tx_done = 0;
		virtq_push(vq, con->tx_chain.head, 0);
		pushed = true;
	}
	if (pushed && virtq_should_notify(vq))
		virtio_notify_queue(&con->vd, VIRTIO_CONSOLE_TXQ);
}

/* --- input: receiveq --- */

/* Moves buffered input into the chain's writable bytes; returns how many. */
static uint32_t fill_rx(struct virtio_console *con, const struct virtq_chain *c)
{
	uint32_t written = 0;
	pthread_mutex_lock(&con->lock);
	for (unsigned i = 0; i < c->count && con->input_len; i++) {
		const struct virtq_buf *b = &c->bufs[i];
		if (!b->device_writable)
			continue;
		uint32_t off = 0;
		while (off < b->len && con->input_len) {
			size_t n = VIRTIO_CONSOLE_INPUT_BUF - con->input_head; /* contiguous */
			if (n > con->input_len)
				n = con->input_len;
			if (n > b->len - off)
				n = b->len - off;
			memcpy(b->host + off, con->input + con->input_head, n);
			con->input_head = (con->input_head + n) % VIRTIO_CONSOLE_INPUT_BUF;
			con->input_len -= n;
			off += (uint32_t)n;
		}
		written += off;
	}
	pthread_mutex_unlock(&con->lock);
	return written;
}

static size_t input_pending(struct virtio_console *con)
{
	pthread_mutex_lock(&con->lock);
	size_t n = con->input_len;
	pthread_mutex_unlock(&con->lock);
	return n;
}

static void serve_rx(struct virtio_console *con, struct virtq *vq)
{
	bool pushed = false;
	while (!con->rx_broken && input_pending(con)) {
		int ret = pop(vq, &con->rx_chain);
		if (ret < 0) {
			broken(con, &con->rx_broken, "receive");
			break;
		}
		if (ret == 0)
			break; /* no buffers: the input waits for the driver's next kick */
		uint32_t written = 0;
		if (refused(con, &con->rx_chain)) {
			/* back empty: the input waits for the next chain */
		} else if (con->rx_chain.writable_len == 0) {
			con->bad_chains++;
			complain(con, "receive buffer without writable bytes");
		} else {
			written = fill_rx(con, &con->rx_chain);
			con->bytes_in += written;
		}
		virtq_push(vq, con->rx_chain.head, written);
		pushed = true;
	}
	if (pushed && virtq_should_notify(vq))
		virtio_notify_queue(&con->vd, VIRTIO_CONSOLE_RXQ);

	/* Emptied: let the backend resend what we refused. */
	pthread_mutex_lock(&con->lock);
	bool resume = con->input_refused && con->input_len == 0;
	if (resume)
		con->input_refused = false;
	pthread_mutex_unlock(&con->lock);
	if (resume)
		chardev_input_ready(con->cd);
}

void virtio_console_serve(struct virtio_device *vd, unsigned queue)
{
	struct virtio_console *con = to_con(vd);
	if (queue >= vd->nr_queues || !vd->queues[queue].enabled)
		return;
	if (queue == VIRTIO_CONSOLE_TXQ)
		serve_tx(con, &vd->queues[queue].vq);
	else
		serve_rx(con, &vd->queues[queue].vq);
}

/* --- the backend's callbacks (its I/O thread): no ring access here --- */

static size_t con_on_input(void *dev, const uint8_t *buf, size_t len)
{
	struct virtio_console *con = dev;
	pthread_mutex_lock(&con->lock);
	size_t room = VIRTIO_CONSOLE_INPUT_BUF - con->input_len;
	size_t take = len < room ? len : room;
	for (size_t done = 0; done < take;) {
		size_t tail = (con->input_head + con->input_len) % VIRTIO_CONSOLE_INPUT_BUF;
		size_t n = VIRTIO_CONSOLE_INPUT_BUF - tail;
		if (n > take - done)
			n = take - done;
		memcpy(con->input + tail, buf + done, n);
		con->input_len += n;
		done += n;
	}
	if (take < len)
		con->input_refused = true;
	pthread_mutex_unlock(&con->lock);
	if (take)
		virtio_kick_queue(&con->vd, VIRTIO_CONSOLE_RXQ);
	return take;
}

static void con_on_output_space(void *dev)
{
	struct virtio_console *con = dev;
	virtio_kick_queue(&con->vd, VIRTIO_CONSOLE_TXQ);
}

/* --- configuration space --- */

static void put_le16(uint8_t *p, uint16_t v) { v = htole16(v); memcpy(p, &v, 2); }
static void put_le32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }

static void con_config_read(struct virtio_device *vd, uint64_t offset, void *data, uint32_t len)
{
	struct virtio_console *con = to_con(vd);
	uint8_t cfg[VIRTIO_CONSOLE_CONFIG_SIZE] = { 0 };
	pthread_mutex_lock(&con->lock);
	put_le16(cfg + CFG_COLS, con->cols);
	put_le16(cfg + CFG_ROWS, con->rows);
	pthread_mutex_unlock(&con->lock);
	put_le32(cfg + CFG_MAX_NR_PORTS, 1);
	/* emerg_wr is write-only: reads 0. */
	memset(data, 0, len);
	if (offset < sizeof(cfg))
		memcpy(data, cfg + offset, len < sizeof(cfg) - offset ? len : sizeof(cfg) - offset);
}

/*
 * Only emerg_wr is writable: its low byte goes to the backend, even before
 * the driver is set up (§5.3.4). A full backend drops it: the vCPU never waits.
 */
static void con_config_write(struct virtio_device *vd, uint64_t offset, const void *data,
			     uint32_t len)
{
	struct virtio_console *con = to_con(vd);
	if (offset > CFG_EMERG_WR || CFG_EMERG_WR - offset >= len)
		return;
	uint8_t byte = ((const uint8_t *)data)[CFG_EMERG_WR - offset];
	size_t n = chardev_write(con->cd, &byte, 1);
	pthread_mutex_lock(&con->lock);
	con->emerg_bytes += n ? 1 : 0;
	pthread_mutex_unlock(&con->lock);
}

/* The configuration changed: a new generation and, once running, an interrupt. */
static void config_changed(struct virtio_console *con, bool bump)
{
	struct virtio_device *vd = &con->vd;
	pthread_mutex_lock(&vd->lock);
	if (bump)
		vd->config_generation++;
	bool running = vd->status & VIRTIO_STATUS_DRIVER_OK;
	uint16_t vector = vd->config_vector;
	pthread_mutex_unlock(&vd->lock);
	if (running && vd->transport.notify_config)
		vd->transport.notify_config(vd->transport.ctx, vector);
}

void virtio_console_set_size(struct virtio_console *con, uint16_t cols, uint16_t rows)
{
	pthread_mutex_lock(&con->lock);
	bool changed = (cols && cols != con->cols) || (rows && rows != con->rows);
	if (cols)
		con->cols = cols;
	if (rows)
		con->rows = rows;
	pthread_mutex_unlock(&con->lock);
	if (changed)
		config_changed(con, true);
}

int virtio_console_set_size_from_fd(struct virtio_console *con, int fd)
{
	struct winsize ws;
	if (!isatty(fd))
		return -ENOTTY;
	if (ioctl(fd, TIOCGWINSZ, &ws) != 0)
		return -errno;
	virtio_console_set_size(con, ws.ws_col, ws.ws_row);
	return 0;
}

/* --- lifecycle --- */

/* Forgets the output chain in progress: after a reset the driver owns it again. */
static void forget_queues(struct virtio_console *con)
{
	con->tx_held = false;
	con->tx_done = 0;
	con->tx_broken = con->rx_broken = false;
}

static int con_activate(struct virtio_device *vd)
{
	struct virtio_console *con = to_con(vd);
	forget_queues(con);
	int ret = virtio_worker_start(&con->worker, vd, virtio_console_serve);
	if (ret < 0)
		return ret;
	if (input_pending(con))
		virtio_kick_queue(vd, VIRTIO_CONSOLE_RXQ); /* kept across a reset */
	/*
	 * Linux reads cols and rows only on a configuration change: announce
	 * one (it defers it until its probe is done).
	 */
	if (virtio_has_feature(vd, VIRTIO_CONSOLE_F_SIZE))
		config_changed(con, false);
	return 0;
}

static void con_reset(struct virtio_device *vd)
{
	struct virtio_console *con = to_con(vd);
	virtio_worker_stop(&con->worker);
	forget_queues(con);
}

/* --- snapshots and migration --- */

/*
 * An output chain the backend had no room for goes back to the ring: the
 * next pop takes it again, here or in the process a snapshot is loaded
 * in, and skips the tx_done bytes already written.
 */
static void con_quiesce(struct virtio_device *vd)
{
	struct virtio_console *con = to_con(vd);
	virtio_worker_stop(&con->worker);
	if (con->tx_held)
		virtq_unpop(&vd->queues[VIRTIO_CONSOLE_TXQ].vq, 1);
	con->tx_held = false;
}

/* Buffered input waits for its kick from the core; a new terminal's size is announced. */
static int con_unquiesce(struct virtio_device *vd)
{
	struct virtio_console *con = to_con(vd);
	int ret = virtio_worker_start(&con->worker, vd, virtio_console_serve);
	if (ret == 0 && con->resized)
		config_changed(con, true);
	con->resized = false;
	return ret;
}

/*
 * Section VCON: u64 tx_done (bytes of the next output chain already
 * written), u16 cols, u16 rows (the size the guest was told), u32 length
 * and the bytes of host input not yet given to the guest, oldest first.
 */
static void con_save(struct virtio_device *vd, struct state_writer *w, uint32_t instance)
{
	struct virtio_console *con = to_con(vd);
	state_begin(w, STATE_TAG_VIRTIO_CONSOLE, instance);
	state_put_u64(w, con->tx_done);
	pthread_mutex_lock(&con->lock);
	state_put_u16(w, con->cols);
	state_put_u16(w, con->rows);
	size_t first = VIRTIO_CONSOLE_INPUT_BUF - con->input_head; /* the ring may wrap */
	if (first > con->input_len)
		first = con->input_len;
	state_put_u32(w, (uint32_t)con->input_len);
	state_put_bytes(w, con->input + con->input_head, first);
	state_put_bytes(w, con->input, con->input_len - first);
	pthread_mutex_unlock(&con->lock);
	state_end(w);
}

/*
 * Saved input goes before what this process's backend has given since;
 * what does not fit is dropped (with a line). Caller holds con->lock.
 */
static void prepend_input(struct virtio_console *con, const uint8_t *buf, size_t len)
{
	size_t room = VIRTIO_CONSOLE_INPUT_BUF - con->input_len;
	if (len > room) {
		log_warn("virtio-console: %zu bytes of saved input dropped: the buffer is full", len - room);
		len = room;
	}
	con->input_head = (con->input_head + VIRTIO_CONSOLE_INPUT_BUF - len) % VIRTIO_CONSOLE_INPUT_BUF;
	for (size_t i = 0; i < len; i++)
		con->input[(con->input_head + i) % VIRTIO_CONSOLE_INPUT_BUF] = buf[i];
	con->input_len += len;
}

/*
 * The console keeps this process's size (its terminal's): if the guest
 * was told another, unquiesce announces a configuration change.
 */
static int con_load(struct virtio_device *vd, const struct state_reader *r, uint32_t instance)
{
	struct virtio_console *con = to_con(vd);
	struct state_section s;
	uint8_t input[VIRTIO_CONSOLE_INPUT_BUF];
	if (state_find(r, STATE_TAG_VIRTIO_CONSOLE, instance, &s) < 0) {
		log_error("snapshot: virtio device %u: no saved virtio-console state", instance);
		return -EINVAL;
	}
	uint64_t tx_done = state_get_u64(&s);
	uint16_t cols = state_get_u16(&s), rows = state_get_u16(&s);
	uint32_t input_len = state_get_u32(&s);
	if (input_len <= sizeof(input))
		state_get_bytes(&s, input, input_len);
	if (input_len > sizeof(input) || state_section_finish(&s) < 0) {
		log_error("snapshot: virtio device %u: the saved virtio-console state is truncated or "
			  "malformed", instance);
		return -EINVAL;
	}
	/* §2.7.5.2: a chain holds at most 2^32 bytes. */
	if (tx_done > (1ull << 32)) {
		log_error("snapshot: virtio device %u: %llu bytes of an output chain written, more than "
			  "a chain holds", instance, (unsigned long long)tx_done);
		return -EINVAL;
	}
	con->tx_done = tx_done;
	pthread_mutex_lock(&con->lock);
	con->resized = cols != con->cols || rows != con->rows;
	prepend_input(con, input, input_len);
	pthread_mutex_unlock(&con->lock);
	return 0;
}

static const struct virtio_device_ops con_ops = {
	.config_read = con_config_read,
	.config_write = con_config_write,
	.activate = con_activate,
	.reset = con_reset,
	.quiesce = con_quiesce,
	.unquiesce = con_unquiesce,
	.save = con_save,
	.load = con_load,
};

int virtio_console_init(struct virtio_console *con, struct chardev *cd,
			const struct guest_mem *mem)
{
	memset(con, 0, sizeof(*con));
	if (!cd)
		return -EINVAL;
	con->log_limit = (struct log_limit)LOG_LIMIT_INIT(16);
	con->worker.epoll_fd = con->worker.stop_fd = -1;
	con->cols = VIRTIO_CONSOLE_DEFAULT_COLS;
	con->rows = VIRTIO_CONSOLE_DEFAULT_ROWS;
	uint64_t features = (1ull << VIRTIO_CONSOLE_F_SIZE) | (1ull << VIRTIO_CONSOLE_F_EMERG_WRITE) |
			    (1ull << VIRTIO_F_EVENT_IDX) | (1ull << VIRTIO_F_INDIRECT_DESC);
	int ret = virtio_device_init(&con->vd, VIRTIO_ID_CONSOLE, features, 2,
				     VIRTIO_CONSOLE_QUEUE_SIZE, mem, &con_ops, con);
	if (ret < 0)
		return ret;
	con->vd.config_size = VIRTIO_CONSOLE_CONFIG_SIZE;
	pthread_mutex_init(&con->lock, NULL);
	con->cd = cd; /* from here on, destroy undoes init */
	struct chardev_client client = { .on_input = con_on_input,
					 .on_output_space = con_on_output_space, .dev = con };
	chardev_attach(cd, &client);
	return 0;
}

void virtio_console_destroy(struct virtio_console *con)
{
	if (!con->cd)
		return;
	chardev_attach(con->cd, NULL); /* waits for a callback in flight */
	virtio_worker_stop(&con->worker);
	virtio_device_destroy(&con->vd);
	pthread_mutex_destroy(&con->lock);
	con->cd = NULL;
}
