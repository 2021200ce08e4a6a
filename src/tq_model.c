/* tq_model.c: see tq_model.h. */
#include "tq_model.h"

#include "tq_out.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A JSON array of n doubles (cJSON prints the shortest text that reads back exactly). */
static cJSON *array_f64(const double *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int j = 0; a && j < n; j++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[j]));
    return a;
}

int tq_model_save(const char *path, const tq_sgd_model *m, char *const *names,
                  const cJSON *hyper, const cJSON *metrics, tq_err *err)
{
    int status = TQ_EIO;
    char *text = NULL;
    cJSON *j = cJSON_CreateObject();
    if (!j) { tq_err_set(err, TQ_ENOMEM, "out of memory writing %s", path); return TQ_ENOMEM; }
    cJSON_AddStringToObject(j, "format", TQ_MODEL_FORMAT);
    cJSON_AddNumberToObject(j, "version", TQ_MODEL_VERSION);
    cJSON_AddStringToObject(j, "tqplan_version", TQ_VERSION);
    cJSON_AddStringToObject(j, "model",
                            "p = 1 / (1 + exp(-(bias + sum_j weights[j] * (x[j] - mean[j]) / std[j])))");
    cJSON_AddNumberToObject(j, "d", m->d);
    cJSON *nm = cJSON_AddArrayToObject(j, "feature_names");
    for (int k = 0; nm && k < m->d; k++) {
        char buf[32];
        snprintf(buf, sizeof buf, "f%d", k);
        cJSON_AddItemToArray(nm, cJSON_CreateString(names && names[k] ? names[k] : buf));
    }
    cJSON_AddItemToObject(j, "weights", array_f64(m->w, m->d));
    cJSON_AddNumberToObject(j, "bias", m->b);
    cJSON_AddItemToObject(j, "mean", array_f64(m->mean, m->d));
    cJSON_AddItemToObject(j, "std", array_f64(m->std, m->d));
    if (hyper) cJSON_AddItemToObject(j, "hyperparameters", cJSON_Duplicate(hyper, 1));
    if (metrics) cJSON_AddItemToObject(j, "metrics", cJSON_Duplicate(metrics, 1));
    text = cJSON_Print(j);
    if (!text) { status = TQ_ENOMEM; tq_err_set(err, status, "out of memory writing %s", path); goto done; }
    tq_out o;
    if ((status = tq_out_open(&o, path, err)) != TQ_OK) goto done;
    fputs(text, o.f);
    fputc('\n', o.f);
    status = tq_out_commit(&o, err);
done:
    cJSON_free(text);
    cJSON_Delete(j);
    return status;
}

