/* cmd_train.c: `tqplan train DATA.h5`: fit the propensity model (kernels/tq_sgd.h) on
 * /accounts/features and /accounts/label, score every account into /accounts/score,
 * write /model (weights, standardisation, hyper-parameters, metrics, run manifest) and
 * optionally a model JSON file for `tqplan score`. Metrics are on the hold-out split. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tq_cli.h"
#include "tq_out.h"
#include "tq_model.h"
#include "tq_sgd.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tqplan train DATA.h5 [options]\n\n"
            "Logistic regression on /accounts/features and /accounts/label by parallel SGD;\n"
            "writes /model and /accounts/score (rows labelled -1 are scored, never trained on).\n\n"
            "options:\n"
            "  --l2 lambda        L2 penalty per unit of mean log-loss (default 1e-6)\n"
            "  --l1 lambda        L1 penalty (default 0)\n"
            "  --epochs n         maximum epochs (default 20)\n"
            "  --lr eta           AdaGrad base step (default 0.2; Adam: try 0.01)\n"
            "  --optimizer name   adagrad (default) or adam\n"
            "  --batch B          rows per update, 1..256 (default 64)\n"
            "  --rounds R         model averages per epoch (default 2)\n"
            "  --mode m           deterministic (default: bit-identical for any threads and\n"
            "                     ranks) or fast (per-thread models; not reproducible)\n"
            "  --val share        hold-out share of labelled rows (default 0.2; 0 = none)\n"
            "  --seed s           seed of the hold-out split (default 1)\n"
            "  --class-weight w   none (default), balanced, or the weight of label-1 rows\n"
            "  --patience n       stop after n epochs without validation gain (default 2)\n"
            "  --tol t            an epoch improves when it lowers the validation log-loss by\n"
            "                     this share (default 1e-5)\n"
            "  --no-average       return the last SGD iterate, not the mean of the epoch's\n"
            "                     iterates (Polyak-Ruppert averaging, the default)\n"
            "  --stream rows      read features from the file this many rows at a time\n"
            "                     (out-of-core; default: all in memory)\n"
            "  --model-out FILE   also write the model as JSON (for tqplan score)\n"
            "  --json, -q, --threads n\n");
}

typedef struct {
    const char *path;
    double t_read;
} stream_ctx;

/* tq_sgd_data.read: rows [r0, r1) of features and labels from the file. */
static int stream_read(void *vctx, int64_t r0, int64_t r1, float *x, int8_t *y, char *msg,
                       size_t msgsize)
{
    stream_ctx *c = vctx;
    tq_accounts a;
    tq_err err = {0, ""};
    double t = tq_now();
    int st = tq_accounts_read_range(c->path, TQ_COL_FEATURES | TQ_COL_LABEL, r0, r1, &a, &err);
    if (st == TQ_OK) {
        memcpy(x, a.features, (size_t)((r1 - r0) * a.d) * sizeof *x);
        memcpy(y, a.label, (size_t)(r1 - r0));
        tq_accounts_free(&a);
    } else {
        snprintf(msg, msgsize, "%s", err.msg);
    }
    c->t_read += tq_now() - t;
    return st;
}

typedef struct {
    uint64_t seed;
    double val;
    int want_val;
} split_ctx;

/* Rows of the metrics: the validation split (or training rows when there is none). */
static int keep_split(void *vctx, int64_t i, int8_t y)
{
    split_ctx *c = vctx;
    (void)y;
    int isval = c->val > 0 && tq_rand_uniform(c->seed, TQ_SGD_STREAM_VAL, (uint64_t)i) < c->val;
    return isval == c->want_val;
}

static const char *mode_name(int m) { return m == TQ_SGD_FAST ? "fast" : "deterministic"; }
static const char *opt_name(int o) { return o == TQ_SGD_ADAM ? "adam" : "adagrad"; }

/* the options (also read by `plan`, which checks a scenario file's keys against them) */
const struct option tq_opts_train[] = {
    {"l2", required_argument, 0, 'L'}, {"l1", required_argument, 0, 'M'},
    {"epochs", required_argument, 0, 'e'}, {"lr", required_argument, 0, 'r'},
    {"optimizer", required_argument, 0, 'O'}, {"batch", required_argument, 0, 'b'},
    {"rounds", required_argument, 0, 'R'}, {"mode", required_argument, 0, 'm'},
    {"val", required_argument, 0, 'v'}, {"seed", required_argument, 0, 's'},
    {"class-weight", required_argument, 0, 'w'}, {"patience", required_argument, 0, 'P'},
    {"stream", required_argument, 0, 'S'}, {"model-out", required_argument, 0, 'o'},
    {"no-average", no_argument, 0, 'A'}, {"tol", required_argument, 0, 'T'},
    {"help", no_argument, 0, 'h'}, TQ_CLI_LONGOPTS, {0, 0, 0, 0}};

