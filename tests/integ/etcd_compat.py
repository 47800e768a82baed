#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Sends one fixed sequence of etcd v3 JSON API requests to two servers and compares the responses field by field.
"""usage: etcd_compat.py NAME_A=URL_A NAME_B=URL_B

Both servers must be fresh (revision 1, no leases). Each side runs the same
scenario in its own thread; the answers are then compared case by case: HTTP
status and the whole body. The only things not compared are
header.cluster_id, header.member_id, header.raft_term, and the values of
lease IDs the server generated (each side's generated IDs are renamed
<lease1>, <lease2>, ... in order of first appearance; IDs the client chose
are compared as they are). For /v3/maintenance/status only header.revision
and the set of field names are compared, since the rest describes the
server, not the data. The "keys" list of /v3/lease/timetolive is compared
as a set: etcd itself returns it in random order.

COMPAT_DUMP=FILE writes every case of both sides to FILE.

Prints one line per differing case with both answers, then
"etcd_compat: N cases, M differ"; exits 1 if any differ.
"""
import base64
import http.client
import json
import os
import socket
import sys
import threading
import time
import urllib.parse

TIMEOUT = 10.0
# Lease IDs the scenario chooses itself: compared literally.
EXPLICIT_IDS = {"7001", "7002", "7003", "999999"}


def b(s):
    """base64 of a str or bytes, as the JSON API carries keys and values."""
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


def prefix_end(s):
    """The range_end that selects every key starting with s."""
    bs = bytearray(s.encode())
    bs[-1] += 1
    return b(bytes(bs))


class Side:
    """One server under test and the answers it gave, in scenario order."""

    def __init__(self, name, url):
        self.name = name
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.cases = []          # (case name, kind, status, body)
        self.error = None

    def _conn(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)

    def raw(self, method, path, data):
        """One request on a fresh connection: (status, body text)."""
        c = self._conn()
        try:
            headers = {"Content-Type": "application/json"} if data is not None else {}
            c.request(method, path, body=data, headers=headers)
            r = c.getresponse()
            return r.status, r.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as e:
            return 0, "<%s: %s>" % (type(e).__name__, e)
        finally:
            c.close()

    def call(self, case, path, body=None, method="POST", data=None, kind="json"):
        """Sends body (a dict, as JSON) or data (raw bytes), records the answer
        under case and returns the parsed body (or {} if it is not JSON)."""
        if data is None and body is not None:
            data = json.dumps(body).encode()
        status, text = self.raw(method, path, data)
        parsed = parse(text)
        self.cases.append((case, kind, status, parsed if parsed is not None else text))
        return parsed if isinstance(parsed, dict) else {}

    def stream(self, case, path, body, action=None, first_wait=3.0, quiet=0.5, total=4.0):
        """Opens a streaming POST (watch, keepalive), waits for the first
        message, runs action() (which may use this side), then keeps reading
        until the stream ends, nothing came for `quiet` seconds, or `total`
        seconds passed. Records status and the list of JSON messages."""
        w = Stream(self, path, body)
        w.wait_messages(1, first_wait)
        if action:
            action()
        w.wait_quiet(quiet, total)
        w.close()
        self.cases.append((case, "stream", w.status, w.messages))
        return w.messages


