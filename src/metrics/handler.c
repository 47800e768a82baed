/* SPDX-License-Identifier: MIT */
/* GET /metrics: the registry in the text exposition format. */
#include "metrics-int.h"

void km_metrics_handler(km_http_req *r, km_http_resp *w, void *registry)
{
    (void)r;
    char *text;
    size_t n;
    int rc = km_metrics_text(registry, &text, &n);
    if (rc < 0) {
        static const char msg[] = "metrics: out of memory\n";
        km_http_send(w, 500, "text/plain; charset=utf-8", msg, sizeof msg - 1);
        return;
    }
    km_http_send(w, 200, KM_METRICS_CONTENT_TYPE, text, n);
    km_metrics_text_free(text);
}
