#include "devices/virtio/net.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "devices/virtio/net_hdr.h"
#include "devices/virtio/net_vhost.h"
#include "migration/state.h"
#include "util/log.h"
#include "virtio/chain.h"
#include "virtio/virtio.h"

#define VIRTIO_ID_NET 1

/* Configuration space (§5.1.4). */
#define CONFIG_MAC        0
#define CONFIG_STATUS     6
#define CONFIG_MAX_PAIRS  8
#define CONFIG_MTU        10
#define VIRTIO_NET_S_LINK_UP 1

/* The controlq (§5.1.6.5). */
#define VIRTIO_NET_OK  0
#define VIRTIO_NET_ERR 1
#define VIRTIO_NET_CTRL_MQ            4
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0

/* Frames a queue moves per turn before the worker serves the others. */
#define RX_BUDGET 256
#define TX_BUDGET 256
#define CTRL_BUDGET 64

#define RX_FRAME_SIZE (VIRTIO_NET_HDR_LEN + NET_MAX_GSO_FRAME)
/* A transmit chain as iovecs: the checked header, then the frame's buffers (IOV_MAX in all). */
#define TX_MAX_IOV 1024

static struct virtio_net *to_net(struct virtio_device *vd) { return vd->opaque; }

/* §5.1.2: without MQ the driver uses one pair, and the controlq is queue 2. */
static unsigned active_pairs(const struct virtio_net *net)
{
	return virtio_has_feature(&net->vd, VIRTIO_NET_F_MQ) ? net->nr_pairs : 1;
}

static unsigned ctrl_queue(const struct virtio_net *net) { return 2 * active_pairs(net); }
static struct virtq *queue_of(struct net_pair *p, unsigned q) { return &p->net->vd.queues[q].vq; }

/* A frame dropped for `what` (one of a few fixed sentences): logged the first time only. */
static void complain(struct virtio_net *net, const char *what, const char *detail)
{
	for (unsigned i = 0; i < net->nr_complaints; i++)
		if (net->complaints[i] == what)
			return;
	if (net->nr_complaints < VIRTIO_NET_COMPLAINTS)
		net->complaints[net->nr_complaints++] = what;
	log_warn("virtio-net %s: %s%s%s; dropped (counted; said once)",
		 net->is_tap ? net->tap.name : "(test)", what, detail ? ": " : "", detail ? detail : "");
}

/* One writer (the worker); --stats and the API read the counters while it runs. */
static void net_count(uint64_t *counter, uint64_t n)
{
	__atomic_store_n(counter, *counter + n, __ATOMIC_RELAXED);
}

static void notify_if_wanted(struct net_pair *p, unsigned q)
{
	if (virtq_should_notify(queue_of(p, q)))
		virtio_notify_queue(&p->net->vd, q);
}

/* Stops (or resumes) reading the pair's TAP queue. */
static void pause_backend(struct net_pair *p, bool paused)
{
	p->rx_paused = paused;
	virtio_worker_pause_fd(&p->net->worker, p->index, paused);
}

/* Every TAP queue out of the worker's set, so that no frame wakes it. */
static void pause_all_backends(struct virtio_net *net)
{
	for (unsigned i = 0; !net->vhost && i < active_pairs(net); i++)
		pause_backend(&net->pairs[i], true);
}

/* The driver broke the ring rules: nothing more from this device until reset. */
static void ring_broken(struct virtio_net *net)
{
	net->broken = true;
	pause_all_backends(net);
	virtio_device_needs_reset(&net->vd);
}

/*
 * The largest frame without segmentation either side may send: the MTU
 * offered when the driver took it (§5.1.4.1), else what any offload carries.
 */
static uint64_t max_frame(const struct virtio_net *net)
{
	if (!virtio_has_feature(&net->vd, VIRTIO_NET_F_MTU))
		return NET_MAX_GSO_FRAME;
	return (uint64_t)net->mtu + ETH_HEADER_LEN + ETH_VLAN_TAG_LEN;
}

/* --- the TAP going away --- */

/*
 * The error after which a TAP queue never works again: the interface was
 * deleted under it. (EIO only means the interface is down for now.)
 */
static bool backend_lost(int err)
{
	return err == EBADFD || err == EPIPE;
}

