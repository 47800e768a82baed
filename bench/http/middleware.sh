#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What the middleware chain costs: build/examples/hello with and without --mw
# (Prometheus metrics, request id, trace context, one log record per request
# to /dev/null, timeout), alternated,
# server on core 0, wrk on core 1; prints req/s and server CPU per request.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-5}
[ -x build/examples/hello ] || make --no-print-directory build/examples/hello
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() {  # $1: label, $2: extra args, $3: wrk extra
    local port=$((20000 + RANDOM % 10000))
    KM_PROCS=1 taskset -c 0 build/examples/hello "127.0.0.1:$port" $2 >/dev/null 2>/dev/null &
    local pid=$!
    for _ in $(seq 50); do curl -s "http://127.0.0.1:$port/ping" >/dev/null && break; sleep 0.1; done
    taskset -c 1 wrk -t1 -c100 -d1s $3 "http://127.0.0.1:$port/ping" >/dev/null
    local t0; t0=$(cpu_ticks $pid)
    local out; out=$(taskset -c 1 wrk -t1 -c100 -d"${DURATION}s" $3 "http://127.0.0.1:$port/ping")
    local t1; t1=$(cpu_ticks $pid)
    kill $pid; wait $pid 2>/dev/null || true
    local rps req
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    req=$(echo "$out" | awk '/requests in/ {print $1}')
    echo "$1 rps=$rps cpu_us_per_req=$(echo "($t1 - $t0) * 10000 / $req" | bc -l | cut -c1-6)"
}
for r in $(seq "$ROUNDS"); do
    run "keepalive plain" "" ""
    run "keepalive mw   " "--mw" ""
    run "pipeline  plain" "" "-s bench/http/pipeline.lua"
    run "pipeline  mw   " "--mw" "-s bench/http/pipeline.lua"
done
