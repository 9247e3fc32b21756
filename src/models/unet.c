/* unet.c: the U-Net (see unet.h) as a list of layer ops over named
 * activation tensors, built once at creation.
 *
 * The builder walks the official structure (input adapter, time embedding,
 * down path, middle, up path with skip concatenation, output) and appends
 * one op per layer; forward runs the list in order, backward in reverse,
 * accumulating into per-tensor gradient buffers that are zeroed once per
 * step. Every activation and gradient buffer, the convolution column buffer
 * and the attention scratch are allocated at creation for max_batch, so a
 * step allocates nothing. In "plan" mode (parameter counting) only the
 * layout and the op list are built.
 *
 * Parameter initialisation follows torch's defaults (Conv2d/Linear weight
 * and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)), GroupNorm weight 1 bias 0),
 * with zeros where the official code zero-initialises: the second
 * convolution of every residual block, the attention output projection, the
 * final convolution and (VDM) the per-block time projection. */
#include "models/unet.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/attention.h"
#include "nn/conv.h"
#include "nn/dropout.h"
#include "nn/groupnorm.h"
#include "nn/resample.h"
#include "nn/silu.h"
#include "util/err.h"

/* Column buffer target: chunks of whole examples up to this many floats. */
#define COL_TARGET_FLOATS (16L << 20)
#define NO_PARAM ((size_t)-1)

enum {
    OP_ADAPT,   /* model input + t -> per-pixel features (no parameters) */
    OP_FOURIER, /* [x, sin(2 pi 2^n x), cos(2 pi 2^n x)], n = 5, 6 */
    OP_TEMB,    /* t -> sinusoidal embedding (1 pixel) */
    OP_CONV,    /* K x K convolution (1 x 1 = per-pixel linear) */
    OP_GN,      /* GroupNorm */
    OP_SILU,
    OP_DROPOUT,
    OP_COND,    /* a += cond W^T (+ b), broadcast over pixels, in place */
    OP_ADD,     /* out = a + b */
    OP_CONCAT,  /* out = [a, b] along channels */
    OP_UP,      /* nearest x2 */
    OP_ATTN,    /* multi-head attention core over the pixels of a qkv tensor */
    OP_OUT      /* per-pixel outputs -> model output layout (B, D * out_ch) */
};

typedef struct {
    int H, W, C;      /* per example: H * W pixels of C channels */
    int need_grad;    /* depends on parameters */
    float *v, *g;     /* (max_batch, H, W, C) */
} tensor;

typedef struct {
    int type, a, b, out;      /* tensor ids (b = -1 if unused) */
    size_t w, bias;           /* parameter offsets (NO_PARAM if none) */
    size_t w_size, bias_size;
    int fan_in, zero_init;    /* initialisation */
    bfn_conv2d conv;
    int groups, heads;
    float p;                  /* dropout */
    float *mean, *rstd;       /* GN cache (max_batch, groups) */
    float *att;               /* attention probabilities (max_batch, heads, P, P) */
    float *proj;              /* COND: (max_batch, C) projection / its gradient */
} op;

typedef struct {
    bfn_unet_spec s;
    int plan_only;
    tensor *t;
    int n_t, cap_t;
    op *ops;
    int n_ops, cap_ops;
    int out_tensor;       /* last per-pixel tensor before OP_OUT */
    float *col;           /* conv column buffer */
    size_t col_floats;
    float *att_scratch;   /* attention backward scratch */
    float *gn_scratch;    /* GroupNorm scratch (6 max_batch max_C: sums, per-channel statistics) */
    size_t att_floats;
    float *tcache;        /* (max_batch) times of the last forward */
    const float *last_in;
    int last_B, last_train;
    unsigned long long last_seed;
    int max_batch;
    char prefix[BFN_TENSOR_NAME];
    bfn_param_layout *layout;
} unet_impl;

static void unet_fatal(const char *what, int B, int max_batch) {
    fprintf(stderr, "unet.c: %s (B = %d, max_batch = %d)\n", what, B, max_batch);
    abort();
}

/* ---- building ------------------------------------------------------------ */

static int new_tensor(unet_impl *u, int H, int W, int C, int need_grad) {
    if (u->n_t == u->cap_t) {
        u->cap_t = u->cap_t ? 2 * u->cap_t : 64;
        tensor *nt = realloc(u->t, (size_t)u->cap_t * sizeof *nt);
        if (!nt) abort();
        u->t = nt;
    }
    u->t[u->n_t] = (tensor){.H = H, .W = W, .C = C, .need_grad = need_grad};
    return u->n_t++;
}