/* The link goes down once; the guest hears of it by a configuration change (§5.1.4). */
static void lose_backend(struct virtio_net *net, int err)
{
	if (net->backend_gone)
		return;
	net->backend_gone = true;
	log_warn("virtio-net %s: the network backend failed (%s); link down, frames are dropped",
		 net->is_tap ? net->tap.name : "(test)", strerror(err));
	pause_all_backends(net);
	pthread_mutex_lock(&net->vd.lock);
	net->link_up = false;
	pthread_mutex_unlock(&net->vd.lock);
	virtio_config_changed(&net->vd);
}

/* --- transmit --- */

/*
 * Sends one chain's frame: its header copied out and checked, then one
 * writev of the checked header and the frame straight from guest memory.
 */
static void transmit_chain(struct net_pair *p, const struct virtq_chain *c)
{
	struct virtio_net *net = p->net;
	uint8_t wire[VIRTIO_NET_HDR_LEN];
	if (c->dma_fault) { /* part of the frame is not the device's to read */
		complain(net, "the IOMMU refused a transmit buffer", NULL);
		net_count(&p->counters.tx_drops, 1);
		return;
	}
	if (c->readable_len < VIRTIO_NET_HDR_LEN ||
	    virtq_chain_read(c, 0, wire, sizeof(wire)) < sizeof(wire)) {
		complain(net, "transmit chain shorter than the virtio-net header", NULL);
		net_count(&p->counters.tx_drops, 1);
		return;
	}
	struct virtio_net_hdr in, out;
	net_hdr_load(&in, wire);
	uint64_t frame_len = c->readable_len - VIRTIO_NET_HDR_LEN;
	enum net_hdr_verdict v = net_hdr_check_tx(&in, net->vd.driver_features, frame_len,
						  max_frame(net), &out);
	if (v != NET_HDR_OK) {
		complain(net, "transmit header refused", net_hdr_verdict_str(v));
		net_count(&p->counters.tx_drops, 1);
		return;
	}
	if (net->backend_gone) {
		net_count(&p->counters.tx_drops, 1);
		return;
	}
	net_hdr_store(&out, wire);
	struct iovec iov[TX_MAX_IOV];
	iov[0] = (struct iovec){ .iov_base = wire, .iov_len = sizeof(wire) };
	int n = virtq_chain_slice(c, false, VIRTIO_NET_HDR_LEN, frame_len, iov + 1, TX_MAX_IOV - 1);
	if (n < 0) {
		complain(net, "transmit chain of more buffers than a writev takes", NULL);
		net_count(&p->counters.tx_drops, 1);
		return;
	}
	ssize_t sent = writev(p->fd, iov, n + 1);
	if (sent < 0) {
		int err = errno;
		net_count(&p->counters.tx_drops, 1);
		if (backend_lost(err))
			lose_backend(net, err);
		else if (err != EIO)
			complain(net, "the TAP refused a frame", strerror(err));
		return;
	}
	net_count(&p->counters.tx_packets, 1);
	net_count(&p->counters.tx_bytes, frame_len);
}

static void serve_tx(struct net_pair *p)
{
	struct virtq *vq = queue_of(p, net_tx_queue(p));
	bool pushed = false;
	for (unsigned turn = 0;; turn++) {
		if (turn == TX_BUDGET) {
			virtio_kick_queue(&p->net->vd, net_tx_queue(p)); /* the rest on the next turn */
			break;
		}
		int got = virtq_pop(vq, p->chain);
		if (got == 0) {
			/* §2.7.10: publish, then look once more, or a kick could be missed. */
			virtq_publish_avail_event(vq);
			got = virtq_pop(vq, p->chain);
			if (got == 0)
				break;
		}
		if (got < 0) {
			ring_broken(p->net);
			break;
		}
		transmit_chain(p, p->chain);
		if (virtq_push(vq, p->chain->head, 0) < 0) {
			ring_broken(p->net);
			break;
		}
		pushed = true;
	}
	if (pushed)
		notify_if_wanted(p, net_tx_queue(p));
}

/* --- receive --- */

enum rx_result { RX_DELIVERED, RX_DROPPED, RX_RETURNED, RX_NO_BUFFERS, RX_BROKEN };

/*
 * §5.1.6.3: receive buffers are device-writable, and the first holds the
 * whole header (the device writes num_buffers into it).
 */
static bool rx_chain_usable(const struct virtq_chain *c, bool first)
{
	return c->writable_len >= (first ? VIRTIO_NET_HDR_LEN : 1);
}

/*
 * A receive chain with a buffer the IOMMU refused: the frame is dropped,
 * and the n chains taken for it, that one last, go back unused (len 0,
 * shorter than any header: Linux drops such a buffer as a runt).
 */
