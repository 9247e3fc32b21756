/* fuzz_ckpt.c: loading a checkpoint (bfn_ckpt_load) into a small fixed
 * model layout with two RNG streams, as resume and evaluation do. A file
 * that loads must leave finite scalars where the format promises them. */
#include "fuzz.h"

#include <gsl/gsl_rng.h>

#include "nn/params.h"
#include "store/ckpt.h"

static int fuzz_ckpt(const uint8_t *data, size_t size) {
    static bfn_param_layout layout;
    static float *bufs[4];
    static gsl_rng *rng[2];
    if (!rng[0]) {
        const int w[2] = {4, 3}, b[1] = {4};
        bfn_layout_add(&layout, "fc0.weight", 1, 2, w);
        bfn_layout_add(&layout, "fc0.bias", 0, 1, b);
        for (int k = 0; k < 4; k++) bufs[k] = calloc(layout.n, sizeof(float));
        rng[0] = gsl_rng_alloc(gsl_rng_mt19937);
        rng[1] = gsl_rng_alloc(gsl_rng_mt19937);
    }
    bfn_ckpt c = {.layout = &layout, .params = bufs[0], .ema = bufs[1], .adam_m = bufs[2], .adam_v = bufs[3],
                  .n_rng = 2, .rng_name = {"noise", "text_order"}, .rng = {rng[0], rng[1]}};
    char *config = NULL;
    if (bfn_ckpt_load(fuzz_file("c.h5", data, size), &c, &config) == BFN_OK) {
        if (!config || c.log_count < 0) abort();
        gsl_rng_get(rng[0]); /* a restored generator state must be usable */
        gsl_rng_get(rng[1]);
    }
    free(config);
    return 0;
}
BFN_FUZZ_TARGET(fuzz_ckpt)
