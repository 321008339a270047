#!/bin/bash
# Usage: tests/lab/run.sh BUILD_DIR VMON_BINARY
#
# End-to-end test of vmon booting an unmodified Debian cloud kernel, nested:
# QEMU/TCG (AMD-V emulated) boots L1 Linux with kvm-amd, and inside L1 the
# VMM under test boots the L2 guest.  One L1 boot runs all the cases:
#   bzimage  --kernel bzImage, guest prints its checks and powers off
#   pvh      --kernel vmlinux (ELF, PVH entry), guest checks and reboots
#   kill     bzImage; the guest writes to its disk with fsync and L1 kills
#            the VMM with SIGKILL right after (vmon only)
#   hvc      the terminal on a virtio-console (vmon only)
#   net-*    virtio-net, below
# bzimage and pvh assert: the guest reached userspace (marker), it sees 2
# CPUs, its clock is within 5 s of L1's, PCI and virtio-rng, the disks (raw
# writes; an ext4 made, filled and unmounted by the guest, which e2fsck
# finds clean and debugfs reads back in L1; a read-only disk), and the VMM's
# exit status (0 = power-off, 2 = reboot).  kill asserts that the data fsync
# acknowledged is in the image file after SIGKILL.  hvc checks both ways
# through hvc0.  Three more boots test virtio-net on TAP interfaces that L1
# makes (l1-net.sh):
#   net-vhost    NIC 0 on PCI with vhost-net, NIC 1 on virtio-mmio without
#   net-novhost  the same with vhost the other way round
#   net-mq       2 vCPUs, NIC 0 with 2 queue pairs, vhost left to vmon
# asserting the NICs' driver and transport, pings both ways on every NIC,
# 4 MiB over TCP each way on NIC 0 (SHA-256 of both ends), the queues and
# per-queue interrupts of the multi-queue NIC, and vmon's --stats counters.
#   migrate  (vmon only) a guest running memcheck (memcheck.c), a checked
#            file write loop on an ext4 and pings is snapshotted, restored
#            in a new vmon and migrated live to a third over 127.0.0.1,
#            asserting that memcheck finds no bad page, the guest goes on
#            (memcheck passes, pings both ways, file writes) after each
#            step, the API and vmon ctl migrate answer, the source exits
#            0, the console works in the destination, every file reads
#            back and e2fsck finds the ext4 clean (run_migrate_case in
#            l1-job-test.sh)
#   iommu-*  (vmon only) the guest behind --iommu intel with intel_iommu=on
#            iommu.strict=1, once without interrupt remapping on 1 vCPU
#            (vmon's own IOAPIC still), once with it on 2: the kernel's
#            DMAR lines, the IOMMU groups, a DMA outside the mappings
#            made by vmon's test hook and logged as a DMAR fault, then the
#            disk and network checks above, unchanged (check_iommu)
# Output is TAP on stdout;
# progress and a final "lab: N passed, N failed" line on stderr.  Exits 1 if
# anything failed.
#
# Environment:
#   LAB_L2_VMM=vmon|qemu  VMM used for L2 (default vmon).  qemu runs the same
#                         cases with `qemu-system-x86_64 -M microvm`; it
#                         proves the harness, and its reboot case must fail
#                         (QEMU -no-reboot exits 0 when the guest reboots).
#   LAB_L2_TIMEOUT=S      bound of each L2 run inside L1 (default 90)
#   LAB_L1_TIMEOUT=S      bound of the whole L1 run (default 9*L2 + 60)
#   LAB_VERBOSE=1         mirror L1's console to stderr while it runs
#   LAB_CASES=base,net,api,migrate,iommu  the groups of cases to run (default all): base
#                         is bzimage, pvh, kill and hvc; net the virtio-net
#                         cases, which are skipped (as TAP SKIPs) if vmon has
#                         no --net option; api the management API case
#                         (vmon only: curl drives vmon --api-sock through a
#                         whole life, see run_api_case in l1-job-test.sh);
#                         migrate the snapshot and migration case (vmon only);
#                         iommu the two --iommu intel cases (vmon only:
#                         check_iommu)
# The L1 console, with each L2 line prefixed "L2:<case>| ", is kept in
# BUILD_DIR/lab/test.log.
set -euo pipefail

# shellcheck source=tests/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

L2_CPUS=2        # fixed in l1-job-test.sh
CLOCK_SKEW_MAX=5 # seconds
# name:expected VMM exit status:what the guest does last
CASES=("bzimage:0:power-off" "pvh:2:reboot")

TAP_COUNT=0
TAP_FAILED=0

# tap NAME COMMAND...: one TAP line, "ok" if COMMAND succeeds.
tap() {
	local name=$1
	shift
	TAP_COUNT=$((TAP_COUNT + 1))
	if "$@"; then
		echo "ok $TAP_COUNT - $name"
	else
		echo "not ok $TAP_COUNT - $name"
		TAP_FAILED=$((TAP_FAILED + 1))
	fi
}

# check_disks LOG CASE [VDB_TRANSPORT]: the virtio-blk checks (DISK_CHECKS
# test points); /dev/vdb on virtio-mmio unless VDB_TRANSPORT says otherwise.
DISK_CHECKS=7
check_disks() {
	local log=$1 name=$2 vda vdb written read_back file
	vda=$(l2_result "$log" "$name" vda)
	vdb=$(l2_result "$log" "$name" vdb)
	written=$(l2_result "$log" "$name" vda_written_md5)
	read_back=$(l2_result "$log" "$name" vda_read_md5)
	file=$(lab_field "$log" "LAB-CASE-DISK name=$name " vda_file_md5)
	tap "$name: virtio-blk on PCI is /dev/vda, 32 MiB, serial VMONDISK1 (saw ${vda:-none})" \
		test "$vda" = "65536:VMONDISK1"
	tap "$name: 256 KiB written to /dev/vda with fsync read back unchanged" \
		test -n "$written" -a "$written" = "$read_back"
	tap "$name: the written data is in the image file once vmon has exited" \
		test -n "$written" -a "$written" = "$file"
	check_ext4 "$log" "$name"
	tap "$name: read-only virtio-blk on ${3:-virtio-mmio} is /dev/vdb: contents seen, writes refused (saw ${vdb:-none}, $(l2_result "$log" "$name" vdb_write))" \
		test "$vdb/$(l2_result "$log" "$name" vdb_write)" = "32768:1:VMONDISK/refused"
}

