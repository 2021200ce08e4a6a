/* tqplan plan SCENARIO.ini: runs the stages a scenario file names, for several planning
 * scenarios, and ends with one comparison table.
 *
 * The file (docs/plan.md; inputs/demo.ini is an example):
 *   [plan]              out = DIR (default out/<ini name>)
 *   [data]              generate = yes, plus generate options (n, k, features, seed, ...)
 *                       | dataset = file.h5 | accounts = a.csv [territories = t.csv, ...]
 *   [train] [score] [cluster]  run once on the base dataset, in this order; every key
 *                       is that stage's option ([score] model = last_year.json)
 *   [scenario NAME]     one scenario: its keys are `align` options; each scenario works
 *                       on its own copy DIR/NAME.h5 of the base dataset
 *   [quota] [report]    run for every scenario after align (report = yes)
 * A key k = v becomes the option --k v (underscores become dashes); a switch (an option
 * without a value) is given for yes/true/on/1 and left out for no/false/off/0. Keys are
 * checked against the stage's getopt table (tq_opts_*) before anything runs.
 *
 * MPI: all ranks prepare the base dataset together; then the ranks split into
 * min(ranks, scenarios) groups and each group runs its share of the scenarios with its
 * own communicator. Results do not depend on the rank count (each stage is
 * deterministic for any number of ranks). An infeasible scenario (exit 2) is reported
 * in the table and does not stop the others; any other failure stops the plan. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tq_cli.h"
#include "tq_out.h"

#define MAX_KEYS 64
#define MAX_SECTIONS 64

typedef struct {
    char *name;         /* "data", "scenario balanced", ... */
    int line;
    int nkeys;
    char *key[MAX_KEYS], *val[MAX_KEYS];
    int kline[MAX_KEYS]; /* the line of each key */
} section;

typedef struct {
    const char *file;
    FILE *f;
    int line;           /* line being parsed (counted by the reader) */
    int header_line;    /* line of the last [section] header */
    int nsec;
    section sec[MAX_SECTIONS];
    char err[512];
} plan_file;

/* inih's reader callback: fgets that counts lines, so errors can name them. */
static char *read_line(char *buf, int size, void *stream)
{
    plan_file *p = stream;
    char *r = fgets(buf, size, p->f);
    if (r) {
        p->line++;
        const char *q = r + strspn(r, " \t");
        if (*q == '[') p->header_line = p->line;
    }
    return r;
}

static int on_ini(void *user, const char *sec, const char *key, const char *val)
{
    plan_file *p = user;
    int line = p->line;
    section *s = p->nsec ? &p->sec[p->nsec - 1] : NULL;
    if (!s || strcmp(s->name, sec) != 0) {
        for (int i = 0; i < p->nsec; i++)
            if (!strcmp(p->sec[i].name, sec)) {
                snprintf(p->err, sizeof p->err, "%s:%d: section [%s] appears twice", p->file,
                         p->header_line, sec);
                return 0;
            }
        if (p->nsec == MAX_SECTIONS) {
            snprintf(p->err, sizeof p->err, "%s:%d: more than %d sections", p->file, line,
                     MAX_SECTIONS);
            return 0;
        }
        s = &p->sec[p->nsec++];
        s->name = strdup(sec);
        s->line = p->header_line ? p->header_line : line;
    }
    if (!key) return 1; /* section header only */
    if (s->nkeys == MAX_KEYS) {
        snprintf(p->err, sizeof p->err, "%s:%d: more than %d keys in [%s]", p->file, line,
                 MAX_KEYS, sec);
        return 0;
    }
    for (int i = 0; i < s->nkeys; i++)
        if (!strcmp(s->key[i], key)) {
            snprintf(p->err, sizeof p->err, "%s:%d: key '%s' set twice in [%s]", p->file, line,
                     key, sec);
            return 0;
        }
    s->key[s->nkeys] = strdup(key);
    s->val[s->nkeys] = strdup(val);
    s->kline[s->nkeys] = line;
    s->nkeys++;
    return 1;
}

static void plan_free(plan_file *p)
{
    for (int i = 0; i < p->nsec; i++) {
        free(p->sec[i].name);
        for (int j = 0; j < p->sec[i].nkeys; j++) {
            free(p->sec[i].key[j]);
            free(p->sec[i].val[j]);
        }
    }
    p->nsec = 0;
}

