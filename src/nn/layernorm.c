/* layernorm.c: LayerNorm forward/backward (Ba et al. 2016) with weight and bias,
 * eps 1e-5 as in the official text8 network (networks/transformer.py). */
#include "nn/layernorm.h"

#include <math.h>

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
        double s = 0.0;
        for (int c = 0; c < C; c++) s += x[c];
        double m = s / C;
        double v = 0.0;
        for (int c = 0; c < C; c++) {
            double d = x[c] - m;
            v += d * d;
        }
        float mf = (float)m;
        float rs = (float)(1.0 / sqrt(v / C + BFN_LAYERNORM_EPS));
        for (int c = 0; c < C; c++) y[c] = (x[c] - mf) * rs * w[c] + b[c];
        mean[n] = mf;
        rstd[n] = rs;
    }
}

/* With xhat = (x - mean) rstd and g = dout * w (per row):
 *   din = rstd (g - mean_c(g) - xhat mean_c(g xhat)),
 *   dw = sum_n dout xhat,  db = sum_n dout.
 * din is computed row-parallel (rows independent); dw/db are sums over rows,
 * done sequentially in row order so they do not depend on the thread count. */
void bfn_layernorm_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                        const float *w, const float *mean, const float *rstd, int N, int C) {
    if (din) {
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) {
            const float *x = in + (long)n * C, *dy = dout + (long)n * C;
            float *dx = din + (long)n * C;
            float m = mean[n], rs = rstd[n];
            double sg = 0.0, sgx = 0.0;
            for (int c = 0; c < C; c++) {
                float g = dy[c] * w[c];
                sg += g;
                sgx += (double)g * ((x[c] - m) * rs);
            }
            float mg = (float)(sg / C), mgx = (float)(sgx / C);
            for (int c = 0; c < C; c++) {
                float xhat = (x[c] - m) * rs;
                dx[c] += rs * (dy[c] * w[c] - mg - xhat * mgx);
            }
        }
    }
    if (dw || db) {
        for (int n = 0; n < N; n++) {
            const float *x = in + (long)n * C, *dy = dout + (long)n * C;
            float m = mean[n], rs = rstd[n];
            if (dw)
                for (int c = 0; c < C; c++) dw[c] += dy[c] * ((x[c] - m) * rs);
            if (db)
                for (int c = 0; c < C; c++) db[c] += dy[c];
        }
    }
}