# check_ext4 LOG CASE: the guest made an ext4 on /dev/vda and wrote files
# (3 test points); L1 then checked the image with e2fsck and debugfs.
EXT4_FILE_COUNT=3 # EXT4_FILES in l2-init.sh
check_ext4() {
	local log=$1 name=$2 ext4 guest_files l1_files fsck_rc fsck_notes
	ext4=$(l2_result "$log" "$name" ext4)
	guest_files=$(l2_result "$log" "$name" ext4_files)
	fsck_rc=$(lab_field "$log" "LAB-CASE-EXT4 name=$name " e2fsck_rc)
	fsck_notes=$(lab_field "$log" "LAB-CASE-EXT4 name=$name " e2fsck_notes)
	l1_files=$(lab_field "$log" "LAB-CASE-EXT4 name=$name " files)
	tap "$name: guest ran mkfs.ext4 on /dev/vda, mounted it, wrote $EXT4_FILE_COUNT files (1 KiB..4 MiB), synced, unmounted (saw ${ext4:-none})" \
		test "$ext4" = ok
	# (e2fsck -n exits 0 even when it skips journal recovery: see the notes
	# in l1-job-test.sh's report_ext4.)
	tap "$name: e2fsck -fn in L1 finds the ext4 in the image clean once vmon has exited (exit status ${fsck_rc:-none}, ${fsck_notes:-no} lines beyond the passes)" \
		test "$fsck_rc/$fsck_notes" = 0/0
	if [[ $fsck_rc/$fsck_notes != 0/0 ]]; then
		echo "# e2fsck -fn /tmp/vda.img in L1:"
		sed -n "s/^L1:e2fsck:$name| /#   /p" "$log"
	fi
	tap "$name: debugfs in L1 reads the $EXT4_FILE_COUNT files from the image with the md5s the guest wrote" \
		files_match "$guest_files" "$l1_files"
	if ! files_match "$guest_files" "$l1_files"; then
		printf '# name:md5 written by the guest: %s\n# read by debugfs in L1:     %s\n' \
			"${guest_files:-none}" "${l1_files:-none}"
	fi
}

# files_match GUEST L1: both lists of name:md5 are the same EXT4_FILE_COUNT files.
files_match() {
	[[ -n $1 && $1 == "$2" && $(tr , '\n' <<<"$1" | grep -c .) == "$EXT4_FILE_COUNT" ]]
}

# fsynced_ok LOG CASE MD5: the guest printed its data's MD5, then LAB-FSYNCED.
fsynced_ok() {
	[[ -n $3 ]] && l2_lines "$1" "$2" | grep '^LAB-FSYNCED' >/dev/null
}

# check_hvc LOG CASE: the terminal on virtio-console (HVC_CHECKS test points).
HVC_CHECKS=3
check_hvc() {
	local log=$1 name=$2 rc
	if [[ ${LAB_L2_VMM:-vmon} == qemu ]]; then
		for _ in $(seq "$HVC_CHECKS"); do
			tap_skip "$name: virtio-console" "a vmon option"
		done
		return
	fi
	echo "# case $name: $(case_summary "$log" "$name")"
	rc=$(lab_field "$log" "LAB-CASE-END name=$name " rc)
	tap "$name: the guest's output on /dev/hvc0 reaches vmon's terminal" \
		sh -c "grep -q '^L2:$name| LAB-HVC out=ok' '$log'"
	tap "$name: a line on vmon's standard input reaches the guest's /dev/hvc0" \
		sh -c "grep -q '^L2:$name| LAB-HVC in=ping-from-l1' '$log'"
	tap "$name: power-off ends vmon with status 0 (got ${rc:-none})" test "$rc" = 0
}

# check_kill LOG CASE: durability across SIGKILL (KILL_CHECKS test points).
KILL_CHECKS=3
KILL_BYTES="4 MiB" # RAW_KILL_BLOCKS in l2-init.sh
check_kill() {
	local log=$1 name=$2 written file rc fsynced
	if [[ ${LAB_L2_VMM:-vmon} == qemu ]]; then
		for _ in $(seq "$KILL_CHECKS"); do
			tap_skip "$name: data acknowledged by fsync survives SIGKILL of the VMM" \
				"the QEMU peer runs without disks here"
		done
		return
	fi
	echo "# case $name: $(case_summary "$log" "$name")"
	local failed_before=$TAP_FAILED
	written=$(l2_result "$log" "$name" vda_written_md5)
	fsynced=$(lab_field "$log" "LAB-CASE-END name=$name " fsynced)
	rc=$(lab_field "$log" "LAB-CASE-END name=$name " rc)
	file=$(lab_field "$log" "LAB-CASE-DISK name=$name " vda_file_md5)
	tap "$name: guest wrote $KILL_BYTES to /dev/vda with dd conv=fsync and printed LAB-FSYNCED" \
		fsynced_ok "$log" "$name" "$written"
	tap "$name: L1 killed the VMM with SIGKILL once it printed LAB-FSYNCED (L1 saw the line: ${fsynced:-none}; exit status ${rc:-none}, 137 = SIGKILL)" \
		test "$fsynced/$rc" = "seen/137"
	tap "$name: the $KILL_BYTES fsync acknowledged are in the image file after SIGKILL (md5 guest ${written:0:8}, image ${file:0:8})" \
		test -n "$written" -a "$written" = "$file"
	if ((TAP_FAILED > failed_before)); then
		echo "# last L2 lines of case $name:"
		l2_lines "$log" "$name" | tail -n 25 | sed 's/^/#   /' | grep . ||
			echo "#   (none)"
	fi
}

