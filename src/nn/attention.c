/* attention.c: non-causal multi-head self-attention core, the concatenated-input
 * linear of the skip head, residual add and the fixed sinusoidal position table of the official text8 network
 * (networks/transformer.py SelfAttention with is_causal=False; torch's
 * scaled_dot_product_attention with scale 1/sqrt(head dim)). */
#include "nn/attention.h"

#include <cblas.h>
#include <math.h>

/* Softmax of each of the T rows of s (T, T), in place. The row maximum is
 * subtracted first so expf cannot overflow; the sum is taken in double. */
static void softmax_rows(float *s, int T) {
    for (int i = 0; i < T; i++) {
        float *row = s + (long)i * T;
        float mx = row[0];
        for (int j = 1; j < T; j++) mx = row[j] > mx ? row[j] : mx;
        double sum = 0.0;
        for (int j = 0; j < T; j++) {
            row[j] = expf(row[j] - mx);
            sum += row[j];
        }
        float inv = (float)(1.0 / sum);
        for (int j = 0; j < T; j++) row[j] *= inv;
    }
}

/* Per (batch, head): scores = q k^T / sqrt(hd) (T, T), att = softmax over
 * keys (no causal mask: every position sees the whole sequence), y = att v.
 * The B*NH problems write disjoint slices of att and out, and BLAS runs
 * single-threaded inside the parallel region, so the result is the same for
 * any thread count. */
void bfn_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH) {
    const int hd = C / NH, ld = 3 * C;
    const float scale = (float)(1.0 / sqrt((double)hd));
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
        const float *q = qkv + (long)b * T * ld + (long)h * hd;
        const float *k = q + C, *v = q + 2 * C;
        float *p = att + (long)bh * T * T;
        float *y = out + (long)b * T * C + (long)h * hd;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, scale, q, ld, k, ld, 0.0f, p, T);
        softmax_rows(p, T);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, p, T, v, ld, 0.0f, y, C);
    }
}

/* Backward of bfn_attention_forward, per (batch, head), with P = att:
 *   dP = dy v^T,  dv += P^T dy,
 *   dS = P * (dP - rowsum(P * dP))   (softmax Jacobian),
 *   dq += scale dS k,  dk += scale dS^T q.
 * Each (b, h) touches only its own columns of dqkv and its own scratch
 * slice, so the parallel loop is thread-count independent. */
void bfn_attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv,
                        const float *att, int B, int T, int C, int NH) {
    const int hd = C / NH, ld = 3 * C;
    const float scale = (float)(1.0 / sqrt((double)hd));
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
        long off = (long)b * T * ld + (long)h * hd;
        const float *q = qkv + off, *k = q + C, *v = q + 2 * C;
        float *dq = dqkv + off, *dk = dq + C, *dv = dq + 2 * C;
        const float *p = att + (long)bh * T * T;
        const float *dy = dout + (long)b * T * C + (long)h * hd;
        float *ds = scratch + (long)bh * T * T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.0f, dy, C, v, ld, 0.0f, ds, T);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, p, T, dy, C, 1.0f, dv, ld);
        for (int i = 0; i < T; i++) {
            const float *prow = p + (long)i * T;
            float *drow = ds + (long)i * T;
            double dot = 0.0;
            for (int j = 0; j < T; j++) dot += (double)prow[j] * drow[j];
            float fdot = (float)dot;
            for (int j = 0; j < T; j++) drow[j] = prow[j] * (drow[j] - fdot);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, scale, ds, T, k, ld, 1.0f, dq, ld);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, scale, ds, T, q, ld, 1.0f, dk, ld);
    }
}

/* Two GEMMs with leading dimension IA+IB pick W's column blocks, so the
 * concatenation is never materialised. The bias is written first and the
 * GEMMs accumulate (beta = 1), as bfn_linear_forward does. */
void bfn_linear_concat_forward(float *out, const float *a, const float *b_in, const float *W, const float *bias,
                           int N, int IA, int IB, int OC) {
    const int ldw = IA + IB;
    for (long n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) out[n * OC + o] = bias ? bias[o] : 0.0f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, IA, 1.0f, a, IA, W, ldw, 1.0f, out, OC);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, IB, 1.0f, b_in, IB, W + IA, ldw, 1.0f, out, OC);
}

/* Gradients of linear_concat_forward, accumulated; the bias sum runs over
 * rows in order (thread-count independent). */
void bfn_linear_concat_backward(float *da, float *db_in, float *dW, float *dbias, const float *dout, const float *a,
                            const float *b_in, const float *W, int N, int IA, int IB, int OC) {
    const int ldw = IA + IB;
    if (da)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IA, OC, 1.0f, dout, OC, W, ldw, 1.0f, da, IA);
    if (db_in)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IB, OC, 1.0f, dout, OC, W + IA, ldw, 1.0f, db_in,
                    IB);
    if (dW) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, IA, N, 1.0f, dout, OC, a, IA, 1.0f, dW, ldw);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, IB, N, 1.0f, dout, OC, b_in, IB, 1.0f, dW + IA,
                    ldw);
    }
    if (dbias)
        for (long n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) dbias[o] += dout[n * OC + o];
}

/* x += r elementwise (the residual stream of a pre-LN block). */
void bfn_residual_add(float *x, const float *r, long n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) x[i] += r[i];
}

/* The official pe_encode(seq_len, C): even columns sin, odd columns cos, both
 * with frequency 1000^(-j/C) where j is the column itself (so the odd columns
 * use exponent j, not j-1, exactly as the official code). Computed in double
 * and rounded once. */
void bfn_sinusoid_table(float *table, int T, int C) {
    for (int p = 0; p < T; p++)
        for (int j = 0; j < C; j++) {
            double a = p / pow(1000.0, (double)j / C);
            table[(long)p * C + j] = (float)((j % 2 == 0) ? sin(a) : cos(a));
        }
}