int tq_model_match(tq_sgd_model *m, char *const *mnames, char *const *dnames, int dd,
                   const char *model_path, const char *data_path, int *reordered,
                   tq_err *err)
{
    *reordered = 0;
    if (!mnames || !dnames || m->d <= 0 || dd <= 0) return TQ_OK;
    if (dd != m->d) {   /* name the first feature one side lacks */
        for (int j = 0; j < dd; j++) {
            int found = 0;
            for (int k = 0; k < m->d && !found; k++)
                found = mnames[k] && dnames[j] && !strcmp(mnames[k], dnames[j]);
            if (!found) {
                tq_err_set(err, TQ_EINVAL,
                           "%s: feature '%s' (column %d of /accounts/features) is not among "
                           "the %d features of the model %s: import the data with the "
                           "columns the model was trained on (import --like the training "
                           "file)", data_path, dnames[j] ? dnames[j] : "?", j + 1, m->d,
                           model_path);
                return TQ_EINVAL;
            }
        }
        for (int k = 0; k < m->d; k++) {
            int found = 0;
            for (int j = 0; j < dd && !found; j++)
                found = mnames[k] && dnames[j] && !strcmp(mnames[k], dnames[j]);
            if (!found) {
                tq_err_set(err, TQ_EINVAL, "%s: the model %s's feature '%s' is not among the "
                           "%d features of the data", data_path, model_path,
                           mnames[k] ? mnames[k] : "?", dd);
                return TQ_EINVAL;
            }
        }
        return TQ_OK;   /* the same names, repeated differently: the d check says so */
    }
    int d = m->d, status = TQ_OK;
    int *perm = malloc((size_t)d * sizeof *perm);
    char *used = calloc((size_t)d, 1);
    double *tmp = malloc((size_t)d * sizeof *tmp);
    if (!perm || !used || !tmp) {
        tq_err_set(err, status = TQ_ENOMEM, "out of memory matching features");
        goto done;
    }
    for (int j = 0; j < d; j++) {
        /* the same place first (so repeated names keep their order), else the first
         * unused model feature of that name */
        int k = mnames[j] && dnames[j] && !strcmp(mnames[j], dnames[j]) && !used[j] ? j : -1;
        for (int q = 0; q < d && k < 0; q++)
            if (!used[q] && mnames[q] && dnames[j] && !strcmp(mnames[q], dnames[j])) k = q;
        if (k < 0) {
            tq_err_set(err, status = TQ_EINVAL,
                       "%s: feature '%s' (column %d of /accounts/features) is not among the "
                       "features of the model %s: import the data with the columns the "
                       "model was trained on (import --like the training file)",
                       data_path, dnames[j] ? dnames[j] : "?", j + 1, model_path);
            goto done;
        }
        used[k] = 1;
        perm[j] = k;
        if (k != j) *reordered = 1;
    }
    if (*reordered) {
        double *v[3] = {m->w, m->mean, m->std};
        for (int a = 0; a < 3; a++) {
            for (int j = 0; j < d; j++) tmp[j] = v[a][perm[j]];
            memcpy(v[a], tmp, (size_t)d * sizeof *tmp);
        }
    }
done:
    free(perm);
    free(used);
    free(tmp);
    return status;
}

void tq_model_names_free(char **names, int d)
{
    if (!names) return;
    for (int k = 0; k < d; k++) free(names[k]);
    free(names);
}

/* Read array `key` of exactly d finite numbers into v. */
static int read_array(const cJSON *j, const char *key, int d, double *v, const char *path,
                      tq_err *err)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != d) {
        tq_err_set(err, TQ_EINVAL, "%s: \"%s\" must be an array of d = %d numbers", path, key, d);
        return TQ_EINVAL;
    }
    int k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble)) {
            tq_err_set(err, TQ_EINVAL, "%s: \"%s\"[%d] is not a finite number", path, key, k);
            return TQ_EINVAL;
        }
        v[k++] = e->valuedouble;
    }
    return TQ_OK;
}

