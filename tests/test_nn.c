/* test_nn.c: parameter layout, linear and GELU layers, the MLP model, AdamW
 * + EMA and gradient clipping.
 *
 * Gradients are checked by central finite differences of a scalar loss
 * L = sum(out * r) (fixed random r, so dL/dout = r) evaluated in double from
 * the float forward pass. Each tolerance is justified where it is used. */
#include "gradcheck.h"

#include <gsl/gsl_rng.h>
#include <omp.h>
#include <signal.h>
#include <sys/wait.h>

#include "models/model.h"
#include "nn/layernorm.h"
#include "nn/layers.h"
#include "nn/optim.h"
#include "nn/params.h"
#include "util/err.h"

/* ---- helpers ------------------------------------------------------------ */

static void fill_uniform(float *x, size_t n, double lo, double hi, gsl_rng *rng) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * gsl_rng_uniform(rng));
}

static double dot_f(const float *a, const float *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * (double)b[i];
    return s;
}

/* Run fn in a child process and report whether it died of SIGABRT (the
 * contract for programming errors). The child's stderr goes to /dev/null. */
static int dies_with_abort(void (*fn)(void)) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr)) _exit(3);
        fn();
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

/* ---- params ---------------------------------------------------------------- */

static void test_layout_alignment_and_find(void **state) {
    static bfn_param_layout l; /* 50 kB: keep it off the stack */
    memset(&l, 0, sizeof l);
    const int s1[2] = {1, 5}, s2[1] = {17}, s3[3] = {2, 2, 4};
    assert_int_equal(bfn_layout_add(&l, "a", 1, 2, s1), 0);
    assert_int_equal(bfn_layout_add(&l, "b", 0, 1, s2), 16); /* 5 rounded up to 16 */
    assert_int_equal(bfn_layout_add(&l, "c.weight", 1, 3, s3), 48); /* 16 + 17 = 33 -> 48 */
    assert_int_equal(l.n_tensors, 3);
    assert_int_equal(l.n, 64);
    for (int i = 0; i < l.n_tensors; i++) assert_int_equal(l.t[i].offset % 16, 0);
    assert_int_equal(l.t[0].size, 5);
    assert_int_equal(l.t[1].size, 17);
    assert_int_equal(l.t[2].size, 16);
    assert_int_equal(l.t[2].ndim, 3);
    assert_int_equal(l.t[2].shape[0], 2);
    assert_int_equal(l.t[2].shape[2], 4);
    assert_int_equal(l.t[0].decay, 1);
    assert_int_equal(l.t[1].decay, 0);
    assert_string_equal(l.t[2].name, "c.weight");
    assert_int_equal(bfn_layout_find(&l, "a"), 0);
    assert_int_equal(bfn_layout_find(&l, "b"), 1);
    assert_int_equal(bfn_layout_find(&l, "c.weight"), 2);
    assert_int_equal(bfn_layout_find(&l, "c"), -1);
    assert_int_equal(bfn_layout_find(&l, "d"), -1);
}

static void add_long_name(void) {
    static bfn_param_layout l;
    char name[BFN_TENSOR_NAME + 1];
    memset(name, 'x', BFN_TENSOR_NAME);
    name[BFN_TENSOR_NAME] = '\0';
    const int s[1] = {1};
    bfn_layout_add(&l, name, 0, 1, s);
}

static void add_too_many(void) {
    static bfn_param_layout l;
    const int s[1] = {1};
    char name[32];
    for (int i = 0; i <= BFN_MAX_TENSORS; i++) {
        snprintf(name, sizeof name, "t%d", i);
        bfn_layout_add(&l, name, 0, 1, s);
    }
}

static void add_max_length_name(void) {
    static bfn_param_layout l;
    char name[BFN_TENSOR_NAME];
    memset(name, 'x', BFN_TENSOR_NAME - 1);
    name[BFN_TENSOR_NAME - 1] = '\0';
    const int s[1] = {1};
    bfn_layout_add(&l, name, 0, 1, s);
}

static void test_layout_aborts_on_misuse(void **state) {
    assert_true(dies_with_abort(add_long_name));
    assert_true(dies_with_abort(add_too_many));
    assert_false(dies_with_abort(add_max_length_name)); /* the limit itself is fine */
}

/* ---- linear ---------------------------------------------------------------- */

enum { LN = 4, LIC = 5, LOC = 3 };

typedef struct {
    float in[LN * LIC], W[LOC * LIC], b[LOC], r[LN * LOC], out[LN * LOC];
} linear_ctx;

static double linear_loss(void *ctx, long i) {
    linear_ctx *c = ctx;
    bfn_linear_forward(c->out, c->in, c->W, c->b, LN, LIC, LOC);
    return dot_f(c->out, c->r, LN * LOC);
}

static void linear_setup(linear_ctx *c, unsigned long seed) {
    gsl_rng *rng = test_rng(seed);
    fill_uniform(c->in, LN * LIC, -1, 1, rng);
    fill_uniform(c->W, LOC * LIC, -1, 1, rng);
    fill_uniform(c->b, LOC, -1, 1, rng);
    fill_uniform(c->r, LN * LOC, -1, 1, rng);
    gsl_rng_free(rng);
}

/* Forward against a naive double reference, with and without bias.
 * Tolerance: each output is a sum of 5 products of values in [-1, 1] plus a
 * bias, |out| <= 6, accumulated in float: error <= ~6 * 6 * 2^-24 ~ 2e-6. */