static op *new_op(unet_impl *u, int type, int a, int b) {
    if (u->n_ops == u->cap_ops) {
        u->cap_ops = u->cap_ops ? 2 * u->cap_ops : 64;
        op *no = realloc(u->ops, (size_t)u->cap_ops * sizeof *no);
        if (!no) abort();
        u->ops = no;
    }
    op *o = &u->ops[u->n_ops++];
    memset(o, 0, sizeof *o);
    o->type = type;
    o->a = a;
    o->b = b;
    o->out = -1;
    o->w = o->bias = NO_PARAM;
    return o;
}

static size_t add_param(unet_impl *u, const char *leaf, int decay, int ndim, const int *shape) {
    char name[BFN_TENSOR_NAME];
    snprintf(name, sizeof name, "%s%s", u->prefix, leaf);
    return bfn_layout_add(u->layout, name, decay, ndim, shape);
}

/* Name prefixes: push appends `part` and returns the old length, pop
 * restores it, so nested blocks name their tensors "up.3.res.conv1.weight". */
static size_t push(unet_impl *u, const char *part) {
    size_t len = strlen(u->prefix);
    snprintf(u->prefix + len, sizeof u->prefix - len, "%s", part);
    return len;
}
static void pop(unet_impl *u, size_t len) { u->prefix[len] = '\0'; }

/* K x K convolution (stride 1 or 2) of tensor a to oc channels; K = 1 is a
 * per-pixel linear layer. Parameters <prefix>weight (oc, K, K, ic), bias. */
static int conv(unet_impl *u, const char *name, int a, int oc, int K, int stride, int with_bias, int zero) {
    const tensor ta = u->t[a];
    op *o = new_op(u, OP_CONV, a, -1);
    bfn_conv2d_init(&o->conv, ta.H, ta.W, ta.C, oc, K, stride);
    o->fan_in = K * K * ta.C;
    o->zero_init = zero;
    const size_t mark = push(u, name);
    const int ws[4] = {oc, K, K, ta.C}, ws1[2] = {oc, ta.C}, bs[1] = {oc};
    o->w = add_param(u, ".weight", 1, K == 1 ? 2 : 4, K == 1 ? ws1 : ws);
    o->w_size = (size_t)oc * K * K * ta.C;
    if (with_bias) {
        o->bias = add_param(u, ".bias", 0, 1, bs);
        o->bias_size = (size_t)oc;
    }
    pop(u, mark);
    o->out = new_tensor(u, o->conv.OH, o->conv.OW, oc, 1);
    return o->out;
}

static int groupnorm(unet_impl *u, const char *name, int a) {
    const tensor ta = u->t[a];
    op *o = new_op(u, OP_GN, a, -1);
    o->groups = u->s.groups;
    const size_t mark = push(u, name);
    const int s1[1] = {ta.C};
    o->w = add_param(u, ".weight", 0, 1, s1);
    o->bias = add_param(u, ".bias", 0, 1, s1);
    o->w_size = o->bias_size = (size_t)ta.C;
    pop(u, mark);
    o->out = new_tensor(u, ta.H, ta.W, ta.C, u->t[a].need_grad);
    return o->out;
}

static int unary(unet_impl *u, int type, int a, int H, int W, int C) {
    op *o = new_op(u, type, a, -1);
    o->p = u->s.dropout;
    o->out = new_tensor(u, H, W, C, u->t[a].need_grad);
    return o->out;
}

static int silu(unet_impl *u, int a) { return unary(u, OP_SILU, a, u->t[a].H, u->t[a].W, u->t[a].C); }

static int binary(unet_impl *u, int type, int a, int b) {
    const tensor ta = u->t[a], tb = u->t[b];
    op *o = new_op(u, type, a, b);
    o->out = new_tensor(u, ta.H, ta.W, type == OP_CONCAT ? ta.C + tb.C : ta.C, ta.need_grad || tb.need_grad);
    return o->out;
}

/* Residual block (official ResBlock / VDM ResnetBlock):
 * GN, SiLU, conv3 -> + time projection -> GN, SiLU, dropout, zero conv3,
 * plus the input (through a 1x1 convolution when the width changes). */
