/* discrete.c: the discrete-data BFN family, K classes (paper Sec. 6;
 * paper/NOTES.md §4.3, [CODE] DiscreteBayesianFlow and DiscreteBayesianFlowLoss).
 *
 * Conventions (see family.h for layouts):
 *   x       class index stored as float (rounded, clamped to [0, K-1]).
 *   theta   K probabilities per dimension (also for K = 2).
 *   K = 2   network input 2 theta_1 - 1 (one channel) and ONE output logit l
 *           with p_O = (1 - sigmoid(l), sigmoid(l)) (binarised MNIST, [CODE]
 *           BernoulliFactory). [CODE] feeds 2 theta_0 - 1 instead; that is the
 *           same information with the sign flipped, which a trained net absorbs.
 *   K > 2   input 2 theta - 1 for all K classes; K output logits -> softmax.
 * Everything time-dependent goes through f->sched.beta / beta_prime only, so
 * any registered schedule works; the official one is quadratic, beta1 t^2.
 *
 * All losses are computed in double from the float network outputs. Only
 * K-sized stack buffers are used: nothing is allocated per call. Loops that
 * draw random numbers are sequential over (b, d, ...) so the stream is
 * consumed in a fixed order; the RNG-free losses run OpenMP-parallel over
 * examples, each example reduced in a fixed order by one thread.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include <gsl/gsl_randist.h>

#include "bfn/family.h"
#include "util/err.h"
#include "util/lanes_rng.h"
#include "util/vecmath.h"

#define DISCRETE_MAX_K 256
#define FLOW_T_MAX (1.0 - 1e-6) /* [CODE] clamps t to <= 1 - epsilon */
#define MIN_SQRT_BETA 1e-10     /* [CODE] below this the flow is the uniform prior */

/* The K = 2 paths (flow, L^inf, sampler steps) are vectorised: random numbers
 * for a block of SAMPLE_BLOCK dimensions are drawn into a stack buffer, then
 * one branch-free loop uses them. Above SAMPLE_PAR_MIN elements per call they
 * split across threads by example; each example draws from its own lane
 * stream (util/lanes_rng.h), so results do not depend on the thread count. */
#define SAMPLE_BLOCK 512
#define SAMPLE_PAR_MIN 16384

/* ---- small numerical helpers ----------------------------------------------- */

/* Class index stored as a float -> int in [0, K-1] (rounded; NaN -> 0). */
static inline int class_index(float x, int K) {
    if (!(x > 0.0f)) return 0;
    if (x >= (float)(K - 1)) return K - 1;
    return (int)(x + 0.5f);
}

/* ln(1 + e^z) without overflow or loss of accuracy. */
static inline double softplus(double z) { return z > 0.0 ? z + log1p(exp(-z)) : log1p(exp(z)); }

/* p_O for one dimension from its network outputs o (1 logit for K = 2, K logits
 * otherwise). Writes logp[k] = ln p_k, p[k] = p_k and, if logq != NULL,
 * logq[k] = ln(1 - p_k) without the cancellation of 1 - p_k when p_k ~ 1
 * (sum of the other classes' terms instead). All logs are finite for finite
 * logits, whatever the gaps (for the argmax, the others' sum is taken
 * relative to their own maximum so it cannot underflow). Returns the argmax
 * class (first on ties). */
static int output_probs(int K, const float *o, double *logp, double *p, double *logq) {
    if (K == 2) {
        double l = o[0];
        logp[0] = -softplus(l);
        logp[1] = -softplus(-l);
        p[0] = exp(logp[0]);
        p[1] = exp(logp[1]);
        if (logq) { logq[0] = logp[1]; logq[1] = logp[0]; }
        return l > 0.0 ? 1 : 0;
    }
    int jm = 0;
    for (int k = 1; k < K; k++) if (o[k] > o[jm]) jm = k;
    double m = o[jm], m2 = -INFINITY, sum = 0.0;
    for (int k = 0; k < K; k++) {
        p[k] = exp((double)o[k] - m); /* reuse p[] for the shifted exponentials */
        sum += p[k];
        if (k != jm && o[k] > m2) m2 = o[k];
    }
    double log_sum = log(sum);
    for (int k = 0; k < K; k++) {
        logp[k] = ((double)o[k] - m) - log_sum;
        /* For k != argmax the remaining mass contains e^0 = 1, so sum - e_k >= 1
         * has no cancellation. */
        if (logq && k != jm) logq[k] = log(sum - p[k]) - log_sum;
    }
    if (logq) { /* argmax: ln sum_{k != jm} e^{o_k - m}, relative to m2 */
        double s2 = 0.0;
        for (int k = 0; k < K; k++) if (k != jm) s2 += exp((double)o[k] - m2);
        logq[jm] = (m2 - m) + log(s2) - log_sum;
    }
    for (int k = 0; k < K; k++) p[k] = exp(logp[k]);
    return jm;
}

