/*
 * A whole virtual machine: memory, vCPUs, buses and devices.
 *
 * The command line runs one to its end (machine_run). The API builds it
 * with machine_create, starts it, pauses and resumes it, and then waits
 * for it like the command line does (machine_wait).
 */
#ifndef VMON_VMM_MACHINE_H
#define VMON_VMM_MACHINE_H

#include <stdint.h>

#include "devices/virtio/blk.h"
#include "devices/virtio/net.h"
#include "hv/hv.h"
#include "vmm/config.h"

struct machine;

/* Builds the VM described by cfg, runs it until it stops, returns vmon's exit status. */
enum vmon_exit_status machine_run(const struct vm_config *cfg);

/*
 * Builds the VM (guest RAM, kernel, devices, vCPUs) without running it.
 * cfg must outlive the machine. 0, or -errno after logging why.
 *
 * The stop signals (SIGINT, SIGTERM, SIGHUP) end the VM through a signalfd
 * that machine_wait reads: machine_create blocks them in the calling
 * thread, and a program with more threads blocks them in its main thread
 * before it creates any. vCPU threads take no asynchronous signal but
 * their kick, whichever thread starts them.
 *
 * While one thread sleeps in machine_wait, others (the API's) may call
 * machine_start (once), machine_pause, machine_resume,
 * machine_send_ctrl_alt_del, machine_replace_disk, machine_request_shutdown
 * and machine_get_counters. machine_destroy comes last, when no other call
 * runs.
 */
int machine_create(const struct vm_config *cfg, struct machine **out);
/* Starts the vCPU threads. 0 or -errno (logged). */
int machine_start(struct machine *m);
/*
 * Parks every vCPU outside KVM_RUN (returns once they all are), or lets
 * them run again. Devices' I/O threads go on. Idempotent. 0 or -errno.
 */
int machine_pause(struct machine *m);
int machine_resume(struct machine *m);
/* Presses and releases Ctrl-Alt-Del on the i8042 keyboard. 0 or -errno. */
int machine_send_ctrl_alt_del(struct machine *m);
/*
 * Points disk `index` (in cfg->disks order) at another image while the VM
 * runs: the guest sees the new capacity through a configuration change.
 * 0, or -errno with *why a sentence for the user.
 */
int machine_replace_disk(struct machine *m, unsigned index, const char *path, const char **why);
/* Asks the VM to stop, as a signal does (machine_wait then returns). */
void machine_request_shutdown(struct machine *m);
/* Sleeps until the VM stops (guest, signal or request); vmon's exit status. */
enum vmon_exit_status machine_wait(struct machine *m);
/* Stops whatever runs and frees everything. NULL is fine. */
void machine_destroy(struct machine *m);

/*
 * The counters of a running (or stopped) machine: read without stopping it.
 * (struct disk_counters is virtio-blk's, as struct net_counters is virtio-net's.)
 */
struct machine_counters {
	uint64_t exits[HV_EXIT_KIND_COUNT];  /* summed over the vCPUs */
	unsigned nr_disks, nr_nics;
	struct disk_counters disks[VM_MAX_DISKS];
	struct net_counters nics[VM_MAX_NICS];
};
void machine_get_counters(struct machine *m, struct machine_counters *out);
/* The name of exit kind k, as --stats prints it ("io", "mmio", "hlt", ...). */
const char *machine_exit_kind_name(unsigned k);

#endif
