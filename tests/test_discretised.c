/* test_discretised.c: the discretised-data family (src/bfn/discretised.c) and
 * the discretised-Gaussian helpers it shares with continuous data (gauss.c).
 *
 * References are independent of the implementation's algebra:
 *   - the CDF against libm erfc, bin masses against Simpson integrals of the
 *     Gaussian density (no CDF at all);
 *   - the noise-to-data conversion against [CODE]'s formula written with
 *     gamma = 1 - sigma1^(2t) (the implementation uses beta from the schedule);
 *   - L^inf against sum_k p_k c_k (the implementation sums tail probabilities);
 *   - L^n against a Simpson quadrature over y of the KL written with literal
 *     Gaussian log-densities and torch's clamped mixture weights (the
 *     implementation walks a recurrence with a cut-off and never forms a
 *     log-density), and L^n -> L^inf as n grows;
 *   - every gradient against a central finite difference.
 * Monte Carlo tolerances are 5 standard errors estimated from the samples
 * (false-failure probability ~6e-7 per check; seeds are fixed anyway). */
#include "gradcheck.h"

#include <float.h>
#include <omp.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "bfn/family.h"
#include "bfn/gauss.h"
#include "util/err.h"

/* ---- helpers ------------------------------------------------------------------------- */

static bfn_family make_family(int D, int K, double sigma1) {
    bfn_schedule s;
    bfn_schedule_params p = {.sigma1 = sigma1};
    assert_int_equal(bfn_schedule_init(&s, "exponential", &p), BFN_OK);
    bfn_family f;
    int rc = bfn_discretised_init(&f, D, K, s);
    if (rc != BFN_OK) print_error("%s\n", bfn_last_error());
    assert_int_equal(rc, BFN_OK);
    return f;
}

/* [CODE]'s conversion, written with gamma = 1 - sigma1^(2 t_c) exactly as
 * noise_pred_params_to_data_pred_params does. */
static void official_coefs(double sigma1, double t, double *a, double *b) {
    double pv = pow(sigma1 * sigma1, t < 1e-6 ? 1e-6 : t), gamma = 1.0 - pv;
    *a = 1.0 / gamma;
    *b = sqrt(pv / gamma);
}

/* Network outputs that give (mu_x, s) for input mean mu at time t. */
static void set_output(const bfn_family *f, double t, float mu_in, double mu_x, double s, float *o) {
    bfn_noise_pred np = bfn_noise_pred_at(&f->sched, t);
    o[0] = (float)((np.a * mu_in - mu_x) / np.b);
    o[1] = (float)log(s / np.b);
}

/* (mu_x, s) the family will see from float outputs (same arithmetic, with
 * the clamps of paper/NOTES.md §4.4). */
static void actual_output(const bfn_family *f, double t, float mu_in, const float *o, double *mu_x, double *s) {
    bfn_noise_pred np = bfn_noise_pred_at(&f->sched, t);
    double l = o[1] < -10.0f ? -10.0 : o[1] > 10.0f ? 10.0 : o[1];
    *mu_x = np.a * mu_in - np.b * o[0];
    *s = np.b * exp(l);
    if (*s < 1e-3) *s = 1e-3;
    if (*s > 10.0) *s = 10.0;
}

/* Bin masses straight from erfc, each as a difference of the two tails on the
 * side of the mean (reference for everything that uses p_k). */
static void ref_probs(double mu, double s, int K, double *p) {
    for (int k = 0; k < K; k++) {
        double zl = k == 0 ? -INFINITY : (-1.0 + 2.0 * k / K - mu) / s;
        double zu = k == K - 1 ? INFINITY : (-1.0 + 2.0 * (k + 1) / K - mu) / s;
        if (zl >= 0.0) p[k] = 0.5 * (erfc(zl / sqrt(2.0)) - erfc(zu / sqrt(2.0)));
        else p[k] = 0.5 * (erfc(-zu / sqrt(2.0)) - erfc(-zl / sqrt(2.0)));
    }
}

static double log_normal(double y, double mu, double sd) {
    double z = (y - mu) / sd;
    return -0.5 * z * z - log(sd) - 0.5 * log(2.0 * M_PI);
}

/* n * KL(N(x, 1/a) || sum_k w_k N(c_k, 1/a)) with torch's weights
 * w = clamp(p, eps, 1-eps)/sum (eps = FLT_EPSILON), by composite Simpson
 * over y in x +- 12 sd with 8000 intervals. The integrand is smooth on the
 * scale min(sd, sd^2/h) resolved by the step 24 sd/8000 in every case used
 * below, so the quadrature error is far below the Monte Carlo tolerances. */
static double ref_nkl_w(double mu, double s, int K, double x, double a, double n, int floor_);
static double ref_nkl(double mu, double s, int K, double x, double a, double n) {
    return ref_nkl_w(mu, s, K, x, a, n, 1);
}
/* floor_ = 0: the paper's exact weights w = p (bfn.receiver_floor = exact). */
static double ref_nkl_w(double mu, double s, int K, double x, double a, double n, int floor_) {
    double *p = bfn_xmalloc((size_t)K * sizeof *p), *v = bfn_xmalloc((size_t)K * sizeof *v), sq = 0.0;
    ref_probs(mu, s, K, p);
    for (int k = 0; k < K; k++) {
        if (floor_) p[k] = p[k] < FLT_EPSILON ? FLT_EPSILON : p[k] > 1.0 - FLT_EPSILON ? 1.0 - FLT_EPSILON : p[k];
        sq += p[k];
    }
    for (int k = 0; k < K; k++) p[k] = log(p[k] / sq); /* now ln w_k */
    double sd = 1.0 / sqrt(a), lo = x - 12.0 * sd, step = 24.0 * sd / 8000, sum = 0.0;
    for (int i = 0; i <= 8000; i++) {
        double y = lo + i * step, m = -INFINITY, acc = 0.0;
        for (int k = 0; k < K; k++) {
            v[k] = p[k] + log_normal(y, -1.0 + (2.0 * k + 1.0) / K, sd);
            if (v[k] > m) m = v[k];
        }
        for (int k = 0; k < K; k++) acc += exp(v[k] - m);
        double ls = log_normal(y, x, sd);
        double fy = exp(ls) * (ls - (m + log(acc)));
        sum += (i == 0 || i == 8000 ? 1.0 : i % 2 ? 4.0 : 2.0) * fy;
    }
    free(p);
    free(v);
    return n * sum * step / 3.0;
}

/* ---- standard normal and discretised Gaussian ------------------------------------ */

/* The Mills-ratio CDF against erfc on a dense grid of z in [-12, 12].
 * Tolerance on the tail probability: relative 4 eps (1 + z^2), eps = 2^-52.
 * The fit is 1.3e-17 and the polynomial adds a few ulp, but exp(-z^2/2) carries
 * the rounding of z^2 (absolute ~ z^2 eps/2 in the exponent, the same relative
 * error in the tail); an input z rounded to 1 ulp moves the exact Q by as much
 * (|d ln Q/dz| ~ z), so this is the accuracy any caller can use. A wrong
 * coefficient or interval gives errors of 1e-10 or more. Also Phi + Q = 1. */
static void test_norm_cdf_matches_erfc(void **state) {
    double worst = 0.0, worst_z = 0.0;
    for (int i = -240000; i <= 240000; i++) {
        double z = i * 5e-5, lo, up;
        bfn_norm_cdf2(z, &lo, &up);
        double tail = z < 0 ? lo : up, ref = 0.5 * erfc(fabs(z) / sqrt(2.0));
        double ratio = fabs(tail - ref) / ref / (DBL_EPSILON * (1.0 + z * z));
        if (ratio > worst) { worst = ratio; worst_z = z; }
        assert_close(lo + up, 1.0, 2e-16);
    }
    if (worst > 4.0) print_error("CDF error %g eps (1 + z^2) at z = %g\n", worst, worst_z);
    assert_true(worst <= 4.0);
}

