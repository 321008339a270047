/*
 * Firecracker's JSON bodies and vmon's configuration. Field names, types,
 * required fields and defaults follow Firecracker's OpenAPI description
 * (src/firecracker/swagger/firecracker.yaml); like its serde structs
 * (deny_unknown_fields), unknown fields are refused, and null stands for
 * an absent optional field (serde's Option).
 *
 * Fields of features vmon lacks are accepted only with the value that asks
 * for nothing (null, false, "None"), so that a body meant for Firecracker
 * is never half obeyed. io_engine "Sync" and "Async" are both accepted:
 * vmon serves every disk through io_uring, which is Firecracker's "Async",
 * and GET reports "Async".
 */
#include "api/vm_json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/args.h"
#include "migration/migrate.h"

/* Firecracker's MAX_SUPPORTED_VCPUS (vmm_config/machine_config.rs). */
#define FIRECRACKER_MAX_VCPUS 32
#define MAX_VCPUS (FIRECRACKER_MAX_VCPUS < VM_MAX_CPUS ? FIRECRACKER_MAX_VCPUS : VM_MAX_CPUS)
#define MIB_SHIFT 20
#define ID_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"

/* How a field may be written, besides its JSON type. */
enum field_flags {
	REQUIRED = 1 << 0,     /* present and not null (except in a PATCH) */
	NOT_EMPTY = 1 << 1,    /* a string of at least one character */
	NULL_ONLY = 1 << 2,    /* a feature vmon lacks: absent or null only */
	DEFAULT_ONLY = 1 << 3, /* a feature vmon lacks: false, or the first choice, only */
	ANY_CASE = 1 << 4,     /* choices compared regardless of case */
};

struct field {
	const char *name;
	json_type type;              /* JSON_TRUE stands for either boolean */
	unsigned flags;
	const char *const *choices;  /* strings: the values allowed, NULL-terminated */
};

