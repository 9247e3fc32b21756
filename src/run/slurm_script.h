/* slurm_script.h: the Slurm job-array script for a sweep (issue 11).
 *
 * One array task per run. The script cds to the folder `bfn sweep` ran in
 * and uses absolute paths, so it can be submitted from anywhere; its log
 * folder exists before submission (one log per job and task, %A_%a, appended
 * on requeue). Each task writes its own database,
 * RESULTS/slurm/SWEEP/RUN.RUNKEY.db, never shared with another task or
 * sweep; `bfn merge --sweep SWEEP` imports them.
 *
 * Signals: --signal=B:USR1@S reaches only the batch shell, which forwards it
 * to bfn; bfn checkpoints and exits 130, and the task requeues itself
 * (scontrol requeue). A cancel's TERM is forwarded the same way but not
 * requeued (resubmit to resume). Threads = $SLURM_CPUS_PER_TASK.
 * Every value is written as a single-quoted shell word; outside Slurm (no
 * SLURM_ARRAY_TASK_ID) or with an index out of range the script exits 2 with
 * a message. BFN_SLURM_DRY_RUN=1 prints the task's command line, each
 * argument followed by a NUL byte, instead of running it. */
#ifndef BFN_RUN_SLURM_SCRIPT_H
#define BFN_RUN_SLURM_SCRIPT_H

#include "run/sweep_plan.h"

/* Where the sweep's Slurm files go: RESULTS/slurm/SWEEP (absolute). */
int bfn_slurm_dir(const char *sweep_path, char *out, int n);

/* Write the script for plan to `out` (atomically), creating the log and
 * database folders. self: the absolute path of bfn. */
int bfn_slurm_write(const bfn_sweep_plan *plan, const char *self, const char *out);

#endif
