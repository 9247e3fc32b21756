/* test_e2e.c: the `bfn` program end to end on a tiny IDX dataset:
 * train/eval/table/sample, bitwise resume after SIGKILL, skipping finished
 * runs, divergence, and bad input leaving stored results intact.
 * Runs the sanitizer build of the CLI ($BFN_BIN, default build/bfn-san). */
#include "testutil.h"

#include <sqlite3.h>
#include <sys/wait.h>

#include "store/ckpt.h"

static char dir[256];
static char ini[300];

static const char *bin(void) {
    const char *b = getenv("BFN_BIN");
    return b && *b ? b : "build/bfn-san";
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

/* Text of the first cell of the first row of a query (static buffer). */
static const char *query_text(const char *db_path, const char *sql) {
    static char buf[4096];
    char *d = query_dump(db_path, sql);
    snprintf(buf, sizeof buf, "%s", d);
    buf[strcspn(buf, "\n")] = '\0';
    free(d);
    return buf;
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
    assert_int_equal(test_sh("%s %s train %s %s --quiet", ea, bin(), ini, extra), 0);
    /* Step 25: after the step-20 checkpoint, before the step-30 one. */
    int st = test_sh("%s BFN_DIE_AT_STEP=25 %s train %s %s --quiet 2>/dev/null", eb, bin(), ini, extra);
    assert_true(st == 137 || st == 128 + 9);
    char dba[300], dbb[300];
    snprintf(dba, sizeof dba, "%s/%s.db", dir, a);
    snprintf(dbb, sizeof dbb, "%s/%s.db", dir, b);
    assert_int_equal(query_long(dbb, "SELECT COUNT(*) FROM run WHERE status = 'running'"), 1);
    assert_int_equal(test_sh("%s %s train %s %s --quiet", eb, bin(), ini, extra), 0);
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
    assert_int_equal(test_sh("h5diff %s/%s/runs/%s/last.h5 %s/%s/runs/%s/last.h5", dir, a, key, dir, b, key), 0);
    assert_int_equal(test_sh("cmp -s %s/%s/runs/%s/best.h5 %s/%s/runs/%s/best.h5 || h5diff -q %s/%s/runs/%s/best.h5 "
                        "%s/%s/runs/%s/best.h5", dir, a, key, dir, b, key, dir, a, key, dir, b, key), 0);
    assert_int_equal(query_long(dbb, "SELECT COUNT(*) FROM run WHERE status = 'finished'"), 1);

    /* A stop signal at step 23 (a multiple of neither log_every = 5 nor
     * ckpt_every = 10) and at step 37 by USR1: the checkpoint written on the
     * signal carries the running metric sums, so the step-25 and step-40
     * rows average the same steps as the uninterrupted run's. */
    char ec[1200], dbc[300];
    snprintf(ec, sizeof ec, "BFN_RESULTS=%s/%sc BFN_DB=%s/%sc.db OMP_NUM_THREADS=1", dir, a, dir, a);
    snprintf(dbc, sizeof dbc, "%s/%sc.db", dir, a);
    assert_int_equal(test_sh("%s BFN_FAULT_SIGNAL_AT_STEP=23:TERM %s train %s %s --quiet 2>/dev/null", ec, bin(), ini,
                        extra), 130);
    assert_int_equal(query_long(dbc, "SELECT COUNT(*) FROM run WHERE status = 'interrupted'"), 1);
    assert_int_equal(test_sh("%s BFN_FAULT_SIGNAL_AT_STEP=37:USR1 %s train %s %s --quiet 2>/dev/null", ec, bin(), ini,
                        extra), 130);
    assert_int_equal(test_sh("%s %s train %s %s --quiet", ec, bin(), ini, extra), 0);
    ma = query_dump(dba, sql);
    char *mc = query_dump(dbc, sql);
    assert_string_equal(ma, mc);
    free(ma);
    free(mc);
    assert_int_equal(test_sh("h5diff %s/%s/runs/%s/last.h5 %s/%sc/runs/%s/last.h5", dir, a, key, dir, a, key), 0);
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
    assert_int_equal(test_sh("BFN_RESULTS=%s/ua BFN_DB=%s/ua.db OMP_NUM_THREADS=1 %s eval %s %s --quiet", dir, dir, bin(),
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
    assert_int_equal(test_sh(ENV("a") "%s train %s 2>%s/skip.log", dir, dir, bin(), ini, dir), 0);
    char p[400];
    snprintf(p, sizeof p, "%s/skip.log", dir);
    char *log = test_slurp_n(p, NULL);
    assert_non_null(strstr(log, "already finished"));
    free(log);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM metric"), before);

    assert_int_equal(test_sh(ENV("a") "%s eval %s --quiet", dir, dir, bin(), ini), 0);
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
    assert_int_equal(test_sh(ENV("a") "%s table %s --out %s", dir, dir, bin(), spec, md), 0);
    assert_int_equal(test_sh(ENV("a") "%s table %s --out %s", dir, dir, bin(), spec, md2), 0);
    char *t1 = test_slurp_n(md, NULL), *t2 = test_slurp_n(md2, NULL);
    assert_non_null(t1);
    assert_string_equal(t1, t2); /* regeneration is byte-identical */
    assert_non_null(strstr(t1, "| 5 |"));
    assert_non_null(strstr(t1, "| ∞ |"));
    assert_non_null(strstr(t1, "1.0* |"));    /* unconfirmed flagged */
    assert_non_null(strstr(t1, "**2.0** |")); /* confirmed in bold */
    assert_non_null(strstr(t1, "NLL falls with n"));
    assert_non_null(strstr(t1, "eval seed 1, receiver floor official")); /* what the numbers were drawn with */
    free(t1);
    free(t2);
    snprintf(p, sizeof p, "%s/t.tex", dir);
    char *tex = test_slurp_n(p, NULL);
    assert_non_null(tex);
    assert_non_null(strstr(tex, "\\begin{tabular}"));
    free(tex);
    /* A table whose runs are missing names the command to run. */
    assert_int_not_equal(test_sh(ENV("z") "%s table %s --out %s/none.md 2>%s/none.log", dir, dir, bin(), spec, dir, dir), 0);
    snprintf(p, sizeof p, "%s/none.log", dir);
    log = test_slurp_n(p, NULL);
    assert_non_null(strstr(log, "bfn run exp.ini"));
    free(log);

    assert_int_equal(test_sh(ENV("a") "%s sample %s --out %s/s.png sample.steps=20 sample.count=9 --quiet", dir, dir,
                        bin(), ini, dir), 0);
    snprintf(p, sizeof p, "%s/s.png", dir);
    char *png = test_slurp_n(p, NULL);
    assert_non_null(png);
    assert_memory_equal(png, "\x89PNG", 4);
    free(png);
}

/* make_paper.sh per profile: the report embeds only tables it has just built
 * from this database's runs of the profile (a stale table file of a spec
 * with no runs stays out), names the run key, is byte-identical on rerun,
 * and a profile with no runs stops with the profiles that have runs. */
static void test_make_paper(void **state) {
    (void)state;
    char p[400];
    assert_int_equal(test_sh("mkdir -p %s/paper/reference %s/paper/tables/tiny && cp %s/spec.tsv %s/paper/reference/table9.tsv",
                        dir, dir, dir, dir), 0);
    const char *ghost = "#!\ttitle\tGhost table\n#!\tcolumn\tghost\tNLL\n#!\tcommand\tmake ghost\n"
                        "n\tcolumn\tpaper\tstatus\tsource\ninf\tghost\t2.0\tconfirmed\t[X]\n";
    snprintf(p, sizeof p, "%s/paper/reference/table8.tsv", dir);
    test_write_file(p, ghost, strlen(ghost));
    snprintf(p, sizeof p, "%s/paper/tables/tiny/table8.md", dir);
    test_write_file(p, "STALE 123.45\n", 13);
#define PAPER_ENV "PAPER=%s/paper PLOTS=%s/plots BFN=%s BFN_DB=%s/a.db "
    assert_int_equal(test_sh(PAPER_ENV "PROFILE=tiny bash analysis/make_paper.sh >%s/mp.log 2>&1", dir, dir, bin(), dir, dir), 0);
    snprintf(p, sizeof p, "%s/paper/REPORT-tiny.md", dir);
    char *r1 = test_slurp_n(p, NULL);
    assert_non_null(r1);
    char db[300];
    snprintf(db, sizeof db, "%s/a.db", dir);
    char *key = query_dump(db, "SELECT key FROM run");
    key[strcspn(key, "\n")] = '\0';
    assert_non_null(strstr(r1, key));
    assert_non_null(strstr(r1, "NLL falls with n"));   /* the table built now is embedded */
    assert_null(strstr(r1, "STALE"));                  /* the stale one is not */
    assert_non_null(strstr(r1, "Not built from this database"));
    assert_non_null(strstr(r1, "profile `tiny`"));
    snprintf(p, sizeof p, "%s/paper/tables/tiny/table9.md", dir);
    char *t = test_slurp_n(p, NULL);
    assert_non_null(t);
    free(t);
    assert_int_equal(test_sh(PAPER_ENV "PROFILE=tiny bash analysis/make_paper.sh >/dev/null 2>&1", dir, dir, bin(), dir), 0);
    snprintf(p, sizeof p, "%s/paper/REPORT-tiny.md", dir);
    char *r2 = test_slurp_n(p, NULL);
    assert_string_equal(r1, r2);
    free(r1);
    free(r2);
    /* No runs of the requested profile: the message names those with runs. */
    assert_int_not_equal(test_sh(PAPER_ENV "PROFILE=small bash analysis/make_paper.sh 2>%s/mp2.log", dir, dir, bin(), dir,
                            dir), 0);
    snprintf(p, sizeof p, "%s/mp2.log", dir);
    char *log = test_slurp_n(p, NULL);
    assert_non_null(strstr(log, "profiles with runs: tiny"));
    free(log);
    assert_int_not_equal(test_sh("test -e %s/paper/REPORT-small.md", dir), 0);
    free(key);
}

/* Seed replicates: a sweep [grid] over train.seed keeps the experiment name,
 * and a table then shows mean ± s.e. over the seeds (saying so) with every
 * replicate's run key; the mean is the mean of the runs' own values. */
static void test_seed_replicates(void **state) {
    (void)state;
    char p[400], db[300];
    snprintf(p, sizeof p, "%s/seeds.sweep", dir);
    char text[600];
    snprintf(text, sizeof text, "[sweep]\nexperiment = %s\n[run e2e]\neval.steps = 5,inf\n[grid]\ntrain.seed = 6, 7, 8\n",
             ini);
    test_write_file(p, text, strlen(text));
    assert_int_equal(test_sh(ENV("r") "%s sweep %s -j 1 --quiet >/dev/null 2>&1", dir, dir, bin(), p), 0);
    snprintf(db, sizeof db, "%s/r.db", dir);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM run WHERE experiment = 'e2e' AND status = 'finished'"), 3);
    char md[400];
    snprintf(md, sizeof md, "%s/seeds.md", dir);
    assert_int_equal(test_sh(ENV("r") "%s table %s/spec.tsv --out %s", dir, dir, bin(), dir, md), 0);
    char *t = test_slurp_n(md, NULL);
    assert_non_null(strstr(t, "mean ± s.e. over 3 training seeds"));
    char *keys = query_dump(db, "SELECT key FROM run ORDER BY key");
    for (int i = 0; i < 3; i++) {
        char k[20];
        snprintf(k, sizeof k, "`%.16s`", keys + 17 * i);
        assert_non_null(strstr(t, k));
    }
    free(keys);
    char want[64];
    snprintf(want, sizeof want, "| ∞ | %.2f ± ", 
             atof(query_text(db, "SELECT AVG(total) FROM eval WHERE n = 0 AND split = 'test'")));
    if (!strstr(t, want)) print_error("table:\n%s\nexpected row starting '%s'\n", t, want);
    assert_non_null(strstr(t, want));
    free(t);
}

/* A stop signal during evaluation (also under `bfn run`, whose training
 * phase installed the handlers) stops it with exit 130; the evaluation is
 * written whole or not at all, so no partial set of n is left for tables.
 * An unregistered run is refused before anything is computed. */
static void test_eval_stop(void **state) {
    (void)state;
    char db[300], p[400];
    snprintf(db, sizeof db, "%s/q.db", dir);
    assert_int_equal(test_sh("cp %s/a.db %s && sqlite3 %s 'DELETE FROM eval; DELETE FROM curve'", dir, db, db), 0);
#define ENV_S "BFN_RESULTS=%s/a BFN_DB=%s/q.db OMP_NUM_THREADS=1 "
    assert_int_equal(test_sh(ENV_S "BFN_FAULT_SIGNAL_AT_EVAL=1 %s run %s --quiet 2>%s/q.log", dir, dir, bin(), ini,
                        dir), 130);
    snprintf(p, sizeof p, "%s/q.log", dir);
    char *log = test_slurp_n(p, NULL);
    assert_non_null(strstr(log, "stopped by signal"));
    free(log);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM eval"), 0);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM curve"), 0);
    assert_int_equal(test_sh(ENV_S "BFN_FAULT_SIGNAL_AT_EVAL=2 %s eval %s --quiet 2>/dev/null", dir, dir, bin(), ini),
                     130);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM eval"), 0);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM run WHERE status = 'finished'"), 1);
    assert_int_equal(test_sh(ENV_S "%s eval %s --quiet", dir, dir, bin(), ini), 0);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM eval"), 2);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM curve"), 6);
