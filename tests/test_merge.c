/* test_merge.c: bfn_db_merge (store/merge.h): new runs copied with every
 * row, idempotence, a finished run never replaced by a less finished one,
 * a more finished copy replacing an unfinished one, stored evaluations
 * carried intact, mismatched schema versions and foreign files refused
 * with nothing changed. */
#include "testutil.h"

#include <sqlite3.h>

#include "store/db.h"
#include "store/merge.h"

static char dir[256];

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "%s", test_tmpdir());
    return 0;
}

/* A database at DIR/name with one run `key` in `status`, metrics at steps
 * 10..steps, one evaluation at n and one curve point and checkpoint. */
static void make_db(const char *name, const char *key, const char *status, int steps, int n, double value) {
    bfn_db *db;
    assert_int_equal(bfn_db_open(test_path_in(dir, name), &db), BFN_OK);
    bfn_run_info info = {.key = key, .experiment = "e", .profile = "p", .config = "cfg", .seed = 1, .threads = 1};
    char st[32];
    assert_int_equal(bfn_db_run_register(db, &info, st, sizeof st), BFN_OK);
    for (int s = 10; s <= steps; s += 10) assert_int_equal(bfn_db_metric(db, key, "train.loss", s, value + s), BFN_OK);
    assert_int_equal(bfn_db_flush(db), BFN_OK);
    bfn_eval_row e = {.key = key, .ckpt_step = steps, .split = "test", .n = n, .repeats = 2, .loss = value,
                      .loss_se = 0.1, .recon = 0.5, .recon_se = 0.01, .total = value + 0.5, .total_se = 0.2,
                      .unit = "bits/dim", .scale = 1.4426950408889634};
    assert_int_equal(bfn_db_eval(db, &e), BFN_OK);
    assert_int_equal(bfn_db_curve(db, key, steps, "linf", 0, 0.25, value, 0.01, 1, "official"), BFN_OK);
    assert_int_equal(bfn_db_checkpoint(db, key, steps, "results/runs/x/last.h5", "abc", "last"), BFN_OK);
    assert_int_equal(bfn_db_run_set_status(db, key, status, NULL), BFN_OK);
    bfn_db_close(db);
}