static int res_block(unet_impl *u, int h, int cond, int oc) {
    const int ic = u->t[h].C, vdm = u->s.time_embed == BFN_UNET_TIME_VDM;
    int x = groupnorm(u, "gn1", h);
    x = silu(u, x);
    x = conv(u, "conv1", x, oc, 3, 1, 1, 0);
    op *c = new_op(u, OP_COND, x, cond);
    c->out = x;
    c->fan_in = u->t[cond].C;
    c->zero_init = vdm;
    const size_t mark = push(u, "cond");
    const int ws[2] = {oc, u->t[cond].C}, bs[1] = {oc};
    c->w = add_param(u, ".weight", 1, 2, ws);
    c->w_size = (size_t)oc * u->t[cond].C;
    if (!vdm) {
        c->bias = add_param(u, ".bias", 0, 1, bs);
        c->bias_size = (size_t)oc;
    }
    pop(u, mark);
    x = groupnorm(u, "gn2", x);
    x = silu(u, x);
    if (u->s.dropout > 0) x = unary(u, OP_DROPOUT, x, u->t[x].H, u->t[x].W, oc);
    x = conv(u, "conv2", x, oc, 3, 1, 1, 1);
    int skip = h;
    if (ic != oc) skip = conv(u, "skip", h, oc, 1, 1, 1, 0);
    return binary(u, OP_ADD, skip, x);
}

/* Self-attention over the pixels (official AttentionBlock): GN, 1x1 qkv,
 * attention with `heads` heads, zero-initialised 1x1 projection, residual. */
static int attn_block(unet_impl *u, int h) {
    const tensor th = u->t[h];
    int x = groupnorm(u, "norm", h);
    x = conv(u, "qkv", x, 3 * th.C, 1, 1, 1, 0);
    op *o = new_op(u, OP_ATTN, x, -1);
    o->heads = u->s.heads;
    o->out = new_tensor(u, th.H, th.W, th.C, 1);
    x = conv(u, "proj", o->out, th.C, 1, 1, 1, 1);
    return binary(u, OP_ADD, h, x);
}

static int has_attn(const bfn_unet_spec *s, int ds) {
    for (int i = 0; i < s->n_attn; i++)
        if (s->attn_res[i] == ds) return 1;
    return 0;
}

static int adapter_width(const bfn_unet_spec *s) { return s->img_ch * s->in_ch + (s->time_input ? 1 : 0); }

static void build(unet_impl *u) {
    const bfn_unet_spec *s = &u->s;
    const int C = s->channels, H = s->height, W = s->width;
    char part[32];

    /* Input adapter, optional Fourier features and projection. */
    op *ad = new_op(u, OP_ADAPT, -1, -1);
    int x0 = ad->out = new_tensor(u, H, W, adapter_width(s), 0);
    int x = x0;
    if (s->fourier) {
        op *f = new_op(u, OP_FOURIER, x0, -1);
        x = f->out = new_tensor(u, H, W, u->t[x0].C * 5, 0);
    }
    int skip_src = x0;
    if (s->project_input) skip_src = x = conv(u, "in_proj", x, C, 1, 1, 1, 0);
    int h = conv(u, "conv_in", x, C, 3, 1, 1, 0);

    /* Time embedding: sinusoid, Linear, SiLU, Linear, SiLU (the trailing
     * SiLU is VDM's last layer and DDPM's first layer of emb_layers). */
    op *te = new_op(u, OP_TEMB, -1, -1);
    int e = te->out = new_tensor(u, 1, 1, C, 0);
    e = conv(u, "temb.fc1", e, 4 * C, 1, 1, 1, 0);
    e = silu(u, e);
    e = conv(u, "temb.fc2", e, 4 * C, 1, 1, 1, 0);
    const int cond = silu(u, e);

    int hs[4 * BFN_UNET_MAX_LEVELS * 64 + 8], n_hs = 0;
    hs[n_hs++] = h;
    int ds = 1, blk = 0;
    for (int l = 0; l < s->n_levels; l++) {
        for (int r = 0; r < s->res_blocks; r++) {
            snprintf(part, sizeof part, "down.%d.", blk++);
            const size_t m0 = push(u, part);
            size_t m1 = push(u, "res.");
            h = res_block(u, h, cond, s->mult[l] * C);
            pop(u, m1);
            if (has_attn(s, ds)) {
                m1 = push(u, "attn.");
                h = attn_block(u, h);
                pop(u, m1);
            }
            pop(u, m0);
            hs[n_hs++] = h;
        }
        if (l != s->n_levels - 1) {
            snprintf(part, sizeof part, "down.%d.downsample", blk++);
            h = conv(u, part, h, u->t[h].C, 3, 2, 1, 0);
            hs[n_hs++] = h;
            ds *= 2;
        }
    }
    size_t mk = push(u, "mid.res1.");
    h = res_block(u, h, cond, u->t[h].C);
    pop(u, mk);
    mk = push(u, "mid.attn.");
    h = attn_block(u, h);
    pop(u, mk);
    mk = push(u, "mid.res2.");
    h = res_block(u, h, cond, u->t[h].C);
    pop(u, mk);
    blk = 0;
    for (int l = s->n_levels - 1; l >= 0; l--) {
        for (int r = 0; r <= s->res_blocks; r++) {
            snprintf(part, sizeof part, "up.%d.", blk++);
            const size_t m0 = push(u, part);
            h = binary(u, OP_CONCAT, h, hs[--n_hs]);
            size_t m1 = push(u, "res.");
            h = res_block(u, h, cond, s->mult[l] * C);
            pop(u, m1);
            if (has_attn(s, ds)) {
                m1 = push(u, "attn.");
                h = attn_block(u, h);
                pop(u, m1);
            }
            if (l > 0 && r == s->res_blocks) {
                h = unary(u, OP_UP, h, 2 * u->t[h].H, 2 * u->t[h].W, u->t[h].C);
                h = conv(u, "upsample", h, u->t[h].C, 3, 1, 1, 0);
            }
            pop(u, m0);
        }
        if (l > 0) ds /= 2;
    }
    h = groupnorm(u, "out.norm", h);
    h = silu(u, h);
    h = conv(u, "out.conv", h, s->out_channels > 0 ? s->out_channels : C, 3, 1, 1, 1);
    h = binary(u, OP_CONCAT, skip_src, h);
    h = conv(u, "out_adapter", h, s->img_ch * s->out_ch, 1, 1, 1, 0);
    u->out_tensor = h;
    new_op(u, OP_OUT, h, -1);
}

