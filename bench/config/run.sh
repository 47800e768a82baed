#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Benchmarks `kumo serve` against etcd 3.4 (range, prefix range, durable put, watch fan-out, memory; through the JSON gateway, then over gRPC with grpc.sh) in alternating rounds and prints medians and ratios.
#
# Environment: ROUNDS (default 3), DURATION (seconds per wrk run, default
# 5), CONNS (wrk connections, default 100), FANOUT (watcher counts, default
# "1000 10000"; the largest also gives the memory figures), SERVERS
# (default "etcd kumo"), SERVER_CPU / CLIENT_CPU (default 0 / 1). Each
# server gets a fresh data dir per round and runs alone on SERVER_CPU with
# one scheduler thread (KM_PROCS=1 / GOMAXPROCS=1), default durability;
# wrk and the fan-out client run on CLIENT_CPU. Raw results:
# build/bench/config-results.txt; wrk output and server logs:
# build/bench/config/.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-100}
FANOUT=${FANOUT:-"1000 10000"}
SERVERS=${SERVERS:-"etcd kumo"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
OUT=build/bench
RAW=$OUT/config-results.txt
WORK=$PWD/$OUT/config
KUMO=${KUMO:-build/kumo}
FANOUT_BIN=$OUT/config_fanout
FLOOR_BIN=$OUT/config_floor
CC=${CC:-cc}

for t in wrk etcd curl python3 taskset; do
  command -v "$t" >/dev/null || {
    echo "bench/config: $t not found (apt-get install wrk etcd-server curl python3 util-linux)" >&2; exit 1; }
done
[ -x "$KUMO" ] && [ -f build/libkumo.a ] || make --no-print-directory build/kumo
case " $SERVERS " in *" kumo "*)
  "$KUMO" -h 2>&1 | grep -q '^ *serve ' || { echo "bench/config: $KUMO has no serve command" >&2; exit 1; } ;;
esac

mkdir -p "$WORK"
$CC -std=gnu11 -O2 -Wall -Wextra -D_GNU_SOURCE -Iinclude bench/config/fanout.c build/libkumo.a \
    -llmdb -ljansson -pthread -lm -o "$FANOUT_BIN"
$CC -std=gnu11 -O2 -Wall -Wextra -D_GNU_SOURCE bench/config/floor.c -o "$FLOOR_BIN"

# 10,000 watch streams need that many sockets in the client and in the
# server, plus whatever the server still holds from earlier runs: take the
# hard limit (at least the largest fan-out plus 1,000).
need=$(( $(echo "$FANOUT" | tr ' ' '\n' | sort -n | tail -n 1) + 1000 ))
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
[ "$hard" -ge "$need" ] || { echo "bench/config: ulimit -Hn is $hard, need $need" >&2; exit 1; }
ulimit -n "$hard"

. bench/config/servers.sh
record() { echo "$round $1 $2 $3" >> "$RAW"; }
LOG=$WORK/wrk.log

# load: bench/key plus the 100 keys of the prefix range.
load() {
  python3 - "$base" <<'EOF'
import base64, http.client, json, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
def put(k, v):
    c.request("POST", "/v3/kv/put", body=json.dumps({"key": base64.b64encode(k.encode()).decode(),
                                                     "value": base64.b64encode(v.encode()).decode()}))
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
put("bench/key", "v" * 100)
for i in range(100):
    put("p/%03d" % i, "v" * 100)
EOF
}

# wrk_run NAME LABEL SCRIPT: one measured wrk run; records req/s and CPU per request.
wrk_run() {
  local name=$1 label=$2 script=$3 c0 c1 reqs rps
  c0=$(cpu_ticks "$pid")
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "bench/config/$script" "$base" \
    > "$WORK/wrk.out" 2>&1 || true
  c1=$(cpu_ticks "$pid")
  { echo "== round $round $name $label"; cat "$WORK/wrk.out"; } >> "$WORK/wrk.log"
  reqs=$(sed -nE 's/^ *([0-9]+) requests in.*/\1/p' "$WORK/wrk.out")
  rps=$(sed -nE 's/^Requests\/sec: *([0-9.]+).*/\1/p' "$WORK/wrk.out")
  if [ -z "$reqs" ] || grep -qE 'Non-2xx|Socket errors' "$WORK/wrk.out"; then
    echo "bench/config: $name $label: errors (see $WORK/wrk.log)" >&2
    grep -E 'Non-2xx|Socket errors' "$WORK/wrk.out" >&2 || true
  fi
  [ -n "$reqs" ] || return 0
  record "$name" "${label}_rps" "$rps"
  record "$name" "${label}_cpu_us" "$(us_per $((c1 - c0)) "$reqs")"
  echo "  $name $label: $rps req/s" >&2
}

: > "$RAW"
: > "$WORK/wrk.log"
for round in $(seq "$ROUNDS"); do
  for name in $(round_order "$round"); do
    echo "round $round: $name" >&2
    start "$name"
    sleep 1
    record "$name" rss_idle_kb "$(rss_kb "$pid")"
    load
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d1s -s bench/config/range.lua "$base" >/dev/null 2>&1 || true
    wrk_run "$name" range range.lua
    wrk_run "$name" prefix100 prefix.lua
    wrk_run "$name" put put.lua
    # largest first: a Go heap grown by a smaller run would hide part of the growth
    for n in $(echo "$FANOUT" | tr ' ' '\n' | sort -rn); do
      fanout_run "$name" "$n" "" "$FANOUT_BIN" "127.0.0.1:${base##*:}" "$n" 1000
    done
    stop
  done
  # The kernel's floor under the same pinning: one bare write(2) of 200
  # bytes (a watch event with its chunk framing) per connection.
  for n in $FANOUT; do
    line=$("$FLOOR_BIN" "$n" "$SERVER_CPU" "$CLIENT_CPU" 200 1 | grep '^floor:' || true)
    echo "  kernel $line" >&2
    for k in p50_ms p99_ms all_ms; do
      record floor "fanout_${n}w_$k" "$(echo "$line" | sed -nE "s/.* $k=([0-9.-]+).*/\\1/p")"
    done
  done
