/* discretised.c: the discretised-data BFN family, K bins on [-1, 1] (paper
 * Sec. 5; paper/NOTES.md §4.1, §4.2, §4.4, [CODE] CtsBayesianFlow +
 * CtsBayesianFlowLoss with noise_pred=True and
 * DiscretizedNormalFactory(num_bins=K, clip=True)).
 *
 * Conventions (see family.h and gauss.h):
 *   x       a bin centre c_k = -1 + (2k+1)/K; every loss snaps x to the exact
 *           (double) centre of its bin, idx = clamp(floor((x/2+0.5)K), 0, K-1).
 *   theta   (mu, rho) per dimension, the same Gaussian flow as continuous data;
 *           network input mu (in_ch = 1).
 *   out     two values per dimension, interleaved (B, D, 2): (mu_eps, ln sigma_eps),
 *           a Gaussian prediction of the noise.
 *   output  mu_x = mu/gamma - sqrt((1-gamma)/gamma) mu_eps,
 *           sigma_x = sqrt((1-gamma)/gamma) exp(clamp(ln sigma_eps, -10, 10)),
 *           sigma_x clamped to [1e-3, 10]; for t < 1e-6, mu_x = 0, sigma_x = 1.
 *           p_O(k) = mass of N(mu_x, sigma_x^2) in bin k, edge bins open.
 * Only f->sched.beta / beta_prime are used (any registered schedule works).
 *
 * Losses per dimension (averaged over D per example):
 *   L^inf = (beta'(t)/2) (x - k_hat)^2, k_hat = sum_k p_k c_k.
 *   L^n   = n E_y[ln N(y|x,1/alpha) - ln sum_k w_k N(y|c_k,1/alpha)], y ~ N(x,1/alpha),
 *           by Monte Carlo with f->n_mc samples per dimension. The mixture
 *           weights follow [CODE] exactly as torch evaluates them: the
 *           Categorical(probs=p) inside MixtureSameFamily takes logits =
 *           ln clamp(p, eps, 1-eps) with eps = FLT_EPSILON (torch
 *           clamp_probs on float32 probabilities) and log_softmax's them, so
 *           w_k = q_k / sum_j q_j with q_k = clamp(p_k, eps, 1-eps). Bins whose
 *           p_k is clamped get zero gradient (as torch's clamp). The floor also
 *           bounds the loss when the true bin has vanishing mass. That is
 *           f->receiver_floor = 1 (default); 0 uses the exact masses w_k = p_k
 *           (the paper's equation), summed over every bin in log space, for
 *           evaluation only (no gradient; disc_loss_n_dim_exact).
 *   L^r   = -ln p_O(bin of x) at t (the paper's L^r is t = 1) with [CODE]'s
 *           small-probability fallback (gauss.h bfn_dgauss_log_prob).
 *
 * Performance:
 *   - L^inf needs only k_hat and its two derivatives, O(1) per dimension in
 *     most cases (gauss.h bfn_dgauss_mean): mu plus a Poisson-summed ripple
 *     when the output lies 10 std inside both edges (and sigma_x >= h/3),
 *     Euler-Maclaurin sums over the boundaries when they are dense
 *     (sigma_x >= 2.1 h), term by term only for narrow outputs near an edge
 *     or sigma_x < h/3 (<= ~42 terms).
 *   - L^n computes masses only for the bins within 5.25 std of mu_x (and one
 *     more boundary each side): every other bin has p_k < Q(5.25) = 7.6e-8 <
 *     eps and is floored by torch's clamp whatever its exact mass
 *     (boundary_table); the masses come from a positive series at each bin
 *     centre in one vectorised loop (gauss.h bfn_dgauss_masses).
 *   - per (dimension, sample) the mixture sum is split at the floor,
 *     S = eps sum_k E_k + sum_k (q_k - eps) E_k: the first sum is a Gaussian
 *     summed over the K equally spaced centres, in closed form
 *     (bfn_gauss_lattice_sum_n; floor_sum's walk where that does not apply);
 *     the second runs only over the bins above the floor (about +-5.3
 *     sigma_x) within reach of the cut (cut_window), with the Gaussian
 *     factors E_k = exp(-a ((y-c_k)^2 - d0^2)/2) (relative to the bin j0
 *     nearest y, so E_k <= 1) built by a restarted multiplicative recurrence
 *     along the bins (centres are equally spaced; mixture_lanes). The factors
 *     below e^-56 may be left out. Proof that this cut is negligible: every
 *     weight satisfies eps <= q_k <= 1, so the sum S >= eps E_j0 = eps =
 *     e^-15.9, and the at most K <= 4096 = e^8.3 omitted terms change S by a
 *     relative <= e^(8.3-56+15.9) = 1.6e-14 (ln S by as much) and each
 *     omitted bin's gradient term E_k/S by at most e^-56/eps = 4e-18 in
 *     absolute value (the retained terms are O(1)).
 *   - the n_mc samples of a dimension go MC_LANES at a time through the
 *     same code (floor sums, recurrence, sums and the gradient accumulation
 *     acc_k = sum_m E_mk / S_m), one sample per vector lane: the bins are
 *     walked once per group over the union of the samples' windows, and
 *     nothing branches per bin or per sample.
 *   - one pass per dimension computes bin masses, the floor and the
 *     normalisation; the groups share them; a final pass over the
 *     in-range boundaries turns the per-bin gradient into d/d(mu_x, sigma_x).
 *   Per-thread workspace of O(K MC_LANES) doubles is allocated once per call.
 * The Monte Carlo noise is drawn sequentially before the parallel loop, in
 * (b, d, sample) order, so results do not depend on the thread count.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_sf_erf.h>

#include "bfn/family.h"
#include "bfn/gauss.h"
#include "util/err.h"

#define DISC_MAX_K 4096
#define DISC_STD_MIN 1e-3    /* [CODE] min_std_dev */
#define DISC_STD_MAX 10.0    /* [CODE] max_std_dev */
#define DISC_LOG_CLAMP 10.0  /* [CODE] safe_exp clamps its input to [-10, 10] */
#define MIX_FLOOR ((double)FLT_EPSILON) /* torch clamp_probs on float32 */
#define WALK_LOG_CUT 56.0    /* stop the mixture walk below e^-56 (see above) */
#define MC_LANES 12          /* Monte Carlo samples per vectorised group (<= BFN_LATTICE_LANES) */

/* ---- output distribution ------------------------------------------------------ */

/* (mu_x, sigma_x) of one dimension and their derivatives w.r.t. the two
 * network outputs (zero where a clamp is active or t < 1e-6). */
