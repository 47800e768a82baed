#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What authentication costs single-key ranges over gRPC, measured in
# pairs: `kumo serve` with authentication never enabled (off) and one with
# it on (simple or jwt) run at the same time, both on SERVER_CPU
# (KM_PROCS=1), each loaded by its own bench/config/grpc_load.c (10
# connections, 100 clients) on CLIENT_CPU. Whatever slows the machine
# during a round slows both, so the round-to-round spread is a few
# percent where separate runs drift by 15%. With authentication on, the
# load sends with every call the token of a user that is not root and
# holds 20 roles of 5 key-range permissions each (one covers the key
# read), logged in once before the rounds (a login's password hashing,
# a quarter of a second of CPU, is not what is measured):
#   simple  etcd's simple tokens (the default)
#   jwt     ES256 JWTs (--auth-token jwt,...)
#   off     a second server without authentication: the control, which
#           shows what the pairing itself gives (0 in a fair harness)
# Prints, per mode and op (range, range-s), the median change in
# requests/s against off over the rounds and in the servers' CPU time per
# request (all their threads, /proc/PID/task/*/schedstat).
# Environment: ROUNDS (10), SECONDS_PER_RUN (5), MODES ("simple jwt"),
# SERVER_CPU / CLIENT_CPU (0 / 1). Raw: build/bench/auth/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-10}
SECS=${SECONDS_PER_RUN:-5}
MODES=${MODES:-"simple jwt"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
KUMO=build/kumo
WORK=$PWD/build/bench/auth
for t in openssl etcdctl taskset python3; do
  command -v "$t" >/dev/null || { echo "bench/auth: $t not found (scripts/deps.sh)" >&2; exit 1; }
done
[ -x "$KUMO" ] || make --no-print-directory "$KUMO"
mkdir -p build/bench
cc -std=gnu11 -O2 -Wall -Wextra -D_GNU_SOURCE -Iinclude -Ibuild/gen bench/config/grpc_load.c \
  build/libkumo.a -llmdb -ljansson -lnghttp2 -lprotobuf-c -lssl -lcrypto -pthread -lm \
  -o build/bench/grpc_load
rm -rf "$WORK"; mkdir -p "$WORK"
: > "$WORK/raw"; : > "$WORK/cpu"
. bench/paired-lib.sh        # cpu_ns
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/jwt.key" 2>/dev/null
openssl pkey -in "$WORK/jwt.key" -pubout -out "$WORK/jwt.pub" 2>/dev/null
JWT="jwt,pub-key=$WORK/jwt.pub,priv-key=$WORK/jwt.key,sign-method=ES256,ttl=1h"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; pids=(); }
trap cleanup EXIT

# start MODE PORT DIR: a fresh server (pid in spid); with auth, root and
# the bench user set up and authentication enabled
start() {
  local mode=$1 port=$2 dir=$3 flags=()
  [ "$mode" = jwt ] && flags=(--auth-token "$JWT")
  taskset -c "$SERVER_CPU" env KM_PROCS=1 "$KUMO" serve --listen "127.0.0.1:$port" \
    --data-dir "$dir" "${flags[@]}" >"$dir.log" 2>&1 &
  spid=$!; pids+=("$spid")
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
  "${ctl[@]}" auth enable >/dev/null 2>&1
}

load() {  # PORT OP OUT [--user ...]
  local port=$1 op=$2 out=$3; shift 3
  taskset -c "$CLIENT_CPU" env KM_PROCS=1 build/bench/grpc_load --endpoint "127.0.0.1:$port" \
    --op "$op" --conns 10 --clients 100 --seconds "$SECS" "$@" > "$out" 2>&1
}
field() { sed -nE "s#^$1 ([0-9.]+)#\1#p" "$2"; }

for mode in $MODES; do
  rm -rf "$WORK/a" "$WORK/b"
  pa=$(free_port); start off "$pa" "$WORK/a"; ia=$spid
  pb=$(free_port); start "$mode" "$pb" "$WORK/b"; ib=$spid
  user=()
  if [ "$mode" != off ]; then
    tok=$(curl -s -X POST -d '{"name":"bench","password":"benchpw"}' "http://127.0.0.1:$pb/v3/auth/authenticate" |
          python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
    user=(--token "$tok")
  fi
  for op in range range-s; do
    for round in $(seq "$ROUNDS"); do
      ca=$(cpu_ns "$ia"); cb=$(cpu_ns "$ib")
      # the two loads start in turn, first one then the other
      if [ $((round % 2)) -eq 1 ]; then
        load "$pa" "$op" "$WORK/oa" & w1=$!
        load "$pb" "$op" "$WORK/ob" "${user[@]}" & w2=$!
      else
        load "$pb" "$op" "$WORK/ob" "${user[@]}" & w2=$!
        load "$pa" "$op" "$WORK/oa" & w1=$!
      fi
      wait $w1 || { echo "bench/auth: off $op: $(tail -n 2 "$WORK/oa")" >&2; exit 1; }
      wait $w2 || { echo "bench/auth: $mode $op: $(tail -n 2 "$WORK/ob")" >&2; exit 1; }
      ca=$(( $(cpu_ns "$ia") - ca )); cb=$(( $(cpu_ns "$ib") - cb ))
      a=$(field requests/s "$WORK/oa"); b=$(field requests/s "$WORK/ob")
      na=$(field requests "$WORK/oa"); nb=$(field requests "$WORK/ob")
      echo "$op $mode $a $b" >> "$WORK/raw"
      awk -v o="$op" -v m="$mode" -v ca="$ca" -v cb="$cb" -v na="$na" -v nb="$nb" \
        'BEGIN { printf "%s %s %.1f %.1f\n", o, m, ca / na, cb / nb }' >> "$WORK/cpu"
      echo "  $op round $round: off $a req/s, $mode $b req/s" >&2
    done
  done
  cleanup
done
bench/paired-summary.py "$WORK/raw" \
  "op       mode     req/s vs off, paired: median     (min, max over rounds)" 9 9
bench/paired-summary.py "$WORK/cpu" \
  "op       mode     CPU per request vs off: median   (min, max over rounds)" 9 9
