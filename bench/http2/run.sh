#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# HTTP/2 client round trips: kumo's client (bench/http2/unary.c) and h2load, each with one connection and STREAMS concurrent streams, against one h2o thread, in alternating rounds; prints medians (min–max), client CPU per request and the ratio.
#
# Environment: ROUNDS (default 5), DURATION (seconds per run, default 5),
# STREAMS (default 100), SERVER_CPU / CLIENT_CPU (default 1 / 0). The
# clients run on one core (KM_PROCS=1 for kumo). Raw results:
# build/bench/http2/results.txt.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
STREAMS=${STREAMS:-100}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
OUT=build/bench/http2
WORK=$PWD/$OUT
RAW=$OUT/results.txt

for t in h2o h2load taskset python3 /usr/bin/time; do
  command -v "$t" >/dev/null || {
    echo "bench/http2: $t not found (apt-get install h2o nghttp2-client time python3)" >&2; exit 1; }
done
mkdir -p "$WORK/docs"
cc -std=gnu11 -O2 -g -Iinclude -D_GNU_SOURCE -pthread bench/http2/unary.c -o "$OUT/unary" \
   build/libkumo.a -llmdb -ljansson -lnghttp2 -lssl -lcrypto -lm

printf pong > "$WORK/docs/ping"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
{
  [ "$(id -u)" -eq 0 ] && echo "user: root"
  cat <<CONF
num-threads: 1
error-log: $WORK/h2o-error.log
file.mime.setdefaulttype: text/plain
file.etag: OFF
listen:
  host: 127.0.0.1
  port: $port
hosts:
  default:
    paths:
      /ping:
        file.file: $WORK/docs/ping
CONF
} > "$WORK/h2o.conf"
taskset -c "$SERVER_CPU" h2o -c "$WORK/h2o.conf" > "$WORK/h2o.log" 2>&1 &
h2o_pid=$!
trap 'kill $h2o_pid 2>/dev/null; wait $h2o_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do h2load -n 1 -c 1 "http://127.0.0.1:$port/ping" >/dev/null 2>&1 && break; sleep 0.05; done

: > "$RAW"
echo "# $(h2o --version | head -n1), one thread on CPU $SERVER_CPU; clients on CPU $CLIENT_CPU; $STREAMS streams, one connection, ${DURATION} s; commit $(git rev-parse --short HEAD)" | tee -a "$RAW"
for r in $(seq "$ROUNDS"); do
  order="kumo h2load"; [ $((r % 2)) -eq 0 ] && order="h2load kumo"
  for who in $order; do
    if [ "$who" = kumo ]; then
      KM_PROCS=1 /usr/bin/time -o "$WORK/cpu" -f "%U %S" taskset -c "$CLIENT_CPU" \
        "$OUT/unary" "127.0.0.1:$port" /ping "$STREAMS" "$DURATION" > "$WORK/out"
      n=$(awk '/^requests /{print $2}' "$WORK/out"); rps=$(awk '/^requests\/s/{print $2}' "$WORK/out")
    else
      /usr/bin/time -o "$WORK/cpu" -f "%U %S" taskset -c "$CLIENT_CPU" \
        h2load -c 1 -m "$STREAMS" -D "$DURATION" "http://127.0.0.1:$port/ping" > "$WORK/out" 2>&1
      n=$(awk '/^requests:/{print $6}' "$WORK/out"); rps=$(awk '/^finished/{print $4}' "$WORK/out")
    fi
    read -r u s < "$WORK/cpu"
    echo "$who $rps $(python3 -c "print(f'{($u+$s)/$n*1e6:.2f}')")" | tee -a "$RAW"
  done
done
python3 - "$RAW" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if not l.startswith('#')]
res = {}
for who, rps, us in rows:
    res.setdefault(who, []).append((float(rps), float(us)))
def med(v): return statistics.median(v)
for who in ('kumo', 'h2load'):
    r = [x[0] for x in res[who]]; c = [x[1] for x in res[who]]
    print(f"{who:7s} {med(r):9.0f} req/s ({min(r):.0f}–{max(r):.0f}), client CPU {med(c):.2f} µs/req ({min(c):.2f}–{max(c):.2f})")
k = [x[0] for x in res['kumo']]; h = [x[0] for x in res['h2load']]
print(f"kumo / h2load: {med(k)/med(h):.2f}x req/s, {med([x[1] for x in res['kumo']])/med([x[1] for x in res['h2load']]):.2f}x CPU per request")
PY