typedef struct {
    double mu, s;
    double dmu; /* d mu_x / d mu_eps */
    double ds;  /* d sigma_x / d ln sigma_eps */
} disc_out;

static inline disc_out disc_output(const bfn_noise_pred *np, double mu_in, double mu_eps, double ln_sig) {
    disc_out o = {0.0, 1.0, 0.0, 0.0};
    if (np->zero) return o;
    o.mu = np->a * mu_in - np->b * mu_eps;
    o.dmu = -np->b;
    double l = ln_sig, dl = 1.0;
    if (l < -DISC_LOG_CLAMP) { l = -DISC_LOG_CLAMP; dl = 0.0; }
    else if (l > DISC_LOG_CLAMP) { l = DISC_LOG_CLAMP; dl = 0.0; }
    o.s = np->b * exp(l);
    o.ds = o.s * dl;
    if (o.s < DISC_STD_MIN) { o.s = DISC_STD_MIN; o.ds = 0.0; }
    else if (o.s > DISC_STD_MAX) { o.s = DISC_STD_MAX; o.ds = 0.0; }
    return o;
}

/* Exact centre of the bin holding x. */
static inline double snap_centre(double x, int K) { return bfn_bin_centre(bfn_bin_index(x, K), K); }

/* ---- per-thread workspace ------------------------------------------------------- */

typedef struct {
    double *pdf;                 /* [K+1]: phi at boundary j (in range only) */
    double *p;                   /* [K]: bin masses (bins jlo-1..jhi of the range only) */
    double *qx;                  /* [K]: q_k - MIX_FLOOR (mixture weight above the floor), set in [nl, nh] */
    double *acc;                 /* [K]: sum over samples of E_k / S */
    double *e;                   /* [K MC_LANES]: E_k of the current group of samples (mixture_lanes) */
    double *ones, *e_floor;      /* [K]: all 1 (weights of the floor walk) and its E_k */
    double *live;                /* [K]: 1 if p_k is strictly inside (eps, 1 - eps), else 0 */
    double *gk;                  /* [K]: d loss / d p_k (the gradient pass) */
} disc_ws;

static void ws_alloc(disc_ws *w, int K) {
    double *buf = bfn_xmalloc(((size_t)K + 1 + (5 + MC_LANES) * (size_t)K) * sizeof *buf);
    w->pdf = buf;
    w->p = buf + K + 1;
    w->qx = w->p + K;
    w->acc = w->qx + K;
    w->e = w->acc + K;
    w->ones = w->e + (size_t)K * MC_LANES;
    w->e_floor = w->ones + K;
    w->live = bfn_xmalloc(2 * (size_t)K * sizeof *w->live);
    w->gk = w->live + K;
    for (int k = 0; k < K; k++) w->ones[k] = 1.0;
}

static void ws_free(disc_ws *w) {
    free(w->pdf);
    free(w->live);
}

/* Bin masses p_k (k = jlo-1..jhi) and phi at the boundaries j = jlo..jhi of
 * the L^n range: the boundaries with |z_j| <= LN_ZR and one more on each
 * side. A bin outside [jlo-1, jhi] lies beyond a boundary with |z| > LN_ZR,
 * so its mass is below Q(LN_ZR) = 7.6e-8 < MIX_FLOOR = 1.19e-7: torch's
 * clamp sets it to the floor whatever its exact value, and it gets no
 * gradient. The padding
 * gives the two bins that straddle |z| = LN_ZR both their boundaries, so
 * every bin that can be above the floor has its exact mass (the outermost
 * bins jlo-1 and jhi, with one boundary beyond the range taken as Phi = 0 / 1,
 * have mass < Q(LN_ZR) either way and are floored; the open edge bins are
 * exact). */
#define LN_ZR 5.25
static void boundary_table(disc_ws *w, double mu, double s, int K, int *jlo, int *jhi) {
    bfn_dgauss_range_z(mu, s, K, LN_ZR, 1, jlo, jhi);
    bfn_dgauss_masses(mu, s, K, *jlo, *jhi, w->p, w->pdf);
}

/* ---- L^n: the fused Monte Carlo mixture kernel ------------------------------------- */

/* Per-example constants of the mixture walk (accuracy a, bin width h). */
#define LANES 8
typedef struct {
    double a, h;
    double c1, c64;     /* exp(-a h^2), exp(-LANES^2 a h^2) */
    double cut;         /* exp(-WALK_LOG_CUT) */
    double cpow[LANES]; /* c1^(l(l+1)/2), l = 0..LANES-1 (head of walk_dir) */
    double c8pow[LANES]; /* c8^l, c8 = exp(-LANES a h^2) */
    double c1_tri;      /* c1^(LANES(LANES+1)/2) */
    double sa, du;      /* sqrt(a) and du = h sqrt(a), the spacing of u_k = (c_k - y) sqrt(a) */
    double cut_half;    /* sqrt(2 WALK_LOG_CUT / a): reach of the cut in y (cut_window) */
    int floor_em;       /* floor sums in closed form (floor_sum) */
    int em_terms;       /* their Euler-Maclaurin terms, bfn_lattice_em_terms(du) */
} walk_consts;

static walk_consts walk_consts_for(double a, int K) {
    walk_consts c;
    c.a = a;
    c.h = 2.0 / K;
    c.c1 = exp(-a * c.h * c.h);
    c.c64 = exp(-LANES * LANES * a * c.h * c.h);
    c.cut = exp(-WALK_LOG_CUT);
    for (int l = 0; l < LANES; l++) {
        c.cpow[l] = exp(-a * c.h * c.h * (0.5 * l * (l + 1)));
        c.c8pow[l] = exp(-a * c.h * c.h * (LANES * l));
    }
    c.c1_tri = exp(-a * c.h * c.h * (0.5 * LANES * (LANES + 1)));
    c.sa = sqrt(a);
    c.cut_half = sqrt(2.0 * WALK_LOG_CUT / a);
    c.du = c.h * c.sa;
    /* bfn_gauss_lattice_sum's conditions on the spacing and on the span of
     * the K centres in u (>= 1, so its CDF difference does not cancel) */
    c.floor_em = c.du <= BFN_EM_DELTA_MAX && (K - 1) * c.du >= 1.0;
    c.em_terms = c.floor_em ? bfn_lattice_em_terms(c.du) : 0;
    return c;
}

