/* compare.c: comparison tables (our n = inf result among published models). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/report.h"
#include "analysis/tabio.h"
#include "store/evals_q.h"
#include "util/err.h"

#define MAX_FIELDS 12
#define MAX_MODELS 48
#define MAX_OURS 8

typedef struct {
    char cell[MAX_FIELDS][96]; /* as in the header's columns */
} model_row;

typedef struct {
    char title[256], command[256], notes[4][512];
    int n_notes;
    char header[MAX_FIELDS][64];
    int n_header, status_col, source_col;
    char value_id[MAX_FIELDS][64], value_label[MAX_FIELDS][96];
    int n_values;
    model_row models[MAX_MODELS];
    int n_models;
    /* ours: label -> value per value column */
    char ours_col[MAX_OURS][64], ours_exp[MAX_OURS][64], ours_label[MAX_OURS][128];
    int n_ours;
    double ours_val[MAX_OURS], ours_se[MAX_OURS];
    char ours_detail[MAX_OURS][256];
} cmp_table;

int bfn_report_is_comparison(const char *spec_path) {
    FILE *f = fopen(spec_path, "r");
    if (!f) return 0;
    char line[1024];
    int yes = 0;
    while (!yes && fgets(line, sizeof line, f)) yes = strncmp(line, "#!\tkind\tcomparison", 18) == 0;
    fclose(f);
    return yes;
}

static int header_index(const cmp_table *t, const char *name) {
    for (int i = 0; i < t->n_header; i++)
        if (strcmp(t->header[i], name) == 0) return i;
    return -1;
}

/* Display title of header column i: the value label for value columns. */
static const char *column_title(const cmp_table *t, int i) {
    for (int k = 0; k < t->n_values; k++)
        if (!strcmp(t->value_id[k], t->header[i])) return t->value_label[k];
    return t->header[i];
}

static int parse(cmp_table *t, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return bfn_error(BFN_EIO, "%s: cannot open table spec", path);
    char line[2048], where[600];
    int lineno = 0, rc = BFN_OK;
    while (rc == BFN_OK && fgets(line, sizeof line, f)) {
        lineno++;
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        char *fld[MAX_FIELDS];
        if (strncmp(line, "#!", 2) == 0) {
            int nf = tab_split(line, fld, MAX_FIELDS);
            if (nf < 3) rc = bfn_error(BFN_EINVAL, "%s: directive needs a value", where);
            else if (!strcmp(fld[1], "title")) snprintf(t->title, sizeof t->title, "%s", fld[2]);
            else if (!strcmp(fld[1], "command")) snprintf(t->command, sizeof t->command, "%s", fld[2]);
            else if (!strcmp(fld[1], "note") && t->n_notes < 4) snprintf(t->notes[t->n_notes++], 512, "%s", fld[2]);
            else if (!strcmp(fld[1], "kind")) continue;
            else if (!strcmp(fld[1], "value") && nf >= 4 && t->n_values < MAX_FIELDS) {
                snprintf(t->value_id[t->n_values], 64, "%s", fld[2]);
                snprintf(t->value_label[t->n_values++], 96, "%s", fld[3]);
            } else if (!strcmp(fld[1], "ours") && nf >= 5 && t->n_ours < MAX_OURS) {
                snprintf(t->ours_col[t->n_ours], 64, "%s", fld[2]);
                snprintf(t->ours_exp[t->n_ours], 64, "%s", fld[3]);
                snprintf(t->ours_label[t->n_ours++], 128, "%s", fld[4]);
            } else rc = bfn_error(BFN_EINVAL, "%s: unknown or incomplete directive '%s'", where, fld[1]);
            continue;
        }
        if (line[0] == '#' || line[0] == '\n') continue;
        int nf = tab_split(line, fld, MAX_FIELDS);
        if (t->n_header == 0) {
            for (int i = 0; i < nf; i++) snprintf(t->header[i], 64, "%s", fld[i]);
            t->n_header = nf;
            t->status_col = header_index(t, "status");
            t->source_col = header_index(t, "source");
            if (t->status_col < 0 || t->source_col < 0 || strcmp(t->header[0], "model") != 0)
                rc = bfn_error(BFN_EINVAL, "%s: header needs model, ..., status, source", where);
            continue;
        }
        if (nf != t->n_header || t->n_models == MAX_MODELS) {
            rc = bfn_error(BFN_EINVAL, "%s: expected %d tab-separated fields, found %d", where, t->n_header, nf);
            break;
        }
        for (int i = 0; i < nf; i++) snprintf(t->models[t->n_models].cell[i], 96, "%s", fld[i]);
        t->n_models++;
    }
    fclose(f);
    for (int i = 0; rc == BFN_OK && i < t->n_values; i++)
        if (header_index(t, t->value_id[i]) < 0)
            rc = bfn_error(BFN_EINVAL, "%s: value column '%s' is not in the header", path, t->value_id[i]);
    for (int i = 0; rc == BFN_OK && i < t->n_ours; i++)
        if (header_index(t, t->ours_col[i]) < 0)
            rc = bfn_error(BFN_EINVAL, "%s: ours column '%s' is not in the header", path, t->ours_col[i]);
    return rc;
}

