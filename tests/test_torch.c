/* test_torch.c: PyTorch state_dict files and bfn import-torch / export-torch.
 *
 * The reader/writer on their own (round trip bitwise, truncation and damage
 * at every length class), the PyTorch-written fixtures of
 * tests/fixtures/torch/ (made once by src/tools/make_torch_fixtures.py with
 * torch.save, so this test needs no PyTorch), and the CLI end to end: import
 * registers an evaluable, samplable run; export -> import -> export is
 * bitwise; every malformed file gives a clear error and registers nothing. */
#include "testutil.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "store/ckpt.h"
#include "store/torchfile.h"

#define FIX "tests/fixtures/torch/"

static const char *bin(void) {
    const char *b = getenv("BFN_BIN");
    return b && *b ? b : "build/bfn-san";
}



/* One integer from a query on the database at path (-1 if no row). */
static long query_long(const char *path, const char *sql) {
    sqlite3 *db;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    sqlite3_stmt *st;
    long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Numel of a read tensor. */
static size_t numel(const bfn_torch_tensor *t) {
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
    return n;
}

/* ---- the file format --------------------------------------------------- */

static void test_write_read_bitwise(void **state) {
    (void)state;
    const char *dir = test_tmpdir();
    int s0[2] = {3, 5}, s1[1] = {7}, s2[3] = {2, 1, 4};
    float a[15], b[7], c[8];
    gsl_rng *r = test_rng(3);
    for (int i = 0; i < 15; i++) a[i] = (float)(gsl_rng_uniform(r) - 0.5) * 1e3f;
    for (int i = 0; i < 7; i++) b[i] = (float)gsl_rng_uniform(r) * 1e-30f;
    for (int i = 0; i < 8; i++) c[i] = -(float)i;
    gsl_rng_free(r);
    bfn_torch_out out[3] = {{"x.weight", 2, s0, a}, {"x.bias", 1, s1, b}, {"deep.t", 3, s2, c}};
    char *p1 = test_path_in(dir, "a.pt"), *p2 = test_path_in(dir, "b.pt");
    assert_int_equal(bfn_torch_write(p1, out, 3), BFN_OK);
    bfn_torch_file f;
    assert_int_equal(bfn_torch_read(p1, &f), BFN_OK);
    assert_int_equal(f.n, 3);
    bfn_torch_out back[3];
    float *buf[3];
    int shp[3][4];
    for (int j = 0; j < 3; j++) {
        assert_string_equal(f.t[j].name, out[j].name);
        assert_string_equal(f.t[j].dtype, "float32");
        assert_int_equal(f.t[j].ndim, out[j].ndim);
        for (int d = 0; d < out[j].ndim; d++) {
            assert_int_equal(f.t[j].shape[d], out[j].shape[d]);
            shp[j][d] = (int)f.t[j].shape[d];
        }
        buf[j] = test_falloc(numel(&f.t[j]));
        bfn_torch_copy_f32(&f.t[j], buf[j]);
        assert_memory_equal(buf[j], out[j].data, numel(&f.t[j]) * sizeof(float));
        back[j] = (bfn_torch_out){f.t[j].name, f.t[j].ndim, shp[j], buf[j]};
    }
    /* Writing what was read gives the same bytes (deterministic writer). */
    assert_int_equal(bfn_torch_write(p2, back, 3), BFN_OK);
    bfn_torch_free(&f);
    size_t n1, n2;
    char *f1 = test_slurp_n(p1, &n1), *f2 = test_slurp_n(p2, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(f1, f2, n1);
    free(f1);
    free(f2);
    for (int j = 0; j < 3; j++) free(buf[j]);
}

/* Every truncation and a flipped byte in each region fail cleanly (ASan
 * checks the reader never reads outside the mapping). */
static void test_truncated_and_damaged(void **state) {
    (void)state;
    const char *dir = test_tmpdir();
    size_t n;
    char *whole = test_slurp_n(FIX "gpt_tiny.pt", &n);
    assert_non_null(whole);
    char *p = test_path_in(dir, "cut.pt");
    for (size_t len = 0; len < n; len += (len < 200 ? 7 : 173)) {
        test_write_file(p, whole, len);
        bfn_torch_file f;
        int rc = bfn_torch_read(p, &f);
        if (rc == BFN_OK) {
            print_error("truncated to %zu of %zu bytes but read\n", len, n);
            fail();
        }
        assert_int_equal(rc, BFN_ECORRUPT);
    }
    int caught = 0, tries = 0;
    for (size_t at = 0; at < n; at += 97) {
        whole[at] ^= 0x5a;
        test_write_file(p, whole, n);
        bfn_torch_file f;
        int rc = bfn_torch_read(p, &f);
        if (rc == BFN_OK) {
            /* Every tensor byte is under a CRC: reading must have caught it
             * unless the flip hit slack (header padding, an unused field). */
            bfn_torch_free(&f);
        } else {
            caught++;
        }
        tries++;
        whole[at] ^= 0x5a;
    }
    assert_true(caught > tries / 2);
    free(whole);
}

/* The PyTorch-written fixture: views with storage offsets and strides read
 * as torch.save stored them. Values are 0.1 sin(0.37 k + j) rounded to
 * float32 from double (make_torch_fixtures.py); C's sin and PyTorch's agree
 * to a few ulp of double, far below float32's 7e-9 at 0.1. */
static void test_pytorch_fixture_reads(void **state) {
    (void)state;
    bfn_torch_file f;
    assert_int_equal(bfn_torch_read(FIX "gpt_tiny.pt", &f), BFN_OK);
    assert_int_equal(f.n, 21);
    const struct { const char *name; int j; } cases[] = {
        {"net.transformer.h.0.attn.c_attn.weight", 6}, /* column-major storage */
        {"net.transformer.h.0.mlp.c_fc.bias", 13},     /* storage offset 5 */
        {"net.lm_head.weight", 18},
    };
    for (int c = 0; c < 3; c++) {
        int i = bfn_torch_find(&f, cases[c].name);
        assert_true(i >= 0);
        size_t n = numel(&f.t[i]);
        float *v = test_falloc(n);
        bfn_torch_copy_f32(&f.t[i], v);
        for (size_t k = 0; k < n; k++) assert_close(v[k], (float)(0.1 * sin(k * 0.37 + cases[c].j)), 1e-8);
        free(v);
    }
    assert_int_equal(f.t[bfn_torch_find(&f, "net.transformer.h.0.mlp.c_fc.bias")].offset, 5);
    bfn_torch_free(&f);
}

static void test_refused_files(void **state) {
    (void)state;
    bfn_torch_file f;
    assert_int_equal(bfn_torch_read(FIX "legacy.pt", &f), BFN_ECORRUPT);
    assert_non_null(strstr(bfn_last_error(), "legacy (pre-1.6)"));
    assert_int_equal(bfn_torch_read(FIX "refused.pt", &f), BFN_ECORRUPT);
    assert_non_null(strstr(bfn_last_error(), "calls collections.Counter"));
    assert_int_equal(bfn_torch_read("tests/fixtures/torch/absent.pt", &f), BFN_EIO);
}

/* A handmade archive: one tensor of `size` floats at storage offset `off` of
 * a 4-float storage. */
static int read_handmade(const char *dir_, int size, int off) {
    char pk[256];
    int n = 0;
#define B(c) (pk[n++] = (char)(c))
#define S(str) do { const char *s_ = (str); int l_ = (int)strlen(s_); B('X'); B(l_); B(0); B(0); B(0); \
                    memcpy(pk + n, s_, (size_t)l_); n += l_; } while (0)
#define G(mod, name) do { B('c'); memcpy(pk + n, mod "\n" name "\n", sizeof(mod "\n" name "\n") - 1); \
                          n += (int)sizeof(mod "\n" name "\n") - 1; } while (0)
    B(0x80); B(2); B('}');
    S("w");
    G("torch._utils", "_rebuild_tensor_v2");
    B('('); B('('); S("storage"); G("torch", "FloatStorage"); S("0"); S("cpu"); B('K'); B(4); B('t'); B('Q');
    B('K'); B(off); B('('); B('K'); B(size); B('t'); B('('); B('K'); B(1); B('t'); B(0x89); B('t'); B('R');
    B('s'); B('.');
#undef B
#undef S
#undef G
    float data[4] = {1, 2, 3, 4};
    char *p = test_path_in(dir_, "hand.pt");
    bfn_zip_writer w;
    assert_int_equal(bfn_zip_writer_open(&w, p), BFN_OK);
    assert_int_equal(bfn_zip_writer_add(&w, "hand/data.pkl", pk, (uint64_t)n), BFN_OK);
    assert_int_equal(bfn_zip_writer_add(&w, "hand/data/0", data, sizeof data), BFN_OK);
    assert_int_equal(bfn_zip_writer_close(&w, 1), BFN_OK);
    bfn_torch_file f;
    int rc = bfn_torch_read(p, &f);
    if (rc == BFN_OK) {
        assert_int_equal(f.n, 1);
        float v[4];
        bfn_torch_copy_f32(&f.t[0], v);
        for (int i = 0; i < size; i++) assert_true(v[i] == data[off + i]);
        bfn_torch_free(&f);
    }
    return rc;
}

