/* vmon: a virtual machine monitor on Linux KVM. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "api/run.h"
#include "backends/stdio_console.h"
#include "cli/args.h"
#include "cli/ctl.h"
#include "vmm/machine.h"

/* A fatal signal in vmon itself: give the terminal back, then die of it. */
static void on_fatal_signal(int sig)
{
	stdio_console_restore_terminal();
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Every signal whose default action ends the process, except those the
 * machine reads from its signalfd (SIGINT, SIGTERM, SIGHUP) and the vCPU kick.
 */
static void install_fatal_signal_handlers(void)
{
	static const int fatal[] = {
		SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGQUIT, SIGTRAP, SIGSYS,
		SIGXCPU, SIGXFSZ, SIGALRM, SIGUSR2, SIGVTALRM, SIGPROF,
	};
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal_signal;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		sigaction(fatal[i], &sa, NULL);
	/* A closed stdout or stderr pipe: writes fail with EPIPE, vmon goes on. */
	signal(SIGPIPE, SIG_IGN);
}

/*
 * The API's machinery runs the VM when the API serves, a configuration
 * file describes it, or it comes from a snapshot or a migration (so the
 * logger and metrics apply); run's options boot it directly.
 */
static enum vmon_exit_status run_vm(enum cli_command cmd, struct vm_config *cfg, const struct cli_extra *extra)
{
	if (cmd == CLI_RUN && !extra->from_config_file)
		return machine_run(cfg);
	bool restore = cmd == CLI_RESTORE, elsewhere = restore || cmd == CLI_RECEIVE;
	return api_run(&(struct api_run_options){
		.sock_path = extra->api_sock, .instance_id = extra->instance_id,
		.cfg = extra->from_config_file || elsewhere ? cfg : NULL,
		.restore_state_path = restore ? extra->state_file : NULL,
		.restore_mem_path = restore ? extra->mem_file : NULL,
		.restore_paused = extra->restore_paused,
		.migrate_listen = extra->listen, .migrate_allowed = &extra->allowed,
	});
}

int main(int argc, char **argv)
{
	enum cli_command cmd;
	struct vm_config cfg;
	struct cli_extra extra;
	int status = 0;
	if (cli_parse(argc, argv, &cmd, &cfg, &extra) < 0)
		status = VMON_EXIT_ERROR;
	else if (cmd == CLI_HELP)
		cli_print_help();
	else if (cmd == CLI_VERSION)
		printf("vmon %s\n", VMON_VERSION);
	else if (cmd == CLI_CTL)
		status = ctl_run(extra.api_sock, extra.ctl_action, &extra.migrate);
	else if (cmd == CLI_SNAPSHOT)
		status = ctl_snapshot(extra.api_sock, extra.state_file, extra.mem_file);
	else {
		install_fatal_signal_handlers();
		status = (int)run_vm(cmd, &cfg, &extra);
	}
	cli_free_config(&cfg);
	return status;
}
