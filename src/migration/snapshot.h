/*
 * Snapshots (Firecracker's PUT /snapshot/create and /snapshot/load, and
 * `vmon snapshot` / `vmon restore`): a paused VM's state in one file (the
 * state format, state.h) and its RAM in another (a raw image, RAM in
 * guest_mem order; pages of zeroes are holes).
 *
 * Both files are written beside their final paths and renamed into place
 * once complete: a failed snapshot leaves any older file of that name as
 * it was. Restoring maps the memory file MAP_PRIVATE: the guest's pages
 * are read in as it touches them, and VMs restored from one file share
 * the pages they do not write.
 */
#ifndef VMON_MIGRATION_SNAPSHOT_H
#define VMON_MIGRATION_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "migration/state.h"
#include "vmm/config.h"
#include "vmm/machine.h"

/* What a snapshot took, for the log and the benchmark. */
struct snapshot_stats {
	uint64_t state_bytes;
	uint64_t memory_bytes;   /* RAM size */
	uint64_t written_bytes;  /* of it, the pages that were not zero */
	uint64_t elapsed_us;
};

/*
 * Snapshots the paused machine m: 0, or -errno after logging why (no file
 * is left at either path then, older ones are kept). The machine stays
 * paused and its devices serve again.
 */
int snapshot_create(struct machine *m, const char *state_path, const char *mem_path,
		    struct snapshot_stats *stats);

/* A state file read and checked, with the configuration it holds. */
struct snapshot {
	uint8_t *blob;
	size_t len;
	struct state_reader reader;
	struct vm_config cfg;
};

/* Reads and checks `state_path`. 0, or -errno after logging why. */
int snapshot_open(struct snapshot *s, const char *state_path);
void snapshot_close(struct snapshot *s);

/*
 * Builds the machine the snapshot describes (configuration cfg: s->cfg or
 * a copy of it, which must outlive the machine) on the memory file
 * `mem_path` and loads its state: the vCPUs are created paused
 * (machine_start, then machine_resume, runs them). 0, or -errno after
 * logging why (nothing is left running).
 */
int snapshot_restore(const struct snapshot *s, const struct vm_config *cfg, const char *mem_path,
		     struct machine **out);

#endif
