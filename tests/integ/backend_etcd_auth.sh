#!/bin/bash
# SPDX-License-Identifier: MIT
# kumo serve over a 3-member etcd cluster with authentication on
# (--backend etcd://... --backend-user root:PW): kumo logs in to etcd and
# logs in again when etcd's short-lived token expires; it mirrors etcd's
# users, roles and permissions, so that etcdctl through kumo manages them
# (the changes land in etcd) and each user is allowed and refused exactly
# as etcd answers the same command (stdout, stderr and exit status
# compared); a change made on etcd directly reaches kumo within its
# refresh period; logins are checked by etcd, kumo's own tokens expire
# with --auth-token-ttl and failed logins are throttled. Without a user
# kumo refuses to start, and with a wrong password or one that may not
# read every key; with one lacking the root role it mirrors nothing and
# etcd checks that user's requests. Usage:
# backend_etcd_auth.sh [build-dir].
cd "$(dirname "$0")/../.."
build=${1:-build}
. tests/integ/common.bash
export ETCDCTL_API=3
need_etcd "$build/kumo"
need_cmds curl python3
tmp=$(mktemp -d)
cl=scripts/etcd-cluster.sh
kpid= kpid2=
cleanup() {
    for p in $kpid $kpid2; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    $cl stop "$tmp/etcd" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT

# etcd's simple tokens die after 3 s unused (its --auth-token-ttl, by its
# environment variable): kumo's own token for the cluster expires many
# times during the test and must be renewed each time.
E=$(ETCD_AUTH_TOKEN_TTL=3 $cl start "$tmp/etcd") ||
    { bad "the etcd cluster did not start"; summary; exit 1; }
E1=$($cl endpoint "$tmp/etcd" 1)
ectl() { etcdctl --endpoints "$E1" --command-timeout 5s "$@" 2>&1 </dev/null | grep -v '^{"level"'; }
ectl user add root:rootpw >/dev/null
ectl auth enable >/dev/null
check "etcd's authentication is on" "$(ectl get x)" "Error: etcdserver: user name is empty"
ectl --user root:rootpw put app/x 1 >/dev/null
ectl --user root:rootpw put other 3 >/dev/null

port=$(free_port)
K=127.0.0.1:$port
out=$(timeout 20 "$build/kumo" serve --listen "$K" --backend "etcd://$E" --data-dir "$tmp/k0" 2>&1)
check "without --backend-user kumo refuses to start, saying why" \
    "$(echo "$out" | grep -c 'its authentication is on, and kumo has no user')" "1"
out=$(timeout 20 "$build/kumo" serve --listen "$K" --backend "etcd://$E" --data-dir "$tmp/k0" \
      --backend-user root:wrongpw 2>&1)
check "with a wrong password it says etcd's refusal, not the password" \
    "$(echo "$out" | grep -c 'etcd refused the login of the backend.s user "root": etcdserver: authentication failed')-$(echo "$out" | grep -c wrongpw)" "1-0"

"$build/kumo" serve --listen "$K" --backend "etcd://$E" --data-dir "$tmp/kumo" \
    --backend-user root:rootpw --auth-token-ttl 2 > "$tmp/kumo.log" 2>&1 &
kpid=$!
wait_ready "$port" && ok "kumo serve starts over the cluster as root" ||
    { bad "kumo serve did not start: $(cat "$tmp/kumo.log")"; summary; exit 1; }
check "it says it mirrors etcd's users" "$(grep -c "mirroring etcd's users" "$tmp/kumo.log")" "1"
check "the password is not on its command line" "$(tr '\0' ' ' < "/proc/$kpid/cmdline" | grep -c rootpw)" "0"

kctl() { etcdctl --endpoints "$K" --command-timeout 5s "$@" 2>&1 </dev/null | grep -v '^{"level"'; }
# on EP CMD...: etcdctl's output (its log lines dropped) and exit status;
# its input is $IN.
on() {
    local ep=$1; shift
    printf '%s' "${IN:-}" | timeout 10 etcdctl --endpoints "$ep" --command-timeout 5s "$@" 2>&1 |
        grep -v '^{"level"'
    echo "exit ${PIPESTATUS[1]}"
}
# same NAME WANT CMD...: CMD through kumo answers as etcd answers it, and
# etcd's answer contains WANT (so that both failing alike is not a pass).
same() {
    local name=$1 want=$2 a b
    shift 2
    a=$(on "$E1" "$@"); b=$(on "$K" "$@")
    if [[ "$a" != *"$want"* ]]; then
        bad "$name: etcd itself answers [$a], without [$want]"
    elif [ "$a" = "$b" ]; then
        ok "$name"
    else
        bad "$name: etcd [$a] kumo [$b]"
    fi
}

# users and roles made through kumo land in etcd
check "user add through kumo" "$(kctl --user root:rootpw user add alice:alicepw)" "User alice created"
check "role add" "$(kctl --user root:rootpw role add app)" "Role app created"
check "role grant-permission read --prefix" \
    "$(kctl --user root:rootpw role grant-permission app read --prefix app/)" "Role app updated"
check "role grant-permission readwrite --prefix" \
    "$(kctl --user root:rootpw role grant-permission app readwrite --prefix rw/)" "Role app updated"
check "user grant-role" "$(kctl --user root:rootpw user grant-role alice app)" \
    "Role app is granted to user alice"
same "etcd has the user" "Roles: app" --user root:rootpw user get alice
same "and the role" "[rw/, rw0)" --user root:rootpw role get app
same "user list" "alice" --user root:rootpw user list
same "role list" "root" --user root:rootpw role list
same "user add, existing user" "user name already exists" --user root:rootpw user add alice:x
same "user grant-role, missing role" "role name not found" --user root:rootpw user grant-role alice nosuch
same "role get, missing role" "role name not found" --user root:rootpw role get nosuch
same "role revoke-permission, not granted" "permission is not granted" \
    --user root:rootpw role revoke-permission app nokey
same "user list as alice, not root" "permission denied" --user alice:alicepw user list
same "user get of herself as alice" "Roles: app" --user alice:alicepw user get alice

# each user allowed and refused as etcd allows and refuses it
same "get as alice" "app/x" --user alice:alicepw get app/x
same "get --prefix as alice" "app/x" --user alice:alicepw get --prefix app/
same "get --prefix wider than alice's" "permission denied" --user alice:alicepw get --prefix app
same "get as alice, not permitted" "permission denied" --user alice:alicepw get other
same "put as alice, read only" "permission denied" --user alice:alicepw put app/x 9
same "put as alice where she may write" "OK" --user alice:alicepw put rw/a 1
same "get it back" "rw/a" --user alice:alicepw get rw/a
same "del as alice, read only" "permission denied" --user alice:alicepw del app/x
IN=$'value("app/x") = "1"\n\nput app/x 2\n\n\n' \
    same "txn as alice: compare permitted, put denied" "permission denied" \
    --user alice:alicepw txn
IN=$'value("app/x") = "1"\n\nget rw/a\n\nget app/x\n\n' \
    same "txn as alice: all permitted" "SUCCESS" --user alice:alicepw txn
same "wrong password" "authentication failed, invalid user ID or password" \
    --user alice:wrong get app/x
same "unknown user" "authentication failed, invalid user ID or password" \
    --user nobody:pw get app/x
same "get without --user" "user name is empty" get app/x
same "put without --user" "user name is empty" put app/x 9
same "get as root" "other" --user root:rootpw get other
same "watch as alice, not permitted" "permission denied" \
    --user alice:alicepw watch other
check "a refused login is an audit record" \
    "$(grep -c '"auth refused".*"subject":"alice".*authentication failed' "$tmp/kumo.log")" "1"

# a watch alice may read gets root's put through kumo
timeout 10 etcdctl --endpoints "$K" --user alice:alicepw watch --prefix rw/ > "$tmp/watch" 2>&1 &
wp=$!
sleep 1
kctl --user root:rootpw put rw/b 2 >/dev/null
for _ in $(seq 50); do grep -q '^2$' "$tmp/watch" && break; sleep 0.1; done
kill $wp 2>/dev/null; wait $wp 2>/dev/null
check "a watch as alice sees root's put" "$(grep -v level "$tmp/watch" | tr '\n' ' ')" "PUT rw/b 2 "

# the JSON gateway and the native API take kumo's token for alice
T=$(curl -s "http://$K/v3/auth/authenticate" -d '{"name":"alice","password":"alicepw"}' |
    sed -nE 's/.*"token":"([^"]*)".*/\1/p')
[ -n "$T" ] && ok "the gateway's authenticate gives a token" || bad "no token from the gateway"
check "a range with it" "$(curl -s "http://$K/v3/kv/range" -H "Authorization: $T" \
    -d "{\"key\":\"$(printf app/x | base64)\"}" | grep -o '"value":"[^"]*"')" \
    "\"value\":\"$(printf 1 | base64)\""