int bfn_unet_check(const bfn_unet_spec *s) {
    if (s->img_ch < 1 || s->height < 1 || s->width < 1 || s->in_ch < 1 || s->out_ch < 1)
        return bfn_error(BFN_EINVAL, "unet: needs image data (got %d x %d x %d)", s->img_ch, s->height, s->width);
    if (s->channels < 1 || s->n_levels < 1 || s->n_levels > BFN_UNET_MAX_LEVELS || s->res_blocks < 1 ||
        s->res_blocks > 64)
        return bfn_error(BFN_EINVAL, "unet: channels >= 1, 1..%d levels and 1..64 res_blocks needed",
                         BFN_UNET_MAX_LEVELS);
    const int f = 1 << (s->n_levels - 1);
    if (s->height % f || s->width % f)
        return bfn_error(BFN_EINVAL,
                         "unet: a %d x %d image cannot be halved %d times (model.channel_mult has %d levels; "
                         "height and width must be multiples of %d)",
                         s->height, s->width, s->n_levels - 1, s->n_levels, f);
    if (s->groups < 1 || s->heads < 1) return bfn_error(BFN_EINVAL, "unet: groups and heads must be >= 1");
    for (int l = 0; l < s->n_levels; l++) {
        if (s->mult[l] < 1) return bfn_error(BFN_EINVAL, "unet: channel multipliers must be >= 1");
        /* Widths: c_l = mult_l C, and up-path inputs c_l + c_(l or l-1). All
         * are multiples of C; check each against groups and heads. */
        const int w = s->mult[l] * s->channels, wp = (l ? s->mult[l - 1] : 1) * s->channels;
        const int widths[4] = {w, 2 * w, w + wp, s->channels};
        for (int i = 0; i < 4; i++)
            if (widths[i] % s->groups)
                return bfn_error(BFN_EINVAL, "unet: model.groups = %d does not divide the width %d", s->groups,
                                 widths[i]);
        if (w % s->heads)
            return bfn_error(BFN_EINVAL, "unet: model.heads = %d does not divide the width %d", s->heads, w);
    }
    if (s->out_channels > 0 && s->out_channels % s->groups)
        return bfn_error(BFN_EINVAL, "unet: model.groups = %d does not divide out_channels %d", s->groups,
                         s->out_channels);
    if (s->channels % 2) return bfn_error(BFN_EINVAL, "unet: channels must be even (sinusoidal time embedding)");
    if (!(s->dropout >= 0 && s->dropout < 1)) return bfn_error(BFN_EINVAL, "unet: dropout must be in [0, 1)");
    return BFN_OK;
}

static void impl_free(unet_impl *u) {
    if (!u) return;
    for (int i = 0; i < u->n_t; i++) {
        free(u->t[i].v);
        free(u->t[i].g);
    }
    for (int i = 0; i < u->n_ops; i++) {
        free(u->ops[i].mean);
        free(u->ops[i].rstd);
        free(u->ops[i].att);
        free(u->ops[i].proj);
    }
    free(u->t);
    free(u->ops);
    free(u->col);
    free(u->att_scratch);
    free(u->gn_scratch);
    free(u->tcache);
    free(u);
}

