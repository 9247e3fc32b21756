/* test_unet.c: the U-Net's layers (convolution, GroupNorm, SiLU, dropout,
 * up-sampling), the whole network (gradients, batch order, determinism,
 * parameter counts of the official networks), the model registry and the
 * run key's per-network keys, and the EMA warm-up.
 *
 * Gradients are checked by central finite differences of L = sum(out * r)
 * for a fixed random r, evaluated in double from the float forward pass.
 * Step h = 1e-2 on O(1) values: the float forward's rounding (~1e-7
 * relative, summed over < 1e3 terms of O(1)) divided by 2h stays below
 * ~1e-4 absolute, and the truncation error O(h^2 f''') is ~1e-4 for these
 * smooth layers, so atol 2e-3 + rtol 2e-2 leaves a margin of ~10 while a
 * wrong term (an O(1) relative error) fails. */
#include "testutil.h"

#include <gsl/gsl_rng.h>
#include <omp.h>

#include "models/model.h"
#include "models/registry.h"
#include "models/unet_keys.h"
#include "models/unet.h"
#include "nn/conv.h"
#include "nn/dropout.h"
#include "nn/groupnorm.h"
#include "nn/optim.h"
#include "nn/resample.h"
#include "nn/silu.h"
#include "run/config.h"
#include "run/spec.h"
#include "util/err.h"

static void fill(float *x, size_t n, double lo, double hi, gsl_rng *r) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * gsl_rng_uniform(r));
}

static double dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

typedef double (*loss_fn)(void *ctx);

/* |fd - g| <= atol + rtol |g| for every `stride`-th element of p (and the
 * last one). */
static void check_fd_every(const char *what, float *p, const float *g, size_t n, size_t stride, float h, double rtol,
                           double atol, loss_fn loss, void *ctx) {
    for (size_t i = 0; i < n; i = (i + stride < n || i == n - 1) ? i + stride : n - 1) {
        const float keep = p[i], plus = keep + h, minus = keep - h;
        p[i] = plus;
        const double lp = loss(ctx);
        p[i] = minus;
        const double lm = loss(ctx);
        p[i] = keep;
        const double fd = (lp - lm) / ((double)plus - (double)minus);
        if (!(fabs(fd - g[i]) <= atol + rtol * fabs((double)g[i]))) {
            print_error("%s[%zu]: analytic %.9g, finite difference %.9g\n", what, i, (double)g[i], fd);
            fail();
        }
    }
}

static void check_fd(const char *what, float *p, const float *g, size_t n, float h, double rtol, double atol,
                     loss_fn loss, void *ctx) {
    check_fd_every(what, p, g, n, 1, h, rtol, atol, loss, ctx);
}

/* ---- convolution ------------------------------------------------------------ */

typedef struct {
    bfn_conv2d c;
    int B;
    float *in, *W, *b, *out, *r, *col;
    size_t col_n;
} conv_ctx;

static double conv_loss(void *p) {
    conv_ctx *x = p;
    bfn_conv2d_forward(&x->c, x->out, x->in, x->W, x->b, x->B, x->col, x->col_n);
    return dot(x->out, x->r, (size_t)x->B * x->c.OH * x->c.OW * x->c.OC);
}

/* Direct (loop) convolution as the reference for the forward pass. */
static double conv_ref(const conv_ctx *x, int e, int oy, int ox, int o) {
    const bfn_conv2d *c = &x->c;
    const int pad = c->K / 2;
    double s = x->b[o];
    for (int ky = 0; ky < c->K; ky++)
        for (int kx = 0; kx < c->K; kx++) {
            const int y = oy * c->stride + ky - pad, xx = ox * c->stride + kx - pad;
            if (y < 0 || y >= c->H || xx < 0 || xx >= c->W) continue;
            for (int i = 0; i < c->IC; i++)
                s += (double)x->W[((o * c->K + ky) * c->K + kx) * c->IC + i] *
                     x->in[(((size_t)e * c->H + y) * c->W + xx) * c->IC + i];
        }
    return s;
}

/* Forward against the direct loop, then FD gradients for in, W and b. The
 * scratch buffer holds two examples, so chunks of 2 and 1 run (the shifted
 * GEMMs read across example boundaries inside a chunk). */
