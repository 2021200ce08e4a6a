/* test_align.c: the alignment kernel against the exact ILP (GLPK) on small instances:
 * feasibility, bound <= optimum, cost within the reported gap of the optimum, locked
 * accounts, named infeasibility, alpha -> inf keeps last year, disruption budget,
 * thread determinism, centers iteration, the pair MIPs; the repair's chains of moves
 * against brute force. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <omp.h>

#include "tq_align.h"
#include "tq_common.h"

/* A synthetic instance: accounts scattered around `nc` towns in the US box, workload and
 * value log-normal-ish, prev = nearest of K centers (centers = random accounts). */
typedef struct {
    int64_t n;
    int k;
    double *lat, *lon, *clat, *clon, *cap;
    float *w, *v;
    int32_t *prev;
    uint8_t *locked;
} inst;

static void inst_make(inst *s, int64_t n, int k, uint64_t seed)
{
    s->n = n;
    s->k = k;
    s->lat = malloc(n * sizeof(double));
    s->lon = malloc(n * sizeof(double));
    s->w = malloc(n * sizeof(float));
    s->v = malloc(n * sizeof(float));
    s->prev = malloc(n * sizeof(int32_t));
    s->locked = calloc(n, 1);
    s->clat = malloc(k * sizeof(double));
    s->clon = malloc(k * sizeof(double));
    s->cap = malloc(k * sizeof(double));
    int nc = 12;
    for (int64_t i = 0; i < n; i++) {
        int town = (int)(tq_rand_uniform(seed, 1, i) * nc);
        double tl = 32 + 14 * tq_rand_uniform(seed, 2, town);
        double tg = -118 + 40 * tq_rand_uniform(seed, 3, town);
        s->lat[i] = tl + 2.0 * (tq_rand_uniform(seed, 4, i) - 0.5);
        s->lon[i] = tg + 3.0 * (tq_rand_uniform(seed, 5, i) - 0.5);
        s->w[i] = (float)(0.5 + 2.0 * tq_rand_uniform(seed, 6, i));
        double u = tq_rand_uniform(seed, 7, i);
        s->v[i] = (float)(100.0 * exp(1.5 * (u - 0.5)));
    }
    for (int j = 0; j < k; j++) {
        int64_t i = (int64_t)(tq_rand_uniform(seed, 8, j) * n);
        s->clat[j] = s->lat[i] + 0.01 * j;
        s->clon[j] = s->lon[i];
        s->cap[j] = 1.0;
    }
    for (int64_t i = 0; i < n; i++) {
        double best = 1e300;
        int bk = 0;
        for (int j = 0; j < k; j++) {
            double dl = s->lat[i] - s->clat[j], dg = s->lon[i] - s->clon[j];
            double d = dl * dl + dg * dg;
            if (d < best) {
                best = d;
                bk = j;
            }
        }
        s->prev[i] = bk;
    }
}

static void inst_free(inst *s)
{
    free(s->lat);
    free(s->lon);
    free(s->w);
    free(s->v);
    free(s->prev);
    free(s->locked);
    free(s->clat);
    free(s->clon);
    free(s->cap);
}

static tq_align_problem inst_problem(const inst *s)
{
    tq_align_problem pb = {s->n, 0, s->n, s->lat, s->lon, s->w, s->v, s->v, s->w,
                           s->prev, s->locked, s->k, s->clat, s->clon, s->cap};
    return pb;
}

/* Every balanced window holds for the alignment t (recomputed here, naively). */
static void check_windows(const inst *s, const tq_align_params *p, const int32_t *t)
{
    double tot[3] = {0, 0, 0}, *L = calloc(3 * s->k, sizeof(double));
    for (int64_t i = 0; i < s->n; i++) {
        assert_true(t[i] >= 0 && t[i] < s->k);
        double a[3] = {s->w[i], s->v[i], 1.0};
        for (int m = 0; m < 3; m++) {
            tot[m] += a[m];
            L[3 * t[i] + m] += a[m];
        }
    }
    for (int j = 0; j < s->k; j++)
        for (int m = 0; m < 3; m++) {
            if (p->tol[m] < 0) continue;
            double tg = tot[m] / s->k;
            assert_true(L[3 * j + m] >= (1 - p->tol[m]) * tg * (1 - 1e-9));
            assert_true(L[3 * j + m] <= (1 + p->tol[m]) * tg * (1 + 1e-9));
        }
    free(L);
}

static void test_exact_vs_scale(void **state)
{
    (void)state;
    /* GLPK proves optimality quickly only for tiny instances of this model; both price
     * searches (Newton, L-BFGS) must give a valid bound and a feasible alignment */
    for (uint64_t seed = 1; seed <= 12; seed++) {
        inst s;
        inst_make(&s, 30 + 6 * (int64_t)seed, 3 + (int)(seed % 2), seed);
        tq_align_problem pb = inst_problem(&s);
        tq_align_params p;
        tq_align_defaults(&p);
        p.tol[0] = 0.08;
        p.tol[1] = 0.12;
        p.alpha = seed % 2 ? 0.0 : 0.5;
        p.mip_seconds = 600;  /* a safety net only: these solve in well under a second
                                 * unloaded, but ASan on a busy machine took over 30 s */
        p.candidates = 2;
        p.prices = seed <= 6 ? TQ_PRICES_NEWTON : TQ_PRICES_LBFGS;
        /* every third seed: coarse level on a 1/s sample first (s = n / (3 k) >= 3) */
        p.coarse = seed % 3 == 0 ? 3 : 0;
        int32_t *ta = malloc(s.n * sizeof(int32_t)), *te = malloc(s.n * sizeof(int32_t));
        tq_align_result ra, re;
        int st = tq_align_solve(&pb, &p, NULL, ta, &ra);
        assert_int_equal(st, TQ_OK);
        assert_int_equal(ra.newton, p.prices == TQ_PRICES_NEWTON);
        assert_true(p.coarse ? ra.coarse_stride >= 3 : ra.coarse_stride == 1);
        check_windows(&s, &p, ta);
        p.exact = 1;
        st = tq_align_solve(&pb, &p, NULL, te, &re);
        assert_int_equal(st, TQ_OK);
        check_windows(&s, &p, te);
        assert_true(re.exact_optimal);
        double opt = re.cost;
        /* the Lagrangian bound (over all K) never exceeds the optimum */
        assert_true(ra.bound <= opt * (1 + 1e-9));
        /* the scale path's cost is within its reported gap of the optimum */
        assert_true(ra.cost >= opt * (1 - 1e-9));
        assert_true((ra.cost - opt) / opt <= ra.gap + 1e-9);
        /* and the GLPK LP relaxation value is a bound too */
        assert_true(re.lp_value <= opt * (1 + 1e-9));
        print_message("seed %llu (%s%s): opt %.6g scale %.6g bound %.6g gap %.4f%% lp %.6g\n",
                      (unsigned long long)seed, ra.newton ? "newton" : "lbfgs",
                      p.coarse ? ", coarse" : "", opt, ra.cost,
                      ra.bound, 100 * ra.gap, re.lp_value);
        tq_align_result_free(&ra);
        tq_align_result_free(&re);
        free(ta);
        free(te);
        inst_free(&s);
    }
}

static void test_locked_never_move(void **state)
{
    (void)state;
    inst s;
    inst_make(&s, 3000, 8, 11);
    for (int64_t i = 0; i < s.n; i += 7) s.locked[i] = 1;
    tq_align_problem pb = inst_problem(&s);
    tq_align_params p;
    tq_align_defaults(&p);
    p.tol[0] = 0.05;
    p.tol[1] = 0.05;
    int32_t *t = malloc(s.n * sizeof(int32_t));
    tq_align_result r;
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t, &r), TQ_OK);
    for (int64_t i = 0; i < s.n; i++)
        if (s.locked[i]) assert_int_equal(t[i], s.prev[i]);
    check_windows(&s, &p, t);
    tq_align_result_free(&r);
    free(t);
    inst_free(&s);
}

