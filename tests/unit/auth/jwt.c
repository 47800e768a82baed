/* SPDX-License-Identifier: MIT */
/* JWT login tokens: round trips for every method, the option string and
 * its refusals, and the tokens a verifier must refuse (expired, another
 * key's, alg none, HS256 keyed with the public key, tampered, truncated,
 * garbled). Tokens the openssl command signs verify here, and ours verify
 * under it, so other issuers of etcd's format interoperate. The keys are
 * made with the openssl command at test time; the base64url and DER
 * handling below is OpenSSL's, not jwt.c's, so neither checks itself. */
#include "util.h"
#include "auth/jwt.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define T0 1700000000LL             /* "now" for the tests, seconds */

static char dir[64];

static char *path(const char *name) { return t_path(dir, name); }

static void sh(const char *cmd)
{
    ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
}

/* Run once, in Check's parent: every test forks with the keys there. */
static void make_keys(void)
{
    snprintf(dir, sizeof dir, "/tmp/kumo-jwt-XXXXXX");
    ck_assert(mkdtemp(dir));
    static const char *const keys[][2] = {
        { "rsa", "-algorithm RSA -pkeyopt rsa_keygen_bits:2048" },
        { "rsa2", "-algorithm RSA -pkeyopt rsa_keygen_bits:2048" },
        { "rsa1024", "-algorithm RSA -pkeyopt rsa_keygen_bits:1024" },
        { "ec256", "-algorithm EC -pkeyopt ec_paramgen_curve:P-256" },
        { "ec256b", "-algorithm EC -pkeyopt ec_paramgen_curve:P-256" },
        { "ec384", "-algorithm EC -pkeyopt ec_paramgen_curve:P-384" },
        { "ec521", "-algorithm EC -pkeyopt ec_paramgen_curve:P-521" },
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "cd %s && openssl genpkey %s -out %s.key 2>/dev/null && "
                 "openssl pkey -in %s.key -pubout -out %s.pub 2>/dev/null",
                 dir, keys[i][1], keys[i][0], keys[i][0], keys[i][0]);
        sh(cmd);
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cd %s && openssl req -new -x509 -key rsa.key -subj /CN=jwt -days 2 "
             "-out rsa.crt 2>/dev/null && openssl pkey -in rsa.key -aes256 -passout pass:x "
             "-out rsa-enc.key 2>/dev/null && echo 'not a key' > junk.pem && mkdir sub && "
             "head -c 70000 /dev/zero > big.pem", dir);
    sh(cmd);
}

static void rm_keys(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    sh(cmd);
}

/* A verifier/signer from files in dir (NULL: option left out) and the rest
 * of the option string. */
static int mk(km__jwt **j, const char *pub, const char *priv, const char *rest,
              const char **err)
{
    char o[512];
    int n = 0;
    if (pub)
        n += snprintf(o + n, sizeof o - (size_t)n, "pub-key=%s,", path(pub));
    if (priv)
        n += snprintf(o + n, sizeof o - (size_t)n, "priv-key=%s,", path(priv));
    n += snprintf(o + n, sizeof o - (size_t)n, "%s", rest);
    if (n && o[n - 1] == ',')
        o[n - 1] = '\0';
    return km__jwt_new(j, o, err);
}

static km__jwt *must(const char *pub, const char *priv, const char *rest)
{
    km__jwt *j;
    const char *err = NULL;
    int rc = mk(&j, pub, priv, rest, &err);
    ck_assert_msg(rc == 0, "km__jwt_new(%s, %s, %s): %d %s", pub, priv, rest, rc,
                  err ? err : "");
    return j;
}

/* ---- base64url and signatures by OpenSSL's hand ---- */

static size_t enc(char *out, const void *in, size_t n)
{
    int m = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    while (m && out[m - 1] == '=')
        m--;
    for (int i = 0; i < m; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    out[m] = '\0';
    return (size_t)m;
}

static size_t dec(uint8_t *out, const char *in, size_t n)
{
    char t[4096];
    ck_assert(n + 3 < sizeof t);
    size_t m = 0;
    for (; m < n; m++)
        t[m] = in[m] == '-' ? '+' : in[m] == '_' ? '/' : in[m];
    size_t pad = (4 - n % 4) % 4;
    for (size_t i = 0; i < pad; i++)
        t[m++] = '=';
    int r = EVP_DecodeBlock(out, (unsigned char *)t, (int)m);
    ck_assert_int_ge(r, 0);
    return (size_t)r - pad;
}

static size_t slurp(const char *file, void *buf, size_t cap)
{
    FILE *f = fopen(file, "rb");
    ck_assert_msg(f != NULL, "%s", file);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static void spill(const char *file, const void *buf, size_t n)
{
    FILE *f = fopen(file, "wb");
    ck_assert(f != NULL);
    ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
    fclose(f);
}

/* openssl dgst's options for an algorithm */
static const char *dgst_opts(const char *alg)
{
    const char *bits = alg + 2;
    static char o[160];
    snprintf(o, sizeof o, "-sha%s%s", bits,
             alg[0] == 'P' ? " -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest" : "");
    return o;
}

static size_t ec_half(const char *alg)
{
    return !strcmp(alg, "ES256") ? 32 : !strcmp(alg, "ES384") ? 48 : 66;
}

/* A token that the openssl command signed (key: a file in dir) over
 * header and claims as given: the way another issuer would make one. */
static char *hand_token(const char *alg, const char *key, const char *header, const char *claims)
{
    static char tok[4096];
    size_t n = enc(tok, header, strlen(header));
    tok[n++] = '.';
    n += enc(tok + n, claims, strlen(claims));
    spill(path("in"), tok, n);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "openssl dgst %s -sign %s -out %s %s", dgst_opts(alg), path(key),
             path("sig"), path("in"));
    sh(cmd);
    uint8_t sig[1024];
    size_t sn = slurp(path("sig"), sig, sizeof sig);
    if (alg[0] == 'E') {
        /* the command writes DER; JWT wants r || s, each of fixed width */
        const uint8_t *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sn);
        ck_assert(es != NULL);
        int h = (int)ec_half(alg);
        uint8_t raw[132];
        ck_assert_int_eq(BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, h), h);
        ck_assert_int_eq(BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + h, h), h);
        ECDSA_SIG_free(es);
        memcpy(sig, raw, (size_t)(2 * h));
        sn = (size_t)(2 * h);
    }
    tok[n++] = '.';
    enc(tok + n, sig, sn);
    return tok;
}

