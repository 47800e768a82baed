/* SPDX-License-Identifier: MIT */
/* etcd's JWT login tokens: signing, and a strict verifier (OpenSSL 3 for
 * the signatures, jansson for the JSON). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include "auth/jwt-int.h"
#include "enc/b64.h"
#include "enc/utf8.h"
#include "rt/alloc.h"

/* Longer is no token of etcd's format; the cap bounds what a stranger's
 * bytes can make verify allocate and parse. */
#define MAX_TOKEN    8192

/* base64url without padding: src/enc/b64.h */
static size_t b64url_len(size_t n) { return km__b64_raw_len(n); }

static ssize_t b64url_decode(uint8_t *out, const char *in, size_t n)
{
    ssize_t r = km__b64url_decode(out, in, n);
    return r < 0 ? -1 : r;
}

/* ---- signatures ---- */

static int pss(const km__jwt *j, EVP_PKEY_CTX *pc)
{
    /* RFC 7518 3.5: MGF1 with the same hash, salt as long as the hash */
    return j->m->kind != PS ||
           (EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) == 1);
}

/* Signs in[0..n) into sig (j->sig_n bytes); ECDSA's DER becomes r || s. */
static int sign_raw(const km__jwt *j, const char *in, size_t n, uint8_t *sig)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc;
    uint8_t der[160];       /* ES512's DER is at most 139 bytes */
    size_t dn = j->m->kind == ES ? sizeof der : j->sig_n;
    int rc = -ENOMEM;
    if (!c || EVP_DigestSignInit(c, &pc, j->md, NULL, j->priv) != 1 || !pss(j, pc) ||
        EVP_DigestSign(c, j->m->kind == ES ? der : sig, &dn, (const uint8_t *)in, n) != 1)
        goto out;
    if (j->m->kind != ES) {
        rc = dn == j->sig_n ? 0 : -ENOMEM;
        goto out;
    }
    const uint8_t *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)dn);
    if (es) {
        const BIGNUM *r, *s;
        ECDSA_SIG_get0(es, &r, &s);
        int h = (int)j->m->half;
        if (BN_bn2binpad(r, sig, h) == h && BN_bn2binpad(s, sig + h, h) == h)
            rc = 0;
        ECDSA_SIG_free(es);
    }
out:
    EVP_MD_CTX_free(c);
    ERR_clear_error();
    return rc;
}

/* 1 when sig (j->sig_n bytes) signs in[0..n), 0 when not, -ENOMEM. */
static int verify_raw(const km__jwt *j, const char *in, size_t n, const uint8_t *sig)
{
    uint8_t der[160];
    size_t dn = j->sig_n;
    const uint8_t *vs = sig;
    int rc = -ENOMEM;
    EVP_MD_CTX *c = NULL;
    if (j->m->kind == ES) {
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig, (int)j->m->half, NULL);
        BIGNUM *s = BN_bin2bn(sig + j->m->half, (int)j->m->half, NULL);
        if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1) {
            BN_free(r);
            BN_free(s);
            ECDSA_SIG_free(es);
            goto out;
        }
        int len = i2d_ECDSA_SIG(es, NULL);
        uint8_t *p = der;
        if (len <= 0 || (size_t)len > sizeof der || i2d_ECDSA_SIG(es, &p) != len) {
            ECDSA_SIG_free(es);
            goto out;
        }
        ECDSA_SIG_free(es);
        vs = der;
        dn = (size_t)len;
    }
    EVP_PKEY_CTX *pc;
    if (!(c = EVP_MD_CTX_new()) || EVP_DigestVerifyInit(c, &pc, j->md, NULL, j->pub) != 1 ||
        !pss(j, pc))
        goto out;
    /* 0 and negative both mean "not this key's signature" here: the
     * inputs are well formed by now, so only the signature can be bad */
    rc = EVP_DigestVerify(c, vs, dn, (const uint8_t *)in, n) == 1;
out:
    EVP_MD_CTX_free(c);
    ERR_clear_error();
    return rc;
}

/* ---- tokens ---- */

