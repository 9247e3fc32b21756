/* conv.h: 2-D convolution in the channels-last layout (B, H, W, C), as GEMMs.
 *
 * A K x K convolution (K odd, zero padding K/2, stride 1 or 2) with weight
 * W (OC, K, K, IC) and bias (OC) is an im2col GEMM: each output pixel's
 * receptive field is copied into one row of a column buffer
 * (rows = output pixels, K*K*IC columns, order (ky, kx, ic)), then
 * out = col @ W^T + bias. A 1 x 1 stride-1 convolution is a plain linear
 * layer over B*H*W rows and needs no column buffer.
 *
 * The column buffer is the caller's (allocated once for the model, see
 * bfn_conv_scratch_floats); work is done in chunks of whole examples that fit
 * it, so one GEMM covers many examples (OpenBLAS threads it) while memory
 * stays bounded. Backward ACCUMULATES into din, dW and db like layers.h. */
#ifndef BFN_NN_CONV_H
#define BFN_NN_CONV_H

#include <stddef.h>

typedef struct {
    int H, W, IC;   /* input image */
    int OC, K, stride;
    int OH, OW;     /* output image: (H + 2 (K/2) - K) / stride + 1 */
} bfn_conv2d;

/* Fill the shape; returns 0 when K is odd and positive, stride is 1 or 2 and
 * the sizes are positive, else -1. */
int bfn_conv2d_init(bfn_conv2d *c, int H, int W, int IC, int OC, int K, int stride);
/* Column-buffer floats that fit `examples` examples of this convolution
 * (0 for a 1 x 1 stride-1 convolution). */
size_t bfn_conv_scratch_floats(const bfn_conv2d *c, int examples);

/* out (B, OH, OW, OC) = conv(in (B, H, W, IC)) + bias; bias may be NULL.
 * scratch holds scratch_floats floats (at least one example's worth). */
void bfn_conv2d_forward(const bfn_conv2d *c, float *out, const float *in, const float *Wt, const float *bias,
                        int B, float *scratch, size_t scratch_floats);
/* din += dL/din, dW += dL/dW, db += dL/db given dout (B, OH, OW, OC) and the
 * forward input. Any of din, dW, db may be NULL. */
void bfn_conv2d_backward(const bfn_conv2d *c, float *din, float *dW, float *db, const float *dout,
                         const float *in, const float *Wt, int B, float *scratch, size_t scratch_floats);

#endif
