/* tq_align.h: balanced territory alignment (docs/align.md).
 *
 * Model (a capacitated assignment with windows, cf. Kalcsics, Nickel & Schroeder,
 * "Towards a unified territorial design approach", OR Spektrum 27, 2005):
 *   minimise   sum_i c(i, t_i),  c(i,k) = weight_i * dist(i, center_k)
 *                                         + alpha * value_i * [k != prev_i]
 *   subject to lo_km <= sum_{i: t_i = k} a_im <= hi_km   for each territory k and each
 *              balanced metric m (a_i0 = workload, a_i1 = potential, a_i2 = 1),
 *              lo/hi = (1 -/+ tol_m) * target_km, target_km = total_m * cap_k / sum cap;
 *              sum_{i: t_i != prev_i, prev_i >= 0} value_i <= max_moved * sum value (opt.);
 *              t_i = prev_i for locked accounts.
 *
 * Scale path: Lagrangian relaxation of the window and budget rows (Fisher, "The
 * Lagrangian relaxation method for solving integer programming problems", Mgmt Sci
 * 1981). Given prices pi_km (free sign: pi = lambda_upper - lambda_lower) every
 * account picks argmin_k c(i,k) + sum_m pi_km a_im over its C nearest territories
 * (plus its previous one); loads are summed per fixed block in block order, so the
 * result is bit-identical for any thread and rank count. Prices follow a sign-based
 * per-coordinate step (Rprop, Riedmiller & Braun 1993; a bisection-like search per
 * territory and metric). The dual value
 *   g(pi) = sum_i min_k [c(i,k) + pi_k . a_i] - sum_km (pi_km^+ hi_km - pi_km^- lo_km)
 * is a lower bound. The reported bound is g evaluated over ALL K territories (accounts
 * whose non-candidate territories might be cheaper are checked against every k), so it
 * bounds the full model, not just the candidate-restricted one.
 * Repair: accounts with the smallest regret (second best minus best priced cost) form
 * a boundary set; every other account keeps its priced choice; the boundary set is
 * settled by a greedy violation-then-cost local search and then a GLPK MIP (node
 * limited, warm-started with the greedy solution), so every window holds exactly.
 *
 * Exact path (params.exact): the full ILP over all K territories with GLPK, warm
 * started with the scale path's solution; for small N (tests, benchmarks).
 *
 * Memory per rank: O(nlocal * C) for candidates and costs, O(nblocks * K) partials. */
#ifndef TQ_ALIGN_H
#define TQ_ALIGN_H

#include <stdint.h>

#include "tq_comm.h"

enum { TQ_ALIGN_WORKLOAD = 0, TQ_ALIGN_POTENTIAL = 1, TQ_ALIGN_COUNT = 2, TQ_ALIGN_NM = 3 };
enum { TQ_DIST_KM = 0, TQ_DIST_KM2 = 1 };
enum { TQ_PRICES_AUTO = 0, TQ_PRICES_LBFGS = 1, TQ_PRICES_NEWTON = 2, TQ_PRICES_PLAIN = 3 };

#define TQ_EARTH_KM 6371.0088

/* The transport LP's far arcs (Transport arcs, docs/align.md): for each territory's group
 * (accounts nearest its center), up to nx other territories it sends load to, largest
 * share first, -1 padded; viol its windows' least violation. They depend on the
 * problem (its centers), the tolerances, balance and candidates, not on alpha or the
 * budget: a result's arcs let another solve of the same problem skip the LP. */
typedef struct {
    int k, nx;
    int32_t *arc;            /* k x nx */
    double viol;
} tq_align_arcs;

