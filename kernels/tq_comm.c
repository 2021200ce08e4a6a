/* tq_comm.c: MPI behind one small interface; see tq_comm.h for the contract. */
#include "tq_comm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef TQ_HAVE_MPI
#include <mpi.h>
#endif

struct tq_comm {
#ifdef TQ_HAVE_MPI
    MPI_Comm mpi;
    int owns_mpi_init;  /* this comm called MPI_Init: finalize calls MPI_Finalize */
#endif
    int rank, size;
};

#ifdef TQ_HAVE_MPI
#define MPI_TRY(call) do { if ((call) != MPI_SUCCESS) return TQ_EMPI; } while (0)
#endif

#ifdef TQ_HAVE_MPI
/* Started by mpirun/srun (or MPI already initialised by the caller)? A plain run stays
 * serial without touching MPI: faster start-up, and no MPI runtime in serial tools. */
static int launched_by_mpi(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE",
                                 "MPI_LOCALNRANKS", NULL};
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}
#endif

tq_comm *tq_comm_world(int *argc, char ***argv)
{
#ifdef TQ_HAVE_MPI
    int inited = 0, provided = 0;
    MPI_Initialized(&inited);
    if (!inited && !launched_by_mpi()) return NULL;
    tq_comm *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (!inited) {
        if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
            free(c);
            return NULL;
        }
        c->owns_mpi_init = 1;
    }
    c->mpi = MPI_COMM_WORLD;
    MPI_Comm_rank(c->mpi, &c->rank);
    MPI_Comm_size(c->mpi, &c->size);
    return c;
#else
    (void)argc;
    (void)argv;
    return NULL;
#endif
}

void tq_comm_finalize(tq_comm **comm)
{
    if (!comm || !*comm) return;
#ifdef TQ_HAVE_MPI
    if ((*comm)->owns_mpi_init) MPI_Finalize();
#endif
    free(*comm);
    *comm = NULL;
}

tq_comm *tq_comm_wrap(void *mpi_comm_ptr)
{
#ifdef TQ_HAVE_MPI
    tq_comm *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->mpi = *(MPI_Comm *)mpi_comm_ptr;
    MPI_Comm_rank(c->mpi, &c->rank);
    MPI_Comm_size(c->mpi, &c->size);
    return c;
#else
    (void)mpi_comm_ptr;
    return NULL;
#endif
}

void tq_comm_free(tq_comm **comm)
{
    if (!comm || !*comm) return;
    free(*comm);
    *comm = NULL;
}

int tq_comm_rank(const tq_comm *comm) { return comm ? comm->rank : 0; }
int tq_comm_size(const tq_comm *comm) { return comm ? comm->size : 1; }

void *tq_comm_mpi(const tq_comm *comm)
{
#ifdef TQ_HAVE_MPI
    return comm ? (void *)&((tq_comm *)comm)->mpi : NULL;
#else
    (void)comm;
    return NULL;
#endif
}

/* Sum per-block partials in block order. With one rank the local rows are all blocks;
 * otherwise every rank gathers all nblocks*m partials (Allgatherv, rank r's blocks
 * being contiguous and in order) and adds them in the same order. */
int tq_comm_sum_blocks(const tq_comm *comm, const tq_blocks *b, const double *local,
                       int64_t m, double *out)
{
    return tq_comm_sum_blocks_from(comm, b, local, m, 0, out);
}

