/* plot.c: `bfn plot RUN...`, several runs' curves overlaid in one gnuplot
 * figure, the legend naming each run's experiment, profile and the settings
 * that differ between the runs.
 *
 * The data go to one TSV file per run in a private temporary directory, the
 * legend as each file's column header (gnuplot reads it as data, never as a
 * command); gnuplot runs from a constant command line with the script on its
 * standard input. The only user text in the script is the output path, which
 * is refused if it holds a quote, backslash or control character. */
#include "run/plot.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run/config.h"
#include "run/runs.h"
#include "store/evals_q.h"
#include "store/metrics_q.h"
#include "store/runs_q.h"
#include "util/err.h"

#define MAX_LABEL 400

typedef struct {
    const char *name;   /* --metric value */
    const char *xlabel;
    int logx;
} metric_kind;

static const metric_kind METRICS[] = {
    {"train.loss", "step", 0},
    {"val.loss", "step", 0},
    {"losscurve", "t", 0},
    {"nll", "n (steps of the discrete-time loss; rightmost: n = ∞)", 1},
};

/* Where the rows of one run go. */
typedef struct {
    FILE *f;
    int rows;
    long *max_n;
    char *unit;
    size_t unit_size;
} row_sink;

static int put_xy(void *ctx, double x, double y) {
    row_sink *k = ctx;
    fprintf(k->f, "%.17g\t%.17g\n", x, y);
    k->rows++;
    return BFN_OK;
}

static int put_step(void *ctx, long step, double value) { return put_xy(ctx, (double)step, value); }

static int put_nll(void *ctx, const bfn_q_eval *e) {
    row_sink *k = ctx;
    if (e->n > *k->max_n) *k->max_n = e->n;
    /* n = inf is written as -1 and placed right of every finite n by the script. */
    fprintf(k->f, "%d\t%.17g\t%.17g\n", e->n == 0 ? -1 : e->n, e->total, e->total_se);
    if (k->unit && e->unit) snprintf(k->unit, k->unit_size, "%s", e->unit);
    k->rows++;
    return BFN_OK;
}

/* The rows of one run for the metric, as "x<TAB>y" lines; returns the
 * number of rows (negative: a BFN_* code), and for nll the largest finite n
 * in *max_n. */
static int write_rows(bfn_db *db, const char *key, const char *metric, FILE *f, long *max_n, char *unit, size_t un) {
    row_sink k = {f, 0, max_n, unit, un};
    int rc;
    if (strcmp(metric, "train.loss") == 0 || strcmp(metric, "val.loss") == 0)
        rc = bfn_q_metric_series(db, key, metric, put_step, &k);
    else if (strcmp(metric, "losscurve") == 0)
        rc = bfn_q_linf_curve(db, key, put_xy, &k);
    else
        rc = bfn_q_test_nll_by_n(db, key, put_nll, &k);
    return rc == BFN_OK ? k.rows : rc;
}

/* Legend of run i: experiment, profile and the settings (in the run key, or
 * train.steps) whose values differ between the runs. */
static void make_labels(bfn_db *db, char keys[][17], int n, char labels[][MAX_LABEL]) {
    bfn_config *cfg[BFN_PLOT_MAX_RUNS] = {0};
    for (int i = 0; i < n; i++) {
        char *none[1] = {NULL};
        if (bfn_runs_load_config(db, keys[i], NULL, 0, none, &cfg[i]) != BFN_OK) cfg[i] = NULL;
        bfn_q_run_brief b;
        labels[i][0] = '\0';
        if (bfn_q_run_brief_of(db, keys[i], &b) == 1) snprintf(labels[i], MAX_LABEL, "%s %s", b.experiment, b.profile);
    }
    int shown = 0, more = 0;
    for (int k = 0; k < bfn_config_n_keys(); k++) {
        const char *key = bfn_config_key_name(k);
        int differs = 0;
        for (int i = 1; i < n; i++)
            if (cfg[0] && cfg[i] && strcmp(bfn_cfg_str(cfg[0], key), bfn_cfg_str(cfg[i], key)) != 0) differs = 1;
        if (!differs || !(bfn_config_in_run_key(cfg[0], key) || strcmp(key, "train.steps") == 0)) continue;
        if (shown == 4) {
            more++;
            continue;
        }
        shown++;
        for (int i = 0; i < n; i++) {
            size_t len = strlen(labels[i]);
            const char *v = cfg[i] ? bfn_cfg_str(cfg[i], key) : "?";
            snprintf(labels[i] + len, MAX_LABEL - len, " %s=%s", key, *v ? v : "(none)");
        }
    }
    for (int i = 0; i < n; i++) {
        size_t len = strlen(labels[i]);
        if (more) snprintf(labels[i] + len, MAX_LABEL - len, " (+%d more keys differ)", more);
        len = strlen(labels[i]);
        snprintf(labels[i] + len, MAX_LABEL - len, " [%.8s]", keys[i]);
        /* The label is a TSV header cell: no tabs or newlines. */
        for (char *p = labels[i]; *p; p++)
            if (*p == '\t' || *p == '\n' || *p == '\r') *p = ' ';
        bfn_config_free(cfg[i]);
    }
}