static enum rx_result return_unused(struct net_pair *p, struct virtq *vq, struct virtq_used *used,
				    unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		used[i].len = 0;
	complain(p->net, "the IOMMU refused a receive buffer", NULL);
	return virtq_push_many(vq, used, n) < 0 ? RX_BROKEN : RX_RETURNED;
}

/*
 * Fills chains from the avail ring with the frame in p->rx_frame, as many
 * as it takes (one without MRG_RXBUF), and returns them all at once with
 * num_buffers in the first header (§5.1.6.4). Without enough buffers it
 * gives back every chain it took, untouched as far as the driver knows; a
 * frame the whole ring could not hold is dropped.
 */
static enum rx_result deliver_frame(struct net_pair *p)
{
	struct virtio_net *net = p->net;
	struct virtq *vq = queue_of(p, net_rx_queue(p));
	bool mergeable = virtio_has_feature(&net->vd, VIRTIO_NET_F_MRG_RXBUF);
	unsigned most = mergeable ? vq->size : 1; /* vq->size <= VIRTIO_NET_QUEUE_SIZE */
	struct virtq_used used[VIRTIO_NET_QUEUE_SIZE];
	size_t done = 0;
	unsigned taken = 0;
	while (done < p->rx_len && taken < most) {
		struct virtq_chain *c = taken ? p->chain : p->first_chain;
		int got = virtq_pop(vq, c);
		if (got > 0 && c->dma_fault) {
			used[taken] = (struct virtq_used){ .head = c->head };
			return return_unused(p, vq, used, taken + 1);
		}
		if (got < 0 || (got > 0 && !rx_chain_usable(c, taken == 0)))
			return RX_BROKEN;
		if (got == 0) {
			virtq_unpop(vq, (uint16_t)taken);
			return RX_NO_BUFFERS;
		}
		uint64_t room = c->writable_len;
		size_t n = room < p->rx_len - done ? (size_t)room : p->rx_len - done;
		if (virtq_chain_write(c, 0, p->rx_frame + done, (uint32_t)n) < n)
			return RX_BROKEN;
		used[taken++] = (struct virtq_used){ .head = c->head, .len = (uint32_t)n };
		done += n;
	}
	if (done < p->rx_len) {
		/* The frame does not fit the buffers the driver gives: drop it, keep them. */
		virtq_unpop(vq, (uint16_t)taken);
		complain(net, "received frame larger than the receive buffers", NULL);
		return RX_DROPPED;
	}
	uint8_t count[2] = { (uint8_t)taken, (uint8_t)(taken >> 8) }; /* num_buffers, le16 */
	virtq_chain_write(p->first_chain, 10, count, sizeof(count));
	if (virtq_push_many(vq, used, taken) < 0)
		return RX_BROKEN;
	return RX_DELIVERED;
}

/* Reads the next frame from the backend into p->rx_frame. 1, 0 (none), or -errno. */
static int read_frame(struct net_pair *p)
{
	ssize_t n;
	do
		n = read(p->fd, p->rx_frame, RX_FRAME_SIZE);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (n == 0)
		return -EPIPE; /* end of file: a socket backend whose peer left */
	p->rx_len = (size_t)n;
	return 1;
}

/* Checks the backend's header for the guest; false: drop the frame. */
static bool frame_acceptable(struct net_pair *p)
{
	struct virtio_net *net = p->net;
	if (p->rx_len < VIRTIO_NET_HDR_LEN) {
		complain(net, "received frame shorter than the virtio-net header", NULL);
		return false;
	}
	struct virtio_net_hdr h;
	net_hdr_load(&h, p->rx_frame);
	enum net_hdr_verdict v = net_hdr_check_rx(&h, net->vd.driver_features,
						  p->rx_len - VIRTIO_NET_HDR_LEN, max_frame(net), 1);
	if (v != NET_HDR_OK) {
		complain(net, "received header refused", net_hdr_verdict_str(v));
		return false;
	}
	net_hdr_store(&h, p->rx_frame);
	return true;
}