/* Bin masses vs Simpson integrals of phi over each bin in z-space, step
 * hz = min(0.002, 0.01/max|z|) and >= 16 intervals per bin. Composite Simpson
 * errs locally by hz^4 |He_4(z)|/90 relative to phi (He_4 = z^4 - 6z^2 + 3),
 * so <= 1e-10 relative everywhere (also deep in the tails), and by <= width *
 * hz^4 * 1.2/180 < width * 1.1e-13 absolute. The open edge bins are integrated
 * over [-40, z_1] and [z_{K-1}, 40] (the mass beyond is < 1e-300). Checks:
 * absolute 1e-11; relative 1e-7 for p > 1e-300 (this exercises the tail form;
 * for the range-cut bfn_dgauss_probs a bin may also be off by <= Q(10) =
 * 7.6e-24 absolute, as documented); sum 1 to 1e-13. */
static double simpson_phi(double za, double zb) {
    if (!(zb > za)) return 0.0;
    double zmax = fmax(fabs(za), fabs(zb)), hmax = fmin(0.002, 0.01 / zmax);
    int n = (int)ceil((zb - za) / hmax);
    if (n < 16) n = 16;
    if (n % 2) n++;
    double hz = (zb - za) / n, sum = 0.0;
    for (int i = 0; i <= n; i++) {
        double w = (i == 0 || i == n) ? 1.0 : (i % 2 ? 4.0 : 2.0);
        sum += w * bfn_norm_pdf(za + i * hz);
    }
    return sum * hz / 3.0;
}

static void check_probs_vs_simpson(double mu, double s, int K) {
    double *p = bfn_xmalloc((size_t)K * sizeof *p), total = 0.0;
    bfn_dgauss_probs(mu, s, K, p);
    for (int k = 0; k < K; k++) {
        double za = k == 0 ? -40.0 : (-1.0 + 2.0 * k / K - mu) / s;
        double zb = k == K - 1 ? 40.0 : (-1.0 + 2.0 * (k + 1) / K - mu) / s;
        if (za < -40.0) za = -40.0;
        if (zb > 40.0) zb = 40.0;
        double ref = simpson_phi(za, zb);
        if (fabs(p[k] - ref) > 1e-11) print_error("mu %g s %g K %d bin %d: %.17g vs %.17g\n", mu, s, K, k, p[k], ref);
        assert_true(fabs(p[k] - ref) <= 1e-11);
        if (ref > 1e-300) assert_true(fabs(p[k] - ref) <= 1e-7 * ref + 7.7e-24);
        /* the uncut single-bin helper agrees too */
        double pb = bfn_dgauss_bin_prob(mu, s, K, k);
        if (!(fabs(pb - ref) <= 1e-11 && (ref < 1e-300 || fabs(pb - ref) <= 1e-7 * ref)))
            print_error("mu %g s %g K %d bin %d: uncut %.17g vs %.17g\n", mu, s, K, k, pb, ref);
        assert_true(fabs(pb - ref) <= 1e-11 && (ref < 1e-300 || fabs(pb - ref) <= 1e-7 * ref));
        total += p[k];
    }
    assert_close(total, 1.0, 1e-13);
    free(p);
}

static void test_bin_probs_simpson(void **state) {
    const double cases[][2] = {{0.0, 0.3}, {0.013, 0.004}, {-0.97, 0.05}, {1.4, 0.2},
                               {-2.5, 0.8}, {0.5, 10.0}, {0.31, 1e-3}, {0.99, 0.02}};
    const int Ks[] = {16, 256};
    for (int ki = 0; ki < 2; ki++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
            check_probs_vs_simpson(cases[c][0], cases[c][1], Ks[ki]);
}

/* The boundary table (phi by a restarted recurrence, tails by the Mills
 * ratio) against bfn_norm_pdf / bfn_norm_cdf2 at every in-range boundary, for
 * K up to 4096 and s from 1e-3 to 10. Tolerance relative eps (48 + 2 z^2):
 * <= 16 chained products of ~1 ulp between restarts plus the z^2 ulp both
 * sides' exp(-z^2/2) carry (measured worst ~104 ulp at |z| ~ 10). */
static void test_boundary_table(void **state) {
    static double lo[4097], up[4097], pdf[4097];
    const double mus[] = {0.0, 0.013, -0.97, 1.4, -2.5, 0.5, 0.31, 0.99};
    const double ss[] = {0.3, 0.004, 0.05, 0.2, 0.8, 10.0, 1e-3, 0.02, 3.0};
    for (int K = 16; K <= 4096; K *= 16)
        for (int a = 0; a < 8; a++)
            for (int b = 0; b < 9; b++) {
                int jlo, jhi;
                bfn_dgauss_range(mus[a], ss[b], K, &jlo, &jhi);
                bfn_dgauss_table(mus[a], ss[b], K, jlo, jhi, lo, up, pdf);
                for (int j = jlo; j <= jhi; j++) {
                    double z = (bfn_bin_boundary(j, K) - mus[a]) / ss[b], l, u, tol = DBL_EPSILON * (48 + 2 * z * z);
                    bfn_norm_cdf2(z, &l, &u);
                    assert_true(fabs(pdf[j] - bfn_norm_pdf(z)) <= tol * bfn_norm_pdf(z));
                    if (z < 0) assert_true(fabs(lo[j] - l) <= tol * l && up[j] == 1.0 - lo[j]);
                    else assert_true(fabs(up[j] - u) <= tol * u && lo[j] == 1.0 - up[j]);
                }
            }
}

/* bfn_dgauss_mean (k_hat and its derivatives: Euler-Maclaurin sums for
 * dense boundaries, delta = h/s <= 0.479, term by term otherwise) against
 * sum_k p_k c_k written by parts, c_0 + h sum_{j=1}^{K-1} Q(z_j), and
 * (h/s) sum_j phi(z_j) (1, z_j), over ALL K-1 boundaries (no range cut) in
 * long double with erfcl/expl. Grid: K from 2 to 4096, s from 1e-3 to 10
 * (both paths, with and without the range clamped at an edge), mu from -2.5
 * to 2.5. Tolerances: k_hat 4e-15 absolute (the EM remainder is < 1e-17 and
 * the result is a few O(1) terms, each rounded; the old term-by-term sum
 * erred by up to 1.2e-14 at K = 4096); derivatives 64 eps times the sum of
 * the absolute values of their terms, (h/s) sum phi (1, |z|), plus 1e-16:
 * that is the rounding any summation of those terms carries (d k_hat/d s
 * cancels between z < 0 and z > 0), plus 4 eps times the sum of the absolute
 * values of their mu-derivatives, (h/s^2) sum phi (|z|, 1 + z^2): a boundary
 * -1 + 2j/K is itself rounded in double when K is not a power of two, and
 * mu - b_j then moves by up to 2 ulp, which for narrow outputs (s = 1e-3)
 * changes the derivatives by that much. A wrong Bernoulli coefficient or
 * Hermite degree errs by >= delta^4/720 ~ 1e-8 at delta = 0.1, a wrong
 * Poisson ripple term by >= 1e-3. */
static void test_dgauss_mean(void **state) {
    const int Ks[] = {2, 16, 256, 1000, 4096};
    const long double sqrt_2pi = 2.5066282746310005024157652848110453L;
    double worst[3] = {0.0, 0.0, 0.0};
    for (int ki = 0; ki < 5; ki++) {
        int K = Ks[ki];
        long double h = 2.0L / K;
        for (int is = 0; is <= 24; is++) {
            double s = 1e-3 * pow(1e4, is / 24.0);
            for (int im = 0; im <= 20; im++) {
                double mu = -2.5 + 0.25 * im + 1e-3 * is;
                long double sq = 0.0L, sp = 0.0L, spz = 0.0L, apz = 0.0L, apzz = 0.0L;
                for (int j = 1; j < K; j++) {
                    long double z = ((-1.0L + j * h) - mu) / s;
                    long double ph = expl(-0.5L * z * z) / sqrt_2pi;
                    sq += 0.5L * erfcl(z / sqrtl(2.0L));
                    sp += ph;
                    spz += ph * z;
                    apz += ph * fabsl(z);
                    apzz += ph * (1.0L + z * z);
                }
                long double kh = -1.0L + h / 2 + h * sq, dm = h / s * sp, ds = h / s * spz;
                double gdm, gds, gk = bfn_dgauss_mean(mu, s, K, &gdm, &gds);
                double tol_m = 64 * DBL_EPSILON * (double)dm + 4 * DBL_EPSILON * (double)(h / s / s * apz) + 1e-16;
                double tol_s = 64 * DBL_EPSILON * (double)(h / s * apz) + 4 * DBL_EPSILON * (double)(h / s / s * apzz) + 1e-16;
                double e[3] = {(double)fabsl(gk - kh), (double)fabsl(gdm - dm) / tol_m, (double)fabsl(gds - ds) / tol_s};
                if (!(e[0] <= 4e-15 && e[1] <= 1.0 && e[2] <= 1.0))
                    print_error("K %d mu %.17g s %.17g: k_hat %.17g vs %.17Lg, dmu %.17g vs %.17Lg, ds %.17g vs %.17Lg\n",
                                K, mu, s, gk, kh, gdm, dm, gds, ds);
                assert_true(e[0] <= 4e-15 && e[1] <= 1.0 && e[2] <= 1.0);
                for (int c = 0; c < 3; c++) worst[c] = fmax(worst[c], e[c]);
            }
        }
    }
    print_message("bfn_dgauss_mean worst: k_hat %.3g abs, dmu %.3g tol, ds %.3g tol\n", worst[0], worst[1], worst[2]);
}

/* bfn_exp_vec against libm exp (glibc: < 1 ulp) on a dense grid of
 * [-708, 709] and at special points. Tolerance 2.5 eps relative: the
 * polynomial's 1.7e-17 plus ~1 ulp of rounding on each side. A wrong
 * coefficient errs by >= 1e-13 somewhere in [-ln2/2, ln2/2], a wrong
 * exponent by a factor 2. Below -708 the result is exp(-708) (the clamp). */
static void test_exp_vec(void **state) {
    double lo = bfn_exp_vec_lo(), worst = 0.0, worst_x = 0.0;
    for (int i = 0; i <= 400000; i++) {
        double x = -708.0 + 1417.0 * i / 400000.0 + 1e-9 * (i % 7);
        if (x > 709.0) x = 709.0;
        double e = exp(x), v = bfn_exp_vec(x, lo), err = fabs(v - e) / e;
        if (err > worst) { worst = err; worst_x = x; }
    }
    const double special[] = {0.0, -0.0, -1e-300, -1e-17, -0.34657359027997264, 0.34657359027997264, -708.0, 709.0};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) {
        double e = exp(special[i]), err = fabs(bfn_exp_vec(special[i], lo) - e) / e;
        if (err > worst) { worst = err; worst_x = special[i]; }
    }
    print_message("bfn_exp_vec worst relative error %.3g eps at x = %.17g\n", worst / DBL_EPSILON, worst_x);
    assert_true(worst <= 2.5 * DBL_EPSILON);
    assert_true(bfn_exp_vec(0.0, lo) == 1.0);
    assert_true(bfn_exp_vec(-1000.0, lo) == bfn_exp_vec(-708.0, lo));
}