static void check_conv(int H, int W, int IC, int OC, int K, int stride) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, (unsigned long)(H * 100 + K * 10 + stride));
    conv_ctx x = {.B = 3};
    assert_int_equal(bfn_conv2d_init(&x.c, H, W, IC, OC, K, stride), 0);
    const size_t nin = (size_t)x.B * H * W * IC, nw = (size_t)OC * K * K * IC;
    const size_t nout = (size_t)x.B * x.c.OH * x.c.OW * OC;
    x.col_n = bfn_conv_scratch_floats(&x.c, 2); /* chunks of 2 and 1 examples */
    x.in = calloc(nin, 4), x.W = calloc(nw, 4), x.b = calloc(OC, 4), x.out = calloc(nout, 4), x.r = calloc(nout, 4);
    x.col = calloc(x.col_n + 1, 4);
    fill(x.in, nin, -1, 1, r), fill(x.W, nw, -1, 1, r), fill(x.b, OC, -1, 1, r), fill(x.r, nout, -1, 1, r);
    conv_loss(&x);
    for (int e = 0; e < x.B; e++)
        for (int oy = 0; oy < x.c.OH; oy++)
            for (int ox = 0; ox < x.c.OW; ox++)
                for (int o = 0; o < OC; o++)
                    /* float GEMM vs double loop: K*K*IC <= 27 products of O(1). */
                    assert_close(x.out[(((size_t)e * x.c.OH + oy) * x.c.OW + ox) * OC + o], conv_ref(&x, e, oy, ox, o),
                                 1e-5);
    float *din = calloc(nin, 4), *dW = calloc(nw, 4), *db = calloc(OC, 4);
    bfn_conv2d_backward(&x.c, din, dW, db, x.r, x.in, x.W, x.B, x.col, x.col_n);
    check_fd("conv din", x.in, din, nin, 1e-2f, 2e-2, 2e-3, conv_loss, &x);
    check_fd("conv dW", x.W, dW, nw, 1e-2f, 2e-2, 2e-3, conv_loss, &x);
    check_fd("conv db", x.b, db, OC, 1e-2f, 2e-2, 2e-3, conv_loss, &x);
    free(x.in), free(x.W), free(x.b), free(x.out), free(x.r), free(x.col), free(din), free(dW), free(db);
    gsl_rng_free(r);
}

static void test_conv3x3_odd_sizes(void **state) { (void)state; check_conv(5, 7, 3, 4, 3, 1); }
/* 20 x 20: a chunk of 2 examples is more than one block of shifted-GEMM
 * rows (nn/conv.c BLOCK_ROWS = 512), so rows cross block boundaries and the
 * weight gradient adds two groups; 5 x 5 kernels: padding 2. */
static void test_conv_blocks_and_5x5(void **state) {
    (void)state;
    check_conv(20, 20, 3, 2, 3, 1);
    check_conv(6, 7, 2, 3, 5, 1);
}
static void test_conv3x3_stride2(void **state) {
    (void)state;
    check_conv(5, 5, 2, 3, 3, 2); /* odd: 5 -> 3 */
    check_conv(6, 4, 2, 3, 3, 2); /* even: 6 x 4 -> 3 x 2 */
}
static void test_conv1x1(void **state) { (void)state; check_conv(3, 5, 4, 3, 1, 1); }

/* ---- GroupNorm, SiLU, dropout, up-sampling ---------------------------------- */

typedef struct {
    int B, P, C, G;
    float *in, *w, *b, *out, *r, *mean, *rstd, *scratch;
} gn_ctx;

static double gn_loss(void *p) {
    gn_ctx *x = p;
    bfn_groupnorm_forward(x->out, x->mean, x->rstd, x->in, x->w, x->b, x->B, x->P, x->C, x->G, x->scratch);
    return dot(x->out, x->r, (size_t)x->B * x->P * x->C);
}

