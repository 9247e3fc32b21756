/* test_continuous.c: the continuous-data family (src/bfn/continuous.c) and
 * the Gaussian flow it shares with discretised data (src/bfn/gauss.c).
 *
 * References are the official closed forms written with gamma = 1 - sigma1^(2t)
 * (the implementation only sees beta(t) from the schedule):
 *   - flow moments mu ~ N(gamma x, gamma (1 - gamma)), by Monte Carlo;
 *   - "prior + Bayesian updates with sum alpha_i = beta(t)" has the flow's
 *     distribution at t (paper Sec. 4: the flow is the marginal of the updates);
 *   - x_hat from the true noise recovers x exactly (noise prediction, §4.4);
 *   - L^inf = -ln(sigma1) sigma1^(-2t) (x - x_hat)^2, L^n -> L^inf, L^r as a
 *     discretised Gaussian with [CODE]'s fallback; gradients by finite differences.
 * Monte Carlo tolerances are 5 standard errors (false-failure probability
 * ~6e-7 per check; seeds are fixed anyway). */
#include "gradcheck.h"

#include <float.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "bfn/family.h"
#include "bfn/gauss.h"
#include "util/err.h"

static bfn_family make_family(int D, double sigma1, int bins, double std) {
    bfn_schedule s;
    bfn_schedule_params p = {.sigma1 = sigma1};
    assert_int_equal(bfn_schedule_init(&s, "exponential", &p), BFN_OK);
    bfn_family f;
    int rc = bfn_continuous_init(&f, D, s, bins, std);
    if (rc != BFN_OK) print_error("%s\n", bfn_last_error());
    assert_int_equal(rc, BFN_OK);
    return f;
}

static double official_gamma(double sigma1, double t) { return 1.0 - pow(sigma1, 2.0 * t); }

/* Sample mean and variance of mu over all dimensions against N(m, v) with
 * the same m, v for all: 5 SE each (SE of the mean sqrt(v/N), of the sample
 * variance v sqrt(2/(N-1)) for Gaussian data). */
static void check_moments(const float *theta, int N, const double *m, double v) {
    double mean_dev = 0.0, var = 0.0;
    for (int i = 0; i < N; i++) mean_dev += (theta[2 * i] - m[i]) / N;
    for (int i = 0; i < N; i++) {
        double e = theta[2 * i] - m[i];
        var += e * e / N; /* deviations from the known means */
    }
    if (fabs(mean_dev) > 5.0 * sqrt(v / N) || fabs(var - v) > 5.0 * v * sqrt(2.0 / (N - 1)))
        print_error("mean dev %g (se %g), var %g vs %g (se %g)\n", mean_dev, sqrt(v / N), var, v,
                    v * sqrt(2.0 / (N - 1)));
    assert_true(fabs(mean_dev) <= 5.0 * sqrt(v / N));
    assert_true(fabs(var - v) <= 5.0 * v * sqrt(2.0 / (N - 1)));
}

/* ---- flow and updates ------------------------------------------------------------- */

/* mu ~ N(gamma x, gamma (1 - gamma)), rho = sigma1^(-2t) (float, relative
 * 1e-6); at t = 0 mu = 0 and rho = 1 exactly. */
static void test_flow_moments(void **state) {
    const int D = 40000;
    const double sigma1 = 0.02, ts[] = {0.1, 0.4, 0.9};
    bfn_family f = make_family(D, sigma1, 256, sigma1);
    float *x = test_falloc(D), *theta = test_falloc(2 * (size_t)D);
    double *m = bfn_xmalloc(D * sizeof *m);
    gsl_rng *r = test_rng(11);
    for (int d = 0; d < D; d++) x[d] = (float)(-0.95 + 1.9 * gsl_rng_uniform(r));
    for (int j = 0; j < 3; j++) {
        float t = (float)ts[j];
        double g = official_gamma(sigma1, t);
        f.ops->flow_sample(&f, 1, x, &t, r, theta);
        for (int d = 0; d < D; d++) m[d] = g * x[d];
        check_moments(theta, D, m, g * (1.0 - g));
        for (int d = 0; d < D; d++) assert_close(theta[2 * d + 1], pow(sigma1, -2.0 * t), 1e-6 * theta[2 * d + 1]);
    }
    float t0 = 0.0f;
    f.ops->flow_sample(&f, 1, x, &t0, r, theta);
    for (int d = 0; d < D; d++) {
        assert_true(theta[2 * d] == 0.0f);
        assert_true(theta[2 * d + 1] == 1.0f);
    }
    gsl_rng_free(r);
    free(x);
    free(theta);
    free(m);
    bfn_family_free(&f);
}

