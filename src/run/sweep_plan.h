/* sweep_plan.h: a sweep file parsed, expanded into runs and checked.
 *
 * The file format is described in run/sweep.h. Everything here is untrusted
 * text: run names and grid values become file names (logs, per-run
 * databases), so they must be safe names (util/shell_quote.h); values become
 * command-line arguments, which are never given to a shell unquoted. There
 * are no fixed limits: any number of runs, keys, axes and values. */
#ifndef BFN_RUN_SWEEP_PLAN_H
#define BFN_RUN_SWEEP_PLAN_H

/* A growable list of owned strings. */
typedef struct {
    char **v;
    int n, cap;
} bfn_strvec;
void bfn_strvec_push(bfn_strvec *s, const char *x);
void bfn_strvec_free(bfn_strvec *s);

/* sbatch resources: the sweep file's [slurm] section, then the command line. */
typedef struct {
    char *time, *mem, *partition, *account, *gres, *qos; /* NULL: not set */
    int cpus_per_task;                                    /* 0: 1 */
    int signal_seconds;                                   /* 0: 120 */
    bfn_strvec sbatch;                                    /* extra sbatch options, one per line */
} bfn_slurm_opts;

/* Set one resource (time, mem, partition, account, gres, qos, cpus_per_task,
 * signal_seconds, sbatch) from the [slurm] section or the command line;
 * `where` prefixes errors. A value with a newline or a space is refused
 * (it would add a line to the script); sbatch lines must start with --. */
int bfn_slurm_set(bfn_slurm_opts *o, const char *key, const char *value, const char *where);

/* One expanded run: `bfn run EXPERIMENT [--profile P] over...`. */
typedef struct {
    char *name;    /* experiment.name: the run's name plus "_value" per grid axis */
    int line;      /* line of its [run NAME] section */
    char key[17];  /* run key of the resolved config */
    bfn_strvec over;
} bfn_sweep_job;

typedef struct {
    char *path;       /* the sweep file */
    char *experiment; /* base experiment file */
    char *profile;    /* --profile given, or NULL */
    int jobs;         /* [sweep] jobs, 0 if not set */
    bfn_slurm_opts slurm;
    bfn_sweep_job *job;
    int n_jobs;
} bfn_sweep_plan;

/* Parse `path`, expand every run with `profile` (NULL: the experiment's
 * default) and the command line's overrides, and load every run's config
 * (computing its run key) before anything starts. Errors name FILE:LINE. */
int bfn_sweep_plan_load(bfn_sweep_plan *p, const char *path, const char *profile, int n_over,
                        char *const *overrides);
void bfn_sweep_plan_free(bfn_sweep_plan *p);

/* argv of job j (NULL-terminated, in out): self run EXPERIMENT [--profile P]
 * [--threads T] overrides...; threads NULL leaves --threads out. */
void bfn_sweep_job_argv(const bfn_sweep_plan *p, int j, const char *self, const char *threads, bfn_strvec *out);

/* The sweep's name for file names: its file name without folder and
 * extension ("experiments/table3.sweep" -> "table3"), or BFN_EINVAL if that
 * is not a safe name. */
int bfn_sweep_name(const char *path, char *out, int n);

#endif
