/* tq_validate.h: validators for one CSV field (docs/formats.md, "CSV input").
 *
 * Every validator looks at the bytes of one field (s, len; s need not be
 * NUL-terminated unless stated) and returns a TQ_FIELD_* code: TQ_FIELD_OK or the
 * reason the field is bad, which tq_field_msg turns into the text of an error
 * "FILE:ROW:COLUMN: message (value 'X')". Validators never print and never allocate
 * (except the id set), so the CSV import and its unit tests share them.
 *
 * Also here: the UTF-8 check, quoting of a bad value for a message, the duplicate-id
 * set, and the signed feature hashing of categorical columns. */
#ifndef TQ_VALIDATE_H
#define TQ_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

enum {
    TQ_FIELD_OK = 0,
    TQ_FIELD_EMPTY,       /* blank where a value is required */
    TQ_FIELD_SYNTAX,      /* not a number / not one of the accepted words */
    TQ_FIELD_NONFINITE,   /* NaN or +-inf, or overflows a double */
    TQ_FIELD_RANGE,       /* a number outside the column's range */
    TQ_FIELD_NEGATIVE,    /* a number below 0 where >= 0 is required */
    TQ_FIELD_NOTPOS,      /* a number <= 0 where > 0 is required */
    TQ_FIELD_UTF8,        /* bytes that are not valid UTF-8 */
    TQ_FIELD_TOOLONG      /* longer than allowed (ids) */
};

/* A short English text for a TQ_FIELD_* code, e.g. "not a number". */
const char *tq_field_msg(int code);

/* Length of the longest valid UTF-8 prefix of s[0..len): len when s is all valid.
 * Rejects overlong forms, surrogates (U+D800..DFFF), code points above U+10FFFF and
 * truncated sequences (RFC 3629), and NUL bytes (junk in a text file).
 * Cost O(len); an ASCII run is checked 8 bytes at a time. */
size_t tq_utf8_valid_prefix(const char *s, size_t len);

/* A decimal number: optional sign, digits with an optional '.', optional exponent
 * (what strtod takes in the C locale, minus hex floats). Blank -> TQ_FIELD_EMPTY;
 * "nan", "inf", "infinity" (any case, signed) and values that overflow to inf ->
 * TQ_FIELD_NONFINITE. The result is correctly rounded: plain decimals with at most 15
 * significant digits and a scale of at most 10^22 take the exact fast path of Clinger
 * (1990), "How to read floating point numbers accurately" (integer mantissa and power
 * of ten both exact doubles, so one IEEE multiplication or division rounds correctly);
 * everything else goes to strtod. Leading and trailing blanks (space, tab) are
 * ignored. */
int tq_val_double(const char *s, size_t len, double *out);

/* Number in [lo, hi] (both finite): RANGE when outside. */
int tq_val_double_in(const char *s, size_t len, double lo, double hi, double *out);
/* Number >= 0: NEGATIVE when below. */
int tq_val_nonneg(const char *s, size_t len, double *out);
/* Number > 0: NOTPOS when <= 0. */
int tq_val_positive(const char *s, size_t len, double *out);

/* Decimal integer (optional sign, digits only) in [lo, hi]. */
int tq_val_int(const char *s, size_t len, int64_t lo, int64_t hi, int64_t *out);

/* locked: 0, 1, true, false (any case), blank = 0. */
int tq_val_bool(const char *s, size_t len, uint8_t *out);

/* label: 0, 1, blank = -1 (unknown). Anything else is SYNTAX. */
int tq_val_label(const char *s, size_t len, int8_t *out);

/* Printable rendering of a field for an error message: control characters and bytes
 * that are not valid UTF-8 become \xNN; at most about 60 bytes of s are shown, then
 * "...". Always NUL-terminates buf (cap >= 8). Returns buf. */
char *tq_val_quote(const char *s, size_t len, char *buf, size_t cap);

/* ---- signed feature hashing (Weinberger et al. 2009, "Feature hashing for large
 * scale multitask learning", ICML) --------------------------------------------------
 * A categorical column c_NAME with value V adds sign * 1 to hashed feature slot
 * `slot` of `m`, where h = tq_mix64(FNV-1a-64 of the bytes "NAME=V"),
 * slot = h mod m, sign = +1 if the top bit of h is 0, else -1. The sign makes
 * collisions cancel in expectation, so inner products are unbiased. Blank values add
 * nothing. */
void tq_feature_hash(const char *name, const char *val, size_t vlen, int m, int *slot,
                     float *sign);
/* The same h (slot = h mod m, sign from its top bit). */
uint64_t tq_feature_hash64(const char *name, const char *val, size_t vlen);

/* ---- duplicate-id set ---------------------------------------------------------------
 * Open addressing (linear probing) over 64-bit hashes of the id bytes; ids are copied
 * into an arena. Memory: about 16 bytes per slot (load <= 1/2) plus the id bytes,
 * i.e. O(N) ids, as the import contract allows. */
typedef struct {
    uint64_t hash;       /* hash of the id (0 = empty slot; real hashes are |1) */
    int64_t ref;         /* offset in arena of: int64 row, then the id bytes, NUL */
} tq_idslot;

typedef struct {
    tq_idslot *slot;     /* hash and reference side by side: one cache miss a probe */
    int64_t cap;         /* slots, a power of two */
    int64_t count;       /* ids stored */
    char *arena;
    int64_t arena_len, arena_cap;
} tq_idset;

int tq_idset_init(tq_idset *s, int64_t expect);
void tq_idset_free(tq_idset *s);
/* Insert id s[0..len) seen at `row`. Returns 0 when new, 1 when the id was already
 * there (*first_row = the row it was first seen at; nothing inserted), or TQ_ENOMEM. */
int tq_idset_insert(tq_idset *set, const char *s, size_t len, int64_t row,
                    int64_t *first_row);
/* The same in two steps, to hide the cache miss of a large table: tq_idset_hash
 * computes the id's hash and prefetches its slot; do other work (validate the row),
 * then tq_idset_insert_hashed. */
uint64_t tq_idset_hash(const tq_idset *set, const char *s, size_t len);
int tq_idset_insert_hashed(tq_idset *set, uint64_t h, const char *s, size_t len, int64_t row,
                           int64_t *first_row);
/* Row of id s, or -1 when absent. */
int64_t tq_idset_find(const tq_idset *set, const char *s, size_t len);

#endif
