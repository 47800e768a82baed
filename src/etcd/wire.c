/* SPDX-License-Identifier: MIT */
/* etcd's JSON conventions for callers: base64 bytes, string int64s, prefix ends. */
#include "wire.h"
#include "enc/b64.h"
#include "rt/rt-int.h"
#include <stdlib.h>
#include <string.h>

json_t *km__etcd_json_b64(const void *p, size_t n)
{
    char *s = km__malloc(km__b64_enc_len(n) + 1);
    if (!s)
        return NULL;
    s[km__b64_encode(s, (const uint8_t *)p, n)] = 0;
    json_t *j = json_string(s);
    km__free(s);
    return j;
}

int64_t km__etcd_json_i64(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    if (json_is_true(v))
        return 1;
    return 0;
}

size_t km__etcd_prefix_end(char *out, const char *key, size_t n)
{
    while (n > 0 && (unsigned char)key[n - 1] == 0xff)
        n--;
    if (n == 0) {
        out[0] = out[1] = 0;
        return 1;
    }
    memcpy(out, key, n);
    out[n - 1]++;
    out[n] = 0;
    return n;
}
