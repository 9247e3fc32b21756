/* config_view.h: the stored view run_config (one column per config key,
 * dots as underscores, read from run.config_json) and the back-fill of
 * config_json for runs recorded before that column existed. The config
 * schema itself is run/'s: callers pass the key names and the conversion. */
#ifndef BFN_STORE_CONFIG_VIEW_H
#define BFN_STORE_CONFIG_VIEW_H

#include "store/db.h"

/* Fill run.config_json where it is NULL with to_json(ctx, key, config) (a
 * malloc'd JSON object, or NULL to leave that run without), in one write
 * transaction; nothing is written when no run lacks it. */
int bfn_q_config_json_backfill(bfn_db *db, char *(*to_json)(void *ctx, const char *key, const char *config),
                               void *ctx);
/* (Re)create run_config with one column per name in keys, only when its
 * stored definition differs (the config schema's keys changed). */
int bfn_q_config_view(bfn_db *db, const char *const *keys, int n_keys);

#endif