/* bfn_dgauss_masses on the L^n ranges (|z| <= 5.5, one boundary of padding)
 * and on wider ones (|z| <= 10: longer series, and the fallback to CDF
 * differences when the series would need more than 24 terms) against long
 * double erfcl: interior bins Phi(z_k+1) - Phi(z_k) (taken on
 * the non-cancelling side, so the reference is good to ~1e-18 relative),
 * the range's two end bins with the outside boundary at Phi = 0 / 1 (the
 * documented convention; exact for open edge bins), phi at the boundaries.
 * Both paths: the series for delta = h/s <= 1, CDF differences beyond.
 * Tolerances, relative: masses eps (64 + 4 z^2) at the bin centre z (at most
 * 2 ulp per positive Horner term for <= 24 terms, 1 ulp from bfn_exp_vec,
 * and exp(-z^2/2) carries the z^2 eps of a rounded z, as in
 * test_norm_cdf_matches_erfc); end bins 4 eps (1 + z^2) + 2e-16 (the Mills
 * ratio CDF; that test's bound); phi eps (16 + 4 z^2) (z from
 * (b - mu)/s in the reference and (b - mu) (1/s) in the code). When K is not
 * a power of two the boundaries and centres are themselves rounded in double
 * (by <= eps/2 in [-1, 1]), which moves z by eps/s and every quantity by a
 * relative eps (1 + |z|)/s (d ln/dz of phi and of a tail is ~|z|): that is
 * added. The masses must also sum to 1 within 1e-13. */
static void test_dgauss_masses(void **state) {
    static double p[4096], pdf[4097];
    const int Ks[] = {2, 16, 256, 1000, 4096};
    const long double sqrt_2pi = 2.5066282746310005024157652848110453L, r2 = sqrtl(2.0L);
    double worst = 0.0;
    for (int ki = 0; ki < 5; ki++) {
        int K = Ks[ki], rounded_grid = (K & (K - 1)) != 0;
        long double h = 2.0L / K;
        for (int is = 0; is <= 12; is++) {
            double s = 1e-3 * pow(1e4, is / 12.0);
            for (int im = 0; im <= 21; im++) {
                double mu = -1.6 + 0.32 * (im % 11) + 1e-3 * is, total = 0.0;
                int jlo, jhi;
                bfn_dgauss_range_z(mu, s, K, im < 11 ? 5.5 : 10.0, 1, &jlo, &jhi);
                bfn_dgauss_masses(mu, s, K, jlo, jhi, p, pdf);
                for (int k = jlo - 1; k <= jhi; k++) {
                    long double zl = k >= jlo ? ((-1.0L + k * h) - mu) / s : -INFINITY;
                    long double zu = k + 1 <= jhi ? ((-1.0L + (k + 1) * h) - mu) / s : INFINITY;
                    long double ref = zl >= 0 ? 0.5L * (erfcl(zl / r2) - erfcl(zu / r2))
                                              : 0.5L * (erfcl(-zu / r2) - erfcl(-zl / r2));
                    double z = (double)(k < jlo ? zu : k + 1 > jhi ? zl : 0.5L * (zl + zu)), tol;
                    if (!isfinite(z)) z = 0.0; /* empty range: the one bin has mass 1 */
                    if (k < jlo || k + 1 > jhi) tol = 4 * DBL_EPSILON * (1 + z * z) + 2e-16;
                    else tol = DBL_EPSILON * (64 + 4 * z * z);
                    tol += rounded_grid * DBL_EPSILON * (1 + fabs(z)) / s;
                    double err = ref > 1e-300L ? (double)(fabsl(p[k] - ref) / ref) : p[k] <= 1e-300 ? 0.0 : INFINITY;
                    if (!(err <= tol))
                        print_error("K %d mu %.17g s %.17g bin %d (z %g): %.17g vs %.17Lg\n", K, mu, s, k, z, p[k], ref);
                    assert_true(err <= tol);
                    worst = fmax(worst, err / tol);
                    total += p[k];
                }
                assert_close(total, 1.0, 1e-13);
                for (int j = jlo; j <= jhi; j++) {
                    long double z = ((-1.0L + j * h) - mu) / s, ref = expl(-0.5L * z * z) / sqrt_2pi;
                    double tol = DBL_EPSILON * (16 + 4 * (double)(z * z) + rounded_grid * (1 + fabs((double)z)) / s);
                    assert_true(fabsl(pdf[j] - ref) <= tol * ref + 1e-300);
                }
            }
        }
    }
    print_message("bfn_dgauss_masses worst error %.3g of its tolerance\n", worst);
}

/* bfn_gauss_lattice_sum (Euler-Maclaurin, O(1)) against the long double sum
 * of exp((uref^2 - u^2)/2) over the lattice, for spacings 1e-5 .. 0.479,
 * lattices that contain the point nearest 0 (offsets across a cell, spans
 * from 1 to far beyond +-12, the latter for spacings >= 0.01) and lattices that start W = 0 .. 3.7 beyond 0
 * (y outside the bins). Tolerance 2e-15 relative: the EM remainder bound
 * (1e-15 at W = 3.7, far less elsewhere, gauss.c) plus the rounding of the
 * CDF difference, which over the shortest span allowed (1) is >= 0.38 of
 * its O(1) terms (measured worst 1e-15). Dropping an EM term or getting a
 * sign wrong errs by >= 1e-8 relative here. The same lattices of one spacing
 * also go through bfn_gauss_lattice_sum_n in one call (blocks mixing dropped
 * and kept ends and all three forms of the CDF difference; its branch-free
 * selects and the per-block skip of dropped ends), same tolerance. */