/* Write d loss / d (virtual logits) g[0..K-1] into the network-output layout:
 * K = 2 has one logit l with p = softmax(0, l), so only g[1] is a real output. */
static inline void store_logit_grad(int K, const double *g, float *dst) {
    if (K == 2) dst[0] = (float)g[1];
    else for (int k = 0; k < K; k++) dst[k] = (float)g[k];
}

/* (P(class 0), P(class 1)) = (sigmoid(-d), sigmoid(d)) with one exp and
 * full relative accuracy in both (no 1 - s cancellation, no overflow). */
static inline void two_class_probs(double d, double *p0, double *p1) {
    if (d >= 0.0) {
        double e = exp(-d);
        *p1 = 1.0 / (1.0 + e);
        *p0 = e * *p1;
    } else {
        double e = exp(d);
        *p0 = 1.0 / (1.0 + e);
        *p1 = e * *p0;
    }
}

/* p_O only (no logs): the cheap path for L^inf, which needs probabilities
 * to absolute accuracy only. */
static void output_probs_only(int K, const float *o, double *p) {
    if (K == 2) { two_class_probs(o[0], &p[0], &p[1]); return; }
    double m = o[0], sum = 0.0;
    for (int k = 1; k < K; k++) if (o[k] > m) m = o[k];
    for (int k = 0; k < K; k++) { p[k] = exp((double)o[k] - m); sum += p[k]; }
    double inv = 1.0 / sum;
    for (int k = 0; k < K; k++) p[k] *= inv;
}

/* ---- flow, prior, network input ---------------------------------------------- */

/* theta ~ p_F(. | x; t) (paper eq. for the discrete Bayesian flow, [CODE]
 * DiscreteBayesianFlow.forward): y = beta (K e_x - 1) + sqrt(beta K) eps,
 * theta = softmax(y), with t clamped to [0, 1 - 1e-6] and theta = 1/K where
 * sqrt(beta) < 1e-10. K normal draws per (b, d) are always consumed, except
 * for K = 2 where theta depends on y only through y_1 - y_0 ~
 * N(+-beta K, 2 beta K): one draw, same distribution, half the work (this
 * runs on every training step for B x 784 pixels). */
/* K = 2 flow, vectorised: theta_1 = sigmoid(l), l = y_1 - y_0 =
 * +-2 beta + 2 sqrt(beta) eps (sign of the class), eps from example b's lane
 * stream; float math (theta is stored in float), each probability formed as
 * 1/(1 + e^-|l|) or e^-|l| times that, so the smaller keeps its relative
 * accuracy. Below MIN_SQRT_BETA, l = 0 gives theta = 1/2 exactly. */
static void two_class_flow_sample(const bfn_family *f, int B, const float *x, const float *t, gsl_rng *rng,
                                  float *theta) {
    const int D = f->D;
    const uint64_t key = bfn_lanes_key(rng);
    const bfn_vec_bounds_t vb = bfn_vec_bounds();
#pragma omp parallel for schedule(static) if ((long)B * D >= SAMPLE_PAR_MIN)
    for (int b = 0; b < B; b++) {
        double tc = t[b] < 0.0f ? 0.0 : (t[b] > FLOW_T_MAX ? FLOW_T_MAX : (double)t[b]);
        double beta = f->sched.beta(&f->sched, tc);
        int uniform = !(sqrt(beta) >= MIN_SQRT_BETA); /* also catches beta < 0 or NaN */
        const float mean = uniform ? 0.0f : (float)(2.0 * beta), sd = uniform ? 0.0f : (float)(2.0 * sqrt(beta));
        bfn_lanes_rng lr;
        bfn_lanes_seed_stream(&lr, key, (uint64_t)b);
        float z[SAMPLE_BLOCK];
        for (int d0 = 0; d0 < D; d0 += SAMPLE_BLOCK) {
            const int nd = D - d0 < SAMPLE_BLOCK ? D - d0 : SAMPLE_BLOCK;
            bfn_lanes_normal(&lr, z, nd);
            const float *xb = x + (size_t)b * D + d0;
            float *th = theta + ((size_t)b * D + d0) * 2;
#pragma omp simd
            for (int i = 0; i < nd; i++) {
                const float l = (xb[i] >= 0.5f ? mean : -mean) + sd * z[i]; /* class_index: x >= 0.5 is 1 */
                const int pos = l > 0.0f;
                const float e = bfn_expf_vec(pos ? -l : l, vb.exp_lo, vb.exp_hi);
                const float big = 1.0f / (1.0f + e), small = e * big;
                th[2 * i] = pos ? small : big;
                th[2 * i + 1] = pos ? big : small;
            }
        }
    }
}

