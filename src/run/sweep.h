/* sweep.h: run a grid of experiments as separate processes.
 *
 * A sweep file (INI) names a base experiment and the runs to make from it:
 *
 *   [sweep]
 *   experiment = experiments/cifar.ini   ; base experiment file
 *   jobs = 2                             ; parallel processes (-j overrides)
 *   [run cts256]                         ; one run: experiment.name = cts256 ...
 *   bfn.family = continuous              ; ... plus these overrides
 *   [grid]                               ; optional: every run is crossed with
 *   train.seed = 1, 2, 3                 ; every combination of these values
 *   [profile small]                      ; optional: overrides for every run
 *   train.steps = 4000                   ; under that profile (before the run's own)
 *   [slurm]                              ; optional: sbatch resources for --slurm
 *   time = 04:00:00                      ; also mem, partition, account, gres, qos,
 *   cpus_per_task = 4                    ; signal_seconds (default 120) and
 *   sbatch = --mail-type=END             ; sbatch = --ANY-OPTION (repeatable)
 *
 * Run names and grid values become file names: [A-Za-z0-9._-], no leading
 * dot (see run/sweep_plan.h).
 * A grid multiplies the runs; each grid point appends "_<value>..." to the
 * run's experiment name. Every run executes as `bfn run EXPERIMENT --profile P
 * overrides...` in its own process (OpenBLAS/OpenMP threads = cores / jobs),
 * so a sweep is resumable for free: finished runs are skipped and unfinished
 * ones resume from their checkpoints. With --slurm, a job-array script is
 * written instead (one array task per run; see run/slurm_script.h). */
#ifndef BFN_RUN_SWEEP_H
#define BFN_RUN_SWEEP_H

typedef struct {
    const char *profile; /* NULL: each experiment's default */
    int jobs;            /* 0: the sweep file's `jobs`, else 1 */
    int threads;         /* per process; 0: cores / jobs */
    int quiet;
    const char *slurm_out; /* write an sbatch script here instead of running */
    int n_slurm_set;
    char *const *slurm_set; /* "key=value" resources from the command line (after [slurm]) */
    int n_over;
    char *const *overrides; /* applied to every run (after the run's own) */
} bfn_sweep_opts;

/* Expand the sweep into command lines and run them (or write the Slurm
 * script). Returns BFN_OK when every run succeeded; otherwise the first
 * failure's code, after all runs were attempted. */
int bfn_sweep(const char *path, const char *self_exe, const bfn_sweep_opts *opts);

#endif
