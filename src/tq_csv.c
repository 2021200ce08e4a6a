/* tq_csv.c: streaming CSV reader on libcsv; see tq_csv.h. */
#include "tq_csv.h"

#include <csv.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void tq_csv_defaults(tq_csv_params *p)
{
    p->buf_bytes = (size_t)1 << 20;  /* 1 MiB per fread: large enough to amortise calls */
    p->delim = ',';                  /* RFC 4180 */
}

const char *tq_csv_check(const tq_csv_params *p)
{
    if (p->buf_bytes < 1) return "buf_bytes must be >= 1";
    if (p->delim == '"' || p->delim == '\n' || p->delim == '\r' || p->delim == 0)
        return "delim must not be a quote, a newline or NUL";
    return NULL;
}

/* Scan state shared with the libcsv callbacks. */
typedef struct {
    tq_csv_row_fn fn;
    void *user;
    int64_t line;       /* current line: where the next byte libcsv reports sits */
    int64_t row_line;   /* line where the current row started */
    int64_t index;      /* rows emitted so far */
    int64_t bytes;      /* bytes read so far */
    int64_t last_line;  /* line of the last row handed on */
    int stop;           /* callback's nonzero return; later callbacks are ignored */
    int enomem;
    /* current row: field bytes back to back, each NUL-terminated */
    char *buf;
    size_t buf_len, buf_cap;
    size_t *off, *len;
    const char **ptr;
    int n, cap;
} scan_state;

/* Newlines in s[0..len). A plain counting loop: fields are short (a memchr call per
 * field cost more than the count), and gcc vectorises it for long ones. */
static size_t count_nl(const char *s, size_t len)
{
    size_t k = 0;
    for (size_t i = 0; i < len; i++) k += s[i] == '\n';
    return k;
}

static void on_field(void *data, size_t len, void *vs)
{
    scan_state *st = vs;
    if (st->stop || st->enomem) return;
    if (st->n == 0) st->row_line = st->line;
    if (st->n == st->cap) {
        int cap = st->cap ? 2 * st->cap : 64;
        size_t *off = realloc(st->off, (size_t)cap * sizeof *off);
        if (off) st->off = off;
        size_t *ln = realloc(st->len, (size_t)cap * sizeof *ln);
        if (ln) st->len = ln;
        const char **ptr = realloc(st->ptr, (size_t)cap * sizeof *ptr);
        if (ptr) st->ptr = ptr;
        if (!off || !ln || !ptr) {
            st->enomem = 1;
            return;
        }
        st->cap = cap;
    }
    if (st->buf_len + len + 1 > st->buf_cap) {
        size_t cap = st->buf_cap ? 2 * st->buf_cap : 4096;
        while (cap < st->buf_len + len + 1) cap *= 2;
        char *b = realloc(st->buf, cap);
        if (!b) {
            st->enomem = 1;
            return;
        }
        st->buf = b;
        st->buf_cap = cap;
    }
    if (len) {
        memcpy(st->buf + st->buf_len, data, len);
        /* a quoted field may span lines; the row keeps the line it started on */
        st->line += (int64_t)count_nl(data, len);
    }
    st->buf[st->buf_len + len] = 0;
    st->off[st->n] = st->buf_len;
    st->len[st->n] = len;
    st->buf_len += len + 1;
    st->n++;
}

static void on_row(int c, void *vs)
{
    scan_state *st = vs;
    if (!st->stop && !st->enomem && st->n > 0) {
        for (int i = 0; i < st->n; i++) st->ptr[i] = st->buf + st->off[i];
        tq_csv_row row = {st->row_line, st->index, st->n, st->ptr, st->len, st->bytes};
        st->index++;
        st->last_line = st->row_line;
        int rc = st->fn(&row, st->user);
        if (rc) st->stop = rc;
    }
    /* a row of zero fields is a blank line (or the LF of a CR LF pair) */
    st->n = 0;
    st->buf_len = 0;
    if (c == '\n') st->line++;
}

