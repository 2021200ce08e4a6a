/* cmd_align.c: `tqplan align DATA.h5`: balanced territories (kernels/tq_align.h), written
 * to /alignment:
 *   territory (int32, N), workload, potential, count (K), lo, hi (K x 3 windows),
 *   center (K x 2 lat/lon), radius_km (K), frontier (n x 7, with --frontier),
 *   region (int32 K, with --regions);
 *   attrs cost, bound, gap, rounds, max/min/cv per balanced metric (as load/target),
 *   mean_km, p90_km, moved_share_accounts, moved_share_value, seconds, ...
 * Infeasible requests exit 2 naming the territory and metric; nothing is written. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tq_align.h"
#include "tq_cli.h"

static const char *mname[3] = {"workload", "potential", "count"};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tqplan align DATA.h5 [options]\n\n"
            "Assigns every account to one territory so that each territory's workload and\n"
            "potential (value x score, or value) stay within a tolerance of its target\n"
            "(targets proportional to /territories/capacity), territories are compact and\n"
            "little changes from last year (prev_territory); locked accounts stay. Reports\n"
            "the cost, a certified lower bound and the gap. Writes /alignment.\n\n"
            "options:\n"
            "  --centers MODE       fixed (rep home bases of /territories), kmeans\n"
            "                       (/clusters/centers from `tqplan cluster`) or iterate\n"
            "                       (alternate assignment and center update); default:\n"
            "                       fixed when every territory has a home base, else kmeans\n"
            "  --center-rounds n    with iterate: at most n center moves (default 10); the\n"
            "                       summary says whether the centers settled\n"
            "  --balance LIST       balanced metrics: workload,potential[,count]\n"
            "                       (default workload,potential)\n"
            "  --tol-workload T     window half-width, e.g. 2%% (default 2%%)\n"
            "  --tol-potential T    (default 3%%)\n"
            "  --tol-count T        (default 10%%; used when count is balanced)\n"
            "  --alpha A            disruption penalty per unit of value moved (default 0)\n"
            "  --max-moved S        at most this share of last year's value moves (hard)\n"
            "  --distance D         km (default) or km2 (squared): cost = workload x D\n"
            "  --frontier n         also solve n disruption budgets and print the trade-off\n"
            "  --regions R          group the territories into R balanced regions\n"
            "  --exact              solve the full ILP with GLPK (small problems only),\n"
            "                       starting from the scale path's alignment\n"
            "  --exact-seconds S    GLPK's time limit for --exact, for its LP and again for\n"
            "                       its search (default 60)\n"
            "  --candidates C       nearest territories priced per account (default 8)\n"
            "  --rounds n           price passes at most per pricing round (default 4000)\n"
            "  --prices M           price search: auto (default: lbfgs), lbfgs (preconditioned\n"
            "                       by the Hessian), lbfgs-plain, newton\n"
            "  --coarse A           solve prices first on a sample of A accounts a territory\n"
            "                       (every s-th row), then refine on all; 0 off; default\n"
            "                       auto: 100 when there are more than 200 prices. With it,\n"
            "                       a group-to-territory LP first adds the territories\n"
            "                       that balancing needs beyond the nearest ones\n"
            "  --gap-goal G         when the gap is above G, run the prices once more with a\n"
            "                       tighter stop and repair again (above 200,000 accounts\n"
            "                       only while the prices are not balanced), keeping the\n"
            "                       cheaper alignment; with --max-moved also price the\n"
            "                       budget again for the bound alone; the repair's chains\n"
            "                       stop under G/4 (default 0.5%%; 0 off)\n"
            "  --pair-passes n      up to 200,000 accounts: at most n passes that re-assign\n"
            "                       the accounts of each pair of neighbouring territories by\n"
            "                       a small MIP while that lowers the cost (default 100; they\n"
            "                       stop once a pass saves under a tenth of the gap and\n"
            "                       0.1%% of the cost; 0 off); with --alpha, up to 20,000\n"
            "                       accounts, also from every other repaired start,\n"
            "                       keeping the cheapest\n"
            "  --seed s             recorded in the manifest (the solve is deterministic)\n"
            "  --write-lp FILE      solve, write the candidate-restricted model (CPLEX LP), stop\n"
            "  --json, -q, --threads n\n"
            "\nexit status 2: the request is infeasible (named territory and metric)\n");
}

/* max, min and coefficient of variation of load/target over territories. */
/* the price search the solve used (JSON and the /alignment attribute) */
static const char *price_search(const tq_align_result *r)
{
    return r->newton ? "newton" : r->precond ? "lbfgs" : "lbfgs-plain";
}

static void spread(const tq_align_result *r, const double *cap, int m, double *mx, double *mn,
                   double *cv)
{
    int k = r->k;
    double tot = 0, capsum = 0;
    for (int j = 0; j < k; j++) {
        tot += r->load[3 * j + m];
        capsum += cap ? cap[j] : 1.0;
    }
    double s = 0, s2 = 0;
    *mx = -INFINITY;
    *mn = INFINITY;
    for (int j = 0; j < k; j++) {
        double t = tot * (cap ? cap[j] : 1.0) / capsum;
        double x = t > 0 ? r->load[3 * j + m] / t : 1.0;
        *mx = fmax(*mx, x);
        *mn = fmin(*mn, x);
        s += x;
        s2 += x * x;
    }
    double mean = s / k;
    *cv = mean > 0 ? sqrt(fmax(0.0, s2 / k - mean * mean)) / mean : 0.0;
}

