/* test_ckpt.c: HDF5 checkpoints (src/store/ckpt.c) and bfn_file_sha256.
 * A checkpoint must restore every tensor bit for bit and every RNG stream so
 * that it continues with the same draws; anything damaged, missing or
 * mismatched must be refused with BFN_ECORRUPT naming the file. */
#include "testutil.h"
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

#include <errno.h>
#include <gsl/gsl_rng.h>
#include <hdf5.h>
#include <sys/stat.h>

#include "nn/params.h"
#include "store/ckpt.h"
#include "util/err.h"

/* ---- fixture ---------------------------------------------------------------- */

typedef struct {
    bfn_param_layout layout;
    float *params, *ema, *m, *v;
    gsl_rng *rng[2];
    bfn_ckpt c;
    char *config;
} fixture;

/* The three tensors of different ranks used throughout; skip = name to leave
 * out (NULL: all), swap = 1 to give fc0.weight the transposed shape. */
static void make_layout(bfn_param_layout *l, const char *skip, int swap) {
    memset(l, 0, sizeof *l);
    const int w[2] = {swap ? 3 : 4, swap ? 4 : 3}, b[1] = {4}, conv[4] = {2, 3, 2, 2};
    if (!skip || strcmp(skip, "fc0.weight")) bfn_layout_add(l, "fc0.weight", 1, 2, w);
    if (!skip || strcmp(skip, "fc0.bias")) bfn_layout_add(l, "fc0.bias", 0, 1, b);
    if (!skip || strcmp(skip, "conv.weight")) bfn_layout_add(l, "conv.weight", 1, 4, conv);
}

/* Buffers of the layout's size filled with `fill` bytes, and two RNG streams
 * of the given types, seeded but not advanced. */
static void fixture_init(fixture *f, const char *skip, int swap, const gsl_rng_type *t0, const gsl_rng_type *t1,
                         unsigned char fill) {
    memset(f, 0, sizeof *f);
    make_layout(&f->layout, skip, swap);
    size_t bytes = f->layout.n * sizeof(float);
    f->params = malloc(bytes);
    f->ema = malloc(bytes);
    f->m = malloc(bytes);
    f->v = malloc(bytes);
    memset(f->params, fill, bytes);
    memset(f->ema, fill, bytes);
    memset(f->m, fill, bytes);
    memset(f->v, fill, bytes);
    f->rng[0] = gsl_rng_alloc(t0);
    f->rng[1] = gsl_rng_alloc(t1);
    gsl_rng_set(f->rng[0], 7);
    gsl_rng_set(f->rng[1], 8);
    f->c = (bfn_ckpt){.layout = &f->layout, .params = f->params, .ema = f->ema, .adam_m = f->m, .adam_v = f->v,
                      .n_rng = 2, .rng_name = {"train", "eval"}, .rng = {f->rng[0], f->rng[1]}};
}

/* Fill the tensors with distinct values, including the bit patterns a
 * conversion could change (-0, a subnormal, inf, a NaN with a payload), set
 * every scalar and advance the RNGs by a few draws. */
