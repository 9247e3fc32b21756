/* resample.h: nearest-neighbour x2 up-sampling of channels-last images (the
 * official Upsample's F.interpolate(scale_factor=2, mode="nearest"); the
 * convolution that follows it is a separate conv.h layer). Down-sampling is a
 * stride-2 convolution (conv.h), as the official conv_resample = True. */
#ifndef BFN_NN_RESAMPLE_H
#define BFN_NN_RESAMPLE_H

/* out (B, 2H, 2W, C): out[y][x] = in[y/2][x/2]. */
void bfn_upsample2_forward(float *out, const float *in, int B, int H, int W, int C);
/* din (B, H, W, C) += sum of the 4 output pixels each input pixel fed. */
void bfn_upsample2_backward(float *din, const float *dout, int B, int H, int W, int C);

#endif