static void test_linear_forward_reference(void **state) {
    linear_ctx c;
    linear_setup(&c, 11);
    float out_nb[LN * LOC];
    bfn_linear_forward(c.out, c.in, c.W, c.b, LN, LIC, LOC);
    bfn_linear_forward(out_nb, c.in, c.W, NULL, LN, LIC, LOC);
    for (int n = 0; n < LN; n++)
        for (int o = 0; o < LOC; o++) {
            double s = 0.0;
            for (int i = 0; i < LIC; i++) s += (double)c.in[n * LIC + i] * c.W[o * LIC + i];
            assert_close(out_nb[n * LOC + o], s, 4e-6);
            assert_close(c.out[n * LOC + o], s + c.b[o], 4e-6);
        }
}

/* din, dW, db by central differences. The loss is exactly linear in each
 * parameter, so the difference quotient has no truncation error; only the
 * float rounding of the forward pass remains: the outputs touched by one
 * parameter have |out| <= 6 and rounding error <= ~2e-6 each, at most 4 of
 * them change, |r| <= 1, so |dL error| <= ~1e-5 and the quotient over
 * 2h = 2e-2 is off by <= ~5e-4. Gradients are O(1); tol 1e-3 + 1e-3 max(|g|, |fd|). */
static void test_linear_gradients(void **state) {
    linear_ctx c;
    linear_setup(&c, 12);
    float din[LN * LIC] = {0}, dW[LOC * LIC] = {0}, db[LOC] = {0};
    bfn_linear_forward(c.out, c.in, c.W, c.b, LN, LIC, LOC);
    bfn_linear_backward(din, dW, db, c.r, c.in, c.W, LN, LIC, LOC);
    const gradcheck gc = {.loss = linear_loss, .ctx = &c, .h = 1e-2, .atol = 1e-3, .rtol = 1e-3};
    assert_true(gradcheck_all("din", &gc, c.in, din, LN * LIC) > 0.1); /* non-trivial numbers compared */
    assert_true(gradcheck_all("dW", &gc, c.W, dW, LOC * LIC) > 0.1);
    assert_true(gradcheck_all("db", &gc, c.b, db, LOC) > 0.1);
}

/* Backward accumulates: starting from buffers holding 0.5, one call gives
 * 0.5 + g and a second 0.5 + 2g (g from a call on zeroed buffers). |g| <= 4
 * here, so the values stay below 9 (ulp 9.5e-7) and the two accumulating
 * roundings cost <= ~1e-6: tol 4e-6. NULL outputs are skipped. */
static void test_linear_backward_accumulates(void **state) {
    linear_ctx c;
    linear_setup(&c, 13);
    float din0[LN * LIC] = {0}, dW0[LOC * LIC] = {0}, db0[LOC] = {0};
    bfn_linear_backward(din0, dW0, db0, c.r, c.in, c.W, LN, LIC, LOC);
    float din[LN * LIC], dW[LOC * LIC], db[LOC];
    for (int i = 0; i < LN * LIC; i++) din[i] = 0.5f;
    for (int i = 0; i < LOC * LIC; i++) dW[i] = 0.5f;
    for (int i = 0; i < LOC; i++) db[i] = 0.5f;
    for (int k = 1; k <= 2; k++) {
        bfn_linear_backward(din, dW, db, c.r, c.in, c.W, LN, LIC, LOC);
        for (int i = 0; i < LN * LIC; i++) assert_close(din[i], 0.5 + k * (double)din0[i], 4e-6);
        for (int i = 0; i < LOC * LIC; i++) assert_close(dW[i], 0.5 + k * (double)dW0[i], 4e-6);
        for (int i = 0; i < LOC; i++) assert_close(db[i], 0.5 + k * (double)db0[i], 4e-6);
    }
    float dW_only[LOC * LIC] = {0};
    bfn_linear_backward(NULL, dW_only, NULL, c.r, c.in, c.W, LN, LIC, LOC);
    assert_memory_equal(dW_only, dW0, sizeof dW0);
}

/* The fused residual forward equals res + the plain linear layer (one more
 * float rounding of |out| <= 7: tol 4e-6), with and without bias. The
 * overwriting backward ignores what din held and equals the accumulating one
 * on zeroed buffers (same tolerance), with the same dW and db bits. */
static void test_linear_residual_and_overwrite(void **state) {
    linear_ctx c;
    linear_setup(&c, 14);
    float res[LN * LOC], out[LN * LOC], ref[LN * LOC];
    gsl_rng *rng = test_rng(15);
    fill_uniform(res, LN * LOC, -1, 1, rng);
    gsl_rng_free(rng);
    for (int with_b = 0; with_b <= 1; with_b++) {
        const float *b = with_b ? c.b : NULL;
        bfn_linear_forward(ref, c.in, c.W, b, LN, LIC, LOC);
        bfn_linear_residual_forward(out, res, c.in, c.W, b, LN, LIC, LOC);
        for (int i = 0; i < LN * LOC; i++) assert_close(out[i], (double)ref[i] + res[i], 4e-6);
    }
    float din0[LN * LIC] = {0}, dW0[LOC * LIC] = {0}, db0[LOC] = {0};
    bfn_linear_backward(din0, dW0, db0, c.r, c.in, c.W, LN, LIC, LOC);
    float din[LN * LIC], dW[LOC * LIC] = {0}, db[LOC] = {0};
    for (int i = 0; i < LN * LIC; i++) din[i] = 1e3f; /* must be overwritten */
    bfn_linear_backward_overwrite(din, dW, db, c.r, c.in, c.W, LN, LIC, LOC);
    for (int i = 0; i < LN * LIC; i++) assert_close(din[i], din0[i], 4e-6);
    assert_memory_equal(dW, dW0, sizeof dW);
    assert_memory_equal(db, db0, sizeof db);
}

