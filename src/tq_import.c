/* tq_import.c: CSV -> HDF5 dataset import; see tq_import.h and docs/formats.md. */
#include "tq_import.h"

#include <float.h>
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "tq_cli.h"
#include "tq_csv.h"
#include "tq_validate.h"

/* ---- columns ---------------------------------------------------------------------- */

enum {
    R_ID, R_LAT, R_LON, R_WORKLOAD, R_VALUE, R_PREV, R_LOCKED, R_LABEL,
    R_NFIXED,
    R_FEAT = R_NFIXED, R_CAT, R_IGNORE
};
static const char *const fixed_names[R_NFIXED] = {
    "id", "lat", "lon", "workload", "value", "prev_territory", "locked", "label"};

/* Territories CSV columns. */
enum { T_ID, T_HLAT, T_HLON, T_CAP, T_NFIXED, T_IGNORE = T_NFIXED };
static const char *const terr_names[T_NFIXED] = {"id", "home_lat", "home_lon", "capacity"};

/* The role of a column name among `names` (case-insensitive), or -1. */
static int fixed_role(const char *name, const char *const *names, int n)
{
    for (int r = 0; r < n; r++)
        if (!strcasecmp(name, names[r])) return r;
    return -1;
}

static int has_prefix(const char *s, const char *pre)
{
    return !strncasecmp(s, pre, strlen(pre)) && s[strlen(pre)] != 0;
}

/* ---- parameters ---------------------------------------------------------------------- */

void tq_import_defaults(tq_import_params *p)
{
    memset(p, 0, sizeof *p);
    p->accounts = NULL;        /* required */
    p->territories = NULL;     /* none: territories from prev_territory indexes */
    p->out = NULL;             /* required */
    p->ignore_unknown = 0;     /* unknown columns are errors */
    p->max_errors = 20;        /* enough to see a pattern, few enough to read */
    p->hash_slots = 32;        /* signed hashing slots for all c_ columns together */
    p->batch_rows = 65536;     /* rows per append: ~3 MB per batch for d = 8 */
    p->buf_bytes = (size_t)1 << 20;  /* 1 MiB per fread */
    p->delim = ',';            /* RFC 4180; ';' and tab are common too */
    p->nmap = 0;
    p->report = NULL;          /* tq_error */
    p->warn = NULL;            /* tq_warn */
    p->npositive = 0;          /* labels are 0, 1 or blank */
    p->nmissing = 0;           /* only an empty field is blank */
    p->rest = 0;               /* columns of other names are errors */
    p->nindicator = 0;         /* no NAME_missing features */
    p->decimal = '.';          /* 1.5; ',' reads 1,5 (with another delimiter) */
    p->thousands = 0;          /* 1,234 is not a number */
    p->progress = 0;
}

const char *tq_import_check(const tq_import_params *p)
{
    if (!p->accounts || !*p->accounts) return "the accounts CSV is required";
    if (!p->out || !*p->out) return "the output file (-o) is required";
    if (p->max_errors < 1) return "--max-errors must be >= 1";
    if (p->hash_slots < 1 || p->hash_slots > 1 << 20) return "--hash-slots must be in [1, 2^20]";
    if (p->batch_rows < 1) return "batch_rows must be >= 1";
    if (p->buf_bytes < 1) return "buf_bytes must be >= 1";
    if (p->delim == '"' || p->delim == '\n' || p->delim == '\r' || p->delim == 0 ||
        p->delim == '.' || p->delim == '-' || p->delim == '+' ||
        (p->delim >= '0' && p->delim <= '9'))
        return "--delimiter must not be a quote, a newline, a digit, '.', '+' or '-'";
    if (p->nmap < 0 || p->nmap > TQ_IMPORT_MAX_MAP) return "too many --map options";
    if (p->npositive < 0 || p->npositive > TQ_IMPORT_MAX_TOKENS) return "too many --positive values";
    if (p->nmissing < 0 || p->nmissing > TQ_IMPORT_MAX_TOKENS) return "too many --missing values";
    for (int i = 0; i < p->npositive; i++) {
        if (!p->positive[i] || !*p->positive[i]) return "--positive needs a non-empty value";
        for (int j = 0; j < p->nmissing; j++)
            if (!strcmp(p->positive[i], p->missing[j]))
                return "a value cannot be both --positive and --missing";
    }
    for (int i = 0; i < p->nmissing; i++)
        if (!p->missing[i] || !*p->missing[i]) return "--missing needs a non-empty value";
    if (p->rest && p->rest != 'f' && p->rest != 'o' && p->rest != 'c')
        return "--rest must be f, o or c";
    if (p->rest && p->ignore_unknown) return "--rest and --ignore-unknown exclude each other";
    if (p->decimal != '.' && p->decimal != ',') return "--decimal must be . or ,";
    if (p->decimal == ',' && p->delim == ',')
        return "--decimal , needs another field separator (--delimiter ';' or tab)";
    if (p->thousands && !strchr(",. '", p->thousands))
        return "--thousands must be , . ' or space";
    if (p->thousands && p->thousands == p->decimal)
        return "--thousands must differ from the decimal mark (--decimal)";
    if (p->nindicator < 0 || p->nindicator > TQ_IMPORT_MAX_MAP) return "too many --indicator options";
    for (int i = 0; i < p->nindicator; i++)
        if (!p->indicator[i] || !*p->indicator[i]) return "--indicator needs a feature name or all";
    for (int i = 0; i < p->nmap; i++) {
        if (!p->map_name[i] || !*p->map_name[i] || !p->map_col[i] || !*p->map_col[i])
            return "--map needs NAME=CSVCOLUMN with both parts non-empty";
        const char *n = p->map_name[i];
        if (fixed_role(n, fixed_names, R_NFIXED) < 0 && !has_prefix(n, "f_") &&
            !has_prefix(n, "c_"))
            return "--map NAME=COLUMN: NAME must be id, lat, lon, workload, value, "
                   "prev_territory, locked, label, f_* or c_*";
        for (int j = 0; j < i; j++) {
            if (strcmp(p->map_col[j], p->map_col[i])) continue;
            /* one size column read as both workload and value (bricks with one measure) */
            int wv = (!strcmp(n, "workload") && !strcmp(p->map_name[j], "value")) ||
                     (!strcmp(n, "value") && !strcmp(p->map_name[j], "workload"));
            if (!wv) return "--map: a CSV column may be mapped twice only as workload and value";
        }
    }
    return NULL;
}

/* ---- error reporting --------------------------------------------------------------- */

typedef struct {
    const tq_import_params *p;
    int errors;
} reporter;

/* "FILE:LINE:COLUMN: message (value 'X')"; col and val may be NULL. Returns 1 when
 * the error budget is spent. */
