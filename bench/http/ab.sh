#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Two builds of hello against each other, one at a time, alternating:
#   bench/http/ab.sh A_BINARY B_BINARY [ROUNDS] [keepalive|pipelined]
# Each run starts the binary pinned to core 0 with KM_PROCS=1, warms it up
# with wrk for 2 s, then measures `wrk -t1 -c100 -d5s --latency` on core 1
# (pipelined: 16 requests per write, bench/http/pipeline.lua). The order
# of A and B swaps every round. Prints, per run, requests/s, the server's
# CPU time per request (all its threads, /proc/PID/task/*/schedstat) and
# wrk's p99.
set -euo pipefail
cd "$(dirname "$0")/../.."
A=$1; B=$2; R=${3:-5}; MODE=${4:-keepalive}
extra=()
[ "$MODE" = pipelined ] && extra=(-s bench/http/pipeline.lua)
port=${PORT:-18123}
run() {
  KM_PROCS=1 taskset -c 0 "$1" 127.0.0.1:$port >/dev/null 2>&1 & local pid=$!
  for _ in $(seq 50); do curl -s http://127.0.0.1:$port/ping >/dev/null && break; sleep 0.05; done
  taskset -c 1 wrk -t1 -c100 -d2s "${extra[@]}" http://127.0.0.1:$port/ping >/dev/null
  local c0 c1 out
  c0=$(cat /proc/$pid/task/*/schedstat | awk '{t+=$1} END {printf "%.0f", t}')
  out=$(taskset -c 1 wrk -t1 -c100 -d5s --latency "${extra[@]}" http://127.0.0.1:$port/ping)
  c1=$(cat /proc/$pid/task/*/schedstat | awk '{t+=$1} END {printf "%.0f", t}')
  kill $pid; wait $pid 2>/dev/null || true
  local rps n p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  echo "$2 rps=$rps cpu_ns_per_req=$(( (c1 - c0) / n )) p99=$p99"
}
for r in $(seq "$R"); do
  if [ $((r % 2)) -eq 1 ]; then run "$A" A; run "$B" B; else run "$B" B; run "$A" A; fi
done
