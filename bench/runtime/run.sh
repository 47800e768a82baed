#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the runtime benchmarks, runs kumo and Go alternately for ROUNDS rounds at 1 and 2 procs, prints medians and ratios.
#
# Environment: ROUNDS (default 5), PROCS (default "1 2"), ONLY (regex on the
# benchmark label, default all), BENCH_TIMEOUT (seconds per run, default 120),
# CC (default cc). procs=1 pins both sides to CPU 0 with taskset; procs=2 runs
# unpinned. Raw results: build/bench/runtime-results.txt; the stderr of failed
# runs: build/bench/runtime-failures.log.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-5}
PROCS=${PROCS:-"1 2"}
ONLY=${ONLY:-.}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-120}
CC=${CC:-cc}
LIB=build/libkumo.a
OUT=build/bench
RAW=$OUT/runtime-results.txt
FAILLOG=$OUT/runtime-failures.log

# label program args... (same argv for the C and the Go program)
BENCHES=(
  "spawn_join_100k   spawn_join    100000"
  "spawn_join_1m     spawn_join    1000000"
  "pingpong          pingpong      1000000"
  "chan_buffered     chan_buffered 10000000 100"
  "parked_10k        parked        10000"
  "parked_1m         parked        1000000"
  "fanin             fanin         10000 100 0"
)
PROGS="spawn_join pingpong chan_buffered parked fanin"

[ -f "$LIB" ] || make --no-print-directory lib
mkdir -p "$OUT/go"
echo "building benchmarks into $OUT/ and $OUT/go/" >&2
for p in $PROGS; do
  $CC -std=gnu11 -O2 -g -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE -Iinclude \
      "bench/runtime/$p.c" -o "$OUT/$p" "$LIB" -pthread -lm
  GO111MODULE=off go build -o "$OUT/go/$p" "bench/go/$p.go" bench/go/benchutil.go
done

: > "$RAW"
: > "$FAILLOG"
{
  echo "# kumo runtime benchmarks $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# host: $(uname -srm), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
  echo "# $(go version); $($CC --version | head -n1)"
  echo "# rounds=$ROUNDS procs=\"$PROCS\" timeout=${BENCH_TIMEOUT}s"
} >> "$RAW"

# Runs one benchmark once and appends its result lines, tagged, to $RAW.
# A failure (crash, non-zero exit, timeout) is recorded as status=fail.
run_one() {
  local impl=$1 procs=$2 round=$3 label=$4 prog=$5; shift 5
  local bin="$OUT/$prog" pin=()
  [ "$impl" = go ] && bin="$OUT/go/$prog"
  [ "$procs" = 1 ] && pin=(taskset -c 0)
  local tag="bench=$label impl=$impl procs=$procs round=$round"
  local out rc=0 errf="$OUT/.stderr.$$"
  out=$(KM_PROCS=$procs GOMAXPROCS=$procs "${pin[@]}" \
        timeout "$BENCH_TIMEOUT" "$bin" "$@" 2>"$errf") || rc=$?
  # A run that failed part-way keeps its output in the failure log only.
  if [ "$rc" -eq 0 ]; then
    printf '%s\n' "$out" | grep -E '^(metric=|info )' | sed "s|^|$tag |" >> "$RAW" || true
  else
    local why="exit $rc"
    [ "$rc" -eq 124 ] && why="timeout ${BENCH_TIMEOUT}s"
    [ "$rc" -gt 128 ] && [ "$rc" -ne 124 ] && why="signal $((rc - 128))"
    echo "$tag status=fail rc=$rc why=\"$why\"" >> "$RAW"
    { echo "== $tag: $why"; echo "cmd: KM_PROCS=$procs GOMAXPROCS=$procs ${pin[*]} $bin $*";
      printf '%s\n' "$out"; tail -n 20 "$errf"; } >> "$FAILLOG"
    echo "   FAILED: $label $impl procs=$procs round $round ($why)" >&2
  fi
  rm -f "$errf"
  return "$rc"
}

