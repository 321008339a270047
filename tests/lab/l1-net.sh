# shellcheck shell=sh
# Network helpers of L1's jobs, sourced by /init (tests/lab/l1-init.sh) as
# /lab/net.sh: the TAP interfaces the L2 guests' NICs attach to, the VMMs'
# options for those NICs, and L1's end of the traffic
# (tests/lab/l1-job-test.sh, bench/l1-job-net.sh).
#
# NIC N of a guest (N = 0, 1) is on TAP tapN:
#   L1's end   tapN, 10.0.(N+2).1/24
#   the guest  MAC 52:54:00:4c:00:0(N+1), 10.0.(N+2).2/24
# The guest finds its NIC by the MAC (see net_if in guest-lib.sh), so that
# the names the guest's kernel picks (eth0, eth1) do not matter.

NET_IP=/usr/sbin/ip       # iproute2's: busybox's ip applet has no tuntap
NET_XFER_BYTES=4194304    # each TCP transfer of the tests: 4 MiB
NET_PORT_FROM_GUEST=5001  # L1 keeps what the guest sends here (/tmp/net.rx)
NET_PORT_TO_GUEST=5002    # L1 sends /tmp/net.tx to whoever connects here

net_mac() { echo "52:54:00:4c:00:0$(($1 + 1))"; }
net_host_addr() { echo "10.0.$(($1 + 2)).1"; }
net_guest_addr() { echo "10.0.$(($1 + 2)).2"; }

# net_describe_l1: whether L1 can give guests a TAP with vhost-net.
net_describe_l1() {
	_tun=missing _vhost=missing _ip=missing
	[ -c /dev/net/tun ] && _tun=ok
	[ -c /dev/vhost-net ] && _vhost=ok
	[ -x $NET_IP ] && _ip=ok
	echo "LAB-L1 net tun=$_tun vhost_net=$_vhost iproute2=$_ip"
}

# net_tap N MULTI_QUEUE: (re)create tapN, with `multi_queue` if MULTI_QUEUE
# is yes, with L1's address, and up (with no VMM attached it has no
# carrier).  The kernel lets a VMM attach to a multi_queue TAP only with
# IFF_MULTI_QUEUE and to a single-queue one only without: vmon follows the
# TAP (it reads tun_flags), while QEMU asks for IFF_MULTI_QUEUE exactly
# when it has more than one queue.
net_tap() {
	_mq=
	[ "$2" = yes ] && _mq=multi_queue
	$NET_IP link del "tap$1" 2>/dev/null
	# shellcheck disable=SC2086 # _mq is one word or none
	$NET_IP tuntap add dev "tap$1" mode tap $_mq &&
		$NET_IP addr add "$(net_host_addr "$1")/24" dev "tap$1" &&
		$NET_IP link set "tap$1" up
}

# net_nic_args VMM N QUEUES VHOST TRANSPORT: the options of VMM for NIC N on
# tapN.  VHOST is on, off or auto (vmon's default: vhost-net when L1 has
# /dev/vhost-net; QEMU's own default is off, so auto means on there when
# /dev/vhost-net exists).  TRANSPORT is pci or mmio.  QEMU runs
# `-M microvm,rtc=on` (run_vmm): `-M pcie=on` merges into it and adds the
# PCIe host bridge that bench/disk.sh's peer uses too; romfile= spares the
# iPXE ROM, which microvm cannot use and L1 does not have; a multi-queue
# NIC needs mq=on and a vector per queue plus config and control.
net_nic_args() {
	_vmm=$1 _n=$2 _q=$3 _vhost=$4 _transport=$5
	case $_vmm in
	vmon)
		_a="tap=tap$_n,mac=$(net_mac "$_n")"
		[ "$_q" -gt 1 ] && _a="$_a,queues=$_q"
		[ "$_vhost" = auto ] || _a="$_a,vhost=$_vhost"
		[ "$_transport" = pci ] || _a="$_a,transport=$_transport"
		echo "--net $_a"
		;;
	qemu)
		if [ "$_vhost" = auto ]; then
			_vhost=off
			[ -c /dev/vhost-net ] && _vhost=on
		fi
		_nd="tap,id=n$_n,ifname=tap$_n,script=no,downscript=no,vhost=$_vhost"
		_dev="netdev=n$_n,mac=$(net_mac "$_n")"
		if [ "$_q" -gt 1 ]; then
			_nd="$_nd,queues=$_q"
			_dev="$_dev,mq=on"
		fi
		case $_transport in
		pci)
			[ "$_q" -gt 1 ] && _dev="$_dev,vectors=$((2 * _q + 2))"
			echo "-M pcie=on -netdev $_nd -device virtio-net-pci,$_dev,disable-legacy=on,romfile="
			;;
		mmio) echo "-netdev $_nd -device virtio-net-device,$_dev" ;;
		esac
		;;
	esac
}

