#!/bin/bash
# SPDX-License-Identifier: MIT
# The release workflow (namespaces, publish, gray, promote, rollback,
# secrets, audit; tests/integ/releases.py) against kumo serve on the
# embedded store, again after a restart, with authentication and roles,
# and on a real 3-member etcd cluster (--backend etcd://).
# Usage: releases.sh [build-dir].
cd "$(dirname "$0")/../.."
build=${1:-build}
. tests/integ/common.bash
need_etcd "$build/kumo"
tmp=$(mktemp -d)
kpid=
stop_kumo() { [ -n "$kpid" ] && kill "$kpid" 2>/dev/null && wait "$kpid" 2>/dev/null; kpid=; }
cleanup() {
    stop_kumo
    scripts/etcd-cluster.sh stop "$tmp/etcd" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT
head -c 32 /dev/urandom > "$tmp/secret.key"
chmod 600 "$tmp/secret.key"

# start_kumo NAME ARGS...: kumo serve on a free port ($K), its log in $tmp/NAME.log
start_kumo() {
    local name=$1; shift
    port=$(free_port)
    K=127.0.0.1:$port
    "$build/kumo" serve --listen "$K" --secret-key-file "$tmp/secret.key" "$@" \
        > "$tmp/$name.log" 2>&1 &
    kpid=$!
    wait_ready "$port" || { bad "kumo serve ($name) did not start: $(cat "$tmp/$name.log")"; return 1; }
}

# py ARGS...: releases.py's checks, each counted here
py() {
    local out
    out=$(python3 tests/integ/releases.py "$@" 2>&1)
    echo "$out" | grep -E '^(ok|FAIL) '
    pass=$((pass + $(echo "$out" | grep -c '^ok ')))
    fail=$((fail + $(echo "$out" | grep -c '^FAIL ')))
    echo "$out" | grep -q ' passed, 0 failed$' || bad "releases.py $*: $(echo "$out" | tail -3)"
}

if start_kumo lmdb --data-dir "$tmp/data"; then
    py "$K"
    before=$(curl -s "http://$K/api/v1/ns/shop/db/config")
    stop_kumo
    start_kumo again --data-dir "$tmp/data" &&
        check "releases survive a restart" "$(curl -s "http://$K/api/v1/ns/shop/db/config" |
            sed 's/"revision":[0-9]*,//')" "$(echo "$before" | sed 's/"revision":[0-9]*,//')"
    stop_kumo
    # without the key file, secrets cannot be read nor written
    port=$(free_port); K=127.0.0.1:$port
    "$build/kumo" serve --listen "$K" --data-dir "$tmp/data" > "$tmp/nokey.log" 2>&1 &
    kpid=$!
    if wait_ready "$port"; then
        check "without the key file a secret is refused" \
            "$(curl -s -o /dev/null -w '%{http_code}' -X PUT "http://$K/api/v1/ns/shop/db/items/pw?secret" -d x)" "400"
        check "and a config holding one cannot be opened" \
            "$(curl -s -o /dev/null -w '%{http_code}' "http://$K/api/v1/ns/shop/db/config")" "500"
    else
        bad "kumo serve without a key file did not start"
    fi
    stop_kumo
    chmod 644 "$tmp/secret.key"
    check "a key file others can read is refused" \
        "$("$build/kumo" serve --listen 127.0.0.1:0 --data-dir "$tmp/data2" \
            --secret-key-file "$tmp/secret.key" 2>&1 | grep -c 'chmod 600')" "1"
    chmod 600 "$tmp/secret.key"
fi

# the CLI over the same API: kumo ns ..., logging in with --user as etcdctl
cli_checks() {
    local k="$build/kumo --endpoint $K" u=("$@")
    check "kumo ns create" "$($k "${u[@]}" ns create cli/app --format properties)" \
        "created cli/app (format properties)"
    $k "${u[@]}" ns set cli/app db.host db1 >/dev/null
    echo s3cret | $k "${u[@]}" ns set cli/app db.password - --secret >/dev/null
    check "kumo ns diff" "$($k "${u[@]}" ns diff cli/app)" "$(printf '+ db.host = db1\n+ db.password = ******')"
    check "kumo ns publish" "$($k "${u[@]}" ns publish cli/app --name v1 --notes first)" "published release 1 (v1)"
    $k "${u[@]}" ns set cli/app db.host db2 >/dev/null
    $k "${u[@]}" ns gray cli/app --name canary --labels zone=east --ips 10.0.0.0/8 >/dev/null
    check "kumo ns get: a gray instance" \
        "$($k "${u[@]}" ns get cli/app --labels zone=east --ip 10.1.1.1 | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["gray"], d["items"]["db.host"], d["items"]["db.password"])')" \
        "canary db2 s3cret"
    $k "${u[@]}" ns promote cli/app --gray canary >/dev/null
    $k "${u[@]}" ns rollback cli/app --to 1 >/dev/null
    check "kumo ns get after promote and rollback" \
        "$($k "${u[@]}" ns get cli/app | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["release"], d["items"]["db.host"])')" "4 db1"
    check "kumo ns releases" "$($k "${u[@]}" ns releases cli/app | wc -l)" "4"
    check "kumo ns audit" "$($k "${u[@]}" ns audit cli/app --since 1h | grep -c '"action":"rollback"')" "1"
    $k "${u[@]}" ns set cli/app 'bad key' x >/dev/null 2>&1
    check "a bad item is refused at publish, exit status 1" \
        "$($k "${u[@]}" ns publish cli/app --name v5 2>&1 >/dev/null; echo "rc=$?")" \
        "$(printf 'kumo: key "bad key": whitespace is not allowed in a properties key\nrc=1')"
}

start_kumo auth --data-dir "$tmp/data-auth" && py "$K" --auth && {
    check "with auth on, the CLI without a login is refused" \
        "$("$build/kumo" --endpoint "$K" ns list >/dev/null 2>&1; echo $?)" "1"
    check "a wrong password is refused" \
        "$("$build/kumo" --endpoint "$K" --user root:nope ns list 2>&1)" \
        "kumo: etcdserver: authentication failed, invalid user ID or password"
    cli_checks --user root:rootpw
    check "the audit names the CLI's user" \
        "$("$build/kumo" --endpoint "$K" --user root --password rootpw ns audit cli/app --user root | wc -l)" "9"
}
stop_kumo

if E=$(scripts/etcd-cluster.sh start "$tmp/etcd"); then
    if start_kumo etcd --backend "etcd://$E"; then
        py "$K"
        check "etcd holds the published view" \
            "$(ETCDCTL_API=3 etcdctl --endpoints "$E" get /kumo/pub/shop/db/main --print-value-only |
                python3 -c 'import json,sys; print(json.load(sys.stdin)["release"])')" \
            "$(curl -s "http://$K/api/v1/ns/shop/db" | python3 -c 'import json,sys; print(json.load(sys.stdin)["main"])')"
    fi
else
    bad "the etcd cluster did not start"
fi
summary
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