int tq_model_load(const char *path, tq_sgd_model *m, char ***names, tq_err *err)
{
    int status = TQ_EINVAL;
    char *text = NULL;
    cJSON *j = NULL;
    FILE *f = fopen(path, "rb");
    memset(m, 0, sizeof *m);
    *names = NULL;
    if (!f) {
        tq_err_set(err, TQ_EINVAL, "%s: cannot open the model file", path);
        goto done;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = malloc((size_t)(size > 0 ? size : 0) + 1);
    if (!text || size < 0 || fread(text, 1, (size_t)size, f) != (size_t)size) {
        tq_err_set(err, TQ_EIO, "%s: cannot read the model file", path);
        status = TQ_EIO;
        goto done;
    }
    text[size] = 0;
    j = cJSON_Parse(text);
    if (!j) {
        tq_err_set(err, TQ_EINVAL, "%s: not valid JSON (near byte %ld)", path,
                   (long)(cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - text : 0));
        goto done;
    }
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "format");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(j, "version");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, TQ_MODEL_FORMAT)) {
        tq_err_set(err, TQ_EINVAL, "%s: \"format\" is not \"%s\": not a tqplan model", path,
                   TQ_MODEL_FORMAT);
        goto done;
    }
    if (!cJSON_IsNumber(ver) || ver->valueint > TQ_MODEL_VERSION || ver->valueint < 1) {
        tq_err_set(err, TQ_EINVAL, "%s: model version %g is not supported (this tqplan reads %d)",
                   path, cJSON_IsNumber(ver) ? ver->valuedouble : -1.0, TQ_MODEL_VERSION);
        goto done;
    }
    const cJSON *dj = cJSON_GetObjectItemCaseSensitive(j, "d");
    const cJSON *bj = cJSON_GetObjectItemCaseSensitive(j, "bias");
    if (!cJSON_IsNumber(dj) || dj->valuedouble < 1 || dj->valuedouble > 1e6 ||
        dj->valuedouble != floor(dj->valuedouble)) {
        tq_err_set(err, TQ_EINVAL, "%s: \"d\" must be a positive integer", path);
        goto done;
    }
    if (!cJSON_IsNumber(bj) || !isfinite(bj->valuedouble)) {
        tq_err_set(err, TQ_EINVAL, "%s: \"bias\" must be a finite number", path);
        goto done;
    }
    int d = dj->valueint;
    if ((status = tq_sgd_model_alloc(m, d)) != TQ_OK) {
        tq_err_set(err, status, "out of memory reading %s", path);
        goto done;
    }
    m->b = bj->valuedouble;
    if ((status = read_array(j, "weights", d, m->w, path, err)) != TQ_OK ||
        (status = read_array(j, "mean", d, m->mean, path, err)) != TQ_OK ||
        (status = read_array(j, "std", d, m->std, path, err)) != TQ_OK)
        goto done;
    for (int k = 0; k < d; k++)
        if (!(m->std[k] > 0)) {
            tq_err_set(err, TQ_EINVAL, "%s: \"std\"[%d] = %g must be > 0", path, k, m->std[k]);
            status = TQ_EINVAL;
            goto done;
        }
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(j, "feature_names");
    if (cJSON_IsArray(nm) && cJSON_GetArraySize(nm) == d) {
        *names = calloc((size_t)d, sizeof **names);
        int k = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, nm) {
            if (*names) (*names)[k] = strdup(cJSON_IsString(e) ? e->valuestring : "");
            k++;
        }
    }
    status = TQ_OK;
done:
    if (f) fclose(f);
    free(text);
    cJSON_Delete(j);
    if (status != TQ_OK) tq_sgd_model_free(m);
    return status;
}

/* JSON numbers cannot be NaN: write null for an undefined value. */
static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

cJSON *tq_metrics_to_json(const tq_metrics *m)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "rows", (double)m->n);
    cJSON_AddNumberToObject(o, "positives", (double)m->n_pos);
    add_num(o, "auc", m->auc);
    add_num(o, "logloss", m->logloss);
    add_num(o, "brier", m->brier);
    add_num(o, "base_rate", m->base_rate);
    cJSON_AddNumberToObject(o, "top_decile_rows", (double)m->top_n);
    cJSON_AddNumberToObject(o, "top_decile_positives", (double)m->top_pos);
    add_num(o, "lift_top_decile", m->lift10);
    cJSON *cal = cJSON_AddArrayToObject(o, "calibration");
    for (int b = 0; cal && b < TQ_METRICS_BINS; b++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "lo", (double)b / TQ_METRICS_BINS);
        cJSON_AddNumberToObject(e, "hi", (double)(b + 1) / TQ_METRICS_BINS);
        cJSON_AddNumberToObject(e, "rows", (double)m->cal_n[b]);
        add_num(e, "mean_predicted", m->cal_mean_p[b]);
        add_num(e, "observed_rate", m->cal_rate[b]);
        cJSON_AddItemToArray(cal, e);
    }
    return o;
}

