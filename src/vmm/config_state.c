/*
 * The configuration inside a snapshot or a migration stream (section
 * STATE_TAG_CONFIG), so that the restoring vmon builds the same machine.
 *
 * Payload: string kernel_path, string initrd_path, string cmdline, u32
 * nr_cpus, bool smt, u64 mem_size, u8 console, u32 nr_disks, then per disk
 * string id, string path, string serial, bool root, u8 cache, bool
 * readonly, bool direct, u32 queues, u8 transport; u32 nr_nics, then per
 * NIC string id, string tap, 6 bytes mac, bool mac_set, u32 queues, u8
 * vhost, u8 transport. A string is a u32 length (0xffffffff: none) and its
 * bytes, without NUL.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migration/state.h"
#include "util/log.h"
#include "vmm/config.h"

#define NO_STRING 0xffffffffu

static void put_string(struct state_writer *w, const char *s)
{
	if (!s) {
		state_put_u32(w, NO_STRING);
		return;
	}
	state_put_u32(w, (uint32_t)strlen(s));
	state_put_bytes(w, s, strlen(s));
}

static void save_disk(struct state_writer *w, const struct disk_config *d)
{
	put_string(w, d->id);
	put_string(w, d->path);
	put_string(w, d->serial);
	state_put_bool(w, d->root);
	state_put_u8(w, (uint8_t)d->cache);
	state_put_bool(w, d->readonly);
	state_put_bool(w, d->direct);
	state_put_u32(w, d->queues);
	state_put_u8(w, (uint8_t)d->transport);
}

static void save_nic(struct state_writer *w, const struct nic_config *n)
{
	put_string(w, n->id);
	put_string(w, n->tap);
	state_put_bytes(w, n->mac, sizeof(n->mac));
	state_put_bool(w, n->mac_set);
	state_put_u32(w, n->queues);
	state_put_u8(w, (uint8_t)n->vhost);
	state_put_u8(w, (uint8_t)n->transport);
}

void vm_config_save(const struct vm_config *cfg, struct state_writer *w)
{
	state_begin(w, STATE_TAG_CONFIG, 0);
	put_string(w, cfg->kernel_path);
	put_string(w, cfg->initrd_path);
	put_string(w, cfg->cmdline);
	state_put_u32(w, cfg->nr_cpus);
	state_put_bool(w, cfg->smt);
	state_put_u64(w, cfg->mem_size);
	state_put_u8(w, (uint8_t)cfg->console);
	state_put_u32(w, cfg->nr_disks);
	for (unsigned i = 0; i < cfg->nr_disks; i++)
		save_disk(w, &cfg->disks[i]);
	state_put_u32(w, cfg->nr_nics);
	for (unsigned i = 0; i < cfg->nr_nics; i++)
		save_nic(w, &cfg->nics[i]);
	state_end(w);
}

/* Reads a string into *out (malloc'd, NULL for none); false when it is malformed. */
static bool get_string(struct state_section *s, char **out)
{
	*out = NULL;
	uint32_t len = state_get_u32(s);
	if (len == NO_STRING)
		return !s->overrun;
	if (len > VM_CONFIG_STRING_MAX || len > s->len - s->pos || !(*out = malloc(len + 1)))
		return false;
	state_get_bytes(s, *out, len);
	(*out)[len] = '\0';
	return !s->overrun && strlen(*out) == len;
}

/* A string copied into a fixed array of `size` bytes (NUL included); none is "". */
static bool get_fixed_string(struct state_section *s, char *dst, size_t size)
{
	char *str;
	bool ok = get_string(s, &str) && (!str || strlen(str) < size);
	if (ok)
		snprintf(dst, size, "%s", str ? str : "");
	free(str);
	return ok;
}

