/* bench/propensity_kernel.c: in-memory throughput of the SGD kernel against the memory
 * bandwidth floor, and the parallel-SGD design measurements of issue 6 (shared-model
 * Hogwild vs per-thread replicas vs the block-averaged mini-batch kernel).
 * Built and run by bench/propensity (needs the tqkernels library):
 *   mpicc -O3 -march=native -fopenmp -Ikernels bench/propensity_kernel.c \
 *         BUILD/libtqkernels.a -lglpk -lm -o propensity_kernel
 *   ./propensity_kernel N D EPOCHS [BATCH ROUNDS]   -> one JSON object on stdout
 * Data: x ~ N(0,1) from the counter-based RNG, labels from a logistic model. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tq_common.h"
#include "tq_sgd.h"

static volatile double sink;

/* Best-of-3 read bandwidth (bytes/s) of summing the array with all threads. */
static double bandwidth(const float *x, int64_t n)
{
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t = tq_now(), s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static)
        for (int64_t i = 0; i < n; i += 16) {
            float a = 0;
            for (int k = 0; k < 16 && i + k < n; k++) a += x[i + k];
            s += a;
        }
        t = tq_now() - t;
        sink = s;
        double bw = (double)n * sizeof(float) / t;
        if (bw > best) best = bw;
    }
    return best;
}

/* Plain per-row SGD on logistic loss, one epoch, rows split over threads.
 * shared = 1: Hogwild (one model written by all threads without locks);
 * shared = 0: a private replica per thread (averaged afterwards, not timed).
 * Returns rows per second. */
static double plain_sgd(const float *x, const int8_t *y, int64_t n, int d, int threads,
                        int shared)
{
    float *wsh = calloc((size_t)d, sizeof *wsh);
    double t = tq_now();
#pragma omp parallel num_threads(threads)
    {
        float *wl = shared ? wsh : calloc((size_t)d, sizeof *wl);
        int tid = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t lo = n * tid / nt, hi = n * (tid + 1) / nt;
        for (int64_t i = lo; i < hi; i++) {
            const float *xi = x + i * d;
            float z = 0;
            for (int j = 0; j < d; j++) z += wl[j] * xi[j];
            float g = 0.01f * (1.0f / (1.0f + expf(-z)) - (float)y[i]);
            for (int j = 0; j < d; j++) wl[j] -= g * xi[j];
        }
        if (!shared) {
            sink = wl[0];
            free(wl);
        }
    }
    t = tq_now() - t;
    free(wsh);
    return (double)n / t;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s N D EPOCHS\n", argv[0]);
        return 1;
    }
    int64_t n = (int64_t)atof(argv[1]);
    int d = atoi(argv[2]), epochs = atoi(argv[3]);
    int threads = tq_threads();
    float *x = malloc((size_t)(n * d) * sizeof *x);
    int8_t *y = malloc((size_t)n);
    double *wt = malloc((size_t)d * sizeof *wt);
    if (!x || !y || !wt) return 1;
    for (int j = 0; j < d; j++) wt[j] = (tq_rand_uniform(7, 9, (uint64_t)j) - 0.5) * 4 / sqrt(d);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        double z = -1.0;
        for (int j = 0; j < d; j++) {
            /* sum of 4 uniforms: near-normal, cheap */
            uint64_t k = (uint64_t)(i * d + j) * 4;
            double u = tq_rand_uniform(1, 0, k) + tq_rand_uniform(1, 0, k + 1) +
                       tq_rand_uniform(1, 0, k + 2) + tq_rand_uniform(1, 0, k + 3) - 2.0;
            x[i * d + j] = (float)(u * 1.7320508);
            z += wt[j] * x[i * d + j];
        }
        y[i] = tq_rand_uniform(1, 1, (uint64_t)i) < 1 / (1 + exp(-z)) ? 1 : 0;
    }
    double bw = bandwidth(x, n * d);
    double bytes = (double)n * d * sizeof(float);

    tq_sgd_data data = {n, d, 0, n, x, y, NULL, NULL};
    tq_sgd_params p;
    tq_sgd_defaults(&p);
    p.val = 0;
    p.epochs = epochs;
    p.patience = epochs + 1;
    p.tol = 0;
    if (argc > 5) {
        p.batch = atoi(argv[4]);
        p.rounds = atoi(argv[5]);
    }
    double epoch_s[2], loss[2];
    for (int mode = 0; mode < 2; mode++) {
        p.mode = mode;
        tq_sgd_model m;
        tq_sgd_report r;
        if (tq_sgd_train(&data, &p, NULL, &m, &r) != TQ_OK) {
            fprintf(stderr, "train failed: %s\n", r.msg);
            return 1;
        }
        /* per epoch: the SGD pass (the per-epoch loss evaluation is timed apart) */
        epoch_s[mode] = r.t_train / r.epochs_run;
        fprintf(stderr, "mode %d: stats %.4f s, train %.4f s, eval %.4f s, %d epochs\n", mode,
                r.t_stats, r.t_train, r.t_eval, r.epochs_run);
        loss[mode] = r.val_logloss;
        tq_sgd_model_free(&m);
        tq_sgd_report_free(&r);
    }
    /* design measurements: plain per-row SGD, 1 and `threads` threads */
    int64_t ns = n < 4000000 ? n : 4000000;
    double hog1 = plain_sgd(x, y, ns, d, 1, 1);
    double hogT = plain_sgd(x, y, ns, d, threads, 1);
    double repT = plain_sgd(x, y, ns, d, threads, 0);
    printf("{\"n\": %lld, \"d\": %d, \"threads\": %d, \"batch\": %d, \"rounds\": %d, \"bytes_per_epoch\": %.0f, "
           "\"bandwidth_GBs\": %.3f, \"floor_s\": %.4f, "
           "\"epoch_s_deterministic\": %.4f, \"epoch_s_fast\": %.4f, "
           "\"ratio_to_floor_deterministic\": %.2f, \"ratio_to_floor_fast\": %.2f, "
           "\"rows_per_s_deterministic\": %.4g, \"loss_deterministic\": %.6f, "
           "\"loss_fast\": %.6f, \"plain_sgd_rows_per_s\": {\"hogwild_1\": %.4g, "
           "\"hogwild_%d\": %.4g, \"replicas_%d\": %.4g}}\n",
           (long long)n, d, threads, p.batch, p.rounds, bytes, bw / 1e9, bytes / bw, epoch_s[0], epoch_s[1],
           epoch_s[0] / (bytes / bw), epoch_s[1] / (bytes / bw), (double)n / epoch_s[0],
           loss[0], loss[1], hog1, threads, hogT, threads, repT);
    free(x);
    free(y);
    free(wt);
    return 0;
}
