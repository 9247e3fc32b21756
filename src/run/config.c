/* config.c: the configuration schema, INI parsing (util/ini.h), profiles,
 * overrides, validation and the canonical text that identifies a run. */
#include "run/config.h"

#include <ctype.h>
#include <pthread.h>
#include <errno.h>
#include <math.h>
#include <sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bfn/family.h"
#include "data/dataset.h"
#include "models/registry.h"
#include "run/spec.h"
#include "util/err.h"
#include "util/file_digest.h"
#include "util/ini.h"

/* The registries behind the NAME keys: which names exist (for checks,
 * messages and --help), and for the registries whose entries own keys of a
 * section (datasets [data], families [bfn], networks [model]) each entry's
 * key rows. The registries, not this file, say which names and keys exist. */
typedef struct {
    const char *key;     /* the key naming an entry */
    const char *section; /* the section its entries' keys belong to, or NULL */
    int (*known)(const char *name);
    const char *(*name_at)(int i);            /* i-th entry's name (as listed), NULL past the end */
    const bfn_key_def *(*rows_at)(int i);     /* i-th entry's own key rows (or NULL) */
    const bfn_key_def *(*rows_of)(const char *name); /* the rows of the entry `name` selects */
} registry_key;

static int dataset_known(const char *name) { return bfn_dataset_find(name) != NULL; }
static const char *dataset_name_at(int i) {
    static char buf[64];
    const bfn_dataset_entry *e = bfn_dataset_entry_at(i);
    if (!e) return NULL;
    snprintf(buf, sizeof buf, "%s%s", e->name, e->is_prefix ? "PATH" : "");
    return buf;
}
static const bfn_key_def *dataset_rows_at(int i) { return bfn_dataset_entry_at(i) ? bfn_dataset_entry_at(i)->keys : NULL; }
static const bfn_key_def *dataset_rows_of(const char *name) {
    const bfn_dataset_entry *e = bfn_dataset_find(name);
    return e ? e->keys : NULL;
}
static int family_known(const char *name) { return bfn_family_find(name) != NULL; }
static const char *family_name_at(int i) { return bfn_family_entry_at(i) ? bfn_family_entry_at(i)->name : NULL; }
static const bfn_key_def *family_rows_at(int i) { return bfn_family_entry_at(i) ? bfn_family_entry_at(i)->keys : NULL; }
static const bfn_key_def *family_rows_of(const char *name) {
    const bfn_family_entry *e = bfn_family_find(name);
    return e ? e->keys : NULL;
}
static const char *schedule_name_at(int i) {
    const char *const *names = bfn_schedule_names();
    for (int j = 0; j < i; j++)
        if (!names[j]) return NULL;
    return names[i];
}
static int schedule_known(const char *name) {
    for (int i = 0; schedule_name_at(i); i++)
        if (strcmp(schedule_name_at(i), name) == 0) return 1;
    return 0;
}
static int model_known(const char *name) { return bfn_model_find(name) != NULL; }
static const char *model_name_at(int i) { return bfn_model_entry_at(i) ? bfn_model_entry_at(i)->name : NULL; }
static const bfn_key_def *model_rows_at(int i) { return bfn_model_entry_at(i) ? bfn_model_entry_at(i)->keys : NULL; }
static const bfn_key_def *model_rows_of(const char *name) {
    const bfn_model_entry *e = bfn_model_find(name);
    return e ? e->keys : NULL;
}

static const registry_key REGISTRY_KEYS[] = {
    {"data.dataset", "data", dataset_known, dataset_name_at, dataset_rows_at, dataset_rows_of},
    {"bfn.family", "bfn", family_known, family_name_at, family_rows_at, family_rows_of},
    {"bfn.schedule", NULL, schedule_known, schedule_name_at, NULL, NULL},
    {"model.arch", "model", model_known, model_name_at, model_rows_at, model_rows_of},
};
#define N_REGISTRIES ((int)(sizeof REGISTRY_KEYS / sizeof REGISTRY_KEYS[0]))

static int registry_of(const char *key) {
    for (int i = 0; i < N_REGISTRIES; i++)
        if (strcmp(REGISTRY_KEYS[i].key, key) == 0) return i;
    return -1;
}

/* The registered names of registry r joined by sep. */
static void registry_names(int r, char *buf, size_t n, const char *sep) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; REGISTRY_KEYS[r].name_at(i) && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? sep : "", REGISTRY_KEYS[r].name_at(i));
}

