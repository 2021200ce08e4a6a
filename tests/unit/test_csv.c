/* test_csv.c: the streaming CSV reader (tq_csv) and the field validators
 * (tq_validate): line numbers across quoted newlines and buffer boundaries, malformed
 * quoting, every bad-field case of the import contract, the exact number parser
 * against strtod, the duplicate-id set against a brute-force search. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tq_common.h"
#include "tq_csv.h"
#include "tq_validate.h"

/* ---- CSV reader ------------------------------------------------------------------- */

typedef struct {
    char text[8192];
    size_t len;
    int64_t stop_at;   /* stop (return 7) at this row index; -1 never */
} collect;

/* Rows as "line:index:f1|f2|...\n" */
static int collect_row(const tq_csv_row *r, void *u)
{
    collect *c = u;
    c->len += (size_t)snprintf(c->text + c->len, sizeof c->text - c->len, "%lld:%lld:",
                               (long long)r->line, (long long)r->index);
    for (int i = 0; i < r->n; i++) {
        assert_int_equal(strlen(r->field[i]), r->len[i]);
        c->len += (size_t)snprintf(c->text + c->len, sizeof c->text - c->len, "%s%s",
                                   i ? "|" : "", r->field[i]);
    }
    c->len += (size_t)snprintf(c->text + c->len, sizeof c->text - c->len, "\n");
    return r->index == c->stop_at ? 7 : 0;
}

/* Scan `data` with reads of `bufsz` bytes; rows go to c, returns the status. */
static int scan_str(const char *data, size_t bufsz, collect *c, tq_err *err)
{
    memset(c, 0, sizeof *c);
    c->stop_at = -1;
    FILE *f = fmemopen((void *)data, strlen(data), "rb");
    assert_non_null(f);
    tq_csv_params p;
    tq_csv_defaults(&p);
    p.buf_bytes = bufsz;
    int rc = tq_csv_scan_file(f, "t.csv", &p, collect_row, c, NULL, err);
    fclose(f);
    return rc;
}

/* The same rows for every buffer size from 1 byte to whole-file reads. */
static void expect_rows(const char *data, const char *want)
{
    size_t sizes[] = {1, 2, 3, 4, 5, 7, 11, 16, 64, 1 << 20};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        collect c;
        tq_err err = {0, ""};
        int rc = scan_str(data, sizes[k], &c, &err);
        if (rc != TQ_OK) fail_msg("buf %zu: %d %s", sizes[k], rc, err.msg);
        if (strcmp(c.text, want)) fail_msg("buf %zu:\n%s\nwant:\n%s", sizes[k], c.text, want);
    }
}

static void test_csv_basic(void **state)
{
    (void)state;
    expect_rows("id,lat,lon\na,1,2\nb,3,4\n", "1:0:id|lat|lon\n2:1:a|1|2\n3:2:b|3|4\n");
    /* no newline at the end */
    expect_rows("id,lat\na,1", "1:0:id|lat\n2:1:a|1\n");
    /* empty fields, trailing empty field */
    expect_rows("a,b,c\n,,\n1,,\n", "1:0:a|b|c\n2:1:||\n3:2:1||\n");
    /* unquoted fields lose blanks, quoted ones keep them */
    expect_rows("a,b\n  x  ,\" y \"\n", "1:0:a|b\n2:1:x| y \n");
}

static void test_csv_quoted_newlines(void **state)
{
    (void)state;
    /* a quoted field with commas, doubled quotes and two newlines: the next row is on
     * line 5 */
    expect_rows("id,name\n1,\"a, \"\"b\"\"\nc\nd\"\n2,e\n",
                "1:0:id|name\n2:1:1|a, \"b\"\nc\nd\n5:2:2|e\n");
}

static void test_csv_crlf_blank_bom(void **state)
{
    (void)state;
    expect_rows("id,v\r\na,1\r\n\r\nb,2\r\n", "1:0:id|v\n2:1:a|1\n4:2:b|2\n");
    expect_rows("\n\nid,v\n\n\na,1\n\n", "3:0:id|v\n6:1:a|1\n");
    expect_rows("\xEF\xBB\xBFid,v\na,1\n", "1:0:id|v\n2:1:a|1\n");
    /* CRLF inside a quoted field counts as one line */
    expect_rows("id,v\r\n\"x\r\ny\",1\r\nb,2\r\n", "1:0:id|v\n2:1:x\r\ny|1\n4:2:b|2\n");
}

