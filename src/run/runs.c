/* runs.c: `bfn runs` and `bfn export`. */
#include "run/runs.h"

#include <stdlib.h>
#include <string.h>

#include "run/config.h"
#include "store/config_view.h"
#include "store/evals_q.h"
#include "store/metrics_q.h"
#include "store/named_q.h"
#include "store/runs_q.h"
#include "util/err.h"

static int print_overview(void *ctx, const bfn_q_overview *r) {
    const char *col[8] = {r->key, r->experiment, r->profile, r->status, r->logged, r->ckpt, r->nll, r->tags};
    for (int i = 0; i < 8; i++)
        if (!col[i]) col[i] = "-";
    fprintf((FILE *)ctx, "%-16s  %-18s %-8s %-11s %8s %8s  %-28s %s\n", col[0], col[1], col[2], col[3], col[4],
            col[5], col[6], col[7]);
    return BFN_OK;
}

int bfn_runs_list(bfn_db *db, const char *tag, FILE *out) {
    fprintf(out, "%-16s  %-18s %-8s %-11s %8s %8s  %-28s %s\n", "run", "experiment", "profile", "status",
            "logged", "ckpt", "NLL (n=inf)", "tags");
    return bfn_q_runs_overview(db, tag, print_overview, out);
}

int bfn_runs_resolve(bfn_db *db, const char *spec, const char *profile, char key[17]) {
    if (spec[0] == '@') {
        BFN_TRY(bfn_db_newest_finished(db, spec + 1, profile, key));
        if (!key[0])
            return bfn_error(BFN_EINVAL, "no finished run of experiment '%s'%s%s (see bfn runs)", spec + 1,
                             profile ? " with profile " : "", profile ? profile : "");
        return BFN_OK;
    }
    int found = 0;
    BFN_TRY(bfn_q_run_by_prefix(db, spec, key, &found));
    if (found == 0) return bfn_error(BFN_EINVAL, "no run matches '%s' (see bfn runs)", spec);
    if (found > 1) return bfn_error(BFN_EINVAL, "'%s' matches %d runs; give more of the key", spec, found);
    return BFN_OK;
}

int bfn_runs_export(bfn_db *db, const char *run, const char *profile, const char *what, int csv, FILE *out) {
    char key[17];
    BFN_TRY(bfn_runs_resolve(db, run, profile, key));
    int needs_run = 0;
    if (!bfn_q_named_find(what, &needs_run) || !needs_run)
        return bfn_error(BFN_EINVAL, "export: '%s' is not metric, eval, curve or losscurve", what);
    bfn_q_params p = {key, NULL};
    return bfn_q_named_print(db, what, &p, csv, out);
}

void bfn_runs_query_list(FILE *out) { bfn_q_named_list(out); }

int bfn_runs_query(bfn_db *db, const char *name, const char *run, const char *profile, FILE *out) {
    int needs_run = 0;
    if (!bfn_q_named_find(name, &needs_run)) return bfn_q_named_print(db, name, NULL, 0, out); /* names them */
    if (needs_run && !run) return bfn_error(BFN_EINVAL, "query %s needs a run: bfn query %s RUN (a key, prefix or @EXPERIMENT)", name, name);
    char key[17];
    if (needs_run) BFN_TRY(bfn_runs_resolve(db, run, profile, key));
    bfn_q_params p = {needs_run ? key : NULL, profile};
    return bfn_q_named_print(db, name, &p, 0, out);
}

int bfn_runs_load_config(bfn_db *db, const char *spec, const char *profile, int n_over, char *const *over,
                         bfn_config **out) {
    char key[17];
    BFN_TRY(bfn_runs_resolve(db, spec, profile, key));
    char *text = NULL;
    BFN_TRY(bfn_q_run_config(db, key, &text));
    int rc = BFN_EDB;
    if (text) {
        char origin[64];
        snprintf(origin, sizeof origin, "run %s", key);
        rc = bfn_config_from_text(out, text, origin);
        free(text);
    }
    char before[17] = "", after[17] = "";
    if (rc == BFN_OK) bfn_config_settings_key(*out, before);
    if (rc == BFN_OK && (rc = bfn_config_override(*out, n_over, over)) != BFN_OK) bfn_config_free(*out);
    /* A run stored under an older key definition keeps its key while the
     * overrides leave the settings of the key alone. */
    if (rc == BFN_OK) bfn_config_settings_key(*out, after);
    if (rc == BFN_OK && strcmp(before, key) != 0 && strcmp(before, after) == 0) bfn_config_force_run_key(*out, key);
    return rc;
}

