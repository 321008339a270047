#!/bin/bash
# Usage: bench/iommu.sh BUILD_DIR VMON_BINARY
#
# IOMMU benchmark: what an emulated Intel VT-d IOMMU costs the guest's
# disk and network, in vmon and in QEMU, in ONE boot of the nested lab's L1
# (see tests/lab/lib.sh and tests/lab/README.md).  Six targets, each an L2
# guest with 1 vCPU whose virtio devices are on PCI:
#   vmon          vmon as bench/disk.sh and bench/net.sh run it (the net
#                 part on vmon's own data path, vhost=off: vhost-net cannot
#                 be combined with --iommu), no IOMMU
#   vmon-strict   vmon ... --iommu intel, guest command line
#                 `intel_iommu=on iommu.strict=1`: every unmap invalidates
#                 the IOTLB at once (a queued-invalidation round trip)
#   vmon-lazy     the same with `iommu.strict=0`: unmaps are batched and
#                 flushed later (the kernel's flush queue, domain "DMA-FQ")
#   qemu-q35      QEMU `-M q35,kernel-irqchip=split` (microvm cannot have an
#                 IOMMU; q35 boots -kernel through SeaBIOS and
#                 linuxboot_dma.bin), virtio-*-pci with
#                 disable-legacy=on,iommu_platform=on,ats=off, no IOMMU
#   qemu-strict   the same plus `-device intel-iommu,intremap=off,
#   qemu-lazy     caching-mode=off`, with the command lines above
# Both IOMMUs do DMA remapping only (no interrupt remapping, no caching
# mode).  (vmon takes the split irqchip whenever it has --iommu, so its
# "vmon" baseline has the in-kernel IOAPIC and its IOMMU targets do not;
# QEMU's three targets all run kernel-irqchip=split.  Virtio's interrupts
# are MSI-X, which go through KVM's routes either way.)  The disk part is bench/disk.sh's fio in the guest on /dev/vda
# (a tmpfs image in L1, O_DIRECT in the guest); the net part is
# bench/net.sh's iperf3 both ways and tcp_rr over a TAP in L1.  The report
# gives each target's figures and the overhead of each IOMMU mode, as
# (figure with the IOMMU) / (figure of the same VMM without it), for vmon
# and QEMU side by side, and whether vmon's overhead is no larger than
# QEMU's, row by row.
#
# Files: bench/l1-job-iommu.sh (the L1 job, which runs bench/l1-job-disk.sh
# and then bench/l1-job-net.sh), bench/iommu-report.py (the tables), and
# the guests of bench/disk.sh and bench/net.sh (l2-disk-init.sh,
# l2-net-init.sh).  Builds BUILD_DIR/lab/l2-iommu-fio.cpio and
# l2-iommu-net.cpio: those guests' initramfs, whose power-off first
# prints an IOMMU-INFO line (what the guest's kernel made of the IOMMU:
# the DMAR unit, the invalidation policy, the IOMMU groups' domain types,
# VIRTIO_F_ACCESS_PLATFORM of each virtio device, DMAR faults).  Prints a
# Markdown report, also saved as BUILD_DIR/lab/iommu-bench.md; the L1
# console is kept in BUILD_DIR/lab/iommu-bench.log.  Exits 1 if any result
# is missing or a guest's IOMMU-INFO is not what its target should give
# (e.g. no DMAR unit behind vmon --iommu).  About 7.5 minutes with the
# defaults (one round of the six targets) on a 2-core host.
#
# Environment:
#   BENCH_IOMMU_TARGETS=vmon,vmon-strict,vmon-lazy,qemu-q35,qemu-strict,qemu-lazy
#                          (qemu-* alone need no VMON_BINARY)
#   BENCH_IOMMU_PARTS=disk,net   which parts to run
#   BENCH_IOMMU_RUNS=1     rounds (interleaved within each part); medians
#   BENCH_IOMMU_JOBS=randread-4k-qd1,randread-4k-qd32,write-1m-qd8
#                          fio jobs, each RW-BS-qdDEPTH (as bench/disk.sh)
#   BENCH_IOMMU_RUNTIME=5  seconds measured per fio job, after
#   BENCH_IOMMU_RAMP=1     seconds of ramp-up
#   BENCH_IOMMU_MB=64      disk image size
#   BENCH_IOMMU_ENGINE=io_uring  fio's ioengine
#   BENCH_IOMMU_SECONDS=10 seconds of each network measurement
#   LAB_L2_MEMORY=512M     L2 guest RAM (tests/lab/lib.sh)
set -euo pipefail

