# shellcheck shell=sh
# L1 job "migrate" (sourced by /init, see tests/lab/l1-init.sh): the snapshot
# and live-migration benchmark of bench/migrate.sh.  For each load of
# lab.mig_loads (idle, write) and each VMM of lab.mig_targets (vmon, qemu),
# in that order, one guest (/lab/l2.cpio, bench/l2-migrate-init.sh) lives in
# four VMM processes:
#   a  boots the guest; once it is ready, L1 pauses it, snapshots it into
#      files and lets it run again
#        vmon: --api-sock with --config-file; PATCH /vm Paused, PUT
#              /snapshot/create (state file + memory file), PATCH Resumed
#        QEMU: -qmp; stop, migrate to "exec:cat > FILE" (QEMU's way to
#              save a VM to a file) until query-migrate says completed, cont
#   c  receives a's guest by live migration (m1: a VM that booted) over
#      127.0.0.1:MB_PORT, with a downtime budget of lab.mig_downtime ms,
#      while pinggap pings the guest every 10 ms, on MB_FLOWS flows in turn
#      (the longest time without a reply is the guest-visible pause; a flow
#      that the TAP steers to a queue nobody reads shows as a longer
#      silence of its own); then a and c are killed
#        vmon: vmon migrate-receive --listen --allow-tap tap0; vmon ctl
#              migrate --to
#        QEMU: -incoming tcp:...; migrate-set-parameters downtime-limit,
#              migrate, then query-migrate every 50 ms until completed
#   b  restores the snapshot; pinggap starts b itself and pings the guest
#      every 10 ms until the first reply (restore-to-running)
#        vmon: vmon restore STATE MEM --api-sock
#        QEMU: -incoming "exec:cat FILE"; it comes up paused (it was saved
#              paused), so L1 polls query-status every 10 ms and sends cont
#   d  receives b's guest by live migration, as c did (m2: a restored VM)
# QEMU gets max-bandwidth 100 GiB/s for both of its migrations (its default
# is 32 MiB/s; vmon has no cap).  Both VMMs run the guest with the same
# kernel, initramfs, vCPUs, RAM and command line (QEMU adds reboot=acpi, as
# run_vmm does), its NIC on virtio-mmio with vhost-net on a TAP on the
# bridge br0, which has L1's address (10.0.2.1/24):
#   vmon  all on tap0, made multi_queue: vmon reopens a TAP by name, and
#         on one host the destination can attach to it while the source
#         holds it only so
#   QEMU  a and b on tap0, c and d on tap1 (single-queue TAPs, QEMU's usual
#         set-up): on a shared multi_queue TAP, the queues of the QEMU
#         that waits for the migration (and later those of the stopped
#         source) take their share of L1's packets and drop them, so the
#         guest lost every ping whose flow hashed there; on the bridge,
#         QEMU's announcement after a migration moves the guest's MAC
#         to the other TAP, as between two hosts
# Both VMMs start through a one-line sh wrapper (exec), alike.
#
# Kernel parameters: lab.mig_targets, lab.mig_loads, lab.mig_cpus (L2
# vCPUs), lab.mig_memcheck (MIB,MIB,MIB_PER_S of the write load, see
# l2-migrate-init.sh), lab.mig_downtime (ms), lab.l2_timeout.
# Output, parsed by bench/migrate-report.py:
#   LAB-MIGB-VERSION vmm=vmon|qemu <version>
#   LAB-MIGB-BEGIN target=T load=L uptime=S
#   LAB-MIGB-APPEND target=T load=L <the guest's command line>
#   LAB-MIGB target=T load=L KEY=VALUE          facts (see below)
#   LAB-MIGB-QMP target=qemu load=L step=snapshot|restore|m1|m2 <qmp's line>
#   LAB-MIGB-VMON target=vmon load=L step=m1|m2 <vmon ctl migrate's JSON>
#   L2:T.L.a| <a's output> (and .b, .c, .d)
#   LAB-MIGB-END target=T load=L uptime=S
# Facts: ready_ms (start of a to MIG-READY), snapshot_codes (vmon: pause,
# create, resume), snapshot_ms (vmon: the pause's and the create's curl
# time_total), snapshot_bytes and snapshot_kib (apparent and allocated size
# of the file(s)), restore (pinggap's line of b's start, spaces as commas),
# and for each migration m1 and m2: M_rc, M_wall_ms (L1's view), M_gap
# (pinggap's line during it), M_after_ping (3 pings once in the
# destination), M_source_gone (vmon's source exits by itself, QEMU's
# stays, stopped), M_memcheck_errors (the destination's memcheck).

