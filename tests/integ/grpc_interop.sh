#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gRPC interoperability: every conformance driver (grpc-go, grpcio) against
# every Echo server (proto/kumo/test/echo.proto); usage: grpc_interop.sh [build-dir].
#
# SERVERS lists the servers checked (default "go kumo": the grpc-go peer and
# kumo's C server, tests/interop/c/echo_server.c; "py" is a grpcio server),
# CLIENTS the drivers (default "go py kumo": grpc-go, grpcio and kumo's C
# client, tests/interop/c/echo_client.c).
# Each driver's checks count one by one. A server must:
# take "--listen 127.0.0.1:0", print its port alone on the first line of
# stdout once it accepts calls, and exit by itself soon after SIGTERM once
# idle; a server that still runs a call its client ended long ago (a delay
# that ignored the cancel) fails that last check.
set -u
build=${1:-build}
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/common.bash"

SERVERS=${SERVERS:-"go kumo"}
CLIENTS=${CLIENTS:-"go py kumo"}
PY=/usr/bin/python3     # Debian's, which has python3-grpcio; not pyenv's

tmp=$(mktemp -d)
spid="" cpid=""
cleanup() {
    # timeout(1) passes SIGTERM on to the driver it runs.
    if [ -n "$cpid" ]; then kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null; fi
    if [ -n "$spid" ]; then kill -9 "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the servers ----
# server_cmd NAME: its command line, one word per line.
server_cmd() {
    case $1 in
    go)   echo "$build/interop/echo_server" ;;
    py)   printf '%s\n' "$PY" "$root/tests/interop/py/echo_server.py" --gen "$build/gen" ;;
    # kumo's C server (tests/interop/c/echo_server.c); KUMO_ECHO_SERVER
    # names another binary.
    kumo) echo "${KUMO_ECHO_SERVER:-$build/interop/kumo_echo_server}" ;;
    *)    return 1 ;;
    esac
}

# start_server NAME: sets spid and port, or returns 1.
start_server() {
    local -a cmd
    mapfile -t cmd < <(server_cmd "$1")
    [ "${#cmd[@]}" -gt 0 ] || { bad "$1 server: unknown (SERVERS=\"$SERVERS\")"; return 1; }
    [ -x "${cmd[0]}" ] || { bad "$1 server: ${cmd[0]} not found"; return 1; }
    "${cmd[@]}" --listen 127.0.0.1:0 > "$tmp/$1.port" 2> "$tmp/$1.log" &
    spid=$!
    port=""
    for _ in $(seq 200); do
        port=$(head -n 1 "$tmp/$1.port" 2>/dev/null)
        [[ $port =~ ^[0-9]+$ ]] && return 0
        kill -0 "$spid" 2>/dev/null || break
        sleep 0.05
    done
    bad "$1 server did not print its port: $(tail -n 5 "$tmp/$1.log")"
    kill -9 "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; spid=""
    return 1
}

# stop_server NAME: SIGTERM, and it must be gone within a second.
stop_server() {
    local rc
    kill -TERM "$spid"
    for _ in $(seq 20); do
        kill -0 "$spid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$spid" 2>/dev/null; then
        bad "$1 server: still running 1 s after SIGTERM (a call left running?)"
        kill -9 "$spid" 2>/dev/null
    else
        wait "$spid"; rc=$?
        check "$1 server: exits 0 on SIGTERM" "$rc" "0"
    fi
    wait "$spid" 2>/dev/null; spid=""
}

# ---- the drivers ----
# client_cmd NAME ADDR: the driver's command line, one word per line.
client_cmd() {
    case $1 in
    go) printf '%s\n' "$build/interop/echo_client" -addr "$2" ;;
    py) printf '%s\n' "$PY" "$root/tests/interop/py/echo_client.py" "$2" --gen "$build/gen" ;;
    # kumo's C client (tests/interop/c/echo_client.c); KUMO_ECHO_CLIENT names
    # another driver that takes HOST:PORT and prints what the two above print.
    kumo) printf '%s\n' "${KUMO_ECHO_CLIENT:-$build/interop/kumo_echo_client}" "$2" ;;
    *)  return 1 ;;
    esac
}

client_ready() {
    case $1 in
    go) [ -x "$build/interop/echo_client" ] || { echo "$build/interop/echo_client not found (make interop)"; return 1; } ;;
    py) [ -x "$PY" ] || { echo "$PY not found (apt-get install python3)"; return 1; }
        "$PY" -c 'import grpc, google.protobuf' 2>/dev/null ||
            { echo "$PY cannot import grpc (apt-get install python3-grpcio python3-protobuf)"; return 1; }
        [ -f "$build/gen/kumo/test/echo_pb2.py" ] || { echo "$build/gen/kumo/test/echo_pb2.py not found (make interop-gen)"; return 1; } ;;
    kumo) local b=${KUMO_ECHO_CLIENT:-$build/interop/kumo_echo_client}
        [ -x "$b" ] || { echo "$b not found"; return 1; } ;;
    *)  echo "unknown (CLIENTS=\"$CLIENTS\")"; return 1 ;;
    esac
}

# run_client CLIENT SERVER: each "ok NAME" / "FAIL NAME: why" of the driver
# counts here; a driver that ends without its summary line is a failure.
run_client() {
    local c=$1 s=$2 out=$tmp/$1-$2.out rc line name
    local -a cmd
    mapfile -t cmd < <(client_cmd "$c" "127.0.0.1:$port")
    # In the background, so that an interrupt runs the cleanup at once.
    timeout 600 "${cmd[@]}" > "$out" 2>&1 &
    cpid=$!
    wait "$cpid"; rc=$?
    cpid=""
    while IFS= read -r line; do
        case $line in
        "ok "*)   ok "$c client -> $s server: ${line#ok }" ;;
        "FAIL "*) name=${line#FAIL }; bad "$c client -> $s server: $name" ;;
        esac
    done < "$out"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
    if [ -z "$line" ]; then
        bad "$c client -> $s server: driver ended (exit $rc) without a summary: $(tail -n 5 "$out" | tr '\n' ' ')"
    elif [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' "$out"; then
        bad "$c client -> $s server: driver exit $rc with no failed check"
    fi
}

echo "info: servers: $SERVERS; clients: $CLIENTS"
echo "info: $(go version 2>/dev/null); grpc-go $(dpkg-query -W -f='${Version}' golang-google-grpc-dev 2>/dev/null); grpcio $("$PY" -c 'import grpc; print(grpc.__version__)' 2>/dev/null)"
for s in $SERVERS; do
    start_server "$s" || continue
    ok "$s server: listening on port $port"
    for c in $CLIENTS; do
        if why=$(client_ready "$c"); then
            run_client "$c" "$s"
        else
            bad "$c client: $why"
        fi
    done
    if kill -0 "$spid" 2>/dev/null; then
        stop_server "$s"
    else
        wait "$spid"; bad "$s server died during the checks (exit $?): $(tail -n 5 "$tmp/$s.log")"; spid=""
    fi
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
