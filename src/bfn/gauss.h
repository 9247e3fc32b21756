/* gauss.h: Gaussian pieces shared by the continuous and discretised families.
 *
 * Three groups, all following paper/NOTES.md §4.1 and §4.4 ([CODE] semantics):
 *   1. the Gaussian Bayesian flow over theta = (mu, rho) per dimension: flow
 *      sample, prior, network input and the sender-sample + Bayesian update;
 *   2. the conversion of a noise prediction into a data prediction
 *      ([CODE] noise_pred_params_to_data_pred_params), written with the
 *      schedule's beta only: gamma = beta/(1+beta), so 1/gamma = (1+beta)/beta
 *      and sqrt((1-gamma)/gamma) = 1/sqrt(beta);
 *   3. the discretised Gaussian on K equal bins of [-1,1] whose two edge bins
 *      are open to -inf / +inf ([CODE] DiscretizedCtsDistribution, clip=True):
 *      standard normal CDF / tail / density, bin index and centre maps, bin
 *      probabilities, the output mean k_hat = sum_k p_k c_k with its
 *      derivatives in O(1) (Poisson / Euler-Maclaurin summation over the
 *      equally spaced boundaries), Gaussian sums over equally spaced points
 *      (the L^n mixture's floor), and the official log-probability with its
 *      small-probability fallback.
 *
 * Bins: width h = 2/K, centres c_k = -1 + (2k+1)/K (k = 0..K-1), boundaries
 * b_j = -1 + 2j/K (j = 1..K-1); b_0 = -inf and b_K = +inf for clip=True.
 * With z_j = (b_j - mu)/s, p_k = Phi(z_{k+1}) - Phi(z_k).
 *
 * The CDF: the tail probability on z's side is phi(z) times the Mills ratio
 * M(|z|) = Q(|z|)/phi(|z|), evaluated from a fitted polynomial table (see
 * gauss.c; faster than erfc, and no GSL call is needed). It agrees with libm's
 * erfc to a relative 4 eps (1 + z^2), the rounding that exp(-z^2/2) of a
 * rounded z carries anyway (tests/test_discretised.c, dense grid).
 * Differences of CDFs are taken on the side of the mean where they do not
 * cancel: Q(z_k) - Q(z_{k+1}) when z_k >= 0, Phi(z_{k+1}) - Phi(z_k) otherwise.
 */
#ifndef BFN_GAUSS_H
#define BFN_GAUSS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "bfn/family.h"

/* Four doubles as one AVX2 vector (GCC vector extension): loops whose
 * running values must stay in registers across iterations (recurrences,
 * partial sums) hold them as lane4, which GCC 12 does not do for arrays. */