class Stream:
    """A POST whose answer is newline-delimited JSON, read on its own thread."""

    def __init__(self, side, path, body):
        self.status = 0
        self.messages = []
        self.last = time.monotonic()
        self.done = False
        self.cond = threading.Condition()
        self.conn = side._conn()
        data = json.dumps(body).encode()
        try:
            self.conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
        except OSError as e:
            self.messages.append("<%s: %s>" % (type(e).__name__, e))
            self.done = True
            return
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            r = self.conn.getresponse()
            with self.cond:
                self.status = r.status
            while True:
                line = r.readline()
                if not line:
                    break
                line = line.strip()
                if not line:
                    continue
                p = parse(line.decode("utf-8", "replace"))
                with self.cond:
                    self.messages.append(p if p is not None else line.decode("utf-8", "replace"))
                    self.last = time.monotonic()
                    self.cond.notify_all()
        except (OSError, http.client.HTTPException, ValueError, AttributeError) as e:
            if not self.done:
                with self.cond:
                    self.messages.append("<%s: %s>" % (type(e).__name__, e))
        with self.cond:
            self.done = True
            self.cond.notify_all()

    def wait_messages(self, n, limit):
        end = time.monotonic() + limit
        with self.cond:
            while len(self.messages) < n and not self.done:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)

    def wait_quiet(self, quiet, total):
        end = time.monotonic() + total
        with self.cond:
            self.last = max(self.last, time.monotonic())
            while not self.done:
                now = time.monotonic()
                left = min(end, self.last + quiet) - now
                if left <= 0:
                    break
                self.cond.wait(left)

    def close(self):
        with self.cond:
            closing = not self.done
            self.done = True
        if closing:
            # shutdown wakes the reader thread blocked in recv
            try:
                self.conn.sock and self.conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.conn.close()
        with self.cond:
            self.messages = list(self.messages)


def parse(text):
    try:
        return json.loads(text)
    except ValueError:
        return None


# ---------------------------------------------------------------- scenario

