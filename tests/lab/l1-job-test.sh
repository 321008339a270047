# shellcheck shell=sh
# L1 job "test" (sourced by /init, see l1-init.sh): the end-to-end cases of
# tests/lab/run.sh.  It only runs the L2 guests and reports raw facts; the
# host decides what passes.
#
# For each case it prints:
#   LAB-CASE-BEGIN name=NAME vmm=VMM kernel=FILE scenario=SCENARIO uptime=S
#   L2:NAME| <each line of the VMM's stdout and stderr>
#   LAB-CASE-END name=NAME rc=EXIT_STATUS [fsynced=HOW] l1_epoch=SECONDS uptime=S
#   LAB-CASE-DISK name=NAME vda_file_md5=MD5
#   LAB-CASE-EXT4 name=NAME e2fsck_rc=N e2fsck_notes=N files=NAME:MD5,...
#   L1:e2fsck:NAME| <each line of e2fsck's output>   (these two: checks cases)
#   LAB-CASE-NET name=NAME recv_sha=SHA recv_bytes=N recv_end=exited|killed
#       send_end=exited|killed sent_sha=SHA host_pingN=RECEIVED/SENT
#       tapN_rx_packets=N tapN_tx_packets=N  (net cases)
# where l1_epoch is L1's `date +%s` taken right after the VMM exited, uptime
# L1's /proc/uptime (for how long the case took), and the disk lines what
# /tmp/vda.img holds once the VMM is gone (see l2-init.sh for its layout).
# In the net cases, recv is what L1 received from the guest and send what
# it sent to it (l1-net.sh).
#
# lab.cases=LIST picks the groups of cases: base (bzimage, pvh, kill, hvc),
# net (net-vhost, net-novhost, net-mq), api (the management API, vmon
# only), migrate (snapshot, restore and live migration, vmon only) and
# iommu (the emulated VT-d, vmon only); default all five.  The api case also prints
#   LAB-API-CALL name=NAME status=CODE body=ANSWER   (each curl call)
#   LAB-API KEY=VALUE ...                            (ticks, the 1,000 calls)
#   L1:metrics:api| <each line of the metrics file>
# and the migrate case its own (see run_migrate_case).

# The raw region of /dev/vda, as in l2-init.sh: 4 KiB blocks from 24 MiB on.
RAW_BLOCK=6144
RAW_CHECK_BLOCKS=64  # what the checks scenarios write there
RAW_KILL_BLOCKS=1024 # what fsync-then-wait writes there

# make_disks: a blank 32 MiB image for a virtio-blk on PCI, and a 16 MiB
# one starting with "VMONDISK" for a read-only virtio-blk on virtio-mmio.
make_disks() {
	dd if=/dev/zero of=/tmp/vda.img bs=1M count=32 2>/dev/null
	{ printf 'VMONDISK'; head -c $((16 * 1024 * 1024 - 8)) /dev/zero; } >/tmp/vdb.img
}

# disk_args VMM [TRANSPORT]: vmon's --disk options (QEMU's microvm runs
# without disks here); the read-only disk on virtio-mmio unless TRANSPORT.
disk_args() {
	[ "$1" = vmon ] || return 0
	echo "--disk path=/tmp/vda.img,serial=VMONDISK1"
	echo "--disk path=/tmp/vdb.img,transport=${2:-mmio},readonly=on,serial=VMONDISK2"
}

uptime_s() { cut -d' ' -f1 /proc/uptime; }

# case_begin NAME KERNEL SCENARIO: the LAB-CASE-BEGIN line, on fresh disks.
case_begin() {
	make_disks
	echo "LAB-CASE-BEGIN name=$1 vmm=$(cmdline_value lab.vmm vmon) kernel=$2 scenario=$3 uptime=$(uptime_s)"
}

# report_raw NAME BLOCKS: md5 of BLOCKS x 4 KiB of the image at RAW_BLOCK.
report_raw() {
	echo "LAB-CASE-DISK name=$1 vda_file_md5=$(dd if=/tmp/vda.img bs=4096 skip=$RAW_BLOCK count="$2" 2>/dev/null | md5sum | cut -d' ' -f1)"
}

# ext4_files IMAGE: NAME:MD5 of each regular file in the root directory of
# the ext4 in IMAGE, read with debugfs, sorted by name and comma-separated.
# (`ls -p` prints /inode/mode/uid/gid/name/size/ per entry.)
ext4_files() {
	for _n in $(debugfs -R 'ls -p /' "$1" 2>/dev/null |
		awk -F/ '$3 ~ /^100/ { print $6 }' | sort); do
		echo "$_n:$(debugfs -R "cat /$_n" "$1" 2>/dev/null | md5sum | cut -d' ' -f1)"
	done | paste -sd, -
}

