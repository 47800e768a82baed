/* SPDX-License-Identifier: MIT */
/* Costs of a log call: disabled, enabled to /dev/null (JSON, logfmt), and a span. */
#include <kumo.h>
#include <kumo/log.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static long n_disabled = 100000000, n_enabled = 2000000;

static void run(void *arg)
{
    int fd = open("/dev/null", O_WRONLY);
    km_logger *js, *lf, *child;
    km_log_new(&js, &(km_log_config){ .fd = fd });
    km_log_new(&lf, &(km_log_config){ .fd = fd, .format = KM_LOG_LOGFMT });
    km_log_with(&child, js, km_lf_str("component", "bench"));

    int64_t t0 = km_now();
    for (long i = 0; i < n_disabled; i++)
        km_debug(js, "disabled", km_lf_int("i", i), km_lf_str("s", "value"));
    printf("disabled           %8.2f ns/op\n", (double)(km_now() - t0) / (double)n_disabled);

    km_logger *ls[] = { js, lf, child };
    const char *names[] = { "json (5 fields)  ", "logfmt (5 fields)", "json child (+1)  " };
    for (int k = 0; k < 3; k++) {
        t0 = km_now();
        for (long i = 0; i < n_enabled; i++)
            km_info(ls[k], "request done", km_lf_str("method", "GET"),
                    km_lf_str("path", "/api/v1/kv/some/key"), km_lf_int("status", 200),
                    km_lf_int("latency_us", i & 1023), km_lf_bool("cached", true));
        printf("%s  %8.1f ns/op\n", names[k], (double)(km_now() - t0) / (double)n_enabled);
    }

    t0 = km_now();
    for (long i = 0; i < n_enabled; i++) {
        km_span sp;
        km_span_start(&sp, js, "call", NULL);
        km_span_end(&sp, 0);
    }
    printf("span start+end     %8.1f ns/op\n", (double)(km_now() - t0) / (double)n_enabled);

    /* the write(2) alone, for scale */
    char line[200] = "{\"time\":\"2023-11-14T22:13:20.123456Z\",\"level\":\"info\",\"msg\":\"x\"}\n";
    t0 = km_now();
    for (long i = 0; i < n_enabled; i++)
        if (write(fd, line, 64) < 0)
            abort();
    printf("write(2) alone     %8.1f ns/op\n", (double)(km_now() - t0) / (double)n_enabled);
    km_log_free(child);
    km_log_free(lf);
    km_log_free(js);
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        n_enabled = atol(argv[1]);
    return km_main(run, NULL) ? 1 : 0;
}
