#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Conformance driver for any server of kumo.test.Echo
(proto/kumo/test/echo.proto), written on grpcio: runs named checks and prints
"ok NAME" or "FAIL NAME: why" for each, then "N passed, M failed"; exits 1 if
any failed.

Usage: /usr/bin/python3 echo_client.py HOST:PORT [--gen DIR] [--run REGEXP]
Needs Debian's python3-grpcio and python3-protobuf (hence /usr/bin/python3),
and the message module protoc writes (`make interop-gen`: build/gen/).
Calls go through grpcio's generic multi-callables with the generated
message classes; no generated gRPC service code is needed."""

import argparse
import os
import queue
import re
import sys
import threading
import time

import grpc

MIB = 1 << 20
MAX_MSG = 64 * MIB      # grpcio's receive default is 4 MiB
PROMPT = 2.0            # seconds an ended call may take to return
SVC = "/kumo.test.Echo/"

pb = None               # the generated module, imported in main()
unary = server_stream = client_stream = bidi = channel = None


class Fail(Exception):
    pass


def expect(cond, why):
    if not cond:
        raise Fail(why)


def pattern(n, seed):
    return bytes(((i * 7 + i // 251) ^ seed) & 0xFF for i in range(n))


def same_payload(got, want):
    if got == want:
        return
    if len(got) != len(want):
        raise Fail(f"payload is {len(got)} bytes, want {len(want)}")
    i = next(i for i in range(len(got)) if got[i] != want[i])
    raise Fail(f"payload differs at byte {i} of {len(got)}")


def short(s):
    """s quoted, cut to keep a failure on one readable line."""
    return repr(s) if s is None or len(s) <= 60 else f"{s[:60]!r}... ({len(s)} chars)"


def want_status(err, code, msg=None):
    """err is the grpc.RpcError a call raised, or None if it succeeded."""
    if err is None:
        raise Fail(f"call succeeded, want {code.name}")
    if err.code() != code:
        raise Fail(f"status {err.code().name} {short(err.details())}, want {code.name}")
    if msg is not None and (err.details() or "") != msg:
        raise Fail(f"message {short(err.details())}, want {short(msg)}")


def call_error(f, *a, **kw):
    try:
        f(*a, **kw)
    except grpc.RpcError as e:
        return e
    return None


def req(**kw):
    return pb.EchoRequest(**kw)


def check_responses(rs, n, payload=None, size=0):
    expect(len(rs) == n, f"{len(rs)} responses, want {n}")
    for i, r in enumerate(rs):
        expect(r.index == i, f"response {i} has index {r.index}")
        if size:
            expect(len(r.payload) == size, f"response {i} is {len(r.payload)} bytes, want {size}")
        else:
            same_payload(r.payload, payload)


# ---- unary ----

def c_unary():
    r = unary(req(payload=b"hello, kumo"), timeout=10)
    expect(r.index == 0 and r.received == 0 and r.received_bytes == 0, f"unexpected fields in {r}")
    same_payload(r.payload, b"hello, kumo")


def c_unary_response_size():
    r = unary(req(payload=b"x", response_size=1000), timeout=10)
    expect(len(r.payload) == 1000, f"payload is {len(r.payload)} bytes, want 1000")


def c_empty_message():
    r = unary(req(), timeout=10)
    expect(r.ByteSize() == 0, f"want an empty response, got {r}")


def c_large_request():
    r = unary(req(payload=pattern(4 * MIB, 1), response_size=1), timeout=30)
    expect(len(r.payload) == 1, f"payload is {len(r.payload)} bytes, want 1")


def c_large_response():
    r = unary(req(response_size=4 * MIB), timeout=30)
    expect(len(r.payload) == 4 * MIB, f"payload is {len(r.payload)} bytes, want {4 * MIB}")


def c_large_echo():
    p = pattern(4 * MIB, 2)
    same_payload(unary(req(payload=p), timeout=30).payload, p)


# ---- server streaming ----

def read_stream(it):
    """The responses of a response iterator, and its error (None for OK)."""
    out = []
    try:
        for r in it:
            out.append(r)
    except grpc.RpcError as e:
        return out, e
    return out, None


def c_server_stream():
    rs, err = read_stream(server_stream(req(payload=b"stream me", count=5), timeout=10))
    expect(err is None, f"after {len(rs)} responses: {err and err.code()}")
    check_responses(rs, 5, b"stream me")


def c_server_stream_zero():
    rs, err = read_stream(server_stream(req(payload=b"none"), timeout=10))
    expect(err is None, f"status {err and err.code()}")
    check_responses(rs, 0)


def c_server_stream_large():
    rs, err = read_stream(server_stream(req(count=8, response_size=MIB), timeout=30))
    expect(err is None, f"after {len(rs)} responses: {err and err.code()}")
    check_responses(rs, 8, size=MIB)


def c_server_stream_then_error():
    msg = "stopped after three"
    rs, err = read_stream(server_stream(req(payload=b"then fail", count=3, fail_code=9,
                                            fail_message=msg), timeout=10))
    want_status(err, grpc.StatusCode.FAILED_PRECONDITION, msg)
    check_responses(rs, 3, b"then fail")


# ---- client streaming ----

def c_client_stream():
    sizes = [0, 1, 10, 100, 1000, 10000, 100000, 5]
    reqs = [req(payload=pattern(n, i)) for i, n in enumerate(sizes)]
    r = client_stream(iter(reqs), timeout=10)
    expect(r.received == len(reqs) and r.received_bytes == sum(sizes),
           f"received {r.received} requests and {r.received_bytes} bytes, "
           f"want {len(reqs)} and {sum(sizes)}")
    same_payload(r.payload, reqs[-1].payload)


def c_client_stream_zero():
    r = client_stream(iter([]), timeout=10)
    expect(r.ByteSize() == 0, f"want an empty response, got {r}")


def c_client_stream_large():
    r = client_stream(iter([req(payload=pattern(MIB, i), response_size=3) for i in range(4)]),
                      timeout=30)
    expect(r.received == 4 and r.received_bytes == 4 * MIB and len(r.payload) == 3,
           f"got received={r.received} received_bytes={r.received_bytes} "
           f"payload {len(r.payload)} bytes, want 4, {4 * MIB}, 3")


def c_client_stream_error():
    msg = "third request refused"
    reqs = [req(payload=b"a"), req(payload=b"b"), req(fail_code=8, fail_message=msg),
            req(payload=b"never read")]
    want_status(call_error(client_stream, iter(reqs), timeout=10),
                grpc.StatusCode.RESOURCE_EXHAUSTED, msg)


# ---- bidirectional ----

class Feed:
    """A request iterator the test feeds one message at a time; close()
    ends it, which half-closes the call."""
    def __init__(self):
        self.q = queue.Queue()

    def __iter__(self):
        while True:
            m = self.q.get()
            if m is None:
                return
            yield m

    def send(self, m):
        self.q.put(m)

    def close(self):
        self.q.put(None)


def bidi_rounds(rounds, size=0, timeout=20):
    feed = Feed()
    it = bidi(iter(feed), timeout=timeout)
    try:
        for i in range(rounds):
            p = pattern(size, i) if size else f"round {i}".encode()
            feed.send(req(payload=p))
            r = next(it)
            expect(r.index == i, f"response {i} has index {r.index}")
            same_payload(r.payload, p)
        feed.close()
        try:
            r = next(it)
            raise Fail(f"after half-close: got {r}, want the end of the stream")
        except StopIteration:
            pass
    finally:
        feed.close()
        it.cancel()


def c_bidi():
    bidi_rounds(5)


def c_bidi_zero():
    bidi_rounds(0)


def c_bidi_large():
    bidi_rounds(4, MIB)


def c_bidi_error():
    feed = Feed()
    it = bidi(iter(feed), timeout=10)
    try:
        feed.send(req(payload=b"fine"))
        next(it)
        msg = "bidi refused"
        feed.send(req(fail_code=7, fail_message=msg))
        want_status(call_error(next, it), grpc.StatusCode.PERMISSION_DENIED, msg)
    finally:
        feed.close()


def c_bidi_concurrent():
    errs = []

    def one(i):
        try:
            bidi_rounds(10, 100 + i)
        except Exception as e:      # noqa: BLE001 (collected and reported)
            errs.append(f"stream {i}: {e!r}")
    ts = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    expect(not errs, f"{len(errs)} of 20 failed: {'; '.join(sorted(errs)[:3])}")


# ---- deadlines and cancellation ----

def afterwards():
    """The server still answers, a call and a stream, promptly."""
    same_payload(unary(req(payload=b"still there?"), timeout=PROMPT).payload, b"still there?")
    rs, err = read_stream(server_stream(req(payload=b"again", count=3), timeout=PROMPT))
    expect(err is None, f"the next stream failed: {err and err.code()}")
    check_responses(rs, 3, b"again")


def timed(f, *a, **kw):
    t0 = time.monotonic()
    r = f(*a, **kw)
    return time.monotonic() - t0, r


def c_deadline_unary():
    d, err = timed(call_error, unary, req(delay_ms=60000), timeout=0.3)
    want_status(err, grpc.StatusCode.DEADLINE_EXCEEDED)
    expect(d < PROMPT, f"returned after {d:.2f} s")
    afterwards()


def c_deadline_server_stream():
    d, (rs, err) = timed(read_stream, server_stream(req(count=100, delay_ms=200), timeout=0.7))
    want_status(err, grpc.StatusCode.DEADLINE_EXCEEDED)
    expect(d < PROMPT, f"returned after {d:.2f} s")
    expect(1 <= len(rs) <= 4, f"{len(rs)} responses before the deadline, want 1 to 4")
    afterwards()


def c_cancel_unary():
    fut = unary.future(req(delay_ms=60000), timeout=30)
    threading.Timer(0.2, fut.cancel).start()
    t0 = time.monotonic()
    try:
        fut.result(timeout=PROMPT + 1)
        raise Fail("call succeeded, want CANCELLED")
    except grpc.FutureCancelledError:
        pass
    except grpc.RpcError as e:
        want_status(e, grpc.StatusCode.CANCELLED)
    d = time.monotonic() - t0
    expect(d < PROMPT, f"returned after {d:.2f} s")
    expect(fut.code() == grpc.StatusCode.CANCELLED, f"code {fut.code()}, want CANCELLED")
    afterwards()


def c_cancel_server_stream():
    it = server_stream(req(payload=b"tick", count=1000, delay_ms=20), timeout=30)
    for _ in range(3):
        next(it)
    it.cancel()
    t0 = time.monotonic()
    n = 0
    while True:
        try:
            next(it)
        except grpc.RpcError as e:
            want_status(e, grpc.StatusCode.CANCELLED)
            break
        except StopIteration:
            raise Fail("the stream ended as if OK after cancel")
        n += 1
        expect(n < 100 and time.monotonic() - t0 < PROMPT, f"still receiving after cancel ({n} more)")
    afterwards()


def c_cancel_bidi():
    feed = Feed()
    it = bidi(iter(feed), timeout=30)
    try:
        feed.send(req(payload=b"one"))
        next(it)
        feed.send(req(delay_ms=60000))
        threading.Timer(0.1, it.cancel).start()
        d, err = timed(call_error, next, it)
        want_status(err, grpc.StatusCode.CANCELLED)
        expect(d < PROMPT, f"returned after {d:.2f} s")
    finally:
        feed.close()
    afterwards()


# ---- status codes and messages ----

def c_status_codes():
    bad = []
    for c in grpc.StatusCode:
        n = c.value[0]
        if n == 0:
            continue
        msg = f"failing with {n} ({c.name})"
        try:
            want_status(call_error(unary, req(fail_code=n, fail_message=msg), timeout=10), c, msg)
        except Fail as e:
            bad.append(f"{n}: {e}")
    expect(not bad, "; ".join(bad))


STATUS_MESSAGES = [
    "100% sure: 50%25 is not %",
    "line one\nline two\r\n\ttabbed",
    "déjà vu ☃ 日本語 😀",
    "%e2%98%83 stays as typed",
    "  spaces at both ends  ",
    "",
    "long message %\n" * 200,
]


def c_status_messages():
    bad = []
    for m in STATUS_MESSAGES:
        try:
            want_status(call_error(unary, req(fail_code=3, fail_message=m), timeout=10),
                        grpc.StatusCode.INVALID_ARGUMENT, m)
        except Fail as e:
            bad.append(str(e))
    expect(not bad, "; ".join(bad))


def c_status_trailers_only():
    msg = "no such thing: ☃ 100%"
    rs, err = read_stream(server_stream(req(fail_code=5, fail_message=msg), timeout=10))
    want_status(err, grpc.StatusCode.NOT_FOUND, msg)
    check_responses(rs, 0)


def c_unknown_method():
    for m in (SVC + "Nope", "/kumo.test.Nope/Unary", "/Nope/Nope"):
        mc = channel.unary_unary(m, request_serializer=pb.EchoRequest.SerializeToString,
                                 response_deserializer=pb.EchoResponse.FromString)
        try:
            want_status(call_error(mc, req(), timeout=10), grpc.StatusCode.UNIMPLEMENTED)
        except Fail as e:
            raise Fail(f"{m}: {e}") from None


# ---- metadata ----

SENT_MD = [
    ("x-echo-ascii", "hello world !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    ("x-echo-multi", "first"),
    ("x-echo-multi", "second"),
    ("x-echo-data-bin", b"\x00\x01\x02\xfe\xff\n\r"),
    ("x-echo-pad-bin", b""),
    ("x-echo-pad-bin", b"\x80"),
    ("x-echo-pad-bin", b"\x80\x81"),
    ("x-echo-pad-bin", b"\x80\x81\x82"),
    ("x-echo-pad-bin", b"\x80\x81\x82\x83"),
    ("x-trailer-ascii", "trailing value"),
    ("x-trailer-data-bin", b"\xff\x00\xffbinary\x00"),
    ("x-other", "not echoed"),
    ("x-echo", "no dash after echo: not echoed"),
]


def md_of(md, prefix):
    """(key, value) pairs under prefix, grouped by key, values in order."""
    keys = sorted({k for k, _ in (md or ()) if k.startswith(prefix)})
    return [(k, v) for k in keys for kk, v in md if kk == k]


def same_md(what, got, want):
    expect(got == want, f"{what}: got {got}, want {want}")


def check_echoed(hdr, trl):
    same_md("headers", md_of(hdr, "x-"), md_of(SENT_MD, "x-echo-"))
    same_md("trailers", md_of(trl, "x-"), md_of(SENT_MD, "x-trailer-"))


def c_metadata_unary():
    _, call = unary.with_call(req(payload=b"md"), metadata=SENT_MD, timeout=10)
    check_echoed(call.initial_metadata(), call.trailing_metadata())


def c_metadata_server_stream():
    it = server_stream(req(count=2), metadata=SENT_MD, timeout=10)
    rs, err = read_stream(it)
    expect(err is None and len(rs) == 2, f"{len(rs)} responses, status {err and err.code()}")
    check_echoed(it.initial_metadata(), it.trailing_metadata())


def c_metadata_client_stream():
    _, call = client_stream.with_call(iter([req(payload=b"a"), req(payload=b"b")]),
                                      metadata=SENT_MD, timeout=10)
    check_echoed(call.initial_metadata(), call.trailing_metadata())


def c_metadata_bidi():
    feed = Feed()
    it = bidi(iter(feed), metadata=SENT_MD, timeout=10)
    try:
        feed.send(req(payload=b"md"))
        next(it)
    finally:
        feed.close()
    rs, err = read_stream(it)
    expect(err is None and not rs, f"after half-close: {len(rs)} responses, status {err and err.code()}")
    check_echoed(it.initial_metadata(), it.trailing_metadata())


def c_metadata_on_error():
    """A failing call still carries the echoed trailers; its x-echo- keys may
    come among the trailers if the server answers trailers-only."""
    msg = "failed, with metadata"
    err = call_error(unary.with_call, req(fail_code=14, fail_message=msg), metadata=SENT_MD, timeout=10)
    want_status(err, grpc.StatusCode.UNAVAILABLE, msg)
    same_md("trailers (x-trailer-)", md_of(err.trailing_metadata(), "x-trailer-"),
            md_of(SENT_MD, "x-trailer-"))
    echo = md_of(err.initial_metadata(), "x-echo-") or md_of(err.trailing_metadata(), "x-echo-")
    same_md("x-echo- keys", echo, md_of(SENT_MD, "x-echo-"))


# ---- concurrency ----

def c_concurrent_200_unary():
    futs = [unary.future(req(payload=f"call {i}".encode(), delay_ms=i % 3), timeout=20)
            for i in range(200)]
    bad = []
    for i, f in enumerate(futs):
        try:
            r = f.result()
            if r.payload != f"call {i}".encode():
                bad.append(f"call {i}: payload {r.payload!r}")
        except grpc.RpcError as e:
            bad.append(f"call {i}: {e.code().name} {e.details()!r}")
    expect(not bad, f"{len(bad)} of 200 failed: {'; '.join(bad[:3])}")


def c_sequential_500_unary():
    for i in range(500):
        p = f"call {i}".encode()
        r = unary(req(payload=p), timeout=10)
        expect(r.payload == p, f"call {i}: payload {r.payload!r}")


CHECKS = [
    ("unary", c_unary),
    ("unary_response_size", c_unary_response_size),
    ("empty_message", c_empty_message),
    ("large_request_4MiB", c_large_request),
    ("large_response_4MiB", c_large_response),
    ("large_echo_4MiB", c_large_echo),
    ("server_stream", c_server_stream),
    ("server_stream_zero", c_server_stream_zero),
    ("server_stream_8x1MiB", c_server_stream_large),
    ("server_stream_then_error", c_server_stream_then_error),
    ("client_stream", c_client_stream),
    ("client_stream_zero", c_client_stream_zero),
    ("client_stream_4x1MiB", c_client_stream_large),
    ("client_stream_error", c_client_stream_error),
    ("bidi", c_bidi),
    ("bidi_zero", c_bidi_zero),
    ("bidi_4x1MiB", c_bidi_large),
    ("bidi_error", c_bidi_error),
    ("bidi_20_concurrent", c_bidi_concurrent),
    ("deadline_unary", c_deadline_unary),
    ("deadline_server_stream", c_deadline_server_stream),
    ("cancel_unary", c_cancel_unary),
    ("cancel_server_stream", c_cancel_server_stream),
    ("cancel_bidi", c_cancel_bidi),
    ("status_codes", c_status_codes),
    ("status_messages", c_status_messages),
    ("status_trailers_only", c_status_trailers_only),
    ("unknown_method", c_unknown_method),
    ("metadata_unary", c_metadata_unary),
    ("metadata_server_stream", c_metadata_server_stream),
    ("metadata_client_stream", c_metadata_client_stream),
    ("metadata_bidi", c_metadata_bidi),
    ("metadata_on_error", c_metadata_on_error),
    ("concurrent_200_unary", c_concurrent_200_unary),
    ("sequential_500_unary", c_sequential_500_unary),
]


def run_one(fn, limit):
    """fn's failure as text, or None; a check that hangs fails after limit s."""
    out = []

    def body():
        try:
            fn()
            out.append(None)
        except Fail as e:
            out.append(str(e))
        except grpc.RpcError as e:
            out.append(f"unexpected status {e.code().name} {e.details()!r}")
        except Exception as e:      # noqa: BLE001 (a check's bug is its failure)
            out.append(f"{type(e).__name__}: {e}")
    t = threading.Thread(target=body, daemon=True)
    t.start()
    t.join(limit)
    return out[0] if out else f"no result in {limit} s"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("target", nargs="?", help="server address, host:port")
    ap.add_argument("--gen", default=os.path.join(here, "..", "..", "..", "build", "gen"),
                    help="where protoc wrote kumo/test/echo_pb2.py (default: build/gen)")
    ap.add_argument("--run", default="", help="only the checks whose name matches this regexp")
    ap.add_argument("--list", action="store_true", help="print the check names and exit")
    ap.add_argument("--timeout", type=float, default=30, help="time limit of each check, s")
    a = ap.parse_args()
    if a.list:
        print("\n".join(n for n, _ in CHECKS))
        return 0
    if not a.target:
        ap.error("the target is required")

    global pb, unary, server_stream, client_stream, bidi, channel
    sys.path.insert(0, a.gen)
    try:
        from kumo.test import echo_pb2
    except ImportError as e:
        print(f"FAIL import: {e} (run `make interop-gen`, or pass --gen)\n0 passed, 1 failed")
        return 1
    pb = echo_pb2
    channel = grpc.insecure_channel(a.target, options=[
        ("grpc.max_receive_message_length", MAX_MSG),
        ("grpc.max_send_message_length", MAX_MSG),
    ])
    try:
        grpc.channel_ready_future(channel).result(timeout=10)
    except grpc.FutureTimeoutError:
        print(f"FAIL connect: {a.target}: not ready in 10 s\n0 passed, 1 failed")
        return 1
    ser, de = pb.EchoRequest.SerializeToString, pb.EchoResponse.FromString
    unary = channel.unary_unary(SVC + "Unary", request_serializer=ser, response_deserializer=de)
    server_stream = channel.unary_stream(SVC + "ServerStream", request_serializer=ser, response_deserializer=de)
    client_stream = channel.stream_unary(SVC + "ClientStream", request_serializer=ser, response_deserializer=de)
    bidi = channel.stream_stream(SVC + "Bidi", request_serializer=ser, response_deserializer=de)

    filt = re.compile(a.run)
    passed = failed = 0
    for name, fn in CHECKS:
        if not filt.search(name):
            continue
        why = run_one(fn, a.timeout)
        if why is None:
            passed += 1
            print(f"ok {name}", flush=True)
        else:
            failed += 1
            print(f"FAIL {name}: {why}".replace("\n", "\\n"), flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    channel.close()
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
