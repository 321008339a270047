#!/bin/bash
# Usage: bench/net.sh BUILD_DIR VMON_BINARY
#
# Network (virtio-net) benchmark of vmon against QEMU, in ONE boot of the
# nested lab's L1 (see tests/lab/lib.sh and tests/lab/README.md).  L1 makes
# a TAP interface, tap0, and serves iperf3 and bench/tcp_rr on it; the L2
# guest, with one virtio-net NIC on PCI on tap0, measures against L1:
#   - TCP throughput from the guest to L1 and from L1 to the guest
#     (iperf3 -c, iperf3 -c -R; one stream);
#   - request/response latency: round trips of 1 byte over one TCP
#     connection (bench/tcp_rr.c; iperf3 has no such test).
# The targets: vmon with vhost-net, vmon with its own data path, and QEMU
# (`-M microvm,rtc=on,pcie=on`, virtio-net-pci, `-netdev tap,vhost=on`),
# the same machine as bench/disk.sh's peer.  Same guest kernel, initramfs,
# 1 vCPU, RAM, MAC and TAP for all.
#
# Files: bench/l1-job-net.sh (L1 job), bench/l2-net-init.sh (the guest's
# /init.sh), bench/net-report.py (the table), bench/tcp_rr.c.  Builds
# BUILD_DIR/lab/l2-net.cpio (busybox, tests/lab/marker-init, the virtio
# modules, iperf3 and its libraries, tcp_rr).  Prints a Markdown report,
# also saved as BUILD_DIR/lab/net-bench.md; the L1 console is kept in
# BUILD_DIR/lab/net-bench.log.  Exits 1 if any result is missing.
#
# Environment:
#   BENCH_NET_TARGETS=vmon-vhost,vmon-novhost,qemu-vhost
#                         also qemu-novhost (QEMU's own virtio-net data
#                         path); qemu-* alone need no VMON_BINARY
#   BENCH_NET_RUNS=1      rounds (interleaved); the tables show medians
#   BENCH_NET_SECONDS=10  seconds of each measurement
#   LAB_L2_MEMORY=512M    L2 guest RAM (tests/lab/lib.sh)
set -euo pipefail

# shellcheck source=tests/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tests/lab/lib.sh"
# shellcheck source=bench/guests.sh
source "$(dirname "${BASH_SOURCE[0]}")/guests.sh"

BENCH_NET_TARGETS=${BENCH_NET_TARGETS:-vmon-vhost,vmon-novhost,qemu-vhost}
BENCH_NET_RUNS=${BENCH_NET_RUNS:-1}
BENCH_NET_SECONDS=${BENCH_NET_SECONDS:-10}


