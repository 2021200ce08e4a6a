/* tq_pairbb.h: a small 0-1 program with a few two-sided rows, solved by LP-based
 * branch and bound on a dense bounded dual simplex (the pair MIPs of tq_align.c).
 *
 *   minimise  sum_j c[j] x[j]
 *   subject to lo[r] <= sum_j a[j*R + r] x[j] <= hi[r]   (r < R <= TQ_PAIRBB_MAXR)
 *              x[j] in {0, 1}
 *
 * lo[r] may be -INFINITY and hi[r] INFINITY. With R rows, an LP vertex has at most R
 * fractional columns, so each node is a handful of pivots over an R x R basis. */
#ifndef TQ_PAIRBB_H
#define TQ_PAIRBB_H

#include <stdint.h>

#define TQ_PAIRBB_MAXR 4

typedef struct {
    int n, R;
    const double *a;     /* n x R, column (account) major */
    const double *lo, *hi;
    const double *c;
    const uint8_t *x0;   /* a start (used when it meets every row), or NULL */
    int node_limit;      /* LPs solved at most (the root included) */
} tq_pairbb;

/* Solves p. x (n entries) receives the best 0-1 point found, which meets every row
 * exactly (no tolerance: sums in the order of j); *obj its cost (sum in the order of
 * j). Returns 1 when a point was found (x0 or better), 0 when none, -1 when out of
 * memory. *nodes (may be NULL): LPs solved; *proven (may be NULL): 1 when the search
 * ended within the node limit (x then optimal, or none exists); *lp (may be NULL): the
 * LP relaxation's value (NAN when it has no point or was not solved). Deterministic. */
int tq_pairbb_solve(const tq_pairbb *p, uint8_t *x, double *obj, int *nodes, int *proven,
                    double *lp);

#endif
