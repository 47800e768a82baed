#!/bin/bash
# SPDX-License-Identifier: MIT
# kumo serve over TLS with etcd's flags: a test CA, server and client
# certificates made here with the openssl command; curl over HTTPS
# (HTTP/1.1 and HTTP/2 by ALPN), etcdctl over TLS (gRPC), client
# certificates required and checked, plain-text, wrong-CA and TLS 1.1
# clients refused, the certificate reloaded on SIGHUP while an open watch
# goes on, and the rule that plain TCP off loopback needs
# --insecure-listen. Usage: tls.sh [build-dir].
cd "$(dirname "$0")/../.."
build=${1:-build}
. tests/integ/common.bash
export ETCDCTL_API=3
need_cmds openssl curl etcdctl
tmp=$(mktemp -d)
kpid=
cleanup() {
    [ -n "$kpid" ] && kill "$kpid" 2>/dev/null && wait "$kpid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

tls_ca "$tmp" ca "kumo test CA" && tls_ca "$tmp" other "another CA" &&
    tls_cert "$tmp" server localhost ca "DNS:localhost,IP:127.0.0.1" &&
    tls_cert "$tmp" server2 localhost ca "DNS:localhost,IP:127.0.0.1" &&
    tls_cert "$tmp" alice alice ca && tls_cert "$tmp" mallory mallory other ||
    { bad "openssl could not make the test certificates"; summary; exit 1; }

port=$(free_port)
K=127.0.0.1:$port
S="--cert-file $tmp/server.crt --key-file $tmp/server.key"
"$build/kumo" serve --listen "$K" --data-dir "$tmp/d" $S > "$tmp/kumo.log" 2>&1 &
kpid=$!
up=
for _ in $(seq 200); do curl -sf --cacert "$tmp/ca.crt" "https://$K/healthz" >/dev/null && { up=1; break; }; sleep 0.05; done
[ -n "$up" ] && ok "kumo serve starts with TLS" || { bad "kumo serve did not start: $(cat "$tmp/kumo.log")"; summary; exit 1; }
check "it says it serves TLS" "$(grep -c "serving TLS on $K" "$tmp/kumo.log")" "1"

c() { curl -s --cacert "$tmp/ca.crt" "$@"; }
check "HTTPS with HTTP/2 by ALPN" "$(c -o /dev/null -w '%{http_version} %{http_code}' "https://$K/healthz")" "2 200"
check "HTTPS with HTTP/1.1" "$(c --http1.1 -o /dev/null -w '%{http_version} %{http_code}' "https://$K/healthz")" "1.1 200"
check "a native PUT over HTTPS" "$(c -X PUT --data-binary v1 "https://$K/api/v1/kv/a")" '{"revision":2}'
check "a native GET over HTTPS/1.1" "$(c --http1.1 "https://$K/api/v1/kv/a")" "v1"
big=$(head -c 300000 /dev/zero | tr '\0' x)
echo -n "$big" > "$tmp/big"
c -X PUT --data-binary @"$tmp/big" "https://$K/api/v1/kv/big" >/dev/null
check "a 300 KB value over HTTPS/2" "$(c "https://$K/api/v1/kv/big" | wc -c)" "300000"
check "and over HTTPS/1.1" "$(c --http1.1 "https://$K/api/v1/kv/big" | wc -c)" "300000"
check "the JSON gateway over HTTPS" \
    "$(c -X POST -d '{"key":"YQ=="}' "https://$K/v3/kv/range" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')" "1"

e() { etcdctl --endpoints "https://$K" --cacert "$tmp/ca.crt" --command-timeout 5s "$@"; }
check "etcdctl put over TLS" "$(e put k v)" "OK"
check "etcdctl get over TLS" "$(e get k --print-value-only)" "v"
check "the member's client URL is https" "$(e member list | awk -F', ' '{print $5}')" "https://$K"
check "a plain-text HTTP client gets nothing" "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://$K/healthz")" "000"
check "a plain-text gRPC client fails" \
    "$(etcdctl --endpoints "$K" --command-timeout 2s get k >/dev/null 2>&1 && echo served || echo refused)" "refused"
check "a client that does not trust the CA fails" \
    "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$tmp/other.crt" "https://$K/healthz")" "000"
check "TLS 1.1 is refused" \
    "$(openssl s_client -connect "$K" -tls1_1 </dev/null >/dev/null 2>&1 && echo accepted || echo refused)" "refused"
check "TLS 1.3 is chosen when offered" \
    "$(openssl s_client -brief -connect "$K" </dev/null 2>&1 | awk -F': ' '/^Protocol version/ {print $2}')" "TLSv1.3"
check "a TLS 1.2 client gets an ECDHE AEAD suite" \
    "$(openssl s_client -brief -connect "$K" -tls1_2 </dev/null 2>&1 | awk -F': ' '/^Ciphersuite/ {print $2}' | grep -cE '^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM|CHACHA20)')" "1"

# a flood of connections that never finish (or never start) a handshake,
# and of ClientHellos abandoned halfway, does not keep others from being served
python3 - "$port" > "$tmp/flood.out" 2>&1 <<'PY' &
import socket, ssl, sys, time
port = int(sys.argv[1])
held = []
for i in range(400):
    s = socket.create_connection(("127.0.0.1", port))
    if i % 2:   # half send the first bytes of a ClientHello, then stall
        s.send(bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]))
    held.append(s)
