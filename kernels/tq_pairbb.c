/* tq_pairbb.c: LP-based branch and bound for a 0-1 program with at most
 * TQ_PAIRBB_MAXR two-sided rows (tq_pairbb.h), the pair MIPs of tq_align.c.
 *
 * Each node's LP is solved by a bounded dual simplex (Koberstein's textbook form, with
 * Harris's two-pass ratio test) over the columns x_j in [0, 1] (fixed ones in [v, v])
 * and one slack a row, s_r = a_r . x in [lo_r, hi_r], with an explicit R x R basis
 * inverse. The root starts from the slack basis, each x_j at the bound its cost sign
 * prefers (dual feasible); a child starts from its parent's final basis, where fixing
 * a column only makes the basis primal infeasible, which is what the dual simplex
 * repairs. Search: best first (the open node of least bound; of equal bounds the
 * newest), a node's bound its parent's LP value plus the one-step dual penalty of its
 * branch; the branching column by Driebeck and Tomlin's penalties (as GLPK's default),
 * the most fractional when those are all about 0; reduced-cost fixing against the
 * incumbent at every node. At every node the at most R fractional columns are rounded
 * every way (2^f points, each checked exactly): with so few rows this finds most
 * improving points at the first nodes. Rows and costs are scaled to unit maximum for
 * the LP; points are checked and costed on the data as given.
 *
 * Against GLPK on the pair MIPs of a 10,000 x 200 alignment (same MIPs, both from the
 * same incumbent): at 300 LPs a MIP this found a cheaper point than GLPK's 100 nodes in
 * 317 MIPs and a dearer one in 211 of 8,000, in a quarter of the time or less
 * (bench/RESULTS.md). */
#include "tq_pairbb.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define R4 TQ_PAIRBB_MAXR
#define PTOL 1e-9      /* primal feasibility, relative to a bound (scaled rows) */
#define DTOL 1e-9      /* dual feasibility (scaled costs) */
#define PIVTOL 1e-9    /* smallest pivot taken */
#define FRAC 1e-9      /* a column within this of 0 or 1 is integral */
#define ITER_MAX 1000  /* dual simplex iterations a node; more: the node is dropped */

enum { BASIC = 0, AT_LO = 1, AT_HI = 2 };

typedef struct {
    int n, R, nv;        /* nv = n + R: columns, then one slack a row */
    double *a;           /* rows scaled, n x R */
    double *c;           /* costs scaled, nv (0 for slacks) */
    double *lb, *ub, *x, *d, *alf;  /* nv each */
    uint8_t *st;         /* nv */
    int *cl;             /* nv: the ratio test's candidates */
    int head[R4];        /* basic column of each row */
    double binv[R4 * R4];
} lp_t;

static inline double col(const lp_t *L, int v, int i)
{
    return v < L->n ? L->a[v * L->R + i] : (v - L->n == i ? -1.0 : 0.0);
}

/* B^-1 of the basis in head, by Gauss-Jordan with partial pivoting; 0 when singular */
static int refactor(lp_t *L)
{
    int R = L->R;
    double m[R4][2 * R4];
    for (int i = 0; i < R; i++)
        for (int k = 0; k < R; k++) {
            m[i][k] = col(L, L->head[k], i);
            m[i][R + k] = i == k;
        }
    for (int k = 0; k < R; k++) {
        int p = k;
        for (int i = k + 1; i < R; i++)
            if (fabs(m[i][k]) > fabs(m[p][k])) p = i;
        if (fabs(m[p][k]) < 1e-11) return 0;
        if (p != k)
            for (int t = 0; t < 2 * R; t++) {
                double s = m[k][t];
                m[k][t] = m[p][t];
                m[p][t] = s;
            }
        double inv = 1.0 / m[k][k];
        for (int t = 0; t < 2 * R; t++) m[k][t] *= inv;
        for (int i = 0; i < R; i++) {
            if (i == k || m[i][k] == 0.0) continue;
            double f = m[i][k];
            for (int t = 0; t < 2 * R; t++) m[i][t] -= f * m[k][t];
        }
    }
    for (int i = 0; i < R; i++)
        for (int k = 0; k < R; k++) L->binv[i * R + k] = m[i][R + k];
    return 1;
}

