# kumo build. `make` builds the library, examples and tests; `make test` runs
# the suite (SAN=asan or SAN=tsan for the sanitizer builds; FAULTS=1 for the
# fault injection build, docs/TESTING.md); `make run` starts the main program.
# Both first install missing Debian packages.

# `make` alone builds everything, whatever rules the included files list first.
.DEFAULT_GOAL := all

SAN      ?=
CTX      ?=
WERROR   ?= 0
CC       ?= gcc
ifeq ($(SAN),)
BUILD    := build
else
BUILD    := build-$(SAN)
endif
# CTX=ucontext builds the portable context-switch fallback (build-ucontext/).
ifeq ($(CTX),ucontext)
BUILD    := build-ucontext
EXTRA_CFLAGS += -DKM_CTX_UCONTEXT
endif
# FAULTS=1 compiles the fault injection points in (build-faults/,
# build-asan-faults/); without it they compile to nothing.
FAULTS   ?= 0
ifeq ($(FAULTS),1)
BUILD    := $(BUILD)-faults
EXTRA_CFLAGS += -DKM_FAULTS
endif

OPT      ?= -O2
CFLAGS_BASE := -std=gnu11 $(OPT) -g -fno-omit-frame-pointer -Wall -Wextra \
               -Wno-unused-parameter -Iinclude -Isrc -pthread -D_GNU_SOURCE
ifeq ($(WERROR),1)
CFLAGS_BASE += -Werror
endif
SANFLAGS :=
ifeq ($(SAN),asan)
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined
endif
ifeq ($(SAN),tsan)
SANFLAGS := -fsanitize=thread
endif
CFLAGS   := $(CFLAGS_BASE) $(SANFLAGS) $(EXTRA_CFLAGS)
LDLIBS   := -llmdb -ljansson -lyaml -lnghttp2 -lprotobuf-c -lssl -lcrypto -pthread -lm

CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null)

LIB_C    := $(sort $(wildcard src/*/*.c))
LIB_S    := $(sort $(wildcard src/*/*.S))
LIB_OBJ  := $(LIB_C:%.c=$(BUILD)/obj/%.o) $(LIB_S:%.S=$(BUILD)/obj/%.o)
LIB      := $(BUILD)/libkumo.a

