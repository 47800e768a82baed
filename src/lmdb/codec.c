/* SPDX-License-Identifier: MIT */
/* Encoding of the store's records and keys, and LMDB error mapping. */
#include <string.h>
#include "rt/rt-int.h"
#include "lmdb/lmdb-int.h"

void km__put_be64(uint8_t *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)u;
        u >>= 8;
    }
}

int64_t km__get_be64(const uint8_t *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = u << 8 | p[i];
    return (int64_t)u;
}

void km__revkey(uint8_t out[16], int64_t main, int64_t sub)
{
    km__put_be64(out, main);
    km__put_be64(out + 8, sub);
}

int km__crec_decode(const MDB_val *v, km__crec *c, km_bytes *value)
{
    if (v->mv_size < KM__CREC_SIZE)
        return -EBADMSG;
    const uint8_t *p = v->mv_data;
    c->create = km__get_be64(p);
    c->mod = km__get_be64(p + 8);
    c->version = km__get_be64(p + 16);
    c->lease = km__get_be64(p + 24);
    if (value) {
        value->p = p + KM__CREC_SIZE;
        value->n = v->mv_size - KM__CREC_SIZE;
    }
    return 0;
}

/* erec: type(1) pad(3) keylen(4) create(8) version(8) lease(8) key value */
int km__erec_decode(const MDB_val *v, km__erec *e)
{
    const uint8_t *p = v->mv_data;
    if (v->mv_size < KM__EREC_HDR)
        return -EBADMSG;
    uint32_t kl = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
    if (kl > v->mv_size - KM__EREC_HDR)
        return -EBADMSG;
    e->type = p[0];
    e->create = km__get_be64(p + 8);
    e->version = km__get_be64(p + 16);
    e->lease = km__get_be64(p + 24);
    e->key.p = p + KM__EREC_HDR;
    e->key.n = kl;
    e->value.p = p + KM__EREC_HDR + kl;
    e->value.n = v->mv_size - KM__EREC_HDR - kl;
    return 0;
}

int km__mdb_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:       return 0;
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
    case MDB_PAGE_FULL:     return -ENOSPC;
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INCOMPATIBLE:  return -EBADMSG;
    case MDB_READERS_FULL:  return -EAGAIN;
    case MDB_BAD_VALSIZE:   return -EMSGSIZE;
    case MDB_NOTFOUND:      return -ENOENT;
    case ENOMEM:            return -ENOMEM;
    default:
        return rc > 0 ? -rc : -EIO;
    }
}

int km__bytes_cmp(km_bytes a, km_bytes b)
{
    size_t n = a.n < b.n ? a.n : b.n;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    if (c)
        return c;
    return a.n < b.n ? -1 : a.n > b.n;
}

bool km__in_range(km_bytes k, km_bytes key0, km_bytes end)
{
    if (end.n == 0)
        return km__bytes_cmp(k, key0) == 0;
    if (km__bytes_cmp(k, key0) < 0)
        return false;
    if (end.n == 1 && end.p[0] == 0)
        return true;
    return km__bytes_cmp(k, end) < 0;
}

int km__grow(void **p, size_t *cap, size_t n, size_t esz)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 8;
    void *np = km__malloc(nc * esz);
    if (!np)
        return -ENOMEM;
    if (n)
        memcpy(np, *p, n * esz);
    km__free(*p);
    *p = np;
    *cap = nc;
    return 0;
}
