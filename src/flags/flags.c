/* SPDX-License-Identifier: MIT */
/* Flags as a thin layer over the informer: lookups read its current view. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "rt/rt-int.h"
#include <kumo/flags.h>

struct km_flags {
    km_informer *inf;
    char        *prefix;
    size_t       plen;
    km_flags_config cfg;
};

static void changed(km_flags *f, const km_client_kv *kv, bool gone)
{
    if (!f->cfg.on_change || kv->key_len < f->plen)
        return;
    /* The name, NUL-terminated for the callback. */
    size_t n = kv->key_len - f->plen;
    char name[256];
    if (n >= sizeof name)
        return;
    memcpy(name, kv->key + f->plen, n);
    name[n] = 0;
    f->cfg.on_change(f->cfg.ud, name, gone ? NULL : kv->value, gone ? 0 : kv->value_len);
}

static void on_add(void *ud, const km_client_kv *kv) { changed(ud, kv, false); }
static void on_update(void *ud, const km_client_kv *o, const km_client_kv *n)
{
    (void)o;
    changed(ud, n, false);
}
static void on_delete(void *ud, const km_client_kv *kv) { changed(ud, kv, true); }

int km_flags_start(km_flags **out, km_client *c, const km_flags_config *cfg)
{
    km_flags *f = km__calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    if (cfg)
        f->cfg = *cfg;
    const char *prefix = f->cfg.prefix ? f->cfg.prefix : "/kumo/flags/";
    f->plen = strlen(prefix);
    int rc = !f->plen ? -EINVAL : !(f->prefix = km__malloc(f->plen + 1)) ? -ENOMEM : 0;
    if (rc < 0) {
        km__free(f);
        return rc;
    }
    memcpy(f->prefix, prefix, f->plen + 1);
    km_informer_config ic = {
        .prefix = f->prefix,
        .snapshot_path = f->cfg.snapshot_path,
        .handlers = { .on_add = on_add, .on_update = on_update, .on_delete = on_delete, .ud = f },
    };
    rc = km_informer_start(c, &ic, &f->inf);
    if (rc < 0) {
        km__free(f->prefix);
        km__free(f);
        return rc;
    }
    *out = f;
    return 0;
}

int km_flags_wait(km_flags *f, int64_t deadline)
{
    return km_informer_wait_synced(f->inf, true, deadline);
}

void km_flags_stop(km_flags *f)
{
    if (!f)
        return;
    km_informer_stop(f->inf);
    km__free(f->prefix);
    km__free(f);
}

/* Looks name up in the current view and copies at most n - 1 bytes of the
 * value into buf. Its length, or -ENOENT. */
int km_flag_get(km_flags *f, const char *name, char *buf, size_t n)
{
    size_t nl = strlen(name), kl = f->plen + nl;
    char stackkey[320], *key = kl < sizeof stackkey ? stackkey : km__malloc(kl);
    if (!key)
        return -ENOMEM;
    memcpy(key, f->prefix, f->plen);
    memcpy(key + f->plen, name, nl);
    km_informer_view *v = km_informer_current(f->inf);
    const km_client_kv *kv = km_informer_view_get(v, key, kl);
    int rc = -ENOENT;
    if (kv) {
        size_t c = kv->value_len < n - 1 ? kv->value_len : n - 1;
        memcpy(buf, kv->value, c);
        buf[c] = 0;
        rc = (int)kv->value_len;
    }
    km_informer_view_release(v);
    if (key != stackkey)
        km__free(key);
    return rc;
}

bool km_flag_bool(km_flags *f, const char *name, bool def)
{
    char v[8];
    int n = km_flag_get(f, name, v, sizeof v);
    if (n < 0 || n >= (int)sizeof v)
        return def;
    static const char *const yes[] = { "1", "true", "on", "yes" }, *const no[] = { "0", "false", "off", "no" };
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(v, yes[i]))
            return true;
        if (!strcasecmp(v, no[i]))
            return false;
    }
    return def;
}

int64_t km_flag_int(km_flags *f, const char *name, int64_t def)
{
    char v[24], *end;
    int n = km_flag_get(f, name, v, sizeof v);
    if (n <= 0 || n >= (int)sizeof v)
        return def;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    return *end || errno ? def : (int64_t)x;
}
