#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# etcd's own client libraries, unmodified, against `kumo serve` and against a
# real etcd in the same run: clientv3 (tests/etcdclients/go/clientv3_check/)
# and python-etcd3 (tests/etcdclients/py/etcd3_check.py); usage:
# etcd_clients.sh [build-dir].
#
# Every check of every driver against every server counts on its own, named
# "SERVER/DRIVER check". A missing peer (etcd, the Go driver, python3-etcd3)
# is a failure, never a skip: a run with no checks proves nothing.
#
# Both servers send watch progress notifications every $NOTIFY, so the
# periodic ones are checked too. The Go driver restarts each server once,
# late in its run, through $tmp/NAME.ctl (same ports, same data).
#
# Environment: ETCD_CLIENTS_PORTS=LO-HI bounds the ports used (default
# 24500-24599); TARGETS ("etcd kumo"; also "kumoetcd": kumo serve
# --backend etcd:// over a 3-member etcd cluster) and DRIVERS ("go py")
# narrow the run;
# ETCD names the etcd binary. The Go driver also checks users, roles and
# authentication on (-auth) against etcd and kumo serve, not against
# kumoetcd (started without --backend-user, kumo keeps no users over an
# etcd backend: it answers as a server without any; backend_etcd_auth.sh
# checks etcd's users mirrored); ETCD_CLIENTS_AUTH=0 leaves those checks
# out.
set -u
build=${1:-build}
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/common.bash"

kumo=$build/kumo
gocheck=$build/etcdclients/clientv3_check
pycheck=$root/tests/etcdclients/py/etcd3_check.py
PY=/usr/bin/python3     # Debian's, which has python3-etcd3; not pyenv's
ETCD=${ETCD:-etcd}       # the etcd server binary
TARGETS=${TARGETS:-"etcd kumo"}
DRIVERS=${DRIVERS:-"go py"}
ports=${ETCD_CLIENTS_PORTS:-24500-24599}
GO_LIMIT=50             # seconds for all of one driver's run
PY_LIMIT=15
NOTIFY=1s               # both servers' watch progress interval
goauth=-auth
[ "${ETCD_CLIENTS_AUTH:-1}" = 0 ] && goauth=""

