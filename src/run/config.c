/* config.c: the configuration schema, INI parsing (util/ini.h), profiles,
 * overrides, validation and the canonical text that identifies a run. */
#include "run/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bfn/family.h"
#include "data/dataset.h"
#include "models/registry.h"
#include "util/err.h"
#include "util/file_digest.h"
#include "util/ini.h"

/* T_NAME: a name registered in a registry (families, datasets, ...); the
 * registry, not this file, says which names exist. */
typedef enum { T_INT, T_REAL, T_STR, T_ENUM, T_LIST, T_NAME } key_type;

typedef struct {
    const char *key;   /* "section.name" */
    key_type type;
    const char *def;   /* default value as text */
    double lo, hi;     /* inclusive range for T_INT / T_REAL / T_LIST items */
    const char *choices; /* '|'-separated for T_ENUM */
    const char *help;
} key_spec;

/* The registry behind each T_NAME key: is `name` registered, and the
 * registered names (for messages and --help). */
static int family_known(const char *name) { return bfn_family_find(name) != NULL; }
static int dataset_known(const char *name) { return bfn_dataset_find(name) != NULL; }
static const struct {
    const char *key;
    int (*known)(const char *name);
    void (*names)(char *buf, size_t n, const char *sep);
} REGISTRY_KEYS[] = {
    {"data.dataset", dataset_known, bfn_dataset_names},
    {"bfn.family", family_known, bfn_family_names},
};

static int registry_of(const char *key) {
    for (int i = 0; i < (int)(sizeof REGISTRY_KEYS / sizeof REGISTRY_KEYS[0]); i++)
        if (strcmp(REGISTRY_KEYS[i].key, key) == 0) return i;
    return -1;
}

#define BIG 1e18
/* The schema: every key a config may set. Order here is the canonical order.
 * Keys of [data], [bfn], [model] and [train] define the run key. */
