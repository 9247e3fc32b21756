/* evaluate.h: test-set NLL against n and the loss-against-time curve. */
#ifndef BFN_RUN_EVALUATE_H
#define BFN_RUN_EVALUATE_H

#include "run/config.h"
#include "store/db.h"

typedef struct {
    int quiet;
} bfn_eval_opts;

/* Evaluate the run of cfg from its checkpoint (eval.checkpoint: last/best)
 * with the EMA weights: for each n in eval.steps, eval.repeats passes over the
 * test split estimating L^n (n = inf: L^inf), plus eval.repeats passes of L^r;
 * NLL = E[L^n] + E[L^r] with standard errors over passes (PAPER.md 3.5).
 * Then, for eval.t_bins times, the test-mean L^inf(t) and L^r(t). Everything
 * goes to the database in the run's reporting unit. */
int bfn_evaluate(bfn_config *cfg, bfn_db *db, const bfn_eval_opts *opts);

#endif
