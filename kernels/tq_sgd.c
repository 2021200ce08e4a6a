/* tq_sgd.c: parallel mini-batch SGD for logistic regression; see tq_sgd.h for the model,
 * the objective and the determinism argument.
 *
 * Layout of the work. A "pass" visits the blocks this rank owns (fixed partition of
 * tq_common.h), each block's rows [lo_b, hi_b) cut into `R` slices; pass r of R visits
 * slice r of every block. Blocks are grouped into chunks (all of them when the rows are
 * in memory; at most chunk_rows rows when streaming through data->read), each chunk's
 * slices are read by the calling thread and its blocks are then processed by OpenMP
 * threads, one block per thread at a time. A block's work writes only its own partial
 * vector, so results do not depend on which thread ran it; partials are summed in block
 * order by tq_comm_sum_blocks.
 *
 * Inner loop (per mini-batch of B training rows), with v_j = w_j / std_j and
 * c = b - sum_j v_j mean_j the raw-space model, so rows are never standardised:
 *     z_i = c + v . x_i,  g_i = c_i (sigma(z_i) - y_i),
 *     A_j = sum_i g_i x_ij,  S = sum_i g_i,
 *     d F / d w_j ~ (A_j - mean_j S) / std_j / (B cbar) + l2 w_j,   d F / d b ~ S / (B cbar)
 * (cbar = mean class weight of training rows, so the estimate is unbiased for F).
 * Cost per row: 2d multiply-adds in float; per batch O(d) for the AdaGrad/Adam step. */
#include "tq_sgd.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TQ_SGD_ROWS_PER_THREAD 32768

/* Row roles, computed once from the labels: the training loop needs no labels. */
enum { ROLE_TRAIN_NEG = 0, ROLE_TRAIN_POS = 1, ROLE_VAL_NEG = 2, ROLE_VAL_POS = 3,
       ROLE_UNLABELLED = 4 };

void tq_sgd_defaults(tq_sgd_params *p)
{
    p->mode = TQ_SGD_DETERMINISTIC;
    p->progress = NULL;     /* no progress bar */
    p->progress_ctx = NULL;
    p->optimizer = TQ_SGD_ADAGRAD;
    p->lr = 0.2;
    p->l2 = 1e-6;
    p->l1 = 0.0;
    p->epochs = 20;
    p->batch = 64;
    p->rounds = 2;
    p->val = 0.2;
    p->seed = 1;
    p->pos_weight = 1.0;
    p->neg_weight = 1.0;
    p->patience = 2;
    p->tol = 1e-5;
    p->chunk_rows = 1 << 20;
    p->average = 1;
}

const char *tq_sgd_check(const tq_sgd_params *p)
{
    if (p->mode != TQ_SGD_DETERMINISTIC && p->mode != TQ_SGD_FAST)
        return "mode must be deterministic or fast";
    if (p->optimizer != TQ_SGD_ADAGRAD && p->optimizer != TQ_SGD_ADAM)
        return "optimizer must be adagrad or adam";
    if (!(p->lr > 0 && p->lr <= 100)) return "lr must be in (0, 100]";
    if (!(p->l2 >= 0 && p->l2 <= 1e3)) return "l2 must be in [0, 1000]";
    if (!(p->l1 >= 0 && p->l1 <= 1e3)) return "l1 must be in [0, 1000]";
    if (p->epochs < 1 || p->epochs > 100000) return "epochs must be in [1, 100000]";
    if (p->batch < 1 || p->batch > 256) return "batch must be in [1, 256]";
    if (p->rounds < 1 || p->rounds > 4096) return "rounds must be in [1, 4096]";
    if (!(p->val >= 0 && p->val <= 0.9)) return "val must be in [0, 0.9]";
    if (!isfinite(p->pos_weight) || !isfinite(p->neg_weight))
        return "class weights must be finite";
    if (p->patience < 1) return "patience must be >= 1";
    if (!(p->tol >= 0 && p->tol < 1)) return "tol must be in [0, 1)";
    if (p->chunk_rows < 1) return "chunk_rows must be >= 1";
    if (p->average != 0 && p->average != 1) return "average must be 0 or 1";
    return NULL;
}

int tq_sgd_model_alloc(tq_sgd_model *m, int d)
{
    memset(m, 0, sizeof *m);
    m->d = d;
    m->w = calloc((size_t)(d > 0 ? d : 1), sizeof *m->w);
    m->mean = calloc((size_t)(d > 0 ? d : 1), sizeof *m->mean);
    m->std = calloc((size_t)(d > 0 ? d : 1), sizeof *m->std);
    if (!m->w || !m->mean || !m->std) {
        tq_sgd_model_free(m);
        return TQ_ENOMEM;
    }
    for (int j = 0; j < d; j++) m->std[j] = 1.0;
    return TQ_OK;
}

void tq_sgd_model_free(tq_sgd_model *m)
{
    if (!m) return;
    free(m->w);
    free(m->mean);
    free(m->std);
    m->w = m->mean = m->std = NULL;
}

void tq_sgd_report_free(tq_sgd_report *r)
{
    if (!r) return;
    free(r->hist_loss);
    free(r->hist_time);
    r->hist_loss = r->hist_time = NULL;
}

/* ---- numerics ------------------------------------------------------------------------ */

/* log(1 + e^-|z|) + max(z, 0) - y z: the log-loss of label y at logit z, without
 * overflow for any z. */
static inline double logloss(double z, int y)
{
    return log1p(exp(-fabs(z))) + (z > 0 ? z : 0) - (y ? z : 0);
}

static inline double sigmoid(double z)
{
    return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
}

static inline float sigmoidf(float z)
{
    return 1.0f / (1.0f + expf(-z));
}

