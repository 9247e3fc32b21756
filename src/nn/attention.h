/* attention.h: the transformer's own layers (llm.c style forward/backward pairs).
 *
 * Conventions as in layers.h: row-major float buffers, backward functions
 * ACCUMULATE into gradient buffers, callers own every buffer (no allocation
 * inside). Shapes: B batch, T positions, C width, NH heads, hd = C / NH. */
#ifndef BFN_NN_ATTENTION_H
#define BFN_NN_ATTENTION_H

#include "nn/layernorm.h" /* the transformer uses both */

/* Non-causal multi-head self-attention core (no projections).
 * qkv (B, T, 3C) holds [q | k | v] per position, head h in columns
 * [h*hd, (h+1)*hd) of each part. out (B, T, C) = per head
 * softmax(q k^T / sqrt(hd)) v, heads side by side; att (B, NH, T, T)
 * receives the attention probabilities (cached for backward). */
void bfn_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH);
/* dqkv (B, T, 3C) += dL/dqkv given dout (B, T, C), the forward qkv and att.
 * scratch has B*NH*T*T floats (overwritten; holds dL/d(scores)). */
void bfn_attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv,
                        const float *att, int B, int T, int C, int NH);

/* Linear layer on the concatenation [a, b] of two inputs without building it
 * (the skip head of the official GPT, torch.cat then Linear):
 * out (N, OC) = a (N, IA) @ W[:, :IA]^T + b_in (N, IB) @ W[:, IA:]^T + bias,
 * W (OC, IA+IB) row-major, bias (OC) or NULL. */
void bfn_linear_concat_forward(float *out, const float *a, const float *b_in, const float *W, const float *bias,
                           int N, int IA, int IB, int OC);
/* da (N, IA) += dout @ W[:, :IA];  db_in (N, IB) += dout @ W[:, IA:];
 * dW (OC, IA+IB) += dout^T @ [a, b_in];  dbias (OC) += sum_n dout.
 * Any of da, db_in, dW, dbias may be NULL to skip it. */
void bfn_linear_concat_backward(float *da, float *db_in, float *dW, float *dbias, const float *dout, const float *a,
                            const float *b_in, const float *W, int N, int IA, int IB, int OC);

/* x (n) += r (n): the residual connection. */
void bfn_residual_add(float *x, const float *r, long n);

/* Fixed sinusoidal position table (T, C) of the official TextInputAdapter
 * (utils_model.pe_encode): column j holds sin(p / 1000^(j/C)) for even j and
 * cos(p / 1000^(j/C)) for odd j. Note the base 1000 (paper/NOTES.md §3.4). */
void bfn_sinusoid_table(float *table, int T, int C);

#endif
