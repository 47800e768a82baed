# SPDX-License-Identifier: MIT
# Sourced by the tests that run the same steps against a real etcd and
# against `kumo serve` and compare the two (etcdctl.sh, etcdctl_auth.sh);
# not a test itself. It gives them ports, servers, steps recorded with
# their stdout, stderr and exit status, and the comparison with its
# normalisation.
#
# The test sets, before sourcing: kumo (the binary) and peer ("kumo",
# "etcd" to run two etcd servers against each other, which must show no
# difference, or "kumoetcd": kumo serve --backend etcd:// over a 3-member
# etcd cluster). KUMO_TEST_PORTS=LO-HI takes the ports from that range
# instead of letting the kernel choose. Sourcing makes $tmp, removed with
# every server at exit.
#
# A side (one server's run) is a function of the test that begins with
#   side_begin EP NAME
# and then names each step and runs its command:
#   step "get missing"; run ctl get nothing
# Its records land in $tmp/NAME; `compare REF OTHER` then checks, step by
# step, that REF (etcd) exits as the step says and that OTHER printed and
# exited the same once both are normalised.
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"
export ETCDCTL_API=3

tmp=$(mktemp -d)
pids=()
cluster=""
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    [ -n "$cluster" ] && "$(dirname "${BASH_SOURCE[0]}")/../../scripts/etcd-cluster.sh" stop "$cluster" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

used=" "
# port VAR: sets VAR to a free loopback port not handed out before.
port() {
    local _p _lo _hi
    if [ -z "${KUMO_TEST_PORTS:-}" ]; then
        for _ in 1 2 3 4 5; do
            _p=$(free_port)
            [[ "$used" == *" $_p "* ]] || break
        done
    else
        _lo=${KUMO_TEST_PORTS%-*}; _hi=${KUMO_TEST_PORTS#*-}
        for ((_p = _lo; _p <= _hi; _p++)); do
            [[ "$used" == *" $_p "* ]] && continue
            python3 -c 'import socket,sys; socket.socket().bind(("127.0.0.1",int(sys.argv[1])))' \
                "$_p" 2>/dev/null && break
        done
        [ "$_p" -le "$_hi" ] || return 1
    fi
    used+="$_p "
    printf -v "$1" %s "$_p"
}

# wait_ok URL PID NAME: polls URL until it answers 200 (10 s at most).
wait_ok() {
    for _ in $(seq 200); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1")" = 200 ] && return 0
        kill -0 "$2" 2>/dev/null || break
        sleep 0.05
    done
    bad "$3 did not start: $(tail -n 5 "$tmp/$3.log")"
    return 1
}

# start_etcd NAME [FLAG...]: a one-member etcd on fresh ports and a fresh
# data dir, with the extra server flags given; sets ep and srv_pid.
start_etcd() {
    local cp pp name=$1
    shift
    port cp && port pp || { bad "$name: no free port"; return 1; }
    etcd --name default --data-dir "$tmp/$name.data" \
        --listen-client-urls "http://127.0.0.1:$cp" --advertise-client-urls "http://127.0.0.1:$cp" \
        --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
        --initial-cluster "default=http://127.0.0.1:$pp" "$@" >"$tmp/$name.log" 2>&1 &
    pids+=($!); srv_pid=$!
    ep=127.0.0.1:$cp
    wait_ok "http://$ep/health" $! "$name"
}

# start_kumo NAME [FLAG...]: kumo serve the same way (over the etcd
# cluster when peer is kumoetcd); sets ep and srv_pid.
start_kumo() {
    local p name=$1 backend=()
    shift
    port p || { bad "$name: no free port"; return 1; }
    if [ "$peer" = kumoetcd ]; then
        cluster=$tmp/cluster
        eps=$("$(dirname "${BASH_SOURCE[0]}")/../../scripts/etcd-cluster.sh" start "$cluster") ||
            { bad "$name: the etcd cluster did not start"; return 1; }
        backend=(--backend "etcd://$eps")
    fi
    "$kumo" serve --listen "127.0.0.1:$p" --data-dir "$tmp/$name.data" "${backend[@]}" "$@" >"$tmp/$name.log" 2>&1 &
    pids+=($!); srv_pid=$!
    ep=127.0.0.1:$p
    wait_ok "http://$ep/healthz" $! "$name"
}

# start_peer NAME [FLAG...]: the server compared with etcd: another etcd
# when peer is etcd, else kumo serve.
start_peer() { if [ "$peer" = etcd ]; then start_etcd "$@"; else start_kumo "$@"; fi; }

# --- one side's run: every step's stdout, stderr and exit status in $dir ---

# side_begin EP NAME [PID [SECONDS]]: starts recording the side NAME against
# the server at EP. With PID, steps once that process is gone are recorded as
# not run instead of each waiting for its timeout; with SECONDS, so are the
# steps once the side has run that long. An empty EP (its server did not
# start) records nothing and returns 1: compare fails each of REF's steps.
side_begin() {
    EP=$1; dir=$tmp/$2; n=0; side_pid=${3:-}
    side_end=""; [ -z "${4:-}" ] || side_end=$((SECONDS + $4))
    mkdir -p "$dir"
    if [ -z "$EP" ]; then echo "its server did not start" >"$dir/down"; return 1; fi
}
# stale: true when the side's server is gone or its time is up; why says which.
stale() {
    if [ -n "${side_pid:-}" ] && ! kill -0 "$side_pid" 2>/dev/null; then
        why="not run: the server exited"
    elif [ -n "${side_end:-}" ] && [ "$SECONDS" -ge "$side_end" ]; then
        why="not run: the side took longer than its time budget"
    else
        return 1
    fi
}
# skipped: records the named step as not run.
skipped() { : >"$f.out"; echo "$why" >"$f.err"; echo 254 >"$f.rc"; }

