/* tq_validate.c: field validators, UTF-8 check, duplicate-id set, feature hashing.
 * See tq_validate.h for the contracts. */
#include "tq_validate.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tq_common.h"

const char *tq_field_msg(int code)
{
    switch (code) {
    case TQ_FIELD_OK: return "ok";
    case TQ_FIELD_EMPTY: return "empty value";
    case TQ_FIELD_SYNTAX: return "not a number";
    case TQ_FIELD_NONFINITE: return "NaN or infinite value";
    case TQ_FIELD_RANGE: return "value out of range";
    case TQ_FIELD_NEGATIVE: return "negative value";
    case TQ_FIELD_NOTPOS: return "value must be > 0";
    case TQ_FIELD_UTF8: return "bytes that are not valid UTF-8";
    case TQ_FIELD_TOOLONG: return "value too long";
    default: return "invalid value";
    }
}

/* ---- UTF-8 ------------------------------------------------------------------------ */

size_t tq_utf8_valid_prefix(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        /* ASCII fast path: 8 bytes with no high bit set */
        if (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            /* no high bit and no zero byte (Mycroft's haszero) */
            if (!(w & 0x8080808080808080ULL) &&
                !((w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL)) {
                i += 8;
                continue;
            }
        }
        unsigned c = s[i];
        if (c < 0x80) {
            if (!c) return i;   /* NUL: junk in a text file */
            i++;
            continue;
        }
        size_t n;
        unsigned lo = 0x80, hi = 0xBF;  /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            n = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 3;
            if (c == 0xE0) lo = 0xA0;        /* overlong */
            else if (c == 0xED) hi = 0x9F;   /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            if (c == 0xF0) lo = 0x90;        /* overlong */
            else if (c == 0xF4) hi = 0x8F;   /* above U+10FFFF */
        } else {
            return i;                        /* 0x80..0xC1 lead, 0xF5..0xFF */
        }
        if (i + n > len) return i;
        if (s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k < n; k++)
            if ((s[i + k] & 0xC0) != 0x80) return i;
        i += n;
    }
    return len;
}

/* ---- numbers ---------------------------------------------------------------------- */

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int is_blank(char c) { return c == ' ' || c == '\t'; }

static int ieq(const char *s, size_t len, const char *word)
{
    size_t n = strlen(word);
    if (len != n) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != word[i]) return 0;
    }
    return 1;
}

int tq_val_double(const char *s, size_t len, double *out)
{
    while (len && is_blank(*s)) s++, len--;
    while (len && is_blank(s[len - 1])) len--;
    if (!len) return TQ_FIELD_EMPTY;

    size_t i = 0;
    int neg = 0;
    if (s[i] == '+' || s[i] == '-') neg = s[i++] == '-';
    /* mantissa: keep up to 19 significant digits exactly in m */
    uint64_t m = 0;
    int sig = 0;          /* significant digits seen (after leading zeros) */
    int64_t scale = 0;    /* value = m * 10^scale (before the exponent) */
    int ndig = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        ndig++;
        if (sig || s[i] != '0') {
            if (sig < 19) m = m * 10 + (uint64_t)(s[i] - '0');
            else scale++;
            sig++;
        }
        i++;
    }
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            ndig++;
            if (sig || s[i] != '0') {
                if (sig < 19) {
                    m = m * 10 + (uint64_t)(s[i] - '0');
                    scale--;
                }
                sig++;
            } else {
                scale--;
            }
            i++;
        }
    }
    if (!ndig) {
        const char *w = s + (s[0] == '+' || s[0] == '-');
        size_t wl = len - (size_t)(w - s);
        if (ieq(w, wl, "nan") || ieq(w, wl, "inf") || ieq(w, wl, "infinity"))
            return TQ_FIELD_NONFINITE;
        return TQ_FIELD_SYNTAX;
    }
    int64_t ex = 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        int eneg = 0;
        if (i < len && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
        if (i >= len || s[i] < '0' || s[i] > '9') return TQ_FIELD_SYNTAX;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (ex < 100000) ex = ex * 10 + (s[i] - '0');
            i++;
        }
        if (eneg) ex = -ex;
    }
    if (i != len) return TQ_FIELD_SYNTAX;

    int64_t e10 = scale + ex;
    double v;
    if (m == 0) {
        v = 0.0;
    } else if (sig <= 15 && e10 >= -22 && e10 <= 22) {
        /* Clinger's fast path: m < 10^15 < 2^53 and 10^|e10| are exact doubles, so the
         * single rounding of * or / gives the correctly rounded result. */
        v = (double)m;
        v = e10 >= 0 ? v * pow10_exact[e10] : v / pow10_exact[-e10];
    } else {
        char buf[512];
        if (len >= sizeof buf) return TQ_FIELD_TOOLONG;
        memcpy(buf, s, len);
        buf[len] = 0;
        errno = 0;
        v = strtod(buf, NULL);   /* grammar already checked; sign handled below */
        if (v < 0) v = -v;
    }
    if (!isfinite(v)) return TQ_FIELD_NONFINITE;
    *out = neg ? -v : v;
    return TQ_FIELD_OK;
}

