/* runs.c: `bfn runs` and `bfn export`. */
#include "run/runs.h"

#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "run/config.h"
#include "util/err.h"

static int sql_fail(sqlite3 *h, const char *what) {
    return bfn_error(BFN_EDB, "%s: %s", what, sqlite3_errmsg(h));
}

int bfn_runs_list(bfn_db *db, const char *tag, FILE *out) {
    sqlite3 *h = bfn_db_handle(db);
    const char *sql =
        "SELECT r.key, r.experiment, r.profile, r.status, "
        "  (SELECT MAX(step) FROM metric m WHERE m.run = r.key AND m.name = 'train.loss'), "
        "  (SELECT MAX(step) FROM checkpoint c WHERE c.run = r.key AND c.kind = 'last'), "
        "  (SELECT printf('%.3f ± %.3f %s', total, total_se, unit) FROM eval e WHERE e.run = r.key "
        "     AND e.n = 0 AND e.split = 'test' ORDER BY ckpt_step DESC LIMIT 1), "
        "  (SELECT group_concat(tag, ',') FROM (SELECT tag FROM run_tag t WHERE t.run = r.key ORDER BY tag)) "
        "FROM run r WHERE ?1 IS NULL OR EXISTS (SELECT 1 FROM run_tag t WHERE t.run = r.key AND t.tag = ?1) "
        "ORDER BY r.started, r.key";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) return sql_fail(h, "runs");
    if (tag) sqlite3_bind_text(st, 1, tag, -1, SQLITE_TRANSIENT);
    fprintf(out, "%-16s  %-18s %-8s %-11s %8s %8s  %-28s %s\n", "run", "experiment", "profile", "status",
            "logged", "ckpt", "NLL (n=inf)", "tags");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *col[8];
        for (int i = 0; i < 8; i++) {
            col[i] = (const char *)sqlite3_column_text(st, i);
            if (!col[i]) col[i] = "-";
        }
        fprintf(out, "%-16s  %-18s %-8s %-11s %8s %8s  %-28s %s\n", col[0], col[1], col[2], col[3], col[4], col[5],
                col[6], col[7]);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? BFN_OK : sql_fail(h, "runs");
}

