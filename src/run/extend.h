/* extend.h: continue a finished run to more steps (bfn train --extend).
 *
 * train.steps is part of the run key (a 4000-step and a 15000-step run end
 * with different weights), so a longer run is a new run. When no setting
 * depends on the total step count (bfn_config_depends_on_steps), its first
 * steps are exactly those of the shorter run with the same other settings
 * (same base key, bfn_config_base_key): --extend starts the new run from the
 * shorter run's last checkpoint and metric rows instead of from scratch, and
 * records that in both runs' history. The shorter run stays as it was. */
#ifndef BFN_RUN_EXTEND_H
#define BFN_RUN_EXTEND_H

#include "run/config.h"
#include "store/db.h"

/* The finished run with cfg's base key and the most steps below cfg's
 * train.steps: its key in from (size 17) and its steps in *from_steps.
 * Returns 1 if found, 0 if not, a negative BFN_E* on error. */
int bfn_extend_find(bfn_db *db, const bfn_config *cfg, char from[17], long *from_steps);

/* Seed run `key` (registered, no checkpoint yet) from run `from`: copy its
 * last (and best) checkpoint files into key's directory, its metric rows and
 * checkpoint rows, and record "extend" in both histories. */
int bfn_extend_seed(bfn_db *db, const char *key, const char *from, long from_steps, long steps);

#endif
