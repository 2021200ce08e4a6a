/* tqplan report: what people and other systems read.
 *   report.html          self-contained page: summary, SVG map of accounts by territory with
 *                        hulls and centers, balance charts, quota chart, territory table
 *   territories.geojson  one Feature per territory (convex hull polygon, cut in two at
 *                        the antimeridian when it crosses it, or point), and
 *                        its rep home base, with its metrics as properties (RFC 7946)
 *   spm_territories.csv  territory_id, accounts, workload, potential, value, quota, ...
 *   spm_assignments.csv  account_id, territory_id, previous_territory_id, moved, locked
 *   (both CSVs end with effective_start, effective_end when --effective-from/-to)
 * The alignment shown is /alignment/territory, else /clusters/label, else last year's
 * prev_territory. Each file is written to a temporary name and renamed when complete.
 * Runs on rank 0 (other ranks return at once); memory O(N). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tq_cli.h"
#include "tq_model.h"
#include "tq_out.h"

#define DEG (M_PI / 180.0)
#define MAP_POINTS 20000

typedef struct {
    int64_t count, locked, moved;
    double workload, potential, value, moved_value;
    double sx, sy, sz;        /* sum of unit vectors */
    double clat, clon;        /* centroid */
    int has_home;
    double home_lat, home_lon;
    double quota;
    int nh;                   /* hull vertices */
    double *hx, *hy;          /* hull lon, lat */
} terr_stats;

