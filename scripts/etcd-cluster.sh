#!/bin/bash
# SPDX-License-Identifier: MIT
# A 3-member etcd cluster on loopback ports (Debian's etcd-server), for the
# tests and benchmarks that need a real Raft cluster behind kumo serve.
#
#   scripts/etcd-cluster.sh start DIR [BASE]   start members m1..m3: client ports BASE,
#                                              BASE+1, BASE+2, peer ports BASE+10..BASE+12
#                                              (default: 23790 if those are free, else
#                                              a free block); waits until every member
#                                              is healthy; prints the endpoints
#   scripts/etcd-cluster.sh stop DIR           SIGTERM every member, wait for each to exit
#   scripts/etcd-cluster.sh endpoints DIR      host:port,host:port,host:port
#   scripts/etcd-cluster.sh endpoint DIR N     member N's host:port
#   scripts/etcd-cluster.sh leader DIR         the leader's member number (1..3)
#   scripts/etcd-cluster.sh kill DIR N [SIG]   signal member N (default KILL; STOP, CONT...)
#   scripts/etcd-cluster.sh restart DIR N      start member N again on its data
#
# DIR keeps each member's data (mN.data), log (mN.log) and pid (mN.pid).
# With ETCD_CLUSTER_TLS=CERTDIR at start (ca.crt, server.crt and
# server.key for 127.0.0.1, client.crt and client.key from that CA), the
# members serve clients over TLS and require client certificates, as
# etcd's --client-cert-auth; the endpoints stay host:port.
set -u
cmd=${1:-} dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n 3,22p "$0" >&2; exit 2; }
command -v etcd >/dev/null || { echo "etcd-cluster: etcd is not installed (apt-get install etcd-server)" >&2; exit 1; }

base() { cat "$dir/base" 2>/dev/null || { echo "etcd-cluster: no cluster in $dir" >&2; exit 1; }; }
cport() { echo $(( $(base) + $1 - 1 )); }
pport() { echo $(( $(base) + 9 + $1 )); }
endpoints() { echo "127.0.0.1:$(cport 1),127.0.0.1:$(cport 2),127.0.0.1:$(cport 3)"; }
tlsdir() { cat "$dir/tls" 2>/dev/null; }
scheme() { [ -n "$(tlsdir)" ] && echo https || echo http; }
# ectl ARGS...: etcdctl to these members, with a client certificate under TLS
ectl() {
    local t; t=$(tlsdir)
    ETCDCTL_API=3 etcdctl ${t:+--cacert "$t/ca.crt" --cert "$t/client.crt" --key "$t/client.key"} "$@"
}
# alive N: member N's process exists and is not a zombie waiting to be reaped
alive() {
    local pid
    pid=$(cat "$dir/m$1.pid" 2>/dev/null) || return 1
    kill -0 "$pid" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]
}

member() {
    local n=$1 init="" t s
    t=$(tlsdir) s=$(scheme)
    for i in 1 2 3; do init="$init${init:+,}m$i=http://127.0.0.1:$(pport $i)"; done
    etcd --name "m$n" --data-dir "$dir/m$n.data" \
        --listen-client-urls "$s://127.0.0.1:$(cport "$n")" \
        --advertise-client-urls "$s://127.0.0.1:$(cport "$n")" \
        ${t:+--cert-file "$t/server.crt" --key-file "$t/server.key"} \
        ${t:+--trusted-ca-file "$t/ca.crt" --client-cert-auth} \
        --listen-peer-urls "http://127.0.0.1:$(pport "$n")" \
        --initial-advertise-peer-urls "http://127.0.0.1:$(pport "$n")" \
        --initial-cluster "$init" --initial-cluster-state new \
        --initial-cluster-token "kumo-$(base)" >>"$dir/m$n.log" 2>&1 &
    echo $! > "$dir/m$n.pid"
}

# healthy N...: until each member answers a quorum read (20 s at most)
healthy() {
    for n in "$@"; do
        local ok=0
        for _ in $(seq 200); do
            alive "$n" || break
            if ectl --endpoints "127.0.0.1:$(cport "$n")" --command-timeout 1s \
                endpoint health >/dev/null 2>&1; then ok=1; break; fi
            sleep 0.1
        done
        [ $ok = 1 ] || { echo "etcd-cluster: m$n is not healthy; its log:" >&2;
                         tail -n 20 "$dir/m$n.log" >&2; return 1; }
    done
}

# free_block: a base with its client and peer ports free, 23790 first
free_block() {
    python3 - <<'PY'
import random, socket
for b in [23790] + [random.randrange(20000, 40000) for _ in range(200)]:
    try:
        held = []
        for p in list(range(b, b + 3)) + list(range(b + 10, b + 13)):
            s = socket.socket(); s.bind(("127.0.0.1", p)); held.append(s)
        print(b); break
    except OSError:
        pass
else:
    raise SystemExit("etcd-cluster: no free block of ports")
PY
}

case "$cmd" in
start)
    mkdir -p "$dir"
    for n in 1 2 3; do alive "$n" && { echo "etcd-cluster: m$n already runs in $dir" >&2; exit 1; }; done
    b=${3:-$(free_block)} || exit 1
    echo "$b" > "$dir/base"
    if [ -n "${ETCD_CLUSTER_TLS:-}" ]; then
        (cd "$ETCD_CLUSTER_TLS" && pwd) > "$dir/tls"
    else
        rm -f "$dir/tls"
    fi
    for n in 1 2 3; do member "$n"; done
    healthy 1 2 3 || { "$0" stop "$dir"; exit 1; }
    endpoints ;;
stop)
    base >/dev/null
    for n in 1 2 3; do
        alive "$n" || continue
        pid=$(cat "$dir/m$n.pid")
        kill -CONT "$pid" 2>/dev/null; kill -TERM "$pid"
    done
    for n in 1 2 3; do
        for _ in $(seq 100); do alive "$n" || break; sleep 0.1; done
        alive "$n" && kill -KILL "$(cat "$dir/m$n.pid")"
        rm -f "$dir/m$n.pid"
    done ;;
endpoints) base >/dev/null && endpoints ;;
endpoint) base >/dev/null && echo "127.0.0.1:$(cport "${3:?member number}")" ;;
leader)
    for n in 1 2 3; do
        alive "$n" || continue
        st=$(ectl --endpoints "127.0.0.1:$(cport "$n")" --command-timeout 2s \
             endpoint status -w json 2>/dev/null) || continue
        id=$(printf '%s' "$st" | python3 -c 'import json,sys; s=json.load(sys.stdin)[0]["Status"]; print(s["header"]["member_id"] if s["leader"]==s["header"]["member_id"] else "")')
        [ -n "$id" ] && { echo "$n"; exit 0; }
    done
    echo "etcd-cluster: no member says it leads" >&2; exit 1 ;;
kill)
    n=${3:?member number}; alive "$n" || { echo "etcd-cluster: m$n is not running" >&2; exit 1; }
    kill "-${4:-KILL}" "$(cat "$dir/m$n.pid")" ;;
restart)
    n=${3:?member number}; alive "$n" && { echo "etcd-cluster: m$n still runs" >&2; exit 1; }
    member "$n"; healthy "$n" ;;
*) sed -n 3,22p "$0" >&2; exit 2 ;;
esac
