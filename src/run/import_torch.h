/* import_torch.h: official PyTorch checkpoints in and out (bfn import-torch,
 * bfn export-torch). See torchmap.h for the tensor correspondence and
 * store/torchfile.h for the file format. */
#ifndef BFN_RUN_IMPORT_TORCH_H
#define BFN_RUN_IMPORT_TORCH_H

#include "run/config.h"
#include "store/db.h"

typedef struct {
    int force; /* import: replace an existing run of the same key */
    int quiet;
} bfn_torch_opts;

/* Read the state_dict at pt_path (BFN.state_dict() as released, or the bare
 * network's), check that every official tensor fills exactly one of ours and
 * every one of ours is filled exactly once (names, dtypes, shapes, fixed
 * buffers), then write the run's checkpoint (weights as both raw and EMA
 * weights; no optimiser state) and register the run as imported. Nothing is
 * written or registered unless every check passed. */
int bfn_import_torch(bfn_config *cfg, bfn_db *db, const char *pt_path, const bfn_torch_opts *o);

/* Write the run's EMA weights (the weights bfn eval uses, and what the
 * released *_ema.pt files hold) as BFN.state_dict() with the official names
 * ("net." prefix), loadable with load_state_dict(strict=True) by the official
 * BFN built from the official config. */
int bfn_export_torch(bfn_config *cfg, const char *out_path, const bfn_torch_opts *o);

#endif