static void infeasible_msg(tq_err *err, const char *path, const tq_territories *t, int idlen,
                           const tq_align_result *r)
{
    if (r->bad_row >= 0 && r->bad_m >= 0 && r->bad_m < 3) {
        char id[128], who[192];
        long long row = (long long)r->bad_row + 1;
        if (tq_account_id(path, r->bad_row, id, sizeof id) == TQ_OK && *id)
            snprintf(who, sizeof who, "account %s (/accounts row %lld)", id, row);
        else
            snprintf(who, sizeof who, "the account of /accounts row %lld", row);
        tq_err_set(err, TQ_INFEASIBLE, "%s: infeasible: metric %s: %s %s", path,
                   mname[r->bad_m], who, r->msg);
    } else if (r->bad_k >= 0 && r->bad_m >= 0 && r->bad_m <= 3) {
        /* a territory's window (metric 0-2), or the budget named by a territory (3) */
        char id[128] = "";
        if (t && t->id && r->bad_k < t->k)
            snprintf(id, sizeof id, " (id %s)", t->id + (size_t)r->bad_k * idlen);
        if (r->bad_m == 3)
            tq_err_set(err, TQ_INFEASIBLE, "%s: infeasible: --max-moved, territory %d%s: %s",
                       path, r->bad_k, id, r->msg);
        else
            tq_err_set(err, TQ_INFEASIBLE, "%s: infeasible: territory %d%s, metric %s: %s",
                       path, r->bad_k, id, mname[r->bad_m], r->msg);
    } else {
        tq_err_set(err, TQ_INFEASIBLE, "%s: infeasible: %s", path, r->msg);
    }
}

/* the options (also read by `plan`, which checks a scenario file's keys against them) */
const struct option tq_opts_align[] = {
    {"centers", required_argument, 0, 'c'},   {"balance", required_argument, 0, 'b'},
    {"tol-workload", required_argument, 0, 'W'}, {"tol-potential", required_argument, 0, 'P'},
    {"tol-count", required_argument, 0, 'N'}, {"alpha", required_argument, 0, 'a'},
    {"max-moved", required_argument, 0, 'M'}, {"distance", required_argument, 0, 'd'},
    {"frontier", required_argument, 0, 'f'},  {"regions", required_argument, 0, 'R'},
    {"exact", no_argument, 0, 'x'},           {"exact-seconds", required_argument, 0, 'X'},           {"candidates", required_argument, 0, 'C'},
    {"rounds", required_argument, 0, 'r'},    {"seed", required_argument, 0, 's'},
    {"write-lp", required_argument, 0, 'L'},  {"help", no_argument, 0, 'h'},
    {"prices", required_argument, 0, 'p'},    {"coarse", required_argument, 0, 'o'},
    {"gap-goal", required_argument, 0, 'G'},  {"pair-passes", required_argument, 0, 'Q'},
    {"center-rounds", required_argument, 0, 'I'},
    TQ_CLI_LONGOPTS, {0, 0, 0, 0}};