static void test_infeasible_locked(void **state)
{
    (void)state;
    inst s;
    inst_make(&s, 2000, 6, 5);
    /* lock a third of all accounts into territory 2: its workload window is 1/6 +-2% */
    for (int64_t i = 0; i < s.n; i += 3) {
        s.prev[i] = 2;
        s.locked[i] = 1;
    }
    tq_align_problem pb = inst_problem(&s);
    tq_align_params p;
    tq_align_defaults(&p);
    int32_t *t = malloc(s.n * sizeof(int32_t));
    tq_align_result r;
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t, &r), TQ_INFEASIBLE);
    assert_int_equal(r.bad_k, 2);
    assert_int_equal(r.bad_m, TQ_ALIGN_WORKLOAD);
    assert_non_null(strstr(r.msg, "locked workload"));
    tq_align_result_free(&r);
    free(t);
    inst_free(&s);
}

static void test_infeasible_granularity(void **state)
{
    (void)state;
    /* 20 accounts of workload 1, 4 territories; five locked into territory 0 with almost
     * no value fill its workload window (5 +- 2%), so it cannot reach its potential
     * window: no account is too big and the locked load is within bounds, yet even the
     * LP relaxation is infeasible, and the exact ILP proves it. */
    inst s;
    inst_make(&s, 20, 4, 9);
    for (int64_t i = 0; i < s.n; i++) s.w[i] = 1.0f;
    for (int64_t i = 0; i < 5; i++) {
        s.v[i] = 0.001f;
        s.locked[i] = 1;
        s.prev[i] = 0;
    }
    tq_align_problem pb = inst_problem(&s);
    tq_align_params p;
    tq_align_defaults(&p);
    int32_t t[20];
    tq_align_result r;
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t, &r), TQ_INFEASIBLE);
    assert_true(r.bad_row < 0);
    /* the repair's MIP covered every free account and territory: a proof too */
    assert_non_null(strstr(r.msg, "proven"));
    tq_align_result_free(&r);
    p.exact = 1;
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t, &r), TQ_INFEASIBLE);
    assert_non_null(strstr(r.msg, "proven"));
    tq_align_result_free(&r);
    inst_free(&s);

    /* accounts that each carry more workload than any window holds: named before any
     * solve, the first unlocked row (row 1, locked, is left to the locked check) */
    inst_make(&s, 20, 4, 9);
    s.w[3] = 1000.0f;
    s.w[7] = 900.0f;
    s.w[1] = 950.0f;
    s.locked[1] = 1;
    pb = inst_problem(&s);
    tq_align_defaults(&p);
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t, &r), TQ_INFEASIBLE);
    assert_int_equal(r.bad_row, 3);
    assert_int_equal(r.bad_k, -1);
    assert_int_equal(r.bad_m, TQ_ALIGN_WORKLOAD);
    assert_non_null(strstr(r.msg, "alone has workload 1000"));
    tq_align_result_free(&r);
    inst_free(&s);
}

/* The p90 distance against a sort of the accounts' distances, with accounts on every
 * continent (distances up to ~20,000 km: the histogram once stopped at 5,000). */
static void test_p90_far(void **state)
{
    (void)state;
    int64_t n = 400;
    inst s;
    inst_make(&s, n, 2, 3);
    for (int64_t i = 0; i < n; i++) {
        s.lat[i] = -80 + 160 * tq_rand_uniform(11, 1, i);
        s.lon[i] = -180 + 360 * tq_rand_uniform(11, 2, i);
        s.prev[i] = -1;
    }
    s.clat[0] = 10; s.clon[0] = 0;
    s.clat[1] = -10; s.clon[1] = 179;
    tq_align_problem pb = inst_problem(&s);
    tq_align_params p;
    tq_align_defaults(&p);
    p.tol[TQ_ALIGN_WORKLOAD] = p.tol[TQ_ALIGN_POTENTIAL] = 0.5;
    int32_t *t = malloc(n * sizeof *t);
    double *km = malloc(n * sizeof *km);
    tq_align_result r;
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t, &r), TQ_OK);
    for (int64_t i = 0; i < n; i++) {
        double a = s.lat[i] * M_PI / 180, b = s.lon[i] * M_PI / 180;
        double c = s.clat[t[i]] * M_PI / 180, d = s.clon[t[i]] * M_PI / 180;
        double x = cos(a) * cos(b) - cos(c) * cos(d), y = cos(a) * sin(b) - cos(c) * sin(d),
               z = sin(a) - sin(c);
        km[i] = 2 * 6371.0088 * asin(fmin(1.0, sqrt(x * x + y * y + z * z) / 2));
    }
    /* the 90th percentile: the smallest distance with at least 90% at or below it */
    int64_t want = (int64_t)ceil(0.9 * n), below = 0;
    double p90 = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t le = 0;
        for (int64_t j = 0; j < n; j++) le += km[j] <= km[i];
        if (le >= want && (below == 0 || km[i] < p90)) {
            p90 = km[i];
            below = 1;
        }
    }
    assert_true(p90 > 5000);
    assert_true(r.p90_km >= p90 - 1e-6 && r.p90_km <= p90 + 1.0 + 1e-6);
    tq_align_result_free(&r);
    free(t);
    free(km);
    inst_free(&s);
}

static void test_alpha_keeps_last_year(void **state)
{
    (void)state;
    inst s;
    inst_make(&s, 4000, 10, 21);
    tq_align_problem pb = inst_problem(&s);
    tq_align_params p;
    tq_align_defaults(&p);
    int32_t *t0 = malloc(s.n * sizeof(int32_t)), *t1 = malloc(s.n * sizeof(int32_t));
    tq_align_result r;
    /* last year = a feasible alignment for these windows */
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t0, &r), TQ_OK);
    tq_align_result_free(&r);
    memcpy(s.prev, t0, s.n * sizeof(int32_t));
    p.alpha = 1e9;
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t1, &r), TQ_OK);
    assert_memory_equal(t0, t1, s.n * sizeof(int32_t));
    assert_int_equal(r.moved_count, 0);
    tq_align_result_free(&r);
    free(t0);
    free(t1);
    inst_free(&s);
}

static void test_budget(void **state)
{
    (void)state;
    inst s;
    inst_make(&s, 5000, 10, 33);
    /* last year is unbalanced (nearest center); move at most half of the value */
    tq_align_problem pb = inst_problem(&s);
    tq_align_params p;
    tq_align_defaults(&p);
    p.tol[0] = 0.05;
    p.tol[1] = -1;
    p.max_moved = 0.5;
    int32_t *t = malloc(s.n * sizeof(int32_t));
    tq_align_result r;
    int st = tq_align_solve(&pb, &p, NULL, t, &r);
    if (st == TQ_OK) {
        double mv = 0, tv = 0;
        for (int64_t i = 0; i < s.n; i++) {
            tv += s.v[i];
            if (t[i] != s.prev[i]) mv += s.v[i];
        }
        assert_true(mv <= 0.5 * tv * (1 + 1e-9));
        check_windows(&s, &p, t);
        print_message("budget: moved %.2f%% of value, gap %.3f%%\n", 100 * mv / tv,
                      100 * r.gap);
    } else {
        assert_int_equal(st, TQ_INFEASIBLE);
        print_message("budget: infeasible: %s\n", r.msg);
    }
    tq_align_result_free(&r);
    free(t);
    inst_free(&s);
}

/* The least moved value (res.moved_min_share) against a naive recount: per balanced
 * metric, max(sum of last year's loads over the upper ends, sum under the lower ends less
 * the new accounts' total) over the largest metric-per-value of a movable account. It
 * must not exceed what any alignment within the windows moves (the solves' own, one
 * with a heavy penalty on moves); a budget under it is refused before any pricing,
 * naming the territory and the budget. */