static int report(reporter *rp, const char *file, int64_t line, const char *col,
                  const char *val, size_t vlen, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static int report(reporter *rp, const char *file, int64_t line, const char *col,
                  const char *val, size_t vlen, const char *fmt, ...)
{
    char msg[1024], q[256];
    size_t o = 0;
    if (line > 0) o += (size_t)snprintf(msg, sizeof msg, "%s:%lld:", file, (long long)line);
    else o += (size_t)snprintf(msg, sizeof msg, "%s:", file);
    if (col && o < sizeof msg) {
        tq_val_quote(col, strlen(col), q, sizeof q);
        o += (size_t)snprintf(msg + o, sizeof msg - o, "%s:", q);
    }
    if (o < sizeof msg) msg[o++] = ' ';
    va_list ap;
    va_start(ap, fmt);
    if (o < sizeof msg) o += (size_t)vsnprintf(msg + o, sizeof msg - o, fmt, ap);
    va_end(ap);
    if (val && o < sizeof msg)
        snprintf(msg + o, sizeof msg - o, " (value '%s')", tq_val_quote(val, vlen, q, sizeof q));
    if (rp->p->report) rp->p->report(rp->p->report_ctx, msg);
    else tq_error("%s", msg);
    rp->errors++;
    return rp->errors >= rp->p->max_errors;
}

/* A message already in the FILE:LINE: form (from the CSV reader). */
static void report_raw(reporter *rp, const char *msg)
{
    if (rp->p->report) rp->p->report(rp->p->report_ctx, msg);
    else tq_error("%s", msg);
    rp->errors++;
}

/* Report a field's TQ_FIELD_* code with a message fitting the column. */
static int report_field(reporter *rp, const char *file, int64_t line, const char *col,
                        const char *val, size_t vlen, int code, const char *range)
{
    if (code == TQ_FIELD_RANGE && range)
        return report(rp, file, line, col, val, vlen, "value outside %s", range);
    return report(rp, file, line, col, val, vlen, "%s", tq_field_msg(code));
}

/* Every field must be UTF-8; returns 1 (and reports) when not. *stop set when the
 * error budget is spent. */
static int check_utf8(reporter *rp, const char *file, int64_t line, const char *col,
                      const char *s, size_t len, int *stop)
{
    size_t ok = tq_utf8_valid_prefix(s, len);
    if (ok == len) return 0;
    if (report(rp, file, line, col, s, len,
               "bytes that are not valid UTF-8 (byte %zu; save the file as UTF-8)", ok + 1))
        *stop = 1;
    return 1;
}

/* A numeric field with --decimal ',': its copy with the comma as a point, in buf (the
 * field itself otherwise, and for fields too long to be a number). Messages keep
 * showing the field as written. */
static const char *dec_point(const tq_import_params *p, const char *s, size_t len, char *buf,
                             size_t bufsz)
{
    if (p->decimal != ',') return s;
    if (len >= bufsz) return s;
    /* a point there is a thousands separator (1.234,5), never read as a decimal mark:
     * the field fails as not a number */
    if (memchr(s, '.', len)) {
        memset(buf, 'x', len);
        buf[len] = 0;
        return buf;
    }
    if (!memchr(s, ',', len)) return s;
    for (size_t i = 0; i < len; i++) buf[i] = s[i] == ',' ? '.' : s[i];
    buf[len] = 0;
    return buf;
}
#define NUM(s, len) dec_point(p, (s), (len), numbuf, sizeof numbuf)

/* Currency signs an amount may carry with --thousands (UTF-8): $ EUR-sign pound yen. */
static const char *const currency[] = {"$", "\xe2\x82\xac", "\xc2\xa3", "\xc2\xa5"};

/* A workload, value or f_ amount: with --thousands C, its copy without a currency sign
 * (before the number, after its sign, or after it; a space between allowed) and without
 * C between groups of three digits of its integer part ("$1,234.50" -> 1234.50,
 * "-1.234,5 EUR-sign" -> -1234,5 with C '.'), then as dec_point; in buf, its length in
 * *olen. C elsewhere ("1,23", "1234,567") leaves a field that fails as not a number.
 * Without --thousands: dec_point, length unchanged. */
static const char *amount(const tq_import_params *p, const char *s, size_t len, char *buf,
                          size_t bufsz, size_t *olen)
{
    *olen = len;
    if (!p->thousands || len >= bufsz) return dec_point(p, s, len, buf, bufsz);
    char t[64];
    size_t n = 0, i = 0, e = len;
    if (i < e && (s[i] == '-' || s[i] == '+')) t[n++] = s[i++];
    for (size_t k = 0; k < sizeof currency / sizeof currency[0]; k++) {
        size_t l = strlen(currency[k]);
        if (e - i >= l && !memcmp(s + i, currency[k], l)) {
            i += l;
            if (i < e && s[i] == ' ') i++;
            if (!n && i < e && (s[i] == '-' || s[i] == '+')) t[n++] = s[i++];
            break;
        }
        if (e - i >= l && !memcmp(s + e - l, currency[k], l)) {
            e -= l;
            if (e > i && s[e - 1] == ' ') e--;
            break;
        }
    }
    int ok = 1, grouped = 0, run = 0;
    for (; i < e && ((s[i] >= '0' && s[i] <= '9') || s[i] == p->thousands); i++) {
        if (s[i] == p->thousands) {
            if (run == 0 || (grouped ? run != 3 : run > 3)) ok = 0;
            grouped = 1;
            run = 0;
        } else {
            t[n++] = s[i];
            run++;
        }
    }
    if (grouped && run != 3) ok = 0;
    while (i < e) t[n++] = s[i++];
    if (!ok || !n) {   /* fails as not a number, shown as written */
        memset(buf, 'x', len);
        buf[len] = 0;
        return buf;
    }
    const char *d = dec_point(p, t, n, buf, bufsz);
    if (d == t) memcpy(buf, t, n);
    buf[n] = 0;
    *olen = n;
    return buf;
}

/* 1 when a field that is not a number looks like a formatted amount: a digit and a
 * comma, or a currency sign (the hint to --thousands) */
static int looks_formatted(const char *s, size_t len)
{
    int digit = 0, mark = 0;
    for (size_t i = 0; i < len; i++) {
        digit |= s[i] >= '0' && s[i] <= '9';
        mark |= s[i] == ',';
    }
    for (size_t k = 0; k < sizeof currency / sizeof currency[0]; k++) {
        size_t l = strlen(currency[k]);
        for (size_t i = 0; i + l <= len && !mark; i++) mark = !memcmp(s + i, currency[k], l);
    }
    return digit && mark;
}

/* ---- territories CSV ---------------------------------------------------------------- */

typedef struct {
    const tq_import_params *p;
    reporter *rp;
    const char *file;
    int stop;
    int ncols;
    int *role;
    char **colname;
    int has[T_NFIXED];
    /* rows */
    int k, cap, id_max;
    char **id;
    int64_t *line;
    double *hlat, *hlon, *capacity;
    tq_idset ids;   /* id -> index */
} terr_ctx;

static int terr_header(terr_ctx *c, const tq_csv_row *r)
{
    c->ncols = r->n;
    c->role = calloc((size_t)r->n, sizeof *c->role);
    c->colname = calloc((size_t)r->n, sizeof *c->colname);
    if (!c->role || !c->colname) return TQ_ENOMEM;
    for (int i = 0; i < r->n; i++) {
        c->colname[i] = strdup(r->field[i]);
        if (!c->colname[i]) return TQ_ENOMEM;
        if (check_utf8(c->rp, c->file, r->line, NULL, r->field[i], r->len[i], &c->stop))
            continue;
        int role = fixed_role(r->field[i], terr_names, T_NFIXED);
        if (role < 0) {
            if (c->p->ignore_unknown) {
                c->role[i] = T_IGNORE;
                continue;
            }
            report(c->rp, c->file, r->line, r->field[i], NULL, 0,
                   "unknown column (territories have id, home_lat, home_lon, capacity; "
                   "--ignore-unknown skips others)");
            c->role[i] = T_IGNORE;
            continue;
        }
        if (c->has[role]) {
            report(c->rp, c->file, r->line, r->field[i], NULL, 0,
                   "column appears twice in the header");
            c->role[i] = T_IGNORE;
            continue;
        }
        c->has[role] = i + 1;
        c->role[i] = role;
    }
    if (!c->has[T_ID])
        report(c->rp, c->file, r->line, NULL, NULL, 0, "missing required column 'id'");
    if (!c->has[T_HLAT] != !c->has[T_HLON])
        report(c->rp, c->file, r->line, NULL, NULL, 0,
               "home_lat and home_lon come together: give both columns or neither");
    /* header problems make every row wrong: stop here */
    if (c->rp->errors) c->stop = 1;
    return TQ_OK;
}

static int terr_row(const tq_csv_row *r, void *u)
{
    terr_ctx *c = u;
    const tq_import_params *p = c->p;
    char numbuf[64];
    int rc = TQ_OK;
    if (r->index == 0) {
        rc = terr_header(c, r);
        return rc ? rc : c->stop;
    }
    if (r->n != c->ncols) {
        if (report(c->rp, c->file, r->line, NULL, NULL, 0,
                   "expected %d fields as in the header, found %d", c->ncols, r->n))
            return 1;
        return 0;
    }
    if (c->k == c->cap) {
        int cap = c->cap ? 2 * c->cap : 64;
        char **id = realloc(c->id, (size_t)cap * sizeof *id);
        if (id) c->id = id;
        int64_t *line = realloc(c->line, (size_t)cap * sizeof *line);
        if (line) c->line = line;
        double *a = realloc(c->hlat, (size_t)cap * sizeof *a);
        if (a) c->hlat = a;
        double *b = realloc(c->hlon, (size_t)cap * sizeof *b);
        if (b) c->hlon = b;
        double *d = realloc(c->capacity, (size_t)cap * sizeof *d);
        if (d) c->capacity = d;
        if (!id || !line || !a || !b || !d) return TQ_ENOMEM;
        c->cap = cap;
    }
    int k = c->k;
    c->id[k] = NULL;
    c->line[k] = r->line;
    c->hlat[k] = c->hlon[k] = NAN;
    c->capacity[k] = 1.0;
    int bad = 0;
    for (int i = 0; i < r->n && !c->stop; i++) {
        const char *s = r->field[i], *col = c->colname[i];
        size_t len = r->len[i];
        int code = TQ_FIELD_OK;
        if (check_utf8(c->rp, c->file, r->line, col, s, len, &c->stop)) {
            bad = 1;
            continue;
        }
        switch (c->role[i]) {
        case T_ID:
            if (!len) code = TQ_FIELD_EMPTY;
            else if (len > TQ_IMPORT_ID_MAX) code = TQ_FIELD_TOOLONG;
            break;
        case T_HLAT:
            if (len) code = tq_val_double_in(NUM(s, len), len, -90, 90, &c->hlat[k]);
            break;
        case T_HLON:
            if (len) code = tq_val_double_in(NUM(s, len), len, -180, 180, &c->hlon[k]);
            break;
        case T_CAP:
            if (len) code = tq_val_positive(NUM(s, len), len, &c->capacity[k]);
            break;
        default: break;
        }
        if (code) {
            bad = 1;
            const char *range = c->role[i] == T_HLAT ? "[-90, 90]" : "[-180, 180]";
            if (report_field(c->rp, c->file, r->line, col, s, len, code, range)) c->stop = 1;
        }
    }
    if (c->stop) return 1;
    if (!bad && isnan(c->hlat[k]) != isnan(c->hlon[k])) {
        if (report(c->rp, c->file, r->line, NULL, NULL, 0,
                   "home_lat and home_lon come together: give both or leave both blank"))
            return 1;
    }
    /* a valid id is kept even when the row has other errors, so that a later
     * duplicate of it is reported too */
    int idc = c->has[T_ID] - 1;
    const char *id = r->field[idc];
    size_t idlen = r->len[idc];
    if (!idlen || idlen > TQ_IMPORT_ID_MAX || tq_utf8_valid_prefix(id, idlen) != idlen)
        return 0;
    int64_t first = 0;
    int dup = tq_idset_insert(&c->ids, id, idlen, k, &first);
    if (dup < 0) return dup;
    if (dup) {
        if (report(c->rp, c->file, r->line, c->colname[idc], id, idlen,
                   "duplicate territory id, first on line %lld", (long long)c->line[first]))
            return 1;
        return 0;
    }
    c->id[k] = strdup(id);
    if (!c->id[k]) return TQ_ENOMEM;
    if ((int)idlen > c->id_max) c->id_max = (int)idlen;
    c->k++;
    return 0;
}

static void terr_free(terr_ctx *c)
{
    for (int i = 0; i < c->ncols && c->colname; i++) free(c->colname[i]);
    free(c->colname);
    free(c->role);
    for (int i = 0; i < c->k; i++) free(c->id[i]);
    free(c->id);
    free(c->line);
    free(c->hlat);
    free(c->hlon);
    free(c->capacity);
    tq_idset_free(&c->ids);
}

/* ---- accounts CSV ------------------------------------------------------------------- */

/* An ordered column (o_NAME): its distinct values, each with a code (the order of first
 * appearance, stored in the batches) and a row count; ranked by their first number
 * after the last row. */
typedef struct {
    int on;
    tq_idset levels;     /* value -> code (the set's "row") */
    int64_t *count;      /* rows per code */
    int64_t cap;
    int full;            /* more than TQ_IMPORT_MAX_LEVELS values: reported once */
    double *rank;        /* code -> rank, after the scan */
} ord_col;

/* Multipliers a number may carry, right after it or after one space, as a word that
 * ends there (case aside): revenue bands are written "$500K - $1M", "$1 mil. - $5 mil.",
 * "2,5 - 5 Mio", "1B+". Longer words first. */
static const struct { const char *w; double m; } num_suffix[] = {
    {"thousand", 1e3},    {"tsd", 1e3},        {"k", 1e3},
    {"millionen", 1e6},   {"million", 1e6},    {"mill", 1e6}, {"mil", 1e6}, {"mio", 1e6},
    {"mm", 1e6},          {"m", 1e6},
    {"milliarden", 1e9},  {"billion", 1e9},    {"bil", 1e9},  {"bn", 1e9},  {"mrd", 1e9},
    {"b", 1e9},
};

/* The number (digits, ',ddd' thousands groups, a '.ddd' fraction; with dec ',' the
 * other way round) that starts at s[*i], a digit; *i moves past it and its multiplier,
 * which *mul gets (1 without one). */
static double scan_number(const char *s, size_t len, size_t *i_, char dec, double *mul)
{
    const char sep = dec == ',' ? '.' : ',';
    size_t i = *i_;
    double v = 0;
    for (;;) {
        while (i < len && s[i] >= '0' && s[i] <= '9') v = v * 10 + (s[i++] - '0');
        /* a thousands group: ',' and exactly three digits */
        if (i + 3 < len && s[i] == sep && s[i + 1] >= '0' && s[i + 1] <= '9' &&
            s[i + 2] >= '0' && s[i + 2] <= '9' && s[i + 3] >= '0' && s[i + 3] <= '9' &&
            (i + 4 == len || s[i + 4] < '0' || s[i + 4] > '9')) {
            i++;
            continue;
        }
        break;
    }
    if (i + 1 < len && s[i] == dec && s[i + 1] >= '0' && s[i + 1] <= '9') {
        double f = 0.1;
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, f /= 10) v += (s[i] - '0') * f;
    }
    *mul = 1;
    size_t j = i < len && s[i] == ' ' ? i + 1 : i;
    for (size_t k = 0; k < sizeof num_suffix / sizeof num_suffix[0]; k++) {
        size_t n = strlen(num_suffix[k].w);
        if (j + n <= len && !strncasecmp(s + j, num_suffix[k].w, n) &&
            (j + n == len || !isalpha((unsigned char)s[j + n]))) {
            *mul = num_suffix[k].m;
            i = j + n;
            break;
        }
    }
    *i_ = i;
    return v;
}