struct body_spec {
	const struct field *fields;
	size_t count;
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define SPEC(fields) { fields, COUNT(fields) }

/* The values Firecracker takes, its default first. */
static const char *const cpu_templates[] = { "None", "C3", "T2", "T2S", "T2CL", "T2A", "V1N1", NULL };
static const char *const huge_pages[] = { "None", "Transparent", "2M", NULL };
static const char *const cache_types[] = { "Unsafe", "Writeback", NULL };
static const char *const io_engines[] = { "Sync", "Async", NULL };
/* "Warn" is Firecracker's other spelling of "Warning"; vmon keeps "Warning". */
static const char *const log_levels[] = { "Error", "Warning", "Warn", "Info", "Debug", "Trace", "Off", NULL };

static const char *const snapshot_types[] = { "Full", "Diff", NULL };
static const char *const backend_types[] = { "File", "Uffd", NULL };

static const struct field boot_source_fields[] = {
	{ "kernel_image_path", JSON_STRING, REQUIRED | NOT_EMPTY, NULL },
	{ "initrd_path", JSON_STRING, NOT_EMPTY, NULL },
	{ "boot_args", JSON_STRING, 0, NULL },
};

static const struct field machine_fields[] = {
	{ "vcpu_count", JSON_INTEGER, REQUIRED, NULL },
	{ "mem_size_mib", JSON_INTEGER, REQUIRED, NULL },
	{ "smt", JSON_TRUE, 0, NULL },
	{ "cpu_template", JSON_STRING, DEFAULT_ONLY, cpu_templates },
	{ "track_dirty_pages", JSON_TRUE, DEFAULT_ONLY, NULL },
	{ "huge_pages", JSON_STRING, DEFAULT_ONLY, huge_pages },
};

static const struct field drive_fields[] = {
	{ "drive_id", JSON_STRING, REQUIRED, NULL },
	{ "path_on_host", JSON_STRING, REQUIRED | NOT_EMPTY, NULL },
	{ "is_root_device", JSON_TRUE, REQUIRED, NULL },
	{ "is_read_only", JSON_TRUE, 0, NULL },
	{ "cache_type", JSON_STRING, 0, cache_types },
	{ "io_engine", JSON_STRING, 0, io_engines },
	{ "partuuid", JSON_STRING, NULL_ONLY, NULL },
	{ "rate_limiter", JSON_OBJECT, NULL_ONLY, NULL },
	{ "socket", JSON_STRING, NULL_ONLY, NULL }, /* vhost-user-blk */
};

static const struct field partial_drive_fields[] = {
	{ "drive_id", JSON_STRING, REQUIRED, NULL },
	{ "path_on_host", JSON_STRING, NOT_EMPTY, NULL },
	{ "rate_limiter", JSON_OBJECT, NULL_ONLY, NULL },
};

static const struct field nic_fields[] = {
	{ "iface_id", JSON_STRING, REQUIRED, NULL },
	{ "host_dev_name", JSON_STRING, REQUIRED, NULL },
	{ "guest_mac", JSON_STRING, 0, NULL },
	{ "mtu", JSON_INTEGER, NULL_ONLY, NULL },
	{ "rx_rate_limiter", JSON_OBJECT, NULL_ONLY, NULL },
	{ "tx_rate_limiter", JSON_OBJECT, NULL_ONLY, NULL },
};

static const struct field logger_fields[] = {
	{ "log_path", JSON_STRING, NOT_EMPTY, NULL },
	{ "level", JSON_STRING, ANY_CASE, log_levels },
	{ "show_level", JSON_TRUE, 0, NULL },
	{ "show_log_origin", JSON_TRUE, 0, NULL },
	{ "module", JSON_STRING, NULL_ONLY, NULL },
};

static const struct field metrics_fields[] = {
	{ "metrics_path", JSON_STRING, REQUIRED | NOT_EMPTY, NULL },
};

static const struct field snapshot_create_fields[] = {
	{ "snapshot_path", JSON_STRING, REQUIRED | NOT_EMPTY, NULL },
	{ "mem_file_path", JSON_STRING, REQUIRED | NOT_EMPTY, NULL },
	{ "snapshot_type", JSON_STRING, DEFAULT_ONLY, snapshot_types },
	{ "version", JSON_STRING, NULL_ONLY, NULL },
};

static const struct field snapshot_load_fields[] = {
	{ "snapshot_path", JSON_STRING, REQUIRED | NOT_EMPTY, NULL },
	{ "mem_backend", JSON_OBJECT, 0, NULL },
	{ "mem_file_path", JSON_STRING, NOT_EMPTY, NULL },
	{ "enable_diff_snapshots", JSON_TRUE, DEFAULT_ONLY, NULL },
	{ "track_dirty_pages", JSON_TRUE, DEFAULT_ONLY, NULL },
	{ "resume_vm", JSON_TRUE, 0, NULL },
};

static const struct field mem_backend_fields[] = {
	{ "backend_type", JSON_STRING, REQUIRED | DEFAULT_ONLY, backend_types },
	{ "backend_path", JSON_STRING, REQUIRED | NOT_EMPTY, NULL },
};

static const struct field migrate_fields[] = {
	{ "destination_url", JSON_STRING, REQUIRED, NULL },
	{ "max_downtime_ms", JSON_INTEGER, 0, NULL },
};

static const struct body_spec boot_source_spec = SPEC(boot_source_fields);
static const struct body_spec machine_spec = SPEC(machine_fields);
static const struct body_spec drive_spec = SPEC(drive_fields);
static const struct body_spec partial_drive_spec = SPEC(partial_drive_fields);
static const struct body_spec nic_spec = SPEC(nic_fields);
static const struct body_spec logger_spec = SPEC(logger_fields);
static const struct body_spec metrics_spec = SPEC(metrics_fields);
static const struct body_spec snapshot_create_spec = SPEC(snapshot_create_fields);
static const struct body_spec snapshot_load_spec = SPEC(snapshot_load_fields);
static const struct body_spec mem_backend_spec = SPEC(mem_backend_fields);
static const struct body_spec migrate_spec = SPEC(migrate_fields);

__attribute__((format(printf, 2, 3)))
static int fail(char **fault, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(fault, fmt, ap) < 0)
		*fault = NULL; /* the caller answers "out of memory" */
	va_end(ap);
	return -EINVAL;
}

static int out_of_memory(char **fault)
{
	fail(fault, "out of memory");
	return -ENOMEM;
}

static const char *type_name(json_type type)
{
	switch (type) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number with a fraction or an exponent";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

static bool has_type(const json_t *v, json_type type)
{
	return type == JSON_TRUE ? json_is_boolean(v) : json_typeof(v) == type;
}

static int choice_index(const struct field *f, const char *s)
{
	for (int i = 0; f->choices[i]; i++)
		if ((f->flags & ANY_CASE) ? strcasecmp(s, f->choices[i]) == 0 : strcmp(s, f->choices[i]) == 0)
			return i;
	return -1;
}

/* "`a`, `b`, `c`" or "\"A\", \"B\"": the names or choices for a fault. */
static void join(char *buf, size_t size, const char *const *items, size_t count, char quote)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < count && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%c%s%c", i ? ", " : "", quote, items[i],
					 quote);
}

