# SPDX-License-Identifier: MIT
# The release workflow over HTTP against a running kumo serve: namespaces,
# drafts, validation, publish, gray rules, promote, rollback, secrets,
# conflicts under concurrency, the config watch and the audit trail.
# Usage: releases.py HOST:PORT [--auth] (--auth: the server has users
# root/rootpw and auth is enabled by this script; see auth_checks).
import base64
import http.client
import json
import sys
import threading
import time
import urllib.parse

EP = sys.argv[1]
HOST, PORT = EP.split(":")
passed = failed = 0


def ok(name):
    global passed
    passed += 1
    print("ok   " + name)


def bad(name):
    global failed
    failed += 1
    print("FAIL " + name)


def check(name, got, want):
    if got == want:
        ok(name)
    else:
        bad("%s: got %r want %r" % (name, got, want))


def call(method, path, body=None, token=None, raw=False, headers=None, resp=None):
    c = http.client.HTTPConnection(HOST, int(PORT), timeout=10)
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    if resp is not None:
        resp.append(r)
    if raw:
        return r.status, data
    try:
        return r.status, json.loads(data) if data else None
    except ValueError:
        return r.status, data


NS = "/api/v1/ns/"


def publish(ns, name, token=None):
    return call("POST", NS + ns + "/publish", {"name": name}, token)


def basic(ns):
    s, b = call("POST", NS + ns, {"format": "json"})
    check("create answers 201", (s, b), (201, {"ns": ns, "format": "json"}))
    check("creating it again is a conflict", call("POST", NS + ns, {"format": "json"})[0], 409)
    check("a bad namespace name is refused", call("POST", NS + "a%20b/c", {"format": "json"})[0], 400)
    check("a bad format is refused", call("POST", NS + ns + "x", {"format": "xml"})[0], 400)
    check("an unknown namespace is 404", call("GET", NS + "nope/nope")[0], 404)
    check("set an item", call("PUT", NS + ns + "/items/url", '"mysql://db1"')[0], 200)
    check("set a secret item", call("PUT", NS + ns + "/items/password?secret", '"hunter2"')[0], 200)
    check("set an item with an odd key", call("PUT", NS + ns + "/items/a%2Fb%20c", "1")[0], 200)
    s, b = call("GET", NS + ns)
    check("the draft shows the items, the secret masked", b["draft"]["items"],
          {"url": '"mysql://db1"', "password": "******", "a/b c": "1"})
    check("and lists the secret", b["draft"]["secret"], ["password"])
    check("a JSON namespace takes invalid JSON in the draft",
          call("PUT", NS + ns + "/items/broken", '{"a":')[0], 200)
    s, b = call("GET", NS + ns + "/diff")
    check("the diff says the draft is invalid", (b["valid"], "broken" in b["error"]), (False, True))
    check("and lists every addition", [d["key"] for d in b["diff"]], ["a/b c", "broken", "password", "url"])
    s, b = publish(ns, "v1")
    check("an invalid draft is not published", s, 400)
    check("the error names the item, line and column",
          "item \"broken\": line 1, column" in b["error"], True)
    check("nothing was published", call("GET", NS + ns + "/config")[0], 404)
    check("delete the broken item", call("DELETE", NS + ns + "/items/broken")[0], 200)
    check("deleting it again is 404", call("DELETE", NS + ns + "/items/broken")[0], 404)
    s, b = publish(ns, "v1")
    check("publish answers 201 with release 1", (s, b["id"], b["kind"]), (201, 1, "publish"))
    check("a release needs a name", call("POST", NS + ns + "/publish", {})[0], 400)
    check("publishing the same draft again is a conflict", publish(ns, "v1 again")[0], 409)
    s, b = call("GET", NS + ns + "/config")
    check("the effective config has the secret in clear",
          (b["release"], b["gray"], b["items"]["password"]), (1, None, '"hunter2"'))
    s, raw = call("GET", "/api/v1/kv//kumo/pub/" + ns + "/main", raw=True)
    check("the published view is an ordinary key", s, 200)
    view = json.loads(raw)
    check("whose secret value is sealed", view["items"]["password"].startswith("kmenc1:"), True)
    check("and never in clear", b"hunter2" in raw, False)
    s, raw = call("GET", "/api/v1/kv/?prefix", raw=True)
    check("no key of the store holds the secret in clear", b"hunter2" in raw, False)


