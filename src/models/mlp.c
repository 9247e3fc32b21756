/* mlp.c: the MLP network behind the bfn_model interface (model.h).
 *
 * Shape, for `layers` = L hidden layers of width H:
 *   h_0 = gelu(x W_0^T + (2t - 1) w_t + b_0)         x (B, in_dim)
 *   h_l = gelu(h_{l-1} W_l^T + b_l),  l = 1..L-1
 *   out = h_{L-1} W_L^T + b_L                         (B, out_dim), no activation
 * The time enters as one more input feature 2t - 1 (as the official adapters
 * feed time). Rather than copying x into a (B, in_dim + 1) matrix, its weight
 * column w_t = "fc0.weight_t" (H) is kept separately and the rank-1 term is
 * folded into the loop that writes the bias rows before the first GEMM.
 *
 * Memory: one 64-byte aligned arena holds, for max_batch rows, the cached
 * 2t - 1 values, the pre-activations z_l and activations h_l of every hidden
 * layer, and two (B, H) scratch buffers for backward. Forward caches z_l, h_l
 * and a POINTER to the input x (not a copy): the caller must keep `in`
 * unchanged until the matching backward call. */
#include "models/model.h"
#include "models/mlp_keys.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/layers.h"
#include "util/err.h"

/* The output layer starts at FINAL_SCALE times the torch-default init and
 * with zero bias, so the network output is close to zero at step 0: the
 * continuous family's predicted noise starts near 0 (x_hat near mu/gamma) and
 * discrete logits near 0 (output distribution near uniform), so the first
 * losses are near their "know-nothing" values instead of being inflated by
 * random O(1) outputs, and early gradients are moderate. */
#define FINAL_SCALE 0.1

typedef struct {
    int hidden, layers;      /* L hidden layers => L + 1 linear layers */
    size_t *w_off, *b_off;   /* (L + 1) offsets into the parameter buffer */
    size_t wt_off;           /* fc0.weight_t */
    float *arena;            /* the one activation allocation */
    float *tt;               /* (max_batch) 2t - 1 of the last forward */
    float **pre, **act;      /* L buffers of (max_batch, H): z_l and gelu(z_l) */
    float *dact, *dpre;      /* backward scratch, (max_batch, H) each */
    const float *last_in;    /* x of the last forward (not owned) */
    int last_B;              /* batch of the last forward, -1 before any */
} mlp_impl;

static size_t round16(size_t n) { return (n + 15) / 16 * 16; }

/* Fill n floats with U(-bound, bound) * scale from rng, in index order. */
static void fill_uniform(float *w, size_t n, double bound, double scale, gsl_rng *rng) {
    for (size_t i = 0; i < n; i++) w[i] = (float)(scale * bound * (2.0 * gsl_rng_uniform(rng) - 1.0));
}

/* torch.nn.Linear's default init: weight and bias ~ U(-1/sqrt(fan_in),
 * 1/sqrt(fan_in)); layer 0's fan_in counts the time feature, whose weight
 * column is drawn the same way. Draws follow the layout order (fc0.weight,
 * fc0.bias, fc0.weight_t, fc1.weight, ...). The output layer is scaled by
 * FINAL_SCALE with zero bias (see above). Padding floats are zeroed. */
static void mlp_init(bfn_model *m, float *params, gsl_rng *rng) {
    mlp_impl *p = m->impl;
    const int H = p->hidden, L = p->layers;
    memset(params, 0, m->layout.n * sizeof *params);
    for (int l = 0; l <= L; l++) {
        const int fan_in = l == 0 ? m->in_dim + 1 : H;
        const int fan_out = l == L ? m->out_dim : H;
        const double bound = 1.0 / sqrt((double)fan_in);
        const int last = l == L;
        fill_uniform(params + p->w_off[l], (size_t)fan_out * (size_t)(l == 0 ? m->in_dim : H), bound,
                     last ? FINAL_SCALE : 1.0, rng);
        if (!last) fill_uniform(params + p->b_off[l], (size_t)fan_out, bound, 1.0, rng);
        if (l == 0) fill_uniform(params + p->wt_off, (size_t)H, bound, 1.0, rng);
    }
}

/* out (B, out_dim) = MLP(in (B, in_dim), t (B)); caches z_l, h_l, 2t - 1 and
 * the `in` pointer for backward. B must not exceed max_batch. */