int tq_comm_sum_blocks_from(const tq_comm *comm, const tq_blocks *b, const double *local,
                            int64_t m, int64_t off, double *out)
{
    const double *all = local;
    double *buf = NULL;
    int status = TQ_OK;
    if (tq_comm_size(comm) > 1) {
        int64_t b0, b1;
        tq_blocks_of_rank(b, comm->rank, comm->size, &b0, &b1, NULL, NULL);
        buf = malloc((size_t)(b->nblocks * m) * sizeof *buf);
        if (!buf) return TQ_ENOMEM;
        status = tq_comm_allgatherv(comm, local, b1 - b0, m * (int64_t)sizeof(double), buf);
        if (status != TQ_OK) goto done;
        all = buf;
    }
    /* each entry summed over the blocks in block order; threads take disjoint ranges
     * of entries, so the bits do not depend on their number */
    int64_t nbk = b->nblocks;
#pragma omp parallel for schedule(static) if ((m - off) * nbk > (1 << 16))
    for (int64_t j0 = off; j0 < m; j0 += 512) {
        int64_t j1 = j0 + 512 < m ? j0 + 512 : m;
        for (int64_t j = j0; j < j1; j++) out[j] = 0.0;
        for (int64_t i = 0; i < nbk; i++) {
            const double *row = all + i * m;
            for (int64_t j = j0; j < j1; j++) out[j] += row[j];
        }
    }
done:
    free(buf);
    return status;
}

#ifdef TQ_HAVE_MPI
static int allreduce(const tq_comm *comm, void *v, int64_t m, MPI_Datatype t, MPI_Op op)
{
    if (tq_comm_size(comm) <= 1 || m == 0) return TQ_OK;
    MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, v, (int)m, t, op, comm->mpi));
    return TQ_OK;
}
#endif

int tq_comm_sum_i64(const tq_comm *comm, int64_t *v, int64_t m)
{
#ifdef TQ_HAVE_MPI
    return allreduce(comm, v, m, MPI_INT64_T, MPI_SUM);
#else
    (void)comm; (void)v; (void)m;
    return TQ_OK;
#endif
}

int tq_comm_max_f64(const tq_comm *comm, double *v, int64_t m)
{
#ifdef TQ_HAVE_MPI
    return allreduce(comm, v, m, MPI_DOUBLE, MPI_MAX);
#else
    (void)comm; (void)v; (void)m;
    return TQ_OK;
#endif
}

int tq_comm_min_f64(const tq_comm *comm, double *v, int64_t m)
{
#ifdef TQ_HAVE_MPI
    return allreduce(comm, v, m, MPI_DOUBLE, MPI_MIN);
#else
    (void)comm; (void)v; (void)m;
    return TQ_OK;
#endif
}

int tq_comm_first_row(const tq_comm *comm, double *row, double *aux, int naux)
{
    double first = *row;
    int status = tq_comm_min_f64(comm, &first, 1);
    if (status != TQ_OK) return status;
    if (isinf(first)) return 0;
    /* the lowest rank holding that row (only one does: rows are in one rank's range) */
    double owner = *row == first ? (double)tq_comm_rank(comm) : INFINITY;
    status = tq_comm_min_f64(comm, &owner, 1);
    if (status == TQ_OK) status = tq_comm_bcast(comm, aux, (int64_t)naux * (int64_t)sizeof *aux,
                                                (int)owner);
    if (status != TQ_OK) return status;
    *row = first;
    return 1;
}

int tq_comm_any(const tq_comm *comm, int *flag)
{
#ifdef TQ_HAVE_MPI
    *flag = *flag != 0;
    return allreduce(comm, flag, 1, MPI_INT, MPI_LOR);
#else
    (void)comm; (void)flag;
    return TQ_OK;
#endif
}

int tq_comm_all(const tq_comm *comm, int *flag)
{
#ifdef TQ_HAVE_MPI
    *flag = *flag != 0;
    return allreduce(comm, flag, 1, MPI_INT, MPI_LAND);
#else
    (void)comm; (void)flag;
    return TQ_OK;
#endif
}

int tq_comm_bcast(const tq_comm *comm, void *buf, int64_t bytes, int root)
{
#ifdef TQ_HAVE_MPI
    if (tq_comm_size(comm) <= 1 || bytes == 0) return TQ_OK;
    char *p = buf;
    while (bytes > 0) { /* chunks below INT_MAX */
        int n = bytes > (1 << 30) ? (1 << 30) : (int)bytes;
        MPI_TRY(MPI_Bcast(p, n, MPI_BYTE, root, comm->mpi));
        p += n;
        bytes -= n;
    }
    return TQ_OK;
#else
    (void)comm; (void)buf; (void)bytes; (void)root;
    return TQ_OK;
#endif
}

