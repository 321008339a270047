#!/bin/bash
# Bad input on the command line: one clear line on stderr, exit status 1,
# never a crash, and nothing on stdout.
# Usage: bad_input.sh VMON GUESTS_DIR
set -u
vmon=$1
guests=$2
. "$(dirname "$0")/../lib/tap.sh"
tap_workdir

printf 'just some text, not a kernel\n' >"$work/text"
head -c 600 "$guests/bzimage_boot.bin" >"$work/truncated-bzimage"
# A bzImage whose boot protocol is too old (2.05).
cp "$guests/bzimage_boot.bin" "$work/old-bzimage"
printf '\x05\x02' | dd of="$work/old-bzimage" bs=1 seek=$((0x206)) conv=notrunc status=none

# A bzImage that needs 64 MiB from 1 MiB on to decompress (init_size at 0x260).
cp "$guests/bzimage_boot.bin" "$work/big-bzimage"
printf '\x00\x00\x00\x04' | dd of="$work/big-bzimage" bs=1 seek=$((0x260)) conv=notrunc status=none
head -c $((6 << 20)) /dev/zero >"$work/6M.img"

# rejects EXPECTED-TEXT VMON-ARGS...: status 1, exactly one line mentioning the text.
rejects() {
	local expected=$1
	shift
	timeout 20 "$vmon" "$@" </dev/null >"$work/out" 2>"$work/err"
	local rc=$?
	local lines
	lines=$(wc -l <"$work/err")
	if [ "$rc" = 1 ] && [ "$lines" = 1 ] && grep -qiF -- "$expected" "$work/err" && [ ! -s "$work/out" ]; then
		return 0
	fi
	echo "# status $rc, $lines stderr lines:"
	sed 's/^/#   /' "$work/err" | head -5
	return 1
}

k="$guests/pvh_io.elf"
tap_check "no command" rejects "missing command"
tap_check "unknown command" rejects "unknown command" frobnicate
tap_check "run without --kernel" rejects "--kernel" run
tap_check "unknown option" rejects "unknown option '--frob'" run --kernel "$k" --frob
tap_check "option without its value" rejects "option '--memory' needs a value" run --kernel "$k" --memory
tap_check "stray argument" rejects "unexpected argument" run --kernel "$k" extra
tap_check "missing kernel file" rejects "No such file" run --kernel "$work/nope"
tap_check "kernel is a directory" rejects "not a regular file" run --kernel "$work"
tap_check "kernel is not a kernel" rejects "not a Linux kernel" run --kernel "$work/text"
tap_check "truncated bzImage" rejects "truncated" run --kernel "$work/truncated-bzimage"
tap_check "bzImage protocol too old" rejects "older than 2.06" run --kernel "$work/old-bzimage"
tap_check "ELF without a PVH note" rejects "no PVH entry note" run --kernel /bin/true
tap_check "missing initrd" rejects "cannot read initrd" run --kernel "$k" --initrd "$work/nope"
tap_check "memory: not a size" rejects "not a size" run --kernel "$k" --memory lots
tap_check "memory: fraction" rejects "not a size" run --kernel "$k" --memory 1.5G
tap_check "memory: zero" rejects "larger than zero" run --kernel "$k" --memory 0
tap_check "memory: not whole MiB" rejects "whole number of MiB" run --kernel "$k" --memory 1000K
tap_check "memory: overflow" rejects "too large" run --kernel "$k" --memory 99999999999T
tap_check "memory: beyond the 64-bit PCI window" rejects "at most 255 GiB" run --kernel "$k" --memory 100T
tap_check "memory: more than the host has" rejects "more than this host has" run --kernel "$k" --memory 250G
tap_check "memory: too small" rejects "at least" run --kernel "$k" --memory 2M
tap_check "memory: too small for the kernel" rejects "too small for this kernel" run --kernel "$work/big-bzimage" --memory 32M
tap_check "memory: too small for the initrd" rejects "initrd does not fit" run --kernel "$k" --memory 4M --initrd "$work/6M.img"
tap_check "cpus: zero" rejects "at least 1" run --kernel "$k" --cpus 0
tap_check "cpus: negative" rejects "not a number" run --kernel "$k" --cpus -1
tap_check "cpus: not a number" rejects "not a number" run --kernel "$k" --cpus two
tap_check "cpus: too many" rejects "more than vmon supports" run --kernel "$k" --cpus 255
tap_check "command line too long for the kernel" rejects "command line is longer" \
	run --kernel "$guests/bzimage_boot.bin" --cmdline "$(head -c 300 /dev/zero | tr '\0' x)"

