/* torchmap.c: the tensor correspondence tables (see torchmap.h). */
#include "run/torchmap.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/unet.h"
#include "util/err.h"

/* ---- the text8 GPT (networks/transformer.py GPT + adapters.py TextInputAdapter,
 * no output adapter). Layouts agree: nn.Linear stores (out, in) as our
 * linear layers do; t_embedding is Linear(1, C), weight (C, 1); lm_head reads
 * [ln_f(x), x_in] when skip is on, as our head does (model.h). */
static const bfn_torch_rule gpt_rules[] = {
    {"in_proj.weight", "input_adapter.inp_embedding.weight"},
    {"in_proj.bias", "input_adapter.inp_embedding.bias"},
    {"t_proj.weight", "input_adapter.t_embedding.weight"},
    {"t_proj.bias", "input_adapter.t_embedding.bias"},
    {"h.%d.ln1.weight", "transformer.h.%d.ln_1.weight"},
    {"h.%d.ln1.bias", "transformer.h.%d.ln_1.bias"},
    {"h.%d.attn.qkv.weight", "transformer.h.%d.attn.c_attn.weight"},
    {"h.%d.attn.qkv.bias", "transformer.h.%d.attn.c_attn.bias"},
    {"h.%d.attn.proj.weight", "transformer.h.%d.attn.c_proj.weight"},
    {"h.%d.attn.proj.bias", "transformer.h.%d.attn.c_proj.bias"},
    {"h.%d.ln2.weight", "transformer.h.%d.ln_2.weight"},
    {"h.%d.ln2.bias", "transformer.h.%d.ln_2.bias"},
    {"h.%d.mlp.fc.weight", "transformer.h.%d.mlp.c_fc.weight"},
    {"h.%d.mlp.fc.bias", "transformer.h.%d.mlp.c_fc.bias"},
    {"h.%d.mlp.proj.weight", "transformer.h.%d.mlp.c_proj.weight"},
    {"h.%d.mlp.proj.bias", "transformer.h.%d.mlp.c_proj.bias"},
    {"ln_f.weight", "transformer.ln_f.weight"},
    {"ln_f.bias", "transformer.ln_f.bias"},
    {"head.weight", "lm_head.weight"},
    {"head.bias", "lm_head.bias"},
};

/* TextInputAdapter(learn_pos_embedding=False) registers pe_encode(T, C)
 * (utils_model.py) as the buffer pos_embedding: the same table as ours
 * (attention.c bfn_sinusoid_table), which PyTorch computes in float32. Its
 * arguments reach T - 1 = 255 radians with a float32 relative error of a few
 * 1e-7, so entries may differ by ~1e-4 at most; a different table (another
 * base, a learned one) differs by O(1). Tolerance 1e-3. */
static int gpt_fixed(const bfn_model *m, bfn_torch_fixed *out, int *n) {
    const float *pos = bfn_transformer_pos_table(m);
    if (!pos) return bfn_error(BFN_EINVAL, "torch mapping GPT: the model is not a transformer");
    int t = bfn_layout_find(&m->layout, "in_proj.weight");
    snprintf(out[0].theirs, sizeof out[0].theirs, "input_adapter.pos_embedding");
    out[0].ndim = 2;
    out[0].shape[0] = m->in_dim / m->layout.t[t].shape[1]; /* seq_len = in_dim / in_ch */
    out[0].shape[1] = m->layout.t[t].shape[0];              /* n_embd */
    out[0].data = pos;
    out[0].tol = 1e-3;
    *n = 1;
    return BFN_OK;
}

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- the two U-Nets. Our tensor names are <block prefix><module>.<leaf>
 * (unet.c); each official class names the block and the module its own way.
 * Convolutions: ours channels-last (O, K, K, I) (nn/conv.h), theirs
 * (O, I, K, K); the 1 x 1 convolutions we store as (O, I) matrices are
 * Conv1d/Conv2d weights with trailing unit dimensions in theirs. */
typedef struct {
    const char *ours, *theirs;
    int kind; /* for 2-D tensors of ours; 4-D ones are always OIHW */
} module_rule;

