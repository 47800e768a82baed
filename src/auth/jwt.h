/* SPDX-License-Identifier: MIT */
/* Signed login tokens (RFC 7519 JWT, compact form) as etcd issues them with
 * --auth-token jwt,...: claims "username", "revision" and "exp". */
#ifndef KUMO_AUTH_JWT_H
#define KUMO_AUTH_JWT_H

#include <stddef.h>
#include <stdint.h>

typedef struct km__jwt km__jwt;

/* Longest token km__jwt_sign writes (RS512 with a 4096-bit key and a
 * 255-byte user name fit), terminating NUL included. */
#define KM__JWT_MAX 2048

/* Builds a signer/verifier from etcd's option string, the part after
 * "jwt,": comma-separated pub-key=FILE, priv-key=FILE, sign-method=M,
 * ttl=DURATION (Go duration: 300s, 5m, 1h; default 5m). M is one of RS256
 * RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 and must match the key
 * type. pub-key is required; without priv-key the tokens can be verified
 * but not issued. 0; -EINVAL with *err saying what is wrong (static
 * text); -ENOENT/-EACCES when a key file cannot be read; -ENOMEM. */
int  km__jwt_new(km__jwt **out, const char *opts, const char **err);
void km__jwt_free(km__jwt *j);
/* The token lifetime, ns. */
int64_t km__jwt_ttl(const km__jwt *j);

/* Writes a token for user (1..255 bytes) at auth revision rev, expiring
 * now_s + ttl (seconds since the epoch), NUL-terminated, into out (cap
 * bytes). Its length, -EPERM without a private key, -ENOSPC, -ENOMEM. */
int  km__jwt_sign(km__jwt *j, const char *user, uint64_t rev, int64_t now_s, char *out,
                  size_t cap);

/* Verifies tok[0..n): three base64url parts, a header naming this
 * verifier's algorithm exactly ("none" and every other algorithm are
 * refused), a valid signature under the public key, and claims with a
 * string "username" (1..255 bytes) and an "exp" after now_s. Copies the
 * user (NUL-terminated) into user (cap >= 256) and the revision (0 when
 * absent) into *rev. 0, -EKEYREJECTED for any token that is not valid
 * (malformed, forged, expired), -ENOMEM. Never reads past tok[n). */
int  km__jwt_verify(km__jwt *j, const char *tok, size_t n, int64_t now_s, char *user,
                    size_t cap, uint64_t *rev);

#endif
