/* SPDX-License-Identifier: MIT */
/* Sealing and opening secret values with AES-256-GCM on OpenSSL's EVP, and
 * loading the key file they share. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "enc/b64.h"
#include "release/secret.h"
#include "rt/alloc.h"

#define KEY_LEN    32
#define NONCE_LEN  12
#define TAG_LEN    16
#define PREFIX_LEN (sizeof KM__SECRET_PREFIX - 1)
/* Longer than any form of a key (64 hex digits and CR LF); a bigger file is
 * something else by mistake. */
#define FILE_MAX   128
/* EVP counts in int: longer inputs go in pieces. */
#define CHUNK      (1 << 30)

struct km__secret_key {
    uint8_t key[KEY_LEN];
};

static int fail(char *err, size_t errn, int rc, const char *fmt, ...)
{
    if (errn) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errn, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* ---- the key file ---- */

/* The file's bytes into buf (FILE_MAX + 1): their count or -errno. */
static ssize_t read_file(int fd, uint8_t *buf)
{
    size_t n = 0;
    while (n <= FILE_MAX) {
        ssize_t r = read(fd, buf + n, FILE_MAX + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        n += (size_t)r;
    }
    return (ssize_t)n;
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The text forms of buf[0..n) into key. 0 or -EINVAL with err. */
static int parse_key(uint8_t *key, uint8_t *buf, size_t n, const char *file, char *err,
                     size_t errn)
{
    if (n && buf[n - 1] == '\n')
        n--;
    if (n && buf[n - 1] == '\r')
        n--;
    if (!n)
        return fail(err, errn, -EINVAL, "secret key file %s is empty; want 32 random bytes "
                    "(head -c 32 /dev/urandom > %s)", file, file);
    bool hex = true;
    for (size_t i = 0; hex && i < n; i++)
        hex = hexval(buf[i]) >= 0;
    if (hex && n == 2 * KEY_LEN) {
        for (size_t i = 0; i < KEY_LEN; i++)
            key[i] = (uint8_t)(hexval(buf[2 * i]) << 4 | hexval(buf[2 * i + 1]));
        return 0;
    }
    /* base64 of 32 bytes is 43 or 44 characters, which may all be hex
     * digits; at any other length hex is what was meant */
    if (hex && n != 43 && n != 44)
        return fail(err, errn, -EINVAL, "secret key file %s: %zu hex digits, want 64", file, n);
    uint8_t dec[FILE_MAX];
    ssize_t d = km__b64_decode_as(dec, (const char *)buf, n, false);
    if (d < 0) {
        /* url alphabet: its decoder takes no padding */
        size_t m = n;
        while (m && buf[m - 1] == '=' && n - m < 2)
            m--;
        d = km__b64url_decode(dec, (const char *)buf, m);
    }
    int rc = 0;
    if (d < 0)
        rc = fail(err, errn, -EINVAL, "secret key file %s: %zu bytes, neither 32 raw bytes nor "
                  "64 hex digits nor base64 of 32 bytes", file, n);
    else if (d != KEY_LEN)
        rc = fail(err, errn, -EINVAL, "secret key file %s: base64 of %zd bytes, want 32", file,
                  d);
    else
        memcpy(key, dec, KEY_LEN);
    OPENSSL_cleanse(dec, sizeof dec);
    return rc;
}

int km__secret_key_load(km__secret_key **out, const char *file, char *err, size_t errn)
{
    *out = NULL;
    if (errn)
        err[0] = '\0';
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        return fail(err, errn, -e, "secret key file %s: %s", file, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return fail(err, errn, -e, "secret key file %s: %s", file, strerror(e));
    }
    /* As ssh with a private key: a key others could read (or swap) is
     * already lost, so refuse rather than warn. */
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        close(fd);
        return fail(err, errn, -EPERM, "secret key file %s: permissions %04o are too open; "
                    "chmod 600 %s", file, (unsigned)(st.st_mode & 07777), file);
    }
    uint8_t buf[FILE_MAX + 1];
    ssize_t n = read_file(fd, buf);
    close(fd);
    if (n < 0)
        return fail(err, errn, (int)n, "secret key file %s: %s", file, strerror((int)-n));
    int rc = 0;
    km__secret_key *k = km__malloc(sizeof *k);
    if (!k)
        rc = fail(err, errn, -ENOMEM, "secret key file %s: out of memory", file);
    else if (n > FILE_MAX)
        rc = fail(err, errn, -EINVAL, "secret key file %s: larger than %d bytes, want 32 raw "
                  "bytes, 64 hex digits or base64 of 32 bytes", file, FILE_MAX);
    else if (n == KEY_LEN)   /* no text form is 32 characters long */
        memcpy(k->key, buf, KEY_LEN);
    else
        rc = parse_key(k->key, buf, (size_t)n, file, err, errn);
    OPENSSL_cleanse(buf, sizeof buf);
    if (rc < 0) {
        km__secret_key_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

void km__secret_key_free(km__secret_key *k)
{
    if (!k)
        return;
    OPENSSL_cleanse(k, sizeof *k);
    km__free(k);
}

bool km__secret_is_sealed(const char *s, size_t n)
{
    return n >= PREFIX_LEN && !memcmp(s, KM__SECRET_PREFIX, PREFIX_LEN);
}

/* ---- sealing ---- */

/* Feeds in[0..n) through EncryptUpdate/DecryptUpdate; out NULL: AAD. */
static bool update(EVP_CIPHER_CTX *c, bool enc, uint8_t *out, const uint8_t *in, size_t n)
{
    while (n) {
        int len = n > CHUNK ? CHUNK : (int)n, got;
        if (!(enc ? EVP_EncryptUpdate(c, out, &got, in, len)
                  : EVP_DecryptUpdate(c, out, &got, in, len)))
            return false;
        if (out)
            out += got;
        in += len;
        n -= (size_t)len;
    }
    return true;
}

int km__secret_seal(const km__secret_key *k, const uint8_t *ctx, size_t ctxn,
                    const uint8_t *plain, size_t n, char **out)
{
    *out = NULL;
    if (n > SIZE_MAX / 2 - NONCE_LEN - TAG_LEN - PREFIX_LEN)
        return -ENOMEM;
    size_t rawn = NONCE_LEN + n + TAG_LEN;
    uint8_t *raw = km__malloc(rawn);
    char *s = km__malloc(PREFIX_LEN + km__b64_raw_len(rawn) + 1);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int rc = -ENOMEM, got;
    if (!raw || !s || !c)
        goto out;
    rc = -EIO;
    /* A random 96-bit nonce per seal: values are few and rarely resealed,
     * far below the 2^32 seals per key where collisions start to matter. */
    if (RAND_bytes(raw, NONCE_LEN) != 1 ||
        !EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, k->key, raw) ||
        !update(c, true, NULL, ctx, ctxn) ||
        !update(c, true, raw + NONCE_LEN, plain, n) ||
        !EVP_EncryptFinal_ex(c, raw + NONCE_LEN + n, &got) ||
        !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, raw + NONCE_LEN + n))
        goto out;
    memcpy(s, KM__SECRET_PREFIX, PREFIX_LEN);
    s[PREFIX_LEN + km__b64url_encode(s + PREFIX_LEN, raw, rawn)] = '\0';
    *out = s;
    s = NULL;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(c);
    km__free(raw);
    km__free(s);
    return rc;
}

int km__secret_open(const km__secret_key *k, const uint8_t *ctx, size_t ctxn,
                    const char *s, size_t sn, uint8_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!km__secret_is_sealed(s, sn))
        return -EINVAL;
    s += PREFIX_LEN;
    sn -= PREFIX_LEN;
    if (km__b64_raw_len(NONCE_LEN + TAG_LEN) > sn)
        return -EINVAL;
    uint8_t *raw = km__malloc(km__b64_dec_max(sn));
    if (!raw)
        return -ENOMEM;
    ssize_t rawn = km__b64url_decode(raw, s, sn);
    if (rawn < NONCE_LEN + TAG_LEN) {
        km__free(raw);
        return -EINVAL;
    }
    size_t pn = (size_t)rawn - NONCE_LEN - TAG_LEN;
    uint8_t *p = km__malloc(pn + 1);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int rc = -ENOMEM, got;
    if (!p || !c)
        goto out;
    rc = -EIO;
    if (!EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, k->key, raw) ||
        !update(c, false, NULL, ctx, ctxn) ||
        !update(c, false, p, raw + NONCE_LEN, pn) ||
        !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, raw + NONCE_LEN + pn))
        goto out;
    /* The only check of the tag: everything above succeeds on any input. */
    if (EVP_DecryptFinal_ex(c, p + pn, &got) != 1) {
        rc = -EBADMSG;
        goto out;
    }
    p[pn] = '\0';
    *out = p;
    *n = pn;
    p = NULL;
    rc = 0;
out:
    if (p) {
        OPENSSL_cleanse(p, pn);     /* unauthenticated plaintext */
        km__free(p);
    }
    EVP_CIPHER_CTX_free(c);
    km__free(raw);
    return rc;
}