/* Dot products with a summation order fixed by d alone. `#pragma omp simd reduction`
 * is not enough: the compiler may peel iterations until the data is aligned, and
 * the peel depends on the address, i.e. on which rank or buffer holds the row. Here
 * the lanes are explicit (LANES independent partial sums, combined by a fixed tree),
 * which the compiler turns into full-width vector instructions without reordering. */
#define F_LANES 16
#define D_LANES 8

static inline float dotf(const float *restrict a, const float *restrict b, int d)
{
    float acc[F_LANES] = {0};
    int j = 0;
    for (; j + F_LANES <= d; j += F_LANES)
        for (int k = 0; k < F_LANES; k++) acc[k] += a[j + k] * b[j + k];
    float tail = 0.0f;
    for (; j < d; j++) tail += a[j] * b[j];
    for (int w = F_LANES / 2; w > 0; w /= 2)
        for (int k = 0; k < w; k++) acc[k] += acc[k + w];
    return acc[0] + tail;
}

/* sum_j a[j] * b[j], a double, b float, fixed order (as dotf). */
static inline double dot_df(const double *restrict a, const float *restrict b, int d)
{
    double acc[D_LANES] = {0};
    int j = 0;
    for (; j + D_LANES <= d; j += D_LANES)
        for (int k = 0; k < D_LANES; k++) acc[k] += a[j + k] * (double)b[j + k];
    double tail = 0.0;
    for (; j < d; j++) tail += a[j] * (double)b[j];
    for (int w = D_LANES / 2; w > 0; w /= 2)
        for (int k = 0; k < w; k++) acc[k] += acc[k + w];
    return acc[0] + tail;
}

/* sum_j a[j] * b[j], doubles, fixed order. */
static inline double dot_dd(const double *restrict a, const double *restrict b, int d)
{
    double acc[D_LANES] = {0};
    int j = 0;
    for (; j + D_LANES <= d; j += D_LANES)
        for (int k = 0; k < D_LANES; k++) acc[k] += a[j + k] * b[j + k];
    double tail = 0.0;
    for (; j < d; j++) tail += a[j] * b[j];
    for (int w = D_LANES / 2; w > 0; w /= 2)
        for (int k = 0; k < w; k++) acc[k] += acc[k + w];
    return acc[0] + tail;
}

/* ---- run state ----------------------------------------------------------------------- */

/* Optimiser state of one model (a block's or a thread's): w (d), b, first and second
 * moment accumulators over the d+1 coordinates (AdaGrad uses s2 only), step count. */
typedef struct {
    double *w;      /* d */
    double b;
    double *s1;     /* d+1: Adam first moment */
    double *s2;     /* d+1: AdaGrad sum of g^2 / Adam second moment */
    double t;       /* Adam step count */
    float *v;       /* d: raw-space weights w_j / std_j */
    float c;        /* raw-space intercept */
    float *acc;     /* d: batch gradient accumulator */
    double rows;    /* training rows visited since the last average */
    double *wa;     /* d+1: sum of the iterates (w, b) after each step since the last average */
    double na;      /* steps summed in wa */
} state;

typedef struct {
    const tq_sgd_data *data;
    const tq_sgd_params *p;
    const tq_comm *comm;
    int d;
    tq_blocks bl;
    int64_t b0, b1, lo, hi;   /* this rank's blocks and rows */
    int8_t *role;             /* hi-lo roles */
    double *mean, *std, *istd;  /* d: standardisation, istd = 1 / std */
    double wpos, wneg, cbar;  /* class weights, mean weight over training rows */
    state common;             /* the averaged model */
    state *thr;               /* one per thread (scratch, or the fast-mode models) */
    double **thr_vd;          /* one d-vector per thread (scratch of state_raw) */
    int nthr;
    float *xbuf;              /* streaming buffer, chunk_rows x d */
    int8_t *ybuf;
    int64_t bufrows;
    /* first bad value found by the statistics pass (global row, column; INT64_MAX none) */
    int64_t bad_row;
    int bad_col;
    int bad_label;            /* the bad value was a label (not a feature) */
    double bad_value;
} run;

static int state_alloc(state *s, int d)
{
    memset(s, 0, sizeof *s);
    size_t n = (size_t)d + 1;
    s->w = calloc(n, sizeof *s->w);
    s->s1 = calloc(n, sizeof *s->s1);
    s->s2 = calloc(n, sizeof *s->s2);
    s->v = calloc(n, sizeof *s->v);
    s->acc = calloc(n, sizeof *s->acc);
    s->wa = calloc(n, sizeof *s->wa);
    return (s->w && s->s1 && s->s2 && s->v && s->acc && s->wa) ? TQ_OK : TQ_ENOMEM;
}

static void state_free(state *s)
{
    free(s->w);
    free(s->s1);
    free(s->s2);
    free(s->v);
    free(s->acc);
    free(s->wa);
    memset(s, 0, sizeof *s);
}

static void state_copy(state *dst, const state *src, int d)
{
    memcpy(dst->w, src->w, (size_t)d * sizeof *dst->w);
    memcpy(dst->s1, src->s1, (size_t)(d + 1) * sizeof *dst->s1);
    memcpy(dst->s2, src->s2, (size_t)(d + 1) * sizeof *dst->s2);
    dst->b = src->b;
    dst->t = src->t;
    dst->rows = 0;
    memset(dst->wa, 0, (size_t)(d + 1) * sizeof *dst->wa);
    dst->na = 0;
}

