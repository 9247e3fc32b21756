/* fuzz_idx.c: IDX images and labels, plain and gzip. The first byte picks
 * the form: 0 plain images, 1 images gzip-compressed here (so the fuzzer
 * reaches the IDX parser behind a valid gzip stream), 2 the bytes as a
 * .gz file as they are (damaged gzip), 3 images + labels (split at the
 * second byte's position). */
#include "fuzz.h"

#include <zlib.h>

#include "data/images.h"

static int fuzz_idx(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    int mode = data[0] & 3;
    data++;
    size--;
    const char *img = NULL, *lab = NULL;
    if (mode == 1) {
        const char *path = fuzz_path("img.gz");
        gzFile g = gzopen(path, "wb");
        if (!g) abort();
        if (size && gzwrite(g, data, (unsigned)size) != (int)size) abort();
        gzclose(g);
        img = path;
    } else if (mode == 3) {
        size_t cut = size ? (size_t)data[0] * size / 256 : 0;
        img = fuzz_file("img.idx", data + 1, cut > 0 ? cut - 1 : 0);
        lab = fuzz_file("lab.idx", data + cut, size - cut);
    } else {
        img = fuzz_file(mode == 2 ? "img.gz" : "img.idx", data, size);
    }
    bfn_images im;
    if (bfn_idx_load(img, lab, &im) == BFN_OK) {
        long sum = 0, n = (long)im.n * im.height * im.width;
        for (long i = 0; i < n; i++) sum += im.pixels[i]; /* every pixel readable */
        if (sum < 0) abort();
        bfn_images_free(&im);
    }
    return 0;
}
BFN_FUZZ_TARGET(fuzz_idx)