#undef ENV_S
    /* A database without the run: refused at once, naming the run. */
    assert_int_equal(test_sh("BFN_RESULTS=%s/a BFN_DB=%s/empty.db %s eval %s --quiet 2>%s/u.log", dir, dir, bin(), ini,
                        dir), 1);
    snprintf(p, sizeof p, "%s/u.log", dir);
    log = test_slurp_n(p, NULL);
    assert_non_null(strstr(log, "not in this database"));
    free(log);
}

/* Disk full while writing a checkpoint (RLIMIT_FSIZE with SIGXFSZ ignored:
 * writes past the limit fail with EFBIG, as on a full disk with ENOSPC):
 * exit 1 with the reason, no crash in HDF5's shutdown, the old checkpoint
 * intact, and the next run resumes from it. */
static void test_disk_full(void **state) {
    (void)state;
    char p[500], db[300];
    int st = test_sh(ENV("f") "BFN_DIE_AT_STEP=15 %s train %s model.hidden=256 --quiet 2>/dev/null", dir, dir, bin(), ini);
    assert_true(st == 137);
    snprintf(db, sizeof db, "%s/f.db", dir);
    char *key = query_dump(db, "SELECT key FROM run");
    key[strcspn(key, "\n")] = '\0';
    char ck[400], sha[65], sha2[65];
    snprintf(ck, sizeof ck, "%s/f/runs/%s/last.h5", dir, key);
    assert_int_equal(bfn_file_sha256(ck, sha), BFN_OK);
    /* 400 KiB: above the database and its WAL, below one checkpoint (~850 KB). */
    st = test_sh("bash -c \"trap '' XFSZ; ulimit -f 400; " ENV("f") "%s train %s model.hidden=256 --quiet\" 2>%s/f.log", dir, dir, bin(),
            ini, dir);
    snprintf(p, sizeof p, "%s/f.log", dir);
    char *log = test_slurp_n(p, NULL);
    assert_int_equal(st, 1);
    assert_non_null(strstr(log, "File too large"));
    assert_null(strstr(log, "Sanitizer"));
    free(log);
    assert_int_equal(bfn_file_sha256(ck, sha2), BFN_OK);
    assert_string_equal(sha, sha2);
    snprintf(p, sizeof p, "%s.tmp", ck);
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal(test_sh(ENV("f") "%s train %s model.hidden=256 --quiet", dir, dir, bin(), ini), 0);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM run WHERE status = 'finished'"), 1);
    free(key);
}

