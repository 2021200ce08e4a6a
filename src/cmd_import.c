/* cmd_import.c: `tqplan import` -- CSV accounts (and territories) -> validated HDF5
 * dataset. A thin front end: options -> tq_import_params -> tq_import_run. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tq_cli.h"
#include "tq_import.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tqplan import ACCOUNTS.csv [--territories T.csv] -o DATA.h5 [options]\n"
            "\n"
            "Reads a CSV of accounts (the header names the columns, any order) and writes a\n"
            "validated dataset. Columns (docs/formats.md):\n"
            "  id, lat, lon          required (lat in [-90,90], lon in [-180,180], degrees)\n"
            "  workload, value       optional, >= 0, default 1 (also for a blank field)\n"
            "  prev_territory        optional: a territory id of T.csv (with --territories)\n"
            "                        or an integer index 0..K-1; blank = none\n"
            "  locked                optional: 0/1/true/false, blank = 0\n"
            "  label                 optional: 0/1 (or see --positive), blank = unknown\n"
            "  f_NAME                numeric feature NAME; blank = the column's mean\n"
            "  o_NAME                ordered codes in words (\"1 - 10%%\", \"50-199\"): ranked\n"
            "                        0, 1, ... by the first number in each value\n"
            "  c_NAME                categorical: hashed into --hash-slots signed features\n"
            "Territories CSV: id (required), home_lat, home_lon (both or neither; blank =\n"
            "no base), capacity (> 0, default 1). Without it, territories 0..max(prev)\n"
            "are created when prev_territory is given.\n"
            "\n"
            "options:\n"
            "  -o, --output FILE      dataset to write (replaced only when complete)\n"
            "  -t, --territories FILE territories CSV\n"
            "  --ignore-unknown       skip columns with other names (default: error)\n"
            "  --map NAME=COLUMN      read CSV column COLUMN as NAME (repeatable), e.g.\n"
            "                         --map value=population --map f_age=AGE; one column\n"
            "                         may be both: --map workload=pop --map value=pop\n"
            "  --rest f|o|c           read columns of other names as numeric (f), ordered\n"
            "                         (o) or categorical (c) features NAME\n"
            "  --positive V           label values V mean 1 (bought), others 0, blank\n"
            "                         unknown (repeatable), e.g. --positive Won\n"
            "  --missing V            read fields V as blank (repeatable), e.g. --missing NA\n"
            "  --indicator NAME|all   add a feature NAME_missing: 1 where NAME is blank\n"
            "                         (repeatable; all: every f_ and o_ feature)\n"
            "  --like FROM.h5         blanks, o_ levels, hashed slots and indicators as in\n"
            "                         FROM (to score this file with a model trained on FROM)\n"
            "  --max-errors N         report up to N problems, then stop (default 20)\n"
            "  --hash-slots M         feature slots for c_ columns (default 32)\n"
            "  --delimiter C          field separator: one character or 'tab' (default ,)\n"
            "  --decimal , | .        decimal mark of numbers (default .; ',' as in\n"
            "                         --delimiter ';' --decimal , for 52,52;13,40)\n"
            "  --thousands C          workload, value and f_ amounts group thousands with C\n"
            "                         (, . ' or space) and may carry a currency sign:\n"
            "                         \"$1,234.50\" (--thousands ,), 1.234,50 (--thousands .\n"
            "                         --decimal ,)\n"
            "  --json, -q, --threads  as for every subcommand\n"
            "\n"
            "Every problem is reported as FILE:LINE:COLUMN: message (value 'X'); with any\n"
            "problem the exit status is 1 and no output file is written.\n");
}

static void add_stats(cJSON *o, const tq_import_params *p, const tq_import_stats *st)
{
    cJSON_AddStringToObject(o, "command", "import");
    cJSON_AddStringToObject(o, "accounts", p->accounts);
    if (p->territories) cJSON_AddStringToObject(o, "territories", p->territories);
    cJSON_AddStringToObject(o, "output", p->out);
    cJSON_AddNumberToObject(o, "n", (double)st->n);
    cJSON_AddNumberToObject(o, "d", st->d);
    cJSON_AddNumberToObject(o, "numeric_features", st->nf);
    cJSON_AddNumberToObject(o, "categorical_columns", st->nc);
    cJSON_AddNumberToObject(o, "k", st->k);
    cJSON_AddNumberToObject(o, "ignored_columns", st->ignored);
    cJSON_AddNumberToObject(o, "bytes", (double)st->bytes);
    cJSON_AddNumberToObject(o, "errors", st->errors);
    cJSON_AddNumberToObject(o, "blank_workload", (double)st->blank_workload);
    cJSON_AddNumberToObject(o, "blank_value", (double)st->blank_value);
    cJSON_AddNumberToObject(o, "imputed_fields", (double)st->imputed);
    cJSON_AddNumberToObject(o, "imputed_columns", st->imputed_columns);
    cJSON_AddNumberToObject(o, "labels_positive", (double)st->labels_pos);
    cJSON_AddNumberToObject(o, "labels_negative", (double)st->labels_neg);
    cJSON_AddNumberToObject(o, "ordered_columns", st->nord);
    cJSON_AddNumberToObject(o, "indicator_columns", st->nind);
    if (p->like) {
        cJSON_AddStringToObject(o, "like", p->like);
        cJSON_AddNumberToObject(o, "like_new_levels", (double)st->like_new);
    }
    /* each o_ column's levels in rank order */
    cJSON *ord = cJSON_AddObjectToObject(o, "ordered");
    for (const char *r = st->ordered; ord && r && *r;) {
        size_t rl = strcspn(r, "\x1e"), nl = strcspn(r, "\x1f");
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(nl < rl ? nl : rl), r);
        cJSON *lv = cJSON_AddArrayToObject(ord, name);
        for (const char *f = r + nl; lv && f < r + rl && *f == '\x1f';) {
            f++;
            size_t fl = strcspn(f, "\x1f\x1e");
            char *v = strndup(f, fl);
            if (v) cJSON_AddItemToArray(lv, cJSON_CreateString(v));
            free(v);
            f += fl;
        }
        r += rl + (r[rl] != 0);
    }
    tq_json_time(o, "scan", st->t_scan);
    tq_json_time(o, "finish", st->t_finish);
}

