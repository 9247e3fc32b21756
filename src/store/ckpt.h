/* ckpt.h: HDF5 checkpoints for exact resume.
 *
 * Layout (format "bfn-harness-checkpoint", version BFN_CKPT_VERSION):
 *   /            attrs: format, version, run_key, git_commit, config (text),
 *                config_sha256 (hex sha256 of config, checked on load)
 *   /state       attrs: step, best_val, best_step, data_epoch, data_pos, data_seed,
 *                log_loss_sum, log_grad_norm_sum, log_count (the training
 *                metrics summed since the last logged row, so a resumed run
 *                logs the same averages; absent in older files: read as 0)
 *   /model/params/<tensor name>  float32, shape as in the layout
 *   /model/ema/<tensor name>
 *   /optim/adam_m/<tensor name>, /optim/adam_v/<tensor name>
 *                attrs on /optim: lr, beta1, beta2, eps, weight_decay, ema_decay
 *   /rng/<stream>  uint8 raw GSL state, attrs: generator name
 * Written to PATH.tmp, flushed, closed and renamed over PATH, so a crash
 * leaves either the old or the new checkpoint. Loading checks every item
 * exists with the expected shape, the generator names match, and the format
 * version is not newer; anything else is BFN_ECORRUPT naming the file. */
#ifndef BFN_STORE_CKPT_H
#define BFN_STORE_CKPT_H

#include <gsl/gsl_rng.h>

#include "nn/optim.h"
#include "nn/params.h"

#define BFN_CKPT_VERSION 1
#define BFN_CKPT_MAX_RNG 4
#define BFN_CKPT_MAX_ATTR 8

typedef struct {
    /* identity */
    const char *run_key, *git_commit, *config;
    /* state */
    long step;
    double best_val;
    long best_step;
    long data_epoch, data_pos;
    unsigned long data_seed;
    /* running sums of the metric row being accumulated (train.loss,
     * train.grad_norm) and the number of steps in them */
    double log_loss_sum, log_grad_norm_sum;
    long log_count;
    /* tensors: buffers of layout->n floats, owned by the caller */
    const bfn_param_layout *layout;
    float *params, *ema, *adam_m, *adam_v;
    bfn_adamw_cfg adam;
    /* RNG streams by name, owned by the caller (restored in place on load) */
    int n_rng;
    const char *rng_name[BFN_CKPT_MAX_RNG];
    gsl_rng *rng[BFN_CKPT_MAX_RNG];
    /* Extra root string attributes written on save (not read on load), e.g.
     * an imported run's provenance (run/import_torch.c). */
    int n_attr;
    const char *attr_name[BFN_CKPT_MAX_ATTR], *attr_value[BFN_CKPT_MAX_ATTR];
} bfn_ckpt;

int bfn_ckpt_save(const char *path, const bfn_ckpt *c);
/* Restore into c: buffers and rngs must be allocated with the same layout and
 * generator types. run_key/git_commit/config are not changed. If
 * config_out is non-NULL it receives a malloc'd copy of the stored config.
 * A NULL tensor buffer is skipped (on save: not written; on load: not read).
 * If c->run_key is non-empty it must equal the stored run key. The scalars
 * and c->adam are set only on success; on failure tensor buffers and RNG
 * states may be partly overwritten. A missing file is BFN_EIO. */
int bfn_ckpt_load(const char *path, bfn_ckpt *c, char **config_out);
/* Root string attribute `name` of the checkpoint at path into out (size n);
 * "" when the attribute is absent. BFN_EIO/BFN_ECORRUPT if the file cannot
 * be opened as HDF5. */
int bfn_ckpt_root_attr(const char *path, const char *name, char *out, int n);
/* sha256 of a file as 64 hex chars + NUL (libmd). */
int bfn_file_sha256(const char *path, char hex[65]);

#endif
