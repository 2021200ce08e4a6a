/* tq_kmeans.c: exact, deterministic, parallel weighted Lloyd k-means at d = 3.
 * (docs/kmeans.md has the same in prose.)
 *
 * One Lloyd iteration = an update (centers := weighted means of their points) followed by
 * an assignment pass (labels := argmin_j g_j(x), g_j(x) = ||c_j||^2 - 2 x.c_j, ties to the
 * lowest j). The assignment pass also keeps, per block, the sums the next update needs
 * (sum w*x, sum w, count, sum w*||x||^2), moving only the points whose label changed.
 *
 * Assignment passes:
 *  - kd-tree filtering of centers (TQ_KM_ALGO_TREE, the default; Kanungo et al. 2002):
 *    the rank's points in a Morton-ordered tree with exact bounding boxes; a walk drops,
 *    per node, the centers that lie beyond a bisector with the candidate nearest to the
 *    box for the whole box (with a rounding margin), labels a node with one candidate
 *    at once and evaluates g only in leaves with several (see the section below).
 *  - brute force (TQ_KM_ALGO_BOUNDS: the first pass; TQ_KM_ALGO_BRUTE; and any pass where the cost model
 *    expects it to be cheaper): a float filter (16 lanes: 3 FMAs and a min per center
 *    per 16 points, points in registers, centers in groups of 16) finds the winning
 *    group and the second-best group minimum; the winning group is rescanned in double
 *    with the same fused multiply-adds as every other path (tq_kmeans_g), or, when the
 *    groups are within the float error bound of each other, the point is scanned in
 *    double against all centers. So the label is bit-identical to the scalar reference.
 *  - bounded (TQ_KM_ALGO_BOUNDS): per point an upper bound u to its own center, a lower
 *    bound l2 to its runner-up b2 and l3 to every other center (Hamerly 2010, "Making
 *    k-means even faster", SDM; the runner-up bound is Elkan's kept for one center),
 *    moved by the center drifts after each update (l3 by the largest drift among the
 *    center's neighbor list, capped by what the list proves about the rest). The test
 *    runs branch-free over chunks; a failing point gets its exact u, and if it still
 *    fails, the only possible winners lie within 2u of its center: they come from the
 *    center's list of nearest centers sorted by distance (Exponion, Newling & Fleuret
 *    2016, "Fast k-means with accurate bounds", ICML), scanned on until the bounds are
 *    exact again; a full scan when the ball reaches beyond the list.
 *
 * Exactness of skipping: bounds are on true (real-number) distances; a center is skipped
 * only if lower^2 > upper^2 + 4*gs with margins sd on both sides (safe_gt), where gs
 * bounds the rounding error of g + ||x||^2 and sd the error accumulated by the bound
 * arithmetic; float copies of bounds are rounded outward. So a skipped center always has
 * a strictly larger computed g, and the chosen label is the brute-force one.
 *
 * Determinism: per-block sums updated in row order (or formed again from scratch when
 * more than n/10 labels changed, the same rule in every path) and combined in block order (only
 * the columns of clusters that changed; tq_comm_sum_blocks under MPI); integer counters
 * summed exactly; seeding draws from the counter-based RNG keyed by global row and step;
 * every rank makes the same decisions (including bounded vs brute force) from the same
 * reduced values. */
#include "tq_kmeans.h"

#include <float.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

#define GROUP 16 /* centers per group in the brute-force pass */
#define TILE 32  /* points per register tile in the brute-force pass */
#define NEAR 6   /* neighbors whose drift the "all others" bound follows one by one */

void tq_kmeans_defaults(tq_kmeans_params *p)
{
    p->k = 8;                 /* clusters */
    p->max_iter = 100;        /* center updates at most */
    p->progress = NULL;       /* no progress bar */
    p->progress_ctx = NULL;
    p->tol = 1e-6;            /* relative inertia decrease that counts as converged */
    p->seed = 42;             /* RNG seed for seeding */
    p->init = TQ_KM_INIT_PP;  /* k-means++ */
    p->algo = TQ_KM_ALGO_TREE; /* kd-tree filtering of centers every pass */
    p->fixed = 0;             /* centers move */
    p->par_rounds = 5;        /* k-means|| rounds (Bahmani et al. 2012) */
    p->par_oversample = 1.0;  /* k-means||: k expected candidates per round */
    p->neighbors = 48;        /* sorted neighbor list per center (Exponion search) */
    p->adaptive = 1;          /* per pass, bounds or brute force, whichever looks cheaper */
}

const char *tq_kmeans_check(const tq_kmeans_params *p)
{
    if (!p) return "kmeans: no parameters";
    if (p->k < 1) return "kmeans: k must be at least 1";
    if (p->max_iter < 0 || p->max_iter > 1000000) return "kmeans: max_iter must be in [0, 1e6]";
    if (!(p->tol >= 0) || !isfinite(p->tol)) return "kmeans: tol must be finite and >= 0";
    if (p->init < TQ_KM_INIT_PP || p->init > TQ_KM_INIT_GIVEN) return "kmeans: unknown init";
    if (p->algo < TQ_KM_ALGO_BOUNDS || p->algo > TQ_KM_ALGO_TREE) return "kmeans: unknown algo";
    if (p->par_rounds < 1 || p->par_rounds > 100) return "kmeans: par_rounds must be in [1, 100]";
    if (!(p->par_oversample > 0) || !isfinite(p->par_oversample))
        return "kmeans: par_oversample must be > 0";
    if (p->neighbors < 1 || p->neighbors > 4096) return "kmeans: neighbors must be in [1, 4096]";
    return NULL;
}

void tq_kmeans_result_free(tq_kmeans_result *r)
{
    if (!r) return;
    free(r->iter_time);
    free(r->iter_inertia);
    free(r->iter_ndist);
    r->iter_time = r->iter_inertia = NULL;
    r->iter_ndist = NULL;
}

void tq_latlon_to_xyz(double lat, double lon, double *x, double *y, double *z)
{
    double la = lat * (M_PI / 180.0), lo = lon * (M_PI / 180.0);
    *x = cos(la) * cos(lo);
    *y = cos(la) * sin(lo);
    *z = sin(la);
}

void tq_xyz_to_latlon(double x, double y, double z, double *lat, double *lon)
{
    double h = hypot(x, y);
    *lat = atan2(z, h) * (180.0 / M_PI);
    *lon = (h > 0 ? atan2(y, x) : 0.0) * (180.0 / M_PI);
}

/* Large working arrays: 2 MiB aligned and marked for transparent huge pages where the
 * system offers them (madvise mode), so first touching them costs one page fault per
 * 2 MiB instead of per 4 KiB (slow on virtual machines). Free with free(). */
static void *big_alloc(size_t bytes)
{
    size_t al = (size_t)2 << 20;
    if (bytes < al) return malloc(bytes > 0 ? bytes : 1);
    size_t sz = (bytes + al - 1) / al * al;
    void *p = NULL;
    if (posix_memalign(&p, al, sz) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, sz, MADV_HUGEPAGE); /* a hint: failure is harmless */
#endif
    return p;
}

/* ---- centers in the layout the passes use --------------------------------------------- */
typedef struct {
    int k, kp;                    /* clusters, k padded to a multiple of GROUP */
    double *c;                    /* k x 3 row-major (the centers themselves) */
    double *m2x, *m2y, *m2z, *c2; /* kp each: -2c and ||c||^2; padding has c2 = +inf */
    double *q4;                   /* k x 4: the same per center in one 32-byte record, for
                                   * the scattered lookups of the bounded pass */
    float *fm2x, *fm2y, *fm2z, *fc2; /* kp each: float copies for the brute-force filter */
    double smax;                  /* max ||x||^2 of the points (>= 1) */
    double ferr;                  /* bound on |g in float - g in double|, or 0: no filter */
    double tmargin;               /* kd-tree filter: a bisector test value above this
                                   * proves a strictly larger computed g (see tree_visit) */
} centers_t;

static void centers_free(centers_t *C)
{
    free(C->c);
    free(C->m2x);
    free(C->m2y);
    free(C->m2z);
    free(C->c2);
    free(C->q4);
    free(C->fm2x);
    free(C->fm2y);
    free(C->fm2z);
    free(C->fc2);
    memset(C, 0, sizeof *C);
}

static int centers_alloc(centers_t *C, int k)
{
    memset(C, 0, sizeof *C);
    C->k = k;
    C->kp = (k + GROUP - 1) / GROUP * GROUP;
    C->c = malloc((size_t)k * 3 * sizeof(double));
    C->m2x = aligned_alloc(64, (size_t)C->kp * sizeof(double));
    C->m2y = aligned_alloc(64, (size_t)C->kp * sizeof(double));
    C->m2z = aligned_alloc(64, (size_t)C->kp * sizeof(double));
    C->c2 = aligned_alloc(64, (size_t)C->kp * sizeof(double));
    C->q4 = aligned_alloc(64, (size_t)C->kp * 4 * sizeof(double));
    C->fm2x = aligned_alloc(64, (size_t)C->kp * sizeof(float) + 64);
    C->fm2y = aligned_alloc(64, (size_t)C->kp * sizeof(float) + 64);
    C->fm2z = aligned_alloc(64, (size_t)C->kp * sizeof(float) + 64);
    C->fc2 = aligned_alloc(64, (size_t)C->kp * sizeof(float) + 64);
    C->smax = 1;
    if (!C->c || !C->m2x || !C->m2y || !C->m2z || !C->c2 || !C->q4 || !C->fm2x || !C->fm2y ||
        !C->fm2z || !C->fc2) {
        centers_free(C);
        return TQ_ENOMEM;
    }
    return TQ_OK;
}

/* Recompute the SoA arrays from C->c. ||c||^2 is rounded once here and shared by every
 * path, so all paths evaluate the same g. */
static void centers_prepare(centers_t *C)
{
    double cmax = 0;
    for (int j = 0; j < C->kp; j++) {
        if (j < C->k) {
            const double *c = C->c + 3 * j;
            C->m2x[j] = -2.0 * c[0];
            C->m2y[j] = -2.0 * c[1];
            C->m2z[j] = -2.0 * c[2];
            C->c2[j] = fma(c[2], c[2], fma(c[1], c[1], c[0] * c[0]));
            C->q4[4 * j] = C->m2x[j];
            C->q4[4 * j + 1] = C->m2y[j];
            C->q4[4 * j + 2] = C->m2z[j];
            C->q4[4 * j + 3] = C->c2[j];
            if (C->c2[j] > cmax) cmax = C->c2[j];
        } else {
            C->m2x[j] = C->m2y[j] = C->m2z[j] = 0.0;
            C->c2[j] = INFINITY;
        }
        C->fm2x[j] = (float)C->m2x[j];
        C->fm2y[j] = (float)C->m2y[j];
        C->fm2z[j] = (float)C->m2z[j];
        C->fc2[j] = (float)C->c2[j];
    }
    /* Float evaluation of g: inputs rounded to float (relative 2^-24 each: c2 and the
     * products x_i * (-2c_i), 1 + 2*2 units) and three fused operations on partial sums
     * bounded by (|x| + |c|)^2 (3*3 units), so |g_float - g_double| <= 14 * 2^-24 *
     * (|x| + |c|)^2 < 1e-6 * (|x| + |c|)^2, which is used. Huge coordinates (float overflow) or k beyond float group numbers: no
     * filter. */
    double mag = sqrt(C->smax) + sqrt(cmax);
    /* The computed g differs from c2 + m2.x (real arithmetic, stored values) by three
     * roundings of partial sums below cmax + 2 sqrt(3 cmax smax) < 3 (cmax + smax), so
     * by < 1e-15 (cmax + smax); the bisector value of tree_visit is evaluated with error
     * < 1e-14 (cmax + smax). 1e-13 covers both centers and the evaluation. */
    C->tmargin = 1e-13 * (C->smax + cmax);
    C->ferr = (mag < 1e15 && C->kp < (1 << 23)) ? 1e-6 * mag * mag : 0.0;
}

static inline double g_of(const centers_t *C, int j, double x, double y, double z)
{
    const double *q = C->q4 + 4 * (size_t)j;
    return tq_kmeans_g(x, y, z, q[0], q[1], q[2], q[3]);
}

void tq_kmeans_assign_ref(const double *x, const double *y, const double *z, int64_t m,
                          const double *centers, int k, int32_t *label)
{
    for (int64_t i = 0; i < m; i++) {
        double best = INFINITY;
        int32_t bi = 0;
        for (int j = 0; j < k; j++) {
            const double *c = centers + 3 * j;
            double c2 = fma(c[2], c[2], fma(c[1], c[1], c[0] * c[0]));
            double g = tq_kmeans_g(x[i], y[i], z[i], -2.0 * c[0], -2.0 * c[1], -2.0 * c[2], c2);
            if (g < best) {
                best = g;
                bi = j;
            }
        }
        label[i] = bi;
    }
}

/* ---- brute force: m points, labels and best g --------------------------------------- */
#ifdef __AVX512F__
/* One tile of TILE points (px.. hold TILE values) against all centers. */
static void brute_tile(const double *px, const double *py, const double *pz, const centers_t *C,
                       int32_t *lab, double *gbest, int32_t *sec, double *g2, double *g3)
{
    __m512d x0 = _mm512_loadu_pd(px), x1 = _mm512_loadu_pd(px + 8);
    __m512d x2 = _mm512_loadu_pd(px + 16), x3 = _mm512_loadu_pd(px + 24);
    __m512d y0 = _mm512_loadu_pd(py), y1 = _mm512_loadu_pd(py + 8);
    __m512d y2 = _mm512_loadu_pd(py + 16), y3 = _mm512_loadu_pd(py + 24);
    __m512d z0 = _mm512_loadu_pd(pz), z1 = _mm512_loadu_pd(pz + 8);
    __m512d z2 = _mm512_loadu_pd(pz + 16), z3 = _mm512_loadu_pd(pz + 24);
    __m512d inf = _mm512_set1_pd(INFINITY);
    __m512d b0 = inf, b1 = inf, b2 = inf, b3 = inf;
    __m512d q0 = _mm512_setzero_pd(), q1 = q0, q2 = q0, q3 = q0;
    __m512d s0 = inf, s1 = inf, s2 = inf, s3 = inf; /* second-smallest group minimum */
    for (int g0 = 0; g0 < C->kp; g0 += GROUP) {
        __m512d m0 = inf, m1 = inf, m2 = inf, m3 = inf;
        for (int j = g0; j < g0 + GROUP; j++) {
            __m512d ax = _mm512_set1_pd(C->m2x[j]), ay = _mm512_set1_pd(C->m2y[j]);
            __m512d az = _mm512_set1_pd(C->m2z[j]), ac = _mm512_set1_pd(C->c2[j]);
            __m512d t0 = _mm512_fmadd_pd(x0, ax, ac), t1 = _mm512_fmadd_pd(x1, ax, ac);
            __m512d t2 = _mm512_fmadd_pd(x2, ax, ac), t3 = _mm512_fmadd_pd(x3, ax, ac);
            t0 = _mm512_fmadd_pd(y0, ay, t0);
            t1 = _mm512_fmadd_pd(y1, ay, t1);
            t2 = _mm512_fmadd_pd(y2, ay, t2);
            t3 = _mm512_fmadd_pd(y3, ay, t3);
            t0 = _mm512_fmadd_pd(z0, az, t0);
            t1 = _mm512_fmadd_pd(z1, az, t1);
            t2 = _mm512_fmadd_pd(z2, az, t2);
            t3 = _mm512_fmadd_pd(z3, az, t3);
            m0 = _mm512_min_pd(m0, t0);
            m1 = _mm512_min_pd(m1, t1);
            m2 = _mm512_min_pd(m2, t2);
            m3 = _mm512_min_pd(m3, t3);
        }
        s0 = _mm512_min_pd(s0, _mm512_max_pd(b0, m0));
        s1 = _mm512_min_pd(s1, _mm512_max_pd(b1, m1));
        s2 = _mm512_min_pd(s2, _mm512_max_pd(b2, m2));
        s3 = _mm512_min_pd(s3, _mm512_max_pd(b3, m3));
        /* strictly smaller: an earlier group keeps a tie (lowest index wins) */
        __m512d gq = _mm512_set1_pd((double)g0);
        __mmask8 k0 = _mm512_cmp_pd_mask(m0, b0, _CMP_LT_OQ);
        __mmask8 k1 = _mm512_cmp_pd_mask(m1, b1, _CMP_LT_OQ);
        __mmask8 k2 = _mm512_cmp_pd_mask(m2, b2, _CMP_LT_OQ);
        __mmask8 k3 = _mm512_cmp_pd_mask(m3, b3, _CMP_LT_OQ);
        b0 = _mm512_mask_blend_pd(k0, b0, m0);
        b1 = _mm512_mask_blend_pd(k1, b1, m1);
        b2 = _mm512_mask_blend_pd(k2, b2, m2);
        b3 = _mm512_mask_blend_pd(k3, b3, m3);
        q0 = _mm512_mask_blend_pd(k0, q0, gq);
        q1 = _mm512_mask_blend_pd(k1, q1, gq);
        q2 = _mm512_mask_blend_pd(k2, q2, gq);
        q3 = _mm512_mask_blend_pd(k3, q3, gq);
    }
    double bb[TILE], qq[TILE], ss[TILE];
    _mm512_storeu_pd(ss, s0);
    _mm512_storeu_pd(ss + 8, s1);
    _mm512_storeu_pd(ss + 16, s2);
    _mm512_storeu_pd(ss + 24, s3);
    _mm512_storeu_pd(bb, b0);
    _mm512_storeu_pd(bb + 8, b1);
    _mm512_storeu_pd(bb + 16, b2);
    _mm512_storeu_pd(bb + 24, b3);
    _mm512_storeu_pd(qq, q0);
    _mm512_storeu_pd(qq + 8, q1);
    _mm512_storeu_pd(qq + 16, q2);
    _mm512_storeu_pd(qq + 24, q3);
    /* rescan the winning group: the first center whose g equals the minimum */
    for (int i = 0; i < TILE; i++) {
        int g0 = (int)qq[i];
        __m512d vx = _mm512_set1_pd(px[i]), vy = _mm512_set1_pd(py[i]);
        __m512d vz = _mm512_set1_pd(pz[i]), vb = _mm512_set1_pd(bb[i]);
        __m512d t0 = _mm512_fmadd_pd(vx, _mm512_load_pd(C->m2x + g0), _mm512_load_pd(C->c2 + g0));
        __m512d t1 = _mm512_fmadd_pd(vx, _mm512_load_pd(C->m2x + g0 + 8),
                                     _mm512_load_pd(C->c2 + g0 + 8));
        t0 = _mm512_fmadd_pd(vy, _mm512_load_pd(C->m2y + g0), t0);
        t1 = _mm512_fmadd_pd(vy, _mm512_load_pd(C->m2y + g0 + 8), t1);
        t0 = _mm512_fmadd_pd(vz, _mm512_load_pd(C->m2z + g0), t0);
        t1 = _mm512_fmadd_pd(vz, _mm512_load_pd(C->m2z + g0 + 8), t1);
        unsigned mk = (unsigned)_mm512_cmp_pd_mask(t0, vb, _CMP_EQ_OQ) |
                      ((unsigned)_mm512_cmp_pd_mask(t1, vb, _CMP_EQ_OQ) << 8);
        int pos = mk ? __builtin_ctz(mk) : 0;
        lab[i] = g0 + pos;
        gbest[i] = bb[i];
        if (sec) {
            /* runner-up and third inside the winning group (exact); every other group
             * is bounded below by the second-smallest group minimum ss */
            double tt[GROUP];
            _mm512_storeu_pd(tt, t0);
            _mm512_storeu_pd(tt + 8, t1);
            tt[pos] = INFINITY;
            double v2 = INFINITY, v3 = INFINITY;
            int p2 = -1;
            for (int e = 0; e < GROUP; e++) {
                if (tt[e] < v2) {
                    v3 = v2;
                    v2 = tt[e];
                    p2 = e;
                } else if (tt[e] < v3) {
                    v3 = tt[e];
                }
            }
            sec[i] = p2 >= 0 && g0 + p2 < C->k ? g0 + p2 : lab[i];
            g2[i] = v2;
            g3[i] = v3 < ss[i] ? v3 : ss[i];
        }
    }
}
#endif

