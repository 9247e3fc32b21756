/* report.h: paper tables rebuilt from the database alone.
 *
 * A table is described by a spec file in paper/reference/ (TSV): directive
 * lines "#!<TAB>key<TAB>value..." and rows of the paper's published values:
 *
 *   #!  title    Table 2: ...
 *   #!  column   EXPERIMENT   LABEL        one column per experiment name
 *   #!  command  make table2                how to produce the missing runs
 *   #!  note     free text                 printed under the table
 *   n   column   paper   status   source    (header row)
 *   10  mnist    95.21   unconfirmed   [MEM]
 *   inf mnist    77.87   confirmed     [PWC]
 *
 * Each column's numbers come from the newest finished run of that experiment
 * (optionally of one profile): its latest test evaluation per n. The output is
 * Markdown (OUT) and LaTeX (OUT with .tex), with no timestamps, so the same
 * database always gives byte-identical files. */
#ifndef BFN_ANALYSIS_REPORT_H
#define BFN_ANALYSIS_REPORT_H

#include "store/db.h"

/* Write the table for `spec_path` to out_md (and the .tex beside it).
 * profile may be NULL (any profile). Missing runs are BFN_EINVAL naming the
 * command that produces them. */
int bfn_report_table(bfn_db *db, const char *spec_path, const char *out_md, const char *profile);

/* Comparison tables (Tables 1 and 4: our result among published models).
 * A spec with "#!<TAB>kind<TAB>comparison" has value columns and our rows:
 *
 *   #!  value  mnist  MNIST (nats/image)         a numeric column: id, label
 *   #!  ours   mnist  mnist  BFN (ours)           column, experiment, row label
 *   model  type  mnist  cifar  status  source     header: model, text columns,
 *   BFN    BFN   77.87  2.66   confirmed [PWC]    value columns, status, source
 *
 * Our value is the run's latest test NLL at n = inf; "ours" lines sharing a
 * label fill one row. Implemented in compare.c. */
int bfn_report_is_comparison(const char *spec_path);
int bfn_report_comparison(bfn_db *db, const char *spec_path, const char *out_md, const char *profile);

#endif
