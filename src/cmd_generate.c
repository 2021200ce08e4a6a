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
 *   last year  cut along a Hilbert curve over (lon, lat): a sample of max(200,000,
 *              200 K) accounts, ordered by Hilbert index, is cut into K runs of equal
 *              workload *as it was last year* (this year's divided by a smooth regional
 *              growth factor, exp of +-0.3), and every account goes to the run its index
 *              falls in: last year's territories are compact and were balanced, and
 *              uneven growth has unbalanced them by some 10-20% since, as happens. A rep's home base is the sample account nearest the
 *              workload centroid of the run. Then 3% of accounts sit in a neighbouring
 *              territory, 2% are new (-1), and 1% of assigned accounts are locked.
 * The true w and b are stored as /accounts attributes true_weights, true_bias. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

#define FIT_SAMPLE 200000

/* Hilbert index of (x, y) on a 2^16 x 2^16 grid (the classic xy2d; Hamilton 2006). */
static uint32_t hilbert(uint32_t x, uint32_t y)
{
    uint32_t d = 0;
    for (uint32_t s = 1u << 15; s > 0; s >>= 1) {
        uint32_t rx = (x & s) > 0, ry = (y & s) > 0;
        d += s * s * ((3 * rx) ^ ry);
        if (ry == 0) { /* rotate */
            if (rx == 1) {
                x = s - 1 - x;
                y = s - 1 - y;
            }
            uint32_t t = x;
            x = y;
            y = t;
        }
    }
    return d;
}

/* The grid spans the places' bounding box (a square in degrees, so cells are equal). */
typedef struct { double lat0, lon0, span; } hbox;

static uint32_t hilbert_of(const hbox *h, double lat, double lon)
{
    double fx = (lon - h->lon0) / h->span, fy = (lat - h->lat0) / h->span;
    fx = fx < 0 ? 0 : fx > 1 ? 1 : fx;
    fy = fy < 0 ? 0 : fy > 1 ? 1 : fy;
    uint32_t x = (uint32_t)(fx * 65535.0 + 0.5), y = (uint32_t)(fy * 65535.0 + 0.5);
    return hilbert(x > 65535 ? 65535 : x, y > 65535 ? 65535 : y);
}

typedef struct {
    uint32_t key;
    int64_t i;
    double w, lat, lon;
} keyed;

static int keyed_cmp(const void *a, const void *b)
{
    const keyed *p = a, *q = b;
    if (p->key != q->key) return p->key < q->key ? -1 : 1;
    return (p->i > q->i) - (p->i < q->i);
}

/* Territory of a Hilbert key: the number of cuts at or below it. */
static int run_of(const uint32_t *cut, int k, uint32_t key)
{
    int lo = 0, hi = k - 1; /* cut[0..k-2] */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (cut[mid] <= key) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* The first draws of account i: position around a population-weighted place and the two
 * normals behind value and workload. Leaves *g ready for the rest of the row. */
static void draw_account(rowrng *g, uint64_t seed, int64_t i, const tq_places *pl, int *place,
                         double *lat, double *lon, double *z1, double *z2)
{
    g->s = tq_mix64(seed * 0x9e3779b97f4a7c15ULL ^ tq_mix64((uint64_t)i));
    int p = tq_places_pick(pl, rr_uniform(g));
    double scale = 2.0 + 3.0 * log10(1.0 + pl->pop[p] / 1e4);
    double dist = scale * sqrt(-2.0 * log(rr_uniform(g) + 0x1.0p-60));
    double ang = 2 * M_PI * rr_uniform(g);
    double la = pl->lat[p] + dist * cos(ang) / (EARTH_KM * DEG);
    double coslat = cos(pl->lat[p] * DEG);
    double lo = pl->lon[p] + dist * sin(ang) / (EARTH_KM * DEG * (coslat > 0.01 ? coslat : 0.01));
    if (la > 90) la = 180 - la;
    if (la < -90) la = -180 - la;
    if (lo > 180) lo -= 360;
    if (lo < -180) lo += 360;
    *place = p;
    *lat = la;
    *lon = lo;
    *z1 = rr_normal(g);
    *z2 = rr_normal(g);
}

static inline double workload_of(double z1, double z2) { return exp(log(20.0) + 0.6 * z1 + 0.4 * z2); }

/* Regional growth since last year: a smooth field over the map, in exp(+-drift). */
static double growth(double lat, double lon, uint64_t seed, double drift)
{
    double p1 = 6.283 * tq_rand_uniform(seed, 77, 1), p2 = 6.283 * tq_rand_uniform(seed, 77, 2);
    double p3 = 6.283 * tq_rand_uniform(seed, 77, 3);
    return exp(drift / 0.3 *
               (0.2 * sin(0.07 * lon + p1) * cos(0.11 * lat + p2) + 0.1 * sin(0.23 * lon + 0.17 * lat + p3)));
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
            "  --drift x          regional workload change since last year's alignment:\n"
            "                     a smooth field within exp(+-x) (default 0.3)\n"
            "  --json, -q, --threads n\n");
}

