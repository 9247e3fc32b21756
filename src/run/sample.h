/* sample.h: draw samples from a trained run with the n-step sampler. */
#ifndef BFN_RUN_SAMPLE_H
#define BFN_RUN_SAMPLE_H

#include <gsl/gsl_rng.h>

#include "run/config.h"
#include "run/step.h"

/* Called after each of the n steps of bfn_sample_batch (e.g. a progress line). */
typedef void (*bfn_sample_progress)(int step, int n, void *ctx);

/* The n-step sampler for one batch of B <= w->max_batch samples with the
 * network parameters `params` (the EMA weights for `bfn sample`): writes the
 * final samples (the mode of p_O at t = 1) to x (B x D). progress may be NULL.
 * Allocates nothing. */
void bfn_sample_batch(const bfn_setup *s, const float *params, bfn_work *w, int B, int n, gsl_rng *rng,
                      float *x, bfn_sample_progress progress, void *ctx);

/* Draw sample.count samples with sample.steps steps (paper/NOTES.md §4.5: from the
 * prior, for i = 1..n: output distribution at t = (i-1)/n, draw, sender
 * sample at alpha_i, Bayesian update; finally the mode of the output at t = 1)
 * and write a PNG grid (images) or the text to out_path ("-" = stdout). */
int bfn_sample(bfn_config *cfg, const char *out_path, int quiet);

#endif