/* CSV field: quoted when it holds a comma, quote or line break. */
static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* JSON / HTML string escaping (UTF-8 passes through). */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void html_str(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* Distinct, deterministic colour for territory k (golden-angle hues). */
static void colour(int k, char *buf, size_t n)
{
    double h = fmod(k * 137.508, 360.0);
    snprintf(buf, n, "hsl(%.0f,%d%%,%d%%)", h, 65 + (k % 3) * 10, 42 + (k % 4) * 6);
}

static double cross(double ox, double oy, double ax, double ay, double bx, double by)
{
    return (ax - ox) * (by - oy) - (ay - oy) * (bx - ox);
}

/* Id of territory j from /territories, or T<j> when the file has none. */
static const char *tq_territory_id(const tq_territories *tt, int j, char *buf, size_t n)
{
    if (j < tt->k) return tt->id + (size_t)j * tt->id_len;
    snprintf(buf, n, "T%d", j);
    return buf;
}

typedef struct { double x, y; } pt;
static int pt_cmp(const void *a, const void *b)
{
    const pt *p = a, *q = b;
    if (p->x != q->x) return p->x < q->x ? -1 : 1;
    return (p->y > q->y) - (p->y < q->y);
}

/* Longitude lon as seen from center c: within 180 degrees of c (beyond +-180 when the
 * two are on either side of the antimeridian); lon itself when c is not a number. */
static double unwrap(double lon, double c)
{
    if (isnan(c)) return lon;
    double d = lon - c;
    if (d > 180) d -= 360;
    else if (d < -180) d += 360;
    return c + d;
}

/* The part of polygon (x, y)[0..n) with x <= b (keep < 0) or x >= b (keep > 0), shifted
 * by dx, into (ox, oy) (room for n + 2 vertices): Sutherland-Hodgman against one
 * vertical line. Returns its vertex count. */
static int clip_x(const double *x, const double *y, int n, double b, int keep, double dx,
                  double *ox, double *oy)
{
    int m = 0;
    for (int i = 0; i < n; i++) {
        int j = (i + 1) % n;
        int in_i = keep < 0 ? x[i] <= b : x[i] >= b, in_j = keep < 0 ? x[j] <= b : x[j] >= b;
        if (in_i) {
            ox[m] = x[i] + dx;
            oy[m++] = y[i];
        }
        if (in_i != in_j && x[j] != x[i]) {
            ox[m] = b + dx;
            oy[m++] = y[i] + (b - x[i]) * (y[j] - y[i]) / (x[j] - x[i]);
        }
    }
    return m;
}

/* A hull in longitudes unwrapped around its territory's center may pass 180 or -180
 * degrees. Then it is cut there into two polygons, the outer one shifted by 360 degrees
 * (RFC 7946 3.1.9: no geometry crosses the antimeridian); else (x, y) is part 0 alone.
 * px[2], py[2] need room for n + 2 vertices each. Returns the number of parts. */
static int antimeridian_parts(const double *x, const double *y, int n, double *px[2],
                              double *py[2], int np[2])
{
    double lo = x[0], hi = x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    if (lo >= -180 && hi <= 180) {
        memcpy(px[0], x, (size_t)n * sizeof *x);
        memcpy(py[0], y, (size_t)n * sizeof *y);
        np[0] = n;
        return 1;
    }
    double b = hi > 180 ? 180 : -180;
    int east = hi > 180;   /* the part past 180 moves to -180 and beyond, and back */
    np[0] = clip_x(x, y, n, b, east ? -1 : 1, 0, px[0], py[0]);
    np[1] = clip_x(x, y, n, b, east ? 1 : -1, east ? -360 : 360, px[1], py[1]);
    if (np[0] >= 3) return np[1] >= 3 ? 2 : 1;
    /* all of it past the line (a sliver on this side at most): the shifted part alone */
    double *tx = px[0], *ty = py[0];
    px[0] = px[1];
    py[0] = py[1];
    px[1] = tx;
    py[1] = ty;
    np[0] = np[1];
    return 1;
}

/* Andrew's monotone chain: convex hull of pts[0..n) (sorted in place) into hx, hy. */
static int hull(pt *p, int64_t n, double *hx, double *hy)
{
    qsort(p, (size_t)n, sizeof *p, pt_cmp);
    int64_t k = 0;
    pt *h = malloc((size_t)(2 * n + 1) * sizeof *h);
    if (!h) return 0;
    for (int64_t i = 0; i < n; i++) {
        while (k >= 2 && cross(h[k - 2].x, h[k - 2].y, h[k - 1].x, h[k - 1].y, p[i].x, p[i].y) <= 0) k--;
        h[k++] = p[i];
    }
    for (int64_t i = n - 2, t = k + 1; i >= 0; i--) {
        while (k >= t && cross(h[k - 2].x, h[k - 2].y, h[k - 1].x, h[k - 1].y, p[i].x, p[i].y) <= 0) k--;
        h[k++] = p[i];
    }
    int m = (int)(k > 1 ? k - 1 : k);
    for (int i = 0; i < m; i++) {
        hx[i] = h[i].x;
        hy[i] = h[i].y;
    }
    free(h);
    return m;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double mean, min, max, cv;
} spread;

static spread spread_of(const terr_stats *t, int k, size_t off)
{
    spread s = {0, INFINITY, -INFINITY, 0};
    double s1 = 0, s2 = 0;
    for (int j = 0; j < k; j++) {
        double v = *(const double *)((const char *)&t[j] + off);
        s1 += v;
        s2 += v * v;
        if (v < s.min) s.min = v;
        if (v > s.max) s.max = v;
    }
    s.mean = k ? s1 / k : 0;
    double var = k ? s2 / k - s.mean * s.mean : 0;
    s.cv = s.mean > 0 ? sqrt(var > 0 ? var : 0) / s.mean : 0;
    return s;
}

/* The propensity model train wrote (/model), if any: its metrics and the features with
 * the largest weights per standard deviation. */
static void model_section(FILE *f, const char *path, const tq_accounts *a)
{
    double *w = NULL;
    int64_t d = 0;
    int width = 0;
    tq_err e = {0, ""};
    if (tq_result_read_f64(path, "/model/weights", &w, &d, &width, &e) != TQ_OK || width != 1 ||
        d != a->d) {
        free(w);
        return;
    }
    double auc = tq_data_attr_f64(path, "/model", "auc");
    char *hashed = tq_data_attr_str(path, "/accounts", "hash_contents");
    double lift = tq_data_attr_f64(path, "/model", "lift_top_decile");
    char *split = tq_data_attr_str(path, "/model", "metrics_split");
    fputs("<h2>Propensity model</h2>\n<p>", f);
    if (isfinite(auc)) fprintf(f, "AUC %.3f", auc);
    if (isfinite(lift)) fprintf(f, ", buyers %.2f times as frequent in the top-scored 10%% as "
                                   "overall", lift);
    if (split) {
        fputs(" (on the ", f);
        html_str(f, split);
        fputs(" rows)", f);
    }
    fputs(". The strongest features, as the change in log-odds per standard deviation "
          "(associations in the training data, not causes):</p>\n<table><tr><th>feature"
          "</th><th>weight</th><th></th></tr>\n", f);
    int top[8], ntop = tq_model_top(w, (int)d, 8, top);
    for (int t = 0; t < ntop; t++) {
        int best = top[t];
        const char *nm = a->feature_names && a->feature_names[best] ? a->feature_names[best] : "?";
        char cats[512];
        fputs("<tr><td>", f);
        html_str(f, nm);
        int slot = tq_hash_describe(hashed, nm, w[best], cats, sizeof cats, NULL, NULL);
        if (slot) {
            fputs(" (", f);   /* a hashed slot: its categories, each with its own effect */
            html_str(f, cats);
            fputs(")", f);
        }
        fprintf(f, "</td><td>%+.3f</td><td>%s</td></tr>\n", w[best],
                slot ? "each category as shown" : w[best] > 0 ? "raises the propensity"
                                                               : "lowers the propensity");
    }
    fputs("</table>\n", f);
    free(hashed);
    free(split);
    free(w);
}

/* A bar chart of one per-territory metric relative to the mean (100%), with a band. */
static void bar_chart(FILE *f, const char *title, const terr_stats *t, int k, size_t off,
                      double tol)
{
    spread s = spread_of(t, k, off);
    const double W = 900, H = 180, pad = 40;
    /* the axis spans the data and the band with a margin (not from 0: balance is about
     * the last few percent), marked at its ends */
    double rmin = s.mean > 0 ? s.min / s.mean : 0, rmax = s.mean > 0 ? s.max / s.mean : 1;
    double tl = tol > 0 ? tol : 0;
    double lo = fmin(rmin, 1 - tl), hi = fmax(rmax, 1 + tl), m = 0.15 * (hi - lo) + 0.01;
    lo = fmax(0, lo - m);
    hi += m;
    double bw = (W - pad) / (k > 0 ? k : 1);
    fprintf(f, "<h3>");
    html_str(f, title);
    fprintf(f, "</h3>\n<svg viewBox=\"0 0 %.0f %.0f\" width=\"100%%\" role=\"img\">\n", W, H + 20);
    double y100 = H - (1 - lo) / (hi - lo) * H;
    if (tol > 0) {
        double ya = H - (1 + tol - lo) / (hi - lo) * H, yb = H - (1 - tol - lo) / (hi - lo) * H;
        fprintf(f, "<rect x=\"%.0f\" y=\"%.1f\" width=\"%.0f\" height=\"%.1f\" fill=\"#dfd\"/>\n",
                pad, ya, W - pad, yb - ya);
    }
    for (int j = 0; j < k; j++) {
        double v = *(const double *)((const char *)&t[j] + off);
        double r = s.mean > 0 ? v / s.mean : 0, y = H - (r - lo) / (hi - lo) * H;
        int out = tol > 0 && (r > 1 + tol + 1e-9 || r < 1 - tol - 1e-9);
        char c[40];
        colour(j, c, sizeof c);
        fprintf(f, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\"%s>"
                   "<title>territory %d: %.4g (%.1f%% of mean)</title></rect>\n",
                pad + j * bw, y, bw > 2 ? bw - 1 : bw, H - y, c,
                out ? " stroke=\"red\" stroke-width=\"2\"" : "", j, v, 100 * r);
    }
    fprintf(f, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#000\" "
               "stroke-dasharray=\"4 3\"/>\n<text x=\"0\" y=\"%.1f\" font-size=\"11\">mean</text>\n",
            pad, W, y100, y100, y100 + 4);
    fprintf(f, "<text x=\"0\" y=\"10\" font-size=\"10\">%.0f%%</text><text x=\"0\" y=\"%.0f\" "
               "font-size=\"10\">%.0f%%</text>\n", 100 * hi, H, 100 * lo);
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\">min %.1f%%, max %.1f%% of mean, "
               "CV %.3f%s</text>\n</svg>\n",
            pad, H + 16, s.mean > 0 ? 100 * s.min / s.mean : 0,
            s.mean > 0 ? 100 * s.max / s.mean : 0, s.cv,
            tol > 0 ? "; green band: tolerance" : "");
}

