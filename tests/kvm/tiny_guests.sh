#!/bin/bash
# Boots the tiny guests under vmon on the real /dev/kvm and checks what they
# report on the serial line, what vmon prints, and vmon's exit status.
# Usage: tiny_guests.sh VMON GUESTS_DIR
set -u
vmon=$1
guests=$2
. "$(dirname "$0")/../lib/tap.sh"
tap_workdir

# run_guest NAME VMON-RUN-ARGS...: output in $work/NAME.{out,err,rc}
run_guest() {
	local name=$1
	shift
	timeout 60 "$vmon" run "$@" </dev/null >"$work/$name.out" 2>"$work/$name.err"
	echo $? >"$work/$name.rc"
}
says() { grep -qxF -- "$2" "$work/$1.out"; }
logs() { grep -qF -- "$2" "$work/$1.err"; }
status_is() { [ "$(cat "$work/$1.rc")" = "$2" ]; }
show() { sed 's/^/# /' "$work/$1.out" "$work/$1.err"; }

run_guest io --kernel "$guests/pvh_io.elf" --cmdline "tiny guest cmdline"
for c in pvh-start-info unclaimed-port-byte unclaimed-port-dword unclaimed-mmio rtc-valid rtc-year; do
	tap_check "PVH guest: $c" says io "$c ok"
done
tap_check "PVH guest: the command line reaches the guest" says io "cmdline: tiny guest cmdline"
tap_check "PVH guest: ACPI S5 power-off ends vmon with status 0" status_is io 0
tap_check "vmon reports the host's virtualization kind" logs io "host: KVM on"
status_is io 0 || show io

printf '1-INITRD and some payload' >"$work/initrd.img"
run_guest bz --kernel "$guests/bzimage_boot.bin" --initrd "$work/initrd.img" \
	--cmdline "console=ttyS0 bz" --memory 64M
for c in setup-header zero-page-in-rsi e820-map acpi-rsdp initrd identity-map; do
	tap_check "bzImage guest: $c" says bz "$c ok"
done
tap_check "bzImage guest: the command line reaches the guest" says bz "cmdline: console=ttyS0 bz"
tap_check "bzImage guest: i8042 reset ends vmon with the reboot status 2" status_is bz 2
status_is bz 2 || show bz

run_guest tf --kernel "$guests/pvh_triple_fault.elf"
tap_check "triple fault: the guest ran up to it" says tf "tiny-guest: about to triple fault"
tap_check "triple fault ends vmon with the crash status 3" status_is tf 3
tap_check "triple fault is explained" logs tf "triple fault"
tap_check "triple fault dumps the registers" logs tf "rip="

run_guest hlt --kernel "$guests/pvh_hlt_irq.elf"
tap_check "HLT is woken by the in-kernel PIT through the PIC" says hlt "hlt-woken-by-irq0 ok"
tap_check "HLT guest powers off" status_is hlt 0
status_is hlt 0 || show hlt

run_guest smp --kernel "$guests/pvh_io.elf" --cpus 4 --stats
tap_check "4 vCPUs: the boot CPU runs the guest" says smp "unclaimed-mmio ok"
tap_check "4 vCPUs: power-off stops the waiting application processors" status_is smp 0
tap_check "--stats reports exits and memory" logs smp "vmon-stats: rss_kib="

run_guest big --kernel "$guests/pvh_io.elf" --memory 5G
tap_check "5 GiB guest (RAM split around the PCI hole) boots" says big "pvh-start-info ok"
tap_check "5 GiB guest powers off" status_is big 0

run_guest hostile --kernel "$guests/pvh_hostile.elf"
tap_check "hostile guest: vmon survives writes to every port and across the MMIO hole" \
	says hostile "hostile-sweep-done"
tap_check "hostile guest: rep outsb reaches the UART" says hostile "rep-outsb-uart!"
tap_check "hostile guest: rep insb from an unclaimed port reads all-ones" says hostile "rep-insb-unclaimed-all-ones ok"
tap_check "hostile guest: ends with a normal power-off" status_is hostile 0
status_is hostile 0 || show hostile

# --iommu: the split irqchip, vmon's IOAPIC, the VT-d unit and its DMAR
# table on this host's KVM; the guest's checks as without it.
run_guest iommu --kernel "$guests/pvh_io.elf" --cpus 2 --iommu intel,intremap=on --test-hooks
tap_check "--iommu intel,intremap=on: the PVH guest's checks pass" says iommu "pvh-start-info ok"
tap_check "--iommu intel,intremap=on: power-off ends vmon with status 0" status_is iommu 0
status_is iommu 0 || show iommu
run_guest hostile-iommu --kernel "$guests/pvh_hostile.elf" --iommu intel,intremap=on
tap_check "hostile guest behind --iommu: vmon survives the sweep and powers off" status_is hostile-iommu 0
status_is hostile-iommu 0 || show hostile-iommu

# Too few file descriptors for 8 vCPUs: creation fails half-way; vmon says
# so and exits with status 1 instead of crashing.
(ulimit -n 12; exec "$vmon" run --kernel "$guests/pvh_io.elf" --cpus 8) </dev/null \
	>"$work/fds.out" 2>"$work/fds.err"
echo $? >"$work/fds.rc"
tap_check "vCPU creation failing half-way: status 1" status_is fds 1
tap_check "vCPU creation failing half-way: explained" logs fds "Too many open files"

# stops_on NAME SIGNAL: a spinning guest, then SIGNAL to vmon; status 0, quickly.
stops_on() {
	local name=$1 sig=$2
	timeout 30 "$vmon" run --kernel "$guests/pvh_spin.elf" </dev/null \
		>"$work/$name.out" 2>"$work/$name.err" &
	local pid=$!
	for _ in $(seq 50); do
		grep -q spinning "$work/$name.out" 2>/dev/null && break
		sleep 0.1
	done
	kill "-$sig" "$pid"
	wait "$pid"
	echo $? >"$work/$name.rc"
}
stops_on term TERM
tap_check "SIGTERM stops a spinning guest with status 0" status_is term 0
stops_on int INT
tap_check "SIGINT stops a spinning guest with status 0" status_is int 0

# Ctrl-A x on the console's input quits, even when stdin is a pipe.
(sleep 1; printf '\001x'; sleep 5) | timeout 30 "$vmon" run --kernel "$guests/pvh_spin.elf" \
	>"$work/quit.out" 2>"$work/quit.err"
echo $? >"$work/quit.rc"
tap_check "Ctrl-A x quits with status 0" status_is quit 0

tap_done
