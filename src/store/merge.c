/* merge.c: import runs and their rows from other results databases. */
#include "store/merge.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/err.h"

/* How far a run got; a higher rank is never replaced by a lower one. */
static int status_rank(const char *s) {
    static const char *const order[] = {"created", "running", "interrupted", "failed", "diverged", "finished"};
    static const int rank[] = {0, 1, 1, 2, 3, 4};
    for (size_t i = 0; s && i < sizeof order / sizeof order[0]; i++)
        if (strcmp(s, order[i]) == 0) return rank[i];
    return -1;
}

static int sql_fail(sqlite3 *h, const char *path, const char *what) {
    return bfn_error(BFN_EDB, "%s: %s: %s", path, what, sqlite3_errmsg(h));
}

/* Open a source read-only and check it is a bfn database of our version. */
static int open_source(const char *path, sqlite3 **out) {
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) return bfn_error(BFN_EIO, "%s: no such database", path);
    sqlite3 *h;
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        int rc = bfn_error(BFN_EDB, "%s: cannot open: %s", path, h ? sqlite3_errmsg(h) : "out of memory");
        sqlite3_close(h);
        return rc;
    }
    sqlite3_busy_timeout(h, 10000);
    sqlite3_stmt *q;
    long version = -1;
    if (sqlite3_prepare_v2(h, "SELECT version FROM schema_version", -1, &q, NULL) != SQLITE_OK) {
        int rc = bfn_error(BFN_EDB, "%s: not a bfn results database (%s)", path, sqlite3_errmsg(h));
        sqlite3_close(h);
        return rc;
    }
    if (sqlite3_step(q) == SQLITE_ROW) version = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    if (version != BFN_DB_SCHEMA_VERSION) {
        sqlite3_close(h);
        return bfn_error(BFN_EDB, "%s: schema version %ld, this program's is %d: merge with the same bfn version "
                         "that wrote it", path, version, BFN_DB_SCHEMA_VERSION);
    }
    *out = h;
    return BFN_OK;
}

/* Column names of `table` in the target, comma-separated, and their count. */
static int columns(sqlite3 *h, const char *table, char *out, size_t n, int *count, int *has_run) {
    char sql[256];
    snprintf(sql, sizeof sql, "PRAGMA table_info(\"%s\")", table);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(h, sql, -1, &q, NULL) != SQLITE_OK) return BFN_EDB;
    out[0] = '\0';
    *count = 0;
    *has_run = 0;
    size_t len = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *c = (const char *)sqlite3_column_text(q, 1);
        len += (size_t)snprintf(out + len, n > len ? n - len : 0, "%s\"%s\"", *count ? "," : "", c);
        if (strcmp(c, "run") == 0) *has_run = 1;
        (*count)++;
    }
    sqlite3_finalize(q);
    return len < n ? BFN_OK : bfn_error(BFN_EDB, "table %s: too many columns", table);
}

/* Copy rows of `table` selected by `where` (bound to key) from src to dst
 * with INSERT OR `verb`; adds the rows changed to *rows. */
static int copy_rows(sqlite3 *src, const char *src_path, sqlite3 *dst, const char *table, const char *where,
                     const char *key, const char *verb, long *rows) {
    char cols[2048];
    int n, has_run;
    if (columns(dst, table, cols, sizeof cols, &n, &has_run) != BFN_OK) return sql_fail(dst, table, "columns");
    char sel[2600], ins[4800];
    snprintf(sel, sizeof sel, "SELECT %s FROM \"%s\" WHERE %s = ?1", cols, table, where);
    int len = snprintf(ins, sizeof ins, "INSERT OR %s INTO \"%s\"(%s) VALUES (", verb, table, cols);
    for (int i = 0; i < n; i++) len += snprintf(ins + len, sizeof ins - (size_t)len, "%s?", i ? "," : "");
    snprintf(ins + len, sizeof ins - (size_t)len, ")");
    sqlite3_stmt *s = NULL, *d = NULL;
    int rc = BFN_OK;
    if (sqlite3_prepare_v2(src, sel, -1, &s, NULL) != SQLITE_OK) rc = sql_fail(src, src_path, table);
    else if (sqlite3_prepare_v2(dst, ins, -1, &d, NULL) != SQLITE_OK) rc = sql_fail(dst, "target", table);
    if (rc == BFN_OK) sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int step;
    while (rc == BFN_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
        for (int i = 0; i < n; i++) sqlite3_bind_value(d, i + 1, sqlite3_column_value(s, i));
        if (sqlite3_step(d) != SQLITE_DONE) rc = sql_fail(dst, "target", table);
        else *rows += sqlite3_changes(dst);
        sqlite3_reset(d);
    }
    if (rc == BFN_OK && step != SQLITE_DONE) rc = sql_fail(src, src_path, table);
    sqlite3_finalize(s);
    sqlite3_finalize(d);
    return rc;
}

