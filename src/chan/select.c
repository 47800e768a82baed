/* SPDX-License-Identifier: MIT */
/* km_select: wait on many channel operations, complete exactly one. */
#include "chan-int.h"
#include <stdlib.h>

#define SMALL 16    /* cases handled without allocating */

static void lock_all(km_chan **order, size_t n)
{
    for (size_t i = 0; i < n; i++)
        km__lock_acquire(&order[i]->lock);
}

static void unlock_all(km_chan **order, size_t n)
{
    for (size_t i = n; i-- > 0;)
        km__lock_release(&order[i]->lock);
}

static int cmp_chan(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(km_chan *const *)a, y = (uintptr_t)*(km_chan *const *)b;
    return x < y ? -1 : x > y;
}

/* Distinct channels of the cases, sorted by address: the one global lock
 * order that keeps concurrent selects from deadlocking. */
static size_t lock_order(const km_case *cases, size_t n, km_chan **order)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (cases[i].chan)
            order[m++] = cases[i].chan;
    if (m <= SMALL) {
        for (size_t i = 1; i < m; i++)
            for (size_t j = i; j > 0 && order[j - 1] > order[j]; j--) {
                km_chan *t = order[j]; order[j] = order[j - 1]; order[j - 1] = t;
            }
    } else {
        qsort(order, m, sizeof *order, cmp_chan);
    }
    size_t u = 0;
    for (size_t i = 0; i < m; i++)
        if (u == 0 || order[u - 1] != order[i])
            order[u++] = order[i];
    return u;
}

static int validate(const km_case *cases, size_t n)
{
    if (n && !cases)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        const km_case *k = &cases[i];
        if (!k->chan)
            continue;
        if (k->op != KM_RECV && k->op != KM_SEND)
            return -EINVAL;
        if (k->chan->esz && !k->elem)
            return -EINVAL;
    }
    if (n > (size_t)INT32_MAX - 1)
        return -EINVAL;
    return 0;
}

/* Pass 1: in random order, complete the first case that is ready. */
static int try_ready(km_case *cases, const uint32_t *perm, size_t n, km__g **wake)
{
    for (size_t j = 0; j < n; j++) {
        km_case *k = &cases[perm[j]];
        if (!k->chan)
            continue;
        bool done = k->op == KM_SEND
            ? km__chan_try_send(k->chan, k->elem, &k->rc, wake)
            : km__chan_try_recv(k->chan, k->elem, &k->rc, wake);
        if (done)
            return (int)perm[j];
    }
    return -1;
}

static int select_locked(km_case *cases, size_t n, int64_t deadline,
                         km_chan **order, size_t nlock, uint32_t *perm,
                         km__waiter *ws)
{
    km__g *wake = NULL;
    lock_all(order, nlock);
    int idx = try_ready(cases, perm, n, &wake);
    if (idx >= 0) {
        unlock_all(order, nlock);
        if (wake)
            km__ready(wake);
        return idx;
    }
    if (deadline == 0 || km__expired(deadline)) {
        unlock_all(order, nlock);
        return deadline == 0 ? -EAGAIN : -ETIMEDOUT;
    }
    km__g *g = km__curg();
    if (!g) {
        unlock_all(order, nlock);
        return -EPERM;
    }
    km__park_arm(g, "select", nlock ? order[0] : NULL, true);
    for (size_t i = 0; i < n; i++) {
        km_case *k = &cases[i];
        ws[i] = (km__waiter){ .g = g, .elem = k->elem, .tok = (int)i + 1 };
        if (k->chan)
            km__wq_push(k->op == KM_SEND ? &k->chan->sendq : &k->chan->recvq, &ws[i]);
    }
    unlock_all(order, nlock);
    int tok = km__park(g, deadline, true);
    lock_all(order, nlock);
    for (size_t i = 0; i < n; i++) {
        km_case *k = &cases[i];
        if (ws[i].queued)
            km__wq_unlink(k->op == KM_SEND ? &k->chan->sendq : &k->chan->recvq, &ws[i]);
    }
    unlock_all(order, nlock);
    if (tok > 0) {
        cases[tok - 1].rc = ws[tok - 1].rc;
        return tok - 1;
    }
    return km__wake_err(tok);
}

int km_select(km_case *cases, size_t n, int64_t deadline)
{
    int rc = validate(cases, n);
    if (rc)
        return rc;
    km_chan *order_s[SMALL];
    uint32_t perm_s[SMALL];
    km__waiter ws_s[SMALL];
    km_chan **order = order_s;
    uint32_t *perm = perm_s;
    km__waiter *ws = ws_s;
    void *heap = NULL;
    if (n > SMALL) {
        size_t bytes = n * (sizeof *order + sizeof *perm + sizeof *ws);
        heap = km__malloc(bytes);
        if (!heap)
            return -ENOMEM;
        ws = heap;
        order = (km_chan **)(ws + n);
        perm = (uint32_t *)(order + n);
    }
    /* Uniform random order (Fisher-Yates): no case can starve another. */
    for (uint32_t i = 0; i < n; i++) {
        uint32_t j = km__randn(i + 1);
        perm[i] = perm[j];
        perm[j] = i;
    }
    size_t nlock = lock_order(cases, n, order);
    rc = select_locked(cases, n, deadline, order, nlock, perm, ws);
    km__free(heap);
    return rc;
}
