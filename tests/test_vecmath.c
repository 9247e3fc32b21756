/* test_vecmath.c: the vectorised float exp/log/sin-cos (util/vecmath.h)
 * against libm in double over the ranges the code uses them on, and the
 * 16-lane random stream (util/lanes_rng.h): determinism, the (0, 1) range,
 * and Monte Carlo moments of its uniforms and normals. */
#include "testutil.h"

#include <float.h>

#include "util/lanes_rng.h"
#include "util/vecmath.h"

/* Relative error of bfn_expf_vec <= 2 ulp (2.4e-7) on [-87.3, 88.3] (the
 * clamp range; the sampler's sigmoid arguments fall anywhere in it): every
 * 1e-4 step plus a dense grid near 0 where r is tiny. */
static void test_expf_error(void **state) {
    bfn_vec_bounds_t vb = bfn_vec_bounds();
    double worst = 0.0;
    for (double x = -87.3; x <= 88.3; x += 1e-4) {
        double ref = exp((double)(float)x), got = bfn_expf_vec((float)x, vb.exp_lo, vb.exp_hi);
        worst = fmax(worst, fabs(got - ref) / ref);
    }
    for (double x = -1e-3; x <= 1e-3; x += 1e-7) {
        double ref = exp((double)(float)x), got = bfn_expf_vec((float)x, vb.exp_lo, vb.exp_hi);
        worst = fmax(worst, fabs(got - ref) / ref);
    }
    assert_true(worst <= 2.0 * FLT_EPSILON);
    /* the clamp: below lo gives e^lo (a normal float), above hi e^hi, NaN e^lo */
    assert_true(bfn_expf_vec(-1000.0f, vb.exp_lo, vb.exp_hi) >= FLT_MIN);
    assert_true(isfinite(bfn_expf_vec(1000.0f, vb.exp_lo, vb.exp_hi)));
    assert_true(bfn_expf_vec(NAN, vb.exp_lo, vb.exp_hi) >= FLT_MIN);
}

/* |ln x error| <= 2.4e-7 + 1 ulp of |ln x| on every float exponent from
 * FLT_MIN to 2^127 (8192 mantissas per binade; the sampler takes logs of
 * probabilities in [1e-38, 1] and the Box-Muller uniforms in (0, 1)), and
 * denormals, 0 and NaN clamp to ln FLT_MIN. */
static void test_logf_error(void **state) {
    bfn_vec_bounds_t vb = bfn_vec_bounds();
    double worst = 0.0;
    for (int e = -126; e < 127; e++)
        for (int j = 0; j < 8192; j++) {
            float x = ldexpf(1.0f + j / 8192.0f, e);
            double ref = log((double)x), got = bfn_logf_vec(x, vb.log_lo);
            double err = fabs(got - ref) - FLT_EPSILON * fabs(ref);
            worst = fmax(worst, err);
        }
    assert_true(worst <= 2.4e-7);
    /* Every float in [1/2, 2), where ln x ~ 0: relative error <= 1 ulp (the
     * polynomial in f = m - 1 keeps relative accuracy; measured 0.66 ulp). */
    for (float x = 0.5f; x < 2.0f; x = nextafterf(x, 3.0f)) {
        double ref = log((double)x), got = bfn_logf_vec(x, vb.log_lo);
        assert_true(fabs(got - ref) <= FLT_EPSILON * fabs(ref));
    }
    const float lnmin = logf(FLT_MIN);
    assert_close(bfn_logf_vec(0.0f, vb.log_lo), lnmin, 1e-5);
    assert_close(bfn_logf_vec(1e-44f, vb.log_lo), lnmin, 1e-5);
    assert_close(bfn_logf_vec(NAN, vb.log_lo), lnmin, 1e-5);
}

/* sin(2 pi w), cos(2 pi w) to 1e-6 absolute for w in [-1/2, 1/2] (measured
 * 6.9e-7: float rounding of h = pi w, of the polynomials near h = pi/2 and of
 * the double-angle products; as Box-Muller angles this moves a normal draw of
 * radius <= 5.9 by < 6e-6, far below what any sampler statistic resolves). */