int km__jwt_sign(km__jwt *j, const char *user, uint64_t rev, int64_t now_s, char *out,
                 size_t cap)
{
    if (!j->priv)
        return -EPERM;
    size_t un = strnlen(user, MAX_USER + 1);
    if (!un || un > MAX_USER || rev > INT64_MAX || !km__utf8_valid(user, un))
        return -EINVAL;     /* verify could not read such claims back */
    /* Whole seconds, rounded up: a 500ms ttl still yields a token that
     * is valid for the rest of this second. */
    int64_t exp;
    if (__builtin_add_overflow(now_s, (j->ttl + NS_PER_S - 1) / NS_PER_S, &exp))
        return -EINVAL;
    char claims[MAX_USER * 6 + 80];
    int cn = snprintf(claims, sizeof claims, "{\"exp\":%" PRId64 ",\"revision\":%" PRIu64
                      ",\"username\":\"", exp, rev);
    for (size_t i = 0; i < un; i++) {
        unsigned char c = (unsigned char)user[i];
        if (c == '"' || c == '\\')
            cn += sprintf(claims + cn, "\\%c", c);
        else if (c < 0x20)
            cn += sprintf(claims + cn, "\\u%04x", c);
        else
            claims[cn++] = (char)c;
    }
    claims[cn++] = '"';
    claims[cn++] = '}';
    size_t body = j->head_n + 1 + b64url_len((size_t)cn);
    if (body + 1 + b64url_len(j->sig_n) + 1 > cap)
        return -ENOSPC;
    memcpy(out, j->head, j->head_n);
    out[j->head_n] = '.';
    km__b64url_encode(out + j->head_n + 1, claims, (size_t)cn);
    uint8_t sig[RSA_MAX_BYTES];
    int rc = sign_raw(j, out, body, sig);
    if (rc)
        return rc;
    out[body] = '.';
    size_t n = body + 1 + km__b64url_encode(out + body + 1, sig, j->sig_n);
    out[n] = '\0';
    return (int)n;
}

/* The JSON object in p[0..n), duplicate names refused, or NULL. */
static json_t *object(const uint8_t *p, size_t n)
{
    json_error_t e;
    json_t *o = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &e);
    if (o && !json_is_object(o)) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* Whether the header names this verifier's algorithm and nothing it must
 * understand: RFC 7515 4.1.11 has a "crit" we do not know refused. */
static bool header_ok(const km__jwt *j, const uint8_t *p, size_t n)
{
    json_t *h = object(p, n);
    json_t *alg = json_object_get(h, "alg");
    bool ok = json_is_string(alg) && json_string_length(alg) == strlen(j->m->name) &&
              !strcmp(json_string_value(alg), j->m->name) && !json_object_get(h, "crit");
    json_decref(h);
    return ok;
}

/* Reads the signed claims: 0, or -EKEYREJECTED. */
static int claims_ok(const uint8_t *p, size_t n, int64_t now_s, char *user, size_t cap,
                     uint64_t *rev)
{
    int rc = -EKEYREJECTED;
    json_t *c = object(p, n);
    json_t *u = json_object_get(c, "username");
    json_t *exp = json_object_get(c, "exp");
    json_t *r = json_object_get(c, "revision");
    if (!json_is_string(u) || !json_is_integer(exp) || (r && !json_is_integer(r)))
        goto out;
    size_t un = json_string_length(u);
    json_int_t rv = r ? json_integer_value(r) : 0;
    if (!un || un > MAX_USER || json_integer_value(exp) <= now_s || rv < 0)
        goto out;
    if (un >= cap) {
        rc = -ENOSPC;
        goto out;
    }
    /* jansson refuses \u0000 in strings, so the copy holds no NUL */
    memcpy(user, json_string_value(u), un);
    user[un] = '\0';
    if (rev)
        *rev = (uint64_t)rv;
    rc = 0;
out:
    json_decref(c);
    return rc;
}

int km__jwt_verify(km__jwt *j, const char *tok, size_t n, int64_t now_s, char *user,
                   size_t cap, uint64_t *rev)
{
    if (n > MAX_TOKEN)
        return -EKEYREJECTED;
    const char *d1 = memchr(tok, '.', n);
    const char *d2 = d1 ? memchr(d1 + 1, '.', (size_t)(tok + n - d1 - 1)) : NULL;
    if (!d2)
        return -EKEYREJECTED;
    size_t hn = (size_t)(d1 - tok), cn = (size_t)(d2 - d1 - 1), sn = (size_t)(tok + n - d2 - 1);
    /* a third dot, or the wrong size, fails here before any work */
    if (!hn || !cn || sn != b64url_len(j->sig_n))
        return -EKEYREJECTED;
    uint8_t *buf = km__malloc(hn / 4 * 3 + 2 + cn / 4 * 3 + 2 + j->sig_n);
    if (!buf)
        return -ENOMEM;
    uint8_t *h = buf, *c = h + hn / 4 * 3 + 2, *sig = c + cn / 4 * 3 + 2;
    int rc = -EKEYREJECTED;
    ssize_t hl = b64url_decode(h, tok, hn);
    ssize_t cl = b64url_decode(c, d1 + 1, cn);
    if (hl < 0 || cl < 0 || b64url_decode(sig, d2 + 1, sn) != (ssize_t)j->sig_n)
        goto out;
    if (!header_ok(j, h, (size_t)hl))
        goto out;
    /* The claims are parsed only once signed: a stranger's bytes reach
     * jansson through the header alone. */
    int v = verify_raw(j, tok, (size_t)(d2 - tok), sig);
    if (v <= 0) {
        rc = v < 0 ? v : -EKEYREJECTED;
        goto out;
    }
    rc = claims_ok(c, (size_t)cl, now_s, user, cap, rev);
out:
    km__free(buf);
    return rc;
}
