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
# shellcheck source=bench/http/measure.sh
. bench/http/measure.sh
run() {  # $1: label, $2: extra args, $3: wrk extra
    local port=$((20000 + RANDOM % 10000))
    # shellcheck disable=SC2086  # $2: hello's options
    KM_PROCS=1 taskset -c 0 build/examples/hello "127.0.0.1:$port" $2 >/dev/null 2>/dev/null &
    measure "$1" $! "$port" "$3"
}
for _ in $(seq "$ROUNDS"); do
    run "keepalive plain" "" ""
    run "keepalive mw   " "--mw" ""
    run "pipeline  plain" "" "-s bench/http/pipeline.lua"
    run "pipeline  mw   " "--mw" "-s bench/http/pipeline.lua"
done
