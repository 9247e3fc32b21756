/* optim.c: AdamW + EMA as one fused pass, and global-norm gradient clipping.
 *
 * Both are elementwise or fixed-partition reductions, so they split across
 * OpenMP threads without the result depending on the thread count (the
 * determinism rule in DESIGN.md). */
#include "nn/optim.h"

#include "util/err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Below these sizes one thread is faster than an OpenMP fork/join. */
#define ADAMW_PAR_MIN 65536L
#define CLIP_PAR_MIN 65536L
/* The gradient norm is summed over a fixed partition of the buffer into
 * CLIP_CHUNKS chunks (boundaries depend only on n), each with CLIP_LANES
 * independent double accumulators (vectorisable without reassociation), then
 * the partial sums are added in chunk order. */
#define CLIP_CHUNKS 64
#define CLIP_LANES 16

double bfn_ema_decay_at(const bfn_adamw_cfg *cfg, long step) {
    const double d = cfg->ema_decay;
    if (!cfg->ema_warmup) return d;
    const double w = (1.0 + (double)step) / (10.0 + (double)step);
    return w < d ? w : d;
}

/* One AdamW step, torch.optim.AdamW semantics (single-tensor path):
 *   p <- p (1 - lr wd)                      (only tensors with decay = 1)
 *   m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
 *   p <- p - (lr / (1 - b1^step)) m / (sqrt(v) / sqrt(1 - b2^step) + eps)
 * then the EMA of the updated weights, ema <- ema - (1 - d)(ema - p), when
 * ema != NULL and d > 0 (official code, applied after every step). Scalars
 * are formed in double and rounded once; the per-element work is float, as in
 * torch. Only the floats inside tensors are visited, so the alignment padding
 * between tensors is never written. The loops vectorise only when sqrtf
 * needs no errno branch, i.e. with -fno-math-errno (which changes no value;
 * a per-function optimize pragma does not achieve it): ~4x faster.
 * step is 1-based; step < 1 would divide by 1 - b1^0 = 0 and is a
 * programming error (abort). */
void bfn_adamw_step(const bfn_adamw_cfg *cfg, const bfn_param_layout *l, float *params,
                    const float *grads, float *m, float *v, float *ema, long step) {
    bfn_adamw_step_scaled(cfg, l, params, grads, 1.0f, m, v, ema, step);
}

/* The gradient enters as g = grads[i] * gscale (exactly grads[i] for
 * gscale = 1), the same float product as scaling grads in place first. */
void bfn_adamw_step_scaled(const bfn_adamw_cfg *cfg, const bfn_param_layout *l, float *params, const float *grads,
                           float gscale, float *m, float *v, float *ema, long step) {
    BFN_ASSERT(step >= 1, "bfn_adamw_step: step must be >= 1 (got %ld)", step);
    const double bc1 = 1.0 - pow((double)cfg->beta1, (double)step);
    const double bc2 = 1.0 - pow((double)cfg->beta2, (double)step);
    const float step_size = (float)((double)cfg->lr / bc1);
    const float sqrt_bc2 = (float)sqrt(bc2);
    const float b1 = cfg->beta1, one_b1 = (float)(1.0 - (double)cfg->beta1);
    const float b2 = cfg->beta2, one_b2 = (float)(1.0 - (double)cfg->beta2);
    const float eps = cfg->eps;
    const float decay_factor = (float)(1.0 - (double)cfg->lr * (double)cfg->weight_decay);
    const int use_ema = ema != NULL && cfg->ema_decay > 0.0f;
    const float one_d = (float)(1.0 - bfn_ema_decay_at(cfg, step));

#pragma omp parallel if ((long)l->n >= ADAMW_PAR_MIN)
    for (int ti = 0; ti < l->n_tensors; ti++) {
        const long lo = (long)l->t[ti].offset, hi = lo + (long)l->t[ti].size;
        const float keep = l->t[ti].decay ? decay_factor : 1.0f;
        if (use_ema) {
#pragma omp for simd schedule(static) nowait
            for (long i = lo; i < hi; i++) {
                const float g = grads[i] * gscale;
                const float mi = b1 * m[i] + one_b1 * g;
                const float vi = b2 * v[i] + one_b2 * (g * g);
                const float p = params[i] * keep - step_size * mi / (sqrtf(vi) / sqrt_bc2 + eps);
                m[i] = mi;
                v[i] = vi;
                params[i] = p;
                ema[i] -= one_d * (ema[i] - p);
            }
        } else {
#pragma omp for simd schedule(static) nowait
            for (long i = lo; i < hi; i++) {
                const float g = grads[i] * gscale;
                const float mi = b1 * m[i] + one_b1 * g;
                const float vi = b2 * v[i] + one_b2 * (g * g);
                m[i] = mi;
                v[i] = vi;
                params[i] = params[i] * keep - step_size * mi / (sqrtf(vi) / sqrt_bc2 + eps);
            }
        }
    }
}