/* Prior + k of n sender samples and Bayesian updates with alpha_i from the
 * schedule leaves mu ~ N(gamma(k/n) x, gamma (1 - gamma)) and rho = 1 +
 * beta(k/n) exactly (the flow is the marginal of the updates). Checked at
 * k = n/2 and k = n, n = 20. */
static void test_updates_reproduce_flow(void **state) {
    const int D = 40000, n = 20;
    const double sigma1 = 0.05;
    bfn_family f = make_family(D, sigma1, 256, sigma1);
    float *x = test_falloc(D), *theta = test_falloc(2 * (size_t)D);
    double *m = bfn_xmalloc(D * sizeof *m);
    gsl_rng *r = test_rng(12);
    for (int d = 0; d < D; d++) x[d] = (float)(-0.9 + 1.8 * gsl_rng_uniform(r));
    f.ops->prior(&f, 1, theta);
    for (int i = 1; i <= n; i++) {
        float a = (float)bfn_schedule_alpha(&f.sched, i, n);
        f.ops->update(&f, 1, theta, x, &a, r);
        if (i == n / 2 || i == n) {
            double t = (double)i / n, g = official_gamma(sigma1, t);
            for (int d = 0; d < D; d++) m[d] = g * x[d];
            check_moments(theta, D, m, g * (1.0 - g));
            /* float accumulation of 20 accuracies: relative 1e-5 */
            assert_close(theta[1], pow(sigma1, -2.0 * t), 1e-5 * theta[1]);
        }
    }
    gsl_rng_free(r);
    free(x);
    free(theta);
    free(m);
    bfn_family_free(&f);
}

/* With eps_hat = the eps the flow drew (replayed by reseeding; the flow draws
 * one ziggurat normal per dimension in order), x_hat = x. Tolerance 2e-5:
 * float mu (|mu| < 2) and float eps_hat (|eps| < 6) carry 6e-8 relative
 * error, amplified by 1/gamma <= 7.8 and sqrt((1-gamma)/gamma) <= 2.7 at
 * t >= 0.01 with sigma1 = 1e-3 -> < 2e-6; a coefficient wrong by 1e-3
 * relative moves x_hat by ~1e-2 at t = 0.01. Also output_sample = output_mode
 * = output_mean = x_hat. */
static void test_noise_prediction_identity(void **state) {
    const int D = 2000;
    bfn_family f = make_family(D, 1e-3, 256, 1e-3);
    float *x = test_falloc(D), *theta = test_falloc(2 * (size_t)D), *out = test_falloc(D), *xs = test_falloc(D), *xs2 = test_falloc(D);
    gsl_rng *r = test_rng(13);
    for (int d = 0; d < D; d++) x[d] = (float)(-0.99 + 1.98 * gsl_rng_uniform(r));
    const float ts[] = {0.01f, 0.3f, 0.7f, 1.0f};
    for (int j = 0; j < 4; j++) {
        float t = ts[j];
        gsl_rng_set(r, 100 + j);
        f.ops->flow_sample(&f, 1, x, &t, r, theta);
        gsl_rng_set(r, 100 + j);
        for (int d = 0; d < D; d++) out[d] = (float)gsl_ran_gaussian_ziggurat(r, 1.0);
        f.ops->output_mean(&f, 1, theta, &t, out, xs);
        for (int d = 0; d < D; d++) assert_close(xs[d], x[d], 2e-5);
        f.ops->output_mode(&f, 1, theta, &t, out, xs2);
        assert_memory_equal(xs, xs2, D * sizeof(float));
        f.ops->output_sample(&f, 1, theta, &t, out, r, xs2);
        assert_memory_equal(xs, xs2, D * sizeof(float));
    }
    /* net input is mu */
    f.ops->net_input(&f, 1, theta, xs);
    for (int d = 0; d < D; d++) assert_true(xs[d] == theta[2 * d]);
    gsl_rng_free(r);
    free(x);
    free(theta);
    free(out);
    free(xs);
    free(xs2);
    bfn_family_free(&f);
}

