#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Pool throughput, kumo's km_pool against Go's database/sql pool: acquire+release pairs per second with 1, 8 and 64 goroutines on 2 workers, a pool of 8, alternating kumo and Go for ROUNDS rounds; prints medians [min–max] and the ratio.
#
# Rows "N, no yield" release at once instead of holding the resource across a
# yield (km_yield / runtime.Gosched): the pools' own cost.
# Environment: ROUNDS (default 5), PAIRS (per run, default 2000000), PROCS
# (default 2), GS (default "1 8 64"), NOYIELD_GS (default "1 8"), LIB
# (default build/libkumo.a), CC.
# Raw results: build/bench/pool-results.txt.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-5}
PAIRS=${PAIRS:-2000000}
PROCS=${PROCS:-2}
GS=${GS:-"1 8 64"}
NOYIELD_GS=${NOYIELD_GS:-"1 8"}
LIB=${LIB:-build/libkumo.a}
CC=${CC:-cc}
OUT=build/bench
RAW=$OUT/pool-results.txt
mkdir -p "$OUT"
[ -f "$LIB" ] || make --no-print-directory lib
$CC -std=gnu11 -O2 -g -Wall -Wextra -D_GNU_SOURCE -Iinclude bench/pool/bench.c -o "$OUT/pool" \
    "$LIB" -llmdb -ljansson -lyaml -lnghttp2 -lprotobuf-c -lssl -lcrypto -pthread -lm
GO111MODULE=off go build -o "$OUT/pool-go" bench/pool/go/pool.go

{
  echo "# kumo pool benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo ?)"
  echo "# host: $(uname -srm), $(nproc) CPUs; $(go version); $($CC --version | head -n1)"
  echo "# rounds=$ROUNDS pairs=$PAIRS procs=$PROCS"
} > "$RAW"
for round in $(seq "$ROUNDS"); do
  echo "round $round/$ROUNDS" >&2
  if [ $((round % 2)) -eq 1 ]; then order="kumo go kumo-leak"; else order="kumo-leak go kumo"; fi
  for g in $GS; do
    for impl in $order; do
      case $impl in
        kumo)      out=$(KM_PROCS=$PROCS "$OUT/pool" "$g" "$PAIRS" 0) ;;
        kumo-leak) out=$(KM_PROCS=$PROCS "$OUT/pool" "$g" "$PAIRS" 1) ;;
        go)        out=$(GOMAXPROCS=$PROCS "$OUT/pool-go" "$g" "$PAIRS") ;;
      esac
      printf '%s\n' "$out" | sed "s|^|impl=$impl g=$g round=$round |" >> "$RAW"
    done
  done
  for g in $NOYIELD_GS; do
    for impl in $order; do
      case $impl in
        kumo)      out=$(KM_PROCS=$PROCS "$OUT/pool" "$g" "$PAIRS" 0 0) ;;
        kumo-leak) out=$(KM_PROCS=$PROCS "$OUT/pool" "$g" "$PAIRS" 1 0) ;;
        go)        out=$(GOMAXPROCS=$PROCS "$OUT/pool-go" "$g" "$PAIRS" 0) ;;
      esac
      printf '%s\n' "$out" | sed "s|^|impl=$impl g=$g,noyield round=$round |" >> "$RAW"
    done
  done
done

python3 - "$RAW" <<'PY'
import re, statistics, sys
from collections import defaultdict
v = defaultdict(list)
for line in open(sys.argv[1]):
    kv = dict(re.findall(r'(\w+)=(\S+)', line))
    if 'metric' in kv:
        v[(kv['impl'], kv['g'])].append(float(kv['value']))
def cell(xs):
    if not xs: return "-"
    f = lambda x: f"{x/1e6:.2f}"
    return f"{f(statistics.median(xs))} [{f(min(xs))}–{f(max(xs))}]"
print("| goroutines | kumo, M pairs/s | kumo + leak detection | Go database/sql | kumo/Go |")
print("|---|---|---|---|---|")
key = lambda g: (',' in g, int(g.split(',')[0]))
for g in sorted({g for (_, g) in v}, key=key):
    k, l, o = v[('kumo', g)], v[('kumo-leak', g)], v[('go', g)]
    r = f"{statistics.median(k) / statistics.median(o):.2f}" if k and o else "-"
    name = g.replace(',noyield', ', no yield')
    print(f"| {name} | {cell(k)} | {cell(l)} | {cell(o)} | {r} |")
PY
echo "raw results: $RAW" >&2