def gray(ns):
    call("PUT", NS + ns + "/items/url", '"mysql://db2"')
    s, b = call("POST", NS + ns + "/gray", {"name": "canary", "labels": "zone=east,canary=true",
                                           "ips": "10.0.0.0/8, 192.168.1.7"})
    check("start a gray release", (s, b["kind"], b["gray"], b["id"]), (201, "gray", "canary", 2))
    check("a gray name is unique", call("POST", NS + ns + "/gray", {"name": "canary", "ips": "1.2.3.4"})[0], 409)
    check("a gray release needs a rule", call("POST", NS + ns + "/gray", {"name": "x"})[0], 400)
    check("a bad CIDR is refused", call("POST", NS + ns + "/gray", {"name": "y", "ips": "10.0.0.0/33"})[0], 400)
    check("a bad label is refused", call("POST", NS + ns + "/gray", {"name": "y", "labels": "zone"})[0], 400)

    def seen(labels, ip):
        q = urllib.parse.urlencode({"labels": labels, "ip": ip})
        return call("GET", NS + ns + "/config?" + q)[1]["release"]
    check("labels and address both match: the gray release", seen("zone=east,canary=true,x=1", "10.9.8.7"), 2)
    check("an exact address matches", seen("canary=true,zone=east", "192.168.1.7"), 2)
    check("labels without the address: main", seen("zone=east,canary=true", "172.16.0.1"), 1)
    check("the address without every label: main", seen("zone=east", "10.9.8.7"), 1)
    check("an IPv4-mapped IPv6 address matches", seen("zone=east,canary=true", "::ffff:10.1.1.1"), 2)
    s, b = call("POST", NS + ns + "/gray", {"name": "west", "labels": {"zone": "west"}})
    check("a second gray release", (s, b["id"]), (201, 3))
    check("each instance sees exactly one version", (seen("zone=west", ""), seen("zone=north", "")), (3, 1))
    s, b = call("GET", NS + ns + "/gray")
    check("the gray releases with their rules", sorted((g["gray"], g["release"]) for g in b["gray"]),
          [("canary", 2), ("west", 3)])
    check("abandon an unknown gray release: 404", call("DELETE", NS + ns + "/gray/nope")[0], 404)
    check("abandon west", call("DELETE", NS + ns + "/gray/west")[0], 200)
    check("west's instances are back on main", seen("zone=west", ""), 1)
    s, b = call("POST", NS + ns + "/gray/canary/promote", {"notes": "looks good"})
    check("promote canary", (s, b["kind"], b["from"], b["id"]), (201, "promote", 2, 4))
    check("everyone sees the promoted content",
          call("GET", NS + ns + "/config")[1]["items"]["url"], '"mysql://db2"')
    check("promoted gray releases are gone", call("GET", NS + ns + "/gray")[1]["gray"], [])


def rollback(ns):
    check("rollback to an unknown release: 404", call("POST", NS + ns + "/rollback", {"to": 99})[0], 404)
    check("rollback to the main release: conflict", call("POST", NS + ns + "/rollback", {"to": 4})[0], 409)
    s, b = call("POST", NS + ns + "/rollback", {"to": 1})
    check("rollback to 1 is a new release", (s, b["kind"], b["from"], b["id"]), (201, "rollback", 1, 5))
    check("with release 1's content", call("GET", NS + ns + "/config")[1]["items"]["url"], '"mysql://db1"')
    s, b = call("GET", NS + ns + "/releases/4")
    check("a release shows its diff with values",
          [(d["key"], d["op"], d.get("old"), d.get("new")) for d in b["diff"]],
          [("url", "change", '"mysql://db1"', '"mysql://db2"')])
    s, b = call("GET", NS + ns + "/releases")
    check("the history, newest first", [r["id"] for r in b["releases"]], [5, 4, 3, 2, 1])


