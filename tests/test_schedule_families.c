/* test_schedule_families.c: every registered accuracy schedule with every
 * data family ("everything derives from beta and beta'", paper Sec. 3).
 *
 * The grid: every name in bfn_schedule_names() ("table" reads a front-loaded
 * TSV this test writes) x the families discrete K = 2, discrete K = 3,
 * continuous and discretised K = 16. All schedules of a family share one final
 * accuracy beta(1): 9 for discrete data (the official MNIST sqrt(beta(1)) = 3)
 * and 999 for continuous/discretised data (sigma1^2 = 1e-3, the official
 * 4-bit setting); "exponential" gets it through sigma1 = (1 + beta(1))^(-1/2).
 *
 * Checks, each against references written independently of the families'
 * algebra (literal Gaussian log-densities, erfc bin masses, gamma = beta/(1+beta)):
 *   1. test_loss_weights_follow_schedule: at matched t the continuous-time
 *      loss is (K/2) beta'(t) ||e_x - p||^2 (discrete) or (beta'(t)/2)(x - x_hat)^2
 *      (continuous, discretised with x_hat the output mean), the noise-to-data
 *      conversion uses the schedule's beta(t), and the continuous n-step term
 *      is n alpha/2 (x - x_hat)^2 at the same theta.
 *   2. test_nstep_loss_converges_to_cts_loss: L^n = mean_i n KL(alpha_i) with
 *      alpha_i = bfn_schedule_alpha(i, n), t_{i-1} = (i-1)/n, tends to L^inf
 *      as n = 10, 100, 1000: the exact gap (quadrature) shrinks monotonically at
 *      the O(1/n) rate and is small at n = 1000, and the families' own L^n
 *      (Monte Carlo for the discrete/discretised ones) agrees with the exact
 *      L^n within 5 standard errors at every n.
 *   3. test_updates_reproduce_flow: n sequential Bayesian updates (the family's
 *      update op with alpha_i) from the prior have the distribution of the flow
 *      at t = 1/2 (after n/2 updates) and at t = 1 (moments within 5 SE).
 * Monte Carlo tolerances are 5 standard errors estimated from the samples
 * (false-failure probability ~6e-7 per check; the seeds are fixed anyway). */
#include "testutil.h"

#include <float.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "bfn/family.h"
#include "bfn/gauss.h"
#include "bfn/schedule.h"
#include "util/err.h"

/* ---- the grid ------------------------------------------------------------------------- */

typedef enum { FAM_DISCRETE2, FAM_DISCRETE3, FAM_CONTINUOUS, FAM_DISCRETISED, N_FAM } fam_id;
static const char *const FAM_NAME[N_FAM] = {"discrete K=2", "discrete K=3", "continuous", "discretised K=16"};
#define DISC_BINS 16

static int is_discrete(fam_id f) { return f == FAM_DISCRETE2 || f == FAM_DISCRETE3; }
static double fam_beta1(fam_id f) { return is_discrete(f) ? 9.0 : 999.0; }

/* A front-loaded tabulated schedule with final accuracy beta1: knots at
 * fractions (0, .3, .55, .8, .93, 1) of beta1 for t = (0, .1, .25, .5, .75, 1).
 * Written once per beta1 into a temporary directory; returns the path. */
static const char *table_for(double beta1) {
    static char dir[256], path[2][600];
    static double written[2];
    int slot = beta1 == fam_beta1(FAM_DISCRETE2) ? 0 : 1;
    if (written[slot] == beta1) return path[slot];
    if (!dir[0]) snprintf(dir, sizeof dir, "%s", test_tmpdir());
    snprintf(path[slot], sizeof path[slot], "%s/front_%g.tsv", dir, beta1);
    const double kt[] = {0, 0.1, 0.25, 0.5, 0.75, 1}, kf[] = {0, 0.3, 0.55, 0.8, 0.93, 1};
    char text[1024];
    size_t len = (size_t)snprintf(text, sizeof text, "# t\tbeta (front-loaded test schedule)\n");
    for (int j = 0; j < 6; j++) len += (size_t)snprintf(text + len, sizeof text - len, "%g\t%.17g\n", kt[j], kf[j] * beta1);
    test_write_file(path[slot], text, len);
    written[slot] = beta1;
    return path[slot];
}

/* Schedule `name` with final accuracy beta1 (beta1 for quadratic/linear/cosine,
 * sigma1 = (1 + beta1)^-1/2 for exponential, the front-loaded table). */
static void make_schedule(const char *name, double beta1, bfn_schedule *s) {
    bfn_schedule_params p = {.beta1 = beta1, .sigma1 = 1.0 / sqrt(1.0 + beta1), .table_path = table_for(beta1)};
    int rc = bfn_schedule_init(s, name, &p);
    if (rc != BFN_OK) print_error("%s: %s\n", name, bfn_last_error());
    assert_int_equal(rc, BFN_OK);
    double b1 = s->beta(s, 1.0);
    assert_true(isfinite(b1) && b1 > 0.0);
}

