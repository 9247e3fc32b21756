/* db.c: the SQLite results store (schema, migrations, buffered metrics).
 *
 * Schema, version 2 (datetimes are ISO-8601 UTC text, "2024-05-01T12:00:00.000Z"):
 *
 *   schema_version(version INTEGER NOT NULL)            exactly one row
 *   run(key TEXT PK,             hash of the canonical resolved config
 *       experiment, profile, config TEXT NOT NULL, seed INTEGER NOT NULL,
 *       git_commit TEXT, git_dirty INTEGER, lib_versions TEXT, host TEXT, threads INTEGER,
 *       status TEXT NOT NULL     created | running | finished | diverged | failed | interrupted
 *       exit_reason TEXT,        free text, set with the status
 *       started TEXT,            first time the status became 'running'
 *       heartbeat TEXT,          last heartbeat or status change
 *       finished TEXT)           set when the status becomes finished/diverged/failed
 *   metric(run -> run(key), name, step, value REAL, kind INTEGER)
 *       PK (run, name, step); kind 0 finite, 1 NaN, 2 +inf, 3 -inf; value is
 *       NULL unless kind = 0 (SQL has no NaN).
 *   eval(run -> run(key), ckpt_step, split, n, repeats, loss, loss_se, recon, recon_se,
 *        total, total_se, unit, scale)
 *       PK (run, ckpt_step, split, n); n = 0 means n = infinity (continuous-time
 *       loss); loss/recon/total and their standard errors are in `unit`, which is
 *       nats per data dimension times `scale` (784 for nats/image, 1/ln 2 for bits).
 *   curve(run -> run(key), ckpt_step, name, bin, t, value, se)
 *       PK (run, ckpt_step, name, bin): loss-against-time curves.
 *   checkpoint(run -> run(key), step, path, sha256, kind)
 *       PK (run, step, kind); kind e.g. "last", "best", "every".
 *   run_import(run -> run(key) PK, source_name, source_sha256, official_class, mapping,
 *              provenance 'imported', optimiser_state 'absent', imported)
 *       one row per run whose weights came from a PyTorch checkpoint (bfn
 *       import-torch): the file's base name and sha256, the official network
 *       class and tensor-mapping version ("GPT/1"); such a run has no
 *       optimiser state and cannot be resumed.
 *   All foreign keys are ON DELETE CASCADE: deleting a run deletes its rows.
 *
 * Version 2 adds run.owner_host, run.owner_pid, run.owner_start: the process
 * that last claimed the run for training (start = "BOOT_ID:START_TICKS",
 * see util/owner.h), so a 'running' run whose process is gone can be told
 * from a live one.
 *
 * Views for plain `sqlite3` queries:
 *   run_summary(key, experiment, profile, status, started, finished, heartbeat,
 *               exit_reason, seed, last_ckpt)
 *   eval_latest(run, experiment, profile, split, n, ckpt_step, repeats, loss, loss_se,
 *               recon, recon_se, total, total_se, unit): per (run, split, n) the
 *               row of the latest checkpoint.
 *   metric_last(run, name, step, value): per (run, name) the last logged value,
 *               with 'nan', 'inf', '-inf' spelt out as text.
 *
 * Connection: WAL journal, foreign_keys=ON, synchronous=NORMAL (FULL for the
 * writes that record checkpoints and run status, which must survive a power
 * loss as the fsynced checkpoint files do), busy timeout
 * 10 s (environment variable BFN_DB_BUSY_TIMEOUT_MS overrides it, for tests).
 * Every writer runs in BEGIN IMMEDIATE so a writer never has to upgrade a
 * read lock (which could fail with SQLITE_BUSY without waiting). The DB must
 * live on a local disk: SQLite locking over NFS/Lustre is unreliable. */
#include "store/db.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/query.h"
#include "util/err.h"

#define DEFAULT_BUSY_MS 10000
#define SQL_NOW "strftime('%Y-%m-%dT%H:%M:%fZ','now')"

/* migrations[v] takes a database from schema version v to v + 1; version 0 is
 * an empty file, so migrations[0] is the whole version-1 schema. A future
 * version 2 appends one string (ALTER TABLE ..., DROP VIEW/CREATE VIEW ...)
 * and bumps BFN_DB_SCHEMA_VERSION; never edit an existing entry. */
