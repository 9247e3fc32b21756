/* db.h: the SQLite results store, single source of truth for tables/figures.
 *
 * Schema (version BFN_DB_SCHEMA_VERSION, documented in README.md):
 *   schema_version(version)
 *   run(key PK, experiment, profile, config, seed, git_commit, git_dirty, lib_versions,
 *       host, threads, status, exit_reason, started, heartbeat, finished,
 *       owner_host, owner_pid, owner_start)     the process that trains it
 *   metric(run, name, step, value, kind)        kind: 0 finite, 1 NaN, 2 +inf, 3 -inf
 *   eval(run, ckpt_step, split, n, repeats, loss, loss_se, recon, recon_se, total, total_se, unit, scale)
 *        n = 0 means n = infinity (continuous-time loss)
 *   curve(run, ckpt_step, name, bin, t, value, se)      loss-against-time curves
 *   checkpoint(run, step, path, sha256, kind)
 *   run_import(run, source_name, source_sha256, official_class, mapping, provenance, optimiser_state, imported)
 * WAL journal, busy timeout, foreign keys on, writers use BEGIN IMMEDIATE.
 * Reading queries live beside this file by subject (runs_q.h, evals_q.h,
 * metrics_q.h; named_q.h for `bfn query`/`bfn export`, config_view.h). */
#ifndef BFN_STORE_DB_H
#define BFN_STORE_DB_H

#define BFN_DB_SCHEMA_VERSION 4

#include "util/owner.h"

typedef struct bfn_db bfn_db;

/* Open (creating if needed) the database at path, create/migrate the schema.
 * A database of a newer schema version is BFN_EDB with a message naming it. */
int bfn_db_open(const char *path, bfn_db **out);
void bfn_db_close(bfn_db *db);
/* The connection, for store/ only (no other folder writes SQL). */
struct sqlite3 *bfn_db_handle(bfn_db *db);
/* Version of the SQLite library (run provenance). */
const char *bfn_db_sqlite_version(void);

typedef struct {
    const char *key;          /* hash of the canonical resolved config */
    const char *experiment;   /* e.g. "mnist" */
    const char *profile;      /* e.g. "small" */
    const char *config;       /* canonical resolved config text */
    long seed;
    const char *git_commit;
    int git_dirty;
    const char *lib_versions;
    const char *host;
    int threads;
    const char *config_json;  /* the same config as a JSON object (may be NULL) */
} bfn_run_info;

/* Insert the run if new (status 'created'); if it exists, leave it. Copies
 * its current status into status (size n). */
int bfn_db_run_register(bfn_db *db, const bfn_run_info *info, char *status, int n);
int bfn_db_run_status(bfn_db *db, const char *key, char *status, int n); /* "" if absent */
/* status: created, running, finished, diverged, failed, interrupted */
int bfn_db_run_set_status(bfn_db *db, const char *key, const char *status, const char *reason);
int bfn_db_run_heartbeat(bfn_db *db, const char *key);
/* Replace a run's stored config (text and JSON), e.g. when --extend raises train.steps. */
int bfn_db_run_update_config(bfn_db *db, const char *key, const char *config, const char *config_json);
/* Append an event ("train", "extend", "tag", ...) with free-text detail to the run's history. */
int bfn_db_run_history(bfn_db *db, const char *key, const char *event, const char *detail);
/* Add (remove = 0) or remove (1) a tag; add a note. */
int bfn_db_run_tag(bfn_db *db, const char *key, const char *tag, int remove);
int bfn_db_run_note(bfn_db *db, const char *key, const char *note);
/* Delete a run and, by cascade, all its rows (the caller removes its checkpoint files). */
int bfn_db_run_delete(bfn_db *db, const char *key);
/* The newest finished run of an experiment: the one every `@EXPERIMENT`
 * (bfn sample/eval/export/diff/plot, tables, figure scripts via `bfn key`)
 * means. An experiment names its own runs and, through 'alias' history rows,
 * runs it shares with another experiment of the same settings. Newest = the
 * latest `finished` time, ties broken by key; profile NULL = any profile.
 * key[0] = '\0' if there is none. */
