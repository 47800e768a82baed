/* SPDX-License-Identifier: MIT */
/* Browser sessions for the console: logging in sets the token as a cookie
 * scripts cannot read (HttpOnly) and other sites cannot send
 * (SameSite=Strict); a change made with the cookie must also carry the
 * X-Kumo-CSRF header, which a cross-site form or image cannot add and
 * whose cross-site fetch needs a CORS preflight this server never grants. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include "rt/rt-int.h"
#include "serve/native-int.h"

#define COOKIE "kumo_session"

km_str km__native_cookie(km_http_req *r, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0, n = km_http_header_count(r); i < n; i++) {
        km_str k, v;
        if (km_http_header_at(r, i, &k, &v) < 0 || k.n != 6 || strncasecmp(k.p, "cookie", 6))
            continue;
        /* "a=1; kumo_session=T; b=2" */
        const char *p = v.p, *end = v.p + v.n;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == ';'))
                p++;
            const char *semi = memchr(p, ';', (size_t)(end - p));
            const char *stop = semi ? semi : end;
            if ((size_t)(stop - p) > nl && !memcmp(p, name, nl) && p[nl] == '=')
                return (km_str){ p + nl + 1, (size_t)(stop - p - nl - 1) };
            p = stop;
        }
    }
    return (km_str){ NULL, 0 };
}

bool km__native_csrf_ok(km_http_req *r)
{
    km_str m = km_http_method(r);
    bool safe = (m.n == 3 && !memcmp(m.p, "GET", 3)) || (m.n == 4 && !memcmp(m.p, "HEAD", 4));
    return safe || km_http_header(r, "X-Kumo-CSRF").n > 0;
}

static void set_cookie(km_native *n, km_http_resp *w, const char *token, bool clear)
{
    char c[2400];
    snprintf(c, sizeof c, "%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s", COOKIE,
             clear ? "" : token, n->secure_cookies ? "; Secure" : "",
             clear ? "; Max-Age=0" : "");
    km_http_set_header(w, "Set-Cookie", c);
}

static void reply(km_http_resp *w, int status, json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (s)
        km_http_send(w, status, "application/json", s, strlen(s));
    else
        km__native_fail(w, 503, "out of memory");
    free(s);
}

/* POST /api/v1/auth/session {"name","password"}: 200 {"user"} and the
 * cookie; 401 wrong name or password; 429 throttled; 409 when
 * authentication is off (there is nothing to log in to). */
static void login(km_http_req *r, km_http_resp *w, void *ud)
{
    km_native *n = ud;
    km_str b;
    /* a cross-site form could post a JSON-looking text/plain body */
    if (!km_http_header(r, "X-Kumo-CSRF").n) {
        km__native_fail(w, 403, "logging in needs the X-Kumo-CSRF header");
        return;
    }
    if (km_http_body(r, &b) < 0)
        return;
    json_t *j = json_loadb(b.p, b.n, 0, NULL);
    const char *user = json_string_value(json_object_get(j, "name"));
    const char *pw = json_string_value(json_object_get(j, "password"));
    char tok[2100], peer[64];
    km_str rem = km_http_remote(r);
    snprintf(peer, sizeof peer, "%.*s", rem.p ? (int)rem.n : 0, rem.p ? rem.p : "");
    int rc = !user || !pw ? -EINVAL
           : !n->auth ? KM_EAUTH_NOT_ENABLED
           : km_auth_authenticate(n->auth, user, pw, peer, tok, sizeof tok);
    switch (rc) {
    case 0:
        set_cookie(n, w, tok, false);
        reply(w, 200, json_pack("{s:s}", "user", user));
        break;
    case -EINVAL:
        km__native_fail(w, 400, "send {\"name\":USER,\"password\":PASSWORD}");
        break;
    case KM_EAUTH_NOT_ENABLED:
        km__native_fail(w, 409, "authentication is not enabled");
        break;
    case KM_EAUTH_THROTTLED:
        km__native_fail(w, 429, "too many failed logins; wait and try again");
        break;
    case KM_EAUTH_FAILED:
        km__native_fail(w, 401, "authentication failed, invalid user ID or password");
        break;
    default:
        km__native_fail_errno(w, rc);
    }
    json_decref(j);
}

/* GET /api/v1/auth/session: who the request is, {"enabled":B,"user":U}
 * (user "" when anonymous): 200, or 401 for a token that is not valid. */
static void whoami(km_http_req *r, km_http_resp *w, void *ud)
{
    km_native *n = ud;
    bool on = n->auth && km_auth_enabled(n->auth);
    char user[256];
    if (on && !km__native_identified(n, r, w))
        return;
    km__native_user(n, r, user, sizeof user);
    reply(w, 200, json_pack("{s:b,s:s}", "enabled", on, "user", user));
}

/* DELETE /api/v1/auth/session: revokes the cookie's token, clears it. 204. */
static void logout(km_http_req *r, km_http_resp *w, void *ud)
{
    km_native *n = ud;
    km_str t = km__native_cookie(r, COOKIE);
    if (!km__native_csrf_ok(r)) {
        km__native_fail(w, 403, "a request carrying the session cookie needs the "
                                "X-Kumo-CSRF header");
        return;
    }
    if (n->auth && t.n)
        km_auth_revoke_token(n->auth, t.p, t.n);
    set_cookie(n, w, "", true);
    km_http_send(w, 204, NULL, NULL, 0);
}

int km__native_session_routes(km_native *n, km_http_router *rt)
{
    int rc = km_http_route(rt, "POST", "/api/v1/auth/session", login, n);
    if (!rc)
        rc = km_http_route(rt, "GET", "/api/v1/auth/session", whoami, n);
    if (!rc)
        rc = km_http_route(rt, "DELETE", "/api/v1/auth/session", logout, n);
    return rc;
}
