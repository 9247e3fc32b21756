/* attention_stream.c: attention that keeps only each score row's log-sum-exp
 * and recomputes the probabilities in backward (see attention_stream.h).
 *
 * Work is split over (batch, head) pairs; inside one pair, query rows go in
 * blocks of QB rows (QB depends only on T) so that a thread's two QB x T
 * score buffers stay in its L2 cache. Every (b, h) writes only its own
 * columns of out/dqkv and its own lse rows, and BLAS runs single-threaded
 * inside the parallel region, so results do not depend on the thread count. */
#include "nn/attention_stream.h"

#include "util/vecmath.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>

/* Floats in one QB x T score buffer: 64K floats = 256 KiB, two per thread. */
#define STREAM_BLOCK_FLOATS 65536
/* Fixed number of accumulator lanes for row reductions: a fixed summation
 * order that GCC vectorises (the inner loop has a constant trip count). */
#define LANES 16

/* Query rows per block: all T rows when they fit (T <= 256), else as many
 * as fit, at least 16. */
static int query_block(int T) {
    int qb = STREAM_BLOCK_FLOATS / T;
    if (qb >= T) return T;
    return qb < 16 ? 16 : qb;
}

size_t bfn_attention_stream_scratch_floats(int T) { return 2 * (size_t)query_block(T) * T; }

/* Threads to run: at most one per scratch slot. */
static int team_size(int n_slots) {
    int nt = omp_get_max_threads();
    return nt < n_slots ? nt : n_slots;
}

static float row_max(const float *x, int n) {
    float acc[LANES];
    int j = 0;
    float m = x[0];
    if (n >= LANES) {
        for (int l = 0; l < LANES; l++) acc[l] = x[l];
        for (j = LANES; j + LANES <= n; j += LANES)
#pragma omp simd
            for (int l = 0; l < LANES; l++) acc[l] = x[j + l] > acc[l] ? x[j + l] : acc[l];
        for (int l = 0; l < LANES; l++) m = acc[l] > m ? acc[l] : m;
    }
    for (; j < n; j++) m = x[j] > m ? x[j] : m;
    return m;
}

/* x[j] = exp(x[j] - shift) in place; returns sum_j x[j] (lanes in float,
 * combined in double; the terms are in (0, 1] when shift is the row max). */
static double exp_shift_sum(float *x, int n, float shift, float lo, float hi) {
    float acc[LANES] = {0};
    int j = 0;
    for (; j + LANES <= n; j += LANES)
#pragma omp simd
        for (int l = 0; l < LANES; l++) {
            float e = bfn_expf_vec(x[j + l] - shift, lo, hi);
            x[j + l] = e;
            acc[l] += e;
        }
    double s = 0.0;
    for (int l = 0; l < LANES; l++) s += acc[l];
    for (; j < n; j++) {
        x[j] = bfn_expf_vec(x[j] - shift, lo, hi);
        s += x[j];
    }
    return s;
}

/* Per (b, h) and query block: S = scale Q K^T (qb x T), row max m, P~ =
 * exp(S - m) with row sums l, Y = P~ V then each row of Y divided by l (the
 * normalisation on the hd-wide output instead of the T-wide P), and
 * lse = m + ln l. */
