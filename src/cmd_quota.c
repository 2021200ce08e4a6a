/* tqplan quota: quotas per territory that sum to the company target (kernels/tq_quota.h).
 * Territories come from /alignment/territory (after `align`) or last year's
 * /accounts/prev_territory; potential is value x score when /accounts/score exists. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tq_cli.h"
#include "tq_quota.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tqplan quota data.h5 --target T [options]\n\n"
            "Quotas per territory that sum exactly to the company target T: a blend of each\n"
            "territory's share of potential (value x score, or value) and of its book (value),\n"
            "kept fair: quota / potential within +-f of the company's ratio. Writes /quotas.\n\n"
            "  --target T        company target, currency units (e.g. 250e6)\n"
            "  --from SRC        alignment (default when /alignment exists) or prev\n"
            "  --beta b          weight of potential vs book, in [0,1] (default 0.5)\n"
            "  --fairness f      allowed deviation of quota/potential, e.g. 15%% (default);\n"
            "                    100%% turns the bound off\n"
            "  --unit u          round quotas to multiples of u (default 1)\n"
            "  --json, -q, --threads n\n");
}

/* the options (also read by `plan`, which checks a scenario file's keys against them) */
const struct option tq_opts_quota[] = {
    {"target", required_argument, 0, 't'}, {"from", required_argument, 0, 'f'},
    {"beta", required_argument, 0, 'b'}, {"fairness", required_argument, 0, 'r'},
    {"unit", required_argument, 0, 'u'}, {"help", no_argument, 0, 'h'},
    TQ_CLI_LONGOPTS, {0, 0, 0, 0}};

