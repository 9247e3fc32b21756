/* silu.c: SiLU forward/backward, elementwise (thread-count independent).
 * The sigmoid's exponential is bfn_expf_vec (util/vecmath.h, <= 2 ulp,
 * clamped to [-87.3, 88.3], where sigmoid is 0 or 1 to float precision) so
 * the loops vectorise; libm's expf is a call per element. */
#include "nn/silu.h"

#include "util/vecmath.h"

void bfn_silu_forward(float *out, const float *in, long n) {
    const bfn_vec_bounds_t vb = bfn_vec_bounds();
    const float lo = vb.exp_lo, hi = vb.exp_hi, one = vb.one;
#pragma omp parallel for simd schedule(static)
    for (long i = 0; i < n; i++) out[i] = in[i] / (one + bfn_expf_vec(-in[i], lo, hi));
}

void bfn_silu_backward(float *din, const float *in, const float *dout, long n) {
    const bfn_vec_bounds_t vb = bfn_vec_bounds();
    const float lo = vb.exp_lo, hi = vb.exp_hi, one = vb.one;
#pragma omp parallel for simd schedule(static)
    for (long i = 0; i < n; i++) {
        const float s = one / (one + bfn_expf_vec(-in[i], lo, hi));
        din[i] += dout[i] * s * (one + in[i] * (one - s));
    }
}
