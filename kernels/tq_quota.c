/* tq_quota.c: quota setting; the model is in tq_quota.h. */
#include "tq_quota.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void tq_quota_defaults(tq_quota_params *p)
{
    p->target = 0;      /* required */
    p->beta = 0.5;      /* half potential, half book */
    p->fairness = 0.15; /* attainment of potential within +-15% of the company's */
    p->unit = 1.0;      /* whole currency units */
}

const char *tq_quota_check(const tq_quota_params *p)
{
    if (!(p->target > 0) || !isfinite(p->target)) return "target must be a positive number";
    if (!(p->beta >= 0 && p->beta <= 1)) return "beta (weight of potential) must be in [0,1]";
    if (!(p->fairness >= 0 && p->fairness <= 1)) return "fairness must be in [0,1]";
    if (!(p->unit > 0) || !isfinite(p->unit)) return "rounding unit must be positive";
    if (p->target / p->unit > 9e15) return "target / unit is too large to round exactly";
    return NULL;
}

void tq_quota_result_free(tq_quota_result *r)
{
    if (!r) return;
    free(r->potential);
    free(r->book);
    free(r->raw);
    free(r->quota);
    free(r->attainment);
    memset(r, 0, sizeof *r);
}

static int alloc_result(tq_quota_result *r, int k)
{
    memset(r, 0, sizeof *r);
    size_t n = (size_t)(k > 0 ? k : 1);
    r->k = k;
    r->potential = calloc(n, sizeof(double));
    r->book = calloc(n, sizeof(double));
    r->raw = calloc(n, sizeof(double));
    r->quota = calloc(n, sizeof(double));
    r->attainment = calloc(n, sizeof(double));
    if (!r->potential || !r->book || !r->raw || !r->quota || !r->attainment) {
        tq_quota_result_free(r);
        return TQ_ENOMEM;
    }
    return TQ_OK;
}

static double sum_clamped(int k, const double *q0, const double *P, const double *lo,
                          const double *hi, double mu)
{
    double s = 0;
    for (int j = 0; j < k; j++) {
        double q = q0[j] + mu * P[j];
        s += q < lo[j] ? lo[j] : q > hi[j] ? hi[j] : q;
    }
    return s;
}

/* Gini coefficient of x[0..n) (sorted copy), in [0,1). */
static double gini(const double *x, int n)
{
    double *s = malloc((size_t)(n > 0 ? n : 1) * sizeof *s), num = 0, den = 0;
    if (!s || n < 2) {
        free(s);
        return 0;
    }
    memcpy(s, x, (size_t)n * sizeof *s);
    for (int i = 1; i < n; i++) { /* insertion sort: k is small */
        double v = s[i];
        int j = i - 1;
        while (j >= 0 && s[j] > v) { s[j + 1] = s[j]; j--; }
        s[j + 1] = v;
    }
    for (int i = 0; i < n; i++) {
        num += (2.0 * (i + 1) - n - 1) * s[i];
        den += s[i];
    }
    free(s);
    return den > 0 ? num / (n * den) : 0;
}

