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
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
LOADS=${LOADS:-"range put"}
KUMO=${KUMO:-build/kumo}
work=$(mktemp -d)
log=${LOG_FILE:-${LOG_DIR:-$work}/kumo-obs-access.log}
rm_log() { if [ -f "$log" ]; then rm -f "$log"; fi; }   # never a device
trap 'kill $pid 2>/dev/null; rm -rf "$work"; rm_log' EXIT
pid=
TCK=$(getconf CLK_TCK)
declare -A flags=( [off]="--no-metrics --no-trace" [default]="" [full]="--access-log $log" )
modes="off default full"
raw=$work/raw
for round in $(seq "$ROUNDS"); do
  order=$modes
  [ $((round % 2)) -eq 0 ] && order="full default off"
  for m in $order; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    rm -rf "$work/data"; rm_log
    # shellcheck disable=SC2086
    KM_PROCS=1 taskset -c 0 "$KUMO" serve --listen "127.0.0.1:$port" --data-dir "$work/data" ${flags[$m]} 2>/dev/null &
    pid=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
    curl -s "http://127.0.0.1:$port/v3/kv/put" -d '{"key":"YmVuY2gva2V5","value":"dg=="}' >/dev/null
    for t in $LOADS; do
      c0=$(awk '{print $14+$15}' /proc/$pid/stat)
      out=$(taskset -c 1 wrk -t1 -c100 -d"${DURATION}s" -s "bench/config/$t.lua" "http://127.0.0.1:$port" 2>&1)
      c1=$(awk '{print $14+$15}' /proc/$pid/stat)
      reqs=$(echo "$out" | sed -nE 's/^ *([0-9]+) requests in.*/\1/p')
      rps=$(echo "$out" | sed -nE 's/^Requests\/sec: *([0-9.]+).*/\1/p')
      cpu=$(awk -v t=$((c1 - c0)) -v n="$reqs" -v hz="$TCK" 'BEGIN {printf "%.2f", t * 1e6 / hz / n}')
      echo "$m $t $rps $cpu" >> "$raw"
      echo "  round $round $m $t: $rps req/s, $cpu us CPU/request" >&2
    done
    kill $pid; wait $pid 2>/dev/null; pid=
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
