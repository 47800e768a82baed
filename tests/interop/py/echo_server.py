#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A grpcio server of kumo.test.Echo (proto/kumo/test/echo.proto): a second,
independent peer, so the conformance drivers are known to assume nothing
grpc-go alone does.

Usage: /usr/bin/python3 echo_server.py [--listen 127.0.0.1:0] [--gen DIR]
Prints its port alone on a line of stdout once it serves; SIGTERM or SIGINT
stop it (calls in flight get 2 s)."""

import argparse
import os
import signal
import sys
import threading
from concurrent import futures

import grpc

CODES = {c.value[0]: c for c in grpc.StatusCode}
pb = None


def echoed(context):
    """The request metadata that goes back: ("x-echo-*", "x-trailer-*")."""
    md = context.invocation_metadata()
    return ([(k, v) for k, v in md if k.startswith("x-echo-")],
            [(k, v) for k, v in md if k.startswith("x-trailer-")])


def set_metadata(context):
    hdr, trl = echoed(context)
    if hdr:
        context.send_initial_metadata(hdr)
    if trl:
        context.set_trailing_metadata(trl)


class Ended(Exception):
    """The call ended (cancelled, past its deadline) while it waited."""


def wait(context, ended, ms):
    if ms > 0 and ended.wait(ms / 1000.0):
        raise Ended()


def fail(context, r):
    if r.fail_code:
        # grpcio sends only the codes it names; any other becomes UNKNOWN.
        context.abort(CODES.get(r.fail_code, grpc.StatusCode.UNKNOWN), r.fail_message)


def answer(r, index):
    return pb.EchoResponse(payload=bytes(r.response_size) if r.response_size > 0 else r.payload,
                           index=index)


def call_ended(context):
    ended = threading.Event()
    context.add_callback(ended.set)
    return ended


def unary(r, context):
    ended = call_ended(context)
    set_metadata(context)
    try:
        wait(context, ended, r.delay_ms)
    except Ended:
        return pb.EchoResponse()
    fail(context, r)
    return answer(r, 0)


def server_stream(r, context):
    ended = call_ended(context)
    set_metadata(context)
    try:
        for i in range(r.count):
            wait(context, ended, r.delay_ms)
            yield answer(r, i)
    except Ended:
        return
    fail(context, r)


def client_stream(requests, context):
    ended = call_ended(context)
    set_metadata(context)
    n = nbytes = 0
    last = pb.EchoRequest()
    try:
        for r in requests:
            n += 1
            nbytes += len(r.payload)
            wait(context, ended, r.delay_ms)
            fail(context, r)
            last = r
    except Ended:
        return pb.EchoResponse()
    out = answer(last, 0)
    out.received, out.received_bytes = n, nbytes
    return out


def bidi(requests, context):
    ended = call_ended(context)
    set_metadata(context)
    try:
        for i, r in enumerate(requests):
            wait(context, ended, r.delay_ms)
            fail(context, r)
            yield answer(r, i)
    except Ended:
        return


def main():
    global pb
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--gen", default=os.path.join(here, "..", "..", "..", "build", "gen"))
    ap.add_argument("--max-msg", type=int, default=16 << 20, help="largest message, bytes")
    a = ap.parse_args()
    sys.path.insert(0, a.gen)
    from kumo.test import echo_pb2
    pb = echo_pb2

    ser, de = pb.EchoResponse.SerializeToString, pb.EchoRequest.FromString
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary, request_deserializer=de, response_serializer=ser),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream, request_deserializer=de, response_serializer=ser),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream, request_deserializer=de, response_serializer=ser),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi, request_deserializer=de, response_serializer=ser),
    }
    # Every call in progress holds a thread: room for the drivers' widest check.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=300), options=[
        ("grpc.max_receive_message_length", a.max_msg),
        ("grpc.max_send_message_length", a.max_msg),
    ])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("kumo.test.Echo", handlers),))
    port = server.add_insecure_port(a.listen)
    if not port:
        print(f"echo_server.py: cannot listen on {a.listen}", file=sys.stderr)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    print(port, flush=True)
    while not stop.wait(3600):
        pass
    server.stop(grace=2).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
