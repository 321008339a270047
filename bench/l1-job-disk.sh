# L1 job "disk" (sourced by /init, see tests/lab/l1-init.sh): the disk
# benchmark of bench/disk.sh.  For each target of lab.disk_targets (default
# vmon,qemu,host), in that order, it recreates the image /tmp/disk.img (L1's
# tmpfs, zero-filled so that every block is allocated) and runs the fio job
# file /lab/disk/disk.fio:
#   vmon, qemu  in an L2 guest (/lab/disk/l2.cpio, bench/l2-disk-init.sh)
#               whose /dev/vda is the image: fio with O_DIRECT on /dev/vda
#   host        in L1 itself on the image file: the ceiling.  L1's tmpfs
#               (Linux 6.1) has no O_DIRECT, so this one is buffered.
# and, for bench/iommu.sh (see l1-job-iommu.sh), the guest behind an
# emulated Intel VT-d IOMMU, or on the same machine without one:
#   vmon-strict, vmon-lazy    vmon ... --iommu intel, guest command line
#                             intel_iommu=on iommu.strict=1 (strict) or 0 (lazy)
#   qemu-q35                  QEMU -M q35,kernel-irqchip=split (SeaBIOS and
#                             linuxboot_dma.bin), virtio-blk-pci with
#                             iommu_platform=on, no IOMMU
#   qemu-strict, qemu-lazy    the same with -device intel-iommu and the
#                             command line of vmon-strict or vmon-lazy
# Kernel parameters: lab.disk_targets=LIST lab.disk_runs=N (rounds)
#   lab.disk_mb=N (image size) lab.disk_fio_timeout=S (bound of one fio run)
#   and lab.l2_timeout (bound of one VM).
# Output, parsed by bench/disk.sh and bench/disk-report.py:
#   LAB-DISK-VERSION target=T <version>
#   LAB-DISK-BEGIN target=T run=I uptime=S
#   L2:T.I| <the VMM's stdout and stderr>  (guest lines DISK-..., see l2-disk-init.sh)
#   L1:host.I| DISK-JSON <line>            (fio in L1)
#   LAB-DISK-END target=T run=I rc=N uptime=S
# Both VMMs get the same guest: kernel, initramfs, 1 vCPU, RAM, command
# line (QEMU adds reboot=acpi as tests/lab/l1-init.sh's run_vmm does).

_targets=$(cmdline_value lab.disk_targets vmon,qemu,host | tr ',' ' ')
_runs=$(cmdline_value lab.disk_runs 1)
_disk_mb=$(cmdline_value lab.disk_mb 64)
_fio_timeout=$(cmdline_value lab.disk_fio_timeout 120)
_append="console=ttyS0 quiet disk.timeout=$_fio_timeout"
_img=/tmp/disk.img

# disk_iommu_append TARGET: what the guest's command line gets for TARGET's
# IOMMU: DMA remapping with strict or lazy (deferred, batched) IOTLB
# invalidation, or nothing.
disk_iommu_append() {
	case "$1" in
	*-strict) echo " intel_iommu=on iommu.strict=1" ;;
	*-lazy) echo " intel_iommu=on iommu.strict=0" ;;
	esac
}

