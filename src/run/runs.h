/* runs.h: read-only views of the database for the command line. */
#ifndef BFN_RUN_RUNS_H
#define BFN_RUN_RUNS_H

#include <stdio.h>

#include "store/db.h"

/* One line per run (those tagged `tag` if non-NULL): key, experiment,
 * profile, status, last logged step, last checkpoint step, NLL at n = inf, tags. */
int bfn_runs_list(bfn_db *db, const char *tag, FILE *out);
/* Rows of one run as TSV (csv = 0) or CSV with a header line of plain column
 * names: what = "metric" (name, step, value), "eval" (n = inf written as
 * inf), "curve" or "losscurve" (the losses-against-time figure). NaN and
 * infinite metric values are written nan, inf, -inf. */
int bfn_runs_export(bfn_db *db, const char *run, const char *profile, const char *what, int csv, FILE *out);
/* `bfn query NAME`: the store's named query NAME (store/named_q.c) as TSV
 * with a header row; run (a key, prefix or @EXPERIMENT, resolved with
 * profile) for the queries of one run, profile restricting the others. */
int bfn_runs_query(bfn_db *db, const char *name, const char *run, const char *profile, FILE *out);
/* `bfn query list`: every named query, its parameter and what it returns. */
void bfn_runs_query_list(FILE *out);
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

/* (Re)create the view run_config: one column per config key (dots as
 * underscores, e.g. train_lr) read from run.config_json, so
 * `SELECT key FROM run_config WHERE train_lr = 1e-3` needs no LIKE; first
 * fill config_json of runs recorded without it. Called by training and by
 * `bfn runs`. */
int bfn_runs_config_view(bfn_db *db);

#endif
