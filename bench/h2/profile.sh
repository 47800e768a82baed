#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Where kumo's HTTP/2 server spends its CPU under h2load, three ways:
#
#   bench/h2/profile.sh perf       perf record -e cpu-clock --call-graph dwarf
#                                  of hello (pinned, KM_PROCS=1) during one
#                                  h2load run, split by bench/h2/perf-split.py
#                                  into kinds of code, goroutines and the
#                                  functions a request passes through, in ns
#                                  per request (the server's CPU per request
#                                  is measured over the same run)
#   bench/h2/profile.sh callgrind  hello under valgrind --tool=callgrind:
#                                  counters zeroed after a warm-up, then
#                                  REQUESTS requests; instructions and calls
#                                  per request (bench/h2/cg-split.py)
#   bench/h2/profile.sh syscalls   system calls per request of each server in
#                                  SERVERS (perf stat on syscall tracepoints),
#                                  with the server's CPU per request
#
# Environment: MODE (h2load load, default c100m100), DURATION (seconds h2load
# counts, 8), WARMUP (2), REQUESTS (callgrind, 100000), SERVERS (syscalls,
# default "kumo h2o nginx"; also nghttpd and kumo-NAME with VARIANTS, as in
# run.sh), HELLO (default build/examples/hello), SERVER_CPU / CLIENT_CPU
# (0 / 1), NGHTTP2_LIBDIR (a directory holding a libnghttp2.so.14 built with
# -g, put first in hello's LD_LIBRARY_PATH so that nghttp2's internal
# functions have names: Debian's library exports only its API). Output
# goes to build/bench/h2-profile/.
set -euo pipefail
cd "$(dirname "$0")/../.."
WHAT=${1:-perf}
MODE=${MODE:-c100m100}
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-2}
REQUESTS=${REQUESTS:-100000}
SERVERS=${SERVERS:-"kumo h2o nginx"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
HELLO=${HELLO:-build/examples/hello}
OUT=$PWD/build/bench/h2-profile
WORK=$PWD/build/bench/h2
mkdir -p "$OUT"
[ -x "$HELLO" ] || make --no-print-directory "$HELLO"
# shellcheck source=bench/h2/lib.sh
. bench/h2/lib.sh
build_floor

c=${MODE#c}; c=${c%m*}; m=${MODE#*m}
LIBPATH=${NGHTTP2_LIBDIR:+$NGHTTP2_LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}
hpid=""
cleanup() {
  stop_server
  if [ -n "$hpid" ]; then kill "$hpid" 2>/dev/null || true; wait "$hpid" 2>/dev/null || true; fi
}
trap cleanup EXIT

# Starts hello pinned (optionally under a wrapper command) and waits until it
# answers h2c; sets hpid.
start_hello() {  # port [wrapper words...]
  local port=$1; shift
  env ${LIBPATH:+LD_LIBRARY_PATH=$LIBPATH} KM_PROCS=1 taskset -c "$SERVER_CPU" "$@" "$HELLO" "127.0.0.1:$port" \
    > "$OUT/hello.out" 2>&1 &
  hpid=$!
  for _ in $(seq 1 200); do
    curl -s --http2-prior-knowledge -o /dev/null "http://127.0.0.1:$port/ping" 2>/dev/null && return 0
    kill -0 "$hpid" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench/h2/profile: hello does not answer h2c on port $port (see $OUT/hello.out)" >&2
  exit 1
}

case $WHAT in
perf)
  command -v perf >/dev/null || { echo "bench/h2/profile: perf not found (apt-get install linux-perf)" >&2; exit 1; }
  port=$(free_port)
  start_hello "$port"
  # The recording covers h2load's measured period (after its warm-up).
  (sleep "$WARMUP"; perf record -q -e cpu-clock -F 2999 --call-graph dwarf,16384 -p "$hpid" \
     -o "$OUT/perf.data" -- sleep "$DURATION") > "$OUT/perf-record.log" 2>&1 &
  ppid=$!
  res=$(taskset -c "$CLIENT_CPU" python3 bench/h2/load.py "$CLIENT_CPU" "$OUT/h2load.log" "$hpid" -- \
        -t1 "-c$c" "-m$m" -D "$DURATION" "--warm-up-time=$WARMUP" "http://127.0.0.1:$port/ping")
  wait "$ppid"
  echo "h2load -t1 -c$c -m$m: $res" | tee "$OUT/perf-load.txt"
  cpu=$(sed -n 's/.*cpu_us_per_req=\([^ ]*\).*/\1/p' <<< "$res")
  perf script -i "$OUT/perf.data" -F comm,tid,period,ip,sym,dso 2>/dev/null > "$OUT/perf.txt"
  python3 bench/h2/perf-split.py "$cpu" < "$OUT/perf.txt" | tee "$OUT/perf-split.txt"
  echo "(CPU per request measured while perf recorded: its sampling adds a little.)"
  echo "perf data: $OUT/perf.data; split: $OUT/perf-split.txt" >&2
  ;;
callgrind)
  command -v valgrind >/dev/null || { echo "bench/h2/profile: valgrind not found (apt-get install valgrind)" >&2; exit 1; }
  port=$(free_port)
  rm -f "$OUT"/callgrind.out*
  start_hello "$port" valgrind --tool=callgrind "--callgrind-out-file=$OUT/callgrind.out"
  taskset -c "$CLIENT_CPU" h2load -t1 "-c$c" "-m$m" -n 20000 "http://127.0.0.1:$port/ping" > "$OUT/callgrind-warmup.log" 2>&1
  callgrind_control -z "$hpid" > /dev/null
  taskset -c "$CLIENT_CPU" h2load -t1 "-c$c" "-m$m" -n "$REQUESTS" "http://127.0.0.1:$port/ping" > "$OUT/callgrind-h2load.log" 2>&1
  callgrind_control -d "$hpid" > /dev/null
  grep -E '^requests:' "$OUT/callgrind-h2load.log"
  dump=$(ls -t "$OUT"/callgrind.out.* | head -n1)
  python3 bench/h2/cg-split.py "$dump" "$REQUESTS" | tee "$OUT/callgrind-split.txt"
  echo "callgrind dump: $dump (callgrind_annotate $dump)" >&2
  ;;
