/* family.h: the BFN interface every data family implements.
 *
 * A family (discrete, continuous, discretised) supplies the Bayesian flow, the
 * mapping from input-distribution parameters theta to network input, the
 * output distribution from network output, the three losses (continuous-time
 * L^inf, n-step L^n, reconstruction L^r) each with its gradient w.r.t. the
 * network output, and the pieces of one sampling step. The network knows
 * nothing about BFNs; this code knows nothing about layers.
 *
 * Layouts (row-major, B examples, D data dimensions per example):
 *   x      (B, D)            data: class/bin index as float for discrete data,
 *                            value in [-1,1] (a bin centre when binned) otherwise
 *   t      (B)               time per example
 *   theta  (B, D, theta_ch)  input-distribution parameters
 *                            discrete: K probabilities; continuous/discretised:
 *                            (mu, rho) per dimension
 *   in     (B, D * in_ch)    network input (the model appends its own time input)
 *   out    (B, D * out_ch)   network output
 * Losses are written per example (double: a confident model's losses underflow
 * float) as the mean over the D dimensions, in nats
 * per dimension. When `grad` is non-NULL it receives gscale * d loss[b] / d out
 * (overwritten, not accumulated), so gscale = 1/B gives the batch-mean gradient.
 * All time arguments follow the official code's clamps (documented per family).
 */
#ifndef BFN_FAMILY_H
#define BFN_FAMILY_H

#include <gsl/gsl_rng.h>

#include "bfn/schedule.h"
#include "util/keydef.h"

typedef struct bfn_family bfn_family;

typedef struct bfn_family_ops {
    const char *name;
    /* theta ~ p_F(. | x; t): the Bayesian flow distribution. */
    void (*flow_sample)(const bfn_family *f, int B, const float *x, const float *t,
                        gsl_rng *rng, float *theta);
    /* theta of the prior (t = 0) for B examples. */
    void (*prior)(const bfn_family *f, int B, float *theta);
    /* Network input from theta. */
    void (*net_input)(const bfn_family *f, int B, const float *theta, float *in);
    /* Continuous-time loss L^inf(x) at time t. */
    void (*loss_cts)(const bfn_family *f, int B, const float *x, const float *t,
                     const float *theta, const float *out, double *loss, float *grad, float gscale);
    /* n-step loss term n * KL(p_S(.|x; alpha) || p_R(.|theta; t, alpha)) where theta
     * was drawn from the flow at t = t_{i-1} and alpha = alpha_i; `n_mult` = n.
     * Monte Carlo families draw f->n_mc sender samples from rng. */
    void (*loss_n)(const bfn_family *f, int B, const float *x, const float *t,
                   const float *alpha, double n_mult, const float *theta, const float *out,
                   gsl_rng *rng, double *loss, float *grad, float gscale);
    /* Reconstruction loss L^r = -ln p_O(x | theta; t) with theta drawn from the flow at t.
     * The paper's L^r is t = 1 (clamped as the flow clamps it); other t give the
     * "reconstruction loss at time t" curve of the losses-against-time figures. */
    void (*loss_recon)(const bfn_family *f, int B, const float *x, const float *t,
                       const float *theta, const float *out, double *loss);
    /* Draw x' ~ p_O(. | theta; t) into xs (B, D) (a sampler step). */
    void (*output_sample)(const bfn_family *f, int B, const float *theta, const float *t,
                          const float *out, gsl_rng *rng, float *xs);
    /* Mode of p_O(. | theta; t) into xs (B, D) (the sampler's final step). */
    void (*output_mode)(const bfn_family *f, int B, const float *theta, const float *t,
                        const float *out, float *xs);
    /* Output-distribution summary per dimension for plots (B, D): P(class 1) for
     * K = 2, the output mean otherwise. */
    void (*output_mean)(const bfn_family *f, int B, const float *theta, const float *t,
                        const float *out, float *xs);
    /* Sender sample y ~ p_S(. | xs; alpha) and Bayesian update of theta in place. */
    void (*update)(const bfn_family *f, int B, float *theta, const float *xs,
                   const float *alpha, gsl_rng *rng);
} bfn_family_ops;

