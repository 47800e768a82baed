#!/bin/bash
# SPDX-License-Identifier: MIT
# Two kumo nodes over one 3-member etcd cluster, under load while a fault
# happens: an etcd follower killed, the etcd leader killed, a member
# stopped for 10 s, kumo node B killed and restarted on its port. Writers,
# watchers and linearizable readers (Go's clientv3, scale_check) go through
# both nodes during each; afterwards the checker reads etcd's own history
# from the members and proves that every acknowledged write is there at
# its revision, each watcher saw every event of its range once and in
# order, and no read was stale. Usage: scale_faults.sh [build-dir].
# On a failure everything recorded stays in BUILD/scale_faults-logs/.
cd "$(dirname "$0")/../.."
build=${1:-build}
. tests/integ/common.bash
export ETCDCTL_API=3
need_etcd "$build/kumo"
checker=$build/etcdclients/scale_check
[ -x "$checker" ] || { skip "$checker is not built (make first)"; summary; exit 1; }

tmp=$(mktemp -d)
cl=scripts/etcd-cluster.sh
keep=$build/scale_faults-logs
kpid_A= kpid_B= gp=
cleanup() {
    [ -n "$gp" ] && kill -KILL "$gp" 2>/dev/null && wait "$gp" 2>/dev/null
    for n in A B; do
        pid=$(eval echo "\$kpid_$n")
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    $cl stop "$tmp/etcd" >/dev/null 2>&1
    if [ "$fail" -gt 0 ]; then
        rm -rf "$keep"; mkdir -p "$keep"
        cp "$tmp"/*.log "$tmp"/*.out "$tmp"/*.err "$tmp"/*.json "$keep"/ 2>/dev/null
        for m in 1 2 3; do cp "$tmp/etcd/m$m.log" "$keep/etcd-m$m.log" 2>/dev/null; done
        echo "# logs and recordings kept in $keep"
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

E=$($cl start "$tmp/etcd") || { bad "the etcd cluster did not start"; summary; exit 1; }
port_A=$(free_port) port_B=$(free_port)
while [ "$port_B" = "$port_A" ]; do port_B=$(free_port); done

# start_kumo A|B: node N on its port (the same one each time), its log appended
start_kumo() {
    local port
    port=$(eval echo "\$port_$1")
    "$build/kumo" serve --listen "127.0.0.1:$port" --backend "etcd://$E" --data-dir "$tmp/kumo$1" \
        >> "$tmp/kumo$1.log" 2>&1 &
    eval "kpid_$1=$!"
    wait_ready "$port"
}
for n in A B; do
    start_kumo $n && ok "kumo node $n serves over the cluster" ||
        { bad "kumo node $n did not start: $(cat "$tmp/kumo$n.log")"; summary; exit 1; }
done

# all_healthy: every member answers a quorum read (20 s at most)
all_healthy() {
    for _ in $(seq 100); do
        etcdctl --endpoints "$E" --command-timeout 2s endpoint health >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}

# The faults: each sets $what; the heals undo them. The follower killed is
# m1, the first member listed: the one clients start with, so that requests
# are in flight on it when it dies (lead_elsewhere makes sure it follows).
victim=
fault_follower() { victim=1; what="SIGKILL etcd follower m$victim"; $cl kill "$tmp/etcd" "$victim"; }
heal_restart()   { $cl restart "$tmp/etcd" "$victim" >/dev/null; }
fault_leader()   { victim=$($cl leader "$tmp/etcd"); what="SIGKILL etcd leader m$victim";
                   $cl kill "$tmp/etcd" "$victim"; }
fault_stop()     { victim=$($cl leader "$tmp/etcd"); what="SIGSTOP etcd leader m$victim for 10 s";
                   $cl kill "$tmp/etcd" "$victim" STOP; }
heal_cont()      { $cl kill "$tmp/etcd" "$victim" CONT; }
fault_kumo()     { what="SIGKILL kumo node B (pid $kpid_B)"; kill -KILL "$kpid_B"; wait "$kpid_B" 2>/dev/null; }
heal_kumo()      { start_kumo B || echo "# kumo node B did not come back: $(tail -n 5 "$tmp/kumoB.log")"; }

# lead_elsewhere N: if member N leads, hand the leadership to another member
lead_elsewhere() {
    local l to id
    l=$($cl leader "$tmp/etcd") || return 1
    [ "$l" = "$1" ] || return 0
    to=$(( $1 % 3 + 1 ))
    id=$(etcdctl --endpoints "$E" member list -w json | python3 -c '
import json, sys
for m in json.load(sys.stdin)["members"]:
    if m["name"] == "m'"$to"'": print("%x" % m["ID"])')
    etcdctl --endpoints "$($cl endpoint "$tmp/etcd" "$l")" move-leader "$id" >/dev/null &&
        [ "$($cl leader "$tmp/etcd")" = "$to" ]
}

# scenario NAME FAULT HEAL HOLD: load through both nodes; FAULT 1.5 s into
# it, HEAL HOLD seconds later; the checker's verdicts become ours.
scenario() {
    local sname=$1 fault=$2 heal=$3 hold=$4 t0 rc line
    t0=$(date +%s.%N)
    all_healthy || { bad "$sname: the etcd cluster is not healthy before the scenario"; return; }
    "$checker" -etcd "$E" -a "127.0.0.1:$port_A" -b "127.0.0.1:$port_B" -name "$sname" \
        -ready "$tmp/$sname.ready" -healed "$tmp/$sname.healed" -dump "$tmp/$sname.json" \
        > "$tmp/$sname.out" 2> "$tmp/$sname.err" &
    gp=$!
    for _ in $(seq 300); do [ -e "$tmp/$sname.ready" ] || ! kill -0 $gp 2>/dev/null && break; sleep 0.1; done
    if [ -e "$tmp/$sname.ready" ]; then
        sleep 1.5
        $fault
        echo "# $sname: $what"
        sleep "$hold"
        $heal
        touch "$tmp/$sname.healed"
    fi
    wait $gp; rc=$?; gp=
    while IFS= read -r line; do
        case "$line" in
        "ok   "*) ok "${line#ok   }" ;;
        "FAIL "*) bad "${line#FAIL }" ;;
        *) echo "$line" ;;
        esac
    done < "$tmp/$sname.out"
    if ! grep -qE '^(ok  |FAIL)' "$tmp/$sname.out" || { [ $rc -ne 0 ] && ! grep -q '^FAIL' "$tmp/$sname.out"; }; then
        bad "$sname: the checker ended (exit $rc) without its verdicts: $(tail -n 5 "$tmp/$sname.err")"
    fi
    for n in A B; do
        pid=$(eval echo "\$kpid_$n")
        kill -0 "$pid" 2>/dev/null && ok "$sname: kumo node $n still runs" ||
            bad "$sname: kumo node $n died: $(tail -n 5 "$tmp/kumo$n.log")"
    done
    echo "# $sname took $(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $t0 }") s"
}

lead_elsewhere 1 || bad "etcd leadership did not move off m1"
scenario follower-kill fault_follower heal_restart 3
scenario leader-kill   fault_leader   heal_restart 3
scenario member-stop   fault_stop     heal_cont    10
scenario kumo-kill     fault_kumo     heal_kumo    2

for n in A B; do
    grep -q "cannot resume" "$tmp/kumo$n.log" && bad "node $n's change feed stopped: $(grep "cannot resume" "$tmp/kumo$n.log" | head -1)" ||
        ok "node $n's change feed never lost a revision"
done
summary
[ $fail -eq 0 ]
