/* lanes_rng.h: a fast random stream for batched draws (the samplers).
 *
 * 16 independent xoshiro128+ generators (Blackman & Vigna 2018) advanced
 * together, so filling a buffer is plain 32-bit integer arithmetic that
 * vectorises (gsl's mt19937 + ziggurat is one call and a branch per number).
 * Only the top 24 bits of each output are used (the low bits of xoshiro128+
 * are weak), giving floats on the grid (j + 1/2) 2^-24, strictly inside (0, 1).
 * Normals come from Box-Muller on pairs of those uniforms with the vectorised
 * log and sin/cos of util/vecmath.h; |z| <= sqrt(2 ln 2^25) = 5.89 (the tail
 * beyond has probability 4e-9 and is not produced).
 *
 * Determinism: the state is seeded from two 32-bit draws of a gsl generator
 * (so a gsl seed fixes everything), and a fill depends only on the state and
 * n, never on the CPU or the thread count. */
#ifndef BFN_UTIL_LANES_RNG_H
#define BFN_UTIL_LANES_RNG_H

#include <stdint.h>

#include <gsl/gsl_rng.h>

#define BFN_LANES 16

typedef struct {
    uint32_t s[4][BFN_LANES];
} bfn_lanes_rng;

/* Seed every lane from two 32-bit draws of src (splitmix64 expands them). */
void bfn_lanes_seed(bfn_lanes_rng *r, gsl_rng *src);
/* A 64-bit key from two 32-bit draws of src, and independent streams from
 * it: stream s of key k is seeded by splitmix64 from k + s * 2^32 (distinct
 * starting points of splitmix64's sequence, 2^32 apart), so each example of
 * a batch can draw its own numbers on any thread: results do not depend on
 * the thread count. */
uint64_t bfn_lanes_key(gsl_rng *src);
void bfn_lanes_seed_stream(bfn_lanes_rng *r, uint64_t key, uint64_t stream);
/* n uniforms in (0, 1); n need not be a multiple of BFN_LANES (the rest of the
 * last block is drawn and discarded). */
void bfn_lanes_uniform(bfn_lanes_rng *r, float *u, int n);
/* n standard normal draws (Box-Muller), same rounding of n. */
void bfn_lanes_normal(bfn_lanes_rng *r, float *z, int n);

#endif
