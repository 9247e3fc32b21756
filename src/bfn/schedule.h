/* schedule.h: accuracy schedules beta(t) behind one interface.
 *
 * A schedule is the pair beta(t), beta'(t) = alpha(t) on t in [0,1] with
 * beta(0) = 0 and beta strictly increasing (paper Sec. 3). Everything else the
 * harness needs (the flow, the n-step accuracies alpha_i, the continuous-time
 * loss weight, the sampler) is derived from these two functions, so a new
 * schedule is one function pair plus one line in the registry in schedule.c.
 *
 * Built in:
 *   "quadratic"   beta(t) = beta1 t^2          (discrete data, paper eq. 182-ish;
 *                 the official configs give sqrt(beta1): 3 for MNIST -> beta1 = 9,
 *                 0.75 for text8 -> beta1 = 0.5625)
 *   "exponential" beta(t) = sigma1^(-2t) - 1   (continuous / discretised data,
 *                 paper Sec. 4.4; sigma1^2 = 1e-6 for 8-bit CIFAR, 1e-3 for 4-bit)
 */
#ifndef BFN_SCHEDULE_H
#define BFN_SCHEDULE_H

typedef struct bfn_schedule bfn_schedule;

/* Parameters a schedule may read; each schedule documents which it uses. */
typedef struct {
    double beta1;           /* beta(1) for quadratic, linear, cosine */
    double sigma1;          /* final input std for exponential */
    const char *table_path; /* TSV of (t, beta) knots for "table" */
} bfn_schedule_params;

struct bfn_schedule {
    const char *name;
    double (*beta)(const bfn_schedule *s, double t);
    double (*beta_prime)(const bfn_schedule *s, double t);
    double beta1, sigma1;
    /* tabulated schedules only (owned) */
    int n_knots;
    double *knot_t, *knot_beta;
};

/* Initialise `s` as the registered schedule `name` with parameters `p`.
 * Returns BFN_OK, or BFN_EINVAL with a message naming the bad value
 * (unknown name, beta1 <= 0, sigma1 outside (0,1), invalid table). */
int bfn_schedule_init(bfn_schedule *s, const char *name, const bfn_schedule_params *p);
void bfn_schedule_free(bfn_schedule *s);

/* n-step accuracy alpha_i = beta(i/n) - beta((i-1)/n), i in 1..n (paper eq. 86 etc.). */
double bfn_schedule_alpha(const bfn_schedule *s, int i, int n);

/* Registered schedule names, NULL-terminated (for --help and tests). */
const char *const *bfn_schedule_names(void);

#endif