def compare(ns):
    other = ns + "-staging"
    call("POST", NS + other, {"format": "json"})
    call("PUT", NS + other + "/items/url", '"mysql://staging"')
    call("PUT", NS + other + "/items/password?secret", '"hunter2"')
    call("PUT", NS + other + "/items/debug", "true")
    publish(other, "s1")
    s, b = call("GET", NS + ns + "/compare?with=" + other)
    check("two environments' main releases compared",
          (s, [(d["key"], d["op"], d.get("old"), d.get("new")) for d in b["diff"]]),
          (200, [("a/b c", "delete", "1", None), ("debug", "add", None, "true"),
                 ("url", "change", '"mysql://db1"', '"mysql://staging"')]))
    check("equal secrets sealed apart compare equal, and never show",
          "hunter2" not in json.dumps(b), True)
    check("compare needs ?with", call("GET", NS + ns + "/compare")[0], 400)
    check("compare with an unknown namespace: 404", call("GET", NS + ns + "/compare?with=no/such")[0], 404)


def races(ns):
    call("PUT", NS + ns + "/items/race", '"0"')
    results = []

    def one(i):
        results.append(publish(ns, "racer-%d" % i)[0])
    ts = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    check("of 8 concurrent publishes one wins, the others conflict",
          sorted(results), [201] + [409] * 7)
    # a rollback racing publishes: each succeeds whole or conflicts
    outcomes = []

    def pub(i):
        call("PUT", NS + ns + "/items/race", '"%d"' % (i + 1))
        outcomes.append(("publish", publish(ns, "p%d" % i)[0]))

    def rb():
        outcomes.append(("rollback", call("POST", NS + ns + "/rollback", {"to": 1})[0]))
    ts = [threading.Thread(target=pub, args=(i,)) for i in range(4)] + \
         [threading.Thread(target=rb) for _ in range(2)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    check("every racing call succeeded or conflicted",
          all(s in (201, 409) for _, s in outcomes), True)
    meta = call("GET", NS + ns)[1]
    rels = call("GET", NS + ns + "/releases?limit=1000")[1]["releases"]
    check("release ids have no gaps or duplicates",
          sorted(r["id"] for r in rels), list(range(1, meta["last"] + 1)))
    cfg = call("GET", NS + ns + "/config")[1]
    check("the published view is the main release", cfg["release"], meta["main"])
    audit = call("GET", "/api/v1/audit?limit=1000&ns=" + ns)[1]["records"]
    made = sum(1 for a in audit if a["action"] in ("publish", "rollback", "promote", "gray"))
    check("one audit record per release", made, len(rels))


def limits(ns):
    check("a 70 KiB value is refused", call("PUT", NS + ns + "/items/big", "x" * 70000)[0], 413)
    codes = [call("PUT", NS + ns + "/items/fill%d" % i, '"%s"' % ("y" * 65000))[0] for i in range(9)]
    check("a namespace over 512 KiB is refused", codes, [200] * 8 + [413])
    for i in range(9):
        call("DELETE", NS + ns + "/items/fill%d" % i)
    check("a key with a control character is refused", call("PUT", NS + ns + "/items/a%01b", "1")[0], 400)
    check("a value that is not UTF-8 is refused", call("PUT", NS + ns + "/items/k", b"\xff\xfe")[0], 400)
    check("a body that is not JSON is refused", call("POST", NS + ns + "/publish", "{")[0], 400)


def watch(ns):
    c = http.client.HTTPConnection(HOST, int(PORT), timeout=10)
    c.request("GET", NS + ns + "/config/watch?labels=zone%3Dsouth")
    r = c.getresponse()
    check("the config watch is an event stream", r.getheader("Content-Type"), "text/event-stream")

    def next_event():
        ev = {}
        while True:
            line = r.readline().decode()
            if line == "\n" and ev.get("event"):
                return ev
            if line.startswith("event: "):
                ev["event"] = line[7:].strip()
            elif line.startswith("data: "):
                ev["data"] = json.loads(line[6:])
    first = next_event()
    inst = call("GET", NS + ns + "/instances")[1]["instances"]
    check("the instance is listed with the version it holds",
          [(i["labels"], i["streams"], i["release"]) for i in inst if i["labels"] == "zone=south"],
          [("zone=south", 1, first["data"]["release"])])
    check("it starts with the current config", first["data"]["release"],
          call("GET", NS + ns + "/config")[1]["release"])
    call("PUT", NS + ns + "/items/live", '"1"')
    t0 = time.time()
    s, b = publish(ns, "live")
    ev = next_event()
    check("a publish reaches the watcher", ev["data"]["release"], b["id"])
    check("within a second", time.time() - t0 < 1.0, True)
    call("PUT", NS + ns + "/items/live", '"2"')
    call("POST", NS + ns + "/gray", {"name": "south", "labels": "zone=south"})
    ev = next_event()
    check("a gray release selecting it reaches it", ev["data"]["gray"], "south")
    c.close()


def audit(ns):
    recs = call("GET", "/api/v1/audit?ns=" + ns + "&limit=1000")[1]["records"]
    acts = set(a["action"] for a in recs)
    check("the audit has every kind of change",
          {"create", "set", "delete-item", "publish", "gray", "promote", "abandon", "rollback"} <= acts, True)
    check("newest first", [a["time"] for a in recs] == sorted((a["time"] for a in recs), reverse=True), True)
    secret_sets = [a for a in recs if a.get("key") == "password"]
    check("a secret's record has no value", all("value" not in a for a in secret_sets) and
          len(secret_sets) > 0, True)
    t = recs[len(recs) // 2]["time"]
    since = call("GET", "/api/v1/audit?ns=%s&since=%d&limit=1000" % (ns, t))[1]["records"]
    check("since filters by time", all(a["time"] >= t for a in since) and 0 < len(since) < len(recs), True)
    check("limit caps the answer", len(call("GET", "/api/v1/audit?limit=3")[1]["records"]), 3)
    check("another namespace's records are not mixed in",
          all(a["ns"] == ns for a in recs), True)


def b64(s):
    return base64.b64encode(s.encode()).decode()


def auth_checks():
    def gw(path, body, token=None):
        c = http.client.HTTPConnection(HOST, int(PORT), timeout=30)
        h = {"Authorization": token} if token else {}
        c.request("POST", "/v3/auth/" + path, body=json.dumps(body), headers=h)
        r = c.getresponse()
        d = json.loads(r.read() or b"{}")
        return r.status, d
    for u, p in (("root", "rootpw"), ("reader", "rpw"), ("editor", "epw")):
        gw("user/add", {"name": u, "password": p})
    gw("role/add", {"name": "root"})
    gw("user/grant", {"user": "root", "role": "root"})
    ns = "shop/auth"
    call("POST", NS + ns, {"format": "text"})
    call("PUT", NS + ns + "/items/k", "v")
    publish(ns, "first")
    pub_lo, pub_hi = "/kumo/pub/%s/" % ns, "/kumo/pub/%s0" % ns
    gw("role/add", {"name": "readers"})
    gw("role/grant", {"name": "readers", "perm": {"permType": "READ", "key": b64(pub_lo),
                                                  "range_end": b64(pub_hi)}})
    gw("role/add", {"name": "editors"})
    gw("role/grant", {"name": "editors", "perm": {"permType": "READWRITE",
                                                  "key": b64("/kumo/ns/%s/draft" % ns)}})
    gw("role/grant", {"name": "editors", "perm": {"permType": "READ", "key": b64(pub_lo),
                                                  "range_end": b64(pub_hi)}})
    gw("user/grant", {"user": "reader", "role": "readers"})
    gw("user/grant", {"user": "editor", "role": "editors"})
    check("enable authentication", gw("enable", {})[0], 200)
    tok = {u: gw("authenticate", {"name": u, "password": p})[1]["token"]
           for u, p in (("root", "rootpw"), ("reader", "rpw"), ("editor", "epw"))}
    check("anonymous: 401", call("GET", NS + ns + "/config")[0], 401)
    check("anonymous listing: 401", call("GET", "/api/v1/ns")[0], 401)
    check("a reader reads the config", call("GET", NS + ns + "/config", token=tok["reader"])[0], 200)
    check("a reader cannot edit", call("PUT", NS + ns + "/items/k", "x", tok["reader"])[0], 403)
    check("an editor edits", call("PUT", NS + ns + "/items/k", "x", tok["editor"])[0], 200)
    check("an editor cannot publish", publish(ns, "nope", tok["editor"])[0], 403)
    check("an editor cannot create", call("POST", NS + "shop/other", {"format": "text"}, tok["editor"])[0], 403)
    check("root publishes", publish(ns, "second", tok["root"])[0], 201)
    check("a reader lists only what it may read",
          [n["ns"] for n in call("GET", "/api/v1/ns", token=tok["reader"])[1]["namespaces"]], [ns])
    check("a reader cannot read the whole audit", call("GET", "/api/v1/audit", token=tok["reader"])[0], 403)
    recs = call("GET", "/api/v1/audit?ns=" + ns, token=tok["reader"])[1]["records"]
    check("the audit names who did what", [(a["action"], a["user"]) for a in recs[:2]],
          [("publish", "root"), ("set", "editor")])
    recs = call("GET", "/api/v1/audit?limit=1000", token=tok["root"])[1]["records"]
    check("permission changes are in the audit trail",
          sorted((a["what"], a["subject"], a["key"]) for a in recs if a["action"] == "auth"),
          [("role grant permission", "editors", "/kumo/ns/shop/auth/draft"),
           ("role grant permission", "editors", "/kumo/pub/shop/auth/"),
           ("role grant permission", "readers", "/kumo/pub/shop/auth/")])
    sessions(ns)
    check("the raw draft key follows the same roles",
          call("GET", "/api/v1/kv//kumo/ns/%s/draft" % ns, token=tok["reader"])[0], 403)


def sessions(ns):
    """The console's cookie: HttpOnly, SameSite=Strict, and CSRF-safe."""
    S = "/api/v1/auth/session"
    creds = {"name": "editor", "password": "epw"}
    check("logging in without X-Kumo-CSRF is refused", call("POST", S, creds)[0], 403)
    csrf = {"X-Kumo-CSRF": "1"}
    check("a wrong password: 401", call("POST", S, {"name": "editor", "password": "x"}, headers=csrf)[0], 401)
    rs = []
    s, b = call("POST", S, creds, headers=csrf, resp=rs)
    cookie = rs[0].getheader("Set-Cookie") or ""
    check("logging in sets the session cookie", (s, b, cookie.startswith("kumo_session=")),
          (200, {"user": "editor"}, True))
    check("which scripts cannot read and other sites cannot send",
          ("HttpOnly" in cookie, "SameSite=Strict" in cookie), (True, True))
    jar = {"Cookie": "theme=dark; " + cookie.split(";")[0]}
    check("the cookie says who the caller is", call("GET", S, headers=jar)[1],
          {"enabled": True, "user": "editor"})
    check("a read with the cookie", call("GET", NS + ns + "/config", headers=jar)[0], 200)
    check("a change with the cookie but no X-Kumo-CSRF is refused",
          call("PUT", NS + ns + "/items/k", "c", headers=jar)[0], 403)
    check("with X-Kumo-CSRF it goes through",
          call("PUT", NS + ns + "/items/k", "c", headers=dict(jar, **csrf))[0], 200)
    check("the cookie's user is in the audit",
          call("GET", "/api/v1/audit?ns=" + ns, headers=jar)[1]["records"][0]["user"], "editor")
    rs = []
    check("logging out", call("DELETE", S, headers=dict(jar, **csrf), resp=rs)[0], 204)
    check("clears the cookie", "Max-Age=0" in (rs[0].getheader("Set-Cookie") or ""), True)
    check("and the old cookie is refused", call("GET", NS + ns + "/config", headers=jar)[0], 401)


if "--auth" in sys.argv:
    auth_checks()
else:
    ns = "shop/db"
    basic(ns)
    gray(ns)
    rollback(ns)
    compare(ns)
    races(ns)
    limits(ns)
    watch(ns)
    audit(ns)
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed or not passed else 0)
