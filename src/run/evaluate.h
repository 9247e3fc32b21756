/* evaluate.h: test-set NLL against n and the loss-against-time curve. */
#ifndef BFN_RUN_EVALUATE_H
#define BFN_RUN_EVALUATE_H

#include "run/config.h"
#include "store/db.h"

#include <stdint.h>

typedef struct {
    int quiet;
    int reeval; /* recompute rows already stored for this checkpoint, n, repeats, seed and floor */
} bfn_eval_opts;

/* Evaluate the run of cfg from its checkpoint (eval.checkpoint: last/best)
 * with the EMA weights: for each n in eval.steps, eval.repeats passes over the
 * test split estimating L^n (n = inf: L^inf), plus eval.repeats passes of L^r;
 * NLL = E[L^n] + E[L^r] with standard errors over passes (paper/NOTES.md
 * §3.5). Then, for eval.t_bins times, the test-mean L^inf(t) and L^r(t).
 * Everything goes to the database in the run's reporting unit, with the eval
 * seed, bfn.receiver_floor and the checkpoint's sha256.
 * Each pass r of the estimate for n draws from its own generator seeded by
 * bfn_eval_stream_seed(eval.seed, what, n, r), so the numbers for one n do
 * not depend on which other n are evaluated or in what order. Rows already
 * stored for the same checkpoint, n, repeats, seed and floor are kept unless
 * opts->reeval. */
int bfn_evaluate(bfn_config *cfg, bfn_db *db, const bfn_eval_opts *opts);

/* The 64-bit seed of one evaluation pass: a hash of (eval seed, what the
 * pass estimates, n or time bin, repeat). */
uint64_t bfn_eval_stream_seed(long eval_seed, int what, long n, int repeat);

#endif