int bfn_runs_resolve(bfn_db *db, const char *spec, const char *profile, char key[17]) {
    sqlite3 *h = bfn_db_handle(db);
    sqlite3_stmt *st;
    if (spec[0] == '@') {
        BFN_TRY(bfn_db_newest_finished(db, spec + 1, profile, key));
        if (!key[0])
            return bfn_error(BFN_EINVAL, "no finished run of experiment '%s'%s%s (see bfn runs)", spec + 1,
                             profile ? " with profile " : "", profile ? profile : "");
        return BFN_OK;
    }
    if (sqlite3_prepare_v2(h, "SELECT key FROM run WHERE key LIKE ?1 || '%'", -1, &st, NULL) != SQLITE_OK)
        return sql_fail(h, "resolve run");
    sqlite3_bind_text(st, 1, spec, -1, SQLITE_TRANSIENT);
    int found = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (found++ == 0) snprintf(key, 17, "%s", (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    if (found == 0) return bfn_error(BFN_EINVAL, "no run matches '%s' (see bfn runs)", spec);
    if (found > 1) return bfn_error(BFN_EINVAL, "'%s' matches %d runs; give more of the key", spec, found);
    return BFN_OK;
}

/* One cell: as is for TSV (values never hold tabs or newlines); for CSV
 * quoted when it holds a comma, quote or newline (RFC 4180). */
static void put_cell(FILE *out, const char *v, int csv) {
    if (!csv || !strpbrk(v, ",\"\n\r")) {
        fputs(v, out);
        return;
    }
    fputc('"', out);
    for (const char *p = v; *p; p++) {
        if (*p == '"') fputc('"', out);
        fputc(*p, out);
    }
    fputc('"', out);
}

int bfn_runs_export(bfn_db *db, const char *run, const char *profile, const char *what, int csv, FILE *out) {
    char key[17];
    BFN_TRY(bfn_runs_resolve(db, run, profile, key));
    const char *sql;
    if (strcmp(what, "metric") == 0)
        sql = "SELECT name, step, "
              "CASE kind WHEN 0 THEN value WHEN 1 THEN 'nan' WHEN 2 THEN 'inf' ELSE '-inf' END AS value "
              "FROM metric WHERE run = ?1 ORDER BY name, step";
    else if (strcmp(what, "eval") == 0)
        sql = "SELECT ckpt_step, split, CASE n WHEN 0 THEN 'inf' ELSE n END AS n, repeats, loss, loss_se, recon, "
              "recon_se, total, total_se, unit, eval_seed, receiver_floor "
              "FROM eval WHERE run = ?1 ORDER BY ckpt_step, split, eval.n = 0, eval.n";
    else if (strcmp(what, "curve") == 0)
        sql = "SELECT ckpt_step, name, bin, t, value, se FROM curve WHERE run = ?1 ORDER BY ckpt_step, name, bin";
    else if (strcmp(what, "losscurve") == 0)
        /* The losses-against-time figure: L^inf(t), its running integral
         * (midpoint rule over the equal-width bins, up to each bin's right
         * edge), L^r at t, and integral + L^r = the total loss if transmission
         * stopped at t. Latest checkpoint only. */
        sql = "WITH c AS (SELECT * FROM curve WHERE run = ?1 AND ckpt_step = "
              "  (SELECT MAX(ckpt_step) FROM curve WHERE run = ?1)), "
              "nb AS (SELECT COUNT(*) AS n FROM c WHERE name = 'linf'), "
              "l AS (SELECT bin, t, value, se, SUM(value) OVER (ORDER BY bin) / (SELECT n FROM nb) AS cum "
              "  FROM c WHERE name = 'linf') "
              "SELECT l.t, l.value AS linf, l.se AS linf_se, l.cum AS linf_integral, r.value AS recon, "
              "  r.se AS recon_se, l.cum + r.value AS total FROM l JOIN c r ON r.name = 'recon' AND r.bin = l.bin "
              "ORDER BY l.bin";
    else
        return bfn_error(BFN_EINVAL, "export: '%s' is not metric, eval, curve or losscurve", what);
    sqlite3 *h = bfn_db_handle(db);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) return sql_fail(h, "export");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    int cols = sqlite3_column_count(st), rc;
    const char *sep = csv ? "," : "\t";
    for (int i = 0; i < cols; i++) {
        put_cell(out, sqlite3_column_name(st, i), csv);
        fputs(i + 1 < cols ? sep : "\n", out);
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < cols; i++) {
            const char *v = (const char *)sqlite3_column_text(st, i);
            put_cell(out, v ? v : "", csv);
            fputs(i + 1 < cols ? sep : "\n", out);
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? BFN_OK : sql_fail(h, "export");
}

int bfn_runs_load_config(bfn_db *db, const char *spec, const char *profile, int n_over, char *const *over,
                         bfn_config **out) {
    sqlite3 *h = bfn_db_handle(db);
    char key[17];
    sqlite3_stmt *st;
    BFN_TRY(bfn_runs_resolve(db, spec, profile, key));
    if (sqlite3_prepare_v2(h, "SELECT config FROM run WHERE key = ?1", -1, &st, NULL) != SQLITE_OK)
        return sql_fail(h, "run config");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    int rc = BFN_EDB;
    if (sqlite3_step(st) == SQLITE_ROW) {
        char origin[64];
        snprintf(origin, sizeof origin, "run %s", key);
        rc = bfn_config_from_text(out, (const char *)sqlite3_column_text(st, 0), origin);
    }
    sqlite3_finalize(st);
    char before[17] = "", after[17] = "";
    if (rc == BFN_OK) bfn_config_settings_key(*out, before);
    if (rc == BFN_OK && (rc = bfn_config_override(*out, n_over, over)) != BFN_OK) bfn_config_free(*out);
    /* A run stored under an older key definition keeps its key while the
     * overrides leave the settings of the key alone. */
    if (rc == BFN_OK) bfn_config_settings_key(*out, after);
    if (rc == BFN_OK && strcmp(before, key) != 0 && strcmp(before, after) == 0) bfn_config_force_run_key(*out, key);
    return rc;
}

/* Text of column 0 of the first row of `sql` bound to key, or "" (static). */
static const char *run_text(sqlite3 *h, const char *sql, const char *key, char *buf, size_t n) {
    sqlite3_stmt *st;
    buf[0] = '\0';
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) return buf;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(buf, n, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return buf;
}

/* Next "key = value" line of a canonical config text, or NULL at the end. */
static const char *next_line(const char *p, char *line, size_t n) {
    if (!p || !*p) return NULL;
    size_t len = strcspn(p, "\n");
    snprintf(line, n, "%.*s", (int)(len < n ? len : n - 1), p);
    return p[len] ? p + len + 1 : p + len;
}

/* Rows (label, value for run a, value for run b) of `sql` with ?1 = a, ?2 = b. */
static int print_side_by_side(sqlite3 *h, const char *a, const char *b, FILE *out, const char *sql) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) return sql_fail(h, "diff");
    sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *x = (const char *)sqlite3_column_text(st, 1), *y = (const char *)sqlite3_column_text(st, 2);
        fprintf(out, "  %-40s | %-24s | %s\n", (const char *)sqlite3_column_text(st, 0), x ? x : "-", y ? y : "-");
    }
    sqlite3_finalize(st);
    return BFN_OK;
}