TEST_SRC := $(sort $(wildcard tests/unit/*/*.c))
# Tests driving the injection points exist only in the fault build.
ifneq ($(FAULTS),1)
TEST_SRC := $(filter-out tests/unit/%/faults.c,$(TEST_SRC))
endif
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TEST_UTIL:= tests/unit/util.c
# Every fuzz target also runs as a test over its corpus and saved crashes.
FUZZ_SRC := $(sort $(filter-out fuzz/replay.c,$(wildcard fuzz/*.c)))
TEST_BIN += $(FUZZ_SRC:fuzz/%.c=$(BUILD)/tests/fuzz/%)
EX_SRC   := $(sort $(wildcard examples/*.c))
EX_BIN   := $(EX_SRC:examples/%.c=$(BUILD)/examples/%)
HDRS     := $(wildcard include/*.h include/kumo/*.h src/*/*.h tests/unit/*.h cmd/kumo/*.h)
KUMO_SRC := $(sort $(wildcard cmd/kumo/*.c))
KUMO     := $(BUILD)/kumo

include mk/etcdpb.mk

# The web console: ui/* as C data (scripts/embed-ui.sh), in the library
# beside src/serve/ui.c, which serves it under /ui/.
UI_SRC   := $(sort $(wildcard ui/*))
UI_GEN   := $(BUILD)/gen/ui-files.c
LIB_OBJ  += $(UI_GEN:.c=.o)
$(UI_GEN): scripts/embed-ui.sh $(UI_SRC)
	@mkdir -p $(dir $@)
	scripts/embed-ui.sh ui $(UI_SRC) > $@.tmp && mv $@.tmp $@
$(UI_GEN:.c=.o): $(UI_GEN) src/serve/ui.h
	$(CC) $(CFLAGS) -c $< -o $@

.PHONY: all lib test run deps fault-sweep bench-runtime bench-net bench-http bench-h2 bench-config bench-scale bench-tls bench-auth bench-metrics bench-log bench-client bench-release fuzz clean examples tests

ifeq ($(FAULTS),1)
all: lib $(KUMO) examples tests $(BUILD)/kumo.pc
else
all: lib $(KUMO) examples tests $(BUILD)/kumo.pc compile_commands.json
endif

lib: $(LIB)
examples: $(EX_BIN)
tests: $(TEST_BIN)

$(BUILD)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The single binary, linked statically where the sanitizers allow it.
ifeq ($(SAN),)
STATIC := -static
endif
$(KUMO): $(KUMO_SRC) $(LIB) $(HDRS)
	$(CC) $(CFLAGS) $(KUMO_SRC) -o $@ $(LIB) $(LDLIBS) $(STATIC)

$(BUILD)/examples/%: examples/%.c $(LIB) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@ $(LIB) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(TEST_UTIL) $(LIB) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -Itests/unit $< $(TEST_UTIL) -o $@ $(LIB) $(CHECK_LIBS) $(LDLIBS)

$(BUILD)/tests/fuzz/%: fuzz/%.c fuzz/replay.c $(LIB) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -DFUZZ_NAME='"$*"' $< $(FUZZ_EXTRA_$*) fuzz/replay.c -o $@ $(LIB) $(CHECK_LIBS) $(LDLIBS)

# A target fuzzing code of the kumo binary also compiles the files it needs
# (FUZZ_EXTRA_<name>), in its replay test and its libFuzzer build; txn's
# request parser reuses get/put/del's (ctl-kv.c, helpers in ctl.c).
FUZZ_EXTRA_ctl_txn := cmd/kumo/txn-parse.c cmd/kumo/ctl-kv.c cmd/kumo/ctl.c
$(BUILD)/tests/fuzz/ctl_txn build-fuzz/ctl_txn: $(FUZZ_EXTRA_ctl_txn)

$(BUILD)/kumo.pc: scripts/kumo.pc.in
	@mkdir -p $(BUILD)
	sed -e 's|@PREFIX@|$(CURDIR)|' -e 's|@LIBDIR@|$(CURDIR)/$(BUILD)|' $< > $@

compile_commands.json: Makefile $(LIB_C) $(TEST_SRC) $(EX_SRC) $(KUMO_SRC)
	@scripts/compdb.sh "$(CURDIR)" "$(CC) $(CFLAGS) $(CHECK_CFLAGS) -Itests/unit" $(LIB_C) $(TEST_SRC) $(EX_SRC) $(KUMO_SRC) > $@

deps:
	@scripts/deps.sh

# Black-box tests drive the binaries with real peers; in the plain build.
ifeq ($(SAN)$(FAULTS),0)
INTEG := $(sort $(wildcard tests/integ/*.sh))
endif

test: deps
	@$(MAKE) --no-print-directory all
	@scripts/run-tests.sh $(BUILD) $(TEST_BIN) $(INTEG)

# The configuration center on the embedded store (KUMO_LISTEN, KUMO_DATA
# override where).
KUMO_LISTEN ?= 127.0.0.1:2379
KUMO_DATA   ?= kumo.data
run: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/kumo serve --listen $(KUMO_LISTEN) --data-dir $(KUMO_DATA)

bench-runtime: deps
	@$(MAKE) --no-print-directory lib
	@bench/runtime/run.sh

bench-net: deps
	@$(MAKE) --no-print-directory lib
	@bench/net/run.sh

bench-http: deps
	@$(MAKE) --no-print-directory lib build/examples/hello
	@bench/http/run.sh

bench-h2: deps
	@$(MAKE) --no-print-directory lib build/examples/hello
	@bench/h2/run.sh

bench-metrics: deps
	@$(MAKE) --no-print-directory lib
	@bench/metrics/run.sh

bench-client: deps
	@$(MAKE) --no-print-directory lib $(BUILD)/kumo
	@bench/client/run.sh

bench-log: deps
	@$(MAKE) --no-print-directory lib
	@bench/log/run.sh

bench-config: deps
	@$(MAKE) --no-print-directory lib $(BUILD)/kumo
	@bench/config/run.sh

bench-scale: deps
	@$(MAKE) --no-print-directory lib $(BUILD)/kumo
	@bench/scale/run.sh

bench-auth: deps
	@$(MAKE) --no-print-directory lib build/kumo
	@bench/auth/run.sh

bench-tls: deps
	@$(MAKE) --no-print-directory lib build/examples/hello
	@bench/tls/run.sh

# Pools: km_pool against database/sql's pool, 1, 8 and 64 goroutines on 2
# workers (bench/pool/run.sh).
.PHONY: bench-pool
bench-pool: deps
	@$(MAKE) --no-print-directory lib
	@LIB=$(BUILD)/libkumo.a bench/pool/run.sh

# Release push: N config-watch streams, publish / gray / promote, time to
# every instance (bench/release/run.sh; push.c is its load and its floor).
$(BUILD)/bench/release_push: bench/release/push.c $(LIB) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@ $(LIB) $(LDLIBS)

bench-release: deps
	@$(MAKE) --no-print-directory lib $(BUILD)/kumo $(BUILD)/bench/release_push
	@BUILD=$(BUILD) bench/release/run.sh

# libFuzzer targets (clang): `make fuzz` runs each for FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=build-fuzz/%)
build-fuzz/%: fuzz/%.c $(LIB_C) $(LIB_S) $(ETCD_PBC) $(UI_GEN) $(HDRS)
	@mkdir -p $(dir $@)
	clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc -I$(ETCD_GEN) -D_GNU_SOURCE -pthread $< $(FUZZ_EXTRA_$*) $(LIB_C) $(LIB_S) $(ETCD_PBC) $(UI_GEN) -o $@ -llmdb -ljansson -lyaml -lnghttp2 -lprotobuf-c -lssl -lcrypto -lm

fuzz: deps $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do n=$$(basename $$f); mkdir -p fuzz/corpus/$$n fuzz/regressions/$$n; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS) s"; \
	  mkdir -p fuzz/corpus-$$n-new; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=fuzz/regressions/$$n/ \
	     fuzz/corpus-$$n-new fuzz/corpus/$$n > build-fuzz/$$n.log 2>&1; rc=$$?; \
	  tail -n 2 build-fuzz/$$n.log; [ $$rc -eq 0 ] || exit 1; done

# The fault sweep's CI slice: the store, serve and etcd unit tests, each site
# failing in turn, under the ASan fault build (docs/TESTING.md).
SWEEP_BUDGET ?= 240
fault-sweep: deps
	@$(MAKE) --no-print-directory SAN=asan FAULTS=1 tests
	@scripts/fault-sweep.sh --build build-asan-faults --slice --budget $(SWEEP_BUDGET)

clean:
	rm -rf build build-asan build-tsan build-ucontext build-fuzz build-faults build-asan-faults build-tsan-faults compile_commands.json

include mk/interop.mk
include mk/grpc.mk
include mk/etcdclients.mk