static const key_spec SCHEMA[] = {
    {"experiment.name", T_STR, "unnamed", 0, 0, NULL, "experiment name (tables group runs by it)"},
    {"experiment.profile", T_STR, "small", 0, 0, NULL, "profile used when none is given"},
    {"experiment.description", T_STR, "", 0, 0, NULL, "one line shown in tables and reports"},

    {"data.dataset", T_NAME, "mnist", 0, 0, NULL,
     "dataset (idx:IMAGES[:LABELS] for your own plain or gzipped IDX files)"},
    {"data.dir", T_STR, "data", 0, 0, NULL, "dataset cache directory"},
    {"data.binarise", T_ENUM, "dynamic", 0, 0, "dynamic|threshold|none",
     "grey images as K=2 data: Bernoulli(grey) at every draw, grey>=128, or none"},
    {"data.val_count", T_INT, "500", 0, BIG, NULL, "validation examples taken from the training split"},
    {"data.test_count", T_INT, "1000", 0, BIG, NULL,
     "test examples: split off when the dataset has no test file, else a seeded subset of it (0 = all)"},
    {"data.train_limit", T_INT, "0", 0, BIG, NULL, "use at most this many training examples (0 = all)"},
    {"data.split_seed", T_INT, "2147483647", 0, BIG, NULL, "seed of the train/val(/test) split"},
    {"data.seq_len", T_INT, "256", 1, 1 << 20, NULL, "characters per text example"},
    {"data.test_stride", T_INT, "256", 1, 1 << 30, NULL, "stride between test windows of text (1 = paper)"},

    {"bfn.family", T_NAME, "discrete", 0, 0, NULL, "data family"},
    {"bfn.classes", T_INT, "2", 2, 256, NULL, "K for discrete data"},
    {"bfn.bins", T_INT, "256", 2, 4096, NULL, "bins of binned image data (256 = 8 bit, 16 = 4 bit)"},
    {"bfn.schedule", T_STR, "quadratic", 0, 0, NULL, "accuracy schedule (see bfn schedules)"},
    {"bfn.beta1", T_REAL, "9", 1e-12, BIG, NULL,
     "beta(1) of quadratic/linear/cosine schedules (official MNIST: sqrt = 3, so 9)"},
    {"bfn.sigma1", T_REAL, "0.001", 1e-12, 1 - 1e-12, NULL, "sigma_1 of the exponential schedule"},
    {"bfn.schedule_table", T_STR, "", 0, 0, NULL, "TSV of (t, beta) knots for schedule = table"},
    {"bfn.mc_samples", T_INT, "10", 1, 10000, NULL, "Monte Carlo sender samples in L^n"},
    {"bfn.receiver", T_ENUM, "marginal", 0, 0, "marginal|joint",
     "discrete L^n receiver: per-coordinate (official code) or joint K-dim mixture (paper)"},
    {"bfn.receiver_floor", T_ENUM, "official", 0, 0, "official|exact",
     "L^n receiver mixture weights (discrete, discretised): official = floored at FLT_EPSILON and renormalised "
     "as torch's Categorical does in the official code; exact = the paper's equations"},
    {"bfn.recon_bins", T_INT, "0", 0, 4096, NULL, "continuous data: bins of the L^r score (0 = bfn.bins)"},
    {"bfn.recon_std", T_REAL, "0", 0, BIG, NULL,
     "continuous data: std of the L^r score (0 = official: sigma1, or 0.7 sigma1 for 16 bins)"},

    {"model.arch", T_STR, "mlp", 0, 0, NULL, "network: mlp, transformer or unet (src/models/registry.c)"},
    {"model.hidden", T_INT, "1024", 1, 1 << 16, NULL, "MLP width / transformer width"},
    {"model.layers", T_INT, "2", 1, 256, NULL, "hidden layers / transformer blocks"},
    {"model.heads", T_INT, "4", 1, 256, NULL, "attention heads (transformer, U-Net attention blocks)"},
    {"model.skip", T_INT, "1", 0, 1, NULL, "transformer: head sees [final LN, input projection]"},
    {"model.channels", T_INT, "32", 2, 4096, NULL, "U-Net: base width (official model_channels / embedding_dim)"},
    {"model.channel_mult", T_STR, "1,2,2", 0, 0, NULL,
     "U-Net: width multiplier per level; each level but the last halves H and W"},
    {"model.res_blocks", T_INT, "1", 1, 64, NULL, "U-Net: residual blocks per level (down; up has one more)"},
    {"model.attn_res", T_STR, "none", 0, 0, NULL,
     "U-Net: down-sampling factors with self-attention, e.g. 8,16 (none: middle block only)"},
    {"model.groups", T_INT, "32", 1, 4096, NULL, "U-Net: GroupNorm groups (must divide every width)"},
    {"model.dropout", T_REAL, "0", 0, 0.99, NULL, "U-Net: dropout in every residual block (training only)"},
    {"model.fourier", T_INT, "0", 0, 1, NULL, "U-Net: append VDM Fourier features of the inputs (2^5, 2^6 cycles)"},
    {"model.time_input", T_INT, "1", 0, 1, NULL, "U-Net: input adapter appends 2t-1 to every pixel"},
    {"model.project_input", T_INT, "1", 0, 1, NULL, "U-Net: per-pixel linear to model.channels before conv_in"},
    {"model.out_channels", T_INT, "0", 0, 4096, NULL, "U-Net: width of the last convolution (0 = model.channels)"},
    {"model.time_embed", T_ENUM, "ddpm", 0, 0, "ddpm|vdm",
     "U-Net: time embedding and per-block projection of UNetModel (ddpm) or UNetVDM (vdm)"},

    {"train.loss", T_ENUM, "cts", 0, 0, "cts|nstep", "continuous-time L^inf or n-step L^n"},
    {"train.loss_steps", T_INT, "100", 1, 1 << 30, NULL, "n of the n-step training loss"},
    {"train.steps", T_INT, "1000", 0, BIG, NULL, "optimiser steps"},
    {"train.batch", T_INT, "128", 1, 1 << 20, NULL, "batch size"},
    {"train.lr", T_REAL, "1e-4", 0, 10, NULL, "AdamW learning rate (constant, as the official code)"},
    {"train.adam_beta1", T_REAL, "0.9", 0, 1 - 1e-12, NULL, "AdamW beta1"},
    {"train.adam_beta2", T_REAL, "0.98", 0, 1 - 1e-12, NULL, "AdamW beta2"},
    {"train.adam_eps", T_REAL, "1e-8", 0, 1, NULL, "AdamW eps"},
    {"train.weight_decay", T_REAL, "0.01", 0, 10, NULL, "AdamW decoupled weight decay"},
    {"train.ema_decay", T_REAL, "0.9999", 0, 1 - 1e-12, NULL, "EMA decay (evaluation uses the EMA)"},
    {"train.ema_warmup", T_INT, "0", 0, 1, NULL,
     "1: EMA decay at step t is min(ema_decay, (1 + t)/(10 + t)), so short runs' EMA does not lag"},
    {"train.clip", T_REAL, "5", 0, BIG, NULL, "gradient-norm clip (0 = off)"},
    {"train.seed", T_INT, "666", 0, BIG, NULL, "seed of initialisation, data order and noise"},
    {"train.log_every", T_INT, "50", 1, BIG, NULL, "steps between training-metric rows"},
    {"train.ckpt_every", T_INT, "500", 1, BIG, NULL, "steps between checkpoints (last)"},
    {"train.keep_every", T_INT, "0", 0, BIG, NULL, "also keep every k-th step's checkpoint (0 = none)"},
    {"train.val_every", T_INT, "500", 1, BIG, NULL, "steps between validation passes (EMA, L^inf)"},
    {"train.val_repeats", T_INT, "1", 1, 100000, NULL, "validation passes"},

    {"eval.steps", T_LIST, "10,25,50,100,784,1000,inf", 1, 1 << 30, NULL, "n of the test L^n (inf = L^inf)"},
    {"eval.repeats", T_INT, "10", 2, 1000000, NULL, "passes over the test set per n"},
    {"eval.batch", T_INT, "500", 1, 1 << 20, NULL, "evaluation batch size"},
    {"eval.seed", T_INT, "1", 0, BIG, NULL, "evaluation seed (the official README uses 1)"},
    {"eval.t_bins", T_INT, "50", 0, 10000, NULL, "time bins of the loss-against-time curve (0 = none)"},
    {"eval.checkpoint", T_ENUM, "last", 0, 0, "last|best", "checkpoint evaluated"},
    {"eval.unit", T_ENUM, "auto", 0, 0, "auto|nats/image|bits/dim|bits/char|nats/dim",
     "reporting unit (auto: nats/image for K=2 images, bits/char for text, bits/dim else)"},

    {"sample.steps", T_INT, "100", 1, 1 << 30, NULL, "sampling steps"},
    {"sample.count", T_INT, "64", 1, 100000, NULL, "samples drawn"},
    {"sample.seed", T_INT, "1", 0, BIG, NULL, "sampling seed"},
};
#define N_KEYS ((int)(sizeof SCHEMA / sizeof SCHEMA[0]))

