#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# kumo serve on a full disk: writes that cannot reach the disk are errors,
# never acknowledged; acknowledged ones survive a kill -9; writing resumes
# once there is room again.
set -u
build=${1:-build}
kumo=$(realpath "$build/kumo")
. "$(dirname "$0")/common.bash"
if [ "$(id -u)" -ne 0 ]; then skip "mounting a small tmpfs needs root"; summary; exit 0; fi

tmp=$(mktemp -d); mnt="$tmp/disk"; mkdir -p "$mnt"
mount -t tmpfs -o size=3m tmpfs "$mnt" || { skip "cannot mount a tmpfs"; summary; exit 0; }
spid=""
trap '[ -n "$spid" ] && kill -9 $spid 2>/dev/null; sleep 0.1; umount "$mnt"; rm -rf "$tmp"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
E="http://127.0.0.1:$port"
start() {
    "$kumo" serve --listen "127.0.0.1:$port" --data-dir "$mnt/d" 2>> "$tmp/log" &
    spid=$!
    for _ in $(seq 100); do curl -sf "$E/healthz" > /dev/null && return 0; sleep 0.05; done
    return 1
}
start || { bad "start: $(cat "$tmp/log")"; summary; exit 1; }

# 150 KB values into a 3 MB disk: some succeed, then every write fails
val=$(head -c 150000 /dev/urandom | base64 -w0)
acked=0; errors=0; wrong=0
for i in $(seq 1 30); do
    printf '{"key":"%s","value":"%s"}' "$(printf k%02d $i | base64)" "$val" > "$tmp/body"
    code=$(curl -s -o "$tmp/resp" -w '%{http_code}' "$E/v3/kv/put" --data-binary @"$tmp/body")
    if [ "$code" = 200 ]; then
        [ $errors -eq 0 ] || wrong=$((wrong + 1))
        acked=$((acked + 1)); echo "k$(printf %02d $i)" >> "$tmp/acked"
    else
        errors=$((errors + 1))
        grep -q '"error"' "$tmp/resp" || wrong=$((wrong + 1))
    fi
done
[ $acked -gt 0 ] && [ $errors -gt 0 ] && ok "disk fills: $acked writes acknowledged, then $errors refused with an error" || bad "acked $acked, errors $errors"
[ $wrong -eq 0 ] && ok "every refusal has an error body" || bad "$wrong odd answers"
count() { curl -s "$E/v3/kv/range" -d '{"key":"AA==","range_end":"AA==","count_only":true}' | python3 -c 'import json,sys; print(json.load(sys.stdin).get("count","0"))'; }
[ "$(count)" = "$acked" ] && ok "the store holds exactly the acknowledged keys" || bad "count $(count), acked $acked"

kill -9 $spid; wait $spid 2>/dev/null
start || bad "restart after kill -9 on a full disk: $(cat "$tmp/log")"
[ "$(count)" = "$acked" ] && ok "after kill -9: the acknowledged keys, nothing else" || bad "after restart count $(count), acked $acked"

mount -o remount,size=64m "$mnt"
printf '{"key":"%s","value":"eA=="}' "$(printf after | base64)" > "$tmp/body"
code=$(curl -s -o /dev/null -w '%{http_code}' "$E/v3/kv/put" --data-binary @"$tmp/body")
[ "$code" = 200 ] && ok "writes resume once there is room" || bad "write after growing the disk: $code"
kill $spid; wait $spid 2>/dev/null; spid=""
summary
[ $fail -eq 0 ]
