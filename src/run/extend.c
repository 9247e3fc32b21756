/* extend.c: continue a finished run to more steps (see extend.h). */
#include "run/extend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "run/setup.h"
#include "run/spec.h"
#include "store/ckpt.h"
#include "util/err.h"

/* train.steps of a resolved config. */
static long train_steps(const bfn_config *c) {
    bfn_spec s;
    bfn_spec_resolve(&s, c);
    return s.train.steps;
}

int bfn_extend_find(bfn_db *db, const bfn_config *cfg, char from[17], long *from_steps) {
    char base[17], key[17];
    bfn_config_base_key(cfg, base);
    bfn_config_run_key(cfg, key);
    const long want = train_steps(cfg);
    sqlite3 *h = bfn_db_handle(db);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h, "SELECT key, config FROM run WHERE status = 'finished' ORDER BY key", -1, &st, NULL) !=
        SQLITE_OK)
        return bfn_error(BFN_EDB, "finding the run to extend: %s", sqlite3_errmsg(h));
    int found = 0;
    *from_steps = -1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0), *text = (const char *)sqlite3_column_text(st, 1);
        bfn_config *c;
        if (!k || !text || strcmp(k, key) == 0 || bfn_config_from_text(&c, text, k) != BFN_OK) continue;
        char b[17];
        bfn_config_base_key(c, b);
        long steps = train_steps(c);
        bfn_config_free(c);
        if (strcmp(b, base) == 0 && steps < want && steps > *from_steps) {
            snprintf(from, 17, "%s", k);
            *from_steps = steps;
            found = 1;
        }
    }
    sqlite3_finalize(st);
    bfn_clear_error();
    return found;
}

/* Copy a file to dst (through dst.tmp, renamed). */
static int copy_file(const char *src, const char *dst) {
    FILE *in = fopen(src, "rb");
    if (!in) return bfn_error(BFN_EIO, "%s: cannot open", src);
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", dst);
    FILE *out = fopen(tmp, "wb");
    if (!out) {
        fclose(in);
        return bfn_error(BFN_EIO, "%s: cannot create", tmp);
    }
    char buf[1 << 16];
    size_t n;
    int rc = BFN_OK;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) rc = bfn_error(BFN_EIO, "%s: write failed", tmp);
    if (ferror(in)) rc = bfn_error(BFN_EIO, "%s: read failed", src);
    fclose(in);
    if (fclose(out) != 0 && rc == BFN_OK) rc = bfn_error(BFN_EIO, "%s: write failed", tmp);
    if (rc == BFN_OK && rename(tmp, dst) != 0) rc = bfn_error(BFN_EIO, "%s: cannot rename to %s", tmp, dst);
    if (rc != BFN_OK) unlink(tmp);
    return rc;
}

int bfn_extend_seed(bfn_db *db, const char *key, const char *from, long from_steps, long steps) {
    /* Checkpoint files: last (required) and best (if any). */
    static const char *const kinds[] = {"last", "best"};
    for (int i = 0; i < 2; i++) {
        char src[1024], dst[1024];
        bfn_ckpt_path(from, kinds[i], src, sizeof src);
        bfn_ckpt_path(key, kinds[i], dst, sizeof dst);
        if (access(src, F_OK) != 0) {
            if (i == 0) return bfn_error(BFN_EIO, "%s: run %s has no last checkpoint to extend", src, from);
            continue;
        }
        BFN_TRY(copy_file(src, dst));
        char sha[65];
        BFN_TRY(bfn_file_sha256(dst, sha));
        sqlite3 *h = bfn_db_handle(db);
        sqlite3_stmt *st;
        long step = -1;
        if (sqlite3_prepare_v2(h, "SELECT MAX(step) FROM checkpoint WHERE run = ?1 AND kind = ?2", -1, &st, NULL) ==
            SQLITE_OK) {
            sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, kinds[i], -1, SQLITE_STATIC);
            if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
                step = sqlite3_column_int64(st, 0);
            sqlite3_finalize(st);
        }
        if (step >= 0) BFN_TRY(bfn_db_checkpoint(db, key, step, dst, sha, kinds[i]));
    }
    /* Metric rows up to the copied checkpoint: the new run's curves start where
     * the old one's do. */
    sqlite3 *h = bfn_db_handle(db);
    char *msg = NULL;
    char *sql = sqlite3_mprintf("BEGIN IMMEDIATE; INSERT OR REPLACE INTO metric(run, name, step, value, kind) "
                                "SELECT %Q, name, step, value, kind FROM metric WHERE run = %Q; COMMIT;",
                                key, from);
    int rc = sqlite3_exec(h, sql, NULL, NULL, &msg) == SQLITE_OK ? BFN_OK
             : bfn_error(BFN_EDB, "copying the metrics of run %s: %s", from, msg ? msg : "?");
    if (rc != BFN_OK) sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_free(msg);
    sqlite3_free(sql);
    BFN_TRY(rc);
    char detail[256];
    snprintf(detail, sizeof detail, "from run %s (train.steps %ld -> %ld)", from, from_steps, steps);
    BFN_TRY(bfn_db_run_history(db, key, "extend", detail));
    snprintf(detail, sizeof detail, "continued as run %s (train.steps %ld -> %ld)", key, from_steps, steps);
    return bfn_db_run_history(db, from, "extended", detail);
}