void tq_metrics_line(const tq_metrics *m, char *buf, size_t size)
{
    snprintf(buf, size, "AUC %.4f  log-loss %.4f  Brier %.4f  lift@10%% %.2f (%lld rows, %lld positive)",
             m->auc, m->logloss, m->brier, m->lift10, (long long)m->n, (long long)m->n_pos);
}

int tq_model_score_file(const char *path, const tq_comm *comm, const tq_sgd_model *m,
                        int64_t stream_rows, float **scores, int8_t **labels, int64_t *lo,
                        int64_t *hi, tq_err *err)
{
    int status = TQ_OK;
    tq_info info;
    tq_blocks bl;
    tq_accounts a = {0};
    *scores = NULL;
    *labels = NULL;
    if ((status = tq_data_info(path, &info, err)) != TQ_OK) return status;
    if (info.d != m->d) {
        tq_err_set(err, TQ_EINVAL,
                   "%s: the dataset has d = %d feature columns but the model has d = %d",
                   path, info.d, m->d);
        return TQ_EINVAL;
    }
    tq_blocks_init(&bl, info.n);
    tq_blocks_of_rank(&bl, tq_comm_rank(comm), tq_comm_size(comm), NULL, NULL, lo, hi);
    int64_t nl = *hi - *lo;
    *scores = malloc((size_t)(nl > 0 ? nl : 1) * sizeof **scores);
    *labels = malloc((size_t)(nl > 0 ? nl : 1));
    if (!*scores || !*labels) {
        tq_err_set(err, TQ_ENOMEM, "out of memory scoring %lld rows", (long long)nl);
        status = TQ_ENOMEM;
        goto done;
    }
    if (stream_rows <= 0) {
        if ((status = tq_accounts_read(path, comm, TQ_COL_FEATURES | TQ_COL_LABEL, &a, err)) != TQ_OK)
            goto done;
        if ((status = tq_sgd_predict(m, a.features, nl, *scores)) != TQ_OK) goto nomem;
        memcpy(*labels, a.label, (size_t)nl);
        tq_accounts_free(&a);
    } else {
        for (int64_t r0 = *lo; r0 < *hi; r0 += stream_rows) {
            int64_t r1 = r0 + stream_rows < *hi ? r0 + stream_rows : *hi;
            status = tq_accounts_read_range(path, TQ_COL_FEATURES | TQ_COL_LABEL, r0, r1, &a, err);
            if (status != TQ_OK) goto done;
            if ((status = tq_sgd_predict(m, a.features, r1 - r0, *scores + (r0 - *lo))) != TQ_OK)
                goto nomem;
            memcpy(*labels + (r0 - *lo), a.label, (size_t)(r1 - r0));
            tq_accounts_free(&a);
        }
    }
    /* a NaN feature gives a NaN score: name the first one */
    for (int64_t i = 0; i < nl; i++)
        if (isnan((*scores)[i])) {
            tq_err_set(err, TQ_EINVAL, "%s: row %lld, /accounts/features: a value is NaN or Inf",
                       path, (long long)(*lo + i + 1));
            status = TQ_EINVAL;
            break;
        }
    /* every rank must agree before anyone writes */
    int ok = status == TQ_OK;
    tq_comm_all(comm, &ok);
    if (!ok && status == TQ_OK) {
        status = TQ_EINVAL;
        tq_err_set(err, status, "%s: scoring failed on another rank", path);
    }
    goto done;
nomem:
    tq_err_set(err, status, "out of memory scoring %s", path);
done:
    tq_accounts_free(&a);
    if (status != TQ_OK) {
        free(*scores);
        free(*labels);
        *scores = NULL;
        *labels = NULL;
    }
    return status;
}

