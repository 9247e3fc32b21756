/* figures.c: TSV data of the paper's analytic figures (see figures.h).
 *
 * Everything here is computed from the harness's own BFN code: schedules via
 * bfn_schedule_init / beta / beta_prime, flows and Bayesian updates via the
 * families' ops->flow_sample / prior / update. Random numbers come from one
 * MT19937 generator per figure with a fixed seed, consumed in a fixed order,
 * and numbers are printed with a fixed format, so output is byte-identical on
 * every call of the same build.
 */
#include "analysis/figures.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "bfn/family.h"
#include "bfn/schedule.h"
#include "util/err.h"

/* Fixed seeds, one per random figure (any fixed value would do). */
#define SEED_CTS_PATHS 2308037u
#define SEED_K2_DENSITY 2308038u
#define SEED_K2_PATHS 2308039u
#define SEED_K3_PATHS 2308040u
#define SEED_ENTROPY 2308041u

/* Shared settings of the figures (paper/NOTES.md §2). */
#define T_ROWS 200          /* line plots: t = i / T_ROWS, i = 0..T_ROWS */
#define GRID_T 100          /* density plots: t cells centred at (i + 0.5) / GRID_T */
#define CTS_X 0.8           /* continuous flow figure: data value ... */
#define CTS_SIGMA1 0.02     /* ... and sigma1 (paper, recalled) */
#define CTS_MU_MIN (-2.0)   /* mu grid of the density: [-2, 2] ... */
#define CTS_MU_STEP 0.01    /* ... in steps of 0.01 (sd at t -> 1 is 0.02) */
#define CTS_MU_N 401
#define PATH_STEPS 1000     /* sequential updates per path */
#define PATHS 8             /* paths per trajectory figure */
#define K2_BETA1 9.0        /* binarised MNIST: sqrt(beta(1)) = 3 */
#define K2_BINS 100         /* histogram bins of theta_1 on [0, 1] */
#define K2_SAMPLES 4000     /* flow samples per t cell */
#define K3_BETA1 3.0        /* illustrative: paths wander visibly before converging */
#define ENT_K_MIN 2
#define ENT_K_MAX 30
#define ENT_SAMPLES 2000    /* Monte Carlo samples per (K, sqrt beta) */
#define ENT_S_STEPS 60      /* sqrt(beta) = 0.01, then j/20 for j = 1..60 (up to 3) */

/* ---- small helpers ---------------------------------------------------------------- */

/* A seeded MT19937 generator, or NULL when out of memory. */
static gsl_rng *seeded_rng(unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (r) gsl_rng_set(r, seed);
    return r;
}

/* Initialise schedule `name` with beta1 / sigma1 (the table path is unset). */
static int make_schedule(bfn_schedule *s, const char *name, double beta1, double sigma1) {
    bfn_schedule_params p = {.beta1 = beta1, .sigma1 = sigma1, .table_path = NULL};
    return bfn_schedule_init(s, name, &p);
}

/* gamma(t) = beta/(1+beta) and the flow variance gamma(1-gamma) = beta/(1+beta)^2
 * of the continuous Bayesian flow (paper Sec. 4, paper/NOTES.md §4.1). */
static void flow_gamma(const bfn_schedule *s, double t, double *gamma, double *var) {
    double beta = s->beta(s, t);
    *gamma = beta / (1.0 + beta);
    *var = beta / ((1.0 + beta) * (1.0 + beta));
}

/* BFN_OK, or BFN_EIO if the stream has recorded a write error. */
static int check_stream(FILE *out, const char *name) {
    if (fflush(out) != 0 || ferror(out)) return bfn_error(BFN_EIO, "figure %s: write failed", name);
    return BFN_OK;
}

/* ---- schedules -------------------------------------------------------------------- */

/* Representative parameters of the built-in schedules (paper/NOTES.md §3). */
typedef struct {
    const char *schedule, *label;
    double beta1, sigma1;
    const char *why;
} schedule_case;