# report_ext4 NAME: is the image's ext4 clean, and which files does it hold.
# e2fsck -fn checks everything and changes nothing.  Its exit status alone
# is not enough: it is 0 also for a file system that was never unmounted
# ("skipping journal recovery", wrong free counts: "Fix? no").  So the
# notes are the lines of its output other than the banner, the five
# "Pass N" lines and the summary; a clean file system has none.
report_ext4() {
	e2fsck -fn /tmp/vda.img >/tmp/e2fsck.out 2>&1
	_fsck_rc=$?
	sed "s/^/L1:e2fsck:$1| /" /tmp/e2fsck.out
	_notes=$(grep -cvE '^(e2fsck [0-9]|Pass [1-5]: |/tmp/vda.img: [0-9]+/[0-9]+ files )' /tmp/e2fsck.out)
	echo "LAB-CASE-EXT4 name=$1 e2fsck_rc=$_fsck_rc e2fsck_notes=$_notes files=$(ext4_files /tmp/vda.img)"
}

# run_case NAME KERNEL SCENARIO: boot L2, relay its output, wait for the
# VMM to exit (bounded by L2_TIMEOUT), then report what the image holds.
run_case() {
	_name=$1 _kernel=$2 _scenario=$3
	_vmm=$(cmdline_value lab.vmm vmon)
	case_begin "$_name" "$_kernel" "$_scenario"
	{
		# shellcheck disable=SC2046 # the options are split on purpose
		run_vmm "timeout -s KILL $L2_TIMEOUT" "$_vmm" "$_kernel" 2 \
			"console=ttyS0 lab.scenario=$_scenario" $(disk_args "$_vmm") </dev/null
		echo "$? $(date +%s)" >/tmp/case.status
	} 2>&1 | sed "s/^/L2:$_name| /"
	read -r _rc _epoch </tmp/case.status
	echo "LAB-CASE-END name=$_name rc=$_rc l1_epoch=$_epoch uptime=$(uptime_s)"
	report_raw "$_name" "$RAW_CHECK_BLOCKS"
	report_ext4 "$_name"
}

# run_kill_case NAME KERNEL: durability across SIGKILL.  The guest writes
# RAW_KILL_BLOCKS to /dev/vda with fsync and then prints LAB-FSYNCED; the
# moment that line comes out of the VMM, the VMM gets SIGKILL.  What fsync
# acknowledged to the guest must be in the image file nonetheless.
run_kill_case() {
	_name=$1 _kernel=$2 _scenario=fsync-then-wait
	_vmm=$(cmdline_value lab.vmm vmon)
	case_begin "$_name" "$_kernel" "$_scenario"
	rm -f /tmp/kill.fifo
	mkfifo /tmp/kill.fifo
	# exec: the background job becomes the VMM itself, so $! is its pid
	# (busybox timeout forks its watcher and execs the command in place).
	# shellcheck disable=SC2046 # the options are split on purpose
	run_vmm "exec timeout -s KILL $L2_TIMEOUT" "$_vmm" "$_kernel" 2 \
		"console=ttyS0 lab.scenario=$_scenario" $(disk_args "$_vmm") \
		</dev/null >/tmp/kill.fifo 2>&1 &
	_pid=$!
	# Relay the VMM's output as it comes (no polling: L1 has one vCPU,
	# which the guest needs).  The loop ends at EOF, once the VMM is gone:
	# killed here, exited on its own, or killed by the timeout.
	_fsynced=no
	while IFS= read -r _line; do
		echo "L2:$_name| $_line"
		case $_line in
		LAB-FSYNCED*)
			kill -KILL "$_pid"
			_fsynced=seen
			;;
		esac
	done </tmp/kill.fifo
	wait "$_pid"
	_rc=$?
	echo "LAB-CASE-END name=$_name rc=$_rc fsynced=$_fsynced l1_epoch=$(date +%s) uptime=$(uptime_s)"
	report_raw "$_name" "$RAW_KILL_BLOCKS"
}

# run_hvc_case NAME KERNEL: the terminal on a virtio-console (hvc0) instead
# of COM1. The guest writes to /dev/hvc0 and echoes back the line L1 sends
# on vmon's standard input, which only hvc0 can carry to it. Debian builds
# virtio_console as a module, so hvc0 exists only once init loads it:
# console=ttyS0 gives /dev/console something to open at boot (COM1 has no
# backend with --console virtio, so whatever goes there is dropped).
run_hvc_case() {
	_name=$1 _kernel=$2 _scenario=hvc
	case_begin "$_name" "$_kernel" "$_scenario"
	rm -f /tmp/hvc.in /tmp/hvc.out
	mkfifo /tmp/hvc.in /tmp/hvc.out
	run_vmm "timeout -s KILL $L2_TIMEOUT" vmon "$_kernel" 1 \
		"console=ttyS0 console=hvc0 lab.scenario=$_scenario" --console virtio \
		</tmp/hvc.in >/tmp/hvc.out 2>&1 &
	_pid=$!
	exec 4>/tmp/hvc.in # the VMM's terminal input, held open until we typed
	# Type only once the guest holds /dev/hvc0 open, as a person would.
	while IFS= read -r _line; do
		echo "L2:$_name| $_line"
		case $_line in
		"LAB-HVC out=ok"*)
			echo "ping-from-l1" >&4
			exec 4>&-
			;;
		esac
	done </tmp/hvc.out
	exec 4>&- 2>/dev/null
	wait "$_pid"
	_rc=$?
	_epoch=$(date +%s)
	echo "LAB-CASE-END name=$_name rc=$_rc l1_epoch=$_epoch uptime=$(uptime_s)"
}