static void test_groupnorm(void **state) {
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gn_ctx x = {.B = 2, .P = 5, .C = 6, .G = 3};
    const size_t n = (size_t)x.B * x.P * x.C;
    x.in = calloc(n, 4), x.out = calloc(n, 4), x.r = calloc(n, 4), x.w = calloc(x.C, 4), x.b = calloc(x.C, 4);
    x.mean = calloc(x.B * x.G, 4), x.rstd = calloc(x.B * x.G, 4);
    float *scratch = calloc(6 * x.B * x.C, 4);
    x.scratch = scratch;
    fill(x.in, n, -2, 2, r), fill(x.r, n, -1, 1, r), fill(x.w, x.C, 0.5, 1.5, r), fill(x.b, x.C, -1, 1, r);
    gn_loss(&x);
    /* Closed form: each (example, group) of the normalised output, before
     * the affine map, has mean 0 and (biased) variance 1 - eps rstd^2. */
    for (int e = 0; e < x.B; e++)
        for (int g = 0; g < x.G; g++) {
            double s = 0, ss = 0;
            for (int p = 0; p < x.P; p++)
                for (int j = 0; j < 2; j++) {
                    const int c = g * 2 + j;
                    const double z = (x.out[((size_t)e * x.P + p) * x.C + c] - x.b[c]) / x.w[c];
                    s += z, ss += z * z;
                }
            assert_close(s / 10, 0, 1e-5);
            assert_close(ss / 10, 1, 1e-4);
        }
    float *din = calloc(n, 4), *dw = calloc(x.C, 4), *db = calloc(x.C, 4);
    bfn_groupnorm_backward(din, dw, db, x.r, x.in, x.w, x.mean, x.rstd, x.B, x.P, x.C, x.G, scratch);
    check_fd("gn din", x.in, din, n, 1e-2f, 2e-2, 2e-3, gn_loss, &x);
    check_fd("gn dw", x.w, dw, x.C, 1e-2f, 2e-2, 2e-3, gn_loss, &x);
    check_fd("gn db", x.b, db, x.C, 1e-2f, 2e-2, 2e-3, gn_loss, &x);
    free(x.in), free(x.out), free(x.r), free(x.w), free(x.b), free(x.mean), free(x.rstd), free(din), free(dw), free(db);
    free(scratch);
    gsl_rng_free(r);
}

typedef struct {
    int kind; /* 0 silu, 1 dropout, 2 upsample */
    float *in, *out, *r;
    long n, n_out;
} pw_ctx;

static double pw_loss(void *p) {
    pw_ctx *x = p;
    if (x->kind == 0) bfn_silu_forward(x->out, x->in, x->n);
    else if (x->kind == 1) bfn_dropout_forward(x->out, x->in, x->n, 0.3f, 42);
    else bfn_upsample2_forward(x->out, x->in, 2, 3, 5, 2);
    return dot(x->out, x->r, (size_t)x->n_out);
}

static void test_silu_dropout_upsample(void **state) {
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    for (int kind = 0; kind < 3; kind++) {
        pw_ctx x = {.kind = kind, .n = 2 * 3 * 5 * 2};
        x.n_out = kind == 2 ? 4 * x.n : x.n;
        x.in = calloc(x.n, 4), x.out = calloc(x.n_out, 4), x.r = calloc(x.n_out, 4);
        float *din = calloc(x.n, 4);
        fill(x.in, x.n, -3, 3, r), fill(x.r, x.n_out, -1, 1, r);
        pw_loss(&x);
        if (kind == 0) {
            assert_close(x.out[0], x.in[0] / (1 + exp(-x.in[0])), 1e-6);
            bfn_silu_backward(din, x.in, x.r, x.n);
        } else if (kind == 1) {
            bfn_dropout_backward(din, x.r, x.n, 0.3f, 42);
        } else {
            /* out pixel (y, x) of example 1 = in pixel (y/2, x/2). */
            assert_true(x.out[((1 * 6 + 5) * 10 + 7) * 2 + 1] == x.in[((1 * 3 + 2) * 5 + 3) * 2 + 1]);
            bfn_upsample2_backward(din, x.r, 2, 3, 5, 2);
        }
        check_fd(kind == 0 ? "silu" : kind == 1 ? "dropout" : "upsample", x.in, din, x.n, 1e-2f, 2e-2, 2e-3, pw_loss,
                 &x);
        free(x.in), free(x.out), free(x.r), free(din);
    }
    gsl_rng_free(r);
}

/* The mask keeps a fraction 1 - p (binomial: 1e5 draws, sd 0.0015, tol 5 sd)
 * and is a pure function of (seed, index). */
