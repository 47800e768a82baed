# SPDX-License-Identifier: MIT
# etcd's own client libraries as test drivers for kumo serve's etcd gRPC API
# (tests/integ/etcd_clients.sh runs them against kumo and a real etcd).
# The Go drivers build in GOPATH mode against Debian's clientv3 3.4
# (golang-etcd-server-dev) into $(BUILD)/etcdclients: clientv3_check, and
# scale_check, the load and checker of tests/integ/scale_faults.sh. The
# Python driver (tests/etcdclients/py/) needs no build. Included by the
# top Makefile.

ETCDCLIENTS_BIN       := $(BUILD)/etcdclients
ETCDCLIENTS_GO_SRC    := $(sort $(wildcard tests/etcdclients/go/clientv3_check/*.go))
ETCDCLIENTS_SCALE_SRC := $(sort $(wildcard tests/etcdclients/go/scale_check/*.go))
ETCDCLIENTS_GOENV     := GO111MODULE=off GOPATH=/usr/share/gocode

.PHONY: etcdclients

all: etcdclients
etcdclients: $(ETCDCLIENTS_BIN)/clientv3_check $(ETCDCLIENTS_BIN)/scale_check

# One package main, one file per service checked.
$(ETCDCLIENTS_BIN)/clientv3_check: $(ETCDCLIENTS_GO_SRC)
	@mkdir -p $(dir $@)
	$(ETCDCLIENTS_GOENV) go build -o $@ ./tests/etcdclients/go/clientv3_check

# Writers, watchers and readers through two kumo nodes, checked against
# etcd's own history.
$(ETCDCLIENTS_BIN)/scale_check: $(ETCDCLIENTS_SCALE_SRC)
	@mkdir -p $(dir $@)
	$(ETCDCLIENTS_GOENV) go build -o $@ ./tests/etcdclients/go/scale_check