/* v = w / std, c = b - v . mean (float copies for the inner loop). */
static void state_raw(state *s, const run *st)
{
    const double *restrict w = s->w, *restrict istd = st->istd;
    double *restrict vd = st->thr_vd[omp_get_thread_num()];
    float *restrict v = s->v;
#pragma omp simd
    for (int j = 0; j < st->d; j++) {
        vd[j] = w[j] * istd[j];
        v[j] = (float)vd[j];
    }
    s->c = (float)(s->b - dot_dd(vd, st->mean, st->d));
}

/* Length of the partial vector of a model: rows, rows*w (d), rows*b, rows*s1 (d+1),
 * rows*s2 (d+1), rows*t, rows*(mean iterate) (d+1). */
static int64_t state_m(int d) { return 1 + d + 1 + 3 * (int64_t)(d + 1) + 1; }

static void state_put(const state *s, int d, double *part)
{
    double r = s->rows;
    int64_t k = 0;
    part[k++] = r;
    for (int j = 0; j < d; j++) part[k++] = r * s->w[j];
    part[k++] = r * s->b;
    for (int j = 0; j <= d; j++) part[k++] = r * s->s1[j];
    for (int j = 0; j <= d; j++) part[k++] = r * s->s2[j];
    part[k++] = r * s->t;
    for (int j = 0; j <= d; j++)
        part[k++] = r * (s->na > 0 ? s->wa[j] / s->na : (j < d ? s->w[j] : s->b));
}

/* common = row-weighted average of the summed partials; unchanged if no rows. */
static void state_get(state *s, int d, const double *sum)
{
    double r = sum[0];
    if (!(r > 0)) return;
    int64_t k = 1;
    for (int j = 0; j < d; j++) s->w[j] = sum[k++] / r;
    s->b = sum[k++] / r;
    for (int j = 0; j <= d; j++) s->s1[j] = sum[k++] / r;
    for (int j = 0; j <= d; j++) s->s2[j] = sum[k++] / r;
    s->t = sum[k++] / r;
    for (int j = 0; j <= d; j++) s->wa[j] = sum[k++] / r;   /* the round's mean iterate */
    s->na = 1;
}

/* One optimiser step from the batch accumulators (acc, S over nb rows). Written as
 * branch-free loops over the d coordinates so that they vectorise (sqrt, divide). */
static void state_step(state *s, const run *st, double S, int nb)
{
    const tq_sgd_params *p = st->p;
    const int d = st->d;
    const double scale = 1.0 / ((double)nb * st->cbar);
    const double eps = 1e-8, lr = p->lr, l2 = p->l2, l1 = p->l1;
    double *restrict w = s->w, *restrict s1 = s->s1, *restrict s2 = s->s2;
    const double *restrict istd = st->istd, *restrict mean = st->mean;
    const float *restrict acc = s->acc;
    const double gb = S * scale;
    if (p->optimizer == TQ_SGD_ADAGRAD) {
#pragma omp simd
        for (int j = 0; j < d; j++) {
            double g = ((double)acc[j] - mean[j] * S) * istd[j] * scale + l2 * w[j];
            s2[j] += g * g;
            double eta = lr / (sqrt(s2[j]) + eps);
            double x = w[j] - eta * g, t = eta * l1;
            /* proximal step of l1 |w| (a no-op when l1 = 0) */
            w[j] = x > t ? x - t : (x < -t ? x + t : 0.0);
        }
        s2[d] += gb * gb;
        s->b -= lr / (sqrt(s2[d]) + eps) * gb;
    } else { /* Adam (Kingma & Ba, ICLR 2015), beta1 0.9, beta2 0.999 */
        const double b1 = 0.9, b2 = 0.999;
        s->t += 1.0;
        const double c1 = 1.0 / (1.0 - pow(b1, s->t)), c2 = 1.0 / (1.0 - pow(b2, s->t));
#pragma omp simd
        for (int j = 0; j < d; j++) {
            double g = ((double)acc[j] - mean[j] * S) * istd[j] * scale + l2 * w[j];
            s1[j] = b1 * s1[j] + (1 - b1) * g;
            s2[j] = b2 * s2[j] + (1 - b2) * g * g;
            double eta = lr / (sqrt(s2[j] * c2) + eps);
            double x = w[j] - eta * s1[j] * c1, t = eta * l1;
            w[j] = x > t ? x - t : (x < -t ? x + t : 0.0);
        }
        s1[d] = b1 * s1[d] + (1 - b1) * gb;
        s2[d] = b2 * s2[d] + (1 - b2) * gb * gb;
        s->b -= lr / (sqrt(s2[d] * c2) + eps) * s1[d] * c1;
    }
    if (p->average) { /* Polyak-Ruppert: sum the iterates for the read-out model */
        double *restrict wa = s->wa;
#pragma omp simd
        for (int j = 0; j < d; j++) wa[j] += w[j];
        wa[d] += s->b;
        s->na += 1;
    }
    state_raw(s, st);
}

/* SGD over the training rows of one slice: rows [s0, s1) (global), x their features.
 * A mini-batch is handled in three sweeps over its (L1-resident) rows: all logits
 * (independent dot products, so the out-of-order core overlaps them), all gradients,
 * then the accumulation; the order of every sum is fixed.
 * Cost: 2d float multiply-adds per training row, O(d) per batch. */
