/* vecmath.h: float exp, log and sin/cos written so that loops over them
 * vectorise (no calls, no branches, no lookup tables). glibc's expf/logf are
 * calls that GCC maps to libmvec only under -ffast-math, which we do not use
 * (it breaks NaN checks and reproducibility); these are plain C, so the same
 * input gives the same bits on every x86-64 CPU.
 *
 * Error bounds (tests/test_vecmath.c checks them against libm in double):
 *   bfn_expf_vec   |rel err| <= 2 ulp (2.4e-7) on [lo, hi]
 *   bfn_logf_vec   |abs err| <= 2.4e-7 + 1 ulp |ln x| on [FLT_MIN, 2^127],
 *                  relative <= 1 ulp on [1/2, 2)
 *   bfn_sincospi_half  |abs err| <= 1e-6 for w in [-1/2, 1/2]
 * Clamp bounds come from bfn_vec_bounds(): with literal bounds GCC (12, -O2,
 * default -ftrapping-math) turns each clamp into a branch and does not
 * vectorise the loop (see nn/layers.c). */
#ifndef BFN_UTIL_VECMATH_H
#define BFN_UTIL_VECMATH_H

#include <float.h>
#include <stdint.h>
#include <string.h>

typedef struct { float exp_lo, exp_hi, log_lo, zero, half, one; } bfn_vec_bounds_t;

/* Run-time clamp bounds: exp's argument to [-87.3, 88.3] (2^k stays a normal
 * float), log's to >= FLT_MIN (denormals and 0 give ln FLT_MIN = -87.34; NaN
 * also maps there, so callers that care test for NaN themselves). zero,
 * half and one are the constants 0, 1/2 and 1 as run-time values, for loops
 * where literal compare/select operands also stop GCC 12 from vectorising. */
static inline bfn_vec_bounds_t bfn_vec_bounds(void) {
    volatile float lo = -87.3f, hi = 88.3f, llo = FLT_MIN, z = 0.0f, h = 0.5f, o = 1.0f;
    bfn_vec_bounds_t b = {lo, hi, llo, z, h, o};
    return b;
}

static inline int32_t bfn_f2i_bits(float x) { int32_t i; memcpy(&i, &x, sizeof i); return i; }
static inline float bfn_i2f_bits(int32_t i) { float x; memcpy(&x, &i, sizeof x); return x; }

/* e^x: Cody-Waite reduction x = k ln2 + r, |r| <= ln2/2 (ln2 in two parts so
 * k ln2_hi is exact), the Cephes expf polynomial for e^r, and 2^k from its
 * exponent bits (k by the 1.5 * 2^23 rounding trick: rintf is a call). */
static inline float bfn_expf_vec(float x, float lo, float hi) {
    const float log2e = 1.44269504088896341f, ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    x = x > lo ? x : lo;
    x = x < hi ? x : hi;
    const float round_magic = 12582912.0f;
    float k = (x * log2e + round_magic) - round_magic;
    float r = (x - k * ln2_hi) - k * ln2_lo;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * (r * r) + r + 1.0f;
    return y * bfn_i2f_bits(((int32_t)k + 127) << 23);
}

/* ln x for x >= lo (clamped there): x = m 2^e with m in [sqrt(1/2), sqrt(2)),
 * ln m = f - f^2/2 + f^3 P(f), f = m - 1, with the Cephes logf polynomial,
 * and e ln2 added in two parts. */
static inline float bfn_logf_vec(float x, float lo) {
    x = x > lo ? x : lo;
    int32_t bits = bfn_f2i_bits(x);
    int32_t e = ((bits >> 23) & 0xff) - 126;              /* x = m 2^e, m in [1/2, 1) */
    const int32_t mbits = (bits & 0x007fffff) | 0x3f000000;
    float m = bfn_i2f_bits(mbits);
    /* sm = 1 iff m < sqrt(1/2) (then use 2m and e - 1), from the sign bit of
     * the difference of the bit patterns: GCC 12 does not if-convert a
     * compare-and-select here together with the clamp above. */
    const float sm = (float)((uint32_t)(mbits - 0x3f3504f3) >> 31);
    float f = (m - 1.0f) + sm * m;
    float fe = (float)e - sm;
    float z = f * f;
    float y = 7.0376836292e-2f;
    y = y * f - 1.1514610310e-1f;
    y = y * f + 1.1676998740e-1f;
    y = y * f - 1.2420140846e-1f;
    y = y * f + 1.4249322787e-1f;
    y = y * f - 1.6668057665e-1f;
    y = y * f + 2.0000714765e-1f;
    y = y * f - 2.4999993993e-1f;
    y = y * f + 3.3333331174e-1f;
    y = y * f * z;
    y += -2.12194440e-4f * fe;
    y += -0.5f * z;
    return (f + y) + 0.693359375f * fe;
}

/* sin(2 pi w) and cos(2 pi w) for w in [-1/2, 1/2]: Taylor polynomials of
 * sin and cos at h = pi w in [-pi/2, pi/2] (truncation below 6e-8 there),
 * then the double-angle formulas sin 2h = 2 s c, cos 2h = 1 - 2 s^2. */
static inline void bfn_sincospi_half(float w, float *sn, float *cs) {
    const float h = 3.14159265358979f * w, h2 = h * h;
    float s = -2.5052108e-8f;
    s = s * h2 + 2.7557319e-6f;
    s = s * h2 - 1.9841270e-4f;
    s = s * h2 + 8.3333333e-3f;
    s = s * h2 - 1.6666667e-1f;
    s = (s * h2) * h + h;
    float c = 2.0876757e-9f;
    c = c * h2 - 2.7557319e-7f;
    c = c * h2 + 2.4801587e-5f;
    c = c * h2 - 1.3888889e-3f;
    c = c * h2 + 4.1666667e-2f;
    c = c * h2 - 0.5f;
    c = c * h2 + 1.0f;
    *sn = 2.0f * s * c;
    *cs = 1.0f - 2.0f * s * s;
}

#endif
