/* transformer_keys.h: the keys the text transformer reads (model.arch =
 * transformer), its typed settings and its constructor from them. */
#ifndef BFN_MODELS_TRANSFORMER_KEYS_H
#define BFN_MODELS_TRANSFORMER_KEYS_H

#include "models/model_keys.h"
#include "models/registry.h"

#define BFN_TRANSFORMER_KEYS(X)                                                                                    \
    BFN_MODEL_KEY_HIDDEN(X) BFN_MODEL_KEY_LAYERS(X) BFN_MODEL_KEY_HEADS(X)                                         \
    X(skip, int, "model.skip", INT, "1", 0, 1, NULL, USED, "transformer: head sees [final LN, input projection]")

typedef struct {
    BFN_TRANSFORMER_KEYS(BFN_KEY_FIELD)
} bfn_transformer_keys;

extern const bfn_key_def bfn_transformer_key_defs[];
int bfn_transformer_make(bfn_model **out, const bfn_model_spec *spec, const bfn_model_shape *shape);

#endif