/* 1 when s is a calendar date written YYYY-MM-DD (years 1000-9999). */
static int iso_date(const char *s)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) return 0;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    if (y < 1000 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1]) return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return !(m == 2 && d == 29 && !leap);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tqplan report data.h5 [-o DIR]\n\n"
            "Writes DIR/report.html (self-contained: SVG map, charts, tables),\n"
            "DIR/territories.geojson, DIR/spm_territories.csv and DIR/spm_assignments.csv\n"
            "for SPM systems. DIR defaults to DATA_report/ beside the dataset.\n"
            "The alignment shown: /alignment, else /clusters, else last year's.\n\n"
            "  -o DIR            output directory (created if missing)\n"
            "  --effective-from YYYY-MM-DD, --effective-to YYYY-MM-DD\n"
            "                    the period the alignment holds: columns effective_start,\n"
            "                    effective_end in both SPM CSVs\n"
            "  --json, -q\n");
}

/* the options (also read by `plan`, which checks a scenario file's keys against them) */
const struct option tq_opts_report[] = {{"output", required_argument, 0, 'o'},
                                     {"effective-from", required_argument, 0, 3001},
                                     {"effective-to", required_argument, 0, 3002},
                                     {"help", no_argument, 0, 'h'}, TQ_CLI_LONGOPTS,
                                     {0, 0, 0, 0}};

