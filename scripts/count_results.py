#!/usr/bin/env python3
"""Counts test results for scripts/test.sh.

count_results.py TESTLOG.json LABEL   appends "pass NAME"/"fail NAME" lines for
    every TAP subtest (a test without TAP output counts as one result).
count_results.py --summary FILE N     prints the failures and the closing line
    "N passed, N failed", N extra failures counted for broken builds; exit 1
    when anything failed.
"""
import json
import re
import sys

TAP_LINE = re.compile(r"^(ok|not ok) \d+( - (.*))?")


def count(log_path, label):
    with open(log_path) as f:
        for line in f:
            test = json.loads(line)
            name = f"{label}/{test['name']}"
            points = [TAP_LINE.match(l) for l in (test.get("stdout") or "").splitlines()]
            points = [m for m in points if m]
            if not points or test["result"] in ("TIMEOUT", "ERROR"):
                ok = test["result"] in ("OK", "EXPECTEDFAIL")
                print(f"{'pass' if ok else 'fail'} {name}")
            for m in points:
                print(f"{'pass' if m.group(1) == 'ok' else 'fail'} {name}: {m.group(3) or ''}")


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
    count(sys.argv[1], sys.argv[2])
