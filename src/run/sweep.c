/* sweep.c: expand a sweep file into runs and execute them as processes. */
#include "run/sweep.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ini.h>

#include "run/config.h"
#include "util/err.h"

#define MAX_RUNS 256
#define MAX_KV 64
#define MAX_AXES 8
#define MAX_VALUES 16
/* Arguments of one run: program, command, file, options, then the profile's,
 * the run's, the grid's and the command line's overrides. */
#define JOB_ARGS (3 * MAX_KV + MAX_AXES + 16)

typedef struct {
    char name[64];
    int n_kv;
    char kv[MAX_KV][256]; /* "key=value" */
} run_spec;

typedef struct {
    char key[128];
    int n_values;
    char values[MAX_VALUES][64];
} axis;

typedef struct {
    const char *path;
    int line;
    FILE *file;
    char experiment[512];
    int jobs;
    run_spec runs[MAX_RUNS];
    int n_runs;
    axis axes[MAX_AXES];
    int n_axes;
    /* [profile NAME] sections: overrides for every run under that profile */
    run_spec profiles[8];
    int n_profiles;
    int rc;
} sweep;

static char *sweep_reader(char *str, int num, void *stream) {
    sweep *s = stream;
    char *r = fgets(str, num, s->file);
    if (r) s->line++;
    return r;
}

static int sweep_handler(void *user, const char *section, const char *name, const char *value) {
    sweep *s = user;
    char where[600];
    snprintf(where, sizeof where, "%s:%d", s->path, s->line);
    if (strcmp(section, "sweep") == 0) {
        if (strcmp(name, "experiment") == 0) snprintf(s->experiment, sizeof s->experiment, "%s", value);
        else if (strcmp(name, "jobs") == 0) {
            char *end; /* a whole integer in [1, 4096]; was atoi, so "-3" or "two" passed silently */
            long v = strtol(value, &end, 10);
            if (!*value || *end || v < 1 || v > 4096)
                s->rc = bfn_error(BFN_EINVAL, "%s: jobs = '%s' is not an integer in [1, 4096]", where, value);
            else s->jobs = (int)v;
        }
        else s->rc = bfn_error(BFN_EINVAL, "%s: unknown key '%s' in [sweep] (experiment, jobs)", where, name);
    } else if (strncmp(section, "run ", 4) == 0) {
        const char *rn = section + 4;
        run_spec *r = s->n_runs ? &s->runs[s->n_runs - 1] : NULL;
        if (!r || strcmp(r->name, rn) != 0) {
            if (s->n_runs == MAX_RUNS) {
                s->rc = bfn_error(BFN_EINVAL, "%s: more than %d runs", where, MAX_RUNS);
                return 0;
            }
            r = &s->runs[s->n_runs++];
            snprintf(r->name, sizeof r->name, "%s", rn);
        }
        if (r->n_kv == MAX_KV) s->rc = bfn_error(BFN_EINVAL, "%s: too many keys in [run %s]", where, rn);
        else snprintf(r->kv[r->n_kv++], 256, "%s=%s", name, value);
    } else if (strncmp(section, "profile ", 8) == 0) {
        const char *pn = section + 8;
        run_spec *p = NULL;
        for (int i = 0; i < s->n_profiles; i++)
            if (strcmp(s->profiles[i].name, pn) == 0) p = &s->profiles[i];
        if (!p && s->n_profiles < 8) {
            p = &s->profiles[s->n_profiles++];
            snprintf(p->name, sizeof p->name, "%s", pn);
        }
        if (!p || p->n_kv == MAX_KV) s->rc = bfn_error(BFN_EINVAL, "%s: too many profile sections or keys", where);
        else snprintf(p->kv[p->n_kv++], 256, "%s=%s", name, value);
    } else if (strcmp(section, "grid") == 0) {
        if (s->n_axes == MAX_AXES) {
            s->rc = bfn_error(BFN_EINVAL, "%s: more than %d grid axes", where, MAX_AXES);
            return 0;
        }
        axis *a = &s->axes[s->n_axes++];
        snprintf(a->key, sizeof a->key, "%s", name);
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", value);
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            while (*tok == ' ') tok++;
            char *e = tok + strlen(tok);
            while (e > tok && e[-1] == ' ') *--e = '\0';
            if (a->n_values == MAX_VALUES) break;
            snprintf(a->values[a->n_values++], 64, "%s", tok);
        }
    } else {
        s->rc = bfn_error(BFN_EINVAL, "%s: unknown section [%s] ([sweep], [run NAME], [grid], [profile NAME])",
                          where, section);
    }
    return s->rc == BFN_OK;
}

