/* named_q.h: named read-only queries printed as TSV (or CSV) with a header
 * row of plain column names, for `bfn export` and `bfn query` (the shell
 * scripts' only way into the database). NULL is printed as an empty cell. */
#ifndef BFN_STORE_NAMED_Q_H
#define BFN_STORE_NAMED_Q_H

#include <stdio.h>

#include "store/db.h"

typedef struct {
    const char *run;     /* full run key, for queries of one run */
    const char *profile; /* NULL: every profile */
} bfn_q_params;

/* 1 if query `name` exists; *needs_run = 1 if it reads one run. */
int bfn_q_named_find(const char *name, int *needs_run);
/* Print query `name` (unknown: BFN_EINVAL listing the names). */
int bfn_q_named_print(bfn_db *db, const char *name, const bfn_q_params *p, int csv, FILE *out);
/* Every query with its parameters and columns, one per line. */
void bfn_q_named_list(FILE *out);

#endif
