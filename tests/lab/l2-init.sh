#!/bin/sh
# /init.sh of the lab's L2 guest (busybox sh), exec'd by marker-init after it
# printed VMON-USERSPACE-UP.  Runs the scenario named by lab.scenario= on the
# kernel command line and prints results as "LAB-RESULT key=value" lines.
#
#   bench            power off at once (boot benchmark)
#   checks-poweroff  print checks, then poweroff -f
#   checks-reboot    print checks, then reboot -f
#   fsync-then-wait  write raw data to /dev/vda with fsync, print LAB-FSYNCED,
#                    then wait for the host to kill the VMM (SIGKILL test)
#   net              the network checks on virtio-net (see net_checks), then
#                    poweroff -f
#   iommu            the IOMMU checks (see iommu_checks), then the checks and
#                    the network checks, then poweroff -f
#   api              the management API case: ticks, a checked CPU and disk
#                    workload, a swapped drive, then waits for Ctrl-Alt-Del
#                    (see api_scenario)
#   migrate          the snapshot and migration case: memcheck, a checked
#                    file write loop on an ext4 and pings, until L1 types
#                    "finish"; then the files are verified and it powers
#                    off (see mig_scenario)
#   dmesg            print the kernel log, then poweroff -f (to read a quiet
#                    boot's full log without paying for it on the UART)
#   demo             show the machine (scripts/demo.sh), then poweroff -f
#   shell            an interactive shell; poweroff -f when it ends
#
# This script must never return: PID 1 exiting panics the kernel, which the
# host would see as a hang or crash rather than as a clear failure.
export PATH=/bin

. /guest-lib.sh
guest_mounts

# Informational kernel messages (e.g. "drop_caches: 3") are printed on the
# console asynchronously and can land inside a LAB-RESULT line: keep only
# warnings and worse on the console while this script reports (dmesg keeps all).
echo 4 >/proc/sys/kernel/printk

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
	# What pciutils sees: IDs per slot, then the disk's BAR and MSI-X state.
	if [ -x /usr/bin/lspci ]; then
		ids=$(/usr/bin/lspci -n | awk '{ printf "%s=%s,", $1, $3 }')
		bar=$(/usr/bin/lspci -v -s 00:02.0 | grep -c 'Memory at .* (32-bit, non-prefetchable) \[size=32K\]')
		msix=$(/usr/bin/lspci -vv -s 00:02.0 | grep -c 'MSI-X: Enable+')
		echo "LAB-RESULT lspci=${ids}bar=$bar,msix=$msix"
	fi
	disk_checks
	# Last, so that the VMM exits as soon as possible after it: the host
	# compares it with L1's clock read right after the VMM exited.
	echo "LAB-RESULT epoch=$(date +%s)"
}

# Layout of /dev/vda (32 MiB).  l1-job-test.sh reads the image file at the
# same places once the VMM has exited; keep the two in step.
EXT4_SIZE=24M    # an ext4 on the first 24 MiB (checks scenarios)
RAW_BLOCK=6144   # raw data from 24 MiB on, in 4 KiB blocks (up to 8 MiB)
RAW_CHECK_BLOCKS=64   # 256 KiB in the checks scenarios
RAW_KILL_BLOCKS=1024  # 4 MiB in fsync-then-wait
# The files of the ext4 check, name:size (1 KiB to 4 MiB, not all whole blocks).
EXT4_FILES="small:1024 odd:300001 large:4194304"

md5() { md5sum | cut -d' ' -f1; }

# write_raw BLOCKS: BLOCKS x 4 KiB of random data, kept in /tmp/pattern, to
# /dev/vda at RAW_BLOCK with fsync (dd returns only once the disk flushed);
# prints its md5.  Fails if dd fails.
write_raw() {
	dd if=/dev/urandom of=/tmp/pattern bs=4096 count="$1" 2>/dev/null
	dd if=/tmp/pattern of=/dev/vda bs=4096 seek="$RAW_BLOCK" count="$1" \
		conv=fsync 2>/dev/null || return 1
	echo "LAB-RESULT vda_written_md5=$(md5 </tmp/pattern)"
}

