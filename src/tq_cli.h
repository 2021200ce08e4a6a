/* tq_cli.h: conventions every subcommand shares: exit codes, error printing, option
 * parsing helpers, --json output, the progress bar.
 *
 * Exit codes (docs/cli.md):
 *   0 ok, 1 bad input or usage, 2 infeasible request, 3 internal or I/O error. */
#ifndef TQ_CLI_H
#define TQ_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "tq_comm.h"
#include "tq_data.h"

enum { TQ_EXIT_OK = 0, TQ_EXIT_INPUT = 1, TQ_EXIT_INFEASIBLE = 2, TQ_EXIT_INTERNAL = 3 };

/* Exit code for a TQ_* status (EINVAL -> 1, INFEASIBLE -> 2, others -> 3). */
int tq_exit_code(int status);

/* Options every subcommand accepts (parsed by tq_cli_common_opt). */
typedef struct {
    int json;          /* --json: metrics object on stdout */
    int quiet;         /* -q: no summary line, no progress bar */
    int threads;       /* --threads n (0 = policy default) */
    const tq_comm *comm;
    int rank;          /* this process's rank; only rank 0 prints */
    int json_mute;     /* set by `plan` around its stages: their JSON is dropped */
} tq_cli;

/* Process-wide run context, filled by main(). */
extern tq_cli tq_g;

/* "tqplan: error: ..." on stderr (rank 0 only unless every rank fails alone). */
void tq_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tq_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints err->msg and returns tq_exit_code(err->status). */
int tq_fail(const tq_err *err);
/* Summary line on stdout (stderr when --json), unless -q; rank 0 only. */
void tq_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Number parsing for options: on error prints "option --X: 'value' is not ..." and
 * returns -1. */
int tq_parse_i64(const char *opt, const char *s, int64_t min, int64_t max, int64_t *out);
int tq_parse_f64(const char *opt, const char *s, double min, double max, double *out);
/* "10%" -> 0.10, "0.1" -> 0.1 */
int tq_parse_share(const char *opt, const char *s, double *out);
/* A file name: not empty ("option --X: the file name is empty", -1 otherwise). */
int tq_parse_file(const char *opt, const char *s, const char **out);

/* getopt_long entries and handler for --json, -q, --threads; call from the default
 * branch of a subcommand's option loop: returns 1 if it took the option. */
#define TQ_CLI_LONGOPTS \
    {"json", no_argument, 0, 1001}, {"quiet", no_argument, 0, 'q'}, \
    {"threads", required_argument, 0, 1002}
int tq_cli_common_opt(int c, const char *arg);

/* --json: print obj on stdout (rank 0) and delete it. */
void tq_json_emit(cJSON *obj);
/* Adds {"phase": seconds} timings under "time" to obj. */
void tq_json_time(cJSON *obj, const char *phase, double seconds);

/* Progress bar on stderr, only when stderr is a terminal, not -q, rank 0. */
typedef struct {
    const char *label;
    int64_t total;
    double t0, last;
    int active;
} tq_progress;
void tq_progress_start(tq_progress *p, const char *label, int64_t total);
void tq_progress_update(tq_progress *p, int64_t done);
void tq_progress_end(tq_progress *p);
/* A tq_progress_hook for kernels: ctx is a started tq_progress (total is taken from
 * the kernel's calls). */
void tq_progress_hook_cli(void *ctx, double done, double total);

/* The long options of the stages `plan` runs (each subcommand's getopt_long table). */
extern const struct option tq_opts_generate[], tq_opts_import[], tq_opts_train[],
    tq_opts_score[], tq_opts_cluster[], tq_opts_align[], tq_opts_quota[], tq_opts_report[];

/* Subcommands (src/commands.def): argv[0] is the subcommand name; return an exit code. */
#define TQ_COMMAND(name, help) int tq_cmd_##name(int argc, char **argv);
#include "commands.def"
#undef TQ_COMMAND

#endif
