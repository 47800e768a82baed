#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# etcd's authentication and roles, the same scenario against a real etcd 3.4
# and against `kumo serve`, outputs compared step by step (stdout, stderr,
# exit status; etcd's exit status is the expected one) once what legitimately
# differs (IDs, raft terms, header numbers, tokens, timings) is normalised;
# usage: etcdctl_auth.sh [build-dir]. Three sections, each on its own pair
# of servers:
#   main  users, roles, permissions and their errors with etcdctl, then
#         auth enabled: what each user may read, write, watch, lease,
#         compact and snapshot; passwords, revocations, auth disable;
#   ttl   simple tokens with --auth-token-ttl 2 through the JSON gateway:
#         a token works at once and is refused 4 s later;
#   jwt   --auth-token jwt,...,sign-method=RS256,ttl=2s (keys made here with
#         openssl, never committed): login, forged tokens (another key,
#         alg none, changed claims, HS256 keyed with the public key) refused,
#         expiry after 3 s.
# COMPAT_PEER=etcd runs two etcd servers against each other instead (the
# harness must find no difference there). The harness is compat.bash.
set -u
build=${1:-build}
kumo=$build/kumo
peer=${COMPAT_PEER:-kumo}
. "$(dirname "$0")/compat.bash"

case $peer in
    kumo) need_etcd "$kumo" ;;
    etcd) need_etcd ;;
    *) bad "COMPAT_PEER=$peer: this test takes kumo or etcd"; summary; exit 1 ;;
esac
for c in openssl curl python3; do
    command -v "$c" >/dev/null || { skip "$c is not installed"; summary; exit 1; }
done

# etcdctl's own command timeout is 5 s: a server that never answers ends
# the command before this does.
ctl_timeout=8
# The gateway's header numbers and tokens differ between any two servers.
compat_norm='s/"(cluster_id|member_id|revision|raft_term)":"[0-9]+"/"\1":"N"/g
s/"token":"[^"]*"/"token":"TOKEN"/g'
STATUS='s/^([^,]+), [0-9a-f]+, [^,]+, [^,]+, (true|false), (true|false), [0-9]+, [0-9]+, [0-9]+, /\1, ID, V, SIZE, \2, \3, N, N, N, /'

root()  { ctl --user root:rootpw "$@"; }
alice() { ctl --user "alice:$alice_pw" "$@"; }
bob()   { ctl --user bob:bobpw "$@"; }
# wctl ARGS: etcdctl that may wait forever (a watch), ended after 2 s; a
# watch etcd refuses exits at once, one it keeps open ends as timeout's 124.
wctl() { stale && return 124; timeout -k 1 2 etcdctl --endpoints="$EP" "$@"; }

# gw PATH JSON [TOKEN]: a POST to the JSON gateway, the token in the
# Authorization header; prints the body, then "HTTP status".
gw() {
    local auth=()
    stale && return 124
    [ -z "${3:-}" ] || auth=(-H "Authorization: $3")
    curl -s --max-time 5 -w '\nHTTP %{http_code}\n' -X POST "http://$EP$1" "${auth[@]}" -d "$2"
}
# token: the token of the authenticate answer on stdin.
token() { sed -nE 's/.*"token":"([^"]*)".*/\1/p'; }
login_alice='{"name":"alice","password":"alicepw"}'
range_x="{\"key\":\"$(printf app/x | base64)\"}"

# auth_setup: root, alice reading app/, a key, auth on (as etcdctl does it:
# auth enable adds the root role and grants it to root).
auth_setup() {
    ctl user add root --new-user-password=rootpw && ctl user add alice --new-user-password=alicepw &&
        ctl role add reader && ctl role grant-permission reader read --prefix app/ &&
        ctl user grant-role alice reader && ctl put app/x 1 && ctl auth enable
}

