/* schedule.c: the registry of accuracy schedules beta(t) (see schedule.h).
 *
 * Every schedule is a pair beta(t), beta'(t) plus a parameter check; the
 * registry below is the only place that lists them, so adding a schedule is
 * two functions and one line in SCHEDULE_REGISTRY. The rest of the harness
 * (flow, alpha_i, loss weights, sampler) only ever calls s->beta and
 * s->beta_prime.
 *
 * After a successful init, s->beta1 holds beta(1) for every schedule (for
 * "exponential" it is sigma1^-2 - 1, for "table" the last knot's beta), so
 * callers and tests can read the final accuracy without knowing the formula.
 */
#include "bfn/schedule.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

/* ---- quadratic: beta(t) = beta1 t^2 (discrete data, paper Sec. 6.3 / [CODE]
 * DiscreteBayesianFlow). The official configs give sqrt(beta(1)) as
 * max_sqrt_beta: 3 for MNIST so beta1 = 9, 0.75 for text8 so beta1 = 0.5625.
 * alpha_i = beta1 (2i - 1) / n^2 follows from the difference. */
static double quadratic_beta(const bfn_schedule *s, double t) { return s->beta1 * t * t; }
static double quadratic_beta_prime(const bfn_schedule *s, double t) { return 2.0 * s->beta1 * t; }

/* ---- exponential: beta(t) = sigma1^(-2t) - 1 (continuous and discretised
 * data, paper Sec. 4, [CODE] CtsBayesianFlow with min_variance = sigma1^2),
 * so the input precision 1 + beta(t) = sigma1^(-2t) and beta' = -2 ln(sigma1) sigma1^(-2t). */
static double exponential_beta(const bfn_schedule *s, double t) { return expm1(-2.0 * t * log(s->sigma1)); }
static double exponential_beta_prime(const bfn_schedule *s, double t) {
    double ln_s = log(s->sigma1);
    return -2.0 * ln_s * exp(-2.0 * t * ln_s);
}

/* ---- linear: beta(t) = beta1 t (constant accuracy rate; not in the paper, an
 * experiment). */
static double linear_beta(const bfn_schedule *s, double t) { return s->beta1 * t; }
static double linear_beta_prime(const bfn_schedule *s, double t) { return s->beta1; }

/* ---- cosine: beta(t) = beta1 (1 - cos(pi t / 2)) (not in the paper; our
 * choice). It is monotone on [0,1], beta(0) = 0, beta(1) = beta1 and
 * beta'(t) = beta1 (pi/2) sin(pi t / 2) is finite everywhere, starting at 0
 * like the quadratic schedule but rising faster mid-way and flattening at t = 1.
 * 1 - cos is written as 2 sin^2(pi t / 4) to keep relative accuracy near t = 0. */
static double cosine_beta(const bfn_schedule *s, double t) {
    double h = sin(M_PI * t / 4.0);
    return s->beta1 * 2.0 * h * h;
}
static double cosine_beta_prime(const bfn_schedule *s, double t) { return s->beta1 * (M_PI / 2.0) * sin(M_PI * t / 2.0); }

/* ---- table: piecewise-linear beta through knots (t_j, beta_j) read from a
 * TSV file (see table_init). beta' is the slope of the segment to the right
 * of t (at a knot, the segment that starts there; at t = 1, the last
 * segment). t outside [0,1] is clamped. */

/* Index j of the segment [t_j, t_{j+1}] holding t (right-hand at knots). */
static int table_segment(const bfn_schedule *s, double t) {
    int lo = 0, hi = s->n_knots - 2; /* segments 0..n_knots-2 */
    while (lo < hi) {                /* largest j with knot_t[j] <= t */
        int mid = (lo + hi + 1) / 2;
        if (s->knot_t[mid] <= t) lo = mid; else hi = mid - 1;
    }
    return lo;
}
static double table_beta(const bfn_schedule *s, double t) {
    if (t <= 0.0) return s->knot_beta[0];
    if (t >= 1.0) return s->knot_beta[s->n_knots - 1];
    int j = table_segment(s, t);
    double w = (t - s->knot_t[j]) / (s->knot_t[j + 1] - s->knot_t[j]);
    return s->knot_beta[j] + w * (s->knot_beta[j + 1] - s->knot_beta[j]);
}
static double table_beta_prime(const bfn_schedule *s, double t) {
    int j = table_segment(s, t < 0.0 ? 0.0 : t > 1.0 ? 1.0 : t);
    return (s->knot_beta[j + 1] - s->knot_beta[j]) / (s->knot_t[j + 1] - s->knot_t[j]);
}

