#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What observability costs kumo serve: range and put requests/s and server CPU
# per request with it off (--no-metrics --no-trace), with the default set
# (metrics, request ids, trace context) and with the full set (plus one
# access-log record per request to a file), alternating, ROUNDS rounds.
# LOADS (default "range put") picks the loads; DURATION seconds each.
# LOG_DIR (default: next to the data dir, on the same disk) holds the
# access log of the full set; LOG_FILE names it outright (/dev/null: the
# records are made and handed to the kernel, which keeps none).
set -u
cd "$(dirname "$0")/../.." || exit 1
ROUNDS=${ROUNDS:-3}
log_name=kumo-obs-access.log
# shellcheck source=bench/config/obs-lib.sh
. bench/config/obs-lib.sh
TCK=$(getconf CLK_TCK)
modes="off default full"
raw=$work/raw
for round in $(seq "$ROUNDS"); do
  order=$modes
  [ $((round % 2)) -eq 0 ] && order="full default off"
  for m in $order; do
    port=$(free_port)
    rm -rf "$work/data"; rm_log
    start "$m" "$port" "$work/data"
    pid=${pids[-1]}
    ready "$port"
    for t in $LOADS; do
      c0=$(awk '{print $14+$15}' /proc/"$pid"/stat)
      out=$(taskset -c 1 wrk -t1 -c100 -d"${DURATION}s" -s "bench/config/$t.lua" "http://127.0.0.1:$port" 2>&1)
      c1=$(awk '{print $14+$15}' /proc/"$pid"/stat)
      reqs=$(echo "$out" | sed -nE 's/^ *([0-9]+) requests in.*/\1/p')
      rps=$(echo "$out" | rps)
      cpu=$(awk -v t=$((c1 - c0)) -v n="$reqs" -v hz="$TCK" 'BEGIN {printf "%.2f", t * 1e6 / hz / n}')
      echo "$m $t $rps $cpu" >> "$raw"
      echo "  round $round $m $t: $rps req/s, $cpu us CPU/request" >&2
    done
    stop
  done
done
python3 - "$raw" <<'PY'
import statistics, sys
v = {}
for line in open(sys.argv[1]):
    m, t, rps, cpu = line.split()
    v.setdefault((m, t), []).append((float(rps), float(cpu)))
print("%-8s %-6s %-28s %-26s %-13s %s" % ("mode", "load", "req/s median (min-max)", "CPU us/req median",
                                          "req/s vs off", "CPU/req vs off"))
for t in ("range", "put"):
    if ("off", t) not in v:
        continue
    base = statistics.median(r for r, _ in v[("off", t)])
    cbase = statistics.median(c for _, c in v[("off", t)])
    for m in ("off", "default", "full"):
        rs = [r for r, _ in v[(m, t)]]; cs = [c for _, c in v[(m, t)]]
        print("%-8s %-6s %-28s %-26s %-13s %+.1f%%" % (m, t, "%.0f (%.0f-%.0f)" % (statistics.median(rs), min(rs), max(rs)),
              "%.2f (%.2f-%.2f)" % (statistics.median(cs), min(cs), max(cs)),
              "%+.1f%%" % ((statistics.median(rs) / base - 1) * 100),
              (statistics.median(cs) / cbase - 1) * 100))
PY