/* Whether the openssl command accepts the signature of our token. */
static bool openssl_verifies(const char *alg, const char *pub, const char *tok)
{
    const char *d2 = strrchr(tok, '.');
    spill(path("in"), tok, (size_t)(d2 - tok));
    uint8_t sig[1024];
    size_t sn = dec(sig, d2 + 1, strlen(d2 + 1));
    if (alg[0] == 'E') {
        size_t h = ec_half(alg);
        ck_assert_uint_eq(sn, 2 * h);
        ECDSA_SIG *es = ECDSA_SIG_new();
        ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)h, NULL), BN_bin2bn(sig + h, (int)h, NULL));
        uint8_t *p = sig;
        sn = (size_t)i2d_ECDSA_SIG(es, &p);
        ECDSA_SIG_free(es);
    }
    spill(path("sig"), sig, sn);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "openssl dgst %s -verify %s -signature %s %s >/dev/null 2>&1",
             dgst_opts(alg), path(pub), path("sig"), path("in"));
    return system(cmd) == 0;
}

/* ---- round trips ---- */

static const struct { const char *alg, *pub, *priv; } all[] = {
    { "RS256", "rsa.pub", "rsa.key" }, { "RS384", "rsa.pub", "rsa.key" },
    { "RS512", "rsa.pub", "rsa.key" }, { "PS256", "rsa.pub", "rsa.key" },
    { "PS384", "rsa.pub", "rsa.key" }, { "PS512", "rsa.pub", "rsa.key" },
    { "ES256", "ec256.pub", "ec256.key" }, { "ES384", "ec384.pub", "ec384.key" },
    { "ES512", "ec521.pub", "ec521.key" },
};
#define NALL (sizeof all / sizeof all[0])

static km__jwt *signer(size_t i)
{
    char rest[64];
    snprintf(rest, sizeof rest, "sign-method=%s", all[i].alg);
    return must(all[i].pub, all[i].priv, rest);
}

