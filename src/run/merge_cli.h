/* merge_cli.h: `bfn merge DB... | --sweep FILE` (see store/merge.h). */
#ifndef BFN_RUN_MERGE_CLI_H
#define BFN_RUN_MERGE_CLI_H

#include <stdio.h>

/* Merge the databases `paths` (or, with sweep_file, every per-run database
 * of that sweep's Slurm array: RESULTS/slurm/SWEEP/RUN.KEY.db) into the
 * database at `target`, printing what was merged to `report`. */
int bfn_merge_cli(const char *target, const char *sweep_file, int n_paths, char *const *paths, FILE *report);

#endif
