/* config_view.c: the run_config view and config_json back-fill (see config_view.h). */
#include "store/config_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/query.h"
#include "util/err.h"

static int backfill(bfn_db *db, char *(*to_json)(void *ctx, const char *key, const char *config), void *ctx) {
    sqlite3_stmt *st, *up;
    BFN_TRY(bfn_q_prepare(db, "SELECT key, config FROM run WHERE config_json IS NULL", &st, "run config_json"));
    if (bfn_q_prepare(db, "UPDATE run SET config_json = ?2 WHERE key = ?1", &up, "run config_json") != BFN_OK) {
        sqlite3_finalize(st);
        return BFN_EDB;
    }
    int rc = BFN_OK;
    while (rc == BFN_OK && sqlite3_step(st) == SQLITE_ROW) {
        const char *k = bfn_q_text(st, 0);
        char *json = k ? to_json(ctx, k, bfn_q_text(st, 1)) : NULL;
        if (!json) continue; /* an unreadable old config stays without JSON */
        bfn_q_bind_text(up, 1, k);
        bfn_q_bind_text(up, 2, json);
        if (sqlite3_step(up) != SQLITE_DONE) rc = bfn_q_fail(db, "run config_json");
        sqlite3_reset(up);
        free(json);
    }
    sqlite3_finalize(st);
    sqlite3_finalize(up);
    return rc;
}

int bfn_q_config_json_backfill(bfn_db *db, char *(*to_json)(void *ctx, const char *key, const char *config),
                               void *ctx) {
    sqlite3 *h = bfn_db_handle(db);
    sqlite3_stmt *st;
    long missing = 0;
    if (sqlite3_prepare_v2(h, "SELECT COUNT(*) FROM run WHERE config_json IS NULL", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) missing = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    if (missing <= 0) return BFN_OK;
    int rc = sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? backfill(db, to_json, ctx)
                                                                              : bfn_q_fail(db, "begin");
    sqlite3_exec(h, rc == BFN_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int bfn_q_config_view(bfn_db *db, const char *const *keys, int n_keys) {
    sqlite3 *h = bfn_db_handle(db);
    /* CREATE VIEW run_config AS SELECT key, experiment, profile, status,
     *   json_extract(config_json, '$."train.lr"') AS train_lr, ... FROM run */
    size_t cap = 16384, len = 0;
    char *sql = bfn_xmalloc(cap);
    len += (size_t)snprintf(sql, cap, "CREATE VIEW run_config AS SELECT key, experiment, profile, status");
    for (int i = 0; i < n_keys; i++) {
        const char *k = keys[i];
        char col[128];
        snprintf(col, sizeof col, "%s", k);
        for (char *p = col; *p; p++)
            if (*p == '.') *p = '_';
        size_t need = strlen(k) + strlen(col) + 64;
        if (len + need >= cap) {
            cap = 2 * (cap + need);
            char *ns = realloc(sql, cap);
            if (!ns) abort();
            sql = ns;
        }
        len += (size_t)snprintf(sql + len, cap - len, ", json_extract(config_json, '$.\"%s\"') AS %s", k, col);
    }
    snprintf(sql + len, cap - len, " FROM run");
    /* Recreate only when the schema's keys changed (the stored text differs). */
    sqlite3_stmt *st;
    int same = 0;
    if (sqlite3_prepare_v2(h, "SELECT sql FROM sqlite_master WHERE type = 'view' AND name = 'run_config'", -1, &st,
                           NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            same = strcmp((const char *)sqlite3_column_text(st, 0), sql) == 0;
        sqlite3_finalize(st);
    }
    int rc = BFN_OK;
    if (!same) {
        size_t n = strlen(sql) + 128;
        char *tx = bfn_xmalloc(n);
        snprintf(tx, n, "BEGIN IMMEDIATE; DROP VIEW IF EXISTS run_config; %s; COMMIT;", sql);
        char *msg = NULL;
        if (sqlite3_exec(h, tx, NULL, NULL, &msg) != SQLITE_OK) {
            rc = bfn_error(BFN_EDB, "creating the run_config view: %s", msg ? msg : "?");
            sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
        }
        sqlite3_free(msg);
        free(tx);
    }
    free(sql);
    return rc;
}
