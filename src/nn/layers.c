/* layers.c: linear and GELU layers, forward and backward (see layers.h).
 *
 * The linear layer is two or three cblas_sgemm calls; the bias is folded into
 * the forward GEMM by writing it into `out` first and using beta = 1, so no
 * separate O(N*OC) pass is needed. GELU uses its own vectorisable exp
 * (glibc's tanhf/expf are scalar without -ffast-math, which we do not use),
 * written as x * sigmoid(2u): the same function as 0.5 x (1 + tanh u), but
 * free of the cancellation in 1 + tanh u for negative x. */
#include "nn/layers.h"

#include "util/vecmath.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

/* Element counts above which the GELU loops split across OpenMP threads;
 * below it the fork/join costs more than the work. Elementwise, so the
 * result does not depend on the thread count. (The `if` is restricted to
 * `parallel`: a plain `if` on `parallel for simd` would also switch off simd.) */
#define GELU_PAR_MIN 65536L
/* The same threshold for the other elementwise passes. */
#define ELEMWISE_PAR_MIN GELU_PAR_MIN
/* Thread `tid` of `nt` takes columns [*c0, *c1) of C (split at multiples of
 * 16 floats, 64 bytes). Column sums over rows then run in row order for each
 * column whoever owns it, so they do not depend on the thread count, and
 * each thread streams one contiguous piece of every row. */
static void column_share(int C, int tid, int nt, int *c0, int *c1) {
    const int units = (C + 15) / 16;
    *c0 = (int)((long)units * tid / nt) * 16;
    *c1 = (int)((long)units * (tid + 1) / nt) * 16;
    if (*c0 > C) *c0 = C;
    if (*c1 > C) *c1 = C;
}

/* out (N, OC) = in (N, IC) @ W^T + b, with W (OC, IC) row-major as in
 * torch.nn.Linear. With a bias, each row of out is first set to b and the
 * GEMM accumulates on top (beta = 1). */
void bfn_linear_forward(float *out, const float *in, const float *W, const float *b, int N, int IC, int OC) {
    if (N <= 0 || OC <= 0) return;
    if (b) {
        for (int n = 0; n < N; n++) memcpy(out + (size_t)n * OC, b, (size_t)OC * sizeof *b);
    }
    if (IC <= 0) {
        if (!b) memset(out, 0, (size_t)N * OC * sizeof *out);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, IC, 1.0f, in, IC, W, IC,
                b ? 1.0f : 0.0f, out, OC);
}

/* Gradients of out = in @ W^T + b, accumulated (beta = 1):
 *   din (N, IC) += dout (N, OC) @ W (OC, IC)
 *   dW (OC, IC) += dout^T (OC, N) @ in (N, IC)
 *   db (OC)     += sum over rows of dout (rows added in order n = 0..N-1, for
 *                  any thread count). */
void bfn_linear_backward(float *din, float *dW, float *db, const float *dout, const float *in,
                     const float *W, int N, int IC, int OC) {
    if (N <= 0 || OC <= 0) return;
    if (din && IC > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IC, OC, 1.0f, dout, OC, W, IC,
                    1.0f, din, IC);
    if (dW && IC > 0)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, IC, N, 1.0f, dout, OC, in, IC,
                    1.0f, dW, IC);
    if (db) {
#pragma omp parallel if (parallel : (long)N * OC >= ELEMWISE_PAR_MIN)
        {
            int o0, o1;
            column_share(OC, omp_get_thread_num(), omp_get_num_threads(), &o0, &o1);
            for (int n = 0; n < N; n++) {
                const float *row = dout + (size_t)n * OC;
#pragma omp simd
                for (int o = o0; o < o1; o++) db[o] += row[o];
            }
        }
    }
}

/* out = res + b per row, then out += in @ W^T (beta = 1). */
void bfn_linear_residual_forward(float *out, const float *res, const float *in, const float *W, const float *b,
                                 int N, int IC, int OC) {
    if (N <= 0 || OC <= 0) return;
#pragma omp parallel for schedule(static) if (parallel : (long)N * OC >= ELEMWISE_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *r = res + (size_t)n * OC;
        float *o = out + (size_t)n * OC;
        if (b) {
#pragma omp simd
            for (int c = 0; c < OC; c++) o[c] = r[c] + b[c];
        } else {
            memcpy(o, r, (size_t)OC * sizeof *o);
        }
    }
    if (IC > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, IC, 1.0f, in, IC, W, IC, 1.0f, out, OC);
}

/* bfn_linear_backward with din = dout @ W written by the GEMM (beta = 0). */
void bfn_linear_backward_overwrite(float *din, float *dW, float *db, const float *dout, const float *in,
                                   const float *W, int N, int IC, int OC) {
    if (N <= 0 || OC <= 0) return;
    if (din && IC > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IC, OC, 1.0f, dout, OC, W, IC, 0.0f, din, IC);
    bfn_linear_backward(NULL, dW, db, dout, in, W, N, IC, OC);
}