tap_check "disk: no path" rejects "needs path=FILE" run --kernel "$k" --disk readonly=on
tap_check "disk: unknown key" rejects "unknown key" run --kernel "$k" --disk path=/x,colour=blue
tap_check "disk: bad queues" rejects "queues=" run --kernel "$k" --disk path=/x,queues=0
tap_check "disk: bad transport" rejects "transport=" run --kernel "$k" --disk path=/x,transport=isa
tap_check "disk: serial too long" rejects "serial" run --kernel "$k" --disk path=/x,serial=123456789012345678901
nine=()
for i in 1 2 3 4 5 6 7 8 9; do nine+=(--disk "path=/x$i"); done
tap_check "disk: more than 8" rejects "at most 8" run --kernel "$k" "${nine[@]}"

# Disk images are opened with the other input, before KVM: one line too.
head -c 1000 /dev/zero >"$work/odd.img"
tap_check "disk: image missing" rejects "the file does not exist" \
	run --kernel "$k" --disk path="$work/missing.img"
tap_check "disk: size not a multiple of 512" rejects "multiple of 512" \
	run --kernel "$k" --disk path="$work/odd.img"
tap_check "disk: a directory" rejects "--disk path=$work" run --kernel "$k" --disk path="$work"

tap_check "net: no tap" rejects "needs tap=NAME" run --kernel "$k" --net mac=52:54:00:00:00:01
tap_check "net: unknown key" rejects "unknown key" run --kernel "$k" --net tap=t0,speed=10G
tap_check "net: item without =" rejects "without key=value" run --kernel "$k" --net tap=t0,vhost
tap_check "net: name too long" rejects "1 to 15 characters" run --kernel "$k" --net tap=abcdefghijklmnop
tap_check "net: bad mac" rejects "six hex bytes" run --kernel "$k" --net tap=t0,mac=52:54:00:12:34
tap_check "net: mac with junk" rejects "six hex bytes" run --kernel "$k" --net tap=t0,mac=52:54:00:12:34:5g
tap_check "net: multicast mac" rejects "unicast" run --kernel "$k" --net tap=t0,mac=01:00:5e:00:00:01
tap_check "net: zero mac" rejects "all zeros" run --kernel "$k" --net tap=t0,mac=00:00:00:00:00:00
tap_check "net: bad queues" rejects "queues=" run --kernel "$k" --net tap=t0,queues=9
tap_check "net: bad vhost" rejects "vhost=" run --kernel "$k" --net tap=t0,vhost=maybe
tap_check "net: bad transport" rejects "transport=" run --kernel "$k" --net tap=t0,transport=usb
tap_check "net: the same TAP twice" rejects "already in use" run --kernel "$k" --net tap=t0 --net tap=t0
tap_check "iommu: not intel" rejects "must start with intel" run --kernel "$k" --iommu amd
tap_check "iommu: unknown key" rejects "unknown key" run --kernel "$k" --iommu intel,eim=on
tap_check "iommu: bad intremap" rejects "intremap= takes on or off" run --kernel "$k" --iommu intel,intremap=maybe
tap_check "iommu: with vhost=on" rejects "vhost=on cannot be combined with --iommu" \
	run --kernel "$k" --iommu intel --net tap=t0,vhost=on
