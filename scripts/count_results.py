#!/usr/bin/env python3
"""Counts test results for scripts/test.sh.

count_results.py TESTLOG.json LABEL   appends "pass NAME"/"fail NAME" lines for
    every TAP subtest (a test without TAP output counts as one result).
count_results.py --tap FILE LABEL     the same for one TAP stream in FILE.
count_results.py --summary FILE N     prints the failures and the closing line
    "N passed, N failed", N extra failures counted for broken builds; exit 1
    when anything failed.
"""
import json
import re
import sys

TAP_LINE = re.compile(r"^(ok|not ok) \d+( - (.*))?")


def tap_points(text, name):
    """Prints one result line per TAP test point; returns how many there were."""
    points = [m for m in map(TAP_LINE.match, text.splitlines()) if m]
    for m in points:
        print(f"{'pass' if m.group(1) == 'ok' else 'fail'} {name}: {m.group(3) or ''}")
    return len(points)


def count(log_path, label):
    with open(log_path) as f:
        for line in f:
            test = json.loads(line)
            name = f"{label}/{test['name']}"
            points = tap_points(test.get("stdout") or "", name)
            # A crash or timeout fails the test even when its points passed.
            if not points or test["result"] not in ("OK", "EXPECTEDFAIL"):
                ok = test["result"] in ("OK", "EXPECTEDFAIL")
                print(f"{'pass' if ok else 'fail'} {name}")


def count_tap(path, label):
    with open(path) as f:
        if tap_points(f.read(), label) == 0:
            print(f"fail {label}: no test ran")


def summary(path, extra_failures):
    with open(path) as f:
        lines = [l.rstrip("\n") for l in f if l.strip()]
    passed = sum(1 for l in lines if l.startswith("pass "))
    failed = [l[5:] for l in lines if l.startswith("fail ")]
    for name in failed:
        print(f"FAILED: {name}")
    print(f"{passed} passed, {len(failed) + extra_failures} failed")
    return 1 if failed or extra_failures else 0


if __name__ == "__main__":
    if sys.argv[1] == "--summary":
        sys.exit(summary(sys.argv[2], int(sys.argv[3])))
    if sys.argv[1] == "--tap":
        count_tap(sys.argv[2], sys.argv[3])
    else:
        count(sys.argv[1], sys.argv[2])