#ifdef TQ_HAVE_MPI
/* Gather to all (root < 0) or to root: counts in items of a contiguous type. */
static int gatherv(const tq_comm *comm, const void *local, int64_t nlocal, int64_t itemsize,
                   void *out, int root)
{
    int size = comm->size, status = TQ_OK;
    int *counts = NULL, *displs = NULL;
    MPI_Datatype item;
    int cnt = (int)nlocal;
    if (MPI_Type_contiguous((int)itemsize, MPI_BYTE, &item) != MPI_SUCCESS) return TQ_EMPI;
    MPI_Type_commit(&item);
    counts = malloc((size_t)size * sizeof *counts);
    displs = malloc((size_t)size * sizeof *displs);
    if (!counts || !displs) { status = TQ_ENOMEM; goto done; }
    if (MPI_Allgather(&cnt, 1, MPI_INT, counts, 1, MPI_INT, comm->mpi) != MPI_SUCCESS) {
        status = TQ_EMPI;
        goto done;
    }
    for (int r = 0, off = 0; r < size; r++) { displs[r] = off; off += counts[r]; }
    int rc = root < 0
        ? MPI_Allgatherv(local, cnt, item, out, counts, displs, item, comm->mpi)
        : MPI_Gatherv(local, cnt, item, out, counts, displs, item, root, comm->mpi);
    if (rc != MPI_SUCCESS) status = TQ_EMPI;
done:
    MPI_Type_free(&item);
    free(counts);
    free(displs);
    return status;
}
#endif

int tq_comm_allgatherv(const tq_comm *comm, const void *local, int64_t nlocal,
                       int64_t itemsize, void *out)
{
#ifdef TQ_HAVE_MPI
    if (tq_comm_size(comm) > 1) return gatherv(comm, local, nlocal, itemsize, out, -1);
#endif
    (void)comm;
    if (nlocal > 0 && out != local) memmove(out, local, (size_t)(nlocal * itemsize));
    return TQ_OK;
}

int tq_comm_gatherv(const tq_comm *comm, const void *local, int64_t nlocal,
                    int64_t itemsize, void *out, int root)
{
#ifdef TQ_HAVE_MPI
    if (tq_comm_size(comm) > 1) return gatherv(comm, local, nlocal, itemsize, out, root);
#endif
    (void)comm;
    (void)root;
    if (nlocal > 0 && out && out != local) memmove(out, local, (size_t)(nlocal * itemsize));
    return TQ_OK;
}

void tq_comm_barrier(const tq_comm *comm)
{
#ifdef TQ_HAVE_MPI
    if (tq_comm_size(comm) > 1) MPI_Barrier(comm->mpi);
#else
    (void)comm;
#endif
}

tq_comm *tq_comm_split(const tq_comm *comm, int color, int *status)
{
    *status = TQ_OK;
    if (!comm) return NULL;
#ifdef TQ_HAVE_MPI
    tq_comm *c = calloc(1, sizeof *c);
    if (!c) {
        *status = TQ_ENOMEM;
        return NULL;
    }
    if (MPI_Comm_split(comm->mpi, color, comm->rank, &c->mpi) != MPI_SUCCESS) {
        free(c);
        *status = TQ_EMPI;
        return NULL;
    }
    MPI_Comm_rank(c->mpi, &c->rank);
    MPI_Comm_size(c->mpi, &c->size);
    return c;
#else
    (void)color;
    return NULL;
#endif
}

void tq_comm_split_free(tq_comm **comm)
{
    if (!comm || !*comm) return;
#ifdef TQ_HAVE_MPI
    MPI_Comm_free(&(*comm)->mpi);
#endif
    free(*comm);
    *comm = NULL;
}
