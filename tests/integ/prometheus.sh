#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A real Prometheus scrapes kumo serve's /metrics: promtool accepts the
# exposition, the target is up, http_requests_total moves by exactly the
# requests sent, the store's revision follows the writes, its commit and
# fsync histograms count the commits, and connections and bytes are there.
set -u
build=${1:-build}
. "$(dirname "$0")/common.bash"

if ! command -v prometheus > /dev/null || ! command -v promtool > /dev/null; then
    skip "prometheus is not installed (Debian package prometheus)"
    summary
    exit 0
fi

tmp=$(mktemp -d)
srv=""; prom=""
trap '[ -n "$srv" ] && kill $srv 2>/dev/null; [ -n "$prom" ] && kill $prom 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$build/kumo" serve --listen "127.0.0.1:$port" --data-dir "$tmp/data" > "$tmp/out" 2>&1 &
srv=$!
base="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf "$base/healthz" > /dev/null && break; sleep 0.05; done
curl -sf "$base/healthz" > /dev/null || { echo "kumo serve did not start: $(cat "$tmp/out")"; echo "0 passed, 1 failed"; exit 1; }

# The exposition passes promtool's parser and lint, traffic included.
curl -sf "$base/healthz" > /dev/null
curl -sf -D "$tmp/head" "$base/metrics" > "$tmp/metrics"
if promtool check metrics < "$tmp/metrics" > "$tmp/lint" 2>&1; then
    ok "promtool check metrics"
else
    bad "promtool check metrics: $(cat "$tmp/lint")"
fi
if grep -qi '^Content-Type: text/plain; version=0.0.4; charset=utf-8' "$tmp/head"; then
    ok "content type of the text format 0.0.4"
else
    bad "content type: $(cat "$tmp/head")"
fi

# Our own Prometheus on a free port, scraping every second.
pport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: kumo
    static_configs:
      - targets: ['127.0.0.1:$port']
EOF
prometheus --config.file "$tmp/prometheus.yml" --storage.tsdb.path "$tmp/tsdb" \
    --web.listen-address "127.0.0.1:$pport" > "$tmp/prom.log" 2>&1 &
prom=$!
papi="http://127.0.0.1:$pport/api/v1/query"

# The value of an instant query with one result, or "none".
query() {
    curl -sf -G "$papi" --data-urlencode "query=$1" 2>/dev/null | python3 -c '
import json, sys
try:
    r = json.load(sys.stdin)["data"]["result"]
    print(r[0]["value"][1] if len(r) == 1 else "none")
except Exception:
    print("none")'
}

# Waits up to $2 seconds for query $1 to equal $3.
wait_for() {
    local end=$(( $(date +%s) + $2 )) v
    while :; do
        v=$(query "$1")
        [ "$v" = "$3" ] && return 0
        [ "$(date +%s)" -ge "$end" ] && { echo "  $1 = $v, want $3" >&2; return 1; }
        sleep 0.3
    done
}

if wait_for 'up{job="kumo"}' 15 1; then
    ok "target up in Prometheus"
else
    bad "target not up: $(tail -n 5 "$tmp/prom.log")"
fi

q='http_requests_total{job="kumo",method="GET",route="/healthz",code="200"}'
before=$(query "$q")
if [ "$before" != none ] && [ "$before" -ge 1 ] 2>/dev/null; then ok "http_requests_total scraped ($before so far)"; else bad "before: $before"; fi
for _ in $(seq 37); do curl -sf "$base/healthz" > /dev/null; done
if wait_for "$q" 8 $((before + 37)); then
    ok "http_requests_total moved by the 37 requests sent"
else
    bad "http_requests_total did not reach 38"
fi
if wait_for 'http_request_duration_seconds_count{job="kumo",route="/healthz"}' 3 $((before + 37)); then
    ok "request duration histogram counted them"
else
    bad "duration histogram"
fi
v=$(query 'kumo_goroutines{job="kumo"} > 0 and process_resident_memory_bytes{job="kumo"} > 0')
if [ "$v" != none ]; then ok "runtime and process metrics scraped"; else bad "runtime metrics missing"; fi

for k in a b c; do curl -sf -X PUT "$base/api/v1/kv/$k" -d v > /dev/null; done
if wait_for 'kumo_store_revision{job="kumo"}' 8 4; then
    ok "store revision follows the writes (4 after three puts)"
else
    bad "kumo_store_revision"
fi

if wait_for 'kumo_store_fsync_duration_seconds_count{job="kumo"}' 8 3 &&
   wait_for 'kumo_store_commit_duration_seconds_count{job="kumo"}' 3 3; then
    ok "commit and fsync duration histograms counted the three commits"
else
    bad "commit and fsync histograms"
fi
v=$(query 'kumo_http_received_bytes_total{job="kumo"} > 0 and kumo_http_sent_bytes_total{job="kumo"} > 0 and kumo_http_connections_total{job="kumo"} > 0 and kumo_http_connections{job="kumo"} >= 1')
if [ "$v" != none ]; then ok "HTTP connections and bytes scraped"; else bad "HTTP connections and bytes"; fi

summary
[ $fail -eq 0 ]