struct bfn_config {
    char *value[N_KEYS];
    char origin[N_KEYS][300];
    char path[512];
    char profile[64];
    char forced_key[17]; /* a stored run's key from an older key definition, or "" */
};

static int find_key(const char *key) {
    for (int i = 0; i < N_KEYS; i++)
        if (strcmp(SCHEMA[i].key, key) == 0) return i;
    return -1;
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

/* Parse one list item: an integer or "inf" (-> 0). */
static int parse_list_item(const char *s, long *v) {
    if (strcmp(s, "inf") == 0 || strcmp(s, "infinity") == 0) { *v = 0; return 1; }
    char *end;
    errno = 0;
    *v = strtol(s, &end, 10);
    /* 0 is reserved for inf; a literal 0 steps is an error. */
    return errno == 0 && end != s && *end == '\0' && *v != 0;
}

/* Check `value` against the key's type and range; on failure write why. */
static int check_value(const key_spec *k, const char *value, char *why, size_t n) {
    char *end;
    switch (k->type) {
    case T_INT: {
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno || end == value || *end) { snprintf(why, n, "'%s' is not an integer", value); return 0; }
        if (v < k->lo || v > k->hi) {
            snprintf(why, n, "%lld is outside [%.0f, %.0f]", v, k->lo, k->hi);
            return 0;
        }
        return 1;
    }
    case T_REAL: {
        errno = 0;
        double v = strtod(value, &end);
        if (errno || end == value || *end || !isfinite(v)) {
            snprintf(why, n, "'%s' is not a finite number", value);
            return 0;
        }
        if (v < k->lo || v > k->hi) { snprintf(why, n, "%g is outside [%g, %g]", v, k->lo, k->hi); return 0; }
        return 1;
    }
    case T_ENUM: {
        const char *c = k->choices;
        size_t len = strlen(value);
        while (c && *c) {
            const char *bar = strchr(c, '|');
            size_t cl = bar ? (size_t)(bar - c) : strlen(c);
            if (cl == len && strncmp(c, value, len) == 0) return 1;
            c = bar ? bar + 1 : NULL;
        }
        snprintf(why, n, "'%s' is not one of %s", value, k->choices);
        return 0;
    }
    case T_LIST: {
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", value);
        int count = 0;
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            long v;
            char *s = trim(tok);
            if (!parse_list_item(s, &v)) { snprintf(why, n, "'%s' is not an integer or inf", s); return 0; }
            if (v != 0 && (v < k->lo || v > k->hi)) {
                snprintf(why, n, "%ld is outside [%.0f, %.0f]", v, k->lo, k->hi);
                return 0;
            }
            count++;
        }
        if (count == 0 || count > BFN_MAX_LIST) {
            snprintf(why, n, "needs 1 to %d items", BFN_MAX_LIST);
            return 0;
        }
        return 1;
    }
    case T_NAME: {
        int r = registry_of(k->key);
        if (REGISTRY_KEYS[r].known(value)) return 1;
        char names[200];
        REGISTRY_KEYS[r].names(names, sizeof names, "|");
        snprintf(why, n, "'%.40s' is not one of %s", value, names);
        return 0;
    }
    case T_STR:
        return 1;
    }
    return 1;
}