# conditions LOG: what the figures were measured on.
conditions() {
	local log=$1 t
	field() { lab_field "$log" "$1" "$2"; }
	cat <<EOF
Conditions:
- date: $(date -u '+%Y-%m-%d %H:%M UTC'); host: $(uname -r), $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)), load average at start: $LOAD_AT_START
- L1: $(qemu-system-x86_64 --version | head -n 1 | sed 's/ (Debian.*)//'), \`-accel tcg,thread=multi -smp 1 -cpu $LAB_L1_CPU -m $LAB_L1_MEMORY\`, kernel $(field "LAB-L1 kernel=" kernel), kvm_amd nested=$(field "LAB-L1 kvm_amd_nested=" kvm_amd_nested) npt=$(field "LAB-L1 kvm_amd_npt=" kvm_amd_npt); tap0 10.0.2.1/24 (\`ip tuntap add dev tap0 mode tap\`), with the iperf3 server (\`iperf3 -s\`) and \`tcp_rr -s 5003\` in L1, which has one vCPU for them, the VMM and vhost-net alike
- L2 guest: Debian $(cat "$LAB_KVER_FILE") bzImage, 1 vCPU, $LAB_L2_MEMORY RAM, initramfs $LAB_OUT/l2-net.cpio ($(($(stat -c %s "$LAB_OUT/l2-net.cpio") / 1048576)) MiB: busybox, iperf3 and its libraries, tcp_rr, virtio modules), cmdline \`$(sed -n 's/^LAB-NET-APPEND //p' "$log" | head -n 1)\`
- vmon: $(sed -n 's/^LAB-NET-VERSION target=vmon //p' "$log" | head -n 1 | grep . || echo "(not run)") \`run --kernel K --initrd I --cpus 1 --memory $LAB_L2_MEMORY --cmdline C --net tap=tap0,mac=52:54:00:4c:00:01,vhost=on|off --stats\` (virtio-net on PCI, 1 queue pair)
- QEMU: $(sed -n 's/^LAB-NET-VERSION target=qemu //p' "$log" | head -n 1 | sed 's/ (Debian.*)//') \`-M microvm,rtc=on,pcie=on -enable-kvm -cpu host -smp 1 -m $LAB_L2_MEMORY -nodefaults -no-user-config -display none -serial stdio -no-reboot -kernel K -initrd I -append "C reboot=acpi" -netdev tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=on|off -device virtio-net-pci,netdev=n0,mac=52:54:00:4c:00:01,disable-legacy=on,romfile=\`
- tests, ${BENCH_NET_SECONDS} s each, $BENCH_NET_RUNS round(s) per target, interleaved: $(sed -n 's/^LAB-NET-VERSION target=iperf3 //p' "$log" | head -n 1) \`-c 10.0.2.1 -t $BENCH_NET_SECONDS -i 0 -J\` (guest to L1) and the same with \`-R\` (L1 to guest), one TCP stream, Mbit/s as the receiver counted them (10^6 bit/s); bench/tcp_rr.c: 1-byte request and 1-byte answer over one TCP connection with TCP_NODELAY, after 100 round trips of warm-up; round trips per second and their percentiles in µs (guest's CLOCK_MONOTONIC)
- guest's view of the NIC:
EOF
	for t in ${BENCH_NET_TARGETS//,/ }; do
		grep -m 1 "^L2:$t\.1| NET-INFO " "$log" | sed "s/^L2:$t\.1| NET-INFO /  - $t: /" || true
	done
	echo "- wall time per round in L1 (boot, tests, power-off), exit status, and packets through tap0 (from / to the guest, L1's counters):"
	for t in ${BENCH_NET_TARGETS//,/ }; do
		awk -v t="$t" '$1 == "LAB-NET-BEGIN" && $2 == "target=" t { sub("uptime=", "", $4); b = $4 }
			$1 == "LAB-NET-END" && $2 == "target=" t { sub("uptime=", "", $5)
				s = s sprintf("%s%.0f s (%s)", s == "" ? "" : ", ", $5 - b, substr($4, 4)) }
			$1 == "LAB-NET-TAP" && $2 == "target=" t { sub("rx_packets=", "", $4); sub("tx_packets=", "", $5)
				p = p sprintf("%s%s / %s", p == "" ? "" : ", ", $4, $5) }
			END { printf "  - %s: %s; packets %s\n", t, s == "" ? "none" : s, p == "" ? "n/a" : p }' "$log"
	done
	for t in vmon-vhost vmon-novhost; do
		if grep -q "^L2:$t\.1| vmon-stats: net0:" "$log"; then
			echo "- vmon --stats, $t, round 1: \`$(sed -n "s/^L2:$t\.1| vmon-stats: //p" "$log" | grep '^net0:' | head -n 1)\`"
		fi
	done
	echo "- times are from inside L1 and L2, whose clocks are QEMU/TCG's, and L2 runs on KVM emulated by TCG: compare the columns with each other, not with bare-metal figures."
}

main() {
	[[ $# == 1 || $# == 2 ]] || lab_die "usage: $0 BUILD_DIR VMON_BINARY"
	local vmon=${2:-} t
	for t in ${BENCH_NET_TARGETS//,/ }; do
		[[ $t =~ ^(vmon|qemu)-(vhost|novhost)$ ]] ||
			lab_die "bad target '$t' (vmon-vhost, vmon-novhost, qemu-vhost, qemu-novhost)"
	done
	if [[ ,$BENCH_NET_TARGETS, == *,vmon-* ]]; then
		vmon=$(lab_bench_vmon "$vmon" --net) || exit 1
	else
		vmon=
	fi
	LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)

	"$LAB_SRC_DIR/prepare.sh" "$1"
	lab_init "$1"
	lab_ensure_packages iperf3 python3
	lab_build_static "$LAB_BIN/tcp_rr" "$LAB_REPO_DIR/bench/tcp_rr.c"
	lab_lock l1
	local tmp log=$LAB_OUT/net-bench.log report=$LAB_OUT/net-bench.md
	lab_tmpdir tmp
	bench_build_l2_net_initramfs "$LAB_OUT/l2-net.cpio"
	# The benchmark's guest is L1's /lab/l2.cpio; iperf3 and tcp_rr go to
	# L1's /lab/bin as well, for the servers.
	LAB_L1_L2_CPIO=$LAB_OUT/l2-net.cpio
	lab_build_l1_initramfs "$tmp/l1.cpio" net "$LAB_REPO_DIR/bench/l1-job-net.sh" "$vmon" \
		/usr/bin/iperf3 "$LAB_BIN/tcp_rr"

	# Bounds: a guest boots in ~10-30 s under TCG, then 3 tests of
	# BENCH_NET_SECONDS each with their start-up.
	local ntargets l1_timeout l1_rc=0
	ntargets=$(tr ',' '\n' <<<"$BENCH_NET_TARGETS" | grep -c .)
	LAB_L2_TIMEOUT=$((120 + 3 * (BENCH_NET_SECONDS + 10)))
	l1_timeout=$((180 + BENCH_NET_RUNS * ntargets * LAB_L2_TIMEOUT))
	lab_run_l1 "$tmp/l1.cpio" "$l1_timeout" "$log" \
		"lab.job=net lab.net_runs=$BENCH_NET_RUNS lab.net_targets=$BENCH_NET_TARGETS lab.net_seconds=$BENCH_NET_SECONDS" ||
		l1_rc=$?

	lab_bench_report "$report" "$log" "$l1_rc" \
		'NET-(ERROR|STDERR|RC)|LAB-ERROR|LAB-NET-END|vmon:|qemu-system' \
		"Network: iperf3 and TCP request/response in the L2 guest, vmon vs QEMU (nested lab)" \
		python3 "$LAB_REPO_DIR/bench/net-report.py" "$log" "$BENCH_NET_TARGETS"
}

main "$@"
