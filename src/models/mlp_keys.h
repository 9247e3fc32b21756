/* mlp_keys.h: the keys the MLP network reads (model.arch = mlp), its typed
 * settings and its constructor from them (registry.c's mlp line). */
#ifndef BFN_MODELS_MLP_KEYS_H
#define BFN_MODELS_MLP_KEYS_H

#include "models/model_keys.h"
#include "models/registry.h"

#define BFN_MLP_KEYS(X) BFN_MODEL_KEY_HIDDEN(X) BFN_MODEL_KEY_LAYERS(X)

typedef struct {
    BFN_MLP_KEYS(BFN_KEY_FIELD)
} bfn_mlp_keys;

extern const bfn_key_def bfn_mlp_key_defs[];
int bfn_mlp_make(bfn_model **out, const bfn_model_spec *spec, const bfn_model_shape *shape);

#endif