static section *find(plan_file *p, const char *name)
{
    for (int i = 0; i < p->nsec; i++)
        if (!strcmp(p->sec[i].name, name)) return &p->sec[i];
    return NULL;
}

static const char *get(const section *s, const char *key)
{
    for (int i = 0; s && i < s->nkeys; i++)
        if (!strcmp(s->key[i], key)) return s->val[i];
    return NULL;
}

static int truthy(const char *v)
{
    return v && (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcasecmp(v, "on") ||
                 !strcmp(v, "1"));
}
static int falsy(const char *v)
{
    return v && (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcasecmp(v, "off") ||
                 !strcmp(v, "0"));
}

/* argv builder */
typedef struct {
    int n;
    char *v[2 * MAX_KEYS + 16];
} args;

static void arg(args *a, const char *s)
{
    if (a->n < (int)(sizeof a->v / sizeof a->v[0]) - 1) a->v[a->n++] = strdup(s);
    a->v[a->n] = NULL;
}

static void args_free(args *a)
{
    for (int i = 0; i < a->n; i++) free(a->v[i]);
    a->n = 0;
}

/* The option of the stage's table `opts` that key names (underscores for dashes). */
static const struct option *key_option(const struct option *opts, const char *key)
{
    char name[128];
    snprintf(name, sizeof name, "%s", key);
    for (char *c = name; *c; c++)
        if (*c == '_') *c = '-';
    for (const struct option *o = opts; o && o->name; o++)
        if (!strcmp(o->name, name)) return o;
    return NULL;
}

/* Keys plan itself takes (they are not the stage's options). */
static int is_plan_key(const char *sec, const char *key)
{
    if (!strcmp(sec, "plan")) return !strcmp(key, "out");
    if (!strcmp(sec, "data"))
        return !strcmp(key, "generate") || !strcmp(key, "dataset") || !strcmp(key, "accounts");
    if (!strcmp(sec, "report")) return !strcmp(key, "enabled");
    return 0;
}

/* Every key of s is an option of the stage it configures (table opts; none for [plan] and
 * [data] with a dataset), and a switch has yes or no: checked before anything runs, so
 * that a typo in [report] does not surface after hours of alignments. Returns 0 or
 * prints the first problem (file:line) and returns -1. */
static int check_keys(const char *file, const section *s, const char *sec,
                      const struct option *opts)
{
    for (int i = 0; i < s->nkeys; i++) {
        if (is_plan_key(sec, s->key[i])) continue;
        const struct option *o = key_option(opts, s->key[i]);
        if (!o || !strcmp(o->name, "help") || !strcmp(o->name, "output")) {
            char known[1024] = "";
            size_t n = 0;
            if (!strcmp(sec, "report")) n = (size_t)snprintf(known, sizeof known, "enabled");
            for (const struct option *q = opts; q && q->name && n < sizeof known - 40; q++) {
                if (!strcmp(q->name, "help") || !strcmp(q->name, "output")) continue;
                n += (size_t)snprintf(known + n, sizeof known - n, "%s%s", n ? ", " : "", q->name);
            }
            for (char *c = known; *c; c++)
                if (*c == '-') *c = '_';
            tq_error("%s:%d: [%s] has no key '%s' (%s%s)", file, s->kline[i], s->name, s->key[i],
                     opts ? "its keys: " : "it takes no other keys",
                     opts ? known : "");
            return -1;
        }
        if (o->has_arg != no_argument && !*s->val[i]) {
            tq_error("%s:%d: [%s] %s has no value", file, s->kline[i], s->name, s->key[i]);
            return -1;
        }
        if (o->has_arg == no_argument && !truthy(s->val[i]) && !falsy(s->val[i])) {
            tq_error("%s:%d: [%s] %s is a switch: yes or no, not '%s'", file, s->kline[i],
                     s->name, s->key[i], s->val[i]);
            return -1;
        }
    }
    return 0;
}

/* Keys of s (but plan's own) as options of the stage's table opts: a switch is given
 * bare when yes and left out when no; any other option takes the value as written (so
 * `seed = 1` and `pair_passes = 0` are values, not switches). Import's repeatable
 * options, a key that cannot repeat here, take lists: `map = a=X, b=Y` becomes --map a=X
 * --map b=Y, and likewise positive, missing and indicator. */
