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

# run_case NAME KERNEL SCENARIO
run_case() {
	_name=$1 _kernel=$2 _scenario=$3
	_vmm=$(cmdline_value lab.vmm vmon)
	echo "LAB-CASE-BEGIN name=$_name vmm=$_vmm kernel=$_kernel scenario=$_scenario uptime=$(cut -d' ' -f1 /proc/uptime)"
	{
		run_vmm "timeout -s KILL $L2_TIMEOUT" "$_vmm" "$_kernel" 2 \
			"console=ttyS0 lab.scenario=$_scenario" </dev/null
		echo "$? $(date +%s)" >/tmp/case.status
	} 2>&1 | sed "s/^/L2:$_name| /"
	read -r _rc _epoch </tmp/case.status
	echo "LAB-CASE-END name=$_name rc=$_rc l1_epoch=$_epoch uptime=$(cut -d' ' -f1 /proc/uptime)"
}

run_case bzimage /lab/bzImage checks-poweroff
run_case pvh /lab/vmlinux checks-reboot
