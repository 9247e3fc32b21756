/* step.c: flow sample, network forward, loss (and its output gradient). */
#include "run/step.h"

#include <math.h>
#include <stdlib.h>

#include "util/err.h"

void bfn_work_alloc(bfn_work *w, const bfn_setup *s, int max_batch) {
    const bfn_family *f = &s->family;
    size_t B = (size_t)max_batch, D = (size_t)f->D;
    w->max_batch = max_batch;
    w->idx = bfn_xmalloc(B * sizeof *w->idx);
    w->x = bfn_xmalloc(B * D * sizeof(float));
    w->t = bfn_xmalloc(B * sizeof(float));
    w->alpha = bfn_xmalloc(B * sizeof(float));
    w->theta = bfn_xmalloc(B * D * (size_t)f->theta_ch * sizeof(float));
    w->in = bfn_xmalloc(B * D * (size_t)f->in_ch * sizeof(float));
    w->out = bfn_xmalloc(B * D * (size_t)f->out_ch * sizeof(float));
    w->dout = bfn_xmalloc(B * D * (size_t)f->out_ch * sizeof(float));
    w->loss = bfn_xmalloc(B * sizeof(double));
}

void bfn_work_free(bfn_work *w) {
    free(w->idx);
    free(w->x);
    free(w->t);
    free(w->alpha);
    free(w->theta);
    free(w->in);
    free(w->out);
    free(w->dout);
    free(w->loss);
}

double bfn_batch_loss(const bfn_setup *s, const float *params, bfn_work *w, int B, int mode, int n,
                      double t_fixed, gsl_rng *rng, int want_grad) {
    const bfn_family *f = &s->family;
    /* Times (and for L^n the step index) are drawn before the flow noise so the
     * random stream's use does not depend on the network. */
    for (int b = 0; b < B; b++) {
        switch (mode) {
        case BFN_LOSS_CTS:
            w->t[b] = (float)gsl_rng_uniform(rng);
            break;
        case BFN_LOSS_NSTEP: {
            int i = 1 + (int)gsl_rng_uniform_int(rng, (unsigned long)n);
            w->t[b] = (float)((double)(i - 1) / n);
            w->alpha[b] = (float)bfn_schedule_alpha(&f->sched, i, n);
            break;
        }
        case BFN_LOSS_RECON:
            w->t[b] = 1.0f;
            break;
        default:
            w->t[b] = (float)t_fixed;
        }
    }
    f->ops->flow_sample(f, B, w->x, w->t, rng, w->theta);
    f->ops->net_input(f, B, w->theta, w->in);
    s->model->ops->forward(s->model, params, B, w->in, w->t, w->out);
    float *grad = want_grad ? w->dout : NULL;
    float gscale = 1.0f / (float)B;
    switch (mode) {
    case BFN_LOSS_CTS:
    case BFN_LOSS_CTS_AT:
        f->ops->loss_cts(f, B, w->x, w->t, w->theta, w->out, w->loss, grad, gscale);
        break;
    case BFN_LOSS_NSTEP:
        f->ops->loss_n(f, B, w->x, w->t, w->alpha, (double)n, w->theta, w->out, rng, w->loss, grad, gscale);
        break;
    default:
        f->ops->loss_recon(f, B, w->x, w->t, w->theta, w->out, w->loss);
    }
    double sum = 0;
    for (int b = 0; b < B; b++) sum += w->loss[b];
    return sum;
}

double bfn_split_pass(const bfn_setup *s, const float *params, bfn_work *w, int split, int mode, int n, double t,
                      gsl_rng *rng, double *sq_sum) {
    long N = s->data.n[split];
    double sum = 0, sq = 0;
    for (long e0 = 0; e0 < N; e0 += w->max_batch) {
        int B = (int)(N - e0 < w->max_batch ? N - e0 : w->max_batch);
        for (int b = 0; b < B; b++) w->idx[b] = e0 + b;
        bfn_dataset_batch(&s->data, split, w->idx, B, rng, w->x);
        sum += bfn_batch_loss(s, params, w, B, mode, n, t, rng, 0);
        for (int b = 0; b < B; b++) sq += w->loss[b] * w->loss[b];
    }
    if (sq_sum) *sq_sum = sq;
    return N ? sum / (double)N : NAN;
}
