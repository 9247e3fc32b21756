/* train.h: the training run (resumable, bitwise reproducible). */
#ifndef BFN_RUN_TRAIN_H
#define BFN_RUN_TRAIN_H

#include "run/config.h"
#include "store/db.h"

typedef struct {
    int quiet;       /* no progress output */
    int force;       /* train again even if the run finished; restart if its checkpoint is missing */
    int extend;      /* start from the finished shorter run with the same other settings (extend.h) */
    int wait;        /* if another process holds the run, wait for it instead of failing */
} bfn_train_opts;

/* Train the run described by cfg, logging to db and checkpointing under
 * results/runs/KEY/. A finished run is skipped (BFN_OK); an unfinished one
 * resumes from its last checkpoint. With opts->extend a new run starts from
 * the last checkpoint of the finished run that differs only in having fewer
 * train.steps (extend.h; refused when a setting depends on the total step
 * count). Returns BFN_EDIVERGED on NaN/inf loss
 * (status 'diverged', last good checkpoint kept) and BFN_EINTR when stopped
 * by SIGINT/SIGTERM/SIGUSR1 after writing a checkpoint. */
int bfn_train(bfn_config *cfg, bfn_db *db, const bfn_train_opts *opts);

/* Fill the provenance fields of a run record (git commit, library versions,
 * host); strings live in static storage. */
void bfn_provenance(const char **git_commit, int *git_dirty, const char **libs, const char **host);

#endif
