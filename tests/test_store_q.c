/* test_store_q.c: the reading queries of store/ (runs_q, evals_q, metrics_q,
 * named_q) on a small database whose runs differ in exactly what each query
 * selects on (name or alias, profile, status, evaluated, checkpoint step),
 * so a query returning a wrong run or a stale evaluation fails a test. */
#include "testutil.h"

#include <sqlite3.h>

#include "store/db.h"
#include "store/evals_q.h"
#include "store/metrics_q.h"
#include "store/named_q.h"
#include "store/runs_q.h"
#include "util/err.h"

/* k1: mnist/small finished, evaluated at steps 10 and 20 (test) and 30 (val only);
 * k2: mnist/small finished, never evaluated;
 * k3: other/small finished, alias 'mnist', evaluated;
 * k4: mnist/smoke, created (not finished). */
static bfn_db *open_fixture(void) {
    char path[300];
    snprintf(path, sizeof path, "%s/q.db", test_tmpdir());
    bfn_db *db = NULL;
    assert_int_equal(bfn_db_open(path, &db), BFN_OK);
    bfn_run_info r = {.key = "k1", .experiment = "mnist", .profile = "small",
                      .config = "train.seed = 7\ndata.dataset = x = y\n", .seed = 7, .threads = 1};
    char status[32];
    assert_int_equal(bfn_db_run_register(db, &r, status, sizeof status), BFN_OK);
    r.key = "k2";
    r.config = "train.seed = 8\n";
    assert_int_equal(bfn_db_run_register(db, &r, status, sizeof status), BFN_OK);
    r.key = "k3";
    r.experiment = "other";
    assert_int_equal(bfn_db_run_register(db, &r, status, sizeof status), BFN_OK);
    r.key = "k4";
    r.experiment = "mnist";
    r.profile = "smoke";
    assert_int_equal(bfn_db_run_register(db, &r, status, sizeof status), BFN_OK);
    for (int i = 1; i <= 3; i++) {
        char k[4];
        snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(bfn_db_run_set_status(db, k, "finished", "done"), BFN_OK);
    }
    assert_int_equal(bfn_db_run_history(db, "k3", "alias", "mnist"), BFN_OK);
    bfn_eval_row e = {.key = "k1", .ckpt_step = 10, .split = "test", .n = 0, .repeats = 2, .total = 5,
                      .total_se = 0.5, .unit = "nats/image", .eval_seed = 1, .receiver_floor = "official",
                      .ckpt_sha256 = "aa"};
    assert_int_equal(bfn_db_eval(db, &e), BFN_OK);
    e.n = 10, e.total = 6;
    assert_int_equal(bfn_db_eval(db, &e), BFN_OK);
    e.ckpt_step = 20, e.n = 0, e.total = 3, e.ckpt_sha256 = "bb";
    assert_int_equal(bfn_db_eval(db, &e), BFN_OK);
    e.ckpt_step = 30, e.split = "val", e.total = 99; /* newest step, but not a test row */
    assert_int_equal(bfn_db_eval(db, &e), BFN_OK);
    e.key = "k3", e.ckpt_step = 5, e.split = "test", e.total = 4;
    assert_int_equal(bfn_db_eval(db, &e), BFN_OK);
    return db;
}

typedef struct {
    char keys[8][17];
    int n;
} key_list;

static int collect_key(void *ctx, const char *key, const char *profile, const char *config) {
    key_list *l = ctx;
    (void)profile, (void)config;
    if (l->n < 8) snprintf(l->keys[l->n++], 17, "%s", key);
    return BFN_OK;
}

static void test_runs_each_filters(void **state) {
    bfn_db *db = open_fixture();
    key_list l = {0};
    bfn_q_run_filter f = {"mnist", "small", 1, 1};
    assert_int_equal(bfn_q_runs_each(db, &f, collect_key, &l), BFN_OK);
    assert_int_equal(l.n, 2); /* k1 by name, k3 by alias; k2 not evaluated, k4 not small */
    assert_string_equal(l.keys[0], "k1");
    assert_string_equal(l.keys[1], "k3");
    bfn_q_run_filter finished = {NULL, NULL, 1, 0};
    memset(&l, 0, sizeof l);
    assert_int_equal(bfn_q_runs_each(db, &finished, collect_key, &l), BFN_OK);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.keys[2], "k3");
    bfn_q_run_filter smoke = {"mnist", "smoke", 0, 0};
    memset(&l, 0, sizeof l);
    assert_int_equal(bfn_q_runs_each(db, &smoke, collect_key, &l), BFN_OK);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.keys[0], "k4");
    bfn_db_close(db);
}

