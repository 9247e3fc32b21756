/* loadrun.h: a trained run opened from its checkpoint, for eval and sample. */
#ifndef BFN_RUN_LOADRUN_H
#define BFN_RUN_LOADRUN_H

#include "run/setup.h"

typedef struct {
    bfn_setup s;
    long step;  /* training step of the checkpoint */
} bfn_loaded_run;

/* Build the run of cfg (activations for max_batch) and load checkpoint
 * `kind` ("last", "best"). A missing checkpoint names the command to run;
 * one belonging to another config is refused. */
int bfn_load_run(bfn_loaded_run *r, bfn_config *cfg, int max_batch, const char *kind);
void bfn_unload_run(bfn_loaded_run *r);

#endif
