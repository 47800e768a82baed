#!/bin/sh
# Installs the Debian packages kumo needs to build, test and benchmark,
# skipping those already present. Runs as root (or through sudo).
set -e
PKGS="build-essential pkg-config check valgrind golang-go clang libclang-rt-14-dev curl python3 nginx-light wrk h2o golang-github-valyala-fasthttp-dev liblmdb-dev libjansson-dev etcd-server etcd-client prometheus golang-github-prometheus-client-golang-dev"
# HTTP/2: nghttp2 (the library; h2load, nghttp and nghttpd as peers)
PKGS="$PKGS libnghttp2-dev nghttp2-client nghttp2-server"
# gRPC: code generators, the grpc-go and grpcio peers (mk/interop.mk,
# tests/interop/, tests/integ/grpc_interop.sh, bench/grpc/)
PKGS="$PKGS protobuf-compiler protobuf-c-compiler libprotobuf-c-dev golang-goprotobuf-dev golang-google-grpc-dev python3-grpcio python3-protobuf"
# etcd's own clients against kumo serve: Go's clientv3 (GOPATH mode) and python-etcd3.
PKGS="$PKGS golang-etcd-server-dev python3-etcd3"
# disk_full.sh mounts a small tmpfs.
PKGS="$PKGS mount"
# TLS: OpenSSL 3 (the library; the openssl command makes the tests' certificates).
PKGS="$PKGS libssl-dev openssl"
# Namespaces' YAML validation (src/release/format.c): libyaml's parser.
PKGS="$PKGS libyaml-dev"
# The web console in a real browser (tests/integ/console.sh): headless chromium through selenium.
PKGS="$PKGS chromium chromium-driver python3-selenium"
# Redis client tests (tests/unit/redis/) start their own redis-server; Sentinel for failover.
PKGS="$PKGS redis-server redis-sentinel"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
