/* Quota kernel against brute-force references on small data. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "tq_quota.h"

static double urand(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) * 0x1.0p-53;
}

/* Sum is exactly the rounded target; quotas are multiples of the unit. */
static void test_sum_exact(void **state)
{
    (void)state;
    uint64_t s = 42;
    for (int trial = 0; trial < 50; trial++) {
        int k = 1 + (int)(urand(&s) * 60);
        double P[64], B[64];
        for (int j = 0; j < k; j++) {
            P[j] = urand(&s) < 0.1 ? 0 : exp(10 + 2 * urand(&s));
            B[j] = exp(10 + 2 * urand(&s));
        }
        P[0] += 1; /* some potential */
        tq_quota_params p;
        tq_quota_defaults(&p);
        p.target = 1e6 + urand(&s) * 1e9;
        p.unit = trial % 3 == 0 ? 1000 : trial % 3 == 1 ? 1 : 0.01;
        p.fairness = urand(&s) * 0.3;
        p.beta = urand(&s);
        assert_null(tq_quota_check(&p));
        tq_quota_result r;
        assert_int_equal(tq_quota_from_sums(k, P, B, &p, &r), TQ_OK);
        double want = (double)llround(p.target / p.unit);
        double units = 0;
        for (int j = 0; j < k; j++) {
            double u = r.quota[j] / p.unit;
            assert_true(fabs(u - round(u)) <= 1e-6 + 1e-12 * u); /* cents are not exact in binary */
            assert_true(r.quota[j] >= 0);
            units += round(u);
        }
        assert_true(units == want);
        tq_quota_result_free(&r);
    }
}

/* Fairness boxes hold (to one rounding unit), and the projection is the KKT point:
 * unclamped territories share one shift mu = (q - q0) / P. */
static void test_fairness_projection(void **state)
{
    (void)state;
    uint64_t s = 7;
    int k = 30;
    double P[30], B[30];
    for (int j = 0; j < k; j++) {
        P[j] = 1000 + 9000 * urand(&s);
        B[j] = (j < 5 ? 20000 : 1000) * (0.5 + urand(&s)); /* a few big books */
    }
    tq_quota_params p;
    tq_quota_defaults(&p);
    p.target = 5e6;
    p.unit = 1;
    p.fairness = 0.1;
    p.beta = 0.3;
    tq_quota_result r;
    assert_int_equal(tq_quota_from_sums(k, P, B, &p, &r), TQ_OK);
    double sumP = 0;
    for (int j = 0; j < k; j++) sumP += P[j];
    double rate = p.target / sumP, mu = NAN;
    int clamped = 0;
    for (int j = 0; j < k; j++) {
        double lo = 0.9 * rate * P[j], hi = 1.1 * rate * P[j];
        assert_true(r.quota[j] >= lo - 1.0 && r.quota[j] <= hi + 1.0);
        if (r.quota[j] <= lo + 1.0 || r.quota[j] >= hi - 1.0) {
            clamped++;
            continue;
        }
        double m = (r.quota[j] - r.raw[j]) / P[j];
        if (isnan(mu)) mu = m;
        assert_true(fabs(m - mu) <= 2.0 / P[j]);
    }
    assert_true(clamped > 0); /* the big books push some to the bounds */
    assert_true(r.ratio_max <= 1.1 * rate * (1 + 1e-3) && r.ratio_min >= 0.9 * rate * (1 - 1e-3));
    tq_quota_result_free(&r);
}

/* Fairness 0: every quota is the company's ratio times its potential, to one unit, and
 * the sum exact. Every quota sits at its bound whatever the shift, and the clamped sum
 * misses the target by a rounding: the bracketing once doubled forever. */
static void test_fairness_zero(void **state)
{
    (void)state;
    uint64_t s = 11;
    for (int trial = 0; trial < 200; trial++) {
        int k = 2 + (int)(urand(&s) * 40);
        double P[48], B[48], sumP = 0;
        for (int j = 0; j < k; j++) {
            P[j] = exp(8 + 4 * urand(&s)) * (1 + urand(&s));
            B[j] = exp(8 + 4 * urand(&s));
            sumP += P[j];
        }
        tq_quota_params p;
        tq_quota_defaults(&p);
        p.target = 1e5 + urand(&s) * 1e9;
        p.fairness = 0;
        p.beta = urand(&s);
        p.unit = trial % 2 ? 1 : 1000;
        tq_quota_result r;
        assert_int_equal(tq_quota_from_sums(k, P, B, &p, &r), TQ_OK);
        double units = 0;
        for (int j = 0; j < k; j++) {
            assert_true(fabs(r.quota[j] - p.target / sumP * P[j]) <= p.unit * (1 + 1e-9));
            units += round(r.quota[j] / p.unit);
        }
        assert_true(units == (double)llround(p.target / p.unit));
        tq_quota_result_free(&r);
    }
}