/* nonbasic values at their bounds, basic values, duals and reduced costs */
static void recompute(lp_t *L)
{
    int R = L->R;
    double rhs[R4] = {0}, y[R4] = {0};
    for (int v = 0; v < L->nv; v++) {
        if (L->st[v] == BASIC) continue;
        L->x[v] = L->st[v] == AT_LO ? L->lb[v] : L->ub[v];
        if (L->x[v] != 0.0)
            for (int i = 0; i < R; i++) rhs[i] -= col(L, v, i) * L->x[v];
    }
    for (int k = 0; k < R; k++) {
        double s = 0.0;
        for (int i = 0; i < R; i++) s += L->binv[k * R + i] * rhs[i];
        L->x[L->head[k]] = s;
        for (int i = 0; i < R; i++) y[i] += L->c[L->head[k]] * L->binv[k * R + i];
    }
    for (int v = 0; v < L->nv; v++) {
        if (L->st[v] == BASIC) {
            L->d[v] = 0.0;
            continue;
        }
        double s = L->c[v];
        for (int i = 0; i < R; i++) s -= y[i] * col(L, v, i);
        L->d[v] = s;
    }
}

/* the slack basis, each column at the bound its cost prefers: dual feasible */
static void slack_basis(lp_t *L)
{
    for (int k = 0; k < L->R; k++) {
        L->head[k] = L->n + k;
        L->st[L->n + k] = BASIC;
    }
    for (int j = 0; j < L->n; j++) L->st[j] = L->c[j] < 0.0 ? AT_HI : AT_LO;
    for (int i = 0; i < L->R; i++)
        for (int k = 0; k < L->R; k++) L->binv[i * L->R + k] = i == k ? -1.0 : 0.0;
}

/* Makes the basis in head/st usable: factored, and each free nonbasic column at the
 * bound its reduced cost wants. Falls back to the slack basis. */
static void warm_start(lp_t *L)
{
    if (!refactor(L)) slack_basis(L);
    recompute(L);
    int flipped = 0;
    for (int v = 0; v < L->nv; v++) {
        if (L->st[v] == BASIC || L->lb[v] == L->ub[v]) continue;
        if ((L->st[v] == AT_LO && L->d[v] < -DTOL) || (L->st[v] == AT_HI && L->d[v] > DTOL)) {
            if (v >= L->n) {  /* a slack whose other bound may be infinite */
                slack_basis(L);
                recompute(L);
                return;
            }
            L->st[v] = L->st[v] == AT_LO ? AT_HI : AT_LO;
            flipped = 1;
        }
    }
    if (flipped) recompute(L);
}

/* rho . (column v): an entry of the pivot row */
static inline double row_dot(const lp_t *L, const double *rho, int v)
{
    if (v >= L->n) return -rho[v - L->n];
    double al = 0.0;
    for (int i = 0; i < L->R; i++) al += rho[i] * L->a[v * L->R + i];
    return al;
}

/* a free nonbasic column may enter against a leaving row whose excess has the sign
 * of delta when its pivot-row entry, signed by delta, is al */
static inline int may_enter(const lp_t *L, int v, double al, double delta)
{
    double at = delta < 0 ? -al : al;
    return (L->st[v] == AT_LO && at > PIVTOL) || (L->st[v] == AT_HI && at < -PIVTOL);
}