#ifdef __AVX512F__
#define FTILE 64 /* points per register tile in the float filter */
#define TQ_KM_MAXGR 2048 /* groups (k <= 32768) tracked per tile for near ties */
/* Exact labels of FTILE points through a float filter: the float pass (16 lanes, 3 FMAs
 * and a min per center per 16 points) finds for each point the group of 16 centers with
 * the smallest float g and the second-smallest group minimum. Float and double g differ
 * by at most e = C->ferr, so when the second group's minimum exceeds the best by more
 * than 2e no center outside the winning group can have the smallest double g: the group
 * is rescanned in double (the same FMAs as everywhere), which gives the exact label,
 * ties to the lowest index. Otherwise (a near tie between groups) the point is scanned
 * in double against all centers. */
static void brute_tile_f(const double *px, const double *py, const double *pz,
                         const centers_t *C, int32_t *lab, double *gbest, int32_t *sec,
                         double *g2, double *g3)
{
    float fx[FTILE], fy[FTILE], fz[FTILE];
    for (int i = 0; i < FTILE; i++) {
        fx[i] = (float)px[i];
        fy[i] = (float)py[i];
        fz[i] = (float)pz[i];
    }
    __m512 x0 = _mm512_loadu_ps(fx), x1 = _mm512_loadu_ps(fx + 16);
    __m512 x2 = _mm512_loadu_ps(fx + 32), x3 = _mm512_loadu_ps(fx + 48);
    __m512 y0 = _mm512_loadu_ps(fy), y1 = _mm512_loadu_ps(fy + 16);
    __m512 y2 = _mm512_loadu_ps(fy + 32), y3 = _mm512_loadu_ps(fy + 48);
    __m512 z0 = _mm512_loadu_ps(fz), z1 = _mm512_loadu_ps(fz + 16);
    __m512 z2 = _mm512_loadu_ps(fz + 32), z3 = _mm512_loadu_ps(fz + 48);
    __m512 inf = _mm512_set1_ps(INFINITY);
    __m512 b0 = inf, b1 = inf, b2 = inf, b3 = inf, s0 = inf, s1 = inf, s2 = inf, s3 = inf;
    __m512 q0 = _mm512_setzero_ps(), q1 = q0, q2 = q0, q3 = q0;
    /* per group and point: could the group hold the double minimum? (its float minimum
     * within 2e of the best so far, with margin; the best only falls, so this is a
     * superset of the groups that can) */
    const int ngr = C->kp / GROUP, track = ngr <= TQ_KM_MAXGR;
    /* 2.5e: 2e, plus 0.5e > the rounding of the float sum best + e2 (|g| <= mag^2) */
    const __m512 e2 = _mm512_set1_ps((float)(2.5 * C->ferr));
    uint16_t cand[TQ_KM_MAXGR][4];
    for (int g0 = 0; g0 < C->kp; g0 += GROUP) {
        __m512 m0 = inf, m1 = inf, m2 = inf, m3 = inf;
        for (int j = g0; j < g0 + GROUP; j++) {
            __m512 ax = _mm512_set1_ps(C->fm2x[j]), ay = _mm512_set1_ps(C->fm2y[j]);
            __m512 az = _mm512_set1_ps(C->fm2z[j]), ac = _mm512_set1_ps(C->fc2[j]);
            __m512 t0 = _mm512_fmadd_ps(x0, ax, ac), t1 = _mm512_fmadd_ps(x1, ax, ac);
            __m512 t2 = _mm512_fmadd_ps(x2, ax, ac), t3 = _mm512_fmadd_ps(x3, ax, ac);
            t0 = _mm512_fmadd_ps(y0, ay, t0);
            t1 = _mm512_fmadd_ps(y1, ay, t1);
            t2 = _mm512_fmadd_ps(y2, ay, t2);
            t3 = _mm512_fmadd_ps(y3, ay, t3);
            t0 = _mm512_fmadd_ps(z0, az, t0);
            t1 = _mm512_fmadd_ps(z1, az, t1);
            t2 = _mm512_fmadd_ps(z2, az, t2);
            t3 = _mm512_fmadd_ps(z3, az, t3);
            m0 = _mm512_min_ps(m0, t0);
            m1 = _mm512_min_ps(m1, t1);
            m2 = _mm512_min_ps(m2, t2);
            m3 = _mm512_min_ps(m3, t3);
        }
        s0 = _mm512_min_ps(s0, _mm512_max_ps(b0, m0));
        s1 = _mm512_min_ps(s1, _mm512_max_ps(b1, m1));
        s2 = _mm512_min_ps(s2, _mm512_max_ps(b2, m2));
        s3 = _mm512_min_ps(s3, _mm512_max_ps(b3, m3));
        if (track) {
            int gi = g0 / GROUP;
            cand[gi][0] = _mm512_cmp_ps_mask(m0, _mm512_add_ps(_mm512_min_ps(b0, m0), e2), _CMP_LE_OQ);
            cand[gi][1] = _mm512_cmp_ps_mask(m1, _mm512_add_ps(_mm512_min_ps(b1, m1), e2), _CMP_LE_OQ);
            cand[gi][2] = _mm512_cmp_ps_mask(m2, _mm512_add_ps(_mm512_min_ps(b2, m2), e2), _CMP_LE_OQ);
            cand[gi][3] = _mm512_cmp_ps_mask(m3, _mm512_add_ps(_mm512_min_ps(b3, m3), e2), _CMP_LE_OQ);
        }
        __m512 gq = _mm512_set1_ps((float)g0);
        __mmask16 k0 = _mm512_cmp_ps_mask(m0, b0, _CMP_LT_OQ);
        __mmask16 k1 = _mm512_cmp_ps_mask(m1, b1, _CMP_LT_OQ);
        __mmask16 k2 = _mm512_cmp_ps_mask(m2, b2, _CMP_LT_OQ);
        __mmask16 k3 = _mm512_cmp_ps_mask(m3, b3, _CMP_LT_OQ);
        b0 = _mm512_mask_blend_ps(k0, b0, m0);
        b1 = _mm512_mask_blend_ps(k1, b1, m1);
        b2 = _mm512_mask_blend_ps(k2, b2, m2);
        b3 = _mm512_mask_blend_ps(k3, b3, m3);
        q0 = _mm512_mask_blend_ps(k0, q0, gq);
        q1 = _mm512_mask_blend_ps(k1, q1, gq);
        q2 = _mm512_mask_blend_ps(k2, q2, gq);
        q3 = _mm512_mask_blend_ps(k3, q3, gq);
    }
    float bb[FTILE], qq[FTILE], ss[FTILE];
    _mm512_storeu_ps(bb, b0);
    _mm512_storeu_ps(bb + 16, b1);
    _mm512_storeu_ps(bb + 32, b2);
    _mm512_storeu_ps(bb + 48, b3);
    _mm512_storeu_ps(qq, q0);
    _mm512_storeu_ps(qq + 16, q1);
    _mm512_storeu_ps(qq + 32, q2);
    _mm512_storeu_ps(qq + 48, q3);
    _mm512_storeu_ps(ss, s0);
    _mm512_storeu_ps(ss + 16, s1);
    _mm512_storeu_ps(ss + 32, s2);
    _mm512_storeu_ps(ss + 48, s3);
    const double e = C->ferr;
    int tie[FTILE], ntie = 0;
    for (int i = 0; i < FTILE; i++) {
        double v1, v2 = INFINITY, v3 = INFINITY;
        int32_t b, p2 = -1;
        if (!sec && (double)ss[i] - (double)bb[i] > 2 * e) {
            /* only the label: the candidates are the centers of the winning group whose
             * float g is within 2e of the best (every tie in double is among them); the
             * float g are recomputed bit for bit as in the tile, then checked in double */
            int g0 = (int)qq[i];
            __m512 tf = _mm512_fmadd_ps(_mm512_set1_ps(fx[i]), _mm512_load_ps(C->fm2x + g0),
                                        _mm512_load_ps(C->fc2 + g0));
            tf = _mm512_fmadd_ps(_mm512_set1_ps(fy[i]), _mm512_load_ps(C->fm2y + g0), tf);
            tf = _mm512_fmadd_ps(_mm512_set1_ps(fz[i]), _mm512_load_ps(C->fm2z + g0), tf);
            double th = (double)bb[i] + 2 * e;
            float thr = (float)(th + fabs(th) * 0x1p-22); /* rounded up, no branch */
            unsigned mk = (unsigned)_mm512_cmp_ps_mask(tf, _mm512_set1_ps(thr), _CMP_LE_OQ);
            v1 = INFINITY;
            b = g0;
            while (mk) {
                int j = g0 + __builtin_ctz(mk);
                mk &= mk - 1;
                double g = g_of(C, j, px[i], py[i], pz[i]);
                if (g < v1) {
                    v1 = g;
                    b = j;
                }
            }
        } else if ((double)ss[i] - (double)bb[i] > 2 * e) {
            int g0 = (int)qq[i];
            __m512d vx = _mm512_set1_pd(px[i]), vy = _mm512_set1_pd(py[i]);
            __m512d vz = _mm512_set1_pd(pz[i]);
            __m512d t0 = _mm512_fmadd_pd(vx, _mm512_load_pd(C->m2x + g0),
                                         _mm512_load_pd(C->c2 + g0));
            __m512d t1 = _mm512_fmadd_pd(vx, _mm512_load_pd(C->m2x + g0 + 8),
                                         _mm512_load_pd(C->c2 + g0 + 8));
            t0 = _mm512_fmadd_pd(vy, _mm512_load_pd(C->m2y + g0), t0);
            t1 = _mm512_fmadd_pd(vy, _mm512_load_pd(C->m2y + g0 + 8), t1);
            t0 = _mm512_fmadd_pd(vz, _mm512_load_pd(C->m2z + g0), t0);
            t1 = _mm512_fmadd_pd(vz, _mm512_load_pd(C->m2z + g0 + 8), t1);
            v1 = _mm512_reduce_min_pd(_mm512_min_pd(t0, t1));
            __m512d vb = _mm512_set1_pd(v1);
            unsigned mk = (unsigned)_mm512_cmp_pd_mask(t0, vb, _CMP_EQ_OQ) |
                          ((unsigned)_mm512_cmp_pd_mask(t1, vb, _CMP_EQ_OQ) << 8);
            int pos = mk ? __builtin_ctz(mk) : 0;
            b = g0 + pos;
            if (sec) {
                double tt[GROUP];
                _mm512_storeu_pd(tt, t0);
                _mm512_storeu_pd(tt + 8, t1);
                tt[pos] = INFINITY;
                for (int q = 0; q < GROUP; q++) {
                    if (tt[q] < v2) {
                        v3 = v2;
                        v2 = tt[q];
                        p2 = g0 + q < C->k ? g0 + q : -1;
                    } else if (tt[q] < v3) {
                        v3 = tt[q];
                    }
                }
                double out = (double)ss[i] - e; /* every other group's g is at least this */
                if (out < v3) v3 = out;
            }
        } else if (track) {
            /* near tie between groups (dense data: centers a few km apart differ in g by
             * less than the float error): every group whose float minimum came within 2e
             * of the best is rescanned in double; any other center has a double g above
             * best + e, which also bounds the third center for the bounds */
            v1 = INFINITY;
            b = 0;
            int lane = i & 15, vec = i >> 4;
            __m512d vx = _mm512_set1_pd(px[i]), vy = _mm512_set1_pd(py[i]);
            __m512d vz = _mm512_set1_pd(pz[i]);
            for (int gi = 0; gi < ngr; gi++) {
                if (!((cand[gi][vec] >> lane) & 1)) continue;
                int g0 = gi * GROUP;
                __m512d t0 = _mm512_fmadd_pd(vx, _mm512_load_pd(C->m2x + g0),
                                             _mm512_load_pd(C->c2 + g0));
                __m512d t1 = _mm512_fmadd_pd(vx, _mm512_load_pd(C->m2x + g0 + 8),
                                             _mm512_load_pd(C->c2 + g0 + 8));
                t0 = _mm512_fmadd_pd(vy, _mm512_load_pd(C->m2y + g0), t0);
                t1 = _mm512_fmadd_pd(vy, _mm512_load_pd(C->m2y + g0 + 8), t1);
                t0 = _mm512_fmadd_pd(vz, _mm512_load_pd(C->m2z + g0), t0);
                t1 = _mm512_fmadd_pd(vz, _mm512_load_pd(C->m2z + g0 + 8), t1);
                double tt[GROUP];
                _mm512_storeu_pd(tt, t0);
                _mm512_storeu_pd(tt + 8, t1);
                for (int q = 0; q < GROUP; q++) { /* increasing index: ties to the lowest */
                    double g = tt[q];
                    if (g < v1) {
                        v3 = v2;
                        v2 = v1;
                        p2 = v1 < INFINITY ? b : -1;
                        v1 = g;
                        b = g0 + q;
                    } else if (g < v2) {
                        v3 = v2;
                        v2 = g;
                        p2 = g0 + q;
                    } else if (g < v3) {
                        v3 = g;
                    }
                }
            }
            double out = (double)bb[i] + e; /* the groups not rescanned are above this */
            if (out < v3) v3 = out;
            if (p2 >= C->k) p2 = -1;
        } else {
            /* too many groups to track: the double tile below, for all centers */
            tie[ntie++] = i;
            continue;
        }
        lab[i] = b;
        gbest[i] = v1;
        if (sec) {
            sec[i] = p2 >= 0 && v2 < INFINITY ? p2 : b;
            g2[i] = v2;
            g3[i] = v3;
        }
    }
    for (int t0 = 0; t0 < ntie; t0 += TILE) {
        double tx[TILE], ty[TILE], tz[TILE], tg[TILE], t2[TILE], t3[TILE];
        int32_t tl[TILE], ts[TILE];
        for (int t = 0; t < TILE; t++) {
            int i = tie[t0 + t < ntie ? t0 + t : ntie - 1];
            tx[t] = px[i];
            ty[t] = py[i];
            tz[t] = pz[i];
        }
        brute_tile(tx, ty, tz, C, tl, tg, ts, t2, t3);
        for (int t = 0; t < TILE && t0 + t < ntie; t++) {
            int i = tie[t0 + t];
            lab[i] = tl[t];
            gbest[i] = tg[t];
            if (sec) {
                sec[i] = ts[t];
                g2[i] = t2[t];
                g3[i] = t3[t];
            }
        }
    }
}
#endif

