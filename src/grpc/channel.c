/* SPDX-License-Identifier: MIT */
/* A client channel: gRPC's settings on top of an HTTP/2 client to one target. */
#include <string.h>
#include "grpc/grpc-int.h"
#include "rt/alloc.h"

int km_grpc_channel_new(km_grpc_channel **out, const km_grpc_channel_config *cfg)
{
    if (!out || !cfg || !cfg->target || !*cfg->target)
        return -EINVAL;
    km_grpc_channel *ch = km__calloc(1, sizeof *ch);
    if (!ch)
        return -ENOMEM;
    ch->max_recv = cfg->max_recv_msg ? cfg->max_recv_msg : KM__GRPC_DEFAULT_MAX_RECV;
    ch->max_send = cfg->max_send_msg ? cfg->max_send_msg : UINT32_MAX;
    if (ch->max_send > UINT32_MAX)
        ch->max_send = UINT32_MAX;
    km_http2_client_config h = {
        .addr = cfg->target,
        .authority = cfg->authority,
        .max_conns = cfg->max_conns,
        .connect_timeout = cfg->connect_timeout,
        .backoff_base = cfg->backoff_base,
        .backoff_max = cfg->backoff_max,
        .keepalive_interval = cfg->keepalive_interval,
        .keepalive_timeout = cfg->keepalive_timeout,
        .stream_window = cfg->stream_window,
        .conn_window = cfg->conn_window,
        .tls = cfg->tls,
        .server_name = cfg->server_name,
    };
    int rc = -ENOMEM;
    if (!(ch->user_agent = km__strdup(cfg->user_agent ? cfg->user_agent : "kumo-grpc")) ||
        (rc = km_http2_client_new(&ch->h2, &h))) {
        km_grpc_channel_free(ch);
        return rc;
    }
    *out = ch;
    return 0;
}

void km_grpc_channel_free(km_grpc_channel *ch)
{
    if (!ch)
        return;
    if (ch->h2)
        km_http2_client_free(ch->h2);
    km__free(ch->user_agent);
    km__free(ch);
}