int bfn_unet_param_count(const bfn_unet_spec *s, size_t *n) {
    BFN_TRY(bfn_unet_check(s));
    bfn_param_layout *l = bfn_xcalloc(1, sizeof *l);
    unet_impl *u = bfn_xcalloc(1, sizeof *u);
    u->s = *s;
    u->plan_only = 1;
    u->layout = l;
    build(u);
    size_t total = 0;
    for (int i = 0; i < l->n_tensors; i++) total += l->t[i].size;
    *n = total;
    impl_free(u);
    free(l);
    return BFN_OK;
}

/* ---- running ------------------------------------------------------------- */

static size_t tsize(const tensor *t) { return (size_t)t->H * t->W * t->C; }

static void unet_init(bfn_model *m, float *params, gsl_rng *rng) {
    unet_impl *u = m->impl;
    memset(params, 0, m->layout.n * sizeof *params);
    for (int i = 0; i < u->n_ops; i++) {
        op *o = &u->ops[i];
        if (o->type == OP_GN) {
            for (size_t k = 0; k < o->w_size; k++) params[o->w + k] = 1.0f;
            continue;
        }
        if (o->w == NO_PARAM || o->zero_init) continue;
        const double bound = 1.0 / sqrt((double)o->fan_in);
        for (size_t k = 0; k < o->w_size; k++) params[o->w + k] = (float)(bound * (2.0 * gsl_rng_uniform(rng) - 1.0));
        if (o->bias != NO_PARAM)
            for (size_t k = 0; k < o->bias_size; k++)
                params[o->bias + k] = (float)(bound * (2.0 * gsl_rng_uniform(rng) - 1.0));
    }
}

/* Sinusoidal time embedding (B, C): DDPM timestep_embedding(4000 t) =
 * [cos(a f_i), sin(a f_i)], f_i = 10000^(-i/half); VDM
 * get_timestep_embedding(1000 (t + 0.001)) = [sin, cos] with f_i =
 * 10^(-4 i/(half-1)). Computed in double, rounded once. */
static void time_embedding(const bfn_unet_spec *s, float *out, const float *t, int B) {
    const int half = s->channels / 2;
    for (int b = 0; b < B; b++) {
        float *row = out + (size_t)b * s->channels;
        for (int i = 0; i < half; i++) {
            double a, f;
            if (s->time_embed == BFN_UNET_TIME_VDM) {
                a = 1000.0 * ((double)t[b] + 0.001);
                f = half > 1 ? pow(10.0, -4.0 * i / (half - 1)) : 1.0;
                row[i] = (float)sin(a * f);
                row[half + i] = (float)cos(a * f);
            } else {
                a = 4000.0 * t[b];
                f = exp(-log(10000.0) * i / half);
                row[i] = (float)cos(a * f);
                row[half + i] = (float)sin(a * f);
            }
        }
    }
}

static uint64_t op_seed(unsigned long long seed, int i) {
    uint64_t z = (uint64_t)seed + 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    return z ^ (z >> 27);
}