/* Labels (lowest-index argmin of g) and best g of m points. With sec non-NULL also a
 * runner-up center sec with its g in g2, and in g3 a lower bound on the g of every
 * other center (for the bounds of the next pass). Cost m*kp evaluations. */
static void brute_rows(const double *px, const double *py, const double *pz, int64_t m,
                       const centers_t *C, int32_t *lab, double *gbest, int32_t *sec,
                       double *g2, double *g3)
{
#ifdef __AVX512F__
    int64_t i = 0;
    if (C->ferr > 0)
        for (; i + FTILE <= m; i += FTILE)
            brute_tile_f(px + i, py + i, pz + i, C, lab + i, gbest + i, sec ? sec + i : NULL,
                         sec ? g2 + i : NULL, sec ? g3 + i : NULL);
    for (; i + TILE <= m; i += TILE)
        brute_tile(px + i, py + i, pz + i, C, lab + i, gbest + i, sec ? sec + i : NULL,
                   sec ? g2 + i : NULL, sec ? g3 + i : NULL);
    if (i < m) { /* tail: pad by repeating the last point */
        double tx[TILE], ty[TILE], tz[TILE], tg[TILE], t2[TILE], t3[TILE];
        int32_t tl[TILE], ts[TILE];
        for (int t = 0; t < TILE; t++) {
            int64_t s = i + t < m ? i + t : m - 1;
            tx[t] = px[s];
            ty[t] = py[s];
            tz[t] = pz[s];
        }
        brute_tile(tx, ty, tz, C, tl, tg, ts, t2, t3);
        for (int t = 0; i + t < m; t++) {
            lab[i + t] = tl[t];
            gbest[i + t] = tg[t];
            if (sec) {
                sec[i + t] = ts[t];
                g2[i + t] = t2[t];
                g3[i + t] = t3[t];
            }
        }
    }
#else
    for (int64_t i = 0; i < m; i++) {
        double best = INFINITY, v2 = INFINITY, v3 = INFINITY;
        int32_t bi = 0, b2 = -1;
        for (int j = 0; j < C->k; j++) {
            double g = g_of(C, j, px[i], py[i], pz[i]);
            if (g < best) {
                v3 = v2;
                v2 = best;
                b2 = bi;
                best = g;
                bi = j;
            } else if (g < v2) {
                v3 = v2;
                v2 = g;
                b2 = j;
            } else if (g < v3) {
                v3 = g;
            }
        }
        lab[i] = bi;
        gbest[i] = best;
        if (sec) {
            sec[i] = b2 >= 0 && v2 < INFINITY ? b2 : bi;
            g2[i] = v2;
            g3[i] = v3;
        }
    }
#endif
}

/* ---- bounds ------------------------------------------------------------------------------ */
typedef struct {
    double sd;  /* slack on distances: rounding of bound arithmetic, chord units */
    double gs;  /* bound on |computed (g + ||x||^2) - true d^2| */
} slack_t;

/* 1 if a lower bound `lo` on the true distance to some center proves that center's
 * computed g is strictly larger than the computed g of a center whose true distance is
 * at most `up`. */
static inline int safe_gt(double lo, double up, const slack_t *s)
{
    double a = lo - s->sd, b = up + s->sd;
    return (a > 0) & (a * a > fma(b, b, 4.0 * s->gs)); /* no branch */
}

static inline double dist_up(double g, double xx, const slack_t *s)
{
    double v = g + xx + s->gs;
    return sqrt(v > 0 ? v : 0);
}
static inline double dist_lo(double g, double xx, const slack_t *s)
{
    double v = g + xx - s->gs;
    return sqrt(v > 0 ? v : 0);
}

/* Sorted lists of each center's nearest other centers (Exponion). */
typedef struct {
    int nn;        /* list length: min(k - 1, params.neighbors) */
    int32_t *idx;  /* k x nn center indices, by increasing distance */
    double *d;     /* k x nn distances */
    double *r;     /* k: lower bound on the distance of any center not in the list
                    * (inf if none); list entries may lie beyond it */
    double *s;     /* k: lower bound on the distance to the nearest other center */
    double *mdm;   /* k: largest drift, in the last update, of the NEAR nearest centers
                    * of the list (the others are bounded by their distance) */
    int valid;     /* lists hold the previous centers: nbrs_build may update them */
} nbrs_t;

static void nbrs_free(nbrs_t *N)
{
    free(N->idx);
    free(N->d);
    free(N->r);
    free(N->s);
    free(N->mdm);
    memset(N, 0, sizeof *N);
}

static int nbrs_alloc(nbrs_t *N, int k, int want)
{
    memset(N, 0, sizeof *N);
    N->nn = k - 1 < want ? k - 1 : want;
    size_t L = (size_t)k * (size_t)(N->nn > 0 ? N->nn : 1);
    N->idx = malloc(L * sizeof *N->idx);
    N->d = malloc(L * sizeof *N->d);
    N->r = malloc((size_t)k * sizeof *N->r);
    N->s = malloc((size_t)k * sizeof *N->s);
    N->mdm = malloc((size_t)k * sizeof *N->mdm);
    if (!N->idx || !N->d || !N->r || !N->s || !N->mdm) {
        nbrs_free(N);
        return TQ_ENOMEM;
    }
    return TQ_OK;
}

/* Cost k^2 squared distances (vectorized) plus a threshold selection of the nn nearest;
 * square roots only for the kept ones. Parallel over centers; each list depends only on
 * the centers, so the result is the same for any thread count. */
static int nbrs_build(nbrs_t *N, const centers_t *C, const double *drift, double pmax, int nt)
{
    int k = C->k, nn = N->nn, bad = 0;
    /* small lists are cheaper than a fork/join */
#pragma omp parallel num_threads(nt) reduction(| : bad) if ((int64_t)k * (N->valid ? nn : k) >= 100000)
    {
        double *d2 = malloc((size_t)k * sizeof *d2);
        if (!d2) bad = 1;
#pragma omp for schedule(dynamic, 16)
        for (int a = 0; a < k; a++) {
            if (!d2) continue;
            int32_t *li = N->idx + (size_t)a * nn;
            double *ld = N->d + (size_t)a * nn;
            if (N->valid && nn > 0) {
                /* Cheap update: the members' exact new distances, re-sorted; a center
                 * not in the list was at least r away and came closer by at most
                 * drift[a] + pmax. Rebuild when that bound falls below the list's middle. */
                const double *ca = C->c + 3 * a;
                for (int q = 0; q < nn; q++) {
                    const double *cj = C->c + 3 * li[q];
                    double dx = cj[0] - ca[0], dy = cj[1] - ca[1], dz = cj[2] - ca[2];
                    double dd = sqrt(fma(dz, dz, fma(dy, dy, dx * dx)));
                    int32_t jj = li[q];
                    int t = q;
                    while (t > 0 && ld[t - 1] > dd) {
                        ld[t] = ld[t - 1];
                        li[t] = li[t - 1];
                        t--;
                    }
                    ld[t] = dd;
                    li[t] = jj;
                }
                double r = N->r[a] - drift[a] - pmax;
                if (r >= ld[nn / 2]) {
                    N->r[a] = r;
                    N->s[a] = ld[0] < r ? ld[0] : r;
                    double mx = 0;
                    for (int q = 0; q < nn && q < NEAR; q++)
                        mx = drift[li[q]] > mx ? drift[li[q]] : mx;
                    N->mdm[a] = mx;
                    continue;
                }
            }
            const double ax = C->c[3 * a], ay = C->c[3 * a + 1], az = C->c[3 * a + 2];
            const double *c = C->c;
#pragma omp simd
            for (int j = 0; j < k; j++) {
                double dx = c[3 * j] - ax, dy = c[3 * j + 1] - ay, dz = c[3 * j + 2] - az;
                d2[j] = fma(dz, dz, fma(dy, dy, dx * dx));
            }
            /* max-heap of the nn smallest (ld, li), then sorted; rest = smallest
             * squared distance not kept */
            int len = 0;
            double rest = INFINITY;
            for (int j = 0; j < k; j++) {
                double dd = d2[j];
                if (j == a) continue;
                if (len < nn) { /* sift up */
                    int q = len++;
                    while (q > 0 && ld[(q - 1) / 2] < dd) {
                        ld[q] = ld[(q - 1) / 2];
                        li[q] = li[(q - 1) / 2];
                        q = (q - 1) / 2;
                    }
                    ld[q] = dd;
                    li[q] = j;
                    continue;
                }
                if (!(dd < ld[0])) {
                    if (dd < rest) rest = dd;
                    continue;
                }
                if (ld[0] < rest) rest = ld[0];
                int q = 0; /* replace the top, sift down */
                for (;;) {
                    int c1 = 2 * q + 1, c2 = c1 + 1, big = q;
                    double v = dd;
                    if (c1 < nn && ld[c1] > v) big = c1, v = ld[c1];
                    if (c2 < nn && ld[c2] > v) big = c2;
                    if (big == q) break;
                    ld[q] = ld[big];
                    li[q] = li[big];
                    q = big;
                }
                ld[q] = dd;
                li[q] = j;
            }
            for (int e = len - 1; e > 0; e--) { /* heap sort: ascending */
                double dv = ld[e];
                int32_t iv = li[e];
                ld[e] = ld[0];
                li[e] = li[0];
                int q = 0;
                for (;;) {
                    int c1 = 2 * q + 1, c2 = c1 + 1, big = q;
                    double v = dv;
                    if (c1 < e && ld[c1] > v) big = c1, v = ld[c1];
                    if (c2 < e && ld[c2] > v) big = c2;
                    if (big == q) break;
                    ld[q] = ld[big];
                    li[q] = li[big];
                    q = big;
                }
                ld[q] = dv;
                li[q] = iv;
            }
            for (int q = 0; q < len; q++) ld[q] = sqrt(ld[q]);
            N->r[a] = sqrt(rest);
            N->s[a] = len > 0 ? (ld[0] < N->r[a] ? ld[0] : N->r[a]) : N->r[a];
            double mx = 0;
            for (int q = 0; q < len && q < NEAR; q++) mx = drift[li[q]] > mx ? drift[li[q]] : mx;
            N->mdm[a] = mx;
        }
        free(d2);
    }
    N->valid = !bad;
    return bad ? TQ_ENOMEM : TQ_OK;
}


/* ---- kd-tree filtering of centers (Kanungo et al. 2002, Pelleg & Moore 1999) ----------
 * Built once per run over this rank's points: a radix sort puts them in Morton order and
 * a binary tree splits ranges of that order where the highest differing key bit flips
 * (tree_build), leaves of at most LEAF points or of one Morton cell; nodes keep the exact
 * bounding box of their points. perm maps a tree position to its local row and sx, sy,
 * sz hold the coordinates in tree order, so every node is a contiguous range. The tree only decides which distances are
 * evaluated, never a label or a sum, so it may depend on the rank's rows.
 *
 * A pass walks the tree with a candidate list: the root gets all K centers; at a node,
 * z* is the candidate nearest to the box's midpoint, and a candidate z is dropped when
 * the whole box lies on z*'s side of their bisector: the smallest value over the box of
 * the linear function ghat_z(x) - ghat_z*(x) (ghat_j(x) = c2_j + m2_j . x with the
 * stored values that g evaluates; its minimum over a box is at the vertex picked by the
 * signs of m2_z - m2_z*) exceeds tmargin, which covers the rounding of g at both centers
 * and of this evaluation. Then every point of the box has a computed g_z strictly above
 * its computed g_z*, so z is not its label; candidates that can tie are never dropped.
 * A node left with one candidate labels all its points with it; a leaf evaluates g for
 * each point over its candidates in increasing index (strict <: ties to the lowest
 * index), the same fused expression as every path, so labels are the brute-force ones.
 *
 * Labels are also kept in tree order (tl), and a node remembers the single label it
 * gave all its points in the last pass (lastz): if it gets the same single candidate
 * again, nothing under it changed and the pass does not touch its points at all. A
 * node not visited in a pass (an ancestor labelled it whole) has a stale lastz; the
 * walk passes the ancestor's knowledge down (inh) and trusts a node's own lastz only
 * when no ancestor was uniform, i.e. when the node was visited in the last pass.
 * Changed points are collected as (row, new label) and applied to the block sums in
 * row order inside each block, as every other path does, so sums stay bit-identical. */
#define LEAF 64   /* points per kd-tree leaf at most */
#define TASKS 64  /* subtrees a pass is split into for the threads */
#define CHUNK 4096 /* changed points a thread takes from the shared buffer at a time */

typedef struct {
    double lo[3], hi[3]; /* bounding box of the node's points (exact min / max) */
    int32_t s0, s1;      /* tree positions [s0, s1) */
    int32_t right;       /* index of the right child (the left is the next node); -1: leaf */
    int32_t lastz;       /* the one label of all points after the last pass, or -1 */
} knode_t;

typedef struct {
    int32_t row, old, lab; /* a changed point: local row, old and new label */
    double x, y, z;        /* its coordinates (random reads cost more than carrying them) */
} kchg_t;

typedef struct {
    const uint64_t *key; /* sorted (morton << 31 | row) */
    knode_t *nodes;    /* grows */
    int64_t nn, cap;   /* nodes used, allocated */
    int depth;         /* deepest level reached */
    int bad;           /* out of memory */
} tbuild_t;

/* Builds the shape of the subtree over tree positions [s0, s1) (sorted by Morton key)
 * and returns its node (preorder: the left child follows its parent; boxes come later,
 * tree_boxes). Inner nodes split where the highest differing key bit flips (the octree
 * cells of the Morton order, halved one axis at a time). Leaves hold at most LEAF
 * points, or any number of points of one key (a cell of 1/2048 of the box per axis,
 * about 6 km on the sphere): a leaf across a Voronoi boundary only costs more
 * evaluations per point. Depth at most 33. Cost O(nodes log n). */
static int64_t tree_build(tbuild_t *T, int64_t s0, int64_t s1, int depth)
{
    if (T->nn == T->cap) {
        int64_t nc = T->cap ? 2 * T->cap : 1024;
        knode_t *t = realloc(T->nodes, (size_t)nc * sizeof *t);
        if (!t) {
            T->bad = 1;
            return 0;
        }
        T->nodes = t;
        T->cap = nc;
    }
    int64_t me = T->nn++;
    if (depth > T->depth) T->depth = depth;
    knode_t *n = T->nodes + me;
    n->s0 = (int32_t)s0;
    n->s1 = (int32_t)s1;
    n->right = -1;
    n->lastz = -1;
    uint64_t k0 = T->key[s0] >> 31, k1 = T->key[s1 - 1] >> 31;
    if (s1 - s0 <= LEAF || k0 == k1) return me;
    uint64_t bit = (uint64_t)1 << (63 - __builtin_clzll(k0 ^ k1));
    int64_t a = s0, b = s1 - 1; /* key[a] has the bit clear, key[b] set */
    while (b - a > 1) {
        int64_t c = a + (b - a) / 2;
        if ((T->key[c] >> 31) & bit) b = c;
        else a = c;
    }
    tree_build(T, s0, b, depth + 1);
    int64_t r = tree_build(T, b, s1, depth + 1);
    if (!T->bad) T->nodes[me].right = (int32_t)r;
    return me;
}

/* Bounding boxes (exact min / max of the coordinates): leaves from their points, in
 * parallel; then inner nodes from their children, in reverse preorder (children come
 * after their parent). */
