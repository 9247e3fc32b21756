/* test_e2e.c: the `bfn` program end to end on a tiny IDX dataset:
 * train/eval/table/sample, bitwise resume after SIGKILL, skipping finished
 * runs, divergence, and bad input leaving stored results intact.
 * Runs the sanitizer build of the CLI ($BFN_BIN, default build/bfn-san). */
#include "testutil.h"

#include <sqlite3.h>
#include <sys/wait.h>

static char dir[256];
static char ini[300];

static const char *bin(void) {
    const char *b = getenv("BFN_BIN");
    return b && *b ? b : "build/bfn-san";
}

/* Run a shell command; returns its exit status (128 + signal if killed). */
static int sh(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    if (st == -1) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Read a whole file into a malloc'd string (NULL if missing). */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* All rows of a query, one line each, values printed exactly (%.17g). */
static char *query_dump(const char *db_path, const char *sql) {
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    out[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            char cell[64];
            if (sqlite3_column_type(st, i) == SQLITE_FLOAT)
                snprintf(cell, sizeof cell, "%.17g", sqlite3_column_double(st, i));
            else
                snprintf(cell, sizeof cell, "%s", sqlite3_column_text(st, i) ? (const char *)sqlite3_column_text(st, i) : "NULL");
            if (len + strlen(cell) + 2 >= cap) out = realloc(out, cap *= 2);
            len += (size_t)sprintf(out + len, "%s%c", cell, i + 1 < sqlite3_column_count(st) ? '\t' : '\n');
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

static long query_long(const char *db_path, const char *sql) {
    char *s = query_dump(db_path, sql);
    long v = atol(s);
    free(s);
    return v;
}

/* 300 8x8 grey images with smooth structure (a blob whose position depends
 * on the index), written as IDX3 by hand. */
static void write_fixture(void) {
    char path[320];
    snprintf(path, sizeof path, "%s/img.idx", dir);
    const int n = 300, h = 8, w = 8;
    unsigned char *buf = malloc(16 + (size_t)n * h * w);
    unsigned char hdr[16] = {0, 0, 8, 3, 0, 0, (unsigned char)(n >> 8), (unsigned char)(n & 255), 0, 0, 0, 8, 0, 0, 0, 8};
    memcpy(buf, hdr, 16);
    for (int i = 0; i < n; i++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double cx = 2 + (i % 4), cy = 2 + (i / 4) % 4;
                double v = 255 * exp(-((x - cx) * (x - cx) + (y - cy) * (y - cy)) / 4.0);
                buf[16 + (size_t)i * 64 + y * 8 + x] = (unsigned char)v;
            }
    test_write_file(path, buf, 16 + (size_t)n * h * w);
    free(buf);
    char text[2048];
    snprintf(text, sizeof text,
             "[experiment]\nname = e2e\nprofile = tiny\n"
             "[data]\ndataset = idx:%s/img.idx\nval_count = 40\ntest_count = 40\n"
             "[bfn]\nfamily = discrete\nclasses = 2\nschedule = quadratic\nbeta1 = 9\n"
             "[model]\nhidden = 32\nlayers = 1\n"
             "[train]\nsteps = 40\nbatch = 16\nlr = 1e-3\nema_decay = 0.9\nlog_every = 5\nckpt_every = 10\nval_every = 20\n"
             "[eval]\nsteps = 5,inf\nrepeats = 2\nbatch = 20\nt_bins = 3\n"
             "[profile tiny]\ntrain.seed = 3\n",
             dir);
    snprintf(ini, sizeof ini, "%s/exp.ini", dir);
    test_write_file(ini, text, strlen(text));
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "%s", test_tmpdir());
    write_fixture();
    return 0;
}

#define ENV(tag) "BFN_RESULTS=%s/" tag " BFN_DB=%s/" tag ".db OMP_NUM_THREADS=1 "

/* Killed with SIGKILL mid-run and resumed == never killed, bitwise; `a` and
 * `b` name the two result sets, `extra` adds key=value overrides. */
static void check_resume_bitwise(const char *a, const char *b, const char *extra) {
    char ea[1200], eb[1200];
    snprintf(ea, sizeof ea, "BFN_RESULTS=%s/%s BFN_DB=%s/%s.db OMP_NUM_THREADS=1", dir, a, dir, a);
    snprintf(eb, sizeof eb, "BFN_RESULTS=%s/%s BFN_DB=%s/%s.db OMP_NUM_THREADS=1", dir, b, dir, b);
    assert_int_equal(sh("%s %s train %s %s --quiet", ea, bin(), ini, extra), 0);
    /* Step 25: after the step-20 checkpoint, before the step-30 one. */
    int st = sh("%s BFN_DIE_AT_STEP=25 %s train %s %s --quiet 2>/dev/null", eb, bin(), ini, extra);
    assert_true(st == 137 || st == 128 + 9);
    char dba[300], dbb[300];
    snprintf(dba, sizeof dba, "%s/%s.db", dir, a);
    snprintf(dbb, sizeof dbb, "%s/%s.db", dir, b);
    assert_int_equal(query_long(dbb, "SELECT COUNT(*) FROM run WHERE status = 'running'"), 1);
    assert_int_equal(sh("%s %s train %s %s --quiet", eb, bin(), ini, extra), 0);
    const char *sql = "SELECT name, step, kind, value FROM metric ORDER BY name, step";
    char *ma = query_dump(dba, sql), *mb = query_dump(dbb, sql);
    assert_true(strlen(ma) > 100);
    assert_string_equal(ma, mb);
    free(ma);
    free(mb);
    /* Same parameters, EMA, moments and RNG state: h5diff compares every
     * dataset and attribute exactly. */
    char *key = query_dump(dba, "SELECT key FROM run");
    key[strcspn(key, "\n")] = '\0';
    assert_int_equal(sh("h5diff %s/%s/runs/%s/last.h5 %s/%s/runs/%s/last.h5", dir, a, key, dir, b, key), 0);
    assert_int_equal(sh("cmp -s %s/%s/runs/%s/best.h5 %s/%s/runs/%s/best.h5 || h5diff -q %s/%s/runs/%s/best.h5 "
                        "%s/%s/runs/%s/best.h5", dir, a, key, dir, b, key, dir, a, key, dir, b, key), 0);
    assert_int_equal(query_long(dbb, "SELECT COUNT(*) FROM run WHERE status = 'finished'"), 1);
    free(key);
}

static void test_resume_bitwise(void **state) {
    (void)state;
    check_resume_bitwise("a", "b", "");
}

/* The same for a U-Net run (dropout on, EMA warm-up), then its checkpoint
 * evaluated: the registry, the U-Net's tensors in HDF5 and the dropout
 * seeds all survive a kill. */
static void test_unet_resume_and_eval(void **state) {
    (void)state;
    const char *unet = "model.arch=unet model.channels=4 model.groups=2 model.out_channels=4 "
                       "model.channel_mult=1,2 model.attn_res=2 model.heads=2 model.dropout=0.1 train.ema_warmup=1";
    check_resume_bitwise("ua", "ub", unet);
    assert_int_equal(sh("BFN_RESULTS=%s/ua BFN_DB=%s/ua.db OMP_NUM_THREADS=1 %s eval %s %s --quiet", dir, dir, bin(),
                        ini, unet), 0);
    char db[300];
    snprintf(db, sizeof db, "%s/ua.db", dir);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM eval"), 2);
    assert_int_equal(query_long(db, "SELECT instr(config, 'train.ema_warmup = 1') > 0 AND "
                                    "instr(config, 'model.arch = unet') > 0 FROM run"), 1);
}



static void test_eval_table_sample(void **state) {
    (void)state;
    char db[300];
    snprintf(db, sizeof db, "%s/a.db", dir);
    /* A finished run is skipped, not retrained. */
    long before = query_long(db, "SELECT COUNT(*) FROM metric");
    assert_int_equal(sh(ENV("a") "%s train %s 2>%s/skip.log", dir, dir, bin(), ini, dir), 0);
    char p[400];
    snprintf(p, sizeof p, "%s/skip.log", dir);
    char *log = slurp(p);
    assert_non_null(strstr(log, "already finished"));
    free(log);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM metric"), before);

    assert_int_equal(sh(ENV("a") "%s eval %s --quiet", dir, dir, bin(), ini), 0);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM eval WHERE split = 'test'"), 2);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM curve"), 6);
    /* NLL = L + L^r and everything finite and positive. */
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM eval WHERE abs(total - loss - recon) < 1e-6 AND "
                                    "loss > 0 AND recon > 0 AND total_se > 0 AND unit = 'nats/image'"), 2);

    char spec[400], md[400], md2[400];
    snprintf(spec, sizeof spec, "%s/spec.tsv", dir);
    const char *s = "#!\ttitle\tE2E table\n#!\tcolumn\te2e\tNLL\n#!\tcommand\tbfn run exp.ini\n"
                    "#!\tclaim\tNLL falls with n\tdec\tall\te2e\te2e\n"
                    "n\tcolumn\tpaper\tstatus\tsource\n5\te2e\t1.0\tunconfirmed\t[MEM]\ninf\te2e\t2.0\tconfirmed\t[X]\n";
    test_write_file(spec, s, strlen(s));
    snprintf(md, sizeof md, "%s/t.md", dir);
    snprintf(md2, sizeof md2, "%s/t2.md", dir);
    assert_int_equal(sh(ENV("a") "%s table %s --out %s", dir, dir, bin(), spec, md), 0);
    assert_int_equal(sh(ENV("a") "%s table %s --out %s", dir, dir, bin(), spec, md2), 0);
    char *t1 = slurp(md), *t2 = slurp(md2);
    assert_non_null(t1);
    assert_string_equal(t1, t2); /* regeneration is byte-identical */
    assert_non_null(strstr(t1, "| 5 |"));
    assert_non_null(strstr(t1, "| ∞ |"));
    assert_non_null(strstr(t1, "1.0* |"));    /* unconfirmed flagged */
    assert_non_null(strstr(t1, "**2.0** |")); /* confirmed in bold */
    assert_non_null(strstr(t1, "NLL falls with n"));
    free(t1);
    free(t2);
    snprintf(p, sizeof p, "%s/t.tex", dir);
    char *tex = slurp(p);
    assert_non_null(tex);
    assert_non_null(strstr(tex, "\\begin{tabular}"));
    free(tex);
    /* A table whose runs are missing names the command to run. */
    assert_int_not_equal(sh(ENV("z") "%s table %s --out %s/none.md 2>%s/none.log", dir, dir, bin(), spec, dir, dir), 0);
    snprintf(p, sizeof p, "%s/none.log", dir);
    log = slurp(p);
    assert_non_null(strstr(log, "bfn run exp.ini"));
    free(log);

    assert_int_equal(sh(ENV("a") "%s sample %s --out %s/s.png sample.steps=20 sample.count=9 --quiet", dir, dir,
                        bin(), ini, dir), 0);
    snprintf(p, sizeof p, "%s/s.png", dir);
    char *png = slurp(p);
    assert_non_null(png);
    assert_memory_equal(png, "\x89PNG", 4);
    free(png);
}

