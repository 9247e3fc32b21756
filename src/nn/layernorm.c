/* layernorm.c: LayerNorm forward/backward (Ba et al. 2016) with weight and bias,
 * eps 1e-5 as in the official text8 network (networks/transformer.py).
 *
 * Row reductions use a fixed number of double accumulator lanes: a fixed
 * summation order (so results do not depend on threads) that GCC vectorises,
 * which a single running double sum does not (without -ffast-math it may not
 * reorder the additions). */
#include "nn/layernorm.h"

#include <math.h>
#include <omp.h>

#define LANES 8

/* First column of share k of nt when C columns are split at multiples of 16
 * (k = nt gives C). */
static int column_bound(int C, int k, int nt) {
    const int c = (int)((long)((C + 15) / 16) * k / nt) * 16;
    return c < C ? c : C;
}

/* sum_c (x[c] - shift) in double. */
static double sum_shifted(const float *x, int C, double shift) {
    double acc[LANES] = {0};
    int c = 0;
    for (; c + LANES <= C; c += LANES)
#pragma omp simd
        for (int l = 0; l < LANES; l++) acc[l] += (double)x[c + l] - shift;
    double s = 0.0;
    for (int l = 0; l < LANES; l++) s += acc[l];
    for (; c < C; c++) s += (double)x[c] - shift;
    return s;
}

/* sum_c (x[c] - m)^2 in double. */
static double sum_sq_dev(const float *x, int C, double m) {
    double acc[LANES] = {0};
    int c = 0;
    for (; c + LANES <= C; c += LANES)
#pragma omp simd
        for (int l = 0; l < LANES; l++) {
            double d = (double)x[c + l] - m;
            acc[l] += d * d;
        }
    double s = 0.0;
    for (int l = 0; l < LANES; l++) s += acc[l];
    for (; c < C; c++) s += ((double)x[c] - m) * ((double)x[c] - m);
    return s;
}

/* out (N, C) = (in - mean) * rstd * w + b with mean/var over C (biased
 * variance, as torch). Statistics are accumulated in double, two-pass, so
 * rows with a large mean do not lose the variance to cancellation. Rows are
 * independent, so the parallel loop's result does not depend on threads. */
void bfn_layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *w,
                       const float *b, int N, int C) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = in + (long)n * C;
        float *y = out + (long)n * C;
        double m = sum_shifted(x, C, 0.0) / C;
        double v = sum_sq_dev(x, C, m);
        float mf = (float)m;
        float rs = (float)(1.0 / sqrt(v / C + BFN_LAYERNORM_EPS));
#pragma omp simd
        for (int c = 0; c < C; c++) y[c] = (x[c] - mf) * rs * w[c] + b[c];
        mean[n] = mf;
        rstd[n] = rs;
    }
}

/* With xhat = (x - mean) rstd and g = dout * w (per row):
 *   din = rstd (g - mean_c(g) - xhat mean_c(g xhat)),
 *   dw = sum_n dout xhat,  db = sum_n dout.
 * din is computed row-parallel (rows independent); dw/db are sums over rows
 * in row order, parallel over columns, so they do not depend on the thread
 * count. */
void bfn_layernorm_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                        const float *w, const float *mean, const float *rstd, int N, int C) {
    if (din) {
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) {
            const float *x = in + (long)n * C, *dy = dout + (long)n * C;
            float *dx = din + (long)n * C;
            const float m = mean[n], rs = rstd[n];
            double ag[LANES] = {0}, agx[LANES] = {0};
            int c = 0;
            for (; c + LANES <= C; c += LANES)
#pragma omp simd
                for (int l = 0; l < LANES; l++) {
                    float g = dy[c + l] * w[c + l];
                    ag[l] += g;
                    agx[l] += (double)g * ((x[c + l] - m) * rs);
                }
            double sg = 0.0, sgx = 0.0;
            for (int l = 0; l < LANES; l++) sg += ag[l], sgx += agx[l];
            for (; c < C; c++) {
                float g = dy[c] * w[c];
                sg += g;
                sgx += (double)g * ((x[c] - m) * rs);
            }
            const float mg = (float)(sg / C), mgx = (float)(sgx / C);
#pragma omp simd
            for (int k = 0; k < C; k++) {
                float xhat = (x[k] - m) * rs;
                dx[k] += rs * (dy[k] * w[k] - mg - xhat * mgx);
            }
        }
    }
    if (dw || db) {
        /* Thread tid of nt owns columns [c0, c1) (a contiguous piece of every
         * row) and sums them over all rows in row order. */
#pragma omp parallel
        {
            const int c0 = column_bound(C, omp_get_thread_num(), omp_get_num_threads());
            const int c1 = column_bound(C, omp_get_thread_num() + 1, omp_get_num_threads());
            for (int n = 0; n < N; n++) {
                const float *x = in + (long)n * C, *dy = dout + (long)n * C;
                const float m = mean[n], rs = rstd[n];
                if (dw)
#pragma omp simd
                    for (int c = c0; c < c1; c++) dw[c] += dy[c] * ((x[c] - m) * rs);
                if (db)
#pragma omp simd
                    for (int c = c0; c < c1; c++) db[c] += dy[c];
            }
        }
    }
}