/* ---- GELU ------------------------------------------------------------------ */

static double gelu_u(double x) { return sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x); }

/* gelu(x) = 0.5 x (1 + tanh u) in double, evaluated as x / (1 + e^{-2u})
 * (the same number: 1 + tanh u = 2 / (1 + e^{-2u})), because 1 + tanh u
 * cancels catastrophically even in double for x < -5. */
static double gelu_ref(double x) { return x / (1.0 + exp(-2.0 * gelu_u(x))); }

enum { GN = 2401 };

/* Forward against the double formula on [-12, 12] (step 0.01) plus extremes.
 * Tolerance: float evaluates u with a few ulp of relative error, and
 * gelu = x sigmoid(2u) has relative sensitivity 2(1 - sigmoid(2u))|u| to a
 * relative change of u, so the error bound is ~ (1 + |u|) * few ulp;
 * tol = 1e-6 (1 + |u|) |gelu| (~8 ulp x condition), plus 2e-38 (1 + |x|)
 * for the far negative tail (x < -10), where exp's argument is clamped at
 * 87.3 (a deliberate choice) so the result is x e^-87.3 instead of an even
 * tinier number. */
static void test_gelu_forward_reference(void **state) {
    static float x[GN + 6], y[GN + 6];
    for (int i = 0; i < GN; i++) x[i] = (float)(-12.0 + 0.01 * i);
    const float extremes[6] = {0.0f, -0.0f, 1e-30f, -1e-30f, 80.0f, -80.0f};
    memcpy(x + GN, extremes, sizeof extremes);
    bfn_gelu_forward(y, x, GN + 6);
    for (int i = 0; i < GN + 6; i++) {
        const double ref = gelu_ref(x[i]);
        assert_close(y[i], ref, 1e-6 * (1.0 + fabs(gelu_u(x[i]))) * fabs(ref) + 2e-38 * (1.0 + fabs(x[i])));
    }
    assert_close(y[GN + 4], 80.0, 0); /* gelu(x) = x exactly for large x */
    /* The reference is the tanh formula (checked where 1 + tanh u has no
     * cancellation, |x| <= 3: agreement to double rounding, 1e-14). */
    for (double xv = -3.0; xv <= 3.0; xv += 0.125)
        assert_close(gelu_ref(xv), 0.5 * xv * (1.0 + tanh(gelu_u(xv))), 1e-14);
    /* In place gives the same bits as out of place. */
    memcpy(y, x, sizeof x);
    bfn_gelu_forward(y, y, GN + 6);
    float y2[GN + 6];
    bfn_gelu_forward(y2, x, GN + 6);
    assert_memory_equal(y, y2, sizeof y2);
    /* NaN propagates. */
    float nan_in = NAN, nan_out = 0.0f;
    bfn_gelu_forward(&nan_out, &nan_in, 1);
    assert_true(isnan(nan_out));
}

/* Backward: din += dout * gelu'(x), checked against a central difference of
 * the double formula with h = 1e-4: truncation h^2 |f'''| / 6 < 1e-8 and
 * rounding ~1e-16 / 1e-4 = 1e-12, so the reference is good to ~1e-8. The
 * float derivative s + 2 x s (1 - s) u' sums two terms of size <= ~0.5
 * that cancel near x = -0.75, each with the forward's (1 + |u|) x few-ulp
 * relative error, so tol = 1e-6 (1 + |u|) |dout| (|gelu'| + 0.5), plus
 * 2e-7 for rounding the accumulation onto din = 1 (half an ulp of 1..3).
 * (Measured worst case on a fine grid: ~1/20 of this.)
 * din starts at 1 to check accumulation; dout is a fixed pattern in [-2, 2]. */
static void test_gelu_backward_fd(void **state) {
    static float x[GN], dout[GN], din[GN];
    for (int i = 0; i < GN; i++) {
        x[i] = (float)(-12.0 + 0.01 * i);
        dout[i] = (float)(2.0 * sin(0.37 * i));
        din[i] = 1.0f;
    }
    bfn_gelu_backward(din, x, dout, GN);
    const double h = 1e-4;
    for (int i = 0; i < GN; i++) {
        const double d = (gelu_ref(x[i] + h) - gelu_ref(x[i] - h)) / (2 * h);
        const double expect = 1.0 + dout[i] * d;
        const double tol = 1e-6 * (1.0 + fabs(gelu_u(x[i]))) * fabs(dout[i]) * (fabs(d) + 0.5) + 2e-7;
        assert_close(din[i], expect, tol);
    }
}

/* The threaded path (n >= 65536) gives the same bits as small calls:
 * elementwise work does not depend on how it is split. The written
 * (_set) backward equals the accumulating one into zeros. */
static void test_gelu_split_invariance(void **state) {
    enum { N = 70001 };
    float *x = malloc(N * sizeof *x), *y1 = malloc(N * sizeof *x), *y2 = malloc(N * sizeof *x);
    float *d1 = calloc(N, sizeof *x), *d2 = calloc(N, sizeof *x);
    gsl_rng *rng = test_rng(5);
    fill_uniform(x, N, -6, 6, rng);
    bfn_gelu_forward(y1, x, N);
    for (long i = 0; i < N; i += 1000) bfn_gelu_forward(y2 + i, x + i, (N - i) < 1000 ? N - i : 1000);
    assert_memory_equal(y1, y2, N * sizeof *x);
    bfn_gelu_backward(d1, x, y1, N);
    for (long i = 0; i < N; i += 999) bfn_gelu_backward(d2 + i, x + i, y1 + i, (N - i) < 999 ? N - i : 999);
    assert_memory_equal(d1, d2, N * sizeof *x);
    /* bfn_gelu_backward_set writes what bfn_gelu_backward adds to zeros
     * (d1, from calloc), over whatever the buffer held */
    for (long i = 0; i < N; i++) d2[i] = 1e30f;
    bfn_gelu_backward_set(d2, x, y1, N);
    assert_memory_equal(d1, d2, N * sizeof *x);
    gsl_rng_free(rng);
    free(x), free(y1), free(y2), free(d1), free(d2);
}