/* The stored config of key into buf ("" if none). */
static void config_text(bfn_db *db, const char *key, char *buf, size_t n) {
    char *text = NULL;
    buf[0] = '\0';
    if (bfn_q_run_config(db, key, &text) != BFN_OK) bfn_clear_error();
    if (text) snprintf(buf, n, "%s", text);
    free(text);
}

/* Next "key = value" line of a canonical config text, or NULL at the end. */
static const char *next_line(const char *p, char *line, size_t n) {
    if (!p || !*p) return NULL;
    size_t len = strcspn(p, "\n");
    snprintf(line, n, "%.*s", (int)(len < n ? len : n - 1), p);
    return p[len] ? p + len + 1 : p + len;
}

/* One row (label, value for run a, value for run b). */
static int print_side_by_side(void *ctx, const char *label, const char *x, const char *y) {
    fprintf((FILE *)ctx, "  %-40s | %-24s | %s\n", label, x ? x : "-", y ? y : "-");
    return BFN_OK;
}

int bfn_runs_diff(bfn_db *db, const char *a, const char *b, const char *profile, FILE *out) {
    char ka[17], kb[17];
    BFN_TRY(bfn_runs_resolve(db, a, profile, ka));
    BFN_TRY(bfn_runs_resolve(db, b, profile, kb));
    static char ca[65536], cb[65536];
    config_text(db, ka, ca, sizeof ca);
    config_text(db, kb, cb, sizeof cb);
    /* Canonical configs list every key in the same order, so a line-by-line
     * walk finds every difference. */
    fprintf(out, "config differences (%s | %s):\n", ka, kb);
    const char *pa = ca, *pb = cb;
    char la[1024], lb[1024];
    int diffs = 0;
    while ((pa = next_line(pa, la, sizeof la)) && (pb = next_line(pb, lb, sizeof lb))) {
        if (strcmp(la, lb) == 0) continue;
        char *eq = strstr(lb, " = ");
        fprintf(out, "  %-40s | %s\n", la, eq ? eq + 3 : lb);
        diffs++;
    }
    if (!diffs) fprintf(out, "  (none)\n");
    fprintf(out, "final metrics (%s | %s):\n", ka, kb);
    BFN_TRY(bfn_q_diff_metrics(db, ka, kb, print_side_by_side, out));
    fprintf(out, "test NLL by n (%s | %s):\n", ka, kb);
    BFN_TRY(bfn_q_diff_nll(db, ka, kb, print_side_by_side, out));
    return BFN_OK;
}

/* JSON of a stored config text, or NULL when it no longer parses (an
 * old run's config then stays without JSON). */
static char *config_json_of(void *ctx, const char *key, const char *text) {
    (void)ctx;
    bfn_config *c;
    if (!text || bfn_config_from_text(&c, text, key) != BFN_OK) {
        bfn_clear_error();
        return NULL;
    }
    char *json = bfn_config_json(c);
    bfn_config_free(c);
    return json;
}

int bfn_runs_config_view(bfn_db *db) {
    int n = bfn_config_n_keys();
    const char **keys = bfn_xmalloc((size_t)(n > 0 ? n : 1) * sizeof *keys);
    for (int i = 0; i < n; i++) keys[i] = bfn_config_key_name(i);
    int rc = bfn_q_config_json_backfill(db, config_json_of, NULL);
    if (rc == BFN_OK) rc = bfn_q_config_view(db, keys, n);
    free(keys);
    return rc;
}
