# L1 job "test" (sourced by /init, see l1-init.sh): the end-to-end cases of
# tests/lab/run.sh.  It only runs the L2 guests and reports raw facts; the
# host decides what passes.
#
# For each case it prints:
#   LAB-CASE-BEGIN name=NAME vmm=VMM kernel=FILE scenario=SCENARIO uptime=S
#   L2:NAME| <each line of the VMM's stdout and stderr>
#   LAB-CASE-END name=NAME rc=EXIT_STATUS l1_epoch=SECONDS uptime=S
# where l1_epoch is L1's `date +%s` taken right after the VMM exited, and
# uptime L1's /proc/uptime (for how long the case took).

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

# run_case NAME KERNEL SCENARIO
run_case() {
	_name=$1 _kernel=$2 _scenario=$3
	_vmm=$(cmdline_value lab.vmm vmon)
	make_disks
	echo "LAB-CASE-BEGIN name=$_name vmm=$_vmm kernel=$_kernel scenario=$_scenario uptime=$(cut -d' ' -f1 /proc/uptime)"
	{
		# shellcheck disable=SC2046 # the options are split on purpose
		run_vmm "timeout -s KILL $L2_TIMEOUT" "$_vmm" "$_kernel" 2 \
			"console=ttyS0 lab.scenario=$_scenario" $(disk_args "$_vmm") </dev/null
		echo "$? $(date +%s)" >/tmp/case.status
	} 2>&1 | sed "s/^/L2:$_name| /"
	read -r _rc _epoch </tmp/case.status
	echo "LAB-CASE-END name=$_name rc=$_rc l1_epoch=$_epoch uptime=$(cut -d' ' -f1 /proc/uptime)"
	# What the guest wrote must now be in the image file (the host's view).
	echo "LAB-CASE-DISK name=$_name vda_file_md5=$(dd if=/tmp/vda.img bs=4096 count=64 2>/dev/null | md5sum | cut -d' ' -f1)"
}

run_case bzimage /lab/bzImage checks-poweroff
run_case pvh /lab/vmlinux checks-reboot