static void tree_boxes(knode_t *nodes, int64_t nn, const double *const *x, int nt)
{
#pragma omp parallel for schedule(dynamic, 256) num_threads(nt)
    for (int64_t q = 0; q < nn; q++) {
        knode_t *n = nodes + q;
        if (n->right >= 0) continue;
        for (int e = 0; e < 3; e++) {
            double lo = INFINITY, hi = -INFINITY;
            const double *v = x[e];
            for (int64_t s = n->s0; s < n->s1; s++) {
                lo = v[s] < lo ? v[s] : lo;
                hi = v[s] > hi ? v[s] : hi;
            }
            n->lo[e] = lo;
            n->hi[e] = hi;
        }
    }
    for (int64_t q = nn - 1; q >= 0; q--) {
        knode_t *n = nodes + q;
        if (n->right < 0) continue;
        const knode_t *A = nodes + q + 1, *B = nodes + n->right;
        for (int e = 0; e < 3; e++) {
            n->lo[e] = A->lo[e] < B->lo[e] ? A->lo[e] : B->lo[e];
            n->hi[e] = A->hi[e] > B->hi[e] ? A->hi[e] : B->hi[e];
        }
    }
}

/* Spreads the low 11 bits of v to every third bit (Morton interleave). */
static inline uint64_t spread3(uint64_t v)
{
    v &= 0x7ff;
    v = (v | v << 16) & 0x00ff0000ffULL;
    v = (v | v << 8) & 0x0f00f00f00fULL;
    v = (v | v << 4) & 0xc30c30c30c3ULL;
    v = (v | v << 2) & 0x249249249249ULL;
    return v;
}

/* Candidates of node n among Z[0..nz) (increasing): out gets those that may be the label
 * of some point in n's box, in increasing order; *zs the one nearest to the midpoint.
 * Returns their number. Cost 2 nz. */
static int tree_filter(const centers_t *C, const knode_t *n, const int32_t *Z, int nz,
                       int32_t *out, int32_t *zsp)
{
    double mx = 0.5 * (n->lo[0] + n->hi[0]), my = 0.5 * (n->lo[1] + n->hi[1]);
    double mz = 0.5 * (n->lo[2] + n->hi[2]);
#if defined(__AVX512F__) && defined(__AVX512VL__)
    if (nz >= 16) { /* 8 candidates per step: gathers, the same arithmetic per lane */
        __m512d vb = _mm512_set1_pd(INFINITY);
        __m256i vi = _mm256_set1_epi32(Z[0]);
        const __m512d vmx = _mm512_set1_pd(mx), vmy = _mm512_set1_pd(my),
                      vmz = _mm512_set1_pd(mz), inf = _mm512_set1_pd(INFINITY);
        for (int q = 0; q < nz; q += 8) {
            __mmask8 mk = nz - q >= 8 ? 0xff : (__mmask8)((1u << (nz - q)) - 1);
            __m256i idx = _mm256_maskz_loadu_epi32(mk, Z + q);
            __m512d g = _mm512_mask_i32gather_pd(inf, mk, idx, C->c2, 8);
            g = _mm512_fmadd_pd(vmx, _mm512_mask_i32gather_pd(inf, mk, idx, C->m2x, 8), g);
            g = _mm512_fmadd_pd(vmy, _mm512_mask_i32gather_pd(inf, mk, idx, C->m2y, 8), g);
            g = _mm512_fmadd_pd(vmz, _mm512_mask_i32gather_pd(inf, mk, idx, C->m2z, 8), g);
            __mmask8 lt = _mm512_mask_cmp_pd_mask(mk, g, vb, _CMP_LT_OQ);
            vb = _mm512_mask_blend_pd(lt, vb, g);
            vi = _mm256_mask_blend_epi32(lt, vi, idx);
        }
        double bb[8];
        int32_t bi[8];
        _mm512_storeu_pd(bb, vb);
        _mm256_storeu_si256((__m256i *)(void *)bi, vi);
        int32_t zs = bi[0];
        double best = bb[0];
        for (int e = 1; e < 8; e++)
            if (bb[e] < best) best = bb[e], zs = bi[e];
        /* the bisector test for 8 candidates at a time; kept ones compressed out */
        const __m512d sx = _mm512_set1_pd(C->m2x[zs]), sy = _mm512_set1_pd(C->m2y[zs]);
        const __m512d sz = _mm512_set1_pd(C->m2z[zs]), sc = _mm512_set1_pd(C->c2[zs]);
        const __m512d lx = _mm512_set1_pd(n->lo[0]), ly = _mm512_set1_pd(n->lo[1]);
        const __m512d lz = _mm512_set1_pd(n->lo[2]), hx = _mm512_set1_pd(n->hi[0]);
        const __m512d hy = _mm512_set1_pd(n->hi[1]), hz = _mm512_set1_pd(n->hi[2]);
        const __m512d mg = _mm512_set1_pd(C->tmargin), zero = _mm512_setzero_pd();
        const __m256i vzs = _mm256_set1_epi32(zs);
        int nn = 0;
        for (int q = 0; q < nz; q += 8) {
            __mmask8 mk = nz - q >= 8 ? 0xff : (__mmask8)((1u << (nz - q)) - 1);
            __m256i idx = _mm256_maskz_loadu_epi32(mk, Z + q);
            __m512d dx = _mm512_sub_pd(_mm512_mask_i32gather_pd(zero, mk, idx, C->m2x, 8), sx);
            __m512d dy = _mm512_sub_pd(_mm512_mask_i32gather_pd(zero, mk, idx, C->m2y, 8), sy);
            __m512d dz = _mm512_sub_pd(_mm512_mask_i32gather_pd(zero, mk, idx, C->m2z, 8), sz);
            __m512d D = _mm512_sub_pd(_mm512_mask_i32gather_pd(zero, mk, idx, C->c2, 8), sc);
            D = _mm512_add_pd(D, _mm512_min_pd(_mm512_mul_pd(dx, lx), _mm512_mul_pd(dx, hx)));
            D = _mm512_add_pd(D, _mm512_min_pd(_mm512_mul_pd(dy, ly), _mm512_mul_pd(dy, hy)));
            D = _mm512_add_pd(D, _mm512_min_pd(_mm512_mul_pd(dz, lz), _mm512_mul_pd(dz, hz)));
            __mmask8 keep = (__mmask8)(mk & (~_mm512_cmp_pd_mask(D, mg, _CMP_GT_OQ) |
                                              _mm256_cmpeq_epi32_mask(idx, vzs)));
            _mm256_mask_compressstoreu_epi32(out + nn, keep, idx);
            nn += __builtin_popcount(keep);
        }
        *zsp = zs;
        return nn;
    }
#endif
    double best = INFINITY;
    int32_t zs = Z[0];
    for (int q = 0; q < nz; q++) {
        double g = g_of(C, Z[q], mx, my, mz);
        if (g < best) {
            best = g;
            zs = Z[q];
        }
    }
    const double *qs = C->q4 + 4 * (size_t)zs;
    const double lx = n->lo[0], ly = n->lo[1], lz = n->lo[2];
    const double hx = n->hi[0], hy = n->hi[1], hz = n->hi[2];
    const double mg = C->tmargin;
    int nn = 0;
    for (int q = 0; q < nz; q++) {
        int32_t j = Z[q];
        const double *qj = C->q4 + 4 * (size_t)j;
        double dx = qj[0] - qs[0], dy = qj[1] - qs[1], dz = qj[2] - qs[2];
        double ax = dx * lx < dx * hx ? dx * lx : dx * hx;
        double ay = dy * ly < dy * hy ? dy * ly : dy * hy;
        double az = dz * lz < dz * hz ? dz * lz : dz * hz;
        double D = (qj[3] - qs[3]) + ax + ay + az;
        out[nn] = j;
        nn += (j == zs) | !(D > mg); /* no branch */
    }
    *zsp = zs;
    return nn;
}

/* Lowest-index argmin of g over candidates Z (increasing) for tree positions [s0, s1)
 * (at most LEAF): lab[s - s0]. The same expression as every path. Cost (s1 - s0) nz. */
static void leaf_assign(const centers_t *C, const double *sx, const double *sy,
                        const double *sz, int64_t s0, int64_t s1, const int32_t *Z, int nz,
                        int32_t *lab)
{
#ifdef __AVX512F__
    for (int64_t t0 = s0; t0 < s1; t0 += 8) {
        int m = s1 - t0 < 8 ? (int)(s1 - t0) : 8;
        __mmask8 ld = (__mmask8)((1u << m) - 1);
        __m512d vx = _mm512_maskz_loadu_pd(ld, sx + t0), vy = _mm512_maskz_loadu_pd(ld, sy + t0);
        __m512d vz = _mm512_maskz_loadu_pd(ld, sz + t0);
        __m512d best = _mm512_set1_pd(INFINITY), bl = _mm512_setzero_pd();
        for (int q = 0; q < nz; q++) {
            const double *c = C->q4 + 4 * (size_t)Z[q];
            __m512d g = _mm512_fmadd_pd(vx, _mm512_set1_pd(c[0]), _mm512_set1_pd(c[3]));
            g = _mm512_fmadd_pd(vy, _mm512_set1_pd(c[1]), g);
            g = _mm512_fmadd_pd(vz, _mm512_set1_pd(c[2]), g);
            __mmask8 lt = _mm512_cmp_pd_mask(g, best, _CMP_LT_OQ);
            best = _mm512_mask_blend_pd(lt, best, g);
            bl = _mm512_mask_blend_pd(lt, bl, _mm512_set1_pd((double)Z[q]));
        }
        double out[8];
        _mm512_storeu_pd(out, bl);
        for (int e = 0; e < m; e++) lab[t0 - s0 + e] = (int32_t)out[e];
    }
#else
    for (int64_t s = s0; s < s1; s++) {
        double best = INFINITY;
        int32_t b = Z[0];
        for (int q = 0; q < nz; q++) {
            double g = g_of(C, Z[q], sx[s], sy[s], sz[s]);
            if (g < best) {
                best = g;
                b = Z[q];
            }
        }
        lab[s - s0] = b;
    }
#endif
}

typedef struct {
    const centers_t *C;
    knode_t *nodes;
    const double *sx, *sy, *sz;
    const int32_t *perm;
    int32_t *tl;           /* labels in tree order */
    int k, first;          /* first: no change list (every label is new) */
    int64_t nd;            /* distance evaluations (node tests and leaf points) */
    kchg_t *cbuf;          /* changed points of all threads, in chunks of CHUNK */
    int64_t *ccur;         /* shared: next free entry of cbuf */
    int64_t ccap;          /* entries of cbuf */
    int64_t cpos, cend;    /* this thread's current chunk */
    int64_t *chunks;       /* starts of this thread's chunks */
    int nchunks, full;     /* chunks taken; 1: cbuf is used up (the sums are re-formed) */
    int64_t nchg;          /* changed points (all counted, also when not recorded) */
} twalk_t;

static inline void tree_set(twalk_t *W, int64_t s, int32_t b)
{
    int32_t a = W->tl[s];
    if (a == b) return;
    W->tl[s] = b;
    if (W->first) return;
    W->nchg++;
    if (W->full) return;
    if (W->cpos == W->cend) { /* a new chunk of the shared buffer */
        int64_t st;
#pragma omp atomic capture
        {
            st = *W->ccur;
            *W->ccur += CHUNK;
        }
        /* The buffer holds lim + (threads + 1) CHUNK entries and every thread has at most
         * one chunk partly filled, so running out means more than lim changes were
         * recorded on this rank: more than rebuild_limit in all, and the sums are formed
         * again from scratch (the lists are not needed). */
        if (st + CHUNK > W->ccap) {
            W->full = 1;
            return;
        }
        W->chunks[W->nchunks++] = st;
        W->cpos = st;
        W->cend = st + CHUNK;
    }
    kchg_t *c = W->cbuf + W->cpos++;
    c->row = W->perm[s];
    c->old = a;
    c->lab = b;
    c->x = W->sx[s];
    c->y = W->sy[s];
    c->z = W->sz[s];
}

/* Labels of the points under node ni, whose labels are among Z[0..nz) (increasing);
 * inh >= 0: an ancestor gave all of them that label in the last pass. out: this
 * level's list buffer (children use out + k). */
static void tree_visit(twalk_t *W, int64_t ni, const int32_t *Z, int nz, int32_t *out, int32_t inh)
{
    knode_t *n = W->nodes + ni;
    int32_t known = inh >= 0 ? inh : n->lastz, zs = Z[0];
    int nn = 1;
    if (nz > 1) {
        nn = tree_filter(W->C, n, Z, nz, out, &zs);
        W->nd += 2 * (int64_t)nz;
    }
    if (nn == 1) {
        if (known != zs)
            for (int64_t s = n->s0; s < n->s1; s++) tree_set(W, s, zs);
        n->lastz = zs;
        return;
    }
    n->lastz = -1;
    if (n->right < 0) {
        int32_t lab[LEAF];
        for (int64_t s0 = n->s0; s0 < n->s1; s0 += LEAF) {
            int64_t s1 = n->s1 - s0 < LEAF ? n->s1 : s0 + LEAF;
            leaf_assign(W->C, W->sx, W->sy, W->sz, s0, s1, out, nn, lab);
            for (int64_t s = s0; s < s1; s++) tree_set(W, s, lab[s - s0]);
        }
        W->nd += (int64_t)(n->s1 - n->s0) * nn;
        return;
    }
    tree_visit(W, ni + 1, out, nn, out + W->k, known);
    tree_visit(W, n->right, out, nn, out + W->k, known);
}

/* The serial top of a walk: filters down to depth `depth` and records the subtrees
 * (root, candidates, inherited label) as tasks for the threads. */
static void tree_top(const centers_t *C, knode_t *nodes, int64_t ni, const int32_t *Z, int nz,
                     int32_t inh, int depth, int32_t *out, int k, int32_t *tnode, int32_t *tinh,
                     int32_t *tnz, int32_t *tz, int *ntask, int64_t *nd)
{
    knode_t *n = nodes + ni;
    int32_t zs = Z[0];
    int nn = nz > 1 ? tree_filter(C, n, Z, nz, out, &zs) : 1;
    if (nz > 1) *nd += 2 * (int64_t)nz;
    if (depth == 0 || n->right < 0 || nn == 1) {
        int t = (*ntask)++;
        tnode[t] = (int32_t)ni;
        tinh[t] = inh;
        tnz[t] = nz;
        memcpy(tz + (size_t)t * k, Z, (size_t)nz * sizeof *Z);
        if (nz > 1) *nd -= 2 * (int64_t)nz; /* the task filters again */
        return;
    }
    int32_t known = inh >= 0 ? inh : n->lastz;
    n->lastz = -1;
    tree_top(C, nodes, ni + 1, out, nn, known, depth - 1, out + k, k, tnode, tinh, tnz, tz,
             ntask, nd);
    tree_top(C, nodes, n->right, out, nn, known, depth - 1, out + k, k, tnode, tinh, tnz, tz,
             ntask, nd);
}

/* ---- per-block sums, kept up to date incrementally ------------------------------------
 * Block partial layout (NS doubles per cluster): sum w*x, w*y, w*z, sum w, count,
 * sum w*||x||^2. The first pass forms them from scratch; later passes move only the points
 * whose label changed (subtract from the old cluster, add to the new one, in row order
 * inside the block). The sequence of operations on each block depends only on the
 * sequence of labelings, which is the same for every algorithm, thread and rank count, so
 * the sums stay bit-identical. A cluster whose sums changed in some block is "dirty"; only
 * dirty clusters' columns are re-summed over blocks (in block order) and moved. */
#define NS 6

static inline void acc_add(double *P, int32_t b, double x, double y, double z, double w,
                           double sign)
{
    double *s = P + NS * (size_t)b;
    double sw = sign * w;
    s[0] = fma(sw, x, s[0]);
    s[1] = fma(sw, y, s[1]);
    s[2] = fma(sw, z, s[2]);
    s[3] += sw;
    s[4] += sign;
    s[5] = fma(sw, fma(z, z, fma(y, y, x * x)), s[5]);
}

/* float copies of the bounds that stay bounds: conversion rounds to nearest (relative
 * error <= 2^-24), so moving the value out by 2^-22 of itself first keeps the float on
 * the safe side. No branches (the pass is bound by branch mispredictions otherwise). */
static inline float f_up(double v) /* v >= 0 */
{
    return (float)(v * (1.0 + 0x1p-22));
}
static inline float f_dn(double v)
{
    v = v < 1e30 ? v : 1e30; /* "no bound" (infinity) stays finite */
    return (float)(v - fabs(v) * 0x1p-22);
}

/* What the bounded pass needs about a point's own center, in one 32-byte record. */
typedef struct {
    double drift; /* how far the center moved in the last update */
    double mdm;   /* largest drift of its NEAR nearest centers */
    double r;     /* lower bound on the distance to any other center */
    double s;     /* lower bound on the distance to the nearest other center */
} cbound_t;

