/* report.c: build a paper table (Markdown + LaTeX) from a spec and the db. */
#include "analysis/report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/tabio.h"
#include "store/evals_q.h"
#include "util/err.h"

#define MAX_COLS 8
#define MAX_ROWS 64
#define MAX_N 32
#define MAX_CLAIMS 8

typedef struct {
    int n;           /* 0 = inf */
    int col;
    char paper[32];
    char status[32];
    char source[64];
} ref_row;

typedef struct {
    char text[256];
    char op[8];           /* "lt"/"le": A op B at each n; "dec": A decreases along n */
    int n_list[MAX_N], n_count; /* empty = every n */
    int a[MAX_COLS], b[MAX_COLS], pairs;
} claim;

typedef struct {
    char title[256], command[256];
    char notes[8][512];
    int n_notes;
    char col_exp[MAX_COLS][64], col_label[MAX_COLS][128];
    int n_cols;
    ref_row rows[MAX_ROWS];
    int n_rows;
    claim claims[MAX_CLAIMS];
    int n_claims;
    /* ours */
    char run[MAX_COLS][17], profile[MAX_COLS][32], dataset[MAX_COLS][128], unit[MAX_COLS][32];
    long ckpt_step[MAX_COLS];
    int repeats[MAX_COLS];
    int n_vals[MAX_N];
    int n_count;
    double total[MAX_COLS][MAX_N], se[MAX_COLS][MAX_N];
    int have[MAX_COLS][MAX_N];
    int n_seeds[MAX_COLS];           /* > 1: values are mean ± s.e. over seed replicates */
    char eval_id[MAX_COLS][96];      /* "eval seed S, receiver floor F" of the rows shown */
    char seed_runs[MAX_COLS][8 * 18]; /* their run keys, comma-separated */
} table;

#define MAX_SEEDS 8
static int n_index(table *t, int n, int add);

/* Where read_run_evals puts one run's numbers. */
typedef struct {
    table *t;
    double *total, *se;
    int *have;
    char *unit;
    long *step;
    int *repeats;
    char *eval_id;
} run_evals;

static int put_eval(void *ctx, const bfn_q_eval *e) {
    run_evals *r = ctx;
    int i = n_index(r->t, e->n, 1);
    if (i < 0) return BFN_OK;
    r->total[i] = e->total;
    r->se[i] = e->total_se;
    r->have[i] = 1;
    snprintf(r->unit, 32, "%s", e->unit);
    *r->step = e->ckpt_step;
    *r->repeats = e->repeats;
    if (!e->has_seed) snprintf(r->eval_id, 96, "eval seed and floor not recorded");
    else snprintf(r->eval_id, 96, "eval seed %lld, receiver floor %s", (long long)e->eval_seed,
                  e->receiver_floor ? e->receiver_floor : "?");
    return BFN_OK;
}

/* Test NLL per n of the latest evaluated checkpoint of run `key` into
 * total/se/have (indexed like t->n_vals, adding n), plus unit, step, repeats. */
static int read_run_evals(table *t, bfn_db *db, const char *key, double *total, double *se, int *have, char *unit,
                          long *step, int *repeats, char *eval_id) {
    run_evals r = {t, total, se, have, unit, step, repeats, eval_id};
    return bfn_q_test_evals_newest_ckpt(db, key, put_eval, &r);
}

static int parse_n(const char *s, int *n) {
    if (strcmp(s, "inf") == 0) { *n = 0; return 1; }
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < 1) return 0;
    *n = (int)v;
    return 1;
}

static int col_index(const table *t, const char *exp) {
    for (int i = 0; i < t->n_cols; i++)
        if (strcmp(t->col_exp[i], exp) == 0) return i;
    return -1;
}

static int n_index(table *t, int n, int add) {
    for (int i = 0; i < t->n_count; i++)
        if (t->n_vals[i] == n) return i;
    if (!add || t->n_count == MAX_N) return -1;
    t->n_vals[t->n_count] = n;
    return t->n_count++;
}

