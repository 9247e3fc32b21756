/* conv.c: channels-last 2-D convolution as GEMMs (see conv.h).
 *
 * Stride 1, K > 1 ("shifted GEMMs"): the input is copied once into a
 * zero-padded layout in which the input pixel a kernel tap reads is the
 * output pixel's row shifted by a constant, so each tap is one GEMM whose
 * input is the padded buffer shifted by the tap; no column buffer is built
 * (`bench --conv` measured this 1.8-2.5x faster than im2col at the small
 * U-Net's shapes on one thread). Details and the blocking are described
 * above shifted_forward.
 * Stride 2 (down-sampling): im2col, each output pixel's receptive field
 * copied into a row of a column buffer (order ky, kx, ic), one GEMM; col2im
 * for the input gradient.
 * Copy loops split examples (and rows) over OpenMP threads, each writing only
 * its own rows, so results do not depend on the thread count. */
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
static int is_shifted(const bfn_conv2d *c) { return c->K > 1 && c->stride == 1; }

static size_t col_width(const bfn_conv2d *c) { return (size_t)c->K * c->K * c->IC; }
static size_t out_pixels(const bfn_conv2d *c) { return (size_t)c->OH * c->OW; }

/* ---- stride 1, K > 1: shifted GEMMs over a shared-padding layout ------------
 *
 * Layout ("flat"): rows of PW = W + p pixels (p = K/2), each image row
 * preceded by p zero pixels, each image preceded by p zero rows, and p more
 * zero rows (plus p zero pixels) after the last image. The zero columns
 * between two image rows serve as the right padding of one and the left
 * padding of the next, the zero rows between two images likewise, so a
 * 7 x 7 image costs 8 x 8 rows of GEMM instead of 9 x 9. Pixel (e, y, x)
 * sits at flat row q = (e (H + p) + p + y) PW + p + x; tap (ky, kx) of it is
 * flat row q + (ky - p) PW + (kx - p). With base = p PW + p, GEMM row r
 * stands for flat row r + base and reads tap k at flat row r + off_k,
 * off_k = ky PW + kx >= 0; the rows that fall on padding are computed and
 * dropped.
 *
 * The rows are cut into blocks of BLOCK_ROWS: all K*K taps of a block run
 * back to back, so its accumulator and input rows stay in cache instead of
 * streaming the whole batch through memory once per tap, and blocks are
 * split over OpenMP threads (single-threaded BLAS inside the parallel
 * region). Every block's arithmetic is the same whichever thread runs it;
 * the weight gradient sums fixed groups of blocks into their own partial
 * sums, added in group order, so results do not depend on the thread count. */
#ifndef FWD_ROWS
#define FWD_ROWS 1024
#endif
#ifndef DIN_ROWS
#define DIN_ROWS 128
#endif
#ifndef DW_ROWS
#define DW_ROWS 128
#endif
#define DW_GROUPS 4

static int pad_w(const bfn_conv2d *c) { return c->W + c->K / 2; }
static int flat_base(const bfn_conv2d *c) { return (c->K / 2) * pad_w(c) + c->K / 2; }
/* Flat rows per example, and the extra rows after the last example. */
static size_t flat_per_example(const bfn_conv2d *c) { return (size_t)(c->H + c->K / 2) * pad_w(c); }
static size_t flat_tail(const bfn_conv2d *c) { return (size_t)flat_base(c); }
static size_t flat_rows(const bfn_conv2d *c, int nb) { return (size_t)nb * flat_per_example(c) + flat_tail(c); }
/* GEMM rows: from the first pixel's flat row to the last pixel's. */
static int gemm_rows(const bfn_conv2d *c, int nb) {
    return (int)(flat_rows(c, nb) - 2 * (size_t)flat_base(c));
}
static size_t dw_floats(const bfn_conv2d *c) { return (size_t)DW_GROUPS * c->OC * c->K * c->K * c->IC; }

/* Scratch floats per example and fixed: shifted: the input, the output (or
 * its gradient) and the input gradient in the flat layout, plus the weight
 * gradient's group sums; im2col: the column rows. */
