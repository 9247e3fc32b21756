/* test_discrete.c: the discrete-data family (src/bfn/discrete.c).
 *
 * References used here are independent of the implementation's algebra:
 *   - the flow and the update are checked through log-ratios of theta, which
 *     are exactly Gaussian (ln theta_x - ln theta_j = y_x - y_j), and through
 *     "flow at t == prior + n Bayesian updates with sum alpha_i = beta(t)";
 *   - L^n is checked against Gauss-Hermite quadrature of the KL written with
 *     literal Gaussian log-densities (the implementation uses a cancelled form);
 *   - L^n -> L^inf as n grows is checked with the quadrature and with the
 *     family's own Monte Carlo estimate at large n;
 *   - every gradient against a 4-point finite difference.
 * Monte Carlo tolerances are 5 standard errors estimated from the samples
 * (false-failure probability ~6e-7 per check, and the seeds are fixed). */
#include "gradcheck.h"

#include <float.h>
#include <omp.h>

#include <gsl/gsl_integration.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "bfn/family.h"
#include "util/err.h"

/* ---- helpers ------------------------------------------------------------------------- */

static bfn_family make_family(int D, int K, double beta1) {
    bfn_schedule s;
    bfn_schedule_params p = {.beta1 = beta1};
    assert_int_equal(bfn_schedule_init(&s, "quadratic", &p), BFN_OK);
    bfn_family f;
    int rc = bfn_discrete_init(&f, D, K, s);
    if (rc != BFN_OK) print_error("%s\n", bfn_last_error());
    assert_int_equal(rc, BFN_OK);
    assert_int_equal(f.receiver_floor, 1); /* default: as the official code */
    f.receiver_floor = 0; /* the quadrature references below use the exact weights p */
    return f;
}

/* Test-side p_O for one dimension (K = 2: one logit -> (1-s, s)). */
static void ref_probs(int K, const float *o, double *p) {
    if (K == 2) {
        p[1] = 1.0 / (1.0 + exp(-(double)o[0]));
        p[0] = 1.0 / (1.0 + exp((double)o[0])); /* not 1 - p[1]: that cancels to 0 */
        return;
    }
    double m = o[0], sum = 0.0;
    for (int k = 1; k < K; k++) if (o[k] > m) m = o[k];
    for (int k = 0; k < K; k++) sum += exp((double)o[k] - m);
    for (int k = 0; k < K; k++) p[k] = exp((double)o[k] - m) / sum;
}

static double log_normal(double y, double mu, double sd) {
    double z = (y - mu) / sd;
    return -0.5 * z * z - log(sd) - 0.5 * log(2.0 * M_PI);
}

static double lse(const double *v, int n) {
    double m = v[0], s = 0.0;
    for (int i = 1; i < n; i++) if (v[i] > m) m = v[i];
    for (int i = 0; i < n; i++) s += exp(v[i] - m);
    return m + log(s);
}

/* Gauss-Hermite rule for E[g(Z)], Z ~ N(0,1): m nodes, weights normalised. */
static void gh_rule(int m, double *z, double *w) {
    gsl_integration_fixed_workspace *ws =
        gsl_integration_fixed_alloc(gsl_integration_fixed_hermite, (size_t)m, 0.0, 0.5, 0.0, 0.0);
    const double *nz = gsl_integration_fixed_nodes(ws), *nw = gsl_integration_fixed_weights(ws);
    double sw = 0.0;
    for (int i = 0; i < m; i++) sw += nw[i];
    for (int i = 0; i < m; i++) { z[i] = nz[i]; w[i] = nw[i] / sw; }
    gsl_integration_fixed_free(ws);
}

/* Sender component mean for coordinate j of class c: alpha (K delta_jc - 1). */
static double comp_mean(double alpha, int K, int j, int c) { return alpha * (K * (j == c) - 1.0); }

/* Integrand of one coordinate's KL for exact_kl_product: phi(z) [ln N_S(y) -
 * ln m_j(y)] at y = mu_S + sd z, the mixture written out over all K components. */
typedef struct { int K, j; const double *p; double alpha, mu, sd; } kl_coord;
static double kl_coord_integrand(double z, void *arg) {
    const kl_coord *c = arg;
    double v[256], y = c->mu + c->sd * z;
    for (int k = 0; k < c->K; k++) v[k] = log(c->p[k]) + log_normal(y, comp_mean(c->alpha, c->K, c->j, k), c->sd);
    return exp(-0.5 * z * z) / sqrt(2.0 * M_PI) * (log_normal(y, c->mu, c->sd) - lse(v, c->K));
}

/* Exact KL(p_S || product receiver) = sum_j KL(N(mu_Sj, aK) || m_j), with
 * m_j(y) = sum_k p_k N(y; a(K delta_jk - 1), aK). Each 1-D expectation by
 * adaptive Gauss-Kronrod (QAG, 61 points) over z in [-12, 12] (the Gaussian
 * mass outside is 4e-33); the integrator's error estimate must be < 1e-9.
 * (Gauss-Hermite converges slowly here: for large alpha the integrand has a
 * sharp switch between mixture modes.) */
static double exact_kl_product(int K, int x, const double *p, double alpha) {
    gsl_integration_workspace *ws = gsl_integration_workspace_alloc(1000);
    double total = 0.0;
    for (int j = 0; j < K; j++) {
        kl_coord c = {K, j, p, alpha, comp_mean(alpha, K, j, x), sqrt(alpha * K)};
        gsl_function fn = {kl_coord_integrand, &c};
        double val, err;
        assert_int_equal(gsl_integration_qag(&fn, -12.0, 12.0, 1e-13, 1e-11, 1000, GSL_INTEG_GAUSS61, ws, &val, &err), 0);
        assert_true(err < 1e-9);
        total += val;
    }
    gsl_integration_workspace_free(ws);
    return total;
}

/* Exact KL(p_S || joint receiver sum_k p_k prod_j N(y_j; ...)) for K <= 3 by
 * a K-dimensional tensor Gauss-Hermite rule (m^K points). */
static double exact_kl_joint(int K, int x, const double *p, double alpha, int m) {
    double z[128], w[128], sd = sqrt(alpha * K), total = 0.0;
    gh_rule(m, z, w);
    int n_pts = 1;
    for (int j = 0; j < K; j++) n_pts *= m;
    for (int idx = 0; idx < n_pts; idx++) {
        double y[3], wt = 1.0, ls = 0.0, v[3];
        for (int j = 0, r = idx; j < K; j++, r /= m) {
            y[j] = comp_mean(alpha, K, j, x) + sd * z[r % m];
            wt *= w[r % m];
            ls += log_normal(y[j], comp_mean(alpha, K, j, x), sd);
        }
        for (int k = 0; k < K; k++) {
            v[k] = log(p[k]);
            for (int j = 0; j < K; j++) v[k] += log_normal(y[j], comp_mean(alpha, K, j, k), sd);
        }
        total += wt * (ls - lse(v, K));
    }
    return total;
}

