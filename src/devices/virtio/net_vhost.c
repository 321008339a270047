/* virtio-net's data path in the host kernel (net_vhost.h). */
#include "devices/virtio/net_vhost.h"

#include <endian.h>
#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/log.h"
#include "virtio/virtio.h"

/* vhost's interrupts, relayed by vmon where the transport has no irqfd. */
static void relay_ready(void *arg)
{
	struct net_relay *r = arg;
	uint64_t count;
	if (read(r->fd, &count, sizeof(count)) == sizeof(count))
		virtio_notify_queue(&r->net->vd, r->queue);
}

void net_vhost_close_relays(struct net_pair *p)
{
	for (unsigned i = 0; i < 2; i++) {
		if (p->relays[i].fd >= 0)
			close(p->relays[i].fd);
		p->relays[i].fd = -1;
	}
}

unsigned net_vhost_relay_fds(struct net_pair *p, struct virtio_worker_fd *fds)
{
	unsigned n = 0;
	for (unsigned which = 0; which < 2; which++)
		if (p->relays[which].fd >= 0)
			fds[n++] = (struct virtio_worker_fd){ .fd = p->relays[which].fd, .ready = relay_ready,
							      .arg = &p->relays[which] };
	return n;
}

/* The call eventfd vhost signals for queue q: the transport's irqfd, or a relay. */
static int call_fd(struct net_pair *p, unsigned which, unsigned q)
{
	int irqfd = virtio_queue_irqfd(&p->net->vd, q);
	if (irqfd >= 0)
		return irqfd;
	struct net_relay *r = &p->relays[which];
	r->net = p->net;
	r->queue = q;
	r->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return r->fd >= 0 ? r->fd : -errno;
}

/* vhost-net's ring `which` (0 receive, 1 transmit) is the pair's receiveq or transmitq. */
static unsigned ring_queue(const struct net_pair *p, unsigned which)
{
	return which == 0 ? net_rx_queue(p) : net_tx_queue(p);
}

/* The ring features vhost-net handles; the offloads are the TAP's business. */
static uint64_t vhost_features(const struct virtio_net *net, const struct net_pair *p)
{
	return net->vd.driver_features & p->vhost.features;
}

static int start_vring(struct net_pair *p, unsigned which)
{
	unsigned q = ring_queue(p, which);
	struct virtio_queue *queue = &p->net->vd.queues[q];
	const struct guest_mem *mem = p->net->vd.dma.mem; /* no IOMMU: addresses are guest-physical */
	uint16_t size = queue->vq.size;
	struct vhost_vring r = {
		.index = which, .size = size, .last_avail = queue->vq.last_avail,
		.desc = guest_mem_ptr(mem, queue->vq.desc_gpa, 16ull * size),
		.avail = guest_mem_ptr(mem, queue->vq.avail_gpa, 6 + 2ull * size),
		.used = guest_mem_ptr(mem, queue->vq.used_gpa, 6 + 8ull * size),
		.kick_fd = queue->kick_fd,
		.call_fd = call_fd(p, which, q),
	};
	if (r.call_fd < 0)
		return r.call_fd;
	if (!r.desc || !r.avail || !r.used)
		return -EFAULT; /* virtq_init checked them: cannot happen */
	int ret = vhost_net_start_vring(&p->vhost, &r);
	return ret < 0 ? ret : vhost_net_set_backend(&p->vhost, which, p->fd);
}

static bool ring_enabled(const struct net_pair *p, unsigned which)
{
	return p->net->vd.queues[ring_queue(p, which)].enabled;
}

/* The vring's rings start from vd->queues' last_avail (VHOST_SET_VRING_BASE) and used idx in RAM. */
int net_vhost_start_pair(struct net_pair *p)
{
	struct virtio_net *net = p->net;
	if (!net_vhost_usable(net))
		return -EOPNOTSUPP;
	p->vhost_owns_rings = true; /* from the first ioctl on, for a stop after a failure */
	int ret = vhost_net_set_features(&p->vhost, vhost_features(net, p));
	if (ret == 0)
		ret = vhost_net_set_memory(&p->vhost, net->vd.dma.mem);
	for (unsigned which = 0; ret == 0 && which < 2; which++)
		if (ring_enabled(p, which))
			ret = start_vring(p, which);
	return ret;
}

