/* SPDX-License-Identifier: MIT */
/* Cancellation groups: membership, cancel fan-out, and the park-time check. */
#include <kumo/group.h>
#include "wait.h"

int km_group_new(km_group **out, km_group *parent, int64_t deadline)
{
    if (!out)
        return -EINVAL;
    km_group *g = km__calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    km__group_init(g, parent, deadline);
    *out = g;
    return 0;
}

/* A group's effective deadline: its own or its parent's, the earlier. */
static int64_t inherit(const km_group *parent, int64_t deadline)
{
    if (parent && parent->deadline != KM_FOREVER &&
        (deadline == KM_FOREVER || parent->deadline < deadline))
        return parent->deadline;
    return deadline;
}

void km__group_init(km_group *g, km_group *parent, int64_t deadline)
{
    *g = (km_group){ .deadline = inherit(parent, deadline), .parent = parent };
    if (parent) {
        km__lock_acquire(&parent->lock);
        g->sibling_next = parent->children;
        if (parent->children)
            parent->children->sibling_prev = g;
        parent->children = g;
        if (atomic_load(&parent->cancelled))
            atomic_store(&g->cancelled, 1);
        km__lock_release(&parent->lock);
    }
}

void km__group_rearm(km_group *g, int64_t deadline)
{
    km_group *p = g->parent;
    g->deadline = inherit(p, deadline);
    /* A cancel of the parent sets its own flag, then each child's. Both
     * sides seq_cst: if the load below misses the parent's flag, the
     * parent's store to g's comes after this reset and wins. */
    atomic_store(&g->cancelled, 0);
    if (p && atomic_load(&p->cancelled))
        atomic_store(&g->cancelled, 1);
}

static void add_member(km_group *grp, km__g *g)
{
    g->group = grp;
    km__lock_acquire(&grp->lock);
    g->group_prev = NULL;
    g->group_next = grp->members;
    if (grp->members)
        grp->members->group_prev = g;
    grp->members = g;
    atomic_fetch_add(&grp->nmembers, 1);
    km__lock_release(&grp->lock);
}

/* Spawn hook: the new goroutine g is not running yet. */
void km__cancel_inherit(km__g *child, km__g *parent)
{
    add_member(parent->group, child);
}

typedef struct { km_group *grp; } go_start;

int km_group_go(km_group *grp, km_fn *fn, void *arg)
{
    if (!grp || !fn)
        return -EINVAL;
    if (km_group_err(grp))
        return -ECANCELED;
    /* Spawn with the caller temporarily in grp, so the hook puts the child
     * there (the caller itself is not added). */
    km__g *self = km__curg();
    if (!self)
        return -EPERM;
    void *saved = self->group;
    self->group = grp;
    int rc = km__go_quiet(fn, arg, NULL);
    self->group = saved;
    if (!rc)
        km__spawn_backoff();
    return rc;
}

static bool has_members(const void *addr, void *ud)
{
    (void)ud;
    return atomic_load(&((km_group *)addr)->nmembers) > 0;
}

void km__cancel_leave(km__g *g)
{
    km_group *grp = g->group;
    if (!grp)
        return;
    km__lock_acquire(&grp->lock);
    if (g->group_prev) g->group_prev->group_next = g->group_next;
    else grp->members = g->group_next;
    if (g->group_next) g->group_next->group_prev = g->group_prev;
    km__lock_release(&grp->lock);
    g->group = NULL;
    /* The count drops last: a waiter that sees it reach 0 may free grp at
     * once, so nothing after this touches grp (the lot is keyed by its
     * address only). */
    long left = atomic_fetch_sub(&grp->nmembers, 1) - 1;
    if (left == 0)
        km__lot_unpark_all(grp, NULL, NULL);
}

