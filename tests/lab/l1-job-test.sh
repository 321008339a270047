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
# net (net-vhost, net-novhost, net-mq) and api (the management API, vmon
# only); default all three.  The api case also prints
#   LAB-API-CALL name=NAME status=CODE body=ANSWER   (each curl call)
#   LAB-API KEY=VALUE ...                            (ticks, the 1,000 calls)
#   L1:metrics:api| <each line of the metrics file>

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

# disk_args VMM: vmon's --disk options (QEMU's microvm runs without disks here).
disk_args() {
	[ "$1" = vmon ] || return 0
	echo "--disk path=/tmp/vda.img,serial=VMONDISK1"
	echo "--disk path=/tmp/vdb.img,transport=mmio,readonly=on,serial=VMONDISK2"
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
run_net_case() {
	_name=$1 _cpus=$2
	shift 2
	_vmm=$(cmdline_value lab.vmm vmon)
	echo "LAB-CASE-BEGIN name=$_name vmm=$_vmm kernel=/lab/bzImage scenario=net uptime=$(uptime_s)"
	_args='' _nics='' _queues=1
	_append="console=ttyS0 lab.scenario=net"
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

_cases=$(cmdline_value lab.cases base,net,api)
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
*,api,*)
	[ "$(cmdline_value lab.vmm vmon)" = vmon ] && run_api_case api
	;;
esac
