#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Logging costs: ns per disabled and enabled call (log_bench), then req/s of a
# trivial handler with the request-log / span middleware off and on (server
# pinned to CPU 0 with KM_PROCS=1, wrk on CPU 1), alternated for ROUNDS rounds;
# prints the median with min and max. The middleware modes also run the
# request-id and trace middleware, so "ids" isolates their share.
# Environment: ROUNDS (default 3), DUR (wrk seconds, default 5), PORT.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
DUR=${DUR:-5}
PORT=${PORT:-18391}
OUT=build/bench
mkdir -p "$OUT"
[ -f build/libkumo.a ] || make --no-print-directory lib
for p in log_bench server; do
  cc -std=gnu11 -O2 -g -Wall -Wextra -D_GNU_SOURCE -Iinclude bench/log/$p.c \
     -o "$OUT/log-$p" build/libkumo.a -pthread -lm -llmdb -ljansson
done
taskset -c 0 "$OUT/log-log_bench"
raw=$OUT/log-results.txt
: > "$raw"
for r in $(seq "$ROUNDS"); do
  for m in off ids log span both; do
    KM_PROCS=1 taskset -c 0 "$OUT/log-server" "$PORT" "$m" /dev/null & pid=$!
    sleep 0.3
    t0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
    out=$(taskset -c 1 wrk -t1 -c100 -d"${DUR}s" "http://127.0.0.1:$PORT/")
    t1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rps=$(awk '/Requests\/sec/ { print $2 }' <<< "$out")
    reqs=$(awk '/requests in/ { print $1 }' <<< "$out")
    # server CPU (user + system) per request, in microseconds
    cpu=$(awk -v a="$t0" -v b="$t1" -v n="$reqs" -v hz="$(getconf CLK_TCK)" \
          'BEGIN { printf "%.2f", (b - a) / hz * 1e6 / n }')
    echo "$m $rps $cpu" >> "$raw"
  done
done
for m in off ids log span both; do
  sorted=$(awk -v m="$m" '$1 == m { print $2 }' "$raw" | sort -g)
  cpus=$(awk -v m="$m" '$1 == m { print $3 }' "$raw" | sort -g)
  n=$(wc -l <<< "$sorted")
  mid=$(( (n + 1) / 2 ))
  printf '%-5s median %9s req/s (min %s, max %s)  cpu %s us/req (min %s, max %s)\n' "$m" \
         "$(sed -n "${mid}p" <<< "$sorted")" "$(head -n 1 <<< "$sorted")" "$(tail -n 1 <<< "$sorted")" \
         "$(sed -n "${mid}p" <<< "$cpus")" "$(head -n 1 <<< "$cpus")" "$(tail -n 1 <<< "$cpus")"
done