/* Bad input: clear message with file (and line), non-zero exit, no damage. */
static void test_bad_input(void **state) {
    (void)state;
    char db[300], p[400];
    snprintf(db, sizeof db, "%s/a.db", dir);
    char *evals = query_dump(db, "SELECT * FROM eval ORDER BY n");
    /* Unknown key on the command line, out-of-range value. */
    assert_int_equal(sh(ENV("a") "%s eval %s train.stepz=3 2>%s/e1.log", dir, dir, bin(), ini, dir), 1);
    snprintf(p, sizeof p, "%s/e1.log", dir);
    char *log = slurp(p);
    assert_non_null(strstr(log, "unknown key 'train.stepz'"));
    free(log);
    /* A corrupt checkpoint is reported, never used, and the db is untouched. */
    char *key = query_dump(db, "SELECT key FROM run");
    key[strcspn(key, "\n")] = '\0';
    assert_int_equal(sh("cp -r %s/a %s/c && cp %s/a.db %s/c.db && truncate -s 2000 %s/c/runs/%s/last.h5", dir, dir,
                        dir, dir, dir, key), 0);
    assert_int_equal(sh(ENV("c") "%s eval %s 2>%s/e2.log", dir, dir, bin(), ini, dir), 1);
    snprintf(p, sizeof p, "%s/e2.log", dir);
    log = slurp(p);
    assert_non_null(strstr(log, "last.h5"));
    free(log);
    snprintf(p, sizeof p, "%s/c.db", dir);
    char *evals_c = query_dump(p, "SELECT * FROM eval ORDER BY n");
    assert_string_equal(evals, evals_c);
    free(evals_c);
    /* Missing dataset file. */
    assert_int_equal(sh(ENV("d") "%s train %s data.dataset=idx:%s/nope.idx 2>%s/e3.log", dir, dir, bin(), ini,
                        dir, dir), 1);
    snprintf(p, sizeof p, "%s/e3.log", dir);
    log = slurp(p);
    assert_non_null(strstr(log, "nope.idx"));
    free(log);
    /* A truncated IDX file. */
    assert_int_equal(sh("head -c 1000 %s/img.idx > %s/short.idx", dir, dir), 0);
    assert_int_equal(sh(ENV("d") "%s train %s data.dataset=idx:%s/short.idx 2>%s/e4.log", dir, dir, bin(), ini,
                        dir, dir), 1);
    snprintf(p, sizeof p, "%s/e4.log", dir);
    log = slurp(p);
    assert_non_null(strstr(log, "short.idx"));
    free(log);
    /* A database of a newer schema is refused. */
    assert_int_equal(sh("cp %s/a.db %s/new.db && sqlite3 %s/new.db 'UPDATE schema_version SET version = 999'", dir,
                        dir, dir), 0);
    assert_int_equal(sh("BFN_DB=%s/new.db %s runs 2>%s/e5.log >/dev/null", dir, bin(), dir), 1);
    snprintf(p, sizeof p, "%s/e5.log", dir);
    log = slurp(p);
    assert_non_null(strstr(log, "newer"));
    free(log);
    char *evals_after = query_dump(db, "SELECT * FROM eval ORDER BY n");
    assert_string_equal(evals, evals_after);
    free(evals);
    free(evals_after);
    free(key);
}

