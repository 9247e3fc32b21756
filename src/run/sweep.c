/* sweep.c: run a sweep's runs as local processes, or write its Slurm script. */
#include "run/sweep.h"
#include "run/sweep_progress.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run/slurm_script.h"
#include "run/sweep_plan.h"
#include "util/err.h"

/* Start job j with stdout/stderr to its log file (or the terminal when
 * running one job at a time). Returns the pid, or -1 with the message set.
 * BFN_FAULT_FORK=1 makes fork fail, for the test of this path. */
static pid_t start_job(const bfn_sweep_plan *p, int j, const char *self, int threads, int to_log) {
    char log[4096] = "";
    if (to_log) {
        const char *res = bfn_sweep_results_dir();
        mkdir(res, 0777);
        snprintf(log, sizeof log, "%s/logs", res);
        mkdir(log, 0777);
        bfn_sweep_log_path(p->job[j].name, log, sizeof log); /* a safe name */
    }
    char th[32];
    snprintf(th, sizeof th, "%d", threads);
    bfn_strvec argv = {0};
    bfn_sweep_job_argv(p, j, self, th, &argv);
    bfn_strvec_push(&argv, "");
    free(argv.v[argv.n - 1]);
    argv.v[argv.n - 1] = NULL; /* execv's terminator */
    const char *fault = getenv("BFN_FAULT_FORK");
    pid_t pid = fault && *fault == '1' ? (errno = EAGAIN, -1) : fork();
    if (pid != 0) {
        int e = errno;
        bfn_strvec_free(&argv);
        if (pid < 0) bfn_error(BFN_EIO, "sweep run %s: cannot start a process: %s", p->job[j].name, strerror(e));
        return pid;
    }
    if (to_log) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
    }
    execv(argv.v[0], argv.v);
    fprintf(stderr, "sweep: cannot execute %s: %s\n", argv.v[0], strerror(errno));
    _exit(127);
}

/* Run every job, `jobs_n` at a time. On a failed fork nothing more is
 * started; the runs already started are waited for. */
static int run_local(const bfn_sweep_plan *p, const char *self, int jobs_n, int threads, int quiet) {
    if (!quiet)
        fprintf(stderr, "sweep %s: %d runs, %d at a time, %d threads each%s%s%s\n", p->path, p->n_jobs, jobs_n,
                threads, jobs_n > 1 ? "; logs in " : "", jobs_n > 1 ? bfn_sweep_results_dir() : "",
                jobs_n > 1 ? "/logs/" : "");
    pid_t *pids = bfn_xcalloc((size_t)jobs_n, sizeof *pids);
    int *which = bfn_xcalloc((size_t)jobs_n, sizeof *which);
    int next = 0, running = 0, failed = 0, rc = BFN_OK;
    while ((next < p->n_jobs && rc == BFN_OK) || running > 0) {
        while (running < jobs_n && next < p->n_jobs && rc == BFN_OK) {
            int slot = 0;
            while (pids[slot]) slot++;
            pid_t pid = start_job(p, next, self, threads, jobs_n > 1);
            if (pid < 0) {
                rc = BFN_EIO;
                break;
            }
            pids[slot] = pid;
            which[slot] = next++;
            running++;
        }
        if (running == 0) break;
        /* Poll, printing each running job's progress from its log every
         * ~10 s (only when the jobs log to files). */
        int status;
        pid_t done;
        for (int tick = 0; (done = waitpid(-1, &status, WNOHANG)) == 0; tick++) {
            if (jobs_n > 1 && !quiet && tick % 100 == 99) {
                for (int k = 0; k < jobs_n; k++) {
                    if (!pids[k]) continue;
                    char lp[4096], prog[160];
                    bfn_sweep_log_path(p->job[which[k]].name, lp, sizeof lp);
                    bfn_sweep_progress(lp, prog, sizeof prog);
                    fprintf(stderr, "sweep: %-24s %s\n", p->job[which[k]].name, prog);
                }
            }
            usleep(100000);
        }
        if (done < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int k = 0; k < jobs_n; k++) {
            if (pids[k] != done) continue;
            pids[k] = 0;
            running--;
            const char *name = p->job[which[k]].name;
            int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
            char lp[4096];
            bfn_sweep_log_path(name, lp, sizeof lp);
            if (!ok && failed++ == 0 && rc == BFN_OK)
                rc = bfn_error(BFN_EINVAL, "sweep run %s failed (exit %d)%s%s", name,
                               WIFEXITED(status) ? WEXITSTATUS(status) : -1, jobs_n > 1 ? "; see " : "",
                               jobs_n > 1 ? lp : "");
            if (!quiet)
                fprintf(stderr, "sweep: %-24s %s%s%s\n", name, jobs_n > 1 ? bfn_sweep_outcome(lp, ok) : ok ? "done" : "failed",
                        !ok && jobs_n > 1 ? ", log " : "", !ok && jobs_n > 1 ? lp : "");
        }
    }
    free(pids);
    free(which);
    return rc;
}

int bfn_sweep(const char *path, const char *self, const bfn_sweep_opts *o) {
    bfn_sweep_plan plan;
    int rc = bfn_sweep_plan_load(&plan, path, o->profile, o->n_over, o->overrides);
    for (int i = 0; i < o->n_slurm_set && rc == BFN_OK; i++) {
        char kv[1024];
        snprintf(kv, sizeof kv, "%s", o->slurm_set[i]);
        char *eq = strchr(kv, '=');
        if (!eq) rc = bfn_error(BFN_EINVAL, "command line: slurm option '%s' needs a value", kv);
        else {
            *eq = '\0';
            rc = bfn_slurm_set(&plan.slurm, kv, eq + 1, "command line");
        }
    }
    if (rc == BFN_OK && o->slurm_out) {
        rc = bfn_slurm_write(&plan, self, o->slurm_out);
        char dir[4096];
        if (rc == BFN_OK && !o->quiet && bfn_slurm_dir(path, dir, sizeof dir) == BFN_OK)
            fprintf(stderr, "sweep: %d runs -> %s (submit with sbatch; logs and databases in %s)\n", plan.n_jobs,
                    o->slurm_out, dir);
    } else if (rc == BFN_OK) {
        int jobs_n = o->jobs > 0 ? o->jobs : plan.jobs > 0 ? plan.jobs : 1;
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        int threads = o->threads > 0 ? o->threads : (int)(cores / jobs_n > 0 ? cores / jobs_n : 1);
        if (jobs_n > plan.n_jobs) jobs_n = plan.n_jobs; /* after threads: they stay cores / jobs */
        rc = run_local(&plan, self, jobs_n, threads, o->quiet);
    }
    bfn_sweep_plan_free(&plan);
    return rc;
}
