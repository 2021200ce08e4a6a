/* tqplan generate: synthetic accounts sampled around real places (inputs/places.csv),
 * weighted by population.
 *
 * Every account i draws its random numbers from its own counter-based stream (seed, i),
 * so the file is bit-identical for a seed whatever the thread count. Per account:
 *   place      population-weighted pick; position scattered around it, |offset| ~
 *              Rayleigh with scale 2 + 3*log10(1 + population/10^4) km
 *   value      lognormal: exp(log(40000) + 1.1 z1)   (revenue potential, heavy tail)
 *   workload   lognormal: exp(log(20) + 0.6 z1 + 0.4 z2) call hours/year, correlated with value
 *   features   d standard normals x; true propensity p = sigmoid(b + w.x), w_j ~ N(0, 4/d),
 *              b = -1.5; label ~ Bernoulli(p), or -1 (unknown) with probability --unlabelled
 *   last year  K home bases = K population-weighted places; prev_territory = the base nearest
 *              to the account's place, except 3% of accounts on the second nearest, 2% new
 *              (-1); 1% of the assigned accounts are locked.
 * The true w and b are stored as /accounts attributes true_weights, true_bias. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tq_cli.h"
#include "tq_places.h"

#define BATCH (1 << 20)
#define DEG (M_PI / 180.0)
#define EARTH_KM 6371.0088

typedef struct { uint64_t s; } rowrng;
static inline double rr_uniform(rowrng *r)
{
    r->s += 0x9e3779b97f4a7c15ULL;
    return (double)(tq_mix64(r->s) >> 11) * 0x1.0p-53;
}
static inline double rr_normal(rowrng *r)
{
    double u = rr_uniform(r), v = rr_uniform(r);
    return sqrt(-2.0 * log(u + 0x1.0p-60)) * cos(2 * M_PI * v);
}

/* chord^2 between two lat/lon points (degrees) on the unit sphere */
static double chord2(double la1, double lo1, double la2, double lo2)
{
    double x = cos(la1 * DEG) * cos(lo1 * DEG) - cos(la2 * DEG) * cos(lo2 * DEG);
    double y = cos(la1 * DEG) * sin(lo1 * DEG) - cos(la2 * DEG) * sin(lo2 * DEG);
    double z = sin(la1 * DEG) - sin(la2 * DEG);
    return x * x + y * y + z * z;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tqplan generate -n N -k K -o data.h5 [options]\n\n"
            "Synthetic accounts sampled around real places (inputs/places.csv), population\n"
            "weighted, with heavy-tailed workload and value, last year's alignment over K\n"
            "territories, and features with a known logistic propensity.\n\n"
            "  -n N               accounts (e.g. 1e6)\n"
            "  -k K               territories (home bases); 0 = none\n"
            "  -o FILE            output dataset (HDF5), written atomically\n"
            "  --features d       feature columns (default 8)\n"
            "  --seed s           random seed (default 1)\n"
            "  --country CC       ISO code of the places to use, or 'all' (default US)\n"
            "  --places FILE      places table (default inputs/places.csv)\n"
            "  --unlabelled share share of accounts with unknown label (default 0.2)\n"
            "  --json, -q, --threads n\n");
}