typedef double lane4 __attribute__((vector_size(4 * sizeof(double))));
typedef long long4 __attribute__((vector_size(4 * sizeof(long)))); /* lane4 shuffle masks */
static inline lane4 lane4_load(const double *p) {
    lane4 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void lane4_store(double *p, lane4 v) { memcpy(p, &v, sizeof v); }
/* a b + c with one rounding per lane (compiles to one vfmadd on lane4) */
static inline lane4 lane4_fma(lane4 a, lane4 b, lane4 c) {
    lane4 r;
    for (int i = 0; i < 4; i++) r[i] = fma(a[i], b[i], c[i]);
    return r;
}
static inline lane4 lane4_splat(double x) { return (lane4){x, x, x, x}; }

/* ---- 1. Gaussian Bayesian flow, theta (B, D, 2) = (mu, rho) ----------------- */

/* theta ~ p_F(.|x; t) (paper/NOTES.md §4.1): beta = beta(t), gamma = beta/(1+beta),
 * mu = gamma x + sqrt(gamma (1-gamma)) eps, rho = 1 + beta. Draws exactly one
 * gsl_ran_gaussian_ziggurat(rng, 1) per dimension in (b, d) order, also at
 * t = 0 where mu = 0, so the stream layout never depends on t. */
void bfn_gflow_sample(const bfn_family *f, int B, const float *x, const float *t, gsl_rng *rng,
                      float *theta);
/* Prior theta: mu = 0, rho = 1. */
void bfn_gflow_prior(const bfn_family *f, int B, float *theta);
/* Network input (B, D): mu only ([CODE] params_to_net_inputs). */
void bfn_gflow_net_input(const bfn_family *f, int B, const float *theta, float *in);
/* Sender sample y ~ N(xs, 1/alpha_b) and Bayesian update rho' = rho + alpha,
 * mu' = (rho mu + alpha y) / rho' (paper/NOTES.md §4.1). One ziggurat draw per
 * dimension in (b, d) order. alpha has B entries, each > 0. */
void bfn_gflow_update(const bfn_family *f, int B, float *theta, const float *xs, const float *alpha,
                      gsl_rng *rng);

/* ---- 2. noise prediction -> data prediction ----------------------------------- */

/* For one example at time t: data mean = a * mu - b * eps_hat, data std =
 * b * sigma_eps. [CODE] uses t_c = max(t, 1e-6) and, for t < 1e-6, mean 0 and
 * std 1 regardless of the network (`zero` = 1, a = b = 0). */
typedef struct {
    int zero;
    double a; /* 1/gamma = (1 + beta)/beta */
    double b; /* sqrt((1 - gamma)/gamma) = 1/sqrt(beta) */
} bfn_noise_pred;

#define BFN_NOISE_PRED_T_MIN 1e-6

bfn_noise_pred bfn_noise_pred_at(const bfn_schedule *s, double t);

/* ---- 3. standard normal and the discretised Gaussian --------------------------- */

#define BFN_SQRT1_2 0.70710678118654752440  /* 1/sqrt(2) */
#define BFN_INV_SQRT_2PI 0.39894228040143267794
#define BFN_SQRT_2PI 2.50662827463100050242
#define BFN_LN_SQRT_2PI 0.91893853320467274178

/* exp(x) for x <= 709, written so that loops over it vectorise (no calls, no
 * branches; glibc's exp is a call, and -ffast-math is not used). Cody-Waite
 * reduction x = k ln2 + r, |r| <= ln2/2 (ln2 split in two parts, fdlibm's, so
 * k ln2_hi is exact), e^r = 1 + r + r^2 q(r) with q a degree-9 Chebyshev fit
 * of (e^r - 1 - r)/r^2 (mpmath; relative error 1.7e-17 with the coefficients
 * rounded to double), and 2^k from its exponent bits: k is read off the low
 * bits of x log2e + 1.5 2^52 (the float-to-int conversion does not vectorise
 * without AVX-512). Error <= ~1 ulp (tested against libm exp). x is clamped
 * below at lo = bfn_exp_vec_lo() = -708 (result >= 3e-308, a normal number);
 * NaN also maps there, so callers must not rely on NaN propagation through
 * it. The bound is a run-time value, not a literal: with a literal, GCC 12
 * (default -ftrapping-math) keeps the clamp as a branch and does not
 * vectorise the loop (the same workaround as nn/layers.c exp_vec). */
static inline double bfn_exp_vec_lo(void) {
    volatile double lo = -708.0;
    return lo;
}
static inline double bfn_exp_vec(double x, double lo) {
    const double log2e = 1.4426950408889634, magic = 6755399441055744.0; /* 1.5 * 2^52 */
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    x = x > lo ? x : lo;
    double kd = x * log2e + magic, k = kd - magic;
    double r = (x - k * ln2_hi) - k * ln2_lo;
    /* Horner with fused multiply-adds (one rounding per step; vfmadd under
     * -march=x86-64-v3, where fma() is inlined and vectorised) */
    double q = 2.510038549551032e-08;
    q = fma(q, r, 2.7620088445409746e-07);
    q = fma(q, r, 2.7557268459997064e-06);
    q = fma(q, r, 2.4801521295954376e-05);
    q = fma(q, r, 0.00019841269863053618);
    q = fma(q, r, 0.0013888888917213717);
    q = fma(q, r, 0.0083333333333300615);
    q = fma(q, r, 0.041666666666624129);
    q = fma(q, r, 0.16666666666666669);
    q = fma(q, r, 0.50000000000000011);
    double er = 1.0 + fma(r * r, q, r);
    uint64_t bits;
    memcpy(&bits, &kd, sizeof bits);
    bits = (bits - UINT64_C(0x4338000000000000) + 1023) << 52; /* (k + 1023) << 52 */
    double two_k;
    memcpy(&two_k, &bits, sizeof two_k);
    return er * two_k;
}

/* Phi(z) and Q(z) = 1 - Phi(z), the smaller of the two (the tail on z's side)
 * to a relative error of a few ulp: tail = phi(z) M(|z|) with the Mills ratio
 * M from a fitted piecewise polynomial for |z| < 10.5 (one exp and a
 * degree-12 Horner, several times faster than erfc), erfc beyond. */
void bfn_norm_cdf2(double z, double *lower, double *upper);
static inline double bfn_norm_pdf(double z) { return BFN_INV_SQRT_2PI * exp(-0.5 * z * z); }

/* Bin of x: clamp(floor((x/2 + 0.5) K), 0, K-1) (paper/NOTES.md §4.4 index map;
 * NaN -> 0). */
static inline int bfn_bin_index(double x, int K) {
    double v = floor((0.5 * x + 0.5) * K);
    if (!(v > 0.0)) return 0;
    if (v > K - 1) return K - 1;
    return (int)v;
}
/* Centre of bin k: -1 + (2k+1)/K. */
static inline double bfn_bin_centre(int k, int K) { return -1.0 + (2.0 * k + 1.0) / K; }
/* Interior boundary j (1..K-1): -1 + 2j/K, written as -1 + j (2/K) so a loop
 * over j hoists the division (exact for K a power of two). */
static inline double bfn_bin_boundary(int j, int K) { return -1.0 + j * (2.0 / K); }

/* Boundaries whose CDF is not 0 or 1 to within Q(BFN_DGAUSS_ZR) = 7.6e-24:
 * the j in [*jlo, *jhi] with |z_j| <= BFN_DGAUSS_ZR, clamped so that
 * 1 <= jlo <= K and 0 <= jhi <= K-1 (the range may be empty, jlo = jhi + 1).
 * Every boundary below the range has Phi = 0, above it Phi = 1 (error
 * <= 7.6e-24 absolute, far below every tolerance this is used for), so only
 * bins jlo-1 .. jhi can have non-zero probability. Requires finite mu, s > 0. */
#define BFN_DGAUSS_ZR 10.0
void bfn_dgauss_range(double mu, double s, int K, int *jlo, int *jhi);
/* The same for |z_j| <= zr, widened by `pad` boundaries on each side before
 * the clamp (bfn_dgauss_range is zr = BFN_DGAUSS_ZR, pad = 0). */
void bfn_dgauss_range_z(double mu, double s, int K, double zr, int pad, int *jlo, int *jhi);

/* p_k under N(mu, s^2) discretised to K bins with open edge bins, computed
 * directly with two CDF evaluations (no range cut). Requires s > 0. */
double bfn_dgauss_bin_prob(double mu, double s, int K, int k);
/* Phi, Q and phi at the boundaries j = jlo..jhi into lower[j], upper[j],
 * pdf[j] (arrays indexed by j, at least jhi+1 long). For runs of boundaries
 * closer than one std, phi comes from a restarted multiplicative recurrence
 * (relative error <= eps (48 + 2 z^2), tested). */
void bfn_dgauss_table(double mu, double s, int K, int jlo, int jhi, double *lower, double *upper, double *pdf);
/* For the boundaries j = jlo..jhi of a range from bfn_dgauss_range_z: phi(z_j)
 * into pdf[j], and into p[k] the masses of the bins k = jlo-1..jhi, with the
 * boundaries outside the range taken as Phi = 0 (below) and 1 (above), as
 * bfn_dgauss_table's users do (exact for the open edge bins; jhi < jlo gives
 * the single bin jlo-1 mass 1). Interior bins, for delta = h/s <= 1, from the
 * series p_k = phi(z) sum_i z^(2i) mu_2i/(2i)! at the bin centre z (all terms
 * positive: relative error a few ulp plus the z^2 eps every exp(-z^2/2)
 * carries, tested), otherwise from CDF differences. Vectorised (bfn_exp_vec).
 * Requires s > 0. */
void bfn_dgauss_masses(double mu, double s, int K, int jlo, int jhi, double *p, double *pdf);
/* All K bin probabilities into p[K] (range-cut: bins outside the range get
 * exactly 0; the others are accurate to ~1e-16 absolute). */
void bfn_dgauss_probs(double mu, double s, int K, double *p);
/* Output mean k_hat = sum_k p_k c_k and its derivatives d k_hat/d mu and
 * d k_hat/d s. By parts, k_hat = c_0 + h sum_{j=1}^{K-1} Q(z_j), so
 * d k_hat/d mu = (h/s) sum_j phi(z_j) and d k_hat/d s = (h/s) sum_j phi(z_j) z_j;
 * boundaries outside the range (bfn_dgauss_range) count Q = 1 below it and 0
 * above it. The in-range sums are Euler-Maclaurin sums with Hermite-polynomial
 * end corrections when the boundaries are dense (delta = h/s <= 0.479), O(1)
 * per call and exact to < 1e-17 absolute, and term by term otherwise (at
 * most ~42 boundaries then). See gauss.c. Requires finite mu, s > 0. */
double bfn_dgauss_mean(double mu, double s, int K, double *dk_dmu, double *dk_ds);
/* sum over the lattice u = ua, ua + delta, ..., ub of exp((uref^2 - u^2)/2),
 * i.e. of phi(u)/phi(uref), in O(1) by Euler-Maclaurin (gauss.c). Requires
 * 0 < delta <= BFN_EM_DELTA_MAX, a span ub - ua >= 1 (so the CDF difference
 * does not cancel), uref the lattice point nearest 0 and
 * |uref| <= BFN_LATTICE_UREF_MAX; then the relative error is < 2e-15
 * (tested). Points with |u| > BFN_LATTICE_U_CUT are left out (relative
 * contribution < 1e-24/delta). */
#define BFN_EM_DELTA_MAX 0.47902
#define BFN_LATTICE_UREF_MAX 3.7
#define BFN_LATTICE_U_CUT 12.0
double bfn_gauss_lattice_sum(double ua, double ub, double delta, double uref);
/* The same for n lattices of one spacing: sum[i] for (ua[i], ub[i], uref[i]),
 * vectorised over lattices (in blocks of BFN_LATTICE_LANES); each lattice
 * must meet the requirements above. P = bfn_lattice_em_terms(delta), the
 * number of Euler-Maclaurin terms (computed once by the caller). */
#define BFN_LATTICE_LANES 16
int bfn_lattice_em_terms(double delta);
void bfn_gauss_lattice_sum_n(int n, const double *ua, const double *ub, const double *uref, double delta, int P,
                             double *sum);
/* [CODE] DiscretizedCtsDistribution.log_prob for bin k: prob = p_k; if
 * prob < 1e-5 return ln N(c_k; mu, s) + ln(2/K) (density times bin width),
 * else ln max(prob, 1e-10). */
#define BFN_DGAUSS_MIN_PROB 1e-5
double bfn_dgauss_log_prob(double mu, double s, int K, int k);

#endif
