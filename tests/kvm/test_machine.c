/*
 * The machine's lifecycle on the real /dev/kvm, as the API drives it:
 * create, start, pause (no exits while paused), resume, Ctrl-Alt-Del, a
 * disk swap, and the ways a VM ends (a request from another thread, a stop
 * signal, destroy while paused), plus a creation that fails.
 *
 * The guest is generated here: a PVH ELF whose one instruction loop reads
 * COM1's line status register, so every turn is an I/O exit. Its serial
 * console (vmon's stdin and stdout) is /dev/null and a file; the TAP
 * output goes to the original stdout.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "util/sys.h"
#include "vmm/machine.h"

#define GUEST_BASE 0x100000u /* PVH kernels load at 1 MiB */

/* mov dx, 0x3fd; 1: in al, dx; jmp 1b */
static const uint8_t io_loop[] = { 0x66, 0xba, 0xfd, 0x03, 0xec, 0xeb, 0xfd };

/* The whole guest file: one loadable segment that holds the Xen entry note and the code. */
struct tiny_elf {
	Elf64_Ehdr eh;
	Elf64_Phdr load, note;
	Elf64_Nhdr nh;
	char name[4];
	uint32_t entry;
	uint8_t code[sizeof(io_loop)];
};

static struct tiny_elf io_loop_elf(void)
{
	struct tiny_elf f;
	memset(&f, 0, sizeof(f));
	memcpy(f.eh.e_ident, ELFMAG, SELFMAG);
	f.eh.e_ident[EI_CLASS] = ELFCLASS64;
	f.eh.e_ident[EI_DATA] = ELFDATA2LSB;
	f.eh.e_ident[EI_VERSION] = EV_CURRENT;
	f.eh.e_type = ET_EXEC;
	f.eh.e_machine = EM_X86_64;
	f.eh.e_version = EV_CURRENT;
	f.eh.e_entry = GUEST_BASE + offsetof(struct tiny_elf, code);
	f.eh.e_phoff = offsetof(struct tiny_elf, load);
	f.eh.e_ehsize = sizeof(f.eh);
	f.eh.e_phentsize = sizeof(Elf64_Phdr);
	f.eh.e_phnum = 2;
	f.load = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_W | PF_X, .p_offset = 0,
			       .p_vaddr = GUEST_BASE, .p_paddr = GUEST_BASE,
			       .p_filesz = sizeof(f), .p_memsz = sizeof(f), .p_align = 16 };
	f.note = (Elf64_Phdr){ .p_type = PT_NOTE, .p_flags = PF_R, .p_offset = offsetof(struct tiny_elf, nh),
			       .p_filesz = sizeof(f.nh) + sizeof(f.name) + sizeof(f.entry), .p_align = 4 };
	f.nh = (Elf64_Nhdr){ .n_namesz = 4, .n_descsz = 4, .n_type = 18 /* XEN_ELFNOTE_PHYS32_ENTRY */ };
	memcpy(f.name, "Xen", 4);
	f.entry = (uint32_t)f.eh.e_entry;
	memcpy(f.code, io_loop, sizeof(io_loop));
	return f;
}

static char dir[] = "/tmp/vmon-test-machine-XXXXXX";
static char kernel[64], disk_a[64], disk_b[64], console_log[64];

static int write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	bool ok = fd >= 0 && write(fd, data, len) == (ssize_t)len;
	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

/* The guest, two disk images of different sizes, and the console's log file. */
static int make_files(void)
{
	if (!mkdtemp(dir))
		return -1;
	snprintf(kernel, sizeof(kernel), "%s/io_loop.elf", dir);
	snprintf(disk_a, sizeof(disk_a), "%s/a.img", dir);
	snprintf(disk_b, sizeof(disk_b), "%s/b.img", dir);
	snprintf(console_log, sizeof(console_log), "%s/console.log", dir);
	struct tiny_elf elf = io_loop_elf();
	static uint8_t image[1 << 20];
	int ret = write_file(kernel, &elf, sizeof(elf));
	if (ret == 0)
		ret = write_file(disk_a, image, sizeof(image) / 2);
	if (ret == 0)
		ret = write_file(disk_b, image, sizeof(image));
	return ret;
}

static void remove_files(void)
{
	unlink(kernel);
	unlink(disk_a);
	unlink(disk_b);
	unlink(console_log);
	rmdir(dir);
}

/*
 * The guest's console becomes /dev/null and a file; TAP keeps the original
 * stdout (glibc lets a program assign stdout).
 */