/* "a,b" of column names -> indices. */
static int parse_cols(const table *t, char *list, int *idx, const char *where) {
    int k = 0;
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok && k < MAX_COLS; tok = strtok_r(NULL, ",", &save)) {
        int c = col_index(t, tok);
        if (c < 0) {
            bfn_error(BFN_EINVAL, "%s: unknown column '%s'", where, tok);
            return -1;
        }
        idx[k++] = c;
    }
    return k;
}

static int parse_claim(table *t, char **f, int nf, const char *where) {
    /* #! claim TEXT OP NLIST COLS_A COLS_B */
    if (nf < 7 || t->n_claims == MAX_CLAIMS)
        return bfn_error(BFN_EINVAL, "%s: claim needs TEXT, lt|le, n list|all, columns A, columns B", where);
    claim *c = &t->claims[t->n_claims];
    snprintf(c->text, sizeof c->text, "%s", f[2]);
    snprintf(c->op, sizeof c->op, "%s", f[3]);
    if (strcmp(c->op, "lt") && strcmp(c->op, "le") && strcmp(c->op, "dec"))
        return bfn_error(BFN_EINVAL, "%s: op must be lt, le or dec", where);
    c->n_count = 0;
    if (strcmp(f[4], "all") != 0) {
        for (char *save = NULL, *tok = strtok_r(f[4], ",", &save); tok && c->n_count < MAX_N;
             tok = strtok_r(NULL, ",", &save))
            if (!parse_n(tok, &c->n_list[c->n_count++])) return bfn_error(BFN_EINVAL, "%s: bad n '%s'", where, tok);
    }
    int na = parse_cols(t, f[5], c->a, where), nb = parse_cols(t, f[6], c->b, where);
    if (na < 0 || nb < 0) return BFN_EINVAL;
    if (na != nb) return bfn_error(BFN_EINVAL, "%s: claim column lists differ in length", where);
    c->pairs = na;
    t->n_claims++;
    return BFN_OK;
}

static int parse_spec(table *t, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return bfn_error(BFN_EIO, "%s: cannot open table spec", path);
    char line[2048], where[600];
    int lineno = 0, header_seen = 0, rc = BFN_OK;
    while (rc == BFN_OK && fgets(line, sizeof line, f)) {
        lineno++;
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        char *fld[8];
        if (strncmp(line, "#!", 2) == 0) {
            int nf = tab_split(line, fld, 8);
            if (nf < 3) { rc = bfn_error(BFN_EINVAL, "%s: directive needs a value", where); break; }
            if (!strcmp(fld[1], "title")) snprintf(t->title, sizeof t->title, "%s", fld[2]);
            else if (!strcmp(fld[1], "command")) snprintf(t->command, sizeof t->command, "%s", fld[2]);
            else if (!strcmp(fld[1], "note") && t->n_notes < 8) snprintf(t->notes[t->n_notes++], 512, "%s", fld[2]);
            else if (!strcmp(fld[1], "column") && nf >= 4 && t->n_cols < MAX_COLS) {
                snprintf(t->col_exp[t->n_cols], 64, "%s", fld[2]);
                snprintf(t->col_label[t->n_cols], 128, "%s", fld[3]);
                t->n_cols++;
            } else if (!strcmp(fld[1], "claim")) rc = parse_claim(t, fld, nf, where);
            else rc = bfn_error(BFN_EINVAL, "%s: unknown directive '%s'", where, fld[1]);
            continue;
        }
        if (line[0] == '#' || line[0] == '\n') continue;
        int nf = tab_split(line, fld, 8);
        if (!header_seen) { header_seen = 1; continue; }
        int n, c;
        if (nf < 5 || !parse_n(fld[0], &n) || (c = col_index(t, fld[1])) < 0 || t->n_rows == MAX_ROWS) {
            rc = bfn_error(BFN_EINVAL, "%s: expected n, column, paper, status, source", where);
            break;
        }
        ref_row *r = &t->rows[t->n_rows++];
        r->n = n;
        r->col = c;
        snprintf(r->paper, sizeof r->paper, "%s", fld[2]);
        snprintf(r->status, sizeof r->status, "%s", fld[3]);
        snprintf(r->source, sizeof r->source, "%s", fld[4]);
        n_index(t, n, 1);
    }
    fclose(f);
    if (rc == BFN_OK && t->n_cols == 0) rc = bfn_error(BFN_EINVAL, "%s: no '#!\tcolumn' directive", path);
    return rc;
}