/* The first number in s[0..len) (scan_number), times its multiplier or, when it has
 * none, the first multiplier of a later number ("$1-5M" and "2 - 2,5 Mio" are ranges in
 * millions); a '-' right before it is its sign when the value starts with it or a space,
 * '(' or '$' comes before. "1 - 10%" -> 1, "f 1,000-4,999" -> 1000, "-5 to 0" -> -5,
 * "$2.5M" -> 2.5e6, "$500K - $1M" -> 5e5, "1.000 - 1.999 Tsd" -> 1e6 with dec ','. 0 when
 * the value has no digit. */
static int first_number(const char *s, size_t len, char dec, double *out)
{
    size_t i = 0;
    while (i < len && (s[i] < '0' || s[i] > '9')) i++;
    if (i == len) return 0;
    int neg = i > 0 && s[i - 1] == '-' &&
              (i == 1 || s[i - 2] == ' ' || s[i - 2] == '(' || s[i - 2] == '$');
    double mul, v = scan_number(s, len, &i, dec, &mul);
    while (mul == 1 && i < len) {
        while (i < len && (s[i] < '0' || s[i] > '9')) i++;
        if (i < len) scan_number(s, len, &i, dec, &mul);
    }
    *out = neg ? -v * mul : v * mul;
    return 1;
}

/* 1 when the field (len bytes) is one of the n tokens, byte for byte. */
static int is_token(const char *s, size_t len, const char *const *tok, int n)
{
    for (int t = 0; t < n; t++)
        if (strlen(tok[t]) == len && !memcmp(s, tok[t], len)) return 1;
    return 0;
}

typedef struct {
    const tq_import_params *p;
    reporter *rp;
    const char *file;
    int stop;            /* error budget spent */
    /* header */
    int ncols;
    int *role;           /* per CSV column: R_* */
    int *slot;           /* per CSV column: feature index (R_FEAT) */
    char **colname;      /* per CSV column: name as in the file (for messages) */
    const char **bare;   /* per CSV column: feature name without f_/o_/c_ (R_FEAT, R_CAT) */
    char *is_ord;        /* per CSV column: 1 for an ordered (o_) feature */
    int *ind_slot;       /* per CSV column: its NAME_missing feature slot, or -1 */
    int nind;            /* such slots (--indicator) */
    int nord;            /* o_ columns */
    ord_col *ord;        /* per feature slot (nf): the levels of an o_ column */
    /* --like FROM.h5: FROM's blank values and level orders, per feature slot (nf) */
    double *lfill;       /* FROM's feature_fill of the feature */
    const char **lvl;    /* FROM's levels of an o_ feature: "L0\x1fL1...\x1e", or NULL */
    char *like_levels;   /* FROM's ordered_levels attribute (lvl points into it) */
    int64_t like_new;    /* levels not among FROM's (the first LIKE_WARN_MAX warned) */
    int64_t ties;        /* o_ levels with the same first number (the first ones warned) */
    int hslots;          /* hashed slots: --hash-slots, or FROM's with --like */
    tq_accounts like_a;  /* --like: FROM's feature names (no rows) */
    int like_read;       /* 1 when they were read; else like_err says why */
    tq_err like_err;
    struct hash_seen_s **seen;  /* per hashed slot (hslots): what it holds, or NULL */
    char *lev_attr;      /* this file's ordered_levels: the records defining its ranks */
    size_t lev_len;
    int has[R_NFIXED];   /* column index + 1 of each fixed column, 0 = absent */
    int nf, nc, d;
    int ignored;         /* columns skipped (--ignore-unknown) */
    int64_t blank[2];    /* blank workload, value fields (set to the default 1) */
    double *fsum;        /* per f_ slot: sum of the fields read (for a blank's mean), */
    int64_t *fknown, *fblank;   /* fields read, blank fields */
    int64_t pos, neg;    /* label fields read as 1, 0 */
    char first_other[64];  /* the first label value that is not --positive */
    int value_is_workload; /* --map workload=X --map value=X: value copies workload */
    char **feature_names;  /* d names */
    /* territories */
    const terr_ctx *terr;
    int64_t prev_max;    /* largest prev_territory index (no territories file) */
    /* rows */
    int64_t n;           /* data rows seen */
    int id_max;          /* longest id, bytes */
    tq_idset ids;        /* every id, in row order in its arena (written at the end) */
    /* output */
    tq_accounts bufs[2]; /* double buffer: one filled here, one being written */
    tq_accounts *batch;  /* the one being filled */
    int64_t nb;          /* rows in the batch */
    pthread_t writer;    /* appends the other buffer while this one fills */
    int writer_live;
    int writer_rc;
    tq_err writer_err;
    int64_t written;
    tq_writer *w;
    tq_err *err;
    tq_progress prog;
} acc_ctx;

/* --like FROM.h5: for each f_/o_ feature of this file, FROM's value for a blank field
 * and, for an o_ one, FROM's order of its levels; a feature FROM lacks, or one ordered
 * in one file and not in the other, is an error. */
static int like_load(acc_ctx *c, const tq_csv_row *r)
{
    const char *from = c->p->like;
    const tq_accounts *a = &c->like_a;   /* FROM's feature names (acc_header read them) */
    double *fill = NULL;
    int nfill = 0, rc = TQ_OK;
    c->lfill = calloc((size_t)c->nf, sizeof *c->lfill);
    c->lvl = calloc((size_t)c->nf, sizeof *c->lvl);
    if (!c->lfill || !c->lvl) return TQ_ENOMEM;
    if (!c->like_read) {
        report(c->rp, c->file, r->line, NULL, NULL, 0, "--like %s: %s", from, c->like_err.msg);
        return TQ_OK;
    }
    if (tq_data_attr_f64v(from, "/accounts", "feature_fill", &fill, &nfill) != TQ_OK ||
        nfill != a->d) {
        report(c->rp, c->file, r->line, NULL, NULL, 0,
               "--like %s: the file does not record what its blank features were read as "
               "(written by an older tqplan import: import it again)", from);
        goto done;
    }
    c->like_levels = tq_data_attr_str(from, "/accounts", "ordered_levels");
    for (int i = 0; i < r->n; i++) {
        if (c->role[i] != R_FEAT) continue;
        int j = c->slot[i], at = -1;
        for (int q = 0; q < a->d && at < 0; q++)
            if (a->feature_names && a->feature_names[q] &&
                !strcmp(a->feature_names[q], c->bare[i]))
                at = q;
        if (at < 0) {
            report(c->rp, c->file, r->line, c->colname[i], NULL, 0,
                   "--like %s: it has no feature '%s'", from, c->bare[i]);
            continue;
        }
        c->lfill[j] = fill[at];
        c->lvl[j] = tq_attr_record(c->like_levels, c->bare[i]);   /* if ordered there */
        if (c->is_ord[i] && !c->lvl[j])
            report(c->rp, c->file, r->line, c->colname[i], NULL, 0,
                   "--like %s: '%s' is not an ordered (o_) feature there", from, c->bare[i]);
        else if (!c->is_ord[i] && c->lvl[j])
            report(c->rp, c->file, r->line, c->colname[i], NULL, 0,
                   "--like %s: '%s' is an ordered feature there: read it as o_%s", from,
                   c->bare[i], c->bare[i]);
    }
done:
    free(fill);
    return rc;
}