static const schedule_case SCHEDULE_CASES[] = {
    {"quadratic", "quadratic_b9", 9.0, 0.0, "discrete data, binarised MNIST: sqrt(beta(1)) = 3"},
    {"quadratic", "quadratic_b0.5625", 0.5625, 0.0, "discrete data, text8: sqrt(beta(1)) = 0.75"},
    {"exponential", "exponential_s0.001", 0.0, 0.001, "continuous data, sigma1^2 = 1e-6 (8-bit CIFAR-10)"},
    {"exponential", "exponential_s0.0316", 0.0, 0.0316, "sigma1^2 ~ 1e-3 (4-bit CIFAR-10)"},
    {"linear", "linear_b9", 9.0, 0.0, "not in the paper; beta(1) as MNIST"},
    {"cosine", "cosine_b9", 9.0, 0.0, "not in the paper; beta(1) as MNIST"},
};
#define N_SCHEDULE_CASES ((int)(sizeof SCHEDULE_CASES / sizeof SCHEDULE_CASES[0]))
#define MAX_SCHEDULE_COLS 32

/* t, then beta, alpha = beta' and beta/beta(1) for each schedule case and for
 * every other registered schedule (with beta1 = 9, sigma1 = 0.001), so a newly
 * registered schedule appears without editing this file. "table" is skipped:
 * it needs a knot file. */
static int fig_schedules(FILE *out) {
    bfn_schedule s[MAX_SCHEDULE_COLS];
    char label[MAX_SCHEDULE_COLS][64];
    int n = 0, rc = BFN_OK;
    fprintf(out, "# figure schedules: accuracy schedules beta(t) (paper Sec. 3), alpha(t) = beta'(t), and\n"
                 "# beta(t)/beta(1) so shapes compare; t = i/%d.\n", T_ROWS);
    for (int c = 0; c < N_SCHEDULE_CASES && rc == BFN_OK; c++) {
        const schedule_case *sc = &SCHEDULE_CASES[c];
        rc = make_schedule(&s[n], sc->schedule, sc->beta1, sc->sigma1);
        if (rc != BFN_OK) break;
        snprintf(label[n], sizeof label[n], "%s", sc->label);
        fprintf(out, "# %s: schedule %s, beta(1) = %.9g (%s)\n", label[n], sc->schedule, s[n].beta1, sc->why);
        n++;
    }
    for (const char *const *nm = bfn_schedule_names(); rc == BFN_OK && *nm; nm++) {
        int known = 0;
        for (int c = 0; c < N_SCHEDULE_CASES; c++) known |= strcmp(SCHEDULE_CASES[c].schedule, *nm) == 0;
        if (known) continue;
        if (strcmp(*nm, "table") == 0 || n == MAX_SCHEDULE_COLS ||
            make_schedule(&s[n], *nm, 9.0, 0.001) != BFN_OK) {
            fprintf(out, "# %s: skipped (needs its own parameters, e.g. a knot file)\n", *nm);
            bfn_clear_error();
            continue;
        }
        snprintf(label[n], sizeof label[n], "%s", *nm);
        fprintf(out, "# %s: schedule %s with beta1 = 9, sigma1 = 0.001, beta(1) = %.9g\n", label[n], *nm,
                s[n].beta1);
        n++;
    }
    if (rc == BFN_OK) {
        fprintf(out, "t");
        for (int c = 0; c < n; c++) fprintf(out, "\t%s_beta\t%s_alpha\t%s_norm", label[c], label[c], label[c]);
        fprintf(out, "\n");
        for (int i = 0; i <= T_ROWS; i++) {
            double t = (double)i / T_ROWS;
            fprintf(out, "%.9g", t);
            for (int c = 0; c < n; c++) {
                double b = s[c].beta(&s[c], t), a = s[c].beta_prime(&s[c], t), b1 = s[c].beta(&s[c], 1.0);
                fprintf(out, "\t%.9g\t%.9g\t%.9g", b, a, b / b1);
            }
            fprintf(out, "\n");
        }
    }
    for (int c = 0; c < n; c++) bfn_schedule_free(&s[c]);
    return rc != BFN_OK ? rc : check_stream(out, "schedules");
}