static void test_csv_empty(void **state)
{
    (void)state;
    expect_rows("", "");
    expect_rows("\n\n\r\n", "");
}

static void test_csv_malformed(void **state)
{
    (void)state;
    size_t sizes[] = {1, 3, 1 << 20};
    for (size_t k = 0; k < 3; k++) {
        collect c;
        tq_err err = {0, ""};
        /* quote inside an unquoted field, on line 3 */
        int rc = scan_str("a,b\n1,2\n3,x\"y\n4,5\n", sizes[k], &c, &err);
        assert_int_equal(rc, TQ_EINVAL);
        assert_non_null(strstr(err.msg, "t.csv:3: malformed CSV"));
        /* text after a closing quote, after a two-line quoted field: line 4 */
        rc = scan_str("a,b\n\"1\n2\",2\n3,\"x\"y\n", sizes[k], &c, &err);
        assert_int_equal(rc, TQ_EINVAL);
        if (!strstr(err.msg, "t.csv:4: malformed CSV")) fail_msg("%s", err.msg);
        /* quote never closed: starts on line 2 */
        rc = scan_str("a,b\n1,\"2\n3,4\n", sizes[k], &c, &err);
        assert_int_equal(rc, TQ_EINVAL);
        if (!strstr(err.msg, "t.csv:2: malformed CSV: quoted field not closed"))
            fail_msg("%s", err.msg);
    }
}

