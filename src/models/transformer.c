/* transformer.c: the non-causal, pre-LayerNorm transformer of the official text8
 * network (networks/transformer.py GPT with is_causal=False, bias=True,
 * dropout 0; input adapter networks/adapters.py TextInputAdapter), as a
 * bfn_model. paper/NOTES.md §3.4.
 *
 * Per example: in (T, in_ch) is the discrete family's network input 2 theta - 1
 * per position, t a scalar. Shapes below: N = B*T rows, C width.
 *   h0 = in @ Win^T + bin + pos_table + (Wt (2t - 1) + bt)      (adapter)
 *   x  = h0; per block: x += proj(attn(LN1(x))); x += fc2(gelu(fc(LN2(x))))
 *   out = head([LN_f(x), h0]) (skip) or head(LN_f(x)).
 * Activations for max_batch are one allocation carved at create; forward
 * caches every tensor backward needs; neither allocates. */
#include <gsl/gsl_randist.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/model.h"
#include "models/transformer_keys.h"
#include "nn/attention.h"
#include "nn/attention_stream.h"
#include "nn/layers.h"
#include "util/err.h"

/* Parameter offsets (in floats) of one block. */
typedef struct {
    size_t ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b;
    size_t ln2_w, ln2_b, fc_w, fc_b, fc2_w, fc2_b;
} block_params;

/* Cached activations of one block (each sized for max_batch). The block's
 * input is h0 for block 0 and the previous block's xout otherwise. */
typedef struct {
    float *ln1, *mean1, *rstd1; /* (N, C), (N), (N) */
    float *qkv;                 /* (N, 3C) */
    float *atty;                /* (N, C): heads' outputs before the projection */
    float *lse;                 /* (B, NH, T): log-sum-exp of each attention score row */
    float *xmid;                /* (N, C): residual stream after attention */
    float *ln2, *mean2, *rstd2;
    float *fcpre, *fcgelu;      /* (N, 4C) before / after GELU */
    float *xout;                /* (N, C): residual stream after the MLP */
} block_acts;

typedef struct {
    int T, in_ch, out_ch, L, NH, C, skip, max_batch;
    size_t in_w, in_b, t_w, t_b, lnf_w, lnf_b, head_w, head_b;
    block_params *bp;
    float init_std[BFN_MAX_TENSORS]; /* per tensor: >0 N(0, std), 0 zeros, <0 ones */
    float *pos;                      /* (T, C) fixed position table */

    float *arena; /* the one activation allocation */
    float *input, *tin;              /* copies of the last forward's inputs */
    float *h0;                       /* (N, C) adapter output */
    block_acts *ba;
    float *lnf, *meanf, *rstdf;      /* final LayerNorm */
    float *dx, *dln, *dbig;          /* backward scratch: (N,C), (N,C), (N,4C) */
    float *attn_scratch;             /* attn_slots per-thread slots (attention_stream.h) */
    int attn_slots;
    float *dinput;                   /* optional: receives += dL/din (tests) */
    int last_B;
} tf_impl;

static const bfn_model_ops tf_ops;

/* Next slice of n floats from the arena, rounded to 16 floats (64 bytes) so
 * every tensor starts cache-line aligned. With arena == NULL it only counts
 * (the sizing pass) and returns NULL. */
static float *carve(tf_impl *im, size_t *cursor, size_t n) {
    float *p = im->arena ? im->arena + *cursor : NULL;
    *cursor += (n + 15) & ~(size_t)15;
    return p;
}

