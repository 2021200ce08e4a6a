/* tq_align_mip.c: the assignment MIP with windows, solved by GLPK (the boundary repair
 * and the exact path of tq_align.c) or, for two territories, by tq_pairbb. See tq_align_mip in tq_align.h for the model. */
#include <glpk.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tq_align.h"
#include "tq_pairbb.h"

typedef struct {
    const double *start_x;   /* 1-based column values of the incumbent, or NULL */
    int given;               /* incumbent handed to GLPK already */
    int nodes, node_limit;
    double bound;            /* best node bound seen (minimisation: a lower bound) */
    int have_bound;
} cb_state;

/* GLPK branch-and-cut callback: hands in the incumbent once, counts selected nodes and
 * stops the search at the node limit (a deterministic limit, unlike a time limit),
 * and records the best open node's bound, which stays a valid lower bound on stop. */
static void mip_callback(glp_tree *tree, void *info)
{
    cb_state *s = info;
    switch (glp_ios_reason(tree)) {
    case GLP_IHEUR:
        if (s->start_x && !s->given) {
            s->given = 1;
            glp_ios_heur_sol(tree, s->start_x);
        }
        break;
    case GLP_ISELECT: {
        int best = glp_ios_best_node(tree);
        if (best) {
            s->bound = glp_ios_node_bound(tree, best);
            s->have_bound = 1;
        }
        if (++s->nodes > s->node_limit) glp_ios_terminate(tree);
        break;
    }
    default:
        break;
    }
}

/* A MIP of two territories that each account may take (the pair MIPs of tq_align.c):
 * one 0-1 column an account (1: the second territory) and one row a metric, the two
 * windows intersected (the accounts split a fixed total A, so the first territory's
 * window [lo0, hi0] reads A - hi0 <= sum a x <= A - lo0), plus the budget's row. At
 * most four rows: solved by tq_pairbb (a dense dual simplex in a best-first branch and
 * bound, node_limit LPs) rather than GLPK, whose general machinery took about 25 us a
 * node on these MIPs against 3 us (bench/RESULTS.md). pair_shape: 1 when m has that
 * shape. */
static int pair_shape(const tq_align_mip *m)
{
    if (m->k != 2 || m->w != 2 || m->write_lp) return 0;
    for (int64_t j = 0; j < m->nb; j++)
        if (m->cand[2 * j] != 0 || m->cand[2 * j + 1] != 1) return 0;
    return 1;
}
static int pair_solve(const tq_align_mip *m, int32_t *out, double *obj, double *bound,
                      double *lp_value, int *optimal, int *proven)
{
    int n = (int)m->nb, R = 0;
    double lo[TQ_PAIRBB_MAXR], hi[TQ_PAIRBB_MAXR], c0 = 0.0, mv0 = 0.0;
    double *a = malloc(((size_t)n * TQ_PAIRBB_MAXR + (size_t)n + 1) * sizeof *a), *c = NULL;
    uint8_t *x = malloc(2 * (size_t)n + 1), *x0 = x ? x + n : NULL;
    if (!a || !x) {
        free(a);
        free(x);
        return TQ_ENOMEM;
    }
    c = a + (size_t)n * TQ_PAIRBB_MAXR;
    int row[TQ_ALIGN_NM + 1];
    for (int q = 0; q < TQ_ALIGN_NM; q++)
        if (m->use[q]) row[R++] = q;
    if (m->budget >= 0) row[R++] = TQ_ALIGN_NM;
    for (int t = 0; t < R; t++) {
        int q = row[t];
        if (q == TQ_ALIGN_NM) {
            lo[t] = -INFINITY;
            hi[t] = m->budget;
            continue;
        }
        double A = 0.0;
        for (int j = 0; j < n; j++) A += m->a[3 * j + q];
        lo[t] = fmax(m->lo[3 + q], A - m->hi[q]);
        hi[t] = fmin(m->hi[3 + q], A - m->lo[q]);
    }
    for (int j = 0; j < n; j++) {
        c0 += m->cost[2 * j];
        mv0 += m->mv[2 * j];
        c[j] = m->cost[2 * j + 1] - m->cost[2 * j];
        x0[j] = m->start ? (uint8_t)(m->start[j] == 1) : 0;
        for (int t = 0; t < R; t++)
            a[(size_t)j * R + t] = row[t] == TQ_ALIGN_NM ? m->mv[2 * j + 1] - m->mv[2 * j]
                                                         : m->a[3 * j + row[t]];
    }
    for (int t = 0; t < R; t++)
        if (row[t] == TQ_ALIGN_NM) hi[t] -= mv0;
    tq_pairbb pb = {n, R, a, lo, hi, c, m->start ? x0 : NULL, m->node_limit};
    double o = 0.0, lp;
    int done, found = tq_pairbb_solve(&pb, x, &o, NULL, &done, &lp);
    *lp_value = c0 + lp;
    *bound = isnan(lp) ? -INFINITY : *lp_value;
    int status = found < 0 ? TQ_ENOMEM : (found ? TQ_OK : TQ_INFEASIBLE);
    if (found == 1) {
        for (int j = 0; j < n; j++) out[j] = x[j];
        *obj = c0 + o;
        *optimal = done;
        if (done) *bound = *obj;
    }
    if (found == 0) *proven = done;
    free(a);
    free(x);
    return status;
}

