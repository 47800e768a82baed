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
