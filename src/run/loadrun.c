/* loadrun.c: open a run's checkpoint for evaluation or sampling. */
#include "run/loadrun.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/ckpt.h"
#include "util/err.h"

int bfn_load_run(bfn_loaded_run *r, bfn_config *cfg, int max_batch, const char *kind) {
    memset(r, 0, sizeof *r);
    BFN_TRY(bfn_setup_open(&r->s, cfg, max_batch));
    char path[1024];
    bfn_ckpt_path(r->s.key, kind, path, sizeof path);
    if (access(path, F_OK) != 0) {
        int rc = bfn_error(BFN_EIO, "%s: no checkpoint for run %s; train it first (`bfn train` with these "
                           "settings; [data], [bfn], [model] and [train] keys define the run)", path, r->s.key);
        bfn_setup_close(&r->s);
        return rc;
    }
    /* The optimiser state and RNG streams are loaded too (the format is
     * checked whole) but only the EMA weights are used. An imported run
     * (bfn import-torch) has weights only: its optimiser state is absent. */
    char prov[32];
    int rc = bfn_ckpt_root_attr(path, "provenance", prov, sizeof prov);
    if (rc != BFN_OK) {
        bfn_setup_close(&r->s);
        return rc;
    }
    int imported = strcmp(prov, "imported") == 0;
    gsl_rng *g0 = gsl_rng_alloc(gsl_rng_mt19937), *g1 = gsl_rng_alloc(gsl_rng_mt19937);
    bfn_ckpt c = {
        .layout = &r->s.model->layout, .params = r->s.params, .ema = r->s.ema,
        .adam_m = imported ? NULL : r->s.adam_m, .adam_v = imported ? NULL : r->s.adam_v,
        .n_rng = imported ? 0 : 2, .rng_name = {"noise", "text_order"}, .rng = {g0, g1},
    };
    char *stored = NULL;
    rc = bfn_ckpt_load(path, &c, &stored);
    gsl_rng_free(g0);
    gsl_rng_free(g1);
    if (rc == BFN_OK) {
        /* Same settings: both keys computed by this program's definition
         * (a stored run may keep an older key, bfn_config_force_run_key). */
        bfn_config *sc = NULL;
        char key[17] = "", want[17];
        if (stored && bfn_config_from_text(&sc, stored, path) == BFN_OK) bfn_config_settings_key(sc, key);
        bfn_config_free(sc);
        bfn_config_settings_key(cfg, want);
        if (strcmp(key, want) != 0)
            rc = bfn_error(BFN_ECORRUPT, "%s: checkpoint belongs to another run (settings key %s, expected %s)", path,
                           key, want);
    }
    free(stored);
    if (rc != BFN_OK) {
        bfn_setup_close(&r->s);
        return rc;
    }
    r->step = c.step;
    return BFN_OK;
}

void bfn_unload_run(bfn_loaded_run *r) { bfn_setup_close(&r->s); }