typedef struct {
    double tol[TQ_ALIGN_NM]; /* window half-width per metric as a share of the target
                                (0.02 = +-2%); < 0: metric not balanced */
    double alpha;            /* disruption penalty, cost units per unit of value moved
                                away from prev_territory; >= 0 */
    double max_moved;        /* hard budget: share of total value (of accounts with a
                                prev_territory) that may move, in [0,1]; < 0: none */
    int distance;            /* TQ_DIST_KM (great-circle km) or TQ_DIST_KM2 (km^2) */
    int candidates;          /* C: nearest territories per account considered, >= 1
                                (capped at K); prev_territory is always a candidate */
    int max_rounds;          /* Lagrangian price rounds, >= 1 */
    int prices;              /* price search on the smoothed dual: TQ_PRICES_NEWTON
                                (damped Newton with the territory-level Hessian, dense;
                                up to 3000 prices, else L-BFGS), TQ_PRICES_LBFGS (L-BFGS
                                preconditioned by that Hessian, refreshed every 40
                                iterations; plain above 3000 prices), TQ_PRICES_PLAIN
                                (L-BFGS without it), or TQ_PRICES_AUTO (the default:
                                TQ_PRICES_LBFGS) */
#define TQ_COARSE_AUTO (-1)
    int coarse;              /* coarse level: prices and column generation first on every
                                s-th row (s = n / (coarse * k), rows scaled by s) when
                                s >= 2, then refined on all rows; 0 = off;
                                TQ_COARSE_AUTO (the default): 100 when there are more
                                than 200 prices (the L-BFGS regime), else off */
    double gap_stop;         /* stop the rounds once a feasible priced assignment is
                                within this relative gap of the bound, >= 0 */
    double gap_goal;         /* when the repaired alignment's gap is above this, the
                                prices run once more at the finest eps with a 100x
                                tighter stall test, and the repair starts again from
                                them; the cheaper alignment is kept; with a budget
                                (max_moved) the prices run once more for the bound
                                alone (the budget bound, docs/align.md); 0 = off
                                (default 0.005) */
    int64_t boundary;        /* accounts in the first repair set (grows x4 on failure) */
    int mip_nodes;           /* GLPK branch-and-bound node limit for the boundary MIP
                                at mip_max_cols variables, up to 5x that for a smaller
                                one (deterministic); 0 = no MIP, greedy repair only */
    int64_t mip_max_cols;    /* skip the boundary MIP above this many variables */
    double mip_seconds;      /* GLPK time limit per MIP, s (safety; normally not hit) */
    int pair_passes;         /* instances of at most 100,000 accounts: at most this many
                                passes of pair MIPs over the final alignment (each
                                pair of territories re-assigned by a small MIP while
                                that lowers the cost; they stop once a pass saves less
                                than a tenth of the gap left and 0.1% of the cost); 0 =
                                off (default 100). With alpha > 0, up to 20,000
                                accounts, also from every other repaired start (the
                                cheapest result kept) */
    int budget_fallback;     /* 1 (default): when the repair meets no disruption budget,
                                solve again with a disruption penalty (budget_alpha) */
    int exact;               /* 1: solve the full ILP over all K with GLPK (small N) */
    int64_t exact_max_n;     /* refuse exact above this many accounts */
    double exact_seconds;    /* exact path: GLPK time limit for the LP and for the search */
    int center_iters;        /* 0: centers fixed; n > 0: up to n rounds of "assign,
                                move each center to its accounts' weighted mean" */
    const double *warm_prices; /* 3k + 1, or NULL: start from these prices (a result's
                                `prices` of the same problem, e.g. another budget)
                                instead of the coarse level, where they bound something;
                                used only with a coarse level */
    const tq_align_arcs *arcs; /* or NULL: a result's `arcs` of the same problem,
                                centers, tolerances, balance and candidates (e.g. another
                                budget): used instead of solving the transport LP */
    const char *write_lp;    /* non-NULL: after solving, write the candidate-restricted
                                model the solution lives in (final candidate lists) in
                                CPLEX LP format to this path on rank 0 (benchmarks) */
    tq_progress_hook progress; /* called each price round (round, max_rounds); NULL = none */
    void *progress_ctx;
} tq_align_params;

void tq_align_defaults(tq_align_params *p);
/* NULL if p is valid, else a message naming the bad field. */
const char *tq_align_check(const tq_align_params *p);

/* The input. Rows are this rank's rows [lo, lo + nlocal) of the fixed block partition
 * of tq_common.h for n (tq_blocks_of_rank), all ranks passing the same K data. */
typedef struct {
    int64_t n;               /* global accounts */
    int64_t lo, nlocal;      /* this rank's first row and row count */
    const double *lat, *lon; /* nlocal, degrees */
    const float *workload;   /* nlocal, >= 0 */
    const float *potential;  /* nlocal, >= 0 (value, or value * score) */
    const float *value;      /* nlocal, >= 0: what the disruption terms count */
    const float *weight;     /* nlocal cost weights (e.g. workload), NULL = 1 */
    const int32_t *prev;     /* nlocal, -1 = none; NULL = no previous alignment */
    const uint8_t *locked;   /* nlocal, 1 = keep prev; NULL = none */
    int k;                   /* territories */
    const double *center_lat, *center_lon; /* k, degrees */
    const double *capacity;  /* k relative sizes > 0, NULL = all 1 */
} tq_align_problem;

