/* fuzz_sweep.c: sweep files, parsed and expanded without running anything
 * (bfn_sweep with --slurm: every run's config is checked and a job-array
 * script written to the private directory; no process is started). */
#include "fuzz.h"

#include "run/sweep.h"

/* A base experiment the seeds name by this fixed path (the sweep resolves
 * `experiment` against the working directory, which libFuzzer needs for its
 * corpus, so no chdir): written once per process, atomically. */
#define SWEEP_BASE "/tmp/bfn-fuzz-sweep-base.ini"

static int fuzz_sweep(const uint8_t *data, size_t size) {
    static int base_written;
    if (!base_written) {
        static const char base[] = "[experiment]\nname = b\n[train]\nsteps = 1\n[profile small]\ntrain.steps = 2\n";
        if (rename(fuzz_file("base.ini", base, sizeof base - 1), SWEEP_BASE) != 0) abort();
        base_written = 1;
    }
    const char *path = fuzz_file("s.sweep", data, size);
    bfn_sweep_opts o = {.quiet = 1, .slurm_out = fuzz_path("job.sh")};
    bfn_sweep(path, "/bin/false", &o);
    return 0;
}
BFN_FUZZ_TARGET(fuzz_sweep)
