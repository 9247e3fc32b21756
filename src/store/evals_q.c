/* evals_q.c: reading evaluations and curves (see evals_q.h). */
#include "store/evals_q.h"

#include <stdio.h>

#include "store/query.h"
#include "util/err.h"

int bfn_q_eval_stored(bfn_db *db, const char *key, long step, int n, int repeats, long eval_seed,
                      const char *receiver_floor, const char *ckpt_sha256) {
    sqlite3_stmt *st;
    const char *sql = "SELECT 1 FROM eval WHERE run = ?1 AND ckpt_step = ?2 AND split = 'test' AND n = ?3 "
                      "AND repeats = ?4 AND eval_seed = ?5 AND receiver_floor = ?6 AND ckpt_sha256 = ?7";
    if (bfn_q_prepare(db, sql, &st, "stored evaluations") != BFN_OK) {
        bfn_clear_error(); /* unreadable: evaluate again */
        return 0;
    }
    bfn_q_bind_text(st, 1, key);
    sqlite3_bind_int64(st, 2, step);
    sqlite3_bind_int(st, 3, n);
    sqlite3_bind_int(st, 4, repeats);
    sqlite3_bind_int64(st, 5, eval_seed);
    bfn_q_bind_text(st, 6, receiver_floor);
    bfn_q_bind_text(st, 7, ckpt_sha256);
    int found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

int bfn_q_curve_stored(bfn_db *db, const char *key, long step, int bins, long eval_seed, const char *receiver_floor) {
    sqlite3_stmt *st;
    const char *sql = "SELECT COUNT(*) FROM curve WHERE run = ?1 AND ckpt_step = ?2 AND eval_seed = ?3 "
                      "AND receiver_floor = ?4 AND name IN ('linf', 'recon') AND bin < ?5";
    if (bfn_q_prepare(db, sql, &st, "stored curves") != BFN_OK) {
        bfn_clear_error();
        return 0;
    }
    bfn_q_bind_text(st, 1, key);
    sqlite3_bind_int64(st, 2, step);
    sqlite3_bind_int64(st, 3, eval_seed);
    bfn_q_bind_text(st, 4, receiver_floor);
    sqlite3_bind_int(st, 5, bins);
    long count = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return count == 2L * bins;
}

/* Row of columns (n, total, total_se, unit, ckpt_step, repeats, eval_seed, receiver_floor). */
static void eval_from_row(sqlite3_stmt *st, bfn_q_eval *r) {
    r->n = sqlite3_column_int(st, 0);
    r->total = sqlite3_column_double(st, 1);
    r->total_se = sqlite3_column_double(st, 2);
    r->unit = bfn_q_text(st, 3);
    r->ckpt_step = (long)sqlite3_column_int64(st, 4);
    r->repeats = sqlite3_column_int(st, 5);
    r->has_seed = sqlite3_column_type(st, 6) != SQLITE_NULL;
    r->eval_seed = (long)sqlite3_column_int64(st, 6);
    r->receiver_floor = bfn_q_text(st, 7);
}

/* Every row of sql (?1 = key, columns as eval_from_row) to fn. */
static int each_eval(bfn_db *db, const char *sql, const char *key, int (*fn)(void *ctx, const bfn_q_eval *row),
                     void *ctx, const char *what) {
    sqlite3_stmt *st;
    BFN_TRY(bfn_q_prepare(db, sql, &st, what));
    bfn_q_bind_text(st, 1, key);
    int rc, ret = BFN_OK;
    while (ret == BFN_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        bfn_q_eval r;
        eval_from_row(st, &r);
        ret = fn(ctx, &r);
    }
    if (ret == BFN_OK && rc != SQLITE_DONE) ret = bfn_q_fail(db, what);
    sqlite3_finalize(st);
    return ret;
}

int bfn_q_test_evals_newest_ckpt(bfn_db *db, const char *key, int (*fn)(void *ctx, const bfn_q_eval *row),
                                 void *ctx) {
    return each_eval(db,
                     "SELECT n, total, total_se, unit, ckpt_step, repeats, eval_seed, receiver_floor FROM eval "
                     "WHERE run = ?1 AND split = 'test' "
                     "AND ckpt_step = (SELECT MAX(ckpt_step) FROM eval WHERE run = ?1 AND split = 'test')",
                     key, fn, ctx, "table");
}

int bfn_q_test_nll_by_n(bfn_db *db, const char *key, int (*fn)(void *ctx, const bfn_q_eval *row), void *ctx) {
    return each_eval(db,
                     "SELECT e.n, e.total, e.total_se, e.unit, e.ckpt_step, e.repeats, NULL, NULL "
                     "FROM eval_latest e WHERE e.run = ?1 AND e.split = 'test' ORDER BY e.n = 0, e.n",
                     key, fn, ctx, "NLL by n");
}

int bfn_q_test_eval_inf(bfn_db *db, const char *key, bfn_q_eval *row, char *unit, int unit_size) {
    sqlite3_stmt *st;
    BFN_TRY(bfn_q_prepare(db,
                          "SELECT 0, total, total_se, unit, ckpt_step, repeats, eval_seed, receiver_floor FROM eval "
                          "WHERE run = ?1 AND split = 'test' AND n = 0 ORDER BY ckpt_step DESC LIMIT 1",
                          &st, "table"));
    bfn_q_bind_text(st, 1, key);
    int rc = sqlite3_step(st), ret = 0;
    if (rc == SQLITE_ROW) {
        eval_from_row(st, row);
        snprintf(unit, (size_t)unit_size, "%s", row->unit ? row->unit : "(null)");
        row->unit = unit;
        row->receiver_floor = NULL;
        ret = 1;
    } else if (rc != SQLITE_DONE) {
        ret = bfn_q_fail(db, "table");
    }
    sqlite3_finalize(st);
    return ret;
}

int bfn_q_linf_curve(bfn_db *db, const char *key, int (*fn)(void *ctx, double t, double value), void *ctx) {
    sqlite3_stmt *st;
    BFN_TRY(bfn_q_prepare(db,
                          "SELECT t, value FROM curve WHERE run = ?1 AND name = 'linf' AND ckpt_step = "
                          "(SELECT MAX(ckpt_step) FROM curve WHERE run = ?1) ORDER BY bin",
                          &st, "loss curve"));
    bfn_q_bind_text(st, 1, key);
    int rc, ret = BFN_OK;
    while (ret == BFN_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        ret = fn(ctx, sqlite3_column_double(st, 0), sqlite3_column_double(st, 1));
    if (ret == BFN_OK && rc != SQLITE_DONE) ret = bfn_q_fail(db, "loss curve");
    sqlite3_finalize(st);
    return ret;
}

int bfn_q_diff_nll(bfn_db *db, const char *a, const char *b,
                   int (*fn)(void *ctx, const char *label, const char *va, const char *vb), void *ctx) {
    const char *sql =
        "SELECT CASE n WHEN 0 THEN 'n=inf' ELSE 'n=' || n END,"
        " (SELECT printf('%.4f ± %.4f %s', total, total_se, unit) FROM eval e WHERE e.run = ?1 AND "
        "  e.n = x.n AND e.split = 'test' ORDER BY ckpt_step DESC LIMIT 1),"
        " (SELECT printf('%.4f ± %.4f %s', total, total_se, unit) FROM eval e WHERE e.run = ?2 AND "
        "  e.n = x.n AND e.split = 'test' ORDER BY ckpt_step DESC LIMIT 1)"
        " FROM (SELECT DISTINCT n FROM eval WHERE run IN (?1, ?2) AND split = 'test') x ORDER BY n = 0, n";
    return bfn_q_each_pair_row(db, sql, a, b, fn, ctx);
}
