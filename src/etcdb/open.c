/* SPDX-License-Identifier: MIT */
/* Opening and closing the etcd-cluster store: the members from the
 * backend URL, a gRPC channel per member, the local replica loaded and
 * the feed started at the revision it was loaded at. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "rt/alloc.h"
#include "etcdb/etcdb-int.h"

#define MS  1000000LL
#define SEC 1000000000LL
#define MAX_MEMBERS 32

static const km__store_ops etcdb_ops = {
    .name            = "etcd",
    .close           = km__etcdb_close,
    .txn             = km__etcdb_txn,
    .compact         = km__etcdb_compact,
    .stat_read       = km__etcdb_stat_read,
    .revision        = km__etcdb_revision,
    .hash_kv         = km__etcdb_hash_kv,
    .hash            = km__etcdb_hash,
    .snapshot        = km__etcdb_snapshot,
    .snapshot_file   = km__etcdb_snapshot_file,
    .lease_grant     = km__etcdb_lease_grant,
    .lease_revoke    = km__etcdb_lease_revoke,
    .lease_keepalive = km__etcdb_lease_keepalive,
    .lease_ttl       = km__etcdb_lease_ttl,
    .lease_list      = km__etcdb_lease_list,
    .history         = km__etcdb_history,
    .call            = km__etcdb_pass,
};

static char *dupn(const char *p, size_t n)
{
    char *d = km__malloc(n + 1);
    if (d) {
        memcpy(d, p, n);
        d[n] = 0;
    }
    return d;
}

/* "etcd://h:p,h:p" into s->eps. 0, -EINVAL (no member, an empty one, one
 * without a port, too many), -ENOMEM. */
static int parse(km__etcdb *s, const char *url)
{
    const char *p = url + strlen(KM__ETCDB_SCHEME);
    if (!*p)
        return -EINVAL;
    if (!(s->eps = km__calloc(MAX_MEMBERS, sizeof *s->eps)))
        return -ENOMEM;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        const char *colon = memchr(p, ':', n);
        if (n == 0 || !colon || colon == p || colon == p + n - 1 || s->n == MAX_MEMBERS ||
            memchr(p, '/', n))
            return -EINVAL;
        if (!(s->eps[s->n] = dupn(p, n)))
            return -ENOMEM;
        s->n++;
        p += n;
        if (*p == ',' && !*++p)
            return -EINVAL;      /* a trailing comma names no member */
    }
    return 0;
}

static void free_all(km__etcdb *s)
{
    km__etcdb_cache_close(s);
    if (s->ka)
        km_grpc_stream_free(s->ka);
    for (size_t i = 0; s->ch && i < s->n; i++)
        km_grpc_channel_free(s->ch[i]);
    for (size_t i = 0; s->eps && i < s->n; i++)
        km__free(s->eps[i]);
    if (s->ka_lock)
        km_mutex_free(s->ka_lock);
    km__kacache_free(s->kac);
    km__etcdb_login_close(s);
    km__free(s->ch);
    km__free(s->eps);
    km__free(s->tmpdir);
    km__store_fini(&s->base);
    km__free(s);
}

int km__etcdb_open(km_store **out, const km_store_config *cfg)
{
    *out = NULL;
    km__etcdb *s = km__calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    km__store_init(&s->base, &etcdb_ops);
    s->call_timeout = cfg->call_timeout > 0 ? cfg->call_timeout : 5 * SEC;
    int rc = parse(s, cfg->backend);
    /* snapshot_file's copy goes beside the data dir when there is one. */
    const char *tmp = cfg->dir && cfg->dir[0] ? cfg->dir : getenv("TMPDIR");
    if (!rc) {
        if (cfg->dir && cfg->dir[0])
            mkdir(cfg->dir, 0755);
        s->tmpdir = dupn(tmp && *tmp ? tmp : "/tmp", strlen(tmp && *tmp ? tmp : "/tmp"));
        s->ch = km__calloc(s->n, sizeof *s->ch);
        rc = s->tmpdir && s->ch ? km_mutex_new(&s->ka_lock) : -ENOMEM;
        if (!rc)
            rc = km__kacache_new(&s->kac);
    }
    for (size_t i = 0; !rc && i < s->n; i++) {
        km_grpc_channel_config gc = {
            .target = s->eps[i],
            .connect_timeout = s->call_timeout < 2 * SEC ? s->call_timeout : 2 * SEC,
            /* A restarted member is found again within a second. */
            .backoff_base = 50 * MS,
            .backoff_max = SEC,
            /* The feed's watch is idle between changes: PINGs find a
             * member that died without closing its connection. */
            .keepalive_interval = 10 * SEC,
            .keepalive_timeout = 5 * SEC,
            /* A large range answered whole, as etcd allows. */
            .max_recv_msg = 256u << 20,
            .tls = cfg->tls,
        };
        rc = km_grpc_channel_new(&s->ch[i], &gc);
    }
    /* Logged in (when given a user) before anything else is asked. */
    if (!rc)
        rc = km__etcdb_login_open(s, cfg);
    /* Nothing is served before the replica holds a copy. */
    int64_t rev = 0;
    if (!rc && (rc = km__etcdb_cache_open(s, cfg, &rev)) == -EACCES) {
        if (!s->user)
            fprintf(stderr, "kumo: etcd store: etcd refused kumo's calls: its authentication "
                    "is on, and kumo has no user to log in as (kumo serve --backend-user)\n");
        else
            fprintf(stderr, "kumo: etcd store: etcd refused to let \"%s\" read the whole "
                    "keyspace, which kumo copies and watches: the backend's user needs etcd's "
                    "root role, or READ on every key (role grant-permission ROLE read "
                    "--from-key '')\n", s->user);
    }
    if (!rc)
        rc = km__etcdb_feed_start(s, rev);
    if (rc) {
        free_all(s);
        return rc;
    }
    *out = &s->base;
    return 0;
}

void km__etcdb_close(km_store *st)
{
    km__etcdb *s = (km__etcdb *)st;
    if (!s)
        return;
    km__etcdb_feed_stop(s);
    free_all(s);
}
