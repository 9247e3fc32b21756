/* named_q.c: the named queries of `bfn export` and `bfn query` (see named_q.h).
 * ?1 is the run key, ?2 the profile (NULL: any). */
#include "store/named_q.h"

#include <string.h>

#include "store/query.h"
#include "util/err.h"

typedef struct {
    const char *name, *help, *sql;
    int needs_run;
} named_query;

static const named_query QUERIES[] = {
    {"metric", "a run's metric rows (name, step, value; nan, inf, -inf spelt out)",
     "SELECT name, step, "
     "CASE kind WHEN 0 THEN value WHEN 1 THEN 'nan' WHEN 2 THEN 'inf' ELSE '-inf' END AS value "
     "FROM metric WHERE run = ?1 ORDER BY name, step",
     1},
    {"eval", "a run's evaluation rows (n = inf written inf)",
     "SELECT ckpt_step, split, CASE n WHEN 0 THEN 'inf' ELSE n END AS n, repeats, loss, loss_se, recon, "
     "recon_se, total, total_se, unit, eval_seed, receiver_floor "
     "FROM eval WHERE run = ?1 ORDER BY ckpt_step, split, eval.n = 0, eval.n",
     1},
    {"curve", "a run's loss-against-time curve points", 
     "SELECT ckpt_step, name, bin, t, value, se FROM curve WHERE run = ?1 ORDER BY ckpt_step, name, bin", 1},
    /* The losses-against-time figure: L^inf(t), its running integral
     * (midpoint rule over the equal-width bins, up to each bin's right edge),
     * L^r at t, and integral + L^r = the total loss if transmission stopped
     * at t. Latest checkpoint only. */
    {"losscurve", "the losses-against-time figure of a run's newest curve (t, linf, integral, recon, total)",
     "WITH c AS (SELECT * FROM curve WHERE run = ?1 AND ckpt_step = "
     "  (SELECT MAX(ckpt_step) FROM curve WHERE run = ?1)), "
     "nb AS (SELECT COUNT(*) AS n FROM c WHERE name = 'linf'), "
     "l AS (SELECT bin, t, value, se, SUM(value) OVER (ORDER BY bin) / (SELECT n FROM nb) AS cum "
     "  FROM c WHERE name = 'linf') "
     "SELECT l.t, l.value AS linf, l.se AS linf_se, l.cum AS linf_integral, r.value AS recon, "
     "  r.se AS recon_se, l.cum + r.value AS total FROM l JOIN c r ON r.name = 'recon' AND r.bin = l.bin "
     "ORDER BY l.bin",
     1},
    /* Each line "name = value" of the stored canonical config, in order. */
    {"settings", "a run's stored resolved settings (name, value), in config order",
     "WITH RECURSIVE l(line, text, rest) AS ("
     "  SELECT 0, NULL, config || char(10) FROM run WHERE key = ?1"
     "  UNION ALL SELECT line + 1, substr(rest, 1, instr(rest, char(10)) - 1), substr(rest, instr(rest, char(10)) + 1)"
     "  FROM l WHERE rest <> '') "
     "SELECT substr(text, 1, instr(text, ' = ') - 1) AS name, substr(text, instr(text, ' = ') + 3) AS value "
     "FROM l WHERE instr(text, ' = ') > 0 ORDER BY line",
     1},
    {"profiles", "every profile with its number of runs", 
     "SELECT profile, COUNT(*) AS runs FROM run GROUP BY profile ORDER BY profile", 0},
    /* The report's view of the runs: run_overview plus provenance, and the
     * names each run answers to (run_name, space-separated). */
    {"runs", "runs (of --profile) for the report: status, steps, NLL at n = inf, provenance, names",
     "SELECT o.key, o.experiment, o.profile, o.status, o.logged AS steps, o.nll, r.git_commit, r.git_dirty, "
     "  r.lib_versions, r.host, r.threads, r.seed, "
     "  (SELECT group_concat(name, ' ') FROM (SELECT name FROM run_name n WHERE n.run = o.key ORDER BY name)) "
     "  AS names "
     "FROM run_overview o JOIN run r ON r.key = o.key WHERE ?2 IS NULL OR o.profile = ?2 "
     "ORDER BY o.experiment, o.profile, o.key",
     0},
    {"evaluated", "runs with an evaluation: status and the unit of the newest test evaluation",
     "SELECT r.key, r.experiment, r.profile, r.status, "
     "  (SELECT unit FROM eval e WHERE e.run = r.key AND e.split = 'test' ORDER BY ckpt_step DESC LIMIT 1) AS unit "
     "FROM run r WHERE EXISTS (SELECT 1 FROM eval e WHERE e.run = r.key) AND (?2 IS NULL OR r.profile = ?2) "
     "ORDER BY r.experiment, r.profile, r.key",
     0},
};
#define N_QUERIES (int)(sizeof QUERIES / sizeof QUERIES[0])

static const named_query *find(const char *name) {
    for (int i = 0; i < N_QUERIES; i++)
        if (strcmp(QUERIES[i].name, name) == 0) return &QUERIES[i];
    return NULL;
}

int bfn_q_named_find(const char *name, int *needs_run) {
    const named_query *q = find(name);
    if (q && needs_run) *needs_run = q->needs_run;
    return q != NULL;
}

void bfn_q_named_list(FILE *out) {
    for (int i = 0; i < N_QUERIES; i++)
        fprintf(out, "%-10s %s%s\n", QUERIES[i].name, QUERIES[i].needs_run ? "RUN: " : "", QUERIES[i].help);
}

/* One cell: as is for TSV (values never hold tabs or newlines); for CSV
 * quoted when it holds a comma, quote or newline (RFC 4180). */
static void put_cell(FILE *out, const char *v, int csv) {
    if (!csv || !strpbrk(v, ",\"\n\r")) {
        fputs(v, out);
        return;
    }
    fputc('"', out);
    for (const char *p = v; *p; p++) {
        if (*p == '"') fputc('"', out);
        fputc(*p, out);
    }
    fputc('"', out);
}

int bfn_q_named_print(bfn_db *db, const char *name, const bfn_q_params *p, int csv, FILE *out) {
    const named_query *q = find(name);
    if (!q) {
        char names[512] = "";
        for (int i = 0; i < N_QUERIES; i++) {
            size_t len = strlen(names);
            snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", QUERIES[i].name);
        }
        return bfn_error(BFN_EINVAL, "no query named '%s' (queries: %s)", name, names);
    }
    if (q->needs_run && !p->run) return bfn_error(BFN_EINVAL, "query %s needs a run", name);
    sqlite3_stmt *st;
    BFN_TRY(bfn_q_prepare(db, q->sql, &st, name));
    if (sqlite3_bind_parameter_count(st) >= 1) bfn_q_bind_text(st, 1, p->run);
    if (sqlite3_bind_parameter_count(st) >= 2) bfn_q_bind_text(st, 2, p->profile);
    int cols = sqlite3_column_count(st), rc;
    const char *sep = csv ? "," : "\t";
    for (int i = 0; i < cols; i++) {
        put_cell(out, sqlite3_column_name(st, i), csv);
        fputs(i + 1 < cols ? sep : "\n", out);
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < cols; i++) {
            const char *v = bfn_q_text(st, i);
            put_cell(out, v ? v : "", csv);
            fputs(i + 1 < cols ? sep : "\n", out);
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? BFN_OK : bfn_q_fail(db, name);
}