static void test_tensor_extent_checked(void **state) {
    (void)state;
    const char *d = test_tmpdir();
    assert_int_equal(read_handmade(d, 4, 0), BFN_OK);
    assert_int_equal(read_handmade(d, 2, 2), BFN_OK);
    assert_int_equal(read_handmade(d, 5, 0), BFN_ECORRUPT);
    assert_non_null(strstr(bfn_last_error(), "past the end of its storage"));
    assert_int_equal(read_handmade(d, 2, 3), BFN_ECORRUPT);
}

/* ---- the CLI -------------------------------------------------------------- */

static char dir[256];
#define ENV(tag) "BFN_RESULTS=%s/" tag " BFN_DB=%s/" tag ".db OMP_NUM_THREADS=1 "
#define OVER "--profile smoke data.dataset=text8 data.dir=%s data.seq_len=4 data.test_stride=4 " \
             "data.test_count=20 data.val_count=10 model.hidden=8 model.layers=1 model.heads=2 model.skip=1 " \
             "eval.steps=10,inf eval.repeats=2 eval.t_bins=2 eval.batch=10 sample.count=2"

static void make_text(void) {
    snprintf(dir, sizeof dir, "%s", test_tmpdir());
    char text[4000];
    size_t len = 0;
    const char *w[] = {"the", "cat", "sat", "on", "a", "mat"};
    for (int i = 0; len + 8 < sizeof text; i++) len += (size_t)snprintf(text + len, sizeof text - len, "%s%s", i ? " " : "", w[(i * 7 + i / 3) % 6]);
    test_write_file(test_path_in(dir, "text8"), text, len);
}