static void test_run_lookup(void **state) {
    bfn_db *db = open_fixture();
    char key[17];
    int m = -1;
    assert_int_equal(bfn_q_run_by_prefix(db, "k", key, &m), BFN_OK);
    assert_int_equal(m, 4);
    assert_int_equal(bfn_q_run_by_prefix(db, "k3", key, &m), BFN_OK);
    assert_int_equal(m, 1);
    assert_string_equal(key, "k3");
    assert_int_equal(bfn_q_run_by_prefix(db, "x", key, &m), BFN_OK);
    assert_int_equal(m, 0);
    int yes = -1;
    assert_int_equal(bfn_q_run_has_name(db, "k3", "mnist", &yes), BFN_OK);
    assert_int_equal(yes, 1);
    assert_int_equal(bfn_q_run_has_name(db, "k2", "other", &yes), BFN_OK);
    assert_int_equal(yes, 0);
    bfn_q_run_brief b;
    assert_int_equal(bfn_q_run_brief_of(db, "k1", &b), 1);
    assert_string_equal(b.profile, "small");
    assert_string_equal(b.status, "finished");
    assert_int_equal(b.evaluated, 1);
    assert_int_equal(bfn_q_run_brief_of(db, "k2", &b), 1);
    assert_int_equal(b.evaluated, 0);
    assert_int_equal(bfn_q_run_brief_of(db, "nope", &b), 0);
    char *text = NULL;
    assert_int_equal(bfn_q_run_config(db, "k2", &text), BFN_OK);
    assert_string_equal(text, "train.seed = 8\n");
    free(text);
    assert_int_equal(bfn_q_run_config(db, "nope", &text), BFN_OK);
    assert_null(text);
    /* The newest finished run of 'mnist' of smoke: none (k4 is not finished). */
    assert_int_equal(bfn_db_newest_finished(db, "mnist", "smoke", key), BFN_OK);
    assert_string_equal(key, "");
    bfn_db_close(db);
}

typedef struct {
    bfn_q_eval rows[8];
    int n;
} eval_list;

static int collect_eval(void *ctx, const bfn_q_eval *e) {
    eval_list *l = ctx;
    if (l->n < 8) l->rows[l->n] = *e, l->rows[l->n].unit = NULL, l->rows[l->n].receiver_floor = NULL, l->n++;
    return BFN_OK;
}

static void test_eval_queries(void **state) {
    bfn_db *db = open_fixture();
    eval_list l = {0};
    /* The newest test checkpoint is 20 (30 holds only a validation row). */
    assert_int_equal(bfn_q_test_evals_newest_ckpt(db, "k1", collect_eval, &l), BFN_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.rows[0].ckpt_step, 20);
    assert_true(l.rows[0].total == 3);
    assert_int_equal(l.rows[0].has_seed, 1);
    /* Per n the newest checkpoint evaluated at that n, finite n first. */
    memset(&l, 0, sizeof l);
    assert_int_equal(bfn_q_test_nll_by_n(db, "k1", collect_eval, &l), BFN_OK);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.rows[0].n, 10);
    assert_true(l.rows[0].total == 6);
    assert_int_equal(l.rows[1].n, 0);
    assert_true(l.rows[1].total == 3);
    bfn_q_eval e;
    char unit[32];
    assert_int_equal(bfn_q_test_eval_inf(db, "k1", &e, unit, sizeof unit), 1);
    assert_int_equal(e.ckpt_step, 20);
    assert_string_equal(e.unit, "nats/image");
    assert_int_equal(bfn_q_test_eval_inf(db, "k2", &e, unit, sizeof unit), 0);
    /* Reuse needs the same checkpoint file, repeats, seed and floor. */
    assert_int_equal(bfn_q_eval_stored(db, "k1", 20, 0, 2, 1, "official", "bb"), 1);
    assert_int_equal(bfn_q_eval_stored(db, "k1", 20, 0, 2, 1, "official", "aa"), 0);
    assert_int_equal(bfn_q_eval_stored(db, "k1", 20, 0, 3, 1, "official", "bb"), 0);
    assert_int_equal(bfn_q_eval_stored(db, "k1", 20, 0, 2, 1, "exact", "bb"), 0);
    for (int b = 0; b < 3; b++) {
        assert_int_equal(bfn_db_curve(db, "k1", 20, "linf", b, (b + 0.5) / 3, 10.0 * b, 0, 1, "official"), BFN_OK);
        assert_int_equal(bfn_db_curve(db, "k1", 20, "recon", b, (b + 0.5) / 3, 1, 0, 1, "official"), BFN_OK);
    }
    assert_int_equal(bfn_q_curve_stored(db, "k1", 20, 3, 1, "official"), 1);
    assert_int_equal(bfn_q_curve_stored(db, "k1", 20, 4, 1, "official"), 0);
    assert_int_equal(bfn_q_curve_stored(db, "k1", 20, 3, 2, "official"), 0);
    bfn_db_close(db);
}

