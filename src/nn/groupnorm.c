/* groupnorm.c: GroupNorm forward/backward (see groupnorm.h).
 *
 * Statistics are summed in double (P * C/G can be 25k values; float sums
 * would lose ~3 digits), the biased variance as torch. With
 * xhat = (x - mean) rstd and g = dout w, the input gradient per group of N
 * values is  dx = rstd (g - mean(g) - xhat mean(g xhat)).
 * Every pass runs pixel by pixel over all C channels with the group's
 * statistics spread to per-channel arrays, so the inner loops are
 * contiguous and vectorise (with C/G = 1 or 2 channels per group, a loop per
 * group would stride through every pixel once per group).
 * Examples are independent (one thread each); the per-channel parameter
 * gradients are summed over examples in order, so nothing depends on the
 * thread count. */
#include "nn/groupnorm.h"

#include <math.h>
#include <stddef.h>

void bfn_groupnorm_forward(float *out, float *mean, float *rstd, const float *in, const float *w, const float *b,
                           int B, int P, int C, int G, float *scratch) {
    const int cg = C / G;
    const double N = (double)P * cg;
#pragma omp parallel for schedule(static)
    for (int e = 0; e < B; e++) {
        const float *x = in + (size_t)e * P * C;
        float *y = out + (size_t)e * P * C;
        double *s = (double *)scratch + (size_t)e * 2 * C, *mu = s + C;
        float *mc = (float *)s, *rc = (float *)mu; /* reused once the sums are done */
        for (int c = 0; c < C; c++) s[c] = 0.0;
        for (int p = 0; p < P; p++)
#pragma omp simd
            for (int c = 0; c < C; c++) s[c] += x[(size_t)p * C + c];
        for (int g = 0; g < G; g++) {
            double sg = 0.0;
            for (int j = 0; j < cg; j++) sg += s[g * cg + j];
            for (int j = 0; j < cg; j++) mu[g * cg + j] = sg / N;
        }
        for (int c = 0; c < C; c++) s[c] = 0.0;
        for (int p = 0; p < P; p++)
#pragma omp simd
            for (int c = 0; c < C; c++) {
                const double d = x[(size_t)p * C + c] - mu[c];
                s[c] += d * d;
            }
        for (int g = 0; g < G; g++) {
            double ss = 0.0;
            for (int j = 0; j < cg; j++) ss += s[g * cg + j];
            mean[e * G + g] = (float)mu[g * cg];
            rstd[e * G + g] = (float)(1.0 / sqrt(ss / N + BFN_GROUPNORM_EPS));
        }
        for (int c = 0; c < C; c++) {
            mc[c] = mean[e * G + c / cg];
            rc[c] = rstd[e * G + c / cg];
        }
        for (int p = 0; p < P; p++)
#pragma omp simd
            for (int c = 0; c < C; c++) y[(size_t)p * C + c] = (x[(size_t)p * C + c] - mc[c]) * rc[c] * w[c] + b[c];
    }
}

void bfn_groupnorm_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                            const float *mean, const float *rstd, int B, int P, int C, int G, float *scratch) {
    const int cg = C / G;
    const double N = (double)P * cg;
    float *pw = scratch, *pb = scratch + (size_t)B * C; /* (B, C) partial sums of dout xhat and dout */
    float *tmp = scratch + 2 * (size_t)B * C;          /* (B, 4 C) per-channel copies of the group values */
#pragma omp parallel for schedule(static)
    for (int e = 0; e < B; e++) {
        const size_t base = (size_t)e * P * C;
        const float *x = in + base, *dy = dout + base;
        float *sw = pw + (size_t)e * C, *sb = pb + (size_t)e * C;
        float *mc = tmp + (size_t)e * 4 * C, *rc = mc + C, *mg = rc + C, *mgx = mg + C;
        for (int c = 0; c < C; c++) {
            sw[c] = sb[c] = 0.0f;
            mc[c] = mean[e * G + c / cg];
            rc[c] = rstd[e * G + c / cg];
        }
        /* Pass 1: per-channel sums of dy xhat and dy. */
        for (int p = 0; p < P; p++)
#pragma omp simd
            for (int c = 0; c < C; c++) {
                const size_t i = (size_t)p * C + c;
                sw[c] += dy[i] * ((x[i] - mc[c]) * rc[c]);
                sb[c] += dy[i];
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
            for (int j = 0; j < cg; j++) {
                mg[g * cg + j] = (float)(sg / N);
                mgx[g * cg + j] = (float)(sgx / N);
            }
        }
        for (int p = 0; p < P; p++)
#pragma omp simd
            for (int c = 0; c < C; c++) {
                const size_t i = (size_t)p * C + c;
                const float xhat = (x[i] - mc[c]) * rc[c];
                din[base + i] += rc[c] * (dy[i] * w[c] - mg[c] - xhat * mgx[c]);
            }
    }
    /* Parameter gradients: examples added in order (thread-count independent). */
    for (int e = 0; e < B; e++)
        for (int c = 0; c < C; c++) {
            if (dw) dw[c] += pw[(size_t)e * C + c];
            if (db) db[c] += pb[(size_t)e * C + c];
        }
}