/* GELU's sigmoid uses bfn_expf_vec (util/vecmath.h: vectorisable, clamped to
 * [lo, hi] = [-87.3, 88.3]; NaN maps to lo and the caller's multiplication by
 * x carries it). */

/* The clamp bounds of bfn_expf_vec, read through volatile so the compiler sees
 * run-time values. With literal bounds GCC (12, -O2, default -ftrapping-math)
 * turns each clamp into a branch with exp constant-folded at the bound, and
 * then either does not vectorise the loop or vectorises it with extra
 * divisions and blends, about 2x slower. */
static void exp_clamp_bounds(float *lo, float *hi) {
    volatile float lo_v = -87.3f, hi_v = 88.3f;
    *lo = lo_v;
    *hi = hi_v;
}

/* Constants of the tanh approximation gelu(x) = 0.5 x (1 + tanh u),
 * u = sqrt(2/pi) (x + 0.044715 x^3) (Hendrycks & Gimpel; GPT-2). */
#define GELU_S 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_C 0.044715f

/* out[i] = gelu(in[i]) = in[i] * sigmoid(2u). Elementwise, so out == in
 * (in place) is allowed; `omp simd` asserts there is no loop-carried
 * dependence, which holds even in place. */
static inline float gelu(float x, float lo, float hi) {
    float u = GELU_S * (x + GELU_C * x * x * x);
    return x / (1.0f + bfn_expf_vec(-2.0f * u, lo, hi));
}

void bfn_gelu_forward(float *out, const float *in, long n) {
    float lo, hi;
    exp_clamp_bounds(&lo, &hi);
#pragma omp parallel for simd schedule(static) if (parallel : n >= GELU_PAR_MIN)
    for (long i = 0; i < n; i++) out[i] = gelu(in[i], lo, hi);
}

/* Rows in parallel (elementwise, thread-count independent). */
void bfn_bias_gelu_forward(float *out, float *pre, const float *b, int N, int C) {
    float lo, hi;
    exp_clamp_bounds(&lo, &hi);
#pragma omp parallel for schedule(static) if (parallel : (long)N * C >= GELU_PAR_MIN)
    for (int n = 0; n < N; n++) {
        float *p = pre + (size_t)n * C, *o = out + (size_t)n * C;
#pragma omp simd
        for (int c = 0; c < C; c++) {
            float x = p[c] + b[c];
            p[c] = x;
            o[c] = gelu(x, lo, hi);
        }
    }
}

/* din[i] += dout[i] * gelu'(in[i]). With s = sigmoid(2u):
 *   gelu = x s,  gelu' = s + 2 x s (1 - s) u',  u' = sqrt(2/pi)(1 + 3 * 0.044715 x^2),
 * which equals 0.5(1 + tanh u) + 0.5 x (1 - tanh^2 u) u' since
 * 1 + tanh u = 2s and 1 - tanh^2 u = 4 s (1 - s). */
static inline float gelu_grad(float x, float lo, float hi) {
    float x2 = x * x;
    float u = GELU_S * (x + GELU_C * x2 * x);
    float du = GELU_S * (1.0f + 3.0f * GELU_C * x2);
    float s = 1.0f / (1.0f + bfn_expf_vec(-2.0f * u, lo, hi));
    return s + 2.0f * x * s * (1.0f - s) * du;
}

void bfn_gelu_backward(float *din, const float *in, const float *dout, long n) {
    float lo, hi;
    exp_clamp_bounds(&lo, &hi);
#pragma omp parallel for simd schedule(static) if (parallel : n >= GELU_PAR_MIN)
    for (long i = 0; i < n; i++) din[i] += dout[i] * gelu_grad(in[i], lo, hi);
}

/* Each thread owns a share of the columns and walks all rows in order: the
 * in-place product and the bias sum share one pass over d, and db's row
 * order does not depend on the thread count. */
void bfn_bias_gelu_backward(float *d, float *db, const float *pre, int N, int C) {
    float lo, hi;
    exp_clamp_bounds(&lo, &hi);
#pragma omp parallel if (parallel : (long)N * C >= GELU_PAR_MIN)
    {
        int c0, c1;
        column_share(C, omp_get_thread_num(), omp_get_num_threads(), &c0, &c1);
        for (int n = 0; n < N; n++) {
            float *dr = d + (size_t)n * C;
            const float *p = pre + (size_t)n * C;
#pragma omp simd
            for (int c = c0; c < c1; c++) dr[c] *= gelu_grad(p[c], lo, hi);
            if (db)
#pragma omp simd
                for (int c = c0; c < c1; c++) db[c] += dr[c];
        }
    }
}

/* din[i] = dout[i] * gelu'(in[i]): the same value as bfn_gelu_backward into a
 * zeroed din (0 + y = y), without the zeroing pass. */
void bfn_gelu_backward_set(float *din, const float *in, const float *dout, long n) {
    float lo, hi;
    exp_clamp_bounds(&lo, &hi);
#pragma omp parallel for simd schedule(static) if (parallel : n >= GELU_PAR_MIN)
    for (long i = 0; i < n; i++) din[i] = dout[i] * gelu_grad(in[i], lo, hi);
}