def scenario(s):
    P = s.call
    kv = "/v3/kv/"

    # -- put
    P("put first", kv + "put", {"key": b("foo"), "value": b("bar")})
    P("put prev_kv", kv + "put", {"key": b("foo"), "value": b("bar2"), "prev_kv": True})
    P("put prev_kv on new key", kv + "put", {"key": b("foo1"), "value": b("v1"), "prev_kv": True})
    for i in range(2, 6):
        P("put foo%d" % i, kv + "put", {"key": b("foo%d" % i), "value": b("v%d" % (7 - i))})
    P("put fop", kv + "put", {"key": b("fop"), "value": b("p")})
    P("put a", kv + "put", {"key": b("a"), "value": b("aa")})
    P("put z", kv + "put", {"key": b("z"), "value": b("")})
    P("put binary key", kv + "put", {"key": b(b"\x00\xff\x10k"), "value": b(b"\x00\x01")})
    P("put ignore_value", kv + "put", {"key": b("foo1"), "ignore_value": True, "prev_kv": True})
    P("put ignore_value missing key", kv + "put", {"key": b("nokey"), "ignore_value": True})
    P("put ignore_value with value", kv + "put", {"key": b("foo1"), "value": b("x"), "ignore_value": True})
    P("put ignore_lease missing key", kv + "put", {"key": b("nokey"), "value": b("x"), "ignore_lease": True})
    P("put foo again", kv + "put", {"key": b("foo"), "value": b("bar3")})
    P("put no value", kv + "put", {"key": b("empty")})

    # -- range
    R = lambda name, body: P(name, kv + "range", body)
    R("range one", {"key": b("foo")})
    R("range missing", {"key": b("nothere")})
    R("range prefix", {"key": b("foo"), "range_end": prefix_end("foo")})
    R("range from key (range_end \\0)", {"key": b("foo3"), "range_end": b(b"\x00")})
    R("range all (\\0, \\0)", {"key": b(b"\x00"), "range_end": b(b"\x00")})
    R("range interval", {"key": b("foo1"), "range_end": b("foo4")})
    R("range empty interval", {"key": b("foo4"), "range_end": b("foo1")})
    R("range limit", {"key": b("foo"), "range_end": prefix_end("foo"), "limit": 2})
    R("range limit = count", {"key": b("foo"), "range_end": prefix_end("foo"), "limit": 6})
    R("range limit string", {"key": b("foo"), "range_end": prefix_end("foo"), "limit": "3"})
    R("range revision 2", {"key": b("foo"), "revision": 2})
    R("range revision 3 prefix", {"key": b("foo"), "range_end": prefix_end("foo"), "revision": "3"})
    R("range revision before key", {"key": b("fop"), "revision": 2})
    R("range future revision", {"key": b("foo"), "revision": 1000})
    R("range current revision", {"key": b("foo"), "revision": 0})
    for order in ("NONE", "ASCEND", "DESCEND"):
        for target in ("KEY", "VERSION", "CREATE", "MOD", "VALUE"):
            R("range sort %s %s" % (order, target),
              {"key": b("foo"), "range_end": prefix_end("foo"), "sort_order": order, "sort_target": target})
    R("range sort numeric enums", {"key": b("foo"), "range_end": prefix_end("foo"), "sort_order": 2, "sort_target": 4})
    R("range sort DESCEND limit", {"key": b("a"), "range_end": b(b"\x00"), "sort_order": "DESCEND", "limit": 3})
    R("range sort target only", {"key": b("foo"), "range_end": prefix_end("foo"), "sort_target": "VALUE"})
    R("range keys_only", {"key": b("foo"), "range_end": prefix_end("foo"), "keys_only": True})
    R("range count_only", {"key": b("foo"), "range_end": prefix_end("foo"), "count_only": True})
    R("range count_only limit", {"key": b("foo"), "range_end": prefix_end("foo"), "count_only": True, "limit": 1})
    R("range keys_only count_only", {"key": b("a"), "range_end": b(b"\x00"), "keys_only": True, "count_only": True})
    R("range min_mod_revision", {"key": b("foo"), "range_end": prefix_end("foo"), "min_mod_revision": 5})
    R("range max_mod_revision", {"key": b("foo"), "range_end": prefix_end("foo"), "max_mod_revision": 5})
    R("range min_create_revision", {"key": b("foo"), "range_end": prefix_end("foo"), "min_create_revision": 4})
    R("range max_create_revision", {"key": b("foo"), "range_end": prefix_end("foo"), "max_create_revision": 4})
    R("range min/max mod + limit", {"key": b("a"), "range_end": b(b"\x00"), "min_mod_revision": 3,
                                    "max_mod_revision": 9, "limit": 2})
    R("range serializable", {"key": b("foo"), "serializable": True})
    R("range binary key", {"key": b(b"\x00\xff\x10k")})
    R("range unknown fields ignored", {"key": b("foo"), "bogus": 1, "nested": {"x": [1, 2]}})
    R("range int64 as number", {"key": b("foo"), "revision": 3, "limit": 1})

    # -- delete
    D = lambda name, body: P(name, kv + "deleterange", body)
    D("delete missing", {"key": b("nothere")})
    D("delete one", {"key": b("foo5")})
    D("delete one prev_kv", {"key": b("foo4"), "prev_kv": True})
    P("put foo4 back", kv + "put", {"key": b("foo4"), "value": b("again")})
    R("range recreated key", {"key": b("foo4")})
    P("put d1", kv + "put", {"key": b("d/1"), "value": b("1")})
    P("put d2", kv + "put", {"key": b("d/2"), "value": b("2")})
    P("put d3", kv + "put", {"key": b("d/3"), "value": b("3")})
    D("delete prefix prev_kv", {"key": b("d/"), "range_end": prefix_end("d/"), "prev_kv": True})
    D("delete prefix nothing left", {"key": b("d/"), "range_end": prefix_end("d/")})
    P("put x1", kv + "put", {"key": b("x1"), "value": b("1")})
    P("put x2", kv + "put", {"key": b("x2"), "value": b("2")})
    D("delete from key (\\0)", {"key": b("x"), "range_end": b(b"\x00"), "prev_kv": True})
    R("range after deletes", {"key": b(b"\x00"), "range_end": b(b"\x00"), "keys_only": True})
    R("range deleted key at old revision", {"key": b("foo5"), "revision": 10})

    # -- txn: every target with every result, on key "t" (value "m", version 2)
    P("put t", kv + "put", {"key": b("t"), "value": b("l")})
    tr = P("put t again", kv + "put", {"key": b("t"), "value": b("m")})
    R("range t", {"key": b("t")})
    trev = int(tr.get("header", {}).get("revision", "0"))   # same on both sides if they agree
    tcre = trev - 1
    T = lambda name, body: P(name, kv + "txn", body)
    fields = {
        "VERSION": ("version", ["1", "2", "3"]),
        "CREATE": ("create_revision", [str(tcre - 1), str(tcre), str(tcre + 1)]),
        "MOD": ("mod_revision", [str(trev - 1), str(trev), str(trev + 1)]),
        "VALUE": ("value", [b("l"), b("m"), b("n")]),
        "LEASE": ("lease", ["0", "0", "1"]),
    }
    for target, (field, vals) in fields.items():
        for result in ("EQUAL", "GREATER", "LESS", "NOT_EQUAL"):
            for label, v in zip(("lo", "eq", "hi"), vals):
                if target == "LEASE" and label == "eq":
                    continue
                T("txn %s %s %s" % (target, result, label), {
                    "compare": [{"key": b("t"), "target": target, "result": result, field: v}],
                    "success": [{"request_range": {"key": b("t")}}],
                    "failure": [{"request_range": {"key": b("foo1")}}]})
    T("txn compare on missing key (VERSION = 0)", {
        "compare": [{"key": b("nokey"), "target": "VERSION", "result": "EQUAL", "version": "0"}],
        "success": [{"request_put": {"key": b("nokey"), "value": b("created")}}]})
    T("txn compare on missing key (CREATE = 0)", {
        "compare": [{"key": b("nokey2"), "target": "CREATE", "result": "EQUAL", "create_revision": 0}]})
    T("txn compare VALUE missing key", {
        "compare": [{"key": b("nokey3"), "target": "VALUE", "result": "EQUAL", "value": b("")}]})
    T("txn numeric enums", {
        "compare": [{"key": b("t"), "target": 0, "result": 0, "version": "2"}],
        "success": [{"request_range": {"key": b("t"), "keys_only": True}}]})
    T("txn success puts and deletes", {
        "compare": [{"key": b("t"), "target": "VALUE", "result": "EQUAL", "value": b("m")}],
        "success": [{"request_put": {"key": b("t"), "value": b("n"), "prev_kv": True}},
                    {"request_put": {"key": b("t2"), "value": b("n")}},
                    {"request_delete_range": {"key": b("fop"), "prev_kv": True}},
                    {"request_range": {"key": b("t"), "range_end": prefix_end("t")}}],
        "failure": [{"request_put": {"key": b("failed"), "value": b("1")}}]})
    T("txn failure branch puts", {
        "compare": [{"key": b("t"), "target": "VALUE", "result": "EQUAL", "value": b("m")}],
        "success": [{"request_put": {"key": b("t"), "value": b("o")}}],
        "failure": [{"request_put": {"key": b("failed"), "value": b("1")}},
                    {"request_range": {"key": b("failed")}}]})
    T("txn several compares, one false", {
        "compare": [{"key": b("t"), "target": "VERSION", "result": "GREATER", "version": "1"},
                    {"key": b("t2"), "target": "VALUE", "result": "EQUAL", "value": b("no")}],
        "success": [{"request_range": {"key": b("t")}}],
        "failure": [{"request_range": {"key": b("t2")}}]})
    T("txn several compares, all true", {
        "compare": [{"key": b("t"), "target": "VERSION", "result": "GREATER", "version": "1"},
                    {"key": b("t2"), "target": "VALUE", "result": "EQUAL", "value": b("n")}],
        "success": [{"request_range": {"key": b("t")}}]})
    T("txn empty", {})
    T("txn no compare, puts", {"success": [{"request_put": {"key": b("e1"), "value": b("1")}},
                                            {"request_put": {"key": b("e2"), "value": b("2")}}]})
    T("txn nested", {
        "compare": [{"key": b("t"), "target": "VERSION", "result": "GREATER", "version": "0"}],
        "success": [{"request_put": {"key": b("n1"), "value": b("1")}},
                    {"request_txn": {
                        "compare": [{"key": b("n1"), "target": "VALUE", "result": "EQUAL", "value": b("1")}],
                        "success": [{"request_put": {"key": b("n2"), "value": b("2")}},
                                    {"request_range": {"key": b("n"), "range_end": prefix_end("n")}}],
                        "failure": [{"request_put": {"key": b("n3"), "value": b("3")}}]}}]})
    T("txn nested failure branch", {
        "success": [{"request_txn": {
            "compare": [{"key": b("n1"), "target": "VALUE", "result": "EQUAL", "value": b("zzz")}],
            "success": [{"request_put": {"key": b("n2"), "value": b("x")}}],
            "failure": [{"request_delete_range": {"key": b("n2"), "prev_kv": True}},
                        {"request_txn": {"success": [{"request_range": {"key": b("n1")}}]}}]}}]})
    # compares over a range of keys (range_end): every key must satisfy it
    T("txn range compare all VERSION > 0", {
        "compare": [{"key": b("foo"), "range_end": prefix_end("foo"), "target": "VERSION",
                     "result": "GREATER", "version": "0"}],
        "success": [{"request_range": {"key": b("foo"), "range_end": prefix_end("foo"), "count_only": True}}]})
    T("txn range compare VERSION = 1 (some not)", {
        "compare": [{"key": b("foo"), "range_end": prefix_end("foo"), "target": "VERSION",
                     "result": "EQUAL", "version": "1"}],
        "success": [{"request_range": {"key": b("foo1")}}], "failure": [{"request_range": {"key": b("foo2")}}]})
    T("txn range compare MOD < big", {
        "compare": [{"key": b("a"), "range_end": b(b"\x00"), "target": "MOD", "result": "LESS",
                     "mod_revision": "100000"}],
        "success": [{"request_range": {"key": b("a"), "keys_only": True}}]})
    T("txn range compare CREATE > 3", {
        "compare": [{"key": b("foo"), "range_end": prefix_end("foo"), "target": "CREATE", "result": "GREATER",
                     "create_revision": "3"}],
        "failure": [{"request_range": {"key": b("foo"), "range_end": prefix_end("foo"), "keys_only": True}}]})
    T("txn range compare empty range", {
        "compare": [{"key": b("q1"), "range_end": b("q9"), "target": "VALUE", "result": "EQUAL", "value": b("x")}],
        "success": [{"request_range": {"key": b("q1")}}]})
    T("txn duplicate put", {"success": [{"request_put": {"key": b("dup"), "value": b("1")}},
                                         {"request_put": {"key": b("dup"), "value": b("2")}}]})
    T("txn put and delete same key", {"success": [{"request_put": {"key": b("dup"), "value": b("1")}},
                                                   {"request_delete_range": {"key": b("dup")}}]})
    T("txn put in nested and outer same key", {"success": [
        {"request_put": {"key": b("dup"), "value": b("1")}},
        {"request_txn": {"success": [{"request_put": {"key": b("dup"), "value": b("2")}}]}}]})
    T("txn put in both branches same key (allowed)", {
        "success": [{"request_put": {"key": b("dup2"), "value": b("1")}}],
        "failure": [{"request_put": {"key": b("dup2"), "value": b("2")}}]})
    T("txn missing lease", {"success": [{"request_put": {"key": b("ll"), "value": b("1"), "lease": "999999"}}]})
    T("txn future revision range", {"success": [{"request_range": {"key": b("t"), "revision": 100000}}]})
    T("txn empty key put", {"success": [{"request_put": {"key": "", "value": b("1")}}]})

    # -- errors
    P("put empty key", kv + "put", {"key": "", "value": b("v")})
    P("put missing key field", kv + "put", {"value": b("v")})
    R("range empty key", {"key": ""})
    D("delete empty key", {"key": ""})
    P("put missing lease", kv + "put", {"key": b("ml"), "value": b("v"), "lease": "999999"})
    P("range malformed JSON", kv + "range", data=b'{"key": "Zm9v",')
    P("put malformed JSON", kv + "put", data=b'not json')
    P("range empty body", kv + "range", data=b'')
    P("range JSON array", kv + "range", data=b'[1,2]')
    R("range bad base64 key", {"key": "!!!notbase64"})
    P("put bad base64 value", kv + "put", {"key": b("bb"), "value": "%%%"})
    R("range wrong type", {"key": b("foo"), "limit": "many"})
    P("GET on range", kv + "range", method="GET")
    P("PUT on put", kv + "put", body={"key": b("m"), "value": b("v")}, method="PUT")
    P("unknown endpoint", kv + "nope", body={})

    # -- leases
    L = "/v3/lease/"
    g1 = P("lease grant", L + "grant", {"TTL": 600})
    id1 = g1.get("ID", "0")
    g2 = P("lease grant second", L + "grant", {"TTL": 900})
    id2 = g2.get("ID", "0")
    P("lease grant with ID", L + "grant", {"TTL": 700, "ID": "7001"})
    P("lease grant ID taken", L + "grant", {"TTL": 700, "ID": "7001"})
    P("lease grant TTL 1 (min TTL)", L + "grant", {"TTL": 1, "ID": "7002"})
    P("lease grant TTL 0", L + "grant", {"TTL": 0, "ID": "7003"})
    P("lease grant TTL huge", L + "grant", {"TTL": "9000000000"})
    gneg = P("lease grant TTL negative", L + "grant", {"TTL": -5})
    # the short leases expire in about 2 s: revoke them now, so no answer
    # below depends on how fast the scenario runs
    P("lease timetolive TTL 1 lease", L + "timetolive", {"ID": "7002"})
    P("lease revoke 7002", L + "revoke", {"ID": "7002"})
    P("lease revoke 7003", L + "revoke", {"ID": "7003"})
    P("lease revoke negative-TTL lease", L + "revoke", {"ID": gneg.get("ID", "0")})
    P("put with lease", kv + "put", {"key": b("lk1"), "value": b("1"), "lease": id1})
    P("put with lease 2", kv + "put", {"key": b("lk2"), "value": b("2"), "lease": id1, "prev_kv": True})
    P("put with explicit lease", kv + "put", {"key": b("lk3"), "value": b("3"), "lease": "7001"})
    R("range leased keys", {"key": b("lk"), "range_end": prefix_end("lk")})
    P("put ignore_lease", kv + "put", {"key": b("lk1"), "value": b("1b"), "ignore_lease": True, "prev_kv": True})
    P("put ignore_lease with lease", kv + "put", {"key": b("lk1"), "value": b("1c"), "ignore_lease": True,
                                                  "lease": id2})
    P("put move key to lease 2", kv + "put", {"key": b("lk2"), "value": b("2b"), "lease": id2, "prev_kv": True})
    P("put drop lease", kv + "put", {"key": b("lk3"), "value": b("3b"), "prev_kv": True})
    P("put with lease 7001 again", kv + "put", {"key": b("lk3"), "value": b("3c"), "lease": "7001"})
    T("txn put with lease", {"success": [{"request_put": {"key": b("lk4"), "value": b("4"), "lease": id1}}]})
    T("txn LEASE compare equal", {
        "compare": [{"key": b("lk4"), "target": "LEASE", "result": "EQUAL", "lease": id1}],
        "success": [{"request_range": {"key": b("lk4")}}]})
    T("txn LEASE compare greater 0", {
        "compare": [{"key": b("lk4"), "target": "LEASE", "result": "GREATER", "lease": "0"}],
        "success": [{"request_range": {"key": b("lk4"), "keys_only": True}}]})
    P("lease timetolive with keys", L + "timetolive", {"ID": id1, "keys": True}, kind="ttl")
    P("lease timetolive without keys", L + "timetolive", {"ID": id2})
    P("lease timetolive explicit", L + "timetolive", {"ID": "7001", "keys": True})
    P("lease timetolive missing", L + "timetolive", {"ID": "999999", "keys": True})
    P("lease leases", L + "leases", {})
    s.stream("lease keepalive", L + "keepalive", {"ID": id1})
    s.stream("lease keepalive explicit", L + "keepalive", {"ID": "7001"})
    s.stream("lease keepalive missing", L + "keepalive", {"ID": "999999"})
    P("lease revoke", L + "revoke", {"ID": id1})
    R("range after revoke", {"key": b("lk"), "range_end": prefix_end("lk")})
    P("lease revoke again", L + "revoke", {"ID": id1})
    P("lease revoke missing", L + "revoke", {"ID": "999999"})
    P("lease timetolive revoked", L + "timetolive", {"ID": id1, "keys": True})
    P("put with revoked lease", kv + "put", {"key": b("lk9"), "value": b("9"), "lease": id1})
    P("lease revoke explicit", L + "revoke", {"ID": "7001"})
    P("lease leases after revokes", L + "leases", {})

    # -- watches (before compaction)
    W = "/v3/watch"
    s.stream("watch replay from revision 1", W, {"create_request": {"key": b("foo"), "start_revision": 1}})
    s.stream("watch replay prefix from revision 2 prev_kv", W, {"create_request": {
        "key": b("foo"), "range_end": prefix_end("foo"), "start_revision": "2", "prev_kv": True}})
    s.stream("watch replay all from 20 (\\0)", W, {"create_request": {
        "key": b(b"\x00"), "range_end": b(b"\x00"), "start_revision": 20}})

    def live_ops():
        P("(watch) put w/a", kv + "put", {"key": b("w/a"), "value": b("1")})
        P("(watch) put w/b", kv + "put", {"key": b("w/b"), "value": b("2")})
        P("(watch) put w/a again", kv + "put", {"key": b("w/a"), "value": b("3")})
        P("(watch) put wx", kv + "put", {"key": b("wx"), "value": b("outside")})
        P("(watch) delete w/b", kv + "deleterange", {"key": b("w/b")})
        P("(watch) delete prefix w/", kv + "deleterange", {"key": b("w/"), "range_end": prefix_end("w/")})
        T("(watch) txn two keys", {"success": [{"request_put": {"key": b("w/c"), "value": b("c")}},
                                               {"request_put": {"key": b("w/d"), "value": b("d")}}]})
        P("(watch) put w/c", kv + "put", {"key": b("w/c"), "value": b("c2")})
    s.stream("watch prefix live", W, {"create_request": {"key": b("w/"), "range_end": prefix_end("w/")}},
             action=live_ops)
    s.stream("watch one key prev_kv live", W, {"create_request": {"key": b("w/a"), "prev_kv": True}},
             action=live_ops)
    s.stream("watch prefix NOPUT", W, {"create_request": {"key": b("w/"), "range_end": prefix_end("w/"),
                                                          "filters": ["NOPUT"]}}, action=live_ops)
    s.stream("watch prefix NODELETE prev_kv", W, {"create_request": {
        "key": b("w/"), "range_end": prefix_end("w/"), "filters": ["NODELETE"], "prev_kv": True}}, action=live_ops)
    s.stream("watch replay with filters", W, {"create_request": {
        "key": b("w/"), "range_end": prefix_end("w/"), "start_revision": 2, "filters": ["NOPUT", "NODELETE"]}})

    def lease_ops():
        g = P("(watch) lease grant", L + "grant", {"TTL": 300})
        P("(watch) put leased", kv + "put", {"key": b("wl"), "value": b("1"), "lease": g.get("ID", "0")})
        P("(watch) revoke", L + "revoke", {"ID": g.get("ID", "0")})
    s.stream("watch key deleted by lease revoke", W, {"create_request": {"key": b("wl"), "prev_kv": True}},
             action=lease_ops)
    s.stream("watch bad request", W, {"create_request": {"key": "!!!"}}, total=1.5)

    # -- compaction
    st = P("status before compaction", "/v3/maintenance/status", {}, kind="status")
    cur = int(st.get("header", {}).get("revision", "0"))
    C = kv + "compaction"
    P("compaction future", C, {"revision": cur + 100})
    P("compaction", C, {"revision": 12})
    P("compaction same revision", C, {"revision": 12})
    P("compaction lower revision", C, {"revision": 5})
    R("range compacted revision", {"key": b("foo"), "revision": 11})
    R("range at compact revision", {"key": b("foo"), "range_end": prefix_end("foo"), "revision": 12})
    R("range after compaction", {"key": b("foo"), "revision": 13})
    T("txn range compacted revision", {"success": [{"request_range": {"key": b("t"), "revision": 3}}]})
    s.stream("watch at compacted revision", W, {"create_request": {"key": b("foo"), "start_revision": 5}},
             total=2.0)
    s.stream("watch at compact revision", W, {"create_request": {"key": b("foo"), "start_revision": 12}},
             total=2.0)
    P("compaction physical", C, {"revision": 14, "physical": True})
    P("compaction current revision", C, {"revision": cur})
    R("range at current revision after compaction", {"key": b("a"), "range_end": b(b"\x00"), "keys_only": True,
                                                     "revision": cur})
    P("status at end", "/v3/maintenance/status", {}, kind="status")


