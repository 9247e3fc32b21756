/* silu.c: SiLU forward/backward, elementwise (thread-count independent). */
#include "nn/silu.h"

#include <math.h>

void bfn_silu_forward(float *out, const float *in, long n) {
#pragma omp parallel for simd schedule(static)
    for (long i = 0; i < n; i++) out[i] = in[i] / (1.0f + expf(-in[i]));
}

void bfn_silu_backward(float *din, const float *in, const float *dout, long n) {
#pragma omp parallel for simd schedule(static)
    for (long i = 0; i < n; i++) {
        const float s = 1.0f / (1.0f + expf(-in[i]));
        din[i] += dout[i] * s * (1.0f + in[i] * (1.0f - s));
    }
}
