#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# etcdctl 3.4 against a real etcd and against `kumo serve` over gRPC: the same
# commands on both, outputs compared once what legitimately differs (cluster,
# member and lease IDs, raft terms and indexes, sizes, versions, addresses,
# timings) is normalised; usage: etcdctl.sh [build-dir].
#
# COMPAT_PEER=etcd runs two etcd servers against each other instead (the
# harness must find no difference there); COMPAT_PEER=kumoetcd runs kumo
# serve --backend etcd:// over a 3-member etcd cluster as the peer. KUMO_TEST_PORTS=LO-HI takes the
# ports from that range instead of letting the kernel choose. The harness
# (servers, steps, comparison) is compat.bash.
set -u
build=${1:-build}
kumo=$build/kumo
peer=${COMPAT_PEER:-kumo}
. "$(dirname "$0")/compat.bash"

missing=""
command -v etcd >/dev/null || missing+=" etcd (apt-get install etcd-server)"
command -v etcdctl >/dev/null || missing+=" etcdctl (apt-get install etcd-client)"
[ "$peer" = etcd ] || [ -x "$kumo" ] || missing+=" $kumo (run make first)"
if [ -n "$missing" ]; then
    bad "missing:$missing"
    echo "$pass passed, $fail failed"
    exit 1
fi

