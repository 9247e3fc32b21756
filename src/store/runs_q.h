/* runs_q.h: reading runs: listing, lookup by key prefix or name, stored
 * config, and the runs of an experiment. The newest finished run of an
 * experiment is bfn_db_newest_finished (db.h), its only definition. */
#ifndef BFN_STORE_RUNS_Q_H
#define BFN_STORE_RUNS_Q_H

#include "store/db.h"

/* One line of `bfn runs` (view run_overview); NULL where there is nothing:
 * logged = last train.loss step, ckpt = last 'last' checkpoint step, nll =
 * newest test NLL at n = inf as "%.3f ± %.3f UNIT", tags joined by ','. */
typedef struct {
    const char *key, *experiment, *profile, *status, *logged, *ckpt, *nll, *tags;
} bfn_q_overview;
/* Every run (tagged `tag` if non-NULL), by start time then key; fn returns
 * BFN_OK to go on. */
int bfn_q_runs_overview(bfn_db *db, const char *tag, int (*fn)(void *ctx, const bfn_q_overview *row), void *ctx);

/* Keys starting with `prefix`: the first (by the table's order) into key,
 * their number into *matches. */
int bfn_q_run_by_prefix(bfn_db *db, const char *prefix, char key[17], int *matches);

typedef struct {
    char experiment[128], profile[32], status[16];
    int evaluated; /* 1 if the run has any evaluation row */
} bfn_q_run_brief;
/* Experiment, profile, status of `key`; returns 1 if found, 0 if not, or a
 * negative BFN_* code. */
int bfn_q_run_brief_of(bfn_db *db, const char *key, bfn_q_run_brief *out);

/* The stored canonical config text of `key` (malloc'd, caller frees) into
 * *text; NULL if there is no such run. */
int bfn_q_run_config(bfn_db *db, const char *key, char **text);

/* 1 in *yes if run `key` answers to experiment name `name` (its own
 * experiment or an alias, view run_name). */
int bfn_q_run_has_name(bfn_db *db, const char *key, const char *name, int *yes);

/* Which runs bfn_q_runs_each visits. */
typedef struct {
    const char *name;    /* answering to this experiment name (view run_name); NULL: any */
    const char *profile; /* NULL: any */
    int finished;        /* only status 'finished' */
    int evaluated;       /* only runs with an evaluation row */
} bfn_q_run_filter;
/* The matching runs in key order: fn(ctx, key, profile, config) returns
 * BFN_OK to go on. */
int bfn_q_runs_each(bfn_db *db, const bfn_q_run_filter *filter,
                    int (*fn)(void *ctx, const char *key, const char *profile, const char *config), void *ctx);

#endif
