#!/bin/sh
# /init.sh of the disk benchmark's L2 guest (busybox sh), exec'd by
# tests/lab/marker-init after VMON-USERSPACE-UP.  Built into
# BUILD_DIR/lab/l2-fio.cpio by bench/disk.sh, next to Debian's fio and its
# libraries, the virtio modules (tests/lab/prepare.sh's l2-modules) and the
# fio job file /disk.fio that bench/disk.sh generated.
#
# Loads the modules, waits for /dev/vda, runs fio on it with O_DIRECT and
# prints, for bench/disk-report.py:
#   DISK-INFO key=value...        the guest's view of the disk
#   DISK-JSON <line>              fio's JSON output, one line each (indent removed)
#   DISK-STDERR <line>            fio's stderr
#   DISK-RC rc=N                  fio's exit status (124/137: timeout)
#   DISK-ERROR <what>             anything that went wrong before fio
# then powers off.  Kernel parameter: disk.timeout=S bounds fio.
# Never returns: PID 1 exiting would panic the kernel.
export PATH=/bin:/usr/bin

. /guest-lib.sh
guest_mounts

guest_load_modules DISK

# The driver probes asynchronously: give /dev/vda up to 10 s.
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done

if [ -b /dev/vda ]; then
	q=/sys/block/vda/queue
	echo "DISK-INFO sectors=$(cat /sys/block/vda/size) scheduler=$(sed 's/.*\[\(.*\)\].*/\1/' $q/scheduler) nr_requests=$(cat $q/nr_requests) hw_queues=$(find /sys/block/vda/mq -mindepth 1 -maxdepth 1 | wc -l) nr_tags=$(cat /sys/block/vda/mq/0/nr_tags 2>/dev/null) max_sectors_kb=$(cat $q/max_sectors_kb) max_segments=$(cat $q/max_segments) pci=$(find /sys/bus/pci/devices -mindepth 1 -maxdepth 1 2>/dev/null | wc -l) uptime=$(cut -d' ' -f1 /proc/uptime) fio=$(fio --version)"
	DISK_FILE=/dev/vda DISK_DIRECT=1 timeout "$(cmdline_value disk.timeout 120)" \
		fio --output-format=json /disk.fio >/tmp/fio.json 2>/tmp/fio.err
	rc=$?
	sed -e 's/^[[:space:]]*//' -e 's/^/DISK-JSON /' /tmp/fio.json
	sed 's/^/DISK-STDERR /' /tmp/fio.err
	echo "DISK-RC rc=$rc uptime=$(cut -d' ' -f1 /proc/uptime)"
else
	echo "DISK-ERROR no /dev/vda after 10 s; last kernel messages:"
	dmesg | tail -n 40 | sed 's/^/DISK-ERROR dmesg: /'
fi
poweroff -f
echo "DISK-ERROR poweroff -f returned"
while :; do sleep 3600; done