/* the options (also read by `plan`, which checks a scenario file's keys against them) */
const struct option tq_opts_generate[] = {
    {"n", required_argument, 0, 'n'}, {"k", required_argument, 0, 'k'},
    {"output", required_argument, 0, 'o'}, {"features", required_argument, 0, 'd'},
    {"seed", required_argument, 0, 's'}, {"country", required_argument, 0, 'c'},
    {"places", required_argument, 0, 'p'}, {"unlabelled", required_argument, 0, 'u'},
    {"drift", required_argument, 0, 'D'}, {"help", no_argument, 0, 'h'}, TQ_CLI_LONGOPTS, {0, 0, 0, 0}};

int tq_cmd_generate(int argc, char **argv)
{
    const struct option *opts = tq_opts_generate;
    int64_t n = -1, k = 0, d = 8, seed = 1;
    double unlabelled = 0.2, drift = 0.3;
    const char *out = NULL, *country = "US", *places_path = NULL;
    int c, rc = TQ_EXIT_INPUT;
    tq_err err = {0, ""};
    tq_places pl = {0};
    tq_writer *w = NULL;
    tq_accounts b = {0};
    tq_territories t = {0};
    double *wtrue = NULL;
    uint32_t *cut = NULL;   /* Hilbert keys where last year's territories start */
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
        case 'D': if (tq_parse_f64("--drift", optarg, 0.0, 2.0, &drift)) return rc; break;
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
    if (tq_places_load(places_path, country, &pl, &err) != TQ_OK) return tq_fail(&err);

    /* true model, drawn from a stream of its own */
    wtrue = calloc((size_t)d + 1, sizeof *wtrue);
    if (!wtrue) goto nomem;
    {
        rowrng r = {tq_mix64((uint64_t)seed ^ 0x5eedULL)};
        for (int j = 0; j < d; j++) wtrue[j] = rr_normal(&r) * 2.0 / sqrt((double)d);
        wtrue[d] = -1.5;
    }

    /* last year's alignment: Hilbert runs of equal workload over a sample; home bases */
    hbox hb = {90, 180, 0};
    {
        double la1 = -90, lo1 = -180;
        for (int p = 0; p < pl.n; p++) {
            hb.lat0 = fmin(hb.lat0, pl.lat[p]);
            hb.lon0 = fmin(hb.lon0, pl.lon[p]);
            la1 = fmax(la1, pl.lat[p]);
            lo1 = fmax(lo1, pl.lon[p]);
        }
        hb.lat0 -= 1;
        hb.lon0 -= 1;
        hb.span = fmax(la1 - hb.lat0, lo1 - hb.lon0) + 1;
    }
    if (k > 0) {
        t.k = (int)k;
        t.id_len = 16;
        t.id = calloc((size_t)k, 16);
        t.home_lat = malloc((size_t)k * sizeof(double));
        t.home_lon = malloc((size_t)k * sizeof(double));
        t.capacity = malloc((size_t)k * sizeof(double));
        cut = malloc((size_t)k * sizeof *cut);
        int64_t ns = 200 * k > FIT_SAMPLE ? 200 * k : FIT_SAMPLE;
        if (ns > n) ns = n;
        keyed *sm = malloc((size_t)(ns > 0 ? ns : 1) * sizeof *sm);
        if (!t.id || !t.home_lat || !t.home_lon || !t.capacity || !cut || !sm) {
            free(sm);
            goto nomem;
        }
        double total = 0;
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < ns; i++) {
            rowrng g;
            int p;
            double z1, z2;
            draw_account(&g, (uint64_t)seed, i, &pl, &p, &sm[i].lat, &sm[i].lon, &z1, &z2);
            sm[i].w = workload_of(z1, z2) / growth(sm[i].lat, sm[i].lon, (uint64_t)seed, drift);
            sm[i].key = hilbert_of(&hb, sm[i].lat, sm[i].lon);
            sm[i].i = i;
        }
        for (int64_t i = 0; i < ns; i++) total += sm[i].w; /* in index order: deterministic */
        qsort(sm, (size_t)ns, sizeof *sm, keyed_cmp);
        /* cuts where the running workload passes j/K of the total; each run's centroid */
        int64_t at = 0;
        double run = 0;
        for (int j = 0; j < (int)k; j++) {
            double goal = total * (double)(j + 1) / (double)k, sx = 0, sy = 0, sz = 0;
            int64_t first = at;
            while (at < ns && (run < goal || j == (int)k - 1)) {
                double la = sm[at].lat * DEG, lo = sm[at].lon * DEG;
                sx += sm[at].w * cos(la) * cos(lo);
                sy += sm[at].w * cos(la) * sin(lo);
                sz += sm[at].w * sin(la);
                run += sm[at++].w;
            }
            if (j < (int)k - 1) cut[j] = at < ns ? sm[at].key : UINT32_MAX;
            /* home base: the run's account nearest its workload centroid */
            double best = INFINITY, r = sqrt(sx * sx + sy * sy + sz * sz);
            int64_t bi = first < ns ? first : ns - 1;
            for (int64_t q = first; q < at && r > 0; q++) {
                double la = sm[q].lat * DEG, lo = sm[q].lon * DEG;
                double dx = cos(la) * cos(lo) - sx / r, dy = cos(la) * sin(lo) - sy / r,
                       dz = sin(la) - sz / r, d2 = dx * dx + dy * dy + dz * dz;
                if (d2 < best) { best = d2; bi = q; }
            }
            snprintf(t.id + j * 16, 16, "T%04d", j);
            t.home_lat[j] = ns > 0 ? sm[bi].lat : 0;
            t.home_lon[j] = ns > 0 ? sm[bi].lon : 0;
            t.capacity[j] = 1.0;
        }
        t.has_home = 1;
        free(sm);
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
            rowrng g;
            int p;
            double lat, lon, z1, z2;
            draw_account(&g, (uint64_t)seed, i, &pl, &p, &lat, &lon, &z1, &z2);
            b.lat[r] = lat;
            b.lon[r] = lon;
            b.value[r] = (float)exp(log(40000.0) + 1.1 * z1);
            b.workload[r] = (float)workload_of(z1, z2);
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
                int b1 = run_of(cut, (int)k, hilbert_of(&hb, lat, lon));
                int b2 = b1 + 1 < k ? b1 + 1 : (b1 > 0 ? b1 - 1 : b1); /* a neighbour run */
                b.prev_territory[r] = um < 0.02 ? -1 : um < 0.05 ? b2 : b1;
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
    free(cut);
    return rc;
}
