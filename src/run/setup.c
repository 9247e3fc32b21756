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

static int make_schedule(const bfn_config *cfg, bfn_schedule *sched) {
    bfn_schedule_params p = {
        .beta1 = bfn_cfg_real(cfg, "bfn.beta1"),
        .sigma1 = bfn_cfg_real(cfg, "bfn.sigma1"),
        .table_path = bfn_cfg_str(cfg, "bfn.schedule_table"),
    };
    int rc = bfn_schedule_init(sched, bfn_cfg_str(cfg, "bfn.schedule"), &p);
    if (rc != BFN_OK) return bfn_error_prefix(rc, "%s", bfn_cfg_origin(cfg, "bfn.schedule"));
    return BFN_OK;
}

static int make_family(bfn_setup *s) {
    const bfn_config *cfg = s->cfg;
    const char *fam = bfn_cfg_str(cfg, "bfn.family");
    bfn_schedule sched;
    BFN_TRY(make_schedule(cfg, &sched));
    int D = s->data.D, rc;
    if (strcmp(fam, "discrete") == 0) {
        rc = bfn_discrete_init(&s->family, D, (int)bfn_cfg_int(cfg, "bfn.classes"), sched);
        s->family.receiver_joint = strcmp(bfn_cfg_str(cfg, "bfn.receiver"), "joint") == 0;
    } else if (strcmp(fam, "continuous") == 0) {
        int bins = (int)bfn_cfg_int(cfg, "bfn.bins");
        int rbins = (int)bfn_cfg_int(cfg, "bfn.recon_bins");
        double rstd = bfn_cfg_real(cfg, "bfn.recon_std");
        /* Official: L^r of continuous models is a discretised Gaussian with std
         * sigma1 on 256 bins, or 0.7 sigma1 on 16 bins (PAPER.md 4.2). sigma1 is
         * the final input std, 1/sqrt(1 + beta(1)), so any schedule works. */
        double sigma1 = 1.0 / sqrt(1.0 + sched.beta(&sched, 1.0));
        if (rbins == 0) rbins = bins;
        if (rstd == 0) rstd = bins == 16 ? 0.7 * sigma1 : sigma1;
        rc = bfn_continuous_init(&s->family, D, sched, rbins, rstd);
    } else {
        rc = bfn_discretised_init(&s->family, D, (int)bfn_cfg_int(cfg, "bfn.bins"), sched);
    }
    if (rc != BFN_OK) return bfn_error_prefix(rc, "%s", bfn_cfg_origin(cfg, "bfn.family"));
    s->family.n_mc = (int)bfn_cfg_int(cfg, "bfn.mc_samples");
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
    return bfn_model_create(&s->model, s->cfg, &shape);
}

static void choose_unit(bfn_setup *s) {
    const char *u = bfn_cfg_str(s->cfg, "eval.unit");
    if (strcmp(u, "auto") == 0) {
        if (s->data.is_text) u = "bits/char";
        else if (strcmp(bfn_cfg_str(s->cfg, "bfn.family"), "discrete") == 0 && s->family.K == 2) u = "nats/image";
        else u = "bits/dim";
    }
    s->unit = u;
    if (strcmp(u, "nats/image") == 0) s->unit_scale = s->data.D;
    else if (strcmp(u, "nats/dim") == 0) s->unit_scale = 1.0;
    else s->unit_scale = 1.0 / log(2.0);
}

int bfn_setup_open(bfn_setup *s, bfn_config *cfg, int max_batch) {
    memset(s, 0, sizeof *s);
    s->cfg = cfg;
    bfn_config_run_key(cfg, s->key);
    int rc = bfn_dataset_open(&s->data, cfg);
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
    gsl_rng_set(r, (unsigned long)bfn_cfg_int(s->cfg, "train.seed") * 2654435761UL + 1);
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
