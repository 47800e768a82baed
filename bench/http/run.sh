#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs kumo's hello server, Go net/http, fasthttp, nginx and h2o under wrk (keep-alive, pipelined, Connection: close) for ROUNDS rounds in rotating order, prints medians, CPU per request and ratios.
#
# Environment: ROUNDS (default 3), DURATION (seconds per measured wrk run,
# default 5), WARMUP (seconds of keep-alive load after start, default 2),
# CONNS (wrk connections, default 100), SERVERS (default
# "kumo nethttp fasthttp nginx h2o"), MODES (default
# "keepalive pipeline16 close"), SERVER_CPU / CLIENT_CPU (default 0 / 1),
# H2O_HANDLER (file or mruby, default file). Each server runs with
# KM_PROCS=1 / GOMAXPROCS=1 / one nginx worker / one h2o thread. Raw
# results: build/bench/http-results.txt; every wrk output:
# build/bench/http-wrk.log; configs and server logs: build/bench/http/.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-100}
SERVERS=${SERVERS:-"kumo nethttp fasthttp nginx h2o"}
MODES=${MODES:-"keepalive pipeline16 close"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
H2O_HANDLER=${H2O_HANDLER:-file}
OUT=build/bench
RAW=$OUT/http-results.txt
WRKLOG=$OUT/http-wrk.log
WORK=$PWD/$OUT/http
HELLO=build/examples/hello
TCK=$(getconf CLK_TCK)

for t in wrk nginx h2o curl go python3 taskset; do
  command -v "$t" >/dev/null || {
    echo "bench/http: $t not found (apt-get install wrk nginx-light h2o curl golang-go golang-github-valyala-fasthttp-dev)" >&2
    exit 1; }
done
[ -d /usr/share/gocode/src/github.com/valyala/fasthttp ] || {
  echo "bench/http: fasthttp not found (apt-get install golang-github-valyala-fasthttp-dev)" >&2; exit 1; }

[ -x "$HELLO" ] || make --no-print-directory "$HELLO"
mkdir -p "$OUT/go" "$OUT/gopath" "$WORK/nginx" "$WORK/h2o/docs"
echo "building Go peers into $OUT/go/" >&2
for p in nethttp fasthttp; do
  GO111MODULE=off GOPATH="/usr/share/gocode:$PWD/$OUT/gopath" \
    go build -o "$OUT/go/http_$p" "bench/go/http_$p.go"
done
printf pong > "$WORK/h2o/docs/ping"

# Both configs are written per start because they carry the port.
# `deferred`: nginx accepts once the request's first bytes are in (TCP_DEFER_ACCEPT),
# as kumo's HTTP server and h2o do by default.
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
    keepalive_requests 1000000;
    client_body_temp_path $WORK/nginx/client_body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    server {
        listen 127.0.0.1:$port deferred;
        location = /ping { default_type text/plain; return 200 "pong"; }
        location / { return 404; }
    }
}
EOF
  } > "$f"
  echo "$f"
}

# h2o 2.2 has no fixed-response directive: the default serves the file
# "ping" (body "pong") with file.file, ETag off, text/plain as the default
# type; H2O_HANDLER=mruby answers from an mruby Proc instead (slower here).
h2o_conf() {
  local port=$1 f="$WORK/h2o/h2o.conf" handler
  if [ "$H2O_HANDLER" = mruby ]; then
    handler='        mruby.handler: |
          Proc.new do |env|
            [200, {"content-type" => "text/plain"}, ["pong"]]
          end'
  else
    handler="        file.file: $WORK/h2o/docs/ping"
  fi
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
$handler
EOF
  } > "$f"
  echo "$f"
}

# A free port below the ephemeral range, so wrk's client sockets (and the
# TIME_WAIT left by Connection: close runs) never collide with it.
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

# The server's pid and all its descendants (nginx master and worker; h2o and
# its backtrace helper). Kernels without /proc/PID/task/TID/children need a scan.
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

