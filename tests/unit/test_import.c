/* test_import.c: tq_import_run end to end on the CSVs in tests/data: a good file read
 * back value by value (defaults, territory ids, hashed categories, quoted fields), every
 * bad-input case of the contract with its FILE:ROW:COLUMN message and no file left
 * behind, --max-errors, --map, and identical output for any batch and buffer size. */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tq_data.h"
#include "tq_import.h"
#include "tq_validate.h"

#define DATA TQ_SOURCE_DIR "/tests/data/"

static char tmpdir[256];

/* Messages reported by the import. */
typedef struct {
    char msg[64][600];
    int n;
} sink;

static void collect(void *ctx, const char *msg)
{
    sink *s = ctx;
    if (s->n < 64) snprintf(s->msg[s->n], sizeof s->msg[0], "%s", msg);
    s->n++;
}

static void params(tq_import_params *p, sink *s, const char *acc, const char *terr,
                   const char *out)
{
    static char accp[512], terrp[512], outp[512];
    tq_import_defaults(p);
    snprintf(accp, sizeof accp, DATA "%s", acc);
    snprintf(outp, sizeof outp, "%s/%s", tmpdir, out);
    p->accounts = accp;
    p->out = outp;
    if (terr) {
        snprintf(terrp, sizeof terrp, DATA "%s", terr);
        p->territories = terrp;
    }
    memset(s, 0, sizeof *s);
    p->report = collect;
    p->report_ctx = s;
}

/* Files in tmpdir (other than . and ..). */
static int files_left(void)
{
    DIR *d = opendir(tmpdir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tq_test_import.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char path[600];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        unlink(path);
    }
    if (d) closedir(d);
    rmdir(tmpdir);
    return 0;
}

static void test_good_round_trip(void **state)
{
    (void)state;
    tq_import_params p;
    tq_import_stats st;
    sink s;
    tq_err err = {0, ""};
    params(&p, &s, "accounts_good.csv", "territories_good.csv", "good.h5");
    p.ignore_unknown = 1;
    int rc = tq_import_run(&p, &st, &err);
    if (rc) fail_msg("%d %s / %s", rc, err.msg, s.n ? s.msg[0] : "");
    assert_int_equal(st.n, 6);
    assert_int_equal(st.nf, 2);
    assert_int_equal(st.nc, 1);
    assert_int_equal(st.d, 2 + 32);
    assert_int_equal(st.k, 3);
    assert_int_equal(st.ignored, 1);
    assert_int_equal(st.blank_workload, 1);
    assert_int_equal(st.blank_value, 1);
    assert_int_equal(files_left(), 1);   /* good.h5 only: no temp file */

    tq_accounts a;
    assert_int_equal(tq_accounts_read(p.out, NULL, TQ_COL_ALL, &a, &err), TQ_OK);
    assert_int_equal(a.n, 6);
    assert_int_equal(a.d, 34);
    const char *ids[6] = {"A1", "A2", "A,3", "A4", "A5", "A6"};
    const double lat[6] = {48.8566, -33.8688, 35.6897, 90, -90, 0};
    const double lon[6] = {2.3522, 151.2093, 139.6922, -180, 180, 0};
    const float work[6] = {10, 0, 7.5f, 1, 2, 1}, val[6] = {1000, 2500.5f, 1, 0, 3, 42};
    const int32_t prev[6] = {0, 1, -1, 2, 1, -1};
    const uint8_t locked[6] = {1, 0, 0, 1, 0, 0};
    const int8_t label[6] = {1, 0, -1, -1, 0, 1};
    const float size[6] = {1.5f, -2, 0, 3, 5, -0.5f}, age[6] = {20, 31.25f, 100, 4, 6, 0};
    const char *ind[6] = {"retail", "health", "", "retail", "finance", "retail"};
    for (int i = 0; i < 6; i++) {
        assert_string_equal(a.id + (size_t)i * a.id_len, ids[i]);
        assert_true(a.lat[i] == lat[i]);
        assert_true(a.lon[i] == lon[i]);
        assert_true(a.workload[i] == work[i]);
        assert_true(a.value[i] == val[i]);
        assert_int_equal(a.prev_territory[i], prev[i]);
        assert_int_equal(a.locked[i], locked[i]);
        assert_int_equal(a.label[i], label[i]);
        const float *f = a.features + (size_t)i * a.d;
        assert_true(f[0] == size[i]);
        assert_true(f[1] == age[i]);
        /* the category: exactly one hashed slot holds its sign, the rest are 0 */
        float want[32] = {0};
        if (ind[i][0]) {
            int slot;
            float sign;
            tq_feature_hash("industry", ind[i], strlen(ind[i]), 32, &slot, &sign);
            want[slot] = sign;
        }
        for (int j = 0; j < 32; j++) assert_true(f[2 + j] == want[j]);
    }
    assert_non_null(a.feature_names);
    assert_string_equal(a.feature_names[0], "size");
    assert_string_equal(a.feature_names[1], "age");
    assert_string_equal(a.feature_names[2], "hash0");
    assert_string_equal(a.feature_names[33], "hash31");
    tq_accounts_free(&a);
    /* what the hashed slots hold: each category in its slot's record, with its sign */
    char *hc = tq_data_attr_str(p.out, "/accounts", "hash_contents");
    assert_non_null(hc);
    const char *cats[3] = {"retail", "health", "finance"};
    for (int q = 0; q < 3; q++) {
        uint64_t h = tq_feature_hash64("industry", cats[q], strlen(cats[q]));
        char rec[64], item[64];
        snprintf(rec, sizeof rec, "hash%d\x1f", (int)(h % 32));
        snprintf(item, sizeof item, "\x1f%cindustry=%s", (h >> 63) ? '-' : '+', cats[q]);
        const char *r = strstr(hc, rec);
        if (!r) fail_msg("no record %s in '%s'", rec, hc);
        const char *end = strchr(r, '\x1e');
        const char *it = strstr(r, item);
        if (!it || !end || it > end) fail_msg("%s not in its slot's record: '%s'", item, hc);
    }
    free(hc);

    tq_territories t;
    assert_int_equal(tq_territories_read(p.out, &t, &err), TQ_OK);
    assert_int_equal(t.k, 3);
    assert_string_equal(t.id, "North");
    assert_string_equal(t.id + t.id_len, "South");
    assert_string_equal(t.id + 2 * t.id_len, "East");
    assert_true(t.home_lat[0] == 52.52 && t.home_lon[0] == 13.405);
    assert_true(t.home_lat[1] == -33.9 && t.home_lon[1] == 18.4);
    assert_true(isnan(t.home_lat[2]) && isnan(t.home_lon[2]));
    assert_true(t.capacity[0] == 1.5 && t.capacity[1] == 1 && t.capacity[2] == 2);
    assert_int_equal(t.has_home, 0);
    tq_territories_free(&t);
    unlink(p.out);
}