/* One expanded run: its display name and argument list. */
typedef struct {
    char name[128];
    char *argv[JOB_ARGS + 1];
    int argc;
    char store[JOB_ARGS][520];
} job;

static void job_arg(job *j, const char *a) {
    if (j->argc == JOB_ARGS) return; /* cannot happen: JOB_ARGS bounds every source */
    snprintf(j->store[j->argc], sizeof j->store[0], "%s", a);
    j->argv[j->argc] = j->store[j->argc];
    j->argc++;
    j->argv[j->argc] = NULL;
}

/* The [profile NAME] section of the profile in use: the --profile given, else
 * the base experiment's own default profile. */
static const run_spec *active_profile(const sweep *s, const bfn_sweep_opts *o) {
    char name[64] = "";
    if (o->profile) {
        snprintf(name, sizeof name, "%s", o->profile);
    } else {
        bfn_config *c;
        if (bfn_config_load(&c, s->experiment, NULL, 0, NULL) != BFN_OK) return NULL;
        snprintf(name, sizeof name, "%s", bfn_config_profile(c));
        bfn_config_free(c);
    }
    for (int i = 0; i < s->n_profiles; i++)
        if (strcmp(s->profiles[i].name, name) == 0) return &s->profiles[i];
    return NULL;
}

static int expand(const sweep *s, const bfn_sweep_opts *o, const char *self, int threads, job *jobs, int max) {
    const run_spec *prof = active_profile(s, o);
    int n_points = 1;
    for (int a = 0; a < s->n_axes; a++) n_points *= s->axes[a].n_values;
    int n = 0;
    for (int r = 0; r < s->n_runs; r++) {
        for (int p = 0; p < n_points; p++) {
            if (n == max) return bfn_error(BFN_EINVAL, "%s: sweep expands to more than %d runs", s->path, max);
            job *j = &jobs[n++];
            memset(j, 0, sizeof *j);
            snprintf(j->name, sizeof j->name, "%s", s->runs[r].name);
            char arg[300];
            job_arg(j, self);
            job_arg(j, "run");
            job_arg(j, s->experiment);
            if (o->profile) {
                job_arg(j, "--profile");
                job_arg(j, o->profile);
            }
            snprintf(arg, sizeof arg, "%d", threads);
            job_arg(j, "--threads");
            job_arg(j, arg);
            if (prof)
                for (int k = 0; k < prof->n_kv; k++) job_arg(j, prof->kv[k]);
            for (int k = 0; k < s->runs[r].n_kv; k++) job_arg(j, s->runs[r].kv[k]);
            /* Grid point p in mixed radix over the axes. */
            int rest = p;
            for (int a = 0; a < s->n_axes; a++) {
                const axis *ax = &s->axes[a];
                const char *v = ax->values[rest % ax->n_values];
                rest /= ax->n_values;
                snprintf(arg, sizeof arg, "%s=%s", ax->key, v);
                job_arg(j, arg);
                size_t len = strlen(j->name);
                snprintf(j->name + len, sizeof j->name - len, "_%s", v);
            }
            for (int k = 0; k < o->n_over; k++) job_arg(j, o->overrides[k]);
            snprintf(arg, sizeof arg, "experiment.name=%s", j->name);
            job_arg(j, arg);
        }
    }
    return n;
}

/* Check every run's config before starting any, so a typo cannot leave a
 * sweep half done. */
static int validate(const job *jobs, int n) {
    for (int i = 0; i < n; i++) {
        const char *profile = NULL;
        char *over[JOB_ARGS];
        int n_over = 0;
        for (int a = 3; a < jobs[i].argc; a++) {
            if (strcmp(jobs[i].argv[a], "--profile") == 0) profile = jobs[i].argv[++a];
            else if (strcmp(jobs[i].argv[a], "--threads") == 0) a++;
            else over[n_over++] = jobs[i].argv[a];
        }
        bfn_config *c;
        int rc = bfn_config_load(&c, jobs[i].argv[2], profile, n_over, over);
        if (rc != BFN_OK) return bfn_error_prefix(rc, "sweep run %s", jobs[i].name);
        bfn_config_free(c);
    }
    return BFN_OK;
}