# ---------------------------------------------------------------- comparison

HEADER_IGNORED = ("cluster_id", "member_id", "raft_term")


def normalise(v, ids, key=None):
    """Drops the per-server header fields and renames generated lease IDs."""
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if k == "header" and isinstance(x, dict):
                x = {hk: hv for hk, hv in x.items() if hk not in HEADER_IGNORED}
            out[k] = normalise(x, ids, k)
        return out
    if isinstance(v, list):
        return [normalise(x, ids, key) for x in v]
    if key in ("ID", "lease") and isinstance(v, (str, int)) and str(v) not in EXPLICIT_IDS and str(v) != "0":
        sv = str(v)
        if sv not in ids:
            ids[sv] = "<lease%d>" % (len(ids) + 1)
        return ids[sv]
    return v


def status_view(body):
    """What /v3/maintenance/status is compared on: header.revision and the field names."""
    if not isinstance(body, dict):
        return body
    hdr = body.get("header") if isinstance(body.get("header"), dict) else {}
    return {"header.revision": hdr.get("revision"), "fields": sorted(body.keys())}


def views(side):
    ids = {}
    out = []
    for case, kind, status, body in side.cases:
        body = status_view(body) if kind == "status" else normalise(body, ids)
        if kind == "ttl" and isinstance(body, dict) and isinstance(body.get("keys"), list):
            body = dict(body, keys=sorted(body["keys"], key=str))
        out.append((case, status, body))
    return out