check "the native API with it" "$(curl -s "http://$K/api/v1/kv/app/x" -H "Authorization: Bearer $T")" "1"
check "the native API refuses a key alice may not read" \
    "$(curl -s -o /dev/null -w '%{http_code}' "http://$K/api/v1/kv/other" -H "Authorization: Bearer $T")" "403"
check "the console's login is checked by etcd too" \
    "$(curl -s "http://$K/api/v1/auth/session" -H 'X-Kumo-CSRF: 1' \
       -d '{"name":"alice","password":"alicepw"}')" '{"user":"alice"}'
ET=$(curl -s "http://$E1/v3/auth/authenticate" -d '{"name":"alice","password":"alicepw"}' |
     sed -nE 's/.*"token":"([^"]*)".*/\1/p')
check "etcd's own token is not kumo's" "$(curl -s -o /dev/null -w '%{http_code}' "http://$K/v3/kv/range" \
    -H "Authorization: $ET" -d "{\"key\":\"$(printf app/x | base64)\"}")" "401"

# kumo's own tokens expire (--auth-token-ttl 2)
sleep 3
check "kumo's token 3 s later" "$(curl -s "http://$K/v3/kv/range" -H "Authorization: $T" \
    -d "{\"key\":\"$(printf app/x | base64)\"}")" \
    '{"error":"etcdserver: invalid auth token","message":"etcdserver: invalid auth token","code":16}'