int tq_quota_from_sums(int k, const double *potential, const double *book,
                       const tq_quota_params *p, tq_quota_result *r)
{
    double sumP = 0, sumB = 0;
    double *lo = NULL, *hi = NULL, *frac = NULL;
    int *order = NULL, status = TQ_OK;
    if (alloc_result(r, k) != TQ_OK) return TQ_ENOMEM;
    for (int j = 0; j < k; j++) {
        r->potential[j] = potential[j];
        r->book[j] = book[j];
        sumP += potential[j];
        sumB += book[j];
    }
    if (!(sumP > 0) || !(sumB > 0)) return TQ_EINVAL;
    lo = malloc((size_t)k * sizeof *lo);
    hi = malloc((size_t)k * sizeof *hi);
    frac = malloc((size_t)k * sizeof *frac);
    order = malloc((size_t)k * sizeof *order);
    if (!lo || !hi || !frac || !order) {
        status = TQ_ENOMEM;
        goto done;
    }
    double T = p->target, rate = T / sumP;
    for (int j = 0; j < k; j++) {
        r->raw[j] = T * (p->beta * potential[j] / sumP + (1 - p->beta) * book[j] / sumB);
        lo[j] = (1 - p->fairness) * rate * potential[j];
        hi[j] = p->fairness >= 1 ? INFINITY : (1 + p->fairness) * rate * potential[j];
        if (p->fairness >= 1) lo[j] = 0;
        r->empty += potential[j] <= 0;
    }
    /* bisection for mu: sum_clamped is nondecreasing in mu; bracket then halve */
    /* (with fairness 0 every quota sits at its bound whatever mu is, and the clamped sum
     * may miss T by a rounding: the doublings are capped, or they would never end) */
    double a = -1, b = 1;
    for (int g = 0; g < 1100 && sum_clamped(k, r->raw, potential, lo, hi, a) > T; g++) a *= 2;
    for (int g = 0; g < 1100 && sum_clamped(k, r->raw, potential, lo, hi, b) < T; g++) b *= 2;
    if (!isfinite(a)) a = -DBL_MAX;
    if (!isfinite(b)) b = DBL_MAX;
    for (int it = 0; it < 200 && b - a > 1e-15 * (fabs(a) + fabs(b)); it++) {
        double m = 0.5 * (a + b);
        if (sum_clamped(k, r->raw, potential, lo, hi, m) < T) a = m;
        else b = m;
    }
    double mu = 0.5 * (a + b);
    /* largest remainder rounding to multiples of unit: sum = round(T/unit) units */
    int64_t want = llround(T / p->unit), have = 0;
    for (int j = 0; j < k; j++) {
        double q = r->raw[j] + mu * potential[j];
        q = q < lo[j] ? lo[j] : q > hi[j] ? hi[j] : q;
        double units = q / p->unit, fl = floor(units);
        r->quota[j] = fl;
        frac[j] = units - fl;
        have += (int64_t)fl;
        order[j] = j;
        r->clamped += potential[j] > 0 && (q <= lo[j] * (1 + 1e-12) || q >= hi[j] * (1 - 1e-12));
    }
    /* order by remainder, largest first; ties by index (deterministic) */
    for (int i = 1; i < k; i++) {
        int v = order[i], j = i - 1;
        while (j >= 0 && (frac[order[j]] < frac[v] || (frac[order[j]] == frac[v] && order[j] > v))) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = v;
    }
    for (int64_t extra = want - have, i = 0; extra > 0 && k > 0; extra--, i = (i + 1) % k)
        r->quota[order[i]] += 1;
    /* have > want only by bisection round-off: take units back from the smallest
     * remainders, never below zero (some quota is >= 1 since have > want >= 0) */
    for (int64_t extra = have - want, i = k - 1, guard = 0; extra > 0 && guard < 4 * (int64_t)k * (extra + 1);
         i = (i + k - 1) % k, guard++)
        if (r->quota[order[i]] >= 1) {
            r->quota[order[i]] -= 1;
            extra--;
        }
    r->total = 0;
    double *ratios = frac; /* reuse */
    int nr = 0;
    double s = 0, s2 = 0;
    r->ratio_min = INFINITY;
    r->ratio_max = 0;
    for (int j = 0; j < k; j++) {
        r->quota[j] *= p->unit;
        r->total += r->quota[j];
        r->attainment[j] = potential[j] > 0 ? r->quota[j] / potential[j] : 0;
        if (potential[j] > 0) {
            double x = r->attainment[j];
            ratios[nr++] = x;
            s += x;
            s2 += x * x;
            if (x < r->ratio_min) r->ratio_min = x;
            if (x > r->ratio_max) r->ratio_max = x;
        }
    }
    if (nr > 0) {
        double mean = s / nr, var = s2 / nr - mean * mean;
        r->ratio_cv = mean > 0 ? sqrt(var > 0 ? var : 0) / mean : 0;
        r->gini = gini(ratios, nr);
    } else {
        r->ratio_min = 0;
    }
done:
    free(lo);
    free(hi);
    free(frac);
    free(order);
    if (status != TQ_OK) tq_quota_result_free(r);
    return status;
}

int tq_quota_compute(int64_t n, int64_t lo, int64_t nlocal, const int32_t *territory,
                     const float *value, const float *score, int k, const tq_quota_params *p,
                     const tq_comm *comm, tq_quota_result *res)
{
    tq_blocks b;
    int64_t b0, b1, unassigned = 0;
    int status = TQ_OK;
    double *part = NULL, *sums = NULL;
    int64_t rlo, rhi;
    tq_blocks_init(&b, n);
    tq_blocks_of_rank(&b, tq_comm_rank(comm), tq_comm_size(comm), &b0, &b1, &rlo, &rhi);
    if (rlo != lo || rhi - rlo != nlocal) return TQ_EINVAL; /* not this rank's rows */
    int64_t m = 2 * (int64_t)k;
    part = calloc((size_t)((b1 - b0 > 0 ? b1 - b0 : 1) * m), sizeof *part);
    sums = calloc((size_t)(m > 0 ? m : 1), sizeof *sums);
    if (!part || !sums) {
        status = TQ_ENOMEM;
        goto done;
    }
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : unassigned)
    for (int64_t blk = b0; blk < b1; blk++) {
        double *row = part + (blk - b0) * m;
        for (int64_t g = tq_block_lo(&b, blk); g < tq_block_hi(&b, blk); g++) {
            int64_t i = g - lo;
            int32_t t = territory[i];
            if (t < 0 || t >= k) {
                unassigned++;
                continue;
            }
            double v = value[i];
            row[t] += score ? v * score[i] : v;
            row[k + t] += v;
        }
    }
    status = tq_comm_sum_blocks(comm, &b, part, m, sums);
    if (status == TQ_OK) status = tq_comm_sum_i64(comm, &unassigned, 1);
    if (status != TQ_OK) goto done;
    status = tq_quota_from_sums(k, sums, sums + k, p, res);
    if (status == TQ_OK) res->unassigned = unassigned;
done:
    free(part);
    free(sums);
    return status;
}
