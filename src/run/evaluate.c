/* evaluate.c: Monte Carlo estimates of the test NLL, with standard errors.
 *
 * An evaluation is a function of (checkpoint, n, eval seed, repeat) only:
 * every test pass draws from its own generator, seeded from a hash of
 * (eval.seed, what the pass estimates, n or time bin, repeat), so asking for
 * n = 100 alone or inside any list of n gives bitwise the same numbers.
 * Stored rows with the same checkpoint (sha256), n, repeats, eval seed and
 * receiver floor are reused unless opts->reeval.
 *
 * One evaluation (every n, every repeat, the curves) is written in one
 * transaction at the end, so tables never read part of one. A stop signal
 * (SIGINT/SIGTERM/SIGUSR1) is honoured after the current test pass: the
 * unfinished evaluation is dropped, earlier ones are untouched, and the
 * caller exits 130. */
#include "run/evaluate.h"

#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


#include "run/loadrun.h"
#include "run/step.h"
#include "store/ckpt.h"
#include "store/evals_q.h"
#include "util/err.h"
#include "util/stop.h"

/* What a pass estimates: the tag is part of the stream's seed. */
enum { STREAM_LOSS = 1, STREAM_RECON = 2, STREAM_CURVE_LINF = 3, STREAM_CURVE_RECON = 4 };

/* splitmix64 finaliser: a bijective mix, so distinct inputs give distinct,
 * well-spread outputs. */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t bfn_eval_stream_seed(long eval_seed, int what, long n, int repeat) {
    uint64_t h = mix64((uint64_t)eval_seed + 0x9e3779b97f4a7c15ULL);
    h = mix64(h ^ (uint64_t)what);
    h = mix64(h ^ (uint64_t)n);
    return mix64(h ^ (uint64_t)repeat);
}

/* Reseed `rng` for one pass. GSL's MT19937 takes a 32-bit seed; fold the
 * hash so every input bit counts. */
static void seed_stream(gsl_rng *rng, long eval_seed, int what, long n, int repeat) {
    uint64_t h = bfn_eval_stream_seed(eval_seed, what, n, repeat);
    gsl_rng_set(rng, (unsigned long)((h ^ (h >> 32)) & 0xffffffffUL));
}

/* Mean per-example loss over one pass of the test split (fresh binarisation
 * at every pass, as the official test loader), with the EMA weights. */
static double test_pass(const bfn_setup *s, bfn_work *w, int mode, int n, double t, gsl_rng *rng, double *sq_sum) {
    return bfn_split_pass(s, s->ema, w, BFN_SPLIT_TEST, mode, n, t, rng, sq_sum);
}

/* Mean and standard error of `R` pass means. */
static void mean_se(const double *v, int R, double *mean, double *se) {
    double m = 0, ss = 0;
    for (int r = 0; r < R; r++) m += v[r];
    m /= R;
    for (int r = 0; r < R; r++) ss += (v[r] - m) * (v[r] - m);
    *mean = m;
    *se = R > 1 ? sqrt(ss / (R - 1) / R) : 0;
}

static double now_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* Progress within one n: a rewritten line on a terminal, else a plain line
 * per pass. */
typedef struct {
    int quiet, tty;
    const char *key;
    double t0;
} progress_t;

static void progress(const progress_t *p, const char *label, const char *unit, int done, int total) {
    if (p->quiet) return;
    double el = now_sec() - p->t0, eta = done > 0 ? el / done * (total - done) : 0;
    if (p->tty)
        fprintf(stderr, "\r[%s] %s: %s %d/%d  ETA %02d:%02d   ", p->key, label, unit, done, total, (int)(eta / 60),
                (int)eta % 60);
    else
        fprintf(stderr, "[%s] %s: %s %d/%d ETA %.0fs\n", p->key, label, unit, done, total, eta);
}

static void progress_end(const progress_t *p) {
    if (!p->quiet && p->tty) fputs("\r\033[K", stderr);
}

