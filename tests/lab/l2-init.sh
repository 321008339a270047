#!/bin/sh
# /init.sh of the lab's L2 guest (busybox sh), exec'd by marker-init after it
# printed VMON-USERSPACE-UP.  Runs the scenario named by lab.scenario= on the
# kernel command line and prints results as "LAB-RESULT key=value" lines.
#
#   bench            power off at once (boot benchmark)
#   checks-poweroff  print checks, then poweroff -f
#   checks-reboot    print checks, then reboot -f
#   dmesg            print the kernel log, then poweroff -f (to read a quiet
#                    boot's full log without paying for it on the UART)
#   demo             show the machine (scripts/demo.sh), then poweroff -f
#   shell            an interactive shell; poweroff -f when it ends
#
# This script must never return: PID 1 exiting panics the kernel, which the
# host would see as a hang or crash rather than as a clear failure.
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
# The kernel may already have /dev populated (fds 0-2 came from our node).
mount -t devtmpfs devtmpfs /dev 2>/dev/null

cmdline_value() {
	# shellcheck disable=SC2013 # the command line is split into words
	for arg in $(cat /proc/cmdline); do
		case "$arg" in
		"$1"=*) echo "${arg#*=}" ;;
		esac
	done
}

# Each line is parsed by tests/lab/run.sh; keep the format stable.
print_checks() {
	echo "LAB-RESULT marker_uptime_ms=$LAB_MARKER_UPTIME_MS"
	echo "LAB-RESULT cpus=$(grep -c '^processor' /proc/cpuinfo)"
	echo "LAB-RESULT kernel=$(uname -r)"
	# The PCI host bridge at 00:00.0, as vendor:device (empty without PCI).
	bridge=/sys/bus/pci/devices/0000:00:00.0
	echo "LAB-RESULT pci_bridge=$(cat $bridge/vendor $bridge/device 2>/dev/null | tr '\n' :)"
	echo "LAB-RESULT mmconfig=$(dmesg | grep -c 'MMCONFIG for domain 0000')"
	# virtio-rng over virtio-pci: the driver bound, and 64 bytes of entropy read.
	echo "LAB-RESULT rng=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)"
	echo "LAB-RESULT rng_bytes=$(head -c 64 /dev/hwrng 2>/dev/null | wc -c)"
	disk_checks
	# Last, so that the VMM exits as soon as possible after it: the host
	# compares it with L1's clock read right after the VMM exited.
	echo "LAB-RESULT epoch=$(date +%s)"
}

# virtio-blk: /dev/vda (PCI, read-write) and /dev/vdb (virtio-mmio, read-only).
disk_checks() {
	if [ -b /dev/vda ]; then
		echo "LAB-RESULT vda=$(cat /sys/block/vda/size):$(cat /sys/block/vda/serial 2>/dev/null)"
		dd if=/dev/urandom of=/tmp/pattern bs=4096 count=64 2>/dev/null
		dd if=/tmp/pattern of=/dev/vda bs=4096 count=64 conv=fsync 2>/dev/null
		echo 3 >/proc/sys/vm/drop_caches
		echo "LAB-RESULT vda_written_md5=$(md5sum </tmp/pattern | cut -d' ' -f1)"
		echo "LAB-RESULT vda_read_md5=$(dd if=/dev/vda bs=4096 count=64 2>/dev/null | md5sum | cut -d' ' -f1)"
	fi
	if [ -b /dev/vdb ]; then
		echo "LAB-RESULT vdb=$(cat /sys/block/vdb/size):$(cat /sys/block/vdb/ro):$(dd if=/dev/vdb bs=8 count=1 2>/dev/null)"
		if dd if=/tmp/pattern of=/dev/vdb bs=4096 count=1 conv=fsync 2>/dev/null; then
			echo "LAB-RESULT vdb_write=accepted"
		else
			echo "LAB-RESULT vdb_write=refused"
		fi
	fi
}

# Stop here forever; the caller's timeout reports the failure.
hang() {
	echo "LAB-ERROR $*"
	while :; do sleep 3600; done
}

# What scripts/demo.sh shows of the guest.
show_machine() {
	echo "== a Linux guest under vmon =="
	echo "kernel:  $(uname -sr)"
	echo "cpus:    $(grep -c '^processor' /proc/cpuinfo) x $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"
	echo "memory:  $(sed -n 's/^MemTotal: *//p' /proc/meminfo)"
	echo "clock:   $(date -u) (from the CMOS RTC)"
	echo "console: $(cat /sys/class/tty/console/active 2>/dev/null)"
	echo "uptime:  $(cut -d' ' -f1 /proc/uptime) s since the kernel started"
	echo "cmdline: $(cat /proc/cmdline)"
	for d in /sys/bus/pci/devices/*; do
		[ -e "$d" ] && echo "pci:     ${d##*/} $(cat "$d/vendor"):$(cat "$d/device") class $(cat "$d/class") driver $(basename "$(readlink "$d/driver" 2>/dev/null)" 2>/dev/null)"
	done
	echo "entropy: $(head -c 16 /dev/hwrng 2>/dev/null | od -An -tx1 | tr -d ' \n') from $(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)"
}

# The drivers of vmon's virtio devices, in dependency order (prepare.sh).
load_modules() {
	for m in $(cat /modules/load-order); do
		insmod "/modules/$m.ko" || echo "LAB-ERROR insmod $m failed"
	done
}

scenario=$(cmdline_value lab.scenario)
[ "$scenario" = bench ] || load_modules
case "$scenario" in
bench)
	# After the marker, so it costs the measured boot nothing.
	echo "LAB-RESULT marker_uptime_ms=$LAB_MARKER_UPTIME_MS"
	poweroff -f
	hang "poweroff -f returned"
	;;
checks-poweroff)
	print_checks
	poweroff -f
	hang "poweroff -f returned"
	;;
checks-reboot)
	print_checks
	reboot -f
	hang "reboot -f returned"
	;;
dmesg)
	dmesg
	poweroff -f
	hang "poweroff -f returned"
	;;
demo)
	show_machine
	echo "powering off"
	poweroff -f
	hang "poweroff -f returned"
	;;
shell)
	show_machine
	echo "type 'poweroff -f' to end the VM"
	setsid cttyhack sh -l
	poweroff -f
	hang "poweroff -f returned"
	;;
*)
	hang "unknown lab.scenario='$scenario'"
	;;
esac