# run_net_case NAME CPUS NIC...: virtio-net (l2-init.sh's net scenario).
# Each NIC is N:QUEUES:VHOST:TRANSPORT (see net_nic_args in l1-net.sh) and
# gets a fresh tapN (see net_tap).  L1 listens for NIC 0's two transfers
# before the VMM starts, and pings every NIC when the guest prints
# "LAB-NET ready".
#
# NET_SCENARIO (default net), NET_APPEND and NET_ARGS add to the guest's
# scenario, command line and the VMM's options; with NET_DISKS=pci the case
# also has both disks, on PCI, and reports them like run_case.
run_net_case() {
	_name=$1 _cpus=$2
	shift 2
	_vmm=$(cmdline_value lab.vmm vmon)
	_scenario=${NET_SCENARIO:-net}
	if [ -n "${NET_DISKS:-}" ]; then
		case_begin "$_name" /lab/bzImage "$_scenario"
	else
		echo "LAB-CASE-BEGIN name=$_name vmm=$_vmm kernel=/lab/bzImage scenario=$_scenario uptime=$(uptime_s)"
	fi
	_args="${NET_ARGS:-}" _nics='' _queues=1
	[ -n "${NET_DISKS:-}" ] && _args="$_args $(disk_args "$_vmm" "$NET_DISKS" | tr '\n' ' ')"
	_append="console=ttyS0 lab.scenario=$_scenario ${NET_APPEND:-}"
	for _nic in "$@"; do
		_n=${_nic%%:*} _r=${_nic#*:}
		_q=${_r%%:*} _r=${_r#*:}
		_vhost=${_r%%:*} _transport=${_r#*:}
		# multi_queue TAPs as the issue has them, also for one queue
		# (vmon follows the TAP); QEMU needs them to match its queues.
		_mq=yes
		[ "$_vmm" = qemu ] && [ "$_q" = 1 ] && _mq=no
		net_tap "$_n" "$_mq" || echo "LAB-ERROR could not make tap$_n"
		_args="$_args $(net_nic_args "$_vmm" "$_n" "$_q" "$_vhost" "$_transport")"
		_append="$_append lab.nic$_n=$(net_mac "$_n"),$(net_guest_addr "$_n")/24,$(net_host_addr "$_n")"
		_nics="$_nics $_n"
		[ "$_n" = 0 ] && _queues=$_q
	done
	_append="$_append lab.net_queues=$_queues lab.net_echoes=$((3 * $(echo "$_nics" | wc -w)))"
	[ "$_vmm" = vmon ] && _args="$_args --stats"
	echo "LAB-CASE-ARGS name=$_name$_args"
	net_listen "$L2_TIMEOUT"
	rm -f /tmp/net.fifo /tmp/net.pings
	mkfifo /tmp/net.fifo
	# shellcheck disable=SC2086 # the options are split on purpose
	run_vmm "exec timeout -s KILL $L2_TIMEOUT" "$_vmm" /lab/bzImage "$_cpus" \
		"$_append" $_args </dev/null >/tmp/net.fifo 2>&1 &
	_pid=$!
	# The VMM is this shell's only child while it relays (see l1-net.sh).
	while IFS= read -r _line; do
		echo "L2:$_name| $_line"
		case $_line in
		"LAB-NET ready"*)
			# shellcheck disable=SC2086 # a list of NIC numbers
			net_ping_guests $_nics
			;;
		esac
	done </tmp/net.fifo
	wait "$_pid"
	_rc=$?
	echo "LAB-CASE-END name=$_name rc=$_rc l1_epoch=$(date +%s) uptime=$(uptime_s)"
	_pings=$(net_pings)
	_recv_end=$(net_stop /tmp/net.rx.pid)
	_send_end=$(net_stop /tmp/net.tx.pid)
	_stats=
	for _n in $_nics; do
		_stats="$_stats $(net_tap_stats "$_n")"
	done
	echo "LAB-CASE-NET name=$_name recv_sha=$(sha256sum </tmp/net.rx | cut -d' ' -f1) recv_bytes=$(wc -c </tmp/net.rx) recv_end=$_recv_end send_end=$_send_end sent_sha=$NET_TX_SHA $_pings$_stats"
	if [ -n "${NET_DISKS:-}" ]; then
		report_raw "$_name" "$RAW_CHECK_BLOCKS"
		report_ext4 "$_name"
	fi
}

# run_iommu_case NAME CPUS IOMMU: the guest behind `--iommu IOMMU` with
# intel_iommu=on iommu.strict=1 (Linux 6.1 ignores the older iommu=strict
# on x86 and stays lazy), both disks and one NIC on PCI, and vmon's
# DMA test hook: the IOMMU checks, then the checks and the network checks
# of the other cases, unchanged (l2-init.sh's iommu scenario).
run_iommu_case() {
	NET_SCENARIO=iommu NET_DISKS=pci NET_APPEND="intel_iommu=on iommu.strict=1" \
		NET_ARGS="--iommu $3 --test-hooks" run_net_case "$1" "$2" 0:1:off:pci
}

# --- the management API case ---

API_SOCK=/tmp/api.sock

# api_call NAME METHOD PATH [BODY]: one call with curl; prints
# "LAB-API-CALL name=NAME status=CODE body=ANSWER".
api_call() {
	_n=$1 _m=$2 _p=$3 _data=${4-}
	if [ $# -ge 4 ]; then
		set -- -d "$_data"
	else
		set --
	fi
	_code=$(/lab/bin/curl -s -o /tmp/api.body -w '%{http_code}' --max-time 30 \
		--unix-socket "$API_SOCK" -X "$_m" "$@" "http://localhost$_p")
	echo "LAB-API-CALL name=$_n status=$_code body=$(head -c 300 /tmp/api.body | tr -d '\n')"
}

# api_thousand_calls: 1,000 calls on one curl (GETs, FlushMetrics and
# resumes of the running VM, in turn), counted by their status.
api_thousand_calls() {
	: >/tmp/api.curlrc
	_i=0
	while [ $_i -lt 1000 ]; do
		[ $_i -gt 0 ] && echo next # (next resets every option: each transfer names the socket)
		case $((_i % 5)) in
		0) echo 'url = "http://localhost/"' ;;
		1) echo 'url = "http://localhost/vm/config"' ;;
		2) echo 'url = "http://localhost/machine-config"' ;;
		3) printf '%s\n' 'request = "PUT"' 'data = "{\"action_type\": \"FlushMetrics\"}"' \
			'url = "http://localhost/actions"' ;;
		4) printf '%s\n' 'request = "PATCH"' 'data = "{\"state\": \"Resumed\"}"' 'url = "http://localhost/vm"' ;;
		esac
		printf '%s\n' "unix-socket = \"$API_SOCK\"" 'output = "/dev/null"' 'write-out = "%{http_code}\n"'
		_i=$((_i + 1))
	done >>/tmp/api.curlrc
	_t0=$(uptime_s)
	/lab/bin/curl -s -K /tmp/api.curlrc >/tmp/api.codes
	echo "LAB-API calls=$(wc -l </tmp/api.codes) ok=$(grep -cE '^20[04]$' /tmp/api.codes) seconds=$(echo "$_t0 $(uptime_s)" | awk '{ print $2 - $1 }')"
}