static void test_csv_stop_and_missing(void **state)
{
    (void)state;
    collect c;
    memset(&c, 0, sizeof c);
    c.stop_at = 1;
    FILE *f = fmemopen((void *)"a\n1\n2\n3\n", 8, "rb");
    tq_csv_params p;
    tq_csv_defaults(&p);
    tq_csv_stats st;
    tq_err err = {0, ""};
    int rc = tq_csv_scan_file(f, "t.csv", &p, collect_row, &c, &st, &err);
    fclose(f);
    assert_int_equal(rc, 7);
    assert_string_equal(c.text, "1:0:a\n2:1:1\n");
    assert_int_equal(st.rows, 2);
    rc = tq_csv_scan("/nonexistent/x.csv", &p, collect_row, &c, NULL, &err);
    assert_int_equal(rc, TQ_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/x.csv: cannot open"));
    p.buf_bytes = 0;
    assert_non_null(tq_csv_check(&p));
}

/* A long file: line numbers stay right across many buffer refills. */
static int count_rows(const tq_csv_row *r, void *u)
{
    int64_t *n = u;
    if (r->index > 0) {
        /* row i (1-based) has 2 lines before it per earlier row (a quoted newline) */
        if (r->line != 2 + 2 * (r->index - 1)) return 99;
        if (r->n != 2 || r->len[1] != 3) return 98;
    }
    (*n)++;
    return 0;
}

static void test_csv_long(void **state)
{
    (void)state;
    size_t rows = 20000, cap = rows * 32 + 16, len = 0;
    char *data = malloc(cap);
    len += (size_t)snprintf(data + len, cap - len, "id,t\n");
    for (size_t i = 0; i < rows; i++)
        len += (size_t)snprintf(data + len, cap - len, "%zu,\"x\ny\"\n", i);
    FILE *f = fmemopen(data, len, "rb");
    tq_csv_params p;
    tq_csv_defaults(&p);
    p.buf_bytes = 4093;
    int64_t n = 0;
    tq_err err = {0, ""};
    int rc = tq_csv_scan_file(f, "t.csv", &p, count_rows, &n, NULL, &err);
    fclose(f);
    free(data);
    assert_int_equal(rc, TQ_OK);
    assert_int_equal(n, (int64_t)rows + 1);
}

/* ---- validators ------------------------------------------------------------------- */

static int vd(const char *s, double *v) { return tq_val_double(s, strlen(s), v); }

static void test_val_double(void **state)
{
    (void)state;
    double v = 0;
    assert_int_equal(vd("1.5", &v), TQ_FIELD_OK);
    assert_true(v == 1.5);
    assert_int_equal(vd(" -35.6897 ", &v), TQ_FIELD_OK);
    assert_true(v == -35.6897);
    assert_int_equal(vd("+2e3", &v), TQ_FIELD_OK);
    assert_true(v == 2000);
    assert_int_equal(vd(".5", &v), TQ_FIELD_OK);
    assert_true(v == 0.5);
    assert_int_equal(vd("5.", &v), TQ_FIELD_OK);
    assert_true(v == 5);
    assert_int_equal(vd("1e-400", &v), TQ_FIELD_OK);   /* underflow: 0 */
    assert_true(v == 0);
    assert_int_equal(vd("", &v), TQ_FIELD_EMPTY);
    assert_int_equal(vd("  ", &v), TQ_FIELD_EMPTY);
    const char *nonfinite[] = {"nan", "NaN", "-nan", "inf", "-Inf", "+INFINITY", "1e400",
                               "-1e309"};
    for (size_t i = 0; i < sizeof nonfinite / sizeof *nonfinite; i++)
        if (vd(nonfinite[i], &v) != TQ_FIELD_NONFINITE) fail_msg("%s", nonfinite[i]);
    const char *syntax[] = {"abc", "1.2.3", "1e", "1e+", "-", ".", "0x10", "1,5", "12a",
                            "1 2", "--1", "e5", "nanx", "1d"};
    for (size_t i = 0; i < sizeof syntax / sizeof *syntax; i++)
        if (vd(syntax[i], &v) != TQ_FIELD_SYNTAX) fail_msg("%s", syntax[i]);
}

/* The parser against strtod on random decimals of every length and exponent. */
static void test_val_double_vs_strtod(void **state)
{
    (void)state;
    char buf[64];
    for (uint64_t i = 0; i < 200000; i++) {
        double u = tq_rand_uniform(5, 1, i), w = tq_rand_uniform(5, 2, i);
        double x = (u - 0.5) * pow(10.0, (int)(w * 60) - 30);
        int digits = 1 + (int)(tq_rand_uniform(5, 3, i) * 19);
        int style = (int)(i % 3);
        if (style == 0) snprintf(buf, sizeof buf, "%.*g", digits, x);
        else if (style == 1) snprintf(buf, sizeof buf, "%.*e", digits, x);
        else snprintf(buf, sizeof buf, "%.*f", digits % 12, x);
        double got, want = strtod(buf, NULL);
        assert_int_equal(vd(buf, &got), TQ_FIELD_OK);
        if (memcmp(&got, &want, sizeof got) && !(got == 0 && want == 0))
            fail_msg("'%s': %.17g != %.17g", buf, got, want);
    }
}

static void test_val_ranges(void **state)
{
    (void)state;
    double v;
    assert_int_equal(tq_val_double_in("90", 2, -90, 90, &v), TQ_FIELD_OK);
    assert_int_equal(tq_val_double_in("90.0001", 7, -90, 90, &v), TQ_FIELD_RANGE);
    assert_int_equal(tq_val_double_in("-180.5", 6, -180, 180, &v), TQ_FIELD_RANGE);
    assert_int_equal(tq_val_double_in("nan", 3, -180, 180, &v), TQ_FIELD_NONFINITE);
    assert_int_equal(tq_val_nonneg("-0.1", 4, &v), TQ_FIELD_NEGATIVE);
    assert_int_equal(tq_val_nonneg("-0", 2, &v), TQ_FIELD_OK);
    assert_false(signbit(v));
    assert_int_equal(tq_val_nonneg("0", 1, &v), TQ_FIELD_OK);
    assert_int_equal(tq_val_positive("0", 1, &v), TQ_FIELD_NOTPOS);
    assert_int_equal(tq_val_positive("2.5", 3, &v), TQ_FIELD_OK);
    assert_true(v == 2.5);
    int64_t k;
    assert_int_equal(tq_val_int("42", 2, 0, 100, &k), TQ_FIELD_OK);
    assert_int_equal(k, 42);
    assert_int_equal(tq_val_int("-1", 2, 0, 100, &k), TQ_FIELD_RANGE);
    assert_int_equal(tq_val_int("101", 3, 0, 100, &k), TQ_FIELD_RANGE);
    assert_int_equal(tq_val_int("4.0", 3, 0, 100, &k), TQ_FIELD_SYNTAX);
    assert_int_equal(tq_val_int("99999999999999999999999", 23, 0, 100, &k), TQ_FIELD_RANGE);
    assert_int_equal(tq_val_int("", 0, 0, 100, &k), TQ_FIELD_EMPTY);
    assert_int_equal(tq_val_int("+", 1, 0, 100, &k), TQ_FIELD_SYNTAX);
}

static void test_val_bool_label(void **state)
{
    (void)state;
    uint8_t b = 9;
    const char *yes[] = {"1", "true", "TRUE", "True"}, *no[] = {"0", "false", "FALSE", ""};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(tq_val_bool(yes[i], strlen(yes[i]), &b), TQ_FIELD_OK);
        assert_int_equal(b, 1);
        assert_int_equal(tq_val_bool(no[i], strlen(no[i]), &b), TQ_FIELD_OK);
        assert_int_equal(b, 0);
    }
    assert_int_equal(tq_val_bool("2", 1, &b), TQ_FIELD_SYNTAX);
    assert_int_equal(tq_val_bool("yes", 3, &b), TQ_FIELD_SYNTAX);
    int8_t l = 9;
    assert_int_equal(tq_val_label("1", 1, &l), TQ_FIELD_OK);
    assert_int_equal(l, 1);
    assert_int_equal(tq_val_label("0", 1, &l), TQ_FIELD_OK);
    assert_int_equal(l, 0);
    assert_int_equal(tq_val_label("", 0, &l), TQ_FIELD_OK);
    assert_int_equal(l, -1);
    const char *bad[] = {"2", "-1", "true", "0.5", "01", "x"};
    for (int i = 0; i < 6; i++)
        assert_int_equal(tq_val_label(bad[i], strlen(bad[i]), &l), TQ_FIELD_SYNTAX);
}

