/* model.h: the network interface the trainer sees.
 *
 * A model maps a batch of network inputs (B, in_dim) and times (B) to outputs
 * (B, out_dim). Parameters and gradients are passed explicitly so evaluation
 * can run on the EMA buffer without copying. Activations are allocated once
 * for max_batch at creation; forward caches what backward needs, so a
 * backward call must follow the forward call it differentiates. */
#ifndef BFN_MODELS_MODEL_H
#define BFN_MODELS_MODEL_H

#include <gsl/gsl_rng.h>

#include "nn/params.h"

typedef struct bfn_model bfn_model;

typedef struct {
    const char *name;
    /* Deterministic initialisation of params from rng. */
    void (*init)(bfn_model *m, float *params, gsl_rng *rng);
    void (*forward)(bfn_model *m, const float *params, int B, const float *in, const float *t,
                    float *out);
    /* grads += d(sum_b dout . out) / d params for the last forward batch. */
    void (*backward)(bfn_model *m, const float *params, int B, const float *dout, float *grads);
    void (*destroy)(bfn_model *m);
    /* FLOPs of one forward pass per example (for GFLOP/s reports). */
    double (*flops_per_example)(const bfn_model *m);
} bfn_model_ops;

struct bfn_model {
    const bfn_model_ops *ops;
    bfn_param_layout layout;
    int in_dim, out_dim, max_batch;
    /* Training mode (dropout on) and the seed of the next forward's dropout
     * masks; the trainer sets both per step, evaluation leaves train = 0. */
    int train;
    unsigned long long noise_seed;
    void *impl;
};

/* MLP: in_dim + 1 (time as 2t-1) -> hidden (x layers, GELU) -> out_dim.
 * Tensor names fc0.weight, fc0.bias, ..., fcL.weight, fcL.bias. */
int bfn_mlp_create(bfn_model **out, int in_dim, int out_dim, int hidden, int layers, int max_batch);

/* Non-causal pre-LayerNorm transformer for discrete data (the official text8
 * GPT, paper/NOTES.md §3.4): in (B, seq_len*in_ch) = per position 2 theta - 1,
 * out (B, seq_len*out_ch) logits. n_layer blocks of width n_embd with n_head
 * heads (must divide n_embd); skip: head reads [LN_f(x), adapter output].
 * Tensor names in_proj.*, t_proj.*, h.<l>.{ln1,attn.qkv,attn.proj,ln2,
 * mlp.fc,mlp.proj}.{weight,bias}, ln_f.*, head.*. */
int bfn_transformer_create(bfn_model **out, int seq_len, int in_ch, int out_ch, int n_layer, int n_head,
                           int n_embd, int skip, int max_batch);
/* Test hook: make the transformer's backward also accumulate dL/d(input)
 * into dinput (max_batch * in_dim floats); NULL turns it off. */
int bfn_transformer_set_input_grad(bfn_model *m, float *dinput);
/* The fixed sinusoidal position table (seq_len, n_embd) the adapter adds
 * (the official TextInputAdapter's pos_embedding buffer), or NULL if m is
 * not a transformer. */
const float *bfn_transformer_pos_table(const bfn_model *m);

static inline void bfn_model_free(bfn_model *m) { if (m) m->ops->destroy(m); }

#endif
