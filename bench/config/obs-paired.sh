#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What observability costs kumo serve, measured in pairs: the server with it
# off (--no-metrics --no-trace) and one with the default set or the full
# set (plus an access-log record per request to a file) run at the same
# time, both on core 0, each loaded by its own wrk on core 1. The core's
# time is split evenly between the two, so their requests/s ratio is the
# ratio of their CPU per request, and whatever slows the machine during a
# round slows both: the round-to-round spread is a few percent, where
# separate runs (obs.sh) drift by 15%. The two swap ports and start order
# every round. ROUNDS (default 10), DURATION seconds (5), LOADS ("range
# put"), MODES ("default full"); LOG_DIR / LOG_FILE as in obs.sh.
set -u
cd "$(dirname "$0")/../.." || exit 1
ROUNDS=${ROUNDS:-10}
MODES=${MODES:-"default full"}
log_name=kumo-obs-paired-access.log
# shellcheck source=bench/config/obs-lib.sh
. bench/config/obs-lib.sh
raw=$work/raw
for t in $LOADS; do
  for m in $MODES; do
    for round in $(seq "$ROUNDS"); do
      rm -rf "$work/a" "$work/b"; rm_log
      pa=$(free_port); pb=$(free_port)
      if [ $((round % 2)) -eq 1 ]; then start off "$pa" "$work/a"; start "$m" "$pb" "$work/b"
      else start "$m" "$pb" "$work/b"; start off "$pa" "$work/a"; fi
      ready "$pa"; ready "$pb"
      taskset -c 1 wrk -t1 -c100 -d"${DURATION}s" -s "bench/config/$t.lua" "http://127.0.0.1:$pa" > "$work/oa" 2>&1 &
      w=$!
      taskset -c 1 wrk -t1 -c100 -d"${DURATION}s" -s "bench/config/$t.lua" "http://127.0.0.1:$pb" > "$work/ob" 2>&1
      wait $w
      stop
      a=$(rps < "$work/oa"); b=$(rps < "$work/ob")
      echo "$t $m $a $b" >> "$raw"
      echo "  $t round $round: off $a req/s, $m $b req/s" >&2
    done
  done
done
bench/paired-summary.py "$raw" \
  "load   mode     req/s vs off, paired: median     (min, max over rounds)" 7 9
