/* unet_keys.h: the keys the U-Net reads (model.arch = unet), its typed
 * settings, and the constructor from them (models/unet_from_keys.c). */
#ifndef BFN_MODELS_UNET_KEYS_H
#define BFN_MODELS_UNET_KEYS_H

#include "models/model_keys.h"
#include "models/registry.h"
#include "models/unet.h"

#define BFN_UNET_KEYS(X)                                                                                           \
    X(channels, int, "model.channels", INT, "32", 2, 4096, NULL, USED,                                              \
      "U-Net: base width (official model_channels / embedding_dim)")                                                \
    X(channel_mult, str, "model.channel_mult", STR, "1,2,2", 0, 0, NULL, USED,                                      \
      "U-Net: width multiplier per level; each level but the last halves H and W")                                  \
    X(res_blocks, int, "model.res_blocks", INT, "1", 1, 64, NULL, USED,                                             \
      "U-Net: residual blocks per level (down; up has one more)")                                                   \
    X(attn_res, str, "model.attn_res", STR, "none", 0, 0, NULL, USED,                                               \
      "U-Net: down-sampling factors with self-attention, e.g. 8,16 (none: middle block only)")                      \
    BFN_MODEL_KEY_HEADS(X)                                                                                          \
    X(groups, int, "model.groups", INT, "32", 1, 4096, NULL, USED, "U-Net: GroupNorm groups (must divide every width)") \
    X(dropout, double, "model.dropout", REAL, "0", 0, 0.99, NULL, USED,                                             \
      "U-Net: dropout in every residual block (training only)")                                                     \
    X(fourier, int, "model.fourier", INT, "0", 0, 1, NULL, USED,                                                    \
      "U-Net: append VDM Fourier features of the inputs (2^5, 2^6 cycles)")                                         \
    X(time_input, int, "model.time_input", INT, "1", 0, 1, NULL, USED,                                              \
      "U-Net: input adapter appends 2t-1 to every pixel")                                                           \
    X(project_input, int, "model.project_input", INT, "1", 0, 1, NULL, USED,                                        \
      "U-Net: per-pixel linear to model.channels before conv_in")                                                   \
    X(out_channels, int, "model.out_channels", INT, "0", 0, 4096, NULL, USED,                                       \
      "U-Net: width of the last convolution (0 = model.channels)")                                                  \
    X(time_embed, str, "model.time_embed", ENUM, "ddpm", 0, 0, "ddpm|vdm", USED,                                    \
      "U-Net: time embedding and per-block projection of UNetModel (ddpm) or UNetVDM (vdm)")

typedef struct {
    BFN_UNET_KEYS(BFN_KEY_FIELD)
} bfn_unet_keys;

extern const bfn_key_def bfn_unet_key_defs[];
int bfn_unet_make(bfn_model **out, const bfn_model_spec *spec, const bfn_model_shape *shape);
/* The U-Net's spec from its keys and the data shape, checked (errors name
 * the offending key's FILE:LINE). Used by bfn_unet_make and tests. */
int bfn_unet_spec_from_model(bfn_unet_spec *s, const bfn_model_spec *spec, const bfn_model_shape *shape);

#endif
