/*
 * Command-line parsing: sizes, CPU counts, the run command, --config-file,
 * the API with Firecracker's flags, ctl, snapshot, restore, migrate-receive
 * and the TCP endpoints they take.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/ctl.h"
#include "tap.h"

/* cli_parse, after freeing what cfg held (it starts as after vm_config_init). */
static int parse(int argc, char **argv, enum cli_command *cmd, struct vm_config *cfg)
{
	struct cli_extra extra;
	cli_free_config(cfg);
	return cli_parse(argc, argv, cmd, cfg, &extra);
}

/* A temporary file holding text; its path in a static buffer, removed by forget_file. */
static const char *file_with(const char *text)
{
	static char path[] = "/tmp/vmon-test-cli-XXXXXX";
	strcpy(path, "/tmp/vmon-test-cli-XXXXXX");
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		printf("# cannot write %s\n", path);
		exit(2);
	}
	return path;
}

/* vmon run --config-file FILE (holding text) with more arguments; the file removed after. */
static int run_config(const char *text, const char *more1, const char *more2, enum cli_command *cmd,
		      struct vm_config *cfg)
{
	const char *path = file_with(text);
	char *argv[] = { "vmon", "run", "--config-file", (char *)path, (char *)more1, (char *)more2, NULL };
	int argc = 4 + (more1 != NULL) + (more1 && more2);
	int ret = parse(argc, argv, cmd, cfg);
	unlink(path);
	return ret;
}

static void test_config_file(void)
{
	enum cli_command cmd;
	struct vm_config cfg;
	vm_config_init(&cfg);
	const char *doc = "{\"boot-source\": {\"kernel_image_path\": \"/k\", \"initrd_path\": \"/i\"}, "
			  "\"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 64}, \"drives\": [{\"drive_id\": "
			  "\"root\", \"path_on_host\": \"/r.img\", \"is_root_device\": true}], "
			  "\"network-interfaces\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\"}]}";
	CHECK(run_config(doc, NULL, NULL, &cmd, &cfg) == 0 && cmd == CLI_RUN && strcmp(cfg.kernel_path, "/k") == 0 &&
	      strcmp(cfg.initrd_path, "/i") == 0 && cfg.nr_cpus == 2 && cfg.mem_size == 64ull << 20 &&
	      cfg.nr_disks == 1 && cfg.disks[0].root && cfg.nr_nics == 1 && cfg.nics[0].queues == 1,
	      "--config-file fills the configuration");
	CHECK(cfg.cmdline && strcmp(cfg.cmdline, VM_DEFAULT_CMDLINE) == 0,
	      "--config-file without boot_args: the default command line");
	cli_free_config(&cfg);
	CHECK(run_config(doc, "--console", "virtio", &cmd, &cfg) == 0 && cfg.console == CONSOLE_VIRTIO &&
	      strcmp(cfg.cmdline, VM_DEFAULT_CMDLINE_HVC) == 0 && cfg.nr_cpus == 2,
	      "--config-file with --console virtio: hvc0 by default");
	cli_free_config(&cfg);
	CHECK(run_config("{\"boot-source\": {\"kernel_image_path\": \"/k\", \"boot_args\": \"quiet\"}}",
			 "--stats", "--verbose", &cmd, &cfg) == 0 && cfg.stats && strcmp(cfg.cmdline, "quiet") == 0,
	      "--config-file with --stats and --verbose; boot_args is the command line");
	cli_free_config(&cfg);
	char *stats_first[] = { "vmon", "run", "--stats", "--config-file", (char *)file_with("{\"boot-source\": "
				"{\"kernel_image_path\": \"/k\"}}"), NULL };
	CHECK(parse(5, stats_first, &cmd, &cfg) == 0 && cfg.stats, "--stats before --config-file is kept");
	unlink(stats_first[4]);
	cli_free_config(&cfg);

	static const char *const machine_options[][2] = {
		{ "--kernel", "k" }, { "--initrd", "i" }, { "--cmdline", "c" }, { "--cpus", "2" },
		{ "--memory", "1G" }, { "--disk", "path=/x" }, { "--net", "tap=t0" },
	};
	for (size_t i = 0; i < sizeof(machine_options) / sizeof(machine_options[0]); i++) {
		CHECK(run_config(doc, machine_options[i][0], machine_options[i][1], &cmd, &cfg) < 0,
		      "--config-file with %s is refused", machine_options[i][0]);
		cli_free_config(&cfg);
	}
	char *kernel_first[] = { "vmon", "run", "--kernel", "k", "--config-file", "/nonexistent", NULL };
	CHECK(parse(6, kernel_first, &cmd, &cfg) < 0, "--kernel before --config-file is refused too");
	cli_free_config(&cfg);

	CHECK(run_config("{\"boot-source\": {\"kernel_image_path\": \"/k\"}", NULL, NULL, &cmd, &cfg) < 0 &&
	      !cfg.kernel_path, "--config-file with malformed JSON");
	CHECK(run_config("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"boot-source\": {}}", NULL, NULL,
			 &cmd, &cfg) < 0, "--config-file with a section twice");
	CHECK(run_config("{\"boot-source\": {\"kernel_image_path\": \"/k\", \"kernel\": 1}}", NULL, NULL, &cmd,
			 &cfg) < 0 && !cfg.kernel_path, "--config-file with an unknown field");
	CHECK(run_config("{}", NULL, NULL, &cmd, &cfg) < 0, "--config-file without a kernel");
	CHECK(run_config("", NULL, NULL, &cmd, &cfg) < 0, "--config-file that is empty");
	char *big = malloc((1u << 20) + 2);
	memset(big, ' ', (1u << 20) + 1);
	big[(1u << 20) + 1] = '\0';
	const char *kernel_only = "{\"boot-source\": {\"kernel_image_path\": \"/k\"}}";
	memcpy(big, kernel_only, strlen(kernel_only));
	CHECK(run_config(big, NULL, NULL, &cmd, &cfg) < 0, "--config-file over 1 MiB (with valid JSON first)");
	big[1u << 20] = '\0';
	CHECK(run_config(big, NULL, NULL, &cmd, &cfg) == 0, "--config-file of exactly 1 MiB");
	cli_free_config(&cfg);
	free(big);
	char *missing[] = { "vmon", "run", "--config-file", "/nonexistent/vmon.json", NULL };
	CHECK(parse(4, missing, &cmd, &cfg) < 0, "--config-file that does not exist");
	char *dir[] = { "vmon", "run", "--config-file", "/", NULL };
	CHECK(parse(4, dir, &cmd, &cfg) < 0, "--config-file that is a directory");
	char *no_value[] = { "vmon", "run", "--config-file", NULL };
	CHECK(parse(3, no_value, &cmd, &cfg) < 0, "--config-file without its value");
	char *help[] = { "vmon", "run", "--config-file", "/nonexistent", "--help", NULL };
	CHECK(parse(5, help, &cmd, &cfg) == 0 && cmd == CLI_HELP, "--config-file with --help: the help, no file read");
}

