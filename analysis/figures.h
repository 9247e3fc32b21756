/* figures.h: data for the paper's analytic figures, as TSV for gnuplot.
 *
 * The analytic figures of Graves et al. (2023) need no trained network: the
 * accuracy schedules, the input variance of the continuous flow against
 * diffusion noise schedules, the continuous and discrete Bayesian flows and
 * the expected entropy of the discrete input distribution against sqrt(beta)
 * (paper/NOTES.md §2 items 2, 3, 5, 6). The numbers come only from the harness's
 * own schedule and family code (src/bfn/schedule.h, family.h), so the figures
 * also show what the training code does.
 *
 * Output format: '#' comment lines (what the data is, parameters, seed, Monte
 * Carlo error), then one tab-separated header line, then rows. Grid data (a
 * density over a 2-D grid, one curve per path or per K) comes in blocks
 * separated by one blank line, gnuplot's grid/line-break convention.
 * Every figure uses fixed seeds: the same build writes byte-identical output
 * on every call.
 *
 * Figures (bfn_figure_names()):
 *   schedules             beta, alpha = beta', beta/beta(1) of every registered schedule
 *   input_variance        gamma(1-gamma) of the continuous flow vs VP diffusion (linear, cosine)
 *   cts_flow              density of mu over (t, mu), x = 0.8, sigma1 = 0.02
 *   cts_flow_paths        sample paths of mu by sequential Bayesian updates
 *   discrete_flow_k2      density of theta_1 over t, K = 2, beta1 = 9 (histogram + exact)
 *   discrete_flow_k2_paths  sample paths of theta_1, K = 2
 *   discrete_flow_k3      sample paths on the 3-class simplex (barycentric x, y)
 *   entropy               E H[theta] for K = 2..30 against sqrt(beta) in [0.01, 3]
 */
#ifndef BFN_ANALYSIS_FIGURES_H
#define BFN_ANALYSIS_FIGURES_H

#include <stdio.h>

/* Write the TSV of figure `name` to out ("list": the figure names, one a
 * line). Returns BFN_OK, BFN_EINVAL for an unknown name (the message lists
 * the known ones) or BFN_EIO if writing failed. */
int bfn_figure_data(const char *name, FILE *out);

/* Names of the figures, NULL-terminated. */
const char *const *bfn_figure_names(void);

#endif