static void test_budget_bound(void **state)
{
    (void)state;
    inst s;
    inst_make(&s, 3000, 8, 41);
    for (int64_t i = 0; i < s.n; i++) {
        if (i % 10 == 3) s.prev[i] = -1;         /* new accounts */
        if (i % 37 == 5 && s.prev[i] >= 0) s.locked[i] = 1; /* kept at last year's */
    }
    tq_align_problem pb = inst_problem(&s);
    tq_align_params p;
    tq_align_defaults(&p);
    p.tol[0] = 0.05;
    p.tol[1] = 0.05;
    /* the naive bound */
    double tot[2] = {0, 0}, fresh[2] = {0, 0}, rmax[2] = {0, 0}, pv = 0;
    double *L = calloc(2 * s.k, sizeof(double));
    for (int64_t i = 0; i < s.n; i++) {
        double a[2] = {s.w[i], s.v[i]};
        for (int m = 0; m < 2; m++) {
            tot[m] += a[m];
            if (s.prev[i] < 0) fresh[m] += a[m];
            else L[2 * s.prev[i] + m] += a[m];
            if (s.prev[i] >= 0 && !s.locked[i] && a[m] / s.v[i] > rmax[m]) rmax[m] = a[m] / s.v[i];
        }
        if (s.prev[i] >= 0) pv += s.v[i];
    }
    double want = 0;
    for (int m = 0; m < 2; m++) {
        double over = 0, under = -fresh[m], tg = tot[m] / s.k;
        for (int j = 0; j < s.k; j++) {
            over += fmax(0, L[2 * j + m] - (1 + p.tol[m]) * tg);
            under += fmax(0, (1 - p.tol[m]) * tg - L[2 * j + m]);
        }
        want = fmax(want, fmax(over, under) / rmax[m]);
    }
    free(L);
    assert_true(want > 0.01 * pv);  /* last year is out of balance: the test bites */
    int32_t *t = malloc(s.n * sizeof(int32_t));
    tq_align_result r;
    for (int pass = 0; pass < 2; pass++) {
        p.alpha = pass ? 1e6 : 0.0;  /* pass 1: moves cost far more than distance */
        assert_int_equal(tq_align_solve(&pb, &p, NULL, t, &r), TQ_OK);
        assert_true(fabs(r.moved_min_share - want / pv) <= 1e-9 * (want / pv));
        double mv = 0;
        for (int64_t i = 0; i < s.n; i++) mv += s.prev[i] >= 0 && t[i] != s.prev[i] ? s.v[i] : 0;
        check_windows(&s, &p, t);
        print_message("budget bound: at least %.3f%% must move; alpha %g moved %.3f%%\n",
                      100 * want / pv, p.alpha, 100 * mv / pv);
        assert_true(mv >= want * (1 - 1e-9));
        tq_align_result_free(&r);
    }
    p.alpha = 0.0;
    p.max_moved = 0.99 * want / pv;
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t, &r), TQ_INFEASIBLE);
    assert_int_equal(r.bad_m, 3);
    assert_true(r.bad_k >= 0 && r.bad_k < s.k);
    assert_int_equal(r.rounds, 0);  /* refused before any price pass */
    assert_non_null(strstr(r.msg, "at least"));
    tq_align_result_free(&r);
    free(t);
    inst_free(&s);
}

static void test_threads_deterministic(void **state)
{
    (void)state;
    inst s;
    inst_make(&s, 20000, 16, 44);
    tq_align_problem pb = inst_problem(&s);
    /* Newton's Hessian is summed in fixed point (int64), L-BFGS's partials in block
     * order, the Cholesky factor of the preconditioned L-BFGS by rows in a fixed order:
     * all bit-identical for 1 and 2 threads; the coarse level's sample is by global row
     * (pr 3-5: every 12th row first) */
    static const int modes[3] = {TQ_PRICES_NEWTON, TQ_PRICES_LBFGS, TQ_PRICES_PLAIN};
    static const char *mnames[3] = {"newton", "lbfgs", "lbfgs-plain"};
    for (int pr = 0; pr < 6; pr++) {
        tq_align_params p;
        tq_align_defaults(&p);
        p.alpha = 0.2;
        p.prices = modes[pr % 3];
        p.coarse = pr >= 3 ? 100 : 0;
        int32_t *t1 = malloc(s.n * sizeof(int32_t)), *t2 = malloc(s.n * sizeof(int32_t));
        tq_align_result r1, r2;
        omp_set_num_threads(1);
        assert_int_equal(tq_align_solve(&pb, &p, NULL, t1, &r1), TQ_OK);
        omp_set_num_threads(2);
        assert_int_equal(tq_align_solve(&pb, &p, NULL, t2, &r2), TQ_OK);
        assert_memory_equal(t1, t2, s.n * sizeof(int32_t));
        assert_memory_equal(&r1.cost, &r2.cost, sizeof(double));
        assert_memory_equal(&r1.bound, &r2.bound, sizeof(double));
        assert_int_equal(r1.newton, pr % 3 == 0);
        assert_int_equal(r1.precond, pr % 3 == 1);
        assert_true(r1.coarse_stride == (pr >= 3 ? 12 : 1));
        check_windows(&s, &p, t1);
        print_message("20000x16 %s%s: cost %.6g bound %.6g gap %.4f%% rounds %d (coarse %d) "
                      "hessians %d repair %d\n", mnames[pr % 3],
                      pr >= 3 ? " coarse" : "", r1.cost, r1.bound, 100 * r1.gap, r1.rounds,
                      r1.coarse_rounds, r1.hess_passes, r1.repair);
        tq_align_result_free(&r1);
        tq_align_result_free(&r2);
        free(t1);
        free(t2);
    }
    inst_free(&s);
}

/* the preconditioned L-BFGS with a factor large enough for the threaded Cholesky (300
 * prices > 256): the same alignment for 1 and 2 threads */
static void test_threads_deterministic_precond(void **state)
{
    (void)state;
    inst s;
    inst_make(&s, 30000, 150, 45);
    tq_align_problem pb = inst_problem(&s);
    tq_align_params p;
    tq_align_defaults(&p);
    p.alpha = 0.2;
    p.max_rounds = 600;
    int32_t *t1 = malloc(s.n * sizeof(int32_t)), *t2 = malloc(s.n * sizeof(int32_t));
    tq_align_result r1, r2;
    omp_set_num_threads(1);
    int st1 = tq_align_solve(&pb, &p, NULL, t1, &r1);
    omp_set_num_threads(2);
    int st2 = tq_align_solve(&pb, &p, NULL, t2, &r2);
    assert_int_equal(st1, st2);
    assert_true(r1.precond);
    assert_true(r1.hess_passes > 0);
    if (st1 == TQ_OK) assert_memory_equal(t1, t2, s.n * sizeof(int32_t));
    assert_memory_equal(&r1.bound, &r2.bound, sizeof(double));
    print_message("30000x150 lbfgs: status %d cost %.6g bound %.6g gap %.4f%% rounds %d "
                  "hessians %d\n", st1, r1.cost, r1.bound, 100 * r1.gap, r1.rounds,
                  r1.hess_passes);
    tq_align_result_free(&r1);
    tq_align_result_free(&r2);
    free(t1);
    free(t2);
    inst_free(&s);
}

/* the preconditioner's Cholesky factor and panel triangular solves against Gaussian
 * elimination with partial pivoting, on random SPD systems whose sizes cover one panel,
 * several, a partial last panel and the threaded paths (n > 256); bit-identical for 1
 * and 2 threads; a matrix that is not positive definite is refused */
static void ge_solve(int n, double *A, double *b)  /* A, b overwritten; x in b */
{
    for (int k = 0; k < n; k++) {
        int piv = k;
        for (int i = k + 1; i < n; i++)
            if (fabs(A[(size_t)i * n + k]) > fabs(A[(size_t)piv * n + k])) piv = i;
        for (int j = 0; j < n; j++) {
            double t = A[(size_t)k * n + j];
            A[(size_t)k * n + j] = A[(size_t)piv * n + j];
            A[(size_t)piv * n + j] = t;
        }
        double t = b[k];
        b[k] = b[piv];
        b[piv] = t;
        for (int i = k + 1; i < n; i++) {
            double f = A[(size_t)i * n + k] / A[(size_t)k * n + k];
            for (int j = k; j < n; j++) A[(size_t)i * n + j] -= f * A[(size_t)k * n + j];
            b[i] -= f * b[k];
        }
    }
    for (int i = n - 1; i >= 0; i--) {
        double v = b[i];
        for (int j = i + 1; j < n; j++) v -= A[(size_t)i * n + j] * b[j];
        b[i] = v / A[(size_t)i * n + i];
    }
}