/* Poll `sql` (a count) on db until it is >= want, for up to 60 s. */
static int wait_for(const char *db, const char *sql, long want) {
    for (int i = 0; i < 600; i++) {
        if (access(db, F_OK) == 0 && query_long(db, sql) >= want) return 1;
        usleep(100000);
    }
    return 0;
}

/* One owner per run. A killed trainer leaves its run 'running'; `bfn runs`
 * sees the owner process is gone and shows (and stores) it as interrupted,
 * and the next start takes it over. A second trainer of a live run names
 * the holder and exits 1, or waits with --wait. A checkpoint recorded in the
 * database but deleted from disk is refused unless --force. */
static void test_owner_and_lock(void **state) {
    (void)state;
    char db[300], p[400];
    snprintf(db, sizeof db, "%s/o.db", dir);
    assert_int_equal(test_sh(ENV("o") "BFN_DIE_AT_STEP=15 %s train %s --quiet 2>/dev/null", dir, dir, bin(), ini), 137);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM run WHERE status = 'running' AND owner_pid > 0 AND "
                                    "owner_host <> '' AND owner_start LIKE '%:%'"), 1);
    assert_int_equal(test_sh(ENV("o") "%s runs > %s/runs.txt", dir, dir, bin(), dir), 0);
    snprintf(p, sizeof p, "%s/runs.txt", dir);
    char *out = test_slurp_n(p, NULL);
    assert_non_null(strstr(out, "interrupted"));
    assert_null(strstr(out, "running"));
    free(out);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM run WHERE status = 'interrupted' AND "
                                    "exit_reason LIKE '%is gone%'"), 1);

    /* The checkpoint the database records is gone: refused, then --force. */
    char *key = query_dump(db, "SELECT key FROM run");
    key[strcspn(key, "\n")] = '\0';
    assert_int_equal(test_sh("mv %s/o/runs/%s/last.h5 %s/o/last.h5.away", dir, key, dir), 0);
    assert_int_equal(test_sh(ENV("o") "%s train %s --quiet 2>%s/o1.log", dir, dir, bin(), ini, dir), 1);
    snprintf(p, sizeof p, "%s/o1.log", dir);
    char *log = test_slurp_n(p, NULL);
    assert_non_null(strstr(log, "missing"));
    assert_non_null(strstr(log, "--force"));
    free(log);
    assert_int_equal(test_sh("mv %s/o/last.h5.away %s/o/runs/%s/last.h5", dir, dir, key), 0);

    /* A live holder: the second process names it and exits 1. */
    assert_int_equal(test_sh(ENV("o") "%s train %s train.steps=100000 --quiet 2>%s/holder.log & echo $! > %s/holder.pid",
                        dir, dir, bin(), ini, dir, dir), 0);
    snprintf(p, sizeof p, "%s/holder.pid", dir);
    char *pid = test_slurp_n(p, NULL);
    pid[strcspn(pid, "\n")] = '\0';
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM run WHERE status = 'running' AND owner_pid = %s", pid);
    assert_true(wait_for(db, sql, 1));
    assert_int_equal(test_sh(ENV("o") "%s train %s train.steps=100000 --quiet 2>%s/o2.log", dir, dir, bin(), ini, dir),
                     1);
    snprintf(p, sizeof p, "%s/o2.log", dir);
    log = test_slurp_n(p, NULL);
    char want[64];
    snprintf(want, sizeof want, "pid %s", pid);
    assert_non_null(strstr(log, want));
    free(log);
    /* --wait: blocks until the holder stops (SIGTERM: checkpoint, exit 130),
     * then takes the run over and resumes. */
    assert_int_equal(test_sh(ENV("o") "%s train %s train.steps=100000 --wait 2>%s/o3.log & echo $! > %s/waiter.pid",
                        dir, dir, bin(), ini, dir, dir), 0);
    snprintf(p, sizeof p, "%s/o3.log", dir);
    for (int i = 0; i < 600 && !((log = test_slurp_n(p, NULL)) && strstr(log, "waiting for")); i++) {
        free(log);
        usleep(100000);
    }
    assert_non_null(strstr(log, want));
    free(log);
    assert_int_equal(test_sh("kill -TERM %s; while kill -0 %s 2>/dev/null; do sleep 0.1; done", pid, pid), 0);
    snprintf(p, sizeof p, "%s/waiter.pid", dir);
    char *wpid = test_slurp_n(p, NULL);
    wpid[strcspn(wpid, "\n")] = '\0';
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM run WHERE status = 'running' AND owner_pid = %s", wpid);
    assert_true(wait_for(db, sql, 1));
    assert_int_equal(test_sh("kill -TERM %s; while kill -0 %s 2>/dev/null; do sleep 0.1; done", wpid, wpid), 0);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM run WHERE status = 'interrupted'"), 1);
    free(wpid);
    free(pid);
    free(key);
}