# disk_vmm VMM: run the L2 guest under VMM with the image as its disk.
# The same command lines as run_vmm in tests/lab/l1-init.sh, plus the disk,
# our own initramfs and, for QEMU, PCIe on microvm (its default has no PCI).
disk_vmm() {
	case "$1" in
	vmon)
		timeout -s KILL "$L2_TIMEOUT" /lab/bin/vmon run --kernel /lab/bzImage \
			--initrd /lab/disk/l2.cpio --cpus 1 --memory "$L2_MEMORY" \
			--cmdline "$_append" --disk "path=$_img" --stats
		;;
	vmon-strict | vmon-lazy)
		timeout -s KILL "$L2_TIMEOUT" /lab/bin/vmon run --kernel /lab/bzImage \
			--initrd /lab/disk/l2.cpio --cpus 1 --memory "$L2_MEMORY" \
			--cmdline "$_append$(disk_iommu_append "$1")" --disk "path=$_img" \
			--iommu intel --stats
		;;
	qemu-q35 | qemu-strict | qemu-lazy)
		# microvm cannot have an IOMMU: q35, whose firmware (SeaBIOS)
		# boots -kernel through linuxboot_dma.bin.  kernel-irqchip=split
		# as QEMU's interrupt remapping would need (intremap is off here);
		# the IOMMU comes first, before the PCI devices it translates for.
		_iommu=
		[ "$1" = qemu-q35 ] || _iommu="-device intel-iommu,intremap=off,caching-mode=off"
		# shellcheck disable=SC2086 # _iommu: none or two words
		timeout -s KILL "$L2_TIMEOUT" qemu-system-x86_64 \
			-M q35,kernel-irqchip=split -enable-kvm -cpu host -smp 1 \
			-m "$L2_MEMORY" -nodefaults -no-user-config -display none \
			-serial stdio -no-reboot -kernel /lab/bzImage \
			-initrd /lab/disk/l2.cpio \
			-append "$_append$(disk_iommu_append "$1") reboot=acpi" $_iommu \
			-drive "id=d0,file=$_img,format=raw,if=none,aio=io_uring,cache=writeback" \
			-device virtio-blk-pci,drive=d0,disable-legacy=on,iommu_platform=on,ats=off
		;;
	qemu)
		# cache=writeback: the tmpfs image cannot be opened O_DIRECT
		# (so no cache=none); aio=io_uring like vmon's backend.
		timeout -s KILL "$L2_TIMEOUT" qemu-system-x86_64 \
			-M microvm,rtc=on,pcie=on -enable-kvm -cpu host -smp 1 \
			-m "$L2_MEMORY" -nodefaults -no-user-config -display none \
			-serial stdio -no-reboot -kernel /lab/bzImage \
			-initrd /lab/disk/l2.cpio -append "$_append reboot=acpi" \
			-drive "id=d0,file=$_img,format=raw,if=none,aio=io_uring,cache=writeback" \
			-device virtio-blk-pci,drive=d0,disable-legacy=on
		;;
	esac
}

make_image() {
	rm -f "$_img"
	dd if=/dev/zero of="$_img" bs=1M count="$_disk_mb" 2>/dev/null
}

# disk_run TARGET ROUND
disk_run() {
	_t=$1 _tag=$1.$2
	make_image
	echo "LAB-DISK-BEGIN target=$_t run=$2 uptime=$(cut -d' ' -f1 /proc/uptime)"
	case "$_t" in
	host)
		DISK_FILE=$_img DISK_DIRECT=0 timeout -s KILL "$_fio_timeout" \
			fio --output-format=json /lab/disk/disk.fio >/tmp/fio.json 2>/tmp/fio.err
		_rc=$?
		sed -e 's/^[[:space:]]*//' -e "s/^/L1:$_tag| DISK-JSON /" /tmp/fio.json
		sed "s/^/L1:$_tag| DISK-STDERR /" /tmp/fio.err
		;;
	vmon | qemu | vmon-strict | vmon-lazy | qemu-q35 | qemu-strict | qemu-lazy)
		{
			disk_vmm "$_t" </dev/null
			echo "$?" >/tmp/disk.status
		} 2>&1 | sed "s/^/L2:$_tag| /"
		_rc=$(cat /tmp/disk.status)
		;;
	*)
		echo "LAB-ERROR unknown disk target '$_t'"
		_rc=1
		;;
	esac
	echo "LAB-DISK-END target=$_t run=$2 rc=$_rc uptime=$(cut -d' ' -f1 /proc/uptime)"
}

echo "LAB-DISK-CONFIG runs=$_runs targets=$_targets disk_mb=$_disk_mb memory=$L2_MEMORY l2_timeout=$L2_TIMEOUT fio_timeout=$_fio_timeout"
echo "LAB-DISK-APPEND $_append"
[ -x /lab/bin/vmon ] && echo "LAB-DISK-VERSION target=vmon $(/lab/bin/vmon --version 2>&1 | head -n 1)"
echo "LAB-DISK-VERSION target=qemu $(qemu-system-x86_64 --version | head -n 1)"
# (bench/iommu.sh has no fio in L1: no host target.)
command -v fio >/dev/null && echo "LAB-DISK-VERSION target=host $(fio --version 2>&1)"
echo "LAB-DISK-L1 tmpfs=$(grep ' /tmp ' /proc/mounts)"

# Rounds are interleaved (round 1 of every target, then round 2, ...) so
# that slow drifts of the nested machine spread over all targets.
_i=1
while [ "$_i" -le "$_runs" ]; do
	for _t in $_targets; do
		disk_run "$_t" "$_i"
	done
	_i=$((_i + 1))
done
rm -f "$_img"
