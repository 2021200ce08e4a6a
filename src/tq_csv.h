/* tq_csv.h: a streaming CSV reader on libcsv (Debian libcsv-dev, RFC 4180 quoting).
 *
 * The file is read in fixed-size buffers (fread) and fed to libcsv, which calls back
 * per field and per row end; this module gathers the fields of a row and hands each
 * complete row to the caller's function. Memory is one buffer plus one row, whatever
 * the file size.
 *
 * Line numbers: libcsv does not count lines, so they are counted here (it reports
 * every unquoted CR and LF, CSV_REPALL_NL, and quoted fields carry their newlines
 * verbatim): a row's `line` is the 1-based line of the file on which it starts, also
 * when an earlier quoted field spans several lines. Blank lines are skipped (they
 * still count as lines). A UTF-8 byte-order mark at the start of the file is dropped.
 * Unquoted fields lose leading and trailing spaces and tabs (libcsv's default);
 * quoted fields are kept verbatim. Malformed quoting (a quote inside an unquoted
 * field, text after a closing quote, an unterminated quoted field) is an error naming
 * the line (libcsv strict mode). */
#ifndef TQ_CSV_H
#define TQ_CSV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tq_data.h"

typedef struct {
    size_t buf_bytes;   /* bytes per fread, default 1 MiB (tests use tiny ones) */
    char delim;         /* field separator, default ',' */
} tq_csv_params;

void tq_csv_defaults(tq_csv_params *p);
/* NULL when valid, else a message. */
const char *tq_csv_check(const tq_csv_params *p);

/* One row as handed to the callback; valid only during the call. */
typedef struct {
    int64_t line;          /* 1-based line of the file where the row starts */
    int64_t index;         /* 0 for the first row (the header), then 1, 2, ... */
    int n;                 /* number of fields */
    const char *const *field;  /* n fields, each NUL-terminated (may contain NULs:
                                * use len) */
    const size_t *len;     /* n byte lengths */
    int64_t bytes_read;    /* bytes of the file read so far (for progress bars; counts
                            * whole read buffers, so it runs ahead of the row) */
} tq_csv_row;

/* Called once per non-blank row, in file order. Return 0 to go on; any other value
 * stops the scan, and tq_csv_scan returns it. */
typedef int (*tq_csv_row_fn)(const tq_csv_row *row, void *user);

typedef struct {
    int64_t rows;     /* rows handed to the callback (header included) */
    int64_t bytes;    /* bytes read */
    int64_t last_line;  /* line of the last row handed to the callback */
    int unterminated; /* 1: the file's last byte is not a line end (cut short?) */
} tq_csv_stats;

/* Scan the CSV file at `path` (name = path in messages). Returns TQ_OK after the
 * last row, the callback's nonzero value if it stopped the scan, TQ_EIO (file cannot
 * be opened or read), TQ_EINVAL (malformed quoting: err says "FILE:LINE: ...") or
 * TQ_ENOMEM. stats may be NULL. Cost: one pass over the file, O(bytes). */
int tq_csv_scan(const char *path, const tq_csv_params *p, tq_csv_row_fn fn, void *user,
                tq_csv_stats *stats, tq_err *err);
/* The same over an open stream (e.g. fmemopen in tests); `name` is used in messages. */
int tq_csv_scan_file(FILE *f, const char *name, const tq_csv_params *p, tq_csv_row_fn fn,
                     void *user, tq_csv_stats *stats, tq_err *err);

#endif
