/* cmd_score.c: `tqplan score DATA.h5 --model MODEL.json`: apply a saved propensity
 * model (from `train --model-out`) to every account and write /accounts/score. When
 * rows carry labels, prints the metrics over the labelled rows (which may include the
 * model's own training rows: an optimistic estimate, said so in the output). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tq_cli.h"
#include "tq_model.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tqplan score DATA.h5 --model MODEL.json [options]\n\n"
            "Scores every account with a model written by 'tqplan train --model-out' and\n"
            "writes /accounts/score. The model's features are found in the dataset by name,\n"
            "in any order (other features are ignored); one it lacks is an error. To score\n"
            "a later CSV, import it with --like the file the model was trained on.\n\n"
            "options:\n"
            "  --model FILE       the model JSON (required)\n"
            "  --stream rows      read features this many rows at a time (out-of-core)\n"
            "  --json, -q, --threads n\n");
}

static int keep_all(void *ctx, int64_t i, int8_t y)
{
    (void)ctx;
    (void)i;
    return y >= 0;
}

/* the options (also read by `plan`, which checks a scenario file's keys against them) */
const struct option tq_opts_score[] = {
    {"model", required_argument, 0, 'm'}, {"stream", required_argument, 0, 'S'},
    {"help", no_argument, 0, 'h'}, TQ_CLI_LONGOPTS, {0, 0, 0, 0}};

int tq_cmd_score(int argc, char **argv)
{
    const struct option *opts = tq_opts_score;
    const char *model_path = NULL;
    int64_t stream = 0;
    int c, rc = TQ_EXIT_INPUT;
    tq_err err = {0, ""};
    tq_sgd_model m = {0};
    char **names = NULL;
    float *scores = NULL;
    int8_t *labels = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        int r = tq_cli_common_opt(c, optarg);
        if (r < 0) return TQ_EXIT_INPUT;
        if (r) continue;
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'S': if (tq_parse_i64("--stream", optarg, 1, (int64_t)1 << 40, &stream)) return rc; break;
        case 'h': usage(stdout); return TQ_EXIT_OK;
        default: usage(stderr); return TQ_EXIT_INPUT;
        }
    }
    if (optind != argc - 1 || !model_path) {
        tq_error(!model_path ? "score needs --model MODEL.json" : "score takes one dataset file");
        usage(stderr);
        return TQ_EXIT_INPUT;
    }
    const char *path = argv[optind];
    const tq_comm *comm = tq_g.comm;
    if (tq_g.threads > 0) tq_set_threads(tq_g.threads);
    double t0 = tq_now();
    if (tq_model_load(model_path, &m, &names, &err) != TQ_OK) goto fail;
    /* the dataset's feature names: the model's weights follow them (columns of a later
     * CSV may come in another order) */
    int reordered = 0;
    {
        tq_accounts a = {0};
        if (tq_accounts_read_range(path, TQ_COL_LABEL, 0, 0, &a, &err) != TQ_OK) goto fail;
        int st = tq_model_match(&m, names, a.feature_names, a.d, model_path, path, &reordered,
                                &err);
        tq_accounts_free(&a);
        if (st != TQ_OK) goto fail;
    }
    if (reordered)
        tq_say("score: %s has the model's features in another order: matched by name", path);
    int64_t lo, hi;
    if (tq_model_score_file(path, comm, &m, stream, &scores, &labels, &lo, &hi, &err) != TQ_OK)
        goto fail;
    double t_score = tq_now() - t0;
    tq_metrics met;
    int st = tq_model_metrics(comm, scores, labels, lo, hi, keep_all, NULL, &met, NULL, NULL, NULL);
    if (st != TQ_OK) {
        tq_err_set(&err, st, "%s: computing metrics failed (%s)", path, tq_strstatus(st));
        goto fail;
    }
    double t1 = tq_now();
    if (tq_accounts_write_f32(path, comm, "score", scores, hi - lo, &err) != TQ_OK) goto fail;
    double t_write = tq_now() - t1;
    int64_t n = hi - lo;
    if (tq_comm_sum_i64(comm, &n, 1) != TQ_OK) {
        tq_err_set(&err, TQ_EMPI, "MPI failed");
        goto fail;
    }
    char line[256] = "no labelled rows";
    if (met.n > 0) tq_metrics_line(&met, line, sizeof line);
    tq_say("score: %lld accounts scored with %s (d=%d) -> /accounts/score; labelled rows "
           "(training rows included): %s (%.2f s)",
           (long long)n, model_path, m.d, line, tq_now() - t0);
    if (tq_g.json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "command", "score");
        cJSON_AddStringToObject(o, "input", path);
        cJSON_AddStringToObject(o, "model", model_path);
        cJSON_AddNumberToObject(o, "rows", (double)n);
        cJSON_AddNumberToObject(o, "d", m.d);
        cJSON_AddBoolToObject(o, "reordered", reordered);
        if (met.n > 0) cJSON_AddItemToObject(o, "metrics_labelled", tq_metrics_to_json(&met));
        tq_json_time(o, "score", t_score);
        tq_json_time(o, "write", t_write);
        tq_json_time(o, "total", tq_now() - t0);
        tq_json_emit(o);
    }
    rc = TQ_EXIT_OK;
    goto done;
fail:
    rc = tq_fail(&err);
done:
    tq_sgd_model_free(&m);
    tq_model_names_free(names, m.d);
    free(scores);
    free(labels);
    return rc;
}