/* ---- bias + GELU (fused) ----------------------------------------------------- */

/* C = 130: not a multiple of the 16-column shares of the backward. */
enum { BGN = 3, BGC = 130 };

typedef struct { float pre[BGN * BGC], b[BGC], r[BGN * BGC]; } bias_gelu_ctx;

static double bias_gelu_loss(void *ctx, long i) {
    bias_gelu_ctx *c = ctx;
    float pre[BGN * BGC], out[BGN * BGC];
    memcpy(pre, c->pre, sizeof pre);
    bfn_bias_gelu_forward(out, pre, c->b, BGN, BGC);
    return dot_f(out, c->r, BGN * BGC);
}

/* Forward: pre becomes pre + b and out = gelu(pre + b) with the same bits as
 * bfn_gelu_forward. Backward: d = dL/dpre and db by central differences
 * (h = 1e-2 on a smooth O(1) function: truncation h^2/6 |gelu^(3)| <= ~2e-5,
 * float rounding of one output ~1e-7 over 2h = 2e-2 -> 1e-5; tol 1e-3 + 1e-2
 * relative is far above both and far below a wrong term's O(|g|)); db starts
 * at 1 to check that it accumulates. */
static void test_bias_gelu(void **state) {
    bias_gelu_ctx c;
    gsl_rng *rng = test_rng(16);
    fill_uniform(c.pre, BGN * BGC, -3, 3, rng);
    fill_uniform(c.b, BGC, -1, 1, rng);
    fill_uniform(c.r, BGN * BGC, -1, 1, rng);
    gsl_rng_free(rng);
    float pre[BGN * BGC], out[BGN * BGC], ref[BGN * BGC];
    memcpy(pre, c.pre, sizeof pre);
    bfn_bias_gelu_forward(out, pre, c.b, BGN, BGC);
    for (int n = 0; n < BGN; n++)
        for (int k = 0; k < BGC; k++) assert_true(pre[n * BGC + k] == c.pre[n * BGC + k] + c.b[k]);
    bfn_gelu_forward(ref, pre, BGN * BGC);
    assert_memory_equal(out, ref, sizeof out);

    float d[BGN * BGC], db[BGC], dbias[BGC];
    memcpy(d, c.r, sizeof d);
    for (int k = 0; k < BGC; k++) db[k] = 1.0f;
    bfn_bias_gelu_backward(d, db, pre, BGN, BGC);
    for (int k = 0; k < BGC; k++) dbias[k] = db[k] - 1.0f;
    const gradcheck gc = {.loss = bias_gelu_loss, .ctx = &c, .h = 1e-2, .atol = 1e-3, .rtol = 1e-2};
    assert_true(gradcheck_all("bias_gelu dpre", &gc, c.pre, d, BGN * BGC) > 0.1);
    assert_true(gradcheck_all("bias_gelu db", &gc, c.b, dbias, BGC) > 0.1);
}

/* The column sums (bias gradients of the linear layer and of the fused GELU,
 * LayerNorm's dw/db) give the same bits on 1 and 2 threads, at a size that
 * takes the threaded path (N C >= 65536) with several column blocks. */
static void test_column_sums_thread_invariance(void **state) {
    enum { N = 600, C = 260 };
    gsl_rng *rng = test_rng(17);
    float *x = malloc(N * C * sizeof(float)), *dy = malloc(N * C * sizeof(float)), *w = malloc(C * sizeof(float));
    float *lb = malloc(C * sizeof(float)), *y = malloc(N * C * sizeof(float)), mean[N], rstd[N];
    float *d[2], *sums[2];
    fill_uniform(x, N * C, -2, 2, rng);
    fill_uniform(dy, N * C, -1, 1, rng);
    fill_uniform(w, C, 0.5, 1.5, rng);
    fill_uniform(lb, C, -1, 1, rng);
    bfn_layernorm_forward(y, mean, rstd, x, w, lb, N, C);
    const int saved = omp_get_max_threads();
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        d[t] = malloc(N * C * sizeof(float));
        sums[t] = calloc(4 * C, sizeof(float));
        memcpy(d[t], dy, N * C * sizeof(float));
        bfn_linear_backward(NULL, NULL, sums[t], dy, x, w, N, 1, C);
        bfn_layernorm_backward(NULL, sums[t] + C, sums[t] + 2 * C, dy, x, w, mean, rstd, N, C);
        bfn_bias_gelu_backward(d[t], sums[t] + 3 * C, x, N, C);
    }
    omp_set_num_threads(saved);
    assert_memory_equal(d[0], d[1], N * C * sizeof(float));
    assert_memory_equal(sums[0], sums[1], 4 * C * sizeof(float));
    free(x), free(dy), free(w), free(lb), free(y), free(d[0]), free(d[1]), free(sums[0]), free(sums[1]);
    gsl_rng_free(rng);
}

/* ---- MLP --------------------------------------------------------------------- */

enum { MIN = 5, MH = 7, ML = 2, MOUT = 3, MB = 4, MMAXB = 6 };