static int rows_have(const bfn_key_def *rows, const char *key) {
    for (const bfn_key_def *k = rows; k && k->key; k++)
        if (strcmp(k->key, key) == 0) return 1;
    return 0;
}

/* The schema: every key a config may set, in canonical order (the order of
 * the stored config text): per section its core rows (run/spec_keys.h,
 * data/dataset.h), then the rows of the section's registry entries in
 * registry order, each key once. Built once from those lists. */
typedef struct {
    const bfn_key_def *def;
    int registry; /* index in REGISTRY_KEYS of the registry whose entries own the key, or -1 */
} schema_row;

static const char *const SECTIONS[] = {"experiment", "data", "bfn", "model", "train", "eval", "sample"};
#define MAX_KEYS 256
static schema_row SCHEMA[MAX_KEYS];
static int N_KEYS;
static pthread_once_t schema_once = PTHREAD_ONCE_INIT;

static int find_key(const char *key);

/* A key declared twice (a list naming a shared key such as model.heads) must
 * be the same key: a shared declaration, never two that disagree. */
static int same_def(const bfn_key_def *a, const bfn_key_def *b) {
    return a->type == b->type && strcmp(a->def, b->def) == 0 && a->lo == b->lo && a->hi == b->hi &&
           a->rule == b->rule && strcmp(a->help, b->help) == 0 &&
           ((!a->choices && !b->choices) || (a->choices && b->choices && strcmp(a->choices, b->choices) == 0));
}

static void add_rows(const bfn_key_def *rows, int registry) {
    for (const bfn_key_def *k = rows; k && k->key; k++) {
        int i = find_key(k->key);
        if (i >= 0) {
            BFN_ASSERT(same_def(SCHEMA[i].def, k), "config key '%s' is declared twice, differently", k->key);
            continue;
        }
        BFN_ASSERT(N_KEYS < MAX_KEYS, "more than %d config keys", MAX_KEYS);
        SCHEMA[N_KEYS++] = (schema_row){k, registry};
    }
}

static void build_schema(void) {
    for (size_t s = 0; s < sizeof SECTIONS / sizeof SECTIONS[0]; s++) {
        add_rows(bfn_spec_core_keys(SECTIONS[s]), -1);
        for (int r = 0; r < N_REGISTRIES; r++) {
            if (!REGISTRY_KEYS[r].section || strcmp(REGISTRY_KEYS[r].section, SECTIONS[s]) != 0) continue;
            for (int e = 0; REGISTRY_KEYS[r].name_at(e); e++) add_rows(REGISTRY_KEYS[r].rows_at(e), r);
        }
    }
}
static void schema_init(void) { pthread_once(&schema_once, build_schema); }

struct bfn_config {
    char **value;
    char (*origin)[300];
    char path[512];
    char profile[64];
    char forced_key[17]; /* a stored run's key from an older key definition, or "" */
};

