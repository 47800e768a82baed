# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# Sourced by bench/http/middleware.sh and nginx-log.sh: one measured wrk run
# against a server already started on core 0.
#
# measure LABEL PID PORT "WRK OPTIONS": waits for GET /ping to answer,
# warms up for 1 s, runs wrk on core 1 for DURATION seconds, stops PID and
# prints "LABEL rps=... cpu_us_per_req=..." (the server's utime + stime
# from /proc over the run, per completed request).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
measure() {
    local label=$1 pid=$2 extra=$4 url="http://127.0.0.1:$3/ping"
    for _ in $(seq 50); do curl -s "$url" >/dev/null && break; sleep 0.1; done
    # shellcheck disable=SC2086  # extra: wrk options, split on purpose
    taskset -c 1 wrk -t1 -c100 -d1s $extra "$url" >/dev/null
    local t0 t1 out rps req
    t0=$(cpu_ticks "$pid")
    # shellcheck disable=SC2086
    out=$(taskset -c 1 wrk -t1 -c100 -d"${DURATION}s" $extra "$url")
    t1=$(cpu_ticks "$pid")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    req=$(echo "$out" | awk '/requests in/ {print $1}')
    echo "$label rps=$rps cpu_us_per_req=$(echo "($t1 - $t0) * 10000 / $req" | bc -l | cut -c1-6)"
}