/* Every tensor of two state_dicts, by name: same names, same values (exact,
 * or within tol for the names listed in loose). */
static void assert_same_tensors(const char *pa, const char *pb, const char *loose, double tol) {
    bfn_torch_file a, b;
    assert_int_equal(bfn_torch_read(pa, &a), BFN_OK);
    assert_int_equal(bfn_torch_read(pb, &b), BFN_OK);
    assert_int_equal(a.n, b.n);
    for (int i = 0; i < a.n; i++) {
        int j = bfn_torch_find(&b, a.t[i].name);
        if (j < 0) {
            print_error("%s has no tensor %s\n", pb, a.t[i].name);
            fail();
        }
        size_t n = numel(&a.t[i]);
        assert_int_equal(n, numel(&b.t[j]));
        float *x = test_falloc(n), *y = test_falloc(n);
        bfn_torch_copy_f32(&a.t[i], x);
        bfn_torch_copy_f32(&b.t[j], y);
        if (loose && strcmp(loose, a.t[i].name) == 0) {
            for (size_t k = 0; k < n; k++) assert_close(x[k], y[k], tol);
        } else {
            assert_memory_equal(x, y, n * sizeof(float));
        }
        free(x);
        free(y);
    }
    bfn_torch_free(&a);
    bfn_torch_free(&b);
}