/* Set key = value from `origin`, validating it. */
static int set_value(bfn_config *c, const char *key, const char *value, const char *origin) {
    int i = find_key(key);
    if (i < 0) {
        /* Suggest the section's keys: the most common mistake is a typo. */
        return bfn_error(BFN_EINVAL, "%s: unknown key '%s' (see `bfn train --help` for the keys)", origin, key);
    }
    char why[400];
    if (!check_value(&SCHEMA[i], value, why, sizeof why))
        return bfn_error(BFN_EINVAL, "%s: %s: %s", origin, key, why);
    free(c->value[i]);
    c->value[i] = bfn_xstrdup(value);
    snprintf(c->origin[i], sizeof c->origin[i], "%s", origin);
    return BFN_OK;
}

/* --- INI parsing ------------------------------------------------------------ */

/* A key seen in the file: its section, name and line (duplicate check). */
typedef struct {
    char *section, *name;
    int line;
} seen_key;

typedef struct {
    bfn_config *cfg;
    int line;            /* line of the key being handled */
    const char *profile; /* profile whose section applies */
    int profile_seen;
    int n_keys;          /* keys in the file (an empty file is refused) */
    char profiles[512];  /* names of profile sections seen, for errors */
    seen_key *seen;
    int n_seen, cap_seen;
} parse_state;

/* A key given twice in one section is an error naming both lines (the
 * second would silently win). Sections are compared after trimming, so
 * "[profile  small]" and "[profile small]" are the same section. */
static int check_duplicate(parse_state *ps, const char *section, const char *name, int line) {
    for (int i = 0; i < ps->n_seen; i++)
        if (strcmp(ps->seen[i].section, section) == 0 && strcmp(ps->seen[i].name, name) == 0)
            return bfn_error(BFN_EINVAL, "%s:%d: '%s' in [%s] is set twice (first at line %d)", ps->cfg->path, line,
                             name, section, ps->seen[i].line);
    if (ps->n_seen == ps->cap_seen) {
        ps->cap_seen = ps->cap_seen ? 2 * ps->cap_seen : 64;
        seen_key *p = realloc(ps->seen, (size_t)ps->cap_seen * sizeof *p);
        if (!p) return bfn_error(BFN_ENOMEM, "%s: out of memory", ps->cfg->path);
        ps->seen = p;
    }
    ps->seen[ps->n_seen++] = (seen_key){bfn_xstrdup(section), bfn_xstrdup(name), line};
    return BFN_OK;
}

static void free_seen(parse_state *ps) {
    for (int i = 0; i < ps->n_seen; i++) {
        free(ps->seen[i].section);
        free(ps->seen[i].name);
    }
    free(ps->seen);
    ps->seen = NULL;
    ps->n_seen = ps->cap_seen = 0;
}

/* "profile NAME" (any spaces) -> NAME, else NULL. */
static const char *profile_of(const char *section) {
    if (strncmp(section, "profile", 7) != 0 || !isspace((unsigned char)section[7])) return NULL;
    const char *prof = section + 7;
    while (isspace((unsigned char)*prof)) prof++;
    return prof;
}

/* Base pass: [section] name = value sets section.name; [profile X] sections
 * are only checked for unknown keys here and applied in the profile pass. */
