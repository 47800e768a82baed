#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Pipelined tail latency, variant against variant in one run: each
# argument NAME=COMMAND is a server (COMMAND's leading VAR=value words are
# its environment; the listen address is appended), e.g.
#   bench/http/tail.sh kumo=build/examples/hello \
#       kumo-nospin='KM_POLL_SPIN_US=0 build/examples/hello' \
#       fasthttp=build/bench/go/http_fasthttp
# With no arguments: kumo (build/examples/hello) and fasthttp.
# Every round starts each server in turn (the order rotates) pinned to
# SERVER_CPU (0) with KM_PROCS=1 / GOMAXPROCS=1, warms it up with a
# keep-alive wrk for WARMUP (2) s, then runs
# `wrk -t1 -cCONNS -dDURATION --latency -s bench/http/pipeline-raw.lua` on
# CLIENT_CPU (1): 16 requests per write, one batch in flight per
# connection. Per server it reports medians [min–max] over ROUNDS (6) of:
# requests/s; wrk's own p50 and p99 (of its coordinated-omission
# "corrected" histogram, see pipeline-raw.lua); the raw p50/p90/p99/p99.9
# of the batches' latency (write of 16 requests to the last response);
# the server's CPU time per request (utime+stime from /proc/PID/stat); and
# how long per second the server's threads waited for a CPU while runnable
# (/proc/PID/task/*/schedstat, field 2): other load on the server's core,
# which lengthens every tail. Ratios are against the first server.
# QUIET (ms/s, default 50): the summary is printed again over only the
# rounds whose server waited at most that long for its CPU per second,
# with how many rounds each server kept; on a shared machine those are the
# rounds that measured the server rather than its neighbours.
# HOG=1 also runs a busy loop (nice 0) on the server's core during each
# measurement: a fixed stand-in for the other load a shared machine puts
# there, so that how each server fares against it can be compared.
# Raw lines: build/bench/http-tail.txt; wrk output: build/bench/http-tail-wrk.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-6}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-100}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
HOG=${HOG:-0}
QUIET=${QUIET:-50}
OUT=build/bench
RAW=$OUT/http-tail.txt
WRKLOG=$OUT/http-tail-wrk.log
TCK=$(getconf CLK_TCK)

if [ $# -eq 0 ]; then
  [ -x build/examples/hello ] || make --no-print-directory build/examples/hello
  if [ ! -x "$OUT/go/http_fasthttp" ]; then
    mkdir -p "$OUT/go" "$OUT/gopath"
    GO111MODULE=off GOPATH="/usr/share/gocode:$PWD/$OUT/gopath" \
      go build -o "$OUT/go/http_fasthttp" bench/go/http_fasthttp.go
  fi
  set -- kumo=build/examples/hello fasthttp=$OUT/go/http_fasthttp
fi
names=() cmds=()
for a in "$@"; do
  names+=("${a%%=*}")
  cmds+=("${a#*=}")
done
mkdir -p "$OUT"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
run_delay_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ d += $2 } END { printf "%d\n", d }'; }
us() {  # wrk's "812.00us" / "1.23ms" / "2.01s" in microseconds
  awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    f = (u == "us") ? 1 : (u == "ms") ? 1e3 : (u == "s") ? 1e6 : -1
    if (f < 0) print "nan"; else printf "%.0f", n * f }'
}

spid="" hpid=""
stop() {
  if [ -n "$spid" ]; then kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; spid=""; fi
  if [ -n "$hpid" ]; then kill "$hpid" 2>/dev/null || true; wait "$hpid" 2>/dev/null || true; hpid=""; fi
}
trap stop EXIT

