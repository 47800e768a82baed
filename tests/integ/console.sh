#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The web console at /ui/: its files as the server sends them (types,
# caching, security headers) with curl, then the whole release workflow in
# a real browser (headless chromium driven by selenium, console.py), live
# updates and login included. Chromium, chromedriver and selenium are
# required: without them the test fails. Screenshots go to BUILD/screenshots/.
# Usage: console.sh [build-dir].
set -u
cd "$(dirname "$0")/../.."
build=${1:-build}
. tests/integ/common.bash
need_cmds curl chromium chromedriver
# Debian's python3 (the one python3-selenium is installed for), whatever
# python3 comes first in PATH.
py=/usr/bin/python3
[ -x "$py" ] && "$py" -c 'import selenium' 2>/dev/null ||
    { bad "python3-selenium is not installed (scripts/deps.sh)"; summary; exit 1; }
[ -x "$build/kumo" ] || { bad "$build/kumo is not built (make first)"; summary; exit 1; }

tmp=$(mktemp -d)
kpid=
cleanup() {
    [ -n "$kpid" ] && kill "$kpid" 2>/dev/null && wait "$kpid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

(umask 077; head -c 32 /dev/urandom > "$tmp/secret.key")
port=$(free_port); E="http://127.0.0.1:$port"
"$build/kumo" serve --listen "127.0.0.1:$port" --data-dir "$tmp/d" \
    --secret-key-file "$tmp/secret.key" 2> "$tmp/serve.log" &
kpid=$!
wait_ready "$port" || { bad "kumo serve did not start: $(tail -n 3 "$tmp/serve.log")"; summary; exit 1; }

# ---- the files, as served ----
hdr() { curl -s -o /dev/null -D - "$@" | tr -d '\r'; }
h=$(hdr "$E/ui")
check "/ui redirects to /ui/" "$(printf '%s\n' "$h" | sed -n '1s/^HTTP[^ ]* //p;s/^Location: //p' | tr '\n' ' ')" "301 Moved Permanently /ui/ "
h=$(hdr "$E/ui/")
check "/ui/ is the page" "$(printf '%s\n' "$h" | sed -n 's/^Content-Type: //p')" "text/html; charset=utf-8"
check "Content-Security-Policy" "$(printf '%s\n' "$h" | sed -n 's/^Content-Security-Policy: //p')" \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
check "nosniff and no referrer" "$(printf '%s\n' "$h" | grep -E '^(X-Content-Type-Options|Referrer-Policy):' | tr '\n' ' ')" \
    "X-Content-Type-Options: nosniff Referrer-Policy: no-referrer "
check "revalidated each time" "$(printf '%s\n' "$h" | sed -n 's/^Cache-Control: //p')" "no-cache"
etag=$(printf '%s\n' "$h" | sed -n 's/^ETag: //p')
[[ "$etag" =~ ^\"[0-9a-f]{16}\"$ ]] && ok "ETag $etag" || bad "ETag: [$etag]"
check "304 on If-None-Match" "$(curl -s -o /dev/null -w '%{http_code} %{size_download}' -H "If-None-Match: W/\"0\", $etag" "$E/ui/")" "304 0"
check "200 on another tag" "$(curl -s -o /dev/null -w '%{http_code}' -H 'If-None-Match: "0000000000000000"' "$E/ui/")" "200"
check "index.html by name too" "$(curl -s "$E/ui/index.html" | cmp - <(curl -s "$E/ui/") && echo same)" "same"
for f in app.js:text/javascript app.css:text/css; do
    check "${f%%:*}'s type" "$(hdr "$E/ui/${f%%:*}" | sed -n 's/^Content-Type: //p')" "${f#*:}; charset=utf-8"
done
check "the served bytes are ui/'s" "$(curl -s "$E/ui/app.js" | cmp - ui/app.js && echo same)" "same"
check "unknown file is 404" "$(curl -s -o /dev/null -w '%{http_code}' "$E/ui/nope.js")" "404"
check "no path escapes ui/" "$(curl -s -o /dev/null -w '%{http_code}' --path-as-is "$E/ui/../../etc/passwd")" "404"
# the CSP holds only without inline code
if grep -nE '<script>|<script [^>]*>[^<]|<style|\sstyle=|\son[a-z]+=' ui/*.html; then bad "inline script or style in ui/*.html"; else ok "no inline script or style"; fi

# ---- the browser ----
mkdir -p "$build/screenshots"; rm -f "$build/screenshots/"*.png
out=$("$py" tests/integ/console.py "$E" "$build/screenshots" 2>&1); rc=$?
printf '%s\n' "$out"
n=$(printf '%s\n' "$out" | grep -c '^ok ')
f=$(printf '%s\n' "$out" | grep -c '^FAIL ')
pass=$((pass + n)); fail=$((fail + f))
[ "$rc" -eq 0 ] || [ "$f" -gt 0 ] || bad "console.py exited with $rc"
[ "$n" -gt 0 ] || bad "console.py ran no check"
grep -iE 'panic|assert|sanitizer' "$tmp/serve.log" && bad "the server complained: see above"
summary
[ "$fail" -eq 0 ]