static bfn_family make_family(fam_id fam, const char *sched, int D) {
    bfn_schedule s;
    make_schedule(sched, fam_beta1(fam), &s);
    bfn_family f;
    int rc;
    if (fam == FAM_DISCRETE2) rc = bfn_discrete_init(&f, D, 2, s);
    else if (fam == FAM_DISCRETE3) rc = bfn_discrete_init(&f, D, 3, s);
    else if (fam == FAM_CONTINUOUS) rc = bfn_continuous_init(&f, D, s, 16, 0.7 / sqrt(1.0 + fam_beta1(fam)));
    else rc = bfn_discretised_init(&f, D, DISC_BINS, s);
    if (rc != BFN_OK) print_error("%s / %s: %s\n", FAM_NAME[fam], sched, bfn_last_error());
    assert_int_equal(rc, BFN_OK);
    return f;
}

/* Data value of dimension d: a class, a value in [-1, 1] or a bin centre. */
static float data_value(const bfn_family *f, fam_id fam, int d) {
    if (is_discrete(fam)) return (float)(d % f->K);
    if (fam == FAM_CONTINUOUS) return (float)(-0.9 + 1.8 * ((7 * d) % 16) / 15.0);
    return (float)bfn_bin_centre((5 * d + 3) % DISC_BINS, DISC_BINS);
}

/* ---- independent references ---------------------------------------------------------- */

/* Class probabilities from the network outputs (K = 2: one logit for class 1). */
static void ref_class_probs(int K, const float *o, double *p) {
    if (K == 2) {
        p[1] = 1.0 / (1.0 + exp(-(double)o[0]));
        p[0] = 1.0 / (1.0 + exp((double)o[0]));
        return;
    }
    double m = o[0], sum = 0.0;
    for (int k = 1; k < K; k++) if (o[k] > m) m = o[k];
    for (int k = 0; k < K; k++) sum += exp((double)o[k] - m);
    for (int k = 0; k < K; k++) p[k] = exp((double)o[k] - m) / sum;
}

/* [CODE]'s noise-to-data coefficients with the general gamma(t) = beta/(1+beta)
 * (input precision 1 + beta, paper Sec. 4): data mean = mu/gamma -
 * sqrt((1-gamma)/gamma) eps. The families use (1+beta)/beta and 1/sqrt(beta). */
static void ref_coefs(const bfn_schedule *s, double t, double *a, double *b) {
    double beta = s->beta(s, t), gamma = beta / (1.0 + beta);
    *a = 1.0 / gamma;
    *b = sqrt((1.0 - gamma) / gamma);
}

/* Bin masses of N(mu, s^2) on K bins with open edge bins, from erfc. */
static void ref_bin_probs(double mu, double s, int K, double *p) {
    for (int k = 0; k < K; k++) {
        double zl = k == 0 ? -INFINITY : (-1.0 + 2.0 * k / K - mu) / s;
        double zu = k == K - 1 ? INFINITY : (-1.0 + 2.0 * (k + 1) / K - mu) / s;
        if (zl >= 0.0) p[k] = 0.5 * (erfc(zl / M_SQRT2) - erfc(zu / M_SQRT2));
        else p[k] = 0.5 * (erfc(-zu / M_SQRT2) - erfc(-zl / M_SQRT2));
    }
}

/* Output mean sum_k p_k c_k of the discretised output for outputs o = (mu_eps,
 * ln sigma_eps) at input mean mu and time t, with [CODE]'s clamps. */
static double ref_disc_mean(const bfn_schedule *s, double t, double mu, const float *o) {
    double a, b, p[DISC_BINS], l = o[1] < -10.0f ? -10.0 : o[1] > 10.0f ? 10.0 : o[1];
    ref_coefs(s, t, &a, &b);
    double mx = a * mu - b * o[0], sx = b * exp(l), kh = 0.0;
    sx = sx < 1e-3 ? 1e-3 : sx > 10.0 ? 10.0 : sx;
    ref_bin_probs(mx, sx, DISC_BINS, p);
    for (int k = 0; k < DISC_BINS; k++) kh += p[k] * bfn_bin_centre(k, DISC_BINS);
    return kh;
}

/* Composite Simpson weight of node m of M intervals. */
static double simpson_w(int m, int M) { return m == 0 || m == M ? 1.0 : m % 2 ? 4.0 : 2.0; }