# ext4_check: Debian's mkfs.ext4 on /dev/vda, mount, write EXT4_FILES, sync,
# unmount.  Prints "LAB-RESULT ext4=ok" or the step that failed, and the
# files written as "LAB-RESULT ext4_files=name:md5,..." (sorted by name),
# which the host compares with what debugfs reads from the image in L1.
ext4_check() {
	_files=
	if ! /sbin/mkfs.ext4 -q -F /dev/vda "$EXT4_SIZE"; then
		echo "LAB-RESULT ext4=mkfs-failed"
		return
	fi
	mkdir -p /mnt
	if ! mount -t ext4 /dev/vda /mnt; then
		echo "LAB-RESULT ext4=mount-failed"
		return
	fi
	for _f in $EXT4_FILES; do
		_n=${_f%:*}
		head -c "${_f#*:}" /dev/urandom >"/tmp/$_n"
		cp "/tmp/$_n" "/mnt/$_n" || break
		_files="$_files $_n:$(md5 <"/tmp/$_n")"
	done
	echo "LAB-RESULT ext4_files=$(echo "$_files" | tr ' ' '\n' | sort | grep . | paste -sd, -)"
	sync
	if ! umount /mnt; then
		echo "LAB-RESULT ext4=umount-failed"
	elif [ "$(echo "$_files" | wc -w)" != "$(echo "$EXT4_FILES" | wc -w)" ]; then
		echo "LAB-RESULT ext4=write-failed"
	else
		echo "LAB-RESULT ext4=ok"
	fi
}

# virtio-blk: /dev/vda (PCI, read-write) and /dev/vdb (virtio-mmio, read-only).
disk_checks() {
	if [ -b /dev/vda ]; then
		echo "LAB-RESULT vda=$(cat /sys/block/vda/size):$(cat /sys/block/vda/serial 2>/dev/null)"
		write_raw "$RAW_CHECK_BLOCKS"
		echo 3 >/proc/sys/vm/drop_caches
		echo "LAB-RESULT vda_read_md5=$(dd if=/dev/vda bs=4096 skip="$RAW_BLOCK" count="$RAW_CHECK_BLOCKS" 2>/dev/null | md5)"
		ext4_check
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

# The network checks (tests/lab/l1-job-test.sh's run_net_case, whose
# tests/lab/l1-net.sh is L1's side). Kernel parameters:
#   lab.nicN=MAC,ADDR/PREFIX,PEER  (N = 0, 1) the NIC with address MAC gets
#                   ADDR; PEER is L1's end of it (its TAP's address)
#   lab.net_queues=Q   NIC 0's queue pairs (Q > 1: the multi-queue checks)
#   lab.net_echoes=N   how many pings L1 sends the guest in all
# Every NIC pings L1 once L1 answers, then the guest prints "LAB-NET ready",
# on which L1 pings each NIC in turn. NIC 0 also carries two TCP transfers
# of 4 MiB with busybox nc: random data to L1's port 5001, and L1's data
# from its port 5002; the host compares the SHA-256 of both ends. The guest
# powers off once it has answered L1's pings (Icmp InEchos), or after 30 s.
NET_XFER_BYTES=4194304 # NET_XFER_BYTES in l1-net.sh

icmp_in_echos() {
	awk '$1 == "Icmp:" { if (!c) { for (i = 2; i <= NF; i++) if ($i == "InEchos") c = i }
		else { print $c; exit } }' /proc/net/snmp
}

# net_irqs IFACE: interrupts per receive queue of IFACE's virtio device, as
# input.0=N,input.1=N (summed over the CPUs; empty if the driver shares one
# vector among its queues).
net_irqs() {
	_vdev=$(basename "$(readlink "/sys/class/net/$1/device")")
	awk -v p="$_vdev-input." 'index($NF, p) == 1 { s = 0
		for (i = 2; i < NF; i++) if ($i ~ /^[0-9]+$/) s += $i
		printf "%s%s=%d", n++ ? "," : "", substr($NF, length(p) - 5), s }' /proc/interrupts
}

# net_transfers PEER: the two TCP transfers of NIC 0 (L1 listens on both ports).
net_transfers() {
	head -c "$NET_XFER_BYTES" /dev/urandom >/tmp/net.tx
	echo "LAB-RESULT net_sent_sha=$(sha256sum </tmp/net.tx | cut -d' ' -f1)"
	timeout 60 nc "$1" 5001 </tmp/net.tx >/dev/null
	echo "LAB-RESULT net_send_rc=$?"
	# A receiving busybox nc must not see the end of its standard input
	# (it would close the connection): fd 3 is a FIFO open both ways.
	mkfifo /tmp/net.hold
	exec 3<>/tmp/net.hold
	timeout 60 nc "$1" 5002 <&3 >/tmp/net.rx
	echo "LAB-RESULT net_recv_rc=$?"
	echo "LAB-RESULT net_recv_bytes=$(wc -c </tmp/net.rx)"
	echo "LAB-RESULT net_recv_sha=$(sha256sum </tmp/net.rx | cut -d' ' -f1)"
	exec 3>&-
	rm -f /tmp/net.tx /tmp/net.rx
}