static void fixture_fill_config(fixture *f, size_t config_len) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    float *bufs[4] = {f->params, f->ema, f->m, f->v};
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < f->layout.n_tensors; i++) {
            const bfn_tensor_info *t = &f->layout.t[i];
            for (size_t j = 0; j < t->size; j++) bufs[k][t->offset + j] = (float)(gsl_rng_uniform(r) - 0.5) * (k + 1);
        }
    gsl_rng_free(r);
    uint32_t nan_payload = 0x7fc12345u;
    float special[4] = {-0.0f, 1e-42f, INFINITY, 0};
    memcpy(&special[3], &nan_payload, 4);
    memcpy(f->params + f->layout.t[0].offset, special, sizeof special);

    size_t n = config_len;
    f->config = malloc(n + 1);
    for (size_t i = 0; i < n; i++) f->config[i] = (i % 61 == 60) ? '\n' : (char)('a' + i % 26);
    f->config[n] = '\0';
    f->c.run_key = "0123abcd";
    f->c.git_commit = "deadbeef";
    f->c.config = f->config;
    f->c.step = 12345;
    f->c.best_val = 0.1 + 1e-17;
    f->c.best_step = 12000;
    f->c.data_epoch = 3;
    f->c.data_pos = 517;
    f->c.data_seed = 0xdeadbeefcafef00dUL; /* above 2^63: must stay unsigned */
    f->c.log_loss_sum = 1.0 / 3.0;
    f->c.log_grad_norm_sum = 2e300;
    f->c.log_count = 7;
    f->c.adam = (bfn_adamw_cfg){.lr = 2e-4f, .beta1 = 0.9f, .beta2 = 0.98f, .eps = 1e-8f, .weight_decay = 0.01f,
                                .ema_decay = 0.9999f};
    for (int i = 0; i < 5; i++) gsl_rng_get(f->rng[0]);
    for (int i = 0; i < 9; i++) gsl_rng_get(f->rng[1]);
}

/* By default a config longer than HDF5's 64 KiB compact attribute limit. */
static void fixture_fill(fixture *f) { fixture_fill_config(f, 100000); }

static void fixture_free(fixture *f) {
    free(f->params);
    free(f->ema);
    free(f->m);
    free(f->v);
    gsl_rng_free(f->rng[0]);
    gsl_rng_free(f->rng[1]);
    free(f->config);
}

static void ckpt_path(char *buf, size_t n) { snprintf(buf, n, "%s/last.h5", test_tmpdir()); }

static void save_full(const char *path, fixture *f) {
    fixture_init(f, NULL, 0, gsl_rng_mt19937, gsl_rng_taus2, 0);
    fixture_fill(f);
    if (bfn_ckpt_save(path, &f->c) != BFN_OK) {
        print_error("save: %s\n", bfn_last_error());
        fail();
    }
}

static long file_size(const char *path) {
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (long)st.st_size;
}

static unsigned char *read_all(const char *path, long *n) {
    *n = file_size(path);
    unsigned char *b = malloc((size_t)*n);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(b, 1, (size_t)*n, fp), (size_t)*n);
    fclose(fp);
    return b;
}

/* Compare every tensor of every buffer bitwise (padding between tensors
 * belongs to no tensor and is not stored). */
static int same_tensors(const fixture *a, const fixture *b) {
    const float *ba[4] = {a->params, a->ema, a->m, a->v}, *bb[4] = {b->params, b->ema, b->m, b->v};
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < a->layout.n_tensors; i++) {
            const bfn_tensor_info *t = &a->layout.t[i];
            if (memcmp(ba[k] + t->offset, bb[k] + t->offset, t->size * sizeof(float))) return 0;
        }
    return 1;
}

/* ---- tests ----------------------------------------------------------------- */

/* Save, load into fresh buffers filled with 0xff and differently seeded
 * RNGs: tensors, scalars and config come back bit for bit and both streams
 * continue with the draws the saved ones would have produced. */