/* beta = 1 and no fairness box: quota proportional to potential (to one unit). */
static void test_proportional(void **state)
{
    (void)state;
    double P[4] = {1, 2, 3, 4}, B[4] = {4, 3, 2, 1};
    tq_quota_params p;
    tq_quota_defaults(&p);
    p.target = 1000;
    p.beta = 1;
    p.fairness = 1;
    tq_quota_result r;
    assert_int_equal(tq_quota_from_sums(4, P, B, &p, &r), TQ_OK);
    assert_true(r.quota[0] == 100 && r.quota[1] == 200 && r.quota[2] == 300 && r.quota[3] == 400);
    assert_true(r.total == 1000);
    assert_true(r.gini < 1e-12);
    tq_quota_result_free(&r);
}

/* Per-account sums equal a serial brute force; bit-identical for 1 and 2 threads. */
static void test_compute_threads(void **state)
{
    (void)state;
    int64_t n = 50000;
    int k = 17;
    int32_t *t = malloc((size_t)n * sizeof *t);
    float *v = malloc((size_t)n * sizeof *v), *sc = malloc((size_t)n * sizeof *sc);
    double P[17] = {0}, B[17] = {0};
    uint64_t s = 3;
    for (int64_t i = 0; i < n; i++) {
        t[i] = urand(&s) < 0.01 ? -1 : (int32_t)(urand(&s) * k);
        v[i] = (float)(100 * exp(3 * urand(&s)));
        sc[i] = (float)urand(&s);
    }
    tq_quota_params p;
    tq_quota_defaults(&p);
    p.target = 12345678;
    tq_quota_result r1, r2;
    omp_set_num_threads(1);
    assert_int_equal(tq_quota_compute(n, 0, n, t, v, sc, k, &p, NULL, &r1), TQ_OK);
    omp_set_num_threads(2);
    assert_int_equal(tq_quota_compute(n, 0, n, t, v, sc, k, &p, NULL, &r2), TQ_OK);
    assert_memory_equal(r1.quota, r2.quota, (size_t)k * sizeof(double));
    assert_memory_equal(r1.potential, r2.potential, (size_t)k * sizeof(double));
    int64_t un = 0;
    for (int64_t i = 0; i < n; i++) {
        if (t[i] < 0) { un++; continue; }
        P[t[i]] += (double)v[i] * sc[i];
        B[t[i]] += v[i];
    }
    assert_int_equal(r1.unassigned, un);
    for (int j = 0; j < k; j++) {
        assert_true(fabs(r1.potential[j] - P[j]) <= 1e-9 * P[j]);
        assert_true(fabs(r1.book[j] - B[j]) <= 1e-9 * B[j]);
    }
    assert_true(r1.total == 12345678);
    /* wrong row range for the rank is refused */
    assert_int_equal(tq_quota_compute(n, 1, n - 1, t, v, sc, k, &p, NULL, &r2), TQ_EINVAL);
    tq_quota_result_free(&r1);
    tq_quota_result_free(&r2);
    free(t);
    free(v);
    free(sc);
}

static void test_bad_input(void **state)
{
    (void)state;
    tq_quota_params p;
    tq_quota_defaults(&p);
    assert_non_null(tq_quota_check(&p)); /* target missing */
    p.target = 10;
    p.beta = 2;
    assert_non_null(tq_quota_check(&p));
    p.beta = 0.5;
    p.unit = 0;
    assert_non_null(tq_quota_check(&p));
    p.unit = 1;
    double P[2] = {0, 0}, B[2] = {1, 1};
    tq_quota_result r;
    assert_int_equal(tq_quota_from_sums(2, P, B, &p, &r), TQ_EINVAL);
    tq_quota_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sum_exact),
        cmocka_unit_test(test_fairness_projection),
        cmocka_unit_test(test_fairness_zero),
        cmocka_unit_test(test_proportional),
        cmocka_unit_test(test_compute_threads),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