# etcd voids the token of kumo's own connection (turning authentication
# off voids every token, as its expiry does one): kumo logs in again
L=$(kctl --user root:rootpw lease grant 30 | awk '{print $2}')
void_kumo_token() {
    ectl --user root:rootpw auth disable >/dev/null
    ectl --user root:rootpw auth enable >/dev/null
}
void_kumo_token
check "a write through kumo after etcd voided kumo's token" "$(kctl --user root:rootpw put app/y 2)" "OK"
check "the write is in etcd" "$(ectl --user root:rootpw get app/y --print-value-only)" "2"
void_kumo_token
check "a keep-alive through kumo after it was voided again" \
    "$(kctl --user root:rootpw lease keep-alive --once "$L" | grep -o 'keepalived with TTL(30)')" \
    "keepalived with TTL(30)"
void_kumo_token
check "a linearizable read after it was voided again" \
    "$(kctl --user root:rootpw get app/y --consistency=l --print-value-only)" "2"
void_kumo_token
check "a snapshot (etcd checks the token as the stream opens)" \
    "$(kctl --user root:rootpw snapshot save "$tmp/snap.db" | grep -c 'Snapshot saved')" "1"
check "etcd did refuse kumo's voided token (so kumo logged in again)" \
    "$(cat "$tmp"/etcd/m*.log | grep -c 'invalid auth token' | awk '{print ($1 > 0)}')" "1"
# and its simple tokens expire after 3 s unused on a member: kumo's
# mirror uses its token every 2 s, on the member its calls go to
sleep 4
check "a write after 4 s" "$(kctl --user root:rootpw put app/y 3)" "OK"

# a change made on etcd directly reaches kumo within its refresh period (2 s)
ectl --user root:rootpw role revoke-permission app --prefix app/ >/dev/null
t0=$(date +%s%N)
for _ in $(seq 60); do
    [[ "$(kctl --user alice:alicepw get app/x)" == *"permission denied"* ]] && break
    sleep 0.1
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -le 3500 ] && ok "a revoke made on etcd reaches kumo in ${ms} ms" ||
    bad "a revoke made on etcd reached kumo after ${ms} ms"
same "get as alice after the revoke" "permission denied" --user alice:alicepw get app/x
ectl --user root:rootpw user add bob:bobpw >/dev/null
ectl --user root:rootpw user grant-role bob app >/dev/null
check "a user added on etcd logs in through kumo at once" \
    "$(kctl --user bob:bobpw get rw/a --print-value-only)" "1"

# a new password through kumo: etcd's, the old one refused at once
etcdctl --endpoints "$K" --user root:rootpw user passwd alice --interactive=false <<< "newpw" >/dev/null 2>&1
same "the old password fails" "authentication failed" --user alice:alicepw get rw/a
same "the new password works" "rw/a" --user alice:newpw get rw/a

