#!/bin/bash
# Usage: bench/migrate.sh BUILD_DIR VMON_BINARY
#
# Snapshot and live-migration benchmark of vmon against QEMU, in ONE boot
# of the nested lab's L1 (see tests/lab/lib.sh and tests/lab/README.md).
# For each load (an idle guest, and one whose memcheck rewrites memory at
# a fixed rate) and each VMM, one guest of BENCH_MIG_MEMORY is booted,
# snapshotted to files (and resumed), and migrated live to a second VMM
# process over 127.0.0.1; then the snapshot is restored in a third, which
# is migrated live to a fourth (bench/l1-job-migrate.sh has the steps and
# both VMMs' commands).  Measured:
#   - snapshot: the time from the pause request to the VMM's answer that
#     the files are complete, and their size (apparent and allocated);
#   - restore-to-running: from starting the VMM process to the guest's
#     first reply to L1's pings (every 10 ms; the guest's kernel answers);
#   - live migration, of the VM that booted and of the restored one: total
#     time and rounds (as each VMM reports them), the downtime each VMM
#     reports, and the guest-visible pause: the longest time without a
#     reply to L1's pings (every 10 ms, on 4 flows in turn), and the
#     longest silence of one flow.
# The targets: restore faster than QEMU's incoming migration (from a
# file), and downtime below the budget (BENCH_MIG_DOWNTIME, 300 ms).
#
# Files: bench/l1-job-migrate.sh (L1 job), bench/l2-migrate-init.sh (the
# guest's /init.sh), bench/migrate-report.py (the table), and the lab's
# helpers tests/lab/memcheck.c, pinggap.c and qmp.c.  Builds
# BUILD_DIR/lab/l2-migrate.cpio (busybox, tests/lab/marker-init, the
# virtio modules, memcheck).  Prints a Markdown report, also saved as
# BUILD_DIR/lab/migrate-bench.md; the L1 console is kept in
# BUILD_DIR/lab/migrate-bench.log.  Exits 1 if any result is missing.
#
# Environment:
#   BENCH_MIG_TARGETS=vmon,qemu   (qemu alone needs no VMON_BINARY)
#   BENCH_MIG_LOADS=idle,write
#   BENCH_MIG_CPUS=1              the guest's vCPUs
#   BENCH_MIG_MEMORY=512M         the guest's RAM
#   BENCH_MIG_MEMCHECK=128,64,16  the write load: memcheck checks 128 MiB,
#                                 rewriting the first 64 MiB in turn at
#                                 16 MiB/s (MIB,MIB,MIB_PER_S)
#   BENCH_MIG_DOWNTIME=300        the downtime budget given to both, ms
set -euo pipefail

# shellcheck source=tests/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tests/lab/lib.sh"

BENCH_MIG_TARGETS=${BENCH_MIG_TARGETS:-vmon,qemu}
BENCH_MIG_LOADS=${BENCH_MIG_LOADS:-idle,write}
BENCH_MIG_CPUS=${BENCH_MIG_CPUS:-1}
BENCH_MIG_MEMORY=${BENCH_MIG_MEMORY:-512M}
BENCH_MIG_MEMCHECK=${BENCH_MIG_MEMCHECK:-128,64,16}
BENCH_MIG_DOWNTIME=${BENCH_MIG_DOWNTIME:-300}

# build_l2_migrate_initramfs OUT
build_l2_migrate_initramfs() {
	local out=$1 root
	lab_tmpdir root
	lab_add_base "$root"
	install -m 755 "$LAB_BIN/marker-init" "$root/init"
	install -m 755 "$LAB_REPO_DIR/bench/l2-migrate-init.sh" "$root/init.sh"
	install -m 644 "$LAB_SRC_DIR/guest-lib.sh" "$root/guest-lib.sh"
	install -m 755 "$LAB_BIN/memcheck" "$root/bin/memcheck"
	cp -r "$LAB_L2_MODULES" "$root/modules"
	lab_cpio "$root" "$out"
	rm -rf "$root"
}

