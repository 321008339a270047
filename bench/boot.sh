#!/bin/bash
# Usage: bench/boot.sh BUILD_DIR VMON_BINARY
#
# Boot-time and memory benchmark of vmon against QEMU -M microvm (qboot
# firmware), in ONE boot of the nested lab's L1 (see tests/lab/lib.sh).
# Inside L1, bench/boottime.c fork/execs each VMM with its stdout on a pipe
# and measures CLOCK_MONOTONIC from just before fork to the moment the
# guest's /init (tests/lab/marker-init.c) has written VMON-USERSPACE-UP on
# the serial console.  The guest then powers off at once.
#
# The guest also reports its own CLOCK_MONOTONIC at the marker ("in the
# guest kernel"); the rest ("before it") is VMM start-up, firmware, loading
# and the bzImage decompressor.  The two clocks are L1's and L2's, so the
# split is approximate.
#
# Memory, two ways:
#   - smaps (both VMMs, same method): at the marker, the VMM's VmRSS minus
#     the resident part of its guest-RAM mapping (the mappings at least as
#     large as the guest RAM) = what the VMM itself keeps resident;
#   - vmon --stats (vmon only): peak RSS (ru_maxrss) minus the guest RAM
#     resident at exit (mincore on its RAM mapping).  Guest pages are never
#     given back, so this is vmon's own peak.
#
# Prints a Markdown report (also saved as BUILD_DIR/lab/bench.md); the L1
# console is kept in BUILD_DIR/lab/bench.log.  Exits 1 if any run failed.
#
# Environment:
#   BENCH_RUNS=5           runs per configuration
#   BENCH_VMMS=vmon,qemu   VMMs (qemu alone needs no VMON_BINARY)
#   BENCH_CPUS=1,2         vCPU counts
#   BENCH_KERNEL=bzImage   or vmlinux (PVH entry)
#   BENCH_BOOT_TIMEOUT=90  seconds a run may take to reach the marker
set -euo pipefail

# shellcheck source=tests/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tests/lab/lib.sh"

BENCH_RUNS=${BENCH_RUNS:-5}
BENCH_VMMS=${BENCH_VMMS:-vmon,qemu}
BENCH_CPUS=${BENCH_CPUS:-1,2}
BENCH_KERNEL=${BENCH_KERNEL:-bzImage}
BENCH_BOOT_TIMEOUT=${BENCH_BOOT_TIMEOUT:-90}

count_items() { tr ',' '\n' <<<"$1" | grep -c .; }

# The per-configuration table, from the LAB-BENCH lines of the L1 log.
# Times in ms; memory in MiB.  Medians over the runs that reached the marker.
bench_table() {
	grep '^LAB-BENCH vmm=' "$1" | awk '
	function median(list,   n, a, i, j, t) {
		n = split(list, a, " ")
		if (n == 0) return "n/a"
		for (i = 2; i <= n; i++)            # insertion sort: n is small
			for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
			}
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function mib(kib) { return kib == "n/a" ? "n/a" : sprintf("%.1f", kib / 1024) }
	function ms0(v) { return v == "n/a" ? "n/a" : sprintf("%.0f ms", v) }
	{
		delete f
		for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		key = f["vmm"] " " f["cpus"]
		if (!(key in total)) order[++nkeys] = key
		total[key]++
		exits[key] = exits[key] " " f["exit"]
		if (f["marker"] != 1) next
		ok[key]++
		ms[key] = ms[key] " " f["ms"]
		if (f["guest_uptime_ms"] ~ /^[0-9]+$/) {
			up[key] = up[key] " " f["guest_uptime_ms"]
			pre[key] = pre[key] " " (f["ms"] - f["guest_uptime_ms"])
		}
		maxrss[key] = maxrss[key] " " f["maxrss_kib"]
		if (f["guest_maps"] > 0)
			own[key] = own[key] " " (f["rss_kib"] - f["guest_rss_kib"])
		if ("stats_overhead_kib" in f)
			stats[key] = stats[key] " " f["stats_overhead_kib"]
	}
	END {
		print "| VMM | vCPUs | runs at userspace | boot to userspace, median (min-max) | of which in the guest kernel | before it | VMM exit statuses | peak RSS | VMM RSS without guest RAM, at the marker (smaps) | vmon --stats: peak RSS - guest RAM resident |"
		print "|---|---|---|---|---|---|---|---|---|---|"
		for (k = 1; k <= nkeys; k++) {
			key = order[k]; split(key, kk, " ")
			n = split(ms[key], a, " "); lo = hi = ""
			for (i = 1; i <= n; i++) {
				if (lo == "" || a[i] + 0 < lo + 0) lo = a[i]
				if (hi == "" || a[i] + 0 > hi + 0) hi = a[i]
			}
			time = n ? sprintf("%.0f ms (%.0f-%.0f)", median(ms[key]), lo, hi) : "n/a"
			st = stats[key] == "" ? "-" : mib(median(stats[key])) " MiB"
			printf "| %s | %s | %d/%d | %s | %s | %s | %s | %s MiB | %s MiB | %s |\n", kk[1], kk[2],
				ok[key], total[key], time, ms0(median(up[key])), ms0(median(pre[key])),
				substr(exits[key], 2), mib(median(maxrss[key])), mib(median(own[key])), st
		}
	}'
}