/* ---- parameter checks (shared between schedules with the same parameter). */

/* beta1 must be finite and positive (beta strictly increasing from 0). */
static int beta1_init(bfn_schedule *s, const char *name, const bfn_schedule_params *p) {
    if (!isfinite(p->beta1) || p->beta1 <= 0.0)
        return bfn_error(BFN_EINVAL, "schedule %s: beta1 = %g must be finite and > 0", name, p->beta1);
    s->beta1 = p->beta1;
    return BFN_OK;
}

/* sigma1 in (0,1): the final input std of the continuous flow. */
static int sigma1_init(bfn_schedule *s, const char *name, const bfn_schedule_params *p) {
    if (!(p->sigma1 > 0.0 && p->sigma1 < 1.0))
        return bfn_error(BFN_EINVAL, "schedule %s: sigma1 = %g must lie in (0, 1)", name, p->sigma1);
    s->sigma1 = p->sigma1;
    s->beta1 = expm1(-2.0 * log(p->sigma1));
    return BFN_OK;
}

/* Parse one number from *cur (leading blanks skipped); 0 on success. */
static int parse_number(char **cur, double *v) {
    char *end;
    errno = 0;
    *v = strtod(*cur, &end);
    if (end == *cur || errno == ERANGE || !isfinite(*v)) return -1;
    *cur = end;
    return 0;
}

/* Read knots from p->table_path. Format: one knot per line, "t<TAB>beta"
 * (any blanks separate), '#' starts a comment, blank lines are skipped.
 * Requires >= 2 knots, the first (0, 0), the last at t = 1, t and beta
 * strictly increasing. Errors name the file and the line. */
static int table_init(bfn_schedule *s, const char *name, const bfn_schedule_params *p) {
    const char *path = p->table_path;
    if (!path || !*path) return bfn_error(BFN_EINVAL, "schedule %s: table_path is not set", name);
    FILE *fp = fopen(path, "r");
    if (!fp) return bfn_error(BFN_EINVAL, "%s: cannot open schedule table: %s", path, strerror(errno));

    int cap = 16, n = 0, lineno = 0, last_line = 0, rc = BFN_OK;
    double *kt = bfn_xmalloc((size_t)cap * sizeof *kt), *kb = bfn_xmalloc((size_t)cap * sizeof *kb);
    char line[512];
    while (fgets(line, sizeof line, fp)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n' && !feof(fp)) {
            rc = bfn_error(BFN_EINVAL, "%s:%d: line too long", path, lineno);
            break;
        }
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        char *cur = line;
        cur += strspn(cur, " \t\r\n");
        if (!*cur) continue;
        double tv, bv;
        if (parse_number(&cur, &tv) || parse_number(&cur, &bv) || cur[strspn(cur, " \t\r\n")] != '\0') {
            rc = bfn_error(BFN_EINVAL, "%s:%d: expected two finite numbers \"t<TAB>beta\"", path, lineno);
            break;
        }
        if (n == 0 && (tv != 0.0 || bv != 0.0)) {
            rc = bfn_error(BFN_EINVAL, "%s:%d: first knot must be t=0, beta=0 (got %g, %g)", path, lineno, tv, bv);
            break;
        }
        if (n > 0 && !(tv > kt[n - 1])) {
            rc = bfn_error(BFN_EINVAL, "%s:%d: t = %g does not increase (previous %g)", path, lineno, tv, kt[n - 1]);
            break;
        }
        if (n > 0 && !(bv > kb[n - 1])) {
            rc = bfn_error(BFN_EINVAL, "%s:%d: beta = %g does not increase (previous %g)", path, lineno, bv, kb[n - 1]);
            break;
        }
        if (tv > 1.0) {
            rc = bfn_error(BFN_EINVAL, "%s:%d: t = %g is beyond 1", path, lineno, tv);
            break;
        }
        if (n == cap) {
            cap *= 2;
            double *nt = realloc(kt, (size_t)cap * sizeof *kt), *nb;
            if (!nt) { rc = bfn_error(BFN_ENOMEM, "%s: out of memory", path); break; }
            kt = nt;
            nb = realloc(kb, (size_t)cap * sizeof *kb);
            if (!nb) { rc = bfn_error(BFN_ENOMEM, "%s: out of memory", path); break; }
            kb = nb;
        }
        kt[n] = tv;
        kb[n] = bv;
        n++;
        last_line = lineno;
    }
    if (rc == BFN_OK && ferror(fp)) rc = bfn_error(BFN_EINVAL, "%s:%d: read error", path, lineno);
    fclose(fp);
    if (rc == BFN_OK && n < 2)
        rc = bfn_error(BFN_EINVAL, "%s:%d: need at least two knots (t=0 and t=1), found %d", path, lineno, n);
    if (rc == BFN_OK && kt[n - 1] != 1.0)
        rc = bfn_error(BFN_EINVAL, "%s:%d: last knot must have t = 1 (got %g)", path, last_line, kt[n - 1]);
    if (rc != BFN_OK) {
        free(kt);
        free(kb);
        return rc;
    }
    s->n_knots = n;
    s->knot_t = kt;
    s->knot_beta = kb;
    s->beta1 = kb[n - 1];
    return BFN_OK;
}