static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE schema_version(version INTEGER NOT NULL);"
    "CREATE TABLE run("
    "  key TEXT NOT NULL PRIMARY KEY,"
    "  experiment TEXT NOT NULL,"
    "  profile TEXT NOT NULL,"
    "  config TEXT NOT NULL,"
    "  seed INTEGER NOT NULL,"
    "  git_commit TEXT,"
    "  git_dirty INTEGER,"
    "  lib_versions TEXT,"
    "  host TEXT,"
    "  threads INTEGER,"
    "  status TEXT NOT NULL DEFAULT 'created' CHECK (status IN"
    "    ('created','running','finished','diverged','failed','interrupted')),"
    "  exit_reason TEXT,"
    "  started TEXT,"
    "  heartbeat TEXT,"
    "  finished TEXT);"
    "CREATE TABLE metric("
    "  run TEXT NOT NULL REFERENCES run(key) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  step INTEGER NOT NULL,"
    "  value REAL,"
    "  kind INTEGER NOT NULL CHECK (kind BETWEEN 0 AND 3),"
    "  PRIMARY KEY (run, name, step)) WITHOUT ROWID;"
    "CREATE TABLE eval("
    "  run TEXT NOT NULL REFERENCES run(key) ON DELETE CASCADE,"
    "  ckpt_step INTEGER NOT NULL,"
    "  split TEXT NOT NULL,"
    "  n INTEGER NOT NULL CHECK (n >= 0),"
    "  repeats INTEGER,"
    "  loss REAL, loss_se REAL, recon REAL, recon_se REAL, total REAL, total_se REAL,"
    "  unit TEXT,"
    "  scale REAL,"
    "  PRIMARY KEY (run, ckpt_step, split, n)) WITHOUT ROWID;"
    "CREATE TABLE curve("
    "  run TEXT NOT NULL REFERENCES run(key) ON DELETE CASCADE,"
    "  ckpt_step INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  bin INTEGER NOT NULL,"
    "  t REAL, value REAL, se REAL,"
    "  PRIMARY KEY (run, ckpt_step, name, bin)) WITHOUT ROWID;"
    "CREATE TABLE checkpoint("
    "  run TEXT NOT NULL REFERENCES run(key) ON DELETE CASCADE,"
    "  step INTEGER NOT NULL,"
    "  path TEXT NOT NULL,"
    "  sha256 TEXT,"
    "  kind TEXT NOT NULL,"
    "  PRIMARY KEY (run, step, kind)) WITHOUT ROWID;"
    "CREATE VIEW run_summary AS"
    "  SELECT key, experiment, profile, status, started, finished, heartbeat, exit_reason, seed,"
    "    (SELECT MAX(c.step) FROM checkpoint c WHERE c.run = run.key) AS last_ckpt"
    "  FROM run;"
    "CREATE VIEW eval_latest AS"
    "  SELECT e.run, r.experiment, r.profile, e.split, e.n, e.ckpt_step, e.repeats,"
    "    e.loss, e.loss_se, e.recon, e.recon_se, e.total, e.total_se, e.unit"
    "  FROM eval e"
    "  JOIN (SELECT run, split, n, MAX(ckpt_step) AS ckpt_step FROM eval GROUP BY run, split, n) l"
    "    ON l.run = e.run AND l.split = e.split AND l.n = e.n AND l.ckpt_step = e.ckpt_step"
    "  JOIN run r ON r.key = e.run;"
    "CREATE VIEW metric_last AS"
    "  SELECT m.run, m.name, m.step,"
    "    CASE m.kind WHEN 0 THEN m.value WHEN 1 THEN 'nan' WHEN 2 THEN 'inf' ELSE '-inf' END AS value"
    "  FROM metric m"
    "  JOIN (SELECT run, name, MAX(step) AS step FROM metric GROUP BY run, name) l"
    "    ON l.run = m.run AND l.name = m.name AND l.step = m.step;",
    /* 1 -> 2, the researcher's workflow: evaluation identity (eval seed,
     * receiver floor, checkpoint sha256) so stored evaluations are reused;
     * the resolved config as JSON; tags, notes and a history per run; views
     * of the latest evaluations per unit. Self-contained: it touches no
     * column another migration adds. */
    "ALTER TABLE eval ADD COLUMN eval_seed INTEGER;"
    "ALTER TABLE eval ADD COLUMN receiver_floor TEXT;"
    "ALTER TABLE eval ADD COLUMN ckpt_sha256 TEXT;"
    "ALTER TABLE curve ADD COLUMN eval_seed INTEGER;"
    "ALTER TABLE curve ADD COLUMN receiver_floor TEXT;"
    "ALTER TABLE run ADD COLUMN config_json TEXT;"
    "CREATE TABLE run_tag("
    "  run TEXT NOT NULL REFERENCES run(key) ON DELETE CASCADE,"
    "  tag TEXT NOT NULL,"
    "  PRIMARY KEY (run, tag)) WITHOUT ROWID;"
    "CREATE TABLE run_note("
    "  run TEXT NOT NULL REFERENCES run(key) ON DELETE CASCADE,"
    "  at TEXT NOT NULL,"
    "  note TEXT NOT NULL);"
    "CREATE TABLE run_history("
    "  run TEXT NOT NULL REFERENCES run(key) ON DELETE CASCADE,"
    "  at TEXT NOT NULL,"
    "  event TEXT NOT NULL,"
    "  detail TEXT);"
    "DROP VIEW eval_latest;"
    "CREATE VIEW eval_latest AS"
    "  SELECT e.run, r.experiment, r.profile, e.split, e.n, e.ckpt_step, e.repeats,"
    "    e.loss, e.loss_se, e.recon, e.recon_se, e.total, e.total_se, e.unit, e.eval_seed, e.receiver_floor"
    "  FROM eval e"
    "  JOIN (SELECT run, split, n, MAX(ckpt_step) AS ckpt_step FROM eval GROUP BY run, split, n) l"
    "    ON l.run = e.run AND l.split = e.split AND l.n = e.n AND l.ckpt_step = e.ckpt_step"
    "  JOIN run r ON r.key = e.run;"
    "CREATE VIEW eval_nats_image AS SELECT * FROM eval_latest WHERE unit = 'nats/image';"
    "CREATE VIEW eval_bits_dim AS SELECT * FROM eval_latest WHERE unit = 'bits/dim';"
    "CREATE VIEW eval_bits_char AS SELECT * FROM eval_latest WHERE unit = 'bits/char';",
    /* 2 -> 3: runs imported from PyTorch checkpoints (bfn import-torch). */
    "CREATE TABLE run_import("
    "  run TEXT NOT NULL PRIMARY KEY REFERENCES run(key) ON DELETE CASCADE,"
    "  source_name TEXT NOT NULL,"
    "  source_sha256 TEXT NOT NULL,"
    "  official_class TEXT NOT NULL,"
    "  mapping TEXT NOT NULL,"
    "  provenance TEXT NOT NULL DEFAULT 'imported',"
    "  optimiser_state TEXT NOT NULL DEFAULT 'absent',"
    "  imported TEXT NOT NULL) WITHOUT ROWID;",
    /* 3 -> 4: the process that owns (trains) a run: a 'running' run whose
     * owner is gone is shown and taken over as interrupted. */
    "ALTER TABLE run ADD COLUMN owner_host TEXT;"
    "ALTER TABLE run ADD COLUMN owner_pid INTEGER;"
    "ALTER TABLE run ADD COLUMN owner_start TEXT;",
};
_Static_assert(sizeof migrations / sizeof migrations[0] == BFN_DB_SCHEMA_VERSION,
               "one migration per schema version");