/* Exact KL(p_S || product receiver) for discrete data ([CODE] receiver,
 * paper/NOTES.md §4.3): sum over coordinates j of KL(N(mu_j, aK) || m_j) with
 * mu_j = a(K delta_jx - 1) and m_j = p_j N(a(K-1), aK) + (1 - p_j) N(-a, aK)
 * (the K - 1 components with mean -a merged). In z = (y - mu_j)/sqrt(aK) the
 * integrand is phi(z) [-z^2/2 - ln(p_j e^{-(z+d1)^2/2} + q_j e^{-(z+d0)^2/2})]
 * (the normalisers cancel); composite Simpson over z in [-10, 10] with M
 * intervals (mass outside 1.5e-23). The switch between the two components
 * has width ~1/sqrt(aK) >= 0.5 in z for every alpha used here, resolved by the
 * step 20/M; test_nstep_loss_converges_to_cts_loss checks M = 400 against 800. */
static double exact_kl_discrete(int K, int x, const double *p, double a, int M) {
    const double Z = 10.0, h = 2.0 * Z / M, sd = sqrt(a * K);
    double total = 0.0;
    for (int j = 0; j < K; j++) {
        double q = 0.0;
        for (int k = 0; k < K; k++) if (k != j) q += p[k];
        double mu = a * (K * (j == x) - 1.0), d1 = (mu - a * (K - 1.0)) / sd, d0 = (mu + a) / sd;
        double lp = log(p[j]), lq = log(q), sum = 0.0;
        for (int m = 0; m <= M; m++) {
            double z = -Z + m * h, v1 = lp - 0.5 * (z + d1) * (z + d1), v0 = lq - 0.5 * (z + d0) * (z + d0);
            double mx = v1 > v0 ? v1 : v0, lm = mx + log(exp(v1 - mx) + exp(v0 - mx));
            sum += simpson_w(m, M) * exp(-0.5 * z * z) * (-0.5 * z * z - lm);
        }
        total += sum * h / 3.0 / sqrt(2.0 * M_PI);
    }
    return total;
}

/* Exact KL(N(x, 1/a) || sum_k w_k N(c_k, 1/a)) for discretised data with
 * torch's mixture weights w = clamp(p, eps, 1-eps)/sum (eps = FLT_EPSILON,
 * see discretised.c); lw = ln of the clamped, normalised weights. Composite
 * Simpson over y in x +- 12 sd with M intervals: the integrand varies on the
 * scale min(sd, sd^2/h) (h = 2/K), >= 0.04 sd for every alpha <= 4e4 used
 * here, against the step 0.04 sd at M = 600. */
static double exact_kl_discretised(const double *lw, double x, double a, int M) {
    double sd = 1.0 / sqrt(a), lo = x - 12.0 * sd, step = 24.0 * sd / M, sum = 0.0;
    for (int m = 0; m <= M; m++) {
        double y = lo + m * step, v[DISC_BINS], mx = -INFINITY, acc = 0.0, zs = (y - x) / sd;
        for (int k = 0; k < DISC_BINS; k++) {
            double z = (y - bfn_bin_centre(k, DISC_BINS)) / sd;
            v[k] = lw[k] - 0.5 * z * z;
            if (v[k] > mx) mx = v[k];
        }
        for (int k = 0; k < DISC_BINS; k++) acc += exp(v[k] - mx);
        sum += simpson_w(m, M) * exp(-0.5 * zs * zs) / sqrt(2.0 * M_PI) * (-0.5 * zs * zs - (mx + log(acc)));
    }
    return sum * (step / sd) / 3.0;
}

/* ln of torch's clamped, normalised mixture weights for N(mu, s^2) on 16 bins. */
static void torch_log_weights(double mu, double s, double *lw) {
    double p[DISC_BINS], sq = 0.0;
    ref_bin_probs(mu, s, DISC_BINS, p);
    for (int k = 0; k < DISC_BINS; k++) {
        p[k] = p[k] < FLT_EPSILON ? FLT_EPSILON : p[k] > 1.0 - FLT_EPSILON ? 1.0 - FLT_EPSILON : p[k];
        sq += p[k];
    }
    for (int k = 0; k < DISC_BINS; k++) lw[k] = log(p[k] / sq);
}

/* ---- 1. loss weights at matched t ------------------------------------------------------- */

/* For every schedule and family: theta from the flow at t, random network
 * outputs, and loss_cts against beta'(t) times the reference squared error of
 * the output (the conversion with gamma = beta(t)/(1+beta(t))). t runs over
 * (0.02 .. 1]: early, late and a value on the table's segments. For continuous
 * data loss_n(alpha = 0.37, n = 7) must be 7 * 0.37 / 2 (x - x_hat)^2, i.e.
 * loss_n / loss_cts = n alpha / beta'(t) at the same theta.
 * Tolerance: relative 1e-6 + absolute 1e-10 beta'(t). Both sides read the same
 * float inputs; the loss is stored as float (relative 6e-8), the references
 * differ from the families by rounding of order 1e-13 (1 - gamma at beta ~ 1e3)
 * and erfc against the Mills-ratio CDF (1e-15 absolute in x_hat). A hard-coded
 * schedule (e.g. the exponential's weight under "linear") is off by O(1). */