/* Mean and standard error of n values. */
static void mean_se(const double *v, int n, double *mean, double *se) {
    double s = 0.0, ss = 0.0;
    for (int i = 0; i < n; i++) s += v[i];
    *mean = s / n;
    for (int i = 0; i < n; i++) ss += (v[i] - *mean) * (v[i] - *mean);
    *se = sqrt(ss / (n - 1) / n);
}

/* ---- construction, prior, network input -------------------------------------------- */

static void test_init_and_shapes(void **state) {
    bfn_schedule s;
    bfn_schedule_params p = {.beta1 = 1.0};
    bfn_family f;
    const int bad_K[] = {1, 0, -3, 257};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(bfn_schedule_init(&s, "quadratic", &p), BFN_OK);
        assert_int_equal(bfn_discrete_init(&f, 4, bad_K[i], s), BFN_EINVAL);
        assert_non_null(strstr(bfn_last_error(), "K ="));
        assert_null(f.ops);
        bfn_family_free(&f);
    }
    assert_int_equal(bfn_schedule_init(&s, "quadratic", &p), BFN_OK);
    assert_int_equal(bfn_discrete_init(&f, 0, 3, s), BFN_EINVAL);
    bfn_schedule none;
    memset(&none, 0, sizeof none);
    assert_int_equal(bfn_discrete_init(&f, 3, 3, none), BFN_EINVAL);

    f = make_family(5, 2, 9.0);
    assert_int_equal(f.in_ch, 1);
    assert_int_equal(f.out_ch, 1);
    assert_int_equal(f.theta_ch, 2);
    assert_int_equal(f.n_mc, 10);
    assert_int_equal(f.receiver_joint, 0);
    const bfn_family_ops *o = f.ops;
    assert_true(o->flow_sample && o->prior && o->net_input && o->loss_cts && o->loss_n && o->loss_recon &&
                o->output_sample && o->output_mode && o->output_mean && o->update);
    assert_string_equal(o->name, "discrete");
    bfn_family_free(&f);
    f = make_family(5, 27, 0.5625);
    assert_int_equal(f.in_ch, 27);
    assert_int_equal(f.out_ch, 27);
    assert_int_equal(f.theta_ch, 27);
    bfn_family_free(&f);
    f = make_family(1, 256, 1.0);
    bfn_family_free(&f);
}

static void test_prior_and_net_input(void **state) {
    bfn_family f2 = make_family(2, 2, 9.0), f3 = make_family(2, 3, 1.0);
    float th2[2 * 2 * 2], th3[2 * 2 * 3], in2[4], in3[12];
    f3.ops->prior(&f3, 2, th3);
    for (int i = 0; i < 12; i++) assert_true(th3[i] == 1.0f / 3);
    f2.ops->prior(&f2, 2, th2);
    for (int i = 0; i < 8; i++) assert_true(th2[i] == 0.5f);
    f2.ops->net_input(&f2, 2, th2, in2);
    for (int i = 0; i < 4; i++) assert_true(in2[i] == 0.0f);
    /* K = 2: one channel 2 theta_1 - 1 = 2 P(class 1) - 1. */
    const float t2[8] = {0.3f, 0.7f, 0.9f, 0.1f, 0.0f, 1.0f, 1.0f, 0.0f};
    f2.ops->net_input(&f2, 2, t2, in2);
    assert_close(in2[0], 0.4, 1e-6);
    assert_close(in2[1], -0.8, 1e-6);
    assert_close(in2[2], 1.0, 0);
    assert_close(in2[3], -1.0, 0);
    const float t3[12] = {0.2f, 0.3f, 0.5f, 1, 0, 0, 0.1f, 0.1f, 0.8f, 0, 0.5f, 0.5f};
    f3.ops->net_input(&f3, 2, t3, in3);
    for (int i = 0; i < 12; i++) assert_close(in3[i], 2.0 * t3[i] - 1.0, 1e-6);
    bfn_family_free(&f2);
    bfn_family_free(&f3);
}

/* ---- flow ------------------------------------------------------------------------------ */

/* ln theta_x - ln theta_j = y_x - y_j ~ N(beta K, 2 beta K) exactly for
 * j != x (paper's flow y ~ N(beta (K e_x - 1), beta K I)). Mean to 5 SE
 * (SE = sqrt(2 beta K / N)); variance to 5 SE of a Gaussian sample variance
 * (var sqrt(2/(N-1))). Also sum theta = 1 (float rounding of K terms). */
static void check_flow_log_ratio(int K, double beta1, float t) {
    const int B = 1000, D = 20, N = B * D;
    bfn_family f = make_family(D, K, beta1);
    gsl_rng *rng = test_rng(11 + K);
    float *x = test_falloc((size_t)N), *tt = test_falloc(B), *theta = test_falloc((size_t)N * K);
    for (int i = 0; i < N; i++) x[i] = (float)(i % K);
    for (int b = 0; b < B; b++) tt[b] = t;
    f.ops->flow_sample(&f, B, x, tt, rng, theta);
    double beta = beta1 * (double)t * t, s = 0.0, ss = 0.0;
    for (int i = 0; i < N; i++) {
        const float *th = theta + (size_t)i * K;
        int cls = (int)x[i], j = (cls + 1) % K;
        double sum = 0.0;
        for (int k = 0; k < K; k++) sum += th[k];
        assert_close(sum, 1.0, 1e-5);
        double r = log(th[cls]) - log(th[j]);
        s += r;
        ss += r * r;
    }
    double mean = s / N, var = ss / N - mean * mean, v_true = 2.0 * beta * K;
    assert_close(mean, beta * K, 5.0 * sqrt(v_true / N));
    assert_close(var, v_true, 5.0 * v_true * sqrt(2.0 / (N - 1)));
    free(x); free(tt); free(theta);
    gsl_rng_free(rng);
    bfn_family_free(&f);
}

static void test_flow_log_ratio(void **state) {
    check_flow_log_ratio(2, 3.0, 0.6f);
    /* K = 2 at large beta (t = 1 is clamped to 1 - 1e-6: beta moves by 4e-5,
     * far below the SE): theta_0 ~ e^-44 must keep full relative precision. */
    check_flow_log_ratio(2, 22.0, 1.0f);
    check_flow_log_ratio(3, 2.0, 0.7f);
    check_flow_log_ratio(27, 0.5625, 0.9f);
}

/* t = 0, and t so small that sqrt(beta) < 1e-10, give the prior exactly. */
static void test_flow_uniform_at_start(void **state) {
    const int K = 3, B = 2, D = 4;
    bfn_family f = make_family(D, K, 1.0);
    gsl_rng *rng = test_rng(3);
    float x[8] = {0, 1, 2, 0, 1, 2, 0, 1}, t[2] = {0.0f, 1e-11f}, theta[2 * 4 * 3];
    f.ops->flow_sample(&f, B, x, t, rng, theta);
    for (int i = 0; i < B * D * K; i++) assert_true(theta[i] == 1.0f / K);
    t[0] = 1e-3f; /* sqrt(beta) = 1e-3: not uniform */
    f.ops->flow_sample(&f, B, x, t, rng, theta);
    int differs = 0;
    for (int i = 0; i < D * K; i++) differs |= theta[i] != 1.0f / K;
    assert_true(differs);
    gsl_rng_free(rng);
    bfn_family_free(&f);
}

