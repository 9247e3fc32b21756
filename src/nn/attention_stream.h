/* attention_stream.h: non-causal multi-head self-attention that never stores
 * the (B, NH, T, T) probabilities (the transformer's attention; the U-Net keeps
 * the caching version of attention.h).
 *
 * Same maths and layouts as bfn_attention_forward/backward (attention.h):
 * qkv (B, T, 3C) holds [q | k | v] per position, head h in columns
 * [h*hd, (h+1)*hd) of each part, hd = C / NH. Forward keeps only the log-sum-exp
 * of each score row; backward recomputes the probabilities block by block from
 * it (FlashAttention, Dao et al. 2022, without the key-block rescaling: a block
 * of query rows sees all T keys at once, so every row's softmax is complete).
 *
 * Scratch: n_slots slots of bfn_attention_stream_scratch_floats(T) floats each,
 * one per thread; at most n_slots threads run (the result does not depend on
 * how many). Callers own every buffer; backward ACCUMULATES into dqkv. */
#ifndef BFN_NN_ATTENTION_STREAM_H
#define BFN_NN_ATTENTION_STREAM_H

#include <stddef.h>

/* Floats of one thread's scratch slot for sequence length T. */
size_t bfn_attention_stream_scratch_floats(int T);

/* out (B, T, C) = per head softmax(q k^T / sqrt(hd)) v, heads side by side;
 * lse (B, NH, T) = log sum_j exp(s_ij) of each scaled score row s_i. */
void bfn_attention_stream_forward(float *out, float *lse, const float *qkv, int B, int T, int C, int NH,
                                  float *scratch, int n_slots);

/* dqkv (B, T, 3C) += dL/dqkv given dout (B, T, C) and the forward's qkv, out
 * and lse. */
void bfn_attention_stream_backward(float *dqkv, const float *dout, const float *qkv, const float *out,
                                   const float *lse, int B, int T, int C, int NH, float *scratch, int n_slots);

#endif
