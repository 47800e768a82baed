/* SPDX-License-Identifier: MIT */
/* The web console: the files of ui/, embedded by make (scripts/embed-ui.sh
 * writes the table below into $(BUILD)/gen/ui-files.c), served under /ui/. */
#ifndef KUMO_SERVE_UI_H
#define KUMO_SERVE_UI_H

#include <stddef.h>
#include <kumo/http.h>

/* One embedded file: its path under ui/ ("index.html", "app.js"), the
 * Content-Type to send, a quoted ETag (a hash of the bytes, computed at
 * build time) and the bytes. */
typedef struct {
    const char          *path;
    const char          *type;
    const char          *etag;
    const unsigned char *data;
    size_t               len;
} km__ui_file;

extern const km__ui_file km__ui_files[];
extern const size_t      km__ui_nfiles;

/* Adds GET /ui (a redirect to /ui/), GET /ui/ (index.html) and GET
 * /ui/PATH (any embedded file) to rt. 0, or km_http_route's -EINVAL,
 * -EEXIST, -ENOMEM. */
int km__ui_routes(km_http_router *rt);

#endif
