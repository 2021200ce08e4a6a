/* tq_quota.h: quotas per territory that sum exactly to the company target and are fair.
 *
 * Model. For territory k let P_k be its potential (sum of value * score, or of value
 * when there is no score) and B_k its book (sum of value). The raw quota blends the two
 * shares:
 *     q0_k = T * (beta * P_k / sum P + (1 - beta) * B_k / sum B).
 * Fairness: a rep's required "attainment of potential" r_k = q_k / P_k must lie within
 * +-f of the company's r = T / sum P:  (1-f) r P_k <= q_k <= (1+f) r P_k.  The final
 * quota is the projection q_k = clamp(q0_k + mu * P_k, lo_k, hi_k) with the one mu that
 * makes sum q = T (found by bisection: the sum is monotone in mu; feasible because
 * q = r P satisfies every box). Quotas are then rounded to multiples of `unit` by the
 * largest-remainder method, so they sum to round(T / unit) * unit exactly.
 * Territories with no potential get quota 0 (reported). */
#ifndef TQ_QUOTA_H
#define TQ_QUOTA_H

#include <stdint.h>

#include "tq_comm.h"

typedef struct {
    double target;    /* company target T, currency units, > 0 */
    double beta;      /* weight of potential vs book in the raw quota, in [0,1] */
    double fairness;  /* f: allowed deviation of q_k / P_k from T / sum P, in [0,1]; 1 = off */
    double unit;      /* rounding unit of quotas, currency units, > 0 (1 = whole units) */
} tq_quota_params;

void tq_quota_defaults(tq_quota_params *p);
const char *tq_quota_check(const tq_quota_params *p);

typedef struct {
    int k;
    double *potential, *book;  /* k: P_k, B_k */
    double *raw;               /* k: q0_k */
    double *quota;             /* k: final quota (multiples of unit) */
    double *attainment;        /* k: quota_k / P_k (0 when P_k = 0) */
    double total;              /* sum of quotas (= rounded target) */
    double ratio_min, ratio_max, ratio_cv, gini; /* spread of attainment over k with P_k > 0 */
    int clamped;               /* territories at a fairness bound */
    int64_t unassigned;        /* accounts with territory < 0 (not counted) */
    int empty;                 /* territories without potential */
} tq_quota_result;

/* Per-territory sums over this rank's rows [lo, lo+nlocal) of the fixed block partition
 * of n (block order, bit-identical for any threads/ranks), then the quota model.
 * territory[i] in [0,k) or < 0 (ignored); score may be NULL. Collective.
 * Cost O(nlocal + nblocks*k + k*60). */
int tq_quota_compute(int64_t n, int64_t lo, int64_t nlocal, const int32_t *territory,
                     const float *value, const float *score, int k, const tq_quota_params *p,
                     const tq_comm *comm, tq_quota_result *res);

/* The model alone, from per-territory sums (used by the above and by tests). */
int tq_quota_from_sums(int k, const double *potential, const double *book,
                       const tq_quota_params *p, tq_quota_result *res);

void tq_quota_result_free(tq_quota_result *res);

#endif