/* ---- the kernel state ------------------------------------------------------------------- */
typedef struct {
    const tq_kmeans_params *p;
    const tq_kmeans_data *d;
    const tq_comm *comm;
    tq_blocks B;
    int64_t b0, b1, nloc;
    int nt;               /* threads */
    int k;
    slack_t sl;
    centers_t C;
    nbrs_t N;
    float *ub;            /* nloc: upper bound on the distance to the own center */
    int32_t *b2;          /* nloc: a second center (the second-nearest when last searched) */
    float *l2, *l3;       /* nloc: lower bounds: to center b2, and to every other center */
    double *part;         /* (b1-b0) x NS*k block partials, persistent */
    double *tot;          /* NS*k totals */
    double *pack, *packtot; /* dirty columns packed for the MPI reduction */
    int64_t *dirty;       /* k: clusters whose sums changed in this pass (any rank) */
    int32_t *dlist;       /* dirty cluster indices, increasing */
    int ndirty;
    double *drift;        /* k: how far each center moved in the last update */
    double dmax1, dmax2;  /* largest and second largest drift */
    int dargmax;
    cbound_t *cb;         /* k: per-center bound data for the bounded pass */
    int64_t tightened;    /* points that failed the loose test in the last bounded pass */
    /* kd-tree filtering (TQ_KM_ALGO_TREE) */
    double *sx, *sy, *sz; /* nloc: coordinates in tree order */
    int32_t *perm;        /* nloc: tree position -> local row */
    int32_t *tl;          /* nloc: labels in tree order */
    knode_t *nodes;       /* the tree over the local points, root 0 */
    int32_t *zbuf;        /* nt x zlen: candidate lists of a walk */
    int64_t zlen;         /* (depth + 2) x k */
    int32_t *ztop;        /* (TOPD + 2) x k: lists of the serial top of a walk */
    int32_t *tnode, *tinh, *tnz, *tz; /* tasks: subtree, inherited label, candidates */
    kchg_t *cbuf;         /* changed points found by the threads, in chunks */
    int64_t ccap;         /* entries of cbuf */
    int64_t *tchunk;      /* nt x maxch: each thread's chunk starts */
    int64_t maxch;        /* chunks of cbuf */
    int *tnch;            /* nt: chunks each thread took */
    int64_t *tfill, *nchg; /* nt: entries in a thread's last chunk; changes it found */
    kchg_t *chgall;       /* the changed points grouped by block */
    int64_t *bcnt;        /* nbl + 1: offsets of each block's changed points in chgall */
    int64_t *tbcnt;       /* nt x nbl: per thread and block counts, then offsets */
    int32_t *nlbuf;       /* nt x block size: a block's changed rows' entries */
    uint64_t *bmbuf;      /* nt x bmw: bitmap of a block's changed rows (kept zero) */
    int64_t bmw;          /* words per block bitmap */
    uint8_t *tdirty;      /* nt x k: clusters a thread's moves touched */
    int stale;            /* the row-order labels lag behind tl (tree_sync_labels) */
} km_t;

static inline double wt(const tq_kmeans_data *d, int64_t i) { return d->w ? d->w[i] : 1.0; }

/* Bounded assignment of one point that failed the test with its loose bounds: tighten u,
 * test again, then the Exponion search. In: the point's bounds after the drift update:
 * u (own center a), l2 (center *pb2), l3 (every other center). Out: the label, and
 * fresh bounds: u exact, *pb2 the second-nearest center with l2 its distance, l3 the
 * third-nearest distance (or what the list proves). The scan goes on past the 2u ball
 * (no winner lies beyond it) until the list distance minus u passes the third-best
 * distance, so the bounds come out exact and the point passes the test again in later
 * iterations. Counts distance evaluations in *nd. */
static inline int32_t bounded_point(const km_t *S, double x, double y, double z, int32_t a,
                                    double *pu, int32_t *pb2, double *pl2, double *pl3,
                                    int64_t *nd)
{
    const centers_t *C = &S->C;
    const nbrs_t *N = &S->N;
    const slack_t *sl = &S->sl;
    double l = *pl2 < *pl3 ? *pl2 : *pl3;
    double sa = N->s[a];
    double xx = fma(z, z, fma(y, y, x * x));
    double ga = g_of(C, a, x, y, z);
    double u = dist_up(ga, xx, sl);
    (*nd)++;
    *pu = u;
    if (safe_gt(l, u, sl) || safe_gt(sa - u, u, sl)) return a;
    /* Exponion: the only possible winners lie within 2u of c_a; the list is sorted */
    const int32_t *li = N->idx + (size_t)a * N->nn;
    const double *ld = N->d + (size_t)a * N->nn;
    double best = ga, second = INFINITY, third = INFINITY, rnext = N->r[a];
    double third_lo = INFINITY;
    int32_t b = a, s2 = -1;
    int t;
    for (t = 0; t < N->nn; t++) {
        if (ld[t] - u >= third_lo && safe_gt(ld[t] - u, u, sl)) {
            if (ld[t] < rnext) rnext = ld[t];
            break;
        }
        int32_t j = li[t];
        double g = g_of(C, j, x, y, z);
        if (g < best || (g == best && j < b)) {
            third = second;
            second = best;
            s2 = b;
            best = g;
            b = j;
        } else if (g < second) {
            third = second;
            second = g;
            s2 = j;
        } else if (g < third) {
            third = g;
        } else {
            continue;
        }
        third_lo = dist_lo(third, xx, sl);
    }
    *nd += t;
    if (!safe_gt(N->r[a] - u, u, sl)) {
        /* a center outside the list may be inside the ball: full scan */
        best = second = third = INFINITY;
        s2 = -1;
        for (int j = 0; j < S->k; j++) {
            double g = g_of(C, j, x, y, z);
            if (g < best) {
                third = second;
                second = best;
                s2 = b;
                best = g;
                b = j;
            } else if (g < second) {
                third = second;
                second = g;
                s2 = j;
            } else if (g < third) {
                third = g;
            }
        }
        *nd += S->k;
        *pl3 = dist_lo(third, xx, sl);
    } else {
        double l1 = dist_lo(third, xx, sl), lr = rnext - u;
        *pl3 = l1 < lr ? l1 : lr;
    }
    if (s2 >= 0) {
        *pb2 = s2;
        *pl2 = dist_lo(second, xx, sl);
    } else { /* no second center found: l3 covers them all */
        *pb2 = b;
        *pl2 = *pl3;
    }
    *pu = dist_up(best, xx, sl);
    return b;
}

#define TOPD 6 /* the serial top of a walk: 2^TOPD subtrees at most (TASKS) */

/* More changed labels than this in a pass (all ranks): the block sums are formed again
 * from scratch instead of moving each changed point (cheaper, and the same rule in every
 * path, so the sums stay bit-identical). */
#define REBUILD_SHARE 10
static int64_t rebuild_limit(const km_t *S) { return S->B.n / REBUILD_SHARE; }

/* Builds the tree over the local points and the pass buffers (km_t fields sx ..
 * tdirty). Cost O(nloc) for the radix sort and the copies, O(nodes log nloc) for the
 * shape; memory 32 bytes per point, one 64-byte node per 10 to 60 points, change lists
 * (touched only as far as used). */
static int tree_setup(km_t *S)
{
    const tq_kmeans_data *d = S->d;
    int64_t nloc = S->nloc, nbl = S->b1 - S->b0, k = S->k;
    size_t nlp = (size_t)(nloc > 0 ? nloc : 1);
    S->sx = big_alloc(nlp * sizeof *S->sx);
    S->sy = big_alloc(nlp * sizeof *S->sy);
    S->sz = big_alloc(nlp * sizeof *S->sz);
    S->perm = big_alloc(nlp * sizeof *S->perm);
    S->tl = big_alloc(nlp * sizeof *S->tl);
    S->ztop = malloc((size_t)(TOPD + 2) * (size_t)k * sizeof *S->ztop);
    S->tnode = malloc(TASKS * sizeof *S->tnode);
    S->tinh = malloc(TASKS * sizeof *S->tinh);
    S->tnz = malloc(TASKS * sizeof *S->tnz);
    S->tz = malloc((size_t)TASKS * (size_t)k * sizeof *S->tz);
    /* changed points: at most rebuild_limit of them matter (beyond it the sums are formed
     * again); one buffer shared by the threads in chunks, so its size does not grow with
     * the thread count; huge pages, touched only as far as used */
    int64_t lim = rebuild_limit(S) < nloc ? rebuild_limit(S) : nloc;
    S->ccap = lim + (int64_t)(S->nt + 1) * CHUNK;
    S->maxch = S->ccap / CHUNK + 1;
    S->cbuf = big_alloc((size_t)S->ccap * sizeof(kchg_t));
    S->tchunk = malloc((size_t)S->nt * (size_t)S->maxch * sizeof *S->tchunk);
    S->tnch = calloc((size_t)S->nt, sizeof *S->tnch);
    S->tfill = calloc((size_t)S->nt, sizeof *S->tfill);
    S->chgall = big_alloc((size_t)(lim + 1) * sizeof(kchg_t));
    S->nchg = calloc((size_t)S->nt, sizeof *S->nchg);
    S->bcnt = malloc((size_t)(nbl + 1) * sizeof *S->bcnt);
    S->tbcnt = malloc((size_t)S->nt * (size_t)(nbl > 0 ? nbl : 1) * sizeof *S->tbcnt);
    S->tdirty = malloc((size_t)S->nt * (size_t)k);
    S->nlbuf = big_alloc((size_t)S->nt * (size_t)S->B.size * sizeof *S->nlbuf);
    S->bmw = (S->B.size + 63) / 64;
    S->bmbuf = calloc((size_t)S->nt * (size_t)S->bmw, sizeof *S->bmbuf);
    if (!S->nlbuf || !S->bmbuf || !S->tbcnt || !S->tdirty || !S->sx || !S->sy || !S->sz || !S->perm || !S->tl || !S->ztop || !S->tnode || !S->tinh || !S->tnz || !S->tz || !S->cbuf || !S->tchunk || !S->tnch || !S->tfill || !S->chgall ||
        !S->nchg || !S->bcnt)
        return TQ_ENOMEM;
    /* Morton order (11 bits per axis over the local bounding box) by a parallel LSD
     * radix sort of (key << 31 | row), 3 passes of 11 bits; then the tree halves ranges
     * of that order. Any order gives the same labels: it only decides locality. */
    double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    const double *X[3] = {d->x, d->y, d->z};
    for (int e = 0; e < 3; e++)
        for (int64_t i = 0; i < nloc; i++) {
            lo[e] = X[e][i] < lo[e] ? X[e][i] : lo[e];
            hi[e] = X[e][i] > hi[e] ? X[e][i] : hi[e];
        }
    double sc[3];
    for (int e = 0; e < 3; e++) sc[e] = hi[e] > lo[e] ? 2047.99 / (hi[e] - lo[e]) : 0.0;
    /* the radix sort runs in the sx and sy arrays (8 bytes per point each), which get
     * the coordinates afterwards; no other temporary of size n */
    uint64_t *ka = (uint64_t *)(void *)S->sx, *kb = (uint64_t *)(void *)S->sy;
    int64_t *hist = malloc((size_t)S->nt * 2048 * sizeof *hist);
    if (!hist) return TQ_ENOMEM;
    const int nt = S->nt;
#pragma omp parallel num_threads(nt)
    {
        int th = omp_get_thread_num(), nth = omp_get_num_threads();
        int64_t c0 = nloc * th / nth, c1 = nloc * (th + 1) / nth;
        for (int64_t i = c0; i < c1; i++) {
            uint64_t q[3];
            for (int e = 0; e < 3; e++) {
                double v = (X[e][i] - lo[e]) * sc[e];
                q[e] = v > 0 ? (uint64_t)v : 0;
            }
            uint64_t key = spread3(q[0]) << 2 | spread3(q[1]) << 1 | spread3(q[2]);
            ka[i] = key << 31 | (uint64_t)i;
        }
        for (int pass = 0; pass < 3; pass++) {
            int sh = 31 + 11 * pass;
            int64_t *h = hist + (size_t)th * 2048;
            memset(h, 0, 2048 * sizeof *h);
#pragma omp barrier
            for (int64_t i = c0; i < c1; i++) h[(ka[i] >> sh) & 2047]++;
#pragma omp barrier
#pragma omp single
            {
                int64_t off = 0;
                for (int dg = 0; dg < 2048; dg++)
                    for (int t = 0; t < nth; t++) {
                        int64_t c = hist[(size_t)t * 2048 + dg];
                        hist[(size_t)t * 2048 + dg] = off;
                        off += c;
                    }
            }
            for (int64_t i = c0; i < c1; i++) kb[h[(ka[i] >> sh) & 2047]++] = ka[i];
#pragma omp barrier
#pragma omp single
            {
                uint64_t *t = ka;
                ka = kb;
                kb = t;
            }
        }
#pragma omp for schedule(static)
        for (int64_t s = 0; s < nloc; s++) S->perm[s] = (int32_t)(ka[s] & 0x7fffffffULL);
    }
    free(hist);
    /* the tree's shape from the sorted keys */
    int64_t ncap = nloc / 4 + 1024; /* about 2 nodes per 16 points; more are appended */
    tbuild_t T = {ka, big_alloc((size_t)ncap * sizeof(knode_t)), 0, ncap, 0, 0};
    if (!T.nodes) T.cap = 0;
    if (nloc > 0) tree_build(&T, 0, nloc, 0);
    S->nodes = T.nodes;
    if (T.bad) return TQ_ENOMEM;
    /* coordinates into tree order (the keys in sx / sy are no longer needed): tl holds
     * the inverse permutation for a moment; rows are read in order and written to their
     * places (fresh memory is slow to touch on virtual machines: no temporary array) */
    int32_t *inv = S->tl;
#pragma omp parallel num_threads(nt)
    {
#pragma omp for schedule(static)
        for (int64_t s = 0; s < nloc; s++) inv[S->perm[s]] = (int32_t)s;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < nloc; i++) {
            int64_t s = inv[i];
            S->sx[s] = d->x[i];
            S->sy[s] = d->y[i];
            S->sz[s] = d->z[i];
        }
#pragma omp for schedule(static)
        for (int64_t s = 0; s < nloc; s++) S->tl[s] = -1;
    }
    const double *const xs[3] = {S->sx, S->sy, S->sz};
    tree_boxes(S->nodes, T.nn, xs, nt);
    S->zlen = (int64_t)(T.depth + 2) * k;
    S->zbuf = malloc((size_t)S->nt * (size_t)S->zlen * sizeof *S->zbuf);
    if (!S->zbuf) return TQ_ENOMEM;
    return TQ_OK;
}

/* An assignment pass by the kd-tree walk. New labels in tree order; the first pass
 * forms the block sums from scratch (row order), later passes move the changed points
 * in row order inside each block. Out: *nch changed labels (local), *nd evaluations. */
/* Row-order labels from the tree-order ones (the kd-tree path keeps them in tree order
 * between passes). Cost one scattered pass. */
static void tree_sync_labels(km_t *S, int32_t *label)
{
    if (!S->stale) return;
#pragma omp parallel for schedule(static) num_threads(S->nt)
    for (int64_t s = 0; s < S->nloc; s++) label[S->perm[s]] = S->tl[s];
    S->stale = 0;
}

/* The block sums from scratch: every point added in row order (the first pass, and
 * passes where many labels changed). Cost one pass over the local points. */
static int sums_from_scratch(km_t *S, int32_t *label)
{
    const tq_kmeans_data *d = S->d;
    int64_t m = NS * (int64_t)S->k, nbl = S->b1 - S->b0;
    tree_sync_labels(S, label);
#pragma omp parallel for schedule(dynamic, 1) num_threads(S->nt)
    for (int64_t bb = 0; bb < nbl; bb++) {
        double *P = S->part + bb * m;
        int64_t lo = tq_block_lo(&S->B, S->b0 + bb) - d->lo;
        int64_t hi = tq_block_hi(&S->B, S->b0 + bb) - d->lo;
        memset(P, 0, (size_t)m * sizeof *P);
        for (int64_t i = lo; i < hi; i++)
            acc_add(P, label[i], d->x[i], d->y[i], d->z[i], wt(d, i), 1.0);
    }
    return TQ_OK;
}