static int unknown_field(const struct body_spec *spec, const char *key, const char *where, char **fault)
{
	const char *names[16];
	char list[512];
	size_t n;
	for (n = 0; n < spec->count && n < COUNT(names); n++)
		names[n] = spec->fields[n].name;
	join(list, sizeof(list), names, n, '`');
	return fail(fault, "unknown field `%.64s` in %s; expected one of %s", key, where, list);
}

static int check_string(const struct field *f, const char *s, const char *where, char **fault)
{
	char list[256];
	if ((f->flags & NOT_EMPTY) && !*s)
		return fail(fault, "`%s` in %s must not be empty", f->name, where);
	if (!f->choices)
		return 0;
	int i = choice_index(f, s);
	if (i < 0) {
		size_t count = 0;
		while (f->choices[count])
			count++;
		join(list, sizeof(list), f->choices, count, '"');
		return fail(fault, "`%s` in %s must be one of %s, not \"%.64s\"", f->name, where, list, s);
	}
	if ((f->flags & DEFAULT_ONLY) && i != 0)
		return fail(fault, "`%s` \"%s\" in %s is not supported by vmon; only \"%s\"", f->name,
			    f->choices[i], where, f->choices[0]);
	return 0;
}

/* One present field: its type and the values vmon takes. */
static int check_value(const struct field *f, const json_t *v, const char *where, char **fault)
{
	if (json_is_null(v))
		return 0;
	if (f->flags & NULL_ONLY)
		return fail(fault, "`%s` in %s is not supported by vmon; leave it out or null", f->name, where);
	if (!has_type(v, f->type))
		return fail(fault, "`%s` in %s must be %s, not %s", f->name, where, type_name(f->type),
			    type_name(json_typeof(v)));
	if ((f->flags & DEFAULT_ONLY) && json_is_true(v))
		return fail(fault, "`%s` true in %s is not supported by vmon; only false", f->name, where);
	return json_is_string(v) ? check_string(f, json_string_value(v), where, fault) : 0;
}

static const struct field *find_field(const struct body_spec *spec, const char *name)
{
	for (size_t i = 0; i < spec->count; i++)
		if (strcmp(spec->fields[i].name, name) == 0)
			return &spec->fields[i];
	return NULL;
}

/*
 * The checks every body gets: an object, only known fields, each of its
 * type and with a value vmon takes, then (unless patch) every required
 * field present: what is wrong before what is missing.
 */
static int check_body(const json_t *body, const struct body_spec *spec, const char *where, bool patch,
		      char **fault)
{
	if (!json_is_object(body))
		return fail(fault, "%s must be a JSON object, not %s", where, type_name(json_typeof(body)));
	const char *key;
	json_t *value;
	json_object_foreach((json_t *)body, key, value) { /* the iterator is not const */
		const struct field *f = find_field(spec, key);
		if (!f)
			return unknown_field(spec, key, where, fault);
		if (check_value(f, value, where, fault) < 0)
			return -EINVAL;
	}
	for (size_t i = 0; i < spec->count && !patch; i++) {
		const struct field *f = &spec->fields[i];
		const json_t *v = json_object_get(body, f->name);
		if (!(f->flags & REQUIRED) || (v && !json_is_null(v)))
			continue;
		if (v)
			return fail(fault, "`%s` in %s must be %s, not null", f->name, where, type_name(f->type));
		return fail(fault, "missing field `%s` in %s; expected %s", f->name, where, type_name(f->type));
	}
	return 0;
}

/* Whether any field is present and not null (Firecracker refuses an empty MachineConfigUpdate). */
static bool any_field(const json_t *body)
{
	const char *key;
	json_t *value;
	json_object_foreach((json_t *)body, key, value) /* the iterator is not const */
		if (!json_is_null(value))
			return true;
	return false;
}

/* A string field after check_body; NULL when absent or null. */
static const char *string_field(const json_t *body, const char *name)
{
	return json_string_value(json_object_get(body, name));
}

static bool bool_field(const json_t *body, const char *name, bool absent)
{
	const json_t *v = json_object_get(body, name);
	return json_is_boolean(v) ? json_is_true(v) : absent;
}