static int redirect_console(void)
{
	int tap = dup(STDOUT_FILENO);
	int in = open("/dev/null", O_RDONLY);
	int out = open(console_log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	FILE *tap_out = tap >= 0 ? fdopen(tap, "w") : NULL;
	if (!tap_out || in < 0 || out < 0)
		return -1;
	fflush(stdout);
	stdout = tap_out;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0)
		return -1;
	close(in);
	close(out);
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

static uint64_t all_exits(struct machine *m)
{
	struct machine_counters c;
	machine_get_counters(m, &c);
	uint64_t sum = 0;
	for (unsigned k = 0; k < HV_EXIT_KIND_COUNT; k++)
		sum += c.exits[k];
	return sum;
}

static uint64_t io_exits(struct machine *m)
{
	struct machine_counters c;
	machine_get_counters(m, &c);
	return c.exits[HV_EXIT_IO];
}

static void config_for(struct vm_config *cfg, unsigned cpus)
{
	vm_config_init(cfg);
	vm_config_set_string(&cfg->kernel_path, kernel);
	vm_config_set_string(&cfg->cmdline, "test_machine");
	cfg->nr_cpus = cpus;
	cfg->mem_size = 32ull << 20;
}

/* --- the signal masks of vCPU threads --- */

/* SigBlk of the thread named `comm`, or false when there is none. */
static bool thread_sigblk(const char *comm, unsigned long long *mask)
{
	char path[96], line[128];
	for (int tid = getpid(); tid < getpid() + 4096; tid++) {
		snprintf(path, sizeof(path), "/proc/self/task/%d/comm", tid);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		bool match = fgets(line, sizeof(line), f) && strncmp(line, comm, strlen(comm)) == 0;
		fclose(f);
		if (!match)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
		f = fopen(path, "r");
		bool found = false;
		while (f && !found && fgets(line, sizeof(line), f))
			found = sscanf(line, "SigBlk: %llx", mask) == 1;
		if (f)
			fclose(f);
		return found;
	}
	return false;
}

static bool blocked(unsigned long long mask, int sig) { return mask >> (sig - 1) & 1; }

/* An API thread: creates and starts the machine with every signal unblocked in itself. */
struct creator {
	const struct vm_config *cfg;
	struct machine *m;
	int ret;
};

static void *create_and_start(void *arg)
{
	struct creator *c = arg;
	sigset_t none;
	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	c->ret = machine_create(c->cfg, &c->m);
	if (c->ret == 0)
		c->ret = machine_start(c->m);
	return NULL;
}

static void *request_shutdown_later(void *arg)
{
	sleep_ms(100);
	machine_request_shutdown(arg);
	return NULL;
}

/* --- tests --- */

static void test_pause_resume(void)
{
	struct vm_config cfg;
	config_for(&cfg, 2);
	struct creator c = { .cfg = &cfg };
	pthread_t api;
	pthread_create(&api, NULL, create_and_start, &c);
	pthread_join(api, NULL);
	CHECK(c.ret == 0, "machine_create and machine_start from another thread (%d)", c.ret);
	if (c.ret < 0) {
		machine_destroy(c.m);
		vm_config_free(&cfg);
		return;
	}
	struct machine *m = c.m;
	sleep_ms(100);
	uint64_t a = io_exits(m);
	sleep_ms(100);
	uint64_t b = io_exits(m);
	CHECK(a > 0 && b > a, "the guest runs: I/O exits go up (%llu, then %llu)",
	      (unsigned long long)a, (unsigned long long)b);

	/* Read once the vCPU runs its loop: a thread starts with every signal blocked. */
	unsigned long long mask = 0;
	bool found = thread_sigblk("vcpu0", &mask);
	CHECK(found && blocked(mask, SIGINT) && blocked(mask, SIGTERM) && blocked(mask, SIGHUP) &&
	      !blocked(mask, SIGUSR1),
	      "a vCPU thread started by a thread with no signals blocked: stop signals blocked, kick not (%llx)",
	      mask);

	CHECK(machine_pause(m) == 0, "machine_pause");
	uint64_t paused = all_exits(m);
	sleep_ms(200);
	CHECK(all_exits(m) == paused, "no exit at all over 200 ms while paused (%llu)",
	      (unsigned long long)paused);
	CHECK(machine_pause(m) == 0 && all_exits(m) == paused, "pausing again is harmless");

	CHECK(machine_resume(m) == 0, "machine_resume");
	sleep_ms(100);
	uint64_t resumed = io_exits(m);
	CHECK(resumed > b, "the guest runs again: I/O exits go up (%llu)", (unsigned long long)resumed);
	CHECK(machine_resume(m) == 0, "resuming a running VM is harmless");

	CHECK(machine_send_ctrl_alt_del(m) == 0, "Ctrl-Alt-Del is typed on the i8042");

	pthread_t requester;
	pthread_create(&requester, NULL, request_shutdown_later, m);
	enum vmon_exit_status status = machine_wait(m);
	pthread_join(requester, NULL);
	CHECK(status == VMON_EXIT_POWEROFF, "machine_request_shutdown from another thread ends machine_wait: "
	      "POWEROFF (%d)", (int)status);
	CHECK(machine_wait(m) == VMON_EXIT_POWEROFF, "waiting again returns at once, the same");
	uint64_t stopped = all_exits(m);
	sleep_ms(50);
	CHECK(all_exits(m) == stopped, "the counters still read after the stop, unchanging");
	machine_destroy(m);
	vm_config_free(&cfg);
}

static void test_stop_while_paused(void)
{
	struct vm_config cfg;
	config_for(&cfg, 2);
	struct machine *m = NULL;
	int ret = machine_create(&cfg, &m);
	CHECK(ret == 0 && machine_start(m) == 0 && machine_pause(m) == 0, "a paused VM");
	if (ret == 0) {
		machine_request_shutdown(m);
		CHECK(machine_wait(m) == VMON_EXIT_POWEROFF, "machine_wait on a paused VM ends: POWEROFF");
		machine_destroy(m);
	}

	ret = machine_create(&cfg, &m);
	CHECK(ret == 0 && machine_start(m) == 0 && machine_pause(m) == 0, "another paused VM");
	if (ret == 0)
		machine_destroy(m);
	CHECK(ret == 0, "machine_destroy of a paused VM returns (no wait)");
	vm_config_free(&cfg);
}

static void test_signal(void)
{
	struct vm_config cfg;
	config_for(&cfg, 1);
	struct machine *m = NULL;
	int ret = machine_create(&cfg, &m);
	CHECK(ret == 0 && machine_start(m) == 0, "a running VM");
	if (ret < 0) {
		vm_config_free(&cfg);
		return;
	}
	kill(getpid(), SIGTERM);
	CHECK(machine_wait(m) == VMON_EXIT_POWEROFF, "SIGTERM ends machine_wait: POWEROFF");
	machine_destroy(m);
	vm_config_free(&cfg);
}

static void test_disks(void)
{
	struct vm_config cfg;
	config_for(&cfg, 1);
	cfg.nr_disks = 1;
	vm_config_set_string(&cfg.disks[0].path, disk_a);
	cfg.disks[0].queues = 1;
	cfg.disks[0].cache = DISK_CACHE_UNSAFE;
	struct machine *m = NULL;
	int ret = machine_create(&cfg, &m);
	CHECK(ret == 0 && machine_start(m) == 0, "a VM with a disk");
	if (ret < 0) {
		vm_config_free(&cfg);
		return;
	}
	struct machine_counters c;
	machine_get_counters(m, &c);
	CHECK(c.nr_disks == 1 && c.nr_nics == 0 && c.disks[0].requests == 0, "counters: one disk, no NIC");
	const char *why = NULL;
	CHECK(machine_replace_disk(m, 0, disk_b, &why) == 0, "the disk's image is swapped while the VM runs");
	why = NULL;
	ret = machine_replace_disk(m, 0, "/nonexistent.img", &why);
	CHECK(ret == -ENOENT && why, "a missing image: -ENOENT, %s", why ? why : "(no reason)");
	why = NULL;
	ret = machine_replace_disk(m, 1, disk_b, &why);
	CHECK(ret < 0 && why, "a disk that does not exist: %d, %s", ret, why ? why : "(no reason)");
	machine_request_shutdown(m);
	machine_wait(m);
	machine_destroy(m);
	vm_config_free(&cfg);
}

static void test_create_fails(void)
{
	struct vm_config cfg;
	config_for(&cfg, 1);
	vm_config_set_string(&cfg.kernel_path, "/nonexistent/vmlinux");
	struct machine *m = (struct machine *)&cfg;
	CHECK(machine_create(&cfg, &m) == -ENOENT && m == NULL, "a missing kernel: -ENOENT, no machine");
	vm_config_set_string(&cfg.kernel_path, kernel);
	cfg.nr_disks = 1;
	vm_config_set_string(&cfg.disks[0].path, "/nonexistent/disk.img");
	m = (struct machine *)&cfg;
	CHECK(machine_create(&cfg, &m) == -ENOENT && m == NULL, "a missing disk image: -ENOENT, no machine");
	machine_destroy(NULL);
	vm_config_free(&cfg);
}

int main(void)
{
	close(stop_signals_fd()); /* blocks them, as vmon's main thread does before any thread exists */
	if (access("/dev/kvm", F_OK) != 0) {
		SKIP("no /dev/kvm on this host");
		return tap_finish();
	}
	if (make_files() < 0 || redirect_console() < 0) {
		printf("Bail out! cannot set up the guest's files: %s\n", strerror(errno));
		return 1;
	}
	CHECK(strcmp(machine_exit_kind_name(HV_EXIT_IO), "io") == 0 &&
	      strcmp(machine_exit_kind_name(HV_EXIT_HLT), "hlt") == 0, "exit kinds are named as --stats prints them");
	test_pause_resume();
	test_stop_while_paused();
	test_signal();
	test_disks();
	test_create_fails();
	remove_files();
	return tap_finish();
}