static void test_loss_weights_follow_schedule(void **state) {
    enum { NT = 6, D = 12 };
    const float ts[NT] = {0.02f, 0.2f, 0.37f, 0.5f, 0.8f, 1.0f};
    unsigned long seed = 100;
    for (const char *const *nm = bfn_schedule_names(); *nm; nm++) {
        for (int fam = 0; fam < N_FAM; fam++) {
            bfn_family f = make_family(fam, *nm, D);
            const int K = f.K, oc = f.out_ch, tc = f.theta_ch;
            float x[NT * D], tt[NT], theta[NT * D * 3], out[NT * D * 3], al[NT];
            double loss[NT], lossn[NT];
            gsl_rng *r = test_rng(seed++);
            for (int b = 0; b < NT; b++) {
                tt[b] = ts[b];
                al[b] = 0.37f;
                for (int d = 0; d < D; d++) x[b * D + d] = data_value(&f, fam, d);
            }
            f.ops->flow_sample(&f, NT, x, tt, r, theta);
            for (int i = 0; i < NT * D * oc; i++) out[i] = (float)gsl_ran_gaussian(r, 1.0);
            f.ops->loss_cts(&f, NT, x, tt, theta, out, loss, NULL, 1.0f);
            if (fam == FAM_CONTINUOUS) f.ops->loss_n(&f, NT, x, tt, al, 7.0, theta, out, r, lossn, NULL, 1.0f);
            for (int b = 0; b < NT; b++) {
                double t = tt[b], bp = f.sched.beta_prime(&f.sched, t), a, bb, sq = 0.0;
                ref_coefs(&f.sched, t, &a, &bb);
                for (int d = 0; d < D; d++) {
                    size_t row = (size_t)b * D + d;
                    if (is_discrete(fam)) {
                        double p[3];
                        ref_class_probs(K, out + row * oc, p);
                        for (int k = 0; k < K; k++) sq += 0.5 * K * (p[k] - (k == (int)x[row])) * (p[k] - (k == (int)x[row]));
                    } else if (fam == FAM_CONTINUOUS) {
                        double xh = a * theta[row * tc] - bb * out[row];
                        xh = xh < -1.0 ? -1.0 : xh > 1.0 ? 1.0 : xh;
                        sq += 0.5 * (x[row] - xh) * (x[row] - xh);
                    } else {
                        double kh = ref_disc_mean(&f.sched, t, theta[row * tc], out + row * oc);
                        sq += 0.5 * (x[row] - kh) * (x[row] - kh);
                    }
                }
                double ref = bp * sq / D, tol = 1e-6 * fabs(ref) + 1e-10 * bp;
                if (!(fabs(loss[b] - ref) <= tol))
                    print_error("%s / %s t=%g: loss_cts %.9g, beta'(t) x reference %.9g\n", *nm, FAM_NAME[fam], t,
                                loss[b], ref);
                assert_close(loss[b], ref, tol);
                if (fam == FAM_CONTINUOUS) {
                    double refn = 7.0 * 0.37f * sq / D;
                    assert_close(lossn[b], refn, 1e-6 * refn + 1e-12);
                }
            }
            gsl_rng_free(r);
            bfn_family_free(&f);
        }
    }
}

/* ---- 2. L^n -> L^inf ------------------------------------------------------------------- */

/* One family's L^n at n steps: exact (quadrature or closed form) and the
 * family's own estimate with its standard error (0 for deterministic losses). */
typedef struct {
    double exact, fam, se;
} nstep_value;

/* Mean over i of the family's loss_n rows b = (i-1) R + r (R replicate rows per
 * step, each already a mean over D dims and n_mc samples): L^n estimate and SE
 * from the per-step sample variances. */
static void family_ln(const bfn_family *f, int n, int R, const float *x, const float *theta, const float *out,
                      unsigned long seed, double *mean, double *se) {
    int B = n * R;
    float *t = test_falloc(B), *al = test_falloc(B);
    double *loss = calloc((size_t)B, sizeof *loss);
    for (int i = 1; i <= n; i++)
        for (int r = 0; r < R; r++) {
            t[(i - 1) * R + r] = (float)((double)(i - 1) / n);
            al[(i - 1) * R + r] = (float)bfn_schedule_alpha(&f->sched, i, n);
        }
    gsl_rng *rng = test_rng(seed);
    f->ops->loss_n(f, B, x, t, al, (double)n, theta, out, rng, loss, NULL, 1.0f);
    double m = 0.0, v = 0.0;
    for (int i = 0; i < n; i++) {
        double mi = 0.0, vi = 0.0;
        for (int r = 0; r < R; r++) mi += loss[i * R + r] / R;
        for (int r = 0; r < R && R > 1; r++) vi += (loss[i * R + r] - mi) * (loss[i * R + r] - mi) / (R - 1);
        m += mi / n;
        v += vi / R / ((double)n * n);
    }
    *mean = m;
    *se = sqrt(v);
    gsl_rng_free(rng);
    free(t);
    free(al);
    free(loss);
}