int tq_cmd_report(int argc, char **argv)
{
    const struct option *opts = tq_opts_report;
    const char *eff_from = NULL, *eff_to = NULL;
    int c, rc = TQ_EXIT_INPUT;
    const char *dir = NULL;
    char *dirbuf = NULL, *params = NULL;
    tq_err err = {0, ""};
    tq_accounts a = {0};
    tq_territories tt = {0};
    tq_info info;
    int32_t *lab = NULL;
    int64_t nlab = 0, *order = NULL, *start = NULL;
    terr_stats *t = NULL;
    double *quota = NULL;
    pt *pts = NULL;
    double *dist = NULL, *dsort = NULL;
    double *partx[2] = {NULL, NULL}, *party[2] = {NULL, NULL};   /* a hull cut in two */
    tq_out o = {0};
    int k = 0, clusters = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        int r = tq_cli_common_opt(c, optarg);
        if (r < 0) return TQ_EXIT_INPUT;
        if (r) continue;
        switch (c) {
        case 'o': dir = optarg; break;
        case 3001:
        case 3002:
            if (!iso_date(optarg)) {
                tq_error("option --effective-%s: '%s' is not a date YYYY-MM-DD",
                         c == 3001 ? "from" : "to", optarg);
                return TQ_EXIT_INPUT;
            }
            if (c == 3001) eff_from = optarg;
            else eff_to = optarg;
            break;
        case 'h': usage(stdout); return TQ_EXIT_OK;
        default: usage(stderr); return TQ_EXIT_INPUT;
        }
    }
    if (eff_from && eff_to && strcmp(eff_to, eff_from) < 0) {
        tq_error("--effective-to %s is before --effective-from %s", eff_to, eff_from);
        return TQ_EXIT_INPUT;
    }
    /* the period's columns, appended to each row of both SPM CSVs */
    char eff[32] = "";
    if (eff_from || eff_to)
        snprintf(eff, sizeof eff, ",%s,%s", eff_from ? eff_from : "", eff_to ? eff_to : "");
    const char *eff_head = eff[0] ? ",effective_start,effective_end" : "";
    if (optind != argc - 1) {
        tq_error("report needs exactly one dataset file");
        usage(stderr);
        return TQ_EXIT_INPUT;
    }
    const char *path = argv[optind];
    if (dir && !*dir) {
        tq_error("option -o: the directory name is empty");
        return TQ_EXIT_INPUT;
    }
    if (tq_g.rank != 0) return TQ_EXIT_OK;
    double t0 = tq_now();
    if (!dir) {
        size_t n = strlen(path) + 16;
        dirbuf = malloc(n);
        if (!dirbuf) goto nomem;
        snprintf(dirbuf, n, "%s", path);
        char *dot = strrchr(dirbuf, '.');
        if (dot && dot > strrchr(dirbuf, '/')) *dot = 0;
        strcat(dirbuf, "_report");
        dir = dirbuf;
    }
    if (tq_data_info(path, &info, &err) != TQ_OK) goto fail;
    if (tq_accounts_read(path, NULL, TQ_COL_ID | TQ_COL_LATLON | TQ_COL_WORKLOAD | TQ_COL_VALUE |
                         TQ_COL_PREV | TQ_COL_LOCKED | TQ_COL_SCORE, &a, &err) != TQ_OK ||
        tq_accounts_check(path, &a, info.k, NULL, &err) != TQ_OK)
        goto fail;
    int64_t n = a.hi - a.lo;
    const char *source = "/alignment";
    if (tq_result_read_rows_i32(path, NULL, "alignment/territory", &lab, &nlab, &err) != TQ_OK) {
        source = "/clusters";
        if (tq_result_read_rows_i32(path, NULL, "clusters/label", &lab, &nlab, &err) != TQ_OK) {
            source = "last year (prev_territory)";
            lab = malloc((size_t)(n > 0 ? n : 1) * sizeof *lab);
            if (!lab) goto nomem;
            memcpy(lab, a.prev_territory, (size_t)n * sizeof *lab);
            nlab = n;
        }
    }
    if (nlab != n) {
        tq_err_set(&err, TQ_EINVAL, "%s: %s has %lld rows, /accounts has %lld", path, source,
                   (long long)nlab, (long long)n);
        goto fail;
    }
    /* k-means clusters are not territories: named C0000.., no moves, quotas or bases */
    clusters = !strcmp(source, "/clusters");
    if (!strcmp(source, "/alignment") &&
        tq_labels_check(path, "/alignment/territory", &a, lab, info.k, NULL, &err) != TQ_OK)
        goto fail;
    if (clusters && tq_labels_check(path, "/clusters/label", &a, lab, 0, NULL, &err) != TQ_OK)
        goto fail;
    k = info.k;
    if (k > 0 && tq_territories_read(path, &tt, &err) != TQ_OK) goto fail;
    for (int64_t i = 0; i < n; i++)
        if (lab[i] >= k) k = lab[i] + 1;
    if (k <= 0) {
        tq_err_set(&err, TQ_EINVAL, "%s: no territories to report (no /alignment, /clusters, and "
                   "no account has a prev_territory)", path);
        goto fail;
    }
    t = calloc((size_t)k, sizeof *t);
    order = malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
    start = calloc((size_t)k + 1, sizeof *start);
    if (!t || !order || !start) goto nomem;
    {
        double *qv = NULL;
        int64_t qr = 0;
        tq_err e2;
        if (!clusters && tq_result_read_f64(path, "quotas/quota", &qv, &qr, NULL, &e2) == TQ_OK &&
            qr == k)
            quota = qv;
        else
            free(qv);
    }
    int cmp_prev = !clusters;
    int64_t unassigned = 0, moved = 0;
    double moved_value = 0, prev_value = 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t l = lab[i];
        double pot = a.score ? (double)a.value[i] * a.score[i] : a.value[i];
        if (cmp_prev && a.prev_territory[i] >= 0) {
            prev_value += a.value[i];
            if (l != a.prev_territory[i]) {
                moved++;
                moved_value += a.value[i];
            }
        }
        if (l < 0) {
            unassigned++;
            continue;
        }
        terr_stats *s = &t[l];
        s->count++;
        s->workload += a.workload[i];
        s->potential += pot;
        s->value += a.value[i];
        s->locked += a.locked[i] != 0;
        if (cmp_prev && a.prev_territory[i] >= 0 && l != a.prev_territory[i]) {
            s->moved++;
            s->moved_value += a.value[i];
        }
        double la = a.lat[i] * DEG, lo = a.lon[i] * DEG;
        s->sx += cos(la) * cos(lo);
        s->sy += cos(la) * sin(lo);
        s->sz += sin(la);
        start[l + 1]++;
    }
    for (int j = 0; j < k; j++) start[j + 1] += start[j];
    {
        int64_t *fill = malloc((size_t)k * sizeof *fill);
        if (!fill) goto nomem;
        memcpy(fill, start, (size_t)k * sizeof *fill);
        for (int64_t i = 0; i < n; i++)
            if (lab[i] >= 0) order[fill[lab[i]]++] = i;
        free(fill);
    }
    pts = malloc((size_t)(n > 0 ? n : 1) * sizeof *pts);
    dist = malloc((size_t)(n > 0 ? n : 1) * sizeof *dist);
    dsort = malloc((size_t)(n > 0 ? n : 1) * sizeof *dsort);
    if (!pts || !dist || !dsort) goto nomem;
    for (int j = 0; j < k; j++) {
        terr_stats *s = &t[j];
        double r = sqrt(s->sx * s->sx + s->sy * s->sy + s->sz * s->sz);
        s->clat = r > 0 ? asin(s->sz / r) / DEG : NAN;
        s->clon = r > 0 ? atan2(s->sy, s->sx) / DEG : NAN;
        s->has_home = !clusters && j < tt.k && !isnan(tt.home_lat[j]);
        s->home_lat = s->has_home ? tt.home_lat[j] : NAN;
        s->home_lon = s->has_home ? tt.home_lon[j] : NAN;
        s->quota = quota ? quota[j] : NAN;
        /* the outline is the hull of the territory's core: the 90% of its accounts
         * nearest its center (a few far accounts, e.g. locked ones, would otherwise
         * stretch it across the map) */
        int64_t m = start[j + 1] - start[j];
        double cx = r > 0 ? s->sx / r : 0, cy = r > 0 ? s->sy / r : 0, cz = r > 0 ? s->sz / r : 0;
        for (int64_t q = 0; q < m; q++) {
            int64_t i = order[start[j] + q];
            double la = a.lat[i] * DEG, lo = a.lon[i] * DEG;
            double dx = cos(la) * cos(lo) - cx, dy = cos(la) * sin(lo) - cy, dz = sin(la) - cz;
            dist[q] = dx * dx + dy * dy + dz * dz;
            dsort[q] = dist[q];
        }
        int64_t mc = m;
        if (m >= 20) {
            qsort(dsort, (size_t)m, sizeof *dsort, cmp_double);
            double cutoff = dsort[(m * 9) / 10];
            mc = 0;
            for (int64_t q = 0; q < m; q++) {
                if (dist[q] > cutoff) continue;
                int64_t i = order[start[j] + q];
                pts[mc].x = unwrap(a.lon[i], s->clon);
                pts[mc++].y = a.lat[i];
            }
        } else {
            for (int64_t q = 0; q < m; q++) {
                pts[q].x = unwrap(a.lon[order[start[j] + q]], s->clon);
                pts[q].y = a.lat[order[start[j] + q]];
            }
        }
        s->hx = malloc((size_t)(2 * m + 2) * sizeof(double));
        s->hy = malloc((size_t)(2 * m + 2) * sizeof(double));
        if (!s->hx || !s->hy) goto nomem;
        s->nh = mc > 0 ? hull(pts, mc, s->hx, s->hy) : 0;
    }
    {
        int maxh = 0;
        for (int j = 0; j < k; j++)
            if (t[j].nh > maxh) maxh = t[j].nh;
        for (int q = 0; q < 2; q++) {
            partx[q] = malloc((size_t)(maxh + 2) * sizeof(double));
            party[q] = malloc((size_t)(maxh + 2) * sizeof(double));
            if (!partx[q] || !party[q]) goto nomem;
        }
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        tq_err_set(&err, TQ_EIO, "%s: cannot create directory: %s", dir, strerror(errno));
        goto fail;
    }
    char fn[4096];
    char tid[64];
