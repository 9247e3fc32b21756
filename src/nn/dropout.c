/* dropout.c: inverted dropout, mask from the splitmix64 finaliser of
 * (seed, index) (see dropout.h). */
#include "nn/dropout.h"

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int bfn_dropout_keep(uint64_t seed, long i, float p) {
    /* Top 24 bits -> u in [0, 1) exactly representable in float. */
    const uint64_t h = mix64(seed * 0x9e3779b97f4a7c15ULL + (uint64_t)i + 1);
    const float u = (float)(h >> 40) * (1.0f / 16777216.0f);
    return u >= p;
}

void bfn_dropout_forward(float *out, const float *in, long n, float p, uint64_t seed) {
    const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) out[i] = bfn_dropout_keep(seed, i, p) ? in[i] * scale : 0.0f;
}

void bfn_dropout_backward(float *din, const float *dout, long n, float p, uint64_t seed) {
    const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++)
        if (bfn_dropout_keep(seed, i, p)) din[i] += dout[i] * scale;
}
