#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the network benchmarks, runs kumo and Go echo servers and clients alternately for ROUNDS rounds (server on CPU 0, client on CPU 1), prints medians and ratios.
#
# Environment: ROUNDS (default 5), ONLY (regex on the benchmark label,
# default all), BENCH_TIMEOUT (seconds per client run, default 120), CC
# (default cc), SERVER_CPU / CLIENT_CPU (default 0 / 1). Each side runs with
# KM_PROCS=1 / GOMAXPROCS=1. Raw results: build/bench/net-results.txt; the
# output of failed runs: build/bench/net-failures.log.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-5}
ONLY=${ONLY:-.}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-120}
CC=${CC:-cc}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
LIB=build/libkumo.a
OUT=build/bench
RAW=$OUT/net-results.txt
FAILLOG=$OUT/net-failures.log

# label, then the client's argv after the port: connections, round trips
# per connection, message bytes (the server's pid is appended)
BENCHES=(
  "tcp_pingpong   1    50000 1"
  "echo_1000conn  1000 200   64"
)

[ -f "$LIB" ] || make --no-print-directory lib
mkdir -p "$OUT/go"
echo "building benchmarks into $OUT/ and $OUT/go/" >&2
for p in server client; do
  $CC -std=gnu11 -O2 -g -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE -Iinclude \
      "bench/net/$p.c" -o "$OUT/net_$p" "$LIB" -pthread -lm
  GO111MODULE=off go build -o "$OUT/go/net_$p" "bench/go/net_$p.go"
done

: > "$RAW"
: > "$FAILLOG"
{
  echo "# kumo network benchmarks $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# host: $(uname -srm), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
  echo "# $(go version); $($CC --version | head -n1)"
  echo "# rounds=$ROUNDS server_cpu=$SERVER_CPU client_cpu=$CLIENT_CPU procs=1 timeout=${BENCH_TIMEOUT}s"
} >> "$RAW"

spid=""
stop_server() {
  if [ -n "$spid" ]; then
    kill "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    spid=""
  fi
}
trap stop_server EXIT

# Runs one benchmark once: starts the server pinned to SERVER_CPU, waits for
# its port, runs the client pinned to CLIENT_CPU, stops the server. Result
# lines go, tagged, to $RAW; a failure is recorded as status=fail.
run_one() {
  local impl=$1 round=$2 label=$3; shift 3
  local srv="$OUT/net_server" cli="$OUT/net_client"
  [ "$impl" = go ] && srv="$OUT/go/net_server" cli="$OUT/go/net_client"
  local tag="bench=$label impl=$impl procs=1 round=$round"
  local portf="$OUT/.port.$$" serrf="$OUT/.server-stderr.$$" errf="$OUT/.stderr.$$"
  local out rc=0 why="" port=""
  : > "$portf"
  KM_PROCS=1 GOMAXPROCS=1 taskset -c "$SERVER_CPU" "$srv" 127.0.0.1:0 > "$portf" 2> "$serrf" &
  spid=$!
  for _ in $(seq 1 500); do
    port=$(sed -n 's/^port=//p' "$portf")
    [ -n "$port" ] && break
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.01
  done
  if [ -z "$port" ]; then
    rc=1 why="server did not start"
  else
    out=$(KM_PROCS=1 GOMAXPROCS=1 taskset -c "$CLIENT_CPU" \
          timeout "$BENCH_TIMEOUT" "$cli" "$port" "$@" "$spid" 2>"$errf") || rc=$?
    if [ "$rc" -ne 0 ]; then
      why="exit $rc"
      [ "$rc" -eq 124 ] && why="timeout ${BENCH_TIMEOUT}s"
      [ "$rc" -gt 128 ] && [ "$rc" -ne 124 ] && why="signal $((rc - 128))"
    elif ! kill -0 "$spid" 2>/dev/null; then
      rc=1 why="server died"
    fi
  fi
  stop_server
  if [ "$rc" -eq 0 ]; then
    printf '%s\n' "$out" | grep -E '^(metric=|info )' | sed "s|^|$tag |" >> "$RAW" || true
  else
    echo "$tag status=fail rc=$rc why=\"$why\"" >> "$RAW"
    { echo "== $tag: $why"; echo "server: KM_PROCS=1 GOMAXPROCS=1 taskset -c $SERVER_CPU $srv 127.0.0.1:0";
      echo "client: KM_PROCS=1 GOMAXPROCS=1 taskset -c $CLIENT_CPU $cli ${port:-PORT} $* SERVER_PID";
      printf '%s\n' "${out:-}"; echo "-- client stderr"; tail -n 20 "$errf" 2>/dev/null || true
      echo "-- server stderr"; tail -n 20 "$serrf"; } >> "$FAILLOG"
    echo "   FAILED: $label $impl round $round ($why)" >&2
  fi
  rm -f "$portf" "$serrf" "$errf"
  return "$rc"
}

