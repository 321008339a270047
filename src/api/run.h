/*
 * vmon with the API's machinery: `vmon --api-sock PATH` (no VM until the
 * API starts one, or the one --config-file describes, started at once),
 * and `vmon run --config-file FILE` (no socket; the file's logger and
 * metrics apply as the API's would). vmon ends when the VM does, or on
 * SIGINT, SIGTERM or SIGHUP.
 */
#ifndef VMON_API_RUN_H
#define VMON_API_RUN_H

#include "vmm/config.h"

struct api_run_options {
	const char *sock_path;     /* the API's socket, created here; NULL: none */
	const char *instance_id;   /* GET /'s "id" (Firecracker's --id); NULL: "anonymous-instance" */
	struct vm_config *cfg;     /* a configuration to start at once (moved out: *cfg is left empty); NULL: none */
};

/* Runs until the VM ends (or, with no VM yet, a stop signal); vmon's exit status. */
enum vmon_exit_status api_run(const struct api_run_options *o);

#endif
