/* tq_sgd.h: L2/L1-regularised logistic regression trained by parallel mini-batch SGD
 * with AdaGrad, on dense float32 features (docs/propensity.md).
 *
 * Model. Features are standardised with the mean and standard deviation of the
 * TRAINING rows (u_j = (x_j - mean_j) / std_j), and
 *     p(y = 1 | x) = sigma(b + sum_j w_j u_j),   sigma(z) = 1 / (1 + e^-z).
 * Objective (weighted mean log-loss plus penalties, on training rows T):
 *     F(w, b) = sum_{i in T} c_i l(y_i, z_i) / sum_{i in T} c_i
 *               + l2/2 ||w||^2 + l1 ||w||_1
 * with class weights c_i = pos_weight or neg_weight; the intercept is not penalised.
 *
 * Training (deterministic mode, the default). The rows are cut into the fixed blocks of
 * tq_common.h (sizes depend on N only) and every epoch into `rounds` rounds; in round r
 * every block starts from the common model, runs mini-batch AdaGrad (Duchi, Hazan &
 * Singer, JMLR 2011) over its r-th slice of rows, and the block models (and AdaGrad
 * accumulators) are averaged, weighted by rows, in block order (tq_comm_sum_blocks).
 * This is local SGD with periodic model averaging (Zinkevich et al., NIPS 2010;
 * McDonald et al., NAACL 2010 "iterative parameter mixing"); because each block's work
 * depends on the block only, the model is bit-identical for any thread or rank count.
 * From the second epoch on, the model read out (validated, returned) is the mean of the
 * epoch's iterates (Polyak & Juditsky, SIAM J. Control Optim. 1992); SGD continues from
 * the last iterate. Fast mode keeps one model per thread across the blocks it takes,
 * averaged at round ends: not reproducible across thread counts (and measured no faster
 * on 2 cores, bench/RESULTS.md).
 *
 * Rows are reached only through tq_sgd_data, by block slices, so the feature matrix can
 * be streamed from a file (out-of-core epochs) as well as held in memory.
 *
 * Hold-out: labelled row i (global index) is a validation row when
 * tq_rand_uniform(seed, TQ_SGD_STREAM_VAL, i) < val, so the split does not depend on
 * ranks. Rows labelled -1 are never trained on. Early stopping on validation log-loss. */
#ifndef TQ_SGD_H
#define TQ_SGD_H

#include <stddef.h>
#include <stdint.h>

#include "tq_comm.h"

enum { TQ_SGD_DETERMINISTIC = 0, TQ_SGD_FAST = 1 };
enum { TQ_SGD_ADAGRAD = 0, TQ_SGD_ADAM = 1 };
#define TQ_SGD_STREAM_VAL 0x76616cULL  /* RNG stream of the hold-out split ("val") */

typedef struct {
    int mode;            /* TQ_SGD_DETERMINISTIC (bit-identical for any threads/ranks) or TQ_SGD_FAST */
    int optimizer;       /* TQ_SGD_ADAGRAD (default) or TQ_SGD_ADAM */
    double lr;           /* base step size eta (standardised units; AdaGrad: eta/sqrt(sum g^2)) */
    double l2;           /* L2 penalty lambda on w (not on b), per unit of mean loss */
    double l1;           /* L1 penalty on w (proximal step), per unit of mean loss; 0 = off */
    int epochs;          /* maximum passes over the training rows */
    int batch;           /* rows per model update (mini-batch), 1..256 */
    int rounds;          /* model averages per epoch (each block's rows cut in this many slices) */
    double val;          /* share of labelled rows held out for validation, [0, 0.9] */
    uint64_t seed;       /* seed of the hold-out split */
    double pos_weight;   /* class weight of label 1 rows; <= 0: balanced n/(2 n_pos) */
    double neg_weight;   /* class weight of label 0 rows; <= 0: balanced n/(2 n_neg) */
    int patience;        /* stop after this many epochs without validation improvement */
    double tol;          /* an improvement must lower validation log-loss by tol (relative) */
    int64_t chunk_rows;  /* rows held in memory per read when streaming (data.x == NULL) */
    int average;         /* 1: from epoch 2 on, validate and return the mean of the epoch's
                            iterates (Polyak-Ruppert averaging); 0: the last iterate */
    tq_progress_hook progress; /* called before each epoch (epoch, epochs); NULL = none */
    void *progress_ctx;
} tq_sgd_params;

