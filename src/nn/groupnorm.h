/* groupnorm.h: GroupNorm over channels-last images (torch.nn.GroupNorm, eps
 * 1e-5, as the official U-Nets' GroupNorm32 / nn.GroupNorm).
 *
 * in (B, P, C) with P pixels; the C channels form G groups of C/G adjacent
 * channels; each (example, group) is normalised over its P * C/G values,
 * then scaled and shifted per channel: out = (x - mean) rstd w[c] + b[c].
 * Forward caches mean and rstd (B, G) for backward, which ACCUMULATES. */
#ifndef BFN_NN_GROUPNORM_H
#define BFN_NN_GROUPNORM_H

#define BFN_GROUPNORM_EPS 1e-5

/* scratch holds 4 B C floats (per-example channel sums in double), aligned
 * for double. */
void bfn_groupnorm_forward(float *out, float *mean, float *rstd, const float *in, const float *w, const float *b,
                           int B, int P, int C, int G, float *scratch);
/* din += dL/din; dw += dL/dw; db += dL/db. Any of din, dw, db may be NULL.
 * scratch holds 6 B C floats (per-example partial sums and per-channel
 * copies of the group statistics); 64-byte alignment is enough for both. */
void bfn_groupnorm_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                            const float *mean, const float *rstd, int B, int P, int C, int G, float *scratch);

#endif
