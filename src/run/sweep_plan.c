/* sweep_plan.c: parse a sweep file, expand its runs and grid, check them. */
#include "run/sweep_plan.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "run/config.h"
#include "util/err.h"
#include "util/shell_quote.h"

/* Names become file names with a suffix (".<run key>.db", ".log"): keep
 * them well under NAME_MAX (255). */
#define MAX_NAME 200
/* A grid that expands past this is surely a typo; refuse it, naming the count. */
#define MAX_JOBS 100000

void bfn_strvec_push(bfn_strvec *s, const char *x) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 8;
        char **v = realloc(s->v, (size_t)s->cap * sizeof *v);
        if (!v) {
            fprintf(stderr, "%s:%d: out of memory\n", __FILE__, __LINE__);
            abort();
        }
        s->v = v;
    }
    s->v[s->n++] = bfn_xstrdup(x);
}

void bfn_strvec_free(bfn_strvec *s) {
    for (int i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* "key=value" as a new string. */
static char *join_kv(const char *key, const char *value) {
    size_t n = strlen(key) + strlen(value) + 2;
    char *s = bfn_xmalloc(n);
    snprintf(s, n, "%s=%s", key, value);
    return s;
}

typedef struct {
    char *name;
    int line;
    bfn_strvec kv; /* "key=value" */
} section;

typedef struct {
    char *key;
    int line;
    bfn_strvec values;
} axis;

/* Parser state. */
typedef struct {
    bfn_sweep_plan *plan;
    FILE *file;
    int line;
    int too_long; /* the line that did not fit the reader's buffer */
    int section_line; /* line of the latest [section] header */
    char *section;    /* its full name: libinih cuts section names at 50 characters */
    section *runs;
    int n_runs;
    section *profiles;
    int n_profiles;
    axis *axes;
    int n_axes;
    int rc;
} parser;

/* A line that does not fit inih's buffer would be split into two lines and
 * the rest read as a new key: stop instead (the handler reports it). */
static char *reader(char *str, int num, void *stream) {
    parser *ps = stream;
    char *r = fgets(str, num, ps->file);
    if (!r) return NULL;
    ps->line++;
    size_t n = strlen(r);
    if (n == (size_t)num - 1 && r[n - 1] != '\n' && !feof(ps->file)) {
        ps->too_long = ps->line;
        return NULL;
    }
    const char *t = r;
    while (*t == ' ' || *t == '\t') t++;
    if (*t == '[') {
        const char *end = strchr(t, ']');
        if (end) {
            t++;
            while (*t == ' ' || *t == '\t') t++;
            while (end > t && (end[-1] == ' ' || end[-1] == '\t')) end--;
            free(ps->section);
            ps->section = bfn_xmalloc((size_t)(end - t) + 1);
            memcpy(ps->section, t, (size_t)(end - t));
            ps->section[end - t] = '\0';
            ps->section_line = ps->line;
        }
    }
    return r;
}

/* The section named `name` in list (added if new). */
static section *find_section(section **list, int *n, const char *name, int line) {
    for (int i = 0; i < *n; i++)
        if (strcmp((*list)[i].name, name) == 0) return &(*list)[i];
    section *l = realloc(*list, (size_t)(*n + 1) * sizeof *l);
    if (!l) abort();
    *list = l;
    section *s = &l[(*n)++];
    memset(s, 0, sizeof *s);
    s->name = bfn_xstrdup(name);
    s->line = line;
    return s;
}

/* Strict non-negative integer (no sign, no junk, no overflow). */
static int parse_count(const char *v, long max, long *out) {
    if (!*v) return 0;
    for (const char *p = v; *p; p++)
        if (*p < '0' || *p > '9') return 0;
    errno = 0;
    long x = strtol(v, NULL, 10);
    if (errno || x > max) return 0;
    *out = x;
    return 1;
}

/* A resource value goes on one "#SBATCH --opt=VALUE" line: no control
 * characters (a newline would start a line of its own), no spaces. */
static int sbatch_value_ok(const char *v) {
    if (!*v) return 0;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x21 || *p == 0x7f) return 0;
    return 1;
}

/* Set one sbatch resource from the [slurm] section or the command line. */
int bfn_slurm_set(bfn_slurm_opts *o, const char *key, const char *value, const char *where) {
    struct {
        const char *key;
        char **field;
    } str[] = {{"time", &o->time},       {"mem", &o->mem}, {"partition", &o->partition},
               {"account", &o->account}, {"gres", &o->gres}, {"qos", &o->qos}};
    if (strcmp(key, "sbatch") == 0) {
        /* A whole option ("--mail-type=END"): printable, may hold spaces. */
        if (strncmp(value, "--", 2) != 0)
            return bfn_error(BFN_EINVAL, "%s: sbatch = '%s': give an sbatch option starting with --", where, value);
        for (const unsigned char *p = (const unsigned char *)value; *p; p++)
            if (*p < 0x20 || *p == 0x7f)
                return bfn_error(BFN_EINVAL, "%s: sbatch = ...: control character in the option", where);
        bfn_strvec_push(&o->sbatch, value);
        return BFN_OK;
    }
    if (strcmp(key, "cpus_per_task") == 0 || strcmp(key, "signal_seconds") == 0) {
        long v;
        if (!parse_count(value, 1000000, &v) || v < 1)
            return bfn_error(BFN_EINVAL, "%s: %s = '%s': expected a positive integer", where, key, value);
        *(key[0] == 'c' ? &o->cpus_per_task : &o->signal_seconds) = (int)v;
        return BFN_OK;
    }
    for (size_t i = 0; i < sizeof str / sizeof str[0]; i++) {
        if (strcmp(key, str[i].key) != 0) continue;
        if (!sbatch_value_ok(value))
            return bfn_error(BFN_EINVAL, "%s: %s = '%s': empty or contains spaces or control characters", where,
                             key, value);
        free(*str[i].field);
        *str[i].field = bfn_xstrdup(value);
        return BFN_OK;
    }
    return bfn_error(BFN_EINVAL,
                     "%s: unknown key '%s' in [slurm] (time, mem, partition, account, gres, qos, cpus_per_task, "
                     "signal_seconds, sbatch)",
                     where, key);
}

static int handler(void *user, const char *inih_sec, const char *name, const char *value) {
    parser *ps = user;
    /* libinih's copy of the section name is cut at 50 characters: use the
     * reader's full copy (the same text when it fits). */
    const char *sec = ps->section && strncmp(ps->section, inih_sec, strlen(inih_sec)) == 0 ? ps->section : inih_sec;
    bfn_sweep_plan *p = ps->plan;
    char where[1100];
    snprintf(where, sizeof where, "%s:%d", p->path, ps->line);
    if (strcmp(sec, "sweep") == 0) {
        if (strcmp(name, "experiment") == 0) {
            free(p->experiment);
            p->experiment = bfn_xstrdup(value);
        } else if (strcmp(name, "jobs") == 0) {
            long v;
            if (!parse_count(value, 4096, &v) || v < 1)
                ps->rc = bfn_error(BFN_EINVAL, "%s: jobs = '%s': expected an integer from 1 to 4096", where, value);
            else p->jobs = (int)v;
        } else {
            ps->rc = bfn_error(BFN_EINVAL, "%s: unknown key '%s' in [sweep] (experiment, jobs)", where, name);
        }
    } else if (strncmp(sec, "run ", 4) == 0) {
        const char *rn = sec + 4;
        if (!bfn_safe_name(rn, MAX_NAME))
            ps->rc = bfn_error(BFN_EINVAL, "%s:%d: run name '%s' is not a safe file name (%s; at most %d characters)",
                               p->path, ps->section_line, rn, BFN_SAFE_NAME_CHARS, MAX_NAME);
        else {
            section *r = find_section(&ps->runs, &ps->n_runs, rn, ps->section_line);
            char *kv = join_kv(name, value);
            bfn_strvec_push(&r->kv, kv);
            free(kv);
        }
    } else if (strncmp(sec, "profile ", 8) == 0) {
        section *pr = find_section(&ps->profiles, &ps->n_profiles, sec + 8, ps->line);
        char *kv = join_kv(name, value);
        bfn_strvec_push(&pr->kv, kv);
        free(kv);
    } else if (strcmp(sec, "grid") == 0) {
        axis *l = realloc(ps->axes, (size_t)(ps->n_axes + 1) * sizeof *l);
        if (!l) abort();
        ps->axes = l;
        axis *a = &l[ps->n_axes++];
        memset(a, 0, sizeof *a);
        a->key = bfn_xstrdup(name);
        a->line = ps->line;
        char *buf = bfn_xstrdup(value);
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok && ps->rc == BFN_OK;
             tok = strtok_r(NULL, ",", &save)) {
            while (*tok == ' ' || *tok == '\t') tok++;
            char *e = tok + strlen(tok);
            while (e > tok && (e[-1] == ' ' || e[-1] == '\t')) *--e = '\0';
            /* Each value is appended to the run's name, which names files. */
            if (!bfn_safe_name(tok, MAX_NAME))
                ps->rc = bfn_error(BFN_EINVAL, "%s: grid value '%s' of %s becomes part of a run name and must be "
                                   "a safe file name (%s)", where, tok, name, BFN_SAFE_NAME_CHARS);
            else bfn_strvec_push(&a->values, tok);
        }
        free(buf);
        if (ps->rc == BFN_OK && a->values.n == 0)
            ps->rc = bfn_error(BFN_EINVAL, "%s: grid key %s has no values", where, name);
    } else if (strcmp(sec, "slurm") == 0) {
        ps->rc = bfn_slurm_set(&p->slurm, name, value, where);
    } else {
        ps->rc = bfn_error(BFN_EINVAL, "%s: unknown section [%s] ([sweep], [run NAME], [grid], [profile NAME], "
                           "[slurm])", where, sec);
    }
    return ps->rc == BFN_OK;
}

