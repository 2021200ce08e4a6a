/* test_kmeans.c: the k-means kernel against a brute-force reference.
 *
 * - kd-tree filtering, bounds, vectorized brute force and the scalar reference give
 *   bit-identical labels, centers and inertia from the same start (several k, n not
 *   multiples of the tiles; duplicate points and centers, ties, grids for the tree)
 * - the final labels are the reference argmin for the final centers; centers are the
 *   weighted means of their points
 * - integer weights equal replicated points
 * - 1, 2 and 3 threads give bit-identical results (k-means++, k-means||)
 * - empty clusters are repaired deterministically; fixed centers are only assigned;
 *   ties go to the lowest index; bad input is refused */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tq_kmeans.h"

typedef struct {
    int64_t n;
    double *x, *y, *z, *w;
} pts_t;

static void pts_free(pts_t *P)
{
    free(P->x);
    free(P->y);
    free(P->z);
    free(P->w);
    memset(P, 0, sizeof *P);
}

/* n unit vectors around `nc` random places (noise sigma radians), weights in [0, 3). */
static pts_t make_points(int64_t n, int nc, double sigma, uint64_t seed, int weighted)
{
    pts_t P = {n, malloc(n * sizeof(double)), malloc(n * sizeof(double)),
               malloc(n * sizeof(double)), weighted ? malloc(n * sizeof(double)) : NULL};
    for (int64_t i = 0; i < n; i++) {
        int c = (int)(tq_rand_uniform(seed, 1, (uint64_t)i) * nc);
        double lat = asin(2 * tq_rand_uniform(seed, 2, (uint64_t)c) - 1) * 180 / M_PI;
        double lon = 360 * tq_rand_uniform(seed, 3, (uint64_t)c) - 180;
        double x, y, z;
        tq_latlon_to_xyz(lat, lon, &x, &y, &z);
        x += sigma * (tq_rand_uniform(seed, 4, (uint64_t)i) - 0.5);
        y += sigma * (tq_rand_uniform(seed, 5, (uint64_t)i) - 0.5);
        z += sigma * (tq_rand_uniform(seed, 6, (uint64_t)i) - 0.5);
        double r = sqrt(x * x + y * y + z * z);
        P.x[i] = x / r;
        P.y[i] = y / r;
        P.z[i] = z / r;
        if (weighted) P.w[i] = floor(3 * tq_rand_uniform(seed, 7, (uint64_t)i));
    }
    if (weighted) P.w[0] = 1; /* never all zero */
    return P;
}

typedef struct {
    tq_kmeans_result r;
    int status;
} run_t;

static run_t run(const pts_t *P, const tq_kmeans_params *p, const double *init)
{
    run_t R;
    memset(&R, 0, sizeof R);
    tq_kmeans_data d = {P->n, 0, P->n, P->x, P->y, P->z, P->w};
    R.r.label = malloc(P->n * sizeof(int32_t));
    R.r.centers = malloc(p->k * 3 * sizeof(double));
    R.r.count = malloc(p->k * sizeof(int64_t));
    R.r.weight = malloc(p->k * sizeof(double));
    if (init) memcpy(R.r.centers, init, p->k * 3 * sizeof(double));
    R.status = tq_kmeans_run(p, &d, NULL, &R.r);
    return R;
}

static void run_free(run_t *R)
{
    free(R->r.label);
    free(R->r.centers);
    free(R->r.count);
    free(R->r.weight);
    tq_kmeans_result_free(&R->r);
}

static void assert_same(const run_t *a, const run_t *b, int64_t n, int k)
{
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->r.iterations, b->r.iterations);
    assert_memory_equal(a->r.label, b->r.label, n * sizeof(int32_t));
    assert_memory_equal(a->r.centers, b->r.centers, k * 3 * sizeof(double));
    assert_memory_equal(a->r.count, b->r.count, k * sizeof(int64_t));
    assert_memory_equal(a->r.weight, b->r.weight, k * sizeof(double));
    assert_memory_equal(&a->r.inertia, &b->r.inertia, sizeof(double));
}