void bfn_attention_stream_forward(float *out, float *lse, const float *qkv, int B, int T, int C, int NH,
                                  float *scratch, int n_slots) {
    const int hd = C / NH, ld = 3 * C, QB = query_block(T);
    const float scale = (float)(1.0 / sqrt((double)hd));
    const size_t slot = bfn_attention_stream_scratch_floats(T);
    const bfn_vec_bounds_t vb = bfn_vec_bounds();
#pragma omp parallel num_threads(team_size(n_slots))
    {
        float *s = scratch + slot * omp_get_thread_num();
#pragma omp for schedule(static)
        for (int bh = 0; bh < B * NH; bh++) {
            const int b = bh / NH, h = bh % NH;
            const float *q = qkv + (long)b * T * ld + (long)h * hd;
            const float *k = q + C, *v = q + 2 * C;
            for (int i0 = 0; i0 < T; i0 += QB) {
                const int qb = T - i0 < QB ? T - i0 : QB;
                float *y = out + ((long)b * T + i0) * C + (long)h * hd;
                float *lrow = lse + (long)bh * T + i0;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, qb, T, hd, scale, q + (long)i0 * ld, ld, k,
                            ld, 0.0f, s, T);
                for (int i = 0; i < qb; i++) {
                    float *row = s + (long)i * T;
                    const float m = row_max(row, T);
                    const double l = exp_shift_sum(row, T, m, vb.exp_lo, vb.exp_hi);
                    lrow[i] = m + (float)log(l);
                    s[(long)qb * T + i] = (float)(1.0 / l); /* 1/l after the block, in the second buffer */
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, qb, hd, T, 1.0f, s, T, v, ld, 0.0f, y, C);
                for (int i = 0; i < qb; i++) {
                    const float inv = s[(long)qb * T + i];
                    float *yr = y + (long)i * C;
#pragma omp simd
                    for (int e = 0; e < hd; e++) yr[e] *= inv;
                }
            }
        }
    }
}

/* Backward, per (b, h) and query block, with P = exp(S - lse) recomputed:
 *   dP = dY V^T,  dV += P^T dY,
 *   dS = P * (dP - D),  D_i = sum_j P_ij dP_ij = dY_i . Y_i  (softmax Jacobian;
 *        the dot over hd replaces the one over T),
 *   dQ += scale dS K,  dK += scale dS^T Q. */
void bfn_attention_stream_backward(float *dqkv, const float *dout, const float *qkv, const float *out,
                                   const float *lse, int B, int T, int C, int NH, float *scratch, int n_slots) {
    const int hd = C / NH, ld = 3 * C, QB = query_block(T);
    const float scale = (float)(1.0 / sqrt((double)hd));
    const size_t slot = bfn_attention_stream_scratch_floats(T);
    const bfn_vec_bounds_t vb = bfn_vec_bounds();
#pragma omp parallel num_threads(team_size(n_slots))
    {
        float *p = scratch + slot * omp_get_thread_num();
        float *ds = p + (size_t)QB * T;
#pragma omp for schedule(static)
        for (int bh = 0; bh < B * NH; bh++) {
            const int b = bh / NH, h = bh % NH;
            const long off = (long)b * T * ld + (long)h * hd;
            const float *q = qkv + off, *k = q + C, *v = q + 2 * C;
            float *dq = dqkv + off, *dk = dq + C, *dv = dq + 2 * C;
            for (int i0 = 0; i0 < T; i0 += QB) {
                const int qb = T - i0 < QB ? T - i0 : QB;
                const float *dy = dout + ((long)b * T + i0) * C + (long)h * hd;
                const float *y = out + ((long)b * T + i0) * C + (long)h * hd;
                const float *lrow = lse + (long)bh * T + i0;
                const float *qi = q + (long)i0 * ld;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, qb, T, hd, scale, qi, ld, k, ld, 0.0f, p, T);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, qb, T, hd, 1.0f, dy, C, v, ld, 0.0f, ds, T);
                for (int i = 0; i < qb; i++) {
                    float *prow = p + (long)i * T, *drow = ds + (long)i * T;
                    const float *dyr = dy + (long)i * C, *yr = y + (long)i * C;
                    double dot = 0.0;
                    for (int e = 0; e < hd; e++) dot += (double)dyr[e] * yr[e];
                    const float D = (float)dot, shift = lrow[i];
#pragma omp simd
                    for (int j = 0; j < T; j++) {
                        const float pj = bfn_expf_vec(prow[j] - shift, vb.exp_lo, vb.exp_hi);
                        prow[j] = pj;
                        drow[j] = pj * (drow[j] - D);
                    }
                }
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, qb, 1.0f, p, T, dy, C, 1.0f, dv, ld);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, qb, hd, T, scale, ds, T, k, ld, 1.0f,
                            dq + (long)i0 * ld, ld);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, qb, scale, ds, T, qi, ld, 1.0f, dk, ld);
            }
        }
    }
}
