/* torch_forward.c: our network's outputs on given inputs, for comparing with
 * the official PyTorch network outside CI (src/tools/torch_check.py).
 *
 *   torch_forward EXPERIMENT.ini [--profile P] [key=value ...] \
 *       --in IN.f32 --t T.f32 --batch B --out OUT.f32 [--test-tokens TEST.u8]
 *
 * IN.f32 holds B network inputs (B x in_dim float32, for text 2 theta - 1),
 * T.f32 B times; OUT.f32 receives B x out_dim float32 outputs of the run's EMA
 * weights (the weights bfn eval uses). --test-tokens also writes the run's
 * test split as uint8 tokens (n x D), so the official loss can be computed on
 * the very sequences bfn eval uses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/config.h"
#include "run/loadrun.h"
#include "util/err.h"

static int read_exact(const char *path, void *buf, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return bfn_error(BFN_EIO, "%s: cannot open", path);
    size_t got = fread(buf, 1, n, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (got != n || extra) return bfn_error(BFN_EIO, "%s: expected exactly %zu bytes", path, n);
    return BFN_OK;
}

static int write_all(const char *path, const void *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return bfn_error(BFN_EIO, "%s: cannot create", path);
    size_t put = fwrite(buf, 1, n, f);
    int bad = fclose(f) != 0 || put != n;
    return bad ? bfn_error(BFN_EIO, "%s: write error", path) : BFN_OK;
}

int main(int argc, char **argv) {
    const char *ini = NULL, *profile = NULL, *in = NULL, *tp = NULL, *out = NULL, *test = NULL;
    int B = 0, n_over = 0;
    char *over[64];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--profile") && i + 1 < argc) profile = argv[++i];
        else if (!strcmp(argv[i], "--in") && i + 1 < argc) in = argv[++i];
        else if (!strcmp(argv[i], "--t") && i + 1 < argc) tp = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) B = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--test-tokens") && i + 1 < argc) test = argv[++i];
        else if (strchr(argv[i], '=') && n_over < 64) over[n_over++] = argv[i];
        else if (!ini) ini = argv[i];
        else { fprintf(stderr, "torch_forward: unexpected argument %s\n", argv[i]); return 2; }
    }
    if (!ini || !in || !tp || !out || B < 1) {
        fprintf(stderr, "usage: torch_forward EXPERIMENT.ini [--profile P] [key=value ...] --in IN.f32 --t T.f32 "
                        "--batch B --out OUT.f32 [--test-tokens TEST.u8]\n");
        return 2;
    }
    bfn_config *cfg;
    bfn_loaded_run r;
    int rc = bfn_config_load(&cfg, ini, profile, n_over, over);
    if (rc == BFN_OK) rc = bfn_load_run(&r, cfg, B, "last");
    if (rc != BFN_OK) {
        fprintf(stderr, "torch_forward: %s\n", bfn_last_error());
        return 1;
    }
    const bfn_model *m = r.s.model;
    float *x = malloc((size_t)B * m->in_dim * sizeof *x), *t = malloc((size_t)B * sizeof *t);
    float *y = malloc((size_t)B * m->out_dim * sizeof *y);
    rc = read_exact(in, x, (size_t)B * m->in_dim * sizeof *x);
    if (rc == BFN_OK) rc = read_exact(tp, t, (size_t)B * sizeof *t);
    if (rc == BFN_OK) {
        m->ops->forward(r.s.model, r.s.ema, B, x, t, y);
        rc = write_all(out, y, (size_t)B * m->out_dim * sizeof *y);
    }
    if (rc == BFN_OK && test) {
        const bfn_dataset *ds = &r.s.data;
        long n = ds->n[BFN_SPLIT_TEST];
        uint8_t *tok = malloc((size_t)n * ds->D + 1);
        for (long e = 0; e < n; e++) memcpy(tok + e * ds->D, bfn_dataset_raw(ds, BFN_SPLIT_TEST, e), (size_t)ds->D);
        rc = write_all(test, tok, (size_t)n * ds->D);
        free(tok);
    }
    if (rc != BFN_OK) fprintf(stderr, "torch_forward: %s\n", bfn_last_error());
    free(x);
    free(t);
    free(y);
    bfn_unload_run(&r);
    bfn_config_free(cfg);
    return rc == BFN_OK ? 0 : 1;
}