static int write_slurm(const sweep *s, const job *jobs, int n, const char *out) {
    FILE *f = fopen(out, "w");
    if (!f) return bfn_error(BFN_EIO, "%s: cannot write", out);
    fprintf(f, "#!/bin/bash\n# Generated by `bfn sweep %s --slurm`: one array task per run.\n", s->path);
    fprintf(f, "# Each task writes its own database (SQLite must not be shared over NFS/Lustre);\n"
               "# merge them afterwards with sqlite3 ATTACH into results/bfn.db.\n");
    fprintf(f, "#SBATCH --array=0-%d\n#SBATCH --cpus-per-task=2\n#SBATCH --signal=USR1@120\n", n - 1);
    fprintf(f, "#SBATCH --output=results/slurm/%%x_%%a.log\nset -euo pipefail\nmkdir -p results/slurm\n");
    fprintf(f, "export BFN_DB=results/slurm/task_${SLURM_ARRAY_TASK_ID}.db\ncase $SLURM_ARRAY_TASK_ID in\n");
    for (int i = 0; i < n; i++) {
        fprintf(f, "%d) exec", i);
        for (int a = 0; a < jobs[i].argc; a++) fprintf(f, " '%s'", jobs[i].argv[a]);
        fprintf(f, " ;;\n");
    }
    fprintf(f, "esac\n");
    fclose(f);
    return BFN_OK;
}

/* Start job j with stdout/stderr to its log file (or the terminal when
 * running one job at a time). */
static pid_t start_job(const job *j, int to_log) {
    char log[1024];
    if (to_log) {
        const char *res = getenv("BFN_RESULTS");
        if (!res || !*res) res = "results";
        mkdir(res, 0777);
        snprintf(log, sizeof log, "%s/logs", res);
        mkdir(log, 0777);
        snprintf(log, sizeof log, "%s/logs/%s.log", res, j->name);
    }
    pid_t pid = fork();
    if (pid != 0) return pid;
    if (to_log) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
    }
    execv(j->argv[0], j->argv);
    fprintf(stderr, "sweep: cannot execute %s: %s\n", j->argv[0], strerror(errno));
    _exit(127);
}

int bfn_sweep(const char *path, const char *self, const bfn_sweep_opts *o) {
    sweep *s = bfn_xcalloc(1, sizeof *s);
    s->path = path;
    s->file = fopen(path, "r");
    if (!s->file) {
        free(s);
        return bfn_error(BFN_EIO, "%s: cannot open sweep file", path);
    }
    int err = ini_parse_stream(sweep_reader, s, sweep_handler, s);
    fclose(s->file);
    int rc = s->rc;
    if (rc == BFN_OK && err) rc = bfn_error(BFN_EINVAL, "%s:%d: syntax error", path, err);
    if (rc == BFN_OK && !s->experiment[0]) rc = bfn_error(BFN_EINVAL, "%s: [sweep] needs experiment = FILE", path);
    if (rc == BFN_OK && s->n_runs == 0) rc = bfn_error(BFN_EINVAL, "%s: no [run NAME] sections", path);
    int jobs_n = o->jobs > 0 ? o->jobs : s->jobs > 0 ? s->jobs : 1;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = o->threads > 0 ? o->threads : (int)(cores / jobs_n > 0 ? cores / jobs_n : 1);
    job *jobs = bfn_xcalloc(MAX_RUNS, sizeof *jobs);
    int n = 0;
    if (rc == BFN_OK) {
        n = expand(s, o, self, threads, jobs, MAX_RUNS);
        if (n < 0) rc = n;
    }
    if (rc == BFN_OK) rc = validate(jobs, n);
    if (rc == BFN_OK && o->slurm_out) {
        rc = write_slurm(s, jobs, n, o->slurm_out);
        if (rc == BFN_OK && !o->quiet) fprintf(stderr, "sweep: %d runs -> %s\n", n, o->slurm_out);
    } else if (rc == BFN_OK) {
        if (!o->quiet)
            fprintf(stderr, "sweep %s: %d runs, %d at a time, %d threads each%s\n", path, n, jobs_n, threads,
                    jobs_n > 1 ? "; logs in results/logs/" : "");
        pid_t pids[64] = {0};
        int names[64];
        int next = 0, running = 0, failed = 0, first_fail = BFN_OK;
        while (next < n || running > 0) {
            while (running < jobs_n && running < 64 && next < n) {
                int slot = 0;
                while (pids[slot]) slot++;
                pids[slot] = start_job(&jobs[next], jobs_n > 1);
                names[slot] = next++;
                running++;
            }
            int status;
            pid_t done = wait(&status);
            if (done < 0) break;
            for (int k = 0; k < 64; k++) {
                if (pids[k] != done) continue;
                pids[k] = 0;
                running--;
                int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
                if (!ok) {
                    failed++;
                    if (first_fail == BFN_OK)
                        first_fail = bfn_error(BFN_EINVAL, "sweep run %s failed (exit %d); see results/logs/%s.log",
                                               jobs[names[k]].name, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                                               jobs[names[k]].name);
                }
                if (!o->quiet) fprintf(stderr, "sweep: %-24s %s\n", jobs[names[k]].name, ok ? "done" : "FAILED");
            }
        }
        if (failed) rc = first_fail;
    }
    free(jobs);
    free(s);
    return rc;
}
