#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What the middleware chain costs build/examples/hello, measured in pairs
# (as bench/config/obs-paired.sh does for kumo serve): hello without and
# with --mw run at the same time, both on core 0 with KM_PROCS=1, each
# loaded by its own wrk on core 1, swapping ports and start order every
# round. The core's time is split evenly between the two servers, so their
# requests/s ratio is the inverse ratio of their CPU per request. Prints
# the median ratio and its range over ROUNDS (default 10) rounds of
# DURATION seconds (5), keep-alive and pipelined 16 deep, for each of SETS
# ("--obs --mw": the observability set, then the set and a per-request
# timeout).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-10}; DURATION=${DURATION:-5}; SETS=${SETS:-"--obs --mw"}
[ -x build/examples/hello ] || make --no-print-directory build/examples/hello
work=$(mktemp -d)
pids=()
stop() { if [ ${#pids[@]} -gt 0 ]; then kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; fi; pids=(); }
trap 'stop; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() {  # port [--obs|--mw]: one more hello in pids
  # shellcheck disable=SC2086  # $2: hello's option, if any
  KM_PROCS=1 taskset -c 0 build/examples/hello "127.0.0.1:$1" ${2:-} >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do curl -s "http://127.0.0.1:$1/ping" >/dev/null && break; sleep 0.1; done
}
rps() { awk '/Requests\/sec/ {print $2}'; }
for set in $SETS; do
for mode in keepalive pipelined; do
  extra=""; [ "$mode" = pipelined ] && extra="-s bench/http/pipeline.lua"
  for round in $(seq "$ROUNDS"); do
    pa=$(free_port); pb=$(free_port)
    if [ $((round % 2)) -eq 1 ]; then start "$pa"; start "$pb" "$set"; else start "$pb" "$set"; start "$pa"; fi
    # shellcheck disable=SC2086  # extra: wrk options, split on purpose
    taskset -c 1 wrk -t1 -c100 -d"${DURATION}s" $extra "http://127.0.0.1:$pa/ping" > "$work/a" &
    w=$!
    # shellcheck disable=SC2086
    taskset -c 1 wrk -t1 -c100 -d"${DURATION}s" $extra "http://127.0.0.1:$pb/ping" > "$work/b"
    wait $w
    stop
    a=$(rps < "$work/a"); b=$(rps < "$work/b")
    echo "$mode ${set#--} $a $b" >> "$work/raw"
    echo "  $mode round $round: plain $a req/s, $set $b req/s" >&2
  done
done
done
bench/paired-summary.py "$work/raw" \
  "load       set   req/s vs plain, paired: median (min, max over rounds)" 11 6
