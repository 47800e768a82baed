# SPDX-License-Identifier: MIT
# gRPC: its unit tests (which use the Echo service's protoc-c code and
# start the grpc-go Echo server as a peer) and kumo's Echo server and
# conformance client (tests/interop/c/). Included by the top Makefile
# after mk/interop.mk, whose variables it uses.

KUMO_ECHO_SRC := $(sort $(wildcard tests/interop/c/*.c))
KUMO_ECHO_HDR := $(wildcard tests/interop/c/*.h)
KUMO_ECHO_BIN := $(INTEROP_BIN)/kumo_echo_server $(INTEROP_BIN)/kumo_echo_client
ECHO_PBC      := $(INTEROP_GEN)/kumo/test/echo.pb-c.c

interop: $(KUMO_ECHO_BIN)

# Each program is its .c with echo.pb-c.c; the shared helpers in
# tests/interop/c/common.c go into both.
$(INTEROP_BIN)/kumo_echo_%: tests/interop/c/echo_%.c tests/interop/c/common.c $(KUMO_ECHO_HDR) $(ECHO_C) $(LIB) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -I$(INTEROP_GEN) -Itests/interop/c $< tests/interop/c/common.c $(ECHO_PBC) -o $@ $(LIB) $(LDLIBS)

# More specific than the generic test rule: the Echo messages and the
# grpc-go peer (GO_ECHO_SERVER) come with every gRPC test.
$(BUILD)/tests/grpc/%: tests/unit/grpc/%.c $(TEST_UTIL) $(LIB) $(HDRS) $(ECHO_C) $(INTEROP_BIN)/echo_server
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -Itests/unit -I$(INTEROP_GEN) -DGO_ECHO_SERVER='"$(INTEROP_BIN)/echo_server"' $< $(TEST_UTIL) $(ECHO_PBC) -o $@ $(LIB) $(CHECK_LIBS) $(LDLIBS)
