/* query.h: what the query files of store/ share (runs_q.c, evals_q.c,
 * metrics_q.c, named_q.c, config_view.c): preparing a statement with the
 * error naming the database, and the shared views. Only store/ includes it;
 * no other folder sees SQL or sqlite3.h. */
#ifndef BFN_STORE_QUERY_H
#define BFN_STORE_QUERY_H

#include <sqlite3.h>

#include "store/db.h"

/* Prepare sql on db's connection; on failure BFN_EDB naming `what`. */
int bfn_q_prepare(bfn_db *db, const char *sql, sqlite3_stmt **st, const char *what);
/* BFN_EDB for a failed step/exec of `what`, with SQLite's message. */
int bfn_q_fail(bfn_db *db, const char *what);
/* Bind text (NULL binds NULL) to parameter i (copied). */
void bfn_q_bind_text(sqlite3_stmt *st, int i, const char *s);
/* Column i as text, or NULL. */
const char *bfn_q_text(sqlite3_stmt *st, int i);
/* Run sql with ?1 = a, ?2 = b and call fn with each row's three text
 * columns (a label, run a's value, run b's value): the shape of `bfn diff`. */
int bfn_q_each_pair_row(bfn_db *db, const char *sql, const char *a, const char *b,
                        int (*fn)(void *ctx, const char *label, const char *va, const char *vb), void *ctx);

/* Create the shared views of this connection (TEMP views: defined here
 * once, never stored in the file, so the schema version is unchanged).
 * Called by bfn_db_open.
 *   run_name(run, name)        the names a run answers to: its experiment and
 *                              every 'alias' history row (two experiments
 *                              with equal settings share one run)
 *   run_overview(key, experiment, profile, status, started, logged, ckpt, nll, tags)
 *                              what `bfn runs` and the report show per run:
 *                              last train.loss step, last 'last' checkpoint
 *                              step, the newest test NLL at n = inf as text
 *                              ("%.3f ± %.3f UNIT"), tags joined by ','. */
int bfn_q_create_views(sqlite3 *h, const char *path);

#endif