static void mlp_forward(bfn_model *m, const float *params, int B, const float *in, const float *t,
                        float *out) {
    mlp_impl *p = m->impl;
    BFN_ASSERT(B >= 0 && B <= m->max_batch, "mlp forward: batch %d larger than max_batch %d", B, m->max_batch);
    p->last_in = in;
    p->last_B = B;
    if (B == 0) return;
    const int H = p->hidden, L = p->layers, D = m->in_dim;
    const long BH = (long)B * H;

    for (int b = 0; b < B; b++) p->tt[b] = 2.0f * t[b] - 1.0f;

    /* z_0 = b_0 + (2t - 1) w_t (one fused pass), then += x W_0^T (GEMM, beta = 1). */
    const float *b0 = params + p->b_off[0], *wt = params + p->wt_off;
    float *z0 = p->pre[0];
    for (int b = 0; b < B; b++) {
        float *row = z0 + (size_t)b * H;
        const float tb = p->tt[b];
#pragma omp simd
        for (int h = 0; h < H; h++) row[h] = b0[h] + tb * wt[h];
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, H, D, 1.0f, in, D, params + p->w_off[0], D,
                1.0f, z0, H);
    bfn_gelu_forward(p->act[0], z0, BH);

    for (int l = 1; l < L; l++) {
        bfn_linear_forward(p->pre[l], p->act[l - 1], params + p->w_off[l], params + p->b_off[l], B, H, H);
        bfn_gelu_forward(p->act[l], p->pre[l], BH);
    }
    bfn_linear_forward(out, p->act[L - 1], params + p->w_off[L], params + p->b_off[L], B, H, m->out_dim);
}

/* grads += d(sum dout . out)/d params for the last forward batch. dL/dh is
 * written (beta = 0) into dact, dL/dz into dpre (written by
 * bfn_gelu_backward_set, so it needs no zeroing), so no allocation happens
 * here. (Writing grads with beta = 0 instead of accumulating would not save
 * the trainer's zeroing pass: OpenBLAS 0.3.21 clears C itself when beta = 0,
 * a memset inside sgemm, as perf shows.) */
static void mlp_backward(bfn_model *m, const float *params, int B, const float *dout, float *grads) {
    mlp_impl *p = m->impl;
    BFN_ASSERT(B == p->last_B, "mlp backward: batch %d differs from the last forward's %d", B, p->last_B);
    if (B == 0) return;
    const int H = p->hidden, L = p->layers, D = m->in_dim, O = m->out_dim;
    const long BH = (long)B * H;

    /* Output layer: weight/bias gradients and dL/dh_{L-1} = dout W_L. */
    bfn_linear_backward(NULL, grads + p->w_off[L], grads + p->b_off[L], dout, p->act[L - 1],
                    params + p->w_off[L], B, H, O);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, H, O, 1.0f, dout, O, params + p->w_off[L], H,
                0.0f, p->dact, H);

    for (int l = L - 1; l >= 0; l--) {
        bfn_gelu_backward_set(p->dpre, p->pre[l], p->dact, BH);
        if (l > 0) {
            bfn_linear_backward(NULL, grads + p->w_off[l], grads + p->b_off[l], p->dpre, p->act[l - 1],
                            params + p->w_off[l], B, H, H);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, H, H, 1.0f, p->dpre, H,
                        params + p->w_off[l], H, 0.0f, p->dact, H);
        } else {
            bfn_linear_backward(NULL, grads + p->w_off[0], NULL, p->dpre, p->last_in, params + p->w_off[0], B, D,
                            H);
            /* Bias and time-weight gradients in one pass: db_0 += sum_b dz,
             * dw_t += sum_b dz (2t_b - 1), rows added in order. */
            float *gb = grads + p->b_off[0], *gwt = grads + p->wt_off;
            for (int b = 0; b < B; b++) {
                const float *row = p->dpre + (size_t)b * H;
                const float tb = p->tt[b];
#pragma omp simd
                for (int h = 0; h < H; h++) {
                    gb[h] += row[h];
                    gwt[h] += row[h] * tb;
                }
            }
        }
    }
}

/* 2 x multiply-adds of one forward pass (bias adds and GELU not counted). */
static double mlp_flops_per_example(const bfn_model *m) {
    const mlp_impl *p = m->impl;
    const double H = p->hidden;
    return 2.0 * ((m->in_dim + 1.0) * H + (p->layers - 1.0) * H * H + H * m->out_dim);
}

static void mlp_destroy(bfn_model *m) {
    mlp_impl *p = m->impl;
    if (p) {
        free(p->arena);
        free(p->w_off);
        free(p->b_off);
        free(p->pre);
        free(p->act);
        free(p);
    }
    free(m);
}

