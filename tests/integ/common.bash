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
check() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got [$2] want [$3]"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_ready PORT: until kumo serve's /healthz answers there (10 s at most)
wait_ready() { for _ in $(seq 200); do curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return 0; sleep 0.05; done; return 1; }