static int load(cmp_table *t, bfn_db *db, const char *profile) {
    char missing[512] = "";
    for (int i = 0; i < t->n_ours; i++) {
        tab_run run;
        int found = tab_find_run(db, t->ours_exp[i], profile, &run);
        if (found < 0) return found;
        bfn_q_eval e;
        char unit[64];
        if (found) {
            found = bfn_q_test_eval_inf(db, run.key, &e, unit, sizeof unit);
            if (found < 0) return found;
        }
        if (found) {
            t->ours_val[i] = e.total;
            t->ours_se[i] = e.total_se;
            snprintf(t->ours_detail[i], sizeof t->ours_detail[i],
                     "experiment `%s`, dataset `%s`, profile `%s`, run `%s`, step %lld, %d repeats, %s", t->ours_exp[i],
                     run.dataset, run.profile, run.key, (long long)e.ckpt_step, e.repeats, e.unit);
        }
        if (!found) {
            size_t len = strlen(missing);
            snprintf(missing + len, sizeof missing - len, "%s%s", len ? ", " : "", t->ours_exp[i]);
        }
    }
    if (missing[0])
        return bfn_error(BFN_EINVAL, "no finished run with an n = inf evaluation of %s%s%s; run `%s` first", missing,
                         profile ? " with profile " : "", profile ? profile : "",
                         t->command[0] ? t->command : "bfn run experiments/<name>.ini");
    return BFN_OK;
}

/* Distinct labels of our rows, in first-appearance order. */
static int our_labels(const cmp_table *t, int *first) {
    int n = 0;
    for (int i = 0; i < t->n_ours; i++) {
        int seen = 0;
        for (int k = 0; k < n; k++) seen |= strcmp(t->ours_label[first[k]], t->ours_label[i]) == 0;
        if (!seen) first[n++] = i;
    }
    return n;
}

static const char *ours_cell(const cmp_table *t, const char *label, const char *col, char *buf, size_t n, int tex) {
    for (int i = 0; i < t->n_ours; i++)
        if (!strcmp(t->ours_label[i], label) && !strcmp(t->ours_col[i], col)) {
            snprintf(buf, n, tex ? "$%.2f \\pm %.2f$" : "**%.2f ± %.2f**", t->ours_val[i], t->ours_se[i]);
            return buf;
        }
    return tex ? "--" : "–";
}

