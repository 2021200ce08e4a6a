/* tq_import.h: CSV accounts (and territories) -> a validated HDF5 dataset.
 *
 * The contract is docs/formats.md, "CSV input". In short: the header names the
 * columns (any order); id, lat, lon are required; workload, value (default 1, also
 * for a blank field),
 * prev_territory (default none), locked (default 0), label (default unknown) are
 * optional; f_NAME columns are numeric features, o_NAME columns ordered codes in words
 * ("1 - 10%", "50-199 employees": ranked 0, 1, ... by the first number in each value),
 * c_NAME columns categorical values hashed into `hash_slots` signed feature slots
 * (tq_feature_hash). A level code is written for an o_ field, its rank once all are
 * known; a blank numeric
 * feature is read as the mean of its column's other fields: the row is written with
 * NaN there and, after the last row, the feature dataset is rewritten chunk by chunk
 * with the means (tq_writer_fill_features; only when some field was blank).
 *
 * One streaming pass over the accounts CSV, memory bounded by two batches plus the
 * duplicate-id set (O(N) ids): every field is validated and converted into a batch of
 * batch_rows rows, which a second thread appends to a tq_writer (PATH.tmp.PID, renamed
 * onto PATH only when complete) while the next batch fills. Every problem is reported
 * as "FILE:ROW:COLUMN: message (value 'X')" (ROW = line in the file), up to
 * max_errors of them; after the first, rows are only validated, and at the end the
 * temporary file is deleted: nothing is written. The ids are written last, from the
 * id set (in row order), because their fixed length is the longest id, known only
 * after the last row. The territories CSV is small (K rows) and read whole. */
#ifndef TQ_IMPORT_H
#define TQ_IMPORT_H

#include <stdint.h>

#include "tq_data.h"

#define TQ_IMPORT_MAX_MAP 64
#define TQ_IMPORT_MAX_TOKENS 16   /* --positive, --missing values */
#define TQ_IMPORT_MAX_LEVELS 65536   /* different values of an o_ (ordered) column */
#define TQ_IMPORT_ID_MAX 255   /* bytes of an id, the HDF5 fixed-length string */
#define TQ_IMPORT_K_MAX 1000000   /* territory index without a territories file */

typedef struct {
    const char *accounts;      /* path of the accounts CSV (required) */
    const char *territories;   /* path of the territories CSV, or NULL */
    const char *out;           /* path of the HDF5 dataset to write (required) */
    int ignore_unknown;        /* 1: skip columns with unknown names; 0: error */
    int max_errors;            /* stop after this many errors (>= 1), default 20 */
    int hash_slots;            /* feature slots for c_ columns (>= 1), default 32 */
    int64_t batch_rows;        /* rows per writer batch (>= 1), default 65536 */
    size_t buf_bytes;          /* CSV read buffer, bytes (>= 1), default 1 MiB */
    char delim;                /* field separator of both CSVs, default ',' */
    char decimal;              /* decimal mark of numbers: '.' (default) or ',' (1,5;
                                * the delimiter must then be another character) */
    char thousands;            /* 0 (default), or ',' '.' ' ' '\'': workload, value and
                                * f_ amounts may group thousands with it and carry a
                                * currency sign ($1,234.50, 1.234,50 EUR sign) */
    int nmap;                  /* --map entries: the CSV column map_col[i] ... */
    const char *map_name[TQ_IMPORT_MAX_MAP];  /* ... is read as column map_name[i] */
    const char *map_col[TQ_IMPORT_MAX_MAP];
    int npositive;             /* --positive: label values read as 1 (others 0, blank */
    const char *positive[TQ_IMPORT_MAX_TOKENS];   /* unknown); none: labels are 0/1 */
    int nmissing;              /* --missing: field values read as blank (e.g. NA) */
    const char *missing[TQ_IMPORT_MAX_TOKENS];
    const char *like;          /* --like FROM.h5: blanks read as FROM's values and o_
                                * levels ranked as in FROM (a dataset scored with a
                                * model trained on FROM means the same) */
    int nindicator;            /* --indicator NAME (or all): a feature NAME_missing, 1
                                * where NAME's field is blank, after the hashed slots */
    const char *indicator[TQ_IMPORT_MAX_MAP];
    char rest;                 /* --rest: columns of other names are read as 'f' numeric,
                                * 'o' ordered or 'c' categorical features; 0 = error
                                * (or skipped with ignore_unknown) */
    /* Where each validation error goes (one line, no newline); NULL = tq_error. And
     * each warning (blank numeric fields imputed); NULL = tq_warn. */
    void (*report)(void *ctx, const char *msg);
    void (*warn)(void *ctx, const char *msg);
    void *report_ctx;
    int progress;              /* 1: progress bar (tq_progress) over the bytes read */
} tq_import_params;

void tq_import_defaults(tq_import_params *p);
/* NULL when valid, else a message (names the bad option). */
const char *tq_import_check(const tq_import_params *p);

typedef struct {
    int64_t n;            /* accounts written */
    int d;                /* feature columns: f_ and o_ columns + hash slots (when c_
                           * ones) + indicators */
    int nf, nc;           /* f_ and c_ columns */
    int k;                /* territories written (0: none) */
    int id_len;           /* bytes per stored id, NUL included */
    int errors;           /* validation errors reported */
    int ignored;          /* columns skipped by --ignore-unknown */
    int64_t blank_workload, blank_value;  /* blank fields read as the default 1 */
    int64_t imputed;      /* blank numeric feature fields read as their column's mean */
    int imputed_columns;  /* f_ columns with such fields */
    int64_t labels_pos, labels_neg;  /* label fields read as 1 and 0 */
    int unterminated;     /* the accounts CSV does not end with a line break (warned) */
    int nord;             /* o_ (ordered) columns among the nf numeric ones */
    int nind;             /* NAME_missing indicator features (--indicator) */
    int64_t like_new;     /* --like: o_ values not among FROM's levels (warned) */
    char *ordered;        /* their levels in rank order: "NAME\x1fL0\x1fL1...\x1e" per
                           * column (malloc'd, NULL when none: free() it) */
    size_t ordered_len;
    int64_t bytes;        /* bytes of the accounts CSV */
    double t_scan;        /* seconds: territories, then parse, validate, convert and
                           * append the accounts */
    double t_finish;      /* seconds: write the ids and territories, commit */
} tq_import_stats;

/* Run the import. Returns TQ_OK, TQ_EINVAL (bad input: each problem was reported,
 * err says how many), TQ_EIO or TQ_ENOMEM. No output file is left behind on error.
 * stats may be NULL. Cost: one pass over the CSV, O(bytes + N) time. */
int tq_import_run(const tq_import_params *p, tq_import_stats *stats, tq_err *err);

#endif
