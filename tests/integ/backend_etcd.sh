#!/bin/bash
# SPDX-License-Identifier: MIT
# kumo serve with its data in a real 3-member etcd cluster (--backend
# etcd://...): etcdctl and curl through kumo, checked against etcd itself:
# the same revisions, writes made on etcd reach watchers of kumo, compaction
# reaches etcd, writes go on after the etcd leader is killed, kumo stops
# cleanly. Usage: backend_etcd.sh [build-dir].
cd "$(dirname "$0")/../.."
build=${1:-build}
. tests/integ/common.bash
export ETCDCTL_API=3
need_etcd "$build/kumo"
tmp=$(mktemp -d)
cl=scripts/etcd-cluster.sh
kpid=
cleanup() {
    [ -n "$kpid" ] && kill "$kpid" 2>/dev/null && wait "$kpid" 2>/dev/null
    $cl stop "$tmp/etcd" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT

E=$($cl start "$tmp/etcd") || { bad "the etcd cluster did not start"; summary; exit 1; }
port=$(free_port)
K=127.0.0.1:$port
"$build/kumo" serve --listen "$K" --backend "etcd://$E" --data-dir "$tmp/kumo" \
    > "$tmp/kumo.log" 2>&1 &
kpid=$!
wait_ready "$port" && ok "kumo serve starts over the cluster" ||
    { bad "kumo serve did not start: $(cat "$tmp/kumo.log")"; summary; exit 1; }

kctl() { etcdctl --endpoints "$K" --command-timeout 5s "$@"; }
ectl() { etcdctl --endpoints "$E" --command-timeout 5s "$@"; }
jrev() { python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])'; }
jcount() { python3 -c 'import json,sys; print(json.load(sys.stdin).get("count", 0))'; }
jmod() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["kvs"][0]["mod_revision"] if d.get("kvs") else "none")'; }

check "put through kumo" "$(kctl put app/a 1)" "OK"
kctl put app/b 2 >/dev/null
check "the value is in etcd" "$(ectl get app/a --print-value-only)" "1"
check "get through kumo" "$(kctl get app/b --print-value-only)" "2"
check "kumo's revision is etcd's" "$(kctl get app/b -w json | jrev)" "$(ectl get app/b -w json | jrev)"
check "mod_revision is etcd's" "$(kctl get app/b -w json | jmod)" "$(ectl get app/b -w json | jmod)"
ectl put app/c 3 >/dev/null
check "a prefix read through kumo sees etcd's write" \
    "$(kctl get --prefix app/ --keys-only | grep -v '^$' | tr '\n' ' ')" "app/a app/b app/c "
check "a prefix count through kumo" "$(kctl get --prefix app/ -w json | jcount)" "3"

out=$(printf 'value("app/a") = "1"\n\nput app/a 11\nget app/b\n\nput app/a 99\n\n' | kctl txn)
check "txn takes the success branch" "$(echo "$out" | head -1)" "SUCCESS"
check "txn's put reached etcd" "$(ectl get app/a --print-value-only)" "11"
out=$(printf 'value("app/a") = "1"\n\nput app/a 12\n\nput app/x failed\n\n' | kctl txn)
check "txn takes the failure branch" "$(echo "$out" | head -1)" "FAILURE"
check "its failure op ran on etcd" "$(ectl get app/x --print-value-only)" "failed"
check "delete through kumo" "$(kctl del app/x)" "1"
check "the key is gone from etcd" "$(ectl get app/x -w json | jcount)" "0"
check "delete --prev-kv" "$(kctl del app/c --prev-kv | tr '\n' ' ')" "1 app/c 3 "

# the native API and the JSON gateway over the same store
check "native PUT answers etcd's revision" \
    "$(curl -s -X PUT "http://$K/api/v1/kv/app/n" -d native)" \
    "{\"revision\":$(ectl get app/n -w json | jrev)}"
check "native GET" "$(curl -s "http://$K/api/v1/kv/app/n")" "native"
check "JSON gateway range" \
    "$(curl -s "http://$K/v3/kv/range" -d '{"key":"YXBwL24="}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["kvs"][0]["value"])')" \
    "bmF0aXZl"