/* improved-DDPM ResBlock / AttentionBlock (networks/unet_improved.py). */
static const module_rule ddpm_modules[] = {
    {"gn1", "in_layers.0", BFN_TORCH_SAME},       {"conv1", "in_layers.2", BFN_TORCH_SAME},
    {"cond", "emb_layers.1", BFN_TORCH_SAME},     {"gn2", "out_layers.0", BFN_TORCH_SAME},
    {"conv2", "out_layers.3", BFN_TORCH_SAME},    {"skip", "skip_connection", BFN_TORCH_1X1},
    {"norm", "norm", BFN_TORCH_SAME},             {"qkv", "qkv", BFN_TORCH_QKV_HEADS},
    {"proj", "proj_out", BFN_TORCH_1X1_1D},
};
/* VDM ResnetBlock / AttentionBlock (networks/unet_vdm.py): chunk(3) before
 * the head split, so q|k|v first as ours. */
static const module_rule vdm_modules[] = {
    {"gn1", "net1.0", BFN_TORCH_SAME},  {"conv1", "net1.2", BFN_TORCH_SAME}, {"cond", "cond_proj", BFN_TORCH_SAME},
    {"gn2", "net2.0", BFN_TORCH_SAME},  {"conv2", "net2.3", BFN_TORCH_SAME}, {"skip", "skip_conv", BFN_TORCH_1X1},
    {"norm", "layers.0", BFN_TORCH_SAME}, {"qkv", "layers.1", BFN_TORCH_1X1}, {"proj", "layers.3", BFN_TORCH_1X1},
};
/* Tensors outside the blocks: module of ours -> official module. */
static const module_rule ddpm_top[] = {
    {"in_proj", "input_projection", BFN_TORCH_SAME}, {"conv_in", "input_blocks.0.0", BFN_TORCH_SAME},
    {"temb.fc1", "time_embed.0", BFN_TORCH_SAME},     {"temb.fc2", "time_embed.2", BFN_TORCH_SAME},
    {"out.norm", "out.0", BFN_TORCH_SAME},            {"out.conv", "out.2", BFN_TORCH_SAME},
    {"out_adapter", "output_adapter.output_projection", BFN_TORCH_SAME},
};
static const module_rule vdm_top[] = {
    {"conv_in", "conv_in", BFN_TORCH_SAME},          {"temb.fc1", "embed_conditioning.0", BFN_TORCH_SAME},
    {"temb.fc2", "embed_conditioning.2", BFN_TORCH_SAME}, {"out.norm", "conv_out.0", BFN_TORCH_SAME},
    {"out.conv", "conv_out.2", BFN_TORCH_SAME},
    {"out_adapter", "output_adapter.output_projection", BFN_TORCH_SAME},
};

static int find_module(const module_rule *r, int n, const char *module, const char **theirs, int *kind) {
    for (int k = 0; k < n; k++)
        if (strcmp(r[k].ours, module) == 0) {
            *theirs = r[k].theirs;
            *kind = r[k].kind;
            return 1;
        }
    return 0;
}

/* Split "down.3.res.conv1.weight" into block "down", index 3, part "res",
 * module "conv1" and leaf "weight"; top-level names get block "". */
typedef struct {
    char block[8], part[16], module[32], leaf[8];
    long index;
} unet_name_parts;

static int split_name(const char *ours, unet_name_parts *p) {
    memset(p, 0, sizeof *p);
    const char *leaf = strrchr(ours, '.');
    if (!leaf || strlen(leaf + 1) >= sizeof p->leaf) return 0;
    snprintf(p->leaf, sizeof p->leaf, "%s", leaf + 1);
    const int body = (int)(leaf - ours);
    int off = 0;
    if (strncmp(ours, "down.", 5) == 0 || strncmp(ours, "up.", 3) == 0) {
        const int bl = ours[0] == 'd' ? 4 : 2;
        snprintf(p->block, sizeof p->block, "%.*s", bl, ours);
        char *end;
        p->index = strtol(ours + bl + 1, &end, 10);
        if (end == ours + bl + 1 || *end != '.') return 0;
        off = (int)(end + 1 - ours);
    } else if (strncmp(ours, "mid.", 4) == 0) {
        snprintf(p->block, sizeof p->block, "mid");
        off = 4;
    }
    if (p->block[0]) { /* part: res, attn, res1, res2, downsample, upsample */
        const char *dot = memchr(ours + off, '.', (size_t)(body - off));
        int pl = dot ? (int)(dot - (ours + off)) : body - off;
        if (pl >= (int)sizeof p->part) return 0;
        snprintf(p->part, sizeof p->part, "%.*s", pl, ours + off);
        off = dot ? (int)(dot + 1 - ours) : body;
    }
    if (body - off >= (int)sizeof p->module) return 0;
    snprintf(p->module, sizeof p->module, "%.*s", body - off, ours + off);
    return 1;
}

