/* train.c: the training loop with validation, checkpoints and resume.
 *
 * Determinism: all randomness comes from two streams, both checkpointed:
 * "noise" (times, flow noise, binarisation, Monte Carlo samples) and the data
 * order, which is a permutation per epoch seeded by (train.seed, epoch) and
 * therefore restored from (epoch, position) alone. Validation draws from a
 * fresh stream seeded by the step, so it never perturbs training. Metrics
 * are flushed to the database before each checkpoint is written, and on
 * resume rows after the checkpoint's step are deleted, so a killed and
 * resumed run logs exactly what an uninterrupted run logs. */
#include "run/train.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gsl/gsl_version.h>
#include <hdf5.h>
#include <omp.h>

#include "nn/optim.h"
#include "run/extend.h"
#include "run/runs.h"
#include "run/setup.h"
#include "run/step.h"
#include "store/ckpt.h"
#include "store/runs_q.h"
#include "util/err.h"
#include "util/owner.h"
#include "util/stop.h"

static double now_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* Run a shell command and keep the first line of its output. */
static void first_line_of(const char *cmd, char *out, size_t n) {
    out[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (!p) return;
    if (fgets(out, (int)n, p)) out[strcspn(out, "\n")] = '\0';
    pclose(p);
}

void bfn_provenance(const char **git_commit, int *git_dirty, const char **libs, const char **host) {
    static char commit[64], lib[256], hostname[128];
    static int dirty;
    first_line_of("git rev-parse HEAD 2>/dev/null", commit, sizeof commit);
    if (!commit[0]) snprintf(commit, sizeof commit, "unknown");
    char status[8];
    first_line_of("git status --porcelain --untracked-files=no 2>/dev/null | head -1", status, sizeof status);
    dirty = status[0] != '\0';
    unsigned maj, min, rel;
    H5get_libversion(&maj, &min, &rel);
    snprintf(lib, sizeof lib, "gsl %s; hdf5 %u.%u.%u; sqlite %s; openblas (openmp); omp threads %d", GSL_VERSION,
             maj, min, rel, bfn_db_sqlite_version(), omp_get_max_threads());
    if (gethostname(hostname, sizeof hostname) != 0) snprintf(hostname, sizeof hostname, "unknown");
    *git_commit = commit;
    *git_dirty = dirty;
    *libs = lib;
    *host = hostname;
}

static int mkdir_p(const char *path) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return bfn_error(BFN_EIO, "%s: cannot create", buf);
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return bfn_error(BFN_EIO, "%s: cannot create", buf);
    return BFN_OK;
}

/* Data order: permutation of the training examples for one epoch. */
static void epoch_order(long *perm, long n, unsigned long seed, long epoch) {
    bfn_shuffle_indices(perm, n, seed * 1000003UL + (unsigned long)epoch + 17UL);
}

typedef struct {
    bfn_setup s;
    bfn_work w;
    bfn_db *db;
    bfn_adamw_cfg adam;
    gsl_rng *noise, *text_order;
    long *perm;
    long epoch, pos, step;
    double best_val;
    long best_step;
    /* the metric row being accumulated: checkpointed, so a row that
     * straddles a stop and resume averages the same steps */
    double loss_acc, norm_acc;
    long acc_n;
    char *config_text;
    const char *commit;
    char extend_from[17]; /* run whose checkpoint seeds this one (--extend), or "" */
} trainer;

/* Mean L^inf of the EMA weights over the validation split (official
 * validation: continuous-time loss, no reconstruction term). */
static double validate(trainer *tr) {
    bfn_setup *s = &tr->s;
    if (s->data.n[BFN_SPLIT_VAL] == 0) return NAN;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    /* Same validation noise at every step: differences between validation
     * points reflect the weights, not the noise (common random numbers). */
    gsl_rng_set(r, s->spec.train.seed + 99991UL);
    int reps = (int)s->spec.train.val_repeats;
    double sum = 0;
    for (int rep = 0; rep < reps; rep++)
        sum += bfn_split_pass(s, s->ema, &tr->w, BFN_SPLIT_VAL, BFN_LOSS_CTS, 0, 0, r, NULL);
    gsl_rng_free(r);
    return sum / reps;
}

