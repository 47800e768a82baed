#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What observability costs kumo serve, measured in pairs: the server with it
# off (--no-metrics --no-trace) and one with the default set or the full
# set (plus an access-log record per request to a file) run at the same
# time, both on core 0, each loaded by its own wrk on core 1. Whatever
# slows the machine during a round slows both: the round-to-round spread
# is a few percent, where separate runs (obs.sh) drift by 15%. The two swap
# ports and start order every round. Prints the median change in
# requests/s over the rounds, then in the servers' CPU time per request
# (all their threads, /proc/PID/task/*/schedstat): the servers also wait
# on their clients, so requests/s show less of a server's own cost than
# CPU per request does. ROUNDS (default 10), DURATION seconds (5), LOADS
# ("range put"), MODES ("default full"); LOG_DIR / LOG_FILE as in obs.sh.
set -u
cd "$(dirname "$0")/../.." || exit 1
ROUNDS=${ROUNDS:-10}
MODES=${MODES:-"default full"}
log_name=kumo-obs-paired-access.log
# shellcheck source=bench/config/obs-lib.sh
. bench/config/obs-lib.sh
raw=$work/raw
# shellcheck source=bench/paired-lib.sh
. bench/paired-lib.sh
for t in $LOADS; do
  for m in $MODES; do
    for round in $(seq "$ROUNDS"); do
      rm -rf "$work/a" "$work/b"; rm_log
      pa=$(free_port); pb=$(free_port)
      if [ $((round % 2)) -eq 1 ]; then
        start off "$pa" "$work/a"; ia=$spid; start "$m" "$pb" "$work/b"; ib=$spid
      else
        start "$m" "$pb" "$work/b"; ib=$spid; start off "$pa" "$work/a"; ia=$spid
      fi
      ready "$pa"; ready "$pb"
      ca=$(cpu_ns "$ia"); cb=$(cpu_ns "$ib")
      taskset -c 1 wrk -t1 -c100 -d"${DURATION}s" -s "bench/config/$t.lua" "http://127.0.0.1:$pa" > "$work/oa" 2>&1 &
      w=$!
      taskset -c 1 wrk -t1 -c100 -d"${DURATION}s" -s "bench/config/$t.lua" "http://127.0.0.1:$pb" > "$work/ob" 2>&1
      wait $w
      ca=$(( $(cpu_ns "$ia") - ca )); cb=$(( $(cpu_ns "$ib") - cb ))
      stop
      echo "$t $m $(per_request "$ca" "$work/oa") $(per_request "$cb" "$work/ob")" >> "$work/cpu"
      a=$(rps < "$work/oa"); b=$(rps < "$work/ob")
      echo "$t $m $a $b" >> "$raw"
      echo "  $t round $round: off $a req/s, $m $b req/s" >&2
    done
  done
done
bench/paired-summary.py "$raw" \
  "load   mode     req/s vs off, paired: median     (min, max over rounds)" 7 9
bench/paired-summary.py "$work/cpu" \
  "load   mode     CPU per request vs off: median   (min, max over rounds)" 7 9
