#!/bin/bash
# SPDX-License-Identifier: MIT
# kumo mirror --ns: a directory following an instance's configuration of a
# namespace (publish, a gray release selecting its labels, promote,
# rollback, deleted and nested items, secrets in clear, unsafe keys),
# --once, catching up after the mirror or the server was away, and the
# .kumo-release protocol: a reader that finds the marker equal before and
# after (and not switching) read files of one release, while releases
# follow each other quickly. Usage: mirror_ns.sh [build-dir].
cd "$(dirname "$0")/../.."
build=${1:-build}
. tests/integ/common.bash
need_cmds curl python3
[ -x "$build/kumo" ] || { skip "$build/kumo is not built (make first)"; summary; exit 1; }
tmp=$(mktemp -d)
kpid= mpids=
stop_kumo() { [ -n "$kpid" ] && kill "$kpid" 2>/dev/null && wait "$kpid" 2>/dev/null; kpid=; }
cleanup() {
    for p in $mpids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    stop_kumo
    rm -rf "$tmp"
}
trap cleanup EXIT
head -c 32 /dev/urandom > "$tmp/secret.key"
chmod 600 "$tmp/secret.key"
port=$(free_port)
K=127.0.0.1:$port
start_kumo() {
    "$build/kumo" serve --listen "$K" --data-dir "$tmp/data" --secret-key-file "$tmp/secret.key" \
        >> "$tmp/kumo.log" 2>&1 &
    kpid=$!
    wait_ready "$port" || { bad "kumo serve did not start: $(tail -3 "$tmp/kumo.log")"; summary; exit 1; }
}
start_kumo
api() { curl -s -o /dev/null -w '%{http_code}' -X "$1" "http://$K/api/v1/ns/$2" ${3+--data-binary "$3"}; }
# mirror NAME ARGS...: kumo mirror --ns in the background, stderr in NAME.err
mirror() {
    local name=$1; shift
    "$build/kumo" --endpoint "$K" mirror --ns app/web "$@" 2> "$tmp/$name.err" &
    mpids="$mpids $!"
}
# release DIR: the release id in DIR/.kumo-release ("-" when none)
release() {
    python3 -c 'import json,sys
try: print(json.load(open(sys.argv[1] + "/.kumo-release"))["release"])
except Exception: print("-")' "$1"
}
# wait_release DIR N: until DIR holds release N (10 s at most)
wait_release() { for _ in $(seq 200); do [ "$(release "$1")" = "$2" ] && return 0; sleep 0.05; done; return 1; }
# files DIR: "path=content" of every file but the marker, sorted
files() { (cd "$1" && find . -type f ! -name .kumo-release | sort | while read -r f; do echo "${f#./}=$(cat "$f")"; done | tr '\n' ' '); }

E=$tmp/east W=$tmp/west
mirror east --labels zone=east "$E"
mirror west --dir "$W" --labels zone=west,tier=web
check "create" "$(api POST app/web '{"format":"text"}')" 201
api PUT app/web/items/app.conf a=1 >/dev/null
api PUT app/web/items/conf.d%2Fdb.conf db=x >/dev/null
api PUT "app/web/items/pw?secret" s3cret >/dev/null
api PUT app/web/items/..%2Fescape x >/dev/null
check "publish" "$(api POST app/web/publish '{"name":"v1"}')" 201
wait_release "$E" 1 && wait_release "$W" 1 || bad "the mirrors did not get release 1"
check "files of release 1, the secret in clear" "$(files "$E")" "app.conf=a=1 conf.d/db.conf=db=x pw=s3cret "
check "the same for another instance" "$(files "$W")" "$(files "$E")"
check "the marker" "$(cat "$E/.kumo-release")" \
    '{"ns":"app/web","release":1,"name":"v1","gray":null,"files":["app.conf","conf.d/db.conf","pw"]}'
check "an unsafe key is skipped with a warning" "$(grep -c 'skipping item "../escape": not a safe relative path' "$tmp/east.err")" 1
[ -e "$tmp/escape" ] && bad "a file was written outside the mirror" || ok "nothing outside the mirror"

# a gray release for zone=east: the east mirror alone switches
api PUT app/web/items/app.conf a=2 >/dev/null
api DELETE app/web/items/conf.d%2Fdb.conf >/dev/null
check "gray" "$(api POST app/web/gray '{"name":"canary","labels":"zone=east"}')" 201
wait_release "$E" 2 || bad "east did not switch to the gray release"
check "east: the gray release's files, the deleted item's file and directory gone" \
    "$(files "$E") $(ls "$E" | tr '\n' ' ')" "app.conf=a=2 pw=s3cret  app.conf pw "
check "east's marker names the gray release" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["gray"])' "$E/.kumo-release")" canary
check "west stays on the main release" "$(release "$W") $(files "$W")" "1 app.conf=a=1 conf.d/db.conf=db=x pw=s3cret "