#define LATTICE_CASES 128
static void test_lattice_sum(void **state) {
    double worst = 0.0, worst_n = 0.0;
    for (int id = -1; id <= 20; id++) {
        /* id = -1: spacing 1e-5 (2 EM terms), span 1 only (1e5 points) */
        double delta = id < 0 ? 1e-5 : fmin(1e-3 * pow(479.0, id / 20.0), BFN_EM_DELTA_MAX);
        double cua[LATTICE_CASES], cub[LATTICE_CASES], cur[LATTICE_CASES], cgot[LATTICE_CASES];
        long double cref[LATTICE_CASES];
        int nc = 0;
        for (int io = 0; io < 7; io += id < 0 ? 3 : 1) {
            double off = (io / 6.0 - 0.5) * delta; /* the lattice point nearest 0 */
            const double spans[] = {1.0, 2.5, 7.0, 30.0};
            for (int isp = 0; isp < (id < 0 ? 1 : delta < 0.01 ? 3 : 4); isp++) {
                long n = (long)ceil(spans[isp] / delta) + 1;
                for (int place = 0; place < 4; place++) {
                    double ua, uref;
                    if (place < 3) { /* nearest point first, in the middle, or last */
                        long before = place == 0 ? 0 : place == 1 ? n / 2 : n - 1;
                        ua = off - before * delta;
                        uref = off;
                    } else { /* the whole lattice beyond 0, starting at W */
                        ua = uref = 3.7 * io / 6.0;
                    }
                    /* the far end rounded from its exact value (ua + (n-1) delta in double
                     * would be off by ulp(30), which moves Phi(ub) by 1e-15 when ub ~ 0) */
                    double ub = (double)(ua + (n - 1) * (long double)delta);
                    long double ref = 0.0L;
                    for (long m = 0; m < n; m++) {
                        long double u = ua + m * (long double)delta;
                        ref += expl(((long double)uref * uref - u * u) / 2);
                    }
                    double got = bfn_gauss_lattice_sum(ua, ub, delta, uref);
                    double e = (double)(fabsl(got - ref) / ref);
                    if (!(e <= 2e-15))
                        print_error("delta %g ua %.17g ub %.17g uref %.17g: %.17g vs %.17Lg\n", delta, ua, ub, uref, got, ref);
                    assert_true(e <= 2e-15);
                    worst = fmax(worst, e);
                    assert_true(nc < LATTICE_CASES);
                    cua[nc] = ua, cub[nc] = ub, cur[nc] = uref, cref[nc] = ref;
                    nc++;
                }
            }
        }
        bfn_gauss_lattice_sum_n(nc, cua, cub, cur, delta, bfn_lattice_em_terms(delta), cgot);
        for (int c = 0; c < nc; c++) {
            double e = (double)(fabsl(cgot[c] - cref[c]) / cref[c]);
            if (!(e <= 2e-15))
                print_error("lattice_sum_n delta %g ua %.17g ub %.17g uref %.17g: %.17g vs %.17Lg\n", delta, cua[c],
                            cub[c], cur[c], cgot[c], cref[c]);
            assert_true(e <= 2e-15);
            worst_n = fmax(worst_n, e);
        }
    }
    print_message("bfn_gauss_lattice_sum worst relative error %.3g, bfn_gauss_lattice_sum_n %.3g\n", worst, worst_n);
}

/* The official log_prob: -ln p when p >= 1e-5, else ln N(c; mu, s) + ln(2/K). */
static void test_log_prob_fallback(void **state) {
    int K = 16;
    /* p of bin 3 under N(0.9, 0.05^2) is ~1e-60: fallback (density x width) */
    double mu = 0.9, s = 0.05, c = bfn_bin_centre(3, K);
    assert_true(bfn_dgauss_bin_prob(mu, s, K, 3) < 1e-5);
    assert_close(bfn_dgauss_log_prob(mu, s, K, 3), log_normal(c, mu, s) + log(2.0 / K), 1e-9);
    /* a bin with mass well above 1e-5 uses ln p */
    double p[16];
    ref_probs(mu, s, K, p);
    int k = bfn_bin_index(0.8, K);
    assert_true(p[k] > 1e-3);
    assert_close(bfn_dgauss_log_prob(mu, s, K, k), log(p[k]), 1e-12);
    /* the open top bin collects the whole upper tail: p = Q((b_{K-1} - mu)/s) */
    double z_top = ((1.0 - 2.0 / K) - 1.5) / 0.1;
    assert_close(bfn_dgauss_log_prob(1.5, 0.1, K, K - 1), log(0.5 * erfc(z_top / sqrt(2.0))), 1e-12);
    /* index map: centres map to themselves, values outside [-1, 1] to the edges */
    for (int j = 0; j < K; j++) assert_int_equal(bfn_bin_index(bfn_bin_centre(j, K), K), j);
    assert_int_equal(bfn_bin_index(-3.0, K), 0);
    assert_int_equal(bfn_bin_index(7.0, K), K - 1);
    assert_int_equal(bfn_bin_index(NAN, K), 0);
}

/* bfn_noise_pred_at (beta from the schedule) vs [CODE]'s gamma = 1 - sigma1^(2t):
 * relative 1e-10 (the official form loses ~1e-16/gamma to cancellation,
 * gamma >= 1.4e-2 at t >= 1e-3). */
static void test_noise_pred_matches_official(void **state) {
    bfn_family f = make_family(1, 16, 1e-3);
    const double ts[] = {1e-3, 0.1, 0.5, 0.9, 1.0};
    for (int i = 0; i < 5; i++) {
        double a, b;
        official_coefs(1e-3, ts[i], &a, &b);
        bfn_noise_pred np = bfn_noise_pred_at(&f.sched, ts[i]);
        assert_int_equal(np.zero, 0);
        assert_close(np.a, a, 1e-10 * a);
        assert_close(np.b, b, 1e-10 * b);
    }
    assert_int_equal(bfn_noise_pred_at(&f.sched, 5e-7).zero, 1);
    assert_int_equal(bfn_noise_pred_at(&f.sched, 0.0).zero, 1);
    bfn_family_free(&f);
}

/* ---- losses ---------------------------------------------------------------------- */

/* L^inf = -ln(sigma1) sigma1^(-2t) (x - sum_k p_k c_k)^2, with p from erfc and
 * the weight from the official formula. Relative 2e-6: the float loss output
 * (6e-8) and float inputs (the reference recomputes (mu_x, s) from them). */
static void test_loss_cts_value(void **state) {
    const int Ks[] = {16, 256};
    for (int ki = 0; ki < 2; ki++) {
        int K = Ks[ki], D = 4;
        bfn_family f = make_family(D, K, 1e-3);
        float x[4], t[1] = {0.37f}, theta[8], out[8];
        double loss[1];
        const double mus[4] = {0.1, -1.3, 0.98, 3.0}, ss[4] = {0.05, 0.3, 0.01, 0.5};
        double ref = 0.0;
        for (int d = 0; d < D; d++) {
            x[d] = (float)bfn_bin_centre((d * 5 + 1) % K, K);
            theta[2 * d] = 0.2f * d - 0.3f;
            theta[2 * d + 1] = 1.0f;
            set_output(&f, t[0], theta[2 * d], mus[d], ss[d], out + 2 * d);
            double mu, s, p[256], kh = 0.0;
            actual_output(&f, t[0], theta[2 * d], out + 2 * d, &mu, &s);
            ref_probs(mu, s, K, p);
            for (int k = 0; k < K; k++) kh += p[k] * bfn_bin_centre(k, K);
            double w = -log(1e-3) * pow(1e-3, -2.0 * t[0]);
            ref += w * (x[d] - kh) * (x[d] - kh) / D;
        }
        f.ops->loss_cts(&f, 1, x, t, theta, out, loss, NULL, 1.0f);
        assert_close(loss[0], ref, 2e-6 * ref);
        /* t < 1e-6: mu_x = 0, sigma_x = 1 whatever the network says */
        t[0] = 0.0f;
        f.ops->output_mean(&f, 1, theta, t, out, x);
        double p[256], kh = 0.0;
        ref_probs(0.0, 1.0, K, p);
        for (int k = 0; k < K; k++) kh += p[k] * bfn_bin_centre(k, K);
        for (int d = 0; d < D; d++) assert_close(x[d], kh, 1e-7);
        bfn_family_free(&f);
    }
}