/* Assign every activation pointer; returns the number of floats used. */
static size_t carve_all(tf_impl *im) {
    size_t cur = 0;
    size_t B = (size_t)im->max_batch, N = B * im->T, C = im->C;
    size_t NC = N * C, lse = B * im->NH * im->T;
    im->input = carve(im, &cur, N * im->in_ch);
    im->tin = carve(im, &cur, B);
    im->h0 = carve(im, &cur, NC);
    for (int l = 0; l < im->L; l++) {
        block_acts *a = &im->ba[l];
        a->ln1 = carve(im, &cur, NC);
        a->mean1 = carve(im, &cur, N);
        a->rstd1 = carve(im, &cur, N);
        a->qkv = carve(im, &cur, 3 * NC);
        a->atty = carve(im, &cur, NC);
        a->lse = carve(im, &cur, lse);
        a->xmid = carve(im, &cur, NC);
        a->ln2 = carve(im, &cur, NC);
        a->mean2 = carve(im, &cur, N);
        a->rstd2 = carve(im, &cur, N);
        a->fcpre = carve(im, &cur, 4 * NC);
        a->fcgelu = carve(im, &cur, 4 * NC);
        a->xout = carve(im, &cur, NC);
    }
    im->lnf = carve(im, &cur, NC);
    im->meanf = carve(im, &cur, N);
    im->rstdf = carve(im, &cur, N);
    im->dx = carve(im, &cur, NC);
    im->dln = carve(im, &cur, NC);
    im->dbig = carve(im, &cur, 4 * NC);
    im->attn_scratch = carve(im, &cur, (size_t)im->attn_slots * bfn_attention_stream_scratch_floats(im->T));
    return cur;
}

/* Append one tensor to the layout and remember how init fills it. */
static size_t add_tensor(bfn_model *m, const char *name, int decay, float init_std, int d0, int d1) {
    tf_impl *im = m->impl;
    int shape[2] = {d0, d1};
    im->init_std[m->layout.n_tensors] = init_std;
    return bfn_layout_add(&m->layout, name, decay, d1 > 0 ? 2 : 1, shape);
}

/* Build the parameter layout in a fixed order. Init follows nanoGPT (the
 * official GPT._init_weights): Linear weights N(0, 0.02), the residual
 * projections (c_proj: attention proj and the MLP's second linear)
 * N(0, 0.02/sqrt(2 n_layer)), biases 0, LayerNorm weight 1 / bias 0. Decay
 * follows GPT.get_optim_groups: Linear weights only. */
static void build_layout(bfn_model *m) {
    tf_impl *im = m->impl;
    const int C = im->C;
    const float w_std = 0.02f, proj_std = (float)(0.02 / sqrt(2.0 * im->L));
    char name[BFN_TENSOR_NAME];
    im->in_w = add_tensor(m, "in_proj.weight", 1, w_std, C, im->in_ch);
    im->in_b = add_tensor(m, "in_proj.bias", 0, 0.0f, C, 0);
    im->t_w = add_tensor(m, "t_proj.weight", 1, w_std, C, 1);
    im->t_b = add_tensor(m, "t_proj.bias", 0, 0.0f, C, 0);
    for (int l = 0; l < im->L; l++) {
        block_params *p = &im->bp[l];
#define ADD(field, suffix, decay, std, d0, d1) \
    (snprintf(name, sizeof name, "h.%d.%s", l, suffix), p->field = add_tensor(m, name, decay, std, d0, d1))
        ADD(ln1_w, "ln1.weight", 0, -1.0f, C, 0);
        ADD(ln1_b, "ln1.bias", 0, 0.0f, C, 0);
        ADD(qkv_w, "attn.qkv.weight", 1, w_std, 3 * C, C);
        ADD(qkv_b, "attn.qkv.bias", 0, 0.0f, 3 * C, 0);
        ADD(proj_w, "attn.proj.weight", 1, proj_std, C, C);
        ADD(proj_b, "attn.proj.bias", 0, 0.0f, C, 0);
        ADD(ln2_w, "ln2.weight", 0, -1.0f, C, 0);
        ADD(ln2_b, "ln2.bias", 0, 0.0f, C, 0);
        ADD(fc_w, "mlp.fc.weight", 1, w_std, 4 * C, C);
        ADD(fc_b, "mlp.fc.bias", 0, 0.0f, 4 * C, 0);
        ADD(fc2_w, "mlp.proj.weight", 1, proj_std, C, 4 * C);
        ADD(fc2_b, "mlp.proj.bias", 0, 0.0f, C, 0);
#undef ADD
    }
    im->lnf_w = add_tensor(m, "ln_f.weight", 0, -1.0f, C, 0);
    im->lnf_b = add_tensor(m, "ln_f.bias", 0, 0.0f, C, 0);
    im->head_w = add_tensor(m, "head.weight", 1, w_std, im->out_ch, im->skip ? 2 * C : C);
    im->head_b = add_tensor(m, "head.bias", 0, 0.0f, im->out_ch, 0);
}

