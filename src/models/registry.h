/* registry.h: the networks `model.arch` can name, one table line each
 * (src/models/registry.c), like the schedule registry in bfn/schedule.c.
 *
 * A constructor gets the network's settings (bfn_model_spec, resolved from
 * [model] by run/spec.c; models/ never reads configuration files)
 * and the shape the data and family impose, so a network never hard-codes
 * an image size or a family's channel counts. */
#ifndef BFN_MODELS_REGISTRY_H
#define BFN_MODELS_REGISTRY_H

#include "models/model.h"

/* The settings of [model], typed. Each network reads the fields it needs
 * (its registry line lists their keys, which is what enters the run key). */
typedef struct {
    const char *arch;
    int hidden, layers, heads, skip;                   /* MLP, transformer (heads: U-Net too) */
    int channels, res_blocks, groups, fourier, time_input, project_input, out_channels; /* U-Net */
    const char *channel_mult, *attn_res, *time_embed;  /* U-Net, as written ("1,2,2", "none", "ddpm") */
    double dropout;                                    /* U-Net */
    /* Where setting `key` ("model.groups") came from, for FILE:LINE messages. */
    const char *(*origin)(const void *ctx, const char *key);
    const void *origin_ctx;
} bfn_model_spec;

typedef struct {
    int in_ch, out_ch;            /* the family's network inputs / outputs per data dimension */
    int D;                        /* data dimensions per example */
    int channels, height, width;  /* image shape (0 for sequences) */
    int seq_len;                  /* sequence length (text; D otherwise) */
    int max_batch;
} bfn_model_shape;

typedef int (*bfn_model_ctor)(bfn_model **out, const bfn_model_spec *spec, const bfn_model_shape *shape);

typedef struct {
    const char *name;
    bfn_model_ctor create;
    /* model.* keys the network reads, space-separated (the run key holds
     * only these, plus the keys every run has always held; see config.c). */
    const char *keys;
    const char *help;
} bfn_model_entry;

/* The U-Net's spec from model.* keys and the data shape, checked (errors
 * name the offending key's FILE:LINE). Used by the unet entry and tests. */
struct bfn_unet_spec_s;
int bfn_unet_spec_from_model(struct bfn_unet_spec_s *s, const bfn_model_spec *spec, const bfn_model_shape *shape);

/* Build the network named by model.arch. An unknown name is BFN_EINVAL
 * naming the key's origin (FILE:LINE) and the registered names. */
int bfn_model_create(bfn_model **out, const bfn_model_spec *spec, const bfn_model_shape *shape);
/* The entry called `name`, or NULL. */
const bfn_model_entry *bfn_model_find(const char *name);
/* The i-th registered entry (0 <= i < bfn_model_count()), else NULL. */
int bfn_model_count(void);
const bfn_model_entry *bfn_model_entry_at(int i);
/* 1 if network `arch` reads config key `key` ("model.channels"). */
int bfn_model_uses_key(const char *arch, const char *key);
/* "mlp, transformer, unet" (static buffer). */
const char *bfn_model_names(void);

#endif
