/* SPDX-License-Identifier: MIT */
/* kumo serve: the configuration center (etcd's v3 JSON API, the native API
 * and watches) on the embedded store, until SIGINT or SIGTERM. */
#include <kumo.h>
#include <kumo/serve.h>
#include <kumo/auth.h>
#include <kumo/tls.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include "cmd.h"
#include "ctl.h"

typedef struct {
    km_serve_config cfg;
    km_tls_config   tls;            /* from the flags; cfg.tls is built from it */
    km_tls_config   btls;           /* the etcd backend's; cfg.backend_tls from it */
    bool            insecure_listen;
    int64_t         grace;
    int             rc;
} serve_args;

/* Whether clients can reach addr from this machine only. */
static bool loopback(const char *addr)
{
    if (!strncmp(addr, "unix:", 5))
        return true;
    const char *colon = strrchr(addr, ':');
    size_t hl = colon ? (size_t)(colon - addr) : strlen(addr);
    return (hl == 9 && !strncmp(addr, "localhost", 9)) ||
           (hl >= 4 && !strncmp(addr, "127.", 4)) ||
           (hl == 5 && !strncmp(addr, "[::1]", 5));
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: kumo serve [--listen ADDR] [--data-dir DIR] [options]\n\n"
        "Serves etcd's v3 JSON API (/v3/...), the native API (/api/v1/kv/KEY,\n"
        "/api/v1/watch) and /healthz, /readyz on one port, with the data in DIR.\n\n"
        "  --listen ADDR          address to serve on (default 127.0.0.1:2379)\n"
        "  --backend NAME         the store: lmdb, the embedded store in --data-dir (default),\n"
        "                         or etcd://HOST:PORT,HOST:PORT,... to keep the data in that\n"
        "                         etcd cluster (its revisions; kumo holds no copy)\n"
        "  --etcd-call-timeout D  etcd backend: how long a call may take over every member\n"
        "                         it tries (default 5s)\n"
        "  --cache-window N       etcd backend: revisions of history the local cache keeps\n"
        "                         for watches and old reads (default 10000)\n"
        "  --cache-wait D         etcd backend: how long a linearizable read waits for the\n"
        "                         cache to reach etcd's revision before asking etcd, and a\n"
        "                         write for its revision to be cached (default 1s)\n"
        "  --backend-cacert FILE  etcd backend over TLS: the CAs to verify its members with\n"
        "  --backend-cert FILE, --backend-key FILE  and a client certificate for them\n"
        "  --backend-user NAME:PASSWORD  etcd backend: the etcd user kumo logs in as (for a\n"
        "                         cluster with authentication on; NAME alone takes the\n"
        "                         password from $KUMO_BACKEND_PASSWORD). A user holding\n"
        "                         etcd's root role also makes kumo mirror etcd's users,\n"
        "                         roles and permissions (read every 2s and after each\n"
        "                         change made through kumo, which etcd makes): etcd\n"
        "                         checks logins, kumo issues its own tokens (--auth-token)\n"
        "                         and checks each request itself\n"
        "  --data-dir DIR         data directory, created if missing (default kumo.data)\n"
        "  --cert-file FILE       serve TLS with this PEM certificate (HTTP/1.1, HTTP/2 by\n"
        "                         ALPN and gRPC on the same port); SIGHUP reloads it\n"
        "  --key-file FILE        the certificate's PEM private key\n"
        "  --trusted-ca-file FILE PEM CAs that client certificates must chain to\n"
        "  --client-cert-auth     require a client certificate signed by those CAs\n"
        "  --insecure-listen      allow plain TCP on an address other than loopback\n"
        "  --auth-token T         login tokens once authentication is enabled: simple\n"
        "                         (default) or jwt,pub-key=F,priv-key=F,sign-method=M[,ttl=D]\n"
        "                         (M: RS256/384/512, PS256/384/512, ES256/384/512)\n"
        "  --auth-token-ttl N     seconds a simple token lives unused (default 300)\n"
        "  --secret-key-file FILE namespaces' secret values are sealed with this key (32\n"
        "                         random bytes, mode 0600: head -c 32 /dev/urandom > FILE)\n"
        "  --access-log FILE      one record per request: method, path, route, status,\n"
        "                         latency, request and trace ids (\"-\": stderr)\n"
        "  --log-format F         json (default) or logfmt\n"
        "  --max-conns N          open connections, watches included (default 200000)\n"
        "  --no-metrics           no GET /metrics and no per-request counting\n"
        "  --no-trace             no request ids or W3C trace context per request\n"
        "  --echo-request-id      send each request's id back in X-Request-ID\n"
        "  --shed                 shed load when in-flight requests exceed what recent\n"
        "                         latency sustains (503 + Retry-After; watches exempt)\n"
        "  --name NAME            the member's name in etcd's member list (default \"default\")\n"
        "  --advertise-client-url URL  where clients reach this server, listed as the\n"
        "                         member's client URL (default: http:// and --listen)\n"
        "  --progress-interval D  watch progress notifications (default 10m)\n"
        "  --grace D              how long in-flight requests may finish at shutdown (default 5s)\n");
}