static int load_ours(table *t, bfn_db *db, const char *profile) {
    char missing[1024] = "";
    for (int c = 0; c < t->n_cols; c++) {
        tab_run run;
        int found = tab_find_run(db, t->col_exp[c], profile, &run);
        if (found < 0) return found;
        if (!found) {
            size_t len = strlen(missing);
            snprintf(missing + len, sizeof missing - len, "%s%s", len ? ", " : "", t->col_exp[c]);
            continue;
        }
        snprintf(t->run[c], 17, "%s", run.key);
        snprintf(t->profile[c], 32, "%s", run.profile);
        snprintf(t->dataset[c], 128, "%s", run.dataset);
        /* Seed replicates (same settings but train.seed): mean ± s.e. over
         * seeds, each seed's value its test-pass mean. */
        char reps[MAX_SEEDS][17];
        int k = tab_find_replicates(db, t->col_exp[c], profile, run.key, reps, MAX_SEEDS);
        if (k < 0) return k;
        if (k < 2) {
            BFN_TRY(read_run_evals(t, db, t->run[c], t->total[c], t->se[c], t->have[c], t->unit[c], &t->ckpt_step[c],
                                   &t->repeats[c], t->eval_id[c]));
            continue;
        }
        static double tot[MAX_SEEDS][MAX_N], sev[MAX_SEEDS][MAX_N];
        static int hv[MAX_SEEDS][MAX_N];
        memset(hv, 0, sizeof hv);
        t->n_seeds[c] = k;
        t->seed_runs[c][0] = '\0';
        for (int r = 0; r < k; r++) {
            BFN_TRY(read_run_evals(t, db, reps[r], tot[r], sev[r], hv[r], t->unit[c], &t->ckpt_step[c],
                                   &t->repeats[c], t->eval_id[c]));
            size_t len = strlen(t->seed_runs[c]);
            snprintf(t->seed_runs[c] + len, sizeof t->seed_runs[c] - len, "%s`%s`", r ? ", " : "", reps[r]);
        }
        for (int i = 0; i < t->n_count; i++) {
            int all = 1;
            double m = 0, ss = 0;
            for (int r = 0; r < k; r++) all &= hv[r][i], m += tot[r][i];
            if (!all) continue;
            m /= k;
            for (int r = 0; r < k; r++) ss += (tot[r][i] - m) * (tot[r][i] - m);
            t->total[c][i] = m;
            t->se[c][i] = sqrt(ss / (k - 1) / k);
            t->have[c][i] = 1;
        }
    }
    if (missing[0])
        return bfn_error(BFN_EINVAL, "no finished, evaluated run of %s%s%s in %s; run `%s` first", missing,
                         profile ? " with profile " : "", profile ? profile : "", "the database",
                         t->command[0] ? t->command : "bfn run experiments/<name>.ini");
    return BFN_OK;
}

/* Keep n in the spec's order (ascending with inf last for any additions). */
static void sort_n(table *t) {
    for (int i = 1; i < t->n_count; i++)
        for (int j = i; j > 0; j--) {
            int a = t->n_vals[j - 1], b = t->n_vals[j];
            int ka = a == 0 ? 1 << 30 : a, kb = b == 0 ? 1 << 30 : b;
            if (ka <= kb) break;
            t->n_vals[j - 1] = b;
            t->n_vals[j] = a;
            for (int c = 0; c < MAX_COLS; c++) {
                double tv = t->total[c][j - 1], sv = t->se[c][j - 1];
                int hv = t->have[c][j - 1];
                t->total[c][j - 1] = t->total[c][j], t->se[c][j - 1] = t->se[c][j], t->have[c][j - 1] = t->have[c][j];
                t->total[c][j] = tv, t->se[c][j] = sv, t->have[c][j] = hv;
            }
        }
}

