#!/bin/bash
# The main job: builds vmon and boots a demo Linux VM (Debian's cloud kernel,
# a busybox initramfs, 2 vCPUs) that shows its kernel, CPUs, memory and
# clock and powers off by itself. With --shell the guest gives you a shell
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
guest_cmdline="console=ttyS0 quiet lab.scenario=$scenario"

hardware_kvm() {
	[ -e /dev/kvm ] && [ ! -e /sys/module/kvm_pvm ] &&
		grep -qwE 'vmx|svm' /proc/cpuinfo
}

if hardware_kvm; then
	echo "demo: /dev/kvm has hardware virtualization: booting the guest directly"
	disk=$(mktemp /tmp/vmon-demo-disk.XXXXXX)
	trap 'rm -f "$disk"' EXIT
	truncate -s 64M "$disk"
	build/vmon run --kernel "$LAB_BZIMAGE" --initrd "$LAB_L2_CPIO" \
		--cpus 2 --memory 512M --cmdline "$guest_cmdline" --disk path="$disk",serial=DEMO
	exit
fi

echo "demo: /dev/kvm is software-only here: booting the guest in the nested lab (about 30 s)"
job=$(mktemp)
trap 'rm -f "$job"' EXIT
cat >"$job" <<JOB
echo "demo: L1 is up; vmon boots the guest"
truncate -s 64M /tmp/demo.img
/lab/bin/vmon run --kernel /lab/bzImage --initrd /lab/l2.cpio --cpus 2 --disk path=/tmp/demo.img,serial=DEMO \
	--memory 512M --cmdline "$guest_cmdline"
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