# shellcheck source=tests/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tests/lab/lib.sh"
# shellcheck source=bench/guests.sh
source "$(dirname "${BASH_SOURCE[0]}")/guests.sh"

IOMMU_ALL_TARGETS=vmon,vmon-strict,vmon-lazy,qemu-q35,qemu-strict,qemu-lazy
BENCH_IOMMU_TARGETS=${BENCH_IOMMU_TARGETS:-$IOMMU_ALL_TARGETS}
BENCH_IOMMU_PARTS=${BENCH_IOMMU_PARTS:-disk,net}
BENCH_IOMMU_RUNS=${BENCH_IOMMU_RUNS:-1}
BENCH_IOMMU_JOBS=${BENCH_IOMMU_JOBS:-randread-4k-qd1,randread-4k-qd32,write-1m-qd8}
BENCH_IOMMU_RUNTIME=${BENCH_IOMMU_RUNTIME:-5}
BENCH_IOMMU_RAMP=${BENCH_IOMMU_RAMP:-1}
BENCH_IOMMU_MB=${BENCH_IOMMU_MB:-64}
BENCH_IOMMU_ENGINE=${BENCH_IOMMU_ENGINE:-io_uring}
BENCH_IOMMU_SECONDS=${BENCH_IOMMU_SECONDS:-10}

# The firmware QEMU's q35 needs in L1 besides what tests/lab/lib.sh's
# lab_add_qemu copies (linuxboot_dma.bin): SeaBIOS (Debian's seabios
# package; QEMU looks for it in /usr/share/seabios) and the kvmvapic ROM.
IOMMU_Q35_FILES=(/usr/share/seabios/bios-256k.bin /usr/share/qemu/kvmvapic.bin)


# add_iommu_info ROOT: make the guest print one IOMMU-INFO line when it
# powers off.  Its /init.sh (bench/l2-disk-init.sh or l2-net-init.sh)
# becomes /bench-init.sh; the new /init.sh defines a shell function
# poweroff, which prints the line and then powers off, and sources it (a
# function, because busybox's shell runs its own applets before any
# /bin/poweroff).  Both guests end with `poweroff -f` once they have
# measured, so this costs them nothing while they measure.
#   vtd=N          times the kernel said "DMAR: Intel(R) Virtualization
#                  Technology for Directed I/O" (1: the unit is in use)
#   policy=P       "DMA domain TLB invalidation policy: P mode" (the kernel
#                  prints it with or without an IOMMU)
#   domains=T:N,.. the IOMMU groups' default domain types: DMA (strict),
#                  DMA-FQ (lazy: the flush queue), identity; none: no group
#   access_platform=B,..  VIRTIO_F_ACCESS_PLATFORM (feature bit 33) as each
#                  virtio device's driver negotiated it (1: its DMA goes
#                  through the DMA API, so through the IOMMU)
#   dmar_faults=N  DMAR fault lines in the kernel log
add_iommu_info() {
	local root=$1
	mv "$root/init.sh" "$root/bench-init.sh"
	cat >"$root/init.sh" <<'EOF'
#!/bin/sh
# bench/iommu.sh's /init.sh: bench/l2-*-init.sh (/bench-init.sh), whose
# `poweroff -f` first prints IOMMU-INFO.
poweroff() {
	_ap=
	for _d in /sys/bus/virtio/devices/*; do
		[ -r "$_d/features" ] && _ap="$_ap${_ap:+,}$(cut -c34 "$_d/features")"
	done
	_dom=$(cat /sys/kernel/iommu_groups/*/type 2>/dev/null | sort | uniq -c |
		awk '{ printf "%s%s:%s", (NR > 1 ? "," : ""), $2, $1 }')
	echo "IOMMU-INFO vtd=$(dmesg | grep -c 'DMAR: Intel(R) Virtualization Technology for Directed I/O') policy=$(dmesg | sed -n 's/.*TLB invalidation policy: \([a-z]*\) mode.*/\1/p' | head -n 1) domains=${_dom:-none} access_platform=${_ap:-none} dmar_faults=$(dmesg | grep -c 'DMAR: \[DMA')"
	/bin/busybox poweroff "$@"
}
. /bench-init.sh
EOF
	chmod 755 "$root/init.sh"
}



