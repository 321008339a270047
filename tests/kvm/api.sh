#!/bin/bash
# The management API end to end: vmon --api-sock with curl --unix-socket
# (and python3 for the clients curl cannot be: slow, half-closed, many
# calls on one connection, a migration peer that sends garbage), booting
# the tiny guests on the real /dev/kvm; snapshots (the API, vmon snapshot,
# vmon restore) and live migration to vmon migrate-receive.
# Usage: api.sh VMON GUESTS_DIR
set -u
vmon=$(realpath "$1")
guests=$(realpath "$2")
. "$(dirname "$0")/../lib/tap.sh"
tap_workdir
sock=$work/api.sock

# start_vmon NAME: vmon --api-sock in the background, waiting for its socket.
start_vmon() {
	rm -f "$sock"
	"$vmon" --api-sock "$sock" </dev/null >"$work/$1.out" 2>"$work/$1.err" &
	vmon_pid=$!
	for _ in $(seq 100); do
		[ -S "$sock" ] && return 0
		sleep 0.05
	done
	return 1
}

# api METHOD PATH [BODY]: sets $status and $body.
api() {
	local out
	out=$(curl -s --max-time 10 --unix-socket "$sock" -X "$1" ${3+-H 'Content-Type: application/json' -d "$3"} \
		-w '\n%{http_code}' "http://localhost$2")
	status=${out##*$'\n'}
	body=${out%$'\n'*}
}
answers() { # answers STATUS [TEXT]: the last call's status, and TEXT in its body
	[ "$status" = "$1" ] && { [ $# -lt 2 ] || grep -qF -- "$2" <<<"$body"; } ||
		{ echo "# got $status $body"; return 1; }
}
fault() { # fault TEXT: a 400 with only a fault_message containing TEXT
	answers 400 "$2" && python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert list(d)==["fault_message"]' "$body"
}
check_call() { # check_call NAME STATUS TEXT METHOD PATH [BODY]
	local name=$1 want=$2 text=$3
	shift 3
	api "$@"
	if [ "$want" = 400 ]; then tap_check "$name" fault 400 "$text"; else tap_check "$name" answers "$want" "$text"; fi
}
wait_exit() { # wait_exit: vmon's exit status, or 124 if it is still running after 20 s
	for _ in $(seq 200); do
		kill -0 "$vmon_pid" 2>/dev/null || { wait "$vmon_pid"; return $?; }
		sleep 0.1
	done
	kill -9 "$vmon_pid"
	return 124
}
status_was() { [ "$1" = "$2" ]; }

if [ ! -w /dev/kvm ]; then
	tap_skip "the API with a guest" "no /dev/kvm"
	tap_done
	exit
fi

# --- before InstanceStart: every refusal, then the configuration ---
tap_check "vmon --api-sock creates its socket" start_vmon spin
check_call "GET /: 200, Not started, app_name vmon" 200 '"state":"Not started"' GET /
tap_check "GET / names the app" answers 200 '"app_name":"vmon"'
check_call "InstanceStart with no kernel: 400 saying to PUT /boot-source" 400 "PUT /boot-source first" \
	PUT /actions '{"action_type": "InstanceStart"}'
check_call "malformed JSON: 400" 400 "not valid JSON" PUT /boot-source '{"kernel_image_path": '
check_call "an unknown field: 400 naming it" 400 "smtt" PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64, "smtt": true}'
check_call "a wrong type: 400 naming the field" 400 "vcpu_count" PUT /machine-config '{"vcpu_count": "two", "mem_size_mib": 64}'
check_call "an unknown path: 400" 400 "Invalid request method and/or path" GET /nothing
check_call "PATCH /vm before start: 400" 400 "before starting" PATCH /vm '{"state": "Paused"}'
check_call "PATCH of a drive before start: 400" 400 "before starting" PATCH /drives/nosuch '{"drive_id": "nosuch", "path_on_host": "/x"}'
head -c 60000 /dev/zero | tr '\0' ' ' >"$work/big.json"
api PUT /boot-source "@$work/big.json"
tap_check "a 60 kB body: 400, larger than the limit" fault 400 "larger than the limit"

check_call "PUT /boot-source: 204" 204 "" PUT /boot-source "{\"kernel_image_path\": \"$guests/pvh_spin.elf\"}"
check_call "PUT /machine-config: 204" 204 "" PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 64}'
check_call "PUT /metrics: 204" 204 "" PUT /metrics "{\"metrics_path\": \"$work/metrics.json\"}"
check_call "PUT /logger: 204" 204 "" PUT /logger "{\"log_path\": \"$work/vmon.log\", \"level\": \"Info\", \"show_level\": true}"
check_call "GET /machine-config: 200 with vcpu_count 2" 200 '"vcpu_count":2' GET /machine-config

# --- the running VM ---
check_call "InstanceStart: 204" 204 "" PUT /actions '{"action_type": "InstanceStart"}'
for _ in $(seq 50); do grep -q spinning "$work/spin.out" && break; sleep 0.1; done
tap_check "the guest runs (its line on vmon's console)" grep -q "tiny-guest: spinning" "$work/spin.out"
check_call "GET /: Running" 200 '"state":"Running"' GET /
check_call "PATCH /vm Paused: 204" 204 "" PATCH /vm '{"state": "Paused"}'
check_call "GET /: Paused" 200 '"state":"Paused"' GET /
check_call "PATCH /vm Resumed: 204" 204 "" PATCH /vm '{"state": "Resumed"}'
check_call "GET /: Running again" 200 '"state":"Running"' GET /
check_call "SendCtrlAltDel: 204 (the i8042 takes the keys)" 204 "" PUT /actions '{"action_type": "SendCtrlAltDel"}'
check_call "PUT /boot-source after start: 400" 400 "after starting" PUT /boot-source '{"kernel_image_path": "/k"}'
check_call "InstanceStart twice: 400" 400 "after starting" PUT /actions '{"action_type": "InstanceStart"}'
check_call "GET /vm/config: the kernel and 2 vCPUs" 200 "pvh_spin.elf" GET /vm/config
check_call "FlushMetrics: 204" 204 "" PUT /actions '{"action_type": "FlushMetrics"}'
tap_check "the metrics file has a JSON line with vCPU exits" python3 -c '
import json, sys
line = json.loads(open(sys.argv[1]).readlines()[-1])
assert line["vcpu"]["exits"]["io"] > 0, line' "$work/metrics.json"
tap_check "the log file has vmon's lines with their level" grep -q "\[info\] api: " "$work/vmon.log"

# vmon ctl, for people at a terminal.
"$vmon" ctl --api-sock "$sock" info >"$work/ctl.out" 2>&1
tap_check "vmon ctl info prints the state" grep -q '"state": "Running"' "$work/ctl.out"
"$vmon" ctl --api-sock "$sock" pause >"$work/ctl.out" 2>&1 && "$vmon" ctl --api-sock "$sock" info >>"$work/ctl.out" 2>&1
tap_check "vmon ctl pause: the VM is Paused" grep -q '"state": "Paused"' "$work/ctl.out"
"$vmon" ctl --api-sock "$sock" resume >/dev/null 2>&1
api GET /
tap_check "vmon ctl resume: Running" answers 200 '"state":"Running"'
"$vmon" ctl --api-sock "$sock" config >"$work/ctl.out" 2>&1
tap_check "vmon ctl config prints the configuration" grep -q '"vcpu_count": 2' "$work/ctl.out"
"$vmon" ctl --api-sock "$work/none.sock" info >"$work/ctl.out" 2>&1
tap_check "vmon ctl on a socket nobody serves: status 1, one line" \
	test $? = 1 -a "$(wc -l <"$work/ctl.out")" = 1

# Clients that misbehave, and a thousand calls: the VM and the API go on.
python3 - "$sock" >"$work/clients.out" 2>&1 <<'EOF'
import socket, sys, time, json
path = sys.argv[1]
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s
def call(s, method, url, body=b""):
    s.sendall(b"%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (method, url, len(body), body))
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit("connection closed")
        head += chunk
    header, rest = head.split(b"\r\n\r\n", 1)
    length = 0
    for line in header.split(b"\r\n")[1:]:
        k, v = line.split(b":", 1)
        if k.lower() == b"content-length":
            length = int(v)
    while len(rest) < length:
        rest += s.recv(4096)
    return int(header.split()[1]), rest
slow = conn(); slow.sendall(b"PUT /boot-source HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
half = conn(); half.sendall(b"PATCH /vm HTTP/1.1\r\nContent-Le"); half.shutdown(socket.SHUT_WR)
junk = conn(); junk.sendall(bytes(range(256)) * 4); junk.close()
s = conn()
t = time.time()
status, _ = call(s, b"GET", b"/")
print("beside-slow-clients", status, round(time.time() - t, 3))
ok = 0
for i in range(1000):
    method, url, body = [(b"GET", b"/", b""), (b"GET", b"/vm/config", b""), (b"GET", b"/machine-config", b""),
                         (b"PUT", b"/actions", b'{"action_type": "FlushMetrics"}'),
                         (b"PUT", b"/drives/x", b'{"drive_id": "x"}')][i % 5]
    status, body_ = call(s, method, url, body)
    ok += status in (200, 204) or (url == b"/drives/x" and status == 400)
print("thousand", ok)
EOF
tap_check "a slow, a half-closed and a garbage client do not hold up others" \
	grep -q "^beside-slow-clients 200" "$work/clients.out"
tap_check "1,000 calls on one connection while the guest runs: all answered as expected" \
	grep -qx "thousand 1000" "$work/clients.out"
api GET /
tap_check "after them the VM is still Running" answers 200 '"state":"Running"'
tap_check "and vmon is alive" kill -0 "$vmon_pid"

kill -TERM "$vmon_pid"
wait_exit
tap_check "SIGTERM ends vmon with status 0" status_was $? 0
tap_check "the socket file is removed" test ! -e "$sock"

# --- a guest that powers off by itself ends vmon ---
start_vmon io
api PUT /boot-source "{\"kernel_image_path\": \"$guests/pvh_io.elf\", \"boot_args\": \"api cmdline\"}"
api PUT /actions '{"action_type": "InstanceStart"}'
wait_exit
tap_check "a guest started through the API powers off: vmon ends with status 0" status_was $? 0
tap_check "that guest got its boot_args" grep -qxF "cmdline: api cmdline" "$work/io.out"
tap_check "a start that fails (no such kernel) is a 400, and vmon stays" bash -c '
	"$1" --api-sock "$2" </dev/null >/dev/null 2>&1 & pid=$!
	for _ in $(seq 100); do [ -S "$2" ] && break; sleep 0.05; done
	curl -s --unix-socket "$2" -X PUT -d "{\"kernel_image_path\": \"/nonexistent\"}" http://localhost/boot-source
	out=$(curl -s --unix-socket "$2" -X PUT -d "{\"action_type\": \"InstanceStart\"}" -w " %{http_code}" http://localhost/actions)
	state=$(curl -s --unix-socket "$2" http://localhost/)
	kill $pid; wait $pid
	[[ $out == *"Cannot start"*" 400" && $state == *"Not started"* ]]' _ "$vmon" "$work/fail.sock"

touch "$work/taken.sock"
"$vmon" --api-sock "$work/taken.sock" </dev/null >"$work/taken.out" 2>&1
tap_check "an --api-sock path that exists: status 1, one line" test $? = 1 -a "$(wc -l <"$work/taken.out")" = 1

# --- snapshots: the spinning guest saved, loaded in another vmon, restored ---
# start_spin NAME: a vmon on $work/NAME.sock running pvh_spin (1 vCPU, 32 MiB).
start_spin() {
	sock=$work/$1.sock
	start_vmon "$1" &&
		api PUT /boot-source "{\"kernel_image_path\": \"$guests/pvh_spin.elf\"}" && answers 204 &&
		api PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 32}' && answers 204 &&
		api PUT /actions '{"action_type": "InstanceStart"}' && answers 204
}
wait_socket() { for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.05; done; return 1; }
snapshot_body() { printf '{"snapshot_path": "%s", "mem_file_path": "%s"}' "$work/$1.state" "$work/$1.mem"; }
load_body() { # load_body STATE MEM RESUME
	printf '{"snapshot_path": "%s", "mem_backend": {"backend_type": "File", "backend_path": "%s"}, "resume_vm": %s}' \
		"$1" "$2" "$3"
}

tap_check "a spinning guest for the snapshots" start_spin snap-a
check_call "PUT /snapshot/create on a running VM: 400 saying to pause it first" 400 \
	'PATCH /vm {\"state\": \"Paused\"} first' PUT /snapshot/create "$(snapshot_body vm)"
check_call "PATCH /vm Paused: 204" 204 "" PATCH /vm '{"state": "Paused"}'
check_call "PUT /snapshot/create on the paused VM: 204" 204 "" PUT /snapshot/create "$(snapshot_body vm)"
tap_check "the state file exists and the memory file has the RAM's 32 MiB" \
	test -s "$work/vm.state" -a "$(stat -c %s "$work/vm.mem" 2>/dev/null)" = $((32 << 20))
check_call "PATCH /vm Resumed after the snapshot: 204" 204 "" PATCH /vm '{"state": "Resumed"}'
check_call "GET /: Running again" 200 '"state":"Running"' GET /
"$vmon" snapshot --api-sock "$sock" "$work/cli.state" "$work/cli.mem" >"$work/snapshot-cli.out" 2>&1
tap_check "vmon snapshot: status 0, one line naming the files" \
	test $? = 0 -a "$(grep -c "$work/cli.state.*$work/cli.mem" "$work/snapshot-cli.out")" = 1 -a -s "$work/cli.mem"
check_call "vmon snapshot paused the running VM and resumed it" 200 '"state":"Running"' GET /
kill -TERM "$vmon_pid"
wait_exit
tap_check "that vmon ends on SIGTERM with status 0" status_was $? 0

sock=$work/snap-b.sock
start_vmon snap-b
head -c 4096 /dev/urandom >"$work/garbage.state"
check_call "PUT /snapshot/load of a garbage file: 400 saying why" 400 "this is not a vmon state" \
	PUT /snapshot/load "$(load_body "$work/garbage.state" "$work/vm.mem" true)"
check_call "after it vmon is still usable: Not started" 200 '"state":"Not started"' GET /
check_call "PUT /snapshot/load (resume_vm true): 204" 204 "" \
	PUT /snapshot/load "$(load_body "$work/vm.state" "$work/vm.mem" true)"
check_call "GET /: the loaded VM is Running" 200 '"state":"Running"' GET /
check_call "GET /vm/config: the snapshot's configuration" 200 '"mem_size_mib":32' GET /vm/config
tap_check "with the snapshot's kernel" answers 200 "pvh_spin.elf"
check_call "a second load: 400" 400 "not allowed after starting" \
	PUT /snapshot/load "$(load_body "$work/vm.state" "$work/vm.mem" true)"
check_call "PATCH /vm Paused on the loaded VM: 204" 204 "" PATCH /vm '{"state": "Paused"}'
check_call "PUT /snapshot/create of the loaded VM: 204" 204 "" PUT /snapshot/create "$(snapshot_body again)"
check_call "PATCH /vm Resumed: 204" 204 "" PATCH /vm '{"state": "Resumed"}'
check_call "SendCtrlAltDel on the loaded VM: 204" 204 "" PUT /actions '{"action_type": "SendCtrlAltDel"}'
kill -TERM "$vmon_pid"
wait_exit
tap_check "the loading vmon ends on SIGTERM with status 0" status_was $? 0

sock=$work/restore.sock
"$vmon" restore "$work/cli.state" "$work/cli.mem" --api-sock "$sock" --id restored </dev/null \
	>"$work/restore.out" 2>"$work/restore.err" &
vmon_pid=$!
tap_check "vmon restore serves the API" wait_socket "$sock"
check_call "vmon restore: the VM of vmon snapshot runs" 200 '"state":"Running"' GET /
tap_check "with the --id given" answers 200 '"id":"restored"'
kill -TERM "$vmon_pid"
wait_exit
tap_check "vmon restore ends on SIGTERM with status 0" status_was $? 0
"$vmon" restore "$work/vm.state" "$work/vm.mem" --paused --api-sock "$sock" </dev/null >/dev/null 2>&1 &
vmon_pid=$!
wait_socket "$sock"
check_call "vmon restore --paused: Paused" 200 '"state":"Paused"' GET /
check_call "and it resumes" 204 "" PATCH /vm '{"state": "Resumed"}'
kill -TERM "$vmon_pid"
wait_exit

# --- live migration of the spinning guest ---
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# garbage_peer: a server that answers anything with garbage; its port on stdout.
garbage_peer() {
	python3 -c '
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1); print(s.getsockname()[1], flush=True)
c, _ = s.accept(); c.sendall(b"this is not vmon speaking\n" * 64)
try:
    while c.recv(65536): pass
except OSError: pass' &
}
migration_answer_ok() { # a 200 with the six counters, rounds at least 1
	answers 200 && python3 -c 'import json,sys; d=json.loads(sys.argv[1])
assert sorted(d) == ["bytes_sent", "downtime_ms", "pages_sent", "rounds", "total_ms", "zero_pages"], d
assert d["rounds"] >= 1, d' "$body"
}

tap_check "a spinning guest to migrate" start_spin src
src_pid=$vmon_pid
check_call "PUT /migrate to a port nobody listens on: 400" 400 "Cannot migrate the microVM" \
	PUT /migrate "{\"destination_url\": \"127.0.0.1:$(free_port)\"}"
check_call "the source still runs" 200 '"state":"Running"' GET /
"$vmon" ctl --api-sock "$sock" migrate --to "127.0.0.1:$(free_port)" >"$work/ctl-migrate.out" 2>&1
tap_check "vmon ctl migrate to a port nobody listens on: status 1, the fault on one line" \
	test $? = 1 -a "$(grep -c "^vmon ctl: 400: Cannot migrate the microVM" "$work/ctl-migrate.out")" = 1 \
	-a "$(wc -l <"$work/ctl-migrate.out")" = 1
garbage_peer >"$work/garbage.port"
for _ in $(seq 50); do [ -s "$work/garbage.port" ] && break; sleep 0.1; done
check_call "PUT /migrate to a peer that sends garbage: 400" 400 "Cannot migrate the microVM" \
	PUT /migrate "{\"destination_url\": \"127.0.0.1:$(cat "$work/garbage.port")\"}"
check_call "the source still runs" 200 '"state":"Running"' GET /
check_call "PUT /migrate with a bad destination: 400 naming the field" 400 "destination_url" \
	PUT /migrate '{"destination_url": "127.0.0.1"}'

port=$(free_port)
"$vmon" migrate-receive --listen "127.0.0.1:$port" --api-sock "$work/dst.sock" </dev/null \
	>"$work/dst.out" 2>"$work/dst.err" &
dst_pid=$!
for _ in $(seq 50); do grep -q "waiting for a migration" "$work/dst.err" && break; sleep 0.1; done
api PUT /migrate "{\"destination_url\": \"tcp:127.0.0.1:$port\", \"max_downtime_ms\": 500}"
if [ "$status" = 400 ] && grep -q "cannot log dirty pages" <<<"$body"; then
	# A KVM without dirty logging: the clear fault, and the source runs on.
	tap_check "PUT /migrate on a KVM without dirty logging: 400 saying so" fault 400 "cannot log dirty pages"
	check_call "the source still runs" 200 '"state":"Running"' GET /
	kill -TERM "$src_pid" "$dst_pid"
	wait "$src_pid" "$dst_pid"
else
	tap_check "PUT /migrate: 200 with its counters, at least one round" migration_answer_ok
	wait_exit
	tap_check "the source vmon ends with status 0 after answering" status_was $? 0
	tap_check "its socket file is removed" test ! -e "$sock"
	sock=$work/dst.sock
	vmon_pid=$dst_pid
	tap_check "the destination serves the API" wait_socket "$sock"
	check_call "the destination's GET /: Running" 200 '"state":"Running"' GET /
	check_call "its GET /vm/config: the source's machine" 200 "pvh_spin.elf" GET /vm/config
	check_call "the migrated VM pauses" 204 "" PATCH /vm '{"state": "Paused"}'
	check_call "and resumes" 204 "" PATCH /vm '{"state": "Resumed"}'
	kill -TERM "$vmon_pid"
	wait_exit
	tap_check "the destination ends on SIGTERM with status 0" status_was $? 0
fi

tap_done