side() {
    side_begin "$1" "$2"
    local r r1 r2 id id2 w1 w2 w3 p1 p2 p3 nl=$'\n'
    local ID_LINE='s/^[0-9a-f]+$/ID/' LOCK_KEY='s#^(lk|el)/[0-9a-f]+$#\1/ID#'

    # put
    step "put";                         run ctl put foo bar
    step "put --prev-kv";               run ctl put foo baz --prev-kv
    step "put -w json";                 run ctl put foo qux -w json
    step "put value with spaces";       run ctl put sp "a b  c"
    step "put empty value";             run ctl put ev ""
    step "put empty key" -x 1;          run ctl put "" v
    # get
    for k in a b c d; do ctl put "p/$k" "$k$k" >/dev/null; done
    ctl put p/b 2 >/dev/null; ctl put p/a zz >/dev/null
    step "get";                         run ctl get foo
    step "get missing";                 run ctl get nothing
    step "get empty key" -x 1;          run ctl get ""
    step "get --prefix";                run ctl get p/ --prefix
    step "get range";                   run ctl get p/a p/c
    step "get --from-key";              run ctl get --from-key p/b
    step "get --limit -w json";         run ctl get p/ --prefix --limit 2 -w json
    step "get --sort-by VALUE";         run ctl get p/ --prefix --sort-by VALUE
    step "get --sort-by MODIFY --order DESCEND"
    run ctl get p/ --prefix --sort-by MODIFY --order DESCEND
    step "get --sort-by CREATE --order ASCEND --limit 3"
    run ctl get p/ --prefix --sort-by CREATE --order ASCEND --limit 3
    step "get --sort-by VERSION --order DESCEND"
    run ctl get p/ --prefix --sort-by VERSION --order DESCEND
    step "get --order DESCEND";         run ctl get p/ --prefix --order DESCEND
    step "get --keys-only";             run ctl get p/ --prefix --keys-only
    step "get --print-value-only";      run ctl get p/ --prefix --print-value-only
    step "get -w json";                 run ctl get p/a -w json
    step "get --keys-only -w json";     run ctl get p/ --prefix --keys-only -w json
    step "get --consistency=s";         run ctl get p/a --consistency=s -w json
    r1=$(ctl put foo r1 -w json | rev); ctl put foo r2 >/dev/null
    step "get --rev";                   run ctl get foo --rev "$r1"
    step "get --rev -w json";           run ctl get foo --rev "$((r1 - 1))" -w json
    step "get at a future revision" -x 1
    run ctl get foo --rev 100000

    # put --lease, --ignore-value, --ignore-lease
    id=$(ctl lease grant 300 | awk '{print $2}')
    step "put --lease";                 run ctl put lk lv --lease "$id"
    step "get a leased key -w json";    run ctl get lk -w json
    step "put --ignore-value";          run ctl put lk --ignore-value --lease "$id"
    step "get after --ignore-value";    run ctl get lk -w json
    step "put --ignore-lease";          run ctl put lk lv2 --ignore-lease
    step "get after --ignore-lease";    run ctl get lk -w json
    step "put --ignore-value without --lease"; run ctl put lk --ignore-value
    step "lease dropped by --ignore-value";    run ctl get lk -w json
    step "put --ignore-value, missing key" -x 1; run ctl put nokey --ignore-value
    step "put --ignore-lease, missing key" -x 1; run ctl put nokey v --ignore-lease
    step "put with an unknown lease" -x 1;       run ctl put k v --lease 1234

    # del
    for k in a b c; do ctl put "d/$k" "$k" >/dev/null; ctl put "e/$k" "$k" >/dev/null; done
    step "del";                         run ctl del sp
    step "del missing";                 run ctl del sp
    step "del --prev-kv";               run ctl del ev --prev-kv
    step "del range";                   run ctl del d/a d/b
    step "del --prefix --prev-kv";      run ctl del d/ --prefix --prev-kv
    step "del --from-key";              run ctl del --from-key e/b
    step "del -w json";                 run ctl del e/ --prefix -w json
    step "del empty key" -x 1;          run ctl del ""

    # txn, from stdin
    ctl put t 1 >/dev/null
    step "txn success"
    run_in $'value("t") = "1"\nmod("t") > "0"\n\nput t2 x\nget t\n\nput t3 y\n\n' ctl txn
    step "txn failure"
    run_in $'value("t") = "9"\n\nput t2 z\n\ndel t2\nget t --prefix\n\n' ctl txn
    step "txn -i"
    run_in $'version("t") = "1"\ncreate("t2") > "0"\n\nput "t 4" "a b"\nget t --prefix --keys-only\n\nput t5 v\n\n' ctl txn -i
    step "txn -w json"
    run_in $'value("t") = "1"\n\nget t\nput t6 w\n\ndel t\n\n' ctl txn -w json
    step "txn: create if absent"
    run_in $'create("t7") = "0"\n\nput t7 first\n\nget t7\n\n' ctl txn
    step "txn: create if absent, again"
    run_in $'create("t7") = "0"\n\nput t7 second\n\nget t7\n\n' ctl txn
    step "txn empty";                   run_in $'\n\n\n' ctl txn -w json
    step "txn bad compare" -x 3;        run_in $'bogus("t") = "1"\n\n\n' ctl txn

    # watch: from a known revision, so that no event can be missed
    r=$(ctl put w/0 x -w json | rev)
    step "watch --prefix --rev" -x 143
    bg_start watch w/ --prefix --rev "$((r + 1))"; w1=$bg_n; p1=$bg_pid
    step "watch --prev-kv --rev" -x 143
    bg_start watch w/1 --prev-kv --rev "$((r + 1))"; w2=$bg_n; p2=$bg_pid
    step "watch a range" -x 143
    bg_start watch w/1 w/3 --rev "$r"; w3=$bg_n; p3=$bg_pid
    ctl put w/1 a >/dev/null; ctl put w/2 b >/dev/null; ctl put w/1 c >/dev/null
    ctl del w/1 >/dev/null; ctl put w/3 d >/dev/null
    bg_stop $w1 $p1 15 TERM; bg_stop $w2 $p2 14 TERM; bg_stop $w3 $p3 12 TERM
    r=$(ctl put w/j j -w json | rev)
    step "watch -w json" -x 143
    bg_start watch w/j --rev "$r" -w json; bg_stop $bg_n $bg_pid 1 TERM
    wi() { (printf 'watch w/ --prefix --rev %s\n' "$1"; sleep 0.5; printf 'progress\n'; sleep 0.4) |
               ctl watch -i "${@:2}"; }
    step "watch -i, progress" -x 3;     run wi "$r"
    step "watch -i --prev-kv -w json" -x 3; run wi "$r" --prev-kv -w json

    # lease
    step "lease grant" -f 's/lease [0-9a-f]+ /lease ID /'
    run ctl lease grant 60
    id2=$(awk '{print $2}' "$f.out")
    step "lease grant -w json";         run ctl lease grant 61 -w json
    ctl put lk2 v --lease "$id2" >/dev/null; ctl put lk3 v --lease "$id2" >/dev/null
    step "lease timetolive"
    run ctl lease timetolive "$id2"
    # etcd lists a lease's keys in Go's map order: sorted here
    step "lease timetolive --keys" -f 's/\[lk3 lk2\]/[lk2 lk3]/'
    run ctl lease timetolive "$id2" --keys
    step "lease timetolive --keys -w json" -f 's/"bGsz","bGsy"/"bGsy","bGsz"/'
    run ctl lease timetolive "$id2" --keys -w json
    step "lease list" -f "$ID_LINE";    run ctl lease list
    step "lease list -w json";          run ctl lease list -w json
    step "lease keep-alive --once";     run ctl lease keep-alive --once "$id2"
    step "lease keep-alive --once -w json"; run ctl lease keep-alive --once "$id2" -w json
    step "lease revoke";                run ctl lease revoke "$id2"
    step "revoke deleted the keys";     run ctl get lk --prefix
    step "lease timetolive, revoked";   run ctl lease timetolive "$id2"
    step "lease revoke unknown" -x 1;   run ctl lease revoke 1234
    step "lease keep-alive --once unknown" -x 2; run ctl lease keep-alive --once 1234
    step "lease grant 0 (etcd makes it its minimum)"; run ctl lease grant 0
    ctl lease revoke "$id" >/dev/null

    # lock and elect
    step "lock NAME -- cmd";            run ctl lock lk -- echo hello
    step "lock held" -f "$LOCK_KEY"
    bg_start lock lk; w1=$bg_n; p1=$bg_pid
    for _ in $(seq 60); do [ -s "$dir/s$w1.out" ] && break; sleep 0.05; done
    step "lock waits while held" -x 124
    run timeout 1 etcdctl --endpoints="$EP" lock lk -- echo got
    bg_stop $w1 $p1 1 INT
    step "lock after release";          run ctl lock lk -- echo got
    step "elect NAME PROPOSAL" -f "$LOCK_KEY"
    bg_start elect el prop1; w1=$bg_n; p1=$bg_pid
    step "elect -l sees both leaders" -f "$LOCK_KEY"
    bg_start elect -l el; w2=$bg_n; p2=$bg_pid
    for _ in $(seq 60); do [ "$(wc -l <"$dir/s$w2.out")" -ge 2 ] && break; sleep 0.05; done
    step "elect: the second candidate leads once the first resigns" -f "$LOCK_KEY"
    bg_start elect el prop2; w3=$bg_n; p3=$bg_pid
    sleep 0.3
    bg_stop $w1 $p1 2 INT; bg_stop $w3 $p3 2 INT; bg_stop $w2 $p2 4 INT

    # maintenance and cluster
    step "endpoint health";             run ctl endpoint health
    step "endpoint health -w json";     run ctl endpoint health -w json
    step "endpoint status" \
        -f 's/^([^,]+), [0-9a-f]+, [^,]+, [^,]+, (true|false), (true|false), [0-9]+, [0-9]+, [0-9]+, /\1, ID, V, SIZE, \2, \3, N, N, N, /'
    run ctl endpoint status
    step "endpoint status -w json";     run ctl endpoint status -w json
    # kumo has no peers, hence no peer URL to show
    step "member list" -f 's/^[0-9a-f]+, ([^,]*), ([^,]*), [^,]*,/ID, \1, \2, PEER,/'
    run ctl member list
    step "member list -w json" -f 's/"peerURLs":\[[^]]*\],?//'
    run ctl member list -w json
    step "alarm list";                  run ctl alarm list
    step "defrag";                      run ctl defrag
    # auth left disabled: a login, the (empty) user and role lists. Adding
    # users and roles is checked below: kumo refuses it until it has auth.
    step "get with --user while auth is off"; run ctl --user root:pw get foo
    step "auth disable";                run ctl auth disable
    step "user list";                   run ctl user list
    step "role list";                   run ctl role list
    step "snapshot save";               run ctl snapshot save "$dir/snap.db"
    step "snapshot file exists";        run test -s "$dir/snap.db"

    # compaction last: it makes the history above unreadable
    r1=$(ctl put c 1 -w json | rev); r2=$(ctl put c 2 -w json | rev)
    step "compaction";                  run ctl compaction "$r1"
    step "compaction --physical";       run ctl compaction --physical "$r2"
    step "compaction again" -x 1;       run ctl compaction "$r1"
    step "compaction at a future revision" -x 1; run ctl compaction 100000
    step "get below the compaction" -x 1;  run ctl get c --rev "$((r2 - 1))"
    step "get at the compaction";       run ctl get c --rev "$r2"
    step "watch below the compaction" -x 5; run ctl watch c --rev "$((r2 - 1))"
}