/* Cached prepared statements, prepared on first use. */
enum {
    ST_BEGIN, ST_COMMIT, ST_ROLLBACK,
    ST_RUN_INSERT, ST_RUN_STATUS, ST_RUN_SET_STATUS, ST_RUN_HEARTBEAT,
    ST_METRIC, ST_METRIC_TRUNCATE, ST_EVAL, ST_CURVE, ST_CHECKPOINT,
    ST_SYNC_FULL, ST_SYNC_NORMAL, ST_RUN_OWNER, ST_RUN_CLAIM, ST_RUN_RUNNING, ST_CKPT_LATEST,
    ST_COUNT
};
static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_RUN_INSERT] =
        "INSERT OR IGNORE INTO run(key, experiment, profile, config, seed, git_commit, git_dirty,"
        " lib_versions, host, threads, status, config_json)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'created', ?11)",
    [ST_RUN_STATUS] = "SELECT status FROM run WHERE key = ?1",
    [ST_RUN_SET_STATUS] =
        "UPDATE run SET status = ?2, exit_reason = ?3, heartbeat = " SQL_NOW ","
        " started = CASE WHEN ?2 = 'running' THEN COALESCE(started, " SQL_NOW ") ELSE started END,"
        " finished = CASE WHEN ?2 IN ('finished', 'diverged', 'failed') THEN " SQL_NOW " ELSE NULL END"
        " WHERE key = ?1",
    [ST_RUN_HEARTBEAT] = "UPDATE run SET heartbeat = " SQL_NOW " WHERE key = ?1",
    [ST_METRIC] = "INSERT OR REPLACE INTO metric(run, name, step, value, kind) VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_METRIC_TRUNCATE] = "DELETE FROM metric WHERE run = ?1 AND step > ?2",
    [ST_EVAL] =
        "INSERT OR REPLACE INTO eval(run, ckpt_step, split, n, repeats, loss, loss_se, recon, recon_se,"
        " total, total_se, unit, scale, eval_seed, receiver_floor, ckpt_sha256)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    [ST_CURVE] =
        "INSERT OR REPLACE INTO curve(run, ckpt_step, name, bin, t, value, se, eval_seed, receiver_floor)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_CHECKPOINT] =
        "INSERT OR REPLACE INTO checkpoint(run, step, path, sha256, kind) VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_SYNC_FULL] = "PRAGMA synchronous=FULL",
    [ST_SYNC_NORMAL] = "PRAGMA synchronous=NORMAL",
    [ST_RUN_OWNER] = "SELECT status, owner_host, owner_pid, owner_start FROM run WHERE key = ?1",
    [ST_RUN_CLAIM] =
        "UPDATE run SET status = 'running', exit_reason = NULL, owner_host = ?2, owner_pid = ?3, owner_start = ?4,"
        " heartbeat = " SQL_NOW ", started = COALESCE(started, " SQL_NOW "), finished = NULL WHERE key = ?1",
    [ST_RUN_RUNNING] = "SELECT key, owner_host, owner_pid, owner_start FROM run WHERE status = 'running'",
    [ST_CKPT_LATEST] = "SELECT step, path FROM checkpoint WHERE run = ?1 AND kind = ?2 ORDER BY step DESC LIMIT 1",
};

/* One buffered metric row; key and name are indices into the interned
 * string table so buffering a row never allocates. */
typedef struct {
    int key, name;
    long step;
    double value;
} metric_row;

struct bfn_db {
    sqlite3 *h;
    char *path;
    int busy_ms;
    sqlite3_stmt *st[ST_COUNT];
    metric_row *rows;
    size_t n_rows, cap_rows;
    char **strs; /* interned run keys and metric names */
    int n_strs, cap_strs;
};

/* Record an SQLite failure as BFN_EDB naming the file; a busy/locked result
 * gets a message saying that another connection held the lock too long. */
static int db_fail(bfn_db *db, int rc, const char *what) {
    int prim = rc & 0xff;
    if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
        return bfn_error(BFN_EDB, "%s: %s: database is locked by another connection (gave up after %d ms)",
                         db->path, what, db->busy_ms);
    if (prim == SQLITE_NOTADB)
        return bfn_error(BFN_EDB, "%s: %s: not a SQLite database", db->path, what);
    return bfn_error(BFN_EDB, "%s: %s: %s", db->path, what, sqlite3_errmsg(db->h));
}

/* The cached statement `id`, prepared on first use (PERSISTENT: it lives as
 * long as the connection). */
static int get_stmt(bfn_db *db, int id, sqlite3_stmt **out) {
    if (!db->st[id]) {
        int rc = sqlite3_prepare_v3(db->h, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &db->st[id], NULL);
        if (rc != SQLITE_OK) return db_fail(db, rc, "preparing statement");
    }
    *out = db->st[id];
    return BFN_OK;
}

/* Step a statement that returns no rows, then reset it and clear its
 * bindings for the next use (also on failure, so no lock stays held). */
static int step_done(bfn_db *db, sqlite3_stmt *st, const char *what) {
    int rc = sqlite3_step(st);
    int ret = rc == SQLITE_DONE ? BFN_OK : db_fail(db, rc, what);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

/* Run the cached statement `id` with no parameters (BEGIN/COMMIT/ROLLBACK). */
static int exec_cached(bfn_db *db, int id, const char *what) {
    sqlite3_stmt *st = NULL;
    BFN_TRY(get_stmt(db, id, &st));
    return step_done(db, st, what);
}

/* Roll back after a failed write; the failure message is kept. */
static void tx_rollback(bfn_db *db) {
    if (sqlite3_get_autocommit(db->h)) return; /* SQLite already rolled back */
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", bfn_last_error());
    exec_cached(db, ST_ROLLBACK, "rollback");
    bfn_error(BFN_EDB, "%s", saved);
}

static int tx_begin(bfn_db *db) { return exec_cached(db, ST_BEGIN, "begin write transaction"); }

/* Commit, or roll back if the commit fails. */
static int tx_commit(bfn_db *db) {
    int rc = exec_cached(db, ST_COMMIT, "commit");
    if (rc != BFN_OK) tx_rollback(db);
    return rc;
}

/* Finish a single-statement write: commit if it succeeded, else roll back. */
static int tx_end(bfn_db *db, int rc) {
    if (rc != BFN_OK) {
        tx_rollback(db);
        return rc;
    }
    return tx_commit(db);
}

/* synchronous=FULL (full = 1) or back to NORMAL, outside any transaction:
 * FULL makes a WAL commit durable before it returns. */
static int set_sync(bfn_db *db, int full) {
    return exec_cached(db, full ? ST_SYNC_FULL : ST_SYNC_NORMAL, "setting synchronous");
}

/* Finish a durable write: tx_end, then back to synchronous=NORMAL. */
static int tx_end_durable(bfn_db *db, int rc) {
    rc = tx_end(db, rc);
    int rs = set_sync(db, 0);
    return rc != BFN_OK ? rc : rs;
}

/* Begin a durable write: synchronous=FULL, then BEGIN IMMEDIATE. */
static int tx_begin_durable(bfn_db *db) {
    BFN_TRY(set_sync(db, 1));
    int rc = tx_begin(db);
    if (rc != BFN_OK) set_sync(db, 0);
    return rc;
}

/* Execute SQL text with no results (schema work at open time). */
static int exec_sql(bfn_db *db, const char *sql, const char *what) {
    char *msg = NULL;
    int rc = sqlite3_exec(db->h, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK) return BFN_OK;
    int prim = rc & 0xff;
    int ret;
    if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED || prim == SQLITE_NOTADB)
        ret = db_fail(db, rc, what);
    else
        ret = bfn_error(BFN_EDB, "%s: %s: %s", db->path, what, msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return ret;
}

/* Run a one-integer query (e.g. SELECT count(*)); *found is 1 if a row came back. */
static int query_int(bfn_db *db, const char *sql, long *value, int *found, const char *what) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->h, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return db_fail(db, rc, what);
    *found = 0;
    int ret = BFN_OK;
    int rows = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows++ == 0) *value = (long)sqlite3_column_int64(st, 0);
    }
    if (rc != SQLITE_DONE) ret = db_fail(db, rc, what);
    else if (rows > 1) ret = bfn_error(BFN_EDB, "%s: %s: %d rows where one was expected", db->path, what, rows);
    else *found = rows;
    sqlite3_finalize(st);
    return ret;
}