_targets=$(cmdline_value lab.mig_targets vmon,qemu | tr ',' ' ')
_loads=$(cmdline_value lab.mig_loads idle,write | tr ',' ' ')
_cpus=$(cmdline_value lab.mig_cpus 1)
_memcheck=$(cmdline_value lab.mig_memcheck 128,64,16)
_downtime=$(cmdline_value lab.mig_downtime 300)
MB=/tmp/mb
MB_PORT=4710
MB_BANDWIDTH=107374182400 # QEMU's max-bandwidth, bytes/s
MB_FLOWS=4 # pinggap's flows: ICMP identifiers, each steered to a TAP queue
GUEST=$(net_guest_addr 0)

uptime_s() { cut -d' ' -f1 /proc/uptime; }
mb_fact() { echo "LAB-MIGB target=$_t load=$_l $1=$2"; }

# mb_wait SECONDS COMMAND...: until COMMAND succeeds (every 0.1 s); fails
# after SECONDS.
mb_wait() {
	_end=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -lt $_end ] || return 1
		sleep 0.1
	done
}

# mb_bg TAG COMMAND...: COMMAND in the background, an orphan (see
# tests/lab/l1-net.sh), its output in $MB/TAG.out and its pid in TAG.pid.
mb_bg() {
	_tag=$1
	shift
	( "$@" </dev/null >"$MB/$_tag.out" 2>&1 &
		echo $! >"$MB/$_tag.pid" )
}

mb_alive() { kill -0 "$(cat "$MB/$1.pid" 2>/dev/null)" 2>/dev/null; }
mb_gone() { ! mb_alive "$1"; }
mb_ready() { grep -q '^MIG-READY' "$MB/a.out"; }
mb_has() { grep -q "$2" "$MB/$1" 2>/dev/null; }
# mb_listening: something listens on MB_PORT (state 0A in /proc/net/tcp).
mb_listening() {
	awk -v p=":$(printf %04X $MB_PORT)" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' /proc/net/tcp
}

# mb_kill TAG: TAG's VMM is killed (if it still runs) and gone.
mb_kill() {
	[ -s "$MB/$1.pid" ] || return 0
	kill -KILL "$(cat "$MB/$1.pid")" 2>/dev/null
	mb_wait 10 mb_gone "$1"
}

# mb_qmp STEP PORT ARGS...: tests/lab/qmp.c on QEMU's QMP port PORT; its
# lines as LAB-MIGB-QMP lines.
mb_qmp() {
	_step=$1 _port=$2
	shift 2
	qmp -t "$L2_TIMEOUT" "127.0.0.1:$_port" "$@" >"$MB/qmp.out" 2>&1
	sed "s/^/LAB-MIGB-QMP target=$_t load=$_l step=$_step /" "$MB/qmp.out"
}

# mb_api METHOD PATH BODY: one call on a's socket; prints "CODE SECONDS".
mb_api() {
	curl -s -o "$MB/api.body" -w '%{http_code} %{time_total}' --max-time 60 \
		--unix-socket "$MB/a.sock" -X "$1" -d "$3" "http://localhost$2"
}

mb_start_a() {
	case $_t in
	vmon) mb_bg a "$MB/vmon.sh" --api-sock "$MB/a.sock" --config-file "$MB/vm.json" ;;
	qemu) mb_bg a "$MB/qemu.sh" 4444 tap0 ;;
	esac
}