typedef struct {
    bfn_model *m;
    float *params, *grads;
    float in[MB * MIN], t[MB], r[MB * MOUT], out[MB * MOUT];
} mlp_ctx;

static double mlp_loss(void *ctx, long i) {
    mlp_ctx *c = ctx;
    c->m->ops->forward(c->m, c->params, MB, c->in, c->t, c->out);
    return dot_f(c->out, c->r, MB * MOUT);
}

static void mlp_setup(mlp_ctx *c, unsigned long seed) {
    memset(c, 0, sizeof *c);
    assert_int_equal(bfn_mlp_create(&c->m, MIN, MOUT, MH, ML, MMAXB), BFN_OK);
    const size_t n = c->m->layout.n;
    c->params = calloc(n, sizeof(float));
    c->grads = calloc(n, sizeof(float));
    gsl_rng *rng = test_rng(seed);
    c->m->ops->init(c->m, c->params, rng);
    fill_uniform(c->in, MB * MIN, -1, 1, rng);
    fill_uniform(c->t, MB, 0, 1, rng);
    fill_uniform(c->r, MB * MOUT, -1, 1, rng);
    gsl_rng_free(rng);
}

static void mlp_teardown(mlp_ctx *c) {
    bfn_model_free(c->m);
    free(c->params);
    free(c->grads);
}

/* Every parameter tensor, including fc0.weight_t, by central differences.
 * The parameters are re-drawn from U(-0.6, 0.6) (instead of the init, whose
 * 0.1-scaled output layer would make the other gradients small) so that all
 * gradients are O(0.1..1) and pre-activations O(1), where GELU is curved.
 * Error budget with h = 1e-2: truncation h^2 |L'''| / 6 ~ 2e-5 |L'''| (a
 * relative 1e-2 covers |L'''| up to hundreds of times |g|); float rounding
 * of the forward pass, about 1e-6 in L (12 outputs of O(1), three layers,
 * a few ulp each), divided by 2h gives ~5e-5. Hence tol = 2e-4 + 1e-2 |g|.
 * A wrong term (e.g. a missing factor 2 in 2t - 1, a transposed weight, a
 * wrong GELU slope) changes the gradients by O(|g|) and fails; a 5% error
 * in the time-weight gradient alone was checked to fail. Measured worst
 * |diff| / tol over all tensors: ~0.02. */
static void test_mlp_gradients(void **state) {
    mlp_ctx c;
    mlp_setup(&c, 21);
    const bfn_param_layout *l = &c.m->layout;
    gsl_rng *rng = test_rng(22);
    for (int i = 0; i < l->n_tensors; i++) fill_uniform(c.params + l->t[i].offset, l->t[i].size, -0.6, 0.6, rng);
    gsl_rng_free(rng);

    c.m->ops->forward(c.m, c.params, MB, c.in, c.t, c.out);
    c.m->ops->backward(c.m, c.params, MB, c.r, c.grads);
    assert_int_equal(l->n_tensors, 2 * (ML + 1) + 1);
    assert_true(bfn_layout_find(l, "fc0.weight_t") >= 0);
    for (int i = 0; i < l->n_tensors; i++) {
        const bfn_tensor_info *ti = &l->t[i];
        const gradcheck gc = {.loss = mlp_loss, .ctx = &c, .h = 1e-2, .atol = 2e-4, .rtol = 1e-2};
        double g = gradcheck_all(ti->name, &gc, c.params + ti->offset, c.grads + ti->offset, (long)ti->size);
        assert_true(g > 1e-2); /* every tensor's check compared non-trivial numbers */
    }
    mlp_teardown(&c);
}

/* backward accumulates into grads: two forward+backward rounds give twice
 * one round (up to float rounding of the sum: tol 1e-6 (1 + |g|)). */
static void test_mlp_backward_accumulates(void **state) {
    mlp_ctx c;
    mlp_setup(&c, 23);
    const size_t n = c.m->layout.n;
    c.m->ops->forward(c.m, c.params, MB, c.in, c.t, c.out);
    c.m->ops->backward(c.m, c.params, MB, c.r, c.grads);
    float *once = malloc(n * sizeof *once);
    memcpy(once, c.grads, n * sizeof *once);
    c.m->ops->forward(c.m, c.params, MB, c.in, c.t, c.out);
    c.m->ops->backward(c.m, c.params, MB, c.r, c.grads);
    for (size_t i = 0; i < n; i++) assert_close(c.grads[i], 2.0 * once[i], 1e-6 * (1.0 + fabs(once[i])));
    free(once);
    mlp_teardown(&c);
}

/* Init: same seed -> same bits; torch bounds 1/sqrt(fan_in) (fan_in of
 * layer 0 includes the time input); output layer scaled by 0.1 with zero
 * bias; alignment padding zero. Forward: deterministic bit for bit; rows are
 * independent (a batch of 1 reproduces row 0 to float rounding, 1e-6). */
