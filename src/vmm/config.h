/* What the user asked for: the machine to build. */
#ifndef VMON_VMM_CONFIG_H
#define VMON_VMM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#define VM_DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=-1"
#define VM_DEFAULT_CMDLINE_HVC "console=hvc0 reboot=k panic=-1"

/* Where the terminal is connected: COM1, or a virtio-console (hvc0). */
enum console_kind { CONSOLE_SERIAL, CONSOLE_VIRTIO };
#define VM_DEFAULT_MEMORY  (256ull << 20)
#define VM_MIN_MEMORY      (4ull << 20)
/* xAPIC IDs are 8 bits and 0xff is broadcast; the IOAPIC takes one more ID. */
#define VM_MAX_CPUS        254

#define VM_MAX_DISKS       8
#define DISK_SERIAL_MAX    20 /* virtio 1.2 §5.2.6: GET_ID returns 20 bytes */
#define DISK_MAX_QUEUES    16

enum virtio_transport_kind { TRANSPORT_PCI, TRANSPORT_MMIO };

#define DEVICE_ID_MAX      63 /* a drive_id or iface_id of the API */

/*
 * What the driver is told about the host's cache (Firecracker's cache_type):
 * WRITEBACK offers VIRTIO_BLK_F_FLUSH and makes each flush an fsync; UNSAFE
 * offers no flush, so the guest never waits for the disk.
 */
enum disk_cache { DISK_CACHE_WRITEBACK, DISK_CACHE_UNSAFE };

/* One --disk (or API drive): a raw image, served by a virtio-blk device. */
struct disk_config {
	char id[DEVICE_ID_MAX + 1]; /* the API's drive_id; "" from the command line */
	char *path;            /* owned */
	char *serial;          /* owned; NULL: none */
	bool root;             /* is_root_device: first disk, root=/dev/vda on the command line */
	enum disk_cache cache;
	bool readonly;
	bool direct;           /* O_DIRECT: bypass the host page cache */
	unsigned queues;       /* virtqueues, 1..DISK_MAX_QUEUES */
	enum virtio_transport_kind transport;
};

#define VM_MAX_NICS        8
#define NIC_MAX_QUEUES     8  /* queue pairs of one virtio-net */
#define NIC_NAME_MAX       15 /* IFNAMSIZ less the NUL */

/* Whether a virtio-net's frames go through vhost-net in the host kernel. */
enum vhost_choice { VHOST_AUTO, VHOST_ON, VHOST_OFF };

/* One --net (or API network interface): a TAP interface, served by a virtio-net device. */
struct nic_config {
	char id[DEVICE_ID_MAX + 1]; /* the API's iface_id; "" from the command line */
	char tap[NIC_NAME_MAX + 1];
	uint8_t mac[6];
	bool mac_set;          /* false: a stable one derived from the TAP's name */
	unsigned queues;       /* queue pairs, 1..NIC_MAX_QUEUES; 0 until "auto" is resolved */
	enum vhost_choice vhost;
	enum virtio_transport_kind transport;
};

/* Where vmon's log and metrics go (the API's PUT /logger and PUT /metrics). */
struct logger_config {
	char *path;              /* NULL: stderr */
	char *level;             /* "Error", "Warning", "Info", "Debug", "Trace", "Off"; NULL: Info */
	bool show_level, show_origin;
};

/* --iommu: an emulated IOMMU in front of every PCI device. */
enum iommu_kind { IOMMU_NONE, IOMMU_INTEL };
struct iommu_config {
	enum iommu_kind kind;
	bool intremap;     /* interrupt remapping (needs the split irqchip: vmon's own IOAPIC) */
	bool caching_mode; /* VT-d CAP.CM */
};

/* The whole machine; every string is owned (vm_config_free). */
struct vm_config {
	char *kernel_path;
	char *initrd_path;       /* NULL: none */
	char *cmdline;
	unsigned nr_cpus;
	bool smt;                /* two threads per core in the CPU topology (API machine-config) */
	uint64_t mem_size;
	bool stats;              /* print counters and memory use at exit */
	enum console_kind console;
	struct disk_config disks[VM_MAX_DISKS];
	unsigned nr_disks;
	struct nic_config nics[VM_MAX_NICS];
	unsigned nr_nics;
	struct iommu_config iommu;   /* kind IOMMU_NONE: none */
	bool test_hooks;             /* --test-hooks: the DMA probe port (devices/test/dma_probe.h) */
	struct logger_config logger; /* set: the log goes there */
	char *metrics_path;          /* NULL: no metrics file */
};

/* The defaults: one vCPU, VM_DEFAULT_MEMORY, no kernel, no devices. */
void vm_config_init(struct vm_config *cfg);
/* Frees the strings; cfg is then as after vm_config_init. */
void vm_config_free(struct vm_config *cfg);
/* Replaces *field with a copy of value (NULL: none). 0 or -ENOMEM. */
int vm_config_set_string(char **field, const char *value);

/*
 * The kernel command line to boot with (*out, malloc'd): cfg->cmdline, or
 * the default for cfg->console when it is NULL, then " root=/dev/vda ro"
 * (or " rw", by its readonly flag) when a disk is the root device. The
 * root disk must be disks[0], the guest's first virtio disk: -EINVAL
 * otherwise. 0, -EINVAL or -ENOMEM.
 */
int vm_config_boot_cmdline(const struct vm_config *cfg, char **out);

struct state_writer;
struct state_reader;
/*
 * The machine part of cfg (kernel, command line, vCPUs, memory, console,
 * disks, NICs; not the logger, metrics or --stats, which belong to the
 * vmon process) as section STATE_TAG_CONFIG, and back: vm_config_load
 * fills an initialised cfg after checking every count, enum and string
 * (at most VM_CONFIG_STRING_MAX bytes, no NUL). 0, or -EINVAL after
 * logging what is wrong.
 */
#define VM_CONFIG_STRING_MAX 4096
void vm_config_save(const struct vm_config *cfg, struct state_writer *w);
int vm_config_load(const struct state_reader *r, struct vm_config *cfg);

/* vmon's exit statuses. */
enum vmon_exit_status {
	VMON_EXIT_POWEROFF = 0, /* guest powered off, or the user quit */
	VMON_EXIT_ERROR = 1,    /* vmon's own error: bad input, host failure */
	VMON_EXIT_REBOOT = 2,   /* guest asked for a reboot */
	VMON_EXIT_CRASH = 3,    /* guest crashed: triple fault, failed entry, internal error */
};

#endif
