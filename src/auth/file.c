/* SPDX-License-Identifier: MIT */
/* The auth state on disk: one JSON document (users with password hashes,
 * roles with base64 key ranges, the enabled flag and revision), replaced
 * atomically so a crash leaves the old or the new state, never a mix. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include "auth/auth-int.h"
#include "enc/b64.h"
#include "rt/alloc.h"

static const char *type_name[] = { "READ", "WRITE", "READWRITE" };

static json_t *b64(km_bytes v)
{
    char *s = km__malloc(km__b64_enc_len(v.n) + 1);
    if (!s)
        return NULL;
    s[km__b64_encode(s, v.p, v.n)] = 0;
    json_t *j = json_string(s);
    km__free(s);
    return j;
}

static json_t *dump(const km__auth_state *s)
{
    json_t *users = json_array(), *roles = json_array();
    json_t *o = json_pack("{s:i,s:b,s:I,s:o,s:o}", "version", 1, "enabled", s->enabled,
                          "revision", (json_int_t)s->revision, "users", users, "roles", roles);
    if (!o)
        return NULL;
    for (size_t i = 0; i < s->nusers; i++) {
        const km__user *u = &s->users[i];
        json_t *r = json_array();
        for (size_t j = 0; j < u->nroles; j++)
            if (json_array_append_new(r, json_string(u->roles[j])) < 0)
                goto fail;
        json_t *e = json_pack("{s:s,s:o}", "name", u->name, "roles", r);
        if (!e || (u->no_password && json_object_set_new(e, "no_password", json_true()) < 0) ||
            (u->hash && json_object_set_new(e, "password", json_string(u->hash)) < 0) ||
            json_array_append_new(users, e) < 0)
            goto fail;
    }
    for (size_t i = 0; i < s->nroles; i++) {
        const km__role *r = &s->roles[i];
        json_t *ps = json_array();
        for (size_t j = 0; j < r->nperms; j++) {
            const km_auth_perm *p = &r->perms[j];
            json_t *e = json_pack("{s:s,s:o,s:o}", "type", type_name[p->type], "key", b64(p->key),
                                  "range_end", b64(p->end));
            if (json_array_append_new(ps, e) < 0)
                goto fail;
        }
        json_t *e = json_pack("{s:s,s:o}", "name", r->name, "permissions", ps);
        if (json_array_append_new(roles, e) < 0)
            goto fail;
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

char *km__auth_dump(const km__auth_state *s)
{
    json_t *o = dump(s);
    if (!o)
        return NULL;
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

int km__auth_write(const char *file, char *text)
{
    char tmp[4096], dir[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", file);
    snprintf(dir, sizeof dir, "%s", file);
    int rc = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    size_t n = strlen(text), off = 0;
    while (off < n) {
        ssize_t w = KM__FAULT(KM__F_WRITE) ? (errno = ENOSPC, -1) : write(fd, text + off, n - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = -EIO;
            break;
        }
        off += (size_t)w;
    }
    if (!rc && (KM__FAULT(KM__F_FSYNC) || fsync(fd) < 0))
        rc = -EIO;
    if (close(fd) < 0 && !rc)
        rc = -EIO;
    if (!rc && rename(tmp, file) < 0)
        rc = -errno;
    if (rc) {
        unlink(tmp);
        goto out;
    }
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) < 0)
            rc = -EIO;
        close(dfd);
    }
out:
    free(text);
    return rc;
}

static int bytes_of(json_t *j, km_bytes *out)
{
    const char *s = json_string_value(j);
    if (!s)
        return -EINVAL;
    size_t n = strlen(s);
    uint8_t *p = km__malloc(km__b64_dec_max(n) + 1);
    if (!p)
        return -ENOMEM;
    long m = km__b64_decode(p, s, n);
    if (m < 0) {
        km__free(p);
        return -EINVAL;
    }
    *out = (km_bytes){ p, (size_t)m };
    return 0;
}

static int name_sort(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Fills s from o; on error s holds what was read so far (freed by the caller). */
static int parse(json_t *o, km__auth_state *s, const char **err)
{
    json_t *users = json_object_get(o, "users"), *roles = json_object_get(o, "roles");
    json_int_t rev = json_integer_value(json_object_get(o, "revision"));
    if (json_integer_value(json_object_get(o, "version")) != 1 || !json_is_array(users) ||
        !json_is_array(roles) || rev < 0) {
        *err = "auth file: not a kumo auth state (version 1)";
        return -EINVAL;
    }
    s->enabled = json_is_true(json_object_get(o, "enabled"));
    s->revision = (uint64_t)rev;
    if (!(s->users = km__calloc(json_array_size(users) + 1, sizeof *s->users)) ||
        !(s->roles = km__calloc(json_array_size(roles) + 1, sizeof *s->roles)))
        return -ENOMEM;
    *err = "auth file: a user or role is damaged";
    size_t i;
    json_t *e;
    json_array_foreach(users, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *pw = json_string_value(json_object_get(e, "password"));
        json_t *rs = json_object_get(e, "roles");
        if (!name || !*name || !json_is_array(rs))
            return -EINVAL;
        km__user *u = &s->users[s->nusers++];
        u->no_password = json_is_true(json_object_get(e, "no_password"));
        if (!(u->name = km__strdup(name)) || (pw && !(u->hash = km__strdup(pw))) ||
            !(u->roles = km__calloc(json_array_size(rs) + 1, sizeof *u->roles)))
            return -ENOMEM;
        size_t j;
        json_t *r;
        json_array_foreach(rs, j, r) {
            if (!json_string_value(r))
                return -EINVAL;
            if (!(u->roles[u->nroles++] = km__strdup(json_string_value(r))))
                return -ENOMEM;
        }
        qsort(u->roles, u->nroles, sizeof *u->roles, name_sort);
    }
    json_array_foreach(roles, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        json_t *ps = json_object_get(e, "permissions");
        if (!name || !*name || !json_is_array(ps))
            return -EINVAL;
        km__role *r = &s->roles[s->nroles++];
        if (!(r->name = km__strdup(name)) ||
            !(r->perms = km__calloc(json_array_size(ps) + 1, sizeof *r->perms)))
            return -ENOMEM;
        size_t j;
        json_t *p;
        json_array_foreach(ps, j, p) {
            const char *t = json_string_value(json_object_get(p, "type"));
            int type = -1;
            for (int k = 0; t && k < 3; k++)
                if (!strcmp(t, type_name[k]))
                    type = k;
            if (type < 0)
                return -EINVAL;
            km_auth_perm *q = &r->perms[r->nperms];
            q->type = (km_perm_type)type;
            int rc = bytes_of(json_object_get(p, "key"), &q->key);
            if (rc < 0)
                return rc;
            if ((rc = bytes_of(json_object_get(p, "range_end"), &q->end)) < 0) {
                km__free((void *)q->key.p);
                return rc;
            }
            r->nperms++;
        }
    }
    /* names are kept sorted; the file is written sorted, but a hand edit
     * may not be */
    qsort(s->users, s->nusers, sizeof *s->users, name_sort);
    qsort(s->roles, s->nroles, sizeof *s->roles, name_sort);
    for (size_t k = 1; k < s->nusers; k++)
        if (!strcmp(s->users[k - 1].name, s->users[k].name))
            return -EINVAL;
    for (size_t k = 1; k < s->nroles; k++)
        if (!strcmp(s->roles[k - 1].name, s->roles[k].name))
            return -EINVAL;
    return km__auth_merge(s);
}

int km__auth_load(const char *file, km__auth_state *s, const char **err)
{
    json_error_t je;
    json_t *o = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        if (access(file, F_OK) < 0 && errno == ENOENT)
            return 0;
        *err = "auth file: not valid JSON";
        return -EINVAL;
    }
    int rc = parse(o, s, err);
    json_decref(o);
    return rc;
}