/* Bad input: clear message with file (and line), non-zero exit, no damage. */
static void test_bad_input(void **state) {
    (void)state;
    char db[300], p[400];
    snprintf(db, sizeof db, "%s/a.db", dir);
    char *evals = query_dump(db, "SELECT * FROM eval ORDER BY n");
    /* Unknown key on the command line, out-of-range value. */
    assert_int_equal(test_sh(ENV("a") "%s eval %s train.stepz=3 2>%s/e1.log", dir, dir, bin(), ini, dir), 1);
    snprintf(p, sizeof p, "%s/e1.log", dir);
    char *log = test_slurp_n(p, NULL);
    assert_non_null(strstr(log, "unknown key 'train.stepz'"));
    free(log);
    /* A corrupt checkpoint is reported, never used, and the db is untouched. */
    char *key = query_dump(db, "SELECT key FROM run");
    key[strcspn(key, "\n")] = '\0';
    assert_int_equal(test_sh("cp -r %s/a %s/c && cp %s/a.db %s/c.db && truncate -s 2000 %s/c/runs/%s/last.h5", dir, dir,
                        dir, dir, dir, key), 0);
    assert_int_equal(test_sh(ENV("c") "%s eval %s 2>%s/e2.log", dir, dir, bin(), ini, dir), 1);
    snprintf(p, sizeof p, "%s/e2.log", dir);
    log = test_slurp_n(p, NULL);
    assert_non_null(strstr(log, "last.h5"));
    free(log);
    snprintf(p, sizeof p, "%s/c.db", dir);
    char *evals_c = query_dump(p, "SELECT * FROM eval ORDER BY n");
    assert_string_equal(evals, evals_c);
    free(evals_c);
    /* Missing dataset file. */
    assert_int_equal(test_sh(ENV("d") "%s train %s data.dataset=idx:%s/nope.idx 2>%s/e3.log", dir, dir, bin(), ini,
                        dir, dir), 1);
    snprintf(p, sizeof p, "%s/e3.log", dir);
    log = test_slurp_n(p, NULL);
    assert_non_null(strstr(log, "nope.idx"));
    free(log);
    /* A truncated IDX file. */
    assert_int_equal(test_sh("head -c 1000 %s/img.idx > %s/short.idx", dir, dir), 0);
    assert_int_equal(test_sh(ENV("d") "%s train %s data.dataset=idx:%s/short.idx 2>%s/e4.log", dir, dir, bin(), ini,
                        dir, dir), 1);
    snprintf(p, sizeof p, "%s/e4.log", dir);
    log = test_slurp_n(p, NULL);
    assert_non_null(strstr(log, "short.idx"));
    free(log);
    /* A database of a newer schema is refused. */
    assert_int_equal(test_sh("cp %s/a.db %s/new.db && sqlite3 %s/new.db 'UPDATE schema_version SET version = 999'", dir,
                        dir, dir), 0);
    assert_int_equal(test_sh("BFN_DB=%s/new.db %s runs 2>%s/e5.log >/dev/null", dir, bin(), dir), 1);
    snprintf(p, sizeof p, "%s/e5.log", dir);
    log = test_slurp_n(p, NULL);
    assert_non_null(strstr(log, "newer"));
    free(log);
    /* --threads must be a whole positive integer (it was silently 0 = all). */
    assert_int_equal(test_sh(ENV("a") "%s eval %s --threads abc 2>%s/e6.log", dir, dir, bin(), ini, dir), 2);
    snprintf(p, sizeof p, "%s/e6.log", dir);
    log = test_slurp_n(p, NULL);
    assert_non_null(strstr(log, "--threads 'abc' is not an integer"));
    free(log);
    assert_int_equal(test_sh(ENV("a") "%s eval %s --threads 2x 2>/dev/null", dir, dir, bin(), ini), 2);
    /* Control bytes from the command line or a file are not echoed raw. */
    assert_int_equal(test_sh(ENV("a") "%s train \"$(printf 'x\\033[31m\\001.ini')\" 2>%s/e7.log", dir, dir, bin(),
                        dir), 1);
    snprintf(p, sizeof p, "%s/e7.log", dir);
    log = test_slurp_n(p, NULL);
    assert_non_null(strstr(log, "x\\x1b[31m\\x01.ini"));
    assert_null(strchr(log, '\033'));
    free(log);
    /* A sweep's jobs must be a positive integer (it was atoi'ed: -3 ran anyway). */
    char sw[400];
    snprintf(sw, sizeof sw, "%s/bad.sweep", dir);
    char swtext[600];
    snprintf(swtext, sizeof swtext, "[sweep]\nexperiment = %s\njobs = -3\n[run r]\ntrain.seed = 1\n", ini);
    test_write_file(sw, swtext, strlen(swtext));
    assert_int_equal(test_sh(ENV("a") "%s sweep %s --slurm %s/job.sh 2>%s/e8.log", dir, dir, bin(), sw, dir, dir), 1);
    snprintf(p, sizeof p, "%s/e8.log", dir);
    log = test_slurp_n(p, NULL);
    assert_non_null(strstr(log, "bad.sweep:3: jobs = '-3': expected an integer"));
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
        assert_int_equal(test_sh(ENV("n") "%s run %s train.loss=nstep train.loss_steps=20 bfn.receiver=%s "
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
    assert_int_equal(test_sh(ENV("n") "%s diff %s %s > %s/diff.txt", dir, dir, bin(), ka, kb, dir), 0);
    snprintf(p, sizeof p, "%s/diff.txt", dir);
    char *d = test_slurp_n(p, NULL);
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
    int st = test_sh(ENV("v") "BFN_FAULT_NAN_AT_STEP=33 %s train %s --quiet 2>%s/v.log", dir, dir, bin(), ini, dir);
    assert_int_equal(st, 3);
    char db[300], p[400];
    snprintf(db, sizeof db, "%s/v.db", dir);
    snprintf(p, sizeof p, "%s/v.log", dir);
    char *log = test_slurp_n(p, NULL);
    assert_non_null(strstr(log, "diverged at step 33"));
    free(log);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM run WHERE status = 'diverged'"), 1);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM metric WHERE kind = 1 AND value IS NULL AND step = 33"), 1);
    assert_int_equal(query_long(db, "SELECT MAX(step) FROM checkpoint WHERE kind = 'last'"), 30);
    /* The kept checkpoint evaluates. */
    assert_int_equal(test_sh(ENV("v") "%s eval %s --quiet", dir, dir, bin(), ini), 0);
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
    assert_int_equal(test_sh(ENV("x") "%s run experiments/text8.ini --profile smoke data.dir=%s %s --quiet", dir, dir,
                        bin(), dir, over), 0);
    char md[400];
    for (int k = 4; k <= 5; k++) {
        snprintf(md, sizeof md, "%s/table%d.md", dir, k);
        assert_int_equal(test_sh(ENV("x") "%s table paper/reference/table%d.tsv --out %s", dir, dir, bin(), k, md), 0);
        char *t = test_slurp_n(md, NULL);
        assert_non_null(strstr(t, "bits/char"));
        assert_non_null(strstr(t, k == 4 ? "| **BFN (ours)** |" : "| 256 |"));
        assert_non_null(strstr(t, k == 4 ? "**1.41**" : "| ∞ |"));
        free(t);
    }
    snprintf(path, sizeof path, "%s/samples.txt", dir);
    assert_int_equal(test_sh(ENV("x") "%s sample @text8 --out %s --quiet", dir, dir, bin(), path), 0);
    char *smp = test_slurp_n(path, NULL);
    assert_int_equal(strspn(smp, "_abcdefghijklmnopqrstuvwxyz\n"), strlen(smp));
    free(smp);
    /* A character outside text8's alphabet is refused with its offset. */
    snprintf(path, sizeof path, "%s/bad", dir);
    assert_int_equal(test_sh("mkdir -p %s && printf 'abc d3f' > %s/text8", path, path), 0);
    assert_int_equal(test_sh(ENV("y") "%s train experiments/text8.ini --profile smoke data.dataset=text8 data.dir=%s "
                        "2>%s/t.log", dir, dir, bin(), path, dir), 1);
    snprintf(path, sizeof path, "%s/t.log", dir);
    char *log = test_slurp_n(path, NULL);
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
    assert_int_equal(test_sh(ENV("s") "%s sweep %s --profile smoke data.dataset=idx:%s/img.idx data.val_count=20 "
                        "data.test_count=20 data.train_limit=0 eval.steps=10,25,50,100,250,500,1000,inf --quiet",
                        dir, dir, bin(), sweep, dir), 0);
    /* Re-running the sweep skips the finished runs. */
    assert_int_equal(test_sh(ENV("s") "%s sweep %s --profile smoke data.dataset=idx:%s/img.idx data.val_count=20 "
                        "data.test_count=20 data.train_limit=0 eval.steps=10,25,50,100,250,500,1000,inf --quiet",
                        dir, dir, bin(), sweep, dir), 0);
    char db[300];
    snprintf(db, sizeof db, "%s/s.db", dir);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM run WHERE status = 'finished'"), 4);
    /* The sweep's [profile smoke] section applied to every run (not [profile small]). */
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM checkpoint WHERE kind = 'last' AND step = 20"), 4);
    snprintf(md, sizeof md, "%s/table3.md", dir);
    assert_int_equal(test_sh(ENV("s") "%s table paper/reference/table3.tsv --out %s", dir, dir, bin(), md), 0);
    char *t = test_slurp_n(md, NULL);
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
    assert_int_equal(test_sh(ENV("s") "%s train experiments/cifar.ini --profile smoke bfn.bins=10 data.dataset=idx:%s/img.idx "
                        "2>/dev/null", dir, dir, bin(), dir), 1);
}


