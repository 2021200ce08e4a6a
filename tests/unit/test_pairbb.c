/* test_pairbb.c: the pair MIPs' branch and bound (kernels/tq_pairbb.c) against brute
 * force over all 2^n points. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tq_pairbb.h"

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* the cheapest point meeting every row (sums in the order of j), or INFINITY */
static double brute(const tq_pairbb *p, int *count)
{
    double best = INFINITY;
    *count = 0;
    for (uint32_t m = 0; m < (1u << p->n); m++) {
        int ok = 1;
        for (int r = 0; r < p->R && ok; r++) {
            double s = 0.0;
            for (int j = 0; j < p->n; j++)
                if ((m >> j) & 1) s += p->a[j * p->R + r];
            ok = s >= p->lo[r] && s <= p->hi[r];
        }
        if (!ok) continue;
        (*count)++;
        double c = 0.0;
        for (int j = 0; j < p->n; j++)
            if ((m >> j) & 1) c += p->c[j];
        if (c < best) best = c;
    }
    return best;
}

static int meets(const tq_pairbb *p, const uint8_t *x)
{
    for (int r = 0; r < p->R; r++) {
        double s = 0.0;
        for (int j = 0; j < p->n; j++)
            if (x[j]) s += p->a[j * p->R + r];
        if (!(s >= p->lo[r] && s <= p->hi[r])) return 0;
    }
    return 1;
}

/* Random instances shaped like the pair MIPs: workload-like and value-like rows (one
 * heavy-tailed), a count row, a one-sided budget row, windows around a random point
 * (some tight, some empty), costs of both signs; none to four rows. With a node limit that is never
 * reached the search must be proven and give the brute-force optimum exactly; with a
 * start x0 the answer is never dearer than x0. */
static void test_pairbb_brute(void **state)
{
    (void)state;
    uint64_t rs = 777;
    int proven_cases = 0, infeasible_cases = 0;
    for (int trial = 0; trial < 400; trial++) {
        int n = 2 + trial % 13, R = trial % 5;  /* 0-4 rows */
        double a[14 * 4], c[14], lo[4], hi[4];
        uint8_t x0[14], x[14];
        for (int j = 0; j < n; j++) {
            x0[j] = (uint8_t)(lcg(&rs) % 2);
            c[j] = ((double)(lcg(&rs) % 2001) - 1000.0) / 7.0;
            for (int r = 0; r < R; r++) {
                double v;
                switch (r) {
                case 0: v = 1.0 + (double)(lcg(&rs) % 500) / 10.0; break;
                case 1: v = exp((double)(lcg(&rs) % 1000) / 100.0); break;
                case 2: v = 1.0; break;
                default: v = ((double)(lcg(&rs) % 200) - 100.0) * 3.0; break;
                }
                a[j * R + r] = v;
            }
        }
        for (int r = 0; r < R; r++) {
            double s = 0.0, tot = 0.0;
            for (int j = 0; j < n; j++) {
                if (x0[j]) s += a[j * R + r];
                tot += fabs(a[j * R + r]);
            }
            double w = tot * (double)(lcg(&rs) % 40) / 100.0;
            lo[r] = s - w * (double)(lcg(&rs) % 100) / 100.0;
            hi[r] = s + w * (double)(lcg(&rs) % 100) / 100.0;
            if (r == 3) lo[r] = -INFINITY;                  /* a budget: one-sided */
            if (trial % 17 == 5 && r == 0) lo[r] = hi[r] + 1.0;  /* empty */
            if (trial % 23 == 7) hi[r] = INFINITY;
        }
        int with_x0 = trial % 3 != 0;
        tq_pairbb p = {n, R, a, lo, hi, c, with_x0 ? x0 : NULL, 1 << 20};
        int cnt;
        double want = brute(&p, &cnt), obj = NAN, lpv;
        int nodes, proven;
        int found = tq_pairbb_solve(&p, x, &obj, &nodes, &proven, &lpv);
        assert_true(proven);
        if (cnt == 0) {
            assert_int_equal(found, 0);
            infeasible_cases++;
            continue;
        }
        proven_cases++;
        assert_int_equal(found, 1);
        assert_true(meets(&p, x));
        double cx = 0.0;
        for (int j = 0; j < n; j++)
            if (x[j]) cx += c[j];
        assert_true(cx == obj);
        assert_true(lpv <= want + 1e-9 * (1.0 + fabs(want)));  /* a relaxation */
        /* the same optimum to rounding of a sum's order */
        assert_true(fabs(obj - want) <= 1e-9 * (1.0 + fabs(want)));

        /* a node limit: still a point meeting every row, never dearer than x0 */
        if (with_x0 && meets(&p, x0)) {
            tq_pairbb q = p;
            q.node_limit = 1 + trial % 3;
            double o2;
            assert_int_equal(tq_pairbb_solve(&q, x, &o2, &nodes, &proven, NULL), 1);
            assert_true(nodes <= q.node_limit);
            assert_true(meets(&q, x));
            double c0 = 0.0;
            for (int j = 0; j < n; j++)
                if (x0[j]) c0 += c[j];
            assert_true(o2 <= c0);
        }
    }
    assert_true(proven_cases > 200);
    assert_true(infeasible_cases > 10);
}

/* Deterministic: the same answer from the same input, and a degenerate instance (all
 * columns equal, an equality row) solved. */
static void test_pairbb_degenerate(void **state)
{
    (void)state;
    double a[12 * 2], c[12], lo[2] = {6.0, 6.0}, hi[2] = {6.0, 6.0};
    for (int j = 0; j < 12; j++) {
        a[2 * j] = 1.0;
        a[2 * j + 1] = 1.0;
        c[j] = -1.0;
    }
    tq_pairbb p = {12, 2, a, lo, hi, c, NULL, 1000};
    uint8_t x[12], y[12];
    double o1, o2;
    int nodes, proven;
    assert_int_equal(tq_pairbb_solve(&p, x, &o1, &nodes, &proven, NULL), 1);
    assert_true(o1 == -6.0);
    assert_int_equal(tq_pairbb_solve(&p, y, &o2, &nodes, &proven, NULL), 1);
    assert_memory_equal(x, y, sizeof x);
    lo[0] = hi[0] = 6.5;  /* no 0-1 point: six and a half columns */
    assert_int_equal(tq_pairbb_solve(&p, x, &o1, &nodes, &proven, NULL), 0);
    assert_true(proven);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pairbb_brute),
        cmocka_unit_test(test_pairbb_degenerate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
