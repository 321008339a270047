/* The command line of vmon. */
#ifndef VMON_CLI_ARGS_H
#define VMON_CLI_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "cli/values.h"
#include "vmm/config.h"

/*
 * CLI_RUN: vmon run ... (options or --config-file FILE), or vmon --config-file
 *          FILE (Firecracker's --no-api), fills cfg.
 * CLI_API: vmon --api-sock PATH [Firecracker's flags]: the API serves; the VM
 *          is the one --config-file describes, started at once, or none until
 *          the API starts one.
 * CLI_CTL: vmon ctl --api-sock PATH ACTION (cli/ctl.h's actions).
 */
enum cli_command { CLI_RUN, CLI_HELP, CLI_VERSION, CLI_API, CLI_CTL };

/* What the commands need besides cfg; the strings point into argv. */
struct cli_extra {
	const char *api_sock;     /* CLI_API and CLI_CTL */
	const char *instance_id;  /* --id: GET /'s "id"; NULL: none given */
	const char *ctl_action;
	bool from_config_file;    /* cfg came from --config-file: run it as the API would (logger, metrics) */
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