static size_t per_example(const bfn_conv2d *c) {
    if (is_shifted(c)) return flat_per_example(c) * (2 * (size_t)c->IC + c->OC);
    return out_pixels(c) * col_width(c);
}
static size_t fixed_floats(const bfn_conv2d *c) {
    return is_shifted(c) ? flat_tail(c) * (2 * (size_t)c->IC + c->OC) + dw_floats(c) : 0;
}

size_t bfn_conv_scratch_floats(const bfn_conv2d *c, int examples) {
    return is_pointwise(c) ? 0 : (size_t)examples * per_example(c) + fixed_floats(c);
}

/* Examples per chunk whose buffers fit in `floats` (at least 1). */
static int chunk_examples(const bfn_conv2d *c, size_t floats) {
    const size_t fixed = fixed_floats(c), n = floats > fixed ? (floats - fixed) / per_example(c) : 0;
    return n < 1 ? 1 : (int)n;
}

/* Pixel index (e H + y) W + x of flat row q, or -1 on padding. */
static long flat_pixel(const bfn_conv2d *c, long q) {
    const int p = c->K / 2, PW = pad_w(c), PH = c->H + p;
    const long Y = q / PW - p, x = q % PW - p;
    if (Y < 0 || x < 0) return -1;
    const long e = Y / PH, y = Y % PH;
    return y < c->H ? (e * c->H + y) * c->W + x : -1;
}

/* Write examples [0, nb) of x (H, W, C) into the flat layout, padding zeroed;
 * every float of dst is written once. */
static void write_flat(const bfn_conv2d *c, float *dst, const float *x, int nb, int C) {
    const int p = c->K / 2, PW = pad_w(c), PH = c->H + p, W = c->W;
    const long rows = (long)nb * PH + p;
#pragma omp parallel for schedule(static)
    for (long Y = 0; Y < rows; Y++) {
        float *d = dst + (size_t)Y * PW * C;
        const long e = (Y - p) / PH, y = (Y - p) % PH;
        if (Y < p || y >= c->H) {
            memset(d, 0, (size_t)PW * C * sizeof *d);
        } else {
            memset(d, 0, (size_t)p * C * sizeof *d);
            memcpy(d + (size_t)p * C, x + ((size_t)e * c->H + y) * W * C, (size_t)W * C * sizeof *d);
        }
    }
    memset(dst + (size_t)rows * PW * C, 0, (size_t)p * C * sizeof *dst);
}

static int n_blocks(int M, int rows) { return (M + rows - 1) / rows; }

static void shifted_forward(const bfn_conv2d *c, float *out, const float *in, const float *Wt, const float *bias,
                            int B, float *scratch, size_t scratch_floats) {
    const int K = c->K, IC = c->IC, OC = c->OC, PW = pad_w(c), ldw = K * K * IC, base = flat_base(c);
    const int chunk = chunk_examples(c, scratch_floats);
    float *pin = scratch, *pout = scratch + flat_rows(c, chunk) * IC;
    for (int e0 = 0; e0 < B; e0 += chunk) {
        const int nb = B - e0 < chunk ? B - e0 : chunk, M = gemm_rows(c, nb), nblk = n_blocks(M, FWD_ROWS);
        write_flat(c, pin, in + (size_t)e0 * c->H * c->W * IC, nb, IC);
        float *dst = out + (size_t)e0 * c->H * c->W * OC;
#pragma omp parallel for schedule(static)
        for (int blk = 0; blk < nblk; blk++) {
            const int r0 = blk * FWD_ROWS, m = M - r0 < FWD_ROWS ? M - r0 : FWD_ROWS;
            float *acc = pout + (size_t)r0 * OC;
            for (int k = 0; k < K * K; k++) {
                const int off = (k / K) * PW + k % K;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, OC, IC, 1.0f, pin + (size_t)(r0 + off) * IC,
                            IC, Wt + (size_t)k * IC, ldw, k ? 1.0f : 0.0f, acc, OC);
            }
            /* Keep the rows that are pixels, plus the bias, while they are in cache. */
            for (int r = 0; r < m; r++) {
                const long px = flat_pixel(c, (long)r0 + r + base);
                if (px < 0) continue;
                const float *s = acc + (size_t)r * OC;
                float *d = dst + (size_t)px * OC;
                if (bias) {
#pragma omp simd
                    for (int o = 0; o < OC; o++) d[o] = s[o] + bias[o];
                } else {
                    memcpy(d, s, (size_t)OC * sizeof *d);
                }
            }
        }
    }
}