/* the options (also read by `plan`, which checks a scenario file's keys against them) */
const struct option tq_opts_import[] = {
    {"output", required_argument, 0, 'o'},
    {"territories", required_argument, 0, 't'},
    {"ignore-unknown", no_argument, 0, 2001},
    {"map", required_argument, 0, 2002},
    {"max-errors", required_argument, 0, 2003},
    {"hash-slots", required_argument, 0, 2004},
    {"delimiter", required_argument, 0, 2005},
    {"rest", required_argument, 0, 2006},
    {"positive", required_argument, 0, 2007},
    {"missing", required_argument, 0, 2008},
    {"indicator", required_argument, 0, 2009},
    {"like", required_argument, 0, 2010},
    {"decimal", required_argument, 0, 2011}, {"thousands", required_argument, 0, 2012},
    {"help", no_argument, 0, 'h'},
    TQ_CLI_LONGOPTS,
    {0, 0, 0, 0}};

int tq_cmd_import(int argc, char **argv)
{
    const struct option *opts = tq_opts_import;
    tq_import_params p;
    tq_import_stats st;
    tq_err err = {0, ""};
    char *maps[TQ_IMPORT_MAX_MAP] = {0};
    int rc = TQ_EXIT_INPUT, c;
    int64_t v;
    tq_import_defaults(&p);
    memset(&st, 0, sizeof st);
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:t:hq", opts, NULL)) != -1) {
        switch (c) {
        case 'o': p.out = optarg; break;
        case 't': p.territories = optarg; break;
        case 2001: p.ignore_unknown = 1; break;
        case 2002: {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg || !eq[1]) {
                tq_error("option --map: '%s' is not NAME=COLUMN", optarg);
                goto done;
            }
            if (p.nmap == TQ_IMPORT_MAX_MAP) {
                tq_error("option --map: at most %d of them", TQ_IMPORT_MAX_MAP);
                goto done;
            }
            maps[p.nmap] = strdup(optarg);
            if (!maps[p.nmap]) goto done;
            maps[p.nmap][eq - optarg] = 0;
            p.map_name[p.nmap] = maps[p.nmap];
            p.map_col[p.nmap] = maps[p.nmap] + (eq - optarg) + 1;
            p.nmap++;
            break;
        }
        case 2003:
            if (tq_parse_i64("--max-errors", optarg, 1, 1000000, &v)) goto done;
            p.max_errors = (int)v;
            break;
        case 2004:
            if (tq_parse_i64("--hash-slots", optarg, 1, 1 << 20, &v)) goto done;
            p.hash_slots = (int)v;
            break;
        case 2005:
            if (!strcmp(optarg, "tab") || !strcmp(optarg, "\\t")) {
                p.delim = '\t';
            } else if (strlen(optarg) == 1) {
                p.delim = optarg[0];
            } else {
                tq_error("option --delimiter: '%s' is not one character (or 'tab')", optarg);
                goto done;
            }
            break;
        case 2006:
            if (strcmp(optarg, "f") && strcmp(optarg, "o") && strcmp(optarg, "c")) {
                tq_error("option --rest: '%s' is not f (numeric), o (ordered) or c "
                         "(categorical)", optarg);
                goto done;
            }
            p.rest = optarg[0];
            break;
        case 2007:
        case 2008: {
            int *n = c == 2007 ? &p.npositive : &p.nmissing;
            const char **v = c == 2007 ? p.positive : p.missing;
            if (*n == TQ_IMPORT_MAX_TOKENS) {
                tq_error("option --%s: at most %d of them", c == 2007 ? "positive" : "missing",
                         TQ_IMPORT_MAX_TOKENS);
                goto done;
            }
            v[(*n)++] = optarg;
            break;
        }
        case 2009:
            if (p.nindicator == TQ_IMPORT_MAX_MAP) {
                tq_error("option --indicator: at most %d of them", TQ_IMPORT_MAX_MAP);
                goto done;
            }
            p.indicator[p.nindicator++] = optarg;
            break;
        case 2010: p.like = optarg; break;
        case 2011:
            if (strcmp(optarg, ".") && strcmp(optarg, ",")) {
                tq_error("option --decimal: '%s' is not . or ,", optarg);
                goto done;
            }
            p.decimal = optarg[0];
            break;
        case 2012:
            if (!strcmp(optarg, "space")) optarg = " ";
            if (strlen(optarg) != 1 || !strchr(",. '", optarg[0])) {
                tq_error("option --thousands: '%s' is not , . ' or space", optarg);
                goto done;
            }
            p.thousands = optarg[0];
            break;
        case 'h':
            if (tq_g.rank == 0) usage(stdout);
            rc = TQ_EXIT_OK;
            goto done;
        default: {
            int took = tq_cli_common_opt(c, optarg);
            if (took < 0) goto done;
            if (!took) {
                if (tq_g.rank == 0) usage(stderr);
                goto done;
            }
        }
        }
    }
    if (optind != argc - 1) {
        tq_error(optind >= argc ? "import: the accounts CSV is missing"
                                : "import: one accounts CSV, got more arguments");
        if (tq_g.rank == 0) usage(stderr);
        goto done;
    }
    p.accounts = argv[optind];
    p.progress = 1;
    const char *bad = tq_import_check(&p);
    if (bad) {
        tq_error("import: %s", bad);
        goto done;
    }
    /* Import is one sequential pass over a text file: rank 0 does it, the other ranks
     * of an mpirun wait for its exit status. */
    int status = TQ_OK;
    if (tq_g.rank == 0) status = tq_import_run(&p, &st, &err);
    tq_comm_bcast(tq_g.comm, &status, sizeof status, 0);
    if (status != TQ_OK) {
        rc = tq_g.rank == 0 ? tq_fail(&err) : tq_exit_code(status);
        goto done;
    }
    if (st.blank_workload)
        tq_warn("%s: %lld blank workload fields read as 1", p.accounts,
                (long long)st.blank_workload);
    if (st.blank_value)
        tq_warn("%s: %lld blank value fields read as 1", p.accounts, (long long)st.blank_value);
    if (p.npositive)
        tq_say("import: labels: %lld positive, %lld other, %lld blank (unknown)",
               (long long)st.labels_pos, (long long)st.labels_neg,
               (long long)(st.n - st.labels_pos - st.labels_neg));
    double t = st.t_scan + st.t_finish;
    if (st.nord)
        tq_say("import: %d ordered column%s, ranked by the first number in each value "
               "(--json lists the order)", st.nord, st.nord > 1 ? "s" : "");
    char ind[64] = "";
    if (st.nind) snprintf(ind, sizeof ind, ", %d missing-value indicators", st.nind);
    tq_say("import: %lld accounts, %d features (%d numeric%s, %d categorical columns "
           "hashed), %d territories -> %s in %.2f s (%.0f rows/s)",
           (long long)st.n, st.d, st.nf, ind, st.nc, st.k, p.out, t,
           t > 0 ? (double)st.n / t : 0.0);
    if (tq_g.json) {
        cJSON *o = cJSON_CreateObject();
        if (o) add_stats(o, &p, &st);
        tq_json_emit(o);
    }
    rc = TQ_EXIT_OK;
done:
    free(st.ordered);
    for (int i = 0; i < TQ_IMPORT_MAX_MAP; i++) free(maps[i]);
    return rc;
}
