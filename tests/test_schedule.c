/* test_schedule.c: accuracy schedules (src/bfn/schedule.c).
 *
 * Every registered schedule: beta(0) = 0, beta(1) as configured, beta' against
 * a central finite difference of beta, alpha_i telescoping to beta(1) and, for
 * the quadratic schedule, the official closed form alpha_i = beta1 (2i-1)/n^2.
 * The "table" schedule: a TSV round trip and every validation error, each
 * naming the file and the line. */
#include "testutil.h"

#include "bfn/schedule.h"
#include "util/err.h"

static char table_dir[256];

/* Write `text` to table_dir/name and return the path (static buffer, rotating). */
static const char *write_table(const char *name, const char *text) {
    static char paths[4][512];
    static int next;
    char *path = paths[next++ % 4];
    if (!table_dir[0]) snprintf(table_dir, sizeof table_dir, "%s", test_tmpdir());
    snprintf(path, 512, "%s/%s", table_dir, name);
    test_write_file(path, text, strlen(text));
    return path;
}

/* Knots used for the "table" schedule: (0,0) (0.25,0.5) (0.5,0.75) (0.8,2) (1,3). */
static const char *good_table(void) {
    return write_table("good.tsv",
                       "# t\tbeta  (a comment line)\n"
                       "0\t0\n"
                       "\n"
                       "0.25\t0.5   # trailing comment\n"
                       "0.5\t0.75\n"
                       "0.8\t2\n"
                       "1\t3\n");
}

/* Initialise schedule `name` with test parameters; returns the expected beta(1). */
static double init_named(bfn_schedule *s, const char *name) {
    bfn_schedule_params p = {.beta1 = 2.5, .sigma1 = 0.1, .table_path = good_table()};
    int rc = bfn_schedule_init(s, name, &p);
    if (rc != BFN_OK) print_error("%s: %s\n", name, bfn_last_error());
    assert_int_equal(rc, BFN_OK);
    if (strcmp(name, "exponential") == 0) return pow(0.1, -2.0) - 1.0;
    if (strcmp(name, "table") == 0) return 3.0;
    return 2.5;
}

static void test_registry_lists_builtins(void **state) {
    const char *want[] = {"quadratic", "exponential", "linear", "cosine", "table"};
    const char *const *names = bfn_schedule_names();
    int n = 0;
    while (names[n]) n++;
    assert_true(n >= 5); /* users add schedules; the built-ins must stay */
    for (int i = 0; i < 5; i++) {
        int found = 0;
        for (int j = 0; j < n; j++) found |= strcmp(names[j], want[i]) == 0;
        assert_true(found);
    }
}

/* beta(0) = 0 exactly-ish, beta(1) = configured value (relative 1e-12: the
 * formulas are a few flops, so only rounding of order 1e-16 is expected),
 * s->beta1 reports beta(1), beta is increasing, beta' >= 0. */
static void test_endpoints_and_monotone(void **state) {
    for (const char *const *nm = bfn_schedule_names(); *nm; nm++) {
        bfn_schedule s;
        double b1 = init_named(&s, *nm);
        assert_string_equal(s.name, *nm);
        assert_close(s.beta(&s, 0.0), 0.0, 1e-15);
        assert_close(s.beta(&s, 1.0), b1, 1e-12 * b1);
        assert_close(s.beta1, b1, 1e-12 * b1);
        double prev = 0.0;
        for (int i = 1; i <= 200; i++) {
            double b = s.beta(&s, i / 200.0);
            if (!(b > prev)) print_error("%s not increasing at t=%g\n", *nm, i / 200.0);
            assert_true(b > prev);
            assert_true(s.beta_prime(&s, i / 200.0) >= 0.0);
            prev = b;
        }
        bfn_schedule_free(&s);
    }
}

/* beta' against the central difference (beta(t+h) - beta(t-h)) / 2h with
 * h = 1e-5. Truncation error h^2 |beta'''| / 6 <= 1e-10 * 6 |beta| here
 * (|beta'''| <= (2 ln 10)^3 * 100 ~ 1e4 for exponential sigma1=0.1, giving
 * ~2e-7), rounding eps |beta| / h ~ 1e-9: tolerance 1e-6 (1 + |beta'|).
 * The t values avoid the table's knots by more than h (beta' jumps there). */