# check_api LOG CASE: the management API case (API_CHECKS test points).
API_CHECKS=10
api_status() { lab_field "$1" "LAB-API-CALL name=$2 " status; }
api_body() { grep -m 1 -- "^LAB-API-CALL name=$2 " "$1" | sed 's/.* body=//'; }
# api_l1 LOG KEY: a KEY=VALUE from L1's "LAB-API ..." lines.
api_l1() { grep -o -- "^LAB-API .*$2=[^ ]*" "$1" | grep -o -- "$2=[^ ]*" | tail -n 1 | cut -d= -f2- || true; }
# api_l2 LOG CASE KEY: the same from the guest's.
api_l2() { l2_lines "$1" "$2" | grep -o -- "^LAB-API .*$3=[^ ]*" | grep -o -- "$3=[^ ]*" | tail -n 1 | cut -d= -f2- || true; }
at_least() { is_int "$1" && (($1 >= $2)); }
at_most() { is_int "$1" && (($1 <= $2)); }
# api_metrics_ok LOG CASE: every metrics line is JSON; the drive's writes add up to more than 0.
api_metrics_ok() {
	sed -n "s/^L1:metrics:$2| //p" "$1" | python3 -c '
import json, sys
lines = [json.loads(l) for l in sys.stdin if l.strip()]
written = sum(l.get("block_scratch", {}).get("write_bytes", 0) for l in lines)
print("# metrics: %d lines, block_scratch.write_bytes %d" % (len(lines), written))
sys.exit(0 if len(lines) >= 200 and written > 0 else 1)'
}
check_api() {
	local log=$1 name=$2 calls configured rc
	echo "# case $name: $(case_summary "$log" "$name")"
	local failed_before=$TAP_FAILED
	configured=$(for c in boot-source machine-config drive metrics start; do api_status "$log" "$c"; done | paste -sd, -)
	tap "$name: boot-source, machine-config, a drive and metrics PUT, then InstanceStart, all 204 (saw $configured)" \
		test "$configured" = "204,204,204,204,204"
	tap "$name: the guest booted by the API reached userspace" has_marker "$log" "$name"
	tap "$name: GET / says Running, then Paused after PATCH /vm Paused (204)" \
		sh -c "[ '$(api_status "$log" pause)' = 204 ] && echo '$(api_body "$log" info-running)' | grep -q Running &&
			echo '$(api_body "$log" info-paused)' | grep -q Paused"
	tap "$name: paused, the guest's vCPUs stop: $(api_l1 "$log" paused_ticks) ticks in 4 s (running: $(api_l1 "$log" running_ticks) in 3 s)" \
		at_most "$(api_l1 "$log" paused_ticks)" 1
	tap "$name: resumed (204), it ticks again: $(api_l1 "$log" resumed_ticks) in 4 s" \
		sh -c "[ '$(api_status "$log" resume)' = 204 ] && [ '$(api_l1 "$log" resumed_ticks)' -ge 2 ]"
	calls=$(api_l1 "$log" calls)/$(api_l1 "$log" ok)
	tap "$name: 1,000 API calls during the guest's workload, all answered 200/204 (saw $calls in $(api_l1 "$log" seconds) s)" \
		test "$calls" = 1000/1000
	tap "$name: the guest's CPU and disk workload checks pass across them ($(api_l2 "$log" "$name" rounds) rounds, $(api_l2 "$log" "$name" bad) bad)" \
		sh -c "[ '$(api_l2 "$log" "$name" bad)' = 0 ] && [ '$(api_l2 "$log" "$name" rounds)' -ge 1 ]"
	tap "$name: PATCH /drives swaps the image under the running guest: 204, it reads the new one (saw $(api_status "$log" swap), $(api_l2 "$log" "$name" magic) $(api_l2 "$log" "$name" sectors) sectors)" \
		test "$(api_status "$log" swap)/$(api_l2 "$log" "$name" magic)/$(api_l2 "$log" "$name" sectors)" = 204/SWAPDISK/32768
	rc=$(lab_field "$log" "LAB-CASE-END name=$name " rc)
	tap "$name: SendCtrlAltDel (204) makes the guest kernel restart, ending vmon with status 2 (saw $(api_status "$log" ctrl-alt-del), $rc)" \
		sh -c "[ '$(api_status "$log" ctrl-alt-del)/$rc' = 204/2 ] && grep -q '^L2:$name| .*reboot: Restarting system' '$log'"
	tap "$name: the metrics file has a JSON line per flush, with the drive's writes" api_metrics_ok "$log" "$name"
	if ((TAP_FAILED > failed_before)); then
		echo "# last L2 lines of case $name:"
		l2_lines "$log" "$name" | tail -n 25 | sed 's/^/#   /' | grep . || echo "#   (none)"
		grep '^LAB-API' "$log" | sed 's/^/#   /'
	fi
}