/* Bring the schema to BFN_DB_SCHEMA_VERSION inside one IMMEDIATE
 * transaction (so two processes opening a new file do not both create it):
 * a file with no tables is version 0; a file with tables but no
 * schema_version belongs to another program; a newer version is refused. */
static int schema_check_migrate(bfn_db *db) {
    BFN_TRY(tx_begin(db));
    long n_tables = 0, version = 0;
    int found = 0;
    int rc = query_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
                       &n_tables, &found, "reading the schema");
    if (rc == BFN_OK && n_tables == 1) {
        rc = query_int(db, "SELECT version FROM schema_version", &version, &found, "reading schema_version");
        if (rc == BFN_OK && !found)
            rc = bfn_error(BFN_EDB, "%s: schema_version table is empty (damaged database?)", db->path);
    } else if (rc == BFN_OK) {
        long n_other = 0;
        rc = query_int(db, "SELECT count(*) FROM sqlite_master", &n_other, &found, "reading the schema");
        if (rc == BFN_OK && n_other > 0)
            rc = bfn_error(BFN_EDB, "%s: a SQLite database of another program (no schema_version table)",
                           db->path);
    }
    if (rc == BFN_OK && version > BFN_DB_SCHEMA_VERSION)
        rc = bfn_error(BFN_EDB, "%s: schema version %ld is newer than this program's %d; upgrade bfn-harness",
                       db->path, version, BFN_DB_SCHEMA_VERSION);
    if (rc == BFN_OK && version < 0)
        rc = bfn_error(BFN_EDB, "%s: invalid schema version %ld", db->path, version);
    for (long v = version; rc == BFN_OK && v < BFN_DB_SCHEMA_VERSION; v++) {
        char what[64];
        snprintf(what, sizeof what, "migrating schema %ld -> %ld", v, v + 1);
        rc = exec_sql(db, migrations[v], what);
    }
    if (rc == BFN_OK && version < BFN_DB_SCHEMA_VERSION) {
        char sql[128];
        snprintf(sql, sizeof sql, "DELETE FROM schema_version; INSERT INTO schema_version(version) VALUES (%d);",
                 BFN_DB_SCHEMA_VERSION);
        rc = exec_sql(db, sql, "writing schema_version");
    }
    return tx_end(db, rc);
}

/* Busy timeout in ms: 10 s, or BFN_DB_BUSY_TIMEOUT_MS if set to an integer >= 0. */
static int busy_timeout_ms(void) {
    const char *s = getenv("BFN_DB_BUSY_TIMEOUT_MS");
    if (!s || !*s) return DEFAULT_BUSY_MS;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 0 || v > 3600 * 1000) return DEFAULT_BUSY_MS;
    return (int)v;
}

/* Open (creating if needed) the database at path, set the connection
 * pragmas and create or migrate the schema. On failure *out is NULL and the
 * message names the file. */
