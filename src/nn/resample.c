/* resample.c: nearest x2 up-sampling forward/backward (see resample.h). */
#include "nn/resample.h"

#include <stddef.h>
#include <string.h>

void bfn_upsample2_forward(float *out, const float *in, int B, int H, int W, int C) {
    const int OW = 2 * W;
#pragma omp parallel for collapse(2) schedule(static)
    for (int e = 0; e < B; e++)
        for (int oy = 0; oy < 2 * H; oy++) {
            const float *src = in + (((size_t)e * H + oy / 2) * W) * C;
            float *dst = out + (((size_t)e * 2 * H + oy) * OW) * C;
            for (int ox = 0; ox < OW; ox++) memcpy(dst + (size_t)ox * C, src + (size_t)(ox / 2) * C, (size_t)C * sizeof *dst);
        }
}

void bfn_upsample2_backward(float *din, const float *dout, int B, int H, int W, int C) {
    const int OW = 2 * W;
#pragma omp parallel for collapse(2) schedule(static)
    for (int e = 0; e < B; e++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                float *d = din + (((size_t)e * H + y) * W + x) * C;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        const float *s = dout + (((size_t)e * 2 * H + 2 * y + dy) * OW + 2 * x + dx) * C;
#pragma omp simd
                        for (int c = 0; c < C; c++) d[c] += s[c];
                    }
            }
}