static void run_forward_op(unet_impl *u, int i, const float *P, int B, const float *in, const float *t, float *out) {
    op *o = &u->ops[i];
    const bfn_unet_spec *s = &u->s;
    tensor *ta = o->a >= 0 ? &u->t[o->a] : NULL, *tb = o->b >= 0 ? &u->t[o->b] : NULL;
    tensor *to = o->out >= 0 ? &u->t[o->out] : NULL;
    const float *wp = o->w != NO_PARAM ? P + o->w : NULL, *bp = o->bias != NO_PARAM ? P + o->bias : NULL;
    switch (o->type) {
    case OP_ADAPT: {
        const int HW = s->height * s->width, ic = s->in_ch, Cw = to->C;
#pragma omp parallel for schedule(static)
        for (int b = 0; b < B; b++) {
            const float *src = in + (size_t)b * HW * s->img_ch * ic;
            float *dst = to->v + (size_t)b * HW * Cw;
            for (int c = 0; c < s->img_ch; c++)
                for (int p = 0; p < HW; p++)
                    for (int k = 0; k < ic; k++) dst[(size_t)p * Cw + c * ic + k] = src[((size_t)c * HW + p) * ic + k];
            if (s->time_input)
                for (int p = 0; p < HW; p++) dst[(size_t)p * Cw + Cw - 1] = 2.0f * t[b] - 1.0f;
        }
        break;
    }
    case OP_FOURIER: {
        const int C = ta->C;
        const long N = (long)B * ta->H * ta->W;
#pragma omp parallel for schedule(static)
        for (long p = 0; p < N; p++) {
            const float *x = ta->v + p * C;
            float *y = to->v + p * 5 * C;
            for (int c = 0; c < C; c++) y[c] = x[c];
            for (int f = 0; f < 2; f++)
                for (int c = 0; c < C; c++) {
                    const double a = 2.0 * M_PI * (f == 0 ? 32.0 : 64.0) * x[c];
                    y[C + f * C + c] = (float)sin(a);
                    y[3 * C + f * C + c] = (float)cos(a);
                }
        }
        break;
    }
    case OP_TEMB:
        time_embedding(s, to->v, t, B);
        break;
    case OP_CONV:
        bfn_conv2d_forward(&o->conv, to->v, ta->v, wp, bp, B, u->col, u->col_floats);
        break;
    case OP_GN:
        bfn_groupnorm_forward(to->v, o->mean, o->rstd, ta->v, wp, bp, B, ta->H * ta->W, ta->C, o->groups,
                              u->gn_scratch);
        break;
    case OP_SILU:
        bfn_silu_forward(to->v, ta->v, (long)B * tsize(ta));
        break;
    case OP_DROPOUT:
        if (u->last_train) bfn_dropout_forward(to->v, ta->v, (long)B * tsize(ta), o->p, op_seed(u->last_seed, i));
        else memcpy(to->v, ta->v, (size_t)B * tsize(ta) * sizeof(float));
        break;
    case OP_COND: {
        const int C = ta->C, Cc = tb->C, HW = ta->H * ta->W;
        bfn_conv2d lin;
        bfn_conv2d_init(&lin, 1, 1, Cc, C, 1, 1);
        bfn_conv2d_forward(&lin, o->proj, tb->v, wp, bp, B, NULL, 0);
#pragma omp parallel for schedule(static)
        for (int b = 0; b < B; b++)
            for (int p = 0; p < HW; p++) {
                float *h = ta->v + ((size_t)b * HW + p) * C;
                const float *q = o->proj + (size_t)b * C;
#pragma omp simd
                for (int c = 0; c < C; c++) h[c] += q[c];
            }
        break;
    }
    case OP_ADD: {
        const long n = (long)B * tsize(ta);
#pragma omp parallel for simd schedule(static)
        for (long k = 0; k < n; k++) to->v[k] = ta->v[k] + tb->v[k];
        break;
    }
    case OP_CONCAT: {
        const long N = (long)B * ta->H * ta->W;
        const int Ca = ta->C, Cb = tb->C;
#pragma omp parallel for schedule(static)
        for (long p = 0; p < N; p++) {
            memcpy(to->v + p * (Ca + Cb), ta->v + p * Ca, (size_t)Ca * sizeof(float));
            memcpy(to->v + p * (Ca + Cb) + Ca, tb->v + p * Cb, (size_t)Cb * sizeof(float));
        }
        break;
    }
    case OP_UP:
        bfn_upsample2_forward(to->v, ta->v, B, ta->H, ta->W, ta->C);
        break;
    case OP_ATTN:
        bfn_attention_forward(to->v, o->att, ta->v, B, ta->H * ta->W, to->C, o->heads);
        break;
    case OP_OUT: {
        const int HW = s->height * s->width, oc = s->out_ch, Cw = ta->C;
#pragma omp parallel for schedule(static)
        for (int b = 0; b < B; b++) {
            const float *src = ta->v + (size_t)b * HW * Cw;
            float *dst = out + (size_t)b * HW * Cw;
            for (int c = 0; c < s->img_ch; c++)
                for (int p = 0; p < HW; p++)
                    for (int k = 0; k < oc; k++) dst[((size_t)c * HW + p) * oc + k] = src[(size_t)p * Cw + c * oc + k];
        }
        break;
    }
    }
}

static void unet_forward(bfn_model *m, const float *P, int B, const float *in, const float *t, float *out) {
    unet_impl *u = m->impl;
    if (B < 0 || B > u->max_batch) unet_fatal("forward: batch outside 0..max_batch", B, u->max_batch);
    u->last_in = in;
    u->last_B = B;
    u->last_train = m->train;
    u->last_seed = m->noise_seed;
    if (B == 0) return;
    memcpy(u->tcache, t, (size_t)B * sizeof *t);
    for (int i = 0; i < u->n_ops; i++) run_forward_op(u, i, P, B, in, t, out);
}