{
  echo "# pipelined tail $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo ?)"
  echo "# rounds=$ROUNDS duration=${DURATION}s conns=$CONNS server_cpu=$SERVER_CPU client_cpu=$CLIENT_CPU hog=$HOG load $(cut -d' ' -f1-3 /proc/loadavg)"
  for i in "${!names[@]}"; do echo "# ${names[$i]}: ${cmds[$i]}"; done
} > "$RAW"
: > "$WRKLOG"
n=${#names[@]}
for round in $(seq 1 "$ROUNDS"); do
  for j in $(seq 0 $((n - 1))); do
    i=$(((j + round - 1) % n))
    name=${names[$i]}
    read -r -a words <<< "${cmds[$i]}"
    envs=()
    while [ ${#words[@]} -gt 0 ] && [[ ${words[0]} == *=* ]]; do envs+=("${words[0]}"); words=("${words[@]:1}"); done
    port=$(free_port)
    env KM_PROCS=1 GOMAXPROCS=1 "${envs[@]}" taskset -c "$SERVER_CPU" "${words[@]}" "127.0.0.1:$port" > /dev/null 2>&1 &
    spid=$!
    ok=0
    for _ in $(seq 1 100); do
      curl -sf "http://127.0.0.1:$port/ping" > /dev/null 2>&1 && { ok=1; break; }
      sleep 0.05
    done
    if [ $ok -eq 0 ]; then
      echo "name=$name round=$round status=fail" >> "$RAW"
      echo "   FAILED: $name does not answer GET /ping" >&2
      stop
      continue
    fi
    taskset -c "$CLIENT_CPU" wrk -t1 "-c$CONNS" "-d${WARMUP}s" "http://127.0.0.1:$port/ping" > /dev/null
    if [ "$HOG" = 1 ]; then
      taskset -c "$SERVER_CPU" sh -c 'while :; do :; done' &
      hpid=$!
    fi
    t0=$(ticks "$spid"); d0=$(run_delay_ns "$spid")
    out=$(WRK_CONNS=$CONNS taskset -c "$CLIENT_CPU" wrk -t1 "-c$CONNS" "-d${DURATION}s" --latency \
          -s bench/http/pipeline-raw.lua "http://127.0.0.1:$port/ping" 2>&1)
    t1=$(ticks "$spid"); d1=$(run_delay_ns "$spid")
    stop
    { echo "== $name round $round"; echo "$out"; } >> "$WRKLOG"
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<< "$out")
    reqs=$(awk '/ requests in / { print $1 }' <<< "$out")
    wp50=$(us "$(awk '$1 == "50%" { print $2 }' <<< "$out")")
    wp99=$(us "$(awk '$1 == "99%" { print $2 }' <<< "$out")")
    rawl=$(grep '^RAW ' <<< "$out" | sed 's/^RAW //; s/\([a-z0-9_]*\)=/raw_\1=/g')
    cpu=$(awk -v d=$((t1 - t0)) -v r="${reqs:-0}" -v t="$TCK" 'BEGIN { printf "%.3f", (r > 0) ? d * 1e6 / t / r : 0 }')
    wait_ms=$(awk -v d=$((d1 - d0)) -v s="$DURATION" 'BEGIN { printf "%.0f", d / 1e6 / s }')
    echo "name=$name round=$round rps=${rps:-0} wrk_p50_us=$wp50 wrk_p99_us=$wp99 $rawl cpu_us_per_req=$cpu cpu_wait_ms_per_s=$wait_ms" >> "$RAW"
    echo "round $round $name: $(tail -n1 "$RAW" | cut -d' ' -f3-)" >&2
  done
done

python3 - "$RAW" "$QUIET" "${names[@]}" <<'PY'
import re, statistics, sys
raw, quiet, names = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
rounds = []
for line in open(raw):
    if line.startswith('#') or 'status=fail' in line:
        continue
    rounds.append(dict(re.findall(r'(\w+)=(\S+)', line)))
vals = {}
def load(keep):
    vals.clear()
    for kv in rounds:
        if not keep(kv):
            continue
        for k, v in kv.items():
            try:
                vals.setdefault((kv['name'], k), []).append(float(v))
            except ValueError:
                pass
cols = [('rps', 'req/s', 1), ('wrk_p50_us', 'wrk p50 ms', 1e-3), ('wrk_p99_us', 'wrk p99 ms', 1e-3),
        ('raw_p50', 'raw p50 ms', 1e-3), ('raw_p90', 'raw p90 ms', 1e-3), ('raw_p99', 'raw p99 ms', 1e-3),
        ('raw_p999', 'raw p99.9 ms', 1e-3), ('cpu_us_per_req', 'CPU µs/req', 1),
        ('cpu_wait_ms_per_s', 'CPU wait ms/s', 1)]
def fmt(v):
    a = abs(v)
    return f"{v:,.0f}" if a >= 1000 else f"{v:.0f}" if a >= 100 else f"{v:.1f}" if a >= 10 else f"{v:.2f}"
def med(n, k):
    xs = vals.get((n, k), [])
    return statistics.median(xs) if xs else None
def cell(n, k, s):
    xs = [x * s for x in vals.get((n, k), [])]
    return f"{fmt(statistics.median(xs))} [{fmt(min(xs))}–{fmt(max(xs))}]" if xs else "-"
def table(hdr, rows):
    w = [max(len(r[i]) for r in [hdr] + rows) for i in range(len(hdr))]
    out = lambda r: "| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(r)) + " |"
    print(out(hdr)); print("|" + "|".join("-" * (x + 2) for x in w) + "|")
    for r in rows: print(out(r))
def report():
  table(["metric"] + names, [[label] + [cell(n, k, s) for n in names] for k, label, s in cols])
  if len(names) > 1:
    print()
    base = names[0]
    rows = []
    for k, label, _ in cols[:-1]:
        r = [label]
        for n in names[1:]:
            a, b = med(n, k), med(base, k)
            r.append(f"{a / b:.2f}" if a is not None and b else "-")
        rows.append(r)
    table(["metric"] + [f"{n}/{base}" for n in names[1:]], rows)
load(lambda kv: True)
print("All rounds:\n")
report()
load(lambda kv: float(kv.get('cpu_wait_ms_per_s', 'inf')) <= quiet)
kept = ", ".join(f"{n} {len(vals.get((n, 'rps'), []))}" for n in names)
print(f"\nRounds whose server waited at most {quiet:g} ms/s for its CPU ({kept}):\n")
report()
print("\nMedians [min–max] over rounds; ratios of medians. raw = the batches' own latency "
      "(bench/http/pipeline-raw.lua); wrk p50/p99 = what wrk prints (0 when its histogram "
      "loses more than 1% of its synthetic samples). CPU wait = time per second the server "
      "was runnable but not running.")
PY
echo "raw results: $RAW; wrk output: $WRKLOG" >&2