void virtio_net_receive(struct net_pair *p)
{
	struct virtio_net *net = p->net;
	bool pushed = false;
	for (unsigned turn = 0; turn < RX_BUDGET && !net->backend_gone && !net->broken; turn++) {
		if (p->rx_len == 0) {
			int got = read_frame(p);
			if (got < 0 && backend_lost(-got))
				lose_backend(net, -got);
			if (got <= 0)
				break;
			if (!frame_acceptable(p)) {
				net_count(&p->counters.rx_drops, 1);
				p->rx_len = 0;
				continue;
			}
		}
		enum rx_result r = deliver_frame(p);
		if (r == RX_BROKEN) {
			net_count(&p->counters.rx_drops, 1);
			p->rx_len = 0;
			ring_broken(net);
			break;
		}
		if (r == RX_NO_BUFFERS) {
			if (p->rx_paused)
				break; /* the driver's next kick on the receiveq resumes us */
			/*
			 * No room: wait for the driver to add buffers. It may have
			 * added them before it saw avail_event (§2.7.10), so try once
			 * more after publishing it.
			 */
			virtq_publish_avail_event(queue_of(p, net_rx_queue(p)));
			pause_backend(p, true);
			continue;
		}
		if (p->rx_paused)
			pause_backend(p, false);
		if (r == RX_DELIVERED) {
			net_count(&p->counters.rx_packets, 1);
			net_count(&p->counters.rx_bytes, p->rx_len - VIRTIO_NET_HDR_LEN);
		} else {
			net_count(&p->counters.rx_drops, 1);
		}
		pushed |= r != RX_DROPPED;
		p->rx_len = 0;
	}
	if (pushed)
		notify_if_wanted(p, net_rx_queue(p));
}

/* The driver added receive buffers: resume a paused TAP queue. */
static void serve_rx(struct net_pair *p)
{
	if (!p->rx_paused || p->net->backend_gone)
		return; /* a lost TAP stays out of the worker's set (so does a broken device's) */
	pause_backend(p, false);
	virtio_net_receive(p);
}

/* --- controlq --- */

/* §5.1.6.5.5: frames go through the first n pairs' TAP queues only. */
static void use_pairs(struct virtio_net *net, unsigned n)
{
	net->pairs_in_use = n;
	for (unsigned i = 0; net->is_tap && i < net->nr_pairs; i++)
		if (tap_set_queue_enabled(&net->tap, i, i < n) < 0)
			log_warn("virtio-net %s: cannot %s TAP queue %u", net->tap.name,
				 i < n ? "attach" : "detach", i);
}

void virtio_net_detach_backend(struct virtio_net *net)
{
	for (unsigned i = 0; net->is_tap && i < net->nr_pairs; i++)
		if (tap_set_queue_enabled(&net->tap, i, false) < 0)
			log_warn("virtio-net %s: cannot detach TAP queue %u", net->tap.name, i);
}

static uint8_t set_queue_pairs(struct virtio_net *net, const struct virtq_chain *c)
{
	uint8_t le[2];
	if (virtq_chain_read(c, 2, le, sizeof(le)) < sizeof(le))
		return VIRTIO_NET_ERR;
	uint16_t pairs = (uint16_t)(le[0] | le[1] << 8);
	/* §5.1.6.5.5: 1 ..= max_virtqueue_pairs, and only with VIRTIO_NET_F_MQ. */
	if (!virtio_has_feature(&net->vd, VIRTIO_NET_F_MQ) || pairs < 1 || pairs > net->nr_pairs)
		return VIRTIO_NET_ERR;
	use_pairs(net, pairs);
	return VIRTIO_NET_OK;
}

/* One command: class and command bytes, data, then the ack byte the device writes. */
static uint8_t control_command(struct virtio_net *net, const struct virtq_chain *c)
{
	uint8_t head[2];
	if (virtq_chain_read(c, 0, head, sizeof(head)) < sizeof(head))
		return VIRTIO_NET_ERR;
	if (head[0] == VIRTIO_NET_CTRL_MQ && head[1] == VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET)
		return set_queue_pairs(net, c);
	return VIRTIO_NET_ERR;
}

static void serve_ctrl(struct virtio_net *net)
{
	struct net_pair *p = &net->pairs[0]; /* its scratch chain: one worker thread */
	struct virtq *vq = &net->vd.queues[ctrl_queue(net)].vq;
	bool pushed = false;
	int got = 0;
	for (unsigned turn = 0;; turn++) {
		if (turn == CTRL_BUDGET) {
			virtio_kick_queue(&net->vd, ctrl_queue(net)); /* the rest on the next turn */
			break;
		}
		if ((got = virtq_pop(vq, p->chain)) <= 0)
			break;
		/* A command the IOMMU refused part of is not run, nor answered (len 0). */
		uint8_t ack = p->chain->dma_fault ? VIRTIO_NET_ERR : control_command(net, p->chain);
		if (ack != VIRTIO_NET_OK)
			net->ctrl_errors++;
		uint32_t written = p->chain->dma_fault ? 0 : virtq_chain_write(p->chain, 0, &ack, 1);
		if (virtq_push(vq, p->chain->head, written) < 0) {
			got = -EINVAL;
			break;
		}
		pushed = true;
	}
	if (got < 0)
		ring_broken(net);
	if (pushed && virtq_should_notify(vq))
		virtio_notify_queue(&net->vd, ctrl_queue(net));
}

