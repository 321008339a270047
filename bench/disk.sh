#!/bin/bash
# Usage: bench/disk.sh BUILD_DIR VMON_BINARY
#
# Disk (virtio-blk) benchmark of vmon against QEMU, in ONE boot of the
# nested lab's L1 (see tests/lab/lib.sh and tests/lab/README.md): Debian's
# fio runs in the L2 guest on /dev/vda with O_DIRECT, once with vmon as the
# L2 VMM (`--disk path=IMG`, virtio-blk on PCI, io_uring backend) and once
# with QEMU (`-M microvm,pcie=on`, virtio-blk-pci, aio=io_uring), then in L1
# itself on the image file (the ceiling).  Same guest kernel, initramfs,
# 1 vCPU and RAM for both VMMs; the image is a zero-filled file in L1's
# tmpfs, recreated before each target.
#
# Files: bench/l1-job-disk.sh (L1 job), bench/l2-disk-init.sh (the guest's
# /init.sh), bench/disk-report.py (the table).  Builds
# BUILD_DIR/lab/l2-fio.cpio (busybox, tests/lab/marker-init, the virtio
# modules of BUILD_DIR/lab/l2-modules, fio and its libraries, the job file).
# Prints a Markdown report, also saved as BUILD_DIR/lab/disk-bench.md; the
# L1 console is kept in BUILD_DIR/lab/disk-bench.log.  Exits 1 if any
# result is missing.
#
# Environment:
#   BENCH_DISK_TARGETS=vmon,qemu,host  (qemu/host alone need no VMON_BINARY)
#   BENCH_DISK_JOBS=randread-4k-qd1,randread-4k-qd32,randwrite-4k-qd1,randwrite-4k-qd32,read-1m-qd8,write-1m-qd8
#                          fio jobs, each RW-BS-qdDEPTH, RW one of
#                          randread randwrite read write
#   BENCH_DISK_RUNS=1      rounds (interleaved); the tables show medians
#   BENCH_DISK_RUNTIME=5   seconds measured per job (time_based), after
#   BENCH_DISK_RAMP=1      seconds of ramp-up (not measured)
#   BENCH_DISK_MB=64       image size = the region fio works on
#   BENCH_DISK_ENGINE=io_uring  fio's ioengine (or libaio)
#   LAB_L2_MEMORY=512M     L2 guest RAM (tests/lab/lib.sh)
set -euo pipefail

# shellcheck source=tests/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tests/lab/lib.sh"
# shellcheck source=bench/guests.sh
source "$(dirname "${BASH_SOURCE[0]}")/guests.sh"

BENCH_DISK_TARGETS=${BENCH_DISK_TARGETS:-vmon,qemu,host}
BENCH_DISK_JOBS=${BENCH_DISK_JOBS:-randread-4k-qd1,randread-4k-qd32,randwrite-4k-qd1,randwrite-4k-qd32,read-1m-qd8,write-1m-qd8}
BENCH_DISK_RUNS=${BENCH_DISK_RUNS:-1}
BENCH_DISK_RUNTIME=${BENCH_DISK_RUNTIME:-5}
BENCH_DISK_RAMP=${BENCH_DISK_RAMP:-1}
BENCH_DISK_MB=${BENCH_DISK_MB:-64}
BENCH_DISK_ENGINE=${BENCH_DISK_ENGINE:-io_uring}



# build_l1_initramfs OUT VMON JOBFILE: tests/lab's L1 initramfs with job
# "disk", followed by a second cpio archive (the kernel unpacks
# concatenated archives in turn) with fio and the libraries the first one
# lacks, the L2 initramfs and the job file under /lab/disk/.
build_l1_initramfs() {
	local out=$1 vmon=$2 jobfile=$3 root path
	lab_build_l1_initramfs "$out.base" disk "$LAB_REPO_DIR/bench/l1-job-disk.sh" "$vmon"
	lab_tmpdir root
	mkdir -p "$root/lab/disk"
	cp "$LAB_OUT/l2-fio.cpio" "$root/lab/disk/l2.cpio"
	install -m 644 "$jobfile" "$root/lab/disk/disk.fio"
	lab_add_dynamic "$root" /usr/bin/fio /usr/bin/fio
	while read -r path; do
		[[ -f $root/$path && ! -L $root/$path ]] && rm -f "$root/$path"
	done < <(cpio -it --quiet <"$out.base")
	lab_cpio "$root" "$out.extra"
	cat "$out.base" "$out.extra" >"$out"
	rm -rf "$root" "$out.base" "$out.extra"
}