declare -A timed_out=()
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round/$ROUNDS" >&2
  # Alternate which side goes first so drift on a noisy host hits both.
  if [ $((round % 2)) -eq 1 ]; then order="kumo go"; else order="go kumo"; fi
  for b in "${BENCHES[@]}"; do
    read -r label args <<< "$b"
    [[ $label =~ $ONLY ]] || continue
    for impl in $order; do
      key="$impl/$label"
      # A run that hung once would eat the time budget every round.
      if [ -n "${timed_out[$key]:-}" ]; then
        echo "bench=$label impl=$impl procs=1 round=$round status=skipped why=\"skipped after a timeout\"" >> "$RAW"
        continue
      fi
      # shellcheck disable=SC2086
      run_one "$impl" "$round" "$label" $args || {
        [ $? -eq 124 ] && timed_out[$key]=1; true; }
    done
  done
done

python3 - "$RAW" <<'PY'
import re, statistics, sys
from collections import OrderedDict, defaultdict

vals = defaultdict(list)          # (label, metric, impl) -> [value]
units, rows, fails, labels = {}, OrderedDict(), defaultdict(list), []
for line in open(sys.argv[1]):
    if line.startswith('#'):
        continue
    kv = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
    label, impl = kv['bench'], kv['impl']
    if label not in labels:
        labels.append(label)
    if 'status' in kv:
        fails[(label, impl)].append(kv.get('why', '').strip('"'))
    elif 'metric' in kv:
        rows.setdefault((label, kv['metric']), None)
        units[label, kv['metric']] = kv['unit']
        vals[(label, kv['metric'], impl)].append(float(kv['value']))

def fmt(v):
    a = abs(v)
    if a >= 1000: return f"{v:,.0f}"
    if a >= 100: return f"{v:.0f}"
    if a >= 10: return f"{v:.1f}"
    return f"{v:.2f}"

def cell(xs, ws):
    if not xs:
        return f"FAILED ({', '.join(sorted(set(ws)))})" if ws else "-"
    s = f"{fmt(statistics.median(xs))} [{fmt(min(xs))}–{fmt(max(xs))}]"
    return s + (f" + {len(ws)} failed" if ws else "")

hdr = ["benchmark", "metric (unit)", "kumo median [min–max]", "Go median [min–max]", "kumo/Go"]
out = []
for (label, metric) in sorted(rows, key=lambda k: labels.index(k[0])):
    k, g = vals[(label, metric, 'kumo')], vals[(label, metric, 'go')]
    ratio = f"{statistics.median(k) / statistics.median(g):.2f}" if k and g and statistics.median(g) else "-"
    out.append([label, f"{metric} ({units[label, metric]})", cell(k, fails[(label, 'kumo')]),
                cell(g, fails[(label, 'go')]), ratio])
for label in labels:
    if not any(l == label for (l, m) in rows):
        out.append([label, "(no metric)", cell([], fails[(label, 'kumo')]), cell([], fails[(label, 'go')]), "-"])

w = [max(len(r[i]) for r in [hdr] + out) for i in range(len(hdr))]
line = lambda r: "| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(r)) + " |"
print(line(hdr))
print("|" + "|".join("-" * (x + 2) for x in w) + "|")
for r in out:
    print(line(r))
print("\nkumo/Go is the ratio of medians: for rt/s and msgs/s above 1 favours kumo, for ns/msg below 1 does.")
print("server_cpu is the server's utime+stime (/proc/PID/stat, 10 ms ticks) over the timed region, per message.")
nf = sum(len(v) for v in fails.values())
if nf:
    print(f"\n{nf} run(s) failed or were skipped; see build/bench/net-failures.log")
PY
echo "raw results: $RAW" >&2