/* One update replayed by hand: y = xs + z / sqrt(alpha) with the ziggurat draw
 * z, rho' = rho + alpha, mu' = (rho mu + alpha y) / rho' (float, relative 1e-6). */
static void test_update_formula(void **state) {
    const int D = 50;
    bfn_family f = make_family(D, 0.02, 256, 0.02);
    float theta[100], xs[50], alpha = 7.25f;
    double mu0[50], rho0[50];
    gsl_rng *r = test_rng(21);
    for (int d = 0; d < D; d++) {
        mu0[d] = theta[2 * d] = (float)(gsl_rng_uniform(r) - 0.5);
        rho0[d] = theta[2 * d + 1] = (float)(1.0 + 10.0 * gsl_rng_uniform(r));
        xs[d] = (float)(2.0 * gsl_rng_uniform(r) - 1.0);
    }
    gsl_rng_set(r, 22);
    f.ops->update(&f, 1, theta, xs, &alpha, r);
    gsl_rng_set(r, 22);
    for (int d = 0; d < D; d++) {
        double y = xs[d] + gsl_ran_gaussian_ziggurat(r, 1.0 / sqrt(alpha));
        double rho = rho0[d] + alpha, mu = (rho0[d] * mu0[d] + alpha * y) / rho;
        assert_close(theta[2 * d + 1], rho, 1e-6 * rho);
        assert_close(theta[2 * d], mu, 1e-6 * (fabs(mu) + 1e-3));
    }
    gsl_rng_free(r);
    bfn_family_free(&f);
}

/* ---- losses ------------------------------------------------------------------------- */

/* x_hat by the official formula, with the clip and t_min. */
static double ref_x_hat(double sigma1, double t, double mu, double eps) {
    if (t < 1e-6) return 0.0;
    double g = official_gamma(sigma1, t), v = mu / g - sqrt((1.0 - g) / g) * eps;
    return v < -1.0 ? -1.0 : v > 1.0 ? 1.0 : v;
}

/* L^inf and L^n values against the official formulas, relative 2e-6 (float
 * loss and float inputs); includes clipped dimensions and t = 0 (x_hat = 0). */
static void test_loss_values(void **state) {
    const int D = 5, B = 2;
    const double sigma1 = 1e-3;
    bfn_family f = make_family(D, sigma1, 256, sigma1);
    float x[10], theta[20], out[10], t[2] = {0.35f, 0.0f}, al[2] = {37.5f, 2.0f};
    double loss[2], ln[2];
    for (int i = 0; i < B * D; i++) {
        x[i] = 0.2f * (i % 5) - 0.4f;
        theta[2 * i] = 0.15f * (i % 5) - 0.3f;
        theta[2 * i + 1] = 1.0f;
        out[i] = (i % 5 == 4) ? 40.0f : 0.5f * (i % 3) - 0.5f; /* the 40 clips to -1 */
    }
    f.ops->loss_cts(&f, B, x, t, theta, out, loss, NULL, 1.0f);
    f.ops->loss_n(&f, B, x, t, al, 25.0, theta, out, NULL, ln, NULL, 1.0f);
    for (int b = 0; b < B; b++) {
        double w = -log(sigma1) * pow(sigma1, -2.0 * t[b]), ref = 0.0, refn = 0.0;
        for (int d = 0; d < D; d++) {
            int i = b * D + d;
            double e = x[i] - ref_x_hat(sigma1, t[b], theta[2 * i], out[i]);
            ref += w * e * e / D;
            refn += 25.0 * al[b] / 2.0 * e * e / D;
        }
        assert_close(loss[b], ref, 2e-6 * ref);
        assert_close(ln[b], refn, 2e-6 * refn);
    }
    bfn_family_free(&f);
}

/* Central differences of loss[0] w.r.t. each eps_hat, step 1e-3 (the loss is
 * quadratic in eps_hat inside the clip, so the difference is exact up to
 * float rounding of the loss, <= 1.2e-7 |L| / step). Clipped dimensions and
 * t < 1e-6 must have gradient exactly 0. Tolerance 1e-4 relative + 4x the
 * float term. */
typedef struct {
    bfn_family *f;
    int use_n;
    float t, al[1];
    const float *x, *theta, *out;
    float *gd;
} cts_ctx;

