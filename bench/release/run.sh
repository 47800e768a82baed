#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Release push: INSTANCES config-watch streams (GET /api/v1/ns/APP/NAME/
# config/watch, raw Server-Sent Events over HTTP/1.1, one goroutine each in
# one process: bench/release/push.c), then through the REST API a publish,
# a gray release selecting half the instances (labels grp=a) and its
# promotion; per push, the time from the REST call returning to every
# instance holding the new release: p50, p99 and max over the instances,
# and the server's CPU time for it. Each round a fresh `kumo serve` alone on
# SERVER_CPU (KM_PROCS=1, --no-metrics), the load on CLIENT_CPU (KM_PROCS=1),
# REPS pushes of each kind per round; then, in the same round, the kernel's
# floor: `push --floor` writes one event of the same size to as many
# loopback TCP connections from SERVER_CPU, read with epoll on CLIENT_CPU
# (what any server pays for one send per watcher). Prints medians with
# min-max over rounds x reps and the ratios to the floor.
#
# Environment: ROUNDS (default 5), REPS (default 3), INSTANCES (default
# 10000), ITEMS (items of 32 bytes, default 20: an event of about 1.1 KB),
# SERVER_CPU / CLIENT_CPU (default 0 / 1), BUILD (default build), KUMO
# (the server binary, default BUILD/kumo).
# 10,000 streams hold 10,000 sockets in the server and 10,000 in the load
# process, so the soft fd limit is raised to the hard one here (ulimit -n),
# which must be at least INSTANCES + 1,000.
# Raw results: BUILD/bench/release-results.txt; logs: BUILD/bench/release/.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-5}
REPS=${REPS:-3}
INSTANCES=${INSTANCES:-10000}
ITEMS=${ITEMS:-20}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BUILD=${BUILD:-build}
KUMO=${KUMO:-$BUILD/kumo}
PUSH=$BUILD/bench/release_push
OUT=$BUILD/bench
RAW=$OUT/release-results.txt
WORK=$PWD/$OUT/release

for t in curl python3 taskset; do
  command -v "$t" >/dev/null || { echo "bench/release: $t not found" >&2; exit 1; }
done
[ -x "$KUMO" ] && [ -x "$PUSH" ] || make --no-print-directory BUILD="$BUILD" "$KUMO" "$PUSH"
mkdir -p "$WORK"

need=$((INSTANCES + 1000))
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
[ "$hard" -ge "$need" ] || { echo "bench/release: ulimit -Hn is $hard, need $need" >&2; exit 1; }
ulimit -n "$hard"

spid=
cleanup() {
  set +e
  [ -n "$spid" ] && { kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; }
  rm -rf "$WORK/data"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
fail=0
: > "$RAW"
: > "$WORK/push.log"

# record ROUND LINE: "KIND rep=.. key=value ..." as "round kind metric value" rows
record() {
  local round=$1 kind=${2%% *} kv
  for kv in ${2#* }; do
    case ${kv%%=*} in rep|n|gray) continue ;; esac
    echo "$round $kind ${kv%%=*} ${kv#*=}" >> "$RAW"
  done
}

kumo_round() {
  local round=$1 port line
  port=$(free_port)
  rm -rf "$WORK/data"
  KM_PROCS=1 taskset -c "$SERVER_CPU" "$KUMO" serve --listen "127.0.0.1:$port" \
    --data-dir "$WORK/data" --no-metrics >> "$WORK/kumo.log" 2>&1 &
  spid=$!
  for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.05
  done
  echo "== round $round kumo" >> "$WORK/push.log"
  if ! KM_PROCS=1 taskset -c "$CLIENT_CPU" "$PUSH" "127.0.0.1:$port" "$INSTANCES" "$REPS" \
       "$ITEMS" 0.5 "$spid" > "$WORK/push.out" 2>> "$WORK/push.log"; then
    echo "bench/release: round $round failed: $(tail -n 2 "$WORK/push.log")" >&2
    fail=$((fail + 1))
  fi
  cat "$WORK/push.out" >> "$WORK/push.log"
  while read -r line; do
    case $line in
      ready*) record "$round" "$line" ;;
      publish*|gray*|promote*) record "$round" "$line"; echo "  $line" >&2 ;;
    esac
  done < "$WORK/push.out"
  kill "$spid"; wait "$spid" 2>/dev/null || true
  spid=
}

floor_round() {
  local round=$1 line bytes
  # the event's size on the wire, chunk framing included (928 + 9 bytes
  # with 20 items)
  bytes=$(( 100 + ITEMS * 42 ))
  echo "== round $round floor" >> "$WORK/push.log"
  if ! "$PUSH" --floor "$INSTANCES" "$REPS" "$bytes" "$SERVER_CPU" "$CLIENT_CPU" \
       > "$WORK/floor.out" 2>> "$WORK/push.log"; then
    echo "bench/release: floor round $round failed" >&2
    fail=$((fail + 1))
  fi
  cat "$WORK/floor.out" >> "$WORK/push.log"
  while read -r line; do
    record "$round" "$line"; echo "  $line" >&2
  done < "$WORK/floor.out"
}

echo "release push: $INSTANCES instances, $ROUNDS rounds x $REPS pushes; server on CPU $SERVER_CPU, load on CPU $CLIENT_CPU" >&2
for round in $(seq "$ROUNDS"); do
  echo "round $round" >&2
  # alternate which runs first, so neither always follows the other
  if [ $((round % 2)) = 1 ]; then kumo_round "$round"; floor_round "$round"
  else floor_round "$round"; kumo_round "$round"; fi
done

python3 - "$RAW" <<'PY'
import statistics, sys
vals = {}
for line in open(sys.argv[1]):
    r, kind, metric, v = line.split()
    vals.setdefault((kind, metric), []).append(float(v))
def cell(kind, metric):
    v = vals.get((kind, metric))
    if not v:
        return "-", None
    m = statistics.median(v)
    f = lambda x: "%.0f" % x if x >= 100 else "%.1f" % x
    return "%s (%s-%s)" % (f(m), f(min(v)), f(max(v))), m
print("%-10s %-22s %-22s %-22s %-10s %-18s %s" % ("push", "p50_ms", "p99_ms", "max_ms",
      "samples", "server_cpu_ms", "p99/floor"))
floor99 = cell("floor", "p99_ms")[1]
for kind in ("publish", "gray", "promote", "floor"):
    c50, _ = cell(kind, "p50_ms")
    c99, m99 = cell(kind, "p99_ms")
    cmax, _ = cell(kind, "max_ms")
    cpu, _ = cell(kind, "server_cpu_ms")
    n = len(vals.get((kind, "p99_ms"), []))
    ratio = "%.2f" % (m99 / floor99) if m99 and floor99 and kind != "floor" else "-"
    print("%-10s %-22s %-22s %-22s %-10d %-18s %s" % (kind, c50, c99, cmax, n, cpu, ratio))
for metric in ("connect_ms", "server_rss_kb"):
    c, _ = cell("ready", metric)
    print("%s: %s" % (metric, c))
PY
echo "raw results: $RAW; logs: $WORK/" >&2
[ "$fail" = 0 ] || { echo "bench/release: $fail run(s) failed" >&2; exit 1; }
