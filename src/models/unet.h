/* unet.h: the paper's image network, a convolutional U-Net, configurable so
 * that one builder expresses both official networks (PAPER.md §3.2, §3.3):
 *   - the improved-DDPM UNetModel of configs/mnist_discrete.yaml: levels of
 *     res_blocks residual blocks, stride-2 convolution down and nearest x2 +
 *     convolution up between levels, attention where the down-sampling factor
 *     is in attn_res and in the middle; time as sinusoid(4000 t) (cos, sin);
 *     input adapter [pixel features, 2t - 1] projected to `channels`;
 *   - UNetVDM of the CIFAR-10 configs: one level of 32 blocks down and 33 up
 *     (channel_mult = 1, res_blocks = 32), attention only in the middle, time
 *     as sinusoid(1000 (t + 0.001)) (sin, cos) with a bias-free zero-initialised
 *     projection per block, Fourier features of the inputs.
 * Both end in GroupNorm, SiLU, a zero-initialised 3x3 convolution, the
 * concatenation with the (projected) input, and a per-pixel linear output
 * adapter to the family's outputs.
 *
 * Layout: the model input is the family's (B, D * in_ch) with D = C*H*W in
 * CHW order (the datasets' order); activations are channels-last. */
#ifndef BFN_MODELS_UNET_H
#define BFN_MODELS_UNET_H

#include <stddef.h>

#include "models/model.h"

#define BFN_UNET_MAX_LEVELS 8

enum { BFN_UNET_TIME_DDPM = 0, BFN_UNET_TIME_VDM = 1 };

typedef struct bfn_unet_spec_s {
    int img_ch, height, width; /* image shape, from the data */
    int in_ch, out_ch;         /* the family's network inputs / outputs per data dimension */
    int channels;              /* base width (model_channels / embedding_dim) */
    int n_levels;              /* entries of mult */
    int mult[BFN_UNET_MAX_LEVELS];
    int res_blocks;            /* residual blocks per level on the way down (up: one more) */
    int n_attn;                /* entries of attn_res */
    int attn_res[BFN_UNET_MAX_LEVELS]; /* down-sampling factors with attention (middle: always) */
    int heads, groups;
    float dropout;             /* in every residual block, training only */
    int fourier;               /* 1: concat VDM Fourier features (2^5, 2^6 cycles) of the adapter output */
    int time_input;            /* 1: the adapter appends 2t - 1 per pixel (official add_mask) */
    int project_input;         /* 1: per-pixel linear to `channels` before conv_in (official project_input) */
    int out_channels;          /* width of the final convolution (0 = channels) */
    int time_embed;            /* BFN_UNET_TIME_DDPM or BFN_UNET_TIME_VDM */
} bfn_unet_spec;

/* Check the spec (shape divisible by 2^(levels-1), groups dividing every
 * GroupNorm width, heads dividing attention widths, ...); BFN_EINVAL with a
 * message naming the offending hyper-parameter. */
int bfn_unet_check(const bfn_unet_spec *s);
/* Parameters of the network (sum of tensor sizes, no padding), computed
 * from the spec without allocating activations. */
int bfn_unet_param_count(const bfn_unet_spec *s, size_t *n);
int bfn_unet_create(bfn_model **out, const bfn_unet_spec *s, int max_batch);
/* The spec a U-Net model was built from; NULL if m is not a U-Net. */
const bfn_unet_spec *bfn_unet_spec_of(const bfn_model *m);

#endif
