# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Shared by bench/h2/run.sh and bench/h2/profile.sh (sourced, from the
# repository's top): the three h2c servers' configurations, starting and
# stopping them pinned, and the check that one answers h2c. Expects WORK
# (absolute), HELLO and SERVER_CPU; sets spid (the server's pid) and tree.
mkdir -p "$WORK/nginx" "$WORK/h2o/docs"
printf pong > "$WORK/h2o/docs/ping"

# nginx 1.22: `http2` on a plain listener is h2c with prior knowledge.
# keepalive_requests caps the requests per HTTP/2 connection too (it replaced
# http2_max_requests, obsolete since 1.19.7, whose default of 1,000 would make
# h2load reconnect); 128 concurrent streams (the default) covers -m100.
nginx_conf() {
  local port=$1 f="$WORK/nginx/nginx.conf"
  {
    [ "$(id -u)" -eq 0 ] && echo "user root;"  # else workers drop to nobody and cannot reach build/
    cat <<EOF
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    http2_max_concurrent_streams 128;
    client_body_temp_path $WORK/nginx/client_body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    server {
        listen 127.0.0.1:$port deferred http2;
        location = /ping { default_type text/plain; return 200 "pong"; }
        location / { return 404; }
    }
}
EOF
  } > "$f"
  echo "$f"
}

# h2o 2.2 speaks h2c with prior knowledge on any plain listener. As in
# bench/http, /ping is file.file on the 4-byte file "ping" (no fixed-response
# directive in 2.2). Its default of 100 concurrent requests per connection
# covers -m100.
h2o_conf() {
  local port=$1 f="$WORK/h2o/h2o.conf"
  {
    [ "$(id -u)" -eq 0 ] && echo "user: root"   # else h2o drops to nobody
    cat <<EOF
num-threads: 1
error-log: $WORK/h2o/error.log
file.mime.setdefaulttype: text/plain
file.etag: OFF
listen:
  host: 127.0.0.1
  port: $port
hosts:
  default:
    paths:
      /ping:
        file.file: $WORK/h2o/docs/ping
EOF
  } > "$f"
  echo "$f"
}

# A free port below the ephemeral range (as bench/http/run.sh).
free_port() {
  python3 - <<'PY'
import random, socket
for _ in range(200):
    p = random.randint(20000, 30000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()
PY
}

# The server's pid and all its descendants (nginx master and worker).
tree_pids() {
  python3 - "$1" <<'PY'
import os, sys
parent = {}
for d in os.listdir('/proc'):
    if d.isdigit():
        try:
            s = open(f'/proc/{d}/stat').read()
        except OSError:
            continue
        parent[int(d)] = int(s[s.rindex(')') + 2:].split()[1])
want, grew = {int(sys.argv[1])}, True
while grew:
    new = {p for p, pp in parent.items() if pp in want} - want
    want |= new
    grew = bool(new)
print(' '.join(map(str, sorted(want))))
PY
}

spid="" tree=""
stop_server() {
  if [ -n "$spid" ]; then
    kill "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    local p
    for p in $tree; do
      [ "$p" = "$spid" ] || kill "$p" 2>/dev/null || true
    done
    spid="" tree=""
  fi
}

# kumo-NAME servers are variant builds of hello named in VARIANTS
# ("kumo-NAME=PATH ..."), so that a change can be measured beside the peers.
variant_bin() {
  local v
  for v in ${VARIANTS:-}; do
    [ "${v%%=*}" = "$1" ] && { echo "${v#*=}"; return 0; }
  done
  return 1
}

# The floor program (bench/h2/floor.c), built when missing or older.
FLOOR=${FLOOR:-build/bench/h2-floor}
build_floor() {
  if [ ! -x "$FLOOR" ] || [ bench/h2/floor.c -nt "$FLOOR" ] || [ bench/h2/floor-loop.h -nt "$FLOOR" ]; then
    mkdir -p "$(dirname "$FLOOR")"
    cc -O2 -o "$FLOOR" bench/h2/floor.c -lnghttp2
  fi
}

start_server() {
  local name=$1 port=$2 cmd bin
  case $name in
    kumo)    cmd=("$HELLO" "127.0.0.1:$port") ;;
    kumo-*)  bin=$(variant_bin "$name") || { echo "bench/h2: $name is not in VARIANTS" >&2; return 1; }
             cmd=("$bin" "127.0.0.1:$port") ;;
    nginx)   cmd=(nginx -p "$WORK/nginx/" -e "$WORK/nginx/error.log"
                  -c "$(nginx_conf "$port")" -g 'daemon off;') ;;
    h2o)     cmd=(h2o -c "$(h2o_conf "$port")") ;;
    # nghttp2's own server (nghttp2-server): what a server built on
    # nghttp2's session API costs when its application does little. It
    # serves the file (open, fstat, read, close per request).
    nghttpd) cmd=(nghttpd --no-tls -a 127.0.0.1 -n 1 -d "$WORK/h2o/docs" "$port") ;;
    # The floor under any server on nghttp2 (bench/h2/floor.c): one
    # thread, one epoll loop, pong with the two fields nghttp2 needs.
    floor)   cmd=("$FLOOR" "127.0.0.1:$port") ;;
    *) echo "bench/h2: unknown server $name" >&2; return 1 ;;
  esac
  echo "KM_PROCS=1 taskset -c $SERVER_CPU ${cmd[*]}" > "$WORK/$name.cmd"
  KM_PROCS=1 taskset -c "$SERVER_CPU" "${cmd[@]}" > "$WORK/$name.out" 2>&1 &
  spid=$!
}

# 0 once GET /ping answers 200 "pong" over HTTP/2 with prior knowledge
# (curl refuses an HTTP/1.1 answer), within 5 s; then nghttp -v records the
# frames, and the server's SETTINGS_MAX_CONCURRENT_STREAMS goes to stdout.
check_h2c() {
  local name=$1 port=$2 ans=""
  for _ in $(seq 1 100); do
    kill -0 "$spid" 2>/dev/null || break
    ans=$(curl -s --http2-prior-knowledge -o "$WORK/.body" -w '%{http_version} %{http_code}' \
          "http://127.0.0.1:$port/ping" 2>/dev/null) || ans="none"
    if [ "$ans" = "2 200" ] && [ "$(cat "$WORK/.body")" = pong ]; then
      nghttp -v "http://127.0.0.1:$port/ping" > "$WORK/$name.nghttp" 2>&1 || true
      grep -q ':status: 200' "$WORK/$name.nghttp" || { echo "   nghttp: no :status 200 ($WORK/$name.nghttp)" >&2; return 1; }
      sed -n 's/.*SETTINGS_MAX_CONCURRENT_STREAMS(0x03):\([0-9]*\).*/\1/p' "$WORK/$name.nghttp" | head -n1
      return 0
    fi
    sleep 0.05
  done
  echo "   last answer: HTTP version and status \"$ans\", body \"$(cat "$WORK/.body" 2>/dev/null || true)\"" >&2
  return 1
}

