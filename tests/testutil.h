/* testutil.h: shared helpers for the cmocka test programs.
 * Each tests/test_*.c is one cmocka group; tests/run.sh runs them all. */
#ifndef BFN_TESTUTIL_H
#define BFN_TESTUTIL_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <gsl/gsl_rng.h>

#include "util/err.h"

/* Assert |a - b| <= tol with a readable message (cmocka has no float assert
 * in 1.1.5). */
#define assert_close(a, b, tol) do { \
    double a_ = (double)(a), b_ = (double)(b), t_ = (double)(tol); \
    if (!(fabs(a_ - b_) <= t_)) { \
        print_error("%s = %.9g, %s = %.9g, |diff| = %.3g > tol %.3g\n", #a, a_, #b, b_, fabs(a_ - b_), t_); \
        fail(); \
    } } while (0)

/* Assert |a[i] - b[i]| <= tol * (1 + max_j |a[j]|) for all i: for results that
 * may legitimately differ in rounding (different GEMM shapes or thread counts,
 * where OpenBLAS picks a different kernel or blocking per CPU and per shape).
 * Bitwise equality is asserted only for what the harness promises: same
 * config, seed, thread count and shapes. */
#define assert_floats_near(a, b, n, tol) do { \
    const float *a__ = (a), *b__ = (b); size_t n__ = (size_t)(n); double amax__ = 0; \
    for (size_t i__ = 0; i__ < n__; i__++) amax__ = fmax(amax__, fabs((double)a__[i__])); \
    for (size_t i__ = 0; i__ < n__; i__++) { \
        double d__ = fabs((double)a__[i__] - (double)b__[i__]); \
        if (!(d__ <= (tol) * (1.0 + amax__))) { \
            print_error("%s[%zu] = %.9g, %s[%zu] = %.9g, |diff| = %.3g > %.3g\n", #a, i__, \
                        (double)a__[i__], #b, i__, (double)b__[i__], d__, (tol) * (1.0 + amax__)); \
            fail(); \
        } \
    } } while (0)

/* Temporary directories made by test_tmpdir, removed when the test program
 * exits (also after a failed test, since cmocka returns normally), unless
 * BFN_KEEP_TMP is set. */
static char test_tmpdirs_[64][256];
static int test_n_tmpdirs_;

static inline void test_remove_tmpdirs_(void) {
    if (getenv("BFN_KEEP_TMP")) return; /* keep them for debugging a failure */
    for (int i = 0; i < test_n_tmpdirs_; i++) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", test_tmpdirs_[i]);
        if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", test_tmpdirs_[i]);
    }
}

/* A fresh temporary directory for one test. Returns a static buffer. */
static inline const char *test_tmpdir(void) {
    static char dir[256];
    snprintf(dir, sizeof dir, "/tmp/bfn-test-XXXXXX");
    if (!mkdtemp(dir)) { print_error("mkdtemp failed\n"); fail(); }
    if (test_n_tmpdirs_ == 0) atexit(test_remove_tmpdirs_);
    if (test_n_tmpdirs_ < 64) snprintf(test_tmpdirs_[test_n_tmpdirs_++], 256, "%s", dir);
    return dir;
}

/* DIR/NAME in one of 4 rotating static buffers (so a few can be live at once). */
static inline char *test_path_in(const char *dir, const char *name) {
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

/* A seeded Mersenne Twister (the generator the harness uses). */
static inline gsl_rng *test_rng(unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    return r;
}

/* n zeroed floats. */
static inline float *test_falloc(size_t n) { return bfn_xcalloc(n, sizeof(float)); }

/* Run a shell command built printf-style; returns its exit status (128 +
 * signal if killed, -1 if it could not run). Test inputs only: callers
 * quote what they pass. */
static inline int test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int test_sh(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    if (st == -1) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A whole file, NUL-terminated (NULL if missing); *len (if non-NULL) gets its size. */
static inline char *test_slurp_n(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    if (len) *len = (size_t)n;
    return s;
}

/* Write bytes to a file (fixture helper). */
static inline void test_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) { print_error("cannot write %s\n", path); fail(); }
    if (n) assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

#endif
