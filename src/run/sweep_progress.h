/* sweep_progress.h: what a sweep's run is doing, read from its log file.
 *
 * A sweep runs each experiment as a child process logging to
 * RESULTS/logs/NAME.log (RESULTS = $BFN_RESULTS or results). The trainer's
 * lines ("[KEY] step S/T ... ETA ...", "resumed at step", "already
 * finished") say where the run is; the sweep prints them as live progress
 * and classifies the finished run as trained, resumed, skipped or failed. */
#ifndef BFN_RUN_SWEEP_PROGRESS_H
#define BFN_RUN_SWEEP_PROGRESS_H

#include <stddef.h>

/* The results folder in use and the log path of run `name`. */
const char *bfn_sweep_results_dir(void);
void bfn_sweep_log_path(const char *name, char *out, size_t n);

/* The newest progress of the log: "step S/T, ETA ..." (or "starting",
 * "evaluating ..."), written to out. */
void bfn_sweep_progress(const char *log_path, char *out, size_t n);

/* Outcome of a finished run from its log and exit status: "skipped"
 * (already finished), "resumed", "trained", or "failed". */
const char *bfn_sweep_outcome(const char *log_path, int ok);

#endif
