#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# etcd's gRPC KV API: kumo serve against etcd 3.4, each alone on one core,
# loaded from the other by kumo's gRPC client (grpc_load.c) and by Go's
# clientv3 (bench/go/etcd_load.go) with the same flags, in alternating
# rounds; prints medians, spreads and ratios.
#
# Environment: ROUNDS (default 3), SECONDS_PER_RUN (default 5), CONNS
# (default 10), CLIENTS (default 100), OPS (default "range range-s put"),
# LOADERS (default "kumo go"), SERVERS (default "etcd kumo"), WATCHERS
# (watch fan-out sizes, default "10000 100000"; etcd runs only the
# smallest) over WCONNS streams (default 100),
# SERVER_CPU / CLIENT_CPU (default 0 / 1). Raw results:
# build/bench/config-grpc-results.txt; logs in build/bench/config/.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
SECS=${SECONDS_PER_RUN:-5}
CONNS=${CONNS:-10}
CLIENTS=${CLIENTS:-100}
OPS=${OPS:-"range range-s put"}
WATCHERS=${WATCHERS:-"10000 100000"}
WCONNS=${WCONNS:-100}
LOADERS=${LOADERS:-"kumo go"}
SERVERS=${SERVERS:-"etcd kumo"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
OUT=build/bench
RAW=$OUT/config-grpc-results.txt
WORK=$PWD/$OUT/config
KUMO=${KUMO:-build/kumo}
CC=${CC:-cc}

for t in etcd curl python3 taskset go; do
  command -v "$t" >/dev/null || { echo "bench/config/grpc: $t not found" >&2; exit 1; }
done
[ -x "$KUMO" ] && [ -f build/libkumo.a ] || make --no-print-directory build/kumo
mkdir -p "$WORK"
$CC -std=gnu11 -O2 -Wall -Wextra -D_GNU_SOURCE -Iinclude -Ibuild/gen bench/config/grpc_load.c \
    build/libkumo.a -llmdb -ljansson -lnghttp2 -lprotobuf-c -lssl -lcrypto -pthread -lm -o "$OUT/grpc_load"
$CC -std=gnu11 -O2 -Wall -Wextra -D_GNU_SOURCE -Iinclude -Ibuild/gen bench/config/grpc_watch.c \
    build/libkumo.a -llmdb -ljansson -lnghttp2 -lprotobuf-c -lssl -lcrypto -pthread -lm -o "$OUT/grpc_watch"
GO111MODULE=off GOPATH=/usr/share/gocode go build -o "$OUT/etcd_load" bench/go/etcd_load.go

. bench/config/servers.sh

record() { echo "$round $1 $2 $3" >> "$RAW"; }
LOG=$WORK/grpc.log
smallest=$(echo "$WATCHERS" | tr ' ' '\n' | sort -n | head -n 1)
largest=$(echo "$WATCHERS" | tr ' ' '\n' | sort -n | tail -n 1)
need=$((largest / WCONNS + WCONNS + 1000))
[ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge "$need" ] || { echo "bench/config/grpc: ulimit -Hn below $need" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"

# load_run SERVER LOADER OP: one measured run; req/s, server CPU per call, p99.
load_run() {
  local srv=$1 ld=$2 op=$3 bin c0 c1 out
  case $ld in kumo) bin=$OUT/grpc_load ;; go) bin=$OUT/etcd_load ;; esac
  c0=$(cpu_ticks "$pid")
  out=$(taskset -c "$CLIENT_CPU" env KM_PROCS=1 GOMAXPROCS=1 "$bin" --endpoint "127.0.0.1:$port" \
        --op "$op" --conns "$CONNS" --clients "$CLIENTS" --seconds "$SECS" --keys 1000 2>&1) || {
    echo "bench/config/grpc: $srv $ld $op failed: $(echo "$out" | tail -n 3)" >&2; return 0; }
  c1=$(cpu_ticks "$pid")
  { echo "== round $round $srv $ld $op"; echo "$out"; } >> "$WORK/grpc.log"
  local rps reqs p99
  rps=$(echo "$out" | sed -nE 's/^requests\/s ([0-9.]+)/\1/p')
  reqs=$(echo "$out" | sed -nE 's/^requests ([0-9]+)/\1/p')
  p99=$(echo "$out" | sed -nE 's/^p99_us ([0-9.]+)/\1/p')
  record "$srv" "${ld}_${op}_rps" "$rps"
  record "$srv" "${ld}_${op}_p99_us" "$p99"
  record "$srv" "${ld}_${op}_cpu_us" "$(us_per $((c1 - c0)) "$reqs")"
  echo "  $srv $ld $op: $rps req/s, p99 $p99 us" >&2
}

