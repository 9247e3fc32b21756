/* spec.c: the resolved config as typed structs (see spec.h). With config.c
 * this is the only code that reads settings by key. */
#include "run/spec.h"

#include <string.h>

static void resolve_data(bfn_spec *s, const bfn_config *c) {
    const bfn_family_entry *fam = bfn_family_find(bfn_cfg_str(c, "bfn.family"));
    s->data = (bfn_data_params){
        .dataset = bfn_cfg_str(c, "data.dataset"),
        .dir = bfn_cfg_str(c, "data.dir"),
        .val_count = bfn_cfg_int(c, "data.val_count"),
        .test_count = bfn_cfg_int(c, "data.test_count"),
        .train_limit = bfn_cfg_int(c, "data.train_limit"),
        .split_seed = (unsigned long)bfn_cfg_int(c, "data.split_seed"),
        .seq_len = (int)bfn_cfg_int(c, "data.seq_len"),
        .test_stride = (int)bfn_cfg_int(c, "data.test_stride"),
        /* Categorical families get class indices, the others bin centres. */
        .classes = fam && fam->categorical ? (int)bfn_cfg_int(c, "bfn.classes") : 0,
        .bins = (int)bfn_cfg_int(c, "bfn.bins"),
        .binarise = bfn_cfg_str(c, "data.binarise"),
    };
}

static void resolve_bfn(bfn_spec *s, const bfn_config *c) {
    s->bfn.family = bfn_cfg_str(c, "bfn.family");
    s->bfn.params = (bfn_family_params){
        .classes = (int)bfn_cfg_int(c, "bfn.classes"),
        .bins = (int)bfn_cfg_int(c, "bfn.bins"),
        .recon_bins = (int)bfn_cfg_int(c, "bfn.recon_bins"),
        .recon_std = bfn_cfg_real(c, "bfn.recon_std"),
        .receiver_joint = strcmp(bfn_cfg_str(c, "bfn.receiver"), "joint") == 0,
        .receiver_floor = strcmp(bfn_cfg_str(c, "bfn.receiver_floor"), "official") == 0,
        .n_mc = (int)bfn_cfg_int(c, "bfn.mc_samples"),
    };
    s->bfn.receiver_floor = bfn_cfg_str(c, "bfn.receiver_floor");
    s->bfn.schedule = bfn_cfg_str(c, "bfn.schedule");
    s->bfn.schedule_params = (bfn_schedule_params){
        .beta1 = bfn_cfg_real(c, "bfn.beta1"),
        .sigma1 = bfn_cfg_real(c, "bfn.sigma1"),
        .table_path = bfn_cfg_str(c, "bfn.schedule_table"),
    };
}

static const char *config_origin(const void *ctx, const char *key) { return bfn_cfg_origin(ctx, key); }

static void resolve_model(bfn_spec *s, const bfn_config *c) {
    s->model = (bfn_model_spec){
        .arch = bfn_cfg_str(c, "model.arch"),
        .hidden = (int)bfn_cfg_int(c, "model.hidden"),
        .layers = (int)bfn_cfg_int(c, "model.layers"),
        .heads = (int)bfn_cfg_int(c, "model.heads"),
        .skip = (int)bfn_cfg_int(c, "model.skip"),
        .channels = (int)bfn_cfg_int(c, "model.channels"),
        .res_blocks = (int)bfn_cfg_int(c, "model.res_blocks"),
        .groups = (int)bfn_cfg_int(c, "model.groups"),
        .fourier = (int)bfn_cfg_int(c, "model.fourier"),
        .time_input = (int)bfn_cfg_int(c, "model.time_input"),
        .project_input = (int)bfn_cfg_int(c, "model.project_input"),
        .out_channels = (int)bfn_cfg_int(c, "model.out_channels"),
        .channel_mult = bfn_cfg_str(c, "model.channel_mult"),
        .attn_res = bfn_cfg_str(c, "model.attn_res"),
        .time_embed = bfn_cfg_str(c, "model.time_embed"),
        .dropout = bfn_cfg_real(c, "model.dropout"),
        .origin = config_origin,
        .origin_ctx = c,
    };
}

static void resolve_train(bfn_spec *s, const bfn_config *c) {
    s->train = (bfn_train_spec){
        .loss = strcmp(bfn_cfg_str(c, "train.loss"), "nstep") == 0 ? BFN_LOSS_NSTEP : BFN_LOSS_CTS,
        .loss_steps = bfn_cfg_int(c, "train.loss_steps"),
        .steps = bfn_cfg_int(c, "train.steps"),
        .batch = bfn_cfg_int(c, "train.batch"),
        .lr = bfn_cfg_real(c, "train.lr"),
        .adam_beta1 = bfn_cfg_real(c, "train.adam_beta1"),
        .adam_beta2 = bfn_cfg_real(c, "train.adam_beta2"),
        .adam_eps = bfn_cfg_real(c, "train.adam_eps"),
        .weight_decay = bfn_cfg_real(c, "train.weight_decay"),
        .ema_decay = bfn_cfg_real(c, "train.ema_decay"),
        .ema_warmup = (int)bfn_cfg_int(c, "train.ema_warmup"),
        .clip = bfn_cfg_real(c, "train.clip"),
        .seed = (unsigned long)bfn_cfg_int(c, "train.seed"),
        .log_every = bfn_cfg_int(c, "train.log_every"),
        .ckpt_every = bfn_cfg_int(c, "train.ckpt_every"),
        .keep_every = bfn_cfg_int(c, "train.keep_every"),
        .val_every = bfn_cfg_int(c, "train.val_every"),
        .val_repeats = bfn_cfg_int(c, "train.val_repeats"),
    };
}

static void resolve_eval(bfn_spec *s, const bfn_config *c) {
    s->eval.n_steps = bfn_cfg_int_list(c, "eval.steps", s->eval.steps, BFN_MAX_LIST);
    s->eval.repeats = bfn_cfg_int(c, "eval.repeats");
    s->eval.batch = bfn_cfg_int(c, "eval.batch");
    s->eval.t_bins = bfn_cfg_int(c, "eval.t_bins");
    s->eval.seed = (unsigned long)bfn_cfg_int(c, "eval.seed");
    s->eval.checkpoint = bfn_cfg_str(c, "eval.checkpoint");
    s->eval.unit = bfn_cfg_str(c, "eval.unit");
}

bfn_adamw_cfg bfn_spec_adamw(const bfn_train_spec *t) {
    return (bfn_adamw_cfg){
        .lr = (float)t->lr, .beta1 = (float)t->adam_beta1, .beta2 = (float)t->adam_beta2, .eps = (float)t->adam_eps,
        .weight_decay = (float)t->weight_decay, .ema_decay = (float)t->ema_decay, .ema_warmup = t->ema_warmup,
    };
}

void bfn_spec_resolve(bfn_spec *s, const bfn_config *c) {
    memset(s, 0, sizeof *s);
    s->cfg = c;
    s->experiment = bfn_cfg_str(c, "experiment.name");
    resolve_data(s, c);
    resolve_bfn(s, c);
    resolve_model(s, c);
    resolve_train(s, c);
    resolve_eval(s, c);
    s->sample = (bfn_sample_spec){
        .steps = bfn_cfg_int(c, "sample.steps"),
        .count = bfn_cfg_int(c, "sample.count"),
        .seed = (unsigned long)bfn_cfg_int(c, "sample.seed"),
    };
}