/* Fill params tensor by tensor in layout order; Gaussian entries are drawn in
 * order from rng, so the same seed gives bitwise the same parameters.
 * Alignment padding between tensors is zeroed. */
static void tf_init(bfn_model *m, float *params, gsl_rng *rng) {
    tf_impl *im = m->impl;
    memset(params, 0, m->layout.n * sizeof *params);
    for (int i = 0; i < m->layout.n_tensors; i++) {
        const bfn_tensor_info *ti = &m->layout.t[i];
        float *p = params + ti->offset, s = im->init_std[i];
        for (size_t j = 0; j < ti->size; j++)
            p[j] = s > 0.0f ? (float)gsl_ran_gaussian(rng, s) : (s < 0.0f ? 1.0f : 0.0f);
    }
}

/* The input adapter (TextInputAdapter): h0 = Linear(in) + pos + Linear(2t - 1),
 * summed in the official order (inp + pos) + t_emb. */
static void adapter_forward(tf_impl *im, const float *P, int B) {
    const int T = im->T, C = im->C;
    bfn_linear_forward(im->h0, im->input, P + im->in_w, P + im->in_b, B * T, im->in_ch, C);
    const float *tw = P + im->t_w, *tb = P + im->t_b;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        float s = 2.0f * im->tin[b] - 1.0f;
        for (int p = 0; p < T; p++) {
            float *h = im->h0 + ((long)b * T + p) * C;
            const float *pe = im->pos + (long)p * C;
#pragma omp simd
            for (int c = 0; c < C; c++) h[c] = (h[c] + pe[c]) + (tw[c] * s + tb[c]);
        }
    }
}

/* in (B, T*in_ch), t (B) -> out (B, T*out_ch). Caches everything backward
 * needs (including copies of in and t, so the caller may reuse them). */
static void tf_forward(bfn_model *m, const float *P, int B, const float *in, const float *t, float *out) {
    tf_impl *im = m->impl;
    BFN_ASSERT(B >= 1 && B <= im->max_batch, "transformer forward: batch %d outside 1..%d", B, im->max_batch);
    const int T = im->T, C = im->C, N = B * T;
    im->last_B = B;
    memcpy(im->input, in, (size_t)N * im->in_ch * sizeof *in);
    memcpy(im->tin, t, (size_t)B * sizeof *t);
    adapter_forward(im, P, B);

    const float *x = im->h0;
    for (int l = 0; l < im->L; l++) {
        const block_params *p = &im->bp[l];
        block_acts *a = &im->ba[l];
        bfn_layernorm_forward(a->ln1, a->mean1, a->rstd1, x, P + p->ln1_w, P + p->ln1_b, N, C);
        bfn_linear_forward(a->qkv, a->ln1, P + p->qkv_w, P + p->qkv_b, N, C, 3 * C);
        bfn_attention_stream_forward(a->atty, a->lse, a->qkv, B, T, C, im->NH, im->attn_scratch, im->attn_slots);
        bfn_linear_residual_forward(a->xmid, x, a->atty, P + p->proj_w, P + p->proj_b, N, C, C);
        bfn_layernorm_forward(a->ln2, a->mean2, a->rstd2, a->xmid, P + p->ln2_w, P + p->ln2_b, N, C);
        bfn_linear_forward(a->fcpre, a->ln2, P + p->fc_w, NULL, N, C, 4 * C);
        bfn_bias_gelu_forward(a->fcgelu, a->fcpre, P + p->fc_b, N, 4 * C);
        bfn_linear_residual_forward(a->xout, a->xmid, a->fcgelu, P + p->fc2_w, P + p->fc2_b, N, 4 * C, C);
        x = a->xout;
    }
    bfn_layernorm_forward(im->lnf, im->meanf, im->rstdf, x, P + im->lnf_w, P + im->lnf_b, N, C);

    const int O = im->out_ch;
    if (im->skip) /* head.weight (O, 2C): columns [0, C) read LN_f(x), [C, 2C) read h0 */
        bfn_linear_concat_forward(out, im->lnf, im->h0, P + im->head_w, P + im->head_b, N, C, C, O);
    else
        bfn_linear_forward(out, im->lnf, P + im->head_w, P + im->head_b, N, C, O);
}

