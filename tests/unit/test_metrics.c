/* test_metrics.c: AUC against brute-force pair counting (with ties), log-loss, Brier,
 * calibration bins and top-decile lift on hand-checked data. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "tq_common.h"
#include "tq_metrics.h"

static double auc_brute(const float *p, const int8_t *y, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++)
            if (y[i] == 1 && y[j] == 0) {
                den += 1;
                num += p[i] > p[j] ? 1.0 : (p[i] == p[j] ? 0.5 : 0.0);
            }
    return num / den;
}

static void test_auc_random_ties(void **state)
{
    (void)state;
    enum { N = 2000 };
    float p[N];
    int8_t y[N];
    for (int i = 0; i < N; i++) {
        /* scores on a coarse grid: many ties */
        p[i] = (float)floor(tq_rand_uniform(3, 0, (uint64_t)i) * 20) / 20.0f;
        y[i] = tq_rand_uniform(3, 1, (uint64_t)i) < 0.3 + 0.4 * p[i] ? 1 : 0;
        if (i % 17 == 0) y[i] = -1;
    }
    tq_metrics m;
    assert_int_equal(tq_metrics_compute(p, y, N, &m), TQ_OK);
    assert_float_equal(m.auc, auc_brute(p, y, N), 1e-12);
    int64_t cal = 0;
    for (int b = 0; b < TQ_METRICS_BINS; b++) cal += m.cal_n[b];
    assert_int_equal(cal, m.n);
}

static void test_small_exact(void **state)
{
    (void)state;
    /* 10 rows: scores 0.95 .. 0.05; positives at ranks 1, 2, 4 from the top */
    float p[10] = {0.95f, 0.85f, 0.75f, 0.65f, 0.55f, 0.45f, 0.35f, 0.25f, 0.15f, 0.05f};
    int8_t y[10] = {1, 1, 0, 1, 0, 0, 0, 0, 0, 0};
    tq_metrics m;
    assert_int_equal(tq_metrics_compute(p, y, 10, &m), TQ_OK);
    assert_int_equal(m.n, 10);
    assert_int_equal(m.n_pos, 3);
    /* pairs won: 7 + 7 + 6 of 21 */
    assert_float_equal(m.auc, 20.0 / 21.0, 1e-12);
    assert_int_equal(m.top_n, 1);
    assert_int_equal(m.top_pos, 1);
    assert_float_equal(m.lift10, 1.0 / 0.3, 1e-12);
    double ll = 0, br = 0;
    for (int i = 0; i < 10; i++) {
        ll -= y[i] ? log(p[i]) : log(1 - p[i]);
        br += (p[i] - y[i]) * (p[i] - y[i]);
    }
    assert_float_equal(m.logloss, ll / 10, 1e-6);
    assert_float_equal(m.brier, br / 10, 1e-6);
    for (int b = 0; b < 10; b++) assert_int_equal(m.cal_n[b], 1);
    assert_float_equal(m.cal_rate[9], 1.0, 0);
    assert_float_equal(m.cal_rate[0], 0.0, 0);
    assert_int_equal(tq_metrics_top_k_pos(p, y, 10, 4), 3);
    assert_int_equal(tq_metrics_top_k_pos(p, y, 10, 3), 2);
    /* a score outside [0, 1] is refused */
    p[3] = 1.5f;
    assert_int_equal(tq_metrics_compute(p, y, 10, &m), TQ_EINVAL);
}

static void test_one_class(void **state)
{
    (void)state;
    float p[3] = {0.1f, 0.2f, 0.3f};
    int8_t y[3] = {0, 0, 0};
    tq_metrics m;
    assert_int_equal(tq_metrics_compute(p, y, 3, &m), TQ_OK);
    assert_true(isnan(m.auc));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auc_random_ties),
        cmocka_unit_test(test_small_exact),
        cmocka_unit_test(test_one_class),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
