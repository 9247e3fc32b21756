/* runs.h: read-only views of the database for the command line. */
#ifndef BFN_RUN_RUNS_H
#define BFN_RUN_RUNS_H

#include <stdio.h>

#include "store/db.h"

/* One line per run: key, experiment, profile, status, steps, NLL at n = inf. */
int bfn_runs_list(bfn_db *db, FILE *out);
/* Rows of one run (key or unique key prefix) as TSV with a header line:
 * what = "metric" (name, step, value), "eval" or "curve". */
int bfn_runs_export(bfn_db *db, const char *run, const char *what, FILE *out);
/* Resolve a key prefix to the full key (size 17). */
int bfn_runs_resolve(bfn_db *db, const char *prefix, char key[17]);

/* The stored config of a run named by `spec`: "@EXPERIMENT" (its newest
 * finished run, of `profile` if non-NULL) or a run key (prefix); then the
 * overrides are applied. */
struct bfn_config;
int bfn_runs_load_config(bfn_db *db, const char *spec, const char *profile, int n_over, char *const *over,
                         struct bfn_config **out);

#endif
