/* merge_cli.c: `bfn merge`: choose the sources, merge, report counts. */
#include "run/merge_cli.h"

#include <glob.h>
#include <limits.h>
#include <string.h>

#include "run/slurm_script.h"
#include "store/merge.h"
#include "util/err.h"

int bfn_merge_cli(const char *target, const char *sweep_file, int n_paths, char *const *paths, FILE *report) {
    glob_t g;
    memset(&g, 0, sizeof g);
    const char *const *src = (const char *const *)paths;
    int n = n_paths;
    if (sweep_file) {
        char dir[PATH_MAX - 16], pattern[PATH_MAX];
        BFN_TRY(bfn_slurm_dir(sweep_file, dir, sizeof dir));
        snprintf(pattern, sizeof pattern, "%s/*.db", dir);
        int grc = glob(pattern, 0, NULL, &g);
        if (grc == GLOB_NOMATCH)
            return bfn_error(BFN_EIO, "%s: no per-run databases in %s (has the array run?)", sweep_file, dir);
        if (grc != 0) return bfn_error(BFN_EIO, "%s: cannot list %s", sweep_file, dir);
        src = (const char *const *)g.gl_pathv;
        n = (int)g.gl_pathc;
    }
    if (n == 0) return bfn_error(BFN_EINVAL, "merge: no databases given");
    bfn_db *db;
    int rc = bfn_db_open(target, &db);
    bfn_merge_counts c;
    if (rc == BFN_OK) {
        rc = bfn_db_merge(db, n, src, &c);
        bfn_db_close(db);
    }
    if (rc == BFN_OK && report)
        fprintf(report, "merge: %d database%s into %s: %d new run%s, %d updated, %d unchanged; %ld rows written\n",
                c.sources, c.sources == 1 ? "" : "s", target, c.runs_new, c.runs_new == 1 ? "" : "s",
                c.runs_updated, c.runs_kept, c.rows);
    if (sweep_file) globfree(&g);
    return rc;
}