static double cts_loss(void *ctx, long i) {
    cts_ctx *c = ctx;
    double l[1];
    if (c->use_n) c->f->ops->loss_n(c->f, 1, c->x, &c->t, c->al, 40.0, c->theta, c->out, NULL, l, c->gd, 1.0f);
    else c->f->ops->loss_cts(c->f, 1, c->x, &c->t, c->theta, c->out, l, c->gd, 1.0f);
    return l[0];
}

static void fd_cts(bfn_family *f, int use_n, float t, const float *x, const float *theta, float *out,
                   const int *zero) {
    int D = f->D;
    float *g = test_falloc(D);
    cts_ctx c = {f, use_n, t, {12.5f}, x, theta, out, test_falloc(D)};
    cts_loss(&c, -1);
    memcpy(g, c.gd, (size_t)D * sizeof *g);
    const gradcheck gc = {.loss = cts_loss, .ctx = &c, .h = 1e-3, .rtol = 1e-4, .atol = 1e-12,
                          .loss_noise = 4 * 1.2e-7, .must_be_zero = zero};
    gradcheck_all(use_n ? "cts L^n d/d eps_hat" : "cts L^inf d/d eps_hat", &gc, out, g, D);
    free(g);
    free(c.gd);
}

static void test_gradients(void **state) {
    const int D = 4;
    bfn_family f = make_family(D, 1e-3, 256, 1e-3);
    float x[4] = {0.3f, -0.7f, 0.9f, -0.1f}, theta[8] = {0.25f, 1, -0.6f, 1, 0.95f, 1, 0.4f, 1};
    float out[4] = {0.2f, -0.4f, -30.0f, 1.1f}; /* dimension 2 clips to +1 */
    int zero[4] = {0, 0, 1, 0}, all[4] = {1, 1, 1, 1};
    for (int use_n = 0; use_n < 2; use_n++) {
        fd_cts(&f, use_n, 0.55f, x, theta, out, zero);
        fd_cts(&f, use_n, 1e-7f, x, theta, out, all); /* t < t_min: x_hat = 0, no gradient */
    }
    bfn_family_free(&f);
}

/* n alpha_i / 2 -> beta'(t)/2 with i = ceil(t n): for the exponential schedule
 * n alpha_i is beta' averaged over [(i-1)/n, i/n], so the relative gap is at
 * most sigma1^(-2/n) - 1; checked at n = 10 .. 10^5 together with shrinking. */
static void test_loss_n_tends_to_loss_cts(void **state) {
    const double sigma1 = 1e-3;
    bfn_family f = make_family(3, sigma1, 256, sigma1);
    float x[3] = {0.3f, -0.2f, 0.8f}, theta[6] = {0.1f, 1, -0.3f, 1, 0.7f, 1}, out[3] = {0.4f, -0.1f, 0.2f};
    float t = 0.6137f;
    double lc[1], ln[1];
    f.ops->loss_cts(&f, 1, x, &t, theta, out, lc, NULL, 1.0f);
    double prev = INFINITY;
    for (int n = 10; n <= 100000; n *= 10) {
        int i = (int)ceil(t * n);
        float a = (float)bfn_schedule_alpha(&f.sched, i, n);
        f.ops->loss_n(&f, 1, x, &t, &a, n, theta, out, NULL, ln, NULL, 1.0f);
        double gap = fabs(ln[0] - lc[0]) / lc[0], bound = pow(sigma1, -2.0 / n) - 1.0;
        assert_true(gap <= bound + 1e-6); /* + float rounding of a and the losses */
        assert_true(gap < prev || gap < 1e-6);
        prev = gap;
    }
    assert_true(prev < 1e-3);
    bfn_family_free(&f);
}

/* L^r: x_hat scored by N(x_hat, std^2) over `bins` bins ([CODE]: 256 bins with
 * sigma1 or 16 bins with 0.7 sigma1). A perfect x_hat costs -ln(1 - 2 Q(h/2/std))
 * for interior bins (9.4e-5 nats at 256/1e-3, 4.8e-3 at 16/0.0221); an edge
 * bin with x_hat clipped to -1 costs -ln Phi((b_1 + 1)/std); a far-off x_hat
 * takes the fallback -ln N(c; x_hat, std) - ln(2/K). Relative 1e-5. */
