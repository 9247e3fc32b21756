/* step.h: one batch through flow -> network -> loss, shared by training,
 * validation and evaluation so they can never disagree on the estimator. */
#ifndef BFN_RUN_STEP_H
#define BFN_RUN_STEP_H

#include <gsl/gsl_rng.h>

#include "run/setup.h"

/* Scratch buffers for batches of up to max_batch examples (one allocation
 * each, made once per run). */
typedef struct {
    int max_batch;
    long *idx;
    float *x, *t, *alpha, *theta, *in, *out, *dout;
    double *loss; /* per-example losses in double (float underflows for confident models) */
} bfn_work;

void bfn_work_alloc(bfn_work *w, const bfn_setup *s, int max_batch);
void bfn_work_free(bfn_work *w);

/* Run the B examples already in w->x through the flow and the network with
 * `params` and write per-example losses (nats/dim) to w->loss:
 *   BFN_LOSS_CTS      L^inf with t ~ U(0,1) per example;
 *   BFN_LOSS_NSTEP    L^n: i ~ U{1..n}, t = (i-1)/n, alpha = alpha_i, n times the KL;
 *   BFN_LOSS_RECON    L^r at t = 1;
 *   BFN_LOSS_CTS_AT / BFN_LOSS_RECON_AT  the same at the fixed time t_fixed.
 * If want_grad, w->dout receives d(mean_b loss_b)/d out for the backward pass.
 * Returns the sum of the per-example losses (in double, summed in order). */
double bfn_batch_loss(const bfn_setup *s, const float *params, bfn_work *w, int B, int mode, int n,
                      double t_fixed, gsl_rng *rng, int want_grad);

/* One pass over every example of `split` (in order, batches of w->max_batch,
 * data prepared afresh, e.g. re-binarised): mean per-example loss of `mode`
 * with `params`. If sq_sum is non-NULL it receives the sum of squared
 * per-example losses (for standard errors over examples). */
double bfn_split_pass(const bfn_setup *s, const float *params, bfn_work *w, int split, int mode, int n, double t,
                      gsl_rng *rng, double *sq_sum);

#endif