static void run(void *arg)
{
    serve_args *a = arg;
    /* Signals arrive as reads on a signalfd, so shutdown is an ordinary
     * goroutine waiting on the netpoller. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) {
        fprintf(stderr, "kumo serve: signalfd: %s\n", km_strerror(-errno));
        a->rc = 1;
        return;
    }
    int64_t t0 = km_now();
    km_serve *s;
    int rc = km_serve_start(&s, &a->cfg);
    if (rc < 0) {
        if (rc == -EPROTONOSUPPORT)
            fprintf(stderr, "kumo serve: unknown backend \"%s\" "
                    "(this build has: lmdb, etcd://HOST:PORT,...)\n", a->cfg.backend);
        else if (rc == -EACCES && a->cfg.backend)
            fprintf(stderr, "kumo serve: the etcd cluster refused kumo (the reason is above; "
                    "--backend-user NAME:PASSWORD logs in)\n");
        else if (rc == -EKEYREJECTED)
            fprintf(stderr, "kumo serve: TLS to the etcd backend failed: a certificate was "
                    "refused (the members' by --backend-cacert, or ours by them: "
                    "--backend-cert, --backend-key)\n");
        else
            fprintf(stderr, "kumo serve: cannot start on %s with data dir %s: %s\n",
                    a->cfg.listen, a->cfg.data_dir, km_strerror(rc));
        close(sfd);
        a->rc = 1;
        return;
    }
    fprintf(stderr, "kumo serve: serving %s on %s, data in %s (ready in %.1f ms)\n",
            a->cfg.tls ? "TLS" : "plain TCP", a->cfg.listen, a->cfg.data_dir,
            (km_now() - t0) / 1e6);
    if (!a->cfg.tls && !loopback(a->cfg.listen))
        fprintf(stderr, "kumo serve: WARNING: serving without TLS on %s, which is not a "
                "loopback address (--insecure-listen): anyone on the network can read and "
                "write the data\n", a->cfg.listen);
    struct signalfd_siginfo si;
    ssize_t n;
    /* SIGHUP reloads the certificate and key; the others stop. */
    while ((n = km_read(sfd, &si, sizeof si, KM_FOREVER)) == (ssize_t)sizeof si &&
           si.ssi_signo == SIGHUP) {
        char err[512];
        if (!a->cfg.tls)
            fprintf(stderr, "kumo serve: SIGHUP: no TLS to reload\n");
        else if (km_tls_reload(a->cfg.tls, err, sizeof err) == 0)
            fprintf(stderr, "kumo serve: SIGHUP: reloaded %s and %s for new connections\n",
                    a->tls.cert_file, a->tls.key_file);
        else
            fprintf(stderr, "kumo serve: SIGHUP: kept the old certificate: %s\n", err);
    }
    fprintf(stderr, "kumo serve: %s, shutting down\n",
            n == (ssize_t)sizeof si ? strsignal((int)si.ssi_signo) : "signal wait failed");
    km_close(sfd);
    rc = km_serve_stop(s, km_now() + a->grace);
    a->rc = 0;
    if (rc == -ETIMEDOUT)
        fprintf(stderr, "kumo serve: requests still running after the grace period were cut off\n");
}

