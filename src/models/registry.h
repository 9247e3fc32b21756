/* registry.h: the networks `model.arch` can name, one table line each
 * (src/models/registry.c), like the schedule registry in bfn/schedule.c.
 *
 * A network declares the keys it reads in its own header (models/NAME_keys.h,
 * an X-macro list; util/keydef.h): from that one list come its typed settings
 * struct, the schema rows run/config.c validates and prints in --help, and
 * which keys enter the run key. The constructor gets those settings (filled
 * in by the run layer; models/ never reads configuration files) and the
 * shape the data and family impose, so a network never hard-codes an image
 * size or a family's channel counts. */
#ifndef BFN_MODELS_REGISTRY_H
#define BFN_MODELS_REGISTRY_H

#include "models/model.h"
#include "util/keydef.h"

/* The settings of [model]: the chosen network's name and its own typed
 * settings (the struct of its keys header, read with BFN_KEY_OWN_AS). */
typedef struct bfn_model_spec_s {
    const char *arch;
    bfn_key_own own;
    /* Where setting `key` ("model.groups") came from, for FILE:LINE messages. */
    const char *(*origin)(const void *ctx, const char *key);
    const void *origin_ctx;
} bfn_model_spec;

typedef struct bfn_model_shape_s {
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
    /* The model.* keys the network reads (NULL-terminated rows; their fields
     * are its settings struct). Only these enter the run key of its runs. */
    const bfn_key_def *keys;
    const char *help;
} bfn_model_entry;

/* Where `key` was set, or the key itself when the spec has no origin. */
const char *bfn_model_origin(const bfn_model_spec *m, const char *key);

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