tap_check "iommu: with a virtio-mmio disk" rejects "--iommu needs every disk on PCI" \
	run --kernel "$k" --iommu intel --disk path=/dev/null,transport=mmio
nine=()
for i in 1 2 3 4 5 6 7 8 9; do nine+=(--net "tap=t$i"); done
tap_check "net: more than 8" rejects "at most 8" run --kernel "$k" "${nine[@]}"
tap_check "net: no such interface" rejects "--net tap=vmonnope0: no such network interface" \
	run --kernel "$k" --net tap=vmonnope0
if [ -w /dev/net/tun ]; then
	tap_check "net: not a TAP (lo)" rejects "--net tap=lo: is not a TAP" run --kernel "$k" --net tap=lo
else
	tap_skip "net: not a TAP (lo)" "no access to /dev/net/tun"
fi
# A real TAP of our own, when this host lets us make one.
tap_name=vmonbi$$
if [ -w /dev/net/tun ] && ip tuntap add dev "$tap_name" mode tap 2>/dev/null; then
	trap 'ip tuntap del dev "$tap_name" mode tap 2>/dev/null; rm -rf "$work"' EXIT
	tap_check "net: two queues on a single-queue TAP" rejects "multi_queue" \
		run --kernel "$k" --net tap="$tap_name",queues=2
	if [ -e /dev/vhost-net ]; then
		tap_skip "net: vhost=on without /dev/vhost-net" "this host has vhost-net"
	else
		tap_check "net: vhost=on without /dev/vhost-net" rejects "no /dev/vhost-net" \
			run --kernel "$k" --net tap="$tap_name",vhost=on
	fi
else
	tap_skip "net: two queues on a single-queue TAP" "cannot create a TAP here"
	tap_skip "net: vhost=on without /dev/vhost-net" "cannot create a TAP here"
fi

tap_check "console: unknown kind" rejects "must be serial or virtio" run --kernel "$k" --console vga

# --config-file: Firecracker's JSON configuration instead of the options.
config() { printf '%s' "$2" >"$work/$1.json"; }
config malformed '{"boot-source": {"kernel_image_path": "/k"}'
config unknown-field '{"boot-source": {"kernel_image_path": "/k", "kernel": "/k"}}'
config no-boot-source '{"machine-config": {"vcpu_count": 1, "mem_size_mib": 64}}'
config no-kernel '{"boot-source": {"boot_args": "quiet"}}'
config wrong-type '{"boot-source": {"kernel_image_path": "/k"}, "machine-config": {"vcpu_count": "2", "mem_size_mib": 64}}'
config vsock '{"boot-source": {"kernel_image_path": "/k"}, "vsock": {"guest_cid": 3, "uds_path": "/v"}}'
config missing-kernel-file "{\"boot-source\": {\"kernel_image_path\": \"$work/nope\"}}"
config tiny "{\"boot-source\": {\"kernel_image_path\": \"$k\", \"boot_args\": \"tiny guest cmdline\"},
  \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 64, \"smt\": false}, \"drives\": [], \"balloon\": null}"
head -c $(((1 << 20) + 1)) /dev/zero | tr '\0' ' ' >"$work/huge.json"
tap_check "config file: malformed JSON" rejects "malformed.json' is not valid JSON" \
	run --config-file "$work/malformed.json"
tap_check "config file: unknown field" rejects "unknown field \`kernel\` in boot-source" \
	run --config-file "$work/unknown-field.json"
tap_check "config file: no boot-source" rejects "missing section \`boot-source\`" \
	run --config-file "$work/no-boot-source.json"
tap_check "config file: no kernel" rejects "missing field \`kernel_image_path\` in boot-source" \
	run --config-file "$work/no-kernel.json"
tap_check "config file: wrong type" rejects "\`vcpu_count\` in machine-config must be an integer, not a string" \
	run --config-file "$work/wrong-type.json"
