/* tqplan: command-line front end. Initialises MPI through the comm layer, dispatches
 * to a subcommand (src/commands.def), and maps its result to an exit code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "tq_cli.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} command;

static const command commands[] = {
#define TQ_COMMAND(name, help) {#name, tq_cmd_##name, help},
#include "commands.def"
#undef TQ_COMMAND
};

static void usage(FILE *f)
{
    fprintf(f,
            "tqplan %s: sales territory and quota planning at scale\n\n"
            "usage: tqplan SUBCOMMAND [options]     (tqplan SUBCOMMAND --help)\n\n"
            "subcommands:\n",
            TQ_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f,
            "\noptions every subcommand takes:\n"
            "  --json        print a metrics object on stdout\n"
            "  -q, --quiet   no summary line or progress bar\n"
            "  --threads n   OpenMP threads (default: OMP_NUM_THREADS or all cores)\n"
            "\nexit status: 0 ok, 1 bad input or usage, 2 infeasible request,\n"
            "             3 internal or I/O error\n"
            "Run under mpirun to spread the work over ranks. See docs/ for formats.\n");
}

/* Buffers up to 32 MB come from the heap and stay in it when freed, instead of a fresh
 * mmap each time: every page of a fresh mapping faults on first touch, the stages allocate
 * and free such buffers every round (Hessian accumulators, repair sets, chain moves), and
 * on the project's VMs a fault is dear. Measured (bench/RESULTS.md): align 1e6 x 500
 * Hessian 1.4-1.6 s -> 0.9-1.1 s, repair 2.7-3.8 s -> 2.1-2.7 s, the same results, peak
 * RSS 372 -> 359 MB; 1e7 x 1000 294.5 s, peak RSS 3.06 -> 3.23 GB. */
static void tune_malloc(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 32 << 20); /* glibc's largest; larger buffers still mmap */
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_TOP_PAD, 1 << 28);
#endif
}

int main(int argc, char **argv)
{
    int rc = TQ_EXIT_INPUT;
    tune_malloc();
    if (argc < 2) {
        usage(stderr);
        return TQ_EXIT_INPUT;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return TQ_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("tqplan %s\n", TQ_VERSION);
        return TQ_EXIT_OK;
    }
    const command *cmd = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) cmd = &commands[i];
    if (!cmd) {
        fprintf(stderr, "tqplan: error: unknown subcommand '%s' (tqplan --help lists them)\n",
                argv[1]);
        return TQ_EXIT_INPUT;
    }
    tq_comm *comm = tq_comm_world(&argc, &argv);
    tq_g.comm = comm;
    tq_g.rank = tq_comm_rank(comm);
    rc = cmd->run(argc - 1, argv + 1);
    fflush(stdout);
    tq_comm_finalize(&comm);
    return rc;
}
