/* test_sweep_progress.c: a sweep run's live progress and outcome read from
 * fixture logs in the trainer's plain-line format. */
#include "testutil.h"

#include <sys/stat.h>

#include "run/sweep_progress.h"

static char dir[256];

static void write_log(const char *name, const char *text) {
    char p[400];
    snprintf(p, sizeof p, "%s/logs", dir);
    mkdir(p, 0777);
    bfn_sweep_log_path(name, p, sizeof p);
    test_write_file(p, text, strlen(text));
}

static void test_progress_and_outcome(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "%s", test_tmpdir());
    setenv("BFN_RESULTS", dir, 1);
    char p[400], prog[160];
    bfn_sweep_log_path("a", p, sizeof p);
    assert_string_equal(strstr(p, "/logs/a.log") ? "ok" : p, "ok");
    assert_memory_equal(p, dir, strlen(dir)); /* under the results folder in use */
    /* No log yet. */
    bfn_sweep_progress(p, prog, sizeof prog);
    assert_string_equal(prog, "starting");
    write_log("a", "[0123456789abcdef] e2e tiny: idx, 100 parameters, 1 threads\n"
                   "[0123456789abcdef] step 50/400 loss 0.51234 12.00 steps/s ETA 29s\n");
    bfn_sweep_progress(p, prog, sizeof prog);
    assert_string_equal(prog, "step 50/400, ETA 29s");
    assert_string_equal(bfn_sweep_outcome(p, 1), "trained");
    assert_string_equal(bfn_sweep_outcome(p, 0), "failed");
    write_log("b", "[0123456789abcdef] resumed at step 200\n[0123456789abcdef] step 250/400 loss 0.4 1 steps/s ETA 2s\n"
                   "[0123456789abcdef] evaluating step 400 (last, EMA) on 40 test examples\n");
    bfn_sweep_log_path("b", p, sizeof p);
    bfn_sweep_progress(p, prog, sizeof prog);
    assert_string_equal(prog, "evaluating step 400 (last, EMA) on 40 test examples");
    assert_string_equal(bfn_sweep_outcome(p, 1), "resumed");
    write_log("c", "[0123456789abcdef] already finished; skipping training\n");
    bfn_sweep_log_path("c", p, sizeof p);
    assert_string_equal(bfn_sweep_outcome(p, 1), "skipped");
    unsetenv("BFN_RESULTS");
    assert_string_equal(bfn_sweep_results_dir(), "results");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_progress_and_outcome),
    };
    return cmocka_run_group_tests_name("sweep progress", tests, NULL, NULL);
}
