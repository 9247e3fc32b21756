/* optim.h: AdamW with decoupled weight decay, EMA of weights, gradient clipping. */
#ifndef BFN_NN_OPTIM_H
#define BFN_NN_OPTIM_H

#include <stddef.h>

#include "nn/params.h"

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    float ema_decay; /* 0 disables EMA updates */
    int ema_warmup;  /* 1: decay at step t is min(ema_decay, (1 + t) / (10 + t)) */
} bfn_adamw_cfg;

/* The EMA decay used at (1-based) step: ema_decay, or with warm-up
 * min(ema_decay, (1 + step) / (10 + step)), so after t steps the EMA averages
 * roughly the last t/10..t weights instead of lagging at its initial value
 * (a short run with decay 0.999 would otherwise still weigh the random
 * initialisation by 0.999^t). */
double bfn_ema_decay_at(const bfn_adamw_cfg *cfg, long step);

/* One fused pass over the flat buffers: AdamW update of params (step is
 * 1-based, for bias correction; weight decay only on tensors with decay=1,
 * applied as p -= lr * wd * p as in torch.optim.AdamW), then the EMA update
 * ema -= (1 - d) (ema - p) (official code). m, v, ema have the layout size. */
void bfn_adamw_step(const bfn_adamw_cfg *cfg, const bfn_param_layout *l, float *params,
                    const float *grads, float *m, float *v, float *ema, long step);

/* The same with the gradient taken as grads * gscale (the clipping factor
 * of bfn_clip_scale, fused into the pass instead of rescaling grads first;
 * grads itself is left unscaled). */
void bfn_adamw_step_scaled(const bfn_adamw_cfg *cfg, const bfn_param_layout *l, float *params, const float *grads,
                           float gscale, float *m, float *v, float *ema, long step);

/* Scale grads so their global L2 norm is at most max_norm (torch's
 * clip_grad_norm_); returns the norm before clipping. max_norm <= 0: no-op. */
double bfn_clip_grad_norm(float *grads, size_t n, double max_norm);
/* Its two halves: the norm (fixed summation order, thread-count independent)
 * and the factor the gradients are multiplied by (1 when not clipping). */
double bfn_grad_norm(const float *grads, size_t n);
float bfn_clip_scale(double norm, double max_norm);

#endif