static void test_mlp_init_and_determinism(void **state) {
    mlp_ctx a, b;
    mlp_setup(&a, 31);
    mlp_setup(&b, 31);
    const bfn_param_layout *l = &a.m->layout;
    assert_memory_equal(a.params, b.params, l->n * sizeof(float));

    const double bound0 = 1.0 / sqrt(MIN + 1.0), bound = 1.0 / sqrt(MH);
    struct { const char *name; double bound; int zero; } expect[] = {
        {"fc0.weight", bound0, 0}, {"fc0.bias", bound0, 0}, {"fc0.weight_t", bound0, 0},
        {"fc1.weight", bound, 0}, {"fc1.bias", bound, 0}, {"fc2.weight", 0.1 * bound, 0}, {"fc2.bias", 0, 1},
    };
    size_t covered = 0;
    for (size_t k = 0; k < sizeof expect / sizeof expect[0]; k++) {
        const int i = bfn_layout_find(l, expect[k].name);
        assert_true(i >= 0);
        const bfn_tensor_info *ti = &l->t[i];
        double amax = 0.0;
        for (size_t j = 0; j < ti->size; j++) amax = fmax(amax, fabs(a.params[ti->offset + j]));
        if (expect[k].zero) {
            assert_true(amax == 0.0);
        } else {
            assert_true(amax <= expect[k].bound * (1 + 1e-6)); /* float rounding of the bound */
            assert_true(amax > 0.3 * expect[k].bound); /* actually spread over the range */
        }
        covered += ti->size;
        assert_int_equal(ti->decay, strstr(expect[k].name, "bias") ? 0 : 1);
    }
    assert_int_equal(l->n_tensors, 7);
    /* Padding: everything outside tensors is zero. */
    size_t zeros_outside = 0;
    for (size_t j = 0; j < l->n; j++) {
        int inside = 0;
        for (int i = 0; i < l->n_tensors; i++)
            if (j >= l->t[i].offset && j < l->t[i].offset + l->t[i].size) inside = 1;
        if (!inside) zeros_outside += a.params[j] == 0.0f;
    }
    assert_int_equal(zeros_outside, l->n - covered);

    float out1[MB * MOUT], out2[MB * MOUT], out_one[MOUT];
    a.m->ops->forward(a.m, a.params, MB, a.in, a.t, out1);
    a.m->ops->forward(a.m, a.params, MB, a.in, a.t, out2);
    assert_memory_equal(out1, out2, sizeof out1);
    a.m->ops->forward(a.m, a.params, 1, a.in, a.t, out_one);
    for (int o = 0; o < MOUT; o++) assert_close(out_one[o], out1[o], 1e-6);
    /* The time input matters: changing t changes the output. */
    float t2[MB];
    for (int i = 0; i < MB; i++) t2[i] = 1.0f - a.t[i];
    a.m->ops->forward(a.m, a.params, MB, a.in, t2, out2);
    assert_true(memcmp(out1, out2, sizeof out1) != 0);
    mlp_teardown(&a);
    mlp_teardown(&b);
}

static void test_mlp_create_checks_and_flops(void **state) {
    bfn_model *m = (bfn_model *)1;
    assert_int_equal(bfn_mlp_create(&m, 0, 3, 7, 2, 4), BFN_EINVAL);
    assert_null(m);
    assert_int_equal(bfn_mlp_create(&m, 5, 3, 7, 0, 4), BFN_EINVAL);
    assert_int_equal(bfn_mlp_create(&m, 5, 3, 7, 2, 0), BFN_EINVAL);
    assert_int_equal(bfn_mlp_create(&m, 5, 3, 7, 1000, 4), BFN_EINVAL);
    assert_int_equal(bfn_mlp_create(&m, 5, 3, 7, 2, 4), BFN_OK);
    /* 2 * ((5 + 1) * 7 + 7 * 7 + 7 * 3) = 224 */
    assert_close(m->ops->flops_per_example(m), 224.0, 0);
    assert_int_equal(m->in_dim, 5);
    assert_int_equal(m->out_dim, 3);
    assert_int_equal(m->max_batch, 4);
    bfn_model_free(m);
    /* The reference MNIST shape: 784 + 1 -> 1024 -> 1024 -> 784. */
    assert_int_equal(bfn_mlp_create(&m, 784, 784, 1024, 2, 2), BFN_OK);
    assert_close(m->ops->flops_per_example(m), 2.0 * (785 * 1024 + 1024 * 1024 + 1024 * 784), 0);
    bfn_model_free(m);
}

static void forward_too_big(void) {
    bfn_model *m;
    if (bfn_mlp_create(&m, 2, 2, 3, 1, 2) != BFN_OK) _exit(4);
    float params[256] = {0}, in[6] = {0}, t[3] = {0}, out[6];
    m->ops->forward(m, params, 3, in, t, out);
}

static void test_mlp_batch_over_max_aborts(void **state) { assert_true(dies_with_abort(forward_too_big)); }

/* ---- AdamW + EMA ---------------------------------------------------------- */

/* Double-precision reference of one torch AdamW step + EMA on one element. */
static void adamw_ref(const bfn_adamw_cfg *c, int decay, long step, double g, double *p, double *m, double *v,
                      double *ema) {
    const double lr = c->lr, b1 = c->beta1, b2 = c->beta2;
    if (decay) *p -= lr * (double)c->weight_decay * *p;
    *m = b1 * *m + (1 - b1) * g;
    *v = b2 * *v + (1 - b2) * g * g;
    const double mhat = *m / (1 - pow(b1, step)), vhat = *v / (1 - pow(b2, step));
    *p -= lr * mhat / (sqrt(vhat) + (double)c->eps);
    if (c->ema_decay > 0) *ema -= (1 - (double)c->ema_decay) * (*ema - *p);
}

/* Two steps on a decayed (3, 5) and an undecayed (3) tensor, against the
 * double reference, with a zero gradient element (update 0/(0 + eps) = 0).
 * Tolerance: every quantity is O(1) and each step adds a handful of float
 * roundings (<= 0.5 ulp = 6e-8 each) without cancellation that is not then
 * multiplied by a small factor: tol 1e-6 (~16 ulp at 1). For scale, the
 * weight decay moves p by lr wd |p| ~ 1e-3 and a wrong bias correction by
 * > 1e-3, so the check can fail. Padding floats between tensors hold a
 * sentinel that must survive. */