static int acc_header(acc_ctx *c, const tq_csv_row *r)
{
    const tq_import_params *p = c->p;
    int used_map[TQ_IMPORT_MAX_MAP] = {0};
    c->ncols = r->n;
    c->role = calloc((size_t)r->n, sizeof *c->role);
    c->slot = calloc((size_t)r->n, sizeof *c->slot);
    c->colname = calloc((size_t)r->n, sizeof *c->colname);
    c->bare = calloc((size_t)r->n, sizeof *c->bare);
    c->is_ord = calloc((size_t)r->n, sizeof *c->is_ord);
    c->ind_slot = calloc((size_t)r->n, sizeof *c->ind_slot);
    if (!c->role || !c->slot || !c->colname || !c->bare || !c->is_ord || !c->ind_slot)
        return TQ_ENOMEM;
    for (int i = 0; i < r->n; i++) {
        c->colname[i] = strdup(r->field[i]);
        if (!c->colname[i]) return TQ_ENOMEM;
    }
    for (int i = 0; i < r->n; i++) {
        const char *name = r->field[i];
        c->role[i] = R_IGNORE;
        if (check_utf8(c->rp, c->file, r->line, NULL, name, r->len[i], &c->stop)) continue;
        if (!r->len[i]) {
            if (p->ignore_unknown) continue;
            report(c->rp, c->file, r->line, NULL, NULL, 0,
                   "column %d has an empty name (--ignore-unknown skips it)", i + 1);
            continue;
        }
        for (int j = 0; j < i; j++)
            if (!strcmp(c->colname[j], name)) {
                report(c->rp, c->file, r->line, name, NULL, 0,
                       "column appears twice in the header (columns %d and %d)", j + 1, i + 1);
                goto next;
            }
        /* --map NAME=CSVCOL: this CSV column is read as NAME (as workload and value
         * when it is mapped to both: tq_import_check allows only that pair) */
        int nmapped = 0;
        for (int m = 0; m < p->nmap; m++)
            if (!strcmp(p->map_col[m], r->field[i])) {
                name = nmapped++ ? "workload" : p->map_name[m];
                used_map[m] = 1;
            }
        if (nmapped == 2) {
            if (c->has[R_VALUE]) {
                report(c->rp, c->file, r->line, c->colname[i], NULL, 0,
                       "a second 'value' column (the first is column %d)", c->has[R_VALUE]);
                continue;
            }
            c->has[R_VALUE] = i + 1;
            c->value_is_workload = 1;
        }
        int role = fixed_role(name, fixed_names, R_NFIXED);
        int kind = 0;   /* 'f' numeric, 'o' ordered or 'c' categorical feature */
        const char *own = name == r->field[i] ? c->colname[i] : name;   /* outlives the scan */
        if (role >= 0) {
            if (c->has[role]) {
                report(c->rp, c->file, r->line, c->colname[i], NULL, 0,
                       "a second '%s' column (the first is column %d)", fixed_names[role],
                       c->has[role]);
                continue;
            }
            c->has[role] = i + 1;
            c->role[i] = role;
        } else if (has_prefix(name, "f_") || has_prefix(name, "c_") || has_prefix(name, "o_")) {
            kind = tolower((unsigned char)name[0]);
            c->bare[i] = own + 2;
        } else if (p->rest) {
            kind = p->rest;
            c->bare[i] = own;
        } else if (p->ignore_unknown) {
            c->ignored++;
        } else {
            report(c->rp, c->file, r->line, c->colname[i], NULL, 0,
                   "unknown column (known: id, lat, lon, workload, value, prev_territory, "
                   "locked, label, f_*, o_*, c_*; --ignore-unknown skips others, --rest "
                   "f|o|c reads them as features, --map NAME=COLUMN renames)");
        }
        if (kind == 'f' || kind == 'o') {
            if (strchr(c->bare[i], ',')) {
                report(c->rp, c->file, r->line, c->colname[i], NULL, 0,
                       "feature names must not contain commas");
                continue;
            }
            c->role[i] = R_FEAT;
            c->slot[i] = c->nf++;
            c->is_ord[i] = kind == 'o';
            c->nord += kind == 'o';
        } else if (kind == 'c') {
            c->role[i] = R_CAT;
            c->nc++;
        }
    next:;
    }
    for (int role = R_ID; role <= R_LON; role++)
        if (!c->has[role])
            report(c->rp, c->file, r->line, NULL, NULL, 0, "missing required column '%s'",
                   fixed_names[role]);
    if (p->npositive && !c->has[R_LABEL])
        report(c->rp, c->file, r->line, NULL, NULL, 0,
               "--positive %s: the header has no label column (--map label=COLUMN names it)",
               p->positive[0]);
    for (int m = 0; m < p->nmap; m++)
        if (!used_map[m])
            report(c->rp, c->file, r->line, NULL, NULL, 0,
                   "--map %s=%s: the header has no column '%s'", p->map_name[m],
                   p->map_col[m], p->map_col[m]);
    /* --like FROM: FROM's number of hashed slots, and its NAME_missing indicators */
    c->hslots = p->hash_slots;
    char *like_ind = calloc((size_t)r->n, 1);
    if (!like_ind) return TQ_ENOMEM;
    if (p->like) {
        /* FROM's feature names, read once (like_load checks them against this file's) */
        c->like_read = tq_accounts_read_range(p->like, TQ_COL_LABEL, 0, 0, &c->like_a,
                                              &c->like_err) == TQ_OK;
        const tq_accounts *fa = &c->like_a;
        if (c->like_read && fa->feature_names) {
            int nh = 0;
            for (int q = 0; q < fa->d; q++) {
                const char *fn = fa->feature_names[q];
                nh += fn && !strncmp(fn, "hash", 4) && fn[4] && strspn(fn + 4, "0123456789") ==
                      strlen(fn + 4);
                size_t fl = fn ? strlen(fn) : 0;
                for (int i = 0; fl > 8 && !strcmp(fn + fl - 8, "_missing") && i < r->n; i++)
                    if (c->role[i] == R_FEAT && strlen(c->bare[i]) == fl - 8 &&
                        !strncmp(fn, c->bare[i], fl - 8))
                        like_ind[i] = 1;
            }
            if (nh > 0) c->hslots = nh;
        }
    }
    /* --indicator NAME|all: a NAME_missing slot after the hashed ones (1 where the
     * field is blank) */
    const int hash_end = c->nf + (c->nc ? c->hslots : 0);
    for (int i = 0; i < r->n; i++) c->ind_slot[i] = -1;
    for (int i = 0; i < r->n; i++) {
        if (c->role[i] != R_FEAT) continue;
        int want = like_ind[i];
        for (int m = 0; m < p->nindicator; m++)
            want |= !strcmp(p->indicator[m], "all") || !strcmp(p->indicator[m], c->bare[i]);
        if (want) c->ind_slot[i] = hash_end + c->nind++;
    }
    free(like_ind);
    for (int m = 0; m < p->nindicator; m++) {
        int found = !strcmp(p->indicator[m], "all");
        for (int i = 0; i < r->n && !found; i++)
            found = c->role[i] == R_FEAT && !strcmp(p->indicator[m], c->bare[i]);
        if (!found)
            report(c->rp, c->file, r->line, NULL, NULL, 0,
                   "--indicator %s: no numeric (f_ or o_) feature of that name",
                   p->indicator[m]);
    }
    if (c->rp->errors) {
        c->stop = 1;
        return TQ_OK;
    }
    c->d = hash_end + c->nind;
    if (c->nc) {
        c->seen = calloc((size_t)c->hslots, sizeof *c->seen);
        if (!c->seen) return TQ_ENOMEM;
    }
    if (c->nf) {
        c->fsum = calloc((size_t)c->nf, sizeof *c->fsum);
        c->fknown = calloc((size_t)c->nf, sizeof *c->fknown);
        c->fblank = calloc((size_t)c->nf, sizeof *c->fblank);
        c->ord = calloc((size_t)c->nf, sizeof *c->ord);
        if (!c->fsum || !c->fknown || !c->fblank || !c->ord) return TQ_ENOMEM;
        for (int i = 0; i < r->n; i++)
            if (c->role[i] == R_FEAT && c->is_ord[i]) {
                c->ord[c->slot[i]].on = 1;
                if (tq_idset_init(&c->ord[c->slot[i]].levels, 64)) return TQ_ENOMEM;
            }
        if (p->like) {
            int rc = like_load(c, r);
            if (rc) return rc;
            if (c->rp->errors) {
                c->stop = 1;
                return TQ_OK;
            }
        }
    }
    if (c->d) {
        c->feature_names = calloc((size_t)c->d, sizeof *c->feature_names);
        if (!c->feature_names) return TQ_ENOMEM;
        for (int i = 0; i < r->n; i++) {
            if (c->role[i] != R_FEAT) continue;
            c->feature_names[c->slot[i]] = strdup(c->bare[i]);
            if (!c->feature_names[c->slot[i]]) return TQ_ENOMEM;
        }
        for (int j = c->nf; j < hash_end; j++) {
            char buf[32];
            snprintf(buf, sizeof buf, "hash%d", j - c->nf);
            c->feature_names[j] = strdup(buf);
            if (!c->feature_names[j]) return TQ_ENOMEM;
        }
        for (int i = 0; i < r->n; i++) {
            if (c->ind_slot[i] < 0) continue;
            size_t len = strlen(c->bare[i]) + sizeof "_missing";
            c->feature_names[c->ind_slot[i]] = malloc(len);
            if (!c->feature_names[c->ind_slot[i]]) return TQ_ENOMEM;
            snprintf(c->feature_names[c->ind_slot[i]], len, "%s_missing", c->bare[i]);
        }
    }
    return TQ_OK;
}

/* The writer thread: appends one full batch (HDF5 is called from one thread at a
 * time: the main thread touches the file only before the first and after the last
 * append). */
static void *writer_main(void *arg)
{
    acc_ctx *c = arg;
    tq_accounts *b = c->batch == &c->bufs[0] ? &c->bufs[1] : &c->bufs[0];
    c->writer_rc = tq_writer_append(c->w, b, &c->writer_err);
    return NULL;
}

/* Wait for the append in flight, if any; its status. */
static int writer_wait(acc_ctx *c)
{
    if (!c->writer_live) return TQ_OK;
    pthread_join(c->writer, NULL);
    c->writer_live = 0;
    if (c->writer_rc && c->err) *c->err = c->writer_err;
    return c->writer_rc;
}

/* Hand the full batch to the writer thread and fill the other buffer meanwhile:
 * parsing (one core) overlaps compression and writing (the other). Cost: one
 * batch's memory more. */
