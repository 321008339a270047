# shellcheck shell=sh
# L1 job "iommu" (sourced by /init, see tests/lab/l1-init.sh): the IOMMU
# benchmark of bench/iommu.sh, in one L1 boot.  It runs the disk job
# (bench/l1-job-disk.sh, here /lab/jobs/disk.sh) and then the network job
# (bench/l1-job-net.sh, /lab/jobs/net.sh), each with its own targets and
# its own interleaved rounds, from the kernel parameters bench/iommu.sh
# sets: lab.iommu_parts=disk,net picks the parts; lab.disk_* and lab.net_*
# are those jobs' own (lab.disk_targets=vmon,vmon-strict,...,
# lab.net_targets=vmon-novhost,vmon-strict,...).  The targets that are new
# for this benchmark (vmon-strict, vmon-lazy, qemu-q35, qemu-strict,
# qemu-lazy) are described in those two jobs.
# Output: LAB-IOMMU-PART part=disk|net begin|end uptime=S around each part,
# LAB-IOMMU-FIRMWARE (what QEMU's q35 needs: SeaBIOS, the -kernel option ROM,
# kvmvapic), then the jobs' own lines.  The guests add IOMMU-INFO lines (see
# bench/iommu.sh).

_parts=$(cmdline_value lab.iommu_parts disk,net | tr ',' ' ')
_fw=
for _f in /usr/share/seabios/bios-256k.bin /usr/share/qemu/linuxboot_dma.bin /usr/share/qemu/kvmvapic.bin; do
	[ -f "$_f" ] || _fw="$_fw missing:$_f"
done
echo "LAB-IOMMU-FIRMWARE ${_fw:-ok}"
for _part in $_parts; do
	echo "LAB-IOMMU-PART part=$_part begin uptime=$(cut -d' ' -f1 /proc/uptime)"
	# Each in a subshell: the jobs' variables (_targets, _runs, ...) and
	# their helpers stay apart.
	# shellcheck disable=SC1091 # bench/l1-job-disk.sh, bench/l1-job-net.sh
	case $_part in
	disk) (. /lab/jobs/disk.sh) ;;
	net) (. /lab/jobs/net.sh) ;;
	*) echo "LAB-ERROR unknown part '$_part'" ;;
	esac
	echo "LAB-IOMMU-PART part=$_part end uptime=$(cut -d' ' -f1 /proc/uptime)"
done