/* Sum of squares of x[0..n) in double, in a fixed order: lane j accumulates
 * x[j], x[j + LANES], ...; the lanes are then added in order 0..LANES-1. */
/* The 16 lanes are held as four 4-double vectors (GCC vector extension) so
 * they stay in registers: as an array GCC 12 keeps them on the stack and
 * every iteration waits on a store-to-load round trip (~4x slower). Same
 * operations in the same order as the scalar form, so the same bits. */
typedef double v4d __attribute__((vector_size(4 * sizeof(double))));
static inline v4d squares4(const float *x) {
    v4d v = {(double)x[0], (double)x[1], (double)x[2], (double)x[3]};
    return v * v;
}
static double sum_squares(const float *x, size_t n) {
    _Static_assert(CLIP_LANES == 16, "sum_squares holds the lanes as four v4d");
    v4d a0 = {0.0, 0.0, 0.0, 0.0}, a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + CLIP_LANES <= n; i += CLIP_LANES) {
        a0 += squares4(x + i);
        a1 += squares4(x + i + 4);
        a2 += squares4(x + i + 8);
        a3 += squares4(x + i + 12);
    }
    double acc[CLIP_LANES];
    memcpy(acc, &a0, sizeof a0);
    memcpy(acc + 4, &a1, sizeof a1);
    memcpy(acc + 8, &a2, sizeof a2);
    memcpy(acc + 12, &a3, sizeof a3);
    for (int j = 0; i + (size_t)j < n; j++) acc[j] += (double)x[i + j] * (double)x[i + j];
    double s = 0.0;
    for (int j = 0; j < CLIP_LANES; j++) s += acc[j];
    return s;
}

/* torch.nn.utils.clip_grad_norm_ with the L2 norm over all of grads:
 * norm = ||g||_2; coef = max_norm / (norm + 1e-6); if coef < 1, g *= coef.
 * Returns the norm before clipping (NaN/inf if a gradient is; then nothing
 * is scaled, and the caller should treat the step as diverged). The norm
 * does not depend on the thread count: the partition into chunks depends
 * only on n, and the chunk sums are added sequentially. */
double bfn_clip_grad_norm(float *grads, size_t n, double max_norm) {
    const double norm = bfn_grad_norm(grads, n);
    const float s = bfn_clip_scale(norm, max_norm);
    if (s != 1.0f) {
#pragma omp parallel for simd schedule(static) if (parallel : n >= (size_t)CLIP_PAR_MIN)
        for (size_t i = 0; i < n; i++) grads[i] *= s;
    }
    return norm;
}

/* coef = max_norm / (norm + 1e-6) as a float when coef < 1 (torch scales
 * then), else 1; max_norm <= 0 or a non-finite norm: 1. */
float bfn_clip_scale(double norm, double max_norm) {
    if (!(max_norm > 0.0)) return 1.0f;
    const double coef = max_norm / (norm + 1e-6);
    return coef < 1.0 ? (float)coef : 1.0f;
}

/* ||grads||_2 in double, summed in a fixed order (see bfn_clip_grad_norm). */
double bfn_grad_norm(const float *grads, size_t n) {
    double partial[CLIP_CHUNKS];
    size_t chunk = (n + CLIP_CHUNKS - 1) / CLIP_CHUNKS;
    chunk = (chunk + CLIP_LANES - 1) / CLIP_LANES * CLIP_LANES;
#pragma omp parallel for schedule(static) if (n >= (size_t)CLIP_PAR_MIN)
    for (int c = 0; c < CLIP_CHUNKS; c++) {
        size_t lo = (size_t)c * chunk, hi = lo + chunk;
        if (lo > n) lo = n;
        if (hi > n) hi = n;
        partial[c] = sum_squares(grads + lo, hi - lo);
    }
    double total = 0.0;
    for (int c = 0; c < CLIP_CHUNKS; c++) total += partial[c];
    return sqrt(total);
}