side_main() {
    side_begin "$1" "$2" "$3" "$4" || return 0
    local r id w p nl=$'\n'
    alice_pw=alicepw

    # users and roles, auth still off
    step "auth enable without a root user" -x 1;  run ctl auth enable
    step "user add root --new-user-password";     run ctl user add root --new-user-password=rootpw
    step "role add";                              run ctl role add writer
    step "role get, no permissions";              run ctl role get writer
    step "role list";                             run ctl role list
    step "user add alice --new-user-password";    run ctl user add alice --new-user-password=alicepw
    step "user add bob:PW --interactive=false";   run ctl user add bob:bobpw --interactive=false
    step "user list";                             run ctl user list
    step "user get, no roles";                    run ctl user get alice
    step "role add reader";                       run ctl role add reader
    step "role grant-permission read --prefix";   run ctl role grant-permission reader read --prefix app/
    step "role grant-permission readwrite KEY END"; run ctl role grant-permission writer readwrite a b
    step "role grant-permission write --from-key"; run ctl role grant-permission writer write --from-key z
    step "role get lists the permissions";        run ctl role get writer
    step "role get, a prefix permission";         run ctl role get reader
    step "user grant-role alice reader";          run ctl user grant-role alice reader
    step "user grant-role bob writer";            run ctl user grant-role bob writer
    step "user get lists the roles";              run ctl user get alice
    step "user get --detail";                     run ctl user get bob --detail
    step "user grant-role, missing role" -x 1;    run ctl user grant-role alice nosuch
    step "user grant-role, missing user" -x 1;    run ctl user grant-role nobody reader
    step "user add, existing user" -x 1;          run ctl user add alice --new-user-password=x
    step "user add, empty name" -x 1;             run ctl user add "" --new-user-password=x
    step "user revoke-role, not granted" -x 1;    run ctl user revoke-role alice writer
    step "role add, existing role" -x 1;          run ctl role add reader
    step "role get, missing role" -x 1;           run ctl role get nosuch
    step "user get, missing user" -x 1;           run ctl user get nobody

    # auth on
    step "auth enable";                           run ctl auth enable
    step "auth enable granted root the root role"; run root user get root
    step "role list has root";                    run root role list
    step "put as root";                           run root put app/x 1
    root put app/y 2 >/dev/null 2>&1; root put other 3 >/dev/null 2>&1

    # alice reads app/
    step "get as alice";                          run alice get app/x
    step "get --prefix as alice";                 run alice get --prefix app/
    step "get --prefix wider than alice's" -x 1;  run alice get --prefix app
    step "get as alice, not permitted" -x 1;      run alice get other
    step "put as alice, read only" -x 1;          run alice put app/x 9
    step "del as alice, read only" -x 1;          run alice del app/x
    step "wrong password" -x 2;                   run ctl --user alice:wrong get app/x
    step "unknown user" -x 2;                     run ctl --user nobody:pw get app/x
    step "get without --user" -x 1;               run ctl get app/x
    step "put without --user" -x 1;               run ctl put app/x 9
    step "--user NAME --password PW";             run ctl --user alice --password alicepw get app/x
    step "user list as alice" -x 1;               run alice user list
    step "user get of herself as alice";          run alice user get alice
    step "user get of another user as alice" -x 1; run alice user get bob
    step "role get of her role as alice";         run alice role get reader
    step "role get of another role as alice" -x 1; run alice role get writer
    step "user add as alice" -x 1;                run alice user add carol:x --interactive=false
    step "txn as alice: compare permitted, put denied" -x 1
    run_in $'value("app/x") = "1"\n\nput app/x 2\n\n\n' alice txn
    step "txn as alice: all permitted"
    run_in $'value("app/x") = "1"\n\nget app/y\n\nget app/x\n\n' alice txn
    step "txn as alice: compare on a key she cannot read" -x 1
    run_in $'value("other") = "3"\n\nget app/x\n\n\n' alice txn

    # bob reads and writes [a, b), writes from z on
    step "put as bob in [a, b)";                  run bob put a1 v
    step "get as bob in [a, b)";                  run bob get a1
    step "get --prefix a as bob: all of [a, b)";  run bob get --prefix a
    step "get a c as bob, wider" -x 1;            run bob get a c
    step "put as bob from z";                     run bob put zz v
    step "get as bob from z, write only" -x 1;    run bob get zz
    step "del --from-key z as bob";               run bob del --from-key z
    step "put as bob elsewhere" -x 1;             run bob put other 4

    # watch: etcd cancels a watch alice may not read; one she may read
    # gets root's put (from a known revision, so it cannot be missed)
    step "watch as alice, not permitted" -x 5;    run wctl --user alice:alicepw watch other
    step "watch --prefix wider than alice's" -x 5; run wctl --user alice:alicepw watch --prefix app
    r=$(root get app/x -w json 2>/dev/null | rev)
    step "watch as alice sees root's put" -x 143
    bg_start --user alice:alicepw watch app/x --rev "$((r + 1))"; w=$bg_n; p=$bg_pid
    root put app/x 10 >/dev/null 2>&1
    bg_stop $w $p 3 TERM

    # leases: granting needs no permission, revoking needs write on the keys
    step "lease grant as alice";                  run alice lease grant 60
    id=$(awk '{print $2}' "$f.out")
    step "put with a lease as alice, read only" -x 1; run alice put app/z v --lease "$id"
    root put app/z v --lease "$id" >/dev/null 2>&1
    step "lease keep-alive --once as alice";      run alice lease keep-alive --once "$id"
    step "lease revoke as alice, keys she cannot write" -x 1; run alice lease revoke "$id"
    step "lease revoke as root";                  run root lease revoke "$id"

    # maintenance
    r=$(root put c 1 -w json 2>/dev/null | rev); root put c 2 >/dev/null 2>&1
    # (etcd 3.4 lets any user compact; kumo asks for the root role, as for
    # the rest of maintenance: tests/integ/auth.sh checks that)
    step "compaction as root";                    run root compaction "$((r + 1))"
    step "endpoint status as alice" -f "$STATUS"; run alice endpoint status
    step "endpoint status as root" -f "$STATUS";  run root endpoint status
    step "endpoint health as alice";              run alice endpoint health
    step "snapshot save as alice" -x 5;           run alice snapshot save "$dir/alice.db"
    step "snapshot save as root";                 run root snapshot save "$dir/root.db"

    # a new password
    step "user passwd, from stdin";               run_in $'newpw\n' root user passwd alice --interactive=false
    step "the old password fails" -x 2;           run alice get app/x
    alice_pw=newpw
    step "the new password works";                run alice get app/x

    # revocations and deletions
    step "role revoke-permission --prefix";       run root role revoke-permission reader --prefix app/
    step "role revoke-permission, not granted" -x 1; run root role revoke-permission reader app/
    step "role get after the revoke";             run root role get reader
    step "get as alice after the revoke" -x 1;    run alice get app/x
    step "user revoke-role";                      run root user revoke-role bob writer
    step "user get after revoke-role";            run root user get bob
    step "get as bob after revoke-role" -x 1;     run bob get a1
    step "user delete";                           run root user delete bob
    step "user delete, missing user" -x 1;        run root user delete bob
    step "a deleted user cannot log in" -x 2;     run bob get a1
    step "role delete";                           run root role delete writer
    step "role delete, missing role" -x 1;        run root role delete writer
    step "user get after its role was deleted";   run root user get alice
    step "revoke root's root role" -x 1;          run root user revoke-role root root
    step "user delete root" -x 1;                 run root user delete root
    step "role delete root" -x 1;                 run root role delete root
    step "user list at the end";                  run root user list
    step "role list at the end";                  run root role list

    # auth off
    step "auth disable as alice" -x 1;            run alice auth disable
    step "auth disable as root";                  run root auth disable
    step "get without --user after auth disable"; run ctl get app/x
    step "user list without --user";              run ctl user list
    step "auth disable again";                    run ctl auth disable
}

