/* evals_q.h: reading evaluations (test NLL per n) and loss-against-time
 * curves. Writing them is bfn_db_eval_commit (db.h). n = 0 means n = inf. */
#ifndef BFN_STORE_EVALS_Q_H
#define BFN_STORE_EVALS_Q_H

#include "store/db.h"

/* 1 if a test row of (run, ckpt_step, n) with these repeats, eval seed,
 * receiver floor and checkpoint sha256 is stored (evaluation reuse), else 0. */
int bfn_q_eval_stored(bfn_db *db, const char *key, long step, int n, int repeats, long eval_seed,
                      const char *receiver_floor, const char *ckpt_sha256);
/* 1 if the loss-against-time curve of (run, ckpt_step) has `bins` bins of
 * both 'linf' and 'recon' drawn with this eval seed and floor, else 0. */
int bfn_q_curve_stored(bfn_db *db, const char *key, long step, int bins, long eval_seed, const char *receiver_floor);

/* One test evaluation row. */
typedef struct {
    int n;
    double total, total_se;
    const char *unit;
    long ckpt_step;
    int repeats;
    int has_seed;               /* 0: eval seed and floor not recorded */
    long eval_seed;
    const char *receiver_floor; /* NULL if not recorded */
} bfn_q_eval;
/* The test rows of the run's newest evaluated checkpoint (every n). */
int bfn_q_test_evals_newest_ckpt(bfn_db *db, const char *key, int (*fn)(void *ctx, const bfn_q_eval *row),
                                 void *ctx);
/* The newest test row at n = inf into *row (unit valid until the next call);
 * returns 1 if found, 0 if not, or a negative BFN_* code. */
int bfn_q_test_eval_inf(bfn_db *db, const char *key, bfn_q_eval *row, char *unit, int unit_size);
/* Per n the test row of the newest checkpoint evaluated at that n (view
 * eval_latest), finite n ascending then n = inf. */
int bfn_q_test_nll_by_n(bfn_db *db, const char *key, int (*fn)(void *ctx, const bfn_q_eval *row), void *ctx);

/* The test L^inf(t) curve of the run's newest curve checkpoint, by bin. */
int bfn_q_linf_curve(bfn_db *db, const char *key, int (*fn)(void *ctx, double t, double value), void *ctx);

/* `bfn diff`: for every n either run has a test row for, a label ("n=10",
 * "n=inf") and each run's newest test NLL as "%.4f ± %.4f UNIT" (NULL if none). */
int bfn_q_diff_nll(bfn_db *db, const char *a, const char *b,
                   int (*fn)(void *ctx, const char *label, const char *va, const char *vb), void *ctx);

#endif
