# shellcheck shell=bash disable=SC2034
# (SC2034: the variables set here are used by the scripts that source it.)
# Shared helpers of the nested lab: tests/lab/prepare.sh, tests/lab/run.sh
# and bench/boot.sh source this file.  It defines functions and variables
# only; it runs nothing.
#
# Layout under BUILD_DIR/lab/ (see lab_init):
#   cache/            downloaded kernel .deb
#   kernel/           the .deb extracted (dpkg-deb -x)
#   bzImage vmlinux   the Debian cloud kernel, and its ELF (for PVH boot)
#   kernel.version    e.g. 6.1.0-56-cloud-amd64
#   modules/          L1's modules: irqbypass/kvm/kvm-amd, tun/tap/vhost_net,
#                     bridge and their dependencies (decompressed), load-order
#   l2-modules/       L2's: the virtio drivers (pci, mmio, rng, blk, console,
#                     net), load-order
#   bin/              marker-init, boottime, memcheck, pinggap, qmp (static
#                     helpers built here)
#   l2.cpio           the L2 guest initramfs (bench/boot.sh, scripts/demo.sh)
#   l2-test.cpio      the same plus Debian's mke2fs, for run.sh's ext4 checks
#   test.log          L1 console of the last run.sh (L2 lines prefixed)
#   bench.log         L1 console of the last bench/boot.sh; bench.md its report
#   *.lock            serialize prepare.sh, and the L1 runs, per BUILD_DIR
#   tmp.*/            a run's temporary files (the L1 initramfs), removed

LAB_SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_REPO_DIR=$(cd "$LAB_SRC_DIR/../.." && pwd)

# Packages the lab needs on the host (Debian 12).  binutils gives readelf and
# strings; libc6-dev the static libc for the helpers; xz-utils unpacks .ko.xz;
# e2fsprogs: mke2fs for L2, e2fsck and debugfs for L1 (run.sh's ext4 checks);
# pciutils: lspci for L2 (run.sh's PCI check); iproute2: `ip tuntap` in L1,
# which creates the TAP interfaces of the network cases (busybox has none).
LAB_HOST_PACKAGES=(qemu-system-x86 busybox-static cpio lz4 xz-utils gcc
	libc6-dev binutils e2fsprogs pciutils iproute2 curl)

# L1 machine: QEMU/TCG emulating an AMD-V CPU.  One vCPU: with -smp 2 the lab
# hung in 2 of 3 runs, with -smp 1 it has not.
LAB_L1_MEMORY=${LAB_L1_MEMORY:-4096}
LAB_L1_CPU=EPYC,+svm,+npt
# L2 guest defaults (read by the L1 /init from lab.* kernel parameters).
LAB_L2_MEMORY=${LAB_L2_MEMORY:-512M}
LAB_L2_TIMEOUT=${LAB_L2_TIMEOUT:-90}

lab_log() { printf 'lab: %s\n' "$*" >&2; }

# lab_bench_vmon VMON OPTION: the absolute path of VMON, an executable
# whose --help has OPTION; prints nothing and fails otherwise (with why).
lab_bench_vmon() {
	[[ -x $1 ]] || { lab_log "error: VMON_BINARY '$1' is not an executable"; return 1; }
	local vmon
	vmon=$(readlink -f "$1")
	# (Not `vmon --help | grep -q`: grep ends at the first match, and vmon,
	# still writing, dies of SIGPIPE, which pipefail turns into a failure.)
	lab_has_option "$vmon" "$2" || { lab_log "error: $vmon has no $2 option"; return 1; }
	echo "$vmon"
}

# lab_has_option VMON TEXT: VMON's --help mentions TEXT.
lab_has_option() {
	local help
	help=$("$1" --help 2>&1) || true
	grep -q -- "$2" <<<"$help"
}

# lab_bench_report REPORT LOG L1_STATUS PATTERN TITLE COMMAND...: writes
# REPORT (TITLE, the table COMMAND prints, then the caller's `conditions
# LOG`) and shows it; when L1 or COMMAND failed, also LOG's lines matching
# PATTERN (its errors) and its last lines, and fails.
lab_bench_report() {
	local report=$1 log=$2 l1_rc=$3 pattern=$4 title=$5 table_rc=0
	shift 5
	{
		echo "## $title"
		echo
		"$@" || table_rc=$?
		echo
		conditions "$log"
	} >"$report"
	cat "$report"
	if [[ $l1_rc != 0 || $table_rc != 0 ]]; then
		lab_log "results missing (L1 status $l1_rc); errors and the last lines of $log:"
		grep -E "$pattern" "$log" | head -n 40 >&2 || true
		tail -n 30 "$log" >&2
		return 1
	fi
	lab_log "report saved as $report"
}
lab_die() {
	lab_log "error: $*"
	exit 1
}