#define TID(j) (!clusters && j < tt.k ? tt.id + (size_t)(j) * tt.id_len \
                                      : (snprintf(tid, sizeof tid, clusters ? "C%04d" : "T%d", j), tid))

    /* ---- SPM CSVs ---- */
    snprintf(fn, sizeof fn, "%s/spm_assignments.csv", dir);
    if (tq_out_open(&o, fn, &err) != TQ_OK) goto fail;
    fprintf(o.f, "account_id,territory_id,previous_territory_id,moved,locked%s\n", eff_head);
    for (int64_t i = 0; i < n; i++) {
        csv_field(o.f, a.id + i * a.id_len);
        fputc(',', o.f);
        if (lab[i] >= 0) csv_field(o.f, TID(lab[i]));
        fputc(',', o.f);
        if (a.prev_territory[i] >= 0) {
            if (clusters) csv_field(o.f, tq_territory_id(&tt, a.prev_territory[i], tid, sizeof tid));
            else csv_field(o.f, TID(a.prev_territory[i]));
        }
        fprintf(o.f, ",%d,%d%s\n", cmp_prev && a.prev_territory[i] >= 0 && lab[i] != a.prev_territory[i],
                a.locked[i] != 0, eff);
    }
    if (tq_out_commit(&o, &err) != TQ_OK) goto fail;

    snprintf(fn, sizeof fn, "%s/spm_territories.csv", dir);
    if (tq_out_open(&o, fn, &err) != TQ_OK) goto fail;
    fprintf(o.f, "territory_id,accounts,workload,potential,value,quota,locked,moved_in,"
                 "center_lat,center_lon,home_lat,home_lon%s\n", eff_head);
    for (int j = 0; j < k; j++) {
        terr_stats *s = &t[j];
        csv_field(o.f, TID(j));
        fprintf(o.f, ",%lld,%.6f,%.6f,%.6f,", (long long)s->count, s->workload, s->potential,
                s->value);
        if (quota) fprintf(o.f, "%.2f", s->quota);
        fprintf(o.f, ",%lld,%lld,%.6f,%.6f,", (long long)s->locked, (long long)s->moved,
                s->clat, s->clon);
        if (s->has_home) fprintf(o.f, "%.6f,%.6f", s->home_lat, s->home_lon);
        else fputc(',', o.f);
        fprintf(o.f, "%s\n", eff);
    }
    if (tq_out_commit(&o, &err) != TQ_OK) goto fail;

    /* ---- GeoJSON ---- */
    snprintf(fn, sizeof fn, "%s/territories.geojson", dir);
    if (tq_out_open(&o, fn, &err) != TQ_OK) goto fail;
    fputs("{\"type\":\"FeatureCollection\",\"features\":[", o.f);
    int first = 1;
    for (int j = 0; j < k; j++) {
        terr_stats *s = &t[j];
        if (s->count == 0) continue;
        fprintf(o.f, "%s\n{\"type\":\"Feature\",\"properties\":{\"kind\":\"territory\",\"id\":",
                first ? "" : ",");
        first = 0;
        json_str(o.f, TID(j));
        fprintf(o.f, ",\"index\":%d,\"accounts\":%lld,\"workload\":%.6f,\"potential\":%.6f,"
                     "\"value\":%.6f,\"moved_in\":%lld,\"center\":[%.6f,%.6f]",
                j, (long long)s->count, s->workload, s->potential, s->value,
                (long long)s->moved, s->clon, s->clat);
        if (quota) fprintf(o.f, ",\"quota\":%.2f", s->quota);
        fputs("},\"geometry\":", o.f);
        if (s->nh >= 3) {
            double *px[2] = {partx[0], partx[1]}, *py[2] = {party[0], party[1]};
            int np[2], parts = antimeridian_parts(s->hx, s->hy, s->nh, px, py, np);
            fputs(parts == 1 ? "{\"type\":\"Polygon\",\"coordinates\":["
                             : "{\"type\":\"MultiPolygon\",\"coordinates\":[", o.f);
            for (int q = 0; q < parts; q++) {
                fputs(parts == 1 ? "[" : q ? ",[[" : "[[", o.f);
                for (int h = 0; h <= np[q]; h++)  /* closed ring, counter-clockwise */
                    fprintf(o.f, "%s[%.6f,%.6f]", h ? "," : "", px[q][h % np[q]],
                            py[q][h % np[q]]);
                fputs(parts == 1 ? "]" : "]]", o.f);
            }
            fputs("]}}", o.f);
        } else {
            fprintf(o.f, "{\"type\":\"Point\",\"coordinates\":[%.6f,%.6f]}}", s->clon, s->clat);
        }
        if (s->has_home) {
            fputs(",\n{\"type\":\"Feature\",\"properties\":{\"kind\":\"home_base\",\"id\":", o.f);
            json_str(o.f, TID(j));
            fprintf(o.f, "},\"geometry\":{\"type\":\"Point\",\"coordinates\":[%.6f,%.6f]}}",
                    s->home_lon, s->home_lat);
        }
    }
    fputs("\n]}\n", o.f);
    if (tq_out_commit(&o, &err) != TQ_OK) goto fail;

    /* ---- HTML ---- */
    params = tq_data_attr_str(path, "/alignment", "parameters");
    double tolw = -1, tolp = -1;
    if (params) {
        cJSON *pj = cJSON_Parse(params);
        const char *kw[] = {"tol_workload", "tol_potential"};
        double *dst[] = {&tolw, &tolp};
        for (int q = 0; q < 2 && pj; q++) {
            cJSON *it = cJSON_GetObjectItemCaseSensitive(pj, kw[q]);
            if (cJSON_IsNumber(it)) *dst[q] = it->valuedouble;
        }
        cJSON_Delete(pj);
    }
    snprintf(fn, sizeof fn, "%s/report.html", dir);
    if (tq_out_open(&o, fn, &err) != TQ_OK) goto fail;
    FILE *f = o.f;
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>tqplan report: ", f);
    html_str(f, path);
    fputs("</title>\n<style>body{font:14px system-ui,sans-serif;margin:24px;max-width:960px}"
          "table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd;"
          "text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}"
          ".kpi{display:inline-block;margin:4px 16px 4px 0}.kpi b{font-size:20px;display:block}"
          "svg{background:#fafafa;border:1px solid #eee}</style></head><body>\n", f);
    fputs("<h1>Territory plan</h1>\n<p>Dataset <code>", f);
    html_str(f, path);
    fprintf(f, "</code>: %lld accounts, %d territories. Alignment shown: <b>", (long long)n, k);
    html_str(f, source);
    fputs("</b>.</p>\n", f);
    spread sw = spread_of(t, k, offsetof(terr_stats, workload));
    spread sp = spread_of(t, k, offsetof(terr_stats, potential));
    fprintf(f, "<div class=\"kpi\"><b>%.1f%%..%.1f%%</b>workload, of mean</div>"
               "<div class=\"kpi\"><b>%.1f%%..%.1f%%</b>potential, of mean</div>"
               "<div class=\"kpi\"><b>%.2f%%</b>of value moved from last year</div>"
               "<div class=\"kpi\"><b>%lld</b>accounts moved</div>\n",
            sw.mean > 0 ? 100 * sw.min / sw.mean : 0, sw.mean > 0 ? 100 * sw.max / sw.mean : 0,
            sp.mean > 0 ? 100 * sp.min / sp.mean : 0, sp.mean > 0 ? 100 * sp.max / sp.mean : 0,
            prev_value > 0 ? 100 * moved_value / prev_value : 0, (long long)moved);
    if (unassigned) fprintf(f, "<p><b>%lld accounts have no territory.</b></p>\n", (long long)unassigned);

    /* map: equirectangular around the 1st..99th percentile box of the accounts */
    int64_t stride = n > MAP_POINTS ? (n + MAP_POINTS - 1) / MAP_POINTS : 1, ns = 0;
    double *la = malloc((size_t)(n / stride + 2) * sizeof *la), *lo = malloc((size_t)(n / stride + 2) * sizeof *lo);
    if (!la || !lo) {
        free(la);
        free(lo);
        goto nomem;
    }
    for (int64_t i = 0; i < n; i += stride, ns++) {
        la[ns] = a.lat[i];
        lo[ns] = a.lon[i];
    }
    double la0 = -10, la1 = 10, lo0 = -10, lo1 = 10;
    /* accounts on both sides of the antimeridian but within half the globe (the Pacific
     * islands): the map starts at the east end of the widest empty band of longitudes,
     * and longitudes west of it are drawn 360 degrees on (wrap_at; -inf: none) */
    double wrap_at = -INFINITY;
    if (ns > 0) {
        qsort(la, (size_t)ns, sizeof *la, cmp_double);
        qsort(lo, (size_t)ns, sizeof *lo, cmp_double);
        double gap = lo[0] + 360 - lo[ns - 1], east = lo[0];
        for (int64_t q = 1; q < ns; q++)
            if (lo[q] - lo[q - 1] > gap) {
                gap = lo[q] - lo[q - 1];
                east = lo[q];
            }
        if (gap > 180 && east > lo[0]) {
            wrap_at = east;
            for (int64_t q = 0; q < ns; q++)
                if (lo[q] < wrap_at) lo[q] += 360;
            qsort(lo, (size_t)ns, sizeof *lo, cmp_double);
        }
        la0 = la[ns / 100];
        la1 = la[ns - 1 - ns / 100];
        lo0 = lo[ns / 100];
        lo1 = lo[ns - 1 - ns / 100];
    }
    free(la);
    free(lo);
    double mlat = 0.5 * (la0 + la1), kx = cos(mlat * DEG);
    double padd = 0.03 * (la1 - la0 + (lo1 - lo0) * kx) + 0.01;
    double X0 = lo0 * kx - padd, X1 = lo1 * kx + padd, Y0 = -la1 - padd, Y1 = -la0 + padd;
    double MW = 960, MH = MW * (Y1 - Y0) / (X1 - X0);
    if (MH > 900) MH = 900;
    double sx = MW / (X1 - X0), sy = MH / (Y1 - Y0), sc = sx < sy ? sx : sy;