static void test_recon(void **state) {
    const double cfg[2][3] = {{1e-3, 256, 1e-3}, {sqrt(1e-3), 16, 0.7 * sqrt(1e-3)}};
    for (int c = 0; c < 2; c++) {
        double sigma1 = cfg[c][0], std = cfg[c][2];
        int K = (int)cfg[c][1];
        bfn_family f = make_family(2, sigma1, K, std);
        float x[2] = {(float)bfn_bin_centre(K / 3, K), (float)bfn_bin_centre(0, K)}, theta[4], out[2], t1[1] = {1.0f};
        double loss[1];
        double g = official_gamma(sigma1, 1.0), b = sqrt((1.0 - g) / g);
        /* mu chosen so that x_hat = x with eps_hat = 0.5 (dim 0) and x_hat < -1 (dim 1) */
        theta[0] = (float)(g * (x[0] + 0.5 * b));
        theta[1] = theta[3] = 1.0f;
        theta[2] = -1.0f;
        out[0] = 0.5f;
        out[1] = 3.0f;
        f.ops->loss_recon(&f, 1, x, t1, theta, out, loss);
        double xh = ref_x_hat(sigma1, 1.0, theta[0], out[0]), h = 1.0 / K;
        assert_close(xh, x[0], 1e-6);
        double p0 = 0.5 * erfc((x[0] - h - xh) / std / sqrt(2.0)) - 0.5 * erfc((x[0] + h - xh) / std / sqrt(2.0));
        double p1 = 0.5 * erfc(-((-1.0 + 2.0 / K) - (-1.0)) / std / sqrt(2.0));
        double ref = -(log(p0) + log(p1)) / 2;
        assert_close(loss[0], ref, 1e-5 * ref);
        assert_true(loss[0] < (K == 256 ? 1e-4 : 6e-3));
        /* fallback: x_hat = +0.5 for both dimensions */
        out[0] = out[1] = 0.0f;
        theta[0] = theta[2] = (float)(0.5 * g);
        f.ops->loss_recon(&f, 1, x, t1, theta, out, loss);
        double xh2 = ref_x_hat(sigma1, 1.0, theta[0], 0.0), lw = log(2.0 / K);
        double z0 = (x[0] - xh2) / std, z1 = (x[1] - xh2) / std;
        ref = -((-0.5 * z0 * z0 - log(std) - 0.5 * log(2 * M_PI) + lw) + (-0.5 * z1 * z1 - log(std) - 0.5 * log(2 * M_PI) + lw)) / 2;
        assert_close(loss[0], ref, 1e-5 * ref);
        bfn_family_free(&f);
    }
}

static void test_init_validation(void **state) {
    bfn_schedule s;
    bfn_family f;
    bfn_schedule_params p = {.sigma1 = 0.02};
    assert_int_equal(bfn_schedule_init(&s, "exponential", &p), BFN_OK);
    assert_int_equal(bfn_continuous_init(&f, 10, s, 1, 0.02), BFN_EINVAL);
    assert_int_equal(bfn_schedule_init(&s, "exponential", &p), BFN_OK);
    assert_int_equal(bfn_continuous_init(&f, 10, s, 256, 0.0), BFN_EINVAL);
    assert_int_equal(bfn_schedule_init(&s, "exponential", &p), BFN_OK);
    assert_int_equal(bfn_continuous_init(&f, 10, s, 256, NAN), BFN_EINVAL);
    assert_int_equal(bfn_schedule_init(&s, "exponential", &p), BFN_OK);
    assert_int_equal(bfn_continuous_init(&f, 0, s, 256, 0.02), BFN_EINVAL);
    assert_int_equal(bfn_schedule_init(&s, "exponential", &p), BFN_OK);
    assert_int_equal(bfn_continuous_init(&f, 10, s, 16, 0.014), BFN_OK);
    assert_int_equal(f.in_ch, 1);
    assert_int_equal(f.out_ch, 1);
    assert_int_equal(f.theta_ch, 2);
    assert_int_equal(f.recon_bins, 16);
    bfn_family_free(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flow_moments),
        cmocka_unit_test(test_updates_reproduce_flow),
        cmocka_unit_test(test_noise_prediction_identity),
        cmocka_unit_test(test_update_formula),
        cmocka_unit_test(test_loss_values),
        cmocka_unit_test(test_gradients),
        cmocka_unit_test(test_loss_n_tends_to_loss_cts),
        cmocka_unit_test(test_recon),
        cmocka_unit_test(test_init_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