static const ref_row *paper_value(const table *t, int n, int c) {
    for (int i = 0; i < t->n_rows; i++)
        if (t->rows[i].n == n && t->rows[i].col == c) return &t->rows[i];
    return NULL;
}

static void n_label(int n, char *buf, size_t len, int latex) {
    if (n == 0) snprintf(buf, len, "%s", latex ? "$\\infty$" : "∞");
    else snprintf(buf, len, "%d", n);
}

static int claim_has_n(const claim *cl, int n) {
    int in = cl->n_count == 0;
    for (int k = 0; k < cl->n_count; k++) in |= cl->n_list[k] == n;
    return in;
}

/* "dec": column A's values at the claim's n (table order) strictly decrease. */
static int check_decreasing(const table *t, const claim *cl, char *evidence, size_t len) {
    int holds = 1, checked = 0, a = cl->a[0];
    size_t used = 0;
    double prev = 0;
    evidence[0] = '\0';
    for (int i = 0; i < t->n_count; i++) {
        if (!claim_has_n(cl, t->n_vals[i]) || !t->have[a][i]) continue;
        double v = t->total[a][i];
        if (checked++ && !(v < prev)) holds = 0;
        prev = v;
        char nl[16];
        n_label(t->n_vals[i], nl, sizeof nl, 0);
        if (used < len) used += (size_t)snprintf(evidence + used, len - used, "%sn=%s: %.3f", used ? ", " : "", nl, v);
    }
    return checked > 1 ? holds : -1;
}

/* Evaluate a claim on our numbers; writes the evidence. */
static int check_claim(const table *t, const claim *cl, char *evidence, size_t len) {
    if (strcmp(cl->op, "dec") == 0) return check_decreasing(t, cl, evidence, len);
    int holds = 1, checked = 0;
    size_t used = 0;
    evidence[0] = '\0';
    for (int i = 0; i < t->n_count; i++) {
        int n = t->n_vals[i];
        if (!claim_has_n(cl, n)) continue;
        for (int p = 0; p < cl->pairs; p++) {
            int a = cl->a[p], b = cl->b[p];
            if (!t->have[a][i] || !t->have[b][i]) continue;
            double va = t->total[a][i], vb = t->total[b][i];
            int ok = strcmp(cl->op, "lt") == 0 ? va < vb : va <= vb;
            holds &= ok;
            checked++;
            char nl[16];
            n_label(n, nl, sizeof nl, 0);
            if (used < len)
                used += (size_t)snprintf(evidence + used, len - used, "%sn=%s: %s %.3f %s %s %.3f", used ? "; " : "",
                                         nl, t->col_label[a], va, ok ? (cl->op[1] == 't' ? "<" : "≤") : "vs",
                                         t->col_label[b], vb);
        }
    }
    return checked ? holds : -1;
}

/* One-line diagnostic of column c from its stored rows, or "" when its
 * L^n curve looks as the theory expects: L^n should not rise with n (more,
 * smaller steps never cost more nats in expectation; PAPER.md eq. 29-30 vs
 * the limit) and L^n at the largest finite n (1000) should sit near L^inf.
 * A rise counts when it exceeds 2 combined standard errors; a gap at the
 * largest n counts when it exceeds both 5% of L^inf and 3 standard errors.
 * Both signal a network whose output distribution is poorly trained at the
 * small accuracies the n-step loss probes. */
