/* tq_metrics.h: quality of probability scores against 0/1 labels (docs/propensity.md):
 * ROC AUC, log-loss, Brier score, a 10-bin calibration table and lift at the top decile.
 * Serial and exact; the caller gathers (score, label) pairs first (they are small next
 * to the features: 5 bytes a row). */
#ifndef TQ_METRICS_H
#define TQ_METRICS_H

#include <stdint.h>

#define TQ_METRICS_BINS 10

typedef struct {
    int64_t n;             /* rows scored (labels 0/1; rows labelled -1 are skipped) */
    int64_t n_pos;         /* rows with label 1 */
    double auc;            /* ROC AUC, ties counted half (Mann-Whitney U / (n_pos n_neg)); NaN if one class */
    double logloss;        /* mean -[y log p + (1-y) log(1-p)], p clipped to [1e-15, 1-1e-15] */
    double brier;          /* mean (p - y)^2 */
    double base_rate;      /* n_pos / n */
    int64_t top_n;         /* rows in the top decile: ceil(n / 10) */
    int64_t top_pos;       /* positives among them (ties broken by row order) */
    double lift10;         /* (top_pos / top_n) / base_rate */
    /* calibration: bin k holds predictions in [k/10, (k+1)/10) (the last bin includes 1) */
    int64_t cal_n[TQ_METRICS_BINS];      /* rows in the bin */
    double cal_mean_p[TQ_METRICS_BINS];  /* mean prediction (NaN for an empty bin) */
    double cal_rate[TQ_METRICS_BINS];    /* observed share of label 1 (NaN if empty) */
} tq_metrics;

/* Metrics of scores p[i] against labels y[i] (1, 0; -1 skipped), i < n.
 * Cost O(n log n) time (a sort), O(n) memory. TQ_OK, TQ_ENOMEM, or TQ_EINVAL for a
 * score outside [0, 1] or NaN. */
int tq_metrics_compute(const float *p, const int8_t *y, int64_t n, tq_metrics *m);

/* Positives among the k highest scores (ties broken by lower row index first), -1 on
 * allocation failure. Cost O(n log n). */
int64_t tq_metrics_top_k_pos(const float *p, const int8_t *y, int64_t n, int64_t k);

#endif
