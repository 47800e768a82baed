#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The caching tier against its peers over one 3-member etcd 3.4 cluster:
# etcd itself (a follower's client port), etcd's grpc-proxy and `kumo serve
# --backend etcd://...`, in alternating rounds: watch fan-out (delivery
# times, RSS per watcher, the watch streams and watchers etcd holds) and
# serializable single-key ranges (req/s, CPU per request); prints medians,
# spreads and the ratios kumo/proxy and kumo/etcd.
#
# Each measurement gets a freshly started tier process, alone on SERVER_CPU
# (taskset from its start, so Go sizes GOMAXPROCS to one core; kumo gets
# KM_PROCS=1): the proxy and kumo are started there, and for etcd the
# follower measured is restarted on its data there, and restarted unpinned
# afterwards. The load generators (bench/config/grpc_watch.c and
# grpc_load.c) run on CLIENT_CPU; the other members are not pinned. The
# fan-out's one put goes to the leader's client port, for every target.
#
# kumo2 is two kumo nodes over the same cluster, both on SERVER_CPU, the
# load spread over them (the load programs take both endpoints, connection
# i to node i mod 2): the watchers and reads of one node's run split over
# two nodes that share its core. If a node costs nothing for being one of
# several, that run matches kumo's (same delivery times, same CPU per
# request): per core the tier scales, so two nodes on two cores serve
# twice one node's watchers and reads; etcd sees one stream per node.
#
# floor is bench/scale/grpc_floor.c on SERVER_CPU: nghttp2 in one epoll
# loop answering every Range with one prepared reply, no decoding, no
# store, no runtime; it takes the range run only, as what a call costs
# below any server (the tier's CPU per call is compared with it).
#
# Environment: ROUNDS (default 3), WATCHERS (default "10000 100000")
# over WCONNS watch streams (default 100), SECONDS_PER_RUN (range run,
# default 5), CONNS / CLIENTS (range load, default 10 / 100), TARGETS
# (default "etcd proxy kumo kumo2 floor"), SERVER_CPU / CLIENT_CPU (default 0 / 1).
# Raw results: build/bench/scale-results.txt ("round target metric
# value"); logs: build/bench/scale/.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
WATCHERS=${WATCHERS:-"10000 100000"}
WCONNS=${WCONNS:-100}
SECS=${SECONDS_PER_RUN:-5}
CONNS=${CONNS:-10}
CLIENTS=${CLIENTS:-100}
TARGETS=${TARGETS:-"etcd proxy kumo kumo2 floor"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
HOLD_MS=1500            # watchers held open this long for the RSS and etcd's counts
OUT=build/bench
RAW=$OUT/scale-results.txt
WORK=$PWD/$OUT/scale
KUMO=${KUMO:-build/kumo}
CL=scripts/etcd-cluster.sh
CC=${CC:-cc}

for t in etcd etcdctl curl python3 taskset; do
  command -v "$t" >/dev/null || {
    echo "bench/scale: $t not found (apt-get install etcd-server etcd-client curl python3 util-linux)" >&2; exit 1; }
done
etcd grpc-proxy start --help >/dev/null 2>&1 || { echo "bench/scale: this etcd has no grpc-proxy" >&2; exit 1; }
[ -x "$KUMO" ] && [ -f build/libkumo.a ] || make --no-print-directory build/kumo
mkdir -p "$WORK"
for p in grpc_load grpc_watch; do
  $CC -std=gnu11 -O2 -Wall -Wextra -D_GNU_SOURCE -Iinclude -Ibuild/gen "bench/config/$p.c" \
      build/libkumo.a -llmdb -ljansson -lnghttp2 -lprotobuf-c -lssl -lcrypto -pthread -lm -o "$OUT/$p"
done
$CC -std=gnu11 -O2 -Wall -Wextra -D_GNU_SOURCE -Iinclude -Ibuild/gen bench/scale/grpc_floor.c \
    build/libkumo.a -lnghttp2 -lprotobuf-c -o "$OUT/grpc_floor"

largest=$(echo "$WATCHERS" | tr ' ' '\n' | sort -n | tail -n 1)
need=$((largest / WCONNS + WCONNS + 1000))
[ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge "$need" ] ||
  { echo "bench/scale: ulimit -Hn below $need" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"

pids=         # the tier's processes being measured
eps=          # their client endpoints, comma-separated
member=       # for etcd: the member number measured
cpid=         # the load generator running
cluster=$WORK/etcd
cleanup() {
  set +e      # a process already gone must not end the cleanup early
  [ -n "$cpid" ] && { kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null; }
  for p in $pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  [ -f "$cluster/base" ] && $CL stop "$cluster" >/dev/null 2>&1
  rm -rf "$cluster"/m*.data "$WORK/proxy.data" "$WORK"/kumo*.data
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# rss_kb / cpu_ticks PID...: summed over the processes
rss_kb() { local p; for p in "$@"; do cat "/proc/$p/status"; done | awk '/^VmRSS:/ { s += $2 } END { print s }'; }
cpu_ticks() { local p; for p in "$@"; do cat "/proc/$p/stat"; done | awk '{ s += $14 + $15 } END { print s }'; }  # utime + stime
us_per() { awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t * 1e6 / hz / n}'; }
record() { echo "$round $1 $2 $3" >> "$RAW"; }
fail=0
warn() { echo "bench/scale: $*" >&2; fail=$((fail + 1)); }

# etcd_watch_counts: "streams watchers" summed over the members' /metrics
etcd_watch_counts() {
  for e in $(echo "$E" | tr , ' '); do curl -s --max-time 5 "http://$e/metrics"; done |
    awk '/^etcd_debugging_mvcc_(watch_stream|watcher)_total /{ s[$1] += $2 }
         END { print s["etcd_debugging_mvcc_watch_stream_total"] + 0, s["etcd_debugging_mvcc_watcher_total"] + 0 }'
}

# member_down N: SIGTERM member N and wait until it has exited
member_down() {
  local p; p=$(cat "$cluster/m$1.pid")
  $CL kill "$cluster" "$1" TERM
  for _ in $(seq 200); do
    kill -0 "$p" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ] || return 0
    sleep 0.05
  done
  kill -KILL "$p" 2>/dev/null || true
}

# start_kumo N: kumo node N on SERVER_CPU, added to pids and eps
start_kumo() {
  local port; port=$(free_port)
  rm -rf "$WORK/kumo$1.data"
  KM_PROCS=1 taskset -c "$SERVER_CPU" "$KUMO" serve --backend "etcd://$E" --listen "127.0.0.1:$port" \
    --data-dir "$WORK/kumo$1.data" >>"$WORK/kumo.log" 2>&1 &
  pids="$pids${pids:+ }$!" eps="$eps${eps:+,}127.0.0.1:$port"
}

# start NAME: a fresh tier (its processes on SERVER_CPU); sets pids and eps
start() {
  local name=$1 leader port ep p ready
  pids= eps=
  case $name in
    etcd)
      leader=$($CL leader "$cluster")
      member=$(( leader % 3 + 1 ))             # a follower
      member_down "$member"
      taskset -c "$SERVER_CPU" $CL restart "$cluster" "$member" >/dev/null
      pids=$(cat "$cluster/m$member.pid")
      eps=$($CL endpoint "$cluster" "$member") ;;
    proxy)
      port=$(free_port)
      rm -rf "$WORK/proxy.data"
      taskset -c "$SERVER_CPU" etcd grpc-proxy start --endpoints="$E" --listen-addr="127.0.0.1:$port" \
        --data-dir "$WORK/proxy.data" >>"$WORK/proxy.log" 2>&1 &
      pids=$! eps=127.0.0.1:$port ;;
    floor)
      port=$(free_port)
      taskset -c "$SERVER_CPU" "$OUT/grpc_floor" "127.0.0.1:$port" >>"$WORK/floor.log" 2>&1 &
      pids=$! eps=127.0.0.1:$port ;;
    kumo)  start_kumo 1 ;;
    kumo2) start_kumo 1; start_kumo 2 ;;
  esac
  for ep in ${eps//,/ }; do
    ready=
    for _ in $(seq 200); do
      ETCDCTL_API=3 etcdctl --endpoints "$ep" --command-timeout 1s \
        get --consistency=s bench/probe >/dev/null 2>&1 && { ready=1; break; }
      for p in $pids; do kill -0 "$p" 2>/dev/null || break 2; done
      sleep 0.05
    done
    [ -n "$ready" ] || { echo "bench/scale: $name did not start; see $WORK/" >&2; exit 1; }
  done
}