# nic_up MAC,ADDR/PREFIX,PEER: gives the NIC with address MAC its address
# and brings it up; prints IF:DRIVER:TRANSPORT (the driver of the virtio
# device's parent: virtio-pci or virtio-mmio). Fails if there is no such NIC.
nic_up() {
	_mac=${1%%,*} _rest=${1#*,}
	_addr=${_rest%%,*}
	_if=$(net_if "$_mac") || return 1
	_dev=$(readlink -f "/sys/class/net/$_if/device")
	ip addr add "$_addr" dev "$_if"
	ip link set "$_if" up
	echo "$_if:$(basename "$(readlink "$_dev/driver")"):$(basename "$(readlink "$_dev/../driver")")"
}

net_checks() {
	ip link set lo up
	_nics=
	for _i in 0 1; do
		_spec=$(cmdline_value "lab.nic$_i")
		[ -n "$_spec" ] || continue
		_peer=${_spec##*,}
		if ! _desc=$(nic_up "$_spec"); then
			echo "LAB-RESULT nic$_i=none"
			continue
		fi
		echo "LAB-RESULT nic$_i=$_desc"
		_if=${_desc%%:*}
		if net_wait_reachable "$_peer" 20; then
			echo "LAB-RESULT nic${_i}_reach=ok"
		else
			echo "LAB-RESULT nic${_i}_reach=no"
		fi
		_nics="$_nics $_i:$_if:$_peer"
	done
	echo "LAB-NET ready"
	for _nic in $_nics; do
		_i=${_nic%%:*} _peer=${_nic##*:}
		echo "LAB-RESULT nic${_i}_ping=$(net_ping "$_peer")"
	done
	for _nic in $_nics; do
		[ "${_nic%%:*}" = 0 ] || continue
		_if=${_nic#*:} _if=${_if%%:*} _peer=${_nic##*:}
		net_transfers "$_peer"
		if [ "$(cmdline_value lab.net_queues 1)" -gt 1 ]; then
			# One ping from each CPU: the driver transmits on the
			# CPU's own queue (XPS), and the TAP answers a flow on
			# the queue it came from.
			echo "LAB-RESULT nic0_ping_cpu0=$(net_ping "$_peer" 1)"
			echo "LAB-RESULT nic0_ping_cpu1=$(net_ping "$_peer" 2)"
			echo "LAB-RESULT nic0_queues=$(ls "/sys/class/net/$_if/queues" | paste -sd, -)"
			echo "LAB-RESULT nic0_queue_errors=$(dmesg | grep -c 'Fail to set num of queue pairs')"
			echo "LAB-RESULT nic0_irqs=$(net_irqs "$_if")"
		fi
	done
	# Stay up until L1 has pinged us (then 1 s, for the last replies).
	_want=$(cmdline_value lab.net_echoes 0) _w=0
	while [ "$(icmp_in_echos)" -lt "$_want" ] && [ $_w -lt 300 ]; do
		sleep 0.1
		_w=$((_w + 1))
	done
	echo "LAB-RESULT net_echoes=$(icmp_in_echos)"
	sleep 1
}

# --iommu intel with intel_iommu=on: what the kernel says of the DMA
# remapping unit, the IOMMU groups of the PCI devices, and a DMA that vmon's
# test hook (--test-hooks: an 8-byte MMIO window at LAYOUT_DMA_PROBE_BASE,
# written with busybox devmem) makes virtio-rng do to IOVA 0xdead0000,
# which no driver mapped: the outcome vmon reports (0x01: refused by the
# IOMMU) and the fault the guest's DMAR driver logs. The checks that follow
# show that the guest and its devices carry on.
IOMMU_PROBE=0xfed91000
iommu_checks() {
	echo "LAB-RESULT iommu_vtd=$(dmesg | grep -c 'DMAR: Intel(R) Virtualization Technology for Directed I/O')"
	echo "LAB-RESULT iommu_strict=$(dmesg | grep -c 'TLB invalidation policy: strict mode')"
	echo "LAB-RESULT iommu_ir=$(dmesg | grep -o 'Enabled IRQ remapping in [a-z0-9]* mode' | head -n 1 | tr ' ' _)"
	# Interrupts through remapping: the irqchips Linux names IR-*.
	echo "LAB-RESULT iommu_virtio_irqs=$(grep -c virtio /proc/interrupts)"
	echo "LAB-RESULT iommu_ir_msi=$(grep virtio /proc/interrupts | grep -c 'IR-')"
	echo "LAB-RESULT iommu_ir_ioapic=$(grep -c 'IR-IO-APIC' /proc/interrupts)"
	echo "LAB-RESULT iommu_groups=$(ls /sys/kernel/iommu_groups/*/devices 2>/dev/null | grep '^0000:' | sort | paste -sd, -)"
	devmem $IOMMU_PROBE 64 0xdead0000
	echo "LAB-RESULT iommu_probe=$(devmem $IOMMU_PROBE 8)"
	_w=0
	while ! dmesg | grep -q 'fault addr 0xdead0000' && [ $_w -lt 50 ]; do
		sleep 0.1
		_w=$((_w + 1))
	done
	echo "LAB-RESULT iommu_fault=$(dmesg | grep -m 1 'fault addr 0xdead0000' | sed 's/.*DMAR: //; s/ /_/g')"
}

# After the other checks: every DMAR fault the guest saw, as a count.
iommu_fault_count() {
	echo "LAB-RESULT iommu_faults=$(dmesg | grep -c 'DMAR: \[DMA')"
}

# Stop here forever; the caller's timeout reports the failure.
hang() {
	echo "LAB-ERROR $*"
	while :; do sleep 3600; done
}

# The demo's NIC (lab.nic0, as in net_checks): its address, a ping to L1 and
# a page from L1's web server (scripts/demo.sh starts it).
show_network() {
	_spec=$(cmdline_value lab.nic0)
	[ -n "$_spec" ] || return 0
	_peer=${_spec##*,} _addr=${_spec#*,} _addr=${_addr%%,*}
	ip link set lo up
	if ! _desc=$(nic_up "$_spec"); then
		echo "net:     no NIC with address ${_spec%%,*}"
		return 0
	fi
	_if=${_desc%%:*} _drv=${_desc#*:}
	echo "net:     $_if $(cat "/sys/class/net/$_if/address") $_addr, driver ${_drv%%:*} on ${_drv#*:}, mtu $(cat "/sys/class/net/$_if/mtu")"
	net_wait_reachable "$_peer" 20
	echo "net:     ping $_peer: $(net_ping "$_peer") answered"
	# (busybox-static 1.35 wget crashes with -T: bound it with timeout instead)
	echo "net:     http://$_peer/ says: $(timeout 10 wget -q -O - "http://$_peer/" 2>&1)"
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
	for b in /sys/block/vd*; do
		[ -e "$b" ] || continue
		echo "disk:    /dev/${b##*/} $(($(cat "$b/size") / 2048)) MiB, serial $(cat "$b/serial" 2>/dev/null), read-only $(cat "$b/ro")"
	done
	show_network
	if [ -b /dev/vda ]; then
		dd if=/dev/urandom of=/tmp/demo bs=64k count=16 2>/dev/null
		dd if=/tmp/demo of=/dev/vda bs=64k conv=fsync 2>/dev/null
		echo 3 >/proc/sys/vm/drop_caches
		if [ "$(md5sum </tmp/demo)" = "$(dd if=/dev/vda bs=64k count=16 2>/dev/null | md5sum)" ]; then
			echo "disk:    1 MiB written to /dev/vda with fsync and read back: identical"
		else
			echo "disk:    1 MiB written to /dev/vda and read back: DIFFERENT"
		fi
	fi
}

# The management API case (run_api_case in l1-job-test.sh), step by step; L1
# answers through vmon's standard input, which reaches this script's stdin
# (the serial console).  api_until WORD: read console lines until WORD, 1 s
# at a time, running the command in $api_each between reads.
api_until() {
	_i=0
	while [ $_i -lt 600 ]; do
		_i=$((_i + 1))
		$api_each
		if read -t 1 -r _line && [ "$_line" = "$1" ]; then
			return 0
		fi
	done
	echo "LAB-ERROR gave up waiting for '$1' on the console"
}

api_tick() {
	api_ticks=$((api_ticks + 1))
	echo "LAB-TICK $api_ticks"
}

# One round of CPU and disk work, checked: hash 8 MiB, write 1 MiB of
# random data at a round-dependent MiB of /dev/vda with fsync, read it back
# past the page cache and compare.
api_work_round() {
	api_rounds=$((api_rounds + 1))
	head -c 8388608 /dev/zero | md5sum >/dev/null
	_off=$((api_rounds % 16 + 1))
	dd if=/tmp/api.work of=/dev/vda bs=1M seek=$_off count=1 conv=fsync 2>/dev/null
	echo 3 >/proc/sys/vm/drop_caches
	[ "$(dd if=/dev/vda bs=1M skip=$_off count=1 2>/dev/null | md5sum)" = "$api_want" ] ||
		api_bad=$((api_bad + 1))
	echo "LAB-API round=$api_rounds bad=$api_bad"
}

api_scenario() {
	api_ticks=0 api_rounds=0 api_bad=0
	echo "LAB-API ticking"
	api_each=api_tick api_until go
	dd if=/dev/urandom of=/tmp/api.work bs=64k count=16 2>/dev/null
	api_want=$(md5sum </tmp/api.work)
	echo "LAB-API workload-start"
	api_each=api_work_round api_until calls-done
	echo "LAB-API workload rounds=$api_rounds bad=$api_bad"
	echo "LAB-API swap-ready"
	api_each=: api_until swapped
	echo 3 >/proc/sys/vm/drop_caches
	echo "LAB-API swapped magic=$(head -c 8 /dev/vda) sectors=$(cat /sys/block/vda/size)"
	# The kernel's default for Ctrl-Alt-Del (no init told it otherwise) is
	# an immediate restart, which ends vmon with the reboot status.
	echo "LAB-API cad-ready"
	while :; do sleep 1; done
}

# The snapshot and live migration case (run_migrate_case in l1-job-test.sh).
# The guest keeps three workloads going while L1 snapshots it, restores it
# in a new vmon and migrates it live to a third one:
#   memcheck    (memcheck.c) fills lab.memcheck=MIB,REWRITE_MIB of its RAM
#               with a checked pattern, rewrites part of it and verifies it
#               all in a loop, printing "memcheck: passes=P rewrites=R
#               errors=E" every second
#   write loop  writes MIG_FILES files of MIG_FILE_BYTES random bytes in turn
#               on an ext4 on /dev/vda (sync, rename, sync), drops the page
#               cache and reads each back; the name:md5 of every file
#               written is kept in /tmp/mig.manifest (guest RAM, so that it
#               travels with the guest)
#   ping        to L1 (the NIC's peer) every 0.2 s
# and prints, every second,
#   LAB-MIG tick=N out_echos=N in_echo_reps=N in_echos=N file_writes=N file_errors=N
# from /proc/net/snmp (pings sent to L1, L1's replies, L1's pings to us) and
# the write loop.  It reads its console meanwhile: "finish" (typed by L1 on
# the last vmon's standard input) stops the workloads; the guest then
# checks every file against the manifest past the page cache, unmounts and
# powers off, printing LAB-RESULT mig_* lines.
MIG_FILES=8
MIG_FILE_BYTES=262144

icmp_field() {
	awk -v k="$1" '$1 == "Icmp:" { if (!c) { for (i = 2; i <= NF; i++) if ($i == k) c = i }
		else { print $c; exit } }' /proc/net/snmp
}

# mig_write_loop: until /tmp/mig.stop exists; its counts in /tmp/mig.loop.
mig_write_loop() {
	_i=0 _errors=0
	: >/tmp/mig.manifest
	while [ ! -e /tmp/mig.stop ]; do
		_f=f$((_i % MIG_FILES))
		head -c $MIG_FILE_BYTES /dev/urandom >/tmp/mig.src
		_sum=$(md5 </tmp/mig.src)
		if cp /tmp/mig.src "/mnt/$_f.new" && sync && mv "/mnt/$_f.new" "/mnt/$_f" && sync; then
			{ grep -v "^$_f:" /tmp/mig.manifest; echo "$_f:$_sum"; } >/tmp/mig.manifest.new
			mv /tmp/mig.manifest.new /tmp/mig.manifest
			echo 1 >/proc/sys/vm/drop_caches
			_got=$(md5 <"/mnt/$_f")
		else
			_got=write-failed
		fi
		if [ "$_got" != "$_sum" ]; then
			_errors=$((_errors + 1))
			echo "LAB-MIG file-error file=$_f want=$_sum got=$_got"
		fi
		_i=$((_i + 1))
		echo "$_i $_errors" >/tmp/mig.loop
	done
}

# mig_verify_files: each file of the manifest, read past the page cache.
mig_verify_files() {
	echo 3 >/proc/sys/vm/drop_caches
	_ok=0 _bad=0
	while IFS=: read -r _f _sum; do
		if [ "$(md5 <"/mnt/$_f")" = "$_sum" ]; then
			_ok=$((_ok + 1))
		else
			_bad=$((_bad + 1))
			echo "LAB-MIG verify-error file=$_f want=$_sum got=$(md5 <"/mnt/$_f")"
		fi
	done </tmp/mig.manifest
	echo "LAB-RESULT mig_files_verified=$_ok/$((_ok + _bad))"
	echo "LAB-RESULT mig_files=$(sort /tmp/mig.manifest | paste -sd, -)"
}

mig_scenario() {
	ip link set lo up
	_spec=$(cmdline_value lab.nic0)
	_peer=${_spec##*,}
	if ! _desc=$(nic_up "$_spec"); then
		hang "no NIC with address ${_spec%%,*}"
	fi
	echo "LAB-RESULT mig_nic=$_desc"
	net_wait_reachable "$_peer" 20 || echo "LAB-ERROR $_peer does not answer"
	mkdir -p /mnt
	if ! /sbin/mkfs.ext4 -q -F /dev/vda || ! mount -t ext4 /dev/vda /mnt; then
		hang "no ext4 on /dev/vda"
	fi
	_mc=$(cmdline_value lab.memcheck 96,16)
	memcheck -m "${_mc%,*}" -w "${_mc#*,}" &
	_memcheck=$!
	mig_write_loop &
	_loop=$!
	ping -i 0.2 "$_peer" >/dev/null 2>&1 &
	_ping=$!
	_tick=0
	echo "LAB-MIG running"
	while :; do
		_tick=$((_tick + 1))
		read -r _n _e 2>/dev/null </tmp/mig.loop || _n=0 _e=0
		echo "LAB-MIG tick=$_tick out_echos=$(icmp_field OutEchos) in_echo_reps=$(icmp_field InEchoReps) in_echos=$(icmp_field InEchos) file_writes=$_n file_errors=$_e"
		if read -t 1 -r _line && [ "$_line" = finish ]; then
			break
		fi
	done
	echo "LAB-MIG finishing"
	kill "$_ping"
	kill -TERM "$_memcheck"
	wait "$_memcheck"
	echo "LAB-RESULT mig_memcheck_rc=$?"
	touch /tmp/mig.stop
	wait "$_loop"
	read -r _n _e </tmp/mig.loop
	echo "LAB-RESULT mig_file_writes=$_n"
	echo "LAB-RESULT mig_file_errors=$_e"
	mig_verify_files
	if umount /mnt; then
		echo "LAB-RESULT mig_umount=ok"
	else
		echo "LAB-RESULT mig_umount=failed"
	fi
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
hvc)
	# --console virtio: the terminal is /dev/hvc0 (virtio_console is loaded).
	i=0
	while [ ! -c /dev/hvc0 ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	# Hold the tty open before announcing it: input to a closed tty is dropped.
	exec 3<>/dev/hvc0
	echo "LAB-HVC out=ok" >&3
	if read -t 20 -r line <&3; then
		echo "LAB-HVC in=$line" >&3
	else
		echo "LAB-HVC in=none" >&3
	fi
	exec 3>&-
	poweroff -f
	hang "poweroff -f returned"
	;;
fsync-then-wait)
	# The host kills the VMM with SIGKILL as soon as it reads LAB-FSYNCED,
	# then checks that what fsync acknowledged is in the image file.
	if [ -b /dev/vda ] && write_raw "$RAW_KILL_BLOCKS"; then
		echo "LAB-FSYNCED"
		while :; do sleep 1; done
	fi
	echo "LAB-ERROR no /dev/vda, or writing it failed"
	poweroff -f
	hang "poweroff -f returned"
	;;
net)
	net_checks
	poweroff -f
	hang "poweroff -f returned"
	;;
iommu)
	iommu_checks
	print_checks
	net_checks
	iommu_fault_count
	poweroff -f
	hang "poweroff -f returned"
	;;
api)
	api_scenario
	;;
migrate)
	mig_scenario
	poweroff -f
	hang "poweroff -f returned"
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
