#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Kills an etcd-API server with SIGKILL while writers put keys, restarts it on the same data and checks no acknowledged write was lost.
"""usage: crash.py kumo BINARY | crash.py etcd

Several writer threads put keys (each put waits for its answer and records
the acknowledged key, value and revision). The server is killed with
SIGKILL at random moments KILLS times (0.2-1 s apart) and restarted on the
same data directory. After each restart, with the writers paused:
  - the server starts (answers within 15 s);
  - for every key, the stored value is the last acknowledged one, or a value
    written later whose answer was lost in the crash (mod_revision >= the
    acknowledged revision; equal revision means equal value);
  - a sample of older acknowledged writes reads back at their revision;
  - the current revision never goes backwards and is >= the highest
    acknowledged revision.
Prints one line per check and "N passed, M failed"; exits 1 on failure.
"""
import base64
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

WRITERS = int(os.environ.get("CRASH_WRITERS", "4"))
KILLS = int(os.environ.get("CRASH_KILLS", "5"))
KEYS_PER_WRITER = 40
SAMPLE = 150


def b(s):
    return base64.b64encode(s.encode()).decode()


def ub(s):
    return base64.b64decode(s).decode()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Server:
    def __init__(self, kind, binary, tmp):
        self.kind, self.binary, self.tmp = kind, binary, tmp
        self.data = os.path.join(tmp, "data")
        self.port = free_port()
        self.peer = free_port()
        self.proc = None
        self.log = open(os.path.join(tmp, "server.log"), "ab")

    def start(self):
        if self.kind == "kumo":
            argv = [self.binary, "serve", "--listen", "127.0.0.1:%d" % self.port, "--data-dir", self.data]
        else:
            c, p = "http://127.0.0.1:%d" % self.port, "http://127.0.0.1:%d" % self.peer
            argv = ["etcd", "--name", "c", "--data-dir", self.data, "--listen-client-urls", c,
                    "--advertise-client-urls", c, "--listen-peer-urls", p,
                    "--initial-advertise-peer-urls", p, "--initial-cluster", "c=" + p]
        self.log.write(b"---- start\n")
        self.log.flush()
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log)

    def wait_ready(self, limit=15.0):
        path = "/healthz" if self.kind == "kumo" else "/health"
        end = time.monotonic() + limit
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                return "exited with %s" % self.proc.returncode
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", path)
                if c.getresponse().status == 200:
                    return None
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        return "not ready after %.0f s" % limit

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def post(self, path, body, timeout=5.0):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
            r = c.getresponse()
            return r.status, json.loads(r.read() or b"null")
        finally:
            c.close()


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}          # key -> (value, revision) of its last acknowledged put
        self.history = []        # every acknowledged (key, value, revision)
        self.attempted = {}      # key -> {value: attempt sequence number}
        self.seq = 0
        self.max_rev = 0
        self.paused = threading.Event()
        self.inflight = 0
        self.stop = False
        self.errors = []


def writer(srv, st, w):
    i = 0
    while not st.stop:
        if st.paused.is_set():
            time.sleep(0.005)
            continue
        with st.lock:
            if st.paused.is_set():
                continue
            st.inflight += 1
            st.seq += 1
            key = "w%d/%03d" % (w, i % KEYS_PER_WRITER)
            val = "v%d-%d" % (w, i)
            st.attempted.setdefault(key, {})[val] = st.seq
        i += 1
        try:
            status, r = srv.post("/v3/kv/put", {"key": b(key), "value": b(val)}, timeout=3)
            if status == 200:
                rev = int(r["header"]["revision"])
                with st.lock:
                    prev = st.acked.get(key)
                    if prev and prev[1] >= rev:
                        st.errors.append("put %s=%s acknowledged at revision %d, not after the earlier %s"
                                         % (key, val, rev, prev))
                    st.acked[key] = (val, rev)
                    st.history.append((key, val, rev))
                    st.max_rev = max(st.max_rev, rev)
            else:
                time.sleep(0.01)
        except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError):
            time.sleep(0.01)       # the server is down: unacknowledged, try again
        finally:
            with st.lock:
                st.inflight -= 1


