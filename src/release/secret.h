/* SPDX-License-Identifier: MIT */
/* Secret values of configuration namespaces, sealed with AES-256-GCM as
 * "kmenc1:" + base64url(nonce | ciphertext | tag) (docs/API.md). */
#ifndef KUMO_RELEASE_SECRET_H
#define KUMO_RELEASE_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What every sealed string starts with; its version names the layout. */
#define KM__SECRET_PREFIX "kmenc1:"

/* 32 key bytes; wiped when freed. */
typedef struct km__secret_key km__secret_key;

/* Loads a key from file: exactly 32 raw bytes, or 64 hex digits, or
 * base64 (standard or url alphabet, padded or not) of 32 bytes, the text
 * forms with an optional trailing newline. A file any group or other may
 * access is refused as ssh refuses such a private key. *out is the
 * caller's (km__secret_key_free). 0; -EPERM (err says "chmod 600 FILE");
 * -ENOENT, -EACCES or another -errno of open/read; -EINVAL (wrong size or
 * content, err says which); -ENOMEM. err: a NUL-terminated message in
 * errn bytes, on every failure. */
int  km__secret_key_load(km__secret_key **out, const char *file, char *err, size_t errn);
/* Wipes and frees k; NULL is a no-op. */
void km__secret_key_free(km__secret_key *k);

/* Seals plain[0..n) bound to ctx[0..ctxn) (a namespace "APP/NAME", a NUL
 * byte and the item's key: a value moved to another item or namespace no
 * longer opens) with a fresh random nonce. *out: a NUL-terminated string,
 * km__malloc'd, the caller's. 0, -ENOMEM, -EIO (OpenSSL failed). */
int  km__secret_seal(const km__secret_key *k, const uint8_t *ctx, size_t ctxn,
                     const uint8_t *plain, size_t n, char **out);

/* Opens the sealed string s[0..sn) under ctx. *out (km__malloc'd, the
 * caller's) holds *n bytes and a NUL after them. 0; -EINVAL (no
 * KM__SECRET_PREFIX, bad base64 or too short); -EBADMSG (another key or
 * context, or tampered); -ENOMEM; -EIO (OpenSSL failed). */
int  km__secret_open(const km__secret_key *k, const uint8_t *ctx, size_t ctxn,
                     const char *s, size_t sn, uint8_t **out, size_t *n);

/* Whether s[0..n) starts with KM__SECRET_PREFIX. */
bool km__secret_is_sealed(const char *s, size_t n);

#endif