static void test_spd_solve(void **state)
{
    (void)state;
    static const int sizes[] = {1, 7, 128, 200, 300, 700};
    for (size_t t = 0; t < sizeof sizes / sizeof *sizes; t++) {
        int n = sizes[t];
        size_t nn = (size_t)n * n;
        double *B = malloc(nn * sizeof *B), *A = malloc(nn * sizeof *A);
        double *A2 = malloc(nn * sizeof *A2), *b = malloc(n * sizeof *b);
        double *xr = malloc(n * sizeof *xr), *x1 = malloc(n * sizeof *x1);
        double *x2 = malloc(n * sizeof *x2);
        for (size_t e = 0; e < nn; e++) B[e] = 2.0 * tq_rand_uniform(99, t, e) - 1.0;
        for (int i = 0; i < n; i++) b[i] = 2.0 * tq_rand_uniform(98, t, (uint64_t)i) - 1.0;
        /* A = B B^T / n + I: symmetric positive definite, condition about 5 */
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double v = 0.0;
                for (int k = 0; k < n; k++) v += B[(size_t)i * n + k] * B[(size_t)j * n + k];
                A[(size_t)i * n + j] = v / n + (i == j ? 1.0 : 0.0);
            }
        memcpy(A2, A, nn * sizeof *A);
        memcpy(xr, b, n * sizeof *b);
        ge_solve(n, A2, xr);
        double q1, q2, qr = 0.0, xmax = 0.0;
        for (int i = 0; i < n; i++) {
            qr += b[i] * xr[i];
            xmax = fmax(xmax, fabs(xr[i]));
        }
        omp_set_num_threads(1);
        assert_int_equal(tq_align_spd_solve(n, A, b, x1, &q1), TQ_OK);
        omp_set_num_threads(2);
        assert_int_equal(tq_align_spd_solve(n, A, b, x2, &q2), TQ_OK);
        for (int i = 0; i < n; i++) assert_true(fabs(x1[i] - xr[i]) <= 1e-10 * (xmax + 1.0));
        assert_true(fabs(q1 - qr) <= 1e-10 * fabs(qr));
        assert_memory_equal(x1, x2, n * sizeof *x1);
        assert_memory_equal(&q1, &q2, sizeof q1);
        /* not positive definite: a negative pivot in the last row */
        A[nn - 1] = -1e6;
        assert_int_equal(tq_align_spd_solve(n, A, b, x1, &q1), TQ_EINVAL);
        free(B);
        free(A);
        free(A2);
        free(b);
        free(xr);
        free(x1);
        free(x2);
    }
}

/* Cost and window check of an assignment of the chain tests' small models. */
static double chain_cost(int64_t n, int C, const double *cost, const int32_t *slot)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += cost[i * C + slot[i]];
    return s;
}
static int chain_feasible(int K, int64_t n, int C, int nm, const int32_t *cand,
                          const double *a, const double *lo, const double *hi,
                          const int32_t *slot)
{
    double L[3 * 8] = {0};
    for (int64_t i = 0; i < n; i++)
        for (int m = 0; m < nm; m++) L[3 * cand[i * C + slot[i]] + m] += a[i * 3 + m];
    for (int k = 0; k < K; k++)
        for (int m = 0; m < nm; m++)
            if (L[3 * k + m] < lo[3 * k + m] || L[3 * k + m] > hi[3 * k + m]) return 0;
    return 1;
}

/* A chain where no single move or swap helps: a0 wants T1 and b0 wants T2, but T1 must
 * keep exactly 2 accounts; a0 -> T1 with b0 -> T2 saves 20 (the optimum). Then random
 * models (4 territories, 9 accounts, 2 metrics, random windows around a random start):
 * every window kept, no saving single move left, the cost never higher and never below
 * the brute-force optimum, and the same result again. */
static void test_chains(void **state)
{
    (void)state;
    enum { K0 = 3, N0 = 6, C0 = 3 };
    int32_t cand[N0 * C0], slot[N0];
    double cost[N0 * C0], a[N0 * 3] = {0}, lo[K0 * 3] = {0}, hi[K0 * 3] = {0};
    for (int i = 0; i < N0; i++) {
        int home = i / 2;
        for (int s = 0; s < C0; s++) {
            cand[i * C0 + s] = s;
            cost[i * C0 + s] = s == home ? 0.0 : 100.0;
        }
        slot[i] = home;
        a[i * 3] = 1.0;
    }
    cost[0 * C0 + 0] = 10.0; /* a0: 10 at home T0, 0 in T1 */
    cost[0 * C0 + 1] = 0.0;
    cost[2 * C0 + 1] = 10.0; /* b0: 10 at home T1, 0 in T2 */
    cost[2 * C0 + 2] = 0.0;
    const double wlo[K0] = {1, 2, 2}, whi[K0] = {2, 2, 3};
    for (int k = 0; k < K0; k++) {
        lo[3 * k] = wlo[k];
        hi[3 * k] = whi[k];
    }
    assert_true(tq_align_chains(K0, N0, C0, 1, cand, cost, a, lo, hi, slot) >= 1);
    assert_true(chain_feasible(K0, N0, C0, 1, cand, a, lo, hi, slot));
    assert_true(chain_cost(N0, C0, cost, slot) == 0.0);
    assert_int_equal(cand[0 * C0 + slot[0]], 1);
    assert_int_equal(cand[2 * C0 + slot[2]], 2);
    /* a start out of its windows is refused */
    slot[0] = 0;
    slot[2] = 1;
    slot[1] = 1;
    assert_int_equal(tq_align_chains(K0, N0, C0, 1, cand, cost, a, lo, hi, slot), -1);

    enum { K = 4, N = 9, C = 4 };
    int improved = 0, optimal = 0, improvable = 0;
    for (uint64_t seed = 0; seed < 200; seed++) {
        int32_t cd[N * C], s0[N], s1[N], s2[N];
        double cs[N * C], am[N * 3] = {0}, wl[K * 3] = {0}, wh[K * 3] = {0}, L[K * 3] = {0};
        for (int i = 0; i < N; i++) {
            for (int s = 0; s < C; s++) {
                cd[i * C + s] = (s + i) % K;
                cs[i * C + s] = floor(100.0 * tq_rand_uniform(seed, 1, (uint64_t)(i * C + s)));
            }
            s0[i] = (int32_t)(tq_rand_uniform(seed, 2, (uint64_t)i) * C) % C;
            for (int m = 0; m < 2; m++)
                am[i * 3 + m] = 1.0 + floor(3.0 * tq_rand_uniform(seed, 3, (uint64_t)(i * 3 + m)));
            for (int m = 0; m < 2; m++) L[3 * cd[i * C + s0[i]] + m] += am[i * 3 + m];
        }
        for (int q = 0; q < K * 3; q++) {
            wl[q] = L[q] - floor(3.0 * tq_rand_uniform(seed, 4, (uint64_t)q));
            wh[q] = L[q] + floor(3.0 * tq_rand_uniform(seed, 5, (uint64_t)q));
        }
        double c0 = chain_cost(N, C, cs, s0), best = INFINITY;
        /* brute force over all C^N assignments */
        int32_t sb[N];
        for (int64_t code = 0; code < (int64_t)1 << (2 * N); code++) {
            for (int i = 0; i < N; i++) sb[i] = (int32_t)((code >> (2 * i)) & 3);
            if (!chain_feasible(K, N, C, 2, cd, am, wl, wh, sb)) continue;
            best = fmin(best, chain_cost(N, C, cs, sb));
        }
        memcpy(s1, s0, sizeof s0);
        memcpy(s2, s0, sizeof s0);
        assert_true(tq_align_chains(K, N, C, 2, cd, cs, am, wl, wh, s1) >= 0);
        assert_true(tq_align_chains(K, N, C, 2, cd, cs, am, wl, wh, s2) >= 0);
        assert_memory_equal(s1, s2, sizeof s1);
        assert_true(chain_feasible(K, N, C, 2, cd, am, wl, wh, s1));
        double c1 = chain_cost(N, C, cs, s1);
        /* no single move (a chain of one) that keeps the windows and saves is left */
        for (int i = 0; i < N; i++)
            for (int s = 0; s < C; s++) {
                int32_t keep = s1[i];
                if (s == keep || !(cs[i * C + s] < cs[i * C + keep])) continue;
                s1[i] = s;
                assert_false(chain_feasible(K, N, C, 2, cd, am, wl, wh, s1));
                s1[i] = keep;
            }
        assert_true(c1 <= c0);
        assert_true(c1 >= best);
        improved += c1 < c0;
        improvable += best < c0;
        optimal += c1 == best;
    }
    print_message("chains: %d of 200 random starts improved (%d could be), %d to the optimum\n",
                  improved, improvable, optimal);
    /* these tight windows leave most gains to swaps (cycles), which chains are not; at
     * this commit 58 of the 196 improvable starts improved, 10 to the optimum */
    assert_true(improved >= 40);
}