/* Replicate rows per step: 20000 rows for n <= 100, and 80 per step at
 * n = 1000 (every step's variance then has >= 79 degrees of freedom). The SE of
 * L^n does not shrink with n at a fixed number of samples per step (each
 * step's n KL estimate has variance ~ n^2 alpha_i, alpha_i ~ 1/n), so n = 1000
 * gets the most samples: its SE is ~1% of L^inf. */
static int rows_per_step(int n) { return n >= 1000 ? 80 : 20000 / n; }

/* Discrete data, a constant network output p (class x = 1 predicted with
 * p_x = 0.3 for K = 2, p = softmax(0.4, -0.3, -0.8) with x = 2 for K = 3):
 * L^inf(t) = (K/2) beta'(t) ||e_x - p||^2, so L^inf = (K/2) beta(1) ||e_x - p||^2,
 * and L^n = sum_i KL(alpha_i). n_mc = 25 sender samples per row. */
static double discrete_case(const bfn_family *f, const int *ns, int nn, unsigned long seed, nstep_value *v) {
    const int K = f->K, x = K == 2 ? 1 : 2, oc = f->out_ch;
    float logits[3] = {(float)log(0.3 / 0.7), 0.0f, 0.0f};
    if (K == 3) { logits[0] = 0.4f; logits[1] = -0.3f; logits[2] = -0.8f; }
    double p[3], w = 0.0;
    ref_class_probs(K, logits, p);
    for (int k = 0; k < K; k++) w += (p[k] - (k == x)) * (p[k] - (k == x));
    bfn_family fm = *f;
    fm.n_mc = 25;
    for (int j = 0; j < nn; j++) {
        int n = ns[j], R = rows_per_step(n), B = n * R;
        double ex = 0.0;
        for (int i = 1; i <= n; i++) ex += exact_kl_discrete(K, x, p, bfn_schedule_alpha(&f->sched, i, n), 400);
        v[j].exact = ex;
        float *xs = test_falloc(B), *out = test_falloc((size_t)B * oc), *theta = test_falloc((size_t)B * K);
        for (int b = 0; b < B; b++) {
            xs[b] = (float)x;
            memcpy(out + (size_t)b * oc, logits, (size_t)oc * sizeof(float));
        }
        f->ops->prior(f, B, theta);
        family_ln(&fm, n, R, xs, theta, out, seed + j, &v[j].fam, &v[j].se);
        free(xs);
        free(out);
        free(theta);
    }
    /* Quadrature check at the largest alpha of the coarsest grid. */
    double amax = 0.0;
    for (int i = 1; i <= ns[0]; i++) {
        double a = bfn_schedule_alpha(&f->sched, i, ns[0]);
        if (a > amax) amax = a;
    }
    double k400 = exact_kl_discrete(K, x, p, amax, 400), k800 = exact_kl_discrete(K, x, p, amax, 800);
    assert_close(k400, k800, 1e-9 * k800);
    return 0.5 * K * f->sched.beta(&f->sched, 1.0) * w;
}

/* Discretised data, a network predicting N(0, 0.05^2) in data space at every
 * t >= 1e-6 (input mean 0, outputs (0, ln(0.05 sqrt(beta(t))))), and the
 * official N(0, 1) at t = 0; x = bin 12 (0.5625). Both outputs have mean 0, so
 * L^inf = (beta(1)/2) x^2 exactly; L^n = sum_i KL(alpha_i) with the mixture of
 * the output at t_{i-1}. n_mc = 16 sender samples per row. */