/* One direction of the mixture walk: sum over m = 1..avail of
 * q[j0 + dir m] E(m), where E(m) = exp(a h dd m - a h^2 m^2/2) is the Gaussian
 * factor of bin j0 + dir m relative to bin j0 (dd = dir d0; r = E(1) <= 1 as
 * the walk always runs away from y), storing E(m) in e[j0 + dir m]; the last
 * m walked goes to *m_last. Stops before the first E(m) < cut (E decreases in
 * m; the cut is justified at the top of the file).
 * No step depends on the previous one, so the compiler vectorises them:
 *   - the first LANES bins directly, E(m) = r^m c1^(m(m-1)/2), with r^m from
 *     a product tree of depth 3 and c1^(m(m-1)/2) from walk_consts;
 *   - beyond that, LANES independent recurrences E(m+L) = E(m) R(m),
 *     R(m+L) = R(m) c64, R(m) = E(m+L)/E(m) = r^L c1^(L(L+1)/2 + L(m-1)),
 *     advance a block of LANES bins at a time.
 * Rounding: E(m) is a product of <= m/LANES + 5 factors, each with relative
 * error ~1 ulp growing linearly along the chain, so |rel err| <~
 * (K/LANES)^2 ulp: 1e-13 at K = 256, 3e-11 at K = 4096. The blocks add up in
 * per-lane partial sums in a fixed order (bitwise reproducible). */
static double walk_dir(const double *restrict q, double *restrict e, int j0, int dir, int avail, double dd, double r,
                       const walk_consts *c, int *m_last) {
    const double a = c->a, h = c->h;
    double S = 0.0;
    int head = avail < LANES ? avail : LANES;
    /* head: E(1 + l) = r^(1+l) c1^(l(l+1)/2), l = 0..LANES-1 */
    double rp[LANES], E[LANES], R[LANES], Sl[LANES];
    rp[0] = r;
    rp[1] = r * r;
    rp[2] = rp[1] * r;
    rp[3] = rp[1] * rp[1];
    for (int l = 0; l < 4; l++) rp[4 + l] = rp[3] * rp[l];
    for (int l = 0; l < LANES; l++) E[l] = rp[l] * c->cpow[l];
    int n = 0;
    while (n < head && E[n] >= c->cut) n++;
    for (int l = 0; l < n; l++) {
        int k = j0 + dir * (1 + l);
        e[k] = E[l];
        S += q[k] * E[l];
    }
    if (n < LANES || n == avail) { *m_last = n; return S; }

    /* m = LANES + 1: the lanes start from the head, E(m - LANES + l) = E(1 + l),
     * R(1 + l) = r^L c1^(L(L+1)/2) c8^l. */
    int m = LANES + 1;
    for (int l = 0; l < LANES; l++) {
        R[l] = rp[LANES - 1] * c->c1_tri * c->c8pow[l];
        Sl[l] = 0.0;
    }
    int done = 0;
    if (dir > 0) {
        for (; m + LANES - 1 <= avail; m += LANES) {
            double *ek0 = e + j0 + m;
            const double *qk0 = q + j0 + m;
            if (E[0] * R[0] < c->cut) { done = 1; break; } /* the whole block and beyond */
            for (int l = 0; l < LANES; l++) {
                E[l] *= R[l];
                R[l] *= c->c64;
                ek0[l] = E[l];
                Sl[l] += qk0[l] * E[l];
            }
        }
    } else {
        for (; m + LANES - 1 <= avail; m += LANES) {
            double *ek0 = e + j0 - m - (LANES - 1); /* bins j0-m-7 .. j0-m */
            const double *qk0 = q + j0 - m - (LANES - 1);
            if (E[0] * R[0] < c->cut) { done = 1; break; }
            for (int l = 0; l < LANES; l++) {
                E[l] *= R[l];
                R[l] *= c->c64;
                ek0[LANES - 1 - l] = E[l];
                Sl[l] += qk0[LANES - 1 - l] * E[l];
            }
        }
    }
    for (int l = 0; l < LANES; l++) S += Sl[l];
    if (!done && m <= avail) {
        /* fewer than LANES bins before the edge: scalar again from E(m-1) */
        double ek = E[LANES - 1];
        r = exp(a * h * dd - 0.5 * a * h * h * (2.0 * m - 1.0));
        for (; m <= avail; m++) {
            ek *= r;
            if (ek < c->cut) break;
            r *= c->c1;
            int k = j0 + dir * m;
            e[k] = ek;
            S += q[k] * ek;
        }
    }
    *m_last = m - 1;
    return S;
}

/* First ratios E(1) of the two walk directions from a bin at offset d = y - c
 * (walk_dir): exp(a h d - a h^2/2) up and exp(-a h d - a h^2/2) down; they
 * multiply to c1 = exp(-a h^2), which saves an exp unless one underflows. */
static inline void walk_ratios(const walk_consts *wc, double d, double *r_up, double *r_dn) {
    double half_ah2 = 0.5 * wc->a * wc->h * wc->h;
    *r_up = exp(wc->a * wc->h * d - half_ah2);
    *r_dn = *r_up > 1e-300 && wc->c1 > 1e-300 ? wc->c1 / *r_up : exp(-wc->a * wc->h * d - half_ah2);
}

/* The floor part of the mixture sum, F = sum over all K bins of
 * E_k = exp(-a ((y - c_k)^2 - d0^2)/2) (E_j0 = 1, d0 = y - c_j0). With
 * u_k = (c_k - y) sqrt(a) this is sum_k phi(u_k)/phi(u_j0) over a lattice of
 * spacing du, in closed form by bfn_gauss_lattice_sum (relative error < 2e-15)
 * when du <= 0.479 and y lies within 3.7 std of the centres (u_j0 is the
 * lattice point nearest 0); otherwise the walk over unit weights (at most
 * 2 (10.6/du + 1) bins, or far fewer when y lies far outside). */
static double floor_sum(disc_ws *w, int K, double y, int j0, double d0, const walk_consts *wc) {
    double uref = -d0 * wc->sa;
    if (wc->floor_em && fabs(uref) <= BFN_LATTICE_UREF_MAX)
        return bfn_gauss_lattice_sum((bfn_bin_centre(0, K) - y) * wc->sa, (bfn_bin_centre(K - 1, K) - y) * wc->sa,
                                     wc->du, uref);
    double r_up, r_dn;
    int m_up, m_dn;
    walk_ratios(wc, d0, &r_up, &r_dn);
    return 1.0 + walk_dir(w->ones, w->e_floor, j0, +1, K - 1 - j0, d0, r_up, wc, &m_up) +
           walk_dir(w->ones, w->e_floor, j0, -1, j0, -d0, r_dn, wc, &m_dn);
}

