/* SPDX-License-Identifier: MIT */
/* One request through the middleware chain and the handler, the same on
 * every protocol. */
#include "http-int.h"

void km__stream_run(km__stream *st)
{
    km_http_req *r = &st->req;
    r->st = st;
    r->nparams = 0;
    r->body_fail = 0;
    r->request_id[0] = 0;
    r->traced = r->handled = false;
    r->end_at = 0;
    r->route = NULL;
    km_http_next chain = { &st->s->cfg, 0 };
    km_http_next_call(&chain, r, &st->resp);
}