/* The price passes' exp: within 2 ulp of libm's on (-40, 0], and the vector form (where
 * built) gives the scalar form's bits. */
static void test_exp_neg(void **state)
{
    (void)state;
    enum { N = 200000 };
    double *x = malloc(N * sizeof *x), *y0 = malloc(N * sizeof *y0), *y1 = malloc(N * sizeof *y1);
    for (int j = 0; j < N; j++) {
        double u = tq_rand_uniform(77, 0, (uint64_t)j);
        /* uniform, then near 0 and near the cut-offs of the reduction (k ln2 / 2) */
        x[j] = j % 3 == 0 ? -40.0 * u : j % 3 == 1 ? -1e-3 * u : -(double)(j % 115) * 0.34657359 + 1e-9 * u;
        if (x[j] <= -40.0 || x[j] > 0.0) x[j] = -0.5;
    }
    x[0] = 0.0;
    x[1] = -39.999999;
    x[2] = -0x1.62e42fefa39efp-2;  /* -ln2/2 */
    tq_align_exp_neg(x, y0, N, 0);
    tq_align_exp_neg(x, y1, N, 1);
    double worst = 0.0;
    for (int j = 0; j < N; j++) {
        double e = exp(x[j]);
        worst = fmax(worst, fabs(y0[j] - e) / e);
    }
    assert_true(worst <= 2.0 * DBL_EPSILON);
    assert_true(y0[0] == 1.0);
    assert_memory_equal(y0, y1, N * sizeof *y0);
    free(x);
    free(y0);
    free(y1);
}

static void test_centers_iterate(void **state)
{
    (void)state;
    inst s;
    inst_make(&s, 5000, 8, 55);
    tq_align_problem pb = inst_problem(&s);
    tq_align_params p;
    tq_align_defaults(&p);
    int32_t *t = malloc(s.n * sizeof(int32_t));
    tq_align_result r0, r1;
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t, &r0), TQ_OK);
    p.center_iters = 5;
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t, &r1), TQ_OK);
    check_windows(&s, &p, t);
    /* moving centers to their accounts makes territories more compact */
    assert_true(r1.mean_km <= r0.mean_km * 1.001);
    assert_true(r1.center_rounds >= 1);
    tq_align_result_free(&r0);
    tq_align_result_free(&r1);
    free(t);
    inst_free(&s);
}

/* --centers iterate with a coarse level: from the second solve on the prices start from
 * the last solve's (warm_starts), the windows hold, 1 and 2 threads give the same bits,
 * and the moved centers make the territories more compact than the fixed ones. */
static void test_centers_iterate_warm(void **state)
{
    (void)state;
    inst s;
    inst_make(&s, 20000, 40, 57);
    tq_align_problem pb = inst_problem(&s);
    tq_align_params p;
    tq_align_defaults(&p);
    p.coarse = 50;
    int32_t *t1 = malloc(s.n * sizeof(int32_t)), *t2 = malloc(s.n * sizeof(int32_t));
    tq_align_result r0, r1, r2;
    omp_set_num_threads(2);
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t1, &r0), TQ_OK);
    p.center_iters = 4;
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t1, &r1), TQ_OK);
    omp_set_num_threads(1);
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t2, &r2), TQ_OK);
    omp_set_num_threads(2);
    print_message("20000x40 iterate: stride %lld, %d center rounds, %d warm starts, gap "
                  "%.4f%%, mean %.2f km (fixed centers %.2f km)\n",
                  (long long)r1.coarse_stride, r1.center_rounds, r1.warm_starts,
                  100 * r1.gap, r1.mean_km, r0.mean_km);
    assert_int_equal(r1.coarse_stride, 10);
    assert_int_equal(r0.warm_starts, 0);
    assert_true(r1.center_rounds >= 2);
    assert_true(r1.warm_starts >= 1 && r1.warm_starts <= r1.center_rounds);
    check_windows(&s, &p, t1);
    assert_true(r1.mean_km <= r0.mean_km * 1.001);
    assert_memory_equal(t1, t2, s.n * sizeof(int32_t));
    assert_memory_equal(&r1.cost, &r2.cost, sizeof(double));
    assert_int_equal(r1.warm_starts, r2.warm_starts);
    tq_align_result_free(&r0);
    tq_align_result_free(&r1);
    tq_align_result_free(&r2);
    free(t1);
    free(t2);
    inst_free(&s);
}

/* warm_prices (the disruption frontier): a budget's solve from the unconstrained solve's
 * prices starts warm instead of on the coarse level, meets the windows and the budget,
 * and gives the same bits on 1 and 2 threads. */
static void test_warm_prices(void **state)
{
    (void)state;
    inst s;
    inst_make(&s, 20000, 40, 58);
    tq_align_problem pb = inst_problem(&s);
    tq_align_params p;
    tq_align_defaults(&p);
    p.coarse = 50;
    int32_t *t0 = malloc(s.n * sizeof(int32_t)), *t1 = malloc(s.n * sizeof(int32_t)),
            *t2 = malloc(s.n * sizeof(int32_t)), *t3 = malloc(s.n * sizeof(int32_t));
    tq_align_result r0, r1, r2, r3;
    omp_set_num_threads(2);
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t0, &r0), TQ_OK);
    assert_int_equal(r0.warm_starts, 0);
    assert_non_null(r0.prices);
    p.max_moved = 0.8 * r0.moved_value_share;
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t3, &r3), TQ_OK);  /* cold */
    p.warm_prices = r0.prices;
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t1, &r1), TQ_OK);
    omp_set_num_threads(1);
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t2, &r2), TQ_OK);
    omp_set_num_threads(2);
    print_message("20000x40 budget %.1f%%: warm %d, cost %.8g gap %.4f%% %d passes (cold %.8g, "
                  "%.4f%%, %d passes), budget price %g\n", 100 * p.max_moved, r1.warm_starts,
                  r1.cost, 100 * r1.gap, r1.rounds, r3.cost, 100 * r3.gap, r3.rounds,
                  r1.prices[3 * s.k]);
    assert_int_equal(r3.warm_starts, 0);
    assert_int_equal(r1.warm_starts, 1);
    /* warm, the prices need far fewer passes (145 against 568 here; without a price
     * scale of its own the warm solve had run off and started over) */
    assert_true(2 * r1.rounds < r3.rounds);
    check_windows(&s, &p, t1);
    double mv = 0.0, tot = 0.0;
    for (int64_t i = 0; i < s.n; i++) {
        tot += s.v[i];
        mv += t1[i] != s.prev[i] ? s.v[i] : 0.0;
    }
    assert_true(mv <= p.max_moved * tot * (1 + 1e-9));
    assert_true(r1.gap >= 0 && r1.gap < 0.02);
    assert_true(r1.prices[3 * s.k] > 0);  /* the budget binds: it has a price */
    assert_memory_equal(t1, t2, s.n * sizeof(int32_t));
    assert_memory_equal(&r1.cost, &r2.cost, sizeof(double));
    /* the unconstrained solve's transport arcs in place of the LP: the same alignment
     * (the LP would give the same arcs); arcs of the caller's own are taken as given */
    assert_non_null(r0.arcs.arc);
    assert_true(r0.arcs.k == s.k && r0.arcs.nx > 0 && r0.transport_arcs > 0);
    tq_align_result_free(&r2);
    p.arcs = &r0.arcs;
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t2, &r2), TQ_OK);
    assert_memory_equal(t1, t2, s.n * sizeof(int32_t));
    assert_memory_equal(&r1.cost, &r2.cost, sizeof(double));
    assert_int_equal(r2.transport_arcs, r1.transport_arcs);
    assert_memory_equal(r2.arcs.arc, r0.arcs.arc, (size_t)s.k * r0.arcs.nx * sizeof(int32_t));
    int32_t *none = malloc((size_t)s.k * r0.arcs.nx * sizeof *none);
    for (int q = 0; q < s.k * r0.arcs.nx; q++) none[q] = -1;
    tq_align_arcs given = {s.k, r0.arcs.nx, none, 0.0};
    p.arcs = &given;
    tq_align_result_free(&r2);
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t2, &r2), TQ_OK);
    assert_int_equal(r2.transport_arcs, 0);
    free(none);
    tq_align_result_free(&r0);
    tq_align_result_free(&r1);
    tq_align_result_free(&r2);
    tq_align_result_free(&r3);
    free(t0);
    free(t1);
    free(t2);
    free(t3);
    inst_free(&s);
}

