/* vmon: a virtual machine monitor on Linux KVM. */
#include <stdio.h>

#include "cli/args.h"
#include "vmm/machine.h"

int main(int argc, char **argv)
{
	enum cli_command cmd;
	struct vm_config cfg;
	if (cli_parse(argc, argv, &cmd, &cfg) < 0)
		return VMON_EXIT_ERROR;

	switch (cmd) {
	case CLI_HELP:
		cli_print_help();
		return 0;
	case CLI_VERSION:
		printf("vmon %s\n", VMON_VERSION);
		return 0;
	default:
		return (int)machine_run(&cfg);
	}
}