/* The [profile NAME] section for the profile in use (the --profile given,
 * else the base experiment's default), or NULL. */
static const section *active_profile(const parser *ps, const char *profile) {
    char name[256] = "";
    if (profile) {
        snprintf(name, sizeof name, "%s", profile);
    } else {
        bfn_config *c;
        if (bfn_config_load(&c, ps->plan->experiment, NULL, 0, NULL) != BFN_OK) return NULL;
        snprintf(name, sizeof name, "%s", bfn_config_profile(c));
        bfn_config_free(c);
    }
    for (int i = 0; i < ps->n_profiles; i++)
        if (strcmp(ps->profiles[i].name, name) == 0) return &ps->profiles[i];
    return NULL;
}

static int cmp_job_name(const void *a, const void *b) {
    return strcmp((*(const bfn_sweep_job *const *)a)->name, (*(const bfn_sweep_job *const *)b)->name);
}

/* Every run crossed with every grid point (mixed radix over the axes). */
static int expand(parser *ps, const char *profile, int n_over, char *const *overrides) {
    bfn_sweep_plan *p = ps->plan;
    long n_points = 1;
    for (int a = 0; a < ps->n_axes; a++) {
        n_points *= ps->axes[a].values.n;
        if (n_points * (long)ps->n_runs > MAX_JOBS)
            return bfn_error(BFN_EINVAL, "%s: the grid expands to more than %d runs", p->path, MAX_JOBS);
    }
    const section *prof = active_profile(ps, profile);
    p->n_jobs = (int)(n_points * ps->n_runs);
    p->job = bfn_xcalloc((size_t)p->n_jobs + 1, sizeof *p->job);
    int n = 0;
    for (int r = 0; r < ps->n_runs; r++) {
        for (long pt = 0; pt < n_points; pt++) {
            bfn_sweep_job *j = &p->job[n++];
            j->line = ps->runs[r].line;
            size_t cap = strlen(ps->runs[r].name) + 1;
            for (int a = 0; a < ps->n_axes; a++) cap += MAX_NAME + 6; /* "_seed" + value */
            j->name = bfn_xmalloc(cap);
            snprintf(j->name, cap, "%s", ps->runs[r].name);
            if (prof)
                for (int k = 0; k < prof->kv.n; k++) bfn_strvec_push(&j->over, prof->kv.v[k]);
            for (int k = 0; k < ps->runs[r].kv.n; k++) bfn_strvec_push(&j->over, ps->runs[r].kv.v[k]);
            /* Grid point pt in mixed radix over the axes. A train.seed axis
             * makes seed replicates: they keep the experiment name (tables
             * then show mean ± s.e. over seeds); only the job/log name gets
             * the seed. */
            char *exp_name = bfn_xmalloc(cap);
            snprintf(exp_name, cap, "%s", ps->runs[r].name);
            long rest = pt;
            for (int a = 0; a < ps->n_axes; a++) {
                const axis *ax = &ps->axes[a];
                const char *v = ax->values.v[rest % ax->values.n];
                rest /= ax->values.n;
                char *kv = join_kv(ax->key, v);
                bfn_strvec_push(&j->over, kv);
                free(kv);
                int seed_axis = strcmp(ax->key, "train.seed") == 0;
                size_t len = strlen(j->name);
                snprintf(j->name + len, cap - len, seed_axis ? "_seed%s" : "_%s", v);
                if (!seed_axis) {
                    len = strlen(exp_name);
                    snprintf(exp_name + len, cap - len, "_%s", v);
                }
            }
            if (strlen(j->name) > MAX_NAME)
                return bfn_error(BFN_EINVAL, "%s:%d: run name '%.40s...' with its grid values is longer than %d "
                                 "characters", p->path, j->line, j->name, MAX_NAME);
            for (int k = 0; k < n_over; k++) bfn_strvec_push(&j->over, overrides[k]);
            char *kv = join_kv("experiment.name", exp_name);
            bfn_strvec_push(&j->over, kv);
            free(kv);
            free(exp_name);
        }
    }
    /* Two runs with one name would share a log and a database. */
    const bfn_sweep_job **by_name = bfn_xmalloc((size_t)p->n_jobs * sizeof *by_name);
    for (int i = 0; i < p->n_jobs; i++) by_name[i] = &p->job[i];
    qsort(by_name, (size_t)p->n_jobs, sizeof *by_name, cmp_job_name);
    int rc = BFN_OK;
    for (int i = 1; i < p->n_jobs && rc == BFN_OK; i++)
        if (strcmp(by_name[i - 1]->name, by_name[i]->name) == 0)
            rc = bfn_error(BFN_EINVAL, "%s:%d: the runs of lines %d and %d both expand to the name %s", p->path,
                           by_name[i]->line, by_name[i - 1]->line, by_name[i]->line, by_name[i]->name);
    free(by_name);
    return rc;
}