static void sgd_slice(state *s, const run *st, int64_t s0, int64_t s1, const float *x)
{
    enum { MAXB = 256 };
    const int d = st->d, B = st->p->batch < MAXB ? st->p->batch : MAXB;
    const float wneg = (float)st->wneg, wpos = (float)st->wpos;
    const int8_t *role = st->role + (s0 - st->lo);
    const float *rows[MAXB];
    float z[MAXB], lab[MAXB];
    int64_t i = 0, n = s1 - s0;
    while (i < n) {
        int nb = 0;
        for (; i < n && nb < B; i++) {
            int r = role[i];
            if (r > ROLE_TRAIN_POS) continue;
            rows[nb] = x + i * d;
            lab[nb++] = (float)r;
        }
        if (nb == 0) break;
        const float *v = s->v;
        for (int k = 0; k < nb; k++) z[k] = s->c + dotf(v, rows[k], d);
        double S = 0.0;
        for (int k = 0; k < nb; k++) {
            z[k] = (sigmoidf(z[k]) - lab[k]) * (lab[k] > 0 ? wpos : wneg);
            S += z[k];
        }
        float *restrict acc = s->acc;
        memset(acc, 0, (size_t)d * sizeof *acc);
        for (int k = 0; k < nb; k++) {
            const float *restrict xk = rows[k];
            const float g = z[k];
#pragma omp simd
            for (int j = 0; j < d; j++) acc[j] += g * xk[j];
        }
        s->rows += nb;
        state_step(s, st, S, nb);
    }
}

/* ---- passes ------------------------------------------------------------------------- */

typedef enum { PASS_MEAN, PASS_VAR, PASS_TRAIN, PASS_EVAL, PASS_OBJ } pass_kind;

typedef struct {
    pass_kind kind;
    int r, R;                 /* slice r of R */
    double *parts;            /* (b1-b0) x m partials */
    int64_t m;
    const tq_sgd_model *model;   /* PASS_OBJ model (standardised space) */
    int eval_train;           /* PASS_EVAL: evaluate training rows instead of validation */
    const double *rv;         /* PASS_EVAL model in raw space (model_raw) */
    double rc;
} pass;

/* Slice r of R of block b: global rows [*s0, *s1). */
static void slice_of(const run *st, int64_t b, int r, int R, int64_t *s0, int64_t *s1)
{
    int64_t lo = tq_block_lo(&st->bl, b), hi = tq_block_hi(&st->bl, b), len = hi - lo;
    *s0 = lo + len * r / R;
    *s1 = lo + len * (r + 1) / R;
}

/* Standardised-space logit of raw row x under model m (double, fixed order): the
 * definition, used by the objective. */
static inline double model_logit(const tq_sgd_model *m, const float *x)
{
    double z = m->b;
    for (int j = 0; j < m->d; j++) z += m->w[j] * (((double)x[j] - m->mean[j]) / m->std[j]);
    return z;
}

/* The same model in raw feature space: z = c + sum_j v_j x_j, v_j = w_j / std_j,
 * c = b - sum_j v_j mean_j (saves a divide per feature when scoring). */
static void model_raw(const tq_sgd_model *m, double *v, double *c)
{
    for (int j = 0; j < m->d; j++) v[j] = m->w[j] / m->std[j];
    *c = m->b - dot_dd(v, m->mean, m->d);
}

static inline double raw_logit(const double *restrict v, double c, const float *restrict x, int d)
{
    return c + dot_df(v, x, d);
}

/* acc += x and acc += (x - mean)^2, elementwise (restrict: the build uses
 * -fno-strict-aliasing, so without it these loops would not vectorise). */
static inline void add_row(double *restrict acc, const float *restrict x, int d)
{
#pragma omp simd
    for (int j = 0; j < d; j++) acc[j] += (double)x[j];
}

static inline void add_sq(double *restrict acc, const float *restrict x,
                          const double *restrict mean, int d)
{
#pragma omp simd
    for (int j = 0; j < d; j++) {
        double t = (double)x[j] - mean[j];
        acc[j] += t * t;
    }
}

/* The work of one block slice for every pass kind except training. */
static void block_work(run *st, const pass *ps, int64_t b, int64_t s0, int64_t s1,
                       const float *x, const int8_t *y)
{
    const int d = st->d;
    double *part = ps->parts + (b - st->b0) * ps->m;
    memset(part, 0, (size_t)ps->m * sizeof *part);
    if (ps->kind == PASS_MEAN) {
        /* roles, label and NaN checks; part = [n_train_neg, n_train_pos, n_val_neg,
         * n_val_pos, n_unl, sum of training x (d)] */
        const tq_sgd_params *p = st->p;
        for (int64_t i = 0; i < s1 - s0; i++) {
            int64_t g = s0 + i;
            int lab = y[i], r;
            if (lab != -1 && lab != 0 && lab != 1) {
#pragma omp critical(tq_sgd_bad)
                if (g < st->bad_row) {
                    st->bad_row = g; st->bad_col = -1; st->bad_label = 1; st->bad_value = lab;
                }
                r = ROLE_UNLABELLED;
            } else if (lab < 0) {
                r = ROLE_UNLABELLED;
            } else {
                int isval = p->val > 0 && tq_rand_uniform(p->seed, TQ_SGD_STREAM_VAL,
                                                          (uint64_t)g) < p->val;
                r = (isval ? ROLE_VAL_NEG : ROLE_TRAIN_NEG) + lab;
            }
            st->role[g - st->lo] = (int8_t)r;
            part[r] += 1.0;
            const float *xi = x + i * d;
            float probe = 0.0f;   /* NaN or Inf in the row makes the probe NaN */
#pragma omp simd reduction(+ : probe)
            for (int j = 0; j < d; j++) probe += xi[j] * 0.0f;
            for (int j = 0; j < d && probe != 0.0f; j++) {
                if (!isfinite(xi[j])) {
#pragma omp critical(tq_sgd_bad)
                    if (g < st->bad_row) {
                        st->bad_row = g; st->bad_col = j; st->bad_label = 0;
                        st->bad_value = xi[j];
                    }
                    break;
                }
            }
            if (r <= ROLE_TRAIN_POS) add_row(part + 5, xi, d);
        }
    } else if (ps->kind == PASS_VAR) {
        for (int64_t i = 0; i < s1 - s0; i++) {
            if (st->role[s0 + i - st->lo] > ROLE_TRAIN_POS) continue;
            add_sq(part, x + i * d, st->mean, d);
        }
    } else if (ps->kind == PASS_EVAL) {
        /* part = [sum c_i l_i, sum c_i] over validation (or training) rows */
        int lo_r = ps->eval_train ? ROLE_TRAIN_NEG : ROLE_VAL_NEG;
        for (int64_t i = 0; i < s1 - s0; i++) {
            int r = st->role[s0 + i - st->lo];
            if (r < lo_r || r > lo_r + 1) continue;
            int lab = r - lo_r;
            double c = lab ? st->wpos : st->wneg;
            part[0] += c * logloss(raw_logit(ps->rv, ps->rc, x + i * d, d), lab);
            part[1] += c;
        }
    } else if (ps->kind == PASS_OBJ) {
        /* part = [sum c_i l_i, sum c_i g_i u_i (d), sum c_i g_i] over training rows */
        const tq_sgd_model *m = ps->model;
        for (int64_t i = 0; i < s1 - s0; i++) {
            int r = st->role[s0 + i - st->lo];
            if (r > ROLE_TRAIN_POS) continue;
            const float *xi = x + i * d;
            double z = model_logit(m, xi), c = r ? st->wpos : st->wneg;
            double g = c * (sigmoid(z) - r);
            part[0] += c * logloss(z, r);
            for (int j = 0; j < d; j++) part[1 + j] += g * (((double)xi[j] - m->mean[j]) / m->std[j]);
            part[1 + d] += g;
        }
    }
}

