# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Shared by run.sh and grpc.sh (sourced, from the repository root): etcd
# 3.4 or kumo serve started fresh, alone on SERVER_CPU with one scheduler
# thread (GOMAXPROCS=1 / KM_PROCS=1), default durability. Takes WORK,
# KUMO and SERVER_CPU from the caller; `start NAME` sets pid, port and
# base (http://127.0.0.1:PORT); `stop` ends it.
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() {
  local name=$1 data=$WORK/$1.data health
  rm -rf "$data"
  port=$(free_port)
  base=http://127.0.0.1:$port
  case $name in
    etcd)
      local pp; pp=$(free_port)
      GOMAXPROCS=1 taskset -c "$SERVER_CPU" etcd --name c --data-dir "$data" \
        --listen-client-urls "$base" --advertise-client-urls "$base" \
        --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
        --initial-cluster "c=http://127.0.0.1:$pp" >"$WORK/etcd.log" 2>&1 &
      pid=$!; health=$base/health ;;
    kumo)
      KM_PROCS=1 taskset -c "$SERVER_CPU" "$KUMO" serve --listen "127.0.0.1:$port" --data-dir "$data" \
        >"$WORK/kumo.log" 2>&1 &
      pid=$!; health=$base/healthz ;;
  esac
  for _ in $(seq 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$health")" = 200 ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "bench/config: $name did not start:" >&2
  tail -n 20 "$WORK/$name.log" >&2
  exit 1
}

stop() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime

# fanout_run NAME N PREFIX CMD...: a fan-out client (CMD, on CLIENT_CPU)
# with N watchers and one put; the server's memory is read once the client
# prints "ready", its result line ("fanout: ... p50_ms=..") recorded with
# `record` under PREFIX (metrics PREFIXfanout_Nw_*, PREFIXrss_Nw_kb, ...);
# the client's output goes to LOG (default $WORK/fanout.log).
fanout_run() {
  local name=$1 n=$2 pfx=$3 before line log=${LOG:-$WORK/fanout.log}
  shift 3
  before=$(rss_kb "$pid")
  taskset -c "$CLIENT_CPU" env KM_PROCS=1 "$@" > "$WORK/fanout.out" 2>"$WORK/fanout.err" &
  local fpid=$!
  for _ in $(seq 2400); do
    grep -q '^ready' "$WORK/fanout.out" && break
    kill -0 "$fpid" 2>/dev/null || break
    sleep 0.05
  done
  if grep -q '^ready' "$WORK/fanout.out"; then
    sleep 0.3
    local rss; rss=$(rss_kb "$pid")
    record "$name" "${pfx}rss_${n}w_kb" "$rss"
    record "$name" "${pfx}rss_per_watcher_${n}w_kb" "$(awk -v a="$rss" -v b="$before" -v n="$n" 'BEGIN {printf "%.2f", (a - b) / n}')"
  fi
  wait "$fpid" || echo "bench/config: $name fan-out $n failed: $(tail -n 3 "$WORK/fanout.err")" >&2
  line=$(grep '^fanout:' "$WORK/fanout.out" || true)
  { echo "== round $round $name ${pfx}fanout $n"; cat "$WORK/fanout.out" "$WORK/fanout.err"; } >> "$log"
  [ -n "$line" ] || return 0
  echo "  $name $pfx$line" >&2
  for k in connect_ms p50_ms p99_ms all_ms; do
    record "$name" "${pfx}fanout_${n}w_$k" "$(echo "$line" | sed -nE "s/.* $k=([0-9.-]+).*/\\1/p")"
  done
  sleep 1      # let the server drop the closed streams
  # sockets the server still holds 1 s after every watcher hung up
  record "$name" "${pfx}fds_after_${n}w" "$(ls "/proc/$pid/fd" | wc -l)"
}

# us_per TICKS N: CPU microseconds per call from clock ticks over N calls.
us_per() { awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t * 1e6 / hz / n}'; }
# round_order R: SERVERS, reversed in even rounds, so neither always runs on
# a warmer machine.
round_order() {
  if [ $(($1 % 2)) -eq 0 ]; then echo "$SERVERS" | tr ' ' '\n' | tac | tr '\n' ' '; else echo "$SERVERS"; fi
}
