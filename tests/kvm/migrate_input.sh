#!/bin/bash
# The destination of a live migration against a source that misbehaves: a
# fake source (python3) sends garbage, a wrong version, corrupt or
# out-of-range pages, an oversized message, a disk the destination's
# operator did not allow, a corrupt state, or goes away
# mid-stream. Each time `vmon migrate-receive` must exit 1 with one clear
# line, never run a guest, and (where the connection still stands) tell the
# source why.
# Usage: migrate_input.sh VMON
set -u
vmon=$(realpath "$1")
. "$(dirname "$0")/../lib/tap.sh"
tap_workdir

if [ ! -w /dev/kvm ]; then
	tap_skip "migration input checks" "no /dev/kvm"
	tap_done
	exit
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The fake source: sends what CASE says, prints what the destination answered.
cat >"$work/source.py" <<'PY'
import socket, struct, sys, time, zlib

case, port = sys.argv[1], int(sys.argv[2])
MSG_HELLO, MSG_CONFIG, MSG_PAGES, MSG_ZERO, MSG_STATE, MSG_READY, MSG_ERROR = 1, 2, 3, 4, 5, 6, 7

def msg(t, payload=b""):
    return struct.pack("<IIQ", t, 0, len(payload)) + payload

def blob(sections):
    body = b"".join(struct.pack("<IIQ", tag, inst, len(p)) + p for tag, inst, p in sections)
    data = b"VMONSTATE\0\0\0" + struct.pack("<IIQ", 1, len(sections), len(body)) + body
    return data + struct.pack("<I", zlib.crc32(data))

def tag(s):
    return struct.unpack("<I", s.encode())[0]

NONE = struct.pack("<I", 0xffffffff)
conf = NONE * 3 + struct.pack("<I?QB", 1, False, 64 << 20, 0) + struct.pack("<II", 0, 0)
config = blob([(tag("CONF"), 0, conf)])

def string(text):
    return struct.pack("<I", len(text)) + text.encode()

disk = string("") + string("/etc/shadow") + NONE + struct.pack("<?B??IB", True, 0, False, False, 1, 0)
conf_disk = NONE * 3 + struct.pack("<I?QB", 1, False, 64 << 20, 0) + struct.pack("<I", 1) + disk + struct.pack("<I", 0)
config_disk = blob([(tag("CONF"), 0, conf_disk)])
hello = msg(MSG_HELLO, b"VMONMIG\0" + struct.pack("<I", 1))
page = b"\x5a" * 4096

def pages(first, count, data, crc=None):
    return msg(MSG_PAGES, struct.pack("<QII", first, count, zlib.crc32(data) if crc is None else crc) + data)

stream = {
    "garbage": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "version": msg(MSG_HELLO, b"VMONMIG\0" + struct.pack("<I", 9)),
    "config-checksum": hello + msg(MSG_CONFIG, config[:-1] + bytes([config[-1] ^ 1])),
    "pages-outside": hello + msg(MSG_CONFIG, config) + pages(16384, 1, page),
    "pages-crc": hello + msg(MSG_CONFIG, config) + pages(10, 1, page, crc=1234),
    "pages-huge": hello + msg(MSG_CONFIG, config) + struct.pack("<IIQ", MSG_PAGES, 0, 2 << 20),
    "message-huge": hello + msg(MSG_CONFIG, config) + struct.pack("<IIQ", MSG_PAGES, 0, 100 << 20),
    "zero-outside": hello + msg(MSG_CONFIG, config) + msg(MSG_ZERO, struct.pack("<QI", 16380, 5)),
    "unknown-type": hello + msg(MSG_CONFIG, config) + msg(42, b"x"),
    "went-away": hello + msg(MSG_CONFIG, config) + pages(1, 1, page)[:1000],
    "disk-not-allowed": hello + msg(MSG_CONFIG, config_disk),
    "bad-state": hello + msg(MSG_CONFIG, config) + pages(1, 1, page) + msg(MSG_STATE, blob([])),
}[case]

s = socket.create_connection(("127.0.0.1", port))
s.sendall(stream)
if case == "went-away":
    s.close()
    sys.exit(0)
s.settimeout(20)
answer = b""
try:
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        answer += chunk
except OSError:
    pass
if len(answer) >= 16:
    t, _, n = struct.unpack("<IIQ", answer[:16])
    print("answer type=%d text=%s" % (t, answer[16:16 + n].decode(errors="replace")))
PY

# run_case CASE TEXT [ANSWERED]: the destination ends with status 1 and TEXT on
# stderr, runs no guest, and (ANSWERED) sent the source an ERROR saying TEXT.
run_case() {
	local case=$1 text=$2 port
	port=$(free_port)
	"$vmon" migrate-receive --listen "127.0.0.1:$port" </dev/null >"$work/$case.out" 2>"$work/$case.err" &
	local pid=$!
	for _ in $(seq 50); do grep -q "waiting for a migration" "$work/$case.err" && break; sleep 0.1; done
	timeout 30 python3 "$work/source.py" "$case" "$port" >"$work/$case.answer" 2>&1
	local rc=124
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || { wait "$pid"; rc=$?; break; }; sleep 0.1; done
	[ "$rc" = 124 ] && kill -9 "$pid"
	tap_check "$case: the destination exits 1 saying \"$text\"" \
		bash -c "[ $rc = 1 ] && grep -q \"$text\" '$work/$case.err'"
	tap_check "$case: and ran no guest" test ! -s "$work/$case.out"
	if [ "${3-}" = answered ]; then
		tap_check "$case: the source heard why" grep -q "answer type=7 text=.*$text" "$work/$case.answer"
	fi
}

run_case garbage "no vmon migration greeting" answered
run_case version "speaks stream version 9" answered
run_case config-checksum "checksum" answered
run_case pages-outside "pages outside the VM's memory" answered
run_case pages-crc "fail their checksum" answered
run_case pages-huge "impossible length" answered
run_case message-huge "a malformed message" answered
run_case zero-outside "zero pages outside the VM's memory" answered
run_case unknown-type "a message out of order" answered
run_case went-away "the source went away"
run_case disk-not-allowed "uses the disk '/etc/shadow', which this destination was not given" answered
run_case bad-state "no machine section" answered
tap_done