/* ---- input variance: BFN against diffusion ------------------------------------------ */

/* abar(s) of the linear DDPM schedule (Ho et al. 2020: beta_i from 1e-4 to
 * 0.02 over T = 1000 steps) in its continuous-time limit (Song et al. 2021,
 * VP SDE): abar(s) = exp(-(b0 s + (b1 - b0) s^2 / 2)), b0 = 0.1, b1 = 20,
 * s in [0, 1] the diffusion time (s = 0 is the data). */
static double ddpm_linear_abar(double s) { return exp(-(0.1 * s + 0.5 * (20.0 - 0.1) * s * s)); }

/* abar(s) of the cosine schedule (Nichol & Dhariwal 2021): f(s)/f(0) with
 * f(s) = cos^2((s + 0.008)/1.008 * pi/2); abar(1) = 0 up to rounding. */
static double ddpm_cosine_abar(double s) {
    double f = cos((s + 0.008) / 1.008 * M_PI / 2.0), f0 = cos(0.008 / 1.008 * M_PI / 2.0);
    return (f * f) / (f0 * f0);
}

/* Variance of the network input against t (paper/NOTES.md §2 item 3). BFN: mu ~
 * N(gamma x, gamma(1-gamma)) with beta = sigma1^(-2t) - 1, sigma1 = 0.001.
 * Diffusion (VP): z = sqrt(abar) x + sqrt(1-abar) eps. Scaling z by the known
 * constant sqrt(abar) (an invertible map, so the network sees the same
 * information) gives N(abar x, abar(1-abar)): exactly the BFN form with
 * gamma = abar, and the same signal-to-noise ratio abar/(1-abar) = beta. So
 * the equivalent input variance is abar(1-abar); the raw variance 1-abar is
 * written too. Diffusion time runs the other way: s = 1 - t. */
static int fig_input_variance(FILE *out) {
    bfn_schedule s;
    BFN_TRY(make_schedule(&s, "exponential", 0.0, 0.001));
    fprintf(out, "# figure input_variance: variance of the network input against t (paper: sigma1 = 0.001).\n"
                 "# bfn: mu ~ N(gamma x, gamma(1-gamma)), beta = sigma1^(-2t) - 1, gamma = beta/(1+beta).\n"
                 "# VP diffusion at diffusion time s = 1 - t: z = sqrt(abar) x + sqrt(1-abar) eps; sqrt(abar) z ~\n"
                 "# N(abar x, abar(1-abar)) is the BFN form with gamma = abar (same SNR abar/(1-abar) = beta), so\n"
                 "# *_var = abar(1-abar) is the equivalent input variance and *_var_raw = 1-abar the raw one.\n"
                 "# linear: Ho et al. 2020 (1e-4..0.02, T = 1000) as the VP SDE, abar = exp(-(0.1 s + 9.95 s^2));\n"
                 "# cosine: Nichol & Dhariwal 2021, abar = f(s)/f(0), f(s) = cos^2((s+0.008)/1.008 pi/2).\n"
                 "# *_snr: signal-to-noise ratio of the input (bfn: beta).\n");
    fprintf(out, "t\tbfn_gamma\tbfn_var\tbfn_snr\tlinear_abar\tlinear_var\tlinear_var_raw\tlinear_snr\t"
                 "cosine_abar\tcosine_var\tcosine_var_raw\tcosine_snr\n");
    for (int i = 0; i <= T_ROWS; i++) {
        double t = (double)i / T_ROWS, gamma, var;
        flow_gamma(&s, t, &gamma, &var);
        fprintf(out, "%.9g\t%.9g\t%.9g\t%.9g", t, gamma, var, s.beta(&s, t));
        double abar[2] = {ddpm_linear_abar(1.0 - t), ddpm_cosine_abar(1.0 - t)};
        for (int k = 0; k < 2; k++) {
            double a = abar[k], snr = a < 1.0 ? a / (1.0 - a) : INFINITY;
            fprintf(out, "\t%.9g\t%.9g\t%.9g\t%.9g", a, a * (1.0 - a), 1.0 - a, snr);
        }
        fprintf(out, "\n");
    }
    bfn_schedule_free(&s);
    return check_stream(out, "input_variance");
}