/* The bins of [nl, nh] whose Gaussian factor relative to bin j0 (the bin
 * nearest y, d0 = y - c_j0), E_k = exp(-a ((y - c_k)^2 - d0^2)/2), can reach
 * the cut e^-WALK_LOG_CUT lie within |y - c_k| <= sqrt(2 WALK_LOG_CUT/a + d0^2)
 * <= wc->cut_half + |d0|; the bins of a group of samples are the union of
 * these intervals, [ylo, yhi] in y, widened by one bin each side against
 * rounding (extra bins only add terms below the cut). Bounds are clamped in
 * double before the int conversion (y and the half-width may be huge for
 * tiny a). Empty (*wlo > *whi) when no bin of [nl, nh] is near enough. */
static inline void cut_window(int K, double ylo, double yhi, int nl, int nh, int *wlo, int *whi) {
    double inv_h = 0.5 * K;
    double lo = floor((ylo + 1.0) * inv_h - 0.5) - 1.0, hi = ceil((yhi + 1.0) * inv_h - 0.5) + 1.0;
    if (!(lo >= nl)) lo = nl;
    if (!(hi <= nh)) hi = nh;
    if (lo > nh + 1) lo = nh + 1;
    if (hi < nl - 1) hi = nl - 1;
    *wlo = (int)lo;
    *whi = (int)hi;
}

/* ---- the mixture sum above the floor, MC_LANES samples at a time -------------------- */

/* The n_mc samples of a dimension are processed in groups of MC_LANES (the
 * last group padded with lanes that count for nothing), so that the work per
 * bin is a short fixed-length loop over lanes that the compiler vectorises
 * (3 AVX2 vectors), and the bins are shared: the group walks the union of
 * its lanes' cut windows once. */
/* Gaussian factors along a row of bins by the exact recurrence
 * E(k+1) = E(k) R(k), R(k+1) = R(k) c1, c1 = exp(-a h^2), restarted from
 * direct exps every n bins, n = min(REC_RUN, REC_REACH/du) (rounding
 * <= ~n^2/2 ulp, 2.6e-13 at n = 48). A lane whose exponent at a run's start
 * is below REC_START_MIN counts (almost) 0 for the whole run: its ln E is a
 * concave parabola in k with curvature du^2 = a h^2, so from ln E(k0) = -X
 * <= -650 it rises over n bins by at most du n sqrt(2X) (the peak lies
 * >= sqrt(2X)/du bins away, as ln E <= 0); with du n <= REC_REACH = 16 every
 * value of the run stays below e^(-X + 16 sqrt(2X)) <= e^-73, under the cut.
 * (du >= 16: one bin per run, direct exps only.) The start keeps the
 * recurrence away from underflow, where it would lose the values that follow. */
#define REC_RUN 48
#define REC_REACH 16.0
#define REC_START_MIN (-650.0)
#define REC_DEAD (-550.0)

/* Per-lane data of one group: y, d0 = y - c_j0 (j0 the bin nearest y), j0 as
 * a double, and the lane's mixture sum S. */
typedef struct {
    double y[MC_LANES], d0[MC_LANES], j0[MC_LANES], S[MC_LANES], f[MC_LANES];
} mc_lanes;

/* A run's E, R and S stay in registers across bins as lane4 vectors (gauss.h). */
_Static_assert(MC_LANES == 12, "mixture_lanes and accumulate_lanes hold MC_LANES as three lane4 vectors");

/* Adds sum_k qx_k E_k over the bins ulo..uhi to each lane's S and stores
 * E_k (relative to the lane's bin j0, so <= 1) in eb[(k - ulo) MC_LANES + l].
 * The exponent ln E_k = -a (c_j0 - c_k)((y - c_k) + d0)/2 has no cancellation
 * ((c_j0 - c_k) = (j0 - k) h is exact); ln R(k) = a h (y - c_k) - a h^2/2 is
 * clamped at 700 (only reached in lanes that count 0; elsewhere
 * R <= 1/E(k0) <= e^650). */
static void mixture_lanes(const double *restrict qx, double *restrict eb, int K, mc_lanes *g, int ulo, int uhi,
                          double a, double lo) {
    const double h = 2.0 / K, du2 = a * h * h, c1 = exp(-du2), ha = -0.5 * a * h;
    /* run-time bounds: with literal ones GCC 12 does not vectorise the selects (vecmath.h) */
    volatile double v_start = REC_START_MIN, v_rmax = 700.0, v_dead = REC_DEAD, v_zero = 0.0;
    const double start_min = v_start, rmax = v_rmax, dead = v_dead, zero = v_zero;
    const double du = sqrt(du2);
    const int run = du * REC_RUN <= REC_REACH ? REC_RUN : du >= REC_REACH ? 1 : (int)(REC_REACH / du);
    lane4 S0 = {0.0, 0.0, 0.0, 0.0}, S1 = S0, S2 = S0;
    for (int k0 = ulo; k0 <= uhi; k0 += run) {
        int k1 = k0 + run - 1 < uhi ? k0 + run - 1 : uhi;
        double R[MC_LANES], y1k = 1.0 - (k0 + 0.5) * h; /* y - c_k0 = y + y1k */
        double *restrict e0 = eb + (size_t)(k0 - ulo) * MC_LANES;
        /* A lane starting below REC_START_MIN starts at e^REC_DEAD with R = 1
         * instead: its values stay in [e^-686, e^-550], negligible and normal
         * numbers (no denormal slow path). */
#pragma omp simd
        for (int l = 0; l < MC_LANES; l++) {
            double dk = g->y[l] + y1k, x = ha * (g->j0[l] - k0) * (dk + g->d0[l]);
            double xr = a * h * dk - 0.5 * du2;
            xr = xr < rmax ? xr : rmax;
            xr = x >= start_min ? xr : zero;
            x = x >= start_min ? x : dead;
            e0[l] = bfn_exp_vec(x, lo);
            R[l] = bfn_exp_vec(xr, lo);
        }
        /* the run in registers: three vectors of four lanes each for E, R and S */
        lane4 E0 = lane4_load(e0), E1 = lane4_load(e0 + 4), E2 = lane4_load(e0 + 8);
        lane4 R0 = lane4_load(R), R1 = lane4_load(R + 4), R2 = lane4_load(R + 8);
        lane4 q = lane4_splat(qx[k0]);
        S0 = lane4_fma(q, E0, S0);
        S1 = lane4_fma(q, E1, S1);
        S2 = lane4_fma(q, E2, S2);
        for (int k = k0 + 1; k <= k1; k++) {
            double *restrict ek = eb + (size_t)(k - ulo) * MC_LANES;
            E0 *= R0;
            E1 *= R1;
            E2 *= R2;
            R0 *= c1;
            R1 *= c1;
            R2 *= c1;
            lane4_store(ek, E0);
            lane4_store(ek + 4, E1);
            lane4_store(ek + 8, E2);
            q = lane4_splat(qx[k]);
            S0 = lane4_fma(q, E0, S0);
            S1 = lane4_fma(q, E1, S1);
            S2 = lane4_fma(q, E2, S2);
        }
    }
    double Sl[MC_LANES];
    lane4_store(Sl, S0);
    lane4_store(Sl + 4, S1);
    lane4_store(Sl + 8, S2);
    for (int l = 0; l < MC_LANES; l++) g->S[l] += Sl[l];
}