tmp=$(mktemp -d)
# Servers are started by scripts ($tmp/NAME.ctl) that the Go driver also
# runs to restart them, so their pids are in files.
cleanup() {
    local f
    # timeout(1) passes SIGTERM on to the driver it runs.
    for f in "$tmp"/*.drv; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
    for f in "$tmp"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
    for f in "$tmp"/*.pid; do
        [ -f "$f" ] || continue
        for _ in $(seq 100); do kill -0 "$(cat "$f")" 2>/dev/null || break; sleep 0.05; done
        kill -9 "$(cat "$f")" 2>/dev/null
    done
    [ -n "$cluster" ] && "$root/scripts/etcd-cluster.sh" stop "$cluster" >/dev/null 2>&1
    rm -rf "$tmp"
}
cluster=""
trap cleanup EXIT
trap 'exit 130' INT TERM

# take_port VAR: sets VAR to a loopback port in $ports that nobody listens
# on and this run has not handed out yet (not in a subshell: $taken must
# remember it).
taken=""
take_port() {
    local got
    got=$(python3 - "${ports%-*}" "${ports#*-}" "$taken" <<'EOF'
import random, socket, sys
lo, hi, taken = int(sys.argv[1]), int(sys.argv[2]), set(sys.argv[3].split())
cands = list(range(lo, hi + 1)); random.shuffle(cands)
for p in cands:
    if str(p) in taken:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()
EOF
)
    [ -n "$got" ] || return 1
    taken="$taken $got"
    printf -v "$1" %s "$got"
}

# make_ctl NAME HEALTH-URL CMD...: writes $tmp/NAME.ctl, which starts the
# server ("start") or stops it and starts it again on the same ports and data
# ("restart"), returning once HEALTH-URL answers 200 (20 s at most: etcd
# starts slowly on a loaded machine).
make_ctl() {
    local name=$1 url=$2
    shift 2
    {
        echo '#!/usr/bin/env bash'
        printf 'pidf=%q log=%q url=%q\n' "$tmp/$name.pid" "$tmp/$name.log" "$url"
        cat <<'EOF'
if [ "$1" = restart ]; then
    pid=$(cat "$pidf")
    t0=$(date +%s%N)
    # Exited, or a zombie: the server is reparented once this script's
    # parent returns, and whoever reaps it may take its time.
    running() { [ -e "/proc/$1" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }
    kill -TERM "$pid"
    for _ in $(seq 1500); do running "$pid" || break; sleep 0.01; done
    if running "$pid"; then echo "still running 15 s after SIGTERM" >&2; exit 1; fi
    # For the Go driver's check of the stop (see -restart there).
    echo "stopped in $((($(date +%s%N) - t0) / 1000000)) ms"
fi
EOF
        printf '%q ' "$@"
        echo '>>"$log" 2>&1 &'
        cat <<'EOF'
pid=$!
echo "$pid" >"$pidf"
for _ in $(seq 400); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url")" = 200 ] && exit 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
echo "did not start: $(tail -n 5 "$log" | tr '\n' ' ')" >&2
exit 1
EOF
    } >"$tmp/$name.ctl"
    chmod +x "$tmp/$name.ctl"
}

# start NAME: runs its ctl script; a failure counts.
start() {
    local err
    err=$("$tmp/$1.ctl" start 2>&1) || { bad "$1 did not start: $err"; return 1; }
}

# start_etcd / start_kumo: a fresh server on fresh ports and data; set ep_NAME.
start_etcd() {
    local cp pp
    if ! command -v "$ETCD" >/dev/null; then
        bad "etcd: not installed (apt-get install etcd-server)"; return 1
    fi
    take_port cp && take_port pp || { bad "etcd: no free port in $ports"; return 1; }
    make_ctl etcd "http://127.0.0.1:$cp/health" "$ETCD" --name c --data-dir "$tmp/etcd.data" \
        --listen-client-urls "http://127.0.0.1:$cp" --advertise-client-urls "http://127.0.0.1:$cp" \
        --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
        --initial-cluster "c=http://127.0.0.1:$pp" \
        --experimental-watch-progress-notify-interval "$NOTIFY"
    start etcd || return 1
    ep_etcd=127.0.0.1:$cp
}

start_kumo() {
    local p
    [ -x "$kumo" ] || { bad "kumo: $kumo not found (run make first)"; return 1; }
    take_port p || { bad "kumo: no free port in $ports"; return 1; }
    make_ctl kumo "http://127.0.0.1:$p/healthz" "$kumo" serve --listen "127.0.0.1:$p" \
        --data-dir "$tmp/kumo.data" --progress-interval "$NOTIFY"
    start kumo || return 1
    ep_kumo=127.0.0.1:$p
}

# kumo serve over a real 3-member etcd cluster (scripts/etcd-cluster.sh),
# which the cleanup stops; a restart restarts kumo alone, as a stateless
# node is.
start_kumoetcd() {
    local p eps
    [ -x "$kumo" ] || { bad "kumoetcd: $kumo not found (run make first)"; return 1; }
    command -v "$ETCD" >/dev/null || { bad "kumoetcd: etcd not installed (apt-get install etcd-server)"; return 1; }
    eps=$("$root/scripts/etcd-cluster.sh" start "$tmp/cluster") ||
        { bad "kumoetcd: the etcd cluster did not start"; return 1; }
    cluster=$tmp/cluster
    take_port p || { bad "kumoetcd: no free port in $ports"; return 1; }
    make_ctl kumoetcd "http://127.0.0.1:$p/healthz" "$kumo" serve --listen "127.0.0.1:$p" \
        --backend "etcd://$eps" --data-dir "$tmp/kumoetcd.data" --progress-interval "$NOTIFY"
    start kumoetcd || return 1
    ep_kumoetcd=127.0.0.1:$p
}

# drive TARGET DRIVER ENDPOINT: runs one driver; its output in
# $tmp/TARGET-DRIVER.out.* (drivers against different servers run at once;
# the .drv file names the running one for the cleanup).
drive() {
    local out=$tmp/$1-$2.out rc auth=$goauth
    [ "$1" = kumoetcd ] && auth=""
    case $2 in
    go) timeout -k 2 $GO_LIMIT "$gocheck" -timeout 5s -progress-interval $NOTIFY \
            -restart "$tmp/$1.ctl restart" $auth "$3" >"$out.raw" 2>"$out.err" & ;;
    py) timeout -k 2 $PY_LIMIT "$PY" "$pycheck" --timeout 5 "$3" >"$out.raw" 2>"$out.err" & ;;
    esac
    echo $! >"$tmp/$1-$2.drv"
    wait $!
    rc=$?
    rm -f "$tmp/$1-$2.drv"
    echo "$rc" >"$out.rc"
}

# report TARGET DRIVER: counts each check line of a finished driver.
report() {
    local out=$tmp/$1-$2.out n=0 rc line
    rc=$(cat "$out.rc")
    while IFS= read -r line; do
        case $line in
        "ok   "*) ok "$1/$2 ${line#ok   }"; n=$((n + 1)) ;;
        "FAIL "*) bad "$1/$2 ${line#FAIL }"; n=$((n + 1)) ;;
        esac
    done <"$out.raw"
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        bad "$1/$2: killed, still running after its time limit"
    elif [ "$n" -eq 0 ]; then
        bad "$1/$2: no checks ran (exit $rc): $(tail -n 3 "$out.err" | tr '\n' ' ')"
    elif [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' "$out.raw"; then
        bad "$1/$2: exit $rc with no failed check: $(tail -n 3 "$out.err" | tr '\n' ' ')"
    fi
}

# The drivers, present or failed for good.
drivers=""
for d in $DRIVERS; do
    case $d in
    go) if [ -x "$gocheck" ]; then drivers="$drivers go"
        else bad "go driver: $gocheck not found (make etcdclients; needs golang-etcd-server-dev)"; fi ;;
    py) if "$PY" -c 'import etcd3' 2>/dev/null; then drivers="$drivers py"
        else bad "py driver: $PY cannot import etcd3 (apt-get install python3-etcd3)"; fi ;;
    *)  bad "driver $d: unknown" ;;
    esac
done

# Servers start first; then each server's drivers run one after the other,
# the two servers' at once.
targets=""
for t in $TARGETS; do
    case $t in
    etcd) start_etcd && targets="$targets etcd" ;;
    kumo) start_kumo && targets="$targets kumo" ;;
    kumoetcd) start_kumoetcd && targets="$targets kumoetcd" ;;
    *)    bad "target $t: unknown" ;;
    esac
done
jobs_=()
for t in $targets; do
    ep_var=ep_$t
    (for d in $drivers; do drive "$t" "$d" "${!ep_var}"; done) &
    jobs_+=($!)
done
for j in "${jobs_[@]}"; do wait "$j"; done
for t in $targets; do
    for d in $drivers; do report "$t" "$d"; done
done

# A server that died under the drivers is a failure of its own.
for t in $targets; do
    kill -0 "$(cat "$tmp/$t.pid")" 2>/dev/null ||
        bad "$t: exited during the run: $(tail -n 3 "$tmp/$t.log" | tr '\n' ' ')"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
