#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# kumo probe vs its Go twin: 100,000 URLs on a local kumo server, 1,000 in
# flight, alternated for ROUNDS rounds; wall time and peak RSS of the prober.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}; N=${N:-100000}; C=${C:-1000}
make --no-print-directory build/kumo build/examples/hello >/dev/null
mkdir -p build/bench/go
GO111MODULE=off go build -o build/bench/go/http_probe bench/go/http_probe.go
tmp=$(mktemp -d)
trap 'kill $srv 2>/dev/null; rm -rf "$tmp"' EXIT
KM_PROCS=1 taskset -c 0 build/examples/hello 127.0.0.1:0 > "$tmp/out" &
srv=$!
for _ in $(seq 50); do grep -q port "$tmp/out" && break; sleep 0.1; done
port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$tmp/out")
{ yes "http://127.0.0.1:$port/ping" || true; } | head -n "$N" > "$tmp/urls"
for r in $(seq "$ROUNDS"); do
  for who in kumo go; do
    if [ $who = kumo ]; then cmd=(build/kumo probe -c "$C" -t 20000 -f "$tmp/urls")
    else cmd=(build/bench/go/http_probe "$C" "$tmp/urls"); fi
    res=$(KM_PROCS=1 GOMAXPROCS=1 taskset -c 1 /usr/bin/time -f "wall=%e s peak_rss=%M KB" "${cmd[@]}" 2>&1 | tr '\n' ' ')
    echo "round=$r $who: $res"
  done
done
