/* SPDX-License-Identifier: MIT */
/* etcd's JWT login tokens: the option string, the keys, signing, and a
 * strict verifier (OpenSSL 3 for the signatures, jansson for the JSON). */
#include "auth/jwt.h"
#include "enc/b64.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include "rt/alloc.h"

#define NS_PER_S     1000000000LL
#define DEFAULT_TTL  (300 * NS_PER_S)   /* etcd's default, 5m */
#define MAX_PEM      (64 << 10)         /* a key file, or a certificate chain */
#define MAX_USER     255
/* Longer is no token of etcd's format; the cap bounds what a stranger's
 * bytes can make verify allocate and parse. */
#define MAX_TOKEN    8192
/* RFC 7518 3.3: RSA keys of 2048 bits or more MUST be used. The upper
 * bound keeps a signature in a stack buffer. */
#define RSA_MIN_BYTES 256
#define RSA_MAX_BYTES 1024

enum { RS, PS, ES };

static const struct method {
    char        name[6];
    int         kind;
    const char *md;
    int         curve;      /* ES: the curve the key must be on */
    size_t      half;       /* ES: bytes of r, and of s, in JWT's raw form */
} methods[] = {
    { "RS256", RS, "SHA256", 0, 0 }, { "RS384", RS, "SHA384", 0, 0 },
    { "RS512", RS, "SHA512", 0, 0 }, { "PS256", PS, "SHA256", 0, 0 },
    { "PS384", PS, "SHA384", 0, 0 }, { "PS512", PS, "SHA512", 0, 0 },
    { "ES256", ES, "SHA256", NID_X9_62_prime256v1, 32 },
    { "ES384", ES, "SHA384", NID_secp384r1, 48 },
    { "ES512", ES, "SHA512", NID_secp521r1, 66 },
};

struct km__jwt {
    const struct method *m;
    EVP_MD   *md;           /* fetched once, not per signature */
    EVP_PKEY *pub, *priv;   /* priv NULL: verify only */
    size_t    sig_n;        /* bytes of a signature in the token */
    int64_t   ttl;
    size_t    head_n;
    char      head[40];     /* the header sign writes, encoded */
};

/* base64url without padding: src/enc/b64.h */
static size_t b64url_len(size_t n) { return km__b64_raw_len(n); }

static ssize_t b64url_decode(uint8_t *out, const char *in, size_t n)
{
    ssize_t r = km__b64url_decode(out, in, n);
    return r < 0 ? -1 : r;
}

/* ---- options ---- */

/* Go's time.ParseDuration for positive values: numbers with an optional
 * fraction, each followed by a unit, as in 1h30m, 1.5h, 500ms. */