static void test_beta_prime_matches_fd(void **state) {
    const double ts[] = {0.1, 0.3, 0.45, 0.6, 0.9, 0.99};
    const double h = 1e-5;
    for (const char *const *nm = bfn_schedule_names(); *nm; nm++) {
        bfn_schedule s;
        init_named(&s, *nm);
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
            double fd = (s.beta(&s, ts[i] + h) - s.beta(&s, ts[i] - h)) / (2 * h);
            double an = s.beta_prime(&s, ts[i]);
            if (fabs(fd - an) > 1e-6 * (1 + fabs(an))) print_error("%s at t=%g\n", *nm, ts[i]);
            assert_close(an, fd, 1e-6 * (1 + fabs(an)));
        }
        bfn_schedule_free(&s);
    }
}

/* alpha_i > 0 and sum_i alpha_i = beta(1) (n terms, rounding <= n eps beta1),
 * and for the quadratic schedule alpha_i = beta1 (2i - 1) / n^2, the [CODE]
 * get_alpha formula. alpha_i is a difference of two values <= beta1, each
 * rounded to eps beta1, so the tolerance is absolute: 4 eps beta1 ~ 1e-15 beta1. */
static void test_alpha_sums_to_beta1(void **state) {
    const int ns[] = {1, 7, 100, 1000};
    for (const char *const *nm = bfn_schedule_names(); *nm; nm++) {
        bfn_schedule s;
        double b1 = init_named(&s, *nm);
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
            int n = ns[k];
            double sum = 0.0;
            for (int i = 1; i <= n; i++) {
                double a = bfn_schedule_alpha(&s, i, n);
                assert_true(a > 0.0);
                if (strcmp(*nm, "quadratic") == 0)
                    assert_close(a, 2.5 * (2.0 * i - 1) / ((double)n * n), 1e-15 * 2.5);
                sum += a;
            }
            assert_close(sum, b1, 1e-13 * n * b1 + 1e-14);
        }
        bfn_schedule_free(&s);
    }
}

/* The official configs: sqrt(beta(1)) = 3 (MNIST) -> alpha_i = 9 (2i-1)/n^2
 * (absolute tolerance 4 eps beta1, see above). */
static void test_quadratic_mnist_alpha(void **state) {
    bfn_schedule s;
    bfn_schedule_params p = {.beta1 = 9.0};
    assert_int_equal(bfn_schedule_init(&s, "quadratic", &p), BFN_OK);
    assert_close(bfn_schedule_alpha(&s, 1, 784), 9.0 / (784.0 * 784.0), 1e-15 * 9.0);
    assert_close(bfn_schedule_alpha(&s, 784, 784), 9.0 * 1567 / (784.0 * 784.0), 1e-15 * 9.0);
    assert_close(s.beta_prime(&s, 0.5), 9.0, 1e-15);
    bfn_schedule_free(&s);
}

/* Table round trip: the knots come back exactly, midpoints interpolate
 * linearly, beta' is the right-hand segment's slope at knots and the last
 * segment's at t = 1. */
static void test_table_round_trip(void **state) {
    const double kt[] = {0, 0.25, 0.5, 0.8, 1}, kb[] = {0, 0.5, 0.75, 2, 3};
    bfn_schedule s;
    bfn_schedule_params p = {.table_path = good_table()};
    assert_int_equal(bfn_schedule_init(&s, "table", &p), BFN_OK);
    assert_int_equal(s.n_knots, 5);
    for (int j = 0; j < 5; j++) {
        assert_true(s.knot_t[j] == kt[j] && s.knot_beta[j] == kb[j]);
        assert_close(s.beta(&s, kt[j]), kb[j], 1e-15);
    }
    for (int j = 0; j < 4; j++) {
        double slope = (kb[j + 1] - kb[j]) / (kt[j + 1] - kt[j]);
        assert_close(s.beta(&s, 0.5 * (kt[j] + kt[j + 1])), 0.5 * (kb[j] + kb[j + 1]), 1e-14);
        assert_close(s.beta_prime(&s, kt[j]), slope, 1e-12);                   /* right-hand at knot */
        assert_close(s.beta_prime(&s, 0.5 * (kt[j] + kt[j + 1])), slope, 1e-12);
    }
    assert_close(s.beta_prime(&s, 1.0), (3.0 - 2.0) / 0.2, 1e-12);
    bfn_schedule_free(&s);
    bfn_schedule_free(&s); /* idempotent */
    assert_null(s.knot_t);
}

/* A table that must be rejected with BFN_EINVAL and a message naming the file and `line`. */
static void expect_table_error(const char *fname, const char *text, int line) {
    const char *path = write_table(fname, text);
    bfn_schedule s;
    bfn_schedule_params p = {.table_path = path};
    bfn_clear_error();
    int rc = bfn_schedule_init(&s, "table", &p);
    const char *msg = bfn_last_error();
    char want[600];
    snprintf(want, sizeof want, "%s:%d:", path, line);
    if (rc != BFN_EINVAL || !strstr(msg, want)) print_error("%s: rc %d, message \"%s\", want \"%s\"\n", fname, rc, msg, want);
    assert_int_equal(rc, BFN_EINVAL);
    assert_non_null(strstr(msg, want));
    assert_null(s.knot_t);
    bfn_schedule_free(&s);
}