static int safe_path(const char *p) {
    for (const unsigned char *c = (const unsigned char *)p; *c; c++)
        if (*c < 0x20 || *c == '\'' || *c == '"' || *c == '\\' || *c == '`' || *c == '$') return 0;
    return *p != '\0';
}

static void remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[1200];
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

int bfn_plot_runs(bfn_db *db, char *const *specs, int n, const char *profile, const char *metric, const char *out,
                  FILE *legend) {
    const metric_kind *mk = NULL;
    for (size_t i = 0; i < sizeof METRICS / sizeof METRICS[0]; i++)
        if (strcmp(METRICS[i].name, metric) == 0) mk = &METRICS[i];
    if (!mk) return bfn_error(BFN_EINVAL, "plot: --metric '%s' is not train.loss, val.loss, losscurve or nll", metric);
    if (n < 1 || n > BFN_PLOT_MAX_RUNS)
        return bfn_error(BFN_EINVAL, "plot: give 1 to %d runs (got %d)", BFN_PLOT_MAX_RUNS, n);
    if (!safe_path(out))
        return bfn_error(BFN_EINVAL, "plot: output path '%s' may not contain quotes, backslashes, $, ` or control "
                         "characters", out);
    size_t ol = strlen(out);
    int svg = ol > 4 && strcmp(out + ol - 4, ".svg") == 0;
    if (!svg && !(ol > 4 && strcmp(out + ol - 4, ".png") == 0))
        return bfn_error(BFN_EINVAL, "plot: output '%s' must end in .png or .svg", out);
    char keys[BFN_PLOT_MAX_RUNS][17];
    for (int i = 0; i < n; i++) BFN_TRY(bfn_runs_resolve(db, specs[i], profile, keys[i]));
    static char labels[BFN_PLOT_MAX_RUNS][MAX_LABEL];
    make_labels(db, keys, n, labels);

    char dir[] = "/tmp/bfn-plot-XXXXXX";
    if (!mkdtemp(dir)) return bfn_error(BFN_EIO, "plot: cannot create a temporary directory");
    long max_n = 0;
    char unit[64] = "";
    int rc = BFN_OK, any = 0;
    for (int i = 0; i < n && rc == BFN_OK; i++) {
        char path[300];
        snprintf(path, sizeof path, "%s/%d.tsv", dir, i + 1);
        FILE *f = fopen(path, "w");
        if (!f) {
            rc = bfn_error(BFN_EIO, "plot: cannot write %s", path);
            break;
        }
        fprintf(f, "x\t%s\n", labels[i]);
        int rows = write_rows(db, keys[i], metric, f, &max_n, unit, sizeof unit);
        fclose(f);
        if (rows < 0) rc = rows;
        if (rows == 0 && legend) fprintf(legend, "plot: run %s has no %s rows\n", keys[i], metric);
        any += rows > 0;
        if (legend) fprintf(legend, "%d\t%s\n", i + 1, labels[i]);
    }
    if (rc == BFN_OK && !any) rc = bfn_error(BFN_EINVAL, "plot: none of the runs has %s rows yet", metric);
    if (rc == BFN_OK) {
        FILE *g = popen("gnuplot", "w"); /* constant command: no user text reaches the shell */
        if (!g) rc = bfn_error(BFN_EIO, "plot: cannot run gnuplot (install the Debian package gnuplot-nox)");
        else {
            double xinf = max_n > 0 ? 2.0 * max_n : 2.0;
            /* One legend line per run below the plot: the canvas grows with the runs. */
            fprintf(g, "set terminal %s size 1000,%d %s\n", svg ? "svg" : "pngcairo", 480 + 22 * n,
                    svg ? "dynamic enhanced" : "noenhanced");
            fprintf(g, "set output '%s'\nset datafile separator '\\t'\n", out);
            fprintf(g, "set key outside bottom center vertical maxcols 1 Left reverse noenhanced font ',9'\n");
            fprintf(g, "set grid\nset xlabel '%s'\n", mk->xlabel);
            if (strcmp(metric, "nll") == 0) {
                fprintf(g, "set logscale x\nset ylabel 'test NLL (%s)'\nset xtics add ('∞' %g)\n", unit, xinf);
                fprintf(g, "set xrange [*:%g]\n", xinf * 1.5);
                fprintf(g, "plot for [i=1:%d] '%s/'.i.'.tsv' using ($1 < 0 ? %g : $1):2:3 with yerrorlines "
                           "title columnhead(2)\n", n, dir, xinf);
            } else {
                fprintf(g, "set ylabel '%s'\n", strcmp(metric, "losscurve") == 0 ? "test L^∞(t)" : metric);
                if (strcmp(metric, "losscurve") != 0) fprintf(g, "set logscale y\n");
                fprintf(g, "plot for [i=1:%d] '%s/'.i.'.tsv' using 1:2 with lines lw 2 title columnhead(2)\n", n,
                        dir);
            }
            int st = pclose(g);
            if (st != 0) rc = bfn_error(BFN_EIO, "plot: gnuplot failed (exit status %d) writing %s", st, out);
        }
    }
    remove_dir(dir);
    return rc;
}