#define PX(lon) ((((lon) < wrap_at ? (lon) + 360 : (lon)) * kx - X0) * sc)
#define PY(lat) ((-(lat) - Y0) * sc)
    fprintf(f, "<h2>Map</h2>\n<p>%lld of %lld accounts drawn, coloured by territory; outlines are "
               "convex hulls of the 90%% of each territory's accounts nearest its center, black rings the territory centers, squares the rep home bases.</p>\n"
               "<svg viewBox=\"0 0 %.0f %.0f\" width=\"100%%\" role=\"img\">\n",
            (long long)ns, (long long)n, MW, MH);
    for (int j = 0; j < k; j++) {
        if (t[j].nh < 3) continue;
        char col[40];
        colour(j, col, sizeof col);
        double *px[2] = {partx[0], partx[1]}, *py[2] = {party[0], party[1]};
        int np[2], parts;
        if (wrap_at > -INFINITY) {   /* one piece, moved with its center */
            double off = t[j].clon < wrap_at ? 360 : 0;
            for (int h = 0; h < t[j].nh; h++) {
                px[0][h] = t[j].hx[h] + off;
                py[0][h] = t[j].hy[h];
            }
            np[0] = t[j].nh;
            parts = 1;
        } else {
            parts = antimeridian_parts(t[j].hx, t[j].hy, t[j].nh, px, py, np);
        }
        for (int q = 0; q < parts; q++) {
            fputs("<polygon points=\"", f);
            for (int h = 0; h < np[q]; h++)
                fprintf(f, "%.1f,%.1f ", (px[q][h] * kx - X0) * sc, PY(py[q][h]));
            fprintf(f, "\" fill=\"%s\" fill-opacity=\"0.08\" stroke=\"%s\" stroke-width=\"0.8\"/>\n",
                    col, col);
        }
    }
    for (int64_t i = 0; i < n; i += stride) {
        if (lab[i] < 0) continue;
        char col[40];
        colour(lab[i], col, sizeof col);
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"1.3\" fill=\"%s\"/>\n", PX(a.lon[i]), PY(a.lat[i]), col);
    }
    for (int j = 0; j < k; j++) {
        if (t[j].count == 0) continue;
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"none\" stroke=\"#000\" "
                   "stroke-width=\"1.5\"><title>", PX(t[j].clon), PY(t[j].clat));
        html_str(f, TID(j));
        fprintf(f, ": %lld accounts</title></circle>\n", (long long)t[j].count);
        if (t[j].has_home)
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"5\" height=\"5\" fill=\"#000\"/>\n",
                    PX(t[j].home_lon) - 2.5, PY(t[j].home_lat) - 2.5);
    }
    fputs("</svg>\n<h2>Balance</h2>\n", f);
    bar_chart(f, "Workload per territory (share of the mean)", t, k, offsetof(terr_stats, workload), tolw);
    bar_chart(f, a.score ? "Potential (value x score) per territory" : "Potential (value) per territory",
              t, k, offsetof(terr_stats, potential), tolp);
    if (quota) bar_chart(f, "Quota per territory", t, k, offsetof(terr_stats, quota), -1);

    fputs("<h2>Territories</h2>\n<table><tr><th>territory</th><th>accounts</th><th>workload</th>"
          "<th>potential</th><th>value</th><th>quota</th><th>moved in</th><th>locked</th></tr>\n", f);
    for (int j = 0; j < k; j++) {
        fputs("<tr><td>", f);
        html_str(f, TID(j));
        fprintf(f, "</td><td>%lld</td><td>%.0f</td><td>%.0f</td><td>%.0f</td><td>", (long long)t[j].count,
                t[j].workload, t[j].potential, t[j].value);
        if (quota) fprintf(f, "%.0f", t[j].quota);
        fprintf(f, "</td><td>%lld</td><td>%lld</td></tr>\n", (long long)t[j].moved, (long long)t[j].locked);
    }
    fputs("</table>\n", f);
    model_section(f, path, &a);
    if (params) {
        fputs("<h2>Run</h2>\n<p>Alignment parameters: <code>", f);
        html_str(f, params);
        fputs("</code></p>\n", f);
    }
    fprintf(f, "<p style=\"color:#888\">tqplan %s. Exports: spm_assignments.csv, spm_territories.csv, "
               "territories.geojson.</p>\n</body></html>\n", TQ_VERSION);
    if (tq_out_commit(&o, &err) != TQ_OK) goto fail;