static void test_roundtrip(void **state) {
    char path[300], tmp[320];
    ckpt_path(path, sizeof path);
    fixture a, b;
    save_full(path, &a);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(access(tmp, F_OK), -1); /* no .tmp left behind */
    assert_int_equal(errno, ENOENT);

    fixture_init(&b, NULL, 0, gsl_rng_mt19937, gsl_rng_taus2, 0xff);
    gsl_rng_set(b.rng[0], 99);
    gsl_rng_set(b.rng[1], 98);
    b.c.run_key = "0123abcd";
    char *config = NULL;
    assert_int_equal(bfn_ckpt_load(path, &b.c, &config), BFN_OK);
    assert_true(same_tensors(&a, &b));
    assert_non_null(config);
    assert_string_equal(config, a.config);
    free(config);
    assert_int_equal(b.c.step, 12345);
    assert_memory_equal(&b.c.best_val, &a.c.best_val, sizeof(double));
    assert_int_equal(b.c.best_step, 12000);
    assert_int_equal(b.c.data_epoch, 3);
    assert_int_equal(b.c.data_pos, 517);
    assert_true(b.c.data_seed == 0xdeadbeefcafef00dUL);
    assert_memory_equal(&b.c.log_loss_sum, &a.c.log_loss_sum, sizeof(double));
    assert_memory_equal(&b.c.log_grad_norm_sum, &a.c.log_grad_norm_sum, sizeof(double));
    assert_int_equal(b.c.log_count, 7);
    assert_memory_equal(&b.c.adam, &a.c.adam, sizeof a.c.adam);
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < 100; i++) assert_int_equal(gsl_rng_get(b.rng[s]), gsl_rng_get(a.rng[s]));

    /* loading with another run's key is refused; without a key it is fine */
    b.c.run_key = "other";
    assert_int_equal(bfn_ckpt_load(path, &b.c, NULL), BFN_ECORRUPT);
    assert_non_null(strstr(bfn_last_error(), "other"));
    b.c.run_key = NULL;
    assert_int_equal(bfn_ckpt_load(path, &b.c, NULL), BFN_OK);
    fixture_free(&a);
    fixture_free(&b);
}

/* Two saves of the same state give byte-identical files (no timestamps), so
 * a checkpoint's sha256 identifies its content; so does load-then-save. */
static void test_bytes_reproducible(void **state) {
    char p1[300], p2[300], p3[300];
    ckpt_path(p1, sizeof p1);
    ckpt_path(p2, sizeof p2);
    ckpt_path(p3, sizeof p3);
    fixture a, b;
    save_full(p1, &a);
    assert_int_equal(bfn_ckpt_save(p2, &a.c), BFN_OK);
    fixture_init(&b, NULL, 0, gsl_rng_mt19937, gsl_rng_taus2, 0x55);
    assert_int_equal(bfn_ckpt_load(p1, &b.c, NULL), BFN_OK);
    b.c.run_key = a.c.run_key;
    b.c.git_commit = a.c.git_commit;
    b.c.config = a.c.config;
    assert_int_equal(bfn_ckpt_save(p3, &b.c), BFN_OK);
    long n1, n2, n3;
    unsigned char *b1 = read_all(p1, &n1), *b2 = read_all(p2, &n2), *b3 = read_all(p3, &n3);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, (size_t)n1);
    assert_int_equal(n1, n3);
    assert_memory_equal(b1, b3, (size_t)n1);
    /* no object records a modification time (times are whole seconds, so
     * two quick saves would match even with times on: check directly) */
    hid_t f = H5Fopen(p1, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    const char *objs[] = {"/", "/state", "/model", "/model/params", "/model/params/fc0.weight", "/optim/adam_v",
                          "/rng", "/rng/train"};
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) {
        H5O_info_t info;
        assert_true(H5Oget_info_by_name2(f, objs[i], &info, H5O_INFO_TIME, H5P_DEFAULT) >= 0);
        if (info.mtime || info.ctime || info.atime || info.btime) {
            print_error("%s records times\n", objs[i]);
            fail();
        }
    }
    H5Fclose(f);
    char h1[65], h3[65];
    assert_int_equal(bfn_file_sha256(p1, h1), BFN_OK);
    assert_int_equal(bfn_file_sha256(p3, h3), BFN_OK);
    assert_string_equal(h1, h3);
    free(b1);
    free(b2);
    free(b3);
    fixture_free(&a);
    fixture_free(&b);
}

/* bfn_file_sha256 is the FIPS 180-2 digest in lowercase hex: "abc" is the
 * standard's first example. */
