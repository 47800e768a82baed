#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `etcdctl snapshot save` from kumo serve, `kumo snapshot restore` of the
# file, and kumo serve on the restored directory answering the same data;
# plus what etcdctl's maintenance commands print against it.
set -u
build=${1:-build}
K=$build/kumo
. "$(dirname "$0")/common.bash"
export ETCDCTL_API=3

tmp=$(mktemp -d)
srv=""
trap '[ -n "$srv" ] && kill $srv 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT

if ! command -v etcdctl >/dev/null; then
    skip "etcdctl is not installed (apt-get install etcd-client)"; summary; exit 0
fi

port=${SNAPSHOT_PORT:-$(free_port)}
$K serve --listen 127.0.0.1:$port --data-dir "$tmp/d" --name m1 2>"$tmp/serve.log" & srv=$!
wait_ready $port || { bad "kumo serve did not start"; summary; exit 1; }
E="etcdctl --endpoints=127.0.0.1:$port"
for i in 1 2 3; do
    curl -sf -XPOST "127.0.0.1:$port/v3/kv/put" \
        -d "{\"key\":\"$(printf k$i | base64)\",\"value\":\"$(printf v$i | base64)\"}" >/dev/null
done

out=$($E member list 2>&1)
case "$out" in
    [0-9a-f]*", started, m1, , http://127.0.0.1:$port, false") ok "member list" ;;
    *) bad "member list: $out" ;;
esac
check "alarm list" "$($E alarm list 2>&1)" ""
check "defrag" "$($E defrag 2>&1)" "Finished defragmenting etcd member[127.0.0.1:$port]"
h1=$($E endpoint hashkv 2>&1)
h2=$($E endpoint hashkv 2>&1)
check "hashkv stable" "$h1" "$h2"
case "$h1" in "127.0.0.1:$port, "[0-9]*) ok "hashkv" ;; *) bad "hashkv: $h1" ;; esac
check "user list" "$($E user list 2>&1)" ""
check "auth enable" "$($E auth enable 2>&1 | tail -n 1)" "Error: etcdserver: root user does not exist"

$E snapshot save "$tmp/s.db" >"$tmp/save.log" 2>&1
check "snapshot save" "$?" 0
size=$(stat -c %s "$tmp/s.db")
check "snapshot ends with a digest" "$((size % 512))" 32

out=$($K snapshot restore "$tmp/s.db" --data-dir "$tmp/r" 2>&1)
check "restore" "$?:$out" "0:restored $tmp/s.db into $tmp/r"
out=$($K snapshot restore "$tmp/s.db" --data-dir "$tmp/r" 2>&1)
check "restore twice" "$?:$out" "1:kumo: $tmp/r holds a store already"
head -c $((size - 32)) "$tmp/s.db" > "$tmp/nohash.db"
out=$($K snapshot restore "$tmp/nohash.db" --data-dir "$tmp/r2" 2>&1)
check "restore without digest" "$?" 1
out=$($K snapshot restore "$tmp/nohash.db" --data-dir "$tmp/r2" --skip-hash-check 2>&1)
check "restore without digest, skipped" "$?" 0

kill $srv; wait $srv 2>/dev/null; srv=""
port=${SNAPSHOT_PORT2:-$(free_port)}
$K serve --listen 127.0.0.1:$port --data-dir "$tmp/r" 2>>"$tmp/serve.log" & srv=$!
wait_ready $port || { bad "kumo serve on the restored dir did not start"; summary; exit 1; }
got=$(curl -s -XPOST "127.0.0.1:$port/v3/kv/range" -d "{\"key\":\"$(printf k2 | base64)\"}" |
      python3 -c 'import json,sys,base64; r=json.load(sys.stdin); print(base64.b64decode(r["kvs"][0]["value"]).decode(), r["count"])')
check "restored data" "$got" "v2 1"

summary
[ "$fail" -eq 0 ]
