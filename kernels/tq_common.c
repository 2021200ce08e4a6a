#include "tq_common.h"

#include <omp.h>
#include <time.h>

const char *tq_strstatus(int status)
{
    switch (status) {
    case TQ_OK: return "ok";
    case TQ_EINVAL: return "invalid input";
    case TQ_ENOMEM: return "out of memory";
    case TQ_EIO: return "I/O error";
    case TQ_EMPI: return "MPI error";
    case TQ_EGLPK: return "GLPK solver error";
    case TQ_EINTERNAL: return "internal error";
    case TQ_INFEASIBLE: return "infeasible";
    case TQ_NOT_CONVERGED: return "not converged";
    default: return "unknown status";
    }
}

static int g_threads = 0;

int tq_threads(void)
{
    return g_threads > 0 ? g_threads : omp_get_max_threads();
}

void tq_set_threads(int n)
{
    g_threads = n > 0 ? n : 0;
    if (n > 0) omp_set_num_threads(n);
}

void tq_blocks_init(tq_blocks *b, int64_t n)
{
    int64_t size = (n + TQ_BLOCK_MAX - 1) / TQ_BLOCK_MAX;
    if (size < TQ_BLOCK_MIN) size = TQ_BLOCK_MIN;
    size = (size + 63) / 64 * 64;
    b->n = n;
    b->size = size;
    b->nblocks = n > 0 ? (n + size - 1) / size : 1;
}

void tq_blocks_of_rank(const tq_blocks *b, int rank, int nranks, int64_t *b0, int64_t *b1,
                       int64_t *lo, int64_t *hi)
{
    int64_t s = b->nblocks * rank / nranks, e = b->nblocks * (rank + 1) / nranks;
    if (b0) *b0 = s;
    if (b1) *b1 = e;
    if (lo) *lo = s * b->size < b->n ? s * b->size : b->n;
    if (hi) *hi = e * b->size < b->n ? e * b->size : b->n;
}

double tq_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