: > "$RAW"
: > "$WORK/grpc.log"
for round in $(seq "$ROUNDS"); do
  for name in $(round_order "$round"); do
    echo "round $round: $name" >&2
    start "$name"
    sleep 1
    for ld in $LOADERS; do
      for op in $OPS; do load_run "$name" "$ld" "$op"; done
    done
    # largest first: a Go heap grown by a smaller run would hide part of the growth
    for n in $(echo "$WATCHERS" | tr ' ' '\n' | sort -rn); do
      [ "$name" = etcd ] && [ "$n" != "$smallest" ] && continue
      fanout_run "$name" "$n" grpc_ "$OUT/grpc_watch" "127.0.0.1:$port" "$n" "$WCONNS" 1000
    done
    stop
  done
done

python3 - "$RAW" "$SERVERS" "$LOADERS" "$OPS" "$WATCHERS" <<'PY'
import statistics, sys
raw, servers, loaders, ops = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4].split()
fan = sorted(int(x) for x in sys.argv[5].split())
vals = {}
for line in open(raw):
    r, srv, metric, v = line.split()
    vals.setdefault((metric, srv), []).append(float(v))
fmt = lambda x: "%.0f" % x if abs(x) >= 100 else "%.3g" % x
def cell(m, s):
    v = vals.get((m, s))
    if not v:
        return "-", None
    med = statistics.median(v)
    return "%s (%s-%s)" % (fmt(med), fmt(min(v)), fmt(max(v))), med
a, b = (servers + ["", ""])[:2]
print("%-24s %-28s %-28s %s" % ("metric", a + " median (min-max)", b + " median (min-max)", "%s better by (x)" % b))
med = {}
for ld in loaders:
    for op in ops:
        for k in ("rps", "cpu_us", "p99_us"):
            m = "%s_%s_%s" % (ld, op, k)
            ca, ma = cell(m, a)
            cb, mb = cell(m, b)
            med[(m, a)], med[(m, b)] = ma, mb
            ratio = "-"
            if ma and mb:
                ratio = "%.2f" % (mb / ma if k == "rps" else ma / mb)
            print("%-24s %-28s %-28s %s" % (m, ca, cb, ratio))
for n in fan:
    for k in ("p50_ms", "p99_ms", "all_ms", "connect_ms", "rss_per_watcher"):
        m = "grpc_%s_%dw_kb" % (k, n) if k == "rss_per_watcher" else "grpc_fanout_%dw_%s" % (n, k)
        ca, ma = cell(m, a)
        cb, mb = cell(m, b)
        med[(m, a)], med[(m, b)] = ma, mb
        ratio = "%.2f" % (ma / mb) if ma and mb else "-"
        print("%-24s %-28s %-28s %s" % (m.replace("grpc_", ""), ca, cb, ratio))
if a == "etcd" and b == "kumo" and "kumo" in loaders:
    print()
    for op, want in (("range", 10), ("range-s", 10), ("put", 3)):
        k, e = med.get(("kumo_%s_rps" % op, "kumo")), med.get(("kumo_%s_rps" % op, "etcd"))
        if k and e:
            print("target %-32s %-4s %.1fx" % ("%s req/s >= %dx etcd" % (op, want),
                                              "met" if k >= want * e else "MISS", k / e))
    k = med.get(("grpc_fanout_%dw_p99_ms" % fan[-1], "kumo"))
    e = med.get(("grpc_fanout_%dw_p99_ms" % fan[0], "etcd"))
    if k is not None and e is not None:
        print("target %-32s %-4s %.2f ms vs %.2f ms" % ("p99 to %d < etcd's to %d" % (fan[-1], fan[0]),
                                                      "met" if k < e else "MISS", k, e))
    k = med.get(("grpc_rss_per_watcher_%dw_kb" % fan[0], "kumo"))
    e = med.get(("grpc_rss_per_watcher_%dw_kb" % fan[0], "etcd"))
    if k is not None and e:
        print("target %-32s %-4s %.3f KiB vs %.3f KiB" % ("memory per watcher <= etcd's / 20",
                                                        "met" if k <= e / 20 else "MISS", k, e))
PY
echo "raw results: $RAW; load output: $WORK/grpc.log" >&2
