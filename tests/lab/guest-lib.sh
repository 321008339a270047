# shellcheck shell=sh
# Helpers for the scripts that run inside the lab's machines (L1's /init,
# L2's /init.sh, the disk benchmark's guest). Every initramfs carries this
# file as /guest-lib.sh; busybox sh sources it.

# cmdline_value KEY [DEFAULT]: value of KEY=... on the kernel command line.
cmdline_value() {
	_v=${2:-}
	# shellcheck disable=SC2013 # the command line is split into words
	for _arg in $(cat /proc/cmdline); do
		case "$_arg" in
		"$1"=*) _v=${_arg#*=} ;;
		esac
	done
	echo "$_v"
}
