/* evaluate.c: Monte Carlo estimates of the test NLL, with standard errors.
 *
 * One evaluation (every n, every repeat, the curves) is written in one
 * transaction at the end, so tables never read part of one. A stop signal
 * (SIGINT/SIGTERM/SIGUSR1) is honoured after the current test pass: the
 * unfinished evaluation is dropped, earlier ones are untouched, and the
 * caller exits 130. */
#include "run/evaluate.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run/loadrun.h"
#include "run/step.h"
#include "util/err.h"
#include "util/stop.h"

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
    BFN_TRY(bfn_load_run(&run, cfg, (int)bfn_cfg_int(cfg, "eval.batch"), bfn_cfg_str(cfg, "eval.checkpoint")));
    bfn_setup *s = &run.s;
    bfn_work w;
    bfn_work_alloc(&w, s, (int)bfn_cfg_int(cfg, "eval.batch"));
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, (unsigned long)bfn_cfg_int(cfg, "eval.seed"));
    int steps[BFN_MAX_LIST];
    int n_steps = bfn_cfg_int_list(cfg, "eval.steps", steps, BFN_MAX_LIST);
    int R = (int)bfn_cfg_int(cfg, "eval.repeats");
    double *pass = bfn_xmalloc((size_t)R * sizeof *pass), *rpass = bfn_xmalloc((size_t)R * sizeof *rpass);
    const double k = s->unit_scale;
    int T = (int)bfn_cfg_int(cfg, "eval.t_bins");
    bfn_eval_row rows[BFN_MAX_LIST];
    bfn_curve_point *curve = bfn_xmalloc((size_t)(2 * T + 1) * sizeof *curve);
    int n_curve = 0;
    int rc = BFN_OK;
    if (!opts->quiet)
        fprintf(stderr, "[%s] evaluating step %ld (%s, EMA) on %ld test examples, %d repeats\n", s->key,
                run.step, bfn_cfg_str(cfg, "eval.checkpoint"), s->data.n[BFN_SPLIT_TEST], R);
    /* L^r does not depend on n: estimate it once and pair it with every n. */
    for (int r = 0; r < R && rc == BFN_OK; r++) {
        rpass[r] = test_pass(s, &w, BFN_LOSS_RECON, 0, 1.0, rng, NULL);
        rc = check_stop(s->key);
    }
    double recon, recon_se;
    mean_se(rpass, R, &recon, &recon_se);
    for (int j = 0; j < n_steps && rc == BFN_OK; j++) {
        int n = steps[j];
        for (int r = 0; r < R && rc == BFN_OK; r++) {
            pass[r] = test_pass(s, &w, n == 0 ? BFN_LOSS_CTS : BFN_LOSS_NSTEP, n, 0, rng, NULL);
            rc = check_stop(s->key);
        }
        if (rc != BFN_OK) break;
        double loss, loss_se;
        mean_se(pass, R, &loss, &loss_se);
        /* The two estimates use independent passes, so their variances add. */
        double total_se = sqrt(loss_se * loss_se + recon_se * recon_se);
        bfn_eval_row row = rows[j] = (bfn_eval_row){
            .key = s->key, .ckpt_step = run.step, .split = "test", .n = n, .repeats = R,
            .loss = k * loss, .loss_se = k * loss_se, .recon = k * recon, .recon_se = k * recon_se,
            .total = k * (loss + recon), .total_se = k * total_se, .unit = s->unit, .scale = k,
        };
        if (!opts->quiet) {
            char label[16];
            snprintf(label, sizeof label, n ? "%d" : "inf", n);
            fprintf(stderr, "[%s] n=%-5s L=%.4f±%.4f  L^r=%.4f±%.4f  NLL=%.4f±%.4f %s\n", s->key, label, row.loss,
                    row.loss_se, row.recon, row.recon_se, row.total, row.total_se, s->unit);
        }
        if (sig_at && atoi(sig_at) == j + 1) raise(SIGTERM);
    }
    /* Loss against time: one pass per bin at the bin centre. */
    long N = s->data.n[BFN_SPLIT_TEST];
    for (int j = 0; j < T && rc == BFN_OK; j++) {
        double t = (j + 0.5) / T, sq;
        double m = test_pass(s, &w, BFN_LOSS_CTS_AT, 0, t, rng, &sq);
        double se = N > 1 ? sqrt(fmax(sq / N - m * m, 0) / (N - 1)) : 0;
        curve[n_curve++] = (bfn_curve_point){.name = "linf", .bin = j, .t = t, .value = k * m, .se = k * se};
        if ((rc = check_stop(s->key)) != BFN_OK) break;
        m = test_pass(s, &w, BFN_LOSS_RECON_AT, 0, t, rng, &sq);
        se = N > 1 ? sqrt(fmax(sq / N - m * m, 0) / (N - 1)) : 0;
        curve[n_curve++] = (bfn_curve_point){.name = "recon", .bin = j, .t = t, .value = k * m, .se = k * se};
        rc = check_stop(s->key);
    }
    if (rc == BFN_OK) rc = bfn_db_eval_commit(db, s->key, run.step, rows, n_steps, curve, n_curve);
    free(curve);
    free(pass);
    free(rpass);
    gsl_rng_free(rng);
    bfn_work_free(&w);
    bfn_unload_run(&run);
    return rc;
}
