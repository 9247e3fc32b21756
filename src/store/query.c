/* query.c: statement helpers and the shared TEMP views (see query.h). */
#include "store/query.h"

#include "util/err.h"

int bfn_q_prepare(bfn_db *db, const char *sql, sqlite3_stmt **st, const char *what) {
    *st = NULL;
    if (sqlite3_prepare_v2(bfn_db_handle(db), sql, -1, st, NULL) != SQLITE_OK) return bfn_q_fail(db, what);
    return BFN_OK;
}

int bfn_q_fail(bfn_db *db, const char *what) {
    return bfn_error(BFN_EDB, "%s: %s", what, sqlite3_errmsg(bfn_db_handle(db)));
}

void bfn_q_bind_text(sqlite3_stmt *st, int i, const char *s) {
    if (s) sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(st, i);
}

const char *bfn_q_text(sqlite3_stmt *st, int i) { return (const char *)sqlite3_column_text(st, i); }

static const char VIEWS[] =
    "CREATE TEMP VIEW IF NOT EXISTS run_name AS"
    "  SELECT key AS run, experiment AS name FROM run"
    "  UNION SELECT run, detail FROM run_history WHERE event = 'alias';"
    "CREATE TEMP VIEW IF NOT EXISTS run_overview AS"
    "  SELECT r.key, r.experiment, r.profile, r.status, r.started,"
    "    (SELECT MAX(step) FROM metric m WHERE m.run = r.key AND m.name = 'train.loss') AS logged,"
    "    (SELECT MAX(step) FROM checkpoint c WHERE c.run = r.key AND c.kind = 'last') AS ckpt,"
    "    (SELECT printf('%.3f ± %.3f %s', total, total_se, unit) FROM eval e WHERE e.run = r.key"
    "       AND e.n = 0 AND e.split = 'test' ORDER BY ckpt_step DESC LIMIT 1) AS nll,"
    "    (SELECT group_concat(tag, ',') FROM (SELECT tag FROM run_tag t WHERE t.run = r.key ORDER BY tag)) AS tags"
    "  FROM run r;";

int bfn_q_create_views(sqlite3 *h, const char *path) {
    char *msg = NULL;
    int rc = sqlite3_exec(h, VIEWS, NULL, NULL, &msg) == SQLITE_OK
                 ? BFN_OK
                 : bfn_error(BFN_EDB, "%s: creating the query views: %s", path, msg ? msg : "?");
    sqlite3_free(msg);
    return rc;
}

int bfn_q_each_pair_row(bfn_db *db, const char *sql, const char *a, const char *b,
                        int (*fn)(void *ctx, const char *label, const char *va, const char *vb), void *ctx) {
    sqlite3_stmt *st;
    BFN_TRY(bfn_q_prepare(db, sql, &st, "diff"));
    bfn_q_bind_text(st, 1, a);
    bfn_q_bind_text(st, 2, b);
    int ret = BFN_OK;
    while (ret == BFN_OK && sqlite3_step(st) == SQLITE_ROW)
        ret = fn(ctx, bfn_q_text(st, 0), bfn_q_text(st, 1), bfn_q_text(st, 2));
    sqlite3_finalize(st);
    return ret;
}
