# shellcheck shell=bash
# The benchmark guests shared by bench/disk.sh, bench/net.sh and
# bench/iommu.sh (sourced after tests/lab/lib.sh): the fio job file and the
# L2 initramfs of the disk and the network guests.

# bench_fio_job_file ENGINE MB RUNTIME RAMP JOBS: the fio job file, shared
# by the guest and L1.  The file and O_DIRECT come from the environment
# (DISK_FILE, DISK_DIRECT) of each run.  JOBS: comma-separated RW-BS-qdN.
bench_fio_job_file() {
	local engine=$1 mb=$2 runtime=$3 ramp=$4 jobs=$5 job
	cat <<FIO
[global]
filename=\${DISK_FILE}
direct=\${DISK_DIRECT}
ioengine=$engine
size=${mb}m
time_based
runtime=$runtime
ramp_time=$ramp
norandommap
randrepeat=0
percentile_list=50:99
lat_percentiles=1
stonewall
FIO
	for job in ${jobs//,/ }; do
		[[ $job =~ ^(randread|randwrite|read|write)-([0-9]+[kKmM])-qd([0-9]+)$ ]] ||
			lab_die "bad job '$job' (expected RW-BS-qdN, e.g. randread-4k-qd32)"
		printf '\n[%s]\nrw=%s\nbs=%s\niodepth=%s\n' "$job" "${BASH_REMATCH[1]}" \
			"${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}"
	done
}

# bench_l2_root ROOT INIT: busybox, marker-init as /init, INIT (a file of
# bench/) as /init.sh, guest-lib.sh and the virtio modules.
bench_l2_root() {
	local root=$1 init=$2
	lab_add_base "$root"
	install -m 755 "$LAB_BIN/marker-init" "$root/init"
	install -m 755 "$LAB_REPO_DIR/bench/$init" "$root/init.sh"
	install -m 644 "$LAB_SRC_DIR/guest-lib.sh" "$root/guest-lib.sh"
	cp -r "$LAB_L2_MODULES" "$root/modules"
}

# bench_build_l2_fio_initramfs OUT JOBFILE [FINISH]: the disk guest
# (bench/l2-disk-init.sh, fio and its libraries, the job file); FINISH, a
# function, may add to its root before it is packed.
bench_build_l2_fio_initramfs() {
	local out=$1 jobfile=$2 finish=${3:-} root
	lab_tmpdir root
	bench_l2_root "$root" l2-disk-init.sh
	install -m 644 "$jobfile" "$root/disk.fio"
	lab_add_dynamic "$root" /usr/bin/fio /usr/bin/fio
	[[ -z $finish ]] || "$finish" "$root"
	lab_cpio "$root" "$out"
	rm -rf "$root"
}

# bench_build_l2_net_initramfs OUT [FINISH]: the network guest
# (bench/l2-net-init.sh, iperf3 and its libraries, tcp_rr).
bench_build_l2_net_initramfs() {
	local out=$1 finish=${2:-} root
	lab_tmpdir root
	bench_l2_root "$root" l2-net-init.sh
	lab_add_dynamic "$root" /usr/bin/iperf3 /usr/bin/iperf3
	install -m 755 "$LAB_BIN/tcp_rr" "$root/usr/bin/tcp_rr"
	[[ -z $finish ]] || "$finish" "$root"
	lab_cpio "$root" "$out"
	rm -rf "$root"
}