# check_migrate LOG CASE: snapshot, restore and live migration of a working
# guest (MIG_CHECKS test points; run_migrate_case in l1-job-test.sh, the
# guest's side in l2-init.sh's mig_scenario).  The guest's lines of vmon
# a, b and c are "L2:CASE.a| " etc.
MIG_CHECKS=14
MIG_FILES=8 # MIG_FILES in l2-init.sh
# mig_l1 LOG KEY: VALUE of L1's first "LAB-MIG-L1 KEY=VALUE" line.
mig_l1() { lab_field "$1" "LAB-MIG-L1 $2=" "$2"; }
# mig_json LOG KEY: KEY's number in the answer of vmon ctl migrate.
mig_json() { mig_l1 "$1" migrate_json | grep -o "\"$2\":[0-9]*" | cut -d: -f2; }
# mig_gap LOG KEY: KEY of pinggap's line during the migration.
mig_gap() { mig_l1 "$1" migrate_gap | tr , '\n' | sed -n "s/^$2=//p"; }
# mig_progressed LOG FROM TO: the guest went on from vmon FROM to vmon TO:
# more memcheck passes, ping replies and file writes.
mig_progressed() {
	local k a b
	for k in passes in_echo_reps file_writes; do
		a=$(mig_l1 "$1" "${2}_$k") b=$(mig_l1 "$1" "${3}_$k")
		is_int "$a" && is_int "$b" && ((b > a)) || return 1
	done
}
mig_figures() { # LOG TAG: "P passes, R replies, W writes" of vmon TAG
	echo "$(mig_l1 "$1" "${2}_passes") passes, $(mig_l1 "$1" "${2}_in_echo_reps") replies, $(mig_l1 "$1" "${2}_file_writes") writes"
}
mig_json_ok() { # LOG: rounds >= 1, downtime and total time reported
	local rounds downtime total
	rounds=$(mig_json "$1" rounds) downtime=$(mig_json "$1" downtime_ms) total=$(mig_json "$1" total_ms)
	[[ $(mig_l1 "$1" migrate_rc) == 0 ]] && is_int "$rounds" && ((rounds >= 1)) && is_int "$downtime" && is_int "$total"
}
mig_no_memory_errors() { # LOG CASE: memcheck never found a bad page
	local t e
	for t in a b c; do
		e=$(mig_l1 "$1" "${t}_memcheck_errors")
		[[ $e == 0 ]] || return 1
	done
	[[ $(l2_result "$1" "$2\\.[abc]" mig_memcheck_rc) == 0 ]]
}
check_migrate() {
	local log=$1 name=$2 configured failed_before=$TAP_FAILED rc fsck_rc fsck_notes files l1_files
	local cases="$name\\.[abc]"
	echo "# case $name: $(case_summary "$log" "$name")"
	configured=$(for c in boot-source machine-config drive net start; do api_status "$log" "mig-$c"; done | paste -sd, -)
	tap "$name: vmon --api-sock: boot-source, machine-config, a drive, a NIC on the multi_queue tap0, InstanceStart, all 204 (saw $configured)" \
		test "$configured" = "204,204,204,204,204"
	tap "$name: in vmon a the guest made an ext4, filled $(lab_field "$log" "L2:$name.a| memcheck: start " mib) MiB with memcheck and went on: $(mig_figures "$log" a), $(mig_l1 "$log" a_running) ms after InstanceStart; L1 pings it (replies $(mig_l1 "$log" a_host_ping))" \
		sh -c "[ '$(mig_l1 "$log" a_host_ping)' = 3/3 ] && [ '$(mig_l1 "$log" a_passes)' -ge 1 ]"
	tap "$name: PATCH /vm Paused and PUT /snapshot/create answer 204 (saw $(api_status "$log" mig-pause), $(api_status "$log" mig-snapshot) in $(mig_l1 "$log" snapshot_ms) ms): state $(mig_l1 "$log" state_bytes) bytes, memory $(mig_l1 "$log" mem_bytes) bytes ($(mig_l1 "$log" mem_alloc_kib) KiB allocated)" \
		sh -c "[ '$(api_status "$log" mig-pause)/$(api_status "$log" mig-snapshot)' = 204/204 ] && [ '$(mig_l1 "$log" state_bytes)' -gt 0 ] && [ '$(mig_l1 "$log" mem_bytes)' = $((256 * 1048576)) ]"
	tap "$name: vmon restore (after SIGKILL of vmon a): the guest goes on from the snapshot ($(mig_figures "$log" a) -> $(mig_figures "$log" b); first reply to L1 $(mig_l1 "$log" restore_first_reply_ms) ms after the start)" \
		mig_progressed "$log" a b
	tap "$name: after the restore, L1 pings the guest (replies $(mig_l1 "$log" b_host_ping))" \
		test "$(mig_l1 "$log" b_host_ping)" = 3/3
	tap "$name: vmon ctl migrate --to 127.0.0.1 answers the statistics: $(mig_json "$log" rounds) rounds, $(mig_json "$log" pages_sent) pages sent, downtime $(mig_json "$log" downtime_ms) ms, total $(mig_json "$log" total_ms) ms (status $(mig_l1 "$log" migrate_rc))" \
		mig_json_ok "$log"
	tap "$name: the source vmon exits 0 once the guest runs in the destination (got $(mig_l1 "$log" b_rc))" \
		test "$(mig_l1 "$log" b_rc)" = 0
	tap "$name: in the destination the guest goes on ($(mig_figures "$log" b) -> $(mig_figures "$log" c)); pings from L1 every 10 ms, on 4 flows in turn: no reply for $(mig_gap "$log" max_gap_ms) ms at most, one flow silent for $(mig_gap "$log" flow_gap_ms) ms at most, $(mig_gap "$log" received) of $(mig_gap "$log" sent) answered" \
		mig_progressed "$log" b c
	tap "$name: after the migration, L1 pings the guest (replies $(mig_l1 "$log" c_host_ping))" \
		test "$(mig_l1 "$log" c_host_ping)" = 3/3
	rc=$(lab_field "$log" "LAB-CASE-END name=$name " rc)
	tap "$name: the destination's console works both ways: L1's 'finish' on its standard input reaches the guest, which powers off; vmon exits 0 (last vmon $(mig_l1 "$log" last), status ${rc:-none})" \
		sh -c "[ '$(mig_l1 "$log" last)/$rc' = c/0 ] && grep -q '^L2:$name.c| LAB-MIG finishing' '$log'"
	tap "$name: memcheck found no corrupt page in any vmon (errors $(mig_l1 "$log" a_memcheck_errors)/$(mig_l1 "$log" b_memcheck_errors)/$(mig_l1 "$log" c_memcheck_errors), its exit status $(l2_result "$log" "$cases" mig_memcheck_rc))" \
		mig_no_memory_errors "$log" "$name"
	tap "$name: the write loop read back each file it wrote ($(l2_result "$log" "$cases" mig_file_writes) writes, $(l2_result "$log" "$cases" mig_file_errors) errors) and the last version of every file at the end (saw $(l2_result "$log" "$cases" mig_files_verified)), then unmounted ($(l2_result "$log" "$cases" mig_umount))" \
		sh -c "[ '$(l2_result "$log" "$cases" mig_file_errors)/$(l2_result "$log" "$cases" mig_files_verified)/$(l2_result "$log" "$cases" mig_umount)' = 0/$MIG_FILES/$MIG_FILES/ok ]"
	fsck_rc=$(lab_field "$log" "LAB-CASE-EXT4 name=$name " e2fsck_rc)
	fsck_notes=$(lab_field "$log" "LAB-CASE-EXT4 name=$name " e2fsck_notes)
	tap "$name: e2fsck -fn in L1 finds the ext4 clean once the last vmon has exited (exit status ${fsck_rc:-none}, ${fsck_notes:-no} lines beyond the passes)" \
		test "$fsck_rc/$fsck_notes" = 0/0
	if [[ $fsck_rc/$fsck_notes != 0/0 ]]; then
		sed -n "s/^L1:e2fsck:$name| /#   /p" "$log"
	fi
	files=$(l2_result "$log" "$cases" mig_files)
	l1_files=$(lab_field "$log" "LAB-CASE-EXT4 name=$name " files)
	tap "$name: debugfs in L1 reads the $MIG_FILES files from the image with the md5s the guest last wrote" \
		sh -c "[ -n '$files' ] && [ '$files' = '$l1_files' ] && [ $(tr , '\n' <<<"$files" | grep -c .) = $MIG_FILES ]"
	if ((TAP_FAILED > failed_before)); then
		local t
		for t in a b c; do
			echo "# last L2 lines of vmon $t:"
			l2_lines "$log" "$name.$t" | tail -n 15 | sed 's/^/#   /' | grep . || echo "#   (none)"
		done
		grep -E '^(LAB-MIG-L1|LAB-API-CALL name=mig|L1:migrate-err)' "$log" | sed 's/^/#   /'
	fi
}

