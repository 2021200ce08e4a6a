/* tq_comm.h: the one layer that talks MPI (PETSc style: kernels never call MPI_*).
 *
 * A kernel receives `const tq_comm *comm`; NULL means a single process, and every call
 * below is then a local no-op or copy, so kernels run serial unchanged. A tq_comm wraps
 * an MPI communicator; it is created by the program (tq_comm_world) and passed down.
 *
 * Reductions that must be bit-identical for any rank count go through
 * tq_comm_sum_blocks: each rank hands in one partial vector per block it owns (in the
 * fixed partition of tq_common.h), all partials are gathered and summed in global block
 * order on every rank. Integer sums, max and min are order-independent and use
 * MPI_Allreduce directly. */
#ifndef TQ_COMM_H
#define TQ_COMM_H

#include <stdint.h>

#include "tq_common.h"

typedef struct tq_comm tq_comm;

/* MPI_Init (thread level FUNNELED) if needed, and a comm over MPI_COMM_WORLD. Returns
 * NULL (serial) when built without MPI, or when the process was not started by an MPI
 * launcher (mpirun, srun: detected by its environment) and MPI is not initialised. */
tq_comm *tq_comm_world(int *argc, char ***argv);
/* Frees the comm and calls MPI_Finalize if tq_comm_world initialised MPI. NULL-safe. */
void tq_comm_finalize(tq_comm **comm);
/* Wrap an existing MPI_Comm (passed as a pointer to it, to keep mpi.h out of this
 * header). The caller keeps ownership of the MPI_Comm; free with tq_comm_free. */
tq_comm *tq_comm_wrap(void *mpi_comm_ptr);
void tq_comm_free(tq_comm **comm);

int tq_comm_rank(const tq_comm *comm);
int tq_comm_size(const tq_comm *comm);

/* out[j] = sum over blocks b in [0, nblocks) in increasing b of part[b][j], j < m.
 * `local` holds this rank's blocks [b0, b1) as (b1-b0) rows of m doubles (row-major),
 * where [b0,b1) is tq_blocks_of_rank for this rank. Every rank gets `out`.
 * Cost: nblocks*m doubles gathered and added. Returns TQ_OK or TQ_EMPI/TQ_ENOMEM. */
int tq_comm_sum_blocks(const tq_comm *comm, const tq_blocks *b, const double *local,
                       int64_t m, double *out);
/* The same for entries [off, m) of each row only (into out[off .. m)). */
int tq_comm_sum_blocks_from(const tq_comm *comm, const tq_blocks *b, const double *local,
                            int64_t m, int64_t off, double *out);

/* In-place allreduce, order-independent (exact for integers, max, min). */
int tq_comm_sum_i64(const tq_comm *comm, int64_t *v, int64_t m);
int tq_comm_max_f64(const tq_comm *comm, double *v, int64_t m);
int tq_comm_min_f64(const tq_comm *comm, double *v, int64_t m);
/* The lowest of the ranks' candidate rows and what its rank says about it: *row is a
 * global row or +inf (none here); on return it is the minimum over ranks, and aux[naux]
 * (e.g. column and value, NaN allowed) is broadcast from the rank that holds it. Returns
 * 1 if some rank had a row, 0 if none, or a negative TQ_E* status. */
int tq_comm_first_row(const tq_comm *comm, double *row, double *aux, int naux);
/* Logical OR / AND of an int flag over ranks. */
int tq_comm_any(const tq_comm *comm, int *flag);
int tq_comm_all(const tq_comm *comm, int *flag);

/* Broadcast `bytes` bytes from `root` to all ranks. */
int tq_comm_bcast(const tq_comm *comm, void *buf, int64_t bytes, int root);

/* Concatenate each rank's `nlocal` items of `itemsize` bytes, in rank order, into `out`
 * on every rank (out must hold the global total). */
int tq_comm_allgatherv(const tq_comm *comm, const void *local, int64_t nlocal,
                       int64_t itemsize, void *out);
/* Same, onto rank `root` only (out may be NULL elsewhere). */
int tq_comm_gatherv(const tq_comm *comm, const void *local, int64_t nlocal,
                    int64_t itemsize, void *out, int root);

void tq_comm_barrier(const tq_comm *comm);

/* Split comm into groups by color (MPI_Comm_split, ranks keep their order). Collective.
 * Returns NULL for a serial comm (NULL in, NULL out) or on failure (*status set). Free
 * with tq_comm_split_free. */
tq_comm *tq_comm_split(const tq_comm *comm, int color, int *status);
void tq_comm_split_free(tq_comm **comm);

/* The MPI_Comm inside (as void *: cast to MPI_Comm *), or NULL without MPI. For the I/O
 * layer (parallel HDF5), never for kernels. */
void *tq_comm_mpi(const tq_comm *comm);

#endif
