/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the config follower's parsing: a streamed response
 * (head, chunked or sized body) read line by line into Server-Sent Events,
 * each config event's JSON made into a configuration and looked up. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "client/follow-int.h"
#include "client/json-int.h"

/* Every item is found by its key, in order, NUL-terminated. */
static void check(const km_ns_config *c)
{
    if (!c->ns || !c->format || !c->name || c->release < 1 || (c->nitems && !c->items))
        abort();
    for (size_t i = 0; i < c->nitems; i++) {
        const km_ns_item *it = &c->items[i];
        if (it->key[it->key_len] || it->value[it->value_len] || strlen(it->key) != it->key_len)
            abort();
        if (km_ns_config_get(c, it->key) != it)
            abort();
        if (i && strcmp(c->items[i - 1].key, it->key) >= 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    km__stream s = { .fd = -1, .mem = (const char *)data, .memn = size, .max_body = 4096 };
    km__sse sse = { .id = -1, .max = 2048 };
    size_t events = 0;
    if (km__stream_begin(&s, 0) == 0) {
        char *l;
        size_t n;
        while (km__stream_line(&s, 0, &l, &n) == 0) {
            km__sse_ev ev;
            int rc = km__sse_line(&sse, l, n, &ev);
            if (rc < 0 && rc != -EMSGSIZE && rc != -ENOMEM)
                abort();
            if (rc != 1)
                continue;
            if (ev.n > 2048 || ev.data[ev.n] || ++events > size)
                abort();
            km_ns_config *c;
            rc = km__ns_config_parse(ev.data, ev.n, &c);
            if (rc == 0) {
                check(c);
                km_ns_config_ref(c);
                km_ns_config_release(c);
                km_ns_config_release(c);
            } else if (rc != -EBADMSG && rc != -ENOMEM) {
                abort();
            }
        }
    }
    km__sse_free(&sse);
    km__stream_close(&s);
    return 0;
}