/* Central finite differences of loss[0] w.r.t. every output. The step moves
 * mu_x by 1e-3 s (channel 0) or ln sigma by 1e-3 (channel 1), so the
 * truncation error is ~1e-6 relative; the float loss adds <= 1.2e-7 |L| /
 * (actual step) absolute. Tolerance: 2e-3 relative + 4x that float term +
 * 1e-9. Channels whose clamp is active must have gradient exactly 0. */
typedef void (*loss_fn)(const bfn_family *f, int B, const float *x, const float *t, const float *alpha, double n,
                        const float *theta, const float *out, double *loss, float *grad, unsigned long seed);

static void call_cts(const bfn_family *f, int B, const float *x, const float *t, const float *alpha, double n,
                     const float *theta, const float *out, double *loss, float *grad, unsigned long seed) {
    f->ops->loss_cts(f, B, x, t, theta, out, loss, grad, 1.0f);
}

static void call_n(const bfn_family *f, int B, const float *x, const float *t, const float *alpha, double n,
                   const float *theta, const float *out, double *loss, float *grad, unsigned long seed) {
    gsl_rng *r = test_rng(seed); /* identical Monte Carlo samples in every call */
    f->ops->loss_n(f, B, x, t, alpha, n, theta, out, r, loss, grad, 1.0f);
    gsl_rng_free(r);
}

typedef struct {
    const bfn_family *f;
    loss_fn fn;
    const float *x, *theta, *out;
    float t, alpha;
    double n;
    float *gd;
} disc_ctx;

static double disc_loss(void *ctx, long i) {
    disc_ctx *c = ctx;
    double l[1];
    c->fn(c->f, 1, c->x, &c->t, &c->alpha, c->n, c->theta, c->out, l, c->gd, 77);
    return l[0];
}

/* Channel 0 (mu_eps) moves mu_x by 1e-3 s: step 1e-3 s / b; channel 1 by 1e-3. */
static double disc_step(void *ctx, long i) {
    disc_ctx *c = ctx;
    if (i % 2) return 1e-3;
    double mu, s;
    actual_output(c->f, c->t, c->theta[2 * (i / 2)], c->out + 2 * (i / 2), &mu, &s);
    return 1e-3 * s / bfn_noise_pred_at(&c->f->sched, c->t).b;
}

static void fd_check(const bfn_family *f, loss_fn fn, const float *x, float t, float alpha, double n,
                     const float *theta, float *out, const int *clamped) {
    int D = f->D;
    float *g = test_falloc((size_t)D * 2);
    disc_ctx c = {f, fn, x, theta, out, t, alpha, n, test_falloc((size_t)D * 2)};
    disc_loss(&c, -1);
    memcpy(g, c.gd, (size_t)D * 2 * sizeof *g);
    const gradcheck gc = {.loss = disc_loss, .ctx = &c, .step = disc_step, .rtol = 2e-3, .atol = 1e-9,
                          .loss_noise = 4 * 1.2e-7, .must_be_zero = clamped};
    gradcheck_all("discretised d loss / d out", &gc, out, g, 2L * D);
    free(g);
    free(c.gd);
}

/* Cases per K: interior with a good prediction, x in the bottom edge bin with
 * mu_x just outside, x in the top edge bin, mu_x far outside [-1, 1] (3.0 for
 * L^inf; -2.5 / 1.3 for L^n), a wide sigma_x, and x's bin 5.8 std below the
 * mean (p ~ 3e-9, clamped to the 1.2e-7 floor, so its gradient must be cut;
 * the steps keep every bin clear of the floor's kink). Clamped case:
 * ln sigma_eps beyond 10 and sigma_x below 1e-3. */
static void run_fd(int K, int use_n) {
    enum { D = 7 };
    bfn_family f = make_family(D, K, 1e-3);
    float t = 0.43f, x[D], theta[2 * D], out[2 * D];
    bfn_noise_pred np = bfn_noise_pred_at(&f.sched, t);
    const int xb[D] = {K / 2, 0, K - 1, K / 3, K / 4, K - 2, K / 5};
    const double ss[D] = {0.04, 0.03, 0.1, use_n ? 0.8 : 0.5, use_n ? 0.2 : 2.0, 0.05, 0.05};
    for (int d = 0; d < D; d++) {
        x[d] = (float)bfn_bin_centre(xb[d], K);
        theta[2 * d] = 0.3f * x[d];
        theta[2 * d + 1] = 1.0f;
        const double mus[D] = {x[0] + 0.3 / K, -1.02, 0.93, use_n ? -2.5 : 3.0, use_n ? 1.3 : -0.2, 0.8,
                               x[6] + 1.0 / K + 5.8 * 0.05};
        set_output(&f, t, theta[2 * d], mus[d], ss[d], out + 2 * d);
    }
    /* alpha for n = 50 at i = ceil(t n), and one much larger accuracy */
    int n = 50, i = (int)ceil(t * n);
    float alpha = (float)bfn_schedule_alpha(&f.sched, i, n);
    fd_check(&f, use_n ? call_n : call_cts, x, t, alpha, n, theta, out, NULL);
    if (use_n) fd_check(&f, call_n, x, t, 2e4f, 1000.0, theta, out, NULL);
    int clamped[2 * D] = {0};
    out[3] = 12.0f; /* ln sigma_eps = 12, beyond the [-10, 10] clamp */
    clamped[3] = 1;
    out[5] = (float)log(5e-4 / np.b); /* sigma_x below 1e-3 */
    clamped[5] = 1;
    fd_check(&f, use_n ? call_n : call_cts, x, t, alpha, n, theta, out, clamped);
    bfn_family_free(&f);
}

static void test_grad_loss_cts_k16(void **state) { run_fd(16, 0); }
static void test_grad_loss_cts_k256(void **state) { run_fd(256, 0); }
static void test_grad_loss_n_k16(void **state) { run_fd(16, 1); }
static void test_grad_loss_n_k256(void **state) { run_fd(256, 1); }

/* Monte Carlo L^n against the quadrature reference. B examples x D identical
 * dimensions: each example's loss is a mean of D * n_mc samples, and the B
 * example means are iid, so their spread gives the standard error. Tolerance
 * 5 SE + 1e-5 relative (float outputs, quadrature). */
static double check_ln_floor(int K, double mu_x, double s, int xbin, double a, double n, int floor_);
static void check_ln_vs_quadrature(int K, double mu_x, double s, int xbin, double a, double n) {
    check_ln_floor(K, mu_x, s, xbin, a, n, 1);
}
/* As above with bfn.receiver_floor = official (floor_ = 1) or exact (0);
 * returns the reference. */
static double check_ln_floor(int K, double mu_x, double s, int xbin, double a, double n, int floor_) {
    const int B = 24, D = 128;
    bfn_family f = make_family(D, K, 1e-3);
    f.receiver_floor = floor_;
    float t = 0.5f, alpha = (float)a;
    float *x = test_falloc((size_t)B * D), *theta = test_falloc((size_t)B * D * 2), *out = test_falloc((size_t)B * D * 2);
    float tt[24], al[24];
    double loss[24];
    for (int b = 0; b < B; b++) { tt[b] = t; al[b] = alpha; }
    for (int i = 0; i < B * D; i++) {
        x[i] = (float)bfn_bin_centre(xbin, K);
        theta[2 * i] = 0.1f;
        theta[2 * i + 1] = 1.0f;
        set_output(&f, t, 0.1f, mu_x, s, out + 2 * i);
    }
    double mu, sx;
    actual_output(&f, t, 0.1f, out, &mu, &sx);
    double ref = ref_nkl_w(mu, sx, K, bfn_bin_centre(xbin, K), alpha, n, floor_);
    gsl_rng *r = test_rng(5);
    f.ops->loss_n(&f, B, x, tt, al, n, theta, out, r, loss, NULL, 1.0f);
    double m = 0.0, v = 0.0;
    for (int b = 0; b < B; b++) m += loss[b] / B;
    for (int b = 0; b < B; b++) v += (loss[b] - m) * (loss[b] - m) / (B - 1);
    double se = sqrt(v / B);
    if (fabs(m - ref) > 5.0 * se + 1e-5 * fabs(ref))
        print_error("K %d mu %g s %g bin %d a %g floor %d: MC %.8g +- %.3g vs quadrature %.8g\n", K, mu, sx, xbin, a,
                    floor_, m, se, ref);
    assert_true(fabs(m - ref) <= 5.0 * se + 1e-5 * fabs(ref));
    gsl_rng_free(r);
    free(x);
    free(theta);
    free(out);
    bfn_family_free(&f);
    return ref;
}

