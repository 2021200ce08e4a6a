/* Data layer tests: HDF5 round trip, atomic writes, result groups, schema check, and
 * per-rank hyperslab reads. Runs serially under ctest and under mpirun
 * (tests/mpi/data_mpi.sh) where every rank reads only its block of rows. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tq_data.h"

static tq_comm *comm;
static char path[256];

/* The value of every column of global row i, so any rank can check any row. */
static void fill_row(tq_accounts *a, int64_t r, int64_t i, int d)
{
    snprintf(a->id + r * a->id_len, (size_t)a->id_len, "acct-%lld", (long long)i);
    a->lat[r] = -89.5 + (double)(i % 179);
    a->lon[r] = -179.25 + (double)(i % 359) + 1e-9 * (double)i;
    a->workload[r] = (float)i * 0.5f;
    a->value[r] = (float)(i * i % 1000);
    a->prev_territory[r] = (int32_t)(i % 7) - 1;
    a->locked[r] = (uint8_t)(i % 5 == 0);
    a->label[r] = (int8_t)(i % 3) - 1;
    for (int j = 0; j < d; j++) a->features[r * d + j] = (float)i + 0.25f * (float)j;
}

/* Writes a dataset of n rows in batches of `batch` rows (rank 0 only). */
static void write_file(const char *p, int64_t n, int d, int64_t batch)
{
    tq_err err = {0, ""};
    char *names[3] = {"alpha", "beta", "gamma"};
    tq_writer *w = tq_writer_create(p, d, 16, names, &err);
    assert_non_null(w);
    tq_accounts b;
    assert_int_equal(tq_accounts_alloc(&b, batch, d, 16, TQ_COL_ALL & ~(unsigned)TQ_COL_SCORE), TQ_OK);
    for (int64_t at = 0; at < n; at += batch) {
        int64_t rows = n - at < batch ? n - at : batch;
        for (int64_t r = 0; r < rows; r++) fill_row(&b, r, at + r, d);
        b.lo = 0;
        b.hi = rows;
        assert_int_equal(tq_writer_append(w, &b, &err), TQ_OK);
    }
    tq_territories t = {0};
    double hl[2] = {40.0, NAN}, ho[2] = {-75.0, NAN}, cap[2] = {1.0, 2.5};
    char ids[2 * 8] = "T-one\0\0\0T-two\0\0";
    t.k = 2;
    t.id_len = 8;
    t.id = ids;
    t.home_lat = hl;
    t.home_lon = ho;
    t.capacity = cap;
    assert_int_equal(tq_writer_territories(w, &t, &err), TQ_OK);
    assert_int_equal(tq_writer_close(w, 1, &err), TQ_OK);
    tq_accounts_free(&b);
}