/* Training with the n-step loss L^n (train.loss = nstep) for both receivers. */
static void test_nstep_training(void **state) {
    (void)state;
    for (int joint = 0; joint < 2; joint++) {
        assert_int_equal(sh(ENV("n") "%s run %s train.loss=nstep train.loss_steps=20 bfn.receiver=%s "
                            "train.steps=20 --quiet", dir, dir, bin(), ini, joint ? "joint" : "marginal"), 0);
    }
    char db[300];
    snprintf(db, sizeof db, "%s/n.db", dir);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM run WHERE status = 'finished'"), 2);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM metric WHERE name = 'train.loss' AND kind = 0 "
                                    "AND value > 0"), 8);
    /* bfn diff names the one key that differs. */
    char *keys = query_dump(db, "SELECT key FROM run ORDER BY started");
    char ka[17], kb[17], p[400];
    snprintf(ka, sizeof ka, "%.16s", keys);
    snprintf(kb, sizeof kb, "%.16s", keys + 17);
    free(keys);
    assert_int_equal(sh(ENV("n") "%s diff %s %s > %s/diff.txt", dir, dir, bin(), ka, kb, dir), 0);
    snprintf(p, sizeof p, "%s/diff.txt", dir);
    char *d = slurp(p);
    assert_non_null(strstr(d, "bfn.receiver = marginal"));
    assert_non_null(strstr(d, "| joint"));
    assert_null(strstr(d, "train.steps"));
    free(d);
}

