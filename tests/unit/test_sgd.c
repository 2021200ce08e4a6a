/* test_sgd.c: the SGD logistic-regression kernel against references:
 * finite differences of its own objective, Newton's method (a closed reference on tiny
 * separable and non-separable sets), determinism across thread counts and between
 * in-memory and streamed (out-of-core) rows, and bad input. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tq_common.h"
#include "tq_sgd.h"

typedef struct {
    int64_t n;
    int d;
    float *x;
    int8_t *y;
} set;

static double gauss(uint64_t seed, uint64_t i)
{
    double u1 = tq_rand_uniform(seed, 1, i), u2 = tq_rand_uniform(seed, 2, i);
    return sqrt(-2.0 * log(u1 + 1e-300)) * cos(2 * M_PI * u2);
}

/* Features x_j = offset_j + scale_j * N(0,1); label ~ Bernoulli(sigma(sharp * t . u))
 * (sharp large = nearly separable); label -1 on every `unl`-th row when unl > 0. */
static set make_set(int64_t n, int d, double sharp, int unl, uint64_t seed)
{
    set s = {n, d, malloc((size_t)(n * d) * sizeof(float)), malloc((size_t)n)};
    for (int64_t i = 0; i < n; i++) {
        double z = -0.5;
        for (int j = 0; j < d; j++) {
            double u = gauss(seed, (uint64_t)(i * d + j));
            s.x[i * d + j] = (float)(10.0 * j + (1.0 + j) * u);
            z += sharp * ((j % 3) - 1.0 + 0.5 / (j + 1)) * u;
        }
        double pr = 1.0 / (1.0 + exp(-z));
        s.y[i] = tq_rand_uniform(seed, 3, (uint64_t)i) < pr ? 1 : 0;
        if (unl > 0 && i % unl == unl - 1) s.y[i] = -1;
    }
    return s;
}

static void set_free(set *s)
{
    free(s->x);
    free(s->y);
}

static tq_sgd_data data_of(const set *s)
{
    tq_sgd_data d = {s->n, s->d, 0, s->n, s->x, s->y, NULL, NULL};
    return d;
}

/* A streaming source over a set, counting reads. */
typedef struct {
    const set *s;
    int calls;
} src;
static int src_read(void *ctx, int64_t r0, int64_t r1, float *xb, int8_t *yb, char *msg,
                    size_t msgsize)
{
    src *c = ctx;
    (void)msg;
    (void)msgsize;
    c->calls++;
    memcpy(xb, c->s->x + r0 * c->s->d, (size_t)((r1 - r0) * c->s->d) * sizeof(float));
    memcpy(yb, c->s->y + r0, (size_t)(r1 - r0));
    return TQ_OK;
}

/* ---- reference: Newton's method on the same objective (standardised space) ---------- */

/* Solve (H) dx = g by Gaussian elimination with partial pivoting, n small. */
static void solve(double *H, double *g, int n)
{
    for (int c = 0; c < n; c++) {
        int piv = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(H[r * n + c]) > fabs(H[piv * n + c])) piv = r;
        for (int k = 0; k < n; k++) {
            double t = H[c * n + k]; H[c * n + k] = H[piv * n + k]; H[piv * n + k] = t;
        }
        double t = g[c]; g[c] = g[piv]; g[piv] = t;
        for (int r = c + 1; r < n; r++) {
            double f = H[r * n + c] / H[c * n + c];
            for (int k = c; k < n; k++) H[r * n + k] -= f * H[c * n + k];
            g[r] -= f * g[c];
        }
    }
    for (int c = n - 1; c >= 0; c--) {
        for (int k = c + 1; k < n; k++) g[c] -= H[c * n + k] * g[k];
        g[c] /= H[c * n + c];
    }
}

/* Newton on mean log-loss over training rows (roles as the kernel: val share `val`,
 * seed) + l2/2 |w|^2, in the standardisation of model m. Writes m->w, m->b. */