/* With G = dout in the flat layout (zero on padding), GEMM row r's output
 * gradient is G[r + base]:
 *   dW_k += sum_r G[r + base]^T pin[r + off_k]   (padding rows of G are 0);
 *   dpin[s] = sum_k G[s + base - off_k] W_k      (s a flat row; the
 *     indices stay inside the flat buffer and read zeros where no output
 *     row used s), i.e. the gather form of the transposed taps, so each
 *     block of s is written by one thread and needs no zeroing. */
static void shifted_backward(const bfn_conv2d *c, float *din, float *dW, const float *dout, const float *in,
                             const float *Wt, int B, float *scratch, size_t scratch_floats) {
    const int K = c->K, IC = c->IC, OC = c->OC, PW = pad_w(c), ldw = K * K * IC, base = flat_base(c);
    const int chunk = chunk_examples(c, scratch_floats);
    const size_t fr = flat_rows(c, chunk), wsz = (size_t)OC * ldw;
    float *pin = scratch, *G = pin + fr * IC, *pdin = G + fr * OC, *part = pdin + fr * IC;
    for (int e0 = 0; e0 < B; e0 += chunk) {
        const int nb = B - e0 < chunk ? B - e0 : chunk, M = gemm_rows(c, nb);
        write_flat(c, G, dout + (size_t)e0 * c->H * c->W * OC, nb, OC);
        if (dW) {
            write_flat(c, pin, in + (size_t)e0 * c->H * c->W * IC, nb, IC);
            const int nblk = n_blocks(M, DW_ROWS), ng = nblk < DW_GROUPS ? nblk : DW_GROUPS;
#pragma omp parallel for schedule(static)
            for (int g = 0; g < ng; g++) {
                const int b0 = (int)((long)nblk * g / ng), b1 = (int)((long)nblk * (g + 1) / ng);
                float *pg = part + (size_t)g * wsz;
                for (int blk = b0; blk < b1; blk++) {
                    const int r0 = blk * DW_ROWS, m = M - r0 < DW_ROWS ? M - r0 : DW_ROWS;
                    for (int k = 0; k < K * K; k++) {
                        const int off = (k / K) * PW + k % K;
                        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, IC, m, 1.0f,
                                    G + (size_t)(r0 + base) * OC, OC, pin + (size_t)(r0 + off) * IC, IC,
                                    blk > b0 ? 1.0f : 0.0f, pg + (size_t)k * IC, ldw);
                    }
                }
            }
#pragma omp parallel for schedule(static)
            for (size_t i = 0; i < wsz; i++) {
                float s = dW[i];
                for (int g = 0; g < ng; g++) s += part[(size_t)g * wsz + i];
                dW[i] = s;
            }
        }
        if (din) {
            float *dst = din + (size_t)e0 * c->H * c->W * IC;
            const int nblk = n_blocks(M, DIN_ROWS);
#pragma omp parallel for schedule(static)
            for (int blk = 0; blk < nblk; blk++) {
                const int r0 = blk * DIN_ROWS, s0 = base + r0, m = M - r0 < DIN_ROWS ? M - r0 : DIN_ROWS;
                float *acc = pdin + (size_t)s0 * IC;
                for (int k = 0; k < K * K; k++) {
                    const int off = (k / K) * PW + k % K;
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, IC, OC, 1.0f,
                                G + (size_t)(s0 + base - off) * OC, OC, Wt + (size_t)k * IC, ldw, k ? 1.0f : 0.0f,
                                acc, IC);
                }
                for (int r = 0; r < m; r++) {
                    const long px = flat_pixel(c, (long)s0 + r);
                    if (px < 0) continue;
                    const float *s = acc + (size_t)r * IC;
                    float *d = dst + (size_t)px * IC;
#pragma omp simd
                    for (int i = 0; i < IC; i++) d[i] += s[i];
                }
            }
        }
    }
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
    if (is_shifted(c)) {
        shifted_forward(c, out, in, Wt, bias, B, scratch, scratch_floats);
        return;
    }
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
    if (is_shifted(c)) {
        shifted_backward(c, din, dW, dout, in, Wt, B, scratch, scratch_floats);
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
