#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# kumo probe against a local kumo HTTP server: 100,000 URLs, one goroutine each.
set -u
build=${1:-build}
. "$(dirname "$0")/common.bash"

tmp=$(mktemp -d)
trap 'kill $srv 2>/dev/null; rm -rf "$tmp"' EXIT
"$build/examples/hello" 127.0.0.1:0 > "$tmp/out" &
srv=$!
for _ in $(seq 50); do grep -q port "$tmp/out" && break; sleep 0.1; done
port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$tmp/out")
[ -n "$port" ] || { echo "hello did not start"; exit 1; }

yes "http://127.0.0.1:$port/ping" | head -n 100000 > "$tmp/urls"
if "$build/kumo" probe -c 1000 -t 20000 -f "$tmp/urls" > "$tmp/probe" 2>&1 &&
   grep -q "probed 100000 URLs .*: 100000 ok, 0 failed" "$tmp/probe"; then
    ok "100,000 URLs probed, all 200"
else
    bad "100,000 URLs: $(cat "$tmp/probe")"
fi

# failures are counted and turn the exit status to 1
"$build/kumo" probe -t 2000 "http://127.0.0.1:$port/ping" "http://127.0.0.1:$port/missing" \
    "http://127.0.0.1:1/refused" > "$tmp/mixed" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q "1 ok, 2 failed (4xx 1, 5xx 0, errors 1)" "$tmp/mixed"; then
    ok "failures reported, exit status 1"
else
    bad "mixed probe (exit $rc): $(cat "$tmp/mixed")"
fi

"$build/kumo" probe > /dev/null 2>&1; rc=$?
[ $rc -eq 2 ] && ok "no URL: usage, exit 2" || bad "no URL gave exit $rc"
"$build/kumo" probe "ftp://x/" > "$tmp/bad" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "1 failed" "$tmp/bad" && ok "bad URL is a failure" || bad "bad URL: exit $rc $(cat "$tmp/bad")"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
