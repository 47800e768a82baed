#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Unary gRPC calls/s on kumo.test.Echo/Unary under h2load (h2c), servers in
# rotating order for ROUNDS rounds; prints medians [min–max], the server's CPU
# time per call and, once kumo's server is in SERVERS, kumo/peer ratios.
#
# A gRPC call over h2c is a POST of one length-prefixed message with
# "content-type: application/grpc" and "te: trailers"; h2load sends exactly
# that (body from build/bench/grpc/request.bin) and counts 2xx answers. It
# cannot see the grpc-status trailer, so each server start is first checked
# with nghttp (same headers, same body: grpc-status 0 and the expected
# response bytes) and with the grpc-go driver's unary check.
#
# Environment: SERVERS (default "go kumo": grpc-go's server and kumo's C
# server, KUMO_ECHO_SERVER names another binary), ROUNDS (3), DURATION (seconds
# per measured run, 5), WARMUP (seconds of load after each start, 2),
# MODES (default "c1m1 c16m16 c100m1": h2load connections and streams per
# connection), PAYLOAD (request payload bytes, echoed back; 16),
# SERVER_CPU / CLIENT_CPU (0 / 1). Servers run with GOMAXPROCS=1 / KM_PROCS=1.
# Raw results: build/bench/grpc-results.txt; h2load output:
# build/bench/grpc-h2load.log; server logs: build/bench/grpc/.
set -euo pipefail

cd "$(dirname "$0")/../.."
SERVERS=${SERVERS:-"go kumo"}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-2}
MODES=${MODES:-"c1m1 c16m16 c100m1"}
PAYLOAD=${PAYLOAD:-16}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
OUT=build/bench
RAW=$OUT/grpc-results.txt
LOG=$OUT/grpc-h2load.log
WORK=$PWD/$OUT/grpc
PY=/usr/bin/python3     # Debian's, with python3-protobuf
TCK=$(getconf CLK_TCK)
URL_PATH=/kumo.test.Echo/Unary

for t in h2load nghttp taskset protoc go "$PY"; do
  command -v "$t" >/dev/null || {
    echo "bench/grpc: $t not found (apt-get install nghttp2-client protobuf-compiler golang-go golang-google-grpc-dev python3-protobuf)" >&2
    exit 1; }
done

make --no-print-directory interop >&2
mkdir -p "$WORK"

# The request body and the response expected for it, gRPC-framed (flag 0,
# 4-byte big-endian length, the message).
"$PY" - "$PAYLOAD" "$WORK" <<'PY'
import struct, sys
sys.path.insert(0, "build/gen")
from kumo.test import echo_pb2 as pb
n, work = int(sys.argv[1]), sys.argv[2]
payload = bytes(ord('a') + i % 26 for i in range(n))
def frame(m):
    b = m.SerializeToString()
    return b"\0" + struct.pack(">I", len(b)) + b
open(f"{work}/request.bin", "wb").write(frame(pb.EchoRequest(payload=payload)))
open(f"{work}/response.bin", "wb").write(frame(pb.EchoResponse(payload=payload)))
PY

server_cmd() {  # name port
  case $1 in
    go)   echo "build/interop/echo_server --listen 127.0.0.1:$2" ;;
    # kumo's C gRPC server (tests/interop/c/echo_server.c): the same Echo
    # service and the same flag.
    kumo) echo "${KUMO_ECHO_SERVER:-build/interop/kumo_echo_server} --listen 127.0.0.1:$2" ;;
    *)    return 1 ;;
  esac
}