static int tree_pass(km_t *S, int32_t *label, int first, int64_t *nch, int64_t *ndp)
{
    const tq_kmeans_data *d = S->d;
    const centers_t *C = &S->C;
    int k = S->k, ntask = 0;
    int64_t nd = 0, m = NS * (int64_t)k, nbl = S->b1 - S->b0;
    *nch = 0;
    if (S->nloc > 0) {
        for (int j = 0; j < k; j++) S->ztop[j] = j;
        tree_top(C, S->nodes, 0, S->ztop, k, -1, TOPD, S->ztop + k, k, S->tnode, S->tinh,
                 S->tnz, S->tz, &ntask, &nd);
    }
    int64_t ccur = 0;
    for (int t = 0; t < S->nt; t++) S->nchg[t] = S->tnch[t] = 0;
#pragma omp parallel num_threads(S->nt) reduction(+ : nd)
    {
        int th = omp_get_thread_num();
        twalk_t W = {C, S->nodes, S->sx, S->sy, S->sz, S->perm, S->tl, k, first, 0,
                     S->cbuf, &ccur, S->ccap, 0, 0, S->tchunk + (size_t)th * S->maxch, 0, 0, 0};
        int32_t *zb = S->zbuf + (size_t)th * (size_t)S->zlen;
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < ntask; t++)
            tree_visit(&W, S->tnode[t], S->tz + (size_t)t * k, S->tnz[t], zb, S->tinh[t]);
        S->nchg[th] = W.nchg;
        S->tnch[th] = W.nchunks;
        S->tfill[th] = W.nchunks ? W.cpos - W.chunks[W.nchunks - 1] : 0;
        nd += W.nd;
    }
    *ndp = nd;
    int64_t tot = 0;
    for (int t = 0; t < S->nt; t++) tot += S->nchg[t];
    *nch = tot;
    if (first) {
        S->stale = 1;
        return sums_from_scratch(S, label);
    }
    int64_t all = tot;
    int status = tq_comm_sum_i64(S->comm, &all, 1);
    if (status != TQ_OK) return status;
    if (all > rebuild_limit(S)) { /* assign_pass re-forms the sums */
        S->stale = 1;
        return TQ_OK;
    }
    if (tot == 0) return TQ_OK;
    /* group the changes by block (counting sort), then each block in row order */
    /* counting sort by block: per thread and block counts, offsets block-major, then
     * every thread moves its own entries */
    const int64_t bs = S->B.size, base = d->lo - S->b0 * bs; /* local row -> block */
    const int nt = S->nt;
    int64_t *cnt = S->tbcnt; /* nt x nbl */
    memset(cnt, 0, (size_t)nt * (size_t)nbl * sizeof *cnt);
    /* few changes: one thread (barriers cost more than the work on a busy machine) */
    const int par = tot >= 100000;
#pragma omp parallel num_threads(par ? nt : 1)
    {
#pragma omp for schedule(static)
        for (int u = 0; u < nt; u++) {
            int64_t *cu = cnt + (size_t)u * nbl;
            for (int h = 0; h < S->tnch[u]; h++) {
                const kchg_t *e = S->cbuf + S->tchunk[(size_t)u * S->maxch + h];
                int64_t len = h == S->tnch[u] - 1 ? S->tfill[u] : CHUNK;
                for (int64_t q = 0; q < len; q++) cu[(e[q].row + base) / bs]++;
            }
        }
#pragma omp single
        {
            int64_t off = 0;
            for (int64_t bb = 0; bb < nbl; bb++) {
                S->bcnt[bb] = off;
                for (int u = 0; u < nt; u++) {
                    int64_t c = cnt[(size_t)u * nbl + bb];
                    cnt[(size_t)u * nbl + bb] = off;
                    off += c;
                }
            }
            S->bcnt[nbl] = off;
        }
#pragma omp for schedule(static)
        for (int u = 0; u < nt; u++) {
            int64_t *cu = cnt + (size_t)u * nbl;
            for (int h = 0; h < S->tnch[u]; h++) {
                const kchg_t *e = S->cbuf + S->tchunk[(size_t)u * S->maxch + h];
                int64_t len = h == S->tnch[u] - 1 ? S->tfill[u] : CHUNK;
                for (int64_t q = 0; q < len; q++) S->chgall[cu[(e[q].row + base) / bs]++] = e[q];
            }
        }
    }
    memset(S->tdirty, 0, (size_t)nt * (size_t)k);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (tot >= 20000)
    for (int64_t bb = 0; bb < nbl; bb++) {
        kchg_t *c = S->chgall + S->bcnt[bb];
        int64_t nc = S->bcnt[bb + 1] - S->bcnt[bb];
        if (nc == 0) continue;
        double *P = S->part + bb * m;
        uint8_t *dirty = S->tdirty + (size_t)omp_get_thread_num() * (size_t)k;
        if (nc <= 32) { /* few: insertion sort by row */
            for (int64_t q = 1; q < nc; q++) {
                kchg_t v = c[q];
                int64_t t = q;
                for (; t > 0 && c[t - 1].row > v.row; t--) c[t] = c[t - 1];
                c[t] = v;
            }
            for (int64_t q = 0; q < nc; q++) {
                double w = wt(d, c[q].row);
                acc_add(P, c[q].old, c[q].x, c[q].y, c[q].z, w, -1.0);
                acc_add(P, c[q].lab, c[q].x, c[q].y, c[q].z, w, 1.0);
                dirty[c[q].old] = dirty[c[q].lab] = 1;
            }
            continue;
        }
        /* many: their indices into a block-sized scratch and their rows into a bitmap,
         * then the set bits in order (each row changes at most once) */
        int th = omp_get_thread_num();
        int32_t *nl = S->nlbuf + (size_t)th * (size_t)S->B.size;
        uint64_t *bm = S->bmbuf + (size_t)th * (size_t)S->bmw;
        int64_t lo = tq_block_lo(&S->B, S->b0 + bb) - d->lo;
        int64_t hi = tq_block_hi(&S->B, S->b0 + bb) - d->lo;
        for (int64_t q = 0; q < nc; q++) {
            int64_t o = c[q].row - lo;
            nl[o] = (int32_t)q;
            bm[o >> 6] |= (uint64_t)1 << (o & 63);
        }
        for (int64_t wi = 0; wi <= (hi - lo - 1) >> 6; wi++) {
            uint64_t bits = bm[wi];
            bm[wi] = 0;
            while (bits) {
                int64_t o = wi * 64 + __builtin_ctzll(bits);
                bits &= bits - 1;
                const kchg_t *e = c + nl[o];
                double w = wt(d, lo + o);
                acc_add(P, e->old, e->x, e->y, e->z, w, -1.0);
                acc_add(P, e->lab, e->x, e->y, e->z, w, 1.0);
                dirty[e->old] = dirty[e->lab] = 1;
            }
        }
    }
    for (int t = 0; t < nt; t++)
        for (int j = 0; j < k; j++) S->dirty[j] |= S->tdirty[(size_t)t * k + j];
    S->stale = 1; /* label (row order) is behind tl */
    return TQ_OK;
}

/* One assignment pass. mode 0: vectorized brute force, 1: bounds, 2: scalar reference.
 * first: labels are new (sums formed from scratch). keep: leave valid bounds (u, b2, l2,
 * l3) for a bounded pass next. Updates the block partials of
 * moved points, marks dirty clusters, and re-sums their columns into tot.
 * *changes = labels that changed (all ranks). */
static int assign_pass(km_t *S, int32_t *label, int mode, int first, int keep,
                       int64_t *changes, int64_t *ndist)
{
    const tq_kmeans_data *d = S->d;
    const centers_t *C = &S->C;
    const slack_t *sl = &S->sl;
    int k = S->k;
    int64_t m = NS * (int64_t)k, nch = 0, nd = 0, ntg = 0;
    int status = TQ_OK;
    int64_t nbl = S->b1 - S->b0;
    memset(S->dirty, 0, (size_t)k * sizeof *S->dirty);
    if (mode == 3) {
        status = tree_pass(S, label, first, &nch, &nd);
        if (status != TQ_OK) return status;
    } else {
#pragma omp parallel for schedule(dynamic, 1) num_threads(S->nt) reduction(+ : nch, nd, ntg)
    for (int64_t bb = 0; bb < nbl; bb++) {
        double *P = S->part + bb * m;
        int64_t lo = tq_block_lo(&S->B, S->b0 + bb) - d->lo;
        int64_t hi = tq_block_hi(&S->B, S->b0 + bb) - d->lo;
        if (first) memset(P, 0, (size_t)m * sizeof *P);
        if (mode == 1) {
            /* phase 1, branch-free over a chunk: bounds moved by the update, the
             * Hamerly test, and a list of the points that fail it; phase 2: those */
            enum { CH = 512 };
            int32_t fail[CH + 1];
            const cbound_t *cb = S->cb;
            for (int64_t i0 = lo; i0 < hi; i0 += CH) {
                int64_t i1 = hi - i0 < CH ? hi : i0 + CH;
                int nf = 0;
                for (int64_t i = i0; i < i1; i++) {
                    const cbound_t *A = cb + label[i];
                    /* before the update l2 bounded the distance to center b2, l3 to every
                     * center but a and b2. b2 moved drift[b2]; a's NEAR nearest centers
                     * moved at most mdm; any other center is at least r from c_a */
                    double u = (double)S->ub[i] + A->drift;
                    double l2 = (double)S->l2[i] - cb[S->b2[i]].drift;
                    double l3 = (double)S->l3[i] - A->mdm, lr = A->r - u;
                    l3 = lr < l3 ? lr : l3;
                    double l = l2 < l3 ? l2 : l3;
                    int ok = safe_gt(l, u, sl) | safe_gt(A->s - u, u, sl);
                    S->ub[i] = f_up(u);
                    S->l2[i] = f_dn(l2);
                    S->l3[i] = f_dn(l3);
                    fail[nf] = (int32_t)(i - i0);
                    nf += !ok;
                }
                ntg += nf;
                fail[nf] = fail[nf > 0 ? nf - 1 : 0]; /* prefetch pad */
                for (int q = 0; q < nf; q++) {
                    int64_t i = i0 + fail[q];
                    /* the failing points are sparse: fetch their coordinates ahead */
                    int64_t ip = i0 + fail[q + 8 < nf ? q + 8 : nf];
                    __builtin_prefetch(d->x + ip);
                    __builtin_prefetch(d->y + ip);
                    __builtin_prefetch(d->z + ip);
                    int32_t a = label[i], b2 = S->b2[i];
                    double u = S->ub[i], l2 = S->l2[i], l3 = S->l3[i];
                    int32_t b = bounded_point(S, d->x[i], d->y[i], d->z[i], a, &u, &b2, &l2,
                                              &l3, &nd);
                    S->ub[i] = f_up(u);
                    S->l2[i] = f_dn(l2);
                    S->l3[i] = f_dn(l3);
                    S->b2[i] = b2;
                    if (b != a) {
                        double w = wt(d, i);
                        acc_add(P, a, d->x[i], d->y[i], d->z[i], w, -1.0);
                        acc_add(P, b, d->x[i], d->y[i], d->z[i], w, 1.0);
#pragma omp atomic write
                        S->dirty[a] = 1;
#pragma omp atomic write
                        S->dirty[b] = 1;
                        label[i] = b;
                        nch++;
                    }
                }
            }
        } else {
            enum { CH = 256 };
            int32_t lab[CH], sec[CH];
            double gb[CH], g2[CH], g3[CH];
            for (int64_t i0 = lo; i0 < hi; i0 += CH) {
                int64_t cnt = hi - i0 < CH ? hi - i0 : CH;
                if (mode == 0) {
                    brute_rows(d->x + i0, d->y + i0, d->z + i0, cnt, C, lab, gb,
                               keep ? sec : NULL, g2, g3);
                } else {
                    tq_kmeans_assign_ref(d->x + i0, d->y + i0, d->z + i0, cnt, C->c, k, lab);
                }
                for (int64_t t = 0; t < cnt; t++) {
                    int64_t i = i0 + t;
                    double x = d->x[i], y = d->y[i], z = d->z[i], w = wt(d, i);
                    int32_t b = lab[t];
                    if (keep) {
                        double xx = fma(z, z, fma(y, y, x * x));
                        S->ub[i] = f_up(dist_up(g_of(C, b, x, y, z), xx, sl));
                        if (mode == 0) {
                            S->b2[i] = sec[t];
                            S->l2[i] = f_dn(dist_lo(g2[t], xx, sl));
                            S->l3[i] = f_dn(dist_lo(g3[t], xx, sl));
                        } else {
                            S->l2[i] = S->l3[i] = 0.0f;
                            S->b2[i] = b;
                        }
                    }
                    if (first) {
                        acc_add(P, b, x, y, z, w, 1.0);
                    } else if (b != label[i]) {
                        acc_add(P, label[i], x, y, z, w, -1.0);
                        acc_add(P, b, x, y, z, w, 1.0);
#pragma omp atomic write
                        S->dirty[label[i]] = 1;
#pragma omp atomic write
                        S->dirty[b] = 1;
                        nch++;
                    }
                    label[i] = b;
                }
            }
            nd += (hi - lo) * k;
        }
    }
    }
    int64_t cnts[3] = {nch, nd, ntg};
    status = tq_comm_sum_i64(S->comm, cnts, 3);
    if (status != TQ_OK) return status;
    *changes = cnts[0];
    *ndist = cnts[1];
    S->tightened = cnts[2];
    int scratch = !first && cnts[0] > rebuild_limit(S);
    if (scratch) { /* many changes: the sums again from scratch, in every path */
        status = sums_from_scratch(S, label);
        if (status != TQ_OK) return status;
    }
    if (first || scratch) {
        for (int j = 0; j < k; j++) S->dirty[j] = 1;
    } else {
        status = tq_comm_sum_i64(S->comm, S->dirty, k);
        if (status != TQ_OK) return status;
    }
    S->ndirty = 0;
    for (int j = 0; j < k; j++)
        if (S->dirty[j]) S->dlist[S->ndirty++] = j;
    int nd_ = S->ndirty;
    if (nd_ == 0) return TQ_OK;
    const int32_t *dl = S->dlist;
    if (tq_comm_size(S->comm) > 1) {
        /* pack the dirty columns of the local blocks; sum in block order */
        int64_t mm = NS * (int64_t)nd_;
        for (int64_t bb = 0; bb < nbl; bb++)
            for (int q = 0; q < nd_; q++)
                memcpy(S->pack + bb * mm + NS * q, S->part + bb * m + NS * (size_t)dl[q],
                       NS * sizeof(double));
        status = tq_comm_sum_blocks(S->comm, &S->B, S->pack, mm, S->packtot);
        if (status != TQ_OK) return status;
        for (int q = 0; q < nd_; q++)
            memcpy(S->tot + NS * (size_t)dl[q], S->packtot + NS * q, NS * sizeof(double));
    } else {
        /* the same sums as tq_comm_sum_blocks: 0 + block 0 + block 1 + ... */
        const double *part = S->part;
        double *tot = S->tot;
#pragma omp parallel for schedule(static) num_threads(S->nt) if ((int64_t)nd_ * nbl >= 20000)
        for (int q = 0; q < nd_; q++) {
            double acc[NS] = {0};
            size_t off = NS * (size_t)dl[q];
            for (int64_t bb = 0; bb < nbl; bb++)
                for (int e = 0; e < NS; e++) acc[e] += part[bb * m + off + e];
            for (int e = 0; e < NS; e++) tot[off + e] = acc[e];
        }
    }
    return TQ_OK;
}

/* Final accounting: from scratch, per block, the count and weight of each cluster and
 * the inertia sum w*||x - c||^2 by the direct formula; summed in block order. Uses the
 * part buffer (its incremental sums are no longer needed). out: 2k+1 values. */
static int final_sums(km_t *S, const int32_t *label, double *out)
{
    const tq_kmeans_data *d = S->d;
    int k = S->k;
    int64_t m = 2 * (int64_t)k + 1, nbl = S->b1 - S->b0;
    const double *c = S->C.c;
#pragma omp parallel for schedule(dynamic, 1) num_threads(S->nt)
    for (int64_t bb = 0; bb < nbl; bb++) {
        double *P = S->part + bb * m;
        memset(P, 0, (size_t)m * sizeof *P);
        int64_t lo = tq_block_lo(&S->B, S->b0 + bb) - d->lo;
        int64_t hi = tq_block_hi(&S->B, S->b0 + bb) - d->lo;
        double in = 0;
        for (int64_t i = lo; i < hi; i++) {
            int32_t b = label[i];
            double w = wt(d, i);
            double dx = d->x[i] - c[3 * b], dy = d->y[i] - c[3 * b + 1];
            double dz = d->z[i] - c[3 * b + 2];
            P[2 * b] += w;
            P[2 * b + 1] += 1.0;
            in = fma(w, fma(dz, dz, fma(dy, dy, dx * dx)), in);
        }
        P[2 * k] = in;
    }
    return tq_comm_sum_blocks(S->comm, &S->B, S->part, m, out);
}

/* Inertia of the last pass from the cluster sums: sum_j Q_j - 2 c_j.S_j + W_j ||c_j||^2
 * (O(k); used for the tolerance test and the per-iteration report). */
