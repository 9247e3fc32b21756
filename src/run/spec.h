/* spec.h: a run's resolved settings as typed structs.
 *
 * run/config.c reads experiment files, profiles and overrides and checks
 * every value against the schema; bfn_spec_resolve then turns the resolved
 * config into this spec once. Everything downstream takes the spec (or the
 * part it needs): a field name is checked by the compiler, where a key
 * string would be checked only when the line runs. Each layer owns the
 * description of what it needs (data/: bfn_data_params, bfn/:
 * bfn_family_params and bfn_schedule_params, models/: bfn_model_spec); the
 * spec holds them filled in.
 *
 * Strings point into the config, which must outlive the spec. */
#ifndef BFN_RUN_SPEC_H
#define BFN_RUN_SPEC_H

#include "bfn/family.h"
#include "bfn/schedule.h"
#include "data/dataset.h"
#include "models/registry.h"
#include "nn/optim.h"
#include "run/config.h"

/* Which loss a batch estimates (run/step.h); training uses CTS or NSTEP. */
typedef enum { BFN_LOSS_CTS = 0, BFN_LOSS_NSTEP = 1, BFN_LOSS_RECON = 2, BFN_LOSS_CTS_AT = 3, BFN_LOSS_RECON_AT = 4 }
    bfn_loss_kind;

typedef struct {
    const char *family;          /* bfn.family (a registered family) */
    bfn_family_params params;    /* D is filled from the dataset at setup */
    const char *schedule;        /* bfn.schedule (a registered schedule) */
    bfn_schedule_params schedule_params;
    const char *receiver_floor;  /* "official" | "exact", as recorded with evaluations */
} bfn_bfn_spec;

typedef struct {
    bfn_loss_kind loss;          /* BFN_LOSS_CTS or BFN_LOSS_NSTEP */
    long loss_steps, steps, batch;
    double lr, adam_beta1, adam_beta2, adam_eps, weight_decay, ema_decay, clip;
    int ema_warmup;              /* EMA decay min(ema_decay, (1 + t)/(10 + t)) at step t */
    unsigned long seed;
    long log_every, ckpt_every, keep_every, val_every, val_repeats;
} bfn_train_spec;

typedef struct {
    int steps[BFN_MAX_LIST];     /* n of each test L^n; 0 = infinity (L^inf) */
    int n_steps;
    long repeats, batch, t_bins;
    unsigned long seed;
    const char *checkpoint;      /* "last" | "best" */
    const char *unit;            /* "auto" or a unit name */
} bfn_eval_spec;

typedef struct {
    long steps, count;
    unsigned long seed;
} bfn_sample_spec;

typedef struct {
    const char *experiment;      /* experiment.name */
    bfn_data_params data;
    bfn_bfn_spec bfn;
    bfn_model_spec model;
    bfn_train_spec train;
    bfn_eval_spec eval;
    bfn_sample_spec sample;
    const bfn_config *cfg;       /* for bfn_spec_origin */
} bfn_spec;

/* The AdamW + EMA settings of a training spec. */
bfn_adamw_cfg bfn_spec_adamw(const bfn_train_spec *t);

/* Fill s from a resolved (already validated) config. */
void bfn_spec_resolve(bfn_spec *s, const bfn_config *cfg);
/* Where the setting `key` ("bfn.bins") came from, for FILE:LINE messages. */
static inline const char *bfn_spec_origin(const bfn_spec *s, const char *key) { return bfn_cfg_origin(s->cfg, key); }

#endif
