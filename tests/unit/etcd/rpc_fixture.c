/* SPDX-License-Identifier: MIT */
/* etcd's gRPC API on its own: the services answer over h2c, every
 * response header names the cluster and member, and an unknown method is
 * UNIMPLEMENTED. */
#include "util.h"
#include "rpcfix.h"

static void unknown_service_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    /* a method of a service etcd does not have */
    Etcdserverpb__StatusRequest req = ETCDSERVERPB__STATUS_REQUEST__INIT;
    rpcfix_fails(&f, "/etcdserverpb.Nope/Status", &req.base,
                 &etcdserverpb__status_response__descriptor, KM_GRPC_UNIMPLEMENTED,
                 "unknown service etcdserverpb.Nope");
    rpcfix_down(&f);
}

START_TEST(unknown_service) { t_run(unknown_service_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("etcd/rpc_fixture");
    TCase *tc = tcase_create("fixture");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, unknown_service);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
