/* SPDX-License-Identifier: MIT */
/* The Prometheus text exposition format 0.0.4. */
#include "metrics-int.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

void km__mbuf_put(km__mbuf *b, const char *s, size_t n)
{
    if (b->err)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = km__malloc(cap);
        if (!p) {
            b->err = -ENOMEM;
            return;
        }
        if (b->n)
            memcpy(p, b->p, b->n);
        km__free(b->p);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void km__fmt_float(char out[KM__FLOAT_MAX], double v)
{
    if (isnan(v)) {
        strcpy(out, "NaN");
    } else if (isinf(v)) {
        strcpy(out, v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        /* Exact integers (counts, bytes) without an exponent. */
        snprintf(out, KM__FLOAT_MAX, "%lld", (long long)v);
    } else {
        /* The shortest of 15..17 significant digits that reads back the
         * same double: 0.1 stays "0.1", not "0.10000000000000001". */
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(out, KM__FLOAT_MAX, "%.*g", prec, v);
            if (strtod(out, NULL) == v)
                break;
        }
    }
}

void km__mbuf_float(km__mbuf *b, double v)
{
    char tmp[KM__FLOAT_MAX];
    km__fmt_float(tmp, v);
    km__mbuf_puts(b, tmp);
}

/* Label values: backslash, double quote and line feed are escaped. Help
 * text: backslash and line feed only. */
static void put_escaped(km__mbuf *b, const char *s, bool quote)
{
    const char *run = s;
    for (; *s; s++) {
        const char *esc = *s == '\\' ? "\\\\" : *s == '\n' ? "\\n"
                        : (quote && *s == '"') ? "\\\"" : NULL;
        if (esc) {
            km__mbuf_put(b, run, (size_t)(s - run));
            km__mbuf_puts(b, esc);
            run = s + 1;
        }
    }
    km__mbuf_put(b, run, (size_t)(s - run));
}

/* name{l1="v1",...,extra="x"} */
static void put_series_name(km__mbuf *b, const km_metric *m, const char *suffix,
                            const km_series *s, const char *extra, const char *extra_v)
{
    km__mbuf_puts(b, m->name);
    km__mbuf_puts(b, suffix);
    if (m->nlabels == 0 && !extra)
        return;
    km__mbuf_puts(b, "{");
    for (size_t i = 0; i < m->nlabels; i++) {
        if (i)
            km__mbuf_puts(b, ",");
        km__mbuf_puts(b, m->labels[i]);
        km__mbuf_puts(b, "=\"");
        put_escaped(b, s->values[i], true);
        km__mbuf_puts(b, "\"");
    }
    if (extra) {
        if (m->nlabels)
            km__mbuf_puts(b, ",");
        km__mbuf_puts(b, extra);
        km__mbuf_puts(b, "=\"");
        km__mbuf_puts(b, extra_v);
        km__mbuf_puts(b, "\"");
    }
    km__mbuf_puts(b, "}");
}

static void put_sample(km__mbuf *b, const km_metric *m, const char *suffix,
                       const km_series *s, const char *extra, const char *extra_v, double v)
{
    put_series_name(b, m, suffix, s, extra, extra_v);
    km__mbuf_puts(b, " ");
    km__mbuf_float(b, v);
    km__mbuf_puts(b, "\n");
}

static void put_histogram(km__mbuf *b, const km_metric *m, const km_series *s)
{
    /* The count is the sum of the buckets read here, so _count and the
     * +Inf bucket agree even while observations race with the scrape. */
    uint64_t cum = 0;
    char le[KM__FLOAT_MAX];
    for (size_t i = 0; i <= m->nbounds; i++) {
        cum += km__shards_sumu(s, (1 + i) * sizeof(uint64_t));
        km__fmt_float(le, i < m->nbounds ? m->bounds[i] : INFINITY);
        put_sample(b, m, "_bucket", s, "le", le, (double)cum);
    }
    put_sample(b, m, "_sum", s, NULL, NULL, km__shards_sumd(s, 0));
    put_sample(b, m, "_count", s, NULL, NULL, (double)cum);
}

static int cmp_family(const void *a, const void *b)
{
    return strcmp((*(km_metric *const *)a)->name, (*(km_metric *const *)b)->name);
}

static int cmp_series(const void *a, const void *b)
{
    const km_series *x = *(km_series *const *)a, *y = *(km_series *const *)b;
    for (size_t i = 0; i < x->m->nlabels; i++) {
        int c = strcmp(x->values[i], y->values[i]);
        if (c)
            return c;
    }
    return 0;
}

static int put_family(km__mbuf *b, km_metric *m)
{
    static const char *const type[] = { "", "counter", "gauge", "histogram" };
    km_series **ss = NULL;
    size_t n = 0;
    if (!m->fn) {
        km__lock_acquire(&m->lock);
        n = m->nseries;
        if (n && (ss = km__malloc(n * sizeof *ss))) {
            size_t i = 0;
            for (km_series *s = m->all; s; s = s->next)
                ss[i++] = s;
        }
        km__lock_release(&m->lock);
        if (n == 0)
            return 0;
        if (!ss)
            return -ENOMEM;
        qsort(ss, n, sizeof *ss, cmp_series);
    }
    km__mbuf_puts(b, "# HELP ");
    km__mbuf_puts(b, m->name);
    km__mbuf_puts(b, " ");
    put_escaped(b, m->help, false);
    km__mbuf_puts(b, "\n# TYPE ");
    km__mbuf_puts(b, m->name);
    km__mbuf_puts(b, " ");
    km__mbuf_puts(b, type[m->kind]);
    km__mbuf_puts(b, "\n");
    if (m->fn)
        put_sample(b, m, "", NULL, NULL, NULL, m->fn(m->fn_ud));
    for (size_t i = 0; i < n; i++) {
        if (m->kind == KM__HISTOGRAM)
            put_histogram(b, m, ss[i]);
        else
            put_sample(b, m, "", ss[i], NULL, NULL, km_series_value(ss[i]));
    }
    km__free(ss);
    return 0;
}

int km_metrics_text(km_metrics *r, char **out, size_t *len)
{
    if (!r || !out)
        return -EINVAL;
    /* Hooks and families are copied under the lock and used after it:
     * hooks may take their time, and families are only freed with r. */
    km__lock_acquire(&r->lock);
    size_t nh = r->nhooks, nf = r->nfams;
    km__hook *hooks = nh ? km__malloc(nh * sizeof *hooks) : NULL;
    km_metric **fams = nf ? km__malloc(nf * sizeof *fams) : NULL;
    if (hooks)
        memcpy(hooks, r->hooks, nh * sizeof *hooks);
    if (fams)
        memcpy(fams, r->fams, nf * sizeof *fams);
    km__lock_release(&r->lock);
    int rc = 0;
    if ((nh && !hooks) || (nf && !fams))
        rc = -ENOMEM;
    for (size_t i = 0; i < nh && !rc; i++)
        hooks[i].fn(r, hooks[i].ud);
    km__mbuf b = { 0 };
    if (!rc) {
        if (nf)
            qsort(fams, nf, sizeof *fams, cmp_family);
        km__mbuf_put(&b, "", 0);    /* an empty registry still gives a string */
        for (size_t i = 0; i < nf && !rc; i++)
            rc = put_family(&b, fams[i]);
        if (!rc)
            rc = b.err;
    }
    km__free(hooks);
    km__free(fams);
    if (rc) {
        km__free(b.p);
        return rc;
    }
    *out = b.p;
    if (len)
        *len = b.n;
    return 0;
}

void km_metrics_text_free(char *text)
{
    km__free(text);
}