/* acc_k += sum_l E_lk f_l over the bins ulo..uhi (lanes summed in a fixed
 * order: three vectors of four, then the four partial sums as a tree). */
static void accumulate_lanes(double *restrict acc, const double *restrict eb, const double *restrict f, int ulo,
                             int uhi) {
    const lane4 f0 = lane4_load(f), f1 = lane4_load(f + 4), f2 = lane4_load(f + 8);
    int k = ulo;
    /* four bins at a time: their four lane4 partial sums transposed and
     * added pairwise, the same tree as the scalar tail below */
    const long4 ev = {0, 4, 2, 6}, od = {1, 5, 3, 7}, lo2 = {0, 1, 4, 5}, hi2 = {2, 3, 6, 7};
    for (; k + 3 <= uhi; k += 4) {
        const double *ek = eb + (size_t)(k - ulo) * MC_LANES;
        lane4 v[4];
        for (int i = 0; i < 4; i++, ek += MC_LANES)
            v[i] = lane4_fma(lane4_load(ek + 8), f2, lane4_fma(lane4_load(ek + 4), f1, lane4_load(ek) * f0));
        /* a = (v0_0 + v0_1, v1_0 + v1_1, v0_2 + v0_3, v1_2 + v1_3), b likewise for v2, v3 */
        lane4 a = __builtin_shuffle(v[0], v[1], ev) + __builtin_shuffle(v[0], v[1], od);
        lane4 b = __builtin_shuffle(v[2], v[3], ev) + __builtin_shuffle(v[2], v[3], od);
        lane4 sum = __builtin_shuffle(a, b, lo2) + __builtin_shuffle(a, b, hi2);
        lane4_store(acc + k, lane4_load(acc + k) + sum);
    }
    for (; k <= uhi; k++) {
        const double *ek = eb + (size_t)(k - ulo) * MC_LANES;
        lane4 v = lane4_fma(lane4_load(ek + 8), f2, lane4_fma(lane4_load(ek + 4), f1, lane4_load(ek) * f0));
        acc[k] += (v[0] + v[1]) + (v[2] + v[3]);
    }
}

/* Per lane of a group (vectorised; eps el[l], 0 in padding lanes): y, its
 * bin j0 (clamped to the edge bins, as a double), d0 = y - c_j0 (no
 * division), the floor lattice's ends and reference point in units of
 * 1/sqrt(a) (fa, fb, fr), and the lane's cut interval in y. */
static void lanes_setup(mc_lanes *restrict g, const double *restrict el, double xc, double sd, int K,
                        const walk_consts *wc, double *restrict fa, double *restrict fb, double *restrict fr,
                        double *restrict ylo, double *restrict yhi) {
    /* run-time bounds: with literal ones GCC 12 does not vectorise the clamps (vecmath.h) */
    volatile double v_zero = 0.0, v_one = 1.0, v_klast = K - 1;
    const double zero = v_zero, one = v_one, k_last = v_klast, magic = 6755399441055744.0, h = 2.0 / K, inv_h = 0.5 * K, sa = wc->sa, ch = wc->cut_half;
    const double c_first = -1.0 + 0.5 * h, c_last = -1.0 + (K - 0.5) * h;
#pragma omp simd
    for (int l = 0; l < MC_LANES; l++) {
        double y = xc + el[l] * sd;
        /* floor by the 1.5 2^52 rounding trick (GCC 12 does not vectorise
         * floor() under the default -ftrapping-math), exact for |t| < 2^51;
         * larger |t| are clamped below anyway */
        double t = (y + 1.0) * inv_h, v = (t + magic) - magic;
        v -= v > t ? one : zero;
        v = v > zero ? v : zero; /* NaN-safe: a NaN y gives j0 = 0 */
        v = v < k_last ? v : k_last;
        double d0 = y - (-1.0 + (v + 0.5) * h);
        g->y[l] = y;
        g->d0[l] = d0;
        g->j0[l] = v;
        fa[l] = (c_first - y) * sa;
        fb[l] = (c_last - y) * sa;
        fr[l] = -d0 * sa;
        double half = ch + fabs(d0);
        ylo[l] = y - half;
        yhi[l] = y + half;
    }
}

/* Mean over the n_mc samples y = xc + eps_m / sqrt(a) of
 *   ln N(y|xc,1/a) - ln sum_k w_k N(y|c_k,1/a),
 * and its derivatives w.r.t. mu_x and sigma_x in *g_mu, *g_s.
 * wc holds the per-example walk constants. Requires finite mu, s > 0, a > 0.
 *
 * The mixture sum is split at the torch floor: with q_k = MIX_FLOOR + qx_k,
 *   S = sum_k q_k E_k = MIX_FLOOR F + sum_{k in [nl, nh]} qx_k E_k,
 * where F = sum over all bins of E_k (floor_sum, O(1) per sample) and
 * [nl, nh] is the smallest bin range holding every weight above the floor
 * (about +-5.3 sigma_x wide: a bin further out has p_k < MIX_FLOOR). Only
 * that range is walked, and only its live bins need E_k for the gradient.
 * The walk starts at jn, the bin of [nl, nh] nearest y, with E relative to
 * jn; scale = E_jn (relative to j0) converts. The walk's cut is relative to
 * jn, and scale <= 1, so every omitted term is < e^-56 relative to
 * E_j0 = 1 <= F, and the proof at the top of the file applies unchanged
 * (S >= MIX_FLOOR F >= MIX_FLOOR); if scale itself is below the cut the range
 * is skipped. */