static int unknown(const char *cls, const char *ours) {
    return bfn_error(BFN_EINVAL, "torch mapping %s: our tensor '%s' has no official name (mapping table incomplete)",
                     cls, ours);
}

/* Spec features the official class cannot express (their tensors would all
 * map, yet the network would compute something else): refused up front. */
static int ddpm_fits(const bfn_unet_spec *u) {
    if (u->fourier)
        return bfn_error(BFN_EINVAL, "torch mapping UNetModel: model.fourier = 1, but the official UNetModel has no "
                         "Fourier features (only UNetVDM, model.time_embed = vdm, has them)");
    return BFN_OK;
}

static int vdm_fits(const bfn_unet_spec *u) {
    if (u->project_input)
        return bfn_error(BFN_EINVAL, "torch mapping UNetVDM: model.project_input = 1, but the official UNetVDM has no "
                         "input projection");
    if (u->out_channels > 0 && u->out_channels != u->channels)
        return bfn_error(BFN_EINVAL, "torch mapping UNetVDM: model.out_channels = %d, but the official UNetVDM's last "
                         "convolution keeps the width model.channels = %d", u->out_channels, u->channels);
    return BFN_OK;
}

/* UNetModel: input_blocks.0 is conv_in, our down.d (res blocks and
 * downsamplers counted together, as theirs) is input_blocks.(d+1); the
 * middle is middle_block.0-2; our up.d is output_blocks.d with the ResBlock
 * at .0, the AttentionBlock at .1 and the Upsample after them. */
static int ddpm_name(const bfn_model *m, const char *ours, char *theirs, size_t n, int *kind) {
    unet_name_parts p;
    const char *mod = NULL;
    *kind = BFN_TORCH_SAME;
    BFN_TRY(ddpm_fits(bfn_unet_spec_of(m)));
    if (!split_name(ours, &p)) return unknown("UNetModel", ours);
    if (!p.block[0]) {
        if (!find_module(ddpm_top, N_OF(ddpm_top), p.module, &mod, kind)) return unknown("UNetModel", ours);
        snprintf(theirs, n, "%s.%s", mod, p.leaf);
        return BFN_OK;
    }
    if (strcmp(p.part, "downsample") == 0 && !p.module[0] && strcmp(p.block, "down") == 0) {
        snprintf(theirs, n, "input_blocks.%ld.0.op.%s", p.index + 1, p.leaf);
        return BFN_OK;
    }
    if (strcmp(p.part, "upsample") == 0 && !p.module[0] && strcmp(p.block, "up") == 0) {
        char attn[BFN_TENSOR_NAME];
        snprintf(attn, sizeof attn, "up.%ld.attn.norm.weight", p.index);
        snprintf(theirs, n, "output_blocks.%ld.%d.conv.%s", p.index, bfn_layout_find(&m->layout, attn) >= 0 ? 2 : 1,
                 p.leaf);
        return BFN_OK;
    }
    if (!find_module(ddpm_modules, N_OF(ddpm_modules), p.module, &mod, kind)) return unknown("UNetModel", ours);
    int sub;
    if (strcmp(p.block, "mid") == 0) {
        sub = strcmp(p.part, "res1") == 0 ? 0 : strcmp(p.part, "attn") == 0 ? 1 : strcmp(p.part, "res2") == 0 ? 2 : -1;
        if (sub < 0) return unknown("UNetModel", ours);
        snprintf(theirs, n, "middle_block.%d.%s.%s", sub, mod, p.leaf);
        return BFN_OK;
    }
    sub = strcmp(p.part, "res") == 0 ? 0 : strcmp(p.part, "attn") == 0 ? 1 : -1;
    if (sub < 0) return unknown("UNetModel", ours);
    const int down = strcmp(p.block, "down") == 0;
    snprintf(theirs, n, "%s.%ld.%d.%s.%s", down ? "input_blocks" : "output_blocks", p.index + (down ? 1 : 0), sub,
             mod, p.leaf);
    return BFN_OK;
}