# stop NAME: end the tier process; an etcd member is started again unpinned
stop() {
  if [ "$1" = etcd ]; then
    member_down "$member"
    $CL restart "$cluster" "$member" >/dev/null
  else
    for p in $pids; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  fi
  pids=
}

# fanout NAME N: N watchers of one key through the tier, one put on the leader
fanout() {
  local name=$1 n=$2 before rss counts='' line put_ep
  put_ep=$($CL endpoint "$cluster" "$($CL leader "$cluster")")
  before=$(rss_kb $pids)
  : > "$WORK/fanout.out"
  taskset -c "$CLIENT_CPU" env KM_PROCS=1 "$OUT/grpc_watch" "$eps" "$n" "$WCONNS" \
    "$HOLD_MS" 0 "$put_ep" > "$WORK/fanout.out" 2> "$WORK/fanout.err" &
  cpid=$!
  for _ in $(seq 2400); do
    grep -q '^ready' "$WORK/fanout.out" && break
    kill -0 "$cpid" 2>/dev/null || break
    sleep 0.05
  done
  if grep -q '^ready' "$WORK/fanout.out"; then
    sleep 0.3
    rss=$(rss_kb $pids)
    counts=$(etcd_watch_counts)
    record "$name" "rss_per_watcher_${n}w_kb" "$(awk -v a="$rss" -v b="$before" -v n="$n" 'BEGIN {printf "%.3f", (a - b) / n}')"
    record "$name" "etcd_streams_${n}w" "${counts% *}"
    record "$name" "etcd_watchers_${n}w" "${counts#* }"
  fi
  wait "$cpid" || warn "$name fan-out $n failed: $(tail -n 3 "$WORK/fanout.err")"
  cpid=
  { echo "== round $round $name fanout $n (etcd streams watchers: ${counts:-?})";
    cat "$WORK/fanout.out" "$WORK/fanout.err"; } >> "$WORK/fanout.log"
  line=$(grep '^fanout:' "$WORK/fanout.out" || true)
  [ -n "$line" ] || return 0
  echo "  $name ${line#fanout: } etcd_streams_watchers=${counts/ //}" >&2
  for k in connect_ms p50_ms p99_ms all_ms missed; do
    record "$name" "fanout_${n}w_$k" "$(echo "$line" | sed -nE "s/.* $k=([0-9.-]+).*/\\1/p")"
  done
}