static void discrete_flow_sample(const bfn_family *f, int B, const float *x, const float *t,
                                 gsl_rng *rng, float *theta) {
    const int D = f->D, K = f->K;
    if (K == 2) {
        two_class_flow_sample(f, B, x, t, rng, theta);
        return;
    }
    double y[DISCRETE_MAX_K];
    for (int b = 0; b < B; b++) {
        double tc = t[b] < 0.0f ? 0.0 : (t[b] > FLOW_T_MAX ? FLOW_T_MAX : (double)t[b]);
        double beta = f->sched.beta(&f->sched, tc);
        int uniform = !(sqrt(beta) >= MIN_SQRT_BETA); /* also catches beta < 0 or NaN */
        double sd = uniform ? 0.0 : sqrt(beta * K);
        for (int d = 0; d < D; d++) {
            size_t row = (size_t)b * D + d;
            float *th = theta + row * K;
            int cls = class_index(x[row], K);
            if (K == 2) {
                double eps = gsl_ran_gaussian_ziggurat(rng, 1.0), p0, p1;
                if (uniform) { th[0] = th[1] = 0.5f; continue; }
                two_class_probs((cls == 1 ? 2.0 : -2.0) * beta + M_SQRT2 * sd * eps, &p0, &p1);
                th[0] = (float)p0;
                th[1] = (float)p1;
                continue;
            }
            double ymax = -INFINITY;
            for (int k = 0; k < K; k++) {
                double eps = gsl_ran_gaussian_ziggurat(rng, 1.0);
                y[k] = beta * ((k == cls ? K : 0) - 1) + sd * eps;
                if (y[k] > ymax) ymax = y[k];
            }
            if (uniform) {
                for (int k = 0; k < K; k++) th[k] = 1.0f / K;
                continue;
            }
            double sum = 0.0;
            for (int k = 0; k < K; k++) { y[k] = exp(y[k] - ymax); sum += y[k]; }
            for (int k = 0; k < K; k++) th[k] = (float)(y[k] / sum);
        }
    }
}

/* Prior theta = 1/K everywhere. */
static void discrete_prior(const bfn_family *f, int B, float *theta) {
    size_t n = (size_t)B * f->D * f->K;
    for (size_t i = 0; i < n; i++) theta[i] = 1.0f / f->K;
}

/* Network input: 2 theta_1 - 1 (one channel) for K = 2, else 2 theta - 1. */
static void discrete_net_input(const bfn_family *f, int B, const float *theta, float *in) {
    const size_t rows = (size_t)B * f->D;
    if (f->K == 2) {
        for (size_t r = 0; r < rows; r++) in[r] = 2.0f * theta[2 * r + 1] - 1.0f;
    } else {
        for (size_t i = 0; i < rows * f->K; i++) in[i] = 2.0f * theta[i] - 1.0f;
    }
}

/* ---- losses ------------------------------------------------------------------------ */

/* Continuous-time loss L^inf = (K/2) beta'(t) ||e_x - p||^2 per dimension,
 * averaged over D (paper eq. for discrete L^inf; for beta1 t^2 this is the
 * [CODE] K beta1 t ||e_x - p||^2). t is used unclamped, as in [CODE].
 * Gradient: dL/dp_k = 2 w (p_k - e_k) / D through the softmax Jacobian
 * dL/dl_i = p_i (g_i - sum_k p_k g_k) (K = 2: the sigmoid, as softmax(0, l)). */
/* K = 2 L^inf: the formula below with p = (sigmoid(-l), sigmoid(l)), in
 * float and vectorised (relative error ~1e-7 per term: L^inf needs p to
 * absolute accuracy only, as output_probs_only says; the loss is stored in
 * float anyway); the per-dimension terms are added in double, in order. A
 * NaN logit gives NaN p (so a NaN loss, as the scalar path); +-inf gives
 * p = 1 and ~1e-38. */
static void two_class_loss_cts(const bfn_family *f, int B, const float *x, const float *t, const float *out,
                               double *loss, float *grad, float gscale) {
    const int D = f->D;
    const bfn_vec_bounds_t vb = bfn_vec_bounds();
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        const double w = f->sched.beta_prime(&f->sched, (double)t[b]); /* (K/2) beta', K = 2 */
        const float coef = (float)(2.0 * w * gscale / D);
        double total = 0.0;
        float sq[SAMPLE_BLOCK], gtmp[SAMPLE_BLOCK];
        for (int d0 = 0; d0 < D; d0 += SAMPLE_BLOCK) {
            const int nd = D - d0 < SAMPLE_BLOCK ? D - d0 : SAMPLE_BLOCK;
            const float *o = out + (size_t)b * D + d0, *xb = x + (size_t)b * D + d0;
            const float zero = vb.zero, half = vb.half, one = vb.one;
#pragma omp simd
            for (int i = 0; i < nd; i++) {
                const float l = o[i];
                const int pos = l > zero, bad = l != l;
                const float e = bfn_expf_vec(pos ? -l : l, vb.exp_lo, vb.exp_hi);
                const float big = one / (one + e), small = e * big;
                const float p0s = pos ? small : big, p1s = pos ? big : small;
                const float p0 = bad ? l : p0s, p1 = bad ? l : p1s;
                const float e1 = xb[i] >= half ? one : zero; /* class_index: x >= 0.5 is 1 */
                const float diff0 = p0 - (one - e1), diff1 = p1 - e1;
                const float pg = p0 * diff0 + p1 * diff1;
                sq[i] = diff0 * diff0 + diff1 * diff1;
                gtmp[i] = coef * p1 * (diff1 - pg);
            }
            for (int i = 0; i < nd; i++) total += sq[i];
            if (grad) memcpy(grad + (size_t)b * D + d0, gtmp, (size_t)nd * sizeof *gtmp);
        }
        loss[b] = w * total / D;
    }
}