static int exec(sqlite3 *h, const char *sql, const char *what) {
    char *msg = NULL;
    if (sqlite3_exec(h, sql, NULL, NULL, &msg) == SQLITE_OK) return BFN_OK;
    int rc = bfn_error(BFN_EDB, "%s: %s", what, msg ? msg : sqlite3_errmsg(h));
    sqlite3_free(msg);
    return rc;
}

/* The tables other than run that hold per-run rows (a `run` column). */
static int run_tables(sqlite3 *h, char names[][64], int max, int *n) {
    sqlite3_stmt *q;
    *n = 0;
    if (sqlite3_prepare_v2(h, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN "
                              "('run', 'schema_version') ORDER BY name", -1, &q, NULL) != SQLITE_OK)
        return sql_fail(h, "target", "listing tables");
    while (sqlite3_step(q) == SQLITE_ROW && *n < max) {
        const char *t = (const char *)sqlite3_column_text(q, 0);
        char cols[2048];
        int c, has_run;
        if (columns(h, t, cols, sizeof cols, &c, &has_run) == BFN_OK && has_run)
            snprintf(names[(*n)++], 64, "%s", t);
    }
    sqlite3_finalize(q);
    return BFN_OK;
}

/* Import every run of one source. */
static int merge_one(sqlite3 *dst, sqlite3 *src, const char *path, char tables[][64], int n_tables,
                     bfn_merge_counts *c) {
    sqlite3_stmt *runs = NULL, *mine = NULL;
    int rc = BFN_OK;
    if (sqlite3_prepare_v2(src, "SELECT key, status, heartbeat FROM run ORDER BY key", -1, &runs, NULL) != SQLITE_OK)
        return sql_fail(src, path, "reading runs");
    if (sqlite3_prepare_v2(dst, "SELECT status, heartbeat FROM run WHERE key = ?1", -1, &mine, NULL) != SQLITE_OK) {
        sqlite3_finalize(runs);
        return sql_fail(dst, "target", "reading runs");
    }
    int step;
    while (rc == BFN_OK && (step = sqlite3_step(runs)) == SQLITE_ROW) {
        char key[128], status[32], beat[64];
        snprintf(key, sizeof key, "%s", (const char *)sqlite3_column_text(runs, 0));
        snprintf(status, sizeof status, "%s", sqlite3_column_text(runs, 1) ? (const char *)sqlite3_column_text(runs, 1) : "");
        snprintf(beat, sizeof beat, "%s", sqlite3_column_text(runs, 2) ? (const char *)sqlite3_column_text(runs, 2) : "");
        sqlite3_bind_text(mine, 1, key, -1, SQLITE_STATIC);
        int exists = sqlite3_step(mine) == SQLITE_ROW;
        int adopt = !exists;
        if (exists) {
            const char *ts = (const char *)sqlite3_column_text(mine, 0);
            const char *tb = (const char *)sqlite3_column_text(mine, 1);
            int rs = status_rank(status), rt = status_rank(ts);
            adopt = rs > rt || (rs == rt && rs < status_rank("finished") && strcmp(beat, tb ? tb : "") > 0);
        }
        sqlite3_reset(mine);
        long rows = 0;
        if (adopt) {
            /* Foreign keys are off for the merge (checked before commit), so
             * replacing the run row does not cascade to the target's rows. */
            long dummy = 0;
            rc = copy_rows(src, path, dst, "run", "key", key, "REPLACE", &dummy);
            if (rc == BFN_OK && exists) {
                /* The more finished copy's metrics replace the target's. */
                sqlite3_stmt *del;
                if (sqlite3_prepare_v2(dst, "DELETE FROM metric WHERE run = ?1", -1, &del, NULL) != SQLITE_OK)
                    rc = sql_fail(dst, "target", "replacing metrics");
                else {
                    sqlite3_bind_text(del, 1, key, -1, SQLITE_STATIC);
                    if (sqlite3_step(del) != SQLITE_DONE) rc = sql_fail(dst, "target", "replacing metrics");
                    sqlite3_finalize(del);
                }
            }
            for (int t = 0; t < n_tables && rc == BFN_OK; t++)
                rc = copy_rows(src, path, dst, tables[t], "run", key, "REPLACE", &rows);
            if (exists) c->runs_updated++;
            else c->runs_new++;
        } else {
            for (int t = 0; t < n_tables && rc == BFN_OK; t++)
                if (strcmp(tables[t], "metric") != 0)
                    rc = copy_rows(src, path, dst, tables[t], "run", key, "IGNORE", &rows);
            c->runs_kept++;
        }
        c->rows += rows;
    }
    if (rc == BFN_OK && step != SQLITE_DONE) rc = sql_fail(src, path, "reading runs");
    sqlite3_finalize(runs);
    sqlite3_finalize(mine);
    return rc;
}

