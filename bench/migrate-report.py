#!/usr/bin/env python3
"""Usage: bench/migrate-report.py LOG TARGETS LOADS BUDGET_MS

The results of bench/migrate.sh, in Markdown, from the L1 console log
(BUILD_DIR/lab/migrate-bench.log, written by bench/l1-job-migrate.sh):
one table per load (idle, write) with a column per VMM (vmon, qemu) and
the ratio vmon / QEMU: the snapshot, the restore, the live migration of
the VM that booted (m1) and of the restored one (m2).  Then whether the
targets are met: restore faster than QEMU's incoming migration; the
guest-visible pause of the migration below BUDGET_MS.  Exit status 1 if a
main figure is missing."""
import json
import re
import sys

from report_common import ratio, table

NAMES = {"vmon": "vmon", "qemu": "QEMU"}
LOADS = {"idle": "idle guest", "write": "guest under a write load"}
STEPS = {"m1": "the VM that booted", "m2": "the restored VM"}


def parse(log):
    """{(target, load): {key: value}}: the facts, QMP lines and JSON."""
    runs = {}
    fact = re.compile(r"^LAB-MIGB target=(\S+) load=(\S+) (\w+)=(.*)$")
    qmp = re.compile(r"^LAB-MIGB-QMP target=(\S+) load=(\S+) step=(\w+) (qmp(?:-sent|-event)?): ([0-9.]+) (.*)$")
    vmon = re.compile(r"^LAB-MIGB-VMON target=(\S+) load=(\S+) step=(\w+) (.*)$")
    with open(log, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = fact.match(line)
            if m:
                runs.setdefault((m[1], m[2]), {})[m[3]] = m[4]
                continue
            m = qmp.match(line)
            if m:
                r = runs.setdefault((m[1], m[2]), {})
                r.setdefault("qmp_" + m[3], []).append((m[4], float(m[5]), m[6]))
                continue
            m = vmon.match(line)
            if m:
                runs.setdefault((m[1], m[2]), {})["vmon_" + m[3]] = m[4]
    return runs


def number(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def positive(v):
    """v as a number, None if missing or negative (pinggap's -1)."""
    n = number(v)
    return n if n is not None and n >= 0 else None


def commas(v):
    """The fields of a pinggap line whose spaces became commas."""
    return dict(kv.split("=", 1) for kv in (v or "").split(",") if "=" in kv)


def qmp_answer(lines, text):
    """(time, parsed JSON) of the last answer containing text."""
    for kind, t, body in reversed(lines or []):
        if kind == "qmp" and text in body:
            try:
                return t, json.loads(body)
            except json.JSONDecodeError:
                return t, None
    return None, None


def qmp_sent(lines, text):
    for kind, t, body in lines or []:
        if kind == "qmp-sent" and text in body:
            return t
    return None


def migration(target, r, m):
    """The figures of migration m (m1, m2) of one run."""
    out = {}
    gap = commas(r.get(m + "_gap"))
    out["gap_ms"] = positive(gap.get("max_gap_ms"))
    out["flow_gap_ms"] = positive(gap.get("flow_gap_ms"))
    out["pings"] = f"{gap.get('received', '?')}/{gap.get('sent', '?')}" if gap else None
    out["gap_end_ms"] = positive(gap.get("gap_end_ms"))
    gone = positive(gap.get("pid_gone_ms"))
    out["source_gone_ms"] = gone if gone is not None else (
        "stays (stopped)" if r.get(m + "_source_gone") == "no" else None)
    out["after_ping"] = r.get(m + "_after_ping")
    out["wall_ms"] = number(r.get(m + "_wall_ms"))
    out["memcheck_errors"] = r.get(m + "_memcheck_errors") or None
    if target == "vmon":
        try:
            j = json.loads(r.get("vmon_" + m, ""))
        except json.JSONDecodeError:
            j = {}
        out["total_ms"] = number(j.get("total_ms"))
        out["rounds"] = number(j.get("rounds"))
        out["downtime_ms"] = number(j.get("downtime_ms"))
        b = number(j.get("bytes_sent"))
    else:
        _, j = qmp_answer(r.get("qmp_" + m), '"status": "completed"')
        ret = (j or {}).get("return", {})
        out["total_ms"] = number(ret.get("total-time"))
        out["downtime_ms"] = number(ret.get("downtime"))
        ram = ret.get("ram", {})
        out["rounds"] = number(ram.get("dirty-sync-count"))
        b = number(ram.get("transferred"))
    out["sent_mib"] = b / 1048576 if b is not None else None
    if r.get(m + "_rc") != "0":
        out["total_ms"] = out["downtime_ms"] = None
    return out


def figures(target, r):
    """The figures of one run, as numbers (None when missing)."""
    out = {"ready_ms": number(r.get("ready_ms"))}
    size = number(r.get("snapshot_bytes"))
    out["snap_mib"] = size / 1048576 if size else None
    kib = number(r.get("snapshot_kib"))
    out["snap_alloc_mib"] = kib / 1024 if kib else None
    out["restore_ms"] = positive(commas(r.get("restore")).get("first_reply_ms"))
    if target == "vmon":
        ok = r.get("snapshot_codes") == "204/204/204"
        out["snap_ms"] = number(r.get("snapshot_ms")) if ok else None
        out["restore_incoming_ms"] = None
    else:
        snap = r.get("qmp_snapshot")
        t_done, _ = qmp_answer(snap, '"status": "completed"')
        t_stop = qmp_sent(snap, '"stop"')
        out["snap_ms"] = t_done - t_stop if t_done is not None and t_stop is not None else None
        out["restore_incoming_ms"], _ = qmp_answer(r.get("qmp_restore"), '"status": ')
    for m in STEPS:
        for k, v in migration(target, r, m).items():
            out[f"{m}_{k}"] = v
    return out


def fmt(v):
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    if v >= 100 or float(v).is_integer():
        return f"{v:,.0f}"
    return f"{v:.1f}"


# (key, label, main figure: missing makes the report fail)
ROWS = [
    ("ready_ms", "boot to ready (NIC up, workload running), ms", False),
    ("snap_ms", "snapshot: pause request to files complete, ms", True),
    ("snap_mib", "snapshot: files, apparent size, MiB", True),
    ("snap_alloc_mib", "snapshot: files, allocated, MiB", True),
    ("restore_ms", "restore: VMM start to the guest's first ping reply, ms", True),
    ("restore_incoming_ms", "restore: QEMU's incoming migration done (query-status paused), ms", False),
]
MIGRATION_ROWS = [
    ("total_ms", "total time as the VMM reports it, ms", True),
    ("wall_ms", "command to completion, seen from L1, ms", False),
    ("rounds", "rounds (vmon: copy rounds; QEMU: dirty-sync-count)", True),
    ("sent_mib", "data sent, MiB", False),
    ("downtime_ms", "downtime as the VMM reports it, ms", True),
    ("gap_ms", "guest-visible pause (longest time without a ping reply), ms", True),
    ("flow_gap_ms", "longest silence of one of the 4 ping flows (40 ms apart each), ms", True),
    ("pings", "pings answered (10 ms apart)", False),
    ("gap_end_ms", "the pause ended, ms after the pings started", False),
    ("source_gone_ms", "the source VMM process was gone, ms after the pings started", False),
    ("after_ping", "the guest answers L1's pings afterwards", False),
    ("memcheck_errors", "memcheck: corrupt pages found afterwards", False),
]
for _m, _what in STEPS.items():
    ROWS += [(f"{_m}_{k}", f"migration of {_what}: {label}", main and _m == "m1") for k, label, main in MIGRATION_ROWS]

# Rows whose vmon / QEMU ratio would mean nothing (different definitions,
# or points in time).
NO_RATIO = {"ready_ms", "restore_incoming_ms"} | {f"{m}_{k}" for m in STEPS
                                                   for k in ("rounds", "gap_end_ms", "source_gone_ms")}


def main():
    log, targets, loads = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
    budget = float(sys.argv[4])
    runs = parse(log)
    missing, verdicts = [], []
    both = "vmon" in targets and "qemu" in targets
    for load in loads:
        fig = {t: figures(t, runs.get((t, load), {})) for t in targets}
        print(f"**{LOADS.get(load, load)}** (ratio: vmon / QEMU; below 1 is better for vmon in times and sizes)")
        print()
        head = ["figure"] + [NAMES.get(t, t) for t in targets] + (["vmon / QEMU"] if both else [])
        rows = []
        for key, label, main_figure in ROWS:
            if key.endswith("memcheck_errors") and load != "write":
                continue
            if key == "restore_incoming_ms" and "qemu" not in targets:
                continue
            cells = [fmt(fig[t][key]) for t in targets]
            if both:
                v, q = fig["vmon"][key], fig["qemu"][key]
                plain = isinstance(v, float) and isinstance(q, float) and key not in NO_RATIO
                cells.append(ratio(v, q) if plain else "")
            rows.append([label] + cells)
            missing += [f"{t}, {load}: {label}" for t in targets if main_figure and fig[t][key] is None]
        table(head, rows)
        print()
        if both:
            v, q = fig["vmon"]["restore_ms"], fig["qemu"]["restore_ms"]
            if v is not None and q is not None:
                verdicts.append(f"- {load}: restore to running: vmon {fmt(v)} ms, QEMU {fmt(q)} ms: "
                                f"{'met' if v < q else 'NOT met'} (target: faster than QEMU's incoming migration)")
        if "vmon" in targets:
            for m, what in STEPS.items():
                d, g = fig["vmon"][f"{m}_downtime_ms"], fig["vmon"][f"{m}_gap_ms"]
                if d is not None and g is not None:
                    verdicts.append(f"- {load}, migration of {what}: vmon's downtime below the {budget:.0f} ms "
                                    f"budget: as vmon reports it ({fmt(d)} ms) {'met' if d <= budget else 'NOT met'}; "
                                    f"as the pings see it ({fmt(g)} ms) {'met' if g <= budget else 'NOT met'}")
    if verdicts:
        print("Targets:")
        print()
        print("\n".join(verdicts))
    if missing:
        print()
        print(f"**{len(missing)} figure(s) missing:**")
        print()
        for m in missing:
            print(f"- {m}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