/* An integer field after check_body, from min to max; absent or null leaves *out. */
static int count_field(const json_t *body, const char *name, uint64_t min, uint64_t max, const char *where,
		       uint64_t *out, char **fault)
{
	const json_t *v = json_object_get(body, name);
	if (!json_is_integer(v))
		return 0;
	json_int_t n = json_integer_value(v);
	if (n < 0 || (uint64_t)n < min || (uint64_t)n > max)
		return fail(fault, "`%s` in %s must be from %" PRIu64 " to %" PRIu64 ", not %" JSON_INTEGER_FORMAT,
			    name, where, min, max, n);
	*out = (uint64_t)n;
	return 0;
}

/* Copies of the strings to store, all or none: 0 or -ENOMEM. */
static int copy_strings(char **copies, const char *const *values, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		copies[i] = values[i] ? strdup(values[i]) : NULL;
		if (values[i] && !copies[i]) {
			while (i--)
				free(copies[i]);
			return -ENOMEM;
		}
	}
	return 0;
}

/* Stores the copies in the fields, freeing what they held. */
static void replace_strings(char **const *fields, char **copies, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		free(*fields[i]);
		*fields[i] = copies[i];
	}
}

int vm_json_put_boot_source(const json_t *body, struct vm_config *cfg, char **fault)
{
	if (check_body(body, &boot_source_spec, "boot-source", false, fault) < 0)
		return -EINVAL;
	const char *values[] = { string_field(body, "kernel_image_path"), string_field(body, "initrd_path"),
				 string_field(body, "boot_args") };
	char **const fields[] = { &cfg->kernel_path, &cfg->initrd_path, &cfg->cmdline };
	char *copies[3];
	if (copy_strings(copies, values, 3) < 0)
		return out_of_memory(fault);
	replace_strings(fields, copies, 3);
	return 0;
}

int vm_json_put_machine_config(const json_t *body, bool patch, struct vm_config *cfg, char **fault)
{
	const char *where = "machine-config";
	if (check_body(body, &machine_spec, where, patch, fault) < 0)
		return -EINVAL;
	if (patch && !any_field(body))
		return fail(fault, "a PATCH of machine-config needs at least one field; expected some of "
			    "`vcpu_count`, `mem_size_mib`, `smt`");
	uint64_t cpus = cfg->nr_cpus, mib = cfg->mem_size >> MIB_SHIFT;
	if (bool_field(body, "smt", false))
		return fail(fault, "`smt` true is not supported by vmon (its vCPUs are one thread per core)");
	if (count_field(body, "vcpu_count", 1, MAX_VCPUS, where, &cpus, fault) < 0 ||
	    count_field(body, "mem_size_mib", VM_MIN_MEMORY >> MIB_SHIFT, UINT64_MAX >> MIB_SHIFT, where, &mib,
			fault) < 0)
		return -EINVAL;
	cfg->nr_cpus = (unsigned)cpus;
	cfg->mem_size = mib << MIB_SHIFT;
	return 0;
}

json_t *vm_json_get_machine_config(const struct vm_config *cfg)
{
	return json_pack("{s:I, s:I, s:b, s:b, s:s}", "vcpu_count", (json_int_t)cfg->nr_cpus, "mem_size_mib",
			 (json_int_t)(cfg->mem_size >> MIB_SHIFT), "smt", 0, "track_dirty_pages", 0,
			 "huge_pages", "None");
}

static bool valid_id(const char *id)
{
	size_t n = strlen(id);
	return n >= 1 && n <= DEVICE_ID_MAX && strspn(id, ID_CHARS) == n;
}

/* The id field of a device body: well formed, and the one in the URL path when there is one. */
static int check_id(const json_t *body, const char *name, const char *path_id, const char *where,
		    char **fault)
{
	const char *id = string_field(body, name);
	if (!valid_id(id))
		return fail(fault, "`%s` in %s must be 1 to %d characters of A-Z, a-z, 0-9 and _, not \"%.64s\"",
			    name, where, DEVICE_ID_MAX, id);
	if (path_id && strcmp(id, path_id) != 0)
		return fail(fault, "`%s` \"%s\" in %s differs from the id in the path, \"%.64s\"", name, id, where,
			    path_id);
	return 0;
}

/* "drive `root`" when the URL's id is one, else "drive": where a fault is. */
static void device_where(char *buf, size_t size, const char *kind, const char *path_id)
{
	if (path_id && valid_id(path_id))
		snprintf(buf, size, "%s `%s`", kind, path_id);
	else
		snprintf(buf, size, "%s", kind);
}

static int find_disk(const struct vm_config *cfg, const char *id)
{
	for (unsigned i = 0; i < cfg->nr_disks; i++)
		if (strcmp(cfg->disks[i].id, id) == 0)
			return (int)i;
	return -1;
}