int bfn_runs_diff(bfn_db *db, const char *a, const char *b, const char *profile, FILE *out) {
    char ka[17], kb[17];
    BFN_TRY(bfn_runs_resolve(db, a, profile, ka));
    BFN_TRY(bfn_runs_resolve(db, b, profile, kb));
    sqlite3 *h = bfn_db_handle(db);
    static char ca[65536], cb[65536];
    run_text(h, "SELECT config FROM run WHERE key = ?1", ka, ca, sizeof ca);
    run_text(h, "SELECT config FROM run WHERE key = ?1", kb, cb, sizeof cb);
    /* Canonical configs list every key in the same order, so a line-by-line
     * walk finds every difference. */
    fprintf(out, "config differences (%s | %s):\n", ka, kb);
    const char *pa = ca, *pb = cb;
    char la[1024], lb[1024];
    int diffs = 0;
    while ((pa = next_line(pa, la, sizeof la)) && (pb = next_line(pb, lb, sizeof lb))) {
        if (strcmp(la, lb) == 0) continue;
        char *eq = strstr(lb, " = ");
        fprintf(out, "  %-40s | %s\n", la, eq ? eq + 3 : lb);
        diffs++;
    }
    if (!diffs) fprintf(out, "  (none)\n");
    fprintf(out, "final metrics (%s | %s):\n", ka, kb);
    BFN_TRY(print_side_by_side(h, ka, kb, out,
                               "SELECT name, "
                               " (SELECT value FROM metric m WHERE m.run = ?1 AND m.name = n.name "
                               "    ORDER BY step DESC LIMIT 1),"
                               " (SELECT value FROM metric m WHERE m.run = ?2 AND m.name = n.name "
                               "    ORDER BY step DESC LIMIT 1)"
                               " FROM (SELECT DISTINCT name FROM metric WHERE run IN (?1, ?2)) n ORDER BY name"));
    fprintf(out, "test NLL by n (%s | %s):\n", ka, kb);
    BFN_TRY(print_side_by_side(
        h, ka, kb, out,
        "SELECT CASE n WHEN 0 THEN 'n=inf' ELSE 'n=' || n END,"
        " (SELECT printf('%.4f ± %.4f %s', total, total_se, unit) FROM eval e WHERE e.run = ?1 AND "
        "  e.n = x.n AND e.split = 'test' ORDER BY ckpt_step DESC LIMIT 1),"
        " (SELECT printf('%.4f ± %.4f %s', total, total_se, unit) FROM eval e WHERE e.run = ?2 AND "
        "  e.n = x.n AND e.split = 'test' ORDER BY ckpt_step DESC LIMIT 1)"
        " FROM (SELECT DISTINCT n FROM eval WHERE run IN (?1, ?2) AND split = 'test') x ORDER BY n = 0, n"));
    return BFN_OK;
}

/* Fill run.config_json where it is missing (runs recorded before the
 * column existed), from the stored config text. */
static int backfill_config_json(sqlite3 *h) {
    sqlite3_stmt *st, *up;
    if (sqlite3_prepare_v2(h, "SELECT key, config FROM run WHERE config_json IS NULL", -1, &st, NULL) != SQLITE_OK)
        return sql_fail(h, "run config_json");
    if (sqlite3_prepare_v2(h, "UPDATE run SET config_json = ?2 WHERE key = ?1", -1, &up, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return sql_fail(h, "run config_json");
    }
    int rc = BFN_OK;
    while (rc == BFN_OK && sqlite3_step(st) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        bfn_config *c;
        if (!k || bfn_config_from_text(&c, (const char *)sqlite3_column_text(st, 1), k) != BFN_OK) {
            bfn_clear_error(); /* an unreadable old config stays without JSON */
            continue;
        }
        char *json = bfn_config_json(c);
        bfn_config_free(c);
        sqlite3_bind_text(up, 1, k, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(up, 2, json, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(up) != SQLITE_DONE) rc = sql_fail(h, "run config_json");
        sqlite3_reset(up);
        free(json);
    }
    sqlite3_finalize(st);
    sqlite3_finalize(up);
    return rc;
}

int bfn_runs_config_view(bfn_db *db) {
    sqlite3 *h = bfn_db_handle(db);
    /* CREATE VIEW run_config AS SELECT key, experiment, profile, status,
     *   json_extract(config_json, '$."train.lr"') AS train_lr, ... FROM run */
    size_t cap = 16384, len = 0;
    char *sql = bfn_xmalloc(cap);
    len += (size_t)snprintf(sql, cap, "CREATE VIEW run_config AS SELECT key, experiment, profile, status");
    for (int i = 0; i < bfn_config_n_keys(); i++) {
        const char *k = bfn_config_key_name(i);
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
    long missing = 0;
    if (sqlite3_prepare_v2(h, "SELECT COUNT(*) FROM run WHERE config_json IS NULL", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) missing = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    if (missing > 0) {
        rc = sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? backfill_config_json(h)
                                                                              : sql_fail(h, "begin");
        sqlite3_exec(h, rc == BFN_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    }
    if (rc == BFN_OK && !same) {
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
