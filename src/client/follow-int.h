/* SPDX-License-Identifier: MIT */
/* The config follower's parsing (ns-config.c): a Server-Sent Events reader
 * fed line by line, and a config event's JSON made into a km_ns_config. */
#ifndef KUMO_CLIENT_FOLLOW_INT_H
#define KUMO_CLIENT_FOLLOW_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <kumo/client.h>

/* The largest event's data by default: a namespace holds at most 1 MiB of
 * items, which JSON escaping may grow several times over. */
#define KM__SSE_MAX_DATA (16u << 20)

/* The reader's state between lines (zero it to start). */
typedef struct {
    char    *data;          /* the event's data lines, joined by \n */
    size_t   dn, dcap;
    bool     has_data;
    bool     skip;          /* the event overflowed: ignored to its end */
    char     event[16];     /* the event type (only "config" matters: a
                               longer one is kept truncated, en says so) */
    size_t   en;
    int64_t  id;            /* the last id field as a number; -1: none or not one */
    size_t   max;           /* data bytes at most; 0: KM__SSE_MAX_DATA */
} km__sse;

/* A complete event: a "config" one or another type, its data (NUL-
 * terminated, valid until the next km__sse_line) and the id. */
typedef struct {
    bool        config;
    const char *data;
    size_t      n;
    int64_t     id;
} km__sse_ev;

/* Feeds one line of the stream (without its LF; a trailing CR is
 * dropped): 1 and *ev when a blank line ended an event that had data, 0
 * otherwise (a field, a comment, a blank line after nothing); -EMSGSIZE
 * (data over max: the event is dropped), -ENOMEM. */
int  km__sse_line(km__sse *s, const char *line, size_t n, km__sse_ev *ev);
void km__sse_free(km__sse *s);

/* A config event's data (docs/API.md's config object) as a new
 * km_ns_config holding one reference: 0 and *out; -EBADMSG (not JSON, a
 * member missing or of the wrong type, an item value not a string),
 * -ENOMEM. */
int  km__ns_config_parse(const char *p, size_t n, km_ns_config **out);

#endif