static int find_root_disk(const struct vm_config *cfg)
{
	for (unsigned i = 0; i < cfg->nr_disks; i++)
		if (cfg->disks[i].root)
			return (int)i;
	return -1;
}

/* Where the drive goes: its own slot, or a new one; at most one root device. A slot or -EINVAL. */
static int drive_slot(const struct vm_config *cfg, const char *id, bool root, const char *where, char **fault)
{
	int index = find_disk(cfg, id), root_index = find_root_disk(cfg);
	if (root && root_index >= 0 && root_index != index)
		return fail(fault, "%s cannot be a second root device; a root device is already configured: "
			    "drive `%s`", where, cfg->disks[root_index].id);
	if (index < 0 && cfg->nr_disks == VM_MAX_DISKS)
		return fail(fault, "cannot add %s: vmon takes at most %d drives", where, VM_MAX_DISKS);
	return index >= 0 ? index : (int)cfg->nr_disks;
}

/* Firecracker keeps the root device first (BlockBuilder::insert): it is /dev/vda. */
static void move_to_front(struct disk_config *disks, unsigned i)
{
	struct disk_config d = disks[i];
	memmove(&disks[1], &disks[0], i * sizeof(*disks));
	disks[0] = d;
}

static int put_drive(const json_t *body, const char *path_id, const char *where, struct vm_config *cfg,
		     char **fault)
{
	if (check_body(body, &drive_spec, where, false, fault) < 0 ||
	    check_id(body, "drive_id", path_id, where, fault) < 0)
		return -EINVAL;
	const char *id = string_field(body, "drive_id");
	const char *cache = string_field(body, "cache_type");
	struct disk_config disk = {
		.root = bool_field(body, "is_root_device", false),
		.readonly = bool_field(body, "is_read_only", false),
		.cache = cache && strcmp(cache, "Writeback") == 0 ? DISK_CACHE_WRITEBACK : DISK_CACHE_UNSAFE,
		.queues = 1,
		.transport = TRANSPORT_MMIO, /* Firecracker's guests boot with pci=off */
	};
	int slot = drive_slot(cfg, id, disk.root, where, fault);
	if (slot < 0)
		return slot;
	strcpy(disk.id, id);
	disk.path = strdup(string_field(body, "path_on_host"));
	if (!disk.path)
		return out_of_memory(fault);
	if ((unsigned)slot < cfg->nr_disks) {
		free(cfg->disks[slot].path);
		free(cfg->disks[slot].serial);
	} else {
		cfg->nr_disks++;
	}
	cfg->disks[slot] = disk;
	if (disk.root)
		move_to_front(cfg->disks, (unsigned)slot);
	return 0;
}

int vm_json_put_drive(const json_t *body, const char *path_id, struct vm_config *cfg, char **fault)
{
	char where[DEVICE_ID_MAX + 16];
	device_where(where, sizeof(where), "drive", path_id);
	return put_drive(body, path_id, where, cfg, fault);
}

int vm_json_patch_drive(const json_t *body, const char *path_id, const struct vm_config *cfg,
			unsigned *index, const char **path, char **fault)
{
	char where[DEVICE_ID_MAX + 16];
	device_where(where, sizeof(where), "drive", path_id);
	if (check_body(body, &partial_drive_spec, where, false, fault) < 0 ||
	    check_id(body, "drive_id", path_id, where, fault) < 0)
		return -EINVAL;
	int i = find_disk(cfg, string_field(body, "drive_id"));
	if (i < 0)
		return fail(fault, "cannot update %s: no drive of that id is configured", where);
	if (!string_field(body, "path_on_host"))
		return fail(fault, "a PATCH of %s without `path_on_host` asks for nothing vmon can change (it has no "
			    "rate limiters); give `path_on_host` to replace the drive's file", where);
	*index = (unsigned)i;
	*path = string_field(body, "path_on_host");
	return 0;
}

static int find_nic(const struct vm_config *cfg, const char *id)
{
	for (unsigned i = 0; i < cfg->nr_nics; i++)
		if (strcmp(cfg->nics[i].id, id) == 0)
			return (int)i;
	return -1;
}