/* bfn.receiver_floor = exact: the mixture weights are the exact bin masses
 * (every bin, log space). Against the same Simpson quadrature with w = p, for
 * moderate outputs (floor and exact nearly agree) and confident-wrong ones
 * (x's bin 10 and 21 output std from the mean, masses ~1e-23 and ~1e-100:
 * the exact loss is much larger than the floored one, which the floor
 * bounds). The reference's erfc masses underflow beyond ~37 std, so the
 * cases stay inside that. */
static void test_loss_n_exact_weights(void **state) {
    check_ln_floor(16, 0.05, 0.1, 8, 30.0, 10.0, 0);
    check_ln_floor(256, 0.0, 0.2, 140, 0.5, 10.0, 0);
    double ex = check_ln_floor(16, 0.9, 0.05, 2, 400.0, 10.0, 0);
    double fl = check_ln_floor(16, 0.9, 0.05, 2, 400.0, 10.0, 1);
    assert_true(ex > fl + 1.0);
    ex = check_ln_floor(256, -0.5, 0.05, 200, 2e4, 1000.0, 0);
    fl = check_ln_floor(256, -0.5, 0.05, 200, 2e4, 1000.0, 1);
    assert_true(ex > 1.5 * fl);
}

static void test_loss_n_vs_quadrature(void **state) {
    /* K = 16: moderate accuracy; mass far from x (floor matters); edge bin */
    check_ln_vs_quadrature(16, 0.05, 0.1, 8, 30.0, 10.0);
    check_ln_vs_quadrature(16, 0.9, 0.05, 2, 400.0, 10.0);
    check_ln_vs_quadrature(16, -1.2, 0.1, 0, 3000.0, 100.0);
    /* K = 256: tiny accuracy (window = all bins), large accuracy (few bins),
     * confident-wrong output (x's bin below the floor), wide output */
    check_ln_vs_quadrature(256, 0.0, 0.2, 140, 0.5, 10.0);
    check_ln_vs_quadrature(256, 0.3, 0.01, 166, 5e4, 100.0);
    check_ln_vs_quadrature(256, -0.5, 0.02, 200, 2e4, 1000.0);
    check_ln_vs_quadrature(256, 0.2, 3.0, 255, 50.0, 10.0);
}

/* The kernel against a direct evaluation on the SAME Monte Carlo samples
 * (replayed: one ziggurat normal per (b, d, sample), in that order): literal
 * Gaussian log-densities over all K bins with torch's clamped weights and a
 * log-sum-exp, no recurrences and no cut. The walk's rounding (< 1e-13), its
 * cut (< 2e-14) and the float output (6e-8) leave the per-example mean within
 * 1e-6 of the mean absolute per-sample term. Dimensions cover tiny accuracies
 * (walks reaching both edges), medium (vector lanes), huge (a few bins),
 * y beyond the edges and outputs far outside [-1, 1]. */
static void test_loss_n_matches_direct_sum(void **state) {
    const int Ks[] = {16, 256, 1000};
    for (int ki = 0; ki < 3; ki++) {
        int K = Ks[ki], D = 8, n_mc = 10;
        bfn_family f = make_family(D, K, 1e-3);
        const float al[3] = {0.3f, 400.0f, 3e5f};
        for (int ai = 0; ai < 3; ai++) {
            float t = 0.4f, x[8], theta[16], out[16];
            double loss[1];
            const double mus[8] = {0.0, -1.5, 0.97, 2.5, -0.3, 0.6, 0.05, -0.99};
            const double ss[8] = {0.3, 0.1, 0.02, 0.5, 1e-3, 5.0, 0.04, 0.2};
            for (int d = 0; d < D; d++) {
                x[d] = (float)bfn_bin_centre((d * 37 + 3) % K, K);
                theta[2 * d] = 0.1f * d;
                theta[2 * d + 1] = 1.0f;
                set_output(&f, t, theta[2 * d], mus[d], ss[d], out + 2 * d);
            }
            gsl_rng *r = test_rng(40 + ai);
            f.ops->loss_n(&f, 1, x, &t, &al[ai], 7.0, theta, out, r, loss, NULL, 1.0f);
            gsl_rng_set(r, 40 + ai);
            double a = al[ai], sd = 1.0 / sqrt(a), ref = 0.0, scale = 0.0;
            double *lw = bfn_xmalloc((size_t)K * sizeof *lw), *v = bfn_xmalloc((size_t)K * sizeof *v);
            for (int d = 0; d < D; d++) {
                double mu, s, sq = 0.0;
                actual_output(&f, t, theta[2 * d], out + 2 * d, &mu, &s);
                ref_probs(mu, s, K, lw);
                for (int k = 0; k < K; k++) {
                    lw[k] = lw[k] < FLT_EPSILON ? FLT_EPSILON : lw[k] > 1.0 - FLT_EPSILON ? 1.0 - FLT_EPSILON : lw[k];
                    sq += lw[k];
                }
                for (int k = 0; k < K; k++) lw[k] = log(lw[k] / sq);
                for (int m = 0; m < n_mc; m++) {
                    double y = x[d] + sd * gsl_ran_gaussian_ziggurat(r, 1.0), mx = -INFINITY, acc = 0.0;
                    for (int k = 0; k < K; k++) {
                        v[k] = lw[k] + log_normal(y, bfn_bin_centre(k, K), sd);
                        if (v[k] > mx) mx = v[k];
                    }
                    for (int k = 0; k < K; k++) acc += exp(v[k] - mx);
                    double term = 7.0 * (log_normal(y, x[d], sd) - (mx + log(acc)));
                    ref += term / (n_mc * D);
                    scale += fabs(term) / (n_mc * D);
                }
            }
            if (fabs(loss[0] - ref) > 1e-6 * scale + 1e-12)
                print_error("K %d alpha %g: kernel %.9g direct %.9g (scale %g)\n", K, a, loss[0], ref, scale);
            assert_true(fabs(loss[0] - ref) <= 1e-6 * scale + 1e-12);
            free(lw);
            free(v);
            gsl_rng_free(r);
        }
        bfn_family_free(&f);
    }
}

/* The L^n kernel with x in the edge bins, so that many samples y land
 * outside [-1, 1]: there the floor part of the mixture sum is taken in closed
 * form from the edge (u_j0 = W up to 3.7 std beyond it), and beyond W = 3.7
 * by the walk (~1e-4 of the samples, ~10 of them here). K = 16 keeps the
 * direct reference cheap; alpha = 10 gives du = h sqrt(alpha) = 0.40, inside
 * the closed form's range. Outputs from confident-right to confident-wrong
 * (x's bin below the floor). Reference and tolerance as in
 * test_loss_n_matches_direct_sum (the same replayed samples). */
static void test_loss_n_edge_samples(void **state) {
    const int K = 16, D = 10000, n_mc = 10;
    bfn_family f = make_family(D, K, 1e-3);
    float t = 0.4f, al = 10.0f;
    double loss[1];
    float *x = test_falloc(D), *theta = test_falloc(2 * D), *out = test_falloc(2 * D);
    const double mus[5] = {-0.95, -1.3, -0.2, 0.9, 1.4}, ss[5] = {0.05, 0.3, 0.1, 0.02, 0.5};
    for (int d = 0; d < D; d++) {
        x[d] = (float)bfn_bin_centre(d % 3 == 2 ? K - 1 : 0, K);
        theta[2 * d] = 0.0f;
        theta[2 * d + 1] = 1.0f;
        set_output(&f, t, 0.0f, mus[d % 5], ss[d % 5], out + 2 * d);
    }
    gsl_rng *r = test_rng(12);
    f.ops->loss_n(&f, 1, x, &t, &al, 5.0, theta, out, r, loss, NULL, 1.0f);
    gsl_rng_set(r, 12);
    double a = al, sd = 1.0 / sqrt(a), ref = 0.0, scale = 0.0, lw[16], v[16];
    int outside = 0, far = 0;
    for (int d = 0; d < D; d++) {
        double mu, s, sq = 0.0;
        actual_output(&f, t, 0.0f, out + 2 * d, &mu, &s);
        ref_probs(mu, s, K, lw);
        for (int k = 0; k < K; k++) {
            lw[k] = lw[k] < FLT_EPSILON ? FLT_EPSILON : lw[k] > 1.0 - FLT_EPSILON ? 1.0 - FLT_EPSILON : lw[k];
            sq += lw[k];
        }
        for (int k = 0; k < K; k++) lw[k] = log(lw[k] / sq);
        for (int m = 0; m < n_mc; m++) {
            double y = x[d] + sd * gsl_ran_gaussian_ziggurat(r, 1.0), mx = -INFINITY, acc = 0.0;
            double beyond = fmax(bfn_bin_centre(0, K) - y, y - bfn_bin_centre(K - 1, K)) / sd;
            outside += beyond > 0.0;
            far += beyond > BFN_LATTICE_UREF_MAX;
            for (int k = 0; k < K; k++) {
                v[k] = lw[k] + log_normal(y, bfn_bin_centre(k, K), sd);
                if (v[k] > mx) mx = v[k];
            }
            for (int k = 0; k < K; k++) acc += exp(v[k] - mx);
            double term = 5.0 * (log_normal(y, x[d], sd) - (mx + log(acc)));
            ref += term / (n_mc * D);
            scale += fabs(term) / (n_mc * D);
        }
    }
    assert_true(outside > 10000 && far >= 3); /* both paths are exercised */
    if (fabs(loss[0] - ref) > 1e-6 * scale + 1e-12)
        print_error("kernel %.9g direct %.9g (scale %g; %d outside, %d far)\n", loss[0], ref, scale, outside, far);
    assert_true(fabs(loss[0] - ref) <= 1e-6 * scale + 1e-12);
    gsl_rng_free(r);
    free(x);
    free(theta);
    free(out);
    bfn_family_free(&f);
}