/* Frees a comparison's three runs (results and alignments) and its instance. */
static void free_runs(tq_align_result *r0, tq_align_result *r1, tq_align_result *r2,
                      int32_t *t0, int32_t *t1, int32_t *t2, inst *s)
{
    tq_align_result_free(r0);
    tq_align_result_free(r1);
    tq_align_result_free(r2);
    free(t0);
    free(t1);
    free(t2);
    inst_free(s);
}

/* the second polish (gap_goal): forced on with a tiny goal, it keeps the cheaper of the
 * two alignments and the better bound, so neither gets worse than without it; the same
 * bits for 1 and 2 threads; windows met */
static void test_gap_goal(void **state)
{
    (void)state;
    inst s;
    inst_make(&s, 20000, 16, 45);
    tq_align_problem pb = inst_problem(&s);
    tq_align_params p;
    tq_align_defaults(&p);
    p.gap_goal = 0;
    int32_t *t0 = malloc(s.n * sizeof(int32_t)), *t1 = malloc(s.n * sizeof(int32_t)),
            *t2 = malloc(s.n * sizeof(int32_t));
    tq_align_result r0, r1, r2;
    omp_set_num_threads(2);
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t0, &r0), TQ_OK);
    p.gap_goal = 1e-9;
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t1, &r1), TQ_OK);
    omp_set_num_threads(1);
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t2, &r2), TQ_OK);
    omp_set_num_threads(2);
    assert_true(r1.rounds > r0.rounds);  /* it ran */
    assert_true(r1.cost <= r0.cost);
    assert_true(r1.bound >= r0.bound);
    assert_memory_equal(t1, t2, s.n * sizeof(int32_t));
    assert_memory_equal(&r1.cost, &r2.cost, sizeof(double));
    check_windows(&s, &p, t1);
    print_message("20000x16 gap goal: cost %.8g -> %.8g, bound %.8g -> %.8g, rounds %d -> %d\n",
                  r0.cost, r1.cost, r0.bound, r1.bound, r0.rounds, r1.rounds);
    free_runs(&r0, &r1, &r2, t0, t1, t2, &s);
}

/* the pair MIPs (pair_passes) on 40 accounts a territory: they run, keep every window
 * (and the disruption budget), never raise the cost, and give the same bits for 1 and
 * 2 threads */
static void test_pair_mips(void **state)
{
    (void)state;
    for (int mode = 0; mode <= 2; mode++) {
        /* mode 1: a budget on moved value; mode 2: a disruption penalty, where the
         * pairs also run from the other repaired alignments (pair_starts) */
        int budget = mode == 1;
        inst s;
        inst_make(&s, 1600, 40, 17);
        tq_align_problem pb = inst_problem(&s);
        tq_align_params p;
        tq_align_defaults(&p);
        if (budget) p.max_moved = 0.35;
        if (mode == 2) p.alpha = 2.0;
        int32_t *t0 = malloc(s.n * sizeof(int32_t)), *t1 = malloc(s.n * sizeof(int32_t)),
                *t2 = malloc(s.n * sizeof(int32_t));
        tq_align_result r0, r1, r2;
        omp_set_num_threads(2);
        p.pair_passes = 0;
        int st0 = tq_align_solve(&pb, &p, NULL, t0, &r0);
        if (st0) print_message("status %d: %s\n", st0, r0.msg);
        assert_int_equal(st0, TQ_OK);
        assert_int_equal(r0.pair_passes, 0);
        p.pair_passes = 100;
        assert_int_equal(tq_align_solve(&pb, &p, NULL, t1, &r1), TQ_OK);
        omp_set_num_threads(1);
        assert_int_equal(tq_align_solve(&pb, &p, NULL, t2, &r2), TQ_OK);
        omp_set_num_threads(2);
        assert_true(r1.pair_passes >= 1 && r1.pair_mips > 0);
        assert_true(r1.pair_improved > 0);  /* 40 a territory: the pairs find exchanges */
        assert_true(r1.cost < r0.cost);
        assert_int_equal(r0.pair_starts, 0);
        if (mode < 2) {
            assert_int_equal(r1.pair_starts, 0);
            assert_true(r0.cost - r1.cost >= r1.pair_saved * (1 - 1e-6));  /* and moves, swaps */
        } else {
            assert_true(r1.pair_starts > 0);  /* other starts repaired to other costs */
        }
        assert_int_equal(r1.pair_starts, r2.pair_starts);
        assert_true(r1.bound == r0.bound);
        check_windows(&s, &p, t1);
        if (budget) {  /* moved value among accounts with a prev: within the budget */
            double mv = 0.0, tot = 0.0;
            for (int64_t i = 0; i < s.n; i++) {
                tot += s.v[i];
                mv += t1[i] != s.prev[i] ? s.v[i] : 0.0;
            }
            assert_true(mv <= p.max_moved * tot * (1 + 1e-9));
        }
        assert_memory_equal(t1, t2, s.n * sizeof(int32_t));
        assert_memory_equal(&r1.cost, &r2.cost, sizeof(double));
        print_message("1600x40%s: cost %.8g -> %.8g (%d passes, %lld MIPs, %lld kept, %d "
                      "other starts), gap %.3f%% -> %.3f%%\n",
                      mode == 1 ? " budget 35%" : (mode == 2 ? " alpha 2" : ""), r0.cost,
                      r1.cost, r1.pair_passes, (long long)r1.pair_mips,
                      (long long)r1.pair_improved, r1.pair_starts, 100 * r0.gap, 100 * r1.gap);
        free_runs(&r0, &r1, &r2, t0, t1, t2, &s);
    }
}

/* The two-territory MIP (the pair MIPs' one-column-per-account model) against brute
 * force over all 2^n splits: random costs, metrics, windows around a random split,
 * with and without a budget on moved value; and the same MIP through the general
 * model (candidates listed the other way round), which must agree. */