/* Build and solve the MIP of m. Inputs and outputs as in tq_align.h. Cost: GLPK's
 * simplex on nb*w columns and nb + 3k + 1 rows, then at most node_limit nodes (a pair:
 * pair_solve, node_limit LPs of at most 4 rows). */
int tq_align_mip_solve(const tq_align_mip *m, int32_t *out, double *obj, double *bound,
                       double *lp_value, int *optimal, int *proven)
{
    int status = TQ_EGLPK;
    glp_prob *lp = NULL;
    int *ia = NULL, *ja = NULL, *colj = NULL, *cols = NULL;
    double *ar = NULL, *sx = NULL;
    int64_t ncol = 0, nnz = 0;
    int nrow_win = 0;
    int *winrow = NULL;  /* k*3 -> row index (0 = none) */
    *optimal = 0;
    *proven = 0;
    *obj = NAN;
    *bound = -INFINITY;
    *lp_value = NAN;
    if (pair_shape(m)) return pair_solve(m, out, obj, bound, lp_value, optimal, proven);

    for (int64_t j = 0; j < m->nb; j++)
        for (int s = 0; s < m->w; s++)
            if (m->cand[j * m->w + s] >= 0) ncol++;
    if (ncol > 200000000 || m->nb > 200000000) goto done;
    int use_budget = m->budget >= 0;
    int nm = 0;
    for (int q = 0; q < TQ_ALIGN_NM; q++) nm += m->use[q] ? 1 : 0;
    int64_t cap = ncol * (2 + nm) + 1;
    ia = malloc((size_t)cap * sizeof *ia);
    ja = malloc((size_t)cap * sizeof *ja);
    ar = malloc((size_t)cap * sizeof *ar);
    colj = malloc((size_t)(ncol + 1) * sizeof *colj);
    cols = malloc((size_t)(ncol + 1) * sizeof *cols);
    winrow = calloc((size_t)m->k * 3, sizeof *winrow);
    if (!ia || !ja || !ar || !colj || !cols || !winrow) {
        status = TQ_ENOMEM;
        goto done;
    }

    glp_term_out(GLP_OFF);
    lp = glp_create_prob();
    glp_set_obj_dir(lp, GLP_MIN);
    /* rows 1..nb: each account takes exactly one territory */
    glp_add_rows(lp, (int)m->nb);
    for (int64_t j = 0; j < m->nb; j++) glp_set_row_bnds(lp, (int)j + 1, GLP_FX, 1.0, 1.0);
    /* window rows */
    for (int k = 0; k < m->k; k++)
        for (int q = 0; q < TQ_ALIGN_NM; q++) {
            if (!m->use[q]) continue;
            double lo = m->lo[k * 3 + q], hi = m->hi[k * 3 + q];
            int r = glp_add_rows(lp, 1);
            winrow[k * 3 + q] = r;
            nrow_win++;
            /* a zero-width window (tolerance 0) must be GLP_FX: GLPK's simplex refuses
             * a double bound with lo >= hi (GLP_EBOUND) */
            if (isfinite(hi) && lo > 0 && lo >= hi) glp_set_row_bnds(lp, r, GLP_FX, hi, hi);
            else if (isfinite(hi) && lo > 0) glp_set_row_bnds(lp, r, GLP_DB, lo, hi);
            else if (isfinite(hi)) glp_set_row_bnds(lp, r, GLP_UP, 0.0, hi);
            else if (lo > 0) glp_set_row_bnds(lp, r, GLP_LO, lo, 0.0);
            else glp_set_row_bnds(lp, r, GLP_FR, 0.0, 0.0);
        }
    int brow = 0;
    if (use_budget) {
        brow = glp_add_rows(lp, 1);
        glp_set_row_bnds(lp, brow, GLP_UP, 0.0, m->budget);
    }
    glp_add_cols(lp, (int)ncol);
    int c = 0;
    for (int64_t j = 0; j < m->nb; j++)
        for (int s = 0; s < m->w; s++) {
            int k = m->cand[j * m->w + s];
            if (k < 0) continue;
            c++;
            colj[c] = (int)j;
            cols[c] = s;
            glp_set_col_kind(lp, c, GLP_BV);
            glp_set_obj_coef(lp, c, m->cost[j * m->w + s]);
            nnz++;
            ia[nnz] = (int)j + 1; ja[nnz] = c; ar[nnz] = 1.0;
            for (int q = 0; q < TQ_ALIGN_NM; q++) {
                double v = m->a[j * 3 + q];
                if (!m->use[q] || v == 0.0) continue;
                nnz++;
                ia[nnz] = winrow[k * 3 + q]; ja[nnz] = c; ar[nnz] = v;
            }
            if (use_budget && m->mv[j * m->w + s] != 0.0) {
                nnz++;
                ia[nnz] = brow; ja[nnz] = c; ar[nnz] = m->mv[j * m->w + s];
            }
        }
    glp_load_matrix(lp, (int)nnz, ia, ja, ar);
    if (m->write_lp) {
        /* names that say what each row and column is: x_<row>_<territory> (0-based
         * account row and territory index), assign_<row>, <metric>_<territory>, moved */
        static const char *mname[3] = {"workload", "potential", "count"};
        char name[64];
        for (int cc = 1; cc <= c; cc++) {
            snprintf(name, sizeof name, "x_%d_%d", colj[cc], m->cand[(int64_t)colj[cc] * m->w + cols[cc]]);
            glp_set_col_name(lp, cc, name);
        }
        for (int64_t j = 0; j < m->nb; j++) {
            snprintf(name, sizeof name, "assign_%lld", (long long)j);
            glp_set_row_name(lp, (int)j + 1, name);
        }
        for (int k = 0; k < m->k; k++)
            for (int q = 0; q < TQ_ALIGN_NM; q++)
                if (winrow[k * 3 + q]) {
                    snprintf(name, sizeof name, "%s_%d", mname[q], k);
                    glp_set_row_name(lp, winrow[k * 3 + q], name);
                }
        if (brow) glp_set_row_name(lp, brow, "moved");
        status = glp_write_lp(lp, NULL, m->write_lp) == 0 ? TQ_OK : TQ_EIO;
        goto done;
    }

    glp_smcp sp;
    glp_init_smcp(&sp);
    sp.msg_lev = GLP_MSG_OFF;
    sp.presolve = GLP_OFF;
    sp.tm_lim = (int)fmin(m->seconds * 1000.0, 2e9);
    glp_scale_prob(lp, GLP_SF_AUTO);
    glp_adv_basis(lp, 0);
    int rc = glp_simplex(lp, &sp);
    if (rc != 0 && rc != GLP_ETMLIM) goto done;
    int ps = glp_get_status(lp);
    if (ps == GLP_NOFEAS) {
        *proven = 1;
        status = TQ_INFEASIBLE;
        goto done;
    }
    if (ps != GLP_OPT) goto done;  /* time limit in the LP: treat as a solver failure */
    *lp_value = glp_get_obj_val(lp);
    *bound = *lp_value;

    if (m->start) {
        sx = calloc((size_t)ncol + 1, sizeof *sx);
        if (!sx) {
            status = TQ_ENOMEM;
            goto done;
        }
        for (int cc = 1; cc <= (int)ncol; cc++)
            sx[cc] = m->start[colj[cc]] == cols[cc] ? 1.0 : 0.0;
    }
    cb_state st = {sx, 0, 0, m->node_limit, -INFINITY, 0};
    glp_iocp ip;
    glp_init_iocp(&ip);
    ip.msg_lev = GLP_MSG_OFF;
    ip.presolve = GLP_OFF;
    ip.cb_func = mip_callback;
    ip.cb_info = &st;
    ip.tm_lim = (int)fmin(m->seconds * 1000.0, 2e9);
    ip.fp_heur = sx ? GLP_OFF : GLP_ON;
    ip.mip_gap = 1e-9;
    rc = glp_intopt(lp, &ip);
    if (rc != 0 && rc != GLP_ESTOP && rc != GLP_ETMLIM) goto done;
    int ms = glp_mip_status(lp);
    if (ms == GLP_NOFEAS) {
        *proven = 1;
        status = TQ_INFEASIBLE;
        goto done;
    }
    if (ms != GLP_OPT && ms != GLP_FEAS) {
        status = TQ_INFEASIBLE;  /* none found within the limits: not proven */
        goto done;
    }
    *obj = glp_mip_obj_val(lp);
    if (ms == GLP_OPT && rc == 0) {
        *optimal = 1;
        *bound = *obj;
    } else if (st.have_bound && st.bound > *bound) {
        *bound = st.bound;
    }
    for (int64_t j = 0; j < m->nb; j++) out[j] = -1;
    for (int cc = 1; cc <= (int)ncol; cc++)
        if (glp_mip_col_val(lp, cc) > 0.5) out[colj[cc]] = cols[cc];
    status = TQ_OK;
    for (int64_t j = 0; j < m->nb; j++)
        if (out[j] < 0) status = TQ_EGLPK;
done:
    if (lp) glp_delete_prob(lp);
    free(ia);
    free(ja);
    free(ar);
    free(colj);
    free(cols);
    free(sx);
    free(winrow);
    (void)nrow_win;
    return status;
}

