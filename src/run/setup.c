/* setup.c: build dataset, family, model and buffers from a config. */
#include "run/setup.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>
#include <omp.h>

#include "models/registry.h"
#include "util/err.h"

const char *bfn_db_path(void) {
    const char *p = getenv("BFN_DB");
    return p && *p ? p : "results/bfn.db";
}

static const char *results_dir(void) {
    const char *p = getenv("BFN_RESULTS");
    return p && *p ? p : "results";
}

void bfn_run_dir(const char *key, char *out, int n) { snprintf(out, (size_t)n, "%s/runs/%s", results_dir(), key); }

void bfn_ckpt_path(const char *key, const char *kind, char *out, int n) {
    snprintf(out, (size_t)n, "%s/runs/%s/%s.h5", results_dir(), key, kind);
}

/* The dataset from [data], prepared for the family's K from [bfn]; an
 * invalid setting is reported where it was set. */
static int open_data(bfn_setup *s) {
    const char *bad = NULL;
    int rc = bfn_dataset_open(&s->data, &s->spec.data, &bad);
    if (rc == BFN_OK || !bad) return rc;
    char key[32];
    int in_bfn = strcmp(bad, "classes") == 0 || strcmp(bad, "bins") == 0 || strcmp(bad, "family") == 0;
    snprintf(key, sizeof key, "%s.%s", in_bfn ? "bfn" : "data", bad);
    return bfn_error_prefix(rc, "%s", bfn_spec_origin(&s->spec, key));
}

static int make_family(bfn_setup *s) {
    const bfn_bfn_spec *b = &s->spec.bfn;
    bfn_schedule sched;
    bfn_schedule_params sp = bfn_spec_schedule_params(b);
    int rc = bfn_schedule_init(&sched, b->schedule, &sp);
    if (rc != BFN_OK) return bfn_error_prefix(rc, "%s", bfn_spec_origin(&s->spec, "bfn.schedule"));
    bfn_family_params p = bfn_spec_family_params(b);
    p.D = s->data.D;
    rc = bfn_family_create(&s->family, b->family, &p, sched);
    if (rc != BFN_OK) return bfn_error_prefix(rc, "%s", bfn_spec_origin(&s->spec, "bfn.family"));
    return BFN_OK;
}

/* The network named by model.arch, shaped by the family's channels and the
 * data (image C, H, W or sequence length); see models/registry.c. */
static int make_model(bfn_setup *s, int max_batch) {
    const bfn_family *f = &s->family;
    bfn_model_shape shape = {
        .in_ch = f->in_ch, .out_ch = f->out_ch, .D = f->D,
        .channels = s->data.is_text ? 0 : s->data.channels,
        .height = s->data.is_text ? 0 : s->data.height,
        .width = s->data.is_text ? 0 : s->data.width,
        .seq_len = f->D, .max_batch = max_batch,
    };
    return bfn_model_create(&s->model, &s->spec.model, &shape);
}

static void choose_unit(bfn_setup *s) {
    const char *u = s->spec.eval.unit;
    if (strcmp(u, "auto") == 0) {
        /* Text is reported per character; images as their family says. */
        if (s->data.is_text) u = "bits/char";
        else u = bfn_family_find(s->spec.bfn.family)->image_unit(&s->family);
    }
    s->unit = u;
    if (strcmp(u, "nats/image") == 0) s->unit_scale = s->data.D;
    else if (strcmp(u, "nats/dim") == 0) s->unit_scale = 1.0;
    else s->unit_scale = 1.0 / log(2.0);
}

int bfn_setup_open(bfn_setup *s, bfn_config *cfg, int max_batch) {
    memset(s, 0, sizeof *s);
    s->cfg = cfg;
    bfn_spec_resolve(&s->spec, cfg);
    bfn_config_run_key(cfg, s->key);
    int rc = open_data(s);
    if (rc == BFN_OK) rc = make_family(s);
    if (rc == BFN_OK) rc = make_model(s, max_batch);
    if (rc != BFN_OK) { bfn_setup_close(s); return rc; }
    s->n_params = s->model->layout.n;
    size_t bytes = s->n_params * sizeof(float);
    s->params = bfn_xcalloc(1, bytes);
    s->grads = bfn_xcalloc(1, bytes);
    s->adam_m = bfn_xcalloc(1, bytes);
    s->adam_v = bfn_xcalloc(1, bytes);
    s->ema = bfn_xcalloc(1, bytes);
    s->threads = omp_get_max_threads();
    choose_unit(s);
    return BFN_OK;
}

void bfn_setup_init_params(bfn_setup *s) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    /* Initialisation has its own stream so changing the noise stream's use
     * (e.g. the number of MC samples) never changes the initial weights. */
    gsl_rng_set(r, s->spec.train.seed * 2654435761UL + 1);
    s->model->ops->init(s->model, s->params, r);
    gsl_rng_free(r);
    memcpy(s->ema, s->params, s->n_params * sizeof(float));
    memset(s->adam_m, 0, s->n_params * sizeof(float));
    memset(s->adam_v, 0, s->n_params * sizeof(float));
}

void bfn_setup_close(bfn_setup *s) {
    if (s->family.ops) bfn_family_free(&s->family);
    bfn_model_free(s->model);
    bfn_dataset_close(&s->data);
    free(s->params);
    free(s->grads);
    free(s->adam_m);
    free(s->adam_v);
    free(s->ema);
    memset(s, 0, sizeof *s);
}