/* cli_parse of args (NULL-terminated), "FILE" standing for a temporary file holding text. */
static int parse_with_file(const char *text, const char *const *args, enum cli_command *cmd,
			   struct vm_config *cfg, struct cli_extra *extra)
{
	const char *path = file_with(text);
	char *argv[24];
	int argc = 0;
	for (; args[argc]; argc++)
		argv[argc] = (char *)(strcmp(args[argc], "FILE") == 0 ? path : args[argc]);
	argv[argc] = NULL;
	cli_free_config(cfg);
	int ret = cli_parse(argc, argv, cmd, cfg, extra);
	unlink(path);
	return ret;
}

#define KERNEL_ONLY "{\"boot-source\": {\"kernel_image_path\": \"/k\"}}"
#define ARGS(...) ((const char *const[]){ "vmon", __VA_ARGS__, NULL })

static void test_firecracker_flags(void)
{
	enum cli_command cmd;
	struct vm_config cfg;
	struct cli_extra extra;
	vm_config_init(&cfg);
	CHECK(parse_with_file(KERNEL_ONLY, ARGS("--api-sock", "/s", "--id", "my-vm-01", "--no-seccomp"), &cmd, &cfg,
			      &extra) == 0 && cmd == CLI_API && strcmp(extra.instance_id, "my-vm-01") == 0 &&
	      !extra.from_config_file && !cfg.kernel_path, "--api-sock with --id and --no-seccomp: no VM yet");
	CHECK(parse_with_file(KERNEL_ONLY, ARGS("--api-sock", "/s", "--config-file", "FILE"), &cmd, &cfg, &extra) == 0 &&
	      cmd == CLI_API && extra.from_config_file && strcmp(extra.api_sock, "/s") == 0 && !extra.instance_id &&
	      strcmp(cfg.kernel_path, "/k") == 0 && strcmp(cfg.cmdline, VM_DEFAULT_CMDLINE) == 0,
	      "--api-sock with --config-file: the API, and the file's VM to start");
	CHECK(parse_with_file(KERNEL_ONLY, ARGS("--config-file", "FILE", "--id", "a"), &cmd, &cfg, &extra) == 0 &&
	      cmd == CLI_RUN && extra.from_config_file && !extra.api_sock && strcmp(cfg.kernel_path, "/k") == 0,
	      "--config-file without --api-sock: run, as Firecracker's --no-api");
	CHECK(parse_with_file(KERNEL_ONLY, ARGS("--no-api", "--config-file", "FILE"), &cmd, &cfg, &extra) == 0 &&
	      cmd == CLI_RUN && extra.from_config_file, "--no-api --config-file: run");
	CHECK(parse_with_file(KERNEL_ONLY, ARGS("--api-sock", "/s", "--http-api-max-payload-size", "51200"), &cmd, &cfg,
			      &extra) == 0 && cmd == CLI_API, "--http-api-max-payload-size 51200, vmon's own limit");

	char id64[65];
	memset(id64, 'I', 64);
	id64[64] = '\0';
	CHECK(parse_with_file(KERNEL_ONLY, ARGS("--api-sock", "/s", "--id", id64), &cmd, &cfg, &extra) == 0 &&
	      strcmp(extra.instance_id, id64) == 0, "--id of 64 characters");

	CHECK(parse_with_file(KERNEL_ONLY, ARGS("--config-file", "FILE", "--log-path", "/l", "--level", "warn",
						"--show-level", "--show-log-origin", "--metrics-path", "/m"),
			      &cmd, &cfg, &extra) == 0 && strcmp(cfg.logger.path, "/l") == 0 &&
	      strcmp(cfg.logger.level, "Warning") == 0 && cfg.logger.show_level && cfg.logger.show_origin &&
	      strcmp(cfg.metrics_path, "/m") == 0, "the logger and metrics flags fill cfg as PUT /logger and /metrics");
	CHECK(parse_with_file("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"logger\": {\"level\": \"Debug\"}}",
			      ARGS("--config-file", "FILE", "--log-path", "/l", "--show-level"), &cmd, &cfg, &extra) == 0 &&
	      strcmp(cfg.logger.path, "/l") == 0 && strcmp(cfg.logger.level, "Debug") == 0 && cfg.logger.show_level,
	      "the file's logger level with the flags' log path");
	CHECK(parse_with_file(KERNEL_ONLY, ARGS("--api-sock", "/s", "--help", "--boot-timer"), &cmd, &cfg, &extra) < 0,
	      "a refused flag after --help is still refused");
	CHECK(parse_with_file(KERNEL_ONLY, ARGS("--api-sock", "/s", "--id", "x", "--help"), &cmd, &cfg, &extra) == 0 &&
	      cmd == CLI_HELP, "--api-sock --id --help: the help");

	static const struct { const char *args[12], *text, *name; } bad[] = {
		{ { "--api-sock", "/s", "--id", "" }, KERNEL_ONLY, "an empty --id" },
		{ { "--api-sock", "/s", "--id", "IIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIII" }, KERNEL_ONLY,
		  "--id of 65 characters" },
		{ { "--api-sock", "/s", "--id", "my_vm" }, KERNEL_ONLY, "--id with '_'" },
		{ { "--api-sock", "/s", "--id", "a b" }, KERNEL_ONLY, "--id with a space" },
		{ { "--api-sock", "/s", "--id" }, KERNEL_ONLY, "--id without its value" },
		{ { "--api-sock", "/s", "--seccomp-filter", "/f.bpf" }, KERNEL_ONLY, "--seccomp-filter" },
		{ { "--api-sock", "/s", "--boot-timer" }, KERNEL_ONLY, "--boot-timer" },
		{ { "--api-sock", "/s", "--http-api-max-payload-size", "100000" }, KERNEL_ONLY,
		  "--http-api-max-payload-size beyond vmon's limit" },
		{ { "--api-sock", "/s", "--http-api-max-payload-size", "1024" }, KERNEL_ONLY,
		  "--http-api-max-payload-size below vmon's limit" },
		{ { "--api-sock", "/s", "--http-api-max-payload-size", "lots" }, KERNEL_ONLY,
		  "--http-api-max-payload-size not a number" },
		{ { "--config-file", "FILE", "--level", "loud" }, KERNEL_ONLY, "an unknown --level" },
		{ { "--config-file", "FILE", "--level", "" }, KERNEL_ONLY, "an empty --level" },
		{ { "--config-file", "FILE", "--log-path", "" }, KERNEL_ONLY, "an empty --log-path" },
		{ { "--config-file", "FILE", "--metrics-path", "" }, KERNEL_ONLY, "an empty --metrics-path" },
		{ { "--api-sock", "/s", "--log-path", "/l" }, KERNEL_ONLY, "--log-path without --config-file" },
		{ { "--api-sock", "/s", "--show-level" }, KERNEL_ONLY, "--show-level without --config-file" },
		{ { "--api-sock", "/s", "--metrics-path", "/m" }, KERNEL_ONLY, "--metrics-path without --config-file" },
		{ { "--config-file", "FILE", "--level", "Info" }, "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		  "\"logger\": {\"level\": \"Debug\"}}", "--level and the file's logger level" },
		{ { "--config-file", "FILE", "--metrics-path", "/m" }, "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
		  "\"metrics\": {\"metrics_path\": \"/m2\"}}", "--metrics-path and the file's metrics" },
		{ { "--no-api" }, KERNEL_ONLY, "--no-api without --config-file" },
		{ { "--no-api", "--api-sock", "/s", "--config-file", "FILE" }, KERNEL_ONLY, "--no-api with --api-sock" },
		{ { "--id", "x" }, KERNEL_ONLY, "neither --api-sock nor --config-file" },
		{ { "--config-file", "FILE" }, "{}", "--config-file without a boot source" },
		{ { "--config-file", "FILE", "--stats" }, KERNEL_ONLY, "--stats is run's" },
		{ { "--config-file", "FILE", "--api-sock", "" }, KERNEL_ONLY, "an empty --api-sock with --config-file" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *args[14] = { "vmon" };
		memcpy(&args[1], bad[i].args, sizeof(bad[i].args));
		CHECK(parse_with_file(bad[i].text, args, &cmd, &cfg, &extra) < 0, "refused: %s", bad[i].name);
	}
	cli_free_config(&cfg);
}

static void test_api_and_ctl(void)
{
	enum cli_command cmd;
	struct vm_config cfg;
	struct cli_extra extra;
	char *api[] = { "vmon", "--api-sock", "/run/vmon.sock", NULL };
	CHECK(cli_parse(3, api, &cmd, &cfg, &extra) == 0 && cmd == CLI_API &&
	      strcmp(extra.api_sock, "/run/vmon.sock") == 0 && !extra.ctl_action, "--api-sock PATH: CLI_API");
	char *api_verbose[] = { "vmon", "--verbose", "--api-sock=/s", NULL };
	CHECK(cli_parse(3, api_verbose, &cmd, &cfg, &extra) == 0 && cmd == CLI_API && strcmp(extra.api_sock, "/s") == 0,
	      "--verbose --api-sock=PATH: CLI_API");
	char sock107[108], sock108[109];
	memset(sock107, 'a', 107);
	sock107[107] = '\0';
	memset(sock108, 'a', 108);
	sock108[108] = '\0';
	char *api_long[] = { "vmon", "--api-sock", sock107, NULL };
	CHECK(cli_parse(3, api_long, &cmd, &cfg, &extra) == 0 && cmd == CLI_API, "--api-sock of 107 bytes");
	api_long[2] = sock108;
	CHECK(cli_parse(3, api_long, &cmd, &cfg, &extra) < 0, "--api-sock of 108 bytes is refused");
	char *api_empty[] = { "vmon", "--api-sock", "", NULL };
	CHECK(cli_parse(3, api_empty, &cmd, &cfg, &extra) < 0, "--api-sock with an empty path");
	char *api_none[] = { "vmon", "--verbose", NULL };
	CHECK(cli_parse(2, api_none, &cmd, &cfg, &extra) < 0, "--verbose without --api-sock");
	char *api_no_value[] = { "vmon", "--api-sock", NULL };
	CHECK(cli_parse(2, api_no_value, &cmd, &cfg, &extra) < 0, "--api-sock without its value");
	char *api_extra[] = { "vmon", "--api-sock", "/s", "run", NULL };
	CHECK(cli_parse(4, api_extra, &cmd, &cfg, &extra) < 0, "--api-sock with a stray argument");
	char *api_kernel[] = { "vmon", "--api-sock", "/s", "--kernel", "k", NULL };
	CHECK(cli_parse(5, api_kernel, &cmd, &cfg, &extra) < 0, "--api-sock with a run option");
	char *api_help[] = { "vmon", "--api-sock", "/s", "--help", NULL };
	CHECK(cli_parse(4, api_help, &cmd, &cfg, &extra) == 0 && cmd == CLI_HELP, "--api-sock --help");

	static const char *const actions[] = { "pause", "resume", "info", "config", "ctrl-alt-del" };
	char names[128];
	ctl_action_names(names, sizeof(names));
	CHECK(strcmp(names, "pause, resume, info, config, ctrl-alt-del or migrate") == 0 && ctl_action_known("pause") &&
	      !ctl_action_known("stop") && !ctl_action_known(""), "ctl's actions, listed once in cli/ctl.c");
	for (size_t i = 0; i < 5; i++) {
		char *ctl[] = { "vmon", "ctl", "--api-sock", "/s", (char *)actions[i], NULL };
		CHECK(cli_parse(5, ctl, &cmd, &cfg, &extra) == 0 && cmd == CLI_CTL && strcmp(extra.api_sock, "/s") == 0 &&
		      strcmp(extra.ctl_action, actions[i]) == 0, "ctl %s", actions[i]);
	}
	char *ctl_after[] = { "vmon", "ctl", "info", "--api-sock", "/s", NULL };
	CHECK(cli_parse(5, ctl_after, &cmd, &cfg, &extra) == 0 && cmd == CLI_CTL &&
	      strcmp(extra.ctl_action, "info") == 0 && strcmp(extra.api_sock, "/s") == 0,
	      "ctl ACTION --api-sock PATH: the action may come first");
	char *ctl_unknown[] = { "vmon", "ctl", "--api-sock", "/s", "stop", NULL };
	CHECK(cli_parse(5, ctl_unknown, &cmd, &cfg, &extra) < 0, "ctl with an unknown action");
	char *ctl_case[] = { "vmon", "ctl", "--api-sock", "/s", "Pause", NULL };
	CHECK(cli_parse(5, ctl_case, &cmd, &cfg, &extra) < 0, "ctl actions are lower case");
	char *ctl_none[] = { "vmon", "ctl", "--api-sock", "/s", NULL };
	CHECK(cli_parse(4, ctl_none, &cmd, &cfg, &extra) < 0, "ctl without an action");
	char *ctl_two[] = { "vmon", "ctl", "--api-sock", "/s", "pause", "resume", NULL };
	CHECK(cli_parse(6, ctl_two, &cmd, &cfg, &extra) < 0, "ctl with two actions");
	char *ctl_no_sock[] = { "vmon", "ctl", "pause", NULL };
	CHECK(cli_parse(3, ctl_no_sock, &cmd, &cfg, &extra) < 0, "ctl without --api-sock");
	char *ctl_verbose[] = { "vmon", "ctl", "--verbose", "--api-sock", "/s", "pause", NULL };
	CHECK(cli_parse(6, ctl_verbose, &cmd, &cfg, &extra) < 0, "ctl takes no --verbose");
	char *ctl_help[] = { "vmon", "ctl", "--help", NULL };
	CHECK(cli_parse(3, ctl_help, &cmd, &cfg, &extra) == 0 && cmd == CLI_HELP, "ctl --help");
	char *run_extra[] = { "vmon", "run", "--kernel", "k", NULL };
	CHECK(cli_parse(4, run_extra, &cmd, &cfg, &extra) == 0 && !extra.api_sock && !extra.ctl_action &&
	      !extra.instance_id && !extra.from_config_file, "run leaves extra empty");
	cli_free_config(&cfg);
}

static void test_endpoints(void)
{
	const char *ep, *why;
	CHECK(cli_parse_endpoint("127.0.0.1:4444", &ep, &why) == 0 && strcmp(ep, "127.0.0.1:4444") == 0, "ADDR:PORT");
	CHECK(cli_parse_endpoint("tcp:host.example:1", &ep, &why) == 0 && strcmp(ep, "host.example:1") == 0,
	      "tcp:NAME:PORT, without its tcp:");
	CHECK(cli_parse_endpoint("[::1]:65535", &ep, &why) == 0 && strcmp(ep, "[::1]:65535") == 0, "[IPv6]:65535");
	static const struct { const char *s, *why; } bad[] = {
		{ "127.0.0.1", "port from 1 to 65535" }, { "127.0.0.1:", "port from 1 to 65535" },
		{ "127.0.0.1:0", "port from 1 to 65535" }, { "127.0.0.1:65536", "port from 1 to 65535" },
		{ "127.0.0.1:-1", "port from 1 to 65535" }, { "127.0.0.1:80x", "port from 1 to 65535" },
		{ ":80", "no address" }, { "[]:80", "no address" }, { "tcp::80", "no address" },
		{ "::1:80", "in brackets" }, { "[::1:80", "in brackets" }, { "[::1]]:80", "in brackets" },
		{ "a b:80", "space or a control character" }, { "a\tb:80", "space or a control character" },
		{ "", "port from 1 to 65535" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(cli_parse_endpoint(bad[i].s, &ep, &why) < 0 && strstr(why, bad[i].why), "endpoint '%s' refused: %s",
		      bad[i].s, bad[i].why);
}

static void test_snapshot_and_migration_commands(void)
{
	enum cli_command cmd;
	struct vm_config cfg;
	struct cli_extra extra;
	vm_config_init(&cfg);
	CHECK(parse_with_file(KERNEL_ONLY, ARGS("ctl", "--api-sock", "/s", "migrate", "--to", "tcp:10.0.0.2:4444",
						"--max-downtime-ms", "60000"), &cmd, &cfg, &extra) == 0 &&
	      cmd == CLI_CTL && strcmp(extra.ctl_action, "migrate") == 0 && strcmp(extra.migrate.to, "10.0.0.2:4444") == 0 &&
	      extra.migrate.max_downtime_ms == 60000, "ctl migrate --to --max-downtime-ms");
	CHECK(parse_with_file(KERNEL_ONLY, ARGS("ctl", "migrate", "--to", "[::1]:4444", "--api-sock", "/s"), &cmd, &cfg,
			      &extra) == 0 && strcmp(extra.migrate.to, "[::1]:4444") == 0 && extra.migrate.max_downtime_ms == 0,
	      "ctl migrate with the options after it; no --max-downtime-ms: 0 (the API's default)");
	CHECK(parse_with_file(KERNEL_ONLY, ARGS("snapshot", "--api-sock", "/s", "/x/vm.state", "/x/vm.mem"), &cmd, &cfg,
			      &extra) == 0 && cmd == CLI_SNAPSHOT && strcmp(extra.state_file, "/x/vm.state") == 0 &&
	      strcmp(extra.mem_file, "/x/vm.mem") == 0, "snapshot --api-sock STATE MEM");
	CHECK(parse_with_file(KERNEL_ONLY, ARGS("restore", "/x/vm.state", "/x/vm.mem"), &cmd, &cfg, &extra) == 0 &&
	      cmd == CLI_RESTORE && strcmp(extra.state_file, "/x/vm.state") == 0 && strcmp(extra.mem_file, "/x/vm.mem") == 0 &&
	      !extra.restore_paused && !extra.api_sock && !cfg.kernel_path, "restore STATE MEM");
	CHECK(parse_with_file(KERNEL_ONLY, ARGS("restore", "--paused", "/a", "--api-sock", "/s", "/b", "--id", "vm-2",
						"--log-path", "/l", "--level", "debug", "--metrics-path", "/m", "--show-level"),
			      &cmd, &cfg, &extra) == 0 && cmd == CLI_RESTORE && extra.restore_paused &&
	      strcmp(extra.state_file, "/a") == 0 && strcmp(extra.mem_file, "/b") == 0 && strcmp(extra.api_sock, "/s") == 0 &&
	      strcmp(extra.instance_id, "vm-2") == 0 && strcmp(cfg.logger.path, "/l") == 0 &&
	      strcmp(cfg.logger.level, "Debug") == 0 && cfg.logger.show_level && strcmp(cfg.metrics_path, "/m") == 0,
	      "restore with --paused, --api-sock, --id and the logger and metrics flags, in any order");
	CHECK(parse_with_file(KERNEL_ONLY, ARGS("migrate-receive", "--listen", "0.0.0.0:4444", "--api-sock", "/s",
						"--metrics-path", "/m"), &cmd, &cfg, &extra) == 0 && cmd == CLI_RECEIVE &&
	      strcmp(extra.listen, "0.0.0.0:4444") == 0 && strcmp(extra.api_sock, "/s") == 0 &&
	      strcmp(cfg.metrics_path, "/m") == 0, "migrate-receive --listen --api-sock --metrics-path");
	CHECK(parse_with_file(KERNEL_ONLY, ARGS("migrate-receive", "--listen", "tcp:[::]:4444"), &cmd, &cfg, &extra) == 0 &&
	      strcmp(extra.listen, "[::]:4444") == 0 && !extra.api_sock, "migrate-receive --listen tcp:[::]:PORT");
	CHECK(parse_with_file(KERNEL_ONLY, ARGS("restore", "--help"), &cmd, &cfg, &extra) == 0 && cmd == CLI_HELP,
	      "restore --help");
	CHECK(parse_with_file(KERNEL_ONLY, ARGS("snapshot", "--help"), &cmd, &cfg, &extra) == 0 && cmd == CLI_HELP,
	      "snapshot --help");

	static const struct { const char *args[8], *name; } bad[] = {
		{ { "ctl", "--api-sock", "/s", "migrate" }, "ctl migrate without --to" },
		{ { "ctl", "--api-sock", "/s", "migrate", "--to", "10.0.0.2" }, "ctl migrate --to without a port" },
		{ { "ctl", "--api-sock", "/s", "migrate", "--to", "10.0.0.2:0" }, "ctl migrate --to port 0" },
		{ { "ctl", "--api-sock", "/s", "migrate", "--to", "h:1", "--max-downtime-ms", "0" }, "--max-downtime-ms 0" },
		{ { "ctl", "--api-sock", "/s", "migrate", "--to", "h:1", "--max-downtime-ms", "60001" },
		  "--max-downtime-ms 60001" },
		{ { "ctl", "--api-sock", "/s", "migrate", "--to", "h:1", "--max-downtime-ms", "fast" },
		  "--max-downtime-ms not a number" },
		{ { "ctl", "--api-sock", "/s", "pause", "--to", "h:1" }, "--to with another action" },
		{ { "ctl", "--api-sock", "/s", "info", "--max-downtime-ms", "10" }, "--max-downtime-ms with another action" },
		{ { "ctl", "migrate", "--to", "h:1" }, "ctl migrate without --api-sock" },
		{ { "snapshot", "/a", "/b" }, "snapshot without --api-sock" },
		{ { "snapshot", "--api-sock", "/s", "/a" }, "snapshot with one file" },
		{ { "snapshot", "--api-sock", "/s", "/a", "/b", "/c" }, "snapshot with three files" },
		{ { "snapshot", "--api-sock", "/s", "--paused", "/a", "/b" }, "snapshot --paused" },
		{ { "restore" }, "restore without files" },
		{ { "restore", "/a" }, "restore with one file" },
		{ { "restore", "/a", "/b", "/c" }, "restore with three files" },
		{ { "restore", "/a", "/b", "--listen", "h:1" }, "restore --listen" },
		{ { "restore", "/a", "/b", "--kernel", "/k" }, "restore --kernel" },
		{ { "restore", "/a", "/b", "--config-file", "FILE" }, "restore --config-file" },
		{ { "restore", "/a", "/b", "--api-sock", "" }, "restore with an empty --api-sock" },
		{ { "restore", "/a", "/b", "--level", "loud" }, "restore with a bad --level" },
		{ { "restore", "/a", "/b", "--id", "a_b" }, "restore with a bad --id" },
		{ { "migrate-receive" }, "migrate-receive without --listen" },
		{ { "migrate-receive", "--listen" }, "migrate-receive --listen without its value" },
		{ { "migrate-receive", "--listen", "4444" }, "migrate-receive --listen without an address" },
		{ { "migrate-receive", "--listen", "::1:4444" }, "migrate-receive --listen IPv6 without brackets" },
		{ { "migrate-receive", "--listen", "h:99999" }, "migrate-receive --listen port 99999" },
		{ { "migrate-receive", "--listen", "h:1", "--paused" }, "migrate-receive --paused" },
		{ { "migrate-receive", "--listen", "h:1", "/a" }, "migrate-receive with a file" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *args[10] = { "vmon" };
		memcpy(&args[1], bad[i].args, sizeof(bad[i].args));
		CHECK(parse_with_file(KERNEL_ONLY, args, &cmd, &cfg, &extra) < 0, "refused: %s", bad[i].name);
	}
	cli_free_config(&cfg);
}

/* --iommu: the value, and the devices it cannot be combined with. */
static void test_iommu(void)
{
	struct iommu_config iommu;
	const char *why;
	CHECK(cli_parse_iommu("intel", &iommu, &why) == 0 && iommu.kind == IOMMU_INTEL && !iommu.intremap &&
		      !iommu.caching_mode, "--iommu intel: no remapping, no caching mode");
	CHECK(cli_parse_iommu("intel,intremap=on,caching_mode=on", &iommu, &why) == 0 && iommu.intremap &&
		      iommu.caching_mode, "--iommu intel,intremap=on,caching_mode=on");
	CHECK(cli_parse_iommu("intel,intremap=off", &iommu, &why) == 0 && !iommu.intremap, "intremap=off");
	CHECK(cli_parse_iommu("amd", &iommu, &why) < 0 && iommu.kind == IOMMU_NONE && strstr(why, "intel"),
	      "--iommu amd refused");
	CHECK(cli_parse_iommu("intelx", &iommu, &why) < 0, "--iommu intelx refused");
	CHECK(cli_parse_iommu("intel,intremap=maybe", &iommu, &why) < 0 && strstr(why, "intremap="),
	      "intremap=maybe refused");
	CHECK(cli_parse_iommu("intel,pt=on", &iommu, &why) < 0 && strstr(why, "unknown key"), "unknown key refused");

	enum cli_command cmd;
	struct vm_config cfg;
	vm_config_init(&cfg);
	char *ok[] = { "vmon", "run", "--kernel", "k", "--net", "tap=t0", "--iommu", "intel,intremap=on", NULL };
	CHECK(parse(8, ok, &cmd, &cfg) == 0 && cfg.iommu.kind == IOMMU_INTEL && cfg.iommu.intremap &&
		      cfg.nics[0].vhost == VHOST_OFF, "--iommu with a NIC: vhost=auto becomes off");
	char *vhost[] = { "vmon", "run", "--kernel", "k", "--net", "tap=t0,vhost=on", "--iommu", "intel", NULL };
	CHECK(parse(8, vhost, &cmd, &cfg) < 0, "--iommu with vhost=on refused");
	char *mmio[] = { "vmon", "run", "--kernel", "k", "--disk", "path=d,transport=mmio", "--iommu", "intel", NULL };
	CHECK(parse(8, mmio, &cmd, &cfg) < 0, "--iommu with a virtio-mmio disk refused");
	char *none[] = { "vmon", "run", "--kernel", "k", "--net", "tap=t0", NULL };
	CHECK(parse(6, none, &cmd, &cfg) == 0 && cfg.iommu.kind == IOMMU_NONE && cfg.nics[0].vhost == VHOST_AUTO &&
		      !cfg.test_hooks, "without --iommu: no IOMMU, vhost=auto kept, no test hooks");
	char *hooks[] = { "vmon", "run", "--kernel", "k", "--test-hooks", NULL };
	CHECK(parse(5, hooks, &cmd, &cfg) == 0 && cfg.test_hooks, "--test-hooks");
	cli_free_config(&cfg);
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
	vm_config_init(&cfg);
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
	test_iommu();
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
	cli_free_config(&cfg);

	test_config_file();
	test_firecracker_flags();
	test_api_and_ctl();
	test_endpoints();
	test_snapshot_and_migration_commands();
	return tap_finish();
}