int tq_model_metrics(const tq_comm *comm, const float *scores, const int8_t *labels,
                     int64_t lo, int64_t hi, int (*keep)(void *ctx, int64_t i, int8_t y),
                     void *ctx, tq_metrics *m, float **gathered_p, int8_t **gathered_y,
                     int64_t *ngathered)
{
    int status = TQ_OK;
    int64_t nl = hi - lo, k = 0, total;
    float *lp = malloc((size_t)(nl > 0 ? nl : 1) * sizeof *lp), *ap = NULL;
    int8_t *ly = malloc((size_t)(nl > 0 ? nl : 1)), *ay = NULL;
    memset(m, 0, sizeof *m);
    if (!lp || !ly) { status = TQ_ENOMEM; goto done; }
    for (int64_t i = 0; i < nl; i++)
        if (labels[i] >= 0 && keep(ctx, lo + i, labels[i])) {
            lp[k] = scores[i];
            ly[k++] = labels[i];
        }
    total = k;
    if ((status = tq_comm_sum_i64(comm, &total, 1)) != TQ_OK) goto done;
    int root = tq_comm_rank(comm) == 0;
    if (root) {
        ap = malloc((size_t)(total > 0 ? total : 1) * sizeof *ap);
        ay = malloc((size_t)(total > 0 ? total : 1));
    }
    int okm = !root || (ap && ay);
    if ((status = tq_comm_all(comm, &okm)) != TQ_OK) goto done;
    if (!okm) { status = TQ_ENOMEM; goto done; }
    if ((status = tq_comm_gatherv(comm, lp, k, sizeof *lp, ap, 0)) != TQ_OK) goto done;
    if ((status = tq_comm_gatherv(comm, ly, k, 1, ay, 0)) != TQ_OK) goto done;
    if (root) status = tq_metrics_compute(ap, ay, total, m);
    if (gathered_p && root) { *gathered_p = ap; ap = NULL; }
    if (gathered_y && root) { *gathered_y = ay; ay = NULL; }
    if (ngathered) *ngathered = root ? total : 0;
done:
    free(lp);
    free(ly);
    free(ap);
    free(ay);
    return status;
}

int tq_model_top(const double *w, int d, int k, int *top)
{
    int n = 0;
    for (int j = 0; j < d; j++) {
        if (w[j] == 0.0 || !isfinite(w[j])) continue;
        int at = n < k ? n++ : k;
        while (at > 0 && fabs(w[top[at - 1]]) < fabs(w[j])) {
            if (at < k) top[at] = top[at - 1];
            at--;
        }
        if (at < k) top[at] = j;
    }
    return n;
}

int tq_hash_describe(const char *contents, const char *feature, double w, char *buf,
                     size_t n, cJSON *arr, long long *other)
{
    if (n) buf[0] = 0;
    if (other) *other = 0;
    if (!feature || strncmp(feature, "hash", 4)) return 0;
    const char *items = tq_attr_record(contents, feature);
    if (!items) return 0;
    size_t o = 0;
    /* items "+NAME=V" or "-NAME=V", then maybe "~N", each ended by US or the RS */
    for (const char *it = items; *it && *it != '\x1e'; it += *it == '\x1f') {
        size_t il = strcspn(it, "\x1f\x1e");
        if (il > 1 && (*it == '+' || *it == '-')) {
            double e = *it == '-' ? -w : w;
            if (o < n)
                o += (size_t)snprintf(buf + o, n - o, "%s%.*s %+.3g", o ? ", " : "",
                                      (int)(il - 1), it + 1, e);
            if (arr) {
                cJSON *c = cJSON_CreateObject();
                char *name = strndup(it + 1, il - 1);
                if (c && name) {
                    cJSON_AddStringToObject(c, "category", name);
                    cJSON_AddNumberToObject(c, "weight", e);
                    cJSON_AddItemToArray(arr, c);
                } else {
                    cJSON_Delete(c);
                }
                free(name);
            }
        } else if (il > 1 && *it == '~') {
            long long k = atoll(it + 1);
            if (other) *other = k;
            if (o < n) o += (size_t)snprintf(buf + o, n - o, ", %lld other fields", k);
        }
        it += il;
    }
    return 1;
}