# The two-NIC virtio-net cases, then net-mq (their NICs: l1-job-test.sh).
NET_CASES=(net-vhost net-novhost)
NET_NIC_CHECKS=4   # per NIC: driver and transport, pings both ways, --stats
NET_XFER_CHECKS=2  # per case, on NIC 0
NET_CHECKS=$((2 * NET_NIC_CHECKS + NET_XFER_CHECKS + 1))
NET_MQ_CHECKS=9
NET_XFER="4 MiB" # NET_XFER_BYTES in l1-net.sh

# net_field LOG CASE KEY: KEY=... of L1's LAB-CASE-NET line of CASE.
net_field() { lab_field "$1" "LAB-CASE-NET name=$2 " "$3"; }

# all_pings REPLIES...: each is 3/3.
all_pings() {
	local r
	(($#)) || return 1
	for r in "$@"; do [[ $r == 3/3 ]] || return 1; done
}

# stats_nic LOG CASE N: vmon's --stats line of netN ("netN: tap=... ").
stats_nic() {
	l2_lines "$1" "$2" | grep -o "net$3: tap=.*" | tail -n 1 || true
}

# stats_ok LINE TAP VHOST: the line names TAP and VHOST (on/off), and has
# rx_packets and tx_packets above 0.
stats_ok() {
	local line=" $1 " rx tx
	[[ $line == *" tap=$2 "* && $line == *" vhost=$3 "* ]] || return 1
	rx=$(grep -o ' rx_packets=[0-9]*' <<<"$line" | cut -d= -f2)
	tx=$(grep -o ' tx_packets=[0-9]*' <<<"$line" | cut -d= -f2)
	[[ -n $rx && -n $tx ]] && ((rx > 0 && tx > 0))
}

# check_stats LOG CASE N TAP VHOST: one test point on vmon's --stats for netN.
check_stats() {
	local log=$1 name=$2 n=$3 tap=$4 vhost=$5 line
	if [[ ${LAB_L2_VMM:-vmon} == qemu ]]; then
		tap_skip "$name: vmon --stats counts net$n's packets" "a vmon option"
		return
	fi
	line=$(stats_nic "$log" "$name" "$n")
	tap "$name: vmon --stats lists net$n on $tap with vhost=$vhost and RX/TX packets above 0 (saw ${line:-no net$n line})" \
		stats_ok "$line" "$tap" "$vhost"
}

# check_nic LOG CASE N TRANSPORT: NIC N found by its MAC with the virtio_net
# driver on TRANSPORT, and pings both ways (3 test points).
check_nic() {
	local log=$1 name=$2 n=$3 transport=$4 nic reach ping host_ping
	nic=$(l2_result "$log" "$name" "nic$n")
	reach=$(l2_result "$log" "$name" "nic${n}_reach")
	ping=$(l2_result "$log" "$name" "nic${n}_ping")
	host_ping=$(net_field "$log" "$name" "host_ping$n")
	tap "$name: NIC $n (MAC 52:54:00:4c:00:0$((n + 1))) is a virtio_net interface on $transport (saw ${nic:-none})" \
		test "${nic#*:}" = "virtio_net:$transport"
	tap "$name: the guest pings L1 over NIC $n (L1 reachable: ${reach:-?}; replies ${ping:-none})" \
		all_pings "$ping"
	tap "$name: L1 pings the guest over NIC $n (replies ${host_ping:-none})" \
		all_pings "$host_ping"
}

# check_transfers LOG CASE: NIC 0's TCP transfers (NET_XFER_CHECKS points).
check_transfers() {
	local log=$1 name=$2 g_sent g_recv l1_sent l1_recv
	g_sent=$(l2_result "$log" "$name" net_sent_sha)
	g_recv=$(l2_result "$log" "$name" net_recv_sha)
	l1_sent=$(net_field "$log" "$name" sent_sha)
	l1_recv=$(net_field "$log" "$name" recv_sha)
	tap "$name: $NET_XFER over TCP from the guest to L1 (busybox nc) arrive unchanged (SHA-256 guest ${g_sent:0:12}, L1 ${l1_recv:0:12}, $(net_field "$log" "$name" recv_bytes) bytes)" \
		test -n "$g_sent" -a "$g_sent" = "$l1_recv"
	tap "$name: $NET_XFER over TCP from L1 to the guest arrive unchanged (SHA-256 L1 ${l1_sent:0:12}, guest ${g_recv:0:12}, $(l2_result "$log" "$name" net_recv_bytes) bytes)" \
		test -n "$l1_sent" -a "$l1_sent" = "$g_recv"
}

# net_skip NAME COUNT REASON: COUNT skipped test points.
net_skip() {
	local i
	for ((i = 0; i < $2; i++)); do tap_skip "$1" "$3"; done
}

# check_net LOG CASE VHOST0 VHOST1: a two-NIC case (NET_CHECKS points):
# NIC 0 on PCI with vhost VHOST0, NIC 1 on virtio-mmio with VHOST1.
check_net() {
	local log=$1 name=$2 rc failed_before=$TAP_FAILED
	echo "# case $name: $(case_summary "$log" "$name"); $(grep -m 1 "^LAB-CASE-ARGS name=$name " "$log" | cut -d' ' -f3-)"
	check_nic "$log" "$name" 0 virtio-pci
	check_transfers "$log" "$name"
	check_stats "$log" "$name" 0 tap0 "$3"
	check_nic "$log" "$name" 1 virtio-mmio
	check_stats "$log" "$name" 1 tap1 "$4"
	rc=$(lab_field "$log" "LAB-CASE-END name=$name " rc)
	tap "$name: power-off ends the VMM with status 0 (got ${rc:-none})" test "$rc" = 0
	show_case_tail "$log" "$name" "$failed_before"
}

# mq_ok QUEUES ERRORS: the guest's queues are rx-0,rx-1,tx-0,tx-1 and the
# driver logged no failed VQ_PAIRS_SET.
mq_ok() { [[ $1 == rx-0,rx-1,tx-0,tx-1 && $2 == 0 ]]; }

# irqs_ok input.0=N,input.1=N: both receive queues interrupted.
irqs_ok() { [[ $1 =~ ^input\.0=([0-9]+),input\.1=([0-9]+)$ ]] && ((BASH_REMATCH[1] > 0 && BASH_REMATCH[2] > 0)); }

# check_net_mq LOG CASE: the multi-queue case (NET_MQ_CHECKS points).
check_net_mq() {
	local log=$1 name=$2 rc nic queues errors cpu0 cpu1 host_ping irqs failed_before=$TAP_FAILED
	echo "# case $name: $(case_summary "$log" "$name"); $(grep -m 1 "^LAB-CASE-ARGS name=$name " "$log" | cut -d' ' -f3-)"
	nic=$(l2_result "$log" "$name" nic0)
	queues=$(l2_result "$log" "$name" nic0_queues)
	errors=$(l2_result "$log" "$name" nic0_queue_errors)
	cpu0=$(l2_result "$log" "$name" nic0_ping_cpu0)
	cpu1=$(l2_result "$log" "$name" nic0_ping_cpu1)
	host_ping=$(net_field "$log" "$name" host_ping0)
	irqs=$(l2_result "$log" "$name" nic0_irqs)
	tap "$name: NIC 0 is a virtio_net interface on virtio-pci (saw ${nic:-none})" \
		test "${nic#*:}" = "virtio_net:virtio-pci"
	tap "$name: the driver runs 2 queue pairs: rx-0, rx-1, tx-0, tx-1, and no failed VQ_PAIRS_SET (saw ${queues:-none}; ${errors:-?} failures)" \
		mq_ok "$queues" "$errors"
	tap "$name: the guest pings L1 from CPU 0 and from CPU 1 (replies ${cpu0:-none}, ${cpu1:-none})" \
		all_pings "$cpu0" "$cpu1"
	tap "$name: L1 pings the guest (replies ${host_ping:-none})" all_pings "$host_ping"
	check_transfers "$log" "$name"
	tap "$name: both receive queues interrupted the guest (${irqs:-no per-queue interrupts in /proc/interrupts})" \
		irqs_ok "$irqs"
	check_stats "$log" "$name" 0 tap0 on
	rc=$(lab_field "$log" "LAB-CASE-END name=$name " rc)
	tap "$name: power-off ends the VMM with status 0 (got ${rc:-none})" test "$rc" = 0
	show_case_tail "$log" "$name" "$failed_before"
}

# The IOMMU cases (run_iommu_case in l1-job-test.sh): the guest behind
# --iommu with intel_iommu=on iommu.strict=1 (IOMMU_CHECKS test points).
IOMMU_CASES=(iommu-strict:1:off iommu-ir:2:on)
IOMMU_CHECKS=$((6 + DISK_CHECKS + 3 + NET_XFER_CHECKS + 2))
# The PCI functions behind the IOMMU, each in its group: bridge, rng, the
# two disks, the NIC.
IOMMU_GROUP_DEVICES=0000:00:00.0,0000:00:01.0,0000:00:02.0,0000:00:03.0,0000:00:04.0

# ir_ok INTREMAP SAID VIRTIO REMAPPED IOAPIC: with intremap=on the kernel
# says "Enabled IRQ remapping in ... mode", and all its VIRTIO interrupt
# lines (MSI-X) and some IOAPIC ones are on the IR-* irqchips (REMAPPED,
# IOAPIC); with it off, none.
ir_ok() {
	at_least "$3" 1 || return 1
	if [[ $1 == on ]]; then
		[[ $2 == Enabled_IRQ_remapping_in_* && $4 == "$3" ]] && at_least "$5" 1
	else
		[[ -z $2 && $4 == 0 && $5 == 0 ]]
	fi
}

# check_iommu LOG CASE CPUS INTREMAP
check_iommu() {
	local log=$1 name=$2 cpus=$3 intremap=$4 rc failed_before=$TAP_FAILED v
	echo "# case $name: $(case_summary "$log" "$name"); $(grep -m 1 "^LAB-CASE-ARGS name=$name " "$log" | cut -d' ' -f3-)"
	v=$(l2_result "$log" "$name" iommu_vtd)
	tap "$name: the guest's intel_iommu driver runs the DMAR unit (\"DMAR: Intel(R) Virtualization Technology for Directed I/O\" $v times)" \
		test "$v" = 1
	v=$(l2_result "$log" "$name" iommu_strict)
	tap "$name: strict invalidation (\"TLB invalidation policy: strict mode\" $v times)" test "$v" = 1
	local virtio remapped ioapic
	v=$(l2_result "$log" "$name" iommu_ir)
	virtio=$(l2_result "$log" "$name" iommu_virtio_irqs)
	remapped=$(l2_result "$log" "$name" iommu_ir_msi)
	ioapic=$(l2_result "$log" "$name" iommu_ir_ioapic)
	tap "$name: interrupt remapping $intremap (saw ${v:-no IRQ remapping line}; ${remapped:-?} of ${virtio:-?} virtio MSI-X interrupts and ${ioapic:-?} IOAPIC ones on IR- irqchips)" \
		ir_ok "$intremap" "$v" "$virtio" "$remapped" "$ioapic"
	v=$(l2_result "$log" "$name" iommu_groups)
	tap "$name: /sys/kernel/iommu_groups lists every PCI function (saw ${v:-none})" \
		test "$v" = "$IOMMU_GROUP_DEVICES"
	v=$(l2_result "$log" "$name" iommu_probe)
	tap "$name: the test hook's DMA by virtio-rng to unmapped IOVA 0xdead0000 is refused by vmon's IOMMU (outcome ${v:-none}, 0x01 = refused)" \
		test "$v" = 0x01
	v=$(l2_result "$log" "$name" iommu_fault)
	tap "$name: the guest logs it as a DMAR write fault of 00:01.0 at 0xdead0000 (saw ${v:-none})" \
		test "${v%%_fault_addr*}" = "[DMA_Write_NO_PASID]_Request_device_[00:01.0]"
	v=$(l2_result "$log" "$name" cpus)
	tap "$name: the guest carries on: sees $cpus CPUs (saw ${v:-none})" test "$v" = "$cpus"
	check_disks "$log" "$name" virtio-pci
	check_nic "$log" "$name" 0 virtio-pci
	check_transfers "$log" "$name"
	v=$(l2_result "$log" "$name" iommu_faults)
	tap "$name: no DMAR fault but the probe's in the whole run (saw ${v:-none})" test "$v" = 1
	rc=$(lab_field "$log" "LAB-CASE-END name=$name " rc)
	tap "$name: power-off ends the VMM with status 0 (got ${rc:-none})" test "$rc" = 0
	show_case_tail "$log" "$name" "$failed_before"
}

# show_case_tail LOG CASE FAILED_BEFORE: the case's last L2 lines, if a
# check failed since FAILED_BEFORE.
show_case_tail() {
	if ((TAP_FAILED > $3)); then
		echo "# last L2 lines of case $2:"
		l2_lines "$1" "$2" | tail -n 25 | sed 's/^/#   /' | grep . ||
			echo "#   (none)"
	fi
}

# check_net_l1 LOG: L1 has TAP, vhost-net and iproute2 (1 test point).
check_net_l1() {
	local line seen
	line=$(grep -m 1 '^LAB-L1 net ' "$1" || true)
	seen=${line#LAB-L1 net }
	tap "L1: tun, tap and vhost_net loaded, iproute2's ip present (${seen:-not reported})" \
		test "$line" = "LAB-L1 net tun=ok vhost_net=ok iproute2=ok"
}

# tap_skip NAME REASON: a test point that does not apply to this VMM.
tap_skip() {
	TAP_COUNT=$((TAP_COUNT + 1))
	echo "ok $TAP_COUNT - $1 # SKIP $2"
}

# l2_lines LOG CASE: the L2 output of CASE, without prefix.
l2_lines() {
	sed -n "s/^L2:$2| //p" "$1"
}

# l2_result LOG CASE KEY: value of the guest's last "LAB-RESULT KEY=..." line.
l2_result() {
	l2_lines "$1" "$2" | grep -o "LAB-RESULT $3=[^ ]*" | tail -n 1 |
		cut -d= -f2- || true
}

is_int() { [[ $1 =~ ^-?[0-9]+$ ]]; }
skew_ok() { is_int "$1" && (($1 >= -CLOCK_SKEW_MAX && $1 <= CLOCK_SKEW_MAX)); }
# (grep without -q reads all input: no SIGPIPE for the writer under pipefail)
has_marker() { l2_lines "$1" "$2" | grep 'VMON-USERSPACE-UP' >/dev/null; }
l1_done() { [[ $1 == 0 ]] && grep -q '^LAB-L1-DONE' "$2"; }

# case_summary LOG CASE: how the case ran, for a TAP comment.
case_summary() {
	local begin end
	begin=$(grep -m 1 "^LAB-CASE-BEGIN name=$2 " "$1" || true)
	end=$(grep -m 1 "^LAB-CASE-END name=$2 " "$1" || true)
	[[ -n $begin ]] || { echo "never started"; return; }
	local what=${begin#LAB-CASE-BEGIN name="$2" }
	what=${what% uptime=*}
	if [[ -z $end ]]; then
		echo "$what, never ended"
		return
	fi
	awk -v b="${begin##*uptime=}" -v e="${end##*uptime=}" -v w="$what" \
		'BEGIN { printf "%s, %.1f s in L1\n", w, e - b }'
}

# check_case LOG CASE EXPECTED_STATUS EVENT: the four assertions of a case.
check_case() {
	local log=$1 name=$2 want_rc=$3 event=$4
	local cpus g_epoch l1_epoch rc skew=
	local failed_before=$TAP_FAILED

	tap "$name: guest reached userspace (VMON-USERSPACE-UP)" \
		has_marker "$log" "$name"

	cpus=$(l2_result "$log" "$name" cpus)
	tap "$name: guest sees $L2_CPUS CPUs in /proc/cpuinfo (saw ${cpus:-none})" \
		test "$cpus" = "$L2_CPUS"

	g_epoch=$(l2_result "$log" "$name" epoch)
	l1_epoch=$(lab_field "$log" "LAB-CASE-END name=$name " l1_epoch)
	if is_int "$g_epoch" && is_int "$l1_epoch"; then
		skew=$((l1_epoch - g_epoch))
	fi
	tap "$name: guest clock within ${CLOCK_SKEW_MAX}s of L1's (L1 - guest: ${skew:-none}${skew:+ s})" \
		skew_ok "${skew:-none}"

	local bridge rng rng_bytes
	bridge=$(l2_result "$log" "$name" pci_bridge)
	rng=$(l2_result "$log" "$name" rng)
	rng_bytes=$(l2_result "$log" "$name" rng_bytes)
	if [[ ${LAB_L2_VMM:-vmon} == qemu ]]; then
		tap_skip "$name: guest enumerates the PCI host bridge 00:00.0" "microvm has no PCI"
		tap_skip "$name: virtio-rng over virtio-pci" "microvm has no PCI"
		tap_skip "$name: lspci" "microvm has no PCI"
		for _ in $(seq "$DISK_CHECKS"); do
			tap_skip "$name: virtio-blk" "the QEMU peer runs without disks here"
		done
	else
		tap "$name: guest enumerates the PCI host bridge 00:00.0 as 1b36:0008 (saw ${bridge:-none})" \
			test "$bridge" = "0x1b36:0x0008:"
		tap "$name: virtio-rng over virtio-pci: driver ${rng:-none}, read ${rng_bytes:-no} bytes of 64" \
			test "${rng%%.*}/$rng_bytes" = "virtio_rng/64"
		local lspci
		lspci=$(l2_result "$log" "$name" lspci)
		tap "$name: lspci: bridge, virtio-rng and virtio-blk with their IDs, a 32 KiB BAR and MSI-X enabled (saw ${lspci:-none})" \
			test "$lspci" = "00:00.0=1b36:0008,00:01.0=1af4:1044,00:02.0=1af4:1042,bar=1,msix=1"
		check_disks "$log" "$name"
	fi

	rc=$(lab_field "$log" "LAB-CASE-END name=$name " rc)
	tap "$name: VMM exit status $want_rc on guest $event (got ${rc:-none})" \
		test "$rc" = "$want_rc"

	if ((TAP_FAILED > failed_before)); then
		echo "# last L2 lines of case $name:"
		l2_lines "$log" "$name" | tail -n 25 | sed 's/^/#   /' | grep . ||
			echo "#   (none)"
	fi
}

main() {
	[[ $# == 1 || $# == 2 ]] || lab_die "usage: $0 BUILD_DIR VMON_BINARY"
	local vmm=${LAB_L2_VMM:-vmon} vmon=${2:-}
	case $vmm in
	vmon)
		[[ -x $vmon ]] || lab_die "VMON_BINARY '$vmon' is not an executable"
		vmon=$(readlink -f "$vmon")
		;;
	qemu) vmon= ;; # not needed in L1
	*) lab_die "LAB_L2_VMM must be vmon or qemu, not '$vmm'" ;;
	esac

	local cases=${LAB_CASES:-base,net,api,migrate,iommu} base=no net=no api=no migrate=no iommu=no net_skip=
	[[ ,$cases, == *,base,* ]] && base=yes
	[[ ,$cases, == *,iommu,* && $vmm == vmon ]] && iommu=yes
	[[ ,$cases, == *,net,* ]] && net=yes
	[[ ,$cases, == *,api,* && $vmm == vmon ]] && api=yes
	[[ ,$cases, == *,migrate,* && $vmm == vmon ]] && migrate=yes
	[[ $base == yes || $net == yes || $api == yes || $migrate == yes || $iommu == yes ]] ||
		lab_die "LAB_CASES must name base, net, api, migrate and/or iommu (api, migrate, iommu: vmon only), not '$cases'"
	if [[ $net == yes && $vmm == vmon ]] && ! lab_has_option "$vmon" --net; then
		net_skip="$vmon has no --net option"
		lab_log "skipping the virtio-net cases: $net_skip"
		cases=${cases//net/}
	fi

	"$LAB_SRC_DIR/prepare.sh" "$1"
	lab_init "$1"
	lab_lock l1
	local tmp log=$LAB_OUT/test.log
	# 4 base cases, 3 net cases, the api, the migrate and the 2 iommu cases
	# take 5-6 min in all; the bound is for a hang.
	local l1_timeout=${LAB_L1_TIMEOUT:-$((11 * LAB_L2_TIMEOUT + 60))}
	lab_tmpdir tmp
	# The guest's mkfs.ext4 is in the test's L2 initramfs; L1 checks the
	# image with e2fsck and debugfs.
	LAB_L1_L2_CPIO=$LAB_L2_TEST_CPIO
	lab_build_l1_initramfs "$tmp/l1.cpio" test "$LAB_SRC_DIR/l1-job-test.sh" "$vmon" \
		/sbin/e2fsck /sbin/debugfs /usr/bin/curl "$LAB_BIN/pinggap"

	local plan=2
	[[ $base == yes ]] && plan=$((plan + (7 + DISK_CHECKS) * ${#CASES[@]} + KILL_CHECKS + HVC_CHECKS))
	[[ $net == yes ]] && plan=$((plan + 1 + NET_CHECKS * ${#NET_CASES[@]} + NET_MQ_CHECKS))
	[[ $api == yes ]] && plan=$((plan + API_CHECKS))
	[[ $migrate == yes ]] && plan=$((plan + MIG_CHECKS))
	[[ $iommu == yes ]] && plan=$((plan + IOMMU_CHECKS * ${#IOMMU_CASES[@]}))
	echo "1..$plan"
	local l1_rc=0 start=$SECONDS failed_before_l1
	lab_run_l1 "$tmp/l1.cpio" "$l1_timeout" "$log" "lab.job=test lab.vmm=$vmm lab.cases=${cases:-none}" || l1_rc=$?
	lab_log "L1 exited with status $l1_rc after $((SECONDS - start))s"

	tap "L1: kvm-amd loaded and /dev/kvm present" \
		grep -q '^LAB-L1 kvm=ok' "$log"
	local l1_failed=$TAP_FAILED

	local spec name want_rc event
	if [[ $base == yes ]]; then
		for spec in "${CASES[@]}"; do
			IFS=: read -r name want_rc event <<<"$spec"
			echo "# case $name: $(case_summary "$log" "$name")"
			check_case "$log" "$name" "$want_rc" "$event"
		done
		check_kill "$log" kill
		check_hvc "$log" hvc
	fi
	if [[ $net == yes && -n $net_skip ]]; then
		net_skip "virtio-net" $((1 + NET_CHECKS * ${#NET_CASES[@]} + NET_MQ_CHECKS)) "$net_skip"
	elif [[ $net == yes ]]; then
		check_net_l1 "$log"
		check_net "$log" net-vhost on off
		check_net "$log" net-novhost off on
		check_net_mq "$log" net-mq
	fi
	[[ $api == yes ]] && check_api "$log" api
	[[ $migrate == yes ]] && check_migrate "$log" migrate
	if [[ $iommu == yes ]]; then
		local spec_cpus spec_ir
		for spec in "${IOMMU_CASES[@]}"; do
			IFS=: read -r name spec_cpus spec_ir <<<"$spec"
			check_iommu "$log" "$name" "$spec_cpus" "$spec_ir"
		done
	fi

	failed_before_l1=$TAP_FAILED
	tap "L1: job finished and L1 powered off within ${l1_timeout}s (status $l1_rc)" \
		l1_done "$l1_rc" "$log"
	l1_failed=$((l1_failed + TAP_FAILED - failed_before_l1))

	# The cases show their own L2 lines; L1 trouble needs the whole end.
	if ((l1_failed)); then
		echo "# last lines of $log:"
		lab_tail "$log" 40
	fi
	lab_log "$((TAP_COUNT - TAP_FAILED)) passed, $TAP_FAILED failed"
	((TAP_FAILED == 0))
}

main "$@"