static bool load_disk(struct state_section *s, struct disk_config *d)
{
	bool ok = get_fixed_string(s, d->id, sizeof(d->id)) && get_string(s, &d->path) &&
		  get_string(s, &d->serial);
	d->root = state_get_bool(s);
	uint8_t cache = state_get_u8(s);
	d->readonly = state_get_bool(s);
	d->direct = state_get_bool(s);
	d->queues = state_get_u32(s);
	uint8_t transport = state_get_u8(s);
	d->cache = cache == DISK_CACHE_UNSAFE ? DISK_CACHE_UNSAFE : DISK_CACHE_WRITEBACK;
	d->transport = transport == TRANSPORT_MMIO ? TRANSPORT_MMIO : TRANSPORT_PCI;
	return ok && d->path && cache <= DISK_CACHE_UNSAFE && transport <= TRANSPORT_MMIO &&
	       d->queues >= 1 && d->queues <= DISK_MAX_QUEUES &&
	       (!d->serial || strlen(d->serial) <= DISK_SERIAL_MAX);
}

static bool load_nic(struct state_section *s, struct nic_config *n)
{
	bool ok = get_fixed_string(s, n->id, sizeof(n->id)) &&
		  get_fixed_string(s, n->tap, sizeof(n->tap));
	state_get_bytes(s, n->mac, sizeof(n->mac));
	n->mac_set = state_get_bool(s);
	n->queues = state_get_u32(s);
	uint8_t vhost = state_get_u8(s);
	uint8_t transport = state_get_u8(s);
	n->vhost = vhost == VHOST_ON ? VHOST_ON : vhost == VHOST_OFF ? VHOST_OFF : VHOST_AUTO;
	n->transport = transport == TRANSPORT_MMIO ? TRANSPORT_MMIO : TRANSPORT_PCI;
	return ok && n->tap[0] && vhost <= VHOST_OFF && transport <= TRANSPORT_MMIO &&
	       n->queues <= NIC_MAX_QUEUES; /* 0: one pair per vCPU */
}

static bool load_devices(struct state_section *s, struct vm_config *cfg)
{
	uint32_t nr_disks = state_get_u32(s);
	if (nr_disks > VM_MAX_DISKS)
		return false;
	for (; cfg->nr_disks < nr_disks; cfg->nr_disks++)
		if (!load_disk(s, &cfg->disks[cfg->nr_disks])) {
			cfg->nr_disks++; /* its strings are freed with cfg */
			return false;
		}
	uint32_t nr_nics = state_get_u32(s);
	if (nr_nics > VM_MAX_NICS)
		return false;
	for (; cfg->nr_nics < nr_nics; cfg->nr_nics++)
		if (!load_nic(s, &cfg->nics[cfg->nr_nics]))
			return false;
	return true;
}

static bool load_machine(struct state_section *s, struct vm_config *cfg)
{
	bool ok = get_string(s, &cfg->kernel_path) && get_string(s, &cfg->initrd_path) &&
		  get_string(s, &cfg->cmdline);
	cfg->nr_cpus = state_get_u32(s);
	cfg->smt = state_get_bool(s);
	cfg->mem_size = state_get_u64(s);
	uint8_t console = state_get_u8(s);
	cfg->console = console == CONSOLE_VIRTIO ? CONSOLE_VIRTIO : CONSOLE_SERIAL;
	return ok && cfg->nr_cpus >= 1 && cfg->nr_cpus <= VM_MAX_CPUS && !cfg->smt &&
	       cfg->mem_size >= VM_MIN_MEMORY && cfg->mem_size % 4096 == 0 &&
	       console <= CONSOLE_VIRTIO;
}

int vm_config_load(const struct state_reader *r, struct vm_config *cfg)
{
	struct state_section s;
	if (state_find(r, STATE_TAG_CONFIG, 0, &s) < 0) {
		log_error("the state has no configuration section");
		return -EINVAL;
	}
	if (!load_machine(&s, cfg) || !load_devices(&s, cfg) || state_section_finish(&s) < 0) {
		log_error("the state's configuration section is corrupt");
		vm_config_free(cfg);
		return -EINVAL;
	}
	return 0;
}
