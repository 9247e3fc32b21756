/* config.h: experiment configuration from INI files, profiles and overrides.
 *
 * An experiment file (experiments/NAME.ini) has base sections [experiment],
 * [data], [bfn], [model], [train], [eval], [sample] and profile sections
 * [profile NAME] whose keys are dotted ("train.steps = 50"). Resolution order:
 * schema defaults < base sections < the chosen profile < command-line
 * overrides ("train.steps=100"). Every key must be in the schema, which
 * config.c assembles once from the key lists (util/keydef.h: run/spec_keys.h,
 * data/dataset.h and the registered networks', families' and datasets' own);
 * an unknown key, a malformed value or an out-of-range value is BFN_EINVAL
 * with "FILE:LINE: ..." (or "command line: ...").
 *
 * The canonical text of the resolved config (every key, schema order) is what
 * identifies a run: its SHA-256 (first 16 hex digits) over the keys that
 * change the trained weights (bfn_config_in_run_key) is the run key. */
#ifndef BFN_RUN_CONFIG_H
#define BFN_RUN_CONFIG_H

#include "util/keydef.h"

typedef struct bfn_config bfn_config;

/* Load `path` with profile `profile` (NULL: the file's experiment.profile)
 * and `n_over` overrides "key=value". */
int bfn_config_load(bfn_config **out, const char *path, const char *profile, int n_over,
                    char *const *overrides);
/* Apply "key=value" overrides (origin "command line"; profile= is ignored). */
int bfn_config_override(bfn_config *c, int n_over, char *const *overrides);
/* Build from canonical text (as stored in checkpoints and the database). */
int bfn_config_from_text(bfn_config **out, const char *text, const char *origin);
void bfn_config_free(bfn_config *c);

long bfn_cfg_int(const bfn_config *c, const char *key);
double bfn_cfg_real(const bfn_config *c, const char *key);
const char *bfn_cfg_str(const bfn_config *c, const char *key);
/* Where the value came from ("experiments/mnist.ini:12", "default", ...). */
const char *bfn_cfg_origin(const bfn_config *c, const char *key);
/* Integer list ("10, 25, inf"; inf -> 0). Returns the count. */
int bfn_cfg_int_list(const bfn_config *c, const char *key, int *vals, int max);

/* Write the typed fields of `rows` (util/keydef.h) into dst from the config:
 * how run/spec.c fills the spec structs generated from the same key lists. */
void bfn_config_fill(const bfn_config *c, const bfn_key_def *rows, void *dst);
/* Fill `own` with the keys of the registry entry the NAME key `selector`
 * ("model.arch", "bfn.family", "data.dataset") chooses (zeroed first). */
void bfn_config_fill_own(const bfn_config *c, const char *selector, bfn_key_own *own);

/* Canonical text of all keys; the caller frees. */
char *bfn_config_text(const bfn_config *c);
/* Run key: 16 hex digits of SHA-256 over the canonical text of the keys
 * that change the trained weights (bfn_config_in_run_key), plus the contents
 * of a tabulated schedule's file. */
void bfn_config_run_key(const bfn_config *c, char key[17]);
/* The run key as this program computes it from the settings, even when a
 * stored run's key was forced (below). */
void bfn_config_settings_key(const bfn_config *c, char key[17]);
/* Use `key` as the run key: a run stored under an older definition of the
 * key (e.g. one that still hashed experiment.name) keeps its key and
 * checkpoints (bfn_runs_load_config does this when the overrides change no
 * setting of the key). */
void bfn_config_force_run_key(bfn_config *c, const char *key);
/* 1 if `key` is part of the run key: every [data] [bfn] [model] [train] key
 * except logging/checkpoint/validation cadence (train.log_every, ckpt_every,
 * keep_every, val_every, val_repeats), data.test_stride and
 * bfn.recon_bins/recon_std; the L^n-only keys (train.loss_steps,
 * bfn.mc_samples, bfn.receiver, bfn.receiver_floor) only when
 * train.loss = nstep. [experiment], [eval] and [sample] never are. */
int bfn_config_in_run_key(const bfn_config *c, const char *key);
/* The run key without train.steps: runs that differ only in their length
 * share it (--extend continues the longest shorter one). */
void bfn_config_base_key(const bfn_config *c, char key[17]);
/* The run key without train.seed: seed replicates of one setting share it. */
void bfn_config_replicate_key(const bfn_config *c, char key[17]);
/* 1 if some setting depends on train.steps (then a finished run cannot be
 * extended to more steps without changing what its first steps did). */
int bfn_config_depends_on_steps(const bfn_config *c);
/* The resolved config as a JSON object {"key": value, ...} (numbers as JSON
 * numbers, the rest as strings, plus "profile"); the caller frees. */
char *bfn_config_json(const bfn_config *c);
/* Number of schema keys and the i-th key's name (for generated SQL views). */
int bfn_config_n_keys(void);
const char *bfn_config_key_name(int i);
const char *bfn_config_profile(const bfn_config *c);
const char *bfn_config_path(const bfn_config *c);
/* Print the schema for `bfn train --help`: per section, each key with its
 * default, help, choices or registered names, and for a registry entry's key
 * which entries read it. */
void bfn_config_print_schema(void *file);

#endif