static void newton(const set *s, const tq_sgd_params *p, tq_sgd_model *m)
{
    int d = s->d, n1 = d + 1;
    double *H = calloc((size_t)(n1 * n1), sizeof(double)), *g = calloc((size_t)n1, sizeof(double));
    double *u = calloc((size_t)n1, sizeof(double));
    for (int it = 0; it < 50; it++) {
        memset(H, 0, (size_t)(n1 * n1) * sizeof(double));
        memset(g, 0, (size_t)n1 * sizeof(double));
        double cnt = 0;
        for (int64_t i = 0; i < s->n; i++) {
            if (s->y[i] < 0) continue;
            if (p->val > 0 && tq_rand_uniform(p->seed, TQ_SGD_STREAM_VAL, (uint64_t)i) < p->val)
                continue;
            double z = m->b;
            for (int j = 0; j < d; j++) {
                u[j] = (s->x[i * d + j] - m->mean[j]) / m->std[j];
                z += m->w[j] * u[j];
            }
            u[d] = 1.0;
            double pr = 1.0 / (1.0 + exp(-z)), r = pr - s->y[i], h = pr * (1 - pr);
            for (int a = 0; a < n1; a++) {
                g[a] += r * u[a];
                for (int b = 0; b < n1; b++) H[a * n1 + b] += h * u[a] * u[b];
            }
            cnt++;
        }
        for (int a = 0; a < n1; a++) {
            g[a] /= cnt;
            for (int b = 0; b < n1; b++) H[a * n1 + b] /= cnt;
        }
        for (int j = 0; j < d; j++) {
            g[j] += p->l2 * m->w[j];
            H[j * n1 + j] += p->l2;
        }
        solve(H, g, n1);
        double step = 0;
        for (int j = 0; j < d; j++) { m->w[j] -= g[j]; step += fabs(g[j]); }
        m->b -= g[d];
        if (step + fabs(g[d]) < 1e-13) break;
    }
    free(H);
    free(g);
    free(u);
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_defaults_check(void **state)
{
    (void)state;
    tq_sgd_params p;
    tq_sgd_defaults(&p);
    assert_null(tq_sgd_check(&p));
    p.batch = 0;
    assert_non_null(tq_sgd_check(&p));
    tq_sgd_defaults(&p);
    p.val = 0.95;
    assert_non_null(tq_sgd_check(&p));
}

static void test_gradient_fd(void **state)
{
    (void)state;
    set s = make_set(3000, 5, 1.0, 7, 11);
    tq_sgd_data data = data_of(&s);
    tq_sgd_params p;
    tq_sgd_defaults(&p);
    p.l2 = 0.05;
    p.l1 = 0.01;
    p.pos_weight = 2.0;
    tq_sgd_model m;
    assert_int_equal(tq_sgd_model_alloc(&m, 5), TQ_OK);
    for (int j = 0; j < 5; j++) {
        m.w[j] = 0.3 * (j - 2) + 0.05;
        m.mean[j] = 10.0 * j;
        m.std[j] = 1.0 + j;
    }
    m.b = -0.2;
    double f, grad[6], fp, fm, gtmp[6];
    char msg[256];
    assert_int_equal(tq_sgd_objective(&data, &p, NULL, &m, &f, grad, msg, sizeof msg), TQ_OK);
    for (int j = 0; j <= 5; j++) {
        double *t = j < 5 ? &m.w[j] : &m.b, keep = *t, h = 1e-5;
        *t = keep + h;
        tq_sgd_objective(&data, &p, NULL, &m, &fp, gtmp, msg, sizeof msg);
        *t = keep - h;
        tq_sgd_objective(&data, &p, NULL, &m, &fm, gtmp, msg, sizeof msg);
        *t = keep;
        double fd = (fp - fm) / (2 * h);
        assert_true(fabs(fd - grad[j]) < 1e-6 * (1 + fabs(fd)));
    }
    tq_sgd_model_free(&m);
    set_free(&s);
}

/* SGD objective within a small margin of Newton's optimum. */
static void vs_newton(double sharp, double l2, double margin)
{
    set s = make_set(20000, 4, sharp, 0, 5);
    tq_sgd_data data = data_of(&s);
    tq_sgd_params p;
    tq_sgd_defaults(&p);
    p.l2 = l2;
    p.val = 0.1;
    p.epochs = 60;
    p.patience = 60;
    p.lr = 0.2;
    tq_sgd_model m, ref;
    tq_sgd_report rep;
    assert_int_equal(tq_sgd_train(&data, &p, NULL, &m, &rep), TQ_OK);
    assert_int_equal(tq_sgd_model_alloc(&ref, 4), TQ_OK);
    memcpy(ref.mean, m.mean, 4 * sizeof(double));
    memcpy(ref.std, m.std, 4 * sizeof(double));
    newton(&s, &p, &ref);
    double fs, fr, g[5];
    char msg[256];
    assert_int_equal(tq_sgd_objective(&data, &p, NULL, &m, &fs, g, msg, sizeof msg), TQ_OK);
    assert_int_equal(tq_sgd_objective(&data, &p, NULL, &ref, &fr, g, msg, sizeof msg), TQ_OK);
    /* Newton's gradient vanishes at its optimum */
    for (int j = 0; j < 5; j++) assert_true(fabs(g[j]) < 1e-8);
    print_message("sharp %g: F sgd %.8f newton %.8f (epochs %d)\n", sharp, fs, fr, rep.epochs_run);
    assert_true(fs >= fr - 1e-12);
    assert_true(fs - fr < margin);
    for (int j = 0; j < 4; j++) assert_true(fabs(m.w[j] - ref.w[j]) < 0.05 * (1 + fabs(ref.w[j])));
    tq_sgd_model_free(&m);
    tq_sgd_model_free(&ref);
    tq_sgd_report_free(&rep);
    set_free(&s);
}

static void test_newton_nonseparable(void **state)
{
    (void)state;
    vs_newton(1.0, 1e-3, 2e-4);
}

static void test_newton_separable(void **state)
{
    (void)state;
    /* sharp 200: the labels are a linear rule nearly everywhere; l2 keeps w finite */
    vs_newton(200.0, 1e-2, 2e-3);
}

static void train_with(const set *s, tq_sgd_params *p, int threads, int stream, int chunk,
                       tq_sgd_model *m, tq_sgd_report *rep)
{
    tq_set_threads(threads);
    tq_sgd_data data = data_of(s);
    src c = {s, 0};
    if (stream) {
        data.x = NULL;
        data.y = NULL;
        data.read = src_read;
        data.ctx = &c;
        p->chunk_rows = chunk;
    }
    assert_int_equal(tq_sgd_train(&data, p, NULL, m, rep), TQ_OK);
    if (stream) assert_true(c.calls > 1);
}

static void same_model(const tq_sgd_model *a, const tq_sgd_model *b)
{
    assert_int_equal(a->d, b->d);
    assert_memory_equal(a->w, b->w, (size_t)a->d * sizeof(double));
    assert_memory_equal(&a->b, &b->b, sizeof(double));
    assert_memory_equal(a->mean, b->mean, (size_t)a->d * sizeof(double));
    assert_memory_equal(a->std, b->std, (size_t)a->d * sizeof(double));
}

static void test_determinism(void **state)
{
    (void)state;
    /* 50,000 rows: 13 blocks of 4096 */
    set s = make_set(50000, 9, 1.5, 13, 21);
    tq_sgd_params p;
    tq_sgd_defaults(&p);
    p.epochs = 3;
    tq_sgd_model m1, m2, m3, m4;
    tq_sgd_report r1, r2, r3, r4;
    train_with(&s, &p, 1, 0, 0, &m1, &r1);
    train_with(&s, &p, 2, 0, 0, &m2, &r2);
    train_with(&s, &p, 2, 1, 5000, &m3, &r3);   /* streamed, chunks of ~1 block */
    train_with(&s, &p, 1, 1, 20000, &m4, &r4);
    same_model(&m1, &m2);
    same_model(&m1, &m3);
    same_model(&m1, &m4);
    assert_memory_equal(r1.hist_loss, r3.hist_loss, (size_t)r1.epochs_run * sizeof(double));
    assert_int_equal(r1.n_unlabelled, 50000 / 13);
    assert_int_equal(r1.n_train + r1.n_val + r1.n_unlabelled, 50000);
    /* fast mode trains too and reaches a similar validation loss */
    tq_sgd_model mf;
    tq_sgd_report rf;
    p.mode = TQ_SGD_FAST;
    train_with(&s, &p, 2, 0, 0, &mf, &rf);
    assert_true(fabs(rf.val_logloss - r1.val_logloss) < 0.01);
    tq_set_threads(0);
    tq_sgd_model_free(&m1);
    tq_sgd_model_free(&m2);
    tq_sgd_model_free(&m3);
    tq_sgd_model_free(&m4);
    tq_sgd_model_free(&mf);
    tq_sgd_report_free(&r1);
    tq_sgd_report_free(&r2);
    tq_sgd_report_free(&r3);
    tq_sgd_report_free(&r4);
    tq_sgd_report_free(&rf);
    set_free(&s);
}

static void test_adam_l1(void **state)
{
    (void)state;
    set s = make_set(20000, 6, 1.0, 0, 8);
    tq_sgd_data data = data_of(&s);
    tq_sgd_params p;
    tq_sgd_defaults(&p);
    p.optimizer = TQ_SGD_ADAM;
    p.lr = 0.01;
    tq_sgd_model m;
    tq_sgd_report rep;
    assert_int_equal(tq_sgd_train(&data, &p, NULL, &m, &rep), TQ_OK);
    double l_adam = rep.val_logloss;
    tq_sgd_model_free(&m);
    tq_sgd_report_free(&rep);
    tq_sgd_defaults(&p);
    assert_int_equal(tq_sgd_train(&data, &p, NULL, &m, &rep), TQ_OK);
    assert_true(fabs(l_adam - rep.val_logloss) < 0.01);
    tq_sgd_model_free(&m);
    tq_sgd_report_free(&rep);
    /* an L1 penalty above every |gradient| at 0 zeroes all weights exactly (block averaging
     * keeps exact zeros only where every block truncates) */
    p.l1 = 2.0;   /* above any |dF/dw_j| at w = 0 (standardised features) */
    assert_int_equal(tq_sgd_train(&data, &p, NULL, &m, &rep), TQ_OK);
    int zeros = 0;
    for (int j = 0; j < 6; j++) zeros += m.w[j] == 0.0;
    assert_int_equal(zeros, 6);
    tq_sgd_model_free(&m);
    tq_sgd_report_free(&rep);
    set_free(&s);
}

static void test_predict(void **state)
{
    (void)state;
    tq_sgd_model m;
    assert_int_equal(tq_sgd_model_alloc(&m, 2), TQ_OK);
    m.w[0] = 1.0;
    m.w[1] = -2.0;
    m.b = 0.5;
    m.mean[0] = 1.0;
    m.std[1] = 2.0;
    float x[4] = {3.0f, 4.0f, 1.0f, 0.0f}, out[2];
    tq_sgd_predict(&m, x, 2, out);
    assert_float_equal(out[0], 1.0 / (1.0 + exp(-(0.5 + 2.0 - 4.0))), 1e-6);
    assert_float_equal(out[1], 1.0 / (1.0 + exp(-0.5)), 1e-6);
    tq_sgd_model_free(&m);
}

static void bad_case(set *s, const char *needle)
{
    tq_sgd_data data = data_of(s);
    tq_sgd_params p;
    tq_sgd_defaults(&p);
    tq_sgd_model m;
    tq_sgd_report rep;
    assert_int_equal(tq_sgd_train(&data, &p, NULL, &m, &rep), TQ_EINVAL);
    print_message("expected error: %s\n", rep.msg);
    assert_non_null(strstr(rep.msg, needle));
    assert_null(m.w);
    tq_sgd_report_free(&rep);
}

static void test_bad_input(void **state)
{
    (void)state;
    set s = make_set(10000, 3, 1.0, 0, 4);
    s.x[7777 * 3 + 1] = NAN;
    s.x[9000 * 3 + 2] = INFINITY;
    bad_case(&s, "row 7778, feature column 2: value nan");
    s.x[7777 * 3 + 1] = 0;
    bad_case(&s, "row 9001, feature column 3: value inf");
    s.x[9000 * 3 + 2] = 0;
    s.y[5] = 7;
    bad_case(&s, "row 6, column label: value 7");
    for (int64_t i = 0; i < s.n; i++) s.y[i] = 1;
    bad_case(&s, "only one class");
    for (int64_t i = 0; i < s.n; i++) s.y[i] = -1;
    bad_case(&s, "no labelled training rows");
    set_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_check),
        cmocka_unit_test(test_gradient_fd),
        cmocka_unit_test(test_newton_nonseparable),
        cmocka_unit_test(test_newton_separable),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_adam_l1),
        cmocka_unit_test(test_predict),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