/* ---- the group transport LP (tq_align.c's transport arcs) ----------------------------
 * Columns: x_gk >= 0 for the arcs in the model (cost[g*K+k]), and two elastic columns a
 * window row (+1 and -1, at pen each). Rows: sum_k x_gk = 1 a group; lo <= sum_g S x_gk
 * + e+ - e- <= hi a territory and metric. Column generation: each group starts with its
 * t->start cheapest arcs; after each solve the arcs of negative reduced cost
 * c_gk - u_g - sum_q S_gq y_kq (GLPK's duals) are added, the TRANSPORT_ADD most negative
 * a group, until there are none. The elastic columns keep every restricted LP feasible. */
#define TRANSPORT_ADD 8
#define TRANSPORT_PASSES 200

/* Column j as the arc from group g to territory k: its cost and coefficients from t. */
static void transport_set_arc(glp_prob *lp, const tq_align_transport *t, int j, int g, int k)
{
    int ind[1 + 1 + TQ_ALIGN_NM], n = 0;
    double val[1 + 1 + TQ_ALIGN_NM];
    glp_set_obj_coef(lp, j, t->cost[(int64_t)g * t->K + k]);
    ind[++n] = g + 1;
    val[n] = 1.0;
    for (int q = 0; q < t->nm; q++) {
        double s = t->S[(int64_t)g * t->nm + q];
        if (s == 0.0) continue;
        ind[++n] = t->ng + k * t->nm + q + 1;
        val[n] = s;
    }
    glp_set_mat_col(lp, j, n, ind, val);
}