/* ---- the registry: X(name, beta, beta_prime, init). Add a schedule here. */
#define SCHEDULE_REGISTRY(X)                                                  \
    X("quadratic", quadratic_beta, quadratic_beta_prime, beta1_init)          \
    X("exponential", exponential_beta, exponential_beta_prime, sigma1_init)   \
    X("linear", linear_beta, linear_beta_prime, beta1_init)                   \
    X("cosine", cosine_beta, cosine_beta_prime, beta1_init)                   \
    X("table", table_beta, table_beta_prime, table_init)

typedef struct {
    const char *name;
    double (*beta)(const bfn_schedule *s, double t);
    double (*beta_prime)(const bfn_schedule *s, double t);
    int (*init)(bfn_schedule *s, const char *name, const bfn_schedule_params *p);
} schedule_entry;

#define AS_ENTRY(nm, b, bp, in) {nm, b, bp, in},
#define AS_NAME(nm, b, bp, in) nm,
static const schedule_entry registry[] = {SCHEDULE_REGISTRY(AS_ENTRY)};
static const char *const registry_names[] = {SCHEDULE_REGISTRY(AS_NAME) NULL};
enum { N_SCHEDULES = sizeof registry / sizeof registry[0] };

const char *const *bfn_schedule_names(void) { return registry_names; }

/* Look `name` up in the registry and run its parameter check. On failure `s`
 * is left zeroed (safe to bfn_schedule_free). */
int bfn_schedule_init(bfn_schedule *s, const char *name, const bfn_schedule_params *p) {
    memset(s, 0, sizeof *s);
    const schedule_entry *e = NULL;
    for (int i = 0; name && i < N_SCHEDULES; i++)
        if (strcmp(registry[i].name, name) == 0) e = &registry[i];
    if (!e) {
        char list[256] = "";
        for (int i = 0; i < N_SCHEDULES; i++) {
            strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
            strncat(list, registry[i].name, sizeof list - strlen(list) - 1);
        }
        return bfn_error(BFN_EINVAL, "unknown schedule \"%s\" (registered: %s)", name ? name : "(null)", list);
    }
    if (!p) return bfn_error(BFN_EINVAL, "schedule %s: no parameters given", e->name);
    int rc = e->init(s, e->name, p);
    if (rc != BFN_OK) {
        bfn_schedule_free(s);
        return rc;
    }
    s->name = e->name;
    s->beta = e->beta;
    s->beta_prime = e->beta_prime;
    return BFN_OK;
}

/* Free a tabulated schedule's knots; safe on any initialised or zeroed schedule. */
void bfn_schedule_free(bfn_schedule *s) {
    if (!s) return;
    free(s->knot_t);
    free(s->knot_beta);
    s->knot_t = s->knot_beta = NULL;
    s->n_knots = 0;
}

/* alpha_i = beta(i/n) - beta((i-1)/n): the accuracy added by step i of n
 * (paper eq. for the n-step loss; the quadratic case gives beta1 (2i-1)/n^2). */
double bfn_schedule_alpha(const bfn_schedule *s, int i, int n) {
    return s->beta(s, (double)i / n) - s->beta(s, (double)(i - 1) / n);
}