# api_ticks_for SECONDS WHAT: relays the guest's lines for SECONDS, counting
# its LAB-TICK lines; prints "LAB-API WHAT_ticks=N".
api_ticks_for() {
	_end=$(($(date +%s) + $1)) _ticks=0
	while [ "$(date +%s)" -lt $_end ]; do
		if read -t 1 -r _line <&5; then
			echo "L2:api| $_line"
			case $_line in LAB-TICK*) _ticks=$((_ticks + 1)) ;; esac
		fi
	done
	echo "LAB-API $2_ticks=$_ticks"
}

# api_configure: the VM through the API, as an orchestrator would build it.
api_configure() {
	api_call boot-source PUT /boot-source \
		'{"kernel_image_path": "/lab/bzImage", "initrd_path": "/lab/l2.cpio", "boot_args": "console=ttyS0 lab.scenario=api"}'
	api_call machine-config PUT /machine-config "{\"vcpu_count\": 2, \"mem_size_mib\": ${L2_MEMORY%M}}"
	api_call drive PUT /drives/scratch \
		'{"drive_id": "scratch", "path_on_host": "/tmp/vda.img", "is_root_device": false, "cache_type": "Writeback"}'
	api_call metrics PUT /metrics '{"metrics_path": "/tmp/api-metrics.json"}'
	api_call start PUT /actions '{"action_type": "InstanceStart"}'
}

