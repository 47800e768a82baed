# SPDX-License-Identifier: MIT
# Sourced by the black-box tests here (not a test itself): pass/fail
# counting, and the helpers several of them use. Each test ends with
#   summary
# A check that cannot run (its peer missing) is a skip, said as a line
# "skip: reason" that scripts/run-tests.sh collects; a run with skips fails
# unless KM_ALLOW_SKIP=1.
pass=0; fail=0; skipped=0
ok()   { echo "ok   $1"; pass=$((pass + 1)); }
bad()  { echo "FAIL $1"; fail=$((fail + 1)); }
skip() { echo "skip: $1"; skipped=$((skipped + 1)); }
summary() { echo "$pass passed, $fail failed, $skipped skipped"; }
# need_etcd [KUMO]: etcd and etcdctl (and the kumo binary KUMO, if named)
# are here, or the test says which is missing and fails.
need_etcd() {
    if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
        skip "etcd or etcdctl is not installed (apt-get install etcd-server etcd-client)"
        summary; exit 1
    fi
    [ -z "${1:-}" ] || [ -x "$1" ] || { skip "$1 is not built (make first)"; summary; exit 1; }
}
# need_cmds CMD...: each command is installed, or the test says which is
# missing and fails.
need_cmds() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null || { bad "$t is not installed (scripts/deps.sh)"; summary; exit 1; }
    done
}
check() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got [$2] want [$3]"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_ready PORT: until kumo serve's /healthz answers there (10 s at most)
wait_ready() { for _ in $(seq 200); do curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return 0; sleep 0.05; done; return 1; }

# Test certificates, made with the openssl command (never committed):
# tls_ca DIR NAME CN: a self-signed CA, DIR/NAME.crt and DIR/NAME.key;
# tls_cert DIR NAME CN CA [SAN]: an EC P-256 key and a certificate for CN
# signed by the CA DIR/CA.crt, with subjectAltName SAN when given.
tls_ca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=$3" -keyout "$1/$2.key" -out "$1/$2.crt" 2>/dev/null
}
tls_cert() {
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$3" \
        -keyout "$1/$2.key" -out "$1/$2.csr" 2>/dev/null &&
    { [ -z "${5:-}" ] || echo "subjectAltName=$5" > "$1/$2.ext"; } &&
    openssl x509 -req -in "$1/$2.csr" -CA "$1/$4.crt" -CAkey "$1/$4.key" -CAcreateserial \
        -days 2 ${5:+-extfile "$1/$2.ext"} -out "$1/$2.crt" 2>/dev/null
}
