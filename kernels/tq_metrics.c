/* tq_metrics.c: see tq_metrics.h. */
#include "tq_metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tq_common.h"

typedef struct {
    float p;
    int8_t y;
    int64_t i;
} scored;

/* Descending score, then ascending row index: a total order, so results never depend
 * on the sort algorithm. */
static int cmp_desc(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* Sorted labelled rows into *out (caller frees); returns count or -1 (ENOMEM). */
static int64_t sorted_rows(const float *p, const int8_t *y, int64_t n, scored **out)
{
    scored *s = malloc((size_t)(n > 0 ? n : 1) * sizeof *s);
    if (!s) return -1;
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (y[i] == 0 || y[i] == 1) s[k++] = (scored){p[i], y[i], i};
    qsort(s, (size_t)k, sizeof *s, cmp_desc);
    *out = s;
    return k;
}

int tq_metrics_compute(const float *p, const int8_t *y, int64_t n, tq_metrics *m)
{
    int status = TQ_OK;
    scored *s = NULL;
    memset(m, 0, sizeof *m);
    for (int64_t i = 0; i < n; i++)
        if ((y[i] == 0 || y[i] == 1) && !(p[i] >= 0.0f && p[i] <= 1.0f)) {
            status = TQ_EINVAL;
            goto done;
        }
    int64_t k = sorted_rows(p, y, n, &s);
    if (k < 0) { status = TQ_ENOMEM; goto done; }
    m->n = k;
    double ll = 0, br = 0, sp[TQ_METRICS_BINS] = {0}, sy[TQ_METRICS_BINS] = {0};
    for (int64_t i = 0; i < k; i++) {
        double q = s[i].p, yy = s[i].y;
        double qc = q < 1e-15 ? 1e-15 : (q > 1 - 1e-15 ? 1 - 1e-15 : q);
        ll -= yy ? log(qc) : log1p(-qc);
        br += (q - yy) * (q - yy);
        m->n_pos += s[i].y;
        int bin = (int)(q * TQ_METRICS_BINS);
        if (bin >= TQ_METRICS_BINS) bin = TQ_METRICS_BINS - 1;
        m->cal_n[bin]++;
        sp[bin] += q;
        sy[bin] += yy;
    }
    for (int b = 0; b < TQ_METRICS_BINS; b++) {
        m->cal_mean_p[b] = m->cal_n[b] ? sp[b] / (double)m->cal_n[b] : NAN;
        m->cal_rate[b] = m->cal_n[b] ? sy[b] / (double)m->cal_n[b] : NAN;
    }
    m->logloss = k ? ll / (double)k : NAN;
    m->brier = k ? br / (double)k : NAN;
    m->base_rate = k ? (double)m->n_pos / (double)k : NAN;
    /* AUC: walk from the lowest score up, giving each tie group its mean (1-based) rank;
     * U = sum of positive ranks - n_pos (n_pos + 1) / 2. */
    int64_t npos = m->n_pos, nneg = k - npos;
    double rank_sum = 0;
    for (int64_t hi = k; hi > 0;) {
        int64_t lo = hi - 1, pos = 0;
        while (lo > 0 && s[lo - 1].p == s[hi - 1].p) lo--;
        for (int64_t i = lo; i < hi; i++) pos += s[i].y;
        /* ascending ranks of rows [lo, hi) of the descending order: k-hi+1 .. k-lo */
        double mid = ((double)(k - hi + 1) + (double)(k - lo)) / 2.0;
        rank_sum += mid * (double)pos;
        hi = lo;
    }
    m->auc = (npos && nneg) ? (rank_sum - (double)npos * (double)(npos + 1) / 2.0) /
                                  ((double)npos * (double)nneg)
                            : NAN;
    m->top_n = (k + 9) / 10;
    for (int64_t i = 0; i < m->top_n; i++) m->top_pos += s[i].y;
    m->lift10 = (m->top_n && npos) ? ((double)m->top_pos / (double)m->top_n) / m->base_rate
                                   : NAN;
done:
    free(s);
    return status;
}

int64_t tq_metrics_top_k_pos(const float *p, const int8_t *y, int64_t n, int64_t k)
{
    scored *s = NULL;
    int64_t cnt = sorted_rows(p, y, n, &s), pos = 0;
    if (cnt < 0) return -1;
    for (int64_t i = 0; i < k && i < cnt; i++) pos += s[i].y;
    free(s);
    return pos;
}
