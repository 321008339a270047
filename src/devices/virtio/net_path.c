/*
 * virtio-net's two data paths side by side (net.h): which one serves the
 * queues, and the counters, which go on across a change of path.
 */
#include <errno.h>
#include <string.h>

#include "devices/virtio/net_vhost.h"

static void add_counters(struct net_counters *sum, const struct net_counters *c)
{
	sum->rx_packets += __atomic_load_n(&c->rx_packets, __ATOMIC_RELAXED);
	sum->rx_bytes += __atomic_load_n(&c->rx_bytes, __ATOMIC_RELAXED);
	sum->rx_drops += __atomic_load_n(&c->rx_drops, __ATOMIC_RELAXED);
	sum->tx_packets += __atomic_load_n(&c->tx_packets, __ATOMIC_RELAXED);
	sum->tx_bytes += __atomic_load_n(&c->tx_bytes, __ATOMIC_RELAXED);
	sum->tx_drops += __atomic_load_n(&c->tx_drops, __ATOMIC_RELAXED);
}

/* What the path in use counted itself. */
static void path_counters(const struct virtio_net *net, struct net_counters *out)
{
	memset(out, 0, sizeof(*out));
	if (__atomic_load_n(&net->vhost, __ATOMIC_RELAXED)) {
		net_vhost_counters(net, out);
		return;
	}
	for (unsigned i = 0; i < net->nr_pairs; i++)
		add_counters(out, &net->pairs[i].counters);
}

void virtio_net_counters(const struct virtio_net *net, struct net_counters *out)
{
	path_counters(net, out);
	add_counters(out, &net->carried);
}

/* From now on the counters read `total` plus what the path in use counts past `path`. */
static void carry_counters(struct virtio_net *net, const struct net_counters *total,
			   const struct net_counters *path)
{
	struct net_counters *c = &net->carried;
	__atomic_store_n(&c->rx_packets, total->rx_packets - path->rx_packets, __ATOMIC_RELAXED);
	__atomic_store_n(&c->rx_bytes, total->rx_bytes - path->rx_bytes, __ATOMIC_RELAXED);
	__atomic_store_n(&c->rx_drops, total->rx_drops - path->rx_drops, __ATOMIC_RELAXED);
	__atomic_store_n(&c->tx_packets, total->tx_packets - path->tx_packets, __ATOMIC_RELAXED);
	__atomic_store_n(&c->tx_bytes, total->tx_bytes - path->tx_bytes, __ATOMIC_RELAXED);
	__atomic_store_n(&c->tx_drops, total->tx_drops - path->tx_drops, __ATOMIC_RELAXED);
}

void net_switch_path(struct virtio_net *net, bool vhost)
{
	struct net_counters total, path;
	virtio_net_counters(net, &total);
	__atomic_store_n(&net->vhost, vhost, __ATOMIC_RELAXED);
	path_counters(net, &path);
	carry_counters(net, &total, &path);
}

/* Under control_lock: no activation, reset or unquiesce starts the worker meanwhile. */
int virtio_net_select_path(struct virtio_net *net, bool vhost)
{
	if (vhost && !net_vhost_usable(net))
		return -ENOTSUP;
	pthread_mutex_lock(&net->vd.control_lock);
	int ret = net->worker.running ? -EBUSY : 0;
	if (ret == 0)
		net_switch_path(net, vhost);
	pthread_mutex_unlock(&net->vd.control_lock);
	return ret;
}
