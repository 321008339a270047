#!/bin/sh
# /init of the lab's L1 guest (busybox sh).  L1 is Debian's cloud kernel in
# QEMU/TCG with an emulated AMD-V CPU; once kvm-amd is loaded, its /dev/kvm
# behaves like hardware KVM and L2 guests run under an ordinary VMM.
#
# The job to run is chosen by lab.job=NAME on the kernel command line and is
# the script /lab/jobs/NAME.sh, sourced with the helpers below.  Every line
# the host parses starts with "LAB-"; L2 console output is relayed with the
# prefix "L2:<case>| ".  L1 always ends with poweroff -f.
export PATH=/bin:/usr/bin:/lab/bin
export HOME=/tmp

. /guest-lib.sh
guest_mounts
mount -t tmpfs tmpfs /tmp
# shellcheck source=tests/lab/l1-net.sh
. /lab/net.sh

L2_MEMORY=$(cmdline_value lab.l2_memory 512M)
# shellcheck disable=SC2034 # used by the jobs
L2_TIMEOUT=$(cmdline_value lab.l2_timeout 90)

# Load irqbypass, kvm, kvm-amd, and tun, tap, vhost_iotlb, vhost, vhost_net
# (the TAP interfaces and vhost-net of the network cases), in the order
# prepare.sh resolved, with the modules' default parameters (kvm-amd:
# nested=1, npt=1).  devtmpfs then has /dev/kvm, /dev/net/tun and
# /dev/vhost-net.
load_modules() {
	_failed=
	while read -r _mod; do
		insmod "/lab/modules/$_mod.ko" || _failed="$_failed $_mod"
	done </lab/modules/load-order
	[ -z "$_failed" ] || echo "LAB-ERROR insmod failed:$_failed"
}

# run_vmm PREFIX VMM KERNEL CPUS APPEND [EXTRA_ARGS...]
# Runs the L2 VMM as "PREFIX <vmm argv> EXTRA_ARGS" in the foreground.
# PREFIX is word-split on purpose (e.g. "timeout -s KILL 120"); it must not
# contain arguments with spaces.  Both VMMs get the same guest: same kernel
# file, initramfs, vCPU count, RAM size and command line (to which QEMU
# adds reboot=acpi, see below).
run_vmm() {
	_prefix=$1 _vmm=$2 _kernel=$3 _cpus=$4 _append=$5
	shift 5
	case "$_vmm" in
	vmon)
		$_prefix /lab/bin/vmon run --kernel "$_kernel" \
			--initrd /lab/l2.cpio --cpus "$_cpus" \
			--memory "$L2_MEMORY" --cmdline "$_append" "$@"
		;;
	qemu)
		# rtc=on: a CMOS RTC as vmon has, which the guest takes its
		# wall clock from (without it, QEMU's guest clock lags L1's by
		# seconds after a verbose boot, from kvm-clock drift in L1).
		# reboot=acpi: with the kernel's default reboot, a PVH guest of
		# QEMU 7.2 microvm does not reach QEMU's reset and ends up back
		# in qboot, re-entering the PVH entry on a clobbered image;
		# that state has wedged L1's TCG vCPU.  ACPI reset reaches QEMU.
		$_prefix qemu-system-x86_64 -M microvm,rtc=on -enable-kvm \
			-cpu host -smp "$_cpus" -m "$L2_MEMORY" -nodefaults \
			-no-user-config -display none -serial stdio -no-reboot \
			-kernel "$_kernel" -initrd /lab/l2.cpio \
			-append "$_append reboot=acpi" "$@"
		;;
	*)
		echo "LAB-ERROR unknown VMM '$_vmm'"
		return 1
		;;
	esac
}

# Facts about L1 for the logs and the benchmark report.
describe_l1() {
	echo "LAB-L1 kernel=$(uname -r)"
	echo "LAB-L1 cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"
	echo "LAB-L1 cpus=$(grep -c '^processor' /proc/cpuinfo)"
	echo "LAB-L1 mem_kib=$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)"
	echo "LAB-L1 kvm_amd_nested=$(cat /sys/module/kvm_amd/parameters/nested 2>/dev/null)"
	echo "LAB-L1 kvm_amd_npt=$(cat /sys/module/kvm_amd/parameters/npt 2>/dev/null)"
}

main() {
	job=$(cmdline_value lab.job "")
	echo "LAB-L1 up job=$job uptime=$(cut -d' ' -f1 /proc/uptime)"
	load_modules
	if [ -c /dev/kvm ]; then
		echo "LAB-L1 kvm=ok"
	else
		echo "LAB-L1 kvm=failed"
		lsmod
		return
	fi
	describe_l1
	net_describe_l1
	if [ -f "/lab/jobs/$job.sh" ]; then
		# In a subshell, not in PID 1: orphans go to PID 1, and the
		# jobs keep their background processes off the shell that
		# relays consoles (see l1-net.sh).
		# shellcheck disable=SC1090 # tests/lab/l1-job-*.sh, bench/l1-job-*.sh
		(. "/lab/jobs/$job.sh")
	else
		echo "LAB-ERROR no job '$job'"
	fi
}

main
echo "LAB-L1-DONE uptime=$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