/* initial centers: k of the points, spread by a stride */
static double *pick_centers(const pts_t *P, int k)
{
    double *c = malloc(k * 3 * sizeof(double));
    for (int j = 0; j < k; j++) {
        int64_t i = (int64_t)j * (P->n / k) + 7 % (P->n / k);
        c[3 * j] = P->x[i];
        c[3 * j + 1] = P->y[i];
        c[3 * j + 2] = P->z[i];
    }
    return c;
}

static void test_bounds_equal_reference(void **state)
{
    (void)state;
    const int ks[] = {1, 3, 17, 64, 150};
    for (int t = 0; t < 5; t++) {
        int k = ks[t];
        pts_t P = make_points(20011, 40, 0.05, 11 + t, t % 2);
        double *c0 = pick_centers(&P, k);
        tq_kmeans_params p;
        tq_kmeans_defaults(&p);
        p.k = k;
        p.init = TQ_KM_INIT_GIVEN;
        p.max_iter = 60;
        p.tol = 0;
        p.neighbors = 8 + t; /* short lists exercise the full-scan fallback */
        p.adaptive = 0;      /* bounded passes only (the adaptive choice is tested below) */
        p.algo = TQ_KM_ALGO_REF;
        run_t ref = run(&P, &p, c0);
        p.algo = TQ_KM_ALGO_BRUTE;
        run_t bru = run(&P, &p, c0);
        p.algo = TQ_KM_ALGO_BOUNDS;
        run_t bnd = run(&P, &p, c0);
        p.algo = TQ_KM_ALGO_TREE;
        run_t tre = run(&P, &p, c0);
        p.algo = TQ_KM_ALGO_BOUNDS;
        assert_true(ref.status == TQ_OK || ref.status == TQ_NOT_CONVERGED);
        assert_same(&ref, &bru, P.n, k);
        assert_same(&ref, &bnd, P.n, k);
        assert_same(&ref, &tre, P.n, k);
        if (k > 16) assert_true(tre.r.ndist < tre.r.nfull / 2); /* the tree did skip */
        run_free(&tre);
        if (k > 16) assert_true(bnd.r.ndist < bnd.r.nfull / 2); /* bounds did skip */
        /* labels are the reference argmin for the final centers */
        int32_t *lab = malloc(P.n * sizeof(int32_t));
        tq_kmeans_assign_ref(P.x, P.y, P.z, P.n, ref.r.centers, k, lab);
        assert_memory_equal(lab, ref.r.label, P.n * sizeof(int32_t));
        free(lab);
        p.adaptive = 1; /* mixes bounded and brute-force passes: the same bits */
        run_t ada = run(&P, &p, c0);
        assert_same(&ref, &ada, P.n, k);
        run_free(&ada);
        run_free(&ref);
        run_free(&bru);
        run_free(&bnd);
        free(c0);
        pts_free(&P);
    }
}

/* Dense data: many centers a few metres to kilometres apart, so the float filter of the
 * brute-force pass sees near ties between groups on most points; labels must still be
 * the reference's, bit for bit, for a fixed assignment and for Lloyd runs. */
static void test_dense_near_ties(void **state)
{
    (void)state;
    pts_t P = make_points(9001, 3, 1e-4, 17, 1); /* three tight spots, ~600 m across */
    int k = 300;
    double *c0 = malloc(k * 3 * sizeof(double));
    for (int j = 0; j < k; j++) {
        int64_t i = (int64_t)(tq_rand_uniform(5, 1, (uint64_t)j) * P.n);
        double e = (j % 7) * 1e-9; /* some centers only nanometres apart, some equal */
        c0[3 * j] = P.x[i] + e;
        c0[3 * j + 1] = P.y[i];
        c0[3 * j + 2] = P.z[i] - e;
    }
    int32_t *lab = malloc(P.n * sizeof(int32_t));
    tq_kmeans_assign_ref(P.x, P.y, P.z, P.n, c0, k, lab);
    tq_kmeans_params p;
    tq_kmeans_defaults(&p);
    p.k = k;
    p.fixed = 1;
    run_t f = run(&P, &p, c0);
    assert_memory_equal(f.r.label, lab, P.n * sizeof(int32_t));
    p.fixed = 0;
    p.init = TQ_KM_INIT_GIVEN;
    p.max_iter = 8;
    p.tol = 0;
    p.algo = TQ_KM_ALGO_REF;
    run_t ref = run(&P, &p, c0);
    p.algo = TQ_KM_ALGO_BRUTE;
    run_t bru = run(&P, &p, c0);
    p.algo = TQ_KM_ALGO_BOUNDS;
    p.adaptive = 0;
    run_t bnd = run(&P, &p, c0);
    p.algo = TQ_KM_ALGO_TREE;
    run_t tre = run(&P, &p, c0);
    assert_same(&ref, &bru, P.n, k);
    assert_same(&ref, &bnd, P.n, k);
    assert_same(&ref, &tre, P.n, k);
    run_free(&tre);
    run_free(&f);
    run_free(&ref);
    run_free(&bru);
    run_free(&bnd);
    free(lab);
    free(c0);
    pts_free(&P);
}