/* Run one pass over this rank's blocks (slice ps->r of ps->R), chunk by chunk.
 * Deterministic training: block b starts from st->common and leaves its averaged-to-be
 * model in its partial. Fast training: thread t continues st->thr[t]. */
static int run_pass(run *st, pass *ps, char *msg, size_t msgsize)
{
    const tq_sgd_data *data = st->data;
    const int d = st->d;
    int status = TQ_OK;
    int64_t b = st->b0;
    while (b < st->b1) {
        /* chunk: blocks [b, e) */
        int64_t e = b, rows = 0;
        if (data->x) {
            e = st->b1;
        } else {
            while (e < st->b1) {
                int64_t s0, s1;
                slice_of(st, e, ps->r, ps->R, &s0, &s1);
                if (e > b && rows + (s1 - s0) > st->bufrows) break;
                rows += s1 - s0;
                e++;
            }
            /* read the slices into the buffer, consecutively; whole blocks (R = 1) are
             * contiguous rows, read with one call */
            int64_t off = 0;
            if (ps->R == 1 && rows > 0) {
                int64_t r0 = tq_block_lo(&st->bl, b);
                status = data->read(data->ctx, r0, r0 + rows, st->xbuf, st->ybuf, msg, msgsize);
                if (status != TQ_OK) goto done;
            }
            for (int64_t k = b; k < e && ps->R > 1; k++) {
                int64_t s0, s1;
                slice_of(st, k, ps->r, ps->R, &s0, &s1);
                if (s1 > s0) {
                    status = data->read(data->ctx, s0, s1, st->xbuf + off * d, st->ybuf + off,
                                        msg, msgsize);
                    if (status != TQ_OK) goto done;
                }
                off += s1 - s0;
            }
        }
        /* offsets of each block's slice in the buffer */
        int64_t nbk = e - b;
        int fast = ps->kind == PASS_TRAIN && st->p->mode == TQ_SGD_FAST;
        /* no more threads than blocks, and at least TQ_SGD_ROWS_PER_THREAD rows each:
         * below that (~1 ms of work) fork/join and barrier waits cost more than they
         * save, badly so on a loaded machine (measured: 7,000 rows x 100 features took
         * 3.5x longer on 2 threads than on 1). Results do not depend on nt. */
        int64_t chunk_rows = tq_block_hi(&st->bl, e - 1) - tq_block_lo(&st->bl, b);
        int64_t by_rows = chunk_rows / ps->R / TQ_SGD_ROWS_PER_THREAD;
        int nt = nbk < st->nthr ? (int)nbk : st->nthr;
        if (by_rows < nt) nt = by_rows > 1 ? (int)by_rows : 1;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1)
        for (int64_t k = 0; k < nbk; k++) {
            int64_t blk = b + k, s0, s1;
            slice_of(st, blk, ps->r, ps->R, &s0, &s1);
            const float *x;
            const int8_t *y;
            if (data->x) {
                x = data->x + (s0 - st->lo) * d;
                y = data->y ? data->y + (s0 - st->lo) : NULL;
            } else {
                int64_t off = 0;   /* slices before this one in the chunk */
                for (int64_t q = b; q < blk; q++) {
                    int64_t a0, a1;
                    slice_of(st, q, ps->r, ps->R, &a0, &a1);
                    off += a1 - a0;
                }
                x = st->xbuf + off * d;
                y = st->ybuf + off;
            }
            if (ps->kind != PASS_TRAIN) {
                block_work(st, ps, blk, s0, s1, x, y);
            } else if (fast) {
                sgd_slice(&st->thr[omp_get_thread_num()], st, s0, s1, x);
            } else {
                state *s = &st->thr[omp_get_thread_num()];
                state_copy(s, &st->common, d);
                state_raw(s, st);
                sgd_slice(s, st, s0, s1, x);
                state_put(s, d, ps->parts + (blk - st->b0) * ps->m);
            }
        }
        b = e;
    }
done:
    return status;
}