typedef struct {
    long steps[8];
    double values[8];
    int n;
} series;

static int collect_point(void *ctx, long step, double value) {
    series *s = ctx;
    if (s->n < 8) s->steps[s->n] = step, s->values[s->n++] = value;
    return BFN_OK;
}

static void test_metric_queries(void **state) {
    bfn_db *db = open_fixture();
    assert_int_equal(bfn_db_metric(db, "k1", "train.loss", 20, 2.0), BFN_OK);
    assert_int_equal(bfn_db_metric(db, "k1", "train.loss", 10, 4.0), BFN_OK);
    assert_int_equal(bfn_db_metric(db, "k1", "train.loss", 30, NAN), BFN_OK);
    assert_int_equal(bfn_db_metric(db, "k1", "val.loss", 10, 9.0), BFN_OK);
    assert_int_equal(bfn_db_flush(db), BFN_OK);
    series s = {0};
    assert_int_equal(bfn_q_metric_series(db, "k1", "train.loss", collect_point, &s), BFN_OK);
    assert_int_equal(s.n, 2); /* the NaN row is not a point */
    assert_int_equal(s.steps[0], 10);
    assert_true(s.values[1] == 2.0);
    assert_int_equal(bfn_q_metrics_copy(db, "k2", "k1"), BFN_OK);
    memset(&s, 0, sizeof s);
    assert_int_equal(bfn_q_metric_series(db, "k2", "val.loss", collect_point, &s), BFN_OK);
    assert_int_equal(s.n, 1);
    assert_true(s.values[0] == 9.0);
    bfn_db_close(db);
}

/* Output of named query `name` as one string (static). */
static const char *named(bfn_db *db, const char *name, const char *run, const char *profile) {
    static char *buf = NULL;
    size_t len = 0;
    free(buf);
    buf = NULL;
    FILE *f = open_memstream(&buf, &len);
    bfn_q_params p = {run, profile};
    assert_int_equal(bfn_q_named_print(db, name, &p, 0, f), BFN_OK);
    fclose(f);
    return buf;
}

static void test_named_queries(void **state) {
    bfn_db *db = open_fixture();
    assert_string_equal(named(db, "settings", "k1", NULL), "name\tvalue\ntrain.seed\t7\ndata.dataset\tx = y\n");
    assert_string_equal(named(db, "profiles", NULL, NULL), "profile\truns\nsmall\t3\nsmoke\t1\n");
    const char *runs = named(db, "runs", NULL, "small");
    assert_non_null(strstr(runs, "\tnames\n"));
    /* k3 answers to both names; k2 has no NLL; k4 (smoke) is not listed. */
    assert_non_null(strstr(runs, "\nk3\tother\tsmall\tfinished\t\t4.000 ± 0.500 nats/image\t"));
    assert_non_null(strstr(runs, "\tmnist other\n"));
    assert_null(strstr(runs, "\nk4\t"));
    const char *ev = named(db, "evaluated", NULL, NULL);
    assert_string_equal(ev, "key\texperiment\tprofile\tstatus\tunit\nk1\tmnist\tsmall\tfinished\tnats/image\n"
                            "k3\tother\tsmall\tfinished\tnats/image\n");
    bfn_q_params p = {NULL, NULL};
    assert_int_equal(bfn_q_named_print(db, "nosuch", &p, 0, stdout), BFN_EINVAL);
    bfn_clear_error();
    assert_int_equal(bfn_q_named_print(db, "metric", &p, 0, stdout), BFN_EINVAL);
    bfn_clear_error();
    bfn_db_close(db);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs_each_filters), cmocka_unit_test(test_run_lookup),
        cmocka_unit_test(test_eval_queries),      cmocka_unit_test(test_metric_queries),
        cmocka_unit_test(test_named_queries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
