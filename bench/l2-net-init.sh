#!/bin/sh
# /init.sh of the network benchmark's L2 guest (busybox sh), exec'd by
# tests/lab/marker-init after VMON-USERSPACE-UP.  Built into
# BUILD_DIR/lab/l2-net.cpio by bench/net.sh, next to Debian's iperf3 and its
# libraries, bench/tcp_rr and the virtio modules (tests/lab/prepare.sh's
# l2-modules).
#
# Brings up the NIC of lab.nic0=MAC,ADDR/PREFIX,PEER (tests/lab/l1-net.sh:
# PEER is L1's end of the TAP, where the iperf3 server and tcp_rr -s run),
# then measures for net.seconds=S seconds each, one after the other:
#   tx  iperf3 -c PEER       TCP throughput from the guest to L1
#   rx  iperf3 -c PEER -R    TCP throughput from L1 to the guest
#   rr  tcp_rr -c PEER 5003  1-byte request/response round trips
# and prints, for bench/net-report.py:
#   NET-INFO key=value...    the guest's view of the NIC
#   NET-JSON tx|rx <json>    iperf3's JSON output, on one line
#   NET-RR <tcp_rr's line>
#   NET-RC test=tx|rx|rr rc=N   exit status (124/137: timeout)
#   NET-STDERR <line>        the tools' stderr
#   NET-DIAG <what>          after a failed test: the NIC's counters, its
#                            interrupts, whether L1 still answers a ping
#   NET-ERROR <what>         anything that went wrong before the tests
# then powers off.  Never returns: PID 1 exiting would panic the kernel.
export PATH=/bin:/usr/bin

. /guest-lib.sh
guest_mounts

# Warnings and worse only on the console, so that nothing splits a line.
echo 4 >/proc/sys/kernel/printk
guest_load_modules NET

RR_PORT=5003 # bench/l1-job-net.sh
secs=$(cmdline_value net.seconds 10)
bound=$((secs + 30))

# run_test NAME COMMAND...: COMMAND bounded in time, its stdout in /tmp/out.
# If it fails, the NIC's counters and interrupts tell whether frames still
# arrive (NET-DIAG).
run_test() {
	_t=$1
	shift
	timeout "$bound" "$@" >/tmp/out 2>/tmp/err
	_rc=$?
	sed "s/^/NET-STDERR $_t: /" /tmp/err
	echo "NET-RC test=$_t rc=$_rc"
	[ $_rc = 0 ] || diagnose "$_t"
}

diagnose() {
	_s=/sys/class/net/$nic/statistics
	echo "NET-DIAG $1: rx_packets=$(cat "$_s/rx_packets") tx_packets=$(cat "$_s/tx_packets") rx_dropped=$(cat "$_s/rx_dropped") $(grep virtio /proc/interrupts | awk '{ printf "%s=%s ", $NF, $2 }')"
	if ping -c 1 -W 2 "$peer" >/dev/null 2>&1; then
		echo "NET-DIAG $1: $peer still answers pings"
	else
		echo "NET-DIAG $1: $peer no longer answers pings"
	fi
	echo "NET-DIAG $1: rx_packets=$(cat "$_s/rx_packets") after that ping; the last kernel messages on virtio or the NIC:"
	dmesg | grep -iE 'virtio|eth|net' | tail -n 5 | sed "s/^/NET-DIAG $1: /"
}

measure() {
	for t in tx rx; do
		if [ $t = tx ]; then
			run_test $t iperf3 -c "$1" -t "$secs" -i 0 -J
		else
			run_test $t iperf3 -c "$1" -t "$secs" -i 0 -J -R
		fi
		# The JSON on one line (its line breaks are only layout).
		echo "NET-JSON $t $(sed 's/^[[:space:]]*//' /tmp/out | tr -d '\n')"
	done
	run_test rr tcp_rr -c "$1" "$RR_PORT" "$secs"
	echo "NET-RR $(cat /tmp/out)"
}

spec=$(cmdline_value lab.nic0)
mac=${spec%%,*} rest=${spec#*,}
addr=${rest%%,*} peer=${rest#*,}
ip link set lo up
if ! nic=$(net_if "$mac"); then
	echo "NET-ERROR no interface with MAC $mac; last kernel messages:"
	dmesg | tail -n 30 | sed 's/^/NET-ERROR dmesg: /'
else
	ip addr add "$addr" dev "$nic"
	ip link set "$nic" up
	if net_wait_reachable "$peer" 20; then
		dev=$(readlink -f "/sys/class/net/$nic/device")
		echo "NET-INFO if=$nic driver=$(basename "$(readlink "$dev/driver")") transport=$(basename "$(readlink "$dev/../driver")") mtu=$(cat "/sys/class/net/$nic/mtu") queues=$(ls "/sys/class/net/$nic/queues" | paste -sd, -) cpus=$(grep -c '^processor' /proc/cpuinfo) uptime=$(cut -d' ' -f1 /proc/uptime) iperf3=$(iperf3 --version | head -n 1 | cut -d' ' -f2)"
		measure "$peer"
	else
		echo "NET-ERROR $peer does not answer pings from $nic"
	fi
fi
poweroff -f
echo "NET-ERROR poweroff -f returned"
while :; do sleep 3600; done
