#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Compares `kumo serve` with a real etcd, request by request, over the v3 JSON API; usage: etcd_compat.sh [build-dir].
#
# COMPAT_PEER=etcd runs two etcd servers against each other instead (the
# harness must find no difference there). Without etcd it reports a skip,
# which fails `make test` unless KM_ALLOW_SKIP=1.
set -u

build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
kumo=$build/kumo
peer=${COMPAT_PEER:-kumo}

if ! command -v etcd >/dev/null; then
    echo "skip: etcd is not installed (apt-get install etcd-server)"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi
command -v python3 >/dev/null || { echo "etcd_compat: python3 is required" >&2; exit 2; }
if [ "$peer" = kumo ] && [ ! -x "$kumo" ]; then
    echo "etcd_compat: $kumo not found (run make first)" >&2
    exit 2
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port: a loopback port nobody listens on right now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_ok URL PID NAME: polls URL until it answers 200 (10 s at most).
wait_ok() {
    for _ in $(seq 200); do
        if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1")" = 200 ]; then
            return 0
        fi
        kill -0 "$2" 2>/dev/null || break
        sleep 0.05
    done
    echo "etcd_compat: $3 did not start:" >&2
    tail -n 20 "$tmp/$3.log" >&2
    return 1
}

# start_etcd NAME: a one-member etcd on fresh ports and a fresh data dir; sets url.
start_etcd() {
    local name=$1 cp pp
    cp=$(free_port); pp=$(free_port)
    etcd --name c --data-dir "$tmp/$name.data" \
        --listen-client-urls "http://127.0.0.1:$cp" --advertise-client-urls "http://127.0.0.1:$cp" \
        --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
        --initial-cluster "c=http://127.0.0.1:$pp" >"$tmp/$name.log" 2>&1 &
    pids+=($!)
    url=http://127.0.0.1:$cp
    wait_ok "$url/health" $! "$name"
}

start_kumo() {
    local name=$1 p
    p=$(free_port)
    "$kumo" serve --listen "127.0.0.1:$p" --data-dir "$tmp/$name.data" >"$tmp/$name.log" 2>&1 &
    pids+=($!)
    url=http://127.0.0.1:$p
    wait_ok "$url/healthz" $! "$name"
}

start_etcd etcd || exit 1
a=$url
if [ "$peer" = etcd ]; then
    start_etcd etcd2 || exit 1
else
    start_kumo kumo || exit 1
fi
b=$url

python3 "$here/etcd_compat.py" "etcd=$a" "$peer=$b" | tee "$tmp/out"
rc=${PIPESTATUS[0]}
line=$(sed -n 's/^etcd_compat: \([0-9]*\) cases, \([0-9]*\) differ.*/\1 \2/p' "$tmp/out")
if [ -n "$line" ]; then
    set -- $line
    echo "$(($1 - $2)) passed, $2 failed"
fi
exit "$rc"