static int transport_add_arc(glp_prob *lp, const tq_align_transport *t, int g, int k,
                             int *colg, int *colk)
{
    int j = glp_add_cols(lp, 1);
    glp_set_col_bnds(lp, j, GLP_LO, 0.0, 0.0);
    transport_set_arc(lp, t, j, g, k);
    colg[j] = g;
    colk[j] = k;
    return j;
}

/* A solved transport LP kept for the next solve of the same groups (tq_align.h). */
struct tq_align_tstate {
    glp_prob *lp;
    int ng, K, nm;
    int *colg, *colk;  /* a column's group and territory (-1 and the window row: elastic) */
    uint8_t *has;      /* ng x K: the arc is a column */
};

void tq_align_tstate_free(tq_align_tstate *s)
{
    if (!s) return;
    if (s->lp) glp_delete_prob(s->lp);
    free(s->colg);
    free(s->colk);
    free(s->has);
    free(s);
}

static void transport_row_bounds(glp_prob *lp, const tq_align_transport *t)
{
    for (int r = 0; r < t->K * t->nm; r++) {
        double lo = t->lo[r], hi = t->hi[r];
        int row = t->ng + r + 1;
        if (lo > 0 && lo >= hi) glp_set_row_bnds(lp, row, GLP_FX, hi, hi);
        else if (lo > 0) glp_set_row_bnds(lp, row, GLP_DB, lo, hi);
        else glp_set_row_bnds(lp, row, GLP_UP, 0.0, hi);
    }
}

