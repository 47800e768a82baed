#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Helpers for client_faults.sh: a writer of N changes in txn batches that
# retries across server restarts, and a comparison of watch outputs.
import base64, http.client, json, sys, time

def b64(s):
    return base64.b64encode(s.encode()).decode()

def writer(port, prefix, total, batch):
    done = 0
    conn = None
    while done < total:
        ops = [{"request_put": {"key": b64("%s%d" % (prefix, (done + i) % 97)),
                                "value": b64(str(done + i))}} for i in range(batch)]
        # A batch whose answer was lost to a kill may have been committed:
        # a marker key (outside the prefix) makes the retry a no-op then.
        marker = b64("writer-batches/%s%d" % (prefix, done))
        ops.append({"request_put": {"key": marker, "value": b64("1")}})
        body = json.dumps({"compare": [{"key": marker, "target": "CREATE", "result": "EQUAL",
                                        "create_revision": "0"}], "success": ops})
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("POST", "/v3/kv/txn", body, {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            if r.status == 200:
                done += batch
        except Exception:
            conn = None
            time.sleep(0.05)
    print(done)

def compare(got_path, want_path):
    got = [json.loads(l) for l in open(got_path) if l.strip()]
    want = [json.loads(l) for l in open(want_path) if l.strip()]
    if got == want:
        print("equal %d" % len(got))
        return 0
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            print("first difference at event %d: got %s want %s" % (i, g, w))
            break
    print("got %d events, want %d" % (len(got), len(want)))
    return 1

if __name__ == "__main__":
    if sys.argv[1] == "writer":
        writer(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        sys.exit(compare(sys.argv[2], sys.argv[3]))