/* NaN/inf loss stops the run with status 'diverged' and exit code 3, and the
 * last good checkpoint stays usable (fault injected at step 33: after the
 * step-30 checkpoint). */
static void test_diverged(void **state) {
    (void)state;
    int st = sh(ENV("v") "BFN_FAULT_NAN_AT_STEP=33 %s train %s --quiet 2>%s/v.log", dir, dir, bin(), ini, dir);
    assert_int_equal(st, 3);
    char db[300], p[400];
    snprintf(db, sizeof db, "%s/v.db", dir);
    snprintf(p, sizeof p, "%s/v.log", dir);
    char *log = slurp(p);
    assert_non_null(strstr(log, "diverged at step 33"));
    free(log);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM run WHERE status = 'diverged'"), 1);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM metric WHERE kind = 1 AND value IS NULL AND step = 33"), 1);
    assert_int_equal(query_long(db, "SELECT MAX(step) FROM checkpoint WHERE kind = 'last'"), 30);
    /* The kept checkpoint evaluates. */
    assert_int_equal(sh(ENV("v") "%s eval %s --quiet", dir, dir, bin(), ini), 0);
    assert_int_equal(query_long(db, "SELECT MAX(ckpt_step) FROM eval"), 30);
}

/* A text8-format file (space + a-z only) with some structure, the tiny
 * transformer, and Tables 4 and 5 built from the database. */