/* ---- continuous flow ------------------------------------------------------------------ */

/* Density N(mu; gamma x, gamma(1-gamma)) of the continuous Bayesian flow for
 * x = 0.8, sigma1 = 0.02 over t cells (i + 0.5)/100 and mu = -2 + 0.01 j
 * (paper/NOTES.md §2 item 2). One block per t. */
static int fig_cts_flow(FILE *out) {
    bfn_schedule s;
    BFN_TRY(make_schedule(&s, "exponential", 0.0, CTS_SIGMA1));
    fprintf(out, "# figure cts_flow: density of the input mean mu under the continuous Bayesian flow\n"
                 "# p_F(mu | x; t) = N(mu; gamma x, gamma(1-gamma)), x = %g, sigma1 = %g (beta = sigma1^(-2t) - 1).\n"
                 "# t cells centred at (i+0.5)/%d; mu = %g + %g j, j = 0..%d. One block per t.\n",
            CTS_X, CTS_SIGMA1, GRID_T, CTS_MU_MIN, CTS_MU_STEP, CTS_MU_N - 1);
    fprintf(out, "t\tmu\tdensity\n");
    for (int i = 0; i < GRID_T; i++) {
        double t = (i + 0.5) / GRID_T, gamma, var;
        flow_gamma(&s, t, &gamma, &var);
        double norm = 1.0 / sqrt(2.0 * M_PI * var);
        for (int j = 0; j < CTS_MU_N; j++) {
            double mu = CTS_MU_MIN + CTS_MU_STEP * j, z = mu - gamma * CTS_X;
            fprintf(out, "%.9g\t%.9g\t%.9g\n", t, mu, norm * exp(-0.5 * z * z / var));
        }
        fprintf(out, "\n");
    }
    bfn_schedule_free(&s);
    return check_stream(out, "cts_flow");
}

/* ---- sample paths by sequential Bayesian updates ------------------------------------- */

/* Writes the columns after (path, t) of one path row from theta (theta_ch floats). */
typedef void (*path_row_fn)(FILE *out, const float *theta);

static void cts_row(FILE *out, const float *th) { fprintf(out, "\t%.9g\t%.9g", th[0], th[1]); }
static void k2_row(FILE *out, const float *th) { fprintf(out, "\t%.9g", th[1]); }
/* Barycentric coordinates on the triangle with vertices e0 = (0,0), e1 = (1,0),
 * e2 = (1/2, sqrt(3)/2). */
static void k3_row(FILE *out, const float *th) {
    double bx = th[1] + 0.5 * th[2], by = 0.5 * sqrt(3.0) * th[2];
    fprintf(out, "\t%.9g\t%.9g\t%.9g\t%.9g\t%.9g", th[0], th[1], th[2], bx, by);
}

/* PATHS paths of the data value x from the prior through PATH_STEPS sequential
 * Bayesian updates with alpha_i = beta(i/n) - beta((i-1)/n) and sender
 * samples drawn from x itself (ops->update). Because accuracies add (paper
 * Sec. 3), theta after i steps is a draw from the flow at t = i/n. Rows: path,
 * t, then row(); one block per path. f must have D = 1. */