static int ini_base_handler(void *user, const char *section, const char *name, const char *value, int line) {
    parse_state *ps = user;
    char origin[600], key[256];
    ps->line = line;
    ps->n_keys++;
    snprintf(origin, sizeof origin, "%s:%d", ps->cfg->path, ps->line);
    BFN_TRY(check_duplicate(ps, section, name, line));
    const char *prof = profile_of(section);
    if (prof) {
        if (!strstr(ps->profiles, prof) && strlen(ps->profiles) + strlen(prof) + 3 < sizeof ps->profiles) {
            if (ps->profiles[0]) strcat(ps->profiles, ", ");
            strcat(ps->profiles, prof);
        }
        if (find_key(name) < 0) return bfn_error(BFN_EINVAL, "%s: unknown key '%s' in [%s]", origin, name, section);
        return BFN_OK;
    }
    if (strchr(name, '.'))
        return bfn_error(BFN_EINVAL, "%s: dotted key '%s' belongs in a [profile NAME] section", origin, name);
    if ((size_t)snprintf(key, sizeof key, "%s.%s", section, name) >= sizeof key)
        return bfn_error(BFN_EINVAL, "%s: unknown key '%.40s...' (see `bfn train --help` for the keys)", origin, key);
    return set_value(ps->cfg, key, value, origin);
}

/* Profile pass: apply only [profile NAME] keys (with line numbers). */
static int ini_profile_handler(void *user, const char *section, const char *name, const char *value, int line) {
    parse_state *ps = user;
    const char *prof = profile_of(section);
    if (!prof || strcmp(prof, ps->profile) != 0) return BFN_OK;
    ps->profile_seen = 1;
    char origin[600];
    snprintf(origin, sizeof origin, "%s:%d", ps->cfg->path, line);
    return set_value(ps->cfg, name, value, origin);
}

static void set_defaults(bfn_config *c) {
    for (int i = 0; i < N_KEYS; i++) {
        c->value[i] = bfn_xstrdup(SCHEMA[i].def);
        snprintf(c->origin[i], sizeof c->origin[i], "default");
    }
}

/* Checks that involve several keys. */
static int check_consistency(const bfn_config *c) {
    if (!bfn_model_find(bfn_cfg_str(c, "model.arch")))
        return bfn_error(BFN_EINVAL, "%s: unknown model.arch '%s' (registered: %s)", bfn_cfg_origin(c, "model.arch"),
                         bfn_cfg_str(c, "model.arch"), bfn_model_names());
    const char *family = bfn_cfg_str(c, "bfn.family");
    const char *sched = bfn_cfg_str(c, "bfn.schedule");
    if (strcmp(sched, "table") == 0 && !bfn_cfg_str(c, "bfn.schedule_table")[0])
        return bfn_error(BFN_EINVAL, "%s: schedule = table needs bfn.schedule_table = PATH",
                         bfn_cfg_origin(c, "bfn.schedule"));
    if (strcmp(family, "discrete") != 0 && strcmp(sched, "quadratic") == 0 &&
        strcmp(bfn_cfg_origin(c, "bfn.schedule"), "default") == 0)
        return bfn_error(BFN_EINVAL, "%s: family %s needs an explicit bfn.schedule (official: exponential)",
                         bfn_cfg_origin(c, "bfn.family"), family);
    if (strcmp(family, "discretised") == 0 && strcmp(bfn_cfg_str(c, "train.loss"), "nstep") == 0 &&
        strcmp(bfn_cfg_str(c, "bfn.receiver_floor"), "exact") == 0)
        return bfn_error(BFN_EINVAL, "%s: bfn.receiver_floor = exact is for evaluation only with family "
                         "discretised (it has no gradient); train with official",
                         bfn_cfg_origin(c, "bfn.receiver_floor"));
    return BFN_OK;
}

int bfn_config_load(bfn_config **out, const char *path, const char *profile, int n_over,
                    char *const *overrides) {
    bfn_config *c = bfn_xcalloc(1, sizeof *c);
    snprintf(c->path, sizeof c->path, "%s", path);
    set_defaults(c);
    parse_state ps = {.cfg = c};
    char *text = NULL;
    size_t n_text = 0;
    int rc = bfn_read_file(path, &text, &n_text);
    if (rc != BFN_OK) {
        bfn_error_prefix(rc, "experiment file");
        goto fail;
    }
    rc = bfn_ini_parse_text(text, n_text, path, ini_base_handler, &ps);
    free_seen(&ps);
    if (rc == BFN_OK && ps.n_keys == 0)
        rc = bfn_error(BFN_EINVAL, "%s: no settings (an empty experiment file would train a default model; "
                       "see experiments/ for examples)", path);
    if (rc != BFN_OK) goto fail;
    /* Profile: command line, else the file's experiment.profile. A profile=NAME
     * override is accepted too, so `make table2 PROFILE=smoke` can pass it. */
    const char *prof = profile;
    for (int i = 0; i < n_over; i++)
        if (strncmp(overrides[i], "profile=", 8) == 0) prof = overrides[i] + 8;
    if (!prof) prof = bfn_cfg_str(c, "experiment.profile");
    snprintf(c->profile, sizeof c->profile, "%s", prof);
    parse_state pp = {.cfg = c, .profile = prof};
    rc = bfn_ini_parse_text(text, n_text, path, ini_profile_handler, &pp);
    if (rc != BFN_OK) goto fail;
    if (!pp.profile_seen && ps.profiles[0]) {
        rc = bfn_error(BFN_EINVAL, "%s: no [profile %s] (profiles here: %s)", path, prof, ps.profiles);
        goto fail;
    }
    rc = bfn_config_override(c, n_over, overrides);
    if (rc != BFN_OK) goto fail;
    rc = check_consistency(c);
    if (rc != BFN_OK) goto fail;
    free(text);
    *out = c;
    return BFN_OK;
fail:
    free(text);
    bfn_config_free(c);
    return rc;
}