tap_check "config file: a section vmon lacks" rejects "section \`vsock\` is not supported by vmon" \
	run --config-file "$work/vsock.json"
tap_check "config file: does not exist" rejects "--config-file '$work/nope.json': No such file" \
	run --config-file "$work/nope.json"
tap_check "config file: larger than 1 MiB" rejects "is larger than 1 MiB" run --config-file "$work/huge.json"
tap_check "config file: with --kernel" rejects "--config-file cannot be combined with --kernel" \
	run --config-file "$work/tiny.json" --kernel "$k"
tap_check "config file: its kernel is missing" rejects "No such file" run --config-file "$work/missing-kernel-file.json"
# boots VMON-ARGS...: the tiny guest of tiny.json prints its command line and powers off (status 0).
boots() {
	timeout 60 "$vmon" "$@" </dev/null >"$work/out" 2>"$work/err"
	local rc=$?
	if [ "$rc" = 0 ] && grep -qxF "cmdline: tiny guest cmdline" "$work/out"; then
		return 0
	fi
	echo "# status $rc"
	sed 's/^/#   /' "$work/out" "$work/err" | head -20
	return 1
}
boots_with_stats() { boots run --config-file "$work/tiny.json" --stats && grep -qF "vmon-stats" "$work/err"; }
# As a Firecracker launcher starts it: no API, the log and metrics files from flags.
boots_with_firecracker_flags() {
	boots --no-api --config-file "$work/tiny.json" --id tiny-1 --no-seccomp --log-path "$work/log" --level Warn \
		--show-level --metrics-path "$work/metrics" && [ -e "$work/log" ] && [ -s "$work/metrics" ]
}
if [ -w /dev/kvm ]; then
	tap_check "config file: a tiny guest boots from one, with --stats" boots_with_stats
	tap_check "config file without run, with Firecracker's flags: it boots; log and metrics files" \
		boots_with_firecracker_flags
else
	tap_skip "config file: a tiny guest boots from one, with --stats" "no access to /dev/kvm"
	tap_skip "config file without run, with Firecracker's flags: it boots; log and metrics files" "no access to /dev/kvm"
fi

tap_check "api: --api-sock without a path" rejects "option '--api-sock' needs a value" --api-sock
tap_check "api: --api-sock too long" rejects "must be a path of 1 to 107 bytes" --api-sock "/$(head -c 120 /dev/zero | tr '\0' s)"
tap_check "api: bad --id" rejects "--id 'my_vm' must be 1 to 64 characters of A-Z, a-z, 0-9 and -" \
	--api-sock "$work/s" --id my_vm
tap_check "api: --id too long" rejects "must be 1 to 64 characters" --api-sock "$work/s" --id "$(head -c 65 /dev/zero | tr '\0' i)"
tap_check "api: --seccomp-filter" rejects "--seccomp-filter '$work/f.bpf' cannot be applied: vmon has no seccomp filtering yet" \
	--api-sock "$work/s" --seccomp-filter "$work/f.bpf"
tap_check "api: --boot-timer" rejects "--boot-timer is not supported by vmon" --api-sock "$work/s" --boot-timer
tap_check "api: --http-api-max-payload-size" rejects "body limit is fixed at 51200 bytes" \
	--api-sock "$work/s" --http-api-max-payload-size 1000000
tap_check "api: bad --level" rejects "--level 'loud' must be Error, Warning (or Warn), Info, Debug, Trace or Off" \
	--config-file "$work/tiny.json" --level loud
tap_check "api: --log-path without --config-file" rejects "--log-path works only with --config-file" \
	--api-sock "$work/s" --log-path "$work/log"
tap_check "api: neither --api-sock nor --config-file" rejects "missing --api-sock PATH" --id vm1
tap_check "api: --no-api with --api-sock" rejects "--no-api cannot be combined with --api-sock" \
	--no-api --api-sock "$work/s" --config-file "$work/tiny.json"
