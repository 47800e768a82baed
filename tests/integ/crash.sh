#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Crash safety of `kumo serve`: SIGKILL under concurrent writes, restart, no acknowledged write lost; usage: crash.sh [build-dir].
#
# CRASH_TARGET=etcd runs the same harness against a real etcd.
# CRASH_KILLS (default 5) and CRASH_WRITERS (default 4) size the run.
set -u

build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
command -v python3 >/dev/null || { echo "crash: python3 is required" >&2; exit 2; }

if [ "${CRASH_TARGET:-kumo}" = etcd ]; then
    command -v etcd >/dev/null || { echo "skip: etcd is not installed (apt-get install etcd-server)"; echo "0 passed, 0 failed, 1 skipped"; exit 0; }
    exec timeout 60 python3 "$here/crash.py" etcd
fi
if [ ! -x "$build/kumo" ]; then
    echo "crash: $build/kumo not found (run make first)" >&2
    exit 2
fi
exec timeout 60 python3 "$here/crash.py" kumo "$build/kumo"