/* 1: optimal, 0: infeasible, -1: iteration limit */
static int dual_simplex(lp_t *L)
{
    int R = L->R;
    for (int it = 0; it < ITER_MAX; it++) {
        int r = -1;
        double worst = 0.0, delta = 0.0;
        for (int k = 0; k < R; k++) {
            int v = L->head[k];
            double xv = L->x[v];
            if (xv < L->lb[v] - PTOL * fmax(1.0, fabs(L->lb[v])) && L->lb[v] - xv > worst) {
                worst = L->lb[v] - xv;
                r = k;
                delta = xv - L->lb[v];
            } else if (xv > L->ub[v] + PTOL * fmax(1.0, fabs(L->ub[v])) && xv - L->ub[v] > worst) {
                worst = xv - L->ub[v];
                r = k;
                delta = xv - L->ub[v];
            }
        }
        if (r < 0) return 1;
        const double *rho = L->binv + r * R;
        /* the pivot row over the free nonbasic columns (fixed ones never enter and
         * their reduced costs are recomputed at every node), and the candidates */
        double tmax = INFINITY;
        int nc = 0;
        for (int v = 0; v < L->nv; v++) {
            if (L->st[v] == BASIC || L->lb[v] == L->ub[v]) continue;
            double al = row_dot(L, rho, v);
            L->alf[v] = al;
            if (may_enter(L, v, al, delta)) {
                tmax = fmin(tmax, (fabs(L->d[v]) + DTOL) / fabs(al));
                L->cl[nc++] = v;
            }
        }
        if (nc == 0) return 0;
        int q = -1;
        double big = 0.0;
        for (int t = 0; t < nc; t++) {
            int v = L->cl[t];
            double at = fabs(L->alf[v]);
            if (fabs(L->d[v]) / at <= tmax && at > big) {
                big = at;
                q = v;
            }
        }
        double aq[R4];
        for (int k = 0; k < R; k++) {
            double s = 0.0;
            for (int i = 0; i < R; i++) s += L->binv[k * R + i] * col(L, q, i);
            aq[k] = s;
        }
        double arq = aq[r];
        if (fabs(arq) < PIVTOL) return -1;
        double thd = L->d[q] / arq, thp = delta / arq;
        int p = L->head[r];
        for (int v = 0; v < L->nv; v++)
            if (L->st[v] != BASIC && L->lb[v] != L->ub[v]) L->d[v] -= thd * L->alf[v];
        L->d[q] = 0.0;
        L->d[p] = -thd;
        for (int k = 0; k < R; k++) L->x[L->head[k]] -= thp * aq[k];
        L->x[q] += thp;
        L->st[p] = delta < 0 ? AT_LO : AT_HI;
        L->x[p] = delta < 0 ? L->lb[p] : L->ub[p];
        L->st[q] = BASIC;
        L->head[r] = q;
        double *br = L->binv + r * R;
        for (int i = 0; i < R; i++) br[i] /= arq;
        for (int k = 0; k < R; k++) {
            if (k == r || aq[k] == 0.0) continue;
            for (int i = 0; i < R; i++) L->binv[k * R + i] -= aq[k] * br[i];
        }
    }
    return -1;
}

/* Driebeck and Tomlin's penalty for pushing basic row k's column to `to` (0 or 1):
 * the objective's rise in one dual simplex step, with Tomlin's rule that a 0-1 column
 * entering moves by a whole unit (GLPK's branch_drtom; a score, not a bound).
 * *bnd: the rise without that rule, a lower bound on the branch's LP value. Both
 * INFINITY when no column can enter (that branch's LP has no point). */
static double dt_penalty(lp_t *L, int k, double to, double *bnd)
{
    int q = -1;
    const double *rho = L->binv + k * L->R;
    double delta = L->x[L->head[k]] - to, ratio = INFINITY, aq = 0.0;
    for (int v = 0; v < L->nv; v++) {
        if (L->st[v] == BASIC || L->lb[v] == L->ub[v]) continue;
        double al = row_dot(L, rho, v);
        if (!may_enter(L, v, al, delta)) continue;
        double dv = L->st[v] == AT_LO ? fmax(L->d[v], 0.0) : fmax(-L->d[v], 0.0);
        double t = dv / fabs(al);
        if (t < ratio || (t == ratio && fabs(al) > fabs(aq))) {
            ratio = t;
            q = v;
            aq = al;
        }
    }
    *bnd = q < 0 ? INFINITY : ratio * fabs(delta);
    if (q < 0) return INFINITY;
    double dq = fabs(delta / aq);
    if (q < L->n && fabs(dq - floor(dq + 0.5)) > 1e-3) dq = ceil(dq);
    double dv = L->st[q] == AT_LO ? fmax(L->d[q], 0.0) : fmax(-L->d[q], 0.0);
    return dv * dq;
}