# build_l1_initramfs OUT VMON JOBFILE: tests/lab's L1 initramfs with job
# "iommu" (its /lab/l2.cpio is the net guest; iperf3 and tcp_rr in /lab/bin
# for L1's servers), followed by a second cpio archive (the kernel unpacks
# concatenated archives in turn) with the disk and net jobs, the disk
# guest and its job file under /lab/disk/, and q35's firmware.
build_l1_initramfs() {
	local out=$1 vmon=$2 jobfile=$3 root file
	LAB_L1_L2_CPIO=$LAB_OUT/l2-iommu-net.cpio
	lab_build_l1_initramfs "$out.base" iommu "$LAB_REPO_DIR/bench/l1-job-iommu.sh" "$vmon" \
		/usr/bin/iperf3 "$LAB_BIN/tcp_rr"
	lab_tmpdir root
	mkdir -p "$root/lab/disk" "$root/lab/jobs"
	install -m 644 "$LAB_REPO_DIR/bench/l1-job-disk.sh" "$root/lab/jobs/disk.sh"
	install -m 644 "$LAB_REPO_DIR/bench/l1-job-net.sh" "$root/lab/jobs/net.sh"
	cp "$LAB_OUT/l2-iommu-fio.cpio" "$root/lab/disk/l2.cpio"
	install -m 644 "$jobfile" "$root/lab/disk/disk.fio"
	for file in "${IOMMU_Q35_FILES[@]}"; do
		install -D -m 644 "$(readlink -f "$file")" "$root$file"
	done
	lab_cpio "$root" "$out.extra"
	cat "$out.base" "$out.extra" >"$out"
	rm -rf "$root" "$out.base" "$out.extra"
}