/* Sum the partials of a pass in block order (over ranks). */
static int reduce(run *st, const pass *ps, double *out)
{
    return tq_comm_sum_blocks(st->comm, &st->bl, ps->parts, ps->m, out);
}

static void run_free(run *st)
{
    free(st->role);
    free(st->mean);
    free(st->std);
    free(st->istd);
    state_free(&st->common);
    if (st->thr)
        for (int t = 0; t < st->nthr; t++) state_free(&st->thr[t]);
    free(st->thr);
    if (st->thr_vd)
        for (int t = 0; t < st->nthr; t++) free(st->thr_vd[t]);
    free(st->thr_vd);
    free(st->xbuf);
    free(st->ybuf);
}

/* Set up the run: partition, buffers, then the statistics passes (roles, counts, NaN and
 * label checks, mean and std of training rows, class weights). */
static int run_init(run *st, const tq_sgd_data *data, const tq_sgd_params *p,
                    const tq_comm *comm, int need_train, char *msg, size_t msgsize,
                    int64_t counts[5], double *parts_out[1])
{
    int status = TQ_OK;
    const int d = data->d;
    double *parts = NULL, *sum = NULL;
    memset(st, 0, sizeof *st);
    st->data = data;
    st->p = p;
    st->comm = comm;
    st->d = d;
    st->bad_row = INT64_MAX;
    tq_blocks_init(&st->bl, data->n);
    tq_blocks_of_rank(&st->bl, tq_comm_rank(comm), tq_comm_size(comm), &st->b0, &st->b1,
                      &st->lo, &st->hi);
    if (data->lo != st->lo || data->hi != st->hi || d < 1 || (!data->x && !data->read) ||
        (data->x && !data->y)) {
        snprintf(msg, msgsize,
                 "sgd: rows [%lld, %lld) with d=%d are not this rank's block rows [%lld, %lld)"
                 " or no row source",
                 (long long)data->lo, (long long)data->hi, d, (long long)st->lo,
                 (long long)st->hi);
        status = TQ_EINVAL;
        goto done;
    }
    st->nthr = tq_threads();
    if (st->nthr < 1) st->nthr = 1;
    st->role = malloc((size_t)(st->hi - st->lo + 1));
    st->mean = calloc((size_t)d, sizeof *st->mean);
    st->std = calloc((size_t)d, sizeof *st->std);
    st->istd = calloc((size_t)d, sizeof *st->istd);
    st->thr = calloc((size_t)st->nthr, sizeof *st->thr);
    if (!st->role || !st->mean || !st->std || !st->istd || !st->thr) { status = TQ_ENOMEM; goto done; }
    st->thr_vd = calloc((size_t)st->nthr, sizeof *st->thr_vd);
    if (!st->thr_vd) { status = TQ_ENOMEM; goto done; }
    for (int t = 0; t < st->nthr; t++) {
        if ((status = state_alloc(&st->thr[t], d)) != TQ_OK) goto done;
        if (!(st->thr_vd[t] = calloc((size_t)d, sizeof **st->thr_vd))) { status = TQ_ENOMEM; goto done; }
    }
    if ((status = state_alloc(&st->common, d)) != TQ_OK) goto done;
    if (!data->x) {
        st->bufrows = p->chunk_rows > st->bl.size ? p->chunk_rows : st->bl.size;
        st->xbuf = malloc((size_t)(st->bufrows * d) * sizeof *st->xbuf);
        st->ybuf = malloc((size_t)st->bufrows);
        if (!st->xbuf || !st->ybuf) { status = TQ_ENOMEM; goto done; }
    }
    int64_t m = 5 + d + state_m(d);   /* big enough for every pass */
    parts = calloc((size_t)((st->b1 - st->b0 + 1) * m), sizeof *parts);
    sum = calloc((size_t)m, sizeof *sum);
    if (!parts || !sum) { status = TQ_ENOMEM; goto done; }

    /* pass 1: roles, counts, checks, sums */
    pass ps = {PASS_MEAN, 0, 1, parts, 5 + d, NULL, 0, NULL, 0};
    if ((status = run_pass(st, &ps, msg, msgsize)) != TQ_OK) goto done;
    /* the first bad value over all ranks */
    double bad = (double)st->bad_row;
    if ((status = tq_comm_min_f64(comm, &bad, 1)) != TQ_OK) goto done;
    if (bad < (double)INT64_MAX) {
        int mine = (double)st->bad_row == bad;
        double info[3] = {mine ? st->bad_col : -1e300, mine ? st->bad_label : -1e300,
                          mine ? st->bad_value : -1e300};
        /* the owner's values win the max (NaN cannot be sent through max: use a flag) */
        int isnan_v = mine && isnan(st->bad_value);
        if ((status = tq_comm_max_f64(comm, info, 3)) != TQ_OK) goto done;
        if ((status = tq_comm_any(comm, &isnan_v)) != TQ_OK) goto done;
        if (info[1] > 0.5)
            snprintf(msg, msgsize, "row %lld, column label: value %g is not 1, 0 or -1",
                     (long long)bad + 1, info[2]);
        else
            snprintf(msg, msgsize, "row %lld, feature column %d: value %s is not finite",
                     (long long)bad + 1, (int)info[0] + 1,
                     isnan_v ? "nan" : (info[2] > 0 ? "inf" : "-inf"));
        status = TQ_EINVAL;
        goto done;
    }
    if ((status = reduce(st, &ps, sum)) != TQ_OK) goto done;
    for (int k = 0; k < 5; k++) counts[k] = (int64_t)sum[k];
    int64_t ntr = counts[0] + counts[1];
    if (need_train && ntr == 0) {
        snprintf(msg, msgsize,
                 "no labelled training rows (%lld rows, %lld unlabelled, %lld held out for"
                 " validation): label must be 0 or 1 on some rows",
                 (long long)data->n, (long long)counts[4], (long long)(counts[2] + counts[3]));
        status = TQ_EINVAL;
        goto done;
    }
    if (need_train && (counts[0] == 0 || counts[1] == 0)) {
        snprintf(msg, msgsize,
                 "training rows have only one class (%lld with label 1, %lld with label 0):"
                 " a logistic model needs both",
                 (long long)counts[1], (long long)counts[0]);
        status = TQ_EINVAL;
        goto done;
    }
    for (int j = 0; j < d; j++) st->mean[j] = ntr > 0 ? sum[5 + j] / (double)ntr : 0.0;

    /* pass 2: variance about the mean (two passes: no cancellation) */
    ps = (pass){PASS_VAR, 0, 1, parts, d, NULL, 0, NULL, 0};
    if ((status = run_pass(st, &ps, msg, msgsize)) != TQ_OK) goto done;
    if ((status = reduce(st, &ps, sum)) != TQ_OK) goto done;
    for (int j = 0; j < d; j++) {
        double sd = ntr > 0 ? sqrt(sum[j] / (double)ntr) : 0.0;
        st->std[j] = sd > 1e-12 * (1.0 + fabs(st->mean[j])) ? sd : 1.0;
        st->istd[j] = 1.0 / st->std[j];
    }
    /* class weights: balanced when <= 0 */
    st->wpos = p->pos_weight > 0 ? p->pos_weight
                                 : (counts[1] ? (double)ntr / (2.0 * (double)counts[1]) : 1.0);
    st->wneg = p->neg_weight > 0 ? p->neg_weight
                                 : (counts[0] ? (double)ntr / (2.0 * (double)counts[0]) : 1.0);
    st->cbar = ntr > 0 ? (st->wpos * (double)counts[1] + st->wneg * (double)counts[0]) /
                             (double)ntr
                       : 1.0;
    parts_out[0] = parts;
    parts = NULL;
done:
    free(parts);
    free(sum);
    return status;
}