int tq_cmd_quota(int argc, char **argv)
{
    const struct option *opts = tq_opts_quota;
    tq_quota_params p;
    tq_quota_defaults(&p);
    const char *from = NULL;
    int c, rc = TQ_EXIT_INPUT;
    tq_err err = {0, ""};
    tq_accounts a = {0};
    tq_info info;
    tq_quota_result q = {0};
    int32_t *terr = NULL;
    int64_t nterr = 0;
    time_t started = time(NULL);
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        int r = tq_cli_common_opt(c, optarg);
        if (r < 0) return TQ_EXIT_INPUT;
        if (r) continue;
        switch (c) {
        case 't': if (tq_parse_f64("--target", optarg, 0, 1e18, &p.target)) return rc; break;
        case 'f': from = optarg; break;
        case 'b': if (tq_parse_f64("--beta", optarg, 0, 1, &p.beta)) return rc; break;
        case 'r': if (tq_parse_share("--fairness", optarg, &p.fairness)) return rc; break;
        case 'u': if (tq_parse_f64("--unit", optarg, 0, 1e15, &p.unit)) return rc; break;
        case 'h': usage(stdout); return TQ_EXIT_OK;
        default: usage(stderr); return TQ_EXIT_INPUT;
        }
    }
    if (optind != argc - 1) {
        tq_error("quota needs exactly one dataset file");
        usage(stderr);
        return TQ_EXIT_INPUT;
    }
    const char *bad = tq_quota_check(&p);
    if (bad) {
        tq_error("quota: %s%s", bad, p.target > 0 ? "" : " (--target T)");
        return TQ_EXIT_INPUT;
    }
    if (from && strcmp(from, "alignment") && strcmp(from, "prev")) {
        tq_error("option --from: '%s' is not 'alignment' or 'prev'", from);
        return TQ_EXIT_INPUT;
    }
    const char *path = argv[optind];
    double t0 = tq_now();
    if (tq_data_info(path, &info, &err) != TQ_OK) return tq_fail(&err);
    if (tq_accounts_read(path, tq_g.comm, TQ_COL_VALUE | TQ_COL_SCORE | TQ_COL_PREV, &a, &err) != TQ_OK)
        return tq_fail(&err);
    if (tq_accounts_check(path, &a, info.k, tq_g.comm, &err) != TQ_OK) goto fail;
    int use_alignment = 0;
    if (!from || !strcmp(from, "alignment")) {
        tq_err e2 = {0, ""};
        int st = tq_result_read_rows_i32(path, tq_g.comm, "alignment/territory", &terr, &nterr, &e2);
        int fits = st == TQ_OK && nterr == a.hi - a.lo;
        tq_comm_all(tq_g.comm, &fits);  /* the same choice on every rank */
        if (fits) {
            use_alignment = 1;
        } else if (st == TQ_OK) {
            tq_err_set(&err, TQ_EINVAL, "%s: /alignment/territory does not have a row for each "
                       "of the %lld accounts (run 'tqplan align' again)", path, (long long)a.n);
            goto fail;
        } else if (from) {
            tq_err_set(&err, TQ_EINVAL, "%s: no /alignment/territory to take territories from "
                       "(run 'tqplan align' first, or use --from prev)", path);
            goto fail;
        }
    }
    if (use_alignment &&
        tq_labels_check(path, "/alignment/territory", &a, terr, info.k, tq_g.comm, &err) != TQ_OK)
        goto fail;
    const int32_t *t = use_alignment ? terr : a.prev_territory;
    int k = info.k;
    if (k <= 0) { /* no /territories: as many as the largest index says */
        int32_t mx = -1;
        for (int64_t i = 0; i < a.hi - a.lo; i++)
            if (t[i] > mx) mx = t[i];
        double m = mx;
        tq_comm_max_f64(tq_g.comm, &m, 1);
        k = (int)m + 1;
    }
    if (k <= 0) {
        tq_err_set(&err, TQ_EINVAL, "%s: no account has a territory (prev_territory all -1 and "
                   "no /alignment)", path);
        goto fail;
    }
    int st = tq_quota_compute(a.n, a.lo, a.hi - a.lo, t, a.value, a.score, k, &p, tq_g.comm, &q);
    if (st == TQ_EINVAL) {
        tq_err_set(&err, TQ_EINVAL, "%s: the territories hold no potential (every value is 0)", path);
        goto fail;
    }
    if (st != TQ_OK) {
        tq_err_set(&err, st, "quota: %s", tq_strstatus(st));
        goto fail;
    }
    double t_compute = tq_now() - t0;
    char params[512];
    snprintf(params, sizeof params,
             "{\"target\":%.17g,\"beta\":%.17g,\"fairness\":%.17g,\"unit\":%.17g,\"from\":\"%s\"}",
             p.target, p.beta, p.fairness, p.unit, use_alignment ? "alignment" : "prev");
    tq_result *r = tq_result_begin(path, "quotas", tq_g.comm, &err);
    if (!r) goto fail;
    tq_result_small_f64(r, "quota", q.quota, k, 1);
    tq_result_small_f64(r, "potential", q.potential, k, 1);
    tq_result_small_f64(r, "book", q.book, k, 1);
    tq_result_small_f64(r, "raw", q.raw, k, 1);
    tq_result_small_f64(r, "attainment", q.attainment, k, 1);
    tq_result_attr_f64(r, "target", p.target);
    tq_result_attr_f64(r, "total", q.total);
    tq_result_attr_f64(r, "ratio_min", q.ratio_min);
    tq_result_attr_f64(r, "ratio_max", q.ratio_max);
    tq_result_attr_f64(r, "ratio_cv", q.ratio_cv);
    tq_result_attr_f64(r, "gini", q.gini);
    tq_result_attr_i64(r, "clamped", q.clamped);
    tq_result_attr_i64(r, "unassigned", q.unassigned);
    tq_result_attr_str(r, "source", use_alignment ? "alignment" : "prev_territory");
    if (tq_result_commit(r, "quota", params, 0, started, &err) != TQ_OK) goto fail;
    tq_say("quota: %d territories, total %.2f (target %.2f) from %s; quota/potential %.4g..%.4g "
           "(cv %.3f, gini %.3f), %d at a fairness bound, %d without potential, %lld accounts "
           "unassigned -> %s:/quotas",
           k, q.total, p.target, use_alignment ? "/alignment" : "prev_territory", q.ratio_min,
           q.ratio_max, q.ratio_cv, q.gini, q.clamped, q.empty, (long long)q.unassigned, path);
    if (tq_g.json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "command", "quota");
        cJSON_AddNumberToObject(j, "territories", k);
        cJSON_AddNumberToObject(j, "target", p.target);
        cJSON_AddNumberToObject(j, "total", q.total);
        cJSON_AddStringToObject(j, "source", use_alignment ? "alignment" : "prev_territory");
        cJSON_AddNumberToObject(j, "ratio_min", q.ratio_min);
        cJSON_AddNumberToObject(j, "ratio_max", q.ratio_max);
        cJSON_AddNumberToObject(j, "ratio_cv", q.ratio_cv);
        cJSON_AddNumberToObject(j, "gini", q.gini);
        cJSON_AddNumberToObject(j, "clamped", q.clamped);
        cJSON_AddNumberToObject(j, "empty", q.empty);
        cJSON_AddNumberToObject(j, "unassigned", (double)q.unassigned);
        cJSON_AddItemToObject(j, "quota", cJSON_CreateDoubleArray(q.quota, k));
        tq_json_time(j, "total", tq_now() - t0);
        tq_json_time(j, "compute", t_compute);
        tq_json_emit(j);
    }
    rc = TQ_EXIT_OK;
    goto done;
fail:
    rc = tq_fail(&err);
done:
    tq_quota_result_free(&q);
    tq_accounts_free(&a);
    free(terr);
    return rc;
}