print("holding", len(held), flush=True)
time.sleep(4)
PY
fp=$!
for _ in $(seq 100); do grep -q holding "$tmp/flood.out" && break; sleep 0.05; done
check "400 stalled handshakes are open" "$(cat "$tmp/flood.out")" "holding 400"
t0=$(date +%s%N)
check "a client is served meanwhile" "$(c -o /dev/null -w '%{http_code}' --max-time 3 "https://$K/healthz")" "200"
check "etcdctl too" "$(e get k --print-value-only)" "v"
took=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$took" -lt 2000 ] && ok "both within 2 s ($took ms)" || bad "served only after $took ms"
wait $fp

# SIGHUP: a renewed certificate for new connections; an open watch goes on
serial() { openssl s_client -connect "$K" </dev/null 2>/dev/null | openssl x509 -noout -serial; }
s1=$(serial)
check "the first certificate is served" "$s1" "$(openssl x509 -noout -serial -in "$tmp/server.crt")"
timeout 15 etcdctl --endpoints "https://$K" --cacert "$tmp/ca.crt" watch w > "$tmp/watch" 2>&1 &
wp=$!
sleep 1
cp "$tmp/server2.crt" "$tmp/server.crt"; cp "$tmp/server2.key" "$tmp/server.key"
kill -HUP $kpid
for _ in $(seq 50); do grep -q "SIGHUP: reloaded" "$tmp/kumo.log" && break; sleep 0.1; done
check "SIGHUP reloads the certificate" "$(serial)" "$(openssl x509 -noout -serial -in "$tmp/server2.crt")"
e put w after-reload >/dev/null
for _ in $(seq 50); do grep -q after-reload "$tmp/watch" && break; sleep 0.1; done
kill $wp 2>/dev/null; wait $wp 2>/dev/null
check "a watch opened before the reload goes on" "$(tr '\n' ' ' < "$tmp/watch")" "PUT w after-reload "
echo "not a certificate" > "$tmp/server.crt"
kill -HUP $kpid
for _ in $(seq 50); do grep -q "kept the old certificate" "$tmp/kumo.log" && break; sleep 0.1; done
check "a bad certificate on SIGHUP keeps the old one" "$(grep -c "kept the old certificate" "$tmp/kumo.log")" "1"
check "which is still served" "$(c -o /dev/null -w '%{http_code}' "https://$K/healthz")" "200"
kill -TERM $kpid; wait $kpid; st=$?; kpid=
check "kumo stops cleanly" "$st" "0"
cp "$tmp/server2.crt" "$tmp/server.crt"

# client certificates, as etcd's --client-cert-auth
"$build/kumo" serve --listen "$K" --data-dir "$tmp/d" $S --trusted-ca-file "$tmp/ca.crt" \
    --client-cert-auth > "$tmp/kumo2.log" 2>&1 &
kpid=$!
for _ in $(seq 200); do c --cert "$tmp/alice.crt" --key "$tmp/alice.key" -sf "https://$K/healthz" >/dev/null && break; sleep 0.05; done
check "a client certificate from the CA is accepted" \
    "$(e --cert "$tmp/alice.crt" --key "$tmp/alice.key" get k --print-value-only)" "v"
check "curl with it too" "$(c --cert "$tmp/alice.crt" --key "$tmp/alice.key" "https://$K/api/v1/kv/a")" "v1"
check "no client certificate is refused" "$(c -o /dev/null -w '%{http_code}' "https://$K/healthz")" "000"
check "one from another CA is refused" \
    "$(c -o /dev/null -w '%{http_code}' --cert "$tmp/mallory.crt" --key "$tmp/mallory.key" "https://$K/healthz")" "000"
check "etcdctl without one fails" \
    "$(e --command-timeout 2s get k >/dev/null 2>&1 && echo served || echo refused)" "refused"
kill -TERM $kpid; wait $kpid; kpid=

# flags that cannot work are refused at start, with the reason
out=$("$build/kumo" serve --listen "$K" --data-dir "$tmp/d" --cert-file "$tmp/server.crt" 2>&1); st=$?
check "a certificate without a key is refused" "$st $(echo "$out" | grep -c 'needs both')" "2 1"
out=$("$build/kumo" serve --listen "$K" --data-dir "$tmp/d" --cert-file "$tmp/server.crt" --key-file "$tmp/alice.key" 2>&1); st=$?
check "a key that does not match is refused" "$st $(echo "$out" | grep -c 'does not match')" "2 1"
out=$("$build/kumo" serve --listen "$K" --data-dir "$tmp/d" $S --client-cert-auth 2>&1); st=$?
check "--client-cert-auth without a CA is refused" "$st $(echo "$out" | grep -c 'trusted CA')" "2 1"
out=$("$build/kumo" serve --listen "0.0.0.0:$port" --data-dir "$tmp/d" 2>&1); st=$?
check "plain TCP on 0.0.0.0 needs --insecure-listen" "$st $(echo "$out" | grep -c 'insecure-listen')" "2 1"
"$build/kumo" serve --listen "0.0.0.0:$port" --data-dir "$tmp/d" --insecure-listen > "$tmp/kumo3.log" 2>&1 &
kpid=$!
wait_ready "$port" && ok "with --insecure-listen it serves" || bad "with --insecure-listen it did not start: $(cat "$tmp/kumo3.log")"
check "and warns" "$(grep -c 'WARNING: serving without TLS' "$tmp/kumo3.log")" "1"
kill -TERM $kpid; wait $kpid; kpid=
summary
[ $fail -eq 0 ]
