/* continuous_keys.h: the continuous family's own keys (how its
 * reconstruction loss L^r is scored; evaluation only, so not in the run key)
 * and their typed struct. Its registry line in bfn/family.c carries the rows. */
#ifndef BFN_BFN_CONTINUOUS_KEYS_H
#define BFN_BFN_CONTINUOUS_KEYS_H

#include "util/keydef.h"

#define BFN_CONTINUOUS_KEYS(X)                                                                                     \
    X(recon_bins, int, "bfn.recon_bins", INT, "0", 0, 4096, NULL, NEVER,                                            \
      "continuous data: bins of the L^r score (0 = bfn.bins)")                                                      \
    X(recon_std, double, "bfn.recon_std", REAL, "0", 0, BFN_KEY_BIG, NULL, NEVER,                                   \
      "continuous data: std of the L^r score (0 = official: sigma1, or 0.7 sigma1 for 16 bins)")

typedef struct {
    BFN_CONTINUOUS_KEYS(BFN_KEY_FIELD)
} bfn_continuous_keys;

extern const bfn_key_def bfn_continuous_key_defs[];

#endif