int bfn_db_open(const char *path, bfn_db **out) {
    *out = NULL;
    if (!path || !*path) return bfn_error(BFN_EINVAL, "database path is empty");
    bfn_db *db = bfn_xcalloc(1, sizeof *db);
    db->path = bfn_xstrdup(path);
    db->busy_ms = busy_timeout_ms();
    int rc = sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        int ret = bfn_error(BFN_EDB, "%s: cannot open database: %s", path,
                            db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
        bfn_db_close(db);
        return ret;
    }
    sqlite3_extended_result_codes(db->h, 1);
    sqlite3_busy_timeout(db->h, db->busy_ms);
    /* journal_mode=WAL is the first statement that reads the file, so a
     * non-database file fails here with SQLITE_NOTADB. Switching a new file
     * to WAL needs an exclusive lock, and SQLite returns SQLITE_BUSY at once
     * (without the busy handler) while another process is doing the same, as
     * the parallel runs of a sweep do on a fresh database: retry for up to the
     * busy timeout. */
    for (int waited = 0;; waited += 5) {
        rc = sqlite3_exec(db->h, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
        if ((rc & 0xff) != SQLITE_BUSY || waited >= db->busy_ms) break;
        usleep(5000);
    }
    int ret = rc == SQLITE_OK ? BFN_OK : db_fail(db, rc, "setting WAL mode");
    if (ret == BFN_OK) ret = exec_sql(db, "PRAGMA foreign_keys=ON", "enabling foreign keys");
    if (ret == BFN_OK) ret = exec_sql(db, "PRAGMA synchronous=NORMAL", "setting synchronous=NORMAL");
    if (ret == BFN_OK) ret = schema_check_migrate(db);
    if (ret == BFN_OK) ret = bfn_q_create_views(db->h, path);
    if (ret != BFN_OK) {
        bfn_db_close(db);
        return ret;
    }
    *out = db;
    return BFN_OK;
}

/* Flush buffered metrics (a failure is only recorded with bfn_error: call
 * bfn_db_flush first to see it), finalize statements and close. */
void bfn_db_close(bfn_db *db) {
    if (!db) return;
    if (db->h && db->n_rows) bfn_db_flush(db);
    for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(db->st[i]);
    if (db->h) sqlite3_close(db->h);
    for (int i = 0; i < db->n_strs; i++) free(db->strs[i]);
    free(db->strs);
    free(db->rows);
    free(db->path);
    free(db);
}

struct sqlite3 *bfn_db_handle(bfn_db *db) { return db->h; }

const char *bfn_db_sqlite_version(void) { return sqlite3_libversion(); }

/* Copy a text column (or "") into buf of size n, truncating. */
static void copy_text(char *buf, int n, const unsigned char *s) {
    if (!buf || n <= 0) return;
    snprintf(buf, (size_t)n, "%s", s ? (const char *)s : "");
}

/* Read the status of `key` with the cached statement into status ("" if
 * there is no such run). Must be called inside or outside a transaction. */
static int read_status(bfn_db *db, const char *key, char *status, int n) {
    sqlite3_stmt *st = NULL;
    BFN_TRY(get_stmt(db, ST_RUN_STATUS, &st));
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int ret = BFN_OK;
    if (rc == SQLITE_ROW) copy_text(status, n, sqlite3_column_text(st, 0));
    else if (rc == SQLITE_DONE) copy_text(status, n, NULL);
    else ret = db_fail(db, rc, "reading run status");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

/* Insert the run with status 'created' unless it exists, then read its
 * status, both in one write transaction. */
/* Parameters 1-10 of a run row: key, experiment, profile, config, seed,
 * git commit, dirty flag, library versions, host, threads (registering and
 * importing a run write the same columns). */
static void bind_run_info(sqlite3_stmt *st, const bfn_run_info *info) {
    sqlite3_bind_text(st, 1, info->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, info->experiment, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, info->profile, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, info->config, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, info->seed);
    sqlite3_bind_text(st, 6, info->git_commit, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 7, info->git_dirty);
    sqlite3_bind_text(st, 8, info->lib_versions, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, info->host, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 10, info->threads);
}

int bfn_db_run_register(bfn_db *db, const bfn_run_info *info, char *status, int n) {
    if (!info->key || !*info->key || !info->experiment || !info->profile || !info->config)
        return bfn_error(BFN_EINVAL, "%s: run needs key, experiment, profile and config", db->path);
    sqlite3_stmt *st = NULL;
    BFN_TRY(get_stmt(db, ST_RUN_INSERT, &st));
    BFN_TRY(tx_begin(db));
    bind_run_info(st, info);
    sqlite3_bind_text(st, 11, info->config_json, -1, SQLITE_STATIC);
    int rc = step_done(db, st, "registering run");
    if (rc == BFN_OK) rc = read_status(db, info->key, status, n);
    return tx_end(db, rc);
}

int bfn_db_run_status(bfn_db *db, const char *key, char *status, int n) {
    return read_status(db, key, status, n);
}

/* Set the status and exit reason (NULL clears it) and touch the heartbeat;
 * 'running' sets `started` the first time, finished/diverged/failed set
 * `finished`. An unknown status is BFN_EINVAL, an unknown run BFN_EDB. */
int bfn_db_run_set_status(bfn_db *db, const char *key, const char *status, const char *reason) {
    static const char *const known[] = {"created", "running", "finished", "diverged", "failed", "interrupted"};
    int ok = 0;
    for (size_t i = 0; status && i < sizeof known / sizeof known[0]; i++) ok |= strcmp(status, known[i]) == 0;
    if (!ok) return bfn_error(BFN_EINVAL, "%s: unknown run status '%s'", db->path, status ? status : "(null)");
    sqlite3_stmt *st = NULL;
    BFN_TRY(get_stmt(db, ST_RUN_SET_STATUS, &st));
    BFN_TRY(tx_begin_durable(db));
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
    int rc = step_done(db, st, "setting run status");
    if (rc == BFN_OK && sqlite3_changes(db->h) != 1)
        rc = bfn_error(BFN_EDB, "%s: setting status of run %s: no such run", db->path, key);
    return tx_end_durable(db, rc);
}

int bfn_db_run_heartbeat(bfn_db *db, const char *key) {
    sqlite3_stmt *st = NULL;
    BFN_TRY(get_stmt(db, ST_RUN_HEARTBEAT, &st));
    BFN_TRY(tx_begin(db));
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = step_done(db, st, "heartbeat");
    if (rc == BFN_OK && sqlite3_changes(db->h) != 1)
        rc = bfn_error(BFN_EDB, "%s: heartbeat of run %s: no such run", db->path, key);
    return tx_end(db, rc);
}

/* Index of s in the interned string table, adding it if new. Searched from
 * the end: a trainer logs a handful of names, the latest most often. */
static int intern(bfn_db *db, const char *s) {
    for (int i = db->n_strs - 1; i >= 0; i--)
        if (strcmp(db->strs[i], s) == 0) return i;
    if (db->n_strs == db->cap_strs) {
        int cap = db->cap_strs ? 2 * db->cap_strs : 16;
        char **p = realloc(db->strs, (size_t)cap * sizeof *p);
        if (!p) return -1;
        db->strs = p;
        db->cap_strs = cap;
    }
    db->strs[db->n_strs] = bfn_xstrdup(s);
    return db->n_strs++;
}

/* Buffer one metric row; nothing touches the database until bfn_db_flush. */
int bfn_db_metric(bfn_db *db, const char *key, const char *name, long step, double value) {
    if (!key || !name) return bfn_error(BFN_EINVAL, "%s: metric needs a run key and a name", db->path);
    if (db->n_rows == db->cap_rows) {
        size_t cap = db->cap_rows ? 2 * db->cap_rows : 256;
        metric_row *p = realloc(db->rows, cap * sizeof *p);
        if (!p) return bfn_error(BFN_ENOMEM, "%s: out of memory buffering metrics", db->path);
        db->rows = p;
        db->cap_rows = cap;
    }
    int k = intern(db, key), nm = intern(db, name);
    if (k < 0 || nm < 0) return bfn_error(BFN_ENOMEM, "%s: out of memory buffering metrics", db->path);
    db->rows[db->n_rows++] = (metric_row){.key = k, .name = nm, .step = step, .value = value};
    return BFN_OK;
}

/* kind column: 0 finite, 1 NaN, 2 +inf, 3 -inf. */
static int metric_kind(double v) {
    if (isnan(v)) return 1;
    if (isinf(v)) return v > 0 ? 2 : 3;
    return 0;
}

/* Write all buffered rows in one transaction (INSERT OR REPLACE: a resumed
 * run re-logs steps after a truncation). On failure the transaction is
 * rolled back and the rows stay buffered. */
int bfn_db_flush(bfn_db *db) {
    if (db->n_rows == 0) return BFN_OK;
    sqlite3_stmt *st = NULL;
    BFN_TRY(get_stmt(db, ST_METRIC, &st));
    BFN_TRY(tx_begin(db));
    int rc = BFN_OK;
    for (size_t i = 0; i < db->n_rows && rc == BFN_OK; i++) {
        const metric_row *r = &db->rows[i];
        int kind = metric_kind(r->value);
        sqlite3_bind_text(st, 1, db->strs[r->key], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, db->strs[r->name], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, r->step);
        if (kind == 0) sqlite3_bind_double(st, 4, r->value);
        else sqlite3_bind_null(st, 4);
        sqlite3_bind_int(st, 5, kind);
        rc = step_done(db, st, "writing metrics");
    }
    rc = tx_end(db, rc);
    if (rc == BFN_OK) db->n_rows = 0;
    return rc;
}

/* Delete stored and buffered metrics of `key` with step > after. */
int bfn_db_metrics_truncate(bfn_db *db, const char *key, long after) {
    if (!key) return bfn_error(BFN_EINVAL, "%s: truncating metrics needs a run key", db->path);
    size_t kept = 0;
    for (size_t i = 0; i < db->n_rows; i++) {
        const metric_row *r = &db->rows[i];
        if (r->step > after && strcmp(db->strs[r->key], key) == 0) continue;
        db->rows[kept++] = *r;
    }
    db->n_rows = kept;
    sqlite3_stmt *st = NULL;
    BFN_TRY(get_stmt(db, ST_METRIC_TRUNCATE, &st));
    BFN_TRY(tx_begin(db));
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, after);
    return tx_end(db, step_done(db, st, "truncating metrics"));
}

/* Bind and step one eval row with the cached statement (no transaction). */
static int put_eval_row(bfn_db *db, sqlite3_stmt *st, const bfn_eval_row *row) {
    if (!row->key || !row->split) return bfn_error(BFN_EINVAL, "%s: eval row needs a run key and a split", db->path);
    sqlite3_bind_text(st, 1, row->key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, row->ckpt_step);
    sqlite3_bind_text(st, 3, row->split, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, row->n);
    sqlite3_bind_int(st, 5, row->repeats);
    sqlite3_bind_double(st, 6, row->loss);
    sqlite3_bind_double(st, 7, row->loss_se);
    sqlite3_bind_double(st, 8, row->recon);
    sqlite3_bind_double(st, 9, row->recon_se);
    sqlite3_bind_double(st, 10, row->total);
    sqlite3_bind_double(st, 11, row->total_se);
    sqlite3_bind_text(st, 12, row->unit, -1, SQLITE_STATIC);
    if (row->scale > 0) sqlite3_bind_double(st, 13, row->scale);
    else sqlite3_bind_null(st, 13);
    sqlite3_bind_int64(st, 14, row->eval_seed);
    sqlite3_bind_text(st, 15, row->receiver_floor, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 16, row->ckpt_sha256, -1, SQLITE_STATIC);
    return step_done(db, st, "writing eval row");
}

/* Bind and step one curve point with the cached statement (no transaction). */
static int put_curve_point(bfn_db *db, sqlite3_stmt *st, const char *key, long ckpt_step, const char *name, int bin,
                           double t, double value, double se, long eval_seed, const char *receiver_floor) {
    if (!key || !name) return bfn_error(BFN_EINVAL, "%s: curve row needs a run key and a name", db->path);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ckpt_step);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, bin);
    sqlite3_bind_double(st, 5, t);
    sqlite3_bind_double(st, 6, value);
    sqlite3_bind_double(st, 7, se);
    sqlite3_bind_int64(st, 8, eval_seed);
    sqlite3_bind_text(st, 9, receiver_floor, -1, SQLITE_STATIC);
    return step_done(db, st, "writing curve row");
}