/* The same file for any batch size and read-buffer size (batches and buffer
 * boundaries fall inside quoted fields and rows). */
static void test_batches_identical(void **state)
{
    (void)state;
    uint64_t sums[4];
    int64_t batch[4] = {65536, 1, 2, 5};
    size_t buf[4] = {1 << 20, 1, 7, 64};
    for (int k = 0; k < 4; k++) {
        tq_import_params p;
        sink s;
        tq_err err = {0, ""};
        params(&p, &s, "accounts_good.csv", "territories_good.csv", "b.h5");
        p.ignore_unknown = 1;
        p.batch_rows = batch[k];
        p.buf_bytes = buf[k];
        assert_int_equal(tq_import_run(&p, NULL, &err), TQ_OK);
        tq_info info;
        assert_int_equal(tq_data_info(p.out, &info, &err), TQ_OK);
        assert_int_equal(info.n, 6);
        sums[k] = info.checksum;
        unlink(p.out);
    }
    for (int k = 1; k < 4; k++) assert_true(sums[k] == sums[0]);
}

/* Territories from prev_territory indexes when there is no territories file; CRLF. */
static void test_index_territories(void **state)
{
    (void)state;
    tq_import_params p;
    tq_import_stats st;
    sink s;
    tq_err err = {0, ""};
    params(&p, &s, "accounts_crlf_index.csv", NULL, "idx.h5");
    assert_int_equal(tq_import_run(&p, &st, &err), TQ_OK);
    assert_int_equal(st.k, 3);
    tq_accounts a;
    assert_int_equal(tq_accounts_read(p.out, NULL, TQ_COL_ALL, &a, &err), TQ_OK);
    assert_int_equal(a.prev_territory[0], 2);
    assert_int_equal(a.prev_territory[1], -1);
    assert_int_equal(a.prev_territory[2], 0);
    assert_string_equal(a.id + 2 * a.id_len, "A3");
    tq_accounts_free(&a);
    tq_territories t;
    assert_int_equal(tq_territories_read(p.out, &t, &err), TQ_OK);
    assert_int_equal(t.k, 3);
    assert_string_equal(t.id + 2 * t.id_len, "2");
    assert_true(t.capacity[1] == 1 && isnan(t.home_lat[0]));
    tq_territories_free(&t);
    unlink(p.out);
}

/* One bad-input case: the import fails with TQ_EINVAL, reports `nerr` problems, the
 * first containing `want` (and the second `want2` when given), and leaves no file. */
static void expect_bad(const char *acc, const char *terr, int nerr, const char *want,
                       const char *want2)
{
    tq_import_params p;
    tq_import_stats st;
    sink s;
    tq_err err = {0, ""};
    params(&p, &s, acc, terr, "bad.h5");
    int rc = tq_import_run(&p, &st, &err);
    if (rc != TQ_EINVAL) fail_msg("%s: status %d (%s)", acc, rc, err.msg);
    if (s.n != nerr) fail_msg("%s: %d errors, want %d; first: %s", acc, s.n, nerr, s.msg[0]);
    assert_int_equal(st.errors, nerr);
    if (!strstr(s.msg[0], want)) fail_msg("%s: '%s' lacks '%s'", acc, s.msg[0], want);
    if (want2 && !strstr(s.msg[1], want2))
        fail_msg("%s: '%s' lacks '%s'", acc, s.msg[1], want2);
    assert_non_null(strstr(err.msg, "nothing written"));
    if (files_left()) fail_msg("%s: files left behind", acc);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    const char *T = "territories_good.csv";
    expect_bad("bad_nan.csv", NULL, 2, "bad_nan.csv:3:lon: NaN or infinite value (value 'nan')",
               "bad_nan.csv:4:lon: NaN or infinite value (value 'inf')");
    expect_bad("bad_lat.csv", NULL, 2,
               "bad_lat.csv:2:lat: value outside [-90, 90] (value '90.5')",
               "bad_lat.csv:3:lat: value outside [-90, 90] (value '-91')");
    expect_bad("bad_lon.csv", NULL, 1,
               "bad_lon.csv:2:lon: value outside [-180, 180] (value '180.01')", NULL);
    expect_bad("bad_negative.csv", NULL, 2,
               "bad_negative.csv:2:workload: negative value (value '-1')",
               "bad_negative.csv:3:value: negative value (value '-0.5')");
    expect_bad("bad_dup_id.csv", NULL, 1,
               "bad_dup_id.csv:4:id: duplicate id, first on line 2 (value 'A1')", NULL);
    expect_bad("bad_missing_col.csv", NULL, 2, "bad_missing_col.csv:1:latitude: unknown column",
               "bad_missing_col.csv:1: missing required column 'lat'");
    expect_bad("bad_field_count.csv", NULL, 2,
               "bad_field_count.csv:3: expected 3 fields as in the header, found 2",
               "bad_field_count.csv:4: expected 3 fields as in the header, found 4");
    expect_bad("empty.csv", NULL, 1, "empty.csv: empty file (no header row)", NULL);
    expect_bad("header_only.csv", NULL, 1, "header_only.csv: no account rows after the header",
               NULL);
    expect_bad("bad_utf8.csv", NULL, 1,
               "bad_utf8.csv:2:c_city: bytes that are not valid UTF-8 (byte 2; save the file "
               "as UTF-8) (value 'Z\\xfcrich')",
               NULL);
    expect_bad("bad_label.csv", NULL, 2,
               "bad_label.csv:3:label: label must be 0, 1 or blank (unknown) (value '2')",
               "bad_label.csv:4:label: label must be 0, 1 or blank (unknown) (value 'yes')");
    expect_bad("bad_locked.csv", NULL, 1, "bad_locked.csv:2:locked: locked must be 0, 1", NULL);
    expect_bad("bad_prev.csv", T, 1,
               "bad_prev.csv:3:prev_territory: not among the territories of", NULL);
    expect_bad("bad_prev.csv", NULL, 2,
               "bad_prev.csv:2:prev_territory: not a territory index", NULL);
    expect_bad("bad_unknown_col.csv", NULL, 1,
               "bad_unknown_col.csv:1:segment: unknown column", NULL);
    expect_bad("bad_number.csv", NULL, 2,
               "bad_number.csv:2:f_x: not a number (--map o_x=f_x ranks the values by their "
               "first number, --map c_x=f_x reads them as categories; --missing WORD reads a "
               "missing-value word as blank) (value '1.2.3')",
               "bad_number.csv:3:lat: not a number (value 'one')");
    expect_bad("bad_quote.csv", NULL, 1, "bad_quote.csv:3: malformed CSV", NULL);
    expect_bad("bad_unclosed.csv", NULL, 1,
               "bad_unclosed.csv:3: malformed CSV: quoted field not closed", NULL);
    expect_bad("accounts_good.csv", T, 1, "accounts_good.csv:1:note: unknown column", NULL);
    /* territories file problems */
    expect_bad("accounts_good.csv", "bad_territories.csv", 3,
               "bad_territories.csv:2:capacity: value must be > 0 (value '0')",
               "bad_territories.csv:3: home_lat and home_lon come together");
    expect_bad("accounts_good.csv", "empty.csv", 1, "empty.csv: empty file (no header row)",
               NULL);
}

