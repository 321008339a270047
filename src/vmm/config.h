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

/* One --disk: a raw image, served by a virtio-blk device. */
struct disk_config {
	char *path;            /* owned */
	char *serial;          /* owned; NULL: none */
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

/* One --net: a TAP interface, served by a virtio-net device. */
struct nic_config {
	char tap[NIC_NAME_MAX + 1];
	uint8_t mac[6];
	bool mac_set;          /* false: a stable one derived from the TAP's name */
	unsigned queues;       /* queue pairs, 1..NIC_MAX_QUEUES; 0 until "auto" is resolved */
	enum vhost_choice vhost;
	enum virtio_transport_kind transport;
};

struct vm_config {
	const char *kernel_path;
	const char *initrd_path; /* NULL: none */
	const char *cmdline;
	unsigned nr_cpus;
	uint64_t mem_size;
	bool stats;              /* print counters and memory use at exit */
	enum console_kind console;
	struct disk_config disks[VM_MAX_DISKS];
	unsigned nr_disks;
	struct nic_config nics[VM_MAX_NICS];
	unsigned nr_nics;
};

/* vmon's exit statuses. */
enum vmon_exit_status {
	VMON_EXIT_POWEROFF = 0, /* guest powered off, or the user quit */
	VMON_EXIT_ERROR = 1,    /* vmon's own error: bad input, host failure */
	VMON_EXIT_REBOOT = 2,   /* guest asked for a reboot */
	VMON_EXIT_CRASH = 3,    /* guest crashed: triple fault, failed entry, internal error */
};

#endif