/* grads += d(sum dout . out)/d params for the last forward batch (B must be
 * that batch's size). Walks the forward in reverse; dx carries dL/d(residual
 * stream). The skip path's gradient into h0 is added after the blocks, since
 * it bypasses them. Parameter-gradient sums over rows run in row order. */
static void tf_backward(bfn_model *m, const float *P, int B, const float *dout, float *G) {
    tf_impl *im = m->impl;
    BFN_ASSERT(B == im->last_B, "transformer backward: batch %d differs from the last forward's %d", B, im->last_B);
    const int T = im->T, C = im->C, N = B * T, O = im->out_ch;
    const size_t NC = (size_t)N * C;
    const float *xlast = im->L > 0 ? im->ba[im->L - 1].xout : im->h0;

    /* Head. */
    memset(im->dln, 0, NC * sizeof(float));
    if (im->skip) /* the h0 part of the input gradient is added after the blocks */
        bfn_linear_concat_backward(im->dln, NULL, G + im->head_w, G + im->head_b, dout, im->lnf, im->h0,
                               P + im->head_w, N, C, C, O);
    else
        bfn_linear_backward(im->dln, G + im->head_w, G + im->head_b, dout, im->lnf, P + im->head_w, N, C, O);
    memset(im->dx, 0, NC * sizeof(float));
    bfn_layernorm_backward(im->dx, G + im->lnf_w, G + im->lnf_b, im->dln, xlast, P + im->lnf_w, im->meanf,
                       im->rstdf, N, C);

    for (int l = im->L - 1; l >= 0; l--) {
        const block_params *p = &im->bp[l];
        const block_acts *a = &im->ba[l];
        const float *xin = l > 0 ? im->ba[l - 1].xout : im->h0;
        /* MLP: xout = xmid + fc2(gelu(fc(LN2(xmid)))). dx = dL/dxout. */
        /* dbig holds dL/dfcgelu, then in place dL/dfcpre (with fc's bias gradient). */
        float *dfc = im->dbig;
        bfn_linear_backward_overwrite(dfc, G + p->fc2_w, G + p->fc2_b, im->dx, a->fcgelu, P + p->fc2_w, N, 4 * C,
                                      C);
        bfn_bias_gelu_backward(dfc, G + p->fc_b, a->fcpre, N, 4 * C);
        bfn_linear_backward_overwrite(im->dln, G + p->fc_w, NULL, dfc, a->ln2, P + p->fc_w, N, C, 4 * C);
        /* dx (residual path) += LN2's input gradient: now dL/dxmid. */
        bfn_layernorm_backward(im->dx, G + p->ln2_w, G + p->ln2_b, im->dln, a->xmid, P + p->ln2_w, a->mean2,
                           a->rstd2, N, C);
        /* Attention: xmid = xin + proj(attn(qkv(LN1(xin)))). */
        float *datty = im->dbig, *dqkv = im->dbig + NC;
        memset(dqkv, 0, 3 * NC * sizeof(float)); /* the attention accumulates */
        bfn_linear_backward_overwrite(datty, G + p->proj_w, G + p->proj_b, im->dx, a->atty, P + p->proj_w, N, C, C);
        bfn_attention_stream_backward(dqkv, datty, a->qkv, a->atty, a->lse, B, T, C, im->NH, im->attn_scratch,
                                      im->attn_slots);
        bfn_linear_backward_overwrite(im->dln, G + p->qkv_w, G + p->qkv_b, dqkv, a->ln1, P + p->qkv_w, N, C,
                                      3 * C);
        bfn_layernorm_backward(im->dx, G + p->ln1_w, G + p->ln1_b, im->dln, xin, P + p->ln1_w, a->mean1,
                           a->rstd1, N, C);
    }
    /* dx = dL/dh0 through the blocks; add the skip path. */
    if (im->skip)
        bfn_linear_concat_backward(NULL, im->dx, NULL, NULL, dout, im->lnf, im->h0, P + im->head_w, N, C, C, O);

    /* Adapter. */
    bfn_linear_backward(im->dinput, G + im->in_w, G + im->in_b, im->dx, im->input, P + im->in_w, N, im->in_ch, C);
    float *dtw = G + im->t_w, *dtb = G + im->t_b;
    for (int b = 0; b < B; b++) {
        float s = 2.0f * im->tin[b] - 1.0f;
        for (int p = 0; p < T; p++) {
            const float *d = im->dx + ((long)b * T + p) * C;
#pragma omp simd
            for (int c = 0; c < C; c++) {
                dtw[c] += d[c] * s;
                dtb[c] += d[c];
            }
        }
    }
}