/* Every row of the tables that matter, as text (values printed exactly). */
static char *dump(const char *name) {
    sqlite3 *h;
    assert_int_equal(sqlite3_open_v2(test_path_in(dir, name), &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    const char *sql[] = {"SELECT key, status, config FROM run ORDER BY key",
                         "SELECT run, name, step, printf('%.17g', value), kind FROM metric ORDER BY 1, 2, 3",
                         "SELECT run, ckpt_step, split, n, repeats, printf('%.17g|%.17g|%.17g|%.17g|%.17g|%.17g|%.17g', "
                         "loss, loss_se, recon, recon_se, total, total_se, scale), unit FROM eval ORDER BY 1, 2, 3, 4",
                         "SELECT run, ckpt_step, name, bin, printf('%.17g %.17g %.17g', t, value, se) FROM curve "
                         "ORDER BY 1, 2, 3, 4",
                         "SELECT run, step, kind, path, sha256 FROM checkpoint ORDER BY 1, 2, 3"};
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(1, cap);
    for (size_t q = 0; q < sizeof sql / sizeof sql[0]; q++) {
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(h, sql[q], -1, &st, NULL), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW)
            for (int i = 0; i < sqlite3_column_count(st); i++) {
                const char *t = (const char *)sqlite3_column_text(st, i);
                len += (size_t)snprintf(out + len, cap - len, "%s%c", t ? t : "NULL",
                                        i + 1 < sqlite3_column_count(st) ? '\t' : '\n');
            }
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return out;
}

static long count(const char *name, const char *sql) {
    sqlite3 *h;
    assert_int_equal(sqlite3_open_v2(test_path_in(dir, name), &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    long v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static int merge(const char *target, int n, const char **names, bfn_merge_counts *c) {
    const char *paths[8];
    char buf[8][512];
    for (int i = 0; i < n; i++) {
        snprintf(buf[i], sizeof buf[i], "%s/%s", dir, names[i]);
        paths[i] = buf[i];
    }
    bfn_db *db;
    assert_int_equal(bfn_db_open(test_path_in(dir, target), &db), BFN_OK);
    int rc = bfn_db_merge(db, n, paths, c);
    bfn_db_close(db);
    return rc;
}

/* Two per-task databases into an empty one: every row arrives exactly, and
 * merging again writes nothing. */
static void test_merge_new_and_idempotent(void **state) {
    (void)state;
    make_db("a1.db", "aaaa000000000001", "finished", 50, 0, 1.25);
    make_db("a2.db", "aaaa000000000002", "finished", 30, 10, 2.5);
    bfn_merge_counts c;
    const char *src[] = {"a1.db", "a2.db"};
    assert_int_equal(merge("main_a.db", 2, src, &c), BFN_OK);
    assert_int_equal(c.sources, 2);
    assert_int_equal(c.runs_new, 2);
    assert_int_equal(c.rows, 5 + 1 + 1 + 1 + 3 + 1 + 1 + 1);
    char *once = dump("main_a.db");
    char *s1 = dump("a1.db"), *s2 = dump("a2.db");
    /* Each source's rows appear in the target unchanged. */
    for (char *s = s1; s && *s;) {
        char *nl = strchr(s, '\n');
        *nl = '\0';
        if (!strstr(once, s)) {
            print_error("missing row: %s\n", s);
            fail();
        }
        s = nl + 1;
    }
    assert_non_null(strstr(once, "aaaa000000000002\t30\ttest\t10\t2\t"));
    assert_int_equal(merge("main_a.db", 2, src, &c), BFN_OK);
    assert_int_equal(c.runs_new + c.runs_updated, 0);
    assert_int_equal(c.rows, 0);
    char *twice = dump("main_a.db");
    assert_string_equal(once, twice);
    free(once), free(twice), free(s1), free(s2);
}

/* A finished run is never replaced by an interrupted copy (its metrics
 * stay; evaluations the target lacks are added); an interrupted run is
 * replaced by a finished copy, metrics included. */
static void test_merge_finished_wins(void **state) {
    (void)state;
    make_db("f_main.db", "bbbb000000000001", "finished", 50, 0, 1.0);
    make_db("f_int.db", "bbbb000000000001", "interrupted", 20, 25, 9.0);
    bfn_merge_counts c;
    const char *s1[] = {"f_int.db"};
    assert_int_equal(merge("f_main.db", 1, s1, &c), BFN_OK);
    assert_int_equal(c.runs_kept, 1);
    assert_int_equal(count("f_main.db", "SELECT COUNT(*) FROM run WHERE status = 'finished'"), 1);
    assert_int_equal(count("f_main.db", "SELECT MAX(step) FROM metric"), 50);
    assert_int_equal(count("f_main.db", "SELECT COUNT(*) FROM metric WHERE step = 10 AND value = 11"), 1);
    assert_int_equal(count("f_main.db", "SELECT COUNT(*) FROM eval"), 2); /* its own n=inf, plus n=25 at step 20 */
    make_db("g_main.db", "cccc000000000001", "interrupted", 20, 0, 9.0);
    make_db("g_fin.db", "cccc000000000001", "finished", 50, 0, 1.0);
    const char *s2[] = {"g_fin.db"};
    assert_int_equal(merge("g_main.db", 1, s2, &c), BFN_OK);
    assert_int_equal(c.runs_updated, 1);
    assert_int_equal(count("g_main.db", "SELECT COUNT(*) FROM run WHERE status = 'finished'"), 1);
    assert_int_equal(count("g_main.db", "SELECT COUNT(*) FROM metric"), 5);
    assert_int_equal(count("g_main.db", "SELECT COUNT(*) FROM metric WHERE step = 10 AND value = 11"), 1);
    assert_int_equal(count("g_main.db", "PRAGMA foreign_key_check"), -1); /* no dangling rows */
}

/* A source of another schema version, or not a bfn database, is refused
 * and nothing from the other sources is merged. */
static void test_merge_refuses(void **state) {
    (void)state;
    make_db("r_ok.db", "dddd000000000001", "finished", 20, 0, 1.0);
    make_db("r_new.db", "dddd000000000002", "finished", 20, 0, 1.0);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(test_path_in(dir, "r_new.db"), &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "UPDATE schema_version SET version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    test_write_file(test_path_in(dir, "r_text.db"), "hello", 5);
    bfn_merge_counts c;
    const char *bad1[] = {"r_ok.db", "r_new.db"};
    assert_int_equal(merge("r_main.db", 2, bad1, &c), BFN_EDB);
    assert_non_null(strstr(bfn_last_error(), "schema version 99"));
    const char *bad2[] = {"r_ok.db", "r_text.db"};
    assert_int_not_equal(merge("r_main.db", 2, bad2, &c), BFN_OK);
    const char *bad3[] = {"r_ok.db", "missing.db"};
    assert_int_not_equal(merge("r_main.db", 2, bad3, &c), BFN_OK);
    const char *self[] = {"r_main.db"};
    assert_int_not_equal(merge("r_main.db", 1, self, &c), BFN_OK);
    assert_int_equal(count("r_main.db", "SELECT COUNT(*) FROM run"), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_new_and_idempotent),
        cmocka_unit_test(test_merge_finished_wins),
        cmocka_unit_test(test_merge_refuses),
    };
    return cmocka_run_group_tests_name("merge", tests, setup, NULL);
}