# A free port below the ephemeral range, as bench/http/run.sh picks them.
free_port() {
  "$PY" - <<'PY'
import random, socket
for _ in range(200):
    p = random.randint(20000, 30000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()
PY
}

# "utime stime" of a process (all its threads), in clock ticks.
cpu_ticks() {
  local s rest
  s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo "0 0"; return; }
  rest=${s##*) }
  # shellcheck disable=SC2086
  set -- $rest
  echo "${12} ${13}"
}

per_call() {  # ticks calls: microseconds of CPU per call
  awk -v d="$1" -v r="$2" -v t="$TCK" 'BEGIN { if (r > 0) printf "%.3f", d * 1e6 / t / r; else print "nan" }'
}

spid=""
stop_server() {
  if [ -n "$spid" ]; then
    kill "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    spid=""
  fi
}
trap stop_server EXIT

start_server() {  # name port
  local cmd
  cmd=$(server_cmd "$1" "$2") || { echo "bench/grpc: unknown server $1" >&2; return 1; }
  echo "GOMAXPROCS=1 KM_PROCS=1 taskset -c $SERVER_CPU $cmd" > "$WORK/$1.cmd"
  # shellcheck disable=SC2086  # cmd is a command line
  GOMAXPROCS=1 KM_PROCS=1 taskset -c "$SERVER_CPU" $cmd > "$WORK/$1.out" 2>&1 &
  spid=$!
}

# 0 once the server answers the benchmark's exact request with grpc-status 0
# and the expected message (nghttp), and a real gRPC client agrees.
verify() {  # name port
  local i
  # nghttp exits 0 even when it cannot connect: wait for the trailer itself.
  for i in $(seq 100); do
    kill -0 "$spid" 2>/dev/null || return 1
    nghttp -v -H 'content-type: application/grpc' -H 'te: trailers' -d "$WORK/request.bin" \
      "http://127.0.0.1:$2$URL_PATH" > "$WORK/$1.nghttp" 2>&1 || true
    grep -q 'grpc-status: 0$' "$WORK/$1.nghttp" && break
    sleep 0.05
  done
  grep -q 'grpc-status: 0$' "$WORK/$1.nghttp" || { echo "   no grpc-status 0 in $WORK/$1.nghttp" >&2; return 1; }
  nghttp -H 'content-type: application/grpc' -H 'te: trailers' -d "$WORK/request.bin" \
    "http://127.0.0.1:$2$URL_PATH" > "$WORK/answer.bin" 2>/dev/null || true
  cmp -s "$WORK/answer.bin" "$WORK/response.bin" || { echo "   unexpected response body ($WORK/answer.bin)" >&2; return 1; }
  build/interop/echo_client -addr "127.0.0.1:$2" -run '^unary$' > "$WORK/$1.client" 2>&1 ||
    { echo "   grpc-go client: $(cat "$WORK/$1.client")" >&2; return 1; }
}

h2load_args() {  # mode port
  local c=${1#c}; c=${c%m*}; local m=${1#*m}
  printf '%s\n' -t1 "-c$c" "-m$m" -H 'content-type: application/grpc' -H 'te: trailers' \
    -d "$WORK/request.bin" "http://127.0.0.1:$2$URL_PATH"
}

: > "$RAW"
: > "$LOG"
{
  echo "# kumo gRPC benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "# host: $(uname -srm), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# $(go version); grpc-go $(dpkg-query -W -f='${Version}' golang-google-grpc-dev); $(h2load --version | head -n1)"
  echo "# rounds=$ROUNDS duration=${DURATION}s warmup=${WARMUP}s payload=${PAYLOAD}B server_cpu=$SERVER_CPU client_cpu=$CLIENT_CPU clk_tck=$TCK"
} >> "$RAW"

read -r -a servers <<< "$SERVERS"
n=${#servers[@]}
for round in $(seq 1 "$ROUNDS"); do
  order=()
  for i in $(seq 0 $((n - 1))); do order+=("${servers[$(((i + round - 1) % n))]}"); done
  echo "round $round/$ROUNDS: ${order[*]}" >&2
  for srv in "${order[@]}"; do
    port=$(free_port)
    if ! start_server "$srv" "$port" || ! verify "$srv" "$port"; then
      for mode in $MODES; do
        echo "server=$srv mode=$mode round=$round status=fail why=\"no grpc-status 0 answer\"" >> "$RAW"
      done
      echo "   FAILED: $srv does not answer $URL_PATH on port $port; see $WORK/$srv.out" >&2
      stop_server
      continue
    fi
    mapfile -t args < <(h2load_args c16m16 "$port")
    taskset -c "$CLIENT_CPU" h2load "${args[@]}" -D "$WARMUP" > /dev/null 2>&1 || true
    for mode in $MODES; do
      mapfile -t args < <(h2load_args "$mode" "$port")
      tag="server=$srv mode=$mode round=$round"
      read -r u0 s0 < <(cpu_ticks "$spid")
      rc=0
      out=$(taskset -c "$CLIENT_CPU" timeout $((DURATION + 30)) h2load "${args[@]}" -D "$DURATION" 2>&1) || rc=$?
      read -r u1 s1 < <(cpu_ticks "$spid")
      { echo "== $tag cpu_ticks=$((u1 + s1 - u0 - s0))"; echo "h2load ${args[*]} -D $DURATION"; grep -v '^progress:' <<< "$out"; } >> "$LOG"
      if [ "$rc" -ne 0 ] || ! kill -0 "$spid" 2>/dev/null; then
        why="h2load exit $rc"; kill -0 "$spid" 2>/dev/null || why="server died"
        echo "$tag status=fail why=\"$why\"" >> "$RAW"
        echo "   FAILED: $srv $mode round $round ($why)" >&2
        break
      fi
      rps=$(sed -n 's/^finished in [0-9.]*s, \([0-9.]*\) req\/s.*/\1/p' <<< "$out")
      read -r ok failed errored < <(sed -n 's/^requests: .* \([0-9]*\) succeeded, \([0-9]*\) failed, \([0-9]*\) errored.*/\1 \2 \3/p' <<< "$out") || true
      non2xx=$(awk '/^status codes:/ { print $5 + $7 + $9 }' <<< "$out")
      mean=$(awk '/^time for request:/ { print $6 }' <<< "$out")
      t=$((u1 + s1 - u0 - s0))
      rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$spid/status")
      echo "$tag rps=${rps:-nan} calls=${ok:-0} failed=${failed:-0} errored=${errored:-0} non2xx=${non2xx:-0} mean=$mean cpu_us_per_call=$(per_call "$t" "${ok:-0}") user_us_per_call=$(per_call $((u1 - u0)) "${ok:-0}") sys_us_per_call=$(per_call $((s1 - s0)) "${ok:-0}") cpu_ticks=$t rss_kb=$rss" >> "$RAW"
      if [ "${failed:-0}" != 0 ] || [ "${errored:-0}" != 0 ] || [ "${non2xx:-0}" != 0 ]; then
        echo "   WARNING: $srv $mode round $round: failed ${failed:-0}, errored ${errored:-0}, non-2xx ${non2xx:-0}" >&2
      fi
    done
    stop_server
  done
done
echo "# end $(date -u +%Y-%m-%dT%H:%M:%SZ), load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$RAW"

"$PY" - "$RAW" "$SERVERS" "$MODES" <<'PY'
import re, statistics, sys
from collections import defaultdict

raw, servers, modes = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
names = {'go': 'grpc-go', 'kumo': 'kumo'}
vals, fails, errs = defaultdict(list), defaultdict(list), []
for line in open(raw):
    if line.startswith('#'):
        continue
    kv = {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|\S+)', line)}
    s, m = kv['server'], kv['mode']
    if 'status' in kv:
        fails[(s, m)].append(kv.get('why', ''))
        continue
    mean = kv.get('mean', '')
    unit = re.sub(r'^[0-9.]+', '', mean)
    if unit in ('us', 'ms', 's'):
        vals[(s, m, 'mean_us')].append(float(mean[:-len(unit)]) * {'us': 1, 'ms': 1e3, 's': 1e6}[unit])
    for k in ('rps', 'cpu_us_per_call', 'user_us_per_call', 'sys_us_per_call', 'rss_kb'):
        if kv.get(k, 'nan') not in ('nan', ''):
            vals[(s, m, k)].append(float(kv[k]))
    if kv['failed'] != '0' or kv['errored'] != '0' or kv['non2xx'] != '0':
        errs.append(f"{names.get(s, s)} {m} round {kv['round']}: failed {kv['failed']}, "
                    f"errored {kv['errored']}, non-2xx {kv['non2xx']}")

def fmt(v):
    a = abs(v)
    return f"{v:,.0f}" if a >= 1000 else f"{v:.0f}" if a >= 100 else f"{v:.1f}" if a >= 10 else f"{v:.2f}"

def cell(xs, ws, scale=1.0):
    if not xs:
        return f"FAILED ({', '.join(sorted(set(ws)))})" if ws else "-"
    xs = [x * scale for x in xs]
    return f"{fmt(statistics.median(xs))} [{fmt(min(xs))}–{fmt(max(xs))}]" + (f" + {len(ws)} failed" if ws else "")

def table(hdr, rows):
    w = [max(len(r[i]) for r in [hdr] + rows) for i in range(len(hdr))]
    line = lambda r: "| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(r)) + " |"
    print(line(hdr)); print("|" + "|".join("-" * (x + 2) for x in w) + "|")
    for r in rows:
        print(line(r))

rows = []
for m in modes:
    for s in servers:
        f = fails[(s, m)]
        rows.append([m, names.get(s, s), cell(vals[(s, m, 'rps')], f), cell(vals[(s, m, 'mean_us')], f, 1e-3),
                     cell(vals[(s, m, 'cpu_us_per_call')], f), cell(vals[(s, m, 'user_us_per_call')], f),
                     cell(vals[(s, m, 'sys_us_per_call')], f), cell(vals[(s, m, 'rss_kb')], f, 1 / 1024)])
table(["mode", "server", "calls/s median [min–max]", "mean latency ms", "server CPU µs/call",
       "user µs/call", "kernel µs/call", "RSS MiB"], rows)

med = lambda s, m, k: statistics.median(vals[(s, m, k)]) if vals[(s, m, k)] else None
peers = [p for p in servers if p != 'kumo']
if 'kumo' in servers and peers:
    print()
    rows = []
    for m in modes:
        for k, label in (('rps', 'calls/s'), ('cpu_us_per_call', 'CPU/call')):
            r = [m, label]
            for p in peers:
                a, b = med('kumo', m, k), med(p, m, k)
                r.append(f"{a / b:.2f}" if a is not None and b else "-")
            rows.append(r)
    table(["mode", "metric"] + [f"kumo/{names.get(p, p)}" for p in peers], rows)
    print("\nRatios of medians: for calls/s above 1 favours kumo, for CPU/call below 1 does.")
print("\nMode cXmY: h2load -t1 -cX -mY (X connections, Y concurrent streams each). CPU/call is the\n"
      "server's utime+stime (/proc/PID/stat, 10 ms ticks) over the run, divided by the calls h2load\n"
      "counted as succeeded; RSS is the server's at the end of the run.")
if errs:
    print("\nRuns with failed, errored or non-2xx calls:")
    for e in errs:
        print("  " + e)
nf = sum(len(v) for v in fails.values())
if nf:
    print(f"\n{nf} run(s) failed; see build/bench/grpc-h2load.log and build/bench/grpc/*.out")
PY
echo "raw results: $RAW; h2load output: $LOG" >&2
