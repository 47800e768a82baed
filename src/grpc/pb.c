/* SPDX-License-Identifier: MIT */
/* protobuf-c's messages through kumo's allocator hook: packing into a framed buffer, unpacking, freeing. */
#include <stdbool.h>
#include <protobuf-c/protobuf-c.h>
#include <kumo/grpc.h>
#include "grpc/pb-int.h"
#include "rt/alloc.h"

/* ud: NULL, or a bool set when an allocation fails. */
static void *pb_alloc(void *ud, size_t n)
{
    void *p = km__malloc(n ? n : 1);
    if (!p && ud)
        *(bool *)ud = true;
    return p;
}

static void pb_free(void *ud, void *p)
{
    (void)ud;
    km__free(p);
}

/* Unpacked messages are freed the way they were made: a leak or an
 * injected allocation failure in protobuf-c shows like one of kumo's. */
static ProtobufCAllocator allocator = { pb_alloc, pb_free, NULL };

int km__grpc_pb_unpack(const ProtobufCMessageDescriptor *d, km_str msg, ProtobufCMessage **out)
{
    /* protobuf-c reports "does not decode" and "no memory" alike (NULL);
     * this unpack's own allocator notes a failed allocation. */
    bool nomem = false;
    ProtobufCAllocator a = { pb_alloc, pb_free, &nomem };
    ProtobufCMessage *m = protobuf_c_message_unpack(d, &a, msg.n, (const uint8_t *)msg.p);
    if (!m)
        return nomem ? -ENOMEM : -EBADMSG;
    *out = m;
    return 0;
}

size_t km__grpc_pb_size(const ProtobufCMessage *m)
{
    return protobuf_c_message_get_packed_size(m);
}

void km__grpc_pb_pack(const ProtobufCMessage *m, void *out)
{
    protobuf_c_message_pack(m, out);
}

void km_grpc_pb_free(ProtobufCMessage *m)
{
    if (m)
        protobuf_c_message_free_unpacked(m, &allocator);
}
