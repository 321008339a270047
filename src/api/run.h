/*
 * vmon with the API's machinery: `vmon --api-sock PATH` (no VM until the
 * API starts one, or the one --config-file describes, started at once),
 * `vmon run --config-file FILE` (no socket; the file's logger and metrics
 * apply as the API's would), `vmon restore` (the VM of a snapshot) and
 * `vmon migrate-receive` (the VM a live migration brings); the last two
 * serve the API too with a socket. vmon ends when the VM does, or on
 * SIGINT, SIGTERM or SIGHUP, or once the API migrated the VM away.
 */
#ifndef VMON_API_RUN_H
#define VMON_API_RUN_H

#include <stdbool.h>

#include "migration/migrate.h"
#include "vmm/config.h"

struct api_run_options {
	const char *sock_path;     /* the API's socket, created here; NULL: none */
	const char *instance_id;   /* GET /'s "id" (Firecracker's --id); NULL: "anonymous-instance" */
	/*
	 * A configuration to start at once (moved out: *cfg is left empty);
	 * NULL: none. With a restore or a migration only its logger and
	 * metrics count.
	 */
	struct vm_config *cfg;
	/* vmon restore: the snapshot's files; the VM runs unless restore_paused. */
	const char *restore_state_path, *restore_mem_path;
	bool restore_paused;
	/* vmon migrate-receive: "ADDR:PORT" to take one migration on, before the API serves. */
	const char *migrate_listen;
	const struct migrate_resources *migrate_allowed; /* what that VM may open */
};

/* Runs until the VM ends (or, with no VM yet, a stop signal); vmon's exit status. */
enum vmon_exit_status api_run(const struct api_run_options *o);

#endif
