/* tq_places.c: load the places table (lat,lon,population,iso2,name; no quoting). */
#include "tq_places.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static FILE *open_places(const char *path, char *used, size_t n)
{
    const char *env = getenv("TQ_PLACES");
    char exe[PATH_MAX];
    if (path) {
        snprintf(used, n, "%s", path);
        return fopen(path, "r");
    }
    if (env) {
        snprintf(used, n, "%s", env);
        return fopen(env, "r");
    }
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(used, n, "%s/../inputs/places.csv", exe);
            FILE *f = fopen(used, "r");
            if (f) return f;
        }
    }
    snprintf(used, n, "%s/inputs/places.csv", TQ_SOURCE_DIR);
    return fopen(used, "r");
}

int tq_places_load(const char *path, const char *iso2, tq_places *p, tq_err *err)
{
    char used[PATH_MAX + 32], line[1024];
    int status = TQ_EINVAL, cap = 0, row = 1;
    FILE *f = open_places(path, used, sizeof used);
    memset(p, 0, sizeof *p);
    if (!f) {
        tq_err_set(err, TQ_EINVAL, "%s: cannot open places table: %s", used, strerror(errno));
        return TQ_EINVAL;
    }
    if (!fgets(line, sizeof line, f) || strncmp(line, "lat,lon,population,iso2", 23) != 0) {
        tq_err_set(err, TQ_EINVAL, "%s:1: header must start with lat,lon,population,iso2", used);
        goto done;
    }
    int all = !iso2 || !strcmp(iso2, "all") || !*iso2;
    while (fgets(line, sizeof line, f)) {
        char *end, *q = line;
        row++;
        double lat = strtod(q, &end);
        if (*end != ',') goto bad;
        double lon = strtod(q = end + 1, &end);
        if (*end != ',') goto bad;
        double pop = strtod(q = end + 1, &end);
        if (*end != ',' || pop <= 0 || lat < -90 || lat > 90 || lon < -180 || lon > 180) goto bad;
        q = end + 1;
        char *comma = strchr(q, ',');
        if (!comma) goto bad;
        *comma = 0;
        if (!all && strcasecmp(q, iso2) != 0) continue;
        if (p->n == cap) {
            cap = cap ? 2 * cap : 4096;
            double *a = realloc(p->lat, (size_t)cap * sizeof *a);
            if (a) p->lat = a;
            double *b = realloc(p->lon, (size_t)cap * sizeof *b);
            if (b) p->lon = b;
            double *c = realloc(p->pop, (size_t)cap * sizeof *c);
            if (c) p->pop = c;
            if (!a || !b || !c) {
                status = TQ_ENOMEM;
                tq_err_set(err, status, "out of memory loading %s", used);
                goto done;
            }
        }
        p->lat[p->n] = lat;
        p->lon[p->n] = lon;
        p->pop[p->n] = pop;
        p->n++;
        continue;
    bad:
        tq_err_set(err, TQ_EINVAL, "%s:%d: bad places row '%.60s'", used, row, line);
        goto done;
    }
    if (p->n == 0) {
        tq_err_set(err, TQ_EINVAL, "%s: no places for country '%s' (use an ISO code such as US, "
                   "DE, IN, or 'all')", used, iso2);
        goto done;
    }
    p->cum = malloc((size_t)p->n * sizeof *p->cum);
    if (!p->cum) {
        status = TQ_ENOMEM;
        tq_err_set(err, status, "out of memory");
        goto done;
    }
    double s = 0;
    for (int i = 0; i < p->n; i++) p->cum[i] = s += p->pop[i];
    status = TQ_OK;
done:
    fclose(f);
    if (status != TQ_OK) tq_places_free(p);
    return status;
}

void tq_places_free(tq_places *p)
{
    if (!p) return;
    free(p->lat);
    free(p->lon);
    free(p->pop);
    free(p->cum);
    memset(p, 0, sizeof *p);
}

int tq_places_pick(const tq_places *p, double u)
{
    double x = u * p->cum[p->n - 1];
    int lo = 0, hi = p->n - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (p->cum[mid] > x) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}