# api_react LINE: what L1 does when the guest reaches a step of api_scenario.
api_react() {
	case $1 in
	"LAB-API ticking"*)
		api_ticks_for 3 running
		api_call info-running GET /
		api_call pause PATCH /vm '{"state": "Paused"}'
		api_call info-paused GET /
		api_ticks_for 4 paused
		api_call resume PATCH /vm '{"state": "Resumed"}'
		api_ticks_for 4 resumed
		echo go >&4
		;;
	"LAB-API workload-start"*)
		api_thousand_calls
		echo calls-done >&4
		;;
	"LAB-API swap-ready"*)
		{ printf 'SWAPDISK'; head -c $((16 * 1024 * 1024 - 8)) /dev/zero; } >/tmp/swap.img
		api_call swap PATCH /drives/scratch '{"drive_id": "scratch", "path_on_host": "/tmp/swap.img"}'
		echo swapped >&4
		;;
	"LAB-API cad-ready"*)
		api_call ctrl-alt-del PUT /actions '{"action_type": "SendCtrlAltDel"}'
		;;
	esac
}

# run_api_case NAME: vmon --api-sock, configured, started, paused, resumed,
# called 1,000 times during a workload, its drive swapped, and ended by
# Ctrl-Alt-Del, all through the API with curl; the guest checks its disk.
run_api_case() {
	_name=$1
	case_begin "$_name" /lab/bzImage api
	rm -f /tmp/api.in /tmp/api.out "$API_SOCK" /tmp/api-metrics.json
	mkfifo /tmp/api.in /tmp/api.out
	timeout -s KILL $((2 * L2_TIMEOUT)) /lab/bin/vmon --api-sock "$API_SOCK" \
		</tmp/api.in >/tmp/api.out 2>&1 &
	_pid=$!
	exec 4>/tmp/api.in 5</tmp/api.out
	_i=0
	while [ ! -S "$API_SOCK" ] && [ $_i -lt 100 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	api_configure
	while IFS= read -r _line <&5; do
		echo "L2:$_name| $_line"
		api_react "$_line"
	done
	exec 4>&- 5<&-
	wait "$_pid"
	_rc=$?
	echo "LAB-CASE-END name=$_name rc=$_rc l1_epoch=$(date +%s) uptime=$(uptime_s)"
	sed "s/^/L1:metrics:$_name| /" /tmp/api-metrics.json 2>/dev/null
}

# --- the snapshot and live migration case (vmon only) ---
#
# One guest (l2-init.sh's migrate scenario: memcheck, a checked file write
# loop on an ext4 on /dev/vda, pings to L1) lives in three vmons in turn:
#   a  vmon --api-sock, configured and started with curl (its NIC on tap0,
#      a multi_queue TAP, and its disk are virtio-mmio, as API devices
#      are); once the guest's memcheck has made a pass: PATCH /vm Paused,
#      PUT /snapshot/create, then SIGKILL
#   b  vmon restore STATE MEM --api-sock: the guest goes on from the
#      snapshot; then vmon ctl migrate --to 127.0.0.1:MIG_PORT moves it
#      live to c, and b exits
#   c  vmon migrate-receive --listen 127.0.0.1:MIG_PORT --allow-disk
#      /tmp/vda.img --allow-tap tap0 --api-sock; L1 types "finish" on its
#      standard input, the guest checks its files and powers off
# After a and after b, L1 waits for the guest to go on (memcheck passes,
# replies to its pings, file writes) and pings it itself.  During the
# migration pinggap pings the guest every 10 ms from L1, on 4 flows in
# turn: the longest time without a reply is the guest-visible pause, the
# longest silence of one flow also counts the time the shared TAP held
# that flow's packets in a queue nobody read.  Prints, besides LAB-CASE-BEGIN/END
# and the ext4 report, the API calls as LAB-API-CALL name=mig-... lines,
# each vmon's output as "L2:migrate.a| " (.b, .c) lines, and the facts as
#   LAB-MIG-L1 KEY=VALUE
MIG_DIR=/tmp/mig
MIG_PORT=4710
MIG_NEW_PASSES=2 # memcheck passes the guest must make in each new vmon
MIG_MEMCHECK=96,16 # MiB checked, of which MiB rewritten (lab.memcheck)

mig_fact() { echo "LAB-MIG-L1 $1=$2"; }

# mig_call SOCK NAME METHOD PATH [BODY]: api_call on another socket.
mig_call() {
	_save=$API_SOCK API_SOCK=$1
	shift
	api_call "$@"
	API_SOCK=$_save
}

# mig_start TAG COMMAND...: COMMAND (a vmon, bounded by 2 x L2_TIMEOUT) in
# the background, its standard input the FIFO $MIG_DIR/TAG.in (which this
# shell holds open), its output kept in TAG.out and relayed to the console
# as "L2:migrate.TAG| " lines as it comes; its pid in TAG.pid (sh writes
# its own, then execs busybox timeout, which execs COMMAND in place).  Once
# COMMAND has ended and all its output is in TAG.out and relayed, its exit
# status is in TAG.rc.  The processes are orphans (see l1-net.sh).
mig_start() {
	_tag=$1
	shift
	: >"$MIG_DIR/$_tag.out"
	(
		(
			{
				# shellcheck disable=SC2016 # for the inner sh
				sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$MIG_DIR/$_tag.pid" \
					timeout -s KILL $((2 * L2_TIMEOUT)) "$@" <"$MIG_DIR/$_tag.in" 2>&1
				echo $? >"$MIG_DIR/$_tag.status"
			} | tee "$MIG_DIR/$_tag.out" | sed "s/^/L2:migrate.$_tag| /"
			mv "$MIG_DIR/$_tag.status" "$MIG_DIR/$_tag.rc"
		) &
	)
	mig_wait 5 test -s "$MIG_DIR/$_tag.pid"
}

# mig_wait SECONDS COMMAND...: until COMMAND succeeds (every 0.5 s); fails
# after SECONDS.
mig_wait() {
	_end=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -lt $_end ] || return 1
		sleep 0.5
	done
}

