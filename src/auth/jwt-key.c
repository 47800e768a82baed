/* SPDX-License-Identifier: MIT */
/* etcd's JWT option string (jwt,pub-key=F,priv-key=F,sign-method=M,ttl=D)
 * and the PEM keys it names, checked against the method. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include "auth/jwt-int.h"
#include "enc/b64.h"
#include "rt/alloc.h"

#define DEFAULT_TTL  (300 * NS_PER_S)   /* etcd's default, 5m */
#define MAX_PEM      (64 << 10)         /* a key file, or a certificate chain */

static const struct method methods[] = {
    { "RS256", RS, "SHA256", 0, 0 }, { "RS384", RS, "SHA384", 0, 0 },
    { "RS512", RS, "SHA512", 0, 0 }, { "PS256", PS, "SHA256", 0, 0 },
    { "PS384", PS, "SHA384", 0, 0 }, { "PS512", PS, "SHA512", 0, 0 },
    { "ES256", ES, "SHA256", NID_X9_62_prime256v1, 32 },
    { "ES384", ES, "SHA384", NID_secp384r1, 48 },
    { "ES512", ES, "SHA512", NID_secp521r1, 66 },
};

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