/* The consistency check: the flow at time t equals the prior after n = 10
 * Bayesian updates with sender x whose accuracies alpha_i = beta(t i/n) -
 * beta(t (i-1)/n) add up to beta(t). Compare E[theta_x], E[theta_x^2] and
 * E[theta_j] (j != x) of flow_sample with those of the update chain, 5 SE of
 * the difference of two independent means. (At t = 1 the flow clamps t to
 * 1 - 1e-6, which moves beta by 2e-6 relative: far below the SE ~ 1e-3.) */
static void check_flow_vs_updates(int K, double beta1, double t) {
    const int B = 1000, D = 20, N = B * D, n = 10;
    bfn_family f = make_family(D, K, beta1);
    gsl_rng *r1 = test_rng(101), *r2 = test_rng(202);
    float *x = test_falloc((size_t)N), *tt = test_falloc(B), *al = test_falloc(B);
    float *th_flow = test_falloc((size_t)N * K), *th_upd = test_falloc((size_t)N * K);
    for (int i = 0; i < N; i++) x[i] = (float)((i * 7) % K);
    for (int b = 0; b < B; b++) tt[b] = (float)t;
    f.ops->flow_sample(&f, B, x, tt, r1, th_flow);
    f.ops->prior(&f, B, th_upd);
    double beta_sum = 0.0;
    for (int i = 1; i <= n; i++) {
        double a = f.sched.beta(&f.sched, t * i / n) - f.sched.beta(&f.sched, t * (i - 1) / n);
        beta_sum += a;
        for (int b = 0; b < B; b++) al[b] = (float)a;
        f.ops->update(&f, B, th_upd, x, al, r2);
    }
    assert_close(beta_sum, beta1 * t * t, 1e-12);
    /* statistics: [0] theta_x, [1] theta_x^2, [2] theta_{x+1} */
    double s[2][3] = {{0}}, ss[2][3] = {{0}};
    const float *th[2] = {th_flow, th_upd};
    for (int m = 0; m < 2; m++)
        for (int i = 0; i < N; i++) {
            int cls = (int)x[i];
            double a = th[m][(size_t)i * K + cls], c = th[m][(size_t)i * K + (cls + 1) % K];
            double v[3] = {a, a * a, c};
            for (int q = 0; q < 3; q++) { s[m][q] += v[q]; ss[m][q] += v[q] * v[q]; }
        }
    for (int q = 0; q < 3; q++) {
        double m0 = s[0][q] / N, m1 = s[1][q] / N;
        double v0 = ss[0][q] / N - m0 * m0, v1 = ss[1][q] / N - m1 * m1;
        double se = sqrt(v0 / N + v1 / N);
        if (fabs(m0 - m1) > 5 * se) print_error("K=%d t=%g stat %d: flow %g vs updates %g (se %g)\n", K, t, q, m0, m1, se);
        assert_close(m0, m1, 5.0 * se);
    }
    free(x); free(tt); free(al); free(th_flow); free(th_upd);
    gsl_rng_free(r1);
    gsl_rng_free(r2);
    bfn_family_free(&f);
}

static void test_flow_equals_sequential_updates(void **state) {
    check_flow_vs_updates(2, 3.0, 1.0);
    check_flow_vs_updates(3, 2.0, 1.0);
    check_flow_vs_updates(3, 2.0, 0.6);
    check_flow_vs_updates(27, 0.5625, 1.0);
}

/* ---- update ------------------------------------------------------------------------------ */

/* From the prior, one update gives ln theta'_x - ln theta'_j = y_x - y_j ~
 * N(alpha K, 2 alpha K) (5 SE as above). From a non-uniform theta with the
 * same sender noise (same seed), the log-ratio is shifted by exactly
 * ln(theta_x / theta_j) (float rounding of theta: 1e-5). A huge alpha
 * (official formula would overflow e^y) still gives a normalised theta. */
static void test_update(void **state) {
    const int K = 3, B = 500, D = 20, N = B * D;
    const double a = 0.4;
    bfn_family f = make_family(D, K, 1.0);
    float *x = test_falloc(N), *al = test_falloc(B), *th0 = test_falloc((size_t)N * K), *th1 = test_falloc((size_t)N * K);
    for (int i = 0; i < N; i++) x[i] = (float)(i % K);
    for (int b = 0; b < B; b++) al[b] = (float)a;
    f.ops->prior(&f, B, th0);
    const float start[3] = {0.5f, 0.3f, 0.2f};
    for (int i = 0; i < N; i++) memcpy(th1 + (size_t)i * K, start, sizeof start);
    gsl_rng *r = test_rng(7);
    f.ops->update(&f, B, th0, x, al, r);
    gsl_rng_set(r, 7);
    f.ops->update(&f, B, th1, x, al, r);
    double s = 0.0, ss = 0.0, v = 2.0 * (double)al[0] * K;
    for (int i = 0; i < N; i++) {
        int cls = (int)x[i], j = (cls + 2) % K;
        double r0 = log(th0[(size_t)i * K + cls]) - log(th0[(size_t)i * K + j]);
        double r1 = log(th1[(size_t)i * K + cls]) - log(th1[(size_t)i * K + j]);
        assert_close(r1 - r0, log((double)start[cls] / start[j]), 1e-5);
        s += r0;
        ss += r0 * r0;
    }
    double mean = s / N, var = ss / N - mean * mean;
    assert_close(mean, (double)al[0] * K, 5.0 * sqrt(v / N));
    assert_close(var, v, 5.0 * v * sqrt(2.0 / (N - 1)));
    free(x); free(al); free(th0); free(th1);
    bfn_family_free(&f);

    bfn_family g = make_family(1, 27, 1.0);
    float th[27], xs = 5.0f, big = 1e4f;
    g.ops->prior(&g, 1, th);
    g.ops->update(&g, 1, th, &xs, &big, r);
    double sum = 0.0;
    for (int k = 0; k < 27; k++) { assert_true(isfinite(th[k])); sum += th[k]; }
    assert_close(sum, 1.0, 1e-6);
    assert_true(th[5] > 0.999f);
    gsl_rng_free(r);
    bfn_family_free(&g);
}

/* ---- losses: values ----------------------------------------------------------------- */

/* L^inf = (K/2) beta'(t) ||e_x - p||^2 = K beta1 t ||e_x - p||^2 (the [CODE]
 * form for the quadratic schedule), with p computed here; float output: 1e-6
 * relative. */
