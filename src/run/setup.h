/* setup.h: everything a run needs, built from a resolved config: the dataset,
 * the BFN family with its schedule, the network, and the flat buffers for
 * parameters, gradients, AdamW moments and the EMA copy. train, eval and
 * sample all start from here so they agree on every derived quantity. */
#ifndef BFN_RUN_SETUP_H
#define BFN_RUN_SETUP_H

#include "bfn/family.h"
#include "data/dataset.h"
#include "models/model.h"
#include "run/config.h"
#include "run/spec.h"

typedef struct {
    bfn_config *cfg;      /* borrowed */
    bfn_spec spec;        /* the config as typed settings */
    char key[17];         /* run key */
    bfn_dataset data;
    bfn_family family;
    bfn_model *model;
    size_t n_params;
    float *params, *grads, *adam_m, *adam_v, *ema;
    /* reporting unit: value_in_unit = nats_per_dim * unit_scale */
    const char *unit;
    double unit_scale;
    int threads;
} bfn_setup;

/* Build everything; `max_batch` sizes the model's activations. Parameters
 * are left uninitialised (see bfn_setup_init_params). */
int bfn_setup_open(bfn_setup *s, bfn_config *cfg, int max_batch);
/* Deterministic initialisation from train.seed; EMA starts as a copy. */
void bfn_setup_init_params(bfn_setup *s);
void bfn_setup_close(bfn_setup *s);

/* Paths derived from the run key under results/. */
void bfn_run_dir(const char *key, char *out, int n);
void bfn_ckpt_path(const char *key, const char *kind, char *out, int n);
const char *bfn_db_path(void);

#endif
