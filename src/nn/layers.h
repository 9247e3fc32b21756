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

/* GELU, tanh approximation (as in GPT-2 / the official text8 network). */
void bfn_gelu_forward(float *out, const float *in, long n);
/* din += dout * gelu'(in) */
void bfn_gelu_backward(float *din, const float *in, const float *dout, long n);
/* din = dout * gelu'(in) (written, not accumulated). */
void bfn_gelu_backward_set(float *din, const float *in, const float *dout, long n);

#endif