static void test_loss_cts_value(void **state) {
    const int Ks[] = {2, 3, 27};
    for (int q = 0; q < 3; q++) {
        int K = Ks[q], D = 4, B = 3, oc = K == 2 ? 1 : K;
        double beta1 = 1.7;
        bfn_family f = make_family(D, K, beta1);
        gsl_rng *r = test_rng(5);
        float *out = test_falloc((size_t)B * D * oc), *x = test_falloc(B * D), t[3] = {0.1f, 0.5f, 1.0f};
        double loss[3];
        for (size_t i = 0; i < (size_t)B * D * oc; i++) out[i] = (float)gsl_ran_gaussian(r, 2.0);
        for (int i = 0; i < B * D; i++) x[i] = (float)(gsl_rng_uniform_int(r, K));
        f.ops->loss_cts(&f, B, x, t, NULL, out, loss, NULL, 1.0f);
        for (int b = 0; b < B; b++) {
            double total = 0.0, p[256];
            for (int d = 0; d < D; d++) {
                ref_probs(K, out + ((size_t)b * D + d) * oc, p);
                for (int k = 0; k < K; k++) total += pow((k == (int)x[b * D + d]) - p[k], 2);
            }
            assert_close(loss[b], K * beta1 * t[b] * total / D, 1e-6 * loss[b] + 1e-7);
        }
        free(out); free(x);
        gsl_rng_free(r);
        bfn_family_free(&f);
    }
}

/* Fixed logits for every (b, d): K = 2 logit 0.7, K = 3 (0.3, -0.5, 1.2),
 * K = 27 a fixed pseudo-random vector. Returns p via ref_probs. */
static void fixed_logits(int K, float *o, double *p) {
    if (K == 2) o[0] = 0.7f;
    else if (K == 3) { o[0] = 0.3f; o[1] = -0.5f; o[2] = 1.2f; }
    else for (int k = 0; k < K; k++) o[k] = (float)(1.5 * sin(1.7 * k + 0.3));
    ref_probs(K, o, p);
}

/* Monte Carlo L^n of the family (B x D x n_mc sender samples) with every
 * (b, d) the same (logits `logits`, or fixed_logits when NULL): returns the
 * mean over examples and its SE. */
static int mc_floor = 0; /* receiver_floor of mc_loss_n's family */
static void mc_loss_n(int K, int joint, int x, double alpha, double n_mult, int B, int D,
                      unsigned long seed, const float *logits, double *mean, double *se) {
    bfn_family f = make_family(D, K, 1.0);
    f.receiver_joint = joint;
    f.receiver_floor = mc_floor;
    int oc = f.out_ch;
    double p[256];
    float *out = test_falloc((size_t)B * D * oc), *xs = test_falloc((size_t)B * D), *al = test_falloc(B);
    double *loss = calloc((size_t)B, sizeof *loss);
    float *theta = test_falloc((size_t)B * D * K);
    for (int i = 0; i < B * D; i++) {
        if (logits) memcpy(out + (size_t)i * oc, logits, (size_t)oc * sizeof(float));
        else fixed_logits(K, out + (size_t)i * oc, p);
        xs[i] = (float)x;
    }
    for (int b = 0; b < B; b++) al[b] = (float)alpha;
    f.ops->prior(&f, B, theta);
    gsl_rng *r = test_rng(seed);
    f.ops->loss_n(&f, B, xs, NULL, al, n_mult, theta, out, r, loss, NULL, 1.0f);
    mean_se(loss, B, mean, se);
    free(out); free(xs); free(al); free(loss); free(theta);
    gsl_rng_free(r);
    bfn_family_free(&f);
}

/* The family's Monte Carlo KL against the quadrature reference, both
 * receivers, within 5 SE. The joint quadrature is checked for convergence
 * (m vs 1.5 m nodes agree to 1e-7, far below the SE ~ 1e-3). The product and
 * joint references must differ by more than 10 SE, so swapping the receivers
 * would fail the test. */
static void test_loss_n_matches_quadrature(void **state) {
    const struct { int K, x; double alpha; } cases[] = {{2, 0, 0.8}, {3, 0, 0.5}, {3, 2, 2.0}, {27, 4, 0.3}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int K = cases[c].K, x = cases[c].x;
        double a = cases[c].alpha, p[256], mean, se;
        float o[256];
        fixed_logits(K, o, p);
        double kl_prod = exact_kl_product(K, x, p, a);
        mc_loss_n(K, 0, x, a, 1.0, 400, 50, 1234 + c, NULL, &mean, &se);
        if (fabs(mean - kl_prod) > 5 * se) print_error("product K=%d: MC %g vs exact %g (se %g)\n", K, mean, kl_prod, se);
        assert_close(mean, kl_prod, 5.0 * se);
        if (K > 3) continue;
        double kl_joint = exact_kl_joint(K, x, p, a, 40);
        assert_close(kl_joint, exact_kl_joint(K, x, p, a, 60), 1e-7);
        mc_loss_n(K, 1, x, a, 1.0, 400, 50, 999 + c, NULL, &mean, &se);
        if (fabs(mean - kl_joint) > 5 * se) print_error("joint K=%d: MC %g vs exact %g (se %g)\n", K, mean, kl_joint, se);
        assert_close(mean, kl_joint, 5.0 * se);
        assert_true(fabs(kl_joint - kl_prod) > 10 * se);
    }
}

/* L^n -> L^inf: with alpha = beta'(t)/n, n KL(p_S || p_R) -> (K/2) beta'(t)
 * ||e_x - p||^2 as n -> inf (paper Sec. 6.3 derivation of L^inf). K = 3,
 * beta1 = 1, t = 0.5 so beta'(t) = 1; L^inf from the family's loss_cts.
 * (1) Exact (quadrature) n KL for n = 10, 100, 1000, 10000 for the paper's
 *     joint receiver and the official product receiver: the error shrinks
 *     with n (it is O(1/n): the next term of KL in alpha) and is < 0.1% at
 *     n = 10000.
 * (2) The family's Monte Carlo n KL at n = 100 (1e6 sender samples) agrees
 *     with L^inf within 5 SE + the exact O(1/n) gap from (1) (~0.5%). The
 *     estimator's per-sample sd grows like sqrt(n K beta') (~17 here), which
 *     is why n = 100 and not larger: 5 SE ~ 6% of L^inf. */
static void test_loss_n_converges_to_loss_cts(void **state) {
    const int K = 3, x = 0;
    bfn_family f = make_family(1, K, 1.0);
    float o[3], tt = 0.5f, xf = (float)x;
    double linf_f;
    double p[3];
    fixed_logits(K, o, p);
    f.ops->loss_cts(&f, 1, &xf, &tt, NULL, o, &linf_f, NULL, 1.0f);
    double linf = linf_f, beta_p = f.sched.beta_prime(&f.sched, 0.5);
    assert_close(beta_p, 1.0, 1e-15);
    for (int joint = 0; joint <= 1; joint++) {
        double prev_err = INFINITY, err = 0.0, gap100 = 0.0;
        for (int n = 10; n <= 10000; n *= 10) {
            double a = beta_p / n;
            double kl = joint ? exact_kl_joint(K, x, p, a, 24) : exact_kl_product(K, x, p, a);
            err = fabs(n * kl - linf);
            if (!(err < prev_err)) print_error("joint=%d n=%d: |nKL - Linf| = %g not below %g\n", joint, n, err, prev_err);
            assert_true(err < prev_err);
            prev_err = err;
            if (n == 100) gap100 = err;
        }
        assert_true(err < 1e-3 * linf);
        double mean, se;
        mc_loss_n(K, joint, x, beta_p / 100, 100.0, 2000, 50, 77 + joint, NULL, &mean, &se);
        if (fabs(mean - linf) > 5 * se + gap100)
            print_error("joint=%d: MC L^100 %g vs L^inf %g (se %g, gap %g)\n", joint, mean, linf, se, gap100);
        assert_close(mean, linf, 5.0 * se + gap100);
        assert_true(5.0 * se < 0.15 * linf); /* the check has teeth: a factor-2 error fails */
    }
    bfn_family_free(&f);
}