static void test_max_errors(void **state)
{
    (void)state;
    tq_import_params p;
    sink s;
    tq_err err = {0, ""};
    params(&p, &s, "bad_many.csv", NULL, "m.h5");
    assert_int_equal(tq_import_run(&p, NULL, &err), TQ_EINVAL);
    assert_int_equal(s.n, 20);   /* the default */
    assert_non_null(strstr(err.msg, "20 errors (stopped at --max-errors)"));
    params(&p, &s, "bad_many.csv", NULL, "m.h5");
    p.max_errors = 3;
    assert_int_equal(tq_import_run(&p, NULL, &err), TQ_EINVAL);
    assert_int_equal(s.n, 3);
    assert_non_null(strstr(s.msg[2], "bad_many.csv:4:lat:"));
    params(&p, &s, "bad_many.csv", NULL, "m.h5");
    p.max_errors = 100;
    assert_int_equal(tq_import_run(&p, NULL, &err), TQ_EINVAL);
    assert_int_equal(s.n, 30);
    assert_non_null(strstr(err.msg, "30 errors; nothing written"));
    assert_int_equal(files_left(), 0);
}

static void test_map_and_params(void **state)
{
    (void)state;
    tq_import_params p;
    sink s;
    tq_err err = {0, ""};
    params(&p, &s, "bad_missing_col.csv", NULL, "map.h5");
    p.nmap = 1;
    p.map_name[0] = "lat";
    p.map_col[0] = "latitude";
    assert_int_equal(tq_import_run(&p, NULL, &err), TQ_OK);
    tq_accounts a;
    assert_int_equal(tq_accounts_read(p.out, NULL, TQ_COL_ALL, &a, &err), TQ_OK);
    assert_true(a.lat[0] == 1 && a.workload[0] == 1 && a.label[0] == -1);
    tq_accounts_free(&a);
    unlink(p.out);
    /* a --map naming a column the file lacks */
    params(&p, &s, "bad_lon.csv", NULL, "map.h5");
    p.nmap = 1;
    p.map_name[0] = "value";
    p.map_col[0] = "population";
    assert_int_equal(tq_import_run(&p, NULL, &err), TQ_EINVAL);
    assert_non_null(strstr(s.msg[0], "--map value=population: the header has no column"));
    /* parameter checks */
    tq_import_defaults(&p);
    assert_non_null(tq_import_check(&p));
    p.accounts = "a.csv";
    p.out = "o.h5";
    assert_null(tq_import_check(&p));
    p.max_errors = 0;
    assert_non_null(tq_import_check(&p));
    p.max_errors = 1;
    p.hash_slots = 0;
    assert_non_null(tq_import_check(&p));
    p.hash_slots = 1;
    p.delim = '.';   /* would split decimals */
    assert_non_null(tq_import_check(&p));
    p.delim = '\t';
    assert_null(tq_import_check(&p));
    p.nmap = 1;
    p.map_name[0] = "latitude";   /* not a column tqplan knows */
    p.map_col[0] = "lat";
    assert_non_null(tq_import_check(&p));
    p.map_name[0] = "f_lat";
    assert_null(tq_import_check(&p));
    p.nmap = 2;
    p.map_name[1] = "lat";        /* the same CSV column twice */
    p.map_col[1] = "lat";
    assert_non_null(tq_import_check(&p));
    /* an output that cannot be created is an I/O error, after validation */
    params(&p, &s, "accounts_crlf_index.csv", NULL, "x.h5");
    static char nodir[600];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/x.h5", tmpdir);
    p.out = nodir;
    assert_int_equal(tq_import_run(&p, NULL, &err), TQ_EIO);
    assert_non_null(strstr(err.msg, "cannot create"));
    assert_int_equal(s.n, 0);
    /* a missing input file is an I/O error */
    params(&p, &s, "no_such_file.csv", NULL, "x.h5");
    assert_int_equal(tq_import_run(&p, NULL, &err), TQ_EIO);
    assert_non_null(strstr(err.msg, "no_such_file.csv: cannot open"));
    assert_int_equal(files_left(), 0);
}

