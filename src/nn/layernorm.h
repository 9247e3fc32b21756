/* layernorm.h: LayerNorm (Ba et al. 2016) forward/backward pair.
 *
 * Conventions as in layers.h: row-major float buffers, backward functions
 * ACCUMULATE into gradient buffers, callers own every buffer. */
#ifndef BFN_NN_LAYERNORM_H
#define BFN_NN_LAYERNORM_H

/* LayerNorm over the last axis (eps 1e-5, as torch's F.layer_norm in the
 * official network): out (N, C) = (in - mean) * rstd * w + b.
 * Caches mean (N) and rstd (N) for the backward pass. */
#define BFN_LAYERNORM_EPS 1e-5
void bfn_layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *w,
                           const float *b, int N, int C);
/* din (N, C) += dL/din; dw (C) += dL/dw; db (C) += dL/db, given dout (N, C),
 * the forward input and its cached mean/rstd. Any of din, dw, db may be NULL. */
void bfn_layernorm_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                            const float *w, const float *mean, const float *rstd, int N, int C);

#endif