static void test_text_pipeline(void **state) {
    (void)state;
    char path[400], text[120000];
    const char *words[] = {"the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far"};
    size_t len = 0;
    for (int i = 0; len < sizeof text - 8; i++) {
        const char *w = words[(i * 7 + i / 3) % 10];
        len += (size_t)snprintf(text + len, sizeof text - len, "%s%s", i ? " " : "", w);
    }
    snprintf(path, sizeof path, "%s/text8", dir);
    test_write_file(path, text, strlen(text));
    const char *over = "data.dataset=text8 data.seq_len=16 data.test_stride=16 data.test_count=20 data.val_count=10 "
                       "model.hidden=16 model.layers=1 model.heads=2 train.steps=20 train.batch=4 eval.batch=10 "
                       "eval.repeats=2 eval.t_bins=2 train.ckpt_every=10 train.val_every=10";
    assert_int_equal(sh(ENV("x") "%s run experiments/text8.ini --profile smoke data.dir=%s %s --quiet", dir, dir,
                        bin(), dir, over), 0);
    char md[400];
    for (int k = 4; k <= 5; k++) {
        snprintf(md, sizeof md, "%s/table%d.md", dir, k);
        assert_int_equal(sh(ENV("x") "%s table paper/reference/table%d.tsv --out %s", dir, dir, bin(), k, md), 0);
        char *t = slurp(md);
        assert_non_null(strstr(t, "bits/char"));
        assert_non_null(strstr(t, k == 4 ? "| **BFN (ours)** |" : "| 256 |"));
        assert_non_null(strstr(t, k == 4 ? "**1.41**" : "| ∞ |"));
        free(t);
    }
    snprintf(path, sizeof path, "%s/samples.txt", dir);
    assert_int_equal(sh(ENV("x") "%s sample @text8 --out %s --quiet", dir, dir, bin(), path), 0);
    char *smp = slurp(path);
    assert_int_equal(strspn(smp, "_abcdefghijklmnopqrstuvwxyz\n"), strlen(smp));
    free(smp);
    /* A character outside text8's alphabet is refused with its offset. */
    snprintf(path, sizeof path, "%s/bad", dir);
    assert_int_equal(sh("mkdir -p %s && printf 'abc d3f' > %s/text8", path, path), 0);
    assert_int_equal(sh(ENV("y") "%s train experiments/text8.ini --profile smoke data.dataset=text8 data.dir=%s "
                        "2>%s/t.log", dir, dir, bin(), path, dir), 1);
    snprintf(path, sizeof path, "%s/t.log", dir);
    char *log = slurp(path);
    assert_non_null(strstr(log, "bad/text8: byte 5: character 0x33"));
    free(log);
}