static int flush_batch(acc_ctx *c)
{
    int rc = writer_wait(c);
    if (rc || !c->nb) return rc;
    if (!c->w) {
        /* the output is created with the first full batch (a file with an error in
         * its first batch never touches the disk); ids come at the end (id_len 0) */
        c->w = tq_writer_create(c->p->out, c->d, 0, c->feature_names, c->err);
        if (!c->w) return c->err->status ? c->err->status : TQ_EIO;
    }
    c->batch->lo = 0;
    c->batch->hi = c->nb;
    c->batch->n = c->nb;
    c->batch = c->batch == &c->bufs[0] ? &c->bufs[1] : &c->bufs[0];
    c->writer_rc = TQ_OK;
    if (pthread_create(&c->writer, NULL, writer_main, c)) {
        /* no thread: append here */
        tq_accounts *b = c->batch == &c->bufs[0] ? &c->bufs[1] : &c->bufs[0];
        rc = tq_writer_append(c->w, b, c->err);
    } else {
        c->writer_live = 1;
    }
    c->written += c->nb;
    c->nb = 0;
    return rc;
}

/* What a hashed slot holds, for reading a model: its first HASH_SEEN categories
 * ("NAME=V", by their 64-bit hash) and how many fields of others. */
#define HASH_SEEN 4
typedef struct hash_seen_s {
    int n;
    uint64_t h[HASH_SEEN];
    char *txt[HASH_SEEN];   /* "NAME=V" */
    int64_t other;          /* fields of other categories */
} hash_seen;

static int slot_seen(acc_ctx *c, int slot, uint64_t h, const char *name, const char *v,
                     size_t vlen)
{
    hash_seen *e = c->seen[slot];
    if (!e) {
        e = c->seen[slot] = calloc(1, sizeof *e);
        if (!e) return 1;
    }
    for (int q = 0; q < e->n; q++)
        if (e->h[q] == h) return 0;
    if (e->n == HASH_SEEN) {
        e->other++;
        return 0;
    }
    size_t len = strlen(name) + vlen + 2;
    e->txt[e->n] = malloc(len);
    if (!e->txt[e->n]) return 1;
    snprintf(e->txt[e->n], len, "%s=%.*s", name, (int)vlen, v);
    e->h[e->n++] = h;
    return 0;
}

/* An o_ field: its level's code into feat[slot] (the level added when new). Returns 1
 * when the field is bad (reported). */
static int ord_level(acc_ctx *c, int slot, int64_t line, const char *col, const char *s,
                     size_t len, float *feat)
{
    ord_col *o = &c->ord[slot];
    double lead;
    if (!first_number(s, len, c->p->decimal, &lead)) {
        if (report(c->rp, c->file, line, col, s, len,
                   "no number to order this value by (o_ columns are ranked by the first "
                   "number in each value; --missing WORD reads a word as blank)"))
            c->stop = 1;
        return 1;
    }
    int64_t code = o->levels.count, first = 0;
    int dup = 0;
    if (code < TQ_IMPORT_MAX_LEVELS) {
        dup = tq_idset_insert(&o->levels, s, len, code, &first);
    } else {
        first = tq_idset_find(&o->levels, s, len);
        dup = first >= 0;
    }
    if (dup < 0) {
        c->stop = TQ_ENOMEM;
        return 1;
    }
    if (dup) {
        code = first;
    } else if (code >= TQ_IMPORT_MAX_LEVELS) {
        if (!o->full &&
            report(c->rp, c->file, line, col, s, len,
                   "more than %d different values: not an ordered code (f_ or c_ reads it)",
                   TQ_IMPORT_MAX_LEVELS))
            c->stop = 1;
        o->full = 1;
        return 1;
    }
    if (code >= o->cap) {
        int64_t cap = o->cap ? 2 * o->cap : 64;
        int64_t *n = realloc(o->count, (size_t)cap * sizeof *n);
        if (!n) {
            c->stop = TQ_ENOMEM;
            return 1;
        }
        memset(n + o->cap, 0, (size_t)(cap - o->cap) * sizeof *n);
        o->count = n;
        o->cap = cap;
    }
    o->count[code]++;
    if (feat) feat[slot] = (float)code;
    return 0;
}

