#!/bin/bash
# Snapshot, restore and live migration of a running guest, on the real
# /dev/kvm: the counter guest (tests/guests/pvh_counter.S) counts on its
# console with its count in a register and in RAM. It is snapshotted in
# one vmon, restored in a second process, and migrated live from there to
# a third over 127.0.0.1; the three consoles together must count 1, 2, 3,
# ... without a gap, a repeat or a mismatch.
# Usage: snapshot.sh VMON GUESTS_DIR
set -u
vmon=$(realpath "$1")
guests=$(realpath "$2")
. "$(dirname "$0")/../lib/tap.sh"
tap_workdir

if [ ! -w /dev/kvm ]; then
	tap_skip "snapshots of a running guest" "no /dev/kvm"
	tap_done
	exit
fi

# api SOCK METHOD PATH [BODY]: sets $status and $body.
api() {
	local out sock=$1
	shift
	out=$(curl -s --max-time 60 --unix-socket "$sock" -X "$1" ${3+-H 'Content-Type: application/json' -d "$3"} \
		-w '\n%{http_code}' "http://localhost$2")
	status=${out##*$'\n'}
	body=${out%$'\n'*}
}
answered() { [ "$status" = "$1" ] || { echo "# got $status $body"; return 1; }; }
wait_for_socket() { for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.05; done; return 1; }
# last_count FILE: the last complete count the guest printed, in decimal.
last_count() {
	local hex
	hex=$(grep -a '^count [0-9a-f]\{8\}$' "$1" | tail -1 | cut -d' ' -f2)
	[ -n "$hex" ] && echo $((16#$hex))
}
wait_count() { # wait_count FILE N: until the guest has counted to N (10 s at most)
	for _ in $(seq 100); do [ "$(last_count "$1")" -ge "$2" ] 2>/dev/null && return 0; sleep 0.1; done
	return 1
}
gone() { for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; return 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# 1. The original: started over the API, counting.
"$vmon" --api-sock "$work/a.sock" </dev/null >"$work/a.out" 2>"$work/a.err" &
a=$!
wait_for_socket "$work/a.sock"
api "$work/a.sock" PUT /boot-source "{\"kernel_image_path\": \"$guests/pvh_counter.elf\"}"
api "$work/a.sock" PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 64}'
api "$work/a.sock" PUT /actions '{"action_type": "InstanceStart"}'
tap_check "the counter guest counts in the first vmon" wait_count "$work/a.out" 20

api "$work/a.sock" PUT /snapshot/create "{\"snapshot_path\": \"$work/vm.state\", \"mem_file_path\": \"$work/vm.mem\"}"
tap_check "a snapshot of a running VM is refused" answered 400
api "$work/a.sock" PATCH /vm '{"state": "Paused"}'
api "$work/a.sock" PUT /snapshot/create "{\"snapshot_path\": \"$work/vm.state\", \"mem_file_path\": \"$work/vm.mem\"}"
tap_check "PUT /snapshot/create on the paused VM: 204" answered 204
tap_check "the memory file has the RAM's size, 64 MiB" test "$(stat -c %s "$work/vm.mem")" = $((64 << 20))
tap_check "and is sparse (the guest touched little)" test "$(stat -c %b "$work/vm.mem")" -lt $((8 << 11))
kill -TERM "$a"
tap_check "the first vmon ends on SIGTERM" gone "$a"
at_snapshot=$(last_count "$work/a.out")

# 2. Restored in another process, from the files only.
"$vmon" restore "$work/vm.state" "$work/vm.mem" --api-sock "$work/b.sock" </dev/null >"$work/b.out" 2>"$work/b.err" &
b=$!
tap_check "vmon restore runs the snapshot" wait_count "$work/b.out" $((at_snapshot + 20))
first_b=$((16#$(grep -a -m1 '^count [0-9a-f]\{8\}$' "$work/b.out" | cut -d' ' -f2)))
tap_check "the restored guest goes on from where it was (count $at_snapshot, then $first_b)" \
	test "$first_b" -le $((at_snapshot + 2)) -a "$first_b" -ge 1

# 3. Migrated live from the restored one to a third vmon.
port=$(free_port)
"$vmon" migrate-receive --listen "127.0.0.1:$port" --api-sock "$work/c.sock" </dev/null >"$work/c.out" 2>"$work/c.err" &
c=$!
for _ in $(seq 50); do grep -q "waiting for a migration" "$work/c.err" && break; sleep 0.1; done
api "$work/b.sock" PUT /migrate "{\"destination_url\": \"127.0.0.1:$port\"}"
tap_check "PUT /migrate: 200 with the rounds" answered 200
echo "# $body"
tap_check "the source vmon ends after the migration" gone "$b"
wait "$b"
tap_check "with exit status 0" test $? = 0
before=$(last_count "$work/c.out")
tap_check "the migrated guest counts in the third vmon" wait_count "$work/c.out" $((${before:-0} + 20))
api "$work/c.sock" GET /
tap_check "the destination's API says Running" answered 200

# The three consoles are one count: 1, 2, 3, ... (a line cut by the snapshot
# is finished by the next process; a count may be printed twice across a
# snapshot if the guest was paused mid-line and the restore reprints it).
cat "$work/a.out" "$work/b.out" "$work/c.out" | tr -d '\r' >"$work/all.out"
tap_check "no count mismatch in any copy" bash -c "! grep -q MISMATCH '$work/all.out'"
tap_check "the counts run without a gap or going back" python3 - "$work/all.out" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
counts = [int(x, 16) for x in re.findall(r"count ([0-9a-f]{8})", text)]
bad = [(a, b) for a, b in zip(counts, counts[1:]) if b != a + 1]
print("# %d counts, %d..%d, breaks: %s" % (len(counts), counts[0], counts[-1], bad[:5]))
sys.exit(1 if bad or counts[0] != 1 else 0)
PY
kill -TERM "$c" 2>/dev/null
gone "$c"

# 4. Snapshots taken in the middle of port I/O: the guest loops bytes
# through the UART; each snapshot must hold whole instructions (an IN
# whose byte was taken is finished, not run again by the restored copy).
"$vmon" --api-sock "$work/d.sock" </dev/null >"$work/d.out" 2>"$work/d.err" &
d=$!
wait_for_socket "$work/d.sock"
api "$work/d.sock" PUT /boot-source "{\"kernel_image_path\": \"$guests/pvh_uart_loopback.elf\"}"
api "$work/d.sock" PUT /actions '{"action_type": "InstanceStart"}'
rounds=12 mismatches=0
for i in $(seq $rounds); do
	sleep 0.05
	api "$work/d.sock" PATCH /vm '{"state": "Paused"}'
	api "$work/d.sock" PUT /snapshot/create "{\"snapshot_path\": \"$work/l$i.state\", \"mem_file_path\": \"$work/l$i.mem\"}"
	api "$work/d.sock" PATCH /vm '{"state": "Resumed"}'
	"$vmon" restore "$work/l$i.state" "$work/l$i.mem" </dev/null >"$work/l$i.out" 2>&1 &
	r=$!
	sleep 0.4
	kill -TERM "$r" 2>/dev/null
	wait "$r" 2>/dev/null
	grep -q MISMATCH "$work/l$i.out" && mismatches=$((mismatches + 1))
	rm -f "$work/l$i.mem"
done
tap_check "$rounds snapshots in the middle of port I/O: every restored copy reads the right bytes ($mismatches mismatched)" \
	test "$mismatches" = 0 -a "$(grep -c . "$work/l$rounds.out")" -gt 0
tap_check "and the original never mismatched" bash -c "! grep -q MISMATCH '$work/d.out'"
kill -TERM "$d" 2>/dev/null
gone "$d"

# 5. A destination that refuses the VM (a disk its operator did not allow):
# the source hears why and runs on.
truncate -s 1M "$work/e.img"
"$vmon" --api-sock "$work/e.sock" </dev/null >"$work/e.out" 2>"$work/e.err" &
e=$!
wait_for_socket "$work/e.sock"
api "$work/e.sock" PUT /boot-source "{\"kernel_image_path\": \"$guests/pvh_counter.elf\"}"
api "$work/e.sock" PUT /drives/data "{\"drive_id\": \"data\", \"path_on_host\": \"$work/e.img\", \"is_root_device\": false}"
api "$work/e.sock" PUT /actions '{"action_type": "InstanceStart"}'
wait_count "$work/e.out" 5
port=$(free_port)
"$vmon" migrate-receive --listen "127.0.0.1:$port" </dev/null >"$work/f.out" 2>"$work/f.err" &
f=$!
for _ in $(seq 50); do grep -q "waiting for a migration" "$work/f.err" && break; sleep 0.1; done
api "$work/e.sock" PUT /migrate "{\"destination_url\": \"127.0.0.1:$port\"}"
tap_check "a destination without --allow-disk refuses: the source's fault gives its reason" \
	bash -c "[ '$status' = 400 ] && grep -q 'not given (--allow-disk)' <<<'$body'"
echo "# $body"
api "$work/e.sock" GET /
tap_check "and the source runs on" bash -c "grep -q Running <<<'$body'"
before=$(last_count "$work/e.out")
tap_check "counting" wait_count "$work/e.out" $((before + 5))
tap_check "the refusing destination exits" gone "$f"
kill -TERM "$e" 2>/dev/null
gone "$e"
tap_done