side_ttl() {
    side_begin "$1" "$2" "$3" "$4" || return 0
    local tok
    step "ttl: users, roles, a key and auth enable"; run auth_setup
    step "ttl: authenticate";                     run gw /v3/auth/authenticate "$login_alice"
    tok=$(token <"$f.out")
    step "ttl: range with the token";             run gw /v3/kv/range "$range_x" "$tok"
    step "ttl: put with the token, read only";    run gw /v3/kv/put "{\"key\":\"$(printf app/x | base64)\",\"value\":\"Mg==\"}" "$tok"
    step "ttl: range without a token";            run gw /v3/kv/range "$range_x"
    step "ttl: range with a made-up token";       run gw /v3/kv/range "$range_x" "AbCdEfGhIjKlMnOp.1"
    step "ttl: authenticate, wrong password";     run gw /v3/auth/authenticate '{"name":"alice","password":"x"}'
    step "ttl: authenticate, unknown user";       run gw /v3/auth/authenticate '{"name":"nobody","password":"x"}'
    stale || sleep 4
    step "ttl: the token 4 s later";              run gw /v3/kv/range "$range_x" "$tok"
    step "ttl: authenticate again";               run gw /v3/auth/authenticate "$login_alice"
    tok=$(token <"$f.out")
    step "ttl: range with the new token";         run gw /v3/kv/range "$range_x" "$tok"
}

