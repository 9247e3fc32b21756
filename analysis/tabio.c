/* tabio.c: shared helpers of the table generators. */
#include "analysis/tabio.h"

#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include "run/config.h"
#include "store/runs_q.h"
#include "util/err.h"

int tab_split(char *line, char **f, int max) {
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *p = line; n < max;) {
        f[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab) break;
        *tab = '\0';
        p = tab + 1;
    }
    return n;
}

void tab_latex_escape(FILE *f, const char *s) {
    for (; *s; s++) {
        if (strchr("&%$#_{}", *s)) fputc('\\', f);
        fputc(*s, f);
    }
}

int tab_write_atomic(const char *path, int (*writer)(const void *ctx, FILE *f), const void *ctx) {
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return bfn_error(BFN_EIO, "%s: cannot write", tmp);
    int rc = writer(ctx, f);
    if (ferror(f) && rc == BFN_OK) rc = bfn_error(BFN_EIO, "%s: write failed", tmp);
    if (fclose(f) != 0 && rc == BFN_OK) rc = bfn_error(BFN_EIO, "%s: write failed", tmp);
    if (rc == BFN_OK && rename(tmp, path) != 0) rc = bfn_error(BFN_EIO, "%s: cannot rename", path);
    if (rc != BFN_OK) remove(tmp);
    return rc;
}

void tab_tex_path(const char *md, char *out, size_t n) {
    snprintf(out, n, "%s", md);
    char *dot = strrchr(out, '.');
    if (dot && strcmp(dot, ".md") == 0) *dot = '\0';
    size_t len = strlen(out);
    snprintf(out + len, n - len, ".tex");
}

/* Value of `key = ` in a canonical config text. */
static void config_value(const char *text, const char *key, char *out, size_t n) {
    out[0] = '\0';
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, key, kl) == 0 && strncmp(p + kl, " = ", 3) == 0) {
            const char *v = p + kl + 3;
            size_t len = strcspn(v, "\n");
            snprintf(out, n, "%.*s", (int)(len < n ? len : n - 1), v);
            return;
        }
    }
}

int tab_find_run(bfn_db *db, const char *experiment, const char *profile, tab_run *out) {
    /* The run `@experiment` means everywhere (bfn_db_newest_finished); a
     * table shows it once it has been evaluated. */
    char key[17];
    BFN_TRY(bfn_db_newest_finished(db, experiment, profile, key));
    if (!key[0]) return 0;
    bfn_q_run_brief brief;
    int found = bfn_q_run_brief_of(db, key, &brief);
    if (found <= 0 || !brief.evaluated) return found < 0 ? found : 0;
    char *text = NULL;
    BFN_TRY(bfn_q_run_config(db, key, &text));
    snprintf(out->key, sizeof out->key, "%s", key);
    snprintf(out->profile, sizeof out->profile, "%s", brief.profile);
    config_value(text, "data.dataset", out->dataset, sizeof out->dataset);
    free(text);
    return 1;
}

/* Replicate key (run key without train.seed) of a stored config text; 0 if unreadable. */
static int replicate_key_of(const char *text, const char *origin, char out[17]) {
    bfn_config *c;
    if (!text || bfn_config_from_text(&c, text, origin) != BFN_OK) {
        bfn_clear_error();
        return 0;
    }
    bfn_config_replicate_key(c, out);
    bfn_config_free(c);
    return 1;
}

/* The search of tab_find_replicates. */
typedef struct {
    const char *want;
    char (*keys)[17];
    int n, max;
} replicate_search;

static int consider(void *ctx, const char *k, const char *profile, const char *config) {
    replicate_search *q = ctx;
    (void)profile;
    char rk[17];
    if (q->n < q->max && k && replicate_key_of(config, k, rk) && strcmp(rk, q->want) == 0)
        snprintf(q->keys[q->n++], 17, "%s", k);
    return BFN_OK;
}

int tab_find_replicates(bfn_db *db, const char *experiment, const char *profile, const char *key, char keys[][17],
                        int max) {
    char want[17] = "", *text = NULL;
    BFN_TRY(bfn_q_run_config(db, key, &text));
    int ok = text && replicate_key_of(text, key, want);
    free(text);
    if (!ok) return 0;
    replicate_search q = {want, keys, 0, max};
    bfn_q_run_filter runs = {experiment, profile, 1, 1};
    BFN_TRY(bfn_q_runs_each(db, &runs, consider, &q));
    return q.n;
}