/* The outcome and its metrics (same on every rank). */
typedef struct {
    int k;
    double *load;            /* k * 3: workload, potential, count per territory */
    double *lo, *hi;         /* k * 3 windows (0 / +inf for metrics not balanced) */
    double *center_lat, *center_lon; /* k, the centers used (moved by center_iters) */
    double *radius_km;       /* k: max distance of an account to its center */
    double *prices;          /* 3k + 1: the last solve's best prices (workload, potential,
                                count per territory, then the budget's), for warm_prices */
    double cost, bound, gap; /* objective, certified lower bound, (cost-bound)/bound */
    double cost_distance, cost_disruption;
    double lagrange_bound_restricted; /* best dual value over candidates only */
    double lp_value;         /* exact path: GLPK's LP relaxation value, else NaN */
    int exact_optimal;       /* exact path proved optimality */
    double mean_km, p90_km;  /* distance to own center (p90 from a histogram: 50 m bins
                                up to 5,000 km, 1 km bins beyond) */
    double moved_value_share, moved_count_share; /* among accounts with a prev */
    double moved_min_share;  /* a lower bound on the share of last year's value that any
                                alignment within the windows moves (0: none known) */
    int64_t moved_count;
    int rounds, center_rounds;
    int64_t center_changed;  /* --centers iterate: accounts whose territory changed in the
                                last round (0: the centers settled) */
    int center_stalled;      /* the last move saved under 1e-4 of the cost (settled) */
    int64_t coarse_stride;   /* rows per sampled row on the coarse level (1: none) */
    int coarse_rounds;       /* of rounds: passes on the coarse level */
    int coarse_runoffs;      /* times the coarse level's prices ran off (Hard starts) */
    int warm_starts;         /* solves that started from earlier prices instead of the
                                coarse level (--centers iterate: the last solve's; or
                                warm_prices) */
    int64_t transport_arcs;  /* coarse level: the transport LP's arcs from a group to
                                another territory than its own (0: not run) */
    double transport_violation; /* its windows' least violation, target units (0: the
                                group LP met every window) */
    tq_align_arcs arcs;      /* the transport LP's far arcs for the problem's centers
                                (arc NULL: not run), for tq_align_params.arcs */
    int hess_passes;         /* Newton Hessian passes (over accounts near a tie) */
    int newton;              /* the last price search was Newton's (else L-BFGS) */
    int precond;             /* the last L-BFGS search was preconditioned by the Hessian */
    int widened;             /* times the candidate lists were doubled (C -> 2C) */
    int candidates;          /* C finally used */
    int64_t boundary_size;   /* accounts in the repair set that succeeded */
    int repair;              /* 0 priced solution was feasible, 1 greedy, 2 MIP, 3 greedy
                                then moved-value pair MIPs (a tight --max-moved) */
    int pair_passes;         /* passes of pair MIPs run */
    int64_t pair_mips, pair_improved; /* pair MIPs solved, and kept (cheaper) */
    double pair_saved;       /* cost the pair MIPs took off (the kept run's) */
    int pair_starts;         /* with --alpha: alignments the pairs ran from besides the
                                final one's (0: the final one only) */
    double budget_alpha;     /* > 0: the repair met no budget, and the alignment is a
                                solve with this much more disruption penalty, improved
                                by the pair MIPs at the asked costs (docs/align.md) */
    int64_t bound_checks;    /* accounts whose bound needed all K territories */
    int64_t columns_added;   /* candidates added by column generation */
    double t_candidates, t_prices, t_repair, t_bound, t_exact, t_pairs; /* seconds */
    double t_hess, t_factor; /* of t_prices: Newton Hessian passes, factorisations */
    int bad_k, bad_m;        /* infeasible: territory and metric (m = 3: budget) */
    int64_t bad_row;         /* infeasible: an account (global row) no territory can
                                take, its metric bad_m (bad_k -1); else -1 */
    char msg[512];           /* error / infeasibility detail */
} tq_align_result;

/* Align. territory[nlocal] receives 0..k-1. Returns TQ_OK, TQ_INFEASIBLE (res->msg,
 * bad_k, bad_m say why; territory undefined), TQ_EINVAL (res->msg), TQ_ENOMEM,
 * TQ_EMPI, TQ_EGLPK. Collective over comm. Cost per round O(nlocal * C / threads);
 * candidates O(nlocal * K); bound O(nlocal * C) plus O(K) per checked account. */