static void discrete_loss_cts(const bfn_family *f, int B, const float *x, const float *t,
                              const float *theta, const float *out, double *loss, float *grad,
                              float gscale) {
    const int D = f->D, K = f->K, oc = f->out_ch;
    if (K == 2) {
        two_class_loss_cts(f, B, x, t, out, loss, grad, gscale);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        double p[DISCRETE_MAX_K], g[DISCRETE_MAX_K];
        double w = 0.5 * K * f->sched.beta_prime(&f->sched, (double)t[b]);
        double coef = 2.0 * w * gscale / D, total = 0.0;
        for (int d = 0; d < D; d++) {
            size_t row = (size_t)b * D + d;
            int cls = class_index(x[row], K);
            output_probs_only(K, out + row * oc, p);
            double sq = 0.0, pg = 0.0;
            for (int k = 0; k < K; k++) {
                double diff = p[k] - (k == cls);
                sq += diff * diff;
                pg += p[k] * diff;
            }
            total += sq;
            if (grad) {
                for (int k = 0; k < K; k++) g[k] = coef * p[k] * ((p[k] - (k == cls)) - pg);
                store_logit_grad(K, g, grad + row * oc);
            }
        }
        loss[b] = w * total / D;
    }
}

/* n-step loss n * KL(p_S || p_R) at accuracy alpha (paper Sec. 6.2, [CODE]
 * discrete_time_loss), by Monte Carlo over f->n_mc sender samples
 * y ~ N(alpha (K e_x - 1), alpha K I) per dimension, averaged over D.
 *
 * With u_j = y_j - alpha (K - 2)/2, ln N(y_j; alpha(K-1), alpha K) -
 * ln N(y_j; -alpha, alpha K) = u_j, so every log-density ratio below is a
 * u_j (the Gaussian normalisers and the common -alpha component cancel):
 *   sender:   ln p_S(y) = sum_j c_j + u_x, with c_j = ln N(y_j; -alpha, alpha K).
 *   product receiver ([CODE] default: torch MixtureSameFamily over univariate
 *     components scores each coordinate under its own 1-D mixture, whose K
 *     components have only two distinct means for coordinate j):
 *     m_j(y_j) = p_j N(y_j; alpha(K-1), .) + (1 - p_j) N(y_j; -alpha, .), so
 *     ln p_R = sum_j [c_j + ln(p_j e^{u_j} + q_j)], q_j = 1 - p_j.
 *   joint receiver (paper, receiver_joint = 1): sum_k p_k prod_j N(...) gives
 *     ln p_R = sum_j c_j + ln sum_k p_k e^{u_k}.
 * Gradients w.r.t. the logits for fixed samples:
 *   joint:   d(-ln p_R)/dl_i = p_i - R_i, R = softmax(ln p + u).
 *   product: with L_j = ln(p_j e^{u_j} + q_j), r_j = p_j e^{u_j - L_j},
 *     C_j = e^{-L_j}: d(sum_j L_j)/dl_i = p_i sum_{j != i} (C_j - 1) + r_i - p_i.
 *     C_j <= 1/q_j is large only for the argmax class jm; p_i C_jm <= 1 for
 *     i != jm, formed as exp(ln p_i - L_jm) if C_jm itself would overflow.
 * Receiver floor (f->receiver_floor = 1, the official code's numbers): torch's
 * Categorical(probs=p) inside MixtureSameFamily takes logits
 * ln clamp(p, eps, 1 - eps), eps = FLT_EPSILON (torch clamp_probs on
 * float32), and log_softmax's them, so the mixture weights are
 * w_k = q_k / Q, q_k = clamp(p_k, eps, 1 - eps), Q = sum_k q_k (paper/NOTES.md
 * §4.4). The losses above then use w in place of p (product: the "-alpha"
 * weight of coordinate j is Q_j / Q with Q_j = sum_{k != j} q_k). Gradients
 * go through w: with g_w = d kl / d w (product: -(r_k / w_k + sum_{j != k} C_j),
 * joint: -R_k / w_k), d/dq_m = (g_w_m - sum_k g_w_k w_k) / Q and
 * d/dl_i = live_i p_i g_q_i - p_i sum_m live_m p_m g_q_m, live_m = 1 where
 * p_m is inside (eps, 1 - eps) (torch's clamp passes no gradient outside).
 * With receiver_floor = 0 the weights are p itself (the paper's equations).
 * alpha <= 0 gives loss 0 (sender = receiver); the samples are drawn anyway so
 * the RNG stream does not depend on the values. */