def verify(srv, st, last_rev):
    """Returns (problems, current revision)."""
    problems = []
    status, r = srv.post("/v3/kv/range", {"key": b("w"), "range_end": b("x")})
    if status != 200:
        return ["range answered %s: %s" % (status, r)], last_rev
    rev = int(r["header"]["revision"])
    stored = {ub(kv["key"]): (ub(kv.get("value", "")), int(kv["mod_revision"])) for kv in r.get("kvs", [])}
    with st.lock:
        acked = dict(st.acked)
        history = list(st.history)
        max_rev = st.max_rev
        attempted = {k: dict(v) for k, v in st.attempted.items()}
    if rev < last_rev:
        problems.append("revision went backwards: %d after %d" % (rev, last_rev))
    if rev < max_rev:
        problems.append("revision %d below the highest acknowledged revision %d" % (rev, max_rev))
    for key, (val, arev) in sorted(acked.items()):
        got = stored.get(key)
        if got is None:
            problems.append("acknowledged %s=%s (revision %d) is missing" % (key, val, arev))
        elif got[1] < arev:
            problems.append("%s: stored %s at revision %d, older than acknowledged %s at %d"
                            % (key, got[0], got[1], val, arev))
        elif got[1] == arev and got[0] != val:
            problems.append("%s: revision %d holds %s, acknowledged %s" % (key, arev, got[0], val))
        elif got[1] > arev:
            seqs = attempted.get(key, {})
            if got[0] not in seqs or seqs[got[0]] < seqs.get(val, 0):
                problems.append("%s: stored %s at revision %d was never written after acknowledged %s"
                                % (key, got[0], got[1], val))
    for key, val, arev in random.sample(history, min(SAMPLE, len(history))):
        status, r = srv.post("/v3/kv/range", {"key": b(key), "revision": arev})
        kvs = r.get("kvs", []) if isinstance(r, dict) else []
        if status != 200 or len(kvs) != 1 or ub(kvs[0].get("value", "")) != val \
                or int(kvs[0]["mod_revision"]) != arev:
            problems.append("history: %s=%s at revision %d reads back %s %s" % (key, val, arev, status, r))
    return problems, rev


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("kumo", "etcd"):
        print(__doc__, file=sys.stderr)
        return 2
    kind = sys.argv[1]
    binary = sys.argv[2] if kind == "kumo" else None
    tmp = tempfile.mkdtemp(prefix="crash.")
    srv = Server(kind, binary, tmp)
    st = State()
    passed = failed = 0
    t0 = time.monotonic()

    def check(name, problems):
        nonlocal passed, failed
        if problems:
            failed += 1
            print("FAIL %s" % name)
            for p in problems[:15]:
                print("     %s" % p)
            if len(problems) > 15:
                print("     ... %d more" % (len(problems) - 15))
        else:
            passed += 1
            print("ok   %s" % name)

    try:
        srv.start()
        err = srv.wait_ready()
        check("%s starts on an empty data dir" % kind, [err] if err else [])
        if err:
            return 1
        threads = [threading.Thread(target=writer, args=(srv, st, w), daemon=True) for w in range(WRITERS)]
        for t in threads:
            t.start()
        last_rev = 0
        for k in range(1, KILLS + 1):
            time.sleep(random.uniform(0.2, 1.0))
            with st.lock:
                n_before = len(st.history)
            srv.kill()
            srv.start()
            err = srv.wait_ready()
            check("restart %d after SIGKILL (%d writes acknowledged so far)" % (k, n_before), [err] if err else [])
            if err:
                break
            st.paused.set()
            while True:
                with st.lock:
                    if st.inflight == 0:
                        break
                time.sleep(0.005)
            problems, last_rev = verify(srv, st, last_rev)
            with st.lock:
                problems += st.errors
                st.errors = []
            check("restart %d: %d keys, %d acknowledged writes, revision %d >= %d, nothing lost"
                  % (k, len(st.acked), len(st.history), last_rev, st.max_rev), problems)
            st.paused.clear()
        st.stop = True
        for t in threads:
            t.join(5)
    finally:
        st.stop = True
        srv.stop()
        if failed:
            with open(os.path.join(tmp, "server.log"), "rb") as f:
                sys.stdout.write("server log (tail):\n" + f.read()[-3000:].decode("utf-8", "replace") + "\n")
        shutil.rmtree(tmp, ignore_errors=True)
    print("crash: %d kills, %d acknowledged writes, %.1f s" % (KILLS, len(st.history), time.monotonic() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