static double discretised_case(const bfn_family *f, const int *ns, int nn, unsigned long seed, nstep_value *v) {
    const double s = 0.05, xv = bfn_bin_centre(12, DISC_BINS);
    double lw_s[DISC_BINS], lw_0[DISC_BINS], p[DISC_BINS], kh = 0.0;
    torch_log_weights(0.0, s, lw_s);
    torch_log_weights(0.0, 1.0, lw_0);
    ref_bin_probs(0.0, s, DISC_BINS, p);
    for (int k = 0; k < DISC_BINS; k++) kh += p[k] * bfn_bin_centre(k, DISC_BINS);
    assert_close(kh, 0.0, 1e-15);
    bfn_family fm = *f;
    fm.n_mc = 16;
    for (int j = 0; j < nn; j++) {
        int n = ns[j], R = rows_per_step(n), B = n * R;
        double ex = 0.0;
        for (int i = 1; i <= n; i++) {
            double t = (double)(i - 1) / n;
            ex += exact_kl_discretised(t < BFN_NOISE_PRED_T_MIN ? lw_0 : lw_s, xv, bfn_schedule_alpha(&f->sched, i, n), 600);
        }
        v[j].exact = ex;
        float *xs = test_falloc(B), *out = test_falloc((size_t)B * 2), *theta = test_falloc((size_t)B * 2);
        f->ops->prior(f, B, theta);
        for (int b = 0; b < B; b++) {
            double t = (double)(b / R) / n;
            xs[b] = (float)xv;
            out[2 * b] = 0.0f;
            out[2 * b + 1] = t < BFN_NOISE_PRED_T_MIN ? 0.0f : (float)log(s * sqrt(f->sched.beta(&f->sched, t)));
        }
        family_ln(&fm, n, R, xs, theta, out, seed + j, &v[j].fam, &v[j].se);
        free(xs);
        free(out);
        free(theta);
    }
    double amax = bfn_schedule_alpha(&f->sched, ns[0], ns[0]);
    for (int i = 1; i < ns[0]; i++) {
        double a = bfn_schedule_alpha(&f->sched, i, ns[0]);
        if (a > amax) amax = a;
    }
    assert_close(exact_kl_discretised(lw_s, xv, amax, 600), exact_kl_discretised(lw_s, xv, amax, 1200),
                 1e-9 * exact_kl_discretised(lw_s, xv, amax, 1200));
    return 0.5 * f->sched.beta(&f->sched, 1.0) * xv * xv;
}

/* Continuous data, a network whose prediction improves with t:
 * x_hat(t) = x (1 - (1-t)^2) (input mean 0, eps_hat = -x_hat sqrt(beta(t));
 * x_hat(0) = 0 agrees with the official t < 1e-6 override). With
 * g(t) = (x - x_hat)^2 / 2 = x^2 (1-t)^4 / 2, L^n = sum_i alpha_i g(t_{i-1})
 * is a left Riemann-Stieltjes sum of L^inf = int g dbeta = int beta(t)
 * 2 x^2 (1-t)^3 dt (by parts; Simpson with 20000 intervals, beta continuous).
 * The family's L^n is deterministic (closed-form KL), se = 0. */
static double continuous_case(const bfn_family *f, const int *ns, int nn, nstep_value *v) {
    const double xv = 0.7;
    for (int j = 0; j < nn; j++) {
        int n = ns[j];
        float *xs = test_falloc(n), *out = test_falloc(n), *theta = test_falloc((size_t)n * 2);
        f->ops->prior(f, n, theta);
        double ex = 0.0;
        for (int i = 1; i <= n; i++) {
            double t = (double)(i - 1) / n, xh = xv * (1.0 - (1.0 - t) * (1.0 - t));
            xs[i - 1] = (float)xv;
            out[i - 1] = t < BFN_NOISE_PRED_T_MIN ? 0.0f : (float)(-xh * sqrt(f->sched.beta(&f->sched, t)));
            ex += bfn_schedule_alpha(&f->sched, i, n) * 0.5 * (xv - xh) * (xv - xh);
        }
        v[j].exact = ex;
        family_ln(f, n, 1, xs, theta, out, 1, &v[j].fam, &v[j].se);
        v[j].se = 0.0;
        free(xs);
        free(out);
        free(theta);
    }
    const int M = 20000;
    double sum = 0.0;
    for (int m = 0; m <= M; m++) {
        double t = (double)m / M, u = 1.0 - t;
        sum += simpson_w(m, M) * f->sched.beta(&f->sched, t) * 2.0 * xv * xv * u * u * u;
    }
    return sum / (3.0 * M);
}

/* The core check of the issue. For every schedule and family, with the
 * "networks" of the *_case helpers above:
 *   (a) exact gap G(n) = L^n - L^inf shrinks monotonically over n = 10, 100,
 *       1000 (the grids are nested: for continuous data the left Riemann sum of
 *       a decreasing g can only fall when refined; for the Monte Carlo families
 *       the gap is the curvature of KL in alpha, sum_i O(alpha_i^2)), at the
 *       O(1/n) rate: |G(1000)| <= 0.2 |G(100)| (0.1 expected; 0.2 leaves room
 *       for the next order; measured 0.096-0.124), and |G(1000)| <= 3% of L^inf
 *       (measured: 0.23-0.53% everywhere except discretised data, 0.44-1.44%;
 *       the largest is the exponential schedule, whose alpha_i reach 6.9 at
 *       the end against the output spread v ~ 4e-3: alpha v ~ 2.6% at the last
 *       steps, ~1.3% on average);
 *   (b) the family's own L^n agrees with the exact L^n: within 5 SE for the
 *       Monte Carlo families (and 5 SE < 10% of L^inf, so a factor-2 error in
 *       the loss or in alpha_i fails), relative 1e-5 for continuous data
 *       (float outputs: 6e-8 per term);
 *   (c) hence the family's L^1000 lies within |G(1000)| + 5 SE of L^inf.
 * A schedule whose alpha_i did not telescope to beta(1), or a family that used
 * a schedule of its own, would leave an O(1) gap at every n. */