/* UNetVDM: down_blocks.d / up_blocks.d are UpDownBlocks (resnet_block,
 * attention_block); the middle has its own names; no resampling. */
static int vdm_name(const bfn_model *m, const char *ours, char *theirs, size_t n, int *kind) {
    unet_name_parts p;
    const char *mod = NULL;
    *kind = BFN_TORCH_SAME;
    BFN_TRY(vdm_fits(bfn_unet_spec_of(m)));
    if (!split_name(ours, &p)) return unknown("UNetVDM", ours);
    if (!p.block[0]) {
        if (!find_module(vdm_top, N_OF(vdm_top), p.module, &mod, kind)) return unknown("UNetVDM", ours);
        snprintf(theirs, n, "%s.%s", mod, p.leaf);
        return BFN_OK;
    }
    if (!find_module(vdm_modules, N_OF(vdm_modules), p.module, &mod, kind)) return unknown("UNetVDM", ours);
    const char *part = NULL;
    if (strcmp(p.block, "mid") == 0)
        part = strcmp(p.part, "res1") == 0   ? "mid_resnet_block_1"
               : strcmp(p.part, "attn") == 0 ? "mid_attn_block"
               : strcmp(p.part, "res2") == 0 ? "mid_resnet_block_2"
                                             : NULL;
    if (part) {
        snprintf(theirs, n, "%s.%s.%s", part, mod, p.leaf);
        return BFN_OK;
    }
    part = strcmp(p.part, "res") == 0 ? "resnet_block" : strcmp(p.part, "attn") == 0 ? "attention_block" : NULL;
    if (!part || strcmp(p.block, "mid") == 0) return unknown("UNetVDM", ours);
    snprintf(theirs, n, "%s_blocks.%ld.%s.%s.%s", p.block, p.index, part, mod, p.leaf);
    return BFN_OK;
}

/* FourierImageInputAdapter(learn_pos_feats=False) registers the buffer
 * pos_feats (adapters.py) even with add_pos_feats = False, when it is not
 * used: per pixel (i, j) of an H x W grid, pos = (x_i, y_j) on
 * linspace(-1, 1), bands linspace(1, H/2, 64) and linspace(1, W/2, 64),
 * v = pi pos_a band_a,f (index a*64 + f), row [sin v, cos v, pos] (258).
 * PyTorch computes it in float32: arguments reach pi*H/2 ~ 50 radians, so
 * rounding differs by ~1e-5 at most; tolerance 1e-4 (a different grid or
 * band count differs by O(1) or in shape). */
#define N_FREQ_BANDS 64
static int unet_fixed(const bfn_model *m, bfn_torch_fixed *out, int *n) {
    const bfn_unet_spec *s = bfn_unet_spec_of(m);
    if (!s) return bfn_error(BFN_EINVAL, "torch mapping: the model is not a U-Net");
    const int H = s->height, W = s->width, F = 4 * N_FREQ_BANDS + 2;
    float *t = bfn_xmalloc((size_t)H * W * F * sizeof *t);
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) {
            const double pos[2] = {H > 1 ? -1.0 + 2.0 * i / (H - 1) : -1.0, W > 1 ? -1.0 + 2.0 * j / (W - 1) : -1.0};
            const int size[2] = {H, W};
            float *row = t + ((size_t)i * W + j) * F;
            for (int a = 0; a < 2; a++)
                for (int f = 0; f < N_FREQ_BANDS; f++) {
                    const double band = 1.0 + (size[a] / 2.0 - 1.0) * f / (N_FREQ_BANDS - 1);
                    const double v = 3.14159265358979323846 * pos[a] * band;
                    row[a * N_FREQ_BANDS + f] = (float)sin(v);
                    row[2 * N_FREQ_BANDS + a * N_FREQ_BANDS + f] = (float)cos(v);
                }
            row[4 * N_FREQ_BANDS] = (float)pos[0];
            row[4 * N_FREQ_BANDS + 1] = (float)pos[1];
        }
    snprintf(out[0].theirs, sizeof out[0].theirs, "input_adapter.pos_feats");
    out[0].ndim = 2;
    out[0].shape[0] = H * W;
    out[0].shape[1] = F;
    out[0].data = out[0].owned = t;
    out[0].tol = 1e-4;
    *n = 1;
    return BFN_OK;
}