/* Firecracker's NetworkInterfaceConfigs::insert: no two interfaces share a TAP or a MAC. */
static int check_nic_unique(const struct vm_config *cfg, const struct nic_config *nic, const char *where,
			    char **fault)
{
	for (unsigned i = 0; i < cfg->nr_nics; i++) {
		const struct nic_config *other = &cfg->nics[i];
		if (strcmp(other->id, nic->id) == 0)
			continue;
		if (strcmp(other->tap, nic->tap) == 0)
			return fail(fault, "`host_dev_name` \"%s\" in %s is already in use by network interface `%s`",
				    nic->tap, where, other->id);
		if (nic->mac_set && other->mac_set && memcmp(other->mac, nic->mac, 6) == 0)
			return fail(fault, "`guest_mac` in %s is already in use by network interface `%s`", where,
				    other->id);
	}
	return 0;
}

/* host_dev_name and guest_mac into nic. */
static int parse_nic_host_side(const json_t *body, const char *where, struct nic_config *nic, char **fault)
{
	const char *tap = string_field(body, "host_dev_name"), *mac = string_field(body, "guest_mac");
	const char *why;
	if (!*tap || strlen(tap) > NIC_NAME_MAX || strchr(tap, '/'))
		return fail(fault, "`host_dev_name` in %s must be a TAP interface name of 1 to %d characters "
			    "without '/', not \"%.64s\"", where, NIC_NAME_MAX, tap);
	strcpy(nic->tap, tap);
	nic->mac_set = mac != NULL;
	if (mac && cli_parse_mac(mac, nic->mac, &why) < 0)
		return fail(fault, "`guest_mac` in %s must be a unicast, non-zero MAC address like "
			    "52:54:00:12:34:56, not \"%.64s\"", where, mac);
	return 0;
}

static int put_nic(const json_t *body, const char *path_id, const char *where, struct vm_config *cfg,
		   char **fault)
{
	struct nic_config nic = { .queues = 1, .vhost = VHOST_AUTO, .transport = TRANSPORT_MMIO };
	if (check_body(body, &nic_spec, where, false, fault) < 0 ||
	    check_id(body, "iface_id", path_id, where, fault) < 0 ||
	    parse_nic_host_side(body, where, &nic, fault) < 0)
		return -EINVAL;
	strcpy(nic.id, string_field(body, "iface_id"));
	if (check_nic_unique(cfg, &nic, where, fault) < 0)
		return -EINVAL;
	int index = find_nic(cfg, nic.id);
	if (index < 0 && cfg->nr_nics == VM_MAX_NICS)
		return fail(fault, "cannot add %s: vmon takes at most %d network interfaces", where, VM_MAX_NICS);
	cfg->nics[index >= 0 ? (unsigned)index : cfg->nr_nics++] = nic;
	return 0;
}

int vm_json_put_network_interface(const json_t *body, const char *path_id, struct vm_config *cfg,
				  char **fault)
{
	char where[DEVICE_ID_MAX + 32];
	device_where(where, sizeof(where), "network interface", path_id);
	return put_nic(body, path_id, where, cfg, fault);
}

const char *vm_json_log_level(const char *word)
{
	int i = choice_index(find_field(&logger_spec, "level"), word);
	if (i < 0)
		return NULL;
	return strcmp(log_levels[i], "Warn") == 0 ? "Warning" : log_levels[i];
}

int vm_json_put_logger(const json_t *body, struct vm_config *cfg, char **fault)
{
	if (check_body(body, &logger_spec, "logger", false, fault) < 0)
		return -EINVAL;
	const char *level = string_field(body, "level");
	const char *values[] = { string_field(body, "log_path"), level ? vm_json_log_level(level) : NULL };
	char **const fields[] = { &cfg->logger.path, &cfg->logger.level };
	char *copies[2];
	if (copy_strings(copies, values, 2) < 0)
		return out_of_memory(fault);
	replace_strings(fields, copies, 2);
	cfg->logger.show_level = bool_field(body, "show_level", false);
	cfg->logger.show_origin = bool_field(body, "show_log_origin", false);
	return 0;
}

int vm_json_put_metrics(const json_t *body, struct vm_config *cfg, char **fault)
{
	if (check_body(body, &metrics_spec, "metrics", false, fault) < 0)
		return -EINVAL;
	return vm_config_set_string(&cfg->metrics_path, string_field(body, "metrics_path")) == 0 ? 0 :
		out_of_memory(fault);
}

int vm_json_snapshot_create(const json_t *body, struct vm_json_snapshot *out, char **fault)
{
	if (check_body(body, &snapshot_create_spec, "snapshot-create", false, fault) < 0)
		return -EINVAL;
	*out = (struct vm_json_snapshot){ .state_path = string_field(body, "snapshot_path"),
					  .mem_path = string_field(body, "mem_file_path") };
	return 0;
}

