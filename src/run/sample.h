/* sample.h: draw samples from a trained run with the n-step sampler. */
#ifndef BFN_RUN_SAMPLE_H
#define BFN_RUN_SAMPLE_H

#include "run/config.h"

/* Draw sample.count samples with sample.steps steps (paper/NOTES.md §4.5: from the
 * prior, for i = 1..n: output distribution at t = (i-1)/n, draw, sender
 * sample at alpha_i, Bayesian update; finally the mode of the output at t = 1)
 * and write a PNG grid (images) or the text to out_path ("-" = stdout). */
int bfn_sample(bfn_config *cfg, const char *out_path, int quiet);

#endif