/* Floored mixture weights (see above): w, ln w, ln(1 - w) (= ln Q_j/Q) and
 * the live mask, from p. ln(1 - w_k) sums the other weights, so it has no
 * cancellation when w_k is close to 1. */
static double floored_weights(int K, const double *p, double *w, double *logw, double *log1mw,
                              unsigned char *live) {
    const double eps = (double)FLT_EPSILON;
    double q[DISCRETE_MAX_K], Q = 0.0;
    for (int k = 0; k < K; k++) {
        live[k] = p[k] > eps && p[k] < 1.0 - eps;
        q[k] = p[k] < eps ? eps : p[k] > 1.0 - eps ? 1.0 - eps : p[k];
        Q += q[k];
    }
    int km = 0;
    for (int k = 1; k < K; k++) if (q[k] > q[km]) km = k;
    double lQ = log(Q), rest_m = 0.0;
    for (int k = 0; k < K; k++) if (k != km) rest_m += q[k];
    for (int k = 0; k < K; k++) {
        w[k] = q[k] / Q;
        logw[k] = log(q[k]) - lQ;
        /* k != km: Q - q_k >= q_km, no cancellation; km: the explicit sum. */
        log1mw[k] = (k == km ? log(rest_m) : log(Q - q[k])) - lQ;
    }
    return 1.0 / Q;
}

/* Chain rule from d/dw (gw) to d/d logits (out: g) through w = q / Q,
 * q = clamp(p), p = softmax(l). */