void virtio_net_serve(struct virtio_device *vd, unsigned queue)
{
	struct virtio_net *net = to_net(vd);
	if (net->broken)
		return;
	if (queue == ctrl_queue(net))
		serve_ctrl(net);
	else if (queue < ctrl_queue(net) && queue % 2 == 0)
		serve_rx(&net->pairs[queue / 2]);
	else if (queue < ctrl_queue(net))
		serve_tx(&net->pairs[queue / 2]);
}

/* --- lifecycle --- */

static void pair_ready(void *arg)
{
	virtio_net_receive(arg);
}

/*
 * With no worker: frames read from the TAP and not yet delivered are
 * dropped (counted), and every TAP queue counts as watched, as it is by
 * the next worker.
 */
static void drop_waiting_frames(struct virtio_net *net)
{
	for (unsigned i = 0; i < net->nr_pairs; i++) {
		struct net_pair *p = &net->pairs[i];
		if (p->rx_len)
			net_count(&p->counters.rx_drops, 1);
		p->rx_len = 0;
		p->rx_paused = false;
	}
}

/* Back to the state after power-on: nothing pending, vhost-net stopped. */
static void forget_all(struct virtio_net *net)
{
	net->broken = false;
	drop_waiting_frames(net);
	for (unsigned i = 0; net->vhost && i < net->nr_pairs; i++)
		net_vhost_stop_pair(&net->pairs[i]);
}

/* A TAP deleted meanwhile only takes the link down: the driver did nothing wrong. */
static int set_offloads(struct virtio_net *net)
{
	if (!net->is_tap || net->backend_gone)
		return 0;
	int ret = tap_set_offloads(&net->tap, net_tap_offloads(net->vd.driver_features));
	if (ret < 0 && backend_lost(-ret)) {
		lose_backend(net, -ret);
		return 0;
	}
	if (ret < 0)
		log_error("virtio-net %s: the TAP refuses the guest's offloads: %s", net->tap.name,
			  strerror(-ret));
	return ret;
}

/* What the worker waits on: the relays on vhost-net, the TAP queues otherwise. */
static unsigned worker_fds(struct virtio_net *net, struct virtio_worker_fd *fds)
{
	unsigned n = 0;
	for (unsigned i = 0; i < active_pairs(net); i++) {
		struct net_pair *p = &net->pairs[i];
		if (!net->vhost && net->backend_gone)
			continue; /* a deleted TAP's fd reports an error for ever */
		if (!net->vhost) {
			fds[n++] = (struct virtio_worker_fd){ .fd = p->fd, .ready = pair_ready, .arg = p };
			continue;
		}
		n += net_vhost_relay_fds(p, fds + n);
	}
	return n;
}

/*
 * Serves the queues from the indices in vd->queues on the current path:
 * the TAP's offloads, vhost-net's rings, the worker. 0, or -errno with
 * nothing left running.
 */
static int start_data_path(struct virtio_net *net)
{
	if (net->vhost && !net_vhost_usable(net)) {
		log_info("virtio-net %s: behind the IOMMU, vmon moves the frames itself",
			 net->is_tap ? net->tap.name : "(test)");
		net_switch_path(net, false);
	}
	int ret = set_offloads(net);
	for (unsigned i = 0; ret == 0 && net->vhost && i < active_pairs(net); i++) {
		ret = net_vhost_start_pair(&net->pairs[i]);
		if (ret < 0)
			log_error("virtio-net %s: vhost-net refused queue pair %u: %s", net->tap.name, i,
				  strerror(-ret));
	}
	struct virtio_worker_fd fds[3 * VIRTIO_NET_MAX_PAIRS];
	struct virtio_worker_config cfg = {
		.serve = virtio_net_serve,
		.extra = fds,
		.nr_extra = worker_fds(net, fds),
		/* vhost-net takes the data queues' kicks; the controlq is vmon's. */
		.queue_mask = net->vhost ? 1ull << ctrl_queue(net) : 0,
	};
	if (ret == 0)
		ret = virtio_worker_start_with(&net->worker, &net->vd, &cfg);
	if (ret < 0)
		forget_all(net);
	return ret;
}

