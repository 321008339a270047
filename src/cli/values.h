/*
 * The values the command line takes (sizes, counts, --disk and --net
 * key=value lists, MACs, TCP endpoints), each parsed into the configuration or refused
 * with a phrase for the user (*why), which the caller puts after the value.
 */
#ifndef VMON_CLI_VALUES_H
#define VMON_CLI_VALUES_H

#include <stdint.h>

#include "vmm/config.h"

/* "512M", "2G", "1024" (MiB); whole MiB only. 0 or -1 with *why set. */
int cli_parse_memory(const char *s, uint64_t *bytes, const char **why);
/* A positive decimal count up to VM_MAX_CPUS. */
int cli_parse_cpus(const char *s, unsigned *cpus, const char **why);

/*
 * "path=FILE[,readonly=on|off][,serial=STR][,direct=on|off][,queues=N]
 *  [,transport=pci|mmio]".
 * 0, or -1 with *why set; on success `disk` owns copies of the strings.
 */
int cli_parse_disk(const char *s, struct disk_config *disk, const char **why);

/* One --net: "tap=NAME[,mac=..][,queues=N|auto][,vhost=..][,transport=..]". 0 or -1 with *why. */
int cli_parse_net(const char *s, struct nic_config *nic, const char **why);
/*
 * --iommu: "intel[,intremap=on|off][,caching_mode=on|off]" (both off by
 * default). 0, or -1 with *why set and iommu->kind IOMMU_NONE.
 */
int cli_parse_iommu(const char *s, struct iommu_config *iommu, const char **why);
/* "52:54:00:12:34:56": a unicast, non-zero MAC. 0 or -1 with *why. */
int cli_parse_mac(const char *s, uint8_t mac[6], const char **why);
/* A decimal count from 1 to max. 0 or -1. */
int cli_parse_count(const char *v, unsigned max, unsigned *count);
/*
 * A TCP endpoint, "ADDR:PORT" or Cloud Hypervisor's "tcp:ADDR:PORT": an
 * address (IPv6 in brackets, "[::1]:4444") and a port from 1 to 65535.
 * *endpoint points past any "tcp:". 0 or -1 with *why.
 */
int cli_parse_endpoint(const char *s, const char **endpoint, const char **why);

#endif