static bfn_ckpt ckpt_view(trainer *tr) {
    bfn_setup *s = &tr->s;
    bfn_ckpt c = {
        .run_key = s->key, .git_commit = tr->commit, .config = tr->config_text,
        .step = tr->step, .best_val = tr->best_val, .best_step = tr->best_step,
        .data_epoch = tr->epoch, .data_pos = tr->pos,
        .data_seed = s->spec.train.seed,
        .log_loss_sum = tr->loss_acc, .log_grad_norm_sum = tr->norm_acc, .log_count = tr->acc_n,
        .layout = &s->model->layout, .params = s->params, .ema = s->ema,
        .adam_m = s->adam_m, .adam_v = s->adam_v, .adam = tr->adam,
        .n_rng = 2, .rng_name = {"noise", "text_order"}, .rng = {tr->noise, tr->text_order},
    };
    return c;
}

/* Flush metrics, then write checkpoint `kind` and record it. Metrics first:
 * a crash between the two leaves rows after the old checkpoint, which resume
 * deletes; the other order could lose rows. */
static int save_checkpoint(trainer *tr, const char *kind) {
    BFN_TRY(bfn_db_flush(tr->db));
    char path[1024], sha[65];
    bfn_ckpt_path(tr->s.key, kind, path, sizeof path);
    bfn_ckpt c = ckpt_view(tr);
    BFN_TRY(bfn_ckpt_save(path, &c));
    BFN_TRY(bfn_file_sha256(path, sha));
    BFN_TRY(bfn_db_checkpoint(tr->db, tr->s.key, tr->step, path, sha, kind));
    return bfn_db_run_heartbeat(tr->db, tr->s.key);
}

static void progress(const trainer *tr, long steps, double loss, double rate, int tty) {
    double eta = rate > 0 ? (steps - tr->step) / rate : 0;
    if (tty)
        fprintf(stderr, "\r[%s] step %ld/%ld  loss %.4f  %.1f steps/s  ETA %02d:%02d   ", tr->s.key, tr->step,
                steps, loss, rate, (int)(eta / 60), (int)eta % 60);
    else
        fprintf(stderr, "[%s] step %ld/%ld loss %.5f %.2f steps/s ETA %.0fs\n", tr->s.key, tr->step, steps, loss,
                rate, eta);
}

