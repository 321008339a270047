/* A whole virtual machine: memory, vCPUs, buses and devices, run to its end. */
#ifndef VMON_VMM_MACHINE_H
#define VMON_VMM_MACHINE_H

#include "vmm/config.h"

/* Builds the VM described by cfg, runs it until it stops, returns vmon's exit status. */
enum vmon_exit_status machine_run(const struct vm_config *cfg);

#endif