# "utime stime", in clock ticks, summed over the given pids (each
# process's stat already sums its threads).
cpu_ticks() {
  local p s rest ut=0 st=0
  for p in "$@"; do
    s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    rest=${s##*) }
    # shellcheck disable=SC2086
    set -- $rest
    ut=$((ut + ${12})); st=$((st + ${13}))
  done
  echo "$ut $st"
}

# Microseconds per request for $1 clock ticks over $2 requests.
per_req() {
  awk -v d="$1" -v r="$2" -v t="$TCK" 'BEGIN { if (r > 0) printf "%.3f", d * 1e6 / t / r; else print "nan" }'
}

# wrk's latency ("812.00us", "1.23ms", "2.01s") in microseconds.
to_us() {
  awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    f = (u == "us") ? 1 : (u == "ms") ? 1e3 : (u == "s") ? 1e6 : (u == "m") ? 6e7 : -1
    if (f < 0 || v == "") print "nan"; else printf "%.1f", n * f }'
}

spid="" tree=""
stop_server() {
  if [ -n "$spid" ]; then
    kill "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    local p
    for p in $tree; do              # children that outlive their parent
      [ "$p" = "$spid" ] || kill "$p" 2>/dev/null || true
    done
    spid="" tree=""
  fi
}
trap stop_server EXIT

start_server() {
  local name=$1 port=$2 cmd
  case $name in
    kumo)     cmd=("$HELLO" "127.0.0.1:$port") ;;
    nethttp)  cmd=("$OUT/go/http_nethttp" "127.0.0.1:$port") ;;
    fasthttp) cmd=("$OUT/go/http_fasthttp" "127.0.0.1:$port") ;;
    nginx)    cmd=(nginx -p "$WORK/nginx/" -e "$WORK/nginx/error.log"
                   -c "$(nginx_conf "$port")" -g 'daemon off;') ;;
    h2o)      cmd=(h2o -c "$(h2o_conf "$port")") ;;
    *) echo "bench/http: unknown server $name" >&2; return 1 ;;
  esac
  echo "KM_PROCS=1 GOMAXPROCS=1 taskset -c $SERVER_CPU ${cmd[*]}" > "$WORK/$name.cmd"
  KM_PROCS=1 GOMAXPROCS=1 taskset -c "$SERVER_CPU" "${cmd[@]}" > "$WORK/$name.out" 2>&1 &
  spid=$!
}

# 0 once GET /ping answers 200 "pong" (within 5 s).
check_ping() {
  local port=$1 body code
  for _ in $(seq 1 100); do
    kill -0 "$spid" 2>/dev/null || return 1
    code=$(curl -s -o "$WORK/.body" -w '%{http_code}' "http://127.0.0.1:$port/ping" 2>/dev/null) || code=000
    body=$(cat "$WORK/.body" 2>/dev/null || true)
    [ "$code" = 200 ] && [ "$body" = pong ] && return 0
    sleep 0.05
  done
  echo "   last answer: $code \"${body:-}\"" >&2
  return 1
}

wrk_args() {
  local mode=$1 port=$2
  local a=(-t1 "-c$CONNS" "-d${DURATION}s" --latency)
  case $mode in
    keepalive)  ;;
    pipeline16) a+=(-s bench/http/pipeline-raw.lua) ;;
    close)      a+=(-H 'Connection: close') ;;
    *) echo "bench/http: unknown mode $mode" >&2; return 1 ;;
  esac
  printf '%s\n' "${a[@]}" "http://127.0.0.1:$port/ping"
}

: > "$RAW"
: > "$WRKLOG"
{
  echo "# kumo HTTP benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# host: $(uname -srm), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# $(go version); fasthttp $(dpkg-query -W -f='${Version}' golang-github-valyala-fasthttp-dev); $(nginx -v 2>&1); $(h2o --version | head -n1) ($H2O_HANDLER handler); $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2)"
  echo "# rounds=$ROUNDS duration=${DURATION}s warmup=${WARMUP}s conns=$CONNS wrk_threads=1 server_cpu=$SERVER_CPU client_cpu=$CLIENT_CPU clk_tck=$TCK"
} >> "$RAW"