int tq_cmd_train(int argc, char **argv)
{
    const struct option *opts = tq_opts_train;
    tq_sgd_params p;
    tq_sgd_defaults(&p);
    int64_t v64, stream = 0;
    const char *model_out = NULL, *cw = "none";
    int c, rc = TQ_EXIT_INPUT;
    tq_err err = {0, ""};
    tq_accounts a = {0};
    tq_sgd_model model = {0};
    tq_sgd_report rep = {0};
    float *scores = NULL;
    int8_t *labels = NULL;
    cJSON *hyper = NULL, *mj = NULL, *out = NULL;
    char *params_text = NULL;
    tq_result *res = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        int r = tq_cli_common_opt(c, optarg);
        if (r < 0) return TQ_EXIT_INPUT;
        if (r) continue;
        switch (c) {
        case 'L': if (tq_parse_f64("--l2", optarg, 0, 1e3, &p.l2)) return rc; break;
        case 'M': if (tq_parse_f64("--l1", optarg, 0, 1e3, &p.l1)) return rc; break;
        case 'e': if (tq_parse_i64("--epochs", optarg, 1, 100000, &v64)) return rc; p.epochs = (int)v64; break;
        case 'r': if (tq_parse_f64("--lr", optarg, 1e-12, 100, &p.lr)) return rc; break;
        case 'b': if (tq_parse_i64("--batch", optarg, 1, 256, &v64)) return rc; p.batch = (int)v64; break;
        case 'R': if (tq_parse_i64("--rounds", optarg, 1, 4096, &v64)) return rc; p.rounds = (int)v64; break;
        case 'P': if (tq_parse_i64("--patience", optarg, 1, 100000, &v64)) return rc; p.patience = (int)v64; break;
        case 's': if (tq_parse_i64("--seed", optarg, 0, INT64_MAX, &v64)) return rc; p.seed = (uint64_t)v64; break;
        case 'S': if (tq_parse_i64("--stream", optarg, 1, (int64_t)1 << 40, &stream)) return rc; break;
        case 'v': if (tq_parse_share("--val", optarg, &p.val)) return rc;
            if (p.val > 0.9) { tq_error("option --val: %g is out of range [0, 0.9]", p.val); return rc; }
            break;
        case 'm':
            if (!strcmp(optarg, "deterministic")) p.mode = TQ_SGD_DETERMINISTIC;
            else if (!strcmp(optarg, "fast")) p.mode = TQ_SGD_FAST;
            else { tq_error("option --mode: '%s' is not deterministic or fast", optarg); return rc; }
            break;
        case 'O':
            if (!strcmp(optarg, "adagrad")) p.optimizer = TQ_SGD_ADAGRAD;
            else if (!strcmp(optarg, "adam")) p.optimizer = TQ_SGD_ADAM;
            else { tq_error("option --optimizer: '%s' is not adagrad or adam", optarg); return rc; }
            break;
        case 'w':
            cw = optarg;
            if (!strcmp(optarg, "none")) { p.pos_weight = p.neg_weight = 1.0; }
            else if (!strcmp(optarg, "balanced")) { p.pos_weight = p.neg_weight = 0.0; }
            else if (tq_parse_f64("--class-weight", optarg, 1e-6, 1e6, &p.pos_weight)) return rc;
            break;
        case 'o': if (tq_parse_file("--model-out", optarg, &model_out)) return rc; break;
        case 'A': p.average = 0; break;
        case 'T': if (tq_parse_f64("--tol", optarg, 0, 0.5, &p.tol)) return rc; break;
        case 'h': usage(stdout); return TQ_EXIT_OK;
        default: usage(stderr); return TQ_EXIT_INPUT;
        }
    }
    if (optind != argc - 1) {
        tq_error(optind < argc ? "train takes one dataset, got '%s' too" : "train needs a dataset file",
                 optind < argc ? argv[argc - 1] : "");
        usage(stderr);
        return TQ_EXIT_INPUT;
    }
    const char *path = argv[optind];
    const tq_comm *comm = tq_g.comm;
    double t0 = tq_now();
    time_t started = time(NULL);
    if (tq_g.threads > 0) tq_set_threads(tq_g.threads);

    /* ---- read ---- */
    tq_info info;
    if (tq_data_info(path, &info, &err) != TQ_OK) goto fail;
    if (model_out) {
        /* a model file that cannot be made fails now, before the training and before
         * /model is written (rank 0 writes it; every rank learns) */
        int ok = 1;
        tq_out o;
        if (tq_g.rank == 0) {
            if (tq_out_open(&o, model_out, &err) == TQ_OK) tq_out_abort(&o);
            else ok = 0;
        }
        tq_comm_all(comm, &ok);
        if (!ok) {
            if (tq_g.rank != 0) tq_err_set(&err, TQ_EIO, "%s: cannot create", model_out);
            goto fail;
        }
    }
    if (info.d < 1) {
        tq_err_set(&err, TQ_EINVAL, "%s: /accounts has no feature columns (d = 0): nothing to train on", path);
        goto fail;
    }
    stream_ctx sc = {path, 0.0};
    tq_sgd_data data = {info.n, info.d, 0, 0, NULL, NULL, NULL, NULL};
    tq_blocks bl;
    tq_blocks_init(&bl, info.n);
    tq_blocks_of_rank(&bl, tq_comm_rank(comm), tq_comm_size(comm), NULL, NULL, &data.lo, &data.hi);
    char **names = NULL;
    if (stream > 0) {
        data.read = stream_read;
        data.ctx = &sc;
        p.chunk_rows = stream < info.n ? stream : (info.n > 0 ? info.n : 1); /* no buffer beyond the rows */
        /* feature names only (no rows) */
        if (tq_accounts_read_range(path, TQ_COL_LABEL, 0, 0, &a, &err) != TQ_OK) goto fail;
        names = a.feature_names;
    } else {
        if (tq_accounts_read(path, comm, TQ_COL_FEATURES | TQ_COL_LABEL, &a, &err) != TQ_OK) goto fail;
        data.x = a.features;
        data.y = a.label;
        names = a.feature_names;
    }
    if (a.features) {
        /* Touch one float per page: measured, the first pass over the rows returned by
         * tq_accounts_read pays ~0.7 s of page faults per 256 MB on this machine. That
         * belongs to reading, so it is charged to the read phase, not to training. */
        volatile float sink = 0.0f;
        int64_t total = (data.hi - data.lo) * (int64_t)info.d;
        for (int64_t i = 0; i < total; i += 1024) sink += a.features[i];
        (void)sink;
    }
    double t_read = tq_now() - t0;

    /* ---- train ---- */
    tq_progress prog;
    tq_progress_start(&prog, "train", p.epochs);
    p.progress = tq_progress_hook_cli;
    p.progress_ctx = &prog;
    int st = tq_sgd_train(&data, &p, comm, &model, &rep);
    tq_progress_end(&prog);
    if (st != TQ_OK) {
        tq_err_set(&err, st, "%s: %s", path, rep.msg[0] ? rep.msg : tq_strstatus(st));
        goto fail;
    }

    /* ---- score every row (training checked every feature is finite), metrics on the
     * hold-out split ---- */
    double t1 = tq_now();
    int64_t lo = data.lo, hi = data.hi;
    if (stream > 0) {
        if (tq_model_score_file(path, comm, &model, stream, &scores, &labels, &lo, &hi, &err) != TQ_OK)
            goto fail;
    } else {
        scores = malloc((size_t)(hi - lo + 1) * sizeof *scores);
        if (!scores || tq_sgd_predict(&model, a.features, hi - lo, scores) != TQ_OK) {
            tq_err_set(&err, TQ_ENOMEM, "out of memory scoring %lld rows", (long long)(hi - lo));
            goto fail;
        }
        labels = a.label;
        a.label = NULL;
    }
    double t_score = tq_now() - t1;
    tq_metrics met;
    split_ctx spl = {p.seed, p.val, rep.n_val > 0};
    if ((st = tq_model_metrics(comm, scores, labels, lo, hi, keep_split, &spl, &met, NULL, NULL,
                               NULL)) != TQ_OK) {
        tq_err_set(&err, st, "%s: computing metrics failed (%s)", path, tq_strstatus(st));
        goto fail;
    }

    /* ---- write /accounts/score, /model, the JSON model ---- */
    double t2 = tq_now();
    hyper = cJSON_CreateObject();
    cJSON_AddStringToObject(hyper, "mode", mode_name(p.mode));
    cJSON_AddStringToObject(hyper, "optimizer", opt_name(p.optimizer));
    cJSON_AddNumberToObject(hyper, "lr", p.lr);
    cJSON_AddNumberToObject(hyper, "l2", p.l2);
    cJSON_AddNumberToObject(hyper, "l1", p.l1);
    cJSON_AddNumberToObject(hyper, "epochs", p.epochs);
    cJSON_AddNumberToObject(hyper, "batch", p.batch);
    cJSON_AddNumberToObject(hyper, "rounds", p.rounds);
    cJSON_AddNumberToObject(hyper, "val", p.val);
    cJSON_AddNumberToObject(hyper, "seed", (double)p.seed);
    cJSON_AddStringToObject(hyper, "class_weight", cw);
    cJSON_AddNumberToObject(hyper, "pos_weight", rep.pos_weight);
    cJSON_AddNumberToObject(hyper, "neg_weight", rep.neg_weight);
    cJSON_AddNumberToObject(hyper, "patience", p.patience);
    cJSON_AddNumberToObject(hyper, "tol", p.tol);
    cJSON_AddBoolToObject(hyper, "average", p.average);
    mj = tq_metrics_to_json(&met);
    cJSON_AddStringToObject(mj, "split", rep.n_val > 0 ? "validation" : "training");
    cJSON_AddNumberToObject(mj, "epochs_run", rep.epochs_run);
    cJSON_AddNumberToObject(mj, "best_epoch", rep.best_epoch);
    cJSON_AddBoolToObject(mj, "stopped_early", rep.stopped_early);
    cJSON_AddNumberToObject(mj, "train_rows", (double)rep.n_train);
    cJSON_AddNumberToObject(mj, "validation_rows", (double)rep.n_val);
    cJSON_AddNumberToObject(mj, "unlabelled_rows", (double)rep.n_unlabelled);
    if (!hyper || !mj) { tq_err_set(&err, TQ_ENOMEM, "out of memory"); goto fail; }

    if (tq_accounts_write_f32(path, comm, "score", scores, hi - lo, &err) != TQ_OK) goto fail;
    res = tq_result_begin(path, "model", comm, &err);
    if (!res) goto fail;
    double wb[1] = {model.b};
    /* calibration table: rows, mean predicted p, observed rate per bin (NaN if empty) */
    double cal[TQ_METRICS_BINS * 3];
    for (int k = 0; k < TQ_METRICS_BINS; k++) {
        cal[3 * k] = (double)met.cal_n[k];
        cal[3 * k + 1] = met.cal_mean_p[k];
        cal[3 * k + 2] = met.cal_rate[k];
    }
    if (tq_result_small_f64(res, "weights", model.w, model.d, 1) != TQ_OK ||
        tq_result_small_f64(res, "bias", wb, 1, 1) != TQ_OK ||
        tq_result_small_f64(res, "mean", model.mean, model.d, 1) != TQ_OK ||
        tq_result_small_f64(res, "std", model.std, model.d, 1) != TQ_OK ||
        tq_result_small_f64(res, "history_logloss", rep.hist_loss, rep.epochs_run, 1) != TQ_OK ||
        tq_result_small_f64(res, "calibration", cal, TQ_METRICS_BINS, 3) != TQ_OK ||
        tq_result_attr_f64(res, "auc", met.auc) != TQ_OK ||
        tq_result_attr_f64(res, "logloss", met.logloss) != TQ_OK ||
        tq_result_attr_f64(res, "brier", met.brier) != TQ_OK ||
        tq_result_attr_f64(res, "lift_top_decile", met.lift10) != TQ_OK ||
        tq_result_attr_i64(res, "epochs_run", rep.epochs_run) != TQ_OK ||
        tq_result_attr_str(res, "metrics_split", rep.n_val > 0 ? "validation" : "training") != TQ_OK) {
        tq_err_set(&err, TQ_EIO, "%s: cannot write /model", path);
        goto fail;
    }
    params_text = cJSON_PrintUnformatted(hyper);
    st = tq_result_commit(res, "train", params_text, p.seed, started, &err);
    res = NULL;
    if (st != TQ_OK) goto fail;
    if (model_out && tq_g.rank == 0 &&
        tq_model_save(model_out, &model, names, hyper, mj, &err) != TQ_OK)
        goto fail;
    double t_write = tq_now() - t2;
    double total = tq_now() - t0;

    char line[256];
    tq_metrics_line(&met, line, sizeof line);
    tq_say("train: %lld train / %lld validation rows, d=%d, %d epochs (best %d%s), %s on %s rows, "
           "%s mode -> /model, /accounts/score%s%s (%.2f s)",
           (long long)rep.n_train, (long long)rep.n_val, model.d, rep.epochs_run, rep.best_epoch,
           rep.stopped_early ? ", early stop" : "", line,
           rep.n_val > 0 ? "validation" : "training", mode_name(p.mode),
           model_out ? ", " : "", model_out ? model_out : "", total);
    /* the strongest features: |weight| per standard deviation, largest first */
    int top[10], ntop = tq_model_top(model.w, model.d, 10, top);
    /* what hashed categorical slots hold (import's hash_contents), to name them */
    char *hashed = ntop && tq_g.rank == 0 ? tq_data_attr_str(path, "/accounts", "hash_contents")
                                          : NULL;
    if (ntop) {
        char drv[1024];
        size_t o = 0;
        for (int t = 0; t < ntop && t < 5 && o < sizeof drv; t++) {
            const char *nm = names && names[top[t]] ? names[top[t]] : "?";
            char cats[256];
            o += (size_t)snprintf(drv + o, sizeof drv - o, "%s%s %+.3g", t ? ", " : "", nm,
                                  model.w[top[t]]);
            if (o < sizeof drv &&
                tq_hash_describe(hashed, nm, model.w[top[t]], cats, sizeof cats, NULL, NULL))
                o += (size_t)snprintf(drv + o, sizeof drv - o, " (%s)", cats);
        }
        tq_say("train: strongest features (weight per standard deviation): %s", drv);
    }
    if (tq_g.json) {
        out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "command", "train");
        cJSON *dj = cJSON_AddArrayToObject(out, "drivers");
        for (int t = 0; dj && t < ntop; t++) {
            cJSON *e = cJSON_CreateObject();
            const char *nm = names && names[top[t]] ? names[top[t]] : "?";
            cJSON_AddStringToObject(e, "feature", nm);
            cJSON_AddNumberToObject(e, "weight", model.w[top[t]]);
            cJSON *cats = cJSON_CreateArray();
            long long other = 0;
            char tmp[8];
            if (cats && tq_hash_describe(hashed, nm, model.w[top[t]], tmp, sizeof tmp, cats,
                                         &other)) {
                cJSON_AddItemToObject(e, "categories", cats);
                cJSON_AddNumberToObject(e, "other_fields", (double)other);
            } else {
                cJSON_Delete(cats);
            }
            cJSON_AddItemToArray(dj, e);
        }
        cJSON_AddStringToObject(out, "input", path);
        cJSON_AddNumberToObject(out, "rows", (double)info.n);
        cJSON_AddNumberToObject(out, "d", model.d);
        cJSON_AddItemToObject(out, "hyperparameters", hyper);
        hyper = NULL;
        cJSON_AddItemToObject(out, "metrics", mj);
        mj = NULL;
        cJSON *hist = cJSON_AddArrayToObject(out, "history");
        for (int e = 0; e < rep.epochs_run; e++) {
            cJSON *h = cJSON_CreateObject();
            cJSON_AddNumberToObject(h, "epoch", e + 1);
            cJSON_AddNumberToObject(h, "logloss", rep.hist_loss[e]);
            cJSON_AddNumberToObject(h, "seconds", rep.hist_time[e]);
            cJSON_AddItemToArray(hist, h);
        }
        cJSON_AddNumberToObject(out, "rows_processed", (double)rep.rows_processed);
        cJSON_AddNumberToObject(out, "examples_per_second",
                                rep.t_train > 0 ? (double)rep.rows_processed / rep.t_train : 0);
        cJSON_AddNumberToObject(out, "ranks", tq_comm_size(comm));
        cJSON_AddNumberToObject(out, "threads", tq_threads());
        if (model_out) cJSON_AddStringToObject(out, "model_out", model_out);
        tq_json_time(out, "read", t_read);
        tq_json_time(out, "stats", rep.t_stats);
        tq_json_time(out, "train", rep.t_train);
        tq_json_time(out, "validate", rep.t_eval);
        tq_json_time(out, "stream_read", sc.t_read);
        tq_json_time(out, "score", t_score);
        tq_json_time(out, "write", t_write);
        tq_json_time(out, "total", total);
        tq_json_emit(out);
        out = NULL;
    }
    free(hashed);
    rc = TQ_EXIT_OK;
    goto done;
fail:
    rc = tq_fail(&err);
done:
    if (res) tq_result_abort(res);
    tq_accounts_free(&a);
    tq_sgd_model_free(&model);
    tq_sgd_report_free(&rep);
    free(scores);
    free(labels);
    cJSON_Delete(hyper);
    cJSON_Delete(mj);
    cJSON_Delete(out);
    cJSON_free(params_text);
    return rc;
}