static void run_backward_op(unet_impl *u, int i, const float *P, int B, const float *dout, float *G) {
    op *o = &u->ops[i];
    const bfn_unet_spec *s = &u->s;
    tensor *ta = o->a >= 0 ? &u->t[o->a] : NULL, *tb = o->b >= 0 ? &u->t[o->b] : NULL;
    tensor *to = o->out >= 0 ? &u->t[o->out] : NULL;
    const float *wp = o->w != NO_PARAM ? P + o->w : NULL;
    float *gw = o->w != NO_PARAM ? G + o->w : NULL, *gb = o->bias != NO_PARAM ? G + o->bias : NULL;
    float *ga = ta && ta->need_grad ? ta->g : NULL, *gbt = tb && tb->need_grad ? tb->g : NULL;
    switch (o->type) {
    case OP_ADAPT:
    case OP_FOURIER:
    case OP_TEMB:
        break;
    case OP_CONV:
        bfn_conv2d_backward(&o->conv, ga, gw, gb, to->g, ta->v, wp, B, u->col, u->col_floats);
        break;
    case OP_GN:
        bfn_groupnorm_backward(ga, gw, gb, to->g, ta->v, wp, o->mean, o->rstd, B, ta->H * ta->W, ta->C, o->groups,
                               u->gn_scratch);
        break;
    case OP_SILU:
        if (ga) bfn_silu_backward(ga, ta->v, to->g, (long)B * tsize(ta));
        break;
    case OP_DROPOUT:
        if (ga) bfn_dropout_backward(ga, to->g, (long)B * tsize(ta), o->p, op_seed(u->last_seed, i));
        break;
    case OP_COND: {
        /* Pass-through for a (in place); d proj[b][c] = sum over pixels. */
        const int C = ta->C, Cc = tb->C, HW = ta->H * ta->W;
#pragma omp parallel for schedule(static)
        for (int b = 0; b < B; b++) {
            float *q = o->proj + (size_t)b * C;
            memset(q, 0, (size_t)C * sizeof *q);
            for (int p = 0; p < HW; p++) {
                const float *gh = ta->g + ((size_t)b * HW + p) * C;
#pragma omp simd
                for (int c = 0; c < C; c++) q[c] += gh[c];
            }
        }
        bfn_conv2d lin;
        bfn_conv2d_init(&lin, 1, 1, Cc, C, 1, 1);
        bfn_conv2d_backward(&lin, gbt, gw, gb, o->proj, tb->v, wp, B, NULL, 0);
        break;
    }
    case OP_ADD: {
        const long n = (long)B * tsize(to);
        if (ga) {
#pragma omp parallel for simd schedule(static)
            for (long k = 0; k < n; k++) ga[k] += to->g[k];
        }
        if (gbt) {
#pragma omp parallel for simd schedule(static)
            for (long k = 0; k < n; k++) gbt[k] += to->g[k];
        }
        break;
    }
    case OP_CONCAT: {
        const long N = (long)B * ta->H * ta->W;
        const int Ca = ta->C, Cb = tb->C;
#pragma omp parallel for schedule(static)
        for (long p = 0; p < N; p++) {
            const float *g = to->g + p * (Ca + Cb);
            if (ga)
                for (int c = 0; c < Ca; c++) ga[p * Ca + c] += g[c];
            if (gbt)
                for (int c = 0; c < Cb; c++) gbt[p * Cb + c] += g[Ca + c];
        }
        break;
    }
    case OP_UP:
        if (ga) bfn_upsample2_backward(ga, to->g, B, ta->H, ta->W, ta->C);
        break;
    case OP_ATTN:
        if (ga) bfn_attention_backward(ga, u->att_scratch, to->g, ta->v, o->att, B, ta->H * ta->W, to->C, o->heads);
        break;
    case OP_OUT: {
        const int HW = s->height * s->width, oc = s->out_ch, Cw = ta->C;
#pragma omp parallel for schedule(static)
        for (int b = 0; b < B; b++) {
            const float *src = dout + (size_t)b * HW * Cw;
            float *dst = ta->g + (size_t)b * HW * Cw;
            for (int c = 0; c < s->img_ch; c++)
                for (int p = 0; p < HW; p++)
                    for (int k = 0; k < oc; k++) dst[(size_t)p * Cw + c * oc + k] += src[((size_t)c * HW + p) * oc + k];
        }
        break;
    }
    }
}

static void unet_backward(bfn_model *m, const float *P, int B, const float *dout, float *G) {
    unet_impl *u = m->impl;
    if (B != u->last_B) unet_fatal("backward: batch differs from the last forward", B, u->last_B);
    if (B == 0) return;
    for (int i = 0; i < u->n_t; i++)
        if (u->t[i].g) memset(u->t[i].g, 0, (size_t)B * tsize(&u->t[i]) * sizeof(float));
    for (int i = u->n_ops - 1; i >= 0; i--) run_backward_op(u, i, P, B, dout, G);
}

