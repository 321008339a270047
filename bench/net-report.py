#!/usr/bin/env python3
"""Usage: bench/net-report.py LOG TARGET[,TARGET...]

The results table of bench/net.sh, in Markdown, from the L1 console log
(BUILD_DIR/lab/net-bench.log).  For each target and round the guest
printed (bench/l2-net-init.sh), with the prefix "L2:<target>.<round>| ":
  NET-JSON tx <iperf3 -J>   guest to L1
  NET-JSON rx <iperf3 -J>   L1 to guest (-R)
  NET-RR TCP-RR transactions=N ... p50_us=U p99_us=U ...   (bench/tcp_rr.c)
One row per figure, one column per target (medians over the rounds), and
the ratios of each vmon target to qemu-vhost, and of vmon-novhost to
qemu-novhost when that ran.  Throughput is what the receiver counted.  Then each
round's figures, to show the spread.  Prints "n/a" where a target has no
result.  Exit status 1 if any result is missing."""
import json
import re
import sys

from report_common import ratio, table

NAMES = {
    "vmon-vhost": "vmon, vhost-net",
    "vmon-novhost": "vmon, own data path",
    "qemu-vhost": "QEMU, vhost-net",
    "qemu-novhost": "QEMU, own data path",
    # bench/iommu.sh's targets (bench/l1-job-net.sh), all without vhost-net
    "vmon-strict": "vmon, IOMMU strict",
    "vmon-lazy": "vmon, IOMMU lazy",
    "qemu-q35": "QEMU q35",
    "qemu-strict": "QEMU q35, IOMMU strict",
    "qemu-lazy": "QEMU q35, IOMMU lazy",
}

# (key, label, higher is better)
ROWS = [
    ("tx", "TCP guest → L1, Mbit/s", True),
    ("rx", "TCP L1 → guest, Mbit/s", True),
    ("tx_retr", "TCP guest → L1, retransmits", False),
    ("rx_retr", "TCP L1 → guest, retransmits", False),
    ("rr", "TCP 1-byte round trips/s", True),
    ("rr_p50", "round trip p50, µs", False),
    ("rr_p99", "round trip p99, µs", False),
]
MAIN = ("tx", "rx", "rr", "rr_p50", "rr_p99")


ERRORS = []  # (who, what): the measurements that failed


def iperf(text, who):
    """Receiver's Mbit/s and the sender's retransmits, from iperf3's JSON."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        ERRORS.append((who, f"iperf3 JSON unreadable: {e}"))
        return None, None
    if "error" in data:
        ERRORS.append((who, f"iperf3: {data['error']}"))
        return None, None
    end = data.get("end", {})
    recv = end.get("sum_received", {}).get("bits_per_second")
    retr = end.get("sum_sent", {}).get("retransmits")
    return (recv / 1e6 if recv else None), retr


def results(log, targets):
    """{target: {round: {key: value}}}"""
    pat = re.compile(r"^L2:([\w-]+)\.(\d+)\| (NET-JSON (tx|rx) |NET-RR |NET-STDERR rr: )(.*)$")
    out = {t: {} for t in targets}
    with open(log, errors="replace") as f:
        for line in f:
            m = pat.match(line.rstrip("\n"))
            if not m or m.group(1) not in out:
                continue
            r = out[m.group(1)].setdefault(int(m.group(2)), {})
            who = f"{m.group(1)} round {m.group(2)}"
            if m.group(4):
                d = m.group(4)
                r[d], r[d + "_retr"] = iperf(m.group(5), f"{who}, {d}")
            elif m.group(3).startswith("NET-STDERR"):
                ERRORS.append((f"{who}, rr", m.group(5)))
            else:
                kv = dict(re.findall(r"(\w+)=([0-9.]+)", m.group(5)))
                if "per_s" in kv:
                    r["rr"] = float(kv["per_s"])
                    r["rr_p50"] = float(kv["p50_us"])
                    r["rr_p99"] = float(kv["p99_us"])
    return out


def median(values):
    v = sorted(x for x in values if x is not None)
    n = len(v)
    if n == 0:
        return None
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def fmt(v):
    if v is None:
        return "n/a"
    if isinstance(v, int) or float(v).is_integer():
        return f"{v:,.0f}"
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def main():
    log, targets = sys.argv[1], sys.argv[2].split(",")
    res = results(log, targets)
    nruns = max((len(r) for r in res.values()), default=0)
    med = {(t, k): median([r.get(k) for r in res[t].values()]) for t in targets for k, _, _ in ROWS}
    # A figure is missing if a round of a target lacks it, or a target
    # has fewer rounds than another.
    missing = sum(1 for t in targets for k in MAIN
                  if med[t, k] is None or len(res[t]) < nruns
                  or any(r.get(k) is None for r in res[t].values()))

    # (vmon target, qemu target): each vmon against QEMU's vhost-net (the
    # peer), and vmon's own data path against QEMU's when that ran.
    pairs = [(v, q) for v, q in (("vmon-vhost", "qemu-vhost"), ("vmon-novhost", "qemu-vhost"),
                                 ("vmon-novhost", "qemu-novhost"))
             if v in targets and q in targets]
    print(f"Median of {nruns} round(s) per target. Ratios: vmon / QEMU "
          "(above 1 is better for vmon in throughput and round trips/s, below 1 in latency).")
    print()
    head = ["figure"] + [NAMES.get(t, t) for t in targets] + \
        [f"{NAMES[v]} / {NAMES[q]}" for v, q in pairs]
    rows = []
    for k, label, _ in ROWS:
        rows.append([label] + [fmt(med[t, k]) for t in targets] +
                    [ratio(med[v, k], med[q, k]) for v, q in pairs])
    table(head, rows)
    print()
    print("Each round (TCP guest → L1 / L1 → guest Mbit/s; round trips/s):")
    print()
    rows = []
    for t in targets:
        cells = []
        for i in sorted(res[t]):
            r = res[t][i]
            cells.append(f"{fmt(r.get('tx'))} / {fmt(r.get('rx'))}; {fmt(r.get('rr'))}")
        rows.append([NAMES.get(t, t), ", ".join(cells) or "n/a"])
    table(["target", "rounds"], rows)
    if ERRORS or missing:
        print()
        print(f"**{missing} figure(s) missing.** What failed:")
        print()
        for who, what in ERRORS:
            print(f"- {who}: {what}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