# revoke and delete through kumo
check "user revoke-role" "$(kctl --user root:rootpw user revoke-role bob app)" \
    "Role app is revoked from user bob"
same "bob may no longer read" "permission denied" --user bob:bobpw get rw/a
check "user delete" "$(kctl --user root:rootpw user delete bob)" "User bob deleted"
same "a deleted user cannot log in" "authentication failed" --user bob:bobpw get rw/a
same "revoke root's root role" "invalid auth management" --user root:rootpw user revoke-role root root

# a root role revoked on etcd counts at once for changes through kumo,
# which are made as kumo's own root user (the mirror is read first)
kctl --user root:rootpw user add ops:opspw >/dev/null
kctl --user root:rootpw user grant-role ops root >/dev/null
check "a second root user makes changes through kumo" "$(kctl --user ops:opspw role add ops-made)" \
    "Role ops-made created"
ectl --user root:rootpw user revoke-role ops root >/dev/null
check "once etcd revoked its root role, it cannot, at once" \
    "$(kctl --user ops:opspw role delete ops-made)" "Error: etcdserver: permission denied"
same "the role is still there" "ops-made" --user root:rootpw role list

# auth disable and enable through kumo are etcd's
check "auth disable through kumo" "$(kctl --user root:rootpw auth disable)" "Authentication Disabled"
check "etcd's authentication is off" "$(ectl get app/x --print-value-only)" "1"
same "get without --user, authentication off" "app/x" get app/x
check "auth enable through kumo" "$(kctl auth enable)" "Authentication Enabled"
same "get without --user, authentication on again" "user name is empty" get app/x
same "get as alice, authentication on again" "rw/a" --user alice:newpw get rw/a

# a backend user without etcd's root role: nothing mirrored, etcd checks
# (kumo copies and watches the whole keyspace, which alice may not read)
port2=$(free_port)
K2=127.0.0.1:$port2
out=$(timeout 20 "$build/kumo" serve --listen "$K2" --backend "etcd://$E" --data-dir "$tmp/kumo2" \
      --backend-user alice:newpw 2>&1)
check "a user who may not read every key: kumo refuses to start, saying why" \
    "$(echo "$out" | grep -c 'refused to let "alice" read the whole keyspace')" "1"
ectl --user root:rootpw user add reader:readerpw >/dev/null
ectl --user root:rootpw role add everything >/dev/null
ectl --user root:rootpw role grant-permission everything read --from-key '' >/dev/null
ectl --user root:rootpw role grant-permission everything readwrite --prefix rw/ >/dev/null
ectl --user root:rootpw user grant-role reader everything >/dev/null
"$build/kumo" serve --listen "$K2" --backend "etcd://$E" --data-dir "$tmp/kumo2" \
    --backend-user reader:readerpw > "$tmp/kumo2.log" 2>&1 &
kpid2=$!
if wait_ready "$port2"; then
    check "a user without the root role: kumo says it mirrors nothing" \
        "$(grep -c "does not hold etcd's root role" "$tmp/kumo2.log")" "1"
    check "requests reach etcd as that user" \
        "$(etcdctl --endpoints "$K2" put rw/c 4 2>&1)" "OK"
    check "and etcd refuses what it may not do" \
        "$(etcdctl --endpoints "$K2" put other 5 2>&1 | grep -v level)" "Error: etcdserver: permission denied"
    check "user changes are refused, saying why" \
        "$(etcdctl --endpoints "$K2" user add carol:pw 2>&1 | grep -v level | grep -c 'root role')" "1"
else
    bad "kumo serve as reader did not start: $(cat "$tmp/kumo2.log")"
fi

# kumo's throttling of failed logins (last: it blocks this address)
codes=
for i in $(seq 15); do
    codes+=$(curl -s -o "$tmp/login" -w '%{http_code} ' "http://$K/v3/auth/authenticate" \
             -d '{"name":"alice","password":"bad"}')
    [[ "$codes" == *429* ]] && break
done
check "failed logins in a row are throttled by kumo (10 allowed)" \
    "$(echo "$codes" | grep -cE '^(400 ){1,10}429 $')" "1"
check "saying so" "$(grep -o 'too many failed authentication attempts' "$tmp/login" | head -n 1)" \
    "too many failed authentication attempts"

kill "$kpid"; wait "$kpid"
check "kumo stops cleanly" "$?" "0"
kpid=
summary
[ $fail -eq 0 ]
