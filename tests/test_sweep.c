/* test_sweep.c: sweep files and the Slurm job-array script as untrusted
 * input (issue 10, item 5; issue 11, item 1), without a Slurm cluster.
 *
 * - every value reaches the job's command line byte for byte: quotes, $(),
 *   backticks, newlines and spaces in values and paths run nothing;
 * - run names and grid values that become file names use a safe character
 *   set, anything else is refused with FILE:LINE;
 * - no silent limits (more than 16 grid values, long names, many keys);
 * - a failed fork() fails the sweep;
 * - the script: log folder made before submission, B:USR1 forwarded to bfn,
 *   requeue on a clean stop, cancel not requeued, refusing to run outside
 *   Slurm or with an index out of range.
 * The script's dry run (BFN_SLURM_DRY_RUN=1) prints the task's command line
 * NUL-separated instead of running it. `scontrol` is replaced by a stub on
 * PATH that records its arguments. Runs the sanitizer build ($BFN_BIN). */
#include "testutil.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char dir[256];
static char ini[300];

/* The CLI under test as an absolute path (the tests cd into their folder). */
static char bin_abs[4096];
static const char *bin(void) { return bin_abs; }



static char *slurp(const char *path) { return test_slurp_n(path, NULL); }

static int exists(const char *path) { return access(path, F_OK) == 0; }

/* 64 4x4 images and a tiny discrete experiment. */
static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "%s", test_tmpdir());
    const char *b = getenv("BFN_BIN");
    if (!realpath(b && *b ? b : "build/bfn-san", bin_abs)) return -1;
    unsigned char buf[16 + 64 * 16];
    unsigned char hdr[16] = {0, 0, 8, 3, 0, 0, 0, 64, 0, 0, 0, 4, 0, 0, 0, 4};
    memcpy(buf, hdr, 16);
    for (int i = 0; i < 64 * 16; i++) buf[16 + i] = (unsigned char)((i * 37 + i / 16) % 256);
    test_write_file(test_path_in(dir, "img.idx"), buf, sizeof buf);
    char text[2048];
    snprintf(text, sizeof text,
             "[experiment]\nname = sw\nprofile = tiny\n"
             "[data]\ndataset = idx:%s/img.idx\nval_count = 8\ntest_count = 8\n"
             "[bfn]\nfamily = discrete\nclasses = 2\nschedule = quadratic\nbeta1 = 9\n"
             "[model]\nhidden = 8\nlayers = 1\n"
             "[train]\nsteps = 4\nbatch = 4\nlog_every = 1\nckpt_every = 2\nval_every = 4\n"
             "[eval]\nsteps = inf\nrepeats = 2\nbatch = 8\nt_bins = 2\n"
             "[profile tiny]\ntrain.seed = 3\n",
             dir);
    snprintf(ini, sizeof ini, "%s/exp.ini", dir);
    test_write_file(ini, text, strlen(text));
    /* A stand-in scontrol that records its arguments. */
    mkdir(test_path_in(dir, "stub"), 0755);
    snprintf(text, sizeof text, "#!/bin/sh\necho \"$@\" >> '%s/scontrol.calls'\n", dir);
    test_write_file(test_path_in(dir, "stub/scontrol"), text, strlen(text));
    chmod(test_path_in(dir, "stub/scontrol"), 0755);
    return 0;
}

#define ENV(tag) "cd %s && PATH=%s/stub:$PATH BFN_RESULTS=%s/" tag " BFN_DB=%s/" tag ".db OMP_NUM_THREADS=1 "