static int acc_row(const tq_csv_row *r, void *u)
{
    acc_ctx *c = u;
    const tq_import_params *p = c->p;
    char numbuf[64];
    if (r->index == 0) {
        int rc = acc_header(c, r);
        if (rc) return rc;
        if (c->stop) return c->stop;
        /* d is known now: the batches (ids are not in them: they are written from the
         * id set at the end, when the longest is known) */
        const unsigned cols = TQ_COL_LATLON | TQ_COL_WORKLOAD | TQ_COL_VALUE | TQ_COL_PREV |
                              TQ_COL_LOCKED | TQ_COL_FEATURES | TQ_COL_LABEL;
        rc = tq_accounts_alloc(&c->bufs[0], p->batch_rows, c->d, 0, cols);
        if (!rc) rc = tq_accounts_alloc(&c->bufs[1], p->batch_rows, c->d, 0, cols);
        c->batch = &c->bufs[0];
        if (rc)
            tq_err_set(c->err, rc, "import: out of memory for a batch of %lld rows",
                       (long long)p->batch_rows);
        return rc;
    }
    if (r->n != c->ncols) {
        c->n++;
        if (report(c->rp, c->file, r->line, NULL, NULL, 0,
                   "expected %d fields as in the header, found %d", c->ncols, r->n))
            return 1;
        return 0;
    }
    /* the row's values; defaults for absent columns */
    int64_t j = c->nb;
    double lat = 0, lon = 0, workload = 1, value = 1;
    int64_t prev = -1;
    uint8_t locked = 0;
    int8_t label = -1;
    float *feat = c->d ? c->batch->features + j * c->d : NULL;
    if (c->d) memset(feat, 0, (size_t)c->d * sizeof *feat);
    int bad = 0;
    const int idc = c->has[R_ID] - 1;
    const char *id = r->field[idc];
    size_t idlen = r->len[idc];
    /* start the id set's cache miss now; the insert comes after the row's checks */
    uint64_t idh = tq_idset_hash(&c->ids, id, idlen);
    for (int i = 0; i < r->n; i++) {
        const char *s = r->field[i], *col = c->colname[i];
        size_t len = r->len[i];
        int code = TQ_FIELD_OK;
        const char *range = NULL;
        double v;
        if (check_utf8(c->rp, c->file, r->line, col, s, len, &c->stop)) {
            bad = 1;
            if (c->stop) break;
            continue;
        }
        if (p->nmissing && c->role[i] != R_ID && is_token(s, len, p->missing, p->nmissing))
            len = 0;   /* --missing: read as a blank field */
        switch (c->role[i]) {
        case R_ID:
            if (!len) code = TQ_FIELD_EMPTY;
            else if (len > TQ_IMPORT_ID_MAX) code = TQ_FIELD_TOOLONG;
            break;
        case R_LAT:
            code = tq_val_double_in(NUM(s, len), len, -90, 90, &lat);
            range = "[-90, 90]";
            break;
        case R_LON:
            code = tq_val_double_in(NUM(s, len), len, -180, 180, &lon);
            range = "[-180, 180]";
            break;
        case R_WORKLOAD:
            if (!len) {   /* blank: the default, counted and reported as a warning */
                c->blank[0]++;
                c->blank[1] += c->value_is_workload;
                break;
            }
            {
                size_t al;
                const char *as = amount(p, s, len, numbuf, sizeof numbuf, &al);
                code = tq_val_nonneg(as, al, &workload);
            }
            if (!code && workload > FLT_MAX) code = TQ_FIELD_RANGE;
            range = "the float32 range";
            if (c->value_is_workload) value = workload;
            break;
        case R_VALUE:
            if (!len) {
                c->blank[1]++;
                break;
            }
            {
                size_t al;
                const char *as = amount(p, s, len, numbuf, sizeof numbuf, &al);
                code = tq_val_nonneg(as, al, &value);
            }
            if (!code && value > FLT_MAX) code = TQ_FIELD_RANGE;
            range = "the float32 range";
            break;
        case R_LOCKED:
            code = tq_val_bool(s, len, &locked);
            if (code) {
                bad = 1;
                if (report(c->rp, c->file, r->line, col, s, len,
                           "locked must be 0, 1, true, false or blank"))
                    c->stop = 1;
                code = TQ_FIELD_OK;
            }
            break;
        case R_LABEL:
            if (p->npositive) {   /* a positive value, another one, or blank (unknown) */
                code = TQ_FIELD_OK;
                label = -1;
                while (len && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
                while (len && (*s == ' ' || *s == '\t')) s++, len--;
                if (len) label = (int8_t)is_token(s, len, p->positive, p->npositive);
                if (label == 0 && !c->first_other[0])
                    tq_val_quote(s, len, c->first_other, sizeof c->first_other);
            } else {
                code = tq_val_label(s, len, &label);
            }
            if (code) {
                bad = 1;
                if (report(c->rp, c->file, r->line, col, s, len,
                           "label must be 0, 1 or blank (unknown)"))
                    c->stop = 1;
                code = TQ_FIELD_OK;
            }
            break;
        case R_PREV:
            if (!len) break;   /* blank: no territory last year */
            if (c->terr) {
                prev = tq_idset_find(&c->terr->ids, s, len);
                if (prev < 0) {
                    bad = 1;
                    if (report(c->rp, c->file, r->line, col, s, len,
                               "not among the territories of %s", c->terr->file))
                        c->stop = 1;
                }
            } else {
                code = tq_val_int(s, len, 0, TQ_IMPORT_K_MAX - 1, &prev);
                if (code) {
                    bad = 1;
                    if (report(c->rp, c->file, r->line, col, s, len,
                               "not a territory index (an integer in [0, %d); give "
                               "--territories to use territory ids)",
                               TQ_IMPORT_K_MAX))
                        c->stop = 1;
                    code = TQ_FIELD_OK;
                    prev = -1;
                } else if (prev > c->prev_max) {
                    c->prev_max = prev;
                }
            }
            break;
        case R_FEAT:
            if (c->is_ord[i]) {   /* a level code now, its rank after the last row */
                if (feat) feat[c->slot[i]] = NAN;
                if (len && ord_level(c, c->slot[i], r->line, col, s, len, feat))
                    bad = 1;
                break;
            }
            {
                size_t al;
                const char *as = amount(p, s, len, numbuf, sizeof numbuf, &al);
                code = tq_val_double(as, al, &v);
            }
            if (code == TQ_FIELD_EMPTY) {   /* blank: the column's mean, filled at the end */
                code = TQ_FIELD_OK;
                v = NAN;
            }
            if (code == TQ_FIELD_SYNTAX && !p->thousands && looks_formatted(s, len)) {
                bad = 1;
                if (report(c->rp, c->file, r->line, col, s, len, "not a number (--thousands , "
                           "reads formatted amounts such as $1,234.50)"))
                    c->stop = 1;
                code = TQ_FIELD_OK;
                break;
            }
            if (code == TQ_FIELD_SYNTAX) {   /* words in a numeric column: say what helps */
                bad = 1;
                if (report(c->rp, c->file, r->line, col, s, len,
                           "not a number (--map o_%s=%s ranks the values by their first "
                           "number, --map c_%s=%s reads them as categories; --missing WORD "
                           "reads a missing-value word as blank)", c->bare[i], col,
                           c->bare[i], col))
                    c->stop = 1;
                code = TQ_FIELD_OK;
                break;
            }
            if (!code && fabs(v) > FLT_MAX) code = TQ_FIELD_RANGE;
            range = "the float32 range";
            if (!code && feat) feat[c->slot[i]] = (float)v;
            break;
        case R_CAT:
            if (len && feat) {
                uint64_t h = tq_feature_hash64(c->bare[i], s, len);
                int slot = (int)(h % (uint64_t)c->hslots);
                feat[c->nf + slot] += (h >> 63) ? -1.0f : 1.0f;
                if (slot_seen(c, slot, h, c->bare[i], s, len)) return TQ_ENOMEM;
            }
            break;
        default: break;
        }
        if (code == TQ_FIELD_SYNTAX && !p->thousands && looks_formatted(s, len) &&
            (c->role[i] == R_WORKLOAD || c->role[i] == R_VALUE)) {
            bad = 1;
            if (report(c->rp, c->file, r->line, col, s, len, "not a number (--thousands , "
                       "reads formatted amounts such as $1,234.50)"))
                c->stop = 1;
        } else if (code) {
            bad = 1;
            if (report_field(c->rp, c->file, r->line, col, s, len, code, range)) c->stop = 1;
        }
        if (c->stop) break;
    }
    c->n++;
    if (p->progress && !(c->n & 0xffff)) tq_progress_update(&c->prog, r->bytes_read);
    if (c->stop) return c->stop < 0 ? c->stop : 1;
    /* the id goes into the set also when the row has other errors, so that a later
     * copy of it is reported as well */
    if (!bad || (idlen && idlen <= TQ_IMPORT_ID_MAX && tq_utf8_valid_prefix(id, idlen) == idlen)) {
        int64_t first = 0;
        int dup = tq_idset_insert_hashed(&c->ids, idh, id, idlen, r->line, &first);
        if (dup < 0) return dup;
        if (dup) {
            bad = 1;
            if (report(c->rp, c->file, r->line, c->colname[idc], id, idlen,
                       "duplicate id, first on line %lld", (long long)first))
                return 1;
        }
        if ((int)idlen > c->id_max) c->id_max = (int)idlen;
    }
    /* once the file has an error nothing will be written: only validate from there */
    if (bad || c->rp->errors) return 0;
    c->batch->lat[j] = lat;
    c->batch->lon[j] = lon;
    c->batch->workload[j] = (float)workload;
    c->batch->value[j] = (float)value;
    c->batch->prev_territory[j] = (int32_t)prev;
    c->batch->locked[j] = locked;
    c->batch->label[j] = label;
    c->pos += label == 1;
    c->neg += label == 0;
    for (int i = 0; i < c->ncols; i++) {
        if (c->role[i] != R_FEAT) continue;
        float x = feat[c->slot[i]];
        if (isnan(x)) {
            c->fblank[c->slot[i]]++;
            if (c->ind_slot[i] >= 0) feat[c->ind_slot[i]] = 1.0f;
        } else {
            c->fsum[c->slot[i]] += c->is_ord[i] ? 0.0 : x;   /* o_: from the ranks, later */
            c->fknown[c->slot[i]]++;
        }
    }
    c->nb++;
    if (c->nb == p->batch_rows) {
        int rc = flush_batch(c);
        if (rc) return rc;
    }
    return 0;
}

static void acc_free(acc_ctx *c)
{
    for (int i = 0; i < c->ncols && c->colname; i++) free(c->colname[i]);
    free(c->colname);
    free(c->bare);
    free(c->is_ord);
    free(c->ind_slot);
    for (int j = 0; c->seen && j < c->hslots; j++) {
        if (!c->seen[j]) continue;
        for (int q = 0; q < c->seen[j]->n; q++) free(c->seen[j]->txt[q]);
        free(c->seen[j]);
    }
    free(c->seen);
    for (int j = 0; c->ord && j < c->nf; j++) {
        tq_idset_free(&c->ord[j].levels);
        free(c->ord[j].count);
        free(c->ord[j].rank);
    }
    free(c->ord);
    free(c->lfill);
    free(c->lvl);
    free(c->like_levels);
    tq_accounts_free(&c->like_a);
    free(c->lev_attr);
    free(c->fsum);
    free(c->fknown);
    free(c->fblank);
    free(c->role);
    free(c->slot);
    for (int j = 0; j < c->d && c->feature_names; j++) free(c->feature_names[j]);
    free(c->feature_names);
    tq_idset_free(&c->ids);
    tq_accounts_free(&c->bufs[0]);
    tq_accounts_free(&c->bufs[1]);
}

/* A level of an ordered column, for sorting. */
typedef struct {
    double lead;
    const char *text;
    int64_t code;
} ord_level_t;

static int ord_cmp(const void *a, const void *b)
{
    const ord_level_t *x = a, *y = b;
    if (x->lead != y->lead) return x->lead < y->lead ? -1 : 1;
    return strcmp(x->text, y->text);
}

#define LIKE_WARN_MAX 5

/* --like: the ranks of column i's levels lv (L of them, sorted) are their places among
 * FROM's levels; a level FROM lacks goes between its neighbours there (a rank x.5),
 * with a warning. *rec is set to FROM's record of the column (malloc'ed), the one that
 * defines these ranks. */
static int like_ranks(acc_ctx *c, int i, const ord_level_t *lv, int64_t L, const char **rec,
                      size_t *reclen)
{
    ord_col *o = &c->ord[c->slot[i]];
    const char *ls = c->lvl[c->slot[i]];
    size_t total = strcspn(ls, "\x1e");
    int64_t M = 0;
    for (size_t q = 0; q <= total; q++) M += q == total || ls[q] == '\x1f';
    ord_level_t *fl = calloc((size_t)M, sizeof *fl);
    char *copy = strndup(ls, total);
    size_t bl = strlen(c->bare[i]);
    char *r = malloc(bl + total + 3);
    tq_idset set;
    memset(&set, 0, sizeof set);
    if (!fl || !copy || !r || tq_idset_init(&set, M)) {
        free(fl);
        free(copy);
        free(r);
        tq_idset_free(&set);
        return TQ_ENOMEM;
    }
    sprintf(r, "%s\x1f%s\x1e", c->bare[i], copy);
    int64_t m = 0;
    for (char *t = copy;; t++) {
        char *e = t + strcspn(t, "\x1f");
        int last = !*e;
        *e = 0;
        fl[m].text = t;
        fl[m].code = m;
        first_number(t, strlen(t), c->p->decimal, &fl[m].lead);
        int64_t first;
        if (tq_idset_insert(&set, t, strlen(t), m, &first) < 0) M = -1;
        m++;
        if (last || M < 0) break;
        t = e;
    }
    int64_t unknown = 0;
    for (int64_t k = 0; k < L && M >= 0; k++) {
        int64_t at = tq_idset_find(&set, lv[k].text, strlen(lv[k].text));
        if (at >= 0) {
            o->rank[lv[k].code] = (double)at;
            continue;
        }
        /* FROM's levels are in (first number, text) order: the first one after it */
        int64_t lo = 0, hi = m;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (ord_cmp(&fl[mid], &lv[k]) < 0) lo = mid + 1;
            else hi = mid;
        }
        o->rank[lv[k].code] = (double)lo - 0.5;
        unknown++;
        if (c->like_new++ < LIKE_WARN_MAX) {
            char msg[800], q[4][160], where[400];
            tq_val_quote(lo > 0 ? fl[lo - 1].text : "", lo > 0 ? strlen(fl[lo - 1].text) : 0,
                         q[2], sizeof q[2]);
            tq_val_quote(lo < m ? fl[lo].text : "", lo < m ? strlen(fl[lo].text) : 0, q[3],
                         sizeof q[3]);
            if (lo == 0) snprintf(where, sizeof where, "below the lowest, '%s'", q[3]);
            else if (lo == m) snprintf(where, sizeof where, "above the highest, '%s'", q[2]);
            else snprintf(where, sizeof where, "between '%s' and '%s'", q[2], q[3]);
            snprintf(msg, sizeof msg, "%s:%s: '%s' is not among the levels of %s: ranked "
                     "%.1f, %s", c->file,
                     tq_val_quote(c->colname[i], strlen(c->colname[i]), q[0], sizeof q[0]),
                     tq_val_quote(lv[k].text, strlen(lv[k].text), q[1], sizeof q[1]),
                     c->p->like, (double)lo - 0.5, where);
            if (c->p->warn) c->p->warn(c->p->report_ctx, msg);
            else tq_warn("%s", msg);
        }
    }
    (void)unknown;
    tq_idset_free(&set);
    free(fl);
    free(copy);
    if (M < 0) {
        free(r);
        return TQ_ENOMEM;
    }
    *rec = r;
    *reclen = strlen(r);
    return TQ_OK;
}

/* Rank the levels of ordered column slot j by (first number, text); the order goes to
 * *order as "NAME\x1fL0\x1fL1...\x1e" (appended; for --json). Warns when two levels
 * start with the same number (then the text decides). */