static int write_md(const void *ctx, FILE *f) {
    const cmp_table *t = ctx;
    fprintf(f, "# %s\n\n", t->title);
    fprintf(f, "Generated by `bfn table` from the results database alone (regenerate with `%s`).\n\n",
            t->command[0] ? t->command : "bfn table");
    fprintf(f, "|");
    for (int i = 0; i < t->n_header; i++) fprintf(f, " %s |", column_title(t, i));
    fprintf(f, "\n|");
    for (int i = 0; i < t->n_header; i++) fprintf(f, "%s|", i == 0 ? ":---" : "---");
    fprintf(f, "\n");
    int first[MAX_OURS], n_labels = our_labels(t, first);
    char buf[96];
    for (int r = 0; r < n_labels; r++) {
        const char *label = t->ours_label[first[r]];
        fprintf(f, "| **%s** |", label);
        for (int i = 1; i < t->n_header; i++) {
            if (i == t->status_col) fprintf(f, " measured |");
            else if (i == t->source_col) fprintf(f, " this harness |");
            else fprintf(f, " %s |", header_index(t, t->header[i]) >= 0 ? ours_cell(t, label, t->header[i], buf,
                                                                                    sizeof buf, 0) : "–");
        }
        fprintf(f, "\n");
    }
    for (int m = 0; m < t->n_models; m++) {
        const model_row *row = &t->models[m];
        int confirmed = strcmp(row->cell[t->status_col], "confirmed") == 0;
        fprintf(f, "|");
        for (int i = 0; i < t->n_header; i++) {
            int is_value = 0;
            for (int k = 0; k < t->n_values; k++) is_value |= !strcmp(t->value_id[k], t->header[i]);
            const char *c = row->cell[i];
            if (is_value && strcmp(c, "–") && strcmp(c, "-")) fprintf(f, confirmed ? " **%s** |" : " %s* |", c);
            else fprintf(f, " %s |", c);
        }
        fprintf(f, "\n");
    }
    fprintf(f, "\nPublished values in **bold** are confirmed by public sources; values marked * are **unconfirmed** "
               "(see paper/NOTES.md) and shown for orientation only. Our rows: test NLL at n = ∞ (continuous-time "
               "loss + reconstruction), mean ± standard error.\n\n");
    for (int r = 0; r < n_labels; r++)
        for (int i = 0; i < t->n_ours; i++)
            if (!strcmp(t->ours_label[i], t->ours_label[first[r]]))
                fprintf(f, "- %s, %s: %s.\n", t->ours_label[i], t->ours_col[i], t->ours_detail[i]);
    for (int i = 0; i < t->n_notes; i++) fprintf(f, "\n%s\n", t->notes[i]);
    return BFN_OK;
}

static int write_tex(const void *ctx, FILE *f) {
    const cmp_table *t = ctx;
    fprintf(f, "%% Generated by bfn table from the results database; do not edit.\n\\begin{table}[t]\n\\centering\n");
    fprintf(f, "\\caption{");
    tab_latex_escape(f, t->title);
    fprintf(f, " Values marked * are unconfirmed.}\n\\begin{tabular}{l");
    for (int i = 1; i < t->n_header; i++) fprintf(f, "%s", i == t->status_col || i == t->source_col ? "" : "r");
    fprintf(f, "}\n\\hline\n");
    for (int i = 0; i < t->n_header; i++) {
        if (i == t->status_col || i == t->source_col) continue;
        if (i) fprintf(f, " & ");
        tab_latex_escape(f, column_title(t, i));
    }
    fprintf(f, " \\\\\n\\hline\n");
    int first[MAX_OURS], n_labels = our_labels(t, first);
    char buf[96];
    for (int r = 0; r < n_labels; r++) {
        tab_latex_escape(f, t->ours_label[first[r]]);
        for (int i = 1; i < t->n_header; i++)
            if (i != t->status_col && i != t->source_col)
                fprintf(f, " & %s", ours_cell(t, t->ours_label[first[r]], t->header[i], buf, sizeof buf, 1));
        fprintf(f, " \\\\\n");
    }
    for (int m = 0; m < t->n_models; m++) {
        const model_row *row = &t->models[m];
        int confirmed = strcmp(row->cell[t->status_col], "confirmed") == 0;
        tab_latex_escape(f, row->cell[0]);
        for (int i = 1; i < t->n_header; i++) {
            if (i == t->status_col || i == t->source_col) continue;
            fprintf(f, " & ");
            tab_latex_escape(f, strcmp(row->cell[i], "–") ? row->cell[i] : "--");
            int is_value = 0;
            for (int k = 0; k < t->n_values; k++) is_value |= !strcmp(t->value_id[k], t->header[i]);
            if (is_value && !confirmed && strcmp(row->cell[i], "–")) fprintf(f, "*");
        }
        fprintf(f, " \\\\\n");
    }
    fprintf(f, "\\hline\n\\end{tabular}\n\\end{table}\n");
    return BFN_OK;
}

int bfn_report_comparison(bfn_db *db, const char *spec_path, const char *out_md, const char *profile) {
    cmp_table *t = bfn_xcalloc(1, sizeof *t);
    int rc = parse(t, spec_path);
    if (rc == BFN_OK) rc = load(t, db, profile);
    if (rc == BFN_OK) rc = tab_write_atomic(out_md, write_md, t);
    if (rc == BFN_OK) {
        char tex[1100];
        tab_tex_path(out_md, tex, sizeof tex);
        rc = tab_write_atomic(tex, write_tex, t);
    }
    free(t);
    return rc;
}
