/* merge.h: import runs from other results databases (per-task databases
 * of a Slurm array, or any other bfn database) into one.
 *
 * All sources are checked first (readable, a bfn database of exactly this
 * schema version, not the target itself); then everything is imported in
 * one transaction, so a failure changes nothing. Per run key:
 *   - a run the target lacks is copied with all its rows;
 *   - a run whose copy in the source is more finished (created < running,
 *     interrupted < failed < diverged < finished) or, both unfinished, has a
 *     newer heartbeat, replaces the target's run row and metrics; its
 *     evaluations, curves and checkpoint records replace the target's rows
 *     with the same key and add to the rest;
 *   - otherwise the target's run row and metrics stay; the source's
 *     evaluations, curves and checkpoint records are added where the target
 *     has none for that key (so a finished run is never replaced by a less
 *     finished one, and stored evaluations are never lost).
 * Merging the same source twice changes nothing the second time. Every
 * table with a `run` column is imported, so tables added by later schema
 * versions are carried too. */
#ifndef BFN_STORE_MERGE_H
#define BFN_STORE_MERGE_H

#include "store/db.h"

typedef struct {
    int sources;
    int runs_new, runs_updated, runs_kept;
    long rows; /* rows inserted or replaced in tables other than run */
} bfn_merge_counts;

int bfn_db_merge(bfn_db *dst, int n_src, const char *const *src_paths, bfn_merge_counts *counts);

#endif
