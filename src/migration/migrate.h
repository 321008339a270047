/*
 * Live migration: pre-copy over TCP (the seeds' "real uninterrupted
 * operation"; docs/migration.md describes the stream).
 *
 * The source logs the pages the vCPUs and its devices write, sends all of
 * RAM, then, round after round, the pages written meanwhile, until what is
 * left can go within the downtime budget (or after MIGRATE_MAX_ROUNDS).
 * Then it freezes the VM, sends the last pages and the state, and waits
 * for the destination to say it loaded them (READY). Only then does it
 * tell the destination to run (GO) and wait for RESUMED. Until GO, any
 * failure (the peer's error, garbage, a disconnect, a timeout) leaves the
 * source running as before; the destination never runs a VM it has not
 * wholly loaded, and without GO it runs none.
 */
#ifndef VMON_MIGRATION_MIGRATE_H
#define VMON_MIGRATION_MIGRATE_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/config.h"
#include "vmm/machine.h"

#define MIGRATE_DEFAULT_MAX_DOWNTIME_MS 300
#define MIGRATE_MAX_ROUNDS 30
/* How long either side waits for the other before it gives up. */
#define MIGRATE_PEER_TIMEOUT_S 30
/* The most the source stays frozen waiting for the destination (last pages, state, READY, RESUMED). */
#define MIGRATE_FROZEN_LIMIT_S 30

struct migrate_stats {
	unsigned rounds;          /* copy rounds while the VM ran (the first sends all RAM) */
	uint64_t pages_sent;      /* pages with data */
	uint64_t zero_pages;      /* pages sent as "zero" (or skipped in the first round) */
	uint64_t bytes_sent;      /* on the wire */
	uint64_t total_ms;        /* from connecting to RESUMED */
	uint64_t downtime_ms;     /* from the freeze to RESUMED: the guest's pause */
	uint64_t last_round_pages;/* sent while frozen */
};

/*
 * Source: moves machine m to `destination` ("ADDR:PORT"). 0: the
 * destination runs the VM; m stays frozen and the caller ends it. -errno
 * after logging why (on this thread: log_last_error has it): m runs as
 * before (paused if it was). -EPIPE is special: GO was sent but
 * RESUMED never came, so it is unknown whether the destination runs the
 * VM; m stays frozen and paused (never two running copies).
 */
int migrate_send(struct machine *m, const char *destination, unsigned max_downtime_ms,
		 struct migrate_stats *stats);

/*
 * What the destination's operator lets an incoming VM open: the source
 * names the disk images and TAPs of its configuration, and each must be
 * listed here (vmon migrate-receive --allow-disk PATH --allow-tap NAME),
 * so that a peer cannot make vmon open any other file or interface.
 */
struct migrate_resources {
	const char *disks[VM_MAX_DISKS];
	unsigned nr_disks;
	const char *taps[VM_MAX_NICS];
	unsigned nr_taps;
};

/*
 * Destination: listens on `listen_addr` ("ADDR:PORT"), takes one
 * migration, builds the machine from its configuration (*cfg, initialised
 * by the caller, receives it and must outlive the machine) if it uses
 * only `allowed` resources, loads it and, on GO, starts it running. 0 with
 * *out running, or -errno after logging why (nothing runs). `stop_fd` (a
 * signalfd, or -1): readable means give up waiting.
 */
int migrate_receive(const char *listen_addr, int stop_fd, const struct migrate_resources *allowed,
		    struct vm_config *cfg, struct machine **out);

#endif
