#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# kumo get/put/del/txn/watch/compact/lease against a real etcd, and against
# `kumo serve` when the binary has it: outputs, errors and exit codes.
set -u
build=${1:-build}
K=$build/kumo
. "$(dirname "$0")/common.bash"

tmp=$(mktemp -d)
srv=""
trap '[ -n "$srv" ] && kill $srv 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# expect NAME RC STDOUT CMD...: exit status and exact stdout (stderr in $tmp/err).
expect() {
    local name=$1 want_rc=$2 want=$3; shift 3
    local out rc
    out=$("$@" 2>"$tmp/err"); rc=$?
    if [ "$rc" -eq "$want_rc" ] && [ "$out" == "$want" ]; then
        ok "$tag: $name"
    else
        bad "$tag: $name: exit $rc (want $want_rc), stdout [$out] want [$want], stderr [$(cat "$tmp/err")]"
    fi
}
# expect_err NAME RC STDERR-REGEX CMD...
expect_err() {
    local name=$1 want_rc=$2 re=$3; shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
    if [ "$rc" -eq "$want_rc" ] && grep -Eq -- "$re" "$tmp/err"; then
        ok "$tag: $name"
    else
        bad "$tag: $name: exit $rc (want $want_rc), stderr [$(cat "$tmp/err")] want /$re/"
    fi
}
# Waits until the file has at least n lines (2 s at most).
wait_lines() {
    for _ in $(seq 40); do [ "$(wc -l < "$1")" -ge "$2" ] && return 0; sleep 0.05; done
    return 1
}
rev_of() { sed -E 's/.*"revision":"?([0-9]+).*/\1/'; }