# leases
L=$(kctl lease grant 60 | awk '{print $2}')
[ -n "$L" ] && ok "lease granted through kumo ($L)" || bad "lease grant"
kctl put app/l v --lease="$L" >/dev/null
check "etcd knows the lease and its key" \
    "$(ectl lease timetolive "$L" --keys | grep -o 'attached keys(\[app/l\])')" "attached keys([app/l])"
check "keep-alive through kumo" "$(kctl lease keep-alive --once "$L" | grep -o 'keepalived with TTL(60)')" \
    "keepalived with TTL(60)"
check "lease list through kumo" "$(kctl lease list | grep -c "$L")" "1"
check "revoke through kumo" "$(kctl lease revoke "$L")" "lease $L revoked"
check "the lease's key went with it" "$(ectl get app/l -w json | jcount)" "0"
check "an unknown lease" "$(kctl lease revoke 1234 2>&1 | grep -o 'requested lease not found' | head -1)" \
    "requested lease not found"

# etcd sees one watch however many clients watch through kumo
etcd_watchers() {
    for e in $(echo "$E" | tr , ' '); do curl -s "http://$e/metrics"; done |
        awk '/^etcd_debugging_mvcc_(watch_stream|watcher)_total /{ s[$1] += $2 }
             END { print s["etcd_debugging_mvcc_watch_stream_total"] + 0, s["etcd_debugging_mvcc_watcher_total"] + 0 }'
}
wpids=()
for i in $(seq 30); do timeout 20 etcdctl --endpoints "$K" watch "many/$i" >/dev/null 2>&1 & wpids+=($!); done
for _ in $(seq 100); do
    n=$(curl -s "http://$K/metrics" | awk '/^kumo_watch_watchers /{ print $2 }')
    [ "${n:-0}" -ge 30 ] && break; sleep 0.1
done
check "30 watchers through kumo" "$n" "30"
check "are one watch stream and one watcher on etcd" "$(etcd_watchers)" "1 1"
kill "${wpids[@]}" 2>/dev/null; wait "${wpids[@]}" 2>/dev/null

# watch: a write made on etcd directly reaches a watcher of kumo
timeout 10 etcdctl --endpoints "$K" watch --prefix w/ > "$tmp/watch" 2>&1 &
wp=$!
sleep 1
ectl put w/1 direct >/dev/null
kctl put w/2 kumo >/dev/null
for _ in $(seq 50); do [ "$(grep -c PUT "$tmp/watch")" = 2 ] && break; sleep 0.1; done
kill $wp 2>/dev/null; wait $wp 2>/dev/null
check "a watcher of kumo sees etcd's write and kumo's, in order" \
    "$(tr '\n' ' ' < "$tmp/watch")" "PUT w/1 direct PUT w/2 kumo "
r1=$(ectl get w/1 -w json | jmod)
check "a watch from an old revision replays it" \
    "$(timeout 3 etcdctl --endpoints "$K" watch --rev "$r1" w/1 2>/dev/null | head -3 | tr '\n' ' ')" \
    "PUT w/1 direct "

# compaction through kumo is etcd's
rc=$(ectl get w/2 -w json | jrev)
check "compact through kumo" "$(kctl compact "$rc")" "compacted revision $rc"
check "etcd refuses a read below it" "$(ectl get w/1 --rev $((rc - 1)) 2>&1 | grep -o 'required revision has been compacted' | head -1)" \
    "required revision has been compacted"
check "and so does kumo" "$(kctl get w/1 --rev $((rc - 1)) 2>&1 | grep -o 'required revision has been compacted' | head -1)" \
    "required revision has been compacted"

# maintenance: etcd's own hash and snapshot, through kumo
check "HashKV through kumo is etcd's" \
    "$(kctl endpoint hashkv | awk '{print $2}')" \
    "$(etcdctl --endpoints "$($cl endpoint "$tmp/etcd" 1)" endpoint hashkv | awk '{print $2}')"
