/* registry.c: the table of networks (see registry.h). Adding a network is
 * its own files (NAME.c, NAME_keys.h with its keys, settings struct and
 * constructor) plus its include and one REGISTRY line here. */
#include "models/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/mlp_keys.h"
#include "models/transformer_keys.h"
#include "models/unet_keys.h"
#include "util/err.h"

/* ---- the registry: one line per network. ---- */
static const bfn_model_entry REGISTRY[] = {
    {"mlp", bfn_mlp_make, bfn_mlp_key_defs,
     "MLP over the flattened input: model.layers hidden layers of model.hidden (GELU)"},
    {"transformer", bfn_transformer_make, bfn_transformer_key_defs,
     "non-causal pre-LN transformer over positions (text): model.layers blocks of width model.hidden"},
    {"unet", bfn_unet_make, bfn_unet_key_defs,
     "convolutional U-Net for images (official UNetModel / UNetVDM): model.channels x model.channel_mult, "
     "model.res_blocks per level, attention at model.attn_res"},
};
#define N_ENTRIES ((int)(sizeof REGISTRY / sizeof REGISTRY[0]))

const char *bfn_model_origin(const bfn_model_spec *m, const char *key) {
    return m->origin ? m->origin(m->origin_ctx, key) : key;
}

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
    for (const bfn_key_def *k = e ? e->keys : NULL; k && k->key; k++)
        if (strcmp(k->key, key) == 0) return 1;
    return 0;
}

int bfn_model_create(bfn_model **out, const bfn_model_spec *spec, const bfn_model_shape *shape) {
    *out = NULL;
    const bfn_model_entry *e = bfn_model_find(spec->arch);
    if (!e)
        return bfn_error(BFN_EINVAL, "%s: unknown model.arch '%s' (registered: %s)",
                         bfn_model_origin(spec, "model.arch"), spec->arch, bfn_model_names());
    return e->create(out, spec, shape);
}
