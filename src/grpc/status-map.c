/* SPDX-License-Identifier: MIT */
/* Transport failures as gRPC statuses: RST_STREAM codes as grpc-go maps them, HTTP statuses as the spec's table does. */
#include <nghttp2/nghttp2.h>
#include "grpc/grpc-int.h"

int km__grpc_rst_code(uint32_t h2_code)
{
    switch (h2_code) {
    case NGHTTP2_REFUSED_STREAM:      return KM_GRPC_UNAVAILABLE;     /* not processed: retry */
    case NGHTTP2_CANCEL:              return KM_GRPC_CANCELLED;
    case NGHTTP2_ENHANCE_YOUR_CALM:   return KM_GRPC_RESOURCE_EXHAUSTED;
    case NGHTTP2_INADEQUATE_SECURITY: return KM_GRPC_PERMISSION_DENIED;
    default:                          return KM_GRPC_INTERNAL;        /* NO_ERROR included */
    }
}

/* grpc/doc/http-grpc-status-mapping.md: for a response that is not
 * gRPC's (a proxy's error page, a server that does not speak it). */
int km__grpc_http_code(int http_status)
{
    switch (http_status) {
    case 400: return KM_GRPC_INTERNAL;
    case 401: return KM_GRPC_UNAUTHENTICATED;
    case 403: return KM_GRPC_PERMISSION_DENIED;
    case 404: return KM_GRPC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504: return KM_GRPC_UNAVAILABLE;
    default:  return KM_GRPC_UNKNOWN;
    }
}
