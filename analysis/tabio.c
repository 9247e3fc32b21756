/* tabio.c: shared helpers of the table generators. */
#include "analysis/tabio.h"

#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "run/config.h"
#include "util/err.h"

int tab_split(char *line, char **f, int max) {
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *p = line; n < max;) {
        f[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab) break;
        *tab = '\0';
        p = tab + 1;
    }
    return n;
}

void tab_latex_escape(FILE *f, const char *s) {
    for (; *s; s++) {
        if (strchr("&%$#_{}", *s)) fputc('\\', f);
        fputc(*s, f);
    }
}

int tab_write_atomic(const char *path, int (*writer)(const void *ctx, FILE *f), const void *ctx) {
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return bfn_error(BFN_EIO, "%s: cannot write", tmp);
    int rc = writer(ctx, f);
    if (ferror(f) && rc == BFN_OK) rc = bfn_error(BFN_EIO, "%s: write failed", tmp);
    if (fclose(f) != 0 && rc == BFN_OK) rc = bfn_error(BFN_EIO, "%s: write failed", tmp);
    if (rc == BFN_OK && rename(tmp, path) != 0) rc = bfn_error(BFN_EIO, "%s: cannot rename", path);
    if (rc != BFN_OK) remove(tmp);
    return rc;
}

void tab_tex_path(const char *md, char *out, size_t n) {
    snprintf(out, n, "%s", md);
    char *dot = strrchr(out, '.');
    if (dot && strcmp(dot, ".md") == 0) *dot = '\0';
    size_t len = strlen(out);
    snprintf(out + len, n - len, ".tex");
}

/* Value of `key = ` in a canonical config text. */
static void config_value(const char *text, const char *key, char *out, size_t n) {
    out[0] = '\0';
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, key, kl) == 0 && strncmp(p + kl, " = ", 3) == 0) {
            const char *v = p + kl + 3;
            size_t len = strcspn(v, "\n");
            snprintf(out, n, "%.*s", (int)(len < n ? len : n - 1), v);
            return;
        }
    }
}

int tab_find_run(bfn_db *db, const char *experiment, const char *profile, tab_run *out) {
    /* The run `@experiment` means everywhere (bfn_db_newest_finished); a
     * table shows it once it has been evaluated. */
    char key[17];
    BFN_TRY(bfn_db_newest_finished(db, experiment, profile, key));
    if (!key[0]) return 0;
    sqlite3 *h = bfn_db_handle(db);
    sqlite3_stmt *st;
    const char *sql = "SELECT key, profile, config FROM run WHERE key = ?1 AND EXISTS (SELECT 1 FROM eval e "
                      "WHERE e.run = key)";
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
        return bfn_error(BFN_EDB, "table: %s", sqlite3_errmsg(h));
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found) {
        snprintf(out->key, sizeof out->key, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(out->profile, sizeof out->profile, "%s", (const char *)sqlite3_column_text(st, 1));
        config_value((const char *)sqlite3_column_text(st, 2), "data.dataset", out->dataset, sizeof out->dataset);
    }
    sqlite3_finalize(st);
    return found;
}

/* Replicate key (run key without train.seed) of a stored config text; 0 if unreadable. */
static int replicate_key_of(const char *text, const char *origin, char out[17]) {
    bfn_config *c;
    if (!text || bfn_config_from_text(&c, text, origin) != BFN_OK) {
        bfn_clear_error();
        return 0;
    }
    bfn_config_replicate_key(c, out);
    bfn_config_free(c);
    return 1;
}

int tab_find_replicates(bfn_db *db, const char *experiment, const char *profile, const char *key, char keys[][17],
                        int max) {
    sqlite3 *h = bfn_db_handle(db);
    sqlite3_stmt *st;
    char want[17] = "";
    if (sqlite3_prepare_v2(h, "SELECT config FROM run WHERE key = ?1", -1, &st, NULL) != SQLITE_OK)
        return bfn_error(BFN_EDB, "table: %s", sqlite3_errmsg(h));
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    int ok = sqlite3_step(st) == SQLITE_ROW && replicate_key_of((const char *)sqlite3_column_text(st, 0), key, want);
    sqlite3_finalize(st);
    if (!ok) return 0;
    const char *sql = "SELECT key, config FROM run WHERE (experiment = ?1 OR key IN (SELECT run FROM run_history "
                      "WHERE event = 'alias' AND detail = ?1)) AND status = 'finished' "
                      "AND (?2 IS NULL OR profile = ?2) AND EXISTS (SELECT 1 FROM eval e WHERE e.run = key) "
                      "ORDER BY key";
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
        return bfn_error(BFN_EDB, "table: %s", sqlite3_errmsg(h));
    sqlite3_bind_text(st, 1, experiment, -1, SQLITE_TRANSIENT);
    if (profile) sqlite3_bind_text(st, 2, profile, -1, SQLITE_TRANSIENT);
    int n = 0;
    while (n < max && sqlite3_step(st) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        char rk[17];
        if (k && replicate_key_of((const char *)sqlite3_column_text(st, 1), k, rk) && strcmp(rk, want) == 0)
            snprintf(keys[n++], 17, "%s", k);
    }
    sqlite3_finalize(st);
    return n;
}
