#!/usr/bin/env python3
"""Usage: bench/iommu-report.py LOG TARGET[,TARGET...] JOB[,JOB...] PART[,PART...]

The results tables of bench/iommu.sh, in Markdown, from the L1 console log
(BUILD_DIR/lab/iommu-bench.log).  TARGETs are bench/iommu.sh's (vmon,
vmon-strict, vmon-lazy, qemu-q35, qemu-strict, qemu-lazy), JOBs the fio
jobs, PARTs disk and/or net.  The disk part's lines are bench/disk.sh's
("L2:<target>.<round>| DISK-JSON ...", read by disk-report.py), the net
part's bench/net.sh's ("L2:<target>.<round>| NET-...", read by
net-report.py), where the target "vmon" runs as vmon-novhost (vmon's own
data path).  Each guest also printed one IOMMU-INFO line before powering
off (see bench/iommu.sh), which tells in which part it was by the
LAB-DISK-BEGIN or LAB-NET-BEGIN line before it.

Per figure: each target's median over the rounds, and the overhead of each
IOMMU mode, (the figure with the IOMMU) / (the same VMM's figure without
it), for vmon and QEMU side by side; the target is met on a row when
vmon's overhead is no larger than QEMU's: its ratio at least QEMU's for
IOPS, Mbit/s and round trips/s.  Exit status 1 if any result is missing
or a guest's IOMMU-INFO is not what its target should give."""
import importlib.util
import os
import re
import sys

from report_common import ratio, table

HERE = os.path.dirname(os.path.abspath(__file__))


def load(name, file):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, file))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


disk_report = load("disk_report", "disk-report.py")
net_report = load("net_report", "net-report.py")

NAMES = {
    "vmon": "vmon",
    "vmon-strict": "vmon strict",
    "vmon-lazy": "vmon lazy",
    "qemu-q35": "QEMU q35",
    "qemu-strict": "QEMU strict",
    "qemu-lazy": "QEMU lazy",
}
# The baseline of each IOMMU target: the same VMM without an IOMMU.
BASE = {"vmon-strict": "vmon", "vmon-lazy": "vmon",
        "qemu-strict": "qemu-q35", "qemu-lazy": "qemu-q35"}
MODES = ("strict", "lazy")
# Network figures: (key, label, higher is better, role): "target" rows
# count for the target, "overhead" rows are shown with their overhead but
# not counted, "figure" rows only among the figures.
NET_ROWS = [
    ("tx", "TCP guest → L1, Mbit/s", True, "target"),
    ("rx", "TCP L1 → guest, Mbit/s", True, "target"),
    ("rr", "TCP 1-byte round trips/s", True, "target"),
    ("rr_p50", "round trip p50, µs", False, "overhead"),
    ("rr_p99", "round trip p99, µs", False, "overhead"),
    ("tx_retr", "TCP guest → L1, retransmits", False, "figure"),
    ("rx_retr", "TCP L1 → guest, retransmits", False, "figure"),
]


def net_name(t):
    """The net job's name of target t."""
    return "vmon-novhost" if t == "vmon" else t