read -r -a servers <<< "$SERVERS"
n=${#servers[@]}
for round in $(seq 1 "$ROUNDS"); do
  # Rotate the order each round so drift on a noisy host hits every server.
  order=()
  for i in $(seq 0 $((n - 1))); do order+=("${servers[$(((i + round - 1) % n))]}"); done
  echo "round $round/$ROUNDS: ${order[*]}" >&2
  for srv in "${order[@]}"; do
    port=$(free_port)
    start_server "$srv" "$port"
    if ! check_ping "$port"; then
      for mode in $MODES; do
        echo "server=$srv mode=$mode round=$round status=fail why=\"no 200 pong on GET /ping\"" >> "$RAW"
      done
      echo "   FAILED: $srv does not answer GET /ping on port $port; see $WORK/$srv.out" >&2
      stop_server
      continue
    fi
    taskset -c "$CLIENT_CPU" wrk -t1 "-c$CONNS" "-d${WARMUP}s" "http://127.0.0.1:$port/ping" > /dev/null
    tree=$(tree_pids "$spid")
    for mode in $MODES; do
      mapfile -t args < <(wrk_args "$mode" "$port")
      tag="server=$srv mode=$mode round=$round"
      # shellcheck disable=SC2086  # tree is a list of pids
      read -r u0 s0 < <(cpu_ticks $tree)
      rc=0
      out=$(WRK_CONNS=$CONNS taskset -c "$CLIENT_CPU" timeout $((DURATION + 30)) wrk "${args[@]}" 2>&1) || rc=$?
      # shellcheck disable=SC2086
      read -r u1 s1 < <(cpu_ticks $tree)
      t0=$((u0 + s0)); t1=$((u1 + s1))
      { echo "== $tag pids=\"$tree\" cpu_ticks=$((t1 - t0))"; echo "wrk ${args[*]}"; echo "$out"; } >> "$WRKLOG"
      if [ "$rc" -ne 0 ] || ! kill -0 "$spid" 2>/dev/null; then
        why="wrk exit $rc"; kill -0 "$spid" 2>/dev/null || why="server died"
        echo "$tag status=fail why=\"$why\"" >> "$RAW"
        echo "   FAILED: $srv $mode round $round ($why)" >&2
        break
      fi
      rps=$(awk '/^Requests\/sec:/ { print $2 }' <<< "$out")
      reqs=$(awk '/ requests in / { print $1 }' <<< "$out")
      p50=$(to_us "$(awk '$1 == "50%" { print $2 }' <<< "$out")")
      p99=$(to_us "$(awk '$1 == "99%" { print $2 }' <<< "$out")")
      wrk_pct="wrk_p50_us=$p50 wrk_p99_us=$p99"
      # Pipelined: wrk's own percentiles are of a distorted histogram
      # (see pipeline-raw.lua); the batches' raw latency replaces them.
      if grep -q '^RAW batches=[1-9]' <<< "$out"; then
        p50=$(sed -n 's/^RAW .* p50=\([0-9]*\).*/\1/p' <<< "$out")
        p99=$(sed -n 's/^RAW .* p99=\([0-9]*\).*/\1/p' <<< "$out")
      fi
      non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: *//p' <<< "$out")
      sockerr=$(sed -n 's/^ *Socket errors: *//p' <<< "$out")
      nsock=$(awk -F'[ ,]+' '{ s = 0; for (i = 2; i <= NF; i += 2) s += $i; print s }' <<< "${sockerr:-connect 0}")
      cpu=$(per_req $((t1 - t0)) "${reqs:-0}"); ucpu=$(per_req $((u1 - u0)) "${reqs:-0}")
      scpu=$(per_req $((s1 - s0)) "${reqs:-0}")
      echo "$tag rps=${rps:-nan} requests=${reqs:-0} p50_us=$p50 p99_us=$p99 $wrk_pct cpu_us_per_req=$cpu user_us_per_req=$ucpu sys_us_per_req=$scpu cpu_ticks=$((t1 - t0)) non2xx=${non2xx:-0} sock_errors=$nsock sock_detail=\"${sockerr:-none}\"" >> "$RAW"
      if [ "${non2xx:-0}" != 0 ] || [ "$nsock" != 0 ]; then
        echo "   WARNING: $srv $mode round $round: non-2xx ${non2xx:-0}, socket errors: ${sockerr:-none}" >&2
      fi
    done
    stop_server
  done
done
echo "# end $(date -u +%Y-%m-%dT%H:%M:%SZ), load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$RAW"

python3 - "$RAW" "$SERVERS" "$MODES" <<'PY'
import re, statistics, sys
from collections import defaultdict

raw, servers, modes = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
names = {'kumo': 'kumo', 'nethttp': 'net/http', 'fasthttp': 'fasthttp', 'nginx': 'nginx', 'h2o': 'h2o'}
vals = defaultdict(list)     # (server, mode, metric) -> [value]
fails = defaultdict(list)    # (server, mode) -> [why]
errs = []                    # runs with non-2xx answers or socket errors
for line in open(raw):
    if line.startswith('#'):
        continue
    kv = {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|\S+)', line)}
    s, m = kv['server'], kv['mode']
    if 'status' in kv:
        fails[(s, m)].append(kv.get('why', ''))
        continue
    for k in ('rps', 'p50_us', 'p99_us', 'cpu_us_per_req', 'user_us_per_req', 'sys_us_per_req'):
        if kv.get(k, 'nan') != 'nan':
            vals[(s, m, k)].append(float(kv[k]))
    if kv['non2xx'] != '0' or kv['sock_errors'] != '0':
        errs.append(f"{names.get(s, s)} {m} round {kv['round']}: non-2xx {kv['non2xx']}, socket errors: {kv['sock_detail']}")

def fmt(v):
    a = abs(v)
    if a >= 1000: return f"{v:,.0f}"
    if a >= 100: return f"{v:.0f}"
    if a >= 10: return f"{v:.1f}"
    return f"{v:.2f}"

def cell(xs, ws, scale=1.0):
    if not xs:
        return f"FAILED ({', '.join(sorted(set(ws)))})" if ws else "-"
    xs = [x * scale for x in xs]
    s = f"{fmt(statistics.median(xs))} [{fmt(min(xs))}–{fmt(max(xs))}]"
    return s + (f" + {len(ws)} failed" if ws else "")

def table(hdr, rows):
    w = [max(len(r[i]) for r in [hdr] + rows) for i in range(len(hdr))]
    line = lambda r: "| " + " | ".join(c.ljust(w[i]) for i, c in enumerate(r)) + " |"
    print(line(hdr))
    print("|" + "|".join("-" * (x + 2) for x in w) + "|")
    for r in rows:
        print(line(r))

rows = []
for m in modes:
    for s in servers:
        f = fails[(s, m)]
        rows.append([m, names.get(s, s), cell(vals[(s, m, 'rps')], f), cell(vals[(s, m, 'p50_us')], f, 1e-3),
                     cell(vals[(s, m, 'p99_us')], f, 1e-3), cell(vals[(s, m, 'cpu_us_per_req')], f)])
table(["mode", "server", "req/s median [min–max]", "p50 ms", "p99 ms", "server CPU µs/req"], rows)

def med(s, m, k):
    xs = vals[(s, m, k)]
    return statistics.median(xs) if xs else None

peers = [p for p in servers if p != 'kumo']
if 'kumo' in servers and peers:
    print()
    rows = []
    for m in modes:
        for k, label in (('rps', 'req/s'), ('cpu_us_per_req', 'CPU/req')):
            r = [m, label]
            for p in peers:
                a, b = med('kumo', m, k), med(p, m, k)
                r.append(f"{a / b:.2f}" if a is not None and b else "-")
            rows.append(r)
    table(["mode", "metric"] + [f"kumo/{names.get(p, p)}" for p in peers], rows)
    print("\nRatios of medians: for req/s above 1 favours kumo, for CPU/req below 1 does.")

# Where the CPU goes: user space (the server's own code and runtime) and the
# kernel (system calls, and the TCP work a loopback send does for the
# receiving socket). The kernel part sets a floor no user-space change moves.
print()
rows = []
for m in modes:
    for s in servers:
        u, k = vals[(s, m, 'user_us_per_req')], vals[(s, m, 'sys_us_per_req')]
        if u and k:
            rows.append([m, names.get(s, s), cell(u, []), cell(k, [])])
if rows:
    table(["mode", "server", "user µs/req", "kernel µs/req"], rows)
print("CPU/req is the server's utime+stime (/proc/PID/stat, all its processes and threads, "
      "10 ms ticks) over the wrk run, divided by the requests wrk completed.")
if errs:
    print("\nRuns with non-2xx responses or socket errors:")
    for e in errs:
        print("  " + e)
nf = sum(len(v) for v in fails.values())
if nf:
    print(f"\n{nf} run(s) failed; see build/bench/http-wrk.log and build/bench/http/*.out")
PY
echo "raw results: $RAW; wrk output: $WRKLOG" >&2

# The observability set on versus off (metrics, request ids, trace context,
# a log record per request): hello with and without --mw, one at a time
# (absolute figures) and in pairs (the cost, without the machine's drift).
echo
echo "observability and middleware, on vs off:"
bench/http/middleware.sh
bench/http/middleware-paired.sh