/* x meets every row exactly (sums in the order of j) */
static int meets(const tq_pairbb *p, const uint8_t *x)
{
    for (int r = 0; r < p->R; r++) {
        double s = 0.0;
        for (int j = 0; j < p->n; j++)
            if (x[j]) s += p->a[(int64_t)j * p->R + r];
        if (!(s >= p->lo[r] && s <= p->hi[r])) return 0;
    }
    return 1;
}

static double cost_of(const tq_pairbb *p, const uint8_t *x)
{
    double s = 0.0;
    for (int j = 0; j < p->n; j++)
        if (x[j]) s += p->c[j];
    return s;
}

/* The open nodes: slots of fixings (0 free, 1 at 0, 2 at 1), states, basis and bound;
 * open[] lists the open slots in the order they were made, free_[] the unused ones. */
typedef struct {
    int n, nv, cap, nopen, nfree;
    uint8_t *fix, *st;
    int *head, *open, *free_;
    double *bound;
} pool_t;

static void pool_free(pool_t *P)
{
    free(P->fix);
    free(P->st);
    free(P->head);
    free(P->open);
    free(P->free_);
    free(P->bound);
}

/* a free slot (the pool grows by half when full), or -1 when out of memory */
static int pool_take(pool_t *P)
{
    if (P->nfree > 0) return P->free_[--P->nfree];
    int cap = P->cap + P->cap / 2 + 8;
    uint8_t *f = realloc(P->fix, (size_t)cap * P->n + 1);
    if (f) P->fix = f;
    uint8_t *s = realloc(P->st, (size_t)cap * P->nv + 1);
    if (s) P->st = s;
    int *h = realloc(P->head, (size_t)cap * R4 * sizeof *h);
    if (h) P->head = h;
    int *o = realloc(P->open, (size_t)cap * sizeof *o);
    if (o) P->open = o;
    int *fr = realloc(P->free_, (size_t)cap * sizeof *fr);
    if (fr) P->free_ = fr;
    double *b = realloc(P->bound, (size_t)cap * sizeof *b);
    if (b) P->bound = b;
    if (!f || !s || !h || !o || !fr || !b) return -1;
    for (int t = cap - 1; t > P->cap; t--) P->free_[P->nfree++] = t;
    int slot = P->cap;
    P->cap = cap;
    return slot;
}

/* returns a slot to the free ones */
static void pool_put(pool_t *P, int slot)
{
    P->free_[P->nfree++] = slot;
}

/* removes and returns the open slot of least bound (of equal bounds the newest) */
static int pool_pop(pool_t *P)
{
    int bi = P->nopen - 1;
    for (int i = P->nopen - 2; i >= 0; i--)
        if (P->bound[P->open[i]] < P->bound[P->open[bi]]) bi = i;
    int slot = P->open[bi];
    memmove(P->open + bi, P->open + bi + 1, (size_t)(P->nopen - bi - 1) * sizeof *P->open);
    P->nopen--;
    return slot;
}