static double disc_loss_n_dim(disc_ws *w, int K, double mu, double s, double xc, const walk_consts *wc,
                              const double *eps, int n_mc, double *g_mu, double *g_s) {
    const double a = wc->a;
    int jlo, jhi;
    boundary_table(w, mu, s, K, &jlo, &jhi);
    int kl = jlo - 1, kh = jhi; /* bins whose mass may exceed the floor */

    /* Bin masses, the torch floor, the normaliser sum_k q_k and [nl, nh]. */
    double sq = MIX_FLOOR * (K - (kh - kl + 1));
    {
        volatile double v_fl = MIX_FLOOR, v_fh = 1.0 - MIX_FLOOR, v_zero = 0.0, v_one = 1.0;
        const double fl = v_fl, fh = v_fh, zero = v_zero, one = v_one;
        double *restrict qx = w->qx, *restrict live = w->live, *restrict acc = w->acc;
        const double *restrict pk = w->p;
#pragma omp simd reduction(+ : sq)
        for (int k = kl; k <= kh; k++) {
            double p = pk[k];
            double q = p > fl ? p : fl;
            q = q < fh ? q : fh;
            live[k] = p > fl && p < fh ? one : zero;
            qx[k] = q - fl;
            acc[k] = 0.0;
            sq += q;
        }
    }
    int nl = kl, nh = kh; /* the bins above the floor, [nl, nh] (empty: nl > nh) */
    while (nl <= kh && !(w->qx[nl] > 0.0)) nl++;
    while (nh >= nl && !(w->qx[nh] > 0.0)) nh--;

    /* One floor sum and one walk over [nl, nh] per sample. The logs of the
     * sums are taken once per dimension from their product (rescaled long
     * before it could leave the double range: each factor lies in [eps, K]). */
    const double sd = 1.0 / sqrt(a), lo = bfn_exp_vec_lo();

    double total = 0.0, log_sum = 0.0, prod = 1.0;
    mc_lanes g;
    double fa[MC_LANES], fb[MC_LANES], fr[MC_LANES], fs[MC_LANES];
    for (int m0 = 0; m0 < n_mc; m0 += MC_LANES) {
        int nl_g = n_mc - m0 < MC_LANES ? n_mc - m0 : MC_LANES;
        int ulo = nh + 1, uhi = nl - 1;          /* union of the lanes' cut windows */
        double ylo = INFINITY, yhi = -INFINITY; /* the same in y */
        double el[MC_LANES], ylo_l[MC_LANES], yhi_l[MC_LANES];
        for (int l = 0; l < MC_LANES; l++) el[l] = l < nl_g ? eps[m0 + l] : 0.0;
        lanes_setup(&g, el, xc, sd, K, wc, fa, fb, fr, ylo_l, yhi_l);
        for (int l = 0; l < nl_g; l++) {
            /* ln N(y|xc) - ln sum_k (q_k/sq) N(y|c_k): the Gaussian normalisers cancel,
             * -a (y-xc)^2/2 = -eps^2/2, and ln sum_k q_k exp(-a(y-c_k)^2/2) = ln S - a d0^2/2. */
            total += -0.5 * el[l] * el[l] + 0.5 * a * g.d0[l] * g.d0[l];
            ylo = ylo_l[l] < ylo ? ylo_l[l] : ylo;
            yhi = yhi_l[l] > yhi ? yhi_l[l] : yhi;
        }
        if (nl <= nh) cut_window(K, ylo, yhi, nl, nh, &ulo, &uhi);
        /* the floor sums: closed form for the whole group where it applies
         * (floor_sum's test), the walk over unit weights elsewhere */
        if (wc->floor_em) bfn_gauss_lattice_sum_n(nl_g, fa, fb, fr, wc->du, wc->em_terms, fs);
        for (int l = 0; l < nl_g; l++) {
            int closed = wc->floor_em && fabs(fr[l]) <= BFN_LATTICE_UREF_MAX;
            double F = closed ? fs[l] : floor_sum(w, K, g.y[l], (int)g.j0[l], g.d0[l], wc);
            g.S[l] = MIX_FLOOR * F;
        }
        for (int l = nl_g; l < MC_LANES; l++) g.S[l] = 0.0; /* padding lanes */
        if (ulo <= uhi) mixture_lanes(w->qx, w->e, K, &g, ulo, uhi, a, lo);
        for (int l = 0; l < nl_g; l++) {
            prod *= g.S[l];
            if (prod < 1e-250 || prod > 1e250) {
                log_sum += log(prod);
                prod = 1.0;
            }
        }
        lane4_store(g.f, 1.0 / lane4_load(g.S));
        lane4_store(g.f + 4, 1.0 / lane4_load(g.S + 4));
        lane4_store(g.f + 8, 1.0 / lane4_load(g.S + 8));
        for (int l = nl_g; l < MC_LANES; l++) g.f[l] = 0.0; /* padding lanes (S = 0) count for nothing */
        if (ulo <= uhi) accumulate_lanes(w->acc, w->e, g.f, ulo, uhi);
    }
    double loss = (total - log_sum - log(prod)) / n_mc + log(sq);

    /* d loss / d p_k = 1/sq - acc_k/n_mc for live bins (0 where clamped), then
     * through p_k = Q(z_k) - Q(z_{k+1}): by parts,
     * d/dmu = (1/s) sum_j phi_j (g_j - g_{j-1}), d/ds = (1/s) sum_j phi_j z_j (g_j - g_{j-1}). */
    const double inv_sq = 1.0 / sq, inv_n = 1.0 / n_mc, inv_s = 1.0 / s;
    double gm = 0.0, gs = 0.0;
    double *restrict gk = w->gk;
    const double *restrict live = w->live, *restrict acc = w->acc, *restrict pdf = w->pdf;
#pragma omp simd
    for (int k = kl; k <= kh; k++) gk[k] = live[k] * (inv_sq - acc[k] * inv_n);
    /* four partial sums per derivative (lane4), then a tree: fixed order */
    const double b0 = (bfn_bin_boundary(0, K) - mu) * inv_s, dz = (2.0 / K) * inv_s;
    lane4 vm = {0.0, 0.0, 0.0, 0.0}, vs = vm, jv = {0.0, 1.0, 2.0, 3.0};
    int j = jlo;
    for (; j + 3 <= jhi; j += 4) {
        lane4 z = b0 + (jv + (double)j) * dz, dg = lane4_load(gk + j) - lane4_load(gk + j - 1);
        lane4 pd = lane4_load(pdf + j) * dg;
        vm += pd;
        vs = lane4_fma(pd, z, vs);
    }
    gm = (vm[0] + vm[1]) + (vm[2] + vm[3]);
    gs = (vs[0] + vs[1]) + (vs[2] + vs[3]);
    for (; j <= jhi; j++) {
        double z = b0 + j * dz, dg = gk[j] - gk[j - 1];
        gm += pdf[j] * dg;
        gs += pdf[j] * z * dg;
    }
    *g_mu = gm * inv_s;
    *g_s = gs * inv_s;
    return loss;
}

