/* fuzz_cifar.c: CIFAR-10 binary batches (one or two batch files; the
 * first byte picks how many and where the second one starts). */
#include "fuzz.h"

#include "data/images.h"

static int fuzz_cifar(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int two = data[0] & 1;
    data++;
    size--;
    size_t cut = two ? size / 2 : size;
    const char *paths[2] = {fuzz_file("b1.bin", data, cut), fuzz_file("b2.bin", data + cut, size - cut)};
    bfn_images im;
    if (bfn_cifar10_load(paths, two ? 2 : 1, &im) == BFN_OK) {
        long sum = 0, n = (long)im.n * im.channels * im.height * im.width;
        for (long i = 0; i < n; i++) sum += im.pixels[i];
        for (int i = 0; i < im.n && im.labels; i++) sum += im.labels[i];
        if (sum < 0) abort();
        bfn_images_free(&im);
    }
    return 0;
}
BFN_FUZZ_TARGET(fuzz_cifar)