#undef TID
#undef PX
#undef PY
    tq_say("report: %s/report.html, territories.geojson, spm_territories.csv, spm_assignments.csv "
           "(%d territories, %lld accounts, alignment from %s, %.2f s)",
           dir, k, (long long)n, source, tq_now() - t0);
    if (tq_g.json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "command", "report");
        cJSON_AddStringToObject(j, "directory", dir);
        cJSON_AddStringToObject(j, "source", source);
        cJSON_AddNumberToObject(j, "territories", k);
        cJSON_AddNumberToObject(j, "accounts", (double)n);
        cJSON_AddNumberToObject(j, "unassigned", (double)unassigned);
        cJSON_AddNumberToObject(j, "moved", (double)moved);
        cJSON_AddNumberToObject(j, "moved_value_share", prev_value > 0 ? moved_value / prev_value : 0);
        cJSON_AddNumberToObject(j, "workload_cv", sw.cv);
        cJSON_AddNumberToObject(j, "potential_cv", sp.cv);
        tq_json_time(j, "total", tq_now() - t0);
        tq_json_emit(j);
    }
    rc = TQ_EXIT_OK;
    goto done;
nomem:
    tq_err_set(&err, TQ_ENOMEM, "out of memory");
fail:
    tq_out_abort(&o);
    rc = tq_fail(&err);
done:
    if (t)
        for (int j = 0; j < k; j++) {
            free(t[j].hx);
            free(t[j].hy);
        }
    free(t);
    free(order);
    free(start);
    free(pts);
    free(dist);
    free(dsort);
    for (int q = 0; q < 2; q++) {
        free(partx[q]);
        free(party[q]);
    }
    free(quota);
    free(lab);
    free(params);
    free(dirbuf);
    tq_accounts_free(&a);
    tq_territories_free(&tt);
    return rc;
}