# conditions LOG: what the figures were measured on.
conditions() {
	local log=$1 t
	field() { lab_field "$log" "$1" "$2"; }
	cat <<EOF
Conditions:
- date: $(date -u '+%Y-%m-%d %H:%M UTC'); host: $(uname -r), $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)), load average at start: $LOAD_AT_START
- L1: $(qemu-system-x86_64 --version | head -n 1 | sed 's/ (Debian.*)//'), \`-accel tcg,thread=multi -smp 1 -cpu $LAB_L1_CPU -m $LAB_L1_MEMORY\`, kernel $(field "LAB-L1 kernel=" kernel), kvm_amd nested=$(field "LAB-L1 kvm_amd_nested=" kvm_amd_nested) npt=$(field "LAB-L1 kvm_amd_npt=" kvm_amd_npt)
- L2 guest: Debian $(cat "$LAB_KVER_FILE") bzImage, 1 vCPU, $LAB_L2_MEMORY RAM, initramfs $LAB_OUT/l2-fio.cpio ($(($(stat -c %s "$LAB_OUT/l2-fio.cpio") / 1048576)) MiB: busybox, fio and its libraries, virtio modules), cmdline \`$(sed -n 's/^LAB-DISK-APPEND //p' "$log" | head -n 1)\`
- image: $BENCH_DISK_MB MiB raw file in L1's tmpfs (/tmp), zero-filled with dd before each target (all blocks allocated), the same path for all
- vmon: $(sed -n 's/^LAB-DISK-VERSION target=vmon //p' "$log" | head -n 1) \`run --kernel K --initrd I --cpus 1 --memory $LAB_L2_MEMORY --cmdline C --disk path=IMG --stats\` (virtio-blk on PCI, 1 queue, io_uring, buffered: tmpfs has no O_DIRECT on 6.1, so no direct=on)
- QEMU: $(sed -n 's/^LAB-DISK-VERSION target=qemu //p' "$log" | head -n 1 | sed 's/ (Debian.*)//') \`-M microvm,rtc=on,pcie=on -enable-kvm -cpu host -smp 1 -m $LAB_L2_MEMORY -nodefaults -no-user-config -display none -serial stdio -no-reboot -kernel K -initrd I -append "C reboot=acpi" -drive id=d0,file=IMG,format=raw,if=none,aio=io_uring,cache=writeback -device virtio-blk-pci,drive=d0,disable-legacy=on\` (no iothread: the main loop serves the disk)
- fio: $(sed -n 's/^LAB-DISK-VERSION target=host //p' "$log" | head -n 1) (Debian), $BENCH_DISK_RUNS round(s) per target, interleaved, jobs in sequence (stonewall): ioengine=$BENCH_DISK_ENGINE, ${BENCH_DISK_RUNTIME} s measured after ${BENCH_DISK_RAMP} s ramp-up (time_based), region ${BENCH_DISK_MB} MiB, norandommap, randrepeat=0, numjobs=1. In L2: filename=/dev/vda direct=1; L1 host: filename=IMG direct=0 (buffered; tmpfs has no O_DIRECT)
- latency: fio's percentiles (lat_percentiles=1) of lat = slat + clat, from submission to completion, as fio measures them in the guest (L2 clock, kvm-clock) or in L1.  Under nested virtualization a notify exit makes the submitting io_uring_enter() slow, so much of the time is in slat, not clat; MiB/s = 2^20 bytes/s; ratios > 1 mean vmon has more IOPS / a longer p99
- guest's view of /dev/vda:
EOF
	for t in vmon qemu; do
		grep -m 1 "^L2:$t\.1| DISK-INFO " "$log" | sed "s/^L2:$t\.1| DISK-INFO /  - $t: /" || true
	done
	echo "- wall time per round in L1 (boot, fio, power-off), exit status:"
	for t in ${BENCH_DISK_TARGETS//,/ }; do
		awk -v t="$t" '$1 == "LAB-DISK-BEGIN" && $2 == "target=" t { sub("uptime=", "", $4); b = $4 }
			$1 == "LAB-DISK-END" && $2 == "target=" t { sub("uptime=", "", $5)
				s = s sprintf("%s%.0f s (%s)", s == "" ? "" : ", ", $5 - b, substr($4, 4)) }
			END { printf "  - %s: %s\n", t, s == "" ? "none" : s }' "$log"
	done
	if grep -q '^L2:vmon\.1| vmon-stats: ' "$log"; then
		echo "- vmon --stats, round 1: \`$(sed -n 's/^L2:vmon\.1| vmon-stats: //p' "$log" | tr '\n' ' ' | cut -c1-600)\`"
	fi
	echo "- times are from inside L1, whose clock is QEMU/TCG's, and L2 runs on KVM emulated by TCG: compare the columns with each other, not with bare-metal figures."
}

main() {
	[[ $# == 1 || $# == 2 ]] || lab_die "usage: $0 BUILD_DIR VMON_BINARY"
	local vmon=${2:-}
	if [[ ,$BENCH_DISK_TARGETS, == *,vmon,* ]]; then
		vmon=$(lab_bench_vmon "$vmon" --disk) || exit 1
	else
		vmon=
	fi
	LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)

	"$LAB_SRC_DIR/prepare.sh" "$1"
	lab_init "$1"
	lab_ensure_packages fio python3
	lab_lock l1
	local tmp log=$LAB_OUT/disk-bench.log report=$LAB_OUT/disk-bench.md
	lab_tmpdir tmp
	bench_fio_job_file "$BENCH_DISK_ENGINE" "$BENCH_DISK_MB" "$BENCH_DISK_RUNTIME" "$BENCH_DISK_RAMP" \
		"$BENCH_DISK_JOBS" >"$tmp/disk.fio"
	bench_build_l2_fio_initramfs "$LAB_OUT/l2-fio.cpio" "$tmp/disk.fio"
	build_l1_initramfs "$tmp/l1.cpio" "$vmon" "$tmp/disk.fio"

	# Bounds: fio runs each job for ramp + runtime, plus its start-up;
	# a guest adds its boot (~10-30 s under TCG) and power-off.
	local njobs ntargets fio_timeout l1_timeout l1_rc=0
	njobs=$(tr ',' '\n' <<<"$BENCH_DISK_JOBS" | grep -c .)
	ntargets=$(tr ',' '\n' <<<"$BENCH_DISK_TARGETS" | grep -c .)
	fio_timeout=$((30 + njobs * (BENCH_DISK_RAMP + BENCH_DISK_RUNTIME + 10)))
	LAB_L2_TIMEOUT=$((fio_timeout + 120))
	l1_timeout=$((180 + BENCH_DISK_RUNS * ntargets * LAB_L2_TIMEOUT))
	lab_run_l1 "$tmp/l1.cpio" "$l1_timeout" "$log" \
		"lab.job=disk lab.disk_runs=$BENCH_DISK_RUNS lab.disk_targets=$BENCH_DISK_TARGETS lab.disk_mb=$BENCH_DISK_MB lab.disk_fio_timeout=$fio_timeout" ||
		l1_rc=$?

	lab_bench_report "$report" "$log" "$l1_rc" \
		'DISK-(ERROR|STDERR|RC)|LAB-ERROR|LAB-DISK-END|vmon:|qemu-system' \
		"Disk: fio in the L2 guest, vmon vs QEMU (nested lab)" \
		python3 "$LAB_REPO_DIR/bench/disk-report.py" "$log" "$BENCH_DISK_JOBS" "$BENCH_DISK_TARGETS"
}

main "$@"
