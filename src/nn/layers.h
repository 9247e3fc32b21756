/* layers.h: forward/backward pairs on plain float buffers (llm.c style).
 *
 * Conventions: row-major; backward functions ACCUMULATE into gradient
 * buffers (callers zero them once per step); forward functions cache nothing
 * implicitly: callers keep the tensors backward needs. GEMMs go through CBLAS. */
#ifndef BFN_NN_LAYERS_H
#define BFN_NN_LAYERS_H

/* out (N, OC) = in (N, IC) @ W^T + b;  W is (OC, IC), b (OC) or NULL. */
void bfn_linear_forward(float *out, const float *in, const float *W, const float *b, int N, int IC, int OC);
/* din (N, IC) += dout @ W;  dW (OC, IC) += dout^T @ in;  db (OC) += sum_n dout.
 * Any of din, dW, db may be NULL to skip it. */
void bfn_linear_backward(float *din, float *dW, float *db, const float *dout, const float *in,
                     const float *W, int N, int IC, int OC);

/* out (N, OC) = res (N, OC) + in @ W^T + b: a linear layer added to the
 * residual stream, with the residual and bias written in one pass before the
 * GEMM accumulates (no separate residual pass). b may be NULL; out must not
 * alias res. Backward is bfn_linear_backward (res's gradient is dout). */
void bfn_linear_residual_forward(float *out, const float *res, const float *in, const float *W, const float *b,
                                 int N, int IC, int OC);
/* As bfn_linear_backward, but din is OVERWRITTEN (GEMM beta = 0) instead of
 * accumulated, so the caller need not zero it first. */
void bfn_linear_backward_overwrite(float *din, float *dW, float *db, const float *dout, const float *in,
                                   const float *W, int N, int IC, int OC);

/* GELU, tanh approximation (as in GPT-2 / the official text8 network). */
void bfn_gelu_forward(float *out, const float *in, long n);
/* din += dout * gelu'(in) */
void bfn_gelu_backward(float *din, const float *in, const float *dout, long n);
/* Bias and GELU in one pass over (N, C): pre[n, c] += b[c] (pre keeps the
 * biased values backward needs), out = gelu(pre). Use after a linear layer
 * computed without its bias. */
void bfn_bias_gelu_forward(float *out, float *pre, const float *b, int N, int C);
/* Backward of bfn_bias_gelu_forward, in place: d (N, C) holds dL/dout and
 * becomes dL/dpre = d * gelu'(pre); db (C) += column sums of the new d
 * (rows in order; db may be NULL). */
void bfn_bias_gelu_backward(float *d, float *db, const float *pre, int N, int C);
/* din = dout * gelu'(in) (written, not accumulated). */
void bfn_gelu_backward_set(float *din, const float *in, const float *dout, long n);

#endif