static void test_dropout_mask(void **state) {
    (void)state;
    long kept = 0;
    for (long i = 0; i < 100000; i++) kept += bfn_dropout_keep(7, i, 0.3f);
    assert_close(kept / 1e5, 0.7, 0.0075);
    assert_int_equal(bfn_dropout_keep(7, 123, 0.3f), bfn_dropout_keep(7, 123, 0.3f));
    int differ = 0;
    for (long i = 0; i < 64; i++) differ |= bfn_dropout_keep(7, i, 0.5f) != bfn_dropout_keep(8, i, 0.5f);
    assert_true(differ);
}

/* ---- the whole network -------------------------------------------------------- */

/* Tiny DDPM-style net: 2 levels on a 4 x 6 image of 2 channels, attention at
 * both resolutions (a spatial attention over 24 and 6 pixels), dropout on. */
static const bfn_unet_spec TINY_DDPM = {
    .img_ch = 2, .height = 4, .width = 6, .in_ch = 1, .out_ch = 2, .channels = 4, .n_levels = 2, .mult = {1, 2},
    .res_blocks = 1, .n_attn = 2, .attn_res = {1, 2}, .heads = 2, .groups = 2, .dropout = 0.2f, .fourier = 0,
    .time_input = 1, .project_input = 1, .out_channels = 6, .time_embed = BFN_UNET_TIME_DDPM};
/* Tiny VDM-style net: one level of 2 blocks, Fourier features, no time input. */
static const bfn_unet_spec TINY_VDM = {
    .img_ch = 1, .height = 3, .width = 5, .in_ch = 1, .out_ch = 2, .channels = 4, .n_levels = 1, .mult = {1},
    .res_blocks = 2, .n_attn = 0, .heads = 1, .groups = 2, .dropout = 0.1f, .fourier = 1, .time_input = 0,
    .project_input = 0, .out_channels = 0, .time_embed = BFN_UNET_TIME_VDM};

typedef struct {
    bfn_model *m;
    int B;
    float *params, *in, *t, *out, *r;
} net_ctx;

static double net_loss(void *p) {
    net_ctx *x = p;
    x->m->ops->forward(x->m, x->params, x->B, x->in, x->t, x->out);
    return dot(x->out, x->r, (size_t)x->B * x->m->out_dim);
}

static void net_open(net_ctx *x, const bfn_unet_spec *s, int B, unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    x->B = B;
    assert_int_equal(bfn_unet_create(&x->m, s, B), BFN_OK);
    x->params = calloc(x->m->layout.n, 4);
    x->in = calloc((size_t)B * x->m->in_dim, 4);
    x->t = calloc(B, 4);
    x->out = calloc((size_t)B * x->m->out_dim, 4);
    x->r = calloc((size_t)B * x->m->out_dim, 4);
    x->m->ops->init(x->m, x->params, r);
    fill(x->in, (size_t)B * x->m->in_dim, -1, 1, r);
    fill(x->t, B, 0, 1, r);
    fill(x->r, (size_t)B * x->m->out_dim, -1, 1, r);
    gsl_rng_free(r);
}

static void net_close(net_ctx *x) {
    bfn_model_free(x->m);
    free(x->params), free(x->in), free(x->t), free(x->out), free(x->r);
}

/* Every parameter tensor's gradient against finite differences. The zero-
 * initialised tensors are randomised first so every path carries signal;
 * dropout runs in training mode with a fixed seed (the same masks in every
 * evaluation). GroupNorm rescales, so the loss is O(10) and the FD noise is
 * larger: atol 5e-3. */
