# L1 job "bench" (sourced by /init, see tests/lab/l1-init.sh): the boot
# benchmark of bench/boot.sh.  Kernel parameters:
#   lab.vmms=vmon,qemu  lab.cpus=1,2  lab.runs=5  lab.kernel=bzImage
#   lab.boot_timeout=S (marker deadline of one run)
# Runs are interleaved (run 1 of every configuration, then run 2, ...) so
# that slow drifts of the nested machine spread over all configurations.
# One line per run, parsed by bench/boot.sh:
#   LAB-BENCH vmm=V cpus=N run=I <boottime's fields> [stats_<key>=N...]
# where the stats_ fields come from vmon --stats (its stderr).

# mib SIZE: "512M" / "2G" / "512" as MiB.
mib() {
	case "$1" in
	*G | *g) echo $((${1%?} * 1024)) ;;
	*M | *m) echo "${1%?}" ;;
	*) echo "$1" ;;
	esac
}

bench_run() {
	_vmm=$1 _cpus=$2 _run=$3
	_extra=
	[ "$_vmm" = vmon ] && _extra=--stats
	# The guest powers off right after the marker; 30 s is far more than
	# it needs, after which boottime kills the VMM.
	_out=$(run_vmm "boottime -t $_boot_timeout -w 30 -g $(mib "$L2_MEMORY") -l /tmp/serial.log --" \
		"$_vmm" "/lab/$_kernel" "$_cpus" "$_append" $_extra </dev/null 2>/tmp/stderr.log)
	_stats=$(sed -n 's/^vmon-stats: //p' /tmp/stderr.log | tr ' ' '\n' |
		grep '=' | sed 's/^/stats_/' | tr '\n' ' ')
	# The guest's own clock at the marker (tests/lab/marker-init.c).
	_uptime=$(sed -n 's/.*LAB-RESULT marker_uptime_ms=\([0-9]*\).*/\1/p' /tmp/serial.log | head -n 1)
	echo "LAB-BENCH vmm=$_vmm cpus=$_cpus run=$_run ${_out#BOOTTIME } guest_uptime_ms=${_uptime:-none} $_stats"
	case "$_out" in
	*"marker=1"*) ;;
	*) # Show why this run failed.
		tail -n 20 /tmp/serial.log /tmp/stderr.log | sed "s/^/L2:$_vmm-$_cpus-$_run| /" ;;
	esac
}

_runs=$(cmdline_value lab.runs 5)
_vmms=$(cmdline_value lab.vmms vmon,qemu)
_cpus_list=$(cmdline_value lab.cpus 1,2)
_kernel=$(cmdline_value lab.kernel bzImage)
_boot_timeout=$(cmdline_value lab.boot_timeout 90)
# quiet: the time is the VMM's boot path, not 16550 output of kernel logs.
_append="console=ttyS0 quiet lab.scenario=bench"
echo "LAB-BENCH-CONFIG runs=$_runs vmms=$_vmms cpus=$_cpus_list kernel=$_kernel memory=$L2_MEMORY"
echo "LAB-BENCH-APPEND $_append"
_vmms=$(echo "$_vmms" | tr ',' ' ')
_cpus_list=$(echo "$_cpus_list" | tr ',' ' ')
for _vmm in $_vmms; do
	case "$_vmm" in
	vmon) echo "LAB-BENCH-VERSION vmm=vmon $(/lab/bin/vmon --version 2>&1 | head -n 1)" ;;
	qemu) echo "LAB-BENCH-VERSION vmm=qemu $(qemu-system-x86_64 --version | head -n 1)" ;;
	esac
done

_i=1
while [ "$_i" -le "$_runs" ]; do
	for _cpus in $_cpus_list; do
		for _vmm in $_vmms; do
			bench_run "$_vmm" "$_cpus" "$_i"
		done
	done
	_i=$((_i + 1))
done