static void test_utf8(void **state)
{
    (void)state;
    const char *good[] = {"", "plain ascii text, long enough for the 8-byte path",
                          "T\xC5\x8Dky\xC5\x8D", "\xE2\x82\xAC 5", "\xF0\x9F\x98\x80",
                          "S\xC3\xA3o Paulo and more ascii after it"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_int_equal(tq_utf8_valid_prefix(good[i], strlen(good[i])), strlen(good[i]));
    struct {
        const char *s;
        size_t len, at;
    } bad[] = {
        {"ab\xFF", 3, 2},                 /* never valid */
        {"abc\xC3", 4, 3},                /* truncated */
        {"\xC0\x80", 2, 0},               /* overlong NUL */
        {"\xE0\x80\xAF", 3, 0},           /* overlong */
        {"x\xED\xA0\x80", 4, 1},          /* surrogate */
        {"\xF4\x90\x80\x80", 4, 0},       /* > U+10FFFF */
        {"caf\xE9 latin-1 here", 16, 3},  /* Latin-1, the usual junk */
        {"abcdefgh\0ijk", 12, 8},         /* NUL in the 8-byte path */
        {"a\0", 2, 1},
        {"\x80", 1, 0},                   /* continuation byte alone */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (tq_utf8_valid_prefix(bad[i].s, bad[i].len) != bad[i].at)
            fail_msg("case %zu: %zu", i, tq_utf8_valid_prefix(bad[i].s, bad[i].len));
}

static void test_quote(void **state)
{
    (void)state;
    char buf[128];
    assert_string_equal(tq_val_quote("abc", 3, buf, sizeof buf), "abc");
    assert_string_equal(tq_val_quote("caf\xE9", 4, buf, sizeof buf), "caf\\xe9");
    assert_string_equal(tq_val_quote("a\nb'c", 5, buf, sizeof buf), "a\\x0ab\\'c");
    assert_string_equal(tq_val_quote("T\xC5\x8D", 3, buf, sizeof buf), "T\xC5\x8D");
    char longs[200];
    memset(longs, 'x', sizeof longs);
    tq_val_quote(longs, sizeof longs, buf, sizeof buf);
    assert_true(strlen(buf) < 70);
    assert_non_null(strstr(buf, "..."));
    char small[8];
    tq_val_quote(longs, sizeof longs, small, sizeof small);
    assert_true(strlen(small) < 8);
}

static void test_idset(void **state)
{
    (void)state;
    tq_idset s;
    assert_int_equal(tq_idset_init(&s, 10), TQ_OK);
    char id[32];
    int n = 50000;
    for (int i = 0; i < n; i++) {
        int len = snprintf(id, sizeof id, "acct-%d", i);
        int64_t first = -5;
        assert_int_equal(tq_idset_insert(&s, id, (size_t)len, i + 2, &first), 0);
    }
    assert_int_equal(s.count, n);
    for (int i = 0; i < n; i += 7) {
        int len = snprintf(id, sizeof id, "acct-%d", i);
        int64_t first = -5;
        assert_int_equal(tq_idset_insert(&s, id, (size_t)len, 999999, &first), 1);
        assert_int_equal(first, i + 2);
        assert_int_equal(tq_idset_find(&s, id, (size_t)len), i + 2);
    }
    assert_int_equal(tq_idset_find(&s, "acct-", 5), -1);
    assert_int_equal(tq_idset_find(&s, "acct-1x", 7), -1);
    /* a prefix of a stored id is a different id */
    assert_int_equal(tq_idset_insert(&s, "acct-1", 5, 1, NULL), 0);
    assert_int_equal(tq_idset_insert(&s, "", 0, 3, NULL), 0);
    assert_int_equal(tq_idset_insert(&s, "", 0, 4, NULL), 1);
    assert_int_equal(s.count, n + 2);
    tq_idset_free(&s);
    tq_idset_free(&s);   /* NULL-safe, idempotent */
}

static void test_feature_hash(void **state)
{
    (void)state;
    int m = 32, counts[32] = {0}, slot, slot2;
    float sign, sign2, sum = 0;
    char v[32];
    for (int i = 0; i < 32000; i++) {
        int len = snprintf(v, sizeof v, "value%d", i);
        tq_feature_hash("industry", v, (size_t)len, m, &slot, &sign);
        assert_true(slot >= 0 && slot < m);
        assert_true(sign == 1.0f || sign == -1.0f);
        tq_feature_hash("industry", v, (size_t)len, m, &slot2, &sign2);
        assert_int_equal(slot, slot2);
        assert_true(sign == sign2);
        counts[slot]++;
        sum += sign;
    }
    /* roughly uniform slots and balanced signs (1000 expected per slot) */
    for (int j = 0; j < m; j++) assert_true(counts[j] > 800 && counts[j] < 1200);
    assert_true(sum > -800 && sum < 800);
    /* the column name is part of the key */
    int s1, s2, differ = 0;
    for (int i = 0; i < 64; i++) {
        int len = snprintf(v, sizeof v, "%d", i);
        tq_feature_hash("a", v, (size_t)len, m, &s1, &sign);
        tq_feature_hash("b", v, (size_t)len, m, &s2, &sign);
        differ += s1 != s2;
    }
    assert_true(differ > 40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_basic),
        cmocka_unit_test(test_csv_quoted_newlines),
        cmocka_unit_test(test_csv_crlf_blank_bom),
        cmocka_unit_test(test_csv_empty),
        cmocka_unit_test(test_csv_malformed),
        cmocka_unit_test(test_csv_stop_and_missing),
        cmocka_unit_test(test_csv_long),
        cmocka_unit_test(test_val_double),
        cmocka_unit_test(test_val_double_vs_strtod),
        cmocka_unit_test(test_val_ranges),
        cmocka_unit_test(test_val_bool_label),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_idset),
        cmocka_unit_test(test_feature_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
