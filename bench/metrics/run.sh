#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Metric update costs, kumo against Go's client_golang: builds both, runs them
# alternately for ROUNDS rounds with 1 goroutine (both pinned to CPU 0) and 2
# (unpinned, 2 procs), prints the median wall ns/op with min and max.
# Environment: ROUNDS (default 5), N (updates per goroutine, default 20000000).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-5}
N=${N:-20000000}
OUT=build/bench
mkdir -p "$OUT"
[ -f build/libkumo.a ] || make --no-print-directory lib
cc -std=gnu11 -O2 -g -Wall -Wextra -D_GNU_SOURCE -Iinclude bench/metrics/metrics.c \
   -o "$OUT/metrics" build/libkumo.a -pthread -lm -llmdb -ljansson
(cd bench/metrics/go && GO111MODULE=off GOPATH=/usr/share/gocode go build -o "../../../$OUT/metrics-go" metrics.go)
raw=$OUT/metrics-results.txt
: > "$raw"
for r in $(seq "$ROUNDS"); do
  for g in 1 2; do
    pin=""; [ "$g" = 1 ] && pin="taskset -c 0"
    KM_PROCS=$g $pin "$OUT/metrics" "$g" "$N" | sed 's/^/kumo /' >> "$raw"
    GOMAXPROCS=$g $pin "$OUT/metrics-go" "$g" "$N" | sed 's/^/go   /' >> "$raw"
  done
done
# side label goroutines=G ... wall X ns/op -> median (min..max) per side, label, G
awk '{ key = $1 " " $2 " " $3; v[key] = v[key] " " $6 }
     END { for (k in v) print k, v[k] }' "$raw" | sort -k2,2 -k3,3 -k1,1 |
while read -r side label g vals; do
  sorted=$(tr ' ' '\n' <<< "$vals" | grep -v '^$' | sort -g)
  n=$(wc -l <<< "$sorted")
  med=$(sed -n "$(( (n + 1) / 2 ))p" <<< "$sorted")
  printf '%-5s %-20s %-13s median %6s ns/op  (min %s, max %s)\n' "$side" "$label" "$g" \
         "$med" "$(head -n 1 <<< "$sorted")" "$(tail -n 1 <<< "$sorted")"
done
