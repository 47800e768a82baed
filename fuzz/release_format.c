/* SPDX-License-Identifier: MIT */
/* libFuzzer target for namespace items' format checks: any key and value
 * in any format gets 0, -EINVAL or -EMSGSIZE and a message that is valid
 * UTF-8 without control characters, NUL-terminated within the buffer and,
 * in a shorter buffer, a prefix of itself; JSON's verdict is jansson's,
 * text's is UTF-8 without NUL, properties' keeps to its byte rules. Input:
 * format byte (0xf8 and up: no format), error buffer size byte (0x80 and
 * up: a roomy one), key length (bits 0-7, and bit 0 of the next byte as
 * bit 8), then bit 1: the value repeated to 64 KiB plus bit 2, and the key
 * then the value. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "enc/utf8.h"
#include "release/format.h"

#define ROOM 2048

static void check_msg(const char *m, size_t n)
{
    const char *nul = memchr(m, 0, n);
    if (!nul)
        abort();
    size_t len = (size_t)(nul - m);
    if (!km__utf8_valid(m, len))
        abort();
    for (size_t i = 0; i < len; i++)
        if ((uint8_t)m[i] < 0x20 || m[i] == 0x7f)
            abort();
}

static bool properties_ok(const uint8_t *k, size_t kn, const uint8_t *v, size_t vn)
{
    if (memchr(v, '\r', vn) || memchr(v, '\n', vn) || k[0] == '#' || k[0] == '!')
        return false;
    return !memchr(k, ' ', kn) && !memchr(k, '=', kn) && !memchr(k, ':', kn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    int fmt = data[0] < 0xf8 ? data[0] % 4 : data[0];
    size_t errn = data[1] < 0x80 ? data[1] : ROOM;
    size_t kn = data[2] | (size_t)(data[3] & 1) << 8;
    bool pad = data[3] & 2;
    size_t vpad = KM__FMT_VAL_MAX + ((data[3] >> 2) & 1);
    data += 4;
    size -= 4;
    if (kn > size)
        kn = size;
    const uint8_t *key = data, *val = data + kn;
    size_t vn = size - kn;
    uint8_t *big = NULL;
    if (pad && vn) {                    /* the limit, at and one past */
        if (!(big = malloc(vpad)))
            abort();
        for (size_t i = 0; i < vpad; i++)
            big[i] = val[i % vn];
        val = big;
        vn = vpad;
    }

    /* the message in full, and cut in a buffer of errn (canaries past it) */
    static char full[ROOM], cut[ROOM + 64];
    int rc = km__fmt_check_item(fmt, key, kn, val, vn, full, sizeof full);
    if (rc != 0 && rc != -EINVAL && rc != -EMSGSIZE)
        abort();
    check_msg(full, sizeof full);
    if ((rc == 0) != (full[0] == '\0'))
        abort();
    memset(cut, 0xa5, sizeof cut);
    if (km__fmt_check_item(fmt, key, kn, val, vn, errn ? cut : NULL, errn) != rc)
        abort();
    for (size_t i = errn; i < sizeof cut; i++)
        if ((uint8_t)cut[i] != 0xa5)
            abort();
    if (errn) {
        check_msg(cut, errn);
        if (strncmp(cut, full, strlen(cut)))
            abort();
    }

    /* the limits (an unknown format is refused before them) */
    bool known = fmt >= 0 && fmt < 4;
    if (known && kn > KM__FMT_KEY_MAX && rc != -EMSGSIZE)
        abort();
    if (rc == -EMSGSIZE && kn <= KM__FMT_KEY_MAX && vn <= KM__FMT_VAL_MAX)
        abort();
    /* with a good key, the value's verdict against the others' */
    int kc = km__fmt_check_item(KM_FMT_TEXT, key, kn, NULL, 0, NULL, 0);
    if (kc == 0 && vn <= KM__FMT_VAL_MAX && known) {
        bool text = km__utf8_valid(val, vn) && !memchr(val, 0, vn);
        json_t *j;
        switch (fmt) {
        case KM_FMT_TEXT:
            if ((rc == 0) != text)
                abort();
            break;
        case KM_FMT_JSON:
            j = json_loadb((const char *)val, vn, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
            if ((rc == 0) != (j != NULL))
                abort();
            json_decref(j);
            break;
        case KM_FMT_PROPERTIES:
            if ((rc == 0) != (text && properties_ok(key, kn, val, vn)))
                abort();
            break;
        default:
            if (rc == 0 && !text)
                abort();
        }
    }
    if (known ? kc && rc == 0 : rc != -EINVAL)
        abort();
    free(big);
    return 0;
}