static void floored_logit_grad(int K, const double *p, const double *w, const unsigned char *live, double Qinv,
                               const double *gw, double *g) {
    double dot = 0.0, s = 0.0, gq[DISCRETE_MAX_K];
    for (int k = 0; k < K; k++) dot += gw[k] * w[k];
    for (int m = 0; m < K; m++) {
        gq[m] = (gw[m] - dot) * Qinv;
        if (live[m]) s += p[m] * gq[m];
    }
    for (int i = 0; i < K; i++) g[i] = (live[i] ? p[i] * gq[i] : 0.0) - p[i] * s;
}
static void discrete_loss_n(const bfn_family *f, int B, const float *x, const float *t,
                            const float *alpha, double n_mult, const float *theta,
                            const float *out, gsl_rng *rng, double *loss, float *grad,
                            float gscale) {
    const int D = f->D, K = f->K, oc = f->out_ch, S = f->n_mc > 0 ? f->n_mc : 1;
    const int joint = f->receiver_joint, floored = f->receiver_floor;
    double logp[DISCRETE_MAX_K], p[DISCRETE_MAX_K], logq[DISCRETE_MAX_K], u[DISCRETE_MAX_K];
    double L[DISCRETE_MAX_K], C[DISCRETE_MAX_K], r[DISCRETE_MAX_K], gacc[DISCRETE_MAX_K];
    double w[DISCRETE_MAX_K], logw[DISCRETE_MAX_K], log1mw[DISCRETE_MAX_K], gw[DISCRETE_MAX_K];
    unsigned char live[DISCRETE_MAX_K];
    for (int b = 0; b < B; b++) {
        const double a = alpha[b];
        const int active = a > 0.0 && isfinite(a);
        const double sd = active ? sqrt(a * K) : 0.0, shift = 0.5 * a * (K - 2);
        double total = 0.0;
        for (int d = 0; d < D; d++) {
            size_t row = (size_t)b * D + d;
            int cls = class_index(x[row], K);
            int jm = output_probs(K, out + row * oc, logp, p, logq);
            double Qinv = 1.0;
            if (floored) Qinv = floored_weights(K, p, w, logw, log1mw, live);
            /* The weights the receiver uses: floored (official) or p (paper). */
            const double *lw = floored ? logw : logp, *l1w = floored ? log1mw : logq;
            double kl_sum = 0.0;
            for (int k = 0; k < K; k++) gacc[k] = gw[k] = 0.0;
            for (int s = 0; s < S; s++) {
                for (int j = 0; j < K; j++) {
                    double eps = gsl_ran_gaussian_ziggurat(rng, 1.0);
                    u[j] = a * ((j == cls ? K : 0) - 1) + sd * eps - shift;
                }
                if (!active) continue;
                if (joint) {
                    double vmax = -INFINITY, sum = 0.0;
                    for (int k = 0; k < K; k++) if (lw[k] + u[k] > vmax) vmax = lw[k] + u[k];
                    for (int k = 0; k < K; k++) sum += exp(lw[k] + u[k] - vmax);
                    double lse = vmax + log(sum);
                    kl_sum += u[cls] - lse;
                    if (grad && floored)
                        for (int k = 0; k < K; k++) gw[k] -= exp(u[k] - lse); /* R_k / w_k */
                    else if (grad)
                        for (int k = 0; k < K; k++) gacc[k] += p[k] - exp(logp[k] + u[k] - lse);
                } else {
                    double lsum = 0.0;
                    for (int j = 0; j < K; j++) {
                        /* L_j = ln(e^a1 + e^a0) (w_j + (1 - w_j) = 1: never both -inf); e gives r_j too */
                        double a1 = lw[j] + u[j], a0 = l1w[j], e = exp(-fabs(a1 - a0));
                        L[j] = (a1 > a0 ? a1 : a0) + log1p(e);
                        r[j] = a1 >= a0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
                        lsum += L[j];
                    }
                    kl_sum += u[cls] - lsum;
                    if (grad && floored) {
                        /* d sum_j L_j / d w_k = r_k / w_k + sum_{j != k} C_j; every
                         * w_k >= eps / Q and 1 - w_k >= eps / Q keep both finite. */
                        double sc = 0.0;
                        for (int j = 0; j < K; j++) sc += C[j] = exp(-L[j]);
                        for (int k = 0; k < K; k++) gw[k] -= exp(u[k] - L[k]) + (sc - C[k]);
                    } else if (grad) {
                        double rest = 0.0; /* sum_{j != jm} (C_j - 1), each C_j <= 2 */
                        for (int j = 0; j < K; j++) {
                            C[j] = exp(-L[j]);
                            if (j != jm) rest += C[j] - 1.0;
                        }
                        const int c_ok = C[jm] < 1e300; /* else form p_i C_jm in log space */
                        for (int i = 0; i < K; i++) {
                            double ps;
                            if (i == jm) ps = p[i] * rest;
                            else ps = p[i] * (rest - (C[i] - 1.0)) +
                                      (c_ok ? p[i] * C[jm] : exp(logp[i] - L[jm])) - p[i];
                            gacc[i] -= ps + r[i] - p[i];
                        }
                    }
                }
            }
            total += kl_sum / S;
            if (grad && floored && active) floored_logit_grad(K, p, w, live, Qinv, gw, gacc);
            if (grad) {
                double coef = active ? gscale * n_mult / ((double)S * D) : 0.0;
                for (int k = 0; k < K; k++) gacc[k] *= coef;
                store_logit_grad(K, gacc, grad + row * oc);
            }
        }
        loss[b] = n_mult * total / D;
    }
}

/* Reconstruction loss L^r = -ln p_O(x | theta; t) averaged over D ([CODE]
 * reconstruction_loss: Bernoulli for K = 2, categorical otherwise). The
 * paper's L^r has theta drawn from the flow at t = 1 (clamped to 1 - 1e-6 in
 * flow_sample); other t give the loss-against-time curve. p_O depends on
 * theta and t only through the network output, so only `out` is read. */
static void discrete_loss_recon(const bfn_family *f, int B, const float *x, const float *t,
                                const float *theta, const float *out, double *loss) {
    const int D = f->D, K = f->K, oc = f->out_ch;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        double total = 0.0;
        for (int d = 0; d < D; d++) {
            size_t row = (size_t)b * D + d;
            const float *o = out + row * oc;
            int cls = class_index(x[row], K);
            if (K == 2) {
                total += cls == 1 ? softplus(-(double)o[0]) : softplus((double)o[0]);
            } else {
                double m = o[0], sum = 0.0;
                for (int k = 1; k < K; k++) if (o[k] > m) m = o[k];
                for (int k = 0; k < K; k++) sum += exp((double)o[k] - m);
                total += m + log(sum) - (double)o[cls];
            }
        }
        loss[b] = total / D;
    }
}

/* ---- sampling ------------------------------------------------------------------------ */

/* K = 2: class 1 iff u >= P(class 0) = sigmoid(-l), u uniform from example
 * b's lane stream of a key drawn from rng (vectorised; float, as theta is). */