# mb_net: br0 with L1's address, and the target's TAPs on it (see above).
mb_net() {
	$NET_IP link del tap0 2>/dev/null
	$NET_IP link del tap1 2>/dev/null
	if ! $NET_IP link show br0 >/dev/null 2>&1; then
		$NET_IP link add br0 type bridge &&
			$NET_IP addr add "$(net_host_addr 0)/24" dev br0 &&
			$NET_IP link set br0 up || return 1
	fi
	case $_t in
	vmon) set -- tap0:multi_queue ;;
	qemu) set -- tap0: tap1: ;;
	esac
	for _tap in "$@"; do
		# shellcheck disable=SC2086 # the mode is one word or none
		$NET_IP tuntap add dev "${_tap%:*}" mode tap ${_tap#*:} &&
			$NET_IP link set "${_tap%:*}" master br0 &&
			$NET_IP link set "${_tap%:*}" up || return 1
	done
}

# mb_snapshot: a, paused, into files, then running again.
mb_snapshot() {
	case $_t in
	vmon)
		_p=$(mb_api PATCH /vm '{"state": "Paused"}')
		_s=$(mb_api PUT /snapshot/create "{\"snapshot_path\": \"$MB/vm.state\", \"mem_file_path\": \"$MB/vm.mem\"}")
		_r=$(mb_api PATCH /vm '{"state": "Resumed"}')
		mb_fact snapshot_codes "${_p% *}/${_s% *}/${_r% *}"
		mb_fact snapshot_ms "$(echo "${_p#* } ${_s#* }" | awk '{ printf "%.0f", ($1 + $2) * 1000 }')"
		_files="$MB/vm.state $MB/vm.mem"
		;;
	qemu)
		mb_qmp snapshot "$(mb_port a)" \
			"{\"execute\": \"migrate-set-parameters\", \"arguments\": {\"max-bandwidth\": $MB_BANDWIDTH}}" \
			'{"execute": "stop"}' \
			"{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"exec:cat > $MB/q.snap\"}}" \
			--until '"status": "completed"|"status": "failed"' '{"execute": "query-migrate"}' \
			'{"execute": "cont"}'
		_files=$MB/q.snap
		;;
	esac
	# shellcheck disable=SC2086 # a list of files
	mb_fact snapshot_bytes "$(stat -c %s $_files 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')"
	# shellcheck disable=SC2086
	mb_fact snapshot_kib "$(du -k $_files 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')"
}

# mb_restore: b from the snapshot, started by pinggap, which reports the
# time to the guest's first answer.
mb_restore() {
	case $_t in
	vmon)
		( pinggap -f -n "$MB_FLOWS" -t 60 -p "$MB/b.pid" -o "$MB/b.out" "$GUEST" -- \
			"$MB/vmon.sh" restore "$MB/vm.state" "$MB/vm.mem" --api-sock "$MB/b.sock" \
			</dev/null >"$MB/restore.gap" 2>&1 & )
		;;
	qemu)
		( pinggap -f -n "$MB_FLOWS" -t 60 -p "$MB/b.pid" -o "$MB/b.out" "$GUEST" -- \
			"$MB/qemu.sh" "$(mb_port b)" tap0 -incoming "exec:cat $MB/q.snap" \
			</dev/null >"$MB/restore.gap" 2>&1 & )
		# QEMU ends the incoming migration paused, as the VM was saved.
		mb_qmp restore "$(mb_port b)" --until '"status": "paused"|"status": "running"' \
			'{"execute": "query-status"}' '{"execute": "cont"}'
		;;
	esac
	mb_wait 65 mb_has restore.gap pinggap:
	mb_fact restore "$(sed -n 's/^pinggap: //p' "$MB/restore.gap" | tr ' ' ',')"
}

# mb_port TAG: QEMU's QMP port of a, b, c or d.
mb_port() {
	case $1 in a) echo 4444 ;; b) echo 4445 ;; c) echo 4446 ;; d) echo 4447 ;; esac
}