int tq_cmd_align(int argc, char **argv)
{
    const struct option *opts = tq_opts_align;
    tq_align_params p;
    tq_align_defaults(&p);
    double tol[3] = {0.02, 0.03, 0.10};
    int bal[3] = {1, 1, 0};
    const char *centers = NULL;
    const char *write_lp = NULL;
    int64_t v64, frontier = 0, regions = 0, center_rounds = -1;
    uint64_t seed = 42;
    int c, rc = TQ_EXIT_INPUT;
    tq_err err = {0, ""};
    tq_accounts a = {0};
    tq_territories terr = {0};
    tq_align_result r;
    memset(&r, 0, sizeof r);
    double *clat = NULL, *clon = NULL, *cap = NULL, *cl = NULL, *ll = NULL, *front = NULL, *warm = NULL;
    float *pot = NULL;
    int32_t *t = NULL, *t2 = NULL, *reg = NULL;
    double rmx[2] = {0, 0}, rmn[2] = {0, 0}, rcv[2] = {0, 0};  /* --regions' spread */
    cJSON *out = NULL, *params = NULL;
    char *params_text = NULL;
    tq_result *res = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        int cr = tq_cli_common_opt(c, optarg);
        if (cr < 0) return TQ_EXIT_INPUT;
        if (cr) continue;
        switch (c) {
        case 'c':
            if (strcmp(optarg, "fixed") && strcmp(optarg, "kmeans") && strcmp(optarg, "iterate")) {
                tq_error("option --centers: '%s' is not fixed, kmeans or iterate", optarg);
                return rc;
            }
            centers = optarg;
            break;
        case 'b': {
            char buf[256];
            snprintf(buf, sizeof buf, "%s", optarg);
            bal[0] = bal[1] = bal[2] = 0;
            for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
                int m = !strcmp(tok, "workload") ? 0 : !strcmp(tok, "potential") ? 1
                        : !strcmp(tok, "count") ? 2 : -1;
                if (m < 0) {
                    tq_error("option --balance: '%s' is not workload, potential or count", tok);
                    return rc;
                }
                bal[m] = 1;
            }
            break;
        }
        case 'W': if (tq_parse_share("--tol-workload", optarg, &tol[0])) return rc; break;
        case 'P': if (tq_parse_share("--tol-potential", optarg, &tol[1])) return rc; break;
        case 'N': if (tq_parse_share("--tol-count", optarg, &tol[2])) return rc; break;
        case 'a': if (tq_parse_f64("--alpha", optarg, 0, 1e300, &p.alpha)) return rc; break;
        case 'M': if (tq_parse_share("--max-moved", optarg, &p.max_moved)) return rc; break;
        case 'G': if (tq_parse_share("--gap-goal", optarg, &p.gap_goal)) return rc; break;
        case 'd':
            if (!strcmp(optarg, "km")) p.distance = TQ_DIST_KM;
            else if (!strcmp(optarg, "km2")) p.distance = TQ_DIST_KM2;
            else { tq_error("option --distance: '%s' is not km or km2", optarg); return rc; }
            break;
        case 'f': if (tq_parse_i64("--frontier", optarg, 1, 100, &frontier)) return rc; break;
        case 'I':
            if (tq_parse_i64("--center-rounds", optarg, 1, 1000, &center_rounds)) return rc;
            break;
        case 'R': if (tq_parse_i64("--regions", optarg, 1, 100000, &regions)) return rc; break;
        case 'x': p.exact = 1; break;
        case 'X':
            if (tq_parse_f64("--exact-seconds", optarg, 1e-3, 1e7, &p.exact_seconds)) return rc;
            break;
        case 'C': if (tq_parse_i64("--candidates", optarg, 1, 100000, &v64)) return rc; p.candidates = (int)v64; break;
        case 'r': if (tq_parse_i64("--rounds", optarg, 1, 1000000, &v64)) return rc; p.max_rounds = (int)v64; break;
        case 'Q': if (tq_parse_i64("--pair-passes", optarg, 0, 1000000, &v64)) return rc; p.pair_passes = (int)v64; break;
        case 'p':
            if (!strcmp(optarg, "auto")) p.prices = TQ_PRICES_AUTO;
            else if (!strcmp(optarg, "lbfgs")) p.prices = TQ_PRICES_LBFGS;
            else if (!strcmp(optarg, "newton")) p.prices = TQ_PRICES_NEWTON;
            else if (!strcmp(optarg, "lbfgs-plain")) p.prices = TQ_PRICES_PLAIN;
            else {
                tq_error("option --prices: '%s' is not auto, newton, lbfgs or lbfgs-plain", optarg);
                return rc;
            }
            break;
        case 'o':
            if (!strcmp(optarg, "auto")) {
                p.coarse = TQ_COARSE_AUTO;
                break;
            }
            if (!isdigit((unsigned char)optarg[0]) && optarg[0] != '-' && optarg[0] != '+') {
                tq_error("option --coarse: '%s' is not auto or an integer", optarg);
                return rc;
            }
            if (tq_parse_i64("--coarse", optarg, 0, 1000000000, &v64)) return rc;
            p.coarse = (int)v64;
            break;
        case 's': if (tq_parse_i64("--seed", optarg, 0, INT64_MAX, &v64)) return rc; seed = (uint64_t)v64; break;
        case 'L': if (tq_parse_file("--write-lp", optarg, &write_lp)) return rc; break;
        case 'h': usage(stdout); return TQ_EXIT_OK;
        default: usage(stderr); return TQ_EXIT_INPUT;
        }
    }
    if (optind != argc - 1) {
        tq_error(optind < argc ? "align takes one dataset, got '%s' too" : "align needs a dataset file",
                 optind < argc ? argv[argc - 1] : "");
        usage(stderr);
        return TQ_EXIT_INPUT;
    }
    if (!bal[0] && !bal[1] && !bal[2]) {
        tq_error("option --balance: name at least one metric");
        return rc;
    }
    if (p.max_moved >= 0 && p.max_moved > 1) {
        tq_error("option --max-moved: a share in [0, 100%%]");
        return rc;
    }
    if (center_rounds > 0 && (!centers || strcmp(centers, "iterate"))) {
        tq_error("option --center-rounds: only with --centers iterate");
        return rc;
    }
    for (int m = 0; m < 3; m++) p.tol[m] = bal[m] ? tol[m] : -1.0;
    const char *path = argv[optind];
    const tq_comm *comm = tq_g.comm;
    double t0 = tq_now();
    time_t started = time(NULL);
    if (tq_g.threads > 0) tq_set_threads(tq_g.threads);

    /* ---- territories and centers ---- */
    if (tq_territories_read(path, &terr, &err) != TQ_OK) goto fail;
    if (!centers) centers = terr.k > 0 && terr.has_home ? "fixed" : "kmeans";
    int k = terr.k;
    if (!strcmp(centers, "fixed") || (!strcmp(centers, "iterate") && terr.k > 0 && terr.has_home)) {
        if (k < 1 || !terr.has_home) {
            tq_err_set(&err, TQ_EINVAL,
                       "%s: --centers %s needs /territories with a home base for every territory "
                       "(use --centers kmeans after `tqplan cluster`)", path, centers);
            goto fail;
        }
        clat = malloc((size_t)k * sizeof *clat);
        clon = malloc((size_t)k * sizeof *clon);
        if (!clat || !clon) { tq_err_set(&err, TQ_ENOMEM, "out of memory"); goto fail; }
        memcpy(clat, terr.home_lat, (size_t)k * sizeof *clat);
        memcpy(clon, terr.home_lon, (size_t)k * sizeof *clon);
    } else {
        int64_t rows = 0;
        int w = 0;
        if (tq_result_read_f64(path, "clusters/centers", &cl, &rows, &w, &err) != TQ_OK) {
            tq_err_set(&err, TQ_EINVAL,
                       "%s: --centers %s needs /clusters/centers: run `tqplan cluster %s -k K` "
                       "first (or use --centers fixed with home bases)", path, centers, path);
            goto fail;
        }
        if (w != 2 || rows < 1) {
            tq_err_set(&err, TQ_EINVAL, "%s: /clusters/centers is %lld x %d, want K x 2 (lat, lon)",
                       path, (long long)rows, w);
            goto fail;
        }
        if (k > 0 && rows != k) {
            tq_err_set(&err, TQ_EINVAL,
                       "%s: /clusters/centers has %lld rows but /territories has %d territories",
                       path, (long long)rows, k);
            goto fail;
        }
        k = (int)rows;
        clat = malloc((size_t)k * sizeof *clat);
        clon = malloc((size_t)k * sizeof *clon);
        if (!clat || !clon) { tq_err_set(&err, TQ_ENOMEM, "out of memory"); goto fail; }
        for (int j = 0; j < k; j++) {
            clat[j] = cl[2 * j];
            clon[j] = cl[2 * j + 1];
        }
    }
    if (!strcmp(centers, "iterate")) p.center_iters = center_rounds > 0 ? (int)center_rounds : 10;
    cap = malloc((size_t)k * sizeof *cap);
    if (!cap) { tq_err_set(&err, TQ_ENOMEM, "out of memory"); goto fail; }
    for (int j = 0; j < k; j++) {
        cap[j] = terr.capacity && j < terr.k ? terr.capacity[j] : 1.0;
        if (!(cap[j] > 0) || !isfinite(cap[j])) {
            tq_err_set(&err, TQ_EINVAL, "%s: /territories row %d, column capacity: value %g is not > 0",
                       path, j + 1, cap[j]);
            goto fail;
        }
        if (!isfinite(clat[j]) || !isfinite(clon[j]) || fabs(clat[j]) > 90 || fabs(clon[j]) > 180) {
            tq_err_set(&err, TQ_EINVAL, "%s: %s row %d: (%g, %g) is not a valid lat/lon", path,
                       cl ? "/clusters/centers" : "/territories home base", j + 1, clat[j], clon[j]);
            goto fail;
        }
    }

    /* ---- accounts ---- */
    unsigned cols = TQ_COL_LATLON | TQ_COL_WORKLOAD | TQ_COL_VALUE | TQ_COL_PREV |
                    TQ_COL_LOCKED | TQ_COL_SCORE;
    if (tq_accounts_read(path, comm, cols, &a, &err) != TQ_OK) goto fail;
    if (tq_accounts_check(path, &a, k, comm, &err) != TQ_OK) goto fail;
    int64_t nl = a.hi - a.lo;
    size_t nb = (size_t)(nl > 0 ? nl : 1);
    pot = malloc(nb * sizeof *pot);
    t = malloc(nb * sizeof *t);
    if (!pot || !t) { tq_err_set(&err, TQ_ENOMEM, "out of memory for %lld accounts", (long long)nl); goto fail; }
    for (int64_t i = 0; i < nl; i++) pot[i] = a.score ? a.value[i] * a.score[i] : a.value[i];
    double t_read = tq_now() - t0;
    const char *msg = tq_align_check(&p);
    if (msg) { tq_err_set(&err, TQ_EINVAL, "%s", msg); goto fail; }
    tq_align_problem pb = {a.n, a.lo, nl, a.lat, a.lon, a.workload, pot, a.value, a.workload,
                           a.prev_territory, a.locked, k, clat, clon, cap};

    if (write_lp) {
        /* written by rank 0 under a temporary name, renamed when complete */
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", write_lp, (long)getpid());
        if (tq_comm_size(comm) > 1) tq_comm_bcast(comm, tmp, sizeof tmp, 0);
        p.write_lp = tmp;
        int st = tq_align_solve(&pb, &p, comm, t, &r);
        if (st == TQ_OK && tq_comm_rank(comm) == 0 && rename(tmp, write_lp) != 0) {
            snprintf(r.msg, sizeof r.msg, "cannot rename its temporary file onto it: %s",
                     strerror(errno));
            st = TQ_EIO;
        }
        if (tq_comm_size(comm) > 1) tq_comm_bcast(comm, &st, sizeof st, 0);
        if (st != TQ_OK) {
            if (tq_comm_rank(comm) == 0) unlink(tmp);
            tq_err_set(&err, st, "%s: %s", write_lp, r.msg[0] ? r.msg : tq_strstatus(st));
            goto fail;
        }
        tq_say("align: wrote the model (%lld accounts, %d territories, final candidate lists) "
               "to %s", (long long)a.n, k, write_lp);
        rc = TQ_EXIT_OK;
        goto done;
    }

    if (p.max_moved >= 0) {  /* a budget on moves from last year needs a last year */
        int64_t with_prev = 0;
        for (int64_t i = 0; a.prev_territory && i < nl; i++) with_prev += a.prev_territory[i] >= 0;
        if (tq_comm_sum_i64(comm, &with_prev, 1) == TQ_OK && with_prev == 0)
            tq_warn("%s: --max-moved: no account has a prev_territory (last year's territory), so "
                    "the budget constrains nothing", path);
    }

    /* ---- solve ---- */
    double t1 = tq_now();
    tq_progress prog;
    tq_progress_start(&prog, "align", p.max_rounds);
    p.progress = tq_progress_hook_cli;
    p.progress_ctx = &prog;
    int st = tq_align_solve(&pb, &p, comm, t, &r);
    tq_progress_end(&prog);
    p.progress = NULL; /* the frontier and region solves below run without a bar */
    double t_solve = tq_now() - t1;
    if (st == TQ_INFEASIBLE) {
        infeasible_msg(&err, path, &terr, terr.id_len, &r);
        goto fail;
    }
    if (st != TQ_OK) {
        tq_err_set(&err, st, "%s: align failed: %s%s%s", path, tq_strstatus(st),
                   r.msg[0] ? ": " : "", r.msg);
        goto fail;
    }

    /* ---- disruption frontier: n budgets from the least share that can keep the windows
     * (the kernel's lower bound, often 0) up to the unconstrained alignment's share:
     * lo + (top - lo) j/n, j = 1..n; none below the bound, which could only fail ---- */
    int nfront = 0;
    if (frontier > 0 && !(r.moved_value_share > 0)) {
        /* every budget would be 0: the same alignment n times */
        tq_warn("%s: --frontier: this alignment moves no value from last year (no account "
                "has a prev_territory, or none moves), so there is no trade-off to show; no "
                "frontier computed", path);
        frontier = 0;
    }
    if (frontier > 0) {
        front = malloc((size_t)frontier * 7 * sizeof *front);
        t2 = malloc(nb * sizeof *t2);
        if (!front || !t2) { tq_err_set(&err, TQ_ENOMEM, "out of memory"); goto fail; }
        double top = r.moved_value_share;
        double lo = r.moved_min_share > 0 && r.moved_min_share < top ? r.moved_min_share : 0.0;
        /* each budget's solve starts from the prices of the one before (the first from
         * the unconstrained solve's): at 200,000 x 500 that spares the coarse level; and
         * takes the unconstrained solve's transport arcs (the LP: 2.2-2.9 s there) */
        warm = malloc((size_t)(3 * k + 1) * sizeof *warm);
        if (!warm) { tq_err_set(&err, TQ_ENOMEM, "out of memory"); goto fail; }
        memcpy(warm, r.prices, (size_t)(3 * k + 1) * sizeof *warm);
        for (int64_t j = 0; j < frontier; j++) {
            tq_align_params q = p;
            q.max_moved = lo + (top - lo) * (double)(j + 1) / (double)frontier;
            q.exact = 0;
            q.warm_prices = warm;
            q.arcs = &r.arcs;  /* the same problem's transport arcs: no LP again */
            tq_align_result fr;
            int fs = tq_align_solve(&pb, &q, comm, t2, &fr);
            if (fs == TQ_OK) memcpy(warm, fr.prices, (size_t)(3 * k + 1) * sizeof *warm);
            double *row = front + 7 * nfront++;
            row[0] = q.max_moved;
            if (fs == TQ_OK) {
                double mx, mn, cv, worst = 0;
                for (int m = 0; m < 3; m++)
                    if (bal[m]) {
                        spread(&fr, cap, m, &mx, &mn, &cv);
                        worst = fmax(worst, fmax(mx - 1, 1 - mn));
                    }
                row[1] = fr.moved_value_share;
                row[2] = worst;
                row[3] = fr.mean_km;
                row[4] = fr.cost;
                row[5] = fr.gap;
                row[6] = 1;
            } else if (fs == TQ_INFEASIBLE) {
                for (int z = 1; z < 6; z++) row[z] = NAN;
                row[6] = 0;
            } else {
                tq_align_result_free(&fr);
                tq_err_set(&err, fs, "%s: frontier solve failed: %s", path, tq_strstatus(fs));
                goto fail;
            }
            tq_align_result_free(&fr);
        }
    }

    /* ---- regions: the same kernel on territory level ---- */
    if (regions > 0) {
        if (regions > k) {
            tq_err_set(&err, TQ_EINVAL, "--regions %lld is more than the %d territories",
                       (long long)regions, k);
            goto fail;
        }
        int R = (int)regions;
        reg = malloc((size_t)k * sizeof *reg);
        float *tw = malloc((size_t)k * sizeof *tw), *tp = malloc((size_t)k * sizeof *tp);
        double *rlat = malloc((size_t)R * sizeof *rlat), *rlon = malloc((size_t)R * sizeof *rlon);
        int ok = reg && tw && tp && rlat && rlon;
        if (ok) {
            for (int j = 0; j < k; j++) {
                tw[j] = (float)r.load[3 * j];
                tp[j] = (float)r.load[3 * j + 1];
            }
            /* region seeds: farthest-point traversal from territory 0 (deterministic) */
            double *dmin = malloc((size_t)k * sizeof *dmin);
            ok = dmin != NULL;
            for (int j = 0; ok && j < k; j++) dmin[j] = INFINITY;
            int cur = 0;
            for (int q = 0; ok && q < R; q++) {
                rlat[q] = r.center_lat[cur];
                rlon[q] = r.center_lon[cur];
                int far = 0;
                for (int j = 0; j < k; j++) {
                    double dl = r.center_lat[j] - rlat[q], dg = r.center_lon[j] - rlon[q];
                    dmin[j] = fmin(dmin[j], dl * dl + dg * dg);
                    if (dmin[j] > dmin[far]) far = j;
                }
                cur = far;
            }
            free(dmin);
        }
        int rs = TQ_ENOMEM;
        tq_align_result rr;
        memset(&rr, 0, sizeof rr);
        if (ok) {
            tq_align_params q;
            tq_align_defaults(&q);
            q.tol[0] = bal[0] ? fmax(tol[0], 0.05) : -1;
            q.tol[1] = bal[1] ? fmax(tol[1], 0.05) : -1;
            q.tol[2] = -1;
            q.center_iters = 5;
            tq_align_problem rp = {k, 0, k, r.center_lat, r.center_lon, tw, tp, tp, tw,
                                   NULL, NULL, R, rlat, rlon, NULL};
            rs = tq_align_solve(&rp, &q, NULL, reg, &rr);
        }
        tq_align_result_free(&rr);
        /* the regions' workload and potential against equal shares (their targets),
         * summed from the territories' loads in double (the region solve's are floats) */
        if (rs == TQ_OK) {
            tq_align_result rg = {.k = R, .load = calloc((size_t)3 * R, sizeof(double))};
            if (!rg.load) rs = TQ_ENOMEM;
            for (int j = 0; rg.load && j < k; j++)
                for (int m = 0; m < 2; m++) rg.load[3 * reg[j] + m] += r.load[3 * j + m];
            for (int m = 0; rg.load && m < 2; m++)
                spread(&rg, NULL, m, &rmx[m], &rmn[m], &rcv[m]);
            free(rg.load);
        }
        free(tw);
        free(tp);
        free(rlat);
        free(rlon);
        if (rs != TQ_OK) {
            tq_err_set(&err, rs == TQ_INFEASIBLE ? TQ_INFEASIBLE : rs,
                       "%s: --regions %d: %s", path, R,
                       rs == TQ_INFEASIBLE ? "territories too coarse to balance into regions "
                                             "within 5%" : tq_strstatus(rs));
            goto fail;
        }
    }

    /* ---- metrics ---- */
    double mx[3] = {0}, mn[3] = {0}, cv[3] = {0};
    for (int m = 0; m < 3; m++) spread(&r, cap, m, &mx[m], &mn[m], &cv[m]);
    ll = malloc((size_t)k * 2 * sizeof *ll);
    double *loadm = malloc((size_t)k * 3 * sizeof *loadm);
    if (!ll || !loadm) { free(loadm); tq_err_set(&err, TQ_ENOMEM, "out of memory"); goto fail; }
    for (int j = 0; j < k; j++) {
        ll[2 * j] = r.center_lat[j];
        ll[2 * j + 1] = r.center_lon[j];
    }

    /* ---- write /alignment ---- */
    double t3 = tq_now();
    params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "centers", centers);
    cJSON *bl = cJSON_AddArrayToObject(params, "balance");
    for (int m = 0; m < 3; m++)
        if (bal[m]) cJSON_AddItemToArray(bl, cJSON_CreateString(mname[m]));
    cJSON_AddNumberToObject(params, "tol_workload", tol[0]);
    cJSON_AddNumberToObject(params, "tol_potential", tol[1]);
    cJSON_AddNumberToObject(params, "tol_count", tol[2]);
    cJSON_AddNumberToObject(params, "alpha", p.alpha);
    cJSON_AddNumberToObject(params, "max_moved", p.max_moved);
    cJSON_AddStringToObject(params, "distance", p.distance == TQ_DIST_KM2 ? "km2" : "km");
    cJSON_AddNumberToObject(params, "candidates", p.candidates);
    cJSON_AddNumberToObject(params, "rounds", p.max_rounds);
    cJSON_AddStringToObject(params, "prices", p.prices == TQ_PRICES_NEWTON  ? "newton"
                                              : p.prices == TQ_PRICES_LBFGS ? "lbfgs"
                                              : p.prices == TQ_PRICES_PLAIN ? "lbfgs-plain"
                                                                            : "auto");
    cJSON_AddNumberToObject(params, "gap_goal", p.gap_goal);
    cJSON_AddNumberToObject(params, "pair_passes", p.pair_passes);
    if (p.coarse == TQ_COARSE_AUTO) cJSON_AddStringToObject(params, "coarse", "auto");
    else cJSON_AddNumberToObject(params, "coarse", p.coarse);
    cJSON_AddBoolToObject(params, "exact", p.exact);
    if (p.exact) cJSON_AddNumberToObject(params, "exact_seconds", p.exact_seconds);
    cJSON_AddNumberToObject(params, "frontier", (double)frontier);
    cJSON_AddNumberToObject(params, "center_rounds", p.center_iters);
    cJSON_AddNumberToObject(params, "regions", (double)regions);
    cJSON_AddStringToObject(params, "potential", a.score ? "value*score" : "value");
    cJSON_AddNumberToObject(params, "seed", (double)seed);
    res = tq_result_begin(path, "alignment", comm, &err);
    if (!res) { free(loadm); goto fail; }
    int wst = tq_result_rows_i32(res, "territory", t, nl, 1);
    for (int m = 0; m < 3 && wst == TQ_OK; m++) {
        for (int j = 0; j < k; j++) loadm[j] = r.load[3 * j + m];
        wst = tq_result_small_f64(res, mname[m], loadm, k, 1);
    }
    free(loadm);
    if (wst == TQ_OK) wst = tq_result_small_f64(res, "lo", r.lo, k, 3);
    if (wst == TQ_OK) wst = tq_result_small_f64(res, "hi", r.hi, k, 3);
    if (wst == TQ_OK) wst = tq_result_small_f64(res, "center", ll, k, 2);
    if (wst == TQ_OK) wst = tq_result_small_f64(res, "radius_km", r.radius_km, k, 1);
    if (wst == TQ_OK && nfront > 0) wst = tq_result_small_f64(res, "frontier", front, nfront, 7);
    if (wst == TQ_OK && reg) {
        int64_t *r64 = malloc((size_t)k * sizeof *r64);
        if (!r64) wst = TQ_ENOMEM;
        for (int j = 0; r64 && j < k; j++) r64[j] = reg[j];
        if (r64) wst = tq_result_small_i64(res, "region", r64, k, 1);
        free(r64);
    }
    struct { const char *n; double v; } fa[] = {
        {"cost", r.cost}, {"bound", r.bound}, {"gap", r.gap},
        {"cost_distance", r.cost_distance}, {"cost_disruption", r.cost_disruption},
        {"mean_km", r.mean_km}, {"p90_km", r.p90_km},
        {"moved_share_accounts", r.moved_count_share}, {"moved_share_value", r.moved_value_share},
        {"moved_share_value_min", r.moved_min_share},
        {"max_workload", mx[0]}, {"min_workload", mn[0]}, {"cv_workload", cv[0]},
        {"max_potential", mx[1]}, {"min_potential", mn[1]}, {"cv_potential", cv[1]},
        {"max_count", mx[2]}, {"min_count", mn[2]}, {"cv_count", cv[2]},
        {"seconds", t_solve}, {"alpha", p.alpha}};
    for (size_t q = 0; q < sizeof fa / sizeof fa[0] && wst == TQ_OK; q++)
        wst = tq_result_attr_f64(res, fa[q].n, fa[q].v);
    struct { const char *n; double v; } ra[] = {
        {"region_max_workload", rmx[0]}, {"region_min_workload", rmn[0]},
        {"region_cv_workload", rcv[0]}, {"region_max_potential", rmx[1]},
        {"region_min_potential", rmn[1]}, {"region_cv_potential", rcv[1]}};
    for (size_t q = 0; reg && q < sizeof ra / sizeof ra[0] && wst == TQ_OK; q++)
        wst = tq_result_attr_f64(res, ra[q].n, ra[q].v);
    if (wst == TQ_OK && reg) wst = tq_result_attr_i64(res, "regions", regions);
    if (wst == TQ_OK && p.center_iters > 0)
        wst = tq_result_attr_i64(res, "center_rounds", r.center_rounds);
    if (wst == TQ_OK && p.center_iters > 0)
        wst = tq_result_attr_i64(res, "center_changed", r.center_changed);
    if (wst == TQ_OK) wst = tq_result_attr_i64(res, "rounds", r.rounds);
    if (wst == TQ_OK) wst = tq_result_attr_i64(res, "k", k);
    if (wst == TQ_OK) wst = tq_result_attr_i64(res, "exact_optimal", r.exact_optimal);
    if (wst == TQ_OK) wst = tq_result_attr_str(res, "centers", centers);
    if (wst == TQ_OK)
        wst = tq_result_attr_str(res, "distance", p.distance == TQ_DIST_KM2 ? "km2" : "km");
    if (wst == TQ_OK) wst = tq_result_attr_str(res, "price_search", price_search(&r));
    if (wst != TQ_OK) {
        tq_err_set(&err, TQ_EIO, "%s: cannot write /alignment", path);
        goto fail;
    }
    params_text = cJSON_PrintUnformatted(params);
    st = tq_result_commit(res, "align", params_text, seed, started, &err);
    res = NULL;
    if (st != TQ_OK) goto fail;
    double t_write = tq_now() - t3, total = tq_now() - t0;

    tq_say("align: %lld accounts -> %d territories (%s centers), cost %.6g, bound %.6g, gap "
           "%.3f%%; workload %.3f..%.3f, potential %.3f..%.3f of target; %.1f%% of value moved; "
           "mean %.1f km -> /alignment (%.2f s)",
           (long long)a.n, k, centers, r.cost, r.bound, 100 * r.gap, mn[0], mx[0], mn[1], mx[1],
           100 * r.moved_value_share, r.mean_km, total);
    if (p.center_iters > 0) {
        const char *pl = r.center_rounds == 1 ? "" : "s";
        if (r.center_changed == 0)
            tq_say("  centers moved %d time%s, then settled (no account changed territory)",
                   r.center_rounds, pl);
        else if (r.center_stalled)
            tq_say("  centers moved %d time%s, then settled (the last move saved under 0.01%% "
                   "of the cost; %lld accounts changed territory)", r.center_rounds, pl,
                   (long long)r.center_changed);
        else
            tq_say("  centers moved %d time%s, the cap (--center-rounds): the last move still "
                   "saved over 0.01%% of the cost (%lld accounts changed territory)",
                   r.center_rounds, pl, (long long)r.center_changed);
    }
    if (reg) {
        /* each balanced metric's window, as the region solve had it: max(tol, 5%) */
        char win[2][32];
        for (int m = 0; m < 2; m++)
            if (bal[m]) snprintf(win[m], sizeof win[m], " (+-%.1f%%)", 100 * fmax(tol[m], 0.05));
            else snprintf(win[m], sizeof win[m], " (not balanced)");
        tq_say("  %lld regions: workload %.3f..%.3f%s, potential %.3f..%.3f%s of an equal share "
               "-> /alignment/region", (long long)regions, rmn[0], rmx[0], win[0], rmn[1],
               rmx[1], win[1]);
    }
    if (nfront > 0 && !tq_g.quiet && tq_g.rank == 0) {
        FILE *fo = tq_g.json ? stderr : stdout;
        if (r.moved_min_share > 0 && r.moved_min_share < r.moved_value_share)
            fprintf(fo, "  frontier from %.2f%%: any alignment within the windows moves at least "
                        "that share of last year's value\n", 100 * r.moved_min_share);
        fprintf(fo, "  max moved   moved    max imbalance   mean km          cost      gap\n");
        for (int j = 0; j < nfront; j++) {
            const double *row = front + 7 * j;
            if (row[6] > 0)
                fprintf(fo, "  %8.2f%%  %6.2f%%   %12.3f%%  %8.1f  %12.6g  %6.3f%%\n", 100 * row[0],
                        100 * row[1], 100 * row[2], row[3], row[4], 100 * row[5]);
            else if (row[0] < r.moved_min_share)
                fprintf(fo, "  %8.2f%%  infeasible (at least %.2f%% must move)\n", 100 * row[0],
                        100 * r.moved_min_share);
            else
                fprintf(fo, "  %8.2f%%  infeasible\n", 100 * row[0]);
        }
    }
    if (tq_g.json) {
        out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "command", "align");
        cJSON_AddStringToObject(out, "input", path);
        cJSON_AddNumberToObject(out, "rows", (double)a.n);
        cJSON_AddNumberToObject(out, "k", k);
        cJSON_AddItemToObject(out, "parameters", params);
        params = NULL;
        for (size_t q = 0; q < sizeof fa / sizeof fa[0]; q++)
            cJSON_AddNumberToObject(out, fa[q].n, isfinite(fa[q].v) ? fa[q].v : -1);
        cJSON_AddNumberToObject(out, "rounds", r.rounds);
        cJSON_AddNumberToObject(out, "center_rounds", r.center_rounds);
        cJSON_AddNumberToObject(out, "center_changed", (double)r.center_changed);
        cJSON_AddBoolToObject(out, "center_settled",
                              p.center_iters > 0 && (r.center_changed == 0 || r.center_stalled));
        cJSON_AddNumberToObject(out, "candidates_used", r.candidates);
        cJSON_AddNumberToObject(out, "widened", r.widened);
        cJSON_AddNumberToObject(out, "repair", r.repair);
        cJSON_AddNumberToObject(out, "boundary", (double)r.boundary_size);
        cJSON_AddNumberToObject(out, "pair_passes", r.pair_passes);
        cJSON_AddNumberToObject(out, "pair_mips", (double)r.pair_mips);
        cJSON_AddNumberToObject(out, "pair_improved", (double)r.pair_improved);
        cJSON_AddNumberToObject(out, "pair_saved", r.pair_saved);
        cJSON_AddNumberToObject(out, "pair_starts", r.pair_starts);
        cJSON_AddNumberToObject(out, "budget_alpha", r.budget_alpha);
        cJSON_AddNumberToObject(out, "bound_checks", (double)r.bound_checks);
        cJSON_AddNumberToObject(out, "hessian_passes", r.hess_passes);
        cJSON_AddNumberToObject(out, "coarse_stride", (double)r.coarse_stride);
        cJSON_AddNumberToObject(out, "coarse_rounds", r.coarse_rounds);
        cJSON_AddNumberToObject(out, "coarse_runoffs", r.coarse_runoffs);
        cJSON_AddNumberToObject(out, "warm_starts", r.warm_starts);
        cJSON_AddNumberToObject(out, "transport_arcs", (double)r.transport_arcs);
        cJSON_AddNumberToObject(out, "transport_violation", r.transport_violation);
        cJSON_AddStringToObject(out, "price_search", price_search(&r));
        cJSON_AddNumberToObject(out, "bound_restricted", r.lagrange_bound_restricted);
        cJSON_AddBoolToObject(out, "exact_optimal", r.exact_optimal);
        if (isfinite(r.lp_value)) cJSON_AddNumberToObject(out, "lp_value", r.lp_value);
        cJSON_AddNumberToObject(out, "moved_accounts", (double)r.moved_count);
        if (reg) {
            cJSON_AddNumberToObject(out, "regions", (double)regions);
            for (size_t q = 0; q < sizeof ra / sizeof ra[0]; q++)
                cJSON_AddNumberToObject(out, ra[q].n, ra[q].v);
        }
        if (nfront > 0) {
            cJSON *fr = cJSON_AddArrayToObject(out, "frontier");
            for (int j = 0; j < nfront; j++) {
                const double *row = front + 7 * j;
                cJSON *h = cJSON_CreateObject();
                cJSON_AddNumberToObject(h, "max_moved", row[0]);
                cJSON_AddBoolToObject(h, "feasible", row[6] > 0);
                if (row[6] > 0) {
                    cJSON_AddNumberToObject(h, "moved_share_value", row[1]);
                    cJSON_AddNumberToObject(h, "max_imbalance", row[2]);
                    cJSON_AddNumberToObject(h, "mean_km", row[3]);
                    cJSON_AddNumberToObject(h, "cost", row[4]);
                    cJSON_AddNumberToObject(h, "gap", row[5]);
                }
                cJSON_AddItemToArray(fr, h);
            }
        }
        cJSON_AddNumberToObject(out, "ranks", tq_comm_size(comm));
        cJSON_AddNumberToObject(out, "threads", tq_threads());
        tq_json_time(out, "read", t_read);
        tq_json_time(out, "candidates", r.t_candidates);
        tq_json_time(out, "prices", r.t_prices);
        tq_json_time(out, "hessian", r.t_hess);
        tq_json_time(out, "factor", r.t_factor);
        tq_json_time(out, "bound", r.t_bound);
        tq_json_time(out, "repair", r.t_repair);
        tq_json_time(out, "pairs", r.t_pairs);
        tq_json_time(out, "exact", r.t_exact);
        tq_json_time(out, "solve", t_solve);
        tq_json_time(out, "write", t_write);
        tq_json_time(out, "total", total);
        tq_json_emit(out);
        out = NULL;
    }
    rc = TQ_EXIT_OK;
    goto done;
fail:
    rc = tq_fail(&err);
done:
    if (res) tq_result_abort(res);
    tq_align_result_free(&r);
    tq_accounts_free(&a);
    tq_territories_free(&terr);
    free(clat);
    free(clon);
    free(cap);
    free(cl);
    free(ll);
    free(front);
    free(warm);
    free(pot);
    free(t);
    free(t2);
    free(reg);
    cJSON_Delete(params);
    cJSON_Delete(out);
    cJSON_free(params_text);
    return rc;
}