static void test_adamw_two_steps(void **state) {
    static bfn_param_layout l;
    memset(&l, 0, sizeof l);
    const int sw[2] = {3, 5}, sb[1] = {3};
    bfn_layout_add(&l, "w", 1, 2, sw);
    bfn_layout_add(&l, "b", 0, 1, sb);
    assert_int_equal(l.n, 32);
    const bfn_adamw_cfg cfg = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.98f, .eps = 1e-8f, .weight_decay = 0.1f,
                               .ema_decay = 0.9f};
    float p[32], g[32], m[32], v[32], e[32];
    double rp[32], rm[32], rv[32], re[32];
    gsl_rng *rng = test_rng(41);
    for (int i = 0; i < 32; i++) p[i] = g[i] = m[i] = v[i] = e[i] = 7.0f; /* sentinel in padding */
    for (int ti = 0; ti < l.n_tensors; ti++) {
        fill_uniform(p + l.t[ti].offset, l.t[ti].size, -1, 1, rng);
        for (size_t j = l.t[ti].offset; j < l.t[ti].offset + l.t[ti].size; j++) {
            m[j] = v[j] = 0.0f;
            e[j] = p[j];
            rp[j] = re[j] = p[j];
            rm[j] = rv[j] = 0.0;
        }
    }
    const double p2_init = p[2];
    for (long step = 1; step <= 2; step++) {
        for (int ti = 0; ti < l.n_tensors; ti++) fill_uniform(g + l.t[ti].offset, l.t[ti].size, -1, 1, rng);
        g[2] = 0.0f;
        bfn_adamw_step(&cfg, &l, p, g, m, v, e, step);
        for (int ti = 0; ti < l.n_tensors; ti++)
            for (size_t j = l.t[ti].offset; j < l.t[ti].offset + l.t[ti].size; j++) {
                adamw_ref(&cfg, l.t[ti].decay, step, g[j], &rp[j], &rm[j], &rv[j], &re[j]);
                assert_close(p[j], rp[j], 1e-6);
                assert_close(m[j], rm[j], 1e-6);
                assert_close(v[j], rv[j], 1e-6);
                assert_close(e[j], re[j], 1e-6);
            }
    }
    /* Element 2 saw only zero gradients: it moved by weight decay alone. */
    const double keep = 1.0 - (double)cfg.lr * (double)cfg.weight_decay;
    assert_close(p[2], p2_init * keep * keep, 1e-6);
    assert_true(fabs(p2_init) * (1 - keep * keep) > 1e-5); /* ...and visibly so */
    for (int j = 15; j < 16; j++) assert_true(p[j] == 7.0f && m[j] == 7.0f && v[j] == 7.0f && e[j] == 7.0f);
    for (int j = 19; j < 32; j++) assert_true(p[j] == 7.0f && m[j] == 7.0f && v[j] == 7.0f && e[j] == 7.0f);
    gsl_rng_free(rng);

    /* ema = NULL and ema_decay = 0 both leave the EMA alone. */
    float e_before[32];
    memcpy(e_before, e, sizeof e);
    bfn_adamw_step(&cfg, &l, p, g, m, v, NULL, 3);
    bfn_adamw_cfg no_ema = cfg;
    no_ema.ema_decay = 0.0f;
    bfn_adamw_step(&no_ema, &l, p, g, m, v, e, 4);
    assert_memory_equal(e, e_before, sizeof e);
}

/* Clipping fused into the AdamW pass (bfn_grad_norm, bfn_clip_scale,
 * bfn_adamw_step_scaled) gives the same bits as bfn_clip_grad_norm then
 * bfn_adamw_step, when clipping and when not, and leaves grads unscaled. */
static void test_adamw_fused_clip(void **state) {
    static bfn_param_layout l;
    memset(&l, 0, sizeof l);
    const int s1[2] = {30, 17}, s2[1] = {29};
    bfn_layout_add(&l, "w", 1, 2, s1);
    bfn_layout_add(&l, "b", 0, 1, s2);
    const size_t n = l.n;
    gsl_rng *rng = test_rng(47);
    float *g = calloc(n, sizeof *g), *g2 = malloc(n * sizeof *g2), *buf[2][4];
    for (int ti = 0; ti < l.n_tensors; ti++) fill_uniform(g + l.t[ti].offset, l.t[ti].size, -1, 1, rng);
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 4; j++) buf[k][j] = calloc(n, sizeof(float));
    fill_uniform(buf[0][0], n, -1, 1, rng);
    memcpy(buf[0][3], buf[0][0], n * sizeof(float));
    for (int j = 0; j < 4; j++) memcpy(buf[1][j], buf[0][j], n * sizeof(float));
    const bfn_adamw_cfg cfg = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f, .weight_decay = 0.01f,
                               .ema_decay = 0.999f};
    const double norm = bfn_grad_norm(g, n);
    const double max_norms[3] = {0.3 * norm, 10.0 * norm, 0.0}; /* clips, does not, disabled */
    for (int step = 1; step <= 3; step++) {
        double mx = max_norms[step - 1];
        memcpy(g2, g, n * sizeof *g2);
        double n_old = bfn_clip_grad_norm(g2, n, mx);
        bfn_adamw_step(&cfg, &l, buf[0][0], g2, buf[0][1], buf[0][2], buf[0][3], step);
        double n_new = bfn_grad_norm(g, n);
        float sc = bfn_clip_scale(n_new, mx);
        assert_true(step == 1 ? sc < 1.0f : sc == 1.0f);
        bfn_adamw_step_scaled(&cfg, &l, buf[1][0], g, sc, buf[1][1], buf[1][2], buf[1][3], step);
        assert_true(n_old == n_new);
        for (int j = 0; j < 4; j++) assert_memory_equal(buf[0][j], buf[1][j], n * sizeof(float));
    }
    assert_true(bfn_grad_norm(g, n) == norm); /* grads left unscaled */
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 4; j++) free(buf[k][j]);
    free(g);
    free(g2);
    gsl_rng_free(rng);
}

