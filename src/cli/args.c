#include "cli/args.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "api/api.h"
#include "api/vm_json.h"
#include "cli/ctl.h"
#include "util/log.h"

static int error_line(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "vmon: ");
	fprintf(stderr, fmt, a, b);
	fprintf(stderr, " (see vmon --help)\n");
	return -1;
}

void cli_free_config(struct vm_config *cfg)
{
	vm_config_free(cfg);
}

static int add_nic(struct vm_config *cfg, const char *arg)
{
	const char *why = NULL;
	if (cfg->nr_nics == VM_MAX_NICS)
		return error_line("%s%s", "at most 8 --net options", "");
	if (cli_parse_net(arg, &cfg->nics[cfg->nr_nics], &why) < 0)
		return error_line("--net '%s' %s", arg, why);
	for (unsigned i = 0; i < cfg->nr_nics; i++)
		if (strcmp(cfg->nics[i].tap, cfg->nics[cfg->nr_nics].tap) == 0)
			return error_line("--net '%s' %s", arg, "names a TAP interface already in use");
	cfg->nr_nics++;
	return 0;
}

/* queues=auto: one queue pair per vCPU, as far as a device has them. */
static void resolve_nic_queues(struct vm_config *cfg)
{
	for (unsigned i = 0; i < cfg->nr_nics; i++)
		if (cfg->nics[i].queues == 0)
			cfg->nics[i].queues = cfg->nr_cpus < NIC_MAX_QUEUES ? cfg->nr_cpus : NIC_MAX_QUEUES;
}

static int add_disk(struct vm_config *cfg, const char *arg)
{
	const char *why = NULL;
	if (cfg->nr_disks == VM_MAX_DISKS)
		return error_line("%s%s", "at most 8 --disk options", "");
	if (cli_parse_disk(arg, &cfg->disks[cfg->nr_disks], &why) < 0)
		return error_line("--disk '%s' %s", arg, why);
	cfg->nr_disks++;
	return 0;
}

/* A copy of a string option, replacing an earlier one. */
static int set_string(char **field, const char *arg)
{
	return vm_config_set_string(field, arg) == 0 ? 0 : error_line("%s%s", "out of memory", "");
}

enum { OPT_KERNEL = 256, OPT_INITRD, OPT_CMDLINE, OPT_CPUS, OPT_MEMORY, OPT_STATS, OPT_VERBOSE,
       OPT_DISK, OPT_CONSOLE, OPT_NET, OPT_CONFIG_FILE, OPT_API_SOCK, OPT_NO_API, OPT_ID, OPT_LOG_PATH,
       OPT_LEVEL, OPT_SHOW_LEVEL, OPT_SHOW_LOG_ORIGIN, OPT_METRICS_PATH, OPT_NO_SECCOMP, OPT_SECCOMP_FILTER,
       OPT_BOOT_TIMER, OPT_MAX_PAYLOAD, OPT_TO, OPT_MAX_DOWNTIME, OPT_PAUSED, OPT_LISTEN,
       OPT_ALLOW_DISK, OPT_ALLOW_TAP, OPT_IOMMU, OPT_TEST_HOOKS };

