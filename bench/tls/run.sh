#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# TLS: kumo (examples/hello --tls) against nginx and h2o, the same EC P-256
# certificate, GET /ping answered "pong", each server alone on SERVER_CPU
# with one worker, the load on CLIENT_CPU, servers in rotating order:
#   h1    wrk, 100 keep-alive connections over TLS (HTTP/1.1)
#   h2    h2load, 100 connections x 10 streams over TLS (HTTP/2 by ALPN)
#   conn  wrk with "Connection: close": a TLS handshake per request
# Every server is offered TLS 1.2 and 1.3 (nginx 1.22 needs it said); the
# protocol each one negotiates is checked and printed.
# Per server and load: requests/s and the server's CPU per request (user +
# system ticks of its process tree over the run). Then single-key ranges
# over gRPC with TLS (bench/config/grpc_load.c --cacert, 10 connections,
# 100 clients; linearizable and serializable) against `kumo serve` and a
# one-member etcd, each with the same certificate, alone on SERVER_CPU
# (KM_PROCS=1 / GOMAXPROCS=1) and a fresh data dir: RANGE_SERVERS
# ("kumo etcd"), empty to skip. Medians [min-max] and
# kumo's ratios; first, whether the kernel offers kTLS (bench/tls/ktls_probe.c).
# Environment: ROUNDS (3), SECONDS_PER_RUN (5), SERVERS
# ("kumo nginx h2o"), LOADS ("h1 h2 conn"), SERVER_CPU / CLIENT_CPU (0 / 1).
# Raw: build/bench/tls-results.txt; logs: build/bench/tls/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
SECS=${SECONDS_PER_RUN:-5}
SERVERS=${SERVERS:-"kumo nginx h2o"}
RANGE_SERVERS=${RANGE_SERVERS-"kumo etcd"}
KUMO=build/kumo
LOADS=${LOADS:-"h1 h2 conn"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
WORK=$PWD/build/bench/tls
RAW=build/bench/tls-results.txt
HELLO=build/examples/hello
for t in openssl wrk h2load nginx h2o curl taskset python3; do
  command -v "$t" >/dev/null || { echo "bench/tls: $t not found (scripts/deps.sh)" >&2; exit 1; }
done
[ -x "$HELLO" ] || make --no-print-directory "$HELLO"
[ -z "$RANGE_SERVERS" ] || [ -x "$KUMO" ] || make --no-print-directory "$KUMO"
cc -std=gnu11 -O2 -Wall -Wextra -D_GNU_SOURCE -Iinclude -Ibuild/gen bench/config/grpc_load.c \
  build/libkumo.a -llmdb -ljansson -lnghttp2 -lprotobuf-c -lssl -lcrypto -pthread -lm \
  -o build/bench/grpc_load
rm -rf "$WORK"; mkdir -p "$WORK/nginx" "$WORK/h2o"
# kTLS would move record encryption into the kernel; say whether it can here
cc -O2 bench/tls/ktls_probe.c -o build/bench/ktls_probe && build/bench/ktls_probe >&2 || true
printf pong > "$WORK/h2o/ping"
. bench/h2/lib.sh            # free_port, tree_pids, stop_server (spid, tree)

# one certificate for all, from a throwaway CA
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench-ca \
  -keyout "$WORK/ca.key" -out "$WORK/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -keyout "$WORK/server.key" -out "$WORK/server.csr" 2>/dev/null
echo "subjectAltName=IP:127.0.0.1" > "$WORK/san.ext"
openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" \
  -CAcreateserial -days 2 -extfile "$WORK/san.ext" -out "$WORK/server.crt" 2>/dev/null
CRT=$WORK/server.crt KEY=$WORK/server.key

tls_nginx_conf() {
  local f="$WORK/nginx/nginx.conf"
  { [ "$(id -u)" -eq 0 ] && echo "user root;"
    cat <<EOF
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    http2_max_concurrent_streams 128;
    client_body_temp_path $WORK/nginx/cb;
    proxy_temp_path $WORK/nginx/p;
    fastcgi_temp_path $WORK/nginx/f;
    uwsgi_temp_path $WORK/nginx/u;
    scgi_temp_path $WORK/nginx/s;
    server {
        listen 127.0.0.1:$1 ssl http2;
        ssl_certificate $CRT;
        ssl_certificate_key $KEY;
        ssl_protocols TLSv1.2 TLSv1.3;   # 1.22's default stops at 1.2
        location = /ping { default_type text/plain; return 200 "pong"; }
    }
}
EOF
  } > "$f"; echo "$f"
}
tls_h2o_conf() {
  local f="$WORK/h2o/h2o.conf"
  { [ "$(id -u)" -eq 0 ] && echo "user: root"
    cat <<EOF
num-threads: 1
error-log: $WORK/h2o/error.log
file.mime.setdefaulttype: text/plain
file.etag: OFF
listen:
  host: 127.0.0.1
  port: $1
  ssl:
    certificate-file: $CRT
    key-file: $KEY
hosts:
  default:
    paths:
      /ping:
        file.file: $WORK/h2o/ping
EOF
  } > "$f"; echo "$f"
}