# conditions LOG: what the figures were measured on.
conditions() {
	local log=$1 t
	field() { lab_field "$log" "$1" "$2"; }
	version() { sed -n "s/^LAB-$1-VERSION target=$2 //p" "$log" | head -n 1 | sed 's/ (Debian.*)//'; }
	cat <<EOF
Conditions:
- date: $(date -u '+%Y-%m-%d %H:%M UTC'); host: $(uname -r), $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)), load average at start: $LOAD_AT_START; the host's 1-minute load average while L1 ran (every 10 s; L1 itself adds about 1): $(load_range "$LOAD_SAMPLES")
- L1: $(qemu-system-x86_64 --version | head -n 1 | sed 's/ (Debian.*)//'), \`-accel tcg,thread=multi -smp 1 -cpu $LAB_L1_CPU -m $LAB_L1_MEMORY\`, kernel $(field "LAB-L1 kernel=" kernel), kvm_amd nested=$(field "LAB-L1 kvm_amd_nested=" kvm_amd_nested) npt=$(field "LAB-L1 kvm_amd_npt=" kvm_amd_npt); one vCPU for the VMM, its I/O and L1's servers alike; q35 firmware in L1: $(sed -n 's/^LAB-IOMMU-FIRMWARE //p' "$log" | head -n 1) (SeaBIOS $(dpkg-query -W -f='${Version}' seabios 2>/dev/null))
- L2 guest: Debian $(cat "$LAB_KVER_FILE") bzImage, 1 vCPU, $LAB_L2_MEMORY RAM; disk part: $LAB_OUT/l2-iommu-fio.cpio, cmdline \`$(sed -n 's/^LAB-DISK-APPEND //p' "$log" | head -n 1)\`; net part: $LAB_OUT/l2-iommu-net.cpio, cmdline \`$(sed -n 's/^LAB-NET-APPEND //p' "$log" | head -n 1)\`; the -strict targets add \`intel_iommu=on iommu.strict=1\`, the -lazy ones \`intel_iommu=on iommu.strict=0\`, QEMU adds \`reboot=acpi\`
- vmon: $(version DISK vmon | grep . || version NET vmon | grep . || echo "(not run)") \`run --kernel K --initrd I --cpus 1 --memory $LAB_L2_MEMORY --cmdline C --stats\` with \`--disk path=IMG\` (virtio-blk on PCI, io_uring) or \`--net tap=tap0,mac=52:54:00:4c:00:01,vhost=off\` (virtio-net on PCI, vmon's own data path), and \`--iommu intel\` (DMA remapping; intremap and caching_mode off) for vmon-strict and vmon-lazy
- QEMU: $(version DISK qemu | grep . || version NET qemu) \`-M q35,kernel-irqchip=split -enable-kvm -cpu host -smp 1 -m $LAB_L2_MEMORY -nodefaults -no-user-config -display none -serial stdio -no-reboot -kernel K -initrd I -append "C reboot=acpi"\` with \`-drive id=d0,file=IMG,format=raw,if=none,aio=io_uring,cache=writeback -device virtio-blk-pci,drive=d0,disable-legacy=on,iommu_platform=on,ats=off\` (no iothread) or \`-netdev tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=off -device virtio-net-pci,netdev=n0,mac=52:54:00:4c:00:01,disable-legacy=on,romfile=,iommu_platform=on,ats=off\`, and \`-device intel-iommu,intremap=off,caching-mode=off\` (before the devices) for qemu-strict and qemu-lazy
- disk: fio in the guest on /dev/vda (direct=1), $BENCH_IOMMU_RUNS round(s) per target, interleaved, jobs in sequence: ioengine=$BENCH_IOMMU_ENGINE, ${BENCH_IOMMU_RUNTIME} s measured after ${BENCH_IOMMU_RAMP} s ramp-up, region ${BENCH_IOMMU_MB} MiB, norandommap, randrepeat=0, numjobs=1; the image a ${BENCH_IOMMU_MB} MiB file in L1's tmpfs, zero-filled before each target, buffered in L1 (cache=writeback)
- net: $(version NET iperf3) \`-c 10.0.2.1 -t $BENCH_IOMMU_SECONDS -i 0 -J\` (guest to L1) and with \`-R\` (L1 to guest), one TCP stream, Mbit/s as the receiver counted them; bench/tcp_rr.c 1-byte round trips over one TCP connection for $BENCH_IOMMU_SECONDS s; $BENCH_IOMMU_RUNS round(s) per target, interleaved; tap0 in L1 (10.0.2.1/24) with \`iperf3 -s\` and \`tcp_rr -s\`
- wall time per round in L1 (boot, measurements, power-off) and exit status:
EOF
	for t in ${BENCH_IOMMU_TARGETS//,/ }; do
		awk -v t="$t" -v n="$([[ $t == vmon ]] && echo vmon-novhost || echo "$t")" '
			$1 ~ /^LAB-(DISK|NET)-BEGIN$/ && ($2 == "target=" t || $2 == "target=" n) { sub("uptime=", "", $4); b = $4 }
			$1 == "LAB-DISK-END" && $2 == "target=" t { sub("uptime=", "", $5)
				d = d sprintf("%s%.0f s (%s)", d == "" ? "" : ", ", $5 - b, substr($4, 4)) }
			$1 == "LAB-NET-END" && $2 == "target=" n { sub("uptime=", "", $5)
				m = m sprintf("%s%.0f s (%s)", m == "" ? "" : ", ", $5 - b, substr($4, 4)) }
			END { printf "  - %s: disk %s; net %s\n", t, d == "" ? "none" : d, m == "" ? "none" : m }' "$log"
	done
	echo "- times are from inside L1 and L2, whose clocks are QEMU/TCG's, and L2 runs on KVM emulated by TCG: compare the columns with each other, not with bare-metal figures."
}

# load_sampler FILE: the host's 1-minute load average every 10 s, appended
# to FILE, until this script ends.  Other work on a small host shows in the
# figures: the report gives the range.
load_sampler() {
	local main_pid=$$
	(
		while kill -0 "$main_pid" 2>/dev/null; do
			cut -d' ' -f1 /proc/loadavg >>"$1"
			sleep 10
		done
	) </dev/null >/dev/null 2>&1 &
}

# load_range FILE: "min-max (N samples)" of FILE's numbers.
load_range() {
	sort -n "$1" 2>/dev/null | awk 'NR == 1 { min = $1 } { max = $1; n++ }
		END { if (n) printf "%s-%s (%d samples)", min, max, n; else printf "n/a" }'
}

main() {
	[[ $# == 1 || $# == 2 ]] || lab_die "usage: $0 BUILD_DIR VMON_BINARY"
	local vmon=${2:-} t part disk_targets='' net_targets=''
	for t in ${BENCH_IOMMU_TARGETS//,/ }; do
		[[ ,$IOMMU_ALL_TARGETS, == *,$t,* ]] || lab_die "bad target '$t' (known: $IOMMU_ALL_TARGETS)"
		disk_targets+=${disk_targets:+,}$t
		# vmon's own data path: vhost-net cannot be combined with --iommu.
		[[ $t == vmon ]] && t='vmon-novhost'
		net_targets+=${net_targets:+,}$t
	done
	for part in ${BENCH_IOMMU_PARTS//,/ }; do
		[[ $part == disk || $part == net ]] || lab_die "bad part '$part' (disk, net)"
	done
	if [[ ,$BENCH_IOMMU_TARGETS, == *,vmon* ]]; then
		vmon=$(lab_bench_vmon "$vmon" --iommu) || exit 1
	else
		vmon=
	fi
	LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)

	"$LAB_SRC_DIR/prepare.sh" "$1"
	lab_init "$1"
	lab_ensure_packages fio iperf3 python3 seabios
	lab_build_static "$LAB_BIN/tcp_rr" "$LAB_REPO_DIR/bench/tcp_rr.c"
	lab_lock l1
	local tmp log=$LAB_OUT/iommu-bench.log report=$LAB_OUT/iommu-bench.md
	lab_tmpdir tmp
	bench_fio_job_file "$BENCH_IOMMU_ENGINE" "$BENCH_IOMMU_MB" "$BENCH_IOMMU_RUNTIME" "$BENCH_IOMMU_RAMP" \
		"$BENCH_IOMMU_JOBS" >"$tmp/disk.fio"
	bench_build_l2_fio_initramfs "$LAB_OUT/l2-iommu-fio.cpio" "$tmp/disk.fio" add_iommu_info
	bench_build_l2_net_initramfs "$LAB_OUT/l2-iommu-net.cpio" add_iommu_info
	build_l1_initramfs "$tmp/l1.cpio" "$vmon" "$tmp/disk.fio"

	# Bounds, against hangs: a guest boots in ~10-30 s under TCG (q35's
	# SeaBIOS adds a little); fio runs each job for ramp + runtime plus its
	# start-up; the net part runs 3 tests of BENCH_IOMMU_SECONDS.
	local njobs ntargets fio_timeout disk_l2 net_l2 per_round=0 l1_timeout l1_rc=0
	njobs=$(tr ',' '\n' <<<"$BENCH_IOMMU_JOBS" | grep -c .)
	ntargets=$(tr ',' '\n' <<<"$BENCH_IOMMU_TARGETS" | grep -c .)
	fio_timeout=$((30 + njobs * (BENCH_IOMMU_RAMP + BENCH_IOMMU_RUNTIME + 10)))
	disk_l2=$((fio_timeout + 120))
	net_l2=$((120 + 3 * (BENCH_IOMMU_SECONDS + 10)))
	[[ ,$BENCH_IOMMU_PARTS, == *,disk,* ]] && per_round=$((per_round + disk_l2))
	[[ ,$BENCH_IOMMU_PARTS, == *,net,* ]] && per_round=$((per_round + net_l2))
	LAB_L2_TIMEOUT=$((disk_l2 > net_l2 ? disk_l2 : net_l2))
	l1_timeout=$((180 + BENCH_IOMMU_RUNS * ntargets * per_round))
	LOAD_SAMPLES=$tmp/load
	load_sampler "$LOAD_SAMPLES"
	lab_run_l1 "$tmp/l1.cpio" "$l1_timeout" "$log" \
		"lab.job=iommu lab.iommu_parts=$BENCH_IOMMU_PARTS lab.disk_runs=$BENCH_IOMMU_RUNS lab.disk_targets=$disk_targets lab.disk_mb=$BENCH_IOMMU_MB lab.disk_fio_timeout=$fio_timeout lab.net_runs=$BENCH_IOMMU_RUNS lab.net_targets=$net_targets lab.net_seconds=$BENCH_IOMMU_SECONDS" ||
		l1_rc=$?

	lab_bench_report "$report" "$log" "$l1_rc" \
		'(DISK|NET)-(ERROR|STDERR|RC)|LAB-ERROR|LAB-(DISK|NET)-END|LAB-IOMMU|IOMMU-INFO|vmon:|qemu-system' \
		"IOMMU: disk and network with an emulated Intel VT-d, vmon vs QEMU (nested lab)" \
		python3 "$LAB_REPO_DIR/bench/iommu-report.py" "$log" "$BENCH_IOMMU_TARGETS" \
		"$BENCH_IOMMU_JOBS" "$BENCH_IOMMU_PARTS"
}

main "$@"
