#!/bin/bash
# The management API end to end: vmon --api-sock with curl --unix-socket
# (and python3 for the clients curl cannot be: slow, half-closed, many
# calls on one connection), booting the tiny guests on the real /dev/kvm.
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

tap_done