/* Evaluation is a function of (checkpoint, n, eval seed, repeat): the rows of
 * n = 5 and inf are bitwise the same whether evaluated with eval.steps =
 * 5,inf or recomputed (--reeval) inside 7,inf,3,5 in another order; a second
 * eval with stored rows skips them; the eval seed and the floor are stored
 * with each row; logging keys are not in the run key. */
static void test_eval_invariance(void **state) {
    (void)state;
    char db[300], p[400];
    snprintf(db, sizeof db, "%s/w.db", dir);
    assert_int_equal(test_sh(ENV("w") "%s run %s --quiet", dir, dir, bin(), ini), 0);
    const char *sql = "SELECT n, repeats, loss, loss_se, recon, recon_se, total, total_se FROM eval "
                      "WHERE n IN (0, 5) ORDER BY n";
    char *first = query_dump(db, sql);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM eval WHERE eval_seed = 1 AND receiver_floor = 'official' "
                                    "AND length(ckpt_sha256) = 64"), 2);
    /* Stored rows are reused; only n = 3 and 7 are new. */
    assert_int_equal(test_sh(ENV("w") "%s eval %s eval.steps=3,5,inf,7 2>%s/w1.log", dir, dir, bin(), ini, dir), 0);
    snprintf(p, sizeof p, "%s/w1.log", dir);
    char *log = test_slurp_n(p, NULL);
    assert_non_null(strstr(log, "n=5: stored, skipped"));
    assert_non_null(strstr(log, "n=inf: stored, skipped"));
    free(log);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM eval"), 4);
    /* Recomputed in another list and order: bitwise the same. */
    assert_int_equal(test_sh(ENV("w") "%s eval %s eval.steps=7,inf,3,5 --reeval --quiet", dir, dir, bin(), ini), 0);
    char *again = query_dump(db, sql);
    assert_string_equal(first, again);
    /* A different eval seed gives different numbers (the seed is used). */
    assert_int_equal(test_sh(ENV("w") "%s eval %s eval.steps=5 eval.seed=2 --quiet", dir, dir, bin(), ini), 0);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM eval WHERE n = 5 AND eval_seed = 2"), 1);
    char *seed2 = query_dump(db, sql);
    assert_string_not_equal(first, seed2);
    free(first);
    free(again);
    free(seed2);
    /* The exact receiver weights are recorded as such. */
    assert_int_equal(test_sh(ENV("w") "%s eval %s eval.steps=5 bfn.receiver_floor=exact --quiet", dir, dir, bin(), ini), 0);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM eval WHERE n = 5 AND receiver_floor = 'exact'"), 1);
    /* Changing how often a run logs or checkpoints keeps its key. */
    assert_int_equal(test_sh(ENV("w") "%s train %s train.log_every=7 train.ckpt_every=3 experiment.name=other "
                        "2>%s/w2.log", dir, dir, bin(), ini, dir), 0);
    snprintf(p, sizeof p, "%s/w2.log", dir);
    log = test_slurp_n(p, NULL);
    assert_non_null(strstr(log, "already finished"));
    free(log);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM run"), 1);
}