/* L^n -> L^inf. With alpha_i at i = ceil(t n) the quadrature n KL approaches
 * (beta'(t)/2)(x - k_hat)^2 as n grows: the gap must shrink with n and be
 * < 0.5% at n = 10^4 (predicted: n alpha_i/beta' - 1 ~ 2 ln(1/sigma1)/n =
 * 1.4e-3, the output-variance term ~ alpha s^2 = 3e-3, and the floor moves the
 * mixture mean by < 2 K eps). Then the family's Monte Carlo L^n at n = 4000
 * must match L^inf within 5 SE + that n's deterministic gap |nKL - L^inf|. */
static void test_loss_n_tends_to_loss_cts(void **state) {
    const int K = 256, B = 16, D = 2048;
    bfn_family f = make_family(D, K, 1e-3);
    float t = 0.5f;
    float *x = test_falloc((size_t)B * D), *theta = test_falloc((size_t)B * D * 2), *out = test_falloc((size_t)B * D * 2);
    float tt[16], al[16];
    double loss[16], lcts[16];
    for (int i = 0; i < B * D; i++) {
        x[i] = (float)bfn_bin_centre(166, K); /* 0.3008 */
        theta[2 * i] = 0.0f;
        theta[2 * i + 1] = 1.0f;
        set_output(&f, t, 0.0f, 0.0, 0.05, out + 2 * i);
    }
    for (int b = 0; b < B; b++) tt[b] = t;
    f.ops->loss_cts(&f, B, x, tt, theta, out, lcts, NULL, 1.0f);
    double linf = lcts[0], mu, s, prev = INFINITY;
    actual_output(&f, t, 0.0f, out, &mu, &s);
    const int ns[] = {10, 100, 1000, 10000};
    for (int j = 0; j < 4; j++) {
        int n = ns[j], i = (int)ceil(t * n);
        double a = bfn_schedule_alpha(&f.sched, i, n);
        double err = fabs(ref_nkl(mu, s, K, x[0], a, n) - linf) / linf;
        assert_true(err < prev);
        prev = err;
    }
    if (prev >= 5e-3) print_error("n KL at n = 1e4 is %.3g relative from L^inf\n", prev);
    assert_true(prev < 5e-3);
    int n = 4000, i = (int)ceil(t * n);
    double a = bfn_schedule_alpha(&f.sched, i, n), gap = fabs(ref_nkl(mu, s, K, x[0], a, n) - linf);
    for (int b = 0; b < B; b++) al[b] = (float)a;
    gsl_rng *r = test_rng(9);
    f.ops->loss_n(&f, B, x, tt, al, n, theta, out, r, loss, NULL, 1.0f);
    double m = 0.0, v = 0.0;
    for (int b = 0; b < B; b++) m += loss[b] / B;
    for (int b = 0; b < B; b++) v += (loss[b] - m) * (loss[b] - m) / (B - 1);
    double se = sqrt(v / B);
    if (fabs(m - linf) > 5.0 * se + gap) print_error("L^n %.6g +- %.3g vs L^inf %.6g (gap %.3g)\n", m, se, linf, gap);
    assert_true(fabs(m - linf) <= 5.0 * se + gap);
    gsl_rng_free(r);
    free(x);
    free(theta);
    free(out);
    bfn_family_free(&f);
}

/* L^r: a confident correct output (mu_x at the centre, sigma_x at its floor
 * 1e-3) costs -ln(1 - 2 Q(h/2 / 1e-3)) (9.4e-5 nats at K = 256, 0 at K = 16);
 * a confidently wrong one takes the fallback -ln N(c; mu, s) - ln(2/K).
 * Tolerances: relative 1e-5 (float outputs move mu_x by ~1e-7 and the float
 * loss rounds at 6e-8). */
static void test_recon(void **state) {
    const int Ks[] = {16, 256};
    for (int ki = 0; ki < 2; ki++) {
        int K = Ks[ki];
        bfn_family f = make_family(2, K, 1e-3);
        float x[2] = {(float)bfn_bin_centre(K / 3, K), (float)bfn_bin_centre(0, K)};
        float theta[4] = {x[0] * 0.999f, 1e6f, x[1] * 0.999f, 1e6f}, out[4], t1[1] = {1.0f};
        double loss[1];
        set_output(&f, 1.0, theta[0], x[0], 1e-4, out);     /* sigma clamps to 1e-3 */
        set_output(&f, 1.0, theta[2], -1.5, 1e-4, out + 2); /* edge bin, mean outside */
        f.ops->loss_recon(&f, 1, x, t1, theta, out, loss);
        double mu0, s0, mu1, s1;
        actual_output(&f, 1.0, theta[0], out, &mu0, &s0);
        actual_output(&f, 1.0, theta[2], out + 2, &mu1, &s1);
        assert_close(s0, 1e-3, 1e-12);
        double p0[256], p1[256];
        ref_probs(mu0, s0, K, p0);
        ref_probs(mu1, s1, K, p1);
        double ref = -(log(p0[K / 3]) + log(p1[0])) / 2;
        assert_close(loss[0], ref, 1e-5 * ref + 1e-9);
        assert_true(loss[0] < (K == 256 ? 1e-4 : 1e-12));
        /* fallback: predict the far end of [-1, 1] confidently */
        set_output(&f, 1.0, theta[0], 0.9, 0.01, out);
        set_output(&f, 1.0, theta[2], 0.9, 0.01, out + 2);
        f.ops->loss_recon(&f, 1, x, t1, theta, out, loss);
        actual_output(&f, 1.0, theta[0], out, &mu0, &s0);
        actual_output(&f, 1.0, theta[2], out + 2, &mu1, &s1);
        ref = -(log_normal(bfn_bin_centre(K / 3, K), mu0, s0) + log_normal(bfn_bin_centre(0, K), mu1, s1)) / 2 -
              log(2.0 / K);
        assert_true(bfn_dgauss_bin_prob(mu0, s0, K, K / 3) < 1e-5);
        assert_close(loss[0], ref, 1e-5 * ref);
        bfn_family_free(&f);
    }
}

/* ---- sampling step ------------------------------------------------------------------ */

/* mode = centre of the argmax bin (open edge bins can win), mean = sum p c,
 * sample frequencies = p_k (each bin within 5 binomial SE over 40000 draws). */