/* L^r = -ln p_O(x): ~0 for a confident correct output, ln K for uniform
 * logits, and the log-softmax / log-sigmoid for random logits (float: 1e-6). */
static void test_loss_recon(void **state) {
    const int Ks[] = {2, 3, 27};
    for (int q = 0; q < 3; q++) {
        int K = Ks[q], D = 3, oc = K == 2 ? 1 : K;
        bfn_family f = make_family(D, K, 1.0);
        float x[3] = {1, 0, (float)(K - 1)}, out[3 * 27], t = 1.0f;
        double loss;
        for (int d = 0; d < D; d++)
            for (int k = 0; k < oc; k++)
                out[d * oc + k] = K == 2 ? (x[d] == 1 ? 30.0f : -30.0f) : (k == (int)x[d] ? 30.0f : 0.0f);
        f.ops->loss_recon(&f, 1, x, &t, NULL, out, &loss);
        assert_true(loss >= 0.0f && loss < 1e-6f);
        memset(out, 0, sizeof out);
        f.ops->loss_recon(&f, 1, x, &t, NULL, out, &loss);
        assert_close(loss, log(K), 1e-6);
        gsl_rng *r = test_rng(9);
        double want = 0.0, p[256];
        for (int i = 0; i < D * oc; i++) out[i] = (float)gsl_ran_gaussian(r, 3.0);
        for (int d = 0; d < D; d++) {
            ref_probs(K, out + d * oc, p);
            want -= log(p[(int)x[d]]) / D;
        }
        f.ops->loss_recon(&f, 1, x, &t, NULL, out, &loss);
        assert_close(loss, want, 1e-6 * want);
        gsl_rng_free(r);
        bfn_family_free(&f);
    }
}

/* ---- losses: gradients ------------------------------------------------------------- */

typedef struct {
    bfn_family *f;
    int B, which; /* 0: loss_cts, 1: loss_n */
    const float *x, *t, *alpha, *theta;
    double n_mult;
    gsl_rng *rng;
    float *out;  /* for fd_loss: the outputs being perturbed ... */
    double *lp;  /* ... and B loss values */
} loss_case;

/* Evaluate the loss; loss_n reseeds the rng so every call sees the same sender samples. */
static void eval_loss(const loss_case *c, const float *out, double *loss, float *grad, float gscale) {
    if (c->which == 0) {
        c->f->ops->loss_cts(c->f, c->B, c->x, c->t, c->theta, out, loss, grad, gscale);
    } else {
        gsl_rng_set(c->rng, 4242);
        c->f->ops->loss_n(c->f, c->B, c->x, c->t, c->alpha, c->n_mult, c->theta, out, c->rng, loss, grad, gscale);
    }
}

/* The loss of the example that output i belongs to (for gradcheck). */
static double fd_loss(void *ctx, long i) {
    const loss_case *c = ctx;
    eval_loss(c, c->out, c->lp, NULL, 1.0f);
    return c->lp[i / ((long)c->f->D * c->f->out_ch)];
}

/* Compare grad (gscale = 0.5) with a 4-point central difference
 * (8 (L(h) - L(-h)) - (L(2h) - L(-2h))) / 12h, h = 2^-6, logits on a 2^-10
 * grid so every perturbed value is exact in float. Truncation is O(h^4) ~ 1e-8;
 * the float rounding of each loss value (6e-8 |L|) contributes at most
 * 18 * 6e-8 |L| / (12 h) ~ 6e-6 |L|, so tol = gscale 2e-5 (1 + |L|) + 1e-3 |fd|.
 * grad is pre-filled with NaN to check that every entry is written. */
static void check_grad(const loss_case *c0, unsigned long seed) {
    const bfn_family *f = c0->f;
    const int B = c0->B, D = f->D, oc = f->out_ch;
    const size_t n = (size_t)B * D * oc;
    const float h = 1.0f / 64, gscale = 0.5f;
    gsl_rng *r = test_rng(seed);
    float *out = test_falloc(n), *grad = test_falloc(n);
    double *loss = calloc((size_t)B, sizeof *loss), *lp = calloc((size_t)B, sizeof *lp);
    for (size_t i = 0; i < n; i++) out[i] = roundf((float)gsl_ran_gaussian(r, 1.5) * 1024.0f) / 1024.0f;
    for (size_t i = 0; i < n; i++) grad[i] = NAN;
    eval_loss(c0, out, loss, grad, gscale);
    loss_case c = *c0;
    c.out = out;
    c.lp = lp;
    /* gscale 2e-5 |L| as the noise term: loss_noise |L| / (2h) with 2h = 1/32. */
    const gradcheck gc = {.loss = fd_loss, .ctx = &c, .h = h, .four_point = 1, .scale = gscale,
                          .atol = gscale * 2e-5, .rtol = 1e-3, .loss_noise = 2e-5 / 32};
    char what[64];
    snprintf(what, sizeof what, "K=%d which=%d joint=%d grad", f->K, c.which, f->receiver_joint);
    gradcheck_all(what, &gc, out, grad, (long)n);
    free(out); free(grad); free(loss); free(lp);
    gsl_rng_free(r);
}

static void test_grad_fd(void **state) {
    const int Ks[] = {2, 3, 27};
    for (int q = 0; q < 3; q++) {
        const int K = Ks[q], B = 2, D = 3;
        bfn_family f = make_family(D, K, 2.0);
        gsl_rng *rng = test_rng(1);
        float x[6], t[2] = {0.35f, 0.9f}, al[2], theta[2 * 3 * 27];
        for (int i = 0; i < B * D; i++) x[i] = (float)((i * 5 + q) % K);
        f.ops->prior(&f, B, theta);
        loss_case c = {.f = &f, .B = B, .which = 0, .x = x, .t = t, .alpha = al, .theta = theta, .n_mult = 7.0, .rng = rng};
        check_grad(&c, 10 + q);
        c.which = 1;
        const double alphas[][2] = {{0.05, 0.3}, {1.0, 4.0}};
        for (int joint = 0; joint <= 1; joint++)
            for (int ai = 0; ai < 2; ai++) {
                f.receiver_joint = joint;
                al[0] = (float)alphas[ai][0];
                al[1] = (float)alphas[ai][1];
                check_grad(&c, 20 + q + 3 * ai);
            }
        gsl_rng_free(rng);
        bfn_family_free(&f);
    }
}

/* Confident outputs (logit gaps 25, 45 and 800, so 1 - p_argmax ~ 1e-11,
 * ~1e-20 (below double rounding of p) and e^-800 (below double range)): the
 * product receiver's loss and gradient must use ln(1 - p_j) without
 * cancellation or underflow. Checked by FD (as in check_grad) for a
 * correct-confident and a wrong-confident dimension, at growing alpha (large
 * alpha puts the wrong class's coordinate ~alpha K / 2 below the mixture's
 * "-alpha" mode, far enough that the q_j term dominates the mixture density
 * there; at gap 800 then e^{-L_jm} ~ e^800 overflows and must not be used);
 * and the Monte Carlo value at gap 45 against the quadrature (5 SE). K = 2, 5. */