syscalls)
  command -v perf >/dev/null || { echo "bench/h2/profile: perf not found (apt-get install linux-perf)" >&2; exit 1; }
  events=syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg,syscalls:sys_enter_write,syscalls:sys_enter_writev
  events=$events,syscalls:sys_enter_read,syscalls:sys_enter_recvfrom,syscalls:sys_enter_epoll_wait
  events=$events,syscalls:sys_enter_openat,syscalls:sys_enter_futex
  for srv in $SERVERS; do
    port=$(free_port)
    start_server "$srv" "$port"
    if ! check_h2c "$srv" "$port" > /dev/null; then
      echo "$srv: FAILED, does not answer h2c"; stop_server; continue
    fi
    tree=$(tree_pids "$spid")
    (sleep "$WARMUP"; perf stat -x, -e "$events" -p "${tree// /,}" -o "$OUT/syscalls-$srv.csv" -- sleep "$DURATION") &
    ppid=$!
    res=$(taskset -c "$CLIENT_CPU" python3 bench/h2/load.py "$CLIENT_CPU" "$OUT/h2load.log" "$tree" -- \
          -t1 "-c$c" "-m$m" -D "$DURATION" "--warm-up-time=$WARMUP" "http://127.0.0.1:$port/ping")
    wait "$ppid"
    stop_server
    python3 - "$srv" "$res" "$OUT/syscalls-$srv.csv" <<'PY'
import re, sys
srv, res, csv = sys.argv[1], sys.argv[2], sys.argv[3]
kv = dict(re.findall(r'(\w+)=(\S+)', res))
n = float(kv.get('requests', 0) or 0)
calls = []
for line in open(csv):
    f = line.strip().split(',')
    if len(f) > 2 and f[0].isdigit() and int(f[0]) > 0:
        calls.append((f[2].replace('syscalls:sys_enter_', ''), int(f[0])))
per = ', '.join(f'{k} {v / n:.3f}' for k, v in calls) if n else '-'
print(f"{srv}: {float(kv.get('rps', 0)):,.0f} req/s, CPU {kv.get('cpu_us_per_req')} µs/req "
      f"(user {kv.get('user_us_per_req')}, kernel {kv.get('sys_us_per_req')}), "
      f"CPU wait {kv.get('wait_ms_per_s')} ms/s; system calls per request: {per}")
PY
  done | tee "$OUT/syscalls.txt"
  echo "(system calls counted over the same seconds as h2load's requests, so per-request figures are approximate)"
  ;;
*)
  echo "usage: bench/h2/profile.sh perf|callgrind|syscalls" >&2
  exit 2
  ;;
esac
