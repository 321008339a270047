/*
 * The machine's configuration as the JSON bodies of Firecracker's API
 * (its OpenAPI description: BootSource, MachineConfiguration, Drive,
 * PartialDrive, NetworkInterface, Logger, Metrics, FullVmConfiguration),
 * and back. Shared by the API (PUT/PATCH/GET bodies) and
 * `vmon run --config-file` (the GET /vm/config document).
 *
 * Every parser checks the whole body before it changes cfg: on error cfg
 * is untouched and *fault is a malloc'd sentence for {"fault_message"}
 * (unknown fields, wrong types, missing required fields, values out of
 * range all say which field). Ids ("drive_id", "iface_id") are 1..63
 * characters of [A-Za-z0-9_].
 */
#ifndef VMON_API_VM_JSON_H
#define VMON_API_VM_JSON_H

#include <jansson.h>
#include <stdbool.h>

#include "vmm/config.h"

/* PUT /boot-source: kernel_image_path (required), initrd_path, boot_args. */
int vm_json_put_boot_source(const json_t *body, struct vm_config *cfg, char **fault);

/*
 * PUT /machine-config (vcpu_count and mem_size_mib required; smt only
 * false: vmon's vCPUs are one thread per core) or, with patch, PATCH
 * /machine-config (any subset, at least one).
 */
int vm_json_put_machine_config(const json_t *body, bool patch, struct vm_config *cfg, char **fault);
json_t *vm_json_get_machine_config(const struct vm_config *cfg);

/*
 * PUT /drives/{id}: drive_id (must equal the path's id), path_on_host,
 * is_root_device (required), is_read_only, cache_type ("Unsafe", the
 * default, or "Writeback"); replaces the drive of that id or adds one.
 * At most one root device, and it becomes the first disk. Drives and
 * network interfaces are virtio-mmio devices, as Firecracker's are.
 */
int vm_json_put_drive(const json_t *body, const char *path_id, struct vm_config *cfg, char **fault);

/*
 * PATCH /drives/{id}: drive_id and path_on_host. path_on_host is optional
 * in Firecracker (a PATCH may change only rate limiters), but vmon has no
 * rate limiters: without it the PATCH is a fault. On success *index is the
 * disk's index in cfg->disks and *path the new path (owned by body); cfg
 * is not changed (the caller swaps the image, then records the path).
 */
int vm_json_patch_drive(const json_t *body, const char *path_id, const struct vm_config *cfg,
			unsigned *index, const char **path, char **fault);

/* PUT /network-interfaces/{id}: iface_id (= the path's), host_dev_name (required), guest_mac. */
int vm_json_put_network_interface(const json_t *body, const char *path_id, struct vm_config *cfg,
				  char **fault);

/* PUT /logger: log_path, level, show_level, show_log_origin (all optional). */
int vm_json_put_logger(const json_t *body, struct vm_config *cfg, char **fault);
/*
 * A log level as Firecracker takes it, in any case: "Error", "Warning" (or
 * "Warn"), "Info", "Debug", "Trace", "Off". The spelling cfg->logger.level
 * keeps ("Warn" becomes "Warning"), or NULL if word is none of them.
 */
const char *vm_json_log_level(const char *word);
/* PUT /metrics: metrics_path (required). */
int vm_json_put_metrics(const json_t *body, struct vm_config *cfg, char **fault);

/* A snapshot request's files (pointing into the body); resume_vm: /snapshot/load's. */
struct vm_json_snapshot {
	const char *state_path, *mem_path;
	bool resume_vm;
};

/*
 * PUT /snapshot/create: snapshot_path and mem_file_path (required);
 * snapshot_type "Full" only (vmon has no diff snapshots); no version
 * (vmon writes its own format version).
 */
int vm_json_snapshot_create(const json_t *body, struct vm_json_snapshot *out, char **fault);
/*
 * PUT /snapshot/load: snapshot_path (required), the memory file as
 * mem_backend {backend_type "File" (no "Uffd"), backend_path} or the older
 * mem_file_path (exactly one of the two), resume_vm (default false),
 * enable_diff_snapshots and track_dirty_pages false only.
 */
int vm_json_snapshot_load(const json_t *body, struct vm_json_snapshot *out, char **fault);

/* The longest downtime a migration may be given (one minute). */
#define VM_JSON_MAX_DOWNTIME_MS 60000

struct vm_json_migrate {
	const char *destination;   /* "ADDR:PORT", pointing into the body */
	unsigned max_downtime_ms;
};
/*
 * PUT /migrate (vmon's own): destination_url "ADDR:PORT" or "tcp:ADDR:PORT"
 * (required), max_downtime_ms 1..VM_JSON_MAX_DOWNTIME_MS (default
 * MIGRATE_DEFAULT_MAX_DOWNTIME_MS).
 */
int vm_json_migrate(const json_t *body, struct vm_json_migrate *out, char **fault);

/*
 * The whole configuration: {"boot-source", "machine-config", "drives",
 * "network-interfaces", "logger", "metrics"} (GET /vm/config), and a
 * configuration from such a document (--config-file; "boot-source" is
 * required, the rest optional; unknown sections are refused). The root
 * device's "root=/dev/vda ro|rw" is in boot_args only as the user wrote
 * it: the machine adds it when it starts (vm_config_boot_cmdline).
 */
json_t *vm_json_get_vm_config(const struct vm_config *cfg);
int vm_json_load_vm_config(const json_t *doc, struct vm_config *cfg, char **fault);

#endif
