/* tq_model.h: the propensity model outside the kernel: its JSON file (written by
 * `train --model-out`, read by `score`), metrics as JSON, and scoring a dataset's rows
 * (shared by `train` and `score`). See docs/propensity.md for the JSON format. */
#ifndef TQ_MODEL_H
#define TQ_MODEL_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "tq_data.h"
#include "tq_metrics.h"
#include "tq_sgd.h"

#define TQ_MODEL_FORMAT "tqplan-logistic-model"
#define TQ_MODEL_VERSION 1

/* Write the model as JSON to path (PATH.tmp.PID, then renamed). names: d feature names
 * or NULL. hyper and metrics are copied in (may be NULL). Rank 0 only. */
int tq_model_save(const char *path, const tq_sgd_model *m, char *const *names,
                  const cJSON *hyper, const cJSON *metrics, tq_err *err);
/* Read a model JSON file; *names gets d malloc'ed names or NULL (tq_model_names_free). */
int tq_model_load(const char *path, tq_sgd_model *m, char ***names, tq_err *err);
void tq_model_names_free(char **names, int d);
/* Match the model's features to a dataset's by name: when the dataset (dnames, dd of
 * them) has the model's features in another order, m's weights and standardisation are
 * put in the dataset's order (*reordered = 1). A feature one side lacks is TQ_EINVAL
 * (err names it and both files). Nothing is checked when either side has no names. */
int tq_model_match(tq_sgd_model *m, char *const *mnames, char *const *dnames, int dd,
                   const char *model_path, const char *data_path, int *reordered,
                   tq_err *err);

/* The metrics as a JSON object (AUC, log-loss, Brier, lift, calibration table). */
cJSON *tq_metrics_to_json(const tq_metrics *m);

/* The indices of the (at most) k largest non-zero finite |w[j]| of w[0..d), largest
 * first (ties: lower index first) into top; returns how many. The model's strongest
 * features, for train's drivers and the report. */
int tq_model_top(const double *w, int d, int k, int *top);

/* What hashed feature `feature` (hash0, ...) stands for, from the /accounts attribute
 * hash_contents (import; NULL: unknown), for a weight w on it: each category with its
 * own effect (w times the sign it adds), as text into buf ("Records=yes -0.85,
 * Home=other +0.85, 12 other fields"; returns 1) and, when arr is not NULL, as objects
 * {category, weight} appended to arr (and *other = the fields of other categories).
 * Returns 0 when the feature is not a hashed slot there. */
int tq_hash_describe(const char *contents, const char *feature, double w, char *buf,
                     size_t n, cJSON *arr, long long *other);
/* "AUC 0.8123  log-loss 0.4012  Brier 0.1311  lift@10% 2.71" */
void tq_metrics_line(const tq_metrics *m, char *buf, size_t size);

/* Score this rank's rows of the dataset (the block partition) with model m. stream_rows
 * > 0: read the features stream_rows at a time (out-of-core), else all at once.
 * Outputs (malloc'ed, this rank's hi-lo rows): scores, labels. Checks that the file's d
 * equals the model's (the error names both). */
int tq_model_score_file(const char *path, const tq_comm *comm, const tq_sgd_model *m,
                        int64_t stream_rows, float **scores, int8_t **labels, int64_t *lo,
                        int64_t *hi, tq_err *err);

/* Metrics over rows gathered from every rank to rank 0 (others get zeros): rows whose
 * keep(i) is true, i global. */
int tq_model_metrics(const tq_comm *comm, const float *scores, const int8_t *labels,
                     int64_t lo, int64_t hi, int (*keep)(void *ctx, int64_t i, int8_t y),
                     void *ctx, tq_metrics *m, float **gathered_p, int8_t **gathered_y,
                     int64_t *ngathered);

#endif
