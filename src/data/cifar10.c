/* cifar10.c: CIFAR-10 "binary version" batches (data_batch_1.bin ...
 * test_batch.bin from cifar-10-binary.tar.gz).
 *
 * Each record is 1 label byte (0..9) then 3072 pixel bytes: the 1024 red
 * values, then green, then blue, each plane row-major 32x32. That is already
 * our CHW order, so records are copied as they are. */
#include "data/images.h"
#include "util/err.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { CIFAR_SIDE = 32, CIFAR_CHANNELS = 3, CIFAR_DIM = CIFAR_CHANNELS * CIFAR_SIDE * CIFAR_SIDE,
       CIFAR_RECORD = 1 + CIFAR_DIM, CIFAR_CLASSES = 10 };

/* Size of a regular file in bytes, or a negative BFN code. */
static long long file_size(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return bfn_error(BFN_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return bfn_error(BFN_EIO, "%s: not a regular file", path);
    return (long long)st.st_size;
}

/* Read `records` records of one batch file into pixels/labels (sized by
 * the caller from the file's length). */
static int read_batch(const char *path, long records, uint8_t *pixels, uint8_t *labels) {
    FILE *f = fopen(path, "rb");
    if (!f) return bfn_error(BFN_EIO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t record[CIFAR_RECORD];
    int rc = BFN_OK;
    for (long r = 0; r < records && rc == BFN_OK; r++) {
        if (fread(record, 1, CIFAR_RECORD, f) != CIFAR_RECORD)
            rc = bfn_error(BFN_EIO, "%s: short read at record %ld", path, r);
        else if (record[0] >= CIFAR_CLASSES)
            rc = bfn_error(BFN_ECORRUPT, "%s: record %ld has label %d; CIFAR-10 labels are 0..9 "
                           "(is this CIFAR-100, whose records are 3074 bytes?)", path, r, record[0]);
        else {
            labels[r] = record[0];
            memcpy(pixels + (size_t)r * CIFAR_DIM, record + 1, CIFAR_DIM);
        }
    }
    fclose(f);
    return rc;
}

/* Load and concatenate CIFAR-10 batch files in the given order (images.h).
 * Sizes are checked for every file before anything is read. */
int bfn_cifar10_load(const char *const *paths, int n_paths, bfn_images *out) {
    memset(out, 0, sizeof *out);
    if (n_paths <= 0) return bfn_error(BFN_EINVAL, "CIFAR-10: no batch files given");
    long *records = bfn_xmalloc((size_t)n_paths * sizeof *records);
    long long total = 0;
    int rc = BFN_OK;
    for (int i = 0; i < n_paths && rc == BFN_OK; i++) {
        long long size = file_size(paths[i]);
        if (size < 0)
            rc = (int)size;
        else if (size == 0 || size % CIFAR_RECORD != 0)
            rc = bfn_error(BFN_ECORRUPT, "%s: size %lld bytes is not a positive multiple of %d "
                           "(1 label + 3072 pixel bytes per CIFAR-10 record)", paths[i], size, CIFAR_RECORD);
        else if ((total += size / CIFAR_RECORD) > INT_MAX)
            rc = bfn_error(BFN_EINVAL, "%s: more than %d records in total", paths[i], INT_MAX);
        else
            records[i] = (long)(size / CIFAR_RECORD);
    }
    if (rc == BFN_OK) {
        out->pixels = bfn_xmalloc((size_t)total * CIFAR_DIM);
        out->labels = bfn_xmalloc((size_t)total);
        size_t at = 0;
        for (int i = 0; i < n_paths && rc == BFN_OK; i++) {
            rc = read_batch(paths[i], records[i], out->pixels + at * CIFAR_DIM, out->labels + at);
            at += (size_t)records[i];
        }
    }
    free(records);
    if (rc != BFN_OK) {
        bfn_images_free(out);
        return rc;
    }
    out->n = (int)total;
    out->channels = CIFAR_CHANNELS;
    out->height = out->width = CIFAR_SIDE;
    return BFN_OK;
}