int tq_align_solve(const tq_align_problem *pb, const tq_align_params *p,
                   const tq_comm *comm, int32_t *territory, tq_align_result *res);
void tq_align_result_free(tq_align_result *res);

/* The preconditioned price search's linear algebra, exported for tests: solves A x = b
 * for a symmetric positive definite n x n A (row-major; the lower triangle is read) with
 * the threaded Cholesky factor and panel triangular solves, and sets *qf = b^T A^-1 b
 * from the forward solve alone. Bit-identical for any thread count. Returns TQ_OK,
 * TQ_EINVAL (A not positive definite) or TQ_ENOMEM. */
int tq_align_spd_solve(int n, const double *A, const double *b, double *x, double *qf);

/* The price passes' exp(x) for -40 < x <= 0 (soft-min weights), exported for tests:
 * y[j] = exp(x[j]), j < n, by the scalar form (vec = 0) or, where the build has AVX-512,
 * the vector form (vec = 1; the scalar one otherwise). Both give the same bits. */
void tq_align_exp_neg(const double *x, double *y, int n, int vec);

/* The repair's cost-reducing chains of moves, exported for tests: n accounts, account i
 * may take territories cand[i*C .. i*C+C) (-1 pads) at cost cost[i*C+..], metrics
 * a[i*3+m] (metric m balanced for m < nm), windows lo[k*3+m] .. hi[k*3+m] of K
 * territories; slot[i] (into i's candidates) is the start, whose loads must keep every
 * window, and is updated. Each chain keeps every window and lowers the cost. Returns the
 * chains made, or -1 (bad input, or a start out of a window). */
int64_t tq_align_chains(int K, int64_t n, int C, int nm, const int32_t *cand,
                        const double *cost, const double *a, const double *lo,
                        const double *hi, int32_t *slot);

/* ---- internal, shared with tq_align_mip.c ----------------------------------------------
 * A MIP over nb accounts: account j may take territories cand[j*w .. j*w+w) (-1 pads)
 * at cost cost[j*w+..]; a[j*3+m] metrics; mv[j*w+..] = value counted as moved when
 * taking that candidate. Rows: windows lo/hi (k*3, only metrics with use[m]) and
 * moved <= budget (budget < 0: none). start: incumbent (candidate slot per account) or
 * NULL. out: chosen slot per account. Returns TQ_OK (solution found, *optimal says if
 * proven), TQ_INFEASIBLE (proven or none found: *proven says which), TQ_EGLPK.
 * *bound gets the best proven bound (LP value if B&B stopped). */
typedef struct {
    int64_t nb;
    int w, k;
    const int32_t *cand;
    const double *cost, *a, *mv;
    const double *lo, *hi;
    int use[TQ_ALIGN_NM];
    double budget;
    const int32_t *start;
    int node_limit;
    double seconds;
    const char *write_lp;    /* write the model here (CPLEX LP) instead of solving */
} tq_align_mip;
int tq_align_mip_solve(const tq_align_mip *m, int32_t *out, double *obj, double *bound,
                       double *lp_value, int *optimal, int *proven);

/* The group transport LP: ng groups of accounts, group g holding S[g*nm+q] of balanced
 * metric q, sends shares x[g*K+k] >= 0 (summing to 1) to K territories at cost
 * cost[g*K+k] a whole group; each territory's load of each metric within lo[k*nm+q] ..
 * hi[k*nm+q], or an elastic violation at pen a unit. Solved by column generation from
 * each group's start cheapest arcs. x: ng x K shares; *viol: the elastic total (0 when
 * the windows can be met); *passes: simplex solves; *arcs: arcs in the final model.
 * Returns TQ_OK, TQ_ENOMEM, TQ_EINVAL or TQ_EGLPK. */
typedef struct {
    int ng, K, nm;
    const double *S, *cost, *lo, *hi;
    double pen;
    int start;
} tq_align_transport;
/* keep (or NULL): the solved LP is kept in *keep for a later call; when *keep holds one
 * of the same ng, K and nm on entry (the same groups, other sums: S, cost, lo, hi), that
 * call starts from its columns and last basis instead of the start arcs (the coarse
 * level's run-off arcs: 200,000 x 500 sample sums). *keep is consumed either way; free
 * it with tq_align_tstate_free. */
typedef struct tq_align_tstate tq_align_tstate;
int tq_align_transport_solve(const tq_align_transport *t, double *x, double *viol,
                             int *passes, int64_t *arcs, tq_align_tstate **keep);
void tq_align_tstate_free(tq_align_tstate *s);

#endif