/* 2 x multiply-adds of convolutions, linears and attention per example. */
static double unet_flops(const bfn_model *m) {
    const unet_impl *u = m->impl;
    double f = 0;
    for (int i = 0; i < u->n_ops; i++) {
        const op *o = &u->ops[i];
        if (o->type == OP_CONV)
            f += 2.0 * o->conv.OH * o->conv.OW * (double)o->conv.K * o->conv.K * o->conv.IC * o->conv.OC;
        else if (o->type == OP_COND) f += 2.0 * u->t[o->a].C * u->t[o->b].C;
        else if (o->type == OP_ATTN) {
            const double T = (double)u->t[o->a].H * u->t[o->a].W;
            f += 4.0 * T * T * u->t[o->out].C;
        }
    }
    return f;
}

static void unet_destroy(bfn_model *m) {
    impl_free(m->impl);
    free(m);
}

static const bfn_model_ops unet_ops = {
    .name = "unet",
    .init = unet_init,
    .forward = unet_forward,
    .backward = unet_backward,
    .destroy = unet_destroy,
    .flops_per_example = unet_flops,
};

static float *alloc_floats(size_t n) {
    size_t bytes = ((n ? n : 1) * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

int bfn_unet_create(bfn_model **out, const bfn_unet_spec *s, int max_batch) {
    *out = NULL;
    BFN_TRY(bfn_unet_check(s));
    if (max_batch < 1) return bfn_error(BFN_EINVAL, "unet: max_batch must be positive (got %d)", max_batch);
    bfn_model *m = bfn_xcalloc(1, sizeof *m);
    unet_impl *u = bfn_xcalloc(1, sizeof *u);
    m->ops = &unet_ops;
    m->impl = u;
    u->s = *s;
    u->max_batch = max_batch;
    u->last_B = -1;
    u->layout = &m->layout;
    const int D = s->img_ch * s->height * s->width;
    m->in_dim = D * s->in_ch;
    m->out_dim = D * s->out_ch;
    m->max_batch = max_batch;
    build(u);

    int ok = 1;
    const size_t Bm = (size_t)max_batch;
    for (int i = 0; i < u->n_t && ok; i++) {
        tensor *t = &u->t[i];
        ok = (t->v = alloc_floats(Bm * tsize(t))) != NULL;
        if (ok && t->need_grad) ok = (t->g = alloc_floats(Bm * tsize(t))) != NULL;
    }
    size_t col_per_ex = 0, att = 0, gn = 0, wmax = 0;
    for (int i = 0; i < u->n_ops && ok; i++) {
        op *o = &u->ops[i];
        if (o->type == OP_CONV) {
            size_t c1 = bfn_conv_scratch_floats(&o->conv, 1), c2 = bfn_conv_scratch_floats(&o->conv, 2);
            if (c2 - c1 > col_per_ex) col_per_ex = c2 - c1;
            if (c1 - (c2 - c1) > wmax) wmax = c1 - (c2 - c1);
        } else if (o->type == OP_GN) {
            ok = (o->mean = alloc_floats(Bm * o->groups)) && (o->rstd = alloc_floats(Bm * o->groups));
            if (6 * Bm * u->t[o->a].C > gn) gn = 6 * Bm * u->t[o->a].C;
        } else if (o->type == OP_ATTN) {
            const size_t T = (size_t)u->t[o->a].H * u->t[o->a].W, n = Bm * o->heads * T * T;
            ok = (o->att = alloc_floats(n)) != NULL;
            if (n > att) att = n;
        } else if (o->type == OP_COND) {
            ok = (o->proj = alloc_floats(Bm * u->t[o->a].C)) != NULL;
        }
    }
    if (ok && col_per_ex) {
        size_t ex = COL_TARGET_FLOATS / col_per_ex;
        if (ex < 1) ex = 1;
        if (ex > Bm) ex = Bm;
        u->col_floats = ex * col_per_ex + wmax;
        ok = (u->col = alloc_floats(u->col_floats)) != NULL;
    }
    if (ok && att) ok = (u->att_scratch = alloc_floats(att)) != NULL;
    if (ok) ok = (u->gn_scratch = alloc_floats(gn)) != NULL;
    if (ok) ok = (u->tcache = alloc_floats(Bm)) != NULL;
    if (!ok) {
        unet_destroy(m);
        return bfn_error(BFN_ENOMEM, "unet: cannot allocate the activations for max_batch %d", max_batch);
    }
    *out = m;
    return BFN_OK;
}

const bfn_unet_spec *bfn_unet_spec_of(const bfn_model *m) {
    if (!m || m->ops != &unet_ops) return NULL;
    return &((const unet_impl *)m->impl)->s;
}