/* Weighted mean log-loss of the common model (validation rows, or training rows). */
static int eval_loss(run *st, double *parts, const tq_sgd_model *m, int train_rows,
                     double *loss, char *msg, size_t msgsize)
{
    double sum[2] = {0, 0};
    double *v = malloc((size_t)m->d * sizeof *v), c;
    if (!v) return TQ_ENOMEM;
    model_raw(m, v, &c);
    pass ps = {PASS_EVAL, 0, 1, parts, 2, m, train_rows, v, c};
    int status = run_pass(st, &ps, msg, msgsize);
    if (status == TQ_OK) status = reduce(st, &ps, sum);
    *loss = sum[1] > 0 ? sum[0] / sum[1] : NAN;
    free(v);
    return status;
}

int tq_sgd_train(const tq_sgd_data *data, const tq_sgd_params *p, const tq_comm *comm,
                 tq_sgd_model *model, tq_sgd_report *rep)
{
    int status = TQ_OK;
    run st;
    double *parts = NULL, *sum = NULL, *best_w = NULL, *ro = NULL;
    int64_t counts[5] = {0};
    const int d = data->d;
    memset(rep, 0, sizeof *rep);
    memset(model, 0, sizeof *model);
    double t0 = tq_now();
    const char *bad = tq_sgd_check(p);
    if (bad) {
        snprintf(rep->msg, sizeof rep->msg, "sgd parameters: %s", bad);
        memset(&st, 0, sizeof st);
        status = TQ_EINVAL;
        goto done;
    }
    status = run_init(&st, data, p, comm, 1, rep->msg, sizeof rep->msg, counts, &parts);
    if (status != TQ_OK) goto done;
    rep->n_train = counts[0] + counts[1];
    rep->n_val = counts[2] + counts[3];
    rep->n_pos = counts[1];
    rep->n_neg = counts[0];
    rep->n_unlabelled = counts[4];
    rep->pos_weight = st.wpos;
    rep->neg_weight = st.wneg;
    if ((status = tq_sgd_model_alloc(model, d)) != TQ_OK) goto done;
    memcpy(model->mean, st.mean, (size_t)d * sizeof *model->mean);
    memcpy(model->std, st.std, (size_t)d * sizeof *model->std);
    rep->t_stats = tq_now() - t0;

    const int64_t m = state_m(d);
    sum = calloc((size_t)m, sizeof *sum);
    best_w = calloc((size_t)d + 1, sizeof *best_w);
    rep->hist_loss = calloc((size_t)p->epochs, sizeof *rep->hist_loss);
    rep->hist_time = calloc((size_t)p->epochs, sizeof *rep->hist_time);
    if (!sum || !best_w || !rep->hist_loss || !rep->hist_time) { status = TQ_ENOMEM; goto done; }

    /* initial model: w = 0, b = log-odds of the (weighted) training base rate */
    st.common.b = log(st.wpos * (double)counts[1] / (st.wneg * (double)counts[0]));
    int use_val = rep->n_val > 0;
    double best = INFINITY;
    int since_best = 0;
    double t_train = 0, t_eval = 0;
    ro = calloc((size_t)d + 1, sizeof *ro);
    if (!ro) { status = TQ_ENOMEM; goto done; }
    for (int ep = 0; ep < p->epochs; ep++) {
        double ta = tq_now();
        if (p->progress) p->progress(p->progress_ctx, ep, p->epochs);
        memset(ro, 0, (size_t)(d + 1) * sizeof *ro);
        if (p->mode == TQ_SGD_FAST)
            for (int t = 0; t < st.nthr; t++) {
                state_copy(&st.thr[t], &st.common, d);
                state_raw(&st.thr[t], &st);
            }
        for (int r = 0; r < p->rounds; r++) {
            pass ps = {PASS_TRAIN, r, p->rounds, parts, m, NULL, 0, NULL, 0};
            if ((status = run_pass(&st, &ps, rep->msg, sizeof rep->msg)) != TQ_OK) goto done;
            if (p->mode == TQ_SGD_FAST) {
                /* this rank's thread models, summed in thread order into its first
                 * block's partial (not reproducible across thread counts) */
                memset(parts, 0, (size_t)((st.b1 - st.b0 + 1) * m) * sizeof *parts);
                double *tmp = parts + (st.b1 - st.b0) * m;
                for (int t = 0; t < st.nthr; t++) {
                    if (st.thr[t].rows <= 0) continue;
                    state_put(&st.thr[t], d, tmp);
                    for (int64_t k = 0; k < m; k++) parts[k] += tmp[k];
                }
                memset(tmp, 0, (size_t)m * sizeof *tmp);
            }
            if ((status = reduce(&st, &ps, sum)) != TQ_OK) goto done;
            rep->rows_processed += (int64_t)sum[0];
            state_get(&st.common, d, sum);
            for (int j = 0; j <= d; j++) ro[j] += st.common.wa[j];
            if (p->mode == TQ_SGD_FAST)
                for (int t = 0; t < st.nthr; t++) {
                    state_copy(&st.thr[t], &st.common, d);
                    state_raw(&st.thr[t], &st);
                }
        }
        double tb = tq_now();
        t_train += tb - ta;
        /* the read-out model: from the second epoch on (the first one's iterates still
         * carry the start), the mean of the epoch's iterates (Polyak & Juditsky 1992):
         * SGD keeps going from the last iterate, the average removes most of its noise */
        if (p->average && ep > 0) {
            for (int j = 0; j < d; j++) model->w[j] = ro[j] / p->rounds;
            model->b = ro[d] / p->rounds;
        } else {
            memcpy(model->w, st.common.w, (size_t)d * sizeof *model->w);
            model->b = st.common.b;
        }
        double loss;
        status = eval_loss(&st, parts, model, !use_val, &loss, rep->msg, sizeof rep->msg);
        if (status != TQ_OK) goto done;
        t_eval += tq_now() - tb;
        rep->hist_loss[ep] = loss;
        rep->hist_time[ep] = tq_now() - t0;
        rep->epochs_run = ep + 1;
        /* early stopping: a significant improvement (relative tol) resets the patience
         * counter; the best model so far is the one returned */
        if (loss < best) {
            since_best = (ep == 0 || loss < best * (1.0 - p->tol)) ? 0 : since_best + 1;
            best = loss;
            rep->best_epoch = ep + 1;
            memcpy(best_w, model->w, (size_t)d * sizeof *best_w);
            best_w[d] = model->b;
        } else {
            since_best++;
        }
        if (since_best >= p->patience) {
            rep->stopped_early = ep + 1 < p->epochs;
            break;
        }
    }
    memcpy(model->w, best_w, (size_t)d * sizeof *model->w);
    model->b = best_w[d];
    rep->val_logloss = best;
    rep->t_train = t_train;
    rep->t_eval = t_eval;
done:
    if (status != TQ_OK) tq_sgd_model_free(model);
    run_free(&st);
    free(parts);
    free(sum);
    free(best_w);
    free(ro);
    return status;
}

