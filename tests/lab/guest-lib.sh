# shellcheck shell=sh
# Helpers for the scripts that run inside the lab's machines (L1's /init,
# L2's /init.sh, the disk benchmark's guest). Every initramfs carries this
# file as /guest-lib.sh; busybox sh sources it.

# guest_mounts: /proc, /sys, /dev (the kernel may have populated it
# already: the console came from a node there) and a /tmp directory.
guest_mounts() {
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev 2>/dev/null
	mkdir -p /tmp
}

# guest_load_modules TAG: the initramfs's modules in /modules/load-order;
# a module that fails is reported as "TAG-ERROR insmod NAME failed".
guest_load_modules() {
	while read -r _m; do
		insmod "/modules/$_m.ko" || echo "$1-ERROR insmod $_m failed"
	done </modules/load-order
}

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

# net_if MAC: the name of the network interface with address MAC, once its
# driver has it (waits up to 10 s).  Fails if there is none.
net_if() {
	_w=0
	while [ $_w -lt 100 ]; do
		for _d in /sys/class/net/*; do
			if [ "$(cat "$_d/address" 2>/dev/null)" = "$1" ]; then
				echo "${_d##*/}"
				return 0
			fi
		done
		sleep 0.1
		_w=$((_w + 1))
	done
	return 1
}

# net_ping ADDR [CPU_MASK]: 3 pings to ADDR (bounded by 10 s), from the CPUs
# of CPU_MASK if given (taskset); prints RECEIVED/SENT.
net_ping() {
	if [ -n "${2:-}" ]; then
		_out=$(taskset "$2" ping -c 3 -i 0.2 -w 10 "$1" 2>&1)
	else
		_out=$(ping -c 3 -i 0.2 -w 10 "$1" 2>&1)
	fi
	_got=$(echo "$_out" | sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) packets received.*/\2\/\1/p')
	echo "${_got:-0/0}"
}

# net_wait_reachable ADDR TRIES: until ADDR answers a ping (each try waits
# up to 1 s for the answer, then 0.5 s more); fails after TRIES tries.
net_wait_reachable() {
	_w=0
	while [ $_w -lt "$2" ]; do
		ping -c 1 -W 1 "$1" >/dev/null 2>&1 && return 0
		sleep 0.5
		_w=$((_w + 1))
	done
	return 1
}
