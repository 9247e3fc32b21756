/* fuzz.h: shared helpers of the fuzz targets (tests/fuzz/fuzz_*.c).
 *
 * Every target is one function `int NAME(const uint8_t *data, size_t size)`
 * that feeds the bytes to one parser of user files and must never crash,
 * leak, hang or trip ASan/UBSan, whatever the bytes. Built two ways:
 *   - `make fuzz`: with clang's libFuzzer (-DBFN_LIBFUZZER), one binary per
 *     target, BFN_FUZZ_TARGET(NAME) defining LLVMFuzzerTestOneInput;
 *   - `make test`: tests/test_fuzz_corpus.c includes every target and runs
 *     the stored corpus (tests/fuzz/<target>/) through it with gcc's
 *     ASan/UBSan, as a regression test.
 * Parsers take paths, so the input goes to a file in a private temporary
 * directory (fuzz_file), rewritten on every call. */
#ifndef BFN_FUZZ_H
#define BFN_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"

/* The private directory (made on first use, removed at exit). */
static char fuzz_dir_[64];
static void fuzz_cleanup_(void) {
    if (!fuzz_dir_[0] || getenv("BFN_KEEP_TMP")) return;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir_);
    if (system(cmd) != 0) fprintf(stderr, "fuzz: could not remove %s\n", fuzz_dir_);
}
static inline const char *fuzz_tmpdir(void) {
    if (!fuzz_dir_[0]) {
        snprintf(fuzz_dir_, sizeof fuzz_dir_, "/tmp/bfn-fuzz-XXXXXX");
        if (!mkdtemp(fuzz_dir_)) abort();
        atexit(fuzz_cleanup_);
    }
    return fuzz_dir_;
}

/* FUZZDIR/name (rotating static buffers, 4 live at once). */
static inline const char *fuzz_path(const char *name) {
    static char buf[4][256];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 256, "%s/%s", fuzz_tmpdir(), name);
    return p;
}

/* Write bytes to FUZZDIR/name; returns the path. */
static inline const char *fuzz_file(const char *name, const void *data, size_t size) {
    const char *path = fuzz_path(name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();
    return path;
}

/* LeakSanitizer: HDF5 1.10.8 itself leaks some metadata-cache objects when
 * H5Dopen2/H5Oopen meets a corrupt object header (found by fuzz_ckpt; the
 * failed call returns no handle we could close). Suppress leaks allocated
 * inside libhdf5 only: a leak from our own code is still reported. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libhdf5_serial.so\n"; }

#ifdef BFN_LIBFUZZER
#define BFN_FUZZ_TARGET(fn) \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fn(data, size); }
#else
#define BFN_FUZZ_TARGET(fn)
#endif

#endif