static int net_activate(struct virtio_device *vd)
{
	struct virtio_net *net = to_net(vd);
	forget_all(net);
	use_pairs(net, 1); /* §5.1.6.5.5: after reset only receiveq1 and transmitq1 carry frames */
	return start_data_path(net);
}

static void net_reset(struct virtio_device *vd)
{
	struct virtio_net *net = to_net(vd);
	virtio_worker_stop(&net->worker);
	forget_all(net);
}

static void config_bytes(struct virtio_net *net, uint8_t config[VIRTIO_NET_CONFIG_LEN])
{
	memcpy(config + CONFIG_MAC, net->mac, 6);
	uint16_t status = net->link_up ? VIRTIO_NET_S_LINK_UP : 0;
	uint16_t fields[3] = { htole16(status), htole16((uint16_t)net->nr_pairs), htole16(net->mtu) };
	memcpy(config + CONFIG_STATUS, fields, sizeof(fields));
}

/* The core checked offset and len against config_size; link_up is under vd->lock. */
static void net_config_read(struct virtio_device *vd, uint64_t offset, void *data, uint32_t len)
{
	struct virtio_net *net = to_net(vd);
	uint8_t config[VIRTIO_NET_CONFIG_LEN];
	pthread_mutex_lock(&vd->lock);
	config_bytes(net, config);
	pthread_mutex_unlock(&vd->lock);
	memcpy(data, config + offset, len);
}

/* §5.1.4: every field is read-only for the driver; writes change nothing. */
static void net_config_write(struct virtio_device *vd, uint64_t offset, const void *data, uint32_t len)
{
	(void)vd;
	(void)offset;
	(void)data;
	(void)len;
}

/* --- snapshots and migration --- */

/*
 * virtio_device_quiesce: the worker stops, then vhost-net gives the rings
 * back with its indices. A frame in vmon's hands is dropped: it is in no
 * ring, so no snapshot could carry it.
 */
static void net_quiesce(struct virtio_device *vd)
{
	struct virtio_net *net = to_net(vd);
	virtio_worker_stop(&net->worker);
	drop_waiting_frames(net);
	for (unsigned i = 0; i < net->nr_pairs; i++)
		if (net_vhost_quiesce_pair(&net->pairs[i]) < 0)
			log_error("virtio-net %s: vhost-net did not say where it stopped on queue pair %u; "
				  "that pair's rings may stall", net->tap.name, i);
	virtio_net_detach_backend(net); /* frames for the TAP go to another vmon's queue meanwhile */
}

/* The rings go on from vd->queues' indices; the core then kicks every queue. */
static int net_unquiesce(struct virtio_device *vd)
{
	struct virtio_net *net = to_net(vd);
	use_pairs(net, net->pairs_in_use);
	return start_data_path(net);
}

/*
 * Section STATE_TAG_VIRTIO_NET: 6 bytes MAC, bool link up, u16 queue pairs
 * in use (VQ_PAIRS_SET), u16 MTU. The controlq keeps no other state: it
 * answers nothing but VQ_PAIRS_SET.
 */
static void net_save(struct virtio_device *vd, struct state_writer *w, uint32_t instance)
{
	struct virtio_net *net = to_net(vd);
	state_begin(w, STATE_TAG_VIRTIO_NET, instance);
	state_put_bytes(w, net->mac, sizeof(net->mac));
	pthread_mutex_lock(&vd->lock);
	state_put_bool(w, net->link_up);
	pthread_mutex_unlock(&vd->lock);
	state_put_u16(w, (uint16_t)net->pairs_in_use);
	state_put_u16(w, net->mtu);
	state_end(w);
}

struct saved_net {
	uint8_t mac[6];
	bool link_up;
	uint16_t pairs, mtu;
};

/* Whether the saved values could be this device's; logs why not. */
static bool saved_net_valid(const struct virtio_net *net, const struct saved_net *s, uint32_t instance)
{
	if (s->mac[0] & 1)
		log_error("snapshot: virtio-net %u: the MAC address is a multicast one", instance);
	else if (s->pairs < 1 || s->pairs > net->nr_pairs)
		log_error("snapshot: virtio-net %u: %u queue pairs in use, the device has %u", instance,
			  s->pairs, net->nr_pairs);
	else if (s->pairs > 1 && !virtio_has_feature(&net->vd, VIRTIO_NET_F_MQ))
		log_error("snapshot: virtio-net %u: %u queue pairs in use without VIRTIO_NET_F_MQ",
			  instance, s->pairs);
	else if (s->mtu != net->mtu)
		log_error("snapshot: virtio-net %u: the interface's MTU is now %u, was %u", instance,
			  net->mtu, s->mtu);
	else
		return true;
	return false;
}