int tq_val_double_in(const char *s, size_t len, double lo, double hi, double *out)
{
    double v;
    int rc = tq_val_double(s, len, &v);
    if (rc) return rc;
    if (v < lo || v > hi) return TQ_FIELD_RANGE;
    *out = v;
    return TQ_FIELD_OK;
}

int tq_val_nonneg(const char *s, size_t len, double *out)
{
    double v;
    int rc = tq_val_double(s, len, &v);
    if (rc) return rc;
    if (v < 0) return TQ_FIELD_NEGATIVE;
    *out = v == 0 ? 0.0 : v;   /* -0 -> +0 */
    return TQ_FIELD_OK;
}

int tq_val_positive(const char *s, size_t len, double *out)
{
    double v;
    int rc = tq_val_double(s, len, &v);
    if (rc) return rc;
    if (!(v > 0)) return TQ_FIELD_NOTPOS;
    *out = v;
    return TQ_FIELD_OK;
}

int tq_val_int(const char *s, size_t len, int64_t lo, int64_t hi, int64_t *out)
{
    while (len && is_blank(*s)) s++, len--;
    while (len && is_blank(s[len - 1])) len--;
    if (!len) return TQ_FIELD_EMPTY;
    size_t i = 0;
    int neg = 0;
    if (s[i] == '+' || s[i] == '-') neg = s[i++] == '-';
    if (i == len) return TQ_FIELD_SYNTAX;
    uint64_t v = 0;
    int big = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return TQ_FIELD_SYNTAX;
        if (v > (UINT64_MAX - 9) / 10) big = 1;
        else v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (big || v > (uint64_t)INT64_MAX) return TQ_FIELD_RANGE;
    int64_t x = neg ? -(int64_t)v : (int64_t)v;
    if (x < lo || x > hi) return TQ_FIELD_RANGE;
    *out = x;
    return TQ_FIELD_OK;
}

int tq_val_bool(const char *s, size_t len, uint8_t *out)
{
    while (len && is_blank(*s)) s++, len--;
    while (len && is_blank(s[len - 1])) len--;
    if (!len || ieq(s, len, "0") || ieq(s, len, "false")) {
        *out = 0;
        return TQ_FIELD_OK;
    }
    if (ieq(s, len, "1") || ieq(s, len, "true")) {
        *out = 1;
        return TQ_FIELD_OK;
    }
    return TQ_FIELD_SYNTAX;
}

int tq_val_label(const char *s, size_t len, int8_t *out)
{
    while (len && is_blank(*s)) s++, len--;
    while (len && is_blank(s[len - 1])) len--;
    if (!len) {
        *out = -1;
        return TQ_FIELD_OK;
    }
    if (len == 1 && (s[0] == '0' || s[0] == '1')) {
        *out = (int8_t)(s[0] - '0');
        return TQ_FIELD_OK;
    }
    return TQ_FIELD_SYNTAX;
}

char *tq_val_quote(const char *s, size_t len, char *buf, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i = 0, shown = 60;
    while (i < len && i < shown && o + 8 < cap) {
        unsigned char c = (unsigned char)s[i];
        size_t ok = c >= 0x80 ? tq_utf8_valid_prefix(s + i, len - i) : 0;
        if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
            buf[o++] = (char)c;
            i++;
        } else if (c >= 0x80 && ok > 0) {
            /* copy one valid multi-byte character */
            size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (o + n + 8 >= cap) break;
            memcpy(buf + o, s + i, n);
            o += n;
            i += n;
        } else {
            buf[o++] = '\\';
            if (c == '\'' || c == '\\') {
                buf[o++] = (char)c;
            } else {
                buf[o++] = 'x';
                buf[o++] = hex[c >> 4];
                buf[o++] = hex[c & 15];
            }
            i++;
        }
    }
    if (i < len && o + 4 <= cap) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o < cap ? o : cap - 1] = 0;
    return buf;
}

/* ---- hashing ---------------------------------------------------------------------- */

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
#define FNV_OFFSET 0xcbf29ce484222325ULL

uint64_t tq_feature_hash64(const char *name, const char *val, size_t vlen)
{
    uint64_t h = fnv1a(FNV_OFFSET, name, strlen(name));
    h = fnv1a(h, "=", 1);
    return tq_mix64(fnv1a(h, val, vlen));
}

void tq_feature_hash(const char *name, const char *val, size_t vlen, int m, int *slot,
                     float *sign)
{
    uint64_t h = tq_feature_hash64(name, val, vlen);
    *slot = (int)(h % (uint64_t)m);
    *sign = (h >> 63) ? -1.0f : 1.0f;
}