static int write_paths(FILE *out, const bfn_family *f, float x, unsigned long seed, path_row_fn row) {
    const int P = PATHS, n = PATH_STEPS, ch = f->theta_ch;
    gsl_rng *rng = seeded_rng(seed);
    if (!rng) return bfn_error(BFN_ENOMEM, "figure: out of memory");
    float *hist = bfn_xmalloc((size_t)(n + 1) * P * ch * sizeof *hist);
    float xs[PATHS], alpha[PATHS];
    f->ops->prior(f, P, hist);
    for (int i = 1; i <= n; i++) {
        float *theta = hist + (size_t)i * P * ch;
        memcpy(theta, theta - (size_t)P * ch, (size_t)P * ch * sizeof *theta);
        float a = (float)bfn_schedule_alpha(&f->sched, i, n);
        for (int p = 0; p < P; p++) { xs[p] = x; alpha[p] = a; }
        f->ops->update(f, P, theta, xs, alpha, rng);
    }
    for (int p = 0; p < P; p++) {
        for (int i = 0; i <= n; i++) {
            fprintf(out, "%d\t%.9g", p, (double)i / n);
            row(out, hist + ((size_t)i * P + p) * ch);
            fprintf(out, "\n");
        }
        fprintf(out, "\n");
    }
    free(hist);
    gsl_rng_free(rng);
    return BFN_OK;
}

/* Paths of mu for x = 0.8, sigma1 = 0.02 (continuous family). */
static int fig_cts_flow_paths(FILE *out) {
    bfn_schedule s;
    bfn_family f;
    BFN_TRY(make_schedule(&s, "exponential", 0.0, CTS_SIGMA1));
    BFN_TRY(bfn_continuous_init(&f, 1, s, 256, CTS_SIGMA1));
    fprintf(out, "# figure cts_flow_paths: %d paths of the input distribution (mu, rho) for x = %g, sigma1 = %g,\n"
                 "# by %d sequential Bayesian updates from the prior N(0, 1) (continuous family ops->update,\n"
                 "# alpha_i = beta(i/n) - beta((i-1)/n)); rho = 1 + beta(t). Seed %u. One block per path.\n",
            PATHS, CTS_X, CTS_SIGMA1, PATH_STEPS, SEED_CTS_PATHS);
    fprintf(out, "path\tt\tmu\trho\n");
    int rc = write_paths(out, &f, (float)CTS_X, SEED_CTS_PATHS, cts_row);
    bfn_family_free(&f);
    return rc != BFN_OK ? rc : check_stream(out, "cts_flow_paths");
}

/* ---- discrete flows --------------------------------------------------------------------- */

/* Standard normal CDF Phi(z), with Phi(-inf) = 0 and Phi(inf) = 1. */
static double norm_cdf(double z) { return 0.5 * erfc(-z / M_SQRT2); }

/* P(theta_1 <= u) for K = 2, class 1: theta_1 = sigmoid(d) with d = y_1 - y_0 ~
 * N(2 beta, 4 beta) (the flow's y ~ N(beta (2 e_1 - 1), 2 beta I)). */
static double k2_theta1_cdf(double u, double beta) {
    if (u <= 0.0) return 0.0;
    if (u >= 1.0) return 1.0;
    return norm_cdf((log(u / (1.0 - u)) - 2.0 * beta) / (2.0 * sqrt(beta)));
}

/* Density of theta_1 over t for K = 2, beta1 = 9, x = class 1 (paper/NOTES.md §2
 * item 5): per t cell, a histogram of K2_SAMPLES flow samples (ops->flow_sample)
 * and the exact bin probability / bin width from the CDF above. */