/* Load every run's config before starting any, so a typo cannot leave a
 * sweep half done; record each run key. */
static int validate(bfn_sweep_plan *p) {
    for (int i = 0; i < p->n_jobs; i++) {
        bfn_config *c;
        int rc = bfn_config_load(&c, p->experiment, p->profile, p->job[i].over.n, p->job[i].over.v);
        if (rc != BFN_OK) return bfn_error_prefix(rc, "sweep run %s", p->job[i].name);
        bfn_config_run_key(c, p->job[i].key);
        bfn_config_free(c);
    }
    return BFN_OK;
}

static void free_sections(section *s, int n) {
    for (int i = 0; i < n; i++) {
        free(s[i].name);
        bfn_strvec_free(&s[i].kv);
    }
    free(s);
}

int bfn_sweep_plan_load(bfn_sweep_plan *p, const char *path, const char *profile, int n_over,
                        char *const *overrides) {
    memset(p, 0, sizeof *p);
    p->path = bfn_xstrdup(path);
    if (profile) p->profile = bfn_xstrdup(profile);
    parser ps = {.plan = p};
    ps.file = fopen(path, "r");
    if (!ps.file) return bfn_error(BFN_EIO, "%s: cannot open sweep file: %s", path, strerror(errno));
    int err = ini_parse_stream(reader, &ps, handler, &ps);
    fclose(ps.file);
    int rc = ps.rc;
    if (rc == BFN_OK && ps.too_long)
        rc = bfn_error(BFN_EINVAL, "%s:%d: line too long (split it or shorten it)", path, ps.too_long);
    if (rc == BFN_OK && err) rc = bfn_error(BFN_EINVAL, "%s:%d: syntax error", path, err);
    if (rc == BFN_OK && !p->experiment) rc = bfn_error(BFN_EINVAL, "%s: [sweep] needs experiment = FILE", path);
    if (rc == BFN_OK && ps.n_runs == 0) rc = bfn_error(BFN_EINVAL, "%s: no [run NAME] sections", path);
    if (rc == BFN_OK) rc = expand(&ps, profile, n_over, overrides);
    if (rc == BFN_OK) rc = validate(p);
    free(ps.section);
    free_sections(ps.runs, ps.n_runs);
    free_sections(ps.profiles, ps.n_profiles);
    for (int a = 0; a < ps.n_axes; a++) {
        free(ps.axes[a].key);
        bfn_strvec_free(&ps.axes[a].values);
    }
    free(ps.axes);
    return rc;
}

