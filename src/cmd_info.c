/* tqplan info: what a dataset holds: rows, columns, ranges, totals, schema, results.
 * Reads the accounts in slices of 1M rows, so memory stays bounded. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tq_cli.h"
#include "tq_model.h"

#define SLICE (1 << 20)

typedef struct {
    double min, max, sum;
    int64_t n;
} stat;

static void stat_init(stat *s) { s->min = INFINITY; s->max = -INFINITY; s->sum = 0; s->n = 0; }
static inline void stat_add(stat *s, double v)
{
    if (v < s->min) s->min = v;
    if (v > s->max) s->max = v;
    s->sum += v;
    s->n++;
}

static void print_stat(const char *name, const stat *s, int total)
{
    if (s->n == 0) {
        printf("  %-16s (no rows)\n", name);
        return;
    }
    printf("  %-16s min %-14.6g max %-14.6g mean %-14.6g", name, s->min, s->max,
           s->sum / (double)s->n);
    if (total) printf(" total %.6g", s->sum);
    printf("\n");
}

static cJSON *json_stat(const stat *s)
{
    cJSON *o = cJSON_CreateObject();
    if (s->n) {
        cJSON_AddNumberToObject(o, "min", s->min);
        cJSON_AddNumberToObject(o, "max", s->max);
        cJSON_AddNumberToObject(o, "mean", s->sum / (double)s->n);
        cJSON_AddNumberToObject(o, "total", s->sum);
    }
    return o;
}

typedef struct {
    cJSON *arr;
    int count;
} results_ctx;

static void on_result(const char *group, const char *command, const char *finished, void *ctx)
{
    results_ctx *r = ctx;
    if (r->arr) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "group", group);
        cJSON_AddStringToObject(o, "command", command);
        cJSON_AddStringToObject(o, "finished", finished);
        cJSON_AddItemToArray(r->arr, o);
    } else {
        printf("  /%-15s %s (finished %s)\n", group, command, finished);
    }
    r->count++;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: tqplan info data.h5 [--json]\n\n"
               "Prints the number of accounts and territories, the columns with their ranges\n"
               "and totals, the schema version, the checksum and the result groups.\n");
}

int tq_cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, 0, 'h'}, TQ_CLI_LONGOPTS,
                                         {0, 0, 0, 0}};
    int c, rc = TQ_EXIT_INPUT;
    tq_err err = {0, ""};
    tq_info info;
    tq_territories t = {0};
    stat lat, lon, work, value, score;
    stat *feat = NULL;
    int64_t prev_none = 0, locked = 0, lab[3] = {0, 0, 0};
    char problem[512] = "";
    char **fnames = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        int r = tq_cli_common_opt(c, optarg);
        if (r < 0) return TQ_EXIT_INPUT;
        if (r) continue;
        if (c == 'h') { usage(stdout); return TQ_EXIT_OK; }
        usage(stderr);
        return TQ_EXIT_INPUT;
    }
    if (optind != argc - 1) {
        tq_error("info needs exactly one dataset file");
        usage(stderr);
        return TQ_EXIT_INPUT;
    }
    const char *path = argv[optind];
    if (tq_g.rank != 0) return TQ_EXIT_OK;
    if (tq_data_info(path, &info, &err) != TQ_OK) return tq_fail(&err);
    if (info.k > 0 && tq_territories_read(path, &t, &err) != TQ_OK) return tq_fail(&err);
    stat_init(&lat); stat_init(&lon); stat_init(&work); stat_init(&value); stat_init(&score);
    feat = malloc((size_t)(info.d > 0 ? info.d : 1) * sizeof *feat);
    if (!feat) goto nomem;
    for (int j = 0; j < info.d; j++) stat_init(&feat[j]);
    for (int64_t lo = 0; lo < info.n; lo += SLICE) {
        int64_t hi = info.n - lo < SLICE ? info.n : lo + SLICE;
        tq_accounts a;
        if (tq_accounts_read_range(path, TQ_COL_ALL & ~(unsigned)TQ_COL_ID, lo, hi, &a, &err) != TQ_OK)
            goto fail;
        /* the first value a stage would refuse (a file edited by other means) */
        if (!problem[0]) {
            tq_err e2 = {0, ""};
            if (tq_accounts_check(path, &a, info.k, NULL, &e2) != TQ_OK)
                snprintf(problem, sizeof problem, "%s", e2.msg);
        }
        for (int64_t i = 0; i < hi - lo; i++) {
            stat_add(&lat, a.lat[i]);
            stat_add(&lon, a.lon[i]);
            stat_add(&work, a.workload[i]);
            stat_add(&value, a.value[i]);
            if (a.score) stat_add(&score, a.score[i]);
            prev_none += a.prev_territory[i] < 0;
            locked += a.locked[i] != 0;
            lab[a.label[i] == 1 ? 1 : a.label[i] == 0 ? 0 : 2]++;
            for (int j = 0; j < info.d; j++) stat_add(&feat[j], a.features[i * info.d + j]);
        }
        if (!fnames) {
            fnames = a.feature_names;
            a.feature_names = NULL;
        }
        tq_accounts_free(&a);
    }
    if (tq_g.json) {
        cJSON *j = cJSON_CreateObject(), *cols = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "file", path);
        cJSON_AddNumberToObject(j, "schema_version", info.schema_version);
        cJSON_AddNumberToObject(j, "accounts", (double)info.n);
        cJSON_AddNumberToObject(j, "territories", info.k);
        cJSON_AddNumberToObject(j, "features", info.d);
        char sum[24];
        snprintf(sum, sizeof sum, "%016llx", (unsigned long long)info.checksum);
        cJSON_AddStringToObject(j, "checksum", sum);
        cJSON_AddItemToObject(cols, "lat", json_stat(&lat));
        cJSON_AddItemToObject(cols, "lon", json_stat(&lon));
        cJSON_AddItemToObject(cols, "workload", json_stat(&work));
        cJSON_AddItemToObject(cols, "value", json_stat(&value));
        if (info.has_score) cJSON_AddItemToObject(cols, "score", json_stat(&score));
        cJSON_AddItemToObject(j, "columns", cols);
        cJSON_AddNumberToObject(j, "prev_territory_none", (double)prev_none);
        cJSON_AddNumberToObject(j, "locked", (double)locked);
        cJSON_AddNumberToObject(j, "label_positive", (double)lab[1]);
        cJSON_AddNumberToObject(j, "label_negative", (double)lab[0]);
        cJSON_AddNumberToObject(j, "label_unknown", (double)lab[2]);
        if (problem[0]) cJSON_AddStringToObject(j, "problem", problem);
        else cJSON_AddNullToObject(j, "problem");
        results_ctx rc2 = {cJSON_AddArrayToObject(j, "results"), 0};
        tq_data_results(path, on_result, &rc2, &err);
        tq_json_emit(j);
    } else {
        printf("%s: tqplan dataset, schema version %d, checksum %016llx\n", path,
               info.schema_version, (unsigned long long)info.checksum);
        printf("accounts: %lld   territories: %d   features: %d\n", (long long)info.n, info.k,
               info.d);
        printf("columns:\n");
        printf("  %-16s %lld strings\n", "id", (long long)info.n);
        print_stat("lat", &lat, 0);
        print_stat("lon", &lon, 0);
        print_stat("workload", &work, 1);
        print_stat("value", &value, 1);
        printf("  %-16s %lld assigned, %lld none\n", "prev_territory",
               (long long)(info.n - prev_none), (long long)prev_none);
        printf("  %-16s %lld locked\n", "locked", (long long)locked);
        printf("  %-16s %lld bought, %lld did not, %lld unknown\n", "label", (long long)lab[1],
               (long long)lab[0], (long long)lab[2]);
        if (info.has_score) print_stat("score", &score, 0);
        /* ordered features show their levels, hashed slots what they hold (import's
         * attributes ordered_levels and hash_contents) */
        char *ord = tq_data_attr_str(path, "/accounts", "ordered_levels");
        char *hashed = tq_data_attr_str(path, "/accounts", "hash_contents");
        for (int j = 0; j < info.d; j++) {
            const char *fn = fnames && fnames[j] ? fnames[j] : "?";
            const char *rec = tq_attr_record(ord, fn);
            char name[64], cats[256];
            snprintf(name, sizeof name, "%s_%s", rec ? "o" : "f", fn);
            print_stat(name, &feat[j], 0);
            if (rec) {
                size_t rl = strcspn(rec, "\x1e"), first = strcspn(rec, "\x1f\x1e");
                const char *last = rec + rl;
                while (last > rec && last[-1] != '\x1f') last--;
                int levels = 1;
                for (size_t q = 0; q < rl; q++) levels += rec[q] == '\x1f';
                printf("  %-16s ranks of %d levels: '%.*s' (0) .. '%.*s' (%d)\n", "", levels,
                       (int)first, rec, (int)(rec + rl - last), last, levels - 1);
            } else if (tq_hash_describe(hashed, fn, 1.0, cats, sizeof cats, NULL, NULL)) {
                printf("  %-16s holds (sign): %s\n", "", cats);
            }
        }
        free(ord);
        free(hashed);
        if (info.k > 0) {
            int homes = 0;
            double cap = 0;
            for (int i = 0; i < t.k; i++) {
                homes += !isnan(t.home_lat[i]);
                cap += t.capacity[i];
            }
            printf("territories: %d (%d with a home base), total capacity %.6g\n", t.k, homes, cap);
        }
        printf("check: %s\n", problem[0] ? problem : "every value in range");
        results_ctx rc2 = {NULL, 0};
        printf("results:\n");
        tq_data_results(path, on_result, &rc2, &err);
        if (rc2.count == 0) printf("  (none)\n");
    }
    rc = TQ_EXIT_OK;
    goto done;
nomem:
    tq_err_set(&err, TQ_ENOMEM, "out of memory");
fail:
    rc = tq_fail(&err);
done:
    if (fnames) {
        for (int j = 0; j < info.d; j++) free(fnames[j]);
        free(fnames);
    }
    free(feat);
    tq_territories_free(&t);
    return rc;
}