struct bfn_family {
    const bfn_family_ops *ops;
    bfn_schedule sched;
    int D;          /* data dimensions per example */
    int K;          /* classes (discrete) or bins (discretised); 0 for continuous */
    int in_ch;      /* network inputs per dimension */
    int out_ch;     /* network outputs per dimension */
    int theta_ch;   /* theta floats per dimension */
    int n_mc;       /* Monte Carlo sender samples in L^n (official: 10) */
    int receiver_joint; /* discrete L^n: 0 = product of per-coordinate mixtures (official
                           code, default), 1 = the paper's joint K-dimensional mixture */
    int receiver_floor; /* L^n receiver mixture weights (discrete, discretised): 1 = floored at
                           FLT_EPSILON and renormalised as torch's Categorical in the official
                           code (default), 0 = the paper's exact weights */
    int recon_bins;     /* continuous data: L^r scored as a discretised Gaussian ... */
    double recon_std;   /* ... with this many bins and this std (official: 256, sigma1 or 16, 0.7 sigma1) */
};

/* Constructors. They take ownership of `sched` (freed by bfn_family_free),
 * validate their arguments and return BFN_OK or BFN_EINVAL with a message. */
/* K classes; K = 2 uses one network input (2 theta_1 - 1) and one output logit. */
int bfn_discrete_init(bfn_family *f, int D, int K, bfn_schedule sched);
/* Data in [-1,1]; L^r scored as a discretised Gaussian with recon_bins bins and
 * std recon_std (official: 256 bins with sigma1, 16 bins with 0.7 sigma1). */
int bfn_continuous_init(bfn_family *f, int D, bfn_schedule sched, int recon_bins, double recon_std);
/* K bins on [-1,1]; two outputs per dimension (mu_eps, ln sigma_eps). */
int bfn_discretised_init(bfn_family *f, int D, int K, bfn_schedule sched);
void bfn_family_free(bfn_family *f);

/* ---- Registry ------------------------------------------------------------
 * Every family is one line of the table in family.c: its name, a constructor
 * from bfn_family_params, and its default reporting unit. The run layer
 * builds families only through bfn_family_create, so adding a family touches
 * its own file plus that line. */

/* What a family may be built from (each family reads the fields it needs). */
typedef struct {
    int D;              /* data dimensions per example */
    int classes;        /* discrete data: K */
    int bins;           /* binned image data: K of the discretised family, and the
                           quantisation of continuous data (sets its L^r default) */
    int receiver_joint; /* discrete L^n receiver (see bfn_family.receiver_joint) */
    int receiver_floor; /* L^n mixture weights floored as the official code (see bfn_family) */
    int n_mc;           /* Monte Carlo sender samples in L^n */
    bfn_key_own own;    /* the family's own settings (its registry line's keys), e.g. bfn_continuous_keys */
} bfn_family_params;

typedef struct {
    const char *name;
    /* 1: data are class indices (bfn.classes); 0: values in [-1,1] on bfn.bins bins. */
    int categorical;
    /* Build f; takes ownership of sched (also on failure). */
    int (*create)(bfn_family *f, const bfn_family_params *p, bfn_schedule sched);
    /* Reporting unit for image data of this family ("nats/image", "bits/dim"). */
    const char *(*image_unit)(const bfn_family *f);
    /* The family's own bfn.* keys (NULL-terminated rows filling
     * bfn_family_params.own), or NULL. */
    const bfn_key_def *keys;
    const char *help;
} bfn_family_entry;

extern const bfn_family_ops bfn_discrete_ops, bfn_continuous_ops, bfn_discretised_ops;

/* The registered family called `name`, or NULL. */
const bfn_family_entry *bfn_family_find(const char *name);
/* The i-th registered entry, or NULL past the end. */
const bfn_family_entry *bfn_family_entry_at(int i);
/* Registered names joined by `sep` into buf (for messages and --help). */
void bfn_family_names(char *buf, size_t n, const char *sep);
/* Build the family `name`; an unknown name is BFN_EINVAL listing the known ones. */
int bfn_family_create(bfn_family *f, const char *name, const bfn_family_params *p, bfn_schedule sched);

#endif
