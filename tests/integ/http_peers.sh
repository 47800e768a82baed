#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Drives examples/hello with real HTTP peers (curl, Python's http.client, raw sockets, wrk); usage: http_peers.sh [build-dir].
set -u

build=${1:-build}
hello=$build/examples/hello
if [ ! -x "$hello" ]; then
    echo "http_peers: $hello not found (run make first)" >&2
    exit 2
fi
command -v curl >/dev/null || { echo "http_peers: curl is required" >&2; exit 2; }
command -v python3 >/dev/null || { echo "http_peers: python3 is required" >&2; exit 2; }

tmp=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Port 0: hello prints the port it got, so no free-port race.
"$hello" 127.0.0.1:0 >"$tmp/hello.out" 2>"$tmp/hello.err" &
pid=$!
port=
for _ in $(seq 100); do
    port=$(sed -n 's/^hello: serving on port \([0-9][0-9]*\)$/\1/p' "$tmp/hello.out")
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$port" ]; then
    echo "http_peers: hello did not start:" >&2
    cat "$tmp/hello.err" >&2
    exit 1
fi
base=http://127.0.0.1:$port
echo "http_peers: hello (pid $pid) on port $port"

pass=0
fail=0
skipped=0
# check NAME CMD...: runs CMD, counts and reports the result.
check() {
    local name=$1; shift
    if "$@" >"$tmp/out" 2>&1; then
        pass=$((pass + 1))
        echo "ok   $name"
    else
        fail=$((fail + 1))
        echo "FAIL $name"
        sed 's/^/     /' "$tmp/out" | tail -n 20
    fi
}

# has_line FILE LINE: FILE (CRLF lines) has exactly LINE, case-insensitively.
has_line() {
    tr -d '\r' <"$1" | grep -qixF "$2" || { echo "no '$2' in:"; cat "$1"; return 1; }
}

# expect WANT GOT: equal strings, else say what differed.
expect() {
    [ "$1" = "$2" ] || { echo "want: $1"; echo "got:  $2"; return 1; }
}

c() { curl -sS --max-time 20 "$@"; }

# ---- curl ----

t_ping() { expect pong "$(c "$base/ping")"; }
t_404() { expect 404 "$(c -o /dev/null -w '%{http_code}' "$base/nope")"; }
t_405() {
    c -o /dev/null -D "$tmp/h" -w '%{http_code}\n' -X DELETE "$base/ping" >"$tmp/code" || return 1
    expect 405 "$(cat "$tmp/code")" || return 1
    has_line "$tmp/h" 'Allow: GET' || return 1
    c -o /dev/null -D "$tmp/h" "$base/echo" || return 1
    has_line "$tmp/h" 'Allow: POST' 
}
t_head() {
    # -I reads no body; a HEAD then a GET on one connection show whether
    # body bytes were sent anyway (the GET would read them as its answer)
    c -I -o "$tmp/h" "$base/ping" || return 1
    has_line "$tmp/h" 'Content-Length: 4' || return 1
    grep -q '^HTTP/1.1 200' "$tmp/h" || { cat "$tmp/h"; return 1; }
    local out
    out=$(c -I -o /dev/null -w '%{num_connects}|' "$base/ping" --next -w '|%{num_connects}' "$base/ping") || return 1
    expect '1|pong|0' "$out"
}
t_chunked_upload() {
    head -c 300000 /dev/urandom >"$tmp/up.bin"
    c -H 'Transfer-Encoding: chunked' --data-binary @"$tmp/up.bin" -o "$tmp/down.bin" "$base/echo" || return 1
    cmp "$tmp/up.bin" "$tmp/down.bin"
}
t_expect_continue() {
    head -c 102400 /dev/urandom >"$tmp/up100k.bin"
    # a long expect100 timeout: the upload is only quick if the server sends 100
    local t0=$SECONDS
    c -v --expect100-timeout 30 -H 'Expect: 100-continue' --data-binary @"$tmp/up100k.bin" \
      -o "$tmp/down100k.bin" "$base/echo" 2>"$tmp/v" || { cat "$tmp/v"; return 1; }
    grep -q '^< HTTP/1.1 100 Continue' "$tmp/v" || { echo "no 100 Continue:"; grep '^[<>]' "$tmp/v"; return 1; }
    [ $((SECONDS - t0)) -lt 15 ] || { echo "took $((SECONDS - t0)) s"; return 1; }
    cmp "$tmp/up100k.bin" "$tmp/down100k.bin"
}
t_http10() {
    c --http1.0 -D "$tmp/h" -o "$tmp/b" "$base/ping" || return 1
    grep -q '^HTTP/1.0 200' "$tmp/h" || { cat "$tmp/h"; return 1; }
    expect pong "$(cat "$tmp/b")"
}