static int fig_discrete_flow_k2(FILE *out) {
    bfn_schedule s;
    bfn_family f;
    BFN_TRY(make_schedule(&s, "quadratic", K2_BETA1, 0.0));
    BFN_TRY(bfn_discrete_init(&f, K2_SAMPLES, 2, s));
    gsl_rng *rng = seeded_rng(SEED_K2_DENSITY);
    if (!rng) {
        bfn_family_free(&f);
        return bfn_error(BFN_ENOMEM, "figure: out of memory");
    }
    float *x = bfn_xmalloc(K2_SAMPLES * sizeof *x), *theta = bfn_xmalloc(2 * K2_SAMPLES * sizeof *theta);
    for (int d = 0; d < K2_SAMPLES; d++) x[d] = 1.0f;
    fprintf(out, "# figure discrete_flow_k2: density of theta_1 = P(class 1) under the discrete Bayesian flow,\n"
                 "# K = 2, x = class 1, beta(t) = %g t^2. density_mc: histogram of %d flow samples per t cell\n"
                 "# (ops->flow_sample, seed %u), %d bins on [0, 1]; density_exact: bin probability / width from\n"
                 "# theta_1 = sigmoid(d), d ~ N(2 beta, 4 beta). One block per t.\n",
            K2_BETA1, K2_SAMPLES, SEED_K2_DENSITY, K2_BINS);
    fprintf(out, "t\ttheta1\tdensity_mc\tdensity_exact\n");
    int count[K2_BINS];
    const double width = 1.0 / K2_BINS;
    for (int i = 0; i < GRID_T; i++) {
        float tf = (float)((i + 0.5) / GRID_T);
        f.ops->flow_sample(&f, 1, x, &tf, rng, theta);
        memset(count, 0, sizeof count);
        for (int d = 0; d < K2_SAMPLES; d++) {
            int b = (int)(theta[2 * d + 1] * K2_BINS);
            count[b < 0 ? 0 : b >= K2_BINS ? K2_BINS - 1 : b]++;
        }
        double beta = f.sched.beta(&f.sched, tf);
        for (int b = 0; b < K2_BINS; b++) {
            double lo = b * width, hi = (b + 1) * width;
            double p = k2_theta1_cdf(b + 1 == K2_BINS ? 1.0 : hi, beta) - k2_theta1_cdf(b == 0 ? 0.0 : lo, beta);
            fprintf(out, "%.9g\t%.9g\t%.9g\t%.9g\n", (double)tf, lo + 0.5 * width,
                    count[b] / (K2_SAMPLES * width), p / width);
        }
        fprintf(out, "\n");
    }
    free(x);
    free(theta);
    gsl_rng_free(rng);
    bfn_family_free(&f);
    return check_stream(out, "discrete_flow_k2");
}

/* Paths of theta_1 for K = 2, beta1 = 9, x = class 1. */
static int fig_discrete_flow_k2_paths(FILE *out) {
    bfn_schedule s;
    bfn_family f;
    BFN_TRY(make_schedule(&s, "quadratic", K2_BETA1, 0.0));
    BFN_TRY(bfn_discrete_init(&f, 1, 2, s));
    fprintf(out, "# figure discrete_flow_k2_paths: %d paths of theta_1 for K = 2, x = class 1, beta(t) = %g t^2,\n"
                 "# by %d sequential Bayesian updates from the uniform prior (discrete family ops->update).\n"
                 "# Seed %u. One block per path.\n",
            PATHS, K2_BETA1, PATH_STEPS, SEED_K2_PATHS);
    fprintf(out, "path\tt\ttheta1\n");
    int rc = write_paths(out, &f, 1.0f, SEED_K2_PATHS, k2_row);
    bfn_family_free(&f);
    return rc != BFN_OK ? rc : check_stream(out, "discrete_flow_k2_paths");
}