static double sums_inertia(const km_t *S)
{
    double in = 0;
    for (int j = 0; j < S->k; j++) {
        const double *t = S->tot + NS * (size_t)j, *c = S->C.c + 3 * j;
        if (t[4] <= 0) continue;
        double cs = c[0] * t[0] + c[1] * t[1] + c[2] * t[2];
        double cc = c[0] * c[0] + c[1] * c[1] + c[2] * c[2];
        in += t[5] - 2 * cs + t[3] * cc;
    }
    return in > 0 ? in : 0;
}

/* ---- point lookup and weighted sampling (seeding, repair) -------------------------------- */
static int owner_of_block(const km_t *S, int64_t blk)
{
    int P = tq_comm_size(S->comm);
    for (int r = 0; r < P; r++) {
        int64_t b0, b1;
        tq_blocks_of_rank(&S->B, r, P, &b0, &b1, NULL, NULL);
        if (blk >= b0 && blk < b1) return r;
    }
    return 0;
}

/* Coordinates of global row gi, on every rank. */
static int fetch_point(const km_t *S, int64_t gi, double *xyz)
{
    int64_t blk = gi / S->B.size;
    int owner = owner_of_block(S, blk);
    if (tq_comm_rank(S->comm) == owner) {
        int64_t i = gi - S->d->lo;
        xyz[0] = S->d->x[i];
        xyz[1] = S->d->y[i];
        xyz[2] = S->d->z[i];
    }
    return tq_comm_bcast(S->comm, xyz, 3 * sizeof(double), owner);
}

/* Draw one row with probability v_i / sum v, where v_i = w_i * D2_i (D2 NULL: v_i = w_i).
 * bsum holds this rank's per-block sums of v. The draw is u * total with u from the RNG
 * at (seed, stream, step); the row is found by cumulative sums in global row order, so
 * it does not depend on the partition. Returns the row's coordinates in xyz. */
static int sample_row(const km_t *S, const double *D2, const double *bsum, uint64_t stream,
                      uint64_t step, double *xyz)
{
    int status = TQ_OK;
    int64_t nb = S->B.nblocks;
    double *all = malloc((size_t)nb * sizeof *all);
    if (!all) return TQ_ENOMEM;
    status = tq_comm_allgatherv(S->comm, bsum, S->b1 - S->b0, sizeof(double), all);
    if (status != TQ_OK) goto done;
    double total = 0;
    for (int64_t b = 0; b < nb; b++) total += all[b];
    double u = tq_rand_uniform(S->p->seed, stream, step);
    int64_t gi = -1;
    if (!(total > 0)) {
        gi = (int64_t)(u * (double)S->B.n); /* all mass zero: uniform row */
        if (gi >= S->B.n) gi = S->B.n - 1;
    } else {
        double target = u * total, cum = 0;
        int64_t blk = -1, lastpos = -1;
        double cum_at = 0, cum_last = 0;
        for (int64_t b = 0; b < nb; b++) {
            if (all[b] > 0) {
                lastpos = b;
                cum_last = cum;
                if (cum + all[b] > target) {
                    blk = b;
                    cum_at = cum;
                    break;
                }
            }
            cum += all[b];
        }
        if (blk < 0) {
            blk = lastpos;
            cum_at = cum_last;
        }
        int owner = owner_of_block(S, blk);
        int64_t pick = -1;
        if (tq_comm_rank(S->comm) == owner) {
            const tq_kmeans_data *d = S->d;
            int64_t lo = tq_block_lo(&S->B, blk), hi = tq_block_hi(&S->B, blk), lastv = -1;
            double c = cum_at;
            for (int64_t g = lo; g < hi; g++) {
                int64_t i = g - d->lo;
                double v = D2 ? wt(d, i) * D2[i] : wt(d, i);
                if (v > 0) {
                    lastv = g;
                    c += v;
                    if (c > target) {
                        pick = g;
                        break;
                    }
                }
            }
            if (pick < 0) pick = lastv;
        }
        status = tq_comm_bcast(S->comm, &pick, sizeof pick, owner);
        if (status != TQ_OK) goto done;
        gi = pick;
    }
    status = fetch_point(S, gi, xyz);
done:
    free(all);
    return status;
}

/* sum of w_i * D2_i (D2 NULL: of w_i) over rows [lo, hi) in a fixed pattern: 8 lanes
 * (row i into lane i mod 8 from lo), combined pairwise, then the tail. The same rows give
 * the same bits whichever thread or rank sums them. Vectorizes (a plain running sum
 * would be one 4-cycle dependency chain per row). */
static double wsum_range(const tq_kmeans_data *d, const double *D2, int64_t lo, int64_t hi)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, tail = 0;
    int64_t i = lo;
    for (; i + 8 <= hi; i += 8)
        for (int e = 0; e < 8; e++) {
            double w = d->w ? d->w[i + e] : 1.0;
            acc[e] += D2 ? w * D2[i + e] : w;
        }
    for (; i < hi; i++) tail += (d->w ? d->w[i] : 1.0) * (D2 ? D2[i] : 1.0);
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) +
           tail;
}

/* D2 := min(D2, ||x - c||^2) for one center (direct formula), and per-block sums of
 * w * D2 into bsum. init: D2 := ||x - c||^2. Cost: local rows. */
static void d2_update(const km_t *S, double *D2, const double *c, int init, double *bsum)
{
    const tq_kmeans_data *d = S->d;
    int64_t nbl = S->b1 - S->b0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(S->nt)
    for (int64_t bb = 0; bb < nbl; bb++) {
        int64_t lo = tq_block_lo(&S->B, S->b0 + bb) - d->lo;
        int64_t hi = tq_block_hi(&S->B, S->b0 + bb) - d->lo;
        const double *x = d->x, *y = d->y, *z = d->z;
#pragma omp simd
        for (int64_t i = lo; i < hi; i++) {
            double dx = x[i] - c[0], dy = y[i] - c[1], dz = z[i] - c[2];
            double v = fma(dz, dz, fma(dy, dy, dx * dx));
            D2[i] = (init || v < D2[i]) ? v : D2[i];
        }
        bsum[bb] = wsum_range(d, D2, lo, hi);
    }
}

static void wsum_blocks(const km_t *S, double *bsum)
{
    const tq_kmeans_data *d = S->d;
    int64_t nbl = S->b1 - S->b0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(S->nt)
    for (int64_t bb = 0; bb < nbl; bb++) {
        int64_t lo = tq_block_lo(&S->B, S->b0 + bb) - d->lo;
        int64_t hi = tq_block_hi(&S->B, S->b0 + bb) - d->lo;
        bsum[bb] = wsum_range(d, NULL, lo, hi);
    }
}

/* k-means++ (Arthur & Vassilvitskii 2007) with weights: the first center with probability
 * proportional to w, each next one proportional to w * D^2 (D = distance to the nearest
 * chosen center). Cost k passes over the local rows. */
static int seed_pp(km_t *S, int64_t *nd)
{
    int status = TQ_OK;
    int k = S->k;
    int64_t nbl = S->b1 - S->b0;
    double *D2 = malloc((size_t)(S->nloc > 0 ? S->nloc : 1) * sizeof *D2);
    double *bsum = malloc((size_t)(nbl > 0 ? nbl : 1) * sizeof *bsum);
    if (!D2 || !bsum) {
        status = TQ_ENOMEM;
        goto done;
    }
    wsum_blocks(S, bsum);
    status = sample_row(S, NULL, bsum, 1, 0, S->C.c);
    if (status != TQ_OK) goto done;
    for (int c = 1; c < k; c++) {
        d2_update(S, D2, S->C.c + 3 * (c - 1), c == 1, bsum);
        *nd += S->B.n;
        status = sample_row(S, D2, bsum, 1, (uint64_t)c, S->C.c + 3 * c);
        if (status != TQ_OK) goto done;
    }
done:
    free(D2);
    free(bsum);
    return status;
}

/* Weighted k-means++ on a small local set (every rank computes the same). */
static int seed_pp_local(const double *P, const double *w, int64_t m, int k, uint64_t seed,
                         double *out)
{
    double *D2 = malloc((size_t)m * sizeof *D2);
    if (!D2) return TQ_ENOMEM;
    for (int c = 0; c < k; c++) {
        double total = 0;
        for (int64_t i = 0; i < m; i++) total += c ? w[i] * D2[i] : w[i];
        double target = tq_rand_uniform(seed, 3, (uint64_t)c) * total, cum = 0;
        int64_t pick = -1, lastv = -1;
        for (int64_t i = 0; i < m; i++) {
            double v = c ? w[i] * D2[i] : w[i];
            if (v > 0) {
                lastv = i;
                cum += v;
                if (cum > target) {
                    pick = i;
                    break;
                }
            }
        }
        if (pick < 0) pick = lastv >= 0 ? lastv : (int64_t)c % m;
        memcpy(out + 3 * c, P + 3 * pick, 3 * sizeof(double));
        for (int64_t i = 0; i < m; i++) {
            const double *x = P + 3 * i;
            double dx = x[0] - out[3 * c], dy = x[1] - out[3 * c + 1], dz = x[2] - out[3 * c + 2];
            double v = fma(dz, dz, fma(dy, dy, dx * dx));
            if (c == 0 || v < D2[i]) D2[i] = v;
        }
    }
    free(D2);
    return TQ_OK;
}

/* k-means|| (Bahmani, Moseley, Vattani, Kumar, Vassilvitskii 2012, "Scalable k-means++",
 * VLDB): one center by weight, then `par_rounds` rounds in which each row is taken
 * independently with probability min(1, l * w * D^2 / phi), l = par_oversample * k,
 * phi = sum w * D^2. Candidates get the weight of the rows nearest to them, and weighted
 * k-means++ picks k of them. Each row's draw is keyed by its global index, so the
 * candidate set is the same for any partition. Falls back to k-means++ when fewer than k
 * candidates come up (data with fewer than k distinct points). */