static void test_sincos_error(void **state) {
    double worst = 0.0;
    for (int i = -500000; i <= 500000; i++) {
        float w = (float)(i / 1e6), s, c;
        bfn_sincospi_half(w, &s, &c);
        worst = fmax(worst, fabs(s - sin(2.0 * M_PI * w)));
        worst = fmax(worst, fabs(c - cos(2.0 * M_PI * w)));
    }
    assert_true(worst <= 1e-6);
}

/* The same gsl seed gives the same stream; a different one a different one. */
static void test_lanes_determinism(void **state) {
    enum { N = 1000 };
    float a[N], b[N], c[N];
    gsl_rng *r1 = test_rng(5), *r2 = test_rng(5), *r3 = test_rng(6);
    bfn_lanes_rng l1, l2, l3;
    bfn_lanes_seed(&l1, r1);
    bfn_lanes_seed(&l2, r2);
    bfn_lanes_seed(&l3, r3);
    bfn_lanes_normal(&l1, a, N);
    bfn_lanes_normal(&l2, b, N);
    bfn_lanes_normal(&l3, c, N);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    gsl_rng_free(r1);
    gsl_rng_free(r2);
    gsl_rng_free(r3);
}

/* Uniforms lie strictly inside (0, 1) with mean 1/2 and variance 1/12;
 * normals have mean 0, variance 1, kurtosis 3 and P(|z| > 2) = 0.0455, each
 * within 5 standard errors over 2^21 draws, and none beyond the documented
 * 5.89 bound. A lag-1 correlation of the uniforms within 5 SE too. */
static void test_lanes_moments(void **state) {
    const int N = 1 << 21;
    float *u = test_falloc(N), *z = test_falloc(N);
    gsl_rng *r = test_rng(77);
    bfn_lanes_rng lr;
    bfn_lanes_seed(&lr, r);
    bfn_lanes_uniform(&lr, u, N - 3); /* a length that is not a multiple of 16 */
    bfn_lanes_normal(&lr, z, N);
    double s = 0, ss = 0, lag = 0;
    for (int i = 0; i < N - 3; i++) {
        assert_true(u[i] > 0.0f && u[i] < 1.0f);
        s += u[i];
        ss += (double)u[i] * u[i];
        if (i) lag += (u[i] - 0.5) * (u[i - 1] - 0.5);
    }
    double n = N - 3, m = s / n, v = ss / n - m * m;
    assert_close(m, 0.5, 5.0 * sqrt(1.0 / 12 / n));
    assert_close(v, 1.0 / 12, 5.0 * sqrt(1.0 / 180 / n));
    assert_close(lag / (n - 1), 0.0, 5.0 / 12 / sqrt(n));
    double z1 = 0, z2 = 0, z4 = 0, tail = 0, zmax = 0;
    for (int i = 0; i < N; i++) {
        double x = z[i];
        z1 += x;
        z2 += x * x;
        z4 += x * x * x * x;
        tail += fabs(x) > 2.0;
        zmax = fmax(zmax, fabs(x));
    }
    assert_close(z1 / N, 0.0, 5.0 / sqrt(N));
    assert_close(z2 / N, 1.0, 5.0 * sqrt(2.0 / N));
    assert_close(z4 / N, 3.0, 5.0 * sqrt(96.0 / N));
    const double p2 = erfc(2.0 / M_SQRT2);
    assert_close(tail / N, p2, 5.0 * sqrt(p2 * (1 - p2) / N));
    assert_true(zmax <= 5.9);
    free(u);
    free(z);
    gsl_rng_free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expf_error),       cmocka_unit_test(test_logf_error),
        cmocka_unit_test(test_sincos_error),     cmocka_unit_test(test_lanes_determinism),
        cmocka_unit_test(test_lanes_moments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