# range_s NAME: serializable single-key ranges through the tier
range_s() {
  local name=$1 c0 c1 out rps reqs p99
  c0=$(cpu_ticks $pids)
  out=$(taskset -c "$CLIENT_CPU" env KM_PROCS=1 "$OUT/grpc_load" --endpoint "$eps" \
        --op range-s --conns "$CONNS" --clients "$CLIENTS" --seconds "$SECS" 2>&1) ||
    { warn "$name range-s failed: $(echo "$out" | tail -n 3)"; return 0; }
  c1=$(cpu_ticks $pids)
  { echo "== round $round $name range-s"; echo "$out"; } >> "$WORK/range.log"
  rps=$(echo "$out" | sed -nE 's/^requests\/s ([0-9.]+)/\1/p')
  reqs=$(echo "$out" | sed -nE 's/^requests ([0-9]+)/\1/p')
  p99=$(echo "$out" | sed -nE 's/^p99_us ([0-9.]+)/\1/p')
  record "$name" range_s_rps "$rps"
  record "$name" range_s_p99_us "$p99"
  record "$name" range_s_cpu_us "$(us_per $((c1 - c0)) "$reqs")"
  echo "  $name range-s: $rps req/s, p99 $p99 us, $(us_per $((c1 - c0)) "$reqs") us CPU/req" >&2
}