/* After the core's load (the negotiated features are known): the section, checked, then applied. */
static int net_load(struct virtio_device *vd, const struct state_reader *r, uint32_t instance)
{
	struct virtio_net *net = to_net(vd);
	struct state_section sec;
	if (state_find(r, STATE_TAG_VIRTIO_NET, instance, &sec) < 0) {
		log_error("snapshot: virtio-net %u: the snapshot holds no state for it", instance);
		return -EINVAL;
	}
	struct saved_net s;
	state_get_bytes(&sec, s.mac, sizeof(s.mac));
	s.link_up = state_get_bool(&sec);
	s.pairs = state_get_u16(&sec);
	s.mtu = state_get_u16(&sec);
	if (state_section_finish(&sec) < 0) {
		log_error("snapshot: virtio-net %u: its saved state is truncated or malformed", instance);
		return -EINVAL;
	}
	if (!saved_net_valid(net, &s, instance))
		return -EINVAL;
	memcpy(net->mac, s.mac, sizeof(s.mac));
	pthread_mutex_lock(&vd->lock);
	net->link_up = s.link_up;
	pthread_mutex_unlock(&vd->lock);
	net->pairs_in_use = s.pairs; /* attached when the device serves (unquiesce) */
	return 0;
}

static const struct virtio_device_ops net_ops = {
	.config_read = net_config_read,
	.config_write = net_config_write,
	.activate = net_activate,
	.reset = net_reset,
	.features_consistent = net_features_consistent,
	.quiesce = net_quiesce,
	.unquiesce = net_unquiesce,
	.save = net_save,
	.load = net_load,
};

/* What vmon's data path offers; vhost-net's is narrowed to the host's ring features. */
static uint64_t offered_features(const struct virtio_net *net)
{
	uint64_t f = 1ull << VIRTIO_NET_F_CSUM | 1ull << VIRTIO_NET_F_GUEST_CSUM |
		     1ull << VIRTIO_NET_F_MTU | 1ull << VIRTIO_NET_F_MAC |
		     1ull << VIRTIO_NET_F_GUEST_TSO4 | 1ull << VIRTIO_NET_F_GUEST_TSO6 |
		     1ull << VIRTIO_NET_F_GUEST_ECN | 1ull << VIRTIO_NET_F_HOST_TSO4 |
		     1ull << VIRTIO_NET_F_HOST_TSO6 | 1ull << VIRTIO_NET_F_HOST_ECN |
		     1ull << VIRTIO_NET_F_STATUS | 1ull << VIRTIO_NET_F_CTRL_VQ;
	uint64_t ring = 1ull << VIRTIO_NET_F_MRG_RXBUF | 1ull << VIRTIO_F_EVENT_IDX |
			1ull << VIRTIO_F_INDIRECT_DESC;
	if (net->nr_pairs > 1)
		f |= 1ull << VIRTIO_NET_F_MQ;
	if (net->vhost)
		ring &= net->pairs[0].vhost.features;
	return f | ring;
}

void virtio_net_stable_mac(const char *name, uint8_t mac[6])
{
	/* FNV-1a of the name: the same interface gets the same address every run. */
	uint64_t h = 0xcbf29ce484222325ull;
	for (const char *c = name; *c; c++)
		h = (h ^ (uint8_t)*c) * 0x100000001b3ull;
	for (unsigned i = 0; i < 6; i++)
		mac[i] = (uint8_t)(h >> (8 * i));
	mac[0] = (uint8_t)((mac[0] & ~0x01) | 0x02); /* unicast, locally administered */
}

/* Every pair's buffers; first of all, so that free_pairs can always run. */
static int alloc_pairs(struct virtio_net *net, unsigned nr_pairs)
{
	net->nr_pairs = nr_pairs;
	for (unsigned i = 0; i < nr_pairs; i++) {
		struct net_pair *p = &net->pairs[i];
		p->net = net;
		p->index = i;
		p->fd = -1;
		p->vhost.fd = -1;
		p->relays[0].fd = p->relays[1].fd = -1;
	}
	for (unsigned i = 0; i < nr_pairs; i++) {
		struct net_pair *p = &net->pairs[i];
		p->rx_frame = malloc(RX_FRAME_SIZE);
		p->chain = malloc(sizeof(*p->chain));
		p->first_chain = malloc(sizeof(*p->first_chain));
		if (!p->rx_frame || !p->chain || !p->first_chain)
			return -ENOMEM;
	}
	return 0;
}