static void test_centers_are_means(void **state)
{
    (void)state;
    int k = 20;
    pts_t P = make_points(9000, 25, 0.1, 5, 1);
    double *c0 = pick_centers(&P, k);
    tq_kmeans_params p;
    tq_kmeans_defaults(&p);
    p.k = k;
    p.init = TQ_KM_INIT_GIVEN;
    p.max_iter = 200;
    p.tol = 0;
    run_t R = run(&P, &p, c0);
    assert_int_equal(R.status, TQ_OK); /* converged: labels stable */
    double *s = calloc(k * 4, sizeof(double));
    double inert = 0;
    for (int64_t i = 0; i < P.n; i++) {
        int j = R.r.label[i];
        s[4 * j] += P.w[i] * P.x[i];
        s[4 * j + 1] += P.w[i] * P.y[i];
        s[4 * j + 2] += P.w[i] * P.z[i];
        s[4 * j + 3] += P.w[i];
        const double *c = R.r.centers + 3 * j;
        double dx = P.x[i] - c[0], dy = P.y[i] - c[1], dz = P.z[i] - c[2];
        inert += P.w[i] * (dx * dx + dy * dy + dz * dz);
    }
    for (int j = 0; j < k; j++) {
        assert_true(s[4 * j + 3] > 0);
        for (int a = 0; a < 3; a++)
            assert_true(fabs(s[4 * j + a] / s[4 * j + 3] - R.r.centers[3 * j + a]) < 1e-12);
        assert_true(fabs(s[4 * j + 3] - R.r.weight[j]) < 1e-9);
    }
    assert_true(fabs(inert - R.r.inertia) <= 1e-10 * inert);
    free(s);
    free(c0);
    run_free(&R);
    pts_free(&P);
}

static void test_weights_equal_replicas(void **state)
{
    (void)state;
    int k = 12;
    pts_t P = make_points(5000, 15, 0.08, 9, 1);
    int64_t m = 0;
    for (int64_t i = 0; i < P.n; i++) m += (int64_t)P.w[i];
    pts_t Q = {m, malloc(m * sizeof(double)), malloc(m * sizeof(double)),
               malloc(m * sizeof(double)), NULL};
    int64_t *from = malloc(m * sizeof(int64_t));
    for (int64_t i = 0, q = 0; i < P.n; i++)
        for (int r = 0; r < (int)P.w[i]; r++, q++) {
            Q.x[q] = P.x[i];
            Q.y[q] = P.y[i];
            Q.z[q] = P.z[i];
            from[q] = i;
        }
    double *c0 = pick_centers(&Q, k);
    tq_kmeans_params p;
    tq_kmeans_defaults(&p);
    p.k = k;
    p.init = TQ_KM_INIT_GIVEN;
    p.max_iter = 100;
    p.tol = 0;
    run_t a = run(&P, &p, c0), b = run(&Q, &p, c0);
    assert_int_equal(a.status, TQ_OK);
    assert_int_equal(a.r.iterations, b.r.iterations);
    for (int64_t q = 0; q < m; q++) assert_int_equal(b.r.label[q], a.r.label[from[q]]);
    for (int j = 0; j < 3 * k; j++) assert_true(fabs(a.r.centers[j] - b.r.centers[j]) < 1e-12);
    for (int j = 0; j < k; j++) assert_true(fabs(a.r.weight[j] - b.r.weight[j]) < 1e-9);
    assert_true(fabs(a.r.inertia - b.r.inertia) <= 1e-10 * b.r.inertia);
    run_free(&a);
    run_free(&b);
    free(from);
    free(c0);
    pts_free(&P);
    pts_free(&Q);
}