/* A layout large enough for the threaded path: 1 and 2 threads give the
 * same bits (elementwise update). */
static void test_adamw_thread_invariance(void **state) {
    static bfn_param_layout l;
    memset(&l, 0, sizeof l);
    const int s1[2] = {300, 301}, s2[1] = {301};
    bfn_layout_add(&l, "w", 1, 2, s1);
    bfn_layout_add(&l, "b", 0, 1, s2);
    const size_t n = l.n;
    float *buf[2][5];
    gsl_rng *rng = test_rng(43);
    float *g = malloc(n * sizeof *g);
    fill_uniform(g, n, -1, 1, rng);
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 5; j++) buf[k][j] = calloc(n, sizeof(float));
    fill_uniform(buf[0][0], n, -1, 1, rng);
    memcpy(buf[1][0], buf[0][0], n * sizeof(float));
    const bfn_adamw_cfg cfg = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f, .weight_decay = 0.01f,
                               .ema_decay = 0.999f};
    const int saved = omp_get_max_threads();
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(k + 1);
        for (long step = 1; step <= 3; step++)
            bfn_adamw_step(&cfg, &l, buf[k][0], g, buf[k][1], buf[k][2], buf[k][3], step);
    }
    omp_set_num_threads(saved);
    for (int j = 0; j < 4; j++) assert_memory_equal(buf[0][j], buf[1][j], n * sizeof(float));
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 5; j++) free(buf[k][j]);
    free(g);
    gsl_rng_free(rng);
}

/* ---- gradient clipping ------------------------------------------------------ */

static double norm_ref(const float *g, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return sqrt(s);
}

/* Norm against a sequential double sum: both sum floats' squares in double,
 * in different orders, so they agree to ~n * 2^-53 relative: tol 1e-12.
 * Clipping to half the norm leaves norm * max/(norm + 1e-6) up to float
 * rounding of the scaled values: tol 1e-6 relative. Below the threshold (or
 * max_norm <= 0) the gradients are bit-for-bit untouched. */
static void test_clip_grad_norm(void **state) {
    const size_t sizes[] = {0, 1, 13, 1000, 100003};
    gsl_rng *rng = test_rng(51);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const size_t n = sizes[k];
        float *g = malloc((n ? n : 1) * sizeof *g), *g0 = malloc((n ? n : 1) * sizeof *g);
        fill_uniform(g, n, -1, 1, rng);
        memcpy(g0, g, n * sizeof *g);
        const double ref = norm_ref(g, n);
        /* No-op cases: max_norm above the norm, and max_norm <= 0. */
        assert_close(bfn_clip_grad_norm(g, n, 2.0 * ref + 1.0), ref, 1e-12 * ref);
        assert_close(bfn_clip_grad_norm(g, n, 0.0), ref, 1e-12 * ref);
        assert_memory_equal(g, g0, n * sizeof *g);
        if (n > 0) {
            const double max_norm = 0.5 * ref;
            assert_close(bfn_clip_grad_norm(g, n, max_norm), ref, 1e-12 * ref);
            const double after = norm_ref(g, n);
            assert_close(after, max_norm * ref / (ref + 1e-6), 1e-6 * max_norm);
        }
        free(g);
        free(g0);
    }
    gsl_rng_free(rng);
}

/* The norm (and the clipped gradients) are the same bits for 1 and 2 threads. */
static void test_clip_thread_invariance(void **state) {
    const size_t n = 300001;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    gsl_rng *rng = test_rng(53);
    fill_uniform(a, n, -1, 1, rng);
    memcpy(b, a, n * sizeof *a);
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    const double na = bfn_clip_grad_norm(a, n, 1.0);
    omp_set_num_threads(2);
    const double nb = bfn_clip_grad_norm(b, n, 1.0);
    omp_set_num_threads(saved);
    assert_memory_equal(&na, &nb, sizeof na);
    assert_memory_equal(a, b, n * sizeof *a);
    free(a);
    free(b);
    gsl_rng_free(rng);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_alignment_and_find),
        cmocka_unit_test(test_layout_aborts_on_misuse),
        cmocka_unit_test(test_linear_forward_reference),
        cmocka_unit_test(test_linear_gradients),
        cmocka_unit_test(test_linear_backward_accumulates),
        cmocka_unit_test(test_gelu_forward_reference),
        cmocka_unit_test(test_gelu_backward_fd),
        cmocka_unit_test(test_gelu_split_invariance),
        cmocka_unit_test(test_linear_residual_and_overwrite),
        cmocka_unit_test(test_bias_gelu),
        cmocka_unit_test(test_column_sums_thread_invariance),
        cmocka_unit_test(test_mlp_gradients),
        cmocka_unit_test(test_mlp_backward_accumulates),
        cmocka_unit_test(test_mlp_init_and_determinism),
        cmocka_unit_test(test_mlp_create_checks_and_flops),
        cmocka_unit_test(test_mlp_batch_over_max_aborts),
        cmocka_unit_test(test_adamw_two_steps),
        cmocka_unit_test(test_adamw_thread_invariance),
        cmocka_unit_test(test_adamw_fused_clip),
        cmocka_unit_test(test_clip_grad_norm),
        cmocka_unit_test(test_clip_thread_invariance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