tap_check "ctl: unknown action" rejects "unknown ctl action 'stop'" ctl --api-sock "$work/s" stop
tap_check "ctl: no action" rejects "ctl needs an action" ctl --api-sock "$work/s"
tap_check "ctl: no --api-sock" rejects "ctl needs --api-sock PATH" ctl pause

# Snapshots: vmon restore of bad files, each refused with one line; a real
# snapshot of the spinning tiny guest, taken through the API, spoiled in
# every way a file can be.
tap_check "snapshot: no --api-sock" rejects "snapshot needs --api-sock PATH" snapshot "$work/s" "$work/m"
tap_check "snapshot: one file" rejects "snapshot needs STATE_FILE MEM_FILE" snapshot --api-sock "$work/s" "$work/s"
tap_check "snapshot: nobody serves the socket" rejects "vmon snapshot: cannot reach vmon at '$work/none.sock'" \
	snapshot --api-sock "$work/none.sock" "$work/vm.state" "$work/vm.mem"
tap_check "restore: no files" rejects "restore needs STATE_FILE MEM_FILE" restore
tap_check "restore: --listen" rejects "--listen is migrate-receive's" restore "$work/a" "$work/b" --listen 127.0.0.1:4444
tap_check "restore: state file missing" rejects "cannot read the snapshot '$work/nope.state': No such file" \
	restore "$work/nope.state" "$work/nope.mem"
tap_check "restore: state file is a directory" rejects "the snapshot '$work' is not a regular file" \
	restore "$work" "$work/nope.mem"
: >"$work/empty.state"
tap_check "restore: empty state file" rejects "the state is truncated" restore "$work/empty.state" "$work/nope.mem"
head -c 4096 /dev/urandom >"$work/garbage.state"
tap_check "restore: garbage state file" rejects "this is not a vmon state" restore "$work/garbage.state" "$work/nope.mem"