# mirror SRC DST NAME: make-mirror from SRC to DST of the prefix NAME/; the
# keys put in SRC before and after it started should arrive in DST.
mirror() {
    local src=$1 dst=$2 pre=$3/ pid got want
    want="${pre}a${nl}1${nl}${pre}b${nl}2${nl}${pre}c${nl}3"
    etcdctl --endpoints="$src" put "${pre}a" 1 >/dev/null
    etcdctl --endpoints="$src" put "${pre}b" 2 >/dev/null
    timeout -k 1 20 etcdctl --endpoints="$src" make-mirror --prefix "$pre" "$dst" \
        >"$tmp/mirror-$3.log" 2>&1 &
    pid=$!
    sleep 0.3
    etcdctl --endpoints="$src" put "${pre}c" 3 >/dev/null
    for _ in $(seq 50); do
        got=$(etcdctl --endpoints="$dst" get --prefix "$pre" 2>/dev/null)
        [ "$got" == "$want" ] && break
        sleep 0.1
    done
    kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null
    echo "$got" >"$tmp/mirror-$3.got"
}

nl=$'\n'
other=$peer; [ "$peer" = etcd ] && other=etcd2
start_etcd etcd || { echo "$pass passed, $fail failed"; exit 1; }
e_ep=$ep
if [ "$peer" = etcd ]; then start_etcd etcd2; else start_kumo kumo; fi ||
    { echo "$pass passed, $fail failed"; exit 1; }
k_ep=$ep

side "$e_ep" etcd & s1=$!
side "$k_ep" "$other" & s2=$!
wait $s1 $s2
compare etcd "$other"

mirror "$k_ep" "$e_ep" mk & s1=$!
mirror "$e_ep" "$k_ep" me & s2=$!
wait $s1 $s2
for m in "mk:$other to etcd" "me:etcd to $other"; do
    pre=${m%%:*}
    got=$(cat "$tmp/mirror-$pre.got")
    want="$pre/a${nl}1${nl}$pre/b${nl}2${nl}$pre/c${nl}3"
    check "make-mirror ${m#*:}" "$got" "$want"
    [ "$got" == "$want" ] || grep -v '^{"level"' "$tmp/mirror-$pre.log" | head -n 5 | sed 's/^/  /'
done

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