# mb_migrate FROM TO STEP: live migration of the guest from FROM's VMM to
# TO's, started here; STEP names the facts and lines (m1: the VM that
# booted, m2: the restored one).
mb_migrate() {
	_from=$1 _to=$2 _m=$3
	case $_t in
	vmon)
		mb_bg "$_to" "$MB/vmon.sh" migrate-receive --listen "127.0.0.1:$MB_PORT" --allow-tap tap0 \
			--api-sock "$MB/$_to.sock"
		;;
	qemu) mb_bg "$_to" "$MB/qemu.sh" "$(mb_port "$_to")" tap1 -incoming "tcp:127.0.0.1:$MB_PORT" ;;
	esac
	mb_wait 20 mb_listening || echo "LAB-ERROR nothing listens on port $MB_PORT"
	# pinggap also notes when the source is gone (pid_gone_ms).
	( pinggap -i 10 -n "$MB_FLOWS" -t 600 -w "$(cat "$MB/$_from.pid")" "$GUEST" >"$MB/gap.out" 2>&1 &
		echo $! >"$MB/gap.pid" )
	sleep 1
	_t0=$(uptime_s)
	case $_t in
	vmon)
		timeout -s KILL "$L2_TIMEOUT" vmon ctl --api-sock "$MB/$_from.sock" migrate \
			--to "127.0.0.1:$MB_PORT" --max-downtime-ms "$_downtime" >"$MB/migrate.json" 2>&1
		_rc=$?
		echo "LAB-MIGB-VMON target=$_t load=$_l step=$_m $(tr -d '\n' <"$MB/migrate.json")"
		;;
	qemu)
		mb_qmp "$_m" "$(mb_port "$_from")" \
			"{\"execute\": \"migrate-set-parameters\", \"arguments\": {\"downtime-limit\": $_downtime, \"max-bandwidth\": $MB_BANDWIDTH}}" \
			"{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"tcp:127.0.0.1:$MB_PORT\"}}" \
			--until '"status": "completed"|"status": "failed"' -i 50 '{"execute": "query-migrate"}'
		_rc=1
		grep -q '"status": "completed"' "$MB/qmp.out" && _rc=0
		# Not converging within qmp's bound: give up, as a user would.
		[ $_rc = 0 ] || qmp -t 10 "127.0.0.1:$(mb_port "$_from")" '{"execute": "migrate_cancel"}' >/dev/null 2>&1
		;;
	esac
	mb_fact "${_m}_rc" "$_rc"
	mb_fact "${_m}_wall_ms" "$(echo "$_t0 $(uptime_s)" | awk '{ printf "%d", ($2 - $1) * 1000 }')"
	sleep 1
	kill "$(cat "$MB/gap.pid")"
	mb_wait 5 mb_has gap.out pinggap:
	mb_fact "${_m}_gap" "$(sed -n 's/^pinggap: //p' "$MB/gap.out" | tr ' ' ',')"
	mb_fact "${_m}_after_ping" "$(net_ping "$GUEST")"
	# vmon's source exits by itself once the destination runs the guest;
	# QEMU's stays, stopped.
	[ "$_t" = vmon ] && mb_wait 10 mb_gone "$_from"
	if mb_gone "$_from"; then
		mb_fact "${_m}_source_gone" yes
	else
		mb_fact "${_m}_source_gone" no
	fi
}

# mb_errors TAG: the most corrupt pages TAG's memcheck reported.
mb_errors() {
	grep -o 'memcheck: .*errors=[0-9]*' "$MB/$1.out" 2>/dev/null | grep -o 'errors=[0-9]*' |
		cut -d= -f2 | sort -n | tail -n 1
}

