/* SPDX-License-Identifier: MIT */
/* Cancellation groups: membership hooks used by parking and spawning. */
#include "rt-int.h"

int km__cancel_check(km__g *g)
{
    (void)g;
    return 0;
}

void km__cancel_leave(km__g *g)
{
    g->group = NULL;
}

void km__cancel_inherit(km__g *child, km__g *parent)
{
    child->group = NULL;
    (void)parent;
}