/* Run management: --extend, tags, notes, the config view, clean exports,
 * overlay plots of three runs, and rm (refused without --yes when stdin is
 * not a terminal). */
static void test_run_management(void **state) {
    (void)state;
    char db[300], p[400], key[17];
    snprintf(db, sizeof db, "%s/w.db", dir);
    snprintf(key, sizeof key, "%.16s", query_text(db, "SELECT key FROM run"));
    /* More steps: a new run (train.steps is in the key); --extend starts it
     * from the 40-step run's checkpoint, and the result is bitwise the
     * uninterrupted 60-step run (checkpoint and every metric row). */
    assert_int_equal(test_sh(ENV("w") "%s train %s train.steps=60 --extend --quiet", dir, dir, bin(), ini), 0);
    assert_int_equal(test_sh(ENV("u") "%s train %s train.steps=60 --quiet", dir, dir, bin(), ini), 0);
    char udb[300];
    snprintf(udb, sizeof udb, "%s/u.db", dir);
    char k60[17];
    snprintf(k60, sizeof k60, "%.16s", query_text(udb, "SELECT key FROM run"));
    assert_string_not_equal(k60, key);
    char q60[300];
    snprintf(q60, sizeof q60, "SELECT name, step, kind, value FROM metric WHERE run = '%s' ORDER BY name, step", k60);
    char *mw = query_dump(db, q60), *mu = query_dump(udb, q60);
    assert_string_equal(mw, mu);
    free(mw);
    free(mu);
    assert_int_equal(test_sh("h5diff %s/w/runs/%s/last.h5 %s/u/runs/%s/last.h5", dir, k60, dir, k60), 0);
    snprintf(q60, sizeof q60, "SELECT detail FROM run_history WHERE run = '%s' AND event = 'extend'", k60);
    char want[100];
    snprintf(want, sizeof want, "from run %s (train.steps 40 -> 60)", key);
    assert_string_equal(query_text(db, q60), want);
    /* --extend with nothing shorter to continue is refused. */
    assert_int_equal(test_sh(ENV("w") "%s train %s train.steps=80 train.seed=9 --extend --quiet 2>/dev/null", dir, dir,
                        bin(), ini), 1);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM run_config WHERE train_steps = 60"), 1);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM run_config WHERE train_lr = 1e-3 AND bfn_family = 'discrete'"),
                     2);
    snprintf(q60, sizeof q60, "SELECT COUNT(*) FROM run WHERE key = '%s'", k60);
    assert_int_equal(query_long(db, q60), 1);
    /* The extended run is a run of its own: remove it to keep the rest simple. */
    assert_int_equal(test_sh(ENV("w") "%s rm %s --yes 2>/dev/null", dir, dir, bin(), k60), 0);
    /* Runs recorded without config_json (older databases) get it filled by bfn runs. */
    assert_int_equal(test_sh("sqlite3 %s 'UPDATE run SET config_json = NULL; DROP VIEW run_config'", db), 0);
    assert_int_equal(test_sh(ENV("w") "%s runs > /dev/null", dir, dir, bin()), 0);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM run_config WHERE train_batch = 16"), 1);
    /* Tags and notes. */
    assert_int_equal(test_sh(ENV("w") "%s tag %s scratch", dir, dir, bin(), key), 0);
    assert_int_equal(test_sh(ENV("w") "%s note %s 'lr=1e-3, looks fine'", dir, dir, bin(), key), 0);
    assert_string_equal(query_text(db, "SELECT note FROM run_note"), "lr=1e-3, looks fine");
    assert_int_equal(test_sh(ENV("w") "%s runs --tag scratch > %s/r1.txt", dir, dir, bin(), dir), 0);
    assert_int_equal(test_sh(ENV("w") "%s runs --tag other > %s/r2.txt", dir, dir, bin(), dir), 0);
    snprintf(p, sizeof p, "%s/r1.txt", dir);
    char *r1 = test_slurp_n(p, NULL);
    assert_non_null(strstr(r1, key));
    assert_non_null(strstr(r1, "scratch"));
    free(r1);
    snprintf(p, sizeof p, "%s/r2.txt", dir);
    char *r2 = test_slurp_n(p, NULL);
    assert_null(strstr(r2, key));
    free(r2);
    /* Exports: plain headers, inf as inf, TSV and CSV. */
    assert_int_equal(test_sh(ENV("w") "%s export %s metric > %s/m.tsv", dir, dir, bin(), key, dir), 0);
    assert_int_equal(test_sh(ENV("w") "%s export %s eval --csv > %s/e.csv", dir, dir, bin(), key, dir), 0);
    snprintf(p, sizeof p, "%s/m.tsv", dir);
    char *m = test_slurp_n(p, NULL);
    assert_memory_equal(m, "name\tstep\tvalue\n", 16);
    free(m);
    snprintf(p, sizeof p, "%s/e.csv", dir);
    char *e = test_slurp_n(p, NULL);
    assert_memory_equal(e, "ckpt_step,split,n,repeats,", 26);
    assert_non_null(strstr(e, ",test,inf,"));
    assert_null(strstr(e, ",0,"));
    free(e);
    /* Three runs overlaid: the legend names the key that differs. */
    assert_int_equal(test_sh(ENV("w") "%s train %s train.lr=3e-3 --quiet", dir, dir, bin(), ini), 0);
    assert_int_equal(test_sh(ENV("w") "%s train %s train.lr=3e-4 --quiet", dir, dir, bin(), ini), 0);
    char *keys = query_dump(db, "SELECT key FROM run ORDER BY key");
    char k[3][17];
    for (int i = 0; i < 3; i++) snprintf(k[i], 17, "%.16s", keys + 17 * i);
    free(keys);
    assert_int_equal(test_sh(ENV("w") "%s plot %s %s %s --metric train.loss --out %s/cmp.png > %s/legend.txt", dir, dir,
                        bin(), k[0], k[1], k[2], dir, dir), 0);
    snprintf(p, sizeof p, "%s/cmp.png", dir);
    char *png = test_slurp_n(p, NULL);
    assert_non_null(png);
    assert_memory_equal(png, "\x89PNG", 4);
    free(png);
    snprintf(p, sizeof p, "%s/legend.txt", dir);
    char *lg = test_slurp_n(p, NULL);
    assert_non_null(strstr(lg, "e2e tiny train.lr=3e-3"));
    assert_non_null(strstr(lg, "train.lr=3e-4"));
    assert_null(strstr(lg, "train.batch"));
    free(lg);
    /* An output path with a quote is refused (it would reach gnuplot's parser). */
    assert_int_equal(test_sh(ENV("w") "%s plot %s --out \"%s/a'b.png\" 2>/dev/null", dir, dir, bin(), k[0], dir), 1);
    /* rm: refused without confirmation, then rows and checkpoints go. */
    assert_int_equal(test_sh(ENV("w") "%s rm %s < /dev/null 2>/dev/null", dir, dir, bin(), key), 1);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM run"), 3);
    assert_int_equal(test_sh(ENV("w") "%s rm %s --yes 2>/dev/null", dir, dir, bin(), key), 0);
    assert_int_equal(query_long(db, "SELECT COUNT(*) FROM run"), 2);
    char q[200];
    snprintf(q, sizeof q, "SELECT COUNT(*) FROM metric WHERE run = '%s'", key);
    assert_int_equal(query_long(db, q), 0);
    assert_int_not_equal(test_sh("test -e %s/w/runs/%s", dir, key), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_bitwise),
        cmocka_unit_test(test_unet_resume_and_eval),
        cmocka_unit_test(test_eval_table_sample),
        cmocka_unit_test(test_make_paper),
        cmocka_unit_test(test_seed_replicates),
        cmocka_unit_test(test_eval_stop),
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_owner_and_lock),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_eval_invariance),
        cmocka_unit_test(test_run_management),
        cmocka_unit_test(test_diverged),
        cmocka_unit_test(test_nstep_training),
        cmocka_unit_test(test_text_pipeline),
        cmocka_unit_test(test_table3_sweep),
    };
    return cmocka_run_group_tests_name("end-to-end", tests, setup, NULL);
}