check "promote" "$(api POST app/web/gray/canary/promote '{}')" 201
wait_release "$E" 3 && wait_release "$W" 3 || bad "the mirrors did not get the promoted release"
check "west after promote" "$(files "$W")" "app.conf=a=2 pw=s3cret "
check "rollback" "$(api POST app/web/rollback '{"to":1}')" 201
wait_release "$E" 4 && wait_release "$W" 4 || bad "the mirrors did not get the rollback"
check "east after the rollback" "$(files "$E")" "app.conf=a=1 conf.d/db.conf=db=x pw=s3cret "

# --once: exits 0 once the directory reflects the server
O=$tmp/once
timeout 20 "$build/kumo" --endpoint "$K" mirror --ns app/web --once "$O" 2> "$tmp/once.err"
check "--once exits 0 with the files" "$? $(release "$O") $(files "$O")" "0 4 $(files "$W")"

# the mirror away: an item deleted meanwhile goes when it is back
kill $mpids; wait $mpids 2>/dev/null; mpids=
api DELETE app/web/items/conf.d%2Fdb.conf >/dev/null
api PUT app/web/items/new.conf n=1 >/dev/null
check "publish while no mirror runs" "$(api POST app/web/publish '{"name":"v5"}')" 201
mirror east2 --labels zone=east "$E"
wait_release "$E" 5 || bad "the restarted mirror did not catch up"
# (the draft kept a=2 through the rollback)
check "a file of an item deleted while the mirror was away is gone" "$(files "$E")" "app.conf=a=2 new.conf=n=1 pw=s3cret "

# the server restarted mid-stream, a release published once it is back
stop_kumo
start_kumo
api PUT app/web/items/app.conf a=6 >/dev/null
check "publish after the restart" "$(api POST app/web/publish '{"name":"v6"}')" 201
wait_release "$E" 6 || bad "the mirror did not reconnect after the server restarted"
check "and has its files" "$(files "$E")" "app.conf=a=6 new.conf=n=1 pw=s3cret "

# The reader's protocol under quick releases: every item of release N
# holds "rN"; a read the marker vouches for must never mix releases.
for k in 1 2 3 4 5 6; do api PUT "app/web/items/k$k" r0 >/dev/null; done
python3 - "$E" > "$tmp/reader.out" <<'EOF' &
import json, os, sys, time
d = sys.argv[1]
end = time.time() + 6
vouched = mixed = other = 0
def marker():
    try:
        return open(os.path.join(d, ".kumo-release")).read()
    except OSError:
        return None
while time.time() < end:
    m1 = marker()
    vals = []
    for k in range(1, 7):
        try:
            vals.append(open(os.path.join(d, "k%d" % k)).read())
        except OSError:
            vals.append(None)
    m2 = marker()
    if m1 and m1 == m2 and "switching" not in json.loads(m1) and vals[0] and vals[0].startswith("r"):
        vouched += 1
        if len(set(vals)) != 1:
            mixed += 1
    else:
        other += 1
print(vouched, mixed, other)
EOF
rpid=$!
for i in $(seq 1 30); do
    for k in 1 2 3 4 5 6; do api PUT "app/web/items/k$k" "r$i" >/dev/null; done
    api POST app/web/publish "{\"name\":\"q$i\"}" >/dev/null
done
wait $rpid
read -r vouched mixed other < "$tmp/reader.out"
check "reads the marker vouched for were one release each ($vouched of them; $other not vouched for)" "$mixed" 0
[ "${vouched:-0}" -gt 0 ] && ok "the reader found consistent reads" || bad "no read was vouched for"
last=$(curl -s "http://$K/api/v1/ns/app/web/config?labels=zone=east" | python3 -c 'import json,sys; print(json.load(sys.stdin)["release"])')
wait_release "$E" "$last" || bad "the mirror did not end on the last release $last"
check "and ends with the last one's files" "$(cat "$E/k1")$(cat "$E/k6")" "r30r30"

# refusals and usage
"$build/kumo" --endpoint "$K" mirror --ns app/web --labels zone --once "$tmp/bad" 2> "$tmp/bad.err"
check "bad labels: exit 1 and why" "$? $(cat "$tmp/bad.err")" \
    "1 kumo: mirror: the server refused to follow app/web: bad request (--labels k=v,..., --ip an address)"
"$build/kumo" mirror --prefix p/ --labels a=b "$tmp/x" 2>/dev/null
check "--labels without --ns is a usage error" "$?" 2
"$build/kumo" mirror --prefix p/ --ns a/b "$tmp/x" 2>/dev/null
check "--prefix and --ns together is a usage error" "$?" 2
"$build/kumo" mirror --ns a/b --snapshot s "$tmp/x" 2>/dev/null
check "--snapshot with --ns is a usage error" "$?" 2
"$build/kumo" --endpoint "$K" mirror --ns bad "$tmp/x" 2>/dev/null
check "a bad namespace name: exit 1" "$?" 1
summary
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
