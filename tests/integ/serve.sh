#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# kumo serve as a user runs it: static binary in an empty chroot, the native
# API and its SSE watch with curl, health, bad input, restart and shutdown.
set -u
build=${1:-build}
kumo=$(realpath "$build/kumo")
. "$(dirname "$0")/common.bash"

tmp=$(mktemp -d)
pids=""
trap 'for p in $pids; do kill -9 $p 2>/dev/null; done; rm -rf "$tmp"' EXIT


# ---- static, and alone in an empty root ----
if ldd "$kumo" 2>&1 | grep -q "not a dynamic executable"; then ok "build/kumo is static"; else bad "ldd: $(ldd "$kumo" 2>&1)"; fi
echo "info: build/kumo is $(stat -c %s "$kumo") bytes"
if [ "$(id -u)" -eq 0 ]; then
    root="$tmp/root"; mkdir -p "$root"; cp "$kumo" "$root/kumo"
    port=$(free_port)
    t0=$(date +%s%N)
    chroot "$root" /kumo serve --listen "127.0.0.1:$port" --data-dir /data 2> "$tmp/chroot.log" &
    cpid=$!; pids="$pids $cpid"
    if wait_ready "$port"; then
        t1=$(date +%s%N)
        echo "info: exec to first /healthz answer in $(( (t1 - t0) / 1000000 )) ms (polling every 50 ms)"
        curl -s -X PUT "http://127.0.0.1:$port/api/v1/kv/greeting" -d hello > /dev/null
        check "serves from an empty chroot" "$(curl -s "http://127.0.0.1:$port/api/v1/kv/greeting")" "hello"
        [ -f "$root/data/data.mdb" ] && ok "data dir created inside the chroot" || bad "no data.mdb in $root/data: $(ls -R "$root")"
    else
        bad "kumo serve did not start in a chroot: $(cat "$tmp/chroot.log")"
    fi
    kill $cpid; wait $cpid 2>/dev/null
else
    skip "the chroot test needs root"
fi

