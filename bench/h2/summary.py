# SPDX-License-Identifier: MIT
# Summarises bench/h2/run.sh's raw lines: medians [min–max] per server and
# mode, kumo's ratios to each peer, and the same again over the quiet runs.
#
# usage: python3 summary.py RAW "SERVERS" "MODES" QUIET_MS_PER_S
import re
import statistics
import sys
from collections import defaultdict

raw, servers, modes, quiet = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), float(sys.argv[4])
runs, fails, errs = [], defaultdict(list), []
for line in open(raw):
    if line.startswith('#'):
        continue
    kv = {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|\S+)', line)}
    if 'status' in kv:
        fails[(kv['server'], kv['mode'])].append(kv.get('why', ''))
        continue
    runs.append(kv)
    if any(kv.get(k) != '0' for k in ('failed', 'errored', 'timeout', 'non2xx')):
        errs.append(f"{kv['server']} {kv['mode']} round {kv['round']}: failed {kv['failed']}, errored "
                    f"{kv['errored']}, timeout {kv['timeout']}, non-2xx {kv['non2xx']}")

KEYS = ('rps', 'lat_mean_us', 'lat_max_us', 'cpu_us_per_req', 'user_us_per_req', 'sys_us_per_req',
        'cpu_util', 'wait_ms_per_s', 'h2load_us_per_req', 'h2load_util', 'h2load_wait_ms_per_s')


def collect(keep):
    vals = defaultdict(list)
    for kv in runs:
        if keep(kv):
            for k in KEYS:
                try:
                    v = float(kv.get(k, 'nan'))
                except ValueError:
                    continue
                if v == v:
                    vals[(kv['server'], kv['mode'], k)].append(v)
    return vals


def fmt(v):
    a = abs(v)
    return f"{v:,.0f}" if a >= 1000 else f"{v:.0f}" if a >= 100 else f"{v:.1f}" if a >= 10 else f"{v:.2f}"


def table(hdr, rows):
    w = [max(len(r[i]) for r in [hdr] + rows) for i in range(len(hdr))]
    line = lambda r: "| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(r)) + " |"
    print(line(hdr))
    print("|" + "|".join("-" * (x + 2) for x in w) + "|")
    for r in rows:
        print(line(r))


def report(vals, with_fails):
    def cell(s, m, k, scale=1.0):
        xs = [x * scale for x in vals[(s, m, k)]]
        f = fails[(s, m)] if with_fails else []
        if not xs:
            return f"FAILED ({', '.join(sorted(set(f)))})" if f else "-"
        c = f"{fmt(statistics.median(xs))} [{fmt(min(xs))}–{fmt(max(xs))}]"
        return c + (f" + {len(f)} failed" if f else "")

    def med(s, m, k):
        xs = vals[(s, m, k)]
        return statistics.median(xs) if xs else None

    rows = []
    for m in modes:
        for s in servers:
            rows.append([m, s, str(len(vals[(s, m, 'rps')])), cell(s, m, 'rps'),
                         cell(s, m, 'cpu_us_per_req'), cell(s, m, 'user_us_per_req'),
                         cell(s, m, 'sys_us_per_req'), cell(s, m, 'wait_ms_per_s'),
                         cell(s, m, 'lat_mean_us', 1e-3), cell(s, m, 'lat_max_us', 1e-3)])
    table(["mode", "server", "runs", "req/s median [min–max]", "server CPU µs/req", "user µs/req",
           "kernel µs/req", "server CPU wait ms/s", "mean latency ms", "max latency ms"], rows)
    print()
    rows, bound = [], []
    for m in modes:
        for s in servers:
            rows.append([m, s, cell(s, m, 'h2load_us_per_req'), cell(s, m, 'h2load_util', 100),
                         cell(s, m, 'h2load_wait_ms_per_s'), cell(s, m, 'cpu_util', 100)])
            u = med(s, m, 'h2load_util')
            if u is not None and u >= 0.9:
                bound.append(f"{s} {m}")
    table(["mode", "server", "h2load CPU µs/req", "h2load busy %", "h2load CPU wait ms/s",
           "server busy %"], rows)
    if bound:
        print("\nh2load is the limit (its thread busy ≥ 90% of the measured period, median) for: "
              + ", ".join(bound) + ". There req/s measures h2load; compare the server's CPU µs/req.")
    peers = [p for p in servers if p != 'kumo']
    if 'kumo' in servers and peers:
        print()
        rows = []
        for m in modes:
            for k, label in (('rps', 'req/s'), ('cpu_us_per_req', 'CPU/req')):
                r = [m, label]
                for p in peers:
                    a, b = med('kumo', m, k), med(p, m, k)
                    r.append(f"{a / b:.2f}" if a is not None and b else "-")
                rows.append(r)
        table(["mode", "metric"] + [f"kumo/{p}" for p in peers], rows)
        print("\nRatios of medians: for req/s above 1 favours kumo, for CPU/req below 1 does.")


print("All runs:\n")
report(collect(lambda kv: True), True)
quiet_runs = [kv for kv in runs if float(kv.get('wait_ms_per_s', 'inf')) <= quiet]
if quiet_runs:
    print(f"\nRuns whose server waited at most {quiet:g} ms/s for its CPU:\n")
    report(collect(lambda kv: float(kv.get('wait_ms_per_s', 'inf')) <= quiet), False)
else:
    waits = sorted(float(kv.get('wait_ms_per_s', 'inf')) for kv in runs)
    print(f"\nNo run's server waited at most {quiet:g} ms/s for its CPU (least: "
          f"{waits[0] if waits else float('nan'):.0f} ms/s): other load shared the server's core "
          "throughout, so req/s\nmeasures it as much as the server; CPU per request is the figure to compare.")
print("\nMode cXmY: h2load -t1 -cX -mY. All figures are over h2load's measured period only (after its "
      "warm-up):\nserver CPU µs/req = the time the server's tasks ran (/proc/PID/task/*/schedstat) over the "
      "requests h2load\ncompleted; user/kernel split from utime/stime (10 ms ticks); CPU wait = time per second "
      "its tasks were\nrunnable but not running (other load on its core); h2load likewise for its own thread. "
      "Latency is h2load's\n'time for request': with X·Y requests always in flight its mean is Little's law "
      "(X·Y / req/s); the\nmax shows how long the slowest stream waited.")
if errs:
    print("\nRuns with failed, errored, timed-out or non-2xx requests:")
    for e in errs:
        print("  " + e)
nf = sum(len(v) for v in fails.values())
if nf:
    print(f"\n{nf} run(s) failed; see build/bench/h2-h2load.log and build/bench/h2/*.out")
