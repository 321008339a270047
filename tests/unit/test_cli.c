/* Command-line parsing: sizes, CPU counts and the run command. */
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "tap.h"

static int parse(int argc, char **argv, enum cli_command *cmd, struct vm_config *cfg)
{
	struct cli_extra extra;
	return cli_parse(argc, argv, cmd, cfg, &extra);
}

int main(void)
{
	uint64_t b;
	const char *why;
	CHECK(cli_parse_memory("512M", &b, &why) == 0 && b == 512ull << 20, "512M");
	CHECK(cli_parse_memory("2G", &b, &why) == 0 && b == 2ull << 30, "2G");
	CHECK(cli_parse_memory("2GiB", &b, &why) == 0 && b == 2ull << 30, "2GiB");
	CHECK(cli_parse_memory("1g", &b, &why) == 0 && b == 1ull << 30, "lower-case suffix");
	CHECK(cli_parse_memory("1024", &b, &why) == 0 && b == 1ull << 30, "bare number is MiB");
	CHECK(cli_parse_memory("2048K", &b, &why) == 0 && b == 2ull << 20, "2048K is 2 MiB");
	CHECK(cli_parse_memory("1000K", &b, &why) < 0, "partial MiB refused");
	CHECK(cli_parse_memory("0", &b, &why) < 0, "zero refused");
	CHECK(cli_parse_memory("-5M", &b, &why) < 0, "negative refused");
	CHECK(cli_parse_memory("", &b, &why) < 0, "empty refused");
	CHECK(cli_parse_memory("12Q", &b, &why) < 0, "unknown suffix refused");
	CHECK(cli_parse_memory("1MX", &b, &why) < 0, "trailing garbage refused");
	CHECK(cli_parse_memory("99999999999999999999", &b, &why) < 0, "overflow refused");
	CHECK(cli_parse_memory("17179869184T", &b, &why) < 0, "multiplication overflow refused");

	unsigned n;
	CHECK(cli_parse_cpus("4", &n, &why) == 0 && n == 4, "4 CPUs");
	CHECK(cli_parse_cpus("0", &n, &why) < 0, "0 CPUs refused");
	CHECK(cli_parse_cpus("255", &n, &why) < 0, "255 CPUs refused");
	CHECK(cli_parse_cpus("2x", &n, &why) < 0, "2x refused");
	CHECK(cli_parse_cpus(" 2", &n, &why) < 0, "leading space refused");

	enum cli_command cmd;
	struct vm_config cfg;
	char *run[] = { "vmon", "run", "--kernel", "k", "--initrd", "i", "--cpus", "2",
			"--memory", "1G", "--cmdline", "quiet", "--stats", NULL };
	CHECK(parse(13, run, &cmd, &cfg) == 0 && cmd == CLI_RUN, "full run command");
	CHECK(strcmp(cfg.kernel_path, "k") == 0 && strcmp(cfg.initrd_path, "i") == 0, "paths");
	CHECK(cfg.nr_cpus == 2 && cfg.mem_size == 1ull << 30 && cfg.stats, "cpus, memory, stats");
	CHECK(strcmp(cfg.cmdline, "quiet") == 0, "command line replaces the default");

	char *minimal[] = { "vmon", "run", "--kernel", "k", NULL };
	CHECK(parse(4, minimal, &cmd, &cfg) == 0, "kernel only");
	CHECK(cfg.nr_cpus == 1 && cfg.mem_size == VM_DEFAULT_MEMORY && !cfg.initrd_path, "defaults");
	CHECK(strstr(cfg.cmdline, "console=ttyS0") != NULL, "default command line has console=ttyS0");

	struct disk_config d;
	CHECK(cli_parse_disk("path=/img", &d, &why) == 0 && strcmp(d.path, "/img") == 0 &&
	      !d.readonly && !d.direct && !d.serial && d.queues == 1, "--disk path only: defaults");
	free(d.path);
	CHECK(cli_parse_disk("path=/a,readonly=on,serial=SN1,direct=yes,queues=4", &d, &why) == 0 &&
	      d.readonly && d.direct && strcmp(d.serial, "SN1") == 0 && d.queues == 4, "--disk every key");
	free(d.path);
	free(d.serial);
	CHECK(cli_parse_disk("readonly=on", &d, &why) < 0 && strstr(why, "path"), "--disk without path");
	CHECK(cli_parse_disk("path=", &d, &why) < 0, "--disk with an empty path");
	CHECK(cli_parse_disk("path=/a,colour=blue", &d, &why) < 0 && strstr(why, "unknown key"), "--disk unknown key");
	CHECK(cli_parse_disk("path=/a,readonly=maybe", &d, &why) < 0, "--disk readonly=maybe");
	CHECK(cli_parse_disk("path=/a,queues=0", &d, &why) < 0, "--disk queues=0");
	CHECK(cli_parse_disk("path=/a,queues=17", &d, &why) < 0, "--disk queues=17");
	CHECK(cli_parse_disk("path=/a,queues=2x", &d, &why) < 0, "--disk queues=2x");
	CHECK(cli_parse_disk("path=/a,serial=123456789012345678901", &d, &why) < 0, "--disk serial of 21 bytes");
	CHECK(cli_parse_disk("path=/a,serial=12345678901234567890", &d, &why) == 0, "--disk serial of 20 bytes");
	free(d.path);
	free(d.serial);
	CHECK(cli_parse_disk("path=/a,junk", &d, &why) < 0, "--disk item without =");
	CHECK(cli_parse_disk("path=/a,transport=mmio", &d, &why) == 0 && d.transport == TRANSPORT_MMIO,
	      "--disk transport=mmio");
	free(d.path);
	CHECK(cli_parse_disk("path=/a,transport=isa", &d, &why) < 0, "--disk transport=isa");
	char *disks[] = { "vmon", "run", "--kernel", "k", "--disk", "path=/x", "--disk", "path=/y,readonly=on", NULL };
	CHECK(parse(8, disks, &cmd, &cfg) == 0 && cfg.nr_disks == 2 && cfg.disks[1].readonly,
	      "--disk is repeatable");
	cli_free_config(&cfg);

	char *hvc[] = { "vmon", "run", "--kernel", "k", "--console", "virtio", NULL };
	CHECK(parse(6, hvc, &cmd, &cfg) == 0 && cfg.console == CONSOLE_VIRTIO &&
	      strstr(cfg.cmdline, "console=hvc0"), "--console virtio: hvc0 by default");
	char *hvc_cmdline[] = { "vmon", "run", "--console", "virtio", "--cmdline", "x", "--kernel", "k", NULL };
	CHECK(parse(8, hvc_cmdline, &cmd, &cfg) == 0 && strcmp(cfg.cmdline, "x") == 0,
	      "--cmdline still wins over the console's default");

	struct nic_config nic;
	CHECK(cli_parse_net("tap=tap0", &nic, &why) == 0 && strcmp(nic.tap, "tap0") == 0 && nic.queues == 1 &&
	      !nic.mac_set && nic.vhost == VHOST_AUTO && nic.transport == TRANSPORT_PCI, "--net tap only: defaults");
	CHECK(cli_parse_net("tap=t1,mac=52:54:0A:bc:DE:f0,queues=4,vhost=off,transport=mmio", &nic, &why) == 0 &&
	      nic.mac_set && nic.mac[0] == 0x52 && nic.mac[3] == 0xbc && nic.mac[5] == 0xf0 && nic.queues == 4 &&
	      nic.vhost == VHOST_OFF && nic.transport == TRANSPORT_MMIO, "--net every key, hex in either case");
	CHECK(cli_parse_net("tap=t1,vhost=on", &nic, &why) == 0 && nic.vhost == VHOST_ON, "--net vhost=on");
	CHECK(cli_parse_net("mac=52:54:00:00:00:01", &nic, &why) < 0 && strstr(why, "tap="), "--net without tap");
	CHECK(cli_parse_net("tap=", &nic, &why) < 0, "--net with an empty name");
	CHECK(cli_parse_net("tap=0123456789abcdef", &nic, &why) < 0, "--net name of 16 characters");
	CHECK(cli_parse_net("tap=0123456789abcde", &nic, &why) == 0, "--net name of 15 characters");
	CHECK(cli_parse_net("tap=a/b", &nic, &why) < 0, "--net name with a slash");
	CHECK(cli_parse_net("tap=t,mac=52:54:00:00:00", &nic, &why) < 0, "--net mac of 5 bytes");
	CHECK(cli_parse_net("tap=t,mac=52:54:00:00:00:01:02", &nic, &why) < 0, "--net mac of 7 bytes");
	CHECK(cli_parse_net("tap=t,mac=52-54-00-00-00-01", &nic, &why) < 0, "--net mac with dashes");
	CHECK(cli_parse_net("tap=t,mac=03:00:00:00:00:01", &nic, &why) < 0 && strstr(why, "unicast"),
	      "--net multicast mac");
	CHECK(cli_parse_net("tap=t,queues=0", &nic, &why) < 0, "--net queues=0");
	CHECK(cli_parse_net("tap=t,queues=9", &nic, &why) < 0, "--net queues=9");
	CHECK(cli_parse_net("tap=t,queues=auto", &nic, &why) == 0 && nic.queues == 0, "--net queues=auto");
	CHECK(cli_parse_net("tap=t,vhost=sometimes", &nic, &why) < 0, "--net vhost=sometimes");
	char *nets[] = { "vmon", "run", "--kernel", "k", "--cpus", "3", "--net", "tap=a,queues=auto",
			 "--net", "tap=b", NULL };
	CHECK(parse(10, nets, &cmd, &cfg) == 0 && cfg.nr_nics == 2 && cfg.nics[0].queues == 3 &&
	      cfg.nics[1].queues == 1, "--net is repeatable; queues=auto is one pair per vCPU");
	char *twice[] = { "vmon", "run", "--kernel", "k", "--net", "tap=a", "--net", "tap=a", NULL };
	CHECK(parse(8, twice, &cmd, &cfg) < 0, "--net with the same TAP twice");

	char *version[] = { "vmon", "--version", NULL };
	CHECK(parse(2, version, &cmd, &cfg) == 0 && cmd == CLI_VERSION, "--version");
	char *help[] = { "vmon", "run", "--help", NULL };
	CHECK(parse(3, help, &cmd, &cfg) == 0 && cmd == CLI_HELP, "run --help");
	return tap_finish();
}