static int train_loop(trainer *tr, const bfn_train_opts *opts) {
    bfn_setup *s = &tr->s;
    const bfn_train_spec *ts = &s->spec.train;
    const long steps = ts->steps;
    const int B = (int)ts->batch;
    const int nstep = ts->loss == BFN_LOSS_NSTEP;
    const int n = (int)ts->loss_steps;
    const long log_every = ts->log_every, ckpt_every = ts->ckpt_every;
    const long keep_every = ts->keep_every, val_every = ts->val_every;
    const double clip = ts->clip;
    const long n_train = s->data.n[BFN_SPLIT_TRAIN];
    /* Fault injection for the tests (as SQLite does): die by SIGKILL after a
     * step, or make a step's loss NaN. */
    const char *die_at = getenv("BFN_DIE_AT_STEP");
    const char *nan_at = getenv("BFN_FAULT_NAN_AT_STEP");
    /* ... or deliver a stop signal to ourselves after a step ("23:TERM",
     * "23:USR1", "23:INT"), as Slurm or a user would, at an exact step. */
    const char *sig_at = getenv("BFN_FAULT_SIGNAL_AT_STEP");
    long sig_step = sig_at ? atol(sig_at) : -1;
    int sig_num = !sig_at || !strchr(sig_at, ':') ? SIGTERM
                  : strcmp(strchr(sig_at, ':') + 1, "USR1") == 0 ? SIGUSR1
                  : strcmp(strchr(sig_at, ':') + 1, "INT") == 0  ? SIGINT
                                                                  : SIGTERM;
    const int tty = isatty(2) && !opts->quiet;
    double t0 = now_sec();
    long step0 = tr->step;
    if (!s->data.is_text) epoch_order(tr->perm, n_train, ts->seed, tr->epoch);

    while (tr->step < steps) {
        /* Batch: next B examples of this epoch's order; text: random windows. */
        for (int b = 0; b < B; b++) {
            if (s->data.is_text) {
                tr->w.idx[b] = (long)gsl_rng_uniform_int(tr->text_order, (unsigned long)n_train);
                continue;
            }
            if (tr->pos == n_train) {
                tr->epoch++;
                tr->pos = 0;
                epoch_order(tr->perm, n_train, ts->seed, tr->epoch);
            }
            tr->w.idx[b] = tr->perm[tr->pos++];
        }
        bfn_dataset_batch(&s->data, BFN_SPLIT_TRAIN, tr->w.idx, B, tr->noise, tr->w.x);
        /* Dropout on for this forward/backward pair only, its masks a pure
         * function of (seed, step) so a resumed run draws the same ones. */
        s->model->train = 1;
        s->model->noise_seed = (unsigned long long)ts->seed * 0x9e3779b97f4a7c15ULL +
                               (unsigned long long)tr->step;
        double loss = bfn_batch_loss(s, s->params, &tr->w, B, nstep ? BFN_LOSS_NSTEP : BFN_LOSS_CTS, n, 0,
                                     tr->noise, 1) / B;
        tr->step++;
        if (nan_at && tr->step == atol(nan_at)) loss = NAN;
        if (!isfinite(loss)) {
            bfn_db_metric(tr->db, s->key, "train.loss", tr->step, loss);
            bfn_db_flush(tr->db);
            bfn_db_run_set_status(tr->db, s->key, "diverged", "non-finite training loss");
            return bfn_error(BFN_EDIVERGED, "run %s diverged at step %ld (loss %g); last good checkpoint kept",
                             s->key, tr->step, loss);
        }
        memset(s->grads, 0, s->n_params * sizeof(float));
        s->model->ops->backward(s->model, s->params, B, tr->w.dout, s->grads);
        s->model->train = 0;
        /* the clipping factor is applied inside the AdamW pass (the same
         * floats as scaling grads first, one pass fewer) */
        double norm = bfn_grad_norm(s->grads, s->n_params);
        bfn_adamw_step_scaled(&tr->adam, &s->model->layout, s->params, s->grads, bfn_clip_scale(norm, clip),
                              s->adam_m, s->adam_v, s->ema, tr->step);
        tr->loss_acc += loss;
        tr->norm_acc += norm;
        tr->acc_n++;

        if (tr->step % log_every == 0 || tr->step == steps) {
            BFN_TRY(bfn_db_metric(tr->db, s->key, "train.loss", tr->step, tr->loss_acc / tr->acc_n));
            BFN_TRY(bfn_db_metric(tr->db, s->key, "train.grad_norm", tr->step, tr->norm_acc / tr->acc_n));
            if (!opts->quiet) {
                double rate = (tr->step - step0) / (now_sec() - t0 + 1e-9);
                progress(tr, steps, tr->loss_acc / tr->acc_n, rate, tty);
            }
            tr->loss_acc = tr->norm_acc = 0;
            tr->acc_n = 0;
        }
        if (tr->step % val_every == 0 || tr->step == steps) {
            double v = validate(tr);
            BFN_TRY(bfn_db_metric(tr->db, s->key, "val.loss", tr->step, v));
            if (isfinite(v) && (tr->best_step == 0 || v < tr->best_val)) {
                tr->best_val = v;
                tr->best_step = tr->step;
                BFN_TRY(save_checkpoint(tr, "best"));
            }
        }
        if (die_at && tr->step == atol(die_at)) raise(SIGKILL);
        if (tr->step == sig_step) raise(sig_num);
        const int stop = bfn_stop_requested();
        if (tr->step % ckpt_every == 0 || tr->step == steps || stop) {
            BFN_TRY(save_checkpoint(tr, "last"));
            if (keep_every > 0 && tr->step % keep_every == 0) {
                char kind[32];
                snprintf(kind, sizeof kind, "step-%08ld", tr->step);
                BFN_TRY(save_checkpoint(tr, kind));
            }
        }
        if (stop) {
            if (tty) fputc('\n', stderr);
            bfn_db_run_set_status(tr->db, s->key, "interrupted", "stopped by signal; resume by running again");
            return bfn_error(BFN_EINTR, "run %s stopped by signal %d at step %ld; checkpoint written", s->key,
                             stop, tr->step);
        }
    }
    if (tty) fputc('\n', stderr);
    return BFN_OK;
}

/* One owner per run: an exclusive advisory lock (flock) on the run's
 * directory, held until the process exits or bfn_train returns. If another
 * process holds it, name that process (from the database) and fail with
 * BFN_EBUSY, or, with opts->wait, block until it is released (a stop
 * signal ends the wait). */
