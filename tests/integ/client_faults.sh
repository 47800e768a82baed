#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The client SDK under faults, through the binary: a resuming watch sees every
# event exactly once while the server is SIGKILLed and restarted; kumo mirror
# re-lists after a compaction it missed, starts from its snapshot with the
# server down and reconciles; it renders, updates and deletes files.
set -u
build=${1:-build}
kumo=$(realpath "$build/kumo")
here=$(dirname "$(realpath "$0")")
helper="$here/client_faults.py"
. "$(dirname "$0")/common.bash"

tmp=$(mktemp -d)
pids=""
trap 'for p in $pids; do kill -9 $p 2>/dev/null; done; rm -rf "$tmp"' EXIT

srv=""
start() {   # port datadir
    "$kumo" serve --listen "127.0.0.1:$1" --data-dir "$2" --progress-interval 1s 2>> "$tmp/serve.log" &
    srv=$!; pids="$pids $srv"
    wait_ready "$1" || bad "server did not start on $1: $(tail -3 "$tmp/serve.log")"
}
kill9() { kill -9 $srv 2>/dev/null; wait $srv 2>/dev/null; srv=""; }
wait_for() { # seconds, command...
    local t=$1; shift
    for _ in $(seq $((t * 20))); do "$@" && return 0; sleep 0.05; done; return 1
}
same_dir() { [ "$(cd "$1" && find . -type f ! -name '*.tmp.*' | sort | xargs -r md5sum)" = "$(cd "$2" && find . -type f | sort | xargs -r md5sum)" ]; }

# ---- exactly once across SIGKILLs ----
port=$(free_port); E=127.0.0.1:$port; D="$tmp/d1"
start $port "$D"
"$kumo" watch --prefix ex/ --rev 1 -w json --resume --idle-timeout 3s --endpoint $E \
    > "$tmp/watch.out" 2> "$tmp/watch.err" &
wpid=$!; pids="$pids $wpid"
python3 "$helper" writer $port ex/ 10000 50 > "$tmp/writer.out" 2>&1 &
writer=$!; pids="$pids $writer"
for i in 1 2 3 4; do
    sleep 0.7
    kill9
    sleep 0.2
    start $port "$D"
done
wait $writer
check "writer made its 10,000 changes" "$(cat "$tmp/writer.out")" "10000"
# the store's own account: a fresh watch of the whole history
timeout 4 "$kumo" watch --prefix ex/ --rev 1 -w json --endpoint $E > "$tmp/history.out" 2>/dev/null
want=$(wc -l < "$tmp/history.out")
check "history holds every change" "$want" "10000"
wait_for 15 sh -c "[ \$(wc -l < '$tmp/watch.out') -ge $want ]"
sleep 0.3
kill $wpid 2>/dev/null; wait $wpid 2>/dev/null
r=$(python3 "$helper" compare "$tmp/watch.out" "$tmp/history.out")
check "resumed watch equals the history (in order, no gap, no repeat)" "$r" "equal $want"
grep -q . "$tmp/watch.err" && echo "info: watcher stderr: $(head -c 300 "$tmp/watch.err")"

# ---- kumo mirror: render, update, delete, unsafe keys ----
M="$tmp/m"; SNAP="$tmp/snap"
"$kumo" put cfg/app.conf "a=1" --endpoint $E > /dev/null
"$kumo" put cfg/sub/db.conf "db=x" --endpoint $E > /dev/null
"$kumo" put "cfg/../evil" "no" --endpoint $E > /dev/null
"$kumo" put "cfg//abs" "no" --endpoint $E > /dev/null
"$kumo" mirror --prefix cfg/ --dir "$M" --snapshot "$SNAP" --idle-timeout 3s --endpoint $E \
    2> "$tmp/mirror.err" &
mpid=$!; pids="$pids $mpid"
wait_for 5 test -f "$M/sub/db.conf"
check "mirror renders files" "$(cat "$M/app.conf" 2>/dev/null) $(cat "$M/sub/db.conf" 2>/dev/null)" "a=1 db=x"
check "unsafe keys are skipped" "$(ls "$tmp" | grep -c evil; ls -A "$M" | tr '\n' ' ')" "0
app.conf sub "
"$kumo" put cfg/app.conf "a=2" --endpoint $E > /dev/null
"$kumo" del cfg/sub/db.conf --endpoint $E > /dev/null
wait_for 5 sh -c "[ ! -e '$M/sub' ] && [ \"\$(cat '$M/app.conf')\" = a=2 ]"
check "mirror updates and deletes" "$(cat "$M/app.conf") $(ls -A "$M" | tr '\n' ' ')" "a=2 app.conf "

# ---- compaction while the mirror is away: it re-lists ----
kill9
p2=$(free_port)
start $p2 "$D"
"$kumo" put cfg/new.conf "n=1" --endpoint 127.0.0.1:$p2 > /dev/null
"$kumo" put cfg/app.conf "a=3" --endpoint 127.0.0.1:$p2 > /dev/null
"$kumo" del cfg/../evil --endpoint 127.0.0.1:$p2 > /dev/null
rev=$("$kumo" put other x -w json --endpoint 127.0.0.1:$p2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
"$kumo" compact "$rev" --endpoint 127.0.0.1:$p2 > /dev/null
kill9
start $port "$D"
wait_for 10 sh -c "[ -f '$M/new.conf' ] && [ \"\$(cat '$M/app.conf')\" = a=3 ]"
check "after a missed compaction the mirror equals the server" \
    "$(cat "$M/app.conf") $(cat "$M/new.conf" 2>/dev/null) $(ls -A "$M" | tr '\n' ' ')" "a=3 n=1 app.conf new.conf "
kill $mpid; wait $mpid 2>/dev/null
[ -s "$SNAP" ] && ok "mirror saved its snapshot" || bad "no snapshot file at $SNAP"

# ---- start from the snapshot with the server down, reconcile later ----
kill9
rm -rf "$M"
"$kumo" mirror --prefix cfg/ --dir "$M" --snapshot "$SNAP" --idle-timeout 3s --endpoint $E \
    --timeout 1s 2> "$tmp/mirror2.err" &
mpid=$!; pids="$pids $mpid"
wait_for 10 test -f "$M/new.conf"
check "server down: files come from the snapshot" "$(cat "$M/app.conf" 2>/dev/null) $(cat "$M/new.conf" 2>/dev/null)" "a=3 n=1"
wait_for 5 grep -q "serving from the snapshot" "$tmp/mirror2.err" && ok "mirror says it serves from the snapshot" ||
    bad "no snapshot notice: $(cat "$tmp/mirror2.err")"
start $p2 "$D"
"$kumo" del cfg/new.conf --endpoint 127.0.0.1:$p2 > /dev/null
"$kumo" put cfg/late.conf "l=1" --endpoint 127.0.0.1:$p2 > /dev/null
kill9
start $port "$D"
wait_for 10 sh -c "[ -f '$M/late.conf' ] && [ ! -e '$M/new.conf' ]"
check "reconciled when the server came back" "$(ls -A "$M" | tr '\n' ' ')" "app.conf late.conf "
kill $mpid; wait $mpid 2>/dev/null
kill9

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