static void test_file_sha256_known(void **state) {
    (void)state;
    const char *p = test_path_in(test_tmpdir(), "abc.txt");
    test_write_file(p, "abc", 3);
    char hex[65];
    assert_int_equal(bfn_file_sha256(p, hex), BFN_OK);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(bfn_file_sha256(test_path_in(test_tmpdir(), "missing"), hex), BFN_EIO);
}

static void expect_corrupt(const char *path, fixture *b) {
    int rc = bfn_ckpt_load(path, &b->c, NULL);
    if (rc != BFN_ECORRUPT) {
        print_error("load of damaged %s returned %d (%s)\n", path, rc, rc ? bfn_last_error() : "OK");
        fail();
    }
    assert_non_null(strstr(bfn_last_error(), path));
}

/* Truncation, a flipped tensor byte, a flipped header byte and garbage are
 * BFN_ECORRUPT; a missing file is BFN_EIO. */
static void test_corrupt_files(void **state) {
    char path[300], bad[320];
    ckpt_path(path, sizeof path);
    fixture a, b;
    save_full(path, &a);
    fixture_init(&b, NULL, 0, gsl_rng_mt19937, gsl_rng_taus2, 0);
    long n;
    unsigned char *orig = read_all(path, &n);
    snprintf(bad, sizeof bad, "%s.bad", path);

    test_write_file(bad, orig, (size_t)n / 2); /* truncated to half */
    expect_corrupt(bad, &b);
    test_write_file(bad, orig, (size_t)n - 1); /* one byte short */
    expect_corrupt(bad, &b);

    /* flip one byte inside conv.weight's stored data: Fletcher-32 catches it */
    const bfn_tensor_info *t = &a.layout.t[bfn_layout_find(&a.layout, "conv.weight")];
    unsigned char *hit = memmem(orig, (size_t)n, a.params + t->offset, t->size * sizeof(float));
    assert_non_null(hit);
    unsigned char *copy = malloc((size_t)n);
    memcpy(copy, orig, (size_t)n);
    copy[hit - orig + 5] ^= 0x10;
    test_write_file(bad, copy, (size_t)n);
    expect_corrupt(bad, &b);

    /* flip a byte of the 100 kB config (stored by HDF5 without a checksum) */
    hit = memmem(orig, (size_t)n, a.config, 1000);
    assert_non_null(hit);
    memcpy(copy, orig, (size_t)n);
    copy[hit - orig + 500] ^= 0x01;
    test_write_file(bad, copy, (size_t)n);
    expect_corrupt(bad, &b);
    assert_non_null(strstr(bfn_last_error(), "config"));

    /* flip a byte of the superblock (after the 8-byte signature) */
    memcpy(copy, orig, (size_t)n);
    copy[12] ^= 0x01;
    test_write_file(bad, copy, (size_t)n);
    expect_corrupt(bad, &b);

    /* garbage and an empty file */
    for (long i = 0; i < n; i++) copy[i] = (unsigned char)(i * 2654435761u >> 13);
    test_write_file(bad, copy, (size_t)n);
    expect_corrupt(bad, &b);
    test_write_file(bad, "", 0);
    expect_corrupt(bad, &b);

    char missing[320];
    snprintf(missing, sizeof missing, "%s.none", path);
    assert_int_equal(bfn_ckpt_load(missing, &b.c, NULL), BFN_EIO);
    assert_non_null(strstr(bfn_last_error(), missing));
    free(copy);
    free(orig);
    fixture_free(&a);
    fixture_free(&b);
}

#ifndef SWEEP_STRIDE
#define SWEEP_STRIDE 17
#endif
/* Flip one byte at a time across the whole file (every SWEEP_STRIDE-th offset): each
 * load must either fail with BFN_ECORRUPT or, if the byte was unused,
 * restore exactly the saved content. Never a silently different state. */