static void test_confident_outputs(void **state) {
    const int Ks[2] = {2, 5}, B = 1, D = 2;
    const float gaps[3] = {25.0f, 45.0f, 800.0f};
    for (int kq = 0; kq < 2; kq++) {
        const int K = Ks[kq], oc = K == 2 ? 1 : K;
        const float alphas[3] = {0.7f, K == 2 ? 60.0f : 20.0f, K == 2 ? 2000.0f : 400.0f};
        bfn_family f = make_family(D, K, 1.0);
        gsl_rng *rng = test_rng(2);
        for (int q = 0; q < 3; q++) {
            /* row 0: x = 1 with class 1 confident; row 1: x = 0 (K = 2) or 3 with class 1 confident */
            float x[2] = {1, K == 2 ? 0 : 3}, al[1] = {alphas[q]}, theta[10], out[10], grad[10];
            double loss, lp;
            for (int i = 0; i < 10; i++) out[i] = 0.0f;
            out[K == 2 ? 0 : 1] = gaps[q];
            out[K == 2 ? 1 : oc + 1] = gaps[q];
            f.ops->prior(&f, B, theta);
            loss_case c = {.f = &f, .B = B, .which = 1, .x = x, .alpha = al, .theta = theta, .n_mult = 3.0, .rng = rng,
                           .out = out, .lp = &lp};
            eval_loss(&c, out, &loss, grad, 1.0f);
            assert_true(isfinite(loss));
            for (int i = 0; i < D * oc; i++) assert_true(isfinite(grad[i]));
            /* As check_grad at gscale 1: 2e-5 (1 + |L|) + 1e-3 max(|fd|, |g|). */
            const gradcheck gc = {.loss = fd_loss, .ctx = &c, .h = 1.0 / 64, .four_point = 1, .atol = 2e-5,
                                  .rtol = 1e-3, .loss_noise = 2e-5 / 32};
            char what[64];
            snprintf(what, sizeof what, "K=%d gap %g alpha %g grad", K, gaps[q], alphas[q]);
            gradcheck_all(what, &gc, out, grad, (long)D * oc);
        }
        gsl_rng_free(rng);
        bfn_family_free(&f);

        float wrong[5] = {0, 0, 0, 0, 0};
        wrong[K == 2 ? 0 : 1] = 45.0f;
        int xw = K == 2 ? 0 : 3;
        double p[5], mean, se;
        ref_probs(K, wrong, p);
        double kl = exact_kl_product(K, xw, p, alphas[1]);
        mc_loss_n(K, 0, xw, alphas[1], 1.0, 400, 50, 555, wrong, &mean, &se);
        if (fabs(mean - kl) > 5 * se) print_error("confident K=%d: MC %g vs exact %g (se %g)\n", K, mean, kl, se);
        assert_close(mean, kl, 5.0 * se);
    }
}

/* The receiver floor (bfn.receiver_floor = official): the official code's
 * torch Categorical clamps the mixture weights to [eps, 1 - eps], eps =
 * FLT_EPSILON, and renormalises. Closed form: the KL with the weights
 * w = clamp(p) / sum clamp(p) in place of p (quadrature as above). Checked
 * for confident-wrong outputs (logit gap 45: p_x ~ e^-45, far below eps),
 * where floor and exact differ by several nats (the issue saw up to 0.76
 * nats per dimension on MNIST): the family's Monte Carlo value with the
 * floor matches the floored quadrature within 5 SE, with the exact weights
 * the exact quadrature, and the two references differ by > 10 SE. Product
 * receiver for K = 2 and 5, joint receiver for K = 3. */
static void floored(int K, const double *p, double *w) {
    double Q = 0.0, eps = FLT_EPSILON;
    for (int k = 0; k < K; k++) Q += w[k] = p[k] < eps ? eps : p[k] > 1 - eps ? 1 - eps : p[k];
    for (int k = 0; k < K; k++) w[k] /= Q;
}