static void test_threads_bit_identical(void **state)
{
    (void)state;
    pts_t P = make_points(30000, 50, 0.05, 21, 1);
    for (int init = TQ_KM_INIT_PP; init <= TQ_KM_INIT_PAR; init++) {
        tq_kmeans_params p;
        tq_kmeans_defaults(&p);
        p.k = 40;
        p.init = init;
        p.seed = 7;
        p.tol = 1e-9;
        run_t R[3];
        for (int t = 0; t < 3; t++) {
            tq_set_threads(t + 1);
            R[t] = run(&P, &p, NULL);
            assert_true(R[t].status == TQ_OK || R[t].status == TQ_NOT_CONVERGED);
        }
        tq_set_threads(0);
        assert_same(&R[0], &R[1], P.n, p.k);
        assert_same(&R[0], &R[2], P.n, p.k);
        for (int j = 0; j < p.k; j++) assert_true(R[0].r.count[j] > 0);
        for (int t = 0; t < 3; t++) run_free(&R[t]);
    }
    pts_free(&P);
}

static void test_seeding_quality(void **state)
{
    (void)state;
    /* 30 tight, separated groups: k-means++ and k-means|| should find (nearly) all */
    pts_t P = make_points(12000, 30, 0.002, 3, 0);
    for (int init = TQ_KM_INIT_PP; init <= TQ_KM_INIT_PAR; init++) {
        tq_kmeans_params p;
        tq_kmeans_defaults(&p);
        p.k = 30;
        p.init = init;
        run_t R = run(&P, &p, NULL);
        assert_int_equal(R.status, TQ_OK);
        int nonempty = 0;
        for (int j = 0; j < p.k; j++) nonempty += R.r.count[j] > 0;
        assert_int_equal(nonempty, p.k);
        assert_true(R.r.seed_ndist > 0);
        run_free(&R);
    }
    pts_free(&P);
}

static void test_empty_repair(void **state)
{
    (void)state;
    int k = 10;
    pts_t P = make_points(6000, 8, 0.05, 4, 1);
    double *c0 = pick_centers(&P, k);
    /* three duplicates of center 0 and one center far from every point (the origin's
     * antipode is not a point: use a point off the sphere, inside it) */
    for (int j = 1; j <= 3; j++) memcpy(c0 + 3 * j, c0, 3 * sizeof(double));
    c0[3 * 9] = 5;
    c0[3 * 9 + 1] = 5;
    c0[3 * 9 + 2] = 5;
    tq_kmeans_params p;
    tq_kmeans_defaults(&p);
    p.k = k;
    p.init = TQ_KM_INIT_GIVEN;
    p.max_iter = 100;
    p.tol = 0;
    p.algo = TQ_KM_ALGO_REF;
    run_t ref = run(&P, &p, c0);
    p.algo = TQ_KM_ALGO_BOUNDS;
    p.adaptive = 0;
    run_t bnd = run(&P, &p, c0);
    assert_true(ref.r.repaired >= 4);
    assert_int_equal(ref.r.repaired, bnd.r.repaired);
    assert_same(&ref, &bnd, P.n, k);
    p.algo = TQ_KM_ALGO_TREE;
    run_t tre = run(&P, &p, c0);
    assert_int_equal(ref.r.repaired, tre.r.repaired);
    assert_same(&ref, &tre, P.n, k);
    run_free(&tre);
    p.algo = TQ_KM_ALGO_BOUNDS;
    for (int j = 0; j < k; j++) assert_true(ref.r.count[j] > 0);
    tq_set_threads(1);
    run_t one = run(&P, &p, c0);
    tq_set_threads(0);
    assert_same(&one, &bnd, P.n, k);
    run_free(&ref);
    run_free(&bnd);
    run_free(&one);
    free(c0);
    pts_free(&P);
}