static void arg_keys(args *a, const section *s, const char *sec, const struct option *opts)
{
    for (int i = 0; s && i < s->nkeys; i++) {
        const struct option *o = key_option(opts, s->key[i]);
        if (is_plan_key(sec, s->key[i]) || !o) continue;
        if (o->has_arg == no_argument) {
            if (truthy(s->val[i])) {
                char opt[128];
                snprintf(opt, sizeof opt, "--%s", o->name);
                arg(a, opt);
            }
            continue;
        }
        if (!strcmp(s->key[i], "map") || !strcmp(s->key[i], "positive") ||
            !strcmp(s->key[i], "missing") || !strcmp(s->key[i], "indicator")) {
            char opt[16];
            snprintf(opt, sizeof opt, "--%s", s->key[i]);
            const char *p = s->val[i];
            while (*p) {
                size_t n = strcspn(p, ",");
                const char *b = p, *e = p + n;
                while (b < e && isspace((unsigned char)*b)) b++;
                while (e > b && isspace((unsigned char)e[-1])) e--;
                if (e > b) {
                    char one[512];
                    snprintf(one, sizeof one, "%.*s", (int)(e - b), b);
                    arg(a, opt);
                    arg(a, one);
                }
                p += n + (p[n] == ',');
            }
            continue;
        }
        char opt[128];
        snprintf(opt, sizeof opt, "--%s", o->name);
        arg(a, opt);
        arg(a, s->val[i]);
    }
}

typedef int (*cmd_fn)(int, char **);

/* Runs one stage in-process; prints the command line it stands for. */
static int run(const char *what, cmd_fn fn, args *a)
{
    if (tq_g.rank == 0 && !tq_g.quiet && !tq_g.json) {
        printf("$ tqplan");
        for (int i = 0; i < a->n; i++) printf(" %s", a->v[i]);
        printf("\n");
        fflush(stdout);
    }
    (void)what;
    tq_g.json_mute = 1; /* stage metrics stay in the files; plan prints its own JSON */
    int rc = fn(a->n, a->v);
    tq_g.json_mute = 0;
    return rc;
}

/* Copy src to dst atomically (dst.tmp.PID, then rename). */
static int copy_file(const char *src, const char *dst, tq_err *err)
{
    FILE *in = fopen(src, "rb");
    tq_out o;
    char buf[1 << 16];
    size_t n;
    if (!in) {
        tq_err_set(err, TQ_EINVAL, "%s: %s", src, strerror(errno));
        return TQ_EINVAL;
    }
    if (tq_out_open(&o, dst, err) != TQ_OK) {
        fclose(in);
        return err->status;
    }
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, o.f) != n) break;
    int bad = ferror(in);
    fclose(in);
    if (bad) {
        tq_out_abort(&o);
        tq_err_set(err, TQ_EIO, "%s: read error", src);
        return TQ_EIO;
    }
    return tq_out_commit(&o, err);
}

/* Metrics of the comparison table: (group, attribute, header, scale). */
static const struct {
    const char *obj, *attr, *head;
    double scale;
} cols[] = {
    {"/alignment", "min_workload", "workload min%", 100},
    {"/alignment", "max_workload", "workload max%", 100},
    {"/alignment", "min_potential", "potent. min%", 100},
    {"/alignment", "max_potential", "potent. max%", 100},
    {"/alignment", "mean_km", "mean km", 1},
    {"/alignment", "p90_km", "p90 km", 1},
    {"/alignment", "moved_share_value", "moved value%", 100},
    {"/alignment", "moved_share_accounts", "moved accts%", 100},
    {"/alignment", "gap", "gap%", 100},
    {"/alignment", "seconds", "align s", 1},
    {"/quotas", "gini", "quota gini", 1},
};
#define NCOLS (int)(sizeof cols / sizeof cols[0])

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tqplan plan SCENARIO.ini [--out DIR] [--json]\n\n"
            "Runs the stages the scenario file names (data, train, cluster, then for each\n"
            "[scenario NAME]: align, quota, report) and prints one comparison table\n"
            "(also DIR/comparison.csv). Under mpirun, scenarios are spread over the ranks.\n"
            "See docs/plan.md and inputs/demo.ini.\n");
}

