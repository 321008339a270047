#!/usr/bin/env python3
"""Usage: bench/disk-report.py LOG JOB[,JOB...] TARGET[,TARGET...]

The results tables of bench/disk.sh, in Markdown, from the L1 console log
(BUILD_DIR/lab/disk-bench.log): for each target and round, fio's JSON is
the lines "L2:<target>.<round>| DISK-JSON <line>" (fio in the L2 guest) or
"L1:host.<round>| DISK-JSON <line>" (fio in L1).  One row per fio job; per
target the median over the rounds of IOPS, bandwidth (MiB/s) and latency
p50/p99 (fio's lat_ns percentiles: submission to completion; clat_ns is
printed too, in a second table), and vmon/QEMU ratios.  Then the IOPS of
each round, to show the spread.  Prints "n/a" where a target has no result
for a job.  Exit status 1 if any result is missing."""
import json
import re
import sys

from report_common import ratio, table

NAMES = {"vmon": "vmon", "qemu": "QEMU", "host": "L1 host",
         # bench/iommu.sh's targets (bench/l1-job-disk.sh)
         "vmon-strict": "vmon, IOMMU strict", "vmon-lazy": "vmon, IOMMU lazy",
         "qemu-q35": "QEMU q35", "qemu-strict": "QEMU q35, IOMMU strict",
         "qemu-lazy": "QEMU q35, IOMMU lazy"}


def results(log, targets):
    """{target: [ {job: figures} for each round ]}"""
    lines = {}
    pat = re.compile(r"^(?:L1|L2):([\w-]+)\.(\d+)\| DISK-JSON (.*)$")
    with open(log, errors="replace") as f:
        for line in f:
            m = pat.match(line.rstrip("\n"))
            if m and m.group(1) in targets:
                lines.setdefault((m.group(1), int(m.group(2))), []).append(m.group(3))
    out = {t: [] for t in targets}
    for (t, _), text in sorted(lines.items()):
        out[t].append(parse(t, text))
    return out


def parse(t, text):
    res = {}
    if True:
        doc = "\n".join(text)
        # fio may print notes before the JSON object.
        start = doc.find("{")
        try:
            data = json.loads(doc[start:]) if start >= 0 else {}
        except json.JSONDecodeError as e:
            print(f"disk-report: {t}: fio JSON unreadable: {e}", file=sys.stderr)
            return res
        for job in data.get("jobs", []):
            name = job["jobname"]
            rw = job.get("job options", {}).get("rw", "")
            side = job["write"] if "write" in rw else job["read"]
            lat = side.get("lat_ns", {}).get("percentile", {})
            clat = side.get("clat_ns", {}).get("percentile", {})
            res[name] = {
                "iops": side["iops"],
                "mibs": side["bw_bytes"] / 2**20,
                "p50": lat.get("50.000000", 0) / 1000,
                "p99": lat.get("99.000000", 0) / 1000,
                "cp50": clat.get("50.000000", 0) / 1000,
                "cp99": clat.get("99.000000", 0) / 1000,
                "slat": side.get("slat_ns", {}).get("mean", 0) / 1000,
                "errors": job.get("error", 0),
                "ios": side.get("total_ios", 0),
            }
    return res


def median(values):
    v = sorted(values)
    n = len(v)
    if n == 0:
        return None
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def good(runs, job):
    """The rounds' figures of job that completed without error."""
    return [r[job] for r in runs if job in r and not r[job]["errors"] and r[job]["ios"]]


def fmt(v, kind):
    if v is None:
        return "n/a"
    if kind == "iops":
        return f"{v:,.0f}"
    if kind == "mibs":
        return f"{v:.1f}" if v < 100 else f"{v:.0f}"
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}"  # microseconds


def main():
    log, jobs, targets = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
    res = results(log, targets)
    tn = [NAMES.get(t, t) for t in targets]
    both = "vmon" in targets and "qemu" in targets
    nruns = max((len(r) for r in res.values()), default=0)
    med = {}
    missing = 0
    for job in jobs:
        for t in targets:
            g = good(res[t], job)
            missing += nruns - len(g) if nruns else 1
            med[t, job] = {k: median([r[k] for r in g]) for k in
                           ("iops", "mibs", "p50", "p99", "cp50", "cp99", "slat")} if g else None

    def cells(job, kind):
        return [fmt(med[t, job][kind] if med[t, job] else None, kind) for t in targets]

    def ratio_of(job, kind):
        v, q = med["vmon", job], med["qemu", job]
        return ratio(v and v[kind], q and q[kind])

    print(f"Median of {nruns} round(s) per target; latency = fio's lat (submission to completion), in µs.")
    print()
    head = ["job"]
    for metric in ("IOPS", "MiB/s", "lat p50", "lat p99"):
        head += [f"{metric} {n}" for n in tn]
    if both:
        head += ["vmon/QEMU IOPS", "vmon/QEMU lat p99"]
    rows = []
    for job in jobs:
        row = [job] + cells(job, "iops") + cells(job, "mibs") + cells(job, "p50") + cells(job, "p99")
        if both:
            row += [ratio_of(job, "iops"), ratio_of(job, "p99")]
        rows.append(row)
    table(head, rows)
    print()
    print("Where the time goes: fio's mean submission latency (slat) and completion latency (clat) percentiles, µs (medians of the rounds):")
    print()
    head = ["job"] + [f"slat mean {n}" for n in tn] + [f"clat p50 {n}" for n in tn] + [f"clat p99 {n}" for n in tn]
    table(head, [[job] + cells(job, "slat") + cells(job, "cp50") + cells(job, "cp99") for job in jobs])
    print()
    print("IOPS of each round:")
    print()
    rows = []
    for job in jobs:
        row = [job]
        for t in targets:
            row.append(", ".join(fmt(r[job]["iops"], "iops") if job in r else "n/a" for r in res[t]) or "n/a")
        rows.append(row)
    table(["job"] + tn, rows)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
