/* runs_q.c: reading runs (see runs_q.h). */
#include "store/runs_q.h"

#include <stdio.h>
#include <string.h>

#include "store/query.h"
#include "util/err.h"

int bfn_q_runs_overview(bfn_db *db, const char *tag, int (*fn)(void *ctx, const bfn_q_overview *row), void *ctx) {
    const char *sql = "SELECT key, experiment, profile, status, logged, ckpt, nll, tags FROM run_overview o "
                      "WHERE ?1 IS NULL OR EXISTS (SELECT 1 FROM run_tag t WHERE t.run = o.key AND t.tag = ?1) "
                      "ORDER BY started, key";
    sqlite3_stmt *st;
    BFN_TRY(bfn_q_prepare(db, sql, &st, "runs"));
    bfn_q_bind_text(st, 1, tag);
    int rc, ret = BFN_OK;
    while (ret == BFN_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        bfn_q_overview r = {bfn_q_text(st, 0), bfn_q_text(st, 1), bfn_q_text(st, 2), bfn_q_text(st, 3),
                            bfn_q_text(st, 4), bfn_q_text(st, 5), bfn_q_text(st, 6), bfn_q_text(st, 7)};
        ret = fn(ctx, &r);
    }
    if (ret == BFN_OK && rc != SQLITE_DONE) ret = bfn_q_fail(db, "runs");
    sqlite3_finalize(st);
    return ret;
}

int bfn_q_run_by_prefix(bfn_db *db, const char *prefix, char key[17], int *matches) {
    sqlite3_stmt *st;
    *matches = 0;
    key[0] = '\0';
    BFN_TRY(bfn_q_prepare(db, "SELECT key FROM run WHERE key LIKE ?1 || '%'", &st, "resolve run"));
    bfn_q_bind_text(st, 1, prefix);
    while (sqlite3_step(st) == SQLITE_ROW)
        if ((*matches)++ == 0) snprintf(key, 17, "%s", bfn_q_text(st, 0));
    sqlite3_finalize(st);
    return BFN_OK;
}

int bfn_q_run_brief_of(bfn_db *db, const char *key, bfn_q_run_brief *out) {
    sqlite3_stmt *st;
    memset(out, 0, sizeof *out);
    BFN_TRY(bfn_q_prepare(db,
                          "SELECT experiment, profile, status, EXISTS (SELECT 1 FROM eval e WHERE e.run = key) "
                          "FROM run WHERE key = ?1",
                          &st, "reading run"));
    bfn_q_bind_text(st, 1, key);
    int rc = sqlite3_step(st), ret = 0;
    if (rc == SQLITE_ROW) {
        snprintf(out->experiment, sizeof out->experiment, "%s", bfn_q_text(st, 0));
        snprintf(out->profile, sizeof out->profile, "%s", bfn_q_text(st, 1));
        snprintf(out->status, sizeof out->status, "%s", bfn_q_text(st, 2));
        out->evaluated = sqlite3_column_int(st, 3);
        ret = 1;
    } else if (rc != SQLITE_DONE) {
        ret = bfn_q_fail(db, "reading run");
    }
    sqlite3_finalize(st);
    return ret;
}

int bfn_q_run_config(bfn_db *db, const char *key, char **text) {
    sqlite3_stmt *st;
    *text = NULL;
    BFN_TRY(bfn_q_prepare(db, "SELECT config FROM run WHERE key = ?1", &st, "run config"));
    bfn_q_bind_text(st, 1, key);
    int rc = sqlite3_step(st), ret = BFN_OK;
    if (rc == SQLITE_ROW && bfn_q_text(st, 0)) *text = bfn_xstrdup(bfn_q_text(st, 0));
    else if (rc != SQLITE_ROW && rc != SQLITE_DONE) ret = bfn_q_fail(db, "run config");
    sqlite3_finalize(st);
    return ret;
}

int bfn_q_run_has_name(bfn_db *db, const char *key, const char *name, int *yes) {
    sqlite3_stmt *st;
    *yes = 0;
    BFN_TRY(bfn_q_prepare(db, "SELECT 1 FROM run_name WHERE run = ?1 AND name = ?2", &st, "reading run names"));
    bfn_q_bind_text(st, 1, key);
    bfn_q_bind_text(st, 2, name);
    int rc = sqlite3_step(st), ret = BFN_OK;
    if (rc == SQLITE_ROW) *yes = 1;
    else if (rc != SQLITE_DONE) ret = bfn_q_fail(db, "reading run names");
    sqlite3_finalize(st);
    return ret;
}

int bfn_q_runs_each(bfn_db *db, const bfn_q_run_filter *f,
                    int (*fn)(void *ctx, const char *key, const char *profile, const char *config), void *ctx) {
    const char *sql = "SELECT key, profile, config FROM run WHERE "
                      "(?1 IS NULL OR key IN (SELECT run FROM run_name WHERE name = ?1)) "
                      "AND (?2 IS NULL OR profile = ?2) AND (?3 = 0 OR status = 'finished') "
                      "AND (?4 = 0 OR EXISTS (SELECT 1 FROM eval e WHERE e.run = key)) ORDER BY key";
    sqlite3_stmt *st;
    BFN_TRY(bfn_q_prepare(db, sql, &st, "listing runs"));
    bfn_q_bind_text(st, 1, f->name);
    bfn_q_bind_text(st, 2, f->profile);
    sqlite3_bind_int(st, 3, f->finished != 0);
    sqlite3_bind_int(st, 4, f->evaluated != 0);
    int rc, ret = BFN_OK;
    while (ret == BFN_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        ret = fn(ctx, bfn_q_text(st, 0), bfn_q_text(st, 1), bfn_q_text(st, 2));
    if (ret == BFN_OK && rc != SQLITE_DONE) ret = bfn_q_fail(db, "listing runs");
    sqlite3_finalize(st);
    return ret;
}
