/* tq_data.h: the HDF5 data model (docs/formats.md), read and written only here.
 *
 * One file per planning dataset:
 *   /accounts      N rows, one 1-D dataset per column (chunked, deflate):
 *                  id (fixed-length string), lat, lon (float64 deg), workload, value
 *                  (float32 >= 0), prev_territory (int32, -1 none), locked (uint8),
 *                  features (N x d float32), label (int8: 1, 0, -1 unknown),
 *                  score (float32, optional, written by train/score)
 *                  attrs: schema_version, n, d, checksum, feature_names
 *   /territories   K rows: id, home_lat, home_lon (NaN = no base), capacity (float64)
 *   /clusters, /alignment, /quotas, /model   results, each with a run manifest.
 *
 * Reads: every rank reads only its rows (the fixed block partition of tq_common.h) by
 * hyperslab. With more than one rank the file is opened through the MPI-IO driver of
 * parallel HDF5 on the communicator; one rank uses the default (serial) driver.
 * Writes of results: row results are gathered to rank 0, which writes the group under
 * a temporary name and renames it when complete (tq_result_*), so a failed run leaves
 * the previous results and no partial group. New files (import, generate) are written
 * to PATH.tmp.PID and renamed onto PATH on success. */
#ifndef TQ_DATA_H
#define TQ_DATA_H

#include <stdint.h>
#include <time.h>

#include "tq_comm.h"

#define TQ_SCHEMA_VERSION 1