static void two_class_output_sample(int B, int D, const float *out, gsl_rng *rng, float *xs) {
    const uint64_t key = bfn_lanes_key(rng);
    const bfn_vec_bounds_t vb = bfn_vec_bounds();
#pragma omp parallel for schedule(static) if ((long)B * D >= SAMPLE_PAR_MIN)
    for (int b = 0; b < B; b++) {
        bfn_lanes_rng lr;
        bfn_lanes_seed_stream(&lr, key, (uint64_t)b);
        float u[SAMPLE_BLOCK];
        for (int d0 = 0; d0 < D; d0 += SAMPLE_BLOCK) {
            const int nd = D - d0 < SAMPLE_BLOCK ? D - d0 : SAMPLE_BLOCK;
            bfn_lanes_uniform(&lr, u, nd);
            const float *o = out + (size_t)b * D + d0;
            float *x = xs + (size_t)b * D + d0;
#pragma omp simd
            for (int i = 0; i < nd; i++) {
                float p0 = 1.0f / (1.0f + bfn_expf_vec(o[i], vb.exp_lo, vb.exp_hi));
                x[i] = u[i] >= p0 ? 1.0f : 0.0f; /* NaN logit: class 1, as the scalar path */
            }
        }
    }
}

/* Draw a class from p_O per dimension (one uniform per (b, d), inverse CDF).
 * K = 2 takes the vectorised path above (its own random stream). */
static void discrete_output_sample(const bfn_family *f, int B, const float *theta, const float *t,
                                   const float *out, gsl_rng *rng, float *xs) {
    const int D = f->D, K = f->K, oc = f->out_ch;
    if (K == 2) {
        two_class_output_sample(B, D, out, rng, xs);
        return;
    }
    double logp[DISCRETE_MAX_K], p[DISCRETE_MAX_K];
    for (size_t row = 0; row < (size_t)B * D; row++) {
        double v = gsl_rng_uniform(rng);
        output_probs(K, out + row * oc, logp, p, NULL);
        int cls = K - 1;
        double cum = 0.0;
        for (int k = 0; k < K - 1; k++) {
            cum += p[k];
            if (v < cum) { cls = k; break; }
        }
        xs[row] = (float)cls;
    }
}

/* Mode of p_O: argmax class (first on ties); K = 2: 1 iff p(class 1) > 0.5. */
static void discrete_output_mode(const bfn_family *f, int B, const float *theta, const float *t,
                                 const float *out, float *xs) {
    const int D = f->D, K = f->K, oc = f->out_ch;
    for (size_t row = 0; row < (size_t)B * D; row++) {
        const float *o = out + row * oc;
        if (K == 2) { xs[row] = o[0] > 0.0f ? 1.0f : 0.0f; continue; }
        int jm = 0;
        for (int k = 1; k < K; k++) if (o[k] > o[jm]) jm = k;
        xs[row] = (float)jm;
    }
}

/* Plot summary per dimension: P(class 1) for K = 2; for K > 2 the expected
 * class index means nothing, so this writes the probability of the argmax
 * class (the output's confidence). */
static void discrete_output_mean(const bfn_family *f, int B, const float *theta, const float *t,
                                 const float *out, float *xs) {
    const int D = f->D, K = f->K, oc = f->out_ch;
    double logp[DISCRETE_MAX_K], p[DISCRETE_MAX_K];
    for (size_t row = 0; row < (size_t)B * D; row++) {
        int jm = output_probs(K, out + row * oc, logp, p, NULL);
        xs[row] = (float)(K == 2 ? p[1] : p[jm]);
    }
}

/* Sender sample y ~ N(alpha (K e_xs - 1), alpha K I) and Bayesian update
 * theta' ∝ theta e^y (paper eq. for the discrete update, [CODE]
 * update_input_params), in log space: ln theta'_k = ln theta_k + y_k - lse.
 * Mathematically the official formula, but cannot overflow for large alpha.
 * alpha <= 0 leaves theta unchanged (K draws are consumed regardless). */
/* K = 2 update in log-odds: theta depends on y only through y_1 - y_0 =
 * +-2 alpha + 2 sqrt(alpha) eps (the sign is that of the drawn class), so
 * l' = ln theta_1 - ln theta_0 + y_1 - y_0 and theta' = (sigmoid(-l'),
 * sigmoid(l')): one normal draw per (b, d) from the lane generator, float
 * math, no branches. Each probability is formed as 1/(1 + e^-|l'|) or
 * e^-|l'| times that, so the smaller one keeps full relative accuracy
 * (down to ~1e-38, where exp's clamp holds it). Rows with alpha <= 0 and
 * (b, d) with a NaN theta or l' keep theta. Example b draws from its own
 * lane stream of one key taken from rng, so rows run in parallel. */