/* Write text to tmpdir/name; the path in a static buffer (one at a time). */
static const char *write_tmp(const char *name, const char *text)
{
    static char path[2][600];
    static int which;
    which ^= 1;
    snprintf(path[which], sizeof path[which], "%s/%s", tmpdir, name);
    FILE *f = fopen(path[which], "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path[which];
}

static uint64_t file_checksum(const char *path)
{
    tq_info info;
    tq_err err = {0, ""};
    assert_int_equal(tq_data_info(path, &info, &err), TQ_OK);
    return info.checksum;
}

/* Parameters for the CRM export of test_crm_export: its column names mapped, other
 * columns numeric features, "Won" (and "Closed Won" when both) positive, "NA" and "n/a"
 * missing, warnings collected. */
static void crm_params(tq_import_params *p, sink *s, const char *out, const char *text,
                       int words)
{
    static const char *maps[][2] = {{"id", "AccountId"}, {"lat", "Latitude"},
                                    {"lon", "Longitude"}, {"label", "Stage"},
                                    {"c_Industry", "Industry"}};
    params(p, s, "accounts_good.csv", NULL, out);
    p->accounts = write_tmp("crm.csv", text);
    for (int m = 0; m < 5; m++) {
        p->map_name[m] = maps[m][0];
        p->map_col[m] = maps[m][1];
    }
    p->nmap = 5;
    p->rest = 'f';
    p->warn = collect;
    if (!words) return;
    p->positive[0] = "Won";
    p->positive[1] = "Closed Won";
    p->npositive = 2;
    p->missing[0] = "NA";
    p->missing[1] = "n/a";
    p->nmissing = 2;
}

/* A CRM export as it comes: other column names (--map, --rest), text labels
 * (--positive), missing-value words (--missing) and blank numbers (the column mean).
 * The result equals the import of the same file with the means written in, for any
 * batch size; the bad cases name the column. */
static void test_crm_export(void **state)
{
    (void)state;
    static const char *crm =
        "AccountId,Latitude,Longitude,Stage,Revenue,Employees,Industry\n"
        "x1,10,20,Won,100,5,retail\n"
        "x2,11,21,Lost,,7,health\n"
        "x3,12,22,,300,NA,n/a\n"
        "x4,13,23,NA,NA,9,retail\n"
        "x5,14,24, Closed Won ,500,,\n"
        "x6,15,25,Lost,700,11,finance\n";
    /* Revenue: mean of 100, 300, 500, 700 = 400; Employees: of 5, 7, 9, 11 = 8 */
    static const char *filled =
        "AccountId,Latitude,Longitude,Stage,Revenue,Employees,Industry\n"
        "x1,10,20,1,100,5,retail\n"
        "x2,11,21,0,400,7,health\n"
        "x3,12,22,,300,8,\n"
        "x4,13,23,,400,9,retail\n"
        "x5,14,24,1,500,8,\n"
        "x6,15,25,0,700,11,finance\n";
    tq_import_params p;
    tq_import_stats st;
    sink s;
    tq_err err = {0, ""};
    uint64_t sum[3];
    for (int run = 0; run < 3; run++) {
        crm_params(&p, &s, run == 0 ? "crm.h5" : run == 1 ? "crm1.h5" : "filled.h5",
                   run < 2 ? crm : filled, run < 2);
        p.batch_rows = run == 1 ? 1 : 65536;
        int rc = tq_import_run(&p, &st, &err);
        if (rc) fail_msg("run %d: %d %s / %s", run, rc, err.msg, s.n ? s.msg[0] : "");
        assert_int_equal(st.n, 6);
        assert_int_equal(st.nf, 2);
        assert_int_equal(st.nc, 1);
        if (run < 2) {
            assert_int_equal(st.labels_pos, 2);
            assert_int_equal(st.labels_neg, 2);
            assert_int_equal(st.imputed, 4);
            assert_int_equal(st.imputed_columns, 2);
            assert_int_equal(s.n, 2);   /* one warning a column */
            assert_non_null(strstr(s.msg[0], "crm.csv:Revenue: 2 blank fields (33.3%) read as "
                                             "the column's mean 400"));
            assert_non_null(strstr(s.msg[1], "crm.csv:Employees: 2 blank fields"));
        } else {
            assert_int_equal(st.imputed, 0);
        }
        tq_accounts a;
        assert_int_equal(tq_accounts_read(p.out, NULL, TQ_COL_ALL, &a, &err), TQ_OK);
        const int8_t label[6] = {1, 0, -1, -1, 1, 0};
        const float rev[6] = {100, 400, 300, 400, 500, 700}, emp[6] = {5, 7, 8, 9, 8, 11};
        for (int i = 0; i < 6; i++) {
            assert_int_equal(a.label[i], label[i]);
            assert_true(a.features[i * a.d] == rev[i]);
            assert_true(a.features[i * a.d + 1] == emp[i]);
        }
        tq_accounts_free(&a);
        sum[run] = file_checksum(p.out);
        unlink(p.out);
    }
    assert_true(sum[0] == sum[1]);   /* batch size does not matter */
    assert_true(sum[0] == sum[2]);   /* the same as the means written in */

    /* --indicator: NAME_missing after the hashed slots, 1 where the field was blank */
    for (int run = 0; run < 2; run++) {
        crm_params(&p, &s, "ind.h5", crm, 1);
        p.indicator[0] = run ? "all" : "Revenue";
        p.nindicator = 1;
        int rc = tq_import_run(&p, &st, &err);
        if (rc) fail_msg("indicator run %d: %d %s / %s", run, rc, err.msg, s.n ? s.msg[0] : "");
        assert_int_equal(st.nind, run ? 2 : 1);
        assert_int_equal(st.d, 2 + 32 + st.nind);
        tq_accounts a;
        assert_int_equal(tq_accounts_read(p.out, NULL, TQ_COL_ALL, &a, &err), TQ_OK);
        assert_string_equal(a.feature_names[34], "Revenue_missing");
        if (run) assert_string_equal(a.feature_names[35], "Employees_missing");
        const float rmiss[6] = {0, 1, 0, 1, 0, 0}, emiss[6] = {0, 0, 1, 0, 1, 0};
        for (int i = 0; i < 6; i++) {
            assert_true(a.features[i * a.d + 34] == rmiss[i]);
            if (run) assert_true(a.features[i * a.d + 35] == emiss[i]);
        }
        tq_accounts_free(&a);
        /* the warning suggests --indicator only for a column without one */
        assert_null(strstr(s.msg[0], "--indicator Revenue"));
        if (!run) assert_non_null(strstr(s.msg[1], "; --indicator Employees adds a feature "
                                                   "Employees_missing"));
        unlink(p.out);
    }
    p.indicator[0] = "Nope";
    s.n = 0;
    assert_int_equal(tq_import_run(&p, &st, &err), TQ_EINVAL);
    assert_non_null(strstr(s.msg[0], "--indicator Nope: no numeric (f_ or o_) feature"));

    /* bad cases: a --positive no label has; a column with no number; no label column */
    crm_params(&p, &s, "bad.h5", crm, 1);
    p.positive[0] = "won";
    p.npositive = 1;
    p.warn = NULL;
    assert_int_equal(tq_import_run(&p, &st, &err), TQ_EINVAL);
    assert_int_equal(s.n, 1);
    assert_non_null(strstr(s.msg[0], "crm.csv:Stage: no label is --positive 'won'; 4 are "
                                     "other values (the first: 'Won'), 2 blank"));
    p.positive[0] = "Won";
    s.n = 0;
    p.accounts = write_tmp("crm.csv", "id,lat,lon,label,f_x,f_y\n1,0,0,Won,NA,1\n"
                                      "2,0,0,Lost,,2\n");
    p.nmap = 0;
    assert_int_equal(tq_import_run(&p, &st, &err), TQ_EINVAL);
    assert_int_equal(s.n, 1);
    assert_non_null(strstr(s.msg[0], "crm.csv:f_x: every field is blank"));
    s.n = 0;
    p.accounts = write_tmp("crm.csv", "id,lat,lon,f_x\n1,0,0,3\n");
    assert_int_equal(tq_import_run(&p, &st, &err), TQ_EINVAL);
    assert_non_null(strstr(s.msg[0], "crm.csv:1: --positive Won: the header has no label column"));
    unlink(p.accounts);
    assert_int_equal(files_left(), 0);
    /* a file without a line break at its end: imported, with a warning naming its
     * last row (a file cut short mid-row can still parse) */
    params(&p, &s, "accounts_good.csv", NULL, "nt.h5");
    p.accounts = write_tmp("nt.csv", "id,lat,lon\na,1,2\n\"b\n\",3,4");
    p.warn = collect;
    assert_int_equal(tq_import_run(&p, &st, &err), TQ_OK);
    assert_int_equal(st.n, 2);
    assert_int_equal(st.unterminated, 1);
    assert_int_equal(s.n, 1);
    assert_non_null(strstr(s.msg[0], "nt.csv:3: the file does not end with a line break"));
    p.accounts = write_tmp("nt.csv", "id,lat,lon\r\na,1,2\r\n");
    s.n = 0;
    assert_int_equal(tq_import_run(&p, &st, &err), TQ_OK);
    assert_int_equal(st.unterminated, 0);
    assert_int_equal(s.n, 0);
    unlink(p.accounts);
    unlink(p.out);
    /* --decimal ',' with ';' between fields (a German export); the territories file too */
    params(&p, &s, "accounts_good.csv", NULL, "de.h5");
    p.accounts = write_tmp("de.csv", "id;lat;lon;workload;value;f_x;prev_territory\n"
                                     "a;52,52;13,405;1,5;2500,75;-0,25;T1\n"
                                     "b;48,1;11,6;2;3;4;T1\n");
    static char terr_path[600];
    snprintf(terr_path, sizeof terr_path, "%s", write_tmp("de_t.csv", "id;home_lat;home_lon;capacity\n"
                                                                    "T1;50,1;8,7;1,25\n"));
    p.territories = terr_path;
    p.delim = ';';
    p.decimal = ',';
    assert_int_equal(tq_import_run(&p, &st, &err), TQ_OK);
    {
        tq_accounts a;
        tq_territories t;
        assert_int_equal(tq_accounts_read(p.out, NULL, TQ_COL_ALL, &a, &err), TQ_OK);
        assert_true(a.lat[0] == 52.52 && a.lon[0] == 13.405 && a.workload[0] == 1.5f);
        assert_true(a.value[0] == 2500.75f && a.features[0] == -0.25f && a.lat[1] == 48.1);
        tq_accounts_free(&a);
        assert_int_equal(tq_territories_read(p.out, &t, &err), TQ_OK);
        assert_true(t.home_lat[0] == 50.1 && t.home_lon[0] == 8.7 && t.capacity[0] == 1.25);
        tq_territories_free(&t);
    }
    unlink(p.out);
    /* o_ values read the comma as the decimal mark and the point as thousands, and a
     * range's unit (Tsd, Mio) is its first number's: 1.000 Tsd = 1 Mio < 2 Mio */
    p.accounts = write_tmp("de.csv", "id;lat;lon;o_rev\na;1;2;2,5 - 5 Mio\nb;1;2;2 - 2,5 Mio\n"
                                     "c;1;2;1.000 - 1.999 Tsd\nd;1;2;10 - 25 Mio\n");
    p.territories = NULL;
    assert_int_equal(tq_import_run(&p, &st, &err), TQ_OK);
    assert_memory_equal(st.ordered, "rev\x1f" "1.000 - 1.999 Tsd\x1f" "2 - 2,5 Mio\x1f"
                        "2,5 - 5 Mio\x1f" "10 - 25 Mio\x1e", st.ordered_len);
    free(st.ordered);
    unlink(p.out);
    /* a point is then an error (a thousands separator there), shown as written */
    p.accounts = write_tmp("de.csv", "id;lat;lon;value\na;52.5,2;13,4;1.234\n");
    p.territories = NULL;
    s.n = 0;
    assert_int_equal(tq_import_run(&p, &st, &err), TQ_EINVAL);
    assert_int_equal(s.n, 2);
    assert_non_null(strstr(s.msg[0], "de.csv:2:lat: not a number (value '52.5,2')"));
    assert_non_null(strstr(s.msg[1], "de.csv:2:value: not a number (value '1.234')"));
    unlink(p.accounts);
    unlink(terr_path);
    /* parameter checks */
    tq_import_defaults(&p);
    p.accounts = "a.csv";
    p.out = "o.h5";
    p.decimal = ',';   /* with the default ',' between fields */
    assert_non_null(tq_import_check(&p));
    p.delim = ';';
    assert_null(tq_import_check(&p));
    p.decimal = '.';
    p.rest = 'f';
    p.ignore_unknown = 1;
    assert_non_null(tq_import_check(&p));
    p.ignore_unknown = 0;
    p.positive[0] = p.missing[0] = "NA";
    p.npositive = p.nmissing = 1;
    assert_non_null(tq_import_check(&p));
    p.positive[0] = "Y";
    assert_null(tq_import_check(&p));
}

/* Ordered codes in words (o_): ranked by their first number (thousands groups, signs),
 * ties by text with a warning; blanks the mean rank; the same file (checksum) as with
 * the ranks written in; a value without a number is an error. */
static void test_ordered(void **state)
{
    (void)state;
    static const char *csv =
        "id,lat,lon,o_size,f_x,o_temp\n"
        "a,0,0,1-10,1,-5 to 0\n"
        "b,0,0,11-50,2,0 to 5\n"
        "c,0,0,,3,(-10) and below\n"
        "d,0,0,\"1,001-5,000\",4,0 to 5\n"
        "e,0,0,51-200,5,$2.5 up\n"
        "f,0,0,NA,6,-5 to 0\n"
        "g,0,0,11+,7,0 to 5\n";
    /* size: 1-10 < 11+ < 11-50 < 51-200 < 1,001-5,000 (ranks 0..4; '+' < '-' in bytes);
     * blanks: the mean rank of a, b, d, e, g = (0 + 2 + 4 + 3 + 1) / 5 = 2.
     * temp: -10 < -5 < 0 < 2.5 */
    static const char *filled =
        "id,lat,lon,f_size,f_x,f_temp\n"
        "a,0,0,0,1,1\n"
        "b,0,0,2,2,2\n"
        "c,0,0,2,3,0\n"
        "d,0,0,4,4,2\n"
        "e,0,0,3,5,3\n"
        "f,0,0,2,6,1\n"
        "g,0,0,1,7,2\n";
    tq_import_params p;
    tq_import_stats st;
    sink s;
    tq_err err = {0, ""};
    uint64_t sum[3];
    for (int run = 0; run < 3; run++) {
        params(&p, &s, "accounts_good.csv", NULL, "ord.h5");
        p.accounts = write_tmp("ord.csv", run < 2 ? csv : filled);
        p.missing[0] = "NA";
        p.nmissing = 1;
        p.warn = collect;
        p.batch_rows = run == 1 ? 2 : 65536;
        int rc = tq_import_run(&p, &st, &err);
        if (rc) fail_msg("run %d: %d %s / %s", run, rc, err.msg, s.n ? s.msg[0] : "");
        if (run < 2) {
            assert_int_equal(st.nord, 2);
            assert_int_equal(st.nf, 3);
            assert_int_equal(st.imputed, 2);
            assert_non_null(st.ordered);
            assert_memory_equal(st.ordered, "size\x1f" "1-10\x1f" "11+\x1f" "11-50\x1f"
                                "51-200\x1f" "1,001-5,000\x1e" "temp\x1f" "(-10) and below\x1f"
                                "-5 to 0\x1f" "0 to 5\x1f" "$2.5 up\x1e",
                                st.ordered_len);
            assert_int_equal(s.n, 2);
            assert_non_null(strstr(s.msg[0], "ord.csv:o_size: '11+' and '11-50' start with "
                                             "the same number: ordered by their text"));
            assert_non_null(strstr(s.msg[1], "ord.csv:o_size: 2 blank fields (28.6%) read as "
                                             "the column's mean 2 (of the ranks)"));
            free(st.ordered);
        } else {
            assert_int_equal(st.nord, 0);
        }
        tq_accounts a;
        assert_int_equal(tq_accounts_read(p.out, NULL, TQ_COL_ALL, &a, &err), TQ_OK);
        const float size[7] = {0, 2, 2, 4, 3, 2, 1}, temp[7] = {1, 2, 0, 2, 3, 1, 2};
        for (int i = 0; i < 7; i++) {
            assert_true(a.features[i * 3] == size[i]);
            assert_true(a.features[i * 3 + 1] == (float)(i + 1));
            assert_true(a.features[i * 3 + 2] == temp[i]);
        }
        tq_accounts_free(&a);
        sum[run] = file_checksum(p.out);
        unlink(p.out);
    }
    assert_true(sum[0] == sum[1]);
    assert_true(sum[0] == sum[2]);

    /* --like FROM: blanks read as FROM's values (size: mean rank 2, x: mean 4), levels
     * ranked as in FROM, a level FROM lacks between its neighbours there */
    static char from[600];
    params(&p, &s, "accounts_good.csv", NULL, "from.h5");
    p.accounts = write_tmp("ord.csv", csv);
    p.missing[0] = "NA";
    p.nmissing = 1;
    p.warn = collect;
    assert_int_equal(tq_import_run(&p, &st, &err), TQ_OK);
    free(st.ordered);
    snprintf(from, sizeof from, "%s", p.out);
    params(&p, &s, "accounts_good.csv", NULL, "new.h5");
    p.accounts = write_tmp("new.csv", "id,lat,lon,o_size,f_x,o_temp\n"
                                      "z1,0,0,11-50,,0 to 5\n"
                                      "z2,0,0,300-999,8,$2.5 up\n"
                                      "z3,0,0,,9,-5 to 0\n");
    p.like = from;
    p.warn = collect;
    int rc = tq_import_run(&p, &st, &err);
    if (rc) fail_msg("--like: %d %s / %s", rc, err.msg, s.n ? s.msg[0] : "");
    free(st.ordered);
    assert_int_equal(st.like_new, 1);
    assert_non_null(strstr(s.msg[0], "new.csv:o_size: '300-999' is not among the levels of "));
    assert_non_null(strstr(s.msg[0], "ranked 3.5, between '51-200' and '1,001-5,000'"));
    {
        tq_accounts a;
        assert_int_equal(tq_accounts_read(p.out, NULL, TQ_COL_ALL, &a, &err), TQ_OK);
        const float size[3] = {2, 3.5f, 2}, x[3] = {4, 8, 9}, temp[3] = {2, 3, 1};
        for (int i = 0; i < 3; i++) {
            assert_true(a.features[i * 3] == size[i]);
            assert_true(a.features[i * 3 + 1] == x[i]);
            assert_true(a.features[i * 3 + 2] == temp[i]);
        }
        tq_accounts_free(&a);
    }
    /* a file imported --like keeps FROM's levels and fills: --like it gives the same */
    static char mid[600];
    snprintf(mid, sizeof mid, "%s", p.out);
    params(&p, &s, "accounts_good.csv", NULL, "new2.h5");
    p.accounts = write_tmp("new.csv", "id,lat,lon,o_size,f_x,o_temp\nz1,0,0,,,11 up\n");
    p.like = mid;
    assert_int_equal(tq_import_run(&p, &st, &err), TQ_OK);
    free(st.ordered);
    {
        tq_accounts a;
        assert_int_equal(tq_accounts_read(p.out, NULL, TQ_COL_ALL, &a, &err), TQ_OK);
        assert_true(a.features[0] == 2 && a.features[1] == 4 && a.features[2] == 3.5f);
        tq_accounts_free(&a);
    }
    unlink(p.out);
    unlink(mid);
    /* FROM lacks a feature; f_ here and o_ there */
    params(&p, &s, "accounts_good.csv", NULL, "new.h5");
    p.accounts = write_tmp("new.csv", "id,lat,lon,f_size,f_y\nz1,0,0,1,2\n");
    p.like = from;
    assert_int_equal(tq_import_run(&p, &st, &err), TQ_EINVAL);
    assert_int_equal(s.n, 2);
    assert_non_null(strstr(s.msg[0], "new.csv:1:f_size: --like "));
    assert_non_null(strstr(s.msg[0], "'size' is an ordered feature there: read it as o_size"));
    assert_non_null(strstr(s.msg[1], "new.csv:1:f_y: --like "));
    assert_non_null(strstr(s.msg[1], "it has no feature 'y'"));
    unlink(p.accounts);
    unlink(from);
    /* revenue bands with multipliers (K, M, mil., B; a range's unit is its first
     * number's too): by amount, not by the digits */
    params(&p, &s, "accounts_good.csv", NULL, "ord.h5");
    p.accounts = write_tmp("ord.csv", "id,lat,lon,o_rev\n"
                                      "a,0,0,$1-5M\n"
                                      "b,0,0,$500K - $1M\n"
                                      "c,0,0,$1B+\n"
                                      "d,0,0,Under $100K\n"
                                      "e,0,0,$10 mil. - $50 mil.\n"
                                      "f,0,0,$250 - $500 Million\n"
                                      "g,0,0,50-199 employees\n");
    assert_int_equal(tq_import_run(&p, &st, &err), TQ_OK);
    assert_memory_equal(st.ordered, "rev\x1f" "50-199 employees\x1f" "Under $100K\x1f"
                        "$500K - $1M\x1f" "$1-5M\x1f" "$10 mil. - $50 mil.\x1f"
                        "$250 - $500 Million\x1f" "$1B+\x1e", st.ordered_len);
    free(st.ordered);
    unlink(p.accounts);
    unlink(p.out);
    /* a value without a number */
    params(&p, &s, "accounts_good.csv", NULL, "ord.h5");
    p.accounts = write_tmp("ord.csv", "id,lat,lon,o_size\na,0,0,1-10\nb,0,0,unknown\n");
    assert_int_equal(tq_import_run(&p, &st, &err), TQ_EINVAL);
    assert_int_equal(s.n, 1);
    assert_non_null(strstr(s.msg[0], "ord.csv:3:o_size: no number to order this value by"));
    assert_null(st.ordered);
    unlink(p.accounts);
    assert_int_equal(files_left(), 0);
}

/* --thousands C: formatted amounts (groups of three, a currency sign before or after)
 * read as the numbers written plain; a misplaced separator is an error; without the
 * option the error suggests it. */
static void test_thousands(void **state)
{
    (void)state;
    tq_import_params p;
    tq_import_stats st;
    sink s;
    tq_err err = {0, ""};
    params(&p, &s, "accounts_good.csv", NULL, "th.h5");
    p.accounts = write_tmp("th.csv", "id,lat,lon,value,f_x\n"
                                     "a,0,0,\"$1,234.50\",\"-$1,000\"\n"
                                     "b,0,0,\"1,234,567\",$-5\n"
                                     "c,0,0,1234,\xe2\x82\xac" "1.5\n"
                                     "d,0,0,\xc2\xa3 20,20 \xc2\xa5\n");
    p.thousands = ',';
    int rc = tq_import_run(&p, &st, &err);
    if (rc) fail_msg("%d %s / %s", rc, err.msg, s.n ? s.msg[0] : "");
    {
        tq_accounts a;
        assert_int_equal(tq_accounts_read(p.out, NULL, TQ_COL_ALL, &a, &err), TQ_OK);
        const float v[4] = {1234.5f, 1234567, 1234, 20}, x[4] = {-1000, -5, 1.5f, 20};
        for (int i = 0; i < 4; i++) {
            assert_true(a.value[i] == v[i]);
            assert_true(a.features[i] == x[i]);
        }
        tq_accounts_free(&a);
    }
    unlink(p.out);
    /* with --decimal , and --thousands . (or a space) */
    p.accounts = write_tmp("th.csv", "id;lat;lon;value;f_x\n"
                                     "a;0;0;1.234,50 \xe2\x82\xac;1.234.567\n"
                                     "b;0;0;1,5;-2,25\n");
    p.delim = ';';
    p.decimal = ',';
    p.thousands = '.';
    rc = tq_import_run(&p, &st, &err);
    if (rc) fail_msg("%d %s / %s", rc, err.msg, s.n ? s.msg[0] : "");
    {
        tq_accounts a;
        assert_int_equal(tq_accounts_read(p.out, NULL, TQ_COL_ALL, &a, &err), TQ_OK);
        assert_true(a.value[0] == 1234.5f && a.features[0] == 1234567);
        assert_true(a.value[1] == 1.5f && a.features[1] == -2.25f);
        tq_accounts_free(&a);
    }
    unlink(p.out);
    p.accounts = write_tmp("th.csv", "id;lat;lon;value\na;0;0;1 234,5\n");
    p.thousands = ' ';
    assert_int_equal(tq_import_run(&p, &st, &err), TQ_OK);
    {
        tq_accounts a;
        assert_int_equal(tq_accounts_read(p.out, NULL, TQ_COL_ALL, &a, &err), TQ_OK);
        assert_true(a.value[0] == 1234.5f);
        tq_accounts_free(&a);
    }
    unlink(p.out);
    /* misplaced separators, a negative value, each named as written */
    params(&p, &s, "accounts_good.csv", NULL, "th.h5");
    p.accounts = write_tmp("th.csv", "id,lat,lon,value\na,0,0,\"12,34\"\nb,0,0,\"1,2345\"\n"
                                     "c,0,0,\"1234,567\"\nd,0,0,\",123\"\ne,0,0,-$5\n");
    p.thousands = ',';
    s.n = 0;
    assert_int_equal(tq_import_run(&p, &st, &err), TQ_EINVAL);
    assert_int_equal(s.n, 5);
    assert_non_null(strstr(s.msg[0], "th.csv:2:value: not a number (value '12,34')"));
    assert_non_null(strstr(s.msg[1], "th.csv:3:value: not a number (value '1,2345')"));
    assert_non_null(strstr(s.msg[2], "th.csv:4:value: not a number (value '1234,567')"));
    assert_non_null(strstr(s.msg[3], "th.csv:5:value: not a number (value ',123')"));
    assert_non_null(strstr(s.msg[4], "th.csv:6:value:"));
    assert_non_null(strstr(s.msg[4], "(value '-$5')"));
    assert_null(strstr(s.msg[4], "not a number"));
    /* without --thousands: the hint */
    p.accounts = write_tmp("th.csv", "id,lat,lon,value,f_x\na,0,0,\"1,234.5\",$3\n");
    p.thousands = 0;
    s.n = 0;
    assert_int_equal(tq_import_run(&p, &st, &err), TQ_EINVAL);
    assert_int_equal(s.n, 2);
    assert_non_null(strstr(s.msg[0], "th.csv:2:value: not a number (--thousands , reads "
                                     "formatted amounts such as $1,234.50) (value '1,234.5')"));
    assert_non_null(strstr(s.msg[1], "th.csv:2:f_x: not a number (--thousands , reads"));
    /* the separator must be another character than the decimal mark */
    p.thousands = '.';
    assert_non_null(tq_import_check(&p));
    p.thousands = ';';
    assert_non_null(tq_import_check(&p));
    unlink(p.accounts);
    assert_int_equal(files_left(), 0);
}

/* tq_writer_append_ids (ids after the rows): a commit with too few ids fails and
 * leaves no file; ids to a writer that has them in its batches are refused. */
static void test_writer_ids_later(void **state)
{
    (void)state;
    char out[600];
    tq_err err = {0, ""};
    snprintf(out, sizeof out, "%s/w.h5", tmpdir);
    tq_accounts b;
    assert_int_equal(tq_accounts_alloc(&b, 3, 0, 0, TQ_COL_ALL & ~TQ_COL_ID & ~TQ_COL_SCORE),
                     TQ_OK);
    for (int i = 0; i < 3; i++) b.lat[i] = b.lon[i] = i;
    tq_writer *w = tq_writer_create(out, 0, 0, NULL, &err);
    assert_non_null(w);
    assert_int_equal(tq_writer_append(w, &b, &err), TQ_OK);
    assert_int_equal(tq_writer_append_ids(w, "a\0b\0", 2, 2, &err), TQ_OK);
    assert_int_equal(tq_writer_append_ids(w, "c\0\0", 1, 3, &err), TQ_EINTERNAL);
    assert_int_equal(tq_writer_close(w, 1, &err), TQ_EINTERNAL);   /* 2 ids, 3 rows */
    assert_non_null(strstr(err.msg, "2 ids for 3 rows"));
    assert_int_equal(files_left(), 0);
    /* the complete case reads back */
    w = tq_writer_create(out, 0, 0, NULL, &err);
    assert_int_equal(tq_writer_append(w, &b, &err), TQ_OK);
    assert_int_equal(tq_writer_append_ids(w, "a\0b\0", 2, 2, &err), TQ_OK);
    assert_int_equal(tq_writer_append_ids(w, "c\0", 1, 2, &err), TQ_OK);
    assert_int_equal(tq_writer_close(w, 1, &err), TQ_OK);
    tq_accounts a;
    assert_int_equal(tq_accounts_read(out, NULL, TQ_COL_ALL, &a, &err), TQ_OK);
    assert_string_equal(a.id + 2 * a.id_len, "c");
    assert_true(a.lat[2] == 2);
    tq_accounts_free(&a);
    unlink(out);
    /* a writer created with an id length takes its ids in the batches */
    w = tq_writer_create(out, 0, 4, NULL, &err);
    assert_int_equal(tq_writer_append_ids(w, "abc\0", 1, 4, &err), TQ_EINTERNAL);
    tq_writer_close(w, 0, NULL);
    tq_accounts_free(&b);
    assert_int_equal(files_left(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_round_trip),
        cmocka_unit_test(test_batches_identical),
        cmocka_unit_test(test_index_territories),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_max_errors),
        cmocka_unit_test(test_map_and_params),
        cmocka_unit_test(test_crm_export),
        cmocka_unit_test(test_ordered),
        cmocka_unit_test(test_thousands),
        cmocka_unit_test(test_writer_ids_later),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