mig_ended() { [ -s "$MIG_DIR/$1.rc" ]; }
mig_rc() { cat "$MIG_DIR/$1.rc" 2>/dev/null || echo none; }

# mig_passes TAG: the last memcheck pass count TAG's guest printed (0 if none).
mig_passes() {
	_p=$(grep -o 'memcheck: passes=[0-9]*' "$MIG_DIR/$1.out" | tail -n 1 | cut -d= -f2)
	echo "${_p:-0}"
}

# mig_tick TAG KEY: KEY of the last "LAB-MIG tick=" line of TAG (0 if none).
mig_tick() {
	_v=$(grep -o "^LAB-MIG tick=.* $2=[0-9]*" "$MIG_DIR/$1.out" | tail -n 1 | grep -o " $2=[0-9]*" | cut -d= -f2)
	echo "${_v:-0}"
}

# mig_progress TAG PASSES REPLIES WRITES: TAG's guest has made MIG_NEW_PASSES
# memcheck passes beyond PASSES, had replies to its pings beyond REPLIES,
# and written files beyond WRITES.
mig_progress() {
	[ "$(mig_passes "$1")" -ge $(($2 + MIG_NEW_PASSES)) ] &&
		[ "$(mig_tick "$1" in_echo_reps)" -gt "$3" ] &&
		[ "$(mig_tick "$1" file_writes)" -gt "$4" ]
}

# mig_going SECONDS TAG PASSES REPLIES WRITES: waits for mig_progress; fails
# after SECONDS, or at once if TAG's vmon has ended.
mig_going() {
	_secs=$1
	shift
	mig_wait "$_secs" mig_progress_or_end "$@" && mig_progress "$@"
}
mig_progress_or_end() { mig_progress "$@" || mig_ended "$1"; }

# mig_report TAG: what TAG's guest did: its memcheck and ping figures.
mig_report() {
	mig_fact "$1_passes" "$(mig_passes "$1")"
	mig_fact "$1_memcheck_errors" "$(grep -o 'memcheck: .*errors=[0-9]*' "$MIG_DIR/$1.out" | grep -o 'errors=[0-9]*' | cut -d= -f2 | sort -n | tail -n 1)"
	mig_fact "$1_in_echo_reps" "$(mig_tick "$1" in_echo_reps)"
	mig_fact "$1_out_echos" "$(mig_tick "$1" out_echos)"
	mig_fact "$1_file_writes" "$(mig_tick "$1" file_writes)"
	mig_fact "$1_file_errors" "$(mig_tick "$1" file_errors)"
}

mig_has() { grep -q -- "$2" "$MIG_DIR/$1.out"; }
mig_socket() { [ -S "$MIG_DIR/$1.sock" ]; }
# mig_listening: a socket listens on MIG_PORT (state 0A in /proc/net/tcp).
mig_listening() {
	awk -v p=":$(printf %04X $MIG_PORT)" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' /proc/net/tcp
}
ms_since() { echo "$1 $(uptime_s)" | awk '{ printf "%d", ($2 - $1) * 1000 }'; }

# mig_end TAG SECONDS: TAG's vmon has ended within SECONDS, or is killed.
mig_end() {
	mig_wait "$2" mig_ended "$1" || kill -KILL "$(cat "$MIG_DIR/$1.pid")" 2>/dev/null
	mig_wait 5 mig_ended "$1"
}