static const struct option run_options[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "net", required_argument, NULL, OPT_NET },
	{ "iommu", required_argument, NULL, OPT_IOMMU },
	{ "test-hooks", no_argument, NULL, OPT_TEST_HOOKS },
	{ "config-file", required_argument, NULL, OPT_CONFIG_FILE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Firecracker's own command line, as its launchers write it. */
static const struct option api_options[] = {
	{ "api-sock", required_argument, NULL, OPT_API_SOCK },
	{ "no-api", no_argument, NULL, OPT_NO_API },
	{ "id", required_argument, NULL, OPT_ID },
	{ "config-file", required_argument, NULL, OPT_CONFIG_FILE },
	{ "log-path", required_argument, NULL, OPT_LOG_PATH },
	{ "level", required_argument, NULL, OPT_LEVEL },
	{ "show-level", no_argument, NULL, OPT_SHOW_LEVEL },
	{ "show-log-origin", no_argument, NULL, OPT_SHOW_LOG_ORIGIN },
	{ "metrics-path", required_argument, NULL, OPT_METRICS_PATH },
	{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
	{ "seccomp-filter", required_argument, NULL, OPT_SECCOMP_FILTER },
	{ "boot-timer", no_argument, NULL, OPT_BOOT_TIMER },
	{ "http-api-max-payload-size", required_argument, NULL, OPT_MAX_PAYLOAD },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option ctl_options[] = {
	{ "api-sock", required_argument, NULL, OPT_API_SOCK },
	{ "to", required_argument, NULL, OPT_TO },
	{ "max-downtime-ms", required_argument, NULL, OPT_MAX_DOWNTIME },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option snapshot_options[] = {
	{ "api-sock", required_argument, NULL, OPT_API_SOCK },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* restore's and migrate-receive's: the VM comes from elsewhere, the API's flags apply to it. */
static const struct option vm_source_options[] = {
	{ "paused", no_argument, NULL, OPT_PAUSED },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "allow-disk", required_argument, NULL, OPT_ALLOW_DISK },
	{ "allow-tap", required_argument, NULL, OPT_ALLOW_TAP },
	{ "api-sock", required_argument, NULL, OPT_API_SOCK },
	{ "id", required_argument, NULL, OPT_ID },
	{ "log-path", required_argument, NULL, OPT_LOG_PATH },
	{ "level", required_argument, NULL, OPT_LEVEL },
	{ "show-level", no_argument, NULL, OPT_SHOW_LEVEL },
	{ "show-log-origin", no_argument, NULL, OPT_SHOW_LOG_ORIGIN },
	{ "metrics-path", required_argument, NULL, OPT_METRICS_PATH },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int apply_option(int opt, const char *arg, enum cli_command *cmd,
			struct vm_config *cfg)
{
	const char *why = NULL;
	switch (opt) {
	case OPT_KERNEL:
		return set_string(&cfg->kernel_path, arg);
	case OPT_INITRD:
		return set_string(&cfg->initrd_path, arg);
	case OPT_CMDLINE:
		return set_string(&cfg->cmdline, arg);
	case OPT_CPUS:
		return cli_parse_cpus(arg, &cfg->nr_cpus, &why) == 0 ? 0 :
			error_line("--cpus '%s' %s", arg, why);
	case OPT_MEMORY:
		return cli_parse_memory(arg, &cfg->mem_size, &why) == 0 ? 0 :
			error_line("--memory '%s' %s", arg, why);
	case OPT_STATS:
		cfg->stats = true;
		return 0;
	case OPT_VERBOSE:
		log_set_level(LOG_DEBUG);
		return 0;
	case OPT_DISK:
		return add_disk(cfg, arg);
	case OPT_NET:
		return add_nic(cfg, arg);
	case OPT_TEST_HOOKS:
		cfg->test_hooks = true;
		return 0;
	case OPT_IOMMU:
		return cli_parse_iommu(arg, &cfg->iommu, &why) == 0 ? 0 : error_line("--iommu '%s' %s", arg, why);
	case OPT_CONSOLE:
		if (strcmp(arg, "serial") == 0 || strcmp(arg, "virtio") == 0) {
			cfg->console = strcmp(arg, "serial") == 0 ? CONSOLE_SERIAL : CONSOLE_VIRTIO;
			return 0;
		}
		return error_line("--console '%s' %s", arg, "must be serial or virtio");
	case 'h':
		*cmd = CLI_HELP;
		return 0;
	default:
		return -1; /* parse_run reports unknown options */
	}
}

/* The options a --config-file describes instead. */
static bool describes_machine(int opt)
{
	return opt == OPT_KERNEL || opt == OPT_INITRD || opt == OPT_CMDLINE || opt == OPT_CPUS ||
	       opt == OPT_MEMORY || opt == OPT_DISK || opt == OPT_NET;
}

/* getopt_long from the start of a new argv, with vmon's own messages. */
static void restart_options(void)
{
	optind = 0; /* glibc: a full reinitialisation */
	opterr = 0;
}

enum { OPTION_BAD = -2 };

/* The next option, -1 at the end, or OPTION_BAD after an error line. */
static int next_option(int argc, char **argv, const struct option *options, int *index)
{
	int opt = getopt_long(argc, argv, ":h", options, index);
	if (opt == '?')
		error_line("unknown option '%s'%s", argv[optind - 1], "");
	else if (opt == ':')
		error_line("option '%s' needs a value%s", argv[optind - 1], "");
	return opt == '?' || opt == ':' ? OPTION_BAD : opt;
}

#define CONFIG_FILE_MAX (1u << 20)

/* "vmon: --config-file 'PATH'..." on one line: control characters become '?'. */
__attribute__((format(printf, 2, 3)))
static int config_file_error(const char *path, const char *fmt, ...)
{
	char *what = NULL, *line = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&what, fmt, ap) < 0)
		what = NULL;
	va_end(ap);
	if (asprintf(&line, "--config-file '%s'%s", path, what ? what : ": out of memory") < 0)
		line = NULL;
	for (char *c = line; c && *c; c++)
		if (iscntrl((unsigned char)*c))
			*c = '?';
	fprintf(stderr, "vmon: %s\n", line ? line : "out of memory");
	free(what);
	free(line);
	return -1;
}

/* The whole file if it holds at most CONFIG_FILE_MAX bytes; NULL after an error line. */
static char *read_config_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		config_file_error(path, ": %s", strerror(errno));
		return NULL;
	}
	char *text = malloc(CONFIG_FILE_MAX + 1);
	*len = text ? fread(text, 1, CONFIG_FILE_MAX + 1, f) : 0;
	int err = ferror(f) ? errno : text ? 0 : ENOMEM;
	fclose(f);
	if (err || *len > CONFIG_FILE_MAX) {
		if (err)
			config_file_error(path, ": %s", strerror(err));
		else
			config_file_error(path, " is larger than %u MiB", CONFIG_FILE_MAX >> 20);
		free(text);
		return NULL;
	}
	return text;
}

static int load_config_file(const char *path, struct vm_config *cfg)
{
	size_t len;
	char *text = read_config_file(path, &len);
	if (!text)
		return -1;
	json_error_t err;
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	free(text);
	if (!doc)
		return config_file_error(path, " is not valid JSON: %s (line %d, column %d)", err.text, err.line,
					 err.column);
	char *fault = NULL;
	int ret = vm_json_load_vm_config(doc, cfg, &fault);
	json_decref(doc);
	if (ret < 0)
		config_file_error(path, ": %s", fault ? fault : "out of memory");
	free(fault);
	return ret < 0 ? -1 : 0;
}

/*
 * Devices behind --iommu must reach memory through it: virtio-mmio has no
 * PCI requester id for the DMAR table's INCLUDE_PCI_ALL to cover, and
 * vhost-net would read guest memory in the host kernel around the
 * translation. vhost=auto therefore means off with an IOMMU.
 */
static int check_iommu_devices(struct vm_config *cfg)
{
	if (cfg->iommu.kind == IOMMU_NONE)
		return 0;
	for (unsigned i = 0; i < cfg->nr_disks; i++)
		if (cfg->disks[i].transport == TRANSPORT_MMIO)
			return error_line("%s%s", "--iommu needs every disk on PCI",
					  " (transport=mmio devices would bypass it)");
	for (unsigned i = 0; i < cfg->nr_nics; i++) {
		struct nic_config *nic = &cfg->nics[i];
		if (nic->transport == TRANSPORT_MMIO)
			return error_line("%s%s", "--iommu needs every NIC on PCI",
					  " (transport=mmio devices would bypass it)");
		if (nic->vhost == VHOST_ON)
			return error_line("--net tap=%s%s", nic->tap,
					  ": vhost=on cannot be combined with --iommu (vhost-net bypasses it)");
		nic->vhost = VHOST_OFF;
	}
	return 0;
}

/* What the machine's description leaves open: NIC queues per vCPU, the console's command line. */
static int complete_machine(struct vm_config *cfg)
{
	resolve_nic_queues(cfg);
	if (check_iommu_devices(cfg) < 0)
		return -1;
	if (!cfg->cmdline)
		return set_string(&cfg->cmdline, cfg->console == CONSOLE_VIRTIO ? VM_DEFAULT_CMDLINE_HVC :
										  VM_DEFAULT_CMDLINE);
	return 0;
}

static int parse_run(int argc, char **argv, enum cli_command *cmd, struct vm_config *cfg,
		     struct cli_extra *extra)
{
	const char *config_file = NULL, *machine_option = NULL;
	int opt, index = 0;
	restart_options();
	while ((opt = next_option(argc, argv, run_options, &index)) != -1) {
		if (opt == OPTION_BAD)
			return -1;
		if (opt == OPT_CONFIG_FILE) {
			config_file = optarg; /* read once the options are known */
			continue;
		}
		if (describes_machine(opt) && !machine_option)
			machine_option = run_options[index].name;
		if (apply_option(opt, optarg, cmd, cfg) < 0)
			return -1;
	}
	if (*cmd == CLI_HELP)
		return 0;
	if (optind < argc)
		return error_line("unexpected argument '%s'%s", argv[optind], "");
	if (config_file && machine_option)
		return error_line("--config-file cannot be combined with --%s%s", machine_option,
				  ": the file describes the whole machine");
	if (config_file && load_config_file(config_file, cfg) < 0)
		return -1;
	if (!cfg->kernel_path)
		return error_line("%s%s", "run needs --kernel PATH or --config-file FILE", "");
	extra->from_config_file = config_file != NULL;
	return complete_machine(cfg);
}

_Static_assert(sizeof(((struct sockaddr_un *)NULL)->sun_path) == 108, "the message below says 107 bytes");

/* A path a Unix socket can be bound to or connected to. */
static int check_api_sock(const char *path)
{
	if (!*path || strlen(path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
		return error_line("--api-sock '%s' %s", path,
				  "must be a path of 1 to 107 bytes (the limit of a Unix socket's path)");
	return 0;
}

/* Firecracker's flags besides the socket: what they ask, applied once --config-file is read. */
struct api_flags {
	const char *config_file;
	bool no_api;
	const char *log_path, *level, *metrics_path; /* level: as vm_json keeps it */
	bool show_level, show_origin;
	const char *output_flag; /* the first of the logger and metrics flags given */
};

#define INSTANCE_ID_MAX 64
#define INSTANCE_ID_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-"

/* Firecracker's --id: 1 to 64 characters of A-Z, a-z, 0-9 and '-'. */
static int set_instance_id(const char *id, struct cli_extra *extra)
{
	size_t n = strlen(id);
	if (n < 1 || n > INSTANCE_ID_MAX || strspn(id, INSTANCE_ID_CHARS) != n)
		return error_line("--id '%s' %s", id, "must be 1 to 64 characters of A-Z, a-z, 0-9 and -");
	extra->instance_id = id;
	return 0;
}

_Static_assert(API_MAX_BODY == 51200, "the message below says 51200");

/* vmon's API takes bodies up to Firecracker's default limit: that value is the only one it takes. */
static int check_max_payload(const char *arg)
{
	unsigned size;
	if (cli_parse_count(arg, API_MAX_BODY, &size) == 0 && size == API_MAX_BODY)
		return 0;
	return error_line("--http-api-max-payload-size '%s' %s", arg,
			  "is not supported by vmon: its API's body limit is fixed at 51200 bytes (Firecracker's default)");
}

static int set_level(const char *arg, struct api_flags *f)
{
	f->level = vm_json_log_level(arg);
	return f->level ? 0 : error_line("--level '%s' %s", arg,
					 "must be Error, Warning (or Warn), Info, Debug, Trace or Off");
}

static int apply_api_flag(int opt, const char *arg, enum cli_command *cmd, struct api_flags *f,
			  struct cli_extra *extra)
{
	switch (opt) {
	case OPT_API_SOCK:
		extra->api_sock = arg;
		return 0;
	case OPT_NO_API:
		f->no_api = true;
		return 0;
	case OPT_ID:
		return set_instance_id(arg, extra);
	case OPT_CONFIG_FILE:
		f->config_file = arg; /* read once the flags are known */
		return 0;
	case OPT_LOG_PATH:
		f->log_path = arg;
		return 0;
	case OPT_LEVEL:
		return set_level(arg, f);
	case OPT_SHOW_LEVEL:
		f->show_level = true;
		return 0;
	case OPT_SHOW_LOG_ORIGIN:
		f->show_origin = true;
		return 0;
	case OPT_METRICS_PATH:
		f->metrics_path = arg;
		return 0;
	case OPT_NO_SECCOMP:
		return 0; /* vmon installs no seccomp filter: what --no-seccomp asks for */
	case OPT_SECCOMP_FILTER:
		return error_line("--seccomp-filter '%s' %s", arg,
				  "cannot be applied: vmon has no seccomp filtering yet (it runs as with --no-seccomp)");
	case OPT_BOOT_TIMER:
		return error_line("%s%s", "--boot-timer is not supported by vmon", " (it has no boot timer device)");
	case OPT_MAX_PAYLOAD:
		return check_max_payload(arg);
	case OPT_VERBOSE:
		log_set_level(LOG_DEBUG);
		return 0;
	default:
		*cmd = CLI_HELP;
		return 0;
	}
}

/* The flags that say where the log and the metrics go. */
static bool describes_output(int opt)
{
	return opt == OPT_LOG_PATH || opt == OPT_LEVEL || opt == OPT_SHOW_LEVEL || opt == OPT_SHOW_LOG_ORIGIN ||
	       opt == OPT_METRICS_PATH;
}

/*
 * The logger and metrics flags into cfg, as PUT /logger and PUT /metrics
 * would set them; the file and a flag may not both set one thing.
 */
static int apply_output_flags(const struct api_flags *f, struct vm_config *cfg)
{
	const struct { const char *flag, *value, *in_file; char **field; } settings[] = {
		{ "--log-path", f->log_path, "logger.log_path", &cfg->logger.path },
		{ "--level", f->level, "logger.level", &cfg->logger.level },
		{ "--metrics-path", f->metrics_path, "metrics.metrics_path", &cfg->metrics_path },
	};
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		if (!settings[i].value)
			continue;
		if (!*settings[i].value)
			return error_line("%s %s", settings[i].flag, "must not be empty");
		if (*settings[i].field)
			return error_line("%s cannot be combined with the configuration file's %s: give one",
					  settings[i].flag, settings[i].in_file);
		if (set_string(settings[i].field, settings[i].value) < 0)
			return -1;
	}
	cfg->logger.show_level |= f->show_level;
	cfg->logger.show_origin |= f->show_origin;
	return 0;
}

/* What the flags ask together: a socket or a file; the logger and metrics flags with the file. */
static int check_api_flags(const struct api_flags *f, const struct cli_extra *extra)
{
	if (f->no_api && extra->api_sock)
		return error_line("%s%s", "--no-api cannot be combined with --api-sock", "");
	if (!extra->api_sock && !f->config_file)
		return error_line("%s%s", "missing --api-sock PATH (the API) or --config-file FILE (a VM without it)", "");
	if (extra->api_sock && check_api_sock(extra->api_sock) < 0)
		return -1;
	if (f->output_flag && !f->config_file)
		return error_line("--%s works only with --config-file, restore or migrate-receive%s", f->output_flag,
				  "; without them, use the API's PUT /logger and PUT /metrics");
	return 0;
}

/* vmon --api-sock PATH | --config-file FILE, with Firecracker's other flags */
static int parse_api(int argc, char **argv, enum cli_command *cmd, struct vm_config *cfg,
		     struct cli_extra *extra)
{
	struct api_flags f = { 0 };
	int opt, index = 0;
	restart_options();
	while ((opt = next_option(argc, argv, api_options, &index)) != -1) {
		if (opt == OPTION_BAD || apply_api_flag(opt, optarg, cmd, &f, extra) < 0)
			return -1;
		if (describes_output(opt) && !f.output_flag)
			f.output_flag = api_options[index].name;
	}
	if (*cmd == CLI_HELP)
		return 0;
	if (optind < argc)
		return error_line("unexpected argument '%s'%s", argv[optind], "");
	if (check_api_flags(&f, extra) < 0)
		return -1;
	*cmd = extra->api_sock ? CLI_API : CLI_RUN;
	if (!f.config_file)
		return 0;
	if (load_config_file(f.config_file, cfg) < 0 || apply_output_flags(&f, cfg) < 0)
		return -1;
	extra->from_config_file = true;
	return complete_machine(cfg);
}

_Static_assert(VM_JSON_MAX_DOWNTIME_MS == 60000, "the message below says 60000");

/* ctl's and snapshot's options: the socket, ctl migrate's destination and downtime. */
static int apply_client_option(int opt, const char *arg, enum cli_command *cmd, struct cli_extra *extra)
{
	const char *why = NULL;
	switch (opt) {
	case OPT_API_SOCK:
		extra->api_sock = arg;
		return 0;
	case OPT_TO:
		return cli_parse_endpoint(arg, &extra->migrate.to, &why) == 0 ? 0 : error_line("--to '%s' %s", arg, why);
	case OPT_MAX_DOWNTIME:
		return cli_parse_count(arg, VM_JSON_MAX_DOWNTIME_MS, &extra->migrate.max_downtime_ms) == 0 ? 0 :
			error_line("--max-downtime-ms '%s' %s", arg, "must be a number of milliseconds from 1 to 60000");
	default:
		*cmd = CLI_HELP;
		return 0;
	}
}

/* A client of the API's options (argv[0] is the verb); the arguments are left at argv[optind]. */
static int parse_client(int argc, char **argv, const struct option *options, enum cli_command *cmd,
			struct cli_extra *extra)
{
	int opt;
	restart_options();
	while ((opt = next_option(argc, argv, options, NULL)) != -1)
		if (opt == OPTION_BAD || apply_client_option(opt, optarg, cmd, extra) < 0)
			return -1;
	if (*cmd == CLI_HELP)
		return 0;
	if (!extra->api_sock)
		return error_line("%s needs --api-sock PATH%s", argv[0], "");
	return check_api_sock(extra->api_sock);
}

/* migrate needs --to; the other actions take neither --to nor --max-downtime-ms. */
static int check_migrate_options(const struct cli_extra *extra)
{
	bool migrate = strcmp(extra->ctl_action, "migrate") == 0;
	if (migrate && !extra->migrate.to)
		return error_line("%s%s", "ctl migrate needs --to ADDR:PORT (where vmon migrate-receive listens)", "");
	if (!migrate && (extra->migrate.to || extra->migrate.max_downtime_ms))
		return error_line("--to and --max-downtime-ms are for ctl migrate, not ctl %s%s", extra->ctl_action, "");
	return 0;
}

/* vmon ctl --api-sock PATH ACTION (argv[0] is "ctl") */
static int parse_ctl(int argc, char **argv, enum cli_command *cmd, struct cli_extra *extra)
{
	if (parse_client(argc, argv, ctl_options, cmd, extra) < 0)
		return -1;
	if (*cmd == CLI_HELP)
		return 0;
	*cmd = CLI_CTL;
	char actions[128];
	ctl_action_names(actions, sizeof(actions));
	if (optind == argc)
		return error_line("ctl needs an action: %s%s", actions, "");
	if (optind + 1 < argc)
		return error_line("unexpected argument '%s'%s", argv[optind + 1], "");
	extra->ctl_action = argv[optind];
	if (!ctl_action_known(extra->ctl_action))
		return error_line("unknown ctl action '%s': use %s", extra->ctl_action, actions);
	return check_migrate_options(extra);
}

/* STATE_FILE MEM_FILE: snapshot's and restore's arguments, after their options (argv[0] is the verb). */
static int take_snapshot_files(int argc, char **argv, struct cli_extra *extra)
{
	if (argc - optind < 2)
		return error_line("%s needs STATE_FILE MEM_FILE%s", argv[0], " (the snapshot's state and memory files)");
	if (argc - optind > 2)
		return error_line("unexpected argument '%s'%s", argv[optind + 2], "");
	extra->state_file = argv[optind];
	extra->mem_file = argv[optind + 1];
	return 0;
}

/* vmon snapshot --api-sock PATH STATE_FILE MEM_FILE (argv[0] is "snapshot") */
static int parse_snapshot(int argc, char **argv, enum cli_command *cmd, struct cli_extra *extra)
{
	if (parse_client(argc, argv, snapshot_options, cmd, extra) < 0)
		return -1;
	if (*cmd == CLI_HELP)
		return 0;
	*cmd = CLI_SNAPSHOT;
	return take_snapshot_files(argc, argv, extra);
}

_Static_assert(VM_MAX_DISKS == 8 && VM_MAX_NICS == 8, "allow_resource's messages say 8");

/* --allow-disk PATH and --allow-tap NAME: what an incoming VM may open. */
static int allow_resource(int opt, const char *arg, struct migrate_resources *allowed)
{
	bool disk = opt == OPT_ALLOW_DISK;
	unsigned *n = disk ? &allowed->nr_disks : &allowed->nr_taps;
	if (*n == (disk ? VM_MAX_DISKS : VM_MAX_NICS))
		return error_line("%s%s", disk ? "at most 8 --allow-disk" : "at most 8 --allow-tap", "");
	if (!disk && (!arg[0] || strlen(arg) > NIC_NAME_MAX))
		return error_line("--allow-tap '%s'%s", arg, " is not an interface name (1 to 15 characters)");
	if (disk && !arg[0])
		return error_line("%s%s", "--allow-disk needs a path", "");
	(disk ? allowed->disks : allowed->taps)[(*n)++] = arg;
	return 0;
}

/*
 * --paused is restore's, --listen and --allow-* migrate-receive's; the rest
 * as vmon --api-sock takes them.
 */
static int apply_vm_source_flag(int opt, const char *arg, bool restore, enum cli_command *cmd,
				struct api_flags *f, struct cli_extra *extra)
{
	const char *why = NULL;
	bool receive_only = opt == OPT_LISTEN || opt == OPT_ALLOW_DISK || opt == OPT_ALLOW_TAP;
	if (opt == OPT_PAUSED && !restore)
		return error_line("%s%s", "--paused is restore's: a migrated VM runs at once", "");
	if (receive_only && restore)
		return error_line("--%s%s", opt == OPT_LISTEN ? "listen" : opt == OPT_ALLOW_DISK ? "allow-disk" : "allow-tap",
				  " is migrate-receive's");
	if (opt == OPT_ALLOW_DISK || opt == OPT_ALLOW_TAP)
		return allow_resource(opt, arg, &extra->allowed);
	if (opt == OPT_PAUSED) {
		extra->restore_paused = true;
		return 0;
	}
	if (opt == OPT_LISTEN)
		return cli_parse_endpoint(arg, &extra->listen, &why) == 0 ? 0 : error_line("--listen '%s' %s", arg, why);
	return apply_api_flag(opt, arg, cmd, f, extra);
}

/*
 * vmon restore STATE_FILE MEM_FILE [...] and vmon migrate-receive --listen
 * ADDR:PORT [...] (argv[0] is the verb): cfg gets the logger and metrics flags.
 */
static int parse_vm_source(int argc, char **argv, enum cli_command *cmd, struct vm_config *cfg,
			   struct cli_extra *extra)
{
	bool restore = strcmp(argv[0], "restore") == 0;
	struct api_flags f = { 0 };
	int opt;
	restart_options();
	while ((opt = next_option(argc, argv, vm_source_options, NULL)) != -1)
		if (opt == OPTION_BAD || apply_vm_source_flag(opt, optarg, restore, cmd, &f, extra) < 0)
			return -1;
	if (*cmd == CLI_HELP)
		return 0;
	*cmd = restore ? CLI_RESTORE : CLI_RECEIVE;
	if (restore && take_snapshot_files(argc, argv, extra) < 0)
		return -1;
	if (!restore && optind < argc)
		return error_line("unexpected argument '%s'%s", argv[optind], "");
	if (!restore && !extra->listen)
		return error_line("%s%s", "migrate-receive needs --listen ADDR:PORT (where the migration comes in)", "");
	if (extra->api_sock && check_api_sock(extra->api_sock) < 0)
		return -1;
	return apply_output_flags(&f, cfg);
}

int cli_parse(int argc, char **argv, enum cli_command *cmd, struct vm_config *cfg,
	      struct cli_extra *extra)
{
	*extra = (struct cli_extra){ 0 };
	vm_config_init(cfg); /* the command line is chosen after the options, by --console */
	*cmd = CLI_RUN;
	if (argc < 2)
		return error_line("%s%s", "missing command", "");

	const char *verb = argv[1];
	if (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0 || strcmp(verb, "help") == 0) {
		*cmd = CLI_HELP;
		return 0;
	}
	if (strcmp(verb, "--version") == 0 || strcmp(verb, "-V") == 0) {
		*cmd = CLI_VERSION;
		return 0;
	}
	if (strcmp(verb, "run") == 0)
		return parse_run(argc - 1, argv + 1, cmd, cfg, extra);
	if (strcmp(verb, "ctl") == 0)
		return parse_ctl(argc - 1, argv + 1, cmd, extra);
	if (strcmp(verb, "snapshot") == 0)
		return parse_snapshot(argc - 1, argv + 1, cmd, extra);
	if (strcmp(verb, "restore") == 0 || strcmp(verb, "migrate-receive") == 0)
		return parse_vm_source(argc - 1, argv + 1, cmd, cfg, extra);
	if (verb[0] == '-')
		return parse_api(argc, argv, cmd, cfg, extra);
	return error_line("unknown command '%s'%s", verb, "");
}
