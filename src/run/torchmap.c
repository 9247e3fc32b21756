/* torchmap.c: the tensor correspondence tables (see torchmap.h). */
#include "run/torchmap.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The registry: every official network class we recognise. */
static const bfn_torch_arch registry[] = {
    {"GPT", "the text8 transformer (networks/transformer.py)", "transformer.ln_f.weight", "transformer", 1,
     gpt_rules, N_OF(gpt_rules), gpt_fixed, NULL},
    {"UNetModel", "the MNIST U-Net (networks/unet_improved.py)", "input_blocks.0.0.weight", NULL, 0, NULL, 0, NULL,
     "image networks are not supported yet: the official MNIST UNetModel (with its FourierImageInputAdapter and "
     "OutputAdapter) arrives with model.arch = unet"},
    {"UNetVDM", "the CIFAR-10 U-Net (networks/unet_vdm.py)", "conv_in.weight", NULL, 0, NULL, 0, NULL,
     "image networks are not supported yet: the official CIFAR-10 UNetVDM (with its FourierImageInputAdapter and "
     "OutputAdapter) arrives with model.arch = unet"},
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
    for (int r = 0; r < N_OF(registry); r++)
        if (registry[r].arch && strcmp(registry[r].arch, m->ops->name) == 0) return &registry[r];
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

int bfn_torch_map_build(const bfn_torch_arch *a, const bfn_model *m, bfn_torch_map *out) {
    memset(out, 0, sizeof *out);
    out->arch = a;
    if (!a->rules) return bfn_error(BFN_EINVAL, "%s", a->not_yet);
    snprintf(out->mapping, sizeof out->mapping, "%s/%d", a->official_class, a->version);
    out->n = m->layout.n_tensors;
    for (int i = 0; i < out->n; i++) {
        const char *ours = m->layout.t[i].name;
        int hit = -1;
        long d = 0;
        for (int r = 0; r < a->n_rules && hit < 0; r++)
            if (match(a->rules[r].ours, ours, &d)) hit = r;
        if (hit < 0)
            return bfn_error(BFN_EINVAL, "torch mapping %s: our tensor '%s' has no official name (mapping table "
                             "incomplete)", out->mapping, ours);
        expand(a->rules[hit].theirs, d, out->theirs[i], sizeof out->theirs[i]);
    }
    if (a->fixed) BFN_TRY(a->fixed(m, out->fixed, &out->n_fixed));
    return BFN_OK;
}
