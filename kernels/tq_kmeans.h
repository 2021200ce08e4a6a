/* tq_kmeans.h: exact weighted Lloyd k-means on 3-D points (unit vectors from lat/lon),
 * parallel (OpenMP over the fixed blocks of tq_common.h, MPI through tq_comm) and
 * deterministic (bit-identical labels and centers for any thread or rank count).
 *
 * Exactness. Every assignment equals the brute-force one, argmin_j g_j(x) with ties to
 * the lowest j, where g_j(x) = ||c_j||^2 - 2 x.c_j is evaluated by one fixed expression
 * (tq_kmeans_g below: three fused multiply-adds in double) in every code path. Speed
 * comes from skipping centers that are provably farther (triangle-inequality bounds,
 * Hamerly 2010 / Exponion, Newling & Fleuret 2016), tested with a safety margin that
 * covers all rounding, never from approximation. See docs/kmeans.md.
 *
 * Determinism. Sums of w*x, w, counts and w*d^2 are formed per block (sequentially inside
 * a block) and combined in block order by tq_comm_sum_blocks; random draws use the
 * counter-based generator of tq_common.h keyed by global row number. */
#ifndef TQ_KMEANS_H
#define TQ_KMEANS_H

#include <math.h>
#include <stdint.h>

#include "tq_comm.h"
#include "tq_common.h"

enum {
    TQ_KM_INIT_PP = 0,     /* k-means++ (Arthur & Vassilvitskii 2007), weighted */
    TQ_KM_INIT_PAR = 1,    /* k-means|| (Bahmani et al. 2012), then k-means++ on candidates */
    TQ_KM_INIT_GIVEN = 2   /* start from the centers passed in r->centers */
};
enum {
    TQ_KM_ALGO_BOUNDS = 0, /* vectorized brute force for the first pass, then bounds (or
                            * brute force when cheaper: params.adaptive) (Hamerly /
                            * Exponion) */
    TQ_KM_ALGO_BRUTE = 1,  /* vectorized brute force every pass */
    TQ_KM_ALGO_REF = 2,    /* plain scalar brute force every pass (reference for tests) */
    TQ_KM_ALGO_TREE = 3    /* kd-tree filtering of centers per block of points (Kanungo
                            * et al. 2002) every pass; needs no state between passes */
};

typedef struct {
    int k;                 /* number of clusters, >= 1 (and <= N, checked at run time) */
    int max_iter;          /* maximum Lloyd iterations (center updates), 0..1000000 */
    double tol;            /* stop when (I_prev - I) <= tol * I (relative inertia decrease);
                            * 0 = run until no label changes or max_iter */
    uint64_t seed;         /* seed of the counter-based RNG for seeding */
    int init;              /* TQ_KM_INIT_*: how the initial centers are chosen */
    int algo;              /* TQ_KM_ALGO_*: assignment method (all give the same result);
                            * default TQ_KM_ALGO_TREE */
    int fixed;             /* 1: centers are given (r->centers) and kept; assignment only */
    int par_rounds;        /* k-means|| sampling rounds, >= 1 (Bahmani et al. use 5) */
    double par_oversample; /* k-means|| expected candidates per round / k, > 0 */
    int neighbors;         /* per-center sorted neighbor list length for the bounded
                            * search (Exponion); longer lists mean fewer full scans */
    int adaptive;          /* ALGO_BOUNDS only: 1 = each pass uses bounds or the vectorized
                            * brute force, whichever a cost model expects to be faster
                            * (same result); 0 = bounds after the first pass */
    tq_progress_hook progress; /* called after each iteration (it, max_iter); NULL = none */
    void *progress_ctx;
} tq_kmeans_params;

void tq_kmeans_defaults(tq_kmeans_params *p);
/* NULL if valid, else a message naming the bad field. */
const char *tq_kmeans_check(const tq_kmeans_params *p);

/* This rank's rows. Rows [lo, hi) must be tq_blocks_of_rank(tq_blocks_init(n), rank,
 * size): the fixed partition (tq_kmeans_run checks it). Points need not be unit vectors,
 * but must be finite; weights >= 0, finite, not all zero. */