static int ord_rank(acc_ctx *c, int i, char **order, size_t *olen)
{
    ord_col *o = &c->ord[c->slot[i]];
    int64_t L = o->levels.count;
    ord_level_t *lv = malloc((size_t)(L ? L : 1) * sizeof *lv);
    o->rank = malloc((size_t)(L ? L : 1) * sizeof *o->rank);
    if (!lv || !o->rank) {
        free(lv);
        return TQ_ENOMEM;
    }
    /* the arena holds (int64 code, bytes, NUL) in insertion order */
    int64_t off = 0;
    for (int64_t k = 0; k < L; k++) {
        const char *e = o->levels.arena + off + sizeof(int64_t);
        memcpy(&lv[k].code, o->levels.arena + off, sizeof lv[k].code);
        lv[k].text = e;
        first_number(e, strlen(e), c->p->decimal, &lv[k].lead);
        off += (int64_t)(sizeof(int64_t) + strlen(e) + 1);
    }
    qsort(lv, (size_t)L, sizeof *lv, ord_cmp);
    size_t need = strlen(c->bare[i]) + 2;
    for (int64_t k = 0; k < L; k++) need += strlen(lv[k].text) + 1;
    char *b = realloc(*order, *olen + need + 1);
    if (!b) {
        free(lv);
        return TQ_ENOMEM;
    }
    *order = b;
    *olen += (size_t)sprintf(b + *olen, "%s", c->bare[i]);
    for (int64_t k = 0; k < L; k++) {
        o->rank[lv[k].code] = (double)k;
        *olen += (size_t)sprintf(b + *olen, "\x1f%s", lv[k].text);
        if (k && lv[k].lead == lv[k - 1].lead && c->ties++ < LIKE_WARN_MAX) {
            char msg[700], q[3][200];
            snprintf(msg, sizeof msg, "%s:%s: '%s' and '%s' start with the same number: "
                     "ordered by their text", c->file,
                     tq_val_quote(c->colname[i], strlen(c->colname[i]), q[0], sizeof q[0]),
                     tq_val_quote(lv[k - 1].text, strlen(lv[k - 1].text), q[1], sizeof q[1]),
                     tq_val_quote(lv[k].text, strlen(lv[k].text), q[2], sizeof q[2]));
            if (c->p->warn) c->p->warn(c->p->report_ctx, msg);
            else tq_warn("%s", msg);
        }
    }
    *olen += (size_t)sprintf(b + *olen, "\x1e");
    int rc = TQ_OK;
    const char *rec = b + *olen - need + 1;   /* this column's record, as appended */
    size_t reclen = need - 1;
    if (c->lvl && c->lvl[c->slot[i]]) rc = like_ranks(c, i, lv, L, &rec, &reclen);
    /* the record that defines the ranks goes into the file (ordered_levels) */
    char *la = rc ? NULL : realloc(c->lev_attr, c->lev_len + reclen + 1);
    if (!la) {
        free(lv);
        return TQ_ENOMEM;
    }
    c->lev_attr = la;
    memcpy(la + c->lev_len, rec, reclen);
    c->lev_len += reclen;
    la[c->lev_len] = 0;
    if (c->lvl && c->lvl[c->slot[i]]) free((char *)rec);
    /* the known fields' sum, for a blank's mean: ranks by their counts */
    double sum = 0;
    for (int64_t k = 0; k < L; k++) sum += (double)o->count[k] * o->rank[k];
    c->fsum[c->slot[i]] = sum;
    free(lv);
    return TQ_OK;
}

typedef struct {
    const acc_ctx *c;
    const double *fill;   /* d: a blank's value (NaN: none) */
} rewrite_ctx;

/* tq_writer_rewrite_features's pass: level codes -> ranks, blanks -> the mean. */
static void rewrite_rows(void *u, float *x, int64_t rows, int d)
{
    const rewrite_ctx *rc = u;
    const acc_ctx *c = rc->c;
    for (int64_t r = 0; r < rows; r++) {
        float *xr = x + r * d;
        for (int j = 0; j < c->nf; j++) {
            if (isnan(xr[j])) {
                if (!isnan(rc->fill[j])) xr[j] = (float)rc->fill[j];
            } else if (c->ord[j].on) {
                xr[j] = (float)c->ord[j].rank[(int64_t)xr[j]];
            }
        }
    }
}

/* After the last row: ordered columns ranked, blank numeric fields read as their
 * column's mean (one warning per such column), and the features rewritten once with
 * both. */
static int finish_features(acc_ctx *c, tq_import_stats *st)
{
    int rc = TQ_OK;
    if (!c->nf) return TQ_OK;
    double *fill = malloc((size_t)c->d * sizeof *fill);
    if (!fill) {
        tq_err_set(c->err, TQ_ENOMEM, "import: out of memory");
        return TQ_ENOMEM;
    }
    for (int j = 0; j < c->d; j++) fill[j] = NAN;
    for (int i = 0; i < c->ncols && rc == TQ_OK; i++)
        if (c->role[i] == R_FEAT && c->is_ord[i])
            rc = ord_rank(c, i, &st->ordered, &st->ordered_len);
    if (rc) {
        free(fill);
        tq_err_set(c->err, rc, "import: out of memory ranking the ordered columns");
        return rc;
    }
    if (c->ties > LIKE_WARN_MAX) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s: %lld more o_ values start with the same number as "
                 "another value of their column: ordered by their text", c->file,
                 (long long)(c->ties - LIKE_WARN_MAX));
        if (c->p->warn) c->p->warn(c->p->report_ctx, msg);
        else tq_warn("%s", msg);
    }
    if (c->like_new > LIKE_WARN_MAX) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s: %lld more o_ values not among the levels of %s, each "
                 "ranked between its neighbours there", c->file,
                 (long long)(c->like_new - LIKE_WARN_MAX), c->p->like);
        if (c->p->warn) c->p->warn(c->p->report_ctx, msg);
        else tq_warn("%s", msg);
    }
    st->like_new = c->like_new;
    /* a blank's value for every f_/o_ feature (recorded as feature_fill, for --like):
     * FROM's with --like, else the mean of the column's fields */
    for (int i = 0; i < c->ncols; i++)
        if (c->role[i] == R_FEAT)
            fill[c->slot[i]] = c->lfill ? c->lfill[c->slot[i]]
                                        : c->fknown[c->slot[i]]
                                              ? c->fsum[c->slot[i]] / (double)c->fknown[c->slot[i]]
                                              : NAN;
    for (int i = 0; i < c->ncols; i++) {
        if (c->role[i] != R_FEAT) continue;
        int j = c->slot[i];
        if (!c->fblank[j]) continue;
        st->imputed += c->fblank[j];
        st->imputed_columns++;
        char msg[512], q[256];
        char hint[300] = "";
        if (c->ind_slot[i] < 0)
            snprintf(hint, sizeof hint, "; --indicator %s adds a feature %s_missing",
                     c->bare[i], c->bare[i]);
        char whose[300];
        if (c->lfill) snprintf(whose, sizeof whose, "the value %s gives it,", c->p->like);
        else snprintf(whose, sizeof whose, "the column's mean");
        snprintf(msg, sizeof msg, "%s:%s: %lld blank field%s (%.1f%%) read as %s %.6g%s%s",
                 c->file, tq_val_quote(c->colname[i], strlen(c->colname[i]), q, sizeof q),
                 (long long)c->fblank[j], c->fblank[j] > 1 ? "s" : "",
                 100.0 * (double)c->fblank[j] / (double)c->n, whose, (double)(float)fill[j],
                 c->is_ord[i] ? " (of the ranks)" : "", hint);
        if (c->p->warn) c->p->warn(c->p->report_ctx, msg);
        else tq_warn("%s", msg);
    }
    if (st->imputed || c->nord) {
        rewrite_ctx u = {c, fill};
        rc = tq_writer_rewrite_features(c->w, rewrite_rows, &u, c->err);
    }
    /* what a later import --like this file needs */
    if (rc == TQ_OK && (tq_writer_attr_f64v(c->w, "feature_fill", fill, c->d) != TQ_OK ||
                        (c->lev_attr && tq_writer_attr_str(c->w, "ordered_levels",
                                                           c->lev_attr) != TQ_OK))) {
        tq_err_set(c->err, TQ_EIO, "import: cannot write the feature attributes");
        rc = TQ_EIO;
    }
    free(fill);
    return rc;
}

/* The /accounts attribute hash_contents: per hashed slot that holds anything,
 * "hashJ" US "+NAME=V" US "-NAME=V" ... [US "~N"] RS (US = 0x1F, RS = 0x1E): the first
 * HASH_SEEN categories with the sign they add, then N fields of other categories. */
static int write_hash_contents(acc_ctx *c)
{
    if (!c->seen) return TQ_OK;
    size_t cap = 256, len = 0;
    char *b = malloc(cap);
    if (!b) return TQ_ENOMEM;
    b[0] = 0;
    for (int j = 0; j < c->hslots; j++) {
        const hash_seen *e = c->seen[j];
        if (!e) continue;
        size_t need = 64;
        for (int q = 0; q < e->n; q++) need += strlen(e->txt[q]) + 2;
        if (len + need >= cap) {
            while (len + need >= cap) cap *= 2;
            char *nb = realloc(b, cap);
            if (!nb) {
                free(b);
                return TQ_ENOMEM;
            }
            b = nb;
        }
        len += (size_t)sprintf(b + len, "hash%d", j);
        for (int q = 0; q < e->n; q++)
            len += (size_t)sprintf(b + len, "\x1f%c%s", (e->h[q] >> 63) ? '-' : '+', e->txt[q]);
        if (e->other) len += (size_t)sprintf(b + len, "\x1f~%lld", (long long)e->other);
        len += (size_t)sprintf(b + len, "\x1e");
    }
    int rc = tq_writer_attr_str(c->w, "hash_contents", b) == TQ_OK ? TQ_OK : TQ_EIO;
    if (rc) tq_err_set(c->err, rc, "import: cannot write hash_contents");
    free(b);
    return rc;
}

/* ---- the import ----------------------------------------------------------------------- */