static int seed_par(km_t *S, int64_t *nd)
{
    int status = TQ_OK;
    const tq_kmeans_data *d = S->d;
    int k = S->k;
    int64_t nbl = S->b1 - S->b0, nloc = S->nloc;
    double *D2 = malloc((size_t)(nloc > 0 ? nloc : 1) * sizeof *D2);
    double *bsum = malloc((size_t)(nbl > 0 ? nbl : 1) * sizeof *bsum);
    double *cand = NULL, *loc = NULL, *cw = NULL, *wpart = NULL, *gb = NULL;
    int32_t *lab = NULL;
    centers_t NC = {0};
    int64_t ncand = 0, cap = 0;
    if (!D2 || !bsum) {
        status = TQ_ENOMEM;
        goto done;
    }
    cap = 1 + (int64_t)((double)k * S->p->par_oversample * S->p->par_rounds * 2) + 16;
    cand = malloc((size_t)cap * 3 * sizeof *cand);
    if (!cand) {
        status = TQ_ENOMEM;
        goto done;
    }
    wsum_blocks(S, bsum);
    status = sample_row(S, NULL, bsum, 2, 0, cand);
    if (status != TQ_OK) goto done;
    ncand = 1;
    d2_update(S, D2, cand, 1, bsum);
    *nd += S->B.n;
    int64_t newfrom = 1;
    for (int r = 0; r < S->p->par_rounds; r++) {
        double phi = 0;
        status = tq_comm_sum_blocks(S->comm, &S->B, bsum, 1, &phi);
        if (status != TQ_OK) goto done;
        if (!(phi > 0)) break;
        double ell = S->p->par_oversample * k;
        /* local picks in row order */
        int64_t nloc_pick = 0, lcap = 64;
        free(loc);
        loc = malloc((size_t)lcap * 3 * sizeof *loc);
        if (!loc) {
            status = TQ_ENOMEM;
            goto done;
        }
        for (int64_t i = 0; i < nloc; i++) {
            double pr = ell * wt(d, i) * D2[i] / phi;
            if (pr <= 0) continue;
            if (pr < 1 && tq_rand_uniform(S->p->seed, 100 + (uint64_t)r,
                                          (uint64_t)(d->lo + i)) >= pr)
                continue;
            if (nloc_pick == lcap) {
                lcap *= 2;
                double *t = realloc(loc, (size_t)lcap * 3 * sizeof *loc);
                if (!t) {
                    status = TQ_ENOMEM;
                    goto done;
                }
                loc = t;
            }
            loc[3 * nloc_pick] = d->x[i];
            loc[3 * nloc_pick + 1] = d->y[i];
            loc[3 * nloc_pick + 2] = d->z[i];
            nloc_pick++;
        }
        int64_t tot = nloc_pick;
        status = tq_comm_sum_i64(S->comm, &tot, 1);
        if (status != TQ_OK) goto done;
        if (ncand + tot > cap) {
            cap = ncand + tot + 16;
            double *t = realloc(cand, (size_t)cap * 3 * sizeof *cand);
            if (!t) {
                status = TQ_ENOMEM;
                goto done;
            }
            cand = t;
        }
        status = tq_comm_allgatherv(S->comm, loc, nloc_pick, 3 * sizeof(double),
                                    cand + 3 * ncand);
        if (status != TQ_OK) goto done;
        newfrom = ncand;
        ncand += tot;
        if (tot == 0) continue;
        /* D2 := min(D2, distance to the new candidates): vectorized brute force */
        centers_free(&NC);
        status = centers_alloc(&NC, (int)tot);
        if (status != TQ_OK) goto done;
        NC.smax = S->C.smax;
        memcpy(NC.c, cand + 3 * newfrom, (size_t)tot * 3 * sizeof(double));
        centers_prepare(&NC);
#pragma omp parallel for schedule(dynamic, 1) num_threads(S->nt)
        for (int64_t bb = 0; bb < nbl; bb++) {
            int64_t lo = tq_block_lo(&S->B, S->b0 + bb) - d->lo;
            int64_t hi = tq_block_hi(&S->B, S->b0 + bb) - d->lo;
            int32_t lb[256];
            double g[256];
            for (int64_t i0 = lo; i0 < hi; i0 += 256) {
                int64_t cnt = hi - i0 < 256 ? hi - i0 : 256;
                brute_rows(d->x + i0, d->y + i0, d->z + i0, cnt, &NC, lb, g, NULL, NULL, NULL);
                for (int64_t t = 0; t < cnt; t++) {
                    int64_t i = i0 + t;
                    double xx = fma(d->z[i], d->z[i], fma(d->y[i], d->y[i], d->x[i] * d->x[i]));
                    double v = g[t] + xx;
                    if (v < 0) v = 0;
                    if (v < D2[i]) D2[i] = v;
                }
            }
            bsum[bb] = wsum_range(d, D2, lo, hi);
        }
        *nd += S->B.n * tot;
    }
    if (ncand < k) {
        status = seed_pp(S, nd);
        goto done;
    }
    /* weight of each candidate: rows nearest to it */
    centers_free(&NC);
    status = centers_alloc(&NC, (int)ncand);
    if (status != TQ_OK) goto done;
    NC.smax = S->C.smax;
    memcpy(NC.c, cand, (size_t)ncand * 3 * sizeof(double));
    centers_prepare(&NC);
    wpart = calloc((size_t)(nbl > 0 ? nbl : 1) * (size_t)ncand, sizeof *wpart);
    cw = malloc((size_t)ncand * sizeof *cw);
    lab = malloc(256 * sizeof *lab * (size_t)S->nt);
    gb = malloc(256 * sizeof *gb * (size_t)S->nt);
    if (!wpart || !cw || !lab || !gb) {
        status = TQ_ENOMEM;
        goto done;
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(S->nt)
    for (int64_t bb = 0; bb < nbl; bb++) {
        int64_t lo = tq_block_lo(&S->B, S->b0 + bb) - d->lo;
        int64_t hi = tq_block_hi(&S->B, S->b0 + bb) - d->lo;
        int32_t *L = lab + 256 * omp_get_thread_num();
        double *G = gb + 256 * omp_get_thread_num();
        double *W = wpart + bb * ncand;
        for (int64_t i0 = lo; i0 < hi; i0 += 256) {
            int64_t cnt = hi - i0 < 256 ? hi - i0 : 256;
            brute_rows(d->x + i0, d->y + i0, d->z + i0, cnt, &NC, L, G, NULL, NULL, NULL);
            for (int64_t t = 0; t < cnt; t++) W[L[t]] += wt(d, i0 + t);
        }
    }
    *nd += S->B.n * ncand;
    status = tq_comm_sum_blocks(S->comm, &S->B, wpart, ncand, cw);
    if (status != TQ_OK) goto done;
    status = seed_pp_local(cand, cw, ncand, k, S->p->seed, S->C.c);
done:
    centers_free(&NC);
    free(D2);
    free(bsum);
    free(cand);
    free(loc);
    free(cw);
    free(wpart);
    free(lab);
    free(gb);
    return status;
}

/* ---- empty-cluster repair ---------------------------------------------------------------- */
typedef struct {
    double v;     /* w * ||x - c_label||^2 */
    int64_t gi;   /* global row */
    double x[3];
} cand_t;

/* a ranks before b: larger v, then lower row */
static int cand_before(const cand_t *a, const cand_t *b)
{
    return a->v > b->v || (a->v == b->v && a->gi < b->gi);
}

static void cand_insert(cand_t *top, int e, int *len, const cand_t *c)
{
    if (*len == e && !cand_before(c, &top[e - 1])) return;
    int p = *len < e ? (*len)++ : e - 1;
    while (p > 0 && cand_before(c, &top[p - 1])) {
        top[p] = top[p - 1];
        p--;
    }
    top[p] = *c;
}

/* Empty clusters (no points) get, in increasing cluster index, the rows with the
 * largest weighted squared distance to their (updated) center, ties to the lower row:
 * a total order, so the choice does not depend on the partition. Cost one pass. */
static int repair_empty(km_t *S, const int32_t *label, const int *empty, int ne)
{
    int status = TQ_OK;
    const tq_kmeans_data *d = S->d;
    int P = tq_comm_size(S->comm);
    cand_t *top = calloc((size_t)ne, sizeof *top);
    cand_t *all = calloc((size_t)ne * (size_t)P, sizeof *all);
    cand_t *merged = calloc((size_t)ne, sizeof *merged);
    if (!top || !all || !merged) {
        status = TQ_ENOMEM;
        goto done;
    }
    int len = 0;
    for (int64_t i = 0; i < S->nloc; i++) {
        const double *c = S->C.c + 3 * label[i];
        double dx = d->x[i] - c[0], dy = d->y[i] - c[1], dz = d->z[i] - c[2];
        cand_t cd = {wt(d, i) * fma(dz, dz, fma(dy, dy, dx * dx)), d->lo + i,
                     {d->x[i], d->y[i], d->z[i]}};
        cand_insert(top, ne, &len, &cd);
    }
    for (int t = len; t < ne; t++) top[t].v = -1, top[t].gi = INT64_MAX;
    status = tq_comm_allgatherv(S->comm, top, ne, sizeof(cand_t), all);
    if (status != TQ_OK) goto done;
    int mlen = 0;
    for (int t = 0; t < ne * P; t++)
        if (all[t].v >= 0) cand_insert(merged, ne, &mlen, &all[t]);
    for (int t = 0; t < ne && t < mlen; t++) memcpy(S->C.c + 3 * empty[t], merged[t].x, 3 * sizeof(double));
done:
    free(top);
    free(all);
    free(merged);
    return status;
}

/* Cost model for choosing the next pass (measured on the 2-core AVX-512 machine of
 * bench/kmeans, ns per point and thread): the vectorized brute force about 5 + 0.2 K,
 * plus about 100 when it also leaves fresh bounds for a bounded pass; a bounded pass
 * about 10 + 300 f, f the share of points failing the loose test (they load their
 * coordinates, and many search). f is predicted from the last bounded pass, decaying by
 * 0.85 per pass as the centers settle; before any bounded pass from 0.8 * 0.85^it but at
 * least 0.08 (what later iterations typically show).
 * valid = 1 (the bounds are fresh): 1 if the next pass should be bounded; bounds are
 * kept unless clearly worse (1.5x), since coming back costs a bound-keeping pass.
 * valid = 0: 1 if bounds are worth (re)building, the rebuild spread over three passes. */
static double predicted_share(double last_f, int age, int it)
{
    double f = last_f >= 0 ? last_f * pow(0.85, (double)age) : 0.8 * pow(0.85, (double)it);
    if (last_f < 0 && f < 0.08) f = 0.08;
    return f;
}
static int bounded_cheaper(double f, int valid, int k)
{
    double brute = 5.0 + 0.2 * k, bounded = 10.0 + 300.0 * f;
    if (k > 20000) return 0; /* O(k^2) neighbor lists would dominate */
    return valid ? bounded < 1.5 * brute : bounded + 33.0 < brute;
}

/* ---- driver ------------------------------------------------------------------------------ */
int tq_kmeans_run(const tq_kmeans_params *p, const tq_kmeans_data *d, const tq_comm *comm,
                  tq_kmeans_result *r)
{
    int status = TQ_OK;
    km_t S;
    double *old = NULL, *fin = NULL;
    int *empty = NULL;
    memset(&S, 0, sizeof S);
    r->iter_time = r->iter_inertia = NULL;
    r->iter_ndist = NULL;
    r->passes = r->iterations = r->converged = r->repaired = 0;
    r->ndist = r->nfull = r->seed_ndist = 0;
    r->t_seed = r->t_iter = r->t_first = r->t_setup = 0;
    r->inertia = 0;
    if (tq_kmeans_check(p)) return TQ_EINVAL;
    S.p = p;
    S.d = d;
    S.comm = comm;
    S.k = p->k;
    S.nt = tq_threads();
    tq_blocks_init(&S.B, d->n);
    int64_t lo, hi;
    tq_blocks_of_rank(&S.B, tq_comm_rank(comm), tq_comm_size(comm), &S.b0, &S.b1, &lo, &hi);
    if (lo != d->lo || hi != d->hi || d->n < 1) return TQ_EINVAL;
    if (p->k > d->n) return TQ_EINVAL;
    S.nloc = hi - lo;
    int k = p->k;
    int64_t m = NS * (int64_t)k;
    int64_t nbl = S.b1 - S.b0;
    size_t nblp = (size_t)(nbl > 0 ? nbl : 1);

    /* scale of the data for the rounding slack */
    double smax = 0;
    for (int64_t i = 0; i < S.nloc; i++) {
        double v = d->x[i] * d->x[i] + d->y[i] * d->y[i] + d->z[i] * d->z[i];
        if (v > smax) smax = v;
    }
    status = tq_comm_max_f64(comm, &smax, 1);
    if (status != TQ_OK) goto done;
    if (smax < 1) smax = 1;
    S.sl.sd = 1e-9 * sqrt(smax);
    S.sl.gs = 1e-14 * smax;

    status = centers_alloc(&S.C, k);
    if (status != TQ_OK) goto done;
    S.C.smax = smax;
    S.part = big_alloc(nblp * (size_t)(m > 2 * k + 1 ? m : 2 * k + 1) * sizeof *S.part);
    S.tot = calloc((size_t)m, sizeof *S.tot);
    S.dirty = calloc((size_t)k, sizeof *S.dirty);
    S.dlist = malloc((size_t)k * sizeof *S.dlist);
    S.drift = calloc((size_t)k, sizeof *S.drift);
    old = malloc((size_t)k * 3 * sizeof *old);
    fin = malloc((size_t)(2 * k + 1) * sizeof *fin);
    empty = malloc((size_t)k * sizeof *empty);
    int maxpass = p->fixed ? 1 : p->max_iter + 1;
    r->iter_time = calloc((size_t)maxpass, sizeof(double));
    r->iter_inertia = calloc((size_t)maxpass, sizeof(double));
    r->iter_ndist = calloc((size_t)maxpass, sizeof(int64_t));
    if (!S.part || !S.tot || !S.dirty || !S.dlist || !S.drift || !old || !fin || !empty ||
        !r->iter_time || !r->iter_inertia || !r->iter_ndist) {
        status = TQ_ENOMEM;
        goto done;
    }
    if (tq_comm_size(comm) > 1) {
        S.pack = malloc(nblp * (size_t)m * sizeof *S.pack);
        S.packtot = malloc((size_t)m * sizeof *S.packtot);
        if (!S.pack || !S.packtot) {
            status = TQ_ENOMEM;
            goto done;
        }
    }
    double wtot = 0;
    {
        double *bs = malloc(nblp * sizeof *bs);
        if (!bs) {
            status = TQ_ENOMEM;
            goto done;
        }
        wsum_blocks(&S, bs);
        status = tq_comm_sum_blocks(comm, &S.B, bs, 1, &wtot);
        free(bs);
        if (status != TQ_OK) goto done;
        if (!(wtot > 0)) {
            status = TQ_EINVAL;
            goto done;
        }
    }
    /* a cluster lighter than this is treated as weightless (its center stays): the
     * incremental sums may leave a rounding residue of this order */
    double wtiny = 1e-13 * wtot;

    /* seeding */
    double t0 = tq_now();
    if (p->fixed || p->init == TQ_KM_INIT_GIVEN) {
        memcpy(S.C.c, r->centers, (size_t)k * 3 * sizeof(double));
    } else if (p->init == TQ_KM_INIT_PP) {
        status = seed_pp(&S, &r->seed_ndist);
    } else {
        status = seed_par(&S, &r->seed_ndist);
    }
    if (status != TQ_OK) goto done;
    centers_prepare(&S.C);
    r->t_seed = tq_now() - t0;

    /* working arrays, touched now (page faults are slow on virtual machines) so that
     * the pass times measure passes; this setup time is reported as t_setup */
    double tsu = tq_now();
    int bounds = !p->fixed && p->algo == TQ_KM_ALGO_BOUNDS && p->max_iter > 0;
    memset(S.part, 0, nblp * (size_t)(m > 2 * k + 1 ? m : 2 * k + 1) * sizeof *S.part);
    if (bounds) {
        size_t nlp = (size_t)(S.nloc > 0 ? S.nloc : 1);
        S.ub = calloc(nlp, sizeof *S.ub);
        S.l2 = calloc(nlp, sizeof *S.l2);
        S.l3 = calloc(nlp, sizeof *S.l3);
        S.b2 = calloc(nlp, sizeof *S.b2);
        if (!S.ub || !S.l2 || !S.l3 || !S.b2) {
            status = TQ_ENOMEM;
            goto done;
        }
        memset(S.ub, 0, nlp * sizeof *S.ub);
        memset(S.l2, 0, nlp * sizeof *S.l2);
        memset(S.l3, 0, nlp * sizeof *S.l3);
        memset(S.b2, 0, nlp * sizeof *S.b2);
        status = nbrs_alloc(&S.N, k, p->neighbors);
        if (status != TQ_OK) goto done;
        S.cb = malloc((size_t)k * sizeof *S.cb);
        if (!S.cb) {
            status = TQ_ENOMEM;
            goto done;
        }
    }
    int mode = p->algo == TQ_KM_ALGO_REF ? 2 : p->algo == TQ_KM_ALGO_TREE ? 3 : 0;
    if (mode == 3 && S.nloc >= INT32_MAX / 2) mode = 0; /* 32-bit tree positions */
    if (mode == 3) {
        status = tree_setup(&S);
        if (status != TQ_OK) goto done;
    }
    memset(r->label, 0, (size_t)S.nloc * sizeof *r->label);
    r->t_setup = tq_now() - tsu;

    /* first assignment pass */
    double tstart = tq_now();
    int64_t changes = 0, nd = 0;
    int first_keep = bounds && (!p->adaptive || bounded_cheaper(0.08, 0, k));
    status = assign_pass(&S, r->label, mode, 1, first_keep, &changes, &nd);
    if (status != TQ_OK) goto done;
    double iprev = sums_inertia(&S);
    r->iter_time[0] = r->t_first = tq_now() - tstart;
    r->iter_inertia[0] = iprev;
    r->iter_ndist[0] = nd;
    r->ndist = nd;
    r->passes = 1;

    double last_f = -1; /* share failing the loose test in the last bounded pass */
    int age = 0;        /* passes since then */
    int bounds_valid = first_keep;
    for (int it = 1; !p->fixed && it <= p->max_iter; it++) {
        double ts = tq_now();
        if (p->progress) p->progress(p->progress_ctx, it - 1, p->max_iter);
        /* update: weighted means; clusters without points are repaired */
        memcpy(old, S.C.c, (size_t)k * 3 * sizeof *old);
        int ne = 0;
        for (int j = 0; j < k; j++) {
            const double *t = S.tot + NS * (size_t)j;
            if (t[4] <= 0) {
                empty[ne++] = j;
            } else if (t[3] > wtiny) {
                S.C.c[3 * j] = t[0] / t[3];
                S.C.c[3 * j + 1] = t[1] / t[3];
                S.C.c[3 * j + 2] = t[2] / t[3];
            } /* points but no weight: the center stays */
        }
        if (ne > 0) {
            tree_sync_labels(&S, r->label);
            status = repair_empty(&S, r->label, empty, ne);
            if (status != TQ_OK) goto done;
            r->repaired += ne;
        }
        centers_prepare(&S.C);
        /* Bounded or brute-force pass (bounded_cheaper)? Both give the same labels and
         * sums; the choice only affects time, and is made from global counts. A
         * brute-force pass keeps the bounds up to date only when the next pass is
         * expected to use them. */
        int use_bounds = bounds && bounds_valid &&
                         (!p->adaptive || bounded_cheaper(predicted_share(last_f, age, it), 1, k));
        if (!use_bounds && bounds) S.N.valid = 0; /* lists go stale: rebuild when back */
        if (use_bounds) {
            S.dmax1 = S.dmax2 = 0;
            S.dargmax = -1;
            for (int j = 0; j < k; j++) {
                double dx = S.C.c[3 * j] - old[3 * j], dy = S.C.c[3 * j + 1] - old[3 * j + 1];
                double dz = S.C.c[3 * j + 2] - old[3 * j + 2];
                double dr = sqrt(fma(dz, dz, fma(dy, dy, dx * dx)));
                S.drift[j] = dr;
                if (dr > S.dmax1) {
                    S.dmax2 = S.dmax1;
                    S.dmax1 = dr;
                    S.dargmax = j;
                } else if (dr > S.dmax2) {
                    S.dmax2 = dr;
                }
            }
            status = nbrs_build(&S.N, &S.C, S.drift, S.dmax1, S.nt);
            if (status != TQ_OK) goto done;
            for (int j = 0; j < k; j++) {
                S.cb[j].drift = S.drift[j];
                S.cb[j].mdm = S.N.mdm[j];
                /* every center but the NEAR nearest is at least this far from c_j */
                double far = S.N.nn > NEAR ? S.N.d[(size_t)j * S.N.nn + NEAR] : INFINITY;
                S.cb[j].r = far < S.N.r[j] ? far : S.N.r[j];
                S.cb[j].s = S.N.s[j];
            }
        }
        int keep = bounds && (use_bounds || !p->adaptive ||
                              bounded_cheaper(predicted_share(last_f, age + 1, it + 1), 0, k));
        status = assign_pass(&S, r->label, use_bounds ? 1 : mode, 0, keep, &changes, &nd);
        if (status != TQ_OK) goto done;
        bounds_valid = keep;
        if (use_bounds) {
            last_f = (double)S.tightened / (double)d->n;
            age = 1;
        } else {
            age++;
        }
        double inert = sums_inertia(&S);
        r->iter_time[r->passes] = tq_now() - ts;
        r->iter_inertia[r->passes] = inert;
        r->iter_ndist[r->passes] = nd;
        r->passes++;
        r->ndist += nd;
        r->iterations = it;
        if (changes == 0 || (p->tol > 0 && iprev - inert <= p->tol * inert)) {
            r->converged = 1;
            break;
        }
        iprev = inert;
    }
    /* counts, weights and inertia from scratch for the final labels and centers */
    tree_sync_labels(&S, r->label);
    status = final_sums(&S, r->label, fin);
    if (status != TQ_OK) goto done;
    r->t_iter = tq_now() - tstart;
    r->nfull = (int64_t)r->passes * d->n * k;
    r->inertia = fin[2 * k];
    memcpy(r->centers, S.C.c, (size_t)k * 3 * sizeof(double));
    for (int j = 0; j < k; j++) {
        r->weight[j] = fin[2 * j];
        r->count[j] = (int64_t)fin[2 * j + 1];
    }
    if (!p->fixed && p->max_iter > 0 && !r->converged) status = TQ_NOT_CONVERGED;
done:
    centers_free(&S.C);
    nbrs_free(&S.N);
    free(S.ub);
    free(S.l2);
    free(S.l3);
    free(S.b2);
    free(S.cb);
    free(S.sx);
    free(S.sy);
    free(S.sz);
    free(S.perm);
    free(S.tl);
    free(S.nodes);
    free(S.zbuf);
    free(S.ztop);
    free(S.tnode);
    free(S.tinh);
    free(S.tnz);
    free(S.tz);
    free(S.cbuf);
    free(S.tchunk);
    free(S.tnch);
    free(S.tfill);
    free(S.nchg);
    free(S.chgall);
    free(S.bcnt);
    free(S.tbcnt);
    free(S.tdirty);
    free(S.nlbuf);
    free(S.bmbuf);
    free(S.part);
    free(S.tot);
    free(S.pack);
    free(S.packtot);
    free(S.dirty);
    free(S.dlist);
    free(S.drift);
    free(old);
    free(fin);
    free(empty);
    if (status < 0) tq_kmeans_result_free(r);
    return status;
}