static void check_net_grad(const bfn_unet_spec *s) {
    net_ctx x;
    net_open(&x, s, 2, 5);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    for (int i = 0; i < x.m->layout.n_tensors; i++)
        fill(x.params + x.m->layout.t[i].offset, x.m->layout.t[i].size, -0.5, 0.5, r);
    x.m->train = 1;
    x.m->noise_seed = 99;
    float *g = calloc(x.m->layout.n, 4);
    net_loss(&x);
    x.m->ops->backward(x.m, x.params, x.B, x.r, g);
    for (int i = 0; i < x.m->layout.n_tensors; i++) {
        const bfn_tensor_info *t = &x.m->layout.t[i];
        /* About 5 elements of every tensor (each FD point costs two forwards). */
        check_fd_every(t->name, x.params + t->offset, g + t->offset, t->size, t->size / 5 + 1, 1e-2f, 3e-2, 5e-3,
                       net_loss, &x);
    }
    /* Backward accumulates: a second call doubles the gradient. */
    float *g2 = calloc(x.m->layout.n, 4);
    memcpy(g2, g, x.m->layout.n * 4);
    net_loss(&x);
    x.m->ops->backward(x.m, x.params, x.B, x.r, g2);
    for (size_t k = 0; k < x.m->layout.n; k++) assert_close(g2[k], 2 * g[k], 1e-5 * (1 + fabs(g[k])));
    free(g), free(g2);
    gsl_rng_free(r);
    net_close(&x);
}

static void test_unet_grad_ddpm(void **state) { (void)state; check_net_grad(&TINY_DDPM); }
static void test_unet_grad_vdm(void **state) { (void)state; check_net_grad(&TINY_VDM); }

/* At initialisation the zero-initialised output convolution makes the
 * network output the output adapter applied to the (projected) input only,
 * and in evaluation mode dropout is off: two forwards are identical. */
static void test_unet_eval_mode_and_init(void **state) {
    (void)state;
    net_ctx x;
    net_open(&x, &TINY_DDPM, 3, 9);
    const size_t n = (size_t)3 * x.m->out_dim;
    float *o1 = calloc(n, 4);
    x.m->ops->forward(x.m, x.params, 3, x.in, x.t, o1);
    x.m->ops->forward(x.m, x.params, 3, x.in, x.t, x.out);
    assert_memory_equal(o1, x.out, n * 4);
    /* Changing t changes nothing at init (the time path ends in zeros) ... */
    for (int b = 0; b < 3; b++) x.t[b] = 1 - x.t[b] * 0.5f;
    x.m->ops->forward(x.m, x.params, 3, x.in, x.t, x.out);
    /* ... except through the time input channel, which the projection sees. */
    int differ = memcmp(o1, x.out, n * 4) != 0;
    assert_true(differ);
    int ti = bfn_layout_find(&x.m->layout, "out.conv.weight");
    assert_true(ti >= 0);
    for (size_t k = 0; k < x.m->layout.t[ti].size; k++) assert_true(x.params[x.m->layout.t[ti].offset + k] == 0.0f);
    free(o1);
    net_close(&x);
}

/* Reordering the batch reorders the outputs (up to GEMM rounding, since an
 * example's rows sit at other positions of the GEMMs). */
static void test_unet_batch_order(void **state) {
    (void)state;
    net_ctx x;
    net_open(&x, &TINY_DDPM, 4, 3);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    for (int i = 0; i < x.m->layout.n_tensors; i++)
        fill(x.params + x.m->layout.t[i].offset, x.m->layout.t[i].size, -0.5, 0.5, r);
    const int D = x.m->in_dim, O = x.m->out_dim;
    float *in2 = calloc((size_t)4 * D, 4), *t2 = calloc(4, 4), *o1 = calloc((size_t)4 * O, 4);
    const int perm[4] = {2, 0, 3, 1};
    for (int b = 0; b < 4; b++) {
        memcpy(in2 + (size_t)b * D, x.in + (size_t)perm[b] * D, (size_t)D * 4);
        t2[b] = x.t[perm[b]];
    }
    x.m->ops->forward(x.m, x.params, 4, x.in, x.t, o1);
    x.m->ops->forward(x.m, x.params, 4, in2, t2, x.out);
    for (int b = 0; b < 4; b++) assert_floats_near(x.out + (size_t)b * O, o1 + (size_t)perm[b] * O, O, 1e-5);
    free(in2), free(t2), free(o1);
    gsl_rng_free(r);
    net_close(&x);
}

/* Same seed and thread count: bitwise identical outputs and gradients, with
 * 1 and with 2 threads (training mode, dropout on). */
