/* tq_cli.c: shared CLI conventions; see tq_cli.h. */
#include "tq_cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

tq_cli tq_g = {0, 0, 0, NULL, 0, 0};

int tq_exit_code(int status)
{
    if (status == TQ_OK) return TQ_EXIT_OK;
    if (status == TQ_EINVAL) return TQ_EXIT_INPUT;
    if (status == TQ_INFEASIBLE) return TQ_EXIT_INFEASIBLE;
    if (status == TQ_NOT_CONVERGED) return TQ_EXIT_OK;
    return TQ_EXIT_INTERNAL;
}

void tq_err_set(tq_err *err, int status, const char *fmt, ...)
{
    if (!err) return;
    va_list ap;
    err->status = status;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

static void vreport(const char *kind, const char *fmt, va_list ap)
{
    if (tq_g.rank != 0) return;
    fprintf(stderr, "tqplan: %s: ", kind);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void tq_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("error", fmt, ap);
    va_end(ap);
}

void tq_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("warning", fmt, ap);
    va_end(ap);
}

int tq_fail(const tq_err *err)
{
    tq_error("%s", err->msg[0] ? err->msg : tq_strstatus(err->status));
    return tq_exit_code(err->status ? err->status : TQ_EINTERNAL);
}

void tq_say(const char *fmt, ...)
{
    if (tq_g.quiet || tq_g.rank != 0) return;
    FILE *f = tq_g.json ? stderr : stdout;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fflush(f);
}

int tq_parse_i64(const char *opt, const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    /* accept 1e6-style integers too */
    if (end && (*end == 'e' || *end == 'E' || *end == '.')) {
        double d = strtod(s, &end);
        if (*end || d != floor(d) || fabs(d) > 9e18) goto bad;
        v = (long long)d;
    } else if (errno || !end || end == s || *end) {
        goto bad;
    }
    if (v < min || v > max) {
        tq_error("option %s: %s is out of range [%lld, %lld]", opt, s, (long long)min,
                 (long long)max);
        return -1;
    }
    *out = v;
    return 0;
bad:
    tq_error("option %s: '%s' is not an integer", opt, s);
    return -1;
}

int tq_parse_f64(const char *opt, const char *s, double min, double max, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || !end || end == s || *end || !isfinite(v)) {
        tq_error("option %s: '%s' is not a number", opt, s);
        return -1;
    }
    if (v < min || v > max) {
        tq_error("option %s: %s is out of range [%g, %g]", opt, s, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int tq_parse_file(const char *opt, const char *s, const char **out)
{
    if (!*s) {
        tq_error("option %s: the file name is empty", opt);
        return -1;
    }
    *out = s;
    return 0;
}

int tq_parse_share(const char *opt, const char *s, double *out)
{
    size_t len = strlen(s);
    if (len > 1 && s[len - 1] == '%') {
        char buf[64];
        if (len >= sizeof buf) goto bad;
        memcpy(buf, s, len - 1);
        buf[len - 1] = 0;
        double v;
        if (tq_parse_f64(opt, buf, 0, 100, &v)) return -1;
        *out = v / 100.0;
        return 0;
    }
    return tq_parse_f64(opt, s, 0, 1, out);
bad:
    tq_error("option %s: '%s' is not a share (e.g. 10%% or 0.1)", opt, s);
    return -1;
}

int tq_cli_common_opt(int c, const char *arg)
{
    int64_t v;
    switch (c) {
    case 1001: tq_g.json = 1; return 1;
    case 'q': tq_g.quiet = 1; return 1;
    case 1002:
        if (tq_parse_i64("--threads", arg, 1, 4096, &v)) return -1;
        tq_g.threads = (int)v;
        tq_set_threads((int)v);
        return 1;
    default: return 0;
    }
}

void tq_json_emit(cJSON *obj)
{
    if (!obj) return;
    if (tq_g.rank == 0 && !tq_g.json_mute) {
        char *s = cJSON_PrintUnformatted(obj);
        if (s) {
            fputs(s, stdout);
            fputc('\n', stdout);
            fflush(stdout);
            cJSON_free(s);
        }
    }
    cJSON_Delete(obj);
}

void tq_json_time(cJSON *obj, const char *phase, double seconds)
{
    cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, "time");
    if (!t) t = cJSON_AddObjectToObject(obj, "time");
    if (t) cJSON_AddNumberToObject(t, phase, seconds);
}

void tq_progress_start(tq_progress *p, const char *label, int64_t total)
{
    p->label = label;
    p->total = total > 0 ? total : 1;
    p->t0 = p->last = tq_now();
    p->active = !tq_g.quiet && tq_g.rank == 0 && isatty(STDERR_FILENO);
}

void tq_progress_update(tq_progress *p, int64_t done)
{
    if (!p->active) return;
    double now = tq_now();
    if (now - p->last < 0.2 && done < p->total) return;
    p->last = now;
    double frac = (double)done / (double)p->total;
    if (frac > 1) frac = 1;
    int w = 30, fill = (int)(frac * w);
    fprintf(stderr, "\r%-10s [", p->label);
    for (int i = 0; i < w; i++) fputc(i < fill ? '#' : '.', stderr);
    double el = now - p->t0;
    fprintf(stderr, "] %5.1f%%  %.1fs", 100 * frac, el);
    if (frac > 0.02 && frac < 1) fprintf(stderr, "  eta %.0fs ", el / frac - el);
    fflush(stderr);
}

void tq_progress_end(tq_progress *p)
{
    if (!p->active) return;
    tq_progress_update(p, p->total);
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
    p->active = 0;
}

void tq_progress_hook_cli(void *ctx, double done, double total)
{
    tq_progress *p = ctx;
    if (total >= 1) p->total = (int64_t)total;
    tq_progress_update(p, (int64_t)done);
}