static void two_class_update(int B, int D, float *theta, const float *xs, const float *alpha, gsl_rng *rng) {
    const uint64_t key = bfn_lanes_key(rng);
    const bfn_vec_bounds_t vb = bfn_vec_bounds();
#pragma omp parallel for schedule(static) if ((long)B * D >= SAMPLE_PAR_MIN)
    for (int b = 0; b < B; b++) {
        bfn_lanes_rng lr;
        bfn_lanes_seed_stream(&lr, key, (uint64_t)b);
        float z[SAMPLE_BLOCK];
        const double a = alpha[b];
        const int active = a > 0.0 && isfinite(a);
        const float mean = active ? (float)(2.0 * a) : 0.0f, sd = active ? (float)(2.0 * sqrt(a)) : 0.0f;
        for (int d0 = 0; d0 < D; d0 += SAMPLE_BLOCK) {
            const int nd = D - d0 < SAMPLE_BLOCK ? D - d0 : SAMPLE_BLOCK;
            bfn_lanes_normal(&lr, z, nd);
            if (!active) continue;
            float *th = theta + ((size_t)b * D + d0) * 2;
            const float *x = xs + (size_t)b * D + d0;
#pragma omp simd
            for (int i = 0; i < nd; i++) {
                const float t0 = th[2 * i], t1 = th[2 * i + 1];
                const float l = bfn_logf_vec(t1, vb.log_lo) - bfn_logf_vec(t0, vb.log_lo) +
                                (x[i] > 0.5f ? mean : -mean) + sd * z[i];
                const int pos = l > 0.0f;
                const float e = bfn_expf_vec(pos ? -l : l, vb.exp_lo, vb.exp_hi);
                const float big = 1.0f / (1.0f + e), small = e * big;
                const int keep = (l != l) | (t0 != t0) | (t1 != t1);
                const float n0 = pos ? small : big, n1 = pos ? big : small;
                th[2 * i] = keep ? t0 : n0;
                th[2 * i + 1] = keep ? t1 : n1;
            }
        }
    }
}

static void discrete_update(const bfn_family *f, int B, float *theta, const float *xs,
                            const float *alpha, gsl_rng *rng) {
    const int D = f->D, K = f->K;
    if (K == 2) {
        two_class_update(B, D, theta, xs, alpha, rng);
        return;
    }
    double v[DISCRETE_MAX_K];
    for (int b = 0; b < B; b++) {
        const double a = alpha[b];
        const int active = a > 0.0 && isfinite(a);
        const double sd = active ? sqrt(a * K) : 0.0;
        for (int d = 0; d < D; d++) {
            size_t row = (size_t)b * D + d;
            float *th = theta + row * K;
            int cls = class_index(xs[row], K);
            double vmax = -INFINITY;
            for (int k = 0; k < K; k++) {
                double y = a * ((k == cls ? K : 0) - 1) + sd * gsl_ran_gaussian_ziggurat(rng, 1.0);
                v[k] = log((double)th[k]) + y;
                if (v[k] > vmax) vmax = v[k];
            }
            if (!active || vmax == -INFINITY || isnan(vmax)) continue; /* invalid theta: keep */
            double sum = 0.0;
            for (int k = 0; k < K; k++) { v[k] = exp(v[k] - vmax); sum += v[k]; }
            for (int k = 0; k < K; k++) th[k] = (float)(v[k] / sum);
        }
    }
}

const bfn_family_ops bfn_discrete_ops = {
    .name = "discrete",
    .flow_sample = discrete_flow_sample,
    .prior = discrete_prior,
    .net_input = discrete_net_input,
    .loss_cts = discrete_loss_cts,
    .loss_n = discrete_loss_n,
    .loss_recon = discrete_loss_recon,
    .output_sample = discrete_output_sample,
    .output_mode = discrete_output_mode,
    .output_mean = discrete_output_mean,
    .update = discrete_update,
};

/* Discrete family with K classes over D dimensions. Takes ownership of
 * `sched` even on failure (it is freed then), and leaves *f zeroed on
 * failure so bfn_family_free(f) is harmless. */
int bfn_discrete_init(bfn_family *f, int D, int K, bfn_schedule sched) {
    memset(f, 0, sizeof *f);
    int rc = BFN_OK;
    if (D < 1) rc = bfn_error(BFN_EINVAL, "discrete family: D = %d must be >= 1", D);
    else if (K < 2 || K > DISCRETE_MAX_K)
        rc = bfn_error(BFN_EINVAL, "discrete family: K = %d classes must lie in [2, %d]", K, DISCRETE_MAX_K);
    else if (!sched.beta || !sched.beta_prime)
        rc = bfn_error(BFN_EINVAL, "discrete family: schedule is not initialised");
    if (rc != BFN_OK) {
        bfn_schedule_free(&sched);
        return rc;
    }
    f->ops = &bfn_discrete_ops;
    f->sched = sched;
    f->D = D;
    f->K = K;
    f->in_ch = f->out_ch = K == 2 ? 1 : K;
    f->theta_ch = K;
    f->n_mc = 10;         /* [CODE] n_samples = 10 */
    f->receiver_joint = 0; /* [CODE] product of per-coordinate mixtures */
    f->receiver_floor = 1; /* [CODE] torch's Categorical clamps the mixture weights */
    return BFN_OK;
}
