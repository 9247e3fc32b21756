/* spec.h: a run's resolved settings as typed structs.
 *
 * run/config.c reads experiment files, profiles and overrides and checks
 * every value against the schema; bfn_spec_resolve then turns the resolved
 * config into this spec once. Everything downstream takes the spec (or the
 * part it needs): a field name is checked by the compiler, where a key
 * string would be checked only when the line runs.
 *
 * The fields are generated from the key lists (run/spec_keys.h for the core
 * sections, data/dataset.h for [data]; util/keydef.h): one field per key,
 * named after it, so a key is declared once. The chosen network's, family's
 * and dataset's own keys go to their `own` settings (models/NAME_keys.h,
 * bfn/continuous_keys.h, data/text_keys.h).
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
#include "run/spec_keys.h"

/* Which loss a batch estimates (run/step.h); training uses CTS or NSTEP
 * (the position of train.loss's value in "cts|nstep"). */
typedef enum { BFN_LOSS_CTS = 0, BFN_LOSS_NSTEP = 1, BFN_LOSS_RECON = 2, BFN_LOSS_CTS_AT = 3, BFN_LOSS_RECON_AT = 4 }
    bfn_loss_kind;

typedef struct { BFN_EXPERIMENT_KEYS(BFN_KEY_FIELD) } bfn_experiment_spec;
typedef struct {
    BFN_BFN_KEYS(BFN_KEY_FIELD)  /* receiver: 0 marginal, 1 joint */
    bfn_key_own own;             /* the family's own settings */
} bfn_bfn_spec;
typedef struct { BFN_TRAIN_KEYS(BFN_KEY_FIELD) } bfn_train_spec; /* loss: BFN_LOSS_CTS or BFN_LOSS_NSTEP */
typedef struct { BFN_EVAL_KEYS(BFN_KEY_FIELD) } bfn_eval_spec;   /* steps: n of each test L^n, 0 = inf */
typedef struct { BFN_SAMPLE_KEYS(BFN_KEY_FIELD) } bfn_sample_spec;

typedef struct {
    bfn_experiment_spec experiment;
    bfn_data_params data;        /* classes and bins filled from [bfn]; D at set-up */
    bfn_bfn_spec bfn;
    bfn_model_spec model;
    bfn_train_spec train;
    bfn_eval_spec eval;
    bfn_sample_spec sample;
    const bfn_config *cfg;       /* for bfn_spec_origin */
} bfn_spec;

/* The AdamW + EMA settings of a training spec. */
bfn_adamw_cfg bfn_spec_adamw(const bfn_train_spec *t);
/* What the family and its schedule are built from (D = 0: set-up fills it). */
bfn_family_params bfn_spec_family_params(const bfn_bfn_spec *b);
bfn_schedule_params bfn_spec_schedule_params(const bfn_bfn_spec *b);

/* Fill s from a resolved (already validated) config. */
void bfn_spec_resolve(bfn_spec *s, const bfn_config *cfg);
/* Where the setting `key` ("bfn.bins") came from, for FILE:LINE messages. */
static inline const char *bfn_spec_origin(const bfn_spec *s, const char *key) { return bfn_cfg_origin(s->cfg, key); }

/* The core key rows of `section` ("train"), NULL-terminated (run/config.c
 * builds its schema from them and the registries' rows). */
const bfn_key_def *bfn_spec_core_keys(const char *section);

#endif
