/* conv.c: channels-last 2-D convolution as im2col + GEMM (see conv.h).
 *
 * Why im2col and channels-last: every pixel's IC values are contiguous, so a
 * receptive-field row is K*K memcpy's of IC floats and the GEMM has the large
 * dimension (pixels x examples) as M, which OpenBLAS blocks well. The copy
 * loops split examples x output rows over OpenMP threads; each (example, row)
 * writes only its own rows of the column buffer (forward) or, in col2im, each
 * example writes only its own image, so results do not depend on the thread
 * count. GEMMs are called outside parallel regions: OpenBLAS threads them. */
#include "nn/conv.h"

#include <cblas.h>
#include <string.h>

int bfn_conv2d_init(bfn_conv2d *c, int H, int W, int IC, int OC, int K, int stride) {
    if (H <= 0 || W <= 0 || IC <= 0 || OC <= 0 || K <= 0 || K % 2 == 0 || (stride != 1 && stride != 2)) return -1;
    const int pad = K / 2;
    c->H = H;
    c->W = W;
    c->IC = IC;
    c->OC = OC;
    c->K = K;
    c->stride = stride;
    c->OH = (H + 2 * pad - K) / stride + 1;
    c->OW = (W + 2 * pad - K) / stride + 1;
    return 0;
}

static int is_pointwise(const bfn_conv2d *c) { return c->K == 1 && c->stride == 1; }

static size_t col_width(const bfn_conv2d *c) { return (size_t)c->K * c->K * c->IC; }
static size_t out_pixels(const bfn_conv2d *c) { return (size_t)c->OH * c->OW; }
static size_t weight_floats(const bfn_conv2d *c) { return (size_t)c->OC * c->K * c->K * c->IC; }

/* For stride 1 the input gradient is itself a convolution: the "transposed"
 * shape reads dout (H, W, OC) with the flipped kernel Wf (IC, K, K, OC). */
static bfn_conv2d transposed(const bfn_conv2d *c) {
    bfn_conv2d t;
    bfn_conv2d_init(&t, c->OH, c->OW, c->OC, c->IC, c->K, 1);
    return t;
}

/* Column floats per example: the larger of the forward's and (stride 1) the
 * transposed convolution's. */
static size_t col_per_example(const bfn_conv2d *c) {
    size_t f = out_pixels(c) * col_width(c);
    if (c->stride == 1) {
        bfn_conv2d t = transposed(c);
        size_t b = out_pixels(&t) * col_width(&t);
        if (b > f) f = b;
    }
    return f;
}

size_t bfn_conv_scratch_floats(const bfn_conv2d *c, int examples) {
    if (is_pointwise(c)) return 0;
    return (size_t)examples * col_per_example(c) + (c->stride == 1 ? weight_floats(c) : 0);
}

/* Examples per chunk whose columns fit in `floats` (at least 1). */
static int chunk_examples(const bfn_conv2d *c, size_t floats) {
    size_t per = col_per_example(c);
    size_t n = per ? floats / per : 1;
    return n < 1 ? 1 : (int)n;
}

/* col rows for examples [0, nb) of `in`: row (e, oy, ox) holds the K x K
 * receptive field, zeros outside the image (zero padding). */
static void im2col(const bfn_conv2d *c, float *col, const float *in, int nb) {
    const int K = c->K, pad = K / 2, IC = c->IC;
    const size_t cw = col_width(c), img = (size_t)c->H * c->W * IC;
#pragma omp parallel for collapse(2) schedule(static)
    for (int e = 0; e < nb; e++)
        for (int oy = 0; oy < c->OH; oy++) {
            const float *src = in + (size_t)e * img;
            for (int ox = 0; ox < c->OW; ox++) {
                float *row = col + (((size_t)e * c->OH + oy) * c->OW + ox) * cw;
                const int x0 = ox * c->stride - pad, inside = x0 >= 0 && x0 + K <= c->W;
                for (int ky = 0; ky < K; ky++) {
                    const int y = oy * c->stride + ky - pad;
                    float *dst = row + (size_t)ky * K * IC;
                    if (y < 0 || y >= c->H) {
                        memset(dst, 0, (size_t)K * IC * sizeof *dst);
                    } else if (inside) {
                        /* The K pixels of this kernel row are adjacent in memory. */
                        memcpy(dst, src + ((size_t)y * c->W + x0) * IC, (size_t)K * IC * sizeof *dst);
                    } else {
                        for (int kx = 0; kx < K; kx++) {
                            const int x = x0 + kx;
                            if (x < 0 || x >= c->W) memset(dst + (size_t)kx * IC, 0, (size_t)IC * sizeof *dst);
                            else memcpy(dst + (size_t)kx * IC, src + ((size_t)y * c->W + x) * IC, (size_t)IC * sizeof *dst);
                        }
                    }
                }
            }
        }
}

/* din[e] += col2im(dcol rows of example e), examples [0, nb). Each example's
 * image is touched by one thread only, in a fixed order. */