start() {
  local cmd
  case $1 in
    kumo)  cmd=("$HELLO" "127.0.0.1:$2" --tls "$CRT" "$KEY") ;;
    nginx) cmd=(nginx -p "$WORK/nginx/" -e "$WORK/nginx/error.log" -c "$(tls_nginx_conf "$2")" -g 'daemon off;') ;;
    h2o)   cmd=(h2o -c "$(tls_h2o_conf "$2")") ;;
  esac
  KM_PROCS=1 taskset -c "$SERVER_CPU" "${cmd[@]}" > "$WORK/$1.out" 2>&1 &
  spid=$!
  for _ in $(seq 100); do
    [ "$(curl -s --cacert "$WORK/ca.crt" "https://127.0.0.1:$2/ping" 2>/dev/null)" = pong ] &&
      [ "$(curl -s --http2 --cacert "$WORK/ca.crt" -o /dev/null -w '%{http_version}' "https://127.0.0.1:$2/ping")" = 2 ] &&
      { tree=$(tree_pids "$spid"); return 0; }
    sleep 0.05
  done
  echo "bench/tls: $1 does not answer GET /ping over HTTPS (h1 and h2); see $WORK/$1.out" >&2
  return 1
}
ticks() { local p; for p in $tree; do cat "/proc/$p/stat" 2>/dev/null; done | awk '{ s += $14 + $15 } END { print s + 0 }'; }

# load NAME PORT: prints "REQUESTS" done in SECS
load() {
  local url="https://127.0.0.1:$2/ping" out
  case $1 in
    h1)   out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c100 -d"${SECS}s" "$url" 2>&1) ;;
    conn) out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c50 -d"${SECS}s" -H 'Connection: close' "$url" 2>&1) ;;
    h2)   out=$(taskset -c "$CLIENT_CPU" h2load -t1 -c100 -m10 -D "$SECS" "$url" 2>&1) ;;
  esac
  echo "$out" >> "$WORK/load.log"
  case $1 in
    h2) echo "$out" | awk '/^requests:/ { print $8; exit }' ;;   # succeeded
    *)  echo "$out" | awk '/requests in/ { print $1; exit }' ;;
  esac
}