suite() {
    export KUMO_ENDPOINT=$1
    local nl=$'\n'

    # put / get
    expect "put" 0 "OK" "$K" put foo bar
    expect "get" 0 "foo${nl}bar" "$K" get foo
    expect "get missing" 0 "" "$K" get nothing
    expect "put from stdin" 0 "OK" sh -c "printf 'line1\nline2' | '$K' put multi"
    expect "get multi-line value" 0 "multi${nl}line1${nl}line2" "$K" get multi
    "$K" put p/a 1 >/dev/null; "$K" put p/b 22 >/dev/null; "$K" put p/c 3 >/dev/null
    expect "get --prefix" 0 "p/a${nl}1${nl}p/b${nl}22${nl}p/c${nl}3" "$K" get p/ --prefix
    expect "get range" 0 "p/a${nl}1${nl}p/b${nl}22" "$K" get p/a p/c
    expect "get --keys-only" 0 "p/a${nl}${nl}p/b${nl}${nl}p/c" "$K" get p/ --prefix --keys-only
    expect "get --count-only" 0 "3" "$K" get p/ --prefix --count-only
    expect "get --limit" 0 "p/a${nl}1" "$K" get p/ --prefix --limit 1
    expect "get --sort-by VALUE --order DESCEND" 0 "p/c${nl}3${nl}p/b${nl}22" \
        "$K" get p/ --prefix --sort-by VALUE --order DESCEND --limit 2
    expect "get --order DESCEND" 0 "p/c${nl}3" "$K" get p/ --prefix --order DESCEND --limit 1
    expect "put --prev-kv" 0 "OK${nl}foo${nl}bar" "$K" put foo baz --prev-kv
    local r1 r2
    r1=$("$K" get foo -w json | rev_of)
    "$K" put foo qux >/dev/null
    expect "get --rev" 0 "foo${nl}baz" "$K" get foo --rev "$r1"
    if "$K" get foo -w json | grep -q '"kvs":\[{"key":"Zm9v"'; then ok "$tag: get -w json"
    else bad "$tag: get -w json: $("$K" get foo -w json)"; fi
    expect "--endpoint flag wins" 0 "foo${nl}qux" env KUMO_ENDPOINT=127.0.0.1:1 "$K" get foo --endpoint "$1"

    # global options before the command, as etcdctl takes them, or between its arguments
    expect "--endpoint before the command" 0 "OK" env KUMO_ENDPOINT=127.0.0.1:1 "$K" --endpoint "$1" put g1 v1
    expect "--endpoints= and --timeout before" 0 "g1${nl}v1" \
        env KUMO_ENDPOINT=127.0.0.1:1 "$K" --endpoints="http://$1" --timeout 3s get g1
    expect "global options between arguments" 0 "OK" \
        env KUMO_ENDPOINT=127.0.0.1:1 "$K" put --endpoint "$1" g2 -w simple v2
    expect "before, after and -w json" 0 "1" sh -c \
        "KUMO_ENDPOINT=127.0.0.1:1 '$K' -w json get g2 --endpoint '$1' | grep -c '\"count\":\"\\?1'"
    expect "before the command, then --" 0 "OK" "$K" --endpoint "$1" put -- -dash v
    expect "-- keeps a global option's name as a key" 0 "-dash${nl}v" "$K" get --endpoint "$1" -- -dash
    expect "before a subcommand" 0 "found 0 leases" "$K" --timeout=2s lease list
    expect_err "unknown option before the command" 2 "unknown global option \"--prefix\"" "$K" --prefix get g
    expect_err "global option without its value" 2 "^kumo: --endpoint needs a value$" "$K" --endpoint
    expect_err "no command after global options" 2 "no command after the global options" "$K" -w json
    expect_err "global options before serve" 2 "serve takes no global options" \
        "$K" --endpoint "$1" serve
    expect_err "bad value before the command" 2 "unknown output format" "$K" -w table get g1
    "$K" del g1 >/dev/null; "$K" del g2 >/dev/null; "$K" del -- -dash >/dev/null

    # del
    expect "del" 0 "1" "$K" del foo
    expect "del missing" 0 "0" "$K" del foo
    expect "del range" 0 "1" "$K" del p/a p/b
    expect "del --prefix --prev-kv" 0 "2${nl}p/b${nl}22${nl}p/c${nl}3" "$K" del p/ --prefix --prev-kv

    # txn
    "$K" put t 1 >/dev/null
    expect "txn success" 0 "SUCCESS${nl}${nl}OK${nl}${nl}t${nl}1" sh -c \
        "printf 'value(\"t\") = \"1\"\n\nput t2 x\nget t\n\nput t3 y\n' | '$K' txn"
    expect "txn failure" 0 "FAILURE${nl}${nl}1" sh -c \
        "printf 'value(\"t\") = \"9\"\nmod(\"t\") > \"0\"\n\nput t2 z\n\ndel t2\n\n' | '$K' txn"
    expect "txn quoted put, get --prefix" 0 "SUCCESS${nl}${nl}OK${nl}${nl}t${nl}1${nl}t 4${nl}a b" sh -c \
        "printf 'version(\"t\") = \"1\"\n\nput \"t 4\" \"a b\"\nget t --prefix\n\n' | '$K' txn"
    if printf 'value("t") = "1"\n\nget t\n\n' | "$K" txn -w json | grep -q '"succeeded":true'; then
        ok "$tag: txn -w json"; else bad "$tag: txn -w json"; fi
    expect_err "txn bad compare" 2 "txn line 1: bad compare" sh -c "printf 'bogus(\"t\") = \"1\"\n' | '$K' txn"
    expect_err "txn bad request" 2 "txn line 3: bad request" sh -c "printf 'value(\"t\") = \"1\"\n\nfrob t\n' | '$K' txn"

    # lease
    local out id
    out=$("$K" lease grant 60); id=${out#lease }; id=${id%% *}
    if [[ "$out" =~ ^lease\ [0-9a-f]{16}\ granted\ with\ TTL\(60s\)$ ]]; then ok "$tag: lease grant"
    else bad "$tag: lease grant: [$out]"; fi
    expect "put --lease" 0 "OK" "$K" put lk lv --lease "$id"
    out=$("$K" lease timetolive "$id" --keys)
    if [[ "$out" =~ ^lease\ $id\ granted\ with\ TTL\(60s\),\ remaining\([0-9]+s\),\ attached\ keys\(\[lk\]\)$ ]]; then
        ok "$tag: lease timetolive --keys"; else bad "$tag: lease timetolive --keys: [$out]"; fi
    out=$("$K" lease list)
    if [[ "$out" == *"found 1 leases"* && "$out" == *"$id"* ]]; then ok "$tag: lease list"
    else bad "$tag: lease list: [$out]"; fi
    out=$("$K" lease keep-alive --once "$id")
    if [[ "$out" =~ ^lease\ $id\ keepalived\ with\ TTL\((59|60)\)$ ]]; then ok "$tag: lease keep-alive --once"
    else bad "$tag: lease keep-alive --once: [$out]"; fi
    "$K" lease keep-alive "$id" > "$tmp/ka" 2>&1 & local ka=$!
    wait_lines "$tmp/ka" 1; kill -INT $ka; wait $ka; local rc=$?
    [ $rc -eq 0 ] && grep -q keepalived "$tmp/ka" && ok "$tag: lease keep-alive until interrupted" ||
        bad "$tag: lease keep-alive: exit $rc $(cat "$tmp/ka")"
    expect "lease revoke" 0 "lease $id revoked" "$K" lease revoke "$id"
    expect "revoke deletes attached keys" 0 "" "$K" get lk
    expect "lease timetolive expired" 0 "lease $id already expired" "$K" lease timetolive "$id"
    expect_err "lease revoke unknown" 1 "^kumo: .*lease not found" "$K" lease revoke "$id"
    expect_err "lease keep-alive unknown" 1 "^kumo: .*(expired or revoked|not found)" "$K" lease keep-alive --once "$id"

    # watch: from a known revision so that no event can be missed
    r1=$("$K" put w/0 x -w json | rev_of)
    "$K" watch w/ --prefix --rev $((r1 + 1)) > "$tmp/w1" 2>&1 & local w1=$!
    "$K" watch w/ --prefix --rev $((r1 + 1)) -w json > "$tmp/w2" 2>&1 & local w2=$!
    "$K" watch w/1 --rev $((r1 + 1)) --prev-kv > "$tmp/w3" 2>&1 & local w3=$!
    "$K" put w/1 a >/dev/null; "$K" put w/1 b >/dev/null; "$K" del w/1 >/dev/null
    wait_lines "$tmp/w1" 9; wait_lines "$tmp/w2" 3; wait_lines "$tmp/w3" 13
    kill -INT $w1; kill -TERM $w2 $w3
    wait $w1; local rc1=$?; wait $w2; local rc2=$?; wait $w3; local rc3=$?
    local want="PUT${nl}w/1${nl}a${nl}PUT${nl}w/1${nl}b${nl}DELETE${nl}w/1"
    [ $rc1 -eq 0 ] && [ "$(cat "$tmp/w1")" == "$want" ] && ok "$tag: watch --prefix, SIGINT ends it" ||
        bad "$tag: watch: exit $rc1 [$(cat "$tmp/w1")]"
    local r=$((r1 + 1))
    want="{\"type\":\"PUT\",\"key\":\"w/1\",\"value\":\"a\",\"mod_revision\":$r}${nl}"
    want+="{\"type\":\"PUT\",\"key\":\"w/1\",\"value\":\"b\",\"mod_revision\":$((r + 1))}${nl}"
    want+="{\"type\":\"DELETE\",\"key\":\"w/1\",\"value\":\"\",\"mod_revision\":$((r + 2))}"
    [ $rc2 -eq 0 ] && [ "$(cat "$tmp/w2")" == "$want" ] && ok "$tag: watch -w json, SIGTERM ends it" ||
        bad "$tag: watch -w json: exit $rc2 [$(cat "$tmp/w2")]"
    want="PUT${nl}w/1${nl}a${nl}PUT${nl}w/1${nl}a${nl}w/1${nl}b${nl}DELETE${nl}w/1${nl}b${nl}w/1"
    [ $rc3 -eq 0 ] && [ "$(cat "$tmp/w3")" == "$want" ] && ok "$tag: watch --prev-kv" ||
        bad "$tag: watch --prev-kv: exit $rc3 [$(cat "$tmp/w3")]"

    # compact
    r2=$("$K" put c 1 -w json | rev_of)
    expect "compact" 0 "compacted revision $r2" "$K" compact "$r2"
    expect_err "compact again" 1 "^kumo: .*compacted" "$K" compact "$r2"
    expect_err "get below compaction" 1 "^kumo: .*compacted" "$K" get c --rev 1
    expect_err "watch below compaction" 1 "^kumo: .*compacted" "$K" watch c --rev 1

    # usage errors and -h
    for c in get put del txn watch compact lease; do
        "$K" "$c" -h > "$tmp/h" 2>&1; rc=$?
        [ $rc -eq 0 ] && grep -q "usage: kumo $c" "$tmp/h" || bad "$tag: $c -h: exit $rc"
    done
    ok "$tag: every command has -h"
    expect_err "get without key" 2 "get needs a KEY" "$K" get
    expect_err "unknown flag" 2 "usage: kumo get" "$K" get k --bogus
    expect_err "bad --rev" 2 "bad revision" "$K" get k --rev x
    expect_err "bad --sort-by" 2 "bad --sort-by" "$K" get k --sort-by NAME
    expect_err "put too many" 2 "too many arguments" "$K" put a b c
    expect_err "bad lease id" 2 "bad lease ID" "$K" put a b --lease xyz
    expect_err "bad -w" 2 "unknown output format" "$K" get a -w table
    expect_err "bad --timeout" 2 "bad duration" "$K" get a --timeout soon
    expect_err "compact needs REV" 2 "compact needs one REV" "$K" compact
    expect_err "lease unknown subcommand" 2 "unknown lease command" "$K" lease frob
    expect_err "watch without key" 2 "watch needs a KEY" "$K" watch
    expect_err "unreachable" 1 "^kumo: cannot reach 127.0.0.1:1: connection refused$" \
        "$K" get a --endpoint 127.0.0.1:1
    expect_err "watch unreachable" 1 "^kumo: cannot reach 127.0.0.1:1: connection refused$" \
        "$K" watch a --no-resume --endpoint 127.0.0.1:1

    # the server going away ends a watch with an error (this stops the server)
    "$K" watch zz --no-resume > "$tmp/w4" 2>&1 & local w4=$!
    sleep 0.3
    kill $srv; wait $srv 2>/dev/null; srv=""
    for _ in $(seq 40); do kill -0 $w4 2>/dev/null || break; sleep 0.05; done
    if kill -0 $w4 2>/dev/null; then
        kill -9 $w4; bad "$tag: watch survived its server"
    else
        wait $w4; rc=$?
        [ $rc -eq 1 ] && grep -q "^kumo: " "$tmp/w4" && ok "$tag: server gone ends watch, exit 1" ||
            bad "$tag: server gone: exit $rc [$(cat "$tmp/w4")]"
    fi
}

if ! command -v etcd > /dev/null; then
    skip "the etcd run: etcd is not installed (apt-get install etcd-server)"
else
    cp=$(free_port); pp=$(free_port)
    etcd --name r --data-dir "$tmp/etcd" --listen-client-urls "http://127.0.0.1:$cp" \
        --advertise-client-urls "http://127.0.0.1:$cp" --listen-peer-urls "http://127.0.0.1:$pp" \
        --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
        --initial-cluster "r=http://127.0.0.1:$pp" > "$tmp/etcd.log" 2>&1 &
    srv=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$cp/health" > /dev/null && break; sleep 0.1; done
    if curl -sf "http://127.0.0.1:$cp/health" > /dev/null; then
        tag=etcd suite "127.0.0.1:$cp"
    else
        bad "etcd did not start: $(tail -n 5 "$tmp/etcd.log")"
    fi
fi

if "$K" -h | grep -qE '^ +serve '; then
    port=$(free_port)
    "$K" serve --listen "127.0.0.1:$port" --data-dir "$tmp/serve" > "$tmp/serve.log" 2>&1 &
    srv=$!
    for _ in $(seq 100); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz")" = 200 ] && break
        sleep 0.1
    done
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz")" = 200 ]; then
        tag=serve suite "127.0.0.1:$port"
    else
        bad "kumo serve did not start: $(tail -n 5 "$tmp/serve.log")"
    fi
else
    echo "kumo has no serve command yet: only the etcd run"
fi

summary
[ $fail -eq 0 ]