static const bfn_model_ops mlp_ops = {
    .name = "mlp",
    .init = mlp_init,
    .forward = mlp_forward,
    .backward = mlp_backward,
    .destroy = mlp_destroy,
    .flops_per_example = mlp_flops_per_example,
};

/* Build the layout (fc0.weight (H, in_dim), fc0.bias (H), fc0.weight_t (H),
 * fc1.weight (H, H), ..., fcL.weight (out_dim, H), fcL.bias (out_dim);
 * matrices and w_t decay, biases do not) and the activation arena. */
int bfn_mlp_create(bfn_model **out, int in_dim, int out_dim, int hidden, int layers, int max_batch) {
    *out = NULL;
    if (in_dim <= 0 || out_dim <= 0 || hidden <= 0 || max_batch <= 0)
        return bfn_error(BFN_EINVAL, "mlp: in_dim, out_dim, hidden and max_batch must be positive "
                                     "(got %d, %d, %d, %d)", in_dim, out_dim, hidden, max_batch);
    if (layers < 1 || 2 * (layers + 1) + 1 > BFN_MAX_TENSORS)
        return bfn_error(BFN_EINVAL, "mlp: layers must be in 1..%d (got %d)", (BFN_MAX_TENSORS - 1) / 2 - 1,
                         layers);

    bfn_model *m = bfn_xcalloc(1, sizeof *m);
    mlp_impl *p = bfn_xcalloc(1, sizeof *p);
    m->ops = &mlp_ops;
    m->impl = p;
    m->in_dim = in_dim;
    m->out_dim = out_dim;
    m->max_batch = max_batch;
    p->hidden = hidden;
    p->layers = layers;
    p->last_B = -1;
    p->w_off = bfn_xcalloc((size_t)layers + 1, sizeof *p->w_off);
    p->b_off = bfn_xcalloc((size_t)layers + 1, sizeof *p->b_off);
    p->pre = bfn_xcalloc((size_t)layers, sizeof *p->pre);
    p->act = bfn_xcalloc((size_t)layers, sizeof *p->act);

    char name[BFN_TENSOR_NAME];
    for (int l = 0; l <= layers; l++) {
        const int rows = l == layers ? out_dim : hidden, cols = l == 0 ? in_dim : hidden;
        const int wshape[2] = {rows, cols}, bshape[1] = {rows};
        snprintf(name, sizeof name, "fc%d.weight", l);
        p->w_off[l] = bfn_layout_add(&m->layout, name, 1, 2, wshape);
        snprintf(name, sizeof name, "fc%d.bias", l);
        p->b_off[l] = bfn_layout_add(&m->layout, name, 0, 1, bshape);
        if (l == 0) p->wt_off = bfn_layout_add(&m->layout, "fc0.weight_t", 1, 1, bshape);
    }

    const size_t bh = round16((size_t)max_batch * (size_t)hidden);
    const size_t n_floats = round16((size_t)max_batch) + (2 * (size_t)layers + 2) * bh;
    p->arena = aligned_alloc(64, n_floats * sizeof(float));
    if (!p->arena) {
        mlp_destroy(m);
        return bfn_error(BFN_ENOMEM, "mlp: cannot allocate %zu floats of activations for max_batch %d",
                         n_floats, max_batch);
    }
    memset(p->arena, 0, n_floats * sizeof(float));
    float *cur = p->arena;
    p->tt = cur;
    cur += round16((size_t)max_batch);
    for (int l = 0; l < layers; l++) {
        p->pre[l] = cur;
        cur += bh;
        p->act[l] = cur;
        cur += bh;
    }
    p->dact = cur;
    cur += bh;
    p->dpre = cur;
    *out = m;
    return BFN_OK;
}

/* ---- from its settings (mlp_keys.h) ---- */
BFN_KEY_OWN_FITS(bfn_mlp_keys);
#define MLP_DEF(...) BFN_KEY_DEF_IN(bfn_mlp_keys, __VA_ARGS__)
const bfn_key_def bfn_mlp_key_defs[] = {BFN_MLP_KEYS(MLP_DEF) BFN_KEY_END};

/* MLP over the flattened data (+ time); widths from model.hidden/layers. */
int bfn_mlp_make(bfn_model **out, const bfn_model_spec *spec, const bfn_model_shape *sh) {
    const bfn_mlp_keys *m = BFN_KEY_OWN_AS(spec->own, bfn_mlp_keys);
    int rc = bfn_mlp_create(out, sh->D * sh->in_ch, sh->D * sh->out_ch, m->hidden, m->layers, sh->max_batch);
    return rc == BFN_OK ? rc : bfn_error_prefix(rc, "%s", bfn_model_origin(spec, "model.arch"));
}