/* Multiply-add FLOPs of one forward pass per example (2 per multiply-add),
 * matrix products only (LayerNorm, softmax, GELU are O(T C) and ignored):
 * adapter 2 T in_ch C; per block 2 T (3C^2 + C^2 + 8C^2) + 4 T^2 C for the
 * attention products; head 2 T (1 or 2)C out_ch. Backward costs about twice
 * the forward. */
static double tf_flops(const bfn_model *m) {
    const tf_impl *im = m->impl;
    double T = im->T, C = im->C;
    double blocks = im->L * (2.0 * T * 12.0 * C * C + 4.0 * T * T * C);
    return 2.0 * T * im->in_ch * C + blocks + 2.0 * T * (im->skip ? 2 : 1) * C * im->out_ch;
}

/* Free the activations, tables and the model itself. */
static void tf_destroy(bfn_model *m) {
    tf_impl *im = m->impl;
    free(im->arena);
    free(im->pos);
    free(im->ba);
    free(im->bp);
    free(im);
    free(m);
}

static const bfn_model_ops tf_ops = {
    .name = "transformer",
    .init = tf_init,
    .forward = tf_forward,
    .backward = tf_backward,
    .destroy = tf_destroy,
    .flops_per_example = tf_flops,
};

/* Validate the sizes, build the parameter layout and carve the activations.
 * Errors: BFN_EINVAL for non-positive sizes, heads not dividing the width,
 * too many layers for the layout table, or activations too large;
 * BFN_ENOMEM when the activation allocation fails. */
