#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The cost of authentication on single-key ranges over gRPC: `kumo serve`
# alone on SERVER_CPU (KM_PROCS=1), loaded from CLIENT_CPU by
# bench/config/grpc_load.c (10 connections, 100 clients), in three modes,
# each a fresh server and data dir, in rotating order:
#   off     authentication never enabled, no token sent
#   simple  enabled; a user that is not root, holding 20 roles of 5
#           key-range permissions each (one of them covers the key read),
#           logged in once, its simple token on every call
#   jwt     the same with ES256 JWT tokens (--auth-token jwt,...)
# Per mode and op (range, range-s): requests/s and the server's CPU per
# request; medians [min-max] and each mode's ratio to off.
# Environment: ROUNDS (5), SECONDS_PER_RUN (5), SERVER_CPU / CLIENT_CPU (0 / 1).
# Raw: build/bench/auth-results.txt; logs: build/bench/auth/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-5}
SECS=${SECONDS_PER_RUN:-5}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
MODES="off simple jwt"
KUMO=build/kumo
WORK=$PWD/build/bench/auth
RAW=build/bench/auth-results.txt
for t in openssl etcdctl taskset python3; do
  command -v "$t" >/dev/null || { echo "bench/auth: $t not found (scripts/deps.sh)" >&2; exit 1; }
done
[ -x "$KUMO" ] || make --no-print-directory "$KUMO"
mkdir -p build/bench
cc -std=gnu11 -O2 -Wall -Wextra -D_GNU_SOURCE -Iinclude -Ibuild/gen bench/config/grpc_load.c \
  build/libkumo.a -llmdb -ljansson -lnghttp2 -lprotobuf-c -lssl -lcrypto -pthread -lm \
  -o build/bench/grpc_load
rm -rf "$WORK"; mkdir -p "$WORK"; : > "$RAW"
. bench/h2/lib.sh            # free_port, tree_pids, stop_server (spid, tree)
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/jwt.key" 2>/dev/null
openssl pkey -in "$WORK/jwt.key" -pubout -out "$WORK/jwt.pub" 2>/dev/null
JWT="jwt,pub-key=$WORK/jwt.pub,priv-key=$WORK/jwt.key,sign-method=ES256,ttl=1h"

ticks() { local t=0 p; for p in $(tree_pids "$spid"); do
  t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo $t; }

# start MODE PORT: a fresh server; with auth, root and the bench user set up
start() {
  local mode=$1 port=$2 dir="$WORK/data-$1" flags=()
  rm -rf "$dir"
  [ "$mode" = jwt ] && flags=(--auth-token "$JWT")
  taskset -c "$SERVER_CPU" env KM_PROCS=1 "$KUMO" serve --listen "127.0.0.1:$port" \
    --data-dir "$dir" "${flags[@]}" >"$WORK/$mode.log" 2>&1 &
  spid=$!
  local ctl=(etcdctl --endpoints "127.0.0.1:$port")
  for _ in $(seq 200); do "${ctl[@]}" endpoint health >/dev/null 2>&1 && break; sleep 0.05; done
  [ "$mode" = off ] && return 0
  "${ctl[@]}" user add root --new-user-password=rootpw >/dev/null
  "${ctl[@]}" user add bench --new-user-password=benchpw >/dev/null
  for r in $(seq 20); do
    "${ctl[@]}" role add "r$r" >/dev/null
    for p in $(seq 5); do
      "${ctl[@]}" role grant-permission "r$r" read "app$r/$p/" --prefix >/dev/null
    done
    "${ctl[@]}" user grant-role bench "r$r" >/dev/null
  done
  # grpc_load's keys are 00000000...
  "${ctl[@]}" role grant-permission r10 readwrite 0 --prefix >/dev/null
  "${ctl[@]}" auth enable >/dev/null
}

read -ra modes <<< "$MODES"
for round in $(seq "$ROUNDS"); do
  for i in "${!modes[@]}"; do
    mode=${modes[$(( (i + round - 1) % ${#modes[@]} ))]}
    port=$(free_port)
    start "$mode" "$port" || { stop_server; continue; }
    user=()
    [ "$mode" = off ] || user=(--user bench:benchpw)
    for op in range range-s; do
      t0=$(ticks)
      out=$(taskset -c "$CLIENT_CPU" env KM_PROCS=1 build/bench/grpc_load --endpoint "127.0.0.1:$port" \
            --op "$op" --conns 10 --clients 100 --seconds "$SECS" "${user[@]}" 2>&1) ||
        { echo "bench/auth: $mode $op failed: $(echo "$out" | tail -n 2)" >&2; continue; }
      t1=$(ticks)
      echo "== round $round $mode $op"$'\n'"$out" >> "$WORK/load.log"
      rps=$(echo "$out" | sed -nE 's/^requests\/s ([0-9.]+)/\1/p')
      n=$(echo "$out" | sed -nE 's/^requests ([0-9]+)/\1/p')
      cpu=$(awk -v t=$((t1 - t0)) -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }')
      m=${op/-/_}
      echo "$round $mode ${m}_rps $rps" >> "$RAW"
      echo "$round $mode ${m}_cpu_us $cpu" >> "$RAW"
      echo "round $round $mode $op: $rps req/s, $cpu us CPU/req" >&2
    done
    stop_server
  done
done

python3 - "$RAW" "$MODES" <<'PY'
import statistics, sys
raw, modes = sys.argv[1], sys.argv[2].split()
v = {}
for line in open(raw):
    r, s, m, x = line.split()
    v.setdefault((m, s), []).append(float(x))
print("%-15s" % "metric" + "".join("%-32s" % s for s in modes) + "".join("%s/off     " % s for s in modes[1:]))
for m in ("range_rps", "range_cpu_us", "range_s_rps", "range_s_cpu_us"):
    row, med = [], {}
    for s in modes:
        x = v.get((m, s))
        if x:
            med[s] = statistics.median(x)
            row.append("%.4g [%.4g-%.4g]" % (med[s], min(x), max(x)))
        else:
            row.append("-")
    print("%-15s" % m + "".join("%-32s" % c for c in row) +
          "".join("%-14s" % ("%.3f" % (med[s] / med["off"]) if s in med and "off" in med else "-") for s in modes[1:]))
PY
echo "raw results: $RAW; load output: $WORK/load.log" >&2
