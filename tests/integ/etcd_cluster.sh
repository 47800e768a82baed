#!/bin/bash
# SPDX-License-Identifier: MIT
# The 3-member etcd cluster script (scripts/etcd-cluster.sh) that the
# scale-out tests stand on: it starts a real Raft cluster on loopback,
# survives a killed leader and a stopped member, restarts a member that
# catches up, and stops cleanly.
cd "$(dirname "$0")/../.."
. tests/integ/common.bash
need_etcd
tmp=$(mktemp -d)
cl=scripts/etcd-cluster.sh
trap '$cl stop "$tmp" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
ctl() { ETCDCTL_API=3 etcdctl --endpoints "$E" --command-timeout 5s "$@"; }

E=$($cl start "$tmp") && ok "three members start and are healthy" || { bad "start failed"; summary; exit 1; }
check "endpoints, one per member" "$E" "$($cl endpoint "$tmp" 1),$($cl endpoint "$tmp" 2),$($cl endpoint "$tmp" 3)"
check "three voting members" "$(ctl member list | awk -F', ' '{print $3}' | sort | tr '\n' ' ')" "m1 m2 m3 "

ctl put k v1 >/dev/null
check "a write through one member is read through another" \
    "$(ETCDCTL_API=3 etcdctl --endpoints "$($cl endpoint "$tmp" 3)" get k --print-value-only)" "v1"

leader=$($cl leader "$tmp") && ok "one member leads (m$leader)" || bad "no leader"
$cl kill "$tmp" "$leader"
for _ in $(seq 50); do ctl put k v2 >/dev/null 2>&1 && break; sleep 0.2; done
check "writes go on after the leader is killed" "$(ctl get k --print-value-only --consistency l)" "v2"
nl=$($cl leader "$tmp") && [ "$nl" != "$leader" ] && ok "another member leads (m$nl)" || bad "no new leader: $nl"
$cl restart "$tmp" "$leader" && ok "the killed member restarts on its data" || bad "restart failed"
check "and catches up" \
    "$(ETCDCTL_API=3 etcdctl --endpoints "$($cl endpoint "$tmp" "$leader")" get k --print-value-only --consistency s)" "v2"

follower=$(( nl % 3 + 1 ))
$cl kill "$tmp" "$follower" STOP
check "a quorum write while a member is stopped" "$(ctl put k v3 2>&1)" "OK"
$cl kill "$tmp" "$follower" CONT
for _ in $(seq 50); do
    v=$(ETCDCTL_API=3 etcdctl --endpoints "$($cl endpoint "$tmp" "$follower")" get k --print-value-only --consistency s 2>/dev/null)
    [ "$v" = v3 ] && break; sleep 0.1
done
check "the stopped member catches up once continued" "$v" "v3"

$cl stop "$tmp"
left=0
for n in 1 2 3; do [ -f "$tmp/m$n.pid" ] && left=$((left + 1)); done
check "stop leaves no member running" "$left $(pgrep -f -- "--data-dir $tmp/m" | wc -l)" "0 0"
summary
[ $fail -eq 0 ]