int tq_align_transport_solve(const tq_align_transport *t, double *x, double *viol,
                             int *passes, int64_t *arcs, tq_align_tstate **keep)
{
    int ng = t->ng, K = t->K, nm = t->nm, nw = K * nm, status = TQ_EGLPK;
    int64_t cap = (int64_t)ng * K + 2 * (int64_t)nw + 1;
    if (ng < 1 || K < 1 || nm < 1 || cap > INT32_MAX) return TQ_EINVAL;
    glp_prob *lp = NULL;
    int *colg = NULL, *colk = NULL;
    uint8_t *has = NULL;
    double *y = malloc(((size_t)ng + (size_t)nw + 1) * sizeof *y);
    int *best = malloc((size_t)TRANSPORT_ADD * sizeof *best);
    double *bestd = malloc((size_t)TRANSPORT_ADD * sizeof *bestd);
    *viol = 0.0;
    *passes = 0;
    *arcs = 0;
    tq_align_tstate *ws = keep ? *keep : NULL;
    int warm = ws && ws->ng == ng && ws->K == K && ws->nm == nm;
    if (keep) *keep = NULL;
    if (warm) {
        /* the kept LP: the same rows and columns, this call's coefficients, bounds and
         * costs, and its last basis (GLPK refactorises it) */
        lp = ws->lp;
        colg = ws->colg;
        colk = ws->colk;
        has = ws->has;
        ws->lp = NULL;
        ws->colg = ws->colk = NULL;
        ws->has = NULL;
    } else {
        colg = malloc((size_t)cap * sizeof *colg);
        colk = malloc((size_t)cap * sizeof *colk);
        has = calloc((size_t)ng * K, 1);
    }
    tq_align_tstate_free(ws);
    if (!colg || !colk || !has || !y || !best || !bestd) {
        status = TQ_ENOMEM;
        goto done;
    }
    glp_term_out(GLP_OFF);
    if (warm) {
        transport_row_bounds(lp, t);
        int ncol = glp_get_num_cols(lp);
        for (int j = 1; j <= ncol; j++)
            if (colg[j] >= 0) transport_set_arc(lp, t, j, colg[j], colk[j]);
    } else {
        lp = glp_create_prob();
        glp_set_obj_dir(lp, GLP_MIN);
        glp_add_rows(lp, ng + nw);
        for (int g = 0; g < ng; g++) glp_set_row_bnds(lp, g + 1, GLP_FX, 1.0, 1.0);
        transport_row_bounds(lp, t);
        for (int r = 0; r < nw; r++) {
            int row = ng + r + 1;
            for (int sgn = 1; sgn >= -1; sgn -= 2) {
                int j = glp_add_cols(lp, 1), ind[2] = {0, row};
                double val[2] = {0.0, (double)sgn};
                glp_set_col_bnds(lp, j, GLP_LO, 0.0, 0.0);
                glp_set_obj_coef(lp, j, t->pen);
                glp_set_mat_col(lp, j, 1, ind, val);
                colg[j] = -1;
                colk[j] = r;
            }
        }
        /* each group's t->start cheapest arcs (ties: the lower k) */
        int st = t->start < K ? t->start : K;
        for (int g = 0; g < ng; g++) {
            const double *cg = t->cost + (int64_t)g * K;
            for (int a = 0; a < st; a++) {
                int kb = -1;
                for (int k = 0; k < K; k++)
                    if (!has[(int64_t)g * K + k] && (kb < 0 || cg[k] < cg[kb])) kb = k;
                has[(int64_t)g * K + kb] = 1;
                transport_add_arc(lp, t, g, kb, colg, colk);
            }
        }
    }
    glp_smcp sp;
    glp_init_smcp(&sp);
    sp.msg_lev = GLP_MSG_OFF;
    sp.presolve = GLP_OFF;
    if (!warm) glp_adv_basis(lp, 0);
    for (;;) {
        int rc = glp_simplex(lp, &sp);
        if (rc != 0 && warm && *passes == 0) {
            /* the kept basis does not factorise with the new coefficients: a fresh one */
            glp_adv_basis(lp, 0);
            rc = glp_simplex(lp, &sp);
        }
        (*passes)++;
        if (rc != 0 || glp_get_status(lp) != GLP_OPT) goto done;
        if (*passes >= TRANSPORT_PASSES) break;
        for (int r = 1; r <= ng + nw; r++) y[r - 1] = glp_get_row_dual(lp, r);
        int added = 0;
        for (int g = 0; g < ng; g++) {
            const double *cg = t->cost + (int64_t)g * K, *sg = t->S + (int64_t)g * nm;
            int nb = 0;
            for (int k = 0; k < K; k++) {
                if (has[(int64_t)g * K + k]) continue;
                double d = cg[k] - y[g];
                for (int q = 0; q < nm; q++) d -= sg[q] * y[ng + k * nm + q];
                if (!(d < -1e-9 * (1.0 + fabs(cg[k])))) continue;
                /* keep the TRANSPORT_ADD most negative (insertion; ties: the lower k) */
                if (nb == TRANSPORT_ADD && d >= bestd[nb - 1]) continue;
                int s = nb < TRANSPORT_ADD ? nb++ : TRANSPORT_ADD - 1;
                while (s > 0 && bestd[s - 1] > d) {
                    bestd[s] = bestd[s - 1];
                    best[s] = best[s - 1];
                    s--;
                }
                bestd[s] = d;
                best[s] = k;
            }
            for (int a = 0; a < nb; a++) {
                has[(int64_t)g * K + best[a]] = 1;
                transport_add_arc(lp, t, g, best[a], colg, colk);
                added++;
            }
        }
        if (added == 0) break;
    }
    memset(x, 0, (size_t)ng * K * sizeof *x);
    int ncol = glp_get_num_cols(lp);
    for (int j = 1; j <= ncol; j++) {
        double v = glp_get_col_prim(lp, j);
        if (colg[j] < 0) *viol += v;
        else x[(int64_t)colg[j] * K + colk[j]] = v;
    }
    *arcs = ncol - 2 * nw;
    status = TQ_OK;
    if (keep) {
        tq_align_tstate *ks = malloc(sizeof *ks);
        if (!ks) {
            status = TQ_ENOMEM;
            goto done;
        }
        *ks = (tq_align_tstate){lp, ng, K, nm, colg, colk, has};
        *keep = ks;
        lp = NULL;
        colg = colk = NULL;
        has = NULL;
    }
done:
    if (lp) glp_delete_prob(lp);
    free(colg);
    free(colk);
    free(has);
    free(y);
    free(best);
    free(bestd);
    return status;
}
