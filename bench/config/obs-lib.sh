# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Shared by obs.sh and obs-paired.sh (sourced, from the repository root):
# kumo serve in its three observability modes, started on core 0 and made
# ready for the range and put loads. Takes DURATION, LOADS, KUMO, LOG_DIR
# and LOG_FILE from the environment; the caller sets `log_name` first and
# gets `work` (a temporary directory, removed on exit with the log) and
# `log`.
DURATION=${DURATION:-5}
LOADS=${LOADS:-"range put"}
KUMO=${KUMO:-build/kumo}
work=$(mktemp -d)
log=${LOG_FILE:-${LOG_DIR:-$work}/$log_name}
rm_log() { if [ -f "$log" ]; then rm -f "$log"; fi; }   # never a device
pids=()
stop() { if [ ${#pids[@]} -gt 0 ]; then kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null; fi; pids=(); }
trap 'stop; rm -rf "$work"; rm_log' EXIT
declare -A flags=( [off]="--no-metrics --no-trace" [default]="" [full]="--access-log $log" )
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() {  # mode port data-dir: one more server in pids, its pid in spid
  # shellcheck disable=SC2086  # the mode's flags are words
  KM_PROCS=1 taskset -c 0 "$KUMO" serve --listen "127.0.0.1:$2" --data-dir "$3" ${flags[$1]} >/dev/null 2>&1 &
  spid=$!
  pids+=("$spid")
}
ready() {  # port: answering, with the key the loads read
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && break; sleep 0.05; done
  curl -s "http://127.0.0.1:$1/v3/kv/put" -d '{"key":"YmVuY2gva2V5","value":"dg=="}' >/dev/null
}
rps() { sed -nE 's/^Requests\/sec: *([0-9.]+).*/\1/p'; }   # from wrk's output on stdin