# mig_phase_a: boot the guest in vmon a; once it works, pause, snapshot,
# kill.  Fails if anything did not happen.
mig_phase_a() {
	_sock=$MIG_DIR/a.sock
	mig_start a /lab/bin/vmon --api-sock "$_sock"
	mig_wait 10 mig_socket a || return 1
	mig_call "$_sock" mig-boot-source PUT /boot-source \
		"{\"kernel_image_path\": \"/lab/bzImage\", \"initrd_path\": \"/lab/l2.cpio\", \"boot_args\": \"console=ttyS0 lab.scenario=migrate lab.nic0=$(net_mac 0),$(net_guest_addr 0)/24,$(net_host_addr 0) lab.memcheck=$MIG_MEMCHECK\"}"
	mig_call "$_sock" mig-machine-config PUT /machine-config "{\"vcpu_count\": 2, \"mem_size_mib\": 256}"
	mig_call "$_sock" mig-drive PUT /drives/vda \
		'{"drive_id": "vda", "path_on_host": "/tmp/vda.img", "is_root_device": false}'
	mig_call "$_sock" mig-net PUT /network-interfaces/eth0 \
		"{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"guest_mac\": \"$(net_mac 0)\"}"
	_t0=$(uptime_s)
	mig_call "$_sock" mig-start PUT /actions '{"action_type": "InstanceStart"}'
	# The guest has booted, made an ext4, filled its memory, verified it
	# once, written a file and had a reply from L1.
	if ! mig_going "$L2_TIMEOUT" a $((1 - MIG_NEW_PASSES)) 0 0; then
		mig_fact a_running no
		return 1
	fi
	mig_fact a_running "$(ms_since "$_t0")"
	mig_fact a_host_ping "$(net_ping "$(net_guest_addr 0)")"
	_t0=$(uptime_s)
	mig_call "$_sock" mig-pause PATCH /vm '{"state": "Paused"}'
	mig_call "$_sock" mig-snapshot PUT /snapshot/create \
		"{\"snapshot_path\": \"$MIG_DIR/vm.state\", \"mem_file_path\": \"$MIG_DIR/vm.mem\"}"
	mig_fact snapshot_ms "$(ms_since "$_t0")"
	mig_fact state_bytes "$(stat -c %s "$MIG_DIR/vm.state" 2>/dev/null)"
	mig_fact mem_bytes "$(stat -c %s "$MIG_DIR/vm.mem" 2>/dev/null)"
	mig_fact mem_alloc_kib "$(du -k "$MIG_DIR/vm.mem" 2>/dev/null | cut -f1)"
	kill -KILL "$(cat "$MIG_DIR/a.pid")"
	mig_end a 10
	mig_fact a_rc "$(mig_rc a)"
}

mig_restore_answered() { grep -q pinggap: "$MIG_DIR/restore.gap" || mig_ended b; }

# mig_phase_b: restore in vmon b; the guest goes on.
mig_phase_b() {
	( pinggap -f -t 30 "$(net_guest_addr 0)" >"$MIG_DIR/restore.gap" 2>&1 & )
	MIG_LAST=b
	mig_start b /lab/bin/vmon restore "$MIG_DIR/vm.state" "$MIG_DIR/vm.mem" --api-sock "$MIG_DIR/b.sock"
	mig_wait 35 mig_restore_answered
	mig_fact restore_first_reply_ms "$(grep -o 'first_reply_ms=[-0-9.]*' "$MIG_DIR/restore.gap" | cut -d= -f2)"
	if ! mig_going 60 b "$(mig_passes a)" "$(mig_tick a in_echo_reps)" "$(mig_tick a file_writes)"; then
		mig_fact b_running no
		return 1
	fi
	mig_fact b_running yes
	mig_fact b_host_ping "$(net_ping "$(net_guest_addr 0)")"
}

# mig_phase_c: migrate live from b to c; b exits, the guest goes on in c.
mig_phase_c() {
	mig_start c /lab/bin/vmon migrate-receive --listen "127.0.0.1:$MIG_PORT" \
		--allow-disk /tmp/vda.img --allow-tap tap0 --api-sock "$MIG_DIR/c.sock"
	# (Its API serves once it has the VM: wait for the port instead.)
	mig_wait 10 mig_listening || return 1
	( pinggap -i 10 -n 4 -t 120 "$(net_guest_addr 0)" >"$MIG_DIR/migrate.gap" 2>&1 &
		echo $! >"$MIG_DIR/gap.pid" )
	sleep 1
	_t0=$(uptime_s)
	timeout -s KILL 120 /lab/bin/vmon ctl --api-sock "$MIG_DIR/b.sock" migrate \
		--to "127.0.0.1:$MIG_PORT" --max-downtime-ms 300 >"$MIG_DIR/migrate.json" 2>"$MIG_DIR/migrate.err"
	_rc=$?
	mig_fact migrate_rc $_rc
	mig_fact migrate_wall_ms "$(ms_since "$_t0")"
	mig_fact migrate_json "$(tr -d ' \n' <"$MIG_DIR/migrate.json")"
	sed 's/^/L1:migrate-err| /' "$MIG_DIR/migrate.err"
	# The guest is in c if b let it go (vmon exits 0 then, see
	# migrate.h); otherwise b still runs it.
	[ $_rc = 0 ] && mig_wait 30 mig_ended b
	mig_ended b && MIG_LAST=c
	mig_end b 1
	mig_fact b_rc "$(mig_rc b)"
	sleep 1
	kill "$(cat "$MIG_DIR/gap.pid")"
	mig_wait 5 grep -q pinggap: "$MIG_DIR/migrate.gap"
	mig_fact migrate_gap "$(sed -n 's/^pinggap: //p' "$MIG_DIR/migrate.gap" | tr ' ' ',')"
	if ! mig_going 60 c "$(mig_passes b)" "$(mig_tick b in_echo_reps)" "$(mig_tick b file_writes)"; then
		mig_fact c_running no
		return 1
	fi
	mig_fact c_running yes
	mig_fact c_host_ping "$(net_ping "$(net_guest_addr 0)")"
}