static void test_fixed_and_ties(void **state)
{
    (void)state;
    int k = 33;
    pts_t P = make_points(7777, 20, 0.1, 8, 1);
    double *c0 = pick_centers(&P, k);
    memcpy(c0 + 3 * 20, c0 + 3 * 5, 3 * sizeof(double)); /* 20 duplicates 5 */
    tq_kmeans_params p;
    tq_kmeans_defaults(&p);
    p.k = k;
    p.fixed = 1;
    run_t R = run(&P, &p, c0);
    assert_int_equal(R.status, TQ_OK);
    assert_int_equal(R.r.iterations, 0);
    assert_memory_equal(R.r.centers, c0, k * 3 * sizeof(double));
    int32_t *lab = malloc(P.n * sizeof(int32_t));
    tq_kmeans_assign_ref(P.x, P.y, P.z, P.n, c0, k, lab);
    assert_memory_equal(lab, R.r.label, P.n * sizeof(int32_t));
    assert_int_equal(R.r.count[20], 0); /* the duplicate never wins a tie */
    assert_true(R.r.count[5] > 0);
    /* points exactly on a center pair's bisector-free tie: a point equal to a center */
    int64_t tot = 0;
    for (int j = 0; j < k; j++) tot += R.r.count[j];
    assert_int_equal(tot, P.n);
    free(lab);
    free(c0);
    run_free(&R);
    pts_free(&P);
}

/* The kd-tree path against the scalar reference on data made to stress it: tight
 * clusters, exact duplicate points (many per Morton cell, leaves above LEAF points),
 * duplicate centers and centers equal to points (exact ties in g), points on a grid of
 * equal coordinates, and n not a multiple of anything; fixed assignment and Lloyd runs,
 * bit for bit, for 1, 2 and 3 threads. */
static void test_tree_equal_reference(void **state)
{
    (void)state;
    for (int t = 0; t < 4; t++) {
        int64_t n = 15013 + 1000 * t;
        pts_t P = make_points(n, t == 0 ? 5 : 60, t == 1 ? 1e-5 : 0.03, 30 + t, t % 2);
        /* duplicates: every 7th point repeats the one 3 before; a block of one point */
        for (int64_t i = 3; i < n; i += 7) {
            P.x[i] = P.x[i - 3];
            P.y[i] = P.y[i - 3];
            P.z[i] = P.z[i - 3];
        }
        for (int64_t i = 100; i < 300; i++) {
            P.x[i] = P.x[99];
            P.y[i] = P.y[99];
            P.z[i] = P.z[99];
        }
        if (t == 3) /* a coarse grid: many equal coordinates on every axis */
            for (int64_t i = 0; i < n; i++) {
                P.x[i] = round(P.x[i] * 20) / 20;
                P.y[i] = round(P.y[i] * 20) / 20;
                P.z[i] = round(P.z[i] * 20) / 20;
            }
        int k = 10 + 45 * t;
        double *c0 = pick_centers(&P, k);
        memcpy(c0 + 3 * (k - 1), c0 + 3, 3 * sizeof(double)); /* duplicate center */
        memcpy(c0 + 3 * (k - 2), c0 + 3, 3 * sizeof(double));
        memcpy(c0 + 3 * 2, &P.x[99], sizeof(double));        /* center on the duplicates */
        memcpy(c0 + 3 * 2 + 1, &P.y[99], sizeof(double));
        memcpy(c0 + 3 * 2 + 2, &P.z[99], sizeof(double));
        int32_t *lab = malloc(n * sizeof(int32_t));
        tq_kmeans_assign_ref(P.x, P.y, P.z, n, c0, k, lab);
        tq_kmeans_params p;
        tq_kmeans_defaults(&p);
        p.k = k;
        p.algo = TQ_KM_ALGO_TREE;
        p.fixed = 1;
        run_t f = run(&P, &p, c0);
        assert_int_equal(f.status, TQ_OK);
        assert_memory_equal(f.r.label, lab, n * sizeof(int32_t));
        assert_int_equal(f.r.count[k - 1], 0); /* duplicates never win a tie */
        assert_int_equal(f.r.count[k - 2], 0);
        p.fixed = 0;
        p.init = TQ_KM_INIT_GIVEN;
        p.max_iter = 30;
        p.tol = 0;
        p.algo = TQ_KM_ALGO_REF;
        run_t ref = run(&P, &p, c0);
        p.algo = TQ_KM_ALGO_TREE;
        for (int th = 1; th <= 3; th++) {
            tq_set_threads(th);
            run_t tre = run(&P, &p, c0);
            assert_same(&ref, &tre, n, k);
            run_free(&tre);
        }
        tq_set_threads(0);
        tq_kmeans_assign_ref(P.x, P.y, P.z, n, ref.r.centers, k, lab);
        assert_memory_equal(lab, ref.r.label, n * sizeof(int32_t));
        run_free(&ref);
        run_free(&f);
        free(lab);
        free(c0);
        pts_free(&P);
    }
}