# conditions LOG: what the figures were measured on.
conditions() {
	local log=$1 mc
	IFS=, read -ra mc <<<"$BENCH_MIG_MEMCHECK"
	field() { lab_field "$log" "$1" "$2"; }
	cat <<EOF
Conditions:
- date: $(date -u '+%Y-%m-%d %H:%M UTC'); host: $(uname -r), $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)), load average at start: $LOAD_AT_START
- L1: $(qemu-system-x86_64 --version | head -n 1 | sed 's/ (Debian.*)//'), \`-accel tcg,thread=multi -smp 1 -cpu $LAB_L1_CPU -m $LAB_L1_MEMORY\`, kernel $(field "LAB-L1 kernel=" kernel), kvm_amd nested=$(field "LAB-L1 kvm_amd_nested=" kvm_amd_nested) npt=$(field "LAB-L1 kvm_amd_npt=" kvm_amd_npt); files in L1's tmpfs; the migrations over L1's loopback; one vCPU for both VMMs, vhost-net and the pings
- L2 guest: Debian $(cat "$LAB_KVER_FILE") bzImage, $BENCH_MIG_CPUS vCPU(s), $BENCH_MIG_MEMORY RAM, initramfs $LAB_OUT/l2-migrate.cpio (busybox, memcheck, virtio modules), one virtio-net NIC on virtio-mmio with vhost-net, on a TAP on the bridge br0 (L1's 10.0.2.1/24): all four vmons on tap0, made \`multi_queue\` (vmon reopens the TAP by name, and a destination can attach to it while its source holds it only so); QEMU's sources on tap0 and its destinations on tap1, single-queue (QEMU's usual set-up: on a shared multi_queue TAP the queues of the waiting destination and of the stopped source drop the packets that hash to them); idle: nothing runs after the NIC is up; write: \`memcheck -m ${mc[0]} -w ${mc[1]} -r ${mc[2]}\` (${mc[2]} MiB/s of page rewrites cycling over ${mc[1]} MiB, and all ${mc[0]} MiB verified in a loop)
- vmon: $(sed -n 's/^LAB-MIGB-VERSION vmm=vmon //p' "$log" | head -n 1 | grep . || echo "(not run)"); \`vmon --api-sock A --config-file C\` (the NIC with vhost=auto: vhost-net, vmon's own data path during a migration); snapshot \`PATCH /vm {"state": "Paused"}\` + \`PUT /snapshot/create\` (then \`PATCH /vm {"state": "Resumed"}\`); restore \`vmon restore STATE MEM --api-sock B\`; migration \`vmon migrate-receive --listen 127.0.0.1:4710 --allow-tap tap0\` and \`vmon ctl --api-sock SOURCE migrate --to 127.0.0.1:4710 --max-downtime-ms $BENCH_MIG_DOWNTIME\`
- QEMU: $(sed -n 's/^LAB-MIGB-VERSION vmm=qemu //p' "$log" | head -n 1 | sed 's/ (Debian.*)//') \`-M microvm,rtc=on -enable-kvm -cpu host -smp $BENCH_MIG_CPUS -m $BENCH_MIG_MEMORY -nodefaults -no-user-config -display none -serial stdio -no-reboot -kernel K -initrd I -append "C reboot=acpi" -netdev tap,id=n0,ifname=TAP,script=no,downscript=no,vhost=on -device virtio-net-device,netdev=n0,mac=M -qmp tcp:...\`; snapshot: QMP \`stop\`, then \`migrate\` to \`exec:cat > FILE\` until \`query-migrate\` (every 10 ms) says completed (then \`cont\`); restore: \`-incoming "exec:cat FILE"\`, then \`cont\` once \`query-status\` (every 10 ms) says paused; migration: \`-incoming tcp:127.0.0.1:4710\`, \`migrate-set-parameters {"downtime-limit": $BENCH_MIG_DOWNTIME}\`, \`migrate\`, \`query-migrate\` every 50 ms; \`max-bandwidth\` 100 GiB/s for both migrations (QEMU's default is 32 MiB/s)
- the same kernel command line for both (with the load's name): \`$(sed -n 's/^LAB-MIGB-APPEND target=[^ ]* load=[^ ]* //p' "$log" | head -n 1)\`
- pings: tests/lab/pinggap.c in L1, an ICMP echo request to the guest every 10 ms, on 4 flows in turn (ICMP identifiers, which a multi_queue TAP steers to its queues one by one); restore-to-running is from pinggap's fork of the VMM to the first reply; while a migration runs (the pings start 1 s before it), the guest-visible pause is the longest time without a reply, and the longest silence of one flow is also given: a shared TAP can hold a flow's packets in a queue nobody reads yet
- times are from inside L1, whose clock is QEMU/TCG's, and L2 runs on KVM emulated by TCG: compare the columns with each other, not with bare-metal figures.
EOF
}

main() {
	[[ $# == 1 || $# == 2 ]] || lab_die "usage: $0 BUILD_DIR VMON_BINARY"
	local vmon=${2:-} t
	for t in ${BENCH_MIG_TARGETS//,/ }; do
		[[ $t == vmon || $t == qemu ]] || lab_die "bad target '$t' (vmon, qemu)"
	done
	for t in ${BENCH_MIG_LOADS//,/ }; do
		[[ $t == idle || $t == write ]] || lab_die "bad load '$t' (idle, write)"
	done
	[[ $BENCH_MIG_MEMCHECK =~ ^[0-9]+,[0-9]+,[0-9]+$ ]] || lab_die "BENCH_MIG_MEMCHECK must be MIB,MIB,MIB_PER_S"
	[[ $BENCH_MIG_MEMORY =~ ^[0-9]+M$ ]] || lab_die "BENCH_MIG_MEMORY must be in MiB, e.g. 512M"
	if [[ ,$BENCH_MIG_TARGETS, == *,vmon,* ]]; then
		vmon=$(lab_bench_vmon "$vmon" migrate-receive) || exit 1
	else
		vmon=
	fi
	LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)

	"$LAB_SRC_DIR/prepare.sh" "$1"
	lab_init "$1"
	lab_ensure_packages python3
	lab_lock l1
	local tmp log=$LAB_OUT/migrate-bench.log report=$LAB_OUT/migrate-bench.md
	lab_tmpdir tmp
	build_l2_migrate_initramfs "$LAB_OUT/l2-migrate.cpio"
	LAB_L1_L2_CPIO=$LAB_OUT/l2-migrate.cpio
	lab_build_l1_initramfs "$tmp/l1.cpio" migrate "$LAB_REPO_DIR/bench/l1-job-migrate.sh" "$vmon" \
		/usr/bin/curl "$LAB_BIN/pinggap" "$LAB_BIN/qmp"

	# Each chain: a boot (~5-10 s), a snapshot, two migrations and a
	# restore of a few seconds each; the bound is for a hang.
	local nchains l1_timeout l1_rc=0
	nchains=$(($(tr ',' '\n' <<<"$BENCH_MIG_TARGETS" | grep -c .) * $(tr ',' '\n' <<<"$BENCH_MIG_LOADS" | grep -c .)))
	LAB_L2_MEMORY=$BENCH_MIG_MEMORY
	LAB_L2_TIMEOUT=120
	l1_timeout=$((180 + nchains * 3 * LAB_L2_TIMEOUT))
	lab_run_l1 "$tmp/l1.cpio" "$l1_timeout" "$log" \
		"lab.job=migrate lab.mig_targets=$BENCH_MIG_TARGETS lab.mig_loads=$BENCH_MIG_LOADS lab.mig_cpus=$BENCH_MIG_CPUS lab.mig_memcheck=$BENCH_MIG_MEMCHECK lab.mig_downtime=$BENCH_MIG_DOWNTIME" ||
		l1_rc=$?

	lab_bench_report "$report" "$log" "$l1_rc" \
		'LAB-ERROR|MIG-ERROR|"error"|error:|vmon: (error|warning)|qemu-system' \
		"Snapshots and live migration: vmon vs QEMU (nested lab)" \
		python3 "$LAB_REPO_DIR/bench/migrate-report.py" "$log" "$BENCH_MIG_TARGETS" "$BENCH_MIG_LOADS" "$BENCH_MIG_DOWNTIME"
}

main "$@"