/* Paths on the 3-class simplex for x = class 0, beta1 = 3 (paper/NOTES.md §2 item 5). */
static int fig_discrete_flow_k3(FILE *out) {
    bfn_schedule s;
    bfn_family f;
    BFN_TRY(make_schedule(&s, "quadratic", K3_BETA1, 0.0));
    BFN_TRY(bfn_discrete_init(&f, 1, 3, s));
    fprintf(out, "# figure discrete_flow_k3: %d paths of theta on the 3-class simplex, x = class 0, beta(t) = %g t^2\n"
                 "# (illustrative: the paths wander before converging), by %d sequential Bayesian updates from\n"
                 "# the uniform prior (discrete family ops->update). Seed %u. bx, by: barycentric coordinates on\n"
                 "# the triangle e0 = (0,0), e1 = (1,0), e2 = (1/2, sqrt(3)/2). One block per path.\n",
            PATHS, K3_BETA1, PATH_STEPS, SEED_K3_PATHS);
    fprintf(out, "path\tt\ttheta0\ttheta1\ttheta2\tbx\tby\n");
    int rc = write_paths(out, &f, 0.0f, SEED_K3_PATHS, k3_row);
    bfn_family_free(&f);
    return rc != BFN_OK ? rc : check_stream(out, "discrete_flow_k3");
}

/* ---- expected entropy of the discrete input distribution -------------------------------- */

/* sqrt(beta) grid: 0.01, then j/20 for j = 1..ENT_S_STEPS (0.05 .. 3.00), so
 * the chosen sqrt(beta(1)) values 3 (MNIST) and 0.75 (text8) are grid points. */
static double entropy_sqrt_beta(int j) { return j == 0 ? 0.01 : j / 20.0; }

/* E_{p_F(theta | x; beta)} H[theta] for K classes (paper/NOTES.md §2 item 6) by
 * Monte Carlo: n flow samples theta = softmax(y), y ~ N(beta (K e_x - 1),
 * beta K I) (ops->flow_sample with the linear schedule beta1 = 2 beta at
 * t = 0.5, which gives exactly beta), H = -sum_k theta_k ln theta_k. The class
 * of x does not matter by symmetry (class 0). Writes mean and standard error. */
static int entropy_point(int K, double beta, int n, gsl_rng *rng, float *x, float *theta, double *mean,
                         double *se) {
    bfn_schedule s;
    bfn_family f;
    BFN_TRY(make_schedule(&s, "linear", 2.0 * beta, 0.0));
    BFN_TRY(bfn_discrete_init(&f, n, K, s));
    float t = 0.5f;
    for (int d = 0; d < n; d++) x[d] = 0.0f;
    f.ops->flow_sample(&f, 1, x, &t, rng, theta);
    double sum = 0.0, sum2 = 0.0;
    for (int d = 0; d < n; d++) {
        double h = 0.0;
        for (int k = 0; k < K; k++) {
            double p = theta[(size_t)d * K + k];
            if (p > 0.0) h -= p * log(p);
        }
        sum += h;
        sum2 += h * h;
    }
    *mean = sum / n;
    double var = (sum2 - n * *mean * *mean) / (n - 1);
    *se = var > 0.0 ? sqrt(var / n) : 0.0;
    bfn_family_free(&f);
    return BFN_OK;
}

/* The expected-entropy surface: K = 2..30 against sqrt(beta) in [0.01, 3],
 * one block per K, with the largest Monte Carlo standard error stated. */