static void diagnose(const table *t, int c, char *out, size_t len) {
    out[0] = '\0';
    int last = -1, inf = -1, rise_a = -1, rise_b = -1;
    double worst = 0;
    for (int i = 0; i < t->n_count; i++) {
        if (!t->have[c][i]) continue;
        if (t->n_vals[i] == 0) { inf = i; continue; }
        if (last >= 0) {
            double d = t->total[c][i] - t->total[c][last];
            double se = sqrt(t->se[c][i] * t->se[c][i] + t->se[c][last] * t->se[c][last]);
            if (d > 2 * se && d > worst) worst = d, rise_a = last, rise_b = i;
        }
        last = i;
    }
    size_t k = 0;
    if (rise_a >= 0)
        k += (size_t)snprintf(out + k, len - k, "L^n is not monotone in n (rises from %.2f at n=%d to %.2f at n=%d)",
                              t->total[c][rise_a], t->n_vals[rise_a], t->total[c][rise_b], t->n_vals[rise_b]);
    if (last >= 0 && inf >= 0 && k < len) {
        double gap = t->total[c][last] - t->total[c][inf];
        double se = sqrt(t->se[c][last] * t->se[c][last] + t->se[c][inf] * t->se[c][inf]);
        if (gap > 0.05 * fabs(t->total[c][inf]) && gap > 3 * se)
            k += (size_t)snprintf(out + k, len - k, "%sat n=%d L^n is %.0f%% above L^inf (%.2f vs %.2f)",
                                  k ? "; " : "", t->n_vals[last], 100 * gap / fabs(t->total[c][inf]),
                                  t->total[c][last], t->total[c][inf]);
    }
    if (k && k < len)
        snprintf(out + k, len - k, ": the output distribution is under-trained at the small accuracies L^n probes "
                                   "(see the L^inf(t) curve)");
}

/* A column with no published value at any n (e.g. a baseline network of
 * ours) gets no "paper" column beside it. */
static int has_paper(const table *t, int c) {
    for (int i = 0; i < t->n_count; i++)
        if (paper_value(t, t->n_vals[i], c)) return 1;
    return 0;
}

static int write_markdown(const void *ctx, FILE *f) {
    const table *t = ctx;
    fprintf(f, "# %s\n\n", t->title);
    fprintf(f, "Generated by `bfn table` from the results database alone (regenerate with `%s`).\n\n",
            t->command[0] ? t->command : "bfn table");
    fprintf(f, "| n |");
    for (int c = 0; c < t->n_cols; c++) {
        fprintf(f, " %s: ours |", t->col_label[c]);
        if (has_paper(t, c)) fprintf(f, " %s: paper |", t->col_label[c]);
    }
    fprintf(f, "\n|---:|");
    for (int c = 0; c < t->n_cols; c++) fprintf(f, has_paper(t, c) ? "---:|---:|" : "---:|");
    fprintf(f, "\n");
    for (int i = 0; i < t->n_count; i++) {
        char nl[16];
        n_label(t->n_vals[i], nl, sizeof nl, 0);
        fprintf(f, "| %s |", nl);
        for (int c = 0; c < t->n_cols; c++) {
            if (t->have[c][i]) fprintf(f, " %.2f ± %.2f |", t->total[c][i], t->se[c][i]);
            else fprintf(f, " – |");
            if (!has_paper(t, c)) continue;
            const ref_row *r = paper_value(t, t->n_vals[i], c);
            if (!r) fprintf(f, " – |");
            else if (strcmp(r->status, "confirmed") == 0) fprintf(f, " **%s** |", r->paper);
            else fprintf(f, " %s* |", r->paper);
        }
        fprintf(f, "\n");
    }
    for (int c = 0; c < t->n_cols; c++) {
        char d[1024];
        diagnose(t, c, d, sizeof d);
        if (d[0]) fprintf(f, "\nDiagnostic, %s: %s.\n", t->col_label[c], d);
    }
    fprintf(f, "\nPaper values in **bold** are confirmed by public sources; values marked * are "
               "**unconfirmed** recollections of the paper (see paper/NOTES.md), shown for orientation only.\n\n");
    fprintf(f, "Ours (unit %s; mean ± standard error over test passes of one run, or over training seeds where "
               "the column says so):\n\n", t->unit[0]);
    for (int c = 0; c < t->n_cols; c++) {
        if (t->n_seeds[c] > 1)
            fprintf(f, "- %s: experiment `%s`, dataset `%s`, profile `%s`: **mean ± s.e. over %d training seeds**, "
                       "runs %s, EMA weights at step %ld, %d repeats each, %s.\n",
                    t->col_label[c], t->col_exp[c], t->dataset[c], t->profile[c], t->n_seeds[c], t->seed_runs[c],
                    t->ckpt_step[c], t->repeats[c], t->eval_id[c]);
        else
            fprintf(f, "- %s: experiment `%s`, dataset `%s`, profile `%s`, run `%s`, EMA weights at step %ld, "
                       "%d repeats, %s.\n",
                    t->col_label[c], t->col_exp[c], t->dataset[c], t->profile[c], t->run[c], t->ckpt_step[c],
                    t->repeats[c], t->eval_id[c]);
    }
    for (int i = 0; i < t->n_notes; i++) fprintf(f, "\n%s\n", t->notes[i]);
    if (t->n_claims) fprintf(f, "\n## The paper's claims on our numbers\n\n");
    for (int k = 0; k < t->n_claims; k++) {
        char ev[2048];
        int h = check_claim(t, &t->claims[k], ev, sizeof ev);
        fprintf(f, "- %s: **%s** (%s)\n", t->claims[k].text, h < 0 ? "not checked" : h ? "holds" : "does not hold",
                h < 0 ? "no data" : ev);
    }
    return BFN_OK;
}