# round_order R: TARGETS rotated by R-1, so each runs first, middle and last
round_order() {
  local -a t; read -ra t <<< "$TARGETS"
  local i k=$(( ($1 - 1) % ${#t[@]} ))
  for i in "${!t[@]}"; do echo -n "${t[$(( (i + k) % ${#t[@]} ))]} "; done
}

: > "$RAW"
for f in fanout.log range.log proxy.log kumo.log floor.log; do : > "$WORK/$f"; done
rm -rf "$cluster"
E=$($CL start "$cluster") || { echo "bench/scale: the etcd cluster did not start" >&2; exit 1; }
echo "etcd cluster: $E; targets pinned to CPU $SERVER_CPU, load on CPU $CLIENT_CPU" >&2

for round in $(seq "$ROUNDS"); do
  for name in $(round_order "$round"); do
    echo "round $round: $name" >&2
    for n in $WATCHERS; do
      [ "$name" = floor ] && break      # it has no watches
      start "$name"; fanout "$name" "$n"; stop "$name"
    done
    start "$name"; range_s "$name"; stop "$name"
  done
done

python3 - "$RAW" "$TARGETS" "$WATCHERS" <<'PY'
import statistics, sys
raw, targets = sys.argv[1], sys.argv[2].split()
fan = sorted(int(x) for x in sys.argv[3].split())
vals = {}
for line in open(raw):
    r, t, metric, v = line.split()
    vals.setdefault((metric, t), []).append(float(v))
fmt = lambda x: "%.0f" % x if abs(x) >= 100 else "%.3g" % x
def cell(m, t):
    v = vals.get((m, t))
    if not v:
        return "-", None
    med = statistics.median(v)
    return "%s (%s-%s)" % (fmt(med), fmt(min(v)), fmt(max(v))), med
rows = []
for n in fan:
    for k in ("p50_ms", "p99_ms", "all_ms", "connect_ms", "missed"):
        rows.append(("fanout_%dw_%s" % (n, k), "lower"))
    rows.append(("rss_per_watcher_%dw_kb" % n, "lower"))
    rows.append(("etcd_streams_%dw" % n, "lower"))
    rows.append(("etcd_watchers_%dw" % n, "lower"))
rows += [("range_s_rps", "higher"), ("range_s_cpu_us", "lower"), ("range_s_p99_us", "lower")]
pairs = [("kumo", t) for t in ("proxy", "etcd") if t in targets and "kumo" in targets]
if "kumo" in targets and "kumo2" in targets:
    pairs.append(("kumo2", "kumo"))
if "kumo" in targets and "floor" in targets:
    pairs.append(("kumo", "floor"))
print("%-26s" % "metric" + "".join("%-24s" % (t + " med (min-max)") for t in targets)
      + "".join("%-12s" % (a + "/" + b) for a, b in pairs) + "better")
for m, better in rows:
    cells, meds = [], {}
    for t in targets:
        c, meds[t] = cell(m, t)
        cells.append(c)
    if all(c == "-" for c in cells):
        continue
    ratios = []
    for a, b in pairs:
        k, o = meds.get(a), meds.get(b)
        ratios.append("%.3g" % (k / o) if k is not None and o else "-")
    print("%-26s" % m + "".join("%-24s" % c for c in cells) + "".join("%-12s" % r for r in ratios) + better)
PY
echo "raw results: $RAW; logs: $WORK/" >&2
[ "$fail" = 0 ] || { echo "bench/scale: $fail run(s) failed" >&2; exit 1; }