static uint64_t lcg(uint64_t *x)
{
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return *x >> 33;
}
static void test_pair_model(void **state)
{
    (void)state;
    uint64_t rs = 12345;
    for (int trial = 0; trial < 40; trial++) {
        int n = 8 + trial % 6, budget = trial % 3 == 2, infeas = trial % 10 == 9;
        int32_t cand[28], rcand[28], start[14], out[14], out2[14];
        double cost[28], rcost[28], a[42], mv[28], rmv[28], lo[6], hi[6], rlo[6], rhi[6];
        int use[3] = {1, trial % 2, trial % 4 == 3};
        double L[6] = {0, 0, 0, 0, 0, 0}, tot[3] = {0, 0, 0}, mv0 = 0.0;
        for (int j = 0; j < n; j++) {
            start[j] = (int)(lcg(&rs) % 2);
            int prev = (int)(lcg(&rs) % 2);  /* moved value: the value off last year's */
            double val = (double)(1 + lcg(&rs) % 50);
            for (int s = 0; s < 2; s++) {
                cand[2 * j + s] = s;
                rcand[2 * j + s] = 1 - s;
                cost[2 * j + s] = 1.0 + 10.0 * (double)(lcg(&rs) % 1000) / 1000.0;
                mv[2 * j + s] = s == prev ? 0.0 : val;
            }
            a[3 * j] = 1.0 + (double)(lcg(&rs) % 100);
            a[3 * j + 1] = (double)(lcg(&rs) % 80);
            a[3 * j + 2] = 1.0;
            for (int m = 0; m < 3; m++) {
                L[3 * start[j] + m] += a[3 * j + m];
                tot[m] += a[3 * j + m];
            }
            mv0 += mv[2 * j + start[j]];
        }
        for (int q = 0; q < 6; q++) {  /* windows around the start's loads */
            double w = (q % 3 == 2) ? 1.0 : 0.15 * tot[q % 3] / 2;
            lo[q] = L[q] - w * (double)(lcg(&rs) % 100) / 100.0;
            hi[q] = L[q] + w * (double)(lcg(&rs) % 100) / 100.0;
        }
        if (infeas) {  /* territory 0 must take more workload than territory 1 may leave */
            lo[0] = tot[0] - lo[3] + 1.0;
            hi[0] = lo[0] + 1.0;
        }
        double bud = budget ? mv0 * 0.8 : -1.0;
        /* brute force */
        double best = INFINITY;
        for (uint32_t x = 0; x < (1u << n); x++) {
            double l[6] = {0, 0, 0, 0, 0, 0}, c = 0.0, m2 = 0.0;
            for (int j = 0; j < n; j++) {
                int s = (int)((x >> j) & 1);
                for (int m = 0; m < 3; m++) l[3 * s + m] += a[3 * j + m];
                c += cost[2 * j + s];
                m2 += mv[2 * j + s];
            }
            int ok = !(budget && m2 > bud + 1e-9);
            for (int q = 0; q < 6 && ok; q++)
                if (use[q % 3] && (l[q] < lo[q] - 1e-9 || l[q] > hi[q] + 1e-9)) ok = 0;
            if (ok && c < best) best = c;
        }
        /* the same MIP with the candidates the other way round (general model) */
        for (int j = 0; j < n; j++)
            for (int s = 0; s < 2; s++) {
                rcost[2 * j + s] = cost[2 * j + 1 - s];
                rmv[2 * j + s] = mv[2 * j + 1 - s];
            }
        memcpy(rlo, lo, sizeof lo);
        memcpy(rhi, hi, sizeof hi);
        tq_align_mip mp = {n, 2, 2, cand, cost, a, mv, lo, hi, {use[0], use[1], use[2]},
                           bud, NULL, 1000000, 60.0, NULL};
        tq_align_mip mg = {n, 2, 2, rcand, rcost, a, rmv, rlo, rhi, {use[0], use[1], use[2]},
                           bud, NULL, 1000000, 60.0, NULL};
        double obj, bnd, lpv, obj2, bnd2, lpv2;
        int opt, prov, opt2, prov2;
        int st = tq_align_mip_solve(&mp, out, &obj, &bnd, &lpv, &opt, &prov);
        int st2 = tq_align_mip_solve(&mg, out2, &obj2, &bnd2, &lpv2, &opt2, &prov2);
        if (best == INFINITY) {
            assert_int_equal(st, TQ_INFEASIBLE);
            assert_int_equal(st2, TQ_INFEASIBLE);
            assert_true(prov && prov2);
            continue;
        }
        assert_int_equal(st, TQ_OK);
        assert_int_equal(st2, TQ_OK);
        assert_true(opt && opt2);
        assert_true(fabs(obj - best) <= 1e-9 * best);
        assert_true(fabs(obj2 - best) <= 1e-9 * best);
        assert_true(lpv <= best + 1e-9 * best);
        double c = 0.0, c2 = 0.0;
        for (int j = 0; j < n; j++) {
            assert_true(out[j] == 0 || out[j] == 1);
            c += cost[2 * j + out[j]];
            c2 += rcost[2 * j + out2[j]];
        }
        assert_true(fabs(c - obj) <= 1e-9 * best && fabs(c2 - obj2) <= 1e-9 * best);
    }
}

/* The transport LP (tq_align_transport_solve): column generation from 2 arcs a group
 * against the same LP with every arc from the start (nothing to generate). Both reach
 * the same optimum (cost + pen x violation); shares are >= 0 and sum to 1 a group, and
 * keep every window when the violation is 0. Every fourth instance has a window no
 * shares can meet (a territory's lower bound above the total), whose least violation
 * both must find. */