/* The Table 3 sweep at tiny size on an IDX fixture: four runs as parallel
 * processes, then all 32 cells of the table filled. */
static void test_table3_sweep(void **state) {
    (void)state;
    char sweep[400], cwd[512], md[400];
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(sweep, sizeof sweep, "%s/t3.sweep", dir);
    char text[1024];
    snprintf(text, sizeof text,
             "[sweep]\nexperiment = %s/experiments/cifar.ini\njobs = 2\n"
             "[run cifar_cts256]\nbfn.family = continuous\nbfn.bins = 256\nbfn.sigma1 = 0.001\n"
             "[run cifar_disc256]\nbfn.family = discretised\nbfn.bins = 256\nbfn.sigma1 = 0.001\n"
             "[run cifar_cts16]\nbfn.family = continuous\nbfn.bins = 16\nbfn.sigma1 = 0.0316227766\n"
             "[run cifar_disc16]\nbfn.family = discretised\nbfn.bins = 16\nbfn.sigma1 = 0.0316227766\n"
             "[profile smoke]\ntrain.steps = 20\n[profile small]\ntrain.steps = 99\n", cwd);
    test_write_file(sweep, text, strlen(text));
    assert_int_equal(sh(ENV("s") "%s sweep %s --profile smoke data.dataset=idx:%s/img.idx data.val_count=20 "
                        "data.test_count=20 data.train_limit=0 eval.steps=10,25,50,100,250,500,1000,inf --quiet",
                        dir, dir, bin(), sweep, dir), 0);
    /* Re-running the sweep skips the finished runs. */
    assert_int_equal(sh(ENV("s") "%s sweep %s --profile smoke data.dataset=idx:%s/img.idx data.val_count=20 "
                        "data.test_count=20 data.train_limit=0 eval.steps=10,25,50,100,250,500,1000,inf --quiet",
                        dir, dir, bin(), sweep, dir), 0);
    char db[300];
    snprintf(db, sizeof db, "%s/s.db", dir);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM run WHERE status = 'finished'"), 4);
    /* The sweep's [profile smoke] section applied to every run (not [profile small]). */
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM checkpoint WHERE kind = 'last' AND step = 20"), 4);
    snprintf(md, sizeof md, "%s/table3.md", dir);
    assert_int_equal(sh(ENV("s") "%s table paper/reference/table3.tsv --out %s", dir, dir, bin(), md), 0);
    char *t = slurp(md);
    /* Count "x ± y" cells in table rows only. */
    int cells = 0;
    for (const char *line = t; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (line[0] != '|') continue;
        const char *end = strchr(line, '\n');
        for (const char *p = line; (p = strstr(p, " ± ")) && (!end || p < end); p++) cells++;
    }
    assert_int_equal(cells, 32);
    assert_non_null(strstr(t, "(a) with 16 bins"));
    free(t);
    /* A bin count that is not a bit depth of 8-bit data is refused. */
    assert_int_equal(sh(ENV("s") "%s train experiments/cifar.ini --profile smoke bfn.bins=10 data.dataset=idx:%s/img.idx "
                        "2>/dev/null", dir, dir, bin(), dir), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_bitwise),
        cmocka_unit_test(test_unet_resume_and_eval),
        cmocka_unit_test(test_eval_table_sample),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_diverged),
        cmocka_unit_test(test_nstep_training),
        cmocka_unit_test(test_text_pipeline),
        cmocka_unit_test(test_table3_sweep),
    };
    return cmocka_run_group_tests_name("end-to-end", tests, setup, NULL);
}