# put METHOD PATH BODY: the status of that call to the vmon serving $work/snap.sock.
put() {
	curl -s --max-time 10 --unix-socket "$work/snap.sock" -X "$1" -d "$3" -o /dev/null -w '%{http_code}' \
		"http://localhost$2"
}
# snapshot_tiny_guest: vm.state and vm.mem of pvh_spin (32 MiB), by the API.
snapshot_tiny_guest() {
	local pid ok=1
	"$vmon" --api-sock "$work/snap.sock" </dev/null >/dev/null 2>"$work/snap.err" &
	pid=$!
	for _ in $(seq 100); do [ -S "$work/snap.sock" ] && break; sleep 0.05; done
	[ "$(put PUT /boot-source "{\"kernel_image_path\": \"$guests/pvh_spin.elf\"}")" = 204 ] &&
		[ "$(put PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 32}')" = 204 ] &&
		[ "$(put PUT /actions '{"action_type": "InstanceStart"}')" = 204 ] &&
		[ "$(put PATCH /vm '{"state": "Paused"}')" = 204 ] &&
		[ "$(put PUT /snapshot/create "{\"snapshot_path\": \"$work/vm.state\", \"mem_file_path\": \"$work/vm.mem\"}")" = 204 ] &&
		ok=0
	kill -TERM "$pid"
	wait "$pid"
	return $ok
}
if [ -w /dev/kvm ] && snapshot_tiny_guest; then
	size=$(stat -c %s "$work/vm.state")
	head -c $((size / 2)) "$work/vm.state" >"$work/truncated.state"
	cp "$work/vm.state" "$work/flipped.state"
	printf '\xa5' | dd of="$work/flipped.state" bs=1 seek=$((size / 2)) conv=notrunc status=none
	# Format version 2 in the header (offset 12), nothing else changed.
	cp "$work/vm.state" "$work/version2.state"
	printf '\x02' | dd of="$work/version2.state" bs=1 seek=12 conv=notrunc status=none
	head -c $((16 << 20)) "$work/vm.mem" >"$work/short.mem"
	tap_check "restore: truncated state file" rejects "the state is truncated" \
		restore "$work/truncated.state" "$work/vm.mem"
	tap_check "restore: a bit-flipped state file" rejects "its checksum does not match" \
		restore "$work/flipped.state" "$work/vm.mem"
	tap_check "restore: a state of another format version" rejects \
		"written by a newer vmon (format version 2; this vmon reads version 1)" \
		restore "$work/version2.state" "$work/vm.mem"
	tap_check "restore: memory file missing" rejects "cannot open the memory file '$work/nope.mem'" \
		restore "$work/vm.state" "$work/nope.mem"
	tap_check "restore: memory file of the wrong size" rejects "not a regular file of 32 MiB" \
		restore "$work/vm.state" "$work/short.mem"
	tap_check "restore: memory file is a directory" rejects "not a regular file of 32 MiB" \
		restore "$work/vm.state" "$work"
else
	for t in "truncated state file" "a bit-flipped state file" "a state of another format version" \
		"memory file missing" "memory file of the wrong size" "memory file is a directory"; do
		tap_skip "restore: $t" "no /dev/kvm to take a snapshot with"
	done
fi

tap_check "migrate-receive: no --listen" rejects "migrate-receive needs --listen ADDR:PORT" migrate-receive
tap_check "migrate-receive: --listen without a port" rejects "--listen '127.0.0.1' must be ADDR:PORT with a port from 1 to 65535" \
	migrate-receive --listen 127.0.0.1
tap_check "migrate-receive: --listen port 0" rejects "with a port from 1 to 65535" migrate-receive --listen 127.0.0.1:0
tap_check "migrate-receive: --listen port 65536" rejects "with a port from 1 to 65535" migrate-receive --listen 127.0.0.1:65536
tap_check "migrate-receive: --listen without an address" rejects "has no address before :PORT" migrate-receive --listen :4444
tap_check "migrate-receive: --listen IPv6 without brackets" rejects "must have its IPv6 address in brackets" \
	migrate-receive --listen ::1:4444
tap_check "migrate-receive: --listen on an address this host lacks" rejects "cannot listen on 192.0.2.1:4444" \
	migrate-receive --listen 192.0.2.1:4444
touch "$work/taken.sock"
tap_check "migrate-receive: an --api-sock path that exists, refused before any migration comes" \
	rejects "--api-sock '$work/taken.sock': the path exists" \
	migrate-receive --listen 127.0.0.1:4444 --api-sock "$work/taken.sock"
tap_check "migrate-receive: --allow-tap with a name too long" rejects "is not an interface name" \
	migrate-receive --listen 127.0.0.1:4444 --allow-tap abcdefghijklmnopq
tap_check "migrate-receive: --allow-disk empty" rejects "--allow-disk needs a path" \
	migrate-receive --listen 127.0.0.1:4444 --allow-disk ""
tap_check "restore: --allow-disk" rejects "--allow-disk is migrate-receive's" restore "$work/a" "$work/b" --allow-disk /x
tap_check "migrate-receive: --paused" rejects "--paused is restore's" migrate-receive --listen 127.0.0.1:4444 --paused
tap_check "ctl migrate: no --to" rejects "ctl migrate needs --to ADDR:PORT" ctl --api-sock "$work/s" migrate
tap_check "ctl migrate: bad --to" rejects "--to 'nowhere' must be ADDR:PORT" ctl --api-sock "$work/s" migrate --to nowhere
tap_check "ctl migrate: bad --max-downtime-ms" rejects "--max-downtime-ms '0' must be a number of milliseconds from 1 to 60000" \
	ctl --api-sock "$work/s" migrate --to 127.0.0.1:4444 --max-downtime-ms 0

help_works() { "$vmon" --help | grep -q "usage: vmon run"; }
version_works() { "$vmon" --version | grep -qx "vmon [0-9.]*"; }
tap_check "--help prints the usage" help_works
tap_check "--version prints the version" version_works
tap_done