/* Many labels change at once (centers start in one corner of the data): the tree path
 * fills its shared change buffer, stops recording and the sums are formed again; later
 * passes move single points. Bit for bit the reference, 1 and 3 threads. */
static void test_tree_many_changes(void **state)
{
    (void)state;
    int64_t n = 60001;
    int k = 40;
    pts_t P = make_points(n, 80, 0.05, 77, 1);
    double *c0 = malloc(k * 3 * sizeof(double));
    for (int j = 0; j < k; j++) { /* k points near point 0 */
        c0[3 * j] = P.x[0] + 1e-3 * j;
        c0[3 * j + 1] = P.y[0] - 1e-3 * (j % 5);
        c0[3 * j + 2] = P.z[0];
    }
    tq_kmeans_params p;
    tq_kmeans_defaults(&p);
    p.k = k;
    p.init = TQ_KM_INIT_GIVEN;
    p.max_iter = 25;
    p.tol = 0;
    p.algo = TQ_KM_ALGO_REF;
    run_t ref = run(&P, &p, c0);
    p.algo = TQ_KM_ALGO_TREE;
    for (int th = 1; th <= 3; th += 2) {
        tq_set_threads(th);
        run_t tre = run(&P, &p, c0);
        assert_same(&ref, &tre, n, k);
        run_free(&tre);
    }
    tq_set_threads(0);
    run_free(&ref);
    free(c0);
    pts_free(&P);
}

static void test_bad_input(void **state)
{
    (void)state;
    tq_kmeans_params p;
    tq_kmeans_defaults(&p);
    assert_null(tq_kmeans_check(&p));
    p.k = 0;
    assert_non_null(tq_kmeans_check(&p));
    tq_kmeans_defaults(&p);
    p.tol = NAN;
    assert_non_null(tq_kmeans_check(&p));
    tq_kmeans_defaults(&p);
    p.max_iter = -1;
    assert_non_null(tq_kmeans_check(&p));

    pts_t P = make_points(100, 3, 0.1, 1, 1);
    tq_kmeans_defaults(&p);
    p.k = 101; /* k > n */
    run_t R = run(&P, &p, NULL);
    assert_int_equal(R.status, TQ_EINVAL);
    run_free(&R);
    p.k = 3;
    for (int64_t i = 0; i < P.n; i++) P.w[i] = 0;
    R = run(&P, &p, NULL);
    assert_int_equal(R.status, TQ_EINVAL);
    run_free(&R);
    pts_free(&P);
}

static void test_latlon_roundtrip(void **state)
{
    (void)state;
    for (int i = 0; i < 100; i++) {
        double lat = -89 + 178 * tq_rand_uniform(1, 1, i), lon = -179 + 358 * tq_rand_uniform(1, 2, i);
        double x, y, z, la, lo;
        tq_latlon_to_xyz(lat, lon, &x, &y, &z);
        assert_true(fabs(x * x + y * y + z * z - 1) < 1e-15);
        tq_xyz_to_latlon(2 * x, 2 * y, 2 * z, &la, &lo);
        assert_true(fabs(la - lat) < 1e-9 && fabs(lo - lon) < 1e-9);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds_equal_reference),
        cmocka_unit_test(test_dense_near_ties),
        cmocka_unit_test(test_centers_are_means),
        cmocka_unit_test(test_weights_equal_replicas),
        cmocka_unit_test(test_threads_bit_identical),
        cmocka_unit_test(test_seeding_quality),
        cmocka_unit_test(test_empty_repair),
        cmocka_unit_test(test_fixed_and_ties),
        cmocka_unit_test(test_tree_equal_reference),
        cmocka_unit_test(test_tree_many_changes),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_latlon_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
