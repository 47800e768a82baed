#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# kumo's HTTP client (through kumo probe) against Debian's nginx on loopback.
set -u
build=${1:-build}
. "$(dirname "$0")/common.bash"

command -v nginx >/dev/null || { echo "nginx missing (scripts/deps.sh installs it)"; echo "0 passed, 1 failed"; exit 1; }
tmp=$(mktemp -d)
chmod 755 "$tmp"   # nginx workers run as an unprivileged user
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$tmp/www" "$tmp/logs"
head -c 1048576 /dev/urandom > "$tmp/www/big"
echo small > "$tmp/www/small"
chmod -R a+rX "$tmp/www"
cat > "$tmp/nginx.conf" <<CONF
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $tmp/body; proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fcgi; uwsgi_temp_path $tmp/uwsgi; scgi_temp_path $tmp/scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$port;
        root $tmp/www;
        location = /ping { default_type text/plain; return 200 "pong"; }
        location = /close { keepalive_timeout 0; default_type text/plain; return 200 "bye"; }
    }
}
CONF
nginx -c "$tmp/nginx.conf" -g 'daemon off;' &
srv=$!
trap 'kill $srv 2>/dev/null; wait $srv 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do curl -s "http://127.0.0.1:$port/ping" >/dev/null && break; sleep 0.1; done

yes "http://127.0.0.1:$port/ping" | head -n 20000 > "$tmp/urls"
out=$("$build/kumo" probe -c 200 -t 10000 -f "$tmp/urls" 2>&1)
echo "$out" | grep -q "20000 ok, 0 failed" && ok "20,000 keep-alive requests to nginx" || bad "ping: $out"

yes "http://127.0.0.1:$port/big" | head -n 200 > "$tmp/urls"
out=$("$build/kumo" probe -c 20 -t 10000 -f "$tmp/urls" 2>&1)
echo "$out" | grep -q "200 ok, 0 failed" && ok "1 MiB bodies" || bad "big: $out"

yes "http://127.0.0.1:$port/close" | head -n 500 > "$tmp/urls"
out=$("$build/kumo" probe -c 50 -t 10000 -f "$tmp/urls" 2>&1)
echo "$out" | grep -q "500 ok, 0 failed" && ok "server-side Connection: close" || bad "close: $out"

out=$("$build/kumo" probe "http://127.0.0.1:$port/missing" "http://127.0.0.1:$port/small" 2>&1)
echo "$out" | grep -q "1 ok, 1 failed (4xx 1" && ok "404 from nginx counted as a failure" || bad "404: $out"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
