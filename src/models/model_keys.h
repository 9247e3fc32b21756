/* model_keys.h: [model] keys that several networks read, declared once
 * (util/keydef.h entries). A network's key list (models/NAME_keys.h) names
 * the ones it reads; its own keys are declared in that list. A network's keys
 * count in the run key only when it is the chosen model.arch (rule USED). */
#ifndef BFN_MODELS_MODEL_KEYS_H
#define BFN_MODELS_MODEL_KEYS_H

#include "util/keydef.h"

#define BFN_MODEL_KEY_HIDDEN(X) \
    X(hidden, int, "model.hidden", INT, "1024", 1, 1 << 16, NULL, USED, "MLP width / transformer width")
#define BFN_MODEL_KEY_LAYERS(X) \
    X(layers, int, "model.layers", INT, "2", 1, 256, NULL, USED, "hidden layers / transformer blocks")
#define BFN_MODEL_KEY_HEADS(X)                                                                                     \
    X(heads, int, "model.heads", INT, "4", 1, 256, NULL, USED, "attention heads (transformer, U-Net attention blocks)")

#endif
