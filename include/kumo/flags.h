/* SPDX-License-Identifier: MIT */
/* Degradation switches and feature flags kept in kumo serve and followed
 * live: flip a key, every process watching sees it within the watch's
 * delay, without a restart. */
#ifndef KUMO_FLAGS_H
#define KUMO_FLAGS_H

#include <stdbool.h>
#include "client.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The flags under a prefix (one key per flag: prefix + name), followed by
 * an informer; lookups read its current view and never block. */
typedef struct km_flags km_flags;

typedef struct {
    const char *prefix;          /* NULL: "/kumo/flags/" */
    const char *snapshot_path;   /* NULL: none; else the last known flags are
                                    kept there for starts without a server */
    /* Called on the informer's goroutine after a flag changed (value NULL:
     * deleted). Optional. */
    void (*on_change)(void *ud, const char *name, const char *value, size_t len);
    void *ud;
} km_flags_config;

/* Starts following the flags through client c (which must outlive them).
 * 0, -EINVAL, -ENOMEM. Lookups answer their defaults until the first list. */
int  km_flags_start(km_flags **out, km_client *c, const km_flags_config *cfg);
/* Waits for the first list (or the snapshot). 0, -ETIMEDOUT, -ECANCELED. */
int  km_flags_wait(km_flags *f, int64_t deadline);
void km_flags_stop(km_flags *f);

/* "1", "true", "on", "yes" (any case) are true; "0", "false", "off", "no"
 * false; a missing flag or any other value gives def. */
bool    km_flag_bool(km_flags *f, const char *name, bool def);
/* A decimal integer, or def when missing or not one. */
int64_t km_flag_int(km_flags *f, const char *name, int64_t def);
/* Copies the value into buf (NUL-terminated, cut to n - 1 bytes). Its
 * length, or -ENOENT when missing. */
int     km_flag_get(km_flags *f, const char *name, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
