/*
 * A whole virtual machine: memory, vCPUs, buses and devices.
 *
 * The command line runs one to its end (machine_run). The API builds it
 * with machine_create, starts it, pauses and resumes it, and then waits
 * for it like the command line does (machine_wait).
 */
#ifndef VMON_VMM_MACHINE_H
#define VMON_VMM_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/virtio/blk.h"
#include "devices/virtio/net.h"
#include "hv/hv.h"
#include "vmm/config.h"
#include "vmm/guest_mem.h"

struct state_reader;

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
 * Resuming a frozen machine (a restore, a migration that ended unsure)
 * thaws it: its devices serve again first.
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
/* Whether the VM was asked to stop (by itself, a signal or a request). */
bool machine_stop_requested(struct machine *m);
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

/*
 * Snapshots and live migration (src/migration/ drives these).
 *
 * machine_freeze parks the vCPUs and quiesces every device (requests in
 * flight answered, I/O threads stopped): guest memory and the machine's
 * state then stand still. machine_thaw lets the devices serve again and,
 * with run_vcpus, the vCPUs run (else they stay paused, as after
 * machine_pause). Both from the thread that drives the machine (the
 * API's), never together with machine_pause/resume.
 */
int machine_freeze(struct machine *m);
int machine_thaw(struct machine *m, bool run_vcpus);
/* Whether the vCPUs are paused (machine_pause, or a paused restore). */
bool machine_is_paused(struct machine *m);
/*
 * The frozen machine's whole state as a state blob (src/migration/state.h):
 * configuration, vCPUs, interrupt controllers and clock, devices. *blob is
 * malloc'd. 0 or -errno (logged).
 */
int machine_save_state(struct machine *m, uint8_t **blob, size_t *len);
/*
 * Whether machine_save_state can describe this machine: not with --iommu,
 * whose unit and IOAPIC keep state the format has no section for yet.
 * 0, or -ENOTSUP after logging why.
 */
int machine_check_savable(struct machine *m);
/* The configuration the machine was built from. */
const struct vm_config *machine_config(struct machine *m);
/* Guest RAM, to copy it out (snapshot, migration source) or in (migration destination). */
struct guest_mem *machine_memory(struct machine *m);

/*
 * Live migration's dirty pages, on a frozen machine: machine_track_dirty(m,
 * true) starts logging the pages the vCPUs (KVM's dirty log) and vmon's
 * devices write, NICs moving from vhost-net to vmon's own data path (the
 * kernel's writes would be in neither log); false stops and moves them back.
 * machine_take_dirty ORs those written since the last call into `bitmap`
 * (one bit per page of the RAM mapping, guest_mem order) and clears them;
 * since_start adds every page a device wrote since tracking started
 * (guest_mem_take_written). 0 or -errno (-ENOTSUP: this KVM cannot log
 * dirty pages).
 */
int machine_track_dirty(struct machine *m, bool on);
int machine_take_dirty(struct machine *m, uint64_t *bitmap, bool since_start);

/*
 * A machine to restore into (snapshot load, migration destination): built
 * from cfg like machine_create, but no kernel is loaded and no vCPU is set
 * up for boot. Its RAM is the memory file `mem_fd` mapped MAP_PRIVATE, or
 * with mem_fd -1 zeroed anonymous memory the caller fills in
 * (machine_memory). machine_load_state then sets every vCPU, the
 * interrupt controllers, the clock and the devices from the state blob
 * (which must describe this configuration) and leaves it frozen: vCPUs
 * paused, devices quiesced. machine_start, then machine_resume, runs it
 * (in either order); nothing of it runs before. 0, or -errno after
 * logging why.
 */
int machine_create_restored(const struct vm_config *cfg, int mem_fd, struct machine **out);
int machine_load_state(struct machine *m, const struct state_reader *r);

#endif
