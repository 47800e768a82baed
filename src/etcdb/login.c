/* SPDX-License-Identifier: MIT */
/* The backend's own user: a login to etcd at open (Auth/Authenticate),
 * its token sent as the "token" metadata on every call and stream, and a
 * new login when etcd says the token expired (its simple tokens do, after
 * --auth-token-ttl unused on a member) or was voided. */
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include "rt/alloc.h"
#include "etcdb/etcdb-int.h"

static void set_token(km__etcdb *s, char *tok)
{
    pthread_mutex_lock(&s->tok_mu);
    char *old = s->tok;
    s->tok = tok;
    s->tok_gen++;
    pthread_mutex_unlock(&s->tok_mu);
    if (old) {
        OPENSSL_cleanse(old, strlen(old));
        km__free(old);
    }
}

size_t km__etcdb_token_md(km__etcdb *s, km_grpc_md *md, char *buf, uint64_t *gen)
{
    *gen = 0;
    if (!s->user)
        return 0;
    size_t n = 0;
    pthread_mutex_lock(&s->tok_mu);
    *gen = s->tok_gen;
    if (s->tok) {
        n = strlen(s->tok);
        memcpy(buf, s->tok, n);
    }
    pthread_mutex_unlock(&s->tok_mu);
    if (!n)
        return 0;
    *md = km_grpc_md_of("token", buf, n);
    return 1;
}

/* One Authenticate call. 0 and the token set (or cleared: authentication
 * is off); -EACCES when etcd refused the user; -errno. */
static int login(km__etcdb *s, int64_t deadline)
{
    Etcdserverpb__AuthenticateRequest req = ETCDSERVERPB__AUTHENTICATE_REQUEST__INIT;
    req.name = s->user;
    req.password = s->password;
    ProtobufCMessage *m;
    km_store_status st;
    /* Sent again after a lost answer, as a read: a second login is
     * harmless. */
    int rc = km__etcdb_call(s, "/etcdserverpb.Auth/Authenticate", KM__ETCDB_READ,
                            KM__ETCDB_ANON, &req.base,
                            &etcdserverpb__authenticate_response__descriptor, deadline, &m, &st);
    if (rc == 0) {
        Etcdserverpb__AuthenticateResponse *r = (Etcdserverpb__AuthenticateResponse *)m;
        size_t n = r->token ? strlen(r->token) : 0;
        char *tok = n && n < KM__ETCDB_TOKEN_MAX ? km__strdup(r->token) : NULL;
        if (r->token)
            OPENSSL_cleanse(r->token, n);
        km_grpc_pb_free(m);
        if (!tok)
            return n ? (n < KM__ETCDB_TOKEN_MAX ? -ENOMEM : -EMSGSIZE) : -EBADMSG;
        set_token(s, tok);
        return 0;
    }
    if (st.code >= 0 && strstr(st.message, "authentication is not enabled")) {
        /* calls go without a token until etcd asks for one ("user name
         * is empty"), which logs in again */
        set_token(s, NULL);
        return 0;
    }
    if (st.code >= 0 && rc != -ETIMEDOUT && rc != -EHOSTUNREACH) {
        fprintf(stderr, "kumo: etcd store: etcd refused the login of the backend's user "
                "\"%s\": %s\n", s->user, st.message);
        return -EACCES;
    }
    return rc;
}

int km__etcdb_relogin(km__etcdb *s, uint64_t gen, int64_t deadline)
{
    int rc = km_mutex_lock_dl(s->login_mu, deadline);
    if (rc < 0)
        return rc == -ETIMEDOUT ? rc : -ECANCELED;
    pthread_mutex_lock(&s->tok_mu);
    bool done = s->tok_gen != gen;
    pthread_mutex_unlock(&s->tok_mu);
    /* Another caller logged in meanwhile: its token is the new one. */
    rc = done ? 0 : login(s, deadline);
    km_mutex_unlock(s->login_mu);
    return rc;
}

int km__etcdb_login_open(km__etcdb *s, const km_store_config *cfg)
{
    int rc = pthread_mutex_init(&s->tok_mu, NULL) ? -ENOMEM : km_mutex_new(&s->login_mu);
    if (rc || !cfg->user || !*cfg->user)
        return rc;
    if (!(s->user = km__strdup(cfg->user)) ||
        !(s->password = km__strdup(cfg->password ? cfg->password : "")))
        return -ENOMEM;
    return km__etcdb_relogin(s, 0, km__etcdb_deadline(s));
}

void km__etcdb_login_close(km__etcdb *s)
{
    if (s->login_mu) {
        set_token(s, NULL);
        pthread_mutex_destroy(&s->tok_mu);
        km_mutex_free(s->login_mu);
    }
    if (s->password) {
        OPENSSL_cleanse(s->password, strlen(s->password));
        km__free(s->password);
    }
    km__free(s->user);
}
