/* fuzz_sweep.c: sweep files, parsed and expanded without running anything
 * (bfn_sweep with --slurm: every run's config is checked and a job-array
 * script written to the private directory; no process is started). */
#include "fuzz.h"

#include "run/sweep.h"

static int fuzz_sweep(const uint8_t *data, size_t size) {
    /* a base experiment the sweep may name as "base.ini" */
    static const char base[] = "[experiment]\nname = b\n[train]\nsteps = 1\n[profile small]\ntrain.steps = 2\n";
    fuzz_file("base.ini", base, sizeof base - 1);
    const char *path = fuzz_file("s.sweep", data, size);
    if (chdir(fuzz_tmpdir()) != 0) abort(); /* relative names resolve here */
    bfn_sweep_opts o = {.quiet = 1, .slurm_out = fuzz_path("job.sh")};
    bfn_sweep(path, "/bin/false", &o);
    return 0;
}
BFN_FUZZ_TARGET(fuzz_sweep)