def first_diff(x, y, path=""):
    """Where two answers first differ, as a path like .kvs[2].version."""
    if type(x) != type(y):
        return path or "."
    if isinstance(x, dict):
        for k in sorted(set(x) | set(y)):
            if k not in x or k not in y:
                return "%s.%s (only in %s)" % (path, k, "first" if k in x else "second")
            d = first_diff(x[k], y[k], "%s.%s" % (path, k))
            if d:
                return d
        return None
    if isinstance(x, list):
        for i, (a, b) in enumerate(zip(x, y)):
            d = first_diff(a, b, "%s[%d]" % (path, i))
            if d:
                return d
        return None if len(x) == len(y) else "%s (%d vs %d items)" % (path or ".", len(x), len(y))
    return None if x == y else (path or ".")


def show(status, body):
    return "%s %s" % (status, json.dumps(body, sort_keys=True, separators=(",", ":")))


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    sides = []
    for arg in sys.argv[1:]:
        name, _, url = arg.partition("=")
        sides.append(Side(name, url))

    def run(side):
        try:
            scenario(side)
        except Exception as e:  # a crash is a result too: report it, do not hide it
            import traceback
            side.error = "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc())

    threads = [threading.Thread(target=run, args=(sd,)) for sd in sides]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a, b_ = sides
    va, vb = views(a), views(b_)
    differ = 0
    n = max(len(va), len(vb))
    for i in range(n):
        ca = va[i] if i < len(va) else ("<missing>", 0, None)
        cb = vb[i] if i < len(vb) else ("<missing>", 0, None)
        name = ca[0] if ca[0] != "<missing>" else cb[0]
        if ca[0] != cb[0]:
            name = "%s / %s" % (ca[0], cb[0])
        if ca[0] != cb[0] or ca[1] != cb[1] or ca[2] != cb[2]:
            differ += 1
            where = "status" if ca[1] != cb[1] else first_diff(ca[2], cb[2])
            print("DIFF %s [at %s]: %s=%s | %s=%s" % (name, where, a.name, show(ca[1], ca[2]),
                                                      b_.name, show(cb[1], cb[2])))
    for sd in sides:
        if sd.error:
            differ += 1
            print("ERROR %s: scenario stopped: %s" % (sd.name, sd.error))
    dump = os.environ.get("COMPAT_DUMP")
    if dump:
        with open(dump, "w") as f:
            for i in range(n):
                for sd, v in ((a, va), (b_, vb)):
                    if i < len(v):
                        f.write("%s %s: %s\n" % (sd.name, v[i][0], show(v[i][1], v[i][2])))
    print("etcd_compat: %d cases, %d differ (%.1f s)" % (n, differ, time.monotonic() - t0))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
