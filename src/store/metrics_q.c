/* metrics_q.c: reading and copying metric series (see metrics_q.h). */
#include "store/metrics_q.h"

#include "store/query.h"
#include "util/err.h"

int bfn_q_metric_series(bfn_db *db, const char *key, const char *name,
                        int (*fn)(void *ctx, long step, double value), void *ctx) {
    sqlite3_stmt *st;
    BFN_TRY(bfn_q_prepare(db, "SELECT step, value FROM metric WHERE run = ?1 AND name = ?2 AND kind = 0 ORDER BY step",
                          &st, "metric series"));
    bfn_q_bind_text(st, 1, key);
    bfn_q_bind_text(st, 2, name);
    int rc, ret = BFN_OK;
    while (ret == BFN_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        ret = fn(ctx, (long)sqlite3_column_int64(st, 0), sqlite3_column_double(st, 1));
    if (ret == BFN_OK && rc != SQLITE_DONE) ret = bfn_q_fail(db, "metric series");
    sqlite3_finalize(st);
    return ret;
}

int bfn_q_metrics_copy(bfn_db *db, const char *to, const char *from) {
    sqlite3 *h = bfn_db_handle(db);
    char *msg = NULL;
    char *sql = sqlite3_mprintf("BEGIN IMMEDIATE; INSERT OR REPLACE INTO metric(run, name, step, value, kind) "
                                "SELECT %Q, name, step, value, kind FROM metric WHERE run = %Q; COMMIT;",
                                to, from);
    int rc = sqlite3_exec(h, sql, NULL, NULL, &msg) == SQLITE_OK
                 ? BFN_OK
                 : bfn_error(BFN_EDB, "copying the metrics of run %s: %s", from, msg ? msg : "?");
    if (rc != BFN_OK && !sqlite3_get_autocommit(h)) sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_free(msg);
    sqlite3_free(sql);
    return rc;
}

int bfn_q_diff_metrics(bfn_db *db, const char *a, const char *b,
                       int (*fn)(void *ctx, const char *name, const char *va, const char *vb), void *ctx) {
    const char *sql = "SELECT name, "
                      " (SELECT value FROM metric m WHERE m.run = ?1 AND m.name = n.name ORDER BY step DESC LIMIT 1),"
                      " (SELECT value FROM metric m WHERE m.run = ?2 AND m.name = n.name ORDER BY step DESC LIMIT 1)"
                      " FROM (SELECT DISTINCT name FROM metric WHERE run IN (?1, ?2)) n ORDER BY name";
    return bfn_q_each_pair_row(db, sql, a, b, fn, ctx);
}