static int find_key(const char *key) {
    for (int i = 0; i < N_KEYS; i++)
        if (strcmp(SCHEMA[i].def->key, key) == 0) return i;
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
static int check_value(const bfn_key_def *k, const char *value, char *why, size_t n) {
    char *end;
    switch (k->type) {
    case BFN_KEY_INT: {
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno || end == value || *end) { snprintf(why, n, "'%s' is not an integer", value); return 0; }
        if (v < k->lo || v > k->hi) {
            snprintf(why, n, "%lld is outside [%.0f, %.0f]", v, k->lo, k->hi);
            return 0;
        }
        return 1;
    }
    case BFN_KEY_REAL: {
        errno = 0;
        double v = strtod(value, &end);
        if (errno || end == value || *end || !isfinite(v)) {
            snprintf(why, n, "'%s' is not a finite number", value);
            return 0;
        }
        if (v < k->lo || v > k->hi) { snprintf(why, n, "%g is outside [%g, %g]", v, k->lo, k->hi); return 0; }
        return 1;
    }
    case BFN_KEY_ENUM: {
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
    case BFN_KEY_LIST: {
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
    case BFN_KEY_NAME: {
        int r = registry_of(k->key);
        BFN_ASSERT(r >= 0, "config key '%s' names no registry", k->key);
        if (REGISTRY_KEYS[r].known(value)) return 1;
        char names[300];
        registry_names(r, names, sizeof names, ", ");
        snprintf(why, n, "unknown %s '%.40s' (registered: %s)", k->key, value, names);
        return 0;
    }
    case BFN_KEY_STR:
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
    const bfn_key_def *k = SCHEMA[i].def;
    if (!check_value(k, value, why, sizeof why))
        return k->type == BFN_KEY_NAME ? bfn_error(BFN_EINVAL, "%s: %s", origin, why)
                                       : bfn_error(BFN_EINVAL, "%s: %s: %s", origin, key, why);
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

/* A config with every key at its default. */
static bfn_config *config_new(const char *path) {
    schema_init();
    bfn_config *c = bfn_xcalloc(1, sizeof *c);
    c->value = bfn_xcalloc((size_t)N_KEYS, sizeof *c->value);
    c->origin = bfn_xcalloc((size_t)N_KEYS, sizeof *c->origin);
    snprintf(c->path, sizeof c->path, "%s", path);
    for (int i = 0; i < N_KEYS; i++) {
        c->value[i] = bfn_xstrdup(SCHEMA[i].def->def);
        snprintf(c->origin[i], sizeof c->origin[i], "default");
    }
    return c;
}

/* Checks that involve several keys. */
static int check_consistency(const bfn_config *c) {
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
    bfn_config *c = config_new(path);
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
    bfn_config *c = config_new(origin);
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
    free(c->value);
    free(c->origin);
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

static int row_in_run_key(const bfn_config *c, int i);

/* Canonical text: "key = value" per line in schema order, for every key
 * (skip = NULL, run_key = 0) or only the run key's keys without `skip`. */
static char *canonical(const bfn_config *c, int run_key, const char *skip) {
    size_t cap = 4096, len = 0;
    char *s = bfn_xmalloc(cap);
    s[0] = '\0';
    for (int i = 0; i < N_KEYS; i++) {
        const char *key = SCHEMA[i].def->key;
        if (run_key && !row_in_run_key(c, i)) continue;
        if (skip && strcmp(key, skip) == 0) continue;
        size_t need = strlen(key) + strlen(c->value[i]) + 8;
        if (len + need >= cap) {
            cap = 2 * (cap + need);
            char *ns = realloc(s, cap);
            if (!ns) abort();
            s = ns;
        }
        len += (size_t)sprintf(s + len, "%s = %s\n", key, c->value[i]);
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

/* Whether schema row i is part of the run key: its rule (stated with the
 * key, util/keydef.h). [data] [bfn] [model] [train] count unless the key
 * says otherwise; [experiment] [eval] [sample] never do. */
static int row_in_run_key(const bfn_config *c, int i) {
    const bfn_key_def *k = SCHEMA[i].def;
    static const char *const sections[] = {"data.", "bfn.", "model.", "train."};
    int counted_section = 0;
    for (size_t j = 0; j < sizeof sections / sizeof sections[0]; j++)
        if (strncmp(k->key, sections[j], strlen(sections[j])) == 0) counted_section = 1;
    if (!counted_section) return 0;
    switch (k->rule) {
    case BFN_RK_SECTION: return 1;
    case BFN_RK_NEVER: return 0;
    case BFN_RK_NSTEP: return strcmp(bfn_cfg_str(c, "train.loss"), "nstep") == 0;
    case BFN_RK_WHEN_SET: return strcmp(c->value[i], k->def) != 0;
    case BFN_RK_USED: {
        /* A registry entry's keys count only for that entry (a network's only
         * when it is model.arch), so tuning one never disturbs another's runs. */
        const registry_key *r = &REGISTRY_KEYS[SCHEMA[i].registry];
        return rows_have(r->rows_of(bfn_cfg_str(c, r->key)), k->key);
    }
    }
    return 1;
}

int bfn_config_in_run_key(const bfn_config *c, const char *key) {
    int i = find_key(key);
    return i >= 0 && row_in_run_key(c, i);
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
    schema_init();
    FILE *f = file;
    const char *section = "";
    size_t section_len = 0;
    for (int i = 0; i < N_KEYS; i++) {
        const bfn_key_def *k = SCHEMA[i].def;
        size_t sl = (size_t)(strchr(k->key, '.') - k->key);
        if (section_len != sl || strncmp(section, k->key, sl) != 0) {
            fprintf(f, "%s[%.*s]\n", i ? "\n" : "", (int)sl, k->key);
            section = k->key;
            section_len = sl;
        }
        fprintf(f, "  %-24s %-10s %s", k->key, k->def[0] ? k->def : "\"\"", k->help);
        if (k->type == BFN_KEY_ENUM) fprintf(f, " [%s]", k->choices);
        int r = k->type == BFN_KEY_NAME ? registry_of(k->key) : -1;
        if (r >= 0) {
            char names[512];
            registry_names(r, names, sizeof names, "|");
            fprintf(f, " [%s]", names);
        }
        r = SCHEMA[i].registry;
        if (r >= 0) { /* which entries read it */
            fprintf(f, " (%s =", REGISTRY_KEYS[r].key);
            for (int e = 0, n = 0; REGISTRY_KEYS[r].name_at(e); e++)
                if (rows_have(REGISTRY_KEYS[r].rows_at(e), k->key))
                    fprintf(f, "%s %s", n++ ? "," : "", REGISTRY_KEYS[r].name_at(e));
            fputc(')', f);
        }
        fputc('\n', f);
    }
}

int bfn_config_n_keys(void) {
    schema_init();
    return N_KEYS;
}
const char *bfn_config_key_name(int i) {
    schema_init();
    return i >= 0 && i < N_KEYS ? SCHEMA[i].def->key : NULL;
}

/* Position of value in the '|'-separated choices (validated: it is there). */
static int choice_index(const char *choices, const char *value) {
    size_t len = strlen(value);
    int idx = 0;
    for (const char *c = choices; c && *c; idx++) {
        const char *bar = strchr(c, '|');
        size_t cl = bar ? (size_t)(bar - c) : strlen(c);
        if (cl == len && strncmp(c, value, len) == 0) return idx;
        c = bar ? bar + 1 : NULL;
    }
    BFN_ASSERT(0, "'%s' is not one of %s", value, choices);
    return -1;
}

void bfn_config_fill(const bfn_config *c, const bfn_key_def *rows, void *dst) {
    for (const bfn_key_def *k = rows; k && k->key; k++) {
        const char *v = c->value[must_find(k->key)];
        char *p = (char *)dst + k->offset;
        switch (k->field) {
        case BFN_FIELD_int: { int x = (int)strtol(v, NULL, 10); memcpy(p, &x, sizeof x); break; }
        case BFN_FIELD_long: { long x = strtol(v, NULL, 10); memcpy(p, &x, sizeof x); break; }
        case BFN_FIELD_ulong: { unsigned long x = (unsigned long)strtol(v, NULL, 10); memcpy(p, &x, sizeof x); break; }
        case BFN_FIELD_double: { double x = strtod(v, NULL); memcpy(p, &x, sizeof x); break; }
        case BFN_FIELD_str: memcpy(p, &v, sizeof v); break;
        case BFN_FIELD_index: { int x = choice_index(k->choices, v); memcpy(p, &x, sizeof x); break; }
        case BFN_FIELD_list: {
            bfn_int_list l = {{0}, 0};
            l.n = bfn_cfg_int_list(c, k->key, l.v, BFN_MAX_LIST);
            memcpy(p, &l, sizeof l);
            break;
        }
        }
    }
}

void bfn_config_fill_own(const bfn_config *c, const char *selector, bfn_key_own *own) {
    memset(own, 0, sizeof *own);
    int r = registry_of(selector);
    BFN_ASSERT(r >= 0 && REGISTRY_KEYS[r].rows_of, "'%s' selects no registry entry with keys", selector);
    bfn_config_fill(c, REGISTRY_KEYS[r].rows_of(bfn_cfg_str(c, selector)), own->bytes);
}

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
        append_json_string(&s, &len, &cap, SCHEMA[i].def->key);
        append(&s, &len, &cap, ":");
        /* Validated numbers are JSON numbers as written (strtod/strtoll accepted them). */
        bfn_key_type type = SCHEMA[i].def->type;
        if (type == BFN_KEY_INT || type == BFN_KEY_REAL) {
            char num[64];
            if (type == BFN_KEY_INT) snprintf(num, sizeof num, "%lld", strtoll(c->value[i], NULL, 10));
            else snprintf(num, sizeof num, "%.17g", strtod(c->value[i], NULL));
            append(&s, &len, &cap, num);
        } else {
            append_json_string(&s, &len, &cap, c->value[i]);
        }
    }
    append(&s, &len, &cap, "}");
    return s;
}