# net_make_payload: /tmp/net.tx, the NET_XFER_BYTES L1 sends to guests;
# sets NET_TX_SHA.
net_make_payload() {
	head -c "$NET_XFER_BYTES" /dev/urandom >/tmp/net.tx
	# shellcheck disable=SC2034 # used by the jobs
	NET_TX_SHA=$(sha256sum </tmp/net.tx | cut -d' ' -f1)
	# busybox nc shuts its sending side at the end of its standard input
	# and exits when the peer does: a receiving nc reads from fd 5, a FIFO
	# open for reading and writing, which never reaches its end.
	rm -f /tmp/net.hold
	mkfifo /tmp/net.hold
	exec 5<>/tmp/net.hold
}

# Background processes of the net cases are never children of the shell
# that relays the VMM's console: their exit would send it SIGCHLD, and
# busybox's `read` builtin, interrupted by a signal in the middle of a
# line, starts the line again and loses the bytes it had read (seen as a
# LAB-RESULT line missing its "L").  So they are started from a subshell
# that exits at once (`( cmd & )`), and report through files; the orphans
# go to PID 1, which is not the job's shell (l1-init.sh runs jobs in a
# subshell).

# net_listen SECONDS: L1's ends of a case's two TCP transfers, in the
# background, each bounded by SECONDS: what the guest sends to port
# NET_PORT_FROM_GUEST goes to /tmp/net.rx, and the guest that connects to
# NET_PORT_TO_GUEST gets /tmp/net.tx.  Their PIDs are in /tmp/net.rx.pid
# and /tmp/net.tx.pid (busybox timeout execs nc in place).
net_listen() {
	rm -f /tmp/net.rx /tmp/net.rx.pid /tmp/net.tx.pid
	(
		timeout "$1" nc -l -p $NET_PORT_FROM_GUEST <&5 >/tmp/net.rx 2>/dev/null &
		echo $! >/tmp/net.rx.pid
	)
	(
		timeout "$1" nc -l -p $NET_PORT_TO_GUEST </tmp/net.tx >/dev/null 2>&1 &
		echo $! >/tmp/net.tx.pid
	)
}

# net_stop PIDFILE: "exited" once the process of PIDFILE has ended, or
# "killed" if it still runs after 5 s (a listener nobody connected to).
net_stop() {
	_p=$(cat "$1" 2>/dev/null) _w=0
	while [ -n "$_p" ] && kill -0 "$_p" 2>/dev/null && [ $_w -lt 50 ]; do
		sleep 0.1
		_w=$((_w + 1))
	done
	if [ -n "$_p" ] && kill "$_p" 2>/dev/null; then
		echo killed
	else
		echo exited
	fi
}

# net_ping_guests N...: L1 pings the guest's NIC N, for each N, in the
# background; /tmp/net.pings then holds host_pingN=RECEIVED/SENT lines.
net_ping_guests() {
	rm -f /tmp/net.pings
	(net_ping_each "$@" &)
}
net_ping_each() {
	for _n in "$@"; do
		echo "host_ping$_n=$(net_ping "$(net_guest_addr "$_n")")"
	done >/tmp/net.pings.tmp
	mv /tmp/net.pings.tmp /tmp/net.pings
}

# net_pings: the lines of net_ping_guests, once it is done (up to 25 s).
net_pings() {
	_w=0
	while [ ! -f /tmp/net.pings ] && [ $_w -lt 250 ]; do
		sleep 0.1
		_w=$((_w + 1))
	done
	paste -sd' ' /tmp/net.pings 2>/dev/null
}

# net_tap_stats N: tapN's counters, L1's view (rx: from the guest).
net_tap_stats() {
	_s=/sys/class/net/tap$1/statistics
	echo "tap${1}_rx_packets=$(cat "$_s/rx_packets" 2>/dev/null) tap${1}_tx_packets=$(cat "$_s/tx_packets" 2>/dev/null)"
}