/* The memory file: mem_backend's backend_path or mem_file_path, exactly one given. NULL after *fault. */
static const char *snapshot_mem_path(const json_t *body, char **fault)
{
	const json_t *backend = json_object_get(body, "mem_backend");
	const char *file = string_field(body, "mem_file_path");
	if (json_is_null(backend))
		backend = NULL;
	if (backend && file) {
		fail(fault, "snapshot-load takes `mem_backend` or the older `mem_file_path`, not both");
		return NULL;
	}
	if (!backend && !file) {
		fail(fault, "missing field `mem_backend` in snapshot-load; expected an object with `backend_type` "
		     "\"File\" and `backend_path` (or the older `mem_file_path`)");
		return NULL;
	}
	if (backend && check_body(backend, &mem_backend_spec, "mem_backend", false, fault) < 0)
		return NULL;
	return backend ? string_field(backend, "backend_path") : file;
}

int vm_json_snapshot_load(const json_t *body, struct vm_json_snapshot *out, char **fault)
{
	if (check_body(body, &snapshot_load_spec, "snapshot-load", false, fault) < 0)
		return -EINVAL;
	const char *mem_path = snapshot_mem_path(body, fault);
	if (!mem_path)
		return -EINVAL;
	*out = (struct vm_json_snapshot){ .state_path = string_field(body, "snapshot_path"), .mem_path = mem_path,
					  .resume_vm = bool_field(body, "resume_vm", false) };
	return 0;
}

int vm_json_migrate(const json_t *body, struct vm_json_migrate *out, char **fault)
{
	const char *where = "migrate", *why;
	uint64_t downtime = MIGRATE_DEFAULT_MAX_DOWNTIME_MS;
	if (check_body(body, &migrate_spec, where, false, fault) < 0 ||
	    count_field(body, "max_downtime_ms", 1, VM_JSON_MAX_DOWNTIME_MS, where, &downtime, fault) < 0)
		return -EINVAL;
	const char *url = string_field(body, "destination_url");
	if (cli_parse_endpoint(url, &out->destination, &why) < 0)
		return fail(fault, "`destination_url` \"%.64s\" in %s %s", url, where, why);
	out->max_downtime_ms = (unsigned)downtime;
	return 0;
}

/* Adds value under key; on any failure both are released and NULL returned. */
static json_t *with(json_t *obj, const char *key, json_t *value)
{
	if (obj && value && json_object_set_new(obj, key, value) == 0)
		return obj;
	json_decref(obj);
	json_decref(value);
	return NULL;
}

/* Appends item; on any failure both are released and NULL returned. */
static json_t *append(json_t *array, json_t *item)
{
	if (array && item && json_array_append_new(array, item) == 0)
		return array;
	json_decref(array);
	json_decref(item);
	return NULL;
}

static json_t *drive_json(const struct disk_config *d)
{
	return json_pack("{s:s, s:s, s:b, s:b, s:s, s:s}", "drive_id", d->id, "path_on_host", d->path,
			 "is_root_device", d->root, "is_read_only", d->readonly, "cache_type",
			 d->cache == DISK_CACHE_UNSAFE ? "Unsafe" : "Writeback", "io_engine", "Async");
}

static json_t *nic_json(const struct nic_config *n)
{
	json_t *nic = json_pack("{s:s, s:s}", "iface_id", n->id, "host_dev_name", n->tap);
	if (!n->mac_set)
		return nic;
	const uint8_t *m = n->mac;
	char mac[18];
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
	return with(nic, "guest_mac", json_string(mac));
}

static json_t *devices_json(const struct vm_config *cfg, bool drives)
{
	json_t *list = json_array();
	for (unsigned i = 0; i < (drives ? cfg->nr_disks : cfg->nr_nics); i++)
		list = append(list, drives ? drive_json(&cfg->disks[i]) : nic_json(&cfg->nics[i]));
	return list;
}

static bool logger_set(const struct logger_config *l)
{
	return l->path || l->level || l->show_level || l->show_origin;
}

json_t *vm_json_get_vm_config(const struct vm_config *cfg)
{
	json_t *doc = json_object();
	if (cfg->kernel_path)
		doc = with(doc, "boot-source", json_pack("{s:s, s:s*, s:s*}", "kernel_image_path", cfg->kernel_path,
							 "initrd_path", cfg->initrd_path, "boot_args", cfg->cmdline));
	doc = with(doc, "machine-config", vm_json_get_machine_config(cfg));
	doc = with(doc, "drives", devices_json(cfg, true));
	doc = with(doc, "network-interfaces", devices_json(cfg, false));
	if (logger_set(&cfg->logger))
		doc = with(doc, "logger", json_pack("{s:s*, s:s*, s:b, s:b}", "log_path", cfg->logger.path, "level",
						    cfg->logger.level, "show_level", cfg->logger.show_level,
						    "show_log_origin", cfg->logger.show_origin));
	if (cfg->metrics_path)
		doc = with(doc, "metrics", json_pack("{s:s}", "metrics_path", cfg->metrics_path));
	return doc;
}

