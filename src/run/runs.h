/* runs.h: read-only views of the database for the command line. */
#ifndef BFN_RUN_RUNS_H
#define BFN_RUN_RUNS_H

#include <stdio.h>

#include "store/db.h"

/* One line per run: key, experiment, profile, status, steps, NLL at n = inf. */
int bfn_runs_list(bfn_db *db, FILE *out);
/* Rows of one run as TSV with a header line: what = "metric" (name, step,
 * value), "eval", "curve" or "losscurve" (the losses-against-time figure). */
int bfn_runs_export(bfn_db *db, const char *run, const char *profile, const char *what, FILE *out);
/* Resolve "@EXPERIMENT" (its newest finished run, of `profile` if non-NULL)
 * or a run key / unique prefix to the full key (size 17). */
int bfn_runs_resolve(bfn_db *db, const char *spec, const char *profile, char key[17]);

/* Compare two runs (as bfn_runs_resolve): the config keys that differ, the
 * last value of every metric, and the test NLL at each n. */
int bfn_runs_diff(bfn_db *db, const char *a, const char *b, const char *profile, FILE *out);

/* The stored config of the run named by `spec` (as bfn_runs_resolve), with
 * the overrides applied. */
struct bfn_config;
int bfn_runs_load_config(bfn_db *db, const char *spec, const char *profile, int n_over, char *const *over,
                         struct bfn_config **out);

#endif