static void round_trip_body(void *arg)
{
    static const char *const users[] = { "alice", "root", "q\"uote\\back\nline\x01",
                                         "zo\xc3\xab \xe6\x97\xa5\xf0\x9f\x94\x91", "a/b<c>&" };
    for (size_t i = 0; i < NALL; i++) {
        km__jwt *j = signer(i);
        ck_assert_int_eq(km__jwt_ttl(j), 300LL * 1000000000);
        for (size_t u = 0; u < sizeof users / sizeof users[0]; u++) {
            char tok[KM__JWT_MAX], user[256];
            uint64_t rev = 0;
            int n = km__jwt_sign(j, users[u], 42 + u, T0, tok, sizeof tok);
            ck_assert_msg(n > 0, "%s: sign %d", all[i].alg, n);
            ck_assert_uint_eq(strlen(tok), (size_t)n);
            ck_assert_int_eq(km__jwt_verify(j, tok, (size_t)n, T0, user, sizeof user, &rev), 0);
            ck_assert_str_eq(user, users[u]);
            ck_assert_uint_eq(rev, 42 + u);
        }
        /* the exact bytes etcd (jwt-go) writes */
        char tok[KM__JWT_MAX], want[128], got[KM__JWT_MAX];
        int n = km__jwt_sign(j, "alice", 7, T0, tok, sizeof tok);
        ck_assert_int_gt(n, 0);
        char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
        got[dec((uint8_t *)got, tok, (size_t)(d1 - tok))] = '\0';
        snprintf(want, sizeof want, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", all[i].alg);
        ck_assert_str_eq(got, want);
        got[dec((uint8_t *)got, d1 + 1, (size_t)(d2 - d1 - 1))] = '\0';
        ck_assert_str_eq(got, "{\"exp\":1700000300,\"revision\":7,\"username\":\"alice\"}");
        km__jwt_free(j);
    }
}

START_TEST(round_trip)
{
    t_run(round_trip_body, NULL);
}
END_TEST

START_TEST(openssl_interop)
{
    char user[256];
    uint64_t rev;
    for (size_t i = 0; i < NALL; i++) {
        km__jwt *j = signer(i);
        /* theirs verifies under ours */
        char head[64];
        snprintf(head, sizeof head, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", all[i].alg);
        const char *tok = hand_token(all[i].alg, all[i].priv, head,
                         "{\"exp\":1700000300,\"revision\":9,\"username\":\"bob\"}");
        ck_assert_msg(km__jwt_verify(j, tok, strlen(tok), T0, user, sizeof user, &rev) == 0,
                      "%s: openssl's token refused", all[i].alg);
        ck_assert_str_eq(user, "bob");
        ck_assert_uint_eq(rev, 9);
        /* ours verifies under theirs (PS*: with the salt as long as the hash) */
        char mine[KM__JWT_MAX];
        ck_assert_int_gt(km__jwt_sign(j, "carol", 1, T0, mine, sizeof mine), 0);
        ck_assert_msg(openssl_verifies(all[i].alg, all[i].pub, mine), "%s: openssl refused ours",
                      all[i].alg);
        km__jwt_free(j);
    }
}
END_TEST

/* Signed tokens whose header or claims are not what etcd's are. */
START_TEST(claims_and_headers)
{
    km__jwt *j = must("rsa.pub", NULL, "sign-method=RS256");
    const char *std = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
    static const struct { const char *head, *claims; int ok; uint64_t rev; } c[] = {
        /* accepted: no typ, extra members, no revision, members in any order */
        { "{\"alg\":\"RS256\"}", "{\"exp\":1700000001,\"username\":\"u\"}", 1, 0 },
        { "{\"typ\":\"JWT\",\"kid\":\"k1\",\"alg\":\"RS256\"}",
          "{\"username\":\"u\",\"iat\":1,\"revision\":3,\"exp\":1700000001}", 1, 3 },
        { NULL, " {\"exp\":1700000001,\"username\":\"u\"}\n", 1, 0 },
        /* refused */
        { "{\"alg\":\"RS256\",\"crit\":[\"exp\"]}", "{\"exp\":1700000001,\"username\":\"u\"}", 0, 0 },
        { "{\"alg\":\"RS256\",\"alg\":\"RS256\"}", "{\"exp\":1700000001,\"username\":\"u\"}", 0, 0 },
        { "{\"alg\":\"rs256\"}", "{\"exp\":1700000001,\"username\":\"u\"}", 0, 0 },
        { "{\"alg\":\"RS256\\u0000\"}", "{\"exp\":1700000001,\"username\":\"u\"}", 0, 0 },
        { "[\"RS256\"]", "{\"exp\":1700000001,\"username\":\"u\"}", 0, 0 },
        { "{\"typ\":\"JWT\"}", "{\"exp\":1700000001,\"username\":\"u\"}", 0, 0 },
        { NULL, "{\"exp\":1700000001,\"username\":\"u\",\"username\":\"root\"}", 0, 0 },
        { NULL, "{\"exp\":1700000001.0,\"username\":\"u\"}", 0, 0 },
        { NULL, "{\"exp\":1.7e9,\"username\":\"u\"}", 0, 0 },
        { NULL, "{\"exp\":\"1700000001\",\"username\":\"u\"}", 0, 0 },
        { NULL, "{\"exp\":99999999999999999999999,\"username\":\"u\"}", 0, 0 },
        { NULL, "{\"username\":\"u\"}", 0, 0 },
        { NULL, "{\"exp\":1700000001,\"username\":\"u\",\"revision\":-1}", 0, 0 },
        { NULL, "{\"exp\":1700000001,\"username\":\"u\",\"revision\":1.0}", 0, 0 },
        { NULL, "{\"exp\":1700000001,\"username\":\"u\",\"revision\":\"1\"}", 0, 0 },
        { NULL, "{\"exp\":1700000001,\"username\":\"\"}", 0, 0 },
        { NULL, "{\"exp\":1700000001,\"username\":\"a\\u0000b\"}", 0, 0 },
        { NULL, "{\"exp\":1700000001,\"username\":7}", 0, 0 },
        { NULL, "{\"exp\":1700000001}", 0, 0 },
        { NULL, "[{\"exp\":1700000001,\"username\":\"u\"}]", 0, 0 },
        { NULL, "{\"exp\":1700000001,\"username\":\"u\"} x", 0, 0 },
        { NULL, "{\"exp\":1700000001,\"username\":\"u\"", 0, 0 },
        { NULL, "\"u\"", 0, 0 },
        { NULL, "{\"exp\":1700000001,\"username\":\"\xff\"}", 0, 0 },
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        const char *tok = hand_token("RS256", "rsa.key", c[i].head ? c[i].head : std, c[i].claims);
        char user[256];
        uint64_t rev = 99;
        int rc = km__jwt_verify(j, tok, strlen(tok), T0, user, sizeof user, &rev);
        ck_assert_msg(rc == (c[i].ok ? 0 : -EKEYREJECTED), "case %zu (%s %s): %d", i,
                      c[i].head ? c[i].head : "std", c[i].claims, rc);
        if (c[i].ok) {
            ck_assert_str_eq(user, "u");
            ck_assert_uint_eq(rev, c[i].rev);
        }
    }
    /* 255 bytes of user name is the most */
    const char *pre = "{\"exp\":1700000001,\"username\":\"";
    char big[300], name[257];
    memset(name, 'x', 256);
    name[256] = '\0';
    snprintf(big, sizeof big, "%s%s\"}", pre, name + 1);
    char user[256];
    uint64_t rev;
    const char *tok = hand_token("RS256", "rsa.key", std, big);
    ck_assert_int_eq(km__jwt_verify(j, tok, strlen(tok), T0, user, sizeof user, &rev), 0);
    ck_assert_uint_eq(strlen(user), 255);
    snprintf(big, sizeof big, "%s%s\"}", pre, name);
    tok = hand_token("RS256", "rsa.key", std, big);
    ck_assert_int_eq(km__jwt_verify(j, tok, strlen(tok), T0, user, sizeof user, &rev),
                     -EKEYREJECTED);
    km__jwt_free(j);
}
END_TEST

/* ---- options ---- */

START_TEST(options)
{
    km__jwt *j = (km__jwt *)&j;
    const char *err;
    static const struct { const char *pub, *priv, *rest; int rc; const char *err; } bad[] = {
        { NULL, NULL, "", -EINVAL, "pub-key is required" },
        { NULL, "rsa.key", "sign-method=RS256", -EINVAL, "pub-key is required" },
        { "rsa.pub", NULL, "", -EINVAL, "sign-method is required" },
        { "rsa.pub", NULL, "sign-method=RS256,color=blue", -EINVAL, "unknown jwt option" },
        { "rsa.pub", NULL, "sign-method=RS256,Pub-Key=x", -EINVAL, "unknown jwt option" },
        { "rsa.pub", NULL, "sign-method=RS256,ttl", -EINVAL, "without '='" },
        { "rsa.pub", NULL, "sign-method=RS256,,ttl=5m", -EINVAL, "without '='" },
        { "rsa.pub", NULL, "sign-method=RS256,ttl=", -EINVAL, "empty value" },
        { "rsa.pub", NULL, "sign-method=RS256,sign-method=RS256", -EINVAL, "twice" },
        { "rsa.pub", NULL, "sign-method=HS256", -EINVAL, "unknown jwt sign-method" },
        { "rsa.pub", NULL, "sign-method=none", -EINVAL, "unknown jwt sign-method" },
        { "rsa.pub", NULL, "sign-method=rs256", -EINVAL, "unknown jwt sign-method" },
        /* the key must fit the method */
        { "rsa.pub", NULL, "sign-method=ES256", -EINVAL, "EC key" },
        { "rsa.pub", "rsa.key", "sign-method=ES384", -EINVAL, "EC key" },
        { "ec256.pub", NULL, "sign-method=RS256", -EINVAL, "RSA key" },
        { "ec256.pub", "ec256.key", "sign-method=PS256", -EINVAL, "RSA key" },
        { "ec256.pub", NULL, "sign-method=ES384", -EINVAL, "P-256, P-384, P-521" },
        { "ec384.pub", NULL, "sign-method=ES256", -EINVAL, "P-256, P-384, P-521" },
        { "ec521.pub", NULL, "sign-method=ES384", -EINVAL, "P-256, P-384, P-521" },
        { "rsa1024.pub", NULL, "sign-method=RS256", -EINVAL, "2048" },
        { "rsa.pub", "rsa2.key", "sign-method=RS256", -EINVAL, "private half" },
        { "ec256.pub", "ec256b.key", "sign-method=ES256", -EINVAL, "private half" },
        { "ec256.pub", "rsa.key", "sign-method=ES256", -EINVAL, "private half" },
        /* files */
        { "nope.pub", NULL, "sign-method=RS256", -ENOENT, "cannot read the pub-key" },
        { "rsa.pub", "nope.key", "sign-method=RS256", -ENOENT, "cannot read the priv-key" },
        { "sub", NULL, "sign-method=RS256", -EISDIR, "cannot read the pub-key" },
        { "junk.pem", NULL, "sign-method=RS256", -EINVAL, "no PEM public key" },
        { "big.pem", NULL, "sign-method=RS256", -EINVAL, "larger than 64 KiB" },
        { "rsa.key", NULL, "sign-method=RS256", -EINVAL, "no PEM public key" },
        { "rsa.pub", "junk.pem", "sign-method=RS256", -EINVAL, "no PEM private key" },
        { "rsa.pub", "rsa.pub", "sign-method=RS256", -EINVAL, "no PEM private key" },
        { "rsa.pub", "rsa-enc.key", "sign-method=RS256", -EINVAL, "encrypted" },
        /* ttl */
        { "rsa.pub", NULL, "sign-method=RS256,ttl=5", -EINVAL, "Go duration" },
        { "rsa.pub", NULL, "sign-method=RS256,ttl=0", -EINVAL, "Go duration" },
        { "rsa.pub", NULL, "sign-method=RS256,ttl=0s", -EINVAL, "Go duration" },
        { "rsa.pub", NULL, "sign-method=RS256,ttl=-5m", -EINVAL, "Go duration" },
        { "rsa.pub", NULL, "sign-method=RS256,ttl=5x", -EINVAL, "Go duration" },
        { "rsa.pub", NULL, "sign-method=RS256,ttl=5 m", -EINVAL, "Go duration" },
        { "rsa.pub", NULL, "sign-method=RS256,ttl=m", -EINVAL, "Go duration" },
        { "rsa.pub", NULL, "sign-method=RS256,ttl=.s", -EINVAL, "Go duration" },
        { "rsa.pub", NULL, "sign-method=RS256,ttl=1h-30m", -EINVAL, "Go duration" },
        { "rsa.pub", NULL, "sign-method=RS256,ttl=1.5", -EINVAL, "Go duration" },
        { "rsa.pub", NULL, "sign-method=RS256,ttl=3000000h", -EINVAL, "Go duration" },
        { "rsa.pub", NULL, "sign-method=RS256,ttl=99999999999999999999s", -EINVAL, "Go duration" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err = NULL;
        j = (km__jwt *)&j;
        int rc = mk(&j, bad[i].pub, bad[i].priv, bad[i].rest, &err);
        ck_assert_msg(rc == bad[i].rc, "case %zu (%s %s %s): %d, want %d", i, bad[i].pub,
                      bad[i].priv, bad[i].rest, rc, bad[i].rc);
        ck_assert_msg(err && strstr(err, bad[i].err), "case %zu: err \"%s\", want \"%s\"", i,
                      err ? err : "(null)", bad[i].err);
        ck_assert_ptr_null(j);
    }
    ck_assert_int_eq(km__jwt_new(&j, NULL, &err), -EINVAL);
    ck_assert_int_eq(km__jwt_new(&j, "", &err), -EINVAL);
    char o[256];
    snprintf(o, sizeof o, "pub-key=%s,sign-method=RS256,", path("rsa.pub"));   /* as etcd, refused */
    ck_assert_int_eq(km__jwt_new(&j, o, &err), -EINVAL);
    ck_assert_int_eq(km__jwt_new(&j, "ttl=5m", NULL), -EINVAL);     /* err may be NULL */
    if (geteuid() != 0) {       /* root reads anything */
        char cmd[256];
        snprintf(cmd, sizeof cmd, "cp %s %s && chmod 000 %s", path("rsa.pub"), path("locked.pub"),
                 path("locked.pub"));
        sh(cmd);
        ck_assert_int_eq(mk(&j, "locked.pub", NULL, "sign-method=RS256", &err), -EACCES);
    }

    static const struct { const char *ttl; long long ns; } good[] = {
        { "300s", 300000000000LL }, { "5m", 300000000000LL }, { "1h", 3600000000000LL },
        { "1h30m", 5400000000000LL }, { "1.5h", 5400000000000LL }, { "500ms", 500000000LL },
        { "2h45m30.5s", 9930500000000LL }, { "10us", 10000 }, { "10\xc2\xb5s", 10000 },
        { "7ns", 7 }, { "+1m", 60000000000LL }, { "1m0s", 60000000000LL },
        { "0.000000001s", 1 }, { "1000000h", 3600000000000000000LL },
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char rest[96];
        snprintf(rest, sizeof rest, "ttl=%s,sign-method=ES256", good[i].ttl);
        j = must("ec256.pub", "ec256.key", rest);
        ck_assert_msg(km__jwt_ttl(j) == good[i].ns, "ttl=%s: %lld", good[i].ttl,
                      (long long)km__jwt_ttl(j));
        km__jwt_free(j);
    }
    /* a certificate serves as the public key, as in jwt-go */
    j = must("rsa.crt", "rsa.key", "sign-method=PS256");
    char tok[KM__JWT_MAX], user[256];
    uint64_t rev;
    int n = km__jwt_sign(j, "u", 1, T0, tok, sizeof tok);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(km__jwt_verify(j, tok, (size_t)n, T0, user, sizeof user, &rev), 0);
    km__jwt_free(j);
    km__jwt_free(NULL);
}
END_TEST

/* ---- refusals ---- */

START_TEST(expiry)
{
    km__jwt *j = must("ec256.pub", "ec256.key", "sign-method=ES256,ttl=5m");
    char tok[KM__JWT_MAX], user[256];
    uint64_t rev;
    int n = km__jwt_sign(j, "alice", 1, T0, tok, sizeof tok);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(km__jwt_verify(j, tok, (size_t)n, T0 + 299, user, sizeof user, &rev), 0);
    /* "exp" is the first second the token is no longer good */
    ck_assert_int_eq(km__jwt_verify(j, tok, (size_t)n, T0 + 300, user, sizeof user, &rev),
                     -EKEYREJECTED);
    ck_assert_int_eq(km__jwt_verify(j, tok, (size_t)n, T0 + 86400, user, sizeof user, &rev),
                     -EKEYREJECTED);
    km__jwt_free(j);
    /* a ttl under a second still yields a token good for this second */
    j = must("ec256.pub", "ec256.key", "sign-method=ES256,ttl=500ms");
    n = km__jwt_sign(j, "alice", 1, T0, tok, sizeof tok);
    ck_assert_int_eq(km__jwt_verify(j, tok, (size_t)n, T0, user, sizeof user, &rev), 0);
    ck_assert_int_eq(km__jwt_verify(j, tok, (size_t)n, T0 + 1, user, sizeof user, &rev),
                     -EKEYREJECTED);
    km__jwt_free(j);
    /* and a signed, long-expired token made elsewhere */
    j = must("rsa.pub", NULL, "sign-method=RS256");
    const char *old = hand_token("RS256", "rsa.key", "{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
                                 "{\"exp\":1500000000,\"revision\":1,\"username\":\"alice\"}");
    ck_assert_int_eq(km__jwt_verify(j, old, strlen(old), T0, user, sizeof user, &rev),
                     -EKEYREJECTED);
    km__jwt_free(j);
}
END_TEST

START_TEST(other_key)
{
    char tok[KM__JWT_MAX], user[256];
    uint64_t rev;
    static const char *const pairs[][4] = {
        { "rsa2.pub", "rsa2.key", "rsa.pub", "sign-method=RS256" },
        { "rsa2.pub", "rsa2.key", "rsa.pub", "sign-method=PS256" },
        { "ec256b.pub", "ec256b.key", "ec256.pub", "sign-method=ES256" },
    };
    for (size_t i = 0; i < 3; i++) {
        km__jwt *s = must(pairs[i][0], pairs[i][1], pairs[i][3]);
        km__jwt *v = must(pairs[i][2], NULL, pairs[i][3]);
        int n = km__jwt_sign(s, "alice", 1, T0, tok, sizeof tok);
        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(km__jwt_verify(s, tok, (size_t)n, T0, user, sizeof user, &rev), 0);
        ck_assert_int_eq(km__jwt_verify(v, tok, (size_t)n, T0, user, sizeof user, &rev),
                         -EKEYREJECTED);
        km__jwt_free(s);
        km__jwt_free(v);
    }
    /* the same key under another method of its family: the header differs */
    km__jwt *rs = must("rsa.pub", "rsa.key", "sign-method=RS256");
    km__jwt *ps = must("rsa.pub", "rsa.key", "sign-method=PS256");
    km__jwt *rs5 = must("rsa.pub", "rsa.key", "sign-method=RS512");
    int n = km__jwt_sign(rs, "alice", 1, T0, tok, sizeof tok);
    ck_assert_int_eq(km__jwt_verify(ps, tok, (size_t)n, T0, user, sizeof user, &rev),
                     -EKEYREJECTED);
    ck_assert_int_eq(km__jwt_verify(rs5, tok, (size_t)n, T0, user, sizeof user, &rev),
                     -EKEYREJECTED);
    /* and a PKCS#1 v1.5 signature under a PS256 header */
    char forged[KM__JWT_MAX];
    const char *h = "{\"alg\":\"PS256\",\"typ\":\"JWT\"}";
    size_t k = enc(forged, h, strlen(h));
    snprintf(forged + k, sizeof forged - k, "%s", strchr(tok, '.'));
    ck_assert_int_eq(km__jwt_verify(ps, forged, strlen(forged), T0, user, sizeof user, &rev),
                     -EKEYREJECTED);
    km__jwt_free(rs);
    km__jwt_free(ps);
    km__jwt_free(rs5);
}
END_TEST

/* header.claims.signature from JSON texts and raw signature bytes */
static char *assemble(const char *head, const char *claims, const void *sig, size_t sn)
{
    static char tok[4096];
    size_t n = enc(tok, head, strlen(head));
    tok[n++] = '.';
    n += enc(tok + n, claims, strlen(claims));
    tok[n++] = '.';
    enc(tok + n, sig, sn);
    return tok;
}

START_TEST(alg_none_and_hmac_confusion)
{
    const char *claims = "{\"exp\":1700000300,\"revision\":1,\"username\":\"root\"}";
    char user[256];
    uint64_t rev;
    struct { const char *pub, *method; } v[] = {
        { "rsa.pub", "sign-method=RS256" }, { "ec256.pub", "sign-method=ES256" },
        { "ec521.pub", "sign-method=ES512" },
    };
    for (size_t i = 0; i < 3; i++) {
        km__jwt *j = must(v[i].pub, NULL, v[i].method);
        /* alg none, with the empty signature such tokens carry */
        static const char *const nones[] = {
            "{\"alg\":\"none\"}", "{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"alg\":\"None\"}",
            "{\"alg\":\"NONE\",\"typ\":\"JWT\"}",
        };
        for (size_t k = 0; k < 4; k++) {
            char *t = assemble(nones[k], claims, "", 0);
            ck_assert_int_eq(km__jwt_verify(j, t, strlen(t), T0, user, sizeof user, &rev),
                             -EKEYREJECTED);
        }
        ck_assert_int_eq(km__jwt_verify(j, "eyJhbGciOiJub25lIn0.e30.", 24, T0, user, sizeof user,
                                        &rev), -EKEYREJECTED);
        /* HMAC keyed with the public key's PEM text: a verifier that took
         * the header's word for the algorithm would accept these. HS512's
         * 64 bytes are as long as an ES256 signature. */
        uint8_t pem[4096];
        size_t pn = slurp(path(v[i].pub), pem, sizeof pem);
        static const char *const hs[] = { "HS256", "HS384", "HS512" };
        for (size_t k = 0; k < 3; k++) {
            const EVP_MD *md = k == 0 ? EVP_sha256() : k == 1 ? EVP_sha384() : EVP_sha512();
            char head[64];
            const char *algs[2] = { hs[k], v[i].method + strlen("sign-method=") };
            for (int a = 0; a < 2; a++) {
                snprintf(head, sizeof head, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", algs[a]);
                char *t = assemble(head, claims, "", 0);
                size_t body = strlen(t) - 1;
                uint8_t mac[64];
                unsigned ml = 0;
                ck_assert(HMAC(md, pem, (int)pn, (uint8_t *)t, body, mac, &ml) != NULL);
                enc(t + body + 1, mac, ml);
                ck_assert_int_eq(km__jwt_verify(j, t, strlen(t), T0, user, sizeof user, &rev),
                                 -EKEYREJECTED);
            }
        }
        km__jwt_free(j);
    }
}
END_TEST

START_TEST(tampered)
{
    km__jwt *j = must("rsa.pub", "rsa.key", "sign-method=RS256");
    km__jwt *e = must("ec384.pub", "ec384.key", "sign-method=ES384");
    km__jwt *both[2] = { j, e };
    for (int b = 0; b < 2; b++) {
        char tok[KM__JWT_MAX], user[256];
        uint64_t rev;
        int n = km__jwt_sign(both[b], "alice", 5, T0, tok, sizeof tok);
        ck_assert_int_gt(n, 0);
        char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
        static const char *const claims[] = {
            "{\"exp\":1700000300,\"revision\":5,\"username\":\"root\"}",
            "{\"exp\":1700000300,\"revision\":6,\"username\":\"alice\"}",
            "{\"exp\":1800000300,\"revision\":5,\"username\":\"alice\"}",
            "{\"exp\":1700000300,\"revision\":5,\"username\":\"alice\" }",
            "{\"exp\":1700000300,\"revision\":5,\"username\":\"alice\"}",   /* control: same */
        };
        for (size_t k = 0; k < 5; k++) {
            char t[KM__JWT_MAX];
            size_t m = (size_t)(d1 - tok) + 1;
            memcpy(t, tok, m);
            m += enc(t + m, claims[k], strlen(claims[k]));
            snprintf(t + m, sizeof t - m, "%s", d2);
            int rc = km__jwt_verify(both[b], t, strlen(t), T0, user, sizeof user, &rev);
            ck_assert_int_eq(rc, k == 4 ? 0 : -EKEYREJECTED);
        }
        /* the signature of one token on another's body */
        char other[KM__JWT_MAX], t[2 * KM__JWT_MAX];
        ck_assert_int_gt(km__jwt_sign(both[b], "root", 5, T0, other, sizeof other), 0);
        snprintf(t, sizeof t, "%.*s%s", (int)(strrchr(other, '.') - other), other, d2);
        ck_assert_int_eq(km__jwt_verify(both[b], t, strlen(t), T0, user, sizeof user, &rev),
                         -EKEYREJECTED);
    }
    km__jwt_free(j);
    km__jwt_free(e);
}
END_TEST

/* Every prefix, every one-character change and a few additions of a good
 * token are refused, each from a buffer exactly its length (ASan sees a
 * read past it). */
static void garbled_body(void *arg)
{
    static const char subst[] = "Aa09-_=.+/ \n\0\x80\xff";
    char user[256];
    uint64_t rev;
    const size_t pick[] = { 0, 6 };     /* RS256, ES256 */
    for (size_t p = 0; p < 2; p++) {
        km__jwt *j = signer(pick[p]);
        char tok[KM__JWT_MAX];
        int n = km__jwt_sign(j, "alice", 1, T0, tok, sizeof tok);
        ck_assert_int_gt(n, 0);
        for (int len = 0; len < n; len++) {
            char *t = malloc(len ? (size_t)len : 1);
            memcpy(t, tok, (size_t)len);
            REQUIRE_EQ(km__jwt_verify(j, t, (size_t)len, T0, user, sizeof user, &rev),
                       -EKEYREJECTED);
            free(t);
        }
        char *t = malloc((size_t)n);
        for (int i = 0; i < n; i++) {
            for (size_t s = 0; s < sizeof subst - 1 + 1; s++) {
                char c = s < sizeof subst - 1 ? subst[s] : (char)(tok[i] ^ 0x20);
                if (c == tok[i])
                    continue;
                memcpy(t, tok, (size_t)n);
                t[i] = c;
                int rc = km__jwt_verify(j, t, (size_t)n, T0, user, sizeof user, &rev);
                if (rc != -EKEYREJECTED)
                    ck_abort_msg("%s: byte %d as 0x%02x: %d", all[pick[p]].alg, i,
                                 (unsigned char)c, rc);
            }
        }
        free(t);
        static const char *const tails[] = { "=", "==", "A", ".", "\n", " ", ".A", "\0" };
        for (size_t k = 0; k < sizeof tails / sizeof tails[0]; k++) {
            size_t tl = tails[k][0] ? strlen(tails[k]) : 1;
            t = malloc((size_t)n + tl);
            memcpy(t, tok, (size_t)n);
            memcpy(t + n, tails[k], tl);
            REQUIRE_EQ(km__jwt_verify(j, t, (size_t)n + tl, T0, user, sizeof user, &rev),
                       -EKEYREJECTED);
            /* and in front */
            memcpy(t, tails[k], tl);
            memcpy(t + tl, tok, (size_t)n);
            REQUIRE_EQ(km__jwt_verify(j, t, (size_t)n + tl, T0, user, sizeof user, &rev),
                       -EKEYREJECTED);
            free(t);
        }
        /* a huge input is refused without a look */
        size_t big = 1 << 20;
        t = malloc(big);
        memset(t, 'A', big);
        memcpy(t, tok, (size_t)n);
        REQUIRE_EQ(km__jwt_verify(j, t, big, T0, user, sizeof user, &rev), -EKEYREJECTED);
        free(t);
        /* the good one still passes */
        REQUIRE_EQ(km__jwt_verify(j, tok, (size_t)n, T0, user, sizeof user, &rev), 0);
        km__jwt_free(j);
    }
    static const char *const junk[] = { "", ".", "..", "...", "a.b.c", "a..c", ".b.c", "a.b.",
                                        "eyJhbGciOiJub25lIn0.e30.", "e30.e30.e30", "====.====.====" };
    km__jwt *j = signer(0);
    for (size_t k = 0; k < sizeof junk / sizeof junk[0]; k++)
        REQUIRE_EQ(km__jwt_verify(j, junk[k], strlen(junk[k]), T0, user, sizeof user, &rev),
                   -EKEYREJECTED);
    km__jwt_free(j);
}

START_TEST(truncated_and_garbled)
{
    t_run(garbled_body, NULL);
}
END_TEST

START_TEST(verify_only_and_sign_limits)
{
    km__jwt *s = must("rsa.pub", "rsa.key", "sign-method=RS512");
    km__jwt *v = must("rsa.pub", NULL, "sign-method=RS512");
    char tok[KM__JWT_MAX], user[256];
    uint64_t rev = 0;
    int n = km__jwt_sign(s, "alice", 77, T0, tok, sizeof tok);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(km__jwt_verify(v, tok, (size_t)n, T0, user, sizeof user, &rev), 0);
    ck_assert_str_eq(user, "alice");
    ck_assert_uint_eq(rev, 77);
    ck_assert_int_eq(km__jwt_sign(v, "alice", 1, T0, tok, sizeof tok), -EPERM);

    /* the user name: 1..255 bytes of UTF-8 */
    char name[300];
    memset(name, 'x', sizeof name);
    name[255] = '\0';
    n = km__jwt_sign(s, name, 1, T0, tok, sizeof tok);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(km__jwt_verify(v, tok, (size_t)n, T0, user, sizeof user, &rev), 0);
    ck_assert_str_eq(user, name);
    name[255] = 'x';
    name[256] = '\0';
    ck_assert_int_eq(km__jwt_sign(s, name, 1, T0, tok, sizeof tok), -EINVAL);
    ck_assert_int_eq(km__jwt_sign(s, "", 1, T0, tok, sizeof tok), -EINVAL);
    ck_assert_int_eq(km__jwt_sign(s, "a\xff", 1, T0, tok, sizeof tok), -EINVAL);
    ck_assert_int_eq(km__jwt_sign(s, "\xc0\xaf", 1, T0, tok, sizeof tok), -EINVAL);  /* overlong */
    ck_assert_int_eq(km__jwt_sign(s, "\xed\xa0\x80", 1, T0, tok, sizeof tok), -EINVAL);
    ck_assert_int_eq(km__jwt_sign(s, "a", (uint64_t)INT64_MAX + 1, T0, tok, sizeof tok), -EINVAL);
    n = km__jwt_sign(s, "a", (uint64_t)INT64_MAX, T0, tok, sizeof tok);
    ck_assert_int_eq(km__jwt_verify(v, tok, (size_t)n, T0, user, sizeof user, &rev), 0);
    ck_assert_uint_eq(rev, (uint64_t)INT64_MAX);
    /* room: the token and its NUL, no less */
    n = km__jwt_sign(s, "alice", 1, T0, tok, sizeof tok);
    ck_assert_int_eq(km__jwt_sign(s, "alice", 1, T0, tok, (size_t)n), -ENOSPC);
    ck_assert_int_eq(km__jwt_sign(s, "alice", 1, T0, tok, (size_t)n + 1), n);
    /* a user buffer too small for the name is no overflow */
    char small[4];
    ck_assert_int_eq(km__jwt_verify(v, tok, (size_t)n, T0, small, sizeof small, &rev), -ENOSPC);
    km__jwt_free(s);
    km__jwt_free(v);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("auth/jwt");
    TCase *tc = tcase_create("jwt");
    tcase_add_unchecked_fixture(tc, make_keys, rm_keys);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, openssl_interop);
    tcase_add_test(tc, claims_and_headers);
    tcase_add_test(tc, options);
    tcase_add_test(tc, expiry);
    tcase_add_test(tc, other_key);
    tcase_add_test(tc, alg_none_and_hmac_confusion);
    tcase_add_test(tc, tampered);
    tcase_add_test(tc, truncated_and_garbled);
    tcase_add_test(tc, verify_only_and_sign_limits);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
