#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A reference for what an access log costs a peer: nginx (one worker, no
# master) serving GET /ping with the access log off, on
# (`access_log /dev/null combined`), buffered (`buffer=64k`) and buffered to
# a file under build/ (truncated each run), alternated, keep-alive and
# pipelined; server on core 0, wrk on core 1; prints req/s
# and server CPU per request, as bench/http/middleware.sh does for kumo.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-2}; DURATION=${DURATION:-5}
WORK=$PWD/build/bench/nginx-log
mkdir -p "$WORK"
# shellcheck source=bench/http/measure.sh
. bench/http/measure.sh
conf() {  # $1: name, $2: access_log directive, $3: port
    local d="$WORK/$1"
    mkdir -p "$d"
    {
        [ "$(id -u)" -eq 0 ] && echo "user root;"
        cat <<EOT
worker_processes 1; master_process off; daemon off;
pid $d/nginx.pid; error_log $d/error.log warn;
events { worker_connections 4096; }
http {
    $2
    keepalive_requests 1000000;
    client_body_temp_path $d/cb; proxy_temp_path $d/p; fastcgi_temp_path $d/f;
    uwsgi_temp_path $d/u; scgi_temp_path $d/s;
    server {
        listen 127.0.0.1:$3 deferred;
        location = /ping { default_type text/plain; return 200 "pong"; }
        location / { return 404; }
    }
}
EOT
    } > "$d/nginx.conf"
    echo "$d/nginx.conf"
}
run() {  # $1: label, $2: access_log directive, $3: wrk extra
    local port=$((20000 + RANDOM % 10000)) name=${1%% *}
    taskset -c 0 nginx -p "$WORK/$name/" -e "$WORK/$name/error.log" -c "$(conf "$name" "$2" "$port")" \
        >/dev/null 2>&1 &
    measure "$1" $! "$port" "$3"
}
for _ in $(seq "$ROUNDS"); do
    for mode in keepalive pipeline; do
        extra=""; [ $mode = pipeline ] && extra="-s bench/http/pipeline.lua"
        run "off      $mode" "access_log off;" "$extra"
        run "on       $mode" "access_log /dev/null combined;" "$extra"
        run "buffered $mode" "access_log /dev/null combined buffer=64k;" "$extra"
        : > "$WORK/access.log"
        run "file     $mode" "access_log $WORK/access.log combined buffer=64k;" "$extra"
    done
done
rm -f "$WORK/access.log"