# lab_init BUILD_DIR: set the LAB_* paths and create BUILD_DIR/lab.
lab_init() {
	[[ -n ${1:-} ]] || lab_die "missing BUILD_DIR"
	mkdir -p "$1/lab"
	LAB_BUILD_DIR=$(cd "$1" && pwd)
	LAB_OUT=$LAB_BUILD_DIR/lab
	LAB_BZIMAGE=$LAB_OUT/bzImage
	LAB_VMLINUX=$LAB_OUT/vmlinux
	LAB_KVER_FILE=$LAB_OUT/kernel.version
	LAB_MODULES=$LAB_OUT/modules
	LAB_L2_MODULES=$LAB_OUT/l2-modules
	LAB_BIN=$LAB_OUT/bin
	LAB_L2_CPIO=$LAB_OUT/l2.cpio
	LAB_L2_TEST_CPIO=$LAB_OUT/l2-test.cpio
	# The L2 initramfs that lab_build_l1_initramfs puts in L1 as
	# /lab/l2.cpio.  run.sh sets LAB_L2_TEST_CPIO; the benchmark keeps the
	# smaller one, so that its boot times do not pay for the test's tools.
	LAB_L1_L2_CPIO=$LAB_L2_CPIO
}

# lab_lock NAME: take BUILD_DIR/lab/NAME.lock for the rest of this shell,
# waiting for another lab run in the same BUILD_DIR to finish first (they
# would share its files, and two TCG machines on a small host distort the
# timings).  Gives up after LAB_LOCK_WAIT seconds (default 1800).
lab_lock() {
	local file=$LAB_OUT/$1.lock fd
	exec {fd}>"$file"
	if ! flock -n "$fd"; then
		lab_log "waiting for $file: another lab run uses $LAB_OUT"
		flock -w "${LAB_LOCK_WAIT:-1800}" "$fd" || lab_die "$file is still held"
	fi
}