: > "$RAW"; : > "$WORK/load.log"
read -ra servers <<< "$SERVERS"
for round in $(seq "$ROUNDS"); do
  for i in "${!servers[@]}"; do
    srv=${servers[$(( (i + round - 1) % ${#servers[@]} ))]}
    port=$(free_port)
    start "$srv" "$port" || { stop_server; continue; }
    for l in $LOADS; do
      echo "== round $round $srv $l" >> "$WORK/load.log"
      t0=$(ticks); s0=$(date +%s%N)
      n=$(load "$l" "$port")
      t1=$(ticks); s1=$(date +%s%N)
      [ -n "$n" ] && [ "$n" -gt 0 ] || { echo "bench/tls: $srv $l: no requests (see $WORK/load.log)" >&2; continue; }
      rps=$(awk -v n="$n" -v a="$s0" -v b="$s1" 'BEGIN { printf "%.0f", n / ((b - a) / 1e9) }')
      cpu=$(awk -v t=$((t1 - t0)) -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }')
      echo "$round $srv ${l}_rps $rps" >> "$RAW"
      echo "$round $srv ${l}_cpu_us $cpu" >> "$RAW"
      echo "round $round $srv $l: $rps req/s, $cpu us CPU/req" >&2
    done
    stop_server
  done
done

# ranges over gRPC with TLS: kumo serve and a one-member etcd
start_kv() {
  rm -rf "$WORK/kv.data"
  case $1 in
    kumo) KM_PROCS=1 taskset -c "$SERVER_CPU" "$KUMO" serve --listen "127.0.0.1:$2" \
            --data-dir "$WORK/kv.data" --cert-file "$CRT" --key-file "$KEY" > "$WORK/kumo-serve.out" 2>&1 & ;;
    etcd) GOMAXPROCS=1 taskset -c "$SERVER_CPU" etcd --data-dir "$WORK/kv.data" \
            --listen-client-urls "https://127.0.0.1:$2" --advertise-client-urls "https://127.0.0.1:$2" \
            --listen-peer-urls "http://127.0.0.1:$(free_port)" --cert-file "$CRT" --key-file "$KEY" \
            > "$WORK/etcd.out" 2>&1 & ;;
  esac
  spid=$! tree=$!
  for _ in $(seq 200); do
    ETCDCTL_API=3 etcdctl --endpoints "https://127.0.0.1:$2" --cacert "$WORK/ca.crt" \
      --command-timeout 1s put bench/probe x >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "bench/tls: $1 does not serve etcd's API over TLS; see $WORK/" >&2
  return 1
}
read -ra kvs <<< "$RANGE_SERVERS"
for round in $(seq "$ROUNDS"); do
  for i in "${!kvs[@]}"; do
    [ ${#kvs[@]} -gt 0 ] || break
    srv=${kvs[$(( (i + round - 1) % ${#kvs[@]} ))]}
    port=$(free_port)
    start_kv "$srv" "$port" || { stop_server; continue; }
    for op in range range-s; do
      t0=$(ticks)
      out=$(taskset -c "$CLIENT_CPU" env KM_PROCS=1 build/bench/grpc_load --endpoint "127.0.0.1:$port" \
            --cacert "$WORK/ca.crt" --op "$op" --conns 10 --clients 100 --seconds "$SECS" 2>&1) ||
        { echo "bench/tls: $srv $op failed: $(echo "$out" | tail -n 2)" >&2; continue; }
      t1=$(ticks)
      echo "== round $round $srv $op"$'\n'"$out" >> "$WORK/load.log"
      rps=$(echo "$out" | sed -nE 's/^requests\/s ([0-9.]+)/\1/p')
      n=$(echo "$out" | sed -nE 's/^requests ([0-9]+)/\1/p')
      cpu=$(awk -v t=$((t1 - t0)) -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }')
      m=${op/-/_}
      echo "$round $srv ${m}_rps $rps" >> "$RAW"
      echo "$round $srv ${m}_cpu_us $cpu" >> "$RAW"
      echo "round $round $srv $op: $rps req/s, $cpu us CPU/req" >&2
    done
    stop_server
  done
done

python3 - "$RAW" "$SERVERS $RANGE_SERVERS" "$LOADS range range_s" <<'PY'
import statistics, sys
raw, loads = sys.argv[1], sys.argv[3].split()
servers = list(dict.fromkeys(sys.argv[2].split()))
v = {}
for line in open(raw):
    r, s, m, x = line.split()
    v.setdefault((m, s), []).append(float(x))
others = [s for s in servers if s != "kumo"]
print("%-15s" % "metric" + "".join("%-34s" % s for s in servers) + "".join("kumo/%-8s" % o for o in others))
for l in loads:
    for m in (l + "_rps", l + "_cpu_us"):
        row, med = [], {}
        for s in servers:
            x = v.get((m, s))
            if x:
                med[s] = statistics.median(x)
                row.append("%.4g [%.4g-%.4g]" % (med[s], min(x), max(x)))
            else:
                row.append("-")
        print("%-15s" % m + "".join("%-34s" % c for c in row) +
              "".join("%-13s" % ("%.3g" % (med["kumo"] / med[o]) if "kumo" in med and o in med else "-") for o in others))
PY
echo "raw results: $RAW; load output: $WORK/load.log" >&2