int bfn_transformer_create(bfn_model **out, int seq_len, int in_ch, int out_ch, int n_layer, int n_head,
                           int n_embd, int skip, int max_batch) {
    *out = NULL;
    if (seq_len <= 0 || in_ch <= 0 || out_ch <= 0 || n_layer <= 0 || n_head <= 0 || n_embd <= 0 ||
        max_batch <= 0)
        return bfn_error(BFN_EINVAL,
                         "transformer: sizes must be positive (seq_len %d, in_ch %d, out_ch %d, n_layer %d, "
                         "n_head %d, n_embd %d, max_batch %d)",
                         seq_len, in_ch, out_ch, n_layer, n_head, n_embd, max_batch);
    if (n_embd % n_head != 0)
        return bfn_error(BFN_EINVAL, "transformer: heads (H) must divide width (C): H = %d, C = %d", n_head,
                         n_embd);
    /* 4 adapter + 12 per block + 4 final tensors must fit the layout table. */
    if (n_layer > (BFN_MAX_TENSORS - 8) / 12)
        return bfn_error(BFN_EINVAL, "transformer: n_layer %d exceeds the maximum %d", n_layer,
                         (BFN_MAX_TENSORS - 8) / 12);
    /* The largest per-call tensor, (N, 4C), must be indexable with int sizes
     * passed to BLAS and layers.h. */
    if ((double)max_batch * seq_len * 4.0 * n_embd > INT_MAX ||
        (double)seq_len * (in_ch > out_ch ? in_ch : out_ch) * max_batch > INT_MAX)
        return bfn_error(BFN_EINVAL,
                         "transformer: max_batch %d x seq_len %d x 4 x width %d exceeds %d floats per tensor",
                         max_batch, seq_len, n_embd, INT_MAX);

    bfn_model *m = bfn_xcalloc(1, sizeof *m);
    tf_impl *im = bfn_xcalloc(1, sizeof *im);
    m->ops = &tf_ops;
    m->impl = im;
    m->in_dim = seq_len * in_ch;
    m->out_dim = seq_len * out_ch;
    m->max_batch = max_batch;
    im->T = seq_len;
    im->in_ch = in_ch;
    im->out_ch = out_ch;
    im->L = n_layer;
    im->NH = n_head;
    im->C = n_embd;
    im->skip = skip ? 1 : 0;
    im->max_batch = max_batch;
    /* One attention scratch slot per thread this process may use (more
     * threads than slots just run the attention on fewer). */
    im->attn_slots = omp_get_max_threads();
    im->bp = bfn_xcalloc((size_t)n_layer, sizeof *im->bp);
    im->ba = bfn_xcalloc((size_t)n_layer, sizeof *im->ba);
    build_layout(m);

    im->pos = bfn_xmalloc((size_t)seq_len * n_embd * sizeof(float));
    bfn_sinusoid_table(im->pos, seq_len, n_embd);

    size_t n = carve_all(im); /* sizing pass: arena is NULL */
    if (n > SIZE_MAX / sizeof(float) - 16 || !(im->arena = aligned_alloc(64, ((n * sizeof(float)) + 63) & ~(size_t)63))) {
        double gb = (double)n * sizeof(float) / 1e9;
        tf_destroy(m);
        return bfn_error(BFN_ENOMEM, "transformer: cannot allocate %.2f GB of activations for max_batch %d", gb,
                         max_batch);
    }
    carve_all(im);
    *out = m;
    return BFN_OK;
}

/* Test hook: backward additionally accumulates dL/d(input) into dinput
 * ((max_batch, seq_len*in_ch) floats, or NULL to stop). */
int bfn_transformer_set_input_grad(bfn_model *m, float *dinput) {
    if (!m || m->ops != &tf_ops) return bfn_error(BFN_EINVAL, "transformer: not a transformer model");
    ((tf_impl *)m->impl)->dinput = dinput;
    return BFN_OK;
}

const float *bfn_transformer_pos_table(const bfn_model *m) {
    return m && m->ops == &tf_ops ? ((const tf_impl *)m->impl)->pos : NULL;
}

/* ---- from its settings (transformer_keys.h) ---- */
BFN_KEY_OWN_FITS(bfn_transformer_keys);
#define TRANSFORMER_DEF(...) BFN_KEY_DEF_IN(bfn_transformer_keys, __VA_ARGS__)
const bfn_key_def bfn_transformer_key_defs[] = {BFN_TRANSFORMER_KEYS(TRANSFORMER_DEF) BFN_KEY_END};

/* Transformer over the D positions (text8 GPT). */
int bfn_transformer_make(bfn_model **out, const bfn_model_spec *spec, const bfn_model_shape *sh) {
    const bfn_transformer_keys *m = BFN_KEY_OWN_AS(spec->own, bfn_transformer_keys);
    int rc = bfn_transformer_create(out, sh->D, sh->in_ch, sh->out_ch, m->layers, m->heads, m->hidden, m->skip,
                                    sh->max_batch);
    return rc == BFN_OK ? rc : bfn_error_prefix(rc, "%s", bfn_model_origin(spec, "model.arch"));
}