static void cancel_locked_tree(km_group *grp, km__g **woken)
{
    km__lock_acquire(&grp->lock);
    atomic_store(&grp->cancelled, 1);           /* seq_cst: pairs with park */
    for (km__g *m = grp->members; m; m = m->group_next) {
        if (km__claim(m, KM__WAKE_CANCEL)) {
            m->schedlink = *woken;
            *woken = m;
        }
    }
    for (km__runner *r = grp->runners; r; r = r->next) {
        if (km__claim(r->g, KM__WAKE_CANCEL)) {
            r->g->schedlink = *woken;
            *woken = r->g;
        }
    }
    for (km_group *c = grp->children; c; c = c->sibling_next)
        cancel_locked_tree(c, woken);
    km__lock_release(&grp->lock);
}

void km_group_cancel(km_group *grp)
{
    if (!grp)
        return;
    km__g *woken = NULL;
    cancel_locked_tree(grp, &woken);
    while (woken) {
        km__g *m = woken;
        woken = m->schedlink;
        km__ready(m);
    }
}

int km_group_err(km_group *grp)
{
    if (!grp)
        return 0;
    if (atomic_load(&grp->cancelled))
        return -ECANCELED;
    if (grp->deadline != KM_FOREVER && grp->deadline <= km_now())
        return -ECANCELED;
    return 0;
}

int km__cancel_check(km__g *g)
{
    return km_group_err(g->group);
}

int64_t km__cancel_deadline(km__g *g)
{
    return g->group ? ((km_group *)g->group)->deadline : KM_FOREVER;
}

int km_group_wait(km_group *grp, int64_t deadline)
{
    if (!grp)
        return -EINVAL;
    km__g *self = km__curg();
    for (void *gp = self ? self->group : NULL; gp; gp = ((km_group *)gp)->parent)
        if (gp == grp)
            return -EDEADLK;
    for (;;) {
        if (atomic_load(&grp->nmembers) == 0)
            return 0;
        int rc = km__lot_park(grp, has_members, NULL, NULL, deadline, false, "group wait");
        if (rc < 0)
            return rc;
    }
}

int km_group_free(km_group *grp)
{
    if (!grp)
        return 0;
    int rc = km__group_fini(grp);
    if (!rc)
        km__free(grp);
    return rc;
}

int km__group_fini(km_group *grp)
{
    if (atomic_load(&grp->nmembers) || grp->children || grp->runners)
        return -EBUSY;
    km_group *p = grp->parent;
    if (p) {
        km__lock_acquire(&p->lock);
        if (grp->sibling_prev) grp->sibling_prev->sibling_next = grp->sibling_next;
        else p->children = grp->sibling_next;
        if (grp->sibling_next) grp->sibling_next->sibling_prev = grp->sibling_prev;
        km__lock_release(&p->lock);
    }
    return 0;
}

int km__group_run(km_group *grp, km_fn *fn, void *arg)
{
    km__g *self = km__curg();
    if (!grp || !fn)
        return -EINVAL;
    if (!self)
        return -EPERM;
    km__runner me = { .g = self };
    km__lock_acquire(&grp->lock);
    me.next = grp->runners;
    if (grp->runners)
        grp->runners->prev = &me;
    grp->runners = &me;
    km__lock_release(&grp->lock);
    /* Seen by parks (deadline, flag) and by spawns (inheritance); the
     * caller's own membership elsewhere is untouched. */
    void *saved = self->group;
    self->group = grp;
    fn(arg);
    self->group = saved;
    km__lock_acquire(&grp->lock);
    if (me.prev) me.prev->next = me.next; else grp->runners = me.next;
    if (me.next) me.next->prev = me.prev;
    km__lock_release(&grp->lock);
    return 0;
}

int km_group_run(km_group *grp, km_fn *fn, void *arg)
{
    int rc = km__group_run(grp, fn, arg);
    return rc ? rc : km_group_err(grp);
}

km_group *km_group_current(void)
{
    km__g *g = km__curg();
    return g ? g->group : NULL;
}