def iommu_info(log):
    """{(part, target, round): {key: value}} from the IOMMU-INFO lines."""
    begin = re.compile(r"^LAB-(DISK|NET)-BEGIN target=(\S+) run=(\d+)")
    info_pat = re.compile(r"^L2:([\w-]+)\.(\d+)\| IOMMU-INFO (.*)$")
    part, out = None, {}
    with open(log, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = begin.match(line)
            if m:
                part = m.group(1).lower()
                continue
            m = info_pat.match(line)
            if m and part:
                t = "vmon" if m.group(1) == "vmon-novhost" else m.group(1)
                out[part, t, int(m.group(2))] = dict(re.findall(r"(\w+)=(\S*)", m.group(3)))
    return out


def expected(t, info):
    """What is off in a guest's IOMMU-INFO for target t ('' if nothing)."""
    if info is None:
        return "no IOMMU-INFO"
    off = []
    domains = [d.split(":")[0] for d in info.get("domains", "none").split(",") if d != "none"]
    ap = [b for b in info.get("access_platform", "none").split(",") if b != "none"]
    if t in BASE:
        mode = t.split("-")[1]
        want = "DMA" if mode == "strict" else "DMA-FQ"
        if info.get("vtd") != "1":
            off.append(f"vtd={info.get('vtd')} (want 1)")
        if info.get("policy") != mode:
            off.append(f"policy={info.get('policy')} (want {mode})")
        if not domains or any(d != want for d in domains):
            off.append(f"domains={info.get('domains')} (want all {want})")
        if not ap or any(b != "1" for b in ap):
            off.append(f"access_platform={info.get('access_platform')} (want all 1)")
    else:
        if info.get("vtd") not in ("0", None):
            off.append(f"vtd={info.get('vtd')} (want 0)")
        if domains:
            off.append(f"domains={info.get('domains')} (want none)")
    if info.get("dmar_faults", "0") != "0":
        off.append(f"dmar_faults={info.get('dmar_faults')}")
    return "; ".join(off)


def fmt_iops(v):
    return disk_report.fmt(v, "iops")


def met(v, q, higher, invalid=False):
    """'yes' when vmon's ratio v is no worse than QEMU's q; 'invalid' when a
    guest of the row did not run as its target should (IOMMU-INFO)."""
    if v is None or q is None:
        return "n/a"
    if invalid:
        return "invalid"
    return "yes" if (v >= q if higher else v <= q) else "**no**"


def overhead(med, t, k):
    base = med.get((BASE[t], k))
    with_ = med.get((t, k))
    if base is None or with_ is None or base == 0:
        return None
    return with_ / base


def fmt_ratio(v):
    return "n/a" if v is None else f"{v:.2f}"


class Summary:
    def __init__(self, invalid=()):
        self.invalid = set(invalid)  # targets whose guests were not as expected
        self.rows = 0
        self.met = 0
        self.missed = []
        self.invalid_rows = []

    def add(self, label, verdict):
        if verdict == "n/a":
            return
        if verdict == "invalid":
            self.invalid_rows.append(label)
            return
        self.rows += 1
        if verdict == "yes":
            self.met += 1
        else:
            self.missed.append(label)


def overhead_rows(med, targets, figures, summary):
    """Rows of an overhead table: label, then per mode vmon, QEMU, met."""
    rows = []
    for k, label, higher in figures:
        row = [label]
        for mode in MODES:
            v_t, q_t = f"vmon-{mode}", f"qemu-{mode}"
            v = overhead(med, v_t, k) if v_t in targets and "vmon" in targets else None
            q = overhead(med, q_t, k) if q_t in targets and "qemu-q35" in targets else None
            verdict = met(v, q, higher, bool({v_t, q_t, "vmon", "qemu-q35"} & summary.invalid))
            summary.add(f"{mode}: {label}", verdict)
            row += [fmt_ratio(v), fmt_ratio(q), verdict]
        rows.append(row)
    return rows


OVERHEAD_HEAD = ["strict: vmon", "strict: QEMU", "met", "lazy: vmon", "lazy: QEMU", "met"]
# (vmon target, QEMU target) pairs compared directly
PAIRS = [("vmon", "qemu-q35"), ("vmon-strict", "qemu-strict"), ("vmon-lazy", "qemu-lazy")]


def disk_part(log, targets, jobs, summary):
    res = disk_report.results(log, targets)
    nruns = max((len(r) for r in res.values()), default=0)
    med, missing = {}, 0
    for job in jobs:
        for t in targets:
            g = disk_report.good(res[t], job)
            missing += nruns - len(g) if nruns else 1
            for k in ("iops", "p50", "p99"):
                med[t, (job, k)] = disk_report.median([r[k] for r in g]) if g else None
    pairs = [(v, q) for v, q in PAIRS if v in targets and q in targets]
    print(f"### Disk: fio in the guest on /dev/vda (median of {nruns} round(s))")
    print()
    print("IOPS:")
    print()
    head = ["job"] + [NAMES[t] for t in targets] + [f"{NAMES[v]} / {NAMES[q]}" for v, q in pairs]
    table(head, [[job] + [fmt_iops(med[t, (job, "iops")]) for t in targets] +
                 [ratio(med[v, (job, "iops")], med[q, (job, "iops")]) for v, q in pairs]
                 for job in jobs])
    print()
    print("Latency p50 / p99 (fio's lat: submission to completion), µs:")
    print()
    table(["job"] + [NAMES[t] for t in targets],
          [[job] + [f"{disk_report.fmt(med[t, (job, 'p50')], 'us')} / {disk_report.fmt(med[t, (job, 'p99')], 'us')}"
                    for t in targets] for job in jobs])
    print()
    print("Overhead: IOPS with the IOMMU / IOPS of the same VMM without it (1.00: no cost; "
          "met: vmon's ratio ≥ QEMU's):")
    print()
    table(["job"] + OVERHEAD_HEAD,
          overhead_rows(med, targets, [((job, "iops"), f"disk {job}", True) for job in jobs], summary))
    print()
    print("IOPS of each round:")
    print()
    rows = []
    for job in jobs:
        rows.append([job] + [", ".join(fmt_iops(r[job]["iops"]) if job in r else "n/a" for r in res[t]) or "n/a"
                             for t in targets])
    table(["job"] + [NAMES[t] for t in targets], rows)
    print()
    return missing


def net_part(log, targets, summary):
    names = [net_name(t) for t in targets]
    res = net_report.results(log, names)
    nruns = max((len(r) for r in res.values()), default=0)
    med, missing = {}, 0
    for t, n in zip(targets, names):
        for k, _, _, role in NET_ROWS:
            med[t, k] = net_report.median([r.get(k) for r in res[n].values()])
            if role == "target":
                missing += sum(1 for r in res[n].values() if r.get(k) is None) + nruns - len(res[n])
                if not nruns:
                    missing += 1
    pairs = [(v, q) for v, q in PAIRS if v in targets and q in targets]
    print(f"### Network: iperf3 and TCP round trips over a TAP to L1 (median of {nruns} round(s))")
    print()
    head = ["figure"] + [NAMES[t] for t in targets] + [f"{NAMES[v]} / {NAMES[q]}" for v, q in pairs]
    table(head, [[label] + [net_report.fmt(med[t, k]) for t in targets] +
                 [ratio(med[v, k], med[q, k]) if role != "figure" else "" for v, q in pairs]
                 for k, label, _, role in NET_ROWS])
    print()
    print("Overhead: the figure with the IOMMU / the same VMM's without it (met: vmon's ratio ≥ QEMU's "
          "for throughput and round trips/s, ≤ for latency; the latency rows are not counted):")
    print()
    counted = [(k, label, higher) for k, label, higher, role in NET_ROWS if role == "target"]
    rows = overhead_rows(med, targets, counted, summary)
    info_only = Summary(summary.invalid)
    rows += overhead_rows(med, targets, [(k, label, higher) for k, label, higher, role in NET_ROWS
                                         if role == "overhead"], info_only)
    table(["figure"] + OVERHEAD_HEAD, rows)
    print()
    print("Each round (TCP guest → L1 / L1 → guest Mbit/s; round trips/s):")
    print()
    rows = []
    for t, n in zip(targets, names):
        cells = [f"{net_report.fmt(r.get('tx'))} / {net_report.fmt(r.get('rx'))}; {net_report.fmt(r.get('rr'))}"
                 for _, r in sorted(res[n].items())]
        rows.append([NAMES[t], ", ".join(cells) or "n/a"])
    table(["target", "rounds"], rows)
    print()
    if net_report.ERRORS:
        print("What failed in the network part:")
        print()
        for who, what in net_report.ERRORS:
            print(f"- {who}: {what}")
        print()
    return missing


def check_info(log, targets, parts):
    """{target: [(part, round-1 info or None, what is off in any round)]}"""
    info = iommu_info(log)
    out = {}
    for t in targets:
        for part in parts:
            i = info.get((part, t, 1))
            off = [expected(t, i)] if expected(t, i) else []
            # Every round, not only the first, must be as expected.
            for (p, tt, r), other in sorted(info.items()):
                if p == part and tt == t and r != 1 and expected(t, other):
                    off.append(f"round {r}: {expected(t, other)}")
            out.setdefault(t, []).append((part, i, "; ".join(off)))
    return out


def info_part(checked, targets, parts):
    """The guests' IOMMU-INFO, round 1, and whether each is as expected."""
    print("What each guest's kernel made of it (IOMMU-INFO at power-off, round 1; "
          "vtd: the DMAR unit in use; domains: the IOMMU groups' domain types, "
          "DMA = strict, DMA-FQ = lazy; access_platform: VIRTIO_F_ACCESS_PLATFORM "
          "of each virtio device):")
    print()
    rows = []
    for t in targets:
        row = [NAMES[t]]
        for _, i, off in checked[t]:
            desc = " ".join(f"{k}={v}" for k, v in i.items()) if i else "none"
            row.append(f"{desc} ({'**' + off + '**' if off else 'as expected'})")
        rows.append(row)
    table(["target"] + parts, rows)
    print()


def main():
    log = sys.argv[1]
    targets = sys.argv[2].split(",")
    jobs = sys.argv[3].split(",")
    parts = sys.argv[4].split(",") if len(sys.argv) > 4 else ["disk", "net"]
    checked = check_info(log, targets, parts)
    invalid = [t for t in targets if any(off for _, _, off in checked[t])]
    summary = Summary(invalid)
    print("Overhead = (figure with the IOMMU) / (the same VMM's figure without it): "
          "vmon strict / vmon, QEMU strict / QEMU q35, and so on. Target: vmon's "
          "overhead no larger than QEMU's. The ratios of single rounds on the nested "
          "machine vary by several percent: read a 'no' by a small margin as a tie.")
    print()
    missing = 0
    if "disk" in parts:
        missing += disk_part(log, targets, jobs, summary)
    if "net" in parts:
        missing += net_part(log, targets, summary)
    info_part(checked, targets, parts)
    if summary.rows:
        print(f"**Target met on {summary.met} of {summary.rows} rows** (vmon's overhead ≤ QEMU's)"
              + (f"; not met: {'; '.join(summary.missed)}." if summary.missed else "."))
    elif summary.invalid_rows:
        print("**Target: no valid row in this run.**")
    else:
        print("**Target: not measurable in this run** (no pair of vmon and QEMU overheads).")
    if invalid:
        print()
        print(f"**Not as their targets should be: {', '.join(NAMES[t] for t in invalid)}** "
              f"(see the table above); the {len(summary.invalid_rows)} row(s) that use them are "
              "marked invalid and not counted.")
    if missing:
        print()
        print(f"**{missing} figure(s) missing.**")
    return 1 if missing or invalid else 0


if __name__ == "__main__":
    sys.exit(main())