# base64url without padding, and back.
b64u() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
unb64u() {
    local s
    s=$(tr -- '-_' '+/')
    while [ $((${#s} % 4)) -ne 0 ]; do s+='='; done
    printf '%s' "$s" | base64 -d
}
# claims TOKEN: a JWT's header and claims, sorted; the expiry said as
# within 3 s or not, the auth revision as its type.
claims() {
    python3 -c '
import base64, json, sys, time
def dec(s): return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
h, p, _ = sys.argv[1].split(".")
h, p = dec(h), dec(p)
exp = p.get("exp")
if isinstance(exp, (int, float)):
    p["exp"] = "within 3 s" if 0 < exp - time.time() <= 3 else "%.1f s from now" % (exp - time.time())
if isinstance(p.get("revision"), int):
    p["revision"] = "an integer"
print(json.dumps(h, sort_keys=True)); print(json.dumps(p, sort_keys=True))' "$1"
}

side_jwt() {
    side_begin "$1" "$2" "$3" "$4" || return 0
    local tok h p rest sig forged none rootp hs
    step "jwt: users, roles, a key and auth enable"; run auth_setup
    step "jwt: authenticate";                     run gw /v3/auth/authenticate "$login_alice"
    tok=$(token <"$f.out")
    step "jwt: the token's header and claims";    run claims "$tok"
    step "jwt: range with the token";             run gw /v3/kv/range "$range_x" "$tok"
    step "jwt: etcdctl as alice";                 run ctl --user alice:alicepw get app/x
    step "jwt: etcdctl as alice, not permitted" -x 1; run ctl --user alice:alicepw put app/x 2
    # forgeries of this server's own token
    h=${tok%%.*}; rest=${tok#*.}; p=${rest%%.*}; sig=${tok##*.}
    forged="$h.$p.$(printf '%s' "$h.$p" | openssl dgst -sha256 -sign "$tmp/other.pem" | b64u)"
    none="$(printf '{"alg":"none","typ":"JWT"}' | b64u).$p."
    rootp=$(printf '%s' "$p" | unb64u | sed 's/"alice"/"root"/' | b64u)
    hs=$(printf '{"alg":"HS256","typ":"JWT"}' | b64u)
    hs="$hs.$p.$(printf '%s' "$hs.$p" | openssl dgst -sha256 -mac HMAC -macopt "key:$(cat "$tmp/pub.pem")" -binary | b64u)"
    step "jwt: the same claims signed by another key"; run gw /v3/kv/range "$range_x" "$forged"
    step "jwt: alg none, no signature";           run gw /v3/kv/range "$range_x" "$none"
    step "jwt: claims changed to root, signature kept"; run gw /v3/kv/range "$range_x" "$h.$rootp.$sig"
    step "jwt: HS256 keyed with the public key";  run gw /v3/kv/range "$range_x" "$hs"
    step "jwt: not a JWT";                        run gw /v3/kv/range "$range_x" "not-a-jwt"
    step "jwt: authenticate, wrong password";     run gw /v3/auth/authenticate '{"name":"alice","password":"x"}'
    stale || sleep 3.5
    step "jwt: the token 3 s later";              run gw /v3/kv/range "$range_x" "$tok"
    step "jwt: authenticate again";               run gw /v3/auth/authenticate "$login_alice"
    tok=$(token <"$f.out")
    step "jwt: range with the new token";         run gw /v3/kv/range "$range_x" "$tok"
}

# RSA keys for the JWT servers and a foreign one for forgeries.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/priv.pem" 2>/dev/null &&
    openssl pkey -in "$tmp/priv.pem" -pubout -out "$tmp/pub.pem" &&
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/other.pem" 2>/dev/null ||
    { bad "openssl could not make RSA keys"; summary; exit 1; }
jwt="jwt,pub-key=$tmp/pub.pem,priv-key=$tmp/priv.pem,sign-method=RS256,ttl=2s"
ttl_etcd=(--auth-token simple --auth-token-ttl 2)
if [ "$peer" = etcd ]; then other=etcd2; ttl_peer=("${ttl_etcd[@]}"); else other=kumo; ttl_peer=(--auth-token-ttl 2); fi

# up VAR START NAME [FLAG...]: START (start_etcd or start_peer) NAME; its
# endpoint and pid in VAR_ep and VAR_pid, both empty if it did not start
# (its side then fails each step; the first line of its log says why).
up() {
    local v=$1 start=$2 name=$3
    shift 2
    if "$start" "$@"; then
        printf -v "${v}_ep" %s "$ep"; printf -v "${v}_pid" %s "$srv_pid"
    else
        printf -v "${v}_ep" ''; printf -v "${v}_pid" ''
        echo "  $name: $(head -n 1 "$tmp/$name.log")"
    fi
}
up em start_etcd etcd.main
up et start_etcd etcd.ttl "${ttl_etcd[@]}"
up ej start_etcd etcd.jwt --auth-token "$jwt"
up km start_peer "$other.main"
up kt start_peer "$other.ttl" "${ttl_peer[@]}"
up kj start_peer "$other.jwt" --auth-token "$jwt"

# sides NAME M T J: one side's three sections against the servers whose
# variables start with M, T and J, recorded in NAME.main, .ttl and .jwt;
# 100 s at most for all three (etcd takes about 25), so that a server that
# stops answering costs no more than that.
sides() {
    local end=$((SECONDS + 100)) m=$2_ep t=$3_ep j=$4_ep mp=$2_pid tp=$3_pid jp=$4_pid
    side_main "${!m}" "$1.main" "${!mp}" $((end - SECONDS))
    side_ttl "${!t}" "$1.ttl" "${!tp}" $((end - SECONDS))
    side_jwt "${!j}" "$1.jwt" "${!jp}" $((end - SECONDS))
}
sides etcd em et ej & s1=$!
sides "$other" km kt kj & s2=$!
wait $s1 $s2
compare etcd.main "$other.main"
compare etcd.ttl "$other.ttl"
compare etcd.jwt "$other.jwt"

summary
[ $fail -eq 0 ]