static int lock_run_dir(const char *dir, const char *key, bfn_db *db, const bfn_train_opts *opts, int *fd_out) {
    *fd_out = -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return bfn_error(BFN_EIO, "%s: cannot open run directory: %s", dir, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
        *fd_out = fd;
        return BFN_OK;
    }
    int e = errno;
    if (e != EWOULDBLOCK) {
        close(fd);
        return bfn_error(BFN_EIO, "%s: cannot lock run directory: %s", dir, strerror(e));
    }
    bfn_owner holder;
    char who[300] = "another process";
    if (bfn_db_run_owner(db, key, &holder) == BFN_OK && holder.pid > 0)
        snprintf(who, sizeof who, "pid %ld on %s", holder.pid, holder.host);
    if (!opts->wait) {
        close(fd);
        return bfn_error(BFN_EBUSY, "run %s is being trained by %s (lock on %s); wait for it, or pass --wait", key,
                         who, dir);
    }
    if (!opts->quiet) fprintf(stderr, "[%s] waiting for %s, which holds the run\n", key, who);
    bfn_stop_install(); /* no SA_RESTART: a stop signal interrupts flock */
    while (flock(fd, LOCK_EX) != 0) {
        if (errno == EINTR && !bfn_stop_requested()) continue;
        e = errno;
        close(fd);
        if (e == EINTR) return bfn_error(BFN_EINTR, "run %s: stopped by signal while waiting for %s", key, who);
        return bfn_error(BFN_EIO, "%s: cannot lock run directory: %s", dir, strerror(e));
    }
    *fd_out = fd;
    return BFN_OK;
}

/* A run whose database records a 'last' checkpoint that is gone from disk
 * would silently start again from step 0: refuse unless --force. */
static int check_checkpoint_present(trainer *tr, int force) {
    long step;
    char recorded[1024], path[1024];
    BFN_TRY(bfn_db_checkpoint_latest(tr->db, tr->s.key, "last", &step, recorded, sizeof recorded));
    bfn_ckpt_path(tr->s.key, "last", path, sizeof path);
    if (step < 0 || access(path, F_OK) == 0 || force) return BFN_OK;
    return bfn_error(BFN_EIO, "%s: checkpoint of run %s at step %ld is recorded in the database but missing; "
                     "refusing to restart from step 0 (restore the file, or pass --force to start over)", path,
                     tr->s.key, step);
}

/* Restore from the last checkpoint if there is one. Returns 1 if resumed. */
static int try_resume(trainer *tr, int *resumed) {
    char path[1024];
    *resumed = 0;
    bfn_ckpt_path(tr->s.key, "last", path, sizeof path);
    if (access(path, F_OK) != 0) return BFN_OK;
    char prov[32];
    BFN_TRY(bfn_ckpt_root_attr(path, "provenance", prov, sizeof prov));
    if (strcmp(prov, "imported") == 0)
        return bfn_error(BFN_EINVAL, "%s: run %s holds weights imported from a PyTorch checkpoint (bfn import-torch); "
                         "its optimiser state is absent, so it cannot be resumed or trained further", path, tr->s.key);
    bfn_ckpt c = ckpt_view(tr);
    /* A run seeded by --extend starts from the shorter run's checkpoint. */
    if (tr->extend_from[0]) c.run_key = tr->extend_from;
    char *stored = NULL;
    int rc = bfn_ckpt_load(path, &c, &stored);
    if (rc != BFN_OK) return bfn_error_prefix(rc, "cannot resume (delete the run directory to start over)");
    /* The checkpoint must belong to this run: same run key from its config
     * (evaluation settings may differ; they do not change training). */
    bfn_config *stored_cfg = NULL;
    char stored_key[17] = "", want[17];
    if (stored && bfn_config_from_text(&stored_cfg, stored, path) == BFN_OK) {
        bfn_config_settings_key(stored_cfg, stored_key);
        bfn_config_free(stored_cfg);
    }
    free(stored);
    bfn_config_settings_key(tr->s.cfg, want);
    if (strcmp(stored_key, want) != 0 && strcmp(stored_key, tr->extend_from) != 0)
        return bfn_error(BFN_ECORRUPT, "%s: checkpoint belongs to another run (key '%s', expected %s)", path,
                         stored_key, tr->s.key);
    tr->step = c.step;
    tr->best_val = c.best_val;
    tr->best_step = c.best_step;
    tr->epoch = c.data_epoch;
    tr->pos = c.data_pos;
    tr->loss_acc = c.log_loss_sum;
    tr->norm_acc = c.log_grad_norm_sum;
    tr->acc_n = c.log_count;
    BFN_TRY(bfn_db_metrics_truncate(tr->db, tr->s.key, tr->step));
    *resumed = 1;
    return BFN_OK;
}