static int fig_entropy(FILE *out) {
    const int nk = ENT_K_MAX - ENT_K_MIN + 1, ns = ENT_S_STEPS + 1;
    double *h = bfn_xmalloc((size_t)nk * ns * sizeof *h), *se = bfn_xmalloc((size_t)nk * ns * sizeof *se);
    float *x = bfn_xmalloc(ENT_SAMPLES * sizeof *x);
    float *theta = bfn_xmalloc((size_t)ENT_SAMPLES * ENT_K_MAX * sizeof *theta);
    gsl_rng *rng = seeded_rng(SEED_ENTROPY);
    int rc = rng ? BFN_OK : bfn_error(BFN_ENOMEM, "figure: out of memory");
    double se_max = 0.0;
    for (int k = 0; k < nk && rc == BFN_OK; k++)
        for (int j = 0; j < ns && rc == BFN_OK; j++) {
            double sb = entropy_sqrt_beta(j);
            size_t at = (size_t)k * ns + j;
            rc = entropy_point(ENT_K_MIN + k, sb * sb, ENT_SAMPLES, rng, x, theta, &h[at], &se[at]);
            if (rc == BFN_OK && se[at] > se_max) se_max = se[at];
        }
    if (rc == BFN_OK) {
        fprintf(out, "# figure entropy: expected entropy E_{p_F(theta|x;beta)} H[theta] (nats) of the discrete input\n"
                     "# distribution for K = %d..%d against sqrt(beta) = 0.01, 0.05, 0.10, ..., 3 (paper's\n"
                     "# accuracy-schedule figure). Monte Carlo: %d flow samples per point (discrete family\n"
                     "# ops->flow_sample, seed %u); entropy_se is the standard error of each mean, at most %.2g.\n"
                     "# entropy_norm = entropy / ln K. Marks: sqrt(beta(1)) = 3 for K = 2 (MNIST), 0.75 for\n"
                     "# K = 27 (text8). One block per K.\n",
                ENT_K_MIN, ENT_K_MAX, ENT_SAMPLES, SEED_ENTROPY, se_max);
        fprintf(out, "K\tsqrt_beta\tbeta\tentropy\tentropy_se\tentropy_norm\tln_K\n");
        for (int k = 0; k < nk; k++) {
            int K = ENT_K_MIN + k;
            for (int j = 0; j < ns; j++) {
                double sb = entropy_sqrt_beta(j);
                size_t at = (size_t)k * ns + j;
                fprintf(out, "%d\t%.9g\t%.9g\t%.9g\t%.9g\t%.9g\t%.9g\n", K, sb, sb * sb, h[at], se[at],
                        h[at] / log(K), log(K));
            }
            fprintf(out, "\n");
        }
    }
    if (rng) gsl_rng_free(rng);
    free(h);
    free(se);
    free(x);
    free(theta);
    return rc != BFN_OK ? rc : check_stream(out, "entropy");
}

/* ---- registry ----------------------------------------------------------------------------- */

/* X(name, writer): the only list of figures. */
#define FIGURE_REGISTRY(X)                                   \
    X("schedules", fig_schedules)                            \
    X("input_variance", fig_input_variance)                  \
    X("cts_flow", fig_cts_flow)                              \
    X("cts_flow_paths", fig_cts_flow_paths)                  \
    X("discrete_flow_k2", fig_discrete_flow_k2)              \
    X("discrete_flow_k2_paths", fig_discrete_flow_k2_paths)  \
    X("discrete_flow_k3", fig_discrete_flow_k3)              \
    X("entropy", fig_entropy)

typedef struct {
    const char *name;
    int (*write)(FILE *out);
} figure_entry;

#define AS_FIGURE(nm, fn) {nm, fn},
#define AS_FIGURE_NAME(nm, fn) nm,
static const figure_entry FIGURES[] = {FIGURE_REGISTRY(AS_FIGURE)};
static const char *const FIGURE_NAMES[] = {FIGURE_REGISTRY(AS_FIGURE_NAME) NULL};
#define N_FIGURES ((int)(sizeof FIGURES / sizeof FIGURES[0]))

const char *const *bfn_figure_names(void) { return FIGURE_NAMES; }

/* Look the figure up and write it; "list" writes the names, one a line; an
 * unknown name lists the known ones in the error message. */
int bfn_figure_data(const char *name, FILE *out) {
    if (name && strcmp(name, "list") == 0) {
        for (int i = 0; i < N_FIGURES; i++) fprintf(out, "%s\n", FIGURES[i].name);
        return check_stream(out, "list");
    }
    for (int i = 0; name && i < N_FIGURES; i++)
        if (strcmp(FIGURES[i].name, name) == 0) return FIGURES[i].write(out);
    char list[512] = "";
    for (int i = 0; i < N_FIGURES; i++) {
        strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, FIGURES[i].name, sizeof list - strlen(list) - 1);
    }
    return bfn_error(BFN_EINVAL, "unknown figure \"%s\" (figures: %s)", name && *name ? name : "", list);
}