static void test_unet_determinism(void **state) {
    (void)state;
    const int saved = omp_get_max_threads();
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        float *res[2];
        size_t n = 0;
        for (int rep = 0; rep < 2; rep++) {
            net_ctx x;
            net_open(&x, &TINY_DDPM, 3, 11);
            x.m->train = 1;
            x.m->noise_seed = 5;
            n = x.m->layout.n;
            res[rep] = calloc(n + (size_t)3 * x.m->out_dim, 4);
            net_loss(&x);
            x.m->ops->backward(x.m, x.params, 3, x.r, res[rep]);
            memcpy(res[rep] + n, x.out, (size_t)3 * x.m->out_dim * 4);
            n += (size_t)3 * x.m->out_dim;
            net_close(&x);
        }
        assert_memory_equal(res[0], res[1], n * 4);
        free(res[0]), free(res[1]);
    }
    omp_set_num_threads(saved);
}

/* ---- config: the official networks' parameter counts, errors, run key ------- */

/* Parameter count of the U-Net an experiment's profile describes, for an
 * image of c x h x w and the family's in/out channels. */
static size_t count_from_experiment(const char *path, const char *profile, int c, int h, int w, int out_ch,
                                    char *const *over, int n_over) {
    bfn_config *cfg;
    assert_int_equal(bfn_config_load(&cfg, path, profile, n_over, over), BFN_OK);
    bfn_model_shape sh = {.in_ch = 1, .out_ch = out_ch, .D = c * h * w, .channels = c, .height = h, .width = w,
                          .max_batch = 1};
    bfn_unet_spec s;
    bfn_spec spec;
    bfn_spec_resolve(&spec, cfg);
    assert_int_equal(bfn_unet_spec_from_model(&s, &spec.model, &sh), BFN_OK);
    size_t n = 0;
    assert_int_equal(bfn_unet_param_count(&s, &n), BFN_OK);
    bfn_config_free(cfg);
    return n;
}

/* Counts of the official networks, from instantiating the official classes
 * (networks/unet_improved.py UNetModel with the mnist_discrete.yaml
 * parameters; networks/unet_vdm.py UNetVDM with the CIFAR-10 yaml
 * parameters, 3 x 32 x 32, output_height 2 for discretised and 1 for
 * continuous data) with Debian's torch: sum(p.numel()). */
static void test_paper_param_counts(void **state) {
    (void)state;
    assert_int_equal(count_from_experiment("experiments/mnist.ini", "paper", 1, 28, 28, 1, NULL, 0), 24808961);
    char *cifar10[] = {"data.dataset=cifar10"};
    assert_int_equal(count_from_experiment("experiments/cifar.ini", "paper", 3, 32, 32, 2, cifar10, 1), 30722584);
    assert_int_equal(count_from_experiment("experiments/cifar.ini", "paper", 3, 32, 32, 1, cifar10, 1), 30722188);
}

static const char *write_ini(const char *text) {
    static char path[300];
    snprintf(path, sizeof path, "%s/exp.ini", test_tmpdir());
    test_write_file(path, text, strlen(text));
    return path;
}

/* A U-Net error names the key's file and line. */
static void expect_model_error(const char *ini, const char *needle1, const char *needle2) {
    bfn_config *cfg;
    const char *path = write_ini(ini);
    int rc = bfn_config_load(&cfg, path, NULL, 0, NULL);
    if (rc == BFN_OK) {
        bfn_model_shape sh = {.in_ch = 1, .out_ch = 1, .D = 784, .channels = 1, .height = 28, .width = 28,
                              .max_batch = 2};
        bfn_model *m = NULL;
        bfn_spec spec;
        bfn_spec_resolve(&spec, cfg);
        rc = bfn_model_create(&m, &spec.model, &sh);
        bfn_model_free(m);
        bfn_config_free(cfg);
    }
    assert_int_not_equal(rc, BFN_OK);
    if (!strstr(bfn_last_error(), needle1) || !strstr(bfn_last_error(), needle2)) {
        print_error("message '%s' lacks '%s' or '%s'\n", bfn_last_error(), needle1, needle2);
        fail();
    }
}