/* The registry: every official network class we recognise. */
static const bfn_torch_arch registry[] = {
    {"GPT", "the text8 transformer (networks/transformer.py)", "transformer.ln_f.weight", "transformer", 1,
     gpt_rules, N_OF(gpt_rules), gpt_fixed, NULL, NULL},
    {"UNetModel", "the MNIST U-Net (networks/unet_improved.py)", "input_blocks.0.0.weight", "unet", 1, NULL, 0,
     unet_fixed, NULL, ddpm_name},
    {"UNetVDM", "the CIFAR-10 U-Net (networks/unet_vdm.py)", "conv_in.weight", "unet", 1, NULL, 0, unet_fixed, NULL,
     vdm_name},
};

int bfn_torch_detect(const bfn_torch_file *f, const char *path, const bfn_torch_arch **arch, const char **prefix) {
    *arch = NULL;
    *prefix = "";
    int all_net = f->n > 0;
    for (int j = 0; j < f->n; j++) all_net = all_net && strncmp(f->t[j].name, "net.", 4) == 0;
    if (all_net) *prefix = "net.";
    char name[BFN_TORCH_NAME + 8];
    for (int r = 0; r < N_OF(registry); r++) {
        snprintf(name, sizeof name, "%s%s", *prefix, registry[r].marker);
        if (bfn_torch_find(f, name) >= 0) {
            *arch = &registry[r];
            return BFN_OK;
        }
    }
    return bfn_error(BFN_EINVAL,
                     "%s: not a checkpoint of an official BFN network (no tensor of GPT, UNetModel or UNetVDM found; "
                     "first tensor: '%s')", path, f->n ? f->t[0].name : "(none)");
}

const bfn_torch_arch *bfn_torch_arch_for_model(const bfn_model *m) {
    /* Both U-Net classes are our model.arch = unet: the time embedding tells
     * which official network the spec expresses (unet.h). */
    const bfn_unet_spec *u = bfn_unet_spec_of(m);
    const char *cls = u ? (u->time_embed == BFN_UNET_TIME_VDM ? "UNetVDM" : "UNetModel") : NULL;
    for (int r = 0; r < N_OF(registry); r++)
        if (registry[r].arch && strcmp(registry[r].arch, m->ops->name) == 0 &&
            (!cls || strcmp(cls, registry[r].official_class) == 0))
            return &registry[r];
    return NULL;
}

/* name matches pattern ("%d" = one non-negative integer)? *d gets it. */
static int match(const char *pattern, const char *name, long *d) {
    const char *pd = strstr(pattern, "%d");
    if (!pd) return strcmp(pattern, name) == 0;
    size_t pre = (size_t)(pd - pattern);
    if (strncmp(pattern, name, pre) != 0 || !isdigit((unsigned char)name[pre])) return 0;
    char *end;
    *d = strtol(name + pre, &end, 10);
    return strcmp(end, pd + 2) == 0;
}

/* pattern with "%d" replaced by d. */
static void expand(const char *pattern, long d, char *out, size_t n) {
    const char *pd = strstr(pattern, "%d");
    if (!pd) snprintf(out, n, "%s", pattern);
    else snprintf(out, n, "%.*s%ld%s", (int)(pd - pattern), pattern, d, pd + 2);
}

/* The official shape of our tensor ti under a layout kind. */
static void their_shape(const bfn_tensor_info *ti, int kind, unsigned char *ndim, int *shape) {
    *ndim = (unsigned char)ti->ndim;
    for (int d = 0; d < 4; d++) shape[d] = d < ti->ndim ? ti->shape[d] : 0;
    if (kind == BFN_TORCH_OIHW) {
        shape[1] = ti->shape[3];
        shape[2] = ti->shape[1];
        shape[3] = ti->shape[2];
    } else if (ti->ndim == 2 && (kind == BFN_TORCH_1X1 || kind == BFN_TORCH_1X1_1D || kind == BFN_TORCH_QKV_HEADS)) {
        *ndim = kind == BFN_TORCH_1X1 ? 4 : 3;
        shape[2] = shape[3] = 1;
        if (kind != BFN_TORCH_1X1) shape[3] = 0;
    }
}

