/* cmd_cluster.c: `tqplan cluster DATA.h5 -k K`: exact weighted k-means of the account
 * locations (kernels/tq_kmeans.h) on 3-D unit vectors, written to /clusters:
 *   label (int32, N), centers (K x 2 lat/lon degrees of the normalized centroid),
 *   centers_xyz (K x 3, the Euclidean centroids), count (int64 K), weight (K),
 *   per_iteration (passes x 3: seconds, inertia km^2, distance evaluations),
 *   attrs inertia_km2, rms_km, iterations, converged, distance_computations,
 *   brute_force_computations, share_skipped, repaired, k, init, weights, algo.
 * Inertia is sum_i w_i (R * ||x_i - c||)^2: squared chord distances to the centroid
 * times the Earth radius squared (docs/kmeans.md). */
#include <ctype.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>

#include "tq_cli.h"
#include "tq_kmeans.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tqplan cluster DATA.h5 -k K [options]\n\n"
            "Exact weighted k-means (Lloyd) of the account locations as 3-D unit vectors;\n"
            "bit-identical results for any thread or rank count. Writes /clusters.\n\n"
            "options:\n"
            "  -k, --k K            number of clusters (1 <= K <= accounts)\n"
            "  --init NAME          kmeans++ (default) or kmeans-par (k-means||)\n"
            "  --init-centers FILE  start from these centers: CSV rows 'lat,lon' (degrees)\n"
            "                       or 'x,y,z' (a header line is skipped); K = rows\n"
            "  --fixed              keep the centers fixed at the rep home bases of\n"
            "                       /territories (K = territories) and only assign\n"
            "  --weights W          none (default), workload or value\n"
            "  --iters n            maximum Lloyd iterations (default 100)\n"
            "  --tol t              stop when the relative inertia decrease is <= t\n"
            "                       (default 1e-6; 0 = only when no label changes)\n"
            "  --seed s             seed for k-means++ / k-means|| (default 42)\n"
            "  --algo A             tree (default: kd-tree filtering of centers), bounds\n"
            "                       (per pass bounds or brute force, whichever is expected\n"
            "                       faster), bounds-only, brute or ref: all give the same\n"
            "                       result bit for bit (for timing and testing)\n"
            "  --json, -q, --threads n\n");
}

/* Centers from a CSV file: 2 columns (lat, lon) or 3 (x, y, z). */
static int read_centers(const char *file, double **out, int *k, tq_err *err)
{
    FILE *f = fopen(file, "r");
    char line[1024];
    int cap = 64, n = 0, cols = 0, lineno = 0, status = TQ_OK;
    double *c = malloc((size_t)cap * 3 * sizeof *c);
    if (!f) {
        tq_err_set(err, TQ_EINVAL, "--init-centers %s: cannot open", file);
        free(c);
        return TQ_EINVAL;
    }
    if (!c) {
        status = TQ_ENOMEM;
        tq_err_set(err, status, "out of memory");
        goto done;
    }
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *p = line;
        while (isspace((unsigned char)*p)) p++;
        if (!*p) continue;
        double v[4];
        int m = 0;
        char *end = p;
        while (m < 4) {
            v[m] = strtod(p, &end);
            if (end == p) break;
            m++;
            p = end;
            while (isspace((unsigned char)*p)) p++;
            if (*p != ',') break;
            p++;
        }
        while (isspace((unsigned char)*p)) p++;
        if (m == 0 && n == 0 && lineno == 1) continue; /* header */
        if (*p || (m != 2 && m != 3) || (cols && m != cols)) {
            status = TQ_EINVAL;
            tq_err_set(err, status, "--init-centers %s: line %d: want 'lat,lon' or 'x,y,z'",
                       file, lineno);
            goto done;
        }
        cols = m;
        for (int t = 0; t < m; t++)
            if (!isfinite(v[t])) {
                status = TQ_EINVAL;
                tq_err_set(err, status, "--init-centers %s: line %d, column %d: value %g is not finite",
                           file, lineno, t + 1, v[t]);
                goto done;
            }
        if (n == cap) {
            cap *= 2;
            double *t = realloc(c, (size_t)cap * 3 * sizeof *c);
            if (!t) {
                status = TQ_ENOMEM;
                tq_err_set(err, status, "out of memory");
                goto done;
            }
            c = t;
        }
        if (m == 2) {
            if (fabs(v[0]) > 90 || fabs(v[1]) > 180) {
                status = TQ_EINVAL;
                tq_err_set(err, status, "--init-centers %s: line %d: (%g, %g) is not a lat,lon",
                           file, lineno, v[0], v[1]);
                goto done;
            }
            tq_latlon_to_xyz(v[0], v[1], c + 3 * n, c + 3 * n + 1, c + 3 * n + 2);
        } else {
            memcpy(c + 3 * n, v, 3 * sizeof(double));
        }
        n++;
    }
    if (n == 0) {
        status = TQ_EINVAL;
        tq_err_set(err, status, "--init-centers %s: no centers", file);
    }