# mb_files: the guest's configuration for vmon, and the wrappers that start
# each VMM (a one-line sh that execs it, alike for both).
mb_files() {
	cat >"$MB/vm.json" <<JSON
{"boot-source": {"kernel_image_path": "/lab/bzImage", "initrd_path": "/lab/l2.cpio", "boot_args": "$_append"},
 "machine-config": {"vcpu_count": $_cpus, "mem_size_mib": ${L2_MEMORY%M}},
 "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": "$(net_mac 0)"}]}
JSON
	cat >"$MB/qemu.sh" <<SH
#!/bin/sh
port=\$1 tap=\$2
shift 2
exec qemu-system-x86_64 -M microvm,rtc=on -enable-kvm -cpu host -smp $_cpus -m $L2_MEMORY \\
	-nodefaults -no-user-config -display none -serial stdio -no-reboot \\
	-kernel /lab/bzImage -initrd /lab/l2.cpio -append "$_append reboot=acpi" \\
	-netdev tap,id=n0,ifname=\$tap,script=no,downscript=no,vhost=on \\
	-device virtio-net-device,netdev=n0,mac=$(net_mac 0) \\
	-qmp tcp:127.0.0.1:\$port,server=on,wait=off "\$@"
SH
	printf '#!/bin/sh\nexec /lab/bin/vmon "$@"\n' >"$MB/vmon.sh"
	chmod +x "$MB/qemu.sh" "$MB/vmon.sh"
}

# mb_chain: one target and load: a boots, is snapshotted and goes on, and
# migrates to c (m1); b is restored from the snapshot and migrates to d (m2).
mb_chain() {
	echo "LAB-MIGB-BEGIN target=$_t load=$_l uptime=$(uptime_s)"
	rm -f "$MB"/*.out "$MB"/*.pid "$MB"/*.sock "$MB"/*.gap "$MB/vm.state" "$MB/vm.mem" "$MB/q.snap"
	mb_net || echo "LAB-ERROR could not make br0 and the TAPs"
	_append="console=ttyS0 quiet lab.nic0=$(net_mac 0),$GUEST/24,$(net_host_addr 0) mig.load=$_l mig.memcheck=$_memcheck"
	echo "LAB-MIGB-APPEND target=$_t load=$_l $_append"
	mb_files
	_t0=$(uptime_s)
	mb_start_a
	if mb_wait "$L2_TIMEOUT" mb_ready; then
		mb_fact ready_ms "$(echo "$_t0 $(uptime_s)" | awk '{ printf "%d", ($2 - $1) * 1000 }')"
		sleep 2 # the guest settles (the write load keeps going)
		mb_snapshot
		sleep 2
		mb_migrate a c m1
		sleep 1
		mb_fact m1_memcheck_errors "$(mb_errors c)"
		mb_kill a
		mb_kill c
		mb_restore
		sleep 3
		mb_migrate b d m2
		sleep 1
		mb_fact m2_memcheck_errors "$(mb_errors d)"
	else
		echo "LAB-ERROR the guest of $_t ($_l) was not ready in ${L2_TIMEOUT}s"
	fi
	for _v in a b c d; do
		mb_kill $_v
		[ -f "$MB/$_v.out" ] && sed "s/^/L2:$_t.$_l.$_v| /" "$MB/$_v.out"
	done
	echo "LAB-MIGB-END target=$_t load=$_l uptime=$(uptime_s)"
}

echo "LAB-MIGB-CONFIG targets=$_targets loads=$_loads cpus=$_cpus memory=$L2_MEMORY memcheck=$_memcheck downtime_ms=$_downtime l2_timeout=$L2_TIMEOUT"
[ -x /lab/bin/vmon ] && echo "LAB-MIGB-VERSION vmm=vmon $(/lab/bin/vmon --version 2>&1 | head -n 1)"
echo "LAB-MIGB-VERSION vmm=qemu $(qemu-system-x86_64 --version | head -n 1)"
# The migrations go over L1's loopback, which /init leaves down.
/usr/sbin/ip link set lo up
mkdir -p "$MB"
for _l in $_loads; do
	for _t in $_targets; do
		mb_chain
	done
done