# conditions LOG: what the figures were measured on.
conditions() {
	local log=$1
	field() { lab_field "$log" "$1" "$2"; }
	cat <<EOF
Conditions:
- date: $(date -u '+%Y-%m-%d %H:%M UTC'); host: $(uname -r), $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)), load average at start: $LOAD_AT_START
- L1: $(qemu-system-x86_64 --version | head -n 1 | sed 's/ (Debian.*)//'), \`-accel tcg,thread=multi -smp 1 -cpu $LAB_L1_CPU -m $LAB_L1_MEMORY\`, kernel $(field "LAB-L1 kernel=" kernel), kvm_amd nested=$(field "LAB-L1 kvm_amd_nested=" kvm_amd_nested) npt=$(field "LAB-L1 kvm_amd_npt=" kvm_amd_npt)
- L2 guest: Debian $(cat "$LAB_KVER_FILE") \`$BENCH_KERNEL\`, $LAB_L2_MEMORY RAM, busybox initramfs ($(stat -c %s "$LAB_L2_CPIO") bytes), cmdline \`$(sed -n 's/^LAB-BENCH-APPEND //p' "$log" | head -n 1)\`; $BENCH_RUNS runs per row, interleaved
- vmon: $(sed -n 's/^LAB-BENCH-VERSION vmm=vmon //p' "$log" | head -n 1) \`run --kernel K --initrd I --cpus N --memory $LAB_L2_MEMORY --cmdline C --stats\`
- QEMU: $(sed -n 's/^LAB-BENCH-VERSION vmm=qemu //p' "$log" | head -n 1 | sed 's/ (Debian.*)//') \`-M microvm,rtc=on -enable-kvm -cpu host -smp N -m $LAB_L2_MEMORY -nodefaults -no-user-config -display none -serial stdio -no-reboot -kernel K -initrd I -append "C reboot=acpi"\` (default firmware: qboot; reboot=acpi: see tests/lab/README.md)
- Boot to userspace: CLOCK_MONOTONIC in L1 from just before fork() of the VMM to \`VMON-USERSPACE-UP\` on its stdout (bench/boottime.c); in the guest kernel: the guest's CLOCK_MONOTONIC when its /init started; before it: the difference (VMM start, firmware, loading, decompressor).
- Memory: smaps column = VmRSS - resident guest-RAM mapping at the marker (libraries included; in L1 they are tmpfs pages); --stats column = ru_maxrss - mincore(guest RAM) at exit.
- Times are from inside L1, whose clock is QEMU/TCG's: compare the rows with each other, not with bare-metal figures.
EOF
}

main() {
	[[ $# == 1 || $# == 2 ]] || lab_die "usage: $0 BUILD_DIR VMON_BINARY"
	local vmon=${2:-}
	if [[ ,$BENCH_VMMS, == *,vmon,* ]]; then
		[[ -x $vmon ]] || lab_die "VMON_BINARY '$vmon' is not an executable"
		vmon=$(readlink -f "$vmon")
	else
		vmon=
	fi
	LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)

	"$LAB_SRC_DIR/prepare.sh" "$1"
	lab_init "$1"
	lab_lock l1
	local tmp log=$LAB_OUT/bench.log report=$LAB_OUT/bench.md
	lab_tmpdir tmp
	lab_build_l1_initramfs "$tmp/l1.cpio" bench \
		"$LAB_REPO_DIR/bench/l1-job-bench.sh" "$vmon" "$LAB_BIN/boottime"

	# A run takes ~10-20 s; allow 60 s on average, plus L1's own boot.
	local configs=$(($(count_items "$BENCH_VMMS") * $(count_items "$BENCH_CPUS")))
	local l1_timeout=$((120 + BENCH_RUNS * configs * 60)) l1_rc=0
	lab_run_l1 "$tmp/l1.cpio" "$l1_timeout" "$log" \
		"lab.job=bench lab.runs=$BENCH_RUNS lab.vmms=$BENCH_VMMS lab.cpus=$BENCH_CPUS lab.kernel=$BENCH_KERNEL lab.boot_timeout=$BENCH_BOOT_TIMEOUT" ||
		l1_rc=$?

	{
		echo "## Boot to userspace: vmon vs QEMU microvm (nested lab)"
		echo
		bench_table "$log"
		echo
		conditions "$log"
	} | tee "$report"

	local expected=$((BENCH_RUNS * configs)) reached
	reached=$(grep -c '^LAB-BENCH vmm=.* marker=1 ' "$log" || true)
	if [[ $l1_rc != 0 || $reached != "$expected" ]]; then
		lab_log "only $reached of $expected runs reached userspace (L1 status $l1_rc); last lines of $log:"
		tail -n 30 "$log" >&2
		return 1
	fi
	lab_log "report saved as $report"
}

main "$@"