static void test_nstep_loss_converges_to_cts_loss(void **state) {
    const int ns[3] = {10, 100, 1000};
    unsigned long seed = 500;
    for (const char *const *nm = bfn_schedule_names(); *nm; nm++) {
        for (int fam = 0; fam < N_FAM; fam++) {
            bfn_family f = make_family(fam, *nm, 1);
            nstep_value v[3];
            double linf;
            if (is_discrete(fam)) linf = discrete_case(&f, ns, 3, seed, v);
            else if (fam == FAM_DISCRETISED) linf = discretised_case(&f, ns, 3, seed, v);
            else linf = continuous_case(&f, ns, 3, v);
            seed += 10;
            double g[3];
            int ok = 1;
            for (int j = 0; j < 3; j++) {
                g[j] = v[j].exact - linf;
                double tol = v[j].se > 0.0 ? 5.0 * v[j].se : 1e-5 * fabs(v[j].exact);
                ok &= fabs(v[j].fam - v[j].exact) <= tol && 5.0 * v[j].se < 0.1 * linf;
            }
            ok &= fabs(g[0]) > fabs(g[1]) && fabs(g[1]) > fabs(g[2]);
            ok &= fabs(g[2]) <= 0.2 * fabs(g[1]) && fabs(g[2]) <= 0.03 * linf;
            ok &= fabs(v[2].fam - linf) <= fabs(g[2]) + 5.0 * v[2].se + 1e-5 * linf;
            if (!ok || getenv("BFN_TEST_VERBOSE")) {
                print_message("%-12s %-17s L^inf %10.5f\n", *nm, FAM_NAME[fam], linf);
                for (int j = 0; j < 3; j++)
                    print_message("    n=%-5d exact L^n %10.5f (gap %+.3e, %+.3f%%)  family %10.5f +- %.2e\n", ns[j],
                                  v[j].exact, g[j], 100.0 * g[j] / linf, v[j].fam, v[j].se);
            }
            assert_true(ok);
            bfn_family_free(&f);
        }
    }
}

/* ---- 3. n Bayesian updates reproduce the flow --------------------------------------------- */

/* Mean, standard error of the mean, variance and the standard error of the
 * variance (Gaussian approximation var sqrt(2/(N-1)); the log-odds and mu
 * tested with it are exactly Gaussian). */
typedef struct { double mean, se, var, var_se; } moments;
static moments moments_of(const double *v, int N) {
    moments m = {0, 0, 0, 0};
    for (int i = 0; i < N; i++) m.mean += v[i] / N;
    for (int i = 0; i < N; i++) m.var += (v[i] - m.mean) * (v[i] - m.mean) / (N - 1);
    m.se = sqrt(m.var / N);
    m.var_se = m.var * sqrt(2.0 / (N - 1));
    return m;
}

/* Expected moments (mean, var) and the sample's: within 5 SE each. */
static int moments_match(const moments *m, double mean, double var) {
    return fabs(m->mean - mean) <= 5.0 * m->se && fabs(m->var - var) <= 5.0 * m->var_se;
}

/* Sample statistics of theta (N examples, D = 1): discrete: the log-odds
 * ln theta_x - ln theta_j for the first class j != x, and theta_x; Gaussian
 * families: mu, and rho in *rho_out (all equal). */
static void theta_stats(fam_id fam, int K, int x, const float *theta, int N, double *lo, double *px) {
    for (int i = 0; i < N; i++) {
        if (is_discrete(fam)) {
            const float *th = theta + (size_t)i * K;
            int j = x == 0 ? 1 : 0;
            lo[i] = log((double)th[x]) - log((double)th[j]);
            px[i] = th[x];
        } else {
            lo[i] = theta[2 * i];
            px[i] = theta[2 * i + 1];
        }
    }
}