static void test_round_trip(void **state)
{
    (void)state;
    const int64_t n = 10000;
    const int d = 3;
    tq_err err = {0, ""};
    if (tq_comm_rank(comm) == 0) write_file(path, n, d, 777);
    tq_comm_barrier(comm);

    tq_info info;
    assert_int_equal(tq_data_info(path, &info, &err), TQ_OK);
    assert_int_equal(info.n, n);
    assert_int_equal(info.d, d);
    assert_int_equal(info.k, 2);
    assert_int_equal(info.schema_version, TQ_SCHEMA_VERSION);
    assert_false(info.has_score);

    tq_accounts a, e;
    assert_int_equal(tq_accounts_read(path, comm, TQ_COL_ALL, &a, &err), TQ_OK);
    tq_blocks b;
    int64_t lo, hi;
    tq_blocks_init(&b, n);
    tq_blocks_of_rank(&b, tq_comm_rank(comm), tq_comm_size(comm), NULL, NULL, &lo, &hi);
    assert_int_equal(a.lo, lo);
    assert_int_equal(a.hi, hi);
    assert_null(a.score);
    assert_string_equal(a.feature_names[1], "beta");
    assert_int_equal(tq_accounts_alloc(&e, hi - lo, d, a.id_len, TQ_COL_ALL), TQ_OK);
    for (int64_t r = 0; r < hi - lo; r++) {
        fill_row(&e, r, lo + r, d);
        assert_string_equal(a.id + r * a.id_len, e.id + r * e.id_len);
    }
    size_t rows = (size_t)(hi - lo);
    assert_memory_equal(a.lat, e.lat, rows * sizeof(double));
    assert_memory_equal(a.lon, e.lon, rows * sizeof(double));
    assert_memory_equal(a.workload, e.workload, rows * sizeof(float));
    assert_memory_equal(a.value, e.value, rows * sizeof(float));
    assert_memory_equal(a.prev_territory, e.prev_territory, rows * sizeof(int32_t));
    assert_memory_equal(a.locked, e.locked, rows);
    assert_memory_equal(a.label, e.label, rows);
    assert_memory_equal(a.features, e.features, rows * (size_t)d * sizeof(float));

    tq_territories t;
    int trc = tq_territories_read(path, &t, &err);
    if (trc != TQ_OK) fprintf(stderr, "territories: %s\n", err.msg);
    assert_int_equal(trc, TQ_OK);
    assert_int_equal(t.k, 2);
    assert_string_equal(t.id + t.id_len, "T-two");
    assert_true(isnan(t.home_lat[1]));
    assert_false(t.has_home);
    assert_true(t.capacity[1] == 2.5);
    tq_territories_free(&t);

    /* result group: rows gathered in rank order, small data, attributes, manifest */
    int32_t *lab = malloc(rows * sizeof *lab + 1);
    for (int64_t r = 0; r < hi - lo; r++) lab[r] = (int32_t)((lo + r) * 3 % 11);
    tq_result *res = tq_result_begin(path, "clusters", comm, &err);
    assert_non_null(res);
    assert_int_equal(tq_result_rows_i32(res, "label", lab, hi - lo, 1), TQ_OK);
    double centers[4] = {1, 2, 3, 4};
    assert_int_equal(tq_result_small_f64(res, "centers", centers, 2, 2), TQ_OK);
    assert_int_equal(tq_result_attr_f64(res, "inertia", 12.5), TQ_OK);
    assert_int_equal(tq_result_commit(res, "cluster", "{\"k\":2}", 7, 0, &err), TQ_OK);
    int32_t *back = NULL;
    int64_t nl = 0;
    assert_int_equal(tq_result_read_rows_i32(path, comm, "clusters/label", &back, &nl, &err), TQ_OK);
    assert_int_equal(nl, hi - lo);
    assert_memory_equal(back, lab, rows * sizeof *lab);
    double *cv = NULL;
    int64_t cr = 0;
    int cw = 0;
    assert_int_equal(tq_result_read_f64(path, "clusters/centers", &cv, &cr, &cw, &err), TQ_OK);
    assert_int_equal(cr, 2);
    assert_int_equal(cw, 2);
    assert_memory_equal(cv, centers, sizeof centers);

    /* a column of /accounts replaced atomically */
    float *sc = malloc(rows * sizeof *sc + 1);
    for (int64_t r = 0; r < hi - lo; r++) sc[r] = (float)(lo + r) / (float)n;
    assert_int_equal(tq_accounts_write_f32(path, comm, "score", sc, hi - lo, &err), TQ_OK);
    tq_accounts s2;
    assert_int_equal(tq_accounts_read(path, comm, TQ_COL_SCORE, &s2, &err), TQ_OK);
    assert_non_null(s2.score);
    assert_memory_equal(s2.score, sc, rows * sizeof *sc);
    tq_accounts_free(&s2);

    free(sc);
    free(cv);
    free(back);
    free(lab);
    tq_accounts_free(&a);
    tq_accounts_free(&e);
    tq_comm_barrier(comm);
}

/* A range read returns exactly the rows asked for; out-of-range is refused. */
static void test_range_read(void **state)
{
    (void)state;
    tq_err err = {0, ""};
    if (tq_comm_rank(comm) != 0) return;
    char p[300];
    snprintf(p, sizeof p, "%s.range", path);
    write_file(p, 5000, 2, 4096);
    tq_accounts a;
    assert_int_equal(tq_accounts_read_range(p, TQ_COL_LATLON | TQ_COL_FEATURES, 4090, 4100, &a, &err), TQ_OK);
    assert_int_equal(a.hi - a.lo, 10);
    assert_true(a.features[2 * 5] == 4095.0f);
    tq_accounts_free(&a);
    assert_int_equal(tq_accounts_read_range(p, TQ_COL_LATLON, 4000, 6000, &a, &err), TQ_EINVAL);
    assert_non_null(strstr(err.msg, "outside"));
    unlink(p);
}

/* An aborted writer leaves nothing behind, not even its temporary file. */
static void test_abort_leaves_nothing(void **state)
{
    (void)state;
    tq_err err = {0, ""};
    if (tq_comm_rank(comm) != 0) return;
    char p[300];
    snprintf(p, sizeof p, "%s.aborted", path);
    unlink(p);
    tq_writer *w = tq_writer_create(p, 0, 8, NULL, &err);
    assert_non_null(w);
    assert_int_equal(tq_writer_close(w, 0, &err), TQ_OK);
    assert_int_equal(access(p, F_OK), -1);
    char tmp[400];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());
    assert_int_equal(access(tmp, F_OK), -1);
}