declare -A timed_out=()
for procs in $PROCS; do
  for round in $(seq 1 "$ROUNDS"); do
    echo "procs=$procs round $round/$ROUNDS" >&2
    # Alternate which side goes first so drift on a noisy host hits both.
    if [ $((round % 2)) -eq 1 ]; then order="kumo go"; else order="go kumo"; fi
    for b in "${BENCHES[@]}"; do
      read -r label prog args <<< "$b"
      [[ $label =~ $ONLY ]] || continue
      for impl in $order; do
        key="$impl/$procs/$label"
        # A run that hung once would eat the time budget every round.
        if [ -n "${timed_out[$key]:-}" ]; then
          echo "bench=$label impl=$impl procs=$procs round=$round status=skipped why=\"skipped after a timeout\"" >> "$RAW"
          continue
        fi
        # shellcheck disable=SC2086
        run_one "$impl" "$procs" "$round" "$label" "$prog" $args || {
          [ $? -eq 124 ] && timed_out[$key]=1; true; }
      done
    done
  done
done

python3 - "$RAW" <<'PY'
import re, statistics, sys
from collections import OrderedDict, defaultdict

vals = defaultdict(list)          # (label, metric, procs, impl) -> [value]
units = {}
rows = OrderedDict()              # (label, metric, procs) in first-seen order
fails = defaultdict(list)         # (label, procs, impl) -> [why]
labels = []
for line in open(sys.argv[1]):
    if line.startswith('#'):
        continue
    kv = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
    label, impl, procs = kv['bench'], kv['impl'], int(kv['procs'])
    if label not in labels:
        labels.append(label)
    if 'status' not in kv and 'metric' not in kv:
        continue                  # info lines: context for a reader of the raw file
    if 'status' in kv:
        fails[(label, procs, impl)].append(kv.get('why', '').strip('"'))
        continue
    key = (label, kv['metric'], procs)
    rows.setdefault(key, None)
    units[kv['metric'], label] = kv['unit']
    vals[key + (impl,)].append(float(kv['value']))

def fmt(v):
    a = abs(v)
    if a >= 1000: return f"{v:,.0f}"
    if a >= 100: return f"{v:.0f}"
    if a >= 10: return f"{v:.1f}"
    if a >= 1: return f"{v:.2f}"
    return f"{v:.3f}"

def why(ws):
    c = OrderedDict()
    for x in ws:
        c[x] = c.get(x, 0) + 1
    return ", ".join(f"{x} x{n}" for x, n in c.items())

def cell(xs, ws):
    if not xs:
        return f"FAILED ({why(ws)})" if ws else "-"
    s = f"{fmt(statistics.median(xs))} [{fmt(min(xs))}–{fmt(max(xs))}]"
    if ws:
        s += f" + {len(ws)} failed"
    return s

hdr = ["benchmark", "metric (unit)", "procs", "kumo median [min–max]", "Go median [min–max]", "kumo/Go"]
out = []
# benchmarks in run order, metrics in first-seen order, procs ascending
metrics_of = lambda l: list(dict.fromkeys(m for (l2, m, p) in rows if l2 == l))
order = sorted(rows, key=lambda k: (labels.index(k[0]), metrics_of(k[0]).index(k[1]), k[2]))
for (label, metric, procs) in order:
    k, g = vals[(label, metric, procs, 'kumo')], vals[(label, metric, procs, 'go')]
    fk, fg = fails[(label, procs, 'kumo')], fails[(label, procs, 'go')]
    ratio = f"{statistics.median(k) / statistics.median(g):.2f}" if k and g and statistics.median(g) else "-"
    out.append([label, f"{metric} ({units[metric, label]})", str(procs), cell(k, fk), cell(g, fg), ratio])
# a benchmark/procs where neither side printed a metric at all
for label in labels:
    for procs in sorted({p for (l, p, i) in fails if l == label}):
        if not any(l == label and p == procs for (l, m, p) in rows):
            out.append([label, "(no metric)", str(procs), cell([], fails[(label, procs, 'kumo')]),
                        cell([], fails[(label, procs, 'go')]), "-"])

w = [max(len(r[i]) for r in [hdr] + out) for i in range(len(hdr))]
line = lambda r: "| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(r)) + " |"
print(line(hdr))
print("|" + "|".join("-" * (x + 2) for x in w) + "|")
for r in out:
    print(line(r))
print("\nkumo/Go is the ratio of medians: below 1 favours kumo, except for msgs/s where above 1 does.")
nf = sum(len(v) for v in fails.values())
if nf:
    print(f"\n{nf} run(s) failed or were skipped; see build/bench/runtime-failures.log")
PY
echo "raw results: $RAW" >&2