void tq_sgd_defaults(tq_sgd_params *p);
/* NULL when p is valid, else a message naming the field and its bounds. */
const char *tq_sgd_check(const tq_sgd_params *p);

/* Where the rows come from. This rank holds global rows [lo, hi), which must be its
 * rows of the fixed block partition (tq_blocks_of_rank). Either x/y hold them in memory
 * (row-major (hi-lo) x d), or x == NULL and read() copies global rows [r0, r1)
 * (lo <= r0 < r1 <= hi) into xbuf ((r1-r0) x d) and ybuf, returning TQ_OK or an error
 * with a message in msg. read() is only called from the calling thread. */
typedef struct {
    int64_t n;           /* global rows */
    int d;               /* features per row */
    int64_t lo, hi;      /* rows on this rank */
    const float *x;      /* (hi-lo) x d or NULL (stream through read) */
    const int8_t *y;     /* hi-lo labels (1, 0, -1 unknown) or NULL with x */
    int (*read)(void *ctx, int64_t r0, int64_t r1, float *xbuf, int8_t *ybuf, char *msg,
                size_t msgsize);
    void *ctx;
} tq_sgd_data;

typedef struct {
    int d;
    double *w;           /* d weights on standardised features */
    double b;            /* intercept */
    double *mean, *std;  /* d each: standardisation (std 1 for a constant feature) */
} tq_sgd_model;

int tq_sgd_model_alloc(tq_sgd_model *m, int d);
void tq_sgd_model_free(tq_sgd_model *m);

/* What training did. Arrays are malloc'ed (tq_sgd_report_free). */
typedef struct {
    int epochs_run;           /* epochs performed */
    int best_epoch;           /* epoch (1-based) of the returned model */
    int stopped_early;        /* 1 if validation log-loss stopped improving */
    int64_t n_train, n_val;   /* labelled rows in each split (global) */
    int64_t n_pos, n_neg;     /* training rows of each class */
    int64_t n_unlabelled;     /* rows with label -1 */
    double pos_weight, neg_weight;  /* class weights used */
    double val_logloss;       /* weighted mean validation log-loss of the returned model
                                 (training log-loss when there is no validation split) */
    double *hist_loss;        /* per epoch: validation (or training) log-loss, epochs_run */
    double *hist_time;        /* per epoch: seconds since training began */
    double t_stats, t_train, t_eval;  /* seconds: standardisation pass, SGD, evaluation */
    int64_t rows_processed;   /* training row visits (global) */
    char msg[512];            /* error text when the status is an error */
} tq_sgd_report;

void tq_sgd_report_free(tq_sgd_report *r);

/* Train. Inputs: data (this rank's rows), params (checked), comm (NULL = serial).
 * Output: model (allocated here; caller frees) and report. Collective over comm.
 * Cost: 1 pass for statistics + epochs * (1 training pass + 1 validation pass);
 * O(d) work per row visit, O(N) bytes for row roles, O(nblocks * d) for partials, plus
 * chunk_rows * d floats when streaming. Errors: TQ_EINVAL with a message (no labelled
 * training rows, one class only, NaN/Inf feature naming row and column), TQ_ENOMEM,
 * TQ_EMPI, or the read() error. */
int tq_sgd_train(const tq_sgd_data *data, const tq_sgd_params *p, const tq_comm *comm,
                 tq_sgd_model *model, tq_sgd_report *rep);

/* Probability for each of n rows (row-major n x d) into out[n]; OpenMP over rows.
 * Computes z = b + sum_j w_j (x_j - mean_j) / std_j in double as c + sum_j v_j x_j
 * (v_j = w_j / std_j), the same arithmetic wherever it runs, so training and `score`
 * give identical scores. Cost O(n d). TQ_OK or TQ_ENOMEM. */
int tq_sgd_predict(const tq_sgd_model *m, const float *x, int64_t n, float *out);

/* Objective F and its gradient (w then b, d+1 doubles) at model m over this data's
 * training rows (the same split and weights as tq_sgd_train with p), combined in block
 * order over comm. For tests (finite differences) and diagnostics; the L1 term is
 * included in F, and its subgradient sign(w) l1 in grad. Cost: one pass. */
int tq_sgd_objective(const tq_sgd_data *data, const tq_sgd_params *p, const tq_comm *comm,
                     const tq_sgd_model *m, double *f, double *grad, char *msg,
                     size_t msgsize);

#endif