int tq_sgd_predict(const tq_sgd_model *m, const float *x, int64_t n, float *out)
{
    double *v = malloc((size_t)(m->d > 0 ? m->d : 1) * sizeof *v), c;
    if (!v) return TQ_ENOMEM;
    model_raw(m, v, &c);
    const int d = m->d;
#pragma omp parallel for schedule(static) num_threads(tq_threads()) if (n > 8192)
    for (int64_t i = 0; i < n; i++) out[i] = (float)sigmoid(raw_logit(v, c, x + i * d, d));
    free(v);
    return TQ_OK;
}

int tq_sgd_objective(const tq_sgd_data *data, const tq_sgd_params *p, const tq_comm *comm,
                     const tq_sgd_model *m, double *f, double *grad, char *msg,
                     size_t msgsize)
{
    run st;
    double *parts = NULL, *sum = NULL;
    int64_t counts[5];
    const int d = data->d;
    int status = run_init(&st, data, p, comm, 0, msg, msgsize, counts, &parts);
    if (status != TQ_OK) goto done;
    sum = calloc((size_t)d + 2, sizeof *sum);
    if (!sum) { status = TQ_ENOMEM; goto done; }
    pass ps = {PASS_OBJ, 0, 1, parts, d + 2, m, 0, NULL, 0};
    if ((status = run_pass(&st, &ps, msg, msgsize)) != TQ_OK) goto done;
    if ((status = reduce(&st, &ps, sum)) != TQ_OK) goto done;
    double C = st.wpos * (double)counts[1] + st.wneg * (double)counts[0];
    if (!(C > 0)) C = 1.0;
    double F = sum[0] / C;
    for (int j = 0; j < d; j++) {
        F += 0.5 * p->l2 * m->w[j] * m->w[j] + p->l1 * fabs(m->w[j]);
        grad[j] = sum[1 + j] / C + p->l2 * m->w[j] +
                  p->l1 * (m->w[j] > 0 ? 1.0 : (m->w[j] < 0 ? -1.0 : 0.0));
    }
    grad[d] = sum[1 + d] / C;
    *f = F;
done:
    run_free(&st);
    free(parts);
    free(sum);
    return status;
}