static void test_byte_flip_sweep(void **state) {
    char path[300], bad[320];
    ckpt_path(path, sizeof path);
    fixture a, b;
    fixture_init(&a, NULL, 0, gsl_rng_mt19937, gsl_rng_taus2, 0);
    fixture_fill_config(&a, 2000);
    assert_int_equal(bfn_ckpt_save(path, &a.c), BFN_OK);
    fixture_init(&b, NULL, 0, gsl_rng_mt19937, gsl_rng_taus2, 0);
    long n;
    unsigned char *orig = read_all(path, &n);
    unsigned char *copy = malloc((size_t)n);
    snprintf(bad, sizeof bad, "%s.bad", path);
    int detected = 0, harmless = 0;
    for (long off = 0; off < n; off += SWEEP_STRIDE) {
        memcpy(copy, orig, (size_t)n);
        copy[off] ^= 0x04;
        test_write_file(bad, copy, (size_t)n);
        memset(b.params, 0, b.layout.n * sizeof(float));
        char *config = NULL;
        /* HDF5 1.10 leaks its cache entry when an object header fails its
         * checksum (H5O_protect); that is HDF5's, so LSan ignores
         * allocations made inside this load (after emptying HDF5's free
         * lists, so that those allocations are fresh mallocs). */
#ifdef __SANITIZE_ADDRESS__
        H5garbage_collect();
        __lsan_disable();
#endif
        int rc = bfn_ckpt_load(bad, &b.c, &config);
#ifdef __SANITIZE_ADDRESS__
        __lsan_enable();
#endif
        int same_config = config && strcmp(config, a.config) == 0;
        free(config);
        if (rc == BFN_OK) {
            if (!same_tensors(&a, &b) || !same_config || memcmp(&b.c.adam, &a.c.adam, sizeof a.c.adam) ||
                b.c.step != a.c.step || b.c.data_seed != a.c.data_seed || b.c.best_step != a.c.best_step ||
                b.c.data_pos != a.c.data_pos || b.c.data_epoch != a.c.data_epoch ||
                memcmp(&b.c.best_val, &a.c.best_val, sizeof(double)) ||
                memcmp(gsl_rng_state(b.rng[0]), gsl_rng_state(a.rng[0]), gsl_rng_size(a.rng[0])) ||
                memcmp(gsl_rng_state(b.rng[1]), gsl_rng_state(a.rng[1]), gsl_rng_size(a.rng[1]))) {
                print_error("byte %ld flipped: load succeeded with different content\n", off);
                fail();
            }
            harmless++;
        } else {
            if (rc != BFN_ECORRUPT) {
                print_error("byte %ld flipped: rc %d (%s)\n", off, rc, bfn_last_error());
                fail();
            }
            detected++;
        }
    }
    /* the file is mostly checksummed metadata and tensor data */
    print_message("byte flips in %ld-byte file: %d detected, %d harmless\n", n, detected, harmless);
    assert_true(detected > harmless);
    free(copy);
    free(orig);
    fixture_free(&a);
    fixture_free(&b);
}

/* A checkpoint of a model without fc0.bias loaded into the full model names
 * the missing tensor; one with fc0.weight transposed names the shapes; one
 * with an extra tensor is refused too. */
