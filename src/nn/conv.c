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

size_t bfn_conv_scratch_floats(const bfn_conv2d *c, int examples) {
    return is_pointwise(c) ? 0 : (size_t)examples * out_pixels(c) * col_width(c);
}

/* Examples per chunk that fit the scratch buffer (at least 1). */
static int chunk_examples(const bfn_conv2d *c, size_t scratch_floats) {
    size_t per = out_pixels(c) * col_width(c);
    size_t n = per ? scratch_floats / per : 1;
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
                for (int ky = 0; ky < K; ky++) {
                    const int y = oy * c->stride + ky - pad;
                    for (int kx = 0; kx < K; kx++) {
                        const int x = ox * c->stride + kx - pad;
                        float *dst = row + ((size_t)ky * K + kx) * IC;
                        if (y < 0 || y >= c->H || x < 0 || x >= c->W) memset(dst, 0, (size_t)IC * sizeof *dst);
                        else memcpy(dst, src + ((size_t)y * c->W + x) * IC, (size_t)IC * sizeof *dst);
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

/* db[o] += sum over rows of dout[:, o]. Threads own disjoint output channels
 * and each sums its rows in order, so the result is thread-count independent. */
static void bias_grad(float *db, const float *dout, size_t rows, int OC) {
#pragma omp parallel for schedule(static)
    for (int o = 0; o < OC; o++) {
        float s = 0.0f;
        for (size_t r = 0; r < rows; r++) s += dout[r * (size_t)OC + o];
        db[o] += s;
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
    const int chunk = chunk_examples(c, scratch_floats);
    const size_t img = (size_t)c->H * c->W * IC;
    for (int e0 = 0; e0 < B; e0 += chunk) {
        const int nb = B - e0 < chunk ? B - e0 : chunk, rows = nb * (int)P;
        const float *dchunk = dout + (size_t)e0 * P * OC;
        if (dW) {
            im2col(c, scratch, in + (size_t)e0 * img, nb);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, (int)cw, rows, 1.0f, dchunk, OC, scratch,
                        (int)cw, 1.0f, dW, (int)cw);
        }
        if (din) {
            /* dcol = dout W (rows, cw), then scatter-add back to the pixels. */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, (int)cw, OC, 1.0f, dchunk, OC, Wt, (int)cw,
                        0.0f, scratch, (int)cw);
            col2im_add(c, din + (size_t)e0 * img, scratch, nb);
        }
    }
}
