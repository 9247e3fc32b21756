/* continuous.c: the continuous-data BFN family (paper Sec. 4; paper/NOTES.md §4.1,
 * §4.2, §4.4, [CODE] CtsBayesianFlow + CtsBayesianFlowLoss with
 * noise_pred=True and DeltaFactory).
 *
 * Conventions (see family.h for layouts):
 *   x       data value in [-1, 1], one per dimension.
 *   theta   (mu, rho) per dimension; the network input is mu (in_ch = 1).
 *   out     one value per dimension: the predicted noise eps_hat (out_ch = 1).
 *   output  a point estimate (Delta distribution)
 *             x_hat = clip(mu/gamma - sqrt((1-gamma)/gamma) eps_hat, -1, 1),
 *           and x_hat = 0 for t < 1e-6 ([CODE] min_t); gamma from the schedule.
 * Only f->sched.beta / beta_prime are used, so any registered schedule works;
 * with the official exponential one (beta = sigma1^(-2t) - 1) the loss weight
 * beta'(t)/2 is [CODE]'s -ln(sigma1) sigma1^(-2t).
 *
 * Losses per dimension (averaged over D per example):
 *   L^inf = (beta'(t)/2) (x - x_hat)^2
 *   L^n   = n (alpha/2) (x - x_hat)^2        (closed-form KL of two Gaussians
 *                                            with the same variance 1/alpha)
 *   L^r   = -ln P(bin of x) under N(x_hat(t), recon_std^2) discretised to
 *           recon_bins bins with open edge bins, with [CODE]'s fallback
 *           (gauss.h bfn_dgauss_log_prob).
 * The gradient of the clip is 0 outside [-1, 1] and also for t < 1e-6.
 * The losses use no random numbers and run OpenMP-parallel over examples,
 * each example summed over d in order by one thread (bitwise reproducible).
 */
#include <math.h>
#include <string.h>

#include "bfn/family.h"
#include "bfn/continuous_keys.h"
#include "bfn/gauss.h"
#include "util/err.h"

/* Largest recon_bins accepted (any sane bit depth). */
#define CTS_MAX_RECON_BINS (1 << 16)

/* x_hat for one dimension and d x_hat / d eps_hat in *dxh (paper/NOTES.md §4.4,
 * Delta with clip_range 1). NaN inputs give NaN (the clip keeps NaN). */
static inline double x_hat(const bfn_noise_pred *np, double mu, double eps_hat, double *dxh) {
    if (np->zero) { *dxh = 0.0; return 0.0; }
    double v = np->a * mu - np->b * eps_hat;
    if (v < -1.0) { *dxh = 0.0; return -1.0; }
    if (v > 1.0) { *dxh = 0.0; return 1.0; }
    *dxh = -np->b;
    return v;
}

/* loss[b] = mean_d w (x - x_hat)^2 for example b; grad (if non-NULL) gets
 * gscale * d loss[b] / d eps_hat. Shared by L^inf and L^n, which differ only
 * in the weight w. */
static void weighted_sq_example(const bfn_family *f, int b, double w, const bfn_noise_pred *np,
                                const float *x, const float *theta, const float *out, double *loss,
                                float *grad, float gscale) {
    int D = f->D;
    const float *xb = x + (size_t)b * D, *th = theta + (size_t)b * D * 2, *ob = out + (size_t)b * D;
    double sum = 0.0, gs = (double)gscale / D;
    for (int d = 0; d < D; d++) {
        double dxh, xh = x_hat(np, th[2 * d], ob[d], &dxh);
        double r = xh - xb[d];
        sum += w * r * r;
        if (grad) grad[(size_t)b * D + d] = (float)(gs * w * 2.0 * r * dxh);
    }
    loss[b] = sum / D;
}

/* L^inf: weight beta'(t)/2 at the example's own t (not clamped, as [CODE]). */
static void cts_loss_cts(const bfn_family *f, int B, const float *x, const float *t, const float *theta,
                         const float *out, double *loss, float *grad, float gscale) {
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        bfn_noise_pred np = bfn_noise_pred_at(&f->sched, t[b]);
        double w = 0.5 * f->sched.beta_prime(&f->sched, t[b]);
        weighted_sq_example(f, b, w, &np, x, theta, out, loss, grad, gscale);
    }
}

/* L^n term: weight n alpha_i / 2, x_hat at t = t_{i-1}. No randomness. */
static void cts_loss_n(const bfn_family *f, int B, const float *x, const float *t, const float *alpha,
                       double n_mult, const float *theta, const float *out, gsl_rng *rng, double *loss,
                       float *grad, float gscale) {
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        bfn_noise_pred np = bfn_noise_pred_at(&f->sched, t[b]);
        weighted_sq_example(f, b, n_mult * 0.5 * alpha[b], &np, x, theta, out, loss, grad, gscale);
    }
}