static void col2im_add(const bfn_conv2d *c, float *din, const float *dcol, int nb) {
    const int K = c->K, pad = K / 2, IC = c->IC;
    const size_t cw = col_width(c), img = (size_t)c->H * c->W * IC;
#pragma omp parallel for schedule(static)
    for (int e = 0; e < nb; e++) {
        float *dst_img = din + (size_t)e * img;
        for (int oy = 0; oy < c->OH; oy++)
            for (int ox = 0; ox < c->OW; ox++) {
                const float *row = dcol + (((size_t)e * c->OH + oy) * c->OW + ox) * cw;
                for (int ky = 0; ky < K; ky++) {
                    const int y = oy * c->stride + ky - pad;
                    if (y < 0 || y >= c->H) continue;
                    for (int kx = 0; kx < K; kx++) {
                        const int x = ox * c->stride + kx - pad;
                        if (x < 0 || x >= c->W) continue;
                        const float *s = row + ((size_t)ky * K + kx) * IC;
                        float *d = dst_img + ((size_t)y * c->W + x) * IC;
#pragma omp simd
                        for (int i = 0; i < IC; i++) d[i] += s[i];
                    }
                }
            }
    }
}

/* Rows of out start as the bias (or zero); the GEMM accumulates. */
static void fill_bias(float *out, const float *bias, size_t rows, int OC) {
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        float *o = out + r * (size_t)OC;
        if (bias) memcpy(o, bias, (size_t)OC * sizeof *o);
        else memset(o, 0, (size_t)OC * sizeof *o);
    }
}

void bfn_conv2d_forward(const bfn_conv2d *c, float *out, const float *in, const float *Wt, const float *bias,
                        int B, float *scratch, size_t scratch_floats) {
    const int OC = c->OC;
    const size_t P = out_pixels(c), cw = col_width(c);
    fill_bias(out, bias, (size_t)B * P, OC);
    if (is_pointwise(c)) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B * (int)P, OC, c->IC, 1.0f, in, c->IC, Wt, c->IC,
                    1.0f, out, OC);
        return;
    }
    const int chunk = chunk_examples(c, scratch_floats);
    const size_t img = (size_t)c->H * c->W * c->IC;
    for (int e0 = 0; e0 < B; e0 += chunk) {
        const int nb = B - e0 < chunk ? B - e0 : chunk;
        im2col(c, scratch, in + (size_t)e0 * img, nb);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb * (int)P, OC, (int)cw, 1.0f, scratch, (int)cw,
                    Wt, (int)cw, 1.0f, out + (size_t)e0 * P * OC, OC);
    }
}

/* db[o] += sum over rows of dout[:, o], rows added in order (one pass over
 * contiguous rows; a per-channel parallel loop would stride through memory). */
static void bias_grad(float *db, const float *dout, size_t rows, int OC) {
    for (size_t r = 0; r < rows; r++) {
        const float *d = dout + r * (size_t)OC;
#pragma omp simd
        for (int o = 0; o < OC; o++) db[o] += d[o];
    }
}

void bfn_conv2d_backward(const bfn_conv2d *c, float *din, float *dW, float *db, const float *dout,
                         const float *in, const float *Wt, int B, float *scratch, size_t scratch_floats) {
    const int OC = c->OC, IC = c->IC;
    const size_t P = out_pixels(c), cw = col_width(c);
    if (db) bias_grad(db, dout, (size_t)B * P, OC);
    if (is_pointwise(c)) {
        const int N = B * (int)P;
        if (dW) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, IC, N, 1.0f, dout, OC, in, IC, 1.0f, dW, IC);
        if (din) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IC, OC, 1.0f, dout, OC, Wt, IC, 1.0f, din, IC);
        return;
    }
    /* Stride 1: din is the convolution of dout with the flipped kernel
     * Wf[ic][ky][kx][oc] = W[oc][K-1-ky][K-1-kx][ic] (zero padding K/2 on
     * both sides, K odd), computed like the forward pass: no column scatter.
     * Wf lives at the end of the scratch buffer. */
    const int flip = din && c->stride == 1;
    float *Wf = NULL;
    size_t col_floats = scratch_floats;
    bfn_conv2d tc = transposed(c);
    if (flip) {
        col_floats -= weight_floats(c);
        Wf = scratch + col_floats;
        const int K = c->K;
        for (int o = 0; o < OC; o++)
            for (int ky = 0; ky < K; ky++)
                for (int kx = 0; kx < K; kx++)
                    for (int i = 0; i < IC; i++)
                        Wf[(((size_t)i * K + (K - 1 - ky)) * K + (K - 1 - kx)) * OC + o] =
                            Wt[(((size_t)o * K + ky) * K + kx) * IC + i];
    }
    const int chunk = chunk_examples(c, col_floats);
    const size_t img = (size_t)c->H * c->W * IC;
    for (int e0 = 0; e0 < B; e0 += chunk) {
        const int nb = B - e0 < chunk ? B - e0 : chunk, rows = nb * (int)P;
        const float *dchunk = dout + (size_t)e0 * P * OC;
        if (dW) {
            im2col(c, scratch, in + (size_t)e0 * img, nb);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, (int)cw, rows, 1.0f, dchunk, OC, scratch,
                        (int)cw, 1.0f, dW, (int)cw);
        }
        if (flip) {
            const size_t tw = col_width(&tc);
            im2col(&tc, scratch, dchunk, nb);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb * (int)(c->H * c->W), IC, (int)tw, 1.0f, scratch,
                        (int)tw, Wf, (int)tw, 1.0f, din + (size_t)e0 * img, IC);
        } else if (din) {
            /* dcol = dout W (rows, cw), then scatter-add back to the pixels. */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, (int)cw, OC, 1.0f, dchunk, OC, Wt, (int)cw,
                        0.0f, scratch, (int)cw);
            col2im_add(c, din + (size_t)e0 * img, scratch, nb);
        }
    }
}