# ctl ARGS: etcdctl against this side's server; no command may hang the
# test (ctl_timeout seconds at most, 10 unless the test says).
ctl() { stale && return 124; timeout -k 1 "${ctl_timeout:-10}" etcdctl --endpoints="$EP" "$@"; }

# step NAME [-x RC] [-f SED]: names the next step; -x is the exit status the
# reference etcd must give (default 0), -f an extra sed script for both sides.
step() {
    n=$((n + 1)); f=$dir/s$n
    local name=$1 rc=0 filt=""
    shift
    while [ $# -gt 0 ]; do
        case $1 in -x) rc=$2 ;; -f) filt=$2 ;; esac
        shift 2 || break
    done
    printf '%s\n' "$name" >>"$dir/steps"
    echo "$rc" >"$f.want"
    printf '%s\n' "$filt" >"$f.filt"
}
# run CMD...: runs the named step's command (stdin empty).
run() { stale && { skipped; return; }; "$@" >"$f.out" 2>"$f.err" </dev/null; echo $? >"$f.rc"; }
# run_in INPUT CMD...: the same with INPUT on stdin.
run_in() {
    stale && { skipped; return; }
    local in=$1; shift; printf '%s' "$in" | "$@" >"$f.out" 2>"$f.err"; echo $? >"$f.rc"
}
# bg_start ARGS: etcdctl ARGS as the named step, in the background; its
# number in bg_n, pid in bg_pid (timeout's, which passes signals on).
bg_start() {
    : >"$f.out"
    bg_n=$n
    if stale; then
        echo "$why" >"$f.err"; (exit 254) & bg_pid=$!
        return
    fi
    # long enough for the steps run meanwhile on a loaded machine: bg_stop ends it
    timeout -k 1 60 etcdctl --endpoints="$EP" "$@" >"$f.out" 2>"$f.err" </dev/null &
    bg_pid=$!
}
# bg_stop N PID LINES SIGNAL: once step N printed LINES lines (3 s at most),
# sends SIGNAL and records the exit status.
bg_stop() {
    local out=$dir/s$1.out
    for _ in $(seq 60); do
        [ "$(wc -l <"$out")" -ge "$3" ] && break
        kill -0 "$2" 2>/dev/null || break
        sleep 0.05
    done
    kill -"$4" "$2" 2>/dev/null
    wait "$2"; echo $? >"$dir/s$1.rc"
}
# rev: the header revision of the JSON on stdin.
rev() { sed -nE 's/.*"revision":([0-9]+).*/\1/p' | head -n 1; }

# --- comparison ---

# norm SIDE FILE FILTER: the file with what legitimately differs replaced:
# etcdctl's log lines, the side's directory, IDs, raft terms and indexes,
# sizes, release versions (dotted: a key's version, a string in the JSON
# gateway, stays), TTLs, addresses, timings; then the test's own script
# compat_norm (for every step) and the step's FILTER.
norm() {
    sed -E -e '/^\{"level":/d' \
        -e "s#$tmp/$1/#DIR/#g" \
        -e 's/"(cluster_id|member_id|leader|ID|id|lease)":[0-9]+/"\1":ID/g' \
        -e 's/"(raft_term|raftTerm|raftIndex|raftAppliedIndex|dbSize|dbSizeInUse)":[0-9]+/"\1":N/g' \
        -e 's/"version":"[0-9]+\.[^"]*"/"version":"V"/g' \
        -e 's/"ttl":[0-9]+/"ttl":T/g; s/remaining\([0-9]+s\)/remaining(Ts)/g' \
        -e 's/lease [0-9a-f]+ (granted|revoked|keepalived|already)/lease ID \1/g' \
        -e 's#(https?://)?127\.0\.0\.1:[0-9]+#ADDR#g' \
        -e 's/took = [0-9.]+[a-zµ]+/took = T/g; s/"took":"[^"]*"/"took":"T"/g' \
        -e "${compat_norm:-}" -e "$3" "$2"
}

# compare REF OTHER: one check per step of REF's run.
compare() {
    local a=$tmp/$1 b=$tmp/$2 i=0 name filt want
    if [ -e "$a/down" ] || [ ! -e "$a/steps" ]; then
        bad "$1 did not run: $(cat "$a/down" 2>/dev/null)"
        return
    fi
    if [ -e "$b/down" ]; then
        while IFS= read -r name; do bad "$name: $2 did not run: $(cat "$b/down")"; done <"$a/steps"
        return
    fi
    if ! cmp -s "$a/steps" "$b/steps"; then
        bad "the two runs took different steps"
        return
    fi
    while IFS= read -r name; do
        i=$((i + 1))
        filt=$(cat "$a/s$i.filt"); want=$(cat "$a/s$i.want")
        for s in "$1" "$2"; do
            { norm "$s" "$tmp/$s/s$i.out" "$filt"; echo "--- stderr"
              norm "$s" "$tmp/$s/s$i.err" "$filt"; echo "--- exit $(cat "$tmp/$s/s$i.rc")"; } >"$tmp/$s/s$i.n"
        done
        if [ "$(cat "$a/s$i.rc")" != "$want" ]; then
            bad "$name: $1 itself exits $(cat "$a/s$i.rc"), not $want: $(head -c 300 "$a/s$i.n")"
        elif cmp -s "$a/s$i.n" "$b/s$i.n"; then
            ok "$name"
        else
            bad "$name: $1 and $2 differ:"
            diff "$a/s$i.n" "$b/s$i.n" | grep '^[<>]' | head -n 14 | sed "s/^</  $1:/; s/^>/  $2:/"
        fi
    done <"$a/steps"
}
