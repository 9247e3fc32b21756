/* dropout.h: inverted dropout with a counter-based mask.
 *
 * Element i of a call with seed s is kept iff u(s, i) >= p, where u is a
 * hash of (s, i) mapped to [0, 1); kept values are scaled by 1/(1 - p). The
 * mask is a pure function of (seed, index), so it needs no storage, backward
 * recomputes it, and it is the same for any thread count and after a resume
 * (the caller derives the seed from the run seed, the step and the layer). */
#ifndef BFN_NN_DROPOUT_H
#define BFN_NN_DROPOUT_H

#include <stdint.h>

/* 1 if element i is kept under (seed, p). */
int bfn_dropout_keep(uint64_t seed, long i, float p);
void bfn_dropout_forward(float *out, const float *in, long n, float p, uint64_t seed);
/* din += dout * mask / (1 - p) */
void bfn_dropout_backward(float *din, const float *dout, long n, float p, uint64_t seed);

#endif
