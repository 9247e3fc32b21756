/* test_report_diag.c: the one-line diagnostic `bfn table` prints under a
 * table when a column's L^n rises with n or sits far above L^inf at the
 * largest n, computed from the stored eval rows (analysis/report.c); and a
 * column without published values gets no paper column. */
#include "testutil.h"

#include "analysis/report.h"
#include "store/db.h"
#include "util/err.h"

/* One finished run of experiment `exp` with test rows total[n] (n = 0: inf). */
static void add_run(bfn_db *db, const char *key, const char *exp, const int *n, const double *total, int count) {
    bfn_run_info run = {.key = key, .experiment = exp, .profile = "small", .config = "data.dataset = mnist\n",
                        .seed = 1, .git_commit = "x", .lib_versions = "", .host = "h", .threads = 1};
    char status[32];
    assert_int_equal(bfn_db_run_register(db, &run, status, sizeof status), BFN_OK);
    for (int i = 0; i < count; i++) {
        bfn_eval_row row = {.key = key, .ckpt_step = 10, .split = "test", .n = n[i], .repeats = 2,
                            .loss = total[i], .loss_se = 0.01, .recon = 0, .recon_se = 0, .total = total[i],
                            .total_se = 0.01, .unit = "bits/dim", .scale = 1};
        assert_int_equal(bfn_db_eval(db, &row), BFN_OK);
    }
    assert_int_equal(bfn_db_run_set_status(db, key, "finished", "done"), BFN_OK);
}

static void test_diagnostic_lines(void **state) {
    (void)state;
    const char *dir = test_tmpdir();
    bfn_db *db;
    assert_int_equal(bfn_db_open(test_path_in(dir, "r.db"), &db), BFN_OK);
    const int n[4] = {10, 100, 1000, 0};
    /* Today's discretised-256 curve shape: rises, then 1000 far above inf. */
    const double bad[4] = {6.86, 7.73, 5.30, 3.73};
    const double good[4] = {4.0, 3.5, 3.41, 3.40};
    add_run(db, "bad", "exp_bad", n, bad, 4);
    add_run(db, "good", "exp_good", n, good, 4);
    const char *spec = "#!\ttitle\tT\n#!\tcolumn\texp_bad\tBad\n#!\tcolumn\texp_good\tGood\n"
                       "n\tcolumn\tpaper\tstatus\tsource\n10\texp_bad\t1.0\tconfirmed\tx\n";
    test_write_file(test_path_in(dir, "t.tsv"), spec, strlen(spec));
    char md[512];
    snprintf(md, sizeof md, "%s", test_path_in(dir, "t.md"));
    assert_int_equal(bfn_report_table(db, test_path_in(dir, "t.tsv"), md, "small"), BFN_OK);
    bfn_db_close(db);
    FILE *f = fopen(md, "r");
    assert_non_null(f);
    char text[16384];
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = '\0';
    fclose(f);
    assert_non_null(strstr(text, "Diagnostic, Bad: L^n is not monotone in n (rises from 6.86 at n=10 to 7.73 at n=100)"));
    assert_non_null(strstr(text, "at n=1000 L^n is 42% above L^inf (5.30 vs 3.73)"));
    assert_null(strstr(text, "Diagnostic, Good"));
    /* Bad has a published value, Good (a baseline of ours) none: no empty paper column beside it. */
    assert_non_null(strstr(text, "| n | Bad: ours | Bad: paper | Good: ours |\n|---:|---:|---:|---:|\n"));
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_diagnostic_lines)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
