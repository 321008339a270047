/* The command line of vmon. */
#ifndef VMON_CLI_ARGS_H
#define VMON_CLI_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "cli/ctl.h"
#include "cli/values.h"
#include "migration/migrate.h"
#include "vmm/config.h"

/*
 * CLI_RUN: vmon run ... (options or --config-file FILE), or vmon --config-file
 *          FILE (Firecracker's --no-api), fills cfg.
 * CLI_API: vmon --api-sock PATH [Firecracker's flags]: the API serves; the VM
 *          is the one --config-file describes, started at once, or none until
 *          the API starts one.
 * CLI_CTL: vmon ctl --api-sock PATH ACTION (cli/ctl.h's actions).
 * CLI_SNAPSHOT: vmon snapshot --api-sock PATH STATE_FILE MEM_FILE.
 * CLI_RESTORE: vmon restore STATE_FILE MEM_FILE [--paused] [--api-sock PATH]
 *          [--id, the logger and metrics flags]: the snapshot's VM (cfg holds
 *          only the flags' logger and metrics).
 * CLI_RECEIVE: vmon migrate-receive --listen ADDR:PORT [the same flags]: the
 *          VM a live migration brings.
 */
enum cli_command { CLI_RUN, CLI_HELP, CLI_VERSION, CLI_API, CLI_CTL, CLI_SNAPSHOT, CLI_RESTORE, CLI_RECEIVE };

/* What the commands need besides cfg; the strings point into argv. */
struct cli_extra {
	const char *api_sock;     /* CLI_API, CLI_CTL, CLI_SNAPSHOT; optional for CLI_RESTORE and CLI_RECEIVE */
	const char *instance_id;  /* --id: GET /'s "id"; NULL: none given */
	const char *ctl_action;
	struct ctl_migrate migrate;  /* ctl migrate's --to and --max-downtime-ms */
	bool from_config_file;    /* cfg came from --config-file: run it as the API would (logger, metrics) */
	const char *state_file, *mem_file;  /* CLI_SNAPSHOT and CLI_RESTORE: the snapshot's files */
	bool restore_paused;      /* restore --paused */
	const char *listen;       /* CLI_RECEIVE: --listen's ADDR:PORT (without "tcp:") */
	struct migrate_resources allowed; /* CLI_RECEIVE: --allow-disk and --allow-tap */
};

/*
 * Parses argv. Returns 0, or -1 after writing one line that says what is
 * wrong to stderr. cfg is always initialised (cli_free_config frees it).
 */
int cli_parse(int argc, char **argv, enum cli_command *cmd, struct vm_config *cfg,
	      struct cli_extra *extra);

void cli_print_help(void);

void cli_free_config(struct vm_config *cfg);

#endif