/* Detaches the TAP queue from vring `which`, then asks where the device stopped. 0 or -errno. */
static int stop_vring(struct net_pair *p, unsigned which, uint16_t *last_avail)
{
	int ret = vhost_net_set_backend(&p->vhost, which, -1);
	return ret < 0 ? ret : vhost_net_stop_vring(&p->vhost, which, last_avail);
}

void net_vhost_stop_pair(struct net_pair *p)
{
	for (unsigned which = 0; which < 2; which++) {
		uint16_t last_avail; /* unused: the next activation starts the ring afresh */
		stop_vring(p, which, &last_avail);
	}
	p->vhost_owns_rings = false;
	net_vhost_close_relays(p);
}

/*
 * Stops vring `which` and puts where vhost-net left it into vmon's virtq:
 * last_avail from the kernel, used idx from the used ring (§2.7.8), which
 * vhost-net keeps in guest RAM. 0 or -errno.
 */
static int read_back_vring(struct net_pair *p, unsigned which)
{
	struct virtq *vq = &p->net->vd.queues[ring_queue(p, which)].vq;
	uint16_t last_avail, used_idx;
	int ret = stop_vring(p, which, &last_avail);
	if (ret == 0)
		ret = dma_read(&vq->dma, vq->used_gpa + 2, &used_idx, sizeof(used_idx));
	if (ret < 0)
		return ret;
	vq->last_avail = last_avail;
	vq->used_idx = le16toh(used_idx);
	vq->signalled_used_valid = false; /* vhost-net chose the interrupts so far */
	return 0;
}

/*
 * Interrupts vhost-net raised through a relay the worker had no time to
 * pass on: raised now, before the relays close.
 */
static void flush_relays(struct net_pair *p)
{
	for (unsigned which = 0; which < 2; which++)
		if (p->relays[which].fd >= 0)
			relay_ready(&p->relays[which]);
}

int net_vhost_quiesce_pair(struct net_pair *p)
{
	if (!p->vhost_owns_rings)
		return 0;
	int ret = 0;
	for (unsigned which = 0; which < 2; which++) {
		int r = ring_enabled(p, which) ? read_back_vring(p, which) : 0;
		ret = ret ? ret : r;
	}
	p->vhost_owns_rings = false;
	flush_relays(p);
	net_vhost_close_relays(p);
	return ret;
}

bool net_vhost_opened(const struct virtio_net *net)
{
	return net->pairs[0].vhost.fd >= 0;
}

/*
 * vhost-net would take the driver's I/O virtual addresses for
 * guest-physical ones: vmon does not program its device IOTLB, so a
 * device behind an IOMMU never hands it the rings.
 */
bool net_vhost_usable(const struct virtio_net *net)
{
	return net_vhost_opened(net) && !net->vd.dma.iommu;
}

int net_vhost_open(struct virtio_net *net, enum net_vhost_mode mode, const char **why)
{
	if (mode == NET_VHOST_OFF)
		return 0;
	for (unsigned i = 0; i < net->nr_pairs; i++) {
		int ret = vhost_net_open(&net->pairs[i].vhost, why);
		if (ret == -ENOENT && mode == NET_VHOST_AUTO) {
			log_info("virtio-net %s: no /dev/vhost-net; vmon moves the frames itself",
				 net->tap.name);
			for (unsigned j = 0; j < i; j++)
				vhost_net_close(&net->pairs[j].vhost);
			return 0;
		}
		if (ret == -ENOENT)
			*why = "vhost=on, but this host has no /dev/vhost-net (modprobe vhost_net)";
		if (ret < 0)
			return ret;
	}
	net->vhost = true;
	return 0;
}

void net_vhost_counters(const struct virtio_net *net, struct net_counters *out)
{
	struct tap_stats now;
	if (tap_read_stats(net->tap.name, &now) < 0)
		return;
	const struct tap_stats *b = &net->tap_baseline;
	out->rx_packets = now.tx_packets - b->tx_packets;
	out->rx_bytes = now.tx_bytes - b->tx_bytes;
	out->rx_drops = now.tx_dropped - b->tx_dropped;
	out->tx_packets = now.rx_packets - b->rx_packets;
	out->tx_bytes = now.rx_bytes - b->rx_bytes;
	out->tx_drops = now.rx_dropped - b->rx_dropped;
}
