#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Informer benchmark: memory per cached key (one informer over KEYS keys,
# default 10000) and put-to-handler delay with INFORMERS informers (default
# 10000) each on its own watch stream, all in one process. TRANSPORT=grpc
# or json picks the client's transport (default: its own choice).
set -eu
cd "$(dirname "$0")/../.."
n=${INFORMERS:-10000}; keys=${KEYS:-10000}
gcc -std=gnu11 -O2 -Iinclude -Isrc -pthread -D_GNU_SOURCE bench/client/informer_bench.c \
    -o build/bench/informer_bench build/libkumo.a -llmdb -ljansson -lnghttp2 -lprotobuf-c -lssl -lcrypto -pthread -lm
tmp=$(mktemp -d); trap 'kill $srv 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
build/kumo serve --listen 127.0.0.1:$port --data-dir "$tmp/d" 2>/dev/null & srv=$!
sleep 0.5
ulimit -n 20000 2>/dev/null || true
build/bench/informer_bench 127.0.0.1:$port "$n" "$keys" ${TRANSPORT:-}