static void test_receiver_floor_closed_form(void **state) {
    const struct { int K, x, joint; double alpha; } cases[] = {{2, 0, 0, 60.0}, {5, 3, 0, 20.0}, {3, 0, 1, 8.0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int K = cases[c].K, x = cases[c].x, joint = cases[c].joint;
        const double a = cases[c].alpha;
        float logits[5] = {0, 0, 0, 0, 0};
        logits[K == 2 ? 0 : 1] = 45.0f; /* class 1 confident, x is another class */
        double p[5], w[5], mean_f, se_f, mean_e, se_e;
        ref_probs(K, logits, p);
        floored(K, p, w);
        double kl_floor = joint ? exact_kl_joint(K, x, w, a, 60) : exact_kl_product(K, x, w, a);
        double kl_exact = joint ? exact_kl_joint(K, x, p, a, 60) : exact_kl_product(K, x, p, a);
        mc_floor = 1;
        mc_loss_n(K, joint, x, a, 1.0, 400, 50, 31 + c, logits, &mean_f, &se_f);
        mc_floor = 0;
        mc_loss_n(K, joint, x, a, 1.0, 400, 50, 31 + c, logits, &mean_e, &se_e);
        if (fabs(mean_f - kl_floor) > 5 * se_f)
            print_error("floor K=%d joint=%d: MC %g vs closed form %g (se %g)\n", K, joint, mean_f, kl_floor, se_f);
        assert_close(mean_f, kl_floor, 5.0 * se_f);
        if (fabs(mean_e - kl_exact) > 5 * se_e)
            print_error("exact K=%d joint=%d: MC %g vs closed form %g (se %g)\n", K, joint, mean_e, kl_exact, se_e);
        assert_close(mean_e, kl_exact, 5.0 * se_e);
        assert_true(fabs(kl_exact - kl_floor) > 10 * (se_f + se_e));
        assert_true(kl_floor < kl_exact); /* the floor bounds the wrong class's weight from below */
    }
    /* Unclamped outputs: the floor only renormalises by ~1, so both settings agree closely. */
    float o[3];
    double p[3], mf, sf, me, se;
    fixed_logits(3, o, p);
    mc_floor = 1;
    mc_loss_n(3, 0, 2, 2.0, 1.0, 50, 20, 5, NULL, &mf, &sf);
    mc_floor = 0;
    mc_loss_n(3, 0, 2, 2.0, 1.0, 50, 20, 5, NULL, &me, &se);
    assert_close(mf, me, 1e-9 * (1 + fabs(me)));
}

/* Gradients with the floor: finite differences as check_grad, for random
 * logits (nothing clamped: the chain through w = q / Q) and for logits with
 * one class 20 above the rest (K = 5: the others have p ~ 2e-9 < eps and are
 * clamped, so their gradient is exactly the floor's 0, and FD agrees because
 * the perturbed p stays below eps). Both receivers. */
static void test_receiver_floor_grad_fd(void **state) {
    const int Ks[] = {2, 5, 27};
    for (int q = 0; q < 3; q++) {
        const int K = Ks[q], B = 2, D = 3;
        bfn_family f = make_family(D, K, 2.0);
        f.receiver_floor = 1;
        gsl_rng *rng = test_rng(3);
        float x[6], t[2] = {0.35f, 0.9f}, al[2] = {0.4f, 3.0f}, theta[2 * 3 * 27];
        for (int i = 0; i < B * D; i++) x[i] = (float)((i * 5 + q) % K);
        f.ops->prior(&f, B, theta);
        loss_case c = {.f = &f, .B = B, .which = 1, .x = x, .t = t, .alpha = al, .theta = theta, .n_mult = 7.0, .rng = rng};
        for (int joint = 0; joint <= (K <= 5); joint++) {
            f.receiver_joint = joint;
            check_grad(&c, 60 + q);
        }
        gsl_rng_free(rng);
        bfn_family_free(&f);
    }
    /* Clamped classes (K = 5, one logit 20 above the others). */
    bfn_family f = make_family(1, 5, 2.0);
    f.receiver_floor = 1;
    gsl_rng *rng = test_rng(4);
    float x[1] = {0}, t[1] = {0.5f}, al[1] = {2.0f}, theta[5], out[5] = {0, 20, 0, 0, 0}, grad[5];
    double loss, lp;
    f.ops->prior(&f, 1, theta);
    loss_case c = {.f = &f, .B = 1, .which = 1, .x = x, .t = t, .alpha = al, .theta = theta, .n_mult = 3.0, .rng = rng};
    eval_loss(&c, out, &loss, grad, 1.0f);
    for (int i = 0; i < 5; i++) {
        /* Every class is clamped (the confident one at 1 - eps), so the loss is flat. */
        assert_true(grad[i] == 0.0f);
        float o0 = out[i];
        out[i] = o0 + 1.0f / 64;
        eval_loss(&c, out, &lp, NULL, 1.0f);
        out[i] = o0;
        assert_true(lp == loss);
    }
    /* Two live classes (p ~ 0.73, 0.27) and three clamped ones (p ~ 1e-9):
     * FD for every logit; a clamped one acts only through the softmax
     * normaliser of the live ones, so its gradient is ~p_i. */
    float mixed[5] = {0, 20, 19, 0, 0};
    eval_loss(&c, mixed, &loss, grad, 1.0f);
    for (int i = 0; i < 5; i++) {
        const float h = 1.0f / 64, steps[4] = {h, -h, 2 * h, -2 * h};
        double Lv[4];
        float o0 = mixed[i];
        for (int s = 0; s < 4; s++) {
            mixed[i] = o0 + steps[s];
            eval_loss(&c, mixed, &lp, NULL, 1.0f);
            Lv[s] = lp;
        }
        mixed[i] = o0;
        double fd = (8.0 * (Lv[0] - Lv[1]) - (Lv[2] - Lv[3])) / (12.0 * h);
        if (i == 1 || i == 2) {
            assert_true(fabs(grad[i]) > 1e-3);
            assert_close(grad[i], fd, 2e-5 * (1.0 + fabs(loss)) + 1e-3 * fabs(fd));
        } else {
            /* Only through the softmax normaliser of the live classes: ~p_i = 2e-9. */
            assert_true(fabs(grad[i]) < 1e-7);
            assert_close(grad[i], fd, 2e-5 * (1.0 + fabs(loss)));
        }
    }
    gsl_rng_free(rng);
    bfn_family_free(&f);
}

/* alpha <= 0: no information is sent, so L^n = 0 and its gradient is 0. */
static void test_loss_n_zero_alpha(void **state) {
    bfn_family f = make_family(2, 3, 1.0);
    gsl_rng *r = test_rng(1);
    float x[2] = {0, 2}, al[1] = {0.0f}, out[6] = {1, 2, 3, -1, 0, 1}, theta[6], grad[6];
    double loss;
    f.ops->prior(&f, 1, theta);
    f.ops->loss_n(&f, 1, x, NULL, al, 10.0, theta, out, r, &loss, grad, 1.0f);
    assert_true(loss == 0.0f);
    for (int i = 0; i < 6; i++) assert_true(grad[i] == 0.0f);
    gsl_rng_free(r);
    bfn_family_free(&f);
}

/* ---- output distribution -------------------------------------------------------------- */

/* Class frequencies of output_sample within 5 SE of p; mode and summary. */
static void test_output_distribution(void **state) {
    const int Ks[] = {2, 3};
    for (int q = 0; q < 2; q++) {
        const int K = Ks[q], B = 300, D = 100, N = B * D, oc = K == 2 ? 1 : K;
        bfn_family f = make_family(D, K, 1.0);
        double p[3];
        float *out = test_falloc((size_t)N * oc), *xs = test_falloc(N);
        for (int i = 0; i < N; i++) fixed_logits(K, out + (size_t)i * oc, p);
        gsl_rng *r = test_rng(31);
        f.ops->output_sample(&f, B, NULL, NULL, out, r, xs);
        int count[3] = {0};
        for (int i = 0; i < N; i++) {
            int k = (int)xs[i];
            assert_true(k >= 0 && k < K && xs[i] == (float)k);
            count[k]++;
        }
        for (int k = 0; k < K; k++) assert_close((double)count[k] / N, p[k], 5.0 * sqrt(p[k] * (1 - p[k]) / N));
        f.ops->output_mode(&f, 1, NULL, NULL, out, xs);
        assert_true(xs[0] == (K == 2 ? 1.0f : 2.0f)); /* p(1) = 0.668 for K = 2; logit 1.2 wins for K = 3 */
        f.ops->output_mean(&f, 1, NULL, NULL, out, xs);
        assert_close(xs[0], K == 2 ? p[1] : p[2], 1e-6);
        free(out); free(xs);
        gsl_rng_free(r);
        bfn_family_free(&f);
    }
    /* K = 2 mode: 1 iff p > 0.5 (logit > 0); K = 3 ties go to the first class. */
    bfn_family f2 = make_family(3, 2, 1.0), f3 = make_family(1, 3, 1.0);
    float o2[3] = {-0.1f, 0.0f, 0.1f}, m[3];
    f2.ops->output_mode(&f2, 1, NULL, NULL, o2, m);
    assert_true(m[0] == 0.0f && m[1] == 0.0f && m[2] == 1.0f);
    float o3[3] = {0.5f, 2.0f, 2.0f};
    f3.ops->output_mode(&f3, 1, NULL, NULL, o3, m);
    assert_true(m[0] == 1.0f);
    bfn_family_free(&f2);
    bfn_family_free(&f3);
}

/* ---- determinism ----------------------------------------------------------------------------- */

/* Same seed -> bitwise-identical flow, L^n (loss and gradient; the loss does not
 * depend on whether a gradient is asked for), samples and updates; a
 * different seed -> different results. */
static void test_determinism(void **state) {
    const int K = 27, B = 4, D = 16, N = B * D;
    bfn_family f = make_family(D, K, 0.5625);
    float *x = test_falloc(N), t[4] = {0.1f, 0.4f, 0.7f, 1.0f}, al[4] = {0.01f, 0.1f, 0.5f, 1.0f};
    float *out = test_falloc((size_t)N * K), *th[3], *g[3], xs[3][64];
    double loss[3][4];
    gsl_rng *r = test_rng(0);
    for (int i = 0; i < N; i++) x[i] = (float)(i % K);
    for (int i = 0; i < N * K; i++) out[i] = (float)gsl_ran_gaussian(r, 1.0);
    for (int run = 0; run < 3; run++) {
        th[run] = test_falloc((size_t)N * K);
        g[run] = test_falloc((size_t)N * K);
        gsl_rng_set(r, run == 2 ? 6 : 5);
        f.ops->flow_sample(&f, B, x, t, r, th[run]);
        f.ops->loss_n(&f, B, x, t, al, 100.0, th[run], out, r, loss[run], g[run], 0.25f);
        f.ops->output_sample(&f, B, th[run], t, out, r, xs[run]);
        f.ops->update(&f, B, th[run], xs[run], al, r);
    }
    assert_memory_equal(th[0], th[1], (size_t)N * K * sizeof(float));
    assert_memory_equal(g[0], g[1], (size_t)N * K * sizeof(float));
    assert_memory_equal(loss[0], loss[1], sizeof loss[0]);
    assert_memory_equal(xs[0], xs[1], sizeof xs[0]);
    assert_memory_not_equal(th[0], th[2], (size_t)N * K * sizeof(float));
    assert_memory_not_equal(loss[0], loss[2], sizeof loss[0]);
    double l_nograd[4];
    gsl_rng_set(r, 5);
    f.ops->flow_sample(&f, B, x, t, r, th[2]);
    f.ops->loss_n(&f, B, x, t, al, 100.0, th[2], out, r, l_nograd, NULL, 0.25f);
    assert_memory_equal(l_nograd, loss[0], sizeof l_nograd);
    for (int run = 0; run < 3; run++) { free(th[run]); free(g[run]); }
    free(x); free(out);
    gsl_rng_free(r);
    bfn_family_free(&f);
}

/* The vectorised K = 2 update (log-odds, one normal draw): a huge alpha
 * gives finite probabilities summing to 1 that favour the drawn class; a
 * tiny theta (1e-30) keeps its relative accuracy; alpha = 0 and a NaN theta
 * leave theta unchanged; the same seed gives the same bits. */
static void test_two_class_update_edges(void **state) {
    const int D = 40;
    bfn_family f = make_family(D, 2, 1.0);
    float th[2 * 40], th2[2 * 40], xs[40], al[1];
    gsl_rng *r = test_rng(12), *r2 = test_rng(12);
    for (int d = 0; d < D; d++) xs[d] = (float)(d % 2);
    f.ops->prior(&f, 1, th);
    al[0] = 1e4f;
    f.ops->update(&f, 1, th, xs, al, r);
    for (int d = 0; d < D; d++) {
        assert_true(isfinite(th[2 * d]) && isfinite(th[2 * d + 1]));
        assert_close(th[2 * d] + th[2 * d + 1], 1.0, 1e-6);
        assert_true(th[2 * d + (d % 2)] > 0.999f);
    }
    f.ops->prior(&f, 1, th2);
    f.ops->update(&f, 1, th2, xs, al, r2);
    f.ops->prior(&f, 1, th);
    gsl_rng_free(r);
    r = test_rng(12);
    f.ops->update(&f, 1, th, xs, al, r);
    assert_memory_equal(th, th2, sizeof th);
    /* theta_1 = 1e-30 with alpha -> 0+: l' = ln(1e-30) + O(1e-3), theta_1' ~ 1e-30 to float accuracy */
    for (int d = 0; d < D; d++) { th[2 * d] = 1.0f; th[2 * d + 1] = 1e-30f; }
    al[0] = 1e-8f;
    f.ops->update(&f, 1, th, xs, al, r);
    for (int d = 0; d < D; d++) {
        assert_close(th[2 * d + 1] / 1e-30, 1.0, 1e-3);
        assert_true(th[2 * d] == 1.0f);
    }
    /* alpha = 0 and NaN theta: unchanged */
    for (int d = 0; d < D; d++) { th[2 * d] = 0.25f; th[2 * d + 1] = d == 3 ? NAN : 0.75f; }
    memcpy(th2, th, sizeof th);
    al[0] = 0.0f;
    f.ops->update(&f, 1, th, xs, al, r);
    assert_memory_equal(th, th2, sizeof th);
    al[0] = 1.0f;
    f.ops->update(&f, 1, th, xs, al, r);
    assert_true(th[6] == 0.25f && isnan(th[7]));
    gsl_rng_free(r);
    gsl_rng_free(r2);
    bfn_family_free(&f);
}

/* The K = 2 sampler steps (output draw + update) give the same bits with 1
 * and 2 threads: every example draws from its own stream. */
static void test_two_class_sampler_threads(void **state) {
    const int B = 64, D = 784, N = B * D;
    bfn_family f = make_family(D, 2, 9.0);
    float *out = test_falloc(N), *th[2], *xs[2], al[64];
    for (int i = 0; i < N; i++) out[i] = (float)sin(0.37 * i) * 3.0f;
    for (int b = 0; b < B; b++) al[b] = 0.1f + 0.01f * b;
    for (int run = 0; run < 2; run++) {
        th[run] = test_falloc((size_t)N * 2);
        xs[run] = test_falloc(N);
        omp_set_num_threads(run + 1);
        gsl_rng *r = test_rng(99);
        f.ops->prior(&f, B, th[run]);
        for (int step = 0; step < 3; step++) {
            f.ops->output_sample(&f, B, th[run], NULL, out, r, xs[run]);
            f.ops->update(&f, B, th[run], xs[run], al, r);
        }
        gsl_rng_free(r);
    }
    omp_set_num_threads(1);
    assert_memory_equal(xs[0], xs[1], (size_t)N * sizeof(float));
    assert_memory_equal(th[0], th[1], (size_t)N * 2 * sizeof(float));
    for (int run = 0; run < 2; run++) { free(th[run]); free(xs[run]); }
    free(out);
    bfn_family_free(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_and_shapes),
        cmocka_unit_test(test_prior_and_net_input),
        cmocka_unit_test(test_flow_log_ratio),
        cmocka_unit_test(test_flow_uniform_at_start),
        cmocka_unit_test(test_flow_equals_sequential_updates),
        cmocka_unit_test(test_update),
        cmocka_unit_test(test_loss_cts_value),
        cmocka_unit_test(test_loss_n_matches_quadrature),
        cmocka_unit_test(test_loss_n_converges_to_loss_cts),
        cmocka_unit_test(test_loss_recon),
        cmocka_unit_test(test_grad_fd),
        cmocka_unit_test(test_confident_outputs),
        cmocka_unit_test(test_loss_n_zero_alpha),
        cmocka_unit_test(test_receiver_floor_closed_form),
        cmocka_unit_test(test_receiver_floor_grad_fd),
        cmocka_unit_test(test_output_distribution),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_two_class_update_edges),
        cmocka_unit_test(test_two_class_sampler_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
