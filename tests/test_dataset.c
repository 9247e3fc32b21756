/* test_dataset.c: batch preparation, 8-bit levels to the data values each
 * family expects (bit reduction, bin centres, dynamic binarisation), and the
 * seeded shuffles behind splits and epoch orders. The loaders themselves are
 * tested in test_data.c and test_text.c. */
#include "testutil.h"

#include "data/dataset.h"

/* Batch preparation: 8-bit levels to the data values each family expects. */
static void test_batch_preparation(void **state) {
    (void)state;
    enum { N = 4000 };
    bfn_dataset ds;
    memset(&ds, 0, sizeof ds);
    ds.D = 256;
    ds.images.n = 1;
    ds.images.channels = 1;
    ds.images.height = 16;
    ds.images.width = 16;
    ds.images.pixels = malloc(256);
    for (int v = 0; v < 256; v++) ds.images.pixels[v] = (uint8_t)v;
    long zero = 0;
    ds.index[BFN_SPLIT_TRAIN] = &zero;
    ds.n[BFN_SPLIT_TRAIN] = 1;
    float x[256];
    gsl_rng *r = test_rng(5);
    /* 16 bins keep the top 4 bits: centre -1 + (2 (v >> 4) + 1) / 16. */
    ds.prep = BFN_PREP_BIN_CENTRE;
    ds.K = 16;
    bfn_dataset_batch(&ds, BFN_SPLIT_TRAIN, &zero, 1, r, x);
    for (int v = 0; v < 256; v++) assert_float_equal(x[v], -1.0 + (2.0 * (v >> 4) + 1.0) / 16, 1e-7);
    /* 256 bins: the byte itself. */
    ds.K = 256;
    bfn_dataset_batch(&ds, BFN_SPLIT_TRAIN, &zero, 1, r, x);
    for (int v = 0; v < 256; v++) assert_float_equal(x[v], -1.0 + (2.0 * v + 1.0) / 256, 1e-7);
    /* Dynamic binarisation: P(1) = v / 255; over N draws the count of ones for
     * v is Binomial(N, v/255): 5 standard deviations (+1 for v = 0, 255). */
    ds.prep = BFN_PREP_BINARISE_DYNAMIC;
    ds.K = 2;
    static int ones[256];
    for (int k = 0; k < N; k++) {
        bfn_dataset_batch(&ds, BFN_SPLIT_TRAIN, &zero, 1, r, x);
        for (int v = 0; v < 256; v++) ones[v] += x[v] == 1.0f;
    }
    for (int v = 0; v < 256; v += 15) {
        double p = v / 255.0, sd = sqrt(N * p * (1 - p));
        assert_close(ones[v], N * p, 5 * sd + 1);
    }
    assert_int_equal(ones[0], 0);
    assert_int_equal(ones[255], N);
    gsl_rng_free(r);
    free(ds.images.pixels);
}

/* A shuffle is a permutation that depends on its seed alone. */
static void test_shuffle(void **state) {
    (void)state;
    enum { N = 1000 };
    long a[N], b[N], c[N];
    int seen[N] = {0};
    bfn_shuffle_indices(a, N, 7);
    bfn_shuffle_indices(b, N, 7);
    bfn_shuffle_indices(c, N, 8);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    for (int i = 0; i < N; i++) seen[a[i]]++;
    for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_preparation),
        cmocka_unit_test(test_shuffle),
    };
    return cmocka_run_group_tests_name("dataset", tests, NULL, NULL);
}