/* L^r: x_hat at the example's t scored by a discretised N(x_hat, recon_std^2)
 * ([CODE] reconstruction_loss for Delta outputs, "Sec. 7.2"; the paper's L^r is
 * t = 1, other t give the loss-against-time curve). */
static void cts_loss_recon(const bfn_family *f, int B, const float *x, const float *t, const float *theta,
                           const float *out, double *loss) {
    int D = f->D, K = f->recon_bins;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        bfn_noise_pred np = bfn_noise_pred_at(&f->sched, t[b]);
        const float *xb = x + (size_t)b * D, *th = theta + (size_t)b * D * 2, *ob = out + (size_t)b * D;
        double sum = 0.0;
        for (int d = 0; d < D; d++) {
            double dxh, xh = x_hat(&np, th[2 * d], ob[d], &dxh);
            sum -= bfn_dgauss_log_prob(xh, f->recon_std, K, bfn_bin_index(xb[d], K));
        }
        loss[b] = sum / D;
    }
}

/* x_hat for every dimension at the examples' times (sample = mode = mean for
 * a Delta distribution). */
static void cts_x_hat_all(const bfn_family *f, int B, const float *theta, const float *t, const float *out,
                          float *xs) {
    int D = f->D;
    for (int b = 0; b < B; b++) {
        bfn_noise_pred np = bfn_noise_pred_at(&f->sched, t[b]);
        const float *th = theta + (size_t)b * D * 2, *ob = out + (size_t)b * D;
        for (int d = 0; d < D; d++) {
            double dxh;
            xs[(size_t)b * D + d] = (float)x_hat(&np, th[2 * d], ob[d], &dxh);
        }
    }
}

static void cts_output_sample(const bfn_family *f, int B, const float *theta, const float *t, const float *out,
                              gsl_rng *rng, float *xs) {
    cts_x_hat_all(f, B, theta, t, out, xs);
}

static void cts_output_mode(const bfn_family *f, int B, const float *theta, const float *t, const float *out,
                            float *xs) {
    cts_x_hat_all(f, B, theta, t, out, xs);
}

const bfn_family_ops bfn_continuous_ops = {
    .name = "continuous",
    .flow_sample = bfn_gflow_sample,
    .prior = bfn_gflow_prior,
    .net_input = bfn_gflow_net_input,
    .loss_cts = cts_loss_cts,
    .loss_n = cts_loss_n,
    .loss_recon = cts_loss_recon,
    .output_sample = cts_output_sample,
    .output_mode = cts_output_mode,
    .output_mean = cts_output_mode,
    .update = bfn_gflow_update,
};

/* Continuous family over D dimensions. Takes ownership of `sched` even on
 * failure (freed then) and leaves *f zeroed on failure. */
int bfn_continuous_init(bfn_family *f, int D, bfn_schedule sched, int recon_bins, double recon_std) {
    memset(f, 0, sizeof *f);
    int rc = BFN_OK;
    if (D < 1) rc = bfn_error(BFN_EINVAL, "continuous family: D = %d must be >= 1", D);
    else if (recon_bins < 2 || recon_bins > CTS_MAX_RECON_BINS)
        rc = bfn_error(BFN_EINVAL, "continuous family: recon_bins = %d must lie in [2, %d]", recon_bins,
                       CTS_MAX_RECON_BINS);
    else if (!(recon_std > 0.0) || !isfinite(recon_std))
        rc = bfn_error(BFN_EINVAL, "continuous family: recon_std = %g must be finite and > 0", recon_std);
    else if (!sched.beta || !sched.beta_prime)
        rc = bfn_error(BFN_EINVAL, "continuous family: schedule is not initialised");
    if (rc != BFN_OK) {
        bfn_schedule_free(&sched);
        return rc;
    }
    f->ops = &bfn_continuous_ops;
    f->sched = sched;
    f->D = D;
    f->K = 0;
    f->in_ch = 1;
    f->out_ch = 1;
    f->theta_ch = 2;
    f->n_mc = 10; /* unused: L^n is closed form for continuous data */
    f->recon_bins = recon_bins;
    f->recon_std = recon_std;
    return BFN_OK;
}

BFN_KEY_OWN_FITS(bfn_continuous_keys);
#define CONTINUOUS_DEF(...) BFN_KEY_DEF_IN(bfn_continuous_keys, __VA_ARGS__)
const bfn_key_def bfn_continuous_key_defs[] = {BFN_CONTINUOUS_KEYS(CONTINUOUS_DEF) BFN_KEY_END};