int bfn_config_override(bfn_config *c, int n_over, char *const *overrides) {
    for (int i = 0; i < n_over; i++) {
        if (strncmp(overrides[i], "profile=", 8) == 0) continue;
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", overrides[i]);
        char *eq = strchr(buf, '=');
        if (!eq) return bfn_error(BFN_EINVAL, "command line: '%s' is not key=value", overrides[i]);
        *eq = '\0';
        BFN_TRY(set_value(c, trim(buf), trim(eq + 1), "command line"));
    }
    return check_consistency(c);
}

int bfn_config_from_text(bfn_config **out, const char *text, const char *origin) {
    bfn_config *c = bfn_xcalloc(1, sizeof *c);
    snprintf(c->path, sizeof c->path, "%s", origin);
    set_defaults(c);
    char *copy = bfn_xstrdup(text), *save = NULL;
    int line = 0, rc = BFN_OK;
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        line++;
        char *s = trim(l);
        if (!*s || *s == '#') continue;
        char *eq = strchr(s, '=');
        if (!eq) { rc = bfn_error(BFN_EINVAL, "%s:%d: not key = value", origin, line); break; }
        *eq = '\0';
        char where[600];
        snprintf(where, sizeof where, "%s:%d", origin, line);
        if (strcmp(trim(s), "profile") == 0) {
            snprintf(c->profile, sizeof c->profile, "%s", trim(eq + 1));
            continue;
        }
        rc = set_value(c, trim(s), trim(eq + 1), where);
        if (rc != BFN_OK) break;
    }
    free(copy);
    if (rc != BFN_OK) { bfn_config_free(c); return rc; }
    *out = c;
    return BFN_OK;
}

void bfn_config_free(bfn_config *c) {
    if (!c) return;
    for (int i = 0; i < N_KEYS; i++) free(c->value[i]);
    free(c);
}

/* Accessors: asking for a key outside the schema is a programming error. */
static int must_find(const char *key) {
    int i = find_key(key);
    BFN_ASSERT(i >= 0, "config key '%s' is not in the schema", key);
    return i;
}

long bfn_cfg_int(const bfn_config *c, const char *key) { return strtol(c->value[must_find(key)], NULL, 10); }
double bfn_cfg_real(const bfn_config *c, const char *key) { return strtod(c->value[must_find(key)], NULL); }
const char *bfn_cfg_str(const bfn_config *c, const char *key) { return c->value[must_find(key)]; }
const char *bfn_cfg_origin(const bfn_config *c, const char *key) { return c->origin[must_find(key)]; }

int bfn_cfg_int_list(const bfn_config *c, const char *key, int *vals, int max) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", c->value[must_find(key)]);
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok && n < max; tok = strtok_r(NULL, ",", &save)) {
        long v = 0;
        parse_list_item(trim(tok), &v);
        vals[n++] = (int)v;
    }
    return n;
}

/* Canonical text: "key = value" per line in schema order, for every key
 * (skip = NULL, run_key = 0) or only the run key's keys without `skip`. */
static char *canonical(const bfn_config *c, int run_key, const char *skip) {
    size_t cap = 4096, len = 0;
    char *s = bfn_xmalloc(cap);
    s[0] = '\0';
    for (int i = 0; i < N_KEYS; i++) {
        if (run_key && !bfn_config_in_run_key(c, SCHEMA[i].key)) continue;
        if (skip && strcmp(SCHEMA[i].key, skip) == 0) continue;
        size_t need = strlen(SCHEMA[i].key) + strlen(c->value[i]) + 8;
        if (len + need >= cap) {
            cap = 2 * (cap + need);
            char *ns = realloc(s, cap);
            if (!ns) abort();
            s = ns;
        }
        len += (size_t)sprintf(s + len, "%s = %s\n", SCHEMA[i].key, c->value[i]);
    }
    return s;
}