static void test_missing_and_misshaped(void **state) {
    char path[300];
    ckpt_path(path, sizeof path);
    fixture small, full, swapped;
    fixture_init(&small, "fc0.bias", 0, gsl_rng_mt19937, gsl_rng_taus2, 0);
    fixture_fill(&small);
    assert_int_equal(bfn_ckpt_save(path, &small.c), BFN_OK);
    fixture_init(&full, NULL, 0, gsl_rng_mt19937, gsl_rng_taus2, 0);
    expect_corrupt(path, &full);
    assert_non_null(strstr(bfn_last_error(), "missing /model/params/fc0.bias"));

    /* the other way round: the file has a tensor the model lacks */
    fixture big;
    fixture_init(&big, NULL, 0, gsl_rng_mt19937, gsl_rng_taus2, 0);
    fixture_fill(&big);
    assert_int_equal(bfn_ckpt_save(path, &big.c), BFN_OK);
    expect_corrupt(path, &small);
    assert_non_null(strstr(bfn_last_error(), "/model/params"));

    fixture_init(&swapped, NULL, 1, gsl_rng_mt19937, gsl_rng_taus2, 0);
    expect_corrupt(path, &swapped);
    assert_non_null(strstr(bfn_last_error(), "/model/params/fc0.weight has shape [4,3], expected [3,4]"));

    /* an EMA buffer requested but not saved */
    big.c.ema = NULL;
    assert_int_equal(bfn_ckpt_save(path, &big.c), BFN_OK);
    expect_corrupt(path, &full);
    assert_non_null(strstr(bfn_last_error(), "missing /model/ema/fc0.weight"));
    full.c.ema = NULL; /* not asked for: fine */
    assert_int_equal(bfn_ckpt_load(path, &full.c, NULL), BFN_OK);
    fixture_free(&small);
    fixture_free(&full);
    fixture_free(&swapped);
    fixture_free(&big);
}

/* RNG streams: another generator type, a missing stream. */
static void test_rng_mismatch(void **state) {
    char path[300];
    ckpt_path(path, sizeof path);
    fixture a, b;
    save_full(path, &a); /* train: mt19937, eval: taus2 */
    fixture_init(&b, NULL, 0, gsl_rng_ranlxd2, gsl_rng_taus2, 0);
    expect_corrupt(path, &b);
    assert_non_null(strstr(bfn_last_error(), "/rng/train"));
    assert_non_null(strstr(bfn_last_error(), "mt19937"));
    fixture_free(&b);
    /* same state size, different generator: taus vs taus2 */
    fixture_init(&b, NULL, 0, gsl_rng_mt19937, gsl_rng_taus, 0);
    expect_corrupt(path, &b);
    assert_non_null(strstr(bfn_last_error(), "taus2"));
    b.c.rng_name[1] = "sample"; /* a stream the file does not have */
    expect_corrupt(path, &b);
    assert_non_null(strstr(bfn_last_error(), "missing /rng/sample"));
    fixture_free(&a);
    fixture_free(&b);
}

/* A newer format version is refused with both versions named. */
static void test_newer_version(void **state) {
    char path[300];
    ckpt_path(path, sizeof path);
    fixture a, b;
    save_full(path, &a);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t at = H5Aopen(f, "version", H5P_DEFAULT);
    assert_true(at >= 0);
    int v = BFN_CKPT_VERSION + 1;
    assert_true(H5Awrite(at, H5T_NATIVE_INT, &v) >= 0);
    H5Aclose(at);
    H5Fclose(f);
    fixture_init(&b, NULL, 0, gsl_rng_mt19937, gsl_rng_taus2, 0);
    expect_corrupt(path, &b);
    char want[100];
    snprintf(want, sizeof want, "version %d is newer than this program's %d", BFN_CKPT_VERSION + 1,
             BFN_CKPT_VERSION);
    assert_non_null(strstr(bfn_last_error(), want));
    fixture_free(&a);
    fixture_free(&b);
}

/* A failed save leaves the previous checkpoint in place and loadable, and
 * no .tmp file; bad arguments are refused before anything is written. */
