#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# GET /ping over HTTP/2 (h2c, prior knowledge) under h2load: kumo's hello, h2o
# and nginx in rotating order for ROUNDS rounds; prints medians [min–max] of
# requests/s, the server's CPU time per request, h2load's own CPU time per
# request, and the kumo/h2o and kumo/nginx ratios.
#
# Environment: ROUNDS (default 3), DURATION (seconds h2load counts, default
# 5), WARMUP (seconds of h2load warm-up before it, default 2), SERVERS
# (default "kumo h2o nginx"), MODES (default "c100m100 c100m10 c1m100":
# h2load -cX -mY), SERVER_CPU / CLIENT_CPU (default 0 / 1), QUIET (ms/s,
# default 50: the summary is printed again over only the runs whose server
# waited at most that long per second for its CPU), HELLO (kumo's server
# binary, default build/examples/hello), VARIANTS ("kumo-NAME=PATH ...":
# variant builds of hello, measured as servers kumo-NAME when SERVERS names
# them). SERVERS may also name nghttpd (nghttp2-server, one worker): the
# cost of nghttp2 itself, serving the same 4-byte file.
# Each server runs with KM_PROCS=1 / one nginx worker / one h2o thread,
# h2load with -t1. Raw results: build/bench/h2-results.txt; every h2load
# output: build/bench/h2-h2load.log; configs, h2c checks and server logs:
# build/bench/h2/. Profiles: bench/h2/profile.sh.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-2}
SERVERS=${SERVERS:-"kumo h2o nginx"}
MODES=${MODES:-"c100m100 c100m10 c1m100"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
QUIET=${QUIET:-50}
OUT=build/bench
RAW=$OUT/h2-results.txt
LOG=$OUT/h2-h2load.log
WORK=$PWD/$OUT/h2
HELLO=${HELLO:-build/examples/hello}

tools="h2load nghttp nginx h2o curl python3 taskset stdbuf"
case " $SERVERS " in *" nghttpd "*) tools="$tools nghttpd" ;; esac
for t in $tools; do
  command -v "$t" >/dev/null || {
    echo "bench/h2: $t not found (apt-get install nghttp2-client nghttp2-server nginx-light h2o curl python3)" >&2
    exit 1; }
done

[ -x "$HELLO" ] || make --no-print-directory "$HELLO"
# shellcheck source=bench/h2/lib.sh
. bench/h2/lib.sh
build_floor
trap stop_server EXIT

h2load_args() {  # mode port
  local c=${1#c}; c=${c%m*}; local m=${1#*m}
  printf '%s\n' -t1 "-c$c" "-m$m" -D "$DURATION" "--warm-up-time=$WARMUP" "http://127.0.0.1:$2/ping"
}

: > "$RAW"
: > "$LOG"
{
  echo "# kumo HTTP/2 benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "# host: $(uname -srm), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# $(nginx -v 2>&1); $(h2o --version | head -n1); $(h2load --version | head -n1)"
  echo "# rounds=$ROUNDS duration=${DURATION}s warmup=${WARMUP}s server_cpu=$SERVER_CPU client_cpu=$CLIENT_CPU"
} >> "$RAW"

read -r -a servers <<< "$SERVERS"
n=${#servers[@]}
for round in $(seq 1 "$ROUNDS"); do
  order=()
  for i in $(seq 0 $((n - 1))); do order+=("${servers[$(((i + round - 1) % n))]}"); done
  echo "round $round/$ROUNDS: ${order[*]}" >&2
  for srv in "${order[@]}"; do
    port=$(free_port)
    maxstreams=""
    if ! start_server "$srv" "$port" || ! maxstreams=$(check_h2c "$srv" "$port"); then
      for mode in $MODES; do
        echo "server=$srv mode=$mode round=$round status=fail why=\"no h2c 200 pong on GET /ping\"" >> "$RAW"
      done
      echo "   FAILED: $srv does not answer GET /ping over h2c on port $port; see $WORK/$srv.out" >&2
      stop_server
      continue
    fi
    tree=$(tree_pids "$spid")
    for mode in $MODES; do
      m=${mode#*m}
      if [ -n "$maxstreams" ] && [ "$maxstreams" -lt "$m" ]; then
        echo "   WARNING: $srv allows $maxstreams concurrent streams, fewer than $mode's $m" >&2
      fi
      mapfile -t args < <(h2load_args "$mode" "$port")
      tag="server=$srv mode=$mode round=$round"
      echo "== $tag pids=\"$tree\"" >> "$LOG"
      res=$(taskset -c "$CLIENT_CPU" timeout $((WARMUP + DURATION + 60)) python3 bench/h2/load.py "$CLIENT_CPU" "$LOG" "$tree" -- "${args[@]}") || res="h2load_rc=wrapper"
      rc=$(sed -n 's/.*h2load_rc=\([^ ]*\).*/\1/p' <<< "$res")
      why=""
      kill -0 "$spid" 2>/dev/null || why="server died"
      [ -n "$why" ] || [ "$rc" = 0 ] || why="h2load exit $rc"
      [ -n "$why" ] || grep -q 'proto=h2c' <<< "$res" || why="not h2c"
      [ -n "$why" ] || ! grep -q 'window=missing' <<< "$res" || why="no measured window"
      if [ -n "$why" ]; then
        echo "$tag status=fail why=\"$why\"" >> "$RAW"
        echo "   FAILED: $srv $mode round $round ($why)" >&2
        [ "$why" = "server died" ] && break
        continue
      fi
      echo "$tag max_streams=${maxstreams:-?} $res" >> "$RAW"
      echo "   $srv $mode: $(grep -o 'rps=[^ ]*' <<< "$res") $(grep -o 'cpu_us_per_req=[^ ]*' <<< "$res") $(grep -o ' wait_ms_per_s=[^ ]*' <<< "$res") $(grep -o 'h2load_util=[^ ]*' <<< "$res")" >&2
      if ! grep -q 'failed=0 errored=0 timeout=0 non2xx=0' <<< "$res"; then
        echo "   WARNING: $srv $mode round $round: $(grep -o 'failed=.*non2xx=[^ ]*' <<< "$res")" >&2
      fi
    done
    stop_server
  done
done
echo "# end $(date -u +%Y-%m-%dT%H:%M:%SZ), load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$RAW"

python3 bench/h2/summary.py "$RAW" "$SERVERS" "$MODES" "$QUIET"
echo "raw results: $RAW; h2load output: $LOG" >&2
