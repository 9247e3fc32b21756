/* sample.c: the n-step BFN sampler and its image/text output. */
#include "run/sample.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run/loadrun.h"
#include "run/step.h"
#include "util/err.h"

/* Data value -> 8-bit grey level for display. */
static uint8_t to_byte(const bfn_setup *s, float x) {
    double v;
    if (bfn_family_find(s->spec.bfn.family)->categorical) v = x * 255.0 / (s->family.K - 1);
    else v = (x + 1.0) * 127.5;
    v = floor(v + 0.5);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static int write_text(const bfn_setup *s, const float *xs, int count, const char *path) {
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (!f) return bfn_error(BFN_EIO, "%s: cannot write", path);
    for (int i = 0; i < count; i++) {
        for (int d = 0; d < s->data.D; d++) {
            int c = (int)xs[(size_t)i * s->data.D + d];
            fputc(c == 0 ? '_' : 'a' + c - 1, f);
        }
        fputc('\n', f);
    }
    if (f != stdout) fclose(f);
    return BFN_OK;
}

void bfn_sample_batch(const bfn_setup *s, const float *params, bfn_work *w, int B, int n, gsl_rng *rng,
                      float *x, bfn_sample_progress progress, void *ctx) {
    const bfn_family *f = &s->family;
    f->ops->prior(f, B, w->theta);
    for (int i = 1; i <= n; i++) {
        const float t = (float)((double)(i - 1) / n), alpha = (float)bfn_schedule_alpha(&f->sched, i, n);
        for (int b = 0; b < B; b++) {
            w->t[b] = t;
            w->alpha[b] = alpha;
        }
        f->ops->net_input(f, B, w->theta, w->in);
        s->model->ops->forward(s->model, params, B, w->in, w->t, w->out);
        f->ops->output_sample(f, B, w->theta, w->t, w->out, rng, x);
        f->ops->update(f, B, w->theta, x, w->alpha, rng);
        if (progress) progress(i, n, ctx);
    }
    for (int b = 0; b < B; b++) w->t[b] = 1.0f;
    f->ops->net_input(f, B, w->theta, w->in);
    s->model->ops->forward(s->model, params, B, w->in, w->t, w->out);
    f->ops->output_mode(f, B, w->theta, w->t, w->out, x);
}

/* Progress on a terminal: one line rewritten in place, about 50 times per run. */
typedef struct { int total, done; } sample_tty;

static void tty_progress(int step, int n, void *ctx) {
    const sample_tty *p = ctx;
    int k = p->done + step, every = p->total / 50 > 0 ? p->total / 50 : 1;
    if (k % every == 0 || k == p->total) fprintf(stderr, "\rsampling: step %d/%d (%3.0f%%)", k, p->total,
                                                 100.0 * k / p->total);
}

int bfn_sample(bfn_config *cfg, const char *out_path, int quiet) {
    bfn_spec spec;
    bfn_spec_resolve(&spec, cfg);
    int count = (int)spec.sample.count, n = (int)spec.sample.steps;
    int maxb = count < 256 ? count : 256;
    bfn_loaded_run run;
    BFN_TRY(bfn_load_run(&run, cfg, maxb, spec.eval.checkpoint));
    bfn_setup *s = &run.s;
    const bfn_family *f = &s->family;
    const int D = f->D;
    bfn_work w;
    bfn_work_alloc(&w, s, maxb);
    float *xs = bfn_xmalloc((size_t)count * D * sizeof(float));
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, spec.sample.seed);
    sample_tty tty = {.total = (count + maxb - 1) / maxb * n, .done = 0};
    int show = !quiet && isatty(fileno(stderr));
    for (int c0 = 0; c0 < count; c0 += maxb) {
        int B = count - c0 < maxb ? count - c0 : maxb;
        bfn_sample_batch(s, s->ema, &w, B, n, rng, xs + (size_t)c0 * D, show ? tty_progress : NULL, &tty);
        tty.done += n;
    }
    if (show) fputs("\r\033[K", stderr);
    int rc;
    if (s->data.is_text) {
        rc = write_text(s, xs, count, out_path);
    } else {
        uint8_t *img = bfn_xmalloc((size_t)count * D);
        for (size_t i = 0; i < (size_t)count * D; i++) img[i] = to_byte(s, xs[i]);
        int cols = (int)ceil(sqrt((double)count));
        rc = bfn_png_write_grid(out_path, img, count, s->data.channels, s->data.height, s->data.width, cols);
        free(img);
    }
    if (rc == BFN_OK && !quiet)
        fprintf(stderr, "[%s] %d samples with %d steps (checkpoint step %ld) -> %s\n", s->key, count, n, run.step,
                out_path);
    gsl_rng_free(rng);
    free(xs);
    bfn_work_free(&w);
    bfn_unload_run(&run);
    return rc;
}
