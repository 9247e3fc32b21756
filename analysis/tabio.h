/* tabio.h: pieces shared by the table generators: TSV spec lines, atomic
 * output files, LaTeX escaping, and finding a run's results in the db. */
#ifndef BFN_ANALYSIS_TABIO_H
#define BFN_ANALYSIS_TABIO_H

#include <stdio.h>

#include "store/db.h"

/* Split a line on tabs into at most max fields (in place); returns the count. */
int tab_split(char *line, char **f, int max);
void tab_latex_escape(FILE *f, const char *s);
/* Write `path` through writer(ctx, FILE*) into PATH.tmp, then rename, so a
 * failure never leaves half a table. */
int tab_write_atomic(const char *path, int (*writer)(const void *ctx, FILE *f), const void *ctx);
/* PATH.md -> PATH.tex */
void tab_tex_path(const char *md, char *out, size_t n);

typedef struct {
    char key[17], profile[32], dataset[128];
} tab_run;
/* Newest finished, evaluated run of `experiment` (of `profile` if non-NULL).
 * Returns 1 if found, 0 if not, or a negative BFN_* code. */
int tab_find_run(bfn_db *db, const char *experiment, const char *profile, tab_run *out);
/* Seed replicates of run `key`: the finished, evaluated runs of `experiment`
 * (and `profile`) whose settings equal key's except train.seed, key itself
 * included, sorted by key, at most max (<= 64) into keys. Returns the count
 * or a negative BFN_* code. */
int tab_find_replicates(bfn_db *db, const char *experiment, const char *profile, const char *key, char keys[][17],
                        int max);

#endif
