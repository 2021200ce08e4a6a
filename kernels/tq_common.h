/* tq_common.h: status codes, the thread policy and the fixed block partition that
 * every kernel shares.
 *
 * Status codes (SuiteSparse style): TQ_OK is 0, errors are negative, numeric
 * outcomes that are not errors (infeasible, not converged) are positive.
 *
 * Determinism: the N rows of a problem are cut into blocks whose size depends on N
 * only (never on threads or ranks). Each block's partial result is computed by one
 * thread, and partials are combined in block order (tq_comm_sum_blocks), so every
 * reduction gives bit-identical results for any thread or rank count. */
#ifndef TQ_COMMON_H
#define TQ_COMMON_H

#include <stddef.h>
#include <stdint.h>

enum {
    TQ_OK = 0,
    TQ_EINVAL = -1,       /* bad input or parameters */
    TQ_ENOMEM = -2,       /* out of memory */
    TQ_EIO = -3,          /* file read/write failed */
    TQ_EMPI = -4,         /* MPI call failed */
    TQ_EGLPK = -5,        /* GLPK failed (not infeasibility: a solver error) */
    TQ_EINTERNAL = -6,    /* a bug: an invariant did not hold */
    TQ_INFEASIBLE = 1,    /* the request has no solution (tolerance too tight, ...) */
    TQ_NOT_CONVERGED = 2  /* stopped at the iteration limit; result usable */
};

/* A short English text for a status code. */
const char *tq_strstatus(int status);

/* Thread policy, decided in one place: OMP_NUM_THREADS if set, else all cores.
 * tq_set_threads(n > 0) overrides it (the CLI's --threads). */
int tq_threads(void);
void tq_set_threads(int n);

/* ---- fixed block partition ------------------------------------------------------------
 * Blocks have TQ_BLOCK_MIN rows or more, at most TQ_BLOCK_MAX blocks in all; the size
 * depends only on n. Rank r of P owns blocks [r*nb/P, (r+1)*nb/P): a contiguous row
 * range, so a rank reads one hyperslab. */
#define TQ_BLOCK_MIN 4096
#define TQ_BLOCK_MAX 256

typedef struct {
    int64_t n;        /* global rows */
    int64_t size;     /* rows per block (the last block may be shorter) */
    int64_t nblocks;  /* number of blocks, >= 1 (an empty problem has one empty block) */
} tq_blocks;

void tq_blocks_init(tq_blocks *b, int64_t n);
static inline int64_t tq_block_lo(const tq_blocks *b, int64_t i) { return i * b->size; }
static inline int64_t tq_block_hi(const tq_blocks *b, int64_t i)
{
    int64_t hi = (i + 1) * b->size;
    return hi < b->n ? hi : b->n;
}
/* Blocks [*b0, *b1) and rows [*lo, *hi) owned by rank `rank` of `nranks`. */
void tq_blocks_of_rank(const tq_blocks *b, int rank, int nranks, int64_t *b0, int64_t *b1,
                       int64_t *lo, int64_t *hi);

/* Progress hook a kernel calls between its rounds (iterations, epochs, price rounds):
 * done of total units. Set by the CLI to draw a progress bar; NULL = none. */
typedef void (*tq_progress_hook)(void *ctx, double done, double total);

/* Wall-clock seconds (monotonic). */
double tq_now(void);

/* A 64-bit counter-based random generator (splitmix64): the value for (seed, i) does not
 * depend on how many values were drawn before, so row i gets the same random numbers
 * whichever thread or rank draws them. */
static inline uint64_t tq_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}
/* Uniform double in [0,1) from (seed, stream, index). */
static inline double tq_rand_uniform(uint64_t seed, uint64_t stream, uint64_t i)
{
    uint64_t x = tq_mix64(seed ^ tq_mix64(stream * 0x632be59bd9b4e019ULL ^ tq_mix64(i)));
    return (double)(x >> 11) * 0x1.0p-53;
}

#endif