int kumo_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        { "listen", required_argument, 0, 'l' },
        { "data-dir", required_argument, 0, 'd' },
        { "backend", required_argument, 0, 'b' },
        { "access-log", required_argument, 0, 'a' },
        { "log-format", required_argument, 0, 'f' },
        { "max-conns", required_argument, 0, 'm' },
        { "progress-interval", required_argument, 0, 'p' },
        { "grace", required_argument, 0, 'g' },
        { "no-metrics", no_argument, 0, 'n' },
        { "no-trace", no_argument, 0, 't' },
        { "echo-request-id", no_argument, 0, 'e' },
        { "shed", no_argument, 0, 's' },
        { "name", required_argument, 0, 'N' },
        { "advertise-client-url", required_argument, 0, 'A' },
        { "etcd-call-timeout", required_argument, 0, 'T' },
        { "cache-window", required_argument, 0, 'W' },
        { "cache-wait", required_argument, 0, 'w' },
        { "cert-file", required_argument, 0, 'C' },
        { "key-file", required_argument, 0, 'K' },
        { "trusted-ca-file", required_argument, 0, 'R' },
        { "client-cert-auth", no_argument, 0, 'V' },
        { "insecure-listen", no_argument, 0, 'I' },
        { "backend-cacert", required_argument, 0, 1000 },
        { "backend-cert", required_argument, 0, 1001 },
        { "backend-key", required_argument, 0, 1002 },
        { "auth-token", required_argument, 0, 1003 },
        { "auth-token-ttl", required_argument, 0, 1004 },
        { "secret-key-file", required_argument, 0, 1005 },
        { "backend-user", required_argument, 0, 1006 },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    serve_args a = { .cfg = { .listen = "127.0.0.1:2379", .data_dir = "kumo.data",
                              .access_log_fd = -1 },
                     .grace = 5000000000LL };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': a.cfg.listen = optarg; break;
        case 'n': a.cfg.no_metrics = true; break;
        case 't': a.cfg.no_trace = true; break;
        case 'e': a.cfg.echo_request_id = true; break;
        case 's': a.cfg.shedding = true; break;
        case 'd': a.cfg.data_dir = optarg; break;
        case 'b': a.cfg.backend = optarg; break;
        case 'N': a.cfg.name = optarg; break;
        case 'A': a.cfg.advertise_url = optarg; break;
        case 'C': a.tls.cert_file = optarg; break;
        case 'K': a.tls.key_file = optarg; break;
        case 'R': a.tls.trusted_ca_file = optarg; break;
        case 'V': a.tls.client_cert_auth = true; break;
        case 'I': a.insecure_listen = true; break;
        case 1000: a.btls.trusted_ca_file = optarg; break;
        case 1001: a.btls.cert_file = optarg; break;
        case 1002: a.btls.key_file = optarg; break;
        case 1003: a.cfg.auth_token = optarg; break;
        case 1005: a.cfg.secret_key_file = optarg; break;
        case 1006: {
            /* NAME:PASSWORD as etcdctl's --user (split at the first
             * colon); the password is copied and wiped from the command
             * line, so that ps shows it no more */
            static char user[256], pw[1024];
            char *colon = strchr(optarg, ':');
            const char *p = colon ? colon + 1 : getenv("KUMO_BACKEND_PASSWORD");
            size_t un = colon ? (size_t)(colon - optarg) : strlen(optarg);
            if (!un || un >= sizeof user || !p || strlen(p) >= sizeof pw) {
                fprintf(stderr, "kumo serve: --backend-user wants NAME:PASSWORD, or NAME with "
                        "the password in $KUMO_BACKEND_PASSWORD\n");
                return 2;
            }
            memcpy(user, optarg, un);
            user[un] = 0;
            strcpy(pw, p);
            a.cfg.backend_user = user;
            a.cfg.backend_password = pw;
            if (colon)
                memset(colon + 1, 'x', strlen(colon + 1));
            break;
        }
        case 1004: {
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 1 || v > 100000000) {
                fprintf(stderr, "kumo serve: --auth-token-ttl wants seconds, 1 or more\n");
                return 2;
            }
            a.cfg.auth_token_ttl = v * 1000000000LL;
            break;
        }
        case 'a':
            if (!strcmp(optarg, "-"))
                a.cfg.access_log_fd = 2;
            else
                a.cfg.access_log = optarg;
            break;
        case 'f':
            if (!strcmp(optarg, "json") || !strcmp(optarg, "logfmt")) {
                a.cfg.log_format = optarg[0] == 'j' ? KM_LOG_JSON : KM_LOG_LOGFMT;
                break;
            }
            fprintf(stderr, "kumo serve: --log-format is json or logfmt\n");
            return 2;
        case 'm':
        case 'W': {
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 1 || v > 10000000) {
                fprintf(stderr, "kumo serve: --%s wants a number from 1 to 10000000\n",
                        c == 'm' ? "max-conns" : "cache-window");
                return 2;
            }
            if (c == 'm')
                a.cfg.max_conns = (int)v;
            else
                a.cfg.cache_window = v;
            break;
        }
        case 'T':
        case 'w':
        case 'p':
        case 'g': {
            int64_t ns;
            if (ctl_parse_dur(optarg, &ns) < 0 || ns <= 0) {
                fprintf(stderr, "kumo serve: bad duration \"%s\" (e.g. 500ms, 10s, 10m)\n", optarg);
                return 2;
            }
            if (c == 'p')
                a.cfg.progress_interval = ns;
            else if (c == 'T')
                a.cfg.call_timeout = ns;
            else if (c == 'w')
                a.cfg.cache_wait = ns;
            else
                a.grace = ns;
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kumo serve: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    bool want_tls = a.tls.cert_file || a.tls.key_file || a.tls.trusted_ca_file ||
                    a.tls.client_cert_auth;
    if (!want_tls && !a.insecure_listen && !loopback(a.cfg.listen)) {
        fprintf(stderr, "kumo serve: %s is not a loopback address: serve TLS there "
                "(--cert-file, --key-file) or pass --insecure-listen to serve plain TCP\n",
                a.cfg.listen);
        return 2;
    }
    bool etcd = a.cfg.backend && !strncmp(a.cfg.backend, "etcd://", 7);
    bool btls = a.btls.trusted_ca_file || a.btls.cert_file || a.btls.key_file;
    if (!etcd && (a.cfg.call_timeout || a.cfg.cache_window || a.cfg.cache_wait || btls ||
                  a.cfg.backend_user)) {
        fprintf(stderr, "kumo serve: --etcd-call-timeout, --cache-window, --cache-wait, "
                "--backend-user and --backend-cacert/-cert/-key apply to --backend "
                "etcd://... only\n");
        return 2;
    }
    if (etcd && !a.cfg.backend_user && (a.cfg.auth_token || a.cfg.auth_token_ttl)) {
        fprintf(stderr, "kumo serve: --auth-token and --auth-token-ttl need users: with "
                "--backend etcd:// kumo has them only with a --backend-user holding etcd's "
                "root role\n");
        return 2;
    }
    if (a.cfg.auth_token) {
        /* the option (and a JWT's key files) checked now, with a message */
        km_auth_config ac = { .token = a.cfg.auth_token };
        km_auth *probe;
        const char *err;
        if (km_auth_open(&probe, &ac, &err) < 0) {
            fprintf(stderr, "kumo serve: --auth-token: %s\n", err);
            return 2;
        }
        km_auth_free(probe);
    }
    if (btls) {
        char err[512];
        if (km_tls_client_new(&a.cfg.backend_tls, &a.btls, err, sizeof err) < 0) {
            fprintf(stderr, "kumo serve: TLS to the etcd backend: %s\n",
                    err[0] ? err : "out of memory");
            return 2;
        }
    }
    if (want_tls) {
        char err[512];
        if (km_tls_server_new(&a.cfg.tls, &a.tls, err, sizeof err) < 0) {
            fprintf(stderr, "kumo serve: TLS: %s\n", err[0] ? err : "out of memory");
            km_tls_free(a.cfg.backend_tls);
            return 2;
        }
    }
    /* Blocked before the workers start, so every thread inherits the mask
     * and only the signalfd sees these signals. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    int rc = km_main(run, &a);
    km_tls_free(a.cfg.tls);
    km_tls_free(a.cfg.backend_tls);
    if (rc < 0) {
        fprintf(stderr, "kumo serve: %s\n", km_strerror(rc));
        return 1;
    }
    return a.rc;
}
