#!/usr/bin/env python3
"""vmon on a real terminal (a pty): raw mode while the guest runs, and the
terminal restored on every way out: Ctrl-A x, SIGTERM, and a crash of vmon
itself (SIGSEGV). Usage: terminal.py VMON GUESTS_DIR. Prints TAP."""
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time

vmon, guests = sys.argv[1], sys.argv[2]
spin = os.path.join(guests, "pvh_spin.elf")
count = 0
failed = 0


def check(ok, name):
    global count, failed
    count += 1
    failed += 0 if ok else 1
    print(f"{'ok' if ok else 'not ok'} {count} - {name}", flush=True)


def read_until(fd, needle, timeout=20.0):
    seen = b""
    end = time.monotonic() + timeout
    while needle not in seen and time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
    return needle in seen


def run_on_pty(how):
    """Starts vmon on a fresh pty, ends it `how`; returns (raw_seen, restored, status)."""
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    proc = subprocess.Popen([vmon, "run", "--kernel", spin],
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    started = read_until(master, b"spinning")
    during = termios.tcgetattr(slave)
    raw = started and not (during[3] & termios.ICANON) and not (during[3] & termios.ECHO)
    if how == "ctrl-a-x":
        os.write(master, b"\x01x")
    else:
        proc.send_signal(how)
    try:
        status = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        status = proc.wait()
    restored = termios.tcgetattr(slave) == before
    os.close(master)
    os.close(slave)
    return raw, restored, status


for how, name, expected in [("ctrl-a-x", "Ctrl-A x", 0),
                            (signal.SIGTERM, "SIGTERM", 0),
                            (signal.SIGSEGV, "SIGSEGV in vmon", -signal.SIGSEGV)]:
    raw, restored, status = run_on_pty(how)
    check(raw, f"{name}: the terminal is in raw mode while the guest runs")
    check(restored, f"{name}: the terminal is restored afterwards")
    check(status == expected, f"{name}: vmon's status is {expected} (got {status})")

print(f"1..{count}")
sys.exit(1 if failed else 0)