char *bfn_config_text(const bfn_config *c) {
    char *body = canonical(c, 0, NULL);
    char *s = bfn_xmalloc(strlen(body) + 128);
    sprintf(s, "profile = %s\n%s", c->profile[0] ? c->profile : "default", body);
    free(body);
    return s;
}

/* Keys of [data] [bfn] [model] [train] that never change the trained
 * weights: logging, checkpoint and validation cadence, the test-window
 * stride and the L^r scoring of continuous data (evaluation only). */
static const char *const NOT_IN_RUN_KEY[] = {
    "train.log_every", "train.ckpt_every", "train.keep_every", "train.val_every", "train.val_repeats",
    "data.test_stride", "bfn.recon_bins", "bfn.recon_std", NULL,
};
/* Keys that shape only the n-step loss L^n: part of the run key only when
 * the run trains on L^n (train.loss = nstep). */
static const char *const NSTEP_ONLY[] = {
    "train.loss_steps", "bfn.mc_samples", "bfn.receiver", "bfn.receiver_floor", NULL,
};

/* Keys added after runs were recorded, whose default reproduces the old
 * behaviour: part of the run key only when set to another value. */
static const char *const ONLY_WHEN_SET[] = {"train.ema_warmup", NULL};

static int in_list(const char *const *list, const char *key) {
    for (const char *const *p = list; *p; p++)
        if (strcmp(*p, key) == 0) return 1;
    return 0;
}

int bfn_config_in_run_key(const bfn_config *c, const char *key) {
    static const char *const sections[] = {"data.", "bfn.", "model.", "train."};
    int keep = 0;
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
        if (strncmp(key, sections[i], strlen(sections[i])) == 0) keep = 1;
    if (!keep || in_list(NOT_IN_RUN_KEY, key)) return 0;
    if (in_list(NSTEP_ONLY, key)) return strcmp(bfn_cfg_str(c, "train.loss"), "nstep") == 0;
    /* Keys added later whose default reproduces the old behaviour count only when set. */
    if (in_list(ONLY_WHEN_SET, key)) return strcmp(bfn_cfg_str(c, key), SCHEMA[must_find(key)].def) != 0;
    /* A network's keys count only for that network (models/registry.c), so
     * tuning one network never disturbs another's runs. */
    if (strncmp(key, "model.", 6) == 0 && strcmp(key, "model.arch") != 0)
        return bfn_model_uses_key(bfn_cfg_str(c, "model.arch"), key);
    return 1;
}

int bfn_config_depends_on_steps(const bfn_config *c) {
    /* No setting uses the total step count today (constant learning rate, no
     * warm-up or decay). A learning-rate schedule over train.steps must
     * return 1 here, which makes --extend refuse. */
    (void)c;
    return 0;
}

static void run_key_hash(const bfn_config *c, const char *skip, char key[17]);
void bfn_config_run_key(const bfn_config *c, char key[17]) {
    if (c->forced_key[0]) snprintf(key, 17, "%s", c->forced_key);
    else run_key_hash(c, NULL, key);
}
void bfn_config_settings_key(const bfn_config *c, char key[17]) { run_key_hash(c, NULL, key); }
void bfn_config_force_run_key(bfn_config *c, const char *key) { snprintf(c->forced_key, sizeof c->forced_key, "%s", key); }
void bfn_config_base_key(const bfn_config *c, char key[17]) { run_key_hash(c, "train.steps", key); }
void bfn_config_replicate_key(const bfn_config *c, char key[17]) { run_key_hash(c, "train.seed", key); }