done:
    fclose(f);
    if (status == TQ_OK) {
        *out = c;
        *k = n;
    } else {
        free(c);
    }
    return status;
}

/* The per-account arrays: 2 MiB aligned and marked for transparent huge pages, so that
 * first touching them (here and in the kernel) costs one page fault per 2 MiB instead of
 * per 4 KiB (slow on virtual machines), and random access misses the TLB less. Free with
 * free(). */
static void *big_array(size_t bytes)
{
    size_t al = (size_t)2 << 20;
    if (bytes < al) return malloc(bytes > 0 ? bytes : 1);
    void *p = NULL;
    if (posix_memalign(&p, al, (bytes + al - 1) / al * al) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, (bytes + al - 1) / al * al, MADV_HUGEPAGE); /* a hint */
#endif
    return p;
}

static const char *init_name(int init)
{
    return init == TQ_KM_INIT_PAR ? "kmeans-par" : init == TQ_KM_INIT_GIVEN ? "given" : "kmeans++";
}
static const char *algo_name(const tq_kmeans_params *p)
{
    return p->algo == TQ_KM_ALGO_BRUTE ? "brute"
           : p->algo == TQ_KM_ALGO_REF ? "ref"
           : p->algo == TQ_KM_ALGO_TREE ? "tree"
           : p->adaptive               ? "bounds"
                                       : "bounds-only";
}

/* the options (also read by `plan`, which checks a scenario file's keys against them) */
const struct option tq_opts_cluster[] = {
    {"k", required_argument, 0, 'k'},        {"init", required_argument, 0, 'i'},
    {"init-centers", required_argument, 0, 'C'}, {"fixed", no_argument, 0, 'F'},
    {"weights", required_argument, 0, 'w'},  {"iters", required_argument, 0, 'n'},
    {"tol", required_argument, 0, 't'},      {"seed", required_argument, 0, 's'},
    {"algo", required_argument, 0, 'a'},     {"neighbors", required_argument, 0, 'N'},
    {"help", no_argument, 0, 'h'},           TQ_CLI_LONGOPTS, {0, 0, 0, 0}};

