# shellcheck shell=sh
# L1 job "net" (sourced by /init, see tests/lab/l1-init.sh): the network
# benchmark of bench/net.sh.  L1 makes tap0 (10.0.2.1/24, tests/lab/l1-net.sh)
# and runs one iperf3 server and one `tcp_rr -s` on it for all runs; then
# for each target of lab.net_targets, in that order, round after round, it
# boots the L2 guest (/lab/l2.cpio, bench/l2-net-init.sh) with one NIC on
# tap0, and the guest measures against L1.  A target is VMM-VHOST:
#   vmon-vhost    vmon --net tap=tap0,vhost=on    (vhost-net in L1's kernel)
#   vmon-novhost  vmon --net tap=tap0,vhost=off   (vmon's own data path)
#   qemu-vhost    QEMU virtio-net-pci on -netdev tap,vhost=on
#   qemu-novhost  QEMU virtio-net-pci on -netdev tap,vhost=off
# and, for bench/iommu.sh (see l1-job-iommu.sh), the guest behind an
# emulated Intel VT-d IOMMU, or on the same machine without one, all on
# the VMMs' own data paths (vhost-net would bypass the IOMMU):
#   vmon-strict, vmon-lazy    vmon --net tap=tap0,vhost=off --iommu intel,
#                             guest command line intel_iommu=on
#                             iommu.strict=1 (strict) or 0 (lazy)
#   qemu-q35                  QEMU -M q35,kernel-irqchip=split, virtio-net-pci
#                             with iommu_platform=on on -netdev tap,vhost=off,
#                             no IOMMU
#   qemu-strict, qemu-lazy    the same with -device intel-iommu and the
#                             command line of vmon-strict or vmon-lazy
# Kernel parameters: lab.net_targets=LIST lab.net_runs=N (rounds)
#   lab.net_seconds=S (each measurement) and lab.l2_timeout (one VM).
# Output, parsed by bench/net.sh and bench/net-report.py:
#   LAB-NET-VERSION target=vmon|qemu|iperf3 <version>
#   LAB-NET-BEGIN target=T run=I uptime=S
#   L2:T.I| <the VMM's stdout and stderr>  (guest lines NET-..., see l2-net-init.sh)
#   LAB-NET-END target=T run=I rc=N uptime=S
#   LAB-NET-TAP target=T run=I rx_packets=N tx_packets=N  (tap0's counters, L1's view)
# Both VMMs get the same guest: kernel, initramfs, 1 vCPU, RAM, command
# line (QEMU adds reboot=acpi, see run_vmm), the same MAC on the same TAP,
# on PCI (QEMU: -M microvm,rtc=on,pcie=on, as bench/disk.sh's peer).

_targets=$(cmdline_value lab.net_targets vmon-vhost,vmon-novhost,qemu-vhost | tr ',' ' ')
_runs=$(cmdline_value lab.net_runs 1)
_secs=$(cmdline_value lab.net_seconds 10)
_append="console=ttyS0 quiet lab.nic0=$(net_mac 0),$(net_guest_addr 0)/24,$(net_host_addr 0) net.seconds=$_secs"
_rr_port=5003 # RR_PORT in l2-net-init.sh

# net_q35 PREFIX APPEND IOMMU: QEMU -M q35 (microvm cannot have an IOMMU;
# SeaBIOS boots -kernel through linuxboot_dma.bin), kernel-irqchip=split as
# QEMU's interrupt remapping would need (intremap is off here), NIC 0 as
# net_nic_args gives it on PCI (vhost=off), plus iommu_platform=on, behind
# -device intel-iommu if IOMMU is yes (first: before the PCI devices it
# translates for).
net_q35() {
	_iommu=
	[ "$3" = yes ] && _iommu="-device intel-iommu,intremap=off,caching-mode=off"
	# shellcheck disable=SC2086 # PREFIX and _iommu are split on purpose
	$1 qemu-system-x86_64 -M q35,kernel-irqchip=split -enable-kvm -cpu host \
		-smp 1 -m "$L2_MEMORY" -nodefaults -no-user-config -display none \
		-serial stdio -no-reboot -kernel /lab/bzImage -initrd /lab/l2.cpio \
		-append "$2 reboot=acpi" $_iommu \
		-netdev "tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=off" \
		-device "virtio-net-pci,netdev=n0,mac=$(net_mac 0),disable-legacy=on,romfile=,iommu_platform=on,ats=off"
}

