/* test_fuzz_corpus.c: every fuzz target (tests/fuzz/fuzz_*.c) over its
 * stored corpus tests/fuzz/<target>/ (seeds, plus every input that once
 * crashed a parser), under ASan/UBSan: the fuzzers' findings stay fixed.
 * `make fuzz` is the long search with libFuzzer; this is the regression. */
#include "testutil.h"

#include <dirent.h>

#include "fuzz/fuzz_ckpt.c"
#include "fuzz/fuzz_cifar.c"
#include "fuzz/fuzz_idx.c"
#include "fuzz/fuzz_ini.c"
#include "fuzz/fuzz_schedule.c"
#include "fuzz/fuzz_sweep.c"
#include "fuzz/fuzz_text.c"

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Run every file of tests/fuzz/<name>/ through fn; at least one must exist. */
static void run_corpus(const char *name, int (*fn)(const uint8_t *, size_t)) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/%s", getenv("BFN_SRC") ? getenv("BFN_SRC") : ".", name);
    DIR *d = opendir(dir);
    if (!d) {
        print_error("no corpus directory %s\n", dir);
        fail();
    }
    char *files[4096];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096)
        if (e->d_name[0] != '.') files[n++] = strdup(e->d_name);
    closedir(d);
    qsort(files, (size_t)n, sizeof *files, by_name);
    assert_true(n > 0);
    char cwd[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fseek(f, 0, SEEK_SET);
        uint8_t *buf = malloc((size_t)size + 1);
        assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
        fclose(f);
        fn(buf, (size_t)size);
        free(buf);
        free(files[i]);
        assert_int_equal(chdir(cwd), 0); /* the sweep target changes directory */
    }
}

static void test_corpus_ini(void **s) { (void)s; run_corpus("ini", fuzz_ini); }
static void test_corpus_sweep(void **s) { (void)s; run_corpus("sweep", fuzz_sweep); }
static void test_corpus_schedule(void **s) { (void)s; run_corpus("schedule", fuzz_schedule); }
static void test_corpus_idx(void **s) { (void)s; run_corpus("idx", fuzz_idx); }
static void test_corpus_cifar(void **s) { (void)s; run_corpus("cifar", fuzz_cifar); }
static void test_corpus_text(void **s) { (void)s; run_corpus("text", fuzz_text); }
static void test_corpus_ckpt(void **s) { (void)s; run_corpus("ckpt", fuzz_ckpt); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_ini),      cmocka_unit_test(test_corpus_sweep),
        cmocka_unit_test(test_corpus_schedule), cmocka_unit_test(test_corpus_idx),
        cmocka_unit_test(test_corpus_cifar),    cmocka_unit_test(test_corpus_text),
        cmocka_unit_test(test_corpus_ckpt),
    };
    return cmocka_run_group_tests_name("fuzz corpus", tests, NULL, NULL);
}