int tq_cmd_plan(int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'}, TQ_CLI_LONGOPTS,
                                         {0, 0, 0, 0}};
    plan_file pf;
    memset(&pf, 0, sizeof pf);
    const char *out = NULL;
    char outbuf[1024], base[1200], fn[1400];
    int c, rc = TQ_EXIT_INPUT, nscen = 0, scen[MAX_SECTIONS];
    int status_of[MAX_SECTIONS];
    tq_err err = {0, ""};
    tq_comm *sub = NULL;
    const tq_comm *world = tq_g.comm;
    int world_rank = tq_g.rank;
    args a = {0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        int r = tq_cli_common_opt(c, optarg);
        if (r < 0) return TQ_EXIT_INPUT;
        if (r) continue;
        switch (c) {
        case 'o': out = optarg; break;
        case 'h': usage(stdout); return TQ_EXIT_OK;
        default: usage(stderr); return TQ_EXIT_INPUT;
        }
    }
    if (optind != argc - 1) {
        tq_error("plan needs exactly one scenario file");
        usage(stderr);
        return TQ_EXIT_INPUT;
    }
    pf.file = argv[optind];
    pf.f = fopen(pf.file, "r");
    int line = pf.f ? ini_parse_stream(read_line, &pf, on_ini, &pf) : -1;
    if (pf.f) fclose(pf.f);
    if (line != 0) {
        if (line < 0) tq_error("%s: cannot open: %s", pf.file, strerror(errno));
        else if (pf.err[0]) tq_error("%s", pf.err);
        else tq_error("%s:%d: not an INI line (expected [section] or key = value)", pf.file, line);
        goto done;
    }
    for (int i = 0; i < pf.nsec; i++) {
        const char *n = pf.sec[i].name;
        if (!strncmp(n, "scenario ", 9) && n[9]) {
            for (const char *q = n + 9; *q; q++)
                if (!(((*q | 32) >= 'a' && (*q | 32) <= 'z') || (*q >= '0' && *q <= '9') ||
                      *q == '_' || *q == '-')) {
                    tq_error("%s:%d: scenario name '%s' may only hold letters, digits, _ and -",
                             pf.file, pf.sec[i].line, n + 9);
                    goto done;
                }
            scen[nscen++] = i;
        } else if (strcmp(n, "plan") && strcmp(n, "data") && strcmp(n, "train") &&
                   strcmp(n, "score") && strcmp(n, "cluster") && strcmp(n, "quota") &&
                   strcmp(n, "report") && strcmp(n, "")) {
            tq_error("%s:%d: unknown section [%s] (known: plan, data, train, score, cluster, "
                     "scenario NAME, quota, report)", pf.file, pf.sec[i].line, n);
            goto done;
        }
    }
    section *data = find(&pf, "data");
    if (!data) {
        tq_error("%s: no [data] section (generate = yes, dataset = FILE.h5 or accounts = FILE.csv)",
                 pf.file);
        goto done;
    }
    if (nscen == 0) {
        tq_error("%s: no [scenario NAME] section", pf.file);
        goto done;
    }
    for (int i = 0; i < pf.nsec; i++) {
        const section *s = &pf.sec[i];
        const char *n = s->name, *kind = strncmp(n, "scenario ", 9) ? n : "scenario";
        const struct option *opts =
            !strcmp(kind, "data")       ? (truthy(get(data, "generate")) ? tq_opts_generate
                                           : get(data, "accounts") ? tq_opts_import : NULL)
            : !strcmp(kind, "train")    ? tq_opts_train
            : !strcmp(kind, "score")    ? tq_opts_score
            : !strcmp(kind, "cluster")  ? tq_opts_cluster
            : !strcmp(kind, "scenario") ? tq_opts_align
            : !strcmp(kind, "quota")    ? tq_opts_quota
            : !strcmp(kind, "report")   ? tq_opts_report
                                        : NULL;
        if (check_keys(pf.file, s, kind, opts) != 0) goto done;
    }
    if (!out) out = get(find(&pf, "plan"), "out");
    if (out && !*out) {
        tq_error("%s: the output directory ([plan] out or --out) is empty", pf.file);
        goto done;
    }
    if (!out) {
        const char *b = strrchr(pf.file, '/');
        b = b ? b + 1 : pf.file;
        snprintf(outbuf, sizeof outbuf, "out/%.*s", (int)(strcspn(b, ".")), b);
        out = outbuf;
    }
    if (world_rank == 0) {
        char tmp[1024];
        snprintf(tmp, sizeof tmp, "%s", out);
        for (char *q = tmp + 1; *q; q++) /* mkdir -p */
            if (*q == '/') {
                *q = 0;
                mkdir(tmp, 0777);
                *q = '/';
            }
        if (mkdir(out, 0777) != 0 && errno != EEXIST) {
            tq_err_set(&err, TQ_EIO, "%s: cannot create directory: %s", out, strerror(errno));
            rc = tq_fail(&err);
            goto done;
        }
    }
    tq_comm_barrier(world);
    snprintf(base, sizeof base, "%s/base.h5", out);

    /* ---- the base dataset ---- */
    const char *gen = get(data, "generate"), *ds = get(data, "dataset"), *acc = get(data, "accounts");
    if ((truthy(gen) != 0) + (ds != NULL) + (acc != NULL) != 1) {
        tq_error("%s:%d: [data] needs exactly one of generate = yes, dataset = FILE.h5, "
                 "accounts = FILE.csv", pf.file, data->line);
        goto done;
    }
    if (truthy(gen) || acc) {
        arg(&a, truthy(gen) ? "generate" : "import");
        if (acc) arg(&a, acc);
        arg_keys(&a, data, "data", truthy(gen) ? tq_opts_generate : tq_opts_import);
        arg(&a, "-o");
        arg(&a, base);
        rc = run("data", truthy(gen) ? tq_cmd_generate : tq_cmd_import, &a);
        args_free(&a);
    } else {
        rc = TQ_EXIT_OK;
        if (world_rank == 0 && copy_file(ds, base, &err) != TQ_OK) rc = tq_fail(&err);
    }
    int ok = rc == TQ_EXIT_OK;
    tq_comm_all(world, &ok);
    if (!ok) goto done_rc;
    static const struct {
        const char *sec;
        cmd_fn fn;
        const struct option *opts;
    } once[] = {{"train", tq_cmd_train, tq_opts_train},
                {"score", tq_cmd_score, tq_opts_score},
                {"cluster", tq_cmd_cluster, tq_opts_cluster}};
    for (size_t i = 0; i < sizeof once / sizeof once[0]; i++) {
        section *s = find(&pf, once[i].sec);
        if (!s) continue;
        arg(&a, once[i].sec);
        arg(&a, base);
        arg_keys(&a, s, once[i].sec, once[i].opts);
        if (once[i].fn == tq_cmd_train && !get(s, "model_out")) { /* the model beside the data */
            snprintf(fn, sizeof fn, "%s/model.json", out);
            arg(&a, "--model-out");
            arg(&a, fn);
        }
        rc = run(once[i].sec, once[i].fn, &a);
        args_free(&a);
        if (rc != TQ_EXIT_OK) goto done_rc;
    }

    /* ---- scenarios, spread over rank groups ---- */
    int P = tq_comm_size(world), G = P < nscen ? P : nscen, color = world_rank % G;
    int st = TQ_OK;
    if (P > 1) {
        sub = tq_comm_split(world, color, &st);
        if (st != TQ_OK) {
            tq_error("plan: cannot split the MPI communicator");
            rc = TQ_EXIT_INTERNAL;
            goto done;
        }
        tq_g.comm = sub;
        tq_g.rank = tq_comm_rank(sub);
    }
    section *quota = find(&pf, "quota"), *report = find(&pf, "report");
    for (int s = 0; s < nscen; s++) status_of[s] = -1;
    for (int s = color; s < nscen; s += G) {
        section *sc = &pf.sec[scen[s]];
        const char *name = sc->name + 9;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s.h5", out, name);
        if (tq_g.rank == 0 && !tq_g.quiet && !tq_g.json) printf("== scenario %s\n", name);
        int r = TQ_EXIT_OK;
        if (tq_g.rank == 0 && copy_file(base, path, &err) != TQ_OK) r = tq_fail(&err);
        int cok = r == TQ_EXIT_OK;
        tq_comm_all(tq_g.comm, &cok);
        if (!cok) r = r ? r : TQ_EXIT_INTERNAL;
        if (r == TQ_EXIT_OK) {
            arg(&a, "align");
            arg(&a, path);
            arg_keys(&a, sc, "scenario", tq_opts_align);
            r = run("align", tq_cmd_align, &a);
            args_free(&a);
        }
        if (r == TQ_EXIT_OK && quota) {
            arg(&a, "quota");
            arg(&a, path);
            arg_keys(&a, quota, "quota", tq_opts_quota);
            r = run("quota", tq_cmd_quota, &a);
            args_free(&a);
        }
        if (r == TQ_EXIT_OK && report && !falsy(get(report, "enabled"))) {
            snprintf(fn, sizeof fn, "%s/%s", out, name);
            arg(&a, "report");
            arg(&a, path);
            arg(&a, "-o");
            arg(&a, fn);
            arg_keys(&a, report, "report", tq_opts_report);
            r = run("report", tq_cmd_report, &a);
            args_free(&a);
        }
        status_of[s] = r;
        if (r != TQ_EXIT_OK && r != TQ_EXIT_INFEASIBLE) break;
    }
    tq_g.comm = world;
    tq_g.rank = world_rank;
    /* every group's rank 0 knows its scenarios' status: take the max over ranks */
    {
        double sv[MAX_SECTIONS];
        for (int s = 0; s < nscen; s++) sv[s] = status_of[s];
        tq_comm_max_f64(world, sv, nscen);
        for (int s = 0; s < nscen; s++) status_of[s] = (int)sv[s];
    }
    rc = TQ_EXIT_OK; /* the first real failure; scenarios after it are "not run" */
    for (int s = 0; s < nscen && rc == TQ_EXIT_OK; s++)
        if (status_of[s] > 0 && status_of[s] != TQ_EXIT_INFEASIBLE) rc = status_of[s];
    if (world_rank != 0) goto done_rc;

    /* ---- comparison table ---- */
    tq_out o;
    snprintf(fn, sizeof fn, "%s/comparison.csv", out);
    if (tq_out_open(&o, fn, &err) != TQ_OK) {
        rc = tq_fail(&err);
        goto done;
    }
    cJSON *jarr = tq_g.json ? cJSON_CreateArray() : NULL;
    /* the table goes where the summary lines go: stdout, or stderr with --json */
    FILE *tf = tq_g.quiet ? NULL : tq_g.json ? stderr : stdout;
    fprintf(o.f, "scenario,status");
    for (int j = 0; j < NCOLS; j++) fprintf(o.f, ",%s", cols[j].attr);
    fputc('\n', o.f);
    if (tf) {
        fprintf(tf, "\n%-16s %-11s", "scenario", "status");
        for (int j = 0; j < NCOLS; j++) fprintf(tf, " %14s", cols[j].head);
        fprintf(tf, "\n");
    }
    for (int s = 0; s < nscen; s++) {
        const char *name = pf.sec[scen[s]].name + 9;
        const char *stat = status_of[s] == TQ_EXIT_OK ? "ok"
                           : status_of[s] == TQ_EXIT_INFEASIBLE ? "infeasible"
                           : status_of[s] < 0 ? "not run" : "failed";
        char path[1400];
        snprintf(path, sizeof path, "%s/%s.h5", out, name);
        cJSON *jo = jarr ? cJSON_CreateObject() : NULL;
        if (jo) {
            cJSON_AddStringToObject(jo, "scenario", name);
            cJSON_AddStringToObject(jo, "status", stat);
            cJSON_AddStringToObject(jo, "file", path);
        }
        fprintf(o.f, "%s,%s", name, stat);
        if (tf) fprintf(tf, "%-16s %-11s", name, stat);
        for (int j = 0; j < NCOLS; j++) {
            double v = status_of[s] == TQ_EXIT_OK ? tq_data_attr_f64(path, cols[j].obj, cols[j].attr) : NAN;
            if (isnan(v)) {
                fprintf(o.f, ",");
                if (tf) fprintf(tf, " %14s", "-");
            } else {
                fprintf(o.f, ",%.10g", v);
                if (tf) fprintf(tf, " %14.4g", v * cols[j].scale);
                if (jo) cJSON_AddNumberToObject(jo, cols[j].attr, v);
            }
        }
        fputc('\n', o.f);
        if (tf) fprintf(tf, "\n");
        if (jo) cJSON_AddItemToArray(jarr, jo);
    }
    if (tq_out_commit(&o, &err) != TQ_OK) {
        rc = tq_fail(&err);
        cJSON_Delete(jarr);
        goto done;
    }
    if (tf)
        fprintf(tf, "\nplan: %d scenarios; datasets %s/<scenario>.h5, reports "
                    "%s/<scenario>/report.html, table %s/comparison.csv\n", nscen, out, out, out);
    fflush(stdout);
    if (jarr) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "command", "plan");
        cJSON_AddStringToObject(j, "out", out);
        cJSON_AddItemToObject(j, "scenarios", jarr);
        tq_json_emit(j);
    }
done_rc:
    goto done;
done:
    tq_g.comm = world;
    tq_g.rank = world_rank;
    tq_comm_split_free(&sub);
    args_free(&a);
    plan_free(&pf);
    return rc;
}