/* BFN_EINTR naming the run if a stop was requested. */
static int check_stop(const char *key) {
    int sig = bfn_stop_requested();
    if (!sig) return BFN_OK;
    return bfn_error(BFN_EINTR, "evaluation of run %s stopped by signal %d; its rows were not written "
                     "(earlier evaluations are kept); run again to evaluate", key, sig);
}

int bfn_evaluate(bfn_config *cfg, bfn_db *db, const bfn_eval_opts *opts) {
    bfn_stop_install();
    /* The rows reference the run: refuse before computing anything. */
    char key[17], status[32];
    bfn_config_run_key(cfg, key);
    BFN_TRY(bfn_db_run_status(db, key, status, sizeof status));
    if (!status[0])
        return bfn_error(BFN_EINVAL, "run %s is not in this database (%s); train it with the same --db/BFN_DB "
                         "first", key, bfn_db_path());
    /* Fault injection for the tests: a SIGTERM after the k-th n's rows. */
    const char *sig_at = getenv("BFN_FAULT_SIGNAL_AT_EVAL");
    bfn_loaded_run run;
    bfn_spec spec;
    bfn_spec_resolve(&spec, cfg);
    const bfn_eval_spec *es = &spec.eval;
    const char *kind = es->checkpoint;
    BFN_TRY(bfn_load_run(&run, cfg, (int)es->batch, kind));
    bfn_setup *s = &run.s;
    char ckpt[1024], sha[65];
    bfn_ckpt_path(s->key, kind, ckpt, sizeof ckpt);
    int rc = bfn_file_sha256(ckpt, sha);
    if (rc != BFN_OK) {
        bfn_unload_run(&run);
        return rc;
    }
    const long seed = (long)es->seed;
    const char *floor_ = spec.bfn.receiver_floor;
    const int *steps = es->steps.v, n_steps = es->steps.n;
    const int R = (int)es->repeats;
    const int T = (int)es->t_bins;
    /* What is already stored for this checkpoint, seed and floor. */
    int todo[BFN_MAX_LIST], n_todo = 0;
    for (int j = 0; j < n_steps; j++) {
        todo[j] = opts->reeval || !bfn_q_eval_stored(db, s->key, run.step, steps[j], R, seed, floor_, sha);
        n_todo += todo[j];
    }
    int curve_todo = T > 0 && (opts->reeval || !bfn_q_curve_stored(db, s->key, run.step, T, seed, floor_));
    progress_t pr = {.quiet = opts->quiet, .tty = isatty(2), .key = s->key};
    if (!n_todo && !curve_todo) {
        if (!opts->quiet)
            fprintf(stderr, "[%s] step %ld already evaluated (n list, %d repeats, eval seed %ld, floor %s); "
                    "--reeval to redo\n", s->key, run.step, R, seed, floor_);
        bfn_unload_run(&run);
        return BFN_OK;
    }
    bfn_work w;
    bfn_work_alloc(&w, s, (int)es->batch);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    double *pass = bfn_xmalloc((size_t)R * sizeof *pass), *rpass = bfn_xmalloc((size_t)R * sizeof *rpass);
    const double k = s->unit_scale;
    int n_rows = 0;
    bfn_eval_row rows[BFN_MAX_LIST];
    bfn_curve_point *curve = bfn_xmalloc((size_t)(2 * T + 1) * sizeof *curve);
    int n_curve = 0;
    if (!opts->quiet)
        fprintf(stderr, "[%s] evaluating step %ld (%s, EMA) on %ld test examples, %d repeats, eval seed %ld, "
                "receiver floor %s\n", s->key, run.step, kind, s->data.n[BFN_SPLIT_TEST], R, seed, floor_);
    /* L^r does not depend on n: estimate it once and pair it with every n. */
    double recon = 0, recon_se = 0;
    if (n_todo) {
        pr.t0 = now_sec();
        for (int r = 0; r < R && rc == BFN_OK; r++) {
            seed_stream(rng, seed, STREAM_RECON, 0, r);
            rpass[r] = test_pass(s, &w, BFN_LOSS_RECON, 0, 1.0, rng, NULL);
            progress(&pr, "L^r", "pass", r + 1, R);
            rc = check_stop(s->key);
        }
        progress_end(&pr);
        mean_se(rpass, R, &recon, &recon_se);
    }
    for (int j = 0; j < n_steps && rc == BFN_OK; j++) {
        int n = steps[j];
        char label[32];
        snprintf(label, sizeof label, n ? "n=%d" : "n=inf", n);
        if (!todo[j]) {
            if (!opts->quiet) fprintf(stderr, "[%s] %s: stored, skipped\n", s->key, label);
            continue;
        }
        pr.t0 = now_sec();
        for (int r = 0; r < R && rc == BFN_OK; r++) {
            seed_stream(rng, seed, STREAM_LOSS, n, r);
            pass[r] = test_pass(s, &w, n == 0 ? BFN_LOSS_CTS : BFN_LOSS_NSTEP, n, 0, rng, NULL);
            progress(&pr, label, "pass", r + 1, R);
            rc = check_stop(s->key);
        }
        progress_end(&pr);
        if (rc != BFN_OK) break;
        double loss, loss_se;
        mean_se(pass, R, &loss, &loss_se);
        /* The two estimates use independent passes, so their variances add. */
        double total_se = sqrt(loss_se * loss_se + recon_se * recon_se);
        bfn_eval_row row = rows[n_rows++] = (bfn_eval_row){
            .key = s->key, .ckpt_step = run.step, .split = "test", .n = n, .repeats = R,
            .loss = k * loss, .loss_se = k * loss_se, .recon = k * recon, .recon_se = k * recon_se,
            .total = k * (loss + recon), .total_se = k * total_se, .unit = s->unit, .scale = k,
            .eval_seed = seed, .receiver_floor = floor_, .ckpt_sha256 = sha,
        };
        if (!opts->quiet)
            fprintf(stderr, "[%s] %-7s L=%.4f±%.4f  L^r=%.4f±%.4f  NLL=%.4f±%.4f %s\n", s->key, label, row.loss,
                    row.loss_se, row.recon, row.recon_se, row.total, row.total_se, s->unit);
        if (sig_at && atoi(sig_at) == j + 1) raise(SIGTERM);
    }
    /* Loss against time: one pass per bin at the bin centre. */
    long N = s->data.n[BFN_SPLIT_TEST];
    pr.t0 = now_sec();
    for (int j = 0; curve_todo && j < T && rc == BFN_OK; j++) {
        double t = (j + 0.5) / T, sq;
        seed_stream(rng, seed, STREAM_CURVE_LINF, j, 0);
        double m = test_pass(s, &w, BFN_LOSS_CTS_AT, 0, t, rng, &sq);
        double se = N > 1 ? sqrt(fmax(sq / N - m * m, 0) / (N - 1)) : 0;
        curve[n_curve++] = (bfn_curve_point){.name = "linf", .bin = j, .t = t, .value = k * m, .se = k * se,
                                             .eval_seed = seed, .receiver_floor = floor_};
        if ((rc = check_stop(s->key)) != BFN_OK) break;
        seed_stream(rng, seed, STREAM_CURVE_RECON, j, 0);
        m = test_pass(s, &w, BFN_LOSS_RECON_AT, 0, t, rng, &sq);
        se = N > 1 ? sqrt(fmax(sq / N - m * m, 0) / (N - 1)) : 0;
        curve[n_curve++] = (bfn_curve_point){.name = "recon", .bin = j, .t = t, .value = k * m, .se = k * se,
                                             .eval_seed = seed, .receiver_floor = floor_};
        progress(&pr, "loss against time", "bin", j + 1, T);
        rc = check_stop(s->key);
    }
    progress_end(&pr);
    if (rc == BFN_OK) rc = bfn_db_eval_commit(db, s->key, run.step, rows, n_rows, curve, n_curve);
    free(curve);
    free(pass);
    free(rpass);
    gsl_rng_free(rng);
    bfn_work_free(&w);
    bfn_unload_run(&run);
    return rc;
}