done

python3 - "$RAW" "$SERVERS" "$FANOUT" <<'EOF'
import statistics, sys
raw, servers, fan = sys.argv[1], sys.argv[2].split(), sorted(int(x) for x in sys.argv[3].split())
vals = {}
for line in open(raw):
    r, srv, metric, v = line.split()
    try:
        vals.setdefault((metric, srv), []).append(float(v))
    except ValueError:
        pass
higher = lambda m: m.endswith("_rps")   # for the rest, lower is better
metrics = ["range_rps", "prefix100_rps", "put_rps", "range_cpu_us", "prefix100_cpu_us", "put_cpu_us"]
for n in fan:
    metrics += ["fanout_%dw_%s" % (n, k) for k in ("p50_ms", "p99_ms", "all_ms", "connect_ms")]
metrics += ["fds_after_%dw" % n for n in fan]
metrics += ["rss_idle_kb"] + ["rss_%dw_kb" % fan[-1], "rss_per_watcher_%dw_kb" % fan[-1]]
def cell(m, s):
    v = vals.get((m, s))
    if not v:
        return "-", None
    med = statistics.median(v)
    return "%s (%s-%s)" % (fmt(med), fmt(min(v)), fmt(max(v))), med
def fmt(x):
    return "%.0f" % x if abs(x) >= 100 else "%.3g" % x
a, b = (servers + ["", ""])[:2]
print("%-26s %-30s %-30s %s" % ("metric", a + " median (min-max)", b + " median (min-max)", "%s better by (x)" % b))
med = {}
for m in metrics:
    ca, ma = cell(m, a)
    cb, mb = cell(m, b)
    med[(m, a)], med[(m, b)] = ma, mb
    ratio = "-"
    if ma and mb:
        ratio = "%.2f" % (mb / ma if higher(m) else ma / mb)
    print("%-26s %-30s %-30s %s" % (m, ca, cb, ratio))
floor = {n: vals.get(("fanout_%dw_p99_ms" % n, "floor")) for n in fan}
if any(floor.values()):
    print()
    print("kernel floor (bench/config/floor.c: a bare write(2) per connection, no server):")
    for n in fan:
        for k in ("p50_ms", "p99_ms"):
            c, _ = cell("fanout_%dw_%s" % (n, k), "floor")
            print("  fanout_%dw_%-8s %s" % (n, k, c))
if a == "etcd" and b == "kumo":
    g = lambda m, s: med.get((m, s))
    def target(name, ok, detail):
        print("target %-44s %-4s %s" % (name, "met" if ok else "MISS", detail))
    print()
    r = g("range_rps", "kumo"), g("range_rps", "etcd")
    if all(r): target("range req/s >= 10x etcd", r[0] >= 10 * r[1], "%.1fx" % (r[0] / r[1]))
    r = g("put_rps", "kumo"), g("put_rps", "etcd")
    if all(r): target("put req/s >= 2x etcd", r[0] >= 2 * r[1], "%.1fx" % (r[0] / r[1]))
    k, e = g("fanout_%dw_p99_ms" % fan[-1], "kumo"), g("fanout_%dw_p99_ms" % fan[0], "etcd")
    if k is not None and e is not None:
        f = floor.get(fan[-1])
        fl = " (kernel floor %.2f ms)" % statistics.median(f) if f else ""
        target("fan-out p99 to %d < etcd's p99 to %d" % (fan[-1], fan[0]), k < e,
               "%.2f ms vs %.2f ms%s" % (k, e, fl))
    k, e = g("rss_per_watcher_%dw_kb" % fan[-1], "kumo"), g("rss_per_watcher_%dw_kb" % fan[-1], "etcd")
    if k is not None and e:
        target("RSS per watcher <= etcd's / 10", k <= e / 10, "%.2f KiB vs %.2f KiB" % (k, e))
EOF
echo "raw results: $RAW; wrk and fan-out output: $WORK/wrk.log" >&2

# The hub alone, past the open-file limit real connections hit: 100,000
# watchers as goroutines in one process, one put (HUB_WATCHERS to change).
$CC -std=gnu11 -O2 -Wall -Wextra -D_GNU_SOURCE -Iinclude bench/config/hub.c build/libkumo.a \
    -llmdb -ljansson -pthread -lm -o "$OUT/config_hub"
echo
echo "watch hub without sockets (KM_PROCS=1, core $SERVER_CPU):"
taskset -c "$SERVER_CPU" env KM_PROCS=1 "$OUT/config_hub" "${HUB_WATCHERS:-100000}"

# Observability off, default (metrics, ids, trace) and full (plus access log).
echo
echo "kumo serve observability cost:"
bench/config/obs.sh
echo
echo "kumo serve observability cost, paired (off and on sharing one core, at once):"
bench/config/obs-paired.sh

# etcd's gRPC API: kumo serve and etcd under kumo's gRPC client and clientv3.
echo
echo "etcd gRPC API (bench/config/grpc.sh):"
bench/config/grpc.sh