static double transport_obj(const tq_align_transport *t, const double *x, double viol)
{
    double o = t->pen * viol;
    for (int j = 0; j < t->ng * t->K; j++) o += t->cost[j] * x[j];
    return o;
}
static void test_transport(void **state)
{
    (void)state;
    for (int trial = 0; trial < 40; trial++) {
        int ng = 3 + trial % 11, K = ng + trial % 4, nm = 1 + trial % 3;
        int infeas = trial % 4 == 3;
        double S[13 * 3], cost[13 * 16], lo[16 * 3], hi[16 * 3], x1[13 * 16], x2[13 * 16];
        double pos[32], tot[3] = {0, 0, 0};
        for (int j = 0; j < ng + K; j++) pos[j] = tq_rand_uniform(91, 1, (uint64_t)(trial * 64 + j));
        for (int g = 0; g < ng; g++)
            for (int q = 0; q < nm; q++) {
                /* regional drift: the metrics' ratio follows the position */
                double u = tq_rand_uniform(91, 2, (uint64_t)(trial * 256 + g * 3 + q));
                S[g * nm + q] = (0.3 + u) * (q == 1 ? 0.5 + pos[g] : 1.0);
                tot[q] += S[g * nm + q];
            }
        for (int g = 0; g < ng; g++)
            for (int k = 0; k < K; k++)
                cost[g * K + k] = S[g * nm] * fabs(pos[g] - pos[ng + k]);
        for (int k = 0; k < K; k++)
            for (int q = 0; q < nm; q++) {
                double tol = 0.02 + 0.03 * q;
                lo[k * nm + q] = (1 - tol) * tot[q] / K;
                hi[k * nm + q] = (1 + tol) * tot[q] / K;
            }
        if (infeas) lo[nm] = hi[nm] = 1.5 * tot[0];
        tq_align_transport t = {ng, K, nm, S, cost, lo, hi, 50.0, 2};
        double v1, v2;
        int p1, p2;
        int64_t a1, a2;
        tq_align_tstate *ks = NULL;
        assert_int_equal(tq_align_transport_solve(&t, x1, &v1, &p1, &a1, &ks), TQ_OK);
        assert_non_null(ks);
        t.start = K;
        assert_int_equal(tq_align_transport_solve(&t, x2, &v2, &p2, &a2, NULL), TQ_OK);
        assert_int_equal(p2, 1);  /* every arc given: nothing to generate */
        assert_int_equal(a2, (int64_t)ng * K);
        assert_true(a1 >= 2 * (int64_t)ng && a1 <= a2);
        t.start = 2;
        double o1 = transport_obj(&t, x1, v1), o2 = transport_obj(&t, x2, v2);
        assert_true(fabs(o1 - o2) <= 1e-7 * (1.0 + fabs(o2)));
        if (infeas) assert_true(v1 > 0.4 * tot[0] && v2 > 0.4 * tot[0]);
        {
            /* the kept LP warm-started on other sums (a sample's: the groups' metrics,
             * costs and windows x 0.8..1.2) reaches the optimum of a cold solve of them;
             * a group whose sums are 0 (no sampled rows) stays in it */
            double S3[13 * 3], cost3[13 * 16], lo3[16 * 3], hi3[16 * 3], x3[13 * 16],
                x4[13 * 16], v3, v4;
            int p3, p4;
            int64_t a3, a4;
            for (int j = 0; j < ng * nm; j++)
                S3[j] = S[j] * (0.8 + 0.4 * tq_rand_uniform(91, 3, (uint64_t)(trial * 64 + j)));
            if (trial % 3 == 1)
                for (int q = 0; q < nm; q++) S3[(ng - 1) * nm + q] = 0.0;
            for (int j = 0; j < ng * K; j++)
                cost3[j] = cost[j] * (trial % 3 == 1 && j / K == ng - 1 ? 0.0 : S3[(j / K) * nm] / S[(j / K) * nm]);
            for (int j = 0; j < K * nm; j++) {
                double f = 0.8 + 0.4 * tq_rand_uniform(91, 4, (uint64_t)(trial * 64 + j));
                lo3[j] = lo[j] * f;
                hi3[j] = hi[j] * f;
            }
            tq_align_transport t3 = {ng, K, nm, S3, cost3, lo3, hi3, 50.0, 2};
            assert_int_equal(tq_align_transport_solve(&t3, x3, &v3, &p3, &a3, &ks), TQ_OK);
            assert_non_null(ks);
            assert_true(a3 >= a1);  /* the kept columns, and any it generates */
            assert_int_equal(tq_align_transport_solve(&t3, x4, &v4, &p4, &a4, NULL), TQ_OK);
            double o3 = transport_obj(&t3, x3, v3), o4 = transport_obj(&t3, x4, v4);
            assert_true(fabs(o3 - o4) <= 1e-7 * (1.0 + fabs(o4)));
            for (int g = 0; g < ng; g++) {
                double sx = 0.0;
                for (int k = 0; k < K; k++) sx += x3[g * K + k];
                assert_true(fabs(sx - 1.0) < 1e-9);
            }
            /* a kept LP of other dimensions is dropped: a cold solve */
            tq_align_transport t5 = {ng - 1, K, nm, S3, cost3, lo3, hi3, 50.0, 2};
            assert_int_equal(tq_align_transport_solve(&t5, x4, &v4, &p4, &a4, &ks), TQ_OK);
            assert_true(a4 >= 2 * (int64_t)(ng - 1));
            tq_align_tstate_free(ks);
        }
        for (int g = 0; g < ng; g++) {
            double sx = 0.0;
            for (int k = 0; k < K; k++) {
                assert_true(x1[g * K + k] >= -1e-12);
                sx += x1[g * K + k];
            }
            assert_true(fabs(sx - 1.0) < 1e-9);
        }
        if (v1 > 1e-9) continue;
        for (int k = 0; k < K; k++)
            for (int q = 0; q < nm; q++) {
                double L = 0.0;
                for (int g = 0; g < ng; g++) L += S[g * nm + q] * x1[g * K + k];
                assert_true(L >= lo[k * nm + q] - 1e-9 && L <= hi[k * nm + q] + 1e-9);
            }
    }
}

/* The coarse level with transport arcs, on accounts whose potential a unit of workload
 * drifts from x0.5 in the west to x1.5 in the east (the generator's regional drift):
 * balancing both metrics moves load further than the nearest lists reach. The group LP
 * gives arcs, the lists are not widened, every window holds, and 1 and 2 threads give
 * the same bits. */
static void test_transport_coarse(void **state)
{
    (void)state;
    inst s;
    inst_make(&s, 40000, 40, 46);
    for (int64_t i = 0; i < s.n; i++) s.v[i] *= (float)(1.0 + 0.5 * (s.lon[i] + 98.0) / 20.0);
    tq_align_problem pb = inst_problem(&s);
    tq_align_params p;
    tq_align_defaults(&p);
    p.coarse = 100;
    int32_t *t1 = malloc(s.n * sizeof(int32_t)), *t2 = malloc(s.n * sizeof(int32_t));
    tq_align_result r1, r2;
    omp_set_num_threads(2);
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t1, &r1), TQ_OK);
    omp_set_num_threads(1);
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t2, &r2), TQ_OK);
    omp_set_num_threads(2);
    print_message("40000x40 drift: stride %lld, %lld transport arcs (violation %g), %d coarse "
                  "run-offs, widened %d, gap %.4f%%\n", (long long)r1.coarse_stride,
                  (long long)r1.transport_arcs, r1.transport_violation, r1.coarse_runoffs,
                  r1.widened, 100 * r1.gap);
    assert_int_equal(r1.coarse_stride, 10);
    assert_true(r1.transport_arcs > 0);
    assert_true(r1.transport_violation == 0.0);
    assert_int_equal(r1.coarse_runoffs, 0);  /* 2 without the arcs */
    assert_int_equal(r1.widened, 0);
    check_windows(&s, &p, t1);
    assert_true(r1.gap >= 0 && r1.gap < 0.02);
    assert_memory_equal(t1, t2, s.n * sizeof(int32_t));
    assert_memory_equal(&r1.cost, &r2.cost, sizeof(double));
    tq_align_result_free(&r1);
    tq_align_result_free(&r2);
    free(t1);
    free(t2);
    inst_free(&s);
}

static void test_bad_params(void **state)
{
    (void)state;
    tq_align_params p;
    tq_align_defaults(&p);
    assert_null(tq_align_check(&p));
    p.candidates = 0;
    assert_non_null(tq_align_check(&p));
    tq_align_defaults(&p);
    p.alpha = -1;
    assert_non_null(tq_align_check(&p));
    tq_align_defaults(&p);
    p.distance = 7;
    assert_non_null(tq_align_check(&p));
    tq_align_defaults(&p);
    p.prices = 4;
    assert_non_null(tq_align_check(&p));
    tq_align_defaults(&p);
    p.gap_goal = -0.1;
    assert_non_null(tq_align_check(&p));
    tq_align_defaults(&p);
    p.pair_passes = -1;
    assert_non_null(tq_align_check(&p));
    /* prev out of range is named with its row */
    inst s;
    inst_make(&s, 100, 4, 3);
    s.prev[42] = 9;
    tq_align_problem pb = inst_problem(&s);
    tq_align_defaults(&p);
    int32_t t[100];
    tq_align_result r;
    assert_int_equal(tq_align_solve(&pb, &p, NULL, t, &r), TQ_EINVAL);
    assert_non_null(strstr(r.msg, "row 42"));
    tq_align_result_free(&r);
    inst_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_exact_vs_scale),
        cmocka_unit_test(test_locked_never_move),
        cmocka_unit_test(test_infeasible_locked),
        cmocka_unit_test(test_infeasible_granularity),
        cmocka_unit_test(test_p90_far),
        cmocka_unit_test(test_alpha_keeps_last_year),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_budget_bound),
        cmocka_unit_test(test_threads_deterministic),
        cmocka_unit_test(test_threads_deterministic_precond),
        cmocka_unit_test(test_spd_solve),
        cmocka_unit_test(test_exp_neg),
        cmocka_unit_test(test_centers_iterate),
        cmocka_unit_test(test_centers_iterate_warm),
        cmocka_unit_test(test_warm_prices),
        cmocka_unit_test(test_chains),
        cmocka_unit_test(test_gap_goal),
        cmocka_unit_test(test_pair_mips),
        cmocka_unit_test(test_pair_model),
        cmocka_unit_test(test_transport),
        cmocka_unit_test(test_transport_coarse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
