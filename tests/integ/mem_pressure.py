# SPDX-License-Identifier: MIT
# Driven by mem_pressure.sh: kumo serve's address space is limited while
# clients write, read, delete by prefix and watch; prints one "ok"/"FAIL"
# line per check and ends with "N passed, N failed".
import atexit
import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time

HOST, PORT, PID = "127.0.0.1", int(sys.argv[1]), int(sys.argv[2])
WATCHERS = int(os.environ.get("MP_WATCHERS", "60"))
HEADROOM_KB = int(os.environ.get("MP_HEADROOM_KB", "4096"))
LATE = int(os.environ.get("MP_LATE", "150"))
PRESSURE_S = float(os.environ.get("MP_PRESSURE_S", "6"))
GRPC_WATCHERS = int(os.environ.get("MP_GRPC_WATCHERS", "4"))
TMP = sys.argv[3] if len(sys.argv) > 3 else "/tmp"
passed = failed = 0


def ok(msg):
    global passed
    passed += 1
    print("ok   " + msg, flush=True)


def bad(msg):
    global failed
    failed += 1
    print("FAIL " + msg, flush=True)


def check(cond, good, failure):
    ok(good) if cond else bad(failure)


def b(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def unb(s):
    return base64.b64decode(s or "").decode()


def prefix_end(s):
    bs = bytearray(s.encode())
    bs[-1] += 1
    return b(bytes(bs))


def alive():
    try:
        with open("/proc/%d/stat" % PID) as f:
            return f.read().split()[2] not in ("Z", "X")
    except OSError:
        return False


def post(path, body, timeout=10):
    """(status, parsed body); status 0 when the connection was refused,
    reset or closed without an answer."""
    c = http.client.HTTPConnection(HOST, PORT, timeout=timeout)
    try:
        c.request("POST", path, body=json.dumps(body).encode(),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data.decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return 0, None
    finally:
        c.close()


class Watcher:
    """A JSON-gateway watch on a prefix that, like clientv3, resumes from
    the revision after the last it saw whenever its stream ends."""

    def __init__(self, prefix, start_rev):
        self.prefix, self.next_rev = prefix, start_rev
        self.events = []            # (revision, type, key)
        self.opens = self.refusals = 0
        self.odd = []               # answers that are neither a stream nor a refusal
        self.stop = False
        self.created = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def last_rev(self):
        with self.lock:
            return self.events[-1][0] if self.events else 0

    def run(self):
        while not self.stop:
            self.once()
            if not self.stop:
                time.sleep(0.1)

    def once(self):
        c = http.client.HTTPConnection(HOST, PORT, timeout=30)
        body = {"create_request": {"key": b(self.prefix), "range_end": prefix_end(self.prefix),
                                   "start_revision": self.next_rev}}
        try:
            c.request("POST", "/v3/watch", body=json.dumps(body).encode(),
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            self.opens += 1
            if r.status != 200:
                if r.status == 503:
                    self.refusals += 1
                else:
                    self.odd.append((r.status, r.read()[:200]))
                return
            while not self.stop:
                line = r.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    continue
                m = json.loads(line)
                res = m.get("result", m)
                if "error" in m:
                    code = m["error"].get("code") if isinstance(m["error"], dict) else None
                    if code not in (8, 14):
                        self.odd.append(("error", line[:200]))
                    return
                if res.get("created"):
                    self.created.set()
                if res.get("canceled"):
                    if "compact" in json.dumps(res):
                        self.odd.append(("canceled", line[:200]))
                    return
                for e in res.get("events", []):
                    kv = e["kv"]
                    rev = int(kv.get("mod_revision", 0))
                    with self.lock:
                        if self.events and rev < self.events[-1][0]:
                            self.odd.append(("backwards", rev))
                        self.events.append((rev, e.get("type", "PUT"), unb(kv["key"])))
                        self.next_rev = rev + 1
        except (OSError, http.client.HTTPException, ValueError):
            self.refusals += 1
        finally:
            c.close()


def grpc_events(path):
    """(revision, type, key) of the events etcdctl watch -w json printed."""
    out = []
    with open(path) as f:
        for line in f:
            try:
                m = json.loads(line)
            except ValueError:
                continue
            for e in m.get("Events") or []:
                kv = e["kv"]
                out.append((int(kv.get("mod_revision", 0)), "DELETE" if e.get("type") == 1 else "PUT",
                            unb(kv["key"])))
    return out


def vm_size_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1])
    return 0


def set_limit(value):
    # the soft limit only: lifting it again needs no privilege
    subprocess.run(["prlimit", "--pid", str(PID), "--as=%s:unlimited" % value], check=False)


def revision():
    st, r = post("/v3/kv/range", {"key": b("\0"), "count_only": True})
    return int(r["header"]["revision"]) if st == 200 else 0


def main():
    model = {}                  # acknowledged live keys under mp/ -> value
    refused_puts = []           # (key, value) answered 503 or not at all
    answers = {}                # status -> count, under pressure
    wrong = []

    def note(st):
        answers[st] = answers.get(st, 0) + 1
        if st not in (200, 503, 0):
            wrong.append(st)

    def put(key, val):
        st, r = post("/v3/kv/put", {"key": b(key), "value": b(val)})
        if st == 200:
            model[key] = val
        else:
            refused_puts.append((key, val, st, r))
        return st

    for i in range(40):
        put("mp/a/%03d" % i, "a%d" % i)
        put("mp/b/%03d" % i, "b%d" % i)
    put("other/x", "x")
    start_rev = revision()
    watchers = [Watcher("mp/", start_rev + 1) for _ in range(WATCHERS)]
    # etcd's own client over gRPC, which resumes a broken stream itself
    grpc_out = ["%s/etcdctl-watch-%d.json" % (TMP, i) for i in range(GRPC_WATCHERS)]
    grpc_procs = [subprocess.Popen(["etcdctl", "--endpoints=http://%s:%d" % (HOST, PORT), "watch",
                                    "--prefix", "mp/", "--rev=%d" % (start_rev + 1), "-w", "json"],
                                   stdout=open(f, "w"), stderr=subprocess.DEVNULL) for f in grpc_out]
    for p in grpc_procs:
        atexit.register(p.kill)     # whatever way the test ends
    for w in watchers:
        w.created.wait(10)
    created = sum(w.created.is_set() for w in watchers)
    check(created == WATCHERS, "%d watches open before the pressure" % WATCHERS, "only %d of %d watches opened" % (created, WATCHERS))
    put("mp/b/before", "1")

    vm = vm_size_kb(PID)
    limit_kb = vm + HEADROOM_KB
    set_limit(limit_kb * 1024)
    print("# VmSize %d kB, address space limited to %d kB" % (vm, limit_kb), flush=True)

    # gRPC writes from etcd's client: done, or refused (RESOURCE_EXHAUSTED,
    # or its connection refused: the balancer's error), never half done.
    grpc_odd = []
    for i in range(3):
        key = "mp/g/%d" % i
        r = subprocess.run(["etcdctl", "--endpoints=http://%s:%d" % (HOST, PORT), "--dial-timeout=1s",
                            "--command-timeout=2s", "put", key, "g%d" % i],
                           capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip() == "OK":
            model[key] = "g%d" % i
        else:
            refused_puts.append((key, "g%d" % i, "grpc", r.stderr[-200:]))
            if not any(m in r.stderr for m in ("RESOURCE_EXHAUSTED", "ResourceExhausted",
                                               "balancer error", "REFUSED_STREAM")):
                grpc_odd.append(r.stderr[-300:])
    check(not grpc_odd, "etcdctl put under the limit: done or refused",
          "etcdctl put failed otherwise: %s" % grpc_odd[:1])

    # Under pressure: writes, reads, a prefix delete and new watches.
    t_end = time.monotonic() + PRESSURE_S
    late = []
    deleted_a = False
    n = 0
    read_wrong = []
    while time.monotonic() < t_end:
        n += 1
        note(put("mp/b/p%04d" % n, "v%d" % n))
        note(put("mp/c/p%04d" % n, "v%d" % n))
        st, r = post("/v3/kv/range", {"key": b("mp/b/"), "range_end": prefix_end("mp/b/")})
        note(st)
        if st == 200:
            got = {unb(kv["key"]): unb(kv.get("value")) for kv in r.get("kvs", [])}
            for k, v in model.items():
                if k.startswith("mp/b/") and got.get(k) != v:
                    read_wrong.append((k, v, got.get(k)))
        if not deleted_a and n % 5 == 0:
            st, r = post("/v3/kv/deleterange", {"key": b("mp/a/"), "range_end": prefix_end("mp/a/")})
            note(st)
            if st == 200:
                deleted_a = True
                for k in [k for k in model if k.startswith("mp/a/")]:
                    del model[k]
        if len(late) < LATE:
            late.append(Watcher("mp/", start_rev + 1))
        if not alive():
            break
    stayed = alive()
    vm_low = vm_size_kb(PID) if stayed else 0
    set_limit("unlimited")
    check(stayed, "the server stayed up under the limit (%d rounds)" % n, "the server died under the limit")
    print("# answers under the limit: %s; VmSize at the end %d kB" % (answers, vm_low), flush=True)
    refused = answers.get(503, 0) + answers.get(0, 0)
    check(refused > 0, "the limit bit: %d requests refused (503 or connection refused)" % refused,
          "no request was refused: the limit did not bite")
    check(not wrong, "every answer under the limit was 200 or 503", "other answers: %s" % wrong[:10])
    check(not read_wrong, "every read under the limit saw every acknowledged write", "reads missed acknowledged writes: %s" % read_wrong[:5])

    # Memory back: the same requests work again.
    time.sleep(0.5)
    for _ in range(100):
        st, _ = post("/v3/kv/deleterange", {"key": b("mp/a/"), "range_end": prefix_end("mp/a/")})
        if st == 200:
            break
        time.sleep(0.1)
    for k in [k for k in model if k.startswith("mp/a/")]:
        del model[k]
    st = put("mp/b/after", "1")
    check(st == 200, "writes succeed once the limit is lifted", "write after the limit: %s" % st)
    final_rev = revision()

    st, r = post("/v3/kv/range", {"key": b("mp/"), "range_end": prefix_end("mp/")})
    got = {unb(kv["key"]): unb(kv.get("value")) for kv in r.get("kvs", [])} if st == 200 else {}
    missing = [k for k, v in model.items() if k.startswith("mp/") and got.get(k) != v]
    check(not missing, "every acknowledged write is present (%d keys)" % len(model),
          "acknowledged writes missing: %s" % missing[:5])
    applied = [(k, v, s) for k, v, s, _ in refused_puts if got.get(k) == v]
    check(not applied, "no refused write was applied (%d refused)" % len(refused_puts), "refused writes applied: %s" % applied[:5])
    extra = [k for k in got if k not in model]
    check(not extra, "nothing else is there", "keys nobody acknowledged: %s" % extra[:5])
    b_keys = [k for k in model if k.startswith("mp/b/")]
    st, r = post("/v3/kv/range", {"key": b("other/x")})
    kept = st == 200 and len(r.get("kvs", [])) == 1 and all(k in got for k in b_keys)
    check(kept, "the prefix delete removed mp/a/ only (%d mp/b/ keys and other/x kept)" % len(b_keys),
          "keys outside mp/a/ lost")
    check(not any(k.startswith("mp/a/") for k in got), "mp/a/ is empty", "mp/a/ keys left")

    # Watchers: every event from start_rev on, in order, once each; the
    # reference is the history replayed by a watch opened now.
    ref = Watcher("mp/", start_rev + 1)
    deadline = time.monotonic() + 20
    everyone = watchers + late + [ref]
    while time.monotonic() < deadline and any(w.last_rev() < final_rev for w in everyone):
        time.sleep(0.1)
    while time.monotonic() < deadline and any(grpc_events(f)[-1:] != ref.events[-1:] for f in grpc_out):
        time.sleep(0.1)
    for w in everyone:
        w.stop = True
    for p in grpc_procs:
        p.terminate()
        p.wait()
    want = ref.events
    check(bool(want) and want[-1][0] == final_rev,
          "the replay reaches revision %d (%d events)" % (final_rev, len(want)),
          "replay ends at %s, want %d" % (want[-1][0] if want else None, final_rev))
    gaps = [i for i, w in enumerate(watchers) if w.events != want]
    resumed = sum(w.opens > 1 for w in watchers)
    check(not gaps, "%d watchers opened before the pressure saw every event once, in order (%d resumed)" %
          (len(watchers), resumed), "watchers with gaps or repeats: %s (e.g. %d events vs %d)" %
          (gaps[:5], len(watchers[gaps[0]].events) if gaps else 0, len(want)))
    late_gaps = [i for i, w in enumerate(late) if w.events != want]
    late_refused = sum(w.refusals for w in late)
    check(not late_gaps, "%d watches opened under the limit (%d refusals, retried) caught up without gaps" %
          (len(late), late_refused), "late watchers with gaps: %s" % late_gaps[:5])
    grpc_gaps = [i for i, f in enumerate(grpc_out) if grpc_events(f) != want]
    check(not grpc_gaps, "%d etcdctl (gRPC) watchers saw every event once, in order" % len(grpc_out),
          "etcdctl watchers with gaps: %s" % grpc_gaps)
    odd = [o for w in everyone for o in w.odd]
    check(not odd, "no watch ended with an unexpected answer", "odd watch answers: %s" % odd[:5])
    check(alive(), "the server is still up", "the server is gone")
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


sys.exit(main())
