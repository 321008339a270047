#!/bin/sh
# /init.sh of the migration benchmark's L2 guest (busybox sh), exec'd by
# tests/lab/marker-init after VMON-USERSPACE-UP.  Built into
# BUILD_DIR/lab/l2-migrate.cpio by bench/migrate.sh, with the virtio
# modules and tests/lab/memcheck.
#
# Brings up the NIC of lab.nic0=MAC,ADDR/PREFIX,PEER (tests/lab/l1-net.sh),
# waits until L1 (PEER) answers, and then, with mig.load=write, starts
#   memcheck -m MIB -w MIB -r MIB_PER_S    (mig.memcheck=MIB,MIB,MIB_PER_S)
# which keeps rewriting its memory at that rate and verifies all of it in
# a loop (its status line every second shows on the console).  It prints
#   MIG-READY uptime=S            once the workload runs (after memcheck's
#                                 first pass), then stays up: L1 kills the VMM
#   MIG-ERROR <what>              if something went wrong first
# With mig.load=idle it runs nothing at all after MIG-READY (the kernel
# answers L1's pings).  Never returns: PID 1 exiting would panic the kernel.
export PATH=/bin

. /guest-lib.sh
guest_mounts

# Warnings and worse only on the console, so that nothing splits a line.
echo 4 >/proc/sys/kernel/printk
guest_load_modules MIG

hang() {
	while :; do sleep 3600; done
}

spec=$(cmdline_value lab.nic0)
mac=${spec%%,*} rest=${spec#*,}
addr=${rest%%,*} peer=${rest#*,}
ip link set lo up
if ! nic=$(net_if "$mac"); then
	echo "MIG-ERROR no interface with MAC $mac"
	hang
fi
ip addr add "$addr" dev "$nic"
ip link set "$nic" up
net_wait_reachable "$peer" 20 || echo "MIG-ERROR $peer does not answer pings"
if [ "$(cmdline_value mig.load idle)" = write ]; then
	mc=$(cmdline_value mig.memcheck 128,64,16)
	size=${mc%%,*} rest=${mc#*,}
	# Its lines go on to the console; the first pass makes /tmp/ready.
	memcheck -m "$size" -w "${rest%%,*}" -r "${rest#*,}" 2>&1 | while read -r line; do
		echo "$line"
		case $line in *passes=[1-9]*) : >/tmp/ready ;; esac
	done &
	i=0
	while [ $i -lt 600 ] && [ ! -e /tmp/ready ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -e /tmp/ready ] || echo "MIG-ERROR memcheck made no pass in 60 s"
fi
echo "MIG-READY uptime=$(cut -d' ' -f1 /proc/uptime)"
hang
