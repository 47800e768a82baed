/* SPDX-License-Identifier: MIT */
/* The protobuf-c glue the server and the client share (pb.c). */
#ifndef KM_GRPC_PB_INT_H
#define KM_GRPC_PB_INT_H

#include <kumo/grpc.h>

/* Unpacks msg as d with kumo's allocator. 0 and *out; -EBADMSG (does not
 * decode); -ENOMEM. */
int    km__grpc_pb_unpack(const ProtobufCMessageDescriptor *d, km_str msg, ProtobufCMessage **out);
/* The packed size of m, and m packed into out (that many bytes). */
size_t km__grpc_pb_size(const ProtobufCMessage *m);
void   km__grpc_pb_pack(const ProtobufCMessage *m, void *out);

#endif
