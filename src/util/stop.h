/* stop.h: stop requests by signal (SIGINT, SIGTERM, SIGUSR1).
 *
 * Training and evaluation poll the flag at safe points (after a step, after
 * a test pass) and stop cleanly: a checkpoint is written, or the unfinished
 * evaluation is dropped; the command exits 130. SIGUSR1 is what Slurm sends
 * with --signal=USR1@120 before a job's time limit. */
#ifndef BFN_UTIL_STOP_H
#define BFN_UTIL_STOP_H

/* Install the handlers (idempotent; keeps a request already received). */
void bfn_stop_install(void);
/* The signal that asked to stop, or 0. */
int bfn_stop_requested(void);

#endif
