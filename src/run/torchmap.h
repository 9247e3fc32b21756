/* torchmap.h: which official PyTorch tensor is which of ours.
 *
 * The official code (github.com/nnaisense/bayesian-flow-networks) names its
 * tensors by module path; a released checkpoint is BFN.state_dict(), so every
 * name carries the prefix "net." (a bare network's state_dict has none). One
 * architecture = one table of name patterns (ours <-> theirs, "%d" standing
 * for a block index) plus the official buffers we compute instead of storing
 * (checked on import, written on export). Where a plain pattern table
 * cannot say it (the U-Nets' block numbering, layouts that differ), an
 * architecture gives a naming function instead, which also returns the
 * layout conversion (BFN_TORCH_OIHW, ...). A registry entry with neither is
 * recognised but refused with its not_yet message.
 *
 * Adding an architecture: write its rule table (and fixed-buffer function if
 * it has buffers) and add one line to the registry in torchmap.c. */
#ifndef BFN_RUN_TORCHMAP_H
#define BFN_RUN_TORCHMAP_H

#include "models/model.h"
#include "store/torchfile.h"

#define BFN_TORCH_NAME 160
#define BFN_TORCH_MAX_FIXED 4

typedef struct {
    const char *ours;   /* pattern over our tensor names, e.g. "h.%d.ln1.weight" */
    const char *theirs; /* the official name, e.g. "transformer.h.%d.ln_1.weight" */
} bfn_torch_rule;

/* How an official tensor's layout relates to ours (same elements, maybe
 * reordered). */
enum {
    BFN_TORCH_SAME = 0, /* same shape, same C order */
    BFN_TORCH_OIHW,     /* conv: ours (O, K, K, I) channels-last, theirs (O, I, K, K) */
    BFN_TORCH_1X1,      /* ours (O, I), theirs a 1 x 1 Conv2d (O, I, 1, 1): same order */
    BFN_TORCH_1X1_1D,   /* ours (O, I), theirs a 1-wide Conv1d (O, I, 1): same order */
    BFN_TORCH_QKV_HEADS /* as 1X1_1D (or a bias), rows reordered: ours (q|k|v, head, c),
                           theirs (head, q|k|v, c), improved-DDPM QKVAttention */
};

/* An official buffer we do not store: its value derives from our model. */
typedef struct {
    char theirs[BFN_TORCH_NAME];
    int ndim;
    int shape[4];
    const float *data; /* owned by the model or by `owned` */
    float *owned;      /* freed by bfn_torch_map_release */
    double tol;        /* import accepts |theirs - ours| <= tol elementwise */
} bfn_torch_fixed;

typedef struct bfn_torch_arch {
    const char *official_class; /* e.g. "GPT" */
    const char *what;           /* for messages: "the text8 transformer" */
    const char *marker;         /* a tensor only this class has (prefix stripped) */
    const char *arch;           /* our model.arch (model->ops->name), NULL if none yet */
    int version;                /* bump when the table changes meaning */
    const bfn_torch_rule *rules; /* NULL: see name (both NULL: refused with not_yet) */
    int n_rules;
    int (*fixed)(const bfn_model *m, bfn_torch_fixed *out, int *n);
    const char *not_yet;        /* message when rules == NULL and name == NULL */
    /* Instead of rules: the official name and layout of our tensor `ours`
     * (0, or BFN_EINVAL naming it when it has none). */
    int (*name)(const bfn_model *m, const char *ours, char *theirs, size_t n, int *kind);
} bfn_torch_arch;

/* The full correspondence for one model. */
typedef struct {
    const bfn_torch_arch *arch;
    char mapping[64];                      /* "GPT/1": class and table version */
    int n;                                 /* == model layout n_tensors */
    char theirs[BFN_MAX_TENSORS][BFN_TORCH_NAME]; /* official name of our tensor i (no prefix) */
    unsigned char kind[BFN_MAX_TENSORS];          /* BFN_TORCH_SAME, ... */
    unsigned char theirs_ndim[BFN_MAX_TENSORS];
    int theirs_shape[BFN_MAX_TENSORS][4];
    int heads;                                    /* for BFN_TORCH_QKV_HEADS */
    int n_fixed;
    bfn_torch_fixed fixed[BFN_TORCH_MAX_FIXED];
} bfn_torch_map;

/* The official class of a state_dict, from its tensor names; *prefix is ""
 * or "net." (BFN.state_dict()). Unrecognised: BFN_EINVAL naming the file. */
int bfn_torch_detect(const bfn_torch_file *f, const char *path, const bfn_torch_arch **arch, const char **prefix);
/* Registry entry for our model.arch, or NULL. */
const bfn_torch_arch *bfn_torch_arch_for_model(const bfn_model *m);
/* Build the correspondence of every tensor of m. BFN_EINVAL if the
 * architecture has no table yet or a tensor of ours matches no rule. */
int bfn_torch_map_build(const bfn_torch_arch *a, const bfn_model *m, bfn_torch_map *out);
/* Free what map_build allocated (fixed tables computed for the map). */
void bfn_torch_map_release(bfn_torch_map *map);
/* Our tensor i (layout info ti) from the official one in C order, and back. */
void bfn_torch_to_ours(const bfn_torch_map *map, int i, const bfn_tensor_info *ti, const float *theirs, float *ours);
void bfn_torch_to_theirs(const bfn_torch_map *map, int i, const bfn_tensor_info *ti, const float *ours, float *theirs);

#endif
