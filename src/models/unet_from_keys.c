/* unet_from_keys.c: the U-Net's key rows and its constructor from its
 * settings (see unet_keys.h). */
#include "models/unet_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

BFN_KEY_OWN_FITS(bfn_unet_keys);
#define UNET_DEF(...) BFN_KEY_DEF_IN(bfn_unet_keys, __VA_ARGS__)
const bfn_key_def bfn_unet_key_defs[] = {BFN_UNET_KEYS(UNET_DEF) BFN_KEY_END};

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
int bfn_unet_spec_from_model(bfn_unet_spec *s, const bfn_model_spec *spec, const bfn_model_shape *sh) {
    const bfn_unet_keys *m = BFN_KEY_OWN_AS(spec->own, bfn_unet_keys);
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
                         bfn_model_origin(spec, "model.channel_mult"), BFN_UNET_MAX_LEVELS);
    s->n_attn = parse_ints(m->attn_res, s->attn_res, BFN_UNET_MAX_LEVELS);
    if (s->n_attn < 0)
        return bfn_error(BFN_EINVAL, "%s: model.attn_res must be positive integers (down-sampling factors) or none",
                         bfn_model_origin(spec, "model.attn_res"));
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
        return bfn_error(BFN_EINVAL, "%s: model.arch = unet needs image data", bfn_model_origin(spec, "model.arch"));
    int rc = bfn_unet_check(s);
    if (rc != BFN_OK) {
        /* Name the line of the key the message is about. */
        const char *key = strstr(bfn_last_error(), "model.groups") ? "model.groups"
                          : strstr(bfn_last_error(), "model.heads") ? "model.heads"
                                                                     : "model.channel_mult";
        return bfn_error_prefix(rc, "%s", bfn_model_origin(spec, key));
    }
    return BFN_OK;
}

int bfn_unet_make(bfn_model **out, const bfn_model_spec *spec, const bfn_model_shape *sh) {
    bfn_unet_spec s;
    BFN_TRY(bfn_unet_spec_from_model(&s, spec, sh));
    return bfn_unet_create(out, &s, sh->max_batch);
}