# mig_finish TAG: type "finish" on TAG's console until the guest says it is
# finishing, then wait for the power-off.
mig_finish() {
	_i=0
	until mig_ended "$1" || mig_has "$1" '^LAB-MIG finishing' || [ $_i -ge 20 ]; do
		echo finish >"$MIG_DIR/$1.in"
		sleep 1
		_i=$((_i + 1))
	done
	mig_end "$1" 60
	mig_fact "$1_rc" "$(mig_rc "$1")"
}

run_migrate_case() {
	_name=$1 MIG_LAST=a
	case_begin "$_name" /lab/bzImage migrate
	rm -rf "$MIG_DIR"
	mkdir -p "$MIG_DIR"
	for _t in a b c; do
		mkfifo "$MIG_DIR/$_t.in"
	done
	# Each vmon's terminal input stays open (read and write) while it runs.
	exec 6<>"$MIG_DIR/a.in" 7<>"$MIG_DIR/b.in" 8<>"$MIG_DIR/c.in"
	# The migration goes over L1's loopback, which /init leaves down.
	/usr/sbin/ip link set lo up
	net_tap 0 yes || echo "LAB-ERROR could not make tap0"
	mig_phase_a && mig_phase_b && mig_phase_c
	# The guest, wherever it is, finishes; what else still runs is killed.
	mig_finish "$MIG_LAST"
	for _t in a b c; do
		[ -s "$MIG_DIR/$_t.pid" ] || continue
		mig_ended $_t || mig_end $_t 1
		mig_report $_t
	done
	kill "$(cat "$MIG_DIR/gap.pid" 2>/dev/null)" 2>/dev/null
	exec 6>&- 7>&- 8>&-
	mig_fact last "$MIG_LAST"
	echo "LAB-CASE-END name=$_name rc=$(mig_rc "$MIG_LAST") l1_epoch=$(date +%s) uptime=$(uptime_s)"
	report_ext4 "$_name"
}

_cases=$(cmdline_value lab.cases base,net,api,migrate,iommu)
case ,$_cases, in
*,base,*)
	run_case bzimage /lab/bzImage checks-poweroff
	run_case pvh /lab/vmlinux checks-reboot
	# QEMU runs without disks here: nothing to kill it over.
	if [ "$(cmdline_value lab.vmm vmon)" = vmon ]; then
		run_kill_case kill /lab/bzImage
		run_hvc_case hvc /lab/bzImage
	fi
	;;
esac
case ,$_cases, in
*,net,*)
	net_make_payload
	# vhost-net and vmon's own data path, each on PCI (NIC 0: pings both
	# ways and the transfers) and on virtio-mmio (NIC 1: pings).
	run_net_case net-vhost 1 0:1:on:pci 1:1:off:mmio
	run_net_case net-novhost 1 0:1:off:pci 1:1:on:mmio
	# Two queue pairs on 2 vCPUs, with the default vhost setting.
	run_net_case net-mq 2 0:2:auto:pci
	;;
esac
case ,$_cases, in
*,iommu,*)
	if [ "$(cmdline_value lab.vmm vmon)" = vmon ]; then
		net_make_payload
		# DMA remapping with vmon's IOAPIC, then interrupt remapping too on 2 vCPUs.
		run_iommu_case iommu-strict 1 intel
		run_iommu_case iommu-ir 2 intel,intremap=on
	fi
	;;
esac
case ,$_cases, in
*,api,*)
	[ "$(cmdline_value lab.vmm vmon)" = vmon ] && run_api_case api
	;;
esac
case ,$_cases, in
*,migrate,*)
	[ "$(cmdline_value lab.vmm vmon)" = vmon ] && run_migrate_case migrate
	;;
esac