static void test_config_errors(void **state) {
    (void)state;
    /* 28 x 28 halved three times: 28 -> 14 -> 7 -> 4 cannot come back to 7. */
    expect_model_error("[model]\narch = unet\nchannel_mult = 1,2,2,2\n", "exp.ini:3", "cannot be halved 3 times");
    expect_model_error("[model]\narch = unet\nchannels = 48\ngroups = 32\n", "exp.ini:4", "does not divide");
    expect_model_error("[model]\narch = unet\nchannels = 32\nheads = 3\n", "exp.ini:4", "heads");
    expect_model_error("[model]\narch = resnet\n", "exp.ini:2", "registered: mlp, transformer, unet");
}

/* Run keys: a U-Net key on an MLP run changes nothing; on a U-Net run it
 * makes a new run; the EMA warm-up at its default (off) leaves keys as they
 * were, on it makes a new run. */
static void test_run_key_per_arch(void **state) {
    (void)state;
    const char *path = write_ini("[model]\narch = mlp\n");
    char k0[17], k1[17], k2[17], k3[17], k4[17], k5[17];
    bfn_config *c;
    assert_int_equal(bfn_config_load(&c, path, NULL, 0, NULL), BFN_OK);
    bfn_config_run_key(c, k0);
    char *o1[] = {"model.channels=64", "model.channel_mult=1,2", "model.dropout=0.3", "train.ema_warmup=0"};
    assert_int_equal(bfn_config_override(c, 4, o1), BFN_OK);
    bfn_config_run_key(c, k1);
    assert_string_equal(k0, k1);
    char *o2[] = {"model.arch=unet"};
    assert_int_equal(bfn_config_override(c, 1, o2), BFN_OK);
    bfn_config_run_key(c, k2);
    char *o3[] = {"model.channels=32"};
    assert_int_equal(bfn_config_override(c, 1, o3), BFN_OK);
    bfn_config_run_key(c, k3);
    assert_string_not_equal(k1, k2);
    assert_string_not_equal(k2, k3);
    char *o4[] = {"model.hidden=7"}; /* an MLP/transformer key: not read by the U-Net, so not in its key */
    assert_int_equal(bfn_config_override(c, 1, o4), BFN_OK);
    bfn_config_run_key(c, k4);
    assert_string_equal(k3, k4);
    char *o5[] = {"train.ema_warmup=1"};
    assert_int_equal(bfn_config_override(c, 1, o5), BFN_OK);
    bfn_config_run_key(c, k5);
    assert_string_not_equal(k4, k5);
    bfn_config_free(c);
}

static void test_registry(void **state) {
    (void)state;
    assert_int_equal(bfn_model_count(), 3);
    assert_non_null(bfn_model_find("unet"));
    assert_null(bfn_model_find("resnet"));
    assert_true(bfn_model_uses_key("unet", "model.channels"));
    assert_false(bfn_model_uses_key("mlp", "model.channels"));
    assert_false(bfn_model_uses_key("unet", "model.channel")); /* whole words only */
    assert_string_equal(bfn_model_names(), "mlp, transformer, unet");
}

/* EMA warm-up: decay_t = min(decay, (1 + t)/(10 + t)). */
static void test_ema_warmup(void **state) {
    (void)state;
    bfn_adamw_cfg c = {.ema_decay = 0.999f, .ema_warmup = 1};
    assert_close(bfn_ema_decay_at(&c, 1), 2.0 / 11.0, 1e-12);
    assert_close(bfn_ema_decay_at(&c, 100), 101.0 / 110.0, 1e-12);
    assert_close(bfn_ema_decay_at(&c, 100000), (double)0.999f, 1e-12);
    c.ema_warmup = 0;
    assert_close(bfn_ema_decay_at(&c, 1), (double)0.999f, 1e-12);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv3x3_odd_sizes),
        cmocka_unit_test(test_conv_blocks_and_5x5),
        cmocka_unit_test(test_conv3x3_stride2),
        cmocka_unit_test(test_conv1x1),
        cmocka_unit_test(test_groupnorm),
        cmocka_unit_test(test_silu_dropout_upsample),
        cmocka_unit_test(test_dropout_mask),
        cmocka_unit_test(test_unet_grad_ddpm),
        cmocka_unit_test(test_unet_grad_vdm),
        cmocka_unit_test(test_unet_eval_mode_and_init),
        cmocka_unit_test(test_unet_batch_order),
        cmocka_unit_test(test_unet_determinism),
        cmocka_unit_test(test_paper_param_counts),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_run_key_per_arch),
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_ema_warmup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
