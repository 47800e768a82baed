#!/bin/bash
# SPDX-License-Identifier: MIT
# kumo serve over a 3-member etcd cluster that serves clients only over TLS
# with client certificates (etcd's --client-cert-auth): kumo reaches it
# with --backend-cacert/--backend-cert/--backend-key and serves TLS itself;
# etcdctl and kumo's CLI go through it over TLS, writes land in etcd,
# etcd's writes reach kumo's watchers, and without the backend's client
# certificate kumo cannot start. Usage: backend_etcd_tls.sh [build-dir].
cd "$(dirname "$0")/../.."
build=${1:-build}
. tests/integ/common.bash
export ETCDCTL_API=3
need_etcd "$build/kumo"
command -v openssl >/dev/null || { bad "openssl is not installed (scripts/deps.sh)"; summary; exit 1; }
tmp=$(mktemp -d)
cl=scripts/etcd-cluster.sh
kpid=
cleanup() {
    [ -n "$kpid" ] && kill "$kpid" 2>/dev/null && wait "$kpid" 2>/dev/null
    $cl stop "$tmp/etcd" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT

c=$tmp/certs
mkdir -p "$c"
tls_ca "$c" ca "kumo test CA" && tls_ca "$c" other "another CA" &&
    tls_cert "$c" server localhost ca "DNS:localhost,IP:127.0.0.1" &&
    tls_cert "$c" client kumo ca && tls_cert "$c" stranger stranger other ||
    { bad "openssl could not make the test certificates"; summary; exit 1; }

E=$(ETCD_CLUSTER_TLS=$c $cl start "$tmp/etcd") || { bad "the TLS etcd cluster did not start"; summary; exit 1; }
ok "a 3-member etcd cluster serves clients over TLS"
ectl() { etcdctl --endpoints "$E" --cacert "$c/ca.crt" --cert "$c/client.crt" --key "$c/client.key" \
             --command-timeout 5s "$@"; }
check "etcd refuses a client without a certificate" \
    "$(etcdctl --endpoints "$E" --cacert "$c/ca.crt" --command-timeout 2s get x >/dev/null 2>&1 && echo served || echo refused)" \
    "refused"

port=$(free_port)
K=127.0.0.1:$port
B="--backend-cacert $c/ca.crt --backend-cert $c/client.crt --backend-key $c/client.key"
"$build/kumo" serve --listen "$K" --backend "etcd://$E" $B --cert-file "$c/server.crt" \
    --key-file "$c/server.key" --data-dir "$tmp/kumo" > "$tmp/kumo.log" 2>&1 &
kpid=$!
up=
for _ in $(seq 200); do
    curl -sf --cacert "$c/ca.crt" "https://$K/healthz" >/dev/null && { up=1; break; }
    kill -0 $kpid 2>/dev/null || break
    sleep 0.05
done
[ -n "$up" ] && ok "kumo serve starts over the TLS cluster" ||
    { bad "kumo serve did not start: $(cat "$tmp/kumo.log")"; summary; exit 1; }

kctl() { etcdctl --endpoints "https://$K" --cacert "$c/ca.crt" --command-timeout 5s "$@"; }
check "etcdctl put through kumo, both hops over TLS" "$(kctl put app/a 1)" "OK"
check "the value is in etcd" "$(ectl get app/a --print-value-only)" "1"
ectl put app/b 2 >/dev/null
check "etcd's write read through kumo" "$(kctl get app/b --print-value-only)" "2"
check "kumo's revision is etcd's" \
    "$(kctl get app/b -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')" \
    "$(ectl get app/b -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')"
K2="--endpoint https://$K --cacert $c/ca.crt"
check "kumo's CLI over TLS" "$("$build/kumo" get app/a $K2 | tr '\n' ' ')" "app/a 1 "
timeout 10 "$build/kumo" watch app/w $K2 > "$tmp/watch" 2>&1 &
wp=$!
sleep 1
ectl put app/w from-etcd >/dev/null
for _ in $(seq 50); do grep -q from-etcd "$tmp/watch" && break; sleep 0.1; done
kill $wp 2>/dev/null; wait $wp 2>/dev/null
check "etcd's write reaches kumo's CLI watcher" "$(tr '\n' ' ' < "$tmp/watch")" "PUT app/w from-etcd "
kill -TERM $kpid; wait $kpid; st=$?; kpid=
check "kumo stops cleanly" "$st" "0"

# without the client certificate etcd wants, or trusting another CA: no start
for args in "--backend-cacert $c/ca.crt" \
            "--backend-cacert $c/other.crt --backend-cert $c/client.crt --backend-key $c/client.key" \
            "--backend-cacert $c/ca.crt --backend-cert $c/stranger.crt --backend-key $c/stranger.key"; do
    timeout 30 "$build/kumo" serve --listen "$K" --backend "etcd://$E" $args --data-dir "$tmp/kumo" \
        --etcd-call-timeout 2s > "$tmp/bad.log" 2>&1
    st=$?
    [ $st -ne 0 ] && [ $st -ne 124 ] && ok "refused to start with $(echo "$args" | sed "s|$c/||g")" ||
        bad "started or hung (exit $st) with $args: $(tail -n 3 "$tmp/bad.log")"
done
summary
[ $fail -eq 0 ]