typedef struct {
    int64_t n;             /* global number of points */
    int64_t lo, hi;        /* rows held here */
    const double *x, *y, *z; /* hi-lo coordinates each (SoA) */
    const double *w;       /* hi-lo weights, or NULL for all 1 */
} tq_kmeans_data;

typedef struct {
    int32_t *label;        /* in: caller-allocated hi-lo; out: cluster of each local row */
    double *centers;       /* in: caller-allocated k x 3 (initial centers for INIT_GIVEN or
                            * fixed); out: final centers (weighted means, not normalized) */
    int64_t *count;        /* out, caller-allocated k: points per cluster */
    double *weight;        /* out, caller-allocated k: weight per cluster */
    double inertia;        /* out: sum_i w_i ||x_i - c_label(i)||^2 (final centers) */
    int iterations;        /* out: center updates done */
    int converged;         /* out: 1 if stopped by no change or tol, 0 at max_iter */
    int repaired;          /* out: empty clusters re-seeded (total over iterations) */
    int64_t ndist;         /* out: point-center distance evaluations in assignment passes */
    int64_t nfull;         /* out: what brute force would evaluate: passes * n * k */
    int64_t seed_ndist;    /* out: distance evaluations spent in seeding */
    double t_seed, t_iter, t_first; /* out: seconds in seeding, in all iterations, first pass */
    double t_setup;        /* out: seconds allocating and touching the working arrays */
    double *iter_time;     /* out, kernel-allocated: seconds per assignment pass (passes =
                            * iterations + 1), free with tq_kmeans_result_free */
    double *iter_inertia;  /* out: inertia after each assignment pass */
    int64_t *iter_ndist;   /* out: distance evaluations in each pass */
    int passes;            /* out: assignment passes (entries of iter_*) */
} tq_kmeans_result;

/* Frees the kernel-allocated arrays of r (not the caller's). NULL-safe. */
void tq_kmeans_result_free(tq_kmeans_result *r);

/* Runs seeding (unless fixed or INIT_GIVEN) and Lloyd iterations. Collective over comm.
 * Returns TQ_OK, TQ_NOT_CONVERGED (max_iter reached; result usable), TQ_EINVAL (k > n,
 * all weights zero, bad partition), TQ_ENOMEM, TQ_EMPI.
 * Cost per iteration: O(n/threads) memory traffic plus the distance evaluations not
 * skipped. TQ_KM_ALGO_TREE: a tree walk (about 1 evaluation per point at k = 1000) and
 * the changed points; O(n log) once to build the tree. TQ_KM_ALGO_BOUNDS: first pass
 * n*k (vectorized), O(k^2) for center-center distances.
 * Memory per local row: TQ_KM_ALGO_TREE about 40 bytes (tree-order copy, labels, nodes,
 * change lists), TQ_KM_ALGO_BOUNDS 16 bytes; plus O(blocks*k) for the per-block partial
 * sums. */
int tq_kmeans_run(const tq_kmeans_params *p, const tq_kmeans_data *d, const tq_comm *comm,
                  tq_kmeans_result *r);

/* The one expression that decides labels: g = ||c||^2 - 2 x.c, as
 * fma(z, -2cz, fma(y, -2cy, fma(x, -2cx, ||c||^2))). */
static inline double tq_kmeans_g(double x, double y, double z, double m2x, double m2y,
                                 double m2z, double c2)
{
    return fma(z, m2z, fma(y, m2y, fma(x, m2x, c2)));
}

/* Brute-force labels of m points against k centers (k x 3, row-major): label[i] =
 * argmin_j g_j(x_i), ties to the lowest j. Scalar reference (tests). Cost m*k. */
void tq_kmeans_assign_ref(const double *x, const double *y, const double *z, int64_t m,
                          const double *centers, int k, int32_t *label);

/* Unit vector of (lat, lon) in degrees, and back (a center is normalized first). */
void tq_latlon_to_xyz(double lat, double lon, double *x, double *y, double *z);
void tq_xyz_to_latlon(double x, double y, double z, double *lat, double *lon);

/* Earth's mean radius (IUGG), km: chord distances on the unit sphere times this. */
#define TQ_EARTH_RADIUS_KM 6371.0088

#endif