kctl snapshot save "$tmp/snap.db" >/dev/null 2>&1
check "a snapshot through kumo restores with etcdctl" \
    "$(etcdctl snapshot restore "$tmp/snap.db" --data-dir "$tmp/restored" >/dev/null 2>&1 && ls "$tmp/restored")" \
    "member"

# the member the change feed follows is stopped (SIGSTOP: its connection
# stays open, it just says nothing): the feed takes it for stalled and
# resumes on another member within 8 s (before the connection's own
# keep-alive, 10 s idle + 5 s, would notice)
feed_ep=$(grep -o 'change feed follows member [0-9.:]*' "$tmp/kumo.log" | tail -n 1 | awk '{ print $NF }')
fm= others=
for m in 1 2 3; do
    ep=$($cl endpoint "$tmp/etcd" $m)
    [ "$ep" = "$feed_ep" ] && fm=$m || others=$others${others:+,}$ep
done
check "kumo's log says which member its change feed follows" "${fm:+a member}" "a member"
if [ -n "$fm" ]; then
    timeout 30 etcdctl --endpoints "$K" watch stall/k > "$tmp/watch3" 2>&1 &
    wp=$!
    sleep 1
    $cl kill "$tmp/etcd" "$fm" STOP
    t0=$(date +%s%N)
    for _ in $(seq 50); do
        etcdctl --endpoints "$others" --command-timeout 2s put stall/k v >/dev/null 2>&1 && break
        sleep 0.2
    done
    for _ in $(seq 150); do grep -q PUT "$tmp/watch3" && break; sleep 0.05; done
    took=$(( ($(date +%s%N) - t0) / 1000000 ))
    seen=$(tr '\n' ' ' < "$tmp/watch3")
    $cl kill "$tmp/etcd" "$fm" CONT
    kill $wp 2>/dev/null; wait $wp 2>/dev/null
    check "a write reaches kumo's watcher while the feed's member is stopped" "$seen" "PUT stall/k v "
    [ "$took" -lt 8000 ] && ok "within 8 s of the stop ($took ms)" ||
        bad "the write reached kumo's watcher $took ms after the stop, not within 8 s"
    check "kumo's log says the member stalled" \
        "$(grep -c "change feed leaves member $feed_ep: stalled" "$tmp/kumo.log")" "1"
    all_healthy=no
    for _ in $(seq 100); do ectl endpoint health >/dev/null 2>&1 && { all_healthy=yes; break; }; sleep 0.2; done
    check "the stopped member is healthy again" "$all_healthy" "yes"
fi

# the etcd leader dies: kumo fails over to the other members
leader=$($cl leader "$tmp/etcd")
$cl kill "$tmp/etcd" "$leader"
done_put=no
for _ in $(seq 50); do kctl put app/after-kill yes >/dev/null 2>&1 && { done_put=yes; break; }; sleep 0.2; done
check "writes go on after the etcd leader is killed" "$done_put" "yes"
survivor=$(( leader % 3 + 1 ))
check "the write is in the cluster" \
    "$(etcdctl --endpoints "$($cl endpoint "$tmp/etcd" "$survivor")" get app/after-kill --print-value-only)" "yes"
timeout 10 etcdctl --endpoints "$K" watch app/after-watch > "$tmp/watch2" 2>&1 &
wp=$!
sleep 1
for _ in $(seq 50); do etcdctl --endpoints "$($cl endpoint "$tmp/etcd" "$survivor")" put app/after-watch v >/dev/null 2>&1 && break; sleep 0.2; done
for _ in $(seq 50); do grep -q PUT "$tmp/watch2" && break; sleep 0.1; done
kill $wp 2>/dev/null; wait $wp 2>/dev/null
check "the change feed goes on after the leader died" "$(tr '\n' ' ' < "$tmp/watch2")" "PUT app/after-watch v "

kill -TERM "$kpid"
wait "$kpid"; st=$?
kpid=
check "kumo stops cleanly on SIGTERM" "$st" "0"
grep -q "cannot resume" "$tmp/kumo.log" && bad "the feed stopped: $(cat "$tmp/kumo.log")" || ok "the feed never lost a revision"
summary
[ $fail -eq 0 ]
