/* test_fpenv.c: bfn_flush_denormals (util/fpenv.c) makes every OpenMP thread
 * turn denormal results into 0 and read denormal inputs as 0, and leaves
 * normal floats alone. */
#include <float.h>
#include <omp.h>

#include "testutil.h"
#include "util/fpenv.h"

/* Out of line and reading its operands from memory at run time, so the
 * compiler cannot fold the products with the default (non-flushing) mode. */
static volatile unsigned DENORMAL_BITS = 0x00000100u; /* 3.6e-43 */
static __attribute__((noinline)) float mul(float a, float b) {
    volatile float x = a, y = b;
    return x * y;
}

static void test_every_thread_flushes(void **state) {
    (void)state;
#if defined(__x86_64__)
    omp_set_num_threads(2);
    bfn_flush_denormals();
    int flushed[2] = {0, 0}, zero_out[2] = {0, 0}, zero_in[2] = {0, 0}, normal_ok[2] = {0, 0};
#pragma omp parallel num_threads(2)
    {
        int t = omp_get_thread_num();
        /* 1e-30 * 1e-10 = 1e-40 is below FLT_MIN: a denormal, flushed to 0. */
        float out = mul(1e-30f, 1e-10f);
        /* A denormal input (built from its bits, since FTZ would flush a
         * product) reads as 0: 3.6e-43 * 1e30 gives 0, not 3.6e-13. */
        unsigned b = DENORMAL_BITS;
        float d;
        memcpy(&d, &b, sizeof d);
        float in = mul(d, 1e30f);
        flushed[t] = bfn_denormals_flushed();
        zero_out[t] = out == 0.0f;
        zero_in[t] = in == 0.0f;
        normal_ok[t] = mul(1e-30f, 1e30f) == 1.0f;
    }
    for (int t = 0; t < 2; t++) {
        assert_true(flushed[t]);
        assert_true(zero_out[t]);
        assert_true(zero_in[t]);
        assert_true(normal_ok[t]);
    }
#else
    skip();
#endif
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_every_thread_flushes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
