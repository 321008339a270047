/*
 * Firecracker's management API (its OpenAPI description is the reference),
 * without the transport: a request (method, path, body) in, a status and a
 * JSON body out. server.h carries it over HTTP/1.1 on a Unix socket; tests
 * and the fuzz target call api_handle directly.
 *
 * Before InstanceStart the requests build a vm_config; InstanceStart hands
 * it to the VM side (struct api_vm_ops), which builds and starts the
 * machine. PUT /snapshot/load instead builds it from a snapshot, whose
 * configuration becomes the API's. Afterwards only the calls Firecracker
 * allows on a running VM are accepted (pause/resume, Ctrl-Alt-Del, drive
 * swap, metrics, snapshots, GETs) and vmon's PUT /migrate, after which the
 * VM runs elsewhere and this vmon ends. Errors are 400 with
 * {"fault_message": "..."} saying what to do instead; when the VM side
 * fails, the reason is the error it logged (log_last_error).
 */
#ifndef VMON_API_API_H
#define VMON_API_API_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "migration/migrate.h"
#include "vmm/config.h"
#include "vmm/machine.h"

/* Firecracker's limit on a request body (its http_api_max_payload_size default). */
#define API_MAX_BODY 51200

/* The VM behind the API: the real machine (api_vm_machine) or a test's fake. */
struct api_vm_ops {
	/* Builds and starts the VM from cfg (which outlives it). 0 or -errno. */
	int (*start)(void *ctx, const struct vm_config *cfg);
	int (*pause)(void *ctx);
	int (*resume)(void *ctx);
	int (*ctrl_alt_del)(void *ctx);
	/* 0, or -errno with *why for the fault message. */
	int (*replace_disk)(void *ctx, unsigned index, const char *path, const char **why);
	void (*counters)(void *ctx, struct machine_counters *out);
	/* Snapshots the paused VM into two files. 0 or -errno (logged). */
	int (*snapshot_create)(void *ctx, const char *state_path, const char *mem_path);
	/*
	 * Builds the VM from a snapshot: *cfg (empty, as after vm_config_init)
	 * receives the snapshot's configuration, which the VM is built on and
	 * which outlives it; the vCPUs run with resume, else stay paused.
	 * 0, or -errno (logged; *cfg may then hold anything, the caller frees it).
	 */
	int (*snapshot_load)(void *ctx, const char *state_path, const char *mem_path, bool resume,
			     struct vm_config *cfg);
	/* migrate_send: 0 (the VM runs at the destination, frozen here) or its -errno (logged). */
	int (*migrate)(void *ctx, const char *destination, unsigned max_downtime_ms, struct migrate_stats *stats);
	/* Asks vmon to end, as a stop signal does (after a migration). */
	void (*shutdown)(void *ctx);
	void *ctx;
};

/* MIGRATED: the VM runs elsewhere; only GETs are answered until vmon ends. */
enum api_vm_state { API_VM_NOT_STARTED, API_VM_RUNNING, API_VM_PAUSED, API_VM_MIGRATED };

struct api {
	/* Serialises requests: protects everything below. */
	pthread_mutex_t lock;
	struct api_vm_ops vm;
	enum api_vm_state state;
	struct vm_config cfg;
	bool machine_configured;            /* boot source, machine, drive or NIC put: no snapshot load */
	const char *instance_id;            /* GET /'s "id" */
	int metrics_fd;                     /* opened by PUT /metrics; -1: none */
	uint64_t requests, faults;          /* answered, and of those with a fault */
	/* What the last metrics line counted from: each line is the change since. */
	struct machine_counters last_flush;
	uint64_t flushed_requests, flushed_faults;
};

struct api_response {
	unsigned status;   /* 200, 204 or 400 */
	char *body;        /* malloc'd JSON; NULL with 204 */
	bool ends_vmon;    /* the VM runs elsewhere now: call api_end once this answer is sent */
};

/* instance_id: GET /'s "id" (outlives api); NULL: Firecracker's "anonymous-instance". */
void api_init(struct api *api, const struct api_vm_ops *vm, const char *instance_id);
void api_destroy(struct api *api);

/* Answers one request; body need not be NUL-terminated. Thread-safe. */
void api_handle(struct api *api, const char *method, const char *path, const char *body,
		size_t len, struct api_response *out);
void api_response_free(struct api_response *r);

/*
 * A configuration made elsewhere (--config-file): taken over (*cfg is left
 * empty), its logger and metrics applied and the VM started, as the API
 * calls would. 0; -EINVAL with *fault (malloc'd) for what the
 * configuration lacks; or the VM side's -errno (*fault NULL: it logged why).
 */
int api_start_configured(struct api *api, struct vm_config *cfg, char **fault);

/*
 * A VM built without InstanceStart (vmon restore, vmon migrate-receive):
 * cfg's logger and metrics are applied as api_start_configured does (cfg
 * is left empty), then build(arg, &api->cfg) builds the VM on the API's
 * configuration, as the snapshot_load op does (same contract), and the
 * state becomes Paused (paused) or Running. 0; -EINVAL with *fault
 * (malloc'd) when the logger or metrics cannot be applied; or build's
 * -errno (*fault NULL: it logged why).
 */
typedef int api_vm_builder(void *arg, struct vm_config *cfg);
int api_start_built(struct api *api, struct vm_config *cfg, api_vm_builder *build, void *arg, bool paused,
		    char **fault);

/* Ends vmon through the VM side's shutdown (the server calls it once an ends_vmon answer is sent). */
void api_end(struct api *api);

/*
 * Writes one metrics line now (the periodic flush, and at exit): counters
 * since the last flush, as Firecracker's metrics are. 0, or -EINVAL when
 * no metrics file is configured, -ETIMEDOUT when a request has held the
 * API for 2 s, or -errno.
 */
int api_flush_metrics(struct api *api);
/* The state as GET / words it: "Not started", "Running", "Paused", "Migrated". */
const char *api_state_name(enum api_vm_state s);

#endif