static int init_device(struct virtio_net *net, const struct virtio_net_config *cfg,
		       const struct guest_mem *mem, const int *fds)
{
	memcpy(net->mac, cfg->mac, 6);
	net->link_up = true;
	net->pairs_in_use = 1;
	for (unsigned i = 0; i < net->nr_pairs; i++)
		net->pairs[i].fd = fds[i];
	int ret = virtio_device_init(&net->vd, VIRTIO_ID_NET, offered_features(net),
					 2 * net->nr_pairs + 1, VIRTIO_NET_QUEUE_SIZE, mem, &net_ops, net);
	if (ret == 0)
		net->vd.config_size = VIRTIO_NET_CONFIG_LEN;
	return ret;
}

static unsigned pairs_of(const struct virtio_net_config *cfg)
{
	return cfg->queue_pairs ? cfg->queue_pairs : 1;
}

static void free_pairs(struct virtio_net *net)
{
	for (unsigned i = 0; i < net->nr_pairs; i++) {
		struct net_pair *p = &net->pairs[i];
		vhost_net_close(&p->vhost);
		net_vhost_close_relays(p);
		free(p->rx_frame);
		free(p->chain);
		free(p->first_chain);
	}
}

int virtio_net_init_fds(struct virtio_net *net, const struct virtio_net_config *cfg,
			const struct guest_mem *mem, const int *fds)
{
	memset(net, 0, sizeof(*net));
	if (pairs_of(cfg) > VIRTIO_NET_MAX_PAIRS)
		return -EINVAL;
	net->mtu = 1500;
	int ret = alloc_pairs(net, pairs_of(cfg));
	if (ret == 0)
		ret = init_device(net, cfg, mem, fds);
	if (ret < 0)
		free_pairs(net);
	return ret;
}

static int read_mtu(const char *name, uint16_t *mtu)
{
	char path[64];
	snprintf(path, sizeof(path), "/sys/class/net/%s/mtu", name);
	FILE *f = fopen(path, "re");
	unsigned value = 0;
	int ok = f && fscanf(f, "%u", &value) == 1 && value >= 68 && value <= 65535;
	if (f)
		fclose(f);
	*mtu = ok ? (uint16_t)value : 1500;
	return ok ? 0 : -EINVAL;
}

int virtio_net_init(struct virtio_net *net, const struct virtio_net_config *cfg,
		    const struct guest_mem *mem, const char **why)
{
	memset(net, 0, sizeof(*net));
	if (pairs_of(cfg) > VIRTIO_NET_MAX_PAIRS || pairs_of(cfg) > TAP_MAX_QUEUES) {
		*why = "too many queues";
		return -EINVAL;
	}
	for (unsigned i = 0; i < TAP_MAX_QUEUES; i++)
		net->tap.fds[i] = -1;
	int ret = alloc_pairs(net, pairs_of(cfg));
	if (ret < 0)
		*why = strerror(-ret);
	if (ret == 0)
		ret = tap_open(&net->tap, cfg->tap, net->nr_pairs, why);
	if (ret < 0) {
		free_pairs(net);
		return ret;
	}
	net->is_tap = true;
	if (read_mtu(cfg->tap, &net->mtu) < 0)
		log_warn("virtio-net %s: cannot read the interface's MTU; using 1500", cfg->tap);
	if (tap_read_stats(cfg->tap, &net->tap_baseline) < 0)
		memset(&net->tap_baseline, 0, sizeof(net->tap_baseline));
	ret = net_vhost_open(net, cfg->vhost, why);
	if (ret == 0) {
		ret = init_device(net, cfg, mem, net->tap.fds);
		if (ret < 0)
			*why = strerror(-ret);
	}
	if (ret < 0) {
		free_pairs(net);
		tap_close(&net->tap);
	}
	return ret;
}

void virtio_net_destroy(struct virtio_net *net)
{
	virtio_worker_stop(&net->worker);
	forget_all(net);
	virtio_device_destroy(&net->vd);
	free_pairs(net);
	if (net->is_tap)
		tap_close(&net->tap);
}