static int parse_ttl(const char *s, int64_t *out)
{
    static const struct { const char *u; int64_t ns; } units[] = {
        { "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 }, { "\xce\xbcs", 1000 },
        { "ms", 1000000 }, { "s", NS_PER_S }, { "m", 60 * NS_PER_S },
        { "h", 3600 * NS_PER_S },
    };
    unsigned __int128 total = 0;
    if (*s == '+')
        s++;
    if (!*s)
        return -EINVAL;
    while (*s) {
        uint64_t whole = 0, frac = 0, scale = 1;
        int digits = 0;
        for (; *s >= '0' && *s <= '9'; s++, digits++) {
            if (whole > (uint64_t)INT64_MAX / 10)
                return -EINVAL;
            whole = whole * 10 + (uint64_t)(*s - '0');
        }
        if (*s == '.')
            for (s++; *s >= '0' && *s <= '9'; s++, digits++)
                if (scale < 1000000000000000000ULL) {   /* finer digits cannot matter */
                    frac = frac * 10 + (uint64_t)(*s - '0');
                    scale *= 10;
                }
        if (!digits)
            return -EINVAL;
        size_t k = 0, ul = 0;
        for (; k < sizeof units / sizeof units[0]; k++) {
            ul = strlen(units[k].u);
            if (!strncmp(s, units[k].u, ul))
                break;
        }
        if (k == sizeof units / sizeof units[0])
            return -EINVAL;     /* Go wants a unit on every number but a lone 0 */
        s += ul;
        total += (unsigned __int128)whole * (uint64_t)units[k].ns +
                 (unsigned __int128)frac * (uint64_t)units[k].ns / scale;
        if (total > INT64_MAX)
            return -EINVAL;
    }
    if (!total)
        return -EINVAL;
    *out = (int64_t)total;
    return 0;
}

enum { O_PUB, O_PRIV, O_METHOD, O_TTL, O_N };

/* Splits s in place into the four options' values. */
static int split_opts(char *s, char *v[O_N], const char **err)
{
    static const char *const names[O_N] = { "pub-key", "priv-key", "sign-method", "ttl" };
    for (char *item = *s ? s : NULL, *next; item; item = next) {
        next = strchr(item, ',');
        if (next)
            *next++ = '\0';
        char *eq = strchr(item, '=');
        if (!eq) {
            *err = "jwt option without '=' (want name=value)";
            return -EINVAL;
        }
        *eq = '\0';
        int i = 0;
        while (i < O_N && strcmp(item, names[i]))
            i++;
        if (i == O_N) {
            *err = "unknown jwt option";
            return -EINVAL;
        }
        if (v[i]) {
            *err = "jwt option given twice";    /* etcd refuses it too */
            return -EINVAL;
        }
        if (!eq[1]) {
            *err = "jwt option with an empty value";
            return -EINVAL;
        }
        v[i] = eq + 1;
    }
    return 0;
}

/* ---- keys ---- */

/* OpenSSL's default would prompt on the terminal for an encrypted key;
 * a server has nobody there, so an encrypted key is simply refused. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    return -1;
}

/* The file's bytes, into buf (MAX_PEM). Their count, or -errno. */
static ssize_t read_key_file(const char *path, char *buf)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t n = 0;
    while (n < MAX_PEM) {
        ssize_t r = read(fd, buf + n, MAX_PEM - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    return n == MAX_PEM ? -EFBIG : (ssize_t)n;
}

/* A key from the file: the public key of a PUBLIC KEY block or, as jwt-go
 * takes too, of a CERTIFICATE; or a PRIVATE KEY. 0, -errno, or -EINVAL
 * (nothing usable in it). */
static int load_key(const char *path, bool priv, EVP_PKEY **out, const char **err)
{
    char *buf = km__malloc(MAX_PEM);
    if (!buf)
        return -ENOMEM;
    ssize_t n = read_key_file(path, buf);
    if (n < 0) {
        km__free(buf);
        if (n == -EFBIG) {
            *err = "jwt key file larger than 64 KiB";
            return -EINVAL;
        }
        *err = priv ? "cannot read the priv-key file" : "cannot read the pub-key file";
        return (int)n;
    }
    BIO *b = BIO_new_mem_buf(buf, (int)n);
    if (!b) {
        km__free(buf);
        return -ENOMEM;
    }
    EVP_PKEY *k;
    if (priv) {
        k = PEM_read_bio_PrivateKey(b, NULL, no_password, NULL);
    } else {
        k = PEM_read_bio_PUBKEY(b, NULL, no_password, NULL);
        if (!k) {
            BIO_free(b);
            if (!(b = BIO_new_mem_buf(buf, (int)n))) {
                km__free(buf);
                return -ENOMEM;
            }
            X509 *x = PEM_read_bio_X509(b, NULL, no_password, NULL);
            if (x) {
                k = X509_get_pubkey(x);
                X509_free(x);
            }
        }
    }
    BIO_free(b);
    OPENSSL_cleanse(buf, (size_t)n);    /* a private key's bytes */
    km__free(buf);
    /* The thread's error queue is shared with every other OpenSSL user
     * on it (TLS connections read it): leave nothing of ours behind. */
    ERR_clear_error();
    if (!k) {
        *err = priv ? "priv-key holds no PEM private key (or it is encrypted)"
                    : "pub-key holds no PEM public key or certificate";
        return -EINVAL;
    }
    *out = k;
    return 0;
}

/* Whether k is a key for method m. */
static bool key_fits(const struct method *m, EVP_PKEY *k, const char **err)
{
    if (m->kind != ES) {
        if (!EVP_PKEY_is_a(k, "RSA")) {
            *err = "sign-method RS* and PS* need an RSA key";
            return false;
        }
        int n = EVP_PKEY_get_size(k);
        if (n < RSA_MIN_BYTES || n > RSA_MAX_BYTES) {
            *err = "RSA key must have 2048 to 8192 bits";
            return false;
        }
        return true;
    }
    char g[64];
    size_t gl;
    int nid = NID_undef;
    if (EVP_PKEY_is_a(k, "EC") && EVP_PKEY_get_group_name(k, g, sizeof g, &gl) == 1) {
        nid = OBJ_sn2nid(g);
        if (nid == NID_undef)
            nid = EC_curve_nist2nid(g);
    }
    ERR_clear_error();
    if (nid != m->curve) {
        *err = "sign-method ES256, ES384, ES512 need an EC key on P-256, P-384, P-521";
        return false;
    }
    return true;
}

static int setup(km__jwt *j, char *v[O_N], const char **err)
{
    if (!v[O_PUB]) {
        *err = "jwt option pub-key is required";
        return -EINVAL;
    }
    if (!v[O_METHOD]) {
        *err = "jwt option sign-method is required";    /* as etcd has it */
        return -EINVAL;
    }
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (!strcmp(v[O_METHOD], methods[i].name))
            j->m = &methods[i];
    if (!j->m) {
        *err = "unknown jwt sign-method (RS256..512, PS256..512, ES256, ES384, ES512)";
        return -EINVAL;
    }
    j->ttl = DEFAULT_TTL;
    if (v[O_TTL] && parse_ttl(v[O_TTL], &j->ttl)) {
        *err = "jwt ttl is not a positive Go duration (300s, 5m, 1h30m)";
        return -EINVAL;
    }
    int rc = load_key(v[O_PUB], false, &j->pub, err);
    if (rc)
        return rc;
    if (!key_fits(j->m, j->pub, err))
        return -EINVAL;
    if (v[O_PRIV]) {
        if ((rc = load_key(v[O_PRIV], true, &j->priv, err)))
            return rc;
        int eq = EVP_PKEY_eq(j->pub, j->priv);
        ERR_clear_error();
        if (eq != 1) {
            *err = "priv-key is not the private half of pub-key";
            return -EINVAL;
        }
    }
    j->sig_n = j->m->kind == ES ? 2 * j->m->half : (size_t)EVP_PKEY_get_size(j->pub);
    if (!(j->md = EVP_MD_fetch(NULL, j->m->md, NULL))) {
        ERR_clear_error();
        return -ENOMEM;
    }
    /* jwt-go's header, keys sorted as Go's encoding/json writes a map */
    char h[32];
    int hn = snprintf(h, sizeof h, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", j->m->name);
    j->head_n = km__b64url_encode(j->head, h, (size_t)hn);
    return 0;
}

int km__jwt_new(km__jwt **out, const char *opts, const char **err)
{
    const char *ignored;
    if (!err)
        err = &ignored;
    *err = NULL;
    *out = NULL;
    char *s = km__strdup(opts ? opts : "");
    km__jwt *j = km__calloc(1, sizeof *j);
    if (!s || !j) {
        km__free(s);
        km__free(j);
        return -ENOMEM;
    }
    char *v[O_N] = { 0 };
    int rc = split_opts(s, v, err);
    if (!rc)
        rc = setup(j, v, err);
    km__free(s);
    if (rc) {
        km__jwt_free(j);
        return rc;
    }
    *out = j;
    return 0;
}

void km__jwt_free(km__jwt *j)
{
    if (!j)
        return;
    EVP_PKEY_free(j->pub);
    EVP_PKEY_free(j->priv);
    EVP_MD_free(j->md);
    km__free(j);
}

int64_t km__jwt_ttl(const km__jwt *j)
{
    return j->ttl;
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

/* Whether s[0..n) is UTF-8 as jansson reads it (no overlong forms, no
 * surrogates, nothing past U+10FFFF): sign never issues what verify refuses. */
static bool utf8_ok(const uint8_t *s, size_t n)
{
    static const uint32_t least[5] = { 0, 0, 0x80, 0x800, 0x10000 };
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0)
            len = 2, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0)
            len = 3, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0)
            len = 4, cp = c & 0x07;
        else
            return false;
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < least[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

int km__jwt_sign(km__jwt *j, const char *user, uint64_t rev, int64_t now_s, char *out,
                 size_t cap)
{
    if (!j->priv)
        return -EPERM;
    size_t un = strnlen(user, MAX_USER + 1);
    if (!un || un > MAX_USER || rev > INT64_MAX || !utf8_ok((const uint8_t *)user, un))
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