int bfn_db_merge(bfn_db *db, int n_src, const char *const *paths, bfn_merge_counts *c) {
    memset(c, 0, sizeof *c);
    sqlite3 *dst = bfn_db_handle(db);
    BFN_TRY(bfn_db_flush(db));
    const char *dst_file = sqlite3_db_filename(dst, "main");
    struct stat dst_st;
    int have_dst = dst_file && stat(dst_file, &dst_st) == 0;
    sqlite3 **src = bfn_xcalloc((size_t)n_src + 1, sizeof *src);
    int rc = BFN_OK;
    for (int i = 0; i < n_src && rc == BFN_OK; i++) {
        struct stat st;
        if (have_dst && stat(paths[i], &st) == 0 && st.st_dev == dst_st.st_dev && st.st_ino == dst_st.st_ino)
            rc = bfn_error(BFN_EINVAL, "%s: is the target database itself", paths[i]);
        else rc = open_source(paths[i], &src[i]);
    }
    char tables[32][64];
    int n_tables = 0;
    if (rc == BFN_OK) rc = run_tables(dst, tables, 32, &n_tables);
    /* foreign_keys cannot change inside a transaction: a replaced run row is
     * written with them off (merge_one), so check them all before commit. */
    if (rc == BFN_OK) rc = exec(dst, "PRAGMA foreign_keys = OFF", "foreign keys");
    if (rc == BFN_OK) rc = exec(dst, "BEGIN IMMEDIATE", "begin write transaction");
    int in_tx = rc == BFN_OK;
    for (int i = 0; i < n_src && rc == BFN_OK; i++) {
        rc = merge_one(dst, src[i], paths[i], tables, n_tables, c);
        if (rc == BFN_OK) c->sources++;
    }
    if (rc == BFN_OK) {
        sqlite3_stmt *q;
        if (sqlite3_prepare_v2(dst, "PRAGMA foreign_key_check", -1, &q, NULL) != SQLITE_OK)
            rc = sql_fail(dst, "target", "checking foreign keys");
        else {
            if (sqlite3_step(q) == SQLITE_ROW)
                rc = bfn_error(BFN_ECORRUPT, "merge: a row of table %s refers to a missing run",
                               (const char *)sqlite3_column_text(q, 0));
            sqlite3_finalize(q);
        }
    }
    if (rc == BFN_OK) rc = exec(dst, "COMMIT", "commit");
    if (rc != BFN_OK && in_tx && !sqlite3_get_autocommit(dst)) {
        char saved[1024];
        snprintf(saved, sizeof saved, "%s", bfn_last_error());
        exec(dst, "ROLLBACK", "rollback");
        bfn_error(rc, "%s", saved);
    }
    exec(dst, "PRAGMA foreign_keys = ON", "foreign keys");
    for (int i = 0; i < n_src; i++) sqlite3_close(src[i]);
    free(src);
    return rc;
}
