#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# kumo serve when memory runs out: its address-space limit is lowered to a
# little above what it maps while JSON and gRPC (etcdctl) watchers stream;
# writes, reads, a prefix delete and new watches go on. The server must
# stay up and refuse what it cannot serve (503, RESOURCE_EXHAUSTED or a
# closed connection), never answer wrongly; once the limit is lifted every
# acknowledged write is there and every watcher has every event.
set -u
build=${1:-build}
kumo=$(realpath "$build/kumo")
here=$(dirname "$0")
. "$here/common.bash"
if ! command -v prlimit >/dev/null || ! command -v etcdctl >/dev/null; then
    echo "skipped: prlimit and etcdctl are needed"; echo "0 passed, 0 failed"; exit 0
fi

tmp=$(mktemp -d); spid=""
trap '[ -n "$spid" ] && kill -9 $spid 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(free_port)
"$kumo" serve --listen "127.0.0.1:$port" --data-dir "$tmp/d" 2>> "$tmp/log" &
spid=$!
wait_ready "$port" || { bad "start: $(cat "$tmp/log")"; echo "$pass passed, $fail failed"; exit 1; }

python3 "$here/mem_pressure.py" "$port" "$spid" "$tmp"
rc=$?
if grep -q "fatal" "$tmp/log"; then echo "# server log:"; tail -5 "$tmp/log"; fi
kill $spid; wait $spid 2>/dev/null; spid=""
exit $rc