/* ---- id set ----------------------------------------------------------------------- */

/* A zeroed slot table. Tables of 2 MiB or more are 2 MiB-aligned and asked to live
 * on transparent huge pages: the probes are random, and with 4 KiB pages nearly every
 * probe of a large table would also miss the TLB. */
static tq_idslot *slots_alloc(int64_t cap)
{
    size_t bytes = (size_t)cap * sizeof(tq_idslot), huge = (size_t)2 << 20;
    if (bytes < huge) return calloc((size_t)cap, sizeof(tq_idslot));
    void *p = NULL;
    if (posix_memalign(&p, huge, bytes)) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);   /* a hint: failure only costs speed */
#endif
    memset(p, 0, bytes);
    return p;
}

int tq_idset_init(tq_idset *s, int64_t expect)
{
    memset(s, 0, sizeof *s);
    int64_t cap = 1024;
    while (cap < 2 * expect) cap *= 2;
    s->slot = slots_alloc(cap);
    s->arena_cap = 1 << 16;
    s->arena = malloc((size_t)s->arena_cap);
    if (!s->slot || !s->arena) {
        tq_idset_free(s);
        return TQ_ENOMEM;
    }
    s->cap = cap;
    return TQ_OK;
}

void tq_idset_free(tq_idset *s)
{
    if (!s) return;
    free(s->slot);
    free(s->arena);
    memset(s, 0, sizeof *s);
}

static uint64_t id_hash(const char *s, size_t len)
{
    return tq_mix64(fnv1a(FNV_OFFSET, s, len)) | 1;
}

/* Slot holding id s (or the empty slot where it would go). */
static int64_t idset_slot(const tq_idset *set, uint64_t h, const char *s, size_t len)
{
    int64_t mask = set->cap - 1, j = (int64_t)(h & (uint64_t)mask);
    while (set->slot[j].hash) {
        if (set->slot[j].hash == h) {
            const char *e = set->arena + set->slot[j].ref + sizeof(int64_t);
            if (!memcmp(e, s, len) && e[len] == 0) return j;
        }
        j = (j + 1) & mask;
    }
    return j;
}

static int idset_grow(tq_idset *set)
{
    int64_t cap = set->cap * 2;
    tq_idslot *slot = slots_alloc(cap);
    if (!slot) return TQ_ENOMEM;
    for (int64_t i = 0; i < set->cap; i++) {
        if (!set->slot[i].hash) continue;
        int64_t j = (int64_t)(set->slot[i].hash & (uint64_t)(cap - 1));
        while (slot[j].hash) j = (j + 1) & (cap - 1);
        slot[j] = set->slot[i];
    }
    free(set->slot);
    set->slot = slot;
    set->cap = cap;
    return TQ_OK;
}

uint64_t tq_idset_hash(const tq_idset *set, const char *s, size_t len)
{
    uint64_t h = id_hash(s, len);
    __builtin_prefetch(&set->slot[h & (uint64_t)(set->cap - 1)]);
    return h;
}

int tq_idset_insert(tq_idset *set, const char *s, size_t len, int64_t row, int64_t *first_row)
{
    return tq_idset_insert_hashed(set, id_hash(s, len), s, len, row, first_row);
}

int tq_idset_insert_hashed(tq_idset *set, uint64_t h, const char *s, size_t len, int64_t row,
                           int64_t *first_row)
{
    int64_t j = idset_slot(set, h, s, len);
    if (set->slot[j].hash) {
        if (first_row) memcpy(first_row, set->arena + set->slot[j].ref, sizeof(int64_t));
        return 1;
    }
    int64_t need = (int64_t)(sizeof(int64_t) + len + 1);
    if (set->arena_len + need > set->arena_cap) {
        int64_t cap = set->arena_cap * 2;
        while (cap < set->arena_len + need) cap *= 2;
        char *a = realloc(set->arena, (size_t)cap);
        if (!a) return TQ_ENOMEM;
        set->arena = a;
        set->arena_cap = cap;
    }
    char *e = set->arena + set->arena_len;
    memcpy(e, &row, sizeof row);
    memcpy(e + sizeof row, s, len);
    e[sizeof row + len] = 0;
    set->slot[j].hash = h;
    set->slot[j].ref = set->arena_len;
    set->arena_len += need;
    set->count++;
    if (2 * set->count > set->cap && idset_grow(set)) return TQ_ENOMEM;
    return 0;
}

int64_t tq_idset_find(const tq_idset *set, const char *s, size_t len)
{
    if (!set->cap) return -1;
    int64_t j = idset_slot(set, id_hash(s, len), s, len);
    if (!set->slot[j].hash) return -1;
    int64_t row;
    memcpy(&row, set->arena + set->slot[j].ref, sizeof row);
    return row;
}