void bfn_sweep_plan_free(bfn_sweep_plan *p) {
    for (int i = 0; i < p->n_jobs; i++) {
        free(p->job[i].name);
        bfn_strvec_free(&p->job[i].over);
    }
    free(p->job);
    free(p->path);
    free(p->experiment);
    free(p->profile);
    bfn_slurm_opts *o = &p->slurm;
    free(o->time), free(o->mem), free(o->partition), free(o->account), free(o->gres), free(o->qos);
    bfn_strvec_free(&o->sbatch);
    memset(p, 0, sizeof *p);
}

void bfn_sweep_job_argv(const bfn_sweep_plan *p, int j, const char *self, const char *threads, bfn_strvec *out) {
    bfn_strvec_push(out, self);
    bfn_strvec_push(out, "run");
    bfn_strvec_push(out, p->experiment);
    if (p->profile) {
        bfn_strvec_push(out, "--profile");
        bfn_strvec_push(out, p->profile);
    }
    if (threads) {
        bfn_strvec_push(out, "--threads");
        bfn_strvec_push(out, threads);
    }
    for (int k = 0; k < p->job[j].over.n; k++) bfn_strvec_push(out, p->job[j].over.v[k]);
}

int bfn_sweep_name(const char *path, char *out, int n) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, (size_t)n, "%s", base);
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = '\0';
    if (!bfn_safe_name(out, MAX_NAME))
        return bfn_error(BFN_EINVAL, "%s: the sweep's file name '%s' names its logs and databases and must be a "
                         "safe file name (%s)", path, out, BFN_SAFE_NAME_CHARS);
    return BFN_OK;
}
