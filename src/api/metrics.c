#include "api/metrics.h"

#include <stdio.h>
#include <time.h>

static json_int_t delta(uint64_t now, uint64_t before)
{
	return (json_int_t)(now - before); /* counters only grow; unsigned wrap is the change */
}

static json_t *exits(const struct machine_counters *now, const struct machine_counters *before)
{
	json_t *o = json_object();
	for (unsigned k = 0; k < HV_EXIT_KIND_COUNT; k++)
		json_object_set_new(o, machine_exit_kind_name(k), json_integer(delta(now->exits[k], before->exits[k])));
	return o;
}

static json_t *disk_json(const struct disk_counters *now, const struct disk_counters *before)
{
	return json_pack("{s:I, s:I, s:I, s:I}",
			 "requests_count", delta(now->requests, before->requests),
			 "read_bytes", delta(now->bytes_read, before->bytes_read),
			 "write_bytes", delta(now->bytes_written, before->bytes_written),
			 "io_errors", delta(now->io_errors, before->io_errors));
}

static json_t *nic_json(const struct net_counters *now, const struct net_counters *before)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}",
			 "rx_packets_count", delta(now->rx_packets, before->rx_packets),
			 "rx_bytes_count", delta(now->rx_bytes, before->rx_bytes),
			 "rx_drops", delta(now->rx_drops, before->rx_drops),
			 "tx_packets_count", delta(now->tx_packets, before->tx_packets),
			 "tx_bytes_count", delta(now->tx_bytes, before->tx_bytes),
			 "tx_drops", delta(now->tx_drops, before->tx_drops));
}

static void add_disk(struct disk_counters *sum, const struct disk_counters *c)
{
	sum->requests += c->requests;
	sum->bytes_read += c->bytes_read;
	sum->bytes_written += c->bytes_written;
	sum->io_errors += c->io_errors;
}

static void add_nic(struct net_counters *sum, const struct net_counters *c)
{
	sum->rx_packets += c->rx_packets;
	sum->rx_bytes += c->rx_bytes;
	sum->rx_drops += c->rx_drops;
	sum->tx_packets += c->tx_packets;
	sum->tx_bytes += c->tx_bytes;
	sum->tx_drops += c->tx_drops;
}

/* "block_<id>", or "block<N>" for a drive the command line made (no id). */
static void device_key(char *key, size_t size, const char *family, const char *id, unsigned index)
{
	if (id[0])
		snprintf(key, size, "%s_%s", family, id);
	else
		snprintf(key, size, "%s%u", family, index);
}

static void add_disks(json_t *line, const struct vm_config *cfg, const struct machine_counters *now,
		      const struct machine_counters *before)
{
	struct disk_counters sum_now = { 0 }, sum_before = { 0 };
	for (unsigned i = 0; i < now->nr_disks && i < cfg->nr_disks; i++) {
		char key[DEVICE_ID_MAX + 16];
		device_key(key, sizeof(key), "block", cfg->disks[i].id, i);
		json_object_set_new(line, key, disk_json(&now->disks[i], &before->disks[i]));
		add_disk(&sum_now, &now->disks[i]);
		add_disk(&sum_before, &before->disks[i]);
	}
	json_object_set_new(line, "block", disk_json(&sum_now, &sum_before));
}

static void add_nics(json_t *line, const struct vm_config *cfg, const struct machine_counters *now,
		     const struct machine_counters *before)
{
	struct net_counters sum_now = { 0 }, sum_before = { 0 };
	for (unsigned i = 0; i < now->nr_nics && i < cfg->nr_nics; i++) {
		char key[DEVICE_ID_MAX + 16];
		device_key(key, sizeof(key), "net", cfg->nics[i].id, i);
		json_object_set_new(line, key, nic_json(&now->nics[i], &before->nics[i]));
		add_nic(&sum_now, &now->nics[i]);
		add_nic(&sum_before, &before->nics[i]);
	}
	json_object_set_new(line, "net", nic_json(&sum_now, &sum_before));
}

json_t *metrics_line(const struct vm_config *cfg, const struct machine_counters *now,
		     const struct machine_counters *before, uint64_t requests, uint64_t faults)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	json_t *line = json_pack("{s:I, s:{s:I, s:I}, s:{s:o}}",
				 "utc_timestamp_ms", (json_int_t)t.tv_sec * 1000 + t.tv_nsec / 1000000,
				 "api_server", "requests_count", (json_int_t)requests,
				 "faults_count", (json_int_t)faults,
				 "vcpu", "exits", exits(now, before));
	if (!line)
		return NULL;
	add_disks(line, cfg, now, before);
	add_nics(line, cfg, now, before);
	return line;
}
