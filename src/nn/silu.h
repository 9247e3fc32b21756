/* silu.h: SiLU (swish) activation, x sigmoid(x), as the official U-Nets. */
#ifndef BFN_NN_SILU_H
#define BFN_NN_SILU_H

void bfn_silu_forward(float *out, const float *in, long n);
/* din += dout * silu'(in), silu'(x) = s (1 + x (1 - s)), s = sigmoid(x). */
void bfn_silu_backward(float *din, const float *in, const float *dout, long n);

#endif