/* Split a NUL-separated dry-run output into its arguments (at most max). */
static int split_args(char *buf, size_t len, char **args, int max) {
    int n = 0;
    for (size_t i = 0; i < len && n < max;) {
        args[n++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    return n;
}

/* Index of `want` among args, or -1. */
static int find_arg(char **args, int n, const char *want) {
    for (int i = 0; i < n; i++)
        if (strcmp(args[i], want) == 0) return i;
    return -1;
}

/* Quotes, $(), backticks, newlines and spaces in a value and in the
 * experiment's path reach bfn unchanged, and nothing in them runs. */
static void test_slurm_quoting(void **state) {
    (void)state;
    char sub[300], exp2[400], sweep[400], text[4096];
    snprintf(sub, sizeof sub, "%s/it's a dir $(x)", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(exp2, sizeof exp2, "%s/exp `q`.ini", sub);
    char *base = slurp(ini);
    test_write_file(exp2, base, strlen(base));
    free(base);
    const char *evil = "hi'$(touch pwned1)'`touch pwned2`\"$(touch pwned3)\"; touch pwned4 \\";
    snprintf(sweep, sizeof sweep, "%s/q.sweep", dir);
    snprintf(text, sizeof text, "[sweep]\nexperiment = %s\n[run q]\nexperiment.description = %s\n", exp2, evil);
    test_write_file(sweep, text, strlen(text));
    /* A newline and a quote in a command-line override too. */
    assert_int_equal(test_sh(ENV("q") "%s sweep q.sweep --slurm q.sh --quiet 'sample.count=16' "
                        "\"experiment.description=line1\nline2 'x'\" 2>q.err",
                        dir, dir, dir, dir, bin()), 0);
    assert_int_equal(test_sh(ENV("q") "SLURM_ARRAY_TASK_ID=0 SLURM_ARRAY_JOB_ID=9 BFN_SLURM_DRY_RUN=1 bash q.sh > q.args",
                        dir, dir, dir, dir), 0);
    size_t len;
    char *out = test_slurp_n(test_path_in(dir, "q.args"), &len);
    char *args[256];
    int n = split_args(out, len, args, 256);
    char want[700];
    snprintf(want, sizeof want, "experiment.description=%s", evil);
    int ok = n > 4 && find_arg(args, n, "run") == 1 && strcmp(args[2], exp2) == 0 && find_arg(args, n, want) > 0 &&
             find_arg(args, n, "experiment.description=line1\nline2 'x'") > 0;
    free(out);
    assert_true(ok);
    const char *pwned[] = {"pwned1", "pwned2", "pwned3", "pwned4"};
    for (int i = 0; i < 4; i++) {
        assert_false(exists(test_path_in(dir, pwned[i])));
        char p[400];
        snprintf(p, sizeof p, "%s/%s", sub, pwned[i]);
        assert_false(exists(p));
    }
}

/* Run names and grid values become file names: only [A-Za-z0-9._-], no
 * leading dot; anything else is refused with FILE:LINE and writes nothing. */
static void test_sweep_names(void **state) {
    (void)state;
    char sweep[400], text[1024];
    const char *bad[] = {"[run ../../../../tmp/escape]\ntrain.steps = 2\n", "[run .hidden]\ntrain.steps = 2\n",
                         "[run a b]\ntrain.steps = 2\n", "[run ok]\ntrain.steps = 2\n[grid]\ntrain.seed = 1, ../x\n",
                         "[run ok]\ntrain.steps = 2\n[grid]\nexperiment.description = a/b\n"};
    const int line[] = {3, 3, 3, 6, 6};
    snprintf(sweep, sizeof sweep, "%s/n.sweep", dir);
    for (int i = 0; i < 5; i++) {
        snprintf(text, sizeof text, "[sweep]\nexperiment = %s\n%s", ini, bad[i]);
        test_write_file(sweep, text, strlen(text));
        assert_int_equal(test_sh(ENV("n") "%s sweep n.sweep --slurm n.sh --quiet 2>n.err", dir, dir, dir, dir, bin()), 1);
        assert_int_equal(test_sh(ENV("n") "%s sweep n.sweep -j 1 --quiet 2>n.err", dir, dir, dir, dir, bin()), 1);
        char *err = slurp(test_path_in(dir, "n.err"));
        char where[64];
        snprintf(where, sizeof where, "n.sweep:%d:", line[i]);
        if (!strstr(err, where) || !strstr(err, "[A-Za-z0-9._-]")) {
            print_error("case %d: %s", i, err);
            free(err);
            fail();
        }
        free(err);
        assert_false(exists(test_path_in(dir, "n.sh")));
        assert_false(exists(test_path_in(dir, "n")));
    }
    assert_false(exists("/tmp/escape.log"));
}

/* More than 16 grid values, names over 63 characters and 70 keys in a run:
 * all kept, none merged or dropped. */
static void test_sweep_no_silent_limits(void **state) {
    (void)state;
    char sweep[400];
    size_t cap = 16384, len = 0;
    char *text = malloc(cap);
    len += (size_t)snprintf(text + len, cap - len, "[sweep]\nexperiment = %s\n", ini);
    const char *long_a = "a_very_long_run_name_that_goes_on_and_on_past_sixty_three_characters_A";
    const char *long_b = "a_very_long_run_name_that_goes_on_and_on_past_sixty_three_characters_B";
    len += (size_t)snprintf(text + len, cap - len, "[run %s]\ntrain.steps = 2\n[run %s]\n", long_a, long_b);
    for (int k = 1; k <= 70; k++) len += (size_t)snprintf(text + len, cap - len, "train.steps = %d\n", k);
    len += (size_t)snprintf(text + len, cap - len, "[grid]\ntrain.batch = ");
    for (int v = 1; v <= 20; v++) len += (size_t)snprintf(text + len, cap - len, "%d%s", v, v < 20 ? ", " : "\n");
    snprintf(sweep, sizeof sweep, "%s/l.sweep", dir);
    test_write_file(sweep, text, len);
    free(text);
    assert_int_equal(test_sh(ENV("l") "%s sweep l.sweep --slurm l.sh --quiet", dir, dir, dir, dir, bin()), 0);
    char *script = slurp(test_path_in(dir, "l.sh"));
    int ok = strstr(script, "#SBATCH --array=0-39\n") != NULL;
    free(script);
    assert_true(ok);
    /* (a train.batch grid: a train.seed grid keeps the experiment name, for seed
     * replicates) Task 39: the second run with the 20th value and all 70 of its keys. */
    assert_int_equal(test_sh(ENV("l") "SLURM_ARRAY_TASK_ID=39 BFN_SLURM_DRY_RUN=1 bash l.sh > l.args", dir, dir, dir, dir),
                     0);
    size_t n_bytes;
    char *out = test_slurp_n(test_path_in(dir, "l.args"), &n_bytes);
    char *args[512];
    int n = split_args(out, n_bytes, args, 512);
    assert_true(find_arg(args, n, "train.batch=20") > 0);
    assert_true(find_arg(args, n, "train.steps=70") > 0);
    char name[200];
    snprintf(name, sizeof name, "experiment.name=%s_20", long_b);
    assert_true(find_arg(args, n, name) > 0);
    free(out);
    /* Task 19 is the first run's 20th value, under its own full name. */
    assert_int_equal(test_sh(ENV("l") "SLURM_ARRAY_TASK_ID=19 BFN_SLURM_DRY_RUN=1 bash l.sh > l.args", dir, dir, dir, dir),
                     0);
    out = test_slurp_n(test_path_in(dir, "l.args"), &n_bytes);
    n = split_args(out, n_bytes, args, 512);
    snprintf(name, sizeof name, "experiment.name=%s_20", long_a);
    assert_true(find_arg(args, n, name) > 0);
    free(out);
    /* Two runs that expand to the same name are refused. */
    char dup[1024];
    snprintf(dup, sizeof dup, "[sweep]\nexperiment = %s\n[run a_1]\ntrain.steps = 2\n[run a]\ntrain.steps = 3\n"
             "[grid]\ntrain.batch = 1, 1_1\n", ini);
    test_write_file(sweep, dup, strlen(dup));
    assert_int_equal(test_sh(ENV("l") "%s sweep l.sweep --slurm l2.sh --quiet 2>l.err", dir, dir, dir, dir, bin()), 1);
    char *err = slurp(test_path_in(dir, "l.err"));
    assert_non_null(strstr(err, "a_1_1"));
    free(err);
}

/* A fork() that fails makes the sweep fail with a message, not report
 * success with runs never started (fault injected by BFN_FAULT_FORK). */
static void test_sweep_fork_failure(void **state) {
    (void)state;
    char sweep[400], text[1024];
    snprintf(sweep, sizeof sweep, "%s/f.sweep", dir);
    snprintf(text, sizeof text, "[sweep]\nexperiment = %s\n[run f1]\ntrain.steps = 2\n[run f2]\ntrain.steps = 3\n", ini);
    test_write_file(sweep, text, strlen(text));
    assert_int_equal(test_sh(ENV("f") "BFN_FAULT_FORK=1 %s sweep f.sweep -j 2 --quiet 2>f.err", dir, dir, dir, dir, bin()),
                     1);
    char *err = slurp(test_path_in(dir, "f.err"));
    assert_non_null(strstr(err, "cannot start"));
    free(err);
    assert_int_equal(test_sh(ENV("f") "%s sweep f.sweep -j 2 --quiet", dir, dir, dir, dir, bin()), 0);
}

/* The script's structure: resources from [slurm] and the command line, the
 * log folder made by `bfn sweep`, one database per run named by sweep and
 * run key, refusal outside Slurm and out of range. */
static void test_slurm_script(void **state) {
    (void)state;
    char sweep[400], text[1024];
    snprintf(sweep, sizeof sweep, "%s/s.sweep", dir);
    snprintf(text, sizeof text,
             "[sweep]\nexperiment = %s\n[slurm]\ntime = 00:30:00\nmem = 2G\npartition = short\ncpus_per_task = 3\n"
             "signal_seconds = 90\nsbatch = --mail-type=END\n[run s1]\ntrain.steps = 2\n[run s2]\ntrain.steps = 3\n",
             ini);
    test_write_file(sweep, text, strlen(text));
    assert_int_equal(test_sh(ENV("s") "%s sweep s.sweep --slurm s.sh --account 'lab$x' --time 01:00:00 --quiet", dir, dir,
                        dir, dir, bin()),
                     0);
    char *s = slurp(test_path_in(dir, "s.sh"));
    const char *want[] = {"#SBATCH --array=0-1\n", "#SBATCH --signal=B:USR1@90\n", "#SBATCH --requeue\n",
                          "#SBATCH --open-mode=append\n", "#SBATCH --cpus-per-task=3\n", "#SBATCH --time=01:00:00\n",
                          "#SBATCH --mem=2G\n", "#SBATCH --partition=short\n", "#SBATCH --account=lab$x\n",
                          "#SBATCH --mail-type=END\n", "/slurm/s/logs/%A_%a.log\n", "SLURM_CPUS_PER_TASK"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(s, want[i])) {
            print_error("missing %s in\n%s", want[i], s);
            fail();
        }
    }
    free(s);
    char logs[400];
    snprintf(logs, sizeof logs, "%s/s/slurm/s/logs", dir);
    assert_true(exists(logs));
    /* Outside Slurm, and with an index out of range: a clear refusal. */
    assert_int_equal(test_sh(ENV("s") "env -u SLURM_ARRAY_TASK_ID bash s.sh 2>s.err", dir, dir, dir, dir), 2);
    char *err = slurp(test_path_in(dir, "s.err"));
    assert_non_null(strstr(err, "sbatch"));
    free(err);
    assert_int_equal(test_sh(ENV("s") "SLURM_ARRAY_TASK_ID=2 bash s.sh 2>s.err", dir, dir, dir, dir), 2);
    err = slurp(test_path_in(dir, "s.err"));
    assert_non_null(strstr(err, "out of range"));
    free(err);
    /* Threads come from the task's allocation. */
    assert_int_equal(test_sh(ENV("s") "SLURM_ARRAY_TASK_ID=1 SLURM_CPUS_PER_TASK=3 BFN_SLURM_DRY_RUN=1 bash s.sh > s.args",
                        dir, dir, dir, dir),
                     0);
    size_t len;
    char *out = test_slurp_n(test_path_in(dir, "s.args"), &len);
    char *args[256];
    int n = split_args(out, len, args, 256);
    int t = find_arg(args, n, "--threads");
    assert_true(t > 0 && t + 1 < n);
    assert_string_equal(args[t + 1], "3");
    free(out);
    /* A bad resource value (a newline would add an #SBATCH line) is refused. */
    assert_int_equal(test_sh(ENV("s") "%s sweep s.sweep --slurm s2.sh --mem \"$(printf '1G\\n#SBATCH --x')\" --quiet "
                        "2>s.err",
                        dir, dir, dir, dir, bin()),
                     1);
}

/* Poll until `sql` on db returns a non-empty first column (or time out). */
static int wait_for(const char *db_path, const char *sql, double seconds) {
    for (int i = 0; i < (int)(seconds * 20); i++) {
        sqlite3 *db;
        int found = 0;
        if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
            sqlite3_stmt *st;
            if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
                found = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0);
                sqlite3_finalize(st);
            }
        }
        sqlite3_close(db);
        if (found) return 1;
        usleep(50000);
    }
    return 0;
}

