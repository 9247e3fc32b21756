/* test_config.c: INI parsing, profiles, overrides, validation messages and
 * the run key. */
#include "testutil.h"

#include "run/config.h"
#include "util/err.h"

static const char *write_ini(const char *text) {
    static char path[300];
    snprintf(path, sizeof path, "%s/exp.ini", test_tmpdir());
    test_write_file(path, text, strlen(text));
    return path;
}

static const char *BASE =
    "; comment\n"
    "[experiment]\n"
    "name = demo\n"
    "profile = small\n"
    "[train]\n"
    "steps = 100\n"
    "lr = 3e-4 ; inline comment\n"
    "[profile smoke]\n"
    "train.steps = 5\n"
    "[profile small]\n"
    "train.steps = 50\n";

static void test_profiles_and_overrides(void **state) {
    (void)state;
    const char *path = write_ini(BASE);
    bfn_config *c;
    assert_int_equal(bfn_config_load(&c, path, NULL, 0, NULL), BFN_OK);
    assert_int_equal(bfn_cfg_int(c, "train.steps"), 50); /* default profile small */
    assert_close(bfn_cfg_real(c, "train.lr"), 3e-4, 1e-12);
    assert_int_equal(bfn_cfg_int(c, "train.batch"), 128); /* schema default */
    assert_non_null(strstr(bfn_cfg_origin(c, "train.steps"), "exp.ini:11")); /* the profile's line */
    bfn_config_free(c);

    assert_int_equal(bfn_config_load(&c, path, "smoke", 0, NULL), BFN_OK);
    assert_int_equal(bfn_cfg_int(c, "train.steps"), 5);
    assert_string_equal(bfn_config_profile(c), "smoke");
    bfn_config_free(c);

    char *over[] = {"train.steps=7", "profile=smoke", "eval.steps=10, inf"};
    assert_int_equal(bfn_config_load(&c, path, NULL, 3, over), BFN_OK);
    assert_int_equal(bfn_cfg_int(c, "train.steps"), 7); /* command line beats profile */
    assert_string_equal(bfn_cfg_origin(c, "train.steps"), "command line");
    int n[BFN_MAX_LIST];
    assert_int_equal(bfn_cfg_int_list(c, "eval.steps", n, BFN_MAX_LIST), 2);
    assert_int_equal(n[0], 10);
    assert_int_equal(n[1], 0); /* inf */
    bfn_config_free(c);
}

/* Each bad input names the file and line. */
static void expect_error(const char *text, const char *profile, const char *needle) {
    const char *path = write_ini(text);
    bfn_config *c = NULL;
    int rc = bfn_config_load(&c, path, profile, 0, NULL);
    assert_int_not_equal(rc, BFN_OK);
    assert_null(c);
    if (!strstr(bfn_last_error(), needle)) {
        print_error("message '%s' lacks '%s'\n", bfn_last_error(), needle);
        fail();
    }
    if (!strstr(bfn_last_error(), path)) {
        print_error("message '%s' lacks the file name\n", bfn_last_error());
        fail();
    }
}

static void test_bad_input(void **state) {
    (void)state;
    expect_error("[train]\nsteps = 10\nstepz = 3\n", NULL, "exp.ini:3: unknown key 'train.stepz'");
    expect_error("[train]\nbatch = 0\n", NULL, "exp.ini:2: train.batch: 0 is outside");
    expect_error("[train]\nlr = fast\n", NULL, "'fast' is not a finite number");
    expect_error("[bfn]\nclasses = 1\n", NULL, "bfn.classes: 1 is outside");
    expect_error("[bfn]\nbeta1 = -1\n", NULL, "bfn.beta1");
    expect_error("[bfn]\nsigma1 = 1.5\n", NULL, "bfn.sigma1");
    expect_error("[bfn]\nfamily = gaussian\n", NULL, "not one of");
    expect_error("[eval]\nsteps = 10, 0\n", NULL, "eval.steps");
    expect_error("[profile smoke]\ntrain.nope = 1\n", NULL, "exp.ini:2: unknown key 'train.nope'");
    expect_error("[profile smoke]\ntrain.steps = 1\n", "tiny", "no [profile tiny]");
    expect_error("[train]\nsteps 10\n", NULL, "exp.ini:2: syntax error");
    expect_error("[bfn]\nfamily = continuous\n", NULL, "needs an explicit bfn.schedule");

    bfn_config *c = NULL;
    assert_int_equal(bfn_config_load(&c, "/nonexistent/x.ini", NULL, 0, NULL), BFN_EIO);
    assert_non_null(strstr(bfn_last_error(), "/nonexistent/x.ini"));
    char *over[] = {"train.steps"};
    const char *path = write_ini("[train]\nsteps = 1\n");
    assert_int_equal(bfn_config_load(&c, path, NULL, 1, over), BFN_EINVAL);
    assert_non_null(strstr(bfn_last_error(), "command line"));
}

static void test_run_key_and_text(void **state) {
    (void)state;
    const char *path = write_ini(BASE);
    bfn_config *a, *b, *c, *d;
    char *o1[] = {"eval.repeats=99"}, *o2[] = {"train.seed=1"};
    assert_int_equal(bfn_config_load(&a, path, NULL, 0, NULL), BFN_OK);
    assert_int_equal(bfn_config_load(&b, path, NULL, 1, o1), BFN_OK);
    assert_int_equal(bfn_config_load(&c, path, NULL, 1, o2), BFN_OK);
    char ka[17], kb[17], kc[17], kd[17];
    bfn_config_run_key(a, ka);
    bfn_config_run_key(b, kb);
    bfn_config_run_key(c, kc);
    assert_int_equal(strlen(ka), 16);
    assert_string_equal(ka, kb);     /* evaluation settings do not define the run */
    assert_string_not_equal(ka, kc); /* the seed does */
    /* Canonical text round trip gives the same run and values. */
    char *text = bfn_config_text(c);
    assert_int_equal(bfn_config_from_text(&d, text, "stored"), BFN_OK);
    bfn_config_run_key(d, kd);
    assert_string_equal(kc, kd);
    assert_string_equal(bfn_config_profile(d), "small");
    char *text2 = bfn_config_text(d);
    assert_string_equal(text, text2);
    free(text);
    free(text2);
    bfn_config_free(a);
    bfn_config_free(b);
    bfn_config_free(c);
    bfn_config_free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profiles_and_overrides),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_run_key_and_text),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