static int load_machine_config(const json_t *section, struct vm_config *cfg, char **fault)
{
	return vm_json_put_machine_config(section, false, cfg, fault);
}

/* Each item of a "drives" or "network-interfaces" array, as its PUT without a path id. */
static int load_devices(const json_t *list, const char *section, struct vm_config *cfg, char **fault,
			int (*put)(const json_t *, const char *, const char *, struct vm_config *, char **))
{
	char where[48];
	if (!json_is_array(list))
		return fail(fault, "`%s` must be an array, not %s", section, type_name(json_typeof(list)));
	for (size_t i = 0; i < json_array_size(list); i++) {
		snprintf(where, sizeof(where), "%s[%zu]", section, i);
		int ret = put(json_array_get(list, i), NULL, where, cfg, fault);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int load_drives(const json_t *list, struct vm_config *cfg, char **fault)
{
	return load_devices(list, "drives", cfg, fault, put_drive);
}

static int load_nics(const json_t *list, struct vm_config *cfg, char **fault)
{
	return load_devices(list, "network-interfaces", cfg, fault, put_nic);
}

/* The sections of Firecracker's --config-file that vmon knows, in the order they are applied. */
static const struct {
	const char *name;
	int (*load)(const json_t *section, struct vm_config *cfg, char **fault);
} sections[] = {
	{ "boot-source", vm_json_put_boot_source },
	{ "machine-config", load_machine_config },
	{ "drives", load_drives },
	{ "network-interfaces", load_nics },
	{ "logger", vm_json_put_logger },
	{ "metrics", vm_json_put_metrics },
};

/* Firecracker's other sections (FullVmConfiguration): null asks for nothing, anything else is refused. */
static const char *const unsupported_sections[] = {
	"balloon", "cpu-config", "entropy", "memory-hotplug", "mmds-config", "pmem", "serial", "vsock",
};

static int check_section_name(const char *name, const json_t *value, char **fault)
{
	const char *names[COUNT(sections)];
	char list[256];
	for (size_t i = 0; i < COUNT(sections); i++)
		if (strcmp(name, sections[i].name) == 0)
			return 0;
	for (size_t i = 0; i < COUNT(unsupported_sections); i++)
		if (strcmp(name, unsupported_sections[i]) == 0)
			return json_is_null(value) || (json_is_array(value) && json_array_size(value) == 0) ? 0 :
				fail(fault, "section `%s` is not supported by vmon", name);
	for (size_t i = 0; i < COUNT(sections); i++)
		names[i] = sections[i].name;
	join(list, sizeof(list), names, COUNT(sections), '`');
	return fail(fault, "unknown section `%.64s`; expected one of %s", name, list);
}

static int load_sections(const json_t *doc, struct vm_config *cfg, char **fault)
{
	const char *key;
	json_t *value;
	if (!json_is_object(doc))
		return fail(fault, "the configuration must be a JSON object, not %s", type_name(json_typeof(doc)));
	json_object_foreach((json_t *)doc, key, value) /* the iterator is not const */
		if (check_section_name(key, value, fault) < 0)
			return -EINVAL;
	const json_t *boot = json_object_get(doc, "boot-source");
	if (!boot || json_is_null(boot))
		return fail(fault, "missing section `boot-source`; expected an object with `kernel_image_path`");
	for (size_t i = 0; i < COUNT(sections); i++) {
		const json_t *section = json_object_get(doc, sections[i].name);
		int ret = section && !json_is_null(section) ? sections[i].load(section, cfg, fault) : 0;
		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * cfg becomes the defaults plus the document; what the document cannot
 * say (the console, --stats) is kept from cfg.
 */
int vm_json_load_vm_config(const json_t *doc, struct vm_config *cfg, char **fault)
{
	struct vm_config loaded;
	vm_config_init(&loaded);
	loaded.console = cfg->console;
	loaded.stats = cfg->stats;
	int ret = load_sections(doc, &loaded, fault);
	if (ret < 0) {
		vm_config_free(&loaded);
		return ret;
	}
	vm_config_free(cfg);
	*cfg = loaded;
	return 0;
}
