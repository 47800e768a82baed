/* SPDX-License-Identifier: MIT */
/* kumo lease: grant, revoke, timetolive, list and keep-alive. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "ctl.h"

static const char help[] =
    "usage: kumo lease grant TTL             a new lease of TTL seconds\n"
    "       kumo lease revoke ID             revoke lease ID (hex), deleting its keys\n"
    "       kumo lease timetolive ID [--keys]  remaining time (and attached keys)\n"
    "       kumo lease list                  every live lease\n"
    "       kumo lease keep-alive ID [--once]  renew until interrupted (or once)\n";

typedef struct { int64_t id; bool keys, once; } lease_args;

static void print_grant(json_t *resp, void *ud)
{
    printf("lease %016llx granted with TTL(%llds)\n", (unsigned long long)km__etcd_json_i64(resp, "ID"),
           (long long)km__etcd_json_i64(resp, "TTL"));
}

static void print_revoke(json_t *resp, void *ud)
{
    printf("lease %016llx revoked\n", (unsigned long long)((lease_args *)ud)->id);
}

static void print_ttl(json_t *resp, void *ud)
{
    lease_args *a = ud;
    int64_t ttl = km__etcd_json_i64(resp, "TTL");
    if (ttl < 0) {
        printf("lease %016llx already expired\n", (unsigned long long)a->id);
        return;
    }
    printf("lease %016llx granted with TTL(%llds), remaining(%llds)",
           (unsigned long long)a->id, (long long)km__etcd_json_i64(resp, "grantedTTL"), (long long)ttl);
    if (a->keys) {
        printf(", attached keys([");
        size_t i;
        json_t *k;
        json_array_foreach(json_object_get(resp, "keys"), i, k) {
            size_t n;
            json_t *wrap = json_pack("{sO}", "k", k);
            char *s = wrap ? ctl_unb64(wrap, "k", &n) : NULL;
            if (s) {
                printf("%s%.*s", i ? " " : "", (int)n, s);
                free(s);
            }
            json_decref(wrap);
        }
        printf("])");
    }
    printf("\n");
}

static void print_list(json_t *resp, void *ud)
{
    json_t *ls = json_object_get(resp, "leases"), *l;
    size_t i;
    printf("found %zu leases\n", json_array_size(ls));
    json_array_foreach(ls, i, l)
        printf("%016llx\n", (unsigned long long)km__etcd_json_i64(l, "ID"));
}

static int keep_alive(ctl *c, void *arg)
{
    lease_args *a = arg;
    ctl_on_signal(-1);
    while (!ctl_interrupted) {
        json_t *resp;
        if (ctl_call(c, "/v3/lease/keepalive", json_pack("{sI}", "ID", (json_int_t)a->id), &resp))
            return 1;
        json_t *res = json_object_get(resp, "result");
        if (!json_is_object(res))
            res = resp;
        int64_t ttl = km__etcd_json_i64(res, "TTL");
        if (c->json)
            ctl_print_json(resp);
        json_decref(resp);
        if (ttl <= 0) {
            fflush(stdout);
            fprintf(stderr, "kumo: lease %016llx expired or revoked\n", (unsigned long long)a->id);
            return 1;
        }
        if (!c->json)
            printf("lease %016llx keepalived with TTL(%lld)\n", (unsigned long long)a->id,
                   (long long)ttl);
        fflush(stdout);
        if (a->once)
            return 0;
        /* Renew at a third of the TTL, as etcd's clients do, in slices so
         * that an interrupt ends the loop promptly. */
        int64_t until = km_now() + ttl * 1000000000LL / 3;
        while (!ctl_interrupted && km_now() < until)
            km_sleep(50000000);
    }
    return 0;
}

int kumo_lease(int argc, char **argv)
{
    static const struct option lo[] = {
        { "keys", no_argument, 0, 'k' }, { "once", no_argument, 0, 'o' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 } };
    ctl c;
    lease_args a = { 0 };
    int o, rc = ctl_globals(&c, &argc, argv);
    if (rc)
        return rc;
    optind = 0;
    while ((o = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (o) {
        case 'k': a.keys = true; break;
        case 'o': a.once = true; break;
        case 'h': printf("%s%s", help, ctl_globals_help); return 0;
        default: fputs(help, stderr); return 2;
        }
    }
    int npos = argc - optind;
    const char *sub = npos > 0 ? argv[optind] : "";
    const char *val = npos > 1 ? argv[optind + 1] : NULL;
    int want = !strcmp(sub, "list") ? 1 : 2;
    if (strcmp(sub, "grant") && strcmp(sub, "revoke") && strcmp(sub, "timetolive") &&
        strcmp(sub, "list") && strcmp(sub, "keep-alive")) {
        if (npos)
            fprintf(stderr, "kumo: unknown lease command \"%s\"\n", sub);
        fputs(help, stderr);
        return 2;
    }
    if (npos != want || (a.keys && strcmp(sub, "timetolive")) ||
        (a.once && strcmp(sub, "keep-alive"))) {
        fprintf(stderr, "kumo: bad arguments for lease %s\n%s", sub, help);
        return 2;
    }
    if (!strcmp(sub, "grant")) {
        int64_t ttl;
        if (ctl_parse_i64(val, &ttl) || ttl <= 0) {
            fprintf(stderr, "kumo: bad TTL \"%s\" (seconds)\n", val);
            return 2;
        }
        ctl_req r = { "/v3/lease/grant", json_pack("{sI}", "TTL", (json_int_t)ttl), print_grant, &a };
        return ctl_simple(&c, &r);
    }
    if (!strcmp(sub, "list")) {
        ctl_req r = { "/v3/lease/leases", json_object(), print_list, &a };
        return ctl_simple(&c, &r);
    }
    if (ctl_parse_hex(val, &a.id) || a.id == 0) {
        fprintf(stderr, "kumo: bad lease ID \"%s\" (hex)\n", val);
        return 2;
    }
    if (!strcmp(sub, "revoke")) {
        ctl_req r = { "/v3/lease/revoke", json_pack("{sI}", "ID", (json_int_t)a.id), print_revoke, &a };
        return ctl_simple(&c, &r);
    }
    if (!strcmp(sub, "timetolive")) {
        json_t *req = json_pack("{sI}", "ID", (json_int_t)a.id);
        if (req && a.keys)
            json_object_set_new(req, "keys", json_true());
        ctl_req r = { "/v3/lease/timetolive", req, print_ttl, &a };
        return ctl_simple(&c, &r);
    }
    return ctl_run(&c, keep_alive, &a);
}