static void test_import_eval_sample_export(void **state) {
    (void)state;
    make_text();
    /* Import the PyTorch-written state_dict. */
    assert_int_equal(test_sh(ENV("a") "%s import-torch " FIX "gpt_tiny.pt experiments/text8.ini " OVER " --quiet", dir, dir,
                        bin(), dir), 0);
    char *db = test_path_in(dir, "a.db");
    assert_int_equal(query_long(db, "SELECT count(*) FROM run WHERE status = 'finished'"), 1);
    assert_int_equal(query_long(db, "SELECT count(*) FROM run_import WHERE source_name = 'gpt_tiny.pt' AND "
                                    "mapping = 'GPT/1' AND official_class = 'GPT' AND optimiser_state = 'absent' "
                                    "AND provenance = 'imported'"), 1);
    char sha[65], sql[300];
    assert_int_equal(bfn_file_sha256(FIX "gpt_tiny.pt", sha), BFN_OK);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM run_import WHERE source_sha256 = '%s'", sha);
    assert_int_equal(query_long(db, sql), 1);
    /* Evaluable and samplable like any run. */
    assert_int_equal(test_sh(ENV("a") "%s eval experiments/text8.ini " OVER " --quiet", dir, dir, bin(), dir), 0);
    assert_int_equal(query_long(db, "SELECT count(*) FROM eval"), 2);
    assert_int_equal(test_sh(ENV("a") "%s sample experiments/text8.ini " OVER " --out %s/s.txt --quiet", dir, dir, bin(),
                        dir, dir), 0);
    /* Export: the same tensors, bitwise (the position table is ours, computed
     * in double like the fixture's, so it agrees to float32 rounding). */
    assert_int_equal(test_sh(ENV("a") "%s export-torch experiments/text8.ini %s/out1.pt " OVER " --quiet", dir, dir, bin(),
                        dir, dir), 0);
    assert_same_tensors(FIX "gpt_tiny.pt", test_path_in(dir, "out1.pt"), "net.input_adapter.pos_embedding", 1e-7);
    /* export -> import (another database) -> export: byte-identical files. */
    assert_int_equal(test_sh(ENV("b") "%s import-torch %s/out1.pt experiments/text8.ini " OVER " --quiet", dir, dir, bin(),
                        dir, dir), 0);
    assert_int_equal(test_sh(ENV("b") "%s export-torch experiments/text8.ini %s/out2.pt " OVER " --quiet", dir, dir, bin(),
                        dir, dir), 0);
    size_t n1, n2;
    char *f1 = test_slurp_n(test_path_in(dir, "out1.pt"), &n1), *f2 = test_slurp_n(test_path_in(dir, "out2.pt"), &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(f1, f2, n1);
    free(f1);
    free(f2);
    /* The same file again is a no-op (results kept); another file into an
     * existing run needs --force; an imported run cannot be trained on. */
    char log[400];
    snprintf(log, sizeof log, "%s/log.txt", dir);
    assert_int_equal(test_sh(ENV("a") "%s import-torch " FIX "gpt_tiny.pt experiments/text8.ini " OVER " 2>%s", dir, dir,
                        bin(), dir, log), 0);
    char *msg = test_slurp_n(log, NULL);
    assert_non_null(strstr(msg, "already imported"));
    free(msg);
    assert_int_equal(query_long(db, "SELECT count(*) FROM eval"), 2);
    assert_int_equal(test_sh(ENV("a") "%s import-torch %s/out2.pt experiments/text8.ini " OVER " 2>%s", dir, dir, bin(),
                        dir, dir, log), 1);
    msg = test_slurp_n(log, NULL);
    assert_non_null(strstr(msg, "already exists"));
    free(msg);
    assert_int_equal(test_sh(ENV("a") "%s train experiments/text8.ini " OVER " --force --quiet 2>%s", dir, dir, bin(), dir,
                        log), 1);
    msg = test_slurp_n(log, NULL);
    assert_non_null(strstr(msg, "optimiser state is absent"));
    free(msg);
    assert_int_equal(test_sh(ENV("a") "%s import-torch " FIX "gpt_tiny.pt experiments/text8.ini " OVER " --force --quiet",
                        dir, dir, bin(), dir), 0);
    assert_int_equal(query_long(db, "SELECT count(*) FROM eval"), 0); /* old results went with the old weights */
}

/* The fixture's tensors, for building malformed variants. */
#define DICT_MAX 200
typedef struct {
    int n;
    char name[DICT_MAX][96];
    int ndim[DICT_MAX], shape[DICT_MAX][4];
    float *data[DICT_MAX];
} dict;

static void dict_load_from(dict *d, const char *path) {
    bfn_torch_file f;
    assert_int_equal(bfn_torch_read(path, &f), BFN_OK);
    assert_true(f.n < DICT_MAX);
    d->n = f.n;
    for (int i = 0; i < f.n; i++) {
        snprintf(d->name[i], sizeof d->name[i], "%s", f.t[i].name);
        d->ndim[i] = f.t[i].ndim;
        for (int k = 0; k < f.t[i].ndim; k++) d->shape[i][k] = (int)f.t[i].shape[k];
        d->data[i] = test_falloc(numel(&f.t[i]) + 64);
        bfn_torch_copy_f32(&f.t[i], d->data[i]);
    }
    bfn_torch_free(&f);
}

static void dict_load(dict *d) { dict_load_from(d, FIX "gpt_tiny.pt"); }

static void dict_save(const dict *d, const char *path) {
    bfn_torch_out out[DICT_MAX];
    for (int i = 0; i < d->n; i++) out[i] = (bfn_torch_out){d->name[i], d->ndim[i], d->shape[i], d->data[i]};
    assert_int_equal(bfn_torch_write(path, out, d->n), BFN_OK);
}

static void dict_free(dict *d) {
    for (int i = 0; i < d->n; i++) free(d->data[i]);
}

static int dict_find(const dict *d, const char *name) {
    for (int i = 0; i < d->n; i++)
        if (strcmp(d->name[i], name) == 0) return i;
    print_error("fixture has no %s\n", name);
    fail();
    return -1;
}

/* Import `file` into experiment `ini` with overrides `over` (a format with
 * one %s, the test directory) and `extra`; it must fail with `want` in the
 * message and leave no run in the database and no run directory. */
static void expect_refused_in(const char *ini, const char *over, const char *file, const char *extra,
                              const char *want) {
    char log[400], ov[1024];
    snprintf(log, sizeof log, "%s/err.txt", dir);
    snprintf(ov, sizeof ov, over, dir);
    int st = test_sh(ENV("m") "%s import-torch %s %s %s %s 2>%s", dir, dir, bin(), file, ini, ov, extra, log);
    char *msg = test_slurp_n(log, NULL);
    if (st != 1 || !strstr(msg, want)) {
        print_error("import of %s: exit %d, message: %s(expected exit 1 and '%s')\n", file, st, msg, want);
        fail();
    }
    free(msg);
    char db[400], runs[400];
    snprintf(db, sizeof db, "%s/m.db", dir);
    snprintf(runs, sizeof runs, "%s/m/runs", dir);
    long n = query_long(db, "SELECT count(*) FROM run");
    assert_true(n <= 0);
    struct stat sb;
    assert_int_not_equal(stat(runs, &sb) == 0 && test_sh("[ -n \"$(ls -A %s)\" ]", runs) == 0, 1);
}

static void expect_refused(const char *file, const char *extra, const char *want) {
    expect_refused_in("experiments/text8.ini", OVER, file, extra, want);
}

static void test_malformed_register_nothing(void **state) {
    (void)state;
    make_text();
    size_t n;
    char *whole = test_slurp_n(FIX "gpt_tiny.pt", &n);
    char *p = test_path_in(dir, "cut.pt");
    test_write_file(p, whole, n / 2);
    free(whole);
    expect_refused(p, "", "truncated or damaged");
    expect_refused(FIX "gpt_tiny_f64.pt", "", "tensor 'net.transformer.ln_f.bias' is float64; float32 expected");
    expect_refused(FIX "legacy.pt", "", "legacy (pre-1.6)");
    expect_refused(FIX "refused.pt", "", "refused");
    /* A network of another size: the first tensor that does not fit is named. */
    expect_refused(FIX "gpt_tiny.pt", "model.hidden=16",
                   "tensor 'net.input_adapter.inp_embedding.weight' has shape [8, 27], our in_proj.weight has [16, 27]");
    expect_refused(FIX "gpt_tiny.pt", "model.arch=mlp", "model.arch = mlp");

    dict d;
    char *bad = test_path_in(dir, "bad.pt");
    dict_load(&d);
    d.shape[dict_find(&d, "net.lm_head.bias")][0] = 26;
    dict_save(&d, bad);
    expect_refused(bad, "", "tensor 'net.lm_head.bias' has shape [26], our head.bias has [27]");
    dict_free(&d);

    dict_load(&d);
    int i = dict_find(&d, "net.transformer.h.0.attn.c_attn.bias");
    free(d.data[i]);
    d.data[i] = d.data[--d.n]; /* drop it (the last tensor takes its place) */
    memcpy(d.name[i], d.name[d.n], sizeof d.name[i]);
    d.ndim[i] = d.ndim[d.n];
    memcpy(d.shape[i], d.shape[d.n], sizeof d.shape[i]);
    dict_save(&d, bad);
    expect_refused(bad, "", "missing tensor 'net.transformer.h.0.attn.c_attn.bias' (for our h.0.attn.qkv.bias");
    dict_free(&d);

    dict_load(&d);
    i = dict_find(&d, "net.transformer.ln_f.weight");
    snprintf(d.name[d.n], sizeof d.name[0], "net.transformer.h.1.ln_1.weight");
    d.ndim[d.n] = 1;
    d.shape[d.n][0] = 8;
    d.data[d.n] = test_falloc(8);
    d.n++;
    dict_save(&d, bad);
    expect_refused(bad, "", "tensor 'net.transformer.h.1.ln_1.weight' has no counterpart in our transformer");
    dict_free(&d);

    dict_load(&d);
    d.data[dict_find(&d, "net.input_adapter.pos_embedding")][5] += 0.5f;
    dict_save(&d, bad);
    expect_refused(bad, "", "buffer 'net.input_adapter.pos_embedding' differs from our fixed table");
    dict_free(&d);

    /* A lone official image tensor: recognised as a U-Net, which the text
     * experiment is not; an unknown file says what it is not. */
    int s4[4] = {128, 2, 3, 3};
    float *w = test_falloc(128 * 2 * 9);
    bfn_torch_out img[1] = {{"net.input_blocks.0.0.weight", 4, s4, w}};
    assert_int_equal(bfn_torch_write(bad, img, 1), BFN_OK);
    expect_refused(bad, "", "holds the official UNetModel");
    img[0].name = "weight";
    assert_int_equal(bfn_torch_write(bad, img, 1), BFN_OK);
    expect_refused(bad, "", "not a checkpoint of an official BFN network");
    free(w);
}

/* ---- the two U-Nets -------------------------------------------------------
 * Fixtures unet_ddpm_tiny.pt / unet_vdm_tiny.pt: state_dicts of the official
 * UNetModel / UNetVDM with their adapters at a tiny size on 8x8 grey images
 * (src/tools/make_torch_fixtures.py); these overrides give our matching
 * networks (experiments/mnist.ini, experiments/cifar.ini). */
#define IMG "--profile smoke data.dataset=idx:%s/img.idx data.val_count=10 data.test_count=10 data.train_limit=0 " \
            "model.channels=8 model.groups=4 model.out_channels=8 model.dropout=0 eval.steps=10,inf " \
            "eval.repeats=2 eval.t_bins=2 eval.batch=10 sample.count=2 sample.steps=5 "
#define DDPM_OVER IMG "model.channel_mult=1,2 model.res_blocks=1 model.attn_res=2 model.heads=2"
#define VDM_OVER IMG "model.channel_mult=1 model.res_blocks=2 model.attn_res=none model.heads=2 " \
                 "model.time_embed=vdm model.fourier=1 model.project_input=0 model.time_input=0"

/* 40 random 8x8 grey images as IDX3. */
static void make_images(void) {
    snprintf(dir, sizeof dir, "%s", test_tmpdir());
    unsigned char buf[16 + 40 * 64] = {0, 0, 8, 3, 0, 0, 0, 40, 0, 0, 0, 8, 0, 0, 0, 8};
    gsl_rng *r = test_rng(5);
    for (size_t i = 16; i < sizeof buf; i++) buf[i] = (unsigned char)gsl_rng_uniform_int(r, 256);
    gsl_rng_free(r);
    test_write_file(test_path_in(dir, "img.idx"), buf, sizeof buf);
}

/* Import the fixture, evaluate and sample the run, export it (the same
 * tensors: bitwise but for the adapter's pos_feats buffer, which we compute
 * in double and PyTorch in float32), and export -> import -> export is
 * byte-identical. */
static void unet_round_trip(const char *fixture, const char *ini, const char *over_fmt, const char *mapping) {
    make_images();
    char ov[1024], sql[300];
    snprintf(ov, sizeof ov, over_fmt, dir);
    assert_int_equal(test_sh(ENV("u") "%s import-torch %s %s %s --quiet", dir, dir, bin(), fixture, ini, ov), 0);
    char *db = test_path_in(dir, "u.db");
    snprintf(sql, sizeof sql, "SELECT count(*) FROM run_import WHERE mapping = '%s'", mapping);
    assert_int_equal(query_long(db, sql), 1);
    assert_int_equal(test_sh(ENV("u") "%s eval %s %s --quiet", dir, dir, bin(), ini, ov), 0);
    assert_int_equal(query_long(db, "SELECT count(*) FROM eval WHERE loss = loss"), 2); /* finite (not NaN) */
    assert_int_equal(test_sh(ENV("u") "%s sample %s %s --out %s/s.png --quiet", dir, dir, bin(), ini, ov, dir), 0);
    assert_int_equal(test_sh(ENV("u") "%s export-torch %s %s/out1.pt %s --quiet", dir, dir, bin(), ini, dir, ov), 0);
    /* pos_feats: arguments up to pi * 4 here, float32 rounding ~1e-6. */
    assert_same_tensors(fixture, test_path_in(dir, "out1.pt"), "net.input_adapter.pos_feats", 1e-5);
    assert_int_equal(test_sh(ENV("w") "%s import-torch %s/out1.pt %s %s --quiet", dir, dir, bin(), dir, ini, ov), 0);
    assert_int_equal(test_sh(ENV("w") "%s export-torch %s %s/out2.pt %s --quiet", dir, dir, bin(), ini, dir, ov), 0);
    size_t n1, n2;
    char *f1 = test_slurp_n(test_path_in(dir, "out1.pt"), &n1), *f2 = test_slurp_n(test_path_in(dir, "out2.pt"), &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(f1, f2, n1);
    free(f1);
    free(f2);
}

static void test_unet_ddpm_round_trip(void **state) {
    (void)state;
    unet_round_trip(FIX "unet_ddpm_tiny.pt", "experiments/mnist.ini", DDPM_OVER, "UNetModel/1");
}

static void test_unet_vdm_round_trip(void **state) {
    (void)state;
    unet_round_trip(FIX "unet_vdm_tiny.pt", "experiments/cifar.ini", VDM_OVER, "UNetVDM/1");
}

/* Drop tensor i of d (the last takes its place). */
static void dict_drop(dict *d, int i) {
    free(d->data[i]);
    d->data[i] = d->data[--d->n];
    memcpy(d->name[i], d->name[d->n], sizeof d->name[i]);
    d->ndim[i] = d->ndim[d->n];
    memcpy(d->shape[i], d->shape[d->n], sizeof d->shape[i]);
}

static void test_unet_malformed_register_nothing(void **state) {
    (void)state;
    make_images();
    const char *mn = "experiments/mnist.ini", *cf = "experiments/cifar.ini";
    /* Another network size: the first misfit is named, in their layout. */
    expect_refused_in(mn, DDPM_OVER, FIX "unet_ddpm_tiny.pt", "model.channels=16 model.out_channels=16",
                      "tensor 'net.input_projection.weight' has shape [8, 2], our in_proj.weight has [16, 2]");
    /* The other class than the experiment's network. */
    expect_refused_in(mn, DDPM_OVER, FIX "unet_vdm_tiny.pt", "", "holds the official UNetVDM");
    expect_refused_in(cf, VDM_OVER, FIX "unet_ddpm_tiny.pt", "", "holds the official UNetModel");
    /* A spec the official class cannot express, though every tensor would map. */
    expect_refused_in(mn, DDPM_OVER, FIX "unet_ddpm_tiny.pt", "model.fourier=1",
                      "the official UNetModel has no Fourier features");

    dict d;
    char *bad = test_path_in(dir, "bad.pt");
    /* A conv weight with its kernel axes where ours are (O, K, K, I), not theirs (O, I, K, K). */
    dict_load_from(&d, FIX "unet_ddpm_tiny.pt");
    int i = dict_find(&d, "net.input_blocks.1.0.in_layers.2.weight");
    d.shape[i][1] = 3;
    d.shape[i][3] = 8;
    dict_save(&d, bad);
    expect_refused_in(mn, DDPM_OVER, bad, "",
                      "tensor 'net.input_blocks.1.0.in_layers.2.weight' has shape [8, 3, 3, 8], our "
                      "down.0.res.conv1.weight has [8, 8, 3, 3]");
    dict_free(&d);

    dict_load_from(&d, FIX "unet_ddpm_tiny.pt");
    dict_drop(&d, dict_find(&d, "net.output_blocks.1.2.conv.weight"));
    dict_save(&d, bad);
    expect_refused_in(mn, DDPM_OVER, bad, "", "missing tensor 'net.output_blocks.1.2.conv.weight' (for our "
                                              "up.1.upsample.weight");
    dict_free(&d);

    dict_load_from(&d, FIX "unet_vdm_tiny.pt");
    i = dict_find(&d, "net.mid_attn_block.layers.0.weight");
    snprintf(d.name[d.n], sizeof d.name[0], "net.down_blocks.2.resnet_block.net1.0.weight");
    d.ndim[d.n] = 1;
    d.shape[d.n][0] = 8;
    d.data[d.n] = test_falloc(8);
    memcpy(d.data[d.n], d.data[i], 8 * sizeof(float));
    d.n++;
    dict_save(&d, bad);
    expect_refused_in(cf, VDM_OVER, bad, "", "tensor 'net.down_blocks.2.resnet_block.net1.0.weight' has no "
                                             "counterpart in our unet");
    dict_free(&d);

    dict_load_from(&d, FIX "unet_vdm_tiny.pt");
    d.data[dict_find(&d, "net.input_adapter.pos_feats")][7] += 0.5f;
    dict_save(&d, bad);
    expect_refused_in(cf, VDM_OVER, bad, "", "buffer 'net.input_adapter.pos_feats' differs from our fixed table");
    dict_free(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_read_bitwise),
        cmocka_unit_test(test_truncated_and_damaged),
        cmocka_unit_test(test_pytorch_fixture_reads),
        cmocka_unit_test(test_refused_files),
        cmocka_unit_test(test_tensor_extent_checked),
        cmocka_unit_test(test_import_eval_sample_export),
        cmocka_unit_test(test_malformed_register_nothing),
        cmocka_unit_test(test_unet_ddpm_round_trip),
        cmocka_unit_test(test_unet_vdm_round_trip),
        cmocka_unit_test(test_unet_malformed_register_nothing),
    };
    return cmocka_run_group_tests_name("torch", tests, NULL, NULL);
}