int bfn_torch_map_build(const bfn_torch_arch *a, const bfn_model *m, bfn_torch_map *out) {
    memset(out, 0, sizeof *out);
    out->arch = a;
    if (!a->rules && !a->name) return bfn_error(BFN_EINVAL, "%s", a->not_yet);
    snprintf(out->mapping, sizeof out->mapping, "%s/%d", a->official_class, a->version);
    out->n = m->layout.n_tensors;
    const bfn_unet_spec *us = bfn_unet_spec_of(m);
    out->heads = us ? us->heads : 1;
    for (int i = 0; i < out->n; i++) {
        const bfn_tensor_info *ti = &m->layout.t[i];
        const char *ours = ti->name;
        int kind = BFN_TORCH_SAME;
        if (a->name) {
            BFN_TRY(a->name(m, ours, out->theirs[i], sizeof out->theirs[i], &kind));
            /* Biases keep their shape; only the q|k|v bias is reordered. */
            if (ti->ndim == 1 && kind != BFN_TORCH_QKV_HEADS) kind = BFN_TORCH_SAME;
            if (ti->ndim == 4) kind = BFN_TORCH_OIHW;
        } else {
            int hit = -1;
            long d = 0;
            for (int r = 0; r < a->n_rules && hit < 0; r++)
                if (match(a->rules[r].ours, ours, &d)) hit = r;
            if (hit < 0)
                return bfn_error(BFN_EINVAL, "torch mapping %s: our tensor '%s' has no official name (mapping table "
                                 "incomplete)", out->mapping, ours);
            expand(a->rules[hit].theirs, d, out->theirs[i], sizeof out->theirs[i]);
        }
        out->kind[i] = (unsigned char)kind;
        their_shape(ti, kind, &out->theirs_ndim[i], out->theirs_shape[i]);
    }
    if (a->fixed) BFN_TRY(a->fixed(m, out->fixed, &out->n_fixed));
    return BFN_OK;
}

void bfn_torch_map_release(bfn_torch_map *map) {
    for (int x = 0; x < map->n_fixed; x++) {
        free(map->fixed[x].owned);
        map->fixed[x].owned = NULL;
        map->fixed[x].data = NULL;
    }
}

/* Row r of ours (r = s*C + h*hs + c, s in q|k|v) is row h*3hs + s*hs + c of
 * theirs (QKVAttention reshapes the 3C channels to (heads, 3 hs)). */
static size_t qkv_row(size_t r, size_t rows, int heads) {
    const size_t C = rows / 3, hs = C / (size_t)heads, s = r / C, h = (r % C) / hs, c = r % hs;
    return h * 3 * hs + s * hs + c;
}

static void convert(const bfn_torch_map *map, int i, const bfn_tensor_info *ti, const float *src, float *dst,
                    int to_ours) {
    const int kind = map->kind[i];
    if (kind == BFN_TORCH_OIHW) {
        const int O = ti->shape[0], K1 = ti->shape[1], K2 = ti->shape[2], I = ti->shape[3];
        for (int o = 0; o < O; o++)
            for (int y = 0; y < K1; y++)
                for (int x = 0; x < K2; x++)
                    for (int c = 0; c < I; c++) {
                        const size_t a = (((size_t)o * K1 + y) * K2 + x) * I + c; /* ours */
                        const size_t b = (((size_t)o * I + c) * K1 + y) * K2 + x; /* theirs */
                        if (to_ours) dst[a] = src[b];
                        else dst[b] = src[a];
                    }
    } else if (kind == BFN_TORCH_QKV_HEADS) {
        const size_t rows = (size_t)ti->shape[0], cols = ti->ndim == 2 ? (size_t)ti->shape[1] : 1;
        for (size_t r = 0; r < rows; r++) {
            const size_t t = qkv_row(r, rows, map->heads);
            if (to_ours) memcpy(dst + r * cols, src + t * cols, cols * sizeof *dst);
            else memcpy(dst + t * cols, src + r * cols, cols * sizeof *dst);
        }
    } else {
        memcpy(dst, src, ti->size * sizeof *dst);
    }
}

void bfn_torch_to_ours(const bfn_torch_map *map, int i, const bfn_tensor_info *ti, const float *theirs, float *ours) {
    convert(map, i, ti, theirs, ours, 1);
}

void bfn_torch_to_theirs(const bfn_torch_map *map, int i, const bfn_tensor_info *ti, const float *ours,
                         float *theirs) {
    convert(map, i, ti, ours, theirs, 0);
}
