# SPDX-License-Identifier: MIT
# etcd's v3 messages and services (proto/mvccpb, proto/authpb,
# proto/etcdserverpb): protoc-c writes their C code under $(BUILD)/gen/
# (never committed), which goes into libkumo.a with the library's sources.
# Included by the top Makefile before its rules, which need these variables.

ETCD_PROTO := proto/mvccpb/kv.proto proto/authpb/auth.proto proto/etcdserverpb/rpc.proto
ETCD_GEN   := $(BUILD)/gen
ETCD_PBC   := $(ETCD_PROTO:proto/%.proto=$(ETCD_GEN)/%.pb-c.c)
ETCD_PBH   := $(ETCD_PBC:.c=.h)

# Every library file may include them (the headers are prerequisites of
# every object, as the hand-written ones are).
LIB_OBJ    += $(ETCD_PBC:%.c=%.o)
HDRS       += $(ETCD_PBH)
CFLAGS     += -I$(ETCD_GEN)

# One protoc-c run writes both files; the .c stands for the pair.
$(ETCD_GEN)/%.pb-c.h: $(ETCD_GEN)/%.pb-c.c ;
$(ETCD_GEN)/%.pb-c.c: proto/%.proto
	@mkdir -p $(ETCD_GEN)
	protoc-c -I proto --c_out=$(ETCD_GEN) $<

$(ETCD_GEN)/%.pb-c.o: $(ETCD_GEN)/%.pb-c.c $(ETCD_PBH)
	$(CC) $(CFLAGS) -c $< -o $@

# Kept once made: they are built by a chain of pattern rules, whose
# intermediate files make would otherwise delete (and regenerate next time).
.SECONDARY: $(ETCD_PBC) $(ETCD_PBH)