# net_bench_run TARGET ROUND
net_bench_run() {
	_t=$1 _tag=$1.$2 _vmm=${1%%-*} _iommu='' _stats=
	case ${1#*-} in
	vhost) _vhost=on ;;
	novhost) _vhost=off ;;
	strict) _vhost=off _iommu=" intel_iommu=on iommu.strict=1" ;;
	lazy) _vhost=off _iommu=" intel_iommu=on iommu.strict=0" ;;
	q35) _vhost=off ;;
	*) _vhost=unknown ;;
	esac
	[ "$_vmm" = vmon ] && _stats=--stats
	_s=/sys/class/net/tap0/statistics
	_rx0=$(cat $_s/rx_packets) _tx0=$(cat $_s/tx_packets)
	echo "LAB-NET-BEGIN target=$_t run=$2 uptime=$(cut -d' ' -f1 /proc/uptime)"
	{
		case $_t in
		qemu-q35) net_q35 "timeout -s KILL $L2_TIMEOUT" "$_append" no </dev/null ;;
		qemu-strict | qemu-lazy)
			net_q35 "timeout -s KILL $L2_TIMEOUT" "$_append$_iommu" yes </dev/null
			;;
		vmon-strict | vmon-lazy)
			# shellcheck disable=SC2046 # the options are split on purpose
			run_vmm "timeout -s KILL $L2_TIMEOUT" vmon /lab/bzImage 1 "$_append$_iommu" \
				$(net_nic_args vmon 0 1 off pci) --iommu intel $_stats </dev/null
			;;
		*)
			# shellcheck disable=SC2046 # the options are split on purpose
			run_vmm "timeout -s KILL $L2_TIMEOUT" "$_vmm" /lab/bzImage 1 "$_append" \
				$(net_nic_args "$_vmm" 0 1 "$_vhost" pci) $_stats </dev/null
			;;
		esac
		echo "$?" >/tmp/net.status
	} 2>&1 | sed "s/^/L2:$_tag| /"
	echo "LAB-NET-END target=$_t run=$2 rc=$(cat /tmp/net.status) uptime=$(cut -d' ' -f1 /proc/uptime)"
	echo "LAB-NET-TAP target=$_t run=$2 rx_packets=$(($(cat $_s/rx_packets) - _rx0)) tx_packets=$(($(cat $_s/tx_packets) - _tx0))"
}

echo "LAB-NET-CONFIG runs=$_runs targets=$_targets seconds=$_secs memory=$L2_MEMORY l2_timeout=$L2_TIMEOUT"
echo "LAB-NET-APPEND $_append"
[ -x /lab/bin/vmon ] && echo "LAB-NET-VERSION target=vmon $(/lab/bin/vmon --version 2>&1 | head -n 1)"
echo "LAB-NET-VERSION target=qemu $(qemu-system-x86_64 --version | head -n 1)"
echo "LAB-NET-VERSION target=iperf3 $(iperf3 --version | head -n 1)"
if net_tap 0 no; then
	iperf3 -s >/tmp/iperf3.log 2>&1 &
	_iperf=$!
	tcp_rr -s "$_rr_port" &
	_rr=$!
	_i=1
	# Rounds are interleaved (round 1 of every target, then round 2, ...)
	# so that slow drifts of the nested machine spread over all targets.
	while [ "$_i" -le "$_runs" ]; do
		for _t in $_targets; do
			net_bench_run "$_t" "$_i"
		done
		_i=$((_i + 1))
	done
	kill "$_iperf" "$_rr"
	sed 's/^/L1:iperf3| /' /tmp/iperf3.log | grep -v 'Server listening\|^L1:iperf3| -*$' | head -n 20
else
	echo "LAB-ERROR could not make tap0"
fi