int tq_import_run(const tq_import_params *p, tq_import_stats *stats, tq_err *err)
{
    int rc = TQ_OK;
    reporter rp = {p, 0};
    terr_ctx tc;
    acc_ctx ac;
    tq_territories terr;
    char *terr_ids = NULL;
    memset(&tc, 0, sizeof tc);
    memset(&ac, 0, sizeof ac);
    memset(&terr, 0, sizeof terr);
    tq_import_stats st;
    memset(&st, 0, sizeof st);
    tq_csv_params cp;
    tq_csv_defaults(&cp);
    cp.buf_bytes = p->buf_bytes;
    cp.delim = p->delim;
    tq_csv_stats cs;
    double t0 = tq_now();

    const char *bad = tq_import_check(p);
    if (bad) {
        tq_err_set(err, rc = TQ_EINVAL, "import: %s", bad);
        goto done;
    }
    /* 1. territories, whole */
    if (p->territories) {
        tc.p = p;
        tc.rp = &rp;
        tc.file = p->territories;
        if ((rc = tq_idset_init(&tc.ids, 1024))) goto nomem;
        rc = tq_csv_scan(p->territories, &cp, terr_row, &tc, &cs, err);
        if (rc < 0 && rc != TQ_EINVAL) goto done;
        if (rc == TQ_EINVAL) {  /* malformed CSV: one more error */
            report_raw(&rp, err->msg);
            rc = TQ_OK;
        }
        if (cs.rows == 0) {
            report(&rp, p->territories, 0, NULL, NULL, 0, "empty file (no header row)");
        } else if (tc.k == 0 && !rp.errors) {
            report(&rp, p->territories, 0, NULL, NULL, 0, "no territory rows after the header");
        }
        if (rp.errors) {
            rc = TQ_EINVAL;
            tq_err_set(err, rc, "%s: %d error%s%s; nothing written", p->territories,
                       rp.errors, rp.errors > 1 ? "s" : "",
                       rp.errors >= p->max_errors ? " (stopped at --max-errors)" : "");
            goto done;
        }
        ac.terr = &tc;
    }
    /* 2. accounts: validate, convert, append batches */
    ac.p = p;
    ac.rp = &rp;
    ac.file = p->accounts;
    ac.err = err;
    {
        struct stat sb;
        int64_t expect = 1024;
        if (stat(p->accounts, &sb)) sb.st_size = 0;   /* the scan reports the error */
        /* a low guess of the row count for the id set's first size (~200 bytes a
         * row); it doubles as needed, and a table too large costs page faults */
        if (sb.st_size / 200 > expect) expect = sb.st_size / 200;
        if ((rc = tq_idset_init(&ac.ids, expect))) goto nomem;
        if (p->progress) tq_progress_start(&ac.prog, "import", (int64_t)sb.st_size);
    }
    rc = tq_csv_scan(p->accounts, &cp, acc_row, &ac, &cs, err);
    if (rc == TQ_OK && !rp.errors) rc = flush_batch(&ac);   /* the last, partial batch */
    if (writer_wait(&ac) && rc >= 0) rc = ac.writer_rc;
    if (p->progress) tq_progress_end(&ac.prog);
    st.bytes = cs.bytes;
    if (rc < 0 && rc != TQ_EINVAL) goto done;
    if (rc == TQ_EINVAL) {
        report_raw(&rp, err->msg);
        rc = TQ_OK;
    }
    if (cs.rows == 0) report(&rp, p->accounts, 0, NULL, NULL, 0, "empty file (no header row)");
    else if (ac.n == 0 && !rp.errors)
        report(&rp, p->accounts, 0, NULL, NULL, 0, "no account rows after the header");
    if (!rp.errors && ac.n > 0 && p->npositive && ac.pos == 0) {
        char vals[256];
        size_t o = 0;
        for (int t = 0; t < p->npositive && o < sizeof vals; t++)
            o += (size_t)snprintf(vals + o, sizeof vals - o, "%s'%s'", t ? ", " : "",
                                  p->positive[t]);
        report(&rp, p->accounts, 0, ac.colname[ac.has[R_LABEL] - 1], NULL, 0,
               "no label is --positive %s; %lld are other values (the first: '%s'), %lld "
               "blank", vals, (long long)ac.neg, ac.first_other,
               (long long)(ac.n - ac.neg));
    }
    for (int i = 0; i < ac.ncols && !rp.errors && !p->like; i++)
        if (ac.role[i] == R_FEAT && ac.fblank[ac.slot[i]] && !ac.fknown[ac.slot[i]])
            report(&rp, p->accounts, 0, ac.colname[i], NULL, 0,
                   "every field is blank: no mean to read them as (drop the column or "
                   "--ignore-unknown without --map)");
    if (rp.errors) {
        rc = TQ_EINVAL;
        tq_err_set(err, rc, "%s: %d error%s%s; nothing written", p->accounts, rp.errors,
                   rp.errors > 1 ? "s" : "",
                   rp.errors >= p->max_errors ? " (stopped at --max-errors)" : "");
        goto done;
    }
    if (cs.unterminated) {   /* a warning: many tools omit the last line end */
        char msg[600];
        snprintf(msg, sizeof msg, "%s:%lld: the file does not end with a line break: if "
                 "it was cut short, this last row may be incomplete", p->accounts,
                 (long long)cs.last_line);
        if (p->warn) p->warn(p->report_ctx, msg);
        else tq_warn("%s", msg);
        st.unterminated = 1;
    }
    st.blank_workload = ac.blank[0];
    st.blank_value = ac.blank[1];
    st.labels_pos = ac.pos;
    st.labels_neg = ac.neg;
    st.nord = ac.nord;
    st.nind = ac.nind;
    if ((rc = finish_features(&ac, &st)) != TQ_OK) goto done;
    if ((rc = write_hash_contents(&ac)) != TQ_OK) goto done;
    st.t_scan = tq_now() - t0;
    double t1 = tq_now();

    /* 3. the ids, from the id set's arena: entries (int64 line, bytes, NUL) in row
     * order, as every row of a file without errors put its id there once */
    {
        int id_len = ac.id_max + 1;
        int64_t chunk = p->batch_rows, off = 0, done_rows = 0;
        if (!ac.w) {
            tq_err_set(err, rc = TQ_EINTERNAL, "import: no writer after %lld rows",
                       (long long)ac.n);
            goto done;
        }
        char *buf = calloc((size_t)chunk, (size_t)id_len);
        if (!buf) goto nomem;
        while (rc == TQ_OK && done_rows < ac.n) {
            int64_t m = ac.n - done_rows < chunk ? ac.n - done_rows : chunk;
            memset(buf, 0, (size_t)m * (size_t)id_len);
            for (int64_t i = 0; i < m; i++) {
                const char *e = ac.ids.arena + off + sizeof(int64_t);
                size_t len = strlen(e);
                memcpy(buf + i * id_len, e, len);
                off += (int64_t)(sizeof(int64_t) + len + 1);
            }
            rc = tq_writer_append_ids(ac.w, buf, m, id_len, err);
            done_rows += m;
        }
        free(buf);
        st.id_len = id_len;
        if (rc) goto done;
    }
    tq_idset_free(&ac.ids);

    /* territories to write: the file's, or 0..max(prev_territory) */
    if (p->territories) {
        terr.k = tc.k;
        terr.id_len = tc.id_max + 1;
        terr_ids = calloc((size_t)tc.k, (size_t)terr.id_len);
        if (!terr_ids) goto nomem;
        for (int i = 0; i < tc.k; i++)
            memcpy(terr_ids + (size_t)i * terr.id_len, tc.id[i], strlen(tc.id[i]));
        terr.id = terr_ids;
        terr.home_lat = tc.hlat;
        terr.home_lon = tc.hlon;
        terr.capacity = tc.capacity;
    } else if (ac.has[R_PREV] && ac.prev_max >= 0) {
        terr.k = (int)ac.prev_max + 1;
        terr.id_len = 8;
        terr_ids = calloc((size_t)terr.k, (size_t)terr.id_len);
        terr.home_lat = malloc((size_t)terr.k * sizeof(double));
        terr.home_lon = malloc((size_t)terr.k * sizeof(double));
        terr.capacity = malloc((size_t)terr.k * sizeof(double));
        if (!terr_ids || !terr.home_lat || !terr.home_lon || !terr.capacity) goto nomem;
        for (int i = 0; i < terr.k; i++) {
            snprintf(terr_ids + (size_t)i * terr.id_len, (size_t)terr.id_len, "%d", i);
            terr.home_lat[i] = terr.home_lon[i] = NAN;
            terr.capacity[i] = 1.0;
        }
        terr.id = terr_ids;
    }
    terr.has_home = terr.k > 0;
    for (int i = 0; i < terr.k; i++)
        if (isnan(terr.home_lat[i])) terr.has_home = 0;

    /* 4. territories, then commit: the file appears at p->out */
    if (rc == TQ_OK && ac.written != ac.n)
        tq_err_set(err, rc = TQ_EINTERNAL, "import: %lld rows written of %lld",
                   (long long)ac.written, (long long)ac.n);
    if (rc == TQ_OK && terr.k > 0) rc = tq_writer_territories(ac.w, &terr, err);
    if (rc == TQ_OK) {
        rc = tq_writer_close(ac.w, 1, err);
        ac.w = NULL;
    }
    st.t_finish = tq_now() - t1;
    goto done;
nomem:
    tq_err_set(err, rc = TQ_ENOMEM, "import: out of memory");
done:
    if (rc < 0 && err && !err->msg[0]) tq_err_set(err, rc, "import: %s", tq_strstatus(rc));
    writer_wait(&ac);
    if (ac.w) tq_writer_close(ac.w, 0, NULL);
    st.n = ac.written;
    st.d = ac.d;
    st.nf = ac.nf;
    st.nc = ac.nc;
    st.k = terr.k;
    st.errors = rp.errors;
    st.ignored = ac.ignored;
    if (rc != TQ_OK || !stats) {
        free(st.ordered);
        st.ordered = NULL;
        st.ordered_len = 0;
    }
    if (stats) *stats = st;
    acc_free(&ac);
    free(terr_ids);
    if (!p->territories) {
        free(terr.home_lat);
        free(terr.home_lon);
        free(terr.capacity);
    }
    terr_free(&tc);
    return rc;
}
