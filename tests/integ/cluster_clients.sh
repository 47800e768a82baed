#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# etcd's own clients against kumo serve over a real 3-member etcd cluster
# (--backend etcd://): etcdctl's commands compared with a real etcd's
# (etcdctl.sh, COMPAT_PEER=kumoetcd), and clientv3 and python-etcd3
# (etcd_clients.sh, TARGETS=kumoetcd); usage: cluster_clients.sh [build-dir].
set -u
build=${1:-build}
here=$(dirname "$0")
pass=0; fail=0
run() {
    local out line
    out=$("$@" 2>&1)
    printf '%s\n' "$out" | grep -E '^(FAIL|skip:)'
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    if [ -z "$line" ]; then
        echo "FAIL $*: no summary: $(printf '%s\n' "$out" | tail -n 3 | tr '\n' ' ')"
        fail=$((fail + 1)); return
    fi
    pass=$((pass + $(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')))
    fail=$((fail + $(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')))
}
run env COMPAT_PEER=kumoetcd bash "$here/etcdctl.sh" "$build"
run env TARGETS=kumoetcd bash "$here/etcd_clients.sh" "$build"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