/* Prior + k sequential updates (the family's update op, alpha_i of n steps,
 * sender centred on the true x) against the flow at t = k/n, for k = n/2 and
 * k = n, with n = 10 and n = 40 (alpha_i differ, the result must not):
 *   discrete: the log-odds ln theta_x - ln theta_j = y_x - y_j of the flow is
 *     N(beta K, 2 beta K) exactly, beta = beta(t) (the flow clamps t to
 *     1 - 1e-6: a relative change < 2e-5 of beta, far below the SE); the chain
 *     and the flow sample must both match it, and their E[theta_x],
 *     E[theta_x^2] must agree within 5 SE of the difference;
 *   Gaussian families: mu ~ N(gamma x, gamma (1-gamma)), gamma = beta/(1+beta),
 *     for both, and the chain's rho = 1 + beta(t) (float accumulation over <= 40
 *     steps: relative 1e-5).
 * The t = 1/2 check is what ties the flow to the schedule's shape: at t = 1 the
 * alpha_i telescope to beta(1) for any beta. N = 6000 chains (discrete) or
 * 20000 (Gaussian): 5 SE of the variance is 9% / 5%, so a flow that used the
 * wrong beta(t) by more than that fails; the means are far tighter. */
static void test_updates_reproduce_flow(void **state) {
    unsigned long seed = 900;
    for (const char *const *nm = bfn_schedule_names(); *nm; nm++) {
        for (int fam = 0; fam < N_FAM; fam++) {
            int N = is_discrete(fam) ? 6000 : 20000;
            bfn_family f = make_family(fam, *nm, 1);
            const int K = f.K, tc = f.theta_ch;
            const float xv = is_discrete(fam) ? (float)(K - 1) : fam == FAM_CONTINUOUS ? 0.5f : (float)bfn_bin_centre(11, DISC_BINS);
            float *xs = test_falloc(N), *al = test_falloc(N), *tt = test_falloc(N);
            float *chain = test_falloc((size_t)N * tc), *flow = test_falloc((size_t)N * tc);
            double *lo_c = bfn_xmalloc((size_t)N * sizeof(double)), *px_c = bfn_xmalloc((size_t)N * sizeof(double));
            double *lo_f = bfn_xmalloc((size_t)N * sizeof(double)), *px_f = bfn_xmalloc((size_t)N * sizeof(double));
            for (int i = 0; i < N; i++) xs[i] = xv;
            const int nsteps[2] = {10, 40};
            for (int q = 0; q < 2; q++) {
                int n = nsteps[q];
                gsl_rng *r = test_rng(seed++);
                f.ops->prior(&f, N, chain);
                for (int i = 1; i <= n; i++) {
                    for (int b = 0; b < N; b++) al[b] = (float)bfn_schedule_alpha(&f.sched, i, n);
                    f.ops->update(&f, N, chain, xs, al, r);
                    if (i != n / 2 && i != n) continue;
                    double t = (double)i / n, beta = f.sched.beta(&f.sched, t);
                    for (int b = 0; b < N; b++) tt[b] = (float)t;
                    f.ops->flow_sample(&f, N, xs, tt, r, flow);
                    theta_stats(fam, K, (int)xv, chain, N, lo_c, px_c);
                    theta_stats(fam, K, (int)xv, flow, N, lo_f, px_f);
                    moments mc = moments_of(lo_c, N), mf = moments_of(lo_f, N);
                    double mean, var;
                    int ok;
                    if (is_discrete(fam)) {
                        mean = beta * K;
                        var = 2.0 * beta * K;
                        ok = moments_match(&mc, mean, var) && moments_match(&mf, mean, var);
                        /* E[theta_x] and E[theta_x^2]: chain vs flow */
                        for (int pw = 1; pw <= 2; pw++) {
                            for (int b = 0; b < N; b++) {
                                lo_c[b] = pow(px_c[b], pw);
                                lo_f[b] = pow(px_f[b], pw);
                            }
                            moments a = moments_of(lo_c, N), c = moments_of(lo_f, N);
                            ok &= fabs(a.mean - c.mean) <= 5.0 * sqrt(a.se * a.se + c.se * c.se);
                        }
                    } else {
                        double gamma = beta / (1.0 + beta);
                        mean = gamma * xv;
                        var = gamma * (1.0 - gamma);
                        ok = moments_match(&mc, mean, var) && moments_match(&mf, mean, var);
                        ok &= fabs(px_c[0] - (1.0 + beta)) <= 1e-5 * (1.0 + beta);
                        ok &= fabs(px_f[0] - (1.0 + beta)) <= 1e-6 * (1.0 + beta);
                    }
                    if (!ok)
                        print_error("%s / %s, %d of %d updates (t = %g): chain %.6g (var %.6g), flow %.6g (var %.6g), "
                                    "expected %.6g (var %.6g)\n",
                                    *nm, FAM_NAME[fam], i, n, t, mc.mean, mc.var, mf.mean, mf.var, mean, var);
                    assert_true(ok);
                }
                gsl_rng_free(r);
            }
            free(xs); free(al); free(tt); free(chain); free(flow);
            free(lo_c); free(px_c); free(lo_f); free(px_f);
            bfn_family_free(&f);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_weights_follow_schedule),
        cmocka_unit_test(test_nstep_loss_converges_to_cts_loss),
        cmocka_unit_test(test_updates_reproduce_flow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
