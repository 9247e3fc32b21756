/* registry.c: the table of networks (see registry.h). Adding a network is a
 * constructor from bfn_model_spec and one REGISTRY line; its keys go into
 * the schema in run/config.c and its fields into bfn_model_spec. */
#include "models/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/unet.h"
#include "util/err.h"

static const char *origin(const bfn_model_spec *m, const char *key) {
    return m->origin ? m->origin(m->origin_ctx, key) : key;
}

/* MLP over the flattened data (+ time); widths from model.hidden/layers. */
static int make_mlp(bfn_model **out, const bfn_model_spec *m, const bfn_model_shape *sh) {
    int rc = bfn_mlp_create(out, sh->D * sh->in_ch, sh->D * sh->out_ch, m->hidden, m->layers, sh->max_batch);
    return rc == BFN_OK ? rc : bfn_error_prefix(rc, "%s", origin(m, "model.arch"));
}

/* Transformer over the D positions (text8 GPT). */
static int make_transformer(bfn_model **out, const bfn_model_spec *m, const bfn_model_shape *sh) {
    int rc = bfn_transformer_create(out, sh->D, sh->in_ch, sh->out_ch, m->layers, m->heads, m->hidden, m->skip,
                                    sh->max_batch);
    return rc == BFN_OK ? rc : bfn_error_prefix(rc, "%s", origin(m, "model.arch"));
}

/* Parse "a,b,c" (or "none"/"") into at most max ints >= 1; -1 on a bad item. */
static int parse_ints(const char *text, int *v, int max) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    if (!buf[0] || strcmp(buf, "none") == 0) return 0;
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        char *end;
        long x = strtol(tok, &end, 10);
        if (*end || x < 1 || x > 1 << 20 || n == max) return -1;
        v[n++] = (int)x;
    }
    return n;
}

/* Fill a U-Net spec from the [model] settings and the data shape. */
int bfn_unet_spec_from_model(struct bfn_unet_spec_s *s, const bfn_model_spec *m, const bfn_model_shape *sh) {
    memset(s, 0, sizeof *s);
    s->img_ch = sh->channels;
    s->height = sh->height;
    s->width = sh->width;
    s->in_ch = sh->in_ch;
    s->out_ch = sh->out_ch;
    s->channels = m->channels;
    s->n_levels = parse_ints(m->channel_mult, s->mult, BFN_UNET_MAX_LEVELS);
    if (s->n_levels < 1)
        return bfn_error(BFN_EINVAL, "%s: model.channel_mult must be 1 to %d positive integers, e.g. 1,2,2",
                         origin(m, "model.channel_mult"), BFN_UNET_MAX_LEVELS);
    s->n_attn = parse_ints(m->attn_res, s->attn_res, BFN_UNET_MAX_LEVELS);
    if (s->n_attn < 0)
        return bfn_error(BFN_EINVAL, "%s: model.attn_res must be positive integers (down-sampling factors) or none",
                         origin(m, "model.attn_res"));
    s->res_blocks = m->res_blocks;
    s->heads = m->heads;
    s->groups = m->groups;
    s->dropout = (float)m->dropout;
    s->fourier = m->fourier;
    s->time_input = m->time_input;
    s->project_input = m->project_input;
    s->out_channels = m->out_channels;
    s->time_embed = strcmp(m->time_embed, "vdm") == 0 ? BFN_UNET_TIME_VDM : BFN_UNET_TIME_DDPM;
    if (sh->channels < 1 || sh->height < 1)
        return bfn_error(BFN_EINVAL, "%s: model.arch = unet needs image data", origin(m, "model.arch"));
    int rc = bfn_unet_check(s);
    if (rc != BFN_OK) {
        /* Name the line of the key the message is about. */
        const char *key = strstr(bfn_last_error(), "model.groups") ? "model.groups"
                          : strstr(bfn_last_error(), "model.heads") ? "model.heads"
                                                                     : "model.channel_mult";
        return bfn_error_prefix(rc, "%s", origin(m, key));
    }
    return BFN_OK;
}

static int make_unet(bfn_model **out, const bfn_model_spec *m, const bfn_model_shape *sh) {
    bfn_unet_spec s;
    BFN_TRY(bfn_unet_spec_from_model(&s, m, sh));
    return bfn_unet_create(out, &s, sh->max_batch);
}

#define UNET_KEYS                                                                                    \
    "model.channels model.channel_mult model.res_blocks model.attn_res model.heads model.groups "    \
    "model.dropout model.fourier model.time_input model.project_input model.out_channels model.time_embed"

/* ---- the registry: one line per network. ---- */
static const bfn_model_entry REGISTRY[] = {
    {"mlp", make_mlp, "model.hidden model.layers",
     "MLP over the flattened input: model.layers hidden layers of model.hidden (GELU)"},
    {"transformer", make_transformer, "model.hidden model.layers model.heads model.skip",
     "non-causal pre-LN transformer over positions (text): model.layers blocks of width model.hidden"},
    {"unet", make_unet, UNET_KEYS,
     "convolutional U-Net for images (official UNetModel / UNetVDM): model.channels x model.channel_mult, "
     "model.res_blocks per level, attention at model.attn_res"},
};
#define N_ENTRIES ((int)(sizeof REGISTRY / sizeof REGISTRY[0]))

int bfn_model_count(void) { return N_ENTRIES; }
const bfn_model_entry *bfn_model_entry_at(int i) { return i >= 0 && i < N_ENTRIES ? &REGISTRY[i] : NULL; }

const bfn_model_entry *bfn_model_find(const char *name) {
    for (int i = 0; i < N_ENTRIES; i++)
        if (strcmp(REGISTRY[i].name, name) == 0) return &REGISTRY[i];
    return NULL;
}

const char *bfn_model_names(void) {
    static char buf[256];
    buf[0] = '\0';
    for (int i = 0; i < N_ENTRIES; i++) {
        if (i) strncat(buf, ", ", sizeof buf - strlen(buf) - 1);
        strncat(buf, REGISTRY[i].name, sizeof buf - strlen(buf) - 1);
    }
    return buf;
}

int bfn_model_uses_key(const char *arch, const char *key) {
    const bfn_model_entry *e = bfn_model_find(arch);
    if (!e) return 0;
    const size_t n = strlen(key);
    for (const char *p = e->keys; (p = strstr(p, key)) != NULL; p += n)
        if ((p == e->keys || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return 1;
    return 0;
}

int bfn_model_create(bfn_model **out, const bfn_model_spec *spec, const bfn_model_shape *shape) {
    *out = NULL;
    const bfn_model_entry *e = bfn_model_find(spec->arch);
    if (!e)
        return bfn_error(BFN_EINVAL, "%s: unknown model.arch '%s' (registered: %s)", origin(spec, "model.arch"),
                         spec->arch, bfn_model_names());
    return e->create(out, spec, shape);
}