int tq_cmd_generate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"n", required_argument, 0, 'n'}, {"k", required_argument, 0, 'k'},
        {"output", required_argument, 0, 'o'}, {"features", required_argument, 0, 'd'},
        {"seed", required_argument, 0, 's'}, {"country", required_argument, 0, 'c'},
        {"places", required_argument, 0, 'p'}, {"unlabelled", required_argument, 0, 'u'},
        {"help", no_argument, 0, 'h'}, TQ_CLI_LONGOPTS, {0, 0, 0, 0}};
    int64_t n = -1, k = 0, d = 8, seed = 1;
    double unlabelled = 0.2;
    const char *out = NULL, *country = "US", *places_path = NULL;
    int c, rc = TQ_EXIT_INPUT;
    tq_err err = {0, ""};
    tq_places pl = {0};
    tq_writer *w = NULL;
    tq_accounts b = {0};
    tq_territories t = {0};
    double *wtrue = NULL;
    int *base_of_place = NULL, *base2_of_place = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:k:o:d:s:qh", opts, NULL)) != -1) {
        int r = tq_cli_common_opt(c, optarg);
        if (r < 0) return TQ_EXIT_INPUT;
        if (r) continue;
        switch (c) {
        case 'n': if (tq_parse_i64("-n", optarg, 1, (int64_t)1 << 40, &n)) return rc; break;
        case 'k': if (tq_parse_i64("-k", optarg, 0, 1000000, &k)) return rc; break;
        case 'o': out = optarg; break;
        case 'd': if (tq_parse_i64("--features", optarg, 0, 4096, &d)) return rc; break;
        case 's': if (tq_parse_i64("--seed", optarg, 0, INT64_MAX, &seed)) return rc; break;
        case 'c': country = optarg; break;
        case 'p': places_path = optarg; break;
        case 'u': if (tq_parse_share("--unlabelled", optarg, &unlabelled)) return rc; break;
        case 'h': usage(stdout); return TQ_EXIT_OK;
        default: usage(stderr); return TQ_EXIT_INPUT;
        }
    }
    if (n < 0 || !out || optind < argc) {
        tq_error(optind < argc ? "unexpected argument '%s'" : "generate needs -n N and -o FILE",
                 optind < argc ? argv[optind] : "");
        usage(stderr);
        return TQ_EXIT_INPUT;
    }
    if (tq_g.rank != 0) return TQ_EXIT_OK; /* one writer; other ranks have nothing to do */
    double t0 = tq_now();
    time_t started = time(NULL);
    (void)started;
    if (tq_places_load(places_path, country, &pl, &err) != TQ_OK) return tq_fail(&err);

    /* true model, drawn from a stream of its own */
    wtrue = calloc((size_t)d + 1, sizeof *wtrue);
    if (!wtrue) goto nomem;
    {
        rowrng r = {tq_mix64((uint64_t)seed ^ 0x5eedULL)};
        for (int j = 0; j < d; j++) wtrue[j] = rr_normal(&r) * 2.0 / sqrt((double)d);
        wtrue[d] = -1.5;
    }

    /* home bases and each place's nearest / second-nearest base */
    if (k > 0) {
        t.k = (int)k;
        t.id_len = 16;
        t.id = calloc((size_t)k, 16);
        t.home_lat = malloc((size_t)k * sizeof(double));
        t.home_lon = malloc((size_t)k * sizeof(double));
        t.capacity = malloc((size_t)k * sizeof(double));
        base_of_place = malloc((size_t)pl.n * sizeof(int));
        base2_of_place = malloc((size_t)pl.n * sizeof(int));
        if (!t.id || !t.home_lat || !t.home_lon || !t.capacity || !base_of_place || !base2_of_place)
            goto nomem;
        rowrng r = {tq_mix64((uint64_t)seed ^ 0xba5eULL)};
        for (int64_t j = 0; j < k; j++) {
            int p = tq_places_pick(&pl, rr_uniform(&r));
            snprintf(t.id + j * 16, 16, "T%04d", (int)j);
            /* a little jitter so bases drawn at the same place differ */
            t.home_lat[j] = pl.lat[p] + 0.02 * rr_normal(&r);
            t.home_lon[j] = pl.lon[p] + 0.02 * rr_normal(&r);
            if (t.home_lat[j] > 90) t.home_lat[j] = 90;
            if (t.home_lat[j] < -90) t.home_lat[j] = -90;
            t.capacity[j] = 1.0;
        }
        t.has_home = 1;
#pragma omp parallel for schedule(dynamic, 64)
        for (int p = 0; p < pl.n; p++) {
            double b1 = INFINITY, b2 = INFINITY;
            int i1 = 0, i2 = 0;
            for (int j = 0; j < (int)k; j++) {
                double c2 = chord2(pl.lat[p], pl.lon[p], t.home_lat[j], t.home_lon[j]);
                if (c2 < b1) { b2 = b1; i2 = i1; b1 = c2; i1 = j; }
                else if (c2 < b2) { b2 = c2; i2 = j; }
            }
            base_of_place[p] = i1;
            base2_of_place[p] = k > 1 ? i2 : i1;
        }
    }

    char **names = NULL;
    if (d > 0) {
        names = calloc((size_t)d, sizeof *names);
        if (!names) goto nomem;
        for (int j = 0; j < d; j++) {
            names[j] = malloc(16);
            if (names[j]) snprintf(names[j], 16, "x%d", j);
        }
    }
    int id_len = snprintf(NULL, 0, "A%09lld", (long long)n) + 1;
    w = tq_writer_create(out, (int)d, id_len, names, &err);
    for (int j = 0; names && j < d; j++) free(names[j]);
    free(names);
    if (!w) goto fail;
    if (tq_accounts_alloc(&b, BATCH, (int)d, id_len, TQ_COL_ALL & ~(unsigned)TQ_COL_SCORE) != TQ_OK)
        goto nomem;
    tq_progress prog;
    tq_progress_start(&prog, "generate", n);
    double tot_work = 0, tot_value = 0;
    int64_t n_pos = 0, n_lab = 0, n_locked = 0;
    for (int64_t at = 0; at < n; at += BATCH) {
        int64_t rows = n - at < BATCH ? n - at : BATCH;
#pragma omp parallel for schedule(static) reduction(+ : n_pos, n_lab, n_locked)
        for (int64_t r = 0; r < rows; r++) {
            int64_t i = at + r;
            rowrng g = {tq_mix64((uint64_t)seed * 0x9e3779b97f4a7c15ULL ^ tq_mix64((uint64_t)i))};
            int p = tq_places_pick(&pl, rr_uniform(&g));
            double scale = 2.0 + 3.0 * log10(1.0 + pl.pop[p] / 1e4);
            double dist = scale * sqrt(-2.0 * log(rr_uniform(&g) + 0x1.0p-60));
            double ang = 2 * M_PI * rr_uniform(&g);
            double lat = pl.lat[p] + dist * cos(ang) / (EARTH_KM * DEG);
            double coslat = cos(pl.lat[p] * DEG);
            double lon = pl.lon[p] + dist * sin(ang) / (EARTH_KM * DEG * (coslat > 0.01 ? coslat : 0.01));
            if (lat > 90) lat = 180 - lat;
            if (lat < -90) lat = -180 - lat;
            if (lon > 180) lon -= 360;
            if (lon < -180) lon += 360;
            b.lat[r] = lat;
            b.lon[r] = lon;
            double z1 = rr_normal(&g), z2 = rr_normal(&g);
            b.value[r] = (float)exp(log(40000.0) + 1.1 * z1);
            b.workload[r] = (float)exp(log(20.0) + 0.6 * z1 + 0.4 * z2);
            double logit = wtrue[d];
            float *x = b.features + r * d;
            for (int j = 0; j < d; j++) {
                x[j] = (float)rr_normal(&g);
                logit += wtrue[j] * x[j];
            }
            double prob = 1.0 / (1.0 + exp(-logit));
            double ul = rr_uniform(&g), ub = rr_uniform(&g);
            b.label[r] = ul < unlabelled ? -1 : (ub < prob ? 1 : 0);
            n_lab += b.label[r] >= 0;
            n_pos += b.label[r] == 1;
            double um = rr_uniform(&g), uk = rr_uniform(&g);
            if (k > 0) {
                b.prev_territory[r] = um < 0.02 ? -1 : um < 0.05 ? base2_of_place[p] : base_of_place[p];
                b.locked[r] = b.prev_territory[r] >= 0 && uk < 0.01;
            } else {
                b.prev_territory[r] = -1;
                b.locked[r] = 0;
            }
            n_locked += b.locked[r];
            snprintf(b.id + r * id_len, (size_t)id_len, "A%09lld", (long long)i);
        }
        for (int64_t r = 0; r < rows; r++) {
            tot_work += b.workload[r];
            tot_value += b.value[r];
        }
        b.lo = 0;
        b.hi = rows;
        if (tq_writer_append(w, &b, &err) != TQ_OK) goto fail;
        tq_progress_update(&prog, at + rows);
    }
    tq_progress_end(&prog);
    if (tq_writer_attr_f64v(w, "true_weights", wtrue, (int)d) != TQ_OK ||
        tq_writer_attr_f64v(w, "true_bias", wtrue + d, 1) != TQ_OK) {
        tq_err_set(&err, TQ_EIO, "%s: cannot write attributes", out);
        goto fail;
    }
    if (k > 0 && tq_writer_territories(w, &t, &err) != TQ_OK) goto fail;
    int st = tq_writer_close(w, 1, &err);
    w = NULL;
    if (st != TQ_OK) goto fail;
    double secs = tq_now() - t0;
    tq_say("generate: %lld accounts around %d places (%s), %lld territories, %lld features, "
           "%.1f%% labelled positive, %lld locked -> %s (%.2f s)",
           (long long)n, pl.n, country, (long long)k, (long long)d,
           n_lab ? 100.0 * (double)n_pos / (double)n_lab : 0.0, (long long)n_locked, out, secs);
    if (tq_g.json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "command", "generate");
        cJSON_AddStringToObject(j, "output", out);
        cJSON_AddNumberToObject(j, "accounts", (double)n);
        cJSON_AddNumberToObject(j, "territories", (double)k);
        cJSON_AddNumberToObject(j, "features", (double)d);
        cJSON_AddNumberToObject(j, "places", pl.n);
        cJSON_AddNumberToObject(j, "labelled", (double)n_lab);
        cJSON_AddNumberToObject(j, "positive", (double)n_pos);
        cJSON_AddNumberToObject(j, "locked", (double)n_locked);
        cJSON_AddNumberToObject(j, "total_workload", tot_work);
        cJSON_AddNumberToObject(j, "total_value", tot_value);
        cJSON_AddNumberToObject(j, "seed", (double)seed);
        tq_json_time(j, "total", secs);
        tq_json_emit(j);
    }
    rc = TQ_EXIT_OK;
    goto done;
nomem:
    tq_err_set(&err, TQ_ENOMEM, "out of memory generating %lld accounts", (long long)n);
fail:
    rc = tq_fail(&err);
done:
    if (w) tq_writer_close(w, 0, NULL);
    tq_accounts_free(&b);
    tq_territories_free(&t);
    tq_places_free(&pl);
    free(wtrue);
    free(base_of_place);
    free(base2_of_place);
    return rc;
}