/* ln of the mass of N(mu, s^2) in bin k (edge bins open), accurate however
 * far the bin lies in a tail: ln(Q(z_lo) - Q(z_hi)) = ln Q(z_lo) +
 * ln(1 - Q(z_hi)/Q(z_lo)) in the upper tail, mirrored in the lower one,
 * with ln Q(z) = ln(erfc(z/sqrt 2)/2) from gsl_sf_log_erfc. */
static double log_bin_mass(double mu, double s, int k, int K) {
    double zl = k == 0 ? -INFINITY : (bfn_bin_boundary(k, K) - mu) / s;
    double zh = k == K - 1 ? INFINITY : (bfn_bin_boundary(k + 1, K) - mu) / s;
    if (zl > 0.0 || (zh > 0.0 && -zl < zh)) { /* mostly upper tail: Q(zl) - Q(zh) */
        double lql = isinf(zl) ? 0.0 : -M_LN2 + gsl_sf_log_erfc(zl / M_SQRT2);
        double lqh = isinf(zh) ? -INFINITY : -M_LN2 + gsl_sf_log_erfc(zh / M_SQRT2);
        return lql + log1p(-exp(lqh - lql));
    }
    /* mostly lower tail: Phi(zh) - Phi(zl) = Q(-zh) - Q(-zl) */
    double lqh = isinf(zh) ? 0.0 : -M_LN2 + gsl_sf_log_erfc(-zh / M_SQRT2);
    double lql = isinf(zl) ? -INFINITY : -M_LN2 + gsl_sf_log_erfc(-zl / M_SQRT2);
    return lqh + log1p(-exp(lql - lqh));
}

/* The paper's L^n per dimension (receiver_floor = 0): the mixture weights
 * are the exact bin masses p_k, every bin summed in log space,
 *   mean_m [ln N(y_m|xc,1/a) - ln sum_k p_k N(y_m|c_k,1/a)].
 * O(K) per sample, evaluation only (no gradient). logm: [K] workspace. */
static double disc_loss_n_dim_exact(double *logm, int K, double mu, double s, double xc, double a,
                                    const double *eps, int n_mc) {
    for (int k = 0; k < K; k++) logm[k] = log_bin_mass(mu, s, k, K);
    const double sd = 1.0 / sqrt(a);
    double total = 0.0;
    for (int m = 0; m < n_mc; m++) {
        double y = xc + eps[m] * sd, vmax = -INFINITY, sum = 0.0;
        for (int k = 0; k < K; k++) {
            double d = y - bfn_bin_centre(k, K), v = logm[k] - 0.5 * a * d * d;
            if (v > vmax) vmax = v;
        }
        for (int k = 0; k < K; k++) {
            double d = y - bfn_bin_centre(k, K);
            sum += exp(logm[k] - 0.5 * a * d * d - vmax);
        }
        /* ln N(y|xc) = const - eps^2/2; the receiver's Gaussian normaliser is the same const. */
        total += -0.5 * eps[m] * eps[m] - (vmax + log(sum));
    }
    return total / n_mc;
}

/* ---- family operations ---------------------------------------------------------- */

/* L^inf = (beta'(t)/2)(x - k_hat)^2 per dimension. */
static void disc_loss_cts(const bfn_family *f, int B, const float *x, const float *t, const float *theta,
                      const float *out, double *loss, float *grad, float gscale) {
    int D = f->D, K = f->K;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        bfn_noise_pred np = bfn_noise_pred_at(&f->sched, t[b]);
        double wt = 0.5 * f->sched.beta_prime(&f->sched, t[b]), gsc = (double)gscale / D;
        const float *xb = x + (size_t)b * D, *th = theta + (size_t)b * D * 2, *ob = out + (size_t)b * D * 2;
        float *gb = grad ? grad + (size_t)b * D * 2 : NULL;
        double sum = 0.0;
        for (int d = 0; d < D; d++) {
            disc_out o = disc_output(&np, th[2 * d], ob[2 * d], ob[2 * d + 1]);
            double dk_dmu, dk_ds, r;
            if (isfinite(o.mu) && isfinite(o.s))
                r = bfn_dgauss_mean(o.mu, o.s, K, &dk_dmu, &dk_ds) - snap_centre(xb[d], K);
            else r = dk_dmu = dk_ds = NAN;
            sum += wt * r * r;
            if (gb) {
                gb[2 * d] = (float)(gsc * wt * 2.0 * r * dk_dmu * o.dmu);
                gb[2 * d + 1] = (float)(gsc * wt * 2.0 * r * dk_ds * o.ds);
            }
        }
        loss[b] = sum / D;
    }
}

/* L^n term n * KL(p_S || p_R) by Monte Carlo (see disc_loss_n_dim). */
static void disc_loss_n(const bfn_family *f, int B, const float *x, const float *t, const float *alpha,
                        double n_mult, const float *theta, const float *out, gsl_rng *rng, double *loss,
                        float *grad, float gscale) {
    int D = f->D, K = f->K, n_mc = f->n_mc > 0 ? f->n_mc : 1;
    size_t per_ex = (size_t)D * n_mc;
    double *noise = bfn_xmalloc((size_t)B * per_ex * sizeof *noise);
    for (size_t i = 0; i < (size_t)B * per_ex; i++) noise[i] = gsl_ran_gaussian_ziggurat(rng, 1.0);
#pragma omp parallel
    {
        disc_ws w;
        ws_alloc(&w, K);
        double *logm = f->receiver_floor ? NULL : bfn_xmalloc((size_t)K * sizeof *logm);
#pragma omp for schedule(static)
        for (int b = 0; b < B; b++) {
            bfn_noise_pred np = bfn_noise_pred_at(&f->sched, t[b]);
            double a = alpha[b], gsc = (double)gscale / D;
            walk_consts wc = walk_consts_for(a, K);
            const float *xb = x + (size_t)b * D, *th = theta + (size_t)b * D * 2, *ob = out + (size_t)b * D * 2;
            float *gb = grad ? grad + (size_t)b * D * 2 : NULL;
            double sum = 0.0;
            for (int d = 0; d < D; d++) {
                disc_out o = disc_output(&np, th[2 * d], ob[2 * d], ob[2 * d + 1]);
                double l, g_mu, g_s;
                const double *ns = noise + (size_t)b * per_ex + (size_t)d * n_mc;
                if (!(isfinite(o.mu) && isfinite(o.s) && a > 0.0 && isfinite(a))) l = g_mu = g_s = NAN;
                else if (logm) { /* exact weights: no gradient (config refuses training with it) */
                    l = disc_loss_n_dim_exact(logm, K, o.mu, o.s, snap_centre(xb[d], K), a, ns, n_mc);
                    g_mu = g_s = NAN;
                } else l = disc_loss_n_dim(&w, K, o.mu, o.s, snap_centre(xb[d], K), &wc, ns, n_mc, &g_mu, &g_s);
                sum += n_mult * l;
                if (gb) {
                    gb[2 * d] = (float)(gsc * n_mult * g_mu * o.dmu);
                    gb[2 * d + 1] = (float)(gsc * n_mult * g_s * o.ds);
                }
            }
            loss[b] = sum / D;
        }
        ws_free(&w);
        free(logm);
    }
    free(noise);
}