static void test_output_mode_mean_sample(void **state) {
    int K = 16, D = 3, N = 40000;
    bfn_family f = make_family(D, K, 1e-3);
    float t[1] = {0.6f}, theta[6] = {0.1f, 1, -0.2f, 1, 0.5f, 1}, out[6], xs[3];
    const double mus[3] = {0.3, -1.3, 0.97}, ss[3] = {0.05, 0.2, 0.3};
    for (int d = 0; d < D; d++) set_output(&f, t[0], theta[2 * d], mus[d], ss[d], out + 2 * d);
    f.ops->output_mode(&f, 1, theta, t, out, xs);
    assert_close(xs[0], bfn_bin_centre(bfn_bin_index(0.3, K), K), 1e-7);
    assert_close(xs[1], bfn_bin_centre(0, K), 1e-7);
    /* mu_x = 0.97 with s = 0.3: the open top bin (mass Q((0.875-0.97)/0.3) = 0.62) wins */
    assert_close(xs[2], bfn_bin_centre(K - 1, K), 1e-7);
    f.ops->output_mean(&f, 1, theta, t, out, xs);
    for (int d = 0; d < D; d++) {
        double mu, s, p[16], kh = 0.0;
        actual_output(&f, t[0], theta[2 * d], out + 2 * d, &mu, &s);
        ref_probs(mu, s, K, p);
        for (int k = 0; k < K; k++) kh += p[k] * bfn_bin_centre(k, K);
        assert_close(xs[d], kh, 1e-6);
    }
    gsl_rng *r = test_rng(3);
    int count[3][16] = {{0}};
    for (int i = 0; i < N; i++) {
        f.ops->output_sample(&f, 1, theta, t, out, r, xs);
        for (int d = 0; d < D; d++) {
            int k = bfn_bin_index(xs[d], K);
            assert_close(xs[d], bfn_bin_centre(k, K), 1e-7); /* always a centre */
            count[d][k]++;
        }
    }
    for (int d = 0; d < D; d++) {
        double mu, s, p[16];
        actual_output(&f, t[0], theta[2 * d], out + 2 * d, &mu, &s);
        ref_probs(mu, s, K, p);
        for (int k = 0; k < K; k++) {
            double se = sqrt(p[k] * (1 - p[k]) / N);
            assert_true(fabs((double)count[d][k] / N - p[k]) <= 5.0 * se + 1.0 / N);
        }
    }
    gsl_rng_free(r);
    bfn_family_free(&f);
}

/* Bitwise reproducibility: the same seed gives the same L^n and gradients
 * with 1 and 2 OpenMP threads (noise drawn sequentially, each example reduced
 * in order by one thread). */
static void test_thread_count_invariance(void **state) {
    const int B = 6, D = 300, K = 256;
    bfn_family f = make_family(D, K, 1e-3);
    float *x = test_falloc((size_t)B * D), *theta = test_falloc((size_t)B * D * 2), *out = test_falloc((size_t)B * D * 2);
    float *g1 = test_falloc((size_t)B * D * 2), *g2 = test_falloc((size_t)B * D * 2), t[6], al[6];
    double l1[6], l2[6];
    gsl_rng *r = test_rng(31);
    for (int b = 0; b < B; b++) {
        t[b] = (float)gsl_rng_uniform(r);
        al[b] = (float)(1.0 + 1e4 * gsl_rng_uniform(r));
    }
    for (int i = 0; i < B * D; i++) {
        x[i] = (float)bfn_bin_centre((int)gsl_rng_uniform_int(r, K), K);
        theta[2 * i] = (float)gsl_ran_gaussian(r, 0.5);
        theta[2 * i + 1] = 1.0f;
        out[2 * i] = (float)gsl_ran_gaussian(r, 1.0);
        out[2 * i + 1] = (float)gsl_ran_gaussian(r, 1.0);
    }
    int saved = omp_get_max_threads();
    for (int pass = 0; pass < 2; pass++) {
        omp_set_num_threads(1);
        gsl_rng_set(r, 5);
        if (pass) f.ops->loss_cts(&f, B, x, t, theta, out, l1, g1, 0.25f);
        else f.ops->loss_n(&f, B, x, t, al, 100.0, theta, out, r, l1, g1, 0.25f);
        omp_set_num_threads(2);
        gsl_rng_set(r, 5);
        if (pass) f.ops->loss_cts(&f, B, x, t, theta, out, l2, g2, 0.25f);
        else f.ops->loss_n(&f, B, x, t, al, 100.0, theta, out, r, l2, g2, 0.25f);
        assert_memory_equal(l1, l2, sizeof l1);
        assert_memory_equal(g1, g2, (size_t)B * D * 2 * sizeof(float));
    }
    omp_set_num_threads(saved);
    gsl_rng_free(r);
    free(x);
    free(theta);
    free(out);
    free(g1);
    free(g2);
    bfn_family_free(&f);
}

/* ---- interface ------------------------------------------------------------------------- */

static void test_init_validation(void **state) {
    bfn_schedule s;
    bfn_family f;
    bfn_schedule_params p = {.sigma1 = 0.02};
    assert_int_equal(bfn_schedule_init(&s, "exponential", &p), BFN_OK);
    assert_int_equal(bfn_discretised_init(&f, 10, 1, s), BFN_EINVAL);
    assert_int_equal(bfn_schedule_init(&s, "exponential", &p), BFN_OK);
    assert_int_equal(bfn_discretised_init(&f, 10, 4097, s), BFN_EINVAL);
    assert_int_equal(bfn_schedule_init(&s, "exponential", &p), BFN_OK);
    assert_int_equal(bfn_discretised_init(&f, 0, 16, s), BFN_EINVAL);
    bfn_schedule empty;
    memset(&empty, 0, sizeof empty);
    assert_int_equal(bfn_discretised_init(&f, 10, 16, empty), BFN_EINVAL);
    assert_int_equal(bfn_schedule_init(&s, "exponential", &p), BFN_OK);
    assert_int_equal(bfn_discretised_init(&f, 10, 4096, s), BFN_OK);
    assert_int_equal(f.in_ch, 1);
    assert_int_equal(f.out_ch, 2);
    assert_int_equal(f.theta_ch, 2);
    assert_int_equal(f.n_mc, 10);
    bfn_family_free(&f);
}

/* A NaN network output gives a NaN loss (never a silent number, never UB). */
static void test_nan_propagates(void **state) {
    bfn_family f = make_family(2, 256, 1e-3);
    float x[2] = {0.0f, 0.5f}, t[1] = {0.5f}, al[1] = {100.0f}, theta[4] = {0, 1, 0, 1};
    float out[4] = {NAN, 0.0f, 0.0f, 0.0f}, g[4];
    double loss[1];
    f.ops->loss_cts(&f, 1, x, t, theta, out, loss, g, 1.0f);
    assert_true(isnan(loss[0]));
    gsl_rng *r = test_rng(1);
    f.ops->loss_n(&f, 1, x, t, al, 10.0, theta, out, r, loss, g, 1.0f);
    assert_true(isnan(loss[0]));
    out[0] = 0.0f;
    out[1] = NAN;
    f.ops->loss_n(&f, 1, x, t, al, 10.0, theta, out, r, loss, g, 1.0f);
    assert_true(isnan(loss[0]));
    float t1[1] = {1.0f};
    f.ops->loss_recon(&f, 1, x, t1, theta, out, loss);
    assert_true(isnan(loss[0]));
    gsl_rng_free(r);
    bfn_family_free(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_norm_cdf_matches_erfc),
        cmocka_unit_test(test_bin_probs_simpson),
        cmocka_unit_test(test_boundary_table),
        cmocka_unit_test(test_dgauss_mean),
        cmocka_unit_test(test_exp_vec),
        cmocka_unit_test(test_dgauss_masses),
        cmocka_unit_test(test_lattice_sum),
        cmocka_unit_test(test_log_prob_fallback),
        cmocka_unit_test(test_noise_pred_matches_official),
        cmocka_unit_test(test_loss_cts_value),
        cmocka_unit_test(test_grad_loss_cts_k16),
        cmocka_unit_test(test_grad_loss_cts_k256),
        cmocka_unit_test(test_grad_loss_n_k16),
        cmocka_unit_test(test_grad_loss_n_k256),
        cmocka_unit_test(test_loss_n_matches_direct_sum),
        cmocka_unit_test(test_loss_n_edge_samples),
        cmocka_unit_test(test_loss_n_vs_quadrature),
        cmocka_unit_test(test_loss_n_exact_weights),
        cmocka_unit_test(test_loss_n_tends_to_loss_cts),
        cmocka_unit_test(test_recon),
        cmocka_unit_test(test_output_mode_mean_sample),
        cmocka_unit_test(test_thread_count_invariance),
        cmocka_unit_test(test_init_validation),
        cmocka_unit_test(test_nan_propagates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