int tq_csv_scan_file(FILE *f, const char *name, const tq_csv_params *p, tq_csv_row_fn fn,
                     void *user, tq_csv_stats *stats, tq_err *err)
{
    int rc = TQ_OK;
    struct csv_parser cp;
    int cp_live = 0;
    char *buf = NULL;
    scan_state st;
    memset(&st, 0, sizeof st);
    st.fn = fn;
    st.user = user;
    st.line = 1;
    int64_t bytes = 0;
    const char *bad = tq_csv_check(p);
    if (bad) {
        tq_err_set(err, rc = TQ_EINVAL, "csv reader: %s", bad);
        goto done;
    }
    if (csv_init(&cp, CSV_STRICT | CSV_STRICT_FINI | CSV_REPALL_NL)) {
        tq_err_set(err, rc = TQ_ENOMEM, "%s: cannot start the CSV parser", name);
        goto done;
    }
    cp_live = 1;
    csv_set_delim(&cp, (unsigned char)p->delim);
    /* fields grow in 64 KiB steps: few reallocs for long quoted fields */
    csv_set_blk_size(&cp, 1 << 16);
    buf = malloc(p->buf_bytes);
    if (!buf) {
        tq_err_set(err, rc = TQ_ENOMEM, "%s: out of memory", name);
        goto done;
    }
    /* The UTF-8 byte-order mark (EF BB BF) some spreadsheets write is dropped; the
     * first bytes are read apart so that any buffer size sees it. */
    unsigned char head[3];
    size_t nhead = fread(head, 1, 3, f), skip = 0;
    if (nhead == 3 && !memcmp(head, "\xEF\xBB\xBF", 3)) skip = 3;
    bytes += (int64_t)nhead;
    st.bytes = bytes;
    char last = nhead > skip ? (char)head[nhead - 1] : '\n';
    if (csv_parse(&cp, head + skip, nhead - skip, on_field, on_row, &st) != nhead - skip) {
        tq_err_set(err, rc = TQ_EINVAL, "%s:1: malformed CSV: a quote inside an unquoted field",
                   name);
        goto done;
    }
    for (;;) {
        size_t got = fread(buf, 1, p->buf_bytes, f);
        if (got == 0) break;
        const char *s = buf;
        size_t len = got;
        last = buf[got - 1];
        bytes += (int64_t)got;
        st.bytes = bytes;
        size_t used = csv_parse(&cp, s, len, on_field, on_row, &st);
        if (st.enomem) {
            tq_err_set(err, rc = TQ_ENOMEM, "%s: out of memory", name);
            goto done;
        }
        if (st.stop) {
            rc = st.stop;
            goto done;
        }
        if (used != len) {
            /* the bad byte is in the field being read: on line st.line plus the
             * newlines already inside that (quoted) field */
            int64_t line = st.line + (int64_t)count_nl((const char *)cp.entry_buf,
                                                       cp.entry_buf ? cp.entry_pos : 0);
            tq_err_set(err, rc = TQ_EINVAL,
                       "%s:%lld: malformed CSV: a quote inside an unquoted field or text "
                       "after a closing quote (quote a field that contains quotes, and "
                       "double the quotes inside it)",
                       name, (long long)line);
            goto done;
        }
    }
    if (ferror(f)) {
        tq_err_set(err, rc = TQ_EIO, "%s: read error: %s", name, strerror(errno));
        goto done;
    }
    if (csv_fini(&cp, on_field, on_row, &st)) {
        tq_err_set(err, rc = TQ_EINVAL,
                   "%s:%lld: malformed CSV: quoted field not closed before the end of the "
                   "file",
                   name, (long long)st.line);
        goto done;
    }
    if (st.enomem) {
        tq_err_set(err, rc = TQ_ENOMEM, "%s: out of memory", name);
        goto done;
    }
    if (st.stop) rc = st.stop;
done:
    if (stats) {
        stats->rows = st.index;
        stats->bytes = bytes;
        stats->last_line = st.last_line;
        stats->unterminated = rc == TQ_OK && last != '\n' && last != '\r';
    }
    if (cp_live) csv_free(&cp);
    free(buf);
    free(st.buf);
    free(st.off);
    free(st.len);
    free(st.ptr);
    return rc;
}

int tq_csv_scan(const char *path, const tq_csv_params *p, tq_csv_row_fn fn, void *user,
                tq_csv_stats *stats, tq_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (stats) memset(stats, 0, sizeof *stats);
        tq_err_set(err, TQ_EIO, "%s: cannot open: %s", path, strerror(errno));
        return TQ_EIO;
    }
    int rc = tq_csv_scan_file(f, path, p, fn, user, stats, err);
    fclose(f);
    return rc;
}
