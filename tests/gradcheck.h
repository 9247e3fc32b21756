/* gradcheck.h: the test suite's one finite-difference gradient checker, used
 * by every layer, model and family test.
 *
 * An analytic gradient g[i] = dL/dx[i] is compared with a central difference
 * of the loss, computed with the float values actually stored at x[i] +- h
 * (x + h is rounded in float, so the denominator is (x+) - (x-), not 2h):
 *   two-point   (L(x+) - L(x-)) / ((x+) - (x-))             truncation O(h^2)
 *   four-point  (8 (L(h) - L(-h)) - (L(2h) - L(-2h))) / 12h  truncation O(h^4)
 * and the element passes when
 *   |fd - g| <= atol + rtol max(|fd|, |g|) + loss_noise |L| / ((x+) - (x-)),
 * where the last term bounds the rounding noise of the loss itself (a float
 * loss carries ~1.2e-7 |L| of it, amplified by 1/step in the difference).
 * Each test states why its h and tolerances are right for its function. An
 * element listed in `must_be_zero` (e.g. a clamped output) must have g = 0
 * exactly and a difference within atol + the noise term. */
#ifndef BFN_TESTS_GRADCHECK_H
#define BFN_TESTS_GRADCHECK_H

#include "testutil.h"

typedef struct {
    /* The loss at the current values of x. `i` is the element being
     * perturbed, so a loss that is a vector (one value per example) can
     * return the entry that element affects. */
    double (*loss)(void *ctx, long i);
    void *ctx;
    double h;                        /* step ... */
    double (*step)(void *ctx, long i); /* ... or a step per element (if non-NULL) */
    int four_point;
    double scale;                    /* multiplies the difference (e.g. a gradient scale); 0 means 1 */
    double atol, rtol, loss_noise;
    const int *must_be_zero;         /* optional, one flag per element */
} gradcheck;

/* Check element i of x against g[i]; on a mismatch print `what[i]` with both
 * values and fail the cmocka test. */
static inline void gradcheck_one(const char *what, const gradcheck *c, float *x, const float *g, long i) {
    const double h = c->step ? c->step(c->ctx, i) : c->h;
    const double scale = c->scale != 0 ? c->scale : 1.0;
    const float x0 = x[i];
    const float xp = (float)(x0 + h), xm = (float)(x0 - h);
    x[i] = xp;
    const double lp = c->loss(c->ctx, i);
    x[i] = xm;
    const double lm = c->loss(c->ctx, i);
    const double denom = (double)xp - (double)xm;
    double fd;
    if (c->four_point) {
        const float xp2 = (float)(x0 + 2 * h), xm2 = (float)(x0 - 2 * h);
        x[i] = xp2;
        const double lp2 = c->loss(c->ctx, i);
        x[i] = xm2;
        const double lm2 = c->loss(c->ctx, i);
        fd = (8.0 * (lp - lm) - (lp2 - lm2)) / (6.0 * denom);
    } else {
        fd = (lp - lm) / denom;
    }
    x[i] = x0;
    fd *= scale;
    const double an = (double)g[i];
    const double noise = c->loss_noise * scale * fmax(fabs(lp), fabs(lm)) / denom;
    const int zero = c->must_be_zero && c->must_be_zero[i];
    const double tol = zero ? c->atol + noise : c->atol + c->rtol * fmax(fabs(fd), fabs(an)) + noise;
    if ((zero && an != 0.0) || !(fabs(fd - an) <= tol)) {
        print_error("%s[%ld]: analytic %.9g, finite difference %.9g, |diff| %.3g > tol %.3g%s\n", what, i, an, fd,
                    fabs(fd - an), tol, zero ? " (must be exactly 0)" : "");
        fail();
    }
}

/* Check every element of x[0..n); returns max |g| (to show the check was
 * not vacuous). */
static inline double gradcheck_all(const char *what, const gradcheck *c, float *x, const float *g, long n) {
    double gmax = 0;
    for (long i = 0; i < n; i++) {
        gradcheck_one(what, c, x, g, i);
        gmax = fmax(gmax, fabs((double)g[i]));
    }
    return gmax;
}

#endif