/* A result aborted halfway keeps the previous result and drops the temporary group. */
static void test_result_abort_keeps_previous(void **state)
{
    (void)state;
    tq_err err = {0, ""};
    double one = 1, two = 2;
    tq_result *r = tq_result_begin(path, "quotas", comm, &err);
    assert_non_null(r);
    tq_result_small_f64(r, "q", &one, 1, 1);
    assert_int_equal(tq_result_commit(r, "quota", "{}", 1, 0, &err), TQ_OK);
    r = tq_result_begin(path, "quotas", comm, &err);
    assert_non_null(r);
    tq_result_small_f64(r, "q", &two, 1, 1);
    tq_result_abort(r);  /* not collective: rank 0 drops the group, others wait */
    tq_comm_barrier(comm);
    double *v = NULL;
    assert_int_equal(tq_result_read_f64(path, "quotas/q", &v, NULL, NULL, &err), TQ_OK);
    assert_true(v[0] == 1.0);
    free(v);
    assert_int_equal(tq_result_read_f64(path, "quotas.tmp/q", &v, NULL, NULL, &err), TQ_EINVAL);
}

/* Files of another schema version, or not ours, are refused with a clear message. */
static void test_schema_version_refused(void **state)
{
    (void)state;
    tq_err err = {0, ""};
    tq_info info;
    if (tq_comm_rank(comm) != 0) return;
    char p[300];
    snprintf(p, sizeof p, "%s.v99", path);
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "schema_version", H5T_NATIVE_INT, sp, H5P_DEFAULT, H5P_DEFAULT);
    int v = 99;
    H5Awrite(a, H5T_NATIVE_INT, &v);
    H5Aclose(a);
    H5Sclose(sp);
    H5Fclose(f);
    assert_int_equal(tq_data_info(p, &info, &err), TQ_EINVAL);
    assert_non_null(strstr(err.msg, "schema version 99"));
    assert_non_null(strstr(err.msg, "newer"));
    unlink(p);
    FILE *t = fopen(p, "w");
    fputs("id,lat\n", t);
    fclose(t);
    assert_int_equal(tq_data_info(p, &info, &err), TQ_EINVAL);
    assert_non_null(strstr(err.msg, "not an HDF5 file"));
    unlink(p);
    assert_int_equal(tq_data_info("/nonexistent/x.h5", &info, &err), TQ_EINVAL);
}

/* Block partition: blocks cover [0,n) once, sizes depend on n only, ranks contiguous. */
static void test_blocks(void **state)
{
    (void)state;
    int64_t ns[] = {0, 1, 4095, 4096, 4097, 100000, 1048576, 10000000, 123456789};
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
        tq_blocks b;
        tq_blocks_init(&b, ns[t]);
        assert_true(b.nblocks >= 1 && b.nblocks <= TQ_BLOCK_MAX);
        assert_true(b.size >= TQ_BLOCK_MIN);
        assert_int_equal(tq_block_hi(&b, b.nblocks - 1), ns[t]);
        for (int p = 1; p <= 7; p++) {
            int64_t prev = 0;
            for (int r = 0; r < p; r++) {
                int64_t lo, hi;
                tq_blocks_of_rank(&b, r, p, NULL, NULL, &lo, &hi);
                assert_int_equal(lo, prev);
                assert_true(hi >= lo);
                prev = hi;
            }
            assert_int_equal(prev, ns[t]);
        }
    }
}

/* sum_blocks adds partials in block order, the same on every rank. */
static void test_sum_blocks(void **state)
{
    (void)state;
    tq_blocks b;
    tq_blocks_init(&b, 300000);
    int64_t b0, b1;
    tq_blocks_of_rank(&b, tq_comm_rank(comm), tq_comm_size(comm), &b0, &b1, NULL, NULL);
    double *loc = malloc((size_t)(b1 - b0 + 1) * 2 * sizeof *loc), out[2], ref[2] = {0, 0};
    for (int64_t i = 0; i < b.nblocks; i++) {
        double x = 1.0 / (double)(i + 3), y = 1e16 * (i % 2 ? 1 : -1) + (double)i;
        if (i >= b0 && i < b1) {
            loc[(i - b0) * 2] = x;
            loc[(i - b0) * 2 + 1] = y;
        }
        ref[0] += x;
        ref[1] += y;
    }
    assert_int_equal(tq_comm_sum_blocks(comm, &b, loc, 2, out), TQ_OK);
    assert_memory_equal(out, ref, sizeof ref);
    free(loc);
}

int main(int argc, char **argv)
{
    comm = tq_comm_world(&argc, &argv);
    int rank = tq_comm_rank(comm);
    /* one file for the whole run, named by rank 0's pid and the rank count */
    long id = (long)getpid();
    tq_comm_bcast(comm, &id, sizeof id, 0);
    snprintf(path, sizeof path, "test_data_%ld_np%d.h5", id, tq_comm_size(comm));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks),
        cmocka_unit_test(test_sum_blocks),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_range_read),
        cmocka_unit_test(test_abort_leaves_nothing),
        cmocka_unit_test(test_result_abort_keeps_previous),
        cmocka_unit_test(test_schema_version_refused),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tq_comm_barrier(comm);
    if (rank == 0) unlink(path);
    int any = failed != 0;
    tq_comm_any(comm, &any);
    tq_comm_finalize(&comm);
    return any;
}
