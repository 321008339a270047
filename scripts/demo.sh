#!/bin/bash
# The main job: builds vmon and boots a demo Linux VM (Debian's cloud kernel,
# a busybox initramfs, 2 vCPUs) that shows its kernel, CPUs, memory, clock,
# PCI devices, entropy, a disk it writes and reads back, and a NIC on a TAP
# with which it pings the host and fetches a page from it, then powers off
# by itself. With --shell the guest gives you a shell
# instead (leave it with `poweroff -f`).
#
# When /dev/kvm has hardware virtualization, vmon boots the guest directly.
# When it is software-only (PVM), the guest runs inside the nested lab:
# QEMU/TCG with an emulated AMD-V CPU, in which vmon gets a hardware-style
# KVM (see README, "The nested lab").
# Usage: scripts/demo.sh [--shell]
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

scenario=demo
case "${1:-}" in
--shell) scenario=shell ;;
"") ;;
*) echo "usage: scripts/demo.sh [--shell]" >&2; exit 1 ;;
esac

bash scripts/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build vmon >/dev/null
bash tests/lab/prepare.sh build >/dev/null

source tests/lab/lib.sh
lab_init build
# The guest's NIC: its MAC, its address and the host end of its TAP.
demo_mac=52:54:00:de:00:01
guest_cmdline="console=ttyS0 quiet lab.scenario=$scenario lab.nic0=$demo_mac,10.0.2.2/24,10.0.2.1"

# demo_network IP: tap0 with 10.0.2.1 and a one-page web server on it, made
# with iproute2's IP (busybox's ip applet has no tuntap); prints vmon's
# --net option, or nothing when this host cannot make a TAP.
demo_network() {
	"$1" tuntap add dev tap0 mode tap 2>/dev/null &&
		"$1" addr add 10.0.2.1/24 dev tap0 && "$1" link set tap0 up || return 0
	mkdir -p /tmp/demo-www
	echo "hello from the host, over virtio-net" >/tmp/demo-www/index.html
	busybox httpd -p 10.0.2.1:80 -h /tmp/demo-www
	echo "--net tap=tap0,mac=$demo_mac"
}

hardware_kvm() {
	[ -e /dev/kvm ] && [ ! -e /sys/module/kvm_pvm ] &&
		grep -qwE 'vmx|svm' /proc/cpuinfo
}

if hardware_kvm; then
	echo "demo: /dev/kvm has hardware virtualization: booting the guest directly"
	disk=$(mktemp /tmp/vmon-demo-disk.XXXXXX)
	trap 'rm -f "$disk"' EXIT
	truncate -s 64M "$disk"
	net=$(demo_network ip)
	[ -n "$net" ] && trap 'rm -f "$disk"; ip link del tap0; pkill -f "busybox httpd -p 10.0.2.1:80"' EXIT
	# shellcheck disable=SC2086 # $net is two words or none
	build/vmon run --kernel "$LAB_BZIMAGE" --initrd "$LAB_L2_CPIO" \
		--cpus 2 --memory 512M --cmdline "$guest_cmdline" --disk path="$disk",serial=DEMO $net
	exit
fi

echo "demo: /dev/kvm is software-only here: booting the guest in the nested lab (about 30 s)"
job=$(mktemp)
trap 'rm -f "$job"' EXIT
cat >"$job" <<JOB
echo "demo: L1 is up; vmon boots the guest"
truncate -s 64M /tmp/demo.img
$(declare -f demo_network)
demo_mac=$demo_mac
net=\$(demo_network /usr/sbin/ip)
/lab/bin/vmon run --kernel /lab/bzImage --initrd /lab/l2.cpio --cpus 2 --disk path=/tmp/demo.img,serial=DEMO \
	--memory 512M --cmdline "$guest_cmdline" \$net
echo "demo: vmon exited with status \$?"
JOB
lab_build_l1_initramfs "$LAB_OUT/l1-demo.cpio" demo "$job" build/vmon
l1() {
	qemu-system-x86_64 -accel tcg,thread=multi -smp 1 -cpu "$LAB_L1_CPU" \
		-m "$LAB_L1_MEMORY" -nodefaults -no-user-config -display none -serial stdio -no-reboot \
		-kernel "$LAB_BZIMAGE" -initrd "$LAB_OUT/l1-demo.cpio" \
		-append "console=ttyS0 quiet loglevel=0 panic=-1 lab.job=demo" \
		2> >(grep -v "TCG doesn.t support" >&2)
}
if [ "$scenario" = shell ] && [ -t 0 ]; then
	l1 # the terminal goes straight through to the guest's shell
else
	l1 </dev/null | grep --line-buffered -v -E '^LAB-L1|^\[ *[0-9.]+\] kvm'
fi
