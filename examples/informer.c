/* SPDX-License-Identifier: MIT */
/* A service that reloads its settings whenever they change, with an informer
 * on the prefix "app/settings/" (run `kumo serve`, then `kumo put
 * app/settings/greeting hi` and watch it reload). Usage: informer [ENDPOINT]. */
#include <stdio.h>
#include <string.h>
#include <kumo.h>
#include <kumo/client.h>

static const char *endpoint = "127.0.0.1:2379";

/* The settings the service runs with, rebuilt from the informer's view. */
static void reload(km_informer *inf)
{
    km_informer_view *v = km_informer_current(inf);
    const km_client_kv *g = km_informer_view_get(v, "app/settings/greeting", 21);
    printf("settings at revision %lld: %zu keys, greeting=\"%.*s\"\n",
           (long long)km_informer_view_revision(v), km_informer_view_len(v),
           g ? (int)g->value_len : 5, g ? g->value : "hello");
    fflush(stdout);
    km_informer_view_release(v);
}

typedef struct { km_informer *inf; } svc;

static void changed(void *ud, const km_client_kv *kv)
{
    svc *s = ud;
    printf("changed: %.*s\n", (int)kv->key_len, kv->key);
    if (s->inf)
        reload(s->inf);
}
static void updated(void *ud, const km_client_kv *o, const km_client_kv *n) { changed(ud, n); }
static void synced(void *ud, bool from_snapshot)
{
    printf(from_snapshot ? "no server: using the local snapshot\n" : "in sync with the server\n");
}

static void run(void *arg)
{
    const char *eps[] = { endpoint };
    km_client_config cc = { .endpoints = eps, .nendpoints = 1 };
    km_client *c;
    if (km_client_new(&c, &cc))
        return;
    svc s = { NULL };
    km_informer_config ic = {
        .prefix = "app/settings/",
        .snapshot_path = "informer-settings.snap",
        .handlers = { changed, updated, changed, synced, &s },
    };
    if (km_informer_start(c, &ic, &s.inf) == 0) {
        km_informer_wait_synced(s.inf, true, KM_FOREVER);
        reload(s.inf);
        km_sleep(3600 * 1000000000LL);      /* the service's real work goes here */
        km_informer_stop(s.inf);
    }
    km_client_free(c);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        endpoint = argv[1];
    return km_main(run, NULL) ? 1 : 0;
}