/* Insert or replace one evaluation row keyed by (run, ckpt_step, split, n). */
int bfn_db_eval(bfn_db *db, const bfn_eval_row *row) {
    sqlite3_stmt *st = NULL;
    BFN_TRY(get_stmt(db, ST_EVAL, &st));
    BFN_TRY(tx_begin(db));
    return tx_end(db, put_eval_row(db, st, row));
}

/* Insert or replace one point of a loss-against-time curve. */
int bfn_db_curve(bfn_db *db, const char *key, long ckpt_step, const char *name, int bin, double t,
                 double value, double se, long eval_seed, const char *receiver_floor) {
    sqlite3_stmt *st = NULL;
    BFN_TRY(get_stmt(db, ST_CURVE, &st));
    BFN_TRY(tx_begin(db));
    return tx_end(db, put_curve_point(db, st, key, ckpt_step, name, bin, t, value, se, eval_seed, receiver_floor));
}

/* A whole evaluation in one transaction (see db.h). */
int bfn_db_eval_commit(bfn_db *db, const char *key, long ckpt_step, const bfn_eval_row *rows, int n_rows,
                       const bfn_curve_point *curve, int n_curve) {
    sqlite3_stmt *se = NULL, *sc = NULL;
    BFN_TRY(get_stmt(db, ST_EVAL, &se));
    BFN_TRY(get_stmt(db, ST_CURVE, &sc));
    BFN_TRY(tx_begin(db));
    int rc = BFN_OK;
    for (int i = 0; i < n_rows && rc == BFN_OK; i++) rc = put_eval_row(db, se, &rows[i]);
    for (int i = 0; i < n_curve && rc == BFN_OK; i++)
        rc = put_curve_point(db, sc, key, ckpt_step, curve[i].name, curve[i].bin, curve[i].t, curve[i].value,
                             curve[i].se, curve[i].eval_seed, curve[i].receiver_floor);
    return tx_end(db, rc);
}

