/* extend.c: continue a finished run to more steps (see extend.h). */
#include "run/extend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run/setup.h"
#include "run/spec.h"
#include "store/ckpt.h"
#include "store/metrics_q.h"
#include "store/runs_q.h"
#include "util/err.h"

/* train.steps of a resolved config. */
static long train_steps(const bfn_config *c) {
    bfn_spec s;
    bfn_spec_resolve(&s, c);
    return s.train.steps;
}

/* The search of bfn_extend_find over the finished runs. */
typedef struct {
    const char *base, *key;
    long want;
    char *from;
    long *from_steps;
    int found;
} extend_search;

/* A finished run with the same base settings and fewer steps than wanted,
 * more than the best so far, becomes the candidate. */
static int consider(void *ctx, const char *k, const char *profile, const char *text) {
    extend_search *q = ctx;
    (void)profile;
    bfn_config *c;
    if (!k || !text || strcmp(k, q->key) == 0 || bfn_config_from_text(&c, text, k) != BFN_OK) return BFN_OK;
    char b[17];
    bfn_config_base_key(c, b);
    long steps = train_steps(c);
    bfn_config_free(c);
    if (strcmp(b, q->base) == 0 && steps < q->want && steps > *q->from_steps) {
        snprintf(q->from, 17, "%s", k);
        *q->from_steps = steps;
        q->found = 1;
    }
    return BFN_OK;
}

int bfn_extend_find(bfn_db *db, const bfn_config *cfg, char from[17], long *from_steps) {
    char base[17], key[17];
    bfn_config_base_key(cfg, base);
    bfn_config_run_key(cfg, key);
    const long want = train_steps(cfg);
    extend_search q = {base, key, want, from, from_steps, 0};
    *from_steps = -1;
    bfn_q_run_filter finished = {NULL, NULL, 1, 0};
    BFN_TRY(bfn_q_runs_each(db, &finished, consider, &q));
    bfn_clear_error();
    return q.found;
}

/* Copy a file to dst (through dst.tmp, renamed). */
static int copy_file(const char *src, const char *dst) {
    FILE *in = fopen(src, "rb");
    if (!in) return bfn_error(BFN_EIO, "%s: cannot open", src);
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", dst);
    FILE *out = fopen(tmp, "wb");
    if (!out) {
        fclose(in);
        return bfn_error(BFN_EIO, "%s: cannot create", tmp);
    }
    char buf[1 << 16];
    size_t n;
    int rc = BFN_OK;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) rc = bfn_error(BFN_EIO, "%s: write failed", tmp);
    if (ferror(in)) rc = bfn_error(BFN_EIO, "%s: read failed", src);
    fclose(in);
    if (fclose(out) != 0 && rc == BFN_OK) rc = bfn_error(BFN_EIO, "%s: write failed", tmp);
    if (rc == BFN_OK && rename(tmp, dst) != 0) rc = bfn_error(BFN_EIO, "%s: cannot rename to %s", tmp, dst);
    if (rc != BFN_OK) unlink(tmp);
    return rc;
}

int bfn_extend_seed(bfn_db *db, const char *key, const char *from, long from_steps, long steps) {
    /* Checkpoint files: last (required) and best (if any). */
    static const char *const kinds[] = {"last", "best"};
    for (int i = 0; i < 2; i++) {
        char src[1024], dst[1024];
        bfn_ckpt_path(from, kinds[i], src, sizeof src);
        bfn_ckpt_path(key, kinds[i], dst, sizeof dst);
        if (access(src, F_OK) != 0) {
            if (i == 0) return bfn_error(BFN_EIO, "%s: run %s has no last checkpoint to extend", src, from);
            continue;
        }
        BFN_TRY(copy_file(src, dst));
        char sha[65];
        BFN_TRY(bfn_file_sha256(dst, sha));
        long step = -1;
        char recorded[1024];
        BFN_TRY(bfn_db_checkpoint_latest(db, from, kinds[i], &step, recorded, sizeof recorded));
        if (step >= 0) BFN_TRY(bfn_db_checkpoint(db, key, step, dst, sha, kinds[i]));
    }
    /* Metric rows up to the copied checkpoint: the new run's curves start where
     * the old one's do. */
    BFN_TRY(bfn_q_metrics_copy(db, key, from));
    char detail[256];
    snprintf(detail, sizeof detail, "from run %s (train.steps %ld -> %ld)", from, from_steps, steps);
    BFN_TRY(bfn_db_run_history(db, key, "extend", detail));
    snprintf(detail, sizeof detail, "continued as run %s (train.steps %ld -> %ld)", key, from_steps, steps);
    return bfn_db_run_history(db, from, "extended", detail);
}
