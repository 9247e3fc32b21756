/* metrics_q.h: reading and copying metric series (train.loss, val.loss, ...).
 * Writing them is bfn_db_metric/bfn_db_flush (db.h). */
#ifndef BFN_STORE_METRICS_Q_H
#define BFN_STORE_METRICS_Q_H

#include "store/db.h"

/* The finite values of metric `name` of run `key`, by step. */
int bfn_q_metric_series(bfn_db *db, const char *key, const char *name,
                        int (*fn)(void *ctx, long step, double value), void *ctx);

/* Copy every metric row of run `from` to run `to` (replacing rows of the
 * same name and step), in one transaction. */
int bfn_q_metrics_copy(bfn_db *db, const char *to, const char *from);

/* `bfn diff`: for every metric name either run has, the last value of each
 * run as SQLite's text of the stored value (NULL if none or not finite). */
int bfn_q_diff_metrics(bfn_db *db, const char *a, const char *b,
                       int (*fn)(void *ctx, const char *name, const char *va, const char *vb), void *ctx);

#endif