static void test_failed_save_keeps_old(void **state) {
    char path[300], tmp[320];
    ckpt_path(path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fixture a, b;
    save_full(path, &a);
    long n_old;
    unsigned char *old = read_all(path, &n_old);
    assert_int_equal(mkdir(tmp, 0700), 0); /* PATH.tmp cannot be created as a file */
    a.c.step = 99999;
    assert_int_equal(bfn_ckpt_save(path, &a.c), BFN_EIO);
    assert_non_null(strstr(bfn_last_error(), tmp));
    assert_int_equal(rmdir(tmp), 0);
    long n_now;
    unsigned char *now = read_all(path, &n_now);
    assert_int_equal(n_now, n_old);
    assert_memory_equal(now, old, (size_t)n_old);
    fixture_init(&b, NULL, 0, gsl_rng_mt19937, gsl_rng_taus2, 0);
    assert_int_equal(bfn_ckpt_load(path, &b.c, NULL), BFN_OK);
    assert_int_equal(b.c.step, 12345);

    char nodir[320];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/x.h5", test_tmpdir());
    assert_int_equal(bfn_ckpt_save(nodir, &a.c), BFN_EIO);

    a.c.rng_name[1] = "train"; /* duplicate stream name */
    assert_int_equal(bfn_ckpt_save(path, &a.c), BFN_EINVAL);
    assert_int_equal(access(tmp, F_OK), -1);
    free(old);
    free(now);
    fixture_free(&a);
    fixture_free(&b);
}

/* Delete attribute `name` of /state in place (an older writer's file). */
static void drop_state_attr(const char *path, const char *name) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    assert_true(H5Adelete_by_name(f, "/state", name, H5P_DEFAULT) >= 0);
    H5Fclose(f);
}

/* A checkpoint written before the metric sums existed (no log_* attributes
 * in /state) still loads, with empty sums; one with only some of them is
 * damaged. */
static void test_old_checkpoint_without_log_sums(void **state) {
    char path[300];
    ckpt_path(path, sizeof path);
    fixture a, b;
    save_full(path, &a);
    drop_state_attr(path, "log_loss_sum");
    fixture_init(&b, NULL, 0, gsl_rng_mt19937, gsl_rng_taus2, 0xff);
    assert_int_equal(bfn_ckpt_load(path, &b.c, NULL), BFN_ECORRUPT);
    assert_non_null(strstr(bfn_last_error(), "/state"));
    drop_state_attr(path, "log_grad_norm_sum");
    drop_state_attr(path, "log_count");
    b.c.log_loss_sum = b.c.log_grad_norm_sum = 5;
    b.c.log_count = 5;
    assert_int_equal(bfn_ckpt_load(path, &b.c, NULL), BFN_OK);
    assert_true(b.c.log_loss_sum == 0 && b.c.log_grad_norm_sum == 0 && b.c.log_count == 0);
    assert_int_equal(b.c.step, 12345);
    assert_true(same_tensors(&a, &b));
    fixture_free(&a);
    fixture_free(&b);
}

/* sha256 against the FIPS 180-2 test vectors "abc" and "". */
static void test_sha256(void **state) {
    char path[300], hex[65];
    snprintf(path, sizeof path, "%s/abc.txt", test_tmpdir());
    test_write_file(path, "abc", 3);
    assert_int_equal(bfn_file_sha256(path, hex), BFN_OK);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    test_write_file(path, "", 0);
    assert_int_equal(bfn_file_sha256(path, hex), BFN_OK);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /* a file longer than the 64 KiB read buffer: 1,000,000 x 'a' */
    size_t n = 1000000;
    char *big = malloc(n);
    memset(big, 'a', n);
    test_write_file(path, big, n);
    free(big);
    assert_int_equal(bfn_file_sha256(path, hex), BFN_OK);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    snprintf(path, sizeof path, "%s/none", test_tmpdir());
    assert_int_equal(bfn_file_sha256(path, hex), BFN_EIO);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_sha256_known),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_bytes_reproducible),
        cmocka_unit_test(test_corrupt_files),
        cmocka_unit_test(test_byte_flip_sweep),
        cmocka_unit_test(test_missing_and_misshaped),
        cmocka_unit_test(test_rng_mismatch),
        cmocka_unit_test(test_newer_version),
        cmocka_unit_test(test_failed_save_keeps_old),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_old_checkpoint_without_log_sums),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