/* Record a written checkpoint file (insert or replace by run, step, kind). */
int bfn_db_checkpoint(bfn_db *db, const char *key, long step, const char *path, const char *sha256,
                      const char *kind) {
    if (!key || !path || !kind)
        return bfn_error(BFN_EINVAL, "%s: checkpoint row needs a run key, path and kind", db->path);
    sqlite3_stmt *st = NULL;
    BFN_TRY(get_stmt(db, ST_CHECKPOINT, &st));
    BFN_TRY(tx_begin_durable(db));
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, step);
    sqlite3_bind_text(st, 3, path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, sha256, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, kind, -1, SQLITE_STATIC);
    return tx_end_durable(db, step_done(db, st, "writing checkpoint row"));
}

/* Owner columns of the current row of st (columns 1..3) into o. */
static void owner_from_row(sqlite3_stmt *st, bfn_owner *o) {
    memset(o, 0, sizeof *o);
    copy_text(o->host, (int)sizeof o->host, sqlite3_column_text(st, 1));
    o->pid = (long)sqlite3_column_int64(st, 2);
    copy_text(o->start, (int)sizeof o->start, sqlite3_column_text(st, 3));
}

/* Status and owner of key (status "" if there is no such run). */
static int read_owner(bfn_db *db, const char *key, char *status, int n, bfn_owner *o) {
    sqlite3_stmt *st = NULL;
    BFN_TRY(get_stmt(db, ST_RUN_OWNER, &st));
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), ret = BFN_OK;
    memset(o, 0, sizeof *o);
    copy_text(status, n, NULL);
    if (rc == SQLITE_ROW) {
        copy_text(status, n, sqlite3_column_text(st, 0));
        owner_from_row(st, o);
    } else if (rc != SQLITE_DONE) {
        ret = db_fail(db, rc, "reading run owner");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

int bfn_db_run_owner(bfn_db *db, const char *key, bfn_owner *owner) {
    char status[32];
    return read_owner(db, key, status, sizeof status, owner);
}

static int same_owner(const bfn_owner *a, const bfn_owner *b) {
    return strcmp(a->host, b->host) == 0 && a->pid == b->pid && strcmp(a->start, b->start) == 0;
}

int bfn_db_checkpoint_latest(bfn_db *db, const char *key, const char *kind, long *step, char *path, int n) {
    sqlite3_stmt *st = NULL;
    BFN_TRY(get_stmt(db, ST_CKPT_LATEST, &st));
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), ret = BFN_OK;
    *step = -1;
    copy_text(path, n, NULL);
    if (rc == SQLITE_ROW) {
        *step = (long)sqlite3_column_int64(st, 0);
        copy_text(path, n, sqlite3_column_text(st, 1));
    } else if (rc != SQLITE_DONE) {
        ret = db_fail(db, rc, "reading checkpoints");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

int bfn_db_run_claim(bfn_db *db, const char *key, const bfn_owner *self, bfn_owner *holder, char *status, int n,
                     int take_finished) {
    sqlite3_stmt *st = NULL;
    BFN_TRY(get_stmt(db, ST_RUN_CLAIM, &st));
    BFN_TRY(tx_begin_durable(db));
    int rc = read_owner(db, key, status, n, holder);
    if (rc == BFN_OK && !status[0]) rc = bfn_error(BFN_EDB, "%s: claiming run %s: no such run", db->path, key);
    if (rc == BFN_OK && strcmp(status, "running") == 0 && holder->pid > 0 && !same_owner(holder, self) &&
        bfn_owner_alive(holder))
        rc = bfn_error(BFN_EBUSY, "run %s is being trained by pid %ld on %s", key, holder->pid, holder->host);
    if (rc == BFN_OK && (take_finished || strcmp(status, "finished") != 0)) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, self->host, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, self->pid);
        sqlite3_bind_text(st, 4, self->start, -1, SQLITE_STATIC);
        rc = step_done(db, st, "claiming run");
    }
    return tx_end_durable(db, rc);
}

int bfn_db_reap_stale(bfn_db *db, int *n_marked) {
    *n_marked = 0;
    sqlite3_stmt *st = NULL;
    BFN_TRY(get_stmt(db, ST_RUN_RUNNING, &st));
    /* Collect first (no write while the read statement is open). */
    char (*keys)[32] = NULL;
    char (*why)[300] = NULL;
    int n = 0, cap = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        bfn_owner o;
        owner_from_row(st, &o);
        if (o.pid <= 0 || bfn_owner_alive(&o)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            keys = realloc(keys, (size_t)cap * sizeof *keys);
            why = realloc(why, (size_t)cap * sizeof *why);
            if (!keys || !why) abort();
        }
        copy_text(keys[n], (int)sizeof keys[n], sqlite3_column_text(st, 0));
        snprintf(why[n], sizeof why[n], "owner process %ld on %s is gone (killed or lost its terminal); "
                 "run again to resume", o.pid, o.host);
        n++;
    }
    int ret = rc == SQLITE_DONE ? BFN_OK : db_fail(db, rc, "listing running runs");
    sqlite3_reset(st);
    for (int i = 0; i < n && ret == BFN_OK; i++) {
        ret = bfn_db_run_set_status(db, keys[i], "interrupted", why[i]);
        if (ret == BFN_OK) (*n_marked)++;
    }
    free(keys);
    free(why);
    return ret;
}

/* Run one write statement with text parameters (NULL binds NULL) in its own
 * transaction; `what` names it in errors. Returns the number of changed rows
 * in *changes if non-NULL. */
static int write_texts(bfn_db *db, const char *sql, const char *what, int n, const char *const *vals, int *changes) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->h, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return db_fail(db, rc, what);
    rc = tx_begin(db);
    if (rc != BFN_OK) {
        sqlite3_finalize(st);
        return rc;
    }
    for (int i = 0; i < n; i++) sqlite3_bind_text(st, i + 1, vals[i], -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    int ret = rc == SQLITE_DONE ? BFN_OK : db_fail(db, rc, what);
    if (changes) *changes = sqlite3_changes(db->h);
    sqlite3_finalize(st);
    return tx_end(db, ret);
}

int bfn_db_newest_finished(bfn_db *db, const char *experiment, const char *profile, char key[17]) {
    /* The one definition of "newest finished run" (names: the view run_name). */
    const char *sql = "SELECT key FROM run WHERE key IN (SELECT run FROM run_name WHERE name = ?1) "
                      "AND status = 'finished' AND (?2 IS NULL OR profile = ?2) ORDER BY finished DESC, key LIMIT 1";
    key[0] = '\0';
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->h, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return db_fail(db, rc, "finding the newest finished run");
    sqlite3_bind_text(st, 1, experiment, -1, SQLITE_STATIC);
    if (profile) sqlite3_bind_text(st, 2, profile, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) snprintf(key, 17, "%s", (const char *)sqlite3_column_text(st, 0));
    int ret = rc == SQLITE_ROW || rc == SQLITE_DONE ? BFN_OK : db_fail(db, rc, "finding the newest finished run");
    sqlite3_finalize(st);
    return ret;
}

