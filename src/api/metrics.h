/*
 * One line of metrics (PUT /metrics, FlushMetrics): a JSON object with the
 * time, the API's own counts, vCPU exits by reason and each device's
 * counters, as changes since the previous line (Firecracker's metrics are
 * deltas too). Devices are "block_<drive_id>" and "net_<iface_id>"
 * ("block0", "net0" when started from the command line), beside the sums
 * "block" and "net".
 */
#ifndef VMON_API_METRICS_H
#define VMON_API_METRICS_H

#include <jansson.h>
#include <stdint.h>

#include "vmm/config.h"
#include "vmm/machine.h"

/* requests and faults: the API's answers since the previous line. */
json_t *metrics_line(const struct vm_config *cfg, const struct machine_counters *now,
		     const struct machine_counters *before, uint64_t requests, uint64_t faults);

#endif
