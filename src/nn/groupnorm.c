/* groupnorm.c: GroupNorm forward/backward (see groupnorm.h).
 *
 * Statistics are summed in double (P * C/G can be 25k values; float sums
 * would lose ~3 digits), the biased variance as torch. With
 * xhat = (x - mean) rstd and g = dout w, the input gradient per group of N
 * values is  dx = rstd (g - mean(g) - xhat mean(g xhat)).
 * Examples are independent (one thread each); the per-channel parameter
 * gradients are summed by threads owning disjoint channels, each over all
 * rows in order, so nothing depends on the thread count. */
#include "nn/groupnorm.h"

#include <math.h>
#include <stddef.h>

void bfn_groupnorm_forward(float *out, float *mean, float *rstd, const float *in, const float *w, const float *b,
                           int B, int P, int C, int G) {
    const int cg = C / G;
    const double N = (double)P * cg;
#pragma omp parallel for collapse(2) schedule(static)
    for (int e = 0; e < B; e++)
        for (int g = 0; g < G; g++) {
            const float *x = in + (size_t)e * P * C + (size_t)g * cg;
            double s = 0.0, ss = 0.0;
            for (int p = 0; p < P; p++)
                for (int j = 0; j < cg; j++) s += x[(size_t)p * C + j];
            const double mu = s / N;
            for (int p = 0; p < P; p++)
                for (int j = 0; j < cg; j++) {
                    const double d = x[(size_t)p * C + j] - mu;
                    ss += d * d;
                }
            const float m = (float)mu, r = (float)(1.0 / sqrt(ss / N + BFN_GROUPNORM_EPS));
            mean[e * G + g] = m;
            rstd[e * G + g] = r;
            float *y = out + (size_t)e * P * C + (size_t)g * cg;
            const float *wg = w + g * cg, *bg = b + g * cg;
            for (int p = 0; p < P; p++)
                for (int j = 0; j < cg; j++) y[(size_t)p * C + j] = (x[(size_t)p * C + j] - m) * r * wg[j] + bg[j];
        }
}

void bfn_groupnorm_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                            const float *mean, const float *rstd, int B, int P, int C, int G, float *scratch) {
    const int cg = C / G;
    const double N = (double)P * cg;
    float *pw = scratch, *pb = scratch + (size_t)B * C; /* (B, C) partial sums of dout xhat and dout */
#pragma omp parallel for schedule(static)
    for (int e = 0; e < B; e++) {
        const size_t base = (size_t)e * P * C;
        const float *x = in + base, *dy = dout + base;
        float *sw = pw + (size_t)e * C, *sb = pb + (size_t)e * C;
        for (int c = 0; c < C; c++) sw[c] = sb[c] = 0.0f;
        /* Pass 1 (pixel-major, contiguous): per-channel sums of dy xhat and dy. */
        for (int p = 0; p < P; p++)
            for (int g = 0; g < G; g++) {
                const float m = mean[e * G + g], r = rstd[e * G + g];
                for (int j = 0; j < cg; j++) {
                    const int c = g * cg + j;
                    const size_t i = (size_t)p * C + c;
                    sw[c] += dy[i] * ((x[i] - m) * r);
                    sb[c] += dy[i];
                }
            }
        if (!din) continue;
        /* Group sums of g = dy w and g xhat follow from the channel sums. */
        for (int g = 0; g < G; g++) {
            double sg = 0.0, sgx = 0.0;
            for (int j = 0; j < cg; j++) {
                const int c = g * cg + j;
                sg += (double)sb[c] * w[c];
                sgx += (double)sw[c] * w[c];
            }
            const float m = mean[e * G + g], r = rstd[e * G + g];
            const float mg = (float)(sg / N), mgx = (float)(sgx / N);
            for (int p = 0; p < P; p++)
                for (int j = 0; j < cg; j++) {
                    const int c = g * cg + j;
                    const size_t i = (size_t)p * C + c;
                    const float xhat = (x[i] - m) * r;
                    din[base + i] += r * (dy[i] * w[c] - mg - xhat * mgx);
                }
        }
    }
    /* Parameter gradients: examples added in order (thread-count independent). */
    for (int e = 0; e < B; e++)
        for (int c = 0; c < C; c++) {
            if (dw) dw[c] += pw[(size_t)e * C + c];
            if (db) db[c] += pb[(size_t)e * C + c];
        }
}
