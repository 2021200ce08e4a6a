/* kmeans_floor.c: the machine floor for bench/kmeans.
 *   stream: memory bandwidth of a parallel copy-scale loop (b = s*a) over arrays far
 *           larger than the caches, counting bytes read + written; best of 5.
 *   peak:   double-precision FMA throughput: independent chains of 8-lane FMAs,
 *           flops = 2 per lane per FMA; best of 5.
 * Prints "stream_gbs <GB/s> peak_gflops <GFLOP/s> threads <t>". Built by bench/kmeans. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : (1L << 26); /* 64M doubles = 512 MB per array */
    double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    if (!a || !b) return 1;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) a[i] = (double)i, b[i] = 0;
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        double t = omp_get_wtime();
#pragma omp parallel for schedule(static)
        for (long i = 0; i < n; i++) b[i] = 1.000001 * a[i];
        t = omp_get_wtime() - t;
        if (t < best) best = t;
    }
    double gbs = 2.0 * n * sizeof(double) / best / 1e9;
    /* peak: 12 independent chains of 8-lane FMAs per thread (GCC vector extension;
     * -march=native turns a*m + c into a fused multiply-add) */
    typedef double v8 __attribute__((vector_size(64)));
    enum { L = 12 };
    long reps = 20000000;
    double bestp = 1e30, sink = 0;
    for (int r = 0; r < 5; r++) {
        double t = omp_get_wtime();
#pragma omp parallel reduction(+ : sink)
        {
            v8 acc[L];
            v8 m = {0}, c = {0};
            for (int e = 0; e < 8; e++) m[e] = 0.999999, c[e] = 1e-9;
            for (int j = 0; j < L; j++)
                for (int e = 0; e < 8; e++) acc[j][e] = j * 1e-9 + e;
            for (long it = 0; it < reps; it++) {
                for (int j = 0; j < L; j++) acc[j] = acc[j] * m + c;
                __asm__ volatile("" : "+v"(acc[0]), "+v"(acc[1]), "+v"(acc[2]), "+v"(acc[3]));
            }
            for (int j = 0; j < L; j++)
                for (int e = 0; e < 8; e++) sink += acc[j][e];
        }
        t = omp_get_wtime() - t;
        if (t < bestp) bestp = t;
    }
    double flops = 2.0 * 8 * L * reps * omp_get_max_threads();
    printf("stream_gbs %.3f peak_gflops %.3f threads %d sink %g\n", gbs, flops / bestp / 1e9,
           omp_get_max_threads(), sink);
    free(a);
    free(b);
    return 0;
}