check "curl GET /ping -> pong" t_ping
check "curl 404" t_404
check "curl 405 with Allow" t_405
check "curl HEAD: length, no body" t_head
check "curl chunked upload echoed" t_chunked_upload
check "curl Expect: 100-continue upload (100 KiB)" t_expect_continue
check "curl --http1.0" t_http10

# ---- Python ----

py() { python3 - "$port" "$@"; }

t_py_keepalive() {
    py <<'EOF'
import http.client, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=20)
first = None
for i in range(100):
    conn.request("GET", "/ping")
    r = conn.getresponse()
    body = r.read()
    assert r.status == 200 and body == b"pong", (i, r.status, body)
    assert not r.will_close, i
    name = conn.sock.getsockname()
    first = first or name
    assert name == first, f"request {i} on a new connection {name} (first {first})"
conn.close()
EOF
}
t_py_chunked() {
    py <<'EOF'
import http.client, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=20)
parts = [b"abc", b"", b"x" * 5000, b"\r\n0\r\n\r\n", b"end"]
conn.request("POST", "/echo", body=iter(parts), encode_chunked=True,
             headers={"Transfer-Encoding": "chunked"})
r = conn.getresponse()
body = r.read()
assert r.status == 200 and body == b"".join(parts), (r.status, body[:60])
conn.request("GET", "/ping")        # the connection is still good
r = conn.getresponse()
assert r.read() == b"pong"
conn.close()
EOF
}
t_py_pipelining() {
    py <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
reqs = b"".join(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\nrequest-%d"
                % (len(b"request-%d" % i), i) for i in range(10))
s.sendall(reqs)
buf = b""
def need(pred):
    global buf
    while not pred():
        d = s.recv(65536)
        assert d, "EOF before all responses"
        buf += d
for i in range(10):
    need(lambda: b"\r\n\r\n" in buf)
    head, _, buf = buf.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    n = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0]
    need(lambda: len(buf) >= n)
    body, buf = buf[:n], buf[n:]
    assert body == b"request-%d" % i, (i, body)
assert buf == b"", buf
s.close()
EOF
}
t_py_smuggling() {
    py <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
          b"0\r\n\r\nGET /ping HTTP/1.1\r\nHost: t\r\n\r\n")
buf = b""
while True:
    d = s.recv(65536)       # the server must close: EOF, not the timeout
    if not d:
        break
    buf += d
assert buf.startswith(b"HTTP/1.1 400 "), buf
assert buf.count(b"HTTP/1.1") == 1, f"the smuggled request was answered: {buf!r}"
assert b"connection: close" in buf.lower(), buf
s.close()
EOF
}

check "python http.client: 100 requests on one connection" t_py_keepalive
check "python http.client: chunked request (encode_chunked)" t_py_chunked
check "python raw socket: 10 pipelined requests" t_py_pipelining
check "python raw socket: CL+TE smuggling -> 400 and close" t_py_smuggling

# ---- wrk ----

t_wrk() {
    wrk -t1 -c10 -d2s "$base/ping" >"$tmp/wrk" 2>&1 || { cat "$tmp/wrk"; return 1; }
    cat "$tmp/wrk"
    # wrk prints these lines only when the counts are not zero
    if grep -q 'Non-2xx or 3xx responses' "$tmp/wrk" || grep -q 'Socket errors' "$tmp/wrk"; then
        return 1
    fi
    grep -Eq '^ +[1-9][0-9]* requests in' "$tmp/wrk"
}
if command -v wrk >/dev/null; then
    check "wrk -t1 -c10 -d2s: no errors, no non-2xx" t_wrk
else
    echo "skip: wrk is not installed (apt-get install -y wrk)"
    skipped=$((skipped + 1))
fi

# ---- the server survived it all ----

t_alive() {
    kill -0 "$pid" || { echo "hello exited:"; cat "$tmp/hello.err"; return 1; }
    expect pong "$(c "$base/ping")"
}
check "hello still serving" t_alive

echo "$pass passed, $fail failed, $skipped skipped"
[ "$fail" -eq 0 ]