int bfn_db_run_update_config(bfn_db *db, const char *key, const char *config, const char *config_json) {
    const char *v[3] = {key, config, config_json};
    int changes = 0;
    BFN_TRY(write_texts(db, "UPDATE run SET config = ?2, config_json = ?3 WHERE key = ?1", "updating run config", 3,
                        v, &changes));
    if (changes != 1) return bfn_error(BFN_EDB, "%s: updating config of run %s: no such run", db->path, key);
    return BFN_OK;
}

int bfn_db_run_history(bfn_db *db, const char *key, const char *event, const char *detail) {
    const char *v[3] = {key, event, detail};
    return write_texts(db, "INSERT INTO run_history(run, at, event, detail) VALUES (?1, " SQL_NOW ", ?2, ?3)",
                       "writing run history", 3, v, NULL);
}

int bfn_db_run_tag(bfn_db *db, const char *key, const char *tag, int remove) {
    const char *v[2] = {key, tag};
    return write_texts(db, remove ? "DELETE FROM run_tag WHERE run = ?1 AND tag = ?2"
                                  : "INSERT OR IGNORE INTO run_tag(run, tag) VALUES (?1, ?2)",
                       "writing run tag", 2, v, NULL);
}

int bfn_db_run_note(bfn_db *db, const char *key, const char *note) {
    const char *v[2] = {key, note};
    return write_texts(db, "INSERT INTO run_note(run, at, note) VALUES (?1, " SQL_NOW ", ?2)", "writing run note", 2,
                       v, NULL);
}

int bfn_db_run_delete(bfn_db *db, const char *key) {
    const char *v[1] = {key};
    int changes = 0;
    BFN_TRY(write_texts(db, "DELETE FROM run WHERE key = ?1", "deleting run", 1, v, &changes));
    if (changes != 1) return bfn_error(BFN_EDB, "%s: deleting run %s: no such run", db->path, key);
    return BFN_OK;
}

/* Register an imported run in one transaction: the run (status finished,
 * exit_reason naming the source), its checkpoint row and its run_import
 * row. An existing run of that key is refused unless replace is set, in
 * which case it and all its rows (metrics, evaluations, curves) are
 * deleted first: they describe other weights. */
int bfn_db_run_import(bfn_db *db, const bfn_run_info *info, const bfn_import_row *imp, const char *ckpt_path,
                      const char *ckpt_sha256, int replace) {
    BFN_TRY(tx_begin(db));
    const char *sql[4] = {
        "DELETE FROM run WHERE key = ?1",
        "INSERT INTO run(key, experiment, profile, config, seed, git_commit, git_dirty, lib_versions, host, threads,"
        " status, exit_reason, started, heartbeat, finished) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
        " 'finished', ?11, " SQL_NOW ", " SQL_NOW ", " SQL_NOW ")",
        "INSERT INTO checkpoint(run, step, path, sha256, kind) VALUES (?1, 0, ?2, ?3, 'last')",
        "INSERT INTO run_import(run, source_name, source_sha256, official_class, mapping, imported)"
        " VALUES (?1, ?2, ?3, ?4, ?5, " SQL_NOW ")",
    };
    char reason[512];
    snprintf(reason, sizeof reason, "imported from %s (sha256 %.12s..., mapping %s); optimiser state absent",
             imp->source_name, imp->source_sha256, imp->mapping);
    int rc = BFN_OK;
    long exists = 0;
    int found = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->h, "SELECT count(*) FROM run WHERE key = ?1", -1, &st, NULL) != SQLITE_OK)
        rc = db_fail(db, sqlite3_errcode(db->h), "checking for the run");
    if (rc == BFN_OK) {
        sqlite3_bind_text(st, 1, info->key, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) exists = sqlite3_column_int64(st, 0), found = 1;
        if (!found) rc = db_fail(db, sqlite3_errcode(db->h), "checking for the run");
    }
    sqlite3_finalize(st);
    if (rc == BFN_OK && exists && !replace)
        rc = bfn_error(BFN_EINVAL, "%s: run %s already exists; --force replaces it (and deletes its results) with the "
                       "imported weights", db->path, info->key);
    for (int q = replace ? 0 : 1; q < 4 && rc == BFN_OK; q++) {
        st = NULL;
        int e = sqlite3_prepare_v2(db->h, sql[q], -1, &st, NULL);
        if (e != SQLITE_OK) {
            rc = db_fail(db, e, "preparing the import");
            break;
        }
        sqlite3_bind_text(st, 1, info->key, -1, SQLITE_STATIC);
        if (q == 1) {
            bind_run_info(st, info);
            sqlite3_bind_text(st, 11, reason, -1, SQLITE_TRANSIENT);
        } else if (q == 2) {
            sqlite3_bind_text(st, 2, ckpt_path, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, ckpt_sha256, -1, SQLITE_STATIC);
        } else if (q == 3) {
            sqlite3_bind_text(st, 2, imp->source_name, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, imp->source_sha256, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, imp->official_class, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 5, imp->mapping, -1, SQLITE_STATIC);
        }
        e = sqlite3_step(st);
        if (e != SQLITE_DONE) rc = db_fail(db, e, "registering the imported run");
        sqlite3_finalize(st);
    }
    return tx_end(db, rc);
}

/* sha256 of the file run `key` was imported from ("" if not imported). */
int bfn_db_import_sha256(bfn_db *db, const char *key, char *out, int n) {
    out[0] = '\0';
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->h, "SELECT source_sha256 FROM run_import WHERE run = ?1", -1, &st, NULL);
    if (rc != SQLITE_OK) return db_fail(db, rc, "reading run_import");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) snprintf(out, (size_t)n, "%s", (const char *)sqlite3_column_text(st, 0));
    int ret = rc == SQLITE_ROW || rc == SQLITE_DONE ? BFN_OK : db_fail(db, rc, "reading run_import");
    sqlite3_finalize(st);
    return ret;
}