int tq_pairbb_solve(const tq_pairbb *p, uint8_t *x, double *obj, int *nodes, int *proven,
                    double *lp)
{
    int n = p->n, R = p->R, nv = n + R;
    int found = 0, solved = 0, lost = 0, fr[R4];
    double best = INFINITY;
    lp_t L = {n, R, nv, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, {0}, {0}};
    pool_t P = {n, nv, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL};
    int *clist = malloc((size_t)nv * sizeof *clist);
    double *dbl = malloc(((size_t)n * R + 6 * (size_t)nv) * sizeof *dbl);
    uint8_t *cand = malloc((size_t)n + 1);
    if (nodes) *nodes = 0;
    if (proven) *proven = 0;
    if (lp) *lp = NAN;
    if (!dbl || !cand || !clist || R < 0 || R > R4) {
        found = R < 0 || R > R4 ? 0 : -1;
        goto out;
    }
    L.a = dbl;
    L.c = dbl + (size_t)n * R;
    L.lb = L.c + nv;
    L.ub = L.lb + nv;
    L.x = L.ub + nv;
    L.d = L.x + nv;
    L.alf = L.d + nv;
    L.cl = clist;
    double cmax = 0.0, rs[R4];
    for (int j = 0; j < n; j++) cmax = fmax(cmax, fabs(p->c[j]));
    double cs = cmax > 0.0 ? 1.0 / cmax : 1.0, csum = 0.0;
    for (int r = 0; r < R; r++) {
        double m = 0.0;
        for (int j = 0; j < n; j++) m = fmax(m, fabs(p->a[(int64_t)j * R + r]));
        rs[r] = m > 0.0 ? 1.0 / m : 1.0;
    }
    for (int j = 0; j < n; j++) {
        for (int r = 0; r < R; r++) L.a[j * R + r] = p->a[(int64_t)j * R + r] * rs[r];
        L.c[j] = p->c[j] * cs;
        csum += fabs(L.c[j]);
    }
    for (int r = 0; r < R; r++) {
        L.c[n + r] = 0.0;
        L.lb[n + r] = p->lo[r] * rs[r];
        L.ub[n + r] = p->hi[r] * rs[r];
    }
    double eps = 1e-10 * fmax(1.0, csum);  /* a node must promise more than this */
    if (p->x0 && meets(p, p->x0)) {
        memcpy(x, p->x0, (size_t)n);
        best = cost_of(p, x);
        found = 1;
    }
    /* the root: no fixings, the slack basis */
    int root = pool_take(&P);
    if (root < 0) {
        found = -1;
        goto out;
    }
    memset(P.fix + (size_t)root * n, 0, (size_t)n);
    L.st = P.st + (size_t)root * nv;
    slack_basis(&L);
    memcpy(P.head + root * R4, L.head, sizeof L.head);
    P.bound[root] = -INFINITY;
    P.open[P.nopen++] = root;
    while (P.nopen > 0 && solved < p->node_limit) {
        int slot = pool_pop(&P);
        uint8_t *nf = P.fix + (size_t)slot * n;
        if (found && P.bound[slot] >= best * cs - eps) {
            pool_put(&P, slot);
            continue;
        }
        L.st = P.st + (size_t)slot * nv;
        memcpy(L.head, P.head + slot * R4, sizeof L.head);
        for (int j = 0; j < n; j++) {
            L.lb[j] = nf[j] == 2 ? 1.0 : 0.0;
            L.ub[j] = nf[j] == 1 ? 0.0 : 1.0;
        }
        warm_start(&L);
        solved++;
        int ls = dual_simplex(&L);
        double z = 0.0;
        if (ls == 1)
            for (int j = 0; j < n; j++) z += L.c[j] * L.x[j];
        if (solved == 1 && lp && ls == 1) *lp = z / cs;
        if (ls < 0) lost = 1;
        if (ls != 1 || (found && z >= best * cs - eps)) {
            pool_put(&P, slot);
            continue;
        }
        int f = 0;
        for (int j = 0; j < n; j++) {
            cand[j] = L.x[j] > 0.5;
            if (fmin(L.x[j], 1.0 - L.x[j]) > FRAC) {
                if (f < R4) fr[f] = j;
                f++;
            }
        }
        /* every rounding of the fractional columns: sums from the point with them at
         * 0 plus theirs, checked loosely; a point that passes is checked exactly */
        int nf2 = f <= R4 ? f : 0;
        double s0[R4] = {0}, c0 = 0.0;
        for (int t = 0; t < nf2; t++) cand[fr[t]] = 0;
        for (int j = 0; j < n; j++) {
            if (!cand[j]) continue;
            c0 += p->c[j];
            for (int r = 0; r < R; r++) s0[r] += p->a[(int64_t)j * R + r];
        }
        for (int mask = 0; mask < (1 << nf2); mask++) {
            double cv = c0;
            int ok = 1;
            for (int t = 0; t < nf2; t++)
                if ((mask >> t) & 1) cv += p->c[fr[t]];
            if (found && !(cv < best - 1e-12 * fabs(best))) continue;
            for (int r = 0; r < R && ok; r++) {
                double lo = isfinite(p->lo[r]) ? fabs(p->lo[r]) : 0.0,
                       hi = isfinite(p->hi[r]) ? fabs(p->hi[r]) : 0.0;
                double sr = s0[r], tol = 1e-9 * (lo + hi + 1.0);  /* finite ends only */
                for (int t = 0; t < nf2; t++)
                    if ((mask >> t) & 1) sr += p->a[(int64_t)fr[t] * R + r];
                ok = sr >= p->lo[r] - tol && sr <= p->hi[r] + tol;
            }
            if (!ok) continue;
            for (int t = 0; t < nf2; t++) cand[fr[t]] = (uint8_t)((mask >> t) & 1);
            if (!meets(p, cand)) continue;
            cv = cost_of(p, cand);
            if (!found || cv < best) {
                best = cv;
                memcpy(x, cand, (size_t)n);
                found = 1;
            }
        }
        if (f == 0) {
            pool_put(&P, slot);
            continue;
        }
        /* reduced-cost fixing: below this node a free nonbasic column whose move would
         * cost at least the incumbent's margin over z keeps its bound (every point of
         * the subtree costs at least z + |d_v| |x_v - its bound|) */
        if (found) {
            double margin = best * cs - eps - z;
            for (int j = 0; j < n; j++) {
                if (L.st[j] == BASIC || nf[j]) continue;
                double dv = L.st[j] == AT_LO ? L.d[j] : -L.d[j];
                if (dv >= margin) nf[j] = L.st[j] == AT_LO ? 1 : 2;
            }
        }
        /* the branching column: Driebeck-Tomlin (the largest penalty of a branch; the
         * branch with the smaller one is the near child), the most fractional when the
         * penalties are all about 0 */
        double pen[2] = {0.0, 0.0}, degrad = -1.0, bd[2], bf = 0.0;
        int bj = -1, near = 1;
        for (int k = 0; k < R && degrad < INFINITY; k++) {
            int j = L.head[k];
            if (j >= n || fmin(L.x[j], 1.0 - L.x[j]) <= FRAC) continue;
            double dn = dt_penalty(&L, k, 0.0, bd), up = dt_penalty(&L, k, 1.0, bd + 1);
            if (degrad < dn || degrad < up) {
                bj = j;
                near = dn < up ? 1 : 2;
                degrad = fmax(dn, up);
                pen[0] = bd[0];
                pen[1] = bd[1];
            }
        }
        if (degrad < 1e-6 * (1.0 + 1e-3 * fabs(z))) {
            bj = -1;
            for (int k = 0; k < R; k++) {
                int j = L.head[k];
                if (j < n && fmin(L.x[j], 1.0 - L.x[j]) > bf) {
                    bf = fmin(L.x[j], 1.0 - L.x[j]);
                    bj = j;
                }
            }
            near = bj >= 0 && L.x[bj] > 0.5 ? 2 : 1;
            pen[0] = pen[1] = 0.0;
        }
        if (bj < 0) {  /* a fractional column not in the basis: numerical trouble */
            lost = 1;
            pool_put(&P, slot);
            continue;
        }
        /* two children from this node's final basis, each with its penalty in its
         * bound; one past the incumbent is not kept. The far one is made first (of
         * equal bounds the newest is taken first); the first kept takes this slot. */
        memcpy(P.head + slot * R4, L.head, sizeof L.head);
        int used = 0;
        for (int side = 0; side < 2; side++) {
            int val = side == 0 ? 3 - near : near;
            double b = z + pen[val - 1];
            if (found && b >= best * cs - eps) continue;
            int cs2 = slot;
            if (used) {
                cs2 = pool_take(&P);
                if (cs2 < 0) {
                    found = -1;
                    goto out;
                }
                nf = P.fix + (size_t)slot * n;  /* the pool may have moved */
                memcpy(P.fix + (size_t)cs2 * n, nf, (size_t)n);
                memcpy(P.st + (size_t)cs2 * nv, P.st + (size_t)slot * nv, (size_t)nv);
                memcpy(P.head + cs2 * R4, P.head + slot * R4, R4 * sizeof *P.head);
            }
            P.fix[(size_t)cs2 * n + bj] = (uint8_t)val;
            P.bound[cs2] = b;
            P.open[P.nopen++] = cs2;
            used = 1;
        }
        if (!used) pool_put(&P, slot);
    }
    if (proven) *proven = P.nopen == 0 && !lost;
    if (found) *obj = best;
out:
    if (nodes) *nodes = solved;
    pool_free(&P);
    free(dbl);
    free(cand);
    free(clist);
    return found;
}