/* Start the script for task 0 in the background; returns the shell's pid.
 * ulimit -t bounds a run left behind by a failed assertion. */
static pid_t start_task(const char *script) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "cd %s && export PATH=%s/stub:$PATH SLURM_ARRAY_TASK_ID=0 SLURM_ARRAY_JOB_ID=7 "
                 "SLURM_JOB_ID=8 OMP_NUM_THREADS=1 && ulimit -t 120 && exec bash %s >> task.log 2>&1", dir, dir, script);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int finish(pid_t pid) {
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* B:USR1 reaches only the batch shell: it is forwarded to bfn, which
 * checkpoints and exits 130, and the task requeues itself. A cancel (TERM)
 * stops it the same way but is not requeued. */
static void test_slurm_signals(void **state) {
    (void)state;
    char sweep[400], text[1024], db[400];
    snprintf(sweep, sizeof sweep, "%s/g.sweep", dir);
    snprintf(text, sizeof text, "[sweep]\nexperiment = %s\n[run long]\ntrain.steps = 100000000\ntrain.ckpt_every = 1000000\n"
             "train.log_every = 1000000\ntrain.val_every = 1000000\n", ini);
    test_write_file(sweep, text, strlen(text));
    assert_int_equal(test_sh(ENV("g") "%s sweep g.sweep --slurm g.sh --quiet", dir, dir, dir, dir, bin()), 0);
    /* The task's own database, named by sweep and run key. */
    assert_int_equal(test_sh("ls %s/g/slurm/g/long.*.db >/dev/null 2>&1 || true", dir), 0);
    const int sigs[2] = {SIGUSR1, SIGTERM};
    for (int k = 0; k < 2; k++) {
        pid_t pid = start_task("g.sh");
        assert_int_equal(test_sh("for i in $(seq 200); do ls %s/g/slurm/g/long.*.db >/dev/null 2>&1 && exit 0; sleep 0.05; "
                            "done; exit 1", dir), 0);
        assert_int_equal(test_sh("ls %s/g/slurm/g/long.*.db > %s/g.dbname", dir, dir), 0);
        char *name = slurp(test_path_in(dir, "g.dbname"));
        name[strcspn(name, "\n")] = '\0';
        snprintf(db, sizeof db, "%s", name);
        free(name);
        assert_true(wait_for(db, "SELECT 1 FROM run WHERE status = 'running'", 60));
        usleep(500000); /* bfn installs its handlers right after marking the run running */
        kill(pid, sigs[k]);
        int rc = finish(pid);
        assert_true(wait_for(db, "SELECT 1 FROM run WHERE status = 'interrupted'", 1));
        assert_true(wait_for(db, "SELECT 1 FROM checkpoint WHERE kind = 'last'", 1));
        char *calls = slurp(test_path_in(dir, "scontrol.calls"));
        char *log = slurp(test_path_in(dir, "task.log"));
        if (k == 0) {
            assert_int_equal(rc, 0); /* requeued: not a failure */
            assert_non_null(calls);
            assert_non_null(strstr(calls, "requeue 7_0"));
            assert_non_null(strstr(log, "requeue"));
        } else {
            assert_int_equal(rc, 130);
            assert_int_equal(strstr(calls, "requeue 7_0"), strstr(calls, "requeue")); /* only the first */
            assert_null(strstr(strstr(calls, "requeue") + 1, "requeue"));
        }
        free(calls);
        free(log);
    }
    /* bfn merge --sweep imports the task's database into the main one, once. */
    assert_int_equal(test_sh(ENV("g") "%s merge --sweep g.sweep --db %s/g_main.db > g.merge", dir, dir, dir, dir, bin(), dir),
                     0);
    assert_int_equal(test_sh(ENV("g") "%s merge --sweep g.sweep --db %s/g_main.db >> g.merge", dir, dir, dir, dir, bin(), dir),
                     0);
    char *m = slurp(test_path_in(dir, "g.merge"));
    int ok = strstr(m, "1 new run, 0 updated, 0 unchanged") && strstr(m, "0 new runs, 0 updated, 1 unchanged; 0 rows");
    free(m);
    assert_true(ok);
    assert_true(wait_for(test_path_in(dir, "g_main.db"), "SELECT 1 FROM run WHERE status = 'interrupted'", 1));
}

/* A line longer than the INI reader's buffer is refused with its line
 * number, not split into a second key. */
static void test_sweep_long_line(void **state) {
    (void)state;
    char sweep[400], text[2048];
    char pad[400];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    snprintf(sweep, sizeof sweep, "%s/ll.sweep", dir);
    snprintf(text, sizeof text, "[sweep]\nexperiment = %s\n[run r]\ntrain.steps = 2 ; %s train.seed = 5\n", ini, pad);
    test_write_file(sweep, text, strlen(text));
    assert_int_equal(test_sh(ENV("ll") "%s sweep ll.sweep --slurm ll.sh --quiet 2>ll.err", dir, dir, dir, dir, bin()), 1);
    char *err = slurp(test_path_in(dir, "ll.err"));
    int ok = strstr(err, "ll.sweep:4: line too long") != NULL;
    free(err);
    assert_true(ok);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slurm_quoting),
        cmocka_unit_test(test_sweep_names),
        cmocka_unit_test(test_sweep_no_silent_limits),
        cmocka_unit_test(test_sweep_fork_failure),
        cmocka_unit_test(test_slurm_script),
        cmocka_unit_test(test_slurm_signals),
        cmocka_unit_test(test_sweep_long_line),
    };
    return cmocka_run_group_tests_name("sweep", tests, setup, NULL);
}
