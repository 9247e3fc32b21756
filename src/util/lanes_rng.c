/* lanes_rng.c: see lanes_rng.h. */
#include "util/lanes_rng.h"

#include <math.h>

#include "util/vecmath.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

uint64_t bfn_lanes_key(gsl_rng *src) {
    uint64_t hi = gsl_rng_get(src) & 0xffffffffUL;
    return (hi << 32) | (gsl_rng_get(src) & 0xffffffffUL);
}

void bfn_lanes_seed(bfn_lanes_rng *r, gsl_rng *src) { bfn_lanes_seed_stream(r, bfn_lanes_key(src), 0); }

void bfn_lanes_seed_stream(bfn_lanes_rng *r, uint64_t key, uint64_t stream) {
    /* splitmix64 advances its state by the golden-ratio constant G per output;
     * starting at key + s 2^32 G keeps streams 2^32 outputs apart. */
    uint64_t x = key + stream * (UINT64_C(0x9E3779B97F4A7C15) << 32);
    for (int l = 0; l < BFN_LANES; l++) {
        uint64_t a = splitmix64(&x), b = splitmix64(&x);
        r->s[0][l] = (uint32_t)a;
        r->s[1][l] = (uint32_t)(a >> 32);
        r->s[2][l] = (uint32_t)b;
        r->s[3][l] = (uint32_t)(b >> 32);
        if ((r->s[0][l] | r->s[1][l] | r->s[2][l] | r->s[3][l]) == 0) r->s[0][l] = 1; /* all-zero is a fixed point */
    }
}

/* One step of every lane: out[l] = the top 24 bits as a float in (0, 1). */
static inline void lanes_step(bfn_lanes_rng *r, float *out) {
    uint32_t *restrict s0 = r->s[0], *restrict s1 = r->s[1], *restrict s2 = r->s[2], *restrict s3 = r->s[3];
#pragma omp simd
    for (int l = 0; l < BFN_LANES; l++) {
        uint32_t res = s0[l] + s3[l], t = s1[l] << 9;
        s2[l] ^= s0[l];
        s3[l] ^= s1[l];
        s1[l] ^= s2[l];
        s0[l] ^= s3[l];
        s2[l] ^= t;
        s3[l] = (s3[l] << 11) | (s3[l] >> 21);
        out[l] = ((float)(res >> 8) + 0.5f) * 0x1p-24f;
    }
}

void bfn_lanes_uniform(bfn_lanes_rng *r, float *u, int n) {
    float blk[BFN_LANES];
    int i = 0;
    for (; i + BFN_LANES <= n; i += BFN_LANES) lanes_step(r, u + i);
    if (i < n) {
        lanes_step(r, blk);
        for (int l = 0; i + l < n; l++) u[i + l] = blk[l];
    }
}

/* Box-Muller on 16 uniforms: lanes 0..7 give the radii sqrt(-2 ln u), lanes
 * 8..15 the angles 2 pi (u - 1/2); out[j] = r cos, out[j + 8] = r sin. */
static inline void normal_block(bfn_lanes_rng *r, float *out, bfn_vec_bounds_t vb) {
    float u[BFN_LANES];
    lanes_step(r, u);
    enum { H = BFN_LANES / 2 };
#pragma omp simd
    for (int j = 0; j < H; j++) {
        float rad = sqrtf(-2.0f * bfn_logf_vec(u[j], vb.log_lo)), sn, cs;
        bfn_sincospi_half(u[j + H] - 0.5f, &sn, &cs);
        out[j] = rad * cs;
        out[j + H] = rad * sn;
    }
}

void bfn_lanes_normal(bfn_lanes_rng *r, float *z, int n) {
    bfn_vec_bounds_t vb = bfn_vec_bounds();
    float blk[BFN_LANES];
    int i = 0;
    for (; i + BFN_LANES <= n; i += BFN_LANES) normal_block(r, z + i, vb);
    if (i < n) {
        normal_block(r, blk, vb);
        for (int l = 0; i + l < n; l++) z[i + l] = blk[l];
    }
}