# lab_tmpdir VAR: make a temporary directory under BUILD_DIR/lab, store its
# path in VAR and remove it when the shell exits.
LAB_TMPDIRS=()
lab_cleanup() {
	if ((${#LAB_TMPDIRS[@]})); then
		rm -rf "${LAB_TMPDIRS[@]}"
	fi
}
lab_tmpdir() {
	local dir
	dir=$(mktemp -d "$LAB_OUT/tmp.XXXXXX")
	LAB_TMPDIRS+=("$dir")
	trap lab_cleanup EXIT
	# So that EXIT runs on these too (bash skips it on fatal signals).
	trap 'exit 130' INT
	trap 'exit 143' TERM HUP
	printf -v "$1" '%s' "$dir"
}

# lab_ensure_packages PKG...: install whichever PKG is missing, quietly.
lab_ensure_packages() {
	local pkg missing=()
	for pkg in "$@"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
			grep -q 'install ok installed' || missing+=("$pkg")
	done
	((${#missing[@]})) || return 0
	((EUID == 0)) || lab_die "missing packages (need root): ${missing[*]}"
	lab_log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# On a fresh machine the package lists may be empty or stale.
	if ! apt-get install -y -qq "${missing[@]}" >/dev/null; then
		apt-get update -qq
		apt-get install -y -qq "${missing[@]}" >/dev/null
	fi
}

# lab_build_static OUT SRC: gcc -static -O2, unless OUT is newer than SRC.
lab_build_static() {
	local out=$1 src=$2
	[[ $out -nt $src ]] && return 0
	mkdir -p "$(dirname "$out")"
	gcc -static -O2 -Wall -Wextra -o "$out.tmp" "$src"
	mv "$out.tmp" "$out"
}

# lab_cpio DIR OUT: pack DIR as an uncompressed newc initramfs (fastest to
# unpack under TCG), owned by root.
lab_cpio() {
	local dir=$1 out=$2
	(cd "$dir" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --quiet) >"$out.tmp"
	mv "$out.tmp" "$out"
}

# lab_add_base ROOT: busybox with its applets in ROOT/bin, standard
# directories and the /dev/console node the kernel opens for /init.
lab_add_base() {
	local root=$1 applet
	mkdir -p "$root"/{bin,dev,proc,sys,tmp}
	cp /bin/busybox "$root/bin/busybox"
	for applet in $(busybox --list); do
		[[ -e $root/bin/$applet ]] || ln -s busybox "$root/bin/$applet"
	done
	mknod -m 600 "$root/dev/console" c 5 1
	mknod -m 666 "$root/dev/null" c 1 3
}

# lab_add_dynamic ROOT BINARY DEST: copy BINARY to ROOT/DEST and the shared
# libraries and dynamic loader it needs to the paths ldd reports, so that
# the loader finds them in ROOT as it does on the host.
lab_add_dynamic() {
	local root=$1 bin=$2 dest=$3 libs lib
	install -D -m 755 "$bin" "$root$dest"
	if ! libs=$(ldd "$bin" 2>&1); then
		# Static binaries make ldd fail: "not a dynamic executable".
		grep -q 'not a dynamic executable' <<<"$libs" && return 0
		lab_die "ldd $bin: $libs"
	fi
	if grep -q 'not found' <<<"$libs"; then
		lab_die "$bin: missing libraries: $(grep 'not found' <<<"$libs")"
	fi
	# shellcheck disable=SC2013 # paths without spaces, one per word
	for lib in $(awk '$2 == "=>" && $3 ~ /^\// { print $3 }
			  $1 ~ /^\// { print $1 }' <<<"$libs"); do
		[[ -e $root$lib ]] || install -D -m 755 "$(readlink -f "$lib")" "$root$lib"
	done
}

# lab_add_qemu ROOT: qemu-system-x86_64 and what `-M microvm` needs: qboot
# (its default firmware, also named bios-microvm.bin) and the option ROMs
# for -kernel boot (linuxboot_dma.bin for bzImage, pvh.bin for PVH ELF).
lab_add_qemu() {
	local root=$1 rom
	lab_add_dynamic "$root" /usr/bin/qemu-system-x86_64 /usr/bin/qemu-system-x86_64
	mkdir -p "$root/usr/share/qemu"
	for rom in qboot.rom bios-microvm.bin linuxboot_dma.bin pvh.bin; do
		cp -L "/usr/share/qemu/$rom" "$root/usr/share/qemu/$rom"
	done
}

# lab_build_l1_initramfs OUT JOB_NAME JOB_SCRIPT VMON_BINARY [FILE...]
# Build L1's initramfs: busybox, the kvm and TAP/vhost-net modules, QEMU,
# iproute2's ip (as /usr/sbin/ip: busybox sh runs its own ip applet for a
# plain `ip`), the network helpers (l1-net.sh), the L2 kernel and
# initramfs ($LAB_L1_L2_CPIO as /lab/l2.cpio), vmon (skipped if
# VMON_BINARY is empty) and its libraries, and the job script as
# /lab/jobs/JOB_NAME.sh.  Each extra FILE goes to /lab/bin/ with the shared
# libraries it needs, if any (static helpers such as boottime, or e2fsck).
lab_build_l1_initramfs() {
	local out=$1 job=$2 job_script=$3 vmon=$4 root file
	shift 4
	lab_tmpdir root
	lab_add_base "$root"
	mkdir -p "$root"/{lab/bin,lab/jobs,lib64}
	install -m 755 "$LAB_SRC_DIR/l1-init.sh" "$root/init"
	install -m 644 "$LAB_SRC_DIR/guest-lib.sh" "$root/guest-lib.sh"
	install -m 644 "$LAB_SRC_DIR/l1-net.sh" "$root/lab/net.sh"
	install -m 644 "$job_script" "$root/lab/jobs/$job.sh"
	cp -r "$LAB_MODULES" "$root/lab/modules"
	cp "$LAB_BZIMAGE" "$LAB_VMLINUX" "$root/lab/"
	cp "$LAB_L1_L2_CPIO" "$root/lab/l2.cpio"
	lab_add_qemu "$root"
	lab_add_dynamic "$root" /usr/sbin/ip /usr/sbin/ip
	if [[ -n $vmon ]]; then
		lab_add_dynamic "$root" "$vmon" /lab/bin/vmon
	fi
	for file in "$@"; do
		lab_add_dynamic "$root" "$file" "/lab/bin/$(basename "$file")"
	done
	lab_cpio "$root" "$out"
	rm -rf "$root"
}

# lab_run_l1 CPIO TIMEOUT LOG CMDLINE_EXTRA
# Boot L1 with CPIO, bounded by TIMEOUT seconds; its console (carriage
# returns removed) goes to LOG, and also to stderr if LAB_VERBOSE=1.
# Returns QEMU's exit status (124 if the timeout hit).  -nodefaults: no NIC
# (whose iPXE ROM costs boot time) and no VGA; the serial port is the console.
lab_run_l1() {
	local cpio=$1 timeout=$2 log=$3 extra=$4 rc=0
	local append="console=ttyS0 quiet panic=-1 lab.l2_memory=$LAB_L2_MEMORY"
	append+=" lab.l2_timeout=$LAB_L2_TIMEOUT $extra"
	lab_log "booting L1 (timeout ${timeout}s, log $log): $append"
	timeout -k 10 "$timeout" qemu-system-x86_64 \
		-accel tcg,thread=multi -smp 1 -cpu "$LAB_L1_CPU" \
		-m "$LAB_L1_MEMORY" -nodefaults -no-user-config -display none \
		-serial stdio -no-reboot \
		-kernel "$LAB_BZIMAGE" -initrd "$cpio" -append "$append" \
		</dev/null 2>&1 |
		sed -u -e 's/\r//g' -e "/TCG doesn't support requested feature/d" |
		lab_tee "$log" ||
		rc=${PIPESTATUS[0]} # QEMU's own status, not the pipeline's
	return "$rc"
}

lab_tee() {
	if [[ ${LAB_VERBOSE:-0} == 1 ]]; then
		tee "$1" >&2
	else
		cat >"$1"
	fi
}

# lab_field LOG PREFIX KEY: value of KEY=... on the first line of LOG that
# starts with PREFIX (values end at a space).
lab_field() {
	local log=$1 prefix=$2 key=$3
	grep -m 1 -- "^$prefix" "$log" | grep -o -- "$key=[^ ]*" | head -n 1 |
		cut -d= -f2- || true
}

# lab_tail LOG [N]: the last N lines of LOG, as TAP comments.
lab_tail() {
	tail -n "${2:-40}" "$1" | sed 's/^/# /'
}