# ---- the store backend named by configuration ----
out=$("$kumo" serve --listen 127.0.0.1:0 --backend zk://127.0.0.1:2181 --data-dir "$tmp/never" 2>&1); rc=$?
check "an unknown --backend is refused" "$rc: $out" '1: kumo serve: unknown backend "zk://127.0.0.1:2181" (this build has: lmdb, etcd://HOST:PORT,...)'
[ ! -e "$tmp/never" ] && ok "and leaves no data dir" || bad "$tmp/never was created"

# ---- the native API ----
port=$(free_port); E="http://127.0.0.1:$port"
"$kumo" serve --listen "127.0.0.1:$port" --data-dir "$tmp/d" 2> "$tmp/serve.log" &
spid=$!; pids="$pids $spid"
wait_ready "$port" || { bad "kumo serve did not start: $(cat "$tmp/serve.log")"; summary; exit 1; }
check "/healthz" "$(curl -s $E/healthz)" "ok"
check "/health as etcd answers it" "$(curl -s $E/health)" "{\"health\":\"true\"}"
check "/version as etcd answers it" "$(curl -s $E/version)" "{\"etcdserver\":\"3.4.23\",\"etcdcluster\":\"3.4.0\"}"
check "/readyz" "$(curl -s -o /dev/null -w '%{http_code}' $E/readyz)" "200"

# an SSE watch on the prefix, opened before the writes
curl -s -N "$E/api/v1/watch?prefix=app/&prev_kv" > "$tmp/sse" &
wpid=$!; pids="$pids $wpid"
sleep 0.3
check "PUT answers the revision" "$(curl -s -X PUT $E/api/v1/kv/app/color -d blue)" '{"revision":2}'
curl -s -X PUT $E/api/v1/kv/app/size -d 10 > /dev/null
curl -s -X PUT $E/api/v1/kv/app/color -d green > /dev/null
check "GET returns the raw value" "$(curl -s $E/api/v1/kv/app/color)" "green"
check "GET at an old revision" "$(curl -s "$E/api/v1/kv/app/color?rev=2")" "blue"
check "revision headers" "$(curl -s -D - -o /dev/null $E/api/v1/kv/app/color | tr -d '\r' | grep -E '^X-Kumo-(Mod-Revision|Version)' | tr '\n' ' ')" "X-Kumo-Mod-Revision: 4 X-Kumo-Version: 2 "
check "a badly encoded ?prefix is refused, not ignored" "$(curl -s -o /dev/null -w %{http_code} -X DELETE "$E/api/v1/kv/app/?prefix=%zz&rev=1")" "400"
check "and deletes nothing" "$(curl -s $E/api/v1/kv/app/color)" "green"
check "prefix listing" "$(curl -s "$E/api/v1/kv/app/?prefix")" '{"revision":4,"count":2,"kvs":[{"key":"app/color","value":"green","create_revision":2,"mod_revision":4,"version":2},{"key":"app/size","value":"10","create_revision":3,"mod_revision":3,"version":1}]}'
check "percent-encoded key" "$(curl -s -X PUT "$E/api/v1/kv/sp%20ace" -d x | tr -d '\n'; curl -s "$E/api/v1/kv/sp%20ace")" '{"revision":5}x'
check "missing key is 404" "$(curl -s -o /dev/null -w '%{http_code}' $E/api/v1/kv/nope)" "404"
check "bad rev is 400" "$(curl -s -o /dev/null -w '%{http_code}' "$E/api/v1/kv/app/color?rev=x")" "400"
check "future rev" "$(curl -s -w ' %{http_code}' "$E/api/v1/kv/app/color?rev=99" | tr -d '\n')" '{"error":"etcdserver: mvcc: required revision is a future revision"} 400'
check "DELETE with prefix" "$(curl -s -X DELETE "$E/api/v1/kv/app/?prefix")" '{"revision":6,"deleted":2}'
sleep 0.3
kill $wpid 2>/dev/null
got=$(grep -E '^(event|id):' "$tmp/sse" | tr '\n' ' ')
check "SSE events and ids" "$got" "event: put id: 2 event: put id: 3 event: put id: 4 event: delete event: delete id: 6 "
grep -q '"prev_value":"blue"' "$tmp/sse" && ok "SSE prev_value" || bad "no prev_value in $(cat "$tmp/sse")"
# resume as a browser's EventSource would
timeout 1 curl -s -N -H 'Last-Event-ID: 4' "$E/api/v1/watch?prefix=app/" > "$tmp/sse2"
check "SSE resumes after Last-Event-ID" "$(grep -E '^id:' "$tmp/sse2" | tr '\n' ' ')" "id: 6 "

# ---- bad input changes nothing ----
rev0=$(curl -s $E/v3/kv/range -d '{"key":"AA=="}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
check "malformed JSON is 400" "$(curl -s -o /dev/null -w '%{http_code}' $E/v3/kv/put -d '{"key":')" "400"
check "bad base64 is 400" "$(curl -s -o /dev/null -w '%{http_code}' $E/v3/kv/put -d '{"key":"!!!!","value":"YQ=="}')" "400"
head -c 2000000 /dev/zero | tr '\0' 'A' > "$tmp/big"
code=$(curl -s -o /dev/null -w '%{http_code}' $E/v3/kv/put --data-binary @"$tmp/big")
[ "$code" -ge 400 ] && [ "$code" -lt 500 ] && ok "oversized request is $code" || bad "oversized request gave $code"
check "wrong method on the etcd API is 405, as etcd" "$(curl -s -o /dev/null -w '%{http_code}' -X GET $E/v3/kv/range)" "405"
rev1=$(curl -s $E/v3/kv/range -d '{"key":"AA=="}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
check "revision unchanged by bad requests" "$rev1" "$rev0"

# ---- SIGTERM with a watch open: prompt, clean exit; data survives ----
curl -s -N "$E/v3/watch" -d '{"create_request":{"key":"AA=="}}' > /dev/null &
pids="$pids $!"
sleep 0.2
t0=$(date +%s%N)
kill -TERM $spid; wait $spid; rc=$?
t1=$(date +%s%N)
check "SIGTERM exit status" "$rc" "0"
ms=$(( (t1 - t0) / 1000000 ))
[ $ms -lt 3000 ] && ok "shutdown with an open watch took $ms ms" || bad "shutdown took $ms ms"
"$kumo" serve --listen "127.0.0.1:$port" --data-dir "$tmp/d" 2>> "$tmp/serve.log" &
spid=$!; pids="$pids $spid"
wait_ready "$port" || bad "restart failed: $(cat "$tmp/serve.log")"
check "data survives a restart" "$(curl -s "$E/api/v1/kv/sp%20ace")" "x"
check "revision survives a restart" "$(curl -s $E/v3/kv/range -d '{"key":"AA=="}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')" "$rev1"
check "no X-Request-ID by default" "$(curl -si -H 'X-Request-ID: req-9' "$E/healthz" | grep -ci '^x-request-id')" "0"
kill $spid; wait $spid 2>/dev/null

# ---- request ids echoed, and in the access log ----
"$kumo" serve --listen "127.0.0.1:$port" --data-dir "$tmp/d" --echo-request-id --access-log "$tmp/access.json" 2>> "$tmp/serve.log" &
spid=$!; pids="$pids $spid"
wait_ready "$port" || bad "restart with --echo-request-id failed"
check "a client's X-Request-ID echoed" "$(curl -si -H 'X-Request-ID: req-9' "$E/healthz" | tr -d '\r' | grep -i '^x-request-id')" "X-Request-ID: req-9"
check "a generated one echoed" "$(curl -si "$E/healthz" | tr -d '\r' | grep -ci '^x-request-id: [0-9a-f]\{16\}$')" "1"
# Requests refused before any handler: answered, the connection closed
# (the raw client reads to its end), counted in /metrics, logged.
refused() {
    python3 - "$port" "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
out = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    out += d
print(out.split(b"\r\n")[0].decode(), "close" if b"\r\nConnection: close\r\n" in out else "kept")
PY
}
big=$(head -c 20000 /dev/zero | tr '\0' a)
check "no Host: 400" "$(refused 'GET /healthz HTTP/1.1\r\n\r\n')" "HTTP/1.1 400 Bad Request close"
check "HTTP/2.0 head: 505" "$(refused 'GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n')" "HTTP/1.1 505 HTTP Version Not Supported close"
check "20 KB header: 431" "$(refused "GET /healthz HTTP/1.1\\r\\nHost: x\\r\\nX-Big: $big\\r\\n\\r\\n")" "HTTP/1.1 431 Request Header Fields Too Large close"
check "body over the limit: 413" "$(refused 'PUT /api/v1/kv/a HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n')" "HTTP/1.1 413 Content Too Large close"
metrics=$(curl -s "$E/metrics")
for code in 400 505 431 413; do
    check "/metrics counts the $code" "$(printf '%s\n' "$metrics" | grep -c "^http_requests_total{.*code=\"$code\"} 1$")" "1"
done
kill $spid; wait $spid 2>/dev/null
check "the access log has it" "$(grep -c '"request_id":"req-9"' "$tmp/access.json")" "1"
for code in 400 505 431 413; do
    check "the access log has the $code" "$(grep -c "\"status\":$code," "$tmp/access.json")" "1"
done

# ---- etcd watch progress notifications (interval shortened) ----
"$kumo" serve --listen "127.0.0.1:$port" --data-dir "$tmp/d" --progress-interval 300ms 2>> "$tmp/serve.log" &
spid=$!; pids="$pids $spid"
wait_ready "$port" || bad "restart with --progress-interval failed"
timeout 1.2 curl -s -N "$E/v3/watch" -d '{"create_request":{"key":"AA==","progress_notify":true}}' > "$tmp/progress"
n=$(grep -c '^{"result":{"header":{[^}]*}}}$' "$tmp/progress")
[ "$n" -ge 2 ] && ok "progress notifications while idle ($n in 1.2 s)" || bad "progress: $(cat "$tmp/progress")"
timeout 0.8 curl -s -N "$E/v3/watch" -d '{"create_request":{"key":"AA=="}}' > "$tmp/noprogress"
check "none without progress_notify" "$(grep -c '"created"' "$tmp/noprogress") $(wc -l < "$tmp/noprogress")" "1 1"
kill $spid; wait $spid 2>/dev/null

# ---- usage errors ----
"$kumo" serve --bogus > /dev/null 2>&1; check "unknown flag exits 2" "$?" "2"
"$kumo" serve --listen 127.0.0.1:$port --data-dir /proc/nope > /dev/null 2>&1; check "unusable data dir exits 1" "$?" "1"

summary
[ $fail -eq 0 ]
