/*
 * `vmon --api-sock PATH`: vmon with no VM, configured and started through
 * the API (api.h over server.h); it ends when the VM does, or on SIGINT,
 * SIGTERM or SIGHUP before the VM starts.
 */
#ifndef VMON_API_RUN_H
#define VMON_API_RUN_H

#include "vmm/config.h"

/* Serves the API on a new socket at path until the VM ends; vmon's exit status. */
enum vmon_exit_status api_run(const char *sock_path);

#endif
