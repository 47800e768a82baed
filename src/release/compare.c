/* SPDX-License-Identifier: MIT */
/* Two namespaces side by side: the main release of one against the main
 * release of another, as between the same configuration's environments. */
#include <errno.h>
#include "release/rel-int.h"

/* ns's main published view: 0 and st loaded; -ENOENT before its first publish. */
static int main_of(km_rel *r, const char *ns, km__rel_ns *st, km_rel_err *err)
{
    int rc = km__rel_load(r, ns, KM__REL_META | KM__REL_MAIN, st, err);
    if (rc == 0 && !st->main)
        rc = km__rel_fail(err, -ENOENT, "%s has no published release", ns);
    return rc;
}

int km__rel_compare(km_rel *r, const char *ns, const char *other, json_t **out, km_rel_err *err)
{
    km__rel_ns a, b;
    int rc = main_of(r, ns, &a, err);
    if (rc == 0)
        rc = main_of(r, other, &b, err);
    else
        b = (km__rel_ns){ 0 };
    if (rc == 0) {
        json_t *diff = km__rel_diff_between(r, ns, json_object_get(a.main, "items"),
                                            json_object_get(a.main, "secret"), other,
                                            json_object_get(b.main, "items"),
                                            json_object_get(b.main, "secret"), true);
        if (!diff || !(*out = json_pack("{s:s,s:O,s:s,s:O,s:o}", "ns", ns, "release",
                                        json_object_get(a.main, "release"), "with", other,
                                        "with_release", json_object_get(b.main, "release"),
                                        "diff", diff)))
            rc = km__rel_fail(err, -ENOMEM, "out of memory");
    }
    km__rel_ns_free(&a);
    km__rel_ns_free(&b);
    return rc;
}