/* L^r = -ln p_O(bin of x) at the example's t ([CODE] reconstruction_loss at
 * t = 1; other t give the loss-against-time curve). */
static void disc_loss_recon(const bfn_family *f, int B, const float *x, const float *t, const float *theta,
                            const float *out, double *loss) {
    int D = f->D, K = f->K;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        bfn_noise_pred np = bfn_noise_pred_at(&f->sched, t[b]);
        const float *xb = x + (size_t)b * D, *th = theta + (size_t)b * D * 2, *ob = out + (size_t)b * D * 2;
        double sum = 0.0;
        for (int d = 0; d < D; d++) {
            disc_out o = disc_output(&np, th[2 * d], ob[2 * d], ob[2 * d + 1]);
            sum -= bfn_dgauss_log_prob(o.mu, o.s, K, bfn_bin_index(xb[d], K));
        }
        loss[b] = sum / D;
    }
}

/* x' ~ p_O: z ~ N(mu_x, sigma_x^2) snapped to the centre of its bin ([CODE]
 * quantize; the edge bins absorb the tails). One draw per dimension, (b, d) order. */
static void disc_output_sample(const bfn_family *f, int B, const float *theta, const float *t, const float *out,
                               gsl_rng *rng, float *xs) {
    int D = f->D, K = f->K;
    for (int b = 0; b < B; b++) {
        bfn_noise_pred np = bfn_noise_pred_at(&f->sched, t[b]);
        const float *th = theta + (size_t)b * D * 2, *ob = out + (size_t)b * D * 2;
        for (int d = 0; d < D; d++) {
            disc_out o = disc_output(&np, th[2 * d], ob[2 * d], ob[2 * d + 1]);
            double z = o.mu + gsl_ran_gaussian_ziggurat(rng, o.s);
            xs[(size_t)b * D + d] = (float)snap_centre(z, K);
        }
    }
}

/* Mode: centre of the most probable bin (first on ties, as torch argmax). */
static void disc_output_mode(const bfn_family *f, int B, const float *theta, const float *t, const float *out,
                             float *xs) {
    int D = f->D, K = f->K;
    double *p = bfn_xmalloc((size_t)K * sizeof *p);
    for (int b = 0; b < B; b++) {
        bfn_noise_pred np = bfn_noise_pred_at(&f->sched, t[b]);
        const float *th = theta + (size_t)b * D * 2, *ob = out + (size_t)b * D * 2;
        for (int d = 0; d < D; d++) {
            disc_out o = disc_output(&np, th[2 * d], ob[2 * d], ob[2 * d + 1]);
            int km = 0;
            if (isfinite(o.mu) && isfinite(o.s)) {
                bfn_dgauss_probs(o.mu, o.s, K, p);
                for (int k = 1; k < K; k++) if (p[k] > p[km]) km = k;
            }
            xs[(size_t)b * D + d] = (float)bfn_bin_centre(km, K);
        }
    }
    free(p);
}

/* Output mean k_hat per dimension (for plots and the sampler's summaries). */
static void disc_output_mean(const bfn_family *f, int B, const float *theta, const float *t, const float *out,
                             float *xs) {
    int D = f->D, K = f->K;
    for (int b = 0; b < B; b++) {
        bfn_noise_pred np = bfn_noise_pred_at(&f->sched, t[b]);
        const float *th = theta + (size_t)b * D * 2, *ob = out + (size_t)b * D * 2;
        for (int d = 0; d < D; d++) {
            disc_out o = disc_output(&np, th[2 * d], ob[2 * d], ob[2 * d + 1]);
            double dm, ds;
            xs[(size_t)b * D + d] = (float)(isfinite(o.mu) && isfinite(o.s) ? bfn_dgauss_mean(o.mu, o.s, K, &dm, &ds) : NAN);
        }
    }
}

const bfn_family_ops bfn_discretised_ops = {
    .name = "discretised",
    .flow_sample = bfn_gflow_sample,
    .prior = bfn_gflow_prior,
    .net_input = bfn_gflow_net_input,
    .loss_cts = disc_loss_cts,
    .loss_n = disc_loss_n,
    .loss_recon = disc_loss_recon,
    .output_sample = disc_output_sample,
    .output_mode = disc_output_mode,
    .output_mean = disc_output_mean,
    .update = bfn_gflow_update,
};

/* Discretised family, K bins, D dimensions. Takes ownership of `sched` even
 * on failure (freed then) and leaves *f zeroed on failure. */
int bfn_discretised_init(bfn_family *f, int D, int K, bfn_schedule sched) {
    memset(f, 0, sizeof *f);
    int rc = BFN_OK;
    if (D < 1) rc = bfn_error(BFN_EINVAL, "discretised family: D = %d must be >= 1", D);
    else if (K < 2 || K > DISC_MAX_K)
        rc = bfn_error(BFN_EINVAL, "discretised family: K = %d bins must lie in [2, %d]", K, DISC_MAX_K);
    else if (!sched.beta || !sched.beta_prime)
        rc = bfn_error(BFN_EINVAL, "discretised family: schedule is not initialised");
    if (rc != BFN_OK) {
        bfn_schedule_free(&sched);
        return rc;
    }
    f->ops = &bfn_discretised_ops;
    f->sched = sched;
    f->D = D;
    f->K = K;
    f->in_ch = 1;
    f->out_ch = 2;
    f->theta_ch = 2;
    f->n_mc = 10; /* [CODE] CtsBayesianFlowLoss.discrete_time_loss n_samples = 10 */
    f->receiver_floor = 1; /* [CODE] torch's Categorical clamps the mixture weights */
    return BFN_OK;
}