static int write_latex(const void *ctx, FILE *f) {
    const table *t = ctx;
    fprintf(f, "%% Generated by bfn table from the results database; do not edit.\n");
    fprintf(f, "\\begin{table}[t]\n\\centering\n\\caption{");
    tab_latex_escape(f, t->title);
    fprintf(f, " Ours: mean $\\pm$ s.e.; paper values marked * are unconfirmed.}\n");
    fprintf(f, "\\begin{tabular}{r");
    for (int c = 0; c < t->n_cols; c++) fprintf(f, has_paper(t, c) ? "rr" : "r");
    fprintf(f, "}\n\\hline\n$n$");
    for (int c = 0; c < t->n_cols; c++) {
        fprintf(f, " & ");
        tab_latex_escape(f, t->col_label[c]);
        fprintf(f, has_paper(t, c) ? " (ours) & paper" : " (ours)");
    }
    fprintf(f, " \\\\\n\\hline\n");
    for (int i = 0; i < t->n_count; i++) {
        char nl[16];
        n_label(t->n_vals[i], nl, sizeof nl, 1);
        fprintf(f, "%s", nl);
        for (int c = 0; c < t->n_cols; c++) {
            if (t->have[c][i]) fprintf(f, " & $%.2f \\pm %.2f$", t->total[c][i], t->se[c][i]);
            else fprintf(f, " & --");
            if (!has_paper(t, c)) continue;
            const ref_row *r = paper_value(t, t->n_vals[i], c);
            if (!r) fprintf(f, " & --");
            else fprintf(f, " & %s%s", r->paper, strcmp(r->status, "confirmed") == 0 ? "" : "*");
        }
        fprintf(f, " \\\\\n");
    }
    fprintf(f, "\\hline\n\\end{tabular}\n\\end{table}\n");
    return BFN_OK;
}

int bfn_report_table(bfn_db *db, const char *spec_path, const char *out_md, const char *profile) {
    if (bfn_report_is_comparison(spec_path)) return bfn_report_comparison(db, spec_path, out_md, profile);
    table *t = bfn_xcalloc(1, sizeof *t);
    int rc = parse_spec(t, spec_path);
    if (rc == BFN_OK) rc = load_ours(t, db, profile);
    if (rc == BFN_OK) {
        sort_n(t);
        rc = tab_write_atomic(out_md, write_markdown, t);
    }
    if (rc == BFN_OK) {
        char tex[1100];
        tab_tex_path(out_md, tex, sizeof tex);
        rc = tab_write_atomic(tex, write_latex, t);
    }
    free(t);
    return rc;
}
