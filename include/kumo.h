/* SPDX-License-Identifier: MIT */
/* kumo: Go's cloud-native toolkit in C. Umbrella header for every public module. */
#ifndef KUMO_H
#define KUMO_H

#include "kumo/rt.h"
#include "kumo/chan.h"
#include "kumo/sync.h"
#include "kumo/group.h"
#include "kumo/debug.h"
#include "kumo/net.h"
#include "kumo/tls.h"
#include "kumo/http.h"
#include "kumo/http2.h"
#include "kumo/grpc.h"
#include "kumo/metrics.h"
#include "kumo/log.h"
#include "kumo/resil.h"
#include "kumo/pool.h"
#include "kumo/redis.h"
#include "kumo/client.h"
#include "kumo/flags.h"

#endif