int bfn_db_newest_finished(bfn_db *db, const char *experiment, const char *profile, char key[17]);
/* Claim the run for process `self` in one write transaction: if it is
 * 'running' under another owner that is alive (bfn_owner_alive), fill
 * holder and return BFN_EBUSY naming it; otherwise record self as the owner
 * and set the status to 'running'. status receives the status before the
 * claim (a finished run is claimed only if take_finished). */
int bfn_db_run_claim(bfn_db *db, const char *key, const bfn_owner *self, bfn_owner *holder, char *status, int n,
                     int take_finished);
/* The recorded owner of a run (empty host and pid 0 if none). */
int bfn_db_run_owner(bfn_db *db, const char *key, bfn_owner *owner);
/* Mark 'running' runs whose owner process on this host is gone (SIGKILL,
 * broken pipe, power loss) as 'interrupted'; *n_marked counts them. */
int bfn_db_reap_stale(bfn_db *db, int *n_marked);

/* Metrics are buffered and written in one transaction by bfn_db_flush (the
 * trainer flushes when it checkpoints). NaN/inf are stored with their kind. */
int bfn_db_metric(bfn_db *db, const char *key, const char *name, long step, double value);
int bfn_db_flush(bfn_db *db);
/* Delete metrics of `key` with step > after (resume from a checkpoint at step `after`). */
int bfn_db_metrics_truncate(bfn_db *db, const char *key, long after);

typedef struct {
    const char *key;
    long ckpt_step;
    const char *split; /* "test", "val" */
    int n;             /* 0 = infinity */
    int repeats;
    double loss, loss_se, recon, recon_se, total, total_se; /* in `unit` */
    const char *unit;  /* "nats/image", "bits/dim", "bits/char", "nats/dim" */
    double scale;      /* value in unit = nats per dimension * scale (0: not recorded) */
    long eval_seed;    /* eval.seed the estimate was drawn with */
    const char *receiver_floor; /* bfn.receiver_floor: "official" or "exact" (NULL: not recorded) */
    const char *ckpt_sha256;    /* sha256 of the evaluated checkpoint file (NULL: unknown) */
} bfn_eval_row;
/* Insert or replace the row keyed by (run, ckpt_step, split, n). */
int bfn_db_eval(bfn_db *db, const bfn_eval_row *row);
int bfn_db_curve(bfn_db *db, const char *key, long ckpt_step, const char *name, int bin, double t,
                 double value, double se, long eval_seed, const char *receiver_floor);
/* One point of a loss-against-time curve (bfn_db_eval_commit). */
typedef struct {
    const char *name; /* "linf", "recon" */
    int bin;
    double t, value, se;
    long eval_seed;             /* the evaluation's identity, as in bfn_eval_row */
    const char *receiver_floor;
} bfn_curve_point;
/* Write one whole evaluation of (key, ckpt_step) in one transaction: every
 * eval row (all n, all repeats) and every curve point, so a reader never
 * sees part of an evaluation. */
int bfn_db_eval_commit(bfn_db *db, const char *key, long ckpt_step, const bfn_eval_row *rows, int n_rows,
                       const bfn_curve_point *curve, int n_curve);
/* The newest recorded checkpoint of `kind` for key: step (-1 if none) and path. */
int bfn_db_checkpoint_latest(bfn_db *db, const char *key, const char *kind, long *step, char *path, int n);
int bfn_db_checkpoint(bfn_db *db, const char *key, long step, const char *path, const char *sha256,
                      const char *kind);

typedef struct {
    const char *source_name;    /* base name of the .pt file */
    const char *source_sha256;  /* of the whole file */
    const char *official_class; /* "GPT" */
    const char *mapping;        /* "GPT/1" */
} bfn_import_row;
/* Register a run whose weights were imported (see db.c). */
int bfn_db_run_import(bfn_db *db, const bfn_run_info *info, const bfn_import_row *imp, const char *ckpt_path,
                      const char *ckpt_sha256, int replace);
/* sha256 of the file run `key` was imported from into out (size n); "" if
 * the run was not imported. */
int bfn_db_import_sha256(bfn_db *db, const char *key, char *out, int n);

#endif
