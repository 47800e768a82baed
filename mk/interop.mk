# SPDX-License-Identifier: MIT
# gRPC interoperability peers: code generated from proto/kumo/test/echo.proto
# (Go, Python, C) and the grpc-go Echo server and conformance client, all
# under $(BUILD)/ and never committed. Included by the top Makefile.
#
# Go builds in GOPATH mode against Debian's packages: protoc-gen-go 1.3.5
# (golang-goprotobuf-dev) with plugins=grpc writes the messages and the
# gRPC client and server code in one file, for github.com/golang/protobuf 1.3 and grpc-go 1.33.

ECHO_PROTO   := proto/kumo/test/echo.proto
INTEROP_GEN  := $(BUILD)/gen
INTEROP_GOPATH := $(BUILD)/gopath
INTEROP_BIN  := $(BUILD)/interop

ECHO_GO      := $(INTEROP_GOPATH)/src/kumo/testpb/echo.pb.go
ECHO_PY      := $(INTEROP_GEN)/kumo/test/echo_pb2.py
ECHO_C       := $(INTEROP_GEN)/kumo/test/echo.pb-c.c $(INTEROP_GEN)/kumo/test/echo.pb-c.h

INTEROP_GO_SRC := $(sort $(wildcard tests/interop/go/*.go))
INTEROP_GO_BIN := $(INTEROP_GO_SRC:tests/interop/go/%.go=$(INTEROP_BIN)/%)

INTEROP_GOENV := GO111MODULE=off GOPATH=/usr/share/gocode:$(CURDIR)/$(INTEROP_GOPATH)

.PHONY: interop interop-gen bench-grpc

all: interop
interop: interop-gen $(INTEROP_GO_BIN)
interop-gen: $(ECHO_GO) $(ECHO_PY) $(ECHO_C)

# protoc-gen-go places the file by the proto's go_package ("kumo/testpb").
$(ECHO_GO): $(ECHO_PROTO)
	@mkdir -p $(INTEROP_GOPATH)/src
	protoc -I proto --go_out=plugins=grpc:$(INTEROP_GOPATH)/src $<

$(ECHO_PY): $(ECHO_PROTO)
	@mkdir -p $(INTEROP_GEN)
	protoc -I proto --python_out=$(INTEROP_GEN) $<

# One protoc-c run writes both files; the .c stands for the pair.
$(INTEROP_GEN)/kumo/test/echo.pb-c.h: $(INTEROP_GEN)/kumo/test/echo.pb-c.c
$(INTEROP_GEN)/kumo/test/echo.pb-c.c: $(ECHO_PROTO)
	@mkdir -p $(INTEROP_GEN)
	protoc-c -I proto --c_out=$(INTEROP_GEN) $<

# Each program is one file (two package mains share the folder).
$(INTEROP_BIN)/%: tests/interop/go/%.go $(ECHO_GO)
	@mkdir -p $(dir $@)
	$(INTEROP_GOENV) go build -o $@ $<

bench-grpc: deps
	@$(MAKE) --no-print-directory interop
	@bench/grpc/run.sh