/* Record that experiment `name` uses run `key` when the run was first
 * registered under another experiment name (experiment.name is not part of
 * the run key), so @name and the tables find it. */
static int record_alias(bfn_db *db, const char *key, const char *name) {
    int known = 1;
    BFN_TRY(bfn_q_run_has_name(db, key, name, &known));
    return known ? BFN_OK : bfn_db_run_history(db, key, "alias", name);
}

int bfn_train(bfn_config *cfg, bfn_db *db, const bfn_train_opts *opts) {
    trainer tr;
    memset(&tr, 0, sizeof tr);
    tr.db = db;
    bfn_spec spec;
    bfn_spec_resolve(&spec, cfg);
    int B = (int)spec.train.batch;
    BFN_TRY(bfn_setup_open(&tr.s, cfg, B));
    if (tr.s.data.n[BFN_SPLIT_TRAIN] == 0) {
        bfn_setup_close(&tr.s);
        return bfn_error(BFN_EINVAL, "%s: no training examples: data.val_count + data.test_count take the whole "
                         "dataset (an evaluation-only experiment; import weights with bfn import-torch)",
                         bfn_config_path(cfg));
    }
    bfn_setup *s = &tr.s;
    int rc, lock_fd = -1; /* the run directory's lock, held while training */
    tr.config_text = bfn_config_text(cfg);
    char *config_json = bfn_config_json(cfg);
    const char *libs, *host;
    int dirty;
    bfn_provenance(&tr.commit, &dirty, &libs, &host);
    bfn_run_info info = {
        .key = s->key, .experiment = spec.experiment.name, .profile = bfn_config_profile(cfg),
        .config = tr.config_text, .seed = (long)spec.train.seed, .git_commit = tr.commit,
        .git_dirty = dirty, .lib_versions = libs, .host = host, .threads = s->threads,
        .config_json = config_json,
    };
    /* --extend is checked before the run is registered, so a refused one leaves no row. */
    const long want = spec.train.steps;
    char last[1024], from[17] = "";
    long from_steps = -1;
    bfn_ckpt_path(s->key, "last", last, sizeof last);
    int fresh = access(last, F_OK) != 0;
    int shorter = fresh ? bfn_extend_find(db, cfg, from, &from_steps) : 0;
    if (shorter < 0) { rc = shorter; goto done; }
    if (opts->extend && fresh && !shorter) {
        rc = bfn_error(BFN_EINVAL, "--extend: no finished run with these settings and fewer than %ld steps "
                       "(see bfn runs)", want);
        goto done;
    }
    if (opts->extend && shorter && bfn_config_depends_on_steps(cfg)) {
        rc = bfn_error(BFN_EINVAL, "--extend: a setting depends on train.steps, so run %s cannot be continued", from);
        goto done;
    }
    char pre[32] = "";
    if ((rc = bfn_db_run_status(db, s->key, pre, sizeof pre)) != BFN_OK) goto done;
    if (strcmp(pre, "finished") == 0) shorter = 0; /* skipped below, nothing to extend */
    if (shorter && !opts->extend && !opts->quiet)
        fprintf(stderr, "[%s] note: run %s has the first %ld steps of this run; --extend continues it instead "
                "of training from step 0\n", s->key, from, from_steps);
    char status[32], dir[1024];
    rc = bfn_db_run_register(db, &info, status, sizeof status);
    if (rc != BFN_OK) goto done;
    if ((rc = record_alias(db, s->key, spec.experiment.name)) != BFN_OK) goto done;
    if (strcmp(status, "finished") == 0 && !opts->force) {
        if (!opts->quiet) fprintf(stderr, "[%s] already finished; skipping training\n", s->key);
        goto done;
    }
    /* The stored config is the one the run now trains with (the cadence keys
     * may differ from the first invocation's). */
    if ((rc = bfn_db_run_update_config(db, s->key, tr.config_text, config_json)) != BFN_OK) goto done;
    if ((rc = bfn_runs_config_view(db)) != BFN_OK) goto done;
    bfn_run_dir(s->key, dir, sizeof dir);
    if ((rc = mkdir_p(dir)) != BFN_OK) goto done;
    /* One owner: the directory lock (same machine, and any shared file
     * system with working flock), then the claim in the database (any
     * process using this database); a run whose owner is gone is taken over. */
    if ((rc = lock_run_dir(dir, s->key, db, opts, &lock_fd)) != BFN_OK) goto done;
    bfn_owner self, holder;
    bfn_owner_self(&self);
    rc = bfn_db_run_claim(db, s->key, &self, &holder, status, sizeof status, opts->force);
    if (rc == BFN_EBUSY)
        bfn_error(rc, "run %s is being trained by pid %ld on %s (recorded in %s); wait for it, or if that process "
                  "is gone, pass --force to take the run over", s->key, holder.pid, holder.host, bfn_db_path());
    if (rc == BFN_EBUSY && opts->force) rc = bfn_db_run_claim(db, s->key, &self, &holder, status, sizeof status, 1);
    if (rc != BFN_OK) goto done;
    if (strcmp(status, "finished") == 0 && !opts->force) { /* finished while we waited */
        if (!opts->quiet) fprintf(stderr, "[%s] already finished; skipping training\n", s->key);
        goto done;
    }
    /* Owning the run now: an extension copies the shorter run's checkpoint and rows into it. */
    if (opts->extend && shorter) {
        if ((rc = bfn_extend_seed(db, s->key, from, from_steps, want)) != BFN_OK) goto done;
        snprintf(tr.extend_from, sizeof tr.extend_from, "%s", from);
        if (!opts->quiet)
            fprintf(stderr, "[%s] extending run %s: train.steps %ld -> %ld\n", s->key, from, from_steps, want);
    }
    tr.adam = bfn_spec_adamw(&spec.train);
    tr.noise = gsl_rng_alloc(gsl_rng_mt19937);
    tr.text_order = gsl_rng_alloc(gsl_rng_mt19937);
    unsigned long seed = spec.train.seed;
    gsl_rng_set(tr.noise, seed);
    gsl_rng_set(tr.text_order, seed + 7919UL);
    tr.perm = bfn_xmalloc((size_t)(s->data.n[BFN_SPLIT_TRAIN] + 1) * sizeof(long));
    bfn_work_alloc(&tr.w, s, B);
    bfn_setup_init_params(s);
    int resumed = 0;
    if ((rc = check_checkpoint_present(&tr, opts->force)) != BFN_OK) goto done;
    if ((rc = try_resume(&tr, &resumed)) != BFN_OK) goto done;
    if (!resumed && (rc = bfn_db_metrics_truncate(db, s->key, 0)) != BFN_OK) goto done;
    if (!opts->quiet)
        fprintf(stderr, "[%s] %s %s: %s, %zu parameters, %d threads%s\n", s->key,
                spec.experiment.name, bfn_config_profile(cfg), s->data.name, s->n_params,
                s->threads, resumed ? "; resuming" : "");
    if (resumed && !opts->quiet) fprintf(stderr, "[%s] resumed at step %ld\n", s->key, tr.step);
    bfn_stop_install();
    double t_start = now_sec();
    long step_start = tr.step;
    rc = train_loop(&tr, opts);
    if (rc == BFN_OK && !opts->quiet) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double sec = now_sec() - t_start;
        fprintf(stderr, "[%s] trained %ld steps in %.0f s (%.2f steps/s), peak RSS %.0f MiB\n", s->key,
                tr.step - step_start, sec, (tr.step - step_start) / (sec + 1e-9), ru.ru_maxrss / 1024.0);
    }
    if (rc == BFN_OK) rc = bfn_db_run_set_status(db, s->key, "finished", "");
    else if (rc != BFN_EDIVERGED && rc != BFN_EINTR) {
        char why[512];
        snprintf(why, sizeof why, "%s", bfn_last_error());
        bfn_db_flush(db);
        bfn_db_run_set_status(db, s->key, "failed", why);
        bfn_error(rc, "%s", why);
    }
done:
    if (lock_fd >= 0) close(lock_fd);
    if (tr.noise) gsl_rng_free(tr.noise);
    if (tr.text_order) gsl_rng_free(tr.text_order);
    free(tr.perm);
    if (tr.w.x) bfn_work_free(&tr.w);
    free(tr.config_text);
    free(config_json);
    bfn_setup_close(s);
    return rc;
}