/* An error message that names file, row, column and value where they apply. */
typedef struct {
    int status;       /* TQ_* status, negative for errors */
    char msg[1024];
} tq_err;
void tq_err_set(tq_err *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Column selection for tq_accounts_read. */
enum {
    TQ_COL_ID = 1u << 0,
    TQ_COL_LATLON = 1u << 1,
    TQ_COL_WORKLOAD = 1u << 2,
    TQ_COL_VALUE = 1u << 3,
    TQ_COL_PREV = 1u << 4,
    TQ_COL_LOCKED = 1u << 5,
    TQ_COL_FEATURES = 1u << 6,
    TQ_COL_LABEL = 1u << 7,
    TQ_COL_SCORE = 1u << 8,   /* missing score is not an error: score stays NULL */
    TQ_COL_ALL = (1u << 9) - 1
};

/* Rows [lo, hi) of the accounts table (all rows when read serially). Arrays not
 * selected, or (score) not in the file, are NULL. */
typedef struct {
    int64_t n;              /* global number of accounts */
    int64_t lo, hi;         /* rows held here */
    int d;                  /* number of feature columns */
    int id_len;             /* bytes per id, including the terminating NUL */
    char *id;               /* (hi-lo) * id_len bytes, NUL-terminated strings */
    double *lat, *lon;      /* degrees */
    float *workload, *value;
    int32_t *prev_territory;
    uint8_t *locked;
    float *features;        /* (hi-lo) x d, row-major */
    int8_t *label;
    float *score;
    char **feature_names;   /* d names (without the f_ prefix), or NULL */
    uint64_t checksum;      /* content checksum recorded at import/generate */
} tq_accounts;

typedef struct {
    int k;
    int id_len;
    char *id;               /* k * id_len */
    double *home_lat, *home_lon;  /* k each; NaN where a territory has no base */
    double *capacity;       /* k, relative size, default 1 */
    int has_home;           /* every territory has a home base */
} tq_territories;

/* Summary of a dataset file, without reading rows. */
typedef struct {
    int schema_version;
    int64_t n;
    int d;
    int k;                  /* 0 when the file has no /territories */
    int has_score;
    uint64_t checksum;
} tq_info;

int tq_data_info(const char *path, tq_info *info, tq_err *err);

/* The result groups in a file (all top-level groups but accounts and territories), with
 * their manifest's command and finish time: calls fn once per group. */
typedef void (*tq_result_fn)(const char *group, const char *command, const char *finished,
                             void *ctx);
int tq_data_results(const char *path, tq_result_fn fn, void *ctx, tq_err *err);

/* Read this rank's rows of the selected columns (comm NULL or size 1: all rows). */
int tq_accounts_read(const char *path, const tq_comm *comm, unsigned cols, tq_accounts *a,
                     tq_err *err);
/* Rows [lo, hi) of the selected columns, serial open (blocked / out-of-core reading). */
int tq_accounts_read_range(const char *path, unsigned cols, int64_t lo, int64_t hi,
                           tq_accounts *a, tq_err *err);
void tq_accounts_free(tq_accounts *a);
/* Allocate arrays for `rows` rows of the selected columns (used by import/generate). */
int tq_accounts_alloc(tq_accounts *a, int64_t rows, int d, int id_len, unsigned cols);

/* Collective, for stages validating what they read: each rank passes its first bad
 * local row (-1 if none) with a column code and the offending value; every rank gets
 * the first bad row over all ranks (global, 0-based) with its column and value, from
 * the rank that holds it. Returns 1 if there is one, 0 if none, TQ_EMPI on failure. */
int tq_accounts_first_bad(const tq_comm *comm, const tq_accounts *a, int64_t bad, int col,
                          double val, int64_t *row, int *col_out, double *val_out);

/* Collective check of this rank's rows of every column a holds: lat/lon in range,
 * workload, value and score finite and >= 0, prev_territory -1 or a territory index
 * (0..k-1; with k <= 0, any index >= 0), locked only with a prev_territory, label 1, 0
 * or -1, features finite (train checks those itself, streaming). On the first
 * bad row over all ranks, err names file, row (1-based), column and value on every rank
 * and TQ_EINVAL is returned; TQ_EMPI if the ranks cannot agree. */
int tq_accounts_check(const char *path, const tq_accounts *a, int k, const tq_comm *comm,
                      tq_err *err);

/* Collective check of this rank's rows of a result's territory per account (`name`, e.g.
 * "/alignment/territory"): each must be 0..k-1 (with k <= 0, any index >= 0). Errors as
 * tq_accounts_check. */
int tq_labels_check(const char *path, const char *name, const tq_accounts *a,
                    const int32_t *label, int k, const tq_comm *comm, tq_err *err);

/* The id of one account (global row, 0-based) into buf (truncated to len - 1 bytes);
 * for messages. Returns TQ_OK or an error status (buf then ""). */
int tq_account_id(const char *path, int64_t row, char *buf, size_t len);

/* /territories of a dataset; a file without that group (accounts imported without
 * territories and without prev_territory) gives k = 0 and TQ_OK. */
int tq_territories_read(const char *path, tq_territories *t, tq_err *err);
void tq_territories_free(tq_territories *t);

/* ---- writing a new dataset file (import, generate) ----------------------------------
 * Rows are appended in batches (a batch is a tq_accounts with lo=0, hi=rows); memory is
 * one batch. The file appears at `path` only after tq_writer_close(w, 1). */
typedef struct tq_writer tq_writer;
tq_writer *tq_writer_create(const char *path, int d, int id_len, char *const *feature_names,
                            tq_err *err);
int tq_writer_append(tq_writer *w, const tq_accounts *batch, tq_err *err);
/* Ids known only at the end (import: the longest id is known after the last row):
 * create the writer with id_len 0, append batches without ids (batch->id unused), then
 * append all ids, in row order, in one or more calls of `rows` ids of `id_len` bytes
 * (NUL-padded; the same id_len in every call). The checksum is the same as with the
 * ids in the batches. */
int tq_writer_append_ids(tq_writer *w, const char *ids, int64_t rows, int id_len,
                         tq_err *err);
int tq_writer_territories(tq_writer *w, const tq_territories *t, tq_err *err);
/* Rewrite the features of all rows appended so far, chunk by chunk (memory: one
 * chunk): fn(ctx, x, rows, d) changes x (rows x d, row-major) in place; the checksum is
 * recomputed over the new values. For import's ordered columns and blank numeric
 * fields, whose codes and means are known only after the last row. */
int tq_writer_rewrite_features(tq_writer *w, void (*fn)(void *ctx, float *x, int64_t rows, int d),
                               void *ctx, tq_err *err);
/* A string attribute on /accounts. */
int tq_writer_attr_str(tq_writer *w, const char *name, const char *v);
/* A vector attribute on /accounts (e.g. the generator's true model). */
int tq_writer_attr_f64v(tq_writer *w, const char *name, const double *v, int n);
/* commit=1: flush, record n and checksum, rename onto path. commit=0: delete the temp. */
int tq_writer_close(tq_writer *w, int commit, tq_err *err);

/* ---- writing a result group into an existing dataset file -------------------------
 * Collective: every rank calls every function with the same arguments (row arrays
 * hold that rank's rows); only rank 0 touches the file. */
typedef struct tq_result tq_result;
/* Start writing group /NAME (e.g. "clusters"), as /NAME.tmp until commit. */
tq_result *tq_result_begin(const char *path, const char *name, const tq_comm *comm,
                           tq_err *err);
/* A dataset of this rank's rows: nlocal rows of `width` values (1-D when width == 1).
 * Rows are gathered in rank order, so the dataset has the global row order. */
int tq_result_rows_f64(tq_result *r, const char *name, const double *v, int64_t nlocal,
                       int width);
int tq_result_rows_f32(tq_result *r, const char *name, const float *v, int64_t nlocal,
                       int width);
int tq_result_rows_i32(tq_result *r, const char *name, const int32_t *v, int64_t nlocal,
                       int width);
int tq_result_rows_u8(tq_result *r, const char *name, const uint8_t *v, int64_t nlocal,
                      int width);
/* A small dataset (same on every rank; rank 0's copy is written): rows x width. */
int tq_result_small_f64(tq_result *r, const char *name, const double *v, int64_t rows,
                        int width);
int tq_result_small_i64(tq_result *r, const char *name, const int64_t *v, int64_t rows,
                        int width);
/* Attributes on the group. */
int tq_result_attr_f64(tq_result *r, const char *name, double v);
int tq_result_attr_i64(tq_result *r, const char *name, int64_t v);
int tq_result_attr_str(tq_result *r, const char *name, const char *v);
/* Write the run manifest (version, command, parameters as JSON, seed, input checksum,
 * start and end time, threads, ranks), then replace /NAME by /NAME.tmp. Frees r. */
int tq_result_commit(tq_result *r, const char *command, const char *params_json,
                     uint64_t seed, time_t started, tq_err *err);
/* Drop the temporary group. Frees r. NULL-safe. */
void tq_result_abort(tq_result *r);

/* Replace one column of /accounts (e.g. "score") with this rank's rows, atomically
 * (written as NAME.tmp, then renamed). Collective. */
int tq_accounts_write_f32(const char *path, const tq_comm *comm, const char *name,
                          const float *v, int64_t nlocal, tq_err *err);

/* Read a small result dataset (any rank, whole dataset): returns malloc'ed data and its
 * dims (rows, width). Used by later stages (align reads /clusters/centers). */
int tq_result_read_f64(const char *path, const char *dataset, double **v, int64_t *rows,
                       int *width, tq_err *err);
/* A string attribute of an object ("/alignment", "/"), malloc'ed; NULL if absent. */
char *tq_data_attr_str(const char *path, const char *object, const char *name);
/* A vector attribute (converted to double), malloc'ed into *v with its length *n;
 * TQ_EIO (and *v NULL) if absent. */
int tq_data_attr_f64v(const char *path, const char *object, const char *name, double **v,
                      int *n);
/* In an attribute of records "NAME US item US item ... RS" (US = 0x1F, RS = 0x1E;
 * import's ordered_levels and hash_contents), the items of NAME's record (they end at
 * its RS), or NULL when records is NULL or has none. */
const char *tq_attr_record(const char *records, const char *name);
/* A numeric attribute (converted to double); NAN if absent. */
double tq_data_attr_f64(const char *path, const char *object, const char *name);
int tq_result_read_rows_i32(const char *path, const tq_comm *comm, const char *dataset,
                            int32_t **v, int64_t *nlocal, tq_err *err);

#endif