int tq_cmd_cluster(int argc, char **argv)
{
    const struct option *opts = tq_opts_cluster;
    tq_kmeans_params p;
    tq_kmeans_defaults(&p);
    p.k = 0;
    int64_t v64;
    const char *wname = "none", *centers_file = NULL;
    int c, rc = TQ_EXIT_INPUT, fixed = 0;
    tq_err err = {0, ""};
    tq_accounts a = {0};
    tq_territories terr = {0};
    tq_kmeans_result r = {0};
    double *x = NULL, *y = NULL, *z = NULL, *w = NULL, *given = NULL, *ll = NULL, *per = NULL;
    int given_k = 0;
    cJSON *out = NULL, *params = NULL;
    char *params_text = NULL;
    tq_result *res = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:qh", opts, NULL)) != -1) {
        int cr = tq_cli_common_opt(c, optarg);
        if (cr < 0) return TQ_EXIT_INPUT;
        if (cr) continue;
        switch (c) {
        case 'k': if (tq_parse_i64("-k", optarg, 1, INT32_MAX / 8, &v64)) return rc; p.k = (int)v64; break;
        case 'n': if (tq_parse_i64("--iters", optarg, 0, 1000000, &v64)) return rc; p.max_iter = (int)v64; break;
        case 't': if (tq_parse_f64("--tol", optarg, 0, 1, &p.tol)) return rc; break;
        case 's': if (tq_parse_i64("--seed", optarg, 0, INT64_MAX, &v64)) return rc; p.seed = (uint64_t)v64; break;
        case 'N': if (tq_parse_i64("--neighbors", optarg, 1, 4096, &v64)) return rc; p.neighbors = (int)v64; break;
        case 'i':
            if (!strcmp(optarg, "kmeans++")) p.init = TQ_KM_INIT_PP;
            else if (!strcmp(optarg, "kmeans-par") || !strcmp(optarg, "kmeans||")) p.init = TQ_KM_INIT_PAR;
            else { tq_error("option --init: '%s' is not kmeans++ or kmeans-par", optarg); return rc; }
            break;
        case 'a':
            if (!strcmp(optarg, "tree")) p.algo = TQ_KM_ALGO_TREE;
            else if (!strcmp(optarg, "bounds")) p.algo = TQ_KM_ALGO_BOUNDS;
            else if (!strcmp(optarg, "bounds-only")) p.algo = TQ_KM_ALGO_BOUNDS, p.adaptive = 0;
            else if (!strcmp(optarg, "brute")) p.algo = TQ_KM_ALGO_BRUTE;
            else if (!strcmp(optarg, "ref")) p.algo = TQ_KM_ALGO_REF;
            else { tq_error("option --algo: '%s' is not tree, bounds, bounds-only, brute or ref", optarg); return rc; }
            break;
        case 'w':
            if (strcmp(optarg, "none") && strcmp(optarg, "workload") && strcmp(optarg, "value")) {
                tq_error("option --weights: '%s' is not none, workload or value", optarg);
                return rc;
            }
            wname = optarg;
            break;
        case 'C': centers_file = optarg; break;
        case 'F': fixed = 1; break;
        case 'h': usage(stdout); return TQ_EXIT_OK;
        default: usage(stderr); return TQ_EXIT_INPUT;
        }
    }
    if (optind != argc - 1) {
        tq_error(optind < argc ? "cluster takes one dataset, got '%s' too" : "cluster needs a dataset file",
                 optind < argc ? argv[argc - 1] : "");
        usage(stderr);
        return TQ_EXIT_INPUT;
    }
    if (fixed && centers_file) {
        tq_error("--fixed takes the centers from /territories; drop --init-centers");
        return TQ_EXIT_INPUT;
    }
    if (!fixed && !centers_file && p.k < 1) {
        tq_error("cluster needs -k K (K >= 1), --init-centers FILE or --fixed");
        usage(stderr);
        return TQ_EXIT_INPUT;
    }
    const char *path = argv[optind];
    const tq_comm *comm = tq_g.comm;
    double t0 = tq_now();
    time_t started = time(NULL);
    if (tq_g.threads > 0) tq_set_threads(tq_g.threads);

    /* ---- centers given by file or by /territories ---- */
    if (centers_file) {
        if (read_centers(centers_file, &given, &given_k, &err) != TQ_OK) goto fail;
        if (p.k > 0 && p.k != given_k) {
            tq_err_set(&err, TQ_EINVAL, "-k %d but %s holds %d centers", p.k, centers_file, given_k);
            goto fail;
        }
        p.k = given_k;
        p.init = TQ_KM_INIT_GIVEN;
    }
    if (fixed) {
        if (tq_territories_read(path, &terr, &err) != TQ_OK) goto fail;
        if (terr.k < 1) {
            tq_err_set(&err, TQ_EINVAL, "%s: --fixed needs /territories with home bases; there are none", path);
            goto fail;
        }
        given = malloc((size_t)terr.k * 3 * sizeof *given);
        if (!given) { tq_err_set(&err, TQ_ENOMEM, "out of memory"); goto fail; }
        for (int j = 0; j < terr.k; j++) {
            double la = terr.home_lat[j], lo = terr.home_lon[j];
            if (!isfinite(la) || !isfinite(lo) || fabs(la) > 90 || fabs(lo) > 180) {
                tq_err_set(&err, TQ_EINVAL,
                           "%s: /territories row %d (id %s): no valid home base (%g, %g) for --fixed",
                           path, j + 1, terr.id + (size_t)j * terr.id_len, la, lo);
                goto fail;
            }
            tq_latlon_to_xyz(la, lo, given + 3 * j, given + 3 * j + 1, given + 3 * j + 2);
        }
        if (p.k > 0 && p.k != terr.k) {
            tq_err_set(&err, TQ_EINVAL, "-k %d but %s has %d territories (--fixed uses them all)",
                       p.k, path, terr.k);
            goto fail;
        }
        p.k = terr.k;
        p.fixed = 1;
        p.init = TQ_KM_INIT_GIVEN;
    }

    /* ---- read and check this rank's rows ---- */
    unsigned cols = TQ_COL_LATLON;
    if (!strcmp(wname, "workload")) cols |= TQ_COL_WORKLOAD;
    if (!strcmp(wname, "value")) cols |= TQ_COL_VALUE;
    if (tq_accounts_read(path, comm, cols, &a, &err) != TQ_OK) goto fail;
    const float *wf = !strcmp(wname, "workload") ? a.workload : !strcmp(wname, "value") ? a.value : NULL;
    if (tq_accounts_check(path, &a, 0, comm, &err) != TQ_OK) goto fail;
    if ((int64_t)p.k > a.n) {
        tq_err_set(&err, TQ_EINVAL, "%s: k = %d is larger than the number of accounts (%lld)", path,
                   p.k, (long long)a.n);
        goto fail;
    }
    int64_t nl = a.hi - a.lo;
    size_t nb = (size_t)(nl > 0 ? nl : 1);
    x = big_array(nb * sizeof *x);
    y = big_array(nb * sizeof *y);
    z = big_array(nb * sizeof *z);
    if (wf) w = big_array(nb * sizeof *w);
    r.label = big_array(nb * sizeof *r.label);
    r.centers = malloc((size_t)p.k * 3 * sizeof *r.centers);
    r.count = malloc((size_t)p.k * sizeof *r.count);
    r.weight = malloc((size_t)p.k * sizeof *r.weight);
    ll = malloc((size_t)p.k * 2 * sizeof *ll);
    if (!x || !y || !z || (wf && !w) || !r.label || !r.centers || !r.count || !r.weight || !ll) {
        tq_err_set(&err, TQ_ENOMEM, "out of memory for %lld accounts", (long long)nl);
        goto fail;
    }
    double wloc = 0;
    for (int64_t i = 0; i < nl; i++) {
        tq_latlon_to_xyz(a.lat[i], a.lon[i], x + i, y + i, z + i);
        if (wf) {
            w[i] = wf[i];
            wloc += w[i];
        }
    }
    if (wf) {
        if (tq_comm_max_f64(comm, &wloc, 1) != TQ_OK) { tq_err_set(&err, TQ_EMPI, "MPI error"); goto fail; }
        if (!(wloc > 0)) {
            tq_err_set(&err, TQ_EINVAL, "%s: every account has %s 0: nothing to weigh the clusters by (use --weights none)",
                       path, wname);
            goto fail;
        }
    }
    if (given) memcpy(r.centers, given, (size_t)p.k * 3 * sizeof *given);
    double t_read = tq_now() - t0;

    /* ---- cluster ---- */
    const char *msg = tq_kmeans_check(&p);
    if (msg) { tq_err_set(&err, TQ_EINVAL, "%s", msg); goto fail; }
    tq_kmeans_data kd = {a.n, a.lo, a.hi, x, y, z, w};
    tq_progress prog;
    tq_progress_start(&prog, "cluster", p.max_iter);
    p.progress = tq_progress_hook_cli;
    p.progress_ctx = &prog;
    int st = tq_kmeans_run(&p, &kd, comm, &r);
    tq_progress_end(&prog);
    if (st < 0) {
        tq_err_set(&err, st, "%s: k-means failed: %s", path, tq_strstatus(st));
        goto fail;
    }
    double R2 = TQ_EARTH_RADIUS_KM * TQ_EARTH_RADIUS_KM;
    double wsum = 0;
    for (int j = 0; j < p.k; j++) wsum += r.weight[j];
    double inertia_km2 = r.inertia * R2;
    double rms_km = wsum > 0 ? sqrt(r.inertia / wsum) * TQ_EARTH_RADIUS_KM : 0;
    double skipped = r.nfull > 0 ? 1.0 - (double)r.ndist / (double)r.nfull : 0;
    for (int j = 0; j < p.k; j++)
        tq_xyz_to_latlon(r.centers[3 * j], r.centers[3 * j + 1], r.centers[3 * j + 2], ll + 2 * j,
                         ll + 2 * j + 1);
    per = malloc((size_t)(r.passes > 0 ? r.passes : 1) * 3 * sizeof *per);
    if (!per) { tq_err_set(&err, TQ_ENOMEM, "out of memory"); goto fail; }
    for (int q = 0; q < r.passes; q++) {
        per[3 * q] = r.iter_time[q];
        per[3 * q + 1] = r.iter_inertia[q] * R2;
        per[3 * q + 2] = (double)r.iter_ndist[q];
    }

    /* ---- write /clusters ---- */
    double t2 = tq_now();
    params = cJSON_CreateObject();
    cJSON_AddNumberToObject(params, "k", p.k);
    cJSON_AddStringToObject(params, "init", init_name(p.init));
    if (centers_file) cJSON_AddStringToObject(params, "init_centers", centers_file);
    cJSON_AddBoolToObject(params, "fixed", p.fixed);
    cJSON_AddStringToObject(params, "weights", wname);
    cJSON_AddNumberToObject(params, "iters", p.max_iter);
    cJSON_AddNumberToObject(params, "tol", p.tol);
    cJSON_AddNumberToObject(params, "seed", (double)p.seed);
    cJSON_AddStringToObject(params, "algo", algo_name(&p));
    cJSON_AddNumberToObject(params, "earth_radius_km", TQ_EARTH_RADIUS_KM);
    if (!params) { tq_err_set(&err, TQ_ENOMEM, "out of memory"); goto fail; }
    res = tq_result_begin(path, "clusters", comm, &err);
    if (!res) goto fail;
    if (tq_result_rows_i32(res, "label", r.label, nl, 1) != TQ_OK ||
        tq_result_small_f64(res, "centers", ll, p.k, 2) != TQ_OK ||
        tq_result_small_f64(res, "centers_xyz", r.centers, p.k, 3) != TQ_OK ||
        tq_result_small_i64(res, "count", r.count, p.k, 1) != TQ_OK ||
        tq_result_small_f64(res, "weight", r.weight, p.k, 1) != TQ_OK ||
        tq_result_small_f64(res, "per_iteration", per, r.passes, 3) != TQ_OK ||
        tq_result_attr_f64(res, "inertia_km2", inertia_km2) != TQ_OK ||
        tq_result_attr_f64(res, "rms_km", rms_km) != TQ_OK ||
        tq_result_attr_i64(res, "iterations", r.iterations) != TQ_OK ||
        tq_result_attr_i64(res, "converged", r.converged) != TQ_OK ||
        tq_result_attr_i64(res, "distance_computations", r.ndist) != TQ_OK ||
        tq_result_attr_i64(res, "brute_force_computations", r.nfull) != TQ_OK ||
        tq_result_attr_f64(res, "share_skipped", skipped) != TQ_OK ||
        tq_result_attr_i64(res, "repaired", r.repaired) != TQ_OK ||
        tq_result_attr_i64(res, "k", p.k) != TQ_OK ||
        tq_result_attr_str(res, "init", init_name(p.init)) != TQ_OK ||
        tq_result_attr_str(res, "weights", wname) != TQ_OK ||
        tq_result_attr_str(res, "algo", algo_name(&p)) != TQ_OK ||
        tq_result_attr_str(res, "distance", "chord on the unit sphere x 6371.0088 km") != TQ_OK) {
        tq_err_set(&err, TQ_EIO, "%s: cannot write /clusters", path);
        goto fail;
    }
    params_text = cJSON_PrintUnformatted(params);
    st = tq_result_commit(res, "cluster", params_text, p.seed, started, &err);
    res = NULL;
    if (st != TQ_OK) goto fail;
    double t_write = tq_now() - t2;
    double total = tq_now() - t0;

    tq_say("cluster: %lld accounts -> %d clusters, %d iterations%s, inertia %.6g km^2 "
           "(rms %.1f km), %.2f%% of distance computations skipped -> /clusters (%.2f s)",
           (long long)a.n, p.k, r.iterations,
           p.fixed ? " (fixed centers)" : r.converged ? " (converged)" : " (iteration limit)",
           inertia_km2, rms_km, 100 * skipped, total);
    if (tq_g.json) {
        out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "command", "cluster");
        cJSON_AddStringToObject(out, "input", path);
        cJSON_AddNumberToObject(out, "rows", (double)a.n);
        cJSON_AddNumberToObject(out, "k", p.k);
        cJSON_AddItemToObject(out, "parameters", params);
        params = NULL;
        cJSON_AddNumberToObject(out, "iterations", r.iterations);
        cJSON_AddBoolToObject(out, "converged", r.converged);
        cJSON_AddNumberToObject(out, "inertia_km2", inertia_km2);
        cJSON_AddNumberToObject(out, "rms_km", rms_km);
        cJSON_AddNumberToObject(out, "distance_computations", (double)r.ndist);
        cJSON_AddNumberToObject(out, "brute_force_computations", (double)r.nfull);
        cJSON_AddNumberToObject(out, "share_skipped", skipped);
        cJSON_AddNumberToObject(out, "seed_distance_computations", (double)r.seed_ndist);
        cJSON_AddNumberToObject(out, "repaired", r.repaired);
        int64_t cmin = INT64_MAX, cmax = 0;
        for (int j = 0; j < p.k; j++) {
            if (r.count[j] < cmin) cmin = r.count[j];
            if (r.count[j] > cmax) cmax = r.count[j];
        }
        cJSON_AddNumberToObject(out, "count_min", (double)cmin);
        cJSON_AddNumberToObject(out, "count_max", (double)cmax);
        cJSON *it = cJSON_AddArrayToObject(out, "per_iteration");
        for (int q = 0; q < r.passes; q++) {
            cJSON *h = cJSON_CreateObject();
            cJSON_AddNumberToObject(h, "pass", q);
            cJSON_AddNumberToObject(h, "seconds", r.iter_time[q]);
            cJSON_AddNumberToObject(h, "inertia_km2", r.iter_inertia[q] * R2);
            cJSON_AddNumberToObject(h, "distance_computations", (double)r.iter_ndist[q]);
            cJSON_AddItemToArray(it, h);
        }
        cJSON_AddNumberToObject(out, "ranks", tq_comm_size(comm));
        cJSON_AddNumberToObject(out, "threads", tq_threads());
        tq_json_time(out, "read", t_read);
        tq_json_time(out, "seed", r.t_seed);
        tq_json_time(out, "setup", r.t_setup);
        tq_json_time(out, "first_pass", r.t_first);
        tq_json_time(out, "iterate", r.t_iter);
        tq_json_time(out, "per_iteration_after_first",
                     r.passes > 1 ? (r.t_iter - r.t_first) / (r.passes - 1) : 0);
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
    tq_accounts_free(&a);
    tq_territories_free(&terr);
    tq_kmeans_result_free(&r);
    free(r.label);
    free(r.centers);
    free(r.count);
    free(r.weight);
    free(x);
    free(y);
    free(z);
    free(w);
    free(given);
    free(ll);
    free(per);
    cJSON_Delete(params);
    cJSON_Delete(out);
    cJSON_free(params_text);
    return rc;
}
