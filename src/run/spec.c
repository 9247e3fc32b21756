/* spec.c: the resolved config as typed structs (see spec.h). The fields
 * are filled through the key rows generated from the same lists as the
 * fields themselves; only the values derived from several keys are written
 * here by hand. */
#include "run/spec.h"

#include <string.h>

#define EXPERIMENT_DEF(...) BFN_KEY_DEF_IN(bfn_experiment_spec, __VA_ARGS__)
#define DATA_DEF(...) BFN_KEY_DEF_IN(bfn_data_params, __VA_ARGS__)
#define BFN_DEF(...) BFN_KEY_DEF_IN(bfn_bfn_spec, __VA_ARGS__)
#define MODEL_DEF(...) BFN_KEY_DEF_IN(bfn_model_spec, __VA_ARGS__)
#define TRAIN_DEF(...) BFN_KEY_DEF_IN(bfn_train_spec, __VA_ARGS__)
#define EVAL_DEF(...) BFN_KEY_DEF_IN(bfn_eval_spec, __VA_ARGS__)
#define SAMPLE_DEF(...) BFN_KEY_DEF_IN(bfn_sample_spec, __VA_ARGS__)
static const bfn_key_def EXPERIMENT_ROWS[] = {BFN_EXPERIMENT_KEYS(EXPERIMENT_DEF) BFN_KEY_END};
static const bfn_key_def DATA_ROWS[] = {BFN_DATA_KEYS(DATA_DEF) BFN_KEY_END};
static const bfn_key_def BFN_ROWS[] = {BFN_BFN_KEYS(BFN_DEF) BFN_KEY_END};
static const bfn_key_def MODEL_ROWS[] = {BFN_MODEL_KEYS(MODEL_DEF) BFN_KEY_END};
static const bfn_key_def TRAIN_ROWS[] = {BFN_TRAIN_KEYS(TRAIN_DEF) BFN_KEY_END};
static const bfn_key_def EVAL_ROWS[] = {BFN_EVAL_KEYS(EVAL_DEF) BFN_KEY_END};
static const bfn_key_def SAMPLE_ROWS[] = {BFN_SAMPLE_KEYS(SAMPLE_DEF) BFN_KEY_END};

const bfn_key_def *bfn_spec_core_keys(const char *section) {
    static const struct {
        const char *section;
        const bfn_key_def *rows;
    } CORE[] = {{"experiment", EXPERIMENT_ROWS}, {"data", DATA_ROWS}, {"bfn", BFN_ROWS},      {"model", MODEL_ROWS},
                {"train", TRAIN_ROWS},           {"eval", EVAL_ROWS}, {"sample", SAMPLE_ROWS}};
    for (size_t i = 0; i < sizeof CORE / sizeof CORE[0]; i++)
        if (strcmp(CORE[i].section, section) == 0) return CORE[i].rows;
    return NULL;
}

static const char *config_origin(const void *ctx, const char *key) { return bfn_cfg_origin(ctx, key); }

bfn_adamw_cfg bfn_spec_adamw(const bfn_train_spec *t) {
    return (bfn_adamw_cfg){
        .lr = (float)t->lr, .beta1 = (float)t->adam_beta1, .beta2 = (float)t->adam_beta2, .eps = (float)t->adam_eps,
        .weight_decay = (float)t->weight_decay, .ema_decay = (float)t->ema_decay, .ema_warmup = t->ema_warmup,
    };
}

bfn_family_params bfn_spec_family_params(const bfn_bfn_spec *b) {
    return (bfn_family_params){
        .classes = b->classes,
        .bins = b->bins,
        .receiver_joint = b->receiver == 1,
        .receiver_floor = strcmp(b->receiver_floor, "official") == 0,
        .n_mc = b->mc_samples,
        .own = b->own,
    };
}

bfn_schedule_params bfn_spec_schedule_params(const bfn_bfn_spec *b) {
    return (bfn_schedule_params){.beta1 = b->beta1, .sigma1 = b->sigma1, .table_path = b->schedule_table};
}

void bfn_spec_resolve(bfn_spec *s, const bfn_config *c) {
    memset(s, 0, sizeof *s);
    s->cfg = c;
    bfn_config_fill(c, EXPERIMENT_ROWS, &s->experiment);
    bfn_config_fill(c, DATA_ROWS, &s->data);
    bfn_config_fill_own(c, "data.dataset", &s->data.own);
    bfn_config_fill(c, BFN_ROWS, &s->bfn);
    bfn_config_fill_own(c, "bfn.family", &s->bfn.own);
    bfn_config_fill(c, MODEL_ROWS, &s->model);
    bfn_config_fill_own(c, "model.arch", &s->model.own);
    s->model.origin = config_origin;
    s->model.origin_ctx = c;
    bfn_config_fill(c, TRAIN_ROWS, &s->train);
    bfn_config_fill(c, EVAL_ROWS, &s->eval);
    bfn_config_fill(c, SAMPLE_ROWS, &s->sample);
    /* The data's preparation follows the family: categorical families get
     * class indices, the others bin centres. */
    const bfn_family_entry *fam = bfn_family_find(s->bfn.family);
    s->data.classes = fam && fam->categorical ? s->bfn.classes : 0;
    s->data.bins = s->bfn.bins;
}