static void run_key_hash(const bfn_config *c, const char *skip, char key[17]) {
    char *text = canonical(c, 1, skip);
    SHA2_CTX ctx;
    uint8_t digest[SHA256_DIGEST_LENGTH];
    SHA256Init(&ctx);
    SHA256Update(&ctx, (const uint8_t *)text, strlen(text));
    /* A tabulated schedule is identified by its contents, not only its path:
     * editing the file makes a new run. (An unreadable file is reported when
     * the schedule is loaded.) */
    if (strcmp(bfn_cfg_str(c, "bfn.schedule"), "table") == 0) {
        FILE *f = fopen(bfn_cfg_str(c, "bfn.schedule_table"), "rb");
        if (f) {
            uint8_t buf[4096];
            size_t n;
            while ((n = fread(buf, 1, sizeof buf, f)) > 0) SHA256Update(&ctx, buf, n);
            fclose(f);
        }
    }
    /* So is a bring-your-own IDX dataset: a replaced data file is a new run,
     * not one skipped as finished. The contents' SHA-256 (cached by size and
     * mtime) stands in for the bytes; an unreadable file is reported when
     * the dataset is loaded. */
    const char *dataset = bfn_cfg_str(c, "data.dataset");
    if (strncmp(dataset, "idx:", 4) == 0) {
        char paths[1024];
        snprintf(paths, sizeof paths, "%s", dataset + 4);
        char *colon = strchr(paths, ':');
        if (colon) *colon = '\0';
        const char *files[2] = {paths, colon ? colon + 1 : NULL};
        for (int i = 0; i < 2 && files[i]; i++) {
            uint8_t d[32];
            if (bfn_file_digest_cached(files[i], d) != BFN_OK) continue;
            SHA256Update(&ctx, (const uint8_t *)"\nidx-content ", 13);
            SHA256Update(&ctx, d, sizeof d);
        }
    }
    SHA256Final(digest, &ctx);
    free(text);
    for (int i = 0; i < 8; i++) sprintf(key + 2 * i, "%02x", digest[i]);
    key[16] = '\0';
}

const char *bfn_config_profile(const bfn_config *c) { return c->profile[0] ? c->profile : "default"; }
const char *bfn_config_path(const bfn_config *c) { return c->path; }

void bfn_config_print_schema(void *file) {
    FILE *f = file;
    for (int i = 0; i < N_KEYS; i++) {
        fprintf(f, "  %-24s %-10s %s", SCHEMA[i].key, SCHEMA[i].def[0] ? SCHEMA[i].def : "\"\"", SCHEMA[i].help);
        if (SCHEMA[i].type == T_ENUM) fprintf(f, " [%s]", SCHEMA[i].choices);
        if (SCHEMA[i].type == T_NAME) {
            char names[512];
            REGISTRY_KEYS[registry_of(SCHEMA[i].key)].names(names, sizeof names, "|");
            fprintf(f, " [%s]", names);
        }
        fputc('\n', f);
    }
}

int bfn_config_n_keys(void) { return N_KEYS; }
const char *bfn_config_key_name(int i) { return i >= 0 && i < N_KEYS ? SCHEMA[i].key : NULL; }

/* Append s to the growable buffer (*buf, *len, *cap). */
static void append(char **buf, size_t *len, size_t *cap, const char *s) {
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        *cap = 2 * (*cap + n + 1);
        char *nb = realloc(*buf, *cap);
        if (!nb) abort();
        *buf = nb;
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
}

/* s as a JSON string literal (quotes, backslashes and control characters escaped). */
static void append_json_string(char **buf, size_t *len, size_t *cap, const char *s) {
    append(buf, len, cap, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char e[8];
        if (*p == '"' || *p == '\\') snprintf(e, sizeof e, "\\%c", *p);
        else if (*p < 0x20) snprintf(e, sizeof e, "\\u%04x", *p);
        else snprintf(e, sizeof e, "%c", *p);
        append(buf, len, cap, e);
    }
    append(buf, len, cap, "\"");
}

char *bfn_config_json(const bfn_config *c) {
    size_t cap = 4096, len = 0;
    char *s = bfn_xmalloc(cap);
    s[0] = '\0';
    append(&s, &len, &cap, "{\"profile\":");
    append_json_string(&s, &len, &cap, bfn_config_profile(c));
    for (int i = 0; i < N_KEYS; i++) {
        append(&s, &len, &cap, ",");
        append_json_string(&s, &len, &cap, SCHEMA[i].key);
        append(&s, &len, &cap, ":");
        /* Validated numbers are JSON numbers as written (strtod/strtoll accepted them). */
        if (SCHEMA[i].type == T_INT || SCHEMA[i].type == T_REAL) {
            char num[64];
            if (SCHEMA[i].type == T_INT) snprintf(num, sizeof num, "%lld", strtoll(c->value[i], NULL, 10));
            else snprintf(num, sizeof num, "%.17g", strtod(c->value[i], NULL));
            append(&s, &len, &cap, num);
        } else {
            append_json_string(&s, &len, &cap, c->value[i]);
        }
    }
    append(&s, &len, &cap, "}");
    return s;
}
