# SPDX-License-Identifier: MIT
# etcd's own client libraries as test drivers for kumo serve's etcd gRPC API
# (tests/integ/etcd_clients.sh runs them against kumo and a real etcd).
# The Go driver builds in GOPATH mode against Debian's clientv3 3.4
# (golang-etcd-server-dev) into $(BUILD)/etcdclients; the Python driver
# (tests/etcdclients/py/) needs no build. Included by the top Makefile.

ETCDCLIENTS_BIN    := $(BUILD)/etcdclients
ETCDCLIENTS_GO_SRC := $(sort $(wildcard tests/etcdclients/go/*.go))
ETCDCLIENTS_GO_BIN := $(ETCDCLIENTS_GO_SRC:tests/etcdclients/go/%.go=$(ETCDCLIENTS_BIN)/%)
ETCDCLIENTS_GOENV  := GO111MODULE=off GOPATH=/usr/share/gocode

.PHONY: etcdclients

all: etcdclients
etcdclients: $(ETCDCLIENTS_GO_BIN)

# Each driver is one file, a package main of its own.
$(ETCDCLIENTS_BIN)/%: tests/etcdclients/go/%.go
	@mkdir -p $(dir $@)
	$(ETCDCLIENTS_GOENV) go build -o $@ $<