static void test_table_errors(void **state) {
    expect_table_error("t_not_increasing.tsv", "0\t0\n0.5\t1\n# c\n0.5\t2\n1\t3\n", 4);
    expect_table_error("t_decreasing.tsv", "0\t0\n0.5\t1\n0.4\t2\n1\t3\n", 3);
    expect_table_error("beta_not_increasing.tsv", "0\t0\n0.5\t1\n0.7\t1\n1\t3\n", 3);
    expect_table_error("first_not_zero_t.tsv", "# header\n0.1\t0\n1\t3\n", 2);
    expect_table_error("first_not_zero_beta.tsv", "0\t0.1\n1\t3\n", 1);
    expect_table_error("bad_number.tsv", "0\t0\n0.5\tabc\n1\t3\n", 2);
    expect_table_error("extra_field.tsv", "0\t0\n0.5\t1\t7\n1\t3\n", 2);
    expect_table_error("nan.tsv", "0\t0\n0.5\tnan\n1\t3\n", 2);
    expect_table_error("last_not_one.tsv", "0\t0\n0.5\t1\n0.9\t3\n# end\n", 3);
    expect_table_error("beyond_one.tsv", "0\t0\n1.5\t1\n", 2);
    expect_table_error("one_knot.tsv", "# only\n0\t0\n", 2);

    /* Missing file: BFN_EINVAL naming the file. */
    char path[600];
    if (!table_dir[0]) snprintf(table_dir, sizeof table_dir, "%s", test_tmpdir());
    snprintf(path, sizeof path, "%s/does_not_exist.tsv", table_dir);
    bfn_schedule s;
    bfn_schedule_params p = {.table_path = path};
    assert_int_equal(bfn_schedule_init(&s, "table", &p), BFN_EINVAL);
    assert_non_null(strstr(bfn_last_error(), path));
}

/* Parameter errors name the bad value; unknown names list the registry. */
static void test_param_errors(void **state) {
    bfn_schedule s;
    const double bad_beta1[] = {0.0, -1.0, NAN, INFINITY};
    const char *with_beta1[] = {"quadratic", "linear", "cosine"};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) {
            bfn_schedule_params p = {.beta1 = bad_beta1[j]};
            assert_int_equal(bfn_schedule_init(&s, with_beta1[i], &p), BFN_EINVAL);
            assert_non_null(strstr(bfn_last_error(), "beta1"));
        }
    bfn_schedule_params pm = {.beta1 = -3.0};
    assert_int_equal(bfn_schedule_init(&s, "quadratic", &pm), BFN_EINVAL);
    assert_non_null(strstr(bfn_last_error(), "-3"));

    const double bad_sigma1[] = {0.0, 1.0, 1.5, -0.1, NAN};
    for (int j = 0; j < 5; j++) {
        bfn_schedule_params p = {.sigma1 = bad_sigma1[j]};
        assert_int_equal(bfn_schedule_init(&s, "exponential", &p), BFN_EINVAL);
        assert_non_null(strstr(bfn_last_error(), "sigma1"));
    }
    bfn_schedule_params ps = {.sigma1 = 1.5};
    assert_int_equal(bfn_schedule_init(&s, "exponential", &ps), BFN_EINVAL);
    assert_non_null(strstr(bfn_last_error(), "1.5"));

    bfn_schedule_params p = {.beta1 = 1.0};
    assert_int_equal(bfn_schedule_init(&s, "sqrt", &p), BFN_EINVAL);
    const char *msg = bfn_last_error();
    assert_non_null(strstr(msg, "\"sqrt\""));
    for (const char *const *nm = bfn_schedule_names(); *nm; nm++) assert_non_null(strstr(msg, *nm));
    assert_int_equal(bfn_schedule_init(&s, "table", &(bfn_schedule_params){0}), BFN_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_lists_builtins),
        cmocka_unit_test(test_endpoints_and_monotone),
        cmocka_unit_test(test_beta_prime_matches_fd),
        cmocka_unit_test(test_alpha_sums_to_beta1),
        cmocka_unit_test(test_quadratic_mnist_alpha),
        cmocka_unit_test(test_table_round_trip),
        cmocka_unit_test(test_table_errors),
        cmocka_unit_test(test_param_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
