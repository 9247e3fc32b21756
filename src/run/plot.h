/* plot.h: several runs' curves overlaid in one gnuplot figure (bfn plot). */
#ifndef BFN_RUN_PLOT_H
#define BFN_RUN_PLOT_H

#include <stdio.h>

#include "store/db.h"

#define BFN_PLOT_MAX_RUNS 12

/* Overlay the runs named by specs (keys, prefixes or @EXPERIMENT, as
 * bfn_runs_resolve) in one figure `out` (.png or .svg): metric =
 * "train.loss" or "val.loss" (against step, log y), "losscurve" (test
 * L^inf(t) of the latest evaluated checkpoint) or "nll" (test NLL against n
 * with standard errors, n = inf at the right). The legend names each run's
 * experiment, profile, the run-key settings (and train.steps) that differ
 * between the runs, and its key; one "i<TAB>label" line per run goes to
 * `legend` if non-NULL. */
int bfn_plot_runs(bfn_db *db, char *const *specs, int n, const char *profile, const char *metric, const char *out,
                  FILE *legend);

#endif
